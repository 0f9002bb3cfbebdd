/* Driver side of a packed virtqueue (virtio spec "Packed Virtqueues").
 * Buffer ids come from a free stack; a buffer's descriptors are written at
 * the next ring positions, the head's flags last with release, so the
 * device never sees a partial chain. The device's used descriptors are
 * checked like split used elements (id bounded and outstanding, length
 * within the writable bytes) before anything is freed. */
#include <errno.h>
#include <stdlib.h>

#include "common/log.h"
#include "vu_vring_packed.h"

int vu_vring_packed_init(struct vu_vring *vr, struct vu_mem *mem)
{
    vr->pdesc = vu_mem_alloc(mem, vring_packed_desc_bytes(vr->num), 4096);
    vr->drv_event = vu_mem_alloc(mem, sizeof(*vr->drv_event), 64);
    vr->dev_event = vu_mem_alloc(mem, sizeof(*vr->dev_event), 64);
    if (!vr->pdesc || !vr->drv_event || !vr->dev_event)
        return -ENOMEM;
    vr->free_ids = calloc(vr->num, sizeof(*vr->free_ids));
    if (!vr->free_ids)
        return -ENOMEM;
    for (unsigned i = 0; i < vr->num; i++)
        vr->free_ids[i] = (uint16_t)(vr->num - 1 - i);
    vr->n_free_ids = vr->num;
    vr->desc_gpa = vu_mem_gpa(mem, vr->pdesc, 1);
    vr->avail_gpa = vu_mem_gpa(mem, vr->drv_event, 1);
    vr->used_gpa = vu_mem_gpa(mem, vr->dev_event, 1);
    vr->avail_pw = vr->used_pw = vr->kicked_pw = VRING_PACKED_WRAP;
    return 0;
}

static uint16_t desc_flags(uint16_t pw, bool write, bool next)
{
    return (uint16_t)(vring_packed_avail_flags(vring_packed_wrap(pw)) |
                      (write ? VRING_DESC_F_WRITE : 0) | (next ? VRING_DESC_F_NEXT : 0));
}

int vu_vring_packed_add(struct vu_vring *vr, const struct vu_sg *sg, unsigned n_out, unsigned n,
                        uint32_t in_bytes, void *token)
{
    bool use_indir = vr->indirect && n > 1;
    unsigned need = use_indir ? 1 : n;
    if (vr->num_free < need || vr->n_free_ids == 0)
        return -ENOSPC;
    uint16_t id = vr->free_ids[--vr->n_free_ids];
    uint16_t head = vr->avail_pw, pw = head, head_flags = 0;

    if (use_indir) {
        struct vring_packed_desc *t =
            (struct vring_packed_desc *)vr->indir + (size_t)id * VU_VRING_MAX_SEGS;
        for (unsigned k = 0; k < n; k++)
            t[k] = (struct vring_packed_desc){.addr = sg[k].gpa, .len = sg[k].len,
                                              .flags = k >= n_out ? VRING_DESC_F_WRITE : 0};
        struct vring_packed_desc *d = &vr->pdesc[vring_packed_idx(pw)];
        d->addr = vr->indir_gpa + (uint64_t)id * VU_VRING_MAX_SEGS * 16;
        d->len = n * 16;
        d->id = id;
        head_flags = (uint16_t)(desc_flags(pw, false, false) | VRING_DESC_F_INDIRECT);
        pw = vring_packed_advance(pw, 1, vr->num);
    } else {
        for (unsigned k = 0; k < n; k++) {
            struct vring_packed_desc *d = &vr->pdesc[vring_packed_idx(pw)];
            d->addr = sg[k].gpa;
            d->len = sg[k].len;
            d->id = id;
            uint16_t fl = desc_flags(pw, k >= n_out, k + 1 < n);
            if (k == 0)
                head_flags = fl;
            else
                d->flags = fl;
            pw = vring_packed_advance(pw, 1, vr->num);
        }
    }
    vr->avail_pw = pw;
    vr->num_free = (uint16_t)(vr->num_free - need);
    vr->heads[id] = (struct vu_vring_head){token, in_bytes, (uint16_t)need};
    if (vr->in_order)
        vr->order[(vr->order_head + vr->outstanding) % vr->num] = id;
    vr->outstanding++;
    __atomic_store_n(&vr->pdesc[vring_packed_idx(head)].flags, head_flags, __ATOMIC_RELEASE);
    return id;
}

int vu_vring_packed_kick(struct vu_vring *vr)
{
    /* Our flags stores must be visible before we read the device's wishes. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    uint16_t old = vr->kicked_pw, new = vr->avail_pw;
    vr->kicked_pw = new;
    if (old == new)
        return 0;
    uint16_t flags = __atomic_load_n(&vr->dev_event->flags, __ATOMIC_ACQUIRE) &
                     RING_EVENT_FLAGS_MASK;
    bool need = flags != RING_EVENT_FLAGS_DISABLE;
    if (flags == RING_EVENT_FLAGS_DESC && vr->event_idx)
        need = vring_packed_need_event(
            __atomic_load_n(&vr->dev_event->off_wrap, __ATOMIC_RELAXED), new, old, vr->num);
    return vu_vring_notify(vr, need);
}

bool vu_vring_packed_has_used(const struct vu_vring *vr)
{
    uint16_t pw = vr->used_pw;
    uint16_t fl = __atomic_load_n(&vr->pdesc[vring_packed_idx(pw)].flags, __ATOMIC_ACQUIRE);
    return vring_packed_is_used(fl, vring_packed_wrap(pw));
}

/* Where the device should next interrupt us: at the next used position, or
 * (callbacks off, EVENT_IDX) far away. */
static void arm_event(struct vu_vring *vr)
{
    if (vr->event_idx && vr->cb_enabled)
        __atomic_store_n(&vr->drv_event->off_wrap, vr->used_pw, __ATOMIC_RELAXED);
}

int vu_vring_packed_get_used(struct vu_vring *vr, void **token, uint32_t *len)
{
    uint16_t pw = vr->used_pw;
    struct vring_packed_desc *d = &vr->pdesc[vring_packed_idx(pw)];
    uint16_t fl = __atomic_load_n(&d->flags, __ATOMIC_ACQUIRE);
    if (!vring_packed_is_used(fl, vring_packed_wrap(pw)))
        return 0;
    uint16_t id = __atomic_load_n(&d->id, __ATOMIC_RELAXED);
    uint32_t l = (fl & VRING_DESC_F_WRITE) ? __atomic_load_n(&d->len, __ATOMIC_RELAXED) : 0;
    if (id >= vr->num) {
        LOG_ERR("vu_vring", "device returned used id %u at position %u, ring has %u entries", id,
                vring_packed_idx(pw), vr->num);
        return vu_vring_broken(vr);
    }
    struct vu_vring_head *h = &vr->heads[id];
    if (!h->token) {
        LOG_ERR("vu_vring", "device returned used id %u at position %u which is not "
                "outstanding (double completion or made-up id)", id, vring_packed_idx(pw));
        return vu_vring_broken(vr);
    }
    if (l > h->in_bytes) {
        LOG_ERR("vu_vring", "device claims %u bytes written to buffer %u, which has only %u "
                "writable bytes", l, id, h->in_bytes);
        return vu_vring_broken(vr);
    }
    if (vu_vring_check_order(vr, id))
        return -EPROTO;
    *token = h->token;
    *len = l;
    vr->used_pw = vring_packed_advance(pw, h->ndesc, vr->num);
    vr->num_free = (uint16_t)(vr->num_free + h->ndesc);
    vr->free_ids[vr->n_free_ids++] = id;
    h->token = NULL;
    vr->outstanding--;
    arm_event(vr);
    return 1;
}

void vu_vring_packed_set_cb(struct vu_vring *vr, bool enable)
{
    uint16_t flags = RING_EVENT_FLAGS_DISABLE;
    if (enable && vr->event_idx) {
        arm_event(vr);
        flags = RING_EVENT_FLAGS_DESC;
    } else if (enable) {
        flags = RING_EVENT_FLAGS_ENABLE;
    }
    __atomic_store_n(&vr->drv_event->flags, flags, __ATOMIC_RELEASE);
}
