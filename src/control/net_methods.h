/* JSON-RPC methods for net devices and switches (registered in methods.c):
 *   net_create {net object: see net_config.h}      -> the device as created
 *   net_delete {"name"}, net_list, net_stats {"name"}
 *   switch_create {"name", "mac_table"?, "aging"?, "ports"?: [port objects]}
 *   switch_delete {"name"}, switch_list, switch_stats {"name"} (per-port counters)
 *   switch_port_add {"switch", "name", "type": "tap"|"sink", ...}
 *   switch_port_delete {"switch", "name"}
 *   net_peers -> {"tunnels": [per remote net device: state, rtt_us, packets and
 *       bytes each way, path drops by reason], "listener": iohost peers or null}
 * Parameter errors are invalid-params naming the field; well-formed requests
 * that cannot be done get RPC_SERVER_ERROR with the reason. */
#ifndef SC_NET_METHODS_H
#define SC_NET_METHODS_H

#include <jansson.h>

#include "rpc.h"

json_t *m_net_create(json_t *params, void *opaque, struct rpc_error *err);
json_t *m_net_delete(json_t *params, void *opaque, struct rpc_error *err);
json_t *m_net_list(json_t *params, void *opaque, struct rpc_error *err);
json_t *m_net_stats(json_t *params, void *opaque, struct rpc_error *err);
json_t *m_net_peers(json_t *params, void *opaque, struct rpc_error *err);
json_t *m_switch_create(json_t *params, void *opaque, struct rpc_error *err);
json_t *m_switch_delete(json_t *params, void *opaque, struct rpc_error *err);
json_t *m_switch_list(json_t *params, void *opaque, struct rpc_error *err);
json_t *m_switch_stats(json_t *params, void *opaque, struct rpc_error *err);
json_t *m_switch_port_add(json_t *params, void *opaque, struct rpc_error *err);
json_t *m_switch_port_delete(json_t *params, void *opaque, struct rpc_error *err);

#endif
