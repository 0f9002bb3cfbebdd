/* Random hostile input for a vhost-user backend (vu_fuzz): a seeded
 * generator, control messages (fz_msg.c), virtqueue chains (fz_ring.c),
 * the VPRI memory owner's side (fz_vpri.c) and the inflight area
 * (fz_inflight.c).
 * Everything is reproducible from the seed; nothing here judges the
 * backend's reaction, the caller does. */
#ifndef SC_TEST_FZ_H
#define SC_TEST_FZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vu_raw.h"

struct fz {
    uint64_t s;      /* splitmix64 state */
    bool net;        /* shape buffers as virtio-net (else virtio-blk) */
    bool bad;        /* the chain being built is one to break */
};

static inline uint64_t fz_u64(struct fz *z)
{
    uint64_t x = (z->s += 0x9e3779b97f4a7c15ull);
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* Uniform in [0, n); n > 0. */
static inline uint32_t fz_below(struct fz *z, uint32_t n)
{
    return (uint32_t)((fz_u64(z) >> 32) * n >> 32);
}

static inline bool fz_pct(struct fz *z, unsigned pct)
{
    return fz_below(z, 100) < pct;
}

/* Whether to break this field of the chain being built: never in a good
 * chain, a quarter of the fields of a bad one. */
static inline bool fz_bad(struct fz *z)
{
    return z->bad && fz_pct(z, 25);
}

/* A value from the edges where range checks go wrong, or any value. */
uint64_t fz_edge(struct fz *z);
/* A length: mostly plausible, sometimes an edge. */
uint32_t fz_len(struct fz *z);
void fz_bytes(struct fz *z, void *p, size_t n);

/* Sends one random control message (request, flags, payload, fds, each
 * plausible most of the time) and reads what comes back for up to ms.
 * 0: the connection is still open; 1: the backend closed it; -1: a local
 * error (cannot send). */
int fz_msg(struct fz *z, struct vu_raw *f, int ms);

/* Driver-side state of one queue set up by vu_raw_setup. */
struct fz_ring {
    uint16_t avail_idx;   /* split: next avail index */
    uint16_t next;        /* next descriptor slot (split) or packed position */
    bool wrap;            /* packed: driver wrap counter */
    uint32_t tables;      /* indirect tables handed out this round */
};

/* Makes up to n chains available on queue qi (well-formed mostly, broken
 * sometimes, their buffers' contents shaped for the device), then kicks. */
void fz_ring_round(struct fz *z, struct vu_raw *f, unsigned qi, struct fz_ring *r, unsigned n);

/* One step of the memory owner (VPRI negotiated): flips page attributes,
 * consumes or ignores fault records, resolves, scribbles on the channel. */
void fz_vpri_round(struct fz *z, struct vu_raw *f);

/* One step on the inflight area (when one was taken): writes into it and
 * sometimes restarts a queue so the backend recovers from it. */
void fz_inflight_round(struct fz *z, struct vu_raw *f);

#endif
