/* iohost net listener (see rnet_server.h). */
#include "rnet_server.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/util.h"
#include "rio_io.h"
#include "rnet_io.h"

#define MAX_PENDING 32
#define SWEEP_MS 1000
/* A peer heard within is alive: two of the slowest heartbeats (1 s), 25 of
 * the default. */
#define PEER_LIVE_NS (2500ull * 1000000ull)
/* Joins and leaves logged per 10 s: a rack's tunnels rejoining after a
 * restart fit; one peer churning sessions made 16k lines in 4 s. */
#define JOIN_LINES 64

struct rnet_peer {
    struct net_port port;
    struct rnet_server *srv;
    struct net_switch *sw;
    uint64_t session;
    uint16_t slot;
    struct sockaddr_storage addr;
    socklen_t alen;
    _Atomic uint32_t tx_seq;
    _Atomic uint64_t last_rx_ns;
    _Atomic bool bye;
    uint64_t refused_ns; /* control thread: last logged refusal of a namesake */
    struct rnet_path path;
    struct rnet_rxseq rxseq; /* the socket queue only */
};

struct join {
    uint64_t session;
    struct sockaddr_storage addr;
    socklen_t alen;
    char sw[RNET_NAME_MAX], name[RNET_NAME_MAX];
};

struct rnet_server {
    struct sc_set *scs;
    struct evloop *loop;
    struct rnet_server_hooks hooks;
    char listen[80];
    uint64_t timeout_ns;
    int sock, efd;
    int epfd; /* holds sock: what the sidecore sleeps on (reading it consumes nothing) */
    int timer;
    struct sc_queue scq;
    bool attached;
    _Atomic(struct rnet_peer *) slot[RNET_MAX_PEERS];
    struct rnet_path path; /* datagrams no peer owns */
    uint64_t told_unknown_ns; /* the socket queue: last PONG -ENOENT for unknown DATA */
    /* Control thread: lines a peer may repeat at will, by budget; refusals
     * per vmhost address, so a stranger's cannot hide a real tunnel's. */
    struct log_budget told_joins;
    struct refusal_budget {
        struct sockaddr_storage host; /* the port zeroed */
        struct log_budget b;
    } told_refusals[16];

    pthread_mutex_t lock; /* pending */
    struct join pending[MAX_PENDING];
    unsigned npending;

    /* The socket queue only. */
    struct poll_skip skip;
    struct rnet_rxbuf rx;
    struct iovec iov[RNET_BATCH];
    struct net_pkt pkts[RNET_BATCH];
    struct net_pkt *ptrs[RNET_BATCH];
};

static void peer_deliver(struct net_port *p, struct net_pkt *const *pkts, unsigned n,
                         unsigned hint)
{
    struct rnet_peer *pe = p->opaque;
    (void)hint;
    unsigned frames;
    uint64_t bytes;
    rnet_send_pkts(pe->srv->sock, (struct sockaddr *)&pe->addr, pe->alen, pe->session, pe->slot,
                   &pe->tx_seq, pkts, n, &pe->path, &frames, &bytes);
    net_port_rx(p, frames, bytes);
}

static const struct net_port_ops peer_ops = {.type = "remote", .deliver = peer_deliver};

static struct rnet_peer *peer_at(struct rnet_server *s, const struct rnet_hdr *h)
{
    if (h->peer >= RNET_MAX_PEERS)
        return NULL;
    struct rnet_peer *p = atomic_load_explicit(&s->slot[h->peer], memory_order_acquire);
    return p && p->session == h->session ? p : NULL;
}

static void wake_control(struct rnet_server *s)
{
    uint64_t one = 1;
    if (write(s->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        LOG_ERR("remote", "net listener: cannot wake the control thread: %s", strerror(errno));
}

/* Datagrams of a peer come from where it joined: its replies go there.
 * One from elsewhere with its session and slot (a NAT rebinding) is a
 * stranger's: the peer learns so (PONG -ENOENT) and joins again from there
 * once the old address has been silent PEER_LIVE_NS. Before, it kept the
 * peer alive while every reply went to the old address, for good. */
static bool from_peer(const struct rnet_peer *p, const struct sockaddr_storage *from,
                      socklen_t flen)
{
    return p->alen == flen && memcmp(&p->addr, from, flen) == 0;
}

static void queue_join(struct rnet_server *s, const struct rnet_hdr *h, const uint8_t *pl,
                       size_t len, const struct sockaddr_storage *from, socklen_t flen)
{
    size_t a = strnlen((const char *)pl, len);
    size_t b = a + 1 < len ? strnlen((const char *)pl + a + 1, len - a - 1) : 0;
    if (a == 0 || a >= RNET_NAME_MAX || a + 1 >= len || len - a - 1 >= RNET_NAME_MAX ||
        !rnet_name_ok(pl, a) || !rnet_name_ok(pl + a + 1, b)) {
        rnet_count(&s->path.drops[RNET_DROP_MALFORMED], 1);
        return;
    }
    pthread_mutex_lock(&s->lock);
    bool dup = false;
    for (unsigned i = 0; i < s->npending; i++)
        dup |= s->pending[i].session == h->session;
    if (!dup && s->npending == MAX_PENDING) {
        /* The control thread has not caught up: the tunnel asks again at
         * its next heartbeat. Counted, as every datagram not taken is. */
        rnet_count(&s->path.drops[RNET_DROP_JOIN_BUSY], 1);
        dup = true;
    } else if (!dup) {
        struct join *j = &s->pending[s->npending++];
        memset(j, 0, sizeof(*j));
        j->session = h->session;
        j->addr = *from;
        j->alen = flen;
        memcpy(j->sw, pl, a);
        memcpy(j->name, pl + a + 1, len - a - 1);
    }
    pthread_mutex_unlock(&s->lock);
    if (!dup)
        wake_control(s);
}

static void flush_run(struct rnet_server *s, struct rnet_peer *p, unsigned from, unsigned to)
{
    if (p && to > from)
        net_port_send(&p->port, s->ptrs + from, to - from, 0);
}

static int listener_poll(struct sc_queue *q)
{
    struct rnet_server *s = q->opaque;
    uint64_t now = sc_now_ns(), bytes = 0;
    if (poll_skip_now(&s->skip, now))
        return 0;
    int r = rnet_recv(s->sock, &s->rx);
    if (r <= 0) {
        poll_skip_idle(&s->skip, RNET_SKIP_POLLS, RNET_SKIP_NS, now);
        return 0;
    }
    unsigned n = 0, run = 0, frames = 0;
    struct rnet_peer *cur = NULL;
    size_t len;
    for (int i = 0; i < r; i++) {
        if (!s->rx.msg[i].msg_len)
            rnet_count(&s->path.drops[RNET_DROP_MALFORMED], 1);
        for (size_t off = 0; (len = rnet_rx_size(&s->rx, (unsigned)i, off)) > 0; off += len) {
            uint8_t *buf = rnet_rxbuf_at(&s->rx, (unsigned)i) + off;
            if (n == RNET_BATCH) {
                flush_run(s, cur, run, n);
                frames += n;
                n = run = 0;
            }
            struct rnet_hdr h;
            if (rnet_hdr_decode(buf, len, &h) < 0) {
                rnet_count(&s->path.drops[RNET_DROP_MALFORMED], 1);
                continue;
            }
            const struct sockaddr_storage *from = &s->rx.from[i];
            socklen_t flen = s->rx.msg[i].msg_hdr.msg_namelen;
            if (h.type == RNET_T_HELLO) {
                struct rnet_peer *p = NULL;
                for (unsigned k = 0; !p && k < RNET_MAX_PEERS; k++) {
                    struct rnet_peer *c = atomic_load_explicit(&s->slot[k], memory_order_acquire);
                    if (c && c->session == h.session)
                        p = c;
                }
                if (p && from_peer(p, from, flen)) { /* our answer was lost: repeat it */
                    struct rnet_hdr a = {.type = RNET_T_HELLO_ACK, .peer = p->slot,
                                         .session = p->session};
                    rnet_send_ctl(s->sock, (struct sockaddr *)from, flen, &a, NULL, 0);
                } else {
                    queue_join(s, &h, buf + RNET_HDR_SIZE, len - RNET_HDR_SIZE, from, flen);
                }
                continue;
            }
            struct rnet_peer *p = peer_at(s, &h);
            if (p && !from_peer(p, from, flen))
                p = NULL;
            if (!p) {
                rnet_count(&s->path.drops[RNET_DROP_UNKNOWN], 1);
                /* A tunnel we forgot (restart, or silent past the timeout)
                 * is told at once, by its PING or its DATA (a sending-only
                 * tunnel waited for its next heartbeat); DATA answered at
                 * most every 100 ms. */
                bool data = h.type == RNET_T_DATA && now - s->told_unknown_ns > 100000000ull;
                if (h.type == RNET_T_PING || data) {
                    uint64_t zero = 0;
                    struct rnet_hdr a = {.type = RNET_T_PONG, .status = -ENOENT,
                                         .session = h.session};
                    rnet_send_ctl(s->sock, (struct sockaddr *)from, flen, &a,
                                  data ? (const void *)&zero : buf + RNET_HDR_SIZE, 8);
                    if (data)
                        s->told_unknown_ns = now;
                }
                continue;
            }
            atomic_store_explicit(&p->last_rx_ns, now, memory_order_relaxed);
            rnet_count(&p->path.rx_datagrams, 1);
            rnet_count(&p->path.rx_bytes, len - RNET_HDR_SIZE);
            if (h.type == RNET_T_PING) {
                rnet_rxseq_mark(&p->rxseq, h.seq, &p->path);
                struct rnet_hdr a = {.type = RNET_T_PONG, .peer = p->slot, .session = p->session,
                                     .seq = atomic_load_explicit(&p->tx_seq, memory_order_relaxed)};
                rnet_send_ctl(s->sock, (struct sockaddr *)&p->addr, p->alen, &a,
                              buf + RNET_HDR_SIZE, 8);
                continue;
            }
            if (h.type == RNET_T_BYE) {
                atomic_store(&p->bye, true);
                wake_control(s);
                continue;
            }
            if (h.type != RNET_T_DATA)
                continue;
            rnet_rxseq_see(&p->rxseq, h.seq, &p->path);
            if (!rnet_pkt_from(&h, buf, len, &s->pkts[n], &s->iov[n])) {
                rnet_count(&p->path.drops[RNET_DROP_MALFORMED], 1);
                continue;
            }
            if (p != cur) {
                flush_run(s, cur, run, n);
                cur = p;
                run = n;
            }
            bytes += s->pkts[n].len;
            s->ptrs[n] = &s->pkts[n];
            n++;
        }
    }
    flush_run(s, cur, run, n);
    sc_queue_account(q, frames + n, bytes);
    return r;
}

static bool listener_set_notify(struct sc_queue *q, bool enable)
{
    struct rnet_server *s = q->opaque;
    if (!enable)
        return false;
    poll_skip_reset(&s->skip);
    struct epoll_event ev;
    return epoll_wait(s->epfd, &ev, 1, 0) > 0;
}

/* ---- control thread ---- */

static void quiesce(struct rnet_server *s)
{
    if (s->attached)
        sc_detach(&s->scq);
}

static void resume(struct rnet_server *s)
{
    if (s->attached && sc_attach(s->scs, &s->scq) < 0) {
        s->attached = false;
        LOG_ERR("remote", "net listener %s: cannot re-attach to a sidecore", s->listen);
    }
}

/* Peers whose slot is already cleared and the socket queue quiesced. */
static void peer_free(struct rnet_server *s, struct rnet_peer *p)
{
    if (s->hooks.peer_event)
        s->hooks.peer_event(s->hooks.opaque, &p->port, false);
    net_switch_remove_port(p->sw, &p->port);
    free(p);
}

/* Removes the peers for which pick() is true; returns how many. */
static unsigned remove_peers(struct rnet_server *s,
                             bool (*pick)(struct rnet_server *, struct rnet_peer *, const void *),
                             const void *arg, const char *why)
{
    struct rnet_peer *gone[RNET_MAX_PEERS];
    unsigned n = 0;
    for (unsigned i = 0; i < RNET_MAX_PEERS; i++) {
        struct rnet_peer *p = atomic_load(&s->slot[i]);
        if (p && pick(s, p, arg)) {
            atomic_store(&s->slot[i], NULL);
            gone[n++] = p;
        }
    }
    if (!n)
        return 0;
    quiesce(s);
    char more[64];
    for (unsigned i = 0; i < n; i++) {
        if (log_budget_take(&s->told_joins, sc_now_ns(), JOIN_LINES, more, sizeof(more)))
            LOG_INFO("remote", "net peer %s left switch %s (%s)%s", gone[i]->port.name,
                     net_switch_name(gone[i]->sw), why, more);
        peer_free(s, gone[i]);
    }
    resume(s);
    return n;
}

static bool pick_stale(struct rnet_server *s, struct rnet_peer *p, const void *arg)
{
    uint64_t now = *(const uint64_t *)arg, last = atomic_load(&p->last_rx_ns);
    return atomic_load(&p->bye) || (last < now && now - last > s->timeout_ns);
}

static bool pick_name(struct rnet_server *s, struct rnet_peer *p, const void *arg)
{
    (void)s;
    return strcmp(p->port.name, arg) == 0;
}

static bool pick_switch(struct rnet_server *s, struct rnet_peer *p, const void *arg)
{
    (void)s;
    return p->sw == arg;
}

static int16_t free_slot(struct rnet_server *s)
{
    for (unsigned i = 0; i < RNET_MAX_PEERS; i++)
        if (!atomic_load(&s->slot[i]))
            return (int16_t)i;
    return -1;
}

/* The refusal budget of j's host: its own, or the least recently used. */
static struct log_budget *refusal_budget(struct rnet_server *s, const struct join *j)
{
    struct sockaddr_storage host = {0};
    memcpy(&host, &j->addr, SC_MIN((size_t)j->alen, sizeof(host)));
    if (host.ss_family == AF_INET)
        ((struct sockaddr_in *)&host)->sin_port = 0;
    else if (host.ss_family == AF_INET6)
        ((struct sockaddr_in6 *)&host)->sin6_port = 0;
    struct refusal_budget *lru = &s->told_refusals[0];
    for (unsigned i = 0; i < SC_ARRAY_SIZE(s->told_refusals); i++) {
        struct refusal_budget *r = &s->told_refusals[i];
        if (r->b.since_ns && memcmp(&r->host, &host, sizeof(host)) == 0)
            return &r->b;
        if (r->b.since_ns < lru->b.since_ns)
            lru = r;
    }
    lru->host = host;
    lru->b = (struct log_budget){0};
    return &lru->b;
}

static void join_one(struct rnet_server *s, const struct join *j)
{
    struct rnet_hdr a = {.type = RNET_T_HELLO_ACK, .session = j->session};
    for (unsigned i = 0; i < RNET_MAX_PEERS; i++) {
        struct rnet_peer *c = atomic_load(&s->slot[i]);
        if (c && c->session == j->session) {
            a.peer = c->slot;
            goto answer;
        }
    }
    char host[64], name[NET_PORT_NAME_MAX];
    rio_addr_format((const struct sockaddr *)&j->addr, host, sizeof(host));
    char *colon = strrchr(host, ':');
    if (colon)
        *colon = '\0';
    snprintf(name, sizeof(name), "%s@%s", j->name, host);
    /* A tunnel of the same name came back with a new session: it replaces
     * the old one, unless that one is alive elsewhere (another vmhost
     * daemon on the same host with a device of the same name). Those two
     * replaced each other at every HELLO, for good. */
    struct rnet_peer *old = NULL;
    for (unsigned i = 0; i < RNET_MAX_PEERS && !old; i++) {
        struct rnet_peer *c = atomic_load(&s->slot[i]);
        if (c && strcmp(c->port.name, name) == 0)
            old = c;
    }
    uint64_t now = sc_now_ns(), heard = old ? atomic_load(&old->last_rx_ns) : 0;
    /* Also from the old one's own address and port: a HELLO forged from
     * there replaced a live tunnel without knowing its session (h10: 75%
     * of its frames lost while it lasted). A restarted daemon's tunnel
     * gets a new port and waits out the silence anyway. */
    if (old && heard <= now && now - heard < PEER_LIVE_NS) {
        a.status = -EEXIST;
        char other[80];
        rio_addr_format((const struct sockaddr *)&j->addr, other, sizeof(other));
        /* It asks again every heartbeat: once a minute in the log. */
        if (old->refused_ns && now - old->refused_ns < 60ull * 1000000000ull)
            goto answer;
        old->refused_ns = now;
        LOG_WARN("remote", "net peer %s from %s cannot join switch %s: a live peer of that name "
                 "holds it (another daemon on that host with a net device of that name: give "
                 "them distinct names; or that daemon's tunnel from before a restart: it "
                 "joins once the old one has been silent 2.5 s)", name, other, j->sw);
        goto answer;
    }
    remove_peers(s, pick_name, name, "replaced by a new session");
    struct net_switch *sw = s->hooks.find_switch(s->hooks.opaque, j->sw);
    int16_t slot = free_slot(s);
    struct rnet_peer *p = NULL;
    const char *why = "";
    if (!sw) {
        a.status = -ENOENT;
        why = "no such switch";
    } else if (slot < 0) {
        a.status = -ENOSPC;
        why = "too many peers";
    } else if (!(p = calloc(1, sizeof(*p)))) {
        a.status = -ENOMEM;
        why = "out of memory";
    }
    if (p) {
        p->srv = s;
        p->sw = sw;
        p->session = j->session;
        p->slot = (uint16_t)slot;
        p->addr = j->addr;
        p->alen = j->alen;
        atomic_init(&p->last_rx_ns, sc_now_ns());
        uint8_t mac[6];
        net_mac_from_name(name, 0x02, mac);
        net_port_init(&p->port, &peer_ops, name, mac, NET_CAP_CSUM, p);
        /* Its saved stages (a filter) hold before the switch or the slot
         * can pass it a frame: a returning peer's first frames went
         * unfiltered. */
        if (s->hooks.peer_event)
            s->hooks.peer_event(s->hooks.opaque, &p->port, true);
        int rc = net_switch_add_port(sw, &p->port, &why);
        if (rc < 0) {
            if (s->hooks.peer_event)
                s->hooks.peer_event(s->hooks.opaque, &p->port, false);
            a.status = rc;
            free(p);
            p = NULL;
        }
    }
    if (!p) {
        /* Asked again every heartbeat: 4 lines per 10 s and vmhost at most
         * (one for all was hidden by a stranger's refusals). */
        char more[64];
        if (log_budget_take(refusal_budget(s, j), now, 4, more, sizeof(more)))
            LOG_WARN("remote", "net peer %s cannot join switch %s: %s%s", name, j->sw, why,
                     more);
        goto answer;
    }
    atomic_store_explicit(&s->slot[slot], p, memory_order_release);
    a.peer = (uint16_t)slot;
    char more[64];
    if (log_budget_take(&s->told_joins, now, JOIN_LINES, more, sizeof(more)))
        LOG_INFO("remote", "net peer %s joined switch %s (slot %d)%s", name, j->sw, slot, more);
answer:
    rnet_send_ctl(s->sock, (const struct sockaddr *)&j->addr, j->alen, &a, NULL, 0);
}

static void on_wake(int fd, uint32_t events, void *opaque)
{
    struct rnet_server *s = opaque;
    (void)events;
    uint64_t v;
    if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
        return;
    struct join js[MAX_PENDING];
    pthread_mutex_lock(&s->lock);
    unsigned n = s->npending;
    memcpy(js, s->pending, n * sizeof(js[0]));
    s->npending = 0;
    pthread_mutex_unlock(&s->lock);
    uint64_t now = sc_now_ns();
    remove_peers(s, pick_stale, &now, "said goodbye or went silent");
    for (unsigned i = 0; i < n; i++)
        join_one(s, &js[i]);
}

static void on_sweep(void *opaque)
{
    struct rnet_server *s = opaque;
    uint64_t now = sc_now_ns();
    remove_peers(s, pick_stale, &now, "said goodbye or went silent");
    s->timer = evloop_timer(s->loop, SWEEP_MS, on_sweep, s);
}

struct rnet_server *rnet_server_create(const struct rnet_server_params *p, struct sc_set *scs,
                                       struct evloop *loop, const struct rnet_server_hooks *h,
                                       const char **why)
{
    if (p->peer_timeout_ms > 3600000) {
        *why = "peer_timeout_ms must be at most 3600000";
        return NULL;
    }
    struct rnet_server *s = calloc(1, sizeof(*s));
    if (!s) {
        *why = "out of memory";
        return NULL;
    }
    s->sock = s->efd = s->epfd = -1;
    s->scs = scs;
    s->loop = loop;
    s->hooks = *h;
    s->timeout_ns = (uint64_t)(p->peer_timeout_ms ? p->peer_timeout_ms : 10000) * 1000000ull;
    pthread_mutex_init(&s->lock, NULL);
    struct sockaddr_storage addr;
    socklen_t alen;
    if (rio_addr_parse(p->listen, &addr, &alen) < 0) {
        *why = "net_listen: expected IP:PORT (numeric, port 1-65535, e.g. 0.0.0.0:7500)";
        goto fail;
    }
    snprintf(s->listen, sizeof(s->listen), "%s", p->listen);
    s->sock = rnet_socket((struct sockaddr *)&addr, alen, NULL, 0, why);
    if (s->sock < 0)
        goto fail;
    s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    s->epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN};
    if (s->efd < 0 || s->epfd < 0 || epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->sock, &ev) < 0 ||
        rnet_rxbuf_init(&s->rx) < 0) {
        *why = "out of memory or file descriptors";
        goto fail;
    }
    if (evloop_add(loop, s->efd, EPOLLIN, on_wake, s) < 0) {
        *why = "cannot watch the listener's eventfd";
        goto fail;
    }
    s->timer = evloop_timer(loop, SWEEP_MS, on_sweep, s);
    s->scq.name = "iohost.net";
    s->scq.poll = listener_poll;
    s->scq.set_notify = listener_set_notify;
    s->scq.kick_fd = -1;
    s->scq.aux_fd = s->epfd;
    s->scq.opaque = s;
    if (sc_attach(scs, &s->scq) < 0) {
        *why = "cannot attach the listener to a sidecore";
        goto fail;
    }
    s->attached = true;
    LOG_INFO("remote", "net listener on %s (UDP): remote net devices join switches here",
             s->listen);
    return s;
fail:
    rnet_server_destroy(s);
    return NULL;
}

static bool pick_all(struct rnet_server *s, struct rnet_peer *p, const void *arg)
{
    (void)s;
    (void)p;
    (void)arg;
    return true;
}

void rnet_server_destroy(struct rnet_server *s)
{
    if (!s)
        return;
    remove_peers(s, pick_all, NULL, "listener closing");
    if (s->attached)
        sc_detach(&s->scq);
    if (s->timer > 0)
        evloop_timer_cancel(s->loop, s->timer);
    if (s->efd >= 0) {
        evloop_del(s->loop, s->efd);
        close(s->efd);
    }
    if (s->epfd >= 0)
        close(s->epfd);
    if (s->sock >= 0)
        close(s->sock);
    rnet_rxbuf_fini(&s->rx);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

void rnet_server_drop_switch(struct rnet_server *s, struct net_switch *sw)
{
    remove_peers(s, pick_switch, sw, "switch deleted");
}

json_t *rnet_server_stats(struct rnet_server *s)
{
    json_t *arr = json_array();
    uint64_t now = sc_now_ns();
    for (unsigned i = 0; arr && i < RNET_MAX_PEERS; i++) {
        struct rnet_peer *p = atomic_load(&s->slot[i]);
        if (!p)
            continue;
        char addr[80], sess[24];
        rio_addr_format((struct sockaddr *)&p->addr, addr, sizeof(addr));
        snprintf(sess, sizeof(sess), "%016llx", (unsigned long long)p->session);
        uint64_t last = atomic_load(&p->last_rx_ns), age = last < now ? now - last : 0;
        struct net_port_counters pc;
        net_port_counters(&p->port, &pc);
        uint64_t port_drops = 0;
        for (unsigned d = 0; d < NET_DROP__COUNT; d++)
            port_drops += pc.drops[d];
        json_array_append_new(
            arr, json_pack("{s:s,s:s,s:s,s:s,s:i,s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:o}", "name",
                           p->port.name, "switch", net_switch_name(p->sw), "address", addr,
                           "session", sess, "slot", (int)p->slot, "connected",
                           age <= s->timeout_ns, "last_rx_ms", (json_int_t)(age / 1000000),
                           "from_vmhost_packets", (json_int_t)pc.tx_packets,
                           "from_vmhost_bytes", (json_int_t)pc.tx_bytes, "to_vmhost_packets",
                           (json_int_t)pc.rx_packets, "to_vmhost_bytes",
                           (json_int_t)pc.rx_bytes, "port_drops", (json_int_t)port_drops,
                           "path", rnet_path_json(&p->path)));
    }
    return json_pack("{s:s,s:o,s:o}", "listen", s->listen, "peers", arr ? arr : json_array(),
                     "unmatched", rnet_path_json(&s->path));
}
