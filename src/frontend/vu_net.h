/* Minimal virtio-net driver over vhost-user: one queue pair, no control
 * queue, no offloads, no mergeable rx buffers: what a VMM's test harness
 * (sidecore-bench iopf --device net) needs to receive and send frames.
 *
 * Contract:
 * - vu_net_open() does the whole start-up: connect, SET_OWNER, features
 *   (VERSION_1 required; MAC and EVENT_IDX taken when offered, MRG_RXBUF
 *   never), protocol features (REPLY_ACK, CONFIG, STATUS when offered; VPRI
 *   when cfg.vpri, and start-up fails if it is not offered), SET_MEM_TABLE,
 *   the VPRI map and channel, both rings (rx 0, tx 1), enable, DRIVER_OK.
 * - Every frame carries the 12-byte virtio-net header (all zero on
 *   transmit). rx buffers are one device-writable descriptor each; a tx
 *   frame is two descriptors: a header from the library's own area and the
 *   caller's frame. Buffers lie inside cfg.mem and are named by the
 *   caller's 64-bit tag.
 * - The device is hostile: a used length below the header or above the
 *   buffer (vu_vring checks the latter) kills the queue (-EPROTO).
 * Single-threaded per handle. */
#ifndef VU_NET_H
#define VU_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "vu_mem.h"
#include "vu_vpri.h"

#define VU_NET_F_MAC 5
#define VU_NET_F_MRG_RXBUF 15
#define VU_NET_HDR_LEN 12 /* struct virtio_net_hdr_v1 */
#define VU_NET_RXQ 0
#define VU_NET_TXQ 1

struct vu_net_cfg {
    const char *socket;
    unsigned connect_timeout_ms; /* 0: 5000 */
    uint16_t queue_size;         /* 0: 256; a power of two */
    struct vu_mem *mem;          /* guest memory (not owned) */
    struct vu_vpri *vpri;        /* optional, not owned: negotiate and send VPRI */
};

struct vu_net_rx {
    uint64_t tag;
    uint32_t len; /* frame bytes after the header; 0: handed back unused */
};

struct vu_net;

int vu_net_open(const struct vu_net_cfg *cfg, struct vu_net **out);
/* Stops the rings (GET_VRING_BASE) and closes; buffers outstanding are lost. */
void vu_net_close(struct vu_net *n);

uint64_t vu_net_features(const struct vu_net *n);
/* The device's MAC (config space), or 02:00:00:00:00:00 without VIRTIO_NET_F_MAC. */
const uint8_t *vu_net_mac(const struct vu_net *n);
uint16_t vu_net_queue_size(const struct vu_net *n);

/* Posts an rx buffer of len bytes (>= the header + 14). 0, -ENOSPC, -EINVAL,
 * -EPIPE (queue dead). rx buffers need no kick: the device takes them when
 * frames arrive. */
int vu_net_rx_post(struct vu_net *n, void *buf, uint32_t len, uint64_t tag);
/* Received frames (and buffers handed back unused); count or -errno. */
int vu_net_rx_reap(struct vu_net *n, struct vu_net_rx *out, unsigned max);

/* Queues a frame for transmission (publish only); vu_net_tx_kick notifies. */
int vu_net_tx(struct vu_net *n, const void *frame, uint32_t len, uint64_t tag);
int vu_net_tx_kick(struct vu_net *n);
/* Tags of frames the device is done with; count or -errno. */
int vu_net_tx_reap(struct vu_net *n, uint64_t *tags, unsigned max);
/* Frames queued and not reaped yet. */
unsigned vu_net_tx_outstanding(const struct vu_net *n);

#endif
