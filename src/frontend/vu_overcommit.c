#include "vu_overcommit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"

#define PG VPRI_PAGE_SIZE
#define NONE32 UINT32_MAX
#define F_RESIDENT 1u
#define F_PINNED 2u
#define REPIN_DECAY 50 /* re-pins per halving: 1 s at the default period */

struct vu_oc {
    struct vu_oc_cfg cfg;
    uint64_t first;   /* first managed guest page */
    uint32_t n;       /* managed pages */
    uint8_t *flags;
    uint32_t *prev, *next; /* LRU list of resident pages, head = coldest */
    uint32_t head, tail;
    uint32_t *victims;
    unsigned *hist;   /* 65536 buckets, DMA re-pin */
    int swap_fd;
    uint64_t rng;
    uint64_t next_repin_ns;
    unsigned repins;
    struct vu_oc_stats st;
};

const char *vu_oc_policy_name(enum vu_oc_policy p)
{
    return p == VU_OC_LRU ? "lru" : p == VU_OC_DMA ? "dma" : "none";
}

int vu_oc_policy_parse(const char *s, enum vu_oc_policy *out)
{
    if (!strcmp(s, "lru"))
        *out = VU_OC_LRU;
    else if (!strcmp(s, "dma"))
        *out = VU_OC_DMA;
    else if (!strcmp(s, "none"))
        *out = VU_OC_NONE;
    else
        return -EINVAL;
    return 0;
}

static uint64_t rnd(struct vu_oc *oc)
{
    oc->rng ^= oc->rng << 13;
    oc->rng ^= oc->rng >> 7;
    oc->rng ^= oc->rng << 17;
    return oc->rng;
}

static void lru_unlink(struct vu_oc *oc, uint32_t i)
{
    uint32_t p = oc->prev[i], n = oc->next[i];
    if (p != NONE32)
        oc->next[p] = n;
    else
        oc->head = n;
    if (n != NONE32)
        oc->prev[n] = p;
    else
        oc->tail = p;
    oc->prev[i] = oc->next[i] = NONE32;
}

static void lru_append(struct vu_oc *oc, uint32_t i)
{
    oc->prev[i] = oc->tail;
    oc->next[i] = NONE32;
    if (oc->tail != NONE32)
        oc->next[oc->tail] = i;
    else
        oc->head = i;
    oc->tail = i;
}

static uint8_t *page_ptr(struct vu_oc *oc, uint32_t i)
{
    return oc->cfg.mem->base + (oc->first + i) * PG;
}

int vu_oc_create(const struct vu_oc_cfg *cfg, struct vu_oc **out)
{
    if (!cfg->mem || !cfg->vpri || cfg->gpa % PG || cfg->len % PG || !cfg->len ||
        cfg->gpa + cfg->len > cfg->mem->size || cfg->len / PG > NONE32 - 1 ||
        (cfg->gpa + cfg->len) / PG > cfg->vpri->npages || cfg->pin_ratio < 0 ||
        cfg->pin_ratio > 1)
        return -EINVAL;
    struct vu_oc *oc = calloc(1, sizeof(*oc));
    if (!oc)
        return -ENOMEM;
    oc->cfg = *cfg;
    if (!oc->cfg.batch)
        oc->cfg.batch = 16;
    if (!oc->cfg.repin_ms)
        oc->cfg.repin_ms = 20;
    if (!oc->cfg.quiesce_ms)
        oc->cfg.quiesce_ms = 200;
    oc->first = cfg->gpa / PG;
    oc->n = (uint32_t)(cfg->len / PG);
    oc->rng = cfg->seed ? cfg->seed : 0x9e3779b97f4a7c15ull;
    oc->flags = calloc(oc->n, 1);
    oc->prev = calloc(oc->n, sizeof(uint32_t));
    oc->next = calloc(oc->n, sizeof(uint32_t));
    oc->victims = calloc(oc->cfg.batch, sizeof(uint32_t));
    oc->hist = calloc(VPRI_DMA_MAX + 1, sizeof(unsigned));
    char path[256];
    snprintf(path, sizeof(path), "%s/vu-oc-swap.XXXXXX", cfg->swap_dir ? cfg->swap_dir : "/tmp");
    oc->swap_fd = mkostemp(path, O_CLOEXEC);
    if (oc->swap_fd >= 0)
        unlink(path);
    if (!oc->flags || !oc->prev || !oc->next || !oc->victims || !oc->hist || oc->swap_fd < 0 ||
        ftruncate(oc->swap_fd, (off_t)cfg->len) < 0) {
        int e = oc->swap_fd < 0 || errno == 0 ? ENOMEM : errno;
        vu_oc_destroy(oc);
        return -e;
    }
    oc->head = oc->tail = NONE32;
    for (uint32_t i = 0; i < oc->n; i++) {
        oc->flags[i] = F_RESIDENT;
        lru_append(oc, i);
        vu_vpri_set(cfg->vpri, oc->first + i, VPRI_PA_RW);
    }
    oc->st.managed = oc->st.resident = oc->n;
    *out = oc;
    return 0;
}

void vu_oc_destroy(struct vu_oc *oc)
{
    if (!oc)
        return;
    if (oc->swap_fd >= 0)
        close(oc->swap_fd);
    free(oc->flags);
    free(oc->prev);
    free(oc->next);
    free(oc->victims);
    free(oc->hist);
    free(oc);
}

/* Reads page i back from swap; the memfd page is allocated on this write. */
static int restore(struct vu_oc *oc, uint32_t i)
{
    ssize_t r = pread(oc->swap_fd, page_ptr(oc, i), PG, (off_t)((uint64_t)i * PG));
    if (r != (ssize_t)PG)
        return r < 0 ? -errno : -EIO;
    oc->flags[i] |= F_RESIDENT;
    lru_append(oc, i);
    oc->st.resident++;
    vu_vpri_set(oc->cfg.vpri, oc->first + i, VPRI_PA_RW);
    return 0;
}

/* Restores the managed, non-resident pages of [gpa, gpa + len); the pages
 * already resident move to the warm end. Returns pages restored or -errno. */
static int make_resident(struct vu_oc *oc, uint64_t gpa, uint64_t len)
{
    if (!len)
        return 0;
    uint64_t lo = gpa / PG, hi = (gpa + len - 1) / PG;
    int done = 0;
    if (gpa + len < gpa)
        return 0;
    if (lo < oc->first)
        lo = oc->first;
    if (hi >= oc->first + oc->n)
        hi = oc->first + oc->n - 1;
    for (uint64_t p = lo; p <= hi && p >= oc->first; p++) {
        uint32_t i = (uint32_t)(p - oc->first);
        if (oc->flags[i] & F_RESIDENT) {
            lru_unlink(oc, i);
            lru_append(oc, i);
            continue;
        }
        int r = restore(oc, i);
        if (r < 0)
            return r;
        done++;
    }
    return done;
}

int vu_oc_touch(struct vu_oc *oc, uint64_t gpa, uint64_t len)
{
    int r = make_resident(oc, gpa, len);
    if (r > 0) {
        oc->st.restored_cpu += (uint64_t)r;
        /* Parked requests may wait for the same pages. */
        vu_vpri_notify(oc->cfg.vpri);
    }
    return r < 0 ? r : 0;
}

/* Takes the chosen victims away: bits cleared, handshake, swap, hole. */
static int evict(struct vu_oc *oc, unsigned nv)
{
    struct vu_vpri *v = oc->cfg.vpri;
    for (unsigned k = 0; k < nv; k++)
        vu_vpri_set(v, oc->first + oc->victims[k], VPRI_PA_NONE);
    if (vu_vpri_quiesce(v, oc->cfg.quiesce_ms) < 0) {
        for (unsigned k = 0; k < nv; k++)
            vu_vpri_set(v, oc->first + oc->victims[k], VPRI_PA_RW);
        oc->st.evict_aborts++;
        return 0;
    }
    for (unsigned k = 0; k < nv; k++) {
        uint32_t i = oc->victims[k];
        uint64_t off = (uint64_t)i * PG;
        if (pwrite(oc->swap_fd, page_ptr(oc, i), PG, (off_t)off) != (ssize_t)PG) {
            int e = errno ? errno : EIO;
            vu_vpri_set(v, oc->first + i, VPRI_PA_RW);
            LOG_ERR("vu_oc", "writing page 0x%llx to swap: %s",
                    (unsigned long long)(oc->first + i), strerror(e));
            return -e;
        }
        if (fallocate(oc->cfg.mem->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                      (off_t)((oc->first + i) * PG), (off_t)PG) < 0) {
            int e = errno;
            vu_vpri_set(v, oc->first + i, VPRI_PA_RW);
            LOG_ERR("vu_oc", "punching page 0x%llx out of guest memory: %s",
                    (unsigned long long)(oc->first + i), strerror(e));
            return -e;
        }
        oc->flags[i] &= (uint8_t)~F_RESIDENT;
        lru_unlink(oc, i);
        oc->st.resident--;
        oc->st.evicted++;
    }
    return 0;
}

static unsigned pick_lru(struct vu_oc *oc, unsigned want)
{
    unsigned nv = 0;
    uint32_t i = oc->head, seen = 0;
    while (i != NONE32 && nv < want && seen++ < oc->n) {
        uint32_t nx = oc->next[i];
        if (!(oc->flags[i] & F_PINNED))
            oc->victims[nv++] = i;
        i = nx;
    }
    return nv;
}

static unsigned pick_random(struct vu_oc *oc, unsigned want, bool any)
{
    unsigned nv = 0;
    for (unsigned tries = 0; nv < want && tries < 4 * want + 16; tries++) {
        uint32_t i = (uint32_t)(rnd(oc) % oc->n);
        for (uint32_t k = 0; k < oc->n; k++, i = (i + 1) % oc->n) {
            if (!(oc->flags[i] & F_RESIDENT) || (!any && (oc->flags[i] & F_PINNED)))
                continue;
            bool dup = false;
            for (unsigned j = 0; j < nv; j++)
                dup |= oc->victims[j] == i;
            if (!dup)
                oc->victims[nv++] = i;
            break;
        }
    }
    return nv;
}

int vu_oc_enforce(struct vu_oc *oc)
{
    while (oc->st.resident > oc->cfg.budget_pages) {
        uint64_t over = oc->st.resident - oc->cfg.budget_pages;
        unsigned want = over < oc->cfg.batch ? (unsigned)over : oc->cfg.batch;
        unsigned nv = oc->cfg.policy == VU_OC_NONE ? pick_random(oc, want, false)
                                                   : pick_lru(oc, want);
        if (nv == 0)
            return 0; /* everything left is pinned */
        uint64_t before = oc->st.evicted;
        int r = evict(oc, nv);
        if (r < 0)
            return r;
        if (oc->st.evicted == before)
            return 0; /* handshake timed out: try again next call */
    }
    return 0;
}

int vu_oc_evict_random(struct vu_oc *oc, unsigned n)
{
    if (n > oc->cfg.batch)
        n = oc->cfg.batch;
    unsigned nv = pick_random(oc, n, true);
    return nv ? evict(oc, nv) : 0;
}

int vu_oc_evict_pages(struct vu_oc *oc, const uint64_t *gpas, unsigned n)
{
    unsigned nv = 0;
    for (unsigned k = 0; k < n && nv < oc->cfg.batch; k++) {
        uint64_t p = gpas[k] / PG;
        if (p < oc->first || p >= oc->first + oc->n)
            continue;
        uint32_t i = (uint32_t)(p - oc->first);
        bool dup = false;
        for (unsigned j = 0; j < nv; j++)
            dup |= oc->victims[j] == i;
        if ((oc->flags[i] & F_RESIDENT) && !dup)
            oc->victims[nv++] = i;
    }
    return nv ? evict(oc, nv) : 0;
}

/* DMA policy: pin the hottest pages (count > 0), at most pin_ratio of the
 * range. Every REPIN_DECAY re-pins the counts are halved, so the choice
 * follows the workload; halving at every re-pin would forget a page that
 * takes DMA less often than once per period (an rx buffer in a large
 * ring). */
static void repin(struct vu_oc *oc)
{
    struct vu_vpri *v = oc->cfg.vpri;
    uint64_t cap = (uint64_t)(oc->cfg.pin_ratio * oc->n);
    memset(oc->hist, 0, (VPRI_DMA_MAX + 1) * sizeof(unsigned));
    for (uint32_t i = 0; i < oc->n; i++)
        oc->hist[vu_vpri_dma(v, oc->first + i)]++;
    /* Threshold: the smallest count t >= 1 with pages(count >= t) <= cap;
     * the room left goes to pages with count t - 1 (ties: the first ones). */
    uint64_t acc = 0;
    unsigned t = VPRI_DMA_MAX + 1;
    while (t > 1 && acc + oc->hist[t - 1] <= cap) {
        acc += oc->hist[t - 1];
        t--;
    }
    uint64_t room = t > 1 ? cap - acc : 0;
    oc->st.pinned = 0;
    for (uint32_t i = 0; i < oc->n; i++) {
        uint16_t c = vu_vpri_dma(v, oc->first + i);
        bool pin = c >= t || (c == t - 1 && room > 0 && room--);
        oc->flags[i] = (uint8_t)((oc->flags[i] & ~F_PINNED) | (pin ? F_PINNED : 0));
        oc->st.pinned += pin;
    }
    if (++oc->repins % REPIN_DECAY == 0)
        vu_vpri_dma_decay(v, oc->first, oc->n);
}

int vu_oc_service(struct vu_oc *oc)
{
    struct vu_vpri *v = oc->cfg.vpri;
    struct vpri_rec rec;
    int served = 0, restored = 0;
    uint64_t t0 = 0;

    vu_vpri_fault_events(v);
    while (vu_vpri_peek(v, &rec)) {
        if (!served)
            t0 = sc_now_ns();
        int r = make_resident(oc, rec.gpa, rec.len);
        if (r < 0)
            return r;
        restored += r;
        vu_vpri_consume(v);
        served++;
    }
    if (served) {
        oc->st.records += (uint64_t)served;
        oc->st.restored_iopf += (uint64_t)restored;
        vu_vpri_notify(v);
        oc->st.service_ns += sc_now_ns() - t0;
    }
    if (oc->cfg.policy == VU_OC_DMA) {
        uint64_t now = sc_now_ns();
        if (now >= oc->next_repin_ns) {
            repin(oc);
            oc->next_repin_ns = now + oc->cfg.repin_ms * 1000000ull;
        }
    }
    int r = vu_oc_enforce(oc);
    return r < 0 ? r : served;
}

void vu_oc_get_stats(const struct vu_oc *oc, struct vu_oc_stats *out)
{
    *out = oc->st;
}
