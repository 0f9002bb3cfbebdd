/* File backend internals: the opened file (blk_file.c) and its io_uring
 * queues (blk_file_ring.c). The file descriptor is shared by all queues of
 * a backend; each queue owns one ring and is used by one thread at a time. */
#ifndef SC_BLK_FILE_INT_H
#define SC_BLK_FILE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "blk_backend.h"

struct file_be {
    struct blk_backend base;
    int fd;
    bool is_blkdev;
    struct blk_backend_info info;
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
