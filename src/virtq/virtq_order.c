/* The slower entry points taken when a queue is packed or negotiated
 * VIRTIO_F_IN_ORDER (vq->ext), and the per-id state they keep.
 *
 * IN_ORDER: the device must use buffers in the order the driver made them
 * available, but devices complete them in any order (blk's io_uring). So
 * vq_push only records a completion (its length) and writes used elements
 * once every older buffer has completed too, oldest first. On a split
 * ring every buffer gets its own used element (always valid; drivers such
 * as DPDK's read each one's length even in order); a packed ring shares one
 * used descriptor among buffers with nothing writable (virtq_packed_used.c).
 * Written bytes are dirty-logged at vq_push, when the chain's iovecs are at
 * hand. */
#include <stdlib.h>

#include "../common/util.h"
#include "virtq_internal.h"

/* Slot of the order list: head and length are each below num, so one
 * subtraction wraps it (a division per buffer showed in rx profiles; a
 * packed ring's size need not be a power of two). */
static inline uint32_t order_slot(const struct virtq *vq, uint32_t i)
{
    return i >= vq->num ? i - vq->num : i;
}

void vq_init_ext(struct virtq *vq, uint64_t features)
{
    vq->packed = features & (1ull << VIRTIO_F_RING_PACKED);
    vq->in_order = features & (1ull << VIRTIO_F_IN_ORDER);
    vq->ext = true;
    if (vq->packed) {
        vq->pdesc = (struct vring_packed_desc *)vq->desc;
        vq->drv_event = (struct vring_packed_event *)vq->avail;
        vq->dev_event = (struct vring_packed_event *)vq->used;
        vq->desc = NULL;
        vq->avail = NULL;
        vq->used = NULL;
        vq->shadow = calloc(vq->num, sizeof(*vq->shadow));
    }
    vq->ids = calloc(vq->num, sizeof(*vq->ids));
    if (vq->in_order)
        vq->order = calloc(vq->num, sizeof(*vq->order));
    if (!vq->ids || (vq->packed && !vq->shadow) || (vq->in_order && !vq->order)) {
        vq_fail(vq, "out of memory for the per-buffer state of a %u-entry ring", vq->num);
        return;
    }
    if (vq->packed && vring_packed_idx(vq->last_avail) >= vq->num) {
        vq_fail(vq, "ring base position %u is beyond the ring size %u",
                vring_packed_idx(vq->last_avail), vq->num);
        /* vq_has_work still looks at the ring: keep it inside. */
        vq->last_avail = vq->used_idx = vq->pub_used = VRING_PACKED_WRAP;
    }
}

void vq_fini_ext(struct virtq *vq)
{
    free(vq->ids);
    free(vq->order);
    if (!vq->shadow_in_record)
        free(vq->shadow);
    vq->shadow_in_record = false;
    vq->ids = NULL;
    vq->order = NULL;
    vq->shadow = NULL;
    vq->order_len = vq->n_shadow = 0;
}

void vq_device_in_order(struct virtq *vq)
{
    if (!vq->in_order)
        return;
    if (vq->packed) {
        /* Pushes are in avail order already: no order list to keep them so
         * (the per-id state stays: descriptor counts, double completions). */
        free(vq->order);
        vq->order = NULL;
        vq->order_len = 0;
        return;
    }
    /* Used elements written as chains are pushed are then in avail order;
     * a head the driver repeats is its own loss, as without IN_ORDER. */
    vq_fini_ext(vq);
    vq->ext = false;
}

int vq_pop_ext(struct virtq *vq, struct vq_chain *c)
{
    if (vq->packed) {
        int rc = vq_pop_packed(vq, c);
        if (rc == 1 && vq->order)
            vq->order[order_slot(vq, (uint32_t)vq->order_head + vq->order_len++)] = c->head;
        return rc;
    }
    int rc = vq_pop_split(vq, c);
    if (rc != 1)
        return rc;
    /* Split rings do not need unique heads otherwise; here a repeated one
     * would complete twice in the order list. */
    struct vq_id_state *s = &vq->ids[c->head];
    if (s->outstanding) {
        vq_fail(vq, "head %u was made available again while still outstanding", c->head);
        return -1;
    }
    s->outstanding = true;
    vq->order[order_slot(vq, (uint32_t)vq->order_head + vq->order_len++)] = c->head;
    return 1;
}

static void log_written(struct virtq *vq, const struct vq_chain *c, uint32_t len)
{
    if (!c->gpa || atomic_load_explicit(&vq->gm->log.map, memory_order_relaxed) == NULL)
        return;
    for (uint16_t i = c->n_out; i < c->n_out + c->n_in && len; i++) {
        uint32_t l = c->iov[i].iov_len < len ? (uint32_t)c->iov[i].iov_len : len;
        gm_log_write(vq->gm, c->gpa[i], l);
        len -= l;
    }
}

static void emit(struct virtq *vq, uint16_t id, uint32_t len)
{
    if (vq->packed) {
        vq_push_packed(vq, id, len);
    } else {
        /* No iovecs: the buffer was logged when it was pushed. */
        struct vq_chain used = {.head = id};
        vq_push_split(vq, &used, len);
    }
}

void vq_push_ext(struct virtq *vq, const struct vq_chain *c, uint32_t len)
{
    uint16_t id = c->head;
    struct vq_id_state *s = id < vq->num && vq->ids ? &vq->ids[id] : NULL;
    if (!s || !s->outstanding || s->done) {
        vq_fail(vq, "device returned buffer id %u, which is not outstanding", id);
        return;
    }
    log_written(vq, c, len);
    if (!vq->order) {
        s->outstanding = false;
        vq_push_packed(vq, id, len);
        return;
    }
    s->done = true;
    s->len = len;
    while (vq->order_len && vq->ids[vq->order[vq->order_head]].done) {
        uint16_t h = vq->order[vq->order_head];
        vq->order_head = (uint16_t)order_slot(vq, vq->order_head + 1u);
        vq->order_len--;
        vq->ids[h].done = false;
        vq->ids[h].outstanding = false;
        emit(vq, h, vq->ids[h].len);
    }
}
