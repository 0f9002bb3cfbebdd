#include "vpri_queue.h"

#include <errno.h>
#include <string.h>

#include "../common/log.h"
#include "../common/util.h"

static void publish(struct vpri_q *q)
{
    /* seq_cst: a full barrier between this store and the next bitmap read
     * (the owner clears bits, then reads the epoch: one of the two sides
     * must see the other). */
    atomic_store_explicit(&q->slot->epoch, q->gen << 1 | (q->quiet ? VPRI_EPOCH_QUIET : 0),
                          memory_order_seq_cst);
}

void vpri_q_bind(struct vpri_q *q, struct guestmem *gm, uint16_t idx)
{
    memset(q, 0, sizeof(*q));
    q->idx = idx;
    struct vpri_dev *d = atomic_load_explicit(&gm->vpri, memory_order_acquire);
    if (!d || idx >= d->chan->nqueues)
        return;
    q->d = d;
    q->slot = &d->chan->slots[idx];
    q->gen = atomic_load_explicit(&q->slot->epoch, memory_order_relaxed) >> 1;
    q->quiet = true;
    q->seen_cons = vpri_handled(d);
    q->seen_resolve = atomic_load_explicit(&d->chan->ctrl->resolve_gen, memory_order_acquire);
    atomic_store_explicit(&q->slot->parked, 0, memory_order_relaxed);
    publish(q);
}

void vpri_q_unbind(struct vpri_q *q)
{
    if (!q->d)
        return;
    q->quiet = true;
    atomic_store_explicit(&q->slot->parked, q->park.n, memory_order_relaxed);
    publish(q);
    q->d = NULL;
}

uint64_t vpri_q_stop_bound(const struct vpri_q *q, uint64_t full_ns)
{
    if (!q->d)
        return full_ns;
    uint64_t strike = atomic_load_explicit(&q->d->strike_ns, memory_order_relaxed);
    if (strike && sc_now_ns() - strike < VPRI_STRIKE_NS && full_ns > VPRI_STOP_SHORT_NS)
        return VPRI_STOP_SHORT_NS;
    return full_ns;
}

void vpri_q_stop_timed_out(struct vpri_q *q, const char *name, uint64_t waited_ns)
{
    if (!q->d || q->park.n == 0 || vpri_q_owner_gone(q))
        return;
    uint64_t now = sc_now_ns();
    uint64_t old = atomic_exchange_explicit(&q->d->strike_ns, now, memory_order_relaxed);
    if (!old || now - old >= VPRI_STRIKE_NS)
        LOG_WARN("vpri", "%s: the memory owner left %u fault(s) unresolved through a queue "
                         "stop (%llu ms); for the next %llu s this device's stops wait at most "
                         "%llu ms for it",
                 name, q->park.n, (unsigned long long)(waited_ns / 1000000),
                 (unsigned long long)(VPRI_STRIKE_NS / 1000000000),
                 (unsigned long long)(VPRI_STOP_SHORT_NS / 1000000));
}

void vpri_q_enter_slow(struct vpri_q *q)
{
    q->quiet = false;
    publish(q);
}

void vpri_q_leave(struct vpri_q *q)
{
    if (!q->d)
        return;
    unsigned moved = 0;
    while (moved < 2 && q->inflight[(q->gen + 1) & 1] == 0) {
        q->gen++;
        moved++;
    }
    if (moved)
        publish(q);
}

void vpri_q_rest(struct vpri_q *q)
{
    if (!q->d)
        return;
    for (unsigned moved = 0; moved < 2 && q->inflight[(q->gen + 1) & 1] == 0; moved++)
        q->gen++;
    q->quiet = q->inflight[0] == 0 && q->inflight[1] == 0;
    publish(q);
}

bool vpri_q_sleeping(struct vpri_q *q)
{
    if (!q->d)
        return false;
    if (vpri_park_needs_scan(q))
        return true;
    if (q->inflight[0] == 0 && q->inflight[1] == 0 && !q->quiet) {
        q->quiet = true;
        publish(q);
    }
    return false;
}

enum vpri_verdict vpri_q_check(struct vpri_q *q, const struct vq_chain *c, struct vpri_miss *m)
{
    if (!q->d)
        return VPRI_RESIDENT;
    const struct vpri_map *map = q->d->map;
    unsigned n = (unsigned)c->n_out + c->n_in;
    atomic_store_explicit(&q->slot->lookups,
                          atomic_load_explicit(&q->slot->lookups, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    for (unsigned i = 0; i < n; i++) {
        bool wr = i >= c->n_out;
        enum vpri_verdict v = vpri_range_check(map->bits, map->npages, c->gpa[i],
                                               c->iov[i].iov_len, wr, &m->gpa, &m->len);
        if (v != VPRI_RESIDENT) {
            m->access = wr ? VPRI_ACC_WRITE : VPRI_ACC_READ;
            return v;
        }
    }
    return VPRI_RESIDENT;
}

/* Sampling is unnecessary: one relaxed add per page of a request is cheap
 * next to the copy or I/O it stands for. Lost updates between sidecores
 * (and the owner's decay) only blur a statistic. */
static void count_dma(const struct vpri_map *map, uint64_t gpa, uint64_t len)
{
    if (!len)
        return;
    uint64_t p = gpa >> VPRI_PAGE_SHIFT, last = (gpa + len - 1) >> VPRI_PAGE_SHIFT;
    for (; p <= last && p < map->npages; p++) {
        uint16_t v = atomic_load_explicit(&map->dma[p], memory_order_relaxed);
        if (v < VPRI_DMA_MAX)
            atomic_store_explicit(&map->dma[p], (uint16_t)(v + 1), memory_order_relaxed);
    }
}

uint8_t vpri_q_begin(struct vpri_q *q, const struct vq_chain *c)
{
    if (!q->d)
        return VPRI_NO_TAG;
    unsigned n = (unsigned)c->n_out + c->n_in;
    for (unsigned i = 0; i < n; i++)
        count_dma(q->d->map, c->gpa[i], c->iov[i].iov_len);
    uint8_t tag = (uint8_t)(q->gen & 1);
    q->inflight[tag]++;
    return tag;
}

static void bump(_Atomic uint64_t *ctr, int64_t by)
{
    atomic_store_explicit(ctr, atomic_load_explicit(ctr, memory_order_relaxed) + (uint64_t)by,
                          memory_order_relaxed);
}

/* 0, or -1 when the channel is broken. */
static int post(struct vpri_q *q, struct vpri_parked *e, const struct vpri_miss *m)
{
    uint32_t len = m->len > UINT32_MAX ? UINT32_MAX : (uint32_t)m->len;
    int rc = vpri_post(q->d, q->idx, m->access, m->gpa, len, e->req_id, &e->ticket);
    if (rc == -EPROTO)
        return -1;
    e->posted = rc == 0;
    bump(e->posted ? &q->slot->faults : &q->slot->ring_full, 1);
    return 0;
}

int vpri_park(struct vpri_q *q, void *req, const struct vpri_miss *m)
{
    struct vpri_parked *e = &q->park.e[q->park.n];
    e->req = req;
    e->req_id = q->next_req_id++;
    e->t_park = sc_now_ns();
    if (post(q, e, m) < 0)
        return -1;
    q->park.n++;
    atomic_store_explicit(&q->slot->parked, q->park.n, memory_order_relaxed);
    return 0;
}

bool vpri_park_due(struct vpri_q *q)
{
    if (!q->d || q->park.n == 0)
        return false;
    return vpri_handled(q->d) != q->seen_cons ||
           atomic_load_explicit(&q->d->chan->ctrl->resolve_gen, memory_order_acquire) !=
               q->seen_resolve;
}

bool vpri_park_needs_scan(struct vpri_q *q)
{
    if (vpri_park_due(q))
        return true;
    for (unsigned i = 0; i < q->park.n; i++)
        if (!q->park.e[i].posted)
            return true;
    return false;
}

void vpri_q_dropped(struct vpri_q *q, uint64_t n)
{
    if (q->d)
        bump(&q->slot->dropped, (int64_t)n);
}

int vpri_park_scan(struct vpri_q *q, const struct vq_chain *(*chain_of)(void *req),
                   bool (*resume)(void *req, void *ctx), void *ctx, const char **why)
{
    if (!q->d)
        return 0;
    uint64_t handled = vpri_handled(q->d);
    q->seen_cons = handled;
    q->seen_resolve = atomic_load_explicit(&q->d->chan->ctrl->resolve_gen, memory_order_acquire);
    int resumed = 0;
    for (unsigned i = 0; i < q->park.n;) {
        struct vpri_parked *e = &q->park.e[i];
        struct vpri_miss m;
        enum vpri_verdict v = vpri_q_check(q, chain_of(e->req), &m);
        if (v == VPRI_OUTSIDE) {
            *why = "a parked request now reaches past the PA-BITMAP";
            return -1;
        }
        if (v == VPRI_MISS) {
            if ((!e->posted || (int64_t)(handled - e->ticket) > 0) && post(q, e, &m) < 0) {
                *why = "the IOPF ring's consumer index is ahead of the records posted";
                return -1;
            }
            i++;
            continue;
        }
        void *req = e->req;
        bump(&q->slot->wait_ns, (int64_t)(sc_now_ns() - e->t_park));
        /* Order among parked blk requests does not matter: move the last in. */
        *e = q->park.e[--q->park.n];
        atomic_store_explicit(&q->slot->parked, q->park.n, memory_order_relaxed);
        bump(&q->slot->resumed, 1);
        resumed++;
        if (!resume(req, ctx))
            break;
    }
    return resumed;
}

void *vpri_park_pop(struct vpri_q *q)
{
    if (q->park.n == 0)
        return NULL;
    void *req = q->park.e[--q->park.n].req;
    if (q->slot)
        atomic_store_explicit(&q->slot->parked, q->park.n, memory_order_relaxed);
    return req;
}
