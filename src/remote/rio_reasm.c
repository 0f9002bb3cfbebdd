#include "rio_reasm.h"

#include <errno.h>
#include <string.h>

void rio_reasm_reset(struct rio_reasm *r, uint32_t len)
{
    r->len = len;
    r->frag_size = 0;
    r->nfrags = 0;
    r->got = 0;
    memset(r->bits, 0, sizeof(r->bits));
}

int rio_reasm_add(struct rio_reasm *r, const struct rio_hdr *h)
{
    if (h->len != r->len || h->frag_size < RIO_MIN_FRAG)
        return -EINVAL;
    if (h->frag_size != r->frag_size) {
        /* The first fragment sets the size; another size (a damaged
         * datagram, or a retransmission cut differently) starts over. */
        if (r->frag_size)
            rio_reasm_reset(r, r->len);
        r->frag_size = h->frag_size;
        r->nfrags = (r->len + h->frag_size - 1) / h->frag_size;
    }
    uint32_t i = h->frag_off / r->frag_size;
    if (i >= r->nfrags || i >= RIO_MAX_FRAGS)
        return -EINVAL;
    uint64_t bit = 1ull << (i % 64);
    if (r->bits[i / 64] & bit)
        return 0;
    r->bits[i / 64] |= bit;
    r->got++;
    return 1;
}

void rio_reasm_bitmap(const struct rio_reasm *r, uint8_t *out)
{
    uint32_t n = rio_bitmap_bytes(r->len, r->frag_size);
    for (uint32_t b = 0; b < n; b++)
        out[b] = (uint8_t)(r->bits[b / 8] >> (b % 8 * 8));
}

uint32_t rio_round_size(const uint8_t *map, uint32_t nbytes, uint32_t *held, uint32_t *sent)
{
    uint32_t got = 0;
    for (uint32_t b = 0; b < nbytes; b++)
        got += (uint32_t)__builtin_popcount(map[b]);
    uint32_t delivered = got > *held ? got - *held : 0;
    uint32_t size = *sent && delivered >= *sent ? *sent + *sent / 2 : delivered * 3 / 4;
    *held = got;
    return size > 4 ? size : 4;
}

uint32_t rio_round_cut(uint8_t *map, uint32_t nfrags, uint32_t size, uint32_t *last)
{
    uint32_t left = 0;
    for (uint32_t i = 0; i < nfrags; i++) {
        if (rio_bitmap_has(map, i))
            continue;
        if (left < size) {
            left++;
            if (last)
                *last = i;
        } else {
            map[i / 8] |= (uint8_t)(1u << (i % 8));
        }
    }
    return left;
}
