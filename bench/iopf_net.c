#include "iopf_net.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "frontend/vu_net.h"

#define PG 4096u
#define FRAME 1024u        /* bytes per frame, Ethernet header included */
#define BURST 32u          /* frames B queues per loop step */
#define CPU_TOUCHES 4      /* working-set pages A's CPU touches per frame */
#define STALL_NS (10ull * 1000000000ull)
#define DRAIN_QUIET_NS (50ull * 1000000ull) /* A quiet this long after the last send: done */
#define ETHERTYPE 0x88b5   /* local experimental */
#define NO_SEQ UINT64_MAX

struct rx_side {
    struct vu_mem mem;
    struct vu_vpri vp;
    bool have_vp;
    struct vu_net *n;
    struct vu_oc *oc;
    uint8_t *pool;
    uint32_t bs, nbuf, nrx, rx_next;
    uint8_t *posted;
    uint64_t last_seq, received, checked, bad, reordered, sink, rng;
    bool verify;
    struct hist lat;
};

struct tx_side {
    struct vu_mem mem;
    struct vu_net *n;
    uint8_t *frames;     /* frame slots */
    uint16_t *free_slot; /* stack */
    unsigned nfree;
    uint64_t queued, sent;
    unsigned rate;       /* frames per second at most; 0: as fast as the ring allows */
    uint64_t t_rate;
};

static uint64_t rnd(struct rx_side *a)
{
    a->rng ^= a->rng >> 12;
    a->rng ^= a->rng << 25;
    a->rng ^= a->rng >> 27;
    return a->rng * 0x2545F4914F6CDD1Dull;
}

static uint8_t pattern(uint64_t seq, unsigned i)
{
    return (uint8_t)(seq * 31 + i * 7 + 1);
}

static int err(const char *what, int e)
{
    fprintf(stderr, "iopf: %s: %s\n", what, strerror(e));
    return -1;
}

static uint8_t *buf_ptr(struct rx_side *a, uint32_t i)
{
    return a->pool + (uint64_t)i * a->bs;
}

static int touch(struct rx_side *a, const void *p, uint64_t len)
{
    int r = vu_oc_touch(a->oc, vu_mem_gpa(&a->mem, p, len), len);
    return r < 0 ? err("restoring a page for the CPU", -r) : 0;
}

static int rx_open(struct rx_side *a, const struct iopf_params *p)
{
    const struct iopf_dev_cfg *c = &p->a;
    a->bs = c->bs;
    a->verify = c->verify;
    a->last_seq = NO_SEQ;
    a->rng = c->seed ? c->seed : 0x853c49e6748fea9bull;
    a->mem.fd = -1;
    hist_init(&a->lat);
    a->nbuf = (uint32_t)(c->pool_bytes / c->bs);
    a->nrx = c->rx_buffers ? c->rx_buffers : a->nbuf * 8 / 100;
    if (c->bs % PG || !c->bs || a->nrx < 16 || a->nrx >= a->nbuf) {
        fprintf(stderr, "iopf: net: bs %u (a multiple of 4096) and an rx pool of %u buffers "
                "(16 .. the pool's %u) needed\n", c->bs, a->nrx, a->nbuf);
        return -1;
    }
    int r = vu_mem_create(&a->mem, c->pool_bytes + (4ull << 20));
    if (r)
        return err("creating guest memory", -r);
    /* Slots for every queue the daemon's device has (one pair and its
     * control queue). */
    r = vu_vpri_create(&a->vp, a->mem.size / PG, 3, 256, 1);
    if (r)
        return err("creating the VPRI map and channel", -r);
    a->have_vp = true;
    struct vu_net_cfg nc = {.socket = c->socket, .mem = &a->mem, .vpri = &a->vp};
    r = vu_net_open(&nc, &a->n);
    if (r)
        return err("opening the faulting net device", -r);
    a->pool = vu_mem_alloc(&a->mem, c->pool_bytes, PG);
    a->posted = calloc(a->nrx, 1);
    if (!a->pool || !a->posted)
        return err("allocating the buffer pool", ENOMEM);
    uint64_t pages = c->pool_bytes / PG;
    struct vu_oc_cfg oc = {.mem = &a->mem, .vpri = &a->vp,
                           .gpa = vu_mem_gpa(&a->mem, a->pool, c->pool_bytes),
                           .len = pages * PG,
                           .budget_pages = pages * (100 - c->overcommit) / 100,
                           .policy = c->policy, .pin_ratio = c->pin_ratio, .seed = a->rng};
    r = vu_oc_create(&oc, &a->oc);
    if (!r)
        r = vu_oc_enforce(a->oc);
    return r ? err("starting the overcommit manager", -r) : 0;
}

static void rx_close(struct rx_side *a)
{
    vu_net_close(a->n);
    vu_oc_destroy(a->oc);
    if (a->have_vp)
        vu_vpri_destroy(&a->vp);
    vu_mem_destroy(&a->mem);
    free(a->posted);
}

static int tx_open(struct tx_side *b, const char *socket)
{
    b->mem.fd = -1;
    int r = vu_mem_create(&b->mem, 4ull << 20);
    if (r)
        return err("creating the sender's memory", -r);
    struct vu_net_cfg nc = {.socket = socket, .mem = &b->mem};
    r = vu_net_open(&nc, &b->n);
    if (r)
        return err("opening the sending net device", -r);
    /* Two descriptors a frame (header, data): half the ring in flight. */
    uint16_t slots = vu_net_queue_size(b->n) / 2;
    b->frames = vu_mem_alloc(&b->mem, (uint64_t)slots * FRAME, 64);
    b->free_slot = calloc(slots, sizeof(*b->free_slot));
    if (!b->frames || !b->free_slot)
        return err("allocating the sender's frames", ENOMEM);
    for (unsigned i = 0; i < slots; i++)
        b->free_slot[b->nfree++] = (uint16_t)i;
    return 0;
}

static void tx_close(struct tx_side *b)
{
    vu_net_close(b->n);
    vu_mem_destroy(&b->mem);
    free(b->free_slot);
}

/* Reaps B's finished frames and queues more, up to total. */
static int tx_step(struct tx_side *b, const uint8_t *dst, uint64_t total)
{
    uint64_t tags[BURST];
    int n = vu_net_tx_reap(b->n, tags, BURST);
    if (n < 0)
        return err("reaping the sender's ring", -n);
    for (int i = 0; i < n; i++)
        b->free_slot[b->nfree++] = (uint16_t)tags[i];
    b->sent += (uint64_t)n;
    unsigned added = 0, allowed = BURST;
    if (b->rate) {
        uint64_t now = sc_now_ns();
        if (!b->t_rate)
            b->t_rate = now;
        uint64_t due = (now - b->t_rate) * b->rate / 1000000000ull + 1;
        allowed = due > b->queued ? (unsigned)SC_MIN(due - b->queued, (uint64_t)BURST) : 0;
    }
    while (added < allowed && b->nfree && b->queued < total) {
        uint16_t s = b->free_slot[b->nfree - 1];
        uint8_t *f = b->frames + (size_t)s * FRAME;
        uint64_t seq = b->queued, now = sc_now_ns();
        memcpy(f, dst, 6);
        memcpy(f + 6, vu_net_mac(b->n), 6);
        f[12] = ETHERTYPE >> 8;
        f[13] = ETHERTYPE & 0xff;
        memcpy(f + 14, &seq, 8);
        memcpy(f + 22, &now, 8);
        for (unsigned i = 30; i < FRAME; i++)
            f[i] = pattern(seq, i);
        int r = vu_net_tx(b->n, f, FRAME, s);
        if (r)
            return err("queueing a frame", -r);
        b->nfree--;
        b->queued++;
        added++;
    }
    if (added) {
        int r = vu_net_tx_kick(b->n);
        if (r)
            return err("kicking the sender's ring", -r);
    }
    return n + (int)added;
}

/* The guest's CPU between packets: its own working set, outside the rx pool. */
static int cpu_work(struct rx_side *a)
{
    uint64_t first = (uint64_t)a->nrx * a->bs / PG;
    uint64_t pages = (uint64_t)a->nbuf * a->bs / PG - first;
    for (int k = 0; k < CPU_TOUCHES; k++) {
        const volatile uint8_t *p = a->pool + (first + rnd(a) % pages) * PG;
        if (touch(a, (const void *)p, PG) < 0)
            return -1;
        a->sink += p[rnd(a) % PG];
    }
    return 0;
}

static int check(struct rx_side *a, uint32_t buf, uint32_t len)
{
    const uint8_t *f = buf_ptr(a, buf) + VU_NET_HDR_LEN;
    if (touch(a, buf_ptr(a, buf), a->bs) < 0)
        return -1;
    a->checked++;
    uint64_t seq, t;
    memcpy(&seq, f + 14, 8);
    memcpy(&t, f + 22, 8);
    bool ok = len == FRAME && f[12] == (ETHERTYPE >> 8) && f[13] == (ETHERTYPE & 0xff) &&
              !memcmp(f, vu_net_mac(a->n), 6);
    for (unsigned i = 30; ok && i < FRAME; i++)
        ok = f[i] == pattern(seq, i);
    if (!ok) {
        if (a->bad++ < 5)
            fprintf(stderr, "iopf: rx buffer %u: frame of %u bytes (seq %llu) is not what was "
                    "sent\n", buf, len, (unsigned long long)seq);
        return 0;
    }
    if (a->last_seq != NO_SEQ && seq <= a->last_seq)
        a->reordered++;
    a->last_seq = seq;
    uint64_t now = sc_now_ns();
    if (now > t)
        hist_add(&a->lat, now - t);
    return 0;
}

/* Takes what A received, gives the buffers back to the ring in turn. */
static int rx_step(struct rx_side *a)
{
    struct vu_net_rx rx[64];
    int n = vu_net_rx_reap(a->n, rx, 64);
    if (n < 0)
        return err("reaping the faulting device's rx ring", -n);
    for (int i = 0; i < n; i++) {
        if (rx[i].tag >= a->nrx || !a->posted[rx[i].tag]) {
            fprintf(stderr, "iopf: rx completion for buffer %llu, never posted\n",
                    (unsigned long long)rx[i].tag);
            return -1;
        }
        a->posted[rx[i].tag] = 0;
        if (!rx[i].len)
            continue;
        a->received++;
        if (a->verify && check(a, (uint32_t)rx[i].tag, rx[i].len) < 0)
            return -1;
        if (cpu_work(a) < 0)
            return -1;
    }
    for (uint32_t k = 0; k < a->nrx; k++) {
        uint32_t i = a->rx_next;
        if (!a->posted[i]) {
            int r = vu_net_rx_post(a->n, buf_ptr(a, i), a->bs, i);
            if (r == -ENOSPC)
                break;
            if (r)
                return err("posting an rx buffer", -r);
            a->posted[i] = 1;
        }
        a->rx_next = (a->rx_next + 1) % a->nrx;
    }
    int r = vu_oc_service(a->oc);
    if (r < 0)
        return err("serving faults", -r);
    return n + r;
}

int iopf_net_run(const struct iopf_params *p, struct iopf_res *res)
{
    struct rx_side a = {0};
    struct tx_side b = {0};
    int rc = 2;
    memset(res, 0, sizeof(*res));
    b.mem.fd = -1;
    b.rate = p->a.rate;
    if (rx_open(&a, p) < 0 || tx_open(&b, p->socket2) < 0)
        goto out;
    uint8_t dst[6];
    memcpy(dst, vu_net_mac(a.n), 6);
    uint64_t t0 = sc_now_ns(), progress = t0;
    for (;;) {
        int wa = rx_step(&a);
        int wb = wa < 0 ? -1 : tx_step(&b, dst, p->ios);
        if (wa < 0 || wb < 0)
            goto out;
        uint64_t now = sc_now_ns();
        if (b.sent == p->ios) {
            /* Delivery happens before the device hands B's chain back,
             * but the device may hold A's used buffers back for a couple
             * of its rounds (src/dev/net_rx.c): take what comes until A's
             * ring has been quiet for a while. */
            uint64_t quiet = now;
            while (sc_now_ns() - quiet < DRAIN_QUIET_NS) {
                if ((wa = rx_step(&a)) < 0)
                    goto out;
                if (wa > 0)
                    quiet = sc_now_ns();
                else
                    sched_yield();
            }
            break;
        }
        if (wa + wb > 0) {
            progress = now;
        } else if (now - progress > STALL_NS) {
            fprintf(stderr, "iopf: no progress for 10 s (sent %llu of %llu, received %llu)\n",
                    (unsigned long long)b.sent, (unsigned long long)p->ios,
                    (unsigned long long)a.received);
            goto out;
        } else {
            sched_yield();
        }
    }
    res->elapsed_ns = sc_now_ns() - t0;
    res->ios = res->net_received = a.received;
    res->net_sent = b.sent;
    res->checked = a.checked;
    res->net_reordered = a.reordered;
    res->mismatches = a.bad + a.reordered;
    res->a_p50 = hist_pct(&a.lat, 0.5);
    res->a_p99 = hist_pct(&a.lat, 0.99);
    res->a_p999 = hist_pct(&a.lat, 0.999);
    struct vu_oc_stats st;
    vu_oc_get_stats(a.oc, &st);
    res->records = st.records;
    res->restored_iopf = st.restored_iopf;
    res->restored_cpu = st.restored_cpu;
    res->evicted = st.evicted;
    res->evict_aborts = st.evict_aborts;
    res->service_ns = st.service_ns;
    res->pinned = st.pinned;
    res->managed = st.managed;
    res->resident = st.resident;
    vu_vpri_qstats(&a.vp, &res->dev);
    res->net_dropped = res->dev.dropped;
    rc = res->mismatches ? 1 : 0;
out:
    tx_close(&b);
    rx_close(&a);
    return rc;
}
