/* What a frame says about its flow: the header fields above Ethernet that
 * filters match on and receive steering hashes.
 *
 * Frames are hostile: the EtherType is read behind up to two VLAN tags
 * (802.1Q / 802.1ad); IPv4 honours IHL (options) and reads ports only in a
 * first fragment; IPv6 walks up to 8 extension headers (hop-by-hop,
 * routing, destination options, fragment, AH). A field the frame does not
 * really carry (truncated, non-first fragment, unknown headers) is marked
 * absent, never guessed. At most NET_FLOW_PEEK bytes of a frame are read. */
#ifndef SC_NET_FLOW_H
#define SC_NET_FLOW_H

#include <stdbool.h>
#include <stdint.h>

#include "net_port.h"

#define NET_FLOW_PEEK 512

struct net_flow {
    uint8_t dst[6], src[6];
    bool has_type;
    uint16_t ethertype; /* behind VLAN tags */
    unsigned vlans;
    bool has_addrs, v6;
    uint8_t saddr[16], daddr[16];
    bool frag;  /* an IP fragment, first or not */
    bool later; /* a fragment past the first (offset above 0): no L4 header */
    bool has_proto;
    uint8_t proto;
    bool has_ports;
    uint16_t sport, dport;
};

void net_flow_parse(const struct net_pkt *p, struct net_flow *out);

/* A hash of f's flow that both directions share (swapping source and
 * destination gives the same value): addresses, protocol and, outside
 * fragments, ports. Fragments hash on addresses and protocol only, so every
 * piece of a datagram goes the same way. False for frames without IP
 * addresses. */
bool net_flow_hash(const struct net_flow *f, uint32_t *hash);
/* The same for a packet, parsed here: untagged TCP and UDP over IPv4
 * without options or IPv6 without extension headers, in the first iovec,
 * take a short way (no full parse). */
bool net_flow_hash_pkt(const struct net_pkt *p, uint32_t *hash);

#endif
