#include "scstats.h"

#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "rpc.h"

void sc_usage_sample(const char *rpc, struct sc_usage *s)
{
    memset(s, 0, sizeof(*s));
    json_t *r = rpc_call(rpc, "sidecore_stats", NULL, 5000);
    if (!json_is_array(r)) {
        if (r)
            fprintf(stderr, "sidecore-bench: sidecore_stats did not return an array\n");
        json_decref(r);
        return;
    }
    size_t i;
    json_t *sc;
    json_array_foreach(r, i, sc) {
        s->busy_ns += (uint64_t)json_integer_value(json_object_get(sc, "busy_ns"));
        s->requests += (uint64_t)json_integer_value(json_object_get(sc, "requests"));
    }
    json_decref(r);
    s->wall_ns = sc_now_ns();
    s->ok = true;
}

struct sc_usage sc_usage_delta(const struct sc_usage *b, const struct sc_usage *a)
{
    if (!a->ok || !b->ok)
        return (struct sc_usage){0};
    return (struct sc_usage){.busy_ns = a->busy_ns - b->busy_ns,
                             .requests = a->requests - b->requests,
                             .wall_ns = a->wall_ns - b->wall_ns,
                             .ok = true};
}

double sc_usage_cpu_pct(const struct sc_usage *d)
{
    return d->wall_ns ? 100.0 * (double)d->busy_ns / (double)d->wall_ns : 0.0;
}

double sc_usage_ns_per_req(const struct sc_usage *d)
{
    return d->requests ? (double)d->busy_ns / (double)d->requests : 0.0;
}

void sc_usage_print(const struct sc_usage *d)
{
    if (!d->ok || !d->wall_ns) {
        printf("%-24s %14s\n", "sidecore busy CPU %", "n/a (no sidecore_stats)");
        return;
    }
    printf("%-24s %14.1f\n", "sidecore busy CPU %", sc_usage_cpu_pct(d));
    printf("%-24s %14.0f\n", "sidecore busy ns/request", sc_usage_ns_per_req(d));
}

json_t *sc_usage_json(const struct sc_usage *d)
{
    if (!d->ok || !d->wall_ns)
        return NULL;
    return json_pack("{s:f,s:f,s:I,s:I}", "busy_cpu_pct", sc_usage_cpu_pct(d),
                     "busy_ns_per_request", sc_usage_ns_per_req(d), "busy_ns",
                     (json_int_t)d->busy_ns, "requests", (json_int_t)d->requests);
}
