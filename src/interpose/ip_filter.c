/* Packet filter stage (see ip_filter.h). Rules are immutable after
 * construction; hit counters are relaxed atomics shared by every sidecore
 * that moves frames through the port. */
#include "ip_filter.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../backend/net_flow.h"
#include "ip_stages.h"

enum { F_SMAC = 1, F_DMAC = 2, F_TYPE = 4, F_PROTO = 8, F_SRC = 16, F_DST = 32, F_SPORT = 64,
       F_DPORT = 128, F_FRAG = 256 };

/* "frag" as Open vSwitch's ip_frag: which IP packets, by fragmentation. */
enum frag_match { FRAG_NO, FRAG_YES, FRAG_FIRST, FRAG_LATER, FRAG_NOT_LATER };

struct prefix {
    bool v6;
    uint8_t addr[16];
    unsigned bits;
};

struct rule {
    unsigned fields;
    bool deny;
    int dir; /* 0: both, 1: in (to the port), 2: out */
    uint8_t smac[6], dmac[6];
    uint16_t ethertype;
    uint8_t proto;
    struct prefix src, dst;
    uint16_t sport[2], dport[2];
    enum frag_match frag;
    json_t *spec;
    _Atomic uint64_t hits;
};

struct filter {
    struct ip_stage base;
    bool deny_default;
    _Atomic uint64_t default_hits;
    unsigned n;
    struct rule r[];
};

/* ---- matching ---- */

static bool prefix_match(const struct prefix *pf, const uint8_t *a)
{
    unsigned full = pf->bits / 8, rest = pf->bits % 8;
    if (memcmp(pf->addr, a, full))
        return false;
    if (!rest)
        return true;
    uint8_t m = (uint8_t)(0xff << (8 - rest));
    return (pf->addr[full] & m) == (a[full] & m);
}

static bool frag_match(enum frag_match m, const struct net_flow *f)
{
    if (!f->has_addrs)
        return false; /* not IP (or cut before its addresses): no rule on fragments holds */
    switch (m) {
    case FRAG_NO:
        return !f->frag;
    case FRAG_YES:
        return f->frag;
    case FRAG_FIRST:
        return f->frag && !f->later;
    case FRAG_LATER:
        return f->later;
    case FRAG_NOT_LATER:
        return !f->later;
    }
    return false;
}

static bool match(const struct rule *r, const struct net_flow *f, bool to_port)
{
    unsigned x = r->fields;
    if ((r->dir == 1 && !to_port) || (r->dir == 2 && to_port))
        return false;
    if ((x & F_SMAC) && memcmp(r->smac, f->src, 6))
        return false;
    if ((x & F_DMAC) && memcmp(r->dmac, f->dst, 6))
        return false;
    if ((x & F_TYPE) && (!f->has_type || f->ethertype != r->ethertype))
        return false;
    if ((x & F_PROTO) && (!f->has_proto || f->proto != r->proto))
        return false;
    if ((x & (F_SRC | F_DST)) && !f->has_addrs)
        return false;
    if ((x & F_SRC) && (r->src.v6 != f->v6 || !prefix_match(&r->src, f->saddr)))
        return false;
    if ((x & F_DST) && (r->dst.v6 != f->v6 || !prefix_match(&r->dst, f->daddr)))
        return false;
    if ((x & F_FRAG) && !frag_match(r->frag, f))
        return false;
    if ((x & (F_SPORT | F_DPORT)) && !f->has_ports)
        return false;
    if ((x & F_SPORT) && (f->sport < r->sport[0] || f->sport > r->sport[1]))
        return false;
    if ((x & F_DPORT) && (f->dport < r->dport[0] || f->dport > r->dport[1]))
        return false;
    return true;
}

static enum ip_verdict filter_frame(struct ip_stage *s, const struct net_pkt *p, bool to_port,
                                    uint64_t now)
{
    struct filter *fl = (struct filter *)s;
    struct net_flow f;
    (void)now;
    net_flow_parse(p, &f);
    for (unsigned i = 0; i < fl->n; i++) {
        if (match(&fl->r[i], &f, to_port)) {
            atomic_fetch_add_explicit(&fl->r[i].hits, 1, memory_order_relaxed);
            return fl->r[i].deny ? IP_DROP : IP_PASS;
        }
    }
    atomic_fetch_add_explicit(&fl->default_hits, 1, memory_order_relaxed);
    return fl->deny_default ? IP_DROP : IP_PASS;
}

static json_t *filter_stats(struct ip_stage *s)
{
    struct filter *fl = (struct filter *)s;
    json_t *arr = json_array();
    for (unsigned i = 0; arr && i < fl->n; i++) {
        json_t *o = json_deep_copy(fl->r[i].spec);
        if (!o)
            continue;
        json_object_set_new(o, "hits", json_integer((json_int_t)atomic_load(&fl->r[i].hits)));
        json_array_append_new(arr, o);
    }
    return json_pack("{s:s,s:I,s:o}", "default", fl->deny_default ? "deny" : "allow",
                     "default_hits", (json_int_t)atomic_load(&fl->default_hits), "rules",
                     arr ? arr : json_array());
}

static void filter_destroy(struct ip_stage *s)
{
    struct filter *fl = (struct filter *)s;
    for (unsigned i = 0; i < fl->n; i++)
        json_decref(fl->r[i].spec);
    free(fl);
}

static const struct ip_stage_ops filter_ops = {
    .kind = "filter",
    .devs = IP_DEV_NET,
    .frame = filter_frame,
    .stats = filter_stats,
    .destroy = filter_destroy,
};

/* ---- JSON ---- */

static int parse_action(const json_t *v, bool *deny)
{
    const char *s = json_string_value(v);
    if (s && strcmp(s, "allow") == 0)
        *deny = false;
    else if (s && strcmp(s, "deny") == 0)
        *deny = true;
    else
        return -EINVAL;
    return 0;
}

static int parse_uint(const json_t *v, unsigned long max, unsigned long *out)
{
    if (json_is_integer(v)) {
        if (json_integer_value(v) < 0 || (unsigned long)json_integer_value(v) > max)
            return -EINVAL;
        *out = (unsigned long)json_integer_value(v);
        return 0;
    }
    const char *s = json_string_value(v);
    if (!s || !isdigit((unsigned char)*s))
        return -EINVAL;
    char *end;
    errno = 0;
    int hex = s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
    unsigned long x = strtoul(s + 2 * hex, &end, hex ? 16 : 10);
    if (errno || *end || end == s + 2 * hex || x > max)
        return -EINVAL;
    *out = x;
    return 0;
}

static int parse_named(const json_t *v, const char *const *names, const unsigned *vals,
                       unsigned n, unsigned long max, unsigned long *out)
{
    const char *s = json_string_value(v);
    for (unsigned i = 0; s && i < n; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = vals[i];
            return 0;
        }
    return parse_uint(v, max, out);
}

static int parse_prefix(const json_t *v, struct prefix *pf)
{
    const char *s = json_string_value(v);
    if (!s || strlen(s) > 63)
        return -EINVAL;
    char a[64];
    snprintf(a, sizeof(a), "%s", s);
    char *slash = strchr(a, '/');
    if (slash)
        *slash = '\0';
    memset(pf, 0, sizeof(*pf));
    if (inet_pton(AF_INET, a, pf->addr) == 1) {
        pf->bits = 32;
    } else if (inet_pton(AF_INET6, a, pf->addr) == 1) {
        pf->v6 = true;
        pf->bits = 128;
    } else {
        return -EINVAL;
    }
    if (slash) {
        char *end;
        errno = 0;
        unsigned long b = strtoul(slash + 1, &end, 10);
        if (!isdigit((unsigned char)slash[1]) || errno || *end || b > pf->bits)
            return -EINVAL;
        pf->bits = (unsigned)b;
    }
    return 0;
}

static int parse_ports(const json_t *v, uint16_t r[2])
{
    unsigned long lo, hi;
    const char *s = json_string_value(v);
    const char *dash = s ? strchr(s, '-') : NULL;
    if (dash) {
        char a[16], b[16];
        if ((size_t)(dash - s) >= sizeof(a) || strlen(dash + 1) >= sizeof(b))
            return -EINVAL;
        memcpy(a, s, (size_t)(dash - s));
        a[dash - s] = '\0';
        snprintf(b, sizeof(b), "%s", dash + 1);
        json_t *ja = json_string(a), *jb = json_string(b);
        int rc = parse_uint(ja, 65535, &lo) | parse_uint(jb, 65535, &hi);
        json_decref(ja);
        json_decref(jb);
        if (rc || lo > hi)
            return -EINVAL;
    } else {
        if (parse_uint(v, 65535, &lo) < 0)
            return -EINVAL;
        hi = lo;
    }
    r[0] = (uint16_t)lo;
    r[1] = (uint16_t)hi;
    return 0;
}

static int parse_rule(const json_t *o, const char *ctx, struct rule *r, char *err, size_t len)
{
    static const char *const tnames[] = {"ipv4", "ipv6", "arp", "vlan"};
    static const unsigned tvals[] = {0x0800, 0x86dd, 0x0806, 0x8100};
    static const char *const pnames[] = {"icmp", "tcp", "udp", "icmpv6", "sctp"};
    static const unsigned pvals[] = {1, 6, 17, 58, 132};
    if (!json_is_object(o)) {
        snprintf(err, len, "%s: expected a rule object like {\"action\": \"deny\", \"proto\": "
                 "\"icmp\"}", ctx);
        return -EINVAL;
    }
    bool has_action = false;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)o, key, v) {
        unsigned long x;
        if (strcmp(key, "action") == 0) {
            if (parse_action(v, &r->deny) < 0)
                return ip_json_expect(err, len, ctx, key, "\"allow\" or \"deny\"", v);
            has_action = true;
        } else if (strcmp(key, "dir") == 0) {
            const char *s = json_string_value(v);
            if (!s || (strcmp(s, "in") && strcmp(s, "out")))
                return ip_json_expect(err, len, ctx, key, "\"in\" or \"out\"", v);
            r->dir = s[0] == 'i' ? 1 : 2;
        } else if (strcmp(key, "src_mac") == 0 || strcmp(key, "dst_mac") == 0) {
            bool src = key[0] == 's';
            if (net_mac_parse(json_string_value(v), src ? r->smac : r->dmac) < 0)
                return ip_json_expect(err, len, ctx, key, "a MAC address like "
                                      "52:54:00:12:34:56", v);
            r->fields |= src ? F_SMAC : F_DMAC;
        } else if (strcmp(key, "ethertype") == 0) {
            if (parse_named(v, tnames, tvals, 4, 0xffff, &x) < 0)
                return ip_json_expect(err, len, ctx, key, "an EtherType (number, \"0x86dd\", "
                                      "\"ipv4\", \"ipv6\", \"arp\")", v);
            r->ethertype = (uint16_t)x;
            r->fields |= F_TYPE;
        } else if (strcmp(key, "proto") == 0) {
            if (parse_named(v, pnames, pvals, 5, 255, &x) < 0)
                return ip_json_expect(err, len, ctx, key, "an IP protocol (0..255, \"icmp\", "
                                      "\"tcp\", \"udp\", \"icmpv6\", \"sctp\")", v);
            r->proto = (uint8_t)x;
            r->fields |= F_PROTO;
        } else if (strcmp(key, "src") == 0 || strcmp(key, "dst") == 0) {
            bool src = key[0] == 's';
            if (parse_prefix(v, src ? &r->src : &r->dst) < 0)
                return ip_json_expect(err, len, ctx, key, "an IPv4 or IPv6 address with an "
                                      "optional /prefix", v);
            r->fields |= src ? F_SRC : F_DST;
        } else if (strcmp(key, "sport") == 0 || strcmp(key, "dport") == 0) {
            bool src = key[0] == 's';
            if (parse_ports(v, src ? r->sport : r->dport) < 0)
                return ip_json_expect(err, len, ctx, key, "a port or a range \"LO-HI\"", v);
            r->fields |= src ? F_SPORT : F_DPORT;
        } else if (strcmp(key, "frag") == 0) {
            static const char *const fnames[] = {"no", "yes", "first", "later", "not_later"};
            const char *s = json_string_value(v);
            unsigned k = 0;
            while (s && k < 5 && strcmp(s, fnames[k]))
                k++;
            if (!s || k == 5)
                return ip_json_expect(err, len, ctx, key, "\"no\", \"yes\", \"first\", "
                                      "\"later\" or \"not_later\"", v);
            r->frag = (enum frag_match)k;
            r->fields |= F_FRAG;
        } else {
            snprintf(err, len, "%s.%s: unknown key (expected action, dir, src_mac, dst_mac, "
                     "ethertype, proto, src, dst, sport, dport, frag)", ctx, key);
            return -EINVAL;
        }
    }
    if (!has_action)
        return ip_json_expect(err, len, ctx, "action", "\"allow\" or \"deny\"", NULL);
    if ((r->fields & F_SRC) && (r->fields & F_DST) && r->src.v6 != r->dst.v6) {
        snprintf(err, len, "%s: src and dst are of different IP versions", ctx);
        return -EINVAL;
    }
    r->spec = json_deep_copy(o);
    return r->spec ? 0 : -ENOMEM;
}

struct ip_stage *ip_filter_from_json(const json_t *o, const char *ctx, char *err, size_t len)
{
    const json_t *rules = json_object_get(o, "rules");
    const json_t *def = json_object_get(o, "default");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)o, key, v) {
        if (strcmp(key, "type") && strcmp(key, "rules") && strcmp(key, "default")) {
            snprintf(err, len, "%s.%s: unknown key (expected default, rules)", ctx, key);
            return NULL;
        }
    }
    if (rules && (!json_is_array(rules) || json_array_size(rules) > IP_FILTER_MAX_RULES)) {
        ip_json_expect(err, len, ctx, "rules", "an array of at most 256 rule objects", rules);
        return NULL;
    }
    bool deny = false;
    if (def && parse_action(def, &deny) < 0) {
        ip_json_expect(err, len, ctx, "default", "\"allow\" or \"deny\"", def);
        return NULL;
    }
    size_t n = rules ? json_array_size(rules) : 0;
    struct filter *fl = calloc(1, sizeof(*fl) + n * sizeof(fl->r[0]));
    if (!fl) {
        snprintf(err, len, "%s: out of memory", ctx);
        return NULL;
    }
    fl->base.ops = &filter_ops;
    fl->deny_default = deny;
    for (size_t i = 0; i < n; i++) {
        char rctx[64];
        snprintf(rctx, sizeof(rctx), "%s.rules[%zu]", ctx, i);
        int rc = parse_rule(json_array_get(rules, i), rctx, &fl->r[i], err, len);
        fl->n = (unsigned)i + (fl->r[i].spec ? 1 : 0);
        if (rc < 0) {
            if (rc == -ENOMEM)
                snprintf(err, len, "%s: out of memory", rctx);
            filter_destroy(&fl->base);
            return NULL;
        }
    }
    return &fl->base;
}
