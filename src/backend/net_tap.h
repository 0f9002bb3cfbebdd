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
 * host are written from the sending sidecore, a batch in one io_uring
 * submission (net_tap_batch.h). The interface is brought up; addresses
 * are the host's business.
 *
 * With queues > 1 the tap is multiqueue (IFF_MULTI_QUEUE), one descriptor
 * and one sidecore queue per tap queue, so the host's traffic is read in
 * parallel. A frame to the host goes into the tap queue its flow hashes
 * to (net_flow.h; a frame without IP addresses: the sender's queue index),
 * whichever guest sent it, so single-queue guests spread over the tap
 * queues too; the kernel records each flow's queue and sends the flow's
 * replies back through it, so a flow keeps one tap queue both ways. */
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
/* Why the port no longer moves frames (its interface was deleted: its
 * queues stopped, frames to the host are dropped as link_down), or NULL. */
const char *net_tap_error(const struct net_tap *t);
struct net_tap_queue_stats {
    uint64_t from_host_packets, from_host_bytes; /* read, sent into the switch */
    uint64_t to_host_packets, to_host_bytes;     /* written */
};
/* Per tap queue (at most max); returns the number of queues. */
unsigned net_tap_queues(const struct net_tap *t, struct net_tap_queue_stats *st, unsigned max);
/* Starts reading from the host (after the port is linked). */
int net_tap_start(struct net_tap *t, struct sc_set *scs);
void net_tap_stop(struct net_tap *t);
/* Stopped and unlinked first. */
void net_tap_destroy(struct net_tap *t);

#endif
