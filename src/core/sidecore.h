/* Sidecores: polling threads that each serve many queues of many devices.
 *
 * A sidecore loops over its queues calling poll(). While any queue has work
 * it keeps polling with guest notifications off. After idle_us without work
 * it turns notifications on for every queue (set_notify(true)), rechecks
 * (a queue whose set_notify reports pending work cancels the sleep), and
 * sleeps in epoll on the queues' kick and aux eventfds; the first event puts
 * it back into polling with notifications off. An idle daemon therefore
 * sleeps; a loaded one takes no guest kicks.
 *
 * Attach and detach are synchronous calls from the control thread: attach
 * places the queue on the sidecore with the smallest load (queues attached,
 * weighted by recent busy time) and returns once the sidecore polls it;
 * detach returns once the sidecore will never touch the queue again. The
 * polling loop itself takes no lock: changes arrive through a mailbox that
 * the loop checks with one relaxed load per round.
 *
 * A poll() that returns < 0 parks the queue: it stays attached but is not
 * polled again (its device has failed; the control thread detaches it). */
#ifndef SC_SIDECORE_H
#define SC_SIDECORE_H

#include <stdbool.h>
#include <stdint.h>

struct sidecore;
struct sc_set;

struct sc_queue_stats {
    uint64_t requests;
    uint64_t bytes;
    uint64_t kicks;   /* guest notifications received (eventfd counts) */
    uint64_t notifies; /* interrupts sent to the guest (call eventfd writes) */
    uint64_t busy_ns; /* time in poll() rounds that found work */
    uint64_t polls;   /* poll() calls */
};

struct sc_queue {
    /* Set by the owner before attach: */
    const char *name; /* e.g. "blk0.q1"; for stats and logs */
    /* Serve up to a bounded amount of work. Returns the number of requests
     * completed or started (> 0 means busy), 0 when idle, < 0 when broken. */
    int (*poll)(struct sc_queue *q);
    /* Turn guest kicks on or off; when turning them on, return true if work
     * is pending (so the sidecore must not sleep). A queue that returns false
     * but must be polled at some time anyway (work held back by a rate
     * limit) sets wake_ns to it (sc_now_ns clock; 0: no such time). */
    bool (*set_notify)(struct sc_queue *q, bool enable);
    uint64_t wake_ns;
    int kick_fd; /* guest doorbell eventfd, or -1 */
    int aux_fd;  /* another eventfd to wake on (backend completions), or -1 */
    /* Polls almost nothing (a flush of work others leave behind): not
     * counted when attach chooses the least loaded sidecore. */
    bool light;
    void *opaque;

    /* Written only by the sidecore that owns the queue; read by anyone
     * (stats are approximate snapshots). */
    struct sc_queue_stats stats;

    /* Owned by the sidecore layer. */
    struct sidecore *owner;
    struct sc_queue *next;
    bool parked;
    int round_work; /* poll() result of the current round, for busy_ns shares */
};

struct sc_params {
    unsigned nr_sidecores; /* default 1 */
    unsigned idle_us;      /* idle polling time before sleeping; default 200 */
    int cpus[64];          /* cpu for sidecore i, or -1 for no pinning */
    bool never_sleep;      /* always poll (benchmarks) */
    bool never_poll;       /* notification-driven only (the "vhost" baseline) */
};

struct sc_core_stats {
    unsigned id;
    int cpu;
    unsigned nr_queues;
    uint64_t rounds;   /* poll rounds */
    uint64_t busy_ns;  /* rounds with work */
    uint64_t idle_ns;  /* rounds without work, still polling */
    uint64_t sleep_ns; /* asleep in epoll, the sleep in progress up to sampled_ns */
    uint64_t sleeps;   /* transitions to sleep */
    uint64_t wakeups;
    uint64_t requests;
    uint64_t yields; /* idle rounds that gave the CPU up (sched_yield) */
    uint64_t sampled_ns; /* sc_now_ns when read: rates over the daemon's own interval */
};

void sc_params_default(struct sc_params *p);
struct sc_set *sc_set_create(const struct sc_params *p);
/* All queues must be detached first. Joins the threads. */
void sc_set_destroy(struct sc_set *s);

int sc_attach(struct sc_set *s, struct sc_queue *q);
void sc_detach(struct sc_queue *q);
/* From any thread: the sidecore polling q runs a round soon, even if it
 * sleeps (q's owner changed state its poll() must see). */
void sc_wake(struct sc_queue *q);

/* True when the caller is the sidecore thread that polls q: work handed to
 * q is then sure to see q's next poll() before that sidecore sleeps. */
bool sc_polled_here(const struct sc_queue *q);
/* For poll() implementations: the caller just handed work to a peer that
 * may be waiting for this very CPU (a vmhost and its iohost on one machine,
 * a poller on the other end of a socket). If the round then ends with
 * nothing else to do, the sidecore gives the CPU up at once rather than
 * after its idle-polling grace; alone on its CPU that costs one syscall. */
void sc_handoff(void);
unsigned sc_set_count(const struct sc_set *s);
void sc_core_stats(struct sc_set *s, unsigned idx, struct sc_core_stats *out);

/* For poll() implementations: counters the queue updates itself. */
static inline void sc_queue_account(struct sc_queue *q, uint64_t reqs, uint64_t bytes)
{
    q->stats.requests += reqs;
    q->stats.bytes += bytes;
}

#endif
