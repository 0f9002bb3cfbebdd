#include "net_side.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"
#include "daemon.h"
#include "rpc.h"
#include "testpmd.h"

#define NC_START_MS 30000
/* The g2g receiver's address, given to its virtio-user port and to the
 * sender as its peer, the same on both backends. */
#define NC_RX_MAC "02:00:00:00:00:02"

const char *nc_dir_name(enum nc_dir d)
{
    static const char *const n[] = {"tx", "rx", "g2g"};
    return n[d];
}

const char *nc_backend_name(enum nc_backend b) { return b == NC_SIDECORED ? "sidecored" : "dpdk"; }

struct run {
    const struct nc_case *c;
    const struct nc_env *e;
    struct daemon scd;      /* sidecored, when it is the backend */
    struct testpmd vhost;   /* testpmd with the vhost PMD, when it is */
    struct testpmd ctx, crx; /* clients: sender, receiver */
    char sock[2][PATH_MAX], rpc[PATH_MAX];
    char vdev_tx[PATH_MAX + 96], vdev_rx[PATH_MAX + 96], txpkts[32];
};

/* Sockets the clients connect to: one, two for g2g. */
static unsigned nsocks(const struct run *x) { return x->c->dir == NC_G2G ? 2 : 1; }

static int start_sidecored(struct run *x)
{
    const struct nc_case *c = x->c;
    char cpus[16], net[2][PATH_MAX + 96];
    snprintf(cpus, sizeof(cpus), "%d", x->e->backend_cpu);
    snprintf(x->rpc, sizeof(x->rpc), "%s/rpc.sock", x->e->dir);
    snprintf(x->scd.log, sizeof(x->scd.log), "%s/sidecored.log", x->e->dir);
    x->scd.name = "sidecored";
    const char *argv[24] = {x->e->sidecored, "--no-default", "--runtime-dir", x->e->dir,
                            "--rpc", x->rpc, "--sidecores", "1", "--cpus", cpus,
                            "--mode", "poll"};
    unsigned a = 12;
    for (unsigned i = 0; i < nsocks(x); i++) {
        snprintf(x->sock[i], sizeof(x->sock[i]), "%s/n%u.sock", x->e->dir, i);
        if (c->dir == NC_G2G)
            snprintf(net[i], sizeof(net[i]), "name=n%u,socket=%s,switch=sw0", i, x->sock[i]);
        else if (c->dir == NC_RX)
            snprintf(net[i], sizeof(net[i]), "name=n%u,socket=%s,backend=sink,source_size=%u",
                     i, x->sock[i], c->size);
        else
            snprintf(net[i], sizeof(net[i]), "name=n%u,socket=%s,backend=sink", i, x->sock[i]);
    }
    if (c->dir == NC_G2G) {
        argv[a++] = "--switch";
        argv[a++] = "name=sw0";
    }
    for (unsigned i = 0; i < nsocks(x); i++) {
        argv[a++] = "--net";
        argv[a++] = net[i];
    }
    argv[a] = NULL;
    const char *paths[] = {x->rpc, x->sock[0], x->sock[1]};
    if (daemon_start(&x->scd, (char *const *)argv, x->e->backend_cpu))
        return -1;
    return daemon_wait_sockets(&x->scd, paths, 1 + nsocks(x), NC_START_MS);
}

static int start_vhost(struct run *x)
{
    char vdev[2][PATH_MAX + 64];
    struct pmd_cfg cfg = {.name = "vhost-testpmd", .cpu = x->e->backend_cpu,
                          .huge_dir = x->e->huge_dir};
    for (unsigned i = 0; i < nsocks(x); i++) {
        snprintf(x->sock[i], sizeof(x->sock[i]), "%s/vh%u.sock", x->e->dir, i);
        snprintf(vdev[i], sizeof(vdev[i]), "net_vhost%u,iface=%s,queues=1", i, x->sock[i]);
        cfg.vdevs[i] = vdev[i];
    }
    switch (x->c->dir) {
    case NC_TX: cfg.mode = "rxonly"; break;
    case NC_RX:
        cfg.mode = "txonly";
        cfg.extra[0] = x->txpkts;
        break;
    case NC_G2G: cfg.mode = "io"; break;
    }
    const char *paths[] = {x->sock[0], x->sock[1]};
    if (testpmd_start(&x->vhost, &cfg, x->e->dir) ||
        daemon_wait_sockets(&x->vhost.d, paths, nsocks(x), NC_START_MS))
        return -1;
    return testpmd_wait_forwarding(&x->vhost, NC_START_MS);
}

static int start_client(struct run *x, struct testpmd *t, const char *name, const char *mode,
                        const char *vdev, const char *const *extra)
{
    struct pmd_cfg cfg = {.name = name, .cpu = x->e->client_cpu, .mode = mode,
                          .vdevs = {vdev}, .huge_dir = x->e->huge_dir};
    for (unsigned i = 0; extra[i]; i++)
        cfg.extra[i] = extra[i];
    if (testpmd_start(t, &cfg, x->e->dir))
        return -1;
    return testpmd_wait_forwarding(t, NC_START_MS);
}

static int start_clients(struct run *x)
{
    const struct nc_case *c = x->c;
    unsigned tx_sock = 0, rx_sock = c->dir == NC_G2G ? 1 : 0;
    snprintf(x->vdev_tx, sizeof(x->vdev_tx),
             "net_virtio_user0,path=%s,queues=1,queue_size=%u,packed_vq=%d", x->sock[tx_sock],
             x->e->queue_size, c->packed);
    snprintf(x->vdev_rx, sizeof(x->vdev_rx),
             "net_virtio_user0,path=%s,queues=1,queue_size=%u,packed_vq=%d,mac=" NC_RX_MAC,
             x->sock[rx_sock], x->e->queue_size, c->packed);
    if (c->dir != NC_TX) {
        const char *none[] = {NULL};
        if (start_client(x, &x->crx, "client-rx", "rxonly", x->vdev_rx, none))
            return -1;
    }
    if (c->dir != NC_RX) {
        const char *plain[] = {x->txpkts, NULL};
        const char *g2g[] = {x->txpkts, "--eth-peer=0," NC_RX_MAC, NULL};
        if (start_client(x, &x->ctx, "client-tx", "txonly", x->vdev_tx,
                         c->dir == NC_G2G ? g2g : plain))
            return -1;
    }
    return 0;
}

/* A process that died while it should run: reaped, reported. */
static bool died(struct daemon *d)
{
    int st;
    if (d->pid <= 0 || waitpid(d->pid, &st, WNOHANG) != d->pid)
        return false;
    d->pid = 0;
    fprintf(stderr, "sidecore-bench: %s exited during the measurement\n", d->name);
    daemon_show_log(d);
    return true;
}

struct sc_snap {
    uint64_t busy_ns, wall_ns, packets, features;
};

static json_t *net_stats(const struct run *x, const char *dev)
{
    json_t *p = json_pack("{s:s}", "name", dev);
    json_t *r = rpc_call(x->rpc, "net_stats", p, 5000);
    json_decref(p);
    return r;
}

/* The sidecore's busy time, the packets the measured device moved (n1 for
 * g2g, the receiver's; else n0) and what the first client negotiated. */
static int snap(const struct run *x, struct sc_snap *s)
{
    json_t *sc = rpc_call(x->rpc, "sidecore_stats", NULL, 5000);
    json_t *n0 = net_stats(x, "n0");
    json_t *ns = x->c->dir == NC_G2G ? net_stats(x, "n1") : json_incref(n0);
    int rc = -1;
    if (json_is_array(sc) && json_is_object(ns) && json_is_object(n0)) {
        size_t i;
        json_t *e;
        s->busy_ns = 0;
        json_array_foreach(sc, i, e)
            s->busy_ns += (uint64_t)json_integer_value(json_object_get(e, "busy_ns"));
        s->wall_ns = sc_now_ns();
        s->packets = (uint64_t)json_integer_value(json_object_get(
            json_object_get(ns, "port"), x->c->dir == NC_TX ? "tx_packets" : "rx_packets"));
        const char *f = json_string_value(json_object_get(n0, "features"));
        s->features = f ? strtoull(f, NULL, 16) : 0;
        rc = 0;
    }
    json_decref(sc);
    json_decref(ns);
    json_decref(n0);
    return rc;
}

/* Blocks are read as testpmd prints them, and timed here: its stats loop
 * is paced by the TSC, which a VM may calibrate badly enough that the
 * blocks come every second or every other one. */
static int measure(struct run *x, struct nc_result *r)
{
    const struct nc_env *e = x->e;
    bool rx = x->c->dir != NC_TX;
    struct testpmd *m = rx ? &x->crx : &x->ctx;
    uint64_t warm_ns = e->warmup_s * 1000000000ull, win_ns = e->time_s * 1000000000ull;
    uint64_t start = sc_now_ns(), t_open = 0, t_close = 0;
    uint64_t deadline = start + 3 * (warm_ns + win_ns) + 30000000000ull;
    unsigned seen = testpmd_blocks(m, 0), b_open = 0, b_close = 0;
    struct sc_snap s0 = {0}, s1 = {0};
    bool got0 = false, got1 = false, is_sc = x->scd.pid > 0;
    /* The window opens at the first block after the warm-up and closes at
     * the first block after the window's time: both ends are testpmd's own
     * cumulative counters. The sidecore's counters are read at both ends. */
    for (;;) {
        unsigned n = testpmd_blocks(m, 0);
        uint64_t now = sc_now_ns();
        if (n > seen) {
            seen = n;
            if (!t_open && now - start >= warm_ns) {
                t_open = now;
                b_open = n - 1;
                got0 = is_sc && snap(x, &s0) == 0;
            } else if (t_open && now - t_open >= win_ns) {
                t_close = now;
                b_close = n - 1;
                got1 = is_sc && snap(x, &s1) == 0;
                break;
            }
        }
        if (died(&x->scd) || died(&x->vhost.d) || died(&x->ctx.d) || died(&x->crx.d))
            return -1;
        if (*e->stop)
            return -1;
        if (now > deadline) {
            fprintf(stderr, "sidecore-bench: %s printed too few statistics blocks (%u) in time\n",
                    m->d.name, n);
            daemon_show_log(&m->d);
            return -1;
        }
        usleep(10000);
    }
    struct pmd_sample *s = calloc(b_close + 1, sizeof(*s));
    if (!s || testpmd_samples(m->d.log, 0, s, b_close + 1) < b_close + 1) {
        free(s);
        return -1;
    }
    const struct pmd_sample *a = &s[b_open], *b = &s[b_close];
    r->packets = rx ? b->rx - a->rx : b->tx - a->tx;
    r->seconds = (double)(t_close - t_open) / 1e9;
    r->mpps = (double)r->packets / r->seconds / 1e6;
    r->nsamples = SC_MIN(b_close - b_open, NC_MAX_SAMPLES);
    for (unsigned i = 0; i < r->nsamples; i++)
        r->pps[i] = rx ? s[b_open + 1 + i].rx_pps : s[b_open + 1 + i].tx_pps;
    free(s);
    if (got0 && got1 && s1.wall_ns > s0.wall_ns) {
        r->have_sc = true;
        r->features = s1.features;
        r->busy_pct = 100.0 * (double)(s1.busy_ns - s0.busy_ns) / (double)(s1.wall_ns - s0.wall_ns);
        uint64_t pk = s1.packets - s0.packets;
        r->busy_ns_per_pkt = pk ? (double)(s1.busy_ns - s0.busy_ns) / (double)pk : 0;
    }
    return 0;
}

static void remove_files(const struct run *x)
{
    const char *f[] = {x->scd.log, x->vhost.d.log, x->ctx.d.log, x->crx.d.log,
                       x->sock[0], x->sock[1], x->rpc};
    for (unsigned i = 0; i < SC_ARRAY_SIZE(f); i++)
        if (f[i][0])
            unlink(f[i]);
}

int nc_run(enum nc_backend b, const struct nc_case *c, const struct nc_env *e,
           struct nc_result *r)
{
    memset(r, 0, sizeof(*r));
    struct run *x = calloc(1, sizeof(*x));
    if (!x)
        return -1;
    x->c = c;
    x->e = e;
    snprintf(x->txpkts, sizeof(x->txpkts), "--txpkts=%u", c->size);
    int rc = -1;
    if (b == NC_SIDECORED ? start_sidecored(x) : start_vhost(x))
        goto out;
    if (start_clients(x))
        goto out;
    r->ran = true;
    rc = measure(x, r);
    r->ok = rc == 0;
    if (rc && x->scd.pid > 0)
        daemon_show_log(&x->scd);
out:
    /* The sender first, so the receiver and the backend see no more load. */
    testpmd_stop(&x->ctx);
    testpmd_stop(&x->crx);
    testpmd_stop(&x->vhost);
    daemon_stop(&x->scd);
    remove_files(x);
    free(x);
    return rc;
}
