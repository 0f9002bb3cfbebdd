/* The in-daemon L2 switch.
 *
 * Learns source addresses per port (net_mactable.h), sends known unicast to
 * its port, floods broadcast, multicast and unknown unicast to every port but
 * the sender, and drops (counted as "filtered" at the sender) frames whose
 * destination sits behind their own port. Forwarding runs on the sending
 * port's sidecore and calls the receivers' deliver() directly: guest to guest
 * costs one copy, done by the receiver.
 *
 * Ports join and leave on the control thread while sidecores forward. Ports
 * sit in atomic slots; forwarders announce themselves in one of two epoch
 * counters for the length of a batch. Removing a port clears its slot, flips
 * the epoch and waits for the previous epoch's counter to drain, so no
 * forwarder can still hold the port when net_switch_remove_port returns
 * (no allocation: removal cannot fail). */
#ifndef SC_NET_SWITCH_H
#define SC_NET_SWITCH_H

#include <stdint.h>

#include "net_port.h"

#define NET_SW_MAX_PORTS 64
#define NET_SW_DEFAULT_MACS 4096
#define NET_SW_DEFAULT_AGING_S 300

struct net_switch;

struct net_switch_counters {
    uint64_t flooded;   /* packets sent to every port (broadcast, multicast, unknown) */
    uint64_t unknown;   /* of those, unicast to an address not (or no longer) learned */
    uint64_t hairpin;   /* dropped: destination behind the sender's own port */
    uint32_t macs;      /* live table entries */
    uint32_t mac_capacity;
    uint32_t aging_s;
    unsigned ports;
};

/* mac_entries 16..1M, aging_s 1..1000000 (callers validate; out-of-range
 * values are refused with *why). */
struct net_switch *net_switch_create(const char *name, uint32_t mac_entries, uint32_t aging_s,
                                     const char **why);
/* Every port must have left. */
void net_switch_destroy(struct net_switch *sw);
const char *net_switch_name(const struct net_switch *sw);

/* Control thread. add: before any of p's senders run; remove: after they
 * stopped; returns once no forwarder can reach p any more. */
int net_switch_add_port(struct net_switch *sw, struct net_port *p, const char **why);
void net_switch_remove_port(struct net_switch *sw, struct net_port *p);
/* Ports in slot order; returns how many were written. */
unsigned net_switch_ports(struct net_switch *sw, struct net_port **out, unsigned max);
/* Whether a port other than except would take frames now (net_port_ops
 * ready; a port without it always does). Any thread. */
bool net_switch_any_ready(struct net_switch *sw, const struct net_port *except);
void net_switch_counters(struct net_switch *sw, struct net_switch_counters *out);

/* Data path: called by net_port_send. */
void net_switch_forward(struct net_switch *sw, struct net_port *src,
                        struct net_pkt *const *pkts, unsigned n, unsigned hint);

#endif
