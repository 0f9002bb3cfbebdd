/* virtio-blk internals shared by the device (blk.c: vdev ops, config, queue
 * life cycle) and the data path (blk_req.c: poll, request parsing and
 * completion).
 *
 * A started queue owns a request pool (one blk_req per ring entry, up to
 * BLK_POOL_MAX), a backend queue and the sc_queue its sidecore polls. Only
 * that sidecore touches the pool and the ring while the queue is attached;
 * the control thread takes over after sc_detach. */
#ifndef SC_BLK_INT_H
#define SC_BLK_INT_H

#include <stdatomic.h>

#include "../core/sc_quiesce.h"
#include "../vpri/vpri_queue.h"
#include "blk.h"
#include "virtio_blk_spec.h"

#define BLK_MAX_IOV (BLK_SEG_MAX * 2 + 4) /* a buffer may split across regions */
#define BLK_POOL_MAX 1024                 /* requests in flight per queue */
#define BLK_POLL_BUDGET 64                /* chains popped per poll round */
#define BLK_STAGE 16                      /* chains popped before any is handled */
#define BLK_MAX_DISCARD_SECTORS (1u << 22) /* 2 GiB per discard / write zeroes */

struct blk_queue;

struct blk_req {
    struct blk_io io; /* first: done() gets &io */
    struct blk_queue *q;
    struct vq_chain chain;
    struct iovec *data; /* data part of the chain (header and status cut off) */
    uint8_t *status;
    uint32_t type;
    uint8_t vtag; /* VPRI in-flight tag (VPRI_NO_TAG until admitted) */
};

#define BLK_DRAIN_NS (5ull * 1000000000ull) /* a stop's wait, at least */

struct blk_queue {
    struct blk_dev *dev;
    uint16_t idx;
    struct virtq *vq;
    int call_fd;
    struct blk_bq *bq;
    struct sc_queue scq;
    char name[80]; /* device name + ".qN" */

    struct blk_req *reqs;
    unsigned nreqs;
    unsigned *free_idx;
    unsigned nfree;
    struct blk_req *deferred; /* refused by a full backend; retried first */
    /* Popped, headers being fetched, handled in order; what a full backend
     * left unhandled waits here for the next round. */
    struct blk_req *staged[BLK_STAGE];
    unsigned nstaged, staged_pos;
    bool pushed;              /* used elements written since the last publish */
    bool draining;            /* a stop has waited long: requests go out urgent */
    uint64_t drain_ns;        /* how long a stop waits for the backend */
    struct vpri_q vp;         /* VPRI: residency checks, parked requests */
    unsigned err_logs;        /* request errors logged so far */

    struct sc_quiesce qz;     /* vdev queue_quiesce: pops nothing while on */
    _Atomic bool emptied;     /* failed, and the backend holds nothing: no more polls */
};

struct blk_dev {
    struct vdev vdev;
    char name[64];
    char serial[VIRTIO_BLK_ID_BYTES];
    struct blk_backend *be;
    struct blk_backend_info info;
    struct sc_set *scs;
    uint16_t num_queues;
    bool read_only;
    _Atomic uint64_t capacity; /* 512-byte sectors; grows (blk_dev_resize) */
    uint64_t features; /* negotiated */
    struct virtio_blk_config cfg;
    struct blk_queue *q[BLK_MAX_QUEUES];
    struct sc_queue_stats past[BLK_MAX_QUEUES]; /* of stopped incarnations */
    _Atomic uint64_t ioerr;
    _Atomic uint64_t unsupp;
};

/* Data path (blk_req.c). */
int blk_queue_poll(struct sc_queue *scq);
bool blk_queue_set_notify(struct sc_queue *scq, bool enable);
/* Control thread, after sc_detach: complete what is in flight (bounded,
 * counted from the quiesce if one began). */
void blk_queue_drain(struct blk_queue *q);
/* Control thread, queue attached (vdev queue_quiesce / queue_settled). */
void blk_queue_quiesce(struct blk_queue *q, bool on);
bool blk_queue_settled(struct blk_queue *q);

#endif
