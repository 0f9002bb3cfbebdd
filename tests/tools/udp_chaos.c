/* udp_chaos: a UDP relay that loses and reorders datagrams, for tests on
 * kernels without sch_netem (tc netem). Datagrams from any client to
 * LISTEN go to TARGET from a socket of their own per client (so replies
 * find their way back); both directions: each datagram is dropped with
 * probability LOSS percent, else held back with probability REORDER percent
 * and sent after the next datagram of that direction (or after 2 ms).
 * With MUTATE > 0, each datagram that goes through is followed, with that
 * probability percent, by a damaged copy (bits flipped, fields set to edge
 * values, cut short or extended), as a faulty or hostile network would
 * deliver it: the receivers must survive it (no data guarantee then).
 * Half of those go out together with the datagram as one segmented run
 * (UDP_SEGMENT), which a receiver with UDP_GRO takes in one receive.
 * Deterministic (fixed seed); exits after SECONDS. Numeric IPv4 only.
 * usage: udp_chaos LISTEN_IP:PORT TARGET_IP:PORT LOSS REORDER SECONDS [MUTATE] */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "remote/rio_io.h"

#define MAX_CLIENTS 256
#define HOLD_NS 2000000ull

struct held {
    int fd;
    struct sockaddr_in to;
    uint8_t buf[65536];
    ssize_t len;
    uint64_t since;
};

struct client {
    struct sockaddr_in addr;
    int fd; /* upstream socket */
    struct held up, down; /* held datagram per direction (len 0: none) */
};

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static unsigned pct(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % 100);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int parse(const char *s, struct sockaddr_in *a)
{
    char host[64];
    const char *c = strrchr(s, ':');
    if (!c || (size_t)(c - s) >= sizeof(host))
        return -1;
    memcpy(host, s, (size_t)(c - s));
    host[c - s] = 0;
    memset(a, 0, sizeof(*a));
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)atoi(c + 1));
    return inet_pton(AF_INET, host, &a->sin_addr) == 1 ? 0 : -1;
}

static void out(int fd, const struct sockaddr_in *to, const void *b, ssize_t n)
{
    if (sendto(fd, b, (size_t)n, 0, (const struct sockaddr *)to, sizeof(*to)) < 0 &&
        errno != EAGAIN)
        perror("udp_chaos: sendto");
}

static void release(struct held *h)
{
    if (h->len) {
        out(h->fd, &h->to, h->buf, h->len);
        h->len = 0;
    }
}

static unsigned loss, reorder, mutate;

static uint64_t rnd64(void)
{
    pct();
    return rng;
}

/* b then m as one run of datagrams of n bytes (m may be shorter): 0, or -1
 * when the kernel refuses (the caller sends them one by one). */
static int out_run(int fd, const struct sockaddr_in *to, const uint8_t *b, size_t n,
                   const uint8_t *m, size_t len)
{
    struct iovec v[2] = {{(void *)b, n}, {(void *)m, len}};
    union rio_gso_ctl ctl;
    struct msghdr h = {.msg_name = (void *)to, .msg_namelen = sizeof(*to), .msg_iov = v,
                       .msg_iovlen = 2};
    rio_gso_cmsg(&ctl, &h, (uint16_t)n);
    return sendmsg(fd, &h, 0) < 0 ? -1 : 0;
}

/* A damaged copy of b: header bytes get the damage most of the time, since
 * that is where parsers decide what the rest means. True when it went out
 * in one run with b (b is then sent). */
static bool send_mutant(int fd, const struct sockaddr_in *to, const uint8_t *b, ssize_t n)
{
    static uint8_t m[65536 + 64];
    static const uint64_t edges[] = {0, 1, 0x7f, 0xff, 0xffff, 0x7fffffff, 0xffffffffu,
                                     0x8000000000000000ull, ~0ull};
    memcpy(m, b, (size_t)n);
    size_t len = (size_t)n, span = len < 64 ? len : 64;
    unsigned kind = pct();
    if (kind < 50 && span) {
        unsigned flips = 1 + pct() % 4;
        for (unsigned i = 0; i < flips; i++)
            m[rnd64() % span] ^= (uint8_t)(1u << (pct() % 8));
    } else if (kind < 75 && span >= 8) {
        uint64_t v = edges[pct() % (sizeof(edges) / sizeof(edges[0]))];
        unsigned w = 1u << (pct() % 4); /* 1, 2, 4 or 8 bytes */
        size_t at = rnd64() % (span - w + 1);
        memcpy(m + at, &v, w);
    } else if (kind < 90) {
        len = rnd64() % (len + 1);
    } else {
        size_t extra = 1 + pct() % 64;
        for (size_t i = 0; i < extra; i++)
            m[len + i] = (uint8_t)rnd64();
        len += extra;
    }
    if (len && len <= (size_t)n && (size_t)n + len <= 65000 && pct() < 50 &&
        out_run(fd, to, b, (size_t)n, m, len) == 0)
        return true;
    out(fd, to, m, (ssize_t)len);
    return false;
}

/* One datagram through the chaos: lost, held, or sent (then the held one). */
static void pass(struct held *h, int fd, const struct sockaddr_in *to, const uint8_t *b,
                 ssize_t n)
{
    if (mutate && pct() < mutate && send_mutant(fd, to, b, n)) {
        release(h);
        return;
    }
    if (pct() < loss)
        return;
    if (!h->len && pct() < reorder) {
        h->fd = fd;
        h->to = *to;
        memcpy(h->buf, b, (size_t)n);
        h->len = n;
        h->since = now_ns();
        return;
    }
    out(fd, to, b, n);
    release(h);
}

int main(int argc, char **argv)
{
    struct sockaddr_in la, ta;
    if (argc < 6 || argc > 7 || parse(argv[1], &la) || parse(argv[2], &ta)) {
        fprintf(stderr,
                "usage: udp_chaos LISTEN_IP:PORT TARGET_IP:PORT LOSS REORDER SECONDS [MUTATE]\n");
        return 2;
    }
    mutate = argc == 7 ? (unsigned)atoi(argv[6]) : 0;
    loss = (unsigned)atoi(argv[3]);
    reorder = (unsigned)atoi(argv[4]);
    uint64_t end = now_ns() + (uint64_t)atoi(argv[5]) * 1000000000ull;
    int lfd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&la, sizeof(la)) < 0) {
        perror("udp_chaos: bind");
        return 1;
    }
    static struct client cl[MAX_CLIENTS];
    unsigned ncl = 0;
    static uint8_t buf[65536];
    uint64_t dropped_clients = 0;
    while (now_ns() < end) {
        struct pollfd p[MAX_CLIENTS + 1];
        p[0] = (struct pollfd){.fd = lfd, .events = POLLIN};
        for (unsigned i = 0; i < ncl; i++)
            p[i + 1] = (struct pollfd){.fd = cl[i].fd, .events = POLLIN};
        poll(p, ncl + 1, 1);
        struct sockaddr_in from;
        socklen_t fl = sizeof(from);
        ssize_t n;
        while ((n = recvfrom(lfd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl)) > 0) {
            unsigned i = 0;
            while (i < ncl && (cl[i].addr.sin_port != from.sin_port ||
                               cl[i].addr.sin_addr.s_addr != from.sin_addr.s_addr))
                i++;
            if (i == ncl) {
                if (ncl == MAX_CLIENTS) {
                    dropped_clients++;
                    continue;
                }
                cl[i].addr = from;
                cl[i].fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
                ncl++;
            }
            pass(&cl[i].up, cl[i].fd, &ta, buf, n);
            fl = sizeof(from);
        }
        for (unsigned i = 0; i < ncl; i++) {
            while ((n = recv(cl[i].fd, buf, sizeof(buf), 0)) > 0)
                pass(&cl[i].down, lfd, &cl[i].addr, buf, n);
            uint64_t t = now_ns();
            if (cl[i].up.len && t - cl[i].up.since > HOLD_NS)
                release(&cl[i].up);
            if (cl[i].down.len && t - cl[i].down.since > HOLD_NS)
                release(&cl[i].down);
        }
    }
    if (dropped_clients)
        fprintf(stderr, "udp_chaos: %llu datagrams from clients beyond %d dropped\n",
                (unsigned long long)dropped_clients, MAX_CLIENTS);
    return 0;
}
