/* vRIO client and server in one process over loopback UDP: the server runs
 * on a real sidecore over an in-memory backend, the test thread drives the
 * client backend queue like a device would. Also a raw socket that speaks
 * the wire format by hand, to check what a well-behaved client never does:
 * duplicates, a FLUSH overtaking a write, stale and out-of-window ids, a
 * damaged low-water mark, damaged first datagrams; and a relay that
 * damages one lease stamp or one PONG.
 * Waits are bounded; no test depends on how fast anything is. */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "blk_mem.h"
#include "common/util.h"
#include "core/sidecore.h"
#include "remote/rio_client.h"
#include "remote/rio_client_int.h"
#include "remote/rio_io.h"
#include "remote/rio_server.h"

#define DISK (4u << 20)

struct env {
    struct sc_set *scs;
    struct rio_server *srv;
    struct mem_be *mem;
    char addr[64];
    unsigned done;
    int res[64];
};

static void free_port(char *buf, size_t len)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof(a);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    getsockname(fd, (struct sockaddr *)&a, &l);
    snprintf(buf, len, "127.0.0.1:%u", ntohs(a.sin_port));
    close(fd);
}

static void server_start_with(struct env *e, unsigned max_sessions)
{
    const char *why = "";
    struct rio_server_params p = {.listen = e->addr, .max_sessions = max_sessions};
    e->srv = rio_server_create(&p, e->scs, &why);
    assert_non_null(e->srv);
    e->mem = mem_be_create(DISK);
    assert_int_equal(rio_server_add_export(e->srv, "disk0", &e->mem->base, &why), 0);
}

static void server_start(struct env *e) { server_start_with(e, 0); }

static int setup(void **st)
{
    struct env *e = calloc(1, sizeof(*e));
    struct sc_params p;
    sc_params_default(&p);
    p.idle_us = 50;
    e->scs = sc_set_create(&p);
    free_port(e->addr, sizeof(e->addr));
    server_start(e);
    *st = e;
    return 0;
}

static int teardown(void **st)
{
    struct env *e = *st;
    rio_server_destroy(e->srv);
    sc_set_destroy(e->scs);
    free(e);
    return 0;
}

struct req {
    struct blk_io io;
    struct env *e;
    unsigned slot;
    struct iovec iov[3];
};

static void on_done(struct blk_io *io, int res)
{
    struct req *r = (struct req *)io;
    r->e->res[r->slot] = res;
    r->e->done++;
}

static void req_init(struct req *r, struct env *e, unsigned slot, enum blk_op op, uint64_t off,
                     void *buf, uint64_t len)
{
    memset(r, 0, sizeof(*r));
    r->e = e;
    r->slot = slot;
    r->iov[0] = (struct iovec){buf, len};
    r->io = (struct blk_io){.op = op, .offset = off, .len = len, .iov = r->iov,
                            .iovcnt = buf ? 1 : 0, .done = on_done};
}

/* Drives the queue until `want` requests completed or ms passed. */
static bool drive(struct blk_backend *be, struct blk_bq *q, struct env *e, unsigned want,
                  unsigned ms)
{
    uint64_t end = sc_now_ns() + (uint64_t)ms * 1000000ull;
    while (e->done < want && sc_now_ns() < end) {
        be->ops->reap(q);
        be->ops->kick(q);
        struct pollfd p = {.fd = be->ops->event_fd(q), .events = POLLIN};
        poll(&p, 1, 5);
    }
    return e->done >= want;
}

static struct blk_backend *client(struct env *e, struct blk_backend *fallback, unsigned fo_ms,
                                  const char **why)
{
    struct rio_blk_params p = {.server = e->addr, .device = "disk0", .failover_ms = fo_ms,
                               .heartbeat_ms = 20, .timeout_ms = 3 * fo_ms + 1000,
                               .connect_ms = 1000, .fallback = fallback};
    if (!e->srv)
        p.size = DISK;
    return rio_blk_create(&p, why);
}

static void fill(uint8_t *b, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)(i * 31 + seed + (i >> 9));
}

static void roundtrip(void **st)
{
    struct env *e = *st;
    const char *why = "";
    struct blk_backend *be = client(e, NULL, 1000, &why);
    assert_non_null(be);
    struct blk_backend_info inf;
    be->ops->info(be, &inf);
    assert_int_equal(inf.size, DISK);
    struct blk_bq *q;
    assert_int_equal(be->ops->queue_open(be, 64, &q), 0);

    static uint8_t w[1 << 20], r[1 << 20];
    const uint32_t sizes[] = {512, 4096, 65536, 1 << 20};
    for (unsigned k = 0; k < 4; k++) {
        fill(w, sizes[k], k);
        memset(r, 0, sizes[k]);
        uint64_t off = (uint64_t)k * (1 << 20);
        struct req a, b;
        req_init(&a, e, 0, BLK_OP_WRITE, off, w, sizes[k]);
        if (sizes[k] > 4096) { /* several buffers */
            a.iov[0].iov_len = 1000;
            a.iov[1] = (struct iovec){w + 1000, sizes[k] - 3000};
            a.iov[2] = (struct iovec){w + sizes[k] - 2000, 2000};
            a.io.iovcnt = 3;
        }
        e->done = 0;
        assert_int_equal(be->ops->submit(q, &a.io), 0);
        assert_true(drive(be, q, e, 1, 5000));
        assert_int_equal(e->res[0], 0);
        assert_memory_equal(e->mem->data + off, w, sizes[k]);
        req_init(&b, e, 0, BLK_OP_READ, off, r, sizes[k]);
        e->done = 0;
        assert_int_equal(be->ops->submit(q, &b.io), 0);
        assert_true(drive(be, q, e, 1, 5000));
        assert_int_equal(e->res[0], 0);
        assert_memory_equal(r, w, sizes[k]);
    }
    /* Many at once, a FLUSH among them, and one the server refuses. */
    struct req many[34];
    e->done = 0;
    for (unsigned i = 0; i < 32; i++) {
        req_init(&many[i], e, i, i % 2 ? BLK_OP_READ : BLK_OP_WRITE, i * 4096ull,
                 w + i * 4096, 4096);
        assert_int_equal(be->ops->submit(q, &many[i].io), 0);
    }
    req_init(&many[32], e, 32, BLK_OP_FLUSH, 0, NULL, 0);
    assert_int_equal(be->ops->submit(q, &many[32].io), 0);
    req_init(&many[33], e, 33, BLK_OP_READ, DISK - 512, r, 4096);
    assert_int_equal(be->ops->submit(q, &many[33].io), 0);
    assert_true(drive(be, q, e, 34, 5000));
    for (unsigned i = 0; i < 33; i++)
        assert_int_equal(e->res[i], 0);
    assert_int_equal(e->res[33], -EINVAL);
    assert_int_equal(atomic_load(&e->mem->flushes), 1);

    struct rio_peer_stats ps;
    rio_blk_stats(be, &ps);
    assert_string_equal(ps.state, "connected");
    assert_int_equal(ps.in_flight, 0);
    assert_int_equal(ps.requests, 42);
    assert_int_equal(ps.failovers, 0);
    assert_true(ps.stale_resends >= 1); /* the first write had no stamp to echo */
    assert_true(ps.last_rx_ms >= 0);
    be->ops->queue_close(q);
    /* No queue open: nothing probes the iohost, so its state is unknown
     * (it said "connected" for an iohost killed since), and the last
     * answer's age is what there is to tell. */
    rio_blk_stats(be, &ps);
    assert_string_equal(ps.state, "idle");
    assert_true(ps.last_rx_ms >= 0);
    be->ops->destroy(be);

    struct rio_blk_params bad = {.server = e->addr, .device = "nope", .connect_ms = 1000};
    assert_null(rio_blk_create(&bad, &why));
    assert_non_null(strstr(why, "no export"));
}

/* Reads of many sizes in flight together, into their own buffers (some
 * in three pieces): every byte lands where it belongs. The client guesses
 * where each received run of fragments goes; a 1 MiB answer comes in runs
 * longer than it guesses and small answers come between, so both the
 * in-place receive and the copy-out of a mispredicted run are taken. */
static void reads_in_flight(void **st)
{
    struct env *e = *st;
    const char *why = "";
    struct blk_backend *be = client(e, NULL, 1000, &why);
    assert_non_null(be);
    struct blk_bq *q;
    assert_int_equal(be->ops->queue_open(be, 64, &q), 0);
    fill(e->mem->data, DISK, 7);
    enum { N = 24 };
    static const uint32_t sizes[] = {4096, 512, 1 << 20, 8192, 1536, 65536, 4096, 12288};
    static uint8_t buf[N][1 << 20];
    struct req r[N];
    uint64_t off[N];
    e->done = 0;
    for (unsigned i = 0; i < N; i++) {
        uint32_t len = sizes[i % 8];
        off[i] = ((uint64_t)i * 40960) % (DISK - len) / 512 * 512;
        memset(buf[i], 0, len);
        req_init(&r[i], e, i, BLK_OP_READ, off[i], buf[i], len);
        if (len > 4096 && i % 2) {
            r[i].iov[0].iov_len = 1000;
            r[i].iov[1] = (struct iovec){buf[i] + 1000, len - 3000};
            r[i].iov[2] = (struct iovec){buf[i] + len - 2000, 2000};
            r[i].io.iovcnt = 3;
        }
        assert_int_equal(be->ops->submit(q, &r[i].io), 0);
    }
    assert_true(drive(be, q, e, N, 10000));
    for (unsigned i = 0; i < N; i++) {
        assert_int_equal(e->res[i], 0);
        assert_memory_equal(buf[i], e->mem->data + off[i], sizes[i % 8]);
    }
    be->ops->queue_close(q);
    be->ops->destroy(be);
}

/* A hand-made session on a raw socket. */
struct raw {
    int fd;
    uint64_t session;
    uint32_t tag;
    uint32_t lease; /* the stamp its requests echo */
};

static bool raw_resp(struct raw *r, unsigned ms, struct rio_hdr *out);

/* A heartbeat's answer brings the iohost's stamp: writes sent within the
 * lease are applied. */
static void raw_lease(struct raw *r)
{
    struct rio_hdr h = {.type = RIO_T_PING, .device = r->tag, .session = r->session};
    uint8_t wire[RIO_HDR_SIZE];
    rio_hdr_encode(&h, wire);
    rio_seal(wire, NULL, 0, 0);
    assert_int_equal(send(r->fd, wire, sizeof(wire), 0), (ssize_t)sizeof(wire));
    struct pollfd p = {.fd = r->fd, .events = POLLIN};
    r->lease = 0;
    while (!r->lease && poll(&p, 1, 2000) > 0) {
        if (rio_peek(r->fd, &h, NULL, NULL) >= 0 && h.type == RIO_T_PONG)
            r->lease = h.lease;
        rio_drop(r->fd);
    }
    assert_true(r->lease != 0);
}

static void raw_open(struct raw *r, struct env *e)
{
    struct sockaddr_storage ss;
    socklen_t l;
    const char *why = "";
    assert_int_equal(rio_addr_parse(e->addr, &ss, &l), 0);
    r->fd = rio_socket(NULL, 0, false, (struct sockaddr *)&ss, l, &why);
    assert_true(r->fd >= 0);
    r->session = 0x1234567890ull;
    r->tag = rio_tag("disk0");
    raw_lease(r);
}

/* Another client of the same export: its own session. */
static void raw_open_as(struct raw *r, struct env *e, uint64_t session)
{
    raw_open(r, e);
    r->session = session;
}

static void raw_send(struct raw *r, uint8_t op, uint64_t id, uint64_t ack, uint64_t off,
                     uint32_t len, const uint8_t *data, uint32_t frag_off, uint32_t flen)
{
    struct rio_hdr h = {.type = RIO_T_REQ, .op = op, .device = r->tag, .len = len,
                        .session = r->session, .id = id, .offset = off, .ack = ack,
                        .frag_size = data ? 1024 : 0, .frag_off = frag_off,
                        .lease = r->lease};
    uint8_t wire[RIO_HDR_SIZE];
    rio_hdr_encode(&h, wire);
    struct iovec v[2] = {{wire, sizeof(wire)}, {(void *)data, flen}};
    rio_seal(wire, &v[1], data ? 1 : 0, data ? flen : 0);
    struct msghdr m = {.msg_iov = v, .msg_iovlen = data ? 2 : 1};
    assert_true(sendmsg(r->fd, &m, 0) > 0);
}

/* Next RESP within ms, or false. Data responses are skipped to their end. */
static bool raw_resp(struct raw *r, unsigned ms, struct rio_hdr *out)
{
    struct pollfd p = {.fd = r->fd, .events = POLLIN};
    while (poll(&p, 1, (int)ms) > 0) {
        int n = rio_peek(r->fd, out, NULL, NULL);
        if (n < 0)
            continue;
        rio_drop(r->fd);
        if (out->type == RIO_T_RESP)
            return true;
    }
    return false;
}

/* Whether id's answer with status 0 comes, each wait at most ms. */
static bool answered_ok(struct raw *r, uint64_t id, unsigned ms)
{
    struct rio_hdr h;
    while (raw_resp(r, ms, &h))
        if (h.id == id && h.status == 0)
            return true;
    return false;
}

static json_int_t export_stat(struct env *e, const char *key)
{
    json_t *st = rio_server_stats(e->srv);
    json_int_t v = json_integer_value(
        json_object_get(json_array_get(json_object_get(st, "exports"), 0), key));
    json_decref(st);
    return v;
}

static void at_most_once(void **st)
{
    struct env *e = *st;
    struct raw r;
    raw_open(&r, e);
    uint8_t d[1024];
    fill(d, sizeof(d), 7);
    struct rio_hdr h;
    raw_send(&r, RIO_OP_WRITE, 1, 1, 0, 1024, d, 0, 1024);
    assert_true(raw_resp(&r, 2000, &h));
    assert_int_equal(h.id, 1);
    assert_int_equal(h.status, 0);
    /* The write is retransmitted after its answer was lost. */
    memset(e->mem->data, 0, 1024);
    raw_send(&r, RIO_OP_WRITE, 1, 1, 0, 1024, d, 0, 1024);
    assert_true(raw_resp(&r, 2000, &h));
    assert_int_equal(h.id, 1);
    assert_int_equal(h.status, 0);
    assert_int_equal(atomic_load(&e->mem->writes), 1);
    uint8_t zero[1024] = {0};
    assert_memory_equal(e->mem->data, zero, sizeof(zero)); /* not written again */
    /* A write of 3 fragments, sent again whole after its answer: one
     * duplicate write and one answer (each fragment counted and answered). */
    for (uint32_t off = 0; off < 3072; off += 1024)
        raw_send(&r, RIO_OP_WRITE, 9, 1, 4096, 3072, d, off, 1024);
    assert_true(raw_resp(&r, 2000, &h));
    assert_int_equal(h.id, 9);
    for (uint32_t off = 0; off < 3072; off += 1024)
        raw_send(&r, RIO_OP_WRITE, 9, 1, 4096, 3072, d, off, 1024);
    assert_true(raw_resp(&r, 2000, &h));
    assert_int_equal(h.id, 9);
    assert_false(raw_resp(&r, 200, &h));
    assert_int_equal(export_stat(e, "duplicate_writes"), 2);

    /* A retransmitted read is read and answered again. */
    raw_send(&r, RIO_OP_READ, 2, 1, 0, 1024, NULL, 0, 0);
    assert_true(raw_resp(&r, 2000, &h));
    raw_send(&r, RIO_OP_READ, 2, 1, 0, 1024, NULL, 0, 0);
    assert_true(raw_resp(&r, 2000, &h));
    assert_int_equal(h.id, 2);
    assert_int_equal(atomic_load(&e->mem->reads), 2);

    /* Once the client settled ids below 3, id 1 is history: dropped. */
    raw_send(&r, RIO_OP_FLUSH, 3, 3, 0, 0, NULL, 0, 0);
    assert_true(raw_resp(&r, 2000, &h));
    assert_int_equal(h.id, 3);
    raw_send(&r, RIO_OP_WRITE, 1, 3, 0, 1024, d, 0, 1024);
    raw_send(&r, RIO_OP_WRITE, 3 + RIO_ID_SPAN, 3, 0, 1024, d, 0, 1024); /* beyond window */
    raw_send(&r, RIO_OP_WRITE, 4, 4, DISK, 1024, d, 0, 1024);          /* outside the disk */
    assert_true(raw_resp(&r, 2000, &h));
    assert_int_equal(h.id, 4);
    assert_int_equal(h.status, -EINVAL);
    assert_int_equal(atomic_load(&e->mem->writes), 2);
    close(r.fd);
}

/* A damaged request whose ack runs ahead of its id (or lies more than the
 * window below it) is dropped before its ack moves the session: taking it
 * left every later id below the session's low-water mark, ignored. */
static void damaged_ack(void **st)
{
    struct env *e = *st;
    struct raw r;
    raw_open(&r, e);
    struct rio_hdr h;
    raw_send(&r, RIO_OP_READ, 1, 1, 0, 1024, NULL, 0, 0);
    assert_true(raw_resp(&r, 2000, &h));
    assert_int_equal(h.id, 1);
    raw_send(&r, RIO_OP_READ, 2, ~0ull, 0, 1024, NULL, 0, 0);
    raw_send(&r, RIO_OP_READ, 2 + 2 * RIO_ID_SPAN, 2 + RIO_ID_SPAN, 0, 1024, NULL, 0, 0);
    raw_send(&r, RIO_OP_READ, 2, 2, 0, 1024, NULL, 0, 0);
    bool answered = false;
    while (!answered && raw_resp(&r, 2000, &h))
        answered = h.id == 2 && h.status == 0;
    assert_true(answered);
    close(r.fd);
}

/* Fencing (rio_wire.h): a write whose echoed stamp is missing, older than
 * the lease, or from the future is answered -ESTALE and not applied; sent
 * again with the stamp of that answer, it is applied once. */
static void stale_lease(void **st)
{
    struct env *e = *st;
    struct raw r;
    raw_open(&r, e);
    uint8_t d[1024];
    fill(d, sizeof(d), 9);
    struct rio_hdr h;
    const uint32_t fresh = r.lease;
    const uint32_t bad[] = {0, fresh + 60000};
    for (unsigned i = 0; i < 2; i++) {
        r.lease = bad[i];
        raw_send(&r, RIO_OP_WRITE, 1, 1, 0, 1024, d, 0, 1024);
        assert_true(raw_resp(&r, 2000, &h));
        assert_int_equal(h.id, 1);
        assert_int_equal(h.status, -ESTALE);
        assert_true(h.lease != 0);
    }
    /* Held back longer than the lease (slept past it: a lower bound). */
    r.lease = fresh;
    usleep((RIO_LEASE_MS + 50) * 1000);
    raw_send(&r, RIO_OP_WRITE, 1, 1, 0, 1024, d, 0, 1024);
    assert_true(raw_resp(&r, 2000, &h));
    assert_int_equal(h.status, -ESTALE);
    assert_int_equal(atomic_load(&e->mem->writes), 0);
    /* A read needs no lease. */
    r.lease = 0;
    raw_send(&r, RIO_OP_READ, 2, 1, 0, 1024, NULL, 0, 0);
    assert_true(raw_resp(&r, 2000, &h));
    assert_int_equal(h.id, 2);
    assert_int_equal(h.status, 0);
    /* Resent with the newest stamp until it is fresh when it arrives (a
     * loaded machine may need more than one try). */
    int status = -ESTALE;
    for (unsigned k = 0; k < 50 && status == -ESTALE; k++) {
        r.lease = h.lease;
        raw_send(&r, RIO_OP_WRITE, 1, 1, 0, 1024, d, 0, 1024);
        while (raw_resp(&r, 2000, &h) && h.id != 1)
            ;
        status = h.status;
    }
    assert_int_equal(status, 0);
    assert_int_equal(atomic_load(&e->mem->writes), 1);
    assert_memory_equal(e->mem->data, d, sizeof(d));
    close(r.fd);
}

static void flush_after_writes(void **st)
{
    struct env *e = *st;
    struct raw r;
    raw_open(&r, e);
    static uint8_t d[2048];
    fill(d, sizeof(d), 3);
    struct rio_hdr h;
    /* Half of a write, then a FLUSH: the FLUSH must wait for the write. */
    raw_send(&r, RIO_OP_WRITE, 1, 1, 0, 2048, d, 0, 1024);
    raw_send(&r, RIO_OP_FLUSH, 2, 1, 0, 0, NULL, 0, 0);
    assert_false(raw_resp(&r, 200, &h));
    assert_int_equal(atomic_load(&e->mem->flushes), 0);
    raw_send(&r, RIO_OP_WRITE, 1, 1, 0, 2048, d + 1024, 1024, 1024);
    bool got_w = false, got_f = false;
    while (!(got_w && got_f) && raw_resp(&r, 2000, &h)) {
        got_w |= h.id == 1;
        got_f |= h.id == 2;
    }
    assert_true(got_w && got_f);
    assert_int_equal(atomic_load(&e->mem->flushes), 1);
    assert_memory_equal(e->mem->data, d, sizeof(d));
    close(r.fd);
}

/* A damaged first datagram used to define its request for good: a write
 * whose length it got wrong waited for fragments that never came and
 * refused every retransmission; a read it sent past the disk kept
 * answering -EINVAL. The retransmission now starts the request again, and
 * the answer echoes what ran. */
static void damaged_first_datagram(void **st)
{
    struct env *e = *st;
    struct raw r;
    raw_open(&r, e);
    uint8_t d[1024];
    fill(d, sizeof(d), 3);
    struct rio_hdr h;
    raw_send(&r, RIO_OP_WRITE, 1, 1, 0, 2048, d, 0, 1024); /* says 2048 */
    raw_send(&r, RIO_OP_WRITE, 1, 1, 0, 1024, d, 0, 1024);
    bool answered = false;
    while (!answered && raw_resp(&r, 2000, &h))
        answered = h.id == 1;
    assert_true(answered);
    assert_int_equal(h.status, 0);
    assert_int_equal(h.len, 1024);
    assert_memory_equal(e->mem->data, d, sizeof(d));

    raw_send(&r, RIO_OP_READ, 2, 2, DISK, 1024, NULL, 0, 0); /* past the disk */
    assert_true(raw_resp(&r, 2000, &h));
    assert_int_equal(h.status, -EINVAL);
    assert_int_equal(h.offset, DISK);
    raw_send(&r, RIO_OP_READ, 2, 2, 0, 1024, NULL, 0, 0);
    answered = false;
    while (!answered && raw_resp(&r, 2000, &h))
        answered = h.id == 2 && h.status == 0;
    assert_true(answered);
    assert_int_equal(h.offset, 0);
    close(r.fd);
}

/* Writes whose first fragment came and no other (a vmhost killed mid-write,
 * or a peer that never meant to finish) held their whole buffers for good:
 * with the socket's 64 MiB taken, every later write was dropped and every
 * read waited, for all exports and peers on the socket. They now expire
 * after RIO_RECV_EXPIRE_NS without a fragment. */
static void partial_writes_expire(void **st)
{
    struct env *e = *st;
    struct raw r;
    raw_open(&r, e);
    uint8_t d[1024];
    fill(d, sizeof(d), 5);
    for (uint64_t id = 1; id <= 16; id++) /* 16 x 4 MiB: all one session may take */
        raw_send(&r, RIO_OP_WRITE, id, 1, 0, DISK, d, 0, 1024);
    struct rio_hdr h;
    raw_send(&r, RIO_OP_WRITE, 17, 1, 0, 1024, d, 0, 1024);
    assert_false(raw_resp(&r, 500, &h)); /* no memory: dropped */
    assert_true(export_stat(e, "writes_dropped_for_memory") >= 1);
    /* Sent again after the partial ones expired, it is served. */
    struct timespec ts = {0, 100 * 1000 * 1000};
    bool answered = false;
    for (int i = 0; i < 50 && !answered; i++) {
        nanosleep(&ts, NULL);
        raw_lease(&r);
        raw_send(&r, RIO_OP_WRITE, 17, 1, 0, 1024, d, 0, 1024);
        while (!answered && raw_resp(&r, 50, &h))
            answered = h.id == 17 && h.status == 0;
    }
    assert_true(answered);
    assert_memory_equal(e->mem->data, d, sizeof(d));
    assert_int_equal(export_stat(e, "partial_writes_expired"), 12); /* 3/4 of 64 MiB */
    close(r.fd);
}

/* A full session table made room by forgetting the idle session heard
 * from longest ago, at once: a late duplicate of its acknowledged write
 * (a network that duplicates or reroutes) then opened a new session and
 * was applied again, over a later acknowledged write. A session is now
 * forgotten only after a silence longer than the lease, when such a
 * duplicate's stamp has run out. */
static void evicted_session_applies_nothing_again(void **st)
{
    struct env *e = *st;
    rio_server_destroy(e->srv);
    server_start_with(e, 2);
    struct raw a, b, c;
    raw_open(&a, e);
    raw_open_as(&b, e, 0xb0b);
    raw_open_as(&c, e, 0xc0c);
    uint8_t one[1024], two[1024];
    fill(one, sizeof(one), 1);
    fill(two, sizeof(two), 2);
    struct rio_hdr h;
    raw_send(&a, RIO_OP_WRITE, 1, 1, 0, 1024, one, 0, 1024);
    assert_true(raw_resp(&a, 2000, &h));
    raw_send(&a, RIO_OP_WRITE, 2, 2, 0, 1024, two, 0, 1024);
    assert_true(raw_resp(&a, 2000, &h));
    assert_int_equal(h.status, 0);
    raw_send(&b, RIO_OP_READ, 1, 1, 0, 512, NULL, 0, 0);
    assert_true(raw_resp(&b, 2000, &h));
    /* The table is full and a's session idle: c is turned away for now. */
    raw_send(&c, RIO_OP_READ, 1, 1, 0, 512, NULL, 0, 0);
    assert_false(raw_resp(&c, 200, &h));
    json_t *stats = rio_server_stats(e->srv);
    assert_int_equal(json_integer_value(json_object_get(stats, "sessions_refused")), 1);
    json_decref(stats);
    /* The late duplicate: below the session's low-water mark, dropped. */
    raw_send(&a, RIO_OP_WRITE, 1, 1, 0, 1024, one, 0, 1024);
    assert_false(raw_resp(&a, 200, &h));
    assert_memory_equal(e->mem->data, two, sizeof(two));
    /* After the silence a's session makes room; its duplicate, stamped
     * before, is refused. */
    struct timespec ts = {0, 600 * 1000 * 1000};
    nanosleep(&ts, NULL);
    raw_send(&c, RIO_OP_READ, 1, 1, 0, 512, NULL, 0, 0); /* in b's place */
    assert_true(raw_resp(&c, 2000, &h));
    c.session = 0xc1c;
    raw_send(&c, RIO_OP_READ, 1, 1, 0, 512, NULL, 0, 0); /* in a's */
    assert_true(raw_resp(&c, 2000, &h));
    nanosleep(&ts, NULL); /* so that the duplicate finds room */
    raw_send(&a, RIO_OP_WRITE, 1, 1, 0, 1024, one, 0, 1024);
    assert_true(raw_resp(&a, 2000, &h));
    assert_int_equal(h.status, -ESTALE);
    assert_memory_equal(e->mem->data, two, sizeof(two));
    assert_int_equal(atomic_load(&e->mem->writes), 2);
    close(a.fd);
    close(b.fd);
    close(c.fd);
}

/* A partial write kept alive by repeats of a fragment it already holds
 * never expired, and the repeats kept its session in the table: 1024 such
 * sessions locked every new vmhost queue out of the socket, 16 of 4 MiB
 * its whole request memory. Only a new request or fragment counts as
 * progress. */
static void repeated_fragment_is_no_progress(void **st)
{
    struct env *e = *st;
    rio_server_destroy(e->srv);
    server_start_with(e, 1);
    struct raw r, n;
    raw_open(&r, e);
    raw_open(&n, e);
    n.session = 0x9e9;
    uint8_t d[1024];
    fill(d, sizeof(d), 3);
    struct timespec ts = {0, 250 * 1000 * 1000};
    for (int i = 0; i < 12; i++) { /* 3 s of repeats */
        raw_send(&r, RIO_OP_WRITE, 1, 1, 0, 3072, d, 0, 1024);
        nanosleep(&ts, NULL);
    }
    assert_int_equal(export_stat(e, "partial_writes_expired"), 1);
    struct rio_hdr h;
    raw_send(&n, RIO_OP_READ, 1, 1, 0, 512, NULL, 0, 0); /* the newcomer takes its place */
    assert_true(raw_resp(&n, 2000, &h));
    assert_int_equal(h.status, 0);
    close(r.fd);
    close(n.fd);
}

/* One session could take the socket's whole request memory (a vmhost whose
 * guest writes large blocks at a high depth, or one that sends first
 * fragments only): every other vmhost's writes were dropped until its
 * requests finished or expired. A session now keeps a quarter free for the
 * others, and its share shrinks to budget / contenders when they come. */
static void one_session_leaves_room(void **st)
{
    struct env *e = *st;
    struct raw a, b;
    raw_open(&a, e);
    raw_open(&b, e);
    b.session = 0xb0b;
    uint8_t d[1024];
    fill(d, sizeof(d), 9);
    for (uint64_t id = 1; id <= 16; id++)
        raw_send(&a, RIO_OP_WRITE, id, 1, 0, DISK, d, 0, 1024);
    raw_send(&b, RIO_OP_WRITE, 1, 1, 8192, 1024, d, 0, 1024); /* sent once */
    assert_true(answered_ok(&b, 1, 1500));
    assert_int_equal(export_stat(e, "partial_writes_expired"), 0);
    assert_int_equal(export_stat(e, "writes_dropped_for_memory"), 4);
    assert_memory_equal(e->mem->data + 8192, d, sizeof(d));
    close(a.fd);
    close(b.fd);
}

/* Two sessions holding the whole request memory in partial writes kept it
 * as long as they trickled fragments: every other session's writes were
 * dropped. A newcomer below its even share now gets memory back from the
 * partial writes of the session holding most. */
static void newcomer_reclaims_its_share(void **st)
{
    struct env *e = *st;
    struct raw a, b, c;
    raw_open(&a, e);
    raw_open_as(&b, e, 0xb0b);
    raw_open_as(&c, e, 0xc0c);
    uint8_t d[1024];
    fill(d, sizeof(d), 4);
    for (uint64_t id = 1; id <= 12; id++) /* 48 MiB: all one session may take */
        raw_send(&a, RIO_OP_WRITE, id, 1, 0, DISK, d, 0, 1024);
    for (uint64_t id = 1; id <= 4; id++) /* the other 16 MiB */
        raw_send(&b, RIO_OP_WRITE, id, 1, 0, DISK, d, 0, 1024);
    raw_send(&c, RIO_OP_WRITE, 1, 1, 8192, 1024, d, 0, 1024); /* sent once */
    assert_true(answered_ok(&c, 1, 500));
    assert_memory_equal(e->mem->data + 8192, d, sizeof(d));
    assert_int_equal(export_stat(e, "partial_writes_reclaimed"), 1);
    assert_int_equal(export_stat(e, "partial_writes_expired"), 0);
    close(a.fd);
    close(b.fd);
    close(c.fd);
}

/* A request for an export the iohost does not have was dropped without a
 * word: the vmhost waited out its timeout, every time. It is answered
 * -ENODEV; damaged datagrams and such requests are counted. */
static void unknown_export_answered(void **st)
{
    struct env *e = *st;
    struct raw r;
    raw_open(&r, e);
    r.tag = rio_tag("nosuch");
    struct rio_hdr h;
    raw_send(&r, RIO_OP_READ, 1, 1, 0, 4096, NULL, 0, 0);
    assert_true(raw_resp(&r, 2000, &h));
    assert_int_equal(h.status, -ENODEV);
    assert_int_equal(h.id, 1);
    uint8_t junk[100] = {0x52, 0x56};
    assert_int_equal(send(r.fd, junk, sizeof(junk), 0), (ssize_t)sizeof(junk));
    json_t *stats = NULL;
    for (int i = 0; i < 200; i++) {
        json_decref(stats);
        stats = rio_server_stats(e->srv);
        if (json_integer_value(json_object_get(stats, "malformed_datagrams")) >= 1)
            break;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(json_integer_value(json_object_get(stats, "unknown_export_requests")), 1);
    assert_int_equal(json_integer_value(json_object_get(stats, "malformed_datagrams")), 1);
    json_decref(stats);
    close(r.fd);
}

/* A relay between client and server that damages one datagram from the
 * server the client cannot tell from a good one: the lease stamp of the
 * first answer to a request moved 2^30 ms into the iohost's future, or the
 * timestamp echoed by the first PONG moved an hour into the past. */
enum relay_damage { DAMAGE_LEASE, DAMAGE_PONG };

struct relay {
    int down, up; /* client side (bound), server side (connected) */
    enum relay_damage what;
    _Atomic bool stop, damaged;
    pthread_t th;
    char addr[64]; /* where the client sends */
};

static bool damaged_seen(struct relay *r) { return atomic_load(&r->damaged); }

/* Returns 1 when it damaged the datagram, -1 when the datagram is to be
 * lost: PONGs only come while a request waits, so answers are held back
 * until a PONG was damaged. */
static int damage(struct relay *r, uint8_t *b, ssize_t n)
{
    struct rio_hdr h;
    if (n < RIO_HDR_SIZE || rio_hdr_decode(b, (size_t)n, &h) < 0)
        return 0;
    if (r->what == DAMAGE_LEASE && h.type == RIO_T_RESP)
        h.lease += 1u << 30;
    else if (r->what == DAMAGE_PONG && h.type == RIO_T_PONG && h.offset)
        h.offset = h.offset > 3600000000000ull ? h.offset - 3600000000000ull : 1;
    else
        return r->what == DAMAGE_PONG && h.type == RIO_T_RESP ? -1 : 0;
    /* Damage the CRC cannot catch (a relay that reseals what it changed):
     * what the fields' own checks must stop. */
    rio_hdr_encode(&h, b);
    struct iovec data = {b + RIO_HDR_SIZE, (size_t)n - RIO_HDR_SIZE};
    rio_seal(b, &data, 1, (uint32_t)(n - RIO_HDR_SIZE));
    return 1;
}

static void *relay_run(void *arg)
{
    struct relay *r = arg;
    struct sockaddr_storage cl;
    socklen_t cll = 0;
    uint8_t b[65536];
    while (!atomic_load(&r->stop)) {
        struct pollfd p[2] = {{.fd = r->down, .events = POLLIN}, {.fd = r->up, .events = POLLIN}};
        if (poll(p, 2, 10) <= 0)
            continue;
        if (p[0].revents & POLLIN) {
            cll = sizeof(cl);
            ssize_t n = recvfrom(r->down, b, sizeof(b), 0, (struct sockaddr *)&cl, &cll);
            if (n > 0)
                assert_true(send(r->up, b, (size_t)n, 0) == n);
        }
        if ((p[1].revents & POLLIN) && cll) {
            ssize_t n = recv(r->up, b, sizeof(b), 0);
            if (!atomic_load(&r->damaged)) {
                int d = damage(r, b, n);
                if (d < 0)
                    continue;
                if (d > 0)
                    atomic_store(&r->damaged, true);
            }
            if (n > 0)
                sendto(r->down, b, (size_t)n, 0, (struct sockaddr *)&cl, cll);
        }
    }
    return NULL;
}

/* A relay that damages `what`, and a client with one queue (*q) behind it. */
static struct blk_backend *relay_client(struct env *e, struct relay *r, enum relay_damage what,
                                        struct blk_bq **q)
{
    *r = (struct relay){.what = what};
    free_port(r->addr, sizeof(r->addr));
    struct sockaddr_storage ss;
    socklen_t l;
    assert_int_equal(rio_addr_parse(r->addr, &ss, &l), 0);
    r->down = socket(AF_INET, SOCK_DGRAM, 0);
    assert_int_equal(bind(r->down, (struct sockaddr *)&ss, l), 0);
    assert_int_equal(rio_addr_parse(e->addr, &ss, &l), 0);
    r->up = socket(AF_INET, SOCK_DGRAM, 0);
    assert_int_equal(connect(r->up, (struct sockaddr *)&ss, l), 0);
    assert_int_equal(pthread_create(&r->th, NULL, relay_run, r), 0);

    const char *why = "";
    struct rio_blk_params p = {.server = r->addr, .device = "disk0", .failover_ms = 1000,
                               .heartbeat_ms = 20, .timeout_ms = 4000, .connect_ms = 1000};
    struct blk_backend *be = rio_blk_create(&p, &why);
    assert_non_null(be);
    assert_int_equal(be->ops->queue_open(be, 16, q), 0);
    return be;
}

static void relay_client_end(struct relay *r, struct blk_backend *be, struct blk_bq *q)
{
    be->ops->queue_close(q);
    be->ops->destroy(be);
    atomic_store(&r->stop, true);
    assert_int_equal(pthread_join(r->th, NULL), 0);
    close(r->down);
    close(r->up);
}

/* One 4 KiB write of w at off, driven until it completes (10 s at most);
 * returns its result. */
static int write_one(struct blk_backend *be, struct blk_bq *q, struct env *e, uint64_t off,
                     uint8_t *w)
{
    struct req a;
    req_init(&a, e, 0, BLK_OP_WRITE, off, w, 4096);
    e->done = 0;
    e->res[0] = 1;
    assert_int_equal(be->ops->submit(q, &a.io), 0);
    assert_true(drive(be, q, e, 1, 10000));
    return e->res[0];
}

/* After a damaged stamp from the iohost's future, every write was answered
 * -ESTALE and resent with the damaged stamp (the client kept the "newest"),
 * until the request timed out. The stamp of the -ESTALE answer replaces it,
 * and the write lands. */
static void damaged_lease(void **st)
{
    struct env *e = *st;
    struct relay r;
    struct blk_bq *q;
    struct blk_backend *be = relay_client(e, &r, DAMAGE_LEASE, &q);
    uint8_t w[4096];
    fill(w, sizeof(w), 9);
    for (unsigned i = 0; i < 2; i++) { /* the first answer brings the damage */
        assert_int_equal(write_one(be, q, e, 4096 * (i + 1), w), 0);
        assert_memory_equal(e->mem->data + 4096 * (i + 1), w, sizeof(w));
    }
    relay_client_end(&r, be, q);
}

/* A PONG whose echoed timestamp was damaged made a round-trip sample of
 * any size (here an hour), and the smoothed RTT and the retransmission
 * timeout with it. Only the echo of the latest ping is a sample now. */
static void damaged_pong(void **st)
{
    struct env *e = *st;
    struct relay r;
    struct blk_bq *q;
    struct blk_backend *be = relay_client(e, &r, DAMAGE_PONG, &q);
    uint8_t w[4096];
    fill(w, sizeof(w), 5);
    /* The answer is held back, so the queue pings every 20 ms while it
     * waits; the relay damages the first PONG, then lets answers through. */
    int res = write_one(be, q, e, 0, w);
    assert_true(damaged_seen(&r));
    assert_int_equal(res, 0);
    for (unsigned i = 1; i <= 4; i++) /* answered at once: good samples */
        write_one(be, q, e, 4096 * i, w);
    struct rio_peer_stats ps;
    rio_blk_stats(be, &ps);
    assert_true(ps.rtt_us > 0);
    assert_true(ps.rtt_us < 60u * 1000000u); /* loopback: nowhere near a minute */
    relay_client_end(&r, be, q);
}

/* A queue's first write, and a write after more than the lease (250 ms)
 * of silence, carried no stamp or an old one: the iohost refused it
 * (-ESTALE) and it went again, a second round trip. A new queue asks for a
 * stamp at once (its ping's answer is its first RTT sample), and a queue
 * that wrote lately keeps its stamp fresh while idle. */
static void idle_keeps_lease(void **st)
{
    struct env *e = *st;
    const char *why = "";
    struct blk_backend *be = client(e, NULL, 1000, &why);
    assert_non_null(be);
    struct blk_bq *q;
    assert_int_equal(be->ops->queue_open(be, 16, &q), 0);
    struct rio_peer_stats ps = {0};
    for (unsigned i = 0; i < 500 && ps.rtt_us == 0; i++) {
        drive(be, q, e, 1, 10);
        rio_blk_stats(be, &ps);
    }
    assert_true(ps.rtt_us > 0);
    uint8_t w[4096];
    fill(w, sizeof(w), 3);
    assert_int_equal(write_one(be, q, e, 0, w), 0);
    drive(be, q, e, 2, 3 * RIO_LEASE_MS); /* idle, the queue polled */
    assert_int_equal(write_one(be, q, e, 4096, w), 0);
    rio_blk_stats(be, &ps);
    assert_int_equal(ps.stale_resends, 0);
    be->ops->queue_close(q);
    be->ops->destroy(be);
}

/* A fake iohost on the server's address: the test sees what the client
 * sends, and answers by hand. */
struct fake {
    int fd;
    struct sockaddr_storage cl;
    socklen_t cll;
    struct rio_hdr req[8]; /* the last REQ of each id */
    unsigned count[8];     /* REQ datagrams of each id since fake_take */
};

static void fake_open(struct fake *f, struct env *e)
{
    rio_server_destroy(e->srv);
    e->srv = NULL;
    memset(f, 0, sizeof(*f));
    struct sockaddr_storage ss;
    socklen_t l;
    const char *why = "";
    assert_int_equal(rio_addr_parse(e->addr, &ss, &l), 0);
    f->fd = rio_socket((struct sockaddr *)&ss, l, false, NULL, 0, &why);
    assert_true(f->fd >= 0);
}

/* Takes what the client sent until 100 ms pass without a datagram. */
static void fake_take(struct fake *f)
{
    memset(f->count, 0, sizeof(f->count));
    struct pollfd p = {.fd = f->fd, .events = POLLIN};
    while (poll(&p, 1, 100) > 0) {
        struct rio_hdr h;
        f->cll = sizeof(f->cl);
        if (rio_peek(f->fd, &h, &f->cl, &f->cll) >= 0 && h.type == RIO_T_REQ && h.id < 8) {
            f->req[h.id] = h;
            f->count[h.id]++;
        }
        rio_drop(f->fd);
    }
}

static void fake_answer(struct fake *f, uint64_t id)
{
    const struct rio_hdr *q = &f->req[id];
    struct rio_hdr h = {.type = RIO_T_RESP, .op = q->op, .device = q->device, .len = q->len,
                        .session = q->session, .id = id, .offset = q->offset,
                        .lease = rio_stamp(sc_now_ns())};
    uint8_t wire[RIO_HDR_SIZE];
    rio_hdr_encode(&h, wire);
    rio_seal(wire, NULL, 0, 0);
    assert_true(sendto(f->fd, wire, sizeof(wire), 0, (struct sockaddr *)&f->cl, f->cll) ==
                (ssize_t)sizeof(wire));
}

/* Four 1 MiB writes at once burst 4 MiB at the path: on a slow link or
 * into a busy iohost's socket most of it was dropped, and the rounds that
 * recovered each request shared the link until requests timed out (EIO).
 * They now go as the congestion window lets them: 1 MiB at first, twice
 * that after a window answered on its first try, half after a loss, which
 * the resends of every request sent before it count once. */
static void window_paces_a_burst(void **st)
{
    struct env *e = *st;
    struct fake f;
    fake_open(&f, e);
    struct rio_blk_params p = {.server = e->addr, .device = "disk0", .size = DISK,
                               .heartbeat_ms = 20, .failover_ms = 20000, .timeout_ms = 30000,
                               .rto_min_us = 200000}; /* no resend before the test wants one */
    const char *why = "";
    struct blk_backend *be = rio_blk_create(&p, &why);
    assert_non_null(be);
    struct blk_bq *q;
    assert_int_equal(be->ops->queue_open(be, 16, &q), 0);
    static uint8_t w[4][1u << 20];
    struct req r[4];
    e->done = 0;
    for (unsigned i = 0; i < 4; i++) {
        fill(w[i], sizeof(w[i]), i);
        req_init(&r[i], e, i, BLK_OP_WRITE, (uint64_t)i << 20, w[i], sizeof(w[i]));
        assert_int_equal(be->ops->submit(q, &r[i].io), 0);
    }
    be->ops->reap(q); /* publishes the figures */
    struct rio_peer_stats ps;
    rio_blk_stats(be, &ps);
    assert_int_equal(ps.queued, 3);
    assert_int_equal(ps.cwnd_bytes, 1u << 20);
    fake_take(&f);
    assert_true(f.count[1] > 0);
    assert_int_equal(f.count[2] + f.count[3] + f.count[4], 0);

    fake_answer(&f, 1);
    assert_true(drive(be, q, e, 1, 5000));
    rio_blk_stats(be, &ps);
    assert_int_equal(ps.cwnd_bytes, 2u << 20);
    assert_int_equal(ps.queued, 1);
    fake_take(&f); /* the queue is not reaped meanwhile: first sends only */
    assert_true(f.count[2] > 0 && f.count[3] > 0);
    assert_int_equal(f.count[4], 0);

    /* Unanswered, both are resent: one loss. */
    drive(be, q, e, 2, 700);
    rio_blk_stats(be, &ps);
    assert_true(ps.retransmits >= 2);
    assert_int_equal(ps.cwnd_cuts, 1);
    assert_int_equal(ps.cwnd_bytes, 1u << 20);
    fake_take(&f);
    fake_answer(&f, 2);
    assert_true(drive(be, q, e, 2, 5000));
    fake_take(&f);
    assert_int_equal(f.count[4], 0); /* 1 MiB at the iohost fills the window */
    fake_answer(&f, 3);
    assert_true(drive(be, q, e, 3, 5000));
    fake_take(&f);
    assert_true(f.count[4] > 0);
    fake_answer(&f, 4);
    assert_true(drive(be, q, e, 4, 5000));
    for (unsigned i = 0; i < 4; i++)
        assert_int_equal(e->res[i], 0);
    be->ops->queue_close(q);
    be->ops->destroy(be);
    close(f.fd);
}

/* Queue numbers name queues in the log beside the device's own: QEMU
 * restarts a device's rings one by one (a migration's start), and queue 0
 * reopened as q2, queue 1 as q3 (h11). The lowest free number now. */
static void queue_numbers_reused(void **st)
{
    struct env *e = *st;
    const char *why = "";
    struct blk_backend *be = client(e, NULL, 1000, &why);
    assert_non_null(be);
    struct blk_bq *q0, *q1;
    assert_int_equal(be->ops->queue_open(be, 16, &q0), 0);
    assert_int_equal(be->ops->queue_open(be, 16, &q1), 0);
    assert_int_equal(((struct rio_cq *)q0)->idx, 0);
    assert_int_equal(((struct rio_cq *)q1)->idx, 1);
    be->ops->queue_close(q0);
    assert_int_equal(be->ops->queue_open(be, 16, &q0), 0);
    assert_int_equal(((struct rio_cq *)q0)->idx, 0);
    be->ops->queue_close(q1);
    assert_int_equal(be->ops->queue_open(be, 16, &q1), 0);
    assert_int_equal(((struct rio_cq *)q1)->idx, 1);
    be->ops->queue_close(q0);
    be->ops->queue_close(q1);
    be->ops->destroy(be);
}

static void failover_and_back(void **st)
{
    struct env *e = *st;
    const char *why = "";
    struct mem_be *fb = mem_be_create(DISK);
    struct blk_backend *be = client(e, &fb->base, 200, &why);
    assert_non_null(be);
    struct blk_bq *q;
    assert_int_equal(be->ops->queue_open(be, 16, &q), 0);
    uint8_t w[4096];
    fill(w, sizeof(w), 1);
    struct req a;
    req_init(&a, e, 0, BLK_OP_WRITE, 0, w, sizeof(w));
    e->done = 0;
    uint64_t sent = sc_now_ns(); /* the newest stamp arrives after this */
    assert_int_equal(be->ops->submit(q, &a.io), 0);
    assert_true(drive(be, q, e, 1, 5000));

    /* The iohost goes away: the next request completes through the
     * fallback, but not before the lease of the newest stamp (and as long
     * again for a write in flight there) has run out: a lower bound. */
    rio_server_destroy(e->srv);
    e->srv = NULL;
    e->done = 0;
    req_init(&a, e, 0, BLK_OP_WRITE, 8192, w, sizeof(w));
    assert_int_equal(be->ops->submit(q, &a.io), 0);
    assert_true(drive(be, q, e, 1, 10000));
    assert_true(sc_now_ns() >= sent + 2ull * RIO_LEASE_MS * 1000000ull);
    assert_int_equal(e->res[0], 0);
    assert_memory_equal(fb->data + 8192, w, sizeof(w));
    struct rio_peer_stats ps;
    rio_blk_stats(be, &ps);
    assert_string_equal(ps.state, "failed-over");
    assert_int_equal(ps.failovers, 1);
    assert_int_equal(ps.fallback_requests, 1);

    /* It comes back: probes find it, and requests go remote again. */
    server_start(e);
    uint64_t end = sc_now_ns() + 10000000000ull;
    do {
        drive(be, q, e, 1000, 20);
        rio_blk_stats(be, &ps);
    } while (strcmp(ps.state, "connected") != 0 && sc_now_ns() < end);
    assert_string_equal(ps.state, "connected");
    assert_int_equal(ps.reconnects, 1);
    e->done = 0;
    req_init(&a, e, 0, BLK_OP_WRITE, 16384, w, sizeof(w));
    assert_int_equal(be->ops->submit(q, &a.io), 0);
    assert_true(drive(be, q, e, 1, 5000));
    assert_memory_equal(e->mem->data + 16384, w, sizeof(w));
    be->ops->queue_close(q);
    be->ops->destroy(be);
}

static void failover_to_error(void **st)
{
    struct env *e = *st;
    const char *why = "";
    struct blk_backend *be = client(e, NULL, 200, &why);
    assert_non_null(be);
    struct blk_bq *q;
    assert_int_equal(be->ops->queue_open(be, 16, &q), 0);
    rio_server_destroy(e->srv);
    e->srv = NULL;
    uint8_t w[4096] = {0};
    struct req a[3];
    e->done = 0;
    for (unsigned i = 0; i < 3; i++) {
        req_init(&a[i], e, i, i == 2 ? BLK_OP_FLUSH : BLK_OP_WRITE, i * 4096, w, 4096);
        assert_int_equal(be->ops->submit(q, &a[i].io), 0);
    }
    assert_true(drive(be, q, e, 3, 10000));
    for (unsigned i = 0; i < 3; i++)
        assert_int_equal(e->res[i], -EIO);
    assert_int_equal(be->ops->submit(q, &a[0].io), -EIO); /* at once while failed */
    be->ops->queue_close(q);
    be->ops->destroy(be);
    server_start(e);
}

/* A device created on a silent iohost (it has a size) has never heard
 * from it: peers says so rather than "just now" (last_rx_ms was 0). */
static void silent_iohost_never_answered(void **st)
{
    struct env *e = *st;
    rio_server_destroy(e->srv);
    e->srv = NULL;
    const char *why = "";
    struct blk_backend *be = client(e, NULL, 200, &why);
    assert_non_null(be);
    struct rio_peer_stats ps;
    rio_blk_stats(be, &ps);
    assert_string_equal(ps.state, "idle");
    assert_true(ps.last_rx_ms == -1);
    be->ops->destroy(be);
    server_start(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(reads_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(at_most_once, setup, teardown),
        cmocka_unit_test_setup_teardown(damaged_ack, setup, teardown),
        cmocka_unit_test_setup_teardown(damaged_lease, setup, teardown),
        cmocka_unit_test_setup_teardown(damaged_pong, setup, teardown),
        cmocka_unit_test_setup_teardown(idle_keeps_lease, setup, teardown),
        cmocka_unit_test_setup_teardown(damaged_first_datagram, setup, teardown),
        cmocka_unit_test_setup_teardown(partial_writes_expire, setup, teardown),
        cmocka_unit_test_setup_teardown(one_session_leaves_room, setup, teardown),
        cmocka_unit_test_setup_teardown(evicted_session_applies_nothing_again, setup, teardown),
        cmocka_unit_test_setup_teardown(repeated_fragment_is_no_progress, setup, teardown),
        cmocka_unit_test_setup_teardown(newcomer_reclaims_its_share, setup, teardown),
        cmocka_unit_test_setup_teardown(unknown_export_answered, setup, teardown),
        cmocka_unit_test_setup_teardown(flush_after_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(stale_lease, setup, teardown),
        cmocka_unit_test_setup_teardown(window_paces_a_burst, setup, teardown),
        cmocka_unit_test_setup_teardown(queue_numbers_reused, setup, teardown),
        cmocka_unit_test_setup_teardown(failover_and_back, setup, teardown),
        cmocka_unit_test_setup_teardown(failover_to_error, setup, teardown),
        cmocka_unit_test_setup_teardown(silent_iohost_never_answered, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
