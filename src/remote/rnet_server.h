/* iohost side of vRIO net: the net listener. Tunnels of vmhosts (see
 * rnet_client.h) join a named switch here; each becomes a port of that
 * switch ("remote" type, named <tunnel>@<vmhost address>), so the switch
 * treats a remote VM like a local one.
 *
 * One UDP socket, polled by a sidecore queue (its aux fd: an epoll set of the
 * socket, so an idle sidecore sleeps until a datagram arrives), takes
 * DATA from every peer and sends it into the switch from the peer's port;
 * what the switch delivers to a peer port is sent back from the delivering
 * sidecore. HELLOs from unknown sessions go to the control thread (an
 * eventfd in the daemon's evloop), which creates the port, adds it to the
 * switch and answers with the slot; peers that said BYE or stayed silent
 * for peer_timeout_ms are removed there too (the socket queue is detached
 * meanwhile, so no sidecore still holds the peer). Switches leave through
 * rnet_server_drop_switch, which removes their peers first. */
#ifndef SC_RNET_SERVER_H
#define SC_RNET_SERVER_H

#include <jansson.h>
#include <stdbool.h>

#include "../backend/net_port.h"
#include "../backend/net_switch.h"
#include "../common/evloop.h"
#include "../core/sidecore.h"

#define RNET_MAX_PEERS 256

/* Called on the control thread. */
struct rnet_server_hooks {
    /* The switch a joining peer names, or NULL. */
    struct net_switch *(*find_switch)(void *opaque, const char *name);
    /* A peer port joined its switch (up) or is about to leave it (!up). */
    void (*peer_event)(void *opaque, struct net_port *p, bool up);
    void *opaque;
};

struct rnet_server_params {
    const char *listen;       /* "IP:PORT" */
    unsigned peer_timeout_ms; /* silence before a peer is removed, 0: 10000 */
};

struct rnet_server;

struct rnet_server *rnet_server_create(const struct rnet_server_params *p, struct sc_set *scs,
                                       struct evloop *loop, const struct rnet_server_hooks *h,
                                       const char **why);
void rnet_server_destroy(struct rnet_server *s);
void rnet_server_drop_switch(struct rnet_server *s, struct net_switch *sw);

/* {"listen", "peers": [{name, switch, address, connected, last_rx_ms, ...}],
 *  "malformed", "unknown_peer"} */
json_t *rnet_server_stats(struct rnet_server *s);

#endif
