/* VPRI messages (docs/VPRI.md): VPRI_SET_MAP (PA-BITMAP and DMA table) and
 * VPRI_SET_CHANNEL (IOPF ring, queue slots, eventfds). The data path sees
 * VPRI through gm.vpri only once both are set; every change stops the
 * running queues first, so a queue binds to one map and channel for its
 * whole run and nothing it may hold is freed under it.
 *
 * The resolve eventfd is watched here: a resolution wakes every started
 * queue through its kick eventfd, so a sidecore asleep with parked requests
 * gets to re-check them (the kick counts as a spurious guest notification,
 * which the virtio spec allows). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "../common/log.h"
#include "vhost_int.h"

static void on_resolve(int fd, uint32_t events, void *opaque)
{
    struct vhost_dev *v = opaque;
    uint64_t n;
    (void)events;
    if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
        LOG_WARN(VHU_COMP, "%s: reading the VPRI resolve eventfd: %s", v->dev->name,
                 strerror(errno));
    for (uint16_t i = 0; i < v->nq; i++) {
        uint64_t one = 1;
        if (v->q[i].started && v->q[i].kick_fd >= 0 &&
            write(v->q[i].kick_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
            LOG_WARN(VHU_COMP, "%s: waking queue %u: %s", v->dev->name, i, strerror(errno));
    }
}

/* Publishes (or hides) VPRI for queues that start from now on. */
static void apply(struct vhost_dev *v)
{
    struct vpri_dev *d = NULL;
    if (v->vpri_map && v->vpri_chan) {
        v->vpri.map = v->vpri_map;
        v->vpri.chan = v->vpri_chan;
        d = &v->vpri;
    }
    atomic_store_explicit(&v->gm.vpri, d, memory_order_release);
}

static void unwatch(struct vhost_dev *v)
{
    if (v->vpri_chan)
        evloop_del(v->loop, v->vpri_chan->resolve_fd);
}

/* Keeps the counters of a channel about to go (its queues are stopped). */
static void fold(struct vhost_dev *v)
{
    if (!v->vpri_chan || !v->vpri_past)
        return;
    for (uint16_t i = 0; i < v->nq && i < v->vpri_chan->nqueues; i++) {
        struct vpri_qstats s;
        vpri_qstats_read(&v->vpri_chan->slots[i], &s);
        vpri_qstats_add(&v->vpri_past[i], &s);
        v->vpri_past[i].parked = 0;
    }
}

unsigned vhost_dev_vpri_stats(struct vhost_dev *v, struct vpri_qstats *out, unsigned max)
{
    if (!v->vpri_past)
        return 0;
    unsigned n = v->nq < max ? v->nq : max;
    for (unsigned i = 0; i < n; i++) {
        out[i] = v->vpri_past[i];
        if (v->vpri_chan) {
            struct vpri_qstats s;
            vpri_qstats_read(&v->vpri_chan->slots[i], &s);
            vpri_qstats_add(&out[i], &s);
        }
    }
    return n;
}

void vhu_vpri_forget(struct vhost_dev *v)
{
    atomic_store_explicit(&v->gm.vpri, NULL, memory_order_release);
    unwatch(v);
    fold(v);
    vpri_map_free(v->vpri_map);
    vpri_chan_free(v->vpri_chan);
    v->vpri_map = NULL;
    v->vpri_chan = NULL;
    /* The strike outlives the connection: reconnecting must not reset it. */
    uint64_t strike = atomic_load_explicit(&v->vpri.strike_ns, memory_order_relaxed);
    memset(&v->vpri, 0, sizeof(v->vpri));
    atomic_store_explicit(&v->vpri.strike_ns, strike, memory_order_relaxed);
}

static int check_negotiated(struct vhost_dev *v)
{
    if (!vhu_has_proto(v, VHOST_USER_PROTOCOL_F_VPRI))
        return vhu_err(v, "VPRI was not negotiated");
    return VHU_OK;
}

int vhu_h_vpri_set_map(struct vhost_dev *v, struct vhu_msg *m, int *fds, unsigned nfds,
                       struct vhu_reply *r)
{
    struct vpri_map_msg mm;
    struct vpri_map *map;
    (void)nfds, (void)r;

    if (check_negotiated(v) != VHU_OK)
        return VHU_FATAL;
    memcpy(&mm, &m->p, sizeof(mm));
    int fd = fds[0];
    fds[0] = -1;
    if (vpri_map_open(fd, &mm, &map, v->err, sizeof(v->err)) < 0)
        return VHU_FATAL;
    vhu_queues_pause(v, v->paused);
    atomic_store_explicit(&v->gm.vpri, NULL, memory_order_release);
    vpri_map_free(v->vpri_map);
    v->vpri_map = map;
    apply(v);
    LOG_INFO(VHU_COMP, "%s: VPRI PA-BITMAP of %llu pages", v->dev->name,
             (unsigned long long)map->npages);
    return vhu_queues_resume(v, v->paused);
}

int vhu_h_vpri_set_channel(struct vhost_dev *v, struct vhu_msg *m, int *fds, unsigned nfds,
                           struct vhu_reply *r)
{
    struct vpri_chan_msg cm;
    struct vpri_chan *chan;
    int own[3] = {fds[0], fds[1], fds[2]};
    (void)nfds, (void)r;

    fds[0] = fds[1] = fds[2] = -1;
    if (check_negotiated(v) != VHU_OK) {
        for (int i = 0; i < 3; i++)
            close(own[i]);
        return VHU_FATAL;
    }
    memcpy(&cm, &m->p, sizeof(cm));
    if (!v->vpri_past && !(v->vpri_past = calloc(v->nq, sizeof(*v->vpri_past)))) {
        for (int i = 0; i < 3; i++)
            close(own[i]);
        return vhu_err(v, "out of memory for the VPRI counters");
    }
    if (vpri_chan_open(own, &cm, v->nq, &chan, v->err, sizeof(v->err)) < 0)
        return VHU_FATAL;
    int rc = evloop_add(v->loop, chan->resolve_fd, EPOLLIN, on_resolve, v);
    if (rc < 0) {
        vpri_chan_free(chan);
        return vhu_err(v, "cannot watch the VPRI resolve eventfd: %s", strerror(-rc));
    }
    vhu_queues_pause(v, v->paused);
    atomic_store_explicit(&v->gm.vpri, NULL, memory_order_release);
    unwatch(v);
    fold(v);
    vpri_chan_free(v->vpri_chan);
    v->vpri_chan = chan;
    atomic_store_explicit(&v->vpri.reserve, 0, memory_order_relaxed);
    apply(v);
    LOG_INFO(VHU_COMP, "%s: VPRI channel: %u queue slots, IOPF ring of %u records",
             v->dev->name, chan->nqueues, chan->entries);
    return vhu_queues_resume(v, v->paused);
}
