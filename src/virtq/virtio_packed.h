/* Packed virtqueue layout (virtio 1.1+ "Packed Virtqueues"), shared by the
 * device engine and the frontend library. Little-endian only, as
 * virtio_spec.h. A position in the ring travels with its wrap counter as
 * one 16-bit value: bits 0-14 the index, bit 15 the counter; vhost-user's
 * SET/GET_VRING_BASE carry exactly this encoding for packed rings. */
#ifndef SC_VIRTIO_PACKED_H
#define SC_VIRTIO_PACKED_H

#include <stdbool.h>
#include <stdint.h>

#include "virtio_spec.h"

#define VRING_PACKED_DESC_F_AVAIL (1u << 7)
#define VRING_PACKED_DESC_F_USED (1u << 15)

/* Event suppression flags (the low two bits of the flags word). */
#define RING_EVENT_FLAGS_ENABLE 0x0
#define RING_EVENT_FLAGS_DISABLE 0x1
#define RING_EVENT_FLAGS_DESC 0x2
#define RING_EVENT_FLAGS_MASK 0x3

#define VRING_PACKED_WRAP (1u << 15)
#define VRING_PACKED_IDX_MASK 0x7fffu

struct vring_packed_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t id;
    uint16_t flags;
};

struct vring_packed_event {
    uint16_t off_wrap;
    uint16_t flags;
};

static inline uint64_t vring_packed_desc_bytes(uint32_t num) { return 16ull * num; }

/* Position + wrap counter helpers on the 16-bit encoding. */
static inline uint16_t vring_packed_idx(uint16_t pw) { return pw & VRING_PACKED_IDX_MASK; }
static inline bool vring_packed_wrap(uint16_t pw) { return pw & VRING_PACKED_WRAP; }

/* Advances pw by n (<= num) descriptors in a ring of num, toggling the wrap
 * counter when the end of the ring is passed. */
static inline uint16_t vring_packed_advance(uint16_t pw, uint32_t n, uint32_t num)
{
    uint32_t idx = vring_packed_idx(pw) + n;
    uint16_t wrap = pw & VRING_PACKED_WRAP;
    if (idx >= num) {
        idx -= num;
        wrap ^= VRING_PACKED_WRAP;
    }
    return (uint16_t)(idx | wrap);
}

/* Flags of an available descriptor for the lap with wrap counter w, and of a
 * used one: AVAIL matches the counter and USED does not, or both match. */
static inline uint16_t vring_packed_avail_flags(bool w)
{
    return w ? VRING_PACKED_DESC_F_AVAIL : VRING_PACKED_DESC_F_USED;
}
static inline uint16_t vring_packed_used_flags(bool w)
{
    return w ? (VRING_PACKED_DESC_F_AVAIL | VRING_PACKED_DESC_F_USED) : 0;
}
static inline bool vring_packed_is_avail(uint16_t flags, bool w)
{
    return (flags & (VRING_PACKED_DESC_F_AVAIL | VRING_PACKED_DESC_F_USED)) ==
           vring_packed_avail_flags(w);
}
static inline bool vring_packed_is_used(uint16_t flags, bool w)
{
    return (flags & (VRING_PACKED_DESC_F_AVAIL | VRING_PACKED_DESC_F_USED)) ==
           vring_packed_used_flags(w);
}

/* Positions as a count modulo 2*num, so event offsets compare across a
 * wrap: the first lap (counter 1) is [0, num), the second [num, 2*num). */
static inline uint32_t vring_packed_linear(uint16_t pw, uint32_t num)
{
    return vring_packed_idx(pw) + (vring_packed_wrap(pw) ? 0 : num);
}

/* EVENT_IDX for packed rings: true when the event position (off_wrap) is
 * among the descriptors written since old, i.e. in [old, new). */
static inline bool vring_packed_need_event(uint16_t off_wrap, uint16_t new_pw, uint16_t old_pw,
                                           uint32_t num)
{
    uint32_t span = 2 * num;
    if (vring_packed_idx(off_wrap) >= num)
        return true; /* names no descriptor: a spurious interrupt beats a lost one */
    uint32_t e = vring_packed_linear(off_wrap, num), n = vring_packed_linear(new_pw, num),
             o = vring_packed_linear(old_pw, num);
    return (e + span - o) % span < (n + span - o) % span;
}

#endif
