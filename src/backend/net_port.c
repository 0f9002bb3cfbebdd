/* Port bookkeeping: initialization, the send entry point, counters and MAC
 * address text. */
#include "net_port.h"

#include <stdio.h>
#include <string.h>

#include "net_switch.h"

const char *const net_drop_names[NET_DROP__COUNT] = {
    [NET_DROP_BAD_HEADER] = "bad_header", [NET_DROP_BAD_LENGTH] = "bad_length",
    [NET_DROP_BAD_GSO] = "bad_gso",       [NET_DROP_NO_BUFFERS] = "no_buffers",
    [NET_DROP_FILTERED] = "filtered",     [NET_DROP_LINK_DOWN] = "link_down",
    [NET_DROP_NO_LINK] = "no_link",       [NET_DROP_IO_ERROR] = "io_error",
    [NET_DROP_OVER_MTU] = "over_mtu",     [NET_DROP_SMALL_BUFFER] = "small_buffer",
};

void net_port_init(struct net_port *p, const struct net_port_ops *ops, const char *name,
                   const uint8_t mac[6], unsigned caps, void *opaque)
{
    memset(p, 0, sizeof(*p));
    p->ops = ops;
    snprintf(p->name, sizeof(p->name), "%s", name);
    memcpy(p->mac, mac, 6);
    atomic_init(&p->caps, caps);
    p->opaque = opaque;
    p->sw_slot = -1;
}

static void forward(struct net_port *p, struct net_pkt *const *pkts, unsigned n, unsigned hint)
{
    if (p->sw)
        net_switch_forward(p->sw, p, pkts, n, hint);
    else if (p->peer)
        net_port_deliver(p->peer, pkts, n, hint);
    else
        net_port_drop(p, NET_DROP_NO_LINK, n);
}

typedef void (*pass_fn)(struct net_port *p, struct net_pkt *const *pkts, unsigned n,
                        unsigned hint);

/* The packets hook h lets through, in batches, to pass. */
static void filtered(struct net_port_hook *h, struct net_port *p, bool to_port,
                     struct net_pkt *const *pkts, unsigned n, unsigned hint, pass_fn pass)
{
    for (unsigned off = 0; off < n; off += NET_BATCH) {
        unsigned k = n - off < NET_BATCH ? n - off : NET_BATCH;
        struct net_pkt *keep[NET_BATCH];
        unsigned m = h->filter(h, p, to_port, pkts + off, k, keep);
        if (m < k)
            net_port_drop(p, NET_DROP_FILTERED, k - m);
        if (m)
            pass(p, keep, m, hint);
    }
}

void net_port_send(struct net_port *p, struct net_pkt *const *pkts, unsigned n, unsigned hint)
{
    uint64_t bytes = 0;
    for (unsigned i = 0; i < n; i++)
        bytes += pkts[i]->len;
    atomic_fetch_add_explicit(&p->tx_packets, n, memory_order_relaxed);
    atomic_fetch_add_explicit(&p->tx_bytes, bytes, memory_order_relaxed);
    struct net_port_hook *h = atomic_load_explicit(&p->hook, memory_order_acquire);
    if (h)
        filtered(h, p, false, pkts, n, hint, forward);
    else
        forward(p, pkts, n, hint);
}

static void deliver(struct net_port *p, struct net_pkt *const *pkts, unsigned n, unsigned hint)
{
    p->ops->deliver(p, pkts, n, hint);
}

void net_port_deliver(struct net_port *p, struct net_pkt *const *pkts, unsigned n, unsigned hint)
{
    struct net_port_hook *h = atomic_load_explicit(&p->hook, memory_order_acquire);
    if (h)
        filtered(h, p, true, pkts, n, hint, deliver);
    else
        deliver(p, pkts, n, hint);
}

_Atomic bool net_port_hooked_any;

void net_port_set_hook(struct net_port *p, struct net_port_hook *h)
{
    atomic_store_explicit(&net_port_hooked_any, true, memory_order_release);
    atomic_store_explicit(&p->hook, h, memory_order_release);
}

void net_port_counters(const struct net_port *p, struct net_port_counters *out)
{
    out->tx_packets = atomic_load_explicit(&p->tx_packets, memory_order_relaxed);
    out->tx_bytes = atomic_load_explicit(&p->tx_bytes, memory_order_relaxed);
    out->rx_packets = atomic_load_explicit(&p->rx_packets, memory_order_relaxed);
    out->rx_bytes = atomic_load_explicit(&p->rx_bytes, memory_order_relaxed);
    for (unsigned i = 0; i < NET_DROP__COUNT; i++)
        out->drops[i] = atomic_load_explicit(&p->drops[i], memory_order_relaxed);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int net_mac_parse(const char *s, uint8_t mac[6])
{
    if (!s || strlen(s) != 17)
        return -1;
    for (int i = 0; i < 6; i++) {
        int hi = hexval(s[3 * i]), lo = hexval(s[3 * i + 1]);
        if (hi < 0 || lo < 0 || (i < 5 && s[3 * i + 2] != ':'))
            return -1;
        mac[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

void net_mac_format(const uint8_t mac[6], char buf[18])
{
    snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
             mac[5]);
}

void net_mac_from_name(const char *name, uint8_t prefix0, uint8_t mac[6])
{
    /* FNV-1a: stable across runs, so a device keeps its address. */
    uint32_t h = 2166136261u;
    for (const char *c = name; *c; c++)
        h = (h ^ (uint8_t)*c) * 16777619u;
    mac[0] = prefix0;
    mac[1] = 0x54;
    mac[2] = 0x00;
    mac[3] = (uint8_t)(h >> 16);
    mac[4] = (uint8_t)(h >> 8);
    mac[5] = (uint8_t)h;
}
