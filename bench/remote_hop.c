#include "remote_hop.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/util.h"
#include "remote/rio_io.h"
#include "remote_ns.h"

#define HOP_PORT 7499
#define HDR RIO_HDR_SIZE /* vRIO's header */
#define IP_UDP 28
#define MAX_FRAGS 16
#define LOST_NS (100ull * 1000000ull)

struct server {
    int fd, cpu;
    bool polling, gso;
    unsigned frag, nfrag;
    uint32_t reply_bytes;
    uint8_t *data; /* nfrag datagrams of HDR + frag bytes */
    _Atomic bool stop;
};

static void pin(int cpu)
{
    if (cpu < 0)
        return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

/* One receive: a datagram, or a run of them coalesced by UDP_GRO (*count
 * of them); -1 after 100 ms (blocking) / when asked to stop. */
static ssize_t receive(int fd, void *buf, size_t len, bool polling, uint64_t deadline,
                       unsigned *count)
{
    for (;;) {
        struct iovec v = {buf, len};
        union rio_gro_ctl ctl;
        struct msghdr m = {.msg_iov = &v, .msg_iovlen = 1, .msg_control = ctl.buf,
                           .msg_controllen = sizeof(ctl.buf)};
        ssize_t n = recvmsg(fd, &m, polling ? MSG_DONTWAIT : 0);
        if (n >= 0) {
            uint32_t seg = rio_gro_size(&m, (size_t)n);
            *count = seg ? (unsigned)(((size_t)n + seg - 1) / seg) : 1;
            return n;
        }
        if (errno != EAGAIN && errno != EINTR)
            return -1;
        if (deadline && sc_now_ns() > deadline)
            return -1;
        if (polling)
            sched_yield();
    }
}

/* Answers each request with nfrag datagrams that echo its sequence number. */
static void *serve(void *arg)
{
    struct server *s = arg;
    pin(s->cpu);
    while (!atomic_load_explicit(&s->stop, memory_order_relaxed)) {
        uint8_t req[HDR];
        struct sockaddr_in from;
        socklen_t flen = sizeof(from);
        ssize_t n = recvfrom(s->fd, req, sizeof(req), s->polling ? MSG_DONTWAIT : 0,
                             (struct sockaddr *)&from, &flen);
        if (n < 0) {
            if (s->polling)
                sched_yield();
            continue;
        }
        struct mmsghdr m[MAX_FRAGS];
        struct iovec v[MAX_FRAGS];
        for (unsigned i = 0; i < s->nfrag; i++) {
            uint32_t off = i * s->frag;
            uint32_t len = SC_MIN(s->reply_bytes - off, s->frag);
            uint8_t *d = s->data + (size_t)i * (HDR + s->frag);
            memcpy(d, req, 8);
            v[i] = (struct iovec){d, HDR + len};
            m[i].msg_hdr = (struct msghdr){.msg_name = &from, .msg_namelen = flen,
                                           .msg_iov = &v[i], .msg_iovlen = 1};
        }
        /* As vRIO sends an answer: one segmented send (the fragments lie
         * back to back), one datagram each where the kernel refuses. */
        struct iovec all = {s->data, (size_t)(v[s->nfrag - 1].iov_base - (void *)s->data) +
                                         v[s->nfrag - 1].iov_len};
        struct msghdr one = {.msg_name = &from, .msg_namelen = flen, .msg_iov = &all,
                             .msg_iovlen = 1};
        union rio_gso_ctl ctl;
        if (s->nfrag > 1)
            rio_gso_cmsg(&ctl, &one, (uint16_t)(HDR + s->frag));
        if (s->gso && sendmsg(s->fd, &one, 0) >= 0)
            continue;
        s->gso = false;
        for (unsigned sent = 0; sent < s->nfrag;) {
            int k = sendmmsg(s->fd, m + sent, s->nfrag - sent, 0);
            if (k <= 0)
                break;
            sent += (unsigned)k;
        }
    }
    return NULL;
}

static int open_pair(const struct hop_params *p, int *cfd, int *sfd)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(HOP_PORT)};
    inet_pton(AF_INET, p->server_ip, &sa.sin_addr);
    *sfd = rns_socket(p->server_ns, SOCK_DGRAM);
    *cfd = rns_socket(p->client_ns, SOCK_DGRAM);
    if (*sfd < 0 || *cfd < 0)
        return -1;
    /* The blocking waits wake up to notice the end of the run. */
    struct timeval tv = {0, 100000};
    setsockopt(*sfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(*cfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    /* As vRIO's vmhost: an answer's fragments sent as one run come in one
     * receive. */
    rio_gro_on(*cfd);
    if (bind(*sfd, (struct sockaddr *)&sa, sizeof(sa)) ||
        connect(*cfd, (struct sockaddr *)&sa, sizeof(sa))) {
        perror("sidecore-bench: hop socket set-up");
        return -1;
    }
    return 0;
}

/* One round: the request out, every fragment of its answer back. */
static bool round_trip(const struct hop_params *p, int fd, uint64_t seq, unsigned nfrag)
{
    uint8_t req[HDR] = {0}, buf[65536];
    memcpy(req, &seq, 8);
    if (send(fd, req, sizeof(req), 0) != (ssize_t)sizeof(req))
        return false;
    uint64_t deadline = sc_now_ns() + LOST_NS;
    for (unsigned got = 0; got < nfrag;) {
        unsigned count = 1;
        ssize_t n = receive(fd, buf, sizeof(buf), p->polling, deadline, &count);
        if (n < 0)
            return false;
        uint64_t s;
        memcpy(&s, buf, 8);
        if (n >= HDR && s == seq) /* late answers of lost rounds are skipped */
            got += count;
    }
    return true;
}

int hop_run(const struct hop_params *p, struct hop_result *r)
{
    memset(r, 0, sizeof(*r));
    hist_init(&r->rtt);
    unsigned frag = p->mtu - IP_UDP - HDR;
    struct server s = {.cpu = p->server_cpu, .polling = p->polling, .gso = true, .frag = frag,
                       .reply_bytes = p->reply_bytes,
                       .nfrag = (p->reply_bytes + frag - 1) / frag};
    if (s.nfrag == 0 || s.nfrag > MAX_FRAGS || frag > 9000) {
        fprintf(stderr, "sidecore-bench: hop: %u bytes at MTU %u do not fit %u datagrams\n",
                p->reply_bytes, p->mtu, MAX_FRAGS);
        return -1;
    }
    r->datagrams = s.nfrag;
    s.data = calloc(s.nfrag, HDR + frag);
    int cfd = -1;
    s.fd = -1;
    pthread_t t;
    int rc = -1;
    if (s.data && open_pair(p, &cfd, &s.fd) == 0 && pthread_create(&t, NULL, serve, &s) == 0) {
        cpu_set_t old;
        pthread_getaffinity_np(pthread_self(), sizeof(old), &old);
        pin(p->client_cpu);
        uint64_t end = sc_now_ns() + (uint64_t)(p->time_s * 1e9);
        for (uint64_t seq = 1; sc_now_ns() < end; seq++) {
            uint64_t t0 = sc_now_ns();
            if (round_trip(p, cfd, seq, s.nfrag))
                hist_add(&r->rtt, sc_now_ns() - t0);
            else
                r->lost++;
            r->rounds++;
        }
        pthread_setaffinity_np(pthread_self(), sizeof(old), &old);
        atomic_store(&s.stop, true);
        pthread_join(t, NULL);
        rc = r->rtt.count ? 0 : -1;
        if (rc)
            fprintf(stderr, "sidecore-bench: hop: no answer in %llu round(s)\n",
                    (unsigned long long)r->rounds);
    }
    if (cfd >= 0)
        close(cfd);
    if (s.fd >= 0)
        close(s.fd);
    free(s.data);
    return rc;
}
