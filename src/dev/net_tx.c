/* virtio-net transmit: one poll round per call from the sidecore.
 *
 * A round pops up to NET_BATCH chains, checks each packet's virtio header
 * and length (a bad packet is dropped and counted, a bad ring fails the
 * device), sends the good ones as one batch from the device's port (the
 * receivers copy them out of the guest's buffers during the call), then
 * returns every chain and publishes the used ring once.
 *
 * On a packed ring the used descriptors we write share cache lines with the
 * ones the driver is filling just ahead of them: publishing every few
 * packets bounces those lines between the two CPUs on nearly every packet
 * (DPDK's vhost library holds them back until the ring is nearly full for
 * the same reason). So a packed tx queue hands chains back when half the ring is used, when
 * the driver has paused for a few rounds, or before the queue sleeps or
 * stops: the driver gets its buffers late only while it keeps sending. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "../backend/net_offload.h"
#include "../common/log.h"
#include "../common/util.h"
#include "net_int.h"

/* Points p->iov past the first skip bytes of the chain's readable iovecs
 * (adjusting the chain's own iovec array in place: the device only reads
 * tx buffers, so nothing needs the original view afterwards). */
static void cut_header(struct vq_chain *c, uint32_t skip, struct net_pkt *p)
{
    unsigned i = 0;
    while (i < c->n_out && skip >= c->iov[i].iov_len) {
        skip -= (uint32_t)c->iov[i].iov_len;
        i++;
    }
    if (i < c->n_out) {
        c->iov[i].iov_base = (uint8_t *)c->iov[i].iov_base + skip;
        c->iov[i].iov_len -= skip;
    }
    p->iov = c->iov + i;
    p->niov = (uint16_t)(c->n_out - i);
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

int net_tx_poll(struct sc_queue *scq)
{
    struct net_txq *q = scq->opaque;
    struct net_dev *d = q->dev;
    unsigned hl = d->hdr_len, popped = 0, n = 0;
    uint64_t bytes = 0, bad[NET_DROP__COUNT] = {0};
    int ret = 0;

    if (vdev_is_broken(&d->vdev))
        return -1;
    /* All chains of the round first, each packet's first line fetched as
     * its chain is taken: the driver's CPU wrote them, and reading headers
     * one packet at a time would pay those misses one after another. */
    while (popped < NET_BATCH) {
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
        if (c->n_out) {
            /* The header and the Ethernet header: 26 bytes that often
             * straddle a line (DPDK puts the header just before its
             * data), or a second buffer. */
            const uint8_t *b = c->iov[0].iov_base;
            __builtin_prefetch(b);
            if (c->iov[0].iov_len > 26)
                __builtin_prefetch(b + 25);
            else if (c->n_out > 1)
                __builtin_prefetch(c->iov[1].iov_base);
        }
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
        if (why != NET_DROP__COUNT) {
            bad[why]++;
            continue;
        }
        cut_header(c, hl, p);
        net_iov_read(p->iov, p->niov, 0, p->eth, sizeof(p->eth));
        bytes += p->len;
        q->ptrs[n++] = p;
    }
    if (n)
        net_port_send(&d->port, q->ptrs, n, q->pair);
    if (ret < 0)
        return ret;
    for (unsigned i = 0; i < popped; i++)
        vq_push(q->vq, &q->chains[i], 0);
    q->unpublished = (uint16_t)(q->unpublished + popped);
    if (popped)
        q->idle_polls = 0;
    if (q->unpublished &&
        (!q->vq->packed || q->unpublished >= q->vq->num / 2 ||
         (!popped && ++q->idle_polls >= NET_TX_IDLE_FLUSH)))
        net_tx_flush(q);
    for (unsigned r = 0; r < NET_DROP__COUNT; r++)
        if (bad[r])
            net_port_drop(&d->port, r, bad[r]);
    sc_queue_account(scq, n, bytes);
    return (int)popped;
}

bool net_tx_set_notify(struct sc_queue *scq, bool enable)
{
    struct net_txq *q = scq->opaque;
    if (enable)
        net_tx_flush(q);
    return vq_set_notify(q->vq, enable);
}
