/* Per-queue VPRI on the data path: what a device calls around its requests.
 *
 * Residency: vpri_q_check() checks every page of a chain against the
 * PA-BITMAP before the device touches any byte of it: readable buffers
 * need read access, writable ones read-write. Resident: the request gets a
 * tag (vpri_q_begin) and its pages are counted in the DMA-access table;
 * it must call vpri_q_end(tag) once the device and its backend no longer
 * touch its buffers. Miss: the device parks the request (vpri_park_*),
 * which posts a fault record, and goes on with the next one.
 *
 * Eviction handshake (docs/VPRI.md): the queue publishes epoch = gen << 1 |
 * quiet in its slot. A request is tagged with gen's parity; gen moves to
 * gen+1 only when no request tagged with gen-1 is in flight, and every
 * move is a full barrier before the next bitmap read. So once the owner
 * has cleared a page's bits and then read gen g, no access to that page
 * is possible after gen reaches g+2, or as soon as the slot says quiet
 * (nothing in flight, and the next round re-reads the bits after a
 * barrier). Backends that touch guest memory asynchronously (io_uring) are
 * covered because the tag lives until completion.
 *
 * Single-threaded per queue: only the queue's owner calls these. With no
 * VPRI negotiated (q->d NULL) every call is a no-op that reports resident. */
#ifndef SC_VPRI_QUEUE_H
#define SC_VPRI_QUEUE_H

#include <stdbool.h>
#include <stdint.h>

#include "../mem/guestmem.h"
#include "../virtq/virtq.h"
#include "vpri_bitmap.h"
#include "vpri_dev.h"

#define VPRI_PARK_MAX 64 /* parked requests per queue */
#define VPRI_NO_TAG 0xff

struct vpri_miss {
    uint64_t gpa;
    uint64_t len;
    uint8_t access; /* VPRI_ACC_* */
};

struct vpri_parked {
    void *req;
    uint64_t req_id;
    uint64_t ticket; /* of the last record posted for it */
    uint64_t t_park; /* when it was parked (report-to-resume time) */
    bool posted;     /* false: the ring was full, post again */
};

struct vpri_park {
    struct vpri_parked e[VPRI_PARK_MAX];
    unsigned n;
};

struct vpri_q {
    struct vpri_dev *d; /* NULL: VPRI off for this queue */
    struct vpri_qslot *slot;
    uint16_t idx;
    bool quiet;
    uint64_t gen;
    uint32_t inflight[2];
    uint64_t seen_cons, seen_resolve;
    uint64_t next_req_id;
    struct vpri_park park;
};

/* Queue start / stop (the queue's owner is not running yet / any more). */
void vpri_q_bind(struct vpri_q *q, struct guestmem *gm, uint16_t idx);
void vpri_q_unbind(struct vpri_q *q);

/* The frontend is gone: parked requests will never resume. */
static inline bool vpri_q_owner_gone(const struct vpri_q *q)
{
    return q->d && atomic_load_explicit(&q->d->owner_gone, memory_order_acquire);
}

/* How long a stopping queue waits for its parked requests to resume: full
 * (the device's bound), or VPRI_STOP_SHORT_NS for VPRI_STRIKE_NS after a
 * stop of the same device used up its whole bound (vpri_q_stop_timed_out).
 * The control thread that stops queues serves every device: a frontend
 * that leaves its faults unresolved and asks for stops, reconnecting to
 * do it again, would otherwise hold it for the full bound every time. */
#define VPRI_STOP_SHORT_NS (100ull * 1000 * 1000)
#define VPRI_STRIKE_NS (600ull * 1000 * 1000 * 1000)
uint64_t vpri_q_stop_bound(const struct vpri_q *q, uint64_t full_ns);

/* A stop waited its bound and requests are still parked: unless the owner
 * is gone, that counts against the device (logged with name). */
void vpri_q_stop_timed_out(struct vpri_q *q, const char *name, uint64_t waited_ns);

static inline bool vpri_q_on(const struct vpri_q *q)
{
    return q->d != NULL;
}

/* Poll-round bracket. leave() advances gen as far as completions allow;
 * sleeping() (the sidecore is about to sleep) publishes quiet when nothing
 * is in flight and reports whether parked work must be looked at first. */
void vpri_q_enter_slow(struct vpri_q *q);
static inline void vpri_q_enter(struct vpri_q *q)
{
    if (q->d && q->quiet)
        vpri_q_enter_slow(q);
}
void vpri_q_leave(struct vpri_q *q);
bool vpri_q_sleeping(struct vpri_q *q);
/* End of a round after which nothing is in flight until the next enter
 * (net rx: every copy is done inside the round): leave() and publish quiet
 * in one store, so the owner never waits for a queue nobody polls. */
void vpri_q_rest(struct vpri_q *q);

/* VPRI_RESIDENT, VPRI_MISS (*m filled) or VPRI_OUTSIDE (*m filled: the
 * chain reaches past the bitmap; the device must fail). */
enum vpri_verdict vpri_q_check(struct vpri_q *q, const struct vq_chain *c, struct vpri_miss *m);
/* A resident chain starts: DMA counting and the in-flight tag. */
uint8_t vpri_q_begin(struct vpri_q *q, const struct vq_chain *c);
static inline void vpri_q_end(struct vpri_q *q, uint8_t tag)
{
    if (tag != VPRI_NO_TAG)
        q->inflight[tag]--;
}

/* Parking. full(): park() would refuse. park() posts the fault (a full ring
 * is retried by vpri_park_scan) and keeps req; -1 when the frontend broke
 * the channel (the device must fail). */
static inline bool vpri_park_full(const struct vpri_q *q)
{
    return q->park.n >= VPRI_PARK_MAX;
}
int vpri_park(struct vpri_q *q, void *req, const struct vpri_miss *m);

/* Has anything changed since the last scan (pages resolved, records
 * handled)? Cheap: two loads. */
bool vpri_park_due(struct vpri_q *q);
/* due(), or a parked request still waits for its record to be posted. */
bool vpri_park_needs_scan(struct vpri_q *q);

/* Net rx: frames dropped because the queue is parked (slot counter). */
void vpri_q_dropped(struct vpri_q *q, uint64_t n);

/* Visits parked requests: for each, check(chain_of(req)); resident ones
 * are removed and handed to resume(req) (which begins them); missing ones
 * get a new record when their last one was handled or never posted.
 * Stops early when resume returns false (the device cannot take more now).
 * Returns the number resumed, or -1 when the device must fail (reason in
 * *why). */
int vpri_park_scan(struct vpri_q *q, const struct vq_chain *(*chain_of)(void *req),
                   bool (*resume)(void *req, void *ctx), void *ctx, const char **why);

/* Stop path: take parked requests out (for completing or dropping them). */
void *vpri_park_pop(struct vpri_q *q);

#endif
