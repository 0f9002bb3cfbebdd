/* vhost-user backend: serves one virtio device (struct vdev) on one unix
 * socket, as a server (we listen, the frontend connects; one frontend at a
 * time) or as a client (we connect to a listening frontend and reconnect
 * when it goes away). Contract: QEMU docs/interop/vhost-user.rst.
 *
 * Runs on the control thread's event loop. Every message is validated
 * (size, fd count, ranges, state) before it has any effect. A bad message is
 * logged with the reason, answered with an error where the protocol allows
 * (REPLY_ACK), and stops the device: its queues stop, NEEDS_RESET is set,
 * the connection is closed. Other devices are unaffected. A frontend
 * disconnect stops the queues; a new connection starts from scratch. */
#ifndef SC_VHOST_USER_H
#define SC_VHOST_USER_H

#include <stdbool.h>
#include <stdint.h>

#include "../common/evloop.h"
#include "../virtq/vdev.h"
#include "../vpri/vpri_stats.h"

struct vhost_dev;

struct vhost_dev_cfg {
    const char *socket_path;
    bool client;       /* connect to the frontend instead of listening */
    struct vdev *dev;  /* not owned */
    unsigned prefault_threads; /* > 0: pre-fault guest memory at SET_MEM_TABLE */
    const char *ring_state_path; /* file that keeps packed rings' used positions
                        * across a crash or restart of the daemon (frontends
                        * without an inflight area); NULL: none */
    bool vpri;         /* offer VPRI (docs/VPRI.md): only for devices that check
                        * residency before touching guest buffers (blk, net) */
};

struct vhost_dev_info {
    bool connected;
    uint8_t status;             /* virtio device status */
    uint64_t features;          /* negotiated */
    uint64_t protocol_features; /* negotiated */
    unsigned queues_started;
    unsigned mem_regions;
    uint64_t mem_bytes;
    uint64_t messages;          /* messages handled on the current connection */
    uint64_t connections;       /* connections accepted/made in total */
    bool failed;                /* stopped now; a new connection starts afresh */
    uint64_t failures;          /* times a frontend's bad input stopped the device */
    char why[192];              /* last failure (kept across reconnects), empty if none */
    char connect_error[192];    /* client mode: why the last connect failed, empty once one
                                 * worked */
    uint64_t config_changes;    /* CONFIG_CHANGE_MSGs sent on the backend channel */
    bool stopping;              /* a message or hangup waits for rings to finish requests */
    uint64_t stopping_ms;       /* how long it has waited so far */
};

/* Creates the socket (server: unlinks a stale path first) and registers with
 * the loop. Returns 0 or -errno with *why set. */
int vhost_dev_create(struct evloop *loop, const struct vhost_dev_cfg *cfg,
                     struct vhost_dev **out, const char **why);
/* Stops queues, closes the connection and the socket (unlinks the path). */
void vhost_dev_destroy(struct vhost_dev *v);
/* Before destroying many devices (daemon exit): every running ring takes no
 * new requests from here on, so the drains that vhost_dev_destroy waits for
 * run side by side and share one bound instead of adding up. */
void vhost_dev_quiesce(struct vhost_dev *v);
/* Deleting one device without blocking the loop: from here on it reads no
 * message, accepts or makes no connection and its rings take no new
 * request; the caller waits (on the loop) for vhost_dev_settled, then
 * vhost_dev_destroy finds nothing left to wait for. */
void vhost_dev_retire(struct vhost_dev *v);
/* True once no quiesced ring holds a request. */
bool vhost_dev_settled(struct vhost_dev *v);
/* The device goes (deleted, or the daemon exits): its file of packed-ring
 * crash records (cfg.ring_state_path) is removed, unless the frontend runs
 * packed rings: a VM that keeps running only resends its first bases, and
 * the next device of this name (in this daemon or the next) resumes its
 * rings from the records. A destroy calls it too. */
void vhost_dev_drop_ring_state(struct vhost_dev *v);
void vhost_dev_get_info(struct vhost_dev *v, struct vhost_dev_info *out);
/* VPRI counters per virtqueue index: the live channel's plus those of the
 * channels before it. Returns the queues written, 0 if the device never
 * had a VPRI channel. */
unsigned vhost_dev_vpri_stats(struct vhost_dev *v, struct vpri_qstats *out, unsigned max);

#endif
