#include "compare.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "daemon.h"
#include "rpc.h"
#include "run.h"
#include "scstats.h"

#define START_TIMEOUT_MS 15000

struct side {
    struct daemon d;
    char sock[PATH_MAX], img[PATH_MAX];
    struct run_result res;
    bool ran;
};

static int run_sidecored(struct bench_opts *o, const char *dir, const char *argv0,
                         struct side *s, struct sc_usage *d, int dcpu)
{
    char bin[PATH_MAX], rpc[PATH_MAX], blk[PATH_MAX * 2 + 128], cpus[16];
    if (daemon_sidecored_path(argv0, bin, sizeof(bin)))
        return 2;
    snprintf(s->sock, sizeof(s->sock), "%s/sc.sock", dir);
    snprintf(s->d.log, sizeof(s->d.log), "%s/sidecored.log", dir);
    snprintf(rpc, sizeof(rpc), "%s/rpc.sock", dir);
    snprintf(cpus, sizeof(cpus), "%d", dcpu);
    if (!strcmp(o->backend, "file")) {
        snprintf(s->img, sizeof(s->img), "%s/sc.img", dir);
        if (make_image(s->img, o->size))
            return 2;
        snprintf(blk, sizeof(blk), "name=d0,socket=%s,backend=file,path=%s,size=%" PRIu64
                 ",queues=%u", s->sock, s->img, o->size, o->queues);
    } else {
        snprintf(blk, sizeof(blk), "name=d0,socket=%s,backend=null,size=%" PRIu64 ",queues=%u",
                 s->sock, o->size, o->queues);
    }
    char *argv[] = {bin, "--no-default", "--rpc", rpc, "--sidecores", "1", "--cpus", cpus,
                    "--blk", blk, NULL};
    const char *paths[] = {s->sock, rpc};
    if (daemon_start(&s->d, argv, dcpu) || daemon_wait_sockets(&s->d, paths, 2, START_TIMEOUT_MS))
        return 2;
    struct sc_usage before, after;
    sc_usage_sample(rpc, &before);
    bench_run(o, s->sock, &s->res);
    s->ran = true;
    sc_usage_sample(rpc, &after);
    *d = sc_usage_delta(&before, &after);
    if (s->res.rc == 2)
        daemon_show_log(&s->d);
    daemon_stop(&s->d);
    return s->res.rc;
}

static int run_qsd(struct bench_opts *o, const char *dir, struct side *s, int dcpu)
{
    char blockdev[PATH_MAX + 128], export[PATH_MAX + 160];
    snprintf(s->sock, sizeof(s->sock), "%s/qsd.sock", dir);
    snprintf(s->d.log, sizeof(s->d.log), "%s/qsd.log", dir);
    if (!strcmp(o->backend, "file")) {
        snprintf(s->img, sizeof(s->img), "%s/qsd.img", dir);
        if (make_image(s->img, o->size))
            return 2;
        /* io_uring, like sidecored's file backend: qsd's default thread
         * pool would make the comparison about the AIO engine. */
        snprintf(blockdev, sizeof(blockdev),
                 "driver=file,node-name=n0,aio=io_uring,filename=%s", s->img);
    } else {
        snprintf(blockdev, sizeof(blockdev), "driver=null-co,node-name=n0,size=%" PRIu64,
                 o->size);
    }
    snprintf(export, sizeof(export), "type=vhost-user-blk,id=e0,node-name=n0,addr.type=unix,"
             "addr.path=%s,writable=on,num-queues=%u", s->sock, o->queues);
    char *argv[] = {"qemu-storage-daemon", "--blockdev", blockdev, "--export", export, NULL};
    const char *paths[] = {s->sock};
    if (daemon_start(&s->d, argv, dcpu) || daemon_wait_sockets(&s->d, paths, 1, START_TIMEOUT_MS))
        return 2;
    bench_run(o, s->sock, &s->res);
    s->ran = true;
    if (s->res.rc == 2)
        daemon_show_log(&s->d);
    daemon_stop(&s->d);
    return s->res.rc;
}

static double ratio(double a, double b) { return b > 0 ? a / b : 0; }

/* One table row; a side that did not run shows "-" instead of zeros. */
static void row(const char *label, bool ra, double a, bool rb, double b, int prec)
{
    char ca[32] = "-", cb[32] = "-", cr[32] = "-";
    if (ra)
        snprintf(ca, sizeof(ca), "%.*f", prec, a);
    if (rb)
        snprintf(cb, sizeof(cb), "%.*f", prec, b);
    if (ra && rb && b > 0)
        snprintf(cr, sizeof(cr), "%.2f", a / b);
    printf("%-24s %14s %14s %12s\n", label, ca, cb, cr);
}

static void print_table(const struct bench_opts *o, const struct side *sc, const struct side *q,
                        const struct sc_usage *d, int bcpu, int dcpu)
{
    const struct run_result *a = &sc->res, *b = &q->res;
    printf("compare: %s bs=%u qd=%u queues=%u %s, backend %s (%.0f MiB), bench on CPU %d, "
           "daemons on CPU %d\n", workload_name(o->wl), o->bs, o->qd, o->queues,
           o->event ? "event" : "poll", o->backend, (double)o->size / 1048576.0, bcpu, dcpu);
    printf("%-24s %14s %14s %12s\n", "", "sidecored", "qemu-sd", "sc/qsd");
    row("IOPS", sc->ran, run_iops(a), q->ran, run_iops(b), 0);
    row("MB/s", sc->ran, run_mbps(a), q->ran, run_mbps(b), 1);
    static const double pct[] = {0.5, 0.99, 0.999};
    static const char *const label[] = {"latency p50 (us)", "latency p99 (us)",
                                        "latency p99.9 (us)"};
    for (unsigned i = 0; i < 3; i++)
        row(label[i], sc->ran, (double)hist_pct(&a->main.lat, pct[i]) / 1e3, q->ran,
            (double)hist_pct(&b->main.lat, pct[i]) / 1e3, 1);
    printf("%-24s %14" PRIu64 " %14" PRIu64 "\n", "I/O errors", a->main.errors, b->main.errors);
    printf("%-24s %14s %14s\n", "run status", sc->ran ? (a->rc ? "FAILED" : "ok") : "not run",
           q->ran ? (b->rc ? "FAILED" : "ok") : "not run");
    sc_usage_print(d);
}

static json_t *compare_json(const struct bench_opts *o, const struct side *sc,
                            const struct side *q, const struct sc_usage *d)
{
    json_t *j = json_object();
    json_object_set_new(j, "backend", json_string(o->backend));
    json_object_set_new(j, "size", json_integer((json_int_t)o->size));
    if (sc->ran)
        json_object_set_new(j, "sidecored", run_json(o, &sc->res));
    if (q->ran)
        json_object_set_new(j, "qsd", run_json(o, &q->res));
    json_object_set_new(j, "ratio",
                        json_pack("{s:f,s:f}", "iops", ratio(run_iops(&sc->res),
                                                             run_iops(&q->res)),
                                  "mb_s", ratio(run_mbps(&sc->res), run_mbps(&q->res))));
    json_t *u = sc_usage_json(d);
    if (u)
        json_object_set_new(j, "sidecore", u);
    return j;
}

static void cleanup_files(const struct side *a, const struct side *b)
{
    const char *files[] = {a->img, b->img, a->d.log, b->d.log, a->sock, b->sock};
    for (unsigned i = 0; i < SC_ARRAY_SIZE(files); i++)
        if (files[i][0])
            unlink(files[i]);
}

/* Index of the round with the median IOPS (the lower middle for even n). */
static unsigned median_round(const struct side *r, unsigned n)
{
    unsigned order[16];
    for (unsigned i = 0; i < n; i++)
        order[i] = i;
    for (unsigned i = 1; i < n; i++)
        for (unsigned j = i; j > 0 && run_iops(&r[order[j - 1]].res) > run_iops(&r[order[j]].res);
             j--) {
            unsigned t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    return order[(n - 1) / 2];
}

static void print_rounds(const struct side *sc, const struct side *q, unsigned n)
{
    printf("%-24s", "IOPS per round (sc)");
    for (unsigned i = 0; i < n; i++)
        printf(" %.0f", sc[i].ran ? run_iops(&sc[i].res) : 0.0);
    printf("\n%-24s", "IOPS per round (qsd)");
    for (unsigned i = 0; i < n; i++)
        printf(" %.0f", q[i].ran ? run_iops(&q[i].res) : 0.0);
    printf("\n");
}

int bench_compare(struct bench_opts *o, const char *argv0)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int dcpu = ncpu > 1 ? 1 : 0;
    if (o->cpu < 0)
        o->cpu = 0;
    if (o->verify && !strcmp(o->backend, "null")) {
        fprintf(stderr, "sidecore-bench: null backends store nothing; --verify ignored\n");
        o->verify = false;
    }
    char dir[] = "/tmp/sc-bench-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("sidecore-bench: mkdtemp");
        return 2;
    }
    unsigned n = o->repeat ? o->repeat : 1;
    struct side *sc = calloc(n, sizeof(*sc)), *q = calloc(n, sizeof(*q));
    struct sc_usage *d = calloc(n, sizeof(*d));
    if (!sc || !q || !d) {
        fprintf(stderr, "sidecore-bench: out of memory for %u rounds\n", n);
        free(sc), free(q), free(d);
        rmdir(dir);
        return 2;
    }
    int rc = 0;
    /* Alternating rounds spread the machine's drift over both daemons. */
    for (unsigned i = 0; i < n; i++) {
        sc[i].d.name = "sidecored";
        q[i].d.name = "qemu-storage-daemon";
        if (!o->json)
            fprintf(stderr, "sidecore-bench: --- round %u/%u: sidecored ---\n", i + 1, n);
        int r1 = run_sidecored(o, dir, argv0, &sc[i], &d[i], dcpu);
        daemon_stop(&sc[i].d);
        if (!o->json)
            fprintf(stderr, "sidecore-bench: --- round %u/%u: qemu-storage-daemon ---\n", i + 1,
                    n);
        int r2 = run_qsd(o, dir, &q[i], dcpu);
        daemon_stop(&q[i].d);
        rc = SC_MAX(rc, SC_MAX(r1, r2));
        cleanup_files(&sc[i], &q[i]);
        if (rc == 2)
            break;
    }
    unsigned ms = median_round(sc, n), mq = median_round(q, n);
    if (o->json) {
        json_t *j = compare_json(o, &sc[ms], &q[mq], &d[ms]);
        json_t *rounds = json_array();
        for (unsigned i = 0; i < n; i++)
            json_array_append_new(rounds, json_pack("{s:f,s:f}", "sidecored",
                                                    run_iops(&sc[i].res), "qsd",
                                                    run_iops(&q[i].res)));
        json_object_set_new(j, "rounds", rounds);
        json_dumpf(j, stdout, JSON_INDENT(2));
        putchar('\n');
        json_decref(j);
    } else {
        print_table(o, &sc[ms], &q[mq], &d[ms], o->cpu, dcpu);
        if (n > 1)
            print_rounds(sc, q, n);
    }
    scratch_remove(dir);
    free(sc), free(q), free(d);
    return rc;
}
