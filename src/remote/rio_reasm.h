/* Reassembly of a fragmented vRIO message: which fragments of a len-byte
 * message have arrived. Fragment i covers [i * frag_size, min(len, (i+1) *
 * frag_size)); the first fragment sets frag_size. A fragment of another
 * size starts the message over at that size (the sender never changes it
 * within one transmission, so the earlier fragment was damaged, or came from
 * an older one; a retransmission brings every fragment again, and keeping
 * the first size refused all of them for good). Duplicates are recognised,
 * so nothing counts twice. No allocation: the bitmap is sized for
 * RIO_MAX_FRAGS. */
#ifndef SC_RIO_REASM_H
#define SC_RIO_REASM_H

#include <stdbool.h>
#include <stdint.h>

#include "rio_wire.h"

struct rio_reasm {
    uint32_t len;
    uint16_t frag_size; /* 0 until the first fragment */
    uint32_t nfrags;
    uint32_t got;
    uint64_t bits[RIO_MAX_FRAGS / 64];
};

void rio_reasm_reset(struct rio_reasm *r, uint32_t len);
/* 1: new fragment, 0: duplicate, -EINVAL: does not fit this message (the
 * header was already checked by rio_hdr_decode against its own len). */
int rio_reasm_add(struct rio_reasm *r, const struct rio_hdr *h);
static inline bool rio_reasm_done(const struct rio_reasm *r)
{
    return r->frag_size && r->got == r->nfrags;
}
/* The fragments received, as the wire's bitmap (rio_wire.h) of
 * rio_bitmap_bytes(len, frag_size) bytes. Only once a fragment came. */
void rio_reasm_bitmap(const struct rio_reasm *r, uint8_t *out);

/* Resending by rounds (rio_wire.h), the same rule both ways. A round's
 * size: a little less than the last one delivered, or half as much again
 * when all of it arrived, at least 4. got: fragments the receiver holds
 * now (in its nbytes-byte bitmap), *held and *sent: what it held and what
 * was sent at the last round, updated here. */
uint32_t rio_round_size(const uint8_t *map, uint32_t nbytes, uint32_t *held, uint32_t *sent);
/* Marks in map every missing fragment (of nfrags) after the first
 * `size` as if held, so a send leaves them out; returns how many missing
 * ones stay (at most size), *last (if not NULL) the index of the last. */
uint32_t rio_round_cut(uint8_t *map, uint32_t nfrags, uint32_t size, uint32_t *last);

#endif
