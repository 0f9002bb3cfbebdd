#include "blk_open.h"

#include <errno.h>
#include <stdio.h>

#include "../remote/rio_client.h"

static struct blk_backend *open_local(const struct cfg_backend *b, bool read_only,
                                      bool fallback, const char **why)
{
    if (b->type == CFG_BE_FILE) {
        struct blk_file_params fp = {.path = b->path, .size = b->size, .direct = b->direct,
                                     .read_only = read_only, .shared = b->shared,
                                     .unlocked = fallback};
        return blk_file_create(&fp, why);
    }
    return blk_null_create(b->size ? b->size : CFG_NULL_DEFAULT_SIZE, 512, why);
}

struct blk_backend *blk_open(const struct cfg_backend *b, bool read_only, const char *what,
                             struct blk_backend **remote, char *err, size_t len)
{
    const char *why = "unknown reason";
    if (remote)
        *remote = NULL;
    if (b->type != CFG_BE_REMOTE) {
        struct blk_backend *be = open_local(b, read_only, false, &why);
        if (!be)
            snprintf(err, len, "%s: cannot open the %s backend%s%s: %s", what,
                     b->type == CFG_BE_FILE ? "file" : "null", b->path ? " " : "",
                     b->path ? b->path : "", why);
        return be;
    }
    const struct cfg_remote *r = b->remote;
    struct blk_backend *fb = NULL;
    if (r->fallback && !(fb = open_local(r->fallback, read_only, true, &why))) {
        snprintf(err, len, "%s: cannot open the fallback backend%s%s: %s", what,
                 r->fallback->path ? " " : "", r->fallback->path ? r->fallback->path : "", why);
        return NULL;
    }
    struct rio_blk_params p = {.server = r->server, .device = r->device, .what = what,
                               .mtu = r->mtu,
                               .window = r->window, .heartbeat_ms = r->heartbeat_ms,
                               .failover_ms = r->failover_ms, .timeout_ms = r->timeout_ms,
                               .size = b->size, .fallback = fb};
    struct blk_backend *be = rio_blk_create(&p, &why);
    if (!be) {
        if (fb)
            fb->ops->destroy(fb);
        snprintf(err, len, "%s: remote backend %s on %s: %s", what, r->device, r->server, why);
        return NULL;
    }
    if (remote)
        *remote = be;
    return be;
}

void blk_remote_effective(struct cfg_remote *r)
{
    struct rio_blk_params p = {.mtu = r->mtu, .window = r->window,
                               .heartbeat_ms = r->heartbeat_ms, .failover_ms = r->failover_ms,
                               .timeout_ms = r->timeout_ms};
    rio_blk_params_defaults(&p);
    r->mtu = p.mtu;
    r->window = p.window;
    r->heartbeat_ms = p.heartbeat_ms;
    r->failover_ms = p.failover_ms;
    r->timeout_ms = p.timeout_ms;
}

int blk_chain_set(struct ip_chain *c, const json_t *interpose, char *err, size_t len)
{
    struct ip_stage *st[IP_MAX_STAGES];
    unsigned n = 0;
    const char *why = "";
    if (interpose && ip_stages_from_json(interpose, st, &n, err, len) < 0)
        return -EINVAL;
    int rc = ip_chain_set(c, st, n, &why);
    if (rc < 0) {
        ip_stages_free(st, n);
        snprintf(err, len, "interpose: %s", why);
    }
    return rc;
}

struct ip_chain *blk_open_chain(struct blk_backend *be, const json_t *interpose,
                                const char *what, char *err, size_t len)
{
    struct ip_chain *c = ip_chain_create(be);
    if (!c) {
        be->ops->destroy(be);
        snprintf(err, len, "%s: out of memory", what);
        return NULL;
    }
    char inner[320];
    if (interpose && blk_chain_set(c, interpose, inner, sizeof(inner)) < 0) {
        ip_chain_backend(c)->ops->destroy(ip_chain_backend(c));
        snprintf(err, len, "%s: %s", what, inner);
        return NULL;
    }
    return c;
}
