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
#include "net_rounds.h"
#include "net_side.h"

/* Three DPDK processes at most at once (two clients and the vhost
 * testpmd), 512 MiB each. */
#define NC_HUGEPAGES 800
#define F_RING_PACKED 34

/* Rounds by enum nc_backend; med: the median measured round, or -1. */
struct row {
    struct nc_case c;
    struct nc_result r[2][NET_MAX_REPEAT];
    unsigned rounds;
    int med[2];
};

/* The round that stands for the backend, or a blank one when none ran. */
static const struct nc_result *shown(const struct row *w, int b)
{
    static const struct nc_result none;
    return w->med[b] >= 0 ? &w->r[b][w->med[b]] : &none;
}

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
    const struct nc_result *s = shown(w, NC_SIDECORED);
    return w->c.packed && s->have_sc && !((s->features >> F_RING_PACKED) & 1);
}

static void print_table(const struct net_opts *o, const struct row *rows, unsigned n)
{
    printf("net-compare: testpmd virtio-user client(s) on CPU 0; backend on CPU 1: sidecored "
           "(1 sidecore, poll mode) or testpmd with net_vhost.\n"
           "Mpps: the client's own port counters across %u s (to its next statistics block) "
           "after %u s of warm-up; client rings of %u.\n", o->time_s, o->warmup_s,
           o->queue_size);
    if (o->repeat > 1)
        printf("Each backend's median of %u rounds (run sidecored, dpdk, dpdk, sidecored, "
               "...); the rounds follow the table.\n", o->repeat);
    printf("%-5s %-6s %5s %-20s %10s %10s %8s %9s %10s\n", "huge", "ring", "size", "direction",
           "sidecored", "dpdk", "sc/dpdk", "sc busy%", "sc ns/pkt");
    for (unsigned i = 0; i < n; i++) {
        const struct row *w = &rows[i];
        const struct nc_result *a = shown(w, NC_SIDECORED), *b = shown(w, NC_DPDK);
        char ca[16] = "-", cb[16] = "-", cr[16] = "-", cu[16] = "-", cn[16] = "-";
        if (w->rounds) {
            snprintf(ca, sizeof(ca), "failed");
            snprintf(cb, sizeof(cb), "failed");
        }
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
    for (unsigned i = 0; o->repeat > 1 && i < n; i++) {
        const struct row *w = &rows[i];
        printf("rounds %-3s %-6s %4u %-3s", w->c.huge ? "on" : "off",
               w->c.packed ? "packed" : "split", w->c.size, nc_dir_name(w->c.dir));
        for (int b = NC_SIDECORED; b <= NC_DPDK; b++) {
            printf("  %s", nc_backend_name((enum nc_backend)b));
            for (unsigned k = 0; k < w->rounds; k++) {
                if (w->r[b][k].ok)
                    printf(" %.3f", w->r[b][k].mpps);
                else
                    printf(" failed");
            }
        }
        putchar('\n');
    }
}

static json_t *result_json(const struct row *w, int b)
{
    const struct nc_result *r = shown(w, b);
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
    json_t *rounds = json_array();
    for (unsigned k = 0; k < w->rounds; k++)
        json_array_append_new(rounds, w->r[b][k].ok ? json_real(w->r[b][k].mpps) : json_null());
    json_object_set_new(j, "rounds_mpps", rounds);
    return j;
}

static void print_json(const struct net_opts *o, const struct row *rows, unsigned n)
{
    json_t *arr = json_array();
    for (unsigned i = 0; i < n; i++) {
        const struct row *w = &rows[i];
        const struct nc_result *a = shown(w, NC_SIDECORED), *b = shown(w, NC_DPDK);
        json_t *j = json_pack("{s:b,s:s,s:i,s:s,s:o,s:o}", "hugepages", w->c.huge, "ring",
                              w->c.packed ? "packed" : "split", "size", w->c.size, "direction",
                              nc_dir_name(w->c.dir), "sidecored", result_json(w, NC_SIDECORED),
                              "dpdk", result_json(w, NC_DPDK));
        json_object_set_new(j, "ratio", a->ok && b->ok && b->mpps > 0
                                            ? json_real(a->mpps / b->mpps) : json_null());
        json_object_set_new(j, "sidecored_packed_negotiated",
                            w->c.packed ? json_boolean(!packed_missing(w)) : json_null());
        json_array_append_new(arr, j);
    }
    json_t *top = json_pack("{s:i,s:i,s:i,s:i,s:i,s:i,s:o}", "client_cpu", 0, "backend_cpu",
                            1, "warmup_s", o->warmup_s, "time_s", o->time_s, "queue_size",
                            o->queue_size, "repeat", o->repeat, "rows", arr);
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
        /* ABBA: a drift of the machine's speed during the row weighs on
         * both backends alike. */
        for (unsigned k = 0; k < o->repeat && !stop_flag; k++) {
            w->rounds = k + 1;
            for (int j = 0; j < 2 && !stop_flag; j++) {
                int b = (k & 1) ? NC_DPDK - j : NC_SIDECORED + j;
                if (!o->quiet)
                    fprintf(stderr, "sidecore-bench: [%u/%u] round %u/%u, hugepages %s, %s "
                            "ring, %u B, %s: %s\n", i + 1, n, k + 1, o->repeat,
                            w->c.huge ? "on" : "off", w->c.packed ? "packed" : "split",
                            w->c.size, nc_dir_name(w->c.dir),
                            nc_backend_name((enum nc_backend)b));
                if (nc_run((enum nc_backend)b, &w->c, env, &w->r[b][k]))
                    rc = 1;
                if (huge_ready)
                    hugepages_clear(&h);
            }
        }
        for (int b = NC_SIDECORED; b <= NC_DPDK; b++)
            w->med[b] = nc_median_round(w->r[b], w->rounds);
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
    for (unsigned i = 0; i < max; i++)
        rows[i].med[NC_SIDECORED] = rows[i].med[NC_DPDK] = -1;
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
    scratch_remove(dir);
    return rc;
}
