#include "remote_rows.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "remote_hop.h"
#include "run.h"
#include "scstats.h"

static const char *const side_name[] = {"local", "remote"};

static void progress(const struct rc_env *e, const char *fmt, const char *a, const char *b)
{
    if (e->o->quiet)
        return;
    fprintf(stderr, "sidecore-bench: ");
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
}

static void sock_of(const struct rc_env *e, enum rt_side side, const char *dev, char *out,
                    size_t len)
{
    snprintf(out, len, "%s/%c-%s.sock", e->dir, side == RT_LOCAL ? 'l' : 'r', dev);
}

static struct bench_opts run_opts(const struct rc_env *e, enum workload wl, unsigned qd)
{
    return (struct bench_opts){.wl = wl, .bs = 4096, .qd = qd, .queues = 1,
                               .time_s = e->o->time_s, .cpu = e->o->bench_cpu,
                               .event = e->o->event, .quiet = true, .timeout_s = 30};
}

/* The sidecores that serve one side: the local daemon, or vmhost + iohost. */
static unsigned side_rpcs(const struct rc_daemons *ds, enum rt_side side, unsigned vm,
                          const char **out)
{
    if (side == RT_LOCAL) {
        out[0] = ds->d[vm ? RC_LOCAL_B : RC_LOCAL].rpc;
        return 1;
    }
    out[0] = ds->d[vm ? RC_VMHOST_B : RC_VMHOST].rpc;
    out[1] = ds->d[RC_IOHOST].rpc;
    return 2;
}

struct measured {
    struct run_result r;
    uint64_t busy_ns, requests; /* the side's sidecores, summed */
    bool usage_ok;
};

/* One bench run on one side, with the side's sidecore busy time around it. */
static int measure(const struct rc_env *e, const struct rc_daemons *ds, enum rt_side side,
                   const char *dev, enum workload wl, unsigned qd, struct measured *m)
{
    char sock[PATH_MAX];
    const char *rpcs[2];
    unsigned nr = side_rpcs(ds, side, 0, rpcs);
    struct sc_usage before[2], after[2];
    struct bench_opts o = run_opts(e, wl, qd);
    sock_of(e, side, dev, sock, sizeof(sock));
    for (unsigned i = 0; i < nr; i++)
        sc_usage_sample(rpcs[i], &before[i]);
    bench_run(&o, sock, &m->r);
    m->usage_ok = true;
    m->busy_ns = m->requests = 0;
    for (unsigned i = 0; i < nr; i++) {
        sc_usage_sample(rpcs[i], &after[i]);
        struct sc_usage d = sc_usage_delta(&before[i], &after[i]);
        m->usage_ok = m->usage_ok && d.ok;
        m->busy_ns += d.busy_ns;
        /* Both ends count each request; the device's end is the one to divide by. */
        if (i == 0)
            m->requests = d.requests;
    }
    if (m->r.rc) {
        fprintf(stderr, "sidecore-bench: %s %s %s QD%u run failed (exit %d)\n", side_name[side],
                dev, workload_name(wl), qd, m->r.rc);
        return 1;
    }
    return 0;
}

static double us(uint64_t ns) { return (double)ns / 1e3; }

/* Reads bring 4 KiB back in the answer, writes carry it in the request:
 * each way of the hop carries the data once. */
int rc_blk_rows(struct rc_env *e, struct rc_daemons *ds, struct rt_table *t)
{
    const struct remote_opts *o = e->o;
    int rc = 0;
    for (unsigned i = 0; i < ds->ndev && !*e->stop; i++) {
        const struct rc_dev *d = &ds->devs[i];
        if (strncmp(d->name, "d-", 2))
            continue;
        char sec[32], hi_iops[48], hi_p50[48], busy[48], w_iops[48];
        snprintf(sec, sizeof(sec), "blk %s", d->backend);
        snprintf(hi_iops, sizeof(hi_iops), "4K randread QD%u IOPS", o->qd_hi);
        snprintf(hi_p50, sizeof(hi_p50), "4K randread QD%u p50 (us)", o->qd_hi);
        snprintf(busy, sizeof(busy), "sidecore busy us/request QD%u", o->qd_hi);
        snprintf(w_iops, sizeof(w_iops), "4K randwrite QD%u IOPS", o->qd_hi);
        const char *labels[] = {"4K randread QD1 p50 (us)", "4K randread QD1 p99 (us)",
                                hi_iops, hi_p50, busy, "4K randwrite QD1 p50 (us)", w_iops};
        for (unsigned l = 0; l < SC_ARRAY_SIZE(labels); l++)
            rt_row(t, sec, labels[l], l == 2 || l == 6 ? 0 : 1, false);
        for (int side = RT_LOCAL; side <= RT_REMOTE && !*e->stop; side++) {
            struct measured m;
            progress(e, "%s: blk QD1 on %s", side_name[side], d->name);
            if (measure(e, ds, side, d->name, WL_RANDREAD, 1, &m) == 0) {
                rt_set(t, sec, labels[0], 1, side, us(hist_pct(&m.r.main.lat, 0.5)));
                rt_set(t, sec, labels[1], 1, side, us(hist_pct(&m.r.main.lat, 0.99)));
            } else {
                rc = 1;
            }
        }
        for (int side = RT_LOCAL; side <= RT_REMOTE && !*e->stop; side++) {
            struct measured m;
            progress(e, "%s: blk loaded on %s", side_name[side], d->name);
            if (measure(e, ds, side, d->name, WL_RANDREAD, o->qd_hi, &m) == 0) {
                rt_set(t, sec, labels[2], 0, side, run_iops(&m.r));
                rt_set(t, sec, labels[3], 1, side, us(hist_pct(&m.r.main.lat, 0.5)));
                if (m.usage_ok && m.requests)
                    rt_set(t, sec, labels[4], 2, side, us(m.busy_ns) / (double)m.requests);
            } else {
                rc = 1;
            }
        }
        for (int side = RT_LOCAL; side <= RT_REMOTE && !*e->stop; side++) {
            struct measured m;
            progress(e, "%s: blk writes on %s", side_name[side], d->name);
            if (measure(e, ds, side, d->name, WL_RANDWRITE, 1, &m) == 0)
                rt_set(t, sec, labels[5], 1, side, us(hist_pct(&m.r.main.lat, 0.5)));
            else
                rc = 1;
            if (*e->stop)
                break;
            if (measure(e, ds, side, d->name, WL_RANDWRITE, o->qd_hi, &m) == 0)
                rt_set(t, sec, labels[6], 0, side, run_iops(&m.r));
            else
                rc = 1;
        }
    }
    return rc;
}

int rc_hop_rows(struct rc_env *e, struct rt_table *t)
{
    static const char *const sec = "veth hop (4K read)";
    static const char *const labels[2][2] = {
        {"RTT p50 polling (us)", "RTT p99 polling (us)"},
        {"RTT p50 blocking (us)", "RTT p99 blocking (us)"}};
    int rc = 0;
    for (unsigned m = 0; m < 2; m++)
        for (unsigned l = 0; l < 2; l++)
            rt_row(t, sec, labels[m][l], 1, true);
    for (unsigned m = 0; m < 2 && !*e->stop; m++) {
        struct hop_params p = {.client_ns = e->ns.vm[0], .server_ns = RNS_IOHOST,
                               .server_ip = e->ns.io_ip[0], .mtu = e->o->mtu,
                               .reply_bytes = 4096, .client_cpu = e->o->vmhost_cpu,
                               .server_cpu = e->o->iohost_cpu, .polling = m == 0,
                               .time_s = e->o->time_s};
        struct hop_result r;
        progress(e, "veth hop, %s%s", m == 0 ? "polling" : "blocking", "");
        if (hop_run(&p, &r)) {
            rc = 1;
            continue;
        }
        rt_set(t, sec, labels[m][0], 1, RT_REMOTE, us(hist_pct(&r.rtt, 0.5)));
        rt_set(t, sec, labels[m][1], 1, RT_REMOTE, us(hist_pct(&r.rtt, 0.99)));
    }
    return rc;
}

struct vm_run {
    struct bench_opts o;
    char sock[PATH_MAX];
    struct run_result r;
    pthread_t t;
};

static void *vm_thread(void *arg)
{
    struct vm_run *v = arg;
    bench_run(&v->o, v->sock, &v->r);
    return NULL;
}

/* Both VMs at once on one side: A loaded, B at QD1. */
static int consol_side(struct rc_env *e, enum rt_side side, struct vm_run *vm)
{
    static const char *const devs[] = {"c-a", "c-b"};
    const unsigned qd[] = {e->o->qd_hi, 1};
    unsigned started = 0;
    for (unsigned i = 0; i < 2; i++) {
        vm[i].o = run_opts(e, WL_RANDREAD, qd[i]);
        sock_of(e, side, devs[i], vm[i].sock, sizeof(vm[i].sock));
        if (pthread_create(&vm[i].t, NULL, vm_thread, &vm[i]) == 0)
            started++;
        else
            vm[i].r.rc = 2;
    }
    for (unsigned i = 0; i < started; i++)
        pthread_join(vm[i].t, NULL);
    int rc = 0;
    for (unsigned i = 0; i < 2; i++) {
        if (vm[i].r.rc) {
            fprintf(stderr, "sidecore-bench: consolidation, %s VM %c run failed (exit %d)\n",
                    side_name[side], 'A' + i, vm[i].r.rc);
            rc = 1;
        }
    }
    return rc;
}

int rc_consol_rows(struct rc_env *e, struct rc_daemons *ds, struct rt_table *t)
{
    const struct remote_opts *o = e->o;
    const char *be = ds->devs[ds->ndev - 1].backend;
    char sec[32], l[5][48];
    snprintf(sec, sizeof(sec), "consolidation (%s)", be);
    snprintf(l[0], sizeof(l[0]), "VM A QD%u IOPS", o->qd_hi);
    snprintf(l[1], sizeof(l[1]), "VM A QD%u p50 (us)", o->qd_hi);
    snprintf(l[2], sizeof(l[2]), "VM B QD1 IOPS");
    snprintf(l[3], sizeof(l[3]), "VM B QD1 p50 (us)");
    snprintf(l[4], sizeof(l[4]), "VM B QD1 p99 (us)");
    for (unsigned i = 0; i < 5; i++)
        rt_row(t, sec, l[i], i == 0 || i == 2 ? 0 : 1, false);
    int rc = 0;
    for (int side = RT_LOCAL; side <= RT_REMOTE && !*e->stop; side++) {
        static struct vm_run vm[2];
        memset(vm, 0, sizeof(vm));
        progress(e, "%s: consolidation, two VMs at once%s", side_name[side], "");
        if (consol_side(e, side, vm)) {
            rc = 1;
            continue;
        }
        rt_set(t, sec, l[0], 0, side, run_iops(&vm[0].r));
        rt_set(t, sec, l[1], 1, side, us(hist_pct(&vm[0].r.main.lat, 0.5)));
        rt_set(t, sec, l[2], 0, side, run_iops(&vm[1].r));
        rt_set(t, sec, l[3], 1, side, us(hist_pct(&vm[1].r.main.lat, 0.5)));
        rt_set(t, sec, l[4], 1, side, us(hist_pct(&vm[1].r.main.lat, 0.99)));
    }
    return rc;
}

static const struct rt_row *find(const struct rt_table *t, const char *sec, const char *label)
{
    for (unsigned i = 0; i < t->n; i++)
        if (!strcmp(t->rows[i].section, sec) && !strcmp(t->rows[i].label, label))
            return &t->rows[i];
    return NULL;
}

void rc_print_note(const struct rt_table *t)
{
    const struct rt_row *hop[2] = {find(t, "veth hop (4K read)", "RTT p50 polling (us)"),
                                   find(t, "veth hop (4K read)", "RTT p50 blocking (us)")};
    static const char *const be[] = {"null", "file"};
    for (unsigned b = 0; b < 2; b++) {
        char sec[32];
        snprintf(sec, sizeof(sec), "blk %s", be[b]);
        const struct rt_row *r = find(t, sec, "4K randread QD1 p50 (us)");
        if (!r || !r->have[RT_LOCAL] || !r->have[RT_REMOTE])
            continue;
        printf("note: blk %s QD1 p50: remote adds %.1f us", be[b],
               r->v[RT_REMOTE] - r->v[RT_LOCAL]);
        if (hop[0] && hop[0]->have[RT_REMOTE])
            printf("; the bare hop costs %.1f us polling", hop[0]->v[RT_REMOTE]);
        if (hop[1] && hop[1]->have[RT_REMOTE])
            printf(", %.1f us with wake-ups", hop[1]->v[RT_REMOTE]);
        printf("\n");
    }
}
