/* iohost socket queue: one poll round reaps the exports' backends, retries
 * requests that were waiting (a FLUSH behind earlier writes, a full backend,
 * QoS), then takes up to RX_BUDGET datagrams from the socket, a batch per
 * syscall. Data of a WRITE is copied from the batch slot into the request's
 * buffer at its fragment's offset; READ data is sent straight from it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/util.h"
#include "rio_io.h"
#include "rio_srv_int.h"

#define RX_BUDGET 128
#define DRAIN_NS (5ull * 1000000000ull)

static bool write_like(uint8_t op)
{
    return op == RIO_OP_WRITE || op == RIO_OP_DISCARD || op == RIO_OP_WRITE_ZEROES;
}

static void bump(_Atomic uint64_t *c, uint64_t v)
{
    atomic_fetch_add_explicit(c, v, memory_order_relaxed);
}

static int export_by_tag(struct rio_server *srv, uint32_t tag)
{
    for (unsigned i = 0; i < RIO_MAX_EXPORTS; i++)
        if (srv->ex[i] && srv->ex[i]->tag == tag)
            return (int)i;
    return -1;
}

static void send_resp(struct rio_sq *sq, struct rio_sess *s, struct rio_sreq *r)
{
    struct rio_hdr h = {.type = RIO_T_RESP, .op = r->op, .queue = r->queue,
                        .device = sq->srv->ex[r->ex]->tag, .status = r->status, .len = r->len,
                        .session = s->id, .id = r->id, .offset = r->offset,
                        .lease = rio_stamp(sc_now_ns())};
    bool data = r->op == RIO_OP_READ && r->status == 0;
    const uint8_t *skip = data && r->have_frag == sq->srv->frag_size ? r->have : NULL;
    rio_send_some(sq->sock, (struct sockaddr *)&s->peer, s->plen, &h, &r->iov, 1,
                  data ? r->len : 0, sq->srv->frag_size, sq->stage, skip);
    free(r->have);
    r->have = NULL;
}

/* A WRITE still assembling was resent (RIO_F_PROBE): which fragments are
 * here, so the client sends only the others (rio_wire.h). */
static void send_nack(struct rio_sq *sq, struct rio_sess *s, struct rio_sreq *r)
{
    uint8_t map[RIO_MAX_FRAGS / 8];
    uint32_t n = rio_bitmap_bytes(r->len, r->rx->frag_size);
    rio_reasm_bitmap(r->rx, map);
    struct rio_hdr h = {.type = RIO_T_NACK, .op = RIO_OP_WRITE, .queue = r->queue,
                        .device = sq->srv->ex[r->ex]->tag, .len = r->len, .session = s->id,
                        .id = r->id, .offset = r->offset, .lease = rio_stamp(sc_now_ns())};
    struct iovec v = {map, n};
    rio_send(sq->sock, (struct sockaddr *)&s->peer, s->plen, &h, &v, 1, n, r->rx->frag_size,
             sq->stage);
    bump(&sq->srv->ex[r->ex]->nacks, 1);
}

/* A READ resent with RIO_F_HAVE: its answer leaves out what the client
 * holds, and is cut to a round (rio_round_size): a link that drops a
 * burst's tail carries every fragment of a burst it can take. */
static void take_have(struct rio_sreq *r, const struct rio_hdr *h, const uint8_t *data,
                      uint32_t dlen)
{
    if (r->op != RIO_OP_READ || !(h->flags & RIO_F_HAVE) || r->have)
        return;
    if (!(r->have = malloc(dlen)))
        return;
    memcpy(r->have, data, dlen);
    r->have_frag = h->frag_size;
    uint32_t size = rio_round_size(data, dlen, &r->resend_got, &r->resend_sent);
    uint32_t nfrags = (r->len + h->frag_size - 1) / h->frag_size;
    r->resend_sent = rio_round_cut(r->have, nfrags, size, NULL);
}

/* wake_ns: when a rate limit lets r go, or 0 when r waits for something
 * untimed (see struct rio_sq). */
static void ready_push(struct rio_sq *sq, struct rio_sreq *r, uint64_t wake_ns)
{
    if (wake_ns)
        sq->ready_wake_ns = SC_MIN(sq->ready_wake_ns, wake_ns);
    else
        sq->ready_untimed++;
    r->next_ready = NULL;
    if (sq->ready_tail)
        sq->ready_tail->next_ready = r;
    else
        sq->ready_head = r;
    sq->ready_tail = r;
}

static void finish(struct rio_sq *sq, struct rio_sreq *r, int res)
{
    struct rio_export *ex = sq->srv->ex[r->ex];
    if (res < 0)
        bump(&ex->errors, 1);
    else if (r->op == RIO_OP_READ)
        bump(&ex->bytes_read, r->len);
    else if (r->op == RIO_OP_WRITE)
        bump(&ex->bytes_written, r->len);
    struct rio_sess *s = r->sess;
    if (!s) {
        rio_sreq_free(sq, r);
        return;
    }
    r->status = res;
    r->state = SR_DONE;
    s->live--;
    send_resp(sq, s, r);
    rio_mem_give(sq, r);
}

static void backend_done(struct blk_io *io, int res)
{
    struct rio_sreq *r = (struct rio_sreq *)io;
    r->sq->exec--;
    finish(r->sq, r, res);
}

/* Is a write of s with a smaller id than id still unfinished? */
static bool earlier_writes(const struct rio_sess *s, uint64_t id)
{
    uint64_t from = id - s->ack > RIO_ID_SPAN ? id - RIO_ID_SPAN : s->ack;
    for (uint64_t i = from; i < id; i++) {
        const struct rio_sreq *r = s->slot[i % RIO_ID_SPAN];
        if (r && r->id == i && r->state != SR_DONE && write_like(r->op))
            return true;
    }
    return false;
}

/* Memory for a request is refused (a write dropped, counted; a read waits):
 * logged at most every 10 s. */
static void mem_refused(struct rio_sq *sq, const struct rio_sreq *r, bool dropped)
{
    if (dropped)
        bump(&sq->srv->ex[r->ex]->mem_drops, 1);
    uint64_t now = sc_now_ns();
    if (sq->mem_told_ns && now - sq->mem_told_ns < 10ull * 1000000000ull)
        return;
    sq->mem_told_ns = now;
    LOG_WARN("remote", "%s: request memory short (%llu of %llu bytes held, %llu by this session, "
             "%u session(s) holding, %u partial write(s)): a request of %u bytes for export %s "
             "waits or is dropped until some completes or expires",
             sq->name, (unsigned long long)sq->mem_used,
             (unsigned long long)sq->srv->mem_budget,
             (unsigned long long)(r->sess ? r->sess->mem_held : 0), sq->holders, sq->receiving,
             r->len, sq->srv->ex[r->ex]->name);
}

/* A write-like request whose lease ran out (rio_wire.h): answered -ESTALE
 * and forgotten, so the client's resend is a new request. */
static void refuse_stale(struct rio_sq *sq, struct rio_sreq *r)
{
    struct rio_sess *s = r->sess;
    bump(&sq->srv->ex[r->ex]->stale, 1);
    r->status = -ESTALE;
    send_resp(sq, s, r);
    s->slot[r->id % RIO_ID_SPAN] = NULL;
    s->live--;
    rio_sreq_free(sq, r);
}

/* A READY request to its backend, or back on the ready list. The lease is
 * checked here, at the last moment before the backend, every time a
 * waiting request is tried again. */
static void start(struct rio_sq *sq, struct rio_sreq *r)
{
    uint64_t now = sc_now_ns();
    if (write_like(r->op) && !rio_stamp_fresh(r->lease, rio_stamp(now))) {
        refuse_stale(sq, r);
        return;
    }
    if (r->op == RIO_OP_READ && !r->buf && !rio_mem_take(sq, r, now)) {
        mem_refused(sq, r, false);
        ready_push(sq, r, 0);
        return;
    }
    if (r->op == RIO_OP_FLUSH && earlier_writes(r->sess, r->id)) {
        ready_push(sq, r, 0);
        return;
    }
    struct rio_export *ex = sq->srv->ex[r->ex];
    bool data = r->op == RIO_OP_READ || r->op == RIO_OP_WRITE;
    r->io = (struct blk_io){.op = (enum blk_op)r->op, .offset = r->offset, .len = r->len,
                            .iov = data ? &r->iov : NULL, .iovcnt = data ? 1 : 0,
                            .unmap = r->flags & RIO_F_UNMAP, .done = backend_done};
    int rc = ex->be->ops->submit(sq->sx[r->ex].bq, &r->io);
    if (rc == -EAGAIN) {
        const struct blk_backend_ops *o = ex->be->ops;
        ready_push(sq, r, o->retry_ns ? o->retry_ns(sq->sx[r->ex].bq) : 0);
    } else if (rc < 0) {
        finish(sq, r, rc);
    } else {
        r->state = SR_EXEC;
        sq->exec++;
        sq->sent = true;
    }
}

static int run_ready(struct rio_sq *sq)
{
    struct rio_sreq *r = sq->ready_head;
    int n = 0;
    sq->ready_head = sq->ready_tail = NULL;
    sq->ready_untimed = 0;
    sq->ready_wake_ns = UINT64_MAX;
    while (r) {
        struct rio_sreq *next = r->next_ready;
        if (!r->sess)
            rio_sreq_free(sq, r);
        else
            start(sq, r);
        n += sq->ready_tail != r; /* still waiting is not work */
        r = next;
    }
    return n;
}

/* The range check every data or range request passes; -errno to answer. */
static int check_req(const struct rio_export *ex, const struct rio_hdr *h)
{
    const struct blk_backend_info *inf = &ex->info;
    if (write_like(h->op) && inf->read_only)
        return -EROFS;
    if (h->op == RIO_OP_FLUSH)
        return 0;
    if ((h->op == RIO_OP_DISCARD && !inf->can_discard) ||
        (h->op == RIO_OP_WRITE_ZEROES && !inf->can_write_zeroes))
        return -EOPNOTSUPP;
    if (h->len == 0 || h->len % 512 || h->offset % 512 || h->offset > inf->size ||
        h->len > inf->size - h->offset)
        return -EINVAL;
    return 0;
}

static struct rio_sreq *new_req(struct rio_sq *sq, struct rio_sess *s, const struct rio_hdr *h,
                                uint64_t now)
{
    struct rio_sreq *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->sq = sq;
    r->sess = s;
    r->ex = s->ex;
    r->id = h->id;
    r->op = h->op;
    r->flags = h->flags & ~RIO_F_RESEND;
    r->queue = h->queue;
    r->len = h->op == RIO_OP_FLUSH ? 0 : h->len;
    r->lease = h->lease;
    r->offset = h->offset;
    r->state = SR_READY;
    int err = check_req(sq->srv->ex[s->ex], h);
    if (!err && r->op == RIO_OP_WRITE) {
        r->rx = malloc(sizeof(*r->rx));
        if (!r->rx || !rio_mem_take(sq, r, now)) {
            if (r->rx)
                mem_refused(sq, r, true);
            free(r->rx);
            free(r);
            return NULL; /* dropped: the client sends it again */
        }
        rio_reasm_reset(r->rx, r->len);
        r->state = SR_RECV;
        r->recv_ns = now;
        sq->receiving++;
        s->receiving++;
    }
    s->slot[h->id % RIO_ID_SPAN] = r;
    s->live++;
    bump(&sq->srv->ex[s->ex]->requests, 1);
    if (err)
        finish(sq, r, err);
    return r;
}

/* Does a datagram of request r say what r has? (Retransmissions always do;
 * a damaged datagram may not.) */
static bool same_req(const struct rio_sreq *r, const struct rio_hdr *h)
{
    return r->op == h->op && r->flags == (h->flags & ~RIO_F_RESEND) && r->offset == h->offset &&
           (h->op == RIO_OP_FLUSH || r->len == h->len);
}

/* A request for an export this iohost does not have (deleted, renamed,
 * or another config after a restart): answered -ENODEV, once per request
 * (its first datagram), so the vmhost fails it at once and says why
 * instead of waiting out its timeout. */
static void no_export(struct rio_sq *sq, const struct rio_hdr *h,
                      const struct sockaddr_storage *from, socklen_t flen)
{
    if (h->frag_off)
        return;
    atomic_fetch_add_explicit(&sq->srv->unknown_export, 1, memory_order_relaxed);
    struct rio_hdr a = {.type = RIO_T_RESP, .op = h->op, .queue = h->queue,
                        .device = h->device, .status = -ENODEV, .len = h->len,
                        .session = h->session, .id = h->id, .offset = h->offset,
                        .lease = rio_stamp(sc_now_ns())};
    rio_send(sq->sock, (const struct sockaddr *)from, flen, &a, NULL, 0, 0, sq->srv->frag_size,
             sq->stage);
}

static void handle_req(struct rio_sq *sq, const struct rio_hdr *h, const uint8_t *data,
                       uint32_t dlen, const struct sockaddr_storage *from, socklen_t flen,
                       uint64_t now)
{
    struct rio_server *srv = sq->srv;
    /* A client's low-water mark is at most the id of any request it still
     * sends, and less than RIO_ID_SPAN below it. A header that says
     * otherwise is damaged, and taking its ack would move the session's
     * window past every id the client will send: all of them dropped, the
     * device silent for good. */
    if (h->ack > h->id || h->id - h->ack >= RIO_ID_SPAN)
        return;
    int exi = export_by_tag(srv, h->device);
    if (exi < 0) {
        no_export(sq, h, from, flen);
        return;
    }
    struct rio_sess *s = rio_sess_find(sq, h->session);
    if (!s)
        s = rio_sess_new(sq, h->session, (unsigned)exi, now);
    if (!s || (int)s->ex != exi)
        return;
    memcpy(&s->peer, from, flen);
    s->plen = flen;
    rio_sess_ack(sq, s, h->ack);
    if (h->id < s->ack || h->id - s->ack >= RIO_ID_SPAN)
        return;
    struct rio_sreq *r = s->slot[h->id % RIO_ID_SPAN];
    if (r && r->id != h->id)
        return;
    if (r && !same_req(r, h)) {
        /* If the first datagram was damaged, the request it made refused
         * every retransmission and never finished. One still receiving,
         * or finished without changing anything (a read, a failure), holds
         * nothing a backend uses: the newer datagram starts it again. A
         * write that ran is not run again in another shape: its answer
         * echoes what ran, the client ignores it, and the request fails
         * there after its timeout (it did not land where it was sent). A
         * running one answers first. */
        bool redo = r->state == SR_RECV ||
                    (r->state == SR_DONE && (!write_like(r->op) || r->status != 0));
        if (!redo) {
            if (r->state == SR_DONE)
                send_resp(sq, s, r);
            return;
        }
        rio_sess_forget(sq, s, (unsigned)(h->id % RIO_ID_SPAN));
        r = NULL;
    }
    if (!r) {
        /* Only progress (a new request, a new fragment) keeps a session
         * from being forgotten: a peer repeating datagrams held its place
         * in the table for good. */
        s->last_ns = now;
        r = new_req(sq, s, h, now);
        if (!r || r->state != SR_RECV) {
            if (r && r->state == SR_READY) {
                take_have(r, h, data, dlen);
                start(sq, r);
            }
            return;
        }
    }
    struct rio_export *ex = srv->ex[s->ex];
    if ((int32_t)(h->lease - r->lease) > 0)
        r->lease = h->lease; /* sent after the stamp the request had so far */
    switch (r->state) {
    case SR_RECV:
        /* rio_hdr_decode checked that the fragment lies within len. */
        if (!rio_carries_data(h) || h->len != r->len)
            return;
        memcpy(r->buf + h->frag_off, data, dlen);
        int added = rio_reasm_add(r->rx, h);
        /* Only a new fragment is progress: a peer repeating one it holds
         * kept its partial write, and the memory and session it holds, for
         * good. */
        if (added > 0)
            r->recv_ns = s->last_ns = now;
        if (added >= 0 && rio_reasm_done(r->rx)) {
            free(r->rx);
            r->rx = NULL;
            r->state = SR_READY;
            sq->receiving--;
            s->receiving--;
            start(sq, r);
        } else if ((h->flags & RIO_F_PROBE) && r->rx->frag_size) {
            send_nack(sq, s, r);
        }
        return;
    case SR_DONE:
        if (r->op == RIO_OP_READ && r->status == 0) {
            /* Reads are answered again by reading again. */
            bump(&ex->reread, 1);
            r->state = SR_READY;
            s->live++;
            take_have(r, h, data, dlen);
            start(sq, r);
        } else if (h->frag_off == 0) {
            /* Once per copy of the request, not per fragment of it (a
             * write's count and answers were multiplied by its fragments). */
            if (r->op == RIO_OP_WRITE)
                bump(&ex->dup_writes, 1);
            bump(&ex->resent, 1);
            send_resp(sq, s, r);
        }
        return;
    case SR_READY:
    case SR_EXEC:
        return; /* in progress: its answer will come */
    }
}

static void handle_hello(struct rio_sq *sq, const struct rio_hdr *h, const uint8_t *data,
                         uint32_t dlen, const struct sockaddr_storage *from, socklen_t flen)
{
    struct rio_server *srv = sq->srv;
    char name[RIO_NAME_MAX] = {0};
    memcpy(name, data, SC_MIN(dlen, (uint32_t)sizeof(name) - 1));
    int exi = export_by_tag(srv, rio_tag(name));
    struct rio_export *ex = exi >= 0 && !strcmp(srv->ex[exi]->name, name) ? srv->ex[exi] : NULL;
    struct rio_hdr a = {.type = RIO_T_HELLO_ACK, .device = h->device, .id = h->id,
                        .status = ex ? 0 : -ENOENT, .lease = rio_stamp(sc_now_ns())};
    uint8_t wire[RIO_HDR_SIZE], info[RIO_HELLO_INFO_SIZE];
    rio_hdr_encode(&a, wire);
    struct iovec out[2] = {{wire, sizeof(wire)}, {info, sizeof(info)}};
    if (ex) {
        const struct blk_backend_info *i = &ex->info;
        struct rio_hello_info hi = {
            .size = i->size, .block_size = i->block_size, .epoch = srv->epoch,
            .flags = (i->read_only ? RIO_EX_READ_ONLY : 0) |
                     (i->can_discard ? RIO_EX_DISCARD : 0) |
                     (i->can_write_zeroes ? RIO_EX_WRITE_ZEROES : 0) |
                     (i->has_flush ? RIO_EX_FLUSH : 0)};
        rio_hello_encode(&hi, info);
    }
    rio_seal(wire, &out[1], 1, ex ? (uint32_t)sizeof(info) : 0);
    struct msghdr m = {.msg_name = (void *)from, .msg_namelen = flen, .msg_iov = out,
                       .msg_iovlen = ex ? 2 : 1};
    if (sendmsg(sq->sock, &m, 0) < 0)
        LOG_DEBUG("remote", "HELLO_ACK: %s", strerror(errno));
}

static void handle_ping(struct rio_sq *sq, const struct rio_hdr *h,
                        const struct sockaddr_storage *from, socklen_t flen)
{
    struct rio_hdr a = {.type = RIO_T_PONG, .queue = h->queue, .device = h->device,
                        .session = h->session, .offset = h->offset,
                        .lease = rio_stamp(sc_now_ns())};
    rio_send(sq->sock, (const struct sockaddr *)from, flen, &a, NULL, 0, 0,
             sq->srv->frag_size, sq->stage);
}

/* Datagram i of the batch; 1 when it was a well-formed vRIO message. */
static int handle_dgram(struct rio_sq *sq, const uint8_t *buf, uint32_t len,
                        const struct sockaddr_storage *from, socklen_t flen, uint64_t now)
{
    struct rio_hdr h;
    const uint8_t *data = buf + RIO_HDR_SIZE;
    uint32_t dlen = len >= RIO_HDR_SIZE ? len - RIO_HDR_SIZE : 0;
    struct iovec dv = {(void *)data, dlen};
    if (rio_hdr_decode(buf, len, &h) < 0 || !rio_sealed(buf, &dv, 1, dlen)) {
        atomic_fetch_add_explicit(&sq->srv->malformed, 1, memory_order_relaxed);
        return 0;
    }
    switch (h.type) {
    case RIO_T_REQ: handle_req(sq, &h, data, dlen, from, flen, now); break;
    case RIO_T_HELLO: handle_hello(sq, &h, data, dlen, from, flen); break;
    case RIO_T_PING: handle_ping(sq, &h, from, flen); break;
    default: break;
    }
    return 1;
}

/* Receive i of the batch: one datagram, or a run of them from one sender
 * (a write's fragments, sent as one segmented run). */
static int handle_recv(struct rio_sq *sq, int i, uint64_t now)
{
    const struct mmsghdr *m = &sq->rxb.msg[i];
    if (m->msg_hdr.msg_flags & MSG_TRUNC)
        return 0;
    const uint8_t *buf = sq->rxb.slots + (size_t)i * RIO_DGRAM_MAX;
    uint32_t total = m->msg_len, seg = sq->rxb.seg[i] ? sq->rxb.seg[i] : total;
    int work = 0;
    for (uint32_t off = 0; off < total; off += seg)
        work += handle_dgram(sq, buf + off, SC_MIN(seg, total - off), &sq->rxb.from[i],
                             m->msg_hdr.msg_namelen, now);
    return work;
}

int rio_sq_poll(struct sc_queue *scq)
{
    struct rio_sq *sq = scq->opaque;
    struct rio_server *srv = sq->srv;
    int work = 0;
    for (unsigned i = 0; i < RIO_MAX_EXPORTS; i++)
        if (sq->sx[i].bq)
            work += srv->ex[i]->be->ops->reap(sq->sx[i].bq);
    uint64_t now = sc_now_ns();
    /* Before the ready list and new datagrams, which may want the memory. */
    if (sq->receiving && now >= sq->sweep_ns) {
        sq->sweep_ns = now + RIO_RECV_EXPIRE_NS / 8;
        unsigned n = rio_sess_expire_recv(sq, now);
        if (n)
            LOG_WARN("remote", "%s: %u partial write(s) expired: no fragment for %llu ms (their "
                     "clients are gone or failed over)", sq->name, n,
                     (unsigned long long)(RIO_RECV_EXPIRE_NS / 1000000));
        work += (int)n;
    }
    if (sq->ready_head)
        work += run_ready(sq);
    for (int k = 0; k < RX_BUDGET;) {
        int n = rio_recv_batch(sq->sock, &sq->rxb);
        if (n <= 0)
            break;
        for (int i = 0; i < n; i++)
            work += handle_recv(sq, i, now);
        if (n < RIO_RX_BATCH)
            break;
        k += n;
    }
    if (sq->sent) {
        sq->sent = false;
        for (unsigned i = 0; i < RIO_MAX_EXPORTS; i++)
            if (sq->sx[i].bq)
                srv->ex[i]->be->ops->kick(sq->sx[i].bq);
    }
    sc_queue_account(scq, (uint64_t)work, 0);
    return work;
}

/* Backend eventfds are edge-triggered in the socket queue's epoll set:
 * taking the edges here (before the sidecore sleeps) means nobody has to
 * read them, and a completion after this point wakes the sidecore. */
bool rio_sq_set_notify(struct sc_queue *scq, bool enable)
{
    struct rio_sq *sq = scq->opaque;
    if (!enable)
        return false;
    struct epoll_event ev[8];
    /* Requests only a rate limit holds back wait for its time, asleep. */
    bool pending = epoll_wait(sq->epfd, ev, 8, 0) > 0 || (sq->ready_head && sq->ready_untimed);
    if (sq->ready_head && !sq->ready_untimed && sq->ready_wake_ns != UINT64_MAX)
        scq->wake_ns = sq->ready_wake_ns;
    for (unsigned i = 0; !pending && i < RIO_MAX_EXPORTS; i++)
        if (sq->sx[i].bq && sq->sx[i].efd < 0 &&
            sq->srv->ex[i]->be->ops->in_flight(sq->sx[i].bq))
            pending = true;
    return pending;
}

void rio_sq_drain(struct rio_sq *sq)
{
    struct rio_server *srv = sq->srv;
    uint64_t deadline = sc_now_ns() + DRAIN_NS;
    while (sq->ready_head) {
        struct rio_sreq *r = sq->ready_head;
        sq->ready_head = r->next_ready;
        if (r->sess) {
            r->sess->live--;
            r->sess->slot[r->id % RIO_ID_SPAN] = NULL;
        }
        rio_sreq_free(sq, r);
    }
    sq->ready_tail = NULL;
    sq->ready_untimed = 0;
    sq->ready_wake_ns = UINT64_MAX;
    while (sq->exec && sc_now_ns() < deadline) {
        for (unsigned i = 0; i < RIO_MAX_EXPORTS; i++) {
            if (!sq->sx[i].bq)
                continue;
            srv->ex[i]->be->ops->kick(sq->sx[i].bq);
            srv->ex[i]->be->ops->reap(sq->sx[i].bq);
        }
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    if (sq->exec)
        LOG_ERR("remote", "%s: %u request(s) still in backends after 5 s", sq->name, sq->exec);
}
