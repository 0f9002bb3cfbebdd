/* Inflight descriptor tracking (vhost-user GET/SET_INFLIGHT_FD, split rings).
 *
 * Shared-memory layout per queue, as the vhost-user spec defines it:
 *   struct { u64 features; u16 version; u16 desc_num; u16 last_batch_head;
 *            u16 used_idx; struct vq_inflight_desc desc[desc_num]; }
 * The backend marks a head inflight when it pops it and clears it when the
 * used element is published; after a backend restart, the frontend hands the
 * region back (SET_INFLIGHT_FD) and the backend resubmits the heads still
 * marked, oldest first (by counter). */
#ifndef SC_INFLIGHT_H
#define SC_INFLIGHT_H

#include <stdint.h>

struct vq_inflight_desc {
    uint8_t inflight;
    uint8_t padding[5];
    uint16_t next;
    uint64_t counter;
};

struct vq_inflight {
    uint64_t features;
    uint16_t version;
    uint16_t desc_num;
    uint16_t last_batch_head;
    uint16_t used_idx;
    struct vq_inflight_desc desc[];
};

static inline uint64_t vq_inflight_queue_bytes(uint16_t num)
{
    /* Each queue's area is padded to 64 bytes, as QEMU does. */
    uint64_t b = sizeof(struct vq_inflight) + (uint64_t)num * sizeof(struct vq_inflight_desc);
    return (b + 63) & ~63ull;
}

#endif
