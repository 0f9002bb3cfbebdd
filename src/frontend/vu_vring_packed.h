/* Internals of vu_vring shared between the split (vu_vring.c) and packed
 * (vu_vring_packed.c) drivers; not for users of the library. The public
 * vu_vring_* calls check the arguments and the broken state, then dispatch
 * here for a packed ring. */
#ifndef VU_VRING_PACKED_H
#define VU_VRING_PACKED_H

#include "vu_vring.h"

int vu_vring_packed_init(struct vu_vring *vr, struct vu_mem *mem);
int vu_vring_packed_add(struct vu_vring *vr, const struct vu_sg *sg, unsigned n_out, unsigned n,
                        uint32_t in_bytes, void *token);
int vu_vring_packed_kick(struct vu_vring *vr);
int vu_vring_packed_get_used(struct vu_vring *vr, void **token, uint32_t *len);
bool vu_vring_packed_has_used(const struct vu_vring *vr);
void vu_vring_packed_set_cb(struct vu_vring *vr, bool enable);

/* Shared helpers from vu_vring.c. */
int vu_vring_notify(struct vu_vring *vr, bool need);
int vu_vring_broken(struct vu_vring *vr); /* marks the ring broken, returns -EPROTO */
int vu_vring_check_order(struct vu_vring *vr, uint16_t id);

#endif
