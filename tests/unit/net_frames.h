/* Frames for unit tests of the net layers: Ethernet with VLAN tags, IPv4
 * with options and fragment fields, IPv6 with extension headers, handed
 * over as a packet split over iovecs at odd places. */
#ifndef SC_TEST_NET_FRAMES_H
#define SC_TEST_NET_FRAMES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "backend/net_port.h"

struct frame {
    uint8_t b[600];
    size_t len;
    struct iovec iov[3];
    struct net_pkt p;
};

static inline void wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* Ethernet header with vlans tags, EtherType type; returns the L3 offset. */
static inline size_t eth(struct frame *f, unsigned vlans, uint16_t type)
{
    memset(f, 0, sizeof(*f));
    static const uint8_t dst[6] = {0x52, 0x54, 0, 0, 0, 2}, src[6] = {0x52, 0x54, 0, 0, 0, 1};
    memcpy(f->b, dst, 6);
    memcpy(f->b + 6, src, 6);
    size_t off = 12;
    for (unsigned i = 0; i < vlans; i++, off += 4) {
        wr16(f->b + off, i == 0 && vlans > 1 ? 0x88a8 : 0x8100);
        wr16(f->b + off + 2, (uint16_t)(100 + i));
    }
    wr16(f->b + off, type);
    return off + 2;
}

/* IPv4 header with ihl words, protocol proto, ports after it. */
static inline size_t ipv4(struct frame *f, size_t off, unsigned ihl, uint8_t proto, uint16_t frag,
                   const uint8_t s[4], const uint8_t d[4], uint16_t sport, uint16_t dport)
{
    uint8_t *h = f->b + off;
    h[0] = (uint8_t)(0x40 | ihl);
    wr16(h + 6, frag);
    h[8] = 64;
    h[9] = proto;
    memcpy(h + 12, s, 4);
    memcpy(h + 16, d, 4);
    for (unsigned i = 20; i < ihl * 4; i++)
        h[i] = 1; /* NOP options */
    size_t l4 = off + ihl * 4;
    wr16(f->b + l4, sport);
    wr16(f->b + l4 + 2, dport);
    return l4 + 8;
}

/* The frame as a packet of len bytes, split over iovecs at odd places. */
static inline const struct net_pkt *pkt(struct frame *f, size_t len)
{
    f->len = len;
    size_t a = len > 7 ? 7 : len, b = len > 40 ? 33 : len - a;
    f->iov[0] = (struct iovec){f->b, a};
    f->iov[1] = (struct iovec){f->b + a, b};
    f->iov[2] = (struct iovec){f->b + a + b, len - a - b};
    f->p.iov = f->iov;
    f->p.niov = 3;
    f->p.len = (uint32_t)len;
    memcpy(f->p.eth, f->b, 12);
    return &f->p;
}

/* The frame as a packet of len bytes in one iovec. */
static inline const struct net_pkt *pkt_whole(struct frame *f, size_t len)
{
    f->len = len;
    f->iov[0] = (struct iovec){f->b, len};
    f->p.iov = f->iov;
    f->p.niov = 1;
    f->p.len = (uint32_t)len;
    memcpy(f->p.eth, f->b, 12);
    return &f->p;
}

static const uint8_t A[4] = {10, 1, 2, 3}, B[4] = {192, 168, 7, 9};

/* IPv6 with ext headers of the given types (8 bytes each). */
static inline size_t ipv6(struct frame *f, size_t off, const uint8_t *ext, unsigned n, uint8_t proto)
{
    uint8_t *h = f->b + off;
    h[0] = 0x60;
    h[6] = n ? ext[0] : proto;
    h[8] = 0xfd;
    h[23] = 1;
    h[24] = 0xfd;
    h[39] = 2;
    size_t p = off + 40;
    for (unsigned i = 0; i < n; i++, p += 8) {
        f->b[p] = i + 1 < n ? ext[i + 1] : proto;
        f->b[p + 1] = 0; /* (0 + 1) * 8 bytes; AH: (0 + 2) * 4 */
    }
    wr16(f->b + p, 1234);
    wr16(f->b + p + 2, 443);
    return p + 8;
}

#endif
