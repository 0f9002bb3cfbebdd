#include "vpri_bitmap.h"

enum vpri_verdict vpri_range_check_slow(const _Atomic uint64_t *bits, uint64_t npages,
                                        uint64_t gpa, uint64_t len, bool write,
                                        uint64_t *miss_gpa, uint64_t *miss_len)
{
    if (len == 0)
        return VPRI_RESIDENT;
    uint64_t end = gpa + len; /* exclusive */
    if (end < gpa || (end - 1) >> VPRI_PAGE_SHIFT >= npages) {
        *miss_gpa = gpa;
        *miss_len = len;
        return VPRI_OUTSIDE;
    }
    uint64_t first = gpa >> VPRI_PAGE_SHIFT, last = (end - 1) >> VPRI_PAGE_SHIFT;
    uint64_t run = UINT64_MAX; /* first lacking page, once found */
    for (uint64_t p = first; p <= last;) {
        uint64_t wi = p / VPRI_PAGES_PER_WORD;
        unsigned lo = (unsigned)(p % VPRI_PAGES_PER_WORD);
        uint64_t wlast = (wi + 1) * VPRI_PAGES_PER_WORD - 1;
        unsigned hi = (unsigned)((last < wlast ? last : wlast) % VPRI_PAGES_PER_WORD);
        uint64_t w = atomic_load_explicit(&bits[wi], memory_order_acquire);
        uint64_t lack = vpri_word_lacking(w, write) & vpri_word_mask(lo, hi);
        if (run == UINT64_MAX) {
            if (lack) {
                run = wi * VPRI_PAGES_PER_WORD + (unsigned)__builtin_ctzll(lack) / 2;
                p = run + 1;
                continue;
            }
        } else {
            /* Extend the run up to the first page that has the access. */
            uint64_t have = ~lack & vpri_word_mask(lo, hi);
            if (have) {
                uint64_t stop = wi * VPRI_PAGES_PER_WORD + (unsigned)__builtin_ctzll(have) / 2;
                uint64_t s = run << VPRI_PAGE_SHIFT;
                *miss_gpa = s > gpa ? s : gpa;
                *miss_len = (stop << VPRI_PAGE_SHIFT) - *miss_gpa;
                return VPRI_MISS;
            }
        }
        p = wi * VPRI_PAGES_PER_WORD + hi + 1;
    }
    if (run == UINT64_MAX)
        return VPRI_RESIDENT;
    uint64_t s = run << VPRI_PAGE_SHIFT;
    *miss_gpa = s > gpa ? s : gpa;
    *miss_len = end - *miss_gpa;
    return VPRI_MISS;
}
