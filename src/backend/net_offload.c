/* Offload checks, checksums and TCP segmentation (see net_offload.h). */
#include "net_offload.h"

#include <string.h>

#include "../common/util.h"

#define ETH_P_IPV4 0x0800
#define ETH_P_IPV6 0x86dd
#define ETH_P_VLAN 0x8100
#define IPPROTO_TCP_ 6
#define IPPROTO_UDP_ 17
#define TCP_FIN 0x01
#define TCP_PSH 0x08
#define TCP_CWR 0x80

static unsigned gso_cap(uint8_t gso_type)
{
    switch (gso_type) {
    case VIRTIO_NET_HDR_GSO_TCPV4: return NET_CAP_TSO4;
    case VIRTIO_NET_HDR_GSO_TCPV6: return NET_CAP_TSO6;
    default: return 0;
    }
}

enum net_drop net_hdr_check(struct virtio_net_hdr_v1 *h, uint32_t len, unsigned allowed)
{
    if (len < NET_MIN_FRAME || len > NET_MAX_FRAME)
        return NET_DROP_BAD_LENGTH;
    h->flags &= VIRTIO_NET_HDR_F_NEEDS_CSUM;
    if (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
        if (!(allowed & NET_CAP_CSUM))
            return NET_DROP_BAD_HEADER;
        /* u16 + u16 + 2 cannot overflow a u32. */
        if ((uint32_t)h->csum_start + h->csum_offset + 2 > len)
            return NET_DROP_BAD_HEADER;
    }
    if (h->gso_type == VIRTIO_NET_HDR_GSO_NONE)
        return NET_DROP__COUNT;
    unsigned need = gso_cap(h->gso_type);
    if (!need || !(allowed & need) || h->gso_size == 0 ||
        !(h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM))
        return NET_DROP_BAD_HEADER;
    return NET_DROP__COUNT;
}

static uint16_t rd16be(const uint8_t *p);

bool net_csum_placed(const struct net_pkt *p)
{
    if (!(p->hdr.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM))
        return true;
    uint8_t h[18 + 40 + 64];
    size_t have = net_iov_read(p->iov, p->niov, 0, h, SC_MIN(p->len, sizeof(h)));
    if (have < 14)
        return false;
    unsigned l3 = 14, type = rd16be(h + 12), l4, proto;
    if (type == ETH_P_VLAN) {
        if (have < 18)
            return false;
        l3 = 18;
        type = rd16be(h + 16);
    }
    if (type == ETH_P_IPV4) {
        if (have < l3 + 20 || h[l3] >> 4 != 4 || (h[l3] & 15) < 5)
            return false;
        l4 = l3 + (h[l3] & 15) * 4u;
        proto = h[l3 + 9];
    } else if (type == ETH_P_IPV6) {
        if (have < l3 + 40 || h[l3] >> 4 != 6)
            return false;
        l4 = l3 + 40;
        proto = h[l3 + 6];
        /* Hop-by-hop, routing and destination options may come first. */
        while ((proto == 0 || proto == 43 || proto == 60) && have >= l4 + 8) {
            proto = h[l4];
            l4 += (h[l4 + 1] + 1u) * 8;
        }
    } else {
        return false;
    }
    unsigned field = proto == IPPROTO_TCP_ ? 16 : proto == IPPROTO_UDP_ ? 6 : 0;
    /* TSO metadata must name this packet: TCP, in the IP version of its
     * gso_type (a tap's kernel refuses anything else, and a receiver that
     * takes the packet whole would be handed a lie). */
    if (p->hdr.gso_type != VIRTIO_NET_HDR_GSO_NONE &&
        (proto != IPPROTO_TCP_ ||
         p->hdr.gso_type != (type == ETH_P_IPV4 ? VIRTIO_NET_HDR_GSO_TCPV4
                                                : VIRTIO_NET_HDR_GSO_TCPV6)))
        return false;
    return field && p->hdr.csum_start == l4 && p->hdr.csum_offset == field;
}

size_t net_iov_read(const struct iovec *iov, unsigned n, size_t off, void *dst, size_t len)
{
    size_t done = 0;
    for (unsigned i = 0; i < n && done < len; i++) {
        size_t l = iov[i].iov_len;
        if (off >= l) {
            off -= l;
            continue;
        }
        size_t k = SC_MIN(l - off, len - done);
        /* memmove: dst may be a receiving guest's buffer that overlaps the
         * sender's frame (one guest's two NICs on a switch share memory, and
         * its driver chooses the addresses). glibc's x86-64 memcpy is the
         * same code, so the guard costs nothing. */
        memmove((uint8_t *)dst + done, (const uint8_t *)iov[i].iov_base + off, k);
        done += k;
        off = 0;
    }
    return done;
}

int net_iov_slice(const struct iovec *iov, unsigned n, size_t off, size_t len, struct iovec *out,
                  unsigned max)
{
    unsigned m = 0;
    for (unsigned i = 0; i < n && len > 0; i++) {
        size_t l = iov[i].iov_len;
        if (off >= l) {
            off -= l;
            continue;
        }
        if (m == max)
            return -1;
        size_t k = SC_MIN(l - off, len);
        out[m].iov_base = (uint8_t *)iov[i].iov_base + off;
        out[m].iov_len = k;
        m++;
        len -= k;
        off = 0;
    }
    return (int)m;
}

void net_csum_feed(struct net_csum *c, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    uint64_t s = c->sum;
    if (c->odd && len) {
        s += *p++;
        len--;
        c->odd = false;
    }
    for (; len >= 2; p += 2, len -= 2)
        s += (uint32_t)p[0] << 8 | p[1];
    if (len) {
        s += (uint32_t)p[0] << 8;
        c->odd = true;
    }
    c->sum = s;
}

void net_csum_feed_iov(struct net_csum *c, const struct iovec *iov, unsigned n, size_t off,
                       size_t len)
{
    for (unsigned i = 0; i < n && len > 0; i++) {
        size_t l = iov[i].iov_len;
        if (off >= l) {
            off -= l;
            continue;
        }
        size_t k = SC_MIN(l - off, len);
        net_csum_feed(c, (const uint8_t *)iov[i].iov_base + off, k);
        len -= k;
        off = 0;
    }
}

uint16_t net_csum_final(const struct net_csum *c)
{
    uint64_t s = c->sum;
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    uint16_t v = (uint16_t)~s;
    return v ? v : 0xffff;
}

static uint16_t rd16be(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static void wr16be(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static uint32_t rd32be(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static void wr32be(uint8_t *p, uint32_t v)
{
    wr16be(p, (uint16_t)(v >> 16));
    wr16be(p + 2, (uint16_t)v);
}

/* NEEDS_CSUM completed in software: the frame with the two checksum bytes
 * replaced by our result. */
static int fix_csum_begin(struct net_fix *f)
{
    const struct net_pkt *p = f->in;
    uint32_t start = p->hdr.csum_start, at = start + p->hdr.csum_offset;
    if (at + 2 > p->len)
        return -1;
    struct net_csum c = {0};
    net_csum_feed_iov(&c, p->iov, p->niov, start, p->len - start);
    wr16be(f->csum, net_csum_final(&c));
    int a = net_iov_slice(p->iov, p->niov, 0, at, f->iov, NET_MAX_IOV);
    if (a < 0)
        return -1;
    f->iov[a].iov_base = f->csum;
    f->iov[a].iov_len = 2;
    int b = net_iov_slice(p->iov, p->niov, at + 2, p->len - at - 2, f->iov + a + 1,
                          NET_MAX_IOV + 2 - (unsigned)a);
    if (b < 0)
        return -1;
    f->out.iov = f->iov;
    f->out.niov = (uint16_t)(a + 1 + b);
    memset(&f->out.hdr, 0, sizeof(f->out.hdr));
    return 0;
}

/* Finds the Ethernet/IP/TCP headers of a GSO packet; all from a private
 * copy, so the sender cannot change them between check and use. */
static int seg_parse(struct net_fix *f)
{
    const struct net_pkt *p = f->in;
    size_t have = net_iov_read(p->iov, p->niov, 0, f->orig, SC_MIN(p->len, sizeof(f->orig)));
    uint16_t l3 = 14, type = rd16be(f->orig + 12);
    if (type == ETH_P_VLAN) {
        l3 = 18;
        if (have < 18)
            return -1;
        type = rd16be(f->orig + 16);
    }
    uint16_t l4;
    if (type == ETH_P_IPV4 && p->hdr.gso_type == VIRTIO_NET_HDR_GSO_TCPV4) {
        if (have < l3 + 20u || f->orig[l3] >> 4 != 4 || (f->orig[l3] & 15) < 5 ||
            f->orig[l3 + 9] != IPPROTO_TCP_)
            return -1;
        l4 = (uint16_t)(l3 + (f->orig[l3] & 15) * 4);
        f->v4 = true;
    } else if (type == ETH_P_IPV6 && p->hdr.gso_type == VIRTIO_NET_HDR_GSO_TCPV6) {
        if (have < l3 + 40u || f->orig[l3] >> 4 != 6 || f->orig[l3 + 6] != IPPROTO_TCP_)
            return -1;
        l4 = (uint16_t)(l3 + 40);
        f->v4 = false;
    } else {
        return -1;
    }
    if (have < l4 + 20u)
        return -1;
    unsigned doff = (unsigned)(f->orig[l4 + 12] >> 4) * 4;
    if (doff < 20 || l4 + doff > have)
        return -1;
    f->l3 = l3;
    f->l4 = l4;
    f->hdrs_len = (uint16_t)(l4 + doff);
    f->mss = p->hdr.gso_size;
    f->payload = p->len - f->hdrs_len;
    f->nsegs = f->payload ? (f->payload + f->mss - 1) / f->mss : 1;
    return f->nsegs <= NET_MAX_SEGS ? 0 : -1;
}

static const struct net_pkt *seg_next(struct net_fix *f)
{
    const struct net_pkt *p = f->in;
    uint32_t i = f->seg, off = i * f->mss;
    uint32_t len = SC_MIN(f->mss, f->payload - off);
    uint8_t *h = f->hdrs, *ip = h + f->l3, *tcp = h + f->l4;
    uint16_t tcp_len = (uint16_t)(f->hdrs_len - f->l4 + len);
    struct net_csum c = {0};
    uint8_t pseudo[40];

    memcpy(h, f->orig, f->hdrs_len);
    if (f->v4) {
        unsigned ihl = (unsigned)(ip[0] & 15) * 4;
        wr16be(ip + 2, (uint16_t)(ihl + tcp_len));
        wr16be(ip + 4, (uint16_t)(rd16be(ip + 4) + i));
        wr16be(ip + 10, 0);
        net_csum_feed(&c, ip, ihl);
        wr16be(ip + 10, net_csum_final(&c));
        memcpy(pseudo, ip + 12, 8);
        pseudo[8] = 0;
        pseudo[9] = IPPROTO_TCP_;
        wr16be(pseudo + 10, tcp_len);
        c = (struct net_csum){0};
        net_csum_feed(&c, pseudo, 12);
    } else {
        wr16be(ip + 4, tcp_len);
        memcpy(pseudo, ip + 8, 32);
        wr32be(pseudo + 32, tcp_len);
        c = (struct net_csum){0};
        net_csum_feed(&c, pseudo, 36);
        uint8_t nh[4] = {0, 0, 0, IPPROTO_TCP_};
        net_csum_feed(&c, nh, 4);
    }
    wr32be(tcp + 4, rd32be(tcp + 4) + off);
    if (i + 1 < f->nsegs)
        tcp[13] &= (uint8_t)~(TCP_FIN | TCP_PSH);
    if (i > 0)
        tcp[13] &= (uint8_t)~TCP_CWR;
    wr16be(tcp + 16, 0);
    net_csum_feed(&c, tcp, f->hdrs_len - f->l4);
    net_csum_feed_iov(&c, p->iov, p->niov, f->hdrs_len + off, len);
    wr16be(tcp + 16, net_csum_final(&c));

    f->iov[0].iov_base = h;
    f->iov[0].iov_len = f->hdrs_len;
    int n = net_iov_slice(p->iov, p->niov, f->hdrs_len + off, len, f->iov + 1, NET_MAX_IOV + 2);
    if (n < 0)
        return NULL;
    f->out.iov = f->iov;
    f->out.niov = (uint16_t)(1 + n);
    f->out.len = f->hdrs_len + len;
    f->seg++;
    return &f->out;
}

int net_fix_begin(struct net_fix *f, const struct net_pkt *p, unsigned caps, enum net_drop *why)
{
    f->in = p;
    f->caps = caps;
    f->done = false;
    f->seg = 0;
    f->out = *p;
    /* A receiver without GUEST_CSUM must see flags 0 (virtio spec). */
    if (!(caps & NET_CAP_CSUM))
        f->out.hdr.flags = 0;
    unsigned need = gso_cap(p->hdr.gso_type);
    if (p->hdr.gso_type != VIRTIO_NET_HDR_GSO_NONE) {
        if (need && (caps & need) && (caps & NET_CAP_CSUM)) {
            f->mode = NET_FIX_PASS;
            return 0;
        }
        f->mode = NET_FIX_SEGMENT;
        memset(&f->out.hdr, 0, sizeof(f->out.hdr));
        if (!need || seg_parse(f) < 0) {
            *why = NET_DROP_BAD_GSO;
            return -1;
        }
        return 0;
    }
    if ((p->hdr.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && !(caps & NET_CAP_CSUM)) {
        f->mode = NET_FIX_CSUM;
        if (fix_csum_begin(f) < 0) {
            *why = NET_DROP_BAD_HEADER;
            return -1;
        }
        return 0;
    }
    f->mode = NET_FIX_PASS;
    return 0;
}

uint32_t net_fix_max_len(const struct net_fix *f)
{
    if (f->mode != NET_FIX_SEGMENT)
        return f->in->len;
    return f->hdrs_len + SC_MIN(f->mss, f->payload);
}

const struct net_pkt *net_fix_next(struct net_fix *f)
{
    if (f->done)
        return NULL;
    if (f->mode == NET_FIX_SEGMENT) {
        const struct net_pkt *o = f->seg < f->nsegs ? seg_next(f) : NULL;
        f->done = !o || f->seg >= f->nsegs;
        return o;
    }
    f->done = true;
    return &f->out;
}
