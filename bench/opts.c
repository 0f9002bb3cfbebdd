#include "opts.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const wl_names[] = {"randread", "randwrite", "read", "write", "mixed"};

const char *workload_name(enum workload w) { return wl_names[w]; }

void opts_usage(FILE *out)
{
    fprintf(out,
        "usage: sidecore-bench run --socket PATH [options]\n"
        "       sidecore-bench compare --backend null|file [--size S] [options]\n"
        "       sidecore-bench idle [--queues N] [--time SEC] [--cpu N] [--json]\n"
        "       sidecore-bench net-compare [--help for its options]\n"
        "       sidecore-bench remote-compare [--help for its options]\n"
        "       sidecore-bench iopf run|table [--help for its options]\n"
        "options:\n"
        "  --workload randread|randwrite|read|write|mixed   (default randread)\n"
        "  --rwmix PCT      percent reads for mixed (default 70)\n"
        "  --bs SIZE        block size, multiple of 512 (default 4k)\n"
        "  --qd N           outstanding requests per queue (default 32, max 1024)\n"
        "  --queues N       virtqueues, all driven by one thread (default 1)\n"
        "  --time SEC       run time (default 10 unless --ios is given)\n"
        "  --ios N          stop after N requests\n"
        "  --span SIZE      use only the first SIZE bytes of the device\n"
        "  --verify         write patterns, read back and compare; exit 1 on mismatch\n"
        "  --json           print the result as JSON on stdout\n"
        "  --cpu N          pin the bench thread to CPU N\n"
        "  --mem MB         shared memory size (default: what the run needs)\n"
        "  --poll | --event completions by polling (default) or call eventfds\n"
        "  --timeout SEC    a request not completed in SEC seconds is an error (default 30)\n"
        "  --quiet          no progress line\n"
        "  --packed         run: packed virtqueues (VIRTIO_F_RING_PACKED)\n"
        "  --in-order       run: negotiate VIRTIO_F_IN_ORDER and check that completions\n"
        "                   come back in submission order\n"
        "  --rpc PATH       run: sidecored's control socket; adds the sidecores' busy\n"
        "                   CPU and ns per request over the run\n"
        "  --repeat N       compare: N rounds per daemon, alternating; the median round\n"
        "                   is shown and every round's IOPS listed (default 1)\n");
}

int parse_size(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *s == '-')
        return -1;
    uint64_t mul = 1;
    switch (*end) {
    case 'k': case 'K': mul = 1ull << 10; end++; break;
    case 'm': case 'M': mul = 1ull << 20; end++; break;
    case 'g': case 'G': mul = 1ull << 30; end++; break;
    case 't': case 'T': mul = 1ull << 40; end++; break;
    default: break;
    }
    if (*end == 'i' || *end == 'B' || *end == 'b')
        end++;
    if (*end || (v && mul > UINT64_MAX / v))
        return -1;
    *out = v * mul;
    return 0;
}

static int parse_uint(const char *name, const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    uint64_t v;
    if (parse_size(s, &v) || v < lo || v > hi) {
        fprintf(stderr, "sidecore-bench: --%s '%s': expected a number in %llu..%llu\n", name,
                s, (unsigned long long)lo, (unsigned long long)hi);
        return -1;
    }
    *out = v;
    return 0;
}

enum { O_SOCKET = 256, O_BACKEND, O_SIZE, O_WL, O_RWMIX, O_BS, O_QD, O_QUEUES, O_TIME, O_IOS,
       O_SPAN, O_VERIFY, O_JSON, O_CPU, O_MEM, O_POLL, O_EVENT, O_TIMEOUT, O_QUIET, O_REPEAT, O_RPC, O_PACKED, O_IN_ORDER, O_HELP };

int opts_parse(int argc, char **argv, enum opts_mode mode, struct bench_opts *o)
{
    static const struct option lo[] = {
        {"socket", 1, 0, O_SOCKET}, {"backend", 1, 0, O_BACKEND}, {"size", 1, 0, O_SIZE},
        {"workload", 1, 0, O_WL}, {"rwmix", 1, 0, O_RWMIX}, {"bs", 1, 0, O_BS},
        {"qd", 1, 0, O_QD}, {"queues", 1, 0, O_QUEUES}, {"time", 1, 0, O_TIME},
        {"ios", 1, 0, O_IOS}, {"span", 1, 0, O_SPAN}, {"verify", 0, 0, O_VERIFY},
        {"json", 0, 0, O_JSON}, {"cpu", 1, 0, O_CPU}, {"mem", 1, 0, O_MEM},
        {"poll", 0, 0, O_POLL}, {"event", 0, 0, O_EVENT}, {"timeout", 1, 0, O_TIMEOUT},
        {"quiet", 0, 0, O_QUIET}, {"repeat", 1, 0, O_REPEAT}, {"rpc", 1, 0, O_RPC},
        {"packed", 0, 0, O_PACKED}, {"in-order", 0, 0, O_IN_ORDER}, {"help", 0, 0, O_HELP}, {0, 0, 0, 0}};
    *o = (struct bench_opts){.wl = WL_RANDREAD, .rwmix = 70, .bs = 4096, .qd = 32, .queues = 1,
                             .cpu = -1, .timeout_s = 30, .repeat = 1};
    bool time_set = false, queues_set = false;
    uint64_t v;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case O_SOCKET: o->socket = optarg; break;
        case O_BACKEND: o->backend = optarg; break;
        case O_SIZE:
            if (parse_uint("size", optarg, 1 << 20, 1ull << 40, &o->size))
                return -1;
            break;
        case O_WL: {
            unsigned i;
            for (i = 0; i < 5 && strcmp(optarg, wl_names[i]); i++)
                ;
            if (i == 5) {
                fprintf(stderr, "sidecore-bench: unknown workload '%s'\n", optarg);
                return -1;
            }
            o->wl = (enum workload)i;
            break;
        }
        case O_RWMIX:
            if (parse_uint("rwmix", optarg, 0, 100, &v))
                return -1;
            o->rwmix = (unsigned)v;
            break;
        case O_BS:
            if (parse_uint("bs", optarg, 512, 1 << 20, &v))
                return -1;
            if (v % 512) {
                fprintf(stderr, "sidecore-bench: --bs must be a multiple of 512\n");
                return -1;
            }
            o->bs = (uint32_t)v;
            break;
        case O_QD:
            if (parse_uint("qd", optarg, 1, 1024, &v))
                return -1;
            o->qd = (unsigned)v;
            break;
        case O_QUEUES:
            if (parse_uint("queues", optarg, 1, 64, &v))
                return -1;
            o->queues = (unsigned)v;
            queues_set = true;
            break;
        case O_TIME: {
            char *end;
            o->time_s = strtod(optarg, &end);
            if (*end || o->time_s <= 0 || o->time_s > 86400) {
                fprintf(stderr, "sidecore-bench: --time '%s': expected seconds (0..86400]\n",
                        optarg);
                return -1;
            }
            time_set = true;
            break;
        }
        case O_IOS:
            if (parse_uint("ios", optarg, 1, UINT64_MAX, &o->ios))
                return -1;
            break;
        case O_SPAN:
            if (parse_uint("span", optarg, 512, UINT64_MAX, &o->span))
                return -1;
            break;
        case O_VERIFY: o->verify = true; break;
        case O_JSON: o->json = true; break;
        case O_CPU:
            if (parse_uint("cpu", optarg, 0, 4095, &v))
                return -1;
            o->cpu = (int)v;
            break;
        case O_MEM:
            if (parse_uint("mem", optarg, 1, 65536, &v))
                return -1;
            o->mem_mb = (unsigned)v;
            break;
        case O_POLL: o->event = false; break;
        case O_EVENT: o->event = true; break;
        case O_TIMEOUT:
            if (parse_uint("timeout", optarg, 1, 3600, &v))
                return -1;
            o->timeout_s = (unsigned)v;
            break;
        case O_QUIET: o->quiet = true; break;
        case O_PACKED: o->packed = true; break;
        case O_IN_ORDER: o->in_order = true; break;
        case O_RPC: o->rpc = optarg; break;
        case O_REPEAT:
            if (parse_uint("repeat", optarg, 1, 15, &v))
                return -1;
            o->repeat = (unsigned)v;
            break;
        case O_HELP: opts_usage(stdout); exit(0);
        default: opts_usage(stderr); return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "sidecore-bench: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (!time_set && o->ios == 0)
        o->time_s = 10;
    if (mode == OPTS_IDLE) {
        if (!queues_set)
            o->queues = 16;
    } else if (mode == OPTS_COMPARE) {
        if (!o->backend || (strcmp(o->backend, "null") && strcmp(o->backend, "file"))) {
            fprintf(stderr, "sidecore-bench compare: --backend null|file is required\n");
            return -1;
        }
        if (!o->size)
            o->size = strcmp(o->backend, "null") ? 256ull << 20 : 1ull << 30;
    } else if (!o->socket) {
        fprintf(stderr, "sidecore-bench run: --socket PATH is required\n");
        return -1;
    }
    return 0;
}
