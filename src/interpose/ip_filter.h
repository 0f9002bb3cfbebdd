/* Packet filter stage for net ports: {"type": "filter", "default": "allow" |
 * "deny", "rules": [rule, ...]}. A rule is {"action": "allow" | "deny",
 * optional "dir": "in" | "out" (in: frames the port receives), "src_mac",
 * "dst_mac", "ethertype" (number, "0x86dd", "ipv4", "ipv6", "arp"),
 * "proto" (number or "icmp", "tcp", "udp", "icmpv6", "sctp"), "src" / "dst"
 * (IPv4 or IPv6 address with optional /prefix), "sport" / "dport" (N or
 * "LO-HI")}. Every field given must match; the first matching rule decides,
 * else the default (allow when not given). Hit counters per rule and for the
 * default.
 *
 * Frames are hostile: the EtherType is read behind up to two VLAN tags
 * (802.1Q / 802.1ad); IPv4 honours IHL (options) and reads ports only in a
 * first fragment; IPv6 walks up to 8 extension headers (hop-by-hop,
 * routing, destination options, fragment, AH). A field the frame does not
 * really carry (truncated, non-first fragment, unknown headers) matches no
 * rule that names it, so such frames fall to rules without it or the
 * default. */
#ifndef SC_IP_FILTER_H
#define SC_IP_FILTER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "ip_stage.h"

#define IP_FILTER_MAX_RULES 256

/* What the filter reads from a frame (exposed for tests). */
struct ip_filter_frame {
    uint8_t dst[6], src[6];
    bool has_type;
    uint16_t ethertype; /* behind VLAN tags */
    unsigned vlans;
    bool has_addrs, v6;
    uint8_t saddr[16], daddr[16];
    bool has_proto;
    uint8_t proto;
    bool has_ports;
    uint16_t sport, dport;
};

void ip_filter_parse(const struct net_pkt *p, struct ip_filter_frame *out);

struct ip_stage *ip_filter_from_json(const json_t *o, const char *ctx, char *err, size_t len);

#endif
