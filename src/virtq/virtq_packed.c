/* Packed-ring chain walk (vq_pop for VIRTIO_F_RING_PACKED) with the same
 * checks as the split ring: the buffer id (carried by the chain's last
 * descriptor) must be below the ring size and not outstanding; a chain may
 * not be longer than the ring; an indirect descriptor must stand alone (no
 * NEXT, not inside a chain), its table a positive multiple of 16 bytes,
 * inside guest memory, not nested and at most max(ring size, 1024) entries;
 * every buffer must lie inside guest memory (spanning regions: several
 * iovecs), the total length stays below VQ_MAX_CHAIN_BYTES and
 * device-readable buffers precede device-writable ones.
 *
 * A descriptor is available when its AVAIL flag matches the wrap counter we
 * expect at that position and its USED flag does not (spec "Driver and
 * Device Ring Wrap Counters"); the head's flags are read with acquire, which
 * makes the rest of the chain visible (the driver publishes the head last). */
#include <errno.h>

#include "../common/util.h"
#include "virtq_internal.h"

#define VQ_MIN_INDIRECT_CAP 1024u /* as split: Linux sizes tables by seg_max */

struct pwalk {
    struct virtq *vq;
    const struct gm_table *t;
    struct vq_chain *c;
    uint64_t out_len, in_len;
    uint16_t niov;
    bool seen_in;
    const char *what; /* "buffer at ring position", or where a resubmitted one lives */
    uint16_t at;      /* the chain's first descriptor there, for messages */
};

#define PFAIL(w, ...) (vq_fail((w)->vq, __VA_ARGS__), -1)

static void read_pdesc(const void *src, struct vring_packed_desc *d)
{
    memcpy(d, src, sizeof(*d));
    __asm__ volatile("" ::: "memory"); /* copied once: never re-read from the guest */
}

static int add_buf(struct pwalk *w, uint64_t addr, uint32_t len, bool in, const char *where,
                   unsigned pos)
{
    struct vq_chain *c = w->c;

    in = in && !w->vq->reads_only;
    if (!in && w->seen_in)
        return PFAIL(w, "%s %u: device-readable %s %u follows a "
                        "device-writable one", w->what, w->at, where, pos);
    w->seen_in |= in;
    *(in ? &w->in_len : &w->out_len) += len;
    if (w->in_len + w->out_len >= VQ_MAX_CHAIN_BYTES)
        return PFAIL(w, "%s %u is 4 GiB or longer", w->what, w->at);
    if (len == 0)
        return 0;
    uint64_t last;
    if (__builtin_add_overflow(addr, (uint64_t)len - 1, &last))
        return PFAIL(w, "%s %u: %s %u [0x%llx, +%u) wraps around 2^64",
                     w->what, w->at, where, pos, (unsigned long long)addr, len);
    int n = gm_map_iov_hint(w->t, &w->vq->region_hint, addr, len, c->iov + w->niov,
                            c->gpa ? c->gpa + w->niov : NULL, c->max_iov - w->niov);
    if (n == -ENOBUFS)
        return PFAIL(w, "%s %u needs more than %u segments", w->what, w->at,
                     c->max_iov);
    if (n < 0)
        return PFAIL(w, "%s %u: %s %u [0x%llx, +%u) is not inside guest "
                        "memory", w->what, w->at, where, pos, (unsigned long long)addr, len);
    w->niov += (uint16_t)n;
    if (in)
        c->n_in += (uint16_t)n;
    else
        c->n_out += (uint16_t)n;
    return 0;
}

/* Entry i of a table that is not one contiguous host piece. */
static int read_entry_slow(const struct gm_table *t, uint64_t gpa, struct vring_packed_desc *e)
{
    struct iovec iov[2];
    int n = gm_map_iov(t, gpa, sizeof(*e), iov, NULL, 2);
    if (n < 0)
        return -1;
    uint8_t buf[sizeof(*e)];
    memcpy(buf, iov[0].iov_base, iov[0].iov_len);
    if (n == 2)
        memcpy(buf + iov[0].iov_len, iov[1].iov_base, iov[1].iov_len);
    read_pdesc(buf, e);
    return 0;
}

/* Packed indirect tables are walked in order, all len / 16 entries: there
 * is no NEXT chaining inside them; WRITE is their only meaningful flag. */
static int walk_indirect(struct pwalk *w, const struct vring_packed_desc *d)
{
    struct virtq *vq = w->vq;
    uint32_t cap = vq->num > VQ_MIN_INDIRECT_CAP ? vq->num : VQ_MIN_INDIRECT_CAP;

    if (!vq->indirect)
        return PFAIL(w, "%s %u is indirect but INDIRECT_DESC was not "
                        "negotiated", w->what, w->at);
    if (d->flags & VRING_DESC_F_NEXT)
        return PFAIL(w, "%s %u: indirect descriptor has NEXT set", w->what, w->at);
    if (d->len == 0 || d->len % sizeof(*d))
        return PFAIL(w, "%s %u: indirect table length %u is not a positive "
                        "multiple of 16", w->what, w->at, d->len);
    uint32_t n = d->len / sizeof(*d);
    if (n > cap)
        return PFAIL(w, "%s %u: indirect table has %u entries, the limit "
                        "is %u", w->what, w->at, n, cap);
    const uint8_t *table = gm_gpa_to_host(w->t, d->addr, d->len);
    for (uint32_t i = 0; i < n; i++) {
        struct vring_packed_desc e;
        uint64_t egpa = d->addr + (uint64_t)i * sizeof(e);
        if (table)
            read_pdesc(table + (size_t)i * sizeof(e), &e);
        else if (egpa < d->addr || read_entry_slow(w->t, egpa, &e) < 0)
            return PFAIL(w, "%s %u: indirect entry %u at 0x%llx is not "
                            "inside guest memory", w->what, w->at, i, (unsigned long long)egpa);
        if (e.flags & VRING_DESC_F_INDIRECT)
            return PFAIL(w, "%s %u: indirect entry %u is itself indirect",
                         w->what, w->at, i);
        if (add_buf(w, e.addr, e.len, e.flags & VRING_DESC_F_WRITE, "indirect entry", i) < 0)
            return -1;
    }
    return 0;
}

/* One descriptor of a chain; steps counts it (1: the chain's first). */
static int walk_one(struct pwalk *w, const struct vring_packed_desc *d, uint32_t steps,
                    uint16_t pos)
{
    if (d->flags & VRING_DESC_F_INDIRECT) {
        if (steps > 1)
            return PFAIL(w, "%s %u: descriptor %u is indirect inside a chain", w->what, w->at,
                         pos);
        return walk_indirect(w, d);
    }
    return add_buf(w, d->addr, d->len, d->flags & VRING_DESC_F_WRITE, "descriptor", pos);
}

/* Buffer id (below the ring size, free) becomes outstanding. */
static void take_id(struct virtq *vq, uint16_t id, uint16_t ndesc, bool has_in)
{
    struct vq_id_state *s = &vq->ids[id];
    s->outstanding = true;
    s->ndesc = ndesc;
    s->has_in = has_in;
}

/* The whole chain checked out: its buffer id becomes outstanding. */
static int claim(struct pwalk *w, uint16_t id, uint32_t steps)
{
    struct virtq *vq = w->vq;
    struct vq_chain *c = w->c;
    if (id >= vq->num)
        return PFAIL(w, "%s %u has id %u, beyond the ring size %u", w->what, w->at, id, vq->num);
    if (vq->ids[id].outstanding)
        return PFAIL(w, "%s %u has id %u, which is still outstanding", w->what, w->at, id);
    take_id(vq, id, (uint16_t)steps, w->in_len != 0);
    c->head = id;
    c->ndesc = (uint16_t)steps;
    c->out_len = (uint32_t)w->out_len;
    c->in_len = (uint32_t)w->in_len;
    return 0;
}

/* A buffer a previous backend left in flight, walked from its copies in
 * the inflight area; the links and the count are our own, checked when
 * the area was attached. */
static int pop_resubmitted(struct virtq *vq, struct vq_chain *c)
{
    struct vq_resubmit r = vq->resubmit[vq->resubmit_pos];
    struct pwalk w = {.vq = vq, .t = gm_current(vq->gm), .c = c, .at = r.head,
                      .what = "resubmitted buffer in inflight entry"};
    uint16_t e = r.head, last = r.head, id = 0;
    c->n_out = c->n_in = 0;
    for (uint32_t steps = 1; steps <= r.ndesc; steps++) {
        const struct vq_inflight_pdesc *s = &vq->pinf->desc[e];
        struct vring_packed_desc d = {.addr = s->addr, .len = s->len, .id = s->id,
                                      .flags = s->flags};
        __asm__ volatile("" ::: "memory"); /* copied once: never re-read */
        if (walk_one(&w, &d, steps, e) < 0)
            return -1;
        id = d.id;
        last = e;
        e = vq->pinf_next[e];
    }
    if (claim(&w, id, r.ndesc) < 0)
        return -1;
    vq->ids[id].inf_head = r.head;
    vq->ids[id].inf_last = last;
    vq->resubmit_pos++;
    return 1;
}

/* A lone direct descriptor with bytes in it whose id is free, taken without
 * the walk's bookkeeping: that bookkeeping cost 64 B rx 14% (alternating
 * 100 ms phases in one run). Not with an inflight area (the walk copies
 * descriptors there). false: anything else; the walk then reads the
 * descriptor again and checks, and names, what is wrong. flags is the head's
 * value that said "available". */
static bool take_lone(struct virtq *vq, struct vq_chain *c, uint16_t idx, uint16_t flags)
{
    if ((flags & (VRING_DESC_F_NEXT | VRING_DESC_F_INDIRECT)) || vq->pinf)
        return false;
    struct vring_packed_desc d;
    read_pdesc(&vq->pdesc[idx], &d);
    if (d.id >= vq->num || d.len == 0 || vq->ids[d.id].outstanding)
        return false;
    int n = gm_map_iov_hint(gm_current(vq->gm), &vq->region_hint, d.addr, d.len, c->iov,
                            c->gpa, c->max_iov);
    if (n <= 0)
        return false;
    bool in = (flags & VRING_DESC_F_WRITE) && !vq->reads_only;
    vq_chain_lone(c, d.id, n, d.len, in);
    take_id(vq, d.id, 1, in);
    return true;
}

int vq_pop_packed(struct virtq *vq, struct vq_chain *c)
{
    if (SC_UNLIKELY(vq->err != NULL))
        return -1;
    if (SC_UNLIKELY(vq->resubmit_pos < vq->n_resubmit))
        return pop_resubmitted(vq, c);
    uint16_t start = vq->last_avail;
    uint16_t idx = vring_packed_idx(start);
    uint16_t head_flags = __atomic_load_n(&vq->pdesc[idx].flags, __ATOMIC_ACQUIRE);
    if (!vring_packed_is_avail(head_flags, vring_packed_wrap(start)))
        return 0;
    if (take_lone(vq, c, idx, head_flags)) {
        vq->last_avail = vring_packed_advance(start, 1, vq->num);
        return 1;
    }

    struct pwalk w = {.vq = vq, .t = gm_current(vq->gm), .c = c, .at = idx,
                      .what = "buffer at ring position"};
    uint32_t steps = 0;
    uint16_t id = 0, ent = vq->pinf_free, last_ent = 0;
    c->n_out = c->n_in = 0;
    for (;;) {
        struct vring_packed_desc d;
        read_pdesc(&vq->pdesc[idx], &d);
        if (steps == 0)
            d.flags = head_flags; /* the value that said "available" */
        steps++;
        if (walk_one(&w, &d, steps, idx) < 0)
            return -1;
        if (vq->pinf && !vq_pinf_copy(vq, &ent, &last_ent, &d))
            return PFAIL(&w, "%s %u: the inflight area has no free entry left", w.what, w.at);
        id = d.id;
        if (!(d.flags & VRING_DESC_F_NEXT))
            break;
        if (steps >= vq->num)
            return PFAIL(&w, "%s %u: chain is longer than the ring size %u", w.what, w.at,
                         vq->num);
        if (++idx == vq->num)
            idx = 0;
    }
    if (claim(&w, id, steps) < 0)
        return -1;
    if (vq->pinf)
        vq_pinf_commit(vq, id, last_ent, (uint16_t)steps, ent);
    vq->last_avail = vring_packed_advance(start, steps, vq->num);
    return 1;
}

bool vq_has_work_packed(const struct virtq *vq)
{
    if (vq->resubmit_pos < vq->n_resubmit)
        return true;
    uint16_t pw = vq->last_avail;
    uint16_t flags = __atomic_load_n(&vq->pdesc[vring_packed_idx(pw)].flags, __ATOMIC_ACQUIRE);
    return vring_packed_is_avail(flags, vring_packed_wrap(pw));
}
