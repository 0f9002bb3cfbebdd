/* Driver-side split ring (src/frontend/vu_vring.c): descriptor free list,
 * indirect tables, kick suppression and event index math, and rejection of
 * a device that returns bad used entries. The "device" here is the test,
 * writing the used ring by hand. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "frontend/vu_mem.h"
#include "frontend/vu_vring.h"

struct fx {
    struct vu_mem mem;
    struct vu_vring vr;
};

static int setup(void **state)
{
    static struct fx f;
    assert_int_equal(vu_mem_create(&f.mem, 1 << 20), 0);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    vu_vring_destroy(&f->vr);
    vu_mem_destroy(&f->mem);
    return 0;
}

static void dev_used(struct vu_vring *vr, uint32_t id, uint32_t len)
{
    uint16_t i = vr->used->idx;
    vr->used->ring[i & (vr->num - 1)] = (struct vring_used_elem){id, len};
    __atomic_store_n(&vr->used->idx, (uint16_t)(i + 1), __ATOMIC_RELEASE);
}

static uint64_t drain_kick(struct vu_vring *vr)
{
    uint64_t v = 0;
    if (read(vr->kick_fd, &v, sizeof(v)) != sizeof(v))
        return 0;
    return v;
}

static void test_free_list(void **state)
{
    struct fx *f = *state;
    struct vu_vring *vr = &f->vr;
    assert_int_equal(vu_vring_init(vr, &f->mem, 8, false, false), 0);
    int tok[4];
    struct vu_sg sg[3] = {{0x1000, 16}, {0x2000, 4096}, {0x3000, 1}};
    int h0 = vu_vring_add(vr, sg, 1, 2, &tok[0]);
    int h1 = vu_vring_add(vr, sg, 1, 2, &tok[1]);
    assert_true(h0 >= 0 && h1 >= 0 && h0 != h1);
    assert_int_equal(vr->num_free, 2);
    assert_int_equal(vu_vring_add(vr, sg, 1, 2, &tok[2]), -ENOSPC);
    /* Chain layout: out first, then device-writable, NEXT on all but last. */
    struct vring_desc *d = &vr->desc[h0];
    assert_int_equal(d->flags, VRING_DESC_F_NEXT);
    assert_int_equal(d->len, 16);
    d = &vr->desc[d->next];
    assert_int_equal(d->flags, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE);
    d = &vr->desc[d->next];
    assert_int_equal(d->flags, VRING_DESC_F_WRITE);
    assert_int_equal(d->addr, 0x3000);
    assert_int_equal(vr->avail->idx, 2);
    assert_int_equal(vr->avail->ring[0], h0);

    /* Completion out of order returns the right tokens and frees descs. */
    dev_used(vr, (uint32_t)h1, 4097);
    dev_used(vr, (uint32_t)h0, 0);
    void *t;
    uint32_t len;
    assert_int_equal(vu_vring_get_used(vr, &t, &len), 1);
    assert_ptr_equal(t, &tok[1]);
    assert_int_equal(len, 4097);
    assert_int_equal(vu_vring_get_used(vr, &t, &len), 1);
    assert_ptr_equal(t, &tok[0]);
    assert_int_equal(vu_vring_get_used(vr, &t, &len), 0);
    assert_int_equal(vr->num_free, 8);
    /* The whole table is usable again, many times round. */
    for (int round = 0; round < 100; round++) {
        int h[8];
        struct vu_sg one = {0x4000, 512};
        for (int k = 0; k < 8; k++)
            assert_true((h[k] = vu_vring_add(vr, &one, 1, 0, &tok[3])) >= 0);
        assert_int_equal(vu_vring_add(vr, &one, 1, 0, &tok[3]), -ENOSPC);
        for (int k = 7; k >= 0; k--)
            dev_used(vr, (uint32_t)h[k], 0);
        for (int k = 0; k < 8; k++)
            assert_int_equal(vu_vring_get_used(vr, &t, &len), 1);
    }
    assert_int_equal(vr->num_free, 8);
    assert_int_equal(vr->outstanding, 0);
}

static void test_bad_chains(void **state)
{
    struct fx *f = *state;
    struct vu_vring *vr = &f->vr;
    assert_int_equal(vu_vring_init(vr, &f->mem, 3, false, false), -EINVAL);
    assert_int_equal(vu_vring_init(vr, &f->mem, 16, false, false), 0);
    int tok;
    struct vu_sg sg[VU_VRING_MAX_SEGS + 1] = {{0x1000, 0}};
    assert_int_equal(vu_vring_add(vr, sg, 1, 0, &tok), -EINVAL);  /* zero length */
    sg[0].len = 8;
    assert_int_equal(vu_vring_add(vr, sg, 1, 0, NULL), -EINVAL);  /* no token */
    assert_int_equal(vu_vring_add(vr, sg, 0, 0, &tok), -EINVAL);  /* empty */
    for (int i = 0; i <= VU_VRING_MAX_SEGS; i++)
        sg[i] = (struct vu_sg){0x1000, 8};
    assert_int_equal(vu_vring_add(vr, sg, VU_VRING_MAX_SEGS + 1, 0, &tok), -EINVAL);
    assert_int_equal(vr->num_free, 16);
}

static void test_indirect(void **state)
{
    struct fx *f = *state;
    struct vu_vring *vr = &f->vr;
    assert_int_equal(vu_vring_init(vr, &f->mem, 4, false, true), 0);
    int tok[5];
    struct vu_sg sg[3] = {{0x1000, 16}, {0x2000, 8192}, {0x3000, 1}};
    int h[4];
    for (int k = 0; k < 4; k++)
        assert_true((h[k] = vu_vring_add(vr, sg, 2, 1, &tok[k])) >= 0);
    assert_int_equal(vr->num_free, 0);  /* one descriptor per request */
    assert_int_equal(vu_vring_add(vr, sg, 2, 1, &tok[4]), -ENOSPC);
    struct vring_desc *d = &vr->desc[h[2]];
    assert_int_equal(d->flags, VRING_DESC_F_INDIRECT);
    assert_int_equal(d->len, 3 * 16);
    struct vring_desc *t = vu_mem_ptr(&f->mem, d->addr, d->len);
    assert_non_null(t);
    assert_int_equal(t[0].flags, VRING_DESC_F_NEXT);
    assert_int_equal(t[0].next, 1);
    assert_int_equal(t[1].flags, VRING_DESC_F_NEXT);
    assert_int_equal(t[1].len, 8192);
    assert_int_equal(t[2].flags, VRING_DESC_F_WRITE);
    /* Writable bytes of the chain = 1: the device may not claim more. */
    dev_used(vr, (uint32_t)h[2], 1);
    void *tk;
    uint32_t len;
    assert_int_equal(vu_vring_get_used(vr, &tk, &len), 1);
    assert_ptr_equal(tk, &tok[2]);
    assert_int_equal(vr->num_free, 1);
    /* A single segment goes direct even with INDIRECT on. */
    assert_true((h[2] = vu_vring_add(vr, sg, 1, 0, &tok[2])) >= 0);
    assert_int_equal(vr->desc[h[2]].flags, 0);
    assert_int_equal(vr->desc[h[2]].addr, 0x1000);
}

static void test_event_idx_math(void **state)
{
    (void)state;
    /* Notify when the new index passes the event index (wrap-safe). */
    assert_true(vring_need_event(0, 1, 0));
    assert_false(vring_need_event(1, 1, 0));
    assert_true(vring_need_event(1, 2, 0));
    assert_true(vring_need_event(5, 10, 3));
    assert_false(vring_need_event(10, 10, 3));
    assert_true(vring_need_event(0xffff, 0x0001, 0xfffe));
    assert_false(vring_need_event(0x0005, 0x0001, 0xfffe));
    assert_false(vring_need_event(7, 7, 7));
}

static void test_kick_suppression(void **state)
{
    struct fx *f = *state;
    struct vu_vring *vr = &f->vr;
    int tok;
    struct vu_sg sg = {0x1000, 512};
    /* Without EVENT_IDX: the device's NO_NOTIFY flag decides. */
    assert_int_equal(vu_vring_init(vr, &f->mem, 8, false, false), 0);
    assert_int_equal(vu_vring_kick(vr), 0); /* nothing new */
    vu_vring_add(vr, &sg, 1, 0, &tok);
    assert_int_equal(vu_vring_kick(vr), 1);
    assert_int_equal(drain_kick(vr), 1);
    vr->used->flags = VRING_USED_F_NO_NOTIFY;
    vu_vring_add(vr, &sg, 1, 0, &tok);
    assert_int_equal(vu_vring_kick(vr), 0);
    assert_int_equal(drain_kick(vr), 0);
    vu_vring_destroy(vr);

    /* With EVENT_IDX: kick only when avail idx crosses avail_event. */
    assert_int_equal(vu_vring_init(vr, &f->mem, 8, true, false), 0);
    *vu_vring_avail_event(vr) = 0; /* device wants a kick after entry 0 */
    vu_vring_add(vr, &sg, 1, 0, &tok);
    vu_vring_add(vr, &sg, 1, 0, &tok);
    assert_int_equal(vu_vring_kick(vr), 1);  /* 0 -> 2 crosses 0 */
    *vu_vring_avail_event(vr) = 5;           /* device polls until idx 6 */
    vu_vring_add(vr, &sg, 1, 0, &tok);
    assert_int_equal(vu_vring_kick(vr), 0);  /* 2 -> 3 */
    vu_vring_add(vr, &sg, 1, 0, &tok);
    vu_vring_add(vr, &sg, 1, 0, &tok);
    vu_vring_add(vr, &sg, 1, 0, &tok);
    assert_int_equal(vu_vring_kick(vr), 1);  /* 3 -> 6 crosses 5 */
    assert_int_equal(vr->kicks, 2);
    assert_int_equal(vr->kicks_suppressed, 1);
    assert_int_equal(drain_kick(vr), 2);
}

static void test_callback_control(void **state)
{
    struct fx *f = *state;
    struct vu_vring *vr = &f->vr;
    int tok;
    struct vu_sg sg = {0x1000, 512};
    assert_int_equal(vu_vring_init(vr, &f->mem, 8, true, false), 0);
    vu_vring_disable_cb(vr);
    assert_int_equal(*vu_vring_used_event(vr), 0x8000); /* far away: no interrupt */
    int h = vu_vring_add(vr, &sg, 0, 1, &tok);
    assert_true(vu_vring_enable_cb(vr));
    assert_int_equal(*vu_vring_used_event(vr), 0);
    dev_used(vr, (uint32_t)h, 512);
    assert_false(vu_vring_enable_cb(vr)); /* completion raced in: reap first */
    void *t;
    uint32_t len;
    assert_int_equal(vu_vring_get_used(vr, &t, &len), 1);
    assert_int_equal(*vu_vring_used_event(vr), 1);
    vu_vring_destroy(vr);

    assert_int_equal(vu_vring_init(vr, &f->mem, 8, false, false), 0);
    vu_vring_disable_cb(vr);
    assert_int_equal(vr->avail->flags, VRING_AVAIL_F_NO_INTERRUPT);
    assert_true(vu_vring_enable_cb(vr));
    assert_int_equal(vr->avail->flags, 0);
}

static void expect_broken(struct vu_vring *vr)
{
    void *t;
    uint32_t len;
    assert_int_equal(vu_vring_get_used(vr, &t, &len), -EPROTO);
    assert_int_equal(vu_vring_get_used(vr, &t, &len), -EPIPE);
    struct vu_sg sg = {0x1000, 512};
    assert_int_equal(vu_vring_add(vr, &sg, 1, 0, &len), -EPIPE);
}

static void test_hostile_device(void **state)
{
    struct fx *f = *state;
    struct vu_vring *vr = &f->vr;
    int tok;
    struct vu_sg sg[2] = {{0x1000, 16}, {0x2000, 512}};

    /* id out of range */
    assert_int_equal(vu_vring_init(vr, &f->mem, 8, false, false), 0);
    vu_vring_add(vr, sg, 1, 1, &tok);
    dev_used(vr, 8, 0);
    expect_broken(vr);
    vu_vring_destroy(vr);

    /* id in range but not outstanding (double completion) */
    assert_int_equal(vu_vring_init(vr, &f->mem, 8, false, false), 0);
    int h = vu_vring_add(vr, sg, 1, 1, &tok);
    vu_vring_add(vr, sg, 1, 1, &tok);
    dev_used(vr, (uint32_t)h, 0);
    dev_used(vr, (uint32_t)h, 0);
    void *t;
    uint32_t len;
    assert_int_equal(vu_vring_get_used(vr, &t, &len), 1);
    expect_broken(vr);
    vu_vring_destroy(vr);

    /* length beyond the chain's writable bytes */
    assert_int_equal(vu_vring_init(vr, &f->mem, 8, false, false), 0);
    h = vu_vring_add(vr, sg, 1, 1, &tok);
    dev_used(vr, (uint32_t)h, 513);
    expect_broken(vr);
    vu_vring_destroy(vr);

    /* used idx runs ahead of what is outstanding */
    assert_int_equal(vu_vring_init(vr, &f->mem, 8, false, false), 0);
    h = vu_vring_add(vr, sg, 1, 1, &tok);
    vr->used->ring[0] = (struct vring_used_elem){(uint32_t)h, 0};
    vr->used->idx = 5;
    expect_broken(vr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_free_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_chains, setup, teardown),
        cmocka_unit_test_setup_teardown(test_indirect, setup, teardown),
        cmocka_unit_test(test_event_idx_math),
        cmocka_unit_test_setup_teardown(test_kick_suppression, setup, teardown),
        cmocka_unit_test_setup_teardown(test_callback_control, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_device, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
