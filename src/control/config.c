#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void set_err(char *err, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
}

/* The offending value as the user wrote it, shortened for messages. */
static void describe(const json_t *v, char *buf, size_t len)
{
    if (!v) {
        snprintf(buf, len, "nothing");
        return;
    }
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    if (!s) {
        snprintf(buf, len, "(unprintable)");
        return;
    }
    if (strlen(s) > 60)
        snprintf(buf, len, "%.57s...", s);
    else
        snprintf(buf, len, "%s", s);
    free(s);
}

static int expected(char *err, size_t len, const char *ctx, const char *key, const char *what,
                    const json_t *got)
{
    char g[80];
    describe(got, g, sizeof(g));
    set_err(err, len, "%s%s%s: expected %s, got %s", ctx, *ctx ? "." : "", key, what, g);
    return -EINVAL;
}

int cfg_absolute(const char *key, const char *path, char *err, size_t len)
{
    if (!path || path[0] == '/')
        return 0;
    set_err(err, len,
            "%s: expected an absolute path (a relative one would be taken from the "
            "daemon's working directory, not the client's), got \"%s\"",
            key, path);
    return -EINVAL;
}

int cfg_parse_size(const char *s, uint64_t *out)
{
    if (!s || !isdigit((unsigned char)*s))
        return -EINVAL;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return -EINVAL;
    unsigned shift = 0;
    switch (toupper((unsigned char)*end)) {
    case 'K': shift = 10; break;
    case 'M': shift = 20; break;
    case 'G': shift = 30; break;
    case 'T': shift = 40; break;
    case '\0': break;
    default: return -EINVAL;
    }
    if (shift) {
        end++;
        if (*end == 'i' || *end == 'I')
            end++;
        if (*end == 'B' || *end == 'b')
            end++;
    }
    if (*end)
        return -EINVAL;
    /* A file's size is an off_t. */
    if (v > ((uint64_t)INT64_MAX >> shift))
        return -ERANGE;
    *out = (uint64_t)v << shift;
    return 0;
}

static const char *const mode_names[] = {"hybrid", "poll", "notify"};

int cfg_parse_mode(const char *s, enum cfg_mode *out)
{
    for (unsigned i = 0; i < 3; i++) {
        if (s && strcmp(s, mode_names[i]) == 0) {
            *out = (enum cfg_mode)i;
            return 0;
        }
    }
    return -EINVAL;
}

const char *cfg_mode_name(enum cfg_mode m) { return (unsigned)m < 3 ? mode_names[m] : "?"; }

int cfg_parse_log_level(const char *s, enum sc_log_level *out)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    for (unsigned i = 0; i < 4; i++) {
        if (s && strcmp(s, names[i]) == 0) {
            *out = (enum sc_log_level)i;
            return 0;
        }
    }
    return -EINVAL;
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
    if (!s || !isdigit((unsigned char)*s))
        return -EINVAL;
    errno = 0;
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || v > max)
        return -EINVAL;
    *out = v;
    return 0;
}

int cfg_parse_cpu_list(const char *s, int *cpus, unsigned max)
{
    if (!s || !*s)
        return -1;
    char *dup = strdup(s);
    if (!dup)
        return -1;
    int n = 0;
    /* strsep, not strtok: an empty entry ("1,,0") is an error, not skipped. */
    char *rest = dup;
    for (char *tok; (tok = strsep(&rest, ","));) {
        unsigned long v;
        if ((unsigned)n >= max || parse_uint(tok, 4095, &v) < 0) {
            n = -1;
            break;
        }
        cpus[n++] = (int)v;
    }
    free(dup);
    return n;
}

static bool valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > CFG_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && c != '_' && c != '-' && c != '.')
            return false;
    }
    return s[0] != '.';
}

#define NAME_RULE "a name of 1-32 letters, digits, '_', '-' or '.'"

/* Guests show the serial in /dev/disk/by-id names and udev rules: printable
 * ASCII without spaces or '/', at most virtio's 20 bytes. */
static bool valid_serial(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 20)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] <= ' ' || s[i] > '~' || s[i] == '/')
            return false;
    return true;
}

#define SERIAL_RULE "a serial of 1-20 printable ASCII characters without spaces or '/'"

void cfg_device_free(struct cfg_device *d)
{
    if (!d)
        return;
    free(d->name);
    free(d->socket);
    free(d->serial);
    cfg_backend_free(&d->backend);
    json_decref(d->interpose);
    memset(d, 0, sizeof(*d));
}

void cfg_backend_free(struct cfg_backend *b)
{
    free(b->path);
    cfg_remote_free(b->remote);
    memset(b, 0, sizeof(*b));
}

static void device_defaults(struct cfg_device *d)
{
    memset(d, 0, sizeof(*d));
    d->queues = 1;
    d->backend.type = CFG_BE_NULL;
}

/* Checks that span several keys, shared by the JSON and --blk parsers; pfx
 * names device keys and bpfx backend keys (the --blk syntax is flat). */
static int device_finish(struct cfg_device *d, const char *pfx, const char *bpfx, char *err,
                         size_t len)
{
    if (!d->name) {
        set_err(err, len, "%sname: missing (every device needs a name)", pfx);
        return -EINVAL;
    }
    if (d->backend.type == CFG_BE_FILE && !d->backend.path) {
        set_err(err, len, "%spath: missing (a file backend needs a path)", bpfx);
        return -EINVAL;
    }
    if (d->backend.type == CFG_BE_NULL && d->backend.path) {
        set_err(err, len, "%spath: only file backends take a path", bpfx);
        return -EINVAL;
    }
    if (d->backend.type == CFG_BE_NULL && d->backend.direct) {
        set_err(err, len, "%sdirect: only file backends take direct", bpfx);
        return -EINVAL;
    }
    if (d->backend.type == CFG_BE_NULL && d->backend.shared) {
        set_err(err, len, "%sshared: only file backends take shared", bpfx);
        return -EINVAL;
    }
    if (d->backend.type == CFG_BE_REMOTE && (d->backend.path || d->backend.direct)) {
        set_err(err, len, "%spath: a remote backend takes no path or direct (its fallback may)",
                bpfx);
        return -EINVAL;
    }
    if (cfg_remote_check(d, bpfx, err, len) < 0)
        return -EINVAL;
    if (d->backend.size % 512) {
        set_err(err, len, "%ssize: expected a multiple of 512 bytes, got %llu", bpfx,
                (unsigned long long)d->backend.size);
        return -EINVAL;
    }
    if (d->backend.type == CFG_BE_NULL && d->backend.size == 0)
        d->backend.size = CFG_NULL_DEFAULT_SIZE;
    return 0;
}

static int json_size(const json_t *v, uint64_t *out)
{
    if (json_is_integer(v)) {
        if (json_integer_value(v) < 0)
            return -EINVAL;
        *out = (uint64_t)json_integer_value(v);
        return 0;
    }
    if (json_is_string(v))
        return cfg_parse_size(json_string_value(v), out);
    return -EINVAL;
}

static int set_str(char **dst, const char *s)
{
    free(*dst);
    *dst = strdup(s);
    return *dst ? 0 : -ENOMEM;
}

static int backend_from_json(const json_t *obj, const char *ctx, struct cfg_backend *b,
                             char *err, size_t len)
{
    char bctx[96];
    snprintf(bctx, sizeof(bctx), "%s%sbackend", ctx, *ctx ? "." : "");
    if (!json_is_object(obj))
        return expected(err, len, ctx, "backend", "an object like {\"type\": \"null\"}", obj);
    return cfg_backend_from_json(obj, bctx, b, err, len);
}

int cfg_backend_from_json(const json_t *obj, const char *bctx, struct cfg_backend *b, char *err,
                          size_t len)
{
    if (!json_is_object(obj))
        return expected(err, len, "", bctx, "an object like {\"type\": \"null\"}", obj);
    const json_t *t = json_object_get(obj, "type");
    if (!t) {
        set_err(err, len, "%s.type: missing (expected \"null\" or \"file\")", bctx);
        return -EINVAL;
    }
    if (json_is_string(t) && strcmp(json_string_value(t), "null") == 0)
        b->type = CFG_BE_NULL;
    else if (json_is_string(t) && strcmp(json_string_value(t), "file") == 0)
        b->type = CFG_BE_FILE;
    else if (json_is_string(t) && strcmp(json_string_value(t), "remote") == 0)
        b->type = CFG_BE_REMOTE;
    else
        return expected(err, len, bctx, "type", "\"null\", \"file\" or \"remote\"", t);
    if (b->type == CFG_BE_REMOTE)
        return cfg_remote_from_json(obj, bctx, b, err, len);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        if (strcmp(key, "type") == 0) {
            continue;
        } else if (strcmp(key, "path") == 0) {
            if (!json_is_string(v) || !*json_string_value(v))
                return expected(err, len, bctx, key, "a file path string", v);
            if (set_str(&b->path, json_string_value(v)))
                return -ENOMEM;
        } else if (strcmp(key, "size") == 0) {
            if (json_size(v, &b->size) < 0)
                return expected(err, len, bctx, key,
                                "a size like 1G, 512M or a byte count (below 8 EiB)", v);
        } else if (strcmp(key, "direct") == 0 || strcmp(key, "shared") == 0) {
            if (!json_is_boolean(v))
                return expected(err, len, bctx, key, "true or false", v);
            *(key[0] == 'd' ? &b->direct : &b->shared) = json_is_true(v);
        } else {
            set_err(err, len, "%s.%s: unknown key (expected type, path, size, direct, shared)",
                    bctx, key);
            return -EINVAL;
        }
    }
    return 0;
}

int cfg_device_from_json(const json_t *obj, const char *ctx, struct cfg_device *out, char *err,
                         size_t len)
{
    struct cfg_device d;
    device_defaults(&d);
    int rc = -EINVAL;
    if (!json_is_object(obj)) {
        char g[80];
        describe(obj, g, sizeof(g));
        set_err(err, len, "%s: expected a device object, got %s", *ctx ? ctx : "device", g);
        goto fail;
    }
    bool has_backend = false;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        if (strcmp(key, "name") == 0) {
            if (!json_is_string(v) || !valid_name(json_string_value(v))) {
                rc = expected(err, len, ctx, key, NAME_RULE, v);
                goto fail;
            }
            if ((rc = set_str(&d.name, json_string_value(v))))
                goto fail;
        } else if (strcmp(key, "type") == 0) {
            if (!json_is_string(v) || strcmp(json_string_value(v), "blk") != 0) {
                rc = expected(err, len, ctx, key, "\"blk\"", v);
                goto fail;
            }
        } else if (strcmp(key, "socket") == 0) {
            if (!json_is_string(v) || !*json_string_value(v)) {
                rc = expected(err, len, ctx, key, "a unix socket path", v);
                goto fail;
            }
            if ((rc = set_str(&d.socket, json_string_value(v))))
                goto fail;
        } else if (strcmp(key, "serial") == 0) {
            if (!json_is_string(v) || !valid_serial(json_string_value(v))) {
                rc = expected(err, len, ctx, key, SERIAL_RULE, v);
                goto fail;
            }
            if ((rc = set_str(&d.serial, json_string_value(v))))
                goto fail;
        } else if (strcmp(key, "client") == 0 || strcmp(key, "read_only") == 0) {
            if (!json_is_boolean(v)) {
                rc = expected(err, len, ctx, key, "true or false", v);
                goto fail;
            }
            *(key[0] == 'c' ? &d.client : &d.read_only) = json_is_true(v);
        } else if (strcmp(key, "queues") == 0) {
            if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 64) {
                rc = expected(err, len, ctx, key, "an integer from 1 to 64", v);
                goto fail;
            }
            d.queues = (unsigned)json_integer_value(v);
        } else if (strcmp(key, "backend") == 0) {
            if ((rc = backend_from_json(v, ctx, &d.backend, err, len)))
                goto fail;
            has_backend = true;
        } else if (strcmp(key, "interpose") == 0) {
            if ((rc = cfg_interpose_check(v, ctx, err, len)))
                goto fail;
            json_decref(d.interpose);
            d.interpose = json_deep_copy(v);
        } else {
            set_err(err, len,
                    "%s%s%s: unknown key (expected name, type, socket, serial, client, "
                    "queues, read_only, backend, interpose)",
                    ctx, *ctx ? "." : "", key);
            goto fail;
        }
    }
    if (!has_backend && d.name) {
        set_err(err, len, "%s%sbackend: missing (expected {\"type\": \"null\"|\"file\", ...})",
                ctx, *ctx ? "." : "");
        goto fail;
    }
    char pfx[48], bpfx[64];
    snprintf(pfx, sizeof(pfx), "%s%s", ctx, *ctx ? "." : "");
    snprintf(bpfx, sizeof(bpfx), "%sbackend.", pfx);
    if ((rc = device_finish(&d, pfx, bpfx, err, len)))
        goto fail;
    *out = d;
    return 0;
fail:
    if (rc == -ENOMEM)
        set_err(err, len, "out of memory");
    cfg_device_free(&d);
    return rc ? rc : -EINVAL;
}

static int blk_bool(const char *key, const char *val, bool *out, char *err, size_t len)
{
    if (strcmp(val, "on") == 0 || strcmp(val, "true") == 0 || strcmp(val, "1") == 0) {
        *out = true;
        return 0;
    }
    if (strcmp(val, "off") == 0 || strcmp(val, "false") == 0 || strcmp(val, "0") == 0) {
        *out = false;
        return 0;
    }
    set_err(err, len, "--blk %s: expected on or off, got \"%s\"", key, val);
    return -EINVAL;
}

static int blk_pair(struct cfg_device *d, const char *key, const char *val, char *err,
                    size_t len)
{
    if (strcmp(key, "name") == 0) {
        if (!valid_name(val)) {
            set_err(err, len, "--blk name: expected " NAME_RULE ", got \"%s\"", val);
            return -EINVAL;
        }
        return set_str(&d->name, val);
    }
    if (strcmp(key, "socket") == 0 || strcmp(key, "path") == 0) {
        if (!*val) {
            set_err(err, len, "--blk %s: expected a path, got an empty value", key);
            return -EINVAL;
        }
        return set_str(key[0] == 's' ? &d->socket : &d->backend.path, val);
    }
    if (strcmp(key, "backend") == 0) {
        if (strcmp(val, "null") == 0)
            d->backend.type = CFG_BE_NULL;
        else if (strcmp(val, "file") == 0)
            d->backend.type = CFG_BE_FILE;
        else if (strcmp(val, "remote") == 0)
            d->backend.type = CFG_BE_REMOTE;
        else {
            set_err(err, len, "--blk backend: expected null, file or remote, got \"%s\"", val);
            return -EINVAL;
        }
        return 0;
    }
    if (strcmp(key, "size") == 0) {
        if (cfg_parse_size(val, &d->backend.size) < 0) {
            set_err(err, len,
                    "--blk size: expected a size like 1G, 512M or a byte count (below 8 EiB), "
                    "got \"%s\"", val);
            return -EINVAL;
        }
        return 0;
    }
    if (strcmp(key, "queues") == 0) {
        unsigned long q;
        if (parse_uint(val, 64, &q) < 0 || q < 1) {
            set_err(err, len, "--blk queues: expected an integer from 1 to 64, got \"%s\"", val);
            return -EINVAL;
        }
        d->queues = (unsigned)q;
        return 0;
    }
    if (strcmp(key, "serial") == 0) {
        if (!valid_serial(val)) {
            set_err(err, len, "--blk serial: expected %s, got \"%s\"", SERIAL_RULE, val);
            return -EINVAL;
        }
        return set_str(&d->serial, val);
    }
    if (strcmp(key, "readonly") == 0 || strcmp(key, "read_only") == 0)
        return blk_bool(key, val, &d->read_only, err, len);
    if (strcmp(key, "direct") == 0)
        return blk_bool(key, val, &d->backend.direct, err, len);
    if (strcmp(key, "shared") == 0)
        return blk_bool(key, val, &d->backend.shared, err, len);
    if (strcmp(key, "client") == 0)
        return blk_bool(key, val, &d->client, err, len);
    int rrc = cfg_remote_blk_pair(d, key, val, err, len);
    if (rrc <= 0)
        return rrc;
    set_err(err, len,
            "--blk %s: unknown key (expected name, socket, serial, backend, path, size, "
            "queues, readonly, direct, shared, client; remote: server, export, fallback, mtu, "
            "failover_ms, timeout_ms)",
            key);
    return -EINVAL;
}

int cfg_device_from_blk_arg(const char *arg, struct cfg_device *out, char *err, size_t len)
{
    struct cfg_device d;
    device_defaults(&d);
    char *dup = strdup(arg);
    int rc = -ENOMEM;
    if (!dup)
        goto fail;
    char *save = NULL;
    const char *seen[32];
    unsigned nseen = 0;
    for (char *tok = strtok_r(dup, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq) {
            set_err(err, len, "--blk: expected KEY=VALUE, got \"%s\"", tok);
            rc = -EINVAL;
            goto fail;
        }
        *eq = '\0';
        /* A key given twice is a typo or a paste: the last one won silently. */
        for (unsigned i = 0; i < nseen; i++)
            if (strcmp(seen[i], tok) == 0) {
                set_err(err, len, "--blk %s: given twice", tok);
                rc = -EINVAL;
                goto fail;
            }
        if (nseen < sizeof(seen) / sizeof(seen[0]))
            seen[nseen++] = tok;
        if ((rc = blk_pair(&d, tok, eq + 1, err, len)))
            goto fail;
    }
    if ((rc = device_finish(&d, "--blk ", "--blk ", err, len)))
        goto fail;
    free(dup);
    *out = d;
    return 0;
fail:
    if (rc == -ENOMEM)
        set_err(err, len, "out of memory");
    free(dup);
    cfg_device_free(&d);
    return rc;
}

int cfg_device_copy(struct cfg_device *dst, const struct cfg_device *src)
{
    *dst = *src;
    dst->name = src->name ? strdup(src->name) : NULL;
    dst->socket = src->socket ? strdup(src->socket) : NULL;
    dst->serial = src->serial ? strdup(src->serial) : NULL;
    dst->interpose = src->interpose ? json_incref(src->interpose) : NULL;
    int rc = cfg_backend_copy(&dst->backend, &src->backend);
    if ((src->name && !dst->name) || (src->socket && !dst->socket) ||
        (src->serial && !dst->serial) || rc) {
        cfg_device_free(dst);
        return -ENOMEM;
    }
    return 0;
}

int cfg_backend_copy(struct cfg_backend *dst, const struct cfg_backend *src)
{
    *dst = *src;
    dst->path = src->path ? strdup(src->path) : NULL;
    dst->remote = src->remote ? cfg_remote_dup(src->remote) : NULL;
    if ((src->path && !dst->path) || (src->remote && !dst->remote)) {
        cfg_backend_free(dst);
        return -ENOMEM;
    }
    return 0;
}

json_t *cfg_backend_to_json(const struct cfg_backend *b)
{
    static const char *const names[] = {"null", "file", "remote"};
    json_t *be = json_pack("{s:s,s:I}", "type", names[b->type], "size", (json_int_t)b->size);
    if (!be)
        return NULL;
    if (b->type == CFG_BE_FILE) {
        json_object_set_new(be, "path", json_string(b->path ? b->path : ""));
        json_object_set_new(be, "direct", json_boolean(b->direct));
        json_object_set_new(be, "shared", json_boolean(b->shared));
    } else if (b->type == CFG_BE_REMOTE && b->remote) {
        json_t *r = cfg_remote_to_json(b->remote);
        json_object_update(be, r);
        json_decref(r);
    }
    return be;
}

json_t *cfg_stages_shown(const json_t *stages)
{
    json_t *out = json_deep_copy(stages);
    size_t i;
    json_t *st;
    json_array_foreach(out, i, st) {
        if (json_is_object(st) && json_object_get(st, "key"))
            json_object_set_new(st, "key", json_string("(hidden)"));
    }
    return out;
}

json_t *cfg_device_to_json(const struct cfg_device *d)
{
    json_t *be = cfg_backend_to_json(&d->backend);
    if (!be)
        return NULL;
    json_t *o = json_pack("{s:s,s:s,s:s,s:b,s:i,s:b,s:o}", "name", d->name ? d->name : "",
                          "type", "blk", "socket", d->socket ? d->socket : "", "client",
                          d->client, "queues", (int)d->queues, "read_only", d->read_only,
                          "backend", be);
    if (o && d->serial)
        json_object_set_new(o, "serial", json_string(d->serial));
    if (o && d->interpose)
        json_object_set_new(o, "interpose", cfg_stages_shown(d->interpose));
    return o;
}

static int sidecores_from_json(const json_t *obj, struct cfg_sidecores *s, char *err, size_t len)
{
    if (!json_is_object(obj))
        return expected(err, len, "", "sidecores", "an object like {\"count\": 1}", obj);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        if (strcmp(key, "count") == 0) {
            if (!json_is_integer(v) || json_integer_value(v) < 1 ||
                json_integer_value(v) > CFG_MAX_SIDECORES)
                return expected(err, len, "sidecores", key, "an integer from 1 to 64", v);
            s->count = (unsigned)json_integer_value(v);
        } else if (strcmp(key, "cpus") == 0) {
            if (!json_is_array(v) || json_array_size(v) > CFG_MAX_SIDECORES)
                return expected(err, len, "sidecores", key, "an array of cpu numbers", v);
            size_t i;
            json_t *c;
            json_array_foreach(v, i, c) {
                if (!json_is_integer(c) || json_integer_value(c) < -1 ||
                    json_integer_value(c) > 4095) {
                    char k[32];
                    snprintf(k, sizeof(k), "cpus[%zu]", i);
                    return expected(err, len, "sidecores", k, "a cpu number (or -1: not pinned)",
                                    c);
                }
                s->cpus[i] = (int)json_integer_value(c);
            }
            s->nr_cpus = (unsigned)json_array_size(v);
        } else if (strcmp(key, "idle_us") == 0) {
            if (!json_is_integer(v) || json_integer_value(v) < 0 ||
                json_integer_value(v) > 10000000)
                return expected(err, len, "sidecores", key, "microseconds from 0 to 10000000", v);
            s->idle_us = (unsigned)json_integer_value(v);
            s->has_idle_us = true;
        } else if (strcmp(key, "prefault_threads") == 0) {
            if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 64)
                return expected(err, len, "sidecores", key, "a thread count from 0 to 64", v);
            s->prefault_threads = (unsigned)json_integer_value(v);
        } else if (strcmp(key, "mode") == 0) {
            if (!json_is_string(v) || cfg_parse_mode(json_string_value(v), &s->mode) < 0)
                return expected(err, len, "sidecores", key, "\"hybrid\", \"poll\" or \"notify\"",
                                v);
            s->has_mode = true;
        } else {
            set_err(err, len,
                    "sidecores.%s: unknown key (expected count, cpus, idle_us, mode, "
                    "prefault_threads)",
                    key);
            return -EINVAL;
        }
    }
    return 0;
}

int cfg_add_device(struct sc_config *c, const struct cfg_device *d)
{
    struct cfg_device *n = realloc(c->devices, (c->nr_devices + 1) * sizeof(*n));
    if (!n)
        return -ENOMEM;
    c->devices = n;
    if (cfg_device_copy(&n[c->nr_devices], d))
        return -ENOMEM;
    c->nr_devices++;
    return 0;
}

static int top_string(const json_t *v, const char *key, char **dst, char *err, size_t len)
{
    if (!json_is_string(v) || !*json_string_value(v))
        return expected(err, len, "", key, "a path string", v);
    return set_str(dst, json_string_value(v));
}

int cfg_from_json(const json_t *root, struct sc_config *out, char *err, size_t len)
{
    struct sc_config c = {0};
    int rc = -EINVAL;
    if (!json_is_object(root)) {
        char g[80];
        describe(root, g, sizeof(g));
        set_err(err, len, "config: expected a JSON object at the top level, got %s", g);
        return -EINVAL;
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)root, key, v) {
        if (strcmp(key, "runtime_dir") == 0) {
            if ((rc = top_string(v, key, &c.runtime_dir, err, len)))
                goto fail;
        } else if (strcmp(key, "rpc_socket") == 0) {
            if ((rc = top_string(v, key, &c.rpc_socket, err, len)))
                goto fail;
        } else if (strcmp(key, "socket_group") == 0) {
            /* Resolved at start-up: the group may be created after the file. */
            if (json_is_integer(v) && json_integer_value(v) >= 0)
                rc = asprintf(&c.socket_group, "%lld", (long long)json_integer_value(v)) < 0;
            else if (json_is_string(v) && *json_string_value(v))
                rc = !(c.socket_group = strdup(json_string_value(v)));
            else
                rc = expected(err, len, "", key, "a group name or number", v);
            if (rc > 0) {
                set_err(err, len, "out of memory");
                rc = -ENOMEM;
            }
            if (rc)
                goto fail;
        } else if (strcmp(key, "log_level") == 0) {
            if (!json_is_string(v) || cfg_parse_log_level(json_string_value(v), &c.log_level)) {
                rc = expected(err, len, "", key, "\"error\", \"warn\", \"info\" or \"debug\"", v);
                goto fail;
            }
            c.has_log_level = true;
        } else if (strcmp(key, "sidecores") == 0) {
            if ((rc = sidecores_from_json(v, &c.sidecores, err, len)))
                goto fail;
        } else if (strcmp(key, "devices") == 0) {
            if (!json_is_array(v)) {
                rc = expected(err, len, "", key, "an array of device objects", v);
                goto fail;
            }
            size_t i;
            json_t *dv;
            json_array_foreach(v, i, dv) {
                char ctx[32];
                snprintf(ctx, sizeof(ctx), "devices[%zu]", i);
                struct cfg_device d;
                if ((rc = cfg_device_from_json(dv, ctx, &d, err, len)))
                    goto fail;
                rc = cfg_add_device(&c, &d);
                cfg_device_free(&d);
                if (rc)
                    goto fail;
            }
        } else if (strcmp(key, "switches") == 0) {
            if ((rc = cfg_netset_add_switches(&c.net, v, err, len)))
                goto fail;
        } else if (strcmp(key, "net_devices") == 0) {
            if ((rc = cfg_netset_add_nets(&c.net, v, err, len)))
                goto fail;
        } else if (strcmp(key, "role") == 0) {
            if (!json_is_string(v) || cfg_role_parse(json_string_value(v), &c.rio.role) < 0) {
                rc = expected(err, len, "", key, "\"local\", \"vmhost\" or \"iohost\"", v);
                goto fail;
            }
            c.rio.has_role = true;
        } else if (strcmp(key, "iohost") == 0) {
            if ((rc = cfg_iohost_from_json(v, &c.rio.io, err, len)))
                goto fail;
        } else if (strcmp(key, "exports") == 0) {
            if ((rc = cfg_rio_add_exports(&c.rio, v, err, len)))
                goto fail;
        } else {
            set_err(err, len,
                    "%s: unknown key (expected runtime_dir, rpc_socket, socket_group, log_level, sidecores, "
                    "devices, switches, net_devices, role, iohost, exports)",
                    key);
            rc = -EINVAL;
            goto fail;
        }
    }
    *out = c;
    return 0;
fail:
    if (rc == -ENOMEM)
        set_err(err, len, "out of memory");
    cfg_free(&c);
    return rc;
}

int cfg_load_file(const char *path, struct sc_config *out, char *err, size_t len)
{
    json_error_t jerr;
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        set_err(err, len, "%s: is a directory (give a JSON config file)", path);
        return -EINVAL;
    }
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        if (jerr.line < 0)
            set_err(err, len, "%s: %s", path, jerr.text);
        else
            set_err(err, len, "%s:%d:%d: invalid JSON: %s", path, jerr.line, jerr.column,
                    jerr.text);
        return -EINVAL;
    }
    char inner[384];
    int rc = cfg_from_json(root, out, inner, sizeof(inner));
    json_decref(root);
    if (rc)
        set_err(err, len, "%s: %s", path, inner);
    return rc;
}

void cfg_free(struct sc_config *c)
{
    if (!c)
        return;
    for (unsigned i = 0; i < c->nr_devices; i++)
        cfg_device_free(&c->devices[i]);
    free(c->devices);
    cfg_netset_free(&c->net);
    cfg_rio_free(&c->rio);
    free(c->runtime_dir);
    free(c->rpc_socket);
    free(c->socket_group);
    memset(c, 0, sizeof(*c));
}
