/* virtio-net device (virtio spec, "Network Device"), served by sidecores.
 *
 * Queue pairs (rx 2i, tx 2i+1) plus a control queue. Features: MRG_RXBUF,
 * INDIRECT_DESC, EVENT_IDX, MQ, CTRL_VQ (MQ VQ_PAIRS_SET, RX PROMISC and
 * ALLMULTI, MAC TABLE_SET; anything else answers VIRTIO_NET_ERR), CTRL_RX,
 * MTU, MAC, STATUS (link always up) and, unless offloads are off, CSUM,
 * GUEST_CSUM, HOST_TSO4/6, GUEST_TSO4/6.
 *
 * The device is a net_port (backend/net_port.h): what the guest transmits is
 * sent from it, what the switch delivers goes into the guest's rx buffers.
 * tx queues and the control queue are sidecore queues; rx queues are filled
 * by whichever sidecore sends to the device (see net_int.h for the locking).
 * A malformed ring stops the device (vdev_fail); a bad packet is dropped and
 * counted; a packet finding too few rx buffers is dropped and counted. */
#ifndef SC_NET_H
#define SC_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "../backend/net_port.h"
#include "../core/sidecore.h"
#include "../virtq/vdev.h"

#define NET_MAX_PAIRS 16
#define NET_DEFAULT_MTU 1500

struct net_dev_params {
    const char *name;     /* copied */
    uint16_t queue_pairs; /* 1..NET_MAX_PAIRS */
    uint8_t mac[6];
    uint16_t mtu;         /* 68..65535 */
    bool offload;         /* offer CSUM / GUEST_CSUM / TSO */
};

struct vdev *net_dev_create(const struct net_dev_params *p, struct sc_set *scs,
                            const char **why);
/* The device's port, to link to a switch or a peer before the vhost socket
 * opens, and to unlink after it closed. */
struct net_port *net_dev_port(struct vdev *d);

enum net_queue_kind { NET_Q_RX, NET_Q_TX, NET_Q_CTRL };

struct net_queue_stats {
    uint16_t index; /* virtqueue index */
    enum net_queue_kind kind;
    bool started;
    uint64_t packets, bytes; /* ctrl: commands */
    uint64_t kicks, notifies, busy_ns, polls;
};

/* Every queue the device has (started or not); returns the count written. */
unsigned net_dev_queue_stats(struct vdev *d, struct net_queue_stats *out, unsigned max);

struct net_dev_state {
    uint64_t features; /* negotiated */
    uint16_t max_pairs, active_pairs;
    bool promisc, allmulti;
    uint64_t ctrl_ok, ctrl_err;
    uint64_t announced; /* RARPs sent for the frontend (SEND_RARP) */
    uint32_t steered_flows; /* flows the receive steering table holds */
};
void net_dev_state(struct vdev *d, struct net_dev_state *out);

#endif
