/* A TCP frame for unit tests of offloads (checksum completion, segmentation,
 * counting what a tunnel carries): IPv4 or IPv6, with or without a VLAN tag,
 * a valid IP header checksum and the TCP pseudo-header sum in place, and
 * byte-order helpers to read it back. */
#ifndef SC_TEST_TCP_FRAMES_H
#define SC_TEST_TCP_FRAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "net_frames.h"

static inline uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Sum of a range including its checksum field: 0xffff when valid. */
static inline uint16_t raw_sum(const uint8_t *b, size_t n, uint32_t extra)
{
    uint64_t s = extra;
    for (size_t i = 0; i + 1 < n; i += 2)
        s += rd16(b + i);
    if (n & 1)
        s += (uint32_t)b[n - 1] << 8;
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)s;
}

/* Ethernet (+ optional VLAN) / IPv4 or IPv6 / TCP with payload bytes
 * i & 0xff; the TCP checksum holds the pseudo-header sum as a driver
 * leaves it for NEEDS_CSUM. Returns the frame length. */
static inline uint32_t build_tcp(uint8_t *f, bool v6, bool vlan, uint32_t payload)
{
    uint32_t l3 = vlan ? 18 : 14, ipl = v6 ? 40 : 20, l4 = l3 + ipl, len = l4 + 20 + payload;
    memset(f, 0, len);
    memcpy(f, "\x52\x54\x00\x00\x00\x02\x52\x54\x00\x00\x00\x01", 12);
    if (vlan) {
        wr16(f + 12, 0x8100);
        wr16(f + 14, 5);
    }
    wr16(f + l3 - 2, v6 ? 0x86dd : 0x0800);
    uint8_t *ip = f + l3, *tcp = f + l4;
    uint64_t ps = 0;
    if (v6) {
        ip[0] = 0x60;
        wr16(ip + 4, (uint16_t)(20 + payload));
        ip[6] = 6;
        ip[7] = 64;
        for (int i = 0; i < 16; i++) {
            ip[8 + i] = (uint8_t)(0x20 + i);
            ip[24 + i] = (uint8_t)(0x40 + i);
        }
        for (int i = 0; i < 32; i += 2)
            ps += rd16(ip + 8 + i);
        ps += 20 + payload + 6;
    } else {
        ip[0] = 0x45;
        wr16(ip + 2, (uint16_t)(20 + 20 + payload));
        wr16(ip + 4, 0x1234);
        ip[8] = 64;
        ip[9] = 6;
        memcpy(ip + 12, "\x0a\x00\x00\x01\x0a\x00\x00\x02", 8);
        for (int i = 0; i < 8; i += 2)
            ps += rd16(ip + 12 + i);
        ps += 6 + 20 + payload;
        wr16(ip + 10, (uint16_t)~raw_sum(ip, 20, 0));
    }
    wr16(tcp, 40000);
    wr16(tcp + 2, 80);
    tcp[4] = 0x10; /* seq 0x10000000 */
    tcp[12] = 5 << 4;
    tcp[13] = 0x18 | 0x01 | 0x80; /* PSH ACK FIN CWR */
    while (ps >> 16)
        ps = (ps & 0xffff) + (ps >> 16);
    wr16(tcp + 16, (uint16_t)ps);
    for (uint32_t i = 0; i < payload; i++)
        f[l4 + 20 + i] = (uint8_t)i;
    return len;
}

/* p as a driver hands build_tcp's frame over for TSO: NEEDS_CSUM at the
 * TCP checksum, GSO of that IP version with segments of mss bytes. */
static inline void tcp_gso_hdr(struct net_pkt *p, bool v6, bool vlan, uint16_t mss)
{
    p->hdr.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    p->hdr.gso_type = v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
    p->hdr.gso_size = mss;
    p->hdr.csum_start = (uint16_t)((vlan ? 18 : 14) + (v6 ? 40 : 20));
    p->hdr.csum_offset = 16;
}

#endif
