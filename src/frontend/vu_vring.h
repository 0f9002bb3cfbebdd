/* Driver side of one virtqueue: split (virtio 1.x "Split Virtqueues") or
 * packed ("Packed Virtqueues", vu_vring_packed.c), chosen at init.
 *
 * Contract:
 * - The ring (descriptor table, avail, used, and optional per-head indirect
 *   tables) lives in a struct vu_mem; descriptors carry GPAs. For a packed
 *   ring desc_gpa is the descriptor ring, avail_gpa the driver event area and
 *   used_gpa the device event area (what SET_VRING_ADDR sends in those
 *   fields); the size need not be a power of two, and the ring starts at
 *   position 0 with wrap counter 1 (SET_VRING_BASE 0x8000).
 * - vu_vring_add() places one buffer chain (device-readable segments first,
 *   then device-writable ones) and publishes it in the avail ring; it uses an
 *   indirect table when INDIRECT is on and the chain has more than one
 *   segment. vu_vring_kick() then notifies the device through the kick
 *   eventfd only when the device asked for it (used->flags NO_NOTIFY, or
 *   avail_event with EVENT_IDX).
 * - vu_vring_get_used() reaps one completion. The device's answer is hostile:
 *   a used idx that runs ahead of what is outstanding, an id >= num, an id not
 *   currently outstanding, or a length larger than the chain's writable bytes
 *   marks the ring broken (LOG_ERR with the details) and returns -EPROTO;
 *   every later call fails with -EPIPE. Packed: a used descriptor with an
 *   id that is >= num or not outstanding, or a length beyond the buffer's
 *   writable bytes, is a violation too.
 * - in_order (VIRTIO_F_IN_ORDER negotiated): additionally every completion
 *   must be the oldest outstanding buffer. This checks that the device
 *   returns buffers in order; a device that writes one used element per
 *   batch (which the spec allows) is reported as a violation.
 * - Completion notifications: vu_vring_disable_cb() asks the device not to
 *   interrupt (polling); vu_vring_enable_cb() re-arms it and returns false if
 *   completions already arrived (the caller must reap before sleeping).
 * Single-threaded: one thread owns a ring. */
#ifndef VU_VRING_H
#define VU_VRING_H

#include <stdbool.h>
#include <stdint.h>

#include "virtq/virtio_packed.h"
#include "virtq/virtio_spec.h"
#include "vu_mem.h"

#define VU_VRING_MAX_SEGS 16

struct vu_sg {
    uint64_t gpa;
    uint32_t len;
};

struct vu_vring_head {
    void *token;      /* non-NULL while outstanding */
    uint32_t in_bytes;
    uint16_t ndesc;   /* descriptors taken from the table */
};

struct vu_vring_cfg {
    uint16_t num; /* split: a power of two; packed: any; at most 32768 */
    bool event_idx, indirect, packed, in_order;
};

struct vu_vring {
    uint16_t num;
    bool event_idx, indirect, cb_enabled, broken;
    bool packed, in_order;
    /* packed ring state (the split fields desc/avail/used stay NULL) */
    struct vring_packed_desc *pdesc;
    struct vring_packed_event *drv_event, *dev_event;
    uint16_t avail_pw, used_pw, kicked_pw; /* position | wrap counter << 15 */
    uint16_t *free_ids; /* stack of free buffer ids */
    uint16_t n_free_ids;
    /* in_order: ids in the order they were made available */
    uint16_t *order;
    uint16_t order_head;
    struct vring_desc *desc;
    struct vring_avail *avail;
    struct vring_used *used;
    struct vring_desc *indir;   /* num tables of VU_VRING_MAX_SEGS entries */
    uint64_t desc_gpa, avail_gpa, used_gpa, indir_gpa;
    uint16_t free_head, num_free;
    uint16_t avail_idx;   /* next avail idx to publish */
    uint16_t kicked_idx;  /* avail idx at the last kick decision */
    uint16_t last_used;   /* next used idx to reap */
    unsigned outstanding;
    struct vu_vring_head *heads;
    int kick_fd, call_fd; /* owned; -1 if none */
    uint64_t kicks, kicks_suppressed;
};

/* num: power of two, 1..32768. Creates kick/call eventfds (non-blocking).
 * Returns 0 or -errno. A split ring without IN_ORDER. */
int vu_vring_init(struct vu_vring *vr, struct vu_mem *mem, uint16_t num, bool event_idx,
                  bool indirect);
/* Any layout; same results as vu_vring_init. */
int vu_vring_init_cfg(struct vu_vring *vr, struct vu_mem *mem, const struct vu_vring_cfg *cfg);
/* What SET_VRING_BASE sends for a fresh ring of this layout. */
static inline uint32_t vu_vring_start_base(const struct vu_vring *vr)
{
    return vr->packed ? VRING_PACKED_WRAP : 0;
}
void vu_vring_destroy(struct vu_vring *vr);

/* Returns the head id, -ENOSPC if not enough free descriptors, -EINVAL for a
 * bad chain, -EPIPE if the ring is broken. token must be non-NULL. */
int vu_vring_add(struct vu_vring *vr, const struct vu_sg *sg, unsigned n_out, unsigned n_in,
                 void *token);
/* Returns 1 if the device was notified, 0 if suppressed, <0 on error. */
int vu_vring_kick(struct vu_vring *vr);
/* Returns 1 and fills token and len, 0 if nothing is pending, <0 if broken. */
int vu_vring_get_used(struct vu_vring *vr, void **token, uint32_t *len);
bool vu_vring_has_used(const struct vu_vring *vr);
void vu_vring_disable_cb(struct vu_vring *vr);
bool vu_vring_enable_cb(struct vu_vring *vr);
/* Drains the call eventfd (after a wakeup). */
void vu_vring_ack_call(struct vu_vring *vr);

/* Location of used_event / avail_event (EVENT_IDX). */
static inline volatile uint16_t *vu_vring_used_event(struct vu_vring *vr)
{
    return &vr->avail->ring[vr->num];
}
static inline volatile uint16_t *vu_vring_avail_event(struct vu_vring *vr)
{
    return (volatile uint16_t *)&vr->used->ring[vr->num];
}

#endif
