/* Packet filter stage (frame parsing itself: test_net_flow.c): first match
 * wins, the default decides otherwise; per-rule hit counters; the rule
 * parser refuses what it cannot honour; a net chain on a port drops what
 * the filter denies and counts it as filtered, and blk chains refuse the
 * stage. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "backend/net_port.h"
#include "interpose/ip_chain.h"
#include "interpose/ip_filter.h"
#include "interpose/ip_net.h"
#include "interpose/ip_stages.h"

#include "net_frames.h"

static struct ip_stage *make(const char *json)
{
    json_error_t je;
    json_t *o = json_loads(json, 0, &je);
    assert_non_null(o);
    char err[256] = "";
    struct ip_stage *s = ip_filter_from_json(o, "f", err, sizeof(err));
    json_decref(o);
    if (!s)
        print_error("%s\n", err);
    assert_non_null(s);
    return s;
}

static const char *refuse(const char *json)
{
    static char err[256];
    json_t *o = json_loads(json, 0, NULL);
    assert_non_null(o);
    err[0] = '\0';
    struct ip_stage *s = ip_filter_from_json(o, "f", err, sizeof(err));
    json_decref(o);
    assert_null(s);
    assert_true(err[0]);
    return err;
}

static uint64_t hits(struct ip_stage *s, int rule)
{
    json_t *st = s->ops->stats(s);
    json_t *v = rule < 0 ? json_object_get(st, "default_hits")
                         : json_object_get(json_array_get(json_object_get(st, "rules"),
                                                          (size_t)rule), "hits");
    uint64_t n = (uint64_t)json_integer_value(v);
    json_decref(st);
    return n;
}

static enum ip_verdict verdict(struct ip_stage *s, const struct net_pkt *p, bool in)
{
    return s->ops->frame(s, p, in, 0);
}


static void test_rules_first_match(void **st)
{
    (void)st;
    struct ip_stage *s = make(
        "{\"type\":\"filter\",\"default\":\"deny\",\"rules\":["
        "{\"action\":\"deny\",\"proto\":\"icmp\"},"
        "{\"action\":\"allow\",\"src\":\"10.0.0.0/8\",\"proto\":\"udp\",\"dport\":\"50-60\"},"
        "{\"action\":\"allow\",\"ethertype\":\"arp\"},"
        "{\"action\":\"allow\",\"dir\":\"in\",\"src_mac\":\"52:54:00:00:00:01\"}]}");
    assert_int_equal(ip_stage_devs(s), IP_DEV_NET);
    struct frame f;
    size_t off = eth(&f, 1, 0x0800);
    size_t end = ipv4(&f, off, 6, 1, 0, A, B, 0, 0);
    assert_int_equal(verdict(s, pkt(&f, end), false), IP_DROP); /* icmp, before the mac rule */
    end = ipv4(&f, off, 5, 17, 0, A, B, 999, 53);
    assert_int_equal(verdict(s, pkt(&f, end), false), IP_PASS);
    end = ipv4(&f, off, 5, 17, 0, B, A, 999, 53); /* 192.168/16 source: not rule 1 */
    assert_int_equal(verdict(s, pkt(&f, end), false), IP_DROP);
    assert_int_equal(verdict(s, pkt(&f, end), true), IP_PASS); /* rule 3: in only */
    end = ipv4(&f, off, 5, 17, 0, A, B, 999, 61);
    assert_int_equal(verdict(s, pkt(&f, end), false), IP_DROP);
    /* Truncated UDP: no ports, so the port rule cannot allow it. */
    end = ipv4(&f, off, 5, 17, 0, A, B, 999, 53);
    assert_int_equal(verdict(s, pkt(&f, off + 21), false), IP_DROP);
    eth(&f, 0, 0x0806);
    assert_int_equal(verdict(s, pkt(&f, 42), false), IP_PASS);
    assert_int_equal(hits(s, 0), 1);
    assert_int_equal(hits(s, 1), 1);
    assert_int_equal(hits(s, 2), 1);
    assert_int_equal(hits(s, 3), 1);
    assert_int_equal(hits(s, -1), 3);
    s->ops->destroy(s);

    /* IPv6 prefixes match IPv6 frames only. */
    s = make("{\"type\":\"filter\",\"rules\":[{\"action\":\"deny\",\"dst\":\"fd00::/8\"}]}");
    const uint8_t none[1] = {0};
    off = eth(&f, 0, 0x86dd);
    end = ipv6(&f, off, none, 0, 17);
    assert_int_equal(verdict(s, pkt(&f, end), true), IP_DROP);
    off = eth(&f, 0, 0x0800);
    end = ipv4(&f, off, 5, 17, 0, A, B, 1, 2);
    assert_int_equal(verdict(s, pkt(&f, end), true), IP_PASS);
    s->ops->destroy(s);
}

/* An allow-list for a UDP service: its fragmented datagrams get through
 * only with a rule for later fragments, which have no ports. */
static void test_fragments(void **st)
{
    (void)st;
    struct ip_stage *s = make(
        "{\"type\":\"filter\",\"default\":\"deny\",\"rules\":["
        "{\"action\":\"allow\",\"proto\":\"udp\",\"dport\":53},"
        "{\"action\":\"allow\",\"proto\":\"udp\",\"frag\":\"later\"},"
        "{\"action\":\"deny\",\"frag\":\"no\",\"dst\":\"192.168.0.0/16\"},"
        "{\"action\":\"allow\",\"frag\":\"first\"}]}");
    struct frame f;
    size_t off = eth(&f, 0, 0x0800);
    size_t end = ipv4(&f, off, 5, 17, 0x2000, B, A, 999, 53); /* first fragment */
    assert_int_equal(verdict(s, pkt(&f, end), true), IP_PASS);
    end = ipv4(&f, off, 5, 17, 0x00b9, B, A, 0, 0); /* the later one */
    assert_int_equal(verdict(s, pkt(&f, end), true), IP_PASS);
    assert_int_equal(hits(s, 1), 1);
    end = ipv4(&f, off, 5, 6, 0x00b9, B, A, 0, 0); /* a later TCP fragment */
    assert_int_equal(verdict(s, pkt(&f, end), true), IP_DROP);
    end = ipv4(&f, off, 5, 17, 0x4000, A, B, 999, 54); /* DF, no fragment */
    assert_int_equal(verdict(s, pkt(&f, end), true), IP_DROP);
    assert_int_equal(hits(s, 2), 1);
    end = ipv4(&f, off, 5, 6, 0x2000, A, B, 999, 80); /* first TCP fragment */
    assert_int_equal(verdict(s, pkt(&f, end), true), IP_PASS);
    assert_int_equal(hits(s, 3), 1);
    /* IPv6: a fragment header with an offset is a later fragment. */
    const uint8_t fh[] = {44};
    off = eth(&f, 0, 0x86dd);
    end = ipv6(&f, off, fh, 1, 17);
    wr16(f.b + off + 40 + 2, 8 << 3);
    assert_int_equal(verdict(s, pkt(&f, end), true), IP_PASS);
    assert_int_equal(hits(s, 1), 2);
    /* ARP is no IP packet: "frag": "no" does not match it. */
    eth(&f, 0, 0x0806);
    assert_int_equal(verdict(s, pkt(&f, 42), true), IP_DROP);
    assert_int_equal(hits(s, -1), 2);
    s->ops->destroy(s);
}

static void test_parser_refuses(void **st)
{
    (void)st;
    refuse("{\"rules\":[{\"proto\":\"icmp\"}]}");                         /* no action */
    refuse("{\"rules\":[{\"action\":\"drop\"}]}");
    refuse("{\"default\":\"maybe\"}");
    refuse("{\"rules\":[{\"action\":\"deny\",\"src\":\"10.0.0.0/33\"}]}");
    refuse("{\"rules\":[{\"action\":\"deny\",\"src\":\"10.0.0.0/8\",\"dst\":\"::1\"}]}");
    refuse("{\"rules\":[{\"action\":\"deny\",\"dport\":\"70000\"}]}");
    refuse("{\"rules\":[{\"action\":\"deny\",\"dport\":\"9-3\"}]}");
    refuse("{\"rules\":[{\"action\":\"deny\",\"proto\":256}]}");
    refuse("{\"rules\":[{\"action\":\"deny\",\"ethertype\":\"0x\"}]}");
    refuse("{\"rules\":[{\"action\":\"deny\",\"src_mac\":\"52:54:00\"}]}");
    refuse("{\"rules\":[{\"action\":\"deny\",\"colour\":\"red\"}]}");
    refuse("{\"rules\":[{\"action\":\"deny\",\"frag\":\"maybe\"}]}");
    refuse("{\"rules\":[{\"action\":\"deny\",\"frag\":true}]}");
    const char *e = refuse("{\"rules\":[{\"action\":\"deny\"}, {\"action\":\"x\"}]}");
    assert_non_null(strstr(e, "f.rules[1].action"));
    struct ip_stage *s = make("{\"rules\":[{\"action\":\"deny\",\"ethertype\":\"0x86DD\","
                              "\"dport\":\"0080\"}]}");
    s->ops->destroy(s);
}

/* A receiving port that counts what reaches it. */
static unsigned delivered;
static void count_deliver(struct net_port *p, struct net_pkt *const *pkts, unsigned n,
                          unsigned hint)
{
    (void)p, (void)pkts, (void)hint;
    delivered += n;
}
static const struct net_port_ops count_ops = {.type = "sink", .deliver = count_deliver};

static void test_chain_on_port(void **st)
{
    (void)st;
    struct net_port a, b;
    const uint8_t mac[6] = {2, 0, 0, 0, 0, 1};
    net_port_init(&a, &count_ops, "a", mac, 0, NULL);
    net_port_init(&b, &count_ops, "b", mac, 0, NULL);
    a.peer = &b;
    b.peer = &a;
    struct ip_net *c = ip_net_create();
    assert_non_null(c);
    struct ip_stage *s = make("{\"rules\":[{\"action\":\"deny\",\"proto\":\"icmp\"}]}");
    const char *why = "";
    assert_int_equal(ip_net_set(c, &s, 1, &why), 0);
    atomic_store(&b.hook, ip_net_hook(c));

    struct frame fr[40];
    struct net_pkt *ps[40];
    for (unsigned i = 0; i < 40; i++) {
        size_t off = eth(&fr[i], 0, 0x0800);
        size_t end = ipv4(&fr[i], off, 5, i % 2 ? 1 : 17, 0, A, B, 1, 2);
        ps[i] = (struct net_pkt *)pkt(&fr[i], end);
    }
    delivered = 0;
    net_port_send(&a, ps, 40, 0); /* more than one batch */
    assert_int_equal(delivered, 20);
    struct net_port_counters pc;
    net_port_counters(&b, &pc);
    assert_int_equal(pc.drops[NET_DROP_FILTERED], 20);
    /* b sending: its hook runs on the way out too. */
    delivered = 0;
    net_port_send(&b, ps, 40, 0);
    assert_int_equal(delivered, 20);

    /* Replace the list while the hook stays; then empty it. */
    s = make("{\"default\":\"deny\"}");
    assert_int_equal(ip_net_set(c, &s, 1, &why), 0);
    delivered = 0;
    net_port_send(&a, ps, 4, 0);
    assert_int_equal(delivered, 0);
    assert_int_equal(ip_net_set(c, NULL, 0, &why), 0);
    net_port_send(&a, ps, 4, 0);
    assert_int_equal(delivered, 4);
    json_t *stats = ip_net_stats(c);
    assert_int_equal(json_array_size(stats), 0);
    json_decref(stats);

    /* A blk stage on a net chain, and the filter on a blk chain: refused. */
    struct ip_stage *m = ip_meter_create();
    assert_int_equal(ip_net_set(c, &m, 1, &why), -EINVAL);
    m->ops->destroy(m);
    struct ip_chain *bc = ip_chain_create(blk_null_create(1 << 20, 512, &why));
    assert_non_null(bc);
    s = make("{}");
    assert_int_equal(ip_chain_set(bc, &s, 1, &why), -EINVAL);
    s->ops->destroy(s);
    ip_chain_backend(bc)->ops->destroy(ip_chain_backend(bc));
    atomic_store(&b.hook, NULL);
    ip_net_destroy(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rules_first_match),
        cmocka_unit_test(test_fragments), cmocka_unit_test(test_parser_refuses),
        cmocka_unit_test(test_chain_on_port),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
