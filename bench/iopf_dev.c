#include "iopf_dev.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

#define PG 4096u
#define REQ_TIMEOUT_NS (10ull * 1000000000ull)
#define MAX_BLOCKS 16384u /* span of the disk used: enough to spread requests */
#define CPU_TOUCHES 4     /* nic: working-set pages the CPU touches per packet */

static uint64_t rnd(struct iopf_dev *d)
{
    d->rng ^= d->rng >> 12;
    d->rng ^= d->rng << 25;
    d->rng ^= d->rng >> 27;
    return d->rng * 0x2545F4914F6CDD1Dull;
}

static int fail(struct iopf_dev *d, const char *what, int err)
{
    snprintf(d->why, sizeof(d->why), "%s: %s: %s", d->cfg.socket, what, strerror(err));
    return -1;
}

static uint8_t *buf_ptr(struct iopf_dev *d, uint32_t i)
{
    return d->pool + (uint64_t)i * d->cfg.bs;
}

/* The CPU is about to access [p, p + len) of the pool. */
static int touch(struct iopf_dev *d, const void *p, uint64_t len)
{
    if (!d->oc)
        return 0;
    d->cpu_touches++;
    int r = vu_oc_touch(d->oc, vu_mem_gpa(&d->mem, p, len), len);
    return r < 0 ? fail(d, "restoring a page for the CPU", -r) : 0;
}

int iopf_dev_open(struct iopf_dev *d, const struct iopf_dev_cfg *cfg)
{
    memset(d, 0, sizeof(*d));
    d->cfg = *cfg;
    d->mem.fd = -1;
    d->rng = cfg->seed ? cfg->seed : 0x853c49e6748fea9bull;
    hist_init(&d->lat);
    if (cfg->bs % PG || !cfg->bs || !cfg->qd || cfg->pool_bytes < (uint64_t)cfg->bs * cfg->qd) {
        snprintf(d->why, sizeof(d->why), "bad geometry: bs %u (multiple of 4096), qd %u, pool "
                 "of %llu bytes (at least qd buffers)", cfg->bs, cfg->qd,
                 (unsigned long long)cfg->pool_bytes);
        return -1;
    }
    int r = vu_mem_create(&d->mem, cfg->pool_bytes + (4ull << 20));
    if (r)
        return fail(d, "creating guest memory", -r);
    if (cfg->vpri) {
        r = vu_vpri_create(&d->vp, d->mem.size / PG, 1, 256, 1);
        if (r)
            return fail(d, "creating the VPRI map and channel", -r);
    }
    struct vu_blk_cfg bc = {.socket = cfg->socket, .queues = 1, .queue_size = 256,
                            .mem = &d->mem, .vpri = cfg->vpri ? &d->vp : NULL};
    r = vu_blk_open(&bc, &d->b);
    if (r)
        return fail(d, "opening the device", -r);
    vu_blk_set_polling(d->b, 0, !cfg->event);
    d->pool = vu_mem_alloc(&d->mem, cfg->pool_bytes, PG);
    if (!d->pool)
        return fail(d, "allocating the buffer pool", ENOMEM);
    d->pool_gpa = vu_mem_gpa(&d->mem, d->pool, cfg->pool_bytes);
    d->nbuf = (uint32_t)(cfg->pool_bytes / cfg->bs);
    if (!d->cfg.rx_buffers)
        d->cfg.rx_buffers = d->nbuf * 8 / 100;
    if (cfg->wl != IOPF_WL_BLK &&
        (d->cfg.rx_buffers < cfg->qd || d->cfg.rx_buffers >= d->nbuf)) {
        snprintf(d->why, sizeof(d->why), "rx pool of %u buffers: needs qd (%u) .. pool (%u)",
                 d->cfg.rx_buffers, cfg->qd, d->nbuf);
        return -1;
    }
    uint64_t cap = vu_blk_info(d->b)->capacity * 512 / cfg->bs;
    d->nblocks = cap < MAX_BLOCKS ? cap : MAX_BLOCKS;
    d->buf_busy = calloc(d->nbuf, 1);
    d->slots = calloc(cfg->qd, sizeof(*d->slots));
    if (!d->nblocks || !d->buf_busy || !d->slots || verify_init(&d->ver, d->nblocks, cfg->bs))
        return fail(d, "setting up (disk too small or out of memory)", ENOMEM);
    if (cfg->vpri) {
        uint64_t pages = cfg->pool_bytes / PG;
        struct vu_oc_cfg oc = {.mem = &d->mem, .vpri = &d->vp, .gpa = d->pool_gpa,
                               .len = pages * PG,
                               .budget_pages = pages * (100 - cfg->overcommit) / 100,
                               .policy = cfg->policy, .pin_ratio = cfg->pin_ratio,
                               .seed = d->rng};
        r = vu_oc_create(&oc, &d->oc);
        if (!r)
            r = vu_oc_enforce(d->oc);
        if (r)
            return fail(d, "starting the overcommit manager", -r);
    }
    return 0;
}

void iopf_dev_close(struct iopf_dev *d)
{
    /* Faults must be served while the rings stop: the daemon waits for
     * parked requests before it answers GET_VRING_BASE. */
    if (d->b && d->oc) {
        uint64_t deadline = sc_now_ns() + REQ_TIMEOUT_NS;
        while (d->inflight && sc_now_ns() < deadline && iopf_dev_step(d, false, true) >= 0)
            ;
    }
    vu_blk_close(d->b);
    vu_oc_destroy(d->oc);
    if (d->cfg.vpri)
        vu_vpri_destroy(&d->vp);
    vu_mem_destroy(&d->mem);
    verify_free(&d->ver);
    free(d->buf_busy);
    free(d->slots);
    d->b = NULL;
    d->oc = NULL;
}

static bool nic_turn(struct iopf_dev *d)
{
    return d->cfg.wl == IOPF_WL_NIC || (d->cfg.wl == IOPF_WL_MIX && (d->submitted & 1) == 0);
}

/* A free buffer for the next request, or UINT32_MAX. */
static uint32_t pick_buf(struct iopf_dev *d, bool nic)
{
    if (nic) {
        for (uint32_t k = 0; k < d->cfg.rx_buffers; k++) {
            uint32_t i = d->rx_next;
            d->rx_next = (d->rx_next + 1) % d->cfg.rx_buffers;
            if (!d->buf_busy[i])
                return i;
        }
        return UINT32_MAX;
    }
    uint32_t lo = d->cfg.wl == IOPF_WL_MIX ? d->cfg.rx_buffers : 0;
    for (int t = 0; t < 16; t++) {
        uint32_t i = lo + (uint32_t)(rnd(d) % (d->nbuf - lo));
        if (!d->buf_busy[i])
            return i;
    }
    return UINT32_MAX;
}

static int submit_one(struct iopf_dev *d, unsigned s)
{
    struct iopf_slot *sl = &d->slots[s];
    bool nic = nic_turn(d);
    d->submitted++;
    uint64_t blk = 0;
    int t;
    for (t = 0; t < 16; t++) {
        blk = rnd(d) % d->nblocks;
        if (!d->ver.busy[blk])
            break;
    }
    uint32_t buf = pick_buf(d, nic);
    if (t == 16 || buf == UINT32_MAX)
        return 0;
    sl->op = nic || d->reads_only || (rnd(d) & 1) ? VU_BLK_READ : VU_BLK_WRITE;
    sl->blk = blk;
    sl->buf = buf;
    sl->nic = nic;
    if (sl->op == VU_BLK_WRITE) {
        if (touch(d, buf_ptr(d, buf), d->cfg.bs) < 0)
            return -1;
        sl->seq = verify_new_seq(&d->ver);
        verify_fill(buf_ptr(d, buf), d->cfg.bs, blk * (d->cfg.bs / 512), sl->seq);
    }
    sl->t0 = sc_now_ns();
    int r = vu_blk_submit(d->b, 0, sl->op, blk * (d->cfg.bs / 512), buf_ptr(d, buf), d->cfg.bs,
                          s);
    if (r)
        return fail(d, "submitting", -r);
    sl->busy = true;
    d->issued++;
    d->buf_busy[buf] = 1;
    d->ver.busy[blk] = 1;
    d->inflight++;
    return 1;
}

/* The guest's CPU between packets: its own working set, outside the rx pool. */
static int cpu_work(struct iopf_dev *d)
{
    if (d->cfg.wl == IOPF_WL_BLK || d->nbuf <= d->cfg.rx_buffers)
        return 0;
    uint64_t first = (uint64_t)d->cfg.rx_buffers * d->cfg.bs / PG;
    uint64_t pages = d->cfg.pool_bytes / PG - first;
    /* Reads only: in mix the working set holds the blk buffers, and a
     * write could land in one with a request in flight. */
    for (int k = 0; k < CPU_TOUCHES; k++) {
        const volatile uint8_t *p = d->pool + (first + rnd(d) % pages) * PG;
        if (touch(d, (const void *)p, PG) < 0)
            return -1;
        d->sink += p[rnd(d) % PG];
    }
    return 0;
}

static int complete_one(struct iopf_dev *d, const struct vu_blk_cpl *c)
{
    if (c->tag >= d->cfg.qd || !d->slots[c->tag].busy) {
        snprintf(d->why, sizeof(d->why), "%s: completion with unknown tag %llu", d->cfg.socket,
                 (unsigned long long)c->tag);
        return -1;
    }
    struct iopf_slot *sl = &d->slots[c->tag];
    uint64_t now = sc_now_ns();
    hist_add(&d->lat, now - sl->t0);
    sl->busy = false;
    d->inflight--;
    d->ios++;
    if (c->status != VU_BLK_S_OK)
        d->errors++;
    if (sl->op == VU_BLK_WRITE) {
        d->ver.seq[sl->blk] = c->status == VU_BLK_S_OK ? sl->seq : VERIFY_UNKNOWN;
    } else if (c->status == VU_BLK_S_OK && !sl->nic) {
        /* The CPU reads the page the device filled; a packet's payload it
         * forwards untouched (zero copy), so rx buffers see only DMA. */
        if (touch(d, buf_ptr(d, sl->buf), d->cfg.bs) < 0)
            return -1;
        uint32_t want = d->ver.seq[sl->blk];
        if (d->cfg.verify && want != VERIFY_NEVER && want != VERIFY_UNKNOWN) {
            d->checked++;
            if (!verify_check(&d->ver, buf_ptr(d, sl->buf), sl->blk,
                              sl->blk * (d->cfg.bs / 512), want))
                d->mismatches++;
        }
    }
    d->buf_busy[sl->buf] = 0;
    d->ver.busy[sl->blk] = 0;
    return sl->nic ? cpu_work(d) : 0;
}

int iopf_dev_step(struct iopf_dev *d, bool submit, bool serve)
{
    struct vu_blk_cpl cpl[64];
    int n = vu_blk_reap(d->b, 0, cpl, 64);
    if (n < 0)
        return fail(d, "reaping", -n);
    for (int i = 0; i < n; i++)
        if (complete_one(d, &cpl[i]) < 0)
            return -1;
    if (submit) {
        int added = 0;
        uint64_t allowed = UINT64_MAX;
        if (d->cfg.rate) {
            uint64_t now = sc_now_ns();
            if (!d->t_rate) {
                d->t_rate = now;
                d->issued = 0;
            }
            uint64_t due = (now - d->t_rate) * d->cfg.rate / 1000000000ull + 1;
            allowed = due > d->issued ? due - d->issued : 0;
        }
        for (unsigned s = 0; s < d->cfg.qd && d->inflight < d->cfg.qd && allowed; s++) {
            if (d->slots[s].busy)
                continue;
            allowed--;
            int r = submit_one(d, s);
            if (r < 0)
                return -1;
            added += r;
        }
        if (added)
            vu_blk_kick(d->b, 0);
        n += added;
    }
    if (serve && d->oc) {
        int r = vu_oc_service(d->oc);
        if (r < 0)
            return fail(d, "serving faults", -r);
        n += r;
    }
    uint64_t now = sc_now_ns();
    for (unsigned s = 0; s < d->cfg.qd; s++)
        if (d->slots[s].busy && now - d->slots[s].t0 > REQ_TIMEOUT_NS) {
            snprintf(d->why, sizeof(d->why), "%s: request outstanding for over 10 s",
                     d->cfg.socket);
            return -1;
        }
    return n;
}

void iopf_dev_wait(struct iopf_dev *d, int timeout_ms)
{
    vu_blk_wait(d->b, 0, timeout_ms);
}

int iopf_dev_evict_all(struct iopf_dev *d)
{
    if (!d->oc)
        return 0;
    struct vu_oc_stats st;
    vu_oc_get_stats(d->oc, &st);
    for (uint64_t k = 0; k < st.managed && st.resident; k++) {
        int r = vu_oc_evict_random(d->oc, 16);
        if (r < 0)
            return fail(d, "evicting", -r);
        vu_oc_get_stats(d->oc, &st);
    }
    return 0;
}

int iopf_dev_evict_inflight(struct iopf_dev *d, unsigned n)
{
    uint64_t gpas[64];
    unsigned k = 0;
    if (!d->oc)
        return 0;
    for (unsigned s = 0; s < d->cfg.qd && k < n && k < 64; s++)
        if (d->slots[s].busy && (rnd(d) & 1))
            gpas[k++] = d->pool_gpa + (uint64_t)d->slots[s].buf * d->cfg.bs +
                        (rnd(d) % (d->cfg.bs / PG)) * PG;
    int r = vu_oc_evict_pages(d->oc, gpas, k);
    return r < 0 ? fail(d, "evicting pages in flight", -r) : 0;
}

void iopf_dev_qstats(const struct iopf_dev *d, struct vpri_qslot *out)
{
    if (d->cfg.vpri)
        vu_vpri_qstats(&d->vp, out);
    else
        memset(out, 0, sizeof(*out));
}
