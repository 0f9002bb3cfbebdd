/* Sink/source port (see net_sink.h). */
#include "net_sink.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/util.h"
#include "net_offload.h"
#include "net_switch.h"

struct net_sink {
    struct net_port port;
    uint32_t size;
    uint64_t limit, sent;
    unsigned batch_no;
    struct sc_queue scq;
    bool attached;
    char qname[64];
    uint8_t *frames; /* one per flow */
    struct iovec iov[NET_SOURCE_FLOWS];
    struct net_pkt pkt[NET_SOURCE_FLOWS];
    struct net_pkt *ptrs[NET_BATCH];
};

static void sink_deliver(struct net_port *p, struct net_pkt *const *pkts, unsigned n,
                         unsigned hint)
{
    (void)hint;
    uint64_t bytes = 0;
    for (unsigned i = 0; i < n; i++)
        bytes += pkts[i]->len;
    net_port_rx(p, n, bytes);
}

static const struct net_port_ops sink_ops = {.type = "sink", .deliver = sink_deliver};

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* Ethernet + IPv4 (198.18.0.1 -> 198.18.0.2, benchmark range) + UDP from
 * sport to port 9 (discard), zero payload, valid IP checksum, no UDP
 * checksum. */
static void build_frame(uint8_t *f, uint32_t size, const uint8_t dst[6], const uint8_t src[6],
                        uint16_t sport)
{
    memset(f, 0, size);
    memcpy(f, dst, 6);
    memcpy(f + 6, src, 6);
    put16(f + 12, 0x0800);
    uint8_t *ip = f + 14;
    ip[0] = 0x45;
    put16(ip + 2, (uint16_t)(size - 14));
    ip[6] = 0x40; /* DF */
    ip[8] = 64;
    ip[9] = 17;
    const uint8_t addrs[8] = {198, 18, 0, 1, 198, 18, 0, 2};
    memcpy(ip + 12, addrs, 8);
    struct net_csum c = {0};
    net_csum_feed(&c, ip, 20);
    put16(ip + 10, net_csum_final(&c));
    uint8_t *udp = ip + 20;
    put16(udp, sport);
    put16(udp + 2, 9);
    put16(udp + 4, (uint16_t)(size - 34));
}

/* Whether anything would take the frames: a source whose receivers are
 * all down (a device without a frontend, nothing linked) idles instead
 * of dropping at full speed, and lets its sidecore sleep. */
static bool receivers_ready(struct net_sink *s)
{
    struct net_port *peer = s->port.peer;
    if (peer)
        return !peer->ops->ready || peer->ops->ready(peer);
    return s->port.sw && net_switch_any_ready(s->port.sw, &s->port);
}

static int source_poll(struct sc_queue *q)
{
    struct net_sink *s = q->opaque;
    if (s->limit && s->sent >= s->limit)
        return 0;
    if (!receivers_ready(s))
        return 0;
    unsigned n = NET_BATCH;
    if (s->limit && s->limit - s->sent < n)
        n = (unsigned)(s->limit - s->sent);
    struct net_pkt *flow = &s->pkt[s->batch_no % NET_SOURCE_FLOWS];
    for (unsigned i = 0; i < n; i++)
        s->ptrs[i] = flow;
    net_port_send(&s->port, s->ptrs, n, s->batch_no++);
    s->sent += n;
    sc_queue_account(q, n, (uint64_t)n * s->size);
    return (int)n;
}

static bool source_set_notify(struct sc_queue *q, bool enable)
{
    struct net_sink *s = q->opaque;
    /* Nothing wakes a sleeping source, so it never lets its core sleep
     * while it has frames to send to a ready receiver. */
    if (!enable || (s->limit && s->sent >= s->limit))
        return false;
    return receivers_ready(s);
}

struct net_sink *net_sink_create(const struct net_sink_params *p, const char **why)
{
    if (p->source_size &&
        (p->source_size < NET_SOURCE_MIN || p->source_size > NET_SOURCE_MAX)) {
        *why = "source_size must be 0 (no source) or 60..9000 bytes";
        return NULL;
    }
    struct net_sink *s = calloc(1, sizeof(*s));
    if (!s) {
        *why = "out of memory";
        return NULL;
    }
    net_port_init(&s->port, &sink_ops, p->name, p->mac, NET_CAP_ALL, s);
    s->size = p->source_size;
    s->limit = p->source_count;
    if (s->size) {
        s->frames = malloc((size_t)s->size * NET_SOURCE_FLOWS);
        if (!s->frames) {
            free(s);
            *why = "out of memory";
            return NULL;
        }
        for (unsigned k = 0; k < NET_SOURCE_FLOWS; k++) {
            uint8_t *f = s->frames + (size_t)k * s->size;
            build_frame(f, s->size, p->source_dst, p->mac, (uint16_t)(1024 + k));
            s->iov[k] = (struct iovec){f, s->size};
            s->pkt[k].iov = &s->iov[k];
            s->pkt[k].niov = 1;
            s->pkt[k].len = s->size;
            memcpy(s->pkt[k].eth, f, 12);
        }
        snprintf(s->qname, sizeof(s->qname), "%s.source", p->name);
        s->scq.name = s->qname;
        s->scq.poll = source_poll;
        s->scq.set_notify = source_set_notify;
        s->scq.kick_fd = -1;
        s->scq.aux_fd = -1;
        s->scq.opaque = s;
    }
    return s;
}

struct net_port *net_sink_port(struct net_sink *s) { return &s->port; }

int net_sink_start(struct net_sink *s, struct sc_set *scs)
{
    if (!s->size || s->attached)
        return 0;
    int rc = sc_attach(scs, &s->scq);
    s->attached = rc == 0;
    return rc;
}

void net_sink_stop(struct net_sink *s)
{
    if (s->attached)
        sc_detach(&s->scq);
    s->attached = false;
}

void net_sink_destroy(struct net_sink *s)
{
    if (!s)
        return;
    net_sink_stop(s);
    free(s->frames);
    free(s);
}
