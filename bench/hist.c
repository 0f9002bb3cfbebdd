#include "hist.h"

#include <string.h>

void hist_init(struct hist *h)
{
    memset(h, 0, sizeof(*h));
    h->min = UINT64_MAX;
}

unsigned hist_index(uint64_t v)
{
    if (v < HIST_SUB)
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v);
    if (e > HIST_MAX_EXP)
        return HIST_BUCKETS - 1;
    unsigned sub = (unsigned)(v >> (e - HIST_SUB_BITS)) - HIST_SUB;
    return HIST_SUB + (e - HIST_SUB_BITS) * HIST_SUB + sub;
}

uint64_t hist_bucket_lo(unsigned idx)
{
    if (idx < HIST_SUB)
        return idx;
    unsigned e = (idx - HIST_SUB) / HIST_SUB + HIST_SUB_BITS;
    uint64_t sub = (idx - HIST_SUB) % HIST_SUB;
    return (HIST_SUB + sub) << (e - HIST_SUB_BITS);
}

void hist_add(struct hist *h, uint64_t v)
{
    h->b[hist_index(v)]++;
    h->count++;
    h->sum += v;
    if (v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
}

uint64_t hist_pct(const struct hist *h, double p)
{
    if (h->count == 0)
        return 0;
    uint64_t want = (uint64_t)(p * (double)h->count + 0.999999);
    if (want == 0)
        want = 1;
    if (want >= h->count)
        return h->max; /* the top is known exactly */
    uint64_t acc = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        acc += h->b[i];
        if (acc >= want) {
            uint64_t lo = hist_bucket_lo(i);
            uint64_t width = i < HIST_SUB ? 1 : (hist_bucket_lo(i + 1) - lo);
            uint64_t mid = lo + width / 2;
            return mid > h->max ? h->max : mid < h->min ? h->min : mid;
        }
    }
    return h->max;
}
