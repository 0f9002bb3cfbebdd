/* The inflight area's side of vu_fuzz (an area was taken, f->inf): writes
 * into it, mostly values a recovery reads as positions, counts, links and
 * marks, sometimes anything, and restarts queues so that the backend
 * recovers from whatever the area then holds, at a base of our choosing. */
#include <string.h>

#include "fz.h"

static void scribble(struct fz *z, struct vu_raw *f)
{
    unsigned nq = f->nq ? f->nq : 1;
    uint64_t stride = f->inf_len / nq;
    uint8_t *region = f->inf + fz_below(z, nq) * stride;
    for (unsigned n = 1 + fz_below(z, 8); n > 0; n--) {
        static const unsigned widths[] = {1, 2, 8};
        unsigned w = widths[fz_below(z, 3)];
        /* Headers are 32 bytes at most; entries follow. */
        uint64_t off = fz_pct(z, 40) ? fz_below(z, 32) : fz_below(z, (uint32_t)stride);
        off &= ~(uint64_t)(w - 1);
        if (off + w > stride)
            continue;
        uint64_t v = fz_pct(z, 60) ? fz_below(z, VU_RAW_QNUM + 2) : fz_edge(z);
        memcpy(region + off, &v, w);
    }
}

static uint32_t some_base(struct fz *z, const struct vu_raw *f)
{
    if (!fz_pct(z, 80))
        return (uint32_t)fz_edge(z);
    if (!f->packed)
        return fz_below(z, 1u << 16);
    uint32_t avail = fz_below(z, VU_RAW_QNUM) | (fz_pct(z, 50) ? VRING_PACKED_WRAP : 0);
    uint32_t used = fz_pct(z, 50) ? avail : fz_below(z, VU_RAW_QNUM) | VRING_PACKED_WRAP;
    return avail | used << 16;
}

void fz_inflight_round(struct fz *z, struct vu_raw *f)
{
    if (!f->inf)
        return;
    if (fz_pct(z, 30))
        scribble(z, f);
    if (fz_pct(z, 10))
        vu_raw_restart_queue(f, fz_below(z, f->nq ? f->nq : 1), some_base(z, f));
}
