/* Automatic receive steering for multiqueue devices (virtio 1.2, 5.1.6.5.6:
 * after the driver transmitted a packet of a flow on transmitqX, the device
 * should steer incoming packets of that flow to receiveqX). A NIC's flow
 * table, as Linux's multiqueue tap keeps one: transmit records the pair of
 * each flow under its two-way hash (net_flow.h); delivery looks it up.
 *
 * A flow the driver never sent goes to the queue its hash picks, so a
 * multiqueue guest's receive load spreads over its queues whatever sends
 * (the host's tap sends with one hint), and a flow keeps its queue. A frame
 * without IP addresses goes by the sender's hint, as before steering.
 *
 * The table is a hint, read and written without locks by every sidecore
 * that moves the device's frames: a slot holds the upper 24 bits of the
 * hash (its low bits are the slot index) and the pair plus one; a
 * collision only sends a flow to another started queue. A slot naming a
 * pair that is not (or no longer) among the started rx queues is ignored. */
#include <stdlib.h>

#include "../backend/net_flow.h"
#include "net_int.h"

#define SLOT_MASK (NET_STEER_SLOTS - 1u)
#define TAG_MASK 0xffffff00u

void net_steer_learn(struct net_steer *s, uint16_t pair, struct net_pkt *const *pkts,
                     unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        uint32_t h;
        if (!net_flow_hash_pkt(pkts[i], &h))
            continue;
        _Atomic uint32_t *slot = &s->slot[h & SLOT_MASK];
        uint32_t e = (h & TAG_MASK) | (uint32_t)(pair + 1);
        /* Most packets repeat what the slot says: no store, no line bounce. */
        if (atomic_load_explicit(slot, memory_order_relaxed) != e)
            atomic_store_explicit(slot, e, memory_order_relaxed);
    }
}

void net_steer_pick(const struct net_steer *s, const _Atomic uint16_t *sel, uint16_t nsel,
                    struct net_pkt *const *pkts, unsigned n, unsigned hint, uint16_t *qi)
{
    uint32_t prev_h = 0;
    uint16_t prev_q = UINT16_MAX; /* the queue of the flow hashed prev_h */
    for (unsigned i = 0; i < n; i++) {
        uint32_t h;
        if (!net_flow_hash_pkt(pkts[i], &h)) {
            qi[i] = atomic_load_explicit(&sel[hint % nsel], memory_order_relaxed);
            continue;
        }
        /* Bursts of one flow are common: its queue was just looked up. */
        if (prev_q != UINT16_MAX && h == prev_h) {
            qi[i] = prev_q;
            continue;
        }
        uint32_t e = atomic_load_explicit(&s->slot[h & SLOT_MASK], memory_order_relaxed);
        uint16_t pick = atomic_load_explicit(&sel[h % nsel], memory_order_relaxed);
        if (e && (e & TAG_MASK) == (h & TAG_MASK)) {
            uint16_t pair = (uint16_t)((e & ~TAG_MASK) - 1);
            for (uint16_t k = 0; k < nsel; k++)
                if (atomic_load_explicit(&sel[k], memory_order_relaxed) == pair) {
                    pick = pair;
                    break;
                }
        }
        qi[i] = prev_q = pick;
        prev_h = h;
    }
}

struct net_steer *net_steer_new(void) { return calloc(1, sizeof(struct net_steer)); }

void net_steer_clear(struct net_steer *s)
{
    for (unsigned i = 0; i < NET_STEER_SLOTS; i++)
        atomic_store_explicit(&s->slot[i], 0, memory_order_relaxed);
}

uint32_t net_steer_flows(const struct net_steer *s)
{
    uint32_t n = 0;
    for (unsigned i = 0; i < NET_STEER_SLOTS; i++)
        n += atomic_load_explicit(&s->slot[i], memory_order_relaxed) != 0;
    return n;
}
