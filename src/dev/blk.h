/* virtio-blk device (virtio spec "Block Device"), served by sidecores.
 *
 * Multiqueue; config space with capacity, blk_size, seg_max, num_queues and
 * the discard / write-zeroes limits; requests IN, OUT, FLUSH, GET_ID, DISCARD,
 * WRITE_ZEROES; read-only devices refuse writes with VIRTIO_BLK_S_IOERR (and
 * offer VIRTIO_BLK_F_RO). Unsupported request types get VIRTIO_BLK_S_UNSUPP.
 * A request whose sector range lies outside the device gets IOERR; only ring
 * level violations (or a request without room for its status byte) stop the
 * device. Each queue opens its own backend queue; the backend is owned. */
#ifndef SC_BLK_H
#define SC_BLK_H

#include <stdbool.h>
#include <stdint.h>

#include "../backend/blk_backend.h"
#include "../core/sidecore.h"
#include "../virtq/vdev.h"

#define BLK_MAX_QUEUES 64
#define BLK_SEG_MAX 126

struct blk_dev_params {
    const char *name;     /* copied */
    uint16_t num_queues;  /* 1..BLK_MAX_QUEUES */
    bool read_only;
    const char *serial;   /* GET_ID answer (<= 20 bytes); default: name */
};

/* Takes over be on success (destroy() destroys it); on failure (NULL, reason
 * in *why) the caller still owns be. */
struct vdev *blk_dev_create(const struct blk_dev_params *p, struct blk_backend *be,
                            struct sc_set *scs, const char **why);

/* Snapshot of per-queue statistics; returns the number of queues written. */
unsigned blk_dev_queue_stats(struct vdev *d, struct sc_queue_stats *out, unsigned max);
/* Requests completed with an error status, by kind. */
struct blk_dev_errors {
    uint64_t ioerr;
    uint64_t unsupp;
};
void blk_dev_errors(struct vdev *d, struct blk_dev_errors *out);
/* Control thread: grow the disk to bytes (a multiple of its block size)
 * under a running guest: the backend grows, requests up to the new end are
 * accepted from then on, and the transport is told that the config space
 * changed. Shrinking is refused (it would cut off the guest's data). 0, or
 * -errno with *why set. */
int blk_dev_resize(struct vdev *d, uint64_t bytes, const char **why);

#endif
