/* The frontend's packed ring (src/frontend/vu_vring_packed.c) against the
 * daemon's packed engine (src/virtq) in one process, sharing one memory:
 * many laps with chains, indirect tables and out-of-order completion; both
 * directions of notification suppression; IN_ORDER end to end; and the
 * frontend's rejection of a device that writes bad used descriptors. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#include "frontend/vu_mem.h"
#include "frontend/vu_vring.h"
#include "mem/guestmem.h"
#include "virtq/virtq.h"

#define NUM 10
#define F_BASE ((1ull << VIRTIO_F_RING_PACKED) | (1ull << VIRTIO_RING_F_INDIRECT_DESC))
#define F_EVENT (1ull << VIRTIO_RING_F_EVENT_IDX)
#define F_ORDER (1ull << VIRTIO_F_IN_ORDER)

struct fx {
    struct vu_mem mem;
    struct guestmem gm;
    struct vu_vring vr;
    struct virtq vq;
    uint8_t *data;
    uint64_t data_gpa;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    const char *why;
    assert_int_equal(vu_mem_create(&f->mem, 2 << 20), 0);
    gm_init(&f->gm);
    struct gm_table *t = gm_table_new_empty();
    assert_int_equal(gm_table_add(t, 0, f->mem.size, (uint64_t)(uintptr_t)f->mem.base, 0,
                                  dup(f->mem.fd), &why), 0);
    gm_table_free(gm_publish(&f->gm, t), true);
    f->data = vu_mem_alloc(&f->mem, 64 * 1024, 4096);
    assert_non_null(f->data);
    f->data_gpa = vu_mem_gpa(&f->mem, f->data, 1);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    vq_fini(&f->vq);
    vu_vring_destroy(&f->vr);
    gm_destroy(&f->gm);
    vu_mem_destroy(&f->mem);
    free(f);
    return 0;
}

static void start(struct fx *f, uint64_t features)
{
    struct vu_vring_cfg cfg = {.num = NUM,
                               .event_idx = features & F_EVENT,
                               .indirect = true,
                               .packed = true,
                               .in_order = features & F_ORDER};
    assert_int_equal(vu_vring_init_cfg(&f->vr, &f->mem, &cfg), 0);
    assert_int_equal(vu_vring_start_base(&f->vr), VRING_PACKED_WRAP);
    const struct gm_table *t = gm_current(&f->gm);
    vq_init(&f->vq, NUM, gm_gpa_to_host(t, f->vr.desc_gpa, 16 * NUM),
            gm_gpa_to_host(t, f->vr.avail_gpa, 4), gm_gpa_to_host(t, f->vr.used_gpa, 4),
            (uint16_t)vu_vring_start_base(&f->vr), features, &f->gm);
    assert_null(f->vq.err);
}

struct req {
    struct vq_chain c;
    struct iovec iov[8];
    uint32_t in_bytes;
};

/* Random chains of 1..4 segments (the last one or two device-writable),
 * popped by the engine and completed in reverse or shuffled order. */
static void run_traffic(struct fx *f, unsigned rounds, bool shuffle)
{
    unsigned seed = 7;
    struct req reqs[NUM];
    int tokens[NUM];
    for (unsigned r = 0; r < rounds; r++) {
        unsigned n = 0;
        while (n < NUM) {
            seed = seed * 1103515245u + 12345u;
            unsigned segs = 1 + (seed >> 16) % 4, n_in = segs > 1 ? 1 + (seed >> 20) % 2 : 1;
            struct vu_sg sg[4];
            for (unsigned k = 0; k < segs; k++)
                sg[k] = (struct vu_sg){f->data_gpa + k * 4096, 100 + k};
            int id = vu_vring_add(&f->vr, sg, segs - n_in, n_in, &tokens[n]);
            if (id == -ENOSPC)
                break;
            assert_true(id >= 0);
            n++;
        }
        assert_true(n > 0);
        assert_true(vu_vring_kick(&f->vr) >= 0);
        for (unsigned i = 0; i < n; i++) {
            reqs[i].c = (struct vq_chain){.iov = reqs[i].iov, .max_iov = 8};
            assert_int_equal(vq_pop(&f->vq, &reqs[i].c), 1);
            reqs[i].in_bytes = reqs[i].c.in_len;
        }
        assert_int_equal(vq_pop(&f->vq, &reqs[0].c), 0);
        for (unsigned k = 0; k < n; k++) {
            unsigned i = shuffle ? (k * 3 + r) % n : n - 1 - k;
            if (shuffle && n % 3 == 0)
                i = n - 1 - k; /* k * 3 would not be a permutation */
            vq_push(&f->vq, &reqs[i].c, reqs[i].in_bytes - 1);
        }
        vq_publish(&f->vq);
        for (unsigned k = 0; k < n; k++) {
            void *tok;
            uint32_t len;
            assert_int_equal(vu_vring_get_used(&f->vr, &tok, &len), 1);
            unsigned i = (unsigned)((int *)tok - tokens);
            assert_true(i < n);
            assert_int_equal(len, reqs[i].in_bytes - 1);
        }
        void *tok;
        uint32_t len;
        assert_int_equal(vu_vring_get_used(&f->vr, &tok, &len), 0);
    }
    assert_null(f->vq.err);
    assert_int_equal(f->vr.outstanding, 0);
    assert_int_equal(f->vr.num_free, NUM);
}

static void test_loopback(void **state)
{
    struct fx *f = *state;
    start(f, F_BASE | F_EVENT);
    run_traffic(f, 300, false);
}

static void test_loopback_in_order(void **state)
{
    struct fx *f = *state;
    start(f, F_BASE | F_EVENT | F_ORDER);
    run_traffic(f, 300, true); /* the engine reorders; the frontend checks */
}

static uint64_t drain(int fd)
{
    uint64_t v = 0;
    if (read(fd, &v, sizeof(v)) != sizeof(v))
        return 0;
    return v;
}

static void one(struct fx *f, int *tok)
{
    struct vu_sg sg = {f->data_gpa, 64};
    assert_true(vu_vring_add(&f->vr, &sg, 0, 1, tok) >= 0);
}

static void complete(struct fx *f)
{
    struct req r = {.c = {.iov = r.iov, .max_iov = 8}};
    assert_int_equal(vq_pop(&f->vq, &r.c), 1);
    vq_push(&f->vq, &r.c, 1);
    vq_publish(&f->vq);
}

static void notifications(struct fx *f)
{
    int tok;
    void *t;
    uint32_t len;
    /* Kicks: suppressed while the device polls, sent once it re-arms. */
    vq_set_notify(&f->vq, false);
    one(f, &tok);
    assert_int_equal(vu_vring_kick(&f->vr), 0);
    assert_true(vq_set_notify(&f->vq, true)); /* work is pending */
    complete(f);
    assert_false(vq_set_notify(&f->vq, true));
    one(f, &tok);
    assert_int_equal(vu_vring_kick(&f->vr), 1);
    assert_int_equal(drain(f->vr.kick_fd), 1);
    complete(f);

    /* Interrupts: none while the driver polls, one after it re-arms. */
    assert_int_equal(vu_vring_get_used(&f->vr, &t, &len), 1);
    assert_true(vu_vring_enable_cb(&f->vr) == false); /* one still to reap */
    assert_int_equal(vu_vring_get_used(&f->vr, &t, &len), 1);
    vu_vring_disable_cb(&f->vr);
    one(f, &tok);
    complete(f);
    assert_false(vq_should_notify(&f->vq));
    assert_false(vu_vring_enable_cb(&f->vr));
    assert_int_equal(vu_vring_get_used(&f->vr, &t, &len), 1);
    assert_true(vu_vring_enable_cb(&f->vr));
    one(f, &tok);
    complete(f);
    assert_true(vq_should_notify(&f->vq));
    assert_int_equal(vu_vring_get_used(&f->vr, &t, &len), 1);
}

static void test_notifications_event_idx(void **state)
{
    struct fx *f = *state;
    start(f, F_BASE | F_EVENT);
    notifications(f);
}

static void test_notifications_flags(void **state)
{
    struct fx *f = *state;
    start(f, F_BASE);
    notifications(f);
}

/* The test plays a device writing used descriptors by hand. */
static void dev_used(struct fx *f, uint16_t pos, uint16_t id, uint32_t len)
{
    struct vring_packed_desc *d = &f->vr.pdesc[pos];
    d->id = id;
    d->len = len;
    __atomic_store_n(&d->flags, (uint16_t)(vring_packed_used_flags(true) | VRING_DESC_F_WRITE),
                     __ATOMIC_RELEASE);
}

static void test_hostile_device(void **state)
{
    struct fx *f = *state;
    int tok[2];
    void *t;
    uint32_t len;
    start(f, F_BASE);
    one(f, &tok[0]);
    dev_used(f, 0, NUM, 1);
    assert_int_equal(vu_vring_get_used(&f->vr, &t, &len), -EPROTO);
    assert_int_equal(vu_vring_get_used(&f->vr, &t, &len), -EPIPE);

    vq_fini(&f->vq);
    vu_vring_destroy(&f->vr);
    start(f, F_BASE);
    one(f, &tok[0]);
    dev_used(f, 0, (uint16_t)(NUM - 2), 1); /* an id never handed out */
    assert_int_equal(vu_vring_get_used(&f->vr, &t, &len), -EPROTO);

    vq_fini(&f->vq);
    vu_vring_destroy(&f->vr);
    start(f, F_BASE);
    one(f, &tok[0]);
    dev_used(f, 0, 0, 65); /* id 0 has 64 writable bytes */
    assert_int_equal(vu_vring_get_used(&f->vr, &t, &len), -EPROTO);

    vq_fini(&f->vq);
    vu_vring_destroy(&f->vr);
    start(f, F_BASE | F_ORDER);
    one(f, &tok[0]);
    one(f, &tok[1]);
    dev_used(f, 0, 1, 1); /* id 1, the newer one, first */
    assert_int_equal(vu_vring_get_used(&f->vr, &t, &len), -EPROTO);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_loopback),
        T(test_loopback_in_order),
        T(test_notifications_event_idx),
        T(test_notifications_flags),
        T(test_hostile_device),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
