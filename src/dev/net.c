/* virtio-net device: features, config space, queue life cycle and the rx
 * queue choice (control thread). Data path: net_tx.c, net_rx.c, net_ctrl.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/log.h"
#include "../common/util.h"
#include "net_int.h"

#define DEV(v) ((struct net_dev *)(v))
#define BIT(b) (1ull << (b))

static bool net_port_ready(struct net_port *p)
{
    struct net_dev *d = p->opaque;
    return atomic_load_explicit(&d->rx_nsel, memory_order_relaxed) > 0 &&
           !vdev_is_broken(&d->vdev);
}

static const struct net_port_ops net_port_ops = {
    .type = "virtio", .deliver = net_rx_deliver, .ready = net_port_ready};

static uint64_t net_features(struct vdev *v)
{
    struct net_dev *d = DEV(v);
    uint64_t f = BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_RING_F_INDIRECT_DESC) |
                 BIT(VIRTIO_RING_F_EVENT_IDX) | BIT(VIRTIO_NET_F_MRG_RXBUF) |
                 BIT(VIRTIO_NET_F_MQ) | BIT(VIRTIO_NET_F_CTRL_VQ) | BIT(VIRTIO_NET_F_CTRL_RX) |
                 BIT(VIRTIO_NET_F_MTU) | BIT(VIRTIO_NET_F_MAC) | BIT(VIRTIO_NET_F_STATUS) |
                 BIT(VIRTIO_F_RING_PACKED) | BIT(VIRTIO_F_IN_ORDER);
    if (d->offload)
        f |= BIT(VIRTIO_NET_F_CSUM) | BIT(VIRTIO_NET_F_GUEST_CSUM) |
             BIT(VIRTIO_NET_F_HOST_TSO4) | BIT(VIRTIO_NET_F_HOST_TSO6) |
             BIT(VIRTIO_NET_F_GUEST_TSO4) | BIT(VIRTIO_NET_F_GUEST_TSO6);
    return f;
}

static int net_set_features(struct vdev *v, uint64_t f)
{
    struct net_dev *d = DEV(v);
    bool csum = f & BIT(VIRTIO_NET_F_CSUM), gcsum = f & BIT(VIRTIO_NET_F_GUEST_CSUM);
    unsigned rx = 0, tx = 0;

    d->features = f;
    d->mrg = f & BIT(VIRTIO_NET_F_MRG_RXBUF);
    d->hdr_len = (d->mrg || (f & BIT(VIRTIO_F_VERSION_1))) ? VIRTIO_NET_HDR_LEN
                                                          : VIRTIO_NET_HDR_LEGACY_LEN;
    /* TSO without the matching checksum offload is not a valid choice
     * (virtio spec, feature requirements): treated as absent. */
    if (gcsum) {
        rx |= NET_CAP_CSUM;
        if (f & BIT(VIRTIO_NET_F_GUEST_TSO4))
            rx |= NET_CAP_TSO4;
        if (f & BIT(VIRTIO_NET_F_GUEST_TSO6))
            rx |= NET_CAP_TSO6;
    }
    if (csum) {
        tx |= NET_CAP_CSUM;
        if (f & BIT(VIRTIO_NET_F_HOST_TSO4))
            tx |= NET_CAP_TSO4;
        if (f & BIT(VIRTIO_NET_F_HOST_TSO6))
            tx |= NET_CAP_TSO6;
    }
    d->tx_allowed = tx;
    atomic_store(&d->port.caps, rx);
    return 0;
}

static uint16_t net_max_queues(struct vdev *v)
{
    return (uint16_t)(DEV(v)->max_pairs * 2 + 1);
}

static uint32_t net_config_size(struct vdev *v)
{
    (void)v;
    return sizeof(struct virtio_net_config);
}

static void net_get_config(struct vdev *v, uint8_t *buf, uint32_t off, uint32_t len)
{
    struct net_dev *d = DEV(v);
    if (off > sizeof(d->cfg) || len > sizeof(d->cfg) - off) {
        memset(buf, 0, len);
        return;
    }
    memcpy(buf, (const uint8_t *)&d->cfg + off, len);
}

static int net_set_config(struct vdev *v, const uint8_t *buf, uint32_t off, uint32_t len)
{
    (void)buf;
    /* The MAC is writable only for legacy drivers without CTRL_MAC_ADDR. */
    LOG_ERR("net", "%s: config write of %u bytes at %u refused: the config space is "
            "read-only", DEV(v)->name, len, off);
    return -EPERM;
}

static const struct vq_chain *parked_chain(void *req)
{
    return req;
}

int net_admit(struct net_dev *d, uint16_t idx, const char *name, const char *what,
              struct vpri_q *vp, const struct vq_chain *c, void *req, uint8_t *tag)
{
    struct vpri_miss m;
    enum vpri_verdict v = vpri_q_check(vp, c, &m);
    if (v == VPRI_RESIDENT) {
        if (tag)
            *tag = vpri_q_begin(vp, c);
        return VPRI_RESIDENT;
    }
    if (v == VPRI_MISS && vpri_park(vp, req, &m) == 0)
        return VPRI_MISS;
    vdev_fail(&d->vdev, idx, "%s: %s (head %u): %s at gpa 0x%llx", name, what, c->head,
              v == VPRI_MISS ? "the IOPF ring's consumer index is corrupt"
                             : "buffer reaches past the PA-BITMAP",
              (unsigned long long)m.gpa);
    return -1;
}

int net_unpark(struct net_dev *d, uint16_t idx, const char *name, struct vpri_q *vp,
               bool (*resume)(void *req, void *ctx), void *ctx)
{
    const char *why = NULL;
    if (vpri_park_needs_scan(vp) && vpri_park_scan(vp, parked_chain, resume, ctx, &why) < 0) {
        vdev_fail(&d->vdev, idx, "%s: %s", name, why);
        return -1;
    }
    return vp->park.n == 0;
}

void net_filter_reset(struct net_rx_filter *f)
{
    /* Promiscuous until the driver says otherwise, as QEMU's device does. */
    atomic_store(&f->promisc, true);
    atomic_store(&f->allmulti, false);
    atomic_store(&f->uc_all, false);
    atomic_store(&f->mc_all, false);
    atomic_store(&f->n_uc, 0);
    atomic_store(&f->n_mc, 0);
}

/* The rx queues of active pairs that run, or stopped less than
 * NET_RX_RESTART_NS ago: a frontend restarts rings one by one (QEMU does,
 * to turn dirty logging on as a migration starts), and steering a flow to
 * another queue meanwhile, then back, let the guest take its frames out of
 * order (the queues are served independently). Frames for a stopped queue
 * are dropped, as a NIC's ring that is down drops them; once the grace is
 * over the flows go elsewhere (QEMU disabling a pair looks the same). */
void net_rx_select_update(struct net_dev *d)
{
    pthread_mutex_lock(&d->sel_lock);
    uint16_t active = atomic_load(&d->active_pairs), n = 0;
    /* Publish a shrinking set by its count first, a growing one by its
     * entries first, so a sender never picks an unset entry. */
    uint16_t sel[NET_MAX_PAIRS];
    uint64_t now = sc_now_ns();
    for (uint16_t i = 0; i < d->max_pairs && i < active; i++) {
        struct net_rxq *q = d->rxq[i];
        if (!q)
            continue;
        net_rx_lock(q);
        bool on = q->vq != NULL || (q->stopped_ns && now - q->stopped_ns < NET_RX_RESTART_NS);
        net_rx_unlock(q);
        if (on)
            sel[n++] = i;
    }
    uint16_t old = atomic_load(&d->rx_nsel);
    if (n < old)
        atomic_store(&d->rx_nsel, n);
    for (uint16_t i = 0; i < n; i++)
        atomic_store(&d->rx_sel[i], sel[i]);
    atomic_store(&d->rx_nsel, n);
    pthread_mutex_unlock(&d->sel_lock);
}

static int txq_start(struct net_dev *d, uint16_t idx, struct virtq *vq, int kick_fd,
                     int call_fd)
{
    uint16_t pair = idx / 2;
    struct net_txq *q = d->txq[pair];
    if (!q) {
        q = calloc(1, sizeof(*q));
        /* One spare iovec before each chain's: a private copy of the
         * frame's head goes there (net_tx.c, private_head). */
        struct iovec *iov = calloc((size_t)NET_BATCH * (NET_MAX_IOV + 1), sizeof(*iov));
        uint64_t *gpa = calloc((size_t)NET_BATCH * NET_MAX_IOV, sizeof(*gpa));
        uint8_t(*heads)[NET_FLOW_PEEK] = calloc(NET_BATCH, NET_FLOW_PEEK);
        if (!q || !iov || !gpa || !heads) {
            free(q);
            free(iov);
            free(gpa);
            free(heads);
            return -ENOMEM;
        }
        q->dev = d;
        q->idx = idx;
        q->pair = pair;
        q->iov_store = iov;
        q->gpa_store = gpa;
        q->heads = heads;
        for (unsigned i = 0; i < NET_BATCH; i++) {
            q->chains[i].iov = iov + (size_t)i * (NET_MAX_IOV + 1) + 1;
            q->chains[i].gpa = gpa + (size_t)i * NET_MAX_IOV;
            q->chains[i].max_iov = NET_MAX_IOV;
        }
        snprintf(q->name, sizeof(q->name), "%s.tx%u", d->name, pair);
        q->scq.name = q->name;
        q->scq.poll = net_tx_poll;
        q->scq.set_notify = net_tx_set_notify;
        q->scq.opaque = q;
        d->txq[pair] = q;
    }
    if (q->vq)
        return -EBUSY;
    q->vq = vq;
    vq_set_reads_only(vq, true);
    q->call_fd = call_fd;
    q->unpublished = q->idle_polls = 0;
    q->held = false;
    sc_qz_clear(&q->qz);
    vpri_q_bind(&q->vp, vq->gm, idx);
    q->scq.kick_fd = kick_fd;
    q->scq.aux_fd = -1;
    int rc = sc_attach(d->scs, &q->scq);
    if (rc < 0) {
        vpri_q_unbind(&q->vp);
        q->vq = NULL;
    }
    return rc;
}

static int rxq_start(struct net_dev *d, uint16_t idx, struct virtq *vq, int call_fd)
{
    uint16_t pair = idx / 2;
    struct net_rxq *q = d->rxq[pair];
    if (!q) {
        q = calloc(1, sizeof(*q));
        struct iovec *iov = calloc((size_t)NET_RX_RING * NET_RX_MAX_IOV, sizeof(*iov));
        uint64_t *gpa = calloc((size_t)NET_RX_RING * NET_RX_MAX_IOV, sizeof(*gpa));
        if (!q || !iov || !gpa) {
            free(q);
            free(iov);
            free(gpa);
            return -ENOMEM;
        }
        q->dev = d;
        q->idx = idx;
        q->iov_store = iov;
        q->gpa_store = gpa;
        for (unsigned i = 0; i < NET_RX_RING; i++) {
            q->ring[i].iov = iov + (size_t)i * NET_RX_MAX_IOV;
            q->ring[i].gpa = gpa + (size_t)i * NET_RX_MAX_IOV;
            q->ring[i].max_iov = NET_RX_MAX_IOV;
        }
        snprintf(q->name, sizeof(q->name), "%s.rx%u", d->name, pair);
        q->scq.name = q->name;
        q->scq.poll = net_rx_poll;
        q->scq.set_notify = net_rx_set_notify;
        q->scq.kick_fd = q->scq.aux_fd = -1;
        q->scq.light = true;
        q->scq.opaque = q;
        d->rxq[pair] = q;
    }
    if (q->vq)
        return -EBUSY;
    /* Nobody polls an rx ring for buffers: packets arrive when senders
     * have them, and an rx queue without buffers drops, so guest kicks
     * would be wasted. Its sc_queue only publishes what deliveries held
     * back. */
    vq_set_notify(vq, false);
    net_rx_lock(q);
    q->vq = vq;
    q->stopped_ns = 0;
    q->call_fd = call_fd;
    q->head = q->count = 0;
    q->pushed = false;
    q->held_polls = 0;
    atomic_store(&q->held_back, false);
    vpri_q_bind(&q->vp, vq->gm, idx);
    net_rx_unlock(q);
    int rc = sc_attach(d->scs, &q->scq);
    if (rc < 0) {
        net_rx_lock(q);
        vpri_q_unbind(&q->vp);
        q->vq = NULL;
        net_rx_unlock(q);
        return rc;
    }
    net_rx_select_update(d);
    return 0;
}

static int ctrlq_start(struct net_dev *d, uint16_t idx, struct virtq *vq, int kick_fd,
                       int call_fd)
{
    struct net_ctrlq *q = d->ctrlq;
    if (!q) {
        q = calloc(1, sizeof(*q));
        if (!q)
            return -ENOMEM;
        q->dev = d;
        q->chain.iov = q->iov;
        q->chain.gpa = q->gpa;
        q->chain.max_iov = NET_CTRL_MAX_IOV;
        snprintf(q->name, sizeof(q->name), "%s.ctrl", d->name);
        q->scq.name = q->name;
        q->scq.poll = net_ctrl_poll;
        q->scq.set_notify = net_ctrl_set_notify;
        q->scq.opaque = q;
        d->ctrlq = q;
    }
    if (q->vq)
        return -EBUSY;
    q->idx = idx;
    q->vq = vq;
    q->call_fd = call_fd;
    q->held = false;
    sc_qz_clear(&q->qz);
    vpri_q_bind(&q->vp, vq->gm, idx);
    q->scq.kick_fd = kick_fd;
    q->scq.aux_fd = -1;
    /* A driver that hands us the control queue steers multiqueue through
     * it: one pair until VQ_PAIRS_SET (virtio spec). Frontends that keep the
     * control queue to themselves enable rings instead. */
    if ((d->features & BIT(VIRTIO_NET_F_MQ)) && !atomic_load(&d->pairs_set)) {
        atomic_store(&d->active_pairs, 1);
        net_rx_select_update(d);
    }
    int rc = sc_attach(d->scs, &q->scq);
    if (rc < 0) {
        vpri_q_unbind(&q->vp);
        q->vq = NULL;
    }
    return rc;
}

static int ctrl_index(const struct net_dev *d)
{
    if (!(d->features & BIT(VIRTIO_NET_F_CTRL_VQ)))
        return -1;
    return (d->features & BIT(VIRTIO_NET_F_MQ)) ? d->max_pairs * 2 : 2;
}

static int net_queue_start(struct vdev *v, uint16_t idx, struct virtq *vq, int kick_fd,
                           int call_fd)
{
    struct net_dev *d = DEV(v);
    int rc;
    if (!vq || vq->num == 0) {
        LOG_ERR("net", "%s: queue %u has no ring", d->name, idx);
        return -EINVAL;
    }
    /* Every net queue hands chains back in the order it took them. */
    vq_device_in_order(vq);
    uint16_t npairs = (d->features & BIT(VIRTIO_NET_F_MQ)) ? d->max_pairs : 1;
    if (idx == ctrl_index(d))
        rc = ctrlq_start(d, idx, vq, kick_fd, call_fd);
    else if (idx >= npairs * 2)
        rc = -EINVAL;
    else if (idx % 2)
        rc = txq_start(d, idx, vq, kick_fd, call_fd);
    else
        rc = rxq_start(d, idx, vq, call_fd);
    if (rc < 0)
        LOG_ERR("net", "%s: cannot start queue %u: %s", d->name, idx,
                rc == -EINVAL ? "no such queue with the negotiated features" : strerror(-rc));
    return rc;
}

static void net_queue_stop(struct vdev *v, uint16_t idx)
{
    struct net_dev *d = DEV(v);
    if (d->ctrlq && d->ctrlq->vq && idx == d->ctrlq->idx) {
        sc_detach(&d->ctrlq->scq);
        net_ctrl_stop(d->ctrlq);
        d->ctrlq->vq = NULL;
        return;
    }
    if (idx >= d->max_pairs * 2)
        return;
    uint16_t pair = idx / 2;
    if (idx % 2) {
        struct net_txq *q = d->txq[pair];
        if (q && q->vq) {
            sc_detach(&q->scq);
            net_tx_stop(q);
            q->vq = NULL;
        }
        return;
    }
    struct net_rxq *q = d->rxq[pair];
    if (!q || !q->vq)
        return;
    sc_detach(&q->scq);
    net_rx_lock(q);
    net_rx_return_held(q);
    vpri_q_unbind(&q->vp);
    q->vq = NULL;
    q->stopped_ns = sc_now_ns();
    net_rx_unlock(q);
    net_rx_select_update(d);
}

static void net_reset(struct vdev *v)
{
    struct net_dev *d = DEV(v);
    for (uint16_t i = 0; i < d->max_pairs * 2 + 1; i++)
        net_queue_stop(v, i);
    for (uint16_t i = 0; i < d->max_pairs; i++)
        if (d->rxq[i])
            d->rxq[i]->stopped_ns = 0; /* no restart to wait for: the driver is gone */
    d->features = 0;
    d->tx_allowed = 0;
    atomic_store(&d->announce, 0);
    atomic_store(&d->port.caps, 0);
    atomic_store(&d->active_pairs, d->max_pairs);
    atomic_store(&d->pairs_set, false);
    net_filter_reset(&d->filter);
    net_rx_select_update(d);
    if (d->steer)
        net_steer_clear(d->steer);
}

static void net_destroy(struct vdev *v)
{
    struct net_dev *d = DEV(v);
    if (!d)
        return;
    for (uint16_t i = 0; i < d->max_pairs * 2 + 1; i++)
        net_queue_stop(v, i);
    if (d->port.sw || d->port.peer)
        LOG_ERR("net", "%s: destroyed while its port is still linked", d->name);
    for (unsigned i = 0; i < d->max_pairs; i++) {
        if (d->txq[i]) {
            free(d->txq[i]->iov_store);
            free(d->txq[i]->gpa_store);
            free(d->txq[i]->heads);
        }
        if (d->rxq[i]) {
            free(d->rxq[i]->iov_store);
            free(d->rxq[i]->gpa_store);
        }
        free(d->txq[i]);
        free(d->rxq[i]);
    }
    free(d->ctrlq);
    free(d->steer);
    pthread_mutex_destroy(&d->sel_lock);
    free(d);
}

/* Only parked requests (VPRI) make a net queue's stop wait: rx copies
 * inside a round, and what it holds after one (used buffers not published
 * yet, chains popped but not filled) goes back at stop; tx and control
 * hand a chain back or park it. */
static struct sc_quiesce *quiesce_of(struct net_dev *d, uint16_t idx, struct sc_queue **scq,
                                     uint64_t *bound_ns, struct vpri_q **vp)
{
    if (d->ctrlq && d->ctrlq->vq && idx == d->ctrlq->idx) {
        *scq = &d->ctrlq->scq;
        *bound_ns = NET_CTRL_DRAIN_NS;
        *vp = &d->ctrlq->vp;
        return &d->ctrlq->qz;
    }
    if (idx >= d->max_pairs * 2 || idx % 2 == 0 || !d->txq[idx / 2] || !d->txq[idx / 2]->vq)
        return NULL;
    struct net_txq *q = d->txq[idx / 2];
    *scq = &q->scq;
    *bound_ns = NET_TX_DRAIN_NS;
    *vp = &q->vp;
    return &q->qz;
}

static bool net_queue_quiesce(struct vdev *v, uint16_t idx, bool on)
{
    struct sc_queue *scq;
    uint64_t bound;
    struct vpri_q *vp;
    struct sc_quiesce *z = quiesce_of(DEV(v), idx, &scq, &bound, &vp);
    if (!z)
        return false;
    sc_qz_set(z, scq, on);
    return true;
}

static bool net_queue_settled(struct vdev *v, uint16_t idx)
{
    struct sc_queue *scq;
    uint64_t bound, waited;
    struct vpri_q *vp;
    struct sc_quiesce *z = quiesce_of(DEV(v), idx, &scq, &bound, &vp);
    if (!z || vdev_is_broken(v))
        return true;
    switch (sc_qz_hold(z, &waited)) {
    case SC_HOLD_NONE:
        return true;
    case SC_HOLD_PARKED:
        return vpri_q_owner_gone(vp) || waited > vpri_q_stop_bound(vp, bound);
    default:
        return waited > bound;
    }
}

static int net_announce(struct vdev *v, const uint8_t mac[6])
{
    struct net_dev *d = DEV(v);
    uint64_t a = NET_ANNOUNCE_PENDING;
    for (int i = 0; i < 6; i++)
        a |= (uint64_t)mac[i] << (40 - 8 * i);
    atomic_store(&d->announce, a);
    /* Tx queue 0's poll sends it; a sleeping sidecore must run it now. */
    if (d->txq[0] && d->txq[0]->vq)
        sc_wake(&d->txq[0]->scq);
    LOG_INFO("net", "%s: announcing %02x:%02x:%02x:%02x:%02x:%02x (RARP) for the frontend",
             d->name, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
    return 0;
}

static const struct vdev_ops net_ops = {
    .type = "virtio-net",
    .features = net_features,
    .set_features = net_set_features,
    .max_queues = net_max_queues,
    .config_size = net_config_size,
    .get_config = net_get_config,
    .set_config = net_set_config,
    .queue_start = net_queue_start,
    .queue_stop = net_queue_stop,
    .queue_quiesce = net_queue_quiesce,
    .queue_settled = net_queue_settled,
    .announce = net_announce,
    .reset = net_reset,
    .destroy = net_destroy,
};

struct vdev *net_dev_create(const struct net_dev_params *p, struct sc_set *scs,
                            const char **why)
{
    if (!p || !p->name || !p->name[0]) {
        *why = "a device name is required";
        return NULL;
    }
    if (strlen(p->name) >= sizeof(((struct net_dev *)0)->name)) {
        *why = "device name is too long (max 63 bytes)";
        return NULL;
    }
    if (p->queue_pairs < 1 || p->queue_pairs > NET_MAX_PAIRS) {
        *why = "queue pairs must be 1..16";
        return NULL;
    }
    if (p->mtu < 68) {
        *why = "mtu must be 68..65535";
        return NULL;
    }
    if (p->mac[0] & 1) {
        *why = "the mac must be a unicast address";
        return NULL;
    }
    if (!scs) {
        *why = "a sidecore set is required";
        return NULL;
    }
    struct net_dev *d = calloc(1, sizeof(*d));
    if (!d) {
        *why = "out of memory";
        return NULL;
    }
    if (p->queue_pairs > 1 && !(d->steer = net_steer_new())) {
        free(d);
        *why = "out of memory";
        return NULL;
    }
    snprintf(d->name, sizeof(d->name), "%s", p->name);
    d->vdev.ops = &net_ops;
    d->vdev.name = d->name;
    d->scs = scs;
    d->max_pairs = p->queue_pairs;
    d->offload = p->offload;
    d->hdr_len = VIRTIO_NET_HDR_LEN;
    memcpy(d->cfg.mac, p->mac, 6);
    d->cfg.status = VIRTIO_NET_S_LINK_UP;
    d->cfg.max_virtqueue_pairs = p->queue_pairs;
    d->cfg.mtu = p->mtu;
    d->max_frame = SC_MIN((uint32_t)p->mtu + 18u, (uint32_t)NET_MAX_FRAME);
    for (int i = 0; i < 6; i++)
        d->mac48 = d->mac48 << 8 | p->mac[i];
    pthread_mutex_init(&d->sel_lock, NULL);
    atomic_init(&d->active_pairs, p->queue_pairs);
    net_filter_reset(&d->filter);
    net_port_init(&d->port, &net_port_ops, d->name, p->mac, 0, d);
    return &d->vdev;
}

struct net_port *net_dev_port(struct vdev *v)
{
    return &DEV(v)->port;
}

unsigned net_dev_queue_stats(struct vdev *v, struct net_queue_stats *out, unsigned max)
{
    struct net_dev *d = DEV(v);
    unsigned n = 0;
    for (uint16_t i = 0; i < d->max_pairs && n + 2 <= max; i++) {
        struct net_queue_stats *r = &out[n++], *t = &out[n++];
        memset(r, 0, sizeof(*r));
        memset(t, 0, sizeof(*t));
        r->index = (uint16_t)(2 * i);
        r->kind = NET_Q_RX;
        t->index = (uint16_t)(2 * i + 1);
        t->kind = NET_Q_TX;
        struct net_rxq *rq = d->rxq[i];
        if (rq) {
            net_rx_lock(rq);
            r->started = rq->vq != NULL;
            r->packets = rq->packets;
            r->bytes = rq->bytes;
            r->notifies = rq->notifies;
            net_rx_unlock(rq);
        }
        struct net_txq *tq = d->txq[i];
        if (tq) {
            t->started = tq->vq != NULL;
            t->packets = tq->scq.stats.requests;
            t->bytes = tq->scq.stats.bytes;
            t->kicks = tq->scq.stats.kicks;
            t->notifies = tq->scq.stats.notifies;
            t->busy_ns = tq->scq.stats.busy_ns;
            t->polls = tq->scq.stats.polls;
        }
    }
    if (n < max) {
        struct net_queue_stats *c = &out[n++];
        memset(c, 0, sizeof(*c));
        c->index = (uint16_t)(d->max_pairs * 2);
        c->kind = NET_Q_CTRL;
        if (d->ctrlq) {
            c->index = d->ctrlq->idx;
            c->started = d->ctrlq->vq != NULL;
            c->packets = d->ctrlq->scq.stats.requests;
            c->kicks = d->ctrlq->scq.stats.kicks;
            c->notifies = d->ctrlq->scq.stats.notifies;
            c->busy_ns = d->ctrlq->scq.stats.busy_ns;
            c->polls = d->ctrlq->scq.stats.polls;
        }
    }
    return n;
}

void net_dev_state(struct vdev *v, struct net_dev_state *out)
{
    struct net_dev *d = DEV(v);
    out->features = d->features;
    out->max_pairs = d->max_pairs;
    /* The pairs that carry traffic: what the driver asked for (control
     * queue) and also has running (QEMU handles the control queue itself
     * and disables the pairs it drops: ethtool -L showed 4/4 for 1). */
    out->active_pairs = 0;
    for (uint16_t i = 0; i < d->max_pairs && i < atomic_load(&d->active_pairs); i++) {
        struct net_rxq *q = d->rxq[i];
        if (!q)
            continue;
        net_rx_lock(q);
        out->active_pairs += q->vq != NULL;
        net_rx_unlock(q);
    }
    out->promisc = atomic_load(&d->filter.promisc);
    out->allmulti = atomic_load(&d->filter.allmulti);
    out->ctrl_ok = atomic_load(&d->ctrl_ok);
    out->announced = atomic_load(&d->announced);
    out->ctrl_err = atomic_load(&d->ctrl_err);
    out->steered_flows = d->steer ? net_steer_flows(d->steer) : 0;
}
