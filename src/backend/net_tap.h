/* Tap port: joins a switch to the host's network stack through a tap
 * interface (created, or attached if it exists and is free; removed again
 * when the port goes unless it existed before as a persistent device).
 *
 * The tap speaks virtio-net headers (IFF_VNET_HDR, 12 bytes) and is told
 * with TUNSETOFFLOAD that we take checksum and TSO offloads, so checksum
 * and segmentation metadata cross in both directions without software work:
 * the kernel finishes what the receiver cannot, as we do for guests.
 *
 * Frames from the host are read, non-blocking, by a sidecore queue (no
 * thread of its own; the sidecore sleeps on it when idle). Frames to the
 * host are written from the sending sidecore, one writev per frame. The
 * interface is brought up; addresses are the host's business. */
#ifndef SC_NET_TAP_H
#define SC_NET_TAP_H

#include "../core/sidecore.h"
#include "net_port.h"

struct net_tap;

/* ifname NULL: same as name. */
struct net_tap *net_tap_create(const char *name, const char *ifname, const char **why);
struct net_port *net_tap_port(struct net_tap *t);
const char *net_tap_ifname(const struct net_tap *t);
/* Starts reading from the host (after the port is linked). */
int net_tap_start(struct net_tap *t, struct sc_set *scs);
void net_tap_stop(struct net_tap *t);
/* Stopped and unlinked first. */
void net_tap_destroy(struct net_tap *t);

#endif
