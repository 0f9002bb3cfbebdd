/* Block backends: where virtio-blk requests go.
 *
 * A backend is opened once per device; each device queue opens its own
 * backend queue (blk_bq), used only by the sidecore that serves that device
 * queue, so backend queues need no locks. Requests are asynchronous: submit
 * queues a request, blk_bq_kick pushes queued requests to the kernel in one
 * batch (one io_uring_submit per poll round), blk_bq_reap calls each finished
 * request's done() callback. Nothing here blocks; event_fd (may be -1)
 * becomes readable when completions wait, so a sleeping sidecore wakes. */
#ifndef SC_BLK_BACKEND_H
#define SC_BLK_BACKEND_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

enum blk_op { BLK_OP_READ, BLK_OP_WRITE, BLK_OP_FLUSH, BLK_OP_DISCARD, BLK_OP_WRITE_ZEROES };

struct blk_io {
    enum blk_op op;
    uint64_t offset; /* bytes */
    uint64_t len;    /* bytes (READ/WRITE: sum of iov; DISCARD/WRITE_ZEROES: range) */
    struct iovec *iov;
    int iovcnt;
    bool unmap;      /* WRITE_ZEROES may deallocate */
    bool urgent;     /* a ring stop waits for it: nothing may hold it back for
                        a rate or a budget (interposition admits it at once) */
    /* Called exactly once from blk_bq_reap (or from submit when it fails
     * synchronously and returns 0) with 0 or -errno. */
    void (*done)(struct blk_io *io, int res);
};

struct blk_backend;
struct blk_bq;

struct blk_backend_info {
    uint64_t size;         /* bytes */
    uint32_t block_size;   /* logical block size (512 or 4096) */
    bool read_only;
    bool can_discard;
    bool can_write_zeroes;
    bool has_flush;        /* volatile cache that FLUSH makes durable */
    bool created;          /* file: this open made the file (its user's failed
                              start removes it again) */
    bool grown;            /* file: this open extended it from grown_from bytes
                              (a failed start shrinks it back) */
    uint64_t grown_from;
    uint32_t max_io;       /* largest READ/WRITE in bytes it takes; 0: no limit */
    uint32_t settle_ms;    /* longest a request stays in it before it ends the
                              request itself (a remote's timeouts); 0: short */
};

struct blk_backend_ops {
    const char *name;
    void (*info)(struct blk_backend *b, struct blk_backend_info *out);
    int (*queue_open)(struct blk_backend *b, unsigned depth, struct blk_bq **out);
    void (*queue_close)(struct blk_bq *q); /* only with nothing in flight */
    /* 0: accepted (done() will be called); -errno: refused, done() not called. */
    int (*submit)(struct blk_bq *q, struct blk_io *io);
    void (*kick)(struct blk_bq *q);
    /* Calls done() for finished requests; returns how many. */
    int (*reap)(struct blk_bq *q);
    unsigned (*in_flight)(struct blk_bq *q);
    int (*event_fd)(struct blk_bq *q); /* -1 when reap is enough */
    void (*destroy)(struct blk_backend *b);
    /* Optional, control thread: grow to size bytes (what info reports from
     * then on). 0, or -errno with *why set. */
    int (*resize)(struct blk_backend *b, uint64_t size, const char **why);
    /* Optional: after submit refused a request with -EAGAIN, the time
     * (sc_now_ns clock) it may be taken when that is a matter of time (a
     * rate limit) rather than of a completion; 0: a completion makes room,
     * or not known. */
    uint64_t (*retry_ns)(struct blk_bq *q);
};

struct blk_backend {
    const struct blk_backend_ops *ops;
};

struct blk_file_params {
    const char *path;
    uint64_t size;   /* create or extend a regular file to this size when > 0 */
    bool direct;     /* O_DIRECT */
    bool read_only;
    bool shared;     /* other writers allowed (image locks, see blk_file_lock.c) */
    bool unlocked;   /* takes no image locks: a remote device's fallback is the
                        iohost's storage seen from the vmhost, locked there */
};

/* Backends. Each returns NULL with a reason in *why on failure. */
struct blk_backend *blk_null_create(uint64_t size, uint32_t block_size, const char **why);
struct blk_backend *blk_file_create(const struct blk_file_params *p, const char **why);

#endif
