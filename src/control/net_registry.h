/* Net registry: the daemon's switches, their tap and sink/source ports, and
 * its virtio-net devices, by name. Control thread only.
 *
 * A net device is created, linked (joins its switch, or is wired to a
 * private sink/source port), then its vhost-user socket opens; removal runs
 * backwards, so its port leaves the switch only after its queues stopped.
 * A remote net device (cfg server/remote_switch) is wired to a vRIO tunnel
 * port instead (src/remote/rnet_client.h); on an iohost the net listener
 * (net_registry_listen) attaches remote peers to switches by name.
 * Net device names and sockets must not collide with blk devices' (the blk
 * registry is consulted); port names are unique daemon-wide (a net device's
 * port is named after it). A switch is deleted only when no net device is on
 * it; its tap and sink ports go with it.
 *
 * Errors: -EINVAL (fix the request), -EEXIST (name or socket taken),
 * -ENOENT (no such object), -EBUSY (still in use), others: a resource did
 * not open; the message is in err. */
#ifndef SC_NET_REGISTRY_H
#define SC_NET_REGISTRY_H

#include <jansson.h>
#include <stddef.h>

#include "../common/evloop.h"
#include "../core/sidecore.h"
#include "net_config.h"
#include "registry.h"

struct net_registry;

struct net_registry *net_registry_create(struct evloop *loop, struct sc_set *scs,
                                         const char *runtime_dir, struct registry *blk);
/* Removes net devices, then ports, then switches. */
void net_registry_destroy(struct net_registry *r);

/* Switches, ports, devices of a start-up config, in that order. */
int net_registry_apply(struct net_registry *r, const struct cfg_netset *set, char *err,
                       size_t len);

int net_registry_add_switch(struct net_registry *r, const struct cfg_switch *c, char *err,
                            size_t len);
int net_registry_remove_switch(struct net_registry *r, const char *name, char *err, size_t len);
int net_registry_add_port(struct net_registry *r, const struct cfg_port *c, char *err,
                          size_t len);
int net_registry_remove_port(struct net_registry *r, const char *sw, const char *name, char *err,
                             size_t len);
int net_registry_add_net(struct net_registry *r, const struct cfg_net *c, char *err, size_t len);
int net_registry_remove_net(struct net_registry *r, const char *name, char *err, size_t len);

/* As created (socket filled in); NULL if absent. */
const struct cfg_net *net_registry_find_net(const struct net_registry *r, const char *name);
/* True when a net device uses this name or socket (for the blk registry). */
bool net_registry_claims(const struct net_registry *r, const char *name, const char *socket);
unsigned net_registry_count(const struct net_registry *r);

/* iohost: start the vRIO net listener (remote net devices join switches). */
int net_registry_listen(struct net_registry *r, const char *listen, char *err, size_t len);

/* The interface a tap port made or attached (its ifname may have been a
 * template such as "tap%d"), or NULL when name is no tap port. */
const char *net_registry_tap_ifname(const struct net_registry *r, const char *name);

/* Interposition on a port by name (a net device, a tap or sink port, or a
 * remote peer "<device>@<vmhost address>", which may join later and keeps
 * its stages across reconnects): stages must all apply to net. */
bool net_registry_has_port(struct net_registry *r, const char *name);
int net_registry_interpose_set(struct net_registry *r, const char *name, const json_t *stages,
                               char *err, size_t len);
/* {"tunnels": [remote net devices' tunnels], "listener": iohost peers or null} */
json_t *net_registry_peers_json(struct net_registry *r);

json_t *net_registry_list_json(struct net_registry *r);
json_t *net_registry_stats_json(struct net_registry *r, const char *name, char *err, size_t len);
json_t *net_registry_switch_list_json(struct net_registry *r);
json_t *net_registry_switch_stats_json(struct net_registry *r, const char *name, char *err,
                                       size_t len);

#endif
