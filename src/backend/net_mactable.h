/* MAC learning table of a switch: address -> port slot, bounded and aged.
 *
 * Set-associative: a hash picks a bucket of NET_MT_WAYS entries; learning a
 * new address into a full bucket evicts its stalest entry, so the table never
 * grows and a flood of source addresses only evicts (costing floods, not
 * memory). Entries older than the aging time are ignored by lookups.
 *
 * Lock-free: every sidecore learns and looks up concurrently. An entry is one
 * 64-bit word (address and slot), so a reader never sees a torn pair; racing
 * learners may lose an update, which the next packet repairs. The control
 * thread forgets a slot's entries when its port leaves. */
#ifndef SC_NET_MACTABLE_H
#define SC_NET_MACTABLE_H

#include <stdatomic.h>
#include <stdint.h>

#define NET_MT_WAYS 4

struct net_mt_entry {
    _Atomic uint64_t key;  /* mac << 16 | (slot + 1); 0 = empty */
    _Atomic uint32_t seen; /* seconds, table clock */
};

struct net_mactable {
    struct net_mt_entry *e;
    uint32_t nbuckets; /* power of two */
    uint32_t aging_s;
};

/* entries is rounded up to a power of two (at least NET_MT_WAYS). */
int net_mt_init(struct net_mactable *t, uint32_t entries, uint32_t aging_s);
void net_mt_fini(struct net_mactable *t);

/* The slot that mac was last seen on, or -1. now_s is the table clock. */
int net_mt_lookup(const struct net_mactable *t, const uint8_t mac[6], uint32_t now_s);
void net_mt_learn(struct net_mactable *t, const uint8_t mac[6], int slot, uint32_t now_s);
/* Control thread: drop every entry naming slot. */
void net_mt_forget_slot(struct net_mactable *t, int slot);
/* Live (not aged out) entries. */
uint32_t net_mt_count(const struct net_mactable *t, uint32_t now_s);

#endif
