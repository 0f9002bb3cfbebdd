/* `sidecore-bench remote-compare`: local (Elvis: the device's sidecore on
 * the VM's host) against remote (vRIO: a vmhost sidecored forwarding to an
 * iohost sidecored over UDP), on this machine, with the hosts stood in for
 * by network namespaces (remote_ns.h). It starts a local sidecored, an
 * iohost in scb-io and vmhosts in scb-vm0 / scb-vm1, drives their
 * vhost-user sockets with the bench's own frontend (the "guest"), and
 * prints every row local and remote side by side with remote/local
 * (remote_table.h): blk 4K randread QD1 latency and loaded IOPS per
 * backend, the sidecores' busy time per request, the bare veth hop
 * (remote_hop.h), consolidation: two vmhosts with imbalanced load on
 * one iohost sidecore against one local sidecore each, and net
 * request-response and stream (remote_net.h).
 *
 * Every daemon, namespace and file it creates is removed on every exit
 * path; SIGINT / SIGTERM end the run after the measurement in progress
 * (each is bounded by --time). Exit status: 0 every row measured on both
 * sides, 1 some row failed, 2 bad options or set-up.
 *
 * The net rows (request-response, stream, the hop of a frame) are
 * remote_net.h's, on daemons of their own; bench_remote_compare calls each
 * row group in turn. */
#ifndef BENCH_REMOTE_COMPARE_H
#define BENCH_REMOTE_COMPARE_H

#include <limits.h>
#include <signal.h>

#include "remote_ns.h"
#include "remote_opts.h"
#include "remote_table.h"

/* What a row group needs: options, hosts, the sidecored binary, a scratch
 * directory (removed afterwards), and the stop flag it must honour between
 * measurements. */
struct rc_env {
    const struct remote_opts *o;
    struct rns ns;
    char sidecored[PATH_MAX];
    char dir[64];
    volatile sig_atomic_t *stop;
};

/* argv starts after the subcommand. */
int bench_remote_compare(int argc, char **argv, const char *argv0);

#endif
