/* virtio-blk device: features, config space and queue life cycle (control
 * thread). The data path is in blk_req.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/log.h"
#include "../common/util.h"
#include "blk_int.h"

#define DEV(v) ((struct blk_dev *)(v))

static uint64_t blk_features(struct vdev *v)
{
    struct blk_dev *d = DEV(v);
    uint64_t f = (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_INDIRECT_DESC) |
                 (1ull << VIRTIO_RING_F_EVENT_IDX) | (1ull << VIRTIO_BLK_F_SEG_MAX) |
                 (1ull << VIRTIO_BLK_F_BLK_SIZE) | (1ull << VIRTIO_BLK_F_FLUSH) |
                 (1ull << VIRTIO_BLK_F_TOPOLOGY) | (1ull << VIRTIO_BLK_F_MQ) |
                 (1ull << VIRTIO_F_RING_PACKED) | (1ull << VIRTIO_F_IN_ORDER);
    if (d->info.max_io)
        f |= 1ull << VIRTIO_BLK_F_SIZE_MAX;
    if (d->read_only)
        f |= 1ull << VIRTIO_BLK_F_RO;
    else {
        if (d->info.can_discard)
            f |= 1ull << VIRTIO_BLK_F_DISCARD;
        if (d->info.can_write_zeroes)
            f |= 1ull << VIRTIO_BLK_F_WRITE_ZEROES;
    }
    return f;
}

static int blk_set_features(struct vdev *v, uint64_t features)
{
    struct blk_dev *d = DEV(v);
    uint64_t extra = features & ~blk_features(v);
    if (extra)
        LOG_DEBUG("blk", "%s: driver features 0x%llx beyond the device's (transport bits)",
                  d->name, (unsigned long long)extra);
    d->features = features;
    return 0;
}

static uint16_t blk_max_queues(struct vdev *v)
{
    return DEV(v)->num_queues;
}

static uint32_t blk_config_size(struct vdev *v)
{
    (void)v;
    return sizeof(struct virtio_blk_config);
}

static void blk_get_config(struct vdev *v, uint8_t *buf, uint32_t off, uint32_t len)
{
    struct blk_dev *d = DEV(v);
    if (off > sizeof(d->cfg) || len > sizeof(d->cfg) - off) {
        LOG_ERR("blk", "%s: config read of %u bytes at %u is outside the %zu-byte config",
                d->name, len, off, sizeof(d->cfg));
        memset(buf, 0, len);
        return;
    }
    memcpy(buf, (const uint8_t *)&d->cfg + off, len);
}

static int blk_set_config(struct vdev *v, const uint8_t *buf, uint32_t off, uint32_t len)
{
    (void)buf;
    /* Only writeback is writable, and only with CONFIG_WCE, not offered. */
    LOG_ERR("blk", "%s: config write of %u bytes at %u refused: the config space is "
            "read-only (CONFIG_WCE is not offered)", DEV(v)->name, len, off);
    return -EPERM;
}

static void queue_free(struct blk_queue *q)
{
    if (!q)
        return;
    if (q->reqs) {
        free(q->reqs[0].chain.iov);
        free(q->reqs[0].chain.gpa);
        free(q->reqs[0].data);
    }
    free(q->reqs);
    free(q->free_idx);
    free(q);
}

/* The request pool: iovec arrays carved from three allocations. */
static struct blk_queue *queue_alloc(struct blk_dev *d, uint16_t idx, unsigned n)
{
    struct blk_queue *q = calloc(1, sizeof(*q));
    if (!q)
        return NULL;
    q->reqs = calloc(n, sizeof(*q->reqs));
    q->free_idx = calloc(n, sizeof(*q->free_idx));
    struct iovec *iov = calloc((size_t)n * BLK_MAX_IOV, sizeof(*iov));
    uint64_t *gpa = calloc((size_t)n * BLK_MAX_IOV, sizeof(*gpa));
    struct iovec *data = calloc((size_t)n * BLK_MAX_IOV, sizeof(*data));
    if (!q->reqs || !q->free_idx || !iov || !gpa || !data) {
        free(iov);
        free(gpa);
        free(data);
        free(q->reqs);
        free(q->free_idx);
        free(q);
        return NULL;
    }
    q->dev = d;
    q->idx = idx;
    q->nreqs = n;
    /* A stop waits for what the backend holds at least as long as the
     * backend may hold it (a remote one ends its requests itself, with an
     * error or on its fallback, after its timeouts): giving up earlier lost
     * them, the guest waiting for them for good. */
    struct blk_backend_info bi;
    d->be->ops->info(d->be, &bi);
    q->drain_ns = SC_MAX(BLK_DRAIN_NS, (uint64_t)bi.settle_ms * 1000000ull + 1000000000ull);
    for (unsigned i = 0; i < n; i++) {
        struct blk_req *r = &q->reqs[i];
        r->q = q;
        r->chain.iov = iov + (size_t)i * BLK_MAX_IOV;
        r->chain.gpa = gpa + (size_t)i * BLK_MAX_IOV;
        r->chain.max_iov = BLK_MAX_IOV;
        r->data = data + (size_t)i * BLK_MAX_IOV;
        q->free_idx[i] = n - 1 - i;
    }
    q->nfree = n;
    snprintf(q->name, sizeof(q->name), "%s.q%u", d->name, idx);
    return q;
}

static int blk_queue_start(struct vdev *v, uint16_t idx, struct virtq *vq, int kick_fd,
                           int call_fd)
{
    struct blk_dev *d = DEV(v);
    if (idx >= d->num_queues) {
        LOG_ERR("blk", "%s: queue %u does not exist (the device has %u)", d->name, idx,
                d->num_queues);
        return -EINVAL;
    }
    if (d->q[idx]) {
        LOG_ERR("blk", "%s: queue %u is already started", d->name, idx);
        return -EBUSY;
    }
    if (!vq || vq->num == 0) {
        LOG_ERR("blk", "%s: queue %u has no ring", d->name, idx);
        return -EINVAL;
    }
    unsigned n = SC_MIN((unsigned)vq->num, (unsigned)BLK_POOL_MAX);
    struct blk_queue *q = queue_alloc(d, idx, n);
    if (!q) {
        LOG_ERR("blk", "%s: out of memory for queue %u (%u requests)", d->name, idx, n);
        return -ENOMEM;
    }
    q->vq = vq;
    q->call_fd = call_fd;
    /* A few polls' wait for a longer run of requests (sidecore-bench run,
     * null backend, one sidecore, alternating phases in one run): QD16
     * +25%, QD128 +8%, QD1 and QD4 unchanged, QD8 1-5% slower. */
    vq_set_settle(vq, true);
    vpri_q_bind(&q->vp, vq->gm, idx);
    int rc = d->be->ops->queue_open(d->be, n, &q->bq);
    if (rc < 0) {
        LOG_ERR("blk", "%s: backend %s cannot open a queue of depth %u: %s", d->name,
                d->be->ops->name, n, strerror(-rc));
        queue_free(q);
        return rc;
    }
    q->scq.name = q->name;
    q->scq.poll = blk_queue_poll;
    q->scq.set_notify = blk_queue_set_notify;
    q->scq.kick_fd = kick_fd;
    q->scq.aux_fd = d->be->ops->event_fd(q->bq);
    q->scq.opaque = q;
    d->q[idx] = q;
    rc = sc_attach(d->scs, &q->scq);
    if (rc < 0) {
        LOG_ERR("blk", "%s: cannot attach queue %u to a sidecore: %s", d->name, idx,
                strerror(-rc));
        d->q[idx] = NULL;
        d->be->ops->queue_close(q->bq);
        queue_free(q);
        return rc;
    }
    return 0;
}

static void blk_queue_stop(struct vdev *v, uint16_t idx)
{
    struct blk_dev *d = DEV(v);
    if (idx >= d->num_queues || !d->q[idx])
        return;
    struct blk_queue *q = d->q[idx];
    sc_detach(&q->scq);
    blk_queue_drain(q);
    vpri_q_unbind(&q->vp);
    d->be->ops->queue_close(q->bq);

    struct sc_queue_stats *p = &d->past[idx];
    p->requests += q->scq.stats.requests;
    p->bytes += q->scq.stats.bytes;
    p->kicks += q->scq.stats.kicks;
    p->notifies += q->scq.stats.notifies;
    p->busy_ns += q->scq.stats.busy_ns;
    p->polls += q->scq.stats.polls;
    d->q[idx] = NULL;
    queue_free(q);
}

static bool blk_queue_quiesce_op(struct vdev *v, uint16_t idx, bool on)
{
    struct blk_dev *d = DEV(v);
    if (idx >= d->num_queues || !d->q[idx])
        return false;
    blk_queue_quiesce(d->q[idx], on);
    return true;
}

static bool blk_queue_settled_op(struct vdev *v, uint16_t idx)
{
    struct blk_dev *d = DEV(v);
    return idx >= d->num_queues || !d->q[idx] || blk_queue_settled(d->q[idx]);
}

static void blk_reset(struct vdev *v)
{
    struct blk_dev *d = DEV(v);
    for (uint16_t i = 0; i < d->num_queues; i++)
        if (d->q[i]) {
            LOG_ERR("blk", "%s: reset with queue %u still started; stopping it", d->name, i);
            blk_queue_stop(v, i);
        }
    d->features = 0;
}

static void blk_destroy(struct vdev *v)
{
    struct blk_dev *d = DEV(v);
    if (!d)
        return;
    for (uint16_t i = 0; i < d->num_queues; i++)
        blk_queue_stop(v, i);
    d->be->ops->destroy(d->be);
    free(d);
}

static const struct vdev_ops blk_ops = {
    .type = "virtio-blk",
    .features = blk_features,
    .set_features = blk_set_features,
    .max_queues = blk_max_queues,
    .config_size = blk_config_size,
    .get_config = blk_get_config,
    .set_config = blk_set_config,
    .queue_start = blk_queue_start,
    .queue_stop = blk_queue_stop,
    .queue_quiesce = blk_queue_quiesce_op,
    .queue_settled = blk_queue_settled_op,
    .reset = blk_reset,
    .destroy = blk_destroy,
};

static void fill_config(struct blk_dev *d)
{
    struct virtio_blk_config *c = &d->cfg;
    uint32_t bs = d->info.block_size ? d->info.block_size : VIRTIO_BLK_SECTOR;
    uint64_t cap = atomic_load(&d->capacity);
    uint32_t max_dwz = (uint32_t)SC_MIN((uint64_t)BLK_MAX_DISCARD_SECTORS, cap);

    memset(c, 0, sizeof(*c));
    c->capacity = cap;
    c->seg_max = BLK_SEG_MAX;
    /* A backend with a request limit (remote: RIO_MAX_IO): segments small
     * enough that seg_max of them fit in one request, whole pages. A
     * guest that raised max_sectors_kb past it got I/O errors. */
    if (d->info.max_io)
        c->size_max = SC_MAX((d->info.max_io / BLK_SEG_MAX) & ~4095u, 4096u);
    c->blk_size = bs;
    /* Topology counts in logical blocks (blk_size): one block minimum. */
    c->topology.physical_block_exp = 0;
    c->topology.min_io_size = 1;
    c->topology.opt_io_size = 0;
    c->num_queues = d->num_queues;
    c->max_discard_sectors = max_dwz;
    c->max_discard_seg = 1;
    c->discard_sector_alignment = bs / VIRTIO_BLK_SECTOR;
    c->max_write_zeroes_sectors = max_dwz;
    c->max_write_zeroes_seg = 1;
    c->write_zeroes_may_unmap = 1;
}

struct vdev *blk_dev_create(const struct blk_dev_params *p, struct blk_backend *be,
                            struct sc_set *scs, const char **why)
{
    if (!p || !p->name || !p->name[0]) {
        *why = "a device name is required";
        return NULL;
    }
    if (strlen(p->name) >= sizeof(((struct blk_dev *)0)->name)) {
        *why = "device name is too long (max 63 bytes)";
        return NULL;
    }
    if (p->num_queues < 1 || p->num_queues > BLK_MAX_QUEUES) {
        *why = "num_queues must be 1..64";
        return NULL;
    }
    if (p->serial && strlen(p->serial) > VIRTIO_BLK_ID_BYTES) {
        *why = "serial is longer than 20 bytes";
        return NULL;
    }
    if (!be || !scs) {
        *why = "a backend and a sidecore set are required";
        return NULL;
    }
    struct blk_dev *d = calloc(1, sizeof(*d));
    if (!d) {
        *why = "out of memory";
        return NULL;
    }
    be->ops->info(be, &d->info);
    if (d->info.size < VIRTIO_BLK_SECTOR) {
        free(d);
        *why = "backend is smaller than one 512-byte sector";
        return NULL;
    }
    snprintf(d->name, sizeof(d->name), "%s", p->name);
    /* NUL-padded, no terminator at exactly 20 bytes (virtio GET_ID). */
    const char *serial = p->serial ? p->serial : p->name;
    memcpy(d->serial, serial, SC_MIN(strlen(serial), sizeof(d->serial)));
    d->vdev.ops = &blk_ops;
    d->vdev.name = d->name;
    d->be = be;
    d->scs = scs;
    d->num_queues = p->num_queues;
    d->read_only = p->read_only || d->info.read_only;
    d->capacity = d->info.size / VIRTIO_BLK_SECTOR;
    fill_config(d);
    return &d->vdev;
}

unsigned blk_dev_queue_stats(struct vdev *v, struct sc_queue_stats *out, unsigned max)
{
    struct blk_dev *d = DEV(v);
    unsigned n = SC_MIN((unsigned)d->num_queues, max);
    for (unsigned i = 0; i < n; i++) {
        out[i] = d->past[i];
        struct blk_queue *q = d->q[i];
        if (q) {
            out[i].requests += q->scq.stats.requests;
            out[i].bytes += q->scq.stats.bytes;
            out[i].kicks += q->scq.stats.kicks;
            out[i].notifies += q->scq.stats.notifies;
            out[i].busy_ns += q->scq.stats.busy_ns;
            out[i].polls += q->scq.stats.polls;
        }
    }
    return n;
}

void blk_dev_errors(struct vdev *v, struct blk_dev_errors *out)
{
    struct blk_dev *d = DEV(v);
    out->ioerr = atomic_load_explicit(&d->ioerr, memory_order_relaxed);
    out->unsupp = atomic_load_explicit(&d->unsupp, memory_order_relaxed);
}

int blk_dev_resize(struct vdev *v, uint64_t bytes, const char **why)
{
    struct blk_dev *d = DEV(v);
    uint32_t bs = d->info.block_size ? d->info.block_size : VIRTIO_BLK_SECTOR;
    if (bytes % bs) {
        *why = "the new size is not a multiple of the block size";
        return -EINVAL;
    }
    if (bytes < d->info.size) {
        *why = "shrinking a disk under its guest would cut off its data; only growing is supported";
        return -EINVAL;
    }
    if (bytes == d->info.size)
        return 0;
    if (!d->be->ops->resize) {
        *why = "the backend cannot be resized";
        return -EOPNOTSUPP;
    }
    int rc = d->be->ops->resize(d->be, bytes, why);
    if (rc < 0)
        return rc;
    uint64_t old = d->info.size;
    d->be->ops->info(d->be, &d->info);
    atomic_store(&d->capacity, d->info.size / VIRTIO_BLK_SECTOR);
    fill_config(d);
    LOG_INFO("blk", "%s: resized from %llu to %llu bytes", d->name, (unsigned long long)old,
             (unsigned long long)d->info.size);
    if (d->vdev.on_config_change)
        d->vdev.on_config_change(&d->vdev, d->vdev.on_config_opaque);
    return 0;
}
