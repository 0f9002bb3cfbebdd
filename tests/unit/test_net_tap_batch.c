/* Batched tap I/O (backend/net_tap_batch.h) on pipes and datagram
 * sockets, which take non-blocking io_uring reads and writes as tun does:
 * each write lands on its own descriptor, in order, with its own result,
 * whatever its neighbours did; reads take frames in order and the ones
 * past the last frame say -EAGAIN; threads write at once, each on its own
 * ring. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "backend/net_tap_batch.h"

static void nb_pipe(int p[2])
{
    assert_int_equal(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
}

/* Frame i: a 4-byte header part and a body of i + 1 bytes of value i. */
struct frame {
    char head[4];
    char body[64];
    struct iovec iov[2];
};

static void frame_make(struct frame *f, unsigned i)
{
    snprintf(f->head, sizeof(f->head), "h%02u", i % 100);
    memset(f->body, (int)i, i + 1);
    f->iov[0] = (struct iovec){f->head, 4};
    f->iov[1] = (struct iovec){f->body, i + 1};
}

static void read_frame(int fd, unsigned i)
{
    char buf[68], want[68];
    struct frame f;
    frame_make(&f, i);
    memcpy(want, f.head, 4);
    memcpy(want + 4, f.body, i + 1);
    assert_int_equal(read(fd, buf, 4 + i + 1), (ssize_t)(4 + i + 1));
    assert_memory_equal(buf, want, 4 + i + 1);
}

static void spread_in_order(void **st)
{
    (void)st;
    int a[2], b[2];
    nb_pipe(a);
    nb_pipe(b);
    struct frame f[TAP_BATCH_MAX];
    struct tap_io w[TAP_BATCH_MAX];
    for (unsigned round = 0; round < 3; round++) {
        for (unsigned i = 0; i < TAP_BATCH_MAX; i++) {
            frame_make(&f[i], i);
            w[i] = (struct tap_io){.fd = i % 3 ? a[1] : b[1], .iov = f[i].iov, .iovcnt = 2};
        }
        tap_io_batch(w, TAP_BATCH_MAX, true);
        for (unsigned i = 0; i < TAP_BATCH_MAX; i++)
            assert_int_equal(w[i].result, (ssize_t)(4 + i + 1));
        for (unsigned i = 0; i < TAP_BATCH_MAX; i++)
            read_frame(i % 3 ? a[0] : b[0], i);
        char c;
        assert_int_equal(read(a[0], &c, 1), -1); /* nothing more */
        assert_int_equal(read(b[0], &c, 1), -1);
    }
    close(a[0]), close(a[1]), close(b[0]), close(b[1]);
}

/* A bad descriptor, a reader gone and a full pipe fail their own writes
 * with their own errors; the rest land. */
static void failures_stay_their_own(void **st)
{
    (void)st;
    int ok[2], gone[2], full[2];
    nb_pipe(ok);
    nb_pipe(gone);
    nb_pipe(full);
    close(gone[0]);
    char fill[4096] = {0};
    while (write(full[1], fill, sizeof(fill)) > 0)
        ;
    struct frame f[5];
    struct tap_io w[5];
    int fds[5] = {ok[1], -1, gone[1], full[1], ok[1]};
    for (unsigned i = 0; i < 5; i++) {
        frame_make(&f[i], i);
        w[i] = (struct tap_io){.fd = fds[i], .iov = f[i].iov, .iovcnt = 2};
    }
    tap_io_batch(w, 5, true);
    assert_int_equal(w[0].result, 5);
    assert_int_equal(w[1].result, -EBADF);
    assert_int_equal(w[2].result, -EPIPE);
    assert_int_equal(w[3].result, -EAGAIN);
    assert_int_equal(w[4].result, 9);
    read_frame(ok[0], 0);
    read_frame(ok[0], 4);
    close(ok[0]), close(ok[1]), close(gone[1]), close(full[0]), close(full[1]);
}

/* Frames read as tun hands them out: one per read, in order; an empty
 * queue fails the reads past its last frame, and a later frame is read by
 * the next batch. */
static void reads_take_frames_in_order(void **st)
{
    (void)st;
    int sp[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sp), 0);
    for (unsigned i = 0; i < 3; i++) {
        struct frame f;
        frame_make(&f, i);
        assert_int_equal(writev(sp[1], f.iov, 2), (ssize_t)(4 + i + 1));
    }
    char buf[5][128];
    struct iovec v[5];
    struct tap_io r[5];
    for (unsigned i = 0; i < 5; i++) {
        v[i] = (struct iovec){buf[i], sizeof(buf[i])};
        r[i] = (struct tap_io){.fd = sp[0], .iov = &v[i], .iovcnt = 1};
    }
    tap_io_batch(r, 5, false);
    for (unsigned i = 0; i < 3; i++) {
        assert_int_equal(r[i].result, (ssize_t)(4 + i + 1));
        assert_int_equal(buf[i][4], (char)i);
    }
    assert_int_equal(r[3].result, -EAGAIN);
    assert_int_equal(r[4].result, -EAGAIN);
    struct frame f;
    frame_make(&f, 7);
    assert_int_equal(writev(sp[1], f.iov, 2), 12);
    tap_io_batch(r, 2, false);
    assert_int_equal(r[0].result, 12);
    assert_int_equal(r[1].result, -EAGAIN);
    close(sp[0]), close(sp[1]);
}

static void *writer(void *arg)
{
    const int *p = arg;
    int fd = p[1];
    struct frame f[8];
    struct tap_io w[8];
    for (unsigned round = 0; round < 2000; round++) {
        for (unsigned i = 0; i < 8; i++) {
            frame_make(&f[i], i);
            w[i] = (struct tap_io){.fd = fd, .iov = f[i].iov, .iovcnt = 2};
        }
        tap_io_batch(w, 8, true);
        for (unsigned i = 0; i < 8; i++)
            if (w[i].result != (ssize_t)(4 + i + 1))
                return (void *)1;
        char buf[128];
        for (unsigned i = 0; i < 8; i++)
            if (read(p[0], buf, 4 + i + 1) != (ssize_t)(4 + i + 1) || buf[4] != (char)i)
                return (void *)1;
    }
    return NULL;
}

static void threads_write_at_once(void **st)
{
    (void)st;
    int p[4][2];
    pthread_t th[4];
    for (unsigned i = 0; i < 4; i++) {
        nb_pipe(p[i]);
        assert_int_equal(pthread_create(&th[i], NULL, writer, p[i]), 0);
    }
    for (unsigned i = 0; i < 4; i++) {
        void *rv;
        assert_int_equal(pthread_join(th[i], &rv), 0);
        assert_null(rv);
        close(p[i][0]), close(p[i][1]);
    }
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(spread_in_order),
        cmocka_unit_test(failures_stay_their_own),
        cmocka_unit_test(reads_take_frames_in_order),
        cmocka_unit_test(threads_write_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
