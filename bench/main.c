/* sidecore-bench: vhost-user blk load generator on the frontend library.
 * Subcommands: run (one socket), compare (sidecored vs qemu-storage-daemon),
 * idle (the daemon's CPU with queues attached and nothing to do),
 * net-compare (virtio-net: sidecored vs DPDK's vhost PMD, testpmd client),
 * remote-compare (local sidecore vs vmhost -> iohost over veth: blk and net
 * rows), iopf (guest memory overcommit with device-side I/O page faults,
 * docs/VPRI.md). */
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "compare.h"
#include "idle.h"
#include "iopf.h"
#include "net_compare.h"
#include "opts.h"
#include "remote_compare.h"
#include "run.h"
#include "scstats.h"

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        opts_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    sc_log_set_level(SC_LOG_WARN);
    struct bench_opts o;
    if (!strcmp(argv[1], "run")) {
        if (opts_parse(argc - 1, argv + 1, OPTS_RUN, &o))
            return 2;
        struct run_result r;
        struct sc_usage before = {0}, after = {0};
        if (o.rpc)
            sc_usage_sample(o.rpc, &before);
        bench_run(&o, o.socket, &r);
        if (o.rpc)
            sc_usage_sample(o.rpc, &after);
        struct sc_usage d = sc_usage_delta(&before, &after);
        if (o.json) {
            json_t *j = run_json(&o, &r);
            json_t *u = sc_usage_json(&d);
            if (u)
                json_object_set_new(j, "sidecore", u);
            json_dumpf(j, stdout, JSON_INDENT(2));
            putchar('\n');
            json_decref(j);
        } else if (r.rc != 2) {
            run_print(&o, &r);
            if (o.rpc)
                sc_usage_print(&d);
        }
        return r.rc;
    }
    if (!strcmp(argv[1], "compare")) {
        if (opts_parse(argc - 1, argv + 1, OPTS_COMPARE, &o))
            return 2;
        return bench_compare(&o, argv[0]);
    }
    if (!strcmp(argv[1], "iopf"))
        return bench_iopf(argc - 1, argv + 1, argv[0]);
    if (!strcmp(argv[1], "net-compare"))
        return bench_net_compare(argc - 1, argv + 1, argv[0]);
    if (!strcmp(argv[1], "remote-compare"))
        return bench_remote_compare(argc - 1, argv + 1, argv[0]);
    if (!strcmp(argv[1], "idle")) {
        if (opts_parse(argc - 1, argv + 1, OPTS_IDLE, &o))
            return 2;
        return bench_idle(&o, argv[0]);
    }
    fprintf(stderr, "sidecore-bench: unknown command '%s' (run, compare, idle, iopf, "
            "net-compare or remote-compare)\n", argv[1]);
    opts_usage(stderr);
    return 2;
}
