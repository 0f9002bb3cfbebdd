/* The packed ring's crash record (struct vq_resume in virtq.h): resuming
 * from it at a start, and forgetting it when the frontend learns the
 * ring's position (GET_VRING_BASE).
 *
 * Layout: the header, then the queue's used shadow (what vq_push_packed
 * records and vq_publish_packed writes to the ring), so the record holds a
 * publication's used descriptors at no cost of its own. vq_publish_packed
 * stores pub_n and used before it writes the ring and old_used after.
 *
 * After a crash, used != old_used means a publication was under way. While
 * its first slot still holds the driver's descriptor, available in that
 * lap, the driver has seen none of it (the first used descriptor is written
 * last), and some of its other used descriptors may be in the ring already:
 * it is written again from the shadow, whole, before the ring is handed on.
 * Anything else in that slot means the publication reached the driver: our
 * used descriptor, or, once the driver took it, a buffer the driver offered
 * there in the next lap (an rx driver refills at once), which must not be
 * overwritten. Either way the ring resumes after it.
 *
 * Deciding that a record speaks for the ring the frontend hands over: the
 * same descriptor ring address, size and start base (a frontend that lost
 * its backend resends the base it gave last), and a ring that has been used
 * since. The last test tells a reconnect from a driver that reset the
 * device while no backend ran and set the ring up again at the same place
 * (a guest reboot does): until a device marks a descriptor used, a ring
 * holds nothing but zeros and descriptors available in the first wrap, so
 * no slot carries the USED flag (a driver must clear the ring when it sets
 * it up: stale descriptors would look available to a device starting at
 * the first wrap); a device that has moved the ring leaves
 * one in every slot it used in a wrap-1 lap, and the driver sets it on
 * every slot it offers in a wrap-0 lap. */
#include <stdlib.h>

#include "../common/log.h"
#include "virtq_internal.h"

#define HEADER_BYTES 64u

_Static_assert(sizeof(struct vq_resume) == HEADER_BYTES, "vq_resume header");

uint64_t vq_resume_bytes_for(uint32_t num)
{
    uint64_t b = HEADER_BYTES + (uint64_t)num * sizeof(struct vq_used_shadow);
    return (b + 4095) & ~4095ull;
}

uint64_t vq_resume_bytes(void)
{
    return vq_resume_bytes_for(VIRTQ_MAX_SIZE);
}

static struct vq_used_shadow *record_shadow(struct vq_resume *r)
{
    return (struct vq_used_shadow *)((char *)r + HEADER_BYTES);
}

static bool ring_used_since_reset(const struct virtq *vq)
{
    for (uint16_t i = 0; i < vq->num; i++)
        if (__atomic_load_n(&vq->pdesc[i].flags, __ATOMIC_RELAXED) & VRING_PACKED_DESC_F_USED)
            return true;
    return false;
}

/* The publication under way spans exactly [old_used, used) in buffers the
 * ring can hold: else the record is not ours to trust. */
static bool publication_fits(const struct virtq *vq, const struct vq_resume *r)
{
    const struct vq_used_shadow *sh = record_shadow((struct vq_resume *)r);
    if (r->pub_n == 0 || r->pub_n > vq->num || vring_packed_idx(r->used) >= vq->num)
        return false;
    uint32_t total = 0;
    for (uint16_t i = 0; i < r->pub_n; i++) {
        if (sh[i].ndesc == 0 || sh[i].id >= vq->num)
            return false;
        total += sh[i].ndesc;
    }
    return total <= vq->num && vring_packed_advance(r->old_used, total, vq->num) == r->used;
}

/* Where the crashed backend's publications end, finishing the one it was
 * in (vq->shadow is the record's by now); false, with nothing changed,
 * when the record does not hold together. */
static bool recorded_position(struct virtq *vq, const struct vq_resume *r, uint16_t *pos)
{
    uint16_t old = r->old_used;
    if (vring_packed_idx(old) >= vq->num)
        return false;
    *pos = old;
    if (r->used == old)
        return true;
    if (!publication_fits(vq, r))
        return false;
    uint16_t flags = __atomic_load_n(&vq->pdesc[vring_packed_idx(old)].flags, __ATOMIC_ACQUIRE);
    if (vring_packed_is_avail(flags, vring_packed_wrap(old))) {
        vq->n_shadow = r->pub_n;
        vq->pub_used = old;
        vq->used_idx = r->used;
        vq_publish_packed(vq);
    }
    *pos = r->used;
    return true;
}

bool vq_resume_start(struct virtq *vq, struct vq_resume *r, uint64_t ring,
                     uint16_t frontend_base)
{
    vq->resume = NULL;
    if (!vq->packed || vq->pinf || vq->err || !r || vq->n_shadow)
        return false;
    if (!vq->shadow_in_record) {
        free(vq->shadow);
        vq->shadow = record_shadow(r);
        vq->shadow_in_record = true;
    }
    bool resumed = false;
    uint16_t base = vq->used_idx, pos;
    if (r->magic == VQ_RESUME_MAGIC && r->num == vq->num && r->ring == ring &&
        r->start == frontend_base && vq->last_avail == base && ring_used_since_reset(vq)) {
        if (!recorded_position(vq, r, &pos)) {
            LOG_WARN("virtq", "packed ring of %u: the crash record left by the previous backend "
                              "does not hold together; starting at the frontend's base %u wrap %u",
                     vq->num, vring_packed_idx(base), vring_packed_wrap(base));
        } else if (pos != base) {
            /* Buffers the crashed backend took and never returned are taken again. */
            vq->last_avail = vq->used_idx = vq->pub_used = vq->signalled_used = pos;
            resumed = true;
        }
    }
    r->magic = 0;
    in_order_stores();
    r->num = vq->num;
    r->ring = ring;
    r->start = frontend_base;
    r->pub_n = 0;
    r->used = r->old_used = vq->used_idx;
    in_order_stores();
    r->magic = VQ_RESUME_MAGIC;
    vq->resume = r;
    return resumed;
}

void vq_resume_stop(struct virtq *vq) { vq->resume = NULL; }

void vq_resume_forget(struct vq_resume *r)
{
    if (r)
        r->magic = 0;
}
