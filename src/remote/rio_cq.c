/* vmhost client data path: one session per backend queue, run by the
 * sidecore that serves the device queue. See rio_client.h for the contract.
 *
 * Time-driven work (retransmissions, heartbeats, failover, probes) happens
 * in reap when the earliest deadline (next_check_ns) has passed; the timer
 * fd is armed for that deadline only when it moves earlier, so a busy queue
 * costs no timer syscalls per request.
 *
 * Congestion window: a queue keeps at most cwnd bytes of read and write
 * data at the iohost (always at least one request), more waiting in order
 * (W_QUEUED). Without it, 8 queued 1 MiB writes burst 8 MiB at a 10 Mbit/s
 * link (or 4 such queues into the iohost's socket buffer): most of every
 * burst was dropped, the rounds recovering each request shared the link,
 * and requests waited out their timeout (EIO). The window starts at
 * RIO_CWND_INIT, doubles per window answered (slow start) up to ssthresh,
 * then grows by a request's size (at least CWND_STEP) per window; a resend
 * on timeout halves it, once for all requests sent before the cut, as TCP
 * cuts once per round trip. The timeout of a request counts from when it
 * is sent, not queued. */
#include <errno.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/util.h"
#include "rio_client_int.h"
#include "rio_io.h"

#define RX_BUDGET 256 /* receives per reap */
#define RTO_MAX_NS (500ull * 1000000ull)
#define STALE_TELL 16 /* -ESTALE answers in a row before the log says why writes fail */
#define LEASE_KEEP_NS (10ull * 1000000000ull) /* keep_lease after the last write */
#define CWND_MIN (64ull << 10)
#define CWND_MAX (64ull << 20) /* the iohost's request memory per socket */
#define CWND_STEP (64ull << 10)
/* A read's resend round ends at least this long after its last fragment. */
#define READ_ROUND_MIN_NS (10ull * 1000000ull)

static const char *const state_names[] = {"connected", "failed-over", "recovering"};

/* What a request puts on the path: its data, either way. */
static inline uint64_t cost_of(const struct blk_io *io)
{
    return io->op == BLK_OP_READ || io->op == BLK_OP_WRITE ? io->len : 0;
}

static void set_where(struct rio_cq *q, struct rio_cslot *s, enum rio_where w)
{
    unsigned *cnt[] = {NULL,           &q->n_remote,  &q->n_held,
                       &q->n_fallback, &q->n_pending, &q->n_queued};
    if (s->where == W_REMOTE)
        q->flight -= cost_of(s->io);
    if (w == W_REMOTE)
        q->flight += cost_of(s->io);
    if (cnt[s->where])
        (*cnt[s->where])--;
    s->where = w;
    if (cnt[w])
        (*cnt[w])++;
}

static void due(struct rio_cq *q, uint64_t t)
{
    if (t < q->next_check_ns)
        q->next_check_ns = t;
}

static void arm(struct rio_cq *q)
{
    uint64_t t = q->next_check_ns;
    if (t == UINT64_MAX || (q->armed_ns && t >= q->armed_ns))
        return;
    struct itimerspec its = {.it_value = {.tv_sec = (time_t)(t / 1000000000ull),
                                          .tv_nsec = (long)(t % 1000000000ull)}};
    if (timerfd_settime(q->tfd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
        q->armed_ns = t;
}

static void rtt_sample(struct rio_cq *q, uint64_t s)
{
    if (!q->srtt_ns) {
        q->srtt_ns = s;
        q->rttvar_ns = s / 2;
    } else {
        uint64_t err = q->srtt_ns > s ? q->srtt_ns - s : s - q->srtt_ns;
        q->rttvar_ns = (3 * q->rttvar_ns + err) / 4;
        q->srtt_ns = (7 * q->srtt_ns + s) / 8;
    }
    q->rto_ns = SC_MIN(SC_MAX(q->be->rto_min_ns, q->srtt_ns + 4 * q->rttvar_ns), RTO_MAX_NS);
    atomic_store_explicit(&q->pub_srtt_ns, q->srtt_ns, memory_order_relaxed);
}

static void bump(_Atomic uint64_t *c)
{
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

/* Time from t to now. A reap reads the clock once and then sends (a
 * released FLUSH) with a fresher one, so t may lie after now: that is no
 * time at all, not 2^64 ns (which failed the request as unanswered). */
static inline uint64_t since(uint64_t now, uint64_t t)
{
    return now > t ? now - t : 0;
}

/* A request sent before the last cut was lost to the burst that caused
 * it: cutting again would shrink the window once per request of one loss. */
static void congested(struct rio_cq *q, const struct rio_cslot *s, uint64_t now)
{
    if (s->first_ns < q->cut_ns)
        return;
    q->ssthresh = SC_MAX(SC_MIN(q->flight, q->cwnd) / 2, CWND_MIN);
    q->cwnd = q->ssthresh;
    q->cut_ns = now;
    bump(&q->cwnd_cuts);
}

/* Only a window in use grows: a light load that never filled it says
 * nothing of what the path carries. */
static void grow(struct rio_cq *q, uint64_t bytes)
{
    if (!bytes || (2 * q->flight < q->cwnd && !q->n_queued))
        return;
    uint64_t step = SC_MAX(bytes, CWND_STEP);
    uint64_t add = q->cwnd < q->ssthresh ? bytes : SC_MAX(bytes * step / q->cwnd, 1);
    q->cwnd = SC_MIN(q->cwnd + add, CWND_MAX);
}

/* stale: a resend the iohost asked for (its lease ran out), not a loss. */
static void send_req(struct rio_cq *q, struct rio_cslot *s, uint64_t now, bool stale)
{
    struct blk_io *io = s->io;
    struct rio_hdr h = {
        .type = RIO_T_REQ,
        .op = (uint8_t)io->op,
        .flags = io->unmap ? RIO_F_UNMAP : 0,
        .queue = q->idx,
        .device = q->be->tag,
        .len = (uint32_t)io->len,
        .session = q->session,
        .id = s->id,
        .offset = io->offset,
        .ack = q->lwm,
        .lease = q->lease,
    };
    uint32_t data = io->op == BLK_OP_WRITE ? (uint32_t)io->len : 0;
    uint16_t frag = q->be->frag_size;
    bool progress = false;
    /* A datagram the socket cannot take now counts as lost. */
    if (s->tries && !stale && data > frag) {
        /* Resent as a probe: the first fragment; the iohost answers with
         * what it holds (NACK) and only the rest follows (rio_wire.h). */
        static const uint8_t first_only[RIO_MAX_FRAGS / 8] = {
            [0] = 0xfe, [1 ... RIO_MAX_FRAGS / 8 - 1] = 0xff};
        h.flags |= RIO_F_PROBE;
        rio_send_some(q->sock, NULL, 0, &h, io->iov, io->iovcnt, data, frag, q->stage,
                      first_only);
    } else if (s->tries && io->op == BLK_OP_READ && s->rx.got) {
        /* Resent with what arrived: the answer brings only the rest. A
         * resend after progress waits no longer than a plain timeout: the
         * answer came in part, so the link works but is slow (a round per
         * burst it can carry), which backoff would stretch to seconds. */
        progress = s->rx.got > s->nack_got;
        s->nack_got = s->rx.got;
        uint8_t map[RIO_MAX_FRAGS / 8];
        uint32_t n = rio_bitmap_bytes(s->rx.len, s->rx.frag_size);
        rio_reasm_bitmap(&s->rx, map);
        struct iovec v = {map, n};
        h.flags |= RIO_F_HAVE;
        rio_send(q->sock, NULL, 0, &h, &v, 1, n, s->rx.frag_size, q->stage);
    } else {
        rio_send(q->sock, NULL, 0, &h, io->iov, io->iovcnt, data, frag, q->stage);
    }
    if (io->op != BLK_OP_READ)
        q->last_write_ns = now;
    if (stale) {
        bump(&q->stale_resends);
    } else if (s->tries) {
        bump(&q->retransmits);
        congested(q, s, now);
    } else {
        s->first_ns = now;
    }
    s->tries++;
    uint64_t backoff = progress ? q->rto_ns : q->rto_ns << SC_MIN(s->tries - 1, 10u);
    s->deadline_ns = now + SC_MIN(backoff, RTO_MAX_NS);
    due(q, s->deadline_ns);
    due(q, s->first_ns + q->be->timeout_ns);
}

static void ping(struct rio_cq *q, uint64_t now)
{
    struct rio_hdr h = {.type = RIO_T_PING, .device = q->be->tag, .queue = q->idx,
                        .session = q->session, .offset = now};
    rio_send(q->sock, NULL, 0, &h, NULL, 0, 0, q->be->frag_size, q->stage);
    q->last_ping_ns = now;
}

static void waiting_starts(struct rio_cq *q, uint64_t now)
{
    if (q->n_remote + q->n_held == 0) {
        q->alive_ns = now;
        due(q, now + q->be->heartbeat_ns);
    }
}

static void go_remote(struct rio_cq *q, struct rio_cslot *s, uint64_t now)
{
    waiting_starts(q, now);
    set_where(q, s, W_REMOTE);
    s->tries = 0;
    s->nack_got = s->nack_sent = 0;
    s->nack_ns = s->nack_round_ns = 0;
    if (s->io->op == BLK_OP_READ)
        rio_reasm_reset(&s->rx, (uint32_t)s->io->len);
    send_req(q, s, now, false);
}

static struct rio_cslot *slot_of(struct rio_cq *q, uint64_t id)
{
    if (id < q->lwm || id >= q->next_id)
        return NULL;
    struct rio_cslot *s = &q->slots[id % q->window];
    return s->io && s->id == id ? s : NULL;
}

/* A FLUSH is sent once every earlier request of the session is answered. */
static void release_held(struct rio_cq *q)
{
    if (q->state != RQ_CONNECTED || !q->n_held || q->lwm == q->next_id)
        return;
    struct rio_cslot *s = &q->slots[q->lwm % q->window];
    if (s->where == W_HELD) {
        set_where(q, s, W_REMOTE);
        s->tries = 0;
        send_req(q, s, sc_now_ns(), false);
    }
}

/* Requests queue in id order and leave it in order: the scan starts at the
 * oldest one queued, not at the oldest one unanswered (a whole window of
 * them on every answer, when a slow link keeps the queue long). */
static void send_queued(struct rio_cq *q)
{
    uint64_t now = sc_now_ns(), id = SC_MAX(q->lwm, q->queued_from);
    for (; q->n_queued && id < q->next_id; id++) {
        struct rio_cslot *s = slot_of(q, id);
        if (!s || s->where != W_QUEUED)
            continue;
        if (q->flight && q->flight + cost_of(s->io) > q->cwnd)
            break;
        go_remote(q, s, now);
    }
    q->queued_from = id;
}

static void settle(struct rio_cq *q, struct rio_cslot *s, int res)
{
    struct blk_io *io = s->io;
    set_where(q, s, W_FREE);
    s->io = NULL;
    q->busy--;
    while (q->lwm < q->next_id && q->slots[q->lwm % q->window].where == W_FREE)
        q->lwm++;
    if (res < 0)
        bump(&q->failed);
    io->done(io, res);
    release_held(q);
    if (q->n_queued && q->state == RQ_CONNECTED)
        send_queued(q);
}

static void fb_done(struct blk_io *fio, int res)
{
    struct rio_cslot *s = (struct rio_cslot *)fio;
    settle(s->q, s, res);
}

static void to_fallback(struct rio_cq *q, struct rio_cslot *s)
{
    if (SC_UNLIKELY(q->fence_ns)) {
        if (sc_now_ns() < q->fence_ns) {
            set_where(q, s, W_FB_PENDING);
            q->fb_dirty = true;
            due(q, q->fence_ns);
            return;
        }
        q->fence_ns = 0;
    }
    s->fio = *s->io;
    s->fio.done = fb_done;
    q->fb_dirty = true;
    int rc = q->be->fallback->ops->submit(q->fbq, &s->fio);
    if (rc == 0) {
        set_where(q, s, W_FALLBACK);
        bump(&q->fb_requests);
    } else if (rc == -EAGAIN) {
        set_where(q, s, W_FB_PENDING);
    } else {
        settle(q, s, rc);
    }
}

/* Requests still in the network or the iohost may yet be applied there,
 * but none later than the lease of the newest stamp they can carry after
 * it arrived, plus the time a write submitted just then may take (bounded
 * by the lease too, an assumption on the iohost's storage). The fallback
 * takes nothing before that, so no write of it can be overtaken by an
 * abandoned one. After silence longer than that (failover_ms, 1 s by
 * default) the fence has passed already. */
static void failover(struct rio_cq *q, uint64_t now, const char *why)
{
    q->fence_ns = q->lease_rcv_ns ? q->lease_rcv_ns + 2ull * RIO_LEASE_MS * 1000000ull : 0;
    if (q->fence_ns <= now)
        q->fence_ns = 0;
    q->state = RQ_FAILED;
    bump(&q->failovers);
    LOG_WARN("remote", "%s q%u: iohost %s; %u request(s) %s", q->be->label, q->idx, why,
             q->n_remote + q->n_held + q->n_queued,
             q->fbq ? "go to the fallback" : "fail with EIO");
    uint64_t hi = q->next_id;
    for (uint64_t id = q->lwm; id < hi; id++) {
        struct rio_cslot *s = slot_of(q, id);
        if (!s || (s->where != W_REMOTE && s->where != W_HELD && s->where != W_QUEUED))
            continue;
        if (q->fbq)
            to_fallback(q, s);
        else
            settle(q, s, -EIO);
    }
    q->last_ping_ns = 0;
    due(q, now);
}

static void heard(struct rio_cq *q, uint64_t now)
{
    q->last_rx_ns = now;
    q->alive_ns = now;
    atomic_store_explicit(&q->pub_last_rx_ns, now, memory_order_relaxed);
    if (q->state != RQ_FAILED)
        return;
    bump(&q->reconnects);
    q->state = q->n_fallback + q->n_pending ? RQ_RECOVERING : RQ_CONNECTED;
    LOG_INFO("remote", "%s q%u: iohost answers again; %s", q->be->label, q->idx,
             q->state == RQ_RECOVERING ? "switching back once the fallback drains"
                                       : "switched back");
}

/* Where the next datagrams' data most likely belongs: the missing fragments
 * of the read whose fragment came last (an answer's fragments travel
 * together), else of the oldest read waiting for the iohost, from the first
 * missing one on, at most max of them, stopping at one already received.
 * Only missing fragments of reads are guessed, so a wrong guess scribbles
 * where the right data must still arrive, never over data already received
 * or over a write's buffer. Returns how many were guessed. */
struct guess {
    struct rio_cslot *s;
    uint32_t off, len;
};

static unsigned predict(struct rio_cq *q, struct guess *g, unsigned max)
{
    struct rio_cslot *s = q->last_rx;
    if (!s || !s->io || s->where != W_REMOTE || s->io->op != BLK_OP_READ) {
        s = NULL;
        for (uint64_t id = q->lwm; id < q->next_id && !s; id++) {
            struct rio_cslot *c = &q->slots[id % q->window];
            if (c->io && c->id == id && c->where == W_REMOTE && c->io->op == BLK_OP_READ)
                s = c;
        }
        if (!s)
            return 0;
    }
    const struct rio_reasm *r = &s->rx;
    uint32_t frag = r->frag_size ? r->frag_size : q->peer_frag;
    uint32_t n = (r->len + frag - 1) / frag;
    unsigned k = 0;
    for (uint32_t i = 0; i < n && i < RIO_MAX_FRAGS && k < max; i++) {
        bool have = r->frag_size && (r->bits[i / 64] >> (i % 64)) & 1;
        if (have && k)
            break;
        if (have)
            continue;
        g[k].s = s;
        g[k].off = i * frag;
        g[k].len = SC_MIN(frag, r->len - g[k].off);
        k++;
    }
    return k;
}

#define RX_GUESS 8 /* fragments guessed per receive (a 4K read's answer: 3) */

/* One receive: the guessed fragments' places, each behind room for its
 * header, then the stage for whatever does not fit the guess. */
struct rxlay {
    struct guess g[RX_GUESS];
    uint8_t hdr[RX_GUESS][RIO_HDR_SIZE];
    uint32_t start[RX_GUESS]; /* where guess j's header starts in the stream */
    unsigned first[RX_GUESS], nio[RX_GUESS], k;
    struct iovec v[RX_GUESS * (1 + RIO_FRAG_IOV) + 1];
    unsigned nv;
};

static void lay_out(struct rio_cq *q, struct rxlay *x)
{
    struct guess g[RX_GUESS];
    unsigned k = predict(q, g, RX_GUESS);
    uint32_t at = 0;
    x->k = x->nv = 0;
    for (unsigned j = 0; j < k; j++) {
        const struct blk_io *io = g[j].s->io;
        unsigned i = x->k;
        int nio = rio_iov_slice(io->iov, io->iovcnt, g[j].off, g[j].len, &x->v[x->nv + 1],
                                RIO_FRAG_IOV);
        if (nio < 0)
            break;
        x->g[i] = g[j];
        x->start[i] = at;
        x->v[x->nv] = (struct iovec){x->hdr[i], RIO_HDR_SIZE};
        x->first[i] = x->nv + 1;
        x->nio[i] = (unsigned)nio;
        x->nv += 1 + (unsigned)nio;
        at += RIO_HDR_SIZE + g[j].len;
        x->k++;
    }
    x->v[x->nv++] = (struct iovec){q->stage, RIO_DGRAM_MAX};
}

/* Takes one datagram, or with UDP_GRO a run of them coalesced by the
 * kernel (each seg bytes but the last), with a single recvmsg into the
 * layout. Bytes received, -EAGAIN, or -EINVAL (consumed, truncated). */
static ssize_t recv_run(struct rio_cq *q, struct rxlay *x, uint32_t *seg)
{
    union rio_gro_ctl ctl;
    struct msghdr m = {.msg_iov = x->v, .msg_iovlen = x->nv};
    ssize_t n;
    for (;;) {
        m.msg_control = ctl.buf;
        m.msg_controllen = sizeof(ctl.buf);
        n = recvmsg(q->sock, &m, MSG_DONTWAIT);
        if (n >= 0)
            break;
        /* ICMP errors (port unreachable) surface here: not data. */
        if (errno != EINTR && errno != ECONNREFUSED && errno != EHOSTUNREACH &&
            errno != ENETUNREACH)
            return -errno;
    }
    if (m.msg_flags & MSG_TRUNC)
        return -EINVAL;
    uint32_t gro = rio_gro_size(&m, (size_t)n);
    *seg = gro > RIO_HDR_SIZE ? gro : (uint32_t)n;
    return n;
}

/* Data of a data datagram is already in place (data NULL) when the guess
 * was right; otherwise it is copied from data to where it belongs. */
static void place(const struct rio_hdr *h, uint32_t dlen, const uint8_t *data,
                  struct blk_io *io)
{
    if (data)
        rio_buf_to_iov(io->iov, io->iovcnt, h->frag_off, data, dlen);
}

/* The iohost holds the fragments of a resent WRITE that map says: some of
 * the others go again, with the stamp the NACK brought, and a probe behind
 * them asks for the next NACK once they have drained, so the rounds keep
 * pace with the link. A link that drops a burst's tail (its queue is
 * shorter than the burst) would drop the probe too: rounds are sized by
 * rio_round_size. */
static void nacked(struct rio_cq *q, const struct rio_hdr *h, const uint8_t *map, uint64_t now)
{
    struct rio_cslot *s = slot_of(q, h->id);
    if (!s || !map || s->where != W_REMOTE || s->io->op != BLK_OP_WRITE ||
        h->offset != s->io->offset || h->len != s->io->len || h->frag_size != q->be->frag_size)
        return;
    struct blk_io *io = s->io;
    uint32_t nfrags = (h->len + h->frag_size - 1) / h->frag_size;
    uint32_t nb = rio_bitmap_bytes(h->len, h->frag_size), held = s->nack_got;
    uint64_t round = s->nack_ns ? since(now, s->nack_ns) : 0;
    uint32_t size = rio_round_size(map, nb, &held, &s->nack_sent);
    bool delivered = held > s->nack_got;
    /* A second NACK for one round (a timeout's probe overtook it) changes
     * nothing: the round's fragments are still on their way. */
    if (s->nack_ns && !delivered && round < s->nack_round_ns / 2)
        return;
    if (s->nack_ns && delivered)
        s->nack_round_ns = round;
    s->nack_got = held;
    s->nack_ns = now;
    uint8_t skip[RIO_MAX_FRAGS / 8];
    memcpy(skip, map, nb);
    uint32_t last = 0, sent = rio_round_cut(skip, nfrags, size, &last);
    s->nack_sent = sent;
    if (!sent)
        return;
    struct rio_hdr r = {.type = RIO_T_REQ, .op = RIO_OP_WRITE, .queue = q->idx,
                        .device = q->be->tag, .len = (uint32_t)io->len, .session = q->session,
                        .id = s->id, .offset = io->offset, .ack = q->lwm, .lease = q->lease};
    rio_send_some(q->sock, NULL, 0, &r, io->iov, io->iovcnt, (uint32_t)io->len,
                  q->be->frag_size, q->stage, skip);
    /* The probe: the last fragment sent again, flagged. */
    memset(skip, 0xff, nb);
    skip[last / 8] &= (uint8_t)~(1u << (last % 8));
    r.flags = RIO_F_PROBE;
    rio_send_some(q->sock, NULL, 0, &r, io->iov, io->iovcnt, (uint32_t)io->len,
                  q->be->frag_size, q->stage, skip);
    q->last_write_ns = now;
    bump(&q->retransmits);
    /* The next NACK comes once the round drains, about as long as the
     * last round took; a round that delivered was progress, so the wait
     * for its probe starts again from there, not from the backoff. */
    uint64_t wait = SC_MAX(q->rto_ns, 2 * s->nack_round_ns);
    s->deadline_ns = now + SC_MIN(wait, RTO_MAX_NS);
    due(q, s->deadline_ns);
}

/* One datagram, its data at data or (NULL) already in place. Returns 1
 * when it completed a request. */
static int rx_one(struct rio_cq *q, const struct rio_hdr *h, uint32_t dlen, const uint8_t *data,
                  uint64_t now)

{
    if (h->session != q->session)
        return 0;
    heard(q, now);
    if (h->lease && (!q->lease || (int32_t)(h->lease - q->lease) > 0)) {
        q->lease = h->lease;
        q->lease_rcv_ns = now;
    }
    if (h->type == RIO_T_PONG) {
        /* Only the echo of the latest ping: a damaged timestamp would be a
         * sample of any size, and the retransmission timeout with it. */
        if (h->offset && h->offset == q->last_ping_ns && h->offset <= now)
            rtt_sample(q, now - h->offset);
        return 0;
    }
    if (h->type == RIO_T_NACK) {
        nacked(q, h, data, now);
        return 0;
    }
    struct rio_cslot *s = h->type == RIO_T_RESP ? slot_of(q, h->id) : NULL;
    /* An answer echoes the request it ran; one that does not is damaged
     * (or ran a damaged request): the request is sent again. */
    if (!s || s->where != W_REMOTE || s->io->op != h->op || h->offset != s->io->offset ||
        (h->op != RIO_OP_FLUSH && h->len != s->io->len))
        return 0;
    if (h->status == -ESTALE) {
        /* The iohost refused the stamp we hold and sent a fresh one: take it
         * even if ours looks newer. Ours may be damaged (a stamp from its
         * future), and keeping the "newest" then refused every write for
         * good. */
        if (h->lease) {
            q->lease = h->lease;
            q->lease_rcv_ns = now;
        }
        if (++q->stale_streak >= STALE_TELL && !q->told_stale) {
            q->told_stale = true;
            LOG_WARN("remote", "%s q%u: writes keep arriving after the iohost's %u ms lease "
                     "(%u refusals in a row; answers take %llu us, smoothed over requests): a "
                     "path this slow, or queues (this one's large requests, the iohost's) "
                     "this long, let no write land; reads are not affected",
                     q->be->label, q->idx, RIO_LEASE_MS, q->stale_streak,
                     (unsigned long long)(q->srtt_ns / 1000));
        }
        send_req(q, s, now, true); /* carries the stamp of this answer */
        return 0;
    }
    if (h->status == 0 && h->op != RIO_OP_READ) {
        q->stale_streak = 0;
        q->told_stale = false;
    }
    int res = h->status;
    if (res == -ENODEV && !q->told_nodev) {
        q->told_nodev = true;
        LOG_ERR("remote", "%s q%u: the iohost has no export %s (deleted, or another "
                "configuration there): requests fail with I/O errors until it has",
                q->be->label, q->idx, q->be->device);
    } else if (res != -ENODEV) {
        q->told_nodev = false;
    }
    if (rio_carries_data(h)) {
        struct blk_io *io = s->io;
        if (h->len != io->len)
            return 0;
        if (rio_reasm_add(&s->rx, h) < 0)
            return 0;
        place(h, dlen, data, io);
        q->peer_frag = h->frag_size;
        q->last_rx = s;
        if (!rio_reasm_done(&s->rx)) {
            /* Still arriving: the resend waits until the answer stops, a
             * few of its fragments' spacing after the last one. A whole
             * RTO per round (up to 500 ms once a link's queue had swollen
             * it) made a 1 MiB read at 10 Mbit/s, about 50 rounds, outlast
             * its 10 s timeout. */
            if (s->tries > 1) {
                uint64_t gap = s->nack_ns ? since(now, s->nack_ns) : q->rto_ns;
                s->deadline_ns = now + SC_MIN(SC_MAX(4 * gap, READ_ROUND_MIN_NS), q->rto_ns);
                due(q, s->deadline_ns);
            }
            s->nack_ns = now;
            return 0;
        }
        res = 0;
    }
    if (s->tries == 1) {
        rtt_sample(q, since(now, s->first_ns));
        if (res == 0)
            grow(q, cost_of(s->io));
    }
    settle(q, s, res);
    return 1;
}

/* Whether datagram j of a run sits exactly on guess j: the same place in
 * the stream, the same size, and a header naming that very fragment. */
static bool on_guess(struct rio_cq *q, const struct rxlay *x, uint32_t j, uint32_t at,
                     uint32_t size, const struct rio_hdr *h)
{
    if (j >= x->k || x->start[j] != at || size != RIO_HDR_SIZE + x->g[j].len)
        return false;
    return h->type == RIO_T_RESP && rio_carries_data(h) && slot_of(q, h->id) == x->g[j].s &&
           h->frag_off == x->g[j].off;
}

/* One receive (a datagram, or a run of them) and each of its datagrams.
 * Requests completed, or -EAGAIN when nothing waits. */
static int rx_run(struct rio_cq *q, uint64_t now)
{
    struct rxlay x;
    lay_out(q, &x);
    uint32_t seg = 0;
    ssize_t n = recv_run(q, &x, &seg);
    if (n == -EINVAL || n == 0 || n > RIO_DGRAM_MAX)
        return 0;
    if (n < 0)
        return (int)n;
    uint32_t total = (uint32_t)n, m = (total + seg - 1) / seg;
    struct rio_hdr h[RX_GUESS];
    bool fast = m <= x.k;
    for (uint32_t j = 0; fast && j < m; j++) {
        uint32_t at = j * seg, size = SC_MIN(seg, total - at);
        fast = rio_hdr_decode(x.hdr[j], size, &h[j]) == 0 && on_guess(q, &x, j, at, size, &h[j]);
    }
    int done = 0;
    if (fast) {
        for (uint32_t j = 0; j < m; j++)
            if (rio_sealed(x.hdr[j], &x.v[x.first[j]], (int)x.nio[j], x.g[j].len))
                done += rx_one(q, &h[j], x.g[j].len, NULL, now);
        return done;
    }
    /* Some datagram is not where its data goes: the run is copied out
     * whole first, as placing one may overwrite a guessed place that holds
     * a later one. */
    rio_iov_to_buf(x.v, (int)x.nv, 0, q->flat, total);
    for (uint32_t at = 0; at < total; at += seg) {
        uint32_t size = SC_MIN(seg, total - at);
        const uint8_t *d = q->flat + at;
        struct rio_hdr one;
        if (size < RIO_HDR_SIZE || rio_hdr_decode(d, size, &one) < 0)
            continue;
        struct iovec data = {(void *)(d + RIO_HDR_SIZE), size - RIO_HDR_SIZE};
        if (rio_sealed(d, &data, 1, size - RIO_HDR_SIZE))
            done += rx_one(q, &one, size - RIO_HDR_SIZE, d + RIO_HDR_SIZE, now);
    }
    return done;
}

static int rx(struct rio_cq *q, uint64_t now)
{
    int done = 0;
    for (int i = 0; i < RX_BUDGET; i++) {
        int n = rx_run(q, now);
        if (n < 0)
            break;
        done += n;
    }
    return done;
}

/* An idle queue that wrote lately keeps the iohost's stamp fresh: the
 * first write after more than RIO_LEASE_MS of silence carried an old stamp,
 * was refused (-ESTALE) and cost a second round trip. A ping at half the
 * lease costs a datagram each way per 125 ms, for LEASE_KEEP_NS after the
 * last write; a queue idle longer pays the round trip again. */
static void keep_lease(struct rio_cq *q, uint64_t now)
{
    if (!q->lease_rcv_ns || !q->last_write_ns || since(now, q->last_write_ns) > LEASE_KEEP_NS)
        return;
    const uint64_t half = RIO_LEASE_MS * 1000000ull / 2;
    uint64_t t = SC_MAX(q->lease_rcv_ns, q->last_ping_ns) + half;
    if (now >= t) {
        ping(q, now);
        t = now + half;
    }
    due(q, t);
}

static void scan(struct rio_cq *q, uint64_t now)
{
    const struct rio_be *be = q->be;
    q->next_check_ns = UINT64_MAX;
    if (q->state == RQ_CONNECTED && q->n_remote + q->n_held > 0) {
        if (since(now, q->alive_ns) >= be->failover_ns) {
            failover(q, now, "silent");
        } else {
            uint64_t hi = q->next_id;
            for (uint64_t id = q->lwm; id < hi && q->state == RQ_CONNECTED; id++) {
                struct rio_cslot *s = slot_of(q, id);
                if (!s || s->where != W_REMOTE)
                    continue;
                if (since(now, s->first_ns) >= be->timeout_ns)
                    failover(q, now, "does not answer a request");
                else if (now >= s->deadline_ns)
                    send_req(q, s, now, false);
                else
                    due(q, SC_MIN(s->deadline_ns, s->first_ns + be->timeout_ns));
            }
        }
        if (q->state == RQ_CONNECTED) {
            uint64_t hb = SC_MAX(q->alive_ns, q->last_ping_ns) + be->heartbeat_ns;
            if (now >= hb) {
                ping(q, now);
                hb = now + be->heartbeat_ns;
            }
            due(q, hb);
            due(q, q->alive_ns + be->failover_ns);
        }
    }
    if (q->state == RQ_CONNECTED && q->n_remote + q->n_held == 0)
        keep_lease(q, now);
    if (q->state == RQ_FAILED) {
        if (now >= q->last_ping_ns + be->heartbeat_ns)
            ping(q, now);
        due(q, q->last_ping_ns + be->heartbeat_ns);
    }
}

/* The eventfd is drained before reaping (a completion after the read
 * signals again) and once more when nothing is left, because completions
 * reaped meanwhile may have counted and nothing else would read it. */
static int fallback_work(struct rio_cq *q)
{
    const struct blk_backend_ops *fo = q->be->fallback->ops;
    uint64_t v;
    if (q->fb_efd >= 0 && read(q->fb_efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
        LOG_DEBUG("remote", "fallback eventfd: %s", strerror(errno));
    int n = fo->reap(q->fbq);
    for (uint64_t id = q->lwm; q->n_pending && id < q->next_id; id++) {
        struct rio_cslot *s = slot_of(q, id);
        if (s && s->where == W_FB_PENDING) {
            to_fallback(q, s);
            if (s->where == W_FB_PENDING)
                break;
        }
    }
    if (!q->n_fallback && !q->n_pending) {
        if (q->fb_efd >= 0 && read(q->fb_efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
            LOG_DEBUG("remote", "fallback eventfd: %s", strerror(errno));
        q->fb_dirty = false;
    }
    return n;
}

static void publish(struct rio_cq *q)
{
    atomic_store_explicit(&q->pub_state, (int)q->state, memory_order_relaxed);
    atomic_store_explicit(&q->pub_remote, q->n_remote + q->n_held, memory_order_relaxed);
    atomic_store_explicit(&q->pub_fallback, q->n_fallback + q->n_pending, memory_order_relaxed);
    atomic_store_explicit(&q->pub_queued, q->n_queued, memory_order_relaxed);
    atomic_store_explicit(&q->pub_cwnd, q->cwnd, memory_order_relaxed);
}

int rio_cq_reap(struct rio_cq *q)
{
    uint64_t now = sc_now_ns();
    /* While requests wait, the timer reaps at least every heartbeat. A
     * longer gap is time this sidecore did not run (a stopped process, a
     * starved CPU): it sent no heartbeat and no resend then, so that time
     * is not the iohost's silence (all queues failed over at once, the
     * iohost answering within milliseconds). The request timeout still
     * counts it. */
    uint64_t gap = since(now, q->reap_ns);
    if (q->reap_ns && gap > q->be->heartbeat_ns + q->be->failover_ns / 4)
        q->alive_ns = SC_MIN(now, q->alive_ns + gap);
    q->reap_ns = now;
    if (q->armed_ns && now >= q->armed_ns) {
        uint64_t v;
        /* The timer may fire a little after its time: keep it armed until
         * the expiry is read, so it cannot stay readable unnoticed. */
        if (read(q->tfd, &v, sizeof(v)) == (ssize_t)sizeof(v))
            q->armed_ns = 0;
    }
    int n = rx(q, now);
    if (q->fbq && q->fb_dirty)
        n += fallback_work(q);
    if (q->state == RQ_RECOVERING && !q->n_fallback && !q->n_pending) {
        q->state = RQ_CONNECTED;
        release_held(q);
    }
    if (now >= q->next_check_ns)
        scan(q, now);
    arm(q);
    publish(q);
    return n;
}

void rio_cq_kick(struct rio_cq *q)
{
    if (q->fbq && q->fb_dirty)
        q->be->fallback->ops->kick(q->fbq);
}

void rio_cq_start(struct rio_cq *q)
{
    ping(q, sc_now_ns());
}

int rio_cq_submit(struct rio_cq *q, struct blk_io *io)
{
    if (io->op > BLK_OP_WRITE_ZEROES)
        return -EOPNOTSUPP;
    if ((io->op == BLK_OP_READ || io->op == BLK_OP_WRITE) &&
        (io->len == 0 || io->len > RIO_MAX_IO))
        return -EINVAL;
    if (io->len > UINT32_MAX)
        return -EINVAL;
    if (q->state == RQ_RECOVERING)
        return -EAGAIN; /* until the fallback drained */
    if (q->state == RQ_FAILED && !q->fbq) {
        /* Counted: peers said 4 failed while the guest saw 625,922 errors. */
        bump(&q->requests);
        bump(&q->failed);
        return -EIO;
    }
    if (q->next_id - q->lwm >= q->window)
        return -EAGAIN;
    uint64_t now = sc_now_ns();
    struct rio_cslot *s = &q->slots[q->next_id % q->window];
    s->id = q->next_id++;
    s->io = io;
    s->where = W_FREE;
    q->busy++;
    bump(&q->requests);
    if (q->state == RQ_FAILED) {
        to_fallback(q, s);
    } else if (io->op == BLK_OP_FLUSH && s->id != q->lwm) {
        waiting_starts(q, now);
        set_where(q, s, W_HELD);
    } else if (cost_of(io) && q->flight &&
               (q->n_queued || q->flight + cost_of(io) > q->cwnd)) {
        if (!q->n_queued)
            q->queued_from = s->id;
        set_where(q, s, W_QUEUED);
    } else {
        go_remote(q, s, now);
    }
    arm(q);
    return 0;
}

const char *rio_state_name(int st)
{
    return st >= 0 && st < 3 ? state_names[st] : "?";
}
