/* fd passing: what is attached arrives; what exceeds the taker's room is
 * closed, not leaked; too many fds for the buffer are refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/fdpass.h"

static void send_fds(int sock, const int *fds, unsigned n)
{
    union fdpass_ctl ctl;
    char byte = 'x';
    struct iovec iov = {&byte, 1};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    assert_int_equal(fdpass_attach(&mh, ctl.buf, sizeof(ctl.buf), fds, n), 0);
    assert_int_equal(sendmsg(sock, &mh, 0), 1);
}

static unsigned recv_fds(int sock, int *fds, unsigned max, unsigned *taken)
{
    union fdpass_ctl ctl;
    char byte;
    struct iovec iov = {&byte, 1};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                        .msg_controllen = sizeof(ctl.buf)};
    assert_int_equal(recvmsg(sock, &mh, 0), 1);
    return fdpass_take(&mh, fds, max, taken);
}

static unsigned open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    unsigned n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static void test_roundtrip_and_excess_closed(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    int out[3];
    for (int i = 0; i < 3; i++)
        out[i] = eventfd(0, EFD_CLOEXEC);
    unsigned before = open_fds();
    send_fds(sv[0], out, 3);
    int in[2] = {-1, -1};
    unsigned taken = 99;
    assert_int_equal(recv_fds(sv[1], in, 2, &taken), 3);
    assert_int_equal(taken, 2);
    /* The two taken are live and distinct from ours. */
    uint64_t one = 1, v = 0;
    assert_int_equal(write(out[1], &one, 8), 8);
    assert_int_equal(read(in[1], &v, 8), 8);
    assert_int_equal(v, 1);
    for (int i = 0; i < 2; i++)
        assert_true(fcntl(in[i], F_GETFD) >= 0 && in[i] != out[i]);
    /* The third was closed: only the two taken were added. */
    assert_int_equal(open_fds(), before + 2);
    for (int i = 0; i < 3; i++)
        close(out[i]);
    close(in[0]);
    close(in[1]);
    close(sv[0]);
    close(sv[1]);
}

static void test_too_many_refused(void **state)
{
    (void)state;
    int fds[FDPASS_MAX + 1] = {0};
    union fdpass_ctl ctl;
    struct msghdr mh = {0};
    assert_int_equal(fdpass_attach(&mh, ctl.buf, sizeof(ctl.buf), fds, FDPASS_MAX + 1), -1);
    assert_null(mh.msg_control);
    assert_int_equal(fdpass_attach(&mh, ctl.buf, sizeof(ctl.buf), fds, 0), 0);
    assert_null(mh.msg_control);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_and_excess_closed),
        cmocka_unit_test(test_too_many_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
