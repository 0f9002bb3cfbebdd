/* vmhost tunnel port (see rnet_client.h). */
#include "rnet_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/util.h"
#include "rio_io.h"
#include "rnet_io.h"

struct rnet_client {
    struct net_port port;
    char server[80], sw[RNET_NAME_MAX];
    struct sockaddr_storage addr;
    socklen_t addrlen;
    int sock, tfd, epfd;
    uint64_t session;
    uint64_t hb_ns, dead_ns;
    struct sc_queue scq;
    char qname[64];
    bool attached;

    /* Shared with the senders. */
    _Atomic int slot; /* -1 until joined */
    _Atomic uint32_t tx_seq;
    struct rnet_path path;
    _Atomic uint64_t last_rx_ns, srtt_ns, joins;

    /* The tunnel's queue only. */
    uint64_t next_beat;
    int refused; /* the last HELLO_ACK's refusal, logged once (0: none) */
    struct log_budget told; /* join, refusal and "forgot us" lines */
    struct poll_skip skip;
    struct rnet_rxseq rxseq;
    struct rnet_rxbuf rx;
    struct iovec iov[RNET_BATCH];
    struct net_pkt pkts[RNET_BATCH];
    struct net_pkt *ptrs[RNET_BATCH];
};

static void tunnel_deliver(struct net_port *p, struct net_pkt *const *pkts, unsigned n,
                           unsigned hint)
{
    struct rnet_client *c = p->opaque;
    (void)hint;
    int slot = atomic_load_explicit(&c->slot, memory_order_acquire);
    if (slot < 0) {
        rnet_count(&c->path.drops[RNET_DROP_NOT_JOINED], n);
        net_port_drop(p, NET_DROP_LINK_DOWN, n);
        return;
    }
    unsigned frames;
    uint64_t bytes;
    rnet_send_pkts(c->sock, NULL, 0, c->session, (uint16_t)slot, &c->tx_seq, pkts, n, &c->path,
                   &frames, &bytes);
    net_port_rx(p, frames, bytes);
}

static const struct net_port_ops tunnel_ops = {.type = "remote", .deliver = tunnel_deliver};

static void arm(struct rnet_client *c)
{
    struct itimerspec its = {.it_value = {.tv_sec = (time_t)(c->next_beat / 1000000000ull),
                                          .tv_nsec = (long)(c->next_beat % 1000000000ull)}};
    timerfd_settime(c->tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

static void send_hello(struct rnet_client *c)
{
    char pl[2 * RNET_NAME_MAX];
    size_t a = strlen(c->sw) + 1, b = strnlen(c->port.name, RNET_NAME_MAX - 1);
    memcpy(pl, c->sw, a);
    memcpy(pl + a, c->port.name, b);
    struct rnet_hdr h = {.type = RNET_T_HELLO, .session = c->session};
    rnet_send_ctl(c->sock, NULL, 0, &h, pl, a + b);
}

static void beat(struct rnet_client *c, uint64_t now)
{
    uint64_t x;
    while (read(c->tfd, &x, sizeof(x)) > 0) {
    }
    int slot = atomic_load(&c->slot);
    if (slot < 0) {
        send_hello(c);
    } else {
        uint8_t ts[8];
        memcpy(ts, &now, 8);
        struct rnet_hdr h = {.type = RNET_T_PING, .peer = (uint16_t)slot, .session = c->session,
                             .seq = atomic_load_explicit(&c->tx_seq, memory_order_relaxed)};
        rnet_send_ctl(c->sock, NULL, 0, &h, ts, 8);
    }
    c->next_beat = now + c->hb_ns;
    arm(c);
}

/* Joins, refusals and "forgot us" come at most once per heartbeat, but an
 * iohost that forgets us at every PING, or alternates refusals, made that
 * a line per heartbeat for good: 4 per 10 s (a restart's "forgot us" and
 * "joined" fit), the rest counted in the next line. */
static bool tell(struct rnet_client *c, uint64_t now, char *more, size_t len)
{
    return log_budget_take(&c->told, now, 4, more, len);
}

static void control_msg(struct rnet_client *c, const struct rnet_hdr *h, const uint8_t *pl,
                        uint64_t now)
{
    char more[64];
    if (h->type == RNET_T_HELLO_ACK) {
        if (h->status == 0 && atomic_load(&c->slot) < 0) {
            /* A new peer on the iohost counts its frames from 0: frames of
             * the old one's numbering would make every loss look late. */
            c->rxseq = (struct rnet_rxseq){0};
            atomic_store(&c->slot, (int)h->peer);
            atomic_fetch_add(&c->joins, 1);
            if (tell(c, now, more, sizeof(more)))
                LOG_INFO("remote", "%s: joined switch %s on %s (slot %u)%s", c->port.name, c->sw,
                         c->server, h->peer, more);
        } else if (h->status < 0 && h->status != c->refused && tell(c, now, more, sizeof(more))) {
            /* Asked again every heartbeat: said once per reason. */
            LOG_WARN("remote", "%s: %s refuses to attach us to switch %s: %s%s", c->port.name,
                     c->server, c->sw,
                     h->status == -EEXIST ? "a live peer of our name from our host holds "
                                            "it (another daemon here with a net device of "
                                            "that name: give them distinct names; or our "
                                            "tunnel from before a restart: we join once it "
                                            "has been silent 2.5 s)"
                     : h->status == -ENOENT ? "it has no switch of that name"
                     : h->status == -ENOSPC ? "no room: its switch has no free port, or its "
                                              "listener no free peer slot (its log says which)"
                                            : strerror(-h->status),
                     more);
        }
        c->refused = h->status;
    } else if (h->type == RNET_T_PONG) {
        if (h->status == -ENOENT) {
            if (atomic_exchange(&c->slot, -1) >= 0 && tell(c, now, more, sizeof(more)))
                LOG_WARN("remote", "%s: %s forgot us (restarted?): joining again%s",
                         c->port.name, c->server, more);
            send_hello(c);
            return;
        }
        if (atomic_load(&c->slot) >= 0)
            rnet_rxseq_mark(&c->rxseq, h->seq, &c->path);
        uint64_t sent;
        memcpy(&sent, pl, 8);
        if (sent <= now && now - sent < 60ull * 1000000000ull) {
            uint64_t r = now - sent, s = atomic_load(&c->srtt_ns);
            atomic_store(&c->srtt_ns, s ? (7 * s + r) / 8 : r);
        }
    }
}

static int tunnel_poll(struct sc_queue *q)
{
    struct rnet_client *c = q->opaque;
    uint64_t now = sc_now_ns();
    if (now >= c->next_beat)
        beat(c, now);
    if (poll_skip_now(&c->skip, now))
        return 0;
    int r = rnet_recv(c->sock, &c->rx);
    if (r <= 0) {
        poll_skip_idle(&c->skip, RNET_SKIP_POLLS, RNET_SKIP_NS, now);
        return 0;
    }
    unsigned n = 0, frames = 0;
    uint64_t bytes = 0;
    int slot = atomic_load(&c->slot);
    size_t len;
    for (int i = 0; i < r; i++) {
        if (!c->rx.msg[i].msg_len)
            rnet_count(&c->path.drops[RNET_DROP_MALFORMED], 1);
        for (size_t off = 0; (len = rnet_rx_size(&c->rx, (unsigned)i, off)) > 0; off += len) {
            uint8_t *buf = rnet_rxbuf_at(&c->rx, (unsigned)i) + off;
            if (n == RNET_BATCH) {
                net_port_send(&c->port, c->ptrs, n, 0);
                frames += n;
                n = 0;
            }
            struct rnet_hdr h;
            if (rnet_hdr_decode(buf, len, &h) < 0) {
                rnet_count(&c->path.drops[RNET_DROP_MALFORMED], 1);
                continue;
            }
            if (h.session != c->session) {
                rnet_count(&c->path.drops[RNET_DROP_UNKNOWN], 1);
                continue;
            }
            atomic_store_explicit(&c->last_rx_ns, now, memory_order_relaxed);
            rnet_count(&c->path.rx_datagrams, 1);
            rnet_count(&c->path.rx_bytes, len - RNET_HDR_SIZE);
            if (h.type != RNET_T_DATA) {
                control_msg(c, &h, buf + RNET_HDR_SIZE, now);
                continue;
            }
            if (slot < 0 || h.peer != slot) {
                rnet_count(&c->path.drops[RNET_DROP_UNKNOWN], 1);
                continue;
            }
            rnet_rxseq_see(&c->rxseq, h.seq, &c->path);
            if (!rnet_pkt_from(&h, buf, len, &c->pkts[n], &c->iov[n])) {
                rnet_count(&c->path.drops[RNET_DROP_MALFORMED], 1);
                continue;
            }
            bytes += c->pkts[n].len;
            c->ptrs[n] = &c->pkts[n];
            n++;
        }
    }
    if (n)
        net_port_send(&c->port, c->ptrs, n, 0);
    sc_queue_account(q, frames + n, bytes);
    return r;
}

static bool tunnel_set_notify(struct sc_queue *q, bool enable)
{
    struct rnet_client *c = q->opaque;
    poll_skip_reset(&c->skip);
    if (!enable)
        return false;
    struct epoll_event ev;
    return epoll_wait(c->epfd, &ev, 1, 0) > 0;
}

static uint64_t random64(void)
{
    uint64_t v = 0;
    if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v))
        v = sc_now_ns() ^ ((uint64_t)getpid() << 32);
    return v ? v : 1;
}

static int watch(int epfd, int fd)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

struct rnet_client *rnet_client_create(const struct rnet_client_params *p, const char **why)
{
    if (!p->sw || !*p->sw || strlen(p->sw) >= RNET_NAME_MAX) {
        *why = "the remote switch name is missing or longer than 47 bytes";
        return NULL;
    }
    /* The iohost takes a peer heard within 2.5 s as alive (a namesake is
     * refused) and forgets one silent for 10 s: a heartbeat up to 1 s keeps
     * at least two within the first and ten within the second. */
    if (p->heartbeat_ms > 1000 || p->dead_ms > 3600000) {
        *why = "heartbeat_ms must be at most 1000 (the iohost forgets a peer silent for 10 s), "
               "dead_ms at most 3600000";
        return NULL;
    }
    struct rnet_client *c = calloc(1, sizeof(*c));
    if (!c) {
        *why = "out of memory";
        return NULL;
    }
    c->sock = c->tfd = c->epfd = -1;
    if (rio_addr_parse(p->server, &c->addr, &c->addrlen) < 0) {
        *why = "server: expected IP:PORT (numeric, port 1-65535, e.g. 10.0.0.2:7500)";
        goto fail;
    }
    snprintf(c->server, sizeof(c->server), "%s", p->server);
    snprintf(c->sw, sizeof(c->sw), "%s", p->sw);
    c->hb_ns = (uint64_t)(p->heartbeat_ms ? p->heartbeat_ms : 100) * 1000000ull;
    c->dead_ns = p->dead_ms ? (uint64_t)p->dead_ms * 1000000ull : 10 * c->hb_ns;
    c->session = random64();
    atomic_init(&c->slot, -1);
    c->sock = rnet_socket(NULL, 0, (struct sockaddr *)&c->addr, c->addrlen, why);
    if (c->sock < 0)
        goto fail;
    c->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    c->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (c->tfd < 0 || c->epfd < 0 || watch(c->epfd, c->sock) < 0 ||
        watch(c->epfd, c->tfd) < 0 || rnet_rxbuf_init(&c->rx) < 0) {
        *why = "out of memory or file descriptors";
        goto fail;
    }
    uint8_t mac[6];
    net_mac_from_name(p->name, 0x02, mac);
    /* Checksum metadata crosses the tunnel; GSO is resolved before it. */
    net_port_init(&c->port, &tunnel_ops, p->name, mac, NET_CAP_CSUM, c);
    snprintf(c->qname, sizeof(c->qname), "%s.tunnel", p->name);
    c->scq.name = c->qname;
    c->scq.poll = tunnel_poll;
    c->scq.set_notify = tunnel_set_notify;
    c->scq.kick_fd = -1;
    c->scq.aux_fd = c->epfd;
    c->scq.opaque = c;
    return c;
fail:
    rnet_client_destroy(c);
    return NULL;
}

struct net_port *rnet_client_port(struct rnet_client *c) { return &c->port; }

int rnet_client_start(struct rnet_client *c, struct sc_set *scs)
{
    if (c->attached)
        return 0;
    c->next_beat = 0; /* the first poll says HELLO */
    int rc = sc_attach(scs, &c->scq);
    c->attached = rc == 0;
    return rc;
}

void rnet_client_stop(struct rnet_client *c)
{
    if (!c->attached)
        return;
    sc_detach(&c->scq);
    c->attached = false;
    int slot = atomic_exchange(&c->slot, -1);
    if (slot >= 0) {
        struct rnet_hdr h = {.type = RNET_T_BYE, .peer = (uint16_t)slot, .session = c->session};
        rnet_send_ctl(c->sock, NULL, 0, &h, NULL, 0);
    }
}

void rnet_client_destroy(struct rnet_client *c)
{
    if (!c)
        return;
    rnet_client_stop(c);
    if (c->epfd >= 0)
        close(c->epfd);
    if (c->tfd >= 0)
        close(c->tfd);
    if (c->sock >= 0)
        close(c->sock);
    rnet_rxbuf_fini(&c->rx);
    free(c);
}

json_t *rnet_client_stats(struct rnet_client *c)
{
    uint64_t now = sc_now_ns(), last = atomic_load(&c->last_rx_ns);
    uint64_t age = last && last < now ? now - last : 0;
    int slot = atomic_load(&c->slot);
    const char *state = slot < 0            ? "joining"
                        : age > c->dead_ns ? "disconnected"
                                           : "connected";
    struct net_port_counters pc;
    net_port_counters(&c->port, &pc);
    return json_pack("{s:s,s:s,s:s,s:s,s:b,s:i,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:o}", "name",
                     c->port.name, "server", c->server, "switch", c->sw, "state", state,
                     "connected", strcmp(state, "connected") == 0, "slot", slot, "rtt_us",
                     (json_int_t)(atomic_load(&c->srtt_ns) / 1000), "last_rx_ms",
                     last ? (json_int_t)(age / 1000000) : (json_int_t)-1, "joins",
                     (json_int_t)atomic_load(&c->joins), "to_iohost_packets",
                     (json_int_t)pc.rx_packets, "to_iohost_bytes", (json_int_t)pc.rx_bytes,
                     "from_iohost_packets", (json_int_t)pc.tx_packets, "from_iohost_bytes",
                     (json_int_t)pc.tx_bytes, "path", rnet_path_json(&c->path));
}
