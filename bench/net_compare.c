#include "net_compare.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "daemon.h"
#include "hugepages.h"
#include "net_opts.h"
#include "net_side.h"

/* Three DPDK processes at most at once (two clients and the vhost
 * testpmd), 512 MiB each. */
#define NC_HUGEPAGES 800
#define F_RING_PACKED 34

struct row {
    struct nc_case c;
    struct nc_result r[2]; /* by enum nc_backend */
    bool tried[2];
};

static volatile int stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static bool in_path(const char *prog)
{
    const char *path = getenv("PATH");
    char buf[PATH_MAX];
    snprintf(buf, sizeof(buf), "%s", path ? path : "/usr/bin:/bin");
    for (char *save, *d = strtok_r(buf, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        char f[PATH_MAX + 64];
        snprintf(f, sizeof(f), "%s/%s", d, prog);
        if (!access(f, X_OK))
            return true;
    }
    return false;
}

static unsigned build_rows(const struct net_opts *o, struct row *rows)
{
    unsigned n = 0;
    for (int huge = 0; huge < 2; huge++) {
        if (!(huge ? o->huge_on : o->huge_off))
            continue;
        for (int packed = 0; packed < 2; packed++) {
            if (!(packed ? o->packed : o->split))
                continue;
            for (unsigned s = 0; s < o->nsizes; s++) {
                const bool want[] = {o->tx, o->rx, o->g2g};
                for (int d = NC_TX; d <= NC_G2G; d++)
                    if (want[d])
                        rows[n++].c = (struct nc_case){.dir = (enum nc_dir)d,
                                                       .size = o->sizes[s],
                                                       .packed = packed, .huge = huge};
            }
        }
    }
    return n;
}

static const char *dir_label(enum nc_dir d)
{
    static const char *const l[] = {"tx  client->backend", "rx  backend->client",
                                    "g2g client->client"};
    return l[d];
}

static bool packed_missing(const struct row *w)
{
    const struct nc_result *s = &w->r[NC_SIDECORED];
    return w->c.packed && s->have_sc && !((s->features >> F_RING_PACKED) & 1);
}

static void print_table(const struct net_opts *o, const struct row *rows, unsigned n)
{
    printf("net-compare: testpmd virtio-user client(s) on CPU 0; backend on CPU 1: sidecored "
           "(1 sidecore, poll mode) or testpmd with net_vhost.\n"
           "Mpps: the client's own port counters across %u s (to its next statistics block) "
           "after %u s of warm-up; client rings of %u.\n", o->time_s, o->warmup_s,
           o->queue_size);
    printf("%-5s %-6s %5s %-20s %10s %10s %8s %9s %10s\n", "huge", "ring", "size", "direction",
           "sidecored", "dpdk", "sc/dpdk", "sc busy%", "sc ns/pkt");
    for (unsigned i = 0; i < n; i++) {
        const struct row *w = &rows[i];
        const struct nc_result *a = &w->r[NC_SIDECORED], *b = &w->r[NC_DPDK];
        char ca[16] = "-", cb[16] = "-", cr[16] = "-", cu[16] = "-", cn[16] = "-";
        if (w->tried[NC_SIDECORED])
            snprintf(ca, sizeof(ca), "failed");
        if (w->tried[NC_DPDK])
            snprintf(cb, sizeof(cb), "failed");
        if (a->ok)
            snprintf(ca, sizeof(ca), "%.3f", a->mpps);
        if (b->ok)
            snprintf(cb, sizeof(cb), "%.3f", b->mpps);
        if (a->ok && b->ok && b->mpps > 0)
            snprintf(cr, sizeof(cr), "%.2f", a->mpps / b->mpps);
        if (a->have_sc) {
            snprintf(cu, sizeof(cu), "%.1f", a->busy_pct);
            snprintf(cn, sizeof(cn), "%.1f", a->busy_ns_per_pkt);
        }
        printf("%-5s %-6s %5u %-20s %10s %10s %8s %9s %10s%s\n", w->c.huge ? "on" : "off",
               w->c.packed ? "packed" : "split", w->c.size, dir_label(w->c.dir), ca, cb, cr, cu,
               cn, packed_missing(w) ? "  (sidecored: packed not negotiated, ran split)" : "");
    }
}

static json_t *result_json(const struct nc_result *r)
{
    json_t *pps = json_array();
    for (unsigned i = 0; i < r->nsamples; i++)
        json_array_append_new(pps, json_real(r->pps[i]));
    json_t *j = json_pack("{s:b,s:f,s:I,s:f,s:o}", "ok", r->ok, "mpps", r->mpps, "packets",
                          (json_int_t)r->packets, "seconds", r->seconds, "pps", pps);
    if (r->have_sc) {
        char f[24];
        snprintf(f, sizeof(f), "0x%llx", (unsigned long long)r->features);
        json_object_set_new(j, "features", json_string(f));
        json_object_set_new(j, "sidecore_busy_pct", json_real(r->busy_pct));
        json_object_set_new(j, "sidecore_busy_ns_per_packet", json_real(r->busy_ns_per_pkt));
    }
    return j;
}

static void print_json(const struct net_opts *o, const struct row *rows, unsigned n)
{
    json_t *arr = json_array();
    for (unsigned i = 0; i < n; i++) {
        const struct row *w = &rows[i];
        const struct nc_result *a = &w->r[NC_SIDECORED], *b = &w->r[NC_DPDK];
        json_t *j = json_pack("{s:b,s:s,s:i,s:s,s:o,s:o}", "hugepages", w->c.huge, "ring",
                              w->c.packed ? "packed" : "split", "size", w->c.size, "direction",
                              nc_dir_name(w->c.dir), "sidecored", result_json(a), "dpdk",
                              result_json(b));
        json_object_set_new(j, "ratio", a->ok && b->ok && b->mpps > 0
                                            ? json_real(a->mpps / b->mpps) : json_null());
        json_object_set_new(j, "sidecored_packed_negotiated",
                            w->c.packed ? json_boolean(!packed_missing(w)) : json_null());
        json_array_append_new(arr, j);
    }
    json_t *top = json_pack("{s:i,s:i,s:i,s:i,s:i,s:o}", "client_cpu", 0, "backend_cpu", 1,
                            "warmup_s", o->warmup_s, "time_s", o->time_s, "queue_size",
                            o->queue_size, "rows", arr);
    json_dumpf(top, stdout, JSON_INDENT(2));
    putchar('\n');
    json_decref(top);
}

static int run_rows(const struct net_opts *o, struct row *rows, unsigned n, struct nc_env *env)
{
    struct hugepages h = {0};
    bool huge_ready = false;
    int rc = 0;
    for (unsigned i = 0; i < n && !stop_flag; i++) {
        struct row *w = &rows[i];
        if (w->c.huge && !huge_ready) {
            if (hugepages_setup(&h, env->dir, NC_HUGEPAGES)) {
                rc = 1;
                break;
            }
            huge_ready = true;
        }
        env->huge_dir = w->c.huge ? h.dir : NULL;
        for (int b = NC_SIDECORED; b <= NC_DPDK && !stop_flag; b++) {
            if (!o->quiet)
                fprintf(stderr, "sidecore-bench: [%u/%u] hugepages %s, %s ring, %u B, %s: %s\n",
                        i + 1, n, w->c.huge ? "on" : "off", w->c.packed ? "packed" : "split",
                        w->c.size, nc_dir_name(w->c.dir), nc_backend_name((enum nc_backend)b));
            w->tried[b] = true;
            if (nc_run((enum nc_backend)b, &w->c, env, &w->r[b]))
                rc = 1;
            if (huge_ready)
                hugepages_clear(&h);
        }
    }
    if (huge_ready)
        hugepages_restore(&h);
    return stop_flag ? 1 : rc;
}

int bench_net_compare(int argc, char **argv, const char *argv0)
{
    struct net_opts o;
    if (net_opts_parse(argc, argv, &o))
        return 2;
    if (sysconf(_SC_NPROCESSORS_ONLN) < 2) {
        fprintf(stderr, "sidecore-bench net-compare: needs 2 CPUs (client and backend)\n");
        return 2;
    }
    if (!in_path("dpdk-testpmd") || !in_path("stdbuf")) {
        fprintf(stderr, "sidecore-bench net-compare: dpdk-testpmd and stdbuf are needed "
                "(scripts/install-deps.sh test installs dpdk)\n");
        return 2;
    }
    char bin[PATH_MAX];
    if (daemon_sidecored_path(argv0, bin, sizeof(bin)))
        return 2;
    char dir[] = "/tmp/sc-netcmp-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("sidecore-bench: mkdtemp");
        return 2;
    }
    unsigned max = 2u * 2u * NET_MAX_SIZES * 3u;
    struct row *rows = calloc(max, sizeof(*rows));
    if (!rows) {
        rmdir(dir);
        return 2;
    }
    unsigned n = build_rows(&o, rows);
    struct sigaction sa = {.sa_handler = on_signal}, old_int, old_term;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    struct nc_env env = {.dir = dir, .sidecored = bin, .warmup_s = o.warmup_s,
                         .time_s = o.time_s, .queue_size = o.queue_size, .client_cpu = 0,
                         .backend_cpu = 1, .stop = &stop_flag};
    int rc = run_rows(&o, rows, n, &env);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (o.json)
        print_json(&o, rows, n);
    else
        print_table(&o, rows, n);
    free(rows);
    if (rmdir(dir))
        fprintf(stderr, "sidecore-bench: could not remove %s: %s\n", dir, strerror(errno));
    return rc;
}
