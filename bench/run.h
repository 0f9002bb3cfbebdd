/* `sidecore-bench run`: one workload against one vhost-user blk socket.
 * bench_run() opens the device, runs the phases (prefill for read-only
 * workloads under --verify, the timed/counted main phase, then a read-back
 * of every block written when verifying) and closes it.
 * Exit codes: 0 clean, 1 I/O errors or verify mismatches, 2 could not run
 * (setup failure, protocol violation, request timeout). */
#ifndef BENCH_RUN_H
#define BENCH_RUN_H

#include <jansson.h>

#include "engine.h"
#include "opts.h"

struct run_result {
    struct vu_blk_info info;
    uint64_t nblocks;
    struct phase_result main, prefill, readback;
    bool did_prefill, did_readback;
    uint64_t checked, mismatches;
    int rc;
};

int bench_run(const struct bench_opts *o, const char *socket, struct run_result *res);
void run_print(const struct bench_opts *o, const struct run_result *res);
json_t *run_json(const struct bench_opts *o, const struct run_result *res);
double run_iops(const struct run_result *res);
double run_mbps(const struct run_result *res);

#endif
