/* iohost server internals: the server and its exports (rio_server.c), the
 * per-socket queues with their sessions (rio_srv_sess.c) and the datagram
 * and request handling (rio_srv_rx.c). A socket queue and everything in it
 * belongs to the sidecore that polls it; exports are shared (counters are
 * atomics). */
#ifndef SC_RIO_SRV_INT_H
#define SC_RIO_SRV_INT_H

#include <stdatomic.h>
#include <sys/socket.h>

#include "rio_io.h"
#include "rio_reasm.h"
#include "rio_server.h"
#include "rio_wire.h"

#define RIO_MAX_EXPORTS 64
#define RIO_SESS_BUCKETS 256

struct rio_export {
    char name[RIO_NAME_MAX];
    uint32_t tag;
    struct blk_backend *be;
    struct blk_backend_info info;
    _Atomic uint64_t requests, bytes_read, bytes_written, errors;
    _Atomic uint64_t dup_writes, reread, resent, sessions, stale;
    _Atomic uint64_t nacks; /* partial writes answered with what arrived */
    _Atomic uint64_t expired, mem_drops; /* partial writes given up; writes dropped for memory */
    _Atomic uint64_t reclaimed; /* partial writes given up for a session below its share */
};

enum sreq_state { SR_RECV, SR_READY, SR_EXEC, SR_DONE };

struct rio_sq;
struct rio_sess;

struct rio_sreq {
    struct blk_io io; /* first: the backend's done() gets &io */
    struct rio_sq *sq;
    struct rio_sess *sess; /* NULL: orphaned (the client moved on) */
    unsigned ex;           /* export index */
    uint64_t id;
    enum sreq_state state;
    uint8_t op, flags;
    uint16_t queue;
    int status;
    uint32_t len;
    uint32_t lease;        /* the newest stamp its datagrams carried */
    uint64_t recv_ns;      /* SR_RECV: when its last fragment came */
    uint64_t offset;
    uint8_t *buf;
    struct iovec iov;
    struct rio_reasm *rx;  /* while receiving a WRITE's fragments */
    uint8_t *have;         /* READ resent with RIO_F_HAVE: fragments not to send again */
    uint16_t have_frag;    /* the fragment size that bitmap counts in */
    uint32_t resend_got, resend_sent; /* the client's count at the last HAVE, sent after it */
    struct rio_sreq *next_ready;
};

struct rio_sess {
    uint64_t id;
    unsigned ex;
    struct sockaddr_storage peer;
    socklen_t plen;
    uint64_t ack;
    uint64_t last_ns;
    unsigned live; /* requests not DONE (RECV, READY, EXEC) */
    unsigned receiving; /* of them in SR_RECV */
    uint64_t mem_held;  /* request data bytes of its own requests */
    struct rio_sess *hnext;
    struct rio_sreq *slot[RIO_ID_SPAN];
};

struct rio_sx {
    struct blk_bq *bq;
    int efd;
};

struct rio_server;

struct rio_sq {
    struct rio_server *srv;
    unsigned idx;
    int sock, epfd;
    struct sc_queue scq;
    char name[32];
    struct rio_sx sx[RIO_MAX_EXPORTS];
    struct rio_sess *buckets[RIO_SESS_BUCKETS];
    unsigned nsess;
    struct rio_sreq *ready_head, *ready_tail;
    /* Of the requests put back on the ready list since run_ready last
     * emptied it: how many wait for something untimed (memory, earlier
     * writes, room in a backend), and the earliest time a rate limit lets
     * one of the others go (UINT64_MAX: none). Only untimed ones keep the
     * sidecore polling. */
    unsigned ready_untimed;
    uint64_t ready_wake_ns;
    uint64_t mem_used;   /* orphans' included */
    unsigned holders;    /* sessions with mem_held > 0 */
    uint64_t starved;    /* session id refused memory while holding none, or 0 */
    uint64_t starved_ns; /* when */
    unsigned receiving;  /* requests in SR_RECV, all sessions */
    uint64_t sweep_ns;   /* next look for partial writes to expire */
    uint64_t mem_told_ns; /* when the log last said memory was short */
    uint64_t sess_told_ns; /* ... that the session table was full */
    unsigned exec; /* requests in backends, orphans included */
    uint8_t *stage;
    struct rio_rxbatch rxb;
    bool sent; /* something was sent this round: kick the backends */
};

struct rio_server {
    struct sc_set *scs;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    uint16_t frag_size;
    unsigned depth, max_sessions, nsq;
    uint64_t mem_budget, epoch;
    struct rio_export *ex[RIO_MAX_EXPORTS]; /* slots; NULL: free */
    _Atomic unsigned sessions;
    /* Datagrams dropped: damaged or not vRIO (CRC, header); requests for
     * no export of ours (answered -ENODEV). */
    _Atomic uint64_t malformed, unknown_export;
    _Atomic uint64_t sess_refused; /* new sessions turned away: table full */
    struct rio_sq *sq[];
};

/* rio_srv_sess.c */
struct rio_sess *rio_sess_find(struct rio_sq *sq, uint64_t id);
struct rio_sess *rio_sess_new(struct rio_sq *sq, uint64_t id, unsigned ex, uint64_t now);
void rio_sess_ack(struct rio_sq *sq, struct rio_sess *s, uint64_t ack);
/* Forget slot i of s (its request is settled by the client, replaced, or
 * the session goes away). A request still in a backend or on the ready
 * list is orphaned: whoever holds it frees it. */
void rio_sess_forget(struct rio_sq *sq, struct rio_sess *s, unsigned i);
/* Drops every session of export ex (or all with ex == ~0u); nothing may be
 * executing for them. */
void rio_sess_drop_export(struct rio_sq *sq, unsigned ex);
void rio_sreq_free(struct rio_sq *sq, struct rio_sreq *r);
/* Request data memory, shared fairly between the sessions of a socket: a
 * session may hold at most budget / (sessions holding or recently refused)
 * and never the last RIO_MEM_RESERVE share of it, so one busy vmhost (or a
 * guest writing large blocks at a high depth) cannot keep the others'
 * writes dropped. A session holding nothing may always take one request
 * that fits; one below its share that finds the memory taken gets it from
 * the partial writes of the session holding most above its share (their
 * client sends them again). rio_mem_take reserves len for r (false:
 * refused); rio_mem_give frees r's buffer and returns its share. */
#define RIO_MEM_RESERVE 4 /* budget / 4 always left to others */
bool rio_mem_take(struct rio_sq *sq, struct rio_sreq *r, uint64_t now);
void rio_mem_give(struct rio_sq *sq, struct rio_sreq *r);
/* r is orphaned: its buffer stays (the backend uses it) but no longer counts
 * against the session. */
void rio_mem_disown(struct rio_sq *sq, struct rio_sreq *r);
/* A write still receiving its fragments holds its whole buffer. One that
 * heard no new fragment for RIO_RECV_EXPIRE_NS has lost its client (crashed,
 * failed over, or never meant to finish): forgotten, so its memory serves
 * others; a client that is still there sends it again whole. Returns how
 * many went. */
#define RIO_RECV_EXPIRE_NS (2000ull * 1000000ull) /* 4 of the client's longest RTO */
unsigned rio_sess_expire_recv(struct rio_sq *sq, uint64_t now);

/* rio_srv_rx.c */
int rio_sq_poll(struct sc_queue *scq);
bool rio_sq_set_notify(struct sc_queue *scq, bool enable);
/* Control thread, queue detached: finish what executes (bounded). */
void rio_sq_drain(struct rio_sq *sq);

#endif
