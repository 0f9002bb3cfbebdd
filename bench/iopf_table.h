/* `sidecore-bench iopf table`: the VPRI experiment of issue 6. Starts its
 * own sidecored (two file-backed blk devices on one sidecore, pinned to the
 * last CPU; the bench runs on CPU 0), times the PA-BITMAP lookup, then for
 * the nic, blk and mix workloads runs a no-overcommit baseline and every
 * overcommit (10/20/30%) x policy (lru/dma/none) pair, each after a warm-up,
 * with the second device measured alongside. The faulting device submits
 * at a fixed rate (--rate), so the daemon carries the same load in the
 * baseline and under faults and the second device's latencies compare.
 * Prints IOPFs per second, the LRU/ours ratio, the pinned fraction,
 * report-to-resume time and the p99 / p99.9 latencies of both devices (the
 * second one against its baseline). */
#ifndef BENCH_IOPF_TABLE_H
#define BENCH_IOPF_TABLE_H

int iopf_table(int argc, char **argv, const char *argv0);

#endif
