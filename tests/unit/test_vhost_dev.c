/* A real vhost_dev on a real unix socket, driven by a scripted frontend in
 * the same thread (the event loop is pumped while waiting for replies) and a
 * mock virtio device with two queues that records what the transport asks of
 * it. Covers the handshake QEMU performs and hostile sequences; after each
 * hostile one the device reports the failure with a reason, no fd is left
 * open, and a fresh connection is served again. */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/evloop.h"
#include "common/fdpass.h"
#include "common/log.h"
#include "vhost/vhost_msg.h"
#include "vhost/vhost_user.h"
#include "virtq/inflight.h"

#define NQ 2
#define UVA 0x40000000ull
#define MEM_SIZE (1u << 20)
#define CFG_SIZE 60
#define RING_NUM 256

struct mock {
    struct vdev vd;
    int starts[NQ], stops[NQ], resets;
    int quiesce_on[NQ], quiesce_off[NQ];
    bool busy[NQ]; /* the ring holds requests: not settled */
    uint8_t announced[6];
    int announces;
    int set_while_running; /* set_features calls that found a queue started */
    uint64_t features;
    struct virtq *vq[NQ];
    int kick[NQ], call[NQ];
    uint8_t cfg[CFG_SIZE];
};

static uint64_t m_features(struct vdev *d)
{
    (void)d;
    return (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_EVENT_IDX) |
           (1ull << VIRTIO_F_RING_PACKED);
}
static int m_set_features(struct vdev *d, uint64_t f)
{
    struct mock *m = (struct mock *)d;
    for (unsigned i = 0; i < NQ; i++)
        if (m->starts[i] > m->stops[i])
            m->set_while_running++;
    m->features = f;
    return 0;
}
static uint16_t m_max_queues(struct vdev *d)
{
    (void)d;
    return NQ;
}
static uint32_t m_config_size(struct vdev *d)
{
    (void)d;
    return CFG_SIZE;
}
static void m_get_config(struct vdev *d, uint8_t *buf, uint32_t off, uint32_t len)
{
    memcpy(buf, ((struct mock *)d)->cfg + off, len);
}
static int m_set_config(struct vdev *d, const uint8_t *buf, uint32_t off, uint32_t len)
{
    (void)d, (void)buf, (void)off, (void)len;
    return -1; /* read-only config space */
}
static int m_queue_start(struct vdev *d, uint16_t idx, struct virtq *vq, int kick, int call)
{
    struct mock *m = (struct mock *)d;
    assert_true(idx < NQ);
    m->starts[idx]++;
    m->vq[idx] = vq;
    m->kick[idx] = kick;
    m->call[idx] = call;
    return 0;
}
static void m_queue_stop(struct vdev *d, uint16_t idx)
{
    struct mock *m = (struct mock *)d;
    m->stops[idx]++;
    m->vq[idx]->last_avail += 7; /* pretend the device consumed seven requests */
}
static bool m_queue_quiesce(struct vdev *d, uint16_t idx, bool on)
{
    struct mock *m = (struct mock *)d;
    if (on)
        m->quiesce_on[idx]++;
    else
        m->quiesce_off[idx]++;
    return true;
}
static bool m_queue_settled(struct vdev *d, uint16_t idx)
{
    return !((struct mock *)d)->busy[idx];
}
static int m_announce(struct vdev *d, const uint8_t mac[6])
{
    struct mock *m = (struct mock *)d;
    memcpy(m->announced, mac, 6);
    m->announces++;
    return 0;
}
static void m_reset(struct vdev *d)
{
    ((struct mock *)d)->resets++;
}

static const struct vdev_ops mock_ops = {
    .type = "mock", .features = m_features, .set_features = m_set_features, .max_queues = m_max_queues,
    .config_size = m_config_size, .get_config = m_get_config, .set_config = m_set_config,
    .queue_start = m_queue_start, .queue_stop = m_queue_stop, .reset = m_reset,
    .queue_quiesce = m_queue_quiesce, .queue_settled = m_queue_settled,
    .announce = m_announce,
};

struct t {
    struct evloop *loop;
    struct mock m;
    struct vhost_dev *v;
    char dir[64];
    char path[96];
    int cl;
    int base_fds;
};

static int count_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static void pump(struct t *t, int rounds)
{
    for (int i = 0; i < rounds; i++)
        evloop_run_once(t->loop, 1);
}

static struct vhost_dev_info info(struct t *t)
{
    struct vhost_dev_info i;
    vhost_dev_get_info(t->v, &i);
    return i;
}

static void client_connect(struct t *t)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", t->path);
    t->cl = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(t->cl >= 0);
    assert_int_equal(connect(t->cl, (struct sockaddr *)&a, sizeof(a)), 0);
    for (int i = 0; i < 2000 && !info(t).connected; i++)
        pump(t, 1);
    assert_true(info(t).connected);
}

static void client_close(struct t *t)
{
    if (t->cl >= 0)
        close(t->cl);
    t->cl = -1;
}

/* Sends header + payload (size bytes) + fds exactly as given. */
static void send_raw(struct t *t, uint32_t req, uint32_t flags, const void *payload,
                     uint32_t size, const int *fds, unsigned nfds)
{
    uint8_t buf[12 + 512];
    struct vhu_hdr h = {req, VHOST_USER_VERSION | flags, size};
    memcpy(buf, &h, 12);
    if (size)
        memcpy(buf + 12, payload, size);
    union {
        char b[CMSG_SPACE(sizeof(int) * 16)];
        struct cmsghdr align;
    } ctrl;
    struct iovec iov = {.iov_base = buf, .iov_len = 12 + size};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    assert_int_equal(fdpass_attach(&mh, ctrl.b, sizeof(ctrl.b), fds, nfds), 0);
    /* The backend may already have closed: that is an outcome, not an error. */
    sendmsg(t->cl, &mh, MSG_NOSIGNAL);
}

/* 1: reply read; 0: connection closed; -1: nothing within the bound. */
static int recv_reply(struct t *t, struct vhu_hdr *h, void *payload, size_t max, int *fd)
{
    struct pollfd p = {.fd = t->cl, .events = POLLIN};
    int i;
    for (i = 0; i < 3000; i++) {
        if (poll(&p, 1, 0) == 1)
            break;
        pump(t, 1);
    }
    if (i == 3000)
        return -1;
    union {
        char b[CMSG_SPACE(sizeof(int) * 8)];
        struct cmsghdr align;
    } ctrl;
    struct iovec iov = {.iov_base = h, .iov_len = sizeof(*h)};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctrl.b,
                        .msg_controllen = sizeof(ctrl.b)};
    ssize_t n = recvmsg(t->cl, &mh, MSG_WAITALL);
    if (n <= 0)
        return 0;
    assert_int_equal(n, 12);
    assert_int_equal(h->flags, VHOST_USER_VERSION | VHOST_USER_REPLY_MASK);
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
        int got;
        memcpy(&got, CMSG_DATA(cm), sizeof(int));
        if (fd)
            *fd = got;
        else
            close(got);
    }
    assert_true(h->size <= max);
    if (h->size)
        assert_int_equal(recv(t->cl, payload, h->size, MSG_WAITALL), (ssize_t)h->size);
    return 1;
}

static uint64_t get_u64(struct t *t, uint32_t req)
{
    struct vhu_hdr h;
    uint64_t u = 0;
    send_raw(t, req, 0, NULL, 0, NULL, 0);
    assert_int_equal(recv_reply(t, &h, &u, sizeof(u), NULL), 1);
    assert_int_equal(h.request, req);
    assert_int_equal(h.size, 8);
    return u;
}

/* Sends with NEED_REPLY and returns the ack value (0 = success), or -1 when
 * the connection closed instead. */
static int64_t acked(struct t *t, uint32_t req, const void *payload, uint32_t size,
                     const int *fds, unsigned nfds)
{
    struct vhu_hdr h;
    uint64_t u = 0;
    send_raw(t, req, VHOST_USER_NEED_REPLY_MASK, payload, size, fds, nfds);
    int r = recv_reply(t, &h, &u, sizeof(u), NULL);
    assert_int_not_equal(r, -1);
    if (r == 0)
        return -1;
    assert_int_equal(h.request, req);
    return (int64_t)u;
}

static void ack_ok(struct t *t, uint32_t req, const void *payload, uint32_t size,
                   const int *fds, unsigned nfds)
{
    assert_int_equal(acked(t, req, payload, size, fds, nfds), 0);
}

/* The bad message was answered with a failure (or not at all), the backend
 * closed the connection, and the device reports why; with the connection
 * gone it waits for the next frontend, no longer failed. */
static void expect_failed(struct t *t, const char *why_part)
{
    struct vhu_hdr h;
    uint64_t u;
    int r;
    while ((r = recv_reply(t, &h, &u, sizeof(u), NULL)) == 1)
        assert_true(h.size != 8 || u != 0);
    assert_int_equal(r, 0);
    client_close(t);
    struct vhost_dev_info i = info(t);
    assert_false(i.connected);
    assert_false(i.failed);
    assert_true(i.failures > 0);
    if (!strstr(i.why, why_part))
        fail_msg("why \"%s\" lacks \"%s\"", i.why, why_part);
    assert_true(atomic_load(&t->m.vd.status) & VIRTIO_STATUS_NEEDS_RESET);
    assert_int_equal(i.mem_regions, 0);
    assert_int_equal(i.queues_started, 0);
}

/* A fresh frontend is served by the same device. */
static void expect_recovers(struct t *t)
{
    client_connect(t);
    assert_true(get_u64(t, VHOST_USER_GET_FEATURES) & (1ull << VHOST_USER_F_PROTOCOL_FEATURES));
    struct vhost_dev_info i = info(t);
    assert_false(i.failed);
    assert_false(vdev_is_broken(&t->m.vd));
    assert_int_equal(atomic_load(&t->m.vd.status), 0);
    client_close(t);
    pump(t, 20);
}

static int setup(void **state)
{
    static struct t t;
    memset(&t, 0, sizeof(t));
    sc_log_set_level(SC_LOG_ERR);
    t.base_fds = count_fds();
    snprintf(t.dir, sizeof(t.dir), "/tmp/test_vhost_dev.XXXXXX");
    assert_non_null(mkdtemp(t.dir));
    snprintf(t.path, sizeof(t.path), "%s/dev.sock", t.dir);
    t.m.vd.ops = &mock_ops;
    t.m.vd.name = "mock0";
    for (int i = 0; i < CFG_SIZE; i++)
        t.m.cfg[i] = (uint8_t)(i * 3);
    t.loop = evloop_create();
    assert_non_null(t.loop);
    struct vhost_dev_cfg cfg = {.socket_path = t.path, .dev = &t.m.vd};
    const char *why = NULL;
    assert_int_equal(vhost_dev_create(t.loop, &cfg, &t.v, &why), 0);
    t.cl = -1;
    *state = &t;
    return 0;
}

static int teardown(void **state)
{
    struct t *t = *state;
    client_close(t);
    vhost_dev_destroy(t->v);
    evloop_destroy(t->loop);
    assert_int_equal(access(t->path, F_OK), -1);
    rmdir(t->dir);
    assert_int_equal(count_fds(), t->base_fds);
    return 0;
}

static void handshake(struct t *t)
{
    uint64_t f = get_u64(t, VHOST_USER_GET_FEATURES);
    assert_true(f & (1ull << VHOST_F_LOG_ALL));
    send_raw(t, VHOST_USER_SET_OWNER, 0, NULL, 0, NULL, 0);
    uint64_t pf = get_u64(t, VHOST_USER_GET_PROTOCOL_FEATURES);
    assert_true(pf & (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK));
    /* A QEMU that negotiated it sent no region after a restart of ours
     * while the guest's driver was unbound: the guest hung (h11). */
    assert_false(pf & (1ull << VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS));
    ack_ok(t, VHOST_USER_SET_PROTOCOL_FEATURES, &pf, 8, NULL, 0);
    uint64_t want = (1ull << VIRTIO_F_VERSION_1) | (1ull << VHOST_USER_F_PROTOCOL_FEATURES);
    ack_ok(t, VHOST_USER_SET_FEATURES, &want, 8, NULL, 0);
}

static int new_memfd(size_t size)
{
    int fd = memfd_create("test-guest", MFD_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)size), 0);
    return fd;
}

static void set_mem(struct t *t, uint64_t gpa, uint64_t uva, uint64_t size)
{
    struct vhu_mem_table mt = {.nregions = 1};
    mt.r[0] = (struct vhu_mem_region){.gpa = gpa, .size = size, .uva = uva};
    int fd = new_memfd(size);
    ack_ok(t, VHOST_USER_SET_MEM_TABLE, &mt, 8 + 32, &fd, 1);
    close(fd);
}

static struct vhu_vring_addr ring_addr(uint32_t idx)
{
    uint64_t base = UVA + 0x10000 + idx * 0x20000ull;
    return (struct vhu_vring_addr){.index = idx, .desc = base, .avail = base + 0x1000,
                                  .used = base + 0x2000};
}

static void setup_ring(struct t *t, uint32_t idx, int *errfd)
{
    struct vhu_vring_state s = {idx, RING_NUM};
    ack_ok(t, VHOST_USER_SET_VRING_NUM, &s, 8, NULL, 0);
    s.num = 0;
    ack_ok(t, VHOST_USER_SET_VRING_BASE, &s, 8, NULL, 0);
    struct vhu_vring_addr a = ring_addr(idx);
    ack_ok(t, VHOST_USER_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
    int kick = eventfd(0, EFD_CLOEXEC), call = eventfd(0, EFD_CLOEXEC);
    uint64_t u = idx;
    ack_ok(t, VHOST_USER_SET_VRING_CALL, &u, 8, &call, 1);
    ack_ok(t, VHOST_USER_SET_VRING_KICK, &u, 8, &kick, 1);
    close(kick);
    close(call);
    if (errfd) {
        *errfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        ack_ok(t, VHOST_USER_SET_VRING_ERR, &u, 8, errfd, 1);
    }
    /* PROTOCOL_FEATURES negotiated: the ring waits for SET_VRING_ENABLE. */
    assert_int_equal(t->m.starts[idx], 0);
    s.num = 1;
    ack_ok(t, VHOST_USER_SET_VRING_ENABLE, &s, 8, NULL, 0);
    assert_int_equal(t->m.starts[idx], 1);
    assert_int_equal(t->m.vq[idx]->num, RING_NUM);
}

/* A fresh frontend with memory and rings 0..n-1 running. */
static void running(struct t *t, uint32_t n)
{
    client_connect(t);
    handshake(t);
    set_mem(t, 0, UVA, MEM_SIZE);
    for (uint32_t i = 0; i < n; i++)
        setup_ring(t, i, NULL);
}

static void test_good_handshake(void **state)
{
    struct t *t = *state;
    struct vhu_hdr h;

    client_connect(t);
    handshake(t);
    assert_int_equal(t->m.features, 1ull << VIRTIO_F_VERSION_1);
    assert_int_equal(get_u64(t, VHOST_USER_GET_QUEUE_NUM), NQ);
    assert_int_equal(get_u64(t, VHOST_USER_GET_MAX_MEM_SLOTS), 32);

    struct vhu_config c = {.offset = 4, .size = 16};
    send_raw(t, VHOST_USER_GET_CONFIG, 0, &c, VHOST_USER_CONFIG_HDR + 16, NULL, 0);
    struct vhu_config rc;
    assert_int_equal(recv_reply(t, &h, &rc, sizeof(rc), NULL), 1);
    assert_int_equal(h.size, VHOST_USER_CONFIG_HDR + 16);
    assert_memory_equal(rc.data, t->m.cfg + 4, 16);
    /* A refused config write is answered, not fatal. */
    assert_int_equal(acked(t, VHOST_USER_SET_CONFIG, &c, VHOST_USER_CONFIG_HDR + 16, NULL, 0), 1);
    /* A frontend whose config struct is longer than ours (newer QEMU) reads
     * our bytes followed by zeros, and the device keeps working. */
    struct vhu_config lc = {.offset = 0, .size = CFG_SIZE + 36};
    send_raw(t, VHOST_USER_GET_CONFIG, 0, &lc, VHOST_USER_CONFIG_HDR + lc.size, NULL, 0);
    assert_int_equal(recv_reply(t, &h, &rc, sizeof(rc), NULL), 1);
    assert_int_equal(h.size, VHOST_USER_CONFIG_HDR + CFG_SIZE + 36);
    assert_memory_equal(rc.data, t->m.cfg, CFG_SIZE);
    for (unsigned i = CFG_SIZE; i < CFG_SIZE + 36; i++)
        assert_int_equal(rc.data[i], 0);
    /* Writing past our config space is refused, not fatal. */
    assert_int_equal(acked(t, VHOST_USER_SET_CONFIG, &lc, VHOST_USER_CONFIG_HDR + lc.size, NULL, 0), 1);

    struct vhu_inflight in = {.num_queues = NQ, .queue_size = RING_NUM};
    int ifd = -1;
    send_raw(t, VHOST_USER_GET_INFLIGHT_FD, 0, &in, sizeof(in), NULL, 0);
    struct vhu_inflight rin;
    assert_int_equal(recv_reply(t, &h, &rin, sizeof(rin), &ifd), 1);
    assert_true(ifd >= 0);
    assert_int_equal(rin.mmap_size, NQ * vq_inflight_queue_bytes(RING_NUM));
    ack_ok(t, VHOST_USER_SET_INFLIGHT_FD, &rin, sizeof(rin), &ifd, 1);
    close(ifd);

    set_mem(t, 0, UVA, MEM_SIZE);
    setup_ring(t, 0, NULL);
    setup_ring(t, 1, NULL);
    assert_non_null(t->m.vq[0]->inflight);
    uint64_t st = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_DRIVER_OK |
                  VIRTIO_STATUS_FEATURES_OK;
    ack_ok(t, VHOST_USER_SET_STATUS, &st, 8, NULL, 0);
    assert_int_equal(get_u64(t, VHOST_USER_GET_STATUS), st);

    struct vhost_dev_info i = info(t);
    assert_true(i.connected);
    assert_false(i.failed);
    assert_int_equal(i.queues_started, 2);
    assert_int_equal(i.mem_regions, 1);
    assert_int_equal(i.mem_bytes, MEM_SIZE);

    /* Hot-add memory while queues run: they are stopped and restarted. */
    struct vhu_mem_single add = {.r = {.gpa = 0x100000000ull, .size = MEM_SIZE,
                                      .uva = UVA + 0x10000000ull}};
    int mfd = new_memfd(MEM_SIZE);
    ack_ok(t, VHOST_USER_ADD_MEM_REG, &add, sizeof(add), &mfd, 1);
    close(mfd);
    assert_int_equal(t->m.starts[0], 2);
    assert_int_equal(t->m.vq[0]->last_avail, 7); /* restarted where it stopped */
    assert_int_equal(info(t).mem_regions, 2);
    ack_ok(t, VHOST_USER_REM_MEM_REG, &add, sizeof(add), NULL, 0);
    assert_int_equal(info(t).mem_regions, 1);
    assert_int_equal(info(t).queues_started, 2);

    /* QEMU 7.2 adds and removes a region once per queue pair of a NIC: the
     * same region of the same file counts, it goes with its last remove. */
    mfd = new_memfd(MEM_SIZE);
    int again = dup(mfd);
    ack_ok(t, VHOST_USER_ADD_MEM_REG, &add, sizeof(add), &mfd, 1);
    ack_ok(t, VHOST_USER_ADD_MEM_REG, &add, sizeof(add), &again, 1);
    close(again);
    assert_int_equal(info(t).mem_regions, 2);
    assert_int_equal(t->m.starts[0], 4); /* the second add changed nothing */
    ack_ok(t, VHOST_USER_REM_MEM_REG, &add, sizeof(add), NULL, 0);
    assert_int_equal(info(t).mem_regions, 2);
    ack_ok(t, VHOST_USER_REM_MEM_REG, &add, sizeof(add), NULL, 0);
    assert_int_equal(info(t).mem_regions, 1);
    close(mfd);

    /* Dirty log: the reply is a u64 0. */
    struct vhu_log lg = {.size = 4096, .offset = 0};
    int lfd = new_memfd(4096);
    send_raw(t, VHOST_USER_SET_LOG_BASE, 0, &lg, sizeof(lg), &lfd, 1);
    close(lfd);
    uint64_t u = 1;
    assert_int_equal(recv_reply(t, &h, &u, sizeof(u), NULL), 1);
    assert_int_equal(h.request, VHOST_USER_SET_LOG_BASE);
    assert_int_equal(u, 0);
    /* Logging the used ring of a running queue. */
    struct vhu_vring_addr a = ring_addr(1);
    a.flags = 1u << VHOST_VRING_F_LOG;
    a.log = 0x12000;
    ack_ok(t, VHOST_USER_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
    assert_true(t->m.vq[1]->log_used);
    assert_int_equal(t->m.vq[1]->used_log_gpa, 0x12000);

    /* GET_VRING_BASE stops the ring and reports where it stopped. */
    int stops = t->m.stops[0];
    struct vhu_vring_state s = {0, 0};
    send_raw(t, VHOST_USER_GET_VRING_BASE, 0, &s, 8, NULL, 0);
    struct vhu_vring_state rs;
    assert_int_equal(recv_reply(t, &h, &rs, sizeof(rs), NULL), 1);
    assert_int_equal(t->m.stops[0], stops + 1);
    assert_int_equal(rs.index, 0);
    assert_int_equal(rs.num, t->m.vq[0]->last_avail);
    assert_int_equal(info(t).queues_started, 1);

    /* Disconnect: everything stops and is forgotten; no failure. */
    client_close(t);
    for (int k = 0; k < 200 && info(t).connected; k++)
        pump(t, 1);
    i = info(t);
    assert_false(i.connected);
    assert_false(i.failed);
    assert_int_equal(i.queues_started, 0);
    assert_int_equal(i.mem_regions, 0);
    assert_true(t->m.resets >= 1);
    expect_recovers(t);
}

static void test_wrong_state(void **state)
{
    struct t *t = *state;
    client_connect(t);
    handshake(t);
    struct vhu_vring_addr a = ring_addr(0);
    assert_int_equal(acked(t, VHOST_USER_SET_VRING_ADDR, &a, sizeof(a), NULL, 0), 1);
    expect_failed(t, "before any memory table");
    expect_recovers(t);

    /* Resizing a running ring. */
    running(t, 1);
    struct vhu_vring_state s = {0, 128};
    assert_int_equal(acked(t, VHOST_USER_SET_VRING_NUM, &s, 8, NULL, 0), 1);
    expect_failed(t, "is running");
    assert_true(t->m.stops[0] >= 1);
    expect_recovers(t);
}

static void test_bad_index(void **state)
{
    struct t *t = *state;
    client_connect(t);
    handshake(t);
    struct vhu_vring_state s = {5, 256};
    assert_int_equal(acked(t, VHOST_USER_SET_VRING_NUM, &s, 8, NULL, 0), 1);
    expect_failed(t, "out of range");
    expect_recovers(t);

    client_connect(t);
    uint64_t u = 2 | VHOST_USER_VRING_NOFD_MASK;
    assert_int_equal(acked(t, VHOST_USER_SET_VRING_KICK, &u, 8, NULL, 0), 1);
    expect_failed(t, "out of range");
    expect_recovers(t);
}

static void test_bad_sizes(void **state)
{
    struct t *t = *state;
    uint32_t bad_nums[] = {100, 65536, 0};
    for (size_t k = 0; k < 3; k++) {
        client_connect(t);
        struct vhu_vring_state s = {0, bad_nums[k]};
        assert_int_equal(acked(t, VHOST_USER_SET_VRING_NUM, &s, 8, NULL, 0), 1);
        expect_failed(t, "power of two");
        expect_recovers(t);
    }
    /* Payload shorter than the message needs. */
    client_connect(t);
    uint32_t half = 0;
    assert_int_equal(acked(t, VHOST_USER_SET_VRING_NUM, &half, 4, NULL, 0), 1);
    expect_failed(t, "payload is 4 bytes");
    expect_recovers(t);
    /* Size field larger than any message. */
    client_connect(t);
    assert_int_equal(acked(t, VHOST_USER_SET_MEM_TABLE, NULL, 0, NULL, 0), 1);
    expect_failed(t, "too short");
    expect_recovers(t);
    client_connect(t);
    struct vhu_hdr big = {VHOST_USER_SET_MEM_TABLE, VHOST_USER_VERSION, 5000};
    assert_int_equal(write(t->cl, &big, sizeof(big)), 12);
    expect_failed(t, "exceeds");
    expect_recovers(t);
    /* Config range outside the protocol's 256-byte window. */
    client_connect(t);
    struct vhu_config c = {.offset = 250, .size = 8};
    send_raw(t, VHOST_USER_GET_CONFIG, 0, &c, VHOST_USER_CONFIG_HDR + 8, NULL, 0);
    expect_failed(t, "outside");
    expect_recovers(t);
}

static void test_fd_abuse(void **state)
{
    struct t *t = *state;
    int fds[9];
    for (int i = 0; i < 9; i++)
        fds[i] = eventfd(0, EFD_CLOEXEC);

    client_connect(t);
    uint64_t u = 0;
    send_raw(t, VHOST_USER_SET_VRING_KICK, VHOST_USER_NEED_REPLY_MASK, &u, 8, fds, 9);
    expect_failed(t, "more than 8");
    expect_recovers(t);

    client_connect(t);
    ack_ok(t, VHOST_USER_SET_OWNER, NULL, 0, NULL, 0);
    assert_int_equal(acked(t, VHOST_USER_SET_OWNER, NULL, 0, fds, 1), 1);
    expect_failed(t, "1 file descriptors, expected 0");
    expect_recovers(t);

    /* A fd promised by the message but missing. */
    client_connect(t);
    assert_int_equal(acked(t, VHOST_USER_SET_VRING_CALL, &u, 8, NULL, 0), 1);
    expect_failed(t, "0 file descriptors, expected 1");
    expect_recovers(t);
    for (int i = 0; i < 9; i++)
        close(fds[i]);
}

static void test_truncated_then_disconnect(void **state)
{
    struct t *t = *state;
    client_connect(t);
    handshake(t);
    uint8_t buf[12 + 10] = {0};
    struct vhu_hdr h = {VHOST_USER_SET_VRING_ADDR, VHOST_USER_VERSION, 40};
    memcpy(buf, &h, 12);
    assert_int_equal(write(t->cl, buf, sizeof(buf)), (ssize_t)sizeof(buf));
    pump(t, 10);
    assert_true(info(t).connected);
    client_close(t);
    for (int k = 0; k < 500 && info(t).connected; k++)
        pump(t, 1);
    struct vhost_dev_info i = info(t);
    assert_false(i.connected);
    assert_false(i.failed);
    assert_true(i.failures > 0);
    assert_non_null(strstr(i.why, "closed inside"));
    expect_recovers(t);
}

static void test_region_overlap(void **state)
{
    struct t *t = *state;
    client_connect(t);
    handshake(t);
    struct vhu_mem_table mt = {.nregions = 2};
    mt.r[0] = (struct vhu_mem_region){.gpa = 0, .size = MEM_SIZE, .uva = UVA};
    mt.r[1] = (struct vhu_mem_region){.gpa = MEM_SIZE / 2, .size = MEM_SIZE, .uva = UVA * 2};
    int fds[2] = {new_memfd(MEM_SIZE), new_memfd(MEM_SIZE)};
    assert_int_equal(acked(t, VHOST_USER_SET_MEM_TABLE, &mt, 8 + 64, fds, 2), 1);
    close(fds[0]);
    close(fds[1]);
    expect_failed(t, "SET_MEM_TABLE: region 1");
    expect_recovers(t);
}

static void test_ring_outside_memory(void **state)
{
    struct t *t = *state;
    client_connect(t);
    handshake(t);
    set_mem(t, 0, UVA, MEM_SIZE);
    struct vhu_vring_state s = {0, RING_NUM};
    ack_ok(t, VHOST_USER_SET_VRING_NUM, &s, 8, NULL, 0);
    struct vhu_vring_addr a = ring_addr(0);
    a.desc = UVA + MEM_SIZE - 0x100; /* the table runs past the end */
    assert_int_equal(acked(t, VHOST_USER_SET_VRING_ADDR, &a, sizeof(a), NULL, 0), 1);
    expect_failed(t, "not inside guest memory");
    expect_recovers(t);

    /* Misaligned used ring. */
    client_connect(t);
    handshake(t);
    set_mem(t, 0, UVA, MEM_SIZE);
    ack_ok(t, VHOST_USER_SET_VRING_NUM, &s, 8, NULL, 0);
    a = ring_addr(0);
    a.used += 2;
    assert_int_equal(acked(t, VHOST_USER_SET_VRING_ADDR, &a, sizeof(a), NULL, 0), 1);
    expect_failed(t, "aligned");
    expect_recovers(t);

    /* Removing the memory a running ring lives in. */
    running(t, 1);
    struct vhu_mem_single rem = {.r = {.gpa = 0, .size = MEM_SIZE, .uva = UVA}};
    assert_int_equal(acked(t, VHOST_USER_REM_MEM_REG, &rem, sizeof(rem), NULL, 0), 1);
    expect_failed(t, "not inside guest memory");
    expect_recovers(t);
}

static void test_unknown_request(void **state)
{
    struct t *t = *state;
    client_connect(t);
    assert_int_equal(acked(t, 99, NULL, 0, NULL, 0), 1);
    expect_failed(t, "unsupported request id 99");
    expect_recovers(t);

    /* Protocol feature bits never offered. */
    client_connect(t);
    uint64_t pf = 1ull << 4; /* CROSS_ENDIAN */
    assert_int_equal(acked(t, VHOST_USER_SET_PROTOCOL_FEATURES, &pf, 8, NULL, 0), 1);
    expect_failed(t, "not offered");
    expect_recovers(t);
}

static void *fail_from_thread(void *arg)
{
    vdev_fail(arg, 1, "test: descriptor loop in queue 1");
    return NULL;
}

static void test_datapath_failure(void **state)
{
    struct t *t = *state;
    int errfd = -1;
    pthread_t th;

    running(t, 1);
    setup_ring(t, 1, &errfd);
    assert_int_equal(pthread_create(&th, NULL, fail_from_thread, &t->m.vd), 0);
    pthread_join(th, NULL);
    expect_failed(t, "descriptor loop");
    uint64_t v = 0;
    assert_int_equal(read(errfd, &v, 8), 8);
    assert_int_equal(v, 1);
    close(errfd);
    assert_int_equal(t->m.stops[0], 1);
    assert_int_equal(t->m.stops[1], 1);
    expect_recovers(t);
}

static bool readable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, 0) == 1;
}

/* A ring whose device still holds requests is stopped only once they are
 * done, and the control thread does not wait for that: GET_VRING_BASE is
 * answered afterwards, the message behind it on the same connection waits
 * its turn, and another device on the same loop is served meanwhile. */
static void test_stop_waits_unblocked(void **state)
{
    struct t *t = *state;
    running(t, 2);
    t->m.busy[0] = true;
    struct vhu_vring_state s = {0, 0};
    send_raw(t, VHOST_USER_GET_VRING_BASE, 0, &s, 8, NULL, 0);
    send_raw(t, VHOST_USER_GET_QUEUE_NUM, 0, NULL, 0, NULL, 0);
    pump(t, 20);
    assert_int_equal(t->m.quiesce_on[0], 1);
    assert_int_equal(t->m.quiesce_on[1], 0);
    assert_int_equal(t->m.stops[0], 0);
    assert_false(readable(t->cl));

    struct t o = {.loop = t->loop, .cl = -1};
    o.m.vd.ops = &mock_ops;
    o.m.vd.name = "other";
    snprintf(o.path, sizeof(o.path), "%s/other.sock", t->dir);
    struct vhost_dev_cfg cfg = {.socket_path = o.path, .dev = &o.m.vd};
    const char *why = NULL;
    assert_int_equal(vhost_dev_create(t->loop, &cfg, &o.v, &why), 0);
    client_connect(&o);
    assert_int_equal(get_u64(&o, VHOST_USER_GET_QUEUE_NUM), NQ);
    client_close(&o);
    vhost_dev_destroy(o.v);
    assert_false(readable(t->cl));
    assert_int_equal(t->m.stops[0], 0);

    t->m.busy[0] = false;
    struct vhu_hdr h;
    struct vhu_vring_state got;
    assert_int_equal(recv_reply(t, &h, &got, sizeof(got), NULL), 1);
    assert_int_equal(h.request, VHOST_USER_GET_VRING_BASE);
    assert_int_equal(got.num, 7);
    assert_int_equal(t->m.stops[0], 1);
    uint64_t n = 0;
    assert_int_equal(recv_reply(t, &h, &n, sizeof(n), NULL), 1);
    assert_int_equal(h.request, VHOST_USER_GET_QUEUE_NUM);
    assert_int_equal(n, NQ);

    /* A message that stops no ring quiesces none; one that only may stop a
     * ring (enable, on a running one) releases it after. */
    s = (struct vhu_vring_state){1, 1};
    ack_ok(t, VHOST_USER_SET_VRING_ENABLE, &s, 8, NULL, 0);
    assert_int_equal(t->m.quiesce_on[1], 0);
    uint64_t f = (1ull << VIRTIO_F_VERSION_1) | (1ull << VHOST_USER_F_PROTOCOL_FEATURES) |
                 (1ull << VHOST_F_LOG_ALL);
    ack_ok(t, VHOST_USER_SET_FEATURES, &f, 8, NULL, 0);
    assert_int_equal(t->m.quiesce_on[1], 0);
    uint64_t u = 1;
    int call = eventfd(0, EFD_CLOEXEC);
    ack_ok(t, VHOST_USER_SET_VRING_CALL, &u, 8, &call, 1);
    close(call);
    assert_int_equal(t->m.quiesce_on[1], 1);
    assert_int_equal(t->m.stops[1], 1);
    assert_int_equal(t->m.starts[1], 2);
}

/* A frontend that hangs up while a ring holds requests: the teardown waits
 * for them without blocking the loop; so does the teardown after a failure
 * that comes while a message waits. */
static void test_hangup_waits_unblocked(void **state)
{
    struct t *t = *state;
    running(t, 1);
    t->m.busy[0] = true;
    client_close(t);
    pump(t, 20);
    assert_int_equal(t->m.stops[0], 0);
    assert_int_equal(t->m.resets, 0);
    assert_true(info(t).connected);
    t->m.busy[0] = false;
    for (int i = 0; i < 2000 && info(t).connected; i++)
        pump(t, 1);
    assert_false(info(t).connected);
    assert_int_equal(t->m.stops[0], 1);
    assert_int_equal(t->m.resets, 1);

    client_connect(t);
    handshake(t);
    set_mem(t, 0, UVA, MEM_SIZE);
    setup_ring(t, 1, NULL);
    t->m.busy[1] = true;
    struct vhu_vring_state s = {1, 0};
    send_raw(t, VHOST_USER_GET_VRING_BASE, 0, &s, 8, NULL, 0);
    pump(t, 20);
    assert_int_equal(t->m.stops[1], 0);
    /* The device fails meanwhile: the message is dropped, and the teardown
     * waits for the ring instead (the device finishes what its backend
     * holds); the failure is reported once. */
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, fail_from_thread, &t->m.vd), 0);
    pthread_join(th, NULL);
    pump(t, 20);
    assert_true(info(t).connected);
    assert_true(info(t).failed);
    assert_int_equal(info(t).failures, 1);
    assert_int_equal(t->m.stops[1], 0);
    t->m.busy[1] = false;
    expect_failed(t, "descriptor loop");
    assert_int_equal(t->m.stops[1], 1);
    assert_int_equal(info(t).failures, 1);
    expect_recovers(t);
}

/* SEND_RARP (end of a live migration): offered with the device's announce,
 * the MAC address handed over; a multicast address, or the message without
 * the protocol feature, stops the device. */
static void test_send_rarp(void **state)
{
    struct t *t = *state;
    client_connect(t);
    handshake(t);
    uint64_t mac = 0;
    memcpy(&mac, (uint8_t[]){0x52, 0x54, 0, 0x12, 0x34, 0x56}, 6);
    ack_ok(t, VHOST_USER_SEND_RARP, &mac, 8, NULL, 0);
    assert_int_equal(t->m.announces, 1);
    assert_memory_equal(t->m.announced, ((uint8_t[]){0x52, 0x54, 0, 0x12, 0x34, 0x56}), 6);
    mac |= 1; /* group bit */
    assert_int_equal(acked(t, VHOST_USER_SEND_RARP, &mac, 8, NULL, 0), 1);
    expect_failed(t, "multicast");
    assert_int_equal(t->m.announces, 1);

    client_connect(t);
    uint64_t f = (1ull << VIRTIO_F_VERSION_1) | (1ull << VHOST_USER_F_PROTOCOL_FEATURES);
    ack_ok(t, VHOST_USER_SET_FEATURES, &f, 8, NULL, 0);
    uint64_t pf = 1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK;
    ack_ok(t, VHOST_USER_SET_PROTOCOL_FEATURES, &pf, 8, NULL, 0);
    mac &= ~1ull;
    assert_int_equal(acked(t, VHOST_USER_SEND_RARP, &mac, 8, NULL, 0), 1);
    expect_failed(t, "RARP was not negotiated");
    assert_int_equal(t->m.announces, 1);
    expect_recovers(t);
}

/* The backend channel: a socket from SET_BACKEND_REQ_FD carries
 * CONFIG_CHANGE_MSG (no reply asked) when the device changed its config;
 * a channel fd that is not a socket stops the device. */
static void test_backend_channel(void **state)
{
    struct t *t = *state;
    client_connect(t);
    handshake(t);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    ack_ok(t, VHOST_USER_SET_BACKEND_REQ_FD, NULL, 0, &sv[1], 1);
    close(sv[1]);
    t->m.vd.on_config_change(&t->m.vd, t->m.vd.on_config_opaque);
    struct vhu_hdr h;
    assert_int_equal(recv(sv[0], &h, sizeof(h), MSG_DONTWAIT), (ssize_t)sizeof(h));
    assert_int_equal(h.request, 2); /* CONFIG_CHANGE_MSG */
    assert_int_equal(h.flags, VHOST_USER_VERSION);
    assert_int_equal(h.size, 0);
    client_close(t);
    pump(t, 20);
    char c;
    assert_int_equal(recv(sv[0], &c, 1, 0), 0); /* the channel closed with the connection */
    close(sv[0]);

    client_connect(t);
    handshake(t);
    int efd = eventfd(0, EFD_CLOEXEC);
    assert_int_equal(acked(t, VHOST_USER_SET_BACKEND_REQ_FD, NULL, 0, &efd, 1), 1);
    close(efd);
    expect_failed(t, "not a socket");
    expect_recovers(t);
}

/* A frontend that sends requests and never reads the replies: once its
 * socket is full the device fails at once with a reason, instead of the
 * control thread waiting for the frontend to read (it serves every device). */
static void test_unread_replies(void **state)
{
    struct t *t = *state;
    client_connect(t);
    struct vhu_hdr h = {VHOST_USER_GET_FEATURES, VHOST_USER_VERSION, 0};
    for (int i = 0; i < 200000 && !info(t).failures; i++) {
        if (send(t->cl, &h, sizeof(h), MSG_DONTWAIT | MSG_NOSIGNAL) < 0 && errno != EAGAIN)
            break;
        pump(t, 1);
    }
    struct vhost_dev_info in = info(t);
    assert_true(in.failures > 0);
    if (!strstr(in.why, "does not read its replies"))
        fail_msg("why \"%s\"", in.why);
    client_close(t);
    pump(t, 20);
    expect_recovers(t);
}

static void test_second_frontend_refused(void **state)
{
    struct t *t = *state;
    client_connect(t);
    int first = t->cl;
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", t->path);
    int second = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(connect(second, (struct sockaddr *)&a, sizeof(a)), 0);
    pump(t, 20);
    char c;
    assert_int_equal(recv(second, &c, 1, MSG_DONTWAIT), 0); /* closed by the backend */
    close(second);
    t->cl = first;
    assert_int_not_equal(get_u64(t, VHOST_USER_GET_FEATURES), 0);
    assert_false(info(t).failed);
}


/* Client mode: we connect to a listening frontend, and come back after it
 * drops us (reconnect timer, bounded backoff). */
static int accept_within(struct t *t, int lfd)
{
    struct pollfd p = {.fd = lfd, .events = POLLIN};
    for (int i = 0; i < 3000; i++) {
        pump(t, 1);
        if (poll(&p, 1, 0) == 1)
            return accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    }
    return -1;
}

static void test_client_reconnect(void **state)
{
    struct t *t = *state;
    struct vhost_dev *server = t->v;
    char cpath[96];
    snprintf(cpath, sizeof(cpath), "%s/front.sock", t->dir);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", cpath);

    /* Nobody listens yet: the device keeps retrying. */
    struct vhost_dev_cfg cfg = {.socket_path = cpath, .client = true, .dev = &t->m.vd};
    const char *why = NULL;
    vhost_dev_destroy(server); /* one transport per vdev */
    assert_int_equal(vhost_dev_create(t->loop, &cfg, &t->v, &why), 0);
    pump(t, 50);
    assert_false(info(t).connected);

    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(lfd, 1), 0);
    t->cl = accept_within(t, lfd);
    assert_true(t->cl >= 0);
    for (int i = 0; i < 100 && !info(t).connected; i++)
        pump(t, 1);
    assert_true(info(t).connected);
    assert_true(get_u64(t, VHOST_USER_GET_FEATURES) & (1ull << VHOST_F_LOG_ALL));

    /* A bad message fails the device; it reconnects and serves again. */
    struct vhu_vring_state s = {9, 256};
    assert_int_equal(acked(t, VHOST_USER_SET_VRING_NUM, &s, 8, NULL, 0), 1);
    expect_failed(t, "out of range");
    t->cl = accept_within(t, lfd);
    assert_true(t->cl >= 0);
    assert_true(get_u64(t, VHOST_USER_GET_FEATURES) & (1ull << VHOST_F_LOG_ALL));
    assert_false(info(t).failed);
    assert_int_equal(info(t).connections, 2);
    client_close(t);
    close(lfd);
    unlink(cpath);
    /* teardown destroys t->v; it expects the server path gone, as it is. */
}

/* Packed rings: any size, small event areas, and SET/GET_VRING_BASE carry
 * the position with its wrap counter (bit 15), the used half in the high
 * 16 bits (QEMU's encoding; DPDK sends 0 there). */
/* A device's feature bits change only while its queues are stopped: a
 * frontend that renegotiates under running rings gets them stopped,
 * the features applied, and the rings restarted where they were. */
static void test_features_while_running(void **state)
{
    struct t *t = *state;
    running(t, 2);
    uint64_t f = (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_EVENT_IDX) |
                 (1ull << VHOST_USER_F_PROTOCOL_FEATURES);
    ack_ok(t, VHOST_USER_SET_FEATURES, &f, 8, NULL, 0);
    assert_int_equal(t->m.set_while_running, 0);
    assert_int_equal(t->m.features, f & ~(1ull << VHOST_USER_F_PROTOCOL_FEATURES));
    for (unsigned i = 0; i < NQ; i++) {
        assert_int_equal(t->m.stops[i], 1);
        assert_int_equal(t->m.starts[i], 2);
        assert_true(t->m.vq[i]->event_idx);
        assert_int_equal(t->m.vq[i]->last_avail, 7); /* restarted where it stopped */
    }
    /* Toggling only LOG_ALL (migration) leaves the rings alone. */
    f |= 1ull << VHOST_F_LOG_ALL;
    ack_ok(t, VHOST_USER_SET_FEATURES, &f, 8, NULL, 0);
    assert_int_equal(t->m.stops[0], 1);
    assert_false(info(t).failed);
    assert_int_equal(info(t).queues_started, NQ);
}

static void test_packed_ring_base(void **state)
{
    struct t *t = *state;
    client_connect(t);
    uint64_t f = get_u64(t, VHOST_USER_GET_FEATURES);
    assert_true(f & (1ull << VIRTIO_F_RING_PACKED));
    send_raw(t, VHOST_USER_SET_OWNER, 0, NULL, 0, NULL, 0);
    uint64_t pf = get_u64(t, VHOST_USER_GET_PROTOCOL_FEATURES);
    ack_ok(t, VHOST_USER_SET_PROTOCOL_FEATURES, &pf, 8, NULL, 0);
    uint64_t want = (1ull << VIRTIO_F_VERSION_1) | (1ull << VHOST_USER_F_PROTOCOL_FEATURES) |
                    (1ull << VIRTIO_F_RING_PACKED);
    ack_ok(t, VHOST_USER_SET_FEATURES, &want, 8, NULL, 0);
    set_mem(t, 0, UVA, MEM_SIZE);

    struct vhu_vring_state s = {0, 100}; /* not a power of two */
    ack_ok(t, VHOST_USER_SET_VRING_NUM, &s, 8, NULL, 0);
    s.num = 0x80058005; /* position 5, counter 1, both halves */
    ack_ok(t, VHOST_USER_SET_VRING_BASE, &s, 8, NULL, 0);
    /* The event areas are 4 bytes: they may sit at the end of memory. */
    struct vhu_vring_addr a = {.index = 0, .desc = UVA + 0x10000, .avail = UVA + MEM_SIZE - 8,
                               .used = UVA + MEM_SIZE - 4};
    ack_ok(t, VHOST_USER_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
    int kick = eventfd(0, EFD_CLOEXEC);
    uint64_t u = 0;
    ack_ok(t, VHOST_USER_SET_VRING_KICK, &u, 8, &kick, 1);
    close(kick);
    s = (struct vhu_vring_state){0, 1};
    ack_ok(t, VHOST_USER_SET_VRING_ENABLE, &s, 8, NULL, 0);
    assert_int_equal(t->m.starts[0], 1);
    struct virtq *vq = t->m.vq[0];
    assert_true(vq->packed);
    assert_int_equal(vq->num, 100);
    assert_int_equal(vq->last_avail, 0x8005);
    assert_int_equal(vq->used_idx, 0x8005);

    struct vhu_hdr h;
    struct vhu_vring_state rs;
    s = (struct vhu_vring_state){0, 0};
    send_raw(t, VHOST_USER_GET_VRING_BASE, 0, &s, 8, NULL, 0);
    assert_int_equal(recv_reply(t, &h, &rs, sizeof(rs), NULL), 1);
    /* The mock's stop consumed seven descriptors and completed none. */
    assert_int_equal(rs.num, 0x8005800c);

    /* DPDK's form (low half only) is taken as used == avail. */
    s = (struct vhu_vring_state){0, 0x0007};
    ack_ok(t, VHOST_USER_SET_VRING_BASE, &s, 8, NULL, 0);
    send_raw(t, VHOST_USER_GET_VRING_BASE, 0, &s, 8, NULL, 0);
    assert_int_equal(recv_reply(t, &h, &rs, sizeof(rs), NULL), 1);
    assert_int_equal(rs.num, 0x00070007);

    /* A base position beyond the ring stops the device at start. */
    s = (struct vhu_vring_state){0, 0x8000 | 100};
    ack_ok(t, VHOST_USER_SET_VRING_BASE, &s, 8, NULL, 0);
    kick = eventfd(0, EFD_CLOEXEC);
    send_raw(t, VHOST_USER_SET_VRING_KICK, 0, &u, 8, &kick, 1);
    close(kick);
    expect_failed(t, "beyond the ring size");
    expect_recovers(t);

    /* Used and avail halves that disagree mean requests in flight. */
    client_connect(t);
    ack_ok(t, VHOST_USER_SET_FEATURES, &want, 8, NULL, 0);
    s = (struct vhu_vring_state){0, 0x80038005};
    send_raw(t, VHOST_USER_SET_VRING_BASE, 0, &s, 8, NULL, 0);
    expect_failed(t, "differs from avail state");

    /* With an inflight area they may: the area says where the ring is. One
     * that was never used knows nothing, so the start is refused. */
    client_connect(t);
    send_raw(t, VHOST_USER_SET_OWNER, 0, NULL, 0, NULL, 0);
    ack_ok(t, VHOST_USER_SET_PROTOCOL_FEATURES, &pf, 8, NULL, 0);
    ack_ok(t, VHOST_USER_SET_FEATURES, &want, 8, NULL, 0);
    struct vhu_inflight in = {.num_queues = 1, .queue_size = 64}, rin;
    int ifd = -1;
    send_raw(t, VHOST_USER_GET_INFLIGHT_FD, 0, &in, sizeof(in), NULL, 0);
    assert_int_equal(recv_reply(t, &h, &rin, sizeof(rin), &ifd), 1);
    assert_int_equal(rin.mmap_size, vq_inflight_queue_bytes(64));
    ack_ok(t, VHOST_USER_SET_INFLIGHT_FD, &rin, sizeof(rin), &ifd, 1);
    close(ifd);
    set_mem(t, 0, UVA, MEM_SIZE);
    s = (struct vhu_vring_state){0, 64};
    ack_ok(t, VHOST_USER_SET_VRING_NUM, &s, 8, NULL, 0);
    s = (struct vhu_vring_state){0, 0x80038005};
    ack_ok(t, VHOST_USER_SET_VRING_BASE, &s, 8, NULL, 0);
    ack_ok(t, VHOST_USER_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
    kick = eventfd(0, EFD_CLOEXEC);
    ack_ok(t, VHOST_USER_SET_VRING_KICK, &u, 8, &kick, 1);
    close(kick);
    s = (struct vhu_vring_state){0, 1};
    send_raw(t, VHOST_USER_SET_VRING_ENABLE, 0, &s, 8, NULL, 0);
    expect_failed(t, "holds no packed-ring state");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_good_handshake, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_index, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_sizes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fd_abuse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_then_disconnect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_region_overlap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ring_outside_memory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_request, setup, teardown),
        cmocka_unit_test_setup_teardown(test_datapath_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_second_frontend_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_reconnect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_packed_ring_base, setup, teardown),
        cmocka_unit_test_setup_teardown(test_features_while_running, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_waits_unblocked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hangup_waits_unblocked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_send_rarp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backend_channel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unread_replies, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
