/* Inflight descriptor tracking (vhost-user GET/SET_INFLIGHT_FD), both
 * layouts of the vhost-user spec ("Inflight I/O tracking").
 *
 * Split rings, per queue:
 *   struct { u64 features; u16 version; u16 desc_num; u16 last_batch_head;
 *            u16 used_idx; struct vq_inflight_desc desc[desc_num]; }
 * The backend marks a head inflight when it pops it and clears it when the
 * used element is published; after a backend restart, the frontend hands the
 * region back (SET_INFLIGHT_FD) and the backend resubmits the heads still
 * marked, oldest first (by counter).
 *
 * Packed rings keep copies of the popped descriptors (used descriptors
 * overwrite ring slots of buffers still in flight), in entries taken from a
 * free list, plus the device's used position; old_* are the values of the
 * last completed publication, so a crash in the middle of one is rolled
 * back or committed (virtq_packed_inflight.c).
 *
 * The frontend asks for the area before features are set, so each queue's
 * region is sized for the larger (packed) layout. */
#ifndef SC_INFLIGHT_H
#define SC_INFLIGHT_H

#include <stddef.h>
#include <stdint.h>

#define VQ_INFLIGHT_VERSION 1 /* of both layouts; 0: a fresh area */

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

struct vq_inflight_pdesc {
    uint8_t inflight; /* head entries only */
    uint8_t padding;
    uint16_t next; /* free list, and the chain from a head to its last entry */
    uint16_t last; /* head: the chain's last entry */
    uint16_t num;  /* head: descriptors in the chain */
    uint64_t counter;
    /* A copy of the ring descriptor. */
    uint16_t id;
    uint16_t flags;
    uint32_t len;
    uint64_t addr;
};

struct vq_inflight_packed {
    uint64_t features;
    uint16_t version;
    uint16_t desc_num;
    uint16_t free_head;
    uint16_t old_free_head;
    uint16_t used_idx;
    uint16_t old_used_idx;
    uint8_t used_wrap_counter;
    uint8_t old_used_wrap_counter;
    uint8_t padding[7];
    struct vq_inflight_pdesc desc[];
};

_Static_assert(sizeof(struct vq_inflight_pdesc) == 32, "DescStatePacked");
_Static_assert(offsetof(struct vq_inflight_packed, desc) == 32, "QueueRegionPacked");

/* Each queue's region is padded to 64 bytes, as QEMU does. */
static inline uint64_t vq_inflight_split_bytes(uint16_t num)
{
    uint64_t b = sizeof(struct vq_inflight) + (uint64_t)num * sizeof(struct vq_inflight_desc);
    return (b + 63) & ~63ull;
}

static inline uint64_t vq_inflight_packed_bytes(uint16_t num)
{
    uint64_t b = sizeof(struct vq_inflight_packed) +
                 (uint64_t)num * sizeof(struct vq_inflight_pdesc);
    return (b + 63) & ~63ull;
}

/* What GET_INFLIGHT_FD allocates per queue: room for either layout. */
static inline uint64_t vq_inflight_queue_bytes(uint16_t num)
{
    return vq_inflight_packed_bytes(num);
}

#endif
