/* `sidecore-bench net-compare`: sidecored against DPDK's vhost PMD with the
 * same testpmd virtio-user client, row by row in one run (net_side.h runs
 * one row on one backend): frame sizes x split/packed x directions, first
 * without hugepages, then with 2 MiB hugepages borrowed for the run and
 * given back. Prints Mpps of both, their ratio and the sidecore's busy time
 * per packet, as a table or JSON. Exit status: 0 all rows measured, 1 some
 * row failed, 2 bad options or setup. */
#ifndef BENCH_NET_COMPARE_H
#define BENCH_NET_COMPARE_H

/* argv starts after the subcommand. */
int bench_net_compare(int argc, char **argv, const char *argv0);

#endif
