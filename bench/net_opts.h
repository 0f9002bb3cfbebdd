/* Options of `sidecore-bench net-compare`: which rows of the matrix to run
 * (packet sizes, rings, directions, hugepages or not) and the measuring
 * window. Parsing prints a usage error and returns -1 on bad input. */
#ifndef BENCH_NET_OPTS_H
#define BENCH_NET_OPTS_H

#include <stdbool.h>
#include <stdio.h>

#define NET_MAX_SIZES 4
#define NET_MAX_REPEAT 9

struct net_opts {
    unsigned sizes[NET_MAX_SIZES], nsizes; /* frame bytes, 60..1518 */
    bool split, packed;
    bool tx, rx, g2g;                     /* directions */
    bool huge_off, huge_on;
    unsigned warmup_s, time_s;
    unsigned queue_size;                  /* the clients' rings */
    unsigned repeat;                      /* rounds per backend, 1..NET_MAX_REPEAT */
    bool json, quiet;
};

/* argv starts after the subcommand. */
int net_opts_parse(int argc, char **argv, struct net_opts *o);
/* The usage text: to stdout for --help, to stderr after a mistake. */
void net_opts_usage(FILE *out);

#endif
