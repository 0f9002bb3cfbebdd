/* A block backend in memory for unit tests of what sits above backends
 * (interposition, the remote transport): requests are applied at submit and
 * completed at the next reap; it counts what it applied, and `hold` keeps
 * completions back so tests can have requests in flight. One queue user at a
 * time, like every backend; counters are atomics so a test thread can read
 * them while a sidecore serves the backend. */
#ifndef TEST_BLK_MEM_H
#define TEST_BLK_MEM_H

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "backend/blk_backend.h"

struct mem_be {
    struct blk_backend base;
    uint8_t *data;
    uint64_t size;
    uint32_t max_io;
    _Atomic bool hold;
    _Atomic unsigned reads, writes, flushes, others;
};

struct mem_bq {
    struct mem_be *be;
    unsigned depth, n;
    struct blk_io **io;
    int *res;
};

static void mem_info(struct blk_backend *b, struct blk_backend_info *out)
{
    struct mem_be *m = (struct mem_be *)b;
    *out = (struct blk_backend_info){.size = m->size, .block_size = 512, .can_discard = true,
                                     .can_write_zeroes = true, .has_flush = true,
                                     .max_io = m->max_io};
}

static int mem_queue_open(struct blk_backend *b, unsigned depth, struct blk_bq **out)
{
    struct mem_bq *q = calloc(1, sizeof(*q));
    q->be = (struct mem_be *)b;
    q->depth = depth;
    q->io = calloc(depth, sizeof(*q->io));
    q->res = calloc(depth, sizeof(*q->res));
    *out = (struct blk_bq *)q;
    return 0;
}

static void mem_queue_close(struct blk_bq *bq)
{
    struct mem_bq *q = (struct mem_bq *)bq;
    free(q->io);
    free(q->res);
    free(q);
}

static void mem_copy(struct blk_io *io, uint8_t *disk, bool to_disk)
{
    uint64_t off = 0;
    for (int i = 0; i < io->iovcnt; i++) {
        if (to_disk)
            memcpy(disk + off, io->iov[i].iov_base, io->iov[i].iov_len);
        else
            memcpy(io->iov[i].iov_base, disk + off, io->iov[i].iov_len);
        off += io->iov[i].iov_len;
    }
}

static int mem_submit(struct blk_bq *bq, struct blk_io *io)
{
    struct mem_bq *q = (struct mem_bq *)bq;
    struct mem_be *m = q->be;
    if (q->n == q->depth)
        return -EAGAIN;
    int res = 0;
    if (io->op != BLK_OP_FLUSH && (io->offset > m->size || io->len > m->size - io->offset)) {
        res = -EINVAL;
    } else if (io->op == BLK_OP_READ) {
        mem_copy(io, m->data + io->offset, false);
        atomic_fetch_add(&m->reads, 1);
    } else if (io->op == BLK_OP_WRITE) {
        mem_copy(io, m->data + io->offset, true);
        atomic_fetch_add(&m->writes, 1);
    } else if (io->op == BLK_OP_FLUSH) {
        atomic_fetch_add(&m->flushes, 1);
    } else {
        memset(m->data + io->offset, 0, io->len);
        atomic_fetch_add(&m->others, 1);
    }
    q->io[q->n] = io;
    q->res[q->n++] = res;
    return 0;
}

static void mem_kick(struct blk_bq *bq) { (void)bq; }

static int mem_reap(struct blk_bq *bq)
{
    struct mem_bq *q = (struct mem_bq *)bq;
    if (atomic_load(&q->be->hold))
        return 0;
    unsigned n = q->n;
    q->n = 0;
    for (unsigned i = 0; i < n; i++)
        q->io[i]->done(q->io[i], q->res[i]);
    return (int)n;
}

static unsigned mem_in_flight(struct blk_bq *bq) { return ((struct mem_bq *)bq)->n; }
static int mem_event_fd(struct blk_bq *bq) { (void)bq; return -1; }

static void mem_destroy(struct blk_backend *b)
{
    struct mem_be *m = (struct mem_be *)b;
    free(m->data);
    free(m);
}

static const struct blk_backend_ops mem_ops = {
    .name = "mem", .info = mem_info, .queue_open = mem_queue_open,
    .queue_close = mem_queue_close, .submit = mem_submit, .kick = mem_kick,
    .reap = mem_reap, .in_flight = mem_in_flight, .event_fd = mem_event_fd,
    .destroy = mem_destroy,
};

static inline struct mem_be *mem_be_create(uint64_t size)
{
    struct mem_be *m = calloc(1, sizeof(*m));
    m->base.ops = &mem_ops;
    m->data = calloc(1, size);
    m->size = size;
    return m;
}

#endif
