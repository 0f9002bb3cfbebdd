#include "vpri_stats.h"

static uint64_t ld(const _Atomic uint64_t *p)
{
    return atomic_load_explicit(p, memory_order_relaxed);
}

void vpri_qstats_read(const struct vpri_qslot *s, struct vpri_qstats *out)
{
    out->faults = ld(&s->faults);
    out->parked = ld(&s->parked);
    out->resumed = ld(&s->resumed);
    out->lookups = ld(&s->lookups);
    out->dropped = ld(&s->dropped);
    out->ring_full = ld(&s->ring_full);
    out->wait_ns = ld(&s->wait_ns);
}

void vpri_qstats_add(struct vpri_qstats *acc, const struct vpri_qstats *s)
{
    acc->faults += s->faults;
    acc->parked = s->parked;
    acc->resumed += s->resumed;
    acc->lookups += s->lookups;
    acc->dropped += s->dropped;
    acc->ring_full += s->ring_full;
    acc->wait_ns += s->wait_ns;
}
