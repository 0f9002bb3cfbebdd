/* One row of `net-compare` on one backend: starts the backend (sidecored
 * with one polling sidecore, or testpmd with the vhost PMD) on the backend
 * CPU and the testpmd virtio-user client(s) on the client CPU, measures the
 * client's own cumulative port counters across a window of at least time_s
 * seconds after warmup_s seconds (timed here, from the blocks testpmd
 * prints), and stops every process it started, whatever happened.
 * Directions:
 *   tx   client txonly into the backend's sink (sidecored backend=sink,
 *        DPDK rxonly); measured: the client's Tx-pps
 *   rx   the backend transmits (sidecored's source, DPDK txonly) into the
 *        client's rxonly; measured: the client's Rx-pps
 *   g2g  client A txonly to client B rxonly through sidecored's switch, or
 *        through one testpmd with two vhost ports in io mode; both clients
 *        share the client CPU; measured: B's Rx-pps */
#ifndef BENCH_NET_SIDE_H
#define BENCH_NET_SIDE_H

#include <stdbool.h>
#include <stdint.h>

enum nc_dir { NC_TX, NC_RX, NC_G2G };
enum nc_backend { NC_SIDECORED, NC_DPDK };

struct nc_case {
    enum nc_dir dir;
    unsigned size;   /* frame bytes */
    bool packed;
    bool huge;
};

struct nc_env {
    const char *dir;        /* scratch dir for sockets and logs */
    const char *sidecored;  /* binary */
    const char *huge_dir;   /* hugetlbfs mount; NULL: --no-huge */
    unsigned warmup_s, time_s;
    unsigned queue_size;    /* the clients' ring size */
    int client_cpu, backend_cpu;
    const volatile int *stop; /* set by a signal: give up now */
};

#define NC_MAX_SAMPLES 600

struct nc_result {
    bool ran, ok;
    double mpps;              /* packets / seconds */
    uint64_t packets;         /* counted by the client in the window */
    double seconds;           /* the window: at least time_s */
    unsigned nsamples;
    double pps[NC_MAX_SAMPLES]; /* the client's rates, block by block */
    /* sidecored only, over the same window */
    bool have_sc;
    uint64_t features;        /* negotiated by the client's device (n0) */
    double busy_pct;          /* sidecore rounds that found work */
    double busy_ns_per_pkt;   /* per packet the device moved */
};

const char *nc_dir_name(enum nc_dir d);
const char *nc_backend_name(enum nc_backend b);
/* 0, or -1 when the row could not be measured (why is on stderr). */
int nc_run(enum nc_backend b, const struct nc_case *c, const struct nc_env *e,
           struct nc_result *r);

#endif
