/* The frontend's half of VPRI (src/frontend/vu_vpri.h, vu_overcommit.h)
 * with the device played by the test through the shared channel: LRU
 * eviction order, data surviving swap-out and restore, the eviction
 * handshake (waits for the device's epoch, gives up after its bound and
 * leaves the page in place), serving a fault record, and the DMA-aware
 * policy pinning the most accessed pages under its cap. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "frontend/vu_mem.h"
#include "frontend/vu_overcommit.h"
#include "frontend/vu_vpri.h"

#define PG 4096u
#define FIRST 16u /* managed range: pages FIRST .. FIRST + N */
#define N 64u

struct env {
    struct vu_mem mem;
    struct vu_vpri vp;
    struct vu_oc *oc;
};

static uint8_t *page(struct env *e, unsigned i)
{
    return e->mem.base + (uint64_t)(FIRST + i) * PG;
}

/* The handshake bound is short: only test_handshake_waits expects it to
 * succeed while the device is busy, and it raises it. */
static unsigned quiesce_ms = 30;

static void make(struct env *e, enum vu_oc_policy pol, uint64_t budget, double pin)
{
    struct vu_oc_cfg c = {.mem = &e->mem, .vpri = &e->vp, .gpa = FIRST * PG, .len = N * PG,
                          .budget_pages = budget, .policy = pol, .pin_ratio = pin, .batch = 4,
                          .quiesce_ms = quiesce_ms, .repin_ms = 1};
    assert_int_equal(vu_oc_create(&c, &e->oc), 0);
}

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    assert_non_null(e);
    assert_int_equal(vu_mem_create(&e->mem, 2u << 20), 0);
    assert_int_equal(vu_vpri_create(&e->vp, e->mem.size / PG, 1, 8, 3), 0);
    /* An idle device: its queue is quiet. */
    atomic_store(&e->vp.slots[0].epoch, VPRI_EPOCH_QUIET);
    for (unsigned i = 0; i < N; i++)
        memset(page(e, i), (int)(i + 1), PG);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;
    vu_oc_destroy(e->oc);
    vu_vpri_destroy(&e->vp);
    vu_mem_destroy(&e->mem);
    free(e);
    return 0;
}

static unsigned pa(struct env *e, unsigned i)
{
    return vu_vpri_get(&e->vp, FIRST + i);
}

static void test_lru_and_restore(void **state)
{
    struct env *e = *state;
    struct vu_oc_stats st;
    make(e, VU_OC_LRU, N - 8, 0);
    /* Touch every page but 3, 5, 7, 9 ... so those are the coldest. */
    for (unsigned i = 0; i < N; i++)
        if (i > 16 || i % 2 == 0)
            assert_int_equal(vu_oc_touch(e->oc, (FIRST + i) * PG, 1), 0);
    assert_int_equal(vu_oc_enforce(e->oc), 0);
    vu_oc_get_stats(e->oc, &st);
    assert_int_equal(st.resident, N - 8);
    assert_int_equal(st.evicted, 8);
    for (unsigned i = 0; i < N; i++)
        assert_int_equal(pa(e, i), i <= 16 && i % 2 ? VPRI_PA_NONE : VPRI_PA_RW);
    /* The hole reads as zeros until the page is restored from swap. */
    assert_int_equal(page(e, 3)[0], 0);
    assert_int_equal(vu_oc_touch(e->oc, (FIRST + 3) * PG + 100, 2 * PG), 0);
    for (unsigned i = 3; i <= 5; i++) {
        assert_int_equal(pa(e, i), VPRI_PA_RW);
        for (unsigned k = 0; k < PG; k++)
            if (page(e, i)[k] != i + 1)
                fail_msg("page %u byte %u is %u after restore", i, k, page(e, i)[k]);
    }
    vu_oc_get_stats(e->oc, &st);
    assert_int_equal(st.restored_cpu, 2);
    /* The CPU's restore woke the device. */
    assert_int_equal(atomic_load(&e->vp.ctrl->resolve_gen), 1);
    uint64_t n;
    assert_int_equal(read(e->vp.resolve_fd, &n, sizeof(n)), sizeof(n));
}

static void test_handshake_gives_up(void **state)
{
    struct env *e = *state;
    struct vu_oc_stats st;
    make(e, VU_OC_LRU, N - 4, 0);
    /* A device in a poll round that never ends: no eviction may happen. */
    atomic_store(&e->vp.slots[0].epoch, 10 << 1);
    assert_int_equal(vu_oc_enforce(e->oc), 0);
    vu_oc_get_stats(e->oc, &st);
    assert_int_equal(st.evicted, 0);
    assert_int_equal(st.evict_aborts, 1);
    assert_int_equal(st.resident, N);
    for (unsigned i = 0; i < N; i++)
        assert_int_equal(pa(e, i), VPRI_PA_RW);
    assert_int_equal(page(e, 0)[0], 1);
}

static void *advance(void *arg)
{
    struct env *e = arg;
    struct timespec ts = {0, 5 * 1000 * 1000};
    nanosleep(&ts, NULL);
    atomic_store(&e->vp.slots[0].epoch, 11 << 1); /* one generation: not yet */
    nanosleep(&ts, NULL);
    atomic_store(&e->vp.slots[0].epoch, 12 << 1);
    return NULL;
}

static void test_handshake_waits(void **state)
{
    struct env *e = *state;
    struct vu_oc_stats st;
    pthread_t th;
    quiesce_ms = 20000;
    make(e, VU_OC_LRU, N - 4, 0);
    quiesce_ms = 30;
    atomic_store(&e->vp.slots[0].epoch, 10 << 1);
    assert_int_equal(pthread_create(&th, NULL, advance, e), 0);
    assert_int_equal(vu_oc_enforce(e->oc), 0);
    pthread_join(th, NULL);
    vu_oc_get_stats(e->oc, &st);
    assert_int_equal(st.evicted, 4);
    assert_int_equal(st.evict_aborts, 0);
    assert_true(atomic_load(&e->vp.slots[0].epoch) >> 1 >= 12);
}

static void test_serve_record(void **state)
{
    struct env *e = *state;
    struct vu_oc_stats st;
    make(e, VU_OC_LRU, N - 4, 0);
    assert_int_equal(vu_oc_enforce(e->oc), 0);
    assert_int_equal(pa(e, 0), VPRI_PA_NONE);
    assert_int_equal(pa(e, 1), VPRI_PA_NONE);
    /* The device posts a fault for pages 0 and 1 (one run). */
    struct vpri_rec *r = &e->vp.ring[0];
    r->queue = 0;
    r->access = VPRI_ACC_WRITE;
    r->gpa = FIRST * PG + 8;
    r->len = PG;
    atomic_store(&r->seq, 1);
    /* Budget: the manager evicts others to make room, never the pages just
     * restored (they are the warmest). */
    assert_int_equal(vu_oc_service(e->oc), 1);
    vu_oc_get_stats(e->oc, &st);
    assert_int_equal(st.records, 1);
    assert_int_equal(st.restored_iopf, 2);
    assert_int_equal(pa(e, 0), VPRI_PA_RW);
    assert_int_equal(pa(e, 1), VPRI_PA_RW);
    assert_int_equal(page(e, 1)[PG - 1], 2);
    assert_int_equal(atomic_load(&e->vp.ctrl->cons), 1);
    assert_int_equal(atomic_load(&e->vp.ctrl->resolve_gen), 1);
    assert_int_equal(st.resident, N - 4);
    /* Nothing more to serve. */
    assert_int_equal(vu_oc_service(e->oc), 0);
}

static void test_dma_pins(void **state)
{
    struct env *e = *state;
    struct vu_oc_stats st;
    make(e, VU_OC_DMA, N / 2, 0.1); /* at most 6 pinned */
    for (unsigned i = 0; i < 10; i++)
        atomic_store(&e->vp.dma[FIRST + i], (uint16_t)(100 + i));
    /* The hot pages are also the coldest for LRU: only pins keep them. */
    for (unsigned i = 10; i < N; i++)
        assert_int_equal(vu_oc_touch(e->oc, (FIRST + i) * PG, 1), 0);
    assert_int_equal(vu_oc_service(e->oc), 0);
    vu_oc_get_stats(e->oc, &st);
    assert_int_equal(st.pinned, 6);
    assert_int_equal(st.resident, N / 2);
    for (unsigned i = 0; i < 10; i++)
        assert_int_equal(pa(e, i), i >= 4 ? VPRI_PA_RW : VPRI_PA_NONE);
}

static void test_pin_nothing(void **state)
{
    struct env *e = *state;
    struct vu_oc_stats st;
    make(e, VU_OC_NONE, N / 4, 0.5);
    for (unsigned i = 0; i < 10; i++)
        atomic_store(&e->vp.dma[FIRST + i], 1000);
    assert_int_equal(vu_oc_service(e->oc), 0);
    vu_oc_get_stats(e->oc, &st);
    assert_int_equal(st.pinned, 0);
    assert_int_equal(st.resident, N / 4);
    unsigned nres = 0;
    for (unsigned i = 0; i < N; i++)
        nres += pa(e, i) == VPRI_PA_RW;
    assert_int_equal(nres, N / 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lru_and_restore, setup, teardown),
        cmocka_unit_test_setup_teardown(test_handshake_gives_up, setup, teardown),
        cmocka_unit_test_setup_teardown(test_handshake_waits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_serve_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dma_pins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pin_nothing, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
