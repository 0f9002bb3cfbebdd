/* Delivery into a virtio-net device's rx queues, on the sending port's
 * sidecore (locking: net_int.h).
 *
 * A packet becomes the virtio header followed by the frame, written across
 * one rx chain, or with MRG_RXBUF across as many chains as it needs
 * (num_buffers in the header says how many). Chains are popped in order;
 * a packet that finds too few buffers is dropped and its popped chains wait
 * for the next packet. The used ring is published, and the guest notified,
 * once per delivered batch, or held back for a few polls (below). With
 * more than one rx queue started, each packet goes to the queue its flow
 * steers to (net_steer.c), a batch split into one delivery per queue.
 *
 * VPRI (docs/VPRI.md): a packet's buffers are checked before the first byte
 * is written; a miss parks the queue on that buffer and frames are dropped
 * (counted) until a delivery finds it resident again. */
#include <errno.h>
#include <sched.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "../backend/net_offload.h"
#include "../common/log.h"
#include "../common/util.h"
#include "net_int.h"

#define SPINS_BEFORE_YIELD 256

void net_rx_lock(struct net_rxq *q)
{
    unsigned spins = 0;
    for (;;) {
        if (!atomic_exchange_explicit(&q->lock, 1, memory_order_acquire))
            return;
        while (atomic_load_explicit(&q->lock, memory_order_relaxed)) {
            /* The holder may be preempted (2 cores, shared): do not burn
             * its time slice. */
            if (++spins >= SPINS_BEFORE_YIELD) {
                sched_yield();
                spins = 0;
            } else {
                sc_cpu_relax();
            }
        }
    }
}

void net_rx_unlock(struct net_rxq *q)
{
    atomic_store_explicit(&q->lock, 0, memory_order_release);
}

static uint64_t mac48(const uint8_t *m)
{
    return (uint64_t)m[0] << 40 | (uint64_t)m[1] << 32 | (uint64_t)m[2] << 24 |
           (uint64_t)m[3] << 16 | (uint64_t)m[4] << 8 | m[5];
}

static bool in_table(const _Atomic uint64_t *t, uint32_t n, uint64_t m)
{
    for (uint32_t i = 0; i < n && i < NET_MAC_FILTER_MAX; i++)
        if (atomic_load_explicit(&t[i], memory_order_relaxed) == m)
            return true;
    return false;
}

/* CTRL_RX filtering; best effort (the spec allows unwanted packets). */
static bool accept(struct net_dev *d, const uint8_t *dst)
{
    struct net_rx_filter *f = &d->filter;
    if (atomic_load_explicit(&f->promisc, memory_order_relaxed))
        return true;
    uint64_t m = mac48(dst);
    if (dst[0] & 1) {
        if (m == 0xffffffffffffull || atomic_load_explicit(&f->allmulti, memory_order_relaxed) ||
            atomic_load_explicit(&f->mc_all, memory_order_relaxed))
            return true;
        return in_table(f->mc, atomic_load_explicit(&f->n_mc, memory_order_relaxed), m);
    }
    if (m == d->mac48 || atomic_load_explicit(&f->uc_all, memory_order_relaxed))
        return true;
    return in_table(f->uc, atomic_load_explicit(&f->n_uc, memory_order_relaxed), m);
}

static void fail(struct net_rxq *q, const char *why)
{
    vq_fail(q->vq, "%s", why);
    vdev_fail(&q->dev->vdev, q->idx, "%s: %s", q->name, why);
}

/* The k-th held chain, popping more as needed. 1: *c set; 0: the guest
 * posted no more buffers; -1: the ring is broken (device failed). */
static int chain_at(struct net_rxq *q, unsigned k, struct vq_chain **c)
{
    struct vq_chain *ch = &q->ring[(q->head + k) % NET_RX_RING];
    if (k >= q->count) {
        int rc = vq_pop(q->vq, ch);
        if (rc <= 0) {
            if (rc < 0)
                vdev_fail(&q->dev->vdev, q->idx, "%s: %s", q->name,
                          q->vq->err ? q->vq->err : "virtqueue broken");
            return rc;
        }
        q->count++;
        if (ch->in_len == 0) {
            fail(q, "rx buffer without device-writable space");
            return -1;
        }
        /* Without MRG_RXBUF a short buffer waits for a frame that fits;
         * none fits one shorter than the header, and it would hold the
         * queue (and every frame after it) for good. */
        if (ch->in_len < q->dev->hdr_len) {
            fail(q, q->dev->mrg ? "mergeable rx buffer smaller than the virtio-net header"
                                : "rx buffer smaller than the virtio-net header: no frame fits");
            return -1;
        }
    }
    *c = ch;
    return 1;
}

/* The header bytes [off, off+k) into dst; num_buffers is nb. The whole
 * header (the common case) is stored from p->hdr and nb directly: copying
 * it from a stack copy that was just patched would load bytes from two
 * pending stores, which cannot be forwarded, so the load would wait until
 * every older store retired, the rx buffer misses of the batch included. */
static void hdr_read(uint8_t *dst, size_t off, size_t k, const struct virtio_net_hdr_v1 *ph,
                     uint16_t nb, unsigned hl)
{
    const size_t nb_off = offsetof(struct virtio_net_hdr_v1, num_buffers);
    if (SC_LIKELY(off == 0 && k == hl)) {
        memcpy(dst, ph, nb_off);
        if (hl > nb_off)
            memcpy(dst + nb_off, &nb, sizeof(nb));
        return;
    }
    struct virtio_net_hdr_v1 h = *ph;
    h.num_buffers = nb;
    memcpy(dst, (const uint8_t *)&h + off, k);
}

/* Copy bytes [off, off+len) of header-then-frame to dst. */
static void stream_read(uint8_t *dst, size_t off, size_t len, uint16_t nb, unsigned hl,
                        const struct net_pkt *p)
{
    if (off < hl) {
        size_t k = SC_MIN(hl - off, len);
        hdr_read(dst, off, k, &p->hdr, nb, hl);
        dst += k;
        off += k;
        len -= k;
    }
    if (len)
        net_iov_read(p->iov, p->niov, off - hl, dst, len);
}

/* Writes len bytes of the stream from off into chain c; returns len. */
static uint32_t fill_chain(const struct vq_chain *c, size_t off, uint32_t len, uint16_t nb,
                           unsigned hl, const struct net_pkt *p)
{
    uint32_t done = 0;
    for (unsigned i = c->n_out; i < c->n_out + c->n_in && done < len; i++) {
        uint32_t k = (uint32_t)SC_MIN(c->iov[i].iov_len, (size_t)(len - done));
        stream_read(c->iov[i].iov_base, off + done, k, nb, hl, p);
        done += k;
    }
    return done;
}

#define PUT_PARKED 2
#define PUT_SMALL 3

/* VPRI, before any byte of the packet's k chains is written: all must be
 * writable. A miss parks the queue on the chain that lacks it (the chains
 * stay held, in order). 1: resident; PUT_PARKED; -1: the device failed. */
static int admit(struct net_rxq *q, unsigned k)
{
    for (unsigned j = 0; j < k; j++) {
        struct vq_chain *c = &q->ring[(q->head + j) % NET_RX_RING];
        int v = net_admit(q->dev, q->idx, q->name, "rx buffer", &q->vp, c, c, NULL);
        if (v != VPRI_RESIDENT)
            return v == VPRI_MISS ? PUT_PARKED : -1;
    }
    return 1;
}

/* 1: delivered; 0: dropped for lack of buffers; PUT_SMALL: dropped, the
 * one buffer a frame may take without MRG_RXBUF is too short (kept for the
 * next frame); PUT_PARKED: dropped, the queue parked on a buffer that is
 * not resident; -1: device failed. */
static int put_one(struct net_rxq *q, const struct net_pkt *p)
{
    struct net_dev *d = q->dev;
    unsigned hl = d->hdr_len;
    uint64_t need = hl + (uint64_t)p->len, have = 0;
    unsigned k = 0;
    struct vq_chain *c;

    while (have < need) {
        if (k > 0 && !d->mrg)
            return PUT_SMALL;
        if (k == NET_RX_RING)
            return 0;
        int rc = chain_at(q, k, &c);
        if (rc <= 0)
            return rc;
        have += c->in_len;
        k++;
    }
    bool vpri = vpri_q_on(&q->vp);
    if (vpri) {
        int rc = admit(q, k);
        if (rc != 1)
            return rc;
    }
    uint16_t nb = (uint16_t)(d->mrg ? k : 1);
    uint64_t off = 0;
    for (unsigned j = 0; j < k; j++) {
        c = &q->ring[q->head];
        uint32_t part = (uint32_t)SC_MIN((uint64_t)c->in_len, need - off);
        uint8_t tag = vpri ? vpri_q_begin(&q->vp, c) : VPRI_NO_TAG;
        fill_chain(c, off, part, nb, hl, p);
        vpri_q_end(&q->vp, tag);
        vq_push(q->vq, c, part);
        off += part;
        q->head = (uint16_t)((q->head + 1) % NET_RX_RING);
        q->count--;
    }
    q->pushed = true;
    return 1;
}

static void publish(struct net_rxq *q)
{
    vq_publish(q->vq);
    q->pushed = false;
    q->held_polls = 0;
    atomic_store_explicit(&q->held_back, false, memory_order_relaxed);
    if (q->call_fd < 0 || !vq_should_notify(q->vq))
        return;
    uint64_t one = 1;
    if (write(q->call_fd, &one, sizeof(one)) == (ssize_t)sizeof(one))
        q->notifies++;
    else
        NET_QERR(q, "%s: cannot signal the call eventfd: %s", q->name, strerror(errno));
}

/* Start fetching the first lines of held chain k's buffer for writing: the
 * driver's CPU touched them last. */
static void prefetch_buf(const struct net_rxq *q, unsigned k)
{
    const struct vq_chain *c = &q->ring[(q->head + k) % NET_RX_RING];
    const struct iovec *v = &c->iov[c->n_out];
    sc_prefetch_w(v->iov_base);
    if (v->iov_len > 64)
        sc_prefetch_w((const uint8_t *)v->iov_base + 64);
}

/* Buffers fetched ahead of the copy: enough for their misses to overlap,
 * few enough that the prefetches are not dropped for want of miss buffers
 * (a whole batch's worth left the copies' stores missing again). */
#define RX_PREFETCH_AHEAD 8u

/* Takes up to n chains off the ring ahead of the copies and starts fetching
 * the first RX_PREFETCH_AHEAD buffers; the delivery loop keeps that window
 * moving. Chains a batch does not use stay held for the next one. -1: the
 * ring is broken. */
static int prefetch_chains(struct net_rxq *q, unsigned n)
{
    unsigned want = SC_MIN(n, (unsigned)NET_RX_RING);
    for (unsigned k = 0; k < want; k++) {
        struct vq_chain *c;
        int rc = chain_at(q, k, &c);
        if (rc <= 0)
            return rc;
        if (k < RX_PREFETCH_AHEAD)
            prefetch_buf(q, k);
    }
    return 0;
}

/* Used buffers are published once a ring quarter (at most this many) is
 * pending, or at the queue's NET_RX_HOLD_POLLS-th poll after they were
 * held back. Publishing every delivered batch (32 frames from one sender)
 * paid the interrupt check's fence, which waits for the batch's stores to
 * guest buffers, and handed the driver used lines we were still filling:
 * holding back to 64 made 64 B rx 5-7% faster (split and packed, alternating
 * 100 ms phases in one run). Held back only when the caller is the sidecore
 * that polls the queue, so those polls come before it could sleep: the
 * driver waits two of its rounds at most. */
#define NET_RX_HOLD_MAX 64u
#define NET_RX_HOLD_POLLS 2u

static bool hold_back(const struct net_rxq *q)
{
    return vq_unpublished(q->vq) < SC_MIN(NET_RX_HOLD_MAX, q->vq->num / 4u) &&
           sc_polled_here(&q->scq);
}

int net_rx_poll(struct sc_queue *scq)
{
    struct net_rxq *q = scq->opaque;
    if (!atomic_load_explicit(&q->held_back, memory_order_relaxed))
        return 0;
    int done = 0;
    net_rx_lock(q);
    if (!q->pushed || !q->vq || q->vq->err) {
        atomic_store_explicit(&q->held_back, false, memory_order_relaxed);
    } else if (++q->held_polls >= NET_RX_HOLD_POLLS) {
        publish(q);
        done = 1;
    }
    net_rx_unlock(q);
    return done;
}

bool net_rx_set_notify(struct sc_queue *scq, bool enable)
{
    /* No guest kicks to turn on: an rx queue is served by deliveries. */
    const struct net_rxq *q = scq->opaque;
    return enable && atomic_load_explicit(&q->held_back, memory_order_relaxed);
}

void net_rx_return_held(struct net_rxq *q)
{
    /* A parked chain is one of the held ones. */
    while (vpri_park_pop(&q->vp))
        ;
    /* Handing them back unused (length 0) keeps the guest's buffer
     * accounting whole; the driver discards such zero-length buffers. */
    while (q->count) {
        vq_push(q->vq, &q->ring[q->head], 0);
        q->head = (uint16_t)((q->head + 1) % NET_RX_RING);
        q->count--;
        q->pushed = true;
    }
    if (q->pushed)
        publish(q);
}

static bool held_resume(void *req, void *ctx)
{
    (void)req, (void)ctx;
    return true;
}

/* pkts into rx queue qi. */
static void deliver_to(struct net_dev *d, uint16_t qi, struct net_pkt *const *pkts, unsigned n)
{
    struct net_port *port = &d->port;
    struct net_rxq *q = d->rxq[qi < d->max_pairs ? qi : 0];
    unsigned caps = atomic_load_explicit(&port->caps, memory_order_relaxed);
    uint64_t ok = 0, bytes = 0, drops[NET_DROP__COUNT] = {0};

    net_rx_lock(q);
    if (!q->vq || vdev_is_broken(&d->vdev)) {
        bool gone = !q->vq && q->stopped_ns && sc_now_ns() - q->stopped_ns >= NET_RX_RESTART_NS;
        net_rx_unlock(q);
        net_port_drop(port, NET_DROP_LINK_DOWN, n);
        /* Not restarted in time: its flows go to the queues left. */
        if (gone)
            net_rx_select_update(d);
        return;
    }
    vpri_q_enter(&q->vp);
    int parked = q->vp.park.n ? net_unpark(d, q->idx, q->name, &q->vp, held_resume, q) : 1;
    if (parked <= 0 || prefetch_chains(q, n) < 0) {
        /* Like a NIC without buffers: the frames go, the switch does not wait. */
        if (parked == 0)
            vpri_q_dropped(&q->vp, n);
        vpri_q_rest(&q->vp);
        net_rx_unlock(q);
        net_port_drop(port, parked == 0 ? NET_DROP_NO_BUFFERS : NET_DROP_LINK_DOWN, n);
        return;
    }
    for (unsigned i = 0; i < n; i++) {
        const struct net_pkt *p = pkts[i];
        if (!accept(d, p->eth)) {
            drops[NET_DROP_FILTERED]++;
            continue;
        }
        /* virtio 1.2, 5.1.4.1: no received packet above the MTU. */
        if (SC_UNLIKELY(p->len > d->max_frame && p->hdr.gso_type == VIRTIO_NET_HDR_GSO_NONE)) {
            drops[NET_DROP_OVER_MTU]++;
            continue;
        }
        int rc;
        if (q->count > RX_PREFETCH_AHEAD)
            prefetch_buf(q, RX_PREFETCH_AHEAD);
        if (SC_LIKELY(p->hdr.flags == 0 && p->hdr.gso_type == VIRTIO_NET_HDR_GSO_NONE)) {
            rc = put_one(q, p);
            if (rc == 1) {
                ok++;
                bytes += p->len;
            }
        } else {
            struct net_fix f;
            enum net_drop why;
            if (net_fix_begin(&f, p, caps, &why) < 0) {
                drops[why]++;
                continue;
            }
            /* Segmented here, its frames are held to the MTU as any. */
            if (SC_UNLIKELY(f.mode == NET_FIX_SEGMENT && net_fix_max_len(&f) > d->max_frame)) {
                drops[NET_DROP_OVER_MTU]++;
                continue;
            }
            const struct net_pkt *o;
            rc = 1;
            while (rc >= 0 && rc != PUT_PARKED && (o = net_fix_next(&f))) {
                rc = put_one(q, o);
                if (rc == 1) {
                    ok++;
                    bytes += o->len;
                } else if (rc == 0 || rc == PUT_SMALL) {
                    drops[rc ? NET_DROP_SMALL_BUFFER : NET_DROP_NO_BUFFERS]++;
                }
            }
            if (rc >= 0 && rc != PUT_PARKED)
                continue;
        }
        if (rc == PUT_PARKED) {
            vpri_q_dropped(&q->vp, n - i);
            drops[NET_DROP_NO_BUFFERS] += n - i;
            break;
        } else if (rc == 0 || rc == PUT_SMALL) {
            drops[rc ? NET_DROP_SMALL_BUFFER : NET_DROP_NO_BUFFERS]++;
        } else if (rc < 0) {
            drops[NET_DROP_LINK_DOWN] += n - i;
            break;
        }
    }
    if (q->pushed && !q->vq->err) {
        if (hold_back(q))
            atomic_store_explicit(&q->held_back, true, memory_order_relaxed);
        else
            publish(q);
    }
    vpri_q_rest(&q->vp);
    q->packets += ok;
    q->bytes += bytes;
    net_rx_unlock(q);
    net_port_rx(port, ok, bytes);
    for (unsigned r = 0; r < NET_DROP__COUNT; r++)
        if (drops[r])
            net_port_drop(port, r, drops[r]);
}

/* A multiqueue device's batch (n <= NET_BATCH), each packet into the queue
 * its flow steers to: one delivery per queue, packets kept in order. */
static void deliver_steered(struct net_dev *d, uint16_t nsel, struct net_pkt *const *pkts,
                            unsigned n, unsigned hint)
{
    uint16_t qi[NET_BATCH];
    struct net_pkt *list[NET_BATCH];
    net_steer_pick(d->steer, d->rx_sel, nsel, pkts, n, hint, qi);
    for (unsigned i = 0; i < n; i++) {
        if (qi[i] == UINT16_MAX)
            continue; /* delivered with an earlier packet's queue */
        uint16_t want = qi[i];
        unsigned k = 0;
        for (unsigned j = i; j < n; j++)
            if (qi[j] == want) {
                list[k++] = pkts[j];
                qi[j] = UINT16_MAX;
            }
        deliver_to(d, want, list, k);
    }
}

void net_rx_deliver(struct net_port *port, struct net_pkt *const *pkts, unsigned n,
                    unsigned hint)
{
    struct net_dev *d = port->opaque;
    uint16_t nsel = atomic_load_explicit(&d->rx_nsel, memory_order_acquire);
    if (nsel == 0 || vdev_is_broken(&d->vdev)) {
        net_port_drop(port, NET_DROP_LINK_DOWN, n);
        return;
    }
    if (nsel == 1) {
        deliver_to(d, atomic_load_explicit(&d->rx_sel[hint % nsel], memory_order_relaxed), pkts,
                   n);
        return;
    }
    for (unsigned off = 0; off < n; off += NET_BATCH)
        deliver_steered(d, nsel, pkts + off, SC_MIN(n - off, (unsigned)NET_BATCH), hint);
}
