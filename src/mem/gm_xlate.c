/* Data-path address translation. Lock-free: callers hold a table snapshot
 * from gm_current(). Every range is checked end to end without overflow. */
#include "guestmem.h"

#include <errno.h>

/* Region containing gpa, or NULL. Regions are sorted and disjoint, so the
 * candidate is the last region starting at or below gpa. */
static const struct gm_region *find_gpa(const struct gm_table *t, uint64_t gpa)
{
    uint32_t lo = 0, hi = t->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (t->r[mid].gpa <= gpa)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return NULL;
    const struct gm_region *r = &t->r[lo - 1];
    return gpa - r->gpa < r->size ? r : NULL;
}

/* A zero-length range still names an address: it must lie inside a region,
 * so callers can never get a pointer to unmapped memory. */
static bool inside(uint64_t start, uint64_t size, uint64_t addr, uint64_t len)
{
    uint64_t off = addr - start;
    if (addr < start || off >= size)
        return false;
    return len <= size - off;
}

void *gm_gpa_to_host(const struct gm_table *t, uint64_t gpa, uint64_t len)
{
    const struct gm_region *r = find_gpa(t, gpa);
    if (!r || !inside(r->gpa, r->size, gpa, len))
        return NULL;
    return r->host + (gpa - r->gpa);
}

void *gm_uva_to_host(const struct gm_table *t, uint64_t uva, uint64_t len)
{
    /* Regions are sorted by gpa, not uva; this is used on the control path
     * only (ring setup), so a linear scan is fine. */
    for (uint32_t i = 0; i < t->n; i++) {
        const struct gm_region *r = &t->r[i];
        if (inside(r->uva, r->size, uva, len))
            return r->host + (uva - r->uva);
    }
    return NULL;
}

int gm_map_iov(const struct gm_table *t, uint64_t gpa, uint64_t len, struct iovec *iov,
               uint64_t *gpa_out, int max)
{
    return gm_map_iov_learn(t, NULL, gpa, len, iov, gpa_out, max);
}

int gm_map_iov_learn(const struct gm_table *t, uint32_t *hint, uint64_t gpa, uint64_t len,
                     struct iovec *iov, uint64_t *gpa_out, int max)
{
    uint64_t last;
    if (len == 0)
        return 0;
    if (__builtin_add_overflow(gpa, len - 1, &last))
        return -EFAULT;
    int n = 0;
    while (len) {
        const struct gm_region *r = find_gpa(t, gpa);
        if (!r)
            return -EFAULT;
        if (n >= max)
            return -ENOBUFS;
        if (hint && n == 0)
            *hint = (uint32_t)(r - t->r);
        uint64_t off = gpa - r->gpa;
        uint64_t piece = r->size - off < len ? r->size - off : len;
        iov[n].iov_base = r->host + off;
        iov[n].iov_len = (size_t)piece;
        if (gpa_out)
            gpa_out[n] = gpa;
        n++;
        gpa += piece;
        len -= piece;
    }
    return n;
}
