/* Interposition stages: what one step of a device's chain may do to a block
 * request on its way to the backend and back.
 *
 * A stage is configured once and shared by every queue of the device; what a
 * stage keeps per queue (cipher contexts) comes from qopen on the queue's
 * sidecore. For each request the chain calls, in chain order:
 *   admit  (optional) may say "not now" (-EAGAIN) without side effects; the
 *          request is then retried later (the device keeps it, as for a full
 *          backend). Every stage admits before any stage runs pre.
 *   pre    may take resources, rewrite the request (x->io: op, offset, len,
 *          iov; e.g. point it at a bounce buffer) or fail it (-errno);
 * and after the backend finished, in reverse order:
 *   post   may change the result (*res) and releases what pre took; or,
 *          when the request went down in parts (a stage that bounces
 *          through a bounded buffer), rewrites x->io for the next part and
 *          sets *res = IP_AGAIN: the stages inside it (pre, then post) and
 *          the backend see that part next, the stages outside it see the
 *          request once, when its post lets the result through.
 * x->scratch[pos] is the stage's per-request word. Time comes from the
 * chain's clock (now_ns), so tests control it. Stats are read by the control
 * thread while sidecores run: counters are atomics.
 *
 * Net stages (devs includes IP_DEV_NET) see frames instead: frame() gives
 * the verdict for one frame crossing a port (to_port: the port receives
 * it), on whichever sidecore moves it (any number at once); ip_net.h runs
 * them. A stage says which device types it serves (devs; 0 means blk only)
 * and a chain refuses stages of another type.
 *
 * Adding a stage kind: one file with its ops and a from_json constructor,
 * and one line in ip_kinds.c. Devices and transports do not change. */
#ifndef SC_IP_STAGE_H
#define SC_IP_STAGE_H

#include <jansson.h>
#include <stdint.h>

#include "../backend/blk_backend.h"
#include "../backend/net_port.h"

#define IP_MAX_STAGES 8

#define IP_DEV_BLK 1u
#define IP_DEV_NET 2u

enum ip_verdict { IP_PASS, IP_DROP };

#define IP_AGAIN 1 /* post: send x->io down again (see above) */

/* A request as the stages see it. io is what goes to the inner backend; orig
 * is the device's request (its buffers are guest memory: stages must not
 * write into orig's data for a WRITE). */
struct ip_xfer {
    struct blk_io io;
    struct blk_io *orig;
    uint64_t start_ns;
    void *scratch[IP_MAX_STAGES];
};

struct ip_stage;

struct ip_stage_ops {
    const char *kind;
    unsigned devs; /* IP_DEV_*; 0: IP_DEV_BLK */
    enum ip_verdict (*frame)(struct ip_stage *s, const struct net_pkt *p, bool to_port,
                             uint64_t now_ns);
    int (*admit)(struct ip_stage *s, const struct ip_xfer *x, uint64_t now_ns);
    /* Optional: after admit said "not now", when it will say yes (a rate
     * limit: the queue may sleep until then); 0: not known. */
    uint64_t (*admit_at)(struct ip_stage *s, const struct ip_xfer *x, uint64_t now_ns);
    int (*pre)(struct ip_stage *s, void *qstate, struct ip_xfer *x, unsigned pos,
               uint64_t now_ns);
    void (*post)(struct ip_stage *s, void *qstate, struct ip_xfer *x, unsigned pos, int *res,
                 uint64_t now_ns);
    /* Per-queue state (may be NULL); qopen returns -errno on failure. */
    int (*qopen)(struct ip_stage *s, void **qstate);
    void (*qclose)(struct ip_stage *s, void *qstate);
    /* The stage's settings and counters, for device stats. */
    json_t *(*stats)(struct ip_stage *s);
    void (*destroy)(struct ip_stage *s);
};

struct ip_stage {
    const struct ip_stage_ops *ops;
};

static inline unsigned ip_stage_devs(const struct ip_stage *s)
{
    return s->ops->devs ? s->ops->devs : IP_DEV_BLK;
}

/* The chain's clock. */
typedef uint64_t (*ip_clock_fn)(void *opaque);

#endif
