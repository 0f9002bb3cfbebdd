/* virtio-net transmit: one poll round per call from the sidecore.
 *
 * A round pops up to NET_BATCH chains, checks each packet's virtio header
 * and length (a bad packet is dropped and counted, a bad ring fails the
 * device), sends the good ones as one batch from the device's port (the
 * receivers copy them out of the guest's buffers during the call), then
 * returns every chain and publishes the used ring once.
 *
 * VPRI (docs/VPRI.md): each chain is checked against the PA-BITMAP as it is
 * popped, before any byte of it is read; a miss parks the queue on it (tx
 * order is kept) until the frontend made its pages resident.
 *
 * The lines of each frame's Ethernet header, which the tx path reads
 * itself, are dropped from the caches once the frame is sent (the sender
 * writes them again for its next frames; sc_cache_drop says why).
 *
 * On a packed ring the used descriptors we write share cache lines with the
 * ones the driver is filling just ahead of them: publishing every few
 * packets bounces those lines between the two CPUs on nearly every packet
 * (DPDK's vhost library holds them back until the ring is nearly full for
 * the same reason). A split ring's used ring has lines of its own, but each
 * publication still moves used->idx's line to us and back and pays the
 * interrupt check's full fence (publishing half a 256-entry ring at a time
 * instead of every 32-chain round: +3.9% at 64 B, +3.4% at 1500 B, split tx
 * with hugepages, alternating 100 ms phases in one run). So a tx queue hands
 * chains back when half the ring is used, when the driver has paused for a
 * few rounds, or before the queue sleeps or stops: the driver gets its
 * buffers late only while it keeps sending. */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../backend/net_offload.h"
#include "../common/log.h"
#include "../common/util.h"
#include "net_int.h"

/* The index of the chain's readable iovec skip bytes past iovec i, that
 * iovec cut to start there (in place: the device only reads tx buffers,
 * so nothing needs the original view afterwards). */
static unsigned skip_bytes(struct vq_chain *c, unsigned i, uint32_t skip)
{
    while (i < c->n_out && skip >= c->iov[i].iov_len) {
        skip -= (uint32_t)c->iov[i].iov_len;
        i++;
    }
    if (i < c->n_out) {
        c->iov[i].iov_base = (uint8_t *)c->iov[i].iov_base + skip;
        c->iov[i].iov_len -= skip;
    }
    return i;
}

/* Points p->iov past the first skip bytes of the chain's readable iovecs. */
static void cut_header(struct vq_chain *c, uint32_t skip, struct net_pkt *p)
{
    unsigned i = skip_bytes(c, 0, skip);
    p->iov = c->iov + i;
    p->niov = (uint16_t)(c->n_out - i);
}

/* A port filter decides on a frame's first NET_FLOW_PEEK bytes and the
 * receiver copies them later: another vCPU of the guest could rewrite them
 * in between and pass a frame the filter denies. Once any port has a hook,
 * they are read once, into head, and the frame goes on from there: the
 * chain's iovec before p's first takes head (a consumed one, or the spare
 * slot every chain has). */
static void private_head(struct vq_chain *c, struct net_pkt *p, uint8_t *head)
{
    uint32_t h = SC_MIN(p->len, (uint32_t)NET_FLOW_PEEK);
    net_iov_read(p->iov, p->niov, 0, head, h);
    unsigned i = skip_bytes(c, (unsigned)(p->iov - c->iov), h);
    c->iov[(int)i - 1] = (struct iovec){.iov_base = head, .iov_len = h};
    p->iov = c->iov + i - 1;
    p->niov = (uint16_t)(c->n_out - i + 1);
}

#define NET_TX_IDLE_FLUSH 8 /* empty rounds before deferred chains go back */

void net_tx_flush(struct net_txq *q)
{
    q->idle_polls = 0;
    if (!q->unpublished)
        return;
    q->unpublished = 0;
    vq_publish(q->vq);
    if (q->call_fd >= 0 && vq_should_notify(q->vq)) {
        uint64_t one = 1;
        if (write(q->call_fd, &one, sizeof(one)) == (ssize_t)sizeof(one))
            q->scq.stats.notifies++;
    }
}

/* The header and the Ethernet header: 26 bytes that often straddle a line
 * (DPDK puts the header just before its data), or a second buffer. */
static void prefetch_head(const struct vq_chain *c)
{
    if (!c->n_out)
        return;
    const uint8_t *b = c->iov[0].iov_base;
    sc_prefetch(b);
    if (c->iov[0].iov_len > 26)
        sc_prefetch(b + 25);
    else if (c->n_out > 1)
        sc_prefetch(c->iov[1].iov_base);
}

/* The line(s) holding the Ethernet header of a sent frame. */
static void drop_eth_lines(const struct net_pkt *p)
{
    if (!p->niov)
        return;
    const uint8_t *f = p->iov[0].iov_base;
    sc_cache_drop(f);
    size_t last = SC_MIN(p->iov[0].iov_len, sizeof(p->eth)) - 1;
    if (((uintptr_t)f & 63) + last >= 64)
        sc_cache_drop(f + last);
}

/* VPRI, before any byte of chains[i] is read. Resident: tagged. Miss: the
 * queue parks on it; the record names chains[0], where the round moves the
 * chain once the ones before it went back (the scan runs in a later round).
 * -1: the device failed. */
static int admit(struct net_txq *q, unsigned i)
{
    return net_admit(q->dev, q->idx, q->name, "chain", &q->vp, &q->chains[i], &q->chains[0],
                     &q->tags[i]);
}

/* The held chain may go: tagged before it is read. */
static bool held_resume(void *req, void *ctx)
{
    struct net_txq *q = ctx;
    q->tags[0] = vpri_q_begin(&q->vp, req);
    return true;
}

/* The RARP frame (60 bytes) that announces mac. */
static void rarp_frame(uint8_t f[60], const uint8_t mac[6])
{
    static const uint8_t head[8] = {0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x03};
    memset(f, 0, 60);
    memset(f, 0xff, 6);
    memcpy(f + 6, mac, 6);
    f[12] = 0x80; /* EtherType 0x8035: RARP */
    f[13] = 0x35;
    memcpy(f + 14, head, sizeof(head)); /* Ethernet/IPv4, "reverse request" */
    memcpy(f + 22, mac, 6);             /* sender hardware address */
    memcpy(f + 32, mac, 6);             /* target hardware address */
}

/* A broadcast from the guest's MAC, as if the guest had sent it, so that
 * switches (ours, and the host's through a tap port) learn where it is. */
static void send_announce(struct net_txq *q)
{
    struct net_dev *d = q->dev;
    uint64_t a = atomic_exchange_explicit(&d->announce, 0, memory_order_relaxed);
    if (!(a & NET_ANNOUNCE_PENDING))
        return;
    uint8_t mac[6], frame[60];
    for (int i = 0; i < 6; i++)
        mac[i] = (uint8_t)(a >> (40 - 8 * i));
    rarp_frame(frame, mac);
    struct iovec iov = {.iov_base = frame, .iov_len = sizeof(frame)};
    struct net_pkt p = {.iov = &iov, .niov = 1, .len = sizeof(frame)};
    memcpy(p.eth, frame, sizeof(p.eth));
    struct net_pkt *pp = &p;
    net_port_send(&d->port, &pp, 1, q->pair);
    atomic_fetch_add_explicit(&d->announced, 1, memory_order_relaxed);
}

static int tx_round(struct net_txq *q, uint32_t qz)
{
    struct net_dev *d = q->dev;
    unsigned hl = d->hdr_len, popped = 0, n = 0;
    uint64_t bytes = 0, bad[NET_DROP__COUNT] = {0};
    bool vpri = vpri_q_on(&q->vp), parked = false, hooked = net_port_hooked();
    int ret = 0;

    if (vdev_is_broken(&d->vdev))
        return -1;
    if (SC_UNLIKELY(atomic_load_explicit(&d->announce, memory_order_relaxed)) && q->pair == 0)
        send_announce(q);
    vpri_q_enter(&q->vp);
    if (q->held) {
        int rc = net_unpark(d, q->idx, q->name, &q->vp, held_resume, q);
        if (rc <= 0) {
            vpri_q_leave(&q->vp);
            return rc;
        }
        q->held = false;
        prefetch_head(&q->chains[0]);
        popped = 1;
    }
    /* All chains of the round first, each packet's first line fetched as
     * its chain is taken: the driver's CPU wrote them, and reading headers
     * one packet at a time would pay those misses one after another. */
    while (popped < NET_BATCH && !qz) {
        struct vq_chain *c = &q->chains[popped];
        int rc = vq_pop(q->vq, c);
        if (rc <= 0) {
            if (rc < 0) {
                vdev_fail(&d->vdev, q->idx, "%s: %s", q->name,
                          q->vq->err ? q->vq->err : "virtqueue broken");
                ret = -1;
            }
            break;
        }
        if (vpri) {
            int v = admit(q, popped);
            if (v != VPRI_RESIDENT) {
                ret = v < 0 ? -1 : 0;
                parked = v == VPRI_MISS;
                break;
            }
        }
        prefetch_head(c);
        popped++;
    }
    for (unsigned i = 0; i < popped; i++) {
        struct vq_chain *c = &q->chains[i];
        struct net_pkt *p = &q->pkts[n];
        if (c->out_len < hl) {
            bad[NET_DROP_BAD_HEADER]++;
            continue;
        }
        memset(&p->hdr, 0, sizeof(p->hdr));
        net_iov_read(c->iov, c->n_out, 0, &p->hdr, hl);
        p->len = c->out_len - hl;
        enum net_drop why = net_hdr_check(&p->hdr, p->len, d->tx_allowed);
        if (why == NET_DROP__COUNT && p->len > d->max_frame &&
            p->hdr.gso_type == VIRTIO_NET_HDR_GSO_NONE)
            why = NET_DROP_OVER_MTU;
        if (why != NET_DROP__COUNT) {
            bad[why]++;
            continue;
        }
        cut_header(c, hl, p);
        if (SC_UNLIKELY(hooked))
            private_head(c, p, q->heads[n]);
        if (SC_UNLIKELY(p->hdr.flags) && !net_csum_placed(p)) {
            bad[NET_DROP_BAD_HEADER]++;
            continue;
        }
        net_iov_read(p->iov, p->niov, 0, p->eth, sizeof(p->eth));
        bytes += p->len;
        q->ptrs[n++] = p;
    }
    if (n) {
        if (atomic_load_explicit(&d->rx_nsel, memory_order_relaxed) > 1)
            net_steer_learn(d->steer, q->pair, q->ptrs, n);
        net_port_send(&d->port, q->ptrs, n, q->pair);
        for (unsigned i = 0; i < n; i++)
            drop_eth_lines(q->ptrs[i]);
    }
    /* The receivers copied during the send: the buffers are ours no more. */
    for (unsigned i = 0; vpri && i < popped; i++)
        vpri_q_end(&q->vp, q->tags[i]);
    if (ret < 0) {
        vpri_q_leave(&q->vp);
        return ret;
    }
    for (unsigned i = 0; i < popped; i++)
        vq_push(q->vq, &q->chains[i], 0);
    if (parked) {
        if (popped) {
            struct vq_chain t = q->chains[0];
            q->chains[0] = q->chains[popped];
            q->chains[popped] = t;
        }
        q->held = true;
    }
    q->unpublished = (uint16_t)(q->unpublished + popped);
    if (popped)
        q->idle_polls = 0;
    if (q->unpublished && (q->unpublished >= q->vq->num / 2 ||
                           (!popped && ++q->idle_polls >= NET_TX_IDLE_FLUSH)))
        net_tx_flush(q);
    for (unsigned r = 0; r < NET_DROP__COUNT; r++)
        if (bad[r])
            net_port_drop(&d->port, r, bad[r]);
    sc_queue_account(&q->scq, n, bytes);
    vpri_q_leave(&q->vp);
    return (int)popped;
}

int net_tx_poll(struct sc_queue *scq)
{
    struct net_txq *q = scq->opaque;
    uint32_t qz = sc_qz_seen(&q->qz);
    int rc = tx_round(q, qz);
    if (SC_UNLIKELY(qz))
        sc_qz_publish(&q->qz, qz, q->held ? SC_HOLD_PARKED : SC_HOLD_NONE);
    return rc;
}

bool net_tx_set_notify(struct sc_queue *scq, bool enable)
{
    struct net_txq *q = scq->opaque;
    if (enable)
        net_tx_flush(q);
    /* Quiesced, new packets wait: only a parked chain keeps the queue awake. */
    bool pending = vq_set_notify(q->vq, enable) && !sc_qz_seen(&q->qz);
    if (!enable)
        return pending;
    /* A parked queue takes nothing from its ring: only a resolution (which
     * kicks us) or a fault still to post is work. */
    bool vpri = vpri_q_sleeping(&q->vp);
    return q->held ? vpri : pending || vpri;
}

void net_tx_stop(struct net_txq *q)
{
    /* The bound counts from the quiesce, if the transport waited already. */
    uint64_t start = q->qz.since_ns ? q->qz.since_ns : sc_now_ns();
    sc_qz_clear(&q->qz);
    uint64_t deadline = start + vpri_q_stop_bound(&q->vp, NET_TX_DRAIN_NS);
    /* Packets the driver made available before stopping the ring count as
     * sent on its side: forward them rather than leave them behind. Bounded:
     * each round consumes at least one chain, or waits for a parked one
     * until the deadline (not at all once the frontend is gone). */
    for (uint32_t i = 0; i <= q->vq->num;) {
        int n = net_tx_poll(&q->scq);
        if (n > 0) {
            i++;
            continue;
        }
        if (n < 0 || !q->held || vpri_q_owner_gone(&q->vp))
            break;
        if (sc_now_ns() > deadline) {
            vpri_q_stop_timed_out(&q->vp, q->name, sc_now_ns() - start);
            break;
        }
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    if (vpri_park_pop(&q->vp)) {
        LOG_ERR("net", "%s: a parked packet was dropped: its pages never became resident",
                q->name);
        if (!q->vq->err) {
            vq_push(q->vq, &q->chains[0], 0);
            q->unpublished++;
        }
        net_port_drop(&q->dev->port, NET_DROP_LINK_DOWN, 1);
    }
    q->held = false;
    if (!q->vq->err)
        net_tx_flush(q);
    vpri_q_unbind(&q->vp);
}
