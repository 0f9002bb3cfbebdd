/* vmhost side of vRIO: a block backend that forwards requests to an export
 * on an iohost. The virtio-blk device uses it like any backend and never
 * sees the network.
 *
 * Each backend queue is one session: its own non-blocking UDP socket,
 * driven only by the sidecore that serves the device queue (no locks). It
 * keeps at most `window` requests in flight, retransmits unanswered ones
 * (timeout from the measured round trip, doubled per retry), holds a FLUSH
 * until every earlier request of the session is answered, and sends
 * heartbeats while it waits. When the iohost stays silent for failover_ms
 * (or one request waits timeout_ms), the queue fails over: outstanding and
 * new requests go to the fallback backend (which must reach the same
 * storage, e.g. the shared image file) or complete with -EIO. It keeps
 * probing; when the iohost answers again it lets the fallback drain and
 * switches back. Every request therefore completes within about
 * timeout_ms + the fallback's own time.
 *
 * event_fd is an epoll set of the socket, the retransmission timer and the
 * fallback's completions, drained by reap: a sleeping sidecore wakes for a
 * reply, a due retransmission or a probe. */
#ifndef SC_RIO_CLIENT_H
#define SC_RIO_CLIENT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "../backend/blk_backend.h"

struct rio_blk_params {
    const char *server;       /* "host:port" of the iohost */
    const char *device;       /* export name there */
    const char *what;         /* names the device in the log, e.g. "device vm1" */
    unsigned mtu;             /* path MTU, 0: 1500 */
    unsigned window;          /* requests in flight per queue, 0: 128 (<= 1024) */
    unsigned heartbeat_ms;    /* 0: 100 */
    unsigned failover_ms;     /* silence before failover, 0: 1000 */
    unsigned timeout_ms;      /* longest wait for one answer, 0: 10000 */
    unsigned rto_min_us;      /* retransmission timeout floor, 0: 2000 */
    unsigned connect_ms;      /* HELLO at create time, 0: 2000 */
    uint64_t size;            /* 0: ask the iohost (it must answer then) */
    struct blk_backend *fallback; /* NULL: -EIO while failed over; owned */
};

struct rio_peer_stats {
    const char *state;        /* "connected", "failed-over", "recovering" (worst queue),
                               * "idle" (no queue open) */
    unsigned queues;
    uint64_t rtt_us;          /* smoothed, mean over queues that measured one */
    uint64_t in_flight;       /* requests waiting for the iohost */
    uint64_t on_fallback;     /* requests in the fallback now */
    uint64_t queued;          /* requests waiting for room in the congestion window */
    uint64_t cwnd_bytes;      /* congestion windows, summed over queues */
    uint64_t cwnd_cuts;       /* times a loss halved a window */
    uint64_t requests, retransmits, failovers, reconnects;
    uint64_t fallback_requests, failed_requests;
    uint64_t stale_resends;   /* writes the iohost refused for an old lease, sent again */
    int64_t last_rx_ms;       /* since the iohost last answered (the quietest open queue's;
                               * with none open, its last answer to any); -1: never */
};

/* Fills the fields p leaves 0 with the defaults rio_blk_create applies. */
void rio_blk_params_defaults(struct rio_blk_params *p);

/* On success the backend owns p->fallback; on failure (NULL, reason in *why)
 * the caller still does. */
struct blk_backend *rio_blk_create(const struct rio_blk_params *p, const char **why);
bool rio_blk_is(const struct blk_backend *b);

/* Whom a remote backend asks: a copy, usable after the backend is gone. */
struct rio_target {
    struct sockaddr_storage addr;
    socklen_t addrlen;
    uint32_t tag;
    char device[64];
};
void rio_blk_target(const struct blk_backend *b, struct rio_target *t);
/* Asks the iohost (HELLO, up to 2 s) whether its export has size bytes, as
 * a remote device must before it is resized: 0, or -ENOENT, -ETIMEDOUT,
 * -EINVAL (another size) with why; *heard_ns as for rio_target_probe.
 * Blocks: for a thread of its own. */
int rio_target_check_size(const struct rio_target *t, uint64_t size, uint64_t *heard_ns,
                          const char **why);
/* One HELLO to the export (timeout_ms): 0 with the round trip in *rtt_ns;
 * -ENOENT (it answered: no such export) or -ETIMEDOUT, with why. *heard_ns:
 * when it answered (0: it did not). Blocks: for a thread of its own. */
int rio_target_probe(const struct rio_target *t, unsigned timeout_ms, uint64_t *rtt_ns,
                     uint64_t *heard_ns, const char **why);
/* The iohost answered the target at when_ns (a probe's or a resize's
 * HELLO): last_rx_ms counts from there while no queue is open. */
void rio_blk_heard(struct blk_backend *b, uint64_t when_ns);
void rio_blk_stats(struct blk_backend *b, struct rio_peer_stats *out);

#endif
