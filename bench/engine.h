/* The bench's I/O loop: one thread drives every queue of one vu_blk,
 * keeping qd requests outstanding per queue, reaping by polling (default)
 * or by sleeping on the call eventfds (--event). A phase ends when its
 * generator is exhausted (time, count, or blocks to visit) and everything
 * outstanding has completed. Any request outstanding longer than the
 * timeout, or a device protocol violation, ends the phase with an error. */
#ifndef BENCH_ENGINE_H
#define BENCH_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "frontend/vu_blk.h"
#include "hist.h"
#include "opts.h"
#include "verify.h"

enum phase { PH_MAIN, PH_PREFILL, PH_READBACK };

struct phase_result {
    uint64_t ios, reads, writes, bytes, errors;
    uint64_t elapsed_ns;
    uint64_t kicks, kicks_suppressed;
    struct hist lat;
};

struct engine_slot {
    void *buf;
    uint64_t blk, t0;
    uint32_t seq;
    uint8_t op;
    bool busy;
};

struct engine {
    struct vu_blk *b;
    const struct bench_opts *o;
    unsigned nq, qd;
    uint64_t nblocks;
    struct engine_slot *slots;   /* nq * qd */
    unsigned *inflight;          /* per queue */
    struct verify *v;            /* NULL without --verify */
    uint64_t rng, cursor;
};

/* Returns 0 or -1 (fatal, message printed). */
int engine_init(struct engine *e, struct vu_blk *b, const struct bench_opts *o,
                uint64_t nblocks, struct verify *v);
void engine_free(struct engine *e);
int engine_run(struct engine *e, enum phase ph, struct phase_result *r);
/* Shared memory the engine needs for its buffers. */
uint64_t engine_mem_bytes(const struct bench_opts *o);

#endif
