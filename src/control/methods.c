#include "methods.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/util.h"
#include "net_methods.h"
#include "net_registry.h"
#include "qemu_line.h"
#include "remote_methods.h"

/* {"name": "..."} for delete and stats. */
static const char *name_param(json_t *params, struct rpc_error *err)
{
    if (!json_is_object(params)) {
        rpc_fail(err, RPC_INVALID_PARAMS, "params: expected an object like {\"name\": \"blk0\"}");
        return NULL;
    }
    json_t *n = json_object_get(params, "name");
    if (!json_is_string(n) || !*json_string_value(n)) {
        rpc_fail(err, RPC_INVALID_PARAMS, "params.name: expected a device name string");
        return NULL;
    }
    return json_string_value(n);
}

static int errno_code(int rc) { return rc == -EINVAL ? RPC_INVALID_PARAMS : RPC_SERVER_ERROR; }

void methods_kind_hint(const struct daemon_ctx *ctx, const char *name, bool want_net,
                       struct rpc_error *err)
{
    if (strncmp(err->message, "no ", 3) != 0)
        return;
    const char *hint = NULL;
    if (!want_net && ctx->net && net_registry_find_net(ctx->net, name))
        hint = "is a net device: net_delete, net_stats (sidecorectl net-delete, net-stats)";
    else if (want_net && ctx->reg && registry_find(ctx->reg, name))
        hint = "is a block device: device_delete, device_stats (sidecorectl delete, stats)";
    if (!hint)
        return;
    size_t n = strlen(err->message);
    snprintf(err->message + n, sizeof(err->message) - n, " (%s %s)", name, hint);
}

static json_t *created_json(struct daemon_ctx *ctx, const char *name)
{
    const struct cfg_device *made = registry_find(ctx->reg, name);
    if (!made)
        return json_object();
    json_t *r = cfg_device_to_json(made);
    char *q = qemu_line_blk(made);
    if (r && q)
        json_object_set_new(r, "qemu", json_string(q));
    free(q);
    return r;
}

struct pending_create {
    struct daemon_ctx *ctx;
    struct rpc_later *later; /* NULL: the answer went already */
    char name[];
};

static void device_created(void *opaque, int rc, const char *why)
{
    struct pending_create *p = opaque;
    if (p->later) {
        struct rpc_error e = {.code = errno_code(rc)};
        if (rc < 0)
            snprintf(e.message, sizeof(e.message), "%s", why);
        rpc_later_done(p->later, rc < 0 ? NULL : created_json(p->ctx, p->name), &e);
    }
    free(p);
}

/* A remote device is answered once its iohost answered (or 2 s passed):
 * the loop serves every other socket meanwhile. */
static json_t *m_device_create(json_t *params, void *opaque, struct rpc_error *err)
{
    struct daemon_ctx *ctx = opaque;
    struct cfg_device d;
    if (cfg_device_from_json(params, "params", &d, err->message, sizeof(err->message)) < 0) {
        err->code = RPC_INVALID_PARAMS;
        return NULL;
    }
    const struct cfg_backend *fb = d.backend.remote ? d.backend.remote->fallback : NULL;
    if (cfg_absolute("params.socket", d.socket, err->message, sizeof(err->message)) ||
        cfg_absolute("params.backend.path", d.backend.path, err->message,
                     sizeof(err->message)) ||
        cfg_absolute("params.backend.fallback", fb ? fb->path : NULL, err->message,
                     sizeof(err->message))) {
        cfg_device_free(&d);
        err->code = RPC_INVALID_PARAMS;
        return NULL;
    }
    struct pending_create *p = malloc(sizeof(*p) + strlen(d.name) + 1);
    if (!p) {
        cfg_device_free(&d);
        return rpc_fail(err, RPC_INTERNAL_ERROR, "out of memory");
    }
    p->ctx = ctx;
    p->later = NULL;
    strcpy(p->name, d.name);
    int rc = registry_add_async(ctx->reg, &d, device_created, p, err->message,
                                sizeof(err->message));
    cfg_device_free(&d);
    if (rc == 1) {
        p->later = rpc_defer();
        return p->later ? NULL : json_pack("{s:s,s:b}", "name", p->name, "pending", 1);
    }
    json_t *r = rc < 0 ? NULL : created_json(ctx, p->name);
    free(p);
    if (rc < 0)
        err->code = errno_code(rc);
    return r;
}

struct pending_delete {
    struct rpc_later *later; /* NULL: the answer went already */
    char name[];
};

static void device_deleted(void *opaque)
{
    struct pending_delete *p = opaque;
    if (p->later)
        rpc_later_done(p->later, json_pack("{s:s}", "deleted", p->name), NULL);
    free(p);
}

/* Answered once the device is gone: a backend that still holds requests
 * (a slow disk, a QoS stage, a remote host) finishes them first, while the
 * loop serves everything else. */
static json_t *m_device_delete(json_t *params, void *opaque, struct rpc_error *err)
{
    struct daemon_ctx *ctx = opaque;
    const char *name = name_param(params, err);
    if (!name)
        return NULL;
    struct pending_delete *p = malloc(sizeof(*p) + strlen(name) + 1);
    if (!p)
        return rpc_fail(err, RPC_INTERNAL_ERROR, "out of memory");
    strcpy(p->name, name);
    int rc = registry_remove(ctx->reg, name, device_deleted, p, err->message,
                             sizeof(err->message));
    if (rc < 0) {
        free(p);
        err->code = errno_code(rc);
        methods_kind_hint(ctx, name, false, err);
        return NULL;
    }
    if (rc == 0) {
        free(p);
        return json_pack("{s:s}", "deleted", name);
    }
    p->later = rpc_defer();
    return p->later ? NULL : json_pack("{s:s,s:b}", "deleted", name, "pending", 1);
}

int methods_size_param(const json_t *params, uint64_t *bytes, struct rpc_error *err)
{
    const json_t *s = json_object_get(params, "size");
    *bytes = 0;
    if (json_is_integer(s) && json_integer_value(s) > 0)
        *bytes = (uint64_t)json_integer_value(s);
    else if (!json_is_string(s) || cfg_parse_size(json_string_value(s), bytes) < 0 || !*bytes) {
        rpc_fail(err, RPC_INVALID_PARAMS, "params.size: expected a size in bytes or a string "
                 "like \"2G\" (below 8 EiB)");
        return -1;
    }
    return 0;
}

static json_t *resized_json(const char *name, uint64_t bytes, bool told)
{
    return json_pack("{s:s,s:I,s:b}", "name", name, "size", (json_int_t)bytes, "frontend_told",
                     told);
}

struct pending_resize {
    struct rpc_later *later; /* NULL: the answer went already */
    uint64_t bytes;
    char name[];
};

static void device_resized(void *opaque, int rc, bool told, const char *why)
{
    struct pending_resize *p = opaque;
    if (p->later) {
        struct rpc_error e = {.code = errno_code(rc)};
        if (rc < 0)
            snprintf(e.message, sizeof(e.message), "%s", why);
        rpc_later_done(p->later, rc < 0 ? NULL : resized_json(p->name, p->bytes, told), &e);
    }
    free(p);
}

/* {"name": "blk0", "size": 2147483648 or "2G"}: grow the disk. A remote
 * one is answered once its iohost said the export's size. */
static json_t *m_device_resize(json_t *params, void *opaque, struct rpc_error *err)
{
    struct daemon_ctx *ctx = opaque;
    const char *name = name_param(params, err);
    uint64_t bytes;
    if (!name || methods_size_param(params, &bytes, err) < 0)
        return NULL;
    struct pending_resize *p = malloc(sizeof(*p) + strlen(name) + 1);
    if (!p)
        return rpc_fail(err, RPC_INTERNAL_ERROR, "out of memory");
    p->later = NULL;
    p->bytes = bytes;
    strcpy(p->name, name);
    bool told = false;
    int rc = registry_resize(ctx->reg, name, bytes, &told, device_resized, p, err->message,
                             sizeof(err->message));
    if (rc == 1) {
        p->later = rpc_defer();
        return p->later ? NULL : json_pack("{s:s,s:b}", "name", p->name, "pending", 1);
    }
    free(p);
    if (rc < 0) {
        err->code = errno_code(rc);
        methods_kind_hint(ctx, name, false, err);
        return NULL;
    }
    return resized_json(name, bytes, told);
}

static json_t *m_device_list(json_t *params, void *opaque, struct rpc_error *err)
{
    (void)params;
    (void)err;
    return registry_list_json(((struct daemon_ctx *)opaque)->reg);
}

static json_t *m_device_stats(json_t *params, void *opaque, struct rpc_error *err)
{
    struct daemon_ctx *ctx = opaque;
    const char *name = name_param(params, err);
    if (!name)
        return NULL;
    json_t *r = registry_stats_json(ctx->reg, name, err->message, sizeof(err->message));
    if (!r) {
        err->code = RPC_SERVER_ERROR;
        methods_kind_hint(ctx, name, false, err);
    }
    return r;
}

static json_t *m_sidecore_stats(json_t *params, void *opaque, struct rpc_error *err)
{
    struct daemon_ctx *ctx = opaque;
    (void)params;
    (void)err;
    json_t *arr = json_array();
    unsigned n = sc_set_count(ctx->scs);
    for (unsigned i = 0; arr && i < n; i++) {
        struct sc_core_stats s;
        sc_core_stats(ctx->scs, i, &s);
        json_array_append_new(
            arr, json_pack("{s:i,s:i,s:i,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "id", (int)s.id,
                           "cpu", s.cpu, "queues", (int)s.nr_queues, "rounds",
                           (json_int_t)s.rounds, "busy_ns", (json_int_t)s.busy_ns, "idle_ns",
                           (json_int_t)s.idle_ns, "sleep_ns", (json_int_t)s.sleep_ns, "sleeps",
                           (json_int_t)s.sleeps, "wakeups", (json_int_t)s.wakeups, "requests",
                           (json_int_t)s.requests, "yields", (json_int_t)s.yields,
                           "sampled_ns", (json_int_t)s.sampled_ns));
    }
    return arr;
}

static json_t *m_daemon_info(json_t *params, void *opaque, struct rpc_error *err)
{
    struct daemon_ctx *ctx = opaque;
    (void)params;
    (void)err;
    return json_pack("{s:s,s:s,s:i,s:i,s:s,s:I,s:i,s:i}", "version", SIDECORE_VERSION, "role",
                     ctx->role ? ctx->role : "local", "pid",
                     (int)getpid(), "sidecores", (int)sc_set_count(ctx->scs), "mode", ctx->mode,
                     "uptime_s", (json_int_t)((sc_now_ns() - ctx->start_ns) / 1000000000ull),
                     "devices", (int)registry_count(ctx->reg), "net_devices",
                     (int)(ctx->net ? net_registry_count(ctx->net) : 0));
}

const struct rpc_method daemon_methods[] = {
    {"device_create", m_device_create}, {"device_delete", m_device_delete},
    {"device_list", m_device_list},     {"device_stats", m_device_stats},
    {"device_resize", m_device_resize},
    {"sidecore_stats", m_sidecore_stats}, {"daemon_info", m_daemon_info},
    {"net_create", m_net_create},       {"net_delete", m_net_delete},
    {"net_list", m_net_list},           {"net_stats", m_net_stats},
    {"switch_create", m_switch_create}, {"switch_delete", m_switch_delete},
    {"switch_list", m_switch_list},     {"switch_stats", m_switch_stats},
    {"switch_port_add", m_switch_port_add}, {"switch_port_delete", m_switch_port_delete},
    {"interpose_set", m_interpose_set}, {"remote_peers", m_remote_peers},
    {"export_create", m_export_create}, {"export_delete", m_export_delete},
    {"export_list", m_export_list},     {"export_resize", m_export_resize},
    {"net_peers", m_net_peers},
};
const size_t daemon_methods_count = sizeof(daemon_methods) / sizeof(daemon_methods[0]);
