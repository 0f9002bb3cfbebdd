/* vu_hostile: a hostile vhost-user frontend for testing a running backend.
 *
 *   vu_hostile SOCKET_PATH SCENARIO|all|list
 *
 * Each scenario uses its own connection: it either sends one malformed or
 * out-of-state message (expecting an error reply when it asked for one, then
 * the backend closing the connection), or sets a device up properly with
 * memfd guest memory and then corrupts the ring (descriptor loop, buffer
 * outside memory, head out of range, avail index far ahead, bad indirect
 * table; on a packed ring: buffer id out of range, an id used twice, a
 * chain longer than the ring, indirect inside indirect) and kicks,
 * expecting the backend to close the connection. At the
 * end it checks that the device still accepts a well-behaved connection.
 * Exit status 0 when every scenario got the expected reaction; every wait is
 * bounded. */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/fdpass.h"
#include "vhost/vhost_msg.h"
#include "virtq/virtio_packed.h"
#include "virtq/virtio_spec.h"

#define WAIT_MS 5000
#define MEM_SIZE (4u << 20)
#define QNUM 128u

static const char *sock_path;

struct fe {
    int fd;
    uint8_t *mem; /* guest memory, shared with the backend */
    int memfd;
    int kick, call;
    struct vring_desc *desc;
    struct vring_avail *avail;
    struct vring_used *used;
    bool packed; /* set before proper_setup: negotiate RING_PACKED; desc is then
                  * the descriptor ring (use pdesc), avail/used the event areas */
    struct vring_packed_desc *pdesc;
};

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int send_msg(struct fe *f, uint32_t req, uint32_t flags, const void *p, uint32_t size,
                    const int *fds, unsigned nfds)
{
    uint8_t buf[12 + 512];
    struct vhu_hdr h = {req, flags, size};
    union {
        char b[CMSG_SPACE(sizeof(int) * 16)];
        struct cmsghdr align;
    } ctrl;
    if (size > 512)
        return -1;
    memcpy(buf, &h, 12);
    if (size)
        memcpy(buf + 12, p, size);
    struct iovec iov = {.iov_base = buf, .iov_len = 12 + size};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (fdpass_attach(&mh, ctrl.b, sizeof(ctrl.b), fds, nfds))
        return -1;
    return sendmsg(f->fd, &mh, MSG_NOSIGNAL) == (ssize_t)(12 + size) ? 0 : -1;
}

static int send_req(struct fe *f, uint32_t req, bool ack, const void *p, uint32_t size,
                    const int *fds, unsigned nfds)
{
    return send_msg(f, req, VHOST_USER_VERSION | (ack ? VHOST_USER_NEED_REPLY_MASK : 0), p, size,
                    fds, nfds);
}

/* 1: reply (payload copied, fds closed); 0: closed; -1: timeout or error. */
static int recv_reply(struct fe *f, struct vhu_hdr *h, void *payload, size_t max, int ms)
{
    struct pollfd p = {.fd = f->fd, .events = POLLIN};
    if (poll(&p, 1, ms) != 1)
        return -1;
    union {
        char b[CMSG_SPACE(sizeof(int) * 8)];
        struct cmsghdr align;
    } ctrl;
    struct iovec iov = {.iov_base = h, .iov_len = sizeof(*h)};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctrl.b,
                        .msg_controllen = sizeof(ctrl.b)};
    ssize_t n = recvmsg(f->fd, &mh, MSG_WAITALL);
    if (n == 0 || (n < 0 && errno == ECONNRESET))
        return 0;
    if (n != 12)
        return -1;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
        int fd;
        memcpy(&fd, CMSG_DATA(cm), sizeof(int));
        close(fd);
    }
    uint8_t sink[512];
    if (h->size > sizeof(sink))
        return -1;
    if (h->size && recv(f->fd, sink, h->size, MSG_WAITALL) != (ssize_t)h->size)
        return -1;
    memcpy(payload, sink, h->size < max ? h->size : max);
    return 1;
}

static int get_u64(struct fe *f, uint32_t req, uint64_t *out)
{
    struct vhu_hdr h;
    if (send_req(f, req, false, NULL, 0, NULL, 0) < 0)
        return -1;
    if (recv_reply(f, &h, out, sizeof(*out), WAIT_MS) != 1 || h.request != req || h.size != 8)
        return -1;
    return 0;
}

/* Message with NEED_REPLY that must succeed. */
static int ok(struct fe *f, uint32_t req, const void *p, uint32_t size, const int *fds,
              unsigned nfds)
{
    struct vhu_hdr h;
    uint64_t u = 1;
    if (send_req(f, req, true, p, size, fds, nfds) < 0)
        return -1;
    if (recv_reply(f, &h, &u, sizeof(u), WAIT_MS) != 1 || h.request != req || u != 0) {
        fprintf(stderr, "vu_hostile: setup step %s was not accepted\n", vhost_msg_name(req));
        return -1;
    }
    return 0;
}

static void fe_close(struct fe *f)
{
    if (f->fd >= 0)
        close(f->fd);
    if (f->mem)
        munmap(f->mem, MEM_SIZE);
    if (f->memfd >= 0)
        close(f->memfd);
    if (f->kick >= 0)
        close(f->kick);
    if (f->call >= 0)
        close(f->call);
    memset(f, 0, sizeof(*f));
    f->fd = f->memfd = f->kick = f->call = -1;
}

/* Connects and checks the backend talks to us (it refuses a second frontend
 * until it has finished with the previous one, so retry for a while). */
static int fe_open(struct fe *f)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    memset(f, 0, sizeof(*f));
    f->fd = f->memfd = f->kick = f->call = -1;
    if (strlen(sock_path) >= sizeof(a.sun_path))
        return -1;
    strcpy(a.sun_path, sock_path);
    for (int tries = 0; tries < WAIT_MS / 50; tries++) {
        uint64_t feat;
        f->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (f->fd >= 0 && connect(f->fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
            get_u64(f, VHOST_USER_GET_FEATURES, &feat) == 0)
            return 0;
        if (f->fd >= 0)
            close(f->fd);
        f->fd = -1;
        sleep_ms(50);
    }
    fprintf(stderr, "vu_hostile: cannot get a working connection to %s\n", sock_path);
    return -1;
}

/* The expected reaction: any replies are failures, then the backend closes. */
static int expect_closed(struct fe *f)
{
    struct vhu_hdr h;
    uint64_t u = 0;
    int r;
    while ((r = recv_reply(f, &h, &u, sizeof(u), WAIT_MS)) == 1) {
        if (h.size == 8 && u == 0) {
            fprintf(stderr, "vu_hostile: the backend acknowledged %s as a success\n",
                    vhost_msg_name(h.request));
            return -1;
        }
    }
    if (r < 0) {
        fprintf(stderr, "vu_hostile: the backend did not close the connection within %d ms\n",
                WAIT_MS);
        return -1;
    }
    return 0;
}

/* Proper setup: what QEMU does, with guest memory in a memfd that we map
 * too (our own mapping address serves as the frontend's user address). */
static int proper_setup(struct fe *f, bool rings)
{
    uint64_t feat, pf;
    if (get_u64(f, VHOST_USER_GET_FEATURES, &feat) < 0 ||
        send_req(f, VHOST_USER_SET_OWNER, false, NULL, 0, NULL, 0) < 0 ||
        get_u64(f, VHOST_USER_GET_PROTOCOL_FEATURES, &pf) < 0)
        return -1;
    pf &= (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK) | (1ull << VHOST_USER_PROTOCOL_F_MQ) |
          (1ull << VHOST_USER_PROTOCOL_F_CONFIG);
    if (!(pf & (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK))) {
        fprintf(stderr, "vu_hostile: backend does not offer REPLY_ACK\n");
        return -1;
    }
    uint64_t want = feat & ((1ull << VIRTIO_F_VERSION_1) | (1ull << VHOST_USER_F_PROTOCOL_FEATURES) |
                            (1ull << VIRTIO_RING_F_INDIRECT_DESC) |
                            (f->packed ? 1ull << VIRTIO_F_RING_PACKED : 0));
    if (f->packed && !(want & (1ull << VIRTIO_F_RING_PACKED))) {
        fprintf(stderr, "vu_hostile: backend does not offer RING_PACKED\n");
        return -1;
    }
    if (ok(f, VHOST_USER_SET_PROTOCOL_FEATURES, &pf, 8, NULL, 0) < 0 ||
        ok(f, VHOST_USER_SET_FEATURES, &want, 8, NULL, 0) < 0)
        return -1;
    f->memfd = memfd_create("vu_hostile-guest", MFD_CLOEXEC);
    if (f->memfd < 0 || ftruncate(f->memfd, MEM_SIZE) < 0)
        return -1;
    f->mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, f->memfd, 0);
    if (f->mem == MAP_FAILED) {
        f->mem = NULL;
        return -1;
    }
    struct vhu_mem_table mt = {.nregions = 1};
    mt.r[0] = (struct vhu_mem_region){.gpa = 0, .size = MEM_SIZE, .uva = (uintptr_t)f->mem};
    if (ok(f, VHOST_USER_SET_MEM_TABLE, &mt, 8 + 32, &f->memfd, 1) < 0)
        return -1;
    if (!rings)
        return 0;
    f->desc = (struct vring_desc *)(f->mem + 0x10000);
    f->avail = (struct vring_avail *)(f->mem + 0x11000);
    f->used = (struct vring_used *)(f->mem + 0x12000);
    f->pdesc = (struct vring_packed_desc *)f->desc;
    struct vhu_vring_state s = {0, QNUM};
    struct vhu_vring_addr a = {.index = 0, .desc = (uintptr_t)f->desc,
                              .avail = (uintptr_t)f->avail, .used = (uintptr_t)f->used};
    uint64_t idx = 0;
    f->kick = eventfd(0, EFD_CLOEXEC);
    f->call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (ok(f, VHOST_USER_SET_VRING_NUM, &s, 8, NULL, 0) < 0)
        return -1;
    s.num = f->packed ? VRING_PACKED_WRAP : 0;
    if (ok(f, VHOST_USER_SET_VRING_BASE, &s, 8, NULL, 0) < 0 ||
        ok(f, VHOST_USER_SET_VRING_ADDR, &a, sizeof(a), NULL, 0) < 0 ||
        ok(f, VHOST_USER_SET_VRING_CALL, &idx, 8, &f->call, 1) < 0 ||
        ok(f, VHOST_USER_SET_VRING_KICK, &idx, 8, &f->kick, 1) < 0)
        return -1;
    s.num = 1;
    uint64_t st = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                  VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK;
    if (ok(f, VHOST_USER_SET_VRING_ENABLE, &s, 8, NULL, 0) < 0 ||
        ok(f, VHOST_USER_SET_STATUS, &st, 8, NULL, 0) < 0)
        return -1;
    return 0;
}

static int kick(struct fe *f)
{
    uint64_t one = 1;
    __atomic_thread_fence(__ATOMIC_RELEASE);
    return write(f->kick, &one, 8) == 8 ? 0 : -1;
}

static void make_avail(struct fe *f, uint16_t head, uint16_t idx)
{
    f->avail->ring[0] = head;
    __atomic_store_n(&f->avail->idx, idx, __ATOMIC_RELEASE);
}

/* ---- scenarios: 0 = sent (the reaction is checked by the caller) ---- */

static int s_wrong_state(struct fe *f)
{
    struct vhu_vring_addr a = {.index = 0, .desc = 0x1000, .avail = 0x2000, .used = 0x3000};
    return send_req(f, VHOST_USER_SET_VRING_ADDR, true, &a, sizeof(a), NULL, 0);
}

static int s_bad_index(struct fe *f)
{
    struct vhu_vring_state s = {200, QNUM};
    return send_req(f, VHOST_USER_SET_VRING_NUM, true, &s, 8, NULL, 0);
}

static int s_bad_ring_size(struct fe *f)
{
    struct vhu_vring_state s = {0, 100};
    return send_req(f, VHOST_USER_SET_VRING_NUM, true, &s, 8, NULL, 0);
}

static int s_huge_ring(struct fe *f)
{
    struct vhu_vring_state s = {0, 65536};
    return send_req(f, VHOST_USER_SET_VRING_NUM, true, &s, 8, NULL, 0);
}

static int s_short_payload(struct fe *f)
{
    uint32_t half = 0;
    return send_req(f, VHOST_USER_SET_VRING_NUM, true, &half, 4, NULL, 0);
}

static int s_size_over_max(struct fe *f)
{
    struct vhu_hdr h = {VHOST_USER_SET_MEM_TABLE, VHOST_USER_VERSION | VHOST_USER_NEED_REPLY_MASK,
                       0x10000000u};
    return write(f->fd, &h, sizeof(h)) == (ssize_t)sizeof(h) ? 0 : -1;
}

static int s_bad_version(struct fe *f)
{
    return send_msg(f, VHOST_USER_GET_FEATURES, 2, NULL, 0, NULL, 0);
}

static int s_too_many_fds(struct fe *f)
{
    int fds[9], rc;
    for (int i = 0; i < 9; i++)
        fds[i] = eventfd(0, EFD_CLOEXEC);
    uint64_t idx = 0;
    rc = send_req(f, VHOST_USER_SET_VRING_KICK, true, &idx, 8, fds, 9);
    for (int i = 0; i < 9; i++)
        close(fds[i]);
    return rc;
}

static int s_fd_on_fdless(struct fe *f)
{
    int fd = eventfd(0, EFD_CLOEXEC);
    int rc = send_req(f, VHOST_USER_SET_OWNER, true, NULL, 0, &fd, 1);
    close(fd);
    return rc;
}

static int s_missing_fd(struct fe *f)
{
    uint64_t idx = 0;
    return send_req(f, VHOST_USER_SET_VRING_CALL, true, &idx, 8, NULL, 0);
}

static int s_unknown_request(struct fe *f)
{
    return send_req(f, 99, true, NULL, 0, NULL, 0);
}

static int s_bad_config(struct fe *f)
{
    struct vhu_config c = {.offset = 0xffff0000u, .size = 16};
    return send_req(f, VHOST_USER_GET_CONFIG, false, &c, VHOST_USER_CONFIG_HDR + 16, NULL, 0);
}

static int s_region_overlap(struct fe *f)
{
    struct vhu_mem_table mt = {.nregions = 2};
    int fds[2] = {memfd_create("a", MFD_CLOEXEC), memfd_create("b", MFD_CLOEXEC)};
    if (fds[0] < 0 || fds[1] < 0 || ftruncate(fds[0], 1 << 20) || ftruncate(fds[1], 1 << 20))
        return -1;
    mt.r[0] = (struct vhu_mem_region){.gpa = 0, .size = 1 << 20, .uva = 0x10000000};
    mt.r[1] = (struct vhu_mem_region){.gpa = 1 << 19, .size = 1 << 20, .uva = 0x20000000};
    int rc = send_req(f, VHOST_USER_SET_MEM_TABLE, true, &mt, 8 + 64, fds, 2);
    close(fds[0]);
    close(fds[1]);
    return rc;
}

static int s_region_past_file(struct fe *f)
{
    struct vhu_mem_table mt = {.nregions = 1};
    int fd = memfd_create("small", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, 4096))
        return -1;
    mt.r[0] = (struct vhu_mem_region){.gpa = 0, .size = 1ull << 40, .uva = 0x10000000,
                                     .mmap_offset = 1ull << 62};
    int rc = send_req(f, VHOST_USER_SET_MEM_TABLE, true, &mt, 8 + 32, &fd, 1);
    close(fd);
    return rc;
}

static int s_ring_outside(struct fe *f)
{
    if (proper_setup(f, false) < 0)
        return -1;
    struct vhu_vring_state s = {0, QNUM};
    if (ok(f, VHOST_USER_SET_VRING_NUM, &s, 8, NULL, 0) < 0)
        return -1;
    struct vhu_vring_addr a = {.index = 0,
                              .desc = (uintptr_t)f->mem + MEM_SIZE - 64,
                              .avail = (uintptr_t)f->mem + 0x1000,
                              .used = (uintptr_t)f->mem + 0x2000};
    return send_req(f, VHOST_USER_SET_VRING_ADDR, true, &a, sizeof(a), NULL, 0);
}

static int s_truncated(struct fe *f)
{
    struct vhu_hdr h = {VHOST_USER_SET_VRING_ADDR, VHOST_USER_VERSION, 40};
    uint8_t buf[12 + 8] = {0};
    memcpy(buf, &h, 12);
    if (write(f->fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
        return -1;
    /* Hang up mid-message: the backend must clean up by itself. */
    close(f->fd);
    f->fd = -1;
    return 0;
}

static int r_desc_loop(struct fe *f)
{
    if (proper_setup(f, true) < 0)
        return -1;
    f->desc[0] = (struct vring_desc){.addr = 0x100000, .len = 16, .flags = VRING_DESC_F_NEXT, .next = 1};
    f->desc[1] = (struct vring_desc){.addr = 0x100100, .len = 16, .flags = VRING_DESC_F_NEXT, .next = 0};
    make_avail(f, 0, 1);
    return kick(f);
}

static int r_addr_outside(struct fe *f)
{
    if (proper_setup(f, true) < 0)
        return -1;
    f->desc[0] = (struct vring_desc){.addr = 0xfffffffffffff000ull, .len = 4096};
    make_avail(f, 0, 1);
    return kick(f);
}

static int r_head_out_of_range(struct fe *f)
{
    if (proper_setup(f, true) < 0)
        return -1;
    make_avail(f, 5000, 1);
    return kick(f);
}

static int r_next_out_of_range(struct fe *f)
{
    if (proper_setup(f, true) < 0)
        return -1;
    f->desc[0] = (struct vring_desc){.addr = 0x100000, .len = 16, .flags = VRING_DESC_F_NEXT,
                                     .next = 4000};
    make_avail(f, 0, 1);
    return kick(f);
}

static int r_avail_far_ahead(struct fe *f)
{
    if (proper_setup(f, true) < 0)
        return -1;
    make_avail(f, 0, 1000);
    return kick(f);
}

static int r_bad_indirect(struct fe *f)
{
    if (proper_setup(f, true) < 0)
        return -1;
    f->desc[0] = (struct vring_desc){.addr = 0x100000, .len = 17, .flags = VRING_DESC_F_INDIRECT};
    make_avail(f, 0, 1);
    return kick(f);
}

/* Packed ring: descriptor at position pos of the first lap (wrap counter 1);
 * the head's flags go last. */
static void pdesc_put(struct fe *f, uint16_t pos, uint64_t addr, uint32_t len, uint16_t id,
                      uint16_t flags)
{
    struct vring_packed_desc *d = &f->pdesc[pos];
    d->addr = addr;
    d->len = len;
    d->id = id;
    __atomic_store_n(&d->flags, (uint16_t)(flags | vring_packed_avail_flags(true)),
                     __ATOMIC_RELEASE);
}

static int packed_setup(struct fe *f)
{
    f->packed = true;
    return proper_setup(f, true);
}

static int p_id_out_of_range(struct fe *f)
{
    if (packed_setup(f) < 0)
        return -1;
    pdesc_put(f, 0, 0x100000, 16, 5000, 0);
    return kick(f);
}

static int p_id_twice(struct fe *f)
{
    if (packed_setup(f) < 0)
        return -1;
    /* Both are available at the kick, and blk pops a batch before handling
     * any of it, so the second is refused while the first is outstanding. */
    pdesc_put(f, 1, 0x100000, 16, 3, 0);
    pdesc_put(f, 0, 0x100000, 16, 3, 0);
    return kick(f);
}

static int p_chain_too_long(struct fe *f)
{
    if (packed_setup(f) < 0)
        return -1;
    for (uint16_t i = QNUM; i-- > 0;) /* every slot with NEXT: no end in one lap */
        pdesc_put(f, i, 0x100000, 0, 0, VRING_DESC_F_NEXT);
    return kick(f);
}

static int p_indirect_nested(struct fe *f)
{
    if (packed_setup(f) < 0)
        return -1;
    struct vring_packed_desc *t = (struct vring_packed_desc *)(f->mem + 0x100000);
    t[0] = (struct vring_packed_desc){.addr = 0x100000, .len = 16, .flags = VRING_DESC_F_INDIRECT};
    pdesc_put(f, 0, 0x100000, 16, 0, VRING_DESC_F_INDIRECT);
    return kick(f);
}

struct scenario {
    const char *name;
    int (*run)(struct fe *f);
    const char *what;
};

static const struct scenario scenarios[] = {
    {"wrong_state", s_wrong_state, "SET_VRING_ADDR before any memory table"},
    {"bad_index", s_bad_index, "ring index 200"},
    {"bad_ring_size", s_bad_ring_size, "ring size 100 (not a power of two)"},
    {"huge_ring", s_huge_ring, "ring size 65536"},
    {"short_payload", s_short_payload, "SET_VRING_NUM with a 4-byte payload"},
    {"size_over_max", s_size_over_max, "header size field 256 MiB"},
    {"bad_version", s_bad_version, "protocol version 2"},
    {"too_many_fds", s_too_many_fds, "9 fds with one message"},
    {"fd_on_fdless", s_fd_on_fdless, "fd sent with SET_OWNER"},
    {"missing_fd", s_missing_fd, "SET_VRING_CALL without fd and without the no-fd bit"},
    {"unknown_request", s_unknown_request, "request id 99"},
    {"bad_config", s_bad_config, "GET_CONFIG offset 0xffff0000"},
    {"region_overlap", s_region_overlap, "two overlapping memory regions"},
    {"region_past_file", s_region_past_file, "region offset far past the end of its file"},
    {"ring_outside", s_ring_outside, "descriptor table running past guest memory"},
    {"truncated", s_truncated, "message cut short, then hang up"},
    {"desc_loop", r_desc_loop, "descriptor chain loop"},
    {"addr_outside", r_addr_outside, "buffer address outside guest memory"},
    {"head_out_of_range", r_head_out_of_range, "avail head 5000 on a 128-entry ring"},
    {"next_out_of_range", r_next_out_of_range, "descriptor next index 4000"},
    {"avail_far_ahead", r_avail_far_ahead, "avail idx 1000 ahead on a 128-entry ring"},
    {"bad_indirect", r_bad_indirect, "indirect table of 17 bytes"},
    {"packed_id_out_of_range", p_id_out_of_range, "packed ring: buffer id 5000 on 128 entries"},
    {"packed_id_twice", p_id_twice, "packed ring: two outstanding buffers with id 3"},
    {"packed_chain_too_long", p_chain_too_long, "packed ring: NEXT on every descriptor"},
    {"packed_indirect_nested", p_indirect_nested, "packed ring: indirect inside indirect"},
};

static int run_one(const struct scenario *s)
{
    struct fe f;
    if (fe_open(&f) < 0)
        return -1;
    int rc = s->run(&f);
    if (rc == 0 && f.fd >= 0)
        rc = expect_closed(&f);
    fe_close(&f);
    printf("vu_hostile: %-18s %-55s %s\n", s->name, s->what, rc == 0 ? "ok" : "FAILED");
    fflush(stdout);
    return rc;
}

/* The device must still serve a well-behaved frontend afterwards. */
static int check_alive(void)
{
    struct fe f;
    int rc = fe_open(&f) == 0 && proper_setup(&f, true) == 0 ? 0 : -1;
    fe_close(&f);
    printf("vu_hostile: %-18s %-55s %s\n", "recovered", "a proper setup works afterwards",
           rc == 0 ? "ok" : "FAILED");
    return rc;
}

int main(int argc, char **argv)
{
    size_t n = sizeof(scenarios) / sizeof(scenarios[0]);
    if (argc == 2 && !strcmp(argv[1], "list")) {
        for (size_t i = 0; i < n; i++)
            printf("%s\n", scenarios[i].name);
        return 0;
    }
    if (argc != 3) {
        fprintf(stderr, "usage: %s SOCKET_PATH SCENARIO|all\n       %s list\n", argv[0], argv[0]);
        return 2;
    }
    sock_path = argv[1];
    int failed = 0, ran = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(argv[2], "all") && strcmp(argv[2], scenarios[i].name))
            continue;
        ran++;
        failed += run_one(&scenarios[i]) != 0;
    }
    if (!ran) {
        fprintf(stderr, "vu_hostile: unknown scenario '%s' (try: list)\n", argv[2]);
        return 2;
    }
    failed += check_alive() != 0;
    printf("vu_hostile: %d scenario(s), %d failed\n", ran, failed);
    return failed ? 1 : 0;
}
