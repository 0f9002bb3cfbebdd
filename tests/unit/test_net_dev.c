/* virtio-net devices end to end without sockets: guest memory is the
 * frontend library's memfd (the test drives the rings with vu_vring, as a
 * driver would) mapped again as the device's guest-memory table; a real
 * sidecore serves tx and control queues; devices sit on one switch.
 * Covers: control queue commands (OK/ERR) and a malformed control chain,
 * guest-to-guest delivery with learning, mergeable rx buffers and
 * num_buffers, drops for missing buffers with held chains reused in order,
 * hostile transmit headers, a packed tx ring returning every chain when
 * the driver pauses and when it stops, rx filtering, software checksum and
 * segmentation for receivers without the offloads, a broken rx ring
 * that stops only its own device, receive steering over two pairs, and an
 * rx buffer overlapping the frame sent into it. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "backend/net_offload.h"
#include "backend/net_sink.h"
#include "backend/net_switch.h"
#include "core/sidecore.h"
#include "dev/net.h"
#include "dev/virtio_net_spec.h"
#include "frontend/vu_mem.h"
#include "frontend/vu_vring.h"
#include "mem/guestmem.h"
#include "virtq/vdev.h"
#include "virtq/virtq.h"

#define QNUM 64
#define BIT(b) (1ull << (b))
#define F_BASE (BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_NET_F_MAC) | BIT(VIRTIO_NET_F_STATUS))

struct q {
    struct vu_vring vr;
    struct virtq vq;
    bool on;
};

struct dev {
    struct vdev *v;
    struct q q[5];
    uint64_t features;
};

struct env {
    struct vu_mem mem;
    struct guestmem gm;
    struct sc_set *scs;
    struct net_switch *sw;
    struct dev d[3];
};

static struct env *E;

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    const char *why = NULL;
    assert_int_equal(vu_mem_create(&e->mem, 32u << 20), 0);
    gm_init(&e->gm);
    struct gm_table *t = gm_table_new_empty();
    assert_int_equal(gm_table_add(t, 0, e->mem.size, (uint64_t)(uintptr_t)e->mem.base, 0,
                                  dup(e->mem.fd), &why),
                     0);
    gm_table_free(gm_publish(&e->gm, t), true);
    struct sc_params sp;
    sc_params_default(&sp);
    e->scs = sc_set_create(&sp);
    assert_non_null(e->scs);
    e->sw = net_switch_create("sw", 256, 300, &why);
    assert_non_null(e->sw);
    E = e;
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;
    for (int i = 0; i < 3; i++) {
        struct dev *d = &e->d[i];
        if (!d->v)
            continue;
        for (int k = 0; k < 5; k++)
            if (d->q[k].on)
                d->v->ops->queue_stop(d->v, (uint16_t)k);
        net_switch_remove_port(e->sw, net_dev_port(d->v));
        d->v->ops->destroy(d->v);
        for (int k = 0; k < 5; k++)
            if (d->q[k].on) {
                vq_fini(&d->q[k].vq);
                vu_vring_destroy(&d->q[k].vr);
            }
    }
    net_switch_destroy(e->sw);
    sc_set_destroy(e->scs);
    gm_destroy(&e->gm);
    vu_mem_destroy(&e->mem);
    free(e);
    return 0;
}

static struct dev *mkdev(int i, uint16_t pairs, uint64_t features)
{
    const char *why = NULL;
    char name[16];
    snprintf(name, sizeof(name), "n%d", i);
    struct net_dev_params p = {.name = name, .queue_pairs = pairs, .mtu = 1500, .offload = true};
    memcpy(p.mac, (uint8_t[]){0x52, 0x54, 0, 0, 0, (uint8_t)(i + 1)}, 6);
    struct dev *d = &E->d[i];
    d->v = net_dev_create(&p, E->scs, &why);
    assert_non_null(d->v);
    uint64_t offered = d->v->ops->features(d->v);
    assert_int_equal(features & ~offered, 0);
    d->features = features;
    assert_int_equal(d->v->ops->set_features(d->v, features), 0);
    assert_int_equal(net_switch_add_port(E->sw, net_dev_port(d->v), &why), 0);
    return d;
}

static void startq(struct dev *d, uint16_t idx)
{
    struct q *q = &d->q[idx];
    assert_int_equal(vu_vring_init(&q->vr, &E->mem, QNUM, false, false), 0);
    const struct gm_table *t = gm_current(&E->gm);
    void *hd = gm_gpa_to_host(t, q->vr.desc_gpa, vring_desc_bytes(QNUM));
    void *ha = gm_gpa_to_host(t, q->vr.avail_gpa, vring_avail_bytes(QNUM));
    void *hu = gm_gpa_to_host(t, q->vr.used_gpa, vring_used_bytes(QNUM));
    vq_init(&q->vq, QNUM, hd, ha, hu, 0, d->features, &E->gm);
    assert_int_equal(d->v->ops->queue_start(d->v, idx, &q->vq, q->vr.kick_fd, q->vr.call_fd), 0);
    q->on = true;
}

/* A packed ring (without IN_ORDER: the library's driver reads one used
 * descriptor per buffer). */
static void startq_packed(struct dev *d, uint16_t idx)
{
    struct q *q = &d->q[idx];
    struct vu_vring_cfg cfg = {.num = QNUM, .packed = true};
    assert_int_equal(vu_vring_init_cfg(&q->vr, &E->mem, &cfg), 0);
    const struct gm_table *t = gm_current(&E->gm);
    vq_init(&q->vq, QNUM, gm_gpa_to_host(t, q->vr.desc_gpa, 16 * QNUM),
            gm_gpa_to_host(t, q->vr.avail_gpa, 4), gm_gpa_to_host(t, q->vr.used_gpa, 4),
            (uint16_t)vu_vring_start_base(&q->vr), d->features, &E->gm);
    assert_null(q->vq.err);
    assert_int_equal(d->v->ops->queue_start(d->v, idx, &q->vq, q->vr.kick_fd, q->vr.call_fd), 0);
    q->on = true;
}

/* Devices 0 and 1 with features f, one queue pair each, both started. */
static void two_running(uint64_t f, struct dev **a, struct dev **b)
{
    *a = mkdev(0, 1, f);
    *b = mkdev(1, 1, f);
    for (int i = 0; i < 2; i++) {
        startq(*a, (uint16_t)i);
        startq(*b, (uint16_t)i);
    }
}

static uint64_t buf(uint32_t len)
{
    void *p = vu_mem_alloc(&E->mem, len, 64);
    assert_non_null(p);
    return vu_mem_gpa(&E->mem, p, len);
}

static uint8_t *ptr(uint64_t gpa) { return vu_mem_ptr(&E->mem, gpa, 1); }

/* Waits (5 s max) for one used element of q; returns its length. */
static uint32_t used1(struct q *q, uint64_t *token)
{
    for (int i = 0; i < 5000; i++) {
        void *tok;
        uint32_t len;
        int rc = vu_vring_get_used(&q->vr, &tok, &len);
        assert_true(rc >= 0);
        if (rc == 1) {
            *token = (uint64_t)(uintptr_t)tok;
            return len;
        }
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    fail_msg("no used element within 5 s");
    return 0;
}

/* Transmit hdr (hlen bytes) then frame, the first cut bytes of them in one
 * descriptor and the rest in a second; waits until the device returned the
 * chain. */
static void tx_cut(struct dev *d, uint16_t pair, const struct virtio_net_hdr_v1 *h,
                   uint32_t hlen, const uint8_t *frame, uint32_t flen, uint32_t cut)
{
    struct q *q = &d->q[pair * 2 + 1];
    uint64_t g = buf(hlen + flen);
    memcpy(ptr(g), h, hlen);
    memcpy(ptr(g) + hlen, frame, flen);
    struct vu_sg sg[2] = {{g, cut}, {g + cut, hlen + flen - cut}};
    unsigned n = hlen + flen > cut ? 2 : 1;
    if (!cut) {
        sg[0] = sg[1];
        n = 1;
    }
    assert_true(vu_vring_add(&q->vr, sg, n, 0, (void *)(uintptr_t)g) >= 0);
    vu_vring_kick(&q->vr);
    uint64_t tok;
    assert_int_equal(used1(q, &tok), 0);
    assert_int_equal(tok, g);
}

/* The header and the frame as two descriptors. */
static void tx(struct dev *d, uint16_t pair, const struct virtio_net_hdr_v1 *h, uint32_t hlen,
               const uint8_t *frame, uint32_t flen)
{
    tx_cut(d, pair, h, hlen, frame, flen, hlen);
}

static uint64_t post(struct dev *d, uint16_t pair, uint32_t len)
{
    struct q *q = &d->q[pair * 2];
    uint64_t g = buf(len);
    struct vu_sg sg = {g, len};
    assert_true(vu_vring_add(&q->vr, &sg, 0, 1, (void *)(uintptr_t)g) >= 0);
    return g;
}

static bool rx_pending(struct dev *d, uint16_t pair) { return vu_vring_has_used(&d->q[pair * 2].vr); }

static uint8_t frame_buf[70000];

static uint32_t eth(const uint8_t *dst, const uint8_t *src, uint32_t len, uint8_t fill)
{
    memcpy(frame_buf, dst, 6);
    memcpy(frame_buf + 6, src, 6);
    frame_buf[12] = 0x08;
    frame_buf[13] = 0x00;
    memset(frame_buf + 14, fill, len - 14);
    return len;
}

static const uint8_t BCAST[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
static const uint8_t MAC1[6] = {0x52, 0x54, 0, 0, 0, 1}, MAC2[6] = {0x52, 0x54, 0, 0, 0, 2};

static void counters(struct dev *d, struct net_port_counters *c)
{
    net_port_counters(net_dev_port(d->v), c);
}

/* ---- control queue ---- */

static uint8_t ctrl(struct dev *d, uint16_t idx, const void *cmd, uint32_t len)
{
    struct q *q = &d->q[idx];
    uint64_t g = buf(len), a = buf(1);
    memcpy(ptr(g), cmd, len);
    *ptr(a) = 0xee;
    struct vu_sg sg[2] = {{g, len}, {a, 1}};
    assert_true(vu_vring_add(&q->vr, sg, 1, 1, (void *)(uintptr_t)a) >= 0);
    vu_vring_kick(&q->vr);
    uint64_t tok;
    assert_int_equal(used1(q, &tok), 1);
    assert_int_equal(tok, a);
    return *ptr(a);
}

static void test_ctrl(void **state)
{
    (void)state;
    uint64_t f = F_BASE | BIT(VIRTIO_NET_F_CTRL_VQ) | BIT(VIRTIO_NET_F_MQ) |
                 BIT(VIRTIO_NET_F_CTRL_RX);
    struct dev *d = mkdev(0, 2, f);
    for (uint16_t i = 0; i < 4; i++)
        startq(d, i);
    startq(d, 4); /* 2 pairs with MQ: the control queue is 4 */
    struct net_dev_state st;
    net_dev_state(d->v, &st);
    assert_int_equal(st.active_pairs, 1);
    assert_true(st.promisc);

    assert_int_equal(ctrl(d, 4, (uint8_t[]){4, 0, 2, 0}, 4), VIRTIO_NET_OK);
    assert_int_equal(ctrl(d, 4, (uint8_t[]){4, 0, 0, 0}, 4), VIRTIO_NET_ERR);
    assert_int_equal(ctrl(d, 4, (uint8_t[]){4, 0, 3, 0}, 4), VIRTIO_NET_ERR);
    assert_int_equal(ctrl(d, 4, (uint8_t[]){4, 0, 1}, 3), VIRTIO_NET_ERR);
    assert_int_equal(ctrl(d, 4, (uint8_t[]){0, 0, 0}, 3), VIRTIO_NET_OK);
    assert_int_equal(ctrl(d, 4, (uint8_t[]){0, 1, 1}, 3), VIRTIO_NET_OK);
    assert_int_equal(ctrl(d, 4, (uint8_t[]){0, 1, 7}, 3), VIRTIO_NET_ERR);
    assert_int_equal(ctrl(d, 4, (uint8_t[]){0, 5, 1}, 3), VIRTIO_NET_ERR);
    assert_int_equal(ctrl(d, 4, (uint8_t[]){9, 0, 1}, 3), VIRTIO_NET_ERR);
    assert_int_equal(ctrl(d, 4, (uint8_t[]){1, 1, 1, 2, 3, 4, 5, 6}, 8), VIRTIO_NET_ERR);
    assert_int_equal(ctrl(d, 4, (uint8_t[]){0}, 1), VIRTIO_NET_ERR);
    /* MAC TABLE_SET: one unicast, two multicast entries; then a lying count. */
    uint8_t t[4 + 6 + 4 + 12 + 2] = {1, 0, 0, 0, 0x52, 0x54, 0, 0, 0, 9, 2, 0, 0, 0,
                                     0x33, 0x33, 0, 0, 0, 1, 0x01, 0, 0x5e, 0, 0, 1};
    memmove(t + 2, t, sizeof(t) - 2);
    t[0] = 1;
    t[1] = 0;
    assert_int_equal(ctrl(d, 4, t, sizeof(t)), VIRTIO_NET_OK);
    t[2] = 200;
    assert_int_equal(ctrl(d, 4, t, sizeof(t)), VIRTIO_NET_ERR);
    net_dev_state(d->v, &st);
    assert_int_equal(st.active_pairs, 2);
    assert_false(st.promisc);
    /* A restart of the control queue (a new call eventfd) is no reset:
     * the driver's VQ_PAIRS_SET holds. */
    d->v->ops->queue_stop(d->v, 4);
    vq_fini(&d->q[4].vq);
    vu_vring_destroy(&d->q[4].vr);
    startq(d, 4);
    net_dev_state(d->v, &st);
    assert_int_equal(st.active_pairs, 2);
    /* A pair the frontend stops (QEMU does for ethtool -L: it keeps the
     * control queue to itself) is not active, whatever the driver said. */
    d->v->ops->queue_stop(d->v, 2);
    vq_fini(&d->q[2].vq);
    vu_vring_destroy(&d->q[2].vr);
    d->q[2].on = false;
    net_dev_state(d->v, &st);
    assert_int_equal(st.active_pairs, 1);
    assert_true(st.allmulti);
    assert_int_equal(st.ctrl_ok, 4);
    assert_int_equal(st.ctrl_err, 9);
    assert_false(vdev_is_broken(d->v));

    /* The ack is the first device-writable byte (virtio 1.3 5.1.6.5: a
     * command's results follow it), and the used length counts only it. */
    struct q *cq = &d->q[4];
    uint64_t cmd = buf(3), out = buf(4);
    memcpy(ptr(cmd), (uint8_t[]){0, 0, 1}, 3);
    memset(ptr(out), 0xee, 4);
    struct vu_sg csg[2] = {{cmd, 3}, {out, 4}};
    assert_true(vu_vring_add(&cq->vr, csg, 1, 1, (void *)(uintptr_t)out) >= 0);
    vu_vring_kick(&cq->vr);
    uint64_t tok;
    assert_int_equal(used1(cq, &tok), 1);
    assert_int_equal(ptr(out)[0], VIRTIO_NET_OK);
    assert_int_equal(ptr(out)[3], 0xee);

    /* A command chain with no byte for the answer is a ring error. */
    struct q *q = &d->q[4];
    uint64_t g = buf(3);
    struct vu_sg sg = {g, 3};
    assert_true(vu_vring_add(&q->vr, &sg, 1, 0, (void *)(uintptr_t)g) >= 0);
    vu_vring_kick(&q->vr);
    for (int i = 0; i < 5000 && !vdev_is_broken(d->v); i++)
        usleep(1000);
    assert_true(vdev_is_broken(d->v));
    assert_non_null(strstr(d->v->why, "no writable byte"));
}

/* ---- guest to guest ---- */

static void test_switching(void **state)
{
    (void)state;
    uint64_t f = F_BASE | BIT(VIRTIO_NET_F_MRG_RXBUF);
    struct dev *a, *b;
    two_running(f, &a, &b);
    const char *why;
    struct net_sink_params sp = {.name = "sink"};
    struct net_sink *sink = net_sink_create(&sp, &why);
    assert_non_null(sink);
    assert_int_equal(net_switch_add_port(E->sw, net_sink_port(sink), &why), 0);
    struct virtio_net_hdr_v1 h = {0};

    /* Broadcast from a: b and the sink get it; b's buffer holds the header
     * (num_buffers 1) and the frame byte for byte. */
    uint64_t rb = post(b, 0, 2048);
    uint32_t n = eth(BCAST, MAC1, 100, 0xab);
    tx(a, 0, &h, 12, frame_buf, n);
    uint64_t tok;
    assert_int_equal(used1(&b->q[0], &tok), 12 + 100);
    assert_int_equal(tok, rb);
    struct virtio_net_hdr_v1 got;
    memcpy(&got, ptr(rb), 12);
    assert_int_equal(got.num_buffers, 1);
    assert_int_equal(got.flags, 0);
    assert_memory_equal(ptr(rb) + 12, frame_buf, 100);
    struct net_port_counters c;
    net_port_counters(net_sink_port(sink), &c);
    assert_int_equal(c.rx_packets, 1);

    /* b answers a's learned address: only a gets it. */
    uint64_t ra = post(a, 0, 2048);
    n = eth(MAC1, MAC2, 60, 0xcd);
    tx(b, 0, &h, 12, frame_buf, n);
    assert_int_equal(used1(&a->q[0], &tok), 12 + 60);
    assert_int_equal(tok, ra);
    net_port_counters(net_sink_port(sink), &c);
    assert_int_equal(c.rx_packets, 1);

    /* Header and frame in one buffer, and cut inside the MAC addresses:
     * switched and delivered alike. */
    const uint32_t cuts[2] = {12 + 60, 12 + 9};
    for (int i = 0; i < 2; i++) {
        ra = post(a, 0, 2048);
        n = eth(MAC1, MAC2, 60, (uint8_t)(0x30 + i));
        tx_cut(b, 0, &h, 12, frame_buf, n, cuts[i]);
        assert_int_equal(used1(&a->q[0], &tok), 12 + 60);
        assert_int_equal(tok, ra);
        assert_memory_equal(ptr(ra) + 12, frame_buf, 60);
    }
    net_port_counters(net_sink_port(sink), &c);
    assert_int_equal(c.rx_packets, 1);

    /* Mergeable: 1000 bytes into 256-byte buffers take 4 of them. */
    uint64_t small[12];
    for (int i = 0; i < 8; i++)
        small[i] = post(b, 0, 256);
    n = eth(MAC2, MAC1, 1000, 0x5a);
    tx(a, 0, &h, 12, frame_buf, n);
    uint32_t lens[4] = {256, 256, 256, 1012 - 768};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(used1(&b->q[0], &tok), lens[i]);
        assert_int_equal(tok, small[i]);
    }
    memcpy(&got, ptr(small[0]), 12);
    assert_int_equal(got.num_buffers, 4);
    assert_memory_equal(ptr(small[1]), frame_buf + 244, 256);

    /* 1514 bytes need 6 buffers, 4 are left: dropped, and the 4 wait for
     * the next frame, which uses them first, in order. */
    n = eth(MAC2, MAC1, 1514, 0x11);
    tx(a, 0, &h, 12, frame_buf, n);
    counters(b, &c);
    assert_int_equal(c.drops[NET_DROP_NO_BUFFERS], 1);
    assert_false(rx_pending(b, 0));
    for (int i = 8; i < 12; i++)
        small[i] = post(b, 0, 256);
    n = eth(MAC2, MAC1, 1000, 0x22);
    tx(a, 0, &h, 12, frame_buf, n);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(used1(&b->q[0], &tok), lens[i]);
        assert_int_equal(tok, small[4 + i]);
    }
    counters(b, &c);
    assert_int_equal(c.rx_packets, 3);
    net_switch_remove_port(E->sw, net_sink_port(sink));
    net_sink_destroy(sink);
}

/* SEND_RARP after a live migration: the device broadcasts a RARP from the
 * guest's address as if the guest had sent it, and the switch learns that
 * the address is behind this port now (it was behind b). */
static void test_announce(void **state)
{
    (void)state;
    uint64_t f = F_BASE | BIT(VIRTIO_NET_F_MRG_RXBUF);
    struct dev *a, *b;
    two_running(f, &a, &b);
    struct virtio_net_hdr_v1 h = {0};
    uint64_t tok;
    uint64_t ra = post(a, 0, 2048);
    tx(b, 0, &h, 12, frame_buf, eth(BCAST, MAC2, 60, 0x01)); /* MAC2 learned at b */
    assert_int_equal(used1(&a->q[0], &tok), 12 + 60);

    uint64_t rb = post(b, 0, 2048);
    assert_int_equal(a->v->ops->announce(a->v, MAC2), 0);
    assert_int_equal(used1(&b->q[0], &tok), 12 + 60);
    assert_int_equal(tok, rb);
    uint8_t want[60] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0, 0, 0, 2, 0x80, 0x35,
                        0, 1, 0x08, 0, 6, 4, 0, 3, 0x52, 0x54, 0, 0, 0, 2, 0, 0, 0, 0,
                        0x52, 0x54, 0, 0, 0, 2};
    assert_memory_equal(ptr(rb) + 12, want, sizeof(want));
    struct net_dev_state st;
    net_dev_state(a->v, &st);
    assert_int_equal(st.announced, 1);

    /* Unicast to MAC2 now goes to a alone. */
    ra = post(a, 0, 2048);
    rb = post(b, 0, 2048);
    tx(b, 0, &h, 12, frame_buf, eth(MAC2, MAC1, 70, 0x02));
    assert_int_equal(used1(&a->q[0], &tok), 12 + 70);
    assert_int_equal(tok, ra);
    assert_false(rx_pending(b, 0));
}

static void test_hostile_tx(void **state)
{
    (void)state;
    uint64_t f = F_BASE | BIT(VIRTIO_NET_F_MRG_RXBUF);
    struct dev *a, *b;
    two_running(f, &a, &b);
    struct virtio_net_hdr_v1 h = {0};
    uint32_t n = eth(BCAST, MAC1, 60, 1);
    /* Chain shorter than the header. */
    tx(a, 0, &h, 0, frame_buf, 5);
    /* Frame shorter than an Ethernet header. */
    tx(a, 0, &h, 12, frame_buf, 10);
    /* NEEDS_CSUM without CSUM negotiated; GSO without TSO; gso_size 0. */
    h = (struct virtio_net_hdr_v1){.flags = 1, .csum_start = 34, .csum_offset = 6};
    tx(a, 0, &h, 12, frame_buf, n);
    h = (struct virtio_net_hdr_v1){.flags = 1, .gso_type = 1, .gso_size = 0};
    tx(a, 0, &h, 12, frame_buf, n);
    struct net_port_counters c;
    counters(a, &c);
    assert_int_equal(c.drops[NET_DROP_BAD_HEADER], 3);
    assert_int_equal(c.drops[NET_DROP_BAD_LENGTH], 1);
    assert_int_equal(c.tx_packets, 0);
    assert_false(vdev_is_broken(a->v));
    /* The device still works. */
    uint64_t rb = post(b, 0, 2048), tok;
    h = (struct virtio_net_hdr_v1){0};
    tx(a, 0, &h, 12, frame_buf, n);
    assert_int_equal(used1(&b->q[0], &tok), 12 + 60);

    /* Without MRG_RXBUF a frame must fit one buffer; a too-small one is
     * kept for a smaller frame. */
    struct dev *c2 = mkdev(2, 1, F_BASE);
    startq(c2, 0);
    startq(c2, 1);
    uint64_t tiny = post(c2, 0, 100);
    (void)rb;
    n = eth(BCAST, MAC1, 200, 2);
    tx(a, 0, &h, 12, frame_buf, n);
    counters(c2, &c);
    assert_int_equal(c.drops[NET_DROP_SMALL_BUFFER], 1);
    assert_int_equal(c.drops[NET_DROP_NO_BUFFERS], 0);
    n = eth(BCAST, MAC1, 80, 3);
    tx(a, 0, &h, 12, frame_buf, n);
    assert_int_equal(used1(&c2->q[0], &tok), 92);
    assert_int_equal(tok, tiny);

    /* One smaller than the header fits no frame: it stopped the queue for
     * good, every frame after it dropped as small_buffer without a word.
     * The device fails and says why, as it does with MRG_RXBUF. */
    post(c2, 0, 8);
    post(c2, 0, 2048);
    tx(a, 0, &h, 12, frame_buf, n);
    assert_true(vdev_is_broken(c2->v));
    assert_non_null(strstr(c2->v->why, "rx buffer smaller than the virtio-net header"));
    assert_false(vdev_is_broken(a->v));
}

/* One guest's two NICs share its memory, and its driver may post an rx
 * buffer over the frame it is sending: the copy must not be a memcpy of
 * overlapping ranges (undefined; ASan's build reports it). The buffer then
 * holds the header and the frame as sent. */
static void test_rx_overlaps_tx(void **state)
{
    (void)state;
    uint64_t f = F_BASE | BIT(VIRTIO_NET_F_MRG_RXBUF);
    struct dev *a, *b;
    two_running(f, &a, &b);
    struct virtio_net_hdr_v1 h = {0};
    uint32_t n = eth(MAC2, MAC1, 100, 0x77);
    uint64_t g = buf(4096), t = g + 1024, r = t - 6, tok;
    memcpy(ptr(t), &h, 12);
    memcpy(ptr(t) + 12, frame_buf, n);
    /* b's buffer: its header lands before the frame, its frame bytes from
     * 6 bytes into the sender's frame on. */
    struct vu_sg rs = {r, 2048}, ts = {t, 12 + n};
    assert_true(vu_vring_add(&b->q[0].vr, &rs, 0, 1, (void *)(uintptr_t)r) >= 0);
    assert_true(vu_vring_add(&a->q[1].vr, &ts, 1, 0, (void *)(uintptr_t)t) >= 0);
    vu_vring_kick(&a->q[1].vr);
    assert_int_equal(used1(&a->q[1], &tok), 0);
    assert_int_equal(used1(&b->q[0], &tok), 12 + n);
    assert_int_equal(tok, r);
    assert_memory_equal(ptr(r) + 12, frame_buf, n);
    assert_false(vdev_is_broken(b->v));
}

/* A packed tx ring hands chains back in batches (net_tx.c): they must still
 * all come back when the driver pauses, and when the ring stops. */
static void test_packed_tx_returns(void **state)
{
    (void)state;
    uint64_t f = F_BASE | BIT(VIRTIO_F_RING_PACKED);
    struct dev *a = mkdev(0, 1, f);
    startq_packed(a, 0);
    startq_packed(a, 1);
    struct q *q = &a->q[1];
    struct virtio_net_hdr_v1 h = {0};
    uint32_t n = eth(BCAST, MAC1, 60, 1);
    uint64_t g[QNUM];
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 5; i++) {
            g[i] = buf(12 + n);
            memcpy(ptr(g[i]), &h, 12);
            memcpy(ptr(g[i]) + 12, frame_buf, n);
            struct vu_sg sg = {g[i], 12 + n};
            assert_true(vu_vring_add(&q->vr, &sg, 1, 0, (void *)(uintptr_t)g[i]) >= 0);
        }
        vu_vring_kick(&q->vr);
        if (round == 1) /* the stop path forwards and returns what is left */
            a->v->ops->queue_stop(a->v, 1);
        for (int i = 0; i < 5; i++) {
            uint64_t tok;
            assert_int_equal(used1(q, &tok), 0);
            assert_int_equal(tok, g[i]);
        }
    }
    q->on = false;
    vq_fini(&q->vq);
    vu_vring_destroy(&q->vr);
    struct net_port_counters c;
    counters(a, &c);
    assert_int_equal(c.tx_packets, 10);
}

/* Frames a sidecore delivers may be held back from publication for a few
 * of the rx queue's polls (net_rx.c): fewer than the hold-back limit, with
 * nothing after them, must still reach the driver, in order, on a split and
 * on a packed ring, and the sidecore must still go to sleep afterwards. */
static void rx_held_back_reach_driver(bool packed)
{
    uint64_t f = F_BASE | (packed ? BIT(VIRTIO_F_RING_PACKED) : 0);
    struct dev *b = mkdev(1, 1, f);
    for (uint16_t i = 0; i < 2; i++)
        (packed ? startq_packed : startq)(b, i);
    const char *why;
    struct net_sink_params sp = {.name = "src", .mac = {0x52, 0x54, 0, 0, 0, 9},
                                 .source_size = 60, .source_count = 5};
    memcpy(sp.source_dst, MAC2, 6);
    struct net_sink *src = net_sink_create(&sp, &why);
    assert_non_null(src);
    assert_int_equal(net_switch_add_port(E->sw, net_sink_port(src), &why), 0);
    uint64_t rb[8];
    for (int i = 0; i < 8; i++)
        rb[i] = post(b, 0, 2048);
    struct sc_core_stats before, now;
    sc_core_stats(E->scs, 0, &before);
    assert_int_equal(net_sink_start(src, E->scs), 0);
    for (int i = 0; i < 5; i++) {
        uint64_t tok;
        assert_int_equal(used1(&b->q[0], &tok), 12 + 60);
        assert_int_equal(tok, rb[i]);
        assert_int_equal(ptr(rb[i])[12 + 59], ptr(rb[0])[12 + 59]);
    }
    for (int i = 0; i < 5000; i++) {
        sc_core_stats(E->scs, 0, &now);
        if (now.sleeps > before.sleeps)
            break;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    assert_true(now.sleeps > before.sleeps);
    net_sink_stop(src);
    net_switch_remove_port(E->sw, net_sink_port(src));
    net_sink_destroy(src);
}

static void test_rx_held_back_split(void **state)
{
    (void)state;
    rx_held_back_reach_driver(false);
}

static void test_rx_held_back_packed(void **state)
{
    (void)state;
    rx_held_back_reach_driver(true);
}

static void test_filter_and_broken_rx(void **state)
{
    (void)state;
    uint64_t f = F_BASE | BIT(VIRTIO_NET_F_MRG_RXBUF) | BIT(VIRTIO_NET_F_CTRL_VQ) |
                 BIT(VIRTIO_NET_F_CTRL_RX);
    struct dev *a = mkdev(0, 1, f), *b = mkdev(1, 1, f), *c = mkdev(2, 1, f);
    for (int i = 0; i < 2; i++) {
        startq(a, (uint16_t)i);
        startq(b, (uint16_t)i);
        startq(c, (uint16_t)i);
    }
    startq(b, 2);
    assert_int_equal(ctrl(b, 2, (uint8_t[]){0, 0, 0}, 3), VIRTIO_NET_OK); /* promisc off */
    struct virtio_net_hdr_v1 h = {0};
    const uint8_t other[6] = {0x52, 0x54, 0, 0, 0, 0x77};
    uint64_t tok;
    for (int i = 0; i < 4; i++)
        post(b, 0, 2048);
    tx(a, 0, &h, 12, frame_buf, eth(other, MAC1, 60, 1));  /* flooded, not for b */
    tx(a, 0, &h, 12, frame_buf, eth(BCAST, MAC1, 60, 2));  /* broadcast: taken */
    tx(a, 0, &h, 12, frame_buf, eth(MAC2, MAC1, 60, 3));   /* b's own address */
    assert_int_equal(used1(&b->q[0], &tok), 72);
    assert_int_equal(used1(&b->q[0], &tok), 72);
    struct net_port_counters pc;
    counters(b, &pc);
    assert_int_equal(pc.drops[NET_DROP_FILTERED], 1);
    assert_int_equal(pc.rx_packets, 2);

    /* A unicast table admits another address; a malformed table after it
     * is answered ERR and changes nothing: the address is still taken. */
    uint8_t tab[4 + 6 + 4] = {1, 0, 0, 0};
    memcpy(tab + 4, other, 6);
    assert_int_equal(ctrl(b, 2, (uint8_t[]){1, 0}, 2), VIRTIO_NET_ERR); /* no table at all */
    uint8_t cmd[2 + sizeof(tab)] = {1, 0};
    memcpy(cmd + 2, tab, sizeof(tab));
    assert_int_equal(ctrl(b, 2, cmd, sizeof(cmd)), VIRTIO_NET_OK);
    for (int i = 0; i < 4; i++)
        post(b, 0, 2048);
    tx(a, 0, &h, 12, frame_buf, eth(other, MAC1, 60, 6));
    assert_int_equal(used1(&b->q[0], &tok), 72);
    memset(cmd + 2, 0xff, 4); /* a unicast count of 2^32 - 1 */
    assert_int_equal(ctrl(b, 2, cmd, sizeof(cmd)), VIRTIO_NET_ERR);
    tx(a, 0, &h, 12, frame_buf, eth(other, MAC1, 60, 7));
    assert_int_equal(used1(&b->q[0], &tok), 72);
    counters(b, &pc);
    assert_int_equal(pc.drops[NET_DROP_FILTERED], 1);

    /* c posts an rx "buffer" the device cannot write: c fails, a and b go on. */
    struct q *cq = &c->q[0];
    uint64_t g = buf(64);
    struct vu_sg sg = {g, 64};
    assert_true(vu_vring_add(&cq->vr, &sg, 1, 0, (void *)(uintptr_t)g) >= 0);
    tx(a, 0, &h, 12, frame_buf, eth(BCAST, MAC1, 60, 4));
    assert_true(vdev_is_broken(c->v));
    assert_non_null(strstr(c->v->why, "device-writable"));
    assert_false(vdev_is_broken(a->v));
    assert_int_equal(used1(&b->q[0], &tok), 72);
    tx(a, 0, &h, 12, frame_buf, eth(BCAST, MAC1, 60, 5));
    counters(c, &pc);
    assert_true(pc.drops[NET_DROP_LINK_DOWN] >= 1);
}

/* IPv4/TCP frame with 3000 payload bytes, pseudo-header sum in place. */
static uint32_t tcp_frame(void)
{
    uint32_t payload = 3000, len = 14 + 20 + 20 + payload;
    eth(MAC2, MAC1, len, 0);
    uint8_t *ip = frame_buf + 14, *t = ip + 20;
    memset(ip, 0, 40);
    ip[0] = 0x45;
    ip[2] = (uint8_t)((len - 14) >> 8);
    ip[3] = (uint8_t)(len - 14);
    ip[8] = 64;
    ip[9] = 6;
    memcpy(ip + 12, "\x0a\x00\x00\x01\x0a\x00\x00\x02", 8);
    t[12] = 0x50;
    t[13] = 0x18;
    for (uint32_t i = 0; i < payload; i++)
        t[20 + i] = (uint8_t)(i * 7);
    uint32_t s = 0x0a00 + 0x0001 + 0x0a00 + 0x0002 + 6 + 20 + payload;
    t[16] = (uint8_t)(s >> 8);
    t[17] = (uint8_t)s;
    return len;
}

static uint16_t fold_sum(const uint8_t *b, size_t n, uint32_t s)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        s += (uint32_t)(b[i] << 8 | b[i + 1]);
    if (n & 1)
        s += (uint32_t)b[n - 1] << 8;
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)s;
}

static void test_offload_resolution(void **state)
{
    (void)state;
    uint64_t tso = BIT(VIRTIO_NET_F_CSUM) | BIT(VIRTIO_NET_F_HOST_TSO4);
    uint64_t gtso = BIT(VIRTIO_NET_F_GUEST_CSUM) | BIT(VIRTIO_NET_F_GUEST_TSO4);
    uint64_t f = F_BASE | BIT(VIRTIO_NET_F_MRG_RXBUF);
    struct dev *a = mkdev(0, 1, f | tso), *b = mkdev(1, 1, f), *c = mkdev(2, 1, f | gtso);
    for (int i = 0; i < 2; i++) {
        startq(a, (uint16_t)i);
        startq(b, (uint16_t)i);
        startq(c, (uint16_t)i);
    }
    /* MAC2 is not learned yet: the frame floods to b and c. */
    uint64_t rb[3], rc = post(c, 0, 4096), tok;
    for (int i = 0; i < 3; i++)
        rb[i] = post(b, 0, 2048);
    uint32_t n = tcp_frame();
    struct virtio_net_hdr_v1 h = {.flags = 1, .gso_type = 1, .hdr_len = 54, .gso_size = 1000,
                                  .csum_start = 34, .csum_offset = 16};
    tx(a, 0, &h, 12, frame_buf, n);
    /* c (GUEST_TSO4) gets the GSO packet whole, metadata intact. */
    assert_int_equal(used1(&c->q[0], &tok), 12 + n);
    struct virtio_net_hdr_v1 got;
    memcpy(&got, ptr(rc), 12);
    assert_int_equal(got.gso_type, 1);
    assert_int_equal(got.gso_size, 1000);
    assert_int_equal(got.flags, 1);
    /* b (no offloads) gets three checksummed segments. */
    for (int i = 0; i < 3; i++) {
        uint32_t len = used1(&b->q[0], &tok);
        assert_int_equal(tok, rb[i]);
        assert_int_equal(len, 12 + 54 + 1000);
        const uint8_t *p = ptr(rb[i]);
        memcpy(&got, p, 12);
        assert_int_equal(got.gso_type, 0);
        assert_int_equal(got.flags, 0);
        const uint8_t *ip = p + 12 + 14;
        assert_int_equal(fold_sum(ip, 20, 0), 0xffff);
        uint32_t ps = 0x0a00 + 0x0001 + 0x0a00 + 0x0002 + 6 + 20 + 1000;
        assert_int_equal(fold_sum(ip + 20, 1020, ps), 0xffff);
        assert_memory_equal(ip + 40, frame_buf + 54 + 1000 * i, 1000);
    }
    struct net_port_counters pc;
    counters(b, &pc);
    assert_int_equal(pc.rx_packets, 3);
}

/* ---- receive steering ---- */

/* An IPv4 TCP frame between saddr:sport and daddr:dport (last octets of
 * 10.0.0.x) into frame_buf; returns its length. */
static uint32_t flow_frame(const uint8_t *dst, const uint8_t *src, uint8_t saddr, uint8_t daddr,
                          uint16_t sport, uint16_t dport)
{
    uint32_t n = eth(dst, src, 74, 0);
    uint8_t *ip = frame_buf + 14;
    ip[0] = 0x45;
    ip[9] = 6;
    memcpy(ip + 12, (uint8_t[]){10, 0, 0, saddr, 10, 0, 0, daddr}, 8);
    ip[20] = (uint8_t)(sport >> 8);
    ip[21] = (uint8_t)sport;
    ip[22] = (uint8_t)(dport >> 8);
    ip[23] = (uint8_t)dport;
    return n;
}

/* Waits (5 s max) until n frames were delivered over a's two rx queues;
 * got[p] counts pair p's. */
static void drain_pairs(struct dev *a, unsigned n, unsigned got[2])
{
    got[0] = got[1] = 0;
    for (int i = 0; i < 5000 && got[0] + got[1] < n; i++) {
        for (int p = 0; p < 2; p++) {
            void *tok;
            uint32_t len;
            while (vu_vring_get_used(&a->q[p * 2].vr, &tok, &len) == 1)
                got[p]++;
        }
        usleep(1000);
    }
    assert_int_equal(got[0] + got[1], n);
}

/* a: two pairs, MQ and both in use (VQ_PAIRS_SET 2); b: one pair. */
static void mq_and_single(struct dev **a, struct dev **b)
{
    *a = mkdev(0, 2, F_BASE | BIT(VIRTIO_NET_F_CTRL_VQ) | BIT(VIRTIO_NET_F_MQ));
    *b = mkdev(1, 1, F_BASE);
    for (uint16_t i = 0; i < 5; i++)
        startq(*a, i);
    startq(*b, 0);
    startq(*b, 1);
    assert_int_equal(ctrl(*a, 4, (uint8_t[]){4, 0, 2, 0}, 4), VIRTIO_NET_OK);
}

/* virtio 5.1.6.5.6: a flow the driver sent on transmitqX comes back on
 * receiveqX, and follows it when the driver moves the flow; flows it never
 * sent spread over the queues by their hash; frames without IP addresses
 * go by the sender's queue. */
static void test_rx_steering(void **state)
{
    (void)state;
    struct dev *a, *b;
    mq_and_single(&a, &b);
    struct virtio_net_hdr_v1 h = {0};
    uint64_t tok;
    for (int i = 0; i < 4; i++)
        post(b, 0, 2048);

    for (uint16_t pair = 0; pair < 2; pair++) {
        for (uint16_t moved = 0; moved < 2; moved++) {
            uint16_t on = (uint16_t)(pair ^ moved);
            tx(a, on, &h, 12, frame_buf, flow_frame(MAC2, MAC1, 1, 2, 40000 + pair, 80));
            assert_int_equal(used1(&b->q[0], &tok), 12 + 74);
            /* The buffer the other queue keeps serves a later round. */
            post(a, 0, 2048);
            post(a, 1, 2048);
            tx(b, 0, &h, 12, frame_buf, flow_frame(MAC1, MAC2, 2, 1, 80, 40000 + pair));
            assert_int_equal(used1(&a->q[on * 2], &tok), 12 + 74);
            assert_false(rx_pending(a, (uint16_t)!on));
            unsigned got[2];
            post(a, 0, 2048);
            tx(b, 0, &h, 12, frame_buf, eth(MAC1, MAC2, 60, 0x77)); /* not IP: b's pair 0 */
            drain_pairs(a, 1, got);
            assert_int_equal(got[0], 1);
        }
    }

    /* 64 flows a never sent: each lands on one queue, both queues get some. */
    for (int i = 0; i < 40; i++) {
        post(a, 0, 2048);
        post(a, 1, 2048);
    }
    unsigned got[2];
    for (uint16_t i = 0; i < 64; i++)
        tx(b, 0, &h, 12, frame_buf, flow_frame(MAC1, MAC2, 3, 1, (uint16_t)(1000 + i), 22));
    drain_pairs(a, 64, got);
    assert_true(got[0] > 0 && got[1] > 0);
    struct net_port_counters c;
    counters(a, &c);
    assert_int_equal(c.drops[NET_DROP_NO_BUFFERS], 0);
    struct net_dev_state st;
    net_dev_state(a->v, &st);
    assert_int_equal(st.steered_flows, 2); /* the two a sent */

    /* A reset (a new driver, a reconnecting frontend) forgets them. */
    a->v->ops->reset(a->v);
    net_dev_state(a->v, &st);
    assert_int_equal(st.steered_flows, 0);
}

/* A ring restart (QEMU restarts rings one by one to turn dirty logging on
 * as a migration starts) must not move a flow to another queue and back:
 * the guest serves its queues independently and took the flow's frames out
 * of order. Frames for the stopped queue are dropped meanwhile; a queue
 * that stays stopped past the grace (NET_RX_RESTART_NS) hands its flows on. */
static void test_rx_restart_keeps_flows(void **state)
{
    (void)state;
    struct dev *a, *b;
    mq_and_single(&a, &b);
    struct virtio_net_hdr_v1 h = {0};
    uint64_t tok;
    post(b, 0, 2048);
    tx(a, 1, &h, 12, frame_buf, flow_frame(MAC2, MAC1, 1, 2, 40000, 80));
    assert_int_equal(used1(&b->q[0], &tok), 12 + 74);
    for (int i = 0; i < 8; i++)
        post(a, 0, 2048);
    post(a, 1, 2048);

    a->v->ops->queue_stop(a->v, 2);
    vq_fini(&a->q[2].vq);
    vu_vring_destroy(&a->q[2].vr);
    a->q[2].on = false;
    struct net_port_counters c0, c1;
    counters(a, &c0);
    tx(b, 0, &h, 12, frame_buf, flow_frame(MAC1, MAC2, 2, 1, 80, 40000));
    counters(a, &c1);
    assert_int_equal(c1.drops[NET_DROP_LINK_DOWN] - c0.drops[NET_DROP_LINK_DOWN], 1);
    assert_false(rx_pending(a, 0));
    struct net_dev_state st;
    net_dev_state(a->v, &st);
    assert_int_equal(st.active_pairs, 1);

    startq(a, 2);
    post(a, 1, 2048);
    tx(b, 0, &h, 12, frame_buf, flow_frame(MAC1, MAC2, 2, 1, 80, 40000));
    assert_int_equal(used1(&a->q[2], &tok), 12 + 74);
    assert_false(rx_pending(a, 0));

    /* Stopped for good (QEMU disabling the pair looks the same): after the
     * grace the flow goes to pair 0, at most one frame lost on the way. */
    a->v->ops->queue_stop(a->v, 2);
    vq_fini(&a->q[2].vq);
    vu_vring_destroy(&a->q[2].vr);
    a->q[2].on = false;
    usleep(150000); /* the grace is 100 ms */
    counters(a, &c0);
    for (int i = 0; i < 2; i++)
        tx(b, 0, &h, 12, frame_buf, flow_frame(MAC1, MAC2, 2, 1, 80, 40000));
    assert_int_equal(used1(&a->q[0], &tok), 12 + 74);
    counters(a, &c1);
    assert_true(c1.drops[NET_DROP_LINK_DOWN] - c0.drops[NET_DROP_LINK_DOWN] <= 1);
}

/* A filter that lets TCP (protocol 6) through and then, like another vCPU
 * of the sending guest, rewrites the protocol byte in the guest's buffer
 * to ICMP before the receiver copies the frame. */
static uint8_t *racing_byte;
static unsigned tcp_then_icmp(struct net_port_hook *h, struct net_port *p, bool to_port,
                              struct net_pkt *const *pkts, unsigned n, struct net_pkt **out)
{
    (void)h, (void)p, (void)to_port;
    unsigned m = 0;
    for (unsigned i = 0; i < n; i++) {
        uint8_t proto;
        net_iov_read(pkts[i]->iov, pkts[i]->niov, 14 + 9, &proto, 1);
        if (proto == 6)
            out[m++] = pkts[i];
    }
    *racing_byte = 1;
    return m;
}

/* The receiver gets the frame the filter decided on: the guest rewrote its
 * headers between the two and passed ICMP through a filter for TCP only. */
static void test_filter_sees_what_is_delivered(void **state)
{
    (void)state;
    struct dev *a, *b;
    two_running(F_BASE, &a, &b);
    struct net_port_hook hook = {.filter = tcp_then_icmp};
    net_port_set_hook(net_dev_port(a->v), &hook);
    uint64_t rx = post(b, 0, 2048);
    struct virtio_net_hdr_v1 h = {0};
    uint32_t len = flow_frame(MAC2, MAC1, 1, 2, 40000, 80);
    /* The header and the frame split inside the IP header, as a second
     * descriptor: the head copy must splice the rest back on. */
    uint64_t g = buf(12 + len);
    memcpy(ptr(g), &h, 12);
    memcpy(ptr(g) + 12, frame_buf, len);
    racing_byte = ptr(g) + 12 + 14 + 9;
    struct vu_sg sg[2] = {{g, 12 + 20}, {g + 32, len - 20}};
    struct q *q = &a->q[1];
    assert_true(vu_vring_add(&q->vr, sg, 2, 0, (void *)(uintptr_t)g) >= 0);
    vu_vring_kick(&q->vr);
    uint64_t tok;
    assert_int_equal(used1(q, &tok), 0);
    assert_int_equal(used1(&b->q[0], &tok), 12 + len);
    assert_int_equal(tok, rx);
    assert_int_equal(ptr(rx)[12 + 14 + 9], 6);
    assert_memory_equal(ptr(rx) + 12 + 30, frame_buf + 30, len - 30);
}

/* The MTU (1500 here) both ways, virtio 1.2, 5.1.4.1: a frame without GSO
 * may carry the MTU, the Ethernet header and one VLAN tag (1518 bytes),
 * and one byte more is dropped as over_mtu: sent by the guest, or to be
 * received from a port whose frames are longer (a sink sourcing 1600-byte
 * frames); a GSO packet is not held to it. */
static void test_mtu(void **state)
{
    (void)state;
    uint64_t f = F_BASE | BIT(VIRTIO_NET_F_MRG_RXBUF) | BIT(VIRTIO_NET_F_MTU) |
                 BIT(VIRTIO_NET_F_CSUM) | BIT(VIRTIO_NET_F_HOST_TSO4) |
                 BIT(VIRTIO_NET_F_GUEST_CSUM) | BIT(VIRTIO_NET_F_GUEST_TSO4);
    struct dev *a, *b;
    two_running(f, &a, &b);
    struct virtio_net_hdr_v1 h = {0};
    struct net_port_counters c;
    uint64_t tok;

    uint64_t rb = post(b, 0, 4096);
    tx(a, 0, &h, 12, frame_buf, eth(MAC2, MAC1, 1519, 0x41));
    counters(a, &c);
    assert_int_equal(c.drops[NET_DROP_OVER_MTU], 1);
    assert_int_equal(c.tx_packets, 0);
    assert_false(rx_pending(b, 0));
    uint32_t n = eth(MAC2, MAC1, 1518, 0x42);
    frame_buf[12] = 0x81; /* 802.1Q: the tag's 4 bytes are allowed */
    frame_buf[13] = 0x00;
    tx(a, 0, &h, 12, frame_buf, n);
    assert_int_equal(used1(&b->q[0], &tok), 12 + 1518);
    assert_int_equal(tok, rb);

    /* A TSO packet of 3054 bytes is one GSO packet: it crosses whole. */
    rb = post(b, 0, 4096);
    n = tcp_frame();
    struct virtio_net_hdr_v1 g = {.flags = 1, .gso_type = 1, .hdr_len = 54, .gso_size = 1000,
                                  .csum_start = 34, .csum_offset = 16};
    tx(a, 0, &g, 12, frame_buf, n);
    assert_int_equal(used1(&b->q[0], &tok), 12 + n);
    assert_int_equal(tok, rb);

    /* Longer frames to receive, from a source port: dropped at b. */
    const char *why;
    struct net_sink_params sp = {.name = "big", .source_size = 1600, .source_count = 5};
    memcpy(sp.source_dst, MAC2, 6);
    memcpy(sp.mac, (uint8_t[]){0x02, 0, 0, 0, 0, 0x99}, 6);
    struct net_sink *src = net_sink_create(&sp, &why);
    assert_non_null(src);
    assert_int_equal(net_switch_add_port(E->sw, net_sink_port(src), &why), 0);
    assert_int_equal(net_sink_start(src, E->scs), 0);
    for (int i = 0; i < 5000; i++) {
        counters(b, &c);
        if (c.drops[NET_DROP_OVER_MTU] == 5)
            break;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(c.drops[NET_DROP_OVER_MTU], 5);
    assert_false(rx_pending(b, 0));
    net_sink_stop(src);
    net_switch_remove_port(E->sw, net_sink_port(src));
    net_sink_destroy(src);
}

/* A GSO packet segmented for a receiver without TSO: its segments are
 * frames like any, held to the receiver's MTU (1500: 1518-byte frames).
 * A host behind a tap, or a guest with a larger MTU, may send segments
 * longer than that; they reached the driver. */
static void test_mtu_segments(void **state)
{
    (void)state;
    uint64_t f = F_BASE | BIT(VIRTIO_NET_F_MRG_RXBUF);
    struct dev *a = mkdev(0, 1, f | BIT(VIRTIO_NET_F_CSUM) | BIT(VIRTIO_NET_F_HOST_TSO4));
    struct dev *b = mkdev(1, 1, f);
    for (int i = 0; i < 2; i++) {
        startq(a, (uint16_t)i);
        startq(b, (uint16_t)i);
    }
    uint64_t rb[3], tok;
    for (int i = 0; i < 3; i++)
        rb[i] = post(b, 0, 4096);
    uint32_t n = tcp_frame();
    struct virtio_net_hdr_v1 h = {.flags = 1, .gso_type = 1, .hdr_len = 54, .gso_size = 1465,
                                  .csum_start = 34, .csum_offset = 16};
    tx(a, 0, &h, 12, frame_buf, n);
    struct net_port_counters c;
    counters(b, &c);
    assert_int_equal(c.drops[NET_DROP_OVER_MTU], 1);
    assert_int_equal(c.rx_packets, 0);
    assert_false(rx_pending(b, 0));
    /* 1464 bytes a segment: 1518-byte frames, delivered. */
    h.gso_size = 1464;
    tx(a, 0, &h, 12, frame_buf, n);
    for (int i = 0; i < 3; i++) {
        uint32_t len = used1(&b->q[0], &tok);
        assert_int_equal(tok, rb[i]);
        assert_int_equal(len, 12 + 54 + (i < 2 ? 1464 : 3000 - 2 * 1464));
    }
    counters(b, &c);
    assert_int_equal(c.rx_packets, 3);
    assert_int_equal(c.drops[NET_DROP_OVER_MTU], 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ctrl, setup, teardown),
        cmocka_unit_test_setup_teardown(test_switching, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mtu, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mtu_segments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_announce, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_tx, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rx_overlaps_tx, setup, teardown),
        cmocka_unit_test_setup_teardown(test_packed_tx_returns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rx_held_back_split, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rx_held_back_packed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_filter_and_broken_rx, setup, teardown),
        cmocka_unit_test_setup_teardown(test_offload_resolution, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rx_steering, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rx_restart_keeps_flows, setup, teardown),
        /* Last: from the first hook on, every sender copies frame heads. */
        cmocka_unit_test_setup_teardown(test_filter_sees_what_is_delivered, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
