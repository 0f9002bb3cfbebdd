/* Attaching an inflight area (vhost-user "Inflight I/O tracking") and, for
 * split rings, recovering the requests a previous backend left in flight
 * (packed rings: virtq_packed_inflight.c). Control path: allocation and
 * sorting are fine here. */
#include <stdlib.h>

#include "../common/log.h"
#include "virtq_internal.h"

static int by_counter(const void *a, const void *b)
{
    const struct vq_pending *x = a, *y = b;
    return x->counter < y->counter ? -1 : x->counter > y->counter;
}

int vq_take_resubmit(struct virtq *vq, struct vq_pending *p, uint32_t n)
{
    struct vq_resubmit *r = n ? malloc(n * sizeof(*r)) : NULL;
    if (n && !r) {
        free(p);
        vq_fail(vq, "out of memory collecting %u inflight requests", n);
        return -1;
    }
    uint64_t max_counter = 0;
    if (n)
        qsort(p, n, sizeof(*p), by_counter);
    for (uint32_t i = 0; i < n; i++) {
        r[i] = p[i].r;
        if (p[i].counter > max_counter)
            max_counter = p[i].counter;
    }
    free(p);
    free(vq->resubmit);
    vq->resubmit = r;
    vq->n_resubmit = (uint16_t)n;
    vq->resubmit_pos = 0;
    vq->inflight_counter = max_counter;
    return 0;
}

static void drop_resubmit(struct virtq *vq)
{
    free(vq->resubmit);
    vq->resubmit = NULL;
    vq->n_resubmit = vq->resubmit_pos = 0;
}

void vq_fini(struct virtq *vq)
{
    vq_fini_ext(vq);
    drop_resubmit(vq);
    free(vq->pinf_next);
    vq->pinf_next = NULL;
    vq->pinf = NULL;
}

/* Heads published in used->ring[inf->used_idx .. used_idx) completed, but a
 * crash came before their marks were cleared (see vq_publish). */
static void repair_last_batch(struct virtq *vq, struct vq_inflight *inf, uint16_t used_idx)
{
    uint16_t behind = (uint16_t)(used_idx - inf->used_idx);
    if (behind > vq->num) {
        /* Not something a backend leaves behind; recovering from it could
         * only guess, so resubmit whatever is marked. */
        LOG_WARN("virtq", "inflight area used_idx %u is %u behind the ring's used idx %u "
                          "(ring size %u); not repairing its last batch",
                 inf->used_idx, behind, used_idx, vq->num);
    } else {
        for (uint16_t k = inf->used_idx; k != used_idx; k++) {
            uint32_t id = vq->used->ring[vq_slot(vq, k)].id;
            if (id < vq->num)
                inf->desc[id].inflight = 0;
        }
    }
    inf->used_idx = used_idx;
}

static int set_inflight_split(struct virtq *vq, struct vq_inflight *inf)
{
    uint16_t used_idx = vq_rd16(&vq->used->idx);
    if (inf->version == 0) {
        /* Fresh area (zero-filled by GET_INFLIGHT_FD): nothing to recover. */
        memset(inf->desc, 0, (size_t)vq->num * sizeof(inf->desc[0]));
        inf->desc_num = vq->num;
        inf->used_idx = used_idx;
        inf->last_batch_head = 0;
        inf->version = VQ_INFLIGHT_VERSION;
        vq->inflight = inf;
        return 0;
    }
    if (inf->version != VQ_INFLIGHT_VERSION) {
        vq_fail(vq, "inflight area has version %u, only %u is known", inf->version,
                VQ_INFLIGHT_VERSION);
        return -1;
    }
    if (inf->desc_num != vq->num) {
        vq_fail(vq, "inflight area tracks %u descriptors, the ring has %u", inf->desc_num,
                vq->num);
        return -1;
    }
    if (inf->used_idx != used_idx)
        repair_last_batch(vq, inf, used_idx);

    uint32_t n = 0;
    for (uint32_t i = 0; i < vq->num; i++)
        n += inf->desc[i].inflight != 0;
    struct vq_pending *p = n ? malloc(n * sizeof(*p)) : NULL;
    if (n && !p) {
        vq_fail(vq, "out of memory collecting %u inflight requests", n);
        return -1;
    }
    uint32_t k = 0;
    for (uint32_t i = 0; i < vq->num && k < n; i++)
        if (inf->desc[i].inflight)
            p[k++] = (struct vq_pending){.counter = inf->desc[i].counter,
                                         .r = {.head = (uint16_t)i, .ndesc = 1}};
    n = k;
    /* Replaces only the resubmit list: an IN_ORDER queue keeps its per-id state. */
    if (vq_take_resubmit(vq, p, n) < 0)
        return -1;
    vq->inflight = inf;
    if (!n)
        return 0; /* nothing to recover: base is right, as without an area */
    /* After a backend crash the frontend's base is only its view of the used
     * index; every avail entry the previous backend consumed is either in
     * the used ring or still in flight. */
    vq->used_idx = vq->pub_used = vq->used_written = vq->signalled_used = used_idx;
    vq->last_avail = (uint16_t)(used_idx + n);
    LOG_INFO("virtq", "resubmitting %u request(s) left in flight by a previous backend", n);
    return 0;
}

int vq_set_inflight(struct virtq *vq, void *area, uint64_t bytes)
{
    if (vq->err)
        return -1;
    if (vq->packed)
        return vq_set_inflight_packed(vq, area, bytes);
    if (bytes < vq_inflight_split_bytes(vq->num)) {
        vq_fail(vq, "inflight area of %llu bytes is too small for %u descriptors",
                (unsigned long long)bytes, vq->num);
        return -1;
    }
    return set_inflight_split(vq, area);
}
