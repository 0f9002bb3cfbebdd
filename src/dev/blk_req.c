/* virtio-blk data path: one poll round per call from the sidecore.
 *
 * A round reaps backend completions, retries a request the backend refused
 * for lack of room, pops up to BLK_POLL_BUDGET chains, validates and submits
 * them, kicks the backend once and publishes the used ring once (with one
 * interrupt at most, as EVENT_IDX allows).
 *
 * The header and status byte are located by byte offsets, not descriptors:
 * the header is the first 16 readable bytes (it may span iovecs) and the
 * status is the last writable byte (alone or at the end of a data buffer).
 * Every used element reports the whole writable length, so the dirty log
 * covers the status byte (at the end) whatever the outcome. */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/util.h"
#include "blk_int.h"

#define BLK_ERR_LOG_MAX 10 /* per queue: a hostile guest must not flood the log */
#define BLK_URGENT_NS (2ull * 1000000000ull) /* a stop's patience with rate limits */

#define REQ_ERR(q, ...)                                                                  \
    do {                                                                                 \
        if ((q)->err_logs < BLK_ERR_LOG_MAX) {                                           \
            (q)->err_logs++;                                                             \
            LOG_ERR("blk", __VA_ARGS__);                                                 \
            if ((q)->err_logs == BLK_ERR_LOG_MAX)                                        \
                LOG_ERR("blk", "%s: further request errors are counted, not logged",     \
                        (q)->name);                                                      \
        }                                                                                \
    } while (0)

/* Copy len bytes starting skip bytes into the iovecs; returns bytes copied. */
static size_t iov_read(const struct iovec *iov, unsigned n, size_t skip, void *dst, size_t len)
{
    size_t done = 0;
    for (unsigned i = 0; i < n && done < len; i++) {
        size_t l = iov[i].iov_len;
        if (skip >= l) {
            skip -= l;
            continue;
        }
        size_t k = SC_MIN(l - skip, len - done);
        memcpy((uint8_t *)dst + done, (uint8_t *)iov[i].iov_base + skip, k);
        done += k;
        skip = 0;
    }
    return done;
}

static size_t iov_write(const struct iovec *iov, unsigned n, const void *src, size_t len)
{
    size_t done = 0;
    for (unsigned i = 0; i < n && done < len; i++) {
        size_t k = SC_MIN(iov[i].iov_len, len - done);
        memcpy(iov[i].iov_base, (const uint8_t *)src + done, k);
        done += k;
    }
    return done;
}

/* The iovecs covering bytes [skip, skip+len) of iov, into out. */
static int iov_slice(const struct iovec *iov, unsigned n, size_t skip, size_t len,
                     struct iovec *out)
{
    int m = 0;
    for (unsigned i = 0; i < n && len > 0; i++) {
        size_t l = iov[i].iov_len;
        if (skip >= l) {
            skip -= l;
            continue;
        }
        size_t k = SC_MIN(l - skip, len);
        out[m].iov_base = (uint8_t *)iov[i].iov_base + skip;
        out[m].iov_len = k;
        m++;
        len -= k;
        skip = 0;
    }
    return m;
}

static struct blk_req *req_alloc(struct blk_queue *q)
{
    if (!q->nfree)
        return NULL;
    struct blk_req *r = &q->reqs[q->free_idx[--q->nfree]];
    r->vtag = VPRI_NO_TAG;
    return r;
}

/* Ends the request's VPRI tag too: the device no longer touches its pages. */
static void req_free(struct blk_queue *q, struct blk_req *r)
{
    vpri_q_end(&q->vp, r->vtag);
    r->vtag = VPRI_NO_TAG;
    q->free_idx[q->nfree++] = (unsigned)(r - q->reqs);
}

static void complete(struct blk_queue *q, struct blk_req *r, uint8_t status, uint64_t bytes)
{
    *r->status = status;
    if (status == VIRTIO_BLK_S_IOERR)
        atomic_fetch_add_explicit(&q->dev->ioerr, 1, memory_order_relaxed);
    else if (status == VIRTIO_BLK_S_UNSUPP)
        atomic_fetch_add_explicit(&q->dev->unsupp, 1, memory_order_relaxed);
    vq_push(q->vq, &r->chain, r->chain.in_len);
    q->pushed = true;
    sc_queue_account(&q->scq, 1, status == VIRTIO_BLK_S_OK ? bytes : 0);
    req_free(q, r);
}

static void req_done(struct blk_io *io, int res)
{
    struct blk_req *r = (struct blk_req *)io;
    struct blk_queue *q = r->q;
    if (res < 0) {
        REQ_ERR(q, "%s: request type %u at byte %llu (%llu bytes) failed in the backend: %s",
                q->name, r->type, (unsigned long long)io->offset,
                (unsigned long long)io->len, strerror(-res));
        complete(q, r, VIRTIO_BLK_S_IOERR, 0);
        return;
    }
    bool xfer = io->op == BLK_OP_READ || io->op == BLK_OP_WRITE;
    complete(q, r, VIRTIO_BLK_S_OK, xfer ? io->len : 0);
}

/* false when the backend is full: r waits in q->deferred. */
static bool submit(struct blk_queue *q, struct blk_req *r)
{
    r->io.urgent = q->draining;
    int rc = q->dev->be->ops->submit(q->bq, &r->io);
    if (rc == 0)
        return true;
    if (rc == -EAGAIN) {
        q->deferred = r;
        return false;
    }
    REQ_ERR(q, "%s: backend refused request type %u: %s", q->name, r->type, strerror(-rc));
    complete(q, r, VIRTIO_BLK_S_IOERR, 0);
    return true;
}

/* Is [sector, sector + bytes/512) inside the device, with bytes a whole
 * number of sectors? */
static bool range_ok(const struct blk_dev *d, uint64_t sector, uint64_t bytes)
{
    if (bytes % VIRTIO_BLK_SECTOR)
        return false;
    uint64_t ns = bytes / VIRTIO_BLK_SECTOR;
    uint64_t cap = atomic_load_explicit(&d->capacity, memory_order_relaxed);
    return sector <= cap && ns <= cap - sector;
}

static void fail_req(struct blk_queue *q, struct blk_req *r, uint8_t status, const char *what,
                     uint64_t sector, uint64_t bytes)
{
    REQ_ERR(q, "%s: request type %u, sector %llu, %llu bytes: %s -> %s", q->name, r->type,
            (unsigned long long)sector, (unsigned long long)bytes, what,
            status == VIRTIO_BLK_S_UNSUPP ? "UNSUPP" : "IOERR");
    complete(q, r, status, 0);
}

/* DISCARD / WRITE_ZEROES: one segment after the header. Returns false when
 * r was completed here. */
static bool prep_dwz(struct blk_queue *q, struct blk_req *r, const struct iovec *rd,
                     unsigned nrd)
{
    struct blk_dev *d = q->dev;
    bool wz = r->type == VIRTIO_BLK_T_WRITE_ZEROES;
    uint32_t seg_bytes = r->chain.out_len - (uint32_t)sizeof(struct virtio_blk_outhdr);
    struct virtio_blk_discard_write_zeroes seg;

    if (d->read_only) {
        fail_req(q, r, VIRTIO_BLK_S_IOERR, "device is read-only", 0, 0);
        return false;
    }
    if (!(wz ? d->info.can_write_zeroes : d->info.can_discard)) {
        fail_req(q, r, VIRTIO_BLK_S_UNSUPP, "backend cannot do this", 0, 0);
        return false;
    }
    if (seg_bytes != sizeof(seg)) {
        fail_req(q, r, VIRTIO_BLK_S_IOERR, "needs exactly one 16-byte segment", 0, seg_bytes);
        return false;
    }
    iov_read(rd, nrd, sizeof(struct virtio_blk_outhdr), &seg, sizeof(seg));
    uint64_t bytes = (uint64_t)seg.num_sectors * VIRTIO_BLK_SECTOR;
    if ((seg.flags & ~VIRTIO_BLK_WZ_F_UNMAP) || (!wz && (seg.flags & VIRTIO_BLK_WZ_F_UNMAP))) {
        fail_req(q, r, VIRTIO_BLK_S_UNSUPP, "unknown or invalid segment flags", seg.sector,
                 bytes);
        return false;
    }
    if (seg.num_sectors > BLK_MAX_DISCARD_SECTORS || !range_ok(d, seg.sector, bytes)) {
        fail_req(q, r, VIRTIO_BLK_S_IOERR, "segment outside the device or too large",
                 seg.sector, bytes);
        return false;
    }
    if (bytes == 0) {
        complete(q, r, VIRTIO_BLK_S_OK, 0);
        return false;
    }
    r->io.op = wz ? BLK_OP_WRITE_ZEROES : BLK_OP_DISCARD;
    r->io.offset = seg.sector * VIRTIO_BLK_SECTOR;
    r->io.len = bytes;
    r->io.unmap = wz && (seg.flags & VIRTIO_BLK_WZ_F_UNMAP);
    return true;
}

/* Parse and start one popped chain. Returns -1 when the device must stop. */
/* The status byte is the chain's last writable byte. false: it has none. */
static bool locate_status(struct blk_req *r)
{
    const struct vq_chain *c = &r->chain;
    const struct iovec *wr = c->iov + c->n_out;
    unsigned last = c->n_in;
    while (last > 0 && wr[last - 1].iov_len == 0)
        last--;
    if (last == 0)
        return false;
    r->status = (uint8_t *)wr[last - 1].iov_base + wr[last - 1].iov_len - 1;
    return true;
}

static int handle(struct blk_queue *q, struct blk_req *r)
{
    struct blk_dev *d = q->dev;
    struct vq_chain *c = &r->chain;
    struct iovec *rd = c->iov, *wr = c->iov + c->n_out;
    unsigned nrd = c->n_out, nwr = c->n_in;
    struct virtio_blk_outhdr h;

    if (c->in_len == 0 || c->out_len < sizeof(h)) {
        const char *why = c->in_len == 0 ? "has no writable byte for its status"
                                         : "has a header shorter than 16 bytes";
        vq_fail(q->vq, "request (head %u) %s", c->head, why);
        vdev_fail(&d->vdev, q->idx, "%s: request (head %u) %s", q->name,
                  c->head, why);
        req_free(q, r);
        return -1;
    }
    iov_read(rd, nrd, 0, &h, sizeof(h));
    locate_status(r);
    r->type = h.type;
    r->io.done = req_done;
    r->io.iov = r->data;
    r->io.iovcnt = 0;
    r->io.unmap = false;
    r->io.offset = 0;
    r->io.len = 0;

    uint32_t in_data = c->in_len - 1;
    uint32_t out_data = c->out_len - (uint32_t)sizeof(h);
    switch (h.type) {
    case VIRTIO_BLK_T_IN:
    case VIRTIO_BLK_T_OUT: {
        bool out = h.type == VIRTIO_BLK_T_OUT;
        uint32_t len = out ? out_data : in_data;
        if (out && d->read_only) {
            fail_req(q, r, VIRTIO_BLK_S_IOERR, "write to a read-only device", h.sector, len);
            return 0;
        }
        if (len == 0) {
            fail_req(q, r, VIRTIO_BLK_S_IOERR,
                     out ? "write without readable data" : "read without writable data",
                     h.sector, 0);
            return 0;
        }
        if (!range_ok(d, h.sector, len)) {
            fail_req(q, r, VIRTIO_BLK_S_IOERR,
                     "range outside the device or not a multiple of 512 bytes", h.sector, len);
            return 0;
        }
        r->io.op = out ? BLK_OP_WRITE : BLK_OP_READ;
        r->io.offset = h.sector * VIRTIO_BLK_SECTOR;
        r->io.len = len;
        r->io.iovcnt = out ? iov_slice(rd, nrd, sizeof(h), len, r->data)
                           : iov_slice(wr, nwr, 0, len, r->data);
        break;
    }
    case VIRTIO_BLK_T_FLUSH:
        r->io.op = BLK_OP_FLUSH;
        break;
    case VIRTIO_BLK_T_GET_ID: {
        size_t n = iov_write(wr, nwr, d->serial, SC_MIN((size_t)in_data, sizeof(d->serial)));
        complete(q, r, VIRTIO_BLK_S_OK, n);
        return 0;
    }
    case VIRTIO_BLK_T_DISCARD:
    case VIRTIO_BLK_T_WRITE_ZEROES:
        if (!prep_dwz(q, r, rd, nrd))
            return 0;
        break;
    default:
        fail_req(q, r, VIRTIO_BLK_S_UNSUPP, "unknown request type", h.sector, 0);
        return 0;
    }
    submit(q, r);
    return 0;
}

static void publish(struct blk_queue *q)
{
    vq_publish(q->vq);
    q->pushed = false;
    if (!vq_should_notify(q->vq) || q->call_fd < 0)
        return;
    uint64_t one = 1;
    if (write(q->call_fd, &one, sizeof(one)) == (ssize_t)sizeof(one))
        q->scq.stats.notifies++;
    else
        REQ_ERR(q, "%s: cannot signal the call eventfd: %s", q->name, strerror(errno));
}

/* Pops up to BLK_STAGE chains and starts fetching their headers and status
 * bytes: the driver just wrote them on another CPU, and overlapping those
 * cache misses is most of the per-request cost. Returns the number staged,
 * or -1 when the ring is broken (the device has failed). */
static int stage(struct blk_queue *q)
{
    q->nstaged = q->staged_pos = 0;
    while (q->nstaged < BLK_STAGE) {
        struct blk_req *r = req_alloc(q);
        if (!r)
            break;
        int rc = vq_pop(q->vq, &r->chain);
        if (rc <= 0) {
            req_free(q, r);
            if (rc < 0) {
                vdev_fail(&q->dev->vdev, q->idx, "%s: %s", q->name,
                          q->vq->err ? q->vq->err : "virtqueue broken");
                return -1;
            }
            break;
        }
        const struct vq_chain *c = &r->chain;
        if (c->n_out)
            sc_prefetch(c->iov[0].iov_base);
        const struct iovec *lw = &c->iov[c->n_out + c->n_in - 1];
        if (c->n_in && lw->iov_len)
            sc_prefetch_w((uint8_t *)lw->iov_base + lw->iov_len - 1);
        q->staged[q->nstaged++] = r;
    }
    return (int)q->nstaged;
}

/* VPRI: a chain is handled only once every page of it has the access the
 * device needs; otherwise it is parked with a fault posted, and later
 * chains go on (blk completes out of order). -1: the device failed. */
static int admit(struct blk_queue *q, struct blk_req *r)
{
    struct vpri_miss m;
    enum vpri_verdict v = vpri_q_check(&q->vp, &r->chain, &m);
    if (v == VPRI_RESIDENT) {
        r->vtag = vpri_q_begin(&q->vp, &r->chain);
        return handle(q, r);
    }
    if (v == VPRI_MISS && vpri_park(&q->vp, r, &m) == 0)
        return 0;
    vdev_fail(&q->dev->vdev, q->idx, "%s: request (head %u): %s at gpa 0x%llx", q->name,
              r->chain.head, v == VPRI_MISS ? "the IOPF ring's consumer index is corrupt"
                                            : "buffer reaches past the PA-BITMAP",
              (unsigned long long)m.gpa);
    req_free(q, r);
    return -1;
}

static const struct vq_chain *req_chain(void *req)
{
    return &((struct blk_req *)req)->chain;
}

static bool req_resume(void *req, void *ctx)
{
    struct blk_req *r = req;
    struct blk_queue *q = ctx;
    r->vtag = vpri_q_begin(&q->vp, &r->chain);
    return handle(q, r) == 0 && !q->deferred;
}

/* Parked requests whose pages became resident go on; -1: device failed. */
static int resume_parked(struct blk_queue *q)
{
    const char *why = NULL;
    int n = vpri_park_scan(&q->vp, req_chain, req_resume, q, &why);
    if (n < 0)
        vdev_fail(&q->dev->vdev, q->idx, "%s: %s", q->name, why);
    return n < 0 || vdev_is_broken(&q->dev->vdev) ? -1 : n;
}

/* Handles staged chains in order until the backend is full (or the park
 * list is). -1: the device failed on a malformed request; the rest are
 * dropped with it. */
static int run_staged(struct blk_queue *q)
{
    while (q->staged_pos < q->nstaged && !q->deferred && !vpri_park_full(&q->vp)) {
        if (admit(q, q->staged[q->staged_pos++]) < 0) {
            while (q->staged_pos < q->nstaged)
                req_free(q, q->staged[q->staged_pos++]);
            return -1;
        }
    }
    return 0;
}

static void publish_hold(struct blk_queue *q, uint32_t qz)
{
    const struct blk_backend_ops *be = q->dev->be->ops;
    sc_qz_publish(&q->qz, qz,
                  q->deferred || q->staged_pos < q->nstaged || be->in_flight(q->bq)
                      ? SC_HOLD_BUSY
                      : q->vp.park.n ? SC_HOLD_PARKED : SC_HOLD_NONE);
}

static void give_up_pending(struct blk_queue *q);

/* A failed device runs nothing more, but what its backend holds must finish
 * before the queue goes (it writes into guest memory): the sidecore keeps
 * reaping it and parks the queue (-1) once it is empty, so the transport
 * can wait for that without blocking (queue_settled). */
static int poll_failed(struct blk_queue *q, uint32_t qz)
{
    const struct blk_backend_ops *be = q->dev->be->ops;
    vpri_q_enter(&q->vp);
    give_up_pending(q);
    be->kick(q->bq);
    int work = be->reap(q->bq);
    if (q->pushed)
        publish(q);
    vpri_q_leave(&q->vp);
    bool empty = be->in_flight(q->bq) == 0;
    if (empty)
        atomic_store_explicit(&q->emptied, true, memory_order_release);
    if (qz)
        publish_hold(q, qz);
    return empty ? -1 : work;
}

int blk_queue_poll(struct sc_queue *scq)
{
    struct blk_queue *q = scq->opaque;
    struct blk_dev *d = q->dev;
    const struct blk_backend_ops *be = d->be->ops;
    int work, ret = 0;

    uint32_t qz = sc_qz_seen(&q->qz);
    if (vdev_is_broken(&d->vdev))
        return poll_failed(q, qz);
    vpri_q_enter(&q->vp);
    work = be->reap(q->bq);
    /* A stop waiting for the queue to settle: see blk_queue_drain. */
    if (SC_UNLIKELY(qz)) {
        uint64_t since = __atomic_load_n(&q->qz.since_ns, __ATOMIC_RELAXED);
        q->draining = since && sc_now_ns() - since > BLK_URGENT_NS;
    } else {
        q->draining = false;
    }
    if (q->deferred) {
        struct blk_req *r = q->deferred;
        q->deferred = NULL;
        if (!submit(q, r))
            goto out;
        work++;
    }
    if (vpri_park_due(&q->vp)) {
        int n = resume_parked(q);
        if (n < 0) {
            ret = -1;
            goto out;
        }
        work += n;
    }
    if (run_staged(q) < 0) {
        ret = -1;
        goto out;
    }
    for (int popped = 0; popped < BLK_POLL_BUDGET && !qz && !q->deferred &&
                         q->staged_pos == q->nstaged;) {
        int n = stage(q);
        if (n <= 0) {
            ret = n;
            break;
        }
        popped += n;
        work += n;
        if (run_staged(q) < 0) {
            ret = -1;
            break;
        }
    }
out:
    /* Always: a reap may have queued the rest of a short transfer. */
    be->kick(q->bq);
    if (q->pushed)
        publish(q);
    vpri_q_leave(&q->vp);
    if (SC_UNLIKELY(qz))
        publish_hold(q, qz);
    if (ret < 0 && vdev_is_broken(&d->vdev))
        return poll_failed(q, qz);
    return ret < 0 ? ret : work;
}

bool blk_queue_set_notify(struct sc_queue *scq, bool enable)
{
    struct blk_queue *q = scq->opaque;
    const struct blk_backend_ops *be = q->dev->be->ops;
    bool pending = vq_set_notify(q->vq, enable);

    /* Quiesced or failed, new requests wait for good: only what the queue
     * holds keeps it awake. */
    if (sc_qz_seen(&q->qz) || vdev_is_broken(&q->dev->vdev))
        pending = false;

    /* Completions the backend cannot signal must be polled for. A request
     * held back by a rate limit is tried again at the time the backend
     * names, without polling till then. */
    if (enable && !pending) {
        uint64_t at = q->deferred && be->retry_ns ? be->retry_ns(q->bq) : 0;
        if (at)
            scq->wake_ns = at;
        pending = (q->deferred && !at) || (be->event_fd(q->bq) < 0 && be->in_flight(q->bq) > 0) ||
                  vpri_q_sleeping(&q->vp);
    }
    return pending;
}

/* Giving up on parked requests: one whose pages are resident by now gets
 * IOERR; writing the status of any other would touch a page that is not
 * there, so it is dropped (the driver has to reset the device). */
static void fail_parked(struct blk_queue *q)
{
    unsigned dropped = 0;
    struct blk_req *r;
    while ((r = vpri_park_pop(&q->vp))) {
        struct vpri_miss m;
        if (vpri_q_check(&q->vp, &r->chain, &m) == VPRI_RESIDENT && locate_status(r)) {
            complete(q, r, VIRTIO_BLK_S_IOERR, 0);
        } else {
            req_free(q, r);
            dropped++;
        }
    }
    if (dropped)
        LOG_ERR("blk", "%s: %u parked request(s) dropped: their pages never became resident",
                q->name, dropped);
}

/* Requests that have not reached the backend (the deferred one, the staged
 * ones, the parked ones) end here: IOERR where the status byte can still be
 * written, dropped otherwise. */
static void give_up_pending(struct blk_queue *q)
{
    if (q->deferred) {
        complete(q, q->deferred, VIRTIO_BLK_S_IOERR, 0);
        q->deferred = NULL;
    }
    while (q->staged_pos < q->nstaged) {
        struct blk_req *r = q->staged[q->staged_pos++];
        if (locate_status(r))
            complete(q, r, VIRTIO_BLK_S_IOERR, 0);
        else
            req_free(q, r);
    }
    fail_parked(q);
}

void blk_queue_quiesce(struct blk_queue *q, bool on)
{
    sc_qz_set(&q->qz, &q->scq, on);
}

bool blk_queue_settled(struct blk_queue *q)
{
    if (atomic_load_explicit(&q->emptied, memory_order_acquire))
        return true;
    uint64_t waited;
    enum sc_hold h = sc_qz_hold(&q->qz, &waited);
    return h == SC_HOLD_NONE || waited > q->drain_ns ||
           (h == SC_HOLD_PARKED &&
            (vpri_q_owner_gone(&q->vp) || waited > vpri_q_stop_bound(&q->vp, BLK_DRAIN_NS)));
}

void blk_queue_drain(struct blk_queue *q)
{
    const struct blk_backend_ops *be = q->dev->be->ops;
    uint64_t start = q->qz.since_ns ? q->qz.since_ns : sc_now_ns();
    uint64_t deadline = start + q->drain_ns;
    uint64_t park_deadline = start + vpri_q_stop_bound(&q->vp, BLK_DRAIN_NS);

    for (;;) {
        /* What a rate limit holds back goes after BLK_URGENT_NS: the stop
         * (a fd swap, a migration's start or end) waited for it and failed
         * it with IOERR after the bound. */
        q->draining = sc_now_ns() > start + BLK_URGENT_NS;
        /* A failed device runs nothing more, and with the frontend gone no
         * parked request will resume; but what the backend holds must
         * finish before the queue closes: it writes into guest memory. */
        if (vdev_is_broken(&q->dev->vdev)) {
            give_up_pending(q);
        } else {
            if (q->vp.park.n && !vpri_q_owner_gone(&q->vp) && sc_now_ns() > park_deadline)
                vpri_q_stop_timed_out(&q->vp, q->name, sc_now_ns() - start);
            if (vpri_q_owner_gone(&q->vp) || sc_now_ns() > park_deadline)
                fail_parked(q);
            if (q->deferred) {
                struct blk_req *r = q->deferred;
                q->deferred = NULL;
                submit(q, r);
            }
            if ((vpri_park_due(&q->vp) && resume_parked(q) < 0) || run_staged(q) < 0)
                give_up_pending(q);
        }
        be->kick(q->bq);
        be->reap(q->bq);
        vpri_q_leave(&q->vp);
        if (!q->deferred && q->staged_pos == q->nstaged && be->in_flight(q->bq) == 0 &&
            q->vp.park.n == 0)
            break;
        if (sc_now_ns() > deadline) {
            vpri_q_stop_timed_out(&q->vp, q->name, sc_now_ns() - start);
            LOG_ERR("blk", "%s: after %llu s, %u request(s) still in the backend, %u waiting "
                    "to enter it (a QoS stage or a full queue holds them) and %u parked; "
                    "giving up on them", q->name, (unsigned long long)(q->drain_ns / 1000000000ull),
                    be->in_flight(q->bq),
                    q->nstaged - q->staged_pos + (q->deferred ? 1u : 0u), q->vp.park.n);
            give_up_pending(q);
            break;
        }
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    if (q->pushed)
        publish(q);
}
