/* Packet filter stage for net ports: {"type": "filter", "default": "allow" |
 * "deny", "rules": [rule, ...]}. A rule is {"action": "allow" | "deny",
 * optional "dir": "in" | "out" (in: frames the port receives), "src_mac",
 * "dst_mac", "ethertype" (number, "0x86dd", "ipv4", "ipv6", "arp"),
 * "proto" (number or "icmp", "tcp", "udp", "icmpv6", "sctp"), "src" / "dst"
 * (IPv4 or IPv6 address with optional /prefix), "sport" / "dport" (N or
 * "LO-HI"), "frag" ("no", "yes", "first", "later", "not_later": IP packets
 * by fragmentation, as Open vSwitch's ip_frag)}. Every field given must match; the first matching rule decides,
 * else the default (allow when not given). Hit counters per rule and for the
 * default.
 *
 * Frames are read by net_flow_parse (net_flow.h): a field the frame does
 * not really carry (truncated, non-first fragment, unknown headers) matches
 * no rule that names it, so such frames fall to rules without it or the
 * default. A port rule never matches a later fragment: an allow-list that
 * lets a UDP service in through its port needs a rule like {"proto": "udp",
 * "frag": "later", "action": "allow"} for datagrams above the MTU (a later
 * fragment without its first cannot be reassembled). */
#ifndef SC_IP_FILTER_H
#define SC_IP_FILTER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "ip_stage.h"

#define IP_FILTER_MAX_RULES 256

struct ip_stage *ip_filter_from_json(const json_t *o, const char *ctx, char *err, size_t len);

#endif
