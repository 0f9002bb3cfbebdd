/* The net request-response client of remote-compare: a UDP ping-pong from
 * a host's own stack (a socket made in the namespace that holds the
 * switch's tap) to a "VM" that swaps addresses and ports (testpmd 5tswap),
 * one request in flight. Each request carries a sequence number; answers
 * of a round given up (no answer within 100 ms: lost) are skipped. The
 * first rounds warm the path (switch learning, caches) and are not
 * counted. Waiting is polling (non-blocking receive, sched_yield between
 * tries, so a sidecore sharing the CPU runs) or blocking. */
#ifndef BENCH_REMOTE_RR_H
#define BENCH_REMOTE_RR_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "hist.h"

struct rr_params {
    const char *ns;          /* namespace of the client's socket */
    const char *src_ip, *dst_ip;
    uint16_t port;           /* the client's; the VM side's is port + 1 */
    unsigned payload;        /* UDP payload bytes, 8..1400 */
    int cpu;                 /* the client thread's CPU for the run, -1: any */
    bool polling;
    double time_s;
    volatile sig_atomic_t *stop; /* ends the run early when set (may be NULL) */
};

struct rr_result {
    struct hist rtt;         /* ns, counted rounds */
    uint64_t rounds, lost;
};

/* 0, or -1 with a message (no socket, or not one answer). */
int rr_run(const struct rr_params *p, struct rr_result *r);

#endif
