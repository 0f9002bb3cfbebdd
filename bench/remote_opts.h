/* Options of `sidecore-bench remote-compare`: which rows to measure, for
 * how long, the path MTU and where everything runs. Parsing prints a usage
 * error and returns -1 on bad input. */
#ifndef BENCH_REMOTE_OPTS_H
#define BENCH_REMOTE_OPTS_H

#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>

struct remote_opts {
    bool null_be, file_be;         /* backends of the blk rows */
    bool blk, hop, consol, net;    /* row groups */
    double time_s;                 /* per measurement */
    uint64_t size;                 /* device size, 0: 1 GiB null, 256 MiB file */
    unsigned mtu;                  /* veth and vRIO path MTU */
    unsigned qd_hi;                /* the loaded queue depth (QD32 rows, consolidation) */
    int bench_cpu, local_cpu, vmhost_cpu, iohost_cpu;
    int idle_us;                   /* every sidecored's --idle-us, -1: its default */
    bool event;                    /* the bench waits on call eventfds instead of polling */
    bool json, quiet;
};

/* argv starts after the subcommand. */
int remote_opts_parse(int argc, char **argv, struct remote_opts *o);
/* The usage text: to stdout for --help, to stderr after a mistake. */
void remote_opts_usage(FILE *out);

#endif
