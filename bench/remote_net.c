#include "remote_net.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"
#include "daemon.h"
#include "hugepages.h"
#include "remote_hop.h"
#include "remote_rr.h"
#include "rpc.h"
#include "testpmd.h"

#define START_MS 15000
#define JOIN_MS 10000
#define PMD_START_MS 60000
#define RPC_MS 5000
/* One testpmd at a time, -m 512, with room for EAL's own. */
#define NET_HUGEPAGES 300
#define NET_PORT "7401"
#define BLK_PORT "7402"
#define SW "sw0"
#define TAP "scbtap"
#define SINK "sink0"
#define TAP_IP "10.79.9.1"
#define VM_IP "10.79.9.2"
#define VM_MAC "02:00:00:00:00:02"
#define RR_PORT 7500
#define RR_PAYLOAD 64
#define UDP_FRAME (14 + 20 + 8)
#define RNET_HDR 32
#define STREAM_FRAME 64

static const char *const SEC_RR = "net RR (64 B UDP)";
static const char *const SEC_HOP = "veth hop (64 B frame)";
static const char *const SEC_ST = "net stream (64 B)";
static const char *const L_RR[] = {"round trip p50 (us)", "round trip p99 (us)",
                                   "lost rounds"};
static const char *const L_HOP[] = {"RTT p50 polling (us)", "RTT p50 blocking (us)"};
static const char *const L_ST[] = {"device tx Mpps (guest sent)",
                                   "sink port rx Mpps (switch counter)",
                                   "drops counted on the path (%)"};
static const char *const side_name[] = {"local", "remote"};

/* One side: the daemon whose switch holds the tap and the sink (local
 * sidecored, iohost) and the one serving the device (the same daemon
 * locally, the vmhost remotely). */
struct side {
    enum rt_side which;
    const char *ns;          /* the tap's namespace */
    int client_cpu;          /* the sidecore's that holds the switch */
    struct daemon d[2];      /* [0] the switch's, [1] the vmhost (remote only) */
    char rpc[2][PATH_MAX];
    char sock[PATH_MAX];
    char sink_mac[18];
    bool up;
};

static void progress(const struct rc_env *e, const char *what, enum rt_side s)
{
    if (!e->o->quiet)
        fprintf(stderr, "sidecore-bench: %s: net %s\n", side_name[s], what);
}

static const char *dev_rpc(const struct side *s)
{
    return s->rpc[s->which == RT_REMOTE];
}

/* sidecored with one sidecore on cpu in namespace ns, the blk daemons'
 * idle policy, and args; waits for its RPC socket (and sock). */
static int start_scd(const struct rc_env *e, struct daemon *d, char *rpc, const char *name,
                     const char *ns, int cpu, const char *const *args, const char *sock)
{
    char cpus[16], idle[16], rundir[PATH_MAX];
    const char *argv[40] = {"ip", "netns", "exec", ns, e->sidecored, "--no-default",
                            "--runtime-dir", rundir, "--rpc", rpc, "--sidecores", "1",
                            "--cpus", cpus};
    unsigned a = 14;
    d->name = name;
    snprintf(rpc, PATH_MAX, "%s/%s.rpc", e->dir, name);
    snprintf(d->log, sizeof(d->log), "%s/%s.log", e->dir, name);
    snprintf(rundir, sizeof(rundir), "%s/%s.run", e->dir, name);
    snprintf(cpus, sizeof(cpus), "%d", cpu);
    snprintf(idle, sizeof(idle), "%d", e->o->idle_us);
    if (e->o->idle_us >= 0) {
        argv[a++] = "--idle-us";
        argv[a++] = idle;
    }
    for (unsigned i = 0; args[i] && a < SC_ARRAY_SIZE(argv) - 1; i++)
        argv[a++] = args[i];
    argv[a] = NULL;
    const char *paths[] = {rpc, sock};
    if (daemon_start(d, (char *const *)argv, cpu) ||
        daemon_wait_sockets(d, paths, sock ? 2 : 1, START_MS))
        return -1;
    return 0;
}

#define CMD(...) rns_cmd((const char *const[]){__VA_ARGS__, NULL})

/* Taps created in ns from now on take no IPv6: its router solicitations and
 * DAD would be frames on the switch during the measurements. */
static int quiet_ipv6(const char *ns)
{
    return CMD("ip", "netns", "exec", ns, "sysctl", "-qw",
               "net.ipv6.conf.default.disable_ipv6=1");
}

static int wait_joined(const struct side *s)
{
    uint64_t deadline = sc_now_ns() + (uint64_t)JOIN_MS * 1000000ull;
    do {
        json_t *r = rpc_call(dev_rpc(s), "net_peers", NULL, RPC_MS);
        const char *st = json_string_value(
            json_object_get(json_array_get(json_object_get(r, "tunnels"), 0), "state"));
        bool ok = st && !strcmp(st, "connected");
        json_decref(r);
        if (ok)
            return 0;
        usleep(20000);
    } while (sc_now_ns() < deadline);
    fprintf(stderr, "sidecore-bench: the vmhost's net tunnel did not join the iohost's switch "
            "within %u ms\n", JOIN_MS);
    return -1;
}

static json_t *switch_stats(const struct side *s)
{
    json_t *p = json_pack("{s:s}", "name", SW);
    json_t *r = rpc_call(s->rpc[0], "switch_stats", p, RPC_MS);
    json_decref(p);
    return r;
}

static json_t *port_of(json_t *sw, const char *name)
{
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(sw, "ports"), i, p)
    {
        const char *n = json_string_value(json_object_get(p, "name"));
        if (n && !strcmp(n, name))
            return p;
    }
    return NULL;
}

static int find_sink_mac(struct side *s)
{
    json_t *sw = switch_stats(s);
    const char *mac = json_string_value(json_object_get(port_of(sw, SINK), "mac"));
    if (mac)
        snprintf(s->sink_mac, sizeof(s->sink_mac), "%s", mac);
    json_decref(sw);
    if (!mac)
        fprintf(stderr, "sidecore-bench: %s: no sink port on switch " SW "\n",
                side_name[s->which]);
    return mac ? 0 : -1;
}

/* The host side of the tap: an address, and the VM's MAC for VM_IP. */
static int address_tap(const struct side *s)
{
    if (CMD("ip", "-n", s->ns, "addr", "add", TAP_IP "/24", "dev", TAP) ||
        CMD("ip", "-n", s->ns, "neigh", "replace", VM_IP, "lladdr", VM_MAC, "dev", TAP, "nud",
            "permanent")) {
        fprintf(stderr, "sidecore-bench: %s: cannot address tap " TAP " in %s\n",
                side_name[s->which], s->ns);
        return -1;
    }
    return 0;
}

static int start_side(struct rc_env *e, struct side *s)
{
    const struct remote_opts *o = e->o;
    char dev[PATH_MAX + 160];
    const char *sw_args[] = {"--switch", "name=" SW ",aging=1000000",
                             "--port", "switch=" SW ",name=" TAP ",type=tap",
                             /* one frame, so the switch learns the sink's MAC */
                             "--port", "switch=" SW ",name=" SINK ",type=sink,source_size=60,"
                             "source_count=1",
                             NULL, NULL, NULL, NULL, NULL, NULL, NULL};
    unsigned a = 6;
    if (quiet_ipv6(s->ns))
        return -1;
    if (s->which == RT_LOCAL) {
        snprintf(s->sock, sizeof(s->sock), "%s/ln-n0.sock", e->dir);
        snprintf(dev, sizeof(dev), "name=n0,socket=%s,switch=" SW ",mac=" VM_MAC, s->sock);
        sw_args[a++] = "--net";
        sw_args[a++] = dev;
        if (start_scd(e, &s->d[0], s->rpc[0], "net-local", s->ns, o->local_cpu, sw_args,
                      s->sock))
            return -1;
    } else {
        /* The iohost role wants a vRIO (blk) address too; it serves nothing. */
        sw_args[a++] = "--listen";
        sw_args[a++] = "0.0.0.0:" BLK_PORT;
        sw_args[a++] = "--net-listen";
        sw_args[a++] = "0.0.0.0:" NET_PORT;
        if (start_scd(e, &s->d[0], s->rpc[0], "net-iohost", s->ns, o->iohost_cpu, sw_args,
                      NULL))
            return -1;
        snprintf(s->sock, sizeof(s->sock), "%s/rn-n0.sock", e->dir);
        snprintf(dev, sizeof(dev), "name=n0,socket=%s,mac=" VM_MAC ",server=%s:" NET_PORT
                 ",remote_switch=" SW, s->sock, e->ns.io_ip[0]);
        const char *vm_args[] = {"--net", dev, NULL};
        if (start_scd(e, &s->d[1], s->rpc[1], "net-vmhost", e->ns.vm[0], o->vmhost_cpu,
                      vm_args, s->sock) ||
            wait_joined(s))
            return -1;
    }
    if (address_tap(s) || find_sink_mac(s))
        return -1;
    s->up = true;
    return 0;
}

static void stop_side(struct side *s, bool show_logs)
{
    for (unsigned i = 0; i < 2; i++) {
        if (show_logs && s->d[i].pid > 0)
            daemon_show_log(&s->d[i]);
        daemon_stop(&s->d[i]);
    }
}

/* testpmd as the VM on the side's device, on the bench's CPU. */
static int start_vm(const struct rc_env *e, const struct side *s, struct testpmd *t,
                    const char *name, const char *mode, const char *const *extra,
                    const char *huge_dir)
{
    char vdev[PATH_MAX + 64];
    snprintf(vdev, sizeof(vdev), "net_virtio_user0,path=%s,queues=1", s->sock);
    struct pmd_cfg c = {.name = name, .cpu = e->o->bench_cpu, .mode = mode, .vdevs = {vdev},
                        .huge_dir = huge_dir};
    for (unsigned i = 0; extra && extra[i] && i < PMD_MAX_EXTRA; i++)
        c.extra[i] = extra[i];
    if (testpmd_start(t, &c, e->dir))
        return -1;
    return testpmd_wait_forwarding(t, PMD_START_MS);
}

static double us(uint64_t ns) { return (double)ns / 1e3; }

static int rr_side(struct rc_env *e, struct side *s, struct hugepages *h, struct rt_table *t)
{
    struct testpmd vm = {0};
    struct rr_result r;
    int rc = -1;
    progress(e, "request-response", s->which);
    if (start_vm(e, s, &vm, s->which == RT_LOCAL ? "rr-local" : "rr-remote", "5tswap", NULL,
                 h->dir) == 0) {
        struct rr_params p = {.ns = s->ns, .src_ip = TAP_IP, .dst_ip = VM_IP,
                              .port = RR_PORT, .payload = RR_PAYLOAD, .cpu = s->client_cpu,
                              .polling = false, .time_s = e->o->time_s, .stop = e->stop};
        rc = rr_run(&p, &r);
    }
    testpmd_stop(&vm);
    hugepages_clear(h);
    if (rc)
        return 1;
    rt_set(t, SEC_RR, L_RR[0], 1, s->which, us(hist_pct(&r.rtt, 0.5)));
    rt_set(t, SEC_RR, L_RR[1], 1, s->which, us(hist_pct(&r.rtt, 0.99)));
    rt_set(t, SEC_RR, L_RR[2], 0, s->which, (double)r.lost);
    return 0;
}

static int hop_rows(struct rc_env *e, struct rt_table *t)
{
    int rc = 0;
    for (unsigned m = 0; m < 2 && !*e->stop; m++) {
        /* Answered with one datagram as large as the tunnel's for the frame. */
        struct hop_params p = {.client_ns = e->ns.vm[0], .server_ns = RNS_IOHOST,
                               .server_ip = e->ns.io_ip[0], .mtu = e->o->mtu,
                               .reply_bytes = RNET_HDR + UDP_FRAME + RR_PAYLOAD - 64,
                               .client_cpu = e->o->vmhost_cpu,
                               .server_cpu = e->o->iohost_cpu, .polling = m == 0,
                               .time_s = e->o->time_s};
        struct hop_result r;
        progress(e, m == 0 ? "veth hop, polling" : "veth hop, blocking", RT_REMOTE);
        if (hop_run(&p, &r)) {
            rc = 1;
            continue;
        }
        rt_set(t, SEC_HOP, L_HOP[m], 1, RT_REMOTE, us(hist_pct(&r.rtt, 0.5)));
    }
    return rc;
}

/* Counters the stream is measured by, at one moment. */
struct snap {
    uint64_t ns, sent, got, drops;
};

static uint64_t u64(json_t *o, const char *k)
{
    return (uint64_t)json_integer_value(json_object_get(o, k));
}

static uint64_t sum_values(json_t *o)
{
    const char *k;
    json_t *v;
    uint64_t n = 0;
    json_object_foreach(o, k, v)
        n += (uint64_t)json_integer_value(v);
    return n;
}

static int take_snap(const struct side *s, struct snap *out)
{
    json_t *sw = switch_stats(s);
    json_t *p = json_pack("{s:s}", "name", "n0");
    json_t *dev = rpc_call(dev_rpc(s), "net_stats", p, RPC_MS);
    json_decref(p);
    json_t *peers = s->which == RT_REMOTE ? rpc_call(s->rpc[0], "net_peers", NULL, RPC_MS)
                                          : NULL;
    int rc = -1;
    json_t *sink = port_of(sw, SINK);
    if (sink && json_is_object(dev) && (s->which == RT_LOCAL || json_is_object(peers))) {
        out->ns = sc_now_ns();
        out->got = u64(sink, "rx_packets");
        out->sent = u64(json_object_get(dev, "port"), "tx_packets");
        out->drops = 0;
        size_t i;
        json_t *q;
        json_array_foreach(json_object_get(sw, "ports"), i, q)
            out->drops += u64(q, "drops_total");
        if (s->which == RT_REMOTE) {
            /* The device is not a port of that switch; the path has two ends. */
            out->drops += u64(json_object_get(dev, "port"), "drops_total");
            out->drops += sum_values(
                json_object_get(json_object_get(json_object_get(dev, "tunnel"), "path"),
                                "drops"));
            json_array_foreach(json_object_get(json_object_get(peers, "listener"), "peers"),
                               i, q)
                out->drops += sum_values(json_object_get(json_object_get(q, "path"), "drops"));
        }
        rc = 0;
    }
    json_decref(sw);
    json_decref(dev);
    json_decref(peers);
    if (rc)
        fprintf(stderr, "sidecore-bench: %s: net counters unreadable\n", side_name[s->which]);
    return rc;
}

/* Sleeps ns, or less when stopped or the VM died; false then. */
static bool hold(const struct rc_env *e, struct testpmd *vm, uint64_t ns)
{
    uint64_t end = sc_now_ns() + ns;
    while (sc_now_ns() < end) {
        int st;
        if (*e->stop)
            return false;
        if (waitpid(vm->d.pid, &st, WNOHANG) == vm->d.pid) {
            vm->d.pid = 0;
            fprintf(stderr, "sidecore-bench: testpmd %s exited during the stream\n",
                    vm->d.name);
            daemon_show_log(&vm->d);
            return false;
        }
        usleep(20000);
    }
    return true;
}

static int stream_side(struct rc_env *e, struct side *s, struct hugepages *h,
                       struct rt_table *t)
{
    char txpkts[32], peer[48];
    snprintf(txpkts, sizeof(txpkts), "--txpkts=%u", STREAM_FRAME);
    snprintf(peer, sizeof(peer), "--eth-peer=0,%s", s->sink_mac);
    const char *extra[] = {txpkts, peer, NULL};
    struct testpmd vm = {0};
    struct snap a, b;
    double win = e->o->time_s, warm = SC_MIN(1.0, win);
    int rc = -1;
    progress(e, "stream", s->which);
    if (start_vm(e, s, &vm, s->which == RT_LOCAL ? "st-local" : "st-remote", "txonly", extra,
                 h->dir) == 0 &&
        hold(e, &vm, (uint64_t)(warm * 1e9)) && take_snap(s, &a) == 0 &&
        hold(e, &vm, (uint64_t)(win * 1e9)) && take_snap(s, &b) == 0)
        rc = 0;
    testpmd_stop(&vm);
    hugepages_clear(h);
    if (rc)
        return 1;
    double sec = (double)(b.ns - a.ns) / 1e9;
    uint64_t sent = b.sent - a.sent;
    if (sent == 0 || b.got == a.got) {
        fprintf(stderr, "sidecore-bench: %s: net stream: the device sent %llu frames, the "
                "sink got %llu\n", side_name[s->which], (unsigned long long)sent,
                (unsigned long long)(b.got - a.got));
        return 1;
    }
    rt_set(t, SEC_ST, L_ST[0], 3, s->which, (double)sent / sec / 1e6);
    rt_set(t, SEC_ST, L_ST[1], 3, s->which, (double)(b.got - a.got) / sec / 1e6);
    rt_set(t, SEC_ST, L_ST[2], 3, s->which, 100.0 * (double)(b.drops - a.drops) / (double)sent);
    return 0;
}

int rc_net_rows(struct rc_env *e, struct rt_table *t)
{
    const struct remote_opts *o = e->o;
    for (unsigned i = 0; i < SC_ARRAY_SIZE(L_RR); i++)
        rt_row(t, SEC_RR, L_RR[i], i == 2 ? 0 : 1, false);
    for (unsigned i = 0; i < SC_ARRAY_SIZE(L_HOP); i++)
        rt_row(t, SEC_HOP, L_HOP[i], 1, true);
    for (unsigned i = 0; i < SC_ARRAY_SIZE(L_ST); i++)
        rt_row(t, SEC_ST, L_ST[i], 3, false);
    static struct side sides[2];
    memset(sides, 0, sizeof(sides));
    sides[RT_LOCAL] = (struct side){.which = RT_LOCAL, .ns = RNS_LOCAL,
                                    .client_cpu = o->local_cpu};
    sides[RT_REMOTE] = (struct side){.which = RT_REMOTE, .ns = RNS_IOHOST,
                                     .client_cpu = o->iohost_cpu};
    struct hugepages h;
    if (hugepages_setup(&h, e->dir, NET_HUGEPAGES))
        return 1;
    int rc = 0;
    for (unsigned i = 0; i < 2 && !*e->stop; i++) {
        progress(e, "daemons", (enum rt_side)i);
        if (start_side(e, &sides[i])) {
            stop_side(&sides[i], true);
            rc = 1;
        }
    }
    for (unsigned i = 0; i < 2 && !*e->stop; i++)
        if (sides[i].up && rr_side(e, &sides[i], &h, t))
            rc = 1;
    if (!*e->stop && hop_rows(e, t))
        rc = 1;
    for (unsigned i = 0; i < 2 && !*e->stop; i++)
        if (sides[i].up && stream_side(e, &sides[i], &h, t))
            rc = 1;
    for (unsigned i = 0; i < 2; i++)
        stop_side(&sides[i], rc != 0 && sides[i].up);
    hugepages_restore(&h);
    return rc || *e->stop;
}

static const struct rt_row *find(const struct rt_table *t, const char *sec, const char *label)
{
    for (unsigned i = 0; i < t->n; i++)
        if (!strcmp(t->rows[i].section, sec) && !strcmp(t->rows[i].label, label))
            return &t->rows[i];
    return NULL;
}

void rc_net_print_note(const struct rc_env *e, const struct rt_table *t)
{
    const struct remote_opts *o = e->o;
    const struct rt_row *rr = find(t, SEC_RR, L_RR[0]);
    if (!rr)
        return;
    printf("note: net: the VM is testpmd (virtio-user) on CPU %d; RR: a UDP socket (blocking) "
           "behind the switch's tap (CPU %d local, %d remote), testpmd 5tswap answers; stream: testpmd "
           "txonly %u B, the device counts what the guest sent, the sink port on the same "
           "switch (local sidecored's / iohost's) what arrived\n", o->bench_cpu, o->local_cpu,
           o->iohost_cpu, STREAM_FRAME);
    if (!rr->have[RT_LOCAL] || !rr->have[RT_REMOTE])
        return;
    printf("note: net RR p50: remote adds %.1f us", rr->v[RT_REMOTE] - rr->v[RT_LOCAL]);
    const struct rt_row *hp = find(t, SEC_HOP, L_HOP[0]), *hb = find(t, SEC_HOP, L_HOP[1]);
    if (hp && hp->have[RT_REMOTE])
        printf("; the bare hop for such a frame costs %.1f us polling", hp->v[RT_REMOTE]);
    if (hb && hb->have[RT_REMOTE])
        printf(", %.1f us with wake-ups", hb->v[RT_REMOTE]);
    printf("\n");
}
