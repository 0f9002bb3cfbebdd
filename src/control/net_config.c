/* Net configuration parsing (see net_config.h). */
#include "net_config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../backend/net_port.h"
#include "../backend/net_sink.h"
#include "../backend/net_tap.h"
#include "../backend/net_switch.h"
#include "../dev/net.h"
#include "../remote/rio_io.h"
#include "../remote/rnet_wire.h"
#include "config.h"

#define NAME_RULE "a name of 1-32 letters, digits, '_', '-' or '.'"

static int fail(char *err, size_t len, const char *ctx, const char *key, const char *what,
                const json_t *got)
{
    char g[80] = "nothing";
    if (got) {
        char *s = json_dumps(got, JSON_ENCODE_ANY | JSON_COMPACT);
        if (s)
            snprintf(g, sizeof(g), strlen(s) > 60 ? "%.57s..." : "%s", s);
        free(s);
    }
    snprintf(err, len, "%s%s%s: expected %s, got %s", ctx, *ctx ? "." : "", key, what, g);
    return -EINVAL;
}

static bool valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > CFG_NAME_MAX || s[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-' && s[i] != '.')
            return false;
    return true;
}

static int get_uint(const json_t *v, uint64_t min, uint64_t max, uint64_t *out)
{
    uint64_t x;
    if (json_is_integer(v)) {
        if (json_integer_value(v) < 0)
            return -1;
        x = (uint64_t)json_integer_value(v);
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        if (!isdigit((unsigned char)*s))
            return -1;
        errno = 0;
        x = strtoull(s, &end, 10);
        if (errno || *end)
            return -1;
    } else {
        return -1;
    }
    if (x < min || x > max)
        return -1;
    *out = x;
    return 0;
}

static int get_bool(const json_t *v, bool *out)
{
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
        return 0;
    }
    static const char *const yes[] = {"on", "yes", "true", "1"}, *const no[] = {"off", "no",
                                                                               "false", "0"};
    const char *s = json_string_value(v);
    for (unsigned i = 0; s && i < 4; i++) {
        if (strcmp(s, yes[i]) == 0)
            return *out = true, 0;
        if (strcmp(s, no[i]) == 0)
            return *out = false, 0;
    }
    return -1;
}

static int get_name(const json_t *v, char **out)
{
    const char *s = json_string_value(v);
    if (!s || !valid_name(s))
        return -1;
    *out = strdup(s);
    return *out ? 0 : -ENOMEM;
}

/* Replaces *dst with name v; a bad one is reported as KEY of CTX. */
static int set_name(const json_t *v, char **dst, char *err, size_t len, const char *ctx,
                    const char *key)
{
    free(*dst);
    *dst = NULL;
    int rc = get_name(v, dst);
    if (rc && rc != -ENOMEM)
        rc = fail(err, len, ctx, key, NAME_RULE, v);
    return rc;
}

static int get_mac(const json_t *v, uint8_t mac[6])
{
    return net_mac_parse(json_string_value(v), mac);
}

/* A MAC from the name, and for a remote device also the address this host
 * reaches its iohost from: every vmhost's "net0" meets the others on the
 * iohost's switch, and one MAC for all of them cut the guests off from each
 * other. The address is the one the kernel picks for the route (a UDP
 * connect sends nothing); without a route, the name alone. */
static void default_mac(struct cfg_net *c)
{
    char key[160];
    snprintf(key, sizeof(key), "%s", c->name);
    struct sockaddr_storage to, local;
    socklen_t tlen, llen = sizeof(local);
    if (c->server && rio_addr_parse(c->server, &to, &tlen) == 0) {
        int fd = socket(to.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&to, tlen) == 0 &&
            getsockname(fd, (struct sockaddr *)&local, &llen) == 0) {
            char addr[80];
            rio_addr_format((struct sockaddr *)&local, addr, sizeof(addr));
            char *colon = strrchr(addr, ':'); /* the port is the kernel's pick */
            if (colon)
                *colon = '\0';
            snprintf(key, sizeof(key), "%s@%s", c->name, addr);
        }
        if (fd >= 0)
            close(fd);
    }
    net_mac_from_name(key, 0x52, c->mac);
}

/* The kernel's rules for interface names (dev_valid_name), so a bad one is
 * refused here with a reason instead of by TUNSETIFF without one. */
static bool ifname_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 15 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '/' || s[i] == ':' || (unsigned char)s[i] <= ' ' || s[i] == 0x7f)
            return false;
    return true;
}

/* source_size / source_dst / source_count; 1 = handled, 0 = not a source
 * key, < 0 = error. */
static int source_key(const char *key, const json_t *v, struct cfg_source *s, const char *ctx,
                      char *err, size_t len)
{
    uint64_t x;
    if (strcmp(key, "source_size") == 0) {
        if (get_uint(v, 0, NET_SOURCE_MAX, &x) < 0 || (x && x < NET_SOURCE_MIN))
            return fail(err, len, ctx, key, "0 or a frame size of 60..9000 bytes", v);
        s->size = (uint32_t)x;
    } else if (strcmp(key, "source_dst") == 0) {
        if (get_mac(v, s->dst) < 0)
            return fail(err, len, ctx, key, "a MAC address like 52:54:00:12:34:56", v);
        s->has_dst = true;
    } else if (strcmp(key, "source_count") == 0) {
        if (get_uint(v, 0, UINT64_MAX, &x) < 0)
            return fail(err, len, ctx, key, "a frame count (0 = unlimited)", v);
        s->count = x;
    } else {
        return 0;
    }
    return 1;
}

static int need_object(const json_t *o, const char *ctx, const char *example, char *err,
                       size_t len)
{
    if (json_is_object(o))
        return 0;
    snprintf(err, len, "%s: expected an object like %s", ctx, example);
    return -EINVAL;
}

int cfg_switch_from_json(const json_t *o, const char *ctx, struct cfg_switch *out, char *err,
                         size_t len)
{
    struct cfg_switch c = {.mac_table = NET_SW_DEFAULT_MACS, .aging = NET_SW_DEFAULT_AGING_S};
    const char *key;
    json_t *v;
    uint64_t x;
    int rc = need_object(o, ctx, "{\"name\": \"sw0\"}", err, len);
    if (rc)
        return rc;
    json_object_foreach((json_t *)o, key, v) {
        if (strcmp(key, "name") == 0) {
            free(c.name);
            c.name = NULL;
            if ((rc = get_name(v, &c.name)))
                goto bad;
        } else if (strcmp(key, "mac_table") == 0) {
            if (get_uint(v, 16, 1u << 20, &x) < 0) {
                rc = fail(err, len, ctx, key, "a table size of 16..1048576 entries", v);
                goto out;
            }
            c.mac_table = (uint32_t)x;
        } else if (strcmp(key, "aging") == 0) {
            if (get_uint(v, 1, 1000000, &x) < 0) {
                rc = fail(err, len, ctx, key, "seconds, 1..1000000", v);
                goto out;
            }
            c.aging = (uint32_t)x;
        } else if (strcmp(key, "ports") != 0) {
            snprintf(err, len, "%s.%s: unknown key (expected name, mac_table, aging, ports)",
                     ctx, key);
            rc = -EINVAL;
            goto out;
        }
        continue;
    bad:
        if (rc == -ENOMEM)
            goto out;
        rc = fail(err, len, ctx, key, NAME_RULE, v);
        goto out;
    }
    if (!c.name) {
        rc = fail(err, len, ctx, "name", NAME_RULE, NULL);
        goto out;
    }
    *out = c;
    return 0;
out:
    cfg_switch_free(&c);
    return rc;
}

int cfg_port_from_json(const json_t *o, const char *ctx, const char *sw, struct cfg_port *out,
                       char *err, size_t len)
{
    struct cfg_port c = {.type = CFG_PORT_SINK, .queues = 1};
    uint64_t x;
    bool has_queues = false;
    const char *key;
    json_t *v;
    bool has_type = false;
    int rc = need_object(o, ctx, "{\"name\": \"sctap0\", \"type\": \"tap\"}", err, len);
    if (rc)
        return rc;
    if (sw && !(c.sw = strdup(sw)))
        return -ENOMEM;
    memset(c.src.dst, 0xff, 6);
    json_object_foreach((json_t *)o, key, v) {
        if (strcmp(key, "name") == 0 || strcmp(key, "switch") == 0) {
            if ((rc = set_name(v, key[0] == 'n' ? &c.name : &c.sw, err, len, ctx, key)))
                goto out;
        } else if (strcmp(key, "type") == 0) {
            const char *t = json_string_value(v);
            if (!t || (strcmp(t, "tap") && strcmp(t, "sink"))) {
                rc = fail(err, len, ctx, key, "\"tap\" or \"sink\"", v);
                goto out;
            }
            c.type = strcmp(t, "tap") == 0 ? CFG_PORT_TAP : CFG_PORT_SINK;
            has_type = true;
        } else if (strcmp(key, "ifname") == 0) {
            const char *s = json_string_value(v);
            if (!s || !ifname_ok(s)) {
                rc = fail(err, len, ctx, key, "an interface name of 1-15 characters (not \".\" "
                          "or \"..\", no '/', ':', spaces or control characters)", v);
                goto out;
            }
            free(c.ifname);
            if (!(c.ifname = strdup(s))) {
                rc = -ENOMEM;
                goto out;
            }
        } else if (strcmp(key, "queues") == 0) {
            if (get_uint(v, 1, NET_TAP_MAX_QUEUES, &x) < 0) {
                rc = fail(err, len, ctx, key, "a number of tap queues, 1..16", v);
                goto out;
            }
            c.queues = (unsigned)x;
            has_queues = true;
        } else if ((rc = source_key(key, v, &c.src, ctx, err, len)) != 1) {
            if (rc == 0) {
                snprintf(err, len, "%s.%s: unknown key (expected name, switch, type, ifname, "
                         "queues, source_size, source_dst, source_count)", ctx, key);
                rc = -EINVAL;
            }
            goto out;
        }
    }
    rc = -EINVAL;
    if (!c.name)
        fail(err, len, ctx, "name", NAME_RULE, NULL);
    else if (!c.sw)
        fail(err, len, ctx, "switch", "the name of the switch to join", NULL);
    else if (!has_type)
        fail(err, len, ctx, "type", "\"tap\" or \"sink\"", NULL);
    else if (c.type == CFG_PORT_TAP && c.src.size)
        snprintf(err, len, "%s: source_* keys belong to sink ports, not taps", ctx);
    else if (c.type == CFG_PORT_SINK && (c.ifname || has_queues))
        snprintf(err, len, "%s: %s belongs to tap ports, not sinks", ctx,
                 c.ifname ? "ifname" : "queues");
    else
        rc = 0;
    if (rc == 0) {
        *out = c;
        return 0;
    }
out:
    cfg_port_free(&c);
    return rc;
}

int cfg_net_from_json(const json_t *o, const char *ctx, struct cfg_net *out, char *err,
                      size_t len)
{
    struct cfg_net c = {.queues = 1, .mtu = NET_DEFAULT_MTU, .offload = true};
    const char *key;
    json_t *v;
    uint64_t x;
    bool has_mac = false;
    int rc = need_object(o, ctx, "{\"name\": \"net0\", \"switch\": \"sw0\"}", err, len);
    if (rc)
        return rc;
    json_object_foreach((json_t *)o, key, v) {
        if (strcmp(key, "name") == 0 || strcmp(key, "switch") == 0) {
            if ((rc = set_name(v, key[0] == 'n' ? &c.name : &c.sw, err, len, ctx, key)))
                goto out;
        } else if (strcmp(key, "socket") == 0) {
            const char *s = json_string_value(v);
            if (!s || !*s) {
                rc = fail(err, len, ctx, key, "a socket path", v);
                goto out;
            }
            free(c.socket);
            if (!(c.socket = strdup(s))) {
                rc = -ENOMEM;
                goto out;
            }
        } else if (strcmp(key, "client") == 0 || strcmp(key, "offload") == 0) {
            if (get_bool(v, key[0] == 'c' ? &c.client : &c.offload) < 0) {
                rc = fail(err, len, ctx, key, "on or off", v);
                goto out;
            }
        } else if (strcmp(key, "queues") == 0) {
            if (get_uint(v, 1, NET_MAX_PAIRS, &x) < 0) {
                rc = fail(err, len, ctx, key, "a number of queue pairs, 1..16", v);
                goto out;
            }
            c.queues = (unsigned)x;
        } else if (strcmp(key, "mtu") == 0) {
            if (get_uint(v, 68, 65535, &x) < 0) {
                rc = fail(err, len, ctx, key, "an MTU of 68..65535", v);
                goto out;
            }
            c.mtu = (unsigned)x;
        } else if (strcmp(key, "mac") == 0) {
            static const uint8_t zero[6];
            if (get_mac(v, c.mac) < 0 || (c.mac[0] & 1) || !memcmp(c.mac, zero, 6)) {
                rc = fail(err, len, ctx, key,
                          "a unicast MAC address like 52:54:00:12:34:56 (not all zeros)", v);
                goto out;
            }
            has_mac = true;
        } else if (strcmp(key, "server") == 0 || strcmp(key, "remote_switch") == 0) {
            bool srv = key[0] == 's';
            char **dst = srv ? &c.server : &c.rswitch;
            const char *s = json_string_value(v);
            free(*dst);
            *dst = NULL;
            if (!s || !*s || strlen(s) > 79 || (!srv && !valid_name(s))) {
                rc = fail(err, len, ctx, key, srv ? "an IP:PORT of an iohost's net listener"
                                                  : NAME_RULE, v);
                goto out;
            }
            if (!(*dst = strdup(s))) {
                rc = -ENOMEM;
                goto out;
            }
        } else if (strcmp(key, "heartbeat_ms") == 0) {
            if (get_uint(v, 1, 1000, &x) < 0) {
                rc = fail(err, len, ctx, key, "milliseconds, 1..1000 (the iohost forgets a "
                          "peer silent for 10 s)", v);
                goto out;
            }
            c.heartbeat_ms = (unsigned)x;
        } else if (strcmp(key, "backend") == 0) {
            const char *s = json_string_value(v);
            if (!s || strcmp(s, "sink")) {
                rc = fail(err, len, ctx, key, "\"sink\" (or a switch=NAME instead)", v);
                goto out;
            }
            c.sink = true;
        } else if ((rc = source_key(key, v, &c.src, ctx, err, len)) != 1) {
            if (rc == 0) {
                snprintf(err, len, "%s.%s: unknown key (expected name, socket, client, queues, "
                         "mac, mtu, offload, switch, backend, source_size, source_dst, "
                         "source_count, server, remote_switch, heartbeat_ms)", ctx, key);
                rc = -EINVAL;
            }
            goto out;
        }
    }
    rc = -EINVAL;
    if (!c.name)
        fail(err, len, ctx, "name", NAME_RULE, NULL);
    else if ((c.sw != NULL) + c.sink + (c.server != NULL) != 1)
        snprintf(err, len, "%s: give exactly one of switch=NAME, backend=sink and "
                 "server=IP:PORT (remote)", ctx);
    else if (!c.server != !c.rswitch)
        snprintf(err, len, "%s: server and remote_switch go together", ctx);
    else if (c.heartbeat_ms && !c.server)
        snprintf(err, len, "%s: heartbeat_ms needs server=IP:PORT", ctx);
    else if (c.server && c.mtu + 18 > RNET_MAX_FRAME)
        /* The tunnel carries a frame in one datagram: the guest would be
         * told of frames the path drops. */
        snprintf(err, len, "%s: mtu %u is more than a remote device carries (at most %u: a "
                 "frame travels in one UDP datagram)", ctx, c.mtu, RNET_MAX_FRAME - 18);
    else if (!c.sink && (c.src.size || c.src.count || c.src.has_dst))
        snprintf(err, len, "%s: source_* keys need backend=sink (on a switch, add a sink port)",
                 ctx);
    else if (c.src.size > c.mtu + 18)
        /* The device would drop every frame as over_mtu. */
        snprintf(err, len, "%s: source_size %u is longer than mtu %u allows (mtu + 18 bytes of "
                 "Ethernet header and VLAN tag): raise mtu", ctx, c.src.size, c.mtu);
    else
        rc = 0;
    if (rc == 0) {
        if (!has_mac)
            default_mac(&c);
        if (!c.src.has_dst)
            memcpy(c.src.dst, c.mac, 6);
        *out = c;
        return 0;
    }
out:
    cfg_net_free(&c);
    return rc;
}

json_t *cfg_kv_to_json(const char *arg, const char *what, char *err, size_t len)
{
    json_t *o = json_object();
    char *copy = strdup(arg ? arg : "");
    if (!o || !copy) {
        json_decref(o);
        free(copy);
        snprintf(err, len, "out of memory");
        return NULL;
    }
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq || eq == tok) {
            snprintf(err, len, "%s: expected KEY=VAL pairs separated by commas, got \"%s\"",
                     what, tok);
            goto bad;
        }
        *eq = '\0';
        if (json_object_get(o, tok)) {
            snprintf(err, len, "%s: key %s given twice", what, tok);
            goto bad;
        }
        json_object_set_new(o, tok, json_string(eq + 1));
    }
    free(copy);
    return o;
bad:
    free(copy);
    json_decref(o);
    return NULL;
}

static json_t *source_json(json_t *o, const struct cfg_source *s)
{
    if (!o || !s->size)
        return o;
    char mac[18];
    net_mac_format(s->dst, mac);
    json_object_set_new(o, "source_size", json_integer(s->size));
    json_object_set_new(o, "source_dst", json_string(mac));
    json_object_set_new(o, "source_count", json_integer((json_int_t)s->count));
    return o;
}

json_t *cfg_switch_to_json(const struct cfg_switch *c)
{
    return json_pack("{s:s,s:i,s:i}", "name", c->name, "mac_table", (int)c->mac_table, "aging",
                     (int)c->aging);
}

json_t *cfg_port_to_json(const struct cfg_port *c)
{
    json_t *o = json_pack("{s:s,s:s,s:s}", "name", c->name, "switch", c->sw, "type",
                          c->type == CFG_PORT_TAP ? "tap" : "sink");
    if (o && c->type == CFG_PORT_TAP) {
        json_object_set_new(o, "ifname", json_string(c->ifname ? c->ifname : c->name));
        json_object_set_new(o, "queues", json_integer(c->queues));
    }
    return source_json(o, &c->src);
}

json_t *cfg_net_to_json(const struct cfg_net *c)
{
    char mac[18];
    net_mac_format(c->mac, mac);
    json_t *o = json_pack("{s:s,s:s?,s:b,s:i,s:s,s:i,s:b}", "name", c->name, "socket", c->socket,
                          "client", c->client, "queues", (int)c->queues, "mac", mac, "mtu",
                          (int)c->mtu, "offload", c->offload);
    if (!o)
        return NULL;
    if (c->sw) {
        json_object_set_new(o, "switch", json_string(c->sw));
    } else if (c->server) {
        json_object_set_new(o, "server", json_string(c->server));
        json_object_set_new(o, "remote_switch", json_string(c->rswitch));
        if (c->heartbeat_ms)
            json_object_set_new(o, "heartbeat_ms", json_integer(c->heartbeat_ms));
    } else {
        json_object_set_new(o, "backend", json_string("sink"));
    }
    return source_json(o, &c->src);
}

static int dup_str(char **dst, const char *src)
{
    *dst = NULL;
    if (!src)
        return 0;
    *dst = strdup(src);
    return *dst ? 0 : -ENOMEM;
}

int cfg_switch_copy(struct cfg_switch *dst, const struct cfg_switch *src)
{
    *dst = *src;
    if (dup_str(&dst->name, src->name))
        return -ENOMEM;
    return 0;
}

int cfg_port_copy(struct cfg_port *dst, const struct cfg_port *src)
{
    *dst = *src;
    int a = dup_str(&dst->name, src->name), b = dup_str(&dst->sw, src->sw),
        c = dup_str(&dst->ifname, src->ifname);
    if (a || b || c) {
        cfg_port_free(dst);
        return -ENOMEM;
    }
    return 0;
}

int cfg_net_copy(struct cfg_net *dst, const struct cfg_net *src)
{
    *dst = *src;
    int a = dup_str(&dst->name, src->name), b = dup_str(&dst->socket, src->socket),
        c = dup_str(&dst->sw, src->sw), d = dup_str(&dst->server, src->server),
        e = dup_str(&dst->rswitch, src->rswitch);
    if (a || b || c || d || e) {
        cfg_net_free(dst);
        return -ENOMEM;
    }
    return 0;
}

void cfg_switch_free(struct cfg_switch *c)
{
    free(c->name);
    memset(c, 0, sizeof(*c));
}

void cfg_port_free(struct cfg_port *c)
{
    free(c->name);
    free(c->sw);
    free(c->ifname);
    memset(c, 0, sizeof(*c));
}

void cfg_net_free(struct cfg_net *c)
{
    free(c->name);
    free(c->socket);
    free(c->sw);
    free(c->server);
    free(c->rswitch);
    memset(c, 0, sizeof(*c));
}

#define APPEND(arr, n, item, copyfn)                                                     \
    do {                                                                                 \
        __typeof__(arr) na = realloc(arr, ((n) + 1) * sizeof(*(arr)));                   \
        if (!na)                                                                         \
            return -ENOMEM;                                                              \
        arr = na;                                                                        \
        if (copyfn(&(arr)[n], item))                                                     \
            return -ENOMEM;                                                              \
        (n)++;                                                                           \
        return 0;                                                                        \
    } while (0)

int cfg_netset_add_switch(struct cfg_netset *s, const struct cfg_switch *c)
{
    APPEND(s->sws, s->nr_sws, c, cfg_switch_copy);
}

int cfg_netset_add_port(struct cfg_netset *s, const struct cfg_port *c)
{
    APPEND(s->ports, s->nr_ports, c, cfg_port_copy);
}

int cfg_netset_add_net(struct cfg_netset *s, const struct cfg_net *c)
{
    APPEND(s->nets, s->nr_nets, c, cfg_net_copy);
}

/* Port and net device names share one name space (switch stats rows). */
static bool netset_name_used(const struct cfg_netset *set, const char *name)
{
    for (unsigned k = 0; k < set->nr_ports; k++)
        if (strcmp(set->ports[k].name, name) == 0)
            return true;
    for (unsigned k = 0; k < set->nr_nets; k++)
        if (strcmp(set->nets[k].name, name) == 0)
            return true;
    return false;
}

int cfg_netset_add_switch_json(struct cfg_netset *set, const json_t *o, const char *ctx,
                               char *err, size_t len)
{
    size_t j;
    json_t *p;
    struct cfg_switch c;
    int rc = cfg_switch_from_json(o, ctx, &c, err, len);
    if (rc)
        return rc;
    rc = cfg_netset_add_switch(set, &c);
    json_t *ports = json_object_get(o, "ports");
    if (!rc && ports && !json_is_array(ports))
        rc = fail(err, len, ctx, "ports", "an array of port objects", ports);
    json_array_foreach(ports, j, p) {
        if (rc)
            break;
        char pctx[96];
        snprintf(pctx, sizeof(pctx), "%s.ports[%zu]", ctx, j);
        struct cfg_port pc;
        if ((rc = cfg_port_from_json(p, pctx, c.name, &pc, err, len)))
            break;
        if (strcmp(pc.sw, c.name)) {
            snprintf(err, len, "%s.switch: a nested port belongs to its switch %s", pctx,
                     c.name);
            rc = -EINVAL;
        } else if (netset_name_used(set, pc.name)) {
            snprintf(err, len, "%s.name: %s is given twice (net devices and ports share names)",
                     pctx, pc.name);
            rc = -EINVAL;
        } else {
            rc = cfg_netset_add_port(set, &pc);
        }
        cfg_port_free(&pc);
    }
    cfg_switch_free(&c);
    return rc;
}

int cfg_netset_add_switches(struct cfg_netset *set, const json_t *arr, char *err, size_t len)
{
    if (!json_is_array(arr))
        return fail(err, len, "", "switches", "an array of switch objects", arr);
    size_t i;
    json_t *o;
    json_array_foreach(arr, i, o) {
        char ctx[48];
        snprintf(ctx, sizeof(ctx), "switches[%zu]", i);
        unsigned had = set->nr_sws;
        int rc = cfg_netset_add_switch_json(set, o, ctx, err, len);
        if (rc)
            return rc;
        for (unsigned k = 0; k < had; k++)
            if (strcmp(set->sws[k].name, set->sws[had].name) == 0) {
                snprintf(err, len, "%s.name: switch %s is given twice", ctx, set->sws[k].name);
                return -EINVAL;
            }
    }
    return 0;
}

int cfg_netset_add_nets(struct cfg_netset *set, const json_t *arr, char *err, size_t len)
{
    if (!json_is_array(arr))
        return fail(err, len, "", "net_devices", "an array of net device objects", arr);
    size_t i;
    json_t *o;
    json_array_foreach(arr, i, o) {
        char ctx[48];
        snprintf(ctx, sizeof(ctx), "net_devices[%zu]", i);
        struct cfg_net c;
        int rc = cfg_net_from_json(o, ctx, &c, err, len);
        if (rc)
            return rc;
        if (netset_name_used(set, c.name)) {
            snprintf(err, len, "%s.name: %s is given twice (net devices and ports share names)",
                     ctx, c.name);
            cfg_net_free(&c);
            return -EINVAL;
        }
        rc = cfg_netset_add_net(set, &c);
        cfg_net_free(&c);
        if (rc)
            return rc;
    }
    return 0;
}

void cfg_netset_free(struct cfg_netset *s)
{
    for (unsigned i = 0; i < s->nr_sws; i++)
        cfg_switch_free(&s->sws[i]);
    for (unsigned i = 0; i < s->nr_ports; i++)
        cfg_port_free(&s->ports[i]);
    for (unsigned i = 0; i < s->nr_nets; i++)
        cfg_net_free(&s->nets[i]);
    free(s->sws);
    free(s->ports);
    free(s->nets);
    memset(s, 0, sizeof(*s));
}
