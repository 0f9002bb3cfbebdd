/* libFuzzer harness: the virtio-net device's own queues (net_tx.c, net_rx.c,
 * net_ctrl.c, net_steer.c) driven from hostile rings. Two net devices A and
 * B are linked as peers: what A transmits B receives and the other way
 * round. A has one or two queue pairs and maybe a control queue, B one pair.
 * Every ring lies in guest memory built from fuzzer bytes, two adjacent
 * regions in two heap buffers (ASan sees any access outside them). The
 * queues are detached from the sidecore once started (their rings still
 * zero, so the attach-time poll finds nothing) and polled here in the order
 * the input says. With a dirty log, every guest byte a device operation
 * changed must be marked in it (migration would lose it otherwise). With
 * VPRI, A's frontend (a heap PA-BITMAP and channel: ASan checks them too)
 * starts with every page resident; ops take pages away, resolve faults and
 * write its consumer index, as a hostile frontend could.
 * Input:
 *   [0] A: 1 packed, 2 IN_ORDER, 4 indirect, 8 EVENT_IDX, 16 MRG_RXBUF,
 *          32 offloads (CSUM, HOST_TSO*, GUEST_*), 64 MQ (2 pairs), 128 CTRL
 *   [1] ring size selector; 128: VPRI for A
 *   [2] B: 1 MRG_RXBUF, 2 GUEST_CSUM, 4 GUEST_TSO4/6, 8 VERSION_1,
 *          16 CSUM + HOST_TSO*, 32 dirty log, 64 A without VERSION_1,
 *          128 A without CTRL_RX
 *   [3] packed ring start position selector
 *   [4..5] split point of guest memory, [6..7] its length L
 *   then L bytes of guest memory (the rings at its start, in queue order
 *   A rx0 tx0 rx1 tx1 ctrl, B rx0 tx0), then ops of 5 bytes
 *   [op][a0 a1][b0 b1]: see run_op. */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>

#include "dev/net_int.h"
#include "mem/guestmem.h"
#include "virtq/virtq.h"
#include "fuzz_common.h"

#define BIT(b) (1ull << (b))
#define MAXQ 7
#define MAXL 16384
#define MAXOPS 96
#define VPRI_QUEUES 8
#define VPRI_RING 4

static struct sc_set *scs;
static int vpri_efd[2]; /* fault and resolve eventfds */

struct fq {
    struct vdev *v;
    uint16_t idx;
    bool on;
    uint64_t gpa; /* the ring's first byte */
    struct virtq vq;
};

struct env {
    uint8_t *r[2];
    size_t s[2];
    uint8_t *shadow; /* the memory as the harness last saw it */
    size_t L;
    struct guestmem gm, gm_b; /* B's memory: the same regions, without VPRI */
    struct dirty_log_map logm;
    struct vpri_dev vpri;
    struct vpri_map vmap;
    struct vpri_chan vchan;
    struct vdev *a, *b;
    struct fq q[MAXQ];
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    scs = fuzz_sidecores();
    for (int i = 0; i < 2; i++)
        vpri_efd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    return 0;
}

static uint8_t *at(struct env *e, size_t off)
{
    return off < e->s[0] ? e->r[0] + off : e->r[1] + (off - e->s[0]);
}

static void mem_read(struct env *e, uint8_t *dst)
{
    memcpy(dst, e->r[0], e->s[0]);
    if (e->s[1])
        memcpy(dst + e->s[0], e->r[1], e->s[1]);
}

/* Every byte that changed since the shadow was taken lies on a logged page
 * (or past the log's end, which the frontend sized). */
static void check_log(struct env *e)
{
    static uint8_t now[MAXL];
    mem_read(e, now);
    if (atomic_load(&e->gm.log.map)) {
        for (size_t i = 0; i < e->L; i++) {
            if (now[i] == e->shadow[i])
                continue;
            uint64_t page = i / DIRTY_LOG_PAGE;
            if (page >= e->logm.size * 8)
                continue;
            if (!((e->logm.bits[page / 8] >> (page % 8)) & 1)) {
                fprintf(stderr, "guest byte 0x%zx changed, page %llu not in the dirty log\n",
                        i, (unsigned long long)page);
                abort();
            }
        }
    }
    memcpy(e->shadow, now, e->L);
}

static struct net_dev *ND(struct vdev *v) { return (struct net_dev *)v; }

static struct sc_queue *scq_of(struct fq *q)
{
    struct net_dev *d = ND(q->v);
    if (d->ctrlq && d->ctrlq->vq == &q->vq)
        return &d->ctrlq->scq;
    if (q->idx % 2)
        return &d->txq[q->idx / 2]->scq;
    return &d->rxq[q->idx / 2]->scq;
}

static void start(struct env *e, struct fq *q, uint16_t num, uint16_t base, uint64_t feat)
{
    uint8_t *h = e->r[0] + q->gpa;
    bool packed = feat & BIT(VIRTIO_F_RING_PACKED);
    uint64_t avail = 16ull * num;
    uint64_t used = packed ? avail + 4 : (avail + 6 + 2ull * num + 3) & ~3ull;
    vq_init(&q->vq, num, h, h + avail, h + used, base, feat, q->v == e->a ? &e->gm : &e->gm_b);
    q->vq.log_used = true;
    q->vq.used_log_gpa = q->gpa + used;
    q->vq.desc_log_gpa = q->gpa;
    q->vq.dev_event_log_gpa = q->gpa + used;
    if (q->v->ops->queue_start(q->v, q->idx, &q->vq, -1, -1) == 0) {
        q->on = true;
        sc_detach(scq_of(q));
    } else {
        vq_fini(&q->vq);
    }
}

/* Quiesced first, so that the sidecore takes nothing between the attach
 * and the stop's detach: the stop itself forwards what is left. As at a
 * disconnect, VPRI's owner is gone first: a live one's stop would wait up
 * to 5 s for parked requests. */
static void stop(struct env *e, struct fq *q)
{
    if (!q->on)
        return;
    atomic_store(&e->vpri.owner_gone, true);
    q->v->ops->queue_quiesce(q->v, q->idx, true);
    sc_attach(scs, scq_of(q));
    q->v->ops->queue_stop(q->v, q->idx);
    vq_fini(&q->vq);
    q->on = false;
}

/* VPRI's frontend: its PA-BITMAP word a gets b's bits (pages taken away or
 * given back), or (b & 1) it resolves: every page resident again, every
 * record handled (or, b & 2, a consumer index past the records), and
 * resolve_gen moves. */
static void vpri_frontend(struct env *e, uint16_t a, uint16_t b, bool resolve)
{
    if (!e->vpri.map)
        return;
    uint64_t words = vpri_bitmap_bytes(e->vmap.npages) / 8;
    if (!resolve) {
        uint64_t w = atomic_load(&e->vmap.bits[a % words]);
        atomic_store(&e->vmap.bits[a % words], w ^ ((uint64_t)b << (16 * (a >> 14))));
        return;
    }
    for (uint64_t i = 0; i < words; i++)
        atomic_store(&e->vmap.bits[i], 0xaaaaaaaaaaaaaaaaull);
    uint64_t cons = atomic_load(&e->vpri.reserve) + (b & 2 ? a : 0);
    atomic_store(&e->vchan.ctrl->cons, cons);
    atomic_fetch_add(&e->vchan.ctrl->resolve_gen, 1);
}

static void run_op(struct env *e, const uint8_t *op, unsigned nq)
{
    uint16_t a = (uint16_t)(op[1] | op[2] << 8), b = (uint16_t)(op[3] | op[4] << 8);
    struct fq *q = &e->q[a % nq];
    switch (op[0] % 10) {
    case 0: /* a round of queue a (an rx queue's publishes what it held) */
    case 1:
    case 2:
        if (q->on)
            scq_of(q)->poll(scq_of(q));
        break;
    case 3: { /* the driver writes b at even offset a of the ring area */
        size_t off = (size_t)(a % (e->s[0] / 2)) * 2;
        memcpy(e->r[0] + off, &b, 2);
        memcpy(e->shadow + off, &b, 2);
        break;
    }
    case 4: /* the driver writes byte b anywhere */
        *at(e, a % e->L) = (uint8_t)b;
        e->shadow[a % e->L] = (uint8_t)b;
        break;
    case 5: { /* the frontend announces A (RARP on A's tx0, so to B) */
        uint8_t mac[6] = {0x52, 0x54, 0, 0, (uint8_t)a, (uint8_t)b};
        e->a->ops->announce(e->a, mac);
        break;
    }
    case 6: /* the sidecore turns notifications on or off */
        if (q->on)
            scq_of(q)->set_notify(scq_of(q), b & 1);
        break;
    case 7: /* the frontend stops the queue */
        stop(e, q);
        break;
    case 8: /* VPRI: pages go or come back */
    case 9: /* VPRI: the frontend resolves */
        vpri_frontend(e, a, b, op[0] % 10 == 9);
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 8)
        return 0;
    uint8_t fa = data[0], fb = data[2];
    bool packed = fa & 1;
    uint8_t rs = data[1] & 127;
    uint16_t num = packed ? (uint16_t)(1 + rs % 16) : (uint16_t)(1u << (rs % 5));
    bool vpri_on = data[1] & 128;
    uint16_t base = 0;
    if (packed)
        base = (uint16_t)((data[3] & 0x80) << 8 | (data[3] & 0x7f) % num);
    uint16_t splitsel = (uint16_t)(data[4] | data[5] << 8);
    size_t L = (size_t)(data[6] | data[7] << 8);
    data += 8, size -= 8;

    uint64_t avail = 16ull * num;
    uint64_t ring = packed ? avail + 8 : ((avail + 6 + 2ull * num + 3) & ~3ull) + 6 + 8ull * num;
    ring = (ring + 15) & ~15ull;
    uint64_t rings = ring * MAXQ;
    if (L < rings)
        L = rings;
    if (L > MAXL)
        L = MAXL;

    static struct env e;
    memset(&e, 0, sizeof(e));
    e.L = L;
    e.s[0] = rings + (L > rings ? splitsel % (L - rings + 1) : 0);
    e.s[1] = L - e.s[0];
    e.r[0] = calloc(1, e.s[0]);
    e.r[1] = e.s[1] ? calloc(1, e.s[1]) : NULL;
    e.shadow = calloc(1, L);
    gm_init(&e.gm);
    gm_init(&e.gm_b);
    struct gm_table *t = calloc(1, sizeof(*t));
    t->bus = &e.gm.bus;
    t->n = e.s[1] ? 2 : 1;
    t->r[0] = (struct gm_region){.gpa = 0, .size = e.s[0], .uva = 0x100000, .host = e.r[0],
                                 .fd = -1};
    t->r[1] = (struct gm_region){.gpa = e.s[0], .size = e.s[1], .uva = 0x300000,
                                 .host = e.r[1], .fd = -1};
    struct gm_table *tb = calloc(1, sizeof(*tb));
    *tb = *t;
    tb->bus = &e.gm_b.bus;
    struct gm_table *old = gm_publish(&e.gm, t), *old_b = gm_publish(&e.gm_b, tb);
    if (vpri_on) {
        /* Bitmap words and DMA table in one buffer, as the memfd holds them. */
        e.vmap.npages = L / VPRI_PAGE_SIZE + 1;
        e.vmap.len = vpri_table_offset(e.vmap.npages) + 2 * e.vmap.npages;
        e.vmap.base = calloc(1, e.vmap.len);
        e.vmap.bits = e.vmap.base;
        e.vmap.dma = (_Atomic uint16_t *)((uint8_t *)e.vmap.base +
                                          vpri_table_offset(e.vmap.npages));
        memset(e.vmap.base, 0xaa, vpri_bitmap_bytes(e.vmap.npages)); /* all read-write */
        e.vchan.len = vpri_ring_offset(VPRI_QUEUES) + VPRI_RING * sizeof(struct vpri_rec);
        e.vchan.base = calloc(1, e.vchan.len);
        e.vchan.ctrl = e.vchan.base;
        e.vchan.slots = (struct vpri_qslot *)((uint8_t *)e.vchan.base + vpri_slots_offset());
        e.vchan.ring = (struct vpri_rec *)((uint8_t *)e.vchan.base +
                                           vpri_ring_offset(VPRI_QUEUES));
        e.vchan.nqueues = VPRI_QUEUES;
        e.vchan.entries = VPRI_RING;
        e.vchan.fault_fd = vpri_efd[0];
        e.vchan.resolve_fd = vpri_efd[1];
        for (unsigned i = 0; i < VPRI_QUEUES; i++)
            atomic_store(&e.vchan.slots[i].epoch, VPRI_EPOCH_QUIET);
        e.vpri.map = &e.vmap;
        e.vpri.chan = &e.vchan;
        atomic_store(&e.gm.vpri, &e.vpri);
    }

    /* Devices: A's features as the driver chose them. */
    uint64_t ring_f = (packed ? BIT(VIRTIO_F_RING_PACKED) : 0) |
                      (fa & 2 ? BIT(VIRTIO_F_IN_ORDER) : 0) |
                      (fa & 4 ? BIT(VIRTIO_RING_F_INDIRECT_DESC) : 0) |
                      (fa & 8 ? BIT(VIRTIO_RING_F_EVENT_IDX) : 0);
    uint64_t f_a = ring_f | BIT(VIRTIO_NET_F_MAC) | BIT(VIRTIO_NET_F_STATUS) |
                   BIT(VIRTIO_NET_F_MTU) | (fb & 64 ? 0 : BIT(VIRTIO_F_VERSION_1)) |
                   (fa & 16 ? BIT(VIRTIO_NET_F_MRG_RXBUF) : 0) |
                   (fa & 64 ? BIT(VIRTIO_NET_F_MQ) : 0) |
                   (fa & 128 ? BIT(VIRTIO_NET_F_CTRL_VQ) : 0) |
                   (fa & 128 && !(fb & 128) ? BIT(VIRTIO_NET_F_CTRL_RX) : 0);
    if (fa & 32)
        f_a |= BIT(VIRTIO_NET_F_CSUM) | BIT(VIRTIO_NET_F_GUEST_CSUM) |
               BIT(VIRTIO_NET_F_HOST_TSO4) | BIT(VIRTIO_NET_F_HOST_TSO6) |
               BIT(VIRTIO_NET_F_GUEST_TSO4) | BIT(VIRTIO_NET_F_GUEST_TSO6);
    uint64_t f_b = ring_f | (fb & 1 ? BIT(VIRTIO_NET_F_MRG_RXBUF) : 0) |
                   (fb & 2 ? BIT(VIRTIO_NET_F_GUEST_CSUM) : 0) |
                   (fb & 4 ? BIT(VIRTIO_NET_F_GUEST_TSO4) | BIT(VIRTIO_NET_F_GUEST_TSO6) : 0) |
                   (fb & 8 ? BIT(VIRTIO_F_VERSION_1) : 0);
    if (fb & 16)
        f_b |= BIT(VIRTIO_NET_F_CSUM) | BIT(VIRTIO_NET_F_HOST_TSO4) | BIT(VIRTIO_NET_F_HOST_TSO6);
    const char *why = "";
    struct net_dev_params pa = {.name = "fa", .queue_pairs = fa & 64 ? 2 : 1,
                                .mac = {0x52, 0x54, 0, 0, 0, 1}, .mtu = 1500, .offload = true};
    struct net_dev_params pb = {.name = "fb", .queue_pairs = 1,
                                .mac = {0x52, 0x54, 0, 0, 0, 2}, .mtu = 1500, .offload = true};
    e.a = net_dev_create(&pa, scs, &why);
    e.b = net_dev_create(&pb, scs, &why);
    if (!e.a || !e.b) {
        fprintf(stderr, "net_dev_create: %s\n", why);
        abort();
    }
    e.a->ops->set_features(e.a, f_a);
    e.b->ops->set_features(e.b, f_b);
    net_dev_port(e.a)->peer = net_dev_port(e.b);
    net_dev_port(e.b)->peer = net_dev_port(e.a);

    /* Queues, on zeroed rings: nothing for the attach-time poll. */
    uint16_t ctrl = fa & 64 ? 4 : 2;
    const struct { struct vdev *v; uint16_t idx; } qs[MAXQ] = {
        {e.a, 0}, {e.a, 1}, {e.a, 2}, {e.a, 3}, {e.a, ctrl}, {e.b, 0}, {e.b, 1}};
    unsigned nq = 0;
    for (unsigned i = 0; i < MAXQ; i++) {
        if (qs[i].v == e.a && i >= 2 && i < 4 && !(fa & 64))
            continue;
        if (i == 4 && !(fa & 128))
            continue;
        struct fq *q = &e.q[nq++];
        q->v = qs[i].v;
        q->idx = qs[i].idx;
        q->gpa = ring * i;
        start(&e, q, num, base, qs[i].v == e.a ? f_a : f_b);
    }

    /* Now the guest's memory, and the dirty log maybe. */
    size_t take = size < L ? size : L;
    memcpy(e.r[0], data, take < e.s[0] ? take : e.s[0]);
    if (take > e.s[0])
        memcpy(e.r[1], data + e.s[0], take - e.s[0]);
    data += take, size -= take;
    mem_read(&e, e.shadow);
    if (fb & 32) {
        e.logm.size = 1; /* 8 pages: all of it */
        e.logm.bits = calloc(1, e.logm.size);
        dirty_log_swap(&e.gm.log, &e.logm);
        dirty_log_swap(&e.gm_b.log, &e.logm);
    }

    for (unsigned n = 0; size >= 5 && n < MAXOPS; n++, data += 5, size -= 5) {
        run_op(&e, data, nq);
        check_log(&e);
        for (int k = 0; k < 2; k++) {
            struct vdev *v = k ? e.b : e.a;
            if (vdev_is_broken(v) && !v->why[0]) {
                fprintf(stderr, "%s failed without a reason\n", v->name);
                abort();
            }
        }
    }
    for (unsigned i = 0; i < nq; i++)
        stop(&e, &e.q[i]);
    check_log(&e);
    if (getenv("SC_FUZZ_LOG")) /* what the input did, for writing seeds */
        for (int k = 0; k < 2; k++) {
            struct net_port_counters c;
            net_port_counters(net_dev_port(k ? e.b : e.a), &c);
            fprintf(stderr, "%s: tx %llu rx %llu drops", k ? "B" : "A",
                    (unsigned long long)c.tx_packets, (unsigned long long)c.rx_packets);
            for (int r = 0; r < NET_DROP__COUNT; r++)
                if (c.drops[r])
                    fprintf(stderr, " %s %llu", net_drop_names[r], (unsigned long long)c.drops[r]);
            fprintf(stderr, "%s\n", vdev_is_broken(k ? e.b : e.a) ? " broken" : "");
        }
    net_dev_port(e.a)->peer = NULL;
    net_dev_port(e.b)->peer = NULL;
    e.a->ops->reset(e.a);
    e.b->ops->reset(e.b);
    e.a->ops->destroy(e.a);
    e.b->ops->destroy(e.b);
    dirty_log_swap(&e.gm.log, NULL);
    dirty_log_swap(&e.gm_b.log, NULL);
    free((void *)e.logm.bits);
    atomic_store(&e.gm.vpri, NULL);
    free(e.vmap.base);
    free(e.vchan.base);
    gm_table_free(gm_publish(&e.gm, old), false);
    gm_table_free(gm_publish(&e.gm, NULL), false);
    gm_table_free(gm_publish(&e.gm_b, old_b), false);
    gm_table_free(gm_publish(&e.gm_b, NULL), false);
    free(e.r[0]);
    free(e.r[1]);
    free(e.shadow);
    return 0;
}
