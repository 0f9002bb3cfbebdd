/* Frame parsing and the flow hash against hostile frames: truncated
 * headers, IPv4 options and fragments, IPv6 extension headers, VLAN tags
 * (one, two, three); the hash is the same both ways, keeps a datagram's
 * fragments together and spreads flows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "backend/net_flow.h"

#include "net_frames.h"

static void test_parse_vlan_ipv4_options(void **st)
{
    (void)st;
    struct frame f;
    struct net_flow x;
    size_t off = eth(&f, 2, 0x0800);
    size_t end = ipv4(&f, off, 8, 17, 0, A, B, 5000, 53);
    net_flow_parse(pkt(&f, end), &x);
    assert_int_equal(x.vlans, 2);
    assert_true(x.has_type && x.ethertype == 0x0800);
    assert_true(x.has_addrs && !x.v6 && memcmp(x.saddr, A, 4) == 0 && memcmp(x.daddr, B, 4) == 0);
    assert_true(x.has_proto && x.proto == 17);
    assert_true(x.has_ports && x.sport == 5000 && x.dport == 53);

    /* Options running past the frame: addresses known, ports not. */
    net_flow_parse(pkt(&f, off + 24), &x);
    assert_true(x.has_addrs && x.has_proto && !x.has_ports);
    /* IPv4 header cut short: nothing above the EtherType. */
    net_flow_parse(pkt(&f, off + 19), &x);
    assert_true(x.has_type && !x.has_addrs && !x.has_proto);
    /* A bad IHL (< 5 words). */
    ipv4(&f, off, 3, 17, 0, A, B, 1, 2);
    net_flow_parse(pkt(&f, end), &x);
    assert_false(x.has_addrs);
    /* A non-first fragment carries no ports. */
    off = eth(&f, 0, 0x0800);
    end = ipv4(&f, off, 5, 6, 0x0010, A, B, 80, 80);
    net_flow_parse(pkt(&f, end), &x);
    assert_true(x.has_proto && x.proto == 6 && !x.has_ports);
    /* A tag cut short, and three tags: the EtherType stays unknown. */
    eth(&f, 1, 0x0800);
    net_flow_parse(pkt(&f, 15), &x);
    assert_false(x.has_type);
    off = eth(&f, 3, 0x0800);
    ipv4(&f, off, 5, 1, 0, A, B, 0, 0);
    net_flow_parse(pkt(&f, off + 28), &x);
    assert_false(x.has_type);
    assert_false(x.has_proto);
}

static void test_parse_ipv6_ext(void **st)
{
    (void)st;
    struct frame f;
    struct net_flow x;
    const uint8_t ext[] = {0, 60, 43, 51};
    size_t off = eth(&f, 1, 0x86dd);
    size_t end = ipv6(&f, off, ext, 4, 6);
    net_flow_parse(pkt(&f, end), &x);
    assert_true(x.v6 && x.has_addrs && x.saddr[0] == 0xfd && x.daddr[15] == 2);
    assert_true(x.has_proto && x.proto == 6);
    assert_true(x.has_ports && x.sport == 1234 && x.dport == 443);
    /* Cut inside the extension headers: the protocol stays unknown. */
    net_flow_parse(pkt(&f, off + 40 + 12), &x);
    assert_true(x.has_addrs && !x.has_proto);
    /* A fragment header with a non-zero offset: protocol, no ports. */
    const uint8_t frag[] = {44};
    end = ipv6(&f, off, frag, 1, 17);
    wr16(f.b + off + 40 + 2, 8 << 3);
    net_flow_parse(pkt(&f, end), &x);
    assert_true(x.has_proto && x.proto == 17 && !x.has_ports);
    /* Nine extension headers: too many to follow. */
    const uint8_t many[9] = {60, 60, 60, 60, 60, 60, 60, 60, 60};
    end = ipv6(&f, off, many, 9, 6);
    net_flow_parse(pkt(&f, end), &x);
    assert_true(x.has_addrs && !x.has_proto);
}

static void test_parse_fragment_flag(void **st)
{
    (void)st;
    struct frame f;
    struct net_flow x;
    size_t off = eth(&f, 0, 0x0800);
    size_t end = ipv4(&f, off, 5, 17, 0x4000, A, B, 7, 9); /* DF only */
    net_flow_parse(pkt(&f, end), &x);
    assert_false(x.frag);
    assert_true(x.has_ports);
    ipv4(&f, off, 5, 17, 0x2000, A, B, 7, 9); /* first of several: ports here */
    net_flow_parse(pkt(&f, end), &x);
    assert_true(x.frag && x.has_ports);
    ipv4(&f, off, 5, 17, 0x0003, A, B, 7, 9); /* the last one */
    net_flow_parse(pkt(&f, end), &x);
    assert_true(x.frag && !x.has_ports);
    const uint8_t fh[] = {44};
    off = eth(&f, 0, 0x86dd);
    end = ipv6(&f, off, fh, 1, 17); /* offset 0: the first fragment */
    net_flow_parse(pkt(&f, end), &x);
    assert_true(x.frag && x.has_ports);
}

static uint32_t hash_of(struct frame *f, size_t end)
{
    struct net_flow x;
    uint32_t h = 0;
    net_flow_parse(pkt(f, end), &x);
    assert_true(net_flow_hash(&x, &h));
    return h;
}

static void test_hash_both_ways(void **st)
{
    (void)st;
    struct frame f;
    size_t off = eth(&f, 1, 0x0800);
    uint32_t ab = hash_of(&f, ipv4(&f, off, 5, 6, 0, A, B, 40000, 80));
    assert_int_equal(hash_of(&f, ipv4(&f, off, 5, 6, 0, B, A, 80, 40000)), ab);
    /* Another port, protocol or address is another flow. */
    assert_int_not_equal(hash_of(&f, ipv4(&f, off, 5, 6, 0, A, B, 40001, 80)), ab);
    assert_int_not_equal(hash_of(&f, ipv4(&f, off, 5, 17, 0, A, B, 40000, 80)), ab);
    assert_int_not_equal(hash_of(&f, ipv4(&f, off, 5, 6, 0, A, A, 40000, 80)), ab);
    /* Same addresses, ports swapped on one side only. */
    assert_int_not_equal(hash_of(&f, ipv4(&f, off, 5, 6, 0, A, B, 80, 40000)), ab);
    assert_int_equal(hash_of(&f, ipv4(&f, off, 5, 6, 0, B, A, 40000, 80)),
                     hash_of(&f, ipv4(&f, off, 5, 6, 0, A, B, 80, 40000)));
    /* Between one address and itself, the ports alone order the ends. */
    assert_int_equal(hash_of(&f, ipv4(&f, off, 5, 17, 0, A, A, 1, 2)),
                     hash_of(&f, ipv4(&f, off, 5, 17, 0, A, A, 2, 1)));

    off = eth(&f, 0, 0x86dd);
    size_t end = ipv6(&f, off, NULL, 0, 6);
    uint32_t v6 = hash_of(&f, end);
    uint8_t *h = f.b + off;
    uint8_t t[16];
    memcpy(t, h + 8, 16);
    memmove(h + 8, h + 24, 16);
    memcpy(h + 24, t, 16);
    wr16(f.b + off + 40, 443);
    wr16(f.b + off + 42, 1234);
    assert_int_equal(hash_of(&f, end), v6);
}

static void test_hash_fragments_together(void **st)
{
    (void)st;
    struct frame f;
    size_t off = eth(&f, 0, 0x0800);
    uint32_t first = hash_of(&f, ipv4(&f, off, 5, 17, 0x2000, A, B, 5000, 53));
    assert_int_equal(hash_of(&f, ipv4(&f, off, 5, 17, 0x00b9, A, B, 0x1234, 0x5678)), first);
    assert_int_equal(hash_of(&f, ipv4(&f, off, 5, 17, 0x00b9, B, A, 0, 0)), first);
    assert_int_not_equal(hash_of(&f, ipv4(&f, off, 5, 17, 0, A, B, 5000, 53)), first);
}

static void test_hash_needs_addresses(void **st)
{
    (void)st;
    struct frame f;
    struct net_flow x;
    uint32_t h = 7;
    size_t off = eth(&f, 0, 0x0806); /* ARP */
    net_flow_parse(pkt(&f, off + 28), &x);
    assert_false(net_flow_hash(&x, &h));
    off = eth(&f, 0, 0x0800);
    ipv4(&f, off, 5, 6, 0, A, B, 1, 2);
    net_flow_parse(pkt(&f, off + 19), &x); /* IPv4 header cut short */
    assert_false(net_flow_hash(&x, &h));
    assert_int_equal(h, 7);
}

/* net_flow_hash_pkt: the short way (the headers in one iovec) and the full
 * parse (pkt splits them) agree, also on frames the short way passes on. */
static void test_hash_pkt_agrees(void **st)
{
    (void)st;
    struct frame f;
    const uint8_t ext[] = {60};
    for (int k = 0; k < 7; k++) {
        size_t off = eth(&f, k == 6 ? 1 : 0, k < 4 || k == 6 ? 0x0800 : 0x86dd), end;
        if (k == 0)
            end = ipv4(&f, off, 5, 6, 0, A, B, 40000, 80);
        else if (k == 1)
            end = ipv4(&f, off, 5, 17, 0x4000, B, A, 53, 5353);
        else if (k == 2)
            end = ipv4(&f, off, 6, 6, 0, A, B, 1, 2); /* options */
        else if (k == 3)
            end = ipv4(&f, off, 5, 17, 0x2000, A, B, 1, 2); /* a first fragment */
        else if (k == 4)
            end = ipv6(&f, off, NULL, 0, 6);
        else if (k == 5)
            end = ipv6(&f, off, ext, 1, 17);
        else
            end = ipv4(&f, off, 5, 6, 0, A, B, 40000, 80); /* tagged */
        uint32_t slow = 0, fast = 1;
        assert_true(net_flow_hash_pkt(pkt(&f, end), &slow));
        assert_true(net_flow_hash_pkt(pkt_whole(&f, end), &fast));
        assert_int_equal(slow, fast);
        assert_int_equal(hash_of(&f, end), slow);
    }
    /* A frame shorter than its first iovec claims: read as far as its length. */
    size_t off = eth(&f, 0, 0x0800);
    ipv4(&f, off, 5, 6, 0, A, B, 1, 2);
    const struct net_pkt *p = pkt_whole(&f, 200);
    ((struct net_pkt *)p)->len = 30;
    uint32_t h;
    assert_false(net_flow_hash_pkt(p, &h));
}

static void test_hash_spreads(void **st)
{
    (void)st;
    struct frame f;
    size_t off = eth(&f, 0, 0x0800);
    unsigned odd = 0, n = 256;
    for (unsigned i = 0; i < n; i++)
        odd += hash_of(&f, ipv4(&f, off, 5, 6, 0, A, B, (uint16_t)(32768 + i), 80)) & 1;
    assert_in_range(odd, n / 4, 3 * n / 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_vlan_ipv4_options),
        cmocka_unit_test(test_parse_ipv6_ext),
        cmocka_unit_test(test_parse_fragment_flag),
        cmocka_unit_test(test_hash_both_ways),
        cmocka_unit_test(test_hash_fragments_together),
        cmocka_unit_test(test_hash_needs_addresses),
        cmocka_unit_test(test_hash_pkt_agrees),
        cmocka_unit_test(test_hash_spreads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
