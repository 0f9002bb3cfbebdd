#include "net_opts.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An Ethernet frame without FCS at the default MTU of both backends. */
#define NET_MIN_FRAME 60
#define NET_MAX_FRAME 1514

void net_opts_usage(FILE *out)
{
    fprintf(out,
        "usage: sidecore-bench net-compare [options]\n"
        "  the same testpmd virtio-user client (CPU 0) against sidecored (one sidecore,\n"
        "  CPU 1) and against testpmd's vhost PMD (CPU 1), row by row in one run\n"
        "  --sizes LIST      frame sizes in bytes, %d..%d (default 64,1500)\n"
        "  --rings LIST      split,packed (default both)\n"
        "  --dirs LIST       tx (client transmits into the backend's sink),\n"
        "                    rx (the backend transmits into the client),\n"
        "                    g2g (one client to another through the backend)\n"
        "                    (default tx,rx,g2g)\n"
        "  --hugepages M     off | on | both (default both; on borrows 2 MiB pages)\n"
        "  --warmup SEC      seconds before the window (default 2)\n"
        "  --time SEC        measuring window in seconds (default 5)\n"
        "  --queue-size N    the clients' ring size, a power of 2 in 64..1024 (default\n"
        "                    256, virtio-user's own); g2g's two clients share one CPU,\n"
        "                    so larger rings carry more across the scheduler's slices\n"
        "  --repeat N        N rounds per backend and row (1..%d, default 1), in the\n"
        "                    order sidecored, dpdk, dpdk, sidecored, ...; the table\n"
        "                    shows each backend's median round and lists the rounds\n"
        "  --json            print the result as JSON on stdout\n"
        "  --quiet           no progress on stderr\n", NET_MIN_FRAME, NET_MAX_FRAME,
        NET_MAX_REPEAT);
}

static int parse_secs(const char *name, const char *s, unsigned lo, unsigned *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || end == s || v < (long)lo || v > 600) {
        fprintf(stderr, "sidecore-bench net-compare: --%s '%s': expected %u..600 seconds\n",
                name, s, lo);
        return -1;
    }
    *out = (unsigned)v;
    return 0;
}

static int parse_sizes(const char *s, struct net_opts *o)
{
    char buf[128];
    snprintf(buf, sizeof(buf), "%s", s);
    o->nsizes = 0;
    for (char *save, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        char *end;
        long v = strtol(t, &end, 10);
        if (*end || end == t || v < NET_MIN_FRAME || v > NET_MAX_FRAME ||
            o->nsizes == NET_MAX_SIZES) {
            fprintf(stderr, "sidecore-bench net-compare: --sizes '%s': up to %d sizes in "
                    "%d..%d\n", s, NET_MAX_SIZES, NET_MIN_FRAME, NET_MAX_FRAME);
            return -1;
        }
        o->sizes[o->nsizes++] = (unsigned)v;
    }
    return o->nsizes ? 0 : -1;
}

/* LIST of words, each one of names[]: sets flags[i] for each. */
static int parse_set(const char *opt, const char *s, const char *const *names, bool *const *flags,
                     unsigned n)
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
            fprintf(stderr, "sidecore-bench net-compare: --%s: unknown '%s'\n", opt, t);
            return -1;
        }
        *flags[i] = any = true;
    }
    if (!any)
        fprintf(stderr, "sidecore-bench net-compare: --%s: empty list\n", opt);
    return any ? 0 : -1;
}

enum { O_SIZES = 256, O_RINGS, O_DIRS, O_HUGE, O_WARMUP, O_TIME, O_QSIZE, O_REPEAT, O_JSON,
       O_QUIET, O_HELP };

int net_opts_parse(int argc, char **argv, struct net_opts *o)
{
    static const struct option lo[] = {
        {"sizes", 1, 0, O_SIZES}, {"rings", 1, 0, O_RINGS}, {"dirs", 1, 0, O_DIRS},
        {"hugepages", 1, 0, O_HUGE}, {"warmup", 1, 0, O_WARMUP}, {"time", 1, 0, O_TIME},
        {"queue-size", 1, 0, O_QSIZE}, {"repeat", 1, 0, O_REPEAT}, {"json", 0, 0, O_JSON},
        {"quiet", 0, 0, O_QUIET}, {"help", 0, 0, O_HELP},
        {0, 0, 0, 0}};
    static const char *const rings[] = {"split", "packed"};
    static const char *const dirs[] = {"tx", "rx", "g2g"};
    *o = (struct net_opts){.sizes = {64, 1500}, .nsizes = 2, .split = true, .packed = true,
                           .tx = true, .rx = true, .g2g = true, .huge_off = true,
                           .huge_on = true, .warmup_s = 2, .time_s = 5,
                           .queue_size = 256, .repeat = 1};
    bool *ring_flags[] = {&o->split, &o->packed};
    bool *dir_flags[] = {&o->tx, &o->rx, &o->g2g};
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case O_SIZES:
            if (parse_sizes(optarg, o))
                return -1;
            break;
        case O_RINGS:
            if (parse_set("rings", optarg, rings, ring_flags, 2))
                return -1;
            break;
        case O_DIRS:
            if (parse_set("dirs", optarg, dirs, dir_flags, 3))
                return -1;
            break;
        case O_HUGE:
            o->huge_off = !strcmp(optarg, "off") || !strcmp(optarg, "both");
            o->huge_on = !strcmp(optarg, "on") || !strcmp(optarg, "both");
            if (!o->huge_off && !o->huge_on) {
                fprintf(stderr, "sidecore-bench net-compare: --hugepages off|on|both\n");
                return -1;
            }
            break;
        case O_WARMUP:
            if (parse_secs("warmup", optarg, 0, &o->warmup_s))
                return -1;
            break;
        case O_TIME:
            if (parse_secs("time", optarg, 1, &o->time_s))
                return -1;
            break;
        case O_QSIZE: {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 64 || v > 1024 || (v & (v - 1))) {
                fprintf(stderr, "sidecore-bench net-compare: --queue-size '%s': a power of 2 "
                        "in 64..1024\n", optarg);
                return -1;
            }
            o->queue_size = (unsigned)v;
            break;
        }
        case O_REPEAT: {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || end == optarg || v < 1 || v > NET_MAX_REPEAT) {
                fprintf(stderr, "sidecore-bench net-compare: --repeat '%s': expected 1..%d\n",
                        optarg, NET_MAX_REPEAT);
                return -1;
            }
            o->repeat = (unsigned)v;
            break;
        }
        case O_JSON: o->json = true; break;
        case O_QUIET: o->quiet = true; break;
        case O_HELP: net_opts_usage(stdout); exit(0);
        default: net_opts_usage(stderr); return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "sidecore-bench net-compare: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    return 0;
}
