/* virtio-net internals shared by net.c (vdev ops, config, queue life cycle),
 * net_tx.c (transmit poll), net_rx.c (delivery into rx queues) and
 * net_ctrl.c (control queue).
 *
 * Queue objects live as long as the device (their chain storage is
 * allocated at first start), so counters survive reconnects and a sender
 * racing a queue stop never touches freed memory.
 *
 * rx locking: an rx queue is filled by whichever sidecore sends to the
 * device, so several may try at once. Each rx queue has a spinlock, taken for
 * one delivered batch (at most NET_BATCH packets, each copied once): waits
 * are bounded by one batch's copy and no sidecore ever sleeps holding it.
 * The alternative, a per-queue mailbox drained by an owning sidecore, would
 * cost a second copy or a second pass over the sender's buffers, whose
 * lifetime ends when the sender completes its tx chains. The control thread
 * takes the same lock to start and stop the queue (vq NULL = stopped). */
#ifndef SC_NET_INT_H
#define SC_NET_INT_H

#include "../core/sc_quiesce.h"
#include <pthread.h>
#include <stdatomic.h>

#include "../backend/net_flow.h"
#include "../vpri/vpri_queue.h"
#include "net.h"
#include "virtio_net_spec.h"

#define NET_RX_RING 64     /* rx chains one packet may use / kept between packets */
#define NET_RX_MAX_IOV 64  /* iovecs per rx chain */
#define NET_CTRL_MAX_IOV 16
#define NET_CTRL_MAX_DATA 4096
#define NET_MAC_FILTER_MAX 64
#define NET_ERR_LOG_MAX 10 /* per queue: a hostile guest must not flood the log */

struct net_dev;

#define NET_TX_DRAIN_NS (5ull * 1000000000ull)   /* stop: wait for a parked chain */
#define NET_CTRL_DRAIN_NS (5ull * 1000000000ull) /* stop: wait for a parked command */
/* A stopped rx queue keeps its flows this long (net.c, net_rx_select_update). */
#define NET_RX_RESTART_NS (100ull * 1000000ull)

struct net_txq {
    struct net_dev *dev;
    uint16_t idx, pair;
    struct virtq *vq;
    int call_fd;
    struct sc_queue scq;
    char name[80];
    struct vq_chain chains[NET_BATCH];
    struct net_pkt pkts[NET_BATCH];
    struct net_pkt *ptrs[NET_BATCH];
    struct iovec *iov_store; /* NET_BATCH * (NET_MAX_IOV + 1) */
    uint64_t *gpa_store;     /* NET_BATCH * NET_MAX_IOV */
    uint8_t (*heads)[NET_FLOW_PEEK]; /* NET_BATCH private frame heads */
    uint16_t unpublished;    /* chains used but not yet handed back */
    uint8_t idle_polls;      /* rounds without new chains since then */
    /* VPRI: a chain whose pages are not resident parks the whole queue (tx
     * order is kept): it waits in chains[0] and nothing after it is popped
     * until it resumes. */
    struct vpri_q vp;
    bool held;
    uint8_t tags[NET_BATCH];
    struct sc_quiesce qz; /* vdev queue_quiesce: pops nothing while on */
};

/* VPRI: a queue parked on one chain looks at it again once the frontend
 * resolved faults; resume(chain, ctx) runs on it when its pages are back.
 * 1: resumed; 0: still parked; -1: the device failed (the reason logged,
 * prefixed with name). */
/* VPRI, before any byte of chain c is touched: VPRI_RESIDENT (*tag set to
 * its in-flight tag unless tag is NULL), VPRI_MISS (req parked: it names the
 * chain the queue resumes with), or -1 (the device failed; what names the
 * chain in the reason). */
int net_admit(struct net_dev *d, uint16_t idx, const char *name, const char *what,
              struct vpri_q *vp, const struct vq_chain *c, void *req, uint8_t *tag);
int net_unpark(struct net_dev *d, uint16_t idx, const char *name, struct vpri_q *vp,
               bool (*resume)(void *req, void *ctx), void *ctx);

/* Hands the tx chains used so far back to the driver (and notifies it if
 * it asked to be). For the stop path and before the queue sleeps. */
void net_tx_flush(struct net_txq *q);
/* Control thread, after sc_detach: forwards what the driver made available,
 * waits (bounded) for a parked chain to resume, then hands every chain
 * back and forgets the queue's VPRI state. */
void net_tx_stop(struct net_txq *q);

/* Popped rx chains not used yet, oldest first: a packet that finds too few
 * buffers leaves what it popped here for the next one (in order, as
 * IN_ORDER requires), instead of returning buffers to the guest unused. */
struct net_rxq {
    _Atomic int lock;
    struct net_dev *dev;
    uint16_t idx;
    struct virtq *vq; /* NULL while stopped; under lock */
    uint64_t stopped_ns; /* when it stopped, 0 if it runs or was reset; under lock */
    int call_fd;
    bool pushed;
    /* Used buffers held back from publication (net_rx.c): set under the
     * lock, read without it by the poll that publishes them. */
    _Atomic bool held_back;
    uint8_t held_polls; /* polls since they were held back; under lock */
    struct sc_queue scq; /* light: only publishes what deliveries held back */
    struct vq_chain ring[NET_RX_RING];
    uint16_t head, count;
    struct iovec *iov_store;
    uint64_t *gpa_store;
    uint64_t packets, bytes, notifies; /* under lock */
    /* VPRI, under lock: a held chain whose pages are not resident parks the
     * queue; frames for it are dropped until the pages come back. */
    struct vpri_q vp;
    unsigned err_logs;
    char name[80];
};

struct net_ctrlq {
    struct net_dev *dev;
    uint16_t idx;
    struct virtq *vq;
    int call_fd;
    struct sc_queue scq;
    char name[80];
    struct vq_chain chain;
    struct iovec iov[NET_CTRL_MAX_IOV];
    uint64_t gpa[NET_CTRL_MAX_IOV];
    uint8_t data[NET_CTRL_MAX_DATA];
    /* VPRI: a command whose pages are not resident parks the queue (chain
     * held, commands run in order) until they are. */
    struct vpri_q vp;
    bool held;
    uint8_t tag;
    struct sc_quiesce qz; /* vdev queue_quiesce: takes no command while on */
};

/* Best effort, as the spec allows: read without locks by deliverers. */
struct net_rx_filter {
    _Atomic bool promisc, allmulti;
    _Atomic bool uc_all, mc_all; /* table overflowed: accept the whole class */
    _Atomic uint32_t n_uc, n_mc;
    _Atomic uint64_t uc[NET_MAC_FILTER_MAX], mc[NET_MAC_FILTER_MAX];
};

struct net_dev {
    struct vdev vdev;
    char name[64];
    struct net_port port;
    struct sc_set *scs;
    uint16_t max_pairs;
    bool offload;
    struct virtio_net_config cfg;
    uint64_t mac48;
    uint64_t features; /* negotiated; control thread */
    /* Read by the data path; set while the queues are stopped. */
    unsigned hdr_len;  /* 12 with VERSION_1 or MRG_RXBUF, else 10 */
    /* The longest frame without GSO either way: the MTU, the Ethernet
     * header and one VLAN tag (as a Linux bridge forwards). */
    uint32_t max_frame;
    bool mrg;
    unsigned tx_allowed; /* NET_CAP_* the driver may request on transmit */

    struct net_txq *txq[NET_MAX_PAIRS];
    struct net_rxq *rxq[NET_MAX_PAIRS];
    struct net_ctrlq *ctrlq;

    /* Rx queue choice for senders: started rx queues below active_pairs. */
    pthread_mutex_t sel_lock;
    _Atomic uint16_t active_pairs;
    /* The driver chose active_pairs with VQ_PAIRS_SET since the last reset:
     * a restart of the control queue (a new eventfd) keeps its choice. */
    _Atomic bool pairs_set;
    _Atomic uint16_t rx_nsel;
    _Atomic uint16_t rx_sel[NET_MAX_PAIRS];
    struct net_steer *steer; /* with more than one pair (so rx_nsel > 1 has one) */

    struct net_rx_filter filter;
    _Atomic uint64_t ctrl_ok, ctrl_err;
    /* A RARP to send for the frontend (SEND_RARP): the MAC address in the
     * low 48 bits with NET_ANNOUNCE_PENDING; sent by tx queue 0's poll. */
    _Atomic uint64_t announce;
    _Atomic uint64_t announced;
};

#define NET_ANNOUNCE_PENDING (1ull << 63)

/* net_tx.c */
int net_tx_poll(struct sc_queue *scq);
bool net_tx_set_notify(struct sc_queue *scq, bool enable);
/* net_rx.c */
void net_rx_deliver(struct net_port *p, struct net_pkt *const *pkts, unsigned n, unsigned hint);
void net_rx_lock(struct net_rxq *q);
void net_rx_unlock(struct net_rxq *q);
/* Control thread, under the lock, before the queue stops: hand back
 * chains popped but not used (a parked one too: nothing was written). */
void net_rx_return_held(struct net_rxq *q);
int net_rx_poll(struct sc_queue *scq);
bool net_rx_set_notify(struct sc_queue *scq, bool enable);
/* net_ctrl.c */
int net_ctrl_poll(struct sc_queue *scq);
bool net_ctrl_set_notify(struct sc_queue *scq, bool enable);
/* Control thread, the queue detached: waits (bounded, not at all once the
 * frontend is gone) for a parked command, else hands it back unanswered. */
void net_ctrl_stop(struct net_ctrlq *q);
/* net_steer.c: the flow table of a multiqueue device. learn records that
 * pair's tx queue sent pkts; pick sets qi[i] to the rx queue for pkts[i]
 * among the nsel started ones in sel (n <= NET_BATCH). Any thread. */
#define NET_STEER_SLOTS 4096u
struct net_steer {
    _Atomic uint32_t slot[NET_STEER_SLOTS];
};
struct net_steer *net_steer_new(void);
uint32_t net_steer_flows(const struct net_steer *s); /* slots in use */
/* Forgets every flow (a reset: the next driver's flows are its own). */
void net_steer_clear(struct net_steer *s);
void net_steer_learn(struct net_steer *s, uint16_t pair, struct net_pkt *const *pkts,
                     unsigned n);
void net_steer_pick(const struct net_steer *s, const _Atomic uint16_t *sel, uint16_t nsel,
                    struct net_pkt *const *pkts, unsigned n, unsigned hint, uint16_t *qi);
/* net.c: recompute the rx queue choice (any thread). */
void net_rx_select_update(struct net_dev *d);
void net_filter_reset(struct net_rx_filter *f);

#define NET_QERR(q, ...)                                                                 \
    do {                                                                                 \
        if ((q)->err_logs < NET_ERR_LOG_MAX) {                                           \
            (q)->err_logs++;                                                             \
            LOG_ERR("net", __VA_ARGS__);                                                 \
        }                                                                                \
    } while (0)

#endif
