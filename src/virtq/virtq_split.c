/* Split-ring descriptor chain walk (vq_pop) with every check virtq.h lists.
 * The walk fails the queue on the first violation; it never trusts a value
 * it did not copy out of guest memory first. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "../common/util.h"
#include "virtq_internal.h"

/* Indirect tables may exceed the ring size: Linux sizes them by the
 * request's segment count (bounded by the device's seg_max), not by the
 * ring. 1024 matches QEMU's per-request iovec limit. */
#define VQ_MIN_INDIRECT_CAP 1024u
#define VQ_PREFETCH 16u /* descriptors fetched ahead when a new batch is seen */

void vq_init(struct virtq *vq, uint16_t num, void *desc, void *avail, void *used,
             uint16_t base, uint64_t features, struct guestmem *gm)
{
    memset(vq, 0, sizeof(*vq));
    vq->num = num;
    vq->desc = desc;
    vq->avail = avail;
    vq->used = used;
    vq->last_avail = base;
    vq->avail_seen = base;
    vq->heads_end = base;
    /* A split ring's used index is the ring's own, not the frontend's base
     * (the next avail entry): they differ when requests were in flight at
     * the last stop (given up after its bound, or held by a crashed
     * backend); counting from base published entries never written. */
    uint16_t u = base;
    if (used && !(features & (1ull << VIRTIO_F_RING_PACKED)))
        u = __atomic_load_n(&((struct vring_used *)used)->idx, __ATOMIC_ACQUIRE);
    vq->used_idx = u;
    vq->pub_used = u;
    vq->used_written = u;
    vq->signalled_used = u;
    vq->event_idx = features & (1ull << VIRTIO_RING_F_EVENT_IDX);
    vq->indirect = features & (1ull << VIRTIO_RING_F_INDIRECT_DESC);
    vq->notify_on = true;
    vq->gm = gm;
    if (features & ((1ull << VIRTIO_F_RING_PACKED) | (1ull << VIRTIO_F_IN_ORDER)))
        vq_init_ext(vq, features);
}

void vq_fail(struct virtq *vq, const char *fmt, ...)
{
    if (vq->err)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(vq->err_buf, sizeof(vq->err_buf), fmt, ap);
    va_end(ap);
    vq->err = vq->err_buf;
}

/* State of one chain walk. */
struct walk {
    struct virtq *vq;
    const struct gm_table *t;
    struct vq_chain *c;
    uint64_t out_len, in_len;
    uint16_t niov;
    bool seen_in;
};

#define WALK_FAIL(w, ...) (vq_fail((w)->vq, __VA_ARGS__), -1)

/* Appends one buffer's iovecs. where names the descriptor for messages. */
static int add_buf(struct walk *w, const struct vring_desc *d, const char *where, unsigned pos)
{
    struct vq_chain *c = w->c;
    bool in = (d->flags & VRING_DESC_F_WRITE) && !w->vq->reads_only;

    if (!in && w->seen_in)
        return WALK_FAIL(w, "chain at head %u: device-readable %s %u follows a device-writable one",
                         c->head, where, pos);
    w->seen_in |= in;
    uint64_t *len = in ? &w->in_len : &w->out_len;
    *len += d->len;
    if (w->in_len + w->out_len >= VQ_MAX_CHAIN_BYTES)
        return WALK_FAIL(w, "chain at head %u is 4 GiB or longer", c->head);
    if (d->len == 0)
        return 0;

    uint64_t last;
    if (__builtin_add_overflow(d->addr, (uint64_t)d->len - 1, &last))
        return WALK_FAIL(w, "chain at head %u: %s %u buffer [0x%llx, +%u) wraps around 2^64",
                         c->head, where, pos, (unsigned long long)d->addr, d->len);
    int n = gm_map_iov_hint(w->t, &w->vq->region_hint, d->addr, d->len, c->iov + w->niov,
                            c->gpa ? c->gpa + w->niov : NULL, c->max_iov - w->niov);
    if (n == -ENOBUFS)
        return WALK_FAIL(w, "chain at head %u needs more than %u segments", c->head, c->max_iov);
    if (n < 0)
        return WALK_FAIL(w, "chain at head %u: %s %u buffer [0x%llx, +%u) is not inside guest memory",
                         c->head, where, pos, (unsigned long long)d->addr, d->len);
    w->niov += (uint16_t)n;
    if (in)
        c->n_in += (uint16_t)n;
    else
        c->n_out += (uint16_t)n;
    return 0;
}

/* Reads entry i of an indirect table that is not one contiguous host piece
 * (it spans adjacent regions, or is not mapped at all). */
static int read_indirect_slow(struct walk *w, uint64_t gpa, struct vring_desc *e)
{
    struct iovec iov[2];
    int n = gm_map_iov(w->t, gpa, sizeof(*e), iov, NULL, 2);
    if (n < 0)
        return -1;
    uint8_t buf[sizeof(*e)];
    memcpy(buf, iov[0].iov_base, iov[0].iov_len);
    if (n == 2)
        memcpy(buf + iov[0].iov_len, iov[1].iov_base, iov[1].iov_len);
    vq_read_desc(buf, e);
    return 0;
}

static int walk_indirect(struct walk *w, const struct vring_desc *d, uint16_t slot)
{
    struct virtq *vq = w->vq;
    uint16_t head = w->c->head;
    uint32_t cap = vq->num > VQ_MIN_INDIRECT_CAP ? vq->num : VQ_MIN_INDIRECT_CAP;

    if (!vq->indirect)
        return WALK_FAIL(w, "chain at head %u: descriptor %u is indirect but INDIRECT_DESC "
                            "was not negotiated", head, slot);
    /* Spec 2.7.5.3.1: a driver MUST NOT set both INDIRECT and NEXT. */
    if (d->flags & VRING_DESC_F_NEXT)
        return WALK_FAIL(w, "chain at head %u: descriptor %u has both INDIRECT and NEXT set",
                         head, slot);
    if (d->len == 0 || d->len % sizeof(struct vring_desc))
        return WALK_FAIL(w, "chain at head %u: indirect table length %u is not a positive "
                            "multiple of 16", head, d->len);
    uint32_t n = d->len / sizeof(struct vring_desc);
    if (n > cap)
        return WALK_FAIL(w, "chain at head %u: indirect table has %u entries, the limit is %u",
                         head, n, cap);

    /* A table spanning two regions is legal (adjacent guest RAM); it takes
     * the slow per-entry path instead of being refused. */
    const uint8_t *table = gm_gpa_to_host(w->t, d->addr, d->len);
    uint32_t i = 0;
    for (uint32_t steps = 1;; steps++) {
        struct vring_desc e;
        uint64_t egpa = d->addr + (uint64_t)i * sizeof(e);
        if (steps > n)
            return WALK_FAIL(w, "chain at head %u: indirect table chain is longer than its %u "
                                "entries (loop)", head, n);
        if (table)
            vq_read_desc(table + (size_t)i * sizeof(e), &e);
        else if (egpa < d->addr || read_indirect_slow(w, egpa, &e) < 0)
            return WALK_FAIL(w, "chain at head %u: indirect table entry %u at 0x%llx is not "
                                "inside guest memory", head, i, (unsigned long long)egpa);
        if (e.flags & VRING_DESC_F_INDIRECT)
            return WALK_FAIL(w, "chain at head %u: indirect table entry %u is itself indirect",
                             head, i);
        if (add_buf(w, &e, "indirect entry", i) < 0)
            return -1;
        if (!(e.flags & VRING_DESC_F_NEXT))
            return 0;
        if (e.next >= n)
            return WALK_FAIL(w, "chain at head %u: indirect entry %u links to %u, beyond the "
                                "table's %u entries", head, i, e.next, n);
        i = e.next;
    }
}

/* A lone direct descriptor with bytes in it (a net frame, an rx buffer),
 * taken without the walk's bookkeeping: that bookkeeping cost 64 B rx 10%
 * (alternating 100 ms phases in one run). d is the head, copied once.
 * false: anything else, or a buffer that does not map simply; the walk
 * then checks it, and names what is wrong. */
static bool take_lone(struct virtq *vq, const struct gm_table *t, struct vq_chain *c,
                      uint16_t head, const struct vring_desc *d)
{
    if ((d->flags & (VRING_DESC_F_NEXT | VRING_DESC_F_INDIRECT)) || d->len == 0)
        return false;
    int n = gm_map_iov_hint(t, &vq->region_hint, d->addr, d->len, c->iov, c->gpa, c->max_iov);
    if (n <= 0)
        return false;
    vq_chain_lone(c, head, n, d->len, (d->flags & VRING_DESC_F_WRITE) && !vq->reads_only);
    return true;
}

static int walk_chain(struct virtq *vq, const struct gm_table *t, struct vq_chain *c,
                      uint16_t head)
{
    struct vring_desc d;
    vq_read_desc(&vq->desc[head], &d);
    if (take_lone(vq, t, c, head, &d))
        return 0;
    struct walk w = {.vq = vq, .t = t, .c = c};
    uint16_t idx = head;

    c->head = head;
    c->n_out = c->n_in = 0;
    for (uint32_t steps = 1;;) {
        c->ndesc = (uint16_t)steps;
        if (d.flags & VRING_DESC_F_INDIRECT) {
            if (walk_indirect(&w, &d, idx) < 0)
                return -1;
            break;
        }
        if (add_buf(&w, &d, "descriptor", idx) < 0)
            return -1;
        if (!(d.flags & VRING_DESC_F_NEXT))
            break;
        if (d.next >= vq->num)
            return WALK_FAIL(&w, "chain at head %u: descriptor %u links to %u, beyond the ring "
                                 "size %u", head, idx, d.next, vq->num);
        idx = d.next;
        if (++steps > vq->num)
            return WALK_FAIL(&w, "chain at head %u is longer than the ring size %u (loop)", head,
                             vq->num);
        vq_read_desc(&vq->desc[idx], &d);
    }
    c->out_len = (uint32_t)w.out_len;
    c->in_len = (uint32_t)w.in_len;
    return 0;
}

/* Copies the published avail entries after the ones already held, up to
 * VQ_HEADS past last_avail. A copy that does not cover last_avail (the
 * position moved under it: inflight recovery) starts over. */
static void copy_heads(struct virtq *vq)
{
    uint16_t held = (uint16_t)(vq->heads_end - vq->last_avail);
    if (held > VQ_HEADS)
        held = 0;
    uint16_t pos = (uint16_t)(vq->last_avail + held);
    uint16_t room = (uint16_t)(VQ_HEADS - held);
    uint16_t more = (uint16_t)(vq->avail_seen - pos);
    if (more > room)
        more = room;
    for (uint16_t i = 0; i < more; i++, pos++)
        vq->heads[pos & (VQ_HEADS - 1)] = vq_rd16(&vq->avail->ring[vq_slot(vq, pos)]);
    vq->heads_end = pos;
}

static inline uint16_t held_head(const struct virtq *vq, uint16_t pos)
{
    return vq->heads[pos & (VQ_HEADS - 1)];
}

/* The driver wrote these descriptors on another CPU: start fetching the
 * first ones of the new batch now (and, in vq_pop, one VQ_PREFETCH entries
 * ahead of each chain taken) so their cache misses overlap instead of
 * being paid one chain at a time. Heads are not trusted here (prefetch
 * cannot fault; the index is masked); walk_chain checks them. */
static void prefetch_heads(const struct virtq *vq, uint16_t n)
{
    if (n > VQ_PREFETCH)
        n = VQ_PREFETCH;
    for (uint16_t i = 0; i < n; i++) {
        uint16_t head = held_head(vq, (uint16_t)(vq->last_avail + i));
        sc_prefetch(&vq->desc[head & (vq->num - 1)]);
        /* Drivers chain neighbours (a block request is three descriptors):
         * the rest of the chain may start the next line. */
        sc_prefetch(&vq->desc[(head + 2) & (vq->num - 1)]);
    }
}

/* Second stage: by now the descriptor of that entry is (being) cached; when
 * it names an indirect table, start fetching the table too (drivers such as
 * Linux's virtio-blk put every multi-buffer request in one). */
static void prefetch_indirect(const struct virtq *vq, const struct gm_table *t, uint16_t pos)
{
    const struct vring_desc *d = &vq->desc[held_head(vq, pos) & (vq->num - 1)];
    if (!(d->flags & VRING_DESC_F_INDIRECT))
        return;
    const void *table = gm_gpa_to_host(t, d->addr, sizeof(struct vring_desc));
    if (table)
        sc_prefetch(table);
}

int vq_pop(struct virtq *vq, struct vq_chain *c)
{
    if (SC_UNLIKELY(vq->ext))
        return vq_pop_ext(vq, c);
    return vq_pop_split(vq, c);
}

int vq_pop_split(struct virtq *vq, struct vq_chain *c)
{
    if (SC_UNLIKELY(vq->err != NULL))
        return -1;
    const struct gm_table *t = gm_current(vq->gm);

    if (SC_UNLIKELY(vq->resubmit_pos < vq->n_resubmit)) {
        /* Already marked inflight with its original counter, and its avail
         * entry was consumed by the previous backend. */
        if (walk_chain(vq, t, c, vq->resubmit[vq->resubmit_pos].head) < 0)
            return -1;
        vq->resubmit_pos++;
        return 1;
    }

    uint16_t pending = (uint16_t)(vq->avail_seen - vq->last_avail);
    bool fresh = false;
    if (pending == 0 || pending > vq->num) {
        if (vq->settle_left) {
            vq->settle_left--;
            return 0;
        }
        uint16_t avail_idx = __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE);
        pending = (uint16_t)(avail_idx - vq->last_avail);
        if (pending == 0)
            return 0;
        if (SC_UNLIKELY(pending > vq->num)) {
            vq_fail(vq, "avail idx %u is %u entries ahead of the last consumed index %u, more "
                        "than the ring size %u", avail_idx, pending, vq->last_avail, vq->num);
            return -1;
        }
        vq->avail_seen = avail_idx;
        fresh = true;
        if (vq->settle_on && pending > 2 && pending < VQ_PREFETCH)
            vq->settle_left = VQ_SETTLE_POLLS;
    }
    uint16_t held = (uint16_t)(vq->heads_end - vq->last_avail);
    if (held > VQ_HEADS || (held <= VQ_PREFETCH && held < pending)) {
        copy_heads(vq);
        held = (uint16_t)(vq->heads_end - vq->last_avail);
    }
    if (fresh) {
        prefetch_heads(vq, held);
        for (uint16_t i = 0; i < held && i < VQ_PREFETCH / 2; i++)
            prefetch_indirect(vq, t, (uint16_t)(vq->last_avail + i));
    }
    if (held > VQ_PREFETCH) {
        uint16_t ahead = held_head(vq, (uint16_t)(vq->last_avail + VQ_PREFETCH));
        sc_prefetch(&vq->desc[ahead & (vq->num - 1)]);
        sc_prefetch(&vq->desc[(ahead + 2) & (vq->num - 1)]);
    }
    if (held > VQ_PREFETCH / 2)
        prefetch_indirect(vq, t, (uint16_t)(vq->last_avail + VQ_PREFETCH / 2));
    uint16_t head = held_head(vq, vq->last_avail);
    if (SC_UNLIKELY(head >= vq->num)) {
        vq_fail(vq, "avail ring entry %u names head %u, beyond the ring size %u",
                vq_slot(vq, vq->last_avail), head, vq->num);
        return -1;
    }
    if (walk_chain(vq, t, c, head) < 0)
        return -1;
    if (vq->inflight) {
        struct vq_inflight_desc *f = &vq->inflight->desc[head];
        f->counter = ++vq->inflight_counter;
        __atomic_store_n(&f->inflight, 1, __ATOMIC_RELEASE);
    }
    vq->last_avail++;
    return 1;
}

void vq_set_settle(struct virtq *vq, bool on)
{
    vq->settle_on = on && !vq->packed;
    vq->settle_left = 0;
}

bool vq_has_work(const struct virtq *vq)
{
    if (SC_UNLIKELY(vq->packed))
        return vq_has_work_packed(vq);
    if (vq->resubmit_pos < vq->n_resubmit)
        return true;
    return __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE) != vq->last_avail;
}
