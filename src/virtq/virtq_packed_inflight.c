/* Packed-ring inflight area (vhost-user "Inflight I/O tracking", packed
 * layout): recording popped buffers, retiring published ones, and the
 * recovery when a queue starts on an area that already holds state.
 *
 * The area is memory the frontend can write, so its links are never
 * followed at run time: pinf_next is our copy, made when the area is
 * attached (after checking that the chains and the free list it describes
 * stay inside the area and do not overlap) and kept in step with every link
 * we write. A frontend that scribbles on the area spoils only its own
 * recovery.
 *
 * Stores into the area happen in the order the spec's recovery relies on
 * (in_order_stores between the steps). */
#include <stdlib.h>

#include "../common/log.h"
#include "virtq_internal.h"

void vq_pinf_commit(struct virtq *vq, uint16_t id, uint16_t last, uint16_t ndesc,
                    uint16_t next_free)
{
    struct vq_inflight_packed *a = vq->pinf;
    uint16_t head = vq->pinf_free;
    struct vq_inflight_pdesc *h = &a->desc[head];
    h->num = ndesc;
    h->last = last;
    h->counter = ++vq->inflight_counter;
    in_order_stores();
    h->inflight = 1;
    in_order_stores();
    /* Until here a recovery finds head on the free list and does not count
     * the buffer: it is read from the ring again, where it still is. */
    a->free_head = next_free;
    a->old_free_head = next_free;
    vq->pinf_free = next_free;
    vq->ids[id].inf_head = head;
    vq->ids[id].inf_last = last;
}

/* Before the batch's used descriptors are written: its entries go back on
 * the free list and the used position moves, both undone by a recovery
 * unless the batch's first used descriptor reached the ring. */
void vq_pinf_retire_begin(struct virtq *vq)
{
    struct vq_inflight_packed *a = vq->pinf;
    for (uint16_t i = 0; i < vq->n_shadow; i++) {
        const struct vq_used_shadow *s = &vq->shadow[i];
        a->desc[s->inf_last].next = vq->pinf_free;
        vq->pinf_next[s->inf_last] = vq->pinf_free;
        vq->pinf_free = s->inf_head;
    }
    a->free_head = vq->pinf_free;
    a->used_idx = vring_packed_idx(vq->used_idx);
    a->used_wrap_counter = vring_packed_wrap(vq->used_idx);
    in_order_stores();
}

/* After the batch's used descriptors are in the ring. */
void vq_pinf_retire_end(struct virtq *vq)
{
    struct vq_inflight_packed *a = vq->pinf;
    in_order_stores();
    for (uint16_t i = 0; i < vq->n_shadow; i++)
        a->desc[vq->shadow[i].inf_head].inflight = 0;
    in_order_stores();
    a->old_free_head = vq->pinf_free;
    a->old_used_idx = vring_packed_idx(vq->used_idx);
    a->old_used_wrap_counter = vring_packed_wrap(vq->used_idx);
}

static void attach(struct virtq *vq, struct vq_inflight_packed *a, uint16_t *next,
                   uint16_t free_first)
{
    free(vq->pinf_next);
    vq->pinf = a;
    vq->pinf_next = next;
    vq->pinf_free = free_first;
}

/* A zero-filled area (GET_INFLIGHT_FD's memfd): every entry free, the used
 * position the frontend's base. */
static void start_fresh(struct virtq *vq, struct vq_inflight_packed *a, uint16_t *next)
{
    for (uint16_t i = 0; i < vq->num; i++) {
        a->desc[i] = (struct vq_inflight_pdesc){.next = (uint16_t)(i + 1)};
        next[i] = (uint16_t)(i + 1);
    }
    a->features = 0;
    a->desc_num = vq->num;
    a->free_head = a->old_free_head = 0;
    a->used_idx = a->old_used_idx = vring_packed_idx(vq->used_idx);
    a->used_wrap_counter = a->old_used_wrap_counter = vring_packed_wrap(vq->used_idx);
    in_order_stores();
    a->version = VQ_INFLIGHT_VERSION;
    attach(vq, a, next, 0);
}

enum { UNSEEN, FREE, CHAIN };

/* The chain of in-flight head h: ndesc entries linked from h, none seen
 * before; our copy of its links goes into next. Returns ndesc, or 0 when
 * the area's record of it does not hold together. */
static uint16_t take_chain(struct virtq *vq, struct vq_inflight_packed *a, uint16_t h,
                           uint8_t *mark, uint16_t *next)
{
    uint16_t ndesc = a->desc[h].num, last = a->desc[h].last, e = h;
    if (ndesc == 0 || ndesc > vq->num)
        return 0;
    for (uint16_t k = 0;; k++) {
        /* Only heads are marked in flight: a marked entry inside the chain
         * is another buffer's head. */
        if (e >= vq->num || mark[e] != UNSEEN || (k > 0 && a->desc[e].inflight))
            return 0;
        mark[e] = CHAIN;
        if (k + 1 == ndesc) {
            next[e] = vq->num; /* linked to the free list when it retires */
            return e == last ? ndesc : 0;
        }
        next[e] = a->desc[e].next;
        e = next[e];
    }
}

static int corrupt(struct virtq *vq, uint8_t *mark, uint16_t *next, struct vq_pending *p,
                   const char *why, unsigned at)
{
    free(mark);
    free(next);
    free(p);
    vq_fail(vq, "inflight area: %s (entry %u)", why, at);
    return -1;
}

/* The spec's recovery: commit or roll back the interrupted publication,
 * clear what the free list holds, resubmit the rest oldest first. The
 * free list is then rebuilt from every entry outside a chain. */
static int recover(struct virtq *vq, struct vq_inflight_packed *a, uint16_t *next)
{
    const uint16_t num = vq->num;
    uint16_t used = a->used_idx, old_used = a->old_used_idx;
    uint8_t wrap = a->used_wrap_counter, old_wrap = a->old_used_wrap_counter;
    uint16_t free_head = a->free_head, old_free = a->old_free_head;
    if (used >= num || old_used >= num || wrap > 1 || old_wrap > 1) {
        free(next);
        vq_fail(vq, "inflight area: used position %u/%u (wrap %u/%u) is not a position in a "
                    "ring of %u", used, old_used, wrap, old_wrap, num);
        return -1;
    }
    if (used != old_used || wrap != old_wrap) {
        uint16_t flags = __atomic_load_n(&vq->pdesc[old_used].flags, __ATOMIC_ACQUIRE);
        /* Still the driver's descriptor of that lap: the batch's first used
         * descriptor never landed. Else the driver saw the batch (and may
         * have offered the slot again in the next lap): commit it. */
        if (!vring_packed_is_avail(flags, old_wrap)) {
            old_free = free_head;
            old_used = used;
            old_wrap = wrap;
        }
    }
    a->free_head = old_free;
    a->used_idx = old_used;
    a->used_wrap_counter = old_wrap;

    uint8_t *mark = calloc(num, 1);
    struct vq_pending *p = calloc(num, sizeof(*p));
    if (!mark || !p)
        return corrupt(vq, mark, next, p, "out of memory recovering it", 0);
    for (uint16_t e = old_free; e < num && mark[e] == UNSEEN; e = a->desc[e].next) {
        mark[e] = FREE;
        a->desc[e].inflight = 0;
    }
    uint32_t n = 0, in_flight_desc = 0;
    for (uint16_t h = 0; h < num; h++) {
        if (mark[h] != UNSEEN || !a->desc[h].inflight)
            continue;
        uint64_t counter = a->desc[h].counter;
        uint16_t ndesc = take_chain(vq, a, h, mark, next);
        if (ndesc == 0)
            return corrupt(vq, mark, next, p,
                           "an in-flight chain overlaps another, the free list, or the area's "
                           "end, or its length or last entry is wrong", h);
        in_flight_desc += ndesc;
        if (in_flight_desc > num)
            return corrupt(vq, mark, next, p, "more descriptors in flight than the ring holds",
                           h);
        p[n++] = (struct vq_pending){.counter = counter, .r = {.head = h, .ndesc = ndesc}};
    }

    uint16_t free_first = num;
    for (uint16_t i = num; i-- > 0;) {
        if (mark[i] == CHAIN)
            continue;
        a->desc[i].next = free_first;
        next[i] = free_first;
        free_first = i;
    }
    in_order_stores();
    a->free_head = a->old_free_head = free_first;
    a->old_used_idx = old_used;
    a->old_used_wrap_counter = old_wrap;
    free(mark);

    if (vq_take_resubmit(vq, p, n) < 0) {
        free(next);
        return -1;
    }
    attach(vq, a, next, free_first);
    uint16_t pos = (uint16_t)(old_used | (old_wrap ? VRING_PACKED_WRAP : 0));
    if (n || pos != vq->used_idx)
        LOG_INFO("virtq", "packed ring resumes at used position %u wrap %u from its inflight "
                          "area (frontend base %u wrap %u), resubmitting %u request(s)",
                 old_used, old_wrap, vring_packed_idx(vq->used_idx),
                 vring_packed_wrap(vq->used_idx), n);
    /* Every descriptor the previous backend consumed is either covered by a
     * used descriptor or belongs to a buffer still in flight. */
    vq->used_idx = vq->pub_used = vq->signalled_used = pos;
    vq->last_avail = vring_packed_advance(pos, in_flight_desc, num);
    return 0;
}

int vq_set_inflight_packed(struct virtq *vq, struct vq_inflight_packed *a, uint64_t bytes)
{
    if (bytes < vq_inflight_packed_bytes(vq->num)) {
        LOG_WARN("virtq", "inflight area of %llu bytes has no room for a packed ring of %u "
                          "(%llu needed; made by an older sidecored?): requests in flight "
                          "at a backend crash will not be resubmitted",
                 (unsigned long long)bytes, vq->num,
                 (unsigned long long)vq_inflight_packed_bytes(vq->num));
        return 0;
    }
    uint16_t version = a->version, desc_num = a->desc_num;
    if (version != 0 && version != VQ_INFLIGHT_VERSION) {
        vq_fail(vq, "inflight area has version %u, only %u is known", version,
                VQ_INFLIGHT_VERSION);
        return -1;
    }
    if (version != 0 && desc_num != vq->num) {
        vq_fail(vq, "inflight area tracks %u descriptors, the ring has %u", desc_num, vq->num);
        return -1;
    }
    uint16_t *next = malloc((size_t)vq->num * sizeof(*next));
    if (!next) {
        vq_fail(vq, "out of memory for the inflight links of a %u-entry ring", vq->num);
        return -1;
    }
    if (version == 0) {
        start_fresh(vq, a, next);
        return 0;
    }
    return recover(vq, a, next);
}
