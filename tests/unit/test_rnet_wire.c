/* vRIO net wire header and path accounting: round trip, hostile headers
 * (bad magic, version, type, session, flags, checksum fields outside the
 * frame, wrong control payload sizes, a CRC that does not match), loss counting from sequence gaps
 * with reordering and heartbeat marks, a DATA datagram sent over a
 * loopback socket pair arriving as the packet it was, and frames of many
 * sizes sent together (segmented runs, coalesced receives) arriving whole
 * and in order. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "remote/rio_io.h"
#include "remote/rnet_io.h"
#include "remote/rnet_wire.h"
#include "tcp_frames.h"

/* Encodes h for a datagram with the first paylen bytes after the header. */
static void enc(const struct rnet_hdr *h, uint8_t *b, size_t paylen)
{
    struct iovec pl = {b + RNET_HDR_SIZE, paylen};
    rnet_hdr_encode(h, b, &pl, 1, paylen);
}

static void test_roundtrip_and_hostile(void **st)
{
    (void)st;
    uint8_t b[RNET_HDR_SIZE + 64] = {0};
    const size_t frame = sizeof(b) - RNET_HDR_SIZE;
    struct rnet_hdr h = {.type = RNET_T_DATA, .flags = RNET_F_NEEDS_CSUM, .peer = 7,
                         .session = 0x1122334455667788ull, .seq = 99, .csum_start = 34,
                         .csum_offset = 16}, o;
    enc(&h, b, frame);
    assert_int_equal(rnet_hdr_decode(b, sizeof(b), &o), 0);
    assert_int_equal(o.peer, 7);
    assert_true(o.session == h.session && o.seq == 99 && o.csum_start == 34);
    /* The CRC covers the frame and the header. */
    b[RNET_HDR_SIZE + 40] ^= 4;
    assert_int_equal(rnet_hdr_decode(b, sizeof(b), &o), -EINVAL);
    b[RNET_HDR_SIZE + 40] ^= 4;
    b[20] ^= 1; /* seq */
    assert_int_equal(rnet_hdr_decode(b, sizeof(b), &o), -EINVAL);
    b[20] ^= 1;
    assert_int_equal(rnet_hdr_decode(b, sizeof(b), &o), 0);
    /* The checksum field must lie inside the 64-byte frame. */
    h.csum_offset = 30;
    enc(&h, b, frame);
    assert_int_equal(rnet_hdr_decode(b, sizeof(b), &o), -EINVAL);
    h.flags = 0;
    enc(&h, b, frame);
    assert_int_equal(rnet_hdr_decode(b, sizeof(b), &o), 0);
    assert_int_equal(rnet_hdr_decode(b, RNET_HDR_SIZE + 13, &o), -EINVAL); /* runt frame */
    assert_int_equal(rnet_hdr_decode(b, RNET_HDR_SIZE - 1, &o), -EINVAL);
    h.flags = 0x80;
    enc(&h, b, frame);
    assert_int_equal(rnet_hdr_decode(b, sizeof(b), &o), -EINVAL);
    h.flags = 0;
    h.session = 0;
    enc(&h, b, frame);
    assert_int_equal(rnet_hdr_decode(b, sizeof(b), &o), -EINVAL);
    h.session = 1;
    h.type = 77;
    enc(&h, b, frame);
    assert_int_equal(rnet_hdr_decode(b, sizeof(b), &o), -EINVAL);
    h.type = RNET_T_PING;
    enc(&h, b, 8);
    assert_int_equal(rnet_hdr_decode(b, RNET_HDR_SIZE + 8, &o), 0);
    assert_int_equal(rnet_hdr_decode(b, RNET_HDR_SIZE + 9, &o), -EINVAL);
    h.type = RNET_T_BYE;
    enc(&h, b, 0);
    assert_int_equal(rnet_hdr_decode(b, RNET_HDR_SIZE, &o), 0);
    assert_int_equal(rnet_hdr_decode(b, RNET_HDR_SIZE + 1, &o), -EINVAL);
    h.type = RNET_T_HELLO;
    enc(&h, b, 8);
    assert_int_equal(rnet_hdr_decode(b, RNET_HDR_SIZE + 8, &o), 0);
    assert_int_equal(rnet_hdr_decode(b, RNET_HDR_SIZE + 1, &o), -EINVAL);
    assert_int_equal(rnet_hdr_decode(b, RNET_HDR_SIZE + 2 * RNET_NAME_MAX + 1, &o), -EINVAL);
    b[0] ^= 1;
    assert_int_equal(rnet_hdr_decode(b, RNET_HDR_SIZE + 8, &o), -EINVAL);
    b[0] ^= 1;
    b[2] = 9;
    assert_int_equal(rnet_hdr_decode(b, RNET_HDR_SIZE + 8, &o), -EINVAL);
}

static uint64_t lost(struct rnet_path *p) { return atomic_load(&p->drops[RNET_DROP_LOST]); }

static void test_seq_accounting(void **st)
{
    (void)st;
    struct rnet_path p = {0};
    struct rnet_rxseq s = {0};
    rnet_rxseq_see(&s, 10, &p);
    rnet_rxseq_see(&s, 11, &p);
    rnet_rxseq_see(&s, 14, &p); /* 12, 13 missing */
    assert_int_equal(lost(&p), 2);
    rnet_rxseq_see(&s, 12, &p); /* late, not lost */
    assert_int_equal(lost(&p), 1);
    rnet_rxseq_see(&s, 12, &p); /* a duplicate cannot undo more than was missing */
    rnet_rxseq_see(&s, 13, &p);
    assert_int_equal(lost(&p), 0);
    rnet_rxseq_see(&s, 11, &p);
    assert_int_equal(lost(&p), 0);
    /* The tail of a burst: only a heartbeat's mark reveals it. */
    rnet_rxseq_mark(&s, 20, &p);
    assert_int_equal(lost(&p), 5); /* 15..19 */
    rnet_rxseq_mark(&s, 18, &p);    /* an old mark changes nothing */
    assert_int_equal(lost(&p), 5);
    rnet_rxseq_see(&s, 19, &p);
    assert_int_equal(lost(&p), 4);
    /* Wrapping around 2^32. */
    struct rnet_rxseq w = {0};
    struct rnet_path q = {0};
    rnet_rxseq_see(&w, 0xfffffffeu, &q);
    rnet_rxseq_see(&w, 1, &q);
    assert_int_equal(lost(&q), 2);
    /* Jumps no path loses counted as lost: a hostile peer's 10 heartbeats,
     * each 2^31 - 1 ahead, made 21 billion. The numbering starts over. */
    for (uint32_t i = 1, at = 1; i <= 10; i++) {
        at += 0x7fffffffu;
        rnet_rxseq_mark(&w, at, &q);
        rnet_rxseq_see(&w, at + (1u << 25), &q);
        at += 1u << 25;
    }
    assert_int_equal(lost(&q), 2);
    rnet_rxseq_see(&w, w.next + 3, &q);
    assert_int_equal(lost(&q), 5);
}

/* Statuses are 0 or -errno: INT32_MIN made strerror(-status) overflow. */
static void test_status_range(void **st)
{
    (void)st;
    uint8_t b[RNET_HDR_SIZE];
    struct rnet_hdr h = {.type = RNET_T_HELLO_ACK, .session = 7, .status = -ENOSPC}, out;
    rnet_hdr_encode(&h, b, NULL, 0, 0);
    assert_int_equal(rnet_hdr_decode(b, sizeof(b), &out), 0);
    assert_int_equal(out.status, -ENOSPC);
    int32_t bad[] = {INT32_MIN, -4096, 1};
    for (unsigned i = 0; i < 3; i++) {
        h.status = bad[i];
        rnet_hdr_encode(&h, b, NULL, 0, 0);
        assert_int_equal(rnet_hdr_decode(b, sizeof(b), &out), -EINVAL);
    }
}

/* A receiving socket on loopback and a sending one connected to it. */
static void loop_pair(int *tx, int *rx)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    const char *why = "";
    *rx = rnet_socket((struct sockaddr *)&a, sizeof(a), NULL, 0, &why);
    assert_true(*rx >= 0);
    socklen_t al = sizeof(a);
    assert_int_equal(getsockname(*rx, (struct sockaddr *)&a, &al), 0);
    *tx = rnet_socket(NULL, 0, (struct sockaddr *)&a, sizeof(a), &why);
    assert_true(*tx >= 0);
}

static void test_loopback_datagram(void **st)
{
    (void)st;
    int tx, rx;
    loop_pair(&tx, &rx);

    uint8_t frame[3000];
    for (unsigned i = 0; i < sizeof(frame); i++)
        frame[i] = (uint8_t)(i * 7);
    frame[12] = 0x08; /* IPv4, UDP: NEEDS_CSUM names its checksum field */
    frame[13] = 0x00;
    frame[14] = 0x45;
    frame[23] = 17;
    struct iovec iov[3] = {{frame, 5}, {frame + 5, 1000}, {frame + 1005, 1995}};
    struct net_pkt p = {.iov = iov, .niov = 3, .len = sizeof(frame)};
    p.hdr.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    p.hdr.csum_start = 34;
    p.hdr.csum_offset = 6;
    struct net_pkt *pp[2] = {&p, &p};
    struct rnet_path path = {0};
    _Atomic uint32_t seq = 41;
    unsigned frames;
    uint64_t fbytes;
    assert_int_equal(rnet_send_pkts(tx, NULL, 0, 5, 3, &seq, pp, 2, &path, &frames, &fbytes), 2);
    assert_int_equal(frames, 2);
    assert_int_equal(atomic_load(&path.tx_datagrams), 2);

    struct rnet_rxbuf rb;
    assert_int_equal(rnet_rxbuf_init(&rb), 0);
    int n = 0;
    for (int tries = 0; n < 2 && tries < 1000; tries++) {
        int r = rnet_recv(rx, &rb);
        assert_true(r >= 0);
        if (r == 0) {
            usleep(1000);
            continue;
        }
        for (int i = 0; i < r; i++, n++) {
            struct rnet_hdr h;
            uint8_t *buf = rnet_rxbuf_at(&rb, (unsigned)i);
            assert_int_equal(rnet_hdr_decode(buf, rb.msg[i].msg_len, &h), 0);
            assert_int_equal(h.seq, 41u + (unsigned)n);
            assert_int_equal(h.peer, 3);
            struct net_pkt q;
            struct iovec qi;
            assert_true(rnet_pkt_from(&h, buf, rb.msg[i].msg_len, &q, &qi));
            assert_int_equal(q.len, sizeof(frame));
            assert_memory_equal(qi.iov_base, frame, sizeof(frame));
            assert_int_equal(q.hdr.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
            assert_int_equal(q.hdr.csum_start, 34);
        }
    }
    assert_int_equal(n, 2);
    rnet_rxbuf_fini(&rb);
    close(tx);
    close(rx);
}

/* Frames of many sizes in one send: runs of small frames of one size leave
 * as one segmented send and arrive as one coalesced receive, the others
 * one datagram each; every frame arrives whole, in order, with its seq. */
static void test_loopback_runs(void **st)
{
    (void)st;
    int tx, rx;
    loop_pair(&tx, &rx);

    enum { N = 120 };
    static const struct {
        unsigned count, size;
    } runs[] = {{40, 64}, {1, 60}, {10, 200}, {1, 3000}, {20, 64}, {1, 1400}, {30, 1000},
                {17, 64}};
    static uint8_t frames[N][3000];
    static struct iovec iov[N];
    static struct net_pkt pkts[N];
    struct net_pkt *pp[N];
    unsigned n = 0;
    for (unsigned r = 0; r < sizeof(runs) / sizeof(runs[0]); r++)
        for (unsigned k = 0; k < runs[r].count; k++, n++) {
            for (unsigned b = 0; b < runs[r].size; b++)
                frames[n][b] = (uint8_t)(b * 13 + n);
            iov[n] = (struct iovec){frames[n], runs[r].size};
            pkts[n] = (struct net_pkt){.iov = &iov[n], .niov = 1, .len = runs[r].size};
            pp[n] = &pkts[n];
        }
    assert_int_equal(n, N);
    struct rnet_path path = {0};
    _Atomic uint32_t seq = 7;
    unsigned handed;
    uint64_t fbytes;
    assert_int_equal(rnet_send_pkts(tx, NULL, 0, 5, 3, &seq, pp, N, &path, &handed, &fbytes), N);
    assert_int_equal(handed, N);

    struct rnet_rxbuf rb;
    assert_int_equal(rnet_rxbuf_init(&rb), 0);
    unsigned got = 0, coalesced = 0;
    for (int tries = 0; got < N && tries < 1000; tries++) {
        int r = rnet_recv(rx, &rb);
        assert_true(r >= 0);
        if (r == 0) {
            usleep(1000);
            continue;
        }
        for (int i = 0; i < r; i++) {
            coalesced += rb.seg[i] != 0;
            size_t len;
            for (size_t off = 0; (len = rnet_rx_size(&rb, (unsigned)i, off)) > 0; off += len) {
                uint8_t *buf = rnet_rxbuf_at(&rb, (unsigned)i) + off;
                struct rnet_hdr h;
                assert_int_equal(rnet_hdr_decode(buf, len, &h), 0);
                assert_true(got < N);
                assert_int_equal(h.seq, 7u + got);
                struct net_pkt q;
                struct iovec qi;
                assert_true(rnet_pkt_from(&h, buf, len, &q, &qi));
                assert_int_equal(q.len, pkts[got].len);
                assert_memory_equal(qi.iov_base, frames[got], q.len);
                got++;
            }
        }
    }
    assert_int_equal(got, N);
    if (rio_gso_usable())
        assert_true(coalesced > 0);
    rnet_rxbuf_fini(&rb);
    close(tx);
    close(rx);
}

/* Names in a HELLO: a peer named with bytes JSON cannot carry joined but
 * was missing from net-peers, and one with a newline could forge log lines. */
static void test_names(void **state)
{
    (void)state;
    static const char *const good[] = {"n0", "sw-0", "a.b_c", "N9"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_true(rnet_name_ok((const uint8_t *)good[i], strlen(good[i])));
    static const char *const bad[] = {"", "bad\xff\xfename", "a b", "x\ny", "n0@1.2.3.4",
                                      "a/b"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(rnet_name_ok((const uint8_t *)bad[i], strlen(bad[i])));
}

/* A GSO packet leaves as its segments, and the sender counts what it
 * handed in the same way (the receiving end counts datagrams): a guest's
 * TCP made the two ends' counters disagree by hundreds with no drop. */
static void test_gso_counted_as_segments(void **st)
{
    (void)st;
    int tx, rx;
    loop_pair(&tx, &rx);
    static uint8_t f[4000];
    uint32_t len = build_tcp(f, false, false, 3500);
    struct iovec iov = {f, len};
    struct net_pkt p = {.iov = &iov, .niov = 1, .len = len};
    tcp_gso_hdr(&p, false, false, 1000);
    struct net_pkt *pp[1] = {&p};
    struct rnet_path path = {0};
    _Atomic uint32_t seq = 0;
    unsigned frames;
    uint64_t bytes;
    assert_int_equal(rnet_send_pkts(tx, NULL, 0, 5, 3, &seq, pp, 1, &path, &frames, &bytes), 4);
    assert_int_equal(frames, 4);
    assert_int_equal(bytes, 4 * 54 + 3500);
    assert_int_equal(atomic_load(&path.tx_datagrams), 4);
    assert_int_equal(atomic_load(&seq), 4);
    close(tx);
    close(rx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_and_hostile),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_seq_accounting),
        cmocka_unit_test(test_status_range),
        cmocka_unit_test(test_loopback_datagram),
        cmocka_unit_test(test_gso_counted_as_segments),
        cmocka_unit_test(test_loopback_runs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
