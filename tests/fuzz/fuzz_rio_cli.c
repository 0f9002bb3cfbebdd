/* libFuzzer harness: vRIO vmhost client (rio_cq.c) receiving datagrams from
 * a hostile iohost: RESP (with READ data fragments scattered straight into
 * the request's buffers, guessed placement), NACK bitmaps, PONG, -ESTALE.
 * The harness is the iohost on loopback: per input it submits up to 8
 * requests (exactly-sized heap buffers: ASan catches a fragment placed past
 * one), learns session/ids from the REQs, then sends the fuzzer's datagrams
 * (header fields patched: magic/version/reserved; session when 0; id = base
 * + id when id < 16; CRC sealed) and reaps. At the end every request still
 * open is answered -EIO so none outlives the input.
 * Input: [n reqs][per req: op, len sel, off sel] then [u16 len][bytes]... */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "remote/rio_client.h"
#include "remote/rio_wire.h"
#include "fuzz_common.h"

static struct blk_backend *be;
static struct blk_bq *bq;
static int srv;
static struct sockaddr_storage cli;
static socklen_t clen;

struct req {
    struct blk_io io;
    struct iovec iov[2];
    int done;
    int res;
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    fuzz_log_init();
    const char *port = getenv("SC_FUZZ_PORT") ? getenv("SC_FUZZ_PORT") : "42110";
    srv = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                            .sin_port = htons(atoi(port))};
    if (bind(srv, (struct sockaddr *)&a, sizeof(a)) < 0) { perror("bind"); abort(); }
    int big = 8 << 20;
    setsockopt(srv, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%s", port);
    struct rio_blk_params p = {.server = addr, .device = "fz", .what = "fuzz", .connect_ms = 1,
                               .size = 1 << 20, .window = 64, .timeout_ms = 60000,
                               .failover_ms = 60000, .heartbeat_ms = 60000};
    const char *why = "";
    be = rio_blk_create(&p, &why);
    if (!be) { fprintf(stderr, "rio_blk_create: %s\n", why); abort(); }
    if (be->ops->queue_open(be, 64, &bq) < 0) abort();
    /* drain the HELLO */
    uint8_t b[70000];
    while (recv(srv, b, sizeof(b), MSG_DONTWAIT) > 0) {}
    return 0;
}

static void done_cb(struct blk_io *io, int res)
{
    struct req *r = (struct req *)io;
    if (r->done) { fprintf(stderr, "done() called twice\n"); abort(); }
    r->done = 1;
    r->res = res;
}

static uint64_t session;
static uint64_t ids[64];
static struct rio_hdr reqh[64];
static unsigned nids;

static void learn(void)
{
    static uint8_t b[70000];
    for (;;) {
        struct sockaddr_storage from;
        socklen_t fl = sizeof(from);
        ssize_t n = recvfrom(srv, b, sizeof(b), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
        if (n <= 0)
            return;
        struct rio_hdr h;
        if (rio_hdr_decode(b, (size_t)n, &h) < 0)
            continue;
        cli = from;
        clen = fl;
        if (h.type == RIO_T_REQ || h.type == RIO_T_PING) {
            session = h.session;
        }
        if (h.type == RIO_T_REQ) {
            bool have = false;
            for (unsigned i = 0; i < nids; i++)
                have |= ids[i] == h.id;
            if (!have && nids < 64) {
                reqh[nids] = h;
                ids[nids++] = h.id;
            }
        }
    }
}

static void send_dg(uint8_t *d, size_t len)
{
    if (clen)
        sendto(srv, d, len, 0, (struct sockaddr *)&cli, clen);
}

static void answer(const struct rio_hdr *q, int status)
{
    struct rio_hdr a = {.type = RIO_T_RESP, .op = q->op, .device = q->device, .status = status,
                        .len = q->len, .session = q->session, .id = q->id, .offset = q->offset,
                        .lease = rio_stamp(sc_now_ns())};
    uint8_t w[RIO_HDR_SIZE];
    rio_hdr_encode(&a, w);
    rio_seal(w, NULL, 0, 0);
    send_dg(w, sizeof(w));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned nr = 1 + data[0] % 8;
    data++, size--;
    if (size < nr * 3)
        return 0;
    struct req *rq = calloc(nr, sizeof(*rq));
    static const uint32_t lens[8] = {512, 1024, 4096, 1536, 8192, 65536, 2560, 131072};
    nids = 0;
    for (unsigned i = 0; i < nr; i++) {
        uint8_t op = data[0] % 5, ls = data[1] % 8, os = data[2];
        data += 3, size -= 3;
        struct req *r = &rq[i];
        r->io.op = (enum blk_op)op;
        r->io.offset = (uint64_t)(os % 64) * 4096;
        r->io.len = op == BLK_OP_FLUSH ? 0 : lens[ls];
        r->io.done = done_cb;
        if (op == BLK_OP_READ || op == BLK_OP_WRITE) {
            /* two exactly-sized pieces */
            size_t a = r->io.len / 2 + (ls & 1) * 512;
            if (a > r->io.len) a = r->io.len;
            r->iov[0] = (struct iovec){malloc(a ? a : 1), a};
            r->iov[1] = (struct iovec){malloc(r->io.len - a ? r->io.len - a : 1), r->io.len - a};
            memset(r->iov[0].iov_base, 0xaa, a);
            memset(r->iov[1].iov_base, 0xbb, r->io.len - a);
            r->io.iov = r->iov;
            r->io.iovcnt = 2;
        }
        if (be->ops->submit(bq, &r->io) < 0)
            r->done = 2;
    }
    be->ops->kick(bq);
    be->ops->reap(bq);
    usleep(50);
    learn();
    uint64_t base = nids ? ids[0] : 0;
    static uint8_t d[66000];
    int count = 0;
    while (size >= 2 && count < 48) {
        size_t len = data[0] | (data[1] << 8);
        data += 2, size -= 2;
        if (len > size) len = size;
        memcpy(d, data, len);
        data += len, size -= len;
        if (len >= RIO_HDR_SIZE) {
            d[0] = RIO_MAGIC & 0xff; d[1] = RIO_MAGIC >> 8; d[2] = RIO_VERSION;
            d[10] = d[11] = 0;
            memset(d + 68, 0, 4);
            uint64_t s; memcpy(&s, d + 32, 8);
            if (s == 0) memcpy(d + 32, &session, 8);
            uint64_t id; memcpy(&id, d + 40, 8);
            if (id < 16) { id += base; memcpy(d + 40, &id, 8); }
            struct iovec v = {d + RIO_HDR_SIZE, len - RIO_HDR_SIZE};
            rio_seal(d, &v, 1, (uint32_t)(len - RIO_HDR_SIZE));
        }
        send_dg(d, len);
        count++;
        if (count % 3 == 0) { be->ops->reap(bq); learn(); }
    }
    be->ops->reap(bq);
    /* settle everything */
    for (int round = 0; round < 200; round++) {
        bool open = false;
        for (unsigned i = 0; i < nr; i++)
            open |= !rq[i].done;
        if (!open)
            break;
        learn();
        for (unsigned i = 0; i < nids; i++)
            answer(&reqh[i], -EIO);
        be->ops->kick(bq);
        be->ops->reap(bq);
        if (round > 5) usleep(200);
    }
    for (unsigned i = 0; i < nr; i++) {
        if (!rq[i].done) { fprintf(stderr, "request %u never completed\n", i); abort(); }
    }
    learn();
    for (unsigned i = 0; i < nr; i++) {
        free(rq[i].iov[0].iov_base);
        free(rq[i].iov[1].iov_base);
    }
    free(rq);
    return 0;
}
