/* Guest memory overcommit for the frontend (docs/VPRI.md): a managed range
 * of guest memory larger than its resident budget. Cold pages are written
 * to a swap file and dropped from the memfd (PUNCH_HOLE), after the VPRI
 * eviction handshake; they come back when the device reports an I/O page
 * fault (vu_oc_service) or when the owner's CPU is about to touch them
 * (vu_oc_touch, which stands in for a userfaultfd handler in a VMM).
 *
 * Policies choose the victims: LRU over the owner's own accesses and served
 * faults (no DMA knowledge); DMA-aware pinning, which pins the pages with
 * the highest decayed counts in the device's DMA-access table (at most
 * pin_ratio of the managed pages) and evicts by LRU among the rest; and
 * pin-nothing, which evicts resident pages at random.
 *
 * The managed range must lie in memory whose memfd offset equals its GPA
 * (vu_mem_create). Pages outside it stay read-write. Single-threaded: the
 * caller's I/O loop calls vu_oc_service regularly. */
#ifndef VU_OVERCOMMIT_H
#define VU_OVERCOMMIT_H

#include <stdint.h>

#include "vu_mem.h"
#include "vu_vpri.h"

enum vu_oc_policy { VU_OC_LRU, VU_OC_DMA, VU_OC_NONE };

struct vu_oc_cfg {
    struct vu_mem *mem;
    struct vu_vpri *vpri;
    uint64_t gpa, len;      /* managed range, page aligned */
    uint64_t budget_pages;  /* resident pages allowed in the range */
    enum vu_oc_policy policy;
    double pin_ratio;       /* DMA policy: at most this share pinned (0..1) */
    const char *swap_dir;   /* NULL: /tmp */
    unsigned batch;         /* pages per handshake; 0: 16 */
    unsigned repin_ms;      /* DMA policy: re-pin period; 0: 20 ms (counts are
                             * halved every 50 periods) */
    unsigned quiesce_ms;    /* handshake bound; 0: 200 */
    uint64_t seed;
};

struct vu_oc_stats {
    uint64_t records;        /* IOPF records served */
    uint64_t restored_iopf;  /* pages read back for the device */
    uint64_t restored_cpu;   /* pages read back for the owner's CPU */
    uint64_t evicted;
    uint64_t evict_aborts;   /* handshakes that ran out of time */
    uint64_t service_ns;     /* time spent serving records */
    uint64_t managed, resident, pinned;
};

const char *vu_oc_policy_name(enum vu_oc_policy p);
int vu_oc_policy_parse(const char *s, enum vu_oc_policy *out);

struct vu_oc;
/* Starts with every managed page resident; call vu_oc_enforce (or
 * vu_oc_service) to shrink to the budget. Returns 0 or -errno. */
int vu_oc_create(const struct vu_oc_cfg *cfg, struct vu_oc **out);
void vu_oc_destroy(struct vu_oc *oc);

/* The owner is about to access [gpa, gpa + len): make it resident. Returns
 * 0 or -errno (swap I/O failed). */
int vu_oc_touch(struct vu_oc *oc, uint64_t gpa, uint64_t len);
/* Serves the IOPF records waiting, re-pins now and then, and evicts down to
 * the budget. Returns records served, or -errno. */
int vu_oc_service(struct vu_oc *oc);
/* Evicts down to the budget. 0 or -errno. */
int vu_oc_enforce(struct vu_oc *oc);
/* Evicts n resident pages chosen at random, pinned or not, whatever the
 * budget (eviction race tests). 0 or -errno. */
int vu_oc_evict_random(struct vu_oc *oc, unsigned n);
/* Evicts the resident managed pages among the n guest pages given (by
 * GPA), whatever the budget and the pins: eviction race tests aim at pages
 * with requests in flight. 0 or -errno. */
int vu_oc_evict_pages(struct vu_oc *oc, const uint64_t *gpas, unsigned n);
void vu_oc_get_stats(const struct vu_oc *oc, struct vu_oc_stats *out);

#endif
