/* sidecore-bench options: parsed once from argv, shared by `run` and
 * `compare`. Parsing prints a usage error and returns -1 on bad input. */
#ifndef BENCH_OPTS_H
#define BENCH_OPTS_H

#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>

enum workload { WL_RANDREAD, WL_RANDWRITE, WL_READ, WL_WRITE, WL_MIXED };

struct bench_opts {
    const char *socket;      /* run */
    const char *rpc;         /* run: sidecored's control socket, for its CPU figures */
    const char *backend;     /* compare: null|file */
    uint64_t size;           /* compare: device size in bytes */
    enum workload wl;
    unsigned rwmix;          /* percent reads for mixed */
    uint32_t bs;
    unsigned qd, queues;
    double time_s;           /* 0 with ios set: no time limit */
    uint64_t ios;            /* 0: no count limit */
    uint64_t span;           /* bytes of the device to use, 0: all */
    bool verify, json, event, quiet;
    bool packed, in_order;   /* ring layout and IN_ORDER (run) */
    int cpu;                 /* -1: no pinning */
    unsigned mem_mb;         /* 0: derived */
    unsigned timeout_s;
    unsigned repeat;         /* compare: rounds per side, alternating; median shown */
};

const char *workload_name(enum workload w);
enum opts_mode { OPTS_RUN, OPTS_COMPARE, OPTS_IDLE };
/* argv starts after the subcommand. run needs --socket, compare --backend;
 * idle needs neither (its --queues defaults to 16). */
int opts_parse(int argc, char **argv, enum opts_mode mode, struct bench_opts *o);
/* The usage text: to stdout for --help, to stderr after a mistake. */
void opts_usage(FILE *out);
int parse_size(const char *s, uint64_t *out);

#endif
