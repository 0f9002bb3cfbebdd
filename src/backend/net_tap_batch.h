/* Reading or writing a batch of frames on tap queues with one system call.
 *
 * tun has no sendmmsg or recvmmsg: a writev or read per frame costs a
 * system call per frame (about a quarter of a sidecore writing 64 B frames
 * to the host). Each thread gets its own io_uring on first use (any
 * sidecore may deliver to any tap, several at once, so a ring per tap
 * would need a lock); a batch goes in as one submission of RWF_NOWAIT
 * operations, which tun completes inside it (or fails with -EAGAIN: an
 * empty queue to read, a full one to write). Freed when the thread exits.
 * A thread that cannot set up a ring (old kernel, limits) does one system
 * call per frame, as before. */
#ifndef SC_NET_TAP_BATCH_H
#define SC_NET_TAP_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

#define TAP_BATCH_MAX 32u

struct tap_io {
    int fd;
    const struct iovec *iov;
    int iovcnt;
    ssize_t result; /* bytes moved, or -errno */
};

/* Writes (write) or reads every op[i] in order (n <= TAP_BATCH_MAX); each
 * gets its own result. */
void tap_io_batch(struct tap_io *op, unsigned n, bool write);

#endif
