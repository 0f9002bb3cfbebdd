/* vmhost side of vRIO net: a tunnel port. A remote net device is wired to
 * one (as a peer, like a private sink): frames its guest sends are
 * delivered to the tunnel, which sends them to the iohost's net listener;
 * frames the iohost's switch sends to this tunnel's peer port there come
 * back and are sent to the device. The device never sees the socket.
 *
 * Sending runs on the device's tx sidecores (deliver() may run on several at
 * once: the connected socket and atomic counters are all they share).
 * Receiving and heartbeats run on the tunnel's own sidecore queue, whose
 * aux fd is an epoll set of the socket and a one-shot heartbeat timer, so an
 * idle sidecore sleeps until a datagram or a heartbeat is due.
 *
 * Joining: the tunnel sends HELLO (switch name, its own name) every
 * heartbeat until the iohost answers with a slot; frames before that are
 * dropped (not_joined). Then PING every heartbeat measures the round trip;
 * silence for dead_ms marks the tunnel disconnected (frames still go out:
 * the wire decides); a PONG saying "unknown" (iohost restarted) makes it
 * join again. Stopping sends BYE so the iohost frees the slot at once. */
#ifndef SC_RNET_CLIENT_H
#define SC_RNET_CLIENT_H

#include <jansson.h>

#include "../backend/net_port.h"
#include "../core/sidecore.h"

struct rnet_client_params {
    const char *name;      /* the tunnel's port name */
    const char *server;    /* the iohost's net listener, "IP:PORT" */
    const char *sw;        /* switch to join there */
    unsigned heartbeat_ms; /* 0: 100 */
    unsigned dead_ms;      /* 0: 10 heartbeats */
};

struct rnet_client;

struct rnet_client *rnet_client_create(const struct rnet_client_params *p, const char **why);
struct net_port *rnet_client_port(struct rnet_client *c);
/* After the port is wired: receive and send heartbeats on a sidecore. */
int rnet_client_start(struct rnet_client *c, struct sc_set *scs);
/* Says BYE; returns once the tunnel's queue no longer runs. */
void rnet_client_stop(struct rnet_client *c);
/* Stopped and unwired first. */
void rnet_client_destroy(struct rnet_client *c);

/* {"name", "server", "switch", "state", "slot", "rtt_us", "last_rx_ms",
 *  "path": {datagrams, bytes, drops by reason}} */
json_t *rnet_client_stats(struct rnet_client *c);

#endif
