/* A hostile memory owner for VPRI (contract: fz.h): page attributes that
 * come and go under requests in flight, fault records consumed properly or
 * not at all, and control-block fields set to anything. */
#include "fz.h"

#include <string.h>

static void set_range(struct fz *z, struct vu_vpri *v)
{
    uint64_t first = fz_below(z, (uint32_t)v->npages);
    uint64_t n = 1 + fz_below(z, 64);
    unsigned pa = fz_pct(z, 50) ? VPRI_PA_RW : fz_below(z, 4);
    for (uint64_t p = first; p < first + n && p < v->npages; p++)
        vu_vpri_set(v, p, pa);
}

void fz_vpri_round(struct fz *z, struct vu_raw *f)
{
    struct vu_vpri *v = &f->vp;
    if (!f->vpri_on)
        return;
    if (fz_pct(z, 40))
        set_range(z, v);
    if (fz_pct(z, 15)) /* everything resident again */
        memset(v->map_base, 0xaa, vpri_bitmap_bytes(v->npages));
    if (fz_pct(z, 70)) {
        struct vpri_rec r;
        while (vu_vpri_peek(v, &r))
            vu_vpri_consume(v);
    }
    if (fz_pct(z, 3))
        atomic_store_explicit(&v->ctrl->cons, fz_edge(z), memory_order_release);
    if (fz_pct(z, 3))
        atomic_store_explicit(&v->ctrl->resolve_gen, fz_edge(z), memory_order_release);
    if (fz_pct(z, 2))
        fz_bytes(z, v->ring, (size_t)v->entries * sizeof(struct vpri_rec));
    vu_vpri_fault_events(v);
    if (fz_pct(z, 60))
        vu_vpri_notify(v);
}
