/* Net registry (see net_registry.h). */
#include "net_registry.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../backend/net_sink.h"
#include "../backend/net_switch.h"
#include "../backend/net_tap.h"
#include "../common/log.h"
#include "../common/sockpath.h"
#include "../dev/net.h"
#include "../interpose/ip_chain.h"
#include "../interpose/ip_net.h"
#include "../remote/rnet_client.h"
#include "../remote/rnet_server.h"
#include "../remote/rnet_wire.h"
#include "../vhost/vhost_user.h"
#include "../virtq/virtio_spec.h"
#include "vpri_json.h"

#define LOGC "registry"

struct nr_switch {
    struct cfg_switch cfg;
    struct net_switch *sw;
    struct nr_switch *next;
};

struct nr_port {
    struct cfg_port cfg;
    struct nr_switch *sw;
    struct net_tap *tap;   /* one of tap and sink */
    struct net_sink *sink;
    struct nr_port *next;
};

struct nr_net {
    struct cfg_net cfg;
    struct vdev *vdev;
    struct vhost_dev *vh;
    struct nr_switch *sw;   /* or sink, or tun */
    struct net_sink *sink;
    struct rnet_client *tun;
    struct nr_net *next;
};

/* A port name's interposition chain. A local port's or net device's goes
 * with it; a remote peer's (DEVICE@VMHOST) outlives the peer, so it holds
 * again when the tunnel comes back, until it is set to no stages. */
struct nr_chain {
    char name[NET_PORT_NAME_MAX];
    struct ip_net *c;
    struct nr_chain *next;
};

/* A remote peer port on this iohost's switches (while it is joined). */
struct nr_peer {
    struct net_port *port;
    struct nr_peer *next;
};

struct net_registry {
    struct evloop *loop;
    struct sc_set *scs;
    char *runtime_dir;
    struct registry *blk;
    struct nr_switch *sws;
    struct nr_port *ports;
    struct nr_net *nets;
    unsigned nr_nets;
    struct rnet_server *listener; /* iohost: remote net devices join here */
    struct nr_peer *peers;
    struct nr_chain *chains;
};

struct net_registry *net_registry_create(struct evloop *loop, struct sc_set *scs,
                                         const char *runtime_dir, struct registry *blk)
{
    struct net_registry *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->loop = loop;
    r->scs = scs;
    r->blk = blk;
    r->runtime_dir = strdup(runtime_dir ? runtime_dir : ".");
    if (!r->runtime_dir) {
        free(r);
        return NULL;
    }
    return r;
}

static struct nr_switch *find_sw(const struct net_registry *r, const char *name)
{
    for (struct nr_switch *s = r->sws; s; s = s->next)
        if (strcmp(s->cfg.name, name) == 0)
            return s;
    return NULL;
}

static struct nr_net *find_net(const struct net_registry *r, const char *name)
{
    for (struct nr_net *n = r->nets; n; n = n->next)
        if (strcmp(n->cfg.name, name) == 0)
            return n;
    return NULL;
}

static struct nr_port *find_port(const struct net_registry *r, const char *name)
{
    for (struct nr_port *p = r->ports; p; p = p->next)
        if (strcmp(p->cfg.name, name) == 0)
            return p;
    return NULL;
}

static struct nr_chain *find_chain(const struct net_registry *r, const char *name)
{
    for (struct nr_chain *c = r->chains; c; c = c->next)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

static void drop_chain(struct net_registry *r, const char *name)
{
    for (struct nr_chain **pp = &r->chains; *pp; pp = &(*pp)->next)
        if (strcmp((*pp)->name, name) == 0) {
            struct nr_chain *c = *pp;
            *pp = c->next;
            ip_net_destroy(c->c);
            free(c);
            return;
        }
}

/* DEVICE@ADDRESS as the iohost names a remote peer's port (rnet_server.c):
 * a device name, '@', the vmhost's IPv4 or IPv6 address. */
static bool peer_name_ok(const char *name)
{
    const char *at = strchr(name, '@');
    if (!at || at == name || at - name >= RNET_NAME_MAX)
        return false;
    for (const char *c = name; c < at; c++)
        if (!isalnum((unsigned char)*c) && *c != '-' && *c != '_' && *c != '.')
            return false;
    unsigned char a[16];
    char v6[INET6_ADDRSTRLEN + 2];
    size_t n = strlen(at + 1);
    if (n > 2 && n < sizeof(v6) && at[1] == '[' && at[n] == ']') { /* as the iohost writes it */
        memcpy(v6, at + 2, n - 2);
        v6[n - 2] = '\0';
        return inet_pton(AF_INET6, v6, a) == 1;
    }
    return inet_pton(AF_INET, at + 1, a) == 1;
}

/* A new port takes the chain configured for its name, if any. */
static void hook_port(struct net_registry *r, struct net_port *p)
{
    struct nr_chain *c = find_chain(r, p->name);
    if (c)
        net_port_set_hook(p, ip_net_hook(c->c));
}

const struct cfg_net *net_registry_find_net(const struct net_registry *r, const char *name)
{
    struct nr_net *n = find_net(r, name);
    return n ? &n->cfg : NULL;
}

bool net_registry_claims(const struct net_registry *r, const char *name, const char *socket)
{
    for (struct nr_net *n = r->nets; n; n = n->next)
        if ((name && strcmp(n->cfg.name, name) == 0) ||
            (socket && strcmp(n->cfg.socket, socket) == 0))
            return true;
    return name && find_port(r, name);
}

unsigned net_registry_count(const struct net_registry *r) { return r->nr_nets; }

/* Port names are unique daemon-wide: they name rows in switch stats. */
static int port_name_taken(const struct net_registry *r, const char *name, char *err, size_t len)
{
    if (find_port(r, name) || find_net(r, name)) {
        snprintf(err, len, "a port or net device named %s already exists", name);
        return -EEXIST;
    }
    /* One name space with block devices too: interpose names either. */
    if (r->blk && registry_find(r->blk, name)) {
        snprintf(err, len, "a blk device named %s already exists", name);
        return -EEXIST;
    }
    return 0;
}

int net_registry_add_switch(struct net_registry *r, const struct cfg_switch *c, char *err,
                            size_t len)
{
    if (find_sw(r, c->name)) {
        snprintf(err, len, "switch %s already exists", c->name);
        return -EEXIST;
    }
    struct nr_switch *s = calloc(1, sizeof(*s));
    if (!s || cfg_switch_copy(&s->cfg, c)) {
        free(s);
        snprintf(err, len, "out of memory");
        return -ENOMEM;
    }
    const char *why = "";
    s->sw = net_switch_create(c->name, c->mac_table, c->aging, &why);
    if (!s->sw) {
        snprintf(err, len, "switch %s: %s", c->name, why);
        cfg_switch_free(&s->cfg);
        free(s);
        return -EINVAL;
    }
    s->next = r->sws;
    r->sws = s;
    LOG_INFO(LOGC, "switch %s created (%u MAC entries, aging %u s)", c->name, c->mac_table,
             c->aging);
    return 0;
}

static void port_free(struct nr_port *p)
{
    if (p->tap) {
        net_tap_stop(p->tap);
        net_switch_remove_port(p->sw->sw, net_tap_port(p->tap));
        net_tap_destroy(p->tap);
    }
    if (p->sink) {
        net_sink_stop(p->sink);
        net_switch_remove_port(p->sw->sw, net_sink_port(p->sink));
        net_sink_destroy(p->sink);
    }
    cfg_port_free(&p->cfg);
    free(p);
}

int net_registry_add_port(struct net_registry *r, const struct cfg_port *c, char *err,
                          size_t len)
{
    struct nr_switch *s = find_sw(r, c->sw);
    if (!s) {
        snprintf(err, len, "no switch named %s", c->sw);
        return -ENOENT;
    }
    int rc = port_name_taken(r, c->name, err, len);
    if (rc)
        return rc;
    if (c->type == CFG_PORT_TAP) {
        const char *want = c->ifname ? c->ifname : c->name;
        for (struct nr_port *o = r->ports; o; o = o->next)
            if (o->tap && strcmp(net_tap_ifname(o->tap), want) == 0) {
                snprintf(err, len, "port %s: interface %s is already port %s's tap", c->name,
                         want, o->cfg.name);
                return -EEXIST;
            }
    }
    struct nr_port *p = calloc(1, sizeof(*p));
    if (!p || cfg_port_copy(&p->cfg, c)) {
        free(p);
        snprintf(err, len, "out of memory");
        return -ENOMEM;
    }
    p->sw = s;
    const char *why = "";
    struct net_port *np;
    if (c->type == CFG_PORT_TAP) {
        p->tap = net_tap_create(c->name, c->ifname, c->queues, &why);
        np = p->tap ? net_tap_port(p->tap) : NULL;
    } else {
        struct net_sink_params sp = {.name = c->name,
                                     .source_size = c->src.size,
                                     .source_count = c->src.count};
        net_mac_from_name(c->name, 0x02, sp.mac);
        memcpy(sp.source_dst, c->src.dst, 6);
        p->sink = net_sink_create(&sp, &why);
        np = p->sink ? net_sink_port(p->sink) : NULL;
    }
    if (!np) {
        snprintf(err, len, "port %s: %s", c->name, why);
        cfg_port_free(&p->cfg);
        free(p);
        return c->type == CFG_PORT_TAP ? -EIO : -EINVAL;
    }
    hook_port(r, np);
    rc = net_switch_add_port(s->sw, np, &why);
    if (rc == 0)
        rc = p->tap ? net_tap_start(p->tap, r->scs) : net_sink_start(p->sink, r->scs);
    else
        snprintf(err, len, "port %s: %s", c->name, why);
    if (rc < 0) {
        if (!err[0] || strncmp(err, "port ", 5))
            snprintf(err, len, "port %s: cannot start: %s", c->name, strerror(-rc));
        port_free(p);
        return rc;
    }
    p->next = r->ports;
    r->ports = p;
    LOG_INFO(LOGC, "port %s (%s%s%s) joined switch %s", c->name,
             c->type == CFG_PORT_TAP ? "tap " : "sink",
             c->type == CFG_PORT_TAP ? net_tap_ifname(p->tap) : "",
             c->src.size ? ", source" : "", c->sw);
    return 0;
}

int net_registry_remove_port(struct net_registry *r, const char *sw, const char *name, char *err,
                             size_t len)
{
    for (struct nr_port **pp = &r->ports; *pp; pp = &(*pp)->next) {
        struct nr_port *p = *pp;
        if (strcmp(p->cfg.name, name) == 0 && (!sw || strcmp(p->cfg.sw, sw) == 0)) {
            *pp = p->next;
            port_free(p);
            drop_chain(r, name);
            LOG_INFO(LOGC, "port %s deleted", name);
            return 0;
        }
    }
    for (struct nr_peer *e = r->peers; e; e = e->next)
        if (strcmp(e->port->name, name) == 0) {
            snprintf(err, len, "%s is a remote peer's port: it goes with its tunnel (delete "
                     "the net device on its vmhost)", name);
            return -EINVAL;
        }
    snprintf(err, len, "no port named %s%s%s", name, sw ? " on switch " : "", sw ? sw : "");
    return -ENOENT;
}

int net_registry_remove_switch(struct net_registry *r, const char *name, char *err, size_t len)
{
    struct nr_switch *s = find_sw(r, name);
    if (!s) {
        snprintf(err, len, "no switch named %s", name);
        return -ENOENT;
    }
    for (struct nr_net *n = r->nets; n; n = n->next)
        if (n->sw == s) {
            snprintf(err, len, "switch %s still has net device %s: delete it first", name,
                     n->cfg.name);
            return -EBUSY;
        }
    if (r->listener)
        rnet_server_drop_switch(r->listener, s->sw);
    for (struct nr_port **pp = &r->ports; *pp;) {
        struct nr_port *p = *pp;
        if (p->sw == s) {
            *pp = p->next;
            drop_chain(r, p->cfg.name);
            port_free(p);
        } else {
            pp = &p->next;
        }
    }
    for (struct nr_switch **pp = &r->sws; *pp; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    net_switch_destroy(s->sw);
    cfg_switch_free(&s->cfg);
    free(s);
    LOG_INFO(LOGC, "switch %s deleted", name);
    return 0;
}

static void unlink_net(struct nr_net *n)
{
    struct net_port *p = net_dev_port(n->vdev);
    if (n->sw) {
        net_switch_remove_port(n->sw->sw, p);
    } else if (n->tun) {
        /* The tunnel delivers into the device: stop it before unwiring. */
        rnet_client_stop(n->tun);
        p->peer = NULL;
        rnet_client_port(n->tun)->peer = NULL;
    } else if (n->sink) {
        /* The source delivers into the device: stop it before unwiring. */
        net_sink_stop(n->sink);
        p->peer = NULL;
        net_sink_port(n->sink)->peer = NULL;
    }
}

static void net_free(struct nr_net *n)
{
    if (n->vh)
        vhost_dev_destroy(n->vh);
    if (n->vdev) {
        unlink_net(n);
        n->vdev->ops->destroy(n->vdev);
    }
    net_sink_destroy(n->sink);
    rnet_client_destroy(n->tun);
    cfg_net_free(&n->cfg);
    free(n);
}

static int net_conflict(const struct net_registry *r, const struct cfg_net *c, char *err,
                        size_t len)
{
    if (find_net(r, c->name) || find_port(r, c->name)) {
        snprintf(err, len, "a net device or port named %s already exists", c->name);
        return -EEXIST;
    }
    if (r->blk && registry_find(r->blk, c->name)) {
        snprintf(err, len, "a blk device named %s already exists", c->name);
        return -EEXIST;
    }
    for (struct nr_net *n = r->nets; n; n = n->next)
        if (strcmp(n->cfg.socket, c->socket) == 0) {
            snprintf(err, len, "socket %s is already used by net device %s", c->socket,
                     n->cfg.name);
            return -EEXIST;
        }
    const char *rpc = r->blk ? registry_socket_reserved(r->blk, c->socket) : NULL;
    if (rpc) {
        snprintf(err, len, "net device %s: socket %s %s", c->name, c->socket, rpc);
        return -EEXIST;
    }
    if (r->blk && registry_socket_user(r->blk, c->socket)) {
        snprintf(err, len, "socket %s is already used by blk device %s", c->socket,
                 registry_socket_user(r->blk, c->socket));
        return -EEXIST;
    }
    return 0;
}

/* Two NICs with one MAC on a switch (or a remote one) take turns in its
 * MAC table, and each loses the other's traffic, unless they are the two
 * ends of a live migration on one host (one runs at a time): a warning,
 * not a refusal. */
static void mac_twin(const struct net_registry *r, const struct cfg_net *c)
{
    for (struct nr_net *n = r->nets; n; n = n->next) {
        bool local = c->sw && n->cfg.sw && !strcmp(c->sw, n->cfg.sw);
        bool remote = c->server && n->cfg.server && !strcmp(c->server, n->cfg.server) &&
                      c->rswitch && n->cfg.rswitch && !strcmp(c->rswitch, n->cfg.rswitch);
        if ((local || remote) && !memcmp(c->mac, n->cfg.mac, 6)) {
            char mac[18];
            net_mac_format(c->mac, mac);
            LOG_WARN(LOGC, "net device %s: MAC %s is net device %s's too, on switch %s: fine "
                     "for the two ends of a live migration, otherwise they take turns in its "
                     "MAC table (give another mac=)", c->name, mac, n->cfg.name,
                     local ? c->sw : c->rswitch);
            return;
        }
    }
}

int net_registry_add_net(struct net_registry *r, const struct cfg_net *c, char *err, size_t len)
{
    struct nr_net *n = calloc(1, sizeof(*n));
    if (!n || cfg_net_copy(&n->cfg, c)) {
        free(n);
        snprintf(err, len, "out of memory");
        return -ENOMEM;
    }
    int rc = -ENOMEM;
    if (!n->cfg.socket &&
        asprintf(&n->cfg.socket, "%s/%s.sock", r->runtime_dir, n->cfg.name) < 0) {
        n->cfg.socket = NULL;
        snprintf(err, len, "out of memory");
        goto fail;
    }
    /* One spelling per socket, so the conflict checks see every other. */
    if (sockpath_canonicalize(&n->cfg.socket) < 0) {
        snprintf(err, len, "out of memory");
        goto fail;
    }
    if ((rc = net_conflict(r, &n->cfg, err, len)))
        goto fail;
    if (c->sw && !(n->sw = find_sw(r, c->sw))) {
        snprintf(err, len, "net device %s: no switch named %s", c->name, c->sw);
        rc = -ENOENT;
        goto fail;
    }
    mac_twin(r, c);
    const char *why = "";
    struct net_dev_params np = {.name = c->name,
                                .queue_pairs = (uint16_t)c->queues,
                                .mtu = (uint16_t)c->mtu,
                                .offload = c->offload};
    memcpy(np.mac, c->mac, 6);
    n->vdev = net_dev_create(&np, r->scs, &why);
    if (!n->vdev) {
        snprintf(err, len, "net device %s: %s", c->name, why);
        rc = -EINVAL;
        goto fail;
    }
    struct net_port *port = net_dev_port(n->vdev);
    hook_port(r, port);
    if (n->sw) {
        rc = net_switch_add_port(n->sw->sw, port, &why);
    } else if (c->server) {
        struct rnet_client_params tp = {.name = c->name, .server = c->server,
                                        .sw = c->rswitch, .heartbeat_ms = c->heartbeat_ms};
        n->tun = rnet_client_create(&tp, &why);
        rc = n->tun ? 0 : -EINVAL;
        if (n->tun) {
            port->peer = rnet_client_port(n->tun);
            rnet_client_port(n->tun)->peer = port;
            rc = rnet_client_start(n->tun, r->scs);
            if (rc < 0)
                why = "cannot attach the tunnel to a sidecore";
        }
    } else {
        char sname[CFG_NAME_MAX + 8];
        snprintf(sname, sizeof(sname), "%s.sink", c->name);
        struct net_sink_params sp = {.name = sname,
                                     .source_size = c->src.size,
                                     .source_count = c->src.count};
        net_mac_from_name(sname, 0x02, sp.mac);
        memcpy(sp.source_dst, c->src.dst, 6);
        n->sink = net_sink_create(&sp, &why);
        rc = n->sink ? 0 : -EINVAL;
        if (n->sink) {
            port->peer = net_sink_port(n->sink);
            net_sink_port(n->sink)->peer = port;
            rc = net_sink_start(n->sink, r->scs);
            if (rc < 0)
                why = "cannot attach the source to a sidecore";
        }
    }
    if (rc < 0) {
        snprintf(err, len, "net device %s: %s", c->name, why);
        goto fail;
    }
    char rings[4096];
    snprintf(rings, sizeof(rings), "%s/%s.net-rings", r->runtime_dir, n->cfg.name);
    struct vhost_dev_cfg vc = {.socket_path = n->cfg.socket, .client = n->cfg.client,
                               .dev = n->vdev, .vpri = true, .ring_state_path = rings,
                               .prefault_threads = r->blk ? registry_prefault(r->blk) : 0};
    rc = vhost_dev_create(r->loop, &vc, &n->vh, &why);
    if (rc < 0) {
        snprintf(err, len, "net device %s: socket %s: %s", c->name, n->cfg.socket, why);
        goto fail;
    }
    n->next = r->nets;
    r->nets = n;
    r->nr_nets++;
    LOG_INFO(LOGC, "net device %s created: %u queue pair(s), %s%s, %s %s", c->name, c->queues,
             n->sw ? "switch " : n->tun ? "remote switch " : "sink",
             n->sw ? c->sw : n->tun ? c->rswitch : (c->src.size ? " + source" : ""),
             c->client ? "connecting to" : "listening on", n->cfg.socket);
    return 0;
fail:
    net_free(n);
    return rc;
}

int net_registry_remove_net(struct net_registry *r, const char *name, char *err, size_t len)
{
    for (struct nr_net **pp = &r->nets; *pp; pp = &(*pp)->next) {
        struct nr_net *n = *pp;
        if (strcmp(n->cfg.name, name) == 0) {
            *pp = n->next;
            r->nr_nets--;
            if (n->vh)
                vhost_dev_drop_ring_state(n->vh);
            net_free(n);
            drop_chain(r, name);
            LOG_INFO(LOGC, "net device %s deleted", name);
            return 0;
        }
    }
    snprintf(err, len, "no net device named %s", name);
    return -ENOENT;
}

int net_registry_apply(struct net_registry *r, const struct cfg_netset *set, char *err,
                       size_t len)
{
    int rc = 0;
    for (unsigned i = 0; rc == 0 && i < set->nr_sws; i++)
        rc = net_registry_add_switch(r, &set->sws[i], err, len);
    for (unsigned i = 0; rc == 0 && i < set->nr_ports; i++)
        rc = net_registry_add_port(r, &set->ports[i], err, len);
    for (unsigned i = 0; rc == 0 && i < set->nr_nets; i++)
        rc = net_registry_add_net(r, &set->nets[i], err, len);
    return rc;
}

void net_registry_destroy(struct net_registry *r)
{
    if (!r)
        return;
    rnet_server_destroy(r->listener);
    while (r->nets) {
        struct nr_net *n = r->nets;
        r->nets = n->next;
        net_free(n);
    }
    while (r->ports) {
        struct nr_port *p = r->ports;
        r->ports = p->next;
        port_free(p);
    }
    while (r->sws) {
        struct nr_switch *s = r->sws;
        r->sws = s->next;
        net_switch_destroy(s->sw);
        cfg_switch_free(&s->cfg);
        free(s);
    }
    while (r->chains) {
        struct nr_chain *c = r->chains;
        r->chains = c->next;
        ip_net_destroy(c->c);
        free(c);
    }
    free(r->runtime_dir);
    free(r);
}

/* ---- vRIO net listener and interposition ---- */

static struct net_switch *listener_find_switch(void *opaque, const char *name)
{
    struct nr_switch *s = find_sw(opaque, name);
    return s ? s->sw : NULL;
}

static void listener_peer_event(void *opaque, struct net_port *p, bool up)
{
    struct net_registry *r = opaque;
    if (up) {
        struct nr_peer *e = calloc(1, sizeof(*e));
        if (!e) {
            LOG_ERR(LOGC, "peer %s: out of memory: interposition cannot reach it", p->name);
            return;
        }
        hook_port(r, p);
        e->port = p;
        e->next = r->peers;
        r->peers = e;
        return;
    }
    for (struct nr_peer **pp = &r->peers; *pp; pp = &(*pp)->next)
        if ((*pp)->port == p) {
            struct nr_peer *e = *pp;
            *pp = e->next;
            free(e);
            return;
        }
}

int net_registry_listen(struct net_registry *r, const char *listen, char *err, size_t len)
{
    if (r->listener) {
        snprintf(err, len, "the net listener already runs");
        return -EEXIST;
    }
    const char *why = "";
    struct rnet_server_params p = {.listen = listen};
    struct rnet_server_hooks h = {.find_switch = listener_find_switch,
                                  .peer_event = listener_peer_event, .opaque = r};
    r->listener = rnet_server_create(&p, r->scs, r->loop, &h, &why);
    if (!r->listener) {
        snprintf(err, len, "net listener %s: %s", listen, why);
        return -EINVAL;
    }
    return 0;
}

/* The live port of that name: a device's, a tap or sink, or a remote peer. */
static struct net_port *port_named(struct net_registry *r, const char *name)
{
    struct nr_net *n = find_net(r, name);
    if (n)
        return net_dev_port(n->vdev);
    struct nr_port *p = find_port(r, name);
    if (p)
        return p->tap ? net_tap_port(p->tap) : net_sink_port(p->sink);
    for (struct nr_peer *e = r->peers; e; e = e->next)
        if (strcmp(e->port->name, name) == 0)
            return e->port;
    return NULL;
}

const char *net_registry_tap_ifname(const struct net_registry *r, const char *name)
{
    const struct nr_port *p = find_port(r, name);
    return p && p->tap ? net_tap_ifname(p->tap) : NULL;
}

bool net_registry_has_port(struct net_registry *r, const char *name)
{
    return port_named(r, name) || find_chain(r, name) || peer_name_ok(name);
}

int net_registry_interpose_set(struct net_registry *r, const char *name, const json_t *stages,
                               char *err, size_t len)
{
    struct net_port *port = port_named(r, name);
    struct nr_chain *c = find_chain(r, name);
    if (!port && !c && !peer_name_ok(name)) {
        snprintf(err, len, "no net device, port or remote peer named %s (a remote peer is "
                 "DEVICE@VMHOST_ADDRESS)", name);
        return -ENOENT;
    }
    if (strlen(name) >= sizeof(c->name)) {
        snprintf(err, len, "port names are at most %d bytes", NET_PORT_NAME_MAX - 1);
        return -EINVAL;
    }
    struct ip_stage *st[IP_MAX_STAGES];
    unsigned n = 0;
    if (ip_stages_from_json(stages, st, &n, err, len) < 0)
        return -EINVAL;
    if (!port && n == 0) {
        /* A peer that is away keeps nothing: its chain goes. */
        drop_chain(r, name);
        LOG_INFO(LOGC, "remote peer %s: interposition stages removed", name);
        return 0;
    }
    bool fresh = !c;
    if (fresh) {
        c = calloc(1, sizeof(*c));
        if (!c || !(c->c = ip_net_create())) {
            free(c);
            ip_stages_free(st, n);
            snprintf(err, len, "out of memory");
            return -ENOMEM;
        }
        snprintf(c->name, sizeof(c->name), "%s", name);
    }
    const char *why = "";
    int rc = ip_net_set(c->c, st, n, &why);
    if (rc < 0) {
        ip_stages_free(st, n);
        snprintf(err, len, "interpose: %s", why);
        if (fresh) {
            ip_net_destroy(c->c);
            free(c);
        }
        return rc;
    }
    if (fresh) {
        c->next = r->chains;
        r->chains = c;
    }
    if (port)
        net_port_set_hook(port, ip_net_hook(c->c));
    LOG_INFO(LOGC, "port %s: %u interposition stage(s)", name, n);
    return 0;
}

json_t *net_registry_peers_json(struct net_registry *r)
{
    json_t *tun = json_array();
    struct nr_net *order[r->nr_nets ? r->nr_nets : 1];
    unsigned k = 0;
    for (struct nr_net *n = r->nets; n && k < r->nr_nets; n = n->next)
        order[k++] = n;
    while (tun && k--)
        if (order[k]->tun)
            json_array_append_new(tun, rnet_client_stats(order[k]->tun));
    return json_pack("{s:o,s:o}", "tunnels", tun ? tun : json_array(), "listener",
                     r->listener ? rnet_server_stats(r->listener) : json_null());
}

/* ---- JSON views ---- */

static const char *status_word(const struct nr_net *n, const struct vhost_dev_info *vi)
{
    if (vi->failed)
        return "failed";
    if (!vi->connected)
        return n->cfg.client ? "connecting" : "waiting";
    if ((vi->status & VIRTIO_STATUS_DRIVER_OK) && vi->queues_started)
        return "running";
    return "connected";
}

static json_t *state_json(const struct nr_net *n, json_t *o)
{
    struct vhost_dev_info vi;
    vhost_dev_get_info(n->vh, &vi);
    const char *why = vi.connect_error[0] ? vi.connect_error
                      : vi.why[0]           ? vi.why
                      : vdev_is_broken(n->vdev) ? n->vdev->why
                                                : "";
    json_object_set_new(o, "connected", json_boolean(vi.connected));
    json_object_set_new(o, "status", json_string(status_word(n, &vi)));
    json_object_set_new(o, "queues_started", json_integer(vi.queues_started));
    json_object_set_new(o, "failed", json_boolean(vi.failed));
    json_object_set_new(o, "failures", json_integer((json_int_t)vi.failures));
    json_object_set_new(o, "why", json_string(why));
    json_object_set_new(o, "connect_error", json_string(vi.connect_error));
    return o;
}

/* What each queue of a tap read from the host. */
/* Named as the port's own counters: tx is what the host sent into the
 * switch, rx what the switch wrote to the host. */
static json_t *tap_queues_json(const struct net_tap *t)
{
    struct net_tap_queue_stats st[NET_TAP_MAX_QUEUES];
    unsigned n = net_tap_queues(t, st, NET_TAP_MAX_QUEUES);
    json_t *a = json_array();
    for (unsigned i = 0; a && i < n; i++)
        json_array_append_new(
            a, json_pack("{s:I,s:I,s:I,s:I}", "tx_packets", (json_int_t)st[i].from_host_packets,
                         "tx_bytes", (json_int_t)st[i].from_host_bytes, "rx_packets",
                         (json_int_t)st[i].to_host_packets, "rx_bytes",
                         (json_int_t)st[i].to_host_bytes));
    return a ? a : json_array();
}

static json_t *port_json(struct net_registry *r, struct net_port *p)
{
    struct nr_chain *ch = find_chain(r, p->name);
    struct net_port_counters c;
    char mac[18];
    net_port_counters(p, &c);
    net_mac_format(p->mac, mac);
    json_t *drops = json_object();
    uint64_t total = 0;
    for (unsigned i = 0; i < NET_DROP__COUNT; i++) {
        json_object_set_new(drops, net_drop_names[i], json_integer((json_int_t)c.drops[i]));
        total += c.drops[i];
    }
    json_t *o = json_pack(
        "{s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:o,s:o}", "name", p->name, "type", p->ops->type, "mac",
        mac, "tx_packets", (json_int_t)c.tx_packets, "tx_bytes", (json_int_t)c.tx_bytes,
        "rx_packets", (json_int_t)c.rx_packets, "rx_bytes", (json_int_t)c.rx_bytes, "drops_total",
        (json_int_t)total, "drops", drops, "interpose", ch ? ip_net_stats(ch->c) : json_array());
    for (struct nr_port *np = r->ports; o && np; np = np->next)
        if (np->tap && net_tap_port(np->tap) == p) {
            const char *why = net_tap_error(np->tap);
            json_object_set_new(o, "ifname", json_string(net_tap_ifname(np->tap)));
            json_object_set_new(o, "host_queues", tap_queues_json(np->tap));
            json_object_set_new(o, "error", json_string(why ? why : ""));
        }
    return o;
}

json_t *net_registry_list_json(struct net_registry *r)
{
    json_t *arr = json_array();
    struct nr_net *order[r->nr_nets ? r->nr_nets : 1];
    unsigned k = 0;
    for (struct nr_net *n = r->nets; n && k < r->nr_nets; n = n->next)
        order[k++] = n;
    while (arr && k--) {
        json_t *o = cfg_net_to_json(&order[k]->cfg);
        if (o)
            json_array_append_new(arr, state_json(order[k], o));
    }
    return arr;
}

static const char *kind_name(enum net_queue_kind k)
{
    return k == NET_Q_RX ? "rx" : k == NET_Q_TX ? "tx" : "ctrl";
}

json_t *net_registry_stats_json(struct net_registry *r, const char *name, char *err, size_t len)
{
    struct nr_net *n = find_net(r, name);
    if (!n) {
        snprintf(err, len, "no net device named %s", name);
        return NULL;
    }
    json_t *o = cfg_net_to_json(&n->cfg);
    if (!o)
        return NULL;
    state_json(n, o);
    struct net_dev_state st;
    net_dev_state(n->vdev, &st);
    char feat[24];
    snprintf(feat, sizeof(feat), "0x%llx", (unsigned long long)st.features);
    json_object_set_new(o, "features", json_string(feat));
    /* "queues" (the pair count in the device's config) becomes the array
     * of queue stats below. */
    json_object_set_new(o, "queue_pairs", json_integer(n->cfg.queues));
    json_object_set_new(o, "active_pairs", json_integer(st.active_pairs));
    json_object_set_new(o, "promisc", json_boolean(st.promisc));
    json_object_set_new(o, "allmulti", json_boolean(st.allmulti));
    json_object_set_new(o, "ctrl_ok", json_integer((json_int_t)st.ctrl_ok));
    json_object_set_new(o, "announced", json_integer((json_int_t)st.announced));
    json_object_set_new(o, "ctrl_err", json_integer((json_int_t)st.ctrl_err));
    json_object_set_new(o, "steered_flows", json_integer(st.steered_flows));
    json_object_set_new(o, "port", port_json(r, net_dev_port(n->vdev)));
    if (n->sink)
        json_object_set_new(o, "sink", port_json(r, net_sink_port(n->sink)));
    if (n->tun)
        json_object_set_new(o, "tunnel", rnet_client_stats(n->tun));
    struct net_queue_stats qs[NET_MAX_PAIRS * 2 + 1];
    unsigned nq = net_dev_queue_stats(n->vdev, qs, NET_MAX_PAIRS * 2 + 1);
    json_t *qa = json_array();
    for (unsigned i = 0; qa && i < nq; i++) {
        char qname[CFG_NAME_MAX + 16];
        snprintf(qname, sizeof(qname), "%s.%s%u", n->cfg.name, kind_name(qs[i].kind),
                 qs[i].kind == NET_Q_CTRL ? 0 : qs[i].index / 2);
        json_array_append_new(
            qa, json_pack("{s:i,s:s,s:s,s:b,s:I,s:I,s:I,s:I,s:I,s:I}", "index", qs[i].index,
                          "name", qname, "kind", kind_name(qs[i].kind), "started", qs[i].started,
                          "packets", (json_int_t)qs[i].packets, "bytes",
                          (json_int_t)qs[i].bytes, "kicks", (json_int_t)qs[i].kicks,
                          "notifies", (json_int_t)qs[i].notifies, "busy_ns",
                          (json_int_t)qs[i].busy_ns, "polls", (json_int_t)qs[i].polls));
    }
    if (qa)
        vpri_json_add_queues(n->vh, qa);
    json_object_set_new(o, "queues", qa ? qa : json_array());
    return o;
}

json_t *net_registry_switch_list_json(struct net_registry *r)
{
    json_t *arr = json_array();
    for (struct nr_switch *s = r->sws; arr && s; s = s->next) {
        struct net_switch_counters c;
        net_switch_counters(s->sw, &c);
        json_t *o = cfg_switch_to_json(&s->cfg);
        if (o) {
            json_object_set_new(o, "ports", json_integer(c.ports));
            json_object_set_new(o, "macs", json_integer(c.macs));
            json_array_insert_new(arr, 0, o);
        }
    }
    return arr;
}

json_t *net_registry_switch_stats_json(struct net_registry *r, const char *name, char *err,
                                       size_t len)
{
    struct nr_switch *s = find_sw(r, name);
    if (!s) {
        snprintf(err, len, "no switch named %s", name);
        return NULL;
    }
    struct net_switch_counters c;
    net_switch_counters(s->sw, &c);
    json_t *o = json_pack("{s:s,s:i,s:i,s:i,s:I,s:I,s:I}", "name", s->cfg.name, "macs",
                          (int)c.macs, "mac_capacity", (int)c.mac_capacity, "aging",
                          (int)c.aging_s, "flooded", (json_int_t)c.flooded, "unknown",
                          (json_int_t)c.unknown, "hairpin", (json_int_t)c.hairpin);
    if (!o)
        return NULL;
    struct net_port *ports[NET_SW_MAX_PORTS];
    unsigned np = net_switch_ports(s->sw, ports, NET_SW_MAX_PORTS);
    json_t *pa = json_array();
    for (unsigned i = 0; pa && i < np; i++)
        if (ports[i])
            json_array_append_new(pa, port_json(r, ports[i]));
    json_object_set_new(o, "ports", pa ? pa : json_array());
    return o;
}
