/* libFuzzer harness: virtio-blk request parsing (blk_req.c handle(), GET_ID,
 * DISCARD/WRITE_ZEROES segments, status byte placement) on a split ring in
 * fuzzer guest memory (two regions, separate heap buffers). A blk device over
 * the null backend (1 MiB) is created per input; its queue is detached from
 * the sidecore after start and polled here.
 * Input: [0] flags (1 indirect, 2 event_idx, 4 read_only) [1] ring size sel
 * [2..3] split point [4..5] L, then L bytes of guest memory (rings at 0). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "dev/blk_int.h"
#include "mem/guestmem.h"
#include "virtq/virtq.h"
#include "fuzz_common.h"

static struct sc_set *scs;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    scs = fuzz_sidecores();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 6)
        return 0;
    uint8_t fl = data[0];
    uint16_t num = (uint16_t)(1u << (data[1] % 6)); /* 1..32 */
    uint16_t splitsel = (uint16_t)(data[2] | (data[3] << 8));
    size_t L = (size_t)(data[4] | (data[5] << 8));
    data += 6, size -= 6;
    uint64_t avail_off = 16ull * num;
    uint64_t used_off = (avail_off + 6 + 2ull * num + 3) & ~3ull;
    uint64_t ring_end = used_off + 6 + 8ull * num;
    if (L < ring_end) L = ring_end;
    if (L > 16384) L = 16384;
    size_t s0 = ring_end + (L > ring_end ? splitsel % (L - ring_end + 1) : 0);
    size_t s1 = L - s0;
    uint8_t *r0 = calloc(1, s0), *r1 = s1 ? calloc(1, s1) : NULL;
    size_t take = size < L ? size : L;
    memcpy(r0, data, take < s0 ? take : s0);
    if (take > s0)
        memcpy(r1, data + s0, take - s0);
    /* used->idx is the device's; start it where avail consumption starts */
    memset(r0 + used_off, 0, 4);

    struct guestmem gm;
    gm_init(&gm);
    struct gm_table *t = calloc(1, sizeof(*t));
    t->bus = &gm.bus;
    t->n = 1;
    t->r[0] = (struct gm_region){.gpa = 0, .size = s0, .host = r0, .fd = -1};
    if (s1) {
        t->n = 2;
        t->r[1] = (struct gm_region){.gpa = s0, .size = s1, .host = r1, .fd = -1};
    }
    struct gm_table *old = gm_publish(&gm, t);

    const char *why = "";
    struct blk_backend *be = blk_null_create(1 << 20, 512, &why);
    struct blk_dev_params bp = {.name = "fz", .num_queues = 1, .read_only = fl & 4,
                                .serial = "serial-0123456789abc"};
    struct vdev *v = blk_dev_create(&bp, be, scs, &why);
    if (!v) { fprintf(stderr, "blk: %s\n", why); abort(); }
    uint64_t feat = 0;
    if (fl & 1) feat |= 1ull << VIRTIO_RING_F_INDIRECT_DESC;
    if (fl & 2) feat |= 1ull << VIRTIO_RING_F_EVENT_IDX;
    static struct virtq vq;
    vq_init(&vq, num, r0, r0 + avail_off, r0 + used_off, 0, feat, &gm);
    struct blk_dev *d = (struct blk_dev *)v;
    if (v->ops->queue_start(v, 0, &vq, -1, -1) == 0) {
        struct blk_queue *q = d->q[0];
        sc_detach(&q->scq);
        for (int i = 0; i < 40; i++)
            blk_queue_poll(&q->scq);
        sc_attach(scs, &q->scq);
        v->ops->queue_stop(v, 0);
    }
    v->ops->destroy(v);
    gm_table_free(gm_publish(&gm, old), false);
    gm_table_free(gm_publish(&gm, NULL), false);
    free(r0);
    free(r1);
    return 0;
}
