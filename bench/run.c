#include "run.h"

#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"

static int pin_cpu(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof(set), &set)) {
        perror("sidecore-bench: sched_setaffinity (--cpu)");
        return -1;
    }
    return 0;
}

/* Without INDIRECT_DESC a request takes 3 descriptors; size the ring so
 * qd requests fit either way, within the 1024 most backends accept. */
static uint16_t queue_size_for(unsigned qd)
{
    unsigned n = 128;
    while (n < 3 * qd && n < 1024)
        n <<= 1;
    return (uint16_t)n;
}

static int phase(struct engine *e, enum phase ph, struct phase_result *r, const char *what,
                 const struct bench_opts *o)
{
    if (!o->quiet && !o->json)
        fprintf(stderr, "sidecore-bench: %s phase\n", what);
    return engine_run(e, ph, r);
}

int bench_run(const struct bench_opts *o, const char *socket, struct run_result *res)
{
    memset(res, 0, sizeof(*res));
    res->rc = 2;
    if (o->cpu >= 0 && pin_cpu(o->cpu))
        return res->rc;
    struct vu_blk_cfg cfg = {.socket = socket,
                             .queues = o->queues,
                             .queue_size = queue_size_for(o->qd),
                             .packed = o->packed,
                             .in_order = o->in_order,
                             .mem_bytes = o->mem_mb ? (uint64_t)o->mem_mb << 20
                                                    : engine_mem_bytes(o)};
    struct vu_blk *b;
    if (vu_blk_open(&cfg, &b)) {
        fprintf(stderr, "sidecore-bench: could not start a virtio-blk session on %s (see "
                "above)\n", socket);
        return res->rc;
    }
    res->info = *vu_blk_info(b);
    uint64_t bytes = res->info.capacity * 512;
    if (o->span && o->span < bytes)
        bytes = o->span;
    res->nblocks = bytes / o->bs;
    bool writes = o->wl != WL_RANDREAD && o->wl != WL_READ;
    struct verify v = {0};
    struct engine e = {0};
    if (res->nblocks == 0) {
        fprintf(stderr, "sidecore-bench: device has %" PRIu64 " bytes, less than one block "
                "of %u\n", bytes, o->bs);
        goto out;
    }
    if (writes && res->info.read_only) {
        fprintf(stderr, "sidecore-bench: the device is read-only; use a read workload\n");
        goto out;
    }
    if (o->verify && verify_init(&v, res->nblocks, o->bs))
        goto out;
    if (engine_init(&e, b, o, res->nblocks, o->verify ? &v : NULL))
        goto out;
    if (o->verify && !writes) {
        if (res->info.read_only) {
            fprintf(stderr, "sidecore-bench: --verify needs to write, the device is "
                    "read-only\n");
            goto out;
        }
        res->did_prefill = true;
        if (phase(&e, PH_PREFILL, &res->prefill, "verify prefill (writing the span)", o))
            goto out;
    }
    if (phase(&e, PH_MAIN, &res->main, workload_name(o->wl), o))
        goto out;
    if (o->verify) {
        res->did_readback = true;
        if (phase(&e, PH_READBACK, &res->readback, "verify read-back", o))
            goto out;
    }
    res->checked = v.checked;
    res->mismatches = v.mismatches;
    res->rc = (res->mismatches || res->main.errors || res->prefill.errors ||
               res->readback.errors) ? 1 : 0;
out:
    engine_free(&e);
    verify_free(&v);
    vu_blk_close(b);
    return res->rc;
}

double run_iops(const struct run_result *r)
{
    return r->main.elapsed_ns ? (double)r->main.ios * 1e9 / (double)r->main.elapsed_ns : 0;
}

double run_mbps(const struct run_result *r)
{
    return r->main.elapsed_ns ? (double)r->main.bytes * 1e3 / (double)r->main.elapsed_ns : 0;
}

void run_print(const struct bench_opts *o, const struct run_result *r)
{
    const struct phase_result *m = &r->main;
    printf("device: %" PRIu64 " sectors (%.1f MiB), block size %u, %u queue(s) of %u, "
           "features 0x%" PRIx64 ", protocol 0x%" PRIx64 "\n", r->info.capacity,
           (double)r->info.capacity / 2048.0, r->info.blk_size, o->queues, r->info.device_queues,
           r->info.features, r->info.protocol_features);
    printf("workload: %s bs=%u qd=%u queues=%u %s\n", workload_name(o->wl), o->bs, o->qd,
           o->queues, o->event ? "event" : "poll");
    printf("result: %" PRIu64 " IOs (%" PRIu64 " reads, %" PRIu64 " writes) in %.2f s: "
           "%.0f IOPS, %.1f MB/s, %" PRIu64 " errors\n", m->ios, m->reads, m->writes,
           (double)m->elapsed_ns / 1e9, run_iops(r), run_mbps(r), m->errors);
    printf("latency us: mean %.1f  p50 %.1f  p99 %.1f  p99.9 %.1f  max %.1f\n",
           m->lat.count ? (double)m->lat.sum / (double)m->lat.count / 1e3 : 0.0,
           (double)hist_pct(&m->lat, 0.50) / 1e3, (double)hist_pct(&m->lat, 0.99) / 1e3,
           (double)hist_pct(&m->lat, 0.999) / 1e3, (double)m->lat.max / 1e3);
    printf("kicks: %" PRIu64 " sent, %" PRIu64 " suppressed by the device\n", m->kicks,
           m->kicks_suppressed);
    if (o->verify)
        printf("verify: %" PRIu64 " block reads compared, %" PRIu64 " mismatches, %" PRIu64
               " I/O errors%s\n", r->checked, r->mismatches,
               r->prefill.errors + m->errors + r->readback.errors,
               r->mismatches ? "  FAILED" : "");
}

static json_t *lat_json(const struct hist *h)
{
    return json_pack("{s:I,s:f,s:I,s:I,s:I,s:I,s:I}", "count", (json_int_t)h->count, "mean",
                     h->count ? (double)h->sum / (double)h->count : 0.0, "min",
                     (json_int_t)(h->count ? h->min : 0), "p50",
                     (json_int_t)hist_pct(h, 0.5), "p99", (json_int_t)hist_pct(h, 0.99),
                     "p999", (json_int_t)hist_pct(h, 0.999), "max", (json_int_t)h->max);
}

json_t *run_json(const struct bench_opts *o, const struct run_result *r)
{
    const struct phase_result *m = &r->main;
    json_t *j = json_pack(
        "{s:s,s:i,s:i,s:i,s:s,s:I,s:I,s:I,s:I,s:I,s:f,s:f,s:f,s:o,s:I,s:I,s:{s:I,s:I,s:I,s:i}}",
        "workload", workload_name(o->wl), "bs", (int)o->bs, "qd", (int)o->qd, "queues",
        (int)o->queues, "completion", o->event ? "event" : "poll", "ios", (json_int_t)m->ios,
        "reads", (json_int_t)m->reads, "writes", (json_int_t)m->writes, "bytes",
        (json_int_t)m->bytes, "errors", (json_int_t)m->errors, "seconds",
        (double)m->elapsed_ns / 1e9, "iops", run_iops(r), "mb_s", run_mbps(r), "lat_ns",
        lat_json(&m->lat), "kicks", (json_int_t)m->kicks, "kicks_suppressed",
        (json_int_t)m->kicks_suppressed, "device", "capacity_sectors",
        (json_int_t)r->info.capacity, "features", (json_int_t)r->info.features,
        "protocol_features", (json_int_t)r->info.protocol_features, "queues",
        (int)r->info.device_queues);
    if (j && o->verify)
        json_object_set_new(j, "verify",
                            json_pack("{s:I,s:I,s:I}", "checked", (json_int_t)r->checked,
                                      "mismatches", (json_int_t)r->mismatches, "io_errors",
                                      (json_int_t)(r->prefill.errors + m->errors +
                                                   r->readback.errors)));
    if (j)
        json_object_set_new(j, "exit_code", json_integer(r->rc));
    return j;
}
