/* Frame parsing and the flow hash (see net_flow.h). */
#include "net_flow.h"

#include <string.h>

#include "../common/util.h"
#include "net_offload.h"

#define MAX_EXT 8

struct peek {
    const struct net_pkt *p;
    uint8_t buf[NET_FLOW_PEEK];
    size_t have;
};

/* True when bytes [0, upto) are available (read lazily: most frames need
 * only their first 128). */
static bool need(struct peek *k, size_t upto)
{
    if (upto > k->p->len || upto > NET_FLOW_PEEK)
        return false;
    if (upto > k->have) {
        size_t want = upto < 128 ? 128 : upto;
        if (want > k->p->len)
            want = k->p->len;
        if (want > NET_FLOW_PEEK)
            want = NET_FLOW_PEEK;
        k->have += net_iov_read(k->p->iov, k->p->niov, k->have, k->buf + k->have,
                                want - k->have);
    }
    return upto <= k->have;
}

static uint16_t be16(const uint8_t *b) { return (uint16_t)(b[0] << 8 | b[1]); }

static void l4_ports(struct peek *k, size_t off, struct net_flow *f)
{
    if ((f->proto == 6 || f->proto == 17 || f->proto == 132 || f->proto == 136) &&
        need(k, off + 4)) {
        f->has_ports = true;
        f->sport = be16(k->buf + off);
        f->dport = be16(k->buf + off + 2);
    }
}

static void parse_v4(struct peek *k, size_t off, struct net_flow *f)
{
    if (!need(k, off + 20))
        return;
    const uint8_t *h = k->buf + off;
    unsigned ihl = (h[0] & 15u) * 4u;
    if (h[0] >> 4 != 4 || ihl < 20)
        return;
    f->has_addrs = true;
    memcpy(f->saddr, h + 12, 4);
    memcpy(f->daddr, h + 16, 4);
    f->has_proto = true;
    f->proto = h[9];
    uint16_t frag = be16(h + 6);
    f->frag = (frag & 0x3fff) != 0; /* more fragments, or an offset */
    f->later = (frag & 0x1fff) != 0;
    if (!f->later) /* first (or only) fragment: L4 header here */
        l4_ports(k, off + ihl, f);
}

static void parse_v6(struct peek *k, size_t off, struct net_flow *f)
{
    if (!need(k, off + 40) || k->buf[off] >> 4 != 6)
        return;
    f->has_addrs = true;
    f->v6 = true;
    memcpy(f->saddr, k->buf + off + 8, 16);
    memcpy(f->daddr, k->buf + off + 24, 16);
    uint8_t nh = k->buf[off + 6];
    bool first = true;
    off += 40;
    for (unsigned i = 0; i <= MAX_EXT; i++) {
        size_t len;
        if (nh == 0 || nh == 43 || nh == 60) {
            if (!need(k, off + 2))
                return;
            len = ((size_t)k->buf[off + 1] + 1) * 8;
        } else if (nh == 44) {
            if (!need(k, off + 8))
                return;
            f->frag = true;
            first = (be16(k->buf + off + 2) >> 3) == 0;
            f->later = !first;
            len = 8;
        } else if (nh == 51) {
            if (!need(k, off + 2))
                return;
            len = ((size_t)k->buf[off + 1] + 2) * 4;
        } else {
            f->has_proto = true;
            f->proto = nh;
            if (first)
                l4_ports(k, off, f);
            return;
        }
        if (i == MAX_EXT)
            return; /* too many headers: the protocol stays unknown */
        nh = k->buf[off];
        off += len;
    }
}

void net_flow_parse(const struct net_pkt *p, struct net_flow *f)
{
    struct peek k = {.p = p};
    memset(f, 0, sizeof(*f));
    memcpy(f->dst, p->eth, 6);
    memcpy(f->src, p->eth + 6, 6);
    if (!need(&k, 14))
        return;
    size_t off = 12;
    uint16_t t = be16(k.buf + off);
    while ((t == 0x8100 || t == 0x88a8) && f->vlans < 2) {
        if (!need(&k, off + 6))
            return; /* a tag cut short: the EtherType is unknown */
        off += 4;
        f->vlans++;
        t = be16(k.buf + off);
    }
    if (t == 0x8100 || t == 0x88a8)
        return; /* a third tag: not followed */
    f->has_type = true;
    f->ethertype = t;
    off += 2;
    if (t == 0x0800)
        parse_v4(&k, off, f);
    else if (t == 0x86dd)
        parse_v6(&k, off, f);
}

static uint64_t mix(uint64_t h, uint64_t v)
{
    h = (h ^ v) * 0x9e3779b97f4a7c15ull;
    return h ^ (h >> 29);
}

static uint32_t word(const uint8_t *b)
{
    uint32_t w;
    memcpy(&w, b, sizeof(w));
    return w;
}

/* Any total order of addresses serves; this one needs no library call
 * (memcmp of a variable length is one, and costs 16% of a multiqueue rx
 * sidecore at 64 B). */
static int addr_order(const uint8_t *a, const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i += 4) {
        uint32_t wa = word(a + i), wb = word(b + i);
        if (wa != wb)
            return wa < wb ? -1 : 1;
    }
    return 0;
}

/* The two ends of a flow, the lower one hashed first so both directions
 * agree. */
static uint32_t hash_ends(bool v6, const uint8_t *a, const uint8_t *b, uint8_t proto,
                          uint16_t pa, uint16_t pb)
{
    size_t n = v6 ? 16 : 4;
    int c = addr_order(a, b, n);
    if (c > 0 || (c == 0 && pa > pb)) {
        const uint8_t *t = a;
        a = b;
        b = t;
        uint16_t tp = pa;
        pa = pb;
        pb = tp;
    }
    uint64_t h = v6 ? 6 : 4;
    for (size_t i = 0; i < n; i += 4)
        h = mix(h, (uint64_t)word(a + i) << 32 | word(b + i));
    h = mix(h, (uint64_t)proto << 32 | (uint32_t)pa << 16 | pb);
    return (uint32_t)(h ^ (h >> 32));
}

bool net_flow_hash(const struct net_flow *f, uint32_t *hash)
{
    if (!f->has_addrs)
        return false;
    bool ports = f->has_ports && !f->frag;
    *hash = hash_ends(f->v6, f->saddr, f->daddr, f->has_proto ? f->proto : 0,
                      ports ? f->sport : 0, ports ? f->dport : 0);
    return true;
}

#define FAST_V4 38u /* Ethernet, IPv4 without options, the ports */
#define FAST_V6 58u /* Ethernet, IPv6 without extension headers, the ports */

bool net_flow_hash_pkt(const struct net_pkt *p, uint32_t *hash)
{
    /* The bytes are copied once before they are looked at: the sender may
     * rewrite them meanwhile. */
    uint8_t b[FAST_V6];
    size_t have = p->niov ? SC_MIN(p->iov[0].iov_len, (size_t)p->len) : 0;
    if (have >= FAST_V4) {
        memcpy(b, p->iov[0].iov_base, FAST_V4);
        uint16_t t = be16(b + 12);
        if (t == 0x0800 && b[14] == 0x45 && (be16(b + 20) & 0x3fff) == 0 &&
            (b[23] == 6 || b[23] == 17)) {
            *hash = hash_ends(false, b + 26, b + 30, b[23], be16(b + 34), be16(b + 36));
            return true;
        }
        if (t == 0x86dd && have >= FAST_V6) {
            memcpy(b + FAST_V4, (const uint8_t *)p->iov[0].iov_base + FAST_V4, FAST_V6 - FAST_V4);
            if (b[14] >> 4 == 6 && (b[20] == 6 || b[20] == 17)) {
                *hash = hash_ends(true, b + 22, b + 38, b[20], be16(b + 54), be16(b + 56));
                return true;
            }
        }
    }
    struct net_flow f;
    net_flow_parse(p, &f);
    return net_flow_hash(&f, hash);
}
