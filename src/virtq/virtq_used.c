/* Completion side of the split ring: used elements, publication, interrupt
 * suppression (EVENT_IDX / NO_INTERRUPT) and kick suppression. */
#include <stddef.h>

#include "../common/util.h"
#include "virtq_internal.h"

static inline bool logging(const struct virtq *vq)
{
    return atomic_load_explicit(&vq->gm->log.map, memory_order_relaxed) != NULL;
}

/* The first len bytes of the chain's device-writable iovecs. */
static void log_written(struct virtq *vq, const struct vq_chain *c, uint32_t len)
{
    if (!c->gpa)
        return;
    for (uint16_t i = c->n_out; i < c->n_out + c->n_in && len; i++) {
        uint32_t l = c->iov[i].iov_len < len ? (uint32_t)c->iov[i].iov_len : len;
        gm_log_write(vq->gm, c->gpa[i], l);
        len -= l;
    }
}

void vq_push(struct virtq *vq, const struct vq_chain *c, uint32_t len)
{
    if (SC_UNLIKELY(vq->ext))
        vq_push_ext(vq, c, len);
    else
        vq_push_split(vq, c, len);
}

/* Writes the recorded used elements [used_written, used_idx) into the ring. */
static void flush_used(struct virtq *vq)
{
    for (uint16_t k = vq->used_written; k != vq->used_idx; k++) {
        uint16_t slot = vq_slot(vq, k);
        vq->used->ring[slot] = vq->used_shadow[(uint16_t)(k - vq->used_written)];
        /* After the store: a log read between the mark and the store would
         * lose the store on the migration destination. */
        if (vq->log_used && SC_UNLIKELY(logging(vq)))
            gm_log_write(vq->gm, vq->used_log_gpa + offsetof(struct vring_used, ring) +
                                     (uint64_t)slot * sizeof(struct vring_used_elem),
                         sizeof(struct vring_used_elem));
    }
    vq->used_written = vq->used_idx;
}

/* Records the element; vq_publish writes the batch's elements together.
 * The driver reads each element's line once it sees used->idx move, so
 * elements stored one at a time between the batch's copies made a line it
 * was still reading bounce back and forth (64 B split rx, alternating
 * 100 ms phases in one run: +11-17% with hugepages, +2% without). */
void vq_push_split(struct virtq *vq, const struct vq_chain *c, uint32_t len)
{
    uint16_t n = (uint16_t)(vq->used_idx - vq->used_written);
    if (SC_UNLIKELY(n == VQ_USED_SHADOW)) {
        flush_used(vq);
        n = 0;
    }
    vq->used_shadow[n] = (struct vring_used_elem){.id = c->head, .len = len};
    /* Claim the line for the store at publish (8 elements per line). */
    uint16_t slot = vq_slot(vq, vq->used_idx);
    if ((slot & 7) == 0)
        sc_prefetch_w(&vq->used->ring[slot]);
    vq->batch_head = c->head;
    vq->used_idx++;
    if (SC_UNLIKELY(logging(vq)))
        log_written(vq, c, len);
}

/* Clears the inflight marks of what was just published. The heads are read
 * back from the used ring: the guest can scribble over it, which can only
 * spoil its own crash recovery, so an id is merely bounds-checked. */
static void inflight_retire(struct virtq *vq)
{
    struct vq_inflight *inf = vq->inflight;
    for (uint16_t k = vq->pub_used; k != vq->used_idx; k++) {
        uint32_t id = __atomic_load_n(&vq->used->ring[vq_slot(vq, k)].id, __ATOMIC_RELAXED);
        if (id < vq->num)
            __atomic_store_n(&inf->desc[id].inflight, 0, __ATOMIC_RELAXED);
    }
    __atomic_store_n(&inf->used_idx, vq->used_idx, __ATOMIC_RELEASE);
}

void vq_publish(struct virtq *vq)
{
    if (SC_UNLIKELY(vq->packed)) {
        vq_publish_packed(vq);
        return;
    }
    if (vq->pub_used == vq->used_idx)
        return;
    flush_used(vq);
    if (vq->inflight)
        __atomic_store_n(&vq->inflight->last_batch_head, vq->batch_head, __ATOMIC_RELAXED);
    /* A crash between this store and inflight_retire leaves the area's
     * used_idx behind used->idx; vq_set_inflight repairs that. */
    __atomic_store_n(&vq->used->idx, vq->used_idx, __ATOMIC_RELEASE);
    if (vq->log_used && SC_UNLIKELY(logging(vq)))
        gm_log_write(vq->gm, vq->used_log_gpa + offsetof(struct vring_used, idx),
                     sizeof(vq->used->idx));
    if (vq->inflight)
        inflight_retire(vq);
    vq->pub_used = vq->used_idx;
}

bool vq_should_notify(struct virtq *vq)
{
    if (SC_UNLIKELY(vq->packed))
        return vq_should_notify_packed(vq);
    /* Our used->idx store must be visible before we read the driver's
     * suppression fields, or both sides may decide the other will act. */
    atomic_thread_fence(memory_order_seq_cst);
    if (!vq->event_idx)
        return !(vq_rd16(&vq->avail->flags) & VRING_AVAIL_F_NO_INTERRUPT);

    uint16_t old = vq->signalled_used, now = vq->pub_used;
    bool valid = vq->signalled_valid;
    vq->signalled_used = now;
    vq->signalled_valid = true;
    if (!valid)
        return true;
    uint16_t used_event = vq_rd16(&vq->avail->ring[vq->num]);
    return vring_need_event(used_event, now, old);
}

bool vq_set_notify(struct virtq *vq, bool enable)
{
    if (SC_UNLIKELY(vq->packed))
        return vq_set_notify_packed(vq, enable);
    vq->notify_on = enable;
    if (vq->event_idx) {
        /* Disabling leaves avail_event alone: at most one more kick comes. */
        if (enable)
            __atomic_store_n((uint16_t *)&vq->used->ring[vq->num], vq->last_avail,
                             __ATOMIC_RELAXED);
    } else {
        uint16_t flags = vq_rd16(&vq->used->flags);
        flags = enable ? (uint16_t)(flags & ~VRING_USED_F_NO_NOTIFY)
                       : (uint16_t)(flags | VRING_USED_F_NO_NOTIFY);
        __atomic_store_n(&vq->used->flags, flags, __ATOMIC_RELAXED);
    }
    if (vq->log_used && SC_UNLIKELY(logging(vq))) {
        uint64_t off = vq->event_idx ? offsetof(struct vring_used, ring) +
                                           (uint64_t)vq->num * sizeof(struct vring_used_elem)
                                     : offsetof(struct vring_used, flags);
        gm_log_write(vq->gm, vq->used_log_gpa + off, sizeof(uint16_t));
    }
    if (!enable)
        return false;
    /* The driver checks our field after publishing avail->idx; we check its
     * index after publishing our field. The fence makes one of us see it. */
    atomic_thread_fence(memory_order_seq_cst);
    return vq_has_work(vq);
}
