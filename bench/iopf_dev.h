/* One device driven by `sidecore-bench iopf` (bench/iopf.h): a vu_blk with
 * its own shared memory, a buffer pool in that memory and, for the
 * faulting device, VPRI and an overcommit manager over the pool.
 *
 * Workloads (all single-queue, qd requests outstanding):
 *   blk  page-cache-like: random blocks, read or write, each through a
 *        random buffer of a large pool; the CPU fills buffers before writes
 *        and checks them after reads.
 *   nic  a recycled rx buffer pool (8% of the pool unless given): the
 *        device writes (reads from disk, the stand-in for packet DMA) into
 *        the next rx buffer in turn; the guest forwards the payload without
 *        reading it (zero copy), and per packet its CPU touches random pages
 *        of its own working set, the rest of the pool.
 *   mix  both: even requests nic-like, odd ones blk-like.
 * Every CPU access goes through vu_oc_touch first, as a vCPU fault would. */
#ifndef BENCH_IOPF_DEV_H
#define BENCH_IOPF_DEV_H

#include <stdbool.h>
#include <stdint.h>

#include "frontend/vu_blk.h"
#include "frontend/vu_overcommit.h"
#include "frontend/vu_vpri.h"
#include "hist.h"
#include "verify.h"

enum iopf_wl { IOPF_WL_BLK, IOPF_WL_NIC, IOPF_WL_MIX };

struct iopf_dev_cfg {
    const char *socket;
    bool vpri;              /* overcommit this device */
    enum iopf_wl wl;
    uint32_t bs;            /* bytes per request, multiple of 4096 */
    unsigned qd;
    uint64_t pool_bytes;    /* managed memory: buffers (and the nic working set) */
    uint32_t rx_buffers;    /* nic/mix: rx pool size in buffers; 0: 8% of the pool */
    unsigned overcommit;    /* percent of the pool not resident */
    enum vu_oc_policy policy;
    double pin_ratio;
    bool verify;
    bool event;             /* completions by interrupt (call eventfd), not polling */
    unsigned rate;          /* requests per second at most; 0: as fast as qd allows */
    uint64_t seed;
};

struct iopf_slot {
    uint64_t blk, t0;
    uint32_t buf, seq;
    uint8_t op;
    bool busy, nic;
};

struct iopf_dev {
    struct iopf_dev_cfg cfg;
    struct vu_mem mem;
    struct vu_vpri vp;
    struct vu_blk *b;
    struct vu_oc *oc;
    uint8_t *pool;
    uint64_t pool_gpa;
    uint32_t nbuf, rx_next;
    uint8_t *buf_busy;
    uint64_t nblocks;
    struct verify ver;
    struct iopf_slot *slots;
    unsigned inflight;
    bool reads_only; /* hold phase: requests the CPU does not touch first */
    uint64_t rng;
    /* results */
    uint64_t submitted; /* attempts: mix alternates on it */
    uint64_t issued, t_rate; /* requests submitted since t_rate (rate limit) */
    uint64_t sink;      /* what the CPU read, so the reads happen */
    uint64_t ios, errors, checked, mismatches, cpu_touches;
    struct hist lat;
    char why[160];
};

/* 0, or -1 with the reason in d->why. */
int iopf_dev_open(struct iopf_dev *d, const struct iopf_dev_cfg *cfg);
void iopf_dev_close(struct iopf_dev *d);
/* One loop step: reap, check, resubmit (when submit is true), serve faults
 * (when serve is true). Returns completions + submissions + records served
 * (0: nothing to do), or -1 (d->why) on a device error, a swap error or a
 * request older than 10 s. */
int iopf_dev_step(struct iopf_dev *d, bool submit, bool serve);
/* Event mode: sleep until a completion is signalled (at most timeout_ms). */
void iopf_dev_wait(struct iopf_dev *d, int timeout_ms);
/* Evicts every resident page of the pool (handshake included). */
int iopf_dev_evict_all(struct iopf_dev *d);
/* Evicts the first page of up to n buffers with requests in flight. */
int iopf_dev_evict_inflight(struct iopf_dev *d, unsigned n);
/* Sum of the device's VPRI queue statistics (zero without VPRI). */
void iopf_dev_qstats(const struct iopf_dev *d, struct vpri_qslot *out);

#endif
