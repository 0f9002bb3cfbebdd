/* What a virtio device offers to a transport (vhost-user today, the remote
 * path later). Devices implement these callbacks; transports call them from
 * the control thread only. Devices never see sockets or messages.
 *
 * Queue life cycle: the transport prepares a struct virtq (rings translated
 * and checked) and calls queue_start once the ring is fully configured and
 * enabled; from then on the device serves it from a sidecore. queue_stop is
 * synchronous: on return the device no longer touches the ring, in-flight
 * requests have completed (or the bounded drain time ran out, which the
 * device logs) and vq->last_avail is the index to report to the frontend.
 * A device whose requests can be slow (a backend holds them) also offers
 * queue_quiesce and queue_settled, so the transport can wait for them
 * without blocking its thread (every other device's control plane) and
 * call queue_stop once it no longer waits.
 *
 * Errors: when a queue or request is malformed, the device stops serving
 * (all its queues) and calls vdev_fail, which sets NEEDS_RESET in the status,
 * records the reason (shown in logs and stats) and signals the transport. */
#ifndef SC_VDEV_H
#define SC_VDEV_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "virtq.h"

struct vdev;

struct vdev_ops {
    const char *type; /* "virtio-blk", "virtio-net": for messages */
    /* Device feature bits (VERSION_1, INDIRECT_DESC, EVENT_IDX and the
     * device-type ones); the transport adds its own. */
    uint64_t (*features)(struct vdev *d);
    /* Called once the driver's feature choice is known (subset of features). */
    int (*set_features)(struct vdev *d, uint64_t features);
    uint16_t (*max_queues)(struct vdev *d);
    uint32_t (*config_size)(struct vdev *d);
    /* Copy len bytes of config space at off into buf; the transport has
     * checked off+len <= config_size. */
    void (*get_config)(struct vdev *d, uint8_t *buf, uint32_t off, uint32_t len);
    int (*set_config)(struct vdev *d, const uint8_t *buf, uint32_t off, uint32_t len);
    int (*queue_start)(struct vdev *d, uint16_t idx, struct virtq *vq, int kick_fd,
                       int call_fd);
    void (*queue_stop)(struct vdev *d, uint16_t idx);
    /* Optional. on: the started queue takes no new requests from its ring
     * while what it holds completes; off: it takes them again. A stop or a
     * new start ends it too. Returns false when the device does not wait
     * for anything at stop (queue_settled is not worth asking). */
    bool (*queue_quiesce)(struct vdev *d, uint16_t idx, bool on);
    /* True when a queue_stop now would not wait: nothing in flight, or the
     * stop's own bound (counted from the quiesce) has run out. */
    bool (*queue_settled)(struct vdev *d, uint16_t idx);
    /* Optional: the frontend moved the device (the end of a live
     * migration) and asks it to tell the network where the guest's MAC
     * address is now. 0 or -errno. */
    int (*announce)(struct vdev *d, const uint8_t mac[6]);
    /* All queues are stopped already; forget negotiated state. */
    void (*reset)(struct vdev *d);
    void (*destroy)(struct vdev *d);
};

struct vdev {
    const struct vdev_ops *ops;
    const char *name;      /* owned by the creator, outlives the vdev */
    _Atomic bool broken;   /* set by vdev_fail; sidecores stop polling it */
    _Atomic uint8_t status; /* virtio device status as the frontend set it, plus NEEDS_RESET */
    char why[192];         /* first failure reason */
    /* Set by the transport: called (from any thread, once) when the device
     * fails, so the transport can tell the frontend (vring err eventfd). */
    void (*on_fail)(struct vdev *d, uint16_t qidx, void *opaque);
    void *on_fail_opaque;
    /* Set by the transport: called on the control thread when the device
     * changed its config space (a resized disk), so the frontend re-reads
     * it and tells the driver. */
    void (*on_config_change)(struct vdev *d, void *opaque);
    void *on_config_opaque;
};

/* Mark the device broken with a reason; safe from any thread; first reason wins. */
void vdev_fail(struct vdev *d, uint16_t qidx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The same, for a frontend that broke the protocol: its caller has said why
 * and that the connection goes, so no line about a driver reset. */
void vdev_fail_quiet(struct vdev *d, uint16_t qidx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static inline bool vdev_is_broken(struct vdev *d)
{
    return atomic_load_explicit(&d->broken, memory_order_relaxed);
}

#endif
