#include "vu_front.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/fdpass.h"
#include "common/log.h"
#include "common/util.h"
#include "vu_proto.h"

struct vu_conn {
    int fd;
    bool broken;
    bool reply_ack;
    uint64_t pf;
    unsigned reply_timeout_ms;
    char why[256];
};

static const char *req_name(uint32_t r)
{
    switch (r) {
    case VU_REQ_GET_FEATURES: return "GET_FEATURES";
    case VU_REQ_SET_FEATURES: return "SET_FEATURES";
    case VU_REQ_SET_OWNER: return "SET_OWNER";
    case VU_REQ_SET_MEM_TABLE: return "SET_MEM_TABLE";
    case VU_REQ_SET_LOG_BASE: return "SET_LOG_BASE";
    case VU_REQ_SET_VRING_NUM: return "SET_VRING_NUM";
    case VU_REQ_SET_VRING_ADDR: return "SET_VRING_ADDR";
    case VU_REQ_SET_VRING_BASE: return "SET_VRING_BASE";
    case VU_REQ_GET_VRING_BASE: return "GET_VRING_BASE";
    case VU_REQ_SET_VRING_KICK: return "SET_VRING_KICK";
    case VU_REQ_SET_VRING_CALL: return "SET_VRING_CALL";
    case VU_REQ_GET_PROTOCOL_FEATURES: return "GET_PROTOCOL_FEATURES";
    case VU_REQ_SET_PROTOCOL_FEATURES: return "SET_PROTOCOL_FEATURES";
    case VU_REQ_GET_QUEUE_NUM: return "GET_QUEUE_NUM";
    case VU_REQ_SET_VRING_ENABLE: return "SET_VRING_ENABLE";
    case VU_REQ_GET_CONFIG: return "GET_CONFIG";
    case VU_REQ_SET_STATUS: return "SET_STATUS";
    case VU_REQ_GET_STATUS: return "GET_STATUS";
    default: return "?";
    }
}

__attribute__((format(printf, 3, 4))) static int fail(struct vu_conn *c, int err,
                                                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->why, sizeof(c->why), fmt, ap);
    va_end(ap);
    LOG_ERR("vu_front", "%s", c->why);
    c->broken = true;
    return err;
}

static int make_addr(const char *path, struct sockaddr_un *sa)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    if (!path || strlen(path) >= sizeof(sa->sun_path)) {
        LOG_ERR("vu_front", "socket path '%s' is empty or longer than %zu bytes",
                path ? path : "", sizeof(sa->sun_path) - 1);
        return -ENAMETOOLONG;
    }
    strcpy(sa->sun_path, path);
    return 0;
}

static struct vu_conn *conn_new(int fd)
{
    struct vu_conn *c = calloc(1, sizeof(*c));
    if (!c) {
        close(fd);
        return NULL;
    }
    c->fd = fd;
    c->reply_timeout_ms = 10000;
    return c;
}

int vu_conn_connect(const char *path, unsigned timeout_ms, struct vu_conn **out)
{
    struct sockaddr_un sa;
    int r = make_addr(path, &sa);
    if (r)
        return r;
    uint64_t deadline = sc_now_ns() + (uint64_t)timeout_ms * 1000000ull;
    for (;;) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return -errno;
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
            *out = conn_new(fd);
            return *out ? 0 : -ENOMEM;
        }
        int e = errno;
        close(fd);
        /* ENOENT/ECONNREFUSED: the backend is not listening yet. */
        if ((e != ENOENT && e != ECONNREFUSED && e != EAGAIN) || sc_now_ns() >= deadline) {
            LOG_ERR("vu_front", "connect to vhost-user socket %s: %s (is the backend running?)",
                    path, strerror(e));
            return -e;
        }
        usleep(20000);
    }
}

int vu_conn_accept(const char *path, unsigned timeout_ms, struct vu_conn **out)
{
    struct sockaddr_un sa;
    int r = make_addr(path, &sa);
    if (r)
        return r;
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lfd < 0)
        return -errno;
    unlink(path);
    if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 1) < 0) {
        int e = errno;
        LOG_ERR("vu_front", "listen on %s: %s", path, strerror(e));
        close(lfd);
        return -e;
    }
    struct pollfd p = {.fd = lfd, .events = POLLIN};
    int n;
    do
        n = poll(&p, 1, (int)timeout_ms);
    while (n < 0 && errno == EINTR);
    int fd = n > 0 ? accept4(lfd, NULL, NULL, SOCK_CLOEXEC) : -1;
    int e = n == 0 ? ETIMEDOUT : errno;
    close(lfd);
    unlink(path);
    if (fd < 0) {
        LOG_ERR("vu_front", "no backend connected to %s within %u ms: %s", path, timeout_ms,
                strerror(e));
        return -e;
    }
    *out = conn_new(fd);
    return *out ? 0 : -ENOMEM;
}

void vu_conn_close(struct vu_conn *c)
{
    if (!c)
        return;
    close(c->fd);
    free(c);
}

const char *vu_conn_error(const struct vu_conn *c) { return c->why; }
void vu_conn_set_reply_timeout(struct vu_conn *c, unsigned ms) { c->reply_timeout_ms = ms; }

bool vu_conn_hung_up(const struct vu_conn *c)
{
    struct pollfd p = {.fd = c->fd, .events = POLLRDHUP};
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

uint64_t vu_conn_protocol_features(const struct vu_conn *c) { return c->pf; }

static int send_msg(struct vu_conn *c, uint32_t req, uint32_t flags, const void *payload,
                    uint32_t size, const int *fds, unsigned nfds)
{
    struct vu_hdr h = {.request = req, .flags = VU_FLAG_VERSION | flags, .size = size};
    struct iovec iov[2] = {{&h, sizeof(h)}, {(void *)payload, size}};
    union fdpass_ctl ctl;
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = size ? 2 : 1};
    if (fdpass_attach(&mh, ctl.buf, sizeof(ctl.buf), fds, nfds))
        return fail(c, -EINVAL, "send %s: %u fds, at most %u allowed", req_name(req), nfds,
                    FDPASS_MAX);
    size_t total = sizeof(h) + size;
    ssize_t n;
    do
        n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return fail(c, -errno, "send %s: %s (backend gone?)", req_name(req), strerror(errno));
    /* Unix stream sockets with a 12+<=2k byte message do not split; a short
     * write means the peer is in trouble, so we treat it as fatal. */
    if ((size_t)n != total)
        return fail(c, -EIO, "send %s: short write %zd of %zu bytes", req_name(req), n, total);
    return 0;
}

static int read_full(struct vu_conn *c, void *buf, size_t len, uint32_t req)
{
    uint8_t *p = buf;
    uint64_t deadline = sc_now_ns() + (uint64_t)c->reply_timeout_ms * 1000000ull;
    while (len) {
        uint64_t now = sc_now_ns();
        if (now >= deadline)
            return fail(c, -ETIMEDOUT, "no reply to %s within %u ms", req_name(req),
                        c->reply_timeout_ms);
        struct pollfd pf = {.fd = c->fd, .events = POLLIN};
        int n = poll(&pf, 1, (int)((deadline - now) / 1000000ull) + 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return fail(c, -errno, "poll for the reply to %s: %s", req_name(req),
                        strerror(errno));
        if (n == 0)
            continue;
        union fdpass_ctl ctl;
        struct iovec iov = {p, len};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                            .msg_controllen = sizeof(ctl.buf)};
        ssize_t r = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r < 0)
            return fail(c, -errno, "receive reply to %s: %s", req_name(req), strerror(errno));
        if (r == 0)
            return fail(c, -ECONNRESET, "backend closed the connection while we waited for "
                                        "the reply to %s", req_name(req));
        /* Replies to our messages never carry fds; drop any to avoid leaks. */
        unsigned nf = fdpass_take(&mh, NULL, 0, NULL);
        if (nf)
            LOG_WARN("vu_front", "reply to %s carried %u unexpected fd(s); closed",
                     req_name(req), nf);
        p += r;
        len -= (size_t)r;
    }
    return 0;
}

/* Reads one reply to req whose payload must be exactly `size` bytes. */
static int recv_reply(struct vu_conn *c, uint32_t req, void *payload, uint32_t size)
{
    struct vu_hdr h;
    int r = read_full(c, &h, sizeof(h), req);
    if (r)
        return r;
    if (h.request != req)
        return fail(c, -EPROTO, "reply to %s has request id %u (%s)", req_name(req),
                    h.request, req_name(h.request));
    if ((h.flags & VU_FLAG_VERSION_MASK) != VU_FLAG_VERSION || !(h.flags & VU_FLAG_REPLY))
        return fail(c, -EPROTO, "reply to %s has bad flags 0x%x (want version 1 + REPLY)",
                    req_name(req), h.flags);
    if (h.size != size)
        return fail(c, -EPROTO, "reply to %s has payload size %u, expected %u", req_name(req),
                    h.size, size);
    return size ? read_full(c, payload, size, req) : 0;
}

/* Sends a message that has no reply of its own; waits for the ack if
 * REPLY_ACK is on. */
static int send_cmd(struct vu_conn *c, uint32_t req, const void *payload, uint32_t size,
                    const int *fds, unsigned nfds)
{
    if (c->broken)
        return -EPIPE;
    int r = send_msg(c, req, c->reply_ack ? VU_FLAG_NEED_REPLY : 0, payload, size, fds, nfds);
    if (r || !c->reply_ack)
        return r;
    uint64_t ack;
    r = recv_reply(c, req, &ack, sizeof(ack));
    if (r)
        return r;
    if (ack != 0) {
        snprintf(c->why, sizeof(c->why), "backend rejected %s (ack 0x%llx)", req_name(req),
                 (unsigned long long)ack);
        LOG_ERR("vu_front", "%s", c->why);
        return -EIO;
    }
    return 0;
}

static int get_u64(struct vu_conn *c, uint32_t req, uint64_t *v)
{
    if (c->broken)
        return -EPIPE;
    int r = send_msg(c, req, 0, NULL, 0, NULL, 0);
    return r ? r : recv_reply(c, req, v, sizeof(*v));
}

int vu_get_features(struct vu_conn *c, uint64_t *f) { return get_u64(c, VU_REQ_GET_FEATURES, f); }

int vu_set_features(struct vu_conn *c, uint64_t f)
{
    return send_cmd(c, VU_REQ_SET_FEATURES, &f, sizeof(f), NULL, 0);
}

int vu_get_protocol_features(struct vu_conn *c, uint64_t *pf)
{
    return get_u64(c, VU_REQ_GET_PROTOCOL_FEATURES, pf);
}

int vu_set_protocol_features(struct vu_conn *c, uint64_t pf)
{
    /* The ack rule starts with the next message, so send this one plain. */
    int r = send_cmd(c, VU_REQ_SET_PROTOCOL_FEATURES, &pf, sizeof(pf), NULL, 0);
    if (r == 0) {
        c->pf = pf;
        c->reply_ack = (pf >> VU_PF_REPLY_ACK) & 1;
    }
    return r;
}

int vu_set_owner(struct vu_conn *c) { return send_cmd(c, VU_REQ_SET_OWNER, NULL, 0, NULL, 0); }

int vu_send_ext(struct vu_conn *c, uint32_t req, const void *payload, uint32_t size,
                const int *fds, unsigned nfds)
{
    return send_cmd(c, req, payload, size, fds, nfds);
}

int vu_get_queue_num(struct vu_conn *c, uint64_t *num)
{
    return get_u64(c, VU_REQ_GET_QUEUE_NUM, num);
}

int vu_get_config(struct vu_conn *c, uint32_t offset, void *buf, uint32_t len)
{
    if (c->broken)
        return -EPIPE;
    if (len > VU_CONFIG_MAX || len == 0)
        return fail(c, -EINVAL, "GET_CONFIG of %u bytes (1..%u allowed)", len, VU_CONFIG_MAX);
    struct vu_config_wire w = {.offset = offset, .size = len};
    uint32_t sz = (uint32_t)offsetof(struct vu_config_wire, payload) + len;
    int r = send_msg(c, VU_REQ_GET_CONFIG, 0, &w, sz, NULL, 0);
    if (r)
        return r;
    struct vu_config_wire rep;
    /* A backend that fails GET_CONFIG answers with size 0 (spec). */
    struct vu_hdr h;
    r = read_full(c, &h, sizeof(h), VU_REQ_GET_CONFIG);
    if (r)
        return r;
    if (h.request != VU_REQ_GET_CONFIG || !(h.flags & VU_FLAG_REPLY))
        return fail(c, -EPROTO, "reply to GET_CONFIG has request %u flags 0x%x", h.request,
                    h.flags);
    if (h.size == 0) {
        snprintf(c->why, sizeof(c->why), "backend refused GET_CONFIG offset %u size %u",
                 offset, len);
        LOG_ERR("vu_front", "%s", c->why);
        return -EIO;
    }
    if (h.size != sz)
        return fail(c, -EPROTO, "reply to GET_CONFIG has payload size %u, expected %u", h.size,
                    sz);
    r = read_full(c, &rep, sz, VU_REQ_GET_CONFIG);
    if (r)
        return r;
    if (rep.offset != offset || rep.size != len)
        return fail(c, -EPROTO, "GET_CONFIG reply is for offset %u size %u, asked %u/%u",
                    rep.offset, rep.size, offset, len);
    memcpy(buf, rep.payload, len);
    return 0;
}

int vu_set_mem_table(struct vu_conn *c, const struct vu_mem_region *r, unsigned n)
{
    if (n == 0 || n > VU_MAX_MEM_REGIONS)
        return fail(c, -EINVAL, "SET_MEM_TABLE with %u regions (1..%u)", n, VU_MAX_MEM_REGIONS);
    struct vu_mem_table_wire t = {.nregions = n};
    int fds[VU_MAX_MEM_REGIONS];
    for (unsigned i = 0; i < n; i++) {
        t.regions[i] = (struct vu_mem_region_wire){r[i].gpa, r[i].size, r[i].uaddr,
                                                   r[i].mmap_offset};
        fds[i] = r[i].fd;
    }
    uint32_t sz = 8 + n * (uint32_t)sizeof(struct vu_mem_region_wire);
    return send_cmd(c, VU_REQ_SET_MEM_TABLE, &t, sz, fds, n);
}

static int vring_state(struct vu_conn *c, uint32_t req, unsigned idx, unsigned num)
{
    struct vu_vring_state s = {.index = idx, .num = num};
    return send_cmd(c, req, &s, sizeof(s), NULL, 0);
}

int vu_set_vring_num(struct vu_conn *c, unsigned idx, unsigned num)
{
    return vring_state(c, VU_REQ_SET_VRING_NUM, idx, num);
}

int vu_set_vring_base(struct vu_conn *c, unsigned idx, unsigned base)
{
    return vring_state(c, VU_REQ_SET_VRING_BASE, idx, base);
}

int vu_set_vring_enable(struct vu_conn *c, unsigned idx, bool en)
{
    return vring_state(c, VU_REQ_SET_VRING_ENABLE, idx, en ? 1 : 0);
}

int vu_set_vring_addr(struct vu_conn *c, unsigned idx, uint64_t desc, uint64_t used,
                      uint64_t avail)
{
    struct vu_vring_addr a = {.index = idx, .desc_user_addr = desc, .used_user_addr = used,
                              .avail_user_addr = avail};
    return send_cmd(c, VU_REQ_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
}

int vu_set_vring_addr_logged(struct vu_conn *c, unsigned idx, uint64_t desc, uint64_t used,
                             uint64_t avail, uint64_t log_gpa)
{
    struct vu_vring_addr a = {.index = idx, .flags = 1u << VU_VRING_F_LOG,
                              .desc_user_addr = desc, .used_user_addr = used,
                              .avail_user_addr = avail, .log_guest_addr = log_gpa};
    return send_cmd(c, VU_REQ_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
}

int vu_set_log_base(struct vu_conn *c, int fd, uint64_t size, uint64_t offset)
{
    if (c->broken)
        return -EPIPE;
    if (!((c->pf >> VU_PF_LOG_SHMFD) & 1))
        return fail(c, -EINVAL, "SET_LOG_BASE without the LOG_SHMFD protocol feature");
    struct vu_log_wire l = {.mmap_size = size, .mmap_offset = offset};
    /* The reply is part of the request (spec), so no NEED_REPLY: QEMU sends
     * it the same way, and a backend must not answer twice. */
    int r = send_msg(c, VU_REQ_SET_LOG_BASE, 0, &l, sizeof(l), &fd, 1);
    uint64_t ack;
    if (!r)
        r = recv_reply(c, VU_REQ_SET_LOG_BASE, &ack, sizeof(ack));
    return r;
}

int vu_get_vring_base(struct vu_conn *c, unsigned idx, unsigned *base)
{
    if (c->broken)
        return -EPIPE;
    struct vu_vring_state s = {.index = idx};
    int r = send_msg(c, VU_REQ_GET_VRING_BASE, 0, &s, sizeof(s), NULL, 0);
    if (r)
        return r;
    r = recv_reply(c, VU_REQ_GET_VRING_BASE, &s, sizeof(s));
    if (r)
        return r;
    if (s.index != idx)
        return fail(c, -EPROTO, "GET_VRING_BASE reply index %u num %u for ring %u", s.index,
                    s.num, idx);
    *base = s.num;
    return 0;
}

static int vring_fd(struct vu_conn *c, uint32_t req, unsigned idx, int fd)
{
    uint64_t v = (idx & VU_VRING_IDX_MASK) | (fd < 0 ? VU_VRING_NOFD : 0);
    return send_cmd(c, req, &v, sizeof(v), fd < 0 ? NULL : &fd, fd < 0 ? 0 : 1);
}

int vu_set_vring_kick(struct vu_conn *c, unsigned idx, int fd)
{
    return vring_fd(c, VU_REQ_SET_VRING_KICK, idx, fd);
}

int vu_set_vring_call(struct vu_conn *c, unsigned idx, int fd)
{
    return vring_fd(c, VU_REQ_SET_VRING_CALL, idx, fd);
}

int vu_set_status(struct vu_conn *c, uint8_t status)
{
    uint64_t v = status;
    return send_cmd(c, VU_REQ_SET_STATUS, &v, sizeof(v), NULL, 0);
}

int vu_get_status(struct vu_conn *c, uint8_t *status)
{
    uint64_t v;
    int r = get_u64(c, VU_REQ_GET_STATUS, &v);
    if (r)
        return r;
    if (v > 0xff)
        return fail(c, -EPROTO, "GET_STATUS returned 0x%llx (> 8 bits)", (unsigned long long)v);
    *status = (uint8_t)v;
    return 0;
}
