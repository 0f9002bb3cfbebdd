/* JSON-RPC methods of the vRIO roles (registered in methods.c):
 *   interpose_set {"device": NAME, "stages": [stage objects]} -> the stages'
 *       stats; NAME is a blk device, a net port (device, tap, sink, remote
 *       peer "<device>@<vmhost address>"), or an export on an iohost; [] empties
 *   remote_peers -> per remote device: state, connected, rtt_us, in_flight,
 *       retransmits, failovers, reconnects, ... (vmhost)
 *   export_create {export object: see remote_config.h} (iohost)
 *   export_delete {"name"}, export_list -> server, sessions, per-export
 *       counters and stages
 * Parameter errors are invalid-params naming the field; well-formed requests
 * that cannot be done get RPC_SERVER_ERROR with the reason. */
#ifndef SC_REMOTE_METHODS_H
#define SC_REMOTE_METHODS_H

#include <jansson.h>

#include "rpc.h"

json_t *m_interpose_set(json_t *params, void *opaque, struct rpc_error *err);
json_t *m_remote_peers(json_t *params, void *opaque, struct rpc_error *err);
json_t *m_export_create(json_t *params, void *opaque, struct rpc_error *err);
json_t *m_export_delete(json_t *params, void *opaque, struct rpc_error *err);
json_t *m_export_list(json_t *params, void *opaque, struct rpc_error *err);
json_t *m_export_resize(json_t *params, void *opaque, struct rpc_error *err);

#endif
