/* Log-linear latency histogram: exact below 32 ns, then 32 linear buckets
 * per power of two (relative error under 3%), up to about 2^41 ns. Fixed
 * size, no allocation, O(1) record; percentile by a walk of the buckets. */
#ifndef BENCH_HIST_H
#define BENCH_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 5
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_MAX_EXP 41
#define HIST_BUCKETS (HIST_SUB + (HIST_MAX_EXP - HIST_SUB_BITS + 1) * HIST_SUB)

struct hist {
    uint64_t count, sum, min, max;
    uint64_t b[HIST_BUCKETS];
};

void hist_init(struct hist *h);
void hist_add(struct hist *h, uint64_t v);
/* p in [0, 1]; returns a bucket's midpoint (0 if empty). */
uint64_t hist_pct(const struct hist *h, double p);
unsigned hist_index(uint64_t v);
uint64_t hist_bucket_lo(unsigned idx);

#endif
