#include "exports.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/log.h"
#include "../remote/rio_server.h"
#include "blk_open.h"

struct exports {
    struct rio_server *srv;
    struct cfg_rio cfg; /* exports as created (interpose kept current) */
};

struct exports *exports_create(struct sc_set *scs, const struct cfg_iohost *io, char *err,
                               size_t len)
{
    struct exports *x = calloc(1, sizeof(*x));
    if (!x) {
        snprintf(err, len, "out of memory");
        return NULL;
    }
    const char *why = "";
    struct rio_server_params p = {.listen = io->listen, .mtu = io->mtu, .sockets = io->sockets};
    x->srv = rio_server_create(&p, scs, &why);
    if (!x->srv) {
        snprintf(err, len, "iohost %s: %s", io->listen ? io->listen : "(no listen address)",
                 why);
        free(x);
        return NULL;
    }
    return x;
}

void exports_destroy(struct exports *x)
{
    if (!x)
        return;
    rio_server_destroy(x->srv);
    cfg_rio_free(&x->cfg);
    free(x);
}

static int find(const struct exports *x, const char *name)
{
    for (unsigned i = 0; i < x->cfg.nr_exports; i++)
        if (strcmp(x->cfg.exports[i].name, name) == 0)
            return (int)i;
    return -1;
}

int exports_add(struct exports *x, const struct cfg_export *e, char *err, size_t len)
{
    if (find(x, e->name) >= 0) {
        snprintf(err, len, "export %s already exists", e->name);
        return -EEXIST;
    }
    for (unsigned i = 0; i < x->cfg.nr_exports; i++) {
        const char *p = x->cfg.exports[i].backend->path;
        if (p && e->backend->path && strcmp(p, e->backend->path) == 0) {
            snprintf(err, len, "backend path %s is already exported as %s", p,
                     x->cfg.exports[i].name);
            return -EEXIST;
        }
    }
    char what[96];
    snprintf(what, sizeof(what), "export %s", e->name);
    struct blk_backend *be = blk_open(e->backend, e->read_only, what, NULL, err, len);
    if (!be)
        return -EIO;
    struct ip_chain *c = blk_open_chain(be, e->interpose, what, err, len);
    if (!c)
        return -EINVAL;
    const char *why = "";
    int rc = rio_server_add_export(x->srv, e->name, ip_chain_backend(c), &why);
    if (rc < 0) {
        ip_chain_backend(c)->ops->destroy(ip_chain_backend(c));
        snprintf(err, len, "%s: %s", what, why);
        return rc;
    }
    if (cfg_rio_add_export(&x->cfg, e) < 0) {
        rio_server_remove_export(x->srv, e->name, &why);
        snprintf(err, len, "out of memory");
        return -ENOMEM;
    }
    return 0;
}

int exports_remove(struct exports *x, const char *name, char *err, size_t len)
{
    int i = find(x, name);
    const char *why = "";
    if (i < 0 || rio_server_remove_export(x->srv, name, &why) < 0) {
        snprintf(err, len, "no export named %s", name);
        return -ENOENT;
    }
    cfg_export_free(&x->cfg.exports[i]);
    x->cfg.exports[i] = x->cfg.exports[--x->cfg.nr_exports];
    LOG_INFO("exports", "export %s deleted", name);
    return 0;
}

int exports_resize(struct exports *x, const char *name, uint64_t bytes, char *err, size_t len)
{
    const char *why = "";
    int rc = find(x, name) < 0 ? -ENOENT : rio_server_resize_export(x->srv, name, bytes, &why);
    if (rc == -ENOENT)
        snprintf(err, len, "no export named %s", name);
    else if (rc < 0)
        snprintf(err, len, "cannot resize export %s to %llu bytes: %s", name,
                 (unsigned long long)bytes, why);
    return rc;
}

int exports_interpose_set(struct exports *x, const char *name, const json_t *stages, char *err,
                          size_t len)
{
    int i = find(x, name);
    struct ip_chain *c = ip_chain_of(rio_server_export_backend(x->srv, name));
    if (i < 0 || !c) {
        snprintf(err, len, "no export named %s", name);
        return -ENOENT;
    }
    int rc = blk_chain_set(c, stages, err, len);
    if (rc == 0) {
        struct cfg_export *e = &x->cfg.exports[i];
        json_decref(e->interpose);
        e->interpose = json_array_size(stages) ? json_deep_copy(stages) : NULL;
    }
    return rc;
}

json_t *exports_json(struct exports *x)
{
    json_t *o = rio_server_stats(x->srv);
    json_t *arr = json_object_get(o, "exports");
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e) {
        const char *name = json_string_value(json_object_get(e, "name"));
        int k = find(x, name);
        if (k >= 0) {
            json_t *c = cfg_export_to_json(&x->cfg.exports[k]);
            /* The server sees the interposition chain around every export's
             * backend: the backend is the configured one. */
            json_t *type = json_object_get(json_object_get(c, "backend"), "type");
            if (type)
                json_object_set(e, "backend", type);
            json_object_set(e, "config", c);
            json_decref(c);
        }
        struct ip_chain *ch = ip_chain_of(rio_server_export_backend(x->srv, name));
        if (ch)
            json_object_set_new(e, "interpose", ip_chain_stats(ch));
    }
    return o;
}
