#include "remote_methods.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exports.h"
#include "methods.h"
#include "net_registry.h"
#include "registry.h"

static int code_of(int rc) { return rc == -EINVAL ? RPC_INVALID_PARAMS : RPC_SERVER_ERROR; }

static struct exports *need_iohost(void *opaque, struct rpc_error *err)
{
    struct exports *x = ((struct daemon_ctx *)opaque)->exports;
    if (!x)
        rpc_fail(err, RPC_SERVER_ERROR, "this daemon serves no block exports (an iohost with a "
                 "block listen address: --listen IP:PORT or iohost.listen)");
    return x;
}

json_t *m_interpose_set(json_t *params, void *opaque, struct rpc_error *err)
{
    struct daemon_ctx *ctx = opaque;
    const json_t *name = json_object_get(params, "device");
    const json_t *stages = json_object_get(params, "stages");
    if (!json_is_string(name))
        return rpc_fail(err, RPC_INVALID_PARAMS, "params.device: expected a device or export "
                        "name");
    if (!json_is_array(stages))
        return rpc_fail(err, RPC_INVALID_PARAMS, "params.stages: expected an array of stage "
                        "objects like [{\"type\": \"meter\"}] ([] removes every stage)");
    const char *n = json_string_value(name);
    int rc;
    if (registry_find(ctx->reg, n))
        rc = registry_interpose_set(ctx->reg, n, stages, err->message, sizeof(err->message));
    else if (ctx->net && net_registry_has_port(ctx->net, n))
        rc = net_registry_interpose_set(ctx->net, n, stages, err->message,
                                        sizeof(err->message));
    else if (ctx->exports)
        rc = exports_interpose_set(ctx->exports, n, stages, err->message, sizeof(err->message));
    else
        return rpc_fail(err, RPC_SERVER_ERROR, "no device, port or export named %s", n);
    if (rc < 0) {
        err->code = code_of(rc);
        return NULL;
    }
    return json_pack("{s:s,s:O}", "device", n, "stages", stages);
}

struct pending_probe {
    struct rpc_later *later; /* NULL: answered already, unprobed */
};

static void peers_probed(void *opaque, json_t *peers)
{
    struct pending_probe *p = opaque;
    struct rpc_error e = {.code = RPC_SERVER_ERROR};
    if (!peers)
        snprintf(e.message, sizeof(e.message), "the daemon is stopping");
    if (p->later)
        rpc_later_done(p->later, peers, &e);
    else
        json_decref(peers);
    free(p);
}

/* {"probe": true}: each device's iohost is asked first (sidecorectl peers
 * --probe), which an idle device otherwise never does. */
json_t *m_remote_peers(json_t *params, void *opaque, struct rpc_error *err)
{
    struct registry *reg = ((struct daemon_ctx *)opaque)->reg;
    const json_t *probe = json_object_get(params, "probe");
    if (probe && !json_is_boolean(probe))
        return rpc_fail(err, RPC_INVALID_PARAMS, "params.probe: expected true or false");
    if (!json_is_true(probe))
        return registry_remote_json(reg);
    struct pending_probe *p = calloc(1, sizeof(*p));
    if (!p)
        return rpc_fail(err, RPC_INTERNAL_ERROR, "out of memory");
    /* The probe finishes on this loop thread, so after the deferral below. */
    int rc = registry_probe_remotes(reg, peers_probed, p);
    if (rc != 1) {
        free(p);
        if (rc < 0)
            return rpc_fail(err, RPC_SERVER_ERROR, "cannot start the probe: %s", strerror(-rc));
        return registry_remote_json(reg);
    }
    p->later = rpc_defer();
    return p->later ? NULL : registry_remote_json(reg);
}

json_t *m_export_create(json_t *params, void *opaque, struct rpc_error *err)
{
    struct exports *x = need_iohost(opaque, err);
    if (!x)
        return NULL;
    struct cfg_export e;
    if (cfg_export_from_json(params, "params", &e, err->message, sizeof(err->message)) < 0) {
        err->code = RPC_INVALID_PARAMS;
        return NULL;
    }
    if (cfg_absolute("params.backend.path", e.backend ? e.backend->path : NULL, err->message,
                     sizeof(err->message)) < 0) {
        cfg_export_free(&e);
        err->code = RPC_INVALID_PARAMS;
        return NULL;
    }
    int rc = exports_add(x, &e, err->message, sizeof(err->message));
    json_t *r = rc < 0 ? NULL : cfg_export_to_json(&e);
    cfg_export_free(&e);
    if (rc < 0)
        err->code = code_of(rc);
    return r;
}

/* params.name of an export method on an iohost; NULL with err set. */
static const char *export_name(json_t *params, void *opaque, struct rpc_error *err,
                               struct exports **x)
{
    *x = need_iohost(opaque, err);
    if (!*x)
        return NULL;
    const json_t *n = json_object_get(params, "name");
    if (!json_is_string(n)) {
        rpc_fail(err, RPC_INVALID_PARAMS, "params.name: expected an export name");
        return NULL;
    }
    return json_string_value(n);
}

json_t *m_export_delete(json_t *params, void *opaque, struct rpc_error *err)
{
    struct exports *x;
    const char *name = export_name(params, opaque, err, &x);
    if (!name)
        return NULL;
    int rc = exports_remove(x, name, err->message, sizeof(err->message));
    if (rc < 0) {
        err->code = code_of(rc);
        return NULL;
    }
    return json_pack("{s:s}", "deleted", name);
}

/* {"name": "disk0", "size": bytes or "96G"}: grow an export. */
json_t *m_export_resize(json_t *params, void *opaque, struct rpc_error *err)
{
    struct exports *x;
    const char *name = export_name(params, opaque, err, &x);
    uint64_t bytes;
    if (!name || methods_size_param(params, &bytes, err) < 0)
        return NULL;
    int rc = exports_resize(x, name, bytes, err->message, sizeof(err->message));
    if (rc < 0) {
        err->code = code_of(rc);
        return NULL;
    }
    return json_pack("{s:s,s:I}", "name", name, "size", (json_int_t)bytes);
}

json_t *m_export_list(json_t *params, void *opaque, struct rpc_error *err)
{
    (void)params;
    struct exports *x = need_iohost(opaque, err);
    return x ? exports_json(x) : NULL;
}
