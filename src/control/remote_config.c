#include "remote_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../interpose/ip_chain.h"
#include "../remote/rio_io.h"
#include "../remote/rio_wire.h"
#include "config.h"

static const char *const role_names[] = {"local", "vmhost", "iohost"};

int cfg_role_parse(const char *s, enum cfg_role *out)
{
    for (unsigned i = 0; i < 3; i++)
        if (s && strcmp(s, role_names[i]) == 0) {
            *out = (enum cfg_role)i;
            return 0;
        }
    return -EINVAL;
}

const char *cfg_role_name(enum cfg_role r) { return (unsigned)r < 3 ? role_names[r] : "?"; }

static int expect(char *err, size_t len, const char *ctx, const char *key, const char *what,
                  const json_t *got)
{
    char *s = got ? json_dumps(got, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    snprintf(err, len, "%s%s%s: expected %s, got %.60s", ctx, *ctx ? "." : "", key, what,
             s ? s : "nothing");
    free(s);
    return -EINVAL;
}

/* Numbers as JSON numbers or digit strings (the KEY=VAL forms). */
static int json_uint(const json_t *v, unsigned long max, unsigned *out)
{
    unsigned long long n;
    if (json_is_integer(v)) {
        if (json_integer_value(v) < 0)
            return -EINVAL;
        n = (unsigned long long)json_integer_value(v);
    } else if (json_is_string(v) && *json_string_value(v)) {
        char *end;
        n = strtoull(json_string_value(v), &end, 10);
        if (*end || json_string_value(v)[0] == '-')
            return -EINVAL;
    } else {
        return -EINVAL;
    }
    if (n > max)
        return -EINVAL;
    *out = (unsigned)n;
    return 0;
}

static int set_str(char **dst, const char *s)
{
    free(*dst);
    *dst = strdup(s);
    return *dst ? 0 : -ENOMEM;
}

static bool valid_addr(const char *s)
{
    struct sockaddr_storage ss;
    socklen_t l;
    return rio_addr_parse(s, &ss, &l) == 0;
}

void cfg_remote_free(struct cfg_remote *r)
{
    if (!r)
        return;
    free(r->server);
    free(r->device);
    if (r->fallback) {
        cfg_backend_free(r->fallback);
        free(r->fallback);
    }
    free(r);
}

struct cfg_remote *cfg_remote_dup(const struct cfg_remote *r)
{
    struct cfg_remote *n = calloc(1, sizeof(*n));
    if (!n)
        return NULL;
    *n = *r;
    n->server = r->server ? strdup(r->server) : NULL;
    n->device = r->device ? strdup(r->device) : NULL;
    n->fallback = NULL;
    if (r->fallback) {
        n->fallback = calloc(1, sizeof(*n->fallback));
        if (n->fallback && cfg_backend_copy(n->fallback, r->fallback) < 0) {
            free(n->fallback);
            n->fallback = NULL;
        }
    }
    if ((r->server && !n->server) || (r->device && !n->device) ||
        (r->fallback && !n->fallback)) {
        cfg_remote_free(n);
        return NULL;
    }
    return n;
}

static int fallback_from_json(const json_t *v, const char *bctx, struct cfg_remote *r, char *err,
                              size_t len)
{
    char fctx[128];
    snprintf(fctx, sizeof(fctx), "%s.fallback", bctx);
    const json_t *t = json_object_get(v, "type");
    if (!json_is_object(v) || !json_is_string(t) ||
        strcmp(json_string_value(t), "remote") == 0)
        return expect(err, len, bctx, "fallback",
                      "a local backend object like {\"type\": \"file\", \"path\": ...}", v);
    r->fallback = calloc(1, sizeof(*r->fallback));
    if (!r->fallback)
        return -ENOMEM;
    return cfg_backend_from_json(v, fctx, r->fallback, err, len);
}

int cfg_remote_from_json(const json_t *obj, const char *bctx, struct cfg_backend *b, char *err,
                         size_t len)
{
    struct cfg_remote *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    cfg_remote_free(b->remote);
    b->remote = r;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        unsigned *num = strcmp(key, "mtu") == 0            ? &r->mtu
                        : strcmp(key, "window") == 0       ? &r->window
                        : strcmp(key, "heartbeat_ms") == 0 ? &r->heartbeat_ms
                        : strcmp(key, "failover_ms") == 0  ? &r->failover_ms
                        : strcmp(key, "timeout_ms") == 0   ? &r->timeout_ms
                                                           : NULL;
        int rc = 0;
        if (strcmp(key, "type") == 0) {
            continue;
        } else if (strcmp(key, "server") == 0) {
            if (!json_is_string(v) || !valid_addr(json_string_value(v)))
                return expect(err, len, bctx, key,
                              "a numeric IP:PORT like \"10.0.0.2:7000\" (port 1-65535)", v);
            rc = set_str(&r->server, json_string_value(v));
        } else if (strcmp(key, "device") == 0) {
            if (!json_is_string(v) || !*json_string_value(v) ||
                strlen(json_string_value(v)) >= RIO_NAME_MAX)
                return expect(err, len, bctx, key, "the export's name on the iohost", v);
            rc = set_str(&r->device, json_string_value(v));
        } else if (strcmp(key, "size") == 0) {
            const char *s = json_is_string(v) ? json_string_value(v) : NULL;
            if (json_is_integer(v) && json_integer_value(v) >= 0)
                b->size = (uint64_t)json_integer_value(v);
            else if (!s || cfg_parse_size(s, &b->size) < 0)
                return expect(err, len, bctx, key, "a size like 1G or a byte count (below 8 EiB)",
                              v);
        } else if (strcmp(key, "fallback") == 0) {
            rc = fallback_from_json(v, bctx, r, err, len);
        } else if (num) {
            unsigned long max = num == &r->mtu ? RIO_MAX_MTU
                                : num == &r->window ? RIO_ID_SPAN : 3600000;
            unsigned long min = num == &r->mtu ? RIO_MIN_MTU : 1;
            if (json_uint(v, max, num) < 0 || *num < min) {
                char what[64];
                snprintf(what, sizeof(what), "an integer from %lu to %lu", min, max);
                return expect(err, len, bctx, key, what, v);
            }
        } else {
            snprintf(err, len, "%s.%s: unknown key (a remote backend takes server, device, "
                     "size, fallback, mtu, window, heartbeat_ms, failover_ms, timeout_ms)",
                     bctx, key);
            return -EINVAL;
        }
        if (rc)
            return rc;
    }
    return 0;
}

int cfg_remote_blk_pair(struct cfg_device *d, const char *key, const char *val, char *err,
                        size_t len)
{
    bool num = !strcmp(key, "mtu") || !strcmp(key, "failover_ms") || !strcmp(key, "timeout_ms");
    if (!num && strcmp(key, "server") && strcmp(key, "export") && strcmp(key, "fallback"))
        return 1;
    if (!d->backend.remote && !(d->backend.remote = calloc(1, sizeof(*d->backend.remote))))
        return -ENOMEM;
    struct cfg_remote *r = d->backend.remote;
    if (num) {
        json_t *v = json_string(val);
        bool mtu = key[0] == 'm';
        unsigned *dst = mtu ? &r->mtu : key[0] == 'f' ? &r->failover_ms : &r->timeout_ms;
        int rc = json_uint(v, mtu ? RIO_MAX_MTU : 3600000, dst);
        json_decref(v);
        if (rc < 0 || (mtu && r->mtu < RIO_MIN_MTU) || (!mtu && !*dst)) {
            snprintf(err, len, "--blk %s: expected %s, got \"%s\"", key,
                     mtu ? "an MTU from 1280 to 65000" : "milliseconds (at least 1)", val);
            return -EINVAL;
        }
        return 0;
    }
    if (!strcmp(key, "server")) {
        if (!valid_addr(val)) {
            snprintf(err, len,
                     "--blk server: expected a numeric IP:PORT (port 1-65535), got \"%s\"", val);
            return -EINVAL;
        }
        return set_str(&r->server, val);
    }
    if (!strcmp(key, "export")) {
        if (!*val || strlen(val) >= RIO_NAME_MAX) {
            snprintf(err, len, "--blk export: expected a name of 1-63 bytes, got \"%s\"", val);
            return -EINVAL;
        }
        return set_str(&r->device, val);
    }
    if (r->fallback) {
        cfg_backend_free(r->fallback);
        free(r->fallback);
    }
    r->fallback = calloc(1, sizeof(*r->fallback));
    if (!r->fallback || !(r->fallback->path = strdup(val)))
        return -ENOMEM;
    r->fallback->type = CFG_BE_FILE;
    return 0;
}

int cfg_remote_check(const struct cfg_device *d, const char *bpfx, char *err, size_t len)
{
    const struct cfg_remote *r = d->backend.remote;
    if (d->backend.type != CFG_BE_REMOTE) {
        if (r) {
            snprintf(err, len, "%sserver: only remote backends take server, export/device, "
                     "fallback", bpfx);
            return -EINVAL;
        }
        return 0;
    }
    if (!r || !r->server) {
        snprintf(err, len, "%sserver: missing (a remote backend needs the iohost's IP:PORT)",
                 bpfx);
        return -EINVAL;
    }
    if (!r->device) {
        snprintf(err, len, "%sdevice: missing (the export's name on the iohost)", bpfx);
        return -EINVAL;
    }
    return 0;
}

json_t *cfg_remote_to_json(const struct cfg_remote *r)
{
    json_t *o = json_pack("{s:s,s:s,s:i,s:i,s:i,s:i,s:i}", "server", r->server ? r->server : "",
                          "device", r->device ? r->device : "", "mtu", (int)r->mtu, "window",
                          (int)r->window, "heartbeat_ms", (int)r->heartbeat_ms, "failover_ms",
                          (int)r->failover_ms, "timeout_ms", (int)r->timeout_ms);
    if (o && r->fallback)
        json_object_set_new(o, "fallback", cfg_backend_to_json(r->fallback));
    return o;
}

int cfg_interpose_check(const json_t *v, const char *ctx, char *err, size_t len)
{
    struct ip_stage *st[IP_MAX_STAGES];
    unsigned n = 0;
    char inner[256];
    if (ip_stages_from_json(v, st, &n, inner, sizeof(inner)) < 0) {
        snprintf(err, len, "%s%s%s", ctx, *ctx ? "." : "", inner);
        return -EINVAL;
    }
    ip_stages_free(st, n);
    return 0;
}

void cfg_export_free(struct cfg_export *e)
{
    if (!e)
        return;
    free(e->name);
    if (e->backend) {
        cfg_backend_free(e->backend);
        free(e->backend);
    }
    json_decref(e->interpose);
    memset(e, 0, sizeof(*e));
}

int cfg_export_from_json(const json_t *o, const char *ctx, struct cfg_export *out, char *err,
                         size_t len)
{
    struct cfg_export e = {0};
    int rc = -EINVAL;
    if (!json_is_object(o)) {
        expect(err, len, ctx, "", "an export object like {\"name\": \"disk0\", ...}", o);
        return -EINVAL;
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)o, key, v) {
        if (strcmp(key, "name") == 0) {
            if (!json_is_string(v) || !*json_string_value(v) ||
                strlen(json_string_value(v)) >= RIO_NAME_MAX) {
                rc = expect(err, len, ctx, key, "a name of 1-63 bytes", v);
                goto fail;
            }
            if ((rc = set_str(&e.name, json_string_value(v))))
                goto fail;
        } else if (strcmp(key, "read_only") == 0) {
            if (!json_is_boolean(v) && !json_is_string(v)) {
                rc = expect(err, len, ctx, key, "true or false", v);
                goto fail;
            }
            e.read_only = json_is_true(v) || (json_is_string(v) &&
                                              (!strcmp(json_string_value(v), "on") ||
                                               !strcmp(json_string_value(v), "true")));
        } else if (strcmp(key, "backend") == 0) {
            char bctx[96];
            snprintf(bctx, sizeof(bctx), "%s.backend", ctx);
            const json_t *t = json_object_get(v, "type");
            if (json_is_string(t) && strcmp(json_string_value(t), "remote") == 0) {
                rc = expect(err, len, bctx, "type", "\"file\" or \"null\" on an iohost", t);
                goto fail;
            }
            if (!e.backend && !(e.backend = calloc(1, sizeof(*e.backend)))) {
                rc = -ENOMEM;
                goto fail;
            }
            if ((rc = cfg_backend_from_json(v, bctx, e.backend, err, len)))
                goto fail;
        } else if (strcmp(key, "interpose") == 0) {
            if ((rc = cfg_interpose_check(v, ctx, err, len)))
                goto fail;
            e.interpose = json_deep_copy(v);
        } else {
            snprintf(err, len, "%s.%s: unknown key (expected name, backend, read_only, "
                     "interpose)", ctx, key);
            rc = -EINVAL;
            goto fail;
        }
    }
    if (!e.name || !e.backend) {
        snprintf(err, len, "%s.%s: missing (an export needs a name and a backend)", ctx,
                 e.name ? "backend" : "name");
        rc = -EINVAL;
        goto fail;
    }
    *out = e;
    return 0;
fail:
    if (rc == -ENOMEM)
        snprintf(err, len, "out of memory");
    cfg_export_free(&e);
    return rc;
}

json_t *cfg_export_to_json(const struct cfg_export *e)
{
    json_t *o = json_pack("{s:s,s:b,s:o}", "name", e->name, "read_only", e->read_only,
                          "backend", cfg_backend_to_json(e->backend));
    if (o)
        json_object_set_new(o, "interpose",
                            e->interpose ? cfg_stages_shown(e->interpose) : json_array());
    return o;
}

int cfg_iohost_from_json(const json_t *o, struct cfg_iohost *out, char *err, size_t len)
{
    if (!json_is_object(o))
        return expect(err, len, "", "iohost", "an object like {\"listen\": \"0.0.0.0:7000\"}", o);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)o, key, v) {
        if (strcmp(key, "listen") == 0) {
            if (!json_is_string(v) || !valid_addr(json_string_value(v)))
                return expect(err, len, "iohost", key, "a numeric IP:PORT (port 1-65535)", v);
            if (set_str(&out->listen, json_string_value(v)))
                return -ENOMEM;
        } else if (strcmp(key, "net_listen") == 0) {
            if (!json_is_string(v) || !valid_addr(json_string_value(v)))
                return expect(err, len, "iohost", key, "a numeric IP:PORT (port 1-65535)", v);
            if (set_str(&out->net_listen, json_string_value(v)))
                return -ENOMEM;
        } else if (strcmp(key, "mtu") == 0) {
            if (json_uint(v, RIO_MAX_MTU, &out->mtu) < 0 || out->mtu < RIO_MIN_MTU)
                return expect(err, len, "iohost", key, "an MTU from 1280 to 65000", v);
        } else if (strcmp(key, "sockets") == 0) {
            if (json_uint(v, 64, &out->sockets) < 0 || out->sockets < 1)
                return expect(err, len, "iohost", key, "an integer from 1 to 64", v);
        } else {
            snprintf(err, len, "iohost.%s: unknown key (expected listen, net_listen, mtu, sockets)", key);
            return -EINVAL;
        }
    }
    return 0;
}

int cfg_rio_add_export(struct cfg_rio *rio, const struct cfg_export *e)
{
    struct cfg_export *n = realloc(rio->exports, (rio->nr_exports + 1) * sizeof(*n));
    if (!n)
        return -ENOMEM;
    rio->exports = n;
    struct cfg_export *c = &n[rio->nr_exports];
    memset(c, 0, sizeof(*c));
    c->name = strdup(e->name);
    c->read_only = e->read_only;
    c->backend = calloc(1, sizeof(*c->backend));
    c->interpose = e->interpose ? json_incref(e->interpose) : NULL;
    if (!c->name || !c->backend || cfg_backend_copy(c->backend, e->backend) < 0) {
        free(c->backend);
        c->backend = NULL;
        cfg_export_free(c);
        return -ENOMEM;
    }
    rio->nr_exports++;
    return 0;
}

int cfg_rio_add_exports(struct cfg_rio *rio, const json_t *arr, char *err, size_t len)
{
    if (!json_is_array(arr))
        return expect(err, len, "", "exports", "an array of export objects", arr);
    size_t i;
    json_t *o;
    json_array_foreach(arr, i, o) {
        char ctx[32];
        snprintf(ctx, sizeof(ctx), "exports[%zu]", i);
        struct cfg_export e;
        int rc = cfg_export_from_json(o, ctx, &e, err, len);
        if (rc)
            return rc;
        rc = cfg_rio_add_export(rio, &e);
        cfg_export_free(&e);
        if (rc)
            return rc;
    }
    return 0;
}

void cfg_rio_free(struct cfg_rio *rio)
{
    for (unsigned i = 0; i < rio->nr_exports; i++)
        cfg_export_free(&rio->exports[i]);
    free(rio->exports);
    free(rio->io.listen);
    free(rio->io.net_listen);
    memset(rio, 0, sizeof(*rio));
}
