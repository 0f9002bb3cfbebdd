/* Raw vhost-user frontend for test tools (contract: vu_raw.h). */
#include "vu_raw.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/fdpass.h"
#include "common/util.h"

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int vu_raw_send(struct vu_raw *f, uint32_t req, uint32_t flags, const void *p, uint32_t size,
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

int vu_raw_req(struct vu_raw *f, uint32_t req, bool ack, const void *p, uint32_t size,
               const int *fds, unsigned nfds)
{
    return vu_raw_send(f, req, VHOST_USER_VERSION | (ack ? VHOST_USER_NEED_REPLY_MASK : 0), p,
                       size, fds, nfds);
}

int vu_raw_recv(struct vu_raw *f, struct vhu_hdr *h, void *payload, size_t max, int ms)
{
    return vu_raw_recv_fd(f, h, payload, max, NULL, ms);
}

int vu_raw_recv_fd(struct vu_raw *f, struct vhu_hdr *h, void *payload, size_t max, int *keep,
                   int ms)
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
    ssize_t n = recvmsg(f->fd, &mh, MSG_WAITALL | MSG_CMSG_CLOEXEC);
    if (n == 0 || (n < 0 && errno == ECONNRESET))
        return 0;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        size_t nfd = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < nfd; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
            if (keep && *keep < 0)
                *keep = fd;
            else
                close(fd);
        }
    }
    if (n != 12)
        return -1;
    uint8_t sink[512];
    if (h->size > sizeof(sink))
        return -1;
    if (h->size && recv(f->fd, sink, h->size, MSG_WAITALL) != (ssize_t)h->size)
        return -1;
    memcpy(payload, sink, h->size < max ? h->size : max);
    return 1;
}

int vu_raw_get_u64(struct vu_raw *f, uint32_t req, uint64_t *out)
{
    struct vhu_hdr h;
    if (vu_raw_req(f, req, false, NULL, 0, NULL, 0) < 0)
        return -1;
    if (vu_raw_recv(f, &h, out, sizeof(*out), VU_RAW_WAIT_MS) != 1 || h.request != req ||
        h.size != 8)
        return -1;
    return 0;
}

int vu_raw_ok(struct vu_raw *f, uint32_t req, const void *p, uint32_t size, const int *fds,
              unsigned nfds)
{
    struct vhu_hdr h;
    uint64_t u = 1;
    if (vu_raw_req(f, req, true, p, size, fds, nfds) < 0)
        return -1;
    if (vu_raw_recv(f, &h, &u, sizeof(u), VU_RAW_WAIT_MS) != 1 || h.request != req || u != 0) {
        fprintf(stderr, "vu_raw: setup step %s was not accepted\n", vhost_msg_name(req));
        return -1;
    }
    return 0;
}

static void reset(struct vu_raw *f)
{
    memset(f, 0, sizeof(*f));
    f->fd = f->memfd = -1;
    for (unsigned q = 0; q < VU_RAW_MAXQ; q++)
        f->q[q].kick = f->q[q].call = -1;
}

void vu_raw_close(struct vu_raw *f)
{
    if (f->fd >= 0)
        close(f->fd);
    if (f->mem)
        munmap(f->mem, VU_RAW_MEM);
    if (f->memfd >= 0)
        close(f->memfd);
    if (f->vpri_on)
        vu_vpri_destroy(&f->vp);
    if (f->inf)
        munmap(f->inf, f->inf_len);
    for (unsigned q = 0; q < VU_RAW_MAXQ; q++) {
        if (f->q[q].kick >= 0)
            close(f->q[q].kick);
        if (f->q[q].call >= 0)
            close(f->q[q].call);
    }
    reset(f);
}

int vu_raw_open(struct vu_raw *f, const char *path)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    reset(f);
    if (strlen(path) >= sizeof(a.sun_path))
        return -1;
    strcpy(a.sun_path, path);
    for (int tries = 0; tries < VU_RAW_WAIT_MS / 50; tries++) {
        f->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (f->fd >= 0 && connect(f->fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
            vu_raw_get_u64(f, VHOST_USER_GET_FEATURES, &f->offered) == 0)
            return 0;
        if (f->fd >= 0)
            close(f->fd);
        f->fd = -1;
        sleep_ms(50);
    }
    fprintf(stderr, "vu_raw: cannot get a working connection to %s\n", path);
    return -1;
}

static int setup_queue(struct vu_raw *f, unsigned qi)
{
    struct vu_raw_q *q = &f->q[qi];
    uint8_t *base = f->mem + VU_RAW_RING_BASE + qi * 0x4000u;
    q->desc = (struct vring_desc *)base;
    q->pdesc = (struct vring_packed_desc *)base;
    q->avail = (struct vring_avail *)(base + 0x1000);
    q->used = (struct vring_used *)(base + 0x2000);
    struct vhu_vring_state s = {qi, VU_RAW_QNUM};
    struct vhu_vring_addr a = {.index = qi, .desc = (uintptr_t)q->desc,
                              .avail = (uintptr_t)q->avail, .used = (uintptr_t)q->used};
    uint64_t idx = qi;
    q->kick = eventfd(0, EFD_CLOEXEC);
    q->call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (q->kick < 0 || q->call < 0)
        return -1;
    if (vu_raw_ok(f, VHOST_USER_SET_VRING_NUM, &s, 8, NULL, 0) < 0)
        return -1;
    s.num = f->packed ? VRING_PACKED_WRAP : 0;
    if (vu_raw_ok(f, VHOST_USER_SET_VRING_BASE, &s, 8, NULL, 0) < 0 ||
        vu_raw_ok(f, VHOST_USER_SET_VRING_ADDR, &a, sizeof(a), NULL, 0) < 0 ||
        vu_raw_ok(f, VHOST_USER_SET_VRING_CALL, &idx, 8, &q->call, 1) < 0 ||
        vu_raw_ok(f, VHOST_USER_SET_VRING_KICK, &idx, 8, &q->kick, 1) < 0)
        return -1;
    s.num = 1;
    return vu_raw_ok(f, VHOST_USER_SET_VRING_ENABLE, &s, 8, NULL, 0);
}

/* GET_INFLIGHT_FD for the queues we drive, mapped here, handed back. */
static int take_inflight(struct vu_raw *f)
{
    struct vhu_inflight in = {.num_queues = (uint16_t)(f->nq ? f->nq : 1),
                              .queue_size = VU_RAW_QNUM};
    struct vhu_hdr h;
    int fd = -1;
    if (vu_raw_req(f, VHOST_USER_GET_INFLIGHT_FD, false, &in, sizeof(in), NULL, 0) < 0 ||
        vu_raw_recv_fd(f, &h, &in, sizeof(in), &fd, VU_RAW_WAIT_MS) != 1 || fd < 0) {
        fprintf(stderr, "vu_raw: no inflight area from GET_INFLIGHT_FD\n");
        if (fd >= 0)
            close(fd);
        return -1;
    }
    void *p = mmap(NULL, in.mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    int rc = p == MAP_FAILED ? -1 : vu_raw_ok(f, VHOST_USER_SET_INFLIGHT_FD, &in, sizeof(in), &fd, 1);
    close(fd);
    if (p == MAP_FAILED) {
        fprintf(stderr, "vu_raw: cannot map the inflight area\n");
        return -1;
    }
    f->inf = p;
    f->inf_len = in.mmap_size;
    return rc;
}

int vu_raw_restart_queue(struct vu_raw *f, unsigned qi, uint32_t base)
{
    struct vhu_vring_state s = {qi, 0};
    struct vhu_hdr h;
    uint8_t p[64];
    uint64_t idx = qi;
    if (qi >= VU_RAW_MAXQ ||
        vu_raw_req(f, VHOST_USER_GET_VRING_BASE, false, &s, sizeof(s), NULL, 0) < 0 ||
        vu_raw_recv(f, &h, p, sizeof(p), VU_RAW_WAIT_MS) != 1)
        return -1;
    s.num = base;
    if (vu_raw_ok(f, VHOST_USER_SET_VRING_BASE, &s, 8, NULL, 0) < 0)
        return -1;
    close(f->q[qi].kick);
    f->q[qi].kick = eventfd(0, EFD_CLOEXEC);
    if (f->q[qi].kick < 0)
        return -1;
    return vu_raw_ok(f, VHOST_USER_SET_VRING_KICK, &idx, 8, &f->q[qi].kick, 1);
}

/* The channel needs a slot per queue of the device (a multiqueue net
 * device has more than we drive). */
static int send_vpri(struct vu_raw *f, uint64_t pf)
{
    struct vu_vpri *v = &f->vp;
    uint64_t nq = VU_RAW_MAXQ;
    if ((pf & (1ull << VHOST_USER_PROTOCOL_F_MQ)) &&
        (vu_raw_get_u64(f, VHOST_USER_GET_QUEUE_NUM, &nq) < 0 || nq > 1024)) {
        fprintf(stderr, "vu_raw: no usable answer to GET_QUEUE_NUM\n");
        return -1;
    }
    if (vu_vpri_create(v, VU_RAW_MEM / VPRI_PAGE_SIZE, (unsigned)SC_MAX(nq, VU_RAW_MAXQ), 64,
                       7) < 0) {
        fprintf(stderr, "vu_raw: cannot create the VPRI map and channel\n");
        return -1;
    }
    f->vpri_on = true;
    struct vpri_map_msg mm = {.npages = v->npages, .mmap_size = v->map_len};
    struct vpri_chan_msg cm = {.device_id = v->device_id, .nqueues = v->nqueues,
                               .ring_entries = v->entries, .mmap_size = v->chan_len};
    int fds[3] = {v->chan_fd, v->fault_fd, v->resolve_fd};
    if (vu_raw_ok(f, VHOST_USER_VPRI_SET_MAP, &mm, sizeof(mm), &v->map_fd, 1) < 0 ||
        vu_raw_ok(f, VHOST_USER_VPRI_SET_CHANNEL, &cm, sizeof(cm), fds, 3) < 0)
        return -1;
    return 0;
}

int vu_raw_setup(struct vu_raw *f, bool rings)
{
    uint64_t feat, pf;
    if (vu_raw_get_u64(f, VHOST_USER_GET_FEATURES, &feat) < 0 ||
        vu_raw_req(f, VHOST_USER_SET_OWNER, false, NULL, 0, NULL, 0) < 0 ||
        vu_raw_get_u64(f, VHOST_USER_GET_PROTOCOL_FEATURES, &pf) < 0) {
        fprintf(stderr, "vu_raw: no answer to the feature queries\n");
        return -1;
    }
    pf &= (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK) | (1ull << VHOST_USER_PROTOCOL_F_MQ) |
          (1ull << VHOST_USER_PROTOCOL_F_CONFIG) |
          (f->vpri ? 1ull << VHOST_USER_PROTOCOL_F_VPRI : 0) |
          (f->inflight ? 1ull << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD : 0) |
          (f->log ? 1ull << VHOST_USER_PROTOCOL_F_LOG_SHMFD : 0);
    if (!(pf & (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK))) {
        fprintf(stderr, "vu_raw: backend does not offer REPLY_ACK\n");
        return -1;
    }
    uint64_t want = feat & ((1ull << VIRTIO_F_VERSION_1) | (1ull << VHOST_USER_F_PROTOCOL_FEATURES) |
                            (1ull << VIRTIO_RING_F_INDIRECT_DESC) | f->extra |
                            (f->log ? 1ull << VHOST_F_LOG_ALL : 0) |
                            (f->packed ? 1ull << VIRTIO_F_RING_PACKED : 0));
    if (f->packed && !(want & (1ull << VIRTIO_F_RING_PACKED))) {
        fprintf(stderr, "vu_raw: backend does not offer RING_PACKED\n");
        return -1;
    }
    f->features = want;
    if (vu_raw_ok(f, VHOST_USER_SET_PROTOCOL_FEATURES, &pf, 8, NULL, 0) < 0 ||
        vu_raw_ok(f, VHOST_USER_SET_FEATURES, &want, 8, NULL, 0) < 0)
        return -1;
    f->memfd = memfd_create("vu_raw-guest", MFD_CLOEXEC);
    if (f->memfd < 0 || ftruncate(f->memfd, VU_RAW_MEM) < 0)
        return -1;
    f->mem = mmap(NULL, VU_RAW_MEM, PROT_READ | PROT_WRITE, MAP_SHARED, f->memfd, 0);
    if (f->mem == MAP_FAILED) {
        f->mem = NULL;
        return -1;
    }
    struct vhu_mem_table mt = {.nregions = 1};
    mt.r[0] = (struct vhu_mem_region){.gpa = 0, .size = VU_RAW_MEM, .uva = (uintptr_t)f->mem};
    if (vu_raw_ok(f, VHOST_USER_SET_MEM_TABLE, &mt, 8 + 32, &f->memfd, 1) < 0)
        return -1;
    if ((pf & (1ull << VHOST_USER_PROTOCOL_F_VPRI)) && send_vpri(f, pf) < 0)
        return -1;
    if ((pf & (1ull << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD)) && take_inflight(f) < 0)
        return -1;
    if (!rings)
        return 0;
    unsigned nq = f->nq ? f->nq : 1;
    for (unsigned q = 0; q < nq && q < VU_RAW_MAXQ; q++)
        if (setup_queue(f, q) < 0)
            return -1;
    uint64_t st = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                  VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK;
    return vu_raw_ok(f, VHOST_USER_SET_STATUS, &st, 8, NULL, 0);
}

int vu_raw_kick(struct vu_raw *f, unsigned q)
{
    uint64_t one = 1;
    __atomic_thread_fence(__ATOMIC_RELEASE);
    return q < VU_RAW_MAXQ && write(f->q[q].kick, &one, 8) == 8 ? 0 : -1;
}
