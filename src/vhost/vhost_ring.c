/* Per-ring messages. Changing what a running ring's data path uses (addresses,
 * kick or call fd) stops the ring, applies the change and restarts it at the
 * index it stopped at; everything else on a running ring is an error. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "vhost_int.h"

static int check_index(struct vhost_dev *v, uint64_t idx)
{
    if (idx >= v->nq)
        return vhu_err(v, "ring index %llu out of range (the device has %u queues)",
                      (unsigned long long)idx, v->nq);
    return VHU_OK;
}

static int check_stopped(struct vhost_dev *v, uint32_t idx)
{
    if (v->q[idx].started)
        return vhu_err(v, "ring %u is running; stop it with GET_VRING_BASE first", idx);
    return VHU_OK;
}

int vhu_h_set_vring_num(struct vhost_dev *v, struct vhu_msg *m, int *fds, unsigned nfds,
                       struct vhu_reply *r)
{
    const struct vhu_vring_state *s = &m->p.state;
    (void)fds, (void)nfds, (void)r;

    if (check_index(v, s->index) || check_stopped(v, s->index))
        return VHU_FATAL;
    /* Packed rings need not be a power of two (virtio spec, "Packed Virtqueues"). */
    if (s->num == 0 || s->num > VIRTQ_MAX_SIZE || (!vhu_packed(v) && (s->num & (s->num - 1))))
        return vhu_err(v, "ring %u size %u is not %s in 1..%u", s->index, s->num,
                      vhu_packed(v) ? "a size" : "a power of two", VIRTQ_MAX_SIZE);
    v->q[s->index].num = s->num;
    return vhu_queue_try_start(v, (uint16_t)s->index);
}

int vhu_h_set_vring_addr(struct vhost_dev *v, struct vhu_msg *m, int *fds, unsigned nfds,
                        struct vhu_reply *r)
{
    const struct vhu_vring_addr *a = &m->p.addr;
    void *desc, *avail, *used;
    (void)fds, (void)nfds, (void)r;

    if (check_index(v, a->index))
        return VHU_FATAL;
    if (a->flags & ~(1u << VHOST_VRING_F_LOG))
        return vhu_err(v, "ring %u: unknown address flags 0x%x", a->index, a->flags);
    if (gm_current(&v->gm)->n == 0)
        return vhu_err(v, "ring %u addresses sent before any memory table (SET_MEM_TABLE)",
                      a->index);
    struct vhu_queue *q = &v->q[a->index];
    if (q->num && vhu_ring_translate(v, a, q->num, &desc, &avail, &used) != VHU_OK)
        return VHU_FATAL;
    vhu_queue_stop(v, (uint16_t)a->index);
    q->addr = *a;
    q->addr_set = true;
    return vhu_queue_try_start(v, (uint16_t)a->index);
}

int vhu_h_set_vring_base(struct vhost_dev *v, struct vhu_msg *m, int *fds, unsigned nfds,
                        struct vhu_reply *r)
{
    const struct vhu_vring_state *s = &m->p.state;
    (void)fds, (void)nfds, (void)r;

    if (check_index(v, s->index) || check_stopped(v, s->index))
        return VHU_FATAL;
    if (vhu_packed(v)) {
        /* Low half: next avail position and wrap counter; high half (QEMU
         * sends it, DPDK sends 0): the used one. Without an inflight area
         * nothing can be in flight at a start, so both must agree; with
         * one, the area says where the ring is (vq_set_inflight). */
        uint16_t avail = (uint16_t)s->num, used = (uint16_t)(s->num >> 16);
        if (used == 0)
            used = avail;
        if (used != avail && !(v->inflight_base && s->index < v->inflight_nq))
            return vhu_err(v, "ring %u base: used state 0x%x differs from avail state 0x%x "
                              "(requests in flight, and no inflight area to recover them)",
                          s->index, used, avail);
        v->q[s->index].base = v->q[s->index].frontend_base = avail;
        v->q[s->index].used_base = used;
        return VHU_OK;
    }
    if (s->num > 0xffff)
        return vhu_err(v, "ring %u base %u does not fit a split ring's 16-bit index", s->index,
                      s->num);
    v->q[s->index].base = (uint16_t)s->num;
    return VHU_OK;
}

int vhu_h_get_vring_base(struct vhost_dev *v, struct vhu_msg *m, int *fds, unsigned nfds,
                        struct vhu_reply *r)
{
    uint32_t idx = m->p.state.index;
    (void)fds, (void)nfds;

    if (check_index(v, idx))
        return VHU_FATAL;
    struct vhu_queue *q = &v->q[idx];
    vhu_queue_stop(v, (uint16_t)idx);
    vq_resume_forget(vhu_ring_state_of(v, (uint16_t)idx));
    /* Stopped until the frontend sends SET_VRING_KICK again. */
    if (q->kick_fd >= 0)
        close(q->kick_fd);
    q->kick_fd = -1;
    q->kick_set = false;
    r->p.state.index = idx;
    r->p.state.num = q->base;
    if (vhu_packed(v)) /* the used half too, as QEMU expects */
        r->p.state.num |= (uint32_t)q->used_base << 16;
    r->size = sizeof(r->p.state);
    return VHU_OK;
}

/* The u64 payload of SET_VRING_KICK/CALL/ERR: index in bits 0-7, bit 8 "no fd". */
static int vring_fd_msg(struct vhost_dev *v, const struct vhu_msg *m, uint16_t *idx)
{
    uint64_t u = m->p.u64;
    if (u & ~(VHOST_USER_VRING_IDX_MASK | VHOST_USER_VRING_NOFD_MASK))
        return vhu_err(v, "unknown bits 0x%llx in the ring index",
                      (unsigned long long)(u & ~(VHOST_USER_VRING_IDX_MASK |
                                                 VHOST_USER_VRING_NOFD_MASK)));
    if (check_index(v, u & VHOST_USER_VRING_IDX_MASK))
        return VHU_FATAL;
    *idx = (uint16_t)(u & VHOST_USER_VRING_IDX_MASK);
    return VHU_OK;
}

static int take_fd(int *fds, unsigned nfds)
{
    int fd = -1;
    if (nfds) {
        fd = fds[0];
        fds[0] = -1;
    }
    return fd;
}

/* Replaces one of the ring's fds; a running ring is restarted around it when
 * the data path uses that fd. The fd is made non-blocking: a sidecore that
 * reads a kick the frontend drained first, or signals a call eventfd the
 * frontend filled to its limit, must not wait, since it serves other
 * devices too. (QEMU and DPDK create these eventfds non-blocking already.) */
static int swap_fd(struct vhost_dev *v, uint16_t idx, int *slot, int fd, bool restart)
{
    int fl = fd >= 0 ? fcntl(fd, F_GETFL) : 0;
    if (fl < 0 || (fd >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)) {
        int e = errno;
        close(fd);
        return vhu_err(v, "ring %u: cannot make the eventfd non-blocking: %s", idx, strerror(e));
    }
    if (restart)
        vhu_queue_stop(v, idx);
    if (*slot >= 0)
        close(*slot);
    *slot = fd;
    return vhu_queue_try_start(v, idx);
}

int vhu_h_set_vring_kick(struct vhost_dev *v, struct vhu_msg *m, int *fds, unsigned nfds,
                        struct vhu_reply *r)
{
    uint16_t idx = 0; /* -O3 cannot see that vring_fd_msg sets it on success */
    (void)r;

    if (vring_fd_msg(v, m, &idx))
        return VHU_FATAL;
    v->q[idx].kick_set = true;
    return swap_fd(v, idx, &v->q[idx].kick_fd, take_fd(fds, nfds), true);
}

int vhu_h_set_vring_call(struct vhost_dev *v, struct vhu_msg *m, int *fds, unsigned nfds,
                        struct vhu_reply *r)
{
    uint16_t idx = 0; /* -O3 cannot see that vring_fd_msg sets it on success */
    (void)r;

    if (vring_fd_msg(v, m, &idx))
        return VHU_FATAL;
    return swap_fd(v, idx, &v->q[idx].call_fd, take_fd(fds, nfds), true);
}

int vhu_h_set_vring_err(struct vhost_dev *v, struct vhu_msg *m, int *fds, unsigned nfds,
                       struct vhu_reply *r)
{
    uint16_t idx = 0; /* -O3 cannot see that vring_fd_msg sets it on success */
    (void)r;

    if (vring_fd_msg(v, m, &idx))
        return VHU_FATAL;
    /* Only the control thread writes the err fd, so no restart is needed. */
    return swap_fd(v, idx, &v->q[idx].err_fd, take_fd(fds, nfds), false);
}

int vhu_h_set_vring_enable(struct vhost_dev *v, struct vhu_msg *m, int *fds, unsigned nfds,
                          struct vhu_reply *r)
{
    const struct vhu_vring_state *s = &m->p.state;
    (void)fds, (void)nfds, (void)r;

    if (check_index(v, s->index))
        return VHU_FATAL;
    if (s->num > 1)
        return vhu_err(v, "ring %u: enable value %u is neither 0 nor 1", s->index, s->num);
    struct vhu_queue *q = &v->q[s->index];
    q->enable_set = true;
    q->enabled = s->num == 1;
    if (!q->enabled) {
        vhu_queue_stop(v, (uint16_t)s->index);
        return VHU_OK;
    }
    return vhu_queue_try_start(v, (uint16_t)s->index);
}
