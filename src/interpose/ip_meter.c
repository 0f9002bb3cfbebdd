/* Metering stage: counts what the device asked for (the original request,
 * before other stages rewrote it) and how long the backend took, in a log2
 * histogram of microseconds. Shared by all queues: relaxed atomics. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ip_stages.h"

#define METER_BUCKETS 32 /* bucket i: [2^i, 2^(i+1)) us; bucket 0 also < 1 us */

struct meter {
    struct ip_stage base;
    _Atomic uint64_t reads, writes, flushes, others, errors;
    _Atomic uint64_t bytes_read, bytes_written;
    _Atomic uint64_t lat_sum_ns, lat_count;
    _Atomic uint64_t hist[METER_BUCKETS];
};

static void add(_Atomic uint64_t *c, uint64_t v)
{
    atomic_fetch_add_explicit(c, v, memory_order_relaxed);
}

static uint64_t get(_Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

static unsigned bucket_of(uint64_t ns)
{
    uint64_t us = ns / 1000;
    unsigned b = 0;
    while (us > 1 && b < METER_BUCKETS - 1) {
        us >>= 1;
        b++;
    }
    return b;
}

static void meter_post(struct ip_stage *s, void *qstate, struct ip_xfer *x, unsigned pos,
                       int *res, uint64_t now)
{
    struct meter *m = (struct meter *)s;
    const struct blk_io *o = x->orig;
    (void)qstate;
    (void)pos;
    if (*res < 0) {
        add(&m->errors, 1);
    } else if (o->op == BLK_OP_READ) {
        add(&m->reads, 1);
        add(&m->bytes_read, o->len);
    } else if (o->op == BLK_OP_WRITE) {
        add(&m->writes, 1);
        add(&m->bytes_written, o->len);
    } else if (o->op == BLK_OP_FLUSH) {
        add(&m->flushes, 1);
    } else {
        add(&m->others, 1);
    }
    uint64_t lat = now > x->start_ns ? now - x->start_ns : 0;
    add(&m->lat_sum_ns, lat);
    add(&m->lat_count, 1);
    add(&m->hist[bucket_of(lat)], 1);
}

/* Upper edge (us) of the bucket holding quantile q of the samples. */
static uint64_t quantile_us(const uint64_t *h, uint64_t total, double q)
{
    if (!total)
        return 0;
    uint64_t want = (uint64_t)((double)total * q);
    uint64_t seen = 0;
    for (unsigned i = 0; i < METER_BUCKETS; i++) {
        seen += h[i];
        if (seen > want)
            return 2ull << i;
    }
    return 2ull << (METER_BUCKETS - 1);
}

static json_t *meter_stats(struct ip_stage *s)
{
    struct meter *m = (struct meter *)s;
    uint64_t h[METER_BUCKETS], total = 0;
    unsigned last = 0;
    for (unsigned i = 0; i < METER_BUCKETS; i++) {
        h[i] = get(&m->hist[i]);
        total += h[i];
        if (h[i])
            last = i + 1;
    }
    json_t *hist = json_array();
    for (unsigned i = 0; hist && i < last; i++)
        json_array_append_new(hist, json_integer((json_int_t)h[i]));
    uint64_t n = get(&m->lat_count);
    return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:o}", "reads",
                     (json_int_t)get(&m->reads), "writes", (json_int_t)get(&m->writes),
                     "flushes", (json_int_t)get(&m->flushes), "other",
                     (json_int_t)get(&m->others), "errors", (json_int_t)get(&m->errors),
                     "bytes_read", (json_int_t)get(&m->bytes_read), "bytes_written",
                     (json_int_t)get(&m->bytes_written), "lat_mean_us",
                     (json_int_t)(n ? get(&m->lat_sum_ns) / n / 1000 : 0), "lat_p50_us",
                     (json_int_t)quantile_us(h, total, 0.5), "lat_p99_us",
                     (json_int_t)quantile_us(h, total, 0.99), "lat_hist_log2_us",
                     hist ? hist : json_array());
}

static void meter_destroy(struct ip_stage *s) { free(s); }

static const struct ip_stage_ops meter_ops = {
    .kind = "meter",
    .post = meter_post,
    .stats = meter_stats,
    .destroy = meter_destroy,
};

struct ip_stage *ip_meter_create(void)
{
    struct meter *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->base.ops = &meter_ops;
    return &m->base;
}

struct ip_stage *ip_meter_from_json(const json_t *o, const char *ctx, char *err, size_t len)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)o, key, v) {
        if (strcmp(key, "type") != 0) {
            snprintf(err, len, "%s.%s: unknown key (a meter takes no settings)", ctx, key);
            return NULL;
        }
    }
    struct ip_stage *s = ip_meter_create();
    if (!s)
        snprintf(err, len, "out of memory");
    return s;
}
