/* sidecorectl: command-line client for sidecored's JSON-RPC socket.
 * Standalone (libc and jansson only): it speaks the line protocol itself.
 * Prints tables for people by default and the raw result with --json; on an
 * error it prints the daemon's message and exits with status 1 (2 for usage
 * errors). */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define RPC_TIMEOUT_MS 10000
#define MAX_REPLY (16u << 20)

static const char *g_socket;
static bool g_json;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sidecorectl [-s RPC_SOCKET] [--json] COMMAND [ARGS]\n"
            "commands:\n"
            "  create-blk NAME [--socket P] [--backend null|file] [--path F] [--size S]\n"
            "             [--queues N] [--serial ID] [--read-only] [--direct] [--shared]\n"
            "             [--client]\n"
            "  create-blk NAME --backend remote --server IP:PORT --export NAME\n"
            "             [--fallback F] [--failover-ms MS] [--timeout-ms MS] [--mtu N]\n"
            "             (vmhost role; an option given twice is refused)\n"
            "             [--socket P] ...\n"
            "  delete NAME\n"
            "  resize NAME SIZE                grow a disk under its running guest\n"
            "  list                            devices, state, failures, stages\n"
            "  stats [NAME]                    per-queue counters, then each stage's\n"
            "  sidecores\n"
            "  top [--interval MS] [--count N]   (N 0, the default: until interrupted)\n"
            "  info\n"
            "  net-create NAME [KEY=VAL ...]   keys as sidecored --net: socket, queues,\n"
            "             mac, mtu, client=on, offload=off, switch=SW | backend=sink,\n"
            "             source_size, source_dst, source_count\n"
            "  net-delete NAME\n"
            "  net-list\n"
            "  net-stats NAME                  queues and port counters of a net device\n"
            "  switch-create NAME [mac_table=N] [aging=SECONDS]\n"
            "  switch-delete NAME              (its net devices must be deleted first)\n"
            "  switch-list\n"
            "  switch-stats NAME               per-port counters and drops by reason\n"
            "  port-add SWITCH NAME type=tap|sink [ifname=IF] [queues=N]\n"
            "             [source_size=B] [source_dst=MAC] [source_count=N]\n"
            "  port-delete SWITCH NAME\n"
            "  peers [--probe]                 vmhost: remote devices' iohost state\n"
            "             (connected, RTT, retransmissions, in flight, failovers);\n"
            "             --probe asks each iohost first (one HELLO, up to 1 s per\n"
            "             silent iohost), which an idle device otherwise does not\n"
            "  net-peers                       vRIO net: remote net devices' tunnels (vmhost)\n"
            "             and peers joined to switches here (iohost): state, RTT,\n"
            "             packets each way, drops on the path\n"
            "  exports                         iohost: exports, sessions, counters\n"
            "  export-create 'JSON'            an export object, e.g. '{\"name\":\"disk0\",\n"
            "             \"backend\":{\"type\":\"file\",\"path\":\"/srv/d0.img\"}}'\n"
            "  export-delete NAME\n"
            "  export-resize NAME SIZE         grow an export; then resize its vmhost devices\n"
            "  interpose NAME 'JSON'           set the stages of a device or export,\n"
            "             e.g. '[{\"type\":\"meter\"},{\"type\":\"qos\",\"iops\":1000}]'\n"
            "             or of a net port (device, tap, remote peer DEV@ADDR), e.g.\n"
            "             '[{\"type\":\"filter\",\"rules\":[{\"action\":\"deny\",\"proto\":\"icmp\"}]}]'\n"
            "The default socket is sidecored's: /run/sidecore/sidecored.sock as root,\n"
            "else /tmp/sidecore-$UID/sidecored.sock.\n");
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "sidecorectl: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

static void die_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "sidecorectl: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n(see sidecorectl --help)\n");
    va_end(ap);
    exit(2);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int connect_rpc(void)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(g_socket) >= sizeof(sa.sun_path))
        die("socket path %s is too long", g_socket);
    strcpy(sa.sun_path, g_socket);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket: %s", strerror(errno));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        die("cannot connect to %s: %s (is sidecored running?)", g_socket, strerror(errno));
    return fd;
}

/* 0, or the errno of a failed send: the daemon may have answered and
 * closed already (too many clients), and that answer says more. */
static int send_all(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? errno : EPIPE;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* One request on its own connection. Returns the result (new reference);
 * exits with the daemon's message on an error reply. */
static json_t *call(const char *method, json_t *params)
{
    int fd = connect_rpc();
    json_t *req = json_pack("{s:s,s:i,s:s}", "jsonrpc", "2.0", "id", 1, "method", method);
    if (!req)
        die("out of memory");
    if (params)
        json_object_set_new(req, "params", params);
    char *txt = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    if (!txt)
        die("out of memory");
    int send_err = send_all(fd, txt, strlen(txt));
    if (!send_err)
        send_err = send_all(fd, "\n", 1);
    free(txt);

    size_t cap = 65536, used = 0;
    char *buf = malloc(cap);
    char *nl = NULL;
    uint64_t deadline = now_ms() + RPC_TIMEOUT_MS;
    while (buf && !(nl = memchr(buf, '\n', used))) {
        uint64_t now = now_ms();
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int pr = now >= deadline ? 0 : poll(&p, 1, (int)(deadline - now));
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            die("%s: no answer from %s within %d ms", method, g_socket, RPC_TIMEOUT_MS);
        if (used == cap) {
            if (cap >= MAX_REPLY)
                die("%s: answer larger than %u bytes", method, MAX_REPLY);
            cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb)
                die("out of memory");
            buf = nb;
        }
        ssize_t n = recv(fd, buf + used, cap - used, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 && send_err)
            die("sending to %s: %s", g_socket, strerror(send_err));
        if (n <= 0)
            die("%s: sidecored closed the connection without answering", method);
        used += (size_t)n;
    }
    if (!buf)
        die("out of memory");
    close(fd);
    json_error_t jerr;
    json_t *rep = json_loadb(buf, (size_t)(nl - buf), 0, &jerr);
    free(buf);
    if (!rep)
        die("%s: unreadable answer from sidecored: %s", method, jerr.text);
    json_t *err = json_object_get(rep, "error");
    json_t *res = json_object_get(rep, "result");
    if (err || !res) {
        const char *msg = json_string_value(json_object_get(err, "message"));
        char copy[1024];
        snprintf(copy, sizeof(copy), "%s",
                 msg   ? msg
                 : err ? "error without a message"
                       : "answer has neither result nor error");
        json_decref(rep);
        die("%s: %s", method, copy);
    }
    json_incref(res);
    json_decref(rep);
    return res;
}

static void print_json(json_t *v)
{
    char *s = json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY);
    if (s)
        puts(s);
    free(s);
}

static uint64_t u64(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v) : 0;
}

static const char *str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static void human_size(uint64_t b, char *buf, size_t len)
{
    static const char units[] = "BKMGTP";
    double v = (double)b;
    unsigned u = 0;
    while (v >= 1024 && u < 5) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, len, "%lluB", (unsigned long long)b);
    else
        snprintf(buf, len, "%.*f%c", v < 10 && v != (double)(uint64_t)v ? 1 : 0, v, units[u]);
}

static double pct(uint64_t part, uint64_t whole)
{
    return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

/* One line of counters as key=value, named as in --json so the README's
 * names find them: lead, then keys[0..always) and the later ones that are
 * not 0 (too many for a table; rare ones would only hide the rest).
 * keys ends with NULL; nothing is printed when no key is. */
static void print_counters(const char *lead, json_t *o, const char *const *keys, size_t always)
{
    bool any = false;
    for (size_t i = 0; keys[i]; i++) {
        uint64_t v = u64(o, keys[i]);
        if (i >= always && !v)
            continue;
        printf("%s%s=%llu", any ? " " : lead, keys[i], (unsigned long long)v);
        any = true;
    }
    if (any)
        printf("\n");
}

#define TEXT_WIDTH 100

/* The scalar members of o as key=value, after lead (skip: a key left out),
 * folded at TEXT_WIDTH columns under lead's indentation plus 4 (a meter's
 * stage ran to 150 columns). */
static void print_scalars(const char *lead, json_t *o, const char *skip)
{
    const char *k;
    json_t *v;
    int ind = (int)strspn(lead, " ") + 4, col = printf("%s", lead);
    json_object_foreach(o, k, v) {
        if (skip && strcmp(k, skip) == 0)
            continue;
        char item[512];
        if (json_is_integer(v))
            snprintf(item, sizeof(item), "%s=%lld", k, (long long)json_integer_value(v));
        else if (json_is_real(v))
            snprintf(item, sizeof(item), "%s=%.1f", k, json_real_value(v));
        else if (json_is_string(v))
            snprintf(item, sizeof(item), "%s=%s", k, json_string_value(v));
        else if (json_is_boolean(v))
            snprintf(item, sizeof(item), "%s=%s", k, json_is_true(v) ? "on" : "off");
        else
            continue;
        if (col > ind && col + 1 + (int)strlen(item) > TEXT_WIDTH)
            col = printf("\n%*s", ind, "") - 1;
        col += printf(" %s", item);
    }
    printf("\n");
}

/* The meter's log2 histogram (bucket i: 2^i to 2^(i+1) us), its nonzero
 * buckets only. */
static void print_histogram(const char *indent, json_t *hist)
{
    size_t i;
    json_t *n;
    printf("%s  latency_us:", indent);
    json_array_foreach(hist, i, n) {
        if (json_integer_value(n) > 0)
            printf(" %llu-%llu:%lld", i ? 1ull << i : 0ull, 2ull << i,
                   (long long)json_integer_value(n));
    }
    printf("\n");
}

/* A device's, export's or port's interposition stages, a line each with
 * its counters (a filter's rules and a meter's histogram on lines below). */
static void print_stages(const char *indent, json_t *stages)
{
    size_t i, j;
    json_t *st, *rule;
    json_array_foreach(stages, i, st) {
        char lead[64];
        snprintf(lead, sizeof(lead), "%sstage %zu %s:", indent, i + 1, str(st, "type"));
        print_scalars(lead, st, "type");
        json_array_foreach(json_object_get(st, "rules"), j, rule) {
            snprintf(lead, sizeof(lead), "%s  rule %zu:", indent, j + 1);
            print_scalars(lead, rule, NULL);
        }
        if (json_array_size(json_object_get(st, "lat_hist_log2_us")))
            print_histogram(indent, json_object_get(st, "lat_hist_log2_us"));
    }
}

/* A created device: where it listens and the QEMU line that attaches a
 * guest to it (the daemon formats it, as it does at start-up). */
static void print_created(json_t *r, const char *name)
{
    if (g_json) {
        print_json(r);
    } else {
        printf("created %s on %s\n", name, str(r, "socket"));
        const char *q = json_string_value(json_object_get(r, "qemu"));
        if (q)
            printf("attach a guest with:\n  %s\n", q);
    }
    json_decref(r);
}

/* A path as the user means it: relative to our working directory, which
 * the daemon does not share (it refuses relative paths). */
static json_t *path_arg(const char *p)
{
    if (p[0] == '/' || !p[0])
        return json_string(p);
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof(cwd)))
        die("cannot make %s absolute: getcwd: %s", p, strerror(errno));
    char *abs;
    if (asprintf(&abs, "%s/%s", cwd, p) < 0)
        die("out of memory");
    json_t *j = json_string(abs);
    free(abs);
    return j;
}

/* A value option given twice is refused, as sidecored --blk refuses a key
 * given twice: the last one silently winning hides a typo. */
static const char *once(const char *have, const char *opt, const char *val)
{
    if (have)
        die_usage("create-blk: %s given twice", opt);
    return val;
}

static void cmd_create(int argc, char **argv)
{
    if (argc < 2 || argv[1][0] == '-')
        die_usage("create-blk: a device NAME comes first");
    const char *socket = NULL, *backend = NULL, *path = NULL, *size = NULL, *mtu = NULL;
    const char *server = NULL, *export = NULL, *fallback = NULL, *failover = NULL, *timeout = NULL;
    bool read_only = false, client = false, direct = false, shared = false;
    const char *queues = NULL, *serial = NULL;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--read-only") == 0) {
            read_only = true;
        } else if (strcmp(a, "--client") == 0) {
            client = true;
        } else if (strcmp(a, "--direct") == 0) {
            direct = true;
        } else if (strcmp(a, "--shared") == 0) {
            shared = true;
        } else if (i + 1 >= argc) {
            die_usage("create-blk: %s needs a value (or is unknown)", a);
        } else if (strcmp(a, "--socket") == 0) {
            socket = once(socket, a, argv[++i]);
        } else if (strcmp(a, "--serial") == 0) {
            serial = once(serial, a, argv[++i]);
        } else if (strcmp(a, "--backend") == 0) {
            backend = once(backend, a, argv[++i]);
        } else if (strcmp(a, "--path") == 0) {
            path = once(path, a, argv[++i]);
        } else if (strcmp(a, "--size") == 0) {
            size = once(size, a, argv[++i]);
        } else if (strcmp(a, "--server") == 0) {
            server = once(server, a, argv[++i]);
        } else if (strcmp(a, "--export") == 0) {
            export = once(export, a, argv[++i]);
        } else if (strcmp(a, "--fallback") == 0) {
            fallback = once(fallback, a, argv[++i]);
        } else if (strcmp(a, "--failover-ms") == 0) {
            failover = once(failover, a, argv[++i]);
        } else if (strcmp(a, "--timeout-ms") == 0) {
            timeout = once(timeout, a, argv[++i]);
        } else if (strcmp(a, "--mtu") == 0) {
            mtu = once(mtu, a, argv[++i]);
        } else if (strcmp(a, "--queues") == 0) {
            queues = once(queues, a, argv[++i]);
            char *end;
            strtol(queues, &end, 10);
            if (!*queues || *end)
                die_usage("create-blk: --queues expects a number, got \"%s\"", queues);
        } else {
            die_usage("create-blk: unknown option %s", a);
        }
    }
    if (!backend)
        backend = "null";
    bool remote = strcmp(backend, "remote") == 0;
    if (remote != (server || export || fallback || failover || timeout || mtu))
        die_usage(remote ? "create-blk: --backend remote needs --server and --export"
                         : "create-blk: --server, --export, --fallback, --failover-ms, "
                           "--timeout-ms and --mtu are for --backend remote");
    json_t *be = json_pack("{s:s}", "type", backend);
    if (remote) {
        if (!server || !export)
            die_usage("create-blk: --backend remote needs --server and --export");
        json_object_set_new(be, "server", json_string(server));
        json_object_set_new(be, "device", json_string(export));
        if (fallback)
            json_object_set_new(be, "fallback",
                                json_pack("{s:s,s:o}", "type", "file", "path", path_arg(fallback)));
        const char *num_arg[3] = {failover, timeout, mtu};
        const char *num_key[3] = {"failover_ms", "timeout_ms", "mtu"};
        const char *num_opt[3] = {"failover-ms", "timeout-ms", "mtu"};
        for (int k = 0; k < 3; k++) {
            if (!num_arg[k])
                continue;
            char *end;
            long v = strtol(num_arg[k], &end, 10);
            if (!*num_arg[k] || *end || v <= 0)
                die_usage("create-blk: --%s expects a positive number, got \"%s\"", num_opt[k],
                          num_arg[k]);
            json_object_set_new(be, num_key[k], json_integer(v));
        }
    }
    if (path)
        json_object_set_new(be, "path", path_arg(path));
    if (direct)
        json_object_set_new(be, "direct", json_true());
    if (shared)
        json_object_set_new(be, "shared", json_true());
    if (size) {
        char *end;
        unsigned long long n = strtoull(size, &end, 10);
        /* Plain numbers go as numbers; "1G" is parsed by the daemon. */
        json_object_set_new(be, "size", *size && !*end ? json_integer((json_int_t)n)
                                                       : json_string(size));
    }
    json_t *dev = json_pack("{s:s,s:s,s:o}", "name", argv[1], "type", "blk", "backend", be);
    if (socket)
        json_object_set_new(dev, "socket", path_arg(socket));
    if (serial)
        json_object_set_new(dev, "serial", json_string(serial));
    if (queues)
        json_object_set_new(dev, "queues", json_integer(strtol(queues, NULL, 10)));
    if (read_only)
        json_object_set_new(dev, "read_only", json_true());
    if (client)
        json_object_set_new(dev, "client", json_true());
    print_created(call("device_create", dev), argv[1]);
}

static void cmd_delete(int argc, char **argv)
{
    if (argc != 2)
        die_usage("delete: expected exactly one device NAME");
    json_t *r = call("device_delete", json_pack("{s:s}", "name", argv[1]));
    if (g_json)
        print_json(r);
    else
        printf("deleted %s\n", argv[1]);
    json_decref(r);
}

static void cmd_export_resize(int argc, char **argv)
{
    if (argc != 3)
        die_usage("export-resize: expected an export NAME and its new SIZE (bytes, or like 2G)");
    json_t *r = call("export_resize", json_pack("{s:s,s:s}", "name", argv[1], "size", argv[2]));
    if (g_json) {
        print_json(r);
    } else {
        char size[16];
        human_size(u64(r, "size"), size, sizeof(size));
        printf("resized export %s to %s (%llu bytes); now resize its devices on the vmhosts "
               "(sidecorectl resize DEVICE %llu)\n", argv[1], size,
               (unsigned long long)u64(r, "size"), (unsigned long long)u64(r, "size"));
    }
    json_decref(r);
}

static void cmd_resize(int argc, char **argv)
{
    if (argc != 3)
        die_usage("resize: expected a device NAME and its new SIZE (bytes, or like 2G)");
    json_t *r = call("device_resize", json_pack("{s:s,s:s}", "name", argv[1], "size", argv[2]));
    if (g_json) {
        print_json(r);
    } else {
        char size[16];
        human_size(u64(r, "size"), size, sizeof(size));
        printf("resized %s to %s (%llu bytes); %s\n", argv[1], size,
               (unsigned long long)u64(r, "size"),
               json_is_true(json_object_get(r, "frontend_told"))
                   ? "the frontend was told (CONFIG_CHANGE_MSG)"
                   : "no frontend with a backend channel is connected: the driver sees the new "
                     "size when it reads the config again");
    }
    json_decref(r);
}

/* VPRI counters of the queues that have them (the device negotiated VPRI). */
static void print_vpri(json_t *queues)
{
    size_t i;
    json_t *q;
    bool head = false;
    json_array_foreach(queues, i, q) {
        json_t *v = json_object_get(q, "vpri");
        if (!v)
            continue;
        if (!head) {
            printf("  %-20s %10s %7s %10s %12s %9s %9s %12s\n", "VPRI QUEUE", "FAULTS",
                   "PARKED", "RESUMED", "LOOKUPS", "DROPPED", "RING_FULL", "MEAN_WAIT_US");
            head = true;
        }
        printf("  %-20s %10llu %7llu %10llu %12llu %9llu %9llu %12.1f\n", str(q, "name"),
               (unsigned long long)u64(v, "faults"), (unsigned long long)u64(v, "parked"),
               (unsigned long long)u64(v, "resumed"), (unsigned long long)u64(v, "lookups"),
               (unsigned long long)u64(v, "dropped"), (unsigned long long)u64(v, "ring_full"),
               json_number_value(json_object_get(v, "mean_wait_us")));
    }
}

static void print_port_header(void)
{
    printf("  %-20s %-6s %-17s %12s %10s %12s %10s %10s\n", "PORT", "TYPE", "MAC", "TX_PKTS",
           "TX_BYTES", "RX_PKTS", "RX_BYTES", "DROPS");
}

static void print_port(json_t *p)
{
    char tb[16], rb[16];
    human_size(u64(p, "tx_bytes"), tb, sizeof(tb));
    human_size(u64(p, "rx_bytes"), rb, sizeof(rb));
    printf("  %-20s %-6s %-17s %12llu %10s %12llu %10s %10llu\n", str(p, "name"), str(p, "type"),
           str(p, "mac"), (unsigned long long)u64(p, "tx_packets"), tb,
           (unsigned long long)u64(p, "rx_packets"), rb,
           (unsigned long long)u64(p, "drops_total"));
    const char *why;
    json_t *n;
    bool any = false;
    json_object_foreach(json_object_get(p, "drops"), why, n) {
        if (json_integer_value(n) > 0) {
            printf("%s%s=%lld", any ? " " : "    drops: ", why, (long long)json_integer_value(n));
            any = true;
        }
    }
    if (any)
        printf("\n");
    if (*str(p, "ifname"))
        printf("    interface %s\n", str(p, "ifname"));
    if (*str(p, "error"))
        printf("    stopped: %s\n", str(p, "error"));
    size_t i;
    json_t *q;
    json_array_foreach(json_object_get(p, "host_queues"), i, q) {
        char label[32];
        human_size(u64(q, "tx_bytes"), tb, sizeof(tb));
        human_size(u64(q, "rx_bytes"), rb, sizeof(rb));
        snprintf(label, sizeof(label), "host queue %zu", i);
        printf("    %-18s %-6s %-17s %12llu %10s %12llu %10s\n", label, "", "",
               (unsigned long long)u64(q, "tx_packets"), tb,
               (unsigned long long)u64(q, "rx_packets"), rb);
    }
    print_stages("    ", json_object_get(p, "interpose"));
}

static void print_net_table(json_t *r)
{
    printf("%-16s %6s %-17s %5s %-14s %-10s %s\n", "NAME", "PAIRS", "MAC", "MTU", "LINK",
           "STATUS", "SOCKET");
    size_t i;
    json_t *d;
    json_array_foreach(r, i, d) {
        char link[40];
        if (*str(d, "switch"))
            snprintf(link, sizeof(link), "switch %s", str(d, "switch"));
        else if (*str(d, "server"))
            snprintf(link, sizeof(link), "remote %s", str(d, "remote_switch"));
        else
            snprintf(link, sizeof(link), "sink%s", u64(d, "source_size") ? "+source" : "");
        printf("%-16s %6llu %-17s %5llu %-14s %-10s %s\n", str(d, "name"),
               (unsigned long long)u64(d, "queues"), str(d, "mac"),
               (unsigned long long)u64(d, "mtu"), link, str(d, "status"), str(d, "socket"));
        if (*str(d, "connect_error"))
            printf("%-16s   %s\n", "", str(d, "connect_error"));
        else if (*str(d, "why"))
            printf("%-16s   failed %llu time(s), last: %s\n", "",
                   (unsigned long long)u64(d, "failures"), str(d, "why"));
    }
}

static void print_net_stats(json_t *s)
{
    printf("%s: %s%s%s, features %s, %llu/%llu queue pair(s) active, promisc %s, allmulti %s\n",
           str(s, "name"), str(s, "status"), *str(s, "why") ? ": " : "", str(s, "why"),
           str(s, "features"), (unsigned long long)u64(s, "active_pairs"),
           (unsigned long long)u64(s, "queue_pairs"),
           json_is_true(json_object_get(s, "promisc")) ? "on" : "off",
           json_is_true(json_object_get(s, "allmulti")) ? "on" : "off");
    static const char *const counters[] = {"announced", "steered_flows", "ctrl_ok", "ctrl_err",
                                           NULL};
    print_counters("  ", s, counters, 4);
    print_port_header();
    print_port(json_object_get(s, "port"));
    if (json_object_get(s, "sink"))
        print_port(json_object_get(s, "sink"));
    printf("  %-20s %-4s %12s %10s %10s %10s %10s %12s\n", "QUEUE", "ON", "PACKETS", "BYTES",
           "KICKS", "NOTIFIES", "BUSY_MS", "POLLS");
    size_t i;
    json_t *q;
    json_array_foreach(json_object_get(s, "queues"), i, q) {
        char bytes[16];
        human_size(u64(q, "bytes"), bytes, sizeof(bytes));
        printf("  %-20s %-4s %12llu %10s %10llu %10llu %10.1f %12llu\n", str(q, "name"),
               json_is_true(json_object_get(q, "started")) ? "yes" : "no",
               (unsigned long long)u64(q, "packets"), bytes, (unsigned long long)u64(q, "kicks"),
               (unsigned long long)u64(q, "notifies"), (double)u64(q, "busy_ns") / 1e6,
               (unsigned long long)u64(q, "polls"));
    }
    print_vpri(json_object_get(s, "queues"));
}


/* The text views show net devices after the blk ones (--json keeps each
 * method's own answer: device_list and device_stats are blk only). */
static void cmd_list(void)
{
    json_t *r = call("device_list", NULL);
    if (g_json) {
        print_json(r);
        json_decref(r);
        return;
    }
    json_t *nets = call("net_list", NULL);
    if (json_array_size(r) == 0 && json_array_size(nets) > 0)
        goto net;
    printf("%-16s %-5s %7s %6s %-3s %-7s %-10s %s\n", "NAME", "BACK", "SIZE", "QUEUES", "RO",
           "MODE", "STATUS", "SOCKET");
    size_t i;
    json_t *d;
    json_array_foreach(r, i, d) {
        json_t *be = json_object_get(d, "backend");
        char size[16];
        human_size(u64(be, "size"), size, sizeof(size));
        printf("%-16s %-5s %7s %6llu %-3s %-7s %-10s %s\n", str(d, "name"), str(be, "type"), size,
               (unsigned long long)u64(d, "queues"),
               json_is_true(json_object_get(d, "read_only")) ? "yes" : "no",
               json_is_true(json_object_get(d, "client")) ? "client" : "server",
               str(d, "status"), str(d, "socket"));
        if (strcmp(str(be, "type"), "file") == 0)
            printf("%-16s   file %s%s\n", "", str(be, "path"),
                   json_is_true(json_object_get(be, "direct")) ? " (O_DIRECT)" : "");
        if (json_array_size(json_object_get(d, "interpose"))) {
            char *st = json_dumps(json_object_get(d, "interpose"), JSON_COMPACT);
            printf("%-16s   stages %s\n", "", st ? st : "(out of memory)");
            free(st);
        }
        if (*str(d, "connect_error"))
            printf("%-16s   %s\n", "", str(d, "connect_error"));
        else if (*str(d, "why"))
            printf("%-16s   %s %llu time(s), last: %s\n", "",
                   json_is_true(json_object_get(d, "failed")) ? "failed now," : "failed",
                   (unsigned long long)u64(d, "failures"), str(d, "why"));
        if (json_is_integer(json_object_get(d, "stopping_ms")))
            printf("%-16s   stopping: the frontend's last message waits %llu ms for requests "
                   "in flight\n", "", (unsigned long long)u64(d, "stopping_ms"));
    }
    if (json_array_size(r) == 0)
        printf("(no devices)\n");
    else if (json_array_size(nets) > 0)
        printf("\n");
net:
    if (json_array_size(nets) > 0)
        print_net_table(nets);
    json_decref(nets);
    json_decref(r);
}


/* How long ago the iohost last answered: "never" when it has not. */
static const char *rx_age(json_t *d, char *buf, size_t len)
{
    json_t *v = json_object_get(d, "last_rx_ms");
    json_int_t ms = json_is_integer(v) ? json_integer_value(v) : -1;
    if (ms < 0)
        snprintf(buf, len, "never");
    else if (ms < 10000)
        snprintf(buf, len, "%lldms", (long long)ms);
    else
        snprintf(buf, len, "%llds", (long long)(ms / 1000));
    return buf;
}

/* The columns of `peers`, indented by ind (also under a remote device's stats). */
static void print_peer_head(const char *ind)
{
    printf("%s%-16s %-22s %-12s %8s %8s %7s %10s %9s %9s %8s\n", ind, "DEVICE", "IOHOST", "STATE",
           "RTT_US", "INFLIGHT", "QUEUED", "RETRANSMIT", "FAILOVERS", "RECONNECT", "LAST_RX");
}

static void print_peer(const char *ind, json_t *d)
{
    static const char *const more[] = {"requests", "cwnd_bytes", "cwnd_cuts", "on_fallback",
                                       "fallback_requests", "failed_requests", "stale_resends",
                                       NULL};
    char age[24];
    printf("%s%-16s %-22s %-12s %8llu %8llu %7llu %10llu %9llu %9llu %8s\n", ind, str(d, "device"),
           str(d, "server"), str(d, "state"), (unsigned long long)u64(d, "rtt_us"),
           (unsigned long long)u64(d, "in_flight"), (unsigned long long)u64(d, "queued"),
           (unsigned long long)u64(d, "retransmits"), (unsigned long long)u64(d, "failovers"),
           (unsigned long long)u64(d, "reconnects"), rx_age(d, age, sizeof(age)));
    char lead[96];
    snprintf(lead, sizeof(lead), "%s  export %s: ", ind, str(d, "export"));
    print_counters(lead, d, more, 3);
}

static void print_stats(json_t *s)
{
    printf("%s: %s%s%s, errors ioerr=%llu unsupp=%llu\n", str(s, "name"), str(s, "status"),
           *str(s, "why") ? ": " : "", str(s, "why"),
           (unsigned long long)u64(json_object_get(s, "errors"), "ioerr"),
           (unsigned long long)u64(json_object_get(s, "errors"), "unsupp"));
    printf("  %-20s %12s %10s %10s %10s %10s %12s\n", "QUEUE", "REQUESTS", "BYTES", "KICKS",
           "NOTIFIES", "BUSY_MS", "POLLS");
    size_t i;
    json_t *q;
    json_array_foreach(json_object_get(s, "queues"), i, q) {
        char bytes[16];
        human_size(u64(q, "bytes"), bytes, sizeof(bytes));
        printf("  %-20s %12llu %10s %10llu %10llu %10.1f %12llu\n", str(q, "name"),
               (unsigned long long)u64(q, "requests"), bytes, (unsigned long long)u64(q, "kicks"),
               (unsigned long long)u64(q, "notifies"), (double)u64(q, "busy_ns") / 1e6,
               (unsigned long long)u64(q, "polls"));
    }
    print_vpri(json_object_get(s, "queues"));
    print_stages("  ", json_object_get(s, "interpose"));
    json_t *remote = json_object_get(s, "remote");
    if (remote) {
        print_peer_head("  ");
        print_peer("  ", remote);
    }
}

/* Stats of every device (name NULL) or one. */
static json_t *collect_stats(const char *name)
{
    json_t *all = json_array();
    if (name) {
        json_array_append_new(all, call("device_stats", json_pack("{s:s}", "name", name)));
        return all;
    }
    json_t *list = call("device_list", NULL);
    size_t i;
    json_t *d;
    json_array_foreach(list, i, d) {
        json_array_append_new(all,
                              call("device_stats", json_pack("{s:s}", "name", str(d, "name"))));
    }
    json_decref(list);
    return all;
}

static void cmd_stats(int argc, char **argv)
{
    if (argc > 2)
        die_usage("stats: expected at most one device NAME");
    json_t *all = collect_stats(argc == 2 ? argv[1] : NULL);
    if (g_json) {
        print_json(argc == 2 ? json_array_get(all, 0) : all);
    } else {
        size_t i;
        json_t *s;
        json_array_foreach(all, i, s) print_stats(s);
        size_t nn = 0;
        if (argc == 1) {
            json_t *nets = call("net_list", NULL);
            json_t *d;
            json_array_foreach(nets, i, d) {
                json_t *ns = call("net_stats", json_pack("{s:s}", "name", str(d, "name")));
                print_net_stats(ns);
                json_decref(ns);
            }
            nn = json_array_size(nets);
            json_decref(nets);
        }
        if (json_array_size(all) == 0 && nn == 0)
            printf("(no devices)\n");
    }
    json_decref(all);
}

static void cmd_sidecores(void)
{
    json_t *r = call("sidecore_stats", NULL);
    if (g_json) {
        print_json(r);
        json_decref(r);
        return;
    }
    printf("%-3s %4s %6s %12s %6s %6s %6s %9s %9s %12s %12s\n", "ID", "CPU", "QUEUES", "ROUNDS",
           "BUSY%", "IDLE%", "SLEEP%", "SLEEPS", "WAKEUPS", "REQUESTS", "YIELDS");
    size_t i;
    json_t *c;
    json_array_foreach(r, i, c) {
        uint64_t b = u64(c, "busy_ns"), id = u64(c, "idle_ns"), sl = u64(c, "sleep_ns");
        uint64_t tot = b + id + sl;
        json_t *cpu = json_object_get(c, "cpu");
        char cpus[24];
        if (json_integer_value(cpu) < 0)
            snprintf(cpus, sizeof(cpus), "-");
        else
            snprintf(cpus, sizeof(cpus), "%lld", (long long)json_integer_value(cpu));
        printf("%-3llu %4s %6llu %12llu %6.1f %6.1f %6.1f %9llu %9llu %12llu %12llu\n",
               (unsigned long long)u64(c, "id"), cpus, (unsigned long long)u64(c, "queues"),
               (unsigned long long)u64(c, "rounds"), pct(b, tot), pct(id, tot), pct(sl, tot),
               (unsigned long long)u64(c, "sleeps"), (unsigned long long)u64(c, "wakeups"),
               (unsigned long long)u64(c, "requests"), (unsigned long long)u64(c, "yields"));
    }
    json_decref(r);
}

static void cmd_info(void)
{
    json_t *r = call("daemon_info", NULL);
    if (g_json) {
        print_json(r);
    } else {
        printf("sidecored %s, pid %llu, %llu sidecore(s) in %s mode, %llu device(s) (%llu blk, "
               "%llu net), up %llu s\n",
               str(r, "version"), (unsigned long long)u64(r, "pid"),
               (unsigned long long)u64(r, "sidecores"), str(r, "mode"),
               (unsigned long long)(u64(r, "devices") + u64(r, "net_devices")),
               (unsigned long long)u64(r, "devices"), (unsigned long long)u64(r, "net_devices"),
               (unsigned long long)u64(r, "uptime_s"));
    }
    json_decref(r);
}

/* NAME KEY=VAL ... -> {"<name_key>": NAME, KEY: "VAL", ...}; the daemon
 * parses the values (numbers and on/off may come as strings). */
static json_t *kv_params(const char *cmd, const char *name_key, int argc, char **argv, int first)
{
    json_t *o = json_object();
    for (int i = first; i < argc; i++) {
        const char *eq = strchr(argv[i], '=');
        if (!eq || eq == argv[i])
            die_usage("%s: expected KEY=VAL, got \"%s\"", cmd, argv[i]);
        char key[64];
        snprintf(key, sizeof(key), "%.*s", (int)(eq - argv[i]), argv[i]);
        if (json_object_get(o, key))
            die_usage("%s: %s given twice", cmd, key);
        bool is_path = !strcmp(key, "socket") || !strcmp(key, "path") ||
                       !strcmp(key, "fallback");
        json_object_set_new(o, key, is_path ? path_arg(eq + 1) : json_string(eq + 1));
    }
    if (name_key)
        json_object_set_new(o, name_key, json_string(argv[first - 1]));
    return o;
}

static void print_or(json_t *r, const char *fmt, const char *a, const char *b)
{
    if (g_json)
        print_json(r);
    else
        printf(fmt, a, b);
    json_decref(r);
}

static void cmd_net_create(int argc, char **argv)
{
    if (argc < 2 || strchr(argv[1], '='))
        die_usage("net-create: a device NAME comes first");
    print_created(call("net_create", kv_params("net-create", "name", argc, argv, 2)), argv[1]);
}

static void cmd_named(const char *cmd, const char *method, const char *what, int argc,
                      char **argv)
{
    if (argc != 2)
        die_usage("%s: expected exactly one %s NAME", cmd, what);
    json_t *r = call(method, json_pack("{s:s}", "name", argv[1]));
    print_or(r, "deleted %s%s\n", argv[1], "");
}

static void cmd_peers(int argc, char **argv)
{
    bool probe = argc == 2 && strcmp(argv[1], "--probe") == 0;
    if (argc > 2 || (argc == 2 && !probe))
        die_usage("peers: expected no argument or --probe");
    json_t *r = call("remote_peers", probe ? json_pack("{s:b}", "probe", 1) : NULL);
    if (g_json) {
        print_json(r);
        json_decref(r);
        return;
    }
    print_peer_head("");
    size_t i;
    json_t *d;
    json_array_foreach(r, i, d) {
        print_peer("", d);
        json_t *pr = json_object_get(d, "probe");
        if (json_is_true(json_object_get(pr, "answered")) && !json_object_get(pr, "error"))
            printf("  probe: answered in %llu us\n", (unsigned long long)u64(pr, "rtt_us"));
        else if (pr)
            printf("  probe: %s\n", str(pr, "error"));
    }
    if (json_array_size(r) == 0)
        printf("(no remote devices)\n");
    json_decref(r);
}

static void peer_row(json_t *d, const char *name, const char *where, const char *state,
                     uint64_t out_pk, uint64_t in_pk)
{
    json_t *path = json_object_get(d, "path");
    printf("%-24s %-22s %-12s %8llu %10llu %10llu %8llu %8llu\n", name, where, state,
           (unsigned long long)u64(d, "rtt_us"), (unsigned long long)out_pk,
           (unsigned long long)in_pk, (unsigned long long)u64(path, "drops_total"),
           (unsigned long long)u64(json_object_get(path, "drops"), "lost"));
}

static void cmd_net_peers(void)
{
    json_t *r = call("net_peers", NULL);
    if (g_json) {
        print_json(r);
        json_decref(r);
        return;
    }
    printf("%-24s %-22s %-12s %8s %10s %10s %8s %8s\n", "TUNNEL/PEER", "IOHOST/VMHOST", "STATE",
           "RTT_US", "OUT_PKTS", "IN_PKTS", "DROPS", "LOST");
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(r, "tunnels"), i, d)
        peer_row(d, str(d, "name"), str(d, "server"), str(d, "state"),
                 u64(d, "to_iohost_packets"), u64(d, "from_iohost_packets"));
    json_t *l = json_object_get(r, "listener");
    json_array_foreach(json_object_get(l, "peers"), i, d)
        peer_row(d, str(d, "name"), str(d, "address"),
                 json_is_true(json_object_get(d, "connected")) ? "connected" : "silent",
                 u64(d, "to_vmhost_packets"), u64(d, "from_vmhost_packets"));
    if (json_array_size(json_object_get(r, "tunnels")) == 0 &&
        json_array_size(json_object_get(l, "peers")) == 0)
        printf("(no remote net devices or peers)\n");
    json_decref(r);
}

static void cmd_exports(void)
{
    json_t *r = call("export_list", NULL);
    if (g_json) {
        print_json(r);
        json_decref(r);
        return;
    }
    static const char *const whole[] = {"sessions_refused", "unknown_export_requests",
                                        "malformed_datagrams", NULL};
    static const char *const each[] = {
        "partial_writes_expired", "writes_dropped_for_memory", "partial_writes_reclaimed",
        "partial_writes_nacked", "stale_refused", "reads_repeated", "answers_resent", NULL};
    printf("iohost on %s, %llu socket(s), %llu session(s)\n", str(r, "listen"),
           (unsigned long long)u64(r, "sockets"), (unsigned long long)u64(r, "sessions"));
    print_counters("  ", r, whole, 3);
    printf("%-16s %10s %12s %12s %8s %8s %8s\n", "EXPORT", "REQUESTS", "READ", "WRITTEN",
           "ERRORS", "DUP_WR", "STAGES");
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(r, "exports"), i, e) {
        char rd[32], wr[32];
        human_size(u64(e, "bytes_read"), rd, sizeof(rd));
        human_size(u64(e, "bytes_written"), wr, sizeof(wr));
        printf("%-16s %10llu %12s %12s %8llu %8llu %8zu\n", str(e, "name"),
               (unsigned long long)u64(e, "requests"), rd, wr,
               (unsigned long long)u64(e, "errors"), (unsigned long long)u64(e, "duplicate_writes"),
               json_array_size(json_object_get(e, "interpose")));
        print_counters("  ", e, each, 2);
        print_stages("  ", json_object_get(e, "interpose"));
    }
    json_decref(r);
}

static void cmd_export_create(int argc, char **argv)
{
    if (argc != 2)
        die_usage("export-create: expected one JSON export object");
    json_error_t je;
    json_t *e = json_loads(argv[1], 0, &je);
    if (!e)
        die_usage("export-create: not JSON: %s", je.text);
    json_t *r = call("export_create", e);
    print_or(r, "exported %s%s\n", str(r, "name"), "");
}

static void cmd_interpose(int argc, char **argv)
{
    if (argc != 3)
        die_usage("interpose: expected NAME and a JSON array of stages");
    json_error_t je;
    json_t *stages = json_loads(argv[2], 0, &je);
    if (!stages)
        die_usage("interpose: the stages are not JSON: %s", je.text);
    json_t *r = call("interpose_set", json_pack("{s:s,s:o}", "device", argv[1], "stages",
                                                stages));
    print_or(r, "stages of %s set%s\n", argv[1], "");
}

static void cmd_net_list(void)
{
    json_t *r = call("net_list", NULL);
    if (g_json)
        print_json(r);
    else if (json_array_size(r) == 0)
        printf("(no net devices)\n");
    else
        print_net_table(r);
    json_decref(r);
}


static void cmd_net_stats(int argc, char **argv)
{
    if (argc != 2)
        die_usage("net-stats: expected exactly one net device NAME");
    json_t *s = call("net_stats", json_pack("{s:s}", "name", argv[1]));
    if (g_json)
        print_json(s);
    else
        print_net_stats(s);
    json_decref(s);
}

static void cmd_switch_create(int argc, char **argv)
{
    if (argc < 2 || strchr(argv[1], '='))
        die_usage("switch-create: a switch NAME comes first");
    json_t *r = call("switch_create", kv_params("switch-create", "name", argc, argv, 2));
    print_or(r, "created switch %s%s\n", argv[1], "");
}

static void cmd_switch_list(void)
{
    json_t *r = call("switch_list", NULL);
    if (g_json) {
        print_json(r);
        json_decref(r);
        return;
    }
    printf("%-16s %6s %8s %10s %8s\n", "NAME", "PORTS", "MACS", "MAC_TABLE", "AGING_S");
    size_t i;
    json_t *d;
    json_array_foreach(r, i, d) {
        printf("%-16s %6llu %8llu %10llu %8llu\n", str(d, "name"),
               (unsigned long long)u64(d, "ports"), (unsigned long long)u64(d, "macs"),
               (unsigned long long)u64(d, "mac_table"), (unsigned long long)u64(d, "aging"));
    }
    if (json_array_size(r) == 0)
        printf("(no switches)\n");
    json_decref(r);
}

static void cmd_switch_stats(int argc, char **argv)
{
    if (argc != 2)
        die_usage("switch-stats: expected exactly one switch NAME");
    json_t *s = call("switch_stats", json_pack("{s:s}", "name", argv[1]));
    if (g_json) {
        print_json(s);
        json_decref(s);
        return;
    }
    printf("%s: %llu/%llu MAC entries (aging %llu s), flooded %llu (unknown unicast %llu), "
           "hairpin drops %llu\n",
           str(s, "name"), (unsigned long long)u64(s, "macs"),
           (unsigned long long)u64(s, "mac_capacity"), (unsigned long long)u64(s, "aging"),
           (unsigned long long)u64(s, "flooded"), (unsigned long long)u64(s, "unknown"),
           (unsigned long long)u64(s, "hairpin"));
    print_port_header();
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(s, "ports"), i, p) print_port(p);
    json_decref(s);
}

static void cmd_port_add(int argc, char **argv)
{
    if (argc < 3 || strchr(argv[1], '=') || strchr(argv[2], '='))
        die_usage("port-add: SWITCH and port NAME come first");
    json_t *o = kv_params("port-add", "name", argc, argv, 3);
    json_object_set_new(o, "switch", json_string(argv[1]));
    json_t *r = call("switch_port_add", o);
    print_or(r, "added port %s to %s\n", argv[2], argv[1]);
}

static void cmd_port_delete(int argc, char **argv)
{
    if (argc != 3)
        die_usage("port-delete: expected SWITCH and port NAME");
    json_t *r = call("switch_port_delete",
                     json_pack("{s:s,s:s}", "switch", argv[1], "name", argv[2]));
    print_or(r, "deleted port %s from %s\n", argv[2], argv[1]);
}

struct sample {
    uint64_t t_ms;
    json_t *devs;  /* array of device_stats results */
    json_t *cores; /* sidecore_stats result */
};

static void take_sample(struct sample *s)
{
    s->devs = collect_stats(NULL);
    s->cores = call("sidecore_stats", NULL);
    s->t_ms = now_ms();
}

static json_t *find_named(json_t *arr, const char *key, json_t *val)
{
    size_t i;
    json_t *o;
    json_array_foreach(arr, i, o) {
        if (json_equal(json_object_get(o, key), val))
            return o;
    }
    return NULL;
}

static double rate(json_t *a, json_t *b, const char *key, double secs)
{
    uint64_t x = a ? u64(a, key) : 0, y = u64(b, key);
    return y >= x && secs > 0 ? (double)(y - x) / secs : 0.0;
}

/* A sidecore's times are read at the daemon's sampled_ns: over that interval
 * they add up to 100%, whatever the RPCs' own delays (a daemon without it:
 * ours). */
static double core_secs(json_t *a, json_t *b, double secs)
{
    uint64_t x = a ? u64(a, "sampled_ns") : 0, y = u64(b, "sampled_ns");
    return x && y > x ? (double)(y - x) / 1e9 : secs;
}

/* Rates between two samples: devices queue by queue, then the sidecores. */
static json_t *top_rates(const struct sample *a, const struct sample *b)
{
    double secs = (double)(b->t_ms - a->t_ms) / 1000.0;
    json_t *queues = json_array(), *cores = json_array();
    size_t i, j;
    json_t *d, *q;
    json_array_foreach(b->devs, i, d) {
        json_t *da = find_named(a->devs, "name", json_object_get(d, "name"));
        json_array_foreach(json_object_get(d, "queues"), j, q) {
            json_t *qa = da ? find_named(json_object_get(da, "queues"), "index",
                                         json_object_get(q, "index"))
                            : NULL;
            json_array_append_new(
                queues,
                json_pack("{s:s,s:s,s:f,s:f,s:f,s:f,s:f}", "name", str(q, "name"), "status",
                          str(d, "status"), "iops", rate(qa, q, "requests", secs), "bytes_s",
                          rate(qa, q, "bytes", secs), "kicks_s", rate(qa, q, "kicks", secs),
                          "notifies_s", rate(qa, q, "notifies", secs), "busy_pct",
                          rate(qa, q, "busy_ns", secs) / 1e7));
        }
    }
    json_array_foreach(b->cores, i, d) {
        json_t *ca = find_named(a->cores, "id", json_object_get(d, "id"));
        double csecs = core_secs(ca, d, secs);
        double busy = rate(ca, d, "busy_ns", csecs), idle = rate(ca, d, "idle_ns", csecs);
        double sleep = rate(ca, d, "sleep_ns", csecs), reqs = rate(ca, d, "requests", csecs);
        double on_cpu = busy + idle;
        json_array_append_new(
            cores, json_pack("{s:I,s:I,s:I,s:f,s:f,s:f,s:f,s:f,s:f}", "id",
                             (json_int_t)u64(d, "id"), "cpu",
                             json_integer_value(json_object_get(d, "cpu")), "queues",
                             (json_int_t)u64(d, "queues"), "busy_pct", busy / 1e7, "idle_pct",
                             idle / 1e7, "sleep_pct", sleep / 1e7, "requests_s", reqs,
                             "wakeups_s", rate(ca, d, "wakeups", csecs), "ns_per_request",
                             reqs > 0 ? on_cpu / reqs : 0.0));
    }
    return json_pack("{s:f,s:o,s:o}", "interval_s", secs, "queues", queues, "sidecores", cores);
}

static void print_top(json_t *t, bool tty)
{
    if (tty)
        printf("\033[H\033[2J");
    printf("sidecore top: interval %.2f s\n\n", json_real_value(json_object_get(t, "interval_s")));
    printf("%-20s %-10s %10s %10s %10s %10s %6s\n", "QUEUE", "STATUS", "IOPS", "MB/s", "KICKS/s",
           "NOTIFY/s", "BUSY%");
    size_t i;
    json_t *q;
    json_array_foreach(json_object_get(t, "queues"), i, q) {
        printf("%-20s %-10s %10.0f %10.2f %10.0f %10.0f %6.1f\n", str(q, "name"), str(q, "status"),
               json_real_value(json_object_get(q, "iops")),
               json_real_value(json_object_get(q, "bytes_s")) / 1e6,
               json_real_value(json_object_get(q, "kicks_s")),
               json_real_value(json_object_get(q, "notifies_s")),
               json_real_value(json_object_get(q, "busy_pct")));
    }
    printf("\n%-3s %4s %6s %6s %6s %6s %10s %10s %8s\n", "ID", "CPU", "QUEUES", "BUSY%", "IDLE%",
           "SLEEP%", "REQ/s", "WAKEUPS/s", "NS/REQ");
    json_array_foreach(json_object_get(t, "sidecores"), i, q) {
        json_int_t cpu = json_integer_value(json_object_get(q, "cpu"));
        char cpus[24];
        if (cpu < 0)
            snprintf(cpus, sizeof(cpus), "-");
        else
            snprintf(cpus, sizeof(cpus), "%lld", (long long)cpu);
        printf("%-3lld %4s %6lld %6.1f %6.1f %6.1f %10.0f %10.0f %8.0f\n",
               (long long)json_integer_value(json_object_get(q, "id")), cpus,
               (long long)json_integer_value(json_object_get(q, "queues")),
               json_real_value(json_object_get(q, "busy_pct")),
               json_real_value(json_object_get(q, "idle_pct")),
               json_real_value(json_object_get(q, "sleep_pct")),
               json_real_value(json_object_get(q, "requests_s")),
               json_real_value(json_object_get(q, "wakeups_s")),
               json_real_value(json_object_get(q, "ns_per_request")));
    }
    fflush(stdout);
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static void cmd_top(int argc, char **argv)
{
    long interval = 1000, count = 0;
    for (int i = 1; i < argc; i++) {
        long *dst = strcmp(argv[i], "--interval") == 0 ? &interval
                    : strcmp(argv[i], "--count") == 0  ? &count
                                                       : NULL;
        if (!dst)
            die_usage("top: unknown option %s", argv[i]);
        if (i + 1 >= argc)
            die_usage("top: %s needs a number", argv[i]);
        char *end;
        long lo = dst == &interval ? 10 : 0;
        *dst = strtol(argv[++i], &end, 10);
        if (!*argv[i] || *end || *dst < lo || *dst > 3600000)
            die_usage("top: %s expects a number from %ld to 3600000%s, got \"%s\"",
                      argv[i - 1], lo, lo ? " (ms)" : " (0: until interrupted)", argv[i]);
    }
    bool tty = !g_json && isatty(STDOUT_FILENO);
    struct sample prev;
    take_sample(&prev);
    for (long n = 0; count == 0 || n < count; n++) {
        sleep_ms((unsigned)interval);
        struct sample cur;
        take_sample(&cur);
        json_t *t = top_rates(&prev, &cur);
        if (g_json) {
            char *s = json_dumps(t, JSON_COMPACT);
            if (s)
                puts(s);
            free(s);
            fflush(stdout);
        } else {
            print_top(t, tty);
        }
        json_decref(t);
        json_decref(prev.devs);
        json_decref(prev.cores);
        prev = cur;
    }
    json_decref(prev.devs);
    json_decref(prev.cores);
}

int main(int argc, char **argv)
{
    static char def[108];
    if (geteuid() == 0)
        snprintf(def, sizeof(def), "/run/sidecore/sidecored.sock");
    else
        snprintf(def, sizeof(def), "/tmp/sidecore-%u/sidecored.sock", (unsigned)geteuid());
    g_socket = def;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            g_json = true;
        } else if (strcmp(argv[i], "-s") == 0 || strcmp(argv[i], "--socket") == 0) {
            if (++i >= argc)
                die_usage("%s needs a socket path", argv[i - 1]);
            g_socket = argv[i];
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            die_usage("unknown option %s", argv[i]);
        }
    }
    if (i >= argc)
        die_usage("a COMMAND is required");
    const char *cmd = argv[i];
    int cargc = argc - i;
    char **cargv = argv + i;
    if (strcmp(cmd, "create-blk") == 0)
        cmd_create(cargc, cargv);
    else if (strcmp(cmd, "delete") == 0)
        cmd_delete(cargc, cargv);
    else if (strcmp(cmd, "resize") == 0)
        cmd_resize(cargc, cargv);
    else if (strcmp(cmd, "list") == 0 && cargc == 1)
        cmd_list();
    else if (strcmp(cmd, "stats") == 0)
        cmd_stats(cargc, cargv);
    else if (strcmp(cmd, "sidecores") == 0 && cargc == 1)
        cmd_sidecores();
    else if (strcmp(cmd, "top") == 0)
        cmd_top(cargc, cargv);
    else if (strcmp(cmd, "info") == 0 && cargc == 1)
        cmd_info();
    else if (strcmp(cmd, "net-create") == 0)
        cmd_net_create(cargc, cargv);
    else if (strcmp(cmd, "net-delete") == 0)
        cmd_named(cmd, "net_delete", "net device", cargc, cargv);
    else if (strcmp(cmd, "net-list") == 0 && cargc == 1)
        cmd_net_list();
    else if (strcmp(cmd, "net-stats") == 0)
        cmd_net_stats(cargc, cargv);
    else if (strcmp(cmd, "switch-create") == 0)
        cmd_switch_create(cargc, cargv);
    else if (strcmp(cmd, "switch-delete") == 0)
        cmd_named(cmd, "switch_delete", "switch", cargc, cargv);
    else if (strcmp(cmd, "switch-list") == 0 && cargc == 1)
        cmd_switch_list();
    else if (strcmp(cmd, "switch-stats") == 0)
        cmd_switch_stats(cargc, cargv);
    else if (strcmp(cmd, "port-add") == 0)
        cmd_port_add(cargc, cargv);
    else if (strcmp(cmd, "port-delete") == 0)
        cmd_port_delete(cargc, cargv);
    else if (strcmp(cmd, "peers") == 0)
        cmd_peers(cargc, cargv);
    else if (strcmp(cmd, "net-peers") == 0 && cargc == 1)
        cmd_net_peers();
    else if (strcmp(cmd, "exports") == 0 && cargc == 1)
        cmd_exports();
    else if (strcmp(cmd, "export-create") == 0)
        cmd_export_create(cargc, cargv);
    else if (strcmp(cmd, "export-delete") == 0)
        cmd_named(cmd, "export_delete", "export", cargc, cargv);
    else if (strcmp(cmd, "export-resize") == 0)
        cmd_export_resize(cargc, cargv);
    else if (strcmp(cmd, "interpose") == 0)
        cmd_interpose(cargc, cargv);
    else if (strcmp(cmd, "help") == 0)
        usage(stdout);
    else
        die_usage("unknown command or arguments: %s", cmd);
    return 0;
}
