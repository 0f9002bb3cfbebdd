/* The bare veth hop: a UDP request-response ping-pong between a VM host's
 * namespace and the I/O host's, shaped like a vRIO 4 KiB read (a request of
 * one header; the answer as the fragments vRIO would send at this MTU, each
 * with its header, sent and received the way vRIO does: one segmented send
 * and, on a UDP_GRO socket, usually one receive), so its round trip is
 * what the network path alone costs a remote read. Two ways of waiting, as
 * a sidecore may: polling (non-blocking receive, sched_yield between tries
 * so both ends make progress even when they share a CPU) and blocking
 * (every receive pays a wake-up). A round unanswered within 100 ms counts as
 * lost and the next one starts. */
#ifndef BENCH_REMOTE_HOP_H
#define BENCH_REMOTE_HOP_H

#include <stdbool.h>
#include <stdint.h>

#include "hist.h"

struct hop_params {
    const char *client_ns, *server_ns;
    const char *server_ip;
    unsigned mtu;
    uint32_t reply_bytes;       /* data in the answer (4096 for a 4K read) */
    int client_cpu, server_cpu; /* -1: not pinned */
    bool polling;
    double time_s;
};

struct hop_result {
    struct hist rtt;            /* ns */
    uint64_t rounds, lost;
    unsigned datagrams;         /* per answer */
};

/* 0, or -1 with a message (no sockets, thread, namespace). */
int hop_run(const struct hop_params *p, struct hop_result *r);

#endif
