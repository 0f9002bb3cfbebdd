/* dpdk-testpmd as a process the bench drives: started non-interactive with
 * both lcores on one CPU and port statistics printed every second
 * (line-buffered through stdbuf, so the log can be read while it runs),
 * stopped with SIGINT (SIGKILL after 15 s) and its EAL runtime directory
 * removed. The periodic port statistics are the measurement: each block
 * carries cumulative counters and testpmd's own packets per second since
 * the previous block. */
#ifndef BENCH_TESTPMD_H
#define BENCH_TESTPMD_H

#include <stdint.h>

#include "daemon.h"

#define PMD_MAX_VDEVS 2
#define PMD_MAX_EXTRA 4

struct pmd_cfg {
    const char *name;       /* log <dir>/pmd-<name>.log, EAL prefix from it */
    int cpu;
    const char *mode;       /* --forward-mode */
    const char *vdevs[PMD_MAX_VDEVS];
    const char *extra[PMD_MAX_EXTRA]; /* more testpmd (not EAL) arguments */
    const char *huge_dir;   /* NULL: --no-huge */
};

struct testpmd {
    struct daemon d;
    char prefix[64];
};

/* One periodic statistics block of one port. */
struct pmd_sample {
    uint64_t rx, tx;        /* cumulative packets */
    double rx_pps, tx_pps;  /* since the previous block */
};

int testpmd_start(struct testpmd *t, const struct pmd_cfg *c, const char *dir);
/* Until testpmd says it forwards; -1 (log shown) when it died or timed out. */
int testpmd_wait_forwarding(struct testpmd *t, unsigned timeout_ms);
/* Statistics blocks printed so far for port. */
unsigned testpmd_blocks(const struct testpmd *t, unsigned port);
void testpmd_stop(struct testpmd *t);
/* Counts port's blocks in a log and stores the first max of them in out. */
unsigned testpmd_samples(const char *log, unsigned port, struct pmd_sample *out, unsigned max);

#endif
