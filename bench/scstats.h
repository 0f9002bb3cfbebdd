/* The sidecores' own account of a run, read from sidecored's control socket
 * (sidecore_stats) before and after: busy time (poll rounds that found
 * work) and requests completed, summed over all sidecores. */
#ifndef BENCH_SCSTATS_H
#define BENCH_SCSTATS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct sc_usage {
    uint64_t busy_ns, requests, wall_ns;
    bool ok;
};

/* A snapshot; ok false (with a message) when the daemon did not answer. */
void sc_usage_sample(const char *rpc, struct sc_usage *s);
/* after - before; ok only when both are. */
struct sc_usage sc_usage_delta(const struct sc_usage *before, const struct sc_usage *after);
double sc_usage_cpu_pct(const struct sc_usage *d);
double sc_usage_ns_per_req(const struct sc_usage *d);
/* Two table rows ("sidecore busy CPU %", "sidecore busy ns/request"). */
void sc_usage_print(const struct sc_usage *d);
/* {"busy_cpu_pct", "busy_ns_per_request", "busy_ns", "requests"} or NULL. */
json_t *sc_usage_json(const struct sc_usage *d);

#endif
