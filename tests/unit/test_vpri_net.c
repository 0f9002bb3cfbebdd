/* VPRI on the virtio-net device (docs/VPRI.md, src/dev/net_tx.c and
 * net_rx.c): devices over fake rings as in test_net_dev.c, with a map and
 * channel in plain memory as in test_vpri_queue.c. Device a negotiated
 * VPRI (its queues start after gm.vpri is set), device b did not; both sit
 * on one switch served by a real sidecore.
 * Covers: a tx miss parks the queue (frames before it go, none after it is
 * taken) and resumes in order; the same sidecore keeps serving meanwhile;
 * an rx miss parks the rx queue, frames for it are dropped and counted,
 * and the next frame after the resolution lands in the buffer that missed;
 * the stop paths hand parked chains back (at once when the frontend is
 * gone); buffers past the bitmap fail the device with a reason while b
 * keeps working; a control command parks and resumes the same way. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "backend/net_switch.h"
#include "core/sidecore.h"
#include "dev/net.h"
#include "dev/virtio_net_spec.h"
#include "frontend/vu_mem.h"
#include "frontend/vu_vring.h"
#include "mem/guestmem.h"
#include "virtq/vdev.h"
#include "virtq/virtq.h"
#include "vpri/vpri_queue.h"
#include "vpri_plain.h"

#define QNUM 64
#define MEM (8u << 20)
#define NPAGES (MEM / 4096)
#define NQ 5u
#define ENTRIES 8u
#define HL 12 /* VERSION_1 header */
#define F_VPRI ((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_NET_F_MAC))

struct q {
    struct vu_vring vr;
    struct virtq vq;
    bool on;
};

struct dev {
    struct vdev *v;
    struct q q[2];
};

struct env {
    struct vu_mem mem;
    struct guestmem gm;
    struct sc_set *scs;
    struct net_switch *sw;
    struct dev a, b;
    struct vpri_plain vp;
};

static struct env *E;
static const uint8_t MAC_A[6] = {0x52, 0x54, 0, 0, 0, 1}, MAC_B[6] = {0x52, 0x54, 0, 0, 0, 2};

static void mkdev(struct dev *d, const char *name, const uint8_t *mac)
{
    const char *why = NULL;
    struct net_dev_params p = {.name = name, .queue_pairs = 1, .mtu = 1500};
    memcpy(p.mac, mac, 6);
    d->v = net_dev_create(&p, E->scs, &why);
    assert_non_null(d->v);
    assert_int_equal(d->v->ops->set_features(d->v, F_VPRI), 0);
    assert_int_equal(net_switch_add_port(E->sw, net_dev_port(d->v), &why), 0);
}

static void start_ring(struct vdev *v, struct q *q, uint16_t idx, uint64_t features)
{
    assert_int_equal(vu_vring_init(&q->vr, &E->mem, QNUM, false, false), 0);
    const struct gm_table *t = gm_current(&E->gm);
    vq_init(&q->vq, QNUM, gm_gpa_to_host(t, q->vr.desc_gpa, vring_desc_bytes(QNUM)),
            gm_gpa_to_host(t, q->vr.avail_gpa, vring_avail_bytes(QNUM)),
            gm_gpa_to_host(t, q->vr.used_gpa, vring_used_bytes(QNUM)), 0, features, &E->gm);
    assert_int_equal(v->ops->queue_start(v, idx, &q->vq, q->vr.kick_fd, q->vr.call_fd), 0);
    q->on = true;
}

static void startq(struct dev *d, uint16_t idx) { start_ring(d->v, &d->q[idx], idx, F_VPRI); }

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    const char *why = NULL;
    assert_non_null(e);
    E = e;
    assert_int_equal(vu_mem_create(&e->mem, MEM), 0);
    gm_init(&e->gm);
    struct gm_table *t = gm_table_new_empty();
    assert_int_equal(gm_table_add(t, 0, e->mem.size, (uint64_t)(uintptr_t)e->mem.base, 0,
                                  dup(e->mem.fd), &why),
                     0);
    gm_table_free(gm_publish(&e->gm, t), true);
    struct sc_params sp;
    sc_params_default(&sp);
    sp.nr_sidecores = 1; /* both devices on one sidecore */
    e->scs = sc_set_create(&sp);
    assert_non_null(e->scs);
    e->sw = net_switch_create("sw", 256, 300, &why);
    assert_non_null(e->sw);

    vpri_plain_init(&e->vp, NPAGES, NQ, ENTRIES, 5);

    mkdev(&e->a, "a", MAC_A);
    mkdev(&e->b, "b", MAC_B);
    startq(&e->b, 0);
    startq(&e->b, 1);
    atomic_store(&e->gm.vpri, &e->vp.dev); /* queues started from now on check */
    startq(&e->a, 0);
    startq(&e->a, 1);
    *state = e;
    return 0;
}

static void dev_free(struct dev *d)
{
    for (int k = 0; k < 2; k++)
        if (d->q[k].on)
            d->v->ops->queue_stop(d->v, (uint16_t)k);
    net_switch_remove_port(E->sw, net_dev_port(d->v));
    d->v->ops->destroy(d->v);
    for (int k = 0; k < 2; k++)
        if (d->q[k].on) {
            vq_fini(&d->q[k].vq);
            vu_vring_destroy(&d->q[k].vr);
        }
}

static int teardown(void **state)
{
    struct env *e = *state;
    dev_free(&e->a);
    dev_free(&e->b);
    net_switch_destroy(e->sw);
    sc_set_destroy(e->scs);
    atomic_store(&e->gm.vpri, NULL);
    gm_destroy(&e->gm);
    vu_mem_destroy(&e->mem);
    vpri_plain_free(&e->vp);
    free(e);
    return 0;
}

/* A buffer alone in its page, so one page's bits decide it. */
static uint64_t pagebuf(void)
{
    void *p = vu_mem_alloc(&E->mem, 4096, 4096);
    assert_non_null(p);
    return vu_mem_gpa(&E->mem, p, 4096);
}

static uint8_t *ptr(uint64_t gpa) { return vu_mem_ptr(&E->mem, gpa, 1); }
static struct vpri_qslot *slot(unsigned i) { return &E->vp.chan.slots[i]; }

static void set_page(uint64_t gpa, unsigned pa)
{
    vpri_pa_set(E->vp.map.bits, gpa >> VPRI_PAGE_SHIFT, pa);
}

static void nap(void)
{
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
}

/* Waits (5 s max) for one used element of q; returns its length. */
static uint32_t used1(struct q *q, uint64_t *token)
{
    *token = 0; /* gcc -O3 does not know that fail_msg does not return */
    for (int i = 0; i < 5000; i++) {
        void *tok;
        uint32_t len;
        int rc = vu_vring_get_used(&q->vr, &tok, &len);
        assert_true(rc >= 0);
        if (rc == 1) {
            *token = (uint64_t)(uintptr_t)tok;
            return len;
        }
        nap();
    }
    fail_msg("no used element within 5 s");
    return 0;
}

/* Waits (5 s max) for the n-th fault record (1-based); returns it. */
static const struct vpri_rec *record(unsigned n)
{
    const struct vpri_rec *r = &E->vp.chan.ring[(n - 1) % ENTRIES];
    for (int i = 0; i < 5000 && atomic_load(&r->seq) != n; i++)
        nap();
    assert_int_equal(atomic_load(&r->seq), n);
    return r;
}

/* What the frontend does: the page is back, the records are handled. */
static void resolve(uint64_t gpa, uint64_t handled)
{
    set_page(gpa, VPRI_PA_RW);
    atomic_fetch_add(&E->vp.chan.ctrl->resolve_gen, 1);
    atomic_store(&E->vp.chan.ctrl->cons, handled);
}

/* One frame (header + 64 bytes of fill, to dst) in its own page, which is
 * given state pa before the frame is on d's tx ring (the sidecore may be
 * polling the ring: a page made absent later could be read first); not
 * kicked. */
static uint64_t tx_add_page(struct dev *d, const uint8_t *dst, uint8_t fill, uint8_t pa)
{
    uint64_t g = pagebuf();
    uint8_t *p = ptr(g);
    memset(p, 0, HL);
    memcpy(p + HL, dst, 6);
    memcpy(p + HL + 6, d == &E->a ? MAC_A : MAC_B, 6);
    p[HL + 12] = 0x08;
    p[HL + 13] = 0x00;
    memset(p + HL + 14, fill, 50);
    struct vu_sg sg = {g, HL + 64};
    if (pa != VPRI_PA_RW)
        set_page(g, pa);
    assert_true(vu_vring_add(&d->q[1].vr, &sg, 1, 0, (void *)(uintptr_t)g) >= 0);
    return g;
}

static uint64_t tx_add(struct dev *d, const uint8_t *dst, uint8_t fill)
{
    return tx_add_page(d, dst, fill, VPRI_PA_RW);
}

static void kick(struct dev *d, uint16_t idx)
{
    uint64_t one = 1;
    assert_int_equal(write(d->q[idx].vr.kick_fd, &one, sizeof(one)), sizeof(one));
}

/* Sends one frame and waits until the device took it. */
static void tx_one(struct dev *d, const uint8_t *dst, uint8_t fill)
{
    uint64_t g = tx_add(d, dst, fill), tok;
    kick(d, 1);
    assert_int_equal(used1(&d->q[1], &tok), 0);
    assert_int_equal(tok, g);
}

static uint64_t rx_post(struct dev *d)
{
    uint64_t g = pagebuf();
    struct vu_sg sg = {g, 2048};
    assert_true(vu_vring_add(&d->q[0].vr, &sg, 0, 1, (void *)(uintptr_t)g) >= 0);
    return g;
}

/* The next frame d received: its buffer must be want and its fill byte. */
static uint8_t rx_fill(struct dev *d, uint64_t want)
{
    uint64_t tok;
    assert_int_equal(used1(&d->q[0], &tok), HL + 64);
    assert_int_equal(tok, want);
    return ptr(tok)[HL + 14];
}

static uint64_t drops(struct dev *d, enum net_drop why)
{
    struct net_port_counters c;
    net_port_counters(net_dev_port(d->v), &c);
    return c.drops[why];
}

static void test_tx_parks_in_order(void **state)
{
    struct env *e = *state;
    uint64_t rb[4];
    for (int i = 0; i < 4; i++)
        rb[i] = rx_post(&e->b);
    uint64_t ra = rx_post(&e->a);
    tx_add(&e->a, MAC_B, 1);
    uint64_t g2 = tx_add_page(&e->a, MAC_B, 2, VPRI_PA_NONE);
    tx_add(&e->a, MAC_B, 3);
    kick(&e->a, 1);

    assert_int_equal(rx_fill(&e->b, rb[0]), 1);
    const struct vpri_rec *r = record(1);
    assert_int_equal(r->queue, 1);
    assert_int_equal(r->access, VPRI_ACC_READ);
    assert_int_equal(r->device, 5);
    assert_int_equal(r->gpa, g2);
    assert_int_equal(r->len, HL + 64);
    assert_int_equal(atomic_load(&slot(1)->parked), 1);
    assert_int_equal(atomic_load(&slot(1)->faults), 1);

    /* The sidecore serves b (and a's rx) while a's tx waits. */
    tx_one(&e->b, MAC_A, 9);
    assert_int_equal(rx_fill(&e->a, ra), 9);
    /* Nothing after the parked chain was taken. */
    assert_false(vu_vring_has_used(&e->b.q[0].vr));
    uint64_t tok;
    assert_int_equal(used1(&e->a.q[1], &tok), 0);
    assert_false(vu_vring_has_used(&e->a.q[1].vr));

    resolve(g2, 1);
    kick(&e->a, 1); /* the daemon's resolve watcher does this */
    assert_int_equal(rx_fill(&e->b, rb[1]), 2);
    assert_int_equal(rx_fill(&e->b, rb[2]), 3);
    assert_int_equal(used1(&e->a.q[1], &tok), 0);
    assert_int_equal(tok, g2);
    assert_int_equal(used1(&e->a.q[1], &tok), 0);
    assert_int_equal(atomic_load(&slot(1)->parked), 0);
    assert_int_equal(atomic_load(&slot(1)->resumed), 1);
    assert_true(atomic_load(&slot(1)->wait_ns) > 0);
    assert_true(atomic_load(&slot(1)->lookups) >= 3);
    /* The page was counted as device-accessed once the chain went. */
    assert_true(atomic_load(&e->vp.map.dma[g2 >> VPRI_PAGE_SHIFT]) >= 1);
    assert_false(vdev_is_broken(e->a.v));
}

static void test_rx_parks_drops_resumes(void **state)
{
    struct env *e = *state;
    uint64_t r1 = rx_post(&e->a), r2 = rx_post(&e->a);
    set_page(r1, VPRI_PA_RO); /* readable is not enough to receive into */

    tx_one(&e->b, MAC_A, 1);
    const struct vpri_rec *r = record(1);
    assert_int_equal(r->queue, 0);
    assert_int_equal(r->access, VPRI_ACC_WRITE);
    assert_int_equal(r->gpa, r1);
    assert_int_equal(atomic_load(&slot(0)->parked), 1);
    /* More frames while parked: dropped like a NIC without buffers, and b's
     * transmit never waits. */
    tx_one(&e->b, MAC_A, 2);
    tx_one(&e->b, MAC_A, 3);
    assert_int_equal(atomic_load(&slot(0)->dropped), 3);
    assert_int_equal(drops(&e->a, NET_DROP_NO_BUFFERS), 3);
    assert_int_equal(atomic_load(&slot(0)->faults), 1);
    assert_false(vu_vring_has_used(&e->a.q[0].vr));
    /* Nothing in flight between deliveries: the owner never waits on rx. */
    assert_true(atomic_load(&slot(0)->epoch) & VPRI_EPOCH_QUIET);

    /* A record handled with the page still missing is posted again. */
    atomic_store(&e->vp.chan.ctrl->cons, 1);
    tx_one(&e->b, MAC_A, 4);
    r = record(2);
    assert_int_equal(r->gpa, r1);
    assert_int_equal(atomic_load(&slot(0)->dropped), 4);

    resolve(r1, 2);
    tx_one(&e->b, MAC_A, 5);
    assert_int_equal(rx_fill(&e->a, r1), 5);
    tx_one(&e->b, MAC_A, 6);
    assert_int_equal(rx_fill(&e->a, r2), 6);
    assert_int_equal(atomic_load(&slot(0)->parked), 0);
    assert_int_equal(atomic_load(&slot(0)->resumed), 1);
    assert_int_equal(atomic_load(&slot(0)->dropped), 4);
    assert_false(vdev_is_broken(e->a.v));
}

/* Stopping a parked rx queue hands its held chains back unwritten. */
static void test_rx_stop_releases(void **state)
{
    struct env *e = *state;
    uint64_t r1 = rx_post(&e->a);
    set_page(r1, VPRI_PA_NONE);
    tx_one(&e->b, MAC_A, 1);
    record(1);
    e->a.v->ops->queue_stop(e->a.v, 0);
    e->a.q[0].on = false;
    uint64_t tok;
    assert_int_equal(used1(&e->a.q[0], &tok), 0);
    assert_int_equal(tok, r1);
    assert_int_equal(atomic_load(&slot(0)->parked), 0);
    vq_fini(&e->a.q[0].vq);
    vu_vring_destroy(&e->a.q[0].vr);
}

/* Stopping a parked tx queue waits for its resolution, bounded (5 s); one
 * that never comes leaves the chain handed back unsent and counted. */
static void test_tx_stop_waits(void **state)
{
    struct env *e = *state;
    rx_post(&e->b);
    uint64_t g = tx_add_page(&e->a, MAC_B, 7, VPRI_PA_NONE);
    kick(&e->a, 1);
    record(1);
    e->a.v->ops->queue_stop(e->a.v, 1);
    e->a.q[1].on = false;
    uint64_t tok;
    assert_int_equal(used1(&e->a.q[1], &tok), 0);
    assert_int_equal(tok, g);
    assert_int_equal(atomic_load(&slot(1)->parked), 0);
    assert_int_equal(drops(&e->a, NET_DROP_LINK_DOWN), 1);
    assert_false(vu_vring_has_used(&e->b.q[0].vr));
    vq_fini(&e->a.q[1].vq);
    vu_vring_destroy(&e->a.q[1].vr);
}

/* Quiesced (what the transport does before a message that stops the ring),
 * a parked tx queue is not settled until its chain resumes, and takes
 * nothing new meanwhile; released, it sends what waited. Before, net queues
 * offered no quiesce, and their stop waited for the chain on the control
 * thread. */
static void test_tx_quiesce_settles(void **state)
{
    struct env *e = *state;
    struct vdev *v = e->a.v;
    uint64_t rb[2] = {rx_post(&e->b), rx_post(&e->b)};
    uint64_t g = tx_add_page(&e->a, MAC_B, 1, VPRI_PA_NONE);
    kick(&e->a, 1);
    record(1);
    assert_true(v->ops->queue_quiesce(v, 1, true));
    assert_false(v->ops->queue_quiesce(v, 0, true)); /* rx holds nothing past a round */
    tx_add(&e->a, MAC_B, 2);
    kick(&e->a, 1);
    nap();
    assert_false(v->ops->queue_settled(v, 1));
    resolve(g, 1);
    kick(&e->a, 1);
    for (int i = 0; i < 5000 && !v->ops->queue_settled(v, 1); i++)
        nap();
    assert_true(v->ops->queue_settled(v, 1));
    assert_int_equal(rx_fill(&e->b, rb[0]), 1);
    nap();
    assert_false(vu_vring_has_used(&e->b.q[0].vr)); /* the second frame waits */
    assert_true(v->ops->queue_quiesce(v, 1, false));
    kick(&e->a, 1);
    assert_int_equal(rx_fill(&e->b, rb[1]), 2);
}

static void *resolve_later(void *arg)
{
    struct timespec ts = {0, 100 * 1000000L};
    nanosleep(&ts, NULL);
    resolve(*(uint64_t *)arg, 1);
    return NULL;
}

/* With the frontend gone nobody will resolve a fault: stopping a parked tx
 * queue hands the chain back at once. (A stop that waited, as it did, saw
 * the resolution this thread makes 100 ms later and sent the frame.) */
static void test_tx_stop_owner_gone(void **state)
{
    struct env *e = *state;
    rx_post(&e->b);
    uint64_t g = tx_add_page(&e->a, MAC_B, 7, VPRI_PA_NONE);
    kick(&e->a, 1);
    record(1);
    atomic_store(&e->vp.dev.owner_gone, true);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, resolve_later, &g), 0);
    e->a.v->ops->queue_stop(e->a.v, 1);
    e->a.q[1].on = false;
    assert_int_equal(pthread_join(th, NULL), 0);
    uint64_t tok;
    assert_int_equal(used1(&e->a.q[1], &tok), 0);
    assert_int_equal(tok, g);
    assert_int_equal(drops(&e->a, NET_DROP_LINK_DOWN), 1);
    assert_false(vu_vring_has_used(&e->b.q[0].vr));
    vq_fini(&e->a.q[1].vq);
    vu_vring_destroy(&e->a.q[1].vr);
}

static void wait_broken(struct vdev *v)
{
    for (int i = 0; i < 5000 && !vdev_is_broken(v); i++)
        nap();
    assert_true(vdev_is_broken(v));
}

/* A frontend whose bitmap does not cover a buffer broke its promise. */
static void test_tx_outside_fails(void **state)
{
    struct env *e = *state;
    uint64_t g = tx_add(&e->a, MAC_B, 1);
    e->vp.map.npages = g >> VPRI_PAGE_SHIFT;
    kick(&e->a, 1);
    wait_broken(e->a.v);
    assert_non_null(strstr(e->a.v->why, "past the PA-BITMAP"));
    /* b, on the same sidecore, still sends. */
    tx_one(&e->b, MAC_A, 2);
    assert_false(vdev_is_broken(e->b.v));
}

static void test_rx_outside_fails(void **state)
{
    struct env *e = *state;
    uint64_t r = rx_post(&e->a);
    e->vp.map.npages = r >> VPRI_PAGE_SHIFT;
    tx_one(&e->b, MAC_A, 1);
    wait_broken(e->a.v);
    assert_non_null(strstr(e->a.v->why, "past the PA-BITMAP"));
    tx_one(&e->b, MAC_A, 2);
    assert_false(vdev_is_broken(e->b.v));
}

/* A consumer index ahead of every record posted is a broken channel. */
static void test_hostile_consumer(void **state)
{
    struct env *e = *state;
    uint64_t r = rx_post(&e->a);
    set_page(r, VPRI_PA_NONE);
    atomic_store(&e->vp.chan.ctrl->cons, 1000);
    tx_one(&e->b, MAC_A, 1);
    wait_broken(e->a.v);
    assert_non_null(strstr(e->a.v->why, "consumer index"));
    tx_one(&e->b, MAC_A, 2);
    assert_false(vdev_is_broken(e->b.v));
}

/* Device c: a control queue (index 2) that checks pages, no data rings. */
#define F_CTRL (F_VPRI | (1ull << VIRTIO_NET_F_CTRL_VQ) | (1ull << VIRTIO_NET_F_CTRL_RX))

static struct vdev *ctrl_dev(struct q *cq)
{
    const char *why = NULL;
    struct net_dev_params p = {.name = "c", .queue_pairs = 1, .mtu = 1500,
                               .mac = {0x52, 0x54, 0, 0, 0, 3}};
    struct vdev *v = net_dev_create(&p, E->scs, &why);
    assert_non_null(v);
    assert_int_equal(v->ops->set_features(v, F_CTRL), 0);
    start_ring(v, cq, 2, F_CTRL);
    return v;
}

static void ctrl_dev_free(struct vdev *v, struct q *cq)
{
    v->ops->queue_stop(v, 2);
    v->ops->destroy(v);
    vq_fini(&cq->vq);
    vu_vring_destroy(&cq->vr);
}

/* PROMISC off, its header in a page of its own (*cmd), its answer byte
 * (0xff until answered) in another (*ack); kicked. */
static void ctrl_send(struct q *cq, uint64_t *cmd, uint64_t *ack, bool cmd_resident)
{
    *cmd = pagebuf();
    *ack = pagebuf();
    uint8_t *c = ptr(*cmd);
    c[0] = VIRTIO_NET_CTRL_RX;
    c[1] = VIRTIO_NET_CTRL_RX_PROMISC;
    c[2] = 0;
    *ptr(*ack) = 0xff;
    if (!cmd_resident)
        set_page(*cmd, VPRI_PA_NONE);
    struct vu_sg sg[2] = {{*cmd, 3}, {*ack, 1}};
    assert_true(vu_vring_add(&cq->vr, sg, 1, 1, (void *)(uintptr_t)*cmd) >= 0);
    uint64_t one = 1;
    assert_int_equal(write(cq->vr.kick_fd, &one, sizeof(one)), sizeof(one));
}

/* The control queue read commands without looking at the PA-BITMAP: the
 * sidecore could touch a page the owner had evicted. A miss now parks the
 * command (nothing read, nothing answered) while the sidecore serves the
 * others, and the resolution runs it. */
static void test_ctrl_parks_resumes(void **state)
{
    struct env *e = *state;
    struct q cq = {0};
    struct vdev *c = ctrl_dev(&cq);
    uint64_t cmd, ack, tok;
    ctrl_send(&cq, &cmd, &ack, true);
    assert_int_equal(used1(&cq, &tok), 1);
    assert_int_equal(*ptr(ack), VIRTIO_NET_OK);

    ctrl_send(&cq, &cmd, &ack, false);
    const struct vpri_rec *r = record(1);
    assert_int_equal(r->queue, 2);
    assert_int_equal(r->access, VPRI_ACC_READ);
    assert_int_equal(r->gpa, cmd);
    assert_int_equal(atomic_load(&slot(2)->parked), 1);
    uint64_t ra = rx_post(&e->a);
    tx_one(&e->b, MAC_A, 4);
    assert_int_equal(rx_fill(&e->a, ra), 4);
    assert_false(vu_vring_has_used(&cq.vr));
    assert_int_equal(*ptr(ack), 0xff);

    resolve(cmd, 1);
    uint64_t one = 1;
    assert_int_equal(write(cq.vr.kick_fd, &one, sizeof(one)), sizeof(one));
    assert_int_equal(used1(&cq, &tok), 1);
    assert_int_equal(tok, cmd);
    assert_int_equal(*ptr(ack), VIRTIO_NET_OK);
    assert_int_equal(atomic_load(&slot(2)->resumed), 1);
    assert_false(vdev_is_broken(c));
    ctrl_dev_free(c, &cq);
}

/* Stopping with a parked command and the frontend gone: handed back at
 * once, unanswered. */
static void test_ctrl_stop_owner_gone(void **state)
{
    struct env *e = *state;
    struct q cq = {0};
    struct vdev *c = ctrl_dev(&cq);
    uint64_t cmd, ack, tok;
    ctrl_send(&cq, &cmd, &ack, false);
    record(1);
    atomic_store(&e->vp.dev.owner_gone, true);
    c->ops->queue_stop(c, 2);
    assert_int_equal(used1(&cq, &tok), 0);
    assert_int_equal(tok, cmd);
    assert_int_equal(*ptr(ack), 0xff);
    ctrl_dev_free(c, &cq);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_tx_parks_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rx_parks_drops_resumes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rx_stop_releases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tx_stop_waits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tx_quiesce_settles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tx_stop_owner_gone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tx_outside_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rx_outside_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_consumer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ctrl_parks_resumes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ctrl_stop_owner_gone, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
