/* Random vhost-user control messages (contract: fz.h). Each request gets a
 * payload of its own shape most of the time, so that the message passes the
 * framing checks and reaches the handler's own checks; then sizes, flags,
 * bytes and fds are broken some of the time. */
#include "fz.h"

#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vpri/vpri_abi.h"

static const uint32_t requests[] = {
    VHOST_USER_GET_FEATURES, VHOST_USER_SET_FEATURES, VHOST_USER_SET_OWNER,
    VHOST_USER_RESET_OWNER, VHOST_USER_SET_MEM_TABLE, VHOST_USER_SET_LOG_BASE,
    VHOST_USER_SET_LOG_FD, VHOST_USER_SET_VRING_NUM, VHOST_USER_SET_VRING_ADDR,
    VHOST_USER_SET_VRING_BASE, VHOST_USER_GET_VRING_BASE, VHOST_USER_SET_VRING_KICK,
    VHOST_USER_SET_VRING_CALL, VHOST_USER_SET_VRING_ERR, VHOST_USER_GET_PROTOCOL_FEATURES,
    VHOST_USER_SET_PROTOCOL_FEATURES, VHOST_USER_GET_QUEUE_NUM, VHOST_USER_SET_VRING_ENABLE,
    VHOST_USER_GET_CONFIG, VHOST_USER_SET_CONFIG, VHOST_USER_GET_INFLIGHT_FD,
    VHOST_USER_SET_INFLIGHT_FD, VHOST_USER_RESET_DEVICE, VHOST_USER_GET_MAX_MEM_SLOTS,
    VHOST_USER_ADD_MEM_REG, VHOST_USER_REM_MEM_REG, VHOST_USER_SET_STATUS,
    VHOST_USER_GET_STATUS, VHOST_USER_VPRI_SET_MAP, VHOST_USER_VPRI_SET_CHANNEL,
    VHOST_USER_SEND_RARP, VHOST_USER_SET_BACKEND_REQ_FD,
};

#define MAX_FDS 9

struct out {
    uint8_t p[512];
    uint32_t size;
    int fds[MAX_FDS];
    unsigned nfds;
};

static void add_fd(struct out *o, int fd)
{
    if (fd >= 0 && o->nfds < MAX_FDS)
        o->fds[o->nfds++] = fd;
    else if (fd >= 0)
        close(fd);
}

static int some_memfd(struct fz *z)
{
    static const uint32_t sizes[] = {0, 4096, 65536, VU_RAW_MEM, VU_RAW_MEM / 2};
    int fd = memfd_create("vu_fuzz", MFD_CLOEXEC);
    if (fd >= 0 && ftruncate(fd, sizes[fz_below(z, 5)]) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* The fd a request expects, or now and then one of the wrong kind. */
static int some_fd(struct fz *z, bool memory)
{
    if (fz_pct(z, 90))
        return memory ? some_memfd(z) : eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    return fz_pct(z, 50) ? some_memfd(z) : eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

/* A user address: inside the shared memory mostly, anywhere sometimes. */
static uint64_t some_uva(struct fz *z, const struct vu_raw *f)
{
    uint64_t base = f->mem ? (uintptr_t)f->mem : 0x7f0000000000ull;
    if (fz_pct(z, 80))
        return base + fz_below(z, VU_RAW_MEM) / 64 * 64;
    return fz_edge(z);
}

static uint32_t some_queue(struct fz *z)
{
    /* net devices here have 2 pairs: indexes 0-3, control queue 4, 5 beyond */
    return fz_pct(z, 90) ? fz_below(z, 6) : (uint32_t)fz_edge(z);
}

static void region(struct fz *z, const struct vu_raw *f, struct vhu_mem_region *r)
{
    r->gpa = fz_pct(z, 70) ? (uint64_t)fz_below(z, 4) << 22 : fz_edge(z);
    r->size = fz_pct(z, 70) ? VU_RAW_MEM >> fz_below(z, 4) : fz_edge(z);
    r->uva = fz_pct(z, 50) && f->mem ? (uintptr_t)f->mem : some_uva(z, f);
    r->mmap_offset = fz_pct(z, 70) ? 0 : fz_edge(z);
}

static void u64_payload(struct out *o, uint64_t v)
{
    memcpy(o->p, &v, 8);
    o->size = 8;
}

static void build(struct fz *z, const struct vu_raw *f, uint32_t req, struct out *o)
{
    switch (req) {
    case VHOST_USER_SET_FEATURES:
    case VHOST_USER_SET_PROTOCOL_FEATURES:
    case VHOST_USER_SET_STATUS:
    case VHOST_USER_SEND_RARP:
        u64_payload(o, fz_pct(z, 70) ? fz_u64(z) & fz_u64(z) : fz_edge(z));
        break;
    case VHOST_USER_SET_VRING_KICK:
    case VHOST_USER_SET_VRING_CALL:
    case VHOST_USER_SET_VRING_ERR: {
        bool nofd = fz_pct(z, 20);
        u64_payload(o, some_queue(z) | (nofd ? VHOST_USER_VRING_NOFD_MASK : 0));
        if (!nofd || fz_pct(z, 10))
            add_fd(o, some_fd(z, false));
        break;
    }
    case VHOST_USER_SET_VRING_NUM:
    case VHOST_USER_SET_VRING_BASE:
    case VHOST_USER_GET_VRING_BASE:
    case VHOST_USER_SET_VRING_ENABLE: {
        struct vhu_vring_state s = {some_queue(z), 0};
        if (req == VHOST_USER_SET_VRING_NUM)
            s.num = fz_pct(z, 70) ? 1u << fz_below(z, 16) : (uint32_t)fz_edge(z);
        else if (req == VHOST_USER_SET_VRING_ENABLE)
            s.num = fz_pct(z, 80) ? fz_below(z, 2) : (uint32_t)fz_edge(z);
        else
            s.num = fz_pct(z, 70) ? fz_below(z, 0x10000) : (uint32_t)fz_edge(z);
        memcpy(o->p, &s, sizeof(s));
        o->size = sizeof(s);
        break;
    }
    case VHOST_USER_SET_VRING_ADDR: {
        uint32_t flags = fz_pct(z, 70) ? 0 : 1u << VHOST_VRING_F_LOG;
        struct vhu_vring_addr a = {.index = some_queue(z),
                                   .flags = fz_pct(z, 90) ? flags : (uint32_t)fz_u64(z),
                                   .desc = some_uva(z, f), .used = some_uva(z, f),
                                   .avail = some_uva(z, f),
                                   .log = fz_pct(z, 70) ? fz_below(z, VU_RAW_MEM) : fz_edge(z)};
        memcpy(o->p, &a, sizeof(a));
        o->size = sizeof(a);
        break;
    }
    case VHOST_USER_SET_MEM_TABLE: {
        struct vhu_mem_table t = {.nregions = fz_pct(z, 90) ? fz_below(z, 4) : (uint32_t)fz_edge(z)};
        unsigned n = t.nregions < VHOST_USER_MEM_TABLE_MAX ? t.nregions : VHOST_USER_MEM_TABLE_MAX;
        for (unsigned i = 0; i < n; i++) {
            region(z, f, &t.r[i]);
            add_fd(o, some_fd(z, true));
        }
        o->size = (uint32_t)(8 + n * sizeof(struct vhu_mem_region));
        memcpy(o->p, &t, o->size);
        break;
    }
    case VHOST_USER_ADD_MEM_REG:
    case VHOST_USER_REM_MEM_REG: {
        struct vhu_mem_single m = {0};
        region(z, f, &m.r);
        memcpy(o->p, &m, sizeof(m));
        o->size = sizeof(m);
        if (req == VHOST_USER_ADD_MEM_REG || fz_pct(z, 10))
            add_fd(o, some_fd(z, true));
        break;
    }
    case VHOST_USER_SET_LOG_BASE: {
        struct vhu_log l = {.size = fz_pct(z, 60) ? 4096u << fz_below(z, 8) : fz_edge(z),
                            .offset = fz_pct(z, 70) ? 0 : fz_edge(z)};
        memcpy(o->p, &l, sizeof(l));
        o->size = sizeof(l);
        add_fd(o, some_fd(z, true));
        break;
    }
    case VHOST_USER_SET_LOG_FD:
        add_fd(o, some_fd(z, false));
        break;
    case VHOST_USER_SET_BACKEND_REQ_FD: {
        /* Mostly a socket whose other end is gone at once: the backend's
         * messages on it must fail without harm. */
        int sv[2];
        if (fz_pct(z, 80) && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0) {
            close(sv[0]);
            add_fd(o, sv[1]);
        } else {
            add_fd(o, some_fd(z, false));
        }
        break;
    }
    case VHOST_USER_GET_CONFIG:
    case VHOST_USER_SET_CONFIG: {
        struct vhu_config c = {.offset = fz_pct(z, 70) ? fz_below(z, 64) : (uint32_t)fz_edge(z),
                               .size = fz_pct(z, 70) ? fz_below(z, 64) : (uint32_t)fz_edge(z),
                               .flags = fz_pct(z, 80) ? 0 : (uint32_t)fz_u64(z)};
        fz_bytes(z, c.data, sizeof(c.data));
        uint32_t n = c.size < VHOST_USER_MAX_CONFIG ? c.size : VHOST_USER_MAX_CONFIG;
        o->size = VHOST_USER_CONFIG_HDR + n;
        memcpy(o->p, &c, o->size);
        break;
    }
    case VHOST_USER_GET_INFLIGHT_FD:
    case VHOST_USER_SET_INFLIGHT_FD: {
        struct vhu_inflight in = {.mmap_size = fz_pct(z, 60) ? 4096u << fz_below(z, 6) : fz_edge(z),
                                  .mmap_offset = fz_pct(z, 70) ? 0 : fz_edge(z),
                                  .num_queues = (uint16_t)(fz_pct(z, 80) ? 1 + fz_below(z, 4) : fz_u64(z)),
                                  .queue_size = (uint16_t)(fz_pct(z, 80) ? VU_RAW_QNUM : fz_u64(z))};
        memcpy(o->p, &in, sizeof(in));
        o->size = sizeof(in);
        if (req == VHOST_USER_SET_INFLIGHT_FD)
            add_fd(o, some_fd(z, true));
        break;
    }
    case VHOST_USER_VPRI_SET_MAP: {
        struct vpri_map_msg m = {.npages = fz_pct(z, 70) ? VU_RAW_MEM / 4096 : fz_edge(z),
                                 .mmap_size = fz_pct(z, 60) ? 8192 : fz_edge(z),
                                 .mmap_offset = fz_pct(z, 70) ? 0 : fz_edge(z)};
        memcpy(o->p, &m, sizeof(m));
        o->size = sizeof(m);
        add_fd(o, some_fd(z, true));
        break;
    }
    case VHOST_USER_VPRI_SET_CHANNEL: {
        struct vpri_chan_msg m = {.device_id = (uint32_t)fz_u64(z),
                                  .nqueues = fz_pct(z, 70) ? 1 + fz_below(z, 4) : (uint32_t)fz_edge(z),
                                  .ring_entries = fz_pct(z, 70) ? 2u << fz_below(z, 10) : (uint32_t)fz_edge(z),
                                  .flags = fz_pct(z, 90) ? 0 : (uint32_t)fz_u64(z),
                                  .mmap_size = fz_pct(z, 60) ? 65536 : fz_edge(z),
                                  .mmap_offset = fz_pct(z, 70) ? 0 : fz_edge(z)};
        memcpy(o->p, &m, sizeof(m));
        o->size = sizeof(m);
        add_fd(o, some_fd(z, true));
        add_fd(o, some_fd(z, false));
        add_fd(o, some_fd(z, false));
        break;
    }
    default:
        break;
    }
}

static void mutate(struct fz *z, struct out *o)
{
    if (fz_pct(z, 15))
        o->size = fz_pct(z, 50) ? fz_below(z, o->size + 17) : fz_below(z, sizeof(o->p) + 1);
    if (fz_pct(z, 15)) {
        unsigned flips = 1 + fz_below(z, 4);
        for (unsigned i = 0; i < flips && o->size; i++)
            o->p[fz_below(z, o->size)] ^= (uint8_t)(1u << fz_below(z, 8));
    }
    if (fz_pct(z, 10)) {
        while (o->nfds)
            close(o->fds[--o->nfds]);
        unsigned n = fz_below(z, MAX_FDS + 1);
        for (unsigned i = 0; i < n; i++)
            add_fd(o, some_fd(z, fz_pct(z, 50)));
    }
}

/* Replies and the end of the connection; 1 when closed. */
static int drain(struct vu_raw *f, int ms)
{
    struct vhu_hdr h;
    uint8_t p[512];
    int r;
    while ((r = vu_raw_recv(f, &h, p, sizeof(p), ms)) == 1)
        ;
    return r == 0;
}

int fz_msg(struct fz *z, struct vu_raw *f, int ms)
{
    struct out o = {.size = 0};
    uint32_t req;
    if (fz_pct(z, 90))
        req = requests[fz_below(z, sizeof(requests) / sizeof(requests[0]))];
    else
        req = fz_pct(z, 50) ? fz_below(z, 64) : (uint32_t)fz_u64(z);
    fz_bytes(z, o.p, sizeof(o.p));
    build(z, f, req, &o);
    mutate(z, &o);
    uint32_t flags = VHOST_USER_VERSION | (fz_pct(z, 60) ? VHOST_USER_NEED_REPLY_MASK : 0);
    if (fz_pct(z, 8))
        flags = fz_pct(z, 50) ? flags | VHOST_USER_REPLY_MASK : (uint32_t)fz_u64(z);
    int rc;
    if (fz_pct(z, 3)) {
        /* A header that promises more than follows, then silence: the
         * backend must not wait for the rest with the device stalled. */
        struct vhu_hdr h = {req, flags, o.size + 1 + fz_below(z, 64)};
        rc = send(f->fd, &h, sizeof(h), MSG_NOSIGNAL) == (ssize_t)sizeof(h) &&
                     send(f->fd, o.p, o.size, MSG_NOSIGNAL) == (ssize_t)o.size
                 ? 0
                 : -1;
    } else {
        rc = vu_raw_send(f, req, flags, o.p, o.size, o.fds, o.nfds);
    }
    while (o.nfds)
        close(o.fds[--o.nfds]);
    if (rc < 0)
        return 1; /* the backend hung up while we were sending */
    return drain(f, ms);
}
