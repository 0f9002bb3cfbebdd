/* virtio-net control queue: one command per chain, answered with
 * VIRTIO_NET_OK or VIRTIO_NET_ERR in the chain's first writable byte (the
 * ack; results of commands that have them would follow it).
 * Unknown classes and commands, commands whose feature was not negotiated
 * and malformed payloads get ERR: the driver asked for something we do not
 * do, the ring itself is fine. Only a chain with no byte for the answer is
 * a ring error (the device fails).
 *
 * VPRI (docs/VPRI.md): a command's buffers are checked before its first
 * byte is read; a miss parks the queue on it (commands run in order) until
 * the owner makes the pages resident. */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../backend/net_offload.h"
#include "../common/log.h"
#include "../common/util.h"
#include "net_int.h"

#define CTRL_BUDGET 16
#define BIT(b) (1ull << (b))

static uint64_t mac48(const uint8_t *m)
{
    return (uint64_t)m[0] << 40 | (uint64_t)m[1] << 32 | (uint64_t)m[2] << 24 |
           (uint64_t)m[3] << 16 | (uint64_t)m[4] << 8 | m[5];
}

static uint8_t cmd_rx(struct net_dev *d, uint8_t cmd, const uint8_t *data, uint32_t len)
{
    if (!(d->features & BIT(VIRTIO_NET_F_CTRL_RX)) || len != 1 || data[0] > 1)
        return VIRTIO_NET_ERR;
    if (cmd == VIRTIO_NET_CTRL_RX_PROMISC)
        atomic_store(&d->filter.promisc, data[0] == 1);
    else if (cmd == VIRTIO_NET_CTRL_RX_ALLMULTI)
        atomic_store(&d->filter.allmulti, data[0] == 1);
    else
        return VIRTIO_NET_ERR; /* ALLUNI etc. need CTRL_RX_EXTRA, not offered */
    return VIRTIO_NET_OK;
}

/* The bytes one table of TABLE_SET (le32 count, then count addresses)
 * occupies at off, or -1 when the payload is too short for it. */
static int64_t table_len(const uint8_t *data, uint32_t len, uint32_t off)
{
    uint32_t cnt;
    if (off > len || len - off < 4)
        return -1;
    memcpy(&cnt, data + off, 4);
    uint64_t bytes = 4 + (uint64_t)cnt * 6;
    return bytes > len - off ? -1 : (int64_t)bytes;
}

/* Installs a table table_len accepted. */
static void set_table(const uint8_t *data, uint32_t off, _Atomic uint64_t *tab,
                      _Atomic uint32_t *n, _Atomic bool *all)
{
    uint32_t cnt;
    memcpy(&cnt, data + off, 4);
    if (cnt > NET_MAC_FILTER_MAX) {
        atomic_store(all, true);
        atomic_store(n, 0);
    } else {
        atomic_store(all, false);
        for (uint32_t i = 0; i < cnt; i++)
            atomic_store(&tab[i], mac48(data + off + 4 + 6 * i));
        atomic_store(n, cnt);
    }
}

static uint8_t cmd_mac(struct net_dev *d, uint8_t cmd, const uint8_t *data, uint32_t len)
{
    struct net_rx_filter *f = &d->filter;
    if (!(d->features & BIT(VIRTIO_NET_F_CTRL_RX)) || cmd != VIRTIO_NET_CTRL_MAC_TABLE_SET)
        return VIRTIO_NET_ERR; /* ADDR_SET needs CTRL_MAC_ADDR, not offered */
    /* Both tables are checked before either is touched: a command answered
     * ERR changes nothing (the driver keeps the filter it had). */
    int64_t a = table_len(data, len, 0);
    int64_t b = a < 0 ? -1 : table_len(data, len, (uint32_t)a);
    if (b < 0 || (uint64_t)(a + b) != len)
        return VIRTIO_NET_ERR;
    /* Shrink the live counts first: a concurrent reader then never sees
     * a count covering entries being rewritten. */
    atomic_store(&f->n_uc, 0);
    atomic_store(&f->n_mc, 0);
    set_table(data, 0, f->uc, &f->n_uc, &f->uc_all);
    set_table(data, (uint32_t)a, f->mc, &f->n_mc, &f->mc_all);
    return VIRTIO_NET_OK;
}

static uint8_t cmd_mq(struct net_dev *d, uint8_t cmd, const uint8_t *data, uint32_t len)
{
    uint16_t pairs;
    if (!(d->features & BIT(VIRTIO_NET_F_MQ)) || cmd != VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET ||
        len != 2)
        return VIRTIO_NET_ERR;
    memcpy(&pairs, data, 2);
    if (pairs < VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN || pairs > d->max_pairs)
        return VIRTIO_NET_ERR;
    atomic_store(&d->active_pairs, pairs);
    atomic_store(&d->pairs_set, true);
    net_rx_select_update(d);
    return VIRTIO_NET_OK;
}

static uint8_t execute(struct net_ctrlq *q, const struct vq_chain *c)
{
    struct net_dev *d = q->dev;
    struct virtio_net_ctrl_hdr h;
    if (c->out_len < sizeof(h) || c->out_len - sizeof(h) > NET_CTRL_MAX_DATA)
        return VIRTIO_NET_ERR;
    net_iov_read(c->iov, c->n_out, 0, &h, sizeof(h));
    uint32_t len = c->out_len - (uint32_t)sizeof(h);
    net_iov_read(c->iov, c->n_out, sizeof(h), q->data, len);
    switch (h.class) {
    case VIRTIO_NET_CTRL_RX: return cmd_rx(d, h.cmd, q->data, len);
    case VIRTIO_NET_CTRL_MAC: return cmd_mac(d, h.cmd, q->data, len);
    case VIRTIO_NET_CTRL_MQ: return cmd_mq(d, h.cmd, q->data, len);
    default: return VIRTIO_NET_ERR;
    }
}

/* The held command may run: tagged before it is read. */
static bool held_resume(void *req, void *ctx)
{
    struct net_ctrlq *q = ctx;
    q->tag = vpri_q_begin(&q->vp, req);
    return true;
}

/* 1: q->chain holds a command to run; 0: none (or the queue parked);
 * -1: the device failed. */
static int next_command(struct net_ctrlq *q)
{
    struct net_dev *d = q->dev;
    struct vq_chain *c = &q->chain;
    int rc = vq_pop(q->vq, c);
    if (rc <= 0) {
        if (rc < 0)
            vdev_fail(&d->vdev, q->idx, "%s: %s", q->name,
                      q->vq->err ? q->vq->err : "virtqueue broken");
        return rc;
    }
    bool writable = false;
    for (unsigned i = c->n_out; i < c->n_out + c->n_in && !writable; i++)
        writable = c->iov[i].iov_len != 0;
    if (!writable) {
        vq_fail(q->vq, "control command (head %u) has no writable byte for its answer",
                c->head);
        vdev_fail(&d->vdev, q->idx, "%s: control command (head %u) has no writable byte "
                  "for its answer", q->name, c->head);
        return -1;
    }
    q->tag = VPRI_NO_TAG;
    if (!vpri_q_on(&q->vp))
        return 1;
    int v = net_admit(d, q->idx, q->name, "command", &q->vp, c, c, &q->tag);
    if (v == VPRI_MISS)
        q->held = true;
    return v < 0 ? -1 : v == VPRI_RESIDENT;
}

static void answer(struct net_ctrlq *q)
{
    struct net_dev *d = q->dev;
    struct vq_chain *c = &q->chain;
    const struct iovec *first = NULL;
    for (unsigned i = c->n_out; i < c->n_out + c->n_in && !first; i++)
        if (c->iov[i].iov_len)
            first = &c->iov[i];
    uint8_t ack = execute(q, c);
    *(uint8_t *)first->iov_base = ack;
    vpri_q_end(&q->vp, q->tag);
    q->tag = VPRI_NO_TAG;
    atomic_fetch_add(ack == VIRTIO_NET_OK ? &d->ctrl_ok : &d->ctrl_err, 1);
    vq_push(q->vq, c, 1);
    sc_queue_account(&q->scq, 1, 0);
}

static int ctrl_round(struct net_ctrlq *q, uint32_t qz)
{
    struct net_dev *d = q->dev;
    int done = 0, ret = 0;

    if (vdev_is_broken(&d->vdev))
        return -1;
    vpri_q_enter(&q->vp);
    if (q->held) {
        ret = net_unpark(d, q->idx, q->name, &q->vp, held_resume, q);
        if (ret > 0) {
            q->held = false;
            answer(q);
            done++;
        }
    }
    while (ret >= 0 && !q->held && done < CTRL_BUDGET && !qz) {
        ret = next_command(q);
        if (ret <= 0)
            break;
        answer(q);
        done++;
    }
    if (done && !q->vq->err) {
        vq_publish(q->vq);
        if (q->call_fd >= 0 && vq_should_notify(q->vq)) {
            uint64_t one = 1;
            if (write(q->call_fd, &one, sizeof(one)) == (ssize_t)sizeof(one))
                q->scq.stats.notifies++;
        }
    }
    vpri_q_leave(&q->vp);
    return ret < 0 ? -1 : done;
}

int net_ctrl_poll(struct sc_queue *scq)
{
    struct net_ctrlq *q = scq->opaque;
    uint32_t qz = sc_qz_seen(&q->qz);
    int rc = ctrl_round(q, qz);
    if (SC_UNLIKELY(qz))
        sc_qz_publish(&q->qz, qz, q->held ? SC_HOLD_PARKED : SC_HOLD_NONE);
    return rc;
}

bool net_ctrl_set_notify(struct sc_queue *scq, bool enable)
{
    struct net_ctrlq *q = scq->opaque;
    bool pending = vq_set_notify(q->vq, enable) && !sc_qz_seen(&q->qz);
    if (!enable)
        return pending;
    /* A parked queue takes nothing from its ring: only a resolution (which
     * kicks us) or a fault still to post is work. */
    bool vpri = vpri_q_sleeping(&q->vp);
    return q->held ? vpri : pending || vpri;
}

void net_ctrl_stop(struct net_ctrlq *q)
{
    uint64_t start = q->qz.since_ns ? q->qz.since_ns : sc_now_ns();
    sc_qz_clear(&q->qz);
    uint64_t deadline = start + vpri_q_stop_bound(&q->vp, NET_CTRL_DRAIN_NS);
    while (q->held && !vpri_q_owner_gone(&q->vp) && net_ctrl_poll(&q->scq) >= 0 && q->held) {
        if (sc_now_ns() >= deadline) {
            vpri_q_stop_timed_out(&q->vp, q->name, sc_now_ns() - start);
            break;
        }
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    if (vpri_park_pop(&q->vp)) {
        LOG_ERR("net", "%s: a parked control command went back unanswered: its pages never "
                "became resident", q->name);
        if (!q->vq->err) {
            vq_push(q->vq, &q->chain, 0);
            vq_publish(q->vq);
        }
    }
    q->held = false;
    vpri_q_unbind(&q->vp);
}
