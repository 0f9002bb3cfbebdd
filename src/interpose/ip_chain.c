/* The chain as a block backend. See ip_chain.h for the contract.
 *
 * Stage lists are immutable. A queue publishes the list it uses (in_use)
 * and re-reads the chain's current list after publishing, while the control
 * thread swaps the current list first and then looks at every queue's
 * in_use: with sequentially consistent atomics one of the two always sees
 * the other, so a retired list is never freed under a queue. */
#include "ip_chain.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/log.h"
#include "../common/util.h"

struct ip_list {
    unsigned n;
    struct ip_stage *st[IP_MAX_STAGES];
    struct ip_list *next_retired;
};

struct ip_cq;

struct ip_slot {
    struct ip_xfer x; /* first: the inner backend's done() gets &x.io */
    struct ip_cq *q;
    struct ip_slot *next_pending;
};

struct ip_chain {
    struct blk_backend base;
    struct blk_backend *inner;
    _Atomic(struct ip_list *) cur;
    struct ip_list *retired;
    pthread_mutex_t lock; /* queues and retired */
    struct ip_cq *queues;
    ip_clock_fn clock;
    void *clock_opaque;
};

struct ip_cq {
    struct ip_chain *c;
    struct blk_bq *ibq;
    unsigned depth, nfree, inflight;
    unsigned *free_idx;
    struct ip_list *list;
    _Atomic(struct ip_list *) in_use;
    void *qstate[IP_MAX_STAGES];
    struct ip_slot *pend_head, *pend_tail;
    bool again; /* a part went down while reaping: the inner queue wants a kick */
    uint64_t retry_ns; /* the last refusal's admit_at, or 0 */
    struct ip_cq *next;
    struct ip_slot slots[];
};

static const struct blk_backend_ops chain_ops;

static uint64_t default_clock(void *opaque)
{
    (void)opaque;
    return sc_now_ns();
}

static void list_free(struct ip_list *l)
{
    if (!l)
        return;
    ip_stages_free(l->st, l->n);
    free(l);
}

static void close_qstates(struct ip_cq *q)
{
    struct ip_list *l = q->list;
    for (unsigned i = 0; l && i < l->n; i++) {
        if (l->st[i]->ops->qclose && q->qstate[i])
            l->st[i]->ops->qclose(l->st[i], q->qstate[i]);
        q->qstate[i] = NULL;
    }
}

/* A stage whose qopen fails keeps a NULL state and must fail requests. */
static void open_qstates(struct ip_cq *q)
{
    struct ip_list *l = q->list;
    for (unsigned i = 0; i < l->n; i++) {
        q->qstate[i] = NULL;
        if (l->st[i]->ops->qopen && l->st[i]->ops->qopen(l->st[i], &q->qstate[i]) < 0) {
            LOG_ERR("interpose", "stage %s: no per-queue state; its requests will fail",
                    l->st[i]->ops->kind);
            q->qstate[i] = NULL;
        }
    }
}

/* 0 when q runs the current list, -EAGAIN while it drains the old one. */
static int switch_list(struct ip_cq *q)
{
    struct ip_chain *c = q->c;
    struct ip_list *want = atomic_load(&c->cur);
    if (SC_LIKELY(want == q->list))
        return 0;
    if (q->inflight)
        return -EAGAIN;
    close_qstates(q);
    do {
        want = atomic_load(&c->cur);
        atomic_store(&q->in_use, want);
    } while (atomic_load(&c->cur) != want);
    q->list = want;
    open_qstates(q);
    return 0;
}

static void slot_free(struct ip_cq *q, struct ip_slot *s)
{
    q->free_idx[q->nfree++] = (unsigned)(s - q->slots);
    q->inflight--;
}

static void run_post(struct ip_cq *q, struct ip_xfer *x, unsigned upto, int *res)
{
    struct ip_list *l = q->list;
    /* An empty chain must cost no clock read: it is every device's default. */
    if (!upto)
        return;
    uint64_t now = q->c->clock(q->c->clock_opaque);
    while (upto-- > 0)
        if (l->st[upto]->ops->post)
            l->st[upto]->ops->post(l->st[upto], q->qstate[upto], x, upto, res, now);
}

static void pend_push(struct ip_cq *q, struct ip_slot *s)
{
    s->next_pending = NULL;
    if (q->pend_tail)
        q->pend_tail->next_pending = s;
    else
        q->pend_head = s;
    q->pend_tail = s;
}

/* The posts of stages [0, upto), inside out, then the device's done(); a
 * stage that asks for the next part of its request (IP_AGAIN) sends it
 * down again through the stages inside it. */
static void settle_slot(struct ip_cq *q, struct ip_slot *s, unsigned upto, int res)
{
    struct ip_xfer *x = &s->x;
    struct ip_list *l = q->list;
    while (upto) {
        uint64_t now = q->c->clock(q->c->clock_opaque);
        unsigned k = upto;
        bool again = false;
        while (!again && k-- > 0) {
            if (l->st[k]->ops->post)
                l->st[k]->ops->post(l->st[k], q->qstate[k], x, k, &res, now);
            again = res == IP_AGAIN;
        }
        if (!again)
            break;
        res = 0;
        unsigned i = k + 1;
        for (; i < l->n && !res; i++)
            if (l->st[i]->ops->pre)
                res = l->st[i]->ops->pre(l->st[i], q->qstate[i], x, i, now);
        if (res) {
            upto = i - 1; /* the stage that refused has nothing to release */
            continue;
        }
        if (q->pend_head) {
            pend_push(q, s);
            return;
        }
        int rc = q->c->inner->ops->submit(q->ibq, &x->io);
        if (rc == -EAGAIN) {
            pend_push(q, s);
            return;
        }
        if (rc == 0) {
            q->again = true;
            return;
        }
        res = rc;
        upto = l->n;
    }
    struct blk_io *orig = x->orig;
    slot_free(q, s);
    orig->done(orig, res);
}

static void slot_done(struct blk_io *io, int res)
{
    struct ip_slot *s = (struct ip_slot *)io;
    settle_slot(s->q, s, s->q->list->n, res);
}

static void chain_info(struct blk_backend *b, struct blk_backend_info *out)
{
    struct ip_chain *c = (struct ip_chain *)b;
    c->inner->ops->info(c->inner, out);
}

static int chain_queue_open(struct blk_backend *b, unsigned depth, struct blk_bq **out)
{
    struct ip_chain *c = (struct ip_chain *)b;
    if (depth == 0 || depth > 65536)
        return -EINVAL;
    struct ip_cq *q = calloc(1, sizeof(*q) + depth * sizeof(q->slots[0]));
    unsigned *fi = calloc(depth, sizeof(*fi));
    if (!q || !fi) {
        free(q);
        free(fi);
        return -ENOMEM;
    }
    int rc = c->inner->ops->queue_open(c->inner, depth, &q->ibq);
    if (rc < 0) {
        free(q);
        free(fi);
        return rc;
    }
    q->c = c;
    q->depth = depth;
    q->free_idx = fi;
    for (unsigned i = 0; i < depth; i++) {
        fi[i] = depth - 1 - i;
        q->slots[i].q = q;
    }
    q->nfree = depth;
    pthread_mutex_lock(&c->lock);
    q->list = atomic_load(&c->cur);
    atomic_store(&q->in_use, q->list);
    open_qstates(q);
    q->next = c->queues;
    c->queues = q;
    pthread_mutex_unlock(&c->lock);
    *out = (struct blk_bq *)q;
    return 0;
}

static void chain_queue_close(struct blk_bq *bq)
{
    struct ip_cq *q = (struct ip_cq *)bq;
    if (!q)
        return;
    struct ip_chain *c = q->c;
    if (q->inflight)
        LOG_ERR("interpose", "queue closed with %u request(s) in flight", q->inflight);
    c->inner->ops->queue_close(q->ibq);
    pthread_mutex_lock(&c->lock);
    close_qstates(q);
    for (struct ip_cq **pp = &c->queues; *pp; pp = &(*pp)->next)
        if (*pp == q) {
            *pp = q->next;
            break;
        }
    pthread_mutex_unlock(&c->lock);
    free(q->free_idx);
    free(q);
}

static int chain_submit(struct blk_bq *bq, struct blk_io *io)
{
    struct ip_cq *q = (struct ip_cq *)bq;
    struct ip_chain *c = q->c;
    q->retry_ns = 0; /* a full queue frees room by completing */
    int rc = switch_list(q);
    if (rc)
        return rc;
    if (!q->nfree)
        return -EAGAIN;
    struct ip_list *l = q->list;
    uint64_t now = l->n ? c->clock(c->clock_opaque) : 0;
    struct ip_slot *s = &q->slots[q->free_idx[q->nfree - 1]];
    struct ip_xfer *x = &s->x;
    x->io = *io;
    x->io.done = slot_done;
    x->orig = io;
    x->start_ns = now;
    for (unsigned i = 0; i < l->n; i++) {
        x->scratch[i] = NULL;
        if (io->urgent)
            continue;
        if (l->st[i]->ops->admit && (rc = l->st[i]->ops->admit(l->st[i], x, now)) < 0) {
            if (rc == -EAGAIN && l->st[i]->ops->admit_at)
                q->retry_ns = l->st[i]->ops->admit_at(l->st[i], x, now);
            return rc;
        }
    }
    q->nfree--;
    q->inflight++;
    for (unsigned i = 0; i < l->n; i++) {
        if (l->st[i]->ops->pre && (rc = l->st[i]->ops->pre(l->st[i], q->qstate[i], x, i, now))) {
            run_post(q, x, i, &rc);
            slot_free(q, s);
            return rc;
        }
    }
    if (q->pend_head) {
        pend_push(q, s);
        return 0;
    }
    rc = c->inner->ops->submit(q->ibq, &x->io);
    if (rc == -EAGAIN) {
        pend_push(q, s);
        return 0;
    }
    if (rc < 0) {
        run_post(q, x, l->n, &rc);
        slot_free(q, s);
    }
    return rc;
}

static void chain_kick(struct blk_bq *bq)
{
    struct ip_cq *q = (struct ip_cq *)bq;
    q->c->inner->ops->kick(q->ibq);
}

/* Requests the inner backend refused for room; a hard refusal completes them. */
static int resubmit_pending(struct ip_cq *q)
{
    int n = 0;
    while (q->pend_head) {
        struct ip_slot *s = q->pend_head;
        int rc = q->c->inner->ops->submit(q->ibq, &s->x.io);
        if (rc == -EAGAIN)
            break;
        q->pend_head = s->next_pending;
        if (!q->pend_head)
            q->pend_tail = NULL;
        if (rc < 0) {
            slot_done(&s->x.io, rc);
            n++;
        } else {
            q->again = true;
        }
    }
    return n;
}

static uint64_t chain_retry_ns(struct blk_bq *bq)
{
    return ((struct ip_cq *)bq)->retry_ns;
}

static int chain_reap(struct blk_bq *bq)
{
    struct ip_cq *q = (struct ip_cq *)bq;
    int n = q->c->inner->ops->reap(q->ibq);
    if (q->pend_head)
        n += resubmit_pending(q);
    /* Callers kick after submitting, not always after reaping (the iohost). */
    if (q->again) {
        q->again = false;
        q->c->inner->ops->kick(q->ibq);
    }
    return n;
}

static unsigned chain_in_flight(struct blk_bq *bq)
{
    return ((struct ip_cq *)bq)->inflight;
}

static int chain_event_fd(struct blk_bq *bq)
{
    struct ip_cq *q = (struct ip_cq *)bq;
    return q->c->inner->ops->event_fd(q->ibq);
}

static void chain_destroy(struct blk_backend *b)
{
    struct ip_chain *c = (struct ip_chain *)b;
    if (!c)
        return;
    if (c->queues)
        LOG_ERR("interpose", "chain destroyed with queues open");
    while (c->retired) {
        struct ip_list *l = c->retired;
        c->retired = l->next_retired;
        list_free(l);
    }
    list_free(atomic_load(&c->cur));
    c->inner->ops->destroy(c->inner);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static int chain_resize(struct blk_backend *b, uint64_t size, const char **why)
{
    struct ip_chain *c = (struct ip_chain *)b;
    if (!c->inner->ops->resize) {
        *why = "the backend cannot be resized";
        return -EOPNOTSUPP;
    }
    return c->inner->ops->resize(c->inner, size, why);
}

static const struct blk_backend_ops chain_ops = {
    .name = "interpose",
    .info = chain_info,
    .queue_open = chain_queue_open,
    .queue_close = chain_queue_close,
    .submit = chain_submit,
    .kick = chain_kick,
    .reap = chain_reap,
    .in_flight = chain_in_flight,
    .event_fd = chain_event_fd,
    .destroy = chain_destroy,
    .resize = chain_resize,
    .retry_ns = chain_retry_ns,
};

struct ip_chain *ip_chain_create(struct blk_backend *inner)
{
    struct ip_chain *c = calloc(1, sizeof(*c));
    struct ip_list *empty = calloc(1, sizeof(*empty));
    if (!c || !empty || !inner) {
        free(c);
        free(empty);
        return NULL;
    }
    c->base.ops = &chain_ops;
    c->inner = inner;
    atomic_init(&c->cur, empty);
    pthread_mutex_init(&c->lock, NULL);
    c->clock = default_clock;
    return c;
}

struct blk_backend *ip_chain_backend(struct ip_chain *c) { return &c->base; }

struct ip_chain *ip_chain_of(struct blk_backend *b)
{
    return b && b->ops == &chain_ops ? (struct ip_chain *)b : NULL;
}

void ip_chain_set_clock(struct ip_chain *c, ip_clock_fn fn, void *opaque)
{
    c->clock = fn ? fn : default_clock;
    c->clock_opaque = opaque;
}

static bool list_in_use(struct ip_chain *c, struct ip_list *l)
{
    for (struct ip_cq *q = c->queues; q; q = q->next)
        if (atomic_load(&q->in_use) == l)
            return true;
    return false;
}

int ip_chain_set(struct ip_chain *c, struct ip_stage **stages, unsigned n, const char **why)
{
    if (n > IP_MAX_STAGES) {
        *why = "too many stages (at most 8)";
        return -EINVAL;
    }
    for (unsigned i = 0; i < n; i++)
        if (!(ip_stage_devs(stages[i]) & IP_DEV_BLK)) {
            /* Control thread only; the caller copies the reason at once. */
            static __thread char msg[96];
            snprintf(msg, sizeof(msg), "stage %u (%s) does not apply to block devices (they "
                     "take meter, qos, crypt)", i, stages[i]->ops->kind);
            *why = msg;
            return -EINVAL;
        }
    struct ip_list *l = calloc(1, sizeof(*l));
    if (!l) {
        *why = "out of memory";
        return -ENOMEM;
    }
    l->n = n;
    memcpy(l->st, stages, n * sizeof(*stages));
    pthread_mutex_lock(&c->lock);
    struct ip_list *old = atomic_exchange(&c->cur, l);
    old->next_retired = c->retired;
    c->retired = old;
    for (struct ip_list **pp = &c->retired; *pp;) {
        struct ip_list *r = *pp;
        if (list_in_use(c, r)) {
            pp = &r->next_retired;
            continue;
        }
        *pp = r->next_retired;
        list_free(r);
    }
    pthread_mutex_unlock(&c->lock);
    return 0;
}

json_t *ip_chain_stats(struct ip_chain *c)
{
    pthread_mutex_lock(&c->lock);
    struct ip_list *l = atomic_load(&c->cur);
    json_t *arr = ip_stages_stats(l->st, l->n);
    pthread_mutex_unlock(&c->lock);
    return arr;
}
