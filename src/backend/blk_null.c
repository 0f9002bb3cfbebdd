/* Null block backend: every request succeeds at the next reap without
 * touching data (reads leave the buffers as they are). For benchmarks of
 * the data path without storage. */
#include <errno.h>
#include <stdlib.h>

#include "../common/log.h"
#include "blk_backend.h"

#define NULL_MAX_DEPTH 4096

struct null_be {
    struct blk_backend base;
    uint64_t size;
    uint32_t block_size;
};

struct null_bq {
    unsigned depth;
    unsigned head; /* ring of queued requests, completed at the next reap */
    unsigned n;
    struct blk_io *io[];
};

static void null_info(struct blk_backend *b, struct blk_backend_info *out)
{
    struct null_be *nb = (struct null_be *)b;
    *out = (struct blk_backend_info){
        .size = nb->size,
        .block_size = nb->block_size,
        .read_only = false,
        .can_discard = true,
        .can_write_zeroes = true,
        .has_flush = false,
    };
}

static int null_queue_open(struct blk_backend *b, unsigned depth, struct blk_bq **out)
{
    (void)b;
    if (depth == 0 || depth > NULL_MAX_DEPTH) {
        LOG_ERR("blk-null", "queue depth %u: must be 1..%u", depth, NULL_MAX_DEPTH);
        return -EINVAL;
    }
    struct null_bq *q = calloc(1, sizeof(*q) + depth * sizeof(q->io[0]));
    if (!q)
        return -ENOMEM;
    q->depth = depth;
    *out = (struct blk_bq *)q;
    return 0;
}

static void null_queue_close(struct blk_bq *bq)
{
    struct null_bq *q = (struct null_bq *)bq;
    if (q && q->n)
        LOG_ERR("blk-null", "queue closed with %u request(s) in flight", q->n);
    free(q);
}

static int null_submit(struct blk_bq *bq, struct blk_io *io)
{
    struct null_bq *q = (struct null_bq *)bq;
    if (q->n == q->depth)
        return -EAGAIN;
    q->io[(q->head + q->n) % q->depth] = io;
    q->n++;
    return 0;
}

static void null_kick(struct blk_bq *bq)
{
    (void)bq;
}

static int null_reap(struct blk_bq *bq)
{
    struct null_bq *q = (struct null_bq *)bq;
    unsigned n = q->n;
    /* done() may submit again: those land behind the batch, for next time. */
    for (unsigned i = 0; i < n; i++) {
        struct blk_io *io = q->io[q->head];
        q->head = (q->head + 1) % q->depth;
        q->n--;
        io->done(io, 0);
    }
    return (int)n;
}

static unsigned null_in_flight(struct blk_bq *bq)
{
    return ((struct null_bq *)bq)->n;
}

static int null_event_fd(struct blk_bq *bq)
{
    (void)bq;
    return -1;
}

static void null_destroy(struct blk_backend *b)
{
    free(b);
}

static int null_resize(struct blk_backend *b, uint64_t size, const char **why)
{
    (void)why;
    ((struct null_be *)b)->size = size;
    return 0;
}

static const struct blk_backend_ops null_ops = {
    .name = "null",
    .info = null_info,
    .queue_open = null_queue_open,
    .queue_close = null_queue_close,
    .submit = null_submit,
    .kick = null_kick,
    .reap = null_reap,
    .in_flight = null_in_flight,
    .event_fd = null_event_fd,
    .destroy = null_destroy,
    .resize = null_resize,
};

struct blk_backend *blk_null_create(uint64_t size, uint32_t block_size, const char **why)
{
    if (block_size != 512 && block_size != 4096) {
        *why = "block size must be 512 or 4096";
        return NULL;
    }
    if (size < block_size || size % block_size) {
        *why = "size must be a non-zero multiple of the block size";
        return NULL;
    }
    struct null_be *b = calloc(1, sizeof(*b));
    if (!b) {
        *why = "out of memory";
        return NULL;
    }
    b->base.ops = &null_ops;
    b->size = size;
    b->block_size = block_size;
    return &b->base;
}
