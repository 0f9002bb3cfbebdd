#include "vu_vring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/log.h"
#include "vu_vring_packed.h"

/* Far enough ahead that the device never crosses it before we reap again. */
#define VU_EVENT_FAR 0x8000

int vu_vring_init(struct vu_vring *vr, struct vu_mem *mem, uint16_t num, bool event_idx,
                  bool indirect)
{
    struct vu_vring_cfg cfg = {.num = num, .event_idx = event_idx, .indirect = indirect};
    return vu_vring_init_cfg(vr, mem, &cfg);
}

static int init_split(struct vu_vring *vr, struct vu_mem *mem)
{
    uint16_t num = vr->num;
    /* avail/used carry one extra u16 for the event index fields. */
    vr->desc = vu_mem_alloc(mem, vring_desc_bytes(num), 4096);
    vr->avail = vu_mem_alloc(mem, vring_avail_bytes(num) + 2, 4096);
    vr->used = vu_mem_alloc(mem, vring_used_bytes(num) + 2, 4096);
    if (!vr->desc || !vr->avail || !vr->used)
        return -ENOMEM;
    vr->desc_gpa = vu_mem_gpa(mem, vr->desc, 1);
    vr->avail_gpa = vu_mem_gpa(mem, vr->avail, 1);
    vr->used_gpa = vu_mem_gpa(mem, vr->used, 1);
    for (unsigned i = 0; i < num; i++)
        vr->desc[i].next = (uint16_t)(i + 1);
    return 0;
}

int vu_vring_init_cfg(struct vu_vring *vr, struct vu_mem *mem, const struct vu_vring_cfg *cfg)
{
    uint16_t num = cfg->num;
    memset(vr, 0, sizeof(*vr));
    vr->kick_fd = vr->call_fd = -1;
    if (num == 0 || num > VIRTQ_MAX_SIZE || (!cfg->packed && (num & (num - 1)) != 0)) {
        LOG_ERR("vu_vring", "queue size %u is not %s in 1..%u", num,
                cfg->packed ? "a size" : "a power of two", VIRTQ_MAX_SIZE);
        return -EINVAL;
    }
    vr->num = num;
    vr->event_idx = cfg->event_idx;
    vr->indirect = cfg->indirect;
    vr->packed = cfg->packed;
    vr->in_order = cfg->in_order;
    int r = vr->packed ? vu_vring_packed_init(vr, mem) : init_split(vr, mem);
    if (!r && vr->indirect) {
        vr->indir = vu_mem_alloc(mem, (uint64_t)num * VU_VRING_MAX_SEGS * 16, 4096);
        if (vr->indir)
            vr->indir_gpa = vu_mem_gpa(mem, vr->indir, 1);
        else
            r = -ENOMEM;
    }
    if (r) {
        LOG_ERR("vu_vring", "frontend memory too small for a ring of %u entries", num);
        vu_vring_destroy(vr);
        return r;
    }
    vr->heads = calloc(num, sizeof(*vr->heads));
    if (vr->in_order)
        vr->order = calloc(num, sizeof(*vr->order));
    if (!vr->heads || (vr->in_order && !vr->order)) {
        vu_vring_destroy(vr);
        return -ENOMEM;
    }
    vr->num_free = num;
    vr->cb_enabled = true;
    vr->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    vr->call_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (vr->kick_fd < 0 || vr->call_fd < 0) {
        int e = errno;
        LOG_ERR("vu_vring", "eventfd: %s", strerror(e));
        vu_vring_destroy(vr);
        return -e;
    }
    return 0;
}

void vu_vring_destroy(struct vu_vring *vr)
{
    if (vr->kick_fd >= 0)
        close(vr->kick_fd);
    if (vr->call_fd >= 0)
        close(vr->call_fd);
    free(vr->heads);
    free(vr->free_ids);
    free(vr->order);
    memset(vr, 0, sizeof(*vr));
    vr->kick_fd = vr->call_fd = -1;
}

static void fill(struct vring_desc *d, const struct vu_sg *sg, unsigned i, unsigned n,
                 unsigned n_out)
{
    d->addr = sg[i].gpa;
    d->len = sg[i].len;
    d->flags = (uint16_t)((i + 1 < n ? VRING_DESC_F_NEXT : 0) |
                          (i >= n_out ? VRING_DESC_F_WRITE : 0));
}

int vu_vring_add(struct vu_vring *vr, const struct vu_sg *sg, unsigned n_out, unsigned n_in,
                 void *token)
{
    if (vr->broken)
        return -EPIPE;
    unsigned n = n_out + n_in;
    if (n == 0 || n > VU_VRING_MAX_SEGS || !token)
        return -EINVAL;
    uint64_t in_bytes = 0;
    for (unsigned i = 0; i < n; i++) {
        if (sg[i].len == 0)
            return -EINVAL;
        if (i >= n_out)
            in_bytes += sg[i].len;
    }
    if (in_bytes > UINT32_MAX)
        return -EINVAL;
    if (vr->packed)
        return vu_vring_packed_add(vr, sg, n_out, n, (uint32_t)in_bytes, token);
    bool use_indir = vr->indirect && n > 1;
    unsigned need = use_indir ? 1 : n;
    if (vr->num_free < need)
        return -ENOSPC;

    uint16_t head = vr->free_head, i = head;
    if (use_indir) {
        struct vring_desc *t = vr->indir + (size_t)head * VU_VRING_MAX_SEGS;
        for (unsigned k = 0; k < n; k++) {
            fill(&t[k], sg, k, n, n_out);
            t[k].next = (uint16_t)(k + 1);
        }
        vr->desc[head].addr = vr->indir_gpa + (uint64_t)head * VU_VRING_MAX_SEGS * 16;
        vr->desc[head].len = n * 16;
        vr->desc[head].flags = VRING_DESC_F_INDIRECT;
        i = vr->desc[head].next;
    } else {
        for (unsigned k = 0; k < n; k++) {
            fill(&vr->desc[i], sg, k, n, n_out);
            i = vr->desc[i].next;
        }
    }
    vr->free_head = i;
    vr->num_free = (uint16_t)(vr->num_free - need);
    vr->heads[head] = (struct vu_vring_head){token, (uint32_t)in_bytes, (uint16_t)need};
    if (vr->in_order)
        vr->order[(vr->order_head + vr->outstanding) % vr->num] = head;
    vr->outstanding++;

    vr->avail->ring[vr->avail_idx & (vr->num - 1)] = head;
    vr->avail_idx++;
    __atomic_store_n(&vr->avail->idx, vr->avail_idx, __ATOMIC_RELEASE);
    return head;
}

/* Writes to the kick eventfd unless need is false. */
int vu_vring_notify(struct vu_vring *vr, bool need)
{
    if (!need) {
        vr->kicks_suppressed++;
        return 0;
    }
    uint64_t one = 1;
    if (write(vr->kick_fd, &one, sizeof(one)) != sizeof(one)) {
        int e = errno;
        LOG_ERR("vu_vring", "kick eventfd write: %s", strerror(e));
        return -e;
    }
    vr->kicks++;
    return 1;
}

int vu_vring_kick(struct vu_vring *vr)
{
    if (vr->broken)
        return -EPIPE;
    if (vr->packed)
        return vu_vring_packed_kick(vr);
    /* The avail idx store must be visible before we read the device's
     * suppression state, or we could miss a kick the device waits for. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    uint16_t old = vr->kicked_idx, new = vr->avail_idx;
    vr->kicked_idx = new;
    if (old == new)
        return 0;
    bool need;
    if (vr->event_idx)
        need = vring_need_event(*vu_vring_avail_event(vr), new, old);
    else
        need = !(__atomic_load_n(&vr->used->flags, __ATOMIC_RELAXED) & VRING_USED_F_NO_NOTIFY);
    return vu_vring_notify(vr, need);
}

bool vu_vring_has_used(const struct vu_vring *vr)
{
    if (vr->packed)
        return vu_vring_packed_has_used(vr);
    return __atomic_load_n(&vr->used->idx, __ATOMIC_ACQUIRE) != vr->last_used;
}

int vu_vring_broken(struct vu_vring *vr)
{
    vr->broken = true;
    return -EPROTO;
}

/* in_order: the completion of id must be the oldest outstanding one. */
int vu_vring_check_order(struct vu_vring *vr, uint16_t id)
{
    if (!vr->in_order)
        return 0;
    uint16_t want = vr->order[vr->order_head];
    if (id != want) {
        LOG_ERR("vu_vring", "device completed id %u but %u is older (IN_ORDER)", id, want);
        return vu_vring_broken(vr);
    }
    vr->order_head = (uint16_t)((vr->order_head + 1u) % vr->num);
    return 0;
}

int vu_vring_get_used(struct vu_vring *vr, void **token, uint32_t *len)
{
    if (vr->broken)
        return -EPIPE;
    if (vr->packed)
        return vu_vring_packed_get_used(vr, token, len);
    uint16_t uidx = __atomic_load_n(&vr->used->idx, __ATOMIC_ACQUIRE);
    if (uidx == vr->last_used)
        return 0;
    uint16_t ahead = (uint16_t)(uidx - vr->last_used);
    if (ahead > vr->outstanding) {
        LOG_ERR("vu_vring", "device used idx %u is %u ahead of ours (%u) but only %u requests "
                "are outstanding", uidx, ahead, vr->last_used, vr->outstanding);
        return vu_vring_broken(vr);
    }
    struct vring_used_elem e = vr->used->ring[vr->last_used & (vr->num - 1)];
    if (e.id >= vr->num) {
        LOG_ERR("vu_vring", "device returned used id %u, ring has %u entries", e.id, vr->num);
        return vu_vring_broken(vr);
    }
    struct vu_vring_head *h = &vr->heads[e.id];
    if (!h->token) {
        LOG_ERR("vu_vring", "device returned used id %u which is not outstanding "
                "(double completion or made-up id)", e.id);
        return vu_vring_broken(vr);
    }
    if (e.len > h->in_bytes) {
        LOG_ERR("vu_vring", "device claims %u bytes written to chain %u, which has only %u "
                "writable bytes", e.len, e.id, h->in_bytes);
        return vu_vring_broken(vr);
    }
    if (vu_vring_check_order(vr, (uint16_t)e.id))
        return -EPROTO;
    *token = h->token;
    *len = e.len;
    uint16_t last = (uint16_t)e.id;
    for (unsigned k = 1; k < h->ndesc; k++)
        last = vr->desc[last].next;
    vr->desc[last].next = vr->free_head;
    vr->free_head = (uint16_t)e.id;
    vr->num_free = (uint16_t)(vr->num_free + h->ndesc);
    h->token = NULL;
    vr->outstanding--;
    vr->last_used++;
    if (vr->event_idx)
        __atomic_store_n(vu_vring_used_event(vr),
                         (uint16_t)(vr->last_used + (vr->cb_enabled ? 0 : VU_EVENT_FAR)),
                         __ATOMIC_RELAXED);
    return 1;
}

void vu_vring_disable_cb(struct vu_vring *vr)
{
    vr->cb_enabled = false;
    if (vr->packed) {
        vu_vring_packed_set_cb(vr, false);
        return;
    }
    if (vr->event_idx)
        *vu_vring_used_event(vr) = (uint16_t)(vr->last_used + VU_EVENT_FAR);
    else
        vr->avail->flags |= VRING_AVAIL_F_NO_INTERRUPT;
}

bool vu_vring_enable_cb(struct vu_vring *vr)
{
    vr->cb_enabled = true;
    if (vr->packed) {
        vu_vring_packed_set_cb(vr, true);
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        return !vu_vring_has_used(vr);
    }
    if (vr->event_idx)
        *vu_vring_used_event(vr) = vr->last_used;
    else
        vr->avail->flags &= (uint16_t)~VRING_AVAIL_F_NO_INTERRUPT;
    /* Publish the re-arm before checking for completions that raced it. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return !vu_vring_has_used(vr);
}

void vu_vring_ack_call(struct vu_vring *vr)
{
    uint64_t v;
    while (read(vr->call_fd, &v, sizeof(v)) == sizeof(v))
        ;
}
