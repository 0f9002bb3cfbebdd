/* Offload helpers against known packets: the Internet checksum, sender
 * header checks (hostile fields), software checksum completion and TCP
 * segmentation (IPv4 with a VLAN tag, IPv6), and the pass-through rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "backend/net_offload.h"
#include "tcp_frames.h"

/* Gathers a packet's iovecs into flat bytes. */
static uint32_t flatten(const struct net_pkt *p, uint8_t *out, size_t cap)
{
    assert_true(p->len <= cap);
    assert_int_equal(net_iov_read(p->iov, p->niov, 0, out, p->len), p->len);
    return p->len;
}

static void test_csum_known(void **state)
{
    (void)state;
    /* RFC 1071 section 3 example: sum 0xddf2, checksum 0x220d. */
    const uint8_t b[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
    struct net_csum c = {0};
    net_csum_feed(&c, b, sizeof(b));
    assert_int_equal(net_csum_final(&c), 0x220d);
    /* Fed in odd pieces across "iovecs": same result. */
    struct iovec iov[3] = {{(void *)b, 3}, {(void *)(b + 3), 1}, {(void *)(b + 4), 4}};
    struct net_csum d = {0};
    net_csum_feed_iov(&d, iov, 3, 0, 8);
    assert_int_equal(net_csum_final(&d), 0x220d);
    /* An IPv4 header with a known checksum (0xb861). */
    const uint8_t ip[20] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                            0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
    struct net_csum e = {0};
    net_csum_feed(&e, ip, 20);
    assert_int_equal(net_csum_final(&e), 0xb861);
}

static void test_hdr_check(void **state)
{
    (void)state;
    struct virtio_net_hdr_v1 h;
#define H(...) (h = (struct virtio_net_hdr_v1){__VA_ARGS__}, &h)
    assert_int_equal(net_hdr_check(H(0), 60, 0), NET_DROP__COUNT);
    assert_int_equal(net_hdr_check(H(0), 13, NET_CAP_ALL), NET_DROP_BAD_LENGTH);
    assert_int_equal(net_hdr_check(H(0), NET_MAX_FRAME + 1, NET_CAP_ALL), NET_DROP_BAD_LENGTH);
    /* DATA_VALID on transmit is ignored, not an error. */
    assert_int_equal(net_hdr_check(H(.flags = VIRTIO_NET_HDR_F_DATA_VALID), 60, 0),
                     NET_DROP__COUNT);
    assert_int_equal(h.flags, 0);
    /* NEEDS_CSUM needs CSUM, and the field inside the frame. */
    assert_int_equal(net_hdr_check(H(.flags = 1, .csum_start = 34, .csum_offset = 6), 60, 0),
                     NET_DROP_BAD_HEADER);
    assert_int_equal(
        net_hdr_check(H(.flags = 1, .csum_start = 34, .csum_offset = 6), 60, NET_CAP_CSUM),
        NET_DROP__COUNT);
    assert_int_equal(
        net_hdr_check(H(.flags = 1, .csum_start = 34, .csum_offset = 25), 60, NET_CAP_CSUM),
        NET_DROP_BAD_HEADER);
    assert_int_equal(
        net_hdr_check(H(.flags = 1, .csum_start = 0xffff, .csum_offset = 0xffff), 60, NET_CAP_CSUM),
        NET_DROP_BAD_HEADER);
    /* GSO: negotiated type, non-zero gso_size, NEEDS_CSUM. */
    assert_int_equal(net_hdr_check(H(.flags = 1, .gso_type = 1, .gso_size = 1448, .csum_start = 34,
                                     .csum_offset = 16), 3000, NET_CAP_CSUM | NET_CAP_TSO4),
                     NET_DROP__COUNT);
    assert_int_equal(net_hdr_check(H(.flags = 1, .gso_type = 1, .gso_size = 0, .csum_start = 34,
                                     .csum_offset = 16), 3000, NET_CAP_ALL),
                     NET_DROP_BAD_HEADER);
    assert_int_equal(net_hdr_check(H(.flags = 1, .gso_type = 4, .gso_size = 1000, .csum_start = 54,
                                     .csum_offset = 16), 3000, NET_CAP_CSUM | NET_CAP_TSO4),
                     NET_DROP_BAD_HEADER);
    assert_int_equal(net_hdr_check(H(.gso_type = 1, .gso_size = 1000), 3000, NET_CAP_ALL),
                     NET_DROP_BAD_HEADER);
    assert_int_equal(net_hdr_check(H(.flags = 1, .gso_type = 3, .gso_size = 1000, .csum_start = 34,
                                     .csum_offset = 6), 3000, NET_CAP_ALL),
                     NET_DROP_BAD_HEADER);
    assert_int_equal(net_hdr_check(H(.flags = 1, .gso_type = 0x81, .gso_size = 1000,
                                     .csum_start = 34, .csum_offset = 16), 3000, NET_CAP_ALL),
                     NET_DROP_BAD_HEADER);
#undef H
}

/* A receiver without GUEST_CSUM gets the two bytes at csum_start +
 * csum_offset written after filters looked at the frame: an ICMP echo sent
 * as IP protocol 17 with its "checksum" over the TTL and protocol bytes
 * passed a filter denying ICMP and turned into ICMP on the way (the sender
 * picks the checksum's value); one aimed at the destination MAC rewrote a
 * broadcast. Only the TCP or UDP checksum field is a place now. */
static void test_csum_placed(void **state)
{
    (void)state;
    static uint8_t f[2000];
    for (int v = 0; v < 4; v++) {
        bool v6 = v & 1, vlan = v & 2;
        uint32_t len = build_tcp(f, v6, vlan, 100), l4 = (vlan ? 18 : 14) + (v6 ? 40 : 20);
        struct iovec iov[2] = {{f, 20}, {f + 20, len - 20}};
        struct net_pkt p = {.iov = iov, .niov = 2, .len = len};
        p.hdr.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
        p.hdr.csum_start = (uint16_t)l4;
        p.hdr.csum_offset = 16;
        assert_true(net_csum_placed(&p));
        p.hdr.csum_offset = 6; /* UDP's place in a TCP header */
        assert_false(net_csum_placed(&p));
        p.hdr.csum_start = (uint16_t)(l4 - 2);
        p.hdr.csum_offset = 18;
        assert_false(net_csum_placed(&p));
        /* A UDP packet: offset 6. */
        f[(vlan ? 18 : 14) + (v6 ? 6 : 9)] = 17;
        p.hdr.csum_start = (uint16_t)l4;
        assert_false(net_csum_placed(&p));
        p.hdr.csum_offset = 6;
        assert_true(net_csum_placed(&p));
        /* ICMP has no such field. */
        f[(vlan ? 18 : 14) + (v6 ? 6 : 9)] = v6 ? 58 : 1;
        assert_false(net_csum_placed(&p));
        p.hdr.flags = 0;
        assert_true(net_csum_placed(&p));
    }
    uint32_t len = build_tcp(f, false, false, 100);
    struct iovec one = {f, len};
    struct net_pkt p = {.iov = &one, .niov = 1, .len = len};
    p.hdr.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    p.hdr.csum_start = 22; /* the IPv4 TTL and protocol */
    p.hdr.csum_offset = 0;
    assert_false(net_csum_placed(&p));
    p.hdr.csum_start = 0; /* the destination MAC */
    assert_false(net_csum_placed(&p));
    f[14] = 0x44; /* IHL 4: no IPv4 header */
    p.hdr.csum_start = 34;
    p.hdr.csum_offset = 16;
    assert_false(net_csum_placed(&p));
    f[14] = 0x45;
    f[12] = 0x88; /* not IP */
    assert_false(net_csum_placed(&p));
    /* IPv6 with a hop-by-hop header of 8 bytes before UDP. */
    len = build_tcp(f, true, false, 100);
    f[20] = 0;  /* next header: hop-by-hop */
    f[54] = 17; /* which says UDP follows */
    f[55] = 0;  /* 8 bytes */
    one = (struct iovec){f, len};
    p.len = len;
    p.hdr.csum_start = 14 + 40 + 8;
    p.hdr.csum_offset = 6;
    assert_true(net_csum_placed(&p));
    p.hdr.csum_start = 14 + 40;
    assert_false(net_csum_placed(&p));
    len = build_tcp(f, false, false, 100);
    one = (struct iovec){f, len};
    p.len = len;
    one.iov_len = p.len = 30; /* headers cut short */
    f[12] = 0x08;
    assert_false(net_csum_placed(&p));
    /* TSO metadata on a packet it does not describe: UDP, or TCP in the
     * other IP version (a tap's kernel refused them; they counted as the
     * tap's io_error). */
    for (int v6 = 0; v6 < 2; v6++) {
        len = build_tcp(f, v6, false, 1000);
        one = (struct iovec){f, len};
        p.len = len;
        p.hdr.csum_start = (uint16_t)(14 + (v6 ? 40 : 20));
        p.hdr.csum_offset = 16;
        p.hdr.gso_size = 500;
        p.hdr.gso_type = v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
        assert_true(net_csum_placed(&p));
        p.hdr.gso_type = v6 ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_TCPV6;
        assert_false(net_csum_placed(&p));
        p.hdr.gso_type = v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
        f[14 + (v6 ? 6 : 9)] = 17;
        p.hdr.csum_offset = 6;
        assert_false(net_csum_placed(&p));
    }
    p.hdr.gso_type = VIRTIO_NET_HDR_GSO_NONE;
}

static void check_tcp_csum(const uint8_t *f, bool v6, uint32_t l3, uint32_t len)
{
    uint32_t l4 = l3 + (v6 ? 40 : 20), tl = len - l4;
    uint64_t ps = 6 + tl;
    const uint8_t *ip = f + l3;
    if (v6)
        for (int i = 0; i < 32; i += 2)
            ps += rd16(ip + 8 + i);
    else
        for (int i = 0; i < 8; i += 2)
            ps += rd16(ip + 12 + i);
    while (ps >> 16)
        ps = (ps & 0xffff) + (ps >> 16);
    assert_int_equal(raw_sum(f + l4, tl, (uint32_t)ps), 0xffff);
    if (!v6)
        assert_int_equal(raw_sum(ip, 20, 0), 0xffff);
}

static void test_csum_fix(void **state)
{
    (void)state;
    static uint8_t f[2000], out[2000];
    uint32_t len = build_tcp(f, false, false, 1000);
    /* Split the frame over three iovecs, one boundary inside the TCP header. */
    struct iovec iov[3] = {{f, 40}, {f + 40, 11}, {f + 51, len - 51}};
    struct net_pkt p = {.iov = iov, .niov = 3, .len = len};
    p.hdr.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    p.hdr.csum_start = 34;
    p.hdr.csum_offset = 16;
    struct net_fix fx;
    enum net_drop why;

    /* A receiver with GUEST_CSUM gets the packet as is. */
    assert_int_equal(net_fix_begin(&fx, &p, NET_CAP_CSUM, &why), 0);
    const struct net_pkt *o = net_fix_next(&fx);
    assert_non_null(o);
    assert_int_equal(o->hdr.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
    assert_ptr_equal(o->iov, iov);
    assert_null(net_fix_next(&fx));

    /* Without: completed in software, flags 0, the sender's bytes untouched. */
    assert_int_equal(net_fix_begin(&fx, &p, 0, &why), 0);
    o = net_fix_next(&fx);
    assert_non_null(o);
    assert_int_equal(o->hdr.flags, 0);
    assert_int_equal(flatten(o, out, sizeof(out)), len);
    check_tcp_csum(out, false, 14, len);
    assert_memory_equal(out, f, 50);
    assert_memory_equal(out + 52, f + 52, len - 52);
    assert_null(net_fix_next(&fx));
}

static void run_tso(bool v6, bool vlan)
{
    static uint8_t f[8000], out[2000];
    const uint32_t payload = 3500, mss = 1000;
    uint32_t len = build_tcp(f, v6, vlan, payload), l3 = vlan ? 18 : 14;
    uint32_t hl = l3 + (v6 ? 40 : 20) + 20;
    struct iovec iov[2] = {{f, 100}, {f + 100, len - 100}};
    struct net_pkt p = {.iov = iov, .niov = 2, .len = len};
    tcp_gso_hdr(&p, v6, vlan, (uint16_t)mss);
    memcpy(p.eth, f, 12);
    struct net_fix fx;
    enum net_drop why;

    /* A receiver with the TSO offload takes the GSO packet whole. */
    assert_int_equal(net_fix_begin(&fx, &p, NET_CAP_ALL, &why), 0);
    assert_ptr_equal(net_fix_next(&fx)->iov, iov);
    assert_null(net_fix_next(&fx));

    /* TSO without CSUM is not TSO: segmented. */
    unsigned caps = v6 ? NET_CAP_TSO6 : NET_CAP_TSO4;
    assert_int_equal(net_fix_begin(&fx, &p, caps, &why), 0);
    const struct net_pkt *o;
    uint32_t seg = 0, seen = 0;
    while ((o = net_fix_next(&fx))) {
        uint32_t n = flatten(o, out, sizeof(out)), want = payload - seen < mss ? payload - seen : mss;
        bool last = seen + want == payload;
        assert_int_equal(n, hl + want);
        assert_int_equal(o->hdr.gso_type, 0);
        assert_int_equal(o->hdr.flags, 0);
        const uint8_t *ip = out + l3, *tcp = out + hl - 20;
        if (v6) {
            assert_int_equal(rd16(ip + 4), 20 + want);
        } else {
            assert_int_equal(rd16(ip + 2), 40 + want);
            assert_int_equal(rd16(ip + 4), 0x1234 + seg);
        }
        assert_int_equal(rd32(tcp + 4), 0x10000000u + seen);
        assert_int_equal(tcp[13] & 0x01, last ? 0x01 : 0);
        assert_int_equal(tcp[13] & 0x08, last ? 0x08 : 0);
        assert_int_equal(tcp[13] & 0x80, seg == 0 ? 0x80 : 0);
        assert_memory_equal(out + hl, f + hl + seen, want);
        check_tcp_csum(out, v6, l3, n);
        seen += want;
        seg++;
    }
    assert_int_equal(seg, 4);
    assert_int_equal(seen, payload);
}

static void test_tso_v4_vlan(void **state)
{
    (void)state;
    run_tso(false, true);
}

static void test_tso_v6(void **state)
{
    (void)state;
    run_tso(true, false);
}

static void test_tso_hostile(void **state)
{
    (void)state;
    static uint8_t f[3000];
    uint32_t len = build_tcp(f, false, false, 2500);
    struct iovec iov = {f, len};
    struct net_pkt p = {.iov = &iov, .niov = 1, .len = len};
    p.hdr.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    p.hdr.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
    p.hdr.gso_size = 1000;
    p.hdr.csum_start = 34;
    p.hdr.csum_offset = 16;
    struct net_fix fx;
    enum net_drop why = NET_DROP__COUNT;

    /* TCPV6 metadata on an IPv4 frame. */
    p.hdr.gso_type = VIRTIO_NET_HDR_GSO_TCPV6;
    assert_int_equal(net_fix_begin(&fx, &p, 0, &why), -1);
    assert_int_equal(why, NET_DROP_BAD_GSO);
    p.hdr.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
    /* Not TCP. */
    f[14 + 9] = 17;
    assert_int_equal(net_fix_begin(&fx, &p, 0, &why), -1);
    f[14 + 9] = 6;
    /* IP header length field pointing past the frame. */
    f[14] = 0x4f;
    p.len = 60;
    iov.iov_len = 60;
    assert_int_equal(net_fix_begin(&fx, &p, 0, &why), -1);
    f[14] = 0x45;
    /* TCP data offset below 5 words. */
    p.len = len;
    iov.iov_len = len;
    f[34 + 12] = 2 << 4;
    assert_int_equal(net_fix_begin(&fx, &p, 0, &why), -1);
    f[34 + 12] = 5 << 4;
    /* gso_size 1 would make more than NET_MAX_SEGS segments. */
    p.hdr.gso_size = 1;
    assert_int_equal(net_fix_begin(&fx, &p, 0, &why), -1);
    /* Frame cut inside the TCP header. */
    p.hdr.gso_size = 1000;
    p.len = 40;
    iov.iov_len = 40;
    assert_int_equal(net_fix_begin(&fx, &p, 0, &why), -1);
    /* And a sane one still works. */
    p.len = len;
    iov.iov_len = len;
    assert_int_equal(net_fix_begin(&fx, &p, 0, &why), 0);
    unsigned n = 0;
    while (net_fix_next(&fx))
        n++;
    assert_int_equal(n, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csum_known),  cmocka_unit_test(test_hdr_check),
        cmocka_unit_test(test_csum_placed),
        cmocka_unit_test(test_csum_fix),    cmocka_unit_test(test_tso_v4_vlan),
        cmocka_unit_test(test_tso_v6),      cmocka_unit_test(test_tso_hostile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
