/* Completion side of the packed ring: used descriptors, publication, and
 * both event suppression structures.
 *
 * vq_push_packed (inline, in virtq_internal.h) records a used buffer (id,
 * length) and skips its descriptor count, as the driver does when it reads
 * it back.
 * vq_publish_packed writes the batch's used descriptors, each one's id,
 * length and flags together, the batch's first flags last: a driver never
 * sees a later buffer of a batch without the earlier ones (mergeable rx
 * buffers rely on this, spec "Multi-buffer requests"). Writing a line's
 * descriptors at once matters: the driver polls the next used descriptor's
 * flags, so every store into a line it read since costs a transfer back;
 * writing ids and lengths at push time, spread over the batch's work, paid
 * that several times per line.
 *
 * A crash record (vq->resume, virtq_resume.c) gets the batch's size and
 * new used position before the descriptors, the position again after them;
 * the shadow is then the record's own.
 *
 * With IN_ORDER, consecutive buffers that have nothing device-writable (net
 * tx) share one used descriptor carrying the last one's id (spec "In-order
 * use of descriptors"). Buffers with writable bytes always get their own:
 * drivers read each one's length (DPDK's rx path does, even in order). */
#include <stddef.h>

#include "../common/util.h"
#include "virtq_internal.h"

static inline bool logging_ring(const struct virtq *vq)
{
    return vq->log_used &&
           atomic_load_explicit(&vq->gm->log.map, memory_order_relaxed) != NULL;
}

/* After the descriptor's last store (its flags): a log read between an
 * earlier mark and that store would lose the store on the destination. */
static inline void log_desc(struct virtq *vq, uint16_t idx)
{
    if (SC_UNLIKELY(logging_ring(vq)))
        gm_log_write(vq->gm, vq->desc_log_gpa + (uint64_t)idx * sizeof(struct vring_packed_desc),
                     sizeof(struct vring_packed_desc));
}

static inline uint16_t used_flags(uint16_t pw, bool wrote)
{
    return (uint16_t)(vring_packed_used_flags(vring_packed_wrap(pw)) |
                      (wrote ? VRING_DESC_F_WRITE : 0));
}

/* Shadow entries [i, end) that one used descriptor can stand for; the
 * descriptor count they span is added to *ndesc. */
static uint16_t group_end(const struct virtq *vq, uint16_t i, uint32_t *ndesc)
{
    uint16_t end = i;
    do {
        *ndesc += vq->shadow[end].ndesc;
        end++;
    } while (end < vq->n_shadow && vq->shadow[i].skippable && vq->shadow[end].skippable);
    return end;
}

void vq_publish_packed(struct virtq *vq)
{
    if (vq->n_shadow == 0)
        return;
    if (vq->pinf)
        vq_pinf_retire_begin(vq);
    if (vq->resume) {
        vq->resume->pub_n = vq->n_shadow;
        in_order_stores();
        vq->resume->used = vq->used_idx;
        in_order_stores(); /* before the descriptors: see virtq_resume.c */
    }
    uint16_t first = vq->pub_used, first_flags = 0, pw = first;
    for (uint16_t i = 0; i < vq->n_shadow;) {
        uint32_t ndesc = 0;
        uint16_t end = group_end(vq, i, &ndesc);
        struct vring_packed_desc *d = &vq->pdesc[vring_packed_idx(pw)];
        /* A group's descriptor speaks for it: the last buffer's id. */
        const struct vq_used_shadow *last = &vq->shadow[end - 1];
        __atomic_store_n(&d->id, last->id, __ATOMIC_RELAXED);
        __atomic_store_n(&d->len, last->len, __ATOMIC_RELAXED);
        uint16_t flags = used_flags(pw, vq->shadow[i].wrote);
        if (i == 0) {
            first_flags = flags;
        } else {
            __atomic_store_n(&d->flags, flags, __ATOMIC_RELEASE);
            log_desc(vq, vring_packed_idx(pw));
        }
        pw = vring_packed_advance(pw, ndesc, vq->num);
        i = end;
    }
    __atomic_store_n(&vq->pdesc[vring_packed_idx(first)].flags, first_flags, __ATOMIC_RELEASE);
    log_desc(vq, vring_packed_idx(first));
    if (vq->pinf)
        vq_pinf_retire_end(vq);
    if (vq->resume) {
        in_order_stores();
        vq->resume->old_used = vq->used_idx;
    }
    vq->n_shadow = 0;
    vq->pub_used = vq->used_idx;
}

bool vq_should_notify_packed(struct virtq *vq)
{
    /* Our flags stores must be visible before we read the driver's wishes,
     * or both sides may decide the other will act. */
    atomic_thread_fence(memory_order_seq_cst);
    uint16_t flags = __atomic_load_n(&vq->drv_event->flags, __ATOMIC_ACQUIRE) &
                     RING_EVENT_FLAGS_MASK;
    uint16_t old = vq->signalled_used, now = vq->pub_used;
    bool valid = vq->signalled_valid;
    vq->signalled_used = now;
    vq->signalled_valid = true;

    if (flags == RING_EVENT_FLAGS_DISABLE)
        return false;
    /* DESC without EVENT_IDX, and the reserved value 3, are read as ENABLE:
     * a spurious interrupt costs less than a lost one. */
    if (flags != RING_EVENT_FLAGS_DESC || !vq->event_idx || !valid)
        return true;
    uint16_t off_wrap = __atomic_load_n(&vq->drv_event->off_wrap, __ATOMIC_RELAXED);
    return vring_packed_need_event(off_wrap, now, old, vq->num);
}

bool vq_set_notify_packed(struct virtq *vq, bool enable)
{
    vq->notify_on = enable;
    uint16_t flags = RING_EVENT_FLAGS_DISABLE;
    if (enable && vq->event_idx) {
        /* Kick when the next descriptor we will look at becomes available. */
        __atomic_store_n(&vq->dev_event->off_wrap, vq->last_avail, __ATOMIC_RELAXED);
        flags = RING_EVENT_FLAGS_DESC;
    } else if (enable) {
        flags = RING_EVENT_FLAGS_ENABLE;
    }
    __atomic_store_n(&vq->dev_event->flags, flags, __ATOMIC_RELEASE);
    if (SC_UNLIKELY(logging_ring(vq)))
        gm_log_write(vq->gm, vq->dev_event_log_gpa, sizeof(*vq->dev_event));
    if (!enable)
        return false;
    /* The driver checks our flags after exposing a descriptor; we check the
     * ring after publishing our flags. The fence makes one of us see it. */
    atomic_thread_fence(memory_order_seq_cst);
    return vq_has_work_packed(vq);
}
