/* MAC learning table (see net_mactable.h). */
#include "net_mactable.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

static uint64_t mac48(const uint8_t m[6])
{
    return (uint64_t)m[0] << 40 | (uint64_t)m[1] << 32 | (uint64_t)m[2] << 24 |
           (uint64_t)m[3] << 16 | (uint64_t)m[4] << 8 | m[5];
}

static struct net_mt_entry *bucket(const struct net_mactable *t, uint64_t mac)
{
    uint64_t h = mac * 0x9e3779b97f4a7c15ull;
    return &t->e[((h >> 32) & (t->nbuckets - 1)) * NET_MT_WAYS];
}

int net_mt_init(struct net_mactable *t, uint32_t entries, uint32_t aging_s)
{
    uint32_t n = NET_MT_WAYS;
    while (n < entries && n < (1u << 24))
        n <<= 1;
    t->e = calloc(n, sizeof(*t->e));
    if (!t->e)
        return -ENOMEM;
    t->nbuckets = n / NET_MT_WAYS;
    t->aging_s = aging_s;
    return 0;
}

void net_mt_fini(struct net_mactable *t)
{
    free(t->e);
    t->e = NULL;
}

static bool fresh(const struct net_mactable *t, const struct net_mt_entry *e, uint32_t now_s)
{
    /* Signed: another sidecore may have stamped a second later than our now. */
    return (int32_t)(now_s - atomic_load_explicit(&e->seen, memory_order_relaxed)) <=
           (int32_t)t->aging_s;
}

int net_mt_lookup(const struct net_mactable *t, const uint8_t mac[6], uint32_t now_s)
{
    uint64_t m = mac48(mac);
    const struct net_mt_entry *b = bucket(t, m);
    for (int i = 0; i < NET_MT_WAYS; i++) {
        uint64_t k = atomic_load_explicit(&b[i].key, memory_order_relaxed);
        if (k && (k >> 16) == m)
            return fresh(t, &b[i], now_s) ? (int)(k & 0xffff) - 1 : -1;
    }
    return -1;
}

void net_mt_learn(struct net_mactable *t, const uint8_t mac[6], int slot, uint32_t now_s)
{
    uint64_t m = mac48(mac), want = m << 16 | (uint64_t)(slot + 1);
    struct net_mt_entry *b = bucket(t, m), *victim = NULL;
    int32_t oldest = 0;

    for (int i = 0; i < NET_MT_WAYS; i++) {
        uint64_t k = atomic_load_explicit(&b[i].key, memory_order_relaxed);
        if (k && (k >> 16) == m) {
            /* Stores only on change: every packet learns, and an
             * unconditional store would bounce the line between sidecores. */
            if (k != want)
                atomic_store_explicit(&b[i].key, want, memory_order_relaxed);
            if (atomic_load_explicit(&b[i].seen, memory_order_relaxed) != now_s)
                atomic_store_explicit(&b[i].seen, now_s, memory_order_relaxed);
            return;
        }
        int32_t age = k ? (int32_t)(now_s - atomic_load_explicit(&b[i].seen,
                                                                   memory_order_relaxed))
                        : INT32_MAX;
        if (!victim || age > oldest) {
            victim = &b[i];
            oldest = age;
        }
    }
    uint64_t old = atomic_load_explicit(&victim->key, memory_order_relaxed);
    /* A racing learner won the slot: fine, this address is learned again
     * with its next packet. */
    if (atomic_compare_exchange_strong(&victim->key, &old, want))
        atomic_store_explicit(&victim->seen, now_s, memory_order_relaxed);
}

void net_mt_forget_slot(struct net_mactable *t, int slot)
{
    uint32_t n = t->nbuckets * NET_MT_WAYS;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t k = atomic_load_explicit(&t->e[i].key, memory_order_relaxed);
        if (k && (int)(k & 0xffff) - 1 == slot)
            atomic_compare_exchange_strong(&t->e[i].key, &k, 0);
    }
}

uint32_t net_mt_count(const struct net_mactable *t, uint32_t now_s)
{
    uint32_t n = t->nbuckets * NET_MT_WAYS, live = 0;
    for (uint32_t i = 0; i < n; i++)
        if (atomic_load_explicit(&t->e[i].key, memory_order_relaxed) && fresh(t, &t->e[i], now_s))
            live++;
    return live;
}
