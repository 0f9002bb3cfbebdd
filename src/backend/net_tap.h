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
 * interface is brought up; addresses are the host's business.
 *
 * With queues > 1 the tap is multiqueue (IFF_MULTI_QUEUE), one descriptor
 * and one sidecore queue per tap queue, so the host's traffic is read in
 * parallel. A frame to the host goes into the tap queue of the sender's
 * queue index; the kernel records each flow's queue and sends the flow's
 * replies back through it, and that queue sends with its own index, so a
 * multiqueue guest's flow keeps one path both ways. */
#ifndef SC_NET_TAP_H
#define SC_NET_TAP_H

#include "../core/sidecore.h"
#include "net_port.h"

#define NET_TAP_MAX_QUEUES 16

struct net_tap;

/* ifname NULL: same as name. queues: 1..NET_TAP_MAX_QUEUES. */
struct net_tap *net_tap_create(const char *name, const char *ifname, unsigned queues,
                               const char **why);
struct net_port *net_tap_port(struct net_tap *t);
const char *net_tap_ifname(const struct net_tap *t);
/* Frames and bytes read from the host, per tap queue (at most max);
 * returns the number of queues. */
unsigned net_tap_queues(const struct net_tap *t, uint64_t *packets, uint64_t *bytes,
                        unsigned max);
/* Starts reading from the host (after the port is linked). */
int net_tap_start(struct net_tap *t, struct sc_set *scs);
void net_tap_stop(struct net_tap *t);
/* Stopped and unlinked first. */
void net_tap_destroy(struct net_tap *t);

#endif
