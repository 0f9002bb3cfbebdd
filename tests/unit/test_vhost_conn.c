/* vhost-user socket I/O on a socketpair: messages arriving in pieces, fds
 * collected across the pieces, too many fds, truncated messages, and no fd
 * left open after any of it. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/fdpass.h"
#include "vhost/vhost_conn.h"

static int count_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static void send_with_fds(int sock, const void *buf, size_t len, const int *fds, unsigned nfds)
{
    union {
        char b[CMSG_SPACE(sizeof(int) * 16)];
        struct cmsghdr align;
    } ctrl;
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    assert_int_equal(fdpass_attach(&mh, ctrl.b, sizeof(ctrl.b), fds, nfds), 0);
    assert_int_equal(sendmsg(sock, &mh, 0), (ssize_t)len);
}

/* The wire form: payload right after the 12-byte header. */
static size_t wire(const struct vhu_msg *m, uint8_t *buf)
{
    memcpy(buf, &m->hdr, sizeof(m->hdr));
    memcpy(buf + sizeof(m->hdr), &m->p, m->hdr.size);
    return sizeof(m->hdr) + m->hdr.size;
}

struct pair {
    int peer;
    struct vhu_conn c;
    int base_fds;
};

static int setup(void **state)
{
    static struct pair p;
    int sv[2];
    p.base_fds = count_fds();
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    p.peer = sv[0];
    vhu_conn_init(&p.c, sv[1]);
    *state = &p;
    return 0;
}

static int teardown(void **state)
{
    struct pair *p = *state;
    vhu_conn_close(&p->c);
    if (p->peer >= 0)
        close(p->peer);
    assert_int_equal(count_fds(), p->base_fds);
    return 0;
}

static void test_pieces(void **state)
{
    struct pair *p = *state;
    char why[160];
    struct vhu_msg m = {.hdr = {VHOST_USER_SET_VRING_KICK, VHOST_USER_VERSION, 8}};
    m.p.u64 = 1;
    int efd = eventfd(0, EFD_CLOEXEC);
    uint8_t w[64];
    assert_int_equal(wire(&m, w), 20);

    send_with_fds(p->peer, w, 5, &efd, 1);
    assert_int_equal(vhu_conn_recv(&p->c, why, sizeof(why)), VHU_RECV_AGAIN);
    send_with_fds(p->peer, w + 5, 7 + 3, NULL, 0);
    assert_int_equal(vhu_conn_recv(&p->c, why, sizeof(why)), VHU_RECV_AGAIN);
    send_with_fds(p->peer, w + 15, 5, NULL, 0);
    assert_int_equal(vhu_conn_recv(&p->c, why, sizeof(why)), VHU_RECV_MSG);
    assert_int_equal(p->c.msg.hdr.request, VHOST_USER_SET_VRING_KICK);
    assert_int_equal(p->c.msg.p.u64, 1);
    assert_int_equal(p->c.nfds, 1);
    vhu_conn_msg_done(&p->c);
    close(efd);
    /* Orderly close between messages. */
    close(p->peer);
    p->peer = -1;
    assert_int_equal(vhu_conn_recv(&p->c, why, sizeof(why)), VHU_RECV_EOF);
}

static void test_two_messages_keep_their_fds(void **state)
{
    struct pair *p = *state;
    char why[160];
    struct vhu_msg a = {.hdr = {VHOST_USER_SET_OWNER, VHOST_USER_VERSION, 0}};
    struct vhu_msg b = {.hdr = {VHOST_USER_SET_VRING_CALL, VHOST_USER_VERSION, 8}};
    int efd = eventfd(0, EFD_CLOEXEC);
    uint8_t w[64];

    b.p.u64 = 1;
    send_with_fds(p->peer, w, wire(&a, w), NULL, 0);
    send_with_fds(p->peer, w, wire(&b, w), &efd, 1);
    close(efd);
    assert_int_equal(vhu_conn_recv(&p->c, why, sizeof(why)), VHU_RECV_MSG);
    assert_int_equal(p->c.msg.hdr.request, VHOST_USER_SET_OWNER);
    assert_int_equal(p->c.nfds, 0);
    vhu_conn_msg_done(&p->c);
    assert_int_equal(vhu_conn_recv(&p->c, why, sizeof(why)), VHU_RECV_MSG);
    assert_int_equal(p->c.msg.hdr.request, VHOST_USER_SET_VRING_CALL);
    assert_int_equal(p->c.nfds, 1);
    vhu_conn_msg_done(&p->c);
}

static void test_too_many_fds(void **state)
{
    struct pair *p = *state;
    char why[160];
    struct vhu_msg m = {.hdr = {VHOST_USER_SET_VRING_KICK, VHOST_USER_VERSION, 8}};
    int fds[12];
    uint8_t w[64];

    for (int i = 0; i < 12; i++)
        fds[i] = eventfd(0, EFD_CLOEXEC);
    send_with_fds(p->peer, w, wire(&m, w), fds, 12);
    for (int i = 0; i < 12; i++)
        close(fds[i]);
    assert_int_equal(vhu_conn_recv(&p->c, why, sizeof(why)), VHU_RECV_ERROR);
    assert_non_null(strstr(why, "file descriptors"));
}

static void test_truncated_header(void **state)
{
    struct pair *p = *state;
    char why[160];
    struct vhu_msg m = {.hdr = {VHOST_USER_GET_FEATURES, VHOST_USER_VERSION, 0}};

    send_with_fds(p->peer, &m, 7, NULL, 0);
    close(p->peer);
    p->peer = -1;
    assert_int_equal(vhu_conn_recv(&p->c, why, sizeof(why)), VHU_RECV_ERROR);
    assert_non_null(strstr(why, "header"));
}

static void test_truncated_payload(void **state)
{
    struct pair *p = *state;
    char why[160];
    struct vhu_msg m = {.hdr = {VHOST_USER_SET_VRING_ADDR, VHOST_USER_VERSION, 40}};
    uint8_t w[64];

    wire(&m, w);
    send_with_fds(p->peer, w, 12 + 10, NULL, 0);
    close(p->peer);
    p->peer = -1;
    assert_int_equal(vhu_conn_recv(&p->c, why, sizeof(why)), VHU_RECV_ERROR);
    assert_non_null(strstr(why, "10 of 40"));
}

static void test_size_over_max(void **state)
{
    struct pair *p = *state;
    char why[160];
    struct vhu_hdr h = {VHOST_USER_SET_MEM_TABLE, VHOST_USER_VERSION, 1u << 20};

    send_with_fds(p->peer, &h, sizeof(h), NULL, 0);
    assert_int_equal(vhu_conn_recv(&p->c, why, sizeof(why)), VHU_RECV_ERROR);
    assert_non_null(strstr(why, "exceeds"));
}

static void test_send_reply_with_fd(void **state)
{
    struct pair *p = *state;
    uint64_t val = 42;
    int efd = eventfd(0, EFD_CLOEXEC);
    uint8_t got[20];
    union {
        char b[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } ctrl;
    struct iovec iov = {.iov_base = got, .iov_len = 20};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctrl.b,
                        .msg_controllen = sizeof(ctrl.b)};

    assert_int_equal(vhu_conn_send(&p->c, VHOST_USER_GET_FEATURES, &val, 8, &efd, 1), 0);
    close(efd);
    assert_int_equal(recvmsg(p->peer, &mh, 0), 20);
    struct vhu_hdr h;
    uint64_t u;
    memcpy(&h, got, 12);
    memcpy(&u, got + 12, 8);
    assert_int_equal(h.flags, VHOST_USER_VERSION | VHOST_USER_REPLY_MASK);
    assert_int_equal(h.size, 8);
    assert_int_equal(u, 42);
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    assert_non_null(cm);
    int rfd;
    memcpy(&rfd, CMSG_DATA(cm), sizeof(int));
    close(rfd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pieces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_messages_keep_their_fds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_many_fds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_payload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_size_over_max, setup, teardown),
        cmocka_unit_test_setup_teardown(test_send_reply_with_fd, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
