#include "engine.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

#define REAP_BATCH 64
#define BUSY_TRIES 8

uint64_t engine_mem_bytes(const struct bench_opts *o)
{
    return (uint64_t)o->queues * o->qd * SC_ALIGN_UP((uint64_t)o->bs, 4096) + (1ull << 20);
}

int engine_init(struct engine *e, struct vu_blk *b, const struct bench_opts *o,
                uint64_t nblocks, struct verify *v)
{
    memset(e, 0, sizeof(*e));
    e->b = b;
    e->o = o;
    e->nq = vu_blk_queues(b);
    e->qd = o->qd;
    e->nblocks = nblocks;
    e->v = v;
    e->rng = 0x853c49e6748fea9bull ^ (uint64_t)sc_now_ns();
    e->slots = calloc((size_t)e->nq * e->qd, sizeof(*e->slots));
    e->inflight = calloc(e->nq, sizeof(*e->inflight));
    if (!e->slots || !e->inflight) {
        fprintf(stderr, "sidecore-bench: out of memory\n");
        return -1;
    }
    for (size_t i = 0; i < (size_t)e->nq * e->qd; i++) {
        e->slots[i].buf = vu_mem_alloc(vu_blk_mem(b), o->bs, 4096);
        if (!e->slots[i].buf) {
            fprintf(stderr, "sidecore-bench: shared memory too small for %u x %u buffers of "
                    "%u bytes; raise --mem\n", e->nq, e->qd, o->bs);
            return -1;
        }
        memset(e->slots[i].buf, 0x5a, o->bs);
    }
    return 0;
}

void engine_free(struct engine *e)
{
    free(e->slots);
    free(e->inflight);
}

static uint64_t rnd(struct engine *e)
{
    /* xorshift64*: cheap and good enough to spread LBAs. */
    e->rng ^= e->rng >> 12;
    e->rng ^= e->rng << 25;
    e->rng ^= e->rng >> 27;
    return e->rng * 0x2545F4914F6CDD1Dull;
}

enum pick { PICK_OK, PICK_BUSY, PICK_DONE };

static bool busy(const struct engine *e, uint64_t blk) { return e->v && e->v->busy[blk]; }

static enum pick pick_main(struct engine *e, uint8_t *op, uint64_t *blk)
{
    enum workload w = e->o->wl;
    if (w == WL_READ || w == WL_WRITE) {
        uint64_t b = e->cursor % e->nblocks;
        if (busy(e, b))
            return PICK_BUSY;
        e->cursor++;
        *blk = b;
        *op = w == WL_READ ? VU_BLK_READ : VU_BLK_WRITE;
        return PICK_OK;
    }
    for (int t = 0; t < BUSY_TRIES; t++) {
        uint64_t b = rnd(e) % e->nblocks;
        if (busy(e, b))
            continue;
        *blk = b;
        if (w == WL_MIXED)
            *op = (rnd(e) % 100) < e->o->rwmix ? VU_BLK_READ : VU_BLK_WRITE;
        else
            *op = w == WL_RANDREAD ? VU_BLK_READ : VU_BLK_WRITE;
        return PICK_OK;
    }
    return PICK_BUSY;
}

static enum pick pick(struct engine *e, enum phase ph, uint8_t *op, uint64_t *blk)
{
    if (ph == PH_MAIN)
        return pick_main(e, op, blk);
    if (ph == PH_PREFILL) {
        if (e->cursor >= e->nblocks)
            return PICK_DONE;
        *blk = e->cursor++;
        *op = VU_BLK_WRITE;
        return PICK_OK;
    }
    while (e->cursor < e->nblocks) {
        uint64_t b = e->cursor++;
        uint32_t s = e->v->seq[b];
        if (s != VERIFY_NEVER && s != VERIFY_UNKNOWN) {
            *blk = b;
            *op = VU_BLK_READ;
            return PICK_OK;
        }
    }
    return PICK_DONE;
}

static const char *op_name(uint8_t op) { return op == VU_BLK_READ ? "read" : "write"; }

static void complete(struct engine *e, unsigned q, const struct vu_blk_cpl *c, uint64_t now,
                     struct phase_result *r)
{
    struct engine_slot *s = &e->slots[c->tag];
    uint64_t sectors_per_blk = e->o->bs / 512;
    s->busy = false;
    e->inflight[q]--;
    r->ios++;
    hist_add(&r->lat, now - s->t0);
    if (s->op == VU_BLK_READ)
        r->reads++;
    else
        r->writes++;
    if (c->status != VU_BLK_S_OK) {
        r->errors++;
        if (r->errors <= 10)
            fprintf(stderr, "sidecore-bench: %s of block %" PRIu64 " (lba %" PRIu64
                    ") on queue %u failed: status %s\n", op_name(s->op), s->blk,
                    s->blk * sectors_per_blk, q,
                    c->status == VU_BLK_S_IOERR ? "IOERR" : "UNSUPP");
    } else {
        r->bytes += e->o->bs;
    }
    if (!e->v)
        return;
    e->v->busy[s->blk] = 0;
    if (s->op == VU_BLK_WRITE) {
        e->v->seq[s->blk] = c->status == VU_BLK_S_OK ? s->seq : VERIFY_UNKNOWN;
    } else if (c->status == VU_BLK_S_OK) {
        uint32_t want = e->v->seq[s->blk];
        if (want != VERIFY_NEVER && want != VERIFY_UNKNOWN)
            verify_check(e->v, s->buf, s->blk, s->blk * sectors_per_blk, want);
    }
}

/* Fills queue q up to qd. Returns submitted count, or -1 when the generator
 * is exhausted and nothing was submitted. */
static int fill_queue(struct engine *e, unsigned q, enum phase ph, bool *done, uint64_t *left)
{
    int n = 0;
    uint64_t spb = e->o->bs / 512;
    while (!*done && e->inflight[q] < e->qd && *left) {
        uint8_t op;
        uint64_t blk;
        enum pick p = pick(e, ph, &op, &blk);
        if (p == PICK_DONE) {
            *done = true;
            break;
        }
        if (p == PICK_BUSY)
            break;
        unsigned si = 0;
        struct engine_slot *base = &e->slots[(size_t)q * e->qd];
        while (base[si].busy)
            si++;
        struct engine_slot *s = &base[si];
        s->op = op;
        s->blk = blk;
        if (op == VU_BLK_WRITE && e->v) {
            s->seq = verify_new_seq(e->v);
            verify_fill(s->buf, e->o->bs, blk * spb, s->seq);
        }
        s->t0 = sc_now_ns();
        int r = vu_blk_submit(e->b, q, op, blk * spb, s->buf, e->o->bs,
                              (uint64_t)q * e->qd + si);
        if (r == -ENOSPC) {
            if (ph == PH_MAIN && (e->o->wl == WL_READ || e->o->wl == WL_WRITE))
                e->cursor--;
            else if (ph != PH_MAIN)
                e->cursor = blk;
            break;
        }
        if (r) {
            fprintf(stderr, "sidecore-bench: submit on queue %u failed: %s\n", q, strerror(-r));
            return -2;
        }
        s->busy = true;
        if (e->v)
            e->v->busy[blk] = 1;
        e->inflight[q]++;
        if (*left != UINT64_MAX)
            (*left)--;
        n++;
    }
    return n;
}

static int check_timeouts(struct engine *e, uint64_t now)
{
    uint64_t limit = (uint64_t)e->o->timeout_s * 1000000000ull;
    for (size_t i = 0; i < (size_t)e->nq * e->qd; i++) {
        struct engine_slot *s = &e->slots[i];
        if (s->busy && now - s->t0 > limit) {
            fprintf(stderr, "sidecore-bench: %s of block %" PRIu64 " on queue %zu did not "
                    "complete within %u s; the backend is stuck or lost the request\n",
                    op_name(s->op), s->blk, i / e->qd, e->o->timeout_s);
            return -1;
        }
    }
    return 0;
}

static void wait_event(struct engine *e)
{
    struct pollfd p[64];
    unsigned n = 0;
    for (unsigned q = 0; q < e->nq; q++) {
        struct vu_vring *vr = vu_blk_vring(e->b, q);
        if (!vu_vring_enable_cb(vr))
            return;
        if (e->inflight[q])
            p[n++] = (struct pollfd){.fd = vr->call_fd, .events = POLLIN};
    }
    if (n == 0)
        return;
    /* Short bound so progress, time limit and timeouts stay on schedule. */
    if (poll(p, n, 100) > 0)
        for (unsigned q = 0; q < e->nq; q++)
            vu_vring_ack_call(vu_blk_vring(e->b, q));
}

static void progress(const struct phase_result *r, uint64_t start, uint64_t now,
                     uint64_t *last_ios, uint64_t *last_bytes, uint64_t *last_t)
{
    double dt = (double)(now - *last_t) / 1e9;
    fprintf(stderr, "[%5.0fs] %10.0f IOPS %9.1f MB/s  done %" PRIu64 "  errors %" PRIu64 "\n",
            (double)(now - start) / 1e9, (double)(r->ios - *last_ios) / dt,
            (double)(r->bytes - *last_bytes) / dt / 1e6, r->ios, r->errors);
    *last_ios = r->ios;
    *last_bytes = r->bytes;
    *last_t = now;
}

int engine_run(struct engine *e, enum phase ph, struct phase_result *r)
{
    memset(r, 0, sizeof(*r));
    hist_init(&r->lat);
    e->cursor = 0;
    for (unsigned q = 0; q < e->nq; q++)
        vu_blk_set_polling(e->b, q, !e->o->event);
    uint64_t start = sc_now_ns(), now = start;
    uint64_t end = ph == PH_MAIN && e->o->time_s > 0 ? start + (uint64_t)(e->o->time_s * 1e9)
                                                     : UINT64_MAX;
    uint64_t left = ph == PH_MAIN && e->o->ios ? e->o->ios : UINT64_MAX;
    uint64_t next_tick = start + 1000000000ull, last_ios = 0, last_bytes = 0, last_t = start;
    bool done = false;
    uint64_t k0 = 0, s0 = 0;
    for (unsigned q = 0; q < e->nq; q++) {
        k0 += vu_blk_vring(e->b, q)->kicks;
        s0 += vu_blk_vring(e->b, q)->kicks_suppressed;
    }
    int rc = 0;
    for (;;) {
        unsigned total_inflight = 0;
        for (unsigned q = 0; q < e->nq; q++) {
            int n = fill_queue(e, q, ph, &done, &left);
            if (n == -2) {
                rc = -1;
                goto out;
            }
            if (n > 0 && vu_blk_kick(e->b, q) < 0) {
                fprintf(stderr, "sidecore-bench: kick on queue %u failed\n", q);
                rc = -1;
                goto out;
            }
            total_inflight += e->inflight[q];
        }
        if (left == 0)
            done = true;
        if (done && total_inflight == 0)
            break;
        unsigned reaped = 0;
        now = sc_now_ns();
        for (unsigned q = 0; q < e->nq; q++) {
            struct vu_blk_cpl c[REAP_BATCH];
            int n = vu_blk_reap(e->b, q, c, REAP_BATCH);
            if (n < 0) {
                fprintf(stderr, "sidecore-bench: queue %u: the device broke the virtqueue "
                        "protocol (see the log above); stopping\n", q);
                rc = -1;
                goto out;
            }
            for (int i = 0; i < n; i++) {
                if (c[i].tag < (uint64_t)q * e->qd || c[i].tag >= (uint64_t)(q + 1) * e->qd ||
                    !e->slots[c[i].tag].busy) {
                    fprintf(stderr, "sidecore-bench: internal error: bad tag %" PRIu64 "\n",
                            c[i].tag);
                    rc = -1;
                    goto out;
                }
                complete(e, q, &c[i], now, r);
            }
            reaped += (unsigned)n;
        }
        if (now >= end)
            done = true;
        if (now >= next_tick) {
            if (!e->o->quiet)
                progress(r, start, now, &last_ios, &last_bytes, &last_t);
            next_tick += 1000000000ull;
            /* Once a second is enough: the timeout is in seconds. */
            if (check_timeouts(e, now)) {
                rc = -1;
                goto out;
            }
            /* Not a request timeout later (30 s by default): what it holds
             * will never be answered. */
            if (vu_blk_hung_up(e->b)) {
                fprintf(stderr, "sidecore-bench: the backend closed the vhost-user connection "
                        "(device deleted or daemon stopped) with %u request(s) unanswered; "
                        "stopping\n", total_inflight);
                rc = -1;
                goto out;
            }
        }
        if (reaped == 0) {
            if (e->o->event)
                wait_event(e);
            else
                sc_cpu_relax();
        }
    }
out:
    r->elapsed_ns = sc_now_ns() - start;
    for (unsigned q = 0; q < e->nq; q++) {
        r->kicks += vu_blk_vring(e->b, q)->kicks;
        r->kicks_suppressed += vu_blk_vring(e->b, q)->kicks_suppressed;
    }
    r->kicks -= k0;
    r->kicks_suppressed -= s0;
    return rc;
}
