/* Waiting for queues to settle without blocking the control thread.
 *
 * A message that stops a running ring (GET_VRING_BASE, a disable, a memory
 * table change, ...) must not be applied while the device still has requests
 * in flight: they write into guest memory. The device's queue_stop would wait
 * for them itself, but on the control thread, which serves every device's
 * socket and the RPC server: one slow backend (a remote I/O host that stopped
 * answering, a congested disk, a QoS stage) would stall them all for the
 * whole drain bound. So before such a message is dispatched, the queues it
 * may stop are quiesced (they take no new requests), the connection stops
 * being read, and a timer checks every VHU_SETTLE_TICK_MS whether they hold
 * nothing anymore; then the message is dispatched as usual (its stop returns
 * at once) and the connection is read again. A hangup, and a device failure
 * (the device still finishes what its backend holds), wait the same way
 * before the teardown. The frontend waits for its reply as it would have;
 * only this connection waits. */
#include <string.h>

#include "../common/log.h"
#include "../common/util.h"
#include "vhost_int.h"

#define VHU_SETTLE_TICK_MS 1u
/* Past the devices' own bounds (counted from the quiesce): a safety net. */
#define VHU_SETTLE_MAX_NS (6ull * 1000000000ull)

/* Which rings the message in v->conn may stop (all of them for a hangup).
 * The payload was zeroed when its header arrived, so a short one reads as
 * ring 0; the handler rejects it later. Over-reporting costs a wait, never
 * correctness: the handler's own stop still drains. */
static void rings_stopped_by(struct vhost_dev *v, bool hangup, bool *want)
{
    const struct vhu_msg *m = &v->conn.msg;
    int one = -1;
    bool all = hangup;

    memset(want, 0, v->nq * sizeof(*want));
    if (!hangup) {
        switch (m->hdr.request) {
        case VHOST_USER_GET_VRING_BASE:
            one = (int)m->p.state.index;
            break;
        case VHOST_USER_SET_VRING_ENABLE:
            if (m->p.state.num == 0)
                one = (int)m->p.state.index;
            break;
        case VHOST_USER_SET_VRING_ADDR:
            one = (int)m->p.addr.index;
            break;
        case VHOST_USER_SET_VRING_KICK:
        case VHOST_USER_SET_VRING_CALL:
            one = (int)(m->p.u64 & VHOST_USER_VRING_IDX_MASK);
            break;
        case VHOST_USER_SET_FEATURES:
            all = vhu_features_change_device(v, m->p.u64);
            break;
        case VHOST_USER_SET_MEM_TABLE:
        case VHOST_USER_ADD_MEM_REG:
        case VHOST_USER_REM_MEM_REG:
        case VHOST_USER_SET_LOG_BASE:
        case VHOST_USER_RESET_OWNER:
        case VHOST_USER_RESET_DEVICE:
        case VHOST_USER_VPRI_SET_MAP:
        case VHOST_USER_VPRI_SET_CHANNEL:
            all = true;
            break;
        default:
            break;
        }
    }
    for (uint16_t i = 0; i < v->nq; i++)
        want[i] = all || i == one;
}

bool vhost_dev_settled(struct vhost_dev *v)
{
    for (uint16_t i = 0; i < v->nq; i++)
        if (v->quiesced[i] && v->q[i].started && !v->dev->ops->queue_settled(v->dev, i))
            return false;
    return true;
}

static void tick(void *opaque)
{
    struct vhost_dev *v = opaque;

    v->settle_timer = 0;
    if (!vhost_dev_settled(v) && sc_now_ns() - v->settle_ns < VHU_SETTLE_MAX_NS) {
        int id = evloop_timer(v->loop, VHU_SETTLE_TICK_MS, tick, v);
        if (id > 0) {
            v->settle_timer = id;
            return;
        }
        /* Without a timer, the stop's own (blocking) drain takes over. */
    }
    LOG_DEBUG(VHU_COMP, "%s: queues settled after %llu us", v->dev->name,
              (unsigned long long)((sc_now_ns() - v->settle_ns) / 1000));
    v->settling = false;
    vhu_conn_resume(v, v->settle_hangup);
}

unsigned vhu_settle_left_s(const struct vhost_dev *v)
{
    uint64_t spent = sc_now_ns() - v->settle_ns;
    uint64_t left = spent < VHU_SETTLE_MAX_NS ? VHU_SETTLE_MAX_NS - spent : 0;
    return (unsigned)((left + 999999999ull) / 1000000000ull);
}

bool vhu_settle_begin(struct vhost_dev *v, bool hangup)
{
    const struct vdev_ops *ops = v->dev->ops;
    bool want[VHOST_USER_VRING_IDX_MASK + 1];
    bool wait = false;

    if (!ops->queue_quiesce || !ops->queue_settled)
        return false;
    rings_stopped_by(v, hangup, want);
    for (uint16_t i = 0; i < v->nq; i++) {
        if (!want[i] || !v->q[i].started || !ops->queue_quiesce(v->dev, i, true))
            continue;
        v->quiesced[i] = true;
        wait |= !ops->queue_settled(v->dev, i);
    }
    if (v->settling) {
        /* The device failed while a message waited: the teardown waits
         * instead, on every ring, and the message is dropped with it. */
        v->settle_hangup = true;
        return true;
    }
    if (!wait)
        return false;
    int id = evloop_timer(v->loop, VHU_SETTLE_TICK_MS, tick, v);
    if (id < 0)
        return false;
    evloop_del(v->loop, v->conn.fd);
    v->settle_timer = id;
    v->settle_ns = sc_now_ns();
    v->settle_hangup = hangup;
    v->settling = true;
    return true;
}

void vhost_dev_quiesce(struct vhost_dev *v)
{
    if (!v->dev->ops->queue_quiesce)
        return;
    for (uint16_t i = 0; i < v->nq; i++)
        if (v->q[i].started && v->dev->ops->queue_quiesce(v->dev, i, true))
            v->quiesced[i] = true;
}

void vhu_settle_release(struct vhost_dev *v)
{
    for (uint16_t i = 0; i < v->nq; i++) {
        /* A ring the message stopped and restarted is a new queue, not
         * quiesced: releasing it too is harmless. */
        if (v->quiesced[i] && v->q[i].started && v->dev->ops->queue_quiesce)
            v->dev->ops->queue_quiesce(v->dev, i, false);
        v->quiesced[i] = false;
    }
}

void vhu_settle_cancel(struct vhost_dev *v)
{
    if (v->settle_timer > 0)
        evloop_timer_cancel(v->loop, v->settle_timer);
    v->settle_timer = 0;
    v->settling = false;
    memset(v->quiesced, 0, v->nq * sizeof(*v->quiesced));
}
