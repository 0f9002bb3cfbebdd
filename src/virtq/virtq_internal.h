/* Helpers shared by the split-ring files (not part of the virtq contract).
 * Guest-shared fields are read exactly once into locals: the driver may
 * change them at any time, so a value is never re-read after it was checked. */
#ifndef SC_VIRTQ_INTERNAL_H
#define SC_VIRTQ_INTERNAL_H

#include <string.h>

#include "virtq.h"

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

#endif
