/* L2 switch: learning, flooding, port set changes under forwarding (see
 * net_switch.h). */
#include "net_switch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/log.h"
#include "../common/util.h"
#include "net_mactable.h"

struct net_switch {
    char name[48];
    struct net_mactable mt;
    uint64_t t0_ns;
    /* Written by the control thread only; a forwarder reads mask once per
     * batch and a slot when it delivers (NULL: the port is leaving). */
    _Atomic uint64_t mask;
    _Atomic(struct net_port *) slot[NET_SW_MAX_PORTS];
    _Atomic unsigned epoch;
    _Atomic unsigned readers[2];
    _Alignas(64) _Atomic uint64_t flooded, unknown, hairpin;
};

struct net_switch *net_switch_create(const char *name, uint32_t mac_entries, uint32_t aging_s,
                                     const char **why)
{
    if (mac_entries < 16 || mac_entries > (1u << 20)) {
        *why = "mac_table must be 16..1048576 entries";
        return NULL;
    }
    if (aging_s < 1 || aging_s > 1000000) {
        *why = "aging must be 1..1000000 seconds";
        return NULL;
    }
    struct net_switch *sw = calloc(1, sizeof(*sw));
    if (!sw || net_mt_init(&sw->mt, mac_entries, aging_s) < 0) {
        free(sw);
        *why = "out of memory";
        return NULL;
    }
    snprintf(sw->name, sizeof(sw->name), "%s", name);
    sw->t0_ns = sc_now_ns();
    return sw;
}

void net_switch_destroy(struct net_switch *sw)
{
    if (!sw)
        return;
    if (atomic_load(&sw->mask))
        LOG_ERR("switch", "%s: destroyed with ports still attached", sw->name);
    net_mt_fini(&sw->mt);
    free(sw);
}

const char *net_switch_name(const struct net_switch *sw) { return sw->name; }

static unsigned reader_enter(struct net_switch *sw)
{
    for (;;) {
        unsigned e = atomic_load(&sw->epoch);
        atomic_fetch_add(&sw->readers[e & 1], 1);
        if (atomic_load(&sw->epoch) == e)
            return e & 1;
        atomic_fetch_sub(&sw->readers[e & 1], 1);
    }
}

static void reader_exit(struct net_switch *sw, unsigned e)
{
    atomic_fetch_sub_explicit(&sw->readers[e], 1, memory_order_release);
}

/* After a slot was cleared: returns once no forwarder can still use the
 * port it held. Forwarders stay inside for one batch, so this is short. */
static void synchronize(struct net_switch *sw)
{
    unsigned old = atomic_fetch_add(&sw->epoch, 1) & 1;
    uint64_t start = sc_now_ns(), warned = start;
    while (atomic_load(&sw->readers[old]) != 0) {
        struct timespec ts = {0, 50000};
        nanosleep(&ts, NULL);
        uint64_t now = sc_now_ns();
        if (now - warned > 1000000000ull) {
            LOG_WARN("switch", "%s: still waiting for forwarders after %llu ms", sw->name,
                     (unsigned long long)((now - start) / 1000000));
            warned = now;
        }
    }
}

int net_switch_add_port(struct net_switch *sw, struct net_port *p, const char **why)
{
    uint64_t mask = atomic_load(&sw->mask);
    if (p->sw || p->peer) {
        *why = "the port is already linked";
        return -EBUSY;
    }
    if (~mask == 0) {
        *why = "the switch has 64 ports already";
        return -ENOSPC;
    }
    int slot = __builtin_ctzll(~mask);
    p->sw = sw;
    p->sw_slot = slot;
    atomic_store(&sw->slot[slot], p);
    atomic_store(&sw->mask, mask | 1ull << slot);
    return 0;
}

void net_switch_remove_port(struct net_switch *sw, struct net_port *p)
{
    if (p->sw != sw || p->sw_slot < 0 || atomic_load(&sw->slot[p->sw_slot]) != p)
        return;
    atomic_fetch_and(&sw->mask, ~(1ull << p->sw_slot));
    atomic_store(&sw->slot[p->sw_slot], NULL);
    synchronize(sw);
    /* Nobody learns for the slot any more (its senders stopped before, and
     * no forwarder sees it): a later port may reuse it cleanly. */
    net_mt_forget_slot(&sw->mt, p->sw_slot);
    p->sw = NULL;
    p->sw_slot = -1;
}

unsigned net_switch_ports(struct net_switch *sw, struct net_port **out, unsigned max)
{
    uint64_t mask = atomic_load(&sw->mask);
    unsigned n = 0;
    for (unsigned i = 0; i < NET_SW_MAX_PORTS && n < max; i++)
        if (mask & (1ull << i))
            out[n++] = atomic_load(&sw->slot[i]);
    return n;
}

bool net_switch_any_ready(struct net_switch *sw, const struct net_port *except)
{
    unsigned e = reader_enter(sw);
    uint64_t mask = atomic_load_explicit(&sw->mask, memory_order_acquire);
    bool ready = false;
    for (unsigned i = 0; i < NET_SW_MAX_PORTS && !ready; i++) {
        if (!(mask & (1ull << i)))
            continue;
        struct net_port *p = atomic_load_explicit(&sw->slot[i], memory_order_acquire);
        ready = p && p != except && (!p->ops->ready || p->ops->ready(p));
    }
    reader_exit(sw, e);
    return ready;
}

static uint32_t now_s(const struct net_switch *sw)
{
    return (uint32_t)((sc_now_ns() - sw->t0_ns) / 1000000000ull);
}

void net_switch_counters(struct net_switch *sw, struct net_switch_counters *out)
{
    out->flooded = atomic_load_explicit(&sw->flooded, memory_order_relaxed);
    out->unknown = atomic_load_explicit(&sw->unknown, memory_order_relaxed);
    out->hairpin = atomic_load_explicit(&sw->hairpin, memory_order_relaxed);
    out->macs = net_mt_count(&sw->mt, now_s(sw));
    out->mac_capacity = sw->mt.nbuckets * NET_MT_WAYS;
    out->aging_s = sw->mt.aging_s;
    out->ports = (unsigned)__builtin_popcountll(atomic_load(&sw->mask));
}

static void forward_batch(struct net_switch *sw, uint64_t ports, struct net_port *src,
                          struct net_pkt *const *pkts, unsigned n, unsigned hint, uint32_t now)
{
    uint64_t masks[NET_BATCH], any = 0;
    uint64_t others = ports & ~(1ull << src->sw_slot);
    unsigned flooded = 0, unknown = 0, hairpin = 0;

    for (unsigned i = 0; i < n; i++) {
        const uint8_t *dst = pkts[i]->eth, *smac = pkts[i]->eth + 6;
        if (!(smac[0] & 1))
            net_mt_learn(&sw->mt, smac, src->sw_slot, now);
        uint64_t m = others;
        if (dst[0] & 1) {
            flooded++;
        } else {
            int s = net_mt_lookup(&sw->mt, dst, now);
            if (s < 0 || !(ports & (1ull << s))) {
                flooded++;
                unknown++;
            } else if (s == src->sw_slot) {
                m = 0;
                hairpin++;
            } else {
                m = 1ull << s;
            }
        }
        masks[i] = m;
        any |= m;
    }
    while (any) {
        int s = __builtin_ctzll(any);
        uint64_t bit = 1ull << s;
        any &= ~bit;
        struct net_pkt *list[NET_BATCH];
        unsigned k = 0;
        for (unsigned i = 0; i < n; i++)
            if (masks[i] & bit)
                list[k++] = pkts[i];
        struct net_port *dst = atomic_load_explicit(&sw->slot[s], memory_order_acquire);
        if (dst)
            net_port_deliver(dst, list, k, hint);
    }
    if (flooded)
        atomic_fetch_add_explicit(&sw->flooded, flooded, memory_order_relaxed);
    if (unknown)
        atomic_fetch_add_explicit(&sw->unknown, unknown, memory_order_relaxed);
    if (hairpin) {
        atomic_fetch_add_explicit(&sw->hairpin, hairpin, memory_order_relaxed);
        net_port_drop(src, NET_DROP_FILTERED, hairpin);
    }
}

void net_switch_forward(struct net_switch *sw, struct net_port *src,
                        struct net_pkt *const *pkts, unsigned n, unsigned hint)
{
    unsigned e = reader_enter(sw);
    uint64_t ports = atomic_load_explicit(&sw->mask, memory_order_acquire);
    uint32_t now = now_s(sw);
    for (unsigned off = 0; off < n; off += NET_BATCH)
        forward_batch(sw, ports, src, pkts + off, SC_MIN(n - off, (unsigned)NET_BATCH), hint, now);
    reader_exit(sw, e);
}
