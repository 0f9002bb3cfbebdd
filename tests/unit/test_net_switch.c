/* The L2 switch with recording ports: flooding of broadcast, multicast and
 * unknown unicast; learning; hairpin drops; a learned port that leaves;
 * the MAC table's aging and bounded size (driven with explicit clocks,
 * nothing waits); a source port that idles while no other port is ready. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "backend/net_mactable.h"
#include "backend/net_sink.h"
#include "backend/net_switch.h"
#include "core/sidecore.h"

struct rec {
    struct net_port port;
    _Atomic bool up; /* for rec_ready */
    _Atomic unsigned got;
    uint8_t last_src[6];
};

static void rec_deliver(struct net_port *p, struct net_pkt *const *pkts, unsigned n,
                        unsigned hint)
{
    struct rec *r = p->opaque;
    (void)hint;
    r->got += n;
    memcpy(r->last_src, pkts[n - 1]->eth + 6, 6);
    net_port_rx(p, n, 0);
}

static const struct net_port_ops rec_ops = {.type = "rec", .deliver = rec_deliver};

static bool rec_ready(struct net_port *p) { return ((struct rec *)p->opaque)->up; }
static const struct net_port_ops rec_ready_ops = {
    .type = "rec", .deliver = rec_deliver, .ready = rec_ready};

static void mk(struct rec *r, const char *name, uint8_t last)
{
    uint8_t mac[6] = {0x52, 0x54, 0, 0, 0, last};
    memset(r, 0, sizeof(*r));
    net_port_init(&r->port, &rec_ops, name, mac, NET_CAP_ALL, r);
}

/* One frame from port src to dst. */
static void send1(struct rec *src, const uint8_t dst[6])
{
    static uint8_t frame[60];
    struct iovec iov = {frame, sizeof(frame)};
    struct net_pkt p = {.iov = &iov, .niov = 1, .len = sizeof(frame)};
    memcpy(p.eth, dst, 6);
    memcpy(p.eth + 6, src->port.mac, 6);
    struct net_pkt *pp = &p;
    net_port_send(&src->port, &pp, 1, 0);
}

static void test_learn_and_flood(void **state)
{
    (void)state;
    const char *why = NULL;
    struct net_switch *sw = net_switch_create("sw", 64, 300, &why);
    assert_non_null(sw);
    struct rec a, b, c;
    mk(&a, "a", 1);
    mk(&b, "b", 2);
    mk(&c, "c", 3);
    assert_int_equal(net_switch_add_port(sw, &a.port, &why), 0);
    assert_int_equal(net_switch_add_port(sw, &b.port, &why), 0);
    assert_int_equal(net_switch_add_port(sw, &c.port, &why), 0);
    assert_int_equal(net_switch_add_port(sw, &a.port, &why), -EBUSY);

    const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    const uint8_t mcast[6] = {0x33, 0x33, 0, 0, 0, 1};
    send1(&a, bcast); /* flood, and b learns where a is */
    assert_int_equal(a.got, 0);
    assert_int_equal(b.got, 1);
    assert_int_equal(c.got, 1);
    send1(&b, mcast);
    assert_int_equal(a.got, 1);
    assert_int_equal(c.got, 2);
    /* a and b are learned now: unicast goes to one port only. */
    send1(&c, a.port.mac);
    assert_int_equal(a.got, 2);
    assert_int_equal(b.got, 1);
    send1(&a, b.port.mac);
    assert_int_equal(b.got, 2);
    assert_int_equal(c.got, 2);
    /* Unknown unicast floods. */
    const uint8_t nobody[6] = {0x52, 0x54, 0, 0, 0, 0x99};
    send1(&a, nobody);
    assert_int_equal(b.got, 3);
    assert_int_equal(c.got, 3);
    /* A frame whose destination sits behind its own port is dropped. */
    send1(&a, a.port.mac);
    assert_int_equal(a.got, 2);
    struct net_port_counters pc;
    net_port_counters(&a.port, &pc);
    assert_int_equal(pc.drops[NET_DROP_FILTERED], 1);
    struct net_switch_counters sc;
    net_switch_counters(sw, &sc);
    assert_int_equal(sc.macs, 3);
    assert_int_equal(sc.hairpin, 1);
    assert_int_equal(sc.ports, 3);

    /* b leaves: its address is forgotten, frames to it flood to who is left. */
    net_switch_remove_port(sw, &b.port);
    assert_null(b.port.sw);
    send1(&a, b.port.mac);
    assert_int_equal(c.got, 4);
    net_switch_counters(sw, &sc);
    assert_int_equal(sc.ports, 2);
    assert_int_equal(sc.macs, 2);
    /* A new port may take b's slot; the old address does not lead to it. */
    struct rec d;
    mk(&d, "d", 4);
    assert_int_equal(net_switch_add_port(sw, &d.port, &why), 0);
    assert_int_equal(d.port.sw_slot, 1);

    net_switch_remove_port(sw, &a.port);
    net_switch_remove_port(sw, &c.port);
    net_switch_remove_port(sw, &d.port);
    net_switch_destroy(sw);
}

static void test_port_without_link(void **state)
{
    (void)state;
    struct rec a;
    mk(&a, "a", 1);
    const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    send1(&a, bcast);
    struct net_port_counters pc;
    net_port_counters(&a.port, &pc);
    assert_int_equal(pc.tx_packets, 1);
    assert_int_equal(pc.drops[NET_DROP_NO_LINK], 1);
}

/* A source on a switch whose other ports are all down sends nothing (it
 * used to drop at full speed, holding its sidecore busy); it starts once
 * one comes up. */
static void test_source_idles_without_receivers(void **state)
{
    (void)state;
    const char *why = NULL;
    struct net_switch *sw = net_switch_create("sw", 64, 300, &why);
    assert_non_null(sw);
    struct rec down;
    mk(&down, "down", 1);
    down.port.ops = &rec_ready_ops;
    assert_int_equal(net_switch_add_port(sw, &down.port, &why), 0);
    assert_false(net_switch_any_ready(sw, NULL));
    struct net_sink_params sp = {.name = "gen", .source_size = 64};
    memset(sp.source_dst, 0xff, 6);
    sp.mac[0] = 0x02;
    struct net_sink *gen = net_sink_create(&sp, &why);
    assert_non_null(gen);
    assert_int_equal(net_switch_add_port(sw, net_sink_port(gen), &why), 0);
    assert_false(net_switch_any_ready(sw, net_sink_port(gen)));
    struct sc_params scp;
    sc_params_default(&scp);
    struct sc_set *scs = sc_set_create(&scp);
    assert_non_null(scs);
    assert_int_equal(net_sink_start(gen, scs), 0);
    struct timespec ms = {0, 1000000};
    for (int i = 0; i < 50; i++)
        nanosleep(&ms, NULL);
    struct net_port_counters pc;
    net_port_counters(net_sink_port(gen), &pc);
    assert_int_equal(pc.tx_packets, 0);
    net_port_counters(&down.port, &pc);
    assert_int_equal(pc.drops[NET_DROP_LINK_DOWN], 0);
    down.up = true; /* the sidecore may sleep: its timeout polls again */
    assert_true(net_switch_any_ready(sw, net_sink_port(gen)));
    for (int i = 0; i < 5000 && !down.got; i++)
        nanosleep(&ms, NULL);
    assert_true(down.got > 0);
    net_sink_stop(gen);
    net_switch_remove_port(sw, net_sink_port(gen));
    net_switch_remove_port(sw, &down.port);
    net_sink_destroy(gen);
    sc_set_destroy(scs);
    net_switch_destroy(sw);
}

static void test_mactable_aging_and_bounds(void **state)
{
    (void)state;
    struct net_mactable t;
    assert_int_equal(net_mt_init(&t, 16, 10), 0);
    uint8_t m[6] = {0x52, 0x54, 0, 0, 0, 1};
    net_mt_learn(&t, m, 3, 100);
    assert_int_equal(net_mt_lookup(&t, m, 105), 3);
    assert_int_equal(net_mt_lookup(&t, m, 110), 3);
    assert_int_equal(net_mt_lookup(&t, m, 111), -1); /* aged out */
    net_mt_learn(&t, m, 4, 111);                     /* moved port */
    assert_int_equal(net_mt_lookup(&t, m, 111), 4);
    /* A flood of source addresses: the table stays bounded, entries get
     * evicted, lookups stay correct for what is there. */
    for (unsigned i = 0; i < 1000; i++) {
        uint8_t x[6] = {0x02, 0, 0, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i};
        net_mt_learn(&t, x, (int)(i % 7), 200 + i / 100);
    }
    assert_true(net_mt_count(&t, 210) <= 16);
    uint8_t last[6] = {0x02, 0, 0, 0, 999 >> 8, 999 & 0xff};
    assert_int_equal(net_mt_lookup(&t, last, 209), 999 % 7);
    net_mt_forget_slot(&t, 999 % 7);
    assert_int_equal(net_mt_lookup(&t, last, 209), -1);
    net_mt_fini(&t);
}

static void test_switch_params(void **state)
{
    (void)state;
    const char *why = NULL;
    assert_null(net_switch_create("x", 8, 300, &why));
    assert_non_null(why);
    assert_null(net_switch_create("x", 4096, 0, &why));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_learn_and_flood),
        cmocka_unit_test(test_port_without_link),
        cmocka_unit_test(test_source_idles_without_receivers),
        cmocka_unit_test(test_mactable_aging_and_bounds),
        cmocka_unit_test(test_switch_params),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
