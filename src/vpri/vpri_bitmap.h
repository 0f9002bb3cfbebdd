/* PA-BITMAP lookups on the data path (layout: vpri_abi.h).
 *
 * vpri_range_check() answers, for one guest range, whether every page has
 * the access the device needs, reading the bitmap a 64-bit word (32 pages)
 * at a time; a buffer inside one page is one load. On a miss it returns the
 * first run of pages that lack the access, clipped to the range, so one
 * fault record asks for all of them. Loads are acquire: the owner fills a
 * page before it sets the bits, and the device reads the page after it saw
 * them. Nothing here touches guest memory. */
#ifndef SC_VPRI_BITMAP_H
#define SC_VPRI_BITMAP_H

#include <stdbool.h>
#include <stdint.h>

#include "vpri_abi.h"

enum vpri_verdict {
    VPRI_RESIDENT = 0, /* every page has the access */
    VPRI_MISS = 1,     /* miss_gpa/miss_len: first run lacking it */
    VPRI_OUTSIDE = -1, /* the range reaches past the bitmap (or wraps) */
};

#define VPRI_LO_BITS 0x5555555555555555ull

/* Bit 2k set for each page k of word w that lacks the access. */
static inline uint64_t vpri_word_lacking(uint64_t w, bool write)
{
    uint64_t ok = write ? (w >> 1) & VPRI_LO_BITS : (w | (w >> 1)) & VPRI_LO_BITS;
    return ~ok & VPRI_LO_BITS;
}

/* Mask (bit 2k per page) for pages [lo, hi] of one word, 0 <= lo <= hi < 32. */
static inline uint64_t vpri_word_mask(unsigned lo, unsigned hi)
{
    uint64_t upto = hi == 31 ? VPRI_LO_BITS : VPRI_LO_BITS & ((1ull << (2 * hi + 2)) - 1);
    return upto & ~((1ull << (2 * lo)) - 1);
}

enum vpri_verdict vpri_range_check_slow(const _Atomic uint64_t *bits, uint64_t npages,
                                        uint64_t gpa, uint64_t len, bool write,
                                        uint64_t *miss_gpa, uint64_t *miss_len);

static inline enum vpri_verdict vpri_range_check(const _Atomic uint64_t *bits, uint64_t npages,
                                                 uint64_t gpa, uint64_t len, bool write,
                                                 uint64_t *miss_gpa, uint64_t *miss_len)
{
    uint64_t p = gpa >> VPRI_PAGE_SHIFT;
    if (len && ((gpa ^ (gpa + len - 1)) >> VPRI_PAGE_SHIFT) == 0 && p < npages) {
        uint64_t w = atomic_load_explicit(&bits[p / VPRI_PAGES_PER_WORD], memory_order_acquire);
        unsigned pa = (unsigned)(w >> (2 * (p % VPRI_PAGES_PER_WORD))) & 3u;
        if (write ? (pa & 2u) : pa)
            return VPRI_RESIDENT;
    }
    return vpri_range_check_slow(bits, npages, gpa, len, write, miss_gpa, miss_len);
}

#endif
