/* Net ports: the endpoints of an L2 segment (virtio-net devices, tap
 * interfaces, sink/source ports). A port is linked either to a switch
 * (net_switch.h) or straight to one peer port (a device wired to a private
 * sink/source for benchmarks).
 *
 * Sending: the port's own poller (a sidecore queue) hands a batch of packets
 * to net_port_send, which switches them and calls the receivers' deliver()
 * synchronously on the sender's thread. The packets' bytes stay valid until
 * send returns (they usually are the sender guest's buffers), so a receiver
 * copies them once, straight into its own buffers, and keeps no pointer.
 *
 * Receiving: deliver() may be called by several sidecores at once (one per
 * sending port); each port type serializes what it must (virtio: a lock per
 * rx queue, held for one batch). deliver() never blocks for long and never
 * fails the sender: a packet it cannot take is dropped and counted (by
 * reason) in the receiver's stats, as a NIC would.
 *
 * Offloads: a packet carries its virtio_net_hdr metadata (NEEDS_CSUM, GSO).
 * caps says what a receiver accepts as is; for anything beyond, the receiver
 * resolves it in software (net_offload.h) before taking the packet. */
#ifndef SC_NET_PORT_H
#define SC_NET_PORT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "../dev/virtio_net_spec.h"

/* Largest frame (Ethernet header onwards, no virtio header) anywhere: a
 * 64 KiB GSO packet plus Ethernet and VLAN headers. */
#define NET_MAX_FRAME (65536u + 18u)
#define NET_MIN_FRAME 14u /* an Ethernet header */
#define NET_MAX_IOV 256   /* iovecs of one packet (a tx chain's data part) */
#define NET_BATCH 32      /* packets handed over per send */

/* Offloads a receiver takes as is (and a sender may use). TSO implies CSUM. */
#define NET_CAP_CSUM 1u
#define NET_CAP_TSO4 2u
#define NET_CAP_TSO6 4u
#define NET_CAP_ALL (NET_CAP_CSUM | NET_CAP_TSO4 | NET_CAP_TSO6)

struct net_pkt {
    struct virtio_net_hdr_v1 hdr; /* offload metadata; num_buffers unused */
    const struct iovec *iov;      /* the frame, without a virtio header */
    uint16_t niov;
    uint32_t len;                 /* frame bytes, NET_MIN_FRAME..NET_MAX_FRAME */
    uint8_t eth[12];              /* destination and source MAC, copied once:
                                   * the sender may rewrite its buffer meanwhile */
};

enum net_drop {
    NET_DROP_BAD_HEADER, /* sender: virtio header invalid or not negotiated */
    NET_DROP_BAD_LENGTH, /* sender: frame shorter than 14 bytes or too long */
    NET_DROP_BAD_GSO,    /* receiver: GSO packet that cannot be segmented */
    NET_DROP_NO_BUFFERS, /* receiver: no (or too few) rx buffers posted */
    NET_DROP_FILTERED,   /* receiver: rx filter (promiscuous off), or sent back to its source */
    NET_DROP_LINK_DOWN,  /* receiver: not ready (rx queue not started, tap down) */
    NET_DROP_NO_LINK,    /* sender: the port is attached to nothing */
    NET_DROP_IO_ERROR,   /* receiver: write to the host interface failed */
    NET_DROP_OVER_MTU,   /* a frame (not GSO) longer than the device's MTU, sent or to receive */
    NET_DROP_SMALL_BUFFER, /* receiver without MRG_RXBUF: its next rx buffer is shorter than
                            * the frame (the driver posts buffers below its MTU) */
    NET_DROP__COUNT
};

extern const char *const net_drop_names[NET_DROP__COUNT];

struct net_port;
struct net_switch;

/* Interposition on a port (the control layer sets it; port types never see
 * it). filter keeps in out, in order, the packets of pkts[0..n) (n <=
 * NET_BATCH) that may cross: to_port when p receives them, else when p sends
 * them; returns how many. The rest are counted as filtered drops of p. A
 * hook, once set, stays valid for the port's whole life. */
struct net_port_hook {
    unsigned (*filter)(struct net_port_hook *h, struct net_port *p, bool to_port,
                       struct net_pkt *const *pkts, unsigned n, struct net_pkt **out);
};

struct net_port_ops {
    const char *type; /* "virtio", "tap", "sink" */
    void (*deliver)(struct net_port *p, struct net_pkt *const *pkts, unsigned n, unsigned hint);
    /* Optional: false while deliver() would drop everything (a device with
     * no rx queue started), so a generator wired to it can idle. */
    bool (*ready)(struct net_port *p);
};

struct net_port_counters {
    uint64_t tx_packets, tx_bytes; /* the port sent (into the switch) */
    uint64_t rx_packets, rx_bytes; /* the port took (from the switch) */
    uint64_t drops[NET_DROP__COUNT];
};

/* Room for a remote peer's port name: a tunnel's name (up to 47 bytes),
 * '@' and its vmhost's address (an IPv6 one in brackets is up to 47; the
 * compiler counts the 64-byte buffer it is formatted in). */
#define NET_PORT_NAME_MAX 112

struct net_port {
    const struct net_port_ops *ops;
    char name[NET_PORT_NAME_MAX];
    uint8_t mac[6];     /* the port's own address (sources send from it) */
    _Atomic unsigned caps; /* NET_CAP_* it receives as is; changes with negotiation */
    void *opaque;       /* the port type's object */

    /* Link: set on the control thread while the port's senders are stopped. */
    struct net_switch *sw;
    int sw_slot;
    struct net_port *peer;
    _Atomic(struct net_port_hook *) hook;

    /* Counters: senders and receivers run on different sidecores. */
    _Alignas(64) _Atomic uint64_t tx_packets, tx_bytes;
    _Alignas(64) _Atomic uint64_t rx_packets, rx_bytes;
    _Atomic uint64_t drops[NET_DROP__COUNT];
};

void net_port_init(struct net_port *p, const struct net_port_ops *ops, const char *name,
                   const uint8_t mac[6], unsigned caps, void *opaque);

/* Switch (or hand to the peer) a batch from p. hint is the sender's queue
 * index: a multiqueue virtio receiver steers frames by flow, and by hint
 * those that carry no IP addresses; a multiqueue tap writes into its queue
 * of that index. */
void net_port_send(struct net_port *p, struct net_pkt *const *pkts, unsigned n, unsigned hint);
/* What a switch or peer calls instead of p->ops->deliver: runs p's hook first. */
void net_port_deliver(struct net_port *p, struct net_pkt *const *pkts, unsigned n, unsigned hint);

/* Hooks p (control thread). From the first hook on, net_port_hooked() is
 * true for good: senders whose frames stay in memory their guest can still
 * write must then hand over a private copy of each frame's first
 * NET_FLOW_PEEK bytes (net_flow.h), the bytes a filter decides on, so the
 * receiver copies what the filter saw. */
void net_port_set_hook(struct net_port *p, struct net_port_hook *h);
extern _Atomic bool net_port_hooked_any;
static inline bool net_port_hooked(void)
{
    return atomic_load_explicit(&net_port_hooked_any, memory_order_acquire);
}

static inline void net_port_drop(struct net_port *p, enum net_drop why, uint64_t n)
{
    atomic_fetch_add_explicit(&p->drops[why], n, memory_order_relaxed);
}

static inline void net_port_rx(struct net_port *p, uint64_t pkts, uint64_t bytes)
{
    atomic_fetch_add_explicit(&p->rx_packets, pkts, memory_order_relaxed);
    atomic_fetch_add_explicit(&p->rx_bytes, bytes, memory_order_relaxed);
}

void net_port_counters(const struct net_port *p, struct net_port_counters *out);

/* "52:54:00:12:34:56" <-> bytes. parse returns 0 or -1. */
int net_mac_parse(const char *s, uint8_t mac[6]);
void net_mac_format(const uint8_t mac[6], char buf[18]);
/* A locally administered unicast address derived from a name. */
void net_mac_from_name(const char *name, uint8_t prefix0, uint8_t mac[6]);

#endif
