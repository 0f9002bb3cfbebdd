/* Block backends without a device: the file backend through io_uring on a
 * temporary file (create/extend rules, read/write with scattered iovecs,
 * flush, discard, write zeroes, many requests in flight and the full-queue
 * -EAGAIN, a second thread submitting to a queue another thread started, a
 * file that shrank under us, read-only, image locks between users of one
 * file), and the null backend. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "backend/blk_backend.h"

static char dir[64];
static char path[128];

struct req {
    struct blk_io io;
    struct iovec iov[4];
    int res;
    int done;
};

static void req_done(struct blk_io *io, int res)
{
    struct req *r = (struct req *)io;
    r->res = res;
    r->done++;
}

static void req_set(struct req *r, enum blk_op op, uint64_t off, uint64_t len)
{
    memset(&r->io, 0, sizeof(r->io));
    r->io.op = op;
    r->io.offset = off;
    r->io.len = len;
    r->io.iov = r->iov;
    r->io.done = req_done;
    r->res = 1;
    r->done = 0;
}

/* Reap until *count requests completed, sleeping on the event fd (bounded).
 * Kicks every time, as the device does each round: a reap may have queued
 * the rest of a short transfer. */
static void reap_until(struct blk_backend *b, struct blk_bq *q, int *count, int want)
{
    int efd = b->ops->event_fd(q);
    int ep = -1;
    if (efd >= 0) {
        ep = epoll_create1(0);
        struct epoll_event ev = {.events = EPOLLIN};
        assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev), 0);
    }
    for (int i = 0; i < 500 && *count < want; i++) {
        *count += b->ops->reap(q);
        if (*count >= want)
            break;
        b->ops->kick(q);
        if (ep >= 0) {
            struct epoll_event ev;
            if (epoll_wait(ep, &ev, 1, 10) > 0) {
                uint64_t v;
                assert_int_equal(read(efd, &v, sizeof(v)), sizeof(v));
            }
        } else {
            usleep(1000);
        }
    }
    if (ep >= 0)
        close(ep);
    assert_int_equal(*count, want);
}

static int run(struct blk_backend *b, struct blk_bq *q, struct req *r)
{
    int n = 0;
    assert_int_equal(b->ops->submit(q, &r->io), 0);
    b->ops->kick(q);
    reap_until(b, q, &n, 1);
    assert_int_equal(r->done, 1);
    return r->res;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/sc-blkfile-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/disk.img", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(path);
    rmdir(dir);
    return 0;
}

static struct blk_backend *open_file(uint64_t size, bool ro)
{
    const char *why = NULL;
    struct blk_file_params p = {.path = path, .size = size, .read_only = ro};
    struct blk_backend *b = blk_file_create(&p, &why);
    if (!b)
        fprintf(stderr, "blk_file_create: %s\n", why);
    return b;
}

static void test_create_rules(void **state)
{
    (void)state;
    const char *why = NULL;
    struct blk_file_params p = {.path = path};
    unlink(path);
    assert_null(blk_file_create(&p, &why)); /* missing, no size */
    assert_non_null(why);

    struct blk_backend *b = open_file(1 << 20, false);
    assert_non_null(b);
    struct blk_backend_info inf;
    b->ops->info(b, &inf);
    assert_int_equal(inf.size, 1 << 20);
    assert_int_equal(inf.block_size, 512);
    assert_false(inf.read_only);
    assert_true(inf.can_discard && inf.can_write_zeroes && inf.has_flush);
    b->ops->destroy(b);

    /* Smaller size: the existing file keeps its size; larger: extended. */
    b = open_file(4096, false);
    b->ops->info(b, &inf);
    assert_int_equal(inf.size, 1 << 20);
    b->ops->destroy(b);
    b = open_file(2 << 20, false);
    b->ops->info(b, &inf);
    assert_int_equal(inf.size, 2 << 20);
    b->ops->destroy(b);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, 2 << 20);

    /* Read-only cannot extend; not a file is refused. */
    assert_null(open_file(4 << 20, true));
    p.path = dir;
    assert_null(blk_file_create(&p, &why));
}

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(seed + i * 7);
}

static void test_rw_flush_discard_zeroes(void **state)
{
    (void)state;
    unlink(path);
    struct blk_backend *b = open_file(1 << 20, false);
    assert_non_null(b);
    struct blk_bq *q;
    assert_int_equal(b->ops->queue_open(b, 8, &q), 0);

    uint8_t *w = malloc(12288), *r = calloc(1, 12288);
    fill(w, 12288, 3);
    struct req rq;
    req_set(&rq, BLK_OP_WRITE, 8192, 12288);
    rq.iov[0] = (struct iovec){w, 1000};
    rq.iov[1] = (struct iovec){w + 1000, 9000};
    rq.iov[2] = (struct iovec){w + 10000, 2288};
    rq.io.iovcnt = 3;
    assert_int_equal(run(b, q, &rq), 0);
    /* The iovecs are given back untouched. */
    assert_ptr_equal(rq.iov[1].iov_base, w + 1000);
    assert_int_equal(rq.iov[1].iov_len, 9000);

    req_set(&rq, BLK_OP_READ, 8192, 12288);
    rq.iov[0] = (struct iovec){r, 4096};
    rq.iov[1] = (struct iovec){r + 4096, 8192};
    rq.io.iovcnt = 2;
    assert_int_equal(run(b, q, &rq), 0);
    assert_memory_equal(w, r, 12288);

    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    memset(r, 0, 12288);
    assert_int_equal(pread(fd, r, 12288, 8192), 12288);
    assert_memory_equal(w, r, 12288);

    req_set(&rq, BLK_OP_FLUSH, 0, 0);
    assert_int_equal(run(b, q, &rq), 0);

    uint8_t zero[4096] = {0};
    req_set(&rq, BLK_OP_DISCARD, 8192, 4096);
    assert_int_equal(run(b, q, &rq), 0);
    assert_int_equal(pread(fd, r, 4096, 8192), 4096);
    assert_memory_equal(r, zero, 4096);

    req_set(&rq, BLK_OP_WRITE_ZEROES, 12288, 4096);
    assert_int_equal(run(b, q, &rq), 0);
    assert_int_equal(pread(fd, r, 4096, 12288), 4096);
    assert_memory_equal(r, zero, 4096);

    req_set(&rq, BLK_OP_WRITE_ZEROES, 16384, 4096);
    rq.io.unmap = true;
    assert_int_equal(run(b, q, &rq), 0);
    assert_int_equal(pread(fd, r, 4096, 16384), 4096);
    assert_memory_equal(r, zero, 4096);

    /* A zero-length read completes at reap like any other. */
    req_set(&rq, BLK_OP_READ, 0, 0);
    assert_int_equal(run(b, q, &rq), 0);

    close(fd);
    assert_int_equal(b->ops->in_flight(q), 0);
    b->ops->queue_close(q);
    b->ops->destroy(b);
    free(w);
    free(r);
}

#define DEPTH 32

static void test_many_in_flight(void **state)
{
    (void)state;
    unlink(path);
    struct blk_backend *b = open_file(1 << 20, false);
    struct blk_bq *q;
    assert_int_equal(b->ops->queue_open(b, DEPTH, &q), 0);
    struct req *rq = calloc(DEPTH + 1, sizeof(*rq));
    uint8_t *buf = malloc((DEPTH + 1) * 4096);
    for (int i = 0; i < DEPTH; i++) {
        fill(buf + i * 4096, 4096, (uint8_t)i);
        req_set(&rq[i], BLK_OP_WRITE, (uint64_t)i * 4096, 4096);
        rq[i].iov[0] = (struct iovec){buf + i * 4096, 4096};
        rq[i].io.iovcnt = 1;
        assert_int_equal(b->ops->submit(q, &rq[i].io), 0);
    }
    req_set(&rq[DEPTH], BLK_OP_WRITE, 0, 4096);
    rq[DEPTH].iov[0] = (struct iovec){buf + DEPTH * 4096, 4096};
    rq[DEPTH].io.iovcnt = 1;
    assert_int_equal(b->ops->submit(q, &rq[DEPTH].io), -EAGAIN); /* full: never blocks */
    assert_int_equal(b->ops->in_flight(q), DEPTH);
    b->ops->kick(q);
    int n = 0;
    reap_until(b, q, &n, DEPTH);
    for (int i = 0; i < DEPTH; i++) {
        assert_int_equal(rq[i].done, 1);
        assert_int_equal(rq[i].res, 0);
    }
    int fd = open(path, O_RDONLY);
    uint8_t *chk = malloc(DEPTH * 4096);
    assert_int_equal(pread(fd, chk, DEPTH * 4096, 0), DEPTH * 4096);
    assert_memory_equal(chk, buf, DEPTH * 4096);
    close(fd);
    free(chk);
    b->ops->queue_close(q);
    b->ops->destroy(b);
    free(rq);
    free(buf);
}

struct thread_write {
    struct blk_backend *b;
    struct blk_bq *q;
    struct req r;
    uint8_t buf[4096];
};

static void *write_from_thread(void *arg)
{
    struct thread_write *t = arg;
    memset(t->buf, 0xa5, sizeof(t->buf));
    req_set(&t->r, BLK_OP_WRITE, 0, sizeof(t->buf));
    t->r.iov[0] = (struct iovec){t->buf, sizeof(t->buf)};
    t->r.io.iovcnt = 1;
    run(t->b, t->q, &t->r);
    return NULL;
}

/* The sidecore thread submits first; after detaching the queue the control
 * thread drains it and must be able to submit too (deferred requests, the
 * rest of a short transfer). With a single-issuer ring the second thread's
 * submission failed with EEXIST and the request never completed. */
static void test_second_submitter(void **state)
{
    (void)state;
    unlink(path);
    struct blk_backend *b = open_file(1 << 20, false);
    struct thread_write t = {.b = b};
    assert_int_equal(b->ops->queue_open(b, DEPTH, &t.q), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, write_from_thread, &t), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(t.r.res, 0);

    uint8_t back[4096];
    struct req r;
    req_set(&r, BLK_OP_READ, 0, sizeof(back));
    r.iov[0] = (struct iovec){back, sizeof(back)};
    r.io.iovcnt = 1;
    assert_int_equal(run(b, t.q, &r), 0);
    assert_memory_equal(back, t.buf, sizeof(back));
    b->ops->queue_close(t.q);
    b->ops->destroy(b);
}

static void test_file_shrunk(void **state)
{
    (void)state;
    unlink(path);
    struct blk_backend *b = open_file(65536, false);
    struct blk_bq *q;
    assert_int_equal(b->ops->queue_open(b, 4, &q), 0);
    assert_int_equal(truncate(path, 4096), 0);
    uint8_t *r = malloc(8192);
    struct req rq;
    /* Entirely past the end: no progress. */
    req_set(&rq, BLK_OP_READ, 16384, 4096);
    rq.iov[0] = (struct iovec){r, 4096};
    rq.io.iovcnt = 1;
    assert_int_equal(run(b, q, &rq), -EIO);
    /* Straddling the end: the first part is read, the rest fails. */
    req_set(&rq, BLK_OP_READ, 0, 8192);
    rq.iov[0] = (struct iovec){r, 2048};
    rq.iov[1] = (struct iovec){r + 2048, 6144};
    rq.io.iovcnt = 2;
    assert_int_equal(run(b, q, &rq), -EIO);
    assert_int_equal(rq.iov[1].iov_len, 6144); /* restored after the retry */
    free(r);
    b->ops->queue_close(q);
    b->ops->destroy(b);
}

static void test_read_only(void **state)
{
    (void)state;
    unlink(path);
    struct blk_backend *b = open_file(65536, false);
    b->ops->destroy(b);
    b = open_file(0, true);
    assert_non_null(b);
    struct blk_backend_info inf;
    b->ops->info(b, &inf);
    assert_true(inf.read_only);
    assert_false(inf.can_discard);
    struct blk_bq *q;
    assert_int_equal(b->ops->queue_open(b, 4, &q), 0);
    uint8_t buf[512] = {1};
    struct req rq;
    req_set(&rq, BLK_OP_WRITE, 0, 512);
    rq.iov[0] = (struct iovec){buf, 512};
    rq.io.iovcnt = 1;
    assert_int_equal(b->ops->submit(q, &rq.io), -EROFS);
    req_set(&rq, BLK_OP_DISCARD, 0, 512);
    assert_int_equal(b->ops->submit(q, &rq.io), -EROFS);
    req_set(&rq, BLK_OP_READ, 0, 512);
    rq.iov[0] = (struct iovec){buf, 512};
    rq.io.iovcnt = 1;
    assert_int_equal(run(b, q, &rq), 0);
    assert_int_equal(buf[0], 0);
    b->ops->queue_close(q);
    b->ops->destroy(b);
}

/* O_DIRECT where the file system supports it (skipped where it does not). */
/* NULL, with the reason, when the locks of the users in held forbid it. */
static struct blk_backend *open_locked(bool ro, bool shared, bool unlocked)
{
    const char *why = NULL;
    struct blk_file_params p = {.path = path, .read_only = ro, .shared = shared,
                                .unlocked = unlocked};
    struct blk_backend *b = blk_file_create(&p, &why);
    if (!b)
        assert_non_null(strstr(why, "another process"));
    return b;
}

static void destroy_all(struct blk_backend **b, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if (b[i])
            b[i]->ops->destroy(b[i]);
}

/* A start that fails after creating the file removes it (it left a 0-byte
 * image); one that fails on a file that was there keeps it. */
static void test_failed_create_leaves_no_file(void **state)
{
    (void)state;
    unlink(path);
    struct rlimit old, small = {.rlim_cur = 1 << 20};
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    small.rlim_max = old.rlim_max;
    signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    const char *why = NULL;
    struct blk_file_params p = {.path = path, .size = 4 << 20};
    assert_null(blk_file_create(&p, &why));
    assert_non_null(strstr(why, "cannot extend"));
    assert_int_equal(access(path, F_OK), -1);
    int fd = open(path, O_CREAT | O_WRONLY, 0600);
    assert_true(fd >= 0);
    close(fd);
    assert_null(blk_file_create(&p, &why));
    assert_int_equal(access(path, F_OK), 0);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, SIG_DFL);
    unlink(path);
}

/* Every open is its own open file description, as another process's is. */
static void test_image_locks(void **state)
{
    (void)state;
    unlink(path);
    struct blk_backend *b = open_file(65536, false);
    b->ops->destroy(b);

    /* A writer that lets no one else write: no other writer, no reader
     * that wants no writer; a reader that accepts writers (as qemu-io -r
     * does) and a user that takes no locks may come. */
    struct blk_backend *h[4] = {open_locked(false, false, false)};
    assert_non_null(h[0]);
    assert_null(open_locked(false, false, false));
    assert_null(open_locked(false, true, false));
    assert_null(open_locked(true, false, false));
    h[1] = open_locked(true, true, false);
    h[2] = open_locked(false, false, true);
    assert_non_null(h[1]);
    assert_non_null(h[2]);
    destroy_all(h, 3);

    /* Shared writers live together, a writer or reader that wants no
     * other writer is refused, a shared reader is not. */
    h[0] = open_locked(false, true, false);
    h[1] = open_locked(false, true, false);
    assert_non_null(h[0]);
    assert_non_null(h[1]);
    assert_null(open_locked(false, false, false));
    assert_null(open_locked(true, false, false));
    h[2] = open_locked(true, true, false);
    assert_non_null(h[2]);
    destroy_all(h, 3);

    /* Readers that want no writer: more readers yes, a writer no. */
    h[0] = open_locked(true, false, false);
    h[1] = open_locked(true, false, false);
    assert_non_null(h[0]);
    assert_non_null(h[1]);
    assert_null(open_locked(false, false, false));
    assert_null(open_locked(false, true, false));
    destroy_all(h, 2);

    /* Closing releases: the file is free again. */
    h[0] = open_locked(false, false, false);
    assert_non_null(h[0]);
    destroy_all(h, 1);

    /* A whole-file write lock (a device's crash record file holds one)
     * keeps every locking user off. */
    int fd = open(path, O_RDWR);
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    assert_int_equal(fcntl(fd, F_OFD_SETLK, &fl), 0);
    const char *why = NULL;
    struct blk_file_params p = {.path = path, .read_only = true, .shared = true};
    assert_null(blk_file_create(&p, &why));
    assert_non_null(strstr(why, "crash record file"));
    close(fd);
}

static void test_direct(void **state)
{
    (void)state;
    unlink(path);
    const char *why = NULL;
    struct blk_file_params p = {.path = path, .size = 1 << 20, .direct = true};
    struct blk_backend *b = blk_file_create(&p, &why);
    if (!b) {
        assert_non_null(strstr(why, "O_DIRECT"));
        skip();
    }
    struct blk_backend_info inf;
    b->ops->info(b, &inf);
    assert_int_equal(inf.block_size, 4096);
    struct blk_bq *q;
    assert_int_equal(b->ops->queue_open(b, 4, &q), 0);
    void *mem = NULL;
    assert_int_equal(posix_memalign(&mem, 4096, 8192), 0);
    uint8_t *w = mem, *r = w + 4096;
    fill(w, 4096, 9);
    struct req rq;
    req_set(&rq, BLK_OP_WRITE, 4096, 4096);
    rq.iov[0] = (struct iovec){w, 4096};
    rq.io.iovcnt = 1;
    assert_int_equal(run(b, q, &rq), 0);
    req_set(&rq, BLK_OP_READ, 4096, 4096);
    rq.iov[0] = (struct iovec){r, 4096};
    rq.io.iovcnt = 1;
    assert_int_equal(run(b, q, &rq), 0);
    assert_memory_equal(w, r, 4096);
    free(w);
    b->ops->queue_close(q);
    b->ops->destroy(b);
}

/* Zeroes written in parts where fallocate cannot zero a range (tmpfs): the
 * next part goes out from reap itself, as the iohost only kicks after it
 * submitted something (a part left queued waited for another request). */
static void test_zeroes_in_parts_without_kick(void **state)
{
    (void)state;
    char shm[64];
    snprintf(shm, sizeof(shm), "/dev/shm/sc-blkfile-%d.img", (int)getpid());
    const char *why = NULL;
    struct blk_file_params p = {.path = shm, .size = 4 << 20};
    struct blk_backend *b = blk_file_create(&p, &why);
    if (!b) {
        unlink(shm);
        fail_msg("blk_file_create %s: %s", shm, why);
    }
    struct blk_bq *q;
    assert_int_equal(b->ops->queue_open(b, 8, &q), 0);
    static uint8_t ones[3 << 20];
    memset(ones, 1, sizeof(ones));
    struct req r;
    req_set(&r, BLK_OP_WRITE, 0, sizeof(ones));
    r.iov[0] = (struct iovec){ones, sizeof(ones)};
    r.io.iovcnt = 1;
    assert_int_equal(run(b, q, &r), 0);
    req_set(&r, BLK_OP_WRITE_ZEROES, 4096, (2 << 20) + 4096);
    assert_int_equal(b->ops->submit(q, &r.io), 0);
    b->ops->kick(q);
    for (int i = 0; i < 2000 && !r.done; i++) {
        b->ops->reap(q);
        usleep(1000);
    }
    assert_int_equal(r.done, 1);
    assert_int_equal(r.res, 0);
    req_set(&r, BLK_OP_READ, 0, sizeof(ones));
    static uint8_t back[3 << 20];
    r.iov[0] = (struct iovec){back, sizeof(back)};
    r.io.iovcnt = 1;
    assert_int_equal(run(b, q, &r), 0);
    for (size_t i = 0; i < sizeof(back); i++)
        if (back[i] != (i >= 4096 && i < (2u << 20) + 8192 ? 0 : 1))
            fail_msg("byte %zu is %u", i, back[i]);
    b->ops->queue_close(q);
    b->ops->destroy(b);
    unlink(shm);
}

/* Resize compared with the size this backend saw: with two devices on one
 * image (a live migration's ends), growing one and then "growing" the
 * other to less cut the image under the first one's guest. */
static void test_resize_shared_never_shrinks(void **state)
{
    (void)state;
    unlink(path);
    const char *why = NULL;
    struct blk_file_params p = {.path = path, .size = 2 << 20, .shared = true};
    struct blk_backend *a = blk_file_create(&p, &why);
    p.size = 0;
    struct blk_backend *b = blk_file_create(&p, &why);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(a->ops->resize(a, 4 << 20, &why), 0);
    assert_int_equal(b->ops->resize(b, 3 << 20, &why), -EINVAL);
    assert_non_null(strstr(why, "shrinking"));
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, 4 << 20);
    assert_int_equal(b->ops->resize(b, 4 << 20, &why), 0);
    a->ops->destroy(a);
    b->ops->destroy(b);
    unlink(path);
}

static void test_null_backend(void **state)
{
    (void)state;
    const char *why = NULL;
    assert_null(blk_null_create(1000, 512, &why));
    assert_null(blk_null_create(1 << 20, 1000, &why));
    struct blk_backend *b = blk_null_create(1 << 20, 4096, &why);
    assert_non_null(b);
    struct blk_backend_info inf;
    b->ops->info(b, &inf);
    assert_int_equal(inf.size, 1 << 20);
    assert_int_equal(inf.block_size, 4096);
    struct blk_bq *q;
    assert_int_equal(b->ops->queue_open(b, 2, &q), 0);
    assert_int_equal(b->ops->event_fd(q), -1);
    uint8_t buf[512];
    memset(buf, 0xab, sizeof(buf));
    struct req rq[3];
    for (int i = 0; i < 3; i++) {
        req_set(&rq[i], BLK_OP_READ, 0, 512);
        rq[i].iov[0] = (struct iovec){buf, 512};
        rq[i].io.iovcnt = 1;
    }
    assert_int_equal(b->ops->submit(q, &rq[0].io), 0);
    assert_int_equal(b->ops->submit(q, &rq[1].io), 0);
    assert_int_equal(b->ops->submit(q, &rq[2].io), -EAGAIN);
    assert_int_equal(b->ops->in_flight(q), 2);
    b->ops->kick(q);
    assert_int_equal(b->ops->reap(q), 2);
    assert_int_equal(rq[0].res, 0);
    assert_int_equal(rq[1].done, 1);
    assert_int_equal(buf[0], 0xab); /* data untouched */
    assert_int_equal(b->ops->reap(q), 0);
    b->ops->queue_close(q);
    b->ops->destroy(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_rules),
        cmocka_unit_test(test_rw_flush_discard_zeroes),
        cmocka_unit_test(test_many_in_flight),
        cmocka_unit_test(test_second_submitter),
        cmocka_unit_test(test_file_shrunk),
        cmocka_unit_test(test_read_only),
        cmocka_unit_test(test_image_locks),
        cmocka_unit_test(test_failed_create_leaves_no_file),
        cmocka_unit_test(test_direct),
        cmocka_unit_test(test_null_backend),
        cmocka_unit_test(test_resize_shared_never_shrinks),
        cmocka_unit_test(test_zeroes_in_parts_without_kick),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
