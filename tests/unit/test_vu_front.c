/* vhost-user frontend connection (src/frontend/vu_front.c) against a
 * scripted backend: the test queues the backend's reply on the socket
 * before the call, then inspects what the frontend sent. Covers message
 * format, fd passing, REPLY_ACK, and rejection of malformed replies. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "frontend/vu_front.h"
#include "frontend/vu_proto.h"

struct fx {
    char path[108];
    int lfd, bfd; /* listening socket, backend end */
    struct vu_conn *c;
};

static int listen_on(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, path);
    unlink(path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 1), 0);
    return fd;
}

static int setup(void **state)
{
    static struct fx f;
    snprintf(f.path, sizeof(f.path), "/tmp/test_vu_front.%d.sock", (int)getpid());
    f.lfd = listen_on(f.path);
    assert_int_equal(vu_conn_connect(f.path, 1000, &f.c), 0);
    f.bfd = accept(f.lfd, NULL, NULL);
    assert_true(f.bfd >= 0);
    vu_conn_set_reply_timeout(f.c, 300);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    vu_conn_close(f->c);
    close(f->bfd);
    close(f->lfd);
    unlink(f->path);
    return 0;
}

static void reply(int fd, uint32_t req, uint32_t flags, const void *p, uint32_t size)
{
    struct vu_hdr h = {req, flags, size};
    assert_int_equal(write(fd, &h, sizeof(h)), sizeof(h));
    if (size)
        assert_int_equal(write(fd, p, size), (ssize_t)size);
}

static void reply_u64(int fd, uint32_t req, uint64_t v)
{
    reply(fd, req, VU_FLAG_VERSION | VU_FLAG_REPLY, &v, sizeof(v));
}

/* Reads one request from the frontend; returns its fd count. */
static unsigned take(int fd, struct vu_hdr *h, void *payload, size_t cap, int *fds)
{
    char cbuf[CMSG_SPACE(sizeof(int) * VU_MAX_FDS)];
    struct iovec iov = {h, sizeof(*h)};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
                        .msg_controllen = sizeof(cbuf)};
    assert_int_equal(recvmsg(fd, &mh, 0), sizeof(*h));
    unsigned n = 0;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
        n = (unsigned)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        memcpy(fds, CMSG_DATA(cm), n * sizeof(int));
    }
    assert_true(h->size <= cap);
    if (h->size)
        assert_int_equal(read(fd, payload, h->size), (ssize_t)h->size);
    return n;
}

static void test_get_features(void **state)
{
    struct fx *f = *state;
    reply_u64(f->bfd, VU_REQ_GET_FEATURES, 0x140000000ull);
    uint64_t v = 0;
    assert_int_equal(vu_get_features(f->c, &v), 0);
    assert_int_equal(v, 0x140000000ull);
    struct vu_hdr h;
    union vu_payload p;
    int fds[VU_MAX_FDS];
    assert_int_equal(take(f->bfd, &h, &p, sizeof(p), fds), 0);
    assert_int_equal(h.request, VU_REQ_GET_FEATURES);
    assert_int_equal(h.flags, VU_FLAG_VERSION);
    assert_int_equal(h.size, 0);
}

static void test_bad_size_breaks(void **state)
{
    struct fx *f = *state;
    uint32_t four = 7;
    reply(f->bfd, VU_REQ_GET_FEATURES, VU_FLAG_VERSION | VU_FLAG_REPLY, &four, 4);
    uint64_t v;
    assert_int_equal(vu_get_features(f->c, &v), -EPROTO);
    assert_non_null(strstr(vu_conn_error(f->c), "payload size 4"));
    assert_int_equal(vu_get_features(f->c, &v), -EPIPE);
}

static void test_wrong_request_id(void **state)
{
    struct fx *f = *state;
    reply_u64(f->bfd, VU_REQ_GET_PROTOCOL_FEATURES, 1);
    uint64_t v;
    assert_int_equal(vu_get_queue_num(f->c, &v), -EPROTO);
}

static void test_missing_reply_flag(void **state)
{
    struct fx *f = *state;
    uint64_t one = 1;
    reply(f->bfd, VU_REQ_GET_QUEUE_NUM, VU_FLAG_VERSION, &one, sizeof(one));
    uint64_t v;
    assert_int_equal(vu_get_queue_num(f->c, &v), -EPROTO);
}

static void test_timeout(void **state)
{
    struct fx *f = *state;
    uint64_t v;
    assert_int_equal(vu_get_features(f->c, &v), -ETIMEDOUT);
}

static void test_peer_closes(void **state)
{
    struct fx *f = *state;
    shutdown(f->bfd, SHUT_WR);
    uint64_t v;
    assert_int_equal(vu_get_features(f->c, &v), -ECONNRESET);
}

static void test_reply_ack(void **state)
{
    struct fx *f = *state;
    struct vu_hdr h;
    union vu_payload p;
    int fds[VU_MAX_FDS];
    /* Without REPLY_ACK no reply is awaited and NEED_REPLY is not set. */
    assert_int_equal(vu_set_protocol_features(f->c, 1ull << VU_PF_REPLY_ACK), 0);
    take(f->bfd, &h, &p, sizeof(p), fds);
    assert_int_equal(h.flags, VU_FLAG_VERSION);
    assert_int_equal(p.u64, 1ull << VU_PF_REPLY_ACK);
    /* Now every command carries NEED_REPLY and a non-zero ack is an error. */
    reply_u64(f->bfd, VU_REQ_SET_OWNER, 0);
    assert_int_equal(vu_set_owner(f->c), 0);
    take(f->bfd, &h, &p, sizeof(p), fds);
    assert_int_equal(h.flags, VU_FLAG_VERSION | VU_FLAG_NEED_REPLY);
    reply_u64(f->bfd, VU_REQ_SET_VRING_NUM, 1);
    assert_int_equal(vu_set_vring_num(f->c, 0, 256), -EIO);
    take(f->bfd, &h, &p, sizeof(p), fds);
    assert_int_equal(h.size, sizeof(struct vu_vring_state));
    assert_int_equal(p.state.index, 0);
    assert_int_equal(p.state.num, 256);
    /* A rejected command does not break the connection. */
    reply_u64(f->bfd, VU_REQ_GET_FEATURES, 5);
    uint64_t v;
    assert_int_equal(vu_get_features(f->c, &v), 0);
}

static void test_mem_table_and_fds(void **state)
{
    struct fx *f = *state;
    int efd = dup(1);
    struct vu_mem_region r = {.gpa = 0, .size = 1 << 21, .uaddr = 0x7f0000000000ull,
                              .mmap_offset = 0, .fd = efd};
    assert_int_equal(vu_set_mem_table(f->c, &r, 1), 0);
    struct vu_hdr h;
    union vu_payload p;
    int fds[VU_MAX_FDS];
    assert_int_equal(take(f->bfd, &h, &p, sizeof(p), fds), 1);
    close(fds[0]);
    assert_int_equal(h.request, VU_REQ_SET_MEM_TABLE);
    assert_int_equal(h.size, 8 + sizeof(struct vu_mem_region_wire));
    assert_int_equal(p.mem.nregions, 1);
    assert_int_equal(p.mem.regions[0].memory_size, 1 << 21);
    assert_int_equal(p.mem.regions[0].userspace_addr, 0x7f0000000000ull);
    /* Call fd: with fd; "no fd" sets bit 8 and sends none. */
    assert_int_equal(vu_set_vring_call(f->c, 3, efd), 0);
    assert_int_equal(take(f->bfd, &h, &p, sizeof(p), fds), 1);
    close(fds[0]);
    assert_int_equal(p.u64, 3);
    assert_int_equal(vu_set_vring_call(f->c, 2, -1), 0);
    assert_int_equal(take(f->bfd, &h, &p, sizeof(p), fds), 0);
    assert_int_equal(p.u64, 2 | VU_VRING_NOFD);
    close(efd);
}

static void test_get_config(void **state)
{
    struct fx *f = *state;
    struct vu_config_wire w = {.offset = 0, .size = 8};
    uint64_t cap = 131072;
    memcpy(w.payload, &cap, 8);
    reply(f->bfd, VU_REQ_GET_CONFIG, VU_FLAG_VERSION | VU_FLAG_REPLY, &w, 12 + 8);
    uint64_t got = 0;
    assert_int_equal(vu_get_config(f->c, 0, &got, 8), 0);
    assert_int_equal(got, cap);
    /* A refusal (empty payload) is an error but keeps the connection. */
    reply(f->bfd, VU_REQ_GET_CONFIG, VU_FLAG_VERSION | VU_FLAG_REPLY, NULL, 0);
    assert_int_equal(vu_get_config(f->c, 0, &got, 8), -EIO);
    /* Config for another range than asked is a protocol error. */
    w.offset = 4;
    reply(f->bfd, VU_REQ_GET_CONFIG, VU_FLAG_VERSION | VU_FLAG_REPLY, &w, 12 + 8);
    assert_int_equal(vu_get_config(f->c, 0, &got, 8), -EPROTO);
}

static void test_vring_base_checked(void **state)
{
    struct fx *f = *state;
    struct vu_vring_state s = {.index = 1, .num = 77};
    reply(f->bfd, VU_REQ_GET_VRING_BASE, VU_FLAG_VERSION | VU_FLAG_REPLY, &s, sizeof(s));
    unsigned base;
    assert_int_equal(vu_get_vring_base(f->c, 1, &base), 0);
    assert_int_equal(base, 77);
    s.index = 2;
    reply(f->bfd, VU_REQ_GET_VRING_BASE, VU_FLAG_VERSION | VU_FLAG_REPLY, &s, sizeof(s));
    assert_int_equal(vu_get_vring_base(f->c, 1, &base), -EPROTO);
}

static void *client_backend(void *arg)
{
    const char *path = arg;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, path);
    for (int i = 0; i < 200; i++) {
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
            reply_u64(fd, VU_REQ_GET_FEATURES, 42);
            char buf[64];
            ssize_t n = read(fd, buf, sizeof(buf)); /* until the frontend closes */
            (void)n;
            close(fd);
            return NULL;
        }
        close(fd);
        usleep(10000);
    }
    return NULL;
}

static void test_accept_client_mode(void **state)
{
    (void)state;
    char path[108];
    snprintf(path, sizeof(path), "/tmp/test_vu_front_acc.%d.sock", (int)getpid());
    pthread_t t;
    pthread_create(&t, NULL, client_backend, path);
    struct vu_conn *c;
    assert_int_equal(vu_conn_accept(path, 3000, &c), 0);
    uint64_t v;
    assert_int_equal(vu_get_features(c, &v), 0);
    assert_int_equal(v, 42);
    vu_conn_close(c);
    pthread_join(t, NULL);
    assert_int_equal(access(path, F_OK), -1); /* listener path removed */
}

static void test_connect_bounded(void **state)
{
    (void)state;
    struct vu_conn *c;
    assert_int_equal(vu_conn_connect("/tmp/test_vu_front.does-not-exist", 100, &c), -ENOENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_get_features, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_size_breaks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_request_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_reply_flag, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_peer_closes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reply_ack, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mem_table_and_fds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vring_base_checked, setup, teardown),
        cmocka_unit_test(test_accept_client_mode),
        cmocka_unit_test(test_connect_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
