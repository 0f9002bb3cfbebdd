#include "rio_io.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/util.h"
#include "../core/sidecore.h"

#define RIO_BATCH 16

#define GSO_MAX_PAYLOAD 65000u /* under UDP's 65507 with room to spare */

int rio_addr_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[128];
    const char *port;
    if (!s)
        return -EINVAL;
    if (s[0] == '[') {
        const char *e = strchr(s, ']');
        if (!e || e[1] != ':' || (size_t)(e - s - 1) >= sizeof(host))
            return -EINVAL;
        memcpy(host, s + 1, (size_t)(e - s - 1));
        host[e - s - 1] = '\0';
        port = e + 2;
    } else {
        const char *c = strrchr(s, ':');
        if (!c || (size_t)(c - s) >= sizeof(host))
            return -EINVAL;
        memcpy(host, s, (size_t)(c - s));
        host[c - s] = '\0';
        port = c + 1;
    }
    /* getaddrinfo takes any number and wraps it modulo 65536 (107736 bound
     * 42200); port 0 would bind wherever the kernel likes. */
    char *end;
    errno = 0;
    unsigned long pn = strtoul(port, &end, 10);
    if (!isdigit((unsigned char)*port) || *end || errno || pn < 1 || pn > 65535)
        return -EINVAL;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM,
                             .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    if (!*host || !*port || getaddrinfo(host, port, &hints, &ai) != 0 || !ai)
        return -EINVAL;
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    *len = ai->ai_addrlen;
    freeaddrinfo(ai);
    return 0;
}

void rio_addr_format(const struct sockaddr *sa, char *buf, size_t len)
{
    char h[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &a->sin_addr, h, sizeof(h));
        port = ntohs(a->sin_port);
        snprintf(buf, len, "%s:%u", h, port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &a->sin6_addr, h, sizeof(h));
        port = ntohs(a->sin6_port);
        snprintf(buf, len, "[%s]:%u", h, port);
    } else {
        snprintf(buf, len, "?");
    }
}

/* As large as allowed; the forced variants pass the sysctl limits (root). */
static void big_buffers(int fd)
{
    int v = RIO_SOCK_BUF;
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof(v)) < 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof(v)) < 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
}

int rio_socket(const struct sockaddr *bind_to, socklen_t blen, bool reuseport,
               const struct sockaddr *peer, socklen_t plen, const char **why)
{
    int family = bind_to ? bind_to->sa_family : peer->sa_family;
    int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *why = "cannot create a UDP socket";
        return -errno;
    }
    big_buffers(fd);
    int one = 1;
    if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) {
        *why = "SO_REUSEPORT refused";
        goto fail;
    }
    if (bind_to && bind(fd, bind_to, blen) < 0) {
        *why = "cannot bind the UDP address (in use, or not local)";
        goto fail;
    }
    if (peer && connect(fd, peer, plen) < 0) {
        *why = "cannot connect the UDP socket to the iohost address";
        goto fail;
    }
    return fd;
fail:;
    int err = errno;
    close(fd);
    return -err;
}

int rio_iov_slice(const struct iovec *iov, int n, uint64_t skip, uint64_t len,
                  struct iovec *out, int max)
{
    int m = 0;
    for (int i = 0; i < n && len > 0; i++) {
        uint64_t l = iov[i].iov_len;
        if (skip >= l) {
            skip -= l;
            continue;
        }
        if (m == max)
            return -1;
        uint64_t k = SC_MIN(l - skip, len);
        out[m].iov_base = (uint8_t *)iov[i].iov_base + skip;
        out[m].iov_len = k;
        m++;
        len -= k;
        skip = 0;
    }
    return len ? -1 : m;
}

void rio_iov_to_buf(const struct iovec *iov, int n, uint64_t skip, uint8_t *dst, uint64_t len)
{
    for (int i = 0; i < n && len > 0; i++) {
        uint64_t l = iov[i].iov_len;
        if (skip >= l) {
            skip -= l;
            continue;
        }
        uint64_t k = SC_MIN(l - skip, len);
        memcpy(dst, (uint8_t *)iov[i].iov_base + skip, k);
        dst += k;
        len -= k;
        skip = 0;
    }
}

void rio_buf_to_iov(const struct iovec *iov, int n, uint64_t skip, const uint8_t *src,
                    uint64_t len)
{
    for (int i = 0; i < n && len > 0; i++) {
        uint64_t l = iov[i].iov_len;
        if (skip >= l) {
            skip -= l;
            continue;
        }
        uint64_t k = SC_MIN(l - skip, len);
        memcpy((uint8_t *)iov[i].iov_base + skip, src, k);
        src += k;
        len -= k;
        skip = 0;
    }
}

struct batch {
    struct mmsghdr msg[RIO_BATCH];
    struct iovec iov[RIO_BATCH][1 + RIO_FRAG_IOV];
    uint8_t hdr[RIO_BATCH][RIO_HDR_SIZE];
    unsigned n;
};

/* Cleared for the process when the kernel refuses UDP segmentation offload
 * (a device without checksum offload answers EIO): every send then takes
 * the datagram-per-message path. */
static _Atomic bool gso_ok = true;

bool rio_gso_usable(void)
{
    return atomic_load_explicit(&gso_ok, memory_order_relaxed);
}

void rio_gso_refused(int err)
{
    if (atomic_exchange(&gso_ok, false))
        LOG_INFO("remote", "UDP segmentation offload refused (%s): datagrams go out one "
                           "by one", strerror(err));
}

bool rio_gso_refusal(int err)
{
    return err == EIO || err == EINVAL || err == ENOPROTOOPT || err == EOPNOTSUPP;
}

bool rio_gso_too_big(int err, unsigned seg)
{
    static _Atomic bool told;
    if (err != EMSGSIZE)
        return false;
    if (!atomic_exchange(&told, true))
        LOG_WARN("remote", "datagrams of %u bytes exceed the route's MTU (EMSGSIZE): the "
                 "configured mtu is larger than the network's; they go out one by one and "
                 "IP-fragmented (set mtu to the path MTU)", seg);
    return true;
}


/* Messages [first, first + n) of b, each seg bytes but the last, as one
 * sendmsg that the kernel cuts into datagrams of seg bytes (UDP_SEGMENT):
 * one pass through the stack and the veth or NIC instead of one per
 * fragment (a 4K read's answer of 3 fragments: 5.0 -> 4.2 us round trip
 * on loopback). 1: not possible here, nothing sent; 0 or -errno. */
static int send_gso(int fd, struct batch *b, unsigned first, unsigned n, uint16_t seg)
{
    struct iovec v[RIO_BATCH * (1 + RIO_FRAG_IOV)];
    size_t nv = 0;
    for (unsigned i = first; i < first + n; i++) {
        const struct msghdr *m = &b->msg[i].msg_hdr;
        memcpy(v + nv, m->msg_iov, m->msg_iovlen * sizeof(*v));
        nv += m->msg_iovlen;
    }
    union rio_gso_ctl ctl;
    const struct msghdr *m0 = &b->msg[first].msg_hdr;
    struct msghdr m = {.msg_name = m0->msg_name, .msg_namelen = m0->msg_namelen,
                       .msg_iov = v, .msg_iovlen = nv};
    rio_gso_cmsg(&ctl, &m, seg);
    for (;;) {
        if (sendmsg(fd, &m, 0) >= 0)
            return 0;
        if (errno == EINTR)
            continue;
        if (rio_gso_refusal(errno)) {
            rio_gso_refused(errno);
            return 1;
        }
        if (rio_gso_too_big(errno, seg))
            return 1;
        return -errno;
    }
}

static int send_each(int fd, struct batch *b, unsigned first, unsigned n)
{
    unsigned sent = 0;
    while (sent < n) {
        int k = sendmmsg(fd, b->msg + first + sent, n - sent, 0);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        sent += (unsigned)k;
    }
    return 0;
}

/* seg: the size of every datagram of the batch but its last (0: they
 * differ). */
static int flush_batch(int fd, struct batch *b, uint16_t seg)
{
    if (!b->n)
        return 0;
    unsigned per = seg ? SC_MIN((unsigned)RIO_BATCH, GSO_MAX_PAYLOAD / seg) : 1;
    int rc = 0;
    for (unsigned first = 0; first < b->n && rc == 0;) {
        unsigned n = SC_MIN(per, b->n - first);
        rc = 1;
        if (n > 1 && rio_gso_usable())
            rc = send_gso(fd, b, first, n, seg);
        if (rc == 1)
            rc = send_each(fd, b, first, n);
        first += n;
    }
    sc_handoff();
    b->n = 0;
    return rc;
}

int rio_send(int fd, const struct sockaddr *to, socklen_t tolen, struct rio_hdr *h,
             const struct iovec *iov, int iovcnt, uint32_t len, uint16_t frag_size,
             uint8_t *stage)
{
    return rio_send_some(fd, to, tolen, h, iov, iovcnt, len, frag_size, stage, NULL);
}

int rio_send_some(int fd, const struct sockaddr *to, socklen_t tolen, struct rio_hdr *h,
                  const struct iovec *iov, int iovcnt, uint32_t len, uint16_t frag_size,
                  uint8_t *stage, const uint8_t *skip)
{
    struct batch b;
    uint32_t off = 0;
    int rc = 0;
    b.n = 0;
    h->frag_size = len ? frag_size : 0;
    /* Every fragment but the message's last is full. */
    uint16_t seg = len > frag_size && RIO_HDR_SIZE + frag_size <= UINT16_MAX
                       ? (uint16_t)(RIO_HDR_SIZE + frag_size)
                       : 0;
    do {
        uint32_t flen = SC_MIN(len - off, (uint32_t)frag_size);
        if (skip && rio_bitmap_has(skip, off / frag_size)) {
            /* Left out: a batch's datagrams are still full but its last
             * (only the message's last fragment is short), as GSO needs. */
            off += flen;
            continue;
        }
        unsigned i = b.n;
        h->frag_off = off;
        rio_hdr_encode(h, b.hdr[i]);
        b.iov[i][0] = (struct iovec){b.hdr[i], RIO_HDR_SIZE};
        int nio = flen ? rio_iov_slice(iov, iovcnt, off, flen, &b.iov[i][1], RIO_FRAG_IOV) : 0;
        if (nio < 0) {
            /* Too scattered for one datagram's iovec: this one is copied. */
            if ((rc = flush_batch(fd, &b, seg)) < 0)
                return rc;
            rio_iov_to_buf(iov, iovcnt, off, stage, flen);
            struct iovec one[2] = {{b.hdr[0], RIO_HDR_SIZE}, {stage, flen}};
            rio_hdr_encode(h, b.hdr[0]);
            rio_seal(b.hdr[0], &one[1], 1, flen);
            struct msghdr m = {.msg_name = (void *)to, .msg_namelen = to ? tolen : 0,
                               .msg_iov = one, .msg_iovlen = 2};
            if (sendmsg(fd, &m, 0) < 0)
                return -errno;
            sc_handoff();
        } else {
            rio_seal(b.hdr[i], &b.iov[i][1], nio, flen);
            b.msg[i].msg_hdr = (struct msghdr){.msg_name = (void *)to,
                                               .msg_namelen = to ? tolen : 0,
                                               .msg_iov = b.iov[i],
                                               .msg_iovlen = (size_t)(1 + nio)};
            if (++b.n == RIO_BATCH && (rc = flush_batch(fd, &b, seg)) < 0)
                return rc;
        }
        off += flen;
    } while (off < len);
    return b.n ? flush_batch(fd, &b, seg) : 0;
}

int rio_peek(int fd, struct rio_hdr *h, struct sockaddr_storage *from, socklen_t *fromlen)
{
    uint8_t buf[RIO_HDR_SIZE];
    for (;;) {
        ssize_t n = recvfrom(fd, buf, sizeof(buf), MSG_PEEK | MSG_TRUNC, (struct sockaddr *)from,
                             fromlen);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            /* ICMP errors (port unreachable) surface here: not data. */
            if (errno == ECONNREFUSED || errno == EHOSTUNREACH || errno == ENETUNREACH)
                continue;
            return -errno;
        }
        if (rio_hdr_decode(buf, (size_t)n, h) < 0) {
            rio_drop(fd);
            return -EINVAL;
        }
        return (int)n;
    }
}

void rio_drop(int fd)
{
    uint8_t b;
    while (recv(fd, &b, 1, MSG_TRUNC) < 0 && errno == EINTR)
        ;
}

int rio_recv_into(int fd, const struct iovec *iov, int iovcnt, uint64_t skip, uint32_t len,
                  uint8_t *stage)
{
    uint8_t hdr[RIO_HDR_SIZE];
    struct iovec v[1 + RIO_FRAG_IOV];
    v[0] = (struct iovec){hdr, sizeof(hdr)};
    int nio = rio_iov_slice(iov, iovcnt, skip, len, &v[1], RIO_FRAG_IOV);
    bool staged = nio < 0;
    if (staged) {
        v[1] = (struct iovec){stage, len};
        nio = 1;
    }
    struct msghdr m = {.msg_iov = v, .msg_iovlen = (size_t)(1 + nio)};
    ssize_t n;
    while ((n = recvmsg(fd, &m, 0)) < 0 && errno == EINTR)
        ;
    if (n < 0)
        return -errno;
    if ((size_t)n != RIO_HDR_SIZE + len || !rio_sealed(hdr, &v[1], nio, len))
        return -EINVAL;
    if (staged)
        rio_buf_to_iov(iov, iovcnt, skip, stage, len);
    return 0;
}

int rio_rxbatch_init(struct rio_rxbatch *b)
{
    memset(b, 0, sizeof(*b));
    b->slots = malloc((size_t)RIO_RX_BATCH * RIO_DGRAM_MAX);
    return b->slots ? 0 : -ENOMEM;
}

void rio_rxbatch_free(struct rio_rxbatch *b)
{
    free(b->slots);
    b->slots = NULL;
}

int rio_recv_batch(int fd, struct rio_rxbatch *b)
{
    for (unsigned i = 0; i < RIO_RX_BATCH; i++) {
        b->iov[i] = (struct iovec){b->slots + (size_t)i * RIO_DGRAM_MAX, RIO_DGRAM_MAX};
        b->msg[i].msg_hdr = (struct msghdr){.msg_name = &b->from[i],
                                            .msg_namelen = sizeof(b->from[i]),
                                            .msg_iov = &b->iov[i], .msg_iovlen = 1,
                                            .msg_control = b->ctl[i].buf,
                                            .msg_controllen = sizeof(b->ctl[i].buf)};
    }
    for (;;) {
        int n = recvmmsg(fd, b->msg, RIO_RX_BATCH, MSG_DONTWAIT, NULL);
        if (n >= 0) {
            for (int i = 0; i < n; i++)
                b->seg[i] = rio_gro_size(&b->msg[i].msg_hdr, b->msg[i].msg_len);
            return n;
        }
        /* ICMP errors (port unreachable) surface here: not data. */
        if (errno == EINTR || errno == ECONNREFUSED || errno == EHOSTUNREACH ||
            errno == ENETUNREACH)
            continue;
        return errno == EAGAIN ? 0 : -errno;
    }
}
