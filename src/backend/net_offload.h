/* Offload metadata checks and their software fallbacks.
 *
 * Sender side: net_hdr_check validates a packet's virtio_net_hdr against the
 * offloads the sender negotiated and the frame length (every field is
 * hostile: csum_start/offset inside the frame, GSO only as negotiated, with
 * a non-zero gso_size and NEEDS_CSUM).
 *
 * Receiver side: net_fix turns one switched packet into what a receiver with
 * caps can take: the packet itself when it takes the offloads as is; the
 * packet with its checksum completed in software (NEEDS_CSUM to a receiver
 * without GUEST_CSUM); or TCP segments with full checksums (GSO to a
 * receiver without GUEST_TSO4/6; IPv4 and IPv6 without extension headers,
 * optionally behind one VLAN tag). The results point into the original
 * packet's bytes plus a little scratch in struct net_fix: nothing is copied
 * here; the receiver's copy is the only one. */
#ifndef SC_NET_OFFLOAD_H
#define SC_NET_OFFLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "net_port.h"

#define NET_SEG_HDR_MAX 192 /* Ethernet + VLAN + IP (with options) + TCP (with options) */
#define NET_MAX_SEGS 2048   /* segments one GSO packet may become */

/* NET_DROP__COUNT when h and len are acceptable from a sender allowed the
 * NET_CAP_* offloads, else the drop reason. Clears flags a device ignores
 * on transmit (DATA_VALID, RSC_INFO). */
enum net_drop net_hdr_check(struct virtio_net_hdr_v1 *h, uint32_t len, unsigned allowed);
/* Whether p's NEEDS_CSUM (if set) names the checksum field of the TCP or
 * UDP header of the frame's own IPv4 or IPv6 packet (after at most one
 * VLAN tag; IPv6 extension headers within the first 122 bytes). A
 * receiver without GUEST_CSUM gets those two bytes written in software
 * after filters and the switch looked at the frame: any other place would
 * let a sender rewrite a header they passed (an IP protocol or a
 * destination MAC). A GSO packet's must be TCP's, in the IP version its
 * gso_type says. Reads a private copy of the headers. */
bool net_csum_placed(const struct net_pkt *p);

/* Bytes [off, off+len) of an iovec list. read returns the bytes copied;
 * slice returns the iovecs written to out, or -1 when more than max. */
size_t net_iov_read(const struct iovec *iov, unsigned n, size_t off, void *dst, size_t len);
int net_iov_slice(const struct iovec *iov, unsigned n, size_t off, size_t len, struct iovec *out,
                  unsigned max);

/* Internet checksum helpers (RFC 1071) over a byte stream fed in pieces. */
struct net_csum {
    uint64_t sum;
    bool odd; /* an odd number of bytes was fed so far */
};
void net_csum_feed(struct net_csum *c, const void *buf, size_t len);
void net_csum_feed_iov(struct net_csum *c, const struct iovec *iov, unsigned n, size_t off,
                       size_t len);
/* The folded, complemented value in host order (0 is sent as 0xffff). */
uint16_t net_csum_final(const struct net_csum *c);

enum net_fix_mode { NET_FIX_PASS, NET_FIX_CSUM, NET_FIX_SEGMENT };

struct net_fix {
    const struct net_pkt *in;
    enum net_fix_mode mode;
    unsigned caps;
    bool done;
    struct net_pkt out;
    struct iovec iov[NET_MAX_IOV + 3];
    uint8_t csum[2];
    /* Segmentation. */
    uint8_t orig[NET_SEG_HDR_MAX];
    uint8_t hdrs[NET_SEG_HDR_MAX];
    uint16_t hdrs_len, l3, l4;
    bool v4;
    uint32_t mss, payload, seg, nsegs;
};

/* Prepare the packets p becomes at a receiver with caps. Returns 0, or -1
 * with the drop reason in *why (a GSO packet that cannot be segmented). */
int net_fix_begin(struct net_fix *f, const struct net_pkt *p, unsigned caps, enum net_drop *why);
/* The longest packet net_fix_next will return: what a receiver holds to
 * its MTU when the packet is segmented for it (a segment is a frame like
 * any other; only a packet it takes as GSO is not held to the MTU). */
uint32_t net_fix_max_len(const struct net_fix *f);
/* The next packet to deliver, NULL when done. Valid until the next call. */
const struct net_pkt *net_fix_next(struct net_fix *f);

#endif
