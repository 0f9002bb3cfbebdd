/* VPRI counters of one queue as the daemon reports them: a plain copy of
 * the statistics in the queue's channel slot (vpri_abi.h), for the control
 * layer to turn into JSON. The slot lives in memory the frontend can write
 * too, so these are what the device published there and nothing the
 * daemon relies on. A channel that goes away (disconnect, replacement)
 * has its counters folded into a running total first, so a device's stats
 * outlive the frontends that served its faults. */
#ifndef SC_VPRI_STATS_H
#define SC_VPRI_STATS_H

#include <stdint.h>

#include "vpri_abi.h"

struct vpri_qstats {
    uint64_t faults;    /* records posted */
    uint64_t parked;    /* parked now (a gauge: 0 once the channel is gone) */
    uint64_t resumed;
    uint64_t lookups;   /* chains checked against the PA-BITMAP */
    uint64_t dropped;   /* net rx: frames dropped while the queue was parked */
    uint64_t ring_full; /* posts that found the IOPF ring full */
    uint64_t wait_ns;   /* report-to-resume time of the resumed, summed */
};

void vpri_qstats_read(const struct vpri_qslot *s, struct vpri_qstats *out);
/* acc += s for every counter; the parked gauge is taken from s. */
void vpri_qstats_add(struct vpri_qstats *acc, const struct vpri_qstats *s);

#endif
