/* File backend queues: one io_uring per queue.
 *
 * READ/WRITE go out as readv/writev at the request offset; a short transfer
 * is resubmitted for the rest (a zero-byte transfer, e.g. at end of file,
 * fails the request with -EIO: never report success for part of a request).
 * With O_DIRECT, a request off its alignment goes through the file's
 * buffered descriptor instead (struct file_be). FLUSH is fdatasync, and
 * fails for good once one failed. DISCARD and WRITE_ZEROES are fallocate;
 * where the file system or device refuses that (tmpfs has no zero range,
 * ramfs no fallocate, a loop device may not discard, a 4 KiB disk takes
 * no 512-byte range), a discard is trimmed to whole blocks or skipped (it
 * is a hint) and zeroes are written. submit only fills SQEs (-EAGAIN when
 * depth requests are in flight); kick submits them in one system call.
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
#include "../common/util.h"
#include "blk_file_int.h"

#define FILE_MAX_DEPTH 4096

/* How a WRITE_ZEROES is being done: fallocate modes, then plain writes. */
enum wz_way { WZ_PUNCH, WZ_ZERO_RANGE, WZ_WRITE };

struct file_op {
    struct blk_io *io;
    uint64_t done;   /* bytes transferred so far */
    int trimmed;     /* io->iov entry shortened for a resubmission, or -1 */
    int fd;          /* the descriptor this request uses */
    enum wz_way wz;
    struct iovec saved;
};

#define ZERO_CHUNK (1u << 20)
/* Written from, never to: untouched, it costs no memory. */
static uint8_t zeros[ZERO_CHUNK] __attribute__((aligned(4096)));

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

static bool off_aligned(uint64_t x, uint32_t a)
{
    return x % a == 0;
}

/* Does O_DIRECT take this READ/WRITE as it is? */
static bool dio_ok(const struct file_be *be, const struct blk_io *io)
{
    if (!off_aligned(io->offset, be->off_align) || !off_aligned(io->len, be->off_align))
        return false;
    for (int i = 0; i < io->iovcnt; i++)
        if (!off_aligned((uintptr_t)io->iov[i].iov_base, be->mem_align) ||
            !off_aligned(io->iov[i].iov_len, be->mem_align))
            return false;
    return true;
}

/* The descriptor for zeroes written over [off, off + len). */
static int zero_fd(const struct file_be *be, uint64_t off, uint64_t len)
{
    if (be->bfd >= 0 && !(off_aligned(off, be->off_align) && off_aligned(len, be->off_align)))
        return be->bfd;
    return be->fd;
}

/* A block device takes fallocate ranges of whole logical blocks only. */
static bool range_ok(const struct file_be *be, uint64_t off, uint64_t len)
{
    return !be->is_blkdev ||
           (off_aligned(off, be->info.block_size) && off_aligned(len, be->info.block_size));
}

static void prep_wz(struct file_bq *q, struct file_op *op, struct io_uring_sqe *sqe)
{
    struct blk_io *io = op->io;
    if (op->wz == WZ_WRITE) {
        uint64_t at = io->offset + op->done;
        uint32_t n = (uint32_t)SC_MIN(io->len - op->done, (uint64_t)ZERO_CHUNK);
        io_uring_prep_write(sqe, zero_fd(q->be, at, n), zeros, n, at);
        return;
    }
    int mode = op->wz == WZ_PUNCH ? FALLOC_FL_PUNCH_HOLE : FALLOC_FL_ZERO_RANGE;
    io_uring_prep_fallocate(sqe, op->fd, mode | FALLOC_FL_KEEP_SIZE, io->offset, io->len);
}

/* The first way to try for a WRITE_ZEROES, given what failed before. */
static enum wz_way first_wz(const struct file_be *be, const struct blk_io *io)
{
    if (io->len == 0)
        return WZ_WRITE; /* nothing to do: a write of nothing */
    if (!range_ok(be, io->offset, io->len))
        return WZ_WRITE;
    if (io->unmap && !atomic_load_explicit(&be->no_punch, memory_order_relaxed))
        return WZ_PUNCH;
    if (!atomic_load_explicit(&be->no_zero_range, memory_order_relaxed))
        return WZ_ZERO_RANGE;
    return WZ_WRITE;
}

/* Fill sqe for what remains of op (all of it on first submission). */
static void prep(struct file_bq *q, struct file_op *op, struct io_uring_sqe *sqe)
{
    struct blk_io *io = op->io;
    int fd = op->fd;

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
    case BLK_OP_DISCARD: {
        /* A hint: what a block device cannot take whole is trimmed to its
         * blocks, and nothing is done where discarding is not supported. */
        uint64_t a = q->be->is_blkdev ? q->be->info.block_size : 1;
        uint64_t start = (io->offset + a - 1) / a * a, end = (io->offset + io->len) / a * a;
        if (end <= start || atomic_load_explicit(&q->be->no_discard, memory_order_relaxed))
            io_uring_prep_nop(sqe);
        else
            io_uring_prep_fallocate(sqe, fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, start,
                                    end - start);
        break;
    }
    case BLK_OP_WRITE_ZEROES:
        prep_wz(q, op, sqe);
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
    op->fd = q->be->fd;
    if (q->be->bfd >= 0 && (io->op == BLK_OP_READ || io->op == BLK_OP_WRITE) &&
        !dio_ok(q->be, io))
        op->fd = q->be->bfd;
    if (io->op == BLK_OP_WRITE_ZEROES)
        op->wz = first_wz(q->be, io);
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

/* fallocate could not do what was asked (the file system or device does
 * not do that mode, or not for this range). */
static bool unsupported(int res)
{
    return res == -EOPNOTSUPP || res == -EINVAL || res == -ENODEV;
}

static void tell_once(_Atomic bool *flag, const char *what)
{
    if (!atomic_exchange_explicit(flag, true, memory_order_relaxed))
        LOG_INFO("blk-file", "fallocate cannot %s on this file or device (its file system or "
                 "driver does not): done without it from now on", what);
}

static int resubmit(struct file_bq *q, struct file_op *op)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&q->ring);
    if (!sqe)
        return -EIO;
    prep(q, op, sqe);
    return 1;
}

/* A FLUSH's result: once one failed, every later one fails too. */
static int flush_result(struct file_bq *q, int res)
{
    struct file_be *be = q->be;
    if (res < 0) {
        int none = 0;
        if (atomic_compare_exchange_strong(&be->flush_err, &none, res))
            LOG_ERR("blk-file", "fdatasync failed: %s: writes acknowledged before may not be "
                    "on the disk; every later FLUSH fails too (recreate the device once the "
                    "storage is repaired)", strerror(-res));
        return res;
    }
    int err = atomic_load_explicit(&be->flush_err, memory_order_relaxed);
    return err ? err : 0;
}

/* Result of one CQE for op: < 0 error, 0 done, 1 resubmitted. */
static int settle(struct file_bq *q, struct file_op *op, int res)
{
    struct blk_io *io = op->io;
    bool xfer = (io->op == BLK_OP_READ || io->op == BLK_OP_WRITE) && io->len > 0;

    if (io->op == BLK_OP_FLUSH)
        return flush_result(q, res);
    if (io->op == BLK_OP_DISCARD && res < 0 && unsupported(res)) {
        tell_once(&q->be->no_discard, "discard (punch holes)");
        return 0;
    }
    if (io->op == BLK_OP_WRITE_ZEROES && op->wz != WZ_WRITE) {
        if (res >= 0)
            return 0;
        if (!unsupported(res))
            return res;
        if (op->wz == WZ_PUNCH) {
            tell_once(&q->be->no_punch, "punch holes for write-zeroes with unmap");
            op->wz = atomic_load_explicit(&q->be->no_zero_range, memory_order_relaxed)
                         ? WZ_WRITE : WZ_ZERO_RANGE;
        } else {
            tell_once(&q->be->no_zero_range, "zero a range (zeroes are written instead)");
            op->wz = WZ_WRITE;
        }
        return resubmit(q, op);
    }
    if (io->op == BLK_OP_WRITE_ZEROES) {
        if (res < 0)
            return res;
        if (res == 0 && io->len > op->done)
            return -EIO;
        op->done += (uint64_t)res;
        return op->done >= io->len ? 0 : resubmit(q, op);
    }
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
    return resubmit(q, op);
}

int file_reap(struct blk_bq *bq)
{
    struct file_bq *q = (struct file_bq *)bq;
    struct io_uring_cqe *cqe;
    int n = 0;

    bool again = false;
    while (q->inflight && io_uring_peek_cqe(&q->ring, &cqe) == 0) {
        struct file_op *op = io_uring_cqe_get_data(cqe);
        int res = cqe->res;
        io_uring_cqe_seen(&q->ring, cqe);
        int r = settle(q, op, res);
        if (r == 1) {
            again = true;
            continue;
        }
        finish(q, op, r);
        n++;
    }
    /* The rest of a short transfer, the next zeroes: not every caller
     * kicks after reaping (the iohost kicks after submitting). */
    if (again)
        file_kick(bq);
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
