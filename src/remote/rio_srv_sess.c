/* iohost sessions: one per vmhost queue, found by its random id in a small
 * hash table of the socket queue. A session remembers each request id from
 * the client's low-water mark up (RIO_ID_SPAN at most): finished ones keep
 * their status so a duplicate is answered, not applied. When the table is
 * full, the session without progress for longest makes room, if that is
 * longer than EVICT_IDLE_NS and nothing of it runs. Writes whose fragments
 * stopped coming expire (rio_sess_expire_recv). */
#include <stdlib.h>
#include <string.h>

#include "../common/log.h"
#include "rio_srv_int.h"

static unsigned bucket_of(uint64_t id)
{
    return (unsigned)((id * 0x9E3779B97F4A7C15ull) >> 56) % RIO_SESS_BUCKETS;
}

struct rio_sess *rio_sess_find(struct rio_sq *sq, uint64_t id)
{
    for (struct rio_sess *s = sq->buckets[bucket_of(id)]; s; s = s->hnext)
        if (s->id == id)
            return s;
    return NULL;
}

void rio_sreq_free(struct rio_sq *sq, struct rio_sreq *r)
{
    if (r->state == SR_RECV) {
        sq->receiving--;
        if (r->sess)
            r->sess->receiving--;
    }
    rio_mem_give(sq, r);
    free(r->rx);
    free(r->have);
    free(r);
}

#define STARVED_NS (100ull * 1000000ull) /* a refused newcomer counts this long */

/* Sessions that took the memory first kept it as long as they trickled
 * fragments, and every other session's writes were dropped: a session
 * below its even share that finds the memory taken gets it back from the
 * partial writes of the one holding most above its share. */
static bool reclaim(struct rio_sq *sq, const struct rio_sess *me, uint64_t need)
{
    uint64_t budget = sq->srv->mem_budget;
    uint64_t share = budget / (sq->holders + (me->mem_held ? 0 : 1));
    if (me->mem_held + need > share)
        return false;
    struct rio_sess *v = NULL;
    for (unsigned b = 0; b < RIO_SESS_BUCKETS; b++)
        for (struct rio_sess *s = sq->buckets[b]; s; s = s->hnext)
            if (s != me && s->receiving && s->mem_held > share &&
                (!v || s->mem_held > v->mem_held))
                v = s;
    for (unsigned i = 0; v && i < RIO_ID_SPAN && sq->mem_used + need > budget; i++) {
        const struct rio_sreq *q = v->slot[i];
        if (q && q->state == SR_RECV && q->buf) {
            atomic_fetch_add_explicit(&sq->srv->ex[v->ex]->reclaimed, 1, memory_order_relaxed);
            rio_sess_forget(sq, v, i);
        }
    }
    return sq->mem_used + need <= budget;
}

bool rio_mem_take(struct rio_sq *sq, struct rio_sreq *r, uint64_t now)
{
    struct rio_sess *s = r->sess;
    uint64_t budget = sq->srv->mem_budget;
    if (sq->mem_used + r->len > budget && (!s || !reclaim(sq, s, r->len)))
        goto refused;
    if (s && s->mem_held) {
        uint64_t n = sq->holders;
        if (sq->starved && sq->starved != s->id && now - sq->starved_ns < STARVED_NS)
            n++;
        uint64_t cap = budget / n;
        if (cap > budget - budget / RIO_MEM_RESERVE)
            cap = budget - budget / RIO_MEM_RESERVE;
        if (s->mem_held + r->len > cap)
            goto refused;
    }
    r->buf = malloc(r->len);
    if (!r->buf)
        return false;
    r->iov = (struct iovec){r->buf, r->len};
    sq->mem_used += r->len;
    if (s) {
        if (!s->mem_held)
            sq->holders++;
        s->mem_held += r->len;
        if (sq->starved == s->id)
            sq->starved = 0;
    }
    return true;
refused:
    if (s && !s->mem_held) {
        sq->starved = s->id;
        sq->starved_ns = now;
    }
    return false;
}

void rio_mem_disown(struct rio_sq *sq, struct rio_sreq *r)
{
    struct rio_sess *s = r->sess;
    if (!s || !r->buf)
        return;
    s->mem_held -= r->len;
    if (!s->mem_held)
        sq->holders--;
}

void rio_mem_give(struct rio_sq *sq, struct rio_sreq *r)
{
    if (!r->buf)
        return;
    rio_mem_disown(sq, r);
    sq->mem_used -= r->len;
    free(r->buf);
    r->buf = NULL;
}

void rio_sess_forget(struct rio_sq *sq, struct rio_sess *s, unsigned i)
{
    struct rio_sreq *r = s->slot[i];
    s->slot[i] = NULL;
    if (r->state != SR_DONE)
        s->live--;
    if (r->state == SR_EXEC || r->state == SR_READY) {
        rio_mem_disown(sq, r);
        r->sess = NULL;
    }
    else
        rio_sreq_free(sq, r);
}

static void sess_free(struct rio_sq *sq, struct rio_sess *s)
{
    struct rio_sess **pp = &sq->buckets[bucket_of(s->id)];
    while (*pp != s)
        pp = &(*pp)->hnext;
    *pp = s->hnext;
    for (unsigned i = 0; i < RIO_ID_SPAN; i++)
        if (s->slot[i])
            rio_sess_forget(sq, s, i);
    sq->nsess--;
    atomic_fetch_sub(&sq->srv->sessions, 1);
    free(s);
}

/* A forgotten session's window goes with it: a late duplicate of one of its
 * writes would make a new session and be applied again, over a later
 * acknowledged write. Such a duplicate was sent before the session's last
 * progress (a new request or fragment), so its stamp is older than that:
 * past the lease, it is refused (rio_wire.h) instead. A session whose only
 * requests are partial writes that stopped progressing can go too: they
 * were never applied, and its client sends them again. */
#define EVICT_IDLE_NS (2ull * RIO_LEASE_MS * 1000000ull)

static bool evict_one(struct rio_sq *sq, uint64_t now)
{
    struct rio_sess *victim = NULL;
    for (unsigned b = 0; b < RIO_SESS_BUCKETS; b++)
        for (struct rio_sess *s = sq->buckets[b]; s; s = s->hnext)
            if (s->live == s->receiving && now - s->last_ns > EVICT_IDLE_NS &&
                (!victim || s->last_ns < victim->last_ns))
                victim = s;
    if (!victim)
        return false;
    sess_free(sq, victim);
    return true;
}

struct rio_sess *rio_sess_new(struct rio_sq *sq, uint64_t id, unsigned ex, uint64_t now)
{
    if (sq->nsess >= sq->srv->max_sessions && !evict_one(sq, now)) {
        atomic_fetch_add_explicit(&sq->srv->sess_refused, 1, memory_order_relaxed);
        if (!sq->sess_told_ns || now - sq->sess_told_ns > 10ull * 1000000000ull) {
            sq->sess_told_ns = now;
            LOG_WARN("remote", "%s: %u sessions (vmhost queues), each with progress or work "
                     "in the last %llu ms: a new one is turned away until one has none (its "
                     "requests are sent again; more iohost sockets make room for more)", sq->name,
                     sq->srv->max_sessions, (unsigned long long)(EVICT_IDLE_NS / 1000000));
        }
        return NULL;
    }
    struct rio_sess *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->id = id;
    s->ex = ex;
    s->last_ns = now;
    unsigned b = bucket_of(id);
    s->hnext = sq->buckets[b];
    sq->buckets[b] = s;
    sq->nsess++;
    atomic_fetch_add(&sq->srv->sessions, 1);
    atomic_fetch_add_explicit(&sq->srv->ex[ex]->sessions, 1, memory_order_relaxed);
    return s;
}

void rio_sess_ack(struct rio_sq *sq, struct rio_sess *s, uint64_t ack)
{
    if (ack <= s->ack)
        return;
    if (ack - s->ack >= RIO_ID_SPAN) {
        for (unsigned i = 0; i < RIO_ID_SPAN; i++)
            if (s->slot[i] && s->slot[i]->id < ack)
                rio_sess_forget(sq, s, i);
    } else {
        for (uint64_t id = s->ack; id < ack; id++) {
            unsigned i = (unsigned)(id % RIO_ID_SPAN);
            if (s->slot[i] && s->slot[i]->id < ack)
                rio_sess_forget(sq, s, i);
        }
    }
    s->ack = ack;
}

void rio_sess_drop_export(struct rio_sq *sq, unsigned ex)
{
    for (unsigned b = 0; b < RIO_SESS_BUCKETS; b++) {
        struct rio_sess *s = sq->buckets[b];
        while (s) {
            struct rio_sess *next = s->hnext;
            if (ex == ~0u || s->ex == ex)
                sess_free(sq, s);
            s = next;
        }
    }
}

unsigned rio_sess_expire_recv(struct rio_sq *sq, uint64_t now)
{
    unsigned n = 0;
    for (unsigned b = 0; b < RIO_SESS_BUCKETS && sq->receiving; b++)
        for (struct rio_sess *s = sq->buckets[b]; s; s = s->hnext)
            for (unsigned i = 0; i < RIO_ID_SPAN && s->receiving; i++) {
                const struct rio_sreq *r = s->slot[i];
                if (r && r->state == SR_RECV && now - r->recv_ns > RIO_RECV_EXPIRE_NS) {
                    atomic_fetch_add_explicit(&sq->srv->ex[s->ex]->expired, 1,
                                              memory_order_relaxed);
                    rio_sess_forget(sq, s, i);
                    n++;
                }
            }
    return n;
}
