/* Attaching an inflight area (vhost-user "Inflight I/O tracking", split
 * rings) and recovering the requests a previous backend left in flight.
 * Control path: allocation and sorting are fine here. */
#include <stdlib.h>

#include "../common/log.h"
#include "virtq_internal.h"

#define VQ_INFLIGHT_VERSION 1

struct pending {
    uint64_t counter;
    uint16_t head;
};

static int by_counter(const void *a, const void *b)
{
    const struct pending *x = a, *y = b;
    return x->counter < y->counter ? -1 : x->counter > y->counter;
}

void vq_fini(struct virtq *vq)
{
    vq_fini_ext(vq);
    free(vq->resubmit);
    vq->resubmit = NULL;
    vq->n_resubmit = vq->resubmit_pos = 0;
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

int vq_set_inflight(struct virtq *vq, struct vq_inflight *inf)
{
    if (vq->packed) {
        /* The area's packed layout is not implemented: run without it rather
         * than misread it; only crash recovery of this ring is lost. */
        LOG_WARN("virtq", "inflight tracking is not supported on packed rings; requests in "
                          "flight at a backend crash will not be resubmitted");
        return 0;
    }
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
    uint64_t max_counter = 0;
    for (uint32_t i = 0; i < vq->num; i++)
        n += inf->desc[i].inflight != 0;
    struct pending *p = n ? malloc(n * sizeof(*p)) : NULL;
    uint16_t *heads = n ? malloc(n * sizeof(*heads)) : NULL;
    if (n && (!p || !heads)) {
        free(p);
        free(heads);
        vq_fail(vq, "out of memory collecting %u inflight requests", n);
        return -1;
    }
    uint32_t k = 0;
    for (uint32_t i = 0; i < vq->num && k < n; i++) {
        if (!inf->desc[i].inflight)
            continue;
        p[k++] = (struct pending){.counter = inf->desc[i].counter, .head = (uint16_t)i};
        if (inf->desc[i].counter > max_counter)
            max_counter = inf->desc[i].counter;
    }
    n = k;
    if (n)
        qsort(p, n, sizeof(*p), by_counter);
    for (uint32_t i = 0; i < n; i++)
        heads[i] = p[i].head;
    free(p);

    vq_fini(vq);
    vq->inflight = inf;
    vq->inflight_counter = max_counter;
    if (!n)
        return 0; /* nothing to recover: base is right, as without an area */
    /* After a backend crash the frontend's base is only its view of the used
     * index; every avail entry the previous backend consumed is either in
     * the used ring or still in flight. */
    vq->resubmit = heads;
    vq->n_resubmit = (uint16_t)n;
    vq->used_idx = vq->pub_used = vq->signalled_used = used_idx;
    vq->last_avail = (uint16_t)(used_idx + n);
    LOG_INFO("virtq", "resubmitting %u request(s) left in flight by a previous backend", n);
    return 0;
}
