/* Batched tap reads and writes (see net_tap_batch.h). */
#include "net_tap_batch.h"

#include <errno.h>
#include <liburing.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "../common/log.h"

static pthread_key_t ring_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static bool key_ok;
/* The thread's ring; failed: it could not have one, and does not retry. */
static __thread struct io_uring *my_ring;
static __thread bool failed;

static void ring_free(void *p)
{
    io_uring_queue_exit(p);
    free(p);
}

static void key_make(void) { key_ok = pthread_key_create(&ring_key, ring_free) == 0; }

static struct io_uring *ring_get(void)
{
    if (my_ring || failed)
        return my_ring;
    failed = true;
    pthread_once(&key_once, key_make);
    struct io_uring *r = calloc(1, sizeof(*r));
    if (!key_ok || !r) {
        free(r);
        return NULL;
    }
    struct io_uring_params prm;
    memset(&prm, 0, sizeof(prm));
    /* Only this thread submits; completions need no interrupt of it. */
    prm.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN;
    int rc = io_uring_queue_init_params(TAP_BATCH_MAX, r, &prm);
    if (rc == -EINVAL) {
        memset(&prm, 0, sizeof(prm));
        rc = io_uring_queue_init_params(TAP_BATCH_MAX, r, &prm);
    }
    if (rc < 0) {
        LOG_WARN("net", "no io_uring for tap I/O in this thread (%s): a system call per frame",
                 strerror(-rc));
        free(r);
        return NULL;
    }
    if (pthread_setspecific(ring_key, r) != 0) {
        ring_free(r);
        return NULL;
    }
    failed = false;
    return my_ring = r;
}

static void each(struct tap_io *w, unsigned n, bool write)
{
    for (unsigned i = 0; i < n; i++) {
        ssize_t k = write ? writev(w[i].fd, w[i].iov, w[i].iovcnt)
                          : readv(w[i].fd, w[i].iov, w[i].iovcnt);
        w[i].result = k < 0 ? -errno : k;
    }
}

static unsigned reap(struct io_uring *r, struct tap_io *w, unsigned n)
{
    struct io_uring_cqe *cqe;
    unsigned head, got = 0;
    io_uring_for_each_cqe(r, head, cqe)
    {
        uint64_t i = io_uring_cqe_get_data64(cqe);
        if (i < n)
            w[i].result = cqe->res;
        got++;
    }
    io_uring_cq_advance(r, got);
    return got;
}

void tap_io_batch(struct tap_io *w, unsigned n, bool write)
{
    struct io_uring *r = n > 1 ? ring_get() : NULL;
    if (!r) {
        each(w, n, write);
        return;
    }
    for (unsigned i = 0; i < n; i++) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(r);
        if (write)
            io_uring_prep_writev(sqe, w[i].fd, w[i].iov, (unsigned)w[i].iovcnt, 0);
        else
            io_uring_prep_readv(sqe, w[i].fd, w[i].iov, (unsigned)w[i].iovcnt, 0);
        /* An operation that would wait fails with -EAGAIN (as on the
         * O_NONBLOCK fd without the ring) instead of staying armed in the
         * kernel with the caller's iovecs. */
        sqe->rw_flags = RWF_NOWAIT;
        io_uring_sqe_set_data64(sqe, i);
        w[i].result = -EINPROGRESS;
    }
    /* tun takes RWF_NOWAIT reads and writes: each one completes inside
     * the submission, its result posted when it returns. */
    int rc = io_uring_submit(r);
    unsigned done = rc > 0 ? reap(r, w, n) : 0;
    /* Anything else would be a kernel that went async after all: the
     * iovecs are the caller's, so it is waited for (bounded) before they
     * go, and the thread goes frame by frame from then on. */
    struct __kernel_timespec ts = {.tv_sec = 1};
    while (rc > 0 && done < (unsigned)rc) {
        struct io_uring_cqe *cqe;
        if (io_uring_wait_cqe_timeout(r, &cqe, &ts) < 0)
            break;
        done += reap(r, w, n);
    }
    if (rc != (int)n || done != n) {
        LOG_WARN("net", "io_uring tap I/O: %s; back to a system call per frame in this thread",
                 rc < 0 ? strerror(-rc) : "an operation did not complete at once");
        failed = true;
        my_ring = NULL; /* unsubmitted entries are never submitted; freed at thread exit */
        for (unsigned i = 0; i < n; i++)
            if (w[i].result == -EINPROGRESS)
                w[i].result = -ECANCELED;
    }
}
