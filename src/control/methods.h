/* The daemon's JSON-RPC methods (device_create, device_delete, device_list,
 * device_stats, sidecore_stats, daemon_info) over the registry and the
 * sidecore set. Parameter errors name the field (invalid-params); requests
 * that are well formed but cannot be done (duplicate, missing device, a
 * backend that does not open) get RPC_SERVER_ERROR with the reason. */
#ifndef SC_METHODS_H
#define SC_METHODS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/sidecore.h"
#include "registry.h"
#include "rpc.h"

#define SIDECORE_VERSION "0.1.0"

struct net_registry;
struct exports;

struct daemon_ctx {
    struct registry *reg;
    struct net_registry *net; /* switches and net devices */
    struct exports *exports;  /* iohost role: the vRIO server; NULL otherwise */
    const char *role;         /* "local", "vmhost" or "iohost" */
    struct sc_set *scs;
    const char *mode;   /* "hybrid", "poll" or "notify" */
    uint64_t start_ns;  /* sc_now_ns() at start-up */
};

/* After "no device named NAME" from a block method (want_net false) or "no
 * net device named NAME" from a net one: when NAME is a device of the other
 * kind, says so in err and names the methods that take it. */
void methods_kind_hint(const struct daemon_ctx *ctx, const char *name, bool want_net,
                       struct rpc_error *err);

/* params.size of a resize: bytes, or a string like "2G". 0, or -1 with err
 * set. */
int methods_size_param(const json_t *params, uint64_t *bytes, struct rpc_error *err);

extern const struct rpc_method daemon_methods[];
extern const size_t daemon_methods_count;

#endif
