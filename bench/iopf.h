/* `sidecore-bench iopf`: guest memory overcommit against sidecored with
 * VPRI (docs/VPRI.md). The bench plays the VM: its memory is a memfd shared
 * with the daemon, a managed part of it is overcommitted (vu_overcommit.h)
 * and the I/O page faults the device reports are served from the bench's
 * own loop (no extra thread).
 *
 *   iopf run   one configuration: a faulting device A (VPRI, overcommitted)
 *              and optionally a second device B on the same daemon (no
 *              VPRI) measured alongside; --verify checks every read,
 *              --storm evicts random pages (in flight or not) every loop,
 *              --hold-ms first parks A's requests and holds its faults
 *              while B runs.
 *   iopf table the table: workloads x overcommit x policy, with a
 *              daemon it starts itself.
 *   iopf run --device net: the NIC workload on a real virtio-net device
 *              (iopf_net.h), frames sent by the second device.
 * Exit codes: 0 clean, 1 wrong data or I/O errors, 2 could not run. */
#ifndef BENCH_IOPF_H
#define BENCH_IOPF_H

#include <stdint.h>

#include "iopf_dev.h"

struct iopf_res {
    uint64_t elapsed_ns, ios, errors, checked, mismatches;
    uint64_t records, restored_iopf, restored_cpu, evicted, evict_aborts, service_ns;
    uint64_t pinned, managed, resident;
    struct vpri_qslot dev; /* the device's counters, summed over queues */
    uint64_t a_p50, a_p99, a_p999;
    uint64_t b_ios, b_p50, b_p99, b_p999;
    uint64_t hold_parked, hold_a_done, hold_b_done;
    /* --device net: frames B sent, A received, lost by A's port while its
     * rx queue was parked (the device's counter), out of order */
    uint64_t net_sent, net_received, net_dropped, net_reordered;
};

enum iopf_device { IOPF_DEV_BLK, IOPF_DEV_NET };

struct iopf_params {
    enum iopf_device device;
    struct iopf_dev_cfg a;
    const char *socket2; /* second device, or NULL */
    uint64_t ios;        /* requests on A, when time_s is 0 */
    double time_s;
    double warmup_s;     /* run before measuring (policies settle) */
    unsigned storm;      /* evictions per loop step (race test) */
    unsigned hold_ms;
};

int bench_iopf(int argc, char **argv, const char *argv0);
/* One run (see `iopf run`). Returns 0, 1 (wrong data / I/O errors) or 2. */
int iopf_run(const struct iopf_params *p, struct iopf_res *res);
const char *iopf_wl_name(enum iopf_wl w);

#endif
