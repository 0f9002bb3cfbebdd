/* JSON-RPC methods for net devices and switches (see net_methods.h). */
#include "net_methods.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "methods.h"
#include "net_registry.h"
#include "qemu_line.h"

static struct net_registry *reg(void *opaque)
{
    return ((struct daemon_ctx *)opaque)->net;
}

static const char *str_param(json_t *params, const char *key, const char *what,
                             struct rpc_error *err)
{
    const char *s = json_string_value(json_object_get(params, key));
    if (!json_is_object(params) || !s || !*s) {
        rpc_fail(err, RPC_INVALID_PARAMS, "params.%s: expected %s", key, what);
        return NULL;
    }
    return s;
}

static int code_of(int rc) { return rc == -EINVAL ? RPC_INVALID_PARAMS : RPC_SERVER_ERROR; }

static json_t *done(int rc, struct rpc_error *err, json_t *result)
{
    if (rc < 0) {
        err->code = code_of(rc);
        json_decref(result);
        return NULL;
    }
    return result;
}

json_t *m_net_create(json_t *params, void *opaque, struct rpc_error *err)
{
    struct cfg_net c;
    int rc = cfg_net_from_json(params, "params", &c, err->message, sizeof(err->message));
    if (rc < 0)
        return done(rc, err, NULL);
    rc = cfg_absolute("params.socket", c.socket, err->message, sizeof(err->message));
    if (rc < 0) {
        cfg_net_free(&c);
        return done(rc, err, NULL);
    }
    rc = net_registry_add_net(reg(opaque), &c, err->message, sizeof(err->message));
    json_t *r = NULL;
    if (rc == 0) {
        const struct cfg_net *made = net_registry_find_net(reg(opaque), c.name);
        r = cfg_net_to_json(made);
        char *q = made ? qemu_line_net(made) : NULL;
        if (r && q)
            json_object_set_new(r, "qemu", json_string(q));
        free(q);
    }
    cfg_net_free(&c);
    return done(rc, err, r);
}

json_t *m_net_delete(json_t *params, void *opaque, struct rpc_error *err)
{
    const char *name = str_param(params, "name", "a net device name", err);
    if (!name)
        return NULL;
    int rc = net_registry_remove_net(reg(opaque), name, err->message, sizeof(err->message));
    if (rc)
        methods_kind_hint(opaque, name, true, err);
    return done(rc, err, rc ? NULL : json_pack("{s:s}", "deleted", name));
}

json_t *m_net_list(json_t *params, void *opaque, struct rpc_error *err)
{
    (void)params, (void)err;
    return net_registry_list_json(reg(opaque));
}

json_t *m_net_peers(json_t *params, void *opaque, struct rpc_error *err)
{
    (void)params;
    (void)err;
    return net_registry_peers_json(((struct daemon_ctx *)opaque)->net);
}

json_t *m_net_stats(json_t *params, void *opaque, struct rpc_error *err)
{
    const char *name = str_param(params, "name", "a net device name", err);
    if (!name)
        return NULL;
    json_t *r = net_registry_stats_json(reg(opaque), name, err->message, sizeof(err->message));
    if (!r) {
        err->code = RPC_SERVER_ERROR;
        methods_kind_hint(opaque, name, true, err);
    }
    return r;
}

json_t *m_switch_create(json_t *params, void *opaque, struct rpc_error *err)
{
    struct cfg_netset set = {0};
    int rc = cfg_netset_add_switch_json(&set, params, "params", err->message,
                                        sizeof(err->message));
    if (rc == 0)
        rc = net_registry_add_switch(reg(opaque), &set.sws[0], err->message,
                                     sizeof(err->message));
    for (unsigned i = 0; rc == 0 && i < set.nr_ports; i++) {
        rc = net_registry_add_port(reg(opaque), &set.ports[i], err->message,
                                   sizeof(err->message));
        if (rc < 0) {
            /* All or nothing: the switch goes again with the ports made so far. */
            char ignore[8];
            net_registry_remove_switch(reg(opaque), set.sws[0].name, ignore, sizeof(ignore));
        }
    }
    json_t *r = NULL;
    if (rc == 0)
        r = net_registry_switch_stats_json(reg(opaque), set.sws[0].name, err->message,
                                           sizeof(err->message));
    cfg_netset_free(&set);
    return done(rc, err, r);
}

json_t *m_switch_delete(json_t *params, void *opaque, struct rpc_error *err)
{
    const char *name = str_param(params, "name", "a switch name", err);
    if (!name)
        return NULL;
    int rc = net_registry_remove_switch(reg(opaque), name, err->message, sizeof(err->message));
    return done(rc, err, rc ? NULL : json_pack("{s:s}", "deleted", name));
}

json_t *m_switch_list(json_t *params, void *opaque, struct rpc_error *err)
{
    (void)params, (void)err;
    return net_registry_switch_list_json(reg(opaque));
}

json_t *m_switch_stats(json_t *params, void *opaque, struct rpc_error *err)
{
    const char *name = str_param(params, "name", "a switch name", err);
    if (!name)
        return NULL;
    json_t *r =
        net_registry_switch_stats_json(reg(opaque), name, err->message, sizeof(err->message));
    if (!r)
        err->code = RPC_SERVER_ERROR;
    return r;
}

json_t *m_switch_port_add(json_t *params, void *opaque, struct rpc_error *err)
{
    struct cfg_port c;
    int rc = cfg_port_from_json(params, "params", NULL, &c, err->message, sizeof(err->message));
    if (rc < 0)
        return done(rc, err, NULL);
    rc = net_registry_add_port(reg(opaque), &c, err->message, sizeof(err->message));
    json_t *r = rc ? NULL : cfg_port_to_json(&c);
    const char *ifname = rc ? NULL : net_registry_tap_ifname(reg(opaque), c.name);
    if (r && ifname)
        json_object_set_new(r, "ifname", json_string(ifname));
    cfg_port_free(&c);
    return done(rc, err, r);
}

json_t *m_switch_port_delete(json_t *params, void *opaque, struct rpc_error *err)
{
    const char *sw = str_param(params, "switch", "a switch name", err);
    const char *name = sw ? str_param(params, "name", "a port name", err) : NULL;
    if (!name)
        return NULL;
    int rc =
        net_registry_remove_port(reg(opaque), sw, name, err->message, sizeof(err->message));
    return done(rc, err, rc ? NULL : json_pack("{s:s}", "deleted", name));
}
