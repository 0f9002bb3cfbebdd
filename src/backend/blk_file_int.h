/* File backend internals: the opened file (blk_file.c) and its io_uring
 * queues (blk_file_ring.c). The file descriptor is shared by all queues of
 * a backend; each queue owns one ring and is used by one thread at a time. */
#ifndef SC_BLK_FILE_INT_H
#define SC_BLK_FILE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "blk_backend.h"

#include <stdatomic.h>

struct file_be {
    struct blk_backend base;
    int fd;
    /* direct: the same file without O_DIRECT, for what O_DIRECT refuses
     * (buffers, offsets or lengths off its alignment: legal in virtio-blk,
     * whose unit is 512 bytes whatever the disk's), else -1. The kernel
     * keeps both views coherent (direct reads write back cached ranges
     * first, direct writes drop them). */
    int bfd;
    uint32_t mem_align, off_align; /* what O_DIRECT needs */
    bool is_blkdev;
    struct blk_backend_info info;
    /* A failed fdatasync: the kernel reports a writeback error once, so a
     * later one would succeed although acknowledged writes were lost.
     * Every FLUSH after the first failure fails with it (as in QEMU). */
    _Atomic int flush_err;
    /* fallocate refused DISCARD / WRITE_ZEROES (tmpfs, ramfs, a device
     * without discard): discards are skipped, zeroes written. */
    _Atomic bool no_discard, no_zero_range, no_punch;
};

extern const struct blk_backend_ops file_ops;

/* Takes QEMU-compatible image locks on fd for a user that reads, and
 * writes when write, and lets others write too when shared. -EBUSY with a
 * reason in *why when another process's locks forbid that use. */
int file_lock_image(int fd, const char *path, bool write, bool shared, const char **why);

int file_queue_open(struct blk_backend *b, unsigned depth, struct blk_bq **out);
void file_queue_close(struct blk_bq *q);
int file_submit(struct blk_bq *q, struct blk_io *io);
void file_kick(struct blk_bq *q);
int file_reap(struct blk_bq *q);
unsigned file_in_flight(struct blk_bq *q);
int file_event_fd(struct blk_bq *q);

#endif
