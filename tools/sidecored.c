/* sidecored: the vhost-user backend daemon. Builds its configuration from
 * the embedded default, a JSON file and command-line options (options win),
 * creates the sidecores and devices, serves JSON-RPC on a unix socket and
 * runs the control loop until SIGINT/SIGTERM/SIGHUP, then removes everything it
 * created (sockets included). */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/evloop.h"
#include "common/log.h"
#include "common/pidlock.h"
#include "common/sockpath.h"
#include "common/util.h"
#include "control/config.h"
#include "control/exports.h"
#include "control/methods.h"
#include "control/net_registry.h"
#include "control/qemu_line.h"
#include "control/registry.h"
#include "control/rpc.h"
#include "core/sidecore.h"

#define LOGC "sidecored"

struct opts {
    const char *config;
    const char *rpc;
    const char *runtime_dir;
    const char *socket_group;
    unsigned sidecores;
    int cpus[CFG_MAX_SIDECORES];
    int nr_cpus;
    long idle_us;
    long prefault; /* -1: not given */
    const char *mode;
    const char *log_level;
    bool no_default;
    const char **blk;
    unsigned nr_blk;
    const char **sw, **port, **net; /* --switch, --port, --net arguments */
    unsigned nr_sw, nr_port, nr_net;
    const char *role, *listen;      /* vRIO: --role, --listen */
    const char *net_listen;         /* vRIO net: --net-listen */
    const char **exp;               /* --export arguments */
    unsigned nr_exp;
};

static int push_arg(const char ***list, unsigned *n, const char *arg)
{
    const char **nl = realloc(*list, (*n + 1) * sizeof(*nl));
    if (!nl)
        return -1;
    *list = nl;
    nl[(*n)++] = arg;
    return 0;
}

static void free_args(struct opts *o)
{
    free(o->blk);
    free(o->sw);
    free(o->port);
    free(o->net);
    free(o->exp);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sidecored [options]\n"
            "  --config FILE        JSON start-up configuration\n"
            "  --rpc PATH           JSON-RPC socket (default <runtime-dir>/sidecored.sock)\n"
            "  --runtime-dir DIR    sockets and images (default /run/sidecore as root,\n"
            "                       else /tmp/sidecore-$UID)\n"
            "  --socket-group G     hand device sockets (not the RPC socket) to group G, a\n"
            "                       name or number: QEMU's group, e.g. libvirt's kvm\n"
            "  --sidecores N        polling threads (default 1)\n"
            "  --cpus C0,C1,...     cpu for each sidecore\n"
            "  --idle-us N          idle polling time before a sidecore sleeps (default 200)\n"
            "  --prefault-threads N fault in a frontend's guest memory with N threads when it\n"
            "                       sends its memory table (default 0: off)\n"
            "  --mode M             hybrid | poll (never sleep) | notify (never poll)\n"
            "  --log-level L        error | warn | info | debug\n"
            "  --no-default         start without the default devices null0 and file0\n"
            "  --blk KEY=VAL,...    add a blk device (repeatable); keys: name, socket,\n"
            "                       backend=null|file, path, size (bytes or 512M/1G),\n"
            "                       queues, serial, readonly=on, direct=on, shared=on,\n"
            "                       client=on\n"
            "  --switch KEY=VAL,... add an L2 switch (repeatable); keys: name,\n"
            "                       mac_table (entries, default 4096), aging (seconds,\n"
            "                       default 300)\n"
            "  --port KEY=VAL,...   add a port to a switch (repeatable); keys: switch,\n"
            "                       name, type=tap|sink; tap: ifname (default: the port\n"
            "                       name), queues (default 1; more: a multiqueue tap\n"
            "                       read by as many sidecore queues); sink: source_size,\n"
            "                       source_dst, source_count (as for --net;\n"
            "                       source_dst defaults to broadcast)\n"
            "  --net KEY=VAL,...    add a virtio-net device (repeatable); keys: name,\n"
            "                       socket, queues (queue pairs, default 1), mac (default\n"
            "                       52:54:00 + 3 bytes from the name), mtu (default 1500;\n"
            "                       longer frames are dropped both ways as over_mtu),\n"
            "                       client=on, offload=off (offer no CSUM/TSO), and one\n"
            "                       of: switch=NAME (a port of that switch), or\n"
            "                       backend=sink (wired straight to a private sink/source\n"
            "                       port, for benchmarks): the sink counts and drops what\n"
            "                       the guest sends; with source_size=BYTES (frame size,\n"
            "                       60..9000) it also sends UDP frames to the guest as\n"
            "                       fast as the guest takes them, to source_dst=MAC\n"
            "                       (default: the device's mac), source_count=N in all\n"
            "                       (default 0: unlimited)\n"
            "  --role R             local | vmhost (remote blk devices) | iohost (serves\n"
            "                       exports to vmhosts); default: iohost with --listen,\n"
            "                       vmhost with a remote device, else local\n"
            "  --listen IP:PORT     iohost: UDP address of the vRIO server\n"
            "  --net-listen IP:PORT iohost: UDP address where remote net devices join\n"
            "                       switches (--net ...,server=IP:PORT,remote_switch=SW\n"
            "                       on a vmhost; also heartbeat_ms)\n"
            "  --export KEY=VAL,... iohost: export a backend (repeatable); keys: name,\n"
            "                       backend=null|file, path, size, direct=on, readonly=on\n"
            "  --blk ...,backend=remote,server=IP:PORT,export=NAME[,fallback=PATH]\n"
            "                       vmhost: a blk device served by an iohost; fallback is\n"
            "                       a file reaching the same storage, used while the\n"
            "                       iohost is unreachable (else requests fail); also\n"
            "                       mtu, failover_ms, timeout_ms\n"
            "  --help               this text\n"
            "Without --config and --no-default the daemon serves null0 (null, 1 GiB) and\n"
            "file0 (<runtime-dir>/file0.img, 256 MiB), 2 queues each. Net devices and\n"
            "switches exist only when asked for (options, config, or sidecorectl).\n"
            "Example: two guests and the host on one switch:\n"
            "  sidecored --switch name=sw0 --port switch=sw0,name=sctap0,type=tap \\\n"
            "    --net name=net0,switch=sw0 --net name=net1,switch=sw0\n");
}

static int die_usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "sidecored: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(see sidecored --help)\n");
    return 2;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
    enum { O_CONFIG = 256, O_RPC, O_RUNDIR, O_SC, O_CPUS, O_IDLE, O_MODE, O_LOG, O_NODEF, O_BLK,
           O_SWITCH, O_PORT, O_NET, O_ROLE, O_LISTEN, O_EXPORT, O_NET_LISTEN, O_PREFAULT, O_SOCKGRP };
    static const struct option longs[] = {
        {"config", required_argument, NULL, O_CONFIG},
        {"rpc", required_argument, NULL, O_RPC},
        {"runtime-dir", required_argument, NULL, O_RUNDIR},
        {"socket-group", required_argument, NULL, O_SOCKGRP},
        {"sidecores", required_argument, NULL, O_SC},
        {"cpus", required_argument, NULL, O_CPUS},
        {"idle-us", required_argument, NULL, O_IDLE},
        {"prefault-threads", required_argument, NULL, O_PREFAULT},
        {"mode", required_argument, NULL, O_MODE},
        {"log-level", required_argument, NULL, O_LOG},
        {"no-default", no_argument, NULL, O_NODEF},
        {"blk", required_argument, NULL, O_BLK},
        {"switch", required_argument, NULL, O_SWITCH},
        {"port", required_argument, NULL, O_PORT},
        {"net", required_argument, NULL, O_NET},
        {"role", required_argument, NULL, O_ROLE},
        {"listen", required_argument, NULL, O_LISTEN},
        {"net-listen", required_argument, NULL, O_NET_LISTEN},
        {"export", required_argument, NULL, O_EXPORT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    o->idle_us = -1;
    o->prefault = -1;
    o->nr_cpus = -1;
    int c;
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        char *end;
        switch (c) {
        case O_CONFIG: o->config = optarg; break;
        case O_RPC: o->rpc = optarg; break;
        case O_RUNDIR: o->runtime_dir = optarg; break;
        case O_SOCKGRP: o->socket_group = optarg; break;
        case O_SC: {
            unsigned long n = strtoul(optarg, &end, 10);
            if (*end || end == optarg || n < 1 || n > CFG_MAX_SIDECORES)
                return die_usage("--sidecores: expected a number from 1 to 64, got \"%s\"",
                                 optarg);
            o->sidecores = (unsigned)n;
            break;
        }
        case O_CPUS:
            o->nr_cpus = cfg_parse_cpu_list(optarg, o->cpus, CFG_MAX_SIDECORES);
            if (o->nr_cpus < 0)
                return die_usage("--cpus: expected cpu numbers like 1,0 (at most 64), got \"%s\"",
                                 optarg);
            break;
        case O_IDLE:
            o->idle_us = strtol(optarg, &end, 10);
            if (*end || end == optarg || o->idle_us < 0 || o->idle_us > 10000000)
                return die_usage("--idle-us: expected microseconds from 0 to 10000000, got \"%s\"",
                                 optarg);
            break;
        case O_PREFAULT:
            o->prefault = strtol(optarg, &end, 10);
            if (*end || end == optarg || o->prefault < 0 || o->prefault > 64)
                return die_usage("--prefault-threads: expected a thread count from 0 to 64, got "
                                 "\"%s\"", optarg);
            break;
        case O_MODE: {
            enum cfg_mode m;
            if (cfg_parse_mode(optarg, &m) < 0)
                return die_usage("--mode: expected hybrid, poll or notify, got \"%s\"", optarg);
            o->mode = optarg;
            break;
        }
        case O_LOG: {
            enum sc_log_level l;
            if (cfg_parse_log_level(optarg, &l) < 0)
                return die_usage("--log-level: expected error, warn, info or debug, got \"%s\"",
                                 optarg);
            o->log_level = optarg;
            break;
        }
        case O_NODEF: o->no_default = true; break;
        case O_BLK: {
            const char **nb = realloc(o->blk, (o->nr_blk + 1) * sizeof(*nb));
            if (!nb)
                return die_usage("%s", "out of memory");
            o->blk = nb;
            o->blk[o->nr_blk++] = optarg;
            break;
        }
        case O_SWITCH:
        case O_PORT:
        case O_NET: {
            int rc = c == O_SWITCH ? push_arg(&o->sw, &o->nr_sw, optarg)
                     : c == O_PORT ? push_arg(&o->port, &o->nr_port, optarg)
                                   : push_arg(&o->net, &o->nr_net, optarg);
            if (rc < 0)
                return die_usage("%s", "out of memory");
            break;
        }
        case O_ROLE: {
            enum cfg_role r;
            if (cfg_role_parse(optarg, &r) < 0)
                return die_usage("--role: expected local, vmhost or iohost, got \"%s\"", optarg);
            o->role = optarg;
            break;
        }
        case O_LISTEN: o->listen = optarg; break;
        case O_NET_LISTEN: o->net_listen = optarg; break;
        case O_EXPORT:
            if (push_arg(&o->exp, &o->nr_exp, optarg) < 0)
                return die_usage("%s", "out of memory");
            break;
        case 'h': usage(stdout); return 1;
        /* getopt printed which option and why (unknown, or its value missing). */
        default: return die_usage("%s", "bad command line (see the line above)");
        }
    }
    if (optind < argc)
        return die_usage("unexpected argument \"%s\"", argv[optind]);
    return 0;
}

/* Creates dir and its missing parents. */
static int mkdir_p(const char *dir, mode_t mode)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof(buf), "%s", dir) >= (int)sizeof(buf))
        return -ENAMETOOLONG;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, mode) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(buf, mode) < 0 && errno != EEXIST)
        return -errno;
    struct stat st;
    if (stat(buf, &st) < 0)
        return -errno;
    return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

/* Whoever may write the runtime directory may replace the device sockets
 * (a VM then hands its memory to an impostor), the RPC socket or the lock
 * file: it must belong to the daemon's user and be writable by no one else.
 * (Another user could make /tmp/sidecore-$UID first, mode 0777.) */
static int runtime_dir_ok(const char *dir, char *why, size_t len)
{
    struct stat st;
    if (stat(dir, &st) < 0) {
        snprintf(why, len, "cannot stat the runtime directory %s: %s", dir, strerror(errno));
        return -1;
    }
    if (st.st_uid != geteuid()) {
        snprintf(why, len, "the runtime directory %s belongs to uid %u, not to this daemon's "
                 "user (uid %u), who could replace its sockets; use a directory of your own",
                 dir, (unsigned)st.st_uid, (unsigned)geteuid());
        return -1;
    }
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        snprintf(why, len, "the runtime directory %s is writable by %s (mode %03o): they could "
                 "replace its sockets; chmod go-w it or use another directory", dir,
                 st.st_mode & S_IWOTH ? "other users" : "its group",
                 (unsigned)(st.st_mode & 0777));
        return -1;
    }
    return 0;
}

static int add_default_devices(struct sc_config *c, const char *rundir)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/file0.img", rundir);
    struct cfg_device null0 = {.name = "null0", .queues = 2,
                               .backend = {.type = CFG_BE_NULL, .size = 1ull << 30}};
    struct cfg_device file0 = {.name = "file0", .queues = 2,
                               .backend = {.type = CFG_BE_FILE, .path = path,
                                           .size = 256ull << 20}};
    if (cfg_add_device(c, &null0) || cfg_add_device(c, &file0))
        return -ENOMEM;
    return 0;
}

/* --switch / --port / --net: KEY=VAL lists parsed like their JSON objects. */
static int add_net_options(const struct opts *o, struct sc_config *c)
{
    char err[512];
    const char *const *lists[3] = {o->sw, o->port, o->net};
    const unsigned counts[3] = {o->nr_sw, o->nr_port, o->nr_net};
    static const char *const opt[3] = {"--switch", "--port", "--net"};
    for (unsigned k = 0; k < 3; k++) {
        for (unsigned i = 0; i < counts[k]; i++) {
            json_t *obj = cfg_kv_to_json(lists[k][i], opt[k], err, sizeof(err));
            int rc = obj ? 0 : -EINVAL;
            if (obj && k == 0) {
                struct cfg_switch x;
                if ((rc = cfg_switch_from_json(obj, opt[k], &x, err, sizeof(err))) == 0) {
                    rc = cfg_netset_add_switch(&c->net, &x);
                    cfg_switch_free(&x);
                }
            } else if (obj && k == 1) {
                struct cfg_port x;
                if ((rc = cfg_port_from_json(obj, opt[k], NULL, &x, err, sizeof(err))) == 0) {
                    rc = cfg_netset_add_port(&c->net, &x);
                    cfg_port_free(&x);
                }
            } else if (obj) {
                struct cfg_net x;
                if ((rc = cfg_net_from_json(obj, opt[k], &x, err, sizeof(err))) == 0) {
                    rc = cfg_netset_add_net(&c->net, &x);
                    cfg_net_free(&x);
                }
            }
            json_decref(obj);
            if (rc == -ENOMEM)
                snprintf(err, sizeof(err), "out of memory");
            if (rc) {
                fprintf(stderr, "sidecored: %s\n(see sidecored --help)\n", err);
                return -1;
            }
        }
    }
    return 0;
}

/* --role, --listen, --export; exports parse like their JSON objects. */
static int add_rio_options(const struct opts *o, struct sc_config *c)
{
    char err[512];
    if (o->role) {
        cfg_role_parse(o->role, &c->rio.role);
        c->rio.has_role = true;
    }
    if (o->listen) {
        json_t *io = json_pack("{s:s}", "listen", o->listen);
        int rc = cfg_iohost_from_json(io, &c->rio.io, err, sizeof(err));
        json_decref(io);
        if (rc < 0) {
            fprintf(stderr, "sidecored: --listen: %s\n", err);
            return -1;
        }
    }
    if (o->net_listen) {
        json_t *io = json_pack("{s:s}", "net_listen", o->net_listen);
        int rc = cfg_iohost_from_json(io, &c->rio.io, err, sizeof(err));
        json_decref(io);
        if (rc < 0) {
            fprintf(stderr, "sidecored: --net-listen: %s\n", err);
            return -1;
        }
    }
    for (unsigned i = 0; i < o->nr_exp; i++) {
        json_t *obj = cfg_kv_to_json(o->exp[i], "--export", err, sizeof(err));
        json_t *be = obj ? json_object() : NULL;
        /* readonly=on, as --blk spells it too. */
        json_t *ro = obj ? json_object_get(obj, "readonly") : NULL;
        if (ro && !json_object_get(obj, "read_only")) {
            json_object_set(obj, "read_only", ro);
            json_object_del(obj, "readonly");
        }
        /* The flat form names backend keys beside the export's own. */
        static const char *const bkeys[] = {"path", "size", "direct"};
        for (unsigned k = 0; be && k < 3; k++) {
            json_t *v = json_object_get(obj, bkeys[k]);
            if (v) {
                json_object_set(be, bkeys[k], v);
                json_object_del(obj, bkeys[k]);
            }
        }
        if (be) {
            json_t *t = json_object_get(obj, "backend");
            json_object_set_new(be, "type", t ? json_incref(t) : json_string("file"));
            if (json_is_string(json_object_get(be, "direct")))
                json_object_set_new(be, "direct",
                                    json_boolean(!strcmp(json_string_value(
                                                             json_object_get(be, "direct")),
                                                         "on")));
            if (json_is_string(json_object_get(be, "size")) &&
                json_string_value(json_object_get(be, "size"))[0] == '\0')
                json_object_del(be, "size");
            json_object_set_new(obj, "backend", be);
        }
        struct cfg_export e;
        int rc = obj ? cfg_export_from_json(obj, "--export", &e, err, sizeof(err)) : -EINVAL;
        json_decref(obj);
        if (rc == 0) {
            rc = cfg_rio_add_export(&c->rio, &e);
            cfg_export_free(&e);
        }
        if (rc) {
            fprintf(stderr, "sidecored: %s\n(see sidecored --help)\n", err);
            return -1;
        }
    }
    bool remote = false;
    for (unsigned i = 0; i < c->nr_devices; i++)
        remote |= c->devices[i].backend.type == CFG_BE_REMOTE;
    struct cfg_rio *r = &c->rio;
    if (!r->has_role)
        r->role = r->io.listen || r->io.net_listen ? CFG_ROLE_IOHOST
                  : remote                         ? CFG_ROLE_VMHOST
                                                   : CFG_ROLE_LOCAL;
    const char *bad = NULL;
    if (r->role == CFG_ROLE_IOHOST && !r->io.listen && !r->io.net_listen)
        bad = "the iohost role needs a listen address: --listen IP:PORT (iohost.listen) for "
              "block exports, --net-listen IP:PORT (iohost.net_listen) for remote net devices";
    else if (r->nr_exports && !r->io.listen)
        bad = "exports need the block listen address (--listen IP:PORT or iohost.listen)";
    else if (r->role != CFG_ROLE_IOHOST && (r->io.listen || r->io.net_listen || r->nr_exports))
        bad = "listen addresses and exports need the iohost role";
    else if (r->role == CFG_ROLE_LOCAL && remote)
        bad = "remote blk devices need the vmhost role";
    if (bad) {
        fprintf(stderr, "sidecored: %s\n", bad);
        return -1;
    }
    return 0;
}

/* Merges options into the config; options win. Returns 0 or an exit code. */
static int build_config(const struct opts *o, struct sc_config *c)
{
    char err[512];
    if (o->config && cfg_load_file(o->config, c, err, sizeof(err)) < 0) {
        fprintf(stderr, "sidecored: config: %s\n", err);
        return 2;
    }
    if (o->runtime_dir) {
        free(c->runtime_dir);
        c->runtime_dir = strdup(o->runtime_dir);
    } else if (!c->runtime_dir) {
        char def[64];
        if (geteuid() == 0)
            snprintf(def, sizeof(def), "/run/sidecore");
        else
            snprintf(def, sizeof(def), "/tmp/sidecore-%u", (unsigned)geteuid());
        c->runtime_dir = strdup(def);
    }
    if (o->rpc) {
        free(c->rpc_socket);
        c->rpc_socket = strdup(o->rpc);
    } else if (!c->rpc_socket && c->runtime_dir &&
               asprintf(&c->rpc_socket, "%s/sidecored.sock", c->runtime_dir) < 0) {
        c->rpc_socket = NULL;
    }
    if (o->socket_group) {
        free(c->socket_group);
        c->socket_group = strdup(o->socket_group);
    }
    if (!c->runtime_dir || !c->rpc_socket || (o->socket_group && !c->socket_group)) {
        fprintf(stderr, "sidecored: out of memory\n");
        return 1;
    }
    if (o->log_level) {
        cfg_parse_log_level(o->log_level, &c->log_level);
        c->has_log_level = true;
    }
    if (o->sidecores)
        c->sidecores.count = o->sidecores;
    if (o->nr_cpus >= 0) {
        memcpy(c->sidecores.cpus, o->cpus, sizeof(o->cpus));
        c->sidecores.nr_cpus = (unsigned)o->nr_cpus;
    }
    if (o->prefault >= 0)
        c->sidecores.prefault_threads = (unsigned)o->prefault;
    if (o->idle_us >= 0) {
        c->sidecores.idle_us = (unsigned)o->idle_us;
        c->sidecores.has_idle_us = true;
    }
    if (o->mode) {
        cfg_parse_mode(o->mode, &c->sidecores.mode);
        c->sidecores.has_mode = true;
    }
    if (!o->config && !o->no_default && add_default_devices(c, c->runtime_dir) < 0) {
        fprintf(stderr, "sidecored: out of memory\n");
        return 1;
    }
    if (add_net_options(o, c) < 0)
        return 2;
    for (unsigned i = 0; i < o->nr_blk; i++) {
        struct cfg_device d;
        if (cfg_device_from_blk_arg(o->blk[i], &d, err, sizeof(err)) < 0) {
            fprintf(stderr, "sidecored: %s\n(see sidecored --help)\n", err);
            return 2;
        }
        int rc = cfg_add_device(c, &d);
        cfg_device_free(&d);
        if (rc) {
            fprintf(stderr, "sidecored: out of memory\n");
            return 1;
        }
    }
    return add_rio_options(o, c) < 0 ? 2 : 0;
}

/* Layouts that work but cost: sidecores sharing a CPU take turns at the
 * scheduler's pace (README, "give each sidecore its own CPU"). */
static void warn_cpu_layout(const struct sc_params *p, unsigned nr_cpus)
{
    for (unsigned i = 0; i < p->nr_sidecores && i < SC_ARRAY_SIZE(p->cpus); i++)
        for (unsigned j = 0; j < i; j++)
            if (p->cpus[i] >= 0 && p->cpus[i] == p->cpus[j])
                LOG_WARN(LOGC, "sidecores %u and %u are both pinned to CPU %d: they will take "
                         "turns on it (give each sidecore a CPU of its own)", j, i, p->cpus[i]);
    if (nr_cpus && nr_cpus < p->nr_sidecores)
        LOG_WARN(LOGC, "%u sidecore(s) but %u CPU(s) in --cpus / sidecores.cpus: sidecores %u.. "
                 "run unpinned", p->nr_sidecores, nr_cpus, nr_cpus);
    if (nr_cpus > p->nr_sidecores)
        LOG_WARN(LOGC, "%u CPU(s) in --cpus / sidecores.cpus but %u sidecore(s): CPUs after "
                 "the first %u are not used", nr_cpus, p->nr_sidecores, p->nr_sidecores);
}

/* "0-3,6": the CPUs of set, for messages. */
static void cpu_list(const cpu_set_t *set, char *buf, size_t len)
{
    size_t at = 0;
    buf[0] = '\0';
    for (int c = 0; c < CPU_SETSIZE && at < len; c++) {
        if (!CPU_ISSET(c, set) || (c > 0 && CPU_ISSET(c - 1, set)))
            continue;
        int e = c;
        while (e + 1 < CPU_SETSIZE && CPU_ISSET(e + 1, set))
            e++;
        int n = e > c ? snprintf(buf + at, len - at, "%s%d-%d", at ? "," : "", c, e)
                      : snprintf(buf + at, len - at, "%s%d", at ? "," : "", c);
        if (n < 0)
            break;
        at += (size_t)n;
    }
}

/* A sidecore pinned to a CPU the daemon may not run on would run unpinned
 * while `sidecores` showed it on that CPU: refused, as DPDK's -l and SPDK's
 * -m refuse. More sidecores than CPUs work, taking turns: a warning. */
static int check_cpus(const struct sc_params *p)
{
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof(allowed), &allowed) < 0)
        return 0;
    char list[256];
    cpu_list(&allowed, list, sizeof(list));
    for (unsigned i = 0; i < p->nr_sidecores && i < SC_ARRAY_SIZE(p->cpus); i++)
        if (p->cpus[i] >= 0 && (p->cpus[i] >= CPU_SETSIZE || !CPU_ISSET(p->cpus[i], &allowed))) {
            LOG_ERR(LOGC, "sidecore %u: CPU %d in --cpus / sidecores.cpus is not one sidecored "
                    "may run on (CPUs %s)", i, p->cpus[i], list);
            return -1;
        }
    if ((int)p->nr_sidecores > CPU_COUNT(&allowed))
        LOG_WARN(LOGC, "%u sidecores but sidecored may run on %d CPU(s) (%s): they will take "
                 "turns (give each sidecore a CPU of its own)", p->nr_sidecores,
                 CPU_COUNT(&allowed), list);
    return 0;
}

static void sc_params_from(const struct cfg_sidecores *s, struct sc_params *p)
{
    sc_params_default(p);
    unsigned n = s->count ? s->count : (s->nr_cpus ? s->nr_cpus : p->nr_sidecores);
    p->nr_sidecores = n;
    for (unsigned i = 0; i < SC_ARRAY_SIZE(p->cpus); i++)
        p->cpus[i] = i < s->nr_cpus ? s->cpus[i] : -1;
    if (s->has_idle_us)
        p->idle_us = s->idle_us;
    if (s->has_mode) {
        p->never_sleep = s->mode == CFG_MODE_POLL;
        p->never_poll = s->mode == CFG_MODE_NOTIFY;
    }
}

/* The QEMU command line that attaches a guest to the device. */
static void print_qemu_line(const struct cfg_device *d)
{
    static const char *const be_names[] = {"null", "file", "remote"};
    printf("# %s: %s backend, %llu MiB, %u queue(s)%s\n", d->name, be_names[d->backend.type],
           (unsigned long long)(d->backend.size >> 20), d->queues,
           d->read_only ? ", read-only" : "");
    char *line = qemu_line_blk(d);
    printf("%s\n", line ? line : "(out of memory)");
    free(line);
}

/* The QEMU options that attach a guest NIC to a net device. */
static void print_net_line(const struct cfg_net *n)
{
    printf("# %s: virtio-net, %u queue pair(s), %s%s%s%s\n", n->name, n->queues,
           n->sw ? "switch " : n->server ? "remote switch " : "sink", n->sw ? n->sw : "",
           n->server ? n->rswitch : "", n->server ? " (through the iohost)" : "");
    char *line = qemu_line_net(n);
    printf("%s\n", line ? line : "(out of memory)");
    free(line);
}

static bool net_claims(void *opaque, const char *name, const char *socket)
{
    return net_registry_claims(opaque, name, socket);
}

struct daemon {
    struct evloop *loop;
    struct sc_set *scs;
    struct registry *reg;
    struct net_registry *net;
    struct exports *exports; /* iohost role */
    struct rpc_server *rpc;
    int sigfd;
    int lock_fd; /* the runtime directory's (pidlock.h) */
    bool stop;
};

static void on_signal(int fd, uint32_t events, void *opaque)
{
    struct daemon *d = opaque;
    struct signalfd_siginfo si;
    (void)events;
    while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGUSR1 || si.ssi_signo == SIGUSR2) {
            LOG_INFO(LOGC, "%s received from pid %u; sidecored gives it no meaning: ignored",
                     strsignal((int)si.ssi_signo), si.ssi_pid);
            continue;
        }
        LOG_INFO(LOGC, "%s received; shutting down", strsignal((int)si.ssi_signo));
        d->stop = true;
    }
}

/* --socket-group / socket_group: a group name, or a number. */
static int set_socket_group(const char *g)
{
    char *end;
    errno = 0;
    unsigned long n = strtoul(g, &end, 10);
    if (*g >= '0' && *g <= '9' && !*end && !errno && n < (gid_t)-1) {
        sockpath_set_group((gid_t)n);
        return 0;
    }
    errno = 0;
    const struct group *gr = getgrnam(g);
    if (!gr) {
        LOG_ERR(LOGC, "socket_group: no group \"%s\" on this system%s%s", g, errno ? ": " : "",
                errno ? strerror(errno) : "");
        return -1;
    }
    sockpath_set_group(gr->gr_gid);
    LOG_INFO(LOGC, "device sockets go to group %s (gid %u)", g, (unsigned)gr->gr_gid);
    return 0;
}

static int run(struct sc_config *c)
{
    struct daemon d = {.sigfd = -1, .lock_fd = -1};
    int rc = 1;
    const char *why = "";
    char err[512];

    /* Blocked before any thread starts, so the sidecores inherit the mask
     * and the signals reach only the signalfd. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    /* Their default action killed the daemon without its clean-up (sockets,
     * lock and crash record files left behind): a hangup stops it in
     * order, the user signals are ignored. */
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGUSR2);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    int mk = mkdir_p(c->runtime_dir, geteuid() == 0 ? 0755 : 0700);
    if (mk < 0) {
        LOG_ERR(LOGC, "cannot create the runtime directory %s: %s", c->runtime_dir,
                strerror(-mk));
        return 1;
    }
    if (runtime_dir_ok(c->runtime_dir, err, sizeof(err)) < 0) {
        LOG_ERR(LOGC, "%s", err);
        return 1;
    }
    /* Device sockets are compared in this spelling (sockpath.h). */
    if (sockpath_canonicalize(&c->rpc_socket) < 0) {
        LOG_ERR(LOGC, "out of memory");
        return 1;
    }
    char lock_path[4096];
    snprintf(lock_path, sizeof(lock_path), "%s/sidecored.lock", c->runtime_dir);
    d.lock_fd = pidlock_acquire(lock_path, err, sizeof(err));
    if (d.lock_fd < 0) {
        LOG_ERR(LOGC, "%s", err);
        return 1;
    }
    struct sc_params p;
    sc_params_from(&c->sidecores, &p);
    if (check_cpus(&p) < 0)
        return 2;
    if (c->socket_group && set_socket_group(c->socket_group) < 0)
        return 2;
    warn_cpu_layout(&p, c->sidecores.nr_cpus);
    d.loop = evloop_create();
    d.sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (!d.loop || d.sigfd < 0 || evloop_add(d.loop, d.sigfd, EPOLLIN, on_signal, &d) < 0) {
        LOG_ERR(LOGC, "cannot set up the event loop or the signalfd: %s", strerror(errno));
        goto out;
    }
    d.scs = sc_set_create(&p);
    if (!d.scs) {
        LOG_ERR(LOGC, "cannot start %u sidecore(s) (check --cpus / sidecores.cpus)",
                p.nr_sidecores);
        goto out;
    }
    d.reg = registry_create(d.loop, d.scs, c->runtime_dir);
    if (!d.reg)
        goto out;
    registry_set_role(d.reg, c->rio.role);
    registry_set_prefault(d.reg, c->sidecores.prefault_threads);
    registry_reserve_socket(d.reg, c->rpc_socket);
    for (unsigned i = 0; i < c->nr_devices; i++) {
        if (registry_add(d.reg, &c->devices[i], err, sizeof(err)) < 0) {
            LOG_ERR(LOGC, "%s", err);
            goto out;
        }
    }
    d.net = net_registry_create(d.loop, d.scs, c->runtime_dir, d.reg);
    if (!d.net)
        goto out;
    registry_set_claims(d.reg, net_claims, d.net);
    if (net_registry_apply(d.net, &c->net, err, sizeof(err)) < 0) {
        LOG_ERR(LOGC, "%s", err);
        goto out;
    }
    if (c->rio.role == CFG_ROLE_IOHOST) {
        /* An iohost of remote NICs only has no block listener. */
        if (c->rio.io.listen && !(d.exports = exports_create(d.scs, &c->rio.io, err, sizeof(err)))) {
            LOG_ERR(LOGC, "%s", err);
            goto out;
        }
        for (unsigned i = 0; i < c->rio.nr_exports; i++) {
            if (exports_add(d.exports, &c->rio.exports[i], err, sizeof(err)) < 0) {
                LOG_ERR(LOGC, "%s", err);
                goto out;
            }
        }
        if (c->rio.io.net_listen &&
            net_registry_listen(d.net, c->rio.io.net_listen, err, sizeof(err)) < 0) {
            LOG_ERR(LOGC, "%s", err);
            goto out;
        }
    }
    const char *mode = c->sidecores.has_mode ? cfg_mode_name(c->sidecores.mode) : "hybrid";
    struct daemon_ctx ctx = {.reg = d.reg, .net = d.net, .exports = d.exports,
                             .role = cfg_role_name(c->rio.role), .scs = d.scs, .mode = mode,
                             .start_ns = sc_now_ns()};
    d.rpc = rpc_server_create(d.loop, c->rpc_socket, daemon_methods, daemon_methods_count, &ctx,
                              &why);
    if (!d.rpc) {
        LOG_ERR(LOGC, "RPC socket: %s", why);
        goto out;
    }
    for (unsigned i = 0; i < c->nr_devices; i++)
        print_qemu_line(registry_find(d.reg, c->devices[i].name));
    for (unsigned i = 0; i < c->net.nr_nets; i++)
        print_net_line(net_registry_find_net(d.net, c->net.nets[i].name));
    fflush(stdout);
    LOG_INFO(LOGC, "ready: %s role, %u blk and %u net device(s), %u export(s), %u sidecore(s) "
             "(%s), RPC on %s", cfg_role_name(c->rio.role), registry_count(d.reg),
             net_registry_count(d.net), c->rio.nr_exports, sc_set_count(d.scs), mode,
             c->rpc_socket);
    while (!d.stop) {
        int n = evloop_run_once(d.loop, -1);
        if (n < 0) {
            LOG_ERR(LOGC, "event loop: %s", strerror(-n));
            goto out;
        }
    }
    rc = 0;
out:
    rpc_server_destroy(d.rpc);
    exports_destroy(d.exports);
    if (d.reg)
        registry_set_claims(d.reg, NULL, NULL);
    net_registry_destroy(d.net);
    registry_destroy(d.reg);
    if (d.scs)
        sc_set_destroy(d.scs);
    if (d.loop)
        evloop_destroy(d.loop);
    if (d.sigfd >= 0)
        close(d.sigfd);
    pidlock_release(d.lock_fd, lock_path);
    if (rc == 0)
        LOG_INFO(LOGC, "stopped");
    return rc;
}

int main(int argc, char **argv)
{
    struct opts o = {0};
    int rc = parse_args(argc, argv, &o);
    if (rc) {
        free_args(&o);
        return rc == 1 ? 0 : rc;
    }
    struct sc_config c = {0};
    rc = build_config(&o, &c);
    free_args(&o);
    if (rc == 0) {
        if (c.has_log_level)
            sc_log_set_level(c.log_level);
        rc = run(&c);
    }
    cfg_free(&c);
    return rc;
}
