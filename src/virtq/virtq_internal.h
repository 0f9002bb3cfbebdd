/* Helpers shared by the virtq engine's files (not part of the virtq contract).
 * Guest-shared fields are read exactly once into locals: the driver may
 * change them at any time, so a value is never re-read after it was checked. */
#ifndef SC_VIRTQ_INTERNAL_H
#define SC_VIRTQ_INTERNAL_H

#include <stdbool.h>
#include <string.h>

#include "../common/util.h"
#include "virtq.h"

/* Stores into memory that outlives a crashed process (inflight area, crash
 * record) in program order: a compiler barrier is enough, every store the
 * process made lands in the shared file. */
static inline void in_order_stores(void) { __asm__ volatile("" ::: "memory"); }

static inline uint16_t vq_rd16(const uint16_t *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static inline void vq_read_desc(const void *src, struct vring_desc *d)
{
    memcpy(d, src, sizeof(*d));
    /* Keeps the compiler from re-loading fields from guest memory later. */
    __asm__ volatile("" ::: "memory");
}

/* Index of a used/avail slot; num is a power of two, and the mask keeps the
 * index below num even if it were not. */
static inline uint16_t vq_slot(const struct virtq *vq, uint16_t idx)
{
    return idx & (uint16_t)(vq->num - 1);
}

/* c becomes a chain of one direct descriptor: len bytes in n iovecs. */
static inline void vq_chain_lone(struct vq_chain *c, uint16_t head, int n, uint32_t len, bool in)
{
    c->head = head;
    c->ndesc = 1;
    c->n_out = in ? 0 : (uint16_t)n;
    c->n_in = in ? (uint16_t)n : 0;
    c->out_len = in ? 0 : len;
    c->in_len = in ? len : 0;
}

/* The split ring's own entry points; vq_pop / vq_push dispatch to them,
 * or, when vq->ext is set, to the packed / IN_ORDER paths below. */
int vq_pop_split(struct virtq *vq, struct vq_chain *c);
void vq_push_split(struct virtq *vq, const struct vq_chain *c, uint32_t len);

/* Per buffer id (packed: the driver's buffer id; split IN_ORDER: the head). */
struct vq_id_state {
    uint16_t ndesc;   /* ring descriptors the buffer took (packed) */
    bool outstanding; /* popped, not yet pushed */
    bool has_in;      /* packed: the buffer has device-writable bytes */
    bool done;        /* IN_ORDER: pushed, waiting for older ids */
    uint32_t len;     /* IN_ORDER: the length given to vq_push */
    uint16_t inf_head, inf_last; /* packed inflight area: the buffer's entries */
};

struct vq_used_shadow {
    uint16_t id;
    uint16_t ndesc;
    bool wrote;
    bool skippable; /* IN_ORDER, nothing writable: may share a used descriptor */
    uint32_t len;
    uint16_t inf_head, inf_last; /* packed inflight area: the buffer's entries */
};

/* virtq_packed.c / virtq_order.c */
void vq_init_ext(struct virtq *vq, uint64_t features);
void vq_fini_ext(struct virtq *vq);
int vq_pop_ext(struct virtq *vq, struct vq_chain *c);
void vq_push_ext(struct virtq *vq, const struct vq_chain *c, uint32_t len);
int vq_pop_packed(struct virtq *vq, struct vq_chain *c);
void vq_publish_packed(struct virtq *vq);
bool vq_has_work_packed(const struct virtq *vq);
bool vq_should_notify_packed(struct virtq *vq);
bool vq_set_notify_packed(struct virtq *vq, bool enable);

/* Records used buffer id (outstanding, checked by the caller) for the next
 * vq_publish_packed. Inline: as a call from vq_push_ext it cost 64 B packed
 * rx 2-3% (alternating 100 ms phases in one run). */
static inline void vq_push_packed(struct virtq *vq, uint16_t id, uint32_t len)
{
    if (SC_UNLIKELY(vq->n_shadow == vq->num))
        vq_publish_packed(vq); /* cannot happen with at most num outstanding ids */
    const struct vq_id_state *s = &vq->ids[id];
    vq->shadow[vq->n_shadow++] = (struct vq_used_shadow){
        .id = id,
        .ndesc = s->ndesc,
        .wrote = len != 0,
        .skippable = vq->in_order && len == 0 && !s->has_in,
        .len = len,
        .inf_head = s->inf_head,
        .inf_last = s->inf_last};
    vq->used_idx = vring_packed_advance(vq->used_idx, s->ndesc, vq->num);
    vq->batch_head = id;
}

/* virtq_inflight.c: a request found in flight in an inflight area. */
struct vq_pending {
    uint64_t counter;
    struct vq_resubmit r;
};

/* Orders p (n entries; freed here) oldest first and makes it the queue's
 * resubmit list, replacing the old one; the counter continues after the
 * largest. -1 (vq->err set) when out of memory. */
int vq_take_resubmit(struct virtq *vq, struct vq_pending *p, uint32_t n);

/* virtq_packed_inflight.c: the packed inflight area. */
int vq_set_inflight_packed(struct virtq *vq, struct vq_inflight_packed *a, uint64_t bytes);
void vq_pinf_retire_begin(struct virtq *vq);
void vq_pinf_retire_end(struct virtq *vq);

/* Records a popped buffer's descriptors in free entries: *cur walks the
 * free list from pinf_free; the last copy's entry is returned in *last.
 * False when the list ran out (the area was corrupt). */
static inline bool vq_pinf_copy(struct virtq *vq, uint16_t *cur, uint16_t *last,
                                const struct vring_packed_desc *d)
{
    uint16_t e = *cur;
    if (SC_UNLIKELY(e >= vq->num))
        return false;
    struct vq_inflight_pdesc *s = &vq->pinf->desc[e];
    s->addr = d->addr;
    s->len = d->len;
    s->id = d->id;
    s->flags = d->flags;
    *last = e;
    *cur = vq->pinf_next[e];
    return true;
}

/* Makes the recorded buffer (entries pinf_free .. last, ndesc of them) in
 * flight and takes its entries off the free list. */
void vq_pinf_commit(struct virtq *vq, uint16_t id, uint16_t last, uint16_t ndesc,
                    uint16_t next_free);

#endif
