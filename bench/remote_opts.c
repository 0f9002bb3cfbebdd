#include "remote_opts.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opts.h"

void remote_opts_usage(FILE *out)
{
    fprintf(out,
        "usage: sidecore-bench remote-compare [options]   (root: network namespaces)\n"
        "  local (sidecored serving the device on this host) against remote (a vmhost\n"
        "  sidecored in namespace scb-vm0 forwarding over a veth to an iohost sidecored\n"
        "  in scb-io), 4 KiB random reads and writes, the bench as the guest\n"
        "  --backends LIST   null,file: the blk rows' backends (default both)\n"
        "  --rows LIST       blk (reads: QD1 latency, QD-hi IOPS; writes: the same),\n"
        "                    hop (the bare veth round trip, polling and blocking),\n"
        "                    consolidation (two vmhosts, QD-hi and QD1, sharing one\n"
        "                    iohost sidecore, against one local sidecore each), net\n"
        "                    (request-response and stream: testpmd virtio-user as the\n"
        "                    VM, a tap and a sink on the local sidecored's / the\n"
        "                    iohost's switch, the bare hop of a frame; 300 hugepages\n"
        "                    borrowed) (default all)\n"
        "  --time SEC        seconds per measurement (default 5)\n"
        "  --size SIZE       device size (default 1G null, 256M file)\n"
        "  --mtu N           veth and vRIO path MTU, 1280..9000 (default 1500)\n"
        "  --qd N            the loaded queue depth (default 32)\n"
        "  --cpus B,L,V,I    CPUs of the bench, the local sidecore, the vmhost and the\n"
        "                    iohost sidecores (default 0,1,1,1)\n"
        "  --idle-us N       every sidecored's idle polling time before it sleeps\n"
        "                    (default: sidecored's own)\n"
        "  --event           the bench sleeps on call eventfds instead of polling\n"
        "  --json            print the result as JSON on stdout\n"
        "  --quiet           no progress on stderr\n");
}

static int parse_list(const char *opt, const char *s, const char *const *names,
                      bool *const *flags, unsigned n)
{
    char buf[128];
    snprintf(buf, sizeof(buf), "%s", s);
    for (unsigned i = 0; i < n; i++)
        *flags[i] = false;
    bool any = false;
    for (char *save, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        unsigned i;
        for (i = 0; i < n && strcmp(t, names[i]); i++)
            ;
        if (i == n) {
            fprintf(stderr, "sidecore-bench remote-compare: --%s: unknown '%s'\n", opt, t);
            return -1;
        }
        *flags[i] = any = true;
    }
    if (!any)
        fprintf(stderr, "sidecore-bench remote-compare: --%s: empty list\n", opt);
    return any ? 0 : -1;
}

static int parse_num(const char *opt, const char *s, long lo, long hi, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || end == s || v < lo || v > hi) {
        fprintf(stderr, "sidecore-bench remote-compare: --%s '%s': expected %ld..%ld\n", opt,
                s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_cpus(const char *s, struct remote_opts *o)
{
    int *dst[] = {&o->bench_cpu, &o->local_cpu, &o->vmhost_cpu, &o->iohost_cpu};
    char buf[64];
    snprintf(buf, sizeof(buf), "%s", s);
    unsigned i = 0;
    for (char *save, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        long v;
        if (i == 4 || parse_num("cpus", t, 0, 1023, &v))
            return -1;
        *dst[i++] = (int)v;
    }
    if (i != 4) {
        fprintf(stderr, "sidecore-bench remote-compare: --cpus B,L,V,I: four CPUs\n");
        return -1;
    }
    return 0;
}

enum { O_BACKENDS = 256, O_ROWS, O_TIME, O_SIZE, O_MTU, O_QD, O_CPUS, O_IDLE, O_EVENT, O_JSON,
       O_QUIET, O_HELP };

int remote_opts_parse(int argc, char **argv, struct remote_opts *o)
{
    static const struct option lo[] = {
        {"backends", 1, 0, O_BACKENDS}, {"rows", 1, 0, O_ROWS}, {"time", 1, 0, O_TIME},
        {"size", 1, 0, O_SIZE}, {"mtu", 1, 0, O_MTU}, {"qd", 1, 0, O_QD},
        {"cpus", 1, 0, O_CPUS}, {"idle-us", 1, 0, O_IDLE}, {"event", 0, 0, O_EVENT},
        {"json", 0, 0, O_JSON}, {"quiet", 0, 0, O_QUIET}, {"help", 0, 0, O_HELP},
        {0, 0, 0, 0}};
    static const char *const backends[] = {"null", "file"};
    static const char *const rows[] = {"blk", "hop", "consolidation", "net"};
    *o = (struct remote_opts){.null_be = true, .file_be = true, .blk = true, .hop = true,
                              .consol = true, .net = true, .time_s = 5, .mtu = 1500, .qd_hi = 32,
                              .bench_cpu = 0, .local_cpu = 1, .vmhost_cpu = 1,
                              .iohost_cpu = 1, .idle_us = -1};
    bool *be_flags[] = {&o->null_be, &o->file_be};
    bool *row_flags[] = {&o->blk, &o->hop, &o->consol, &o->net};
    long v;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case O_BACKENDS:
            if (parse_list("backends", optarg, backends, be_flags, 2))
                return -1;
            break;
        case O_ROWS:
            if (parse_list("rows", optarg, rows, row_flags, 4))
                return -1;
            break;
        case O_TIME: {
            char *end;
            o->time_s = strtod(optarg, &end);
            if (*end || end == optarg || !(o->time_s >= 0.2 && o->time_s <= 600)) {
                fprintf(stderr, "sidecore-bench remote-compare: --time '%s': expected "
                        "0.2..600 seconds\n", optarg);
                return -1;
            }
            break;
        }
        case O_SIZE:
            if (parse_size(optarg, &o->size) || o->size < (1u << 20) || o->size > (1ull << 40)) {
                fprintf(stderr, "sidecore-bench remote-compare: --size '%s': 1M..1T\n", optarg);
                return -1;
            }
            break;
        case O_MTU:
            if (parse_num("mtu", optarg, 1280, 9000, &v))
                return -1;
            o->mtu = (unsigned)v;
            break;
        case O_QD:
            if (parse_num("qd", optarg, 2, 256, &v))
                return -1;
            o->qd_hi = (unsigned)v;
            break;
        case O_CPUS:
            if (parse_cpus(optarg, o))
                return -1;
            break;
        case O_IDLE:
            if (parse_num("idle-us", optarg, 0, 10000000, &v))
                return -1;
            o->idle_us = (int)v;
            break;
        case O_EVENT: o->event = true; break;
        case O_JSON: o->json = true; break;
        case O_QUIET: o->quiet = true; break;
        case O_HELP: remote_opts_usage(stdout); exit(0);
        default: remote_opts_usage(stderr); return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "sidecore-bench remote-compare: unexpected argument '%s'\n",
                argv[optind]);
        return -1;
    }
    return 0;
}
