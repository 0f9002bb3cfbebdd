/* vmhost client internals: the backend (rio_client.c: create, HELLO, queue
 * life cycle, stats) and its queues (rio_cq.c: the data path). A slot holds
 * one request; request id i lives in slot i % window, which is free because
 * ids run at most window ahead of the low-water mark (lwm: the oldest id not
 * yet settled). Counters the control thread reads are relaxed atomics. */
#ifndef SC_RIO_CLIENT_INT_H
#define SC_RIO_CLIENT_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>

#include "rio_client.h"
#include "rio_reasm.h"

#define RIO_CWND_INIT (1ull << 20)

enum rio_where {
    W_FREE,
    W_REMOTE,     /* sent, waiting for the answer */
    W_HELD,       /* FLUSH waiting for every earlier id */
    W_FALLBACK,   /* in the fallback backend */
    W_FB_PENDING, /* the fallback refused for room: retried at reap */
    W_QUEUED,     /* waits for room in the congestion window */
};

enum rio_qstate { RQ_CONNECTED, RQ_FAILED, RQ_RECOVERING };

struct rio_cq;

struct rio_cslot {
    struct blk_io fio; /* first: the fallback's done() gets &fio */
    struct blk_io *io;
    struct rio_cq *q;
    uint64_t id;
    uint64_t first_ns, deadline_ns;
    unsigned tries;
    /* Resending by rounds (rio_cq.c): for a WRITE, the fragments the
     * iohost held at the last NACK, how many the round after it sent, when
     * it came and how long the round before it took; for a READ, nack_got
     * is what the client held at its last resend, nack_ns when its last
     * fragment came. */
    uint32_t nack_got, nack_sent;
    uint64_t nack_ns, nack_round_ns;
    enum rio_where where;
    struct rio_reasm rx;
};

struct rio_be {
    struct blk_backend base;
    char device[64];
    char label[200]; /* the log's: "device vm1 (disk0 on 10.0.0.2:7400)" */
    uint32_t tag;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    uint16_t frag_size;
    unsigned window;
    uint64_t heartbeat_ns, failover_ns, timeout_ns, rto_min_ns;
    struct blk_backend_info info;
    struct blk_backend *fallback;
    pthread_mutex_t lock; /* queue list, for stats */
    struct rio_cq *queues;
    _Atomic uint64_t past_requests, past_retransmits, past_failovers, past_reconnects,
        past_fb, past_failed, past_stale, past_cuts;
    /* The newest answer from the iohost that no open queue holds: the
     * creation's HELLO, then each closed queue's last (0: none). */
    _Atomic uint64_t past_rx_ns;
};

struct rio_cq {
    struct rio_be *be;
    int sock, tfd, epfd;
    struct blk_bq *fbq;
    int fb_efd;
    uint64_t session, next_id, lwm;
    unsigned window, busy, n_remote, n_fallback, n_pending, n_held, n_queued;
    enum rio_qstate state;
    uint64_t alive_ns;     /* last sign of life (or start of waiting) */
    uint64_t reap_ns;      /* the last reap: a longer gap is our own stall */
    uint64_t last_rx_ns, last_ping_ns;
    uint64_t next_check_ns, armed_ns;
    uint64_t srtt_ns, rttvar_ns, rto_ns;
    /* Congestion window (rio_cq.c): data bytes of requests at the iohost,
     * at most cwnd of them (but always one request). */
    uint64_t cwnd, ssthresh, flight; /* cwnd starts at RIO_CWND_INIT */
    uint64_t cut_ns;       /* the last cut: losses of requests sent before it are its own */
    uint64_t queued_from;  /* no request older than this id is W_QUEUED */
    uint32_t lease;        /* the newest iohost stamp (rio_wire.h), echoed in REQs */
    uint64_t lease_rcv_ns; /* when it arrived */
    uint64_t last_write_ns; /* the last write-like request sent (keep_lease) */
    uint64_t fence_ns;     /* the fallback takes nothing before (see failover) */
    uint8_t *stage;        /* RIO_DGRAM_MAX: scattered sends, receives past the guess */
    uint8_t *flat;         /* RIO_DGRAM_MAX: a mispredicted receive, copied out */
    struct rio_cslot *last_rx; /* the read whose fragment arrived last */
    uint16_t peer_frag;    /* the iohost's fragment size, as last seen */
    _Atomic int pub_state;
    _Atomic uint64_t pub_srtt_ns, pub_remote, pub_fallback, pub_last_rx_ns;
    _Atomic uint64_t pub_queued, pub_cwnd;
    _Atomic uint64_t requests, retransmits, failovers, reconnects, fb_requests, failed;
    _Atomic uint64_t stale_resends, cwnd_cuts;
    bool fb_dirty;         /* the fallback's eventfd may hold a count */
    bool told_nodev;       /* logged that the iohost has no such export (until it has) */
    bool told_stale;       /* logged that writes keep missing the lease */
    unsigned stale_streak; /* -ESTALE answers since a write last landed */
    uint16_t idx;
    struct rio_cq *next;
    struct rio_cslot slots[];
};

/* rio_cq.c */
/* A new queue asks for the iohost's stamp at once: without one its first
 * write would be refused (-ESTALE) and cost a second round trip. */
void rio_cq_start(struct rio_cq *q);
int rio_cq_submit(struct rio_cq *q, struct blk_io *io);
int rio_cq_reap(struct rio_cq *q);
void rio_cq_kick(struct rio_cq *q);
const char *rio_state_name(int st);

#endif
