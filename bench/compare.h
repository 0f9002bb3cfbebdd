/* `sidecore-bench compare`: starts sidecored (next to this binary) and
 * qemu-storage-daemon, each pinned to one CPU, runs the same workload
 * against both with the bench on another CPU, and prints both plus the
 * ratio, with sidecored's busy CPU and ns per request from sidecore_stats.
 * Both daemons are always stopped (SIGTERM, then SIGKILL after 5 s) and
 * their temporary directory removed; their logs are shown on failure. */
#ifndef BENCH_COMPARE_H
#define BENCH_COMPARE_H

#include "opts.h"

int bench_compare(struct bench_opts *o, const char *argv0);

#endif
