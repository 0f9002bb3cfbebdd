/* File backend queues: one io_uring per queue.
 *
 * READ/WRITE go out as readv/writev at the request offset; a short transfer
 * is resubmitted for the rest (a zero-byte transfer, e.g. at end of file,
 * fails the request with -EIO: never report success for part of a request).
 * FLUSH is fdatasync; DISCARD and WRITE_ZEROES are fallocate. submit only
 * fills SQEs (-EAGAIN when depth requests are in flight); kick submits them
 * in one system call.
 *
 * Any thread may submit, one at a time: the sidecore while the queue is
 * attached, the control thread when it drains the queue after detaching it
 * (the deferred, staged and resumed requests it must still run). So no
 * IORING_SETUP_SINGLE_ISSUER: with it, the control thread's submissions
 * failed with EEXIST and a stopping device waited out its 5 s drain bound. */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "../common/log.h"
#include "blk_file_int.h"

#define FILE_MAX_DEPTH 4096

struct file_op {
    struct blk_io *io;
    uint64_t done;   /* bytes transferred so far */
    int trimmed;     /* io->iov entry shortened for a resubmission, or -1 */
    struct iovec saved;
};

struct file_bq {
    struct file_be *be;
    struct io_uring ring;
    int efd;
    bool submit_err_logged;
    bool short_logged;
    unsigned depth;
    unsigned inflight;
    unsigned nfree;
    unsigned *free_idx;
    struct file_op ops[];
};

static int ring_init(struct file_bq *q)
{
    struct io_uring_params prm;
    memset(&prm, 0, sizeof(prm));
    prm.flags = IORING_SETUP_COOP_TASKRUN;
    int rc = io_uring_queue_init_params(q->depth, &q->ring, &prm);
    if (rc == -EINVAL) {
        /* Kernels before 5.19 do not know the flag. */
        memset(&prm, 0, sizeof(prm));
        rc = io_uring_queue_init_params(q->depth, &q->ring, &prm);
    }
    return rc;
}

int file_queue_open(struct blk_backend *b, unsigned depth, struct blk_bq **out)
{
    if (depth == 0 || depth > FILE_MAX_DEPTH) {
        LOG_ERR("blk-file", "queue depth %u: must be 1..%u", depth, FILE_MAX_DEPTH);
        return -EINVAL;
    }
    struct file_bq *q = calloc(1, sizeof(*q) + depth * sizeof(q->ops[0]));
    unsigned *fi = calloc(depth, sizeof(*fi));
    if (!q || !fi) {
        free(q);
        free(fi);
        return -ENOMEM;
    }
    q->be = (struct file_be *)b;
    q->depth = depth;
    q->free_idx = fi;
    for (unsigned i = 0; i < depth; i++)
        fi[i] = depth - 1 - i;
    q->nfree = depth;

    int rc = ring_init(q);
    if (rc < 0) {
        LOG_ERR("blk-file", "io_uring_queue_init(%u): %s", depth, strerror(-rc));
        goto fail;
    }
    q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (q->efd < 0) {
        rc = -errno;
        LOG_ERR("blk-file", "eventfd: %s", strerror(errno));
        io_uring_queue_exit(&q->ring);
        goto fail;
    }
    rc = io_uring_register_eventfd(&q->ring, q->efd);
    if (rc < 0) {
        LOG_ERR("blk-file", "io_uring_register_eventfd: %s", strerror(-rc));
        close(q->efd);
        io_uring_queue_exit(&q->ring);
        goto fail;
    }
    *out = (struct blk_bq *)q;
    return 0;
fail:
    free(fi);
    free(q);
    return rc;
}

void file_queue_close(struct blk_bq *bq)
{
    struct file_bq *q = (struct file_bq *)bq;
    if (!q)
        return;
    if (q->inflight)
        LOG_ERR("blk-file", "queue closed with %u request(s) in flight; their buffers may "
                "still be written", q->inflight);
    io_uring_queue_exit(&q->ring);
    close(q->efd);
    free(q->free_idx);
    free(q);
}

static void untrim(struct file_op *op)
{
    if (op->trimmed >= 0) {
        op->io->iov[op->trimmed] = op->saved;
        op->trimmed = -1;
    }
}

/* Fill sqe for what remains of op (all of it on first submission). */
static void prep(struct file_bq *q, struct file_op *op, struct io_uring_sqe *sqe)
{
    struct blk_io *io = op->io;
    int fd = q->be->fd;

    switch (io->op) {
    case BLK_OP_READ:
    case BLK_OP_WRITE: {
        if (io->len == 0) {
            io_uring_prep_nop(sqe);
            break;
        }
        /* Skip what was transferred: find the first iovec not fully done
         * and shorten it in place (restored before done() is called). */
        untrim(op);
        uint64_t skip = op->done;
        int i = 0;
        while (i < io->iovcnt && skip >= io->iov[i].iov_len) {
            skip -= io->iov[i].iov_len;
            i++;
        }
        if (skip) {
            op->trimmed = i;
            op->saved = io->iov[i];
            io->iov[i].iov_base = (char *)io->iov[i].iov_base + skip;
            io->iov[i].iov_len -= skip;
        }
        if (io->op == BLK_OP_READ)
            io_uring_prep_readv(sqe, fd, &io->iov[i], (unsigned)(io->iovcnt - i),
                                io->offset + op->done);
        else
            io_uring_prep_writev(sqe, fd, &io->iov[i], (unsigned)(io->iovcnt - i),
                                 io->offset + op->done);
        break;
    }
    case BLK_OP_FLUSH:
        io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
        break;
    case BLK_OP_DISCARD:
        io_uring_prep_fallocate(sqe, fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                io->offset, io->len);
        break;
    case BLK_OP_WRITE_ZEROES:
        io_uring_prep_fallocate(sqe, fd,
                                (io->unmap ? FALLOC_FL_PUNCH_HOLE : FALLOC_FL_ZERO_RANGE) |
                                    FALLOC_FL_KEEP_SIZE,
                                io->offset, io->len);
        break;
    }
    io_uring_sqe_set_data(sqe, op);
}

int file_submit(struct blk_bq *bq, struct blk_io *io)
{
    struct file_bq *q = (struct file_bq *)bq;

    if (io->op > BLK_OP_WRITE_ZEROES)
        return -EOPNOTSUPP;
    if (q->be->info.read_only && io->op != BLK_OP_READ && io->op != BLK_OP_FLUSH)
        return -EROFS;
    if ((io->op == BLK_OP_READ || io->op == BLK_OP_WRITE) && io->iovcnt < 0)
        return -EINVAL;
    if (q->nfree == 0)
        return -EAGAIN;
    struct io_uring_sqe *sqe = io_uring_get_sqe(&q->ring);
    if (!sqe)
        return -EAGAIN;
    struct file_op *op = &q->ops[q->free_idx[--q->nfree]];
    op->io = io;
    op->done = 0;
    op->trimmed = -1;
    prep(q, op, sqe);
    q->inflight++;
    return 0;
}

void file_kick(struct blk_bq *bq)
{
    struct file_bq *q = (struct file_bq *)bq;

    if (io_uring_sq_ready(&q->ring) == 0)
        return;
    int rc = io_uring_submit(&q->ring);
    /* Transient refusals keep the SQEs queued for the next kick. */
    if (rc < 0 && rc != -EAGAIN && rc != -EBUSY && rc != -EINTR && !q->submit_err_logged) {
        q->submit_err_logged = true;
        LOG_ERR("blk-file", "io_uring_submit: %s (requests stay queued)", strerror(-rc));
    }
}

static void finish(struct file_bq *q, struct file_op *op, int res)
{
    struct blk_io *io = op->io;
    untrim(op);
    op->io = NULL;
    q->free_idx[q->nfree++] = (unsigned)(op - q->ops);
    q->inflight--;
    io->done(io, res);
}

/* Result of one CQE for op: < 0 error, 0 done, 1 resubmitted. */
static int settle(struct file_bq *q, struct file_op *op, int res)
{
    struct blk_io *io = op->io;
    bool xfer = (io->op == BLK_OP_READ || io->op == BLK_OP_WRITE) && io->len > 0;

    if (res < 0)
        return res;
    if (!xfer)
        return 0;
    if (res == 0) {
        if (!q->short_logged) {
            q->short_logged = true;
            LOG_ERR("blk-file", "%s at offset %llu stopped after %llu of %llu bytes (file "
                    "shrunk?); failing with EIO",
                    io->op == BLK_OP_READ ? "read" : "write",
                    (unsigned long long)io->offset, (unsigned long long)op->done,
                    (unsigned long long)io->len);
        }
        return -EIO;
    }
    op->done += (uint64_t)res;
    if (op->done >= io->len)
        return 0;
    struct io_uring_sqe *sqe = io_uring_get_sqe(&q->ring);
    if (!sqe)
        return -EIO;
    prep(q, op, sqe);
    return 1;
}

int file_reap(struct blk_bq *bq)
{
    struct file_bq *q = (struct file_bq *)bq;
    struct io_uring_cqe *cqe;
    int n = 0;

    while (q->inflight && io_uring_peek_cqe(&q->ring, &cqe) == 0) {
        struct file_op *op = io_uring_cqe_get_data(cqe);
        int res = cqe->res;
        io_uring_cqe_seen(&q->ring, cqe);
        int r = settle(q, op, res);
        if (r == 1)
            continue;
        finish(q, op, r);
        n++;
    }
    return n;
}

unsigned file_in_flight(struct blk_bq *bq)
{
    return ((struct file_bq *)bq)->inflight;
}

int file_event_fd(struct blk_bq *bq)
{
    return ((struct file_bq *)bq)->efd;
}
