#include "remote_rr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/util.h"
#include "remote_ns.h"

#define LOST_NS (100ull * 1000000ull)
#define WARMUP_ROUNDS 200
/* A path that loses this many warm-up rounds is broken: 100 ms each. */
#define WARMUP_MAX_LOST 10
#define MAX_PAYLOAD 1400

static int open_socket(const struct rr_params *p)
{
    int fd = rns_socket(p->ns, SOCK_DGRAM);
    if (fd < 0)
        return -1;
    struct sockaddr_in src = {.sin_family = AF_INET, .sin_port = htons(p->port)};
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(p->port + 1)};
    /* Blocking waits wake up now and then to notice a lost round. */
    struct timeval tv = {0, 10000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (inet_pton(AF_INET, p->src_ip, &src.sin_addr) != 1 ||
        inet_pton(AF_INET, p->dst_ip, &dst.sin_addr) != 1 ||
        bind(fd, (struct sockaddr *)&src, sizeof(src)) ||
        connect(fd, (struct sockaddr *)&dst, sizeof(dst))) {
        fprintf(stderr, "sidecore-bench: request-response socket %s -> %s in %s: %s\n",
                p->src_ip, p->dst_ip, p->ns, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* One round: the request out, its own answer back (late answers of lost
 * rounds, or anything else arriving, are skipped). */
static bool round_trip(const struct rr_params *p, int fd, uint64_t seq, uint8_t *buf)
{
    memcpy(buf, &seq, sizeof(seq));
    if (send(fd, buf, p->payload, 0) != (ssize_t)p->payload)
        return false;
    uint64_t deadline = sc_now_ns() + LOST_NS;
    for (;;) {
        uint8_t in[MAX_PAYLOAD + 64];
        ssize_t n = recv(fd, in, sizeof(in), p->polling ? MSG_DONTWAIT : 0);
        if (n >= (ssize_t)sizeof(seq)) {
            uint64_t s;
            memcpy(&s, in, sizeof(s));
            if (s == seq)
                return true;
        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
            return false;
        }
        if (sc_now_ns() > deadline)
            return false;
        if (p->polling && n < 0)
            sched_yield();
    }
}

int rr_run(const struct rr_params *p, struct rr_result *r)
{
    memset(r, 0, sizeof(*r));
    hist_init(&r->rtt);
    if (p->payload < 8 || p->payload > MAX_PAYLOAD) {
        fprintf(stderr, "sidecore-bench: request-response payload %u: 8..%u\n", p->payload,
                MAX_PAYLOAD);
        return -1;
    }
    int fd = open_socket(p);
    if (fd < 0)
        return -1;
    cpu_set_t old;
    pthread_getaffinity_np(pthread_self(), sizeof(old), &old);
    if (p->cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(p->cpu, &set);
        pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
    }
    uint8_t buf[MAX_PAYLOAD] = {0};
    uint64_t seq = 1, warm_lost = 0;
    for (unsigned i = 0; i < WARMUP_ROUNDS && warm_lost < WARMUP_MAX_LOST &&
                         !(p->stop && *p->stop); i++)
        warm_lost += !round_trip(p, fd, seq++, buf);
    uint64_t end = sc_now_ns() + (uint64_t)(p->time_s * 1e9);
    while (sc_now_ns() < end && !(p->stop && *p->stop)) {
        uint64_t t0 = sc_now_ns();
        if (round_trip(p, fd, seq++, buf))
            hist_add(&r->rtt, sc_now_ns() - t0);
        else
            r->lost++;
        r->rounds++;
    }
    pthread_setaffinity_np(pthread_self(), sizeof(old), &old);
    close(fd);
    if (r->rtt.count == 0) {
        fprintf(stderr, "sidecore-bench: request-response %s -> %s: no answer in %llu "
                "round(s) (%llu of %u warm-up rounds lost)\n", p->src_ip, p->dst_ip,
                (unsigned long long)r->rounds, (unsigned long long)warm_lost, WARMUP_ROUNDS);
        return -1;
    }
    return 0;
}
