/* QoS stage: token buckets for I/Os per second and bytes per second, shared
 * by all queues of the device (one spinlock, held for a few arithmetic
 * operations). A request is admitted when every enabled bucket holds its
 * cost, or is full (so a request larger than the burst still passes, taking
 * the bucket into debt); admission checks, pre takes the tokens. Two queues
 * may both pass admit before either takes: the bucket then dips below its
 * threshold once, which the next refill repays. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ip_stages.h"

struct bucket {
    bool on;
    double rate;  /* tokens per second */
    double burst; /* capacity */
    double tokens;
};

struct qos {
    struct ip_stage base;
    pthread_spinlock_t lock;
    uint64_t last_ns;
    bool started;
    struct bucket iops, bps;
    _Atomic uint64_t admitted, deferred;
};

static void refill(struct qos *q, uint64_t now)
{
    if (!q->started) {
        q->started = true;
        q->last_ns = now;
        return;
    }
    if (now <= q->last_ns)
        return;
    double dt = (double)(now - q->last_ns) / 1e9;
    q->last_ns = now;
    struct bucket *b[2] = {&q->iops, &q->bps};
    for (unsigned i = 0; i < 2; i++) {
        if (!b[i]->on)
            continue;
        b[i]->tokens += b[i]->rate * dt;
        if (b[i]->tokens > b[i]->burst)
            b[i]->tokens = b[i]->burst;
    }
}

static double bytes_of(const struct ip_xfer *x)
{
    const struct blk_io *o = x->orig;
    return o->op == BLK_OP_READ || o->op == BLK_OP_WRITE ? (double)o->len : 0.0;
}

static bool holds(const struct bucket *b, double cost)
{
    return !b->on || b->tokens >= cost || b->tokens >= b->burst;
}

static int qos_admit(struct ip_stage *s, const struct ip_xfer *x, uint64_t now)
{
    struct qos *q = (struct qos *)s;
    pthread_spin_lock(&q->lock);
    refill(q, now);
    bool ok = holds(&q->iops, 1.0) && holds(&q->bps, bytes_of(x));
    pthread_spin_unlock(&q->lock);
    if (!ok) {
        atomic_fetch_add_explicit(&q->deferred, 1, memory_order_relaxed);
        return -EAGAIN;
    }
    return 0;
}

/* When both buckets will hold what this request costs. */
static uint64_t qos_admit_at(struct ip_stage *s, const struct ip_xfer *x, uint64_t now)
{
    struct qos *q = (struct qos *)s;
    const struct bucket *b[2] = {&q->iops, &q->bps};
    double cost[2] = {1.0, bytes_of(x)}, wait = 0;
    pthread_spin_lock(&q->lock);
    refill(q, now);
    for (unsigned i = 0; i < 2; i++) {
        if (holds(b[i], cost[i]) || b[i]->rate <= 0)
            continue;
        double need = (cost[i] < b[i]->burst ? cost[i] : b[i]->burst) - b[i]->tokens;
        if (need / b[i]->rate > wait)
            wait = need / b[i]->rate;
    }
    pthread_spin_unlock(&q->lock);
    return now + (uint64_t)(wait * 1e9) + 1;
}

static int qos_pre(struct ip_stage *s, void *qstate, struct ip_xfer *x, unsigned pos,
                   uint64_t now)
{
    struct qos *q = (struct qos *)s;
    (void)qstate;
    (void)pos;
    pthread_spin_lock(&q->lock);
    refill(q, now);
    if (q->iops.on)
        q->iops.tokens -= 1.0;
    if (q->bps.on)
        q->bps.tokens -= bytes_of(x);
    pthread_spin_unlock(&q->lock);
    atomic_fetch_add_explicit(&q->admitted, 1, memory_order_relaxed);
    return 0;
}

static json_t *qos_stats(struct ip_stage *s)
{
    struct qos *q = (struct qos *)s;
    pthread_spin_lock(&q->lock);
    double it = q->iops.tokens, bt = q->bps.tokens;
    pthread_spin_unlock(&q->lock);
    return json_pack("{s:I,s:I,s:I,s:I,s:f,s:f,s:I,s:I}", "iops", (json_int_t)q->iops.rate,
                     "iops_burst", (json_int_t)q->iops.burst, "bps", (json_int_t)q->bps.rate,
                     "bps_burst", (json_int_t)q->bps.burst, "iops_tokens", it, "bps_tokens", bt,
                     "admitted",
                     (json_int_t)atomic_load_explicit(&q->admitted, memory_order_relaxed),
                     "deferred",
                     (json_int_t)atomic_load_explicit(&q->deferred, memory_order_relaxed));
}

static void qos_destroy(struct ip_stage *s)
{
    struct qos *q = (struct qos *)s;
    pthread_spin_destroy(&q->lock);
    free(q);
}

static const struct ip_stage_ops qos_ops = {
    .kind = "qos",
    .admit = qos_admit,
    .admit_at = qos_admit_at,
    .pre = qos_pre,
    .stats = qos_stats,
    .destroy = qos_destroy,
};

static void bucket_init(struct bucket *b, uint64_t rate, uint64_t burst)
{
    b->on = rate > 0;
    b->rate = (double)rate;
    if (!burst)
        burst = rate / 10 ? rate / 10 : 1;
    b->burst = (double)burst;
    b->tokens = b->burst;
}

struct ip_stage *ip_qos_create(const struct ip_qos_params *p, const char **why)
{
    if (!p->iops && !p->bps) {
        *why = "a qos stage needs iops or bps";
        return NULL;
    }
    struct qos *q = calloc(1, sizeof(*q));
    if (!q) {
        *why = "out of memory";
        return NULL;
    }
    q->base.ops = &qos_ops;
    pthread_spin_init(&q->lock, PTHREAD_PROCESS_PRIVATE);
    bucket_init(&q->iops, p->iops, p->iops_burst);
    bucket_init(&q->bps, p->bps, p->bps_burst);
    return &q->base;
}

struct ip_stage *ip_qos_from_json(const json_t *o, const char *ctx, char *err, size_t len)
{
    struct ip_qos_params p = {0};
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)o, key, v) {
        uint64_t *dst = strcmp(key, "iops") == 0         ? &p.iops
                        : strcmp(key, "iops_burst") == 0 ? &p.iops_burst
                        : strcmp(key, "bps") == 0        ? &p.bps
                        : strcmp(key, "bps_burst") == 0  ? &p.bps_burst
                                                         : NULL;
        if (strcmp(key, "type") == 0)
            continue;
        if (!dst) {
            snprintf(err, len, "%s.%s: unknown key (expected iops, iops_burst, bps, bps_burst)",
                     ctx, key);
            return NULL;
        }
        /* Buckets count in doubles, exact up to 2^53 (9e15 IOPS or bytes/s, far
         * beyond any device); above it the stats showed 2^63 as negative. */
        if (ip_json_size(v, dst) < 0 || *dst > (1ull << 53)) {
            ip_json_expect(err, len, ctx, key,
                           "a non-negative number up to 2^53 (bps: or a size like 10M)", v);
            return NULL;
        }
    }
    const char *why = "";
    struct ip_stage *s = ip_qos_create(&p, &why);
    if (!s)
        snprintf(err, len, "%s: %s", ctx, why);
    return s;
}
