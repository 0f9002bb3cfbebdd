#include "remote_compare.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "daemon.h"
#include "remote_net.h"
#include "remote_rows.h"

#define START_TIMEOUT_MS 15000
#define RIO_PORT "7400"

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static uint64_t dev_size(const struct remote_opts *o, const char *backend)
{
    if (o->size)
        return o->size;
    return strcmp(backend, "null") ? 256ull << 20 : 1ull << 30;
}

/* "name=N,socket=S,backend=..." for the local daemon, or the export (iohost)
 * or the remote device (vmhost i) serving the same thing. */
static void local_dev(const struct rc_env *e, const char *name, const char *backend, char *out,
                      size_t len)
{
    uint64_t size = dev_size(e->o, backend);
    if (!strcmp(backend, "file"))
        snprintf(out, len, "name=%s,socket=%s/l-%s.sock,backend=file,path=%s/l-%s.img,"
                 "size=%" PRIu64, name, e->dir, name, e->dir, name, size);
    else
        snprintf(out, len, "name=%s,socket=%s/l-%s.sock,backend=null,size=%" PRIu64, name,
                 e->dir, name, size);
}

static void export_dev(const struct rc_env *e, const char *name, const char *backend, char *out,
                       size_t len)
{
    uint64_t size = dev_size(e->o, backend);
    if (!strcmp(backend, "file"))
        snprintf(out, len, "name=%s,backend=file,path=%s/r-%s.img,size=%" PRIu64, name,
                 e->dir, name, size);
    else
        snprintf(out, len, "name=%s,backend=null,size=%" PRIu64, name, size);
}

static void remote_dev(const struct rc_env *e, unsigned vm, const char *name, char *out,
                       size_t len)
{
    snprintf(out, len, "name=%s,socket=%s/r-%s.sock,backend=remote,server=%s:" RIO_PORT
             ",export=%s,mtu=%u", name, e->dir, name, e->ns.io_ip[vm], name, e->o->mtu);
}

/* The images a file backend needs, created sparse up front. */
static int make_images(const struct rc_env *e, const struct rc_dev *devs, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        if (strcmp(devs[i].backend, "file"))
            continue;
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s/l-%s.img", e->dir, devs[i].name);
        if (make_image(p, dev_size(e->o, "file")))
            return -1;
        snprintf(p, sizeof(p), "%s/r-%s.img", e->dir, devs[i].name);
        if (make_image(p, dev_size(e->o, "file")))
            return -1;
    }
    return 0;
}

/* Starts sidecored (in namespace ns unless NULL) with one sidecore on cpu,
 * the given --blk / --export arguments, and waits for its RPC socket and
 * vhost-user sockets. */
static int start(struct rc_env *e, struct rc_daemon *d, const char *ns, int cpu,
                 char **devargs, unsigned ndev, const char *listen)
{
    char cpus[16], idle[16], rundir[PATH_MAX];
    const char *argv[48];
    unsigned a = 0;
    snprintf(d->rpc, sizeof(d->rpc), "%s/%s.rpc", e->dir, d->d.name);
    snprintf(d->d.log, sizeof(d->d.log), "%s/%s.log", e->dir, d->d.name);
    snprintf(rundir, sizeof(rundir), "%s/%s.run", e->dir, d->d.name);
    snprintf(cpus, sizeof(cpus), "%d", cpu);
    snprintf(idle, sizeof(idle), "%d", e->o->idle_us);
    if (ns) {
        argv[a++] = "ip";
        argv[a++] = "netns";
        argv[a++] = "exec";
        argv[a++] = ns;
    }
    const char *fixed[] = {e->sidecored, "--no-default", "--runtime-dir", rundir, "--rpc",
                           d->rpc, "--sidecores", "1", "--cpus", cpus};
    for (unsigned i = 0; i < SC_ARRAY_SIZE(fixed); i++)
        argv[a++] = fixed[i];
    if (e->o->idle_us >= 0) {
        argv[a++] = "--idle-us";
        argv[a++] = idle;
    }
    if (listen) {
        argv[a++] = "--listen";
        argv[a++] = listen;
    }
    const char *paths[16];
    unsigned np = 0;
    paths[np++] = d->rpc;
    for (unsigned i = 0; i < ndev; i++) {
        argv[a++] = listen ? "--export" : "--blk";
        argv[a++] = devargs[i];
        const char *s = strstr(devargs[i], "socket=");
        if (s && np < SC_ARRAY_SIZE(paths)) {
            /* The socket path ends at the next comma; kept in the daemon's slot. */
            snprintf(d->sock[np - 1], sizeof(d->sock[0]), "%.*s", (int)strcspn(s + 7, ","),
                     s + 7);
            paths[np] = d->sock[np - 1];
            np++;
        }
    }
    argv[a] = NULL;
    if (daemon_start(&d->d, (char *const *)argv, cpu) ||
        daemon_wait_sockets(&d->d, paths, np, START_TIMEOUT_MS))
        return -1;
    return 0;
}

static int start_all(struct rc_env *e, struct rc_daemons *ds)
{
    const struct remote_opts *o = e->o;
    char a[RC_MAX_DEVS][PATH_MAX * 2 + 160];
    char *args[RC_MAX_DEVS];
    for (unsigned i = 0; i < RC_MAX_DEVS; i++)
        args[i] = a[i];
    if (make_images(e, ds->devs, ds->ndev))
        return -1;
    /* local: every device but consolidation's B, which has a sidecore of its own */
    unsigned n = 0;
    for (unsigned i = 0; i < ds->ndev; i++)
        if (ds->devs[i].vm == 0)
            local_dev(e, ds->devs[i].name, ds->devs[i].backend, a[n++], sizeof(a[0]));
    if (start(e, &ds->d[RC_LOCAL], NULL, o->local_cpu, args, n, NULL))
        return -1;
    n = 0;
    for (unsigned i = 0; i < ds->ndev; i++)
        if (ds->devs[i].vm == 1)
            local_dev(e, ds->devs[i].name, ds->devs[i].backend, a[n++], sizeof(a[0]));
    if (n && start(e, &ds->d[RC_LOCAL_B], NULL, o->local_cpu, args, n, NULL))
        return -1;
    for (unsigned i = 0; i < ds->ndev; i++)
        export_dev(e, ds->devs[i].name, ds->devs[i].backend, a[i], sizeof(a[0]));
    if (start(e, &ds->d[RC_IOHOST], RNS_IOHOST, o->iohost_cpu, args, ds->ndev,
              "0.0.0.0:" RIO_PORT))
        return -1;
    for (unsigned vm = 0; vm < RNS_VMHOSTS; vm++) {
        n = 0;
        for (unsigned i = 0; i < ds->ndev; i++)
            if (ds->devs[i].vm == vm)
                remote_dev(e, vm, ds->devs[i].name, a[n++], sizeof(a[0]));
        if (n && start(e, &ds->d[vm ? RC_VMHOST_B : RC_VMHOST], e->ns.vm[vm], o->vmhost_cpu,
                       args, n, NULL))
            return -1;
    }
    return 0;
}

static void stop_all(struct rc_daemons *ds, bool show_logs)
{
    for (unsigned i = 0; i < RC_NDAEMONS; i++) {
        if (show_logs && ds->d[i].d.pid > 0)
            daemon_show_log(&ds->d[i].d);
        daemon_stop(&ds->d[i].d);
    }
}

/* The device set: the blk rows' backends on vmhost 0, consolidation's two
 * VMs on vmhost 0 and 1 (first chosen backend). */
static void plan(const struct remote_opts *o, struct rc_daemons *ds)
{
    static const char *const names[] = {"d-null", "d-file"};
    static const char *const bes[] = {"null", "file"};
    const bool want[] = {o->null_be, o->file_be};
    for (unsigned b = 0; b < 2; b++)
        if (want[b] && (o->blk || o->consol))
            ds->devs[ds->ndev++] = (struct rc_dev){names[b], bes[b], 0};
    if (o->consol) {
        const char *be = o->null_be ? "null" : "file";
        ds->devs[ds->ndev++] = (struct rc_dev){"c-a", be, 0};
        ds->devs[ds->ndev++] = (struct rc_dev){"c-b", be, 1};
    }
    static const char *const dn[] = {"local", "local-b", "iohost", "vmhost0", "vmhost1"};
    for (unsigned i = 0; i < RC_NDAEMONS; i++)
        ds->d[i].d.name = dn[i];
}

static void print_head(const struct rc_env *e)
{
    const struct remote_opts *o = e->o;
    printf("remote-compare: 4 KiB random reads and writes, the bench (guest) on CPU %d %s; local "
           "sidecored on CPU %d; remote: vmhost sidecored (%s) on CPU %d -> veth (MTU %u) -> "
           "iohost sidecored (%s) on CPU %d; one sidecore each; %.1f s per measurement\n",
           o->bench_cpu, o->event ? "sleeping on call eventfds" : "polling", o->local_cpu,
           e->ns.vm[0], o->vmhost_cpu, o->mtu, RNS_IOHOST, o->iohost_cpu, o->time_s);
}

int bench_remote_compare(int argc, char **argv, const char *argv0)
{
    struct remote_opts o;
    if (remote_opts_parse(argc, argv, &o))
        return 2;
    if (geteuid() != 0) {
        fprintf(stderr, "sidecore-bench remote-compare: needs root (network namespaces)\n");
        return 2;
    }
    struct rc_env e = {.o = &o, .stop = &stop_flag};
    if (daemon_sidecored_path(argv0, e.sidecored, sizeof(e.sidecored)))
        return 2;
    snprintf(e.dir, sizeof(e.dir), "/tmp/sc-rcmp-XXXXXX");
    if (!mkdtemp(e.dir)) {
        perror("sidecore-bench: mkdtemp");
        return 2;
    }
    struct sigaction sa = {.sa_handler = on_signal}, old_int, old_term;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    static struct rt_table t;
    static struct rc_daemons ds;
    memset(&t, 0, sizeof(t));
    memset(&ds, 0, sizeof(ds));
    plan(&o, &ds);
    int rc = 2;
    if (rns_setup(&e.ns, o.mtu) == 0 && !stop_flag) {
        if (start_all(&e, &ds) == 0) {
            rc = 0;
            if (o.blk && rc_blk_rows(&e, &ds, &t))
                rc = 1;
            if (o.hop && rc_hop_rows(&e, &t))
                rc = 1;
            if (o.consol && rc_consol_rows(&e, &ds, &t))
                rc = 1;
            if (o.net && !stop_flag && rc_net_rows(&e, &t))
                rc = 1;
            if (stop_flag)
                rc = 1;
            else if (rc == 0 && rt_missing(&t))
                rc = 1;
        }
        stop_all(&ds, rc == 2);
    }
    rns_teardown(&e.ns);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    scratch_remove(e.dir);
    if (rc == 2)
        return rc;
    if (o.json) {
        json_t *j = json_pack("{s:i,s:i,s:i,s:i,s:i,s:s,s:f,s:i,s:o}", "bench_cpu", o.bench_cpu,
                              "local_cpu", o.local_cpu, "vmhost_cpu", o.vmhost_cpu,
                              "iohost_cpu", o.iohost_cpu, "mtu", (int)o.mtu, "completion",
                              o.event ? "event" : "poll", "time_s", o.time_s, "qd",
                              (int)o.qd_hi, "rows", rt_json(&t));
        json_dumpf(j, stdout, JSON_INDENT(2));
        putchar('\n');
        json_decref(j);
    } else {
        print_head(&e);
        rt_print(&t);
        rc_print_note(&t);
        if (o.net)
            rc_net_print_note(&e, &t);
    }
    return rc;
}
