/* Queue life cycle. A ring is handed to the device only when everything the
 * data path will dereference has been checked here: size, alignment, and that
 * each of the three rings lies inside one mapped region of the current table. */
#include <string.h>
#include <unistd.h>

#include "../common/log.h"
#include "vhost_int.h"

void vhu_queue_init(struct vhu_queue *q)
{
    memset(q, 0, sizeof(*q));
    q->kick_fd = -1;
    q->call_fd = -1;
    q->err_fd = -1;
}

bool vhu_queue_enabled(struct vhost_dev *v, struct vhu_queue *q)
{
    if (q->enable_set)
        return q->enabled;
    /* Spec, "Ring states": without PROTOCOL_FEATURES rings start enabled. */
    return !(v->features & (1ull << VHOST_USER_F_PROTOCOL_FEATURES));
}

static int ring_part(struct vhost_dev *v, const char *what, uint64_t uva, uint64_t len,
                     uint64_t align, void **out)
{
    if (uva & (align - 1))
        return vhu_err(v, "%s ring address 0x%llx is not %llu-byte aligned", what,
                      (unsigned long long)uva, (unsigned long long)align);
    *out = gm_uva_to_host(gm_current(&v->gm), uva, len);
    if (!*out)
        return vhu_err(v, "%s ring [0x%llx, +%llu) is not inside guest memory", what,
                      (unsigned long long)uva, (unsigned long long)len);
    /* The ring's fields are loaded and stored (atomically) in place: a
     * region whose address and file offset disagree below the alignment
     * would put them across cache lines (split locks). */
    if ((uintptr_t)*out & (align - 1))
        return vhu_err(v, "%s ring 0x%llx is misaligned in our mapping (+%llu): its region's "
                          "address and file offset differ modulo %llu", what,
                      (unsigned long long)uva, (unsigned long long)((uintptr_t)*out & (align - 1)),
                      (unsigned long long)align);
    return VHU_OK;
}

/* Guest address of a frontend address that vhu_ring_translate accepted. */
static uint64_t uva_to_gpa(const struct gm_table *t, uint64_t uva)
{
    for (uint32_t k = 0; k < t->n; k++)
        if (uva - t->r[k].uva < t->r[k].size)
            return t->r[k].gpa + (uva - t->r[k].uva);
    return 0;
}

int vhu_ring_translate(struct vhost_dev *v, const struct vhu_vring_addr *a, uint32_t num,
                      void **desc, void **avail, void **used)
{
    if (vhu_packed(v)) {
        /* Packed: descriptor ring, driver area ("avail"), device area ("used"). */
        if (num == 0 || num > VIRTQ_MAX_SIZE)
            return vhu_err(v, "ring %u size %u is not in 1..%u", a->index, num, VIRTQ_MAX_SIZE);
        if (ring_part(v, "descriptor", a->desc, vring_packed_desc_bytes(num), 16, desc) ||
            ring_part(v, "driver event", a->avail, sizeof(struct vring_packed_event), 4, avail) ||
            ring_part(v, "device event", a->used, sizeof(struct vring_packed_event), 4, used))
            return VHU_FATAL;
        return VHU_OK;
    }
    if (num == 0 || num > VIRTQ_MAX_SIZE || (num & (num - 1)))
        return vhu_err(v, "ring %u size %u is not a power of two in 1..%u", a->index, num,
                      VIRTQ_MAX_SIZE);
    if (ring_part(v, "descriptor", a->desc, vring_desc_bytes((uint16_t)num), 16, desc) ||
        ring_part(v, "available", a->avail, vring_avail_bytes((uint16_t)num), 2, avail) ||
        ring_part(v, "used", a->used, vring_used_bytes((uint16_t)num), 4, used))
        return VHU_FATAL;
    return VHU_OK;
}

int vhu_queue_try_start(struct vhost_dev *v, uint16_t i)
{
    struct vhu_queue *q = &v->q[i];
    void *desc, *avail, *used;
    int rc;

    if (q->started || !q->num || !q->addr_set || !q->kick_set || !vhu_queue_enabled(v, q))
        return VHU_OK;
    if (vhu_ring_translate(v, &q->addr, q->num, &desc, &avail, &used) != VHU_OK)
        return VHU_FATAL;
    if (vhu_packed(v) && vring_packed_idx(q->base) >= q->num)
        return vhu_err(v, "ring %u base position %u is beyond the ring size %u", i,
                      vring_packed_idx(q->base), q->num);
    /* The struct may still hold a resubmit list from its previous start. */
    vq_fini(&q->vq);
    vq_init(&q->vq, (uint16_t)q->num, desc, avail, used, q->base, v->features, &v->gm);
    if (q->addr.flags & (1u << VHOST_VRING_F_LOG)) {
        q->vq.log_used = true;
        q->vq.used_log_gpa = q->addr.log;
        /* The device writes the packed descriptor ring and device area
         * itself: they are logged at their own guest addresses. */
        q->vq.desc_log_gpa = uva_to_gpa(gm_current(&v->gm), q->addr.desc);
        q->vq.dev_event_log_gpa = uva_to_gpa(gm_current(&v->gm), q->addr.used);
    }
    if (v->inflight_base && i < v->inflight_nq) {
        if (q->num != v->inflight_qsize)
            return vhu_err(v, "ring %u size %u differs from the inflight area's queue size %u",
                          i, q->num, v->inflight_qsize);
        uint8_t *area = v->inflight_base + (size_t)i * v->inflight_stride;
        /* Both layouts start with features and version; 0: never used. */
        uint16_t version = ((const struct vq_inflight *)area)->version;
        bool holds_packed = version != 0 && v->inflight_stride >= vq_inflight_packed_bytes(q->num);
        if (vhu_packed(v) && q->used_base != q->base && !holds_packed)
            return vhu_err(v, "ring %u base: used state 0x%x differs from avail state 0x%x, but "
                              "its inflight area holds no packed-ring state to recover the "
                              "requests in flight from", i, q->used_base, q->base);
        if (vq_set_inflight(&q->vq, area, v->inflight_stride) < 0)
            return vhu_err(v, "ring %u inflight area: %s", i, q->vq.err ? q->vq.err : "malformed");
    }
    if (vhu_packed(v) && v->ring_state &&
        vq_resume_start(&q->vq, vhu_ring_state_reserve(v, i, q->num), q->addr.desc,
                        q->frontend_base))
        LOG_INFO(VHU_COMP, "%s: ring %u resumes at used position %u wrap %u, as its crash "
                           "record says (left by an earlier sidecored or an earlier "
                           "connection; the frontend's base: %u wrap %u)",
                 v->path, i, vring_packed_idx(q->vq.used_idx), vring_packed_wrap(q->vq.used_idx),
                 vring_packed_idx(q->frontend_base), vring_packed_wrap(q->frontend_base));
    rc = v->dev->ops->queue_start(v->dev, i, &q->vq, q->kick_fd, q->call_fd);
    if (rc != 0)
        return vhu_err(v, "device refused to start queue %u (error %d)", i, rc);
    q->started = true;
    return VHU_OK;
}

void vhu_queue_stop(struct vhost_dev *v, uint16_t i)
{
    struct vhu_queue *q = &v->q[i];

    if (!q->started)
        return;
    v->dev->ops->queue_stop(v->dev, i);
    vq_resume_stop(&q->vq);
    q->base = q->vq.last_avail;
    q->used_base = q->vq.used_idx;
    q->started = false;
}

void vhu_queues_pause(struct vhost_dev *v, bool *was)
{
    for (uint16_t i = 0; i < v->nq; i++) {
        was[i] = v->q[i].started;
        vhu_queue_stop(v, i);
    }
}

int vhu_queues_resume(struct vhost_dev *v, const bool *was)
{
    for (uint16_t i = 0; i < v->nq; i++)
        if (was[i] && vhu_queue_try_start(v, i) != VHU_OK)
            return VHU_FATAL;
    return VHU_OK;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

void vhu_queues_reset(struct vhost_dev *v)
{
    for (uint16_t i = 0; i < v->nq; i++) {
        vhu_queue_stop(v, i);
        vq_fini(&v->q[i].vq);
        close_fd(&v->q[i].kick_fd);
        close_fd(&v->q[i].call_fd);
        close_fd(&v->q[i].err_fd);
        vhu_queue_init(&v->q[i]);
    }
}

unsigned vhu_queues_started(struct vhost_dev *v)
{
    unsigned n = 0;
    for (uint16_t i = 0; i < v->nq; i++)
        n += v->q[i].started;
    return n;
}
