/* The per-queue VPRI data path (src/vpri/vpri_queue.h, vpri_dev.h) over a
 * map and channel built in plain memory: chain checks across adjacent
 * buffers (as a chain spanning two memory regions has), the eviction
 * epochs, fault posting with a full ring (retried, never dropped), hostile
 * consumer indices, the bounded park list and resumption. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "mem/guestmem.h"
#include "vpri/vpri_queue.h"
#include "vpri_plain.h"

#define NPAGES 64u
#define ENTRIES 4u
#define NQ 2u
#define PG VPRI_PAGE_SIZE

struct env {
    struct guestmem gm;
    struct vpri_plain vp;
    struct vpri_q q;
    struct iovec iov[4];
    uint64_t gpa[4];
    struct vq_chain c;
    int resumed;
};

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    assert_non_null(e);
    vpri_plain_init(&e->vp, NPAGES, NQ, ENTRIES, 77);
    gm_init(&e->gm);
    atomic_store(&e->gm.vpri, &e->vp.dev);
    /* Two readable buffers back to back over a page boundary (a buffer split
     * at a region boundary becomes two such iovecs), one writable. */
    e->gpa[0] = 9 * PG + 100;
    e->iov[0].iov_len = PG - 100;
    e->gpa[1] = 10 * PG;
    e->iov[1].iov_len = 512;
    e->gpa[2] = 20 * PG + 4000;
    e->iov[2].iov_len = 200; /* spans pages 20 and 21 */
    e->c.iov = e->iov;
    e->c.gpa = e->gpa;
    e->c.max_iov = 4;
    e->c.n_out = 2;
    e->c.n_in = 1;
    vpri_q_bind(&e->q, &e->gm, 1);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;
    vpri_q_unbind(&e->q);
    atomic_store(&e->gm.vpri, NULL);
    gm_destroy(&e->gm);
    vpri_plain_free(&e->vp);
    free(e);
    return 0;
}

static uint64_t epoch(struct env *e)
{
    return atomic_load(&e->vp.chan.slots[1].epoch);
}

static void test_bind_off(void **state)
{
    struct env *e = *state;
    struct vpri_q off;
    struct vpri_miss m;
    struct guestmem gm;
    gm_init(&gm);
    vpri_q_bind(&off, &gm, 0);
    assert_false(vpri_q_on(&off));
    vpri_pa_set(e->vp.map.bits, 10, VPRI_PA_NONE);
    assert_int_equal(vpri_q_check(&off, &e->c, &m), VPRI_RESIDENT);
    assert_int_equal(vpri_q_begin(&off, &e->c), VPRI_NO_TAG);
    gm_destroy(&gm);
    /* A queue index without a slot leaves VPRI off too. */
    vpri_q_bind(&off, &e->gm, NQ);
    assert_false(vpri_q_on(&off));
}

static void test_chain_check(void **state)
{
    struct env *e = *state;
    struct vpri_miss m;
    assert_true(vpri_q_on(&e->q));
    assert_int_equal(vpri_q_check(&e->q, &e->c, &m), VPRI_RESIDENT);
    vpri_pa_set(e->vp.map.bits, 10, VPRI_PA_NONE);
    assert_int_equal(vpri_q_check(&e->q, &e->c, &m), VPRI_MISS);
    assert_int_equal(m.gpa, 10 * PG);
    assert_int_equal(m.len, 512);
    assert_int_equal(m.access, VPRI_ACC_READ);
    vpri_pa_set(e->vp.map.bits, 10, VPRI_PA_RO);
    assert_int_equal(vpri_q_check(&e->q, &e->c, &m), VPRI_RESIDENT);
    /* The writable buffer's second page is read-only: the device may not write. */
    vpri_pa_set(e->vp.map.bits, 21, VPRI_PA_RO);
    assert_int_equal(vpri_q_check(&e->q, &e->c, &m), VPRI_MISS);
    assert_int_equal(m.gpa, 21 * PG);
    assert_int_equal(m.len, 4000 + 200 - PG);
    assert_int_equal(m.access, VPRI_ACC_WRITE);
    e->gpa[2] = NPAGES * PG - 100;
    assert_int_equal(vpri_q_check(&e->q, &e->c, &m), VPRI_OUTSIDE);
    assert_int_equal(atomic_load(&e->vp.chan.slots[1].lookups), 5);
}

static void test_dma_counts(void **state)
{
    struct env *e = *state;
    uint8_t tag = vpri_q_begin(&e->q, &e->c);
    vpri_q_end(&e->q, tag);
    tag = vpri_q_begin(&e->q, &e->c);
    vpri_q_end(&e->q, tag);
    assert_int_equal(atomic_load(&e->vp.map.dma[9]), 2);
    assert_int_equal(atomic_load(&e->vp.map.dma[10]), 2);
    assert_int_equal(atomic_load(&e->vp.map.dma[20]), 2);
    assert_int_equal(atomic_load(&e->vp.map.dma[21]), 2);
    assert_int_equal(atomic_load(&e->vp.map.dma[11]), 0);
    atomic_store(&e->vp.map.dma[9], VPRI_DMA_MAX);
    vpri_q_end(&e->q, vpri_q_begin(&e->q, &e->c));
    assert_int_equal(atomic_load(&e->vp.map.dma[9]), VPRI_DMA_MAX); /* saturates */
}

/* The owner's view: after clearing bits it reads epoch g; it may evict once
 * the slot is quiet or gen >= g + 2, which must not happen while a request
 * admitted before is in flight. */
static void test_epochs(void **state)
{
    struct env *e = *state;
    assert_true(epoch(e) & VPRI_EPOCH_QUIET); /* bound, not polled yet */
    vpri_q_enter(&e->q);
    assert_false(epoch(e) & VPRI_EPOCH_QUIET);
    uint8_t tag = vpri_q_begin(&e->q, &e->c);
    uint64_t g = epoch(e) >> 1;
    for (int round = 0; round < 5; round++) {
        vpri_q_leave(&e->q);
        vpri_q_enter(&e->q);
        assert_true((epoch(e) >> 1) < g + 2);
        assert_false(vpri_q_sleeping(&e->q)); /* in flight: not quiet */
        assert_false(epoch(e) & VPRI_EPOCH_QUIET);
    }
    /* A request admitted later, under gen g + 1, does not hold back g + 2. */
    uint8_t tag2 = vpri_q_begin(&e->q, &e->c);
    vpri_q_end(&e->q, tag);
    vpri_q_leave(&e->q);
    assert_true((epoch(e) >> 1) >= g + 2);
    uint64_t g2 = epoch(e) >> 1;
    vpri_q_leave(&e->q);
    assert_int_equal(epoch(e) >> 1, g2); /* tag2 (gen g + 1) holds back g + 3 */
    vpri_q_end(&e->q, tag2);
    vpri_q_leave(&e->q);
    assert_int_equal(epoch(e) >> 1, g2 + 2);
    assert_false(vpri_q_sleeping(&e->q));
    assert_true(epoch(e) & VPRI_EPOCH_QUIET);
}

static void rec_ok(struct env *e, uint64_t t, uint64_t gpa, uint8_t acc)
{
    struct vpri_rec *r = &e->vp.chan.ring[t % ENTRIES];
    assert_int_equal(atomic_load(&r->seq), (uint32_t)(t + 1));
    assert_int_equal(r->queue, 1);
    assert_int_equal(r->device, 77);
    assert_int_equal(r->gpa, gpa);
    assert_int_equal(r->access, acc);
}

static const struct vq_chain *chain_of(void *req)
{
    return req;
}

static bool resume(void *req, void *ctx)
{
    struct env *e = ctx;
    (void)req;
    e->resumed++;
    return true;
}

static void test_post_full_ring_and_resume(void **state)
{
    struct env *e = *state;
    struct vpri_miss m;
    const char *why = NULL;
    struct vq_chain chains[6];
    vpri_pa_set(e->vp.map.bits, 10, VPRI_PA_NONE);
    for (int i = 0; i < 6; i++) {
        chains[i] = e->c;
        assert_int_equal(vpri_q_check(&e->q, &chains[i], &m), VPRI_MISS);
        assert_int_equal(vpri_park(&e->q, &chains[i], &m), 0);
    }
    for (uint64_t t = 0; t < ENTRIES; t++)
        rec_ok(e, t, 10 * PG, VPRI_ACC_READ);
    uint64_t ev;
    assert_int_equal(read(e->vp.chan.fault_fd, &ev, sizeof(ev)), sizeof(ev));
    assert_int_equal(ev, ENTRIES);
    assert_int_equal(atomic_load(&e->vp.chan.slots[1].faults), ENTRIES);
    assert_int_equal(atomic_load(&e->vp.chan.slots[1].ring_full), 2);
    assert_int_equal(atomic_load(&e->vp.chan.slots[1].parked), 6);
    /* Unposted requests keep the sidecore awake until they are posted. */
    assert_true(vpri_q_sleeping(&e->q));
    assert_false(vpri_park_due(&e->q));
    /* The frontend handles two records without making the page resident
     * (evicted again at once): those two requests get new records, and the
     * two that never got one are posted now, as far as the ring allows. */
    atomic_store(&e->vp.chan.ctrl->cons, 2);
    assert_true(vpri_park_due(&e->q));
    assert_int_equal(vpri_park_scan(&e->q, chain_of, resume, e, &why), 0);
    assert_int_equal(atomic_load(&e->vp.chan.slots[1].faults), ENTRIES + 2);
    rec_ok(e, 4, 10 * PG, VPRI_ACC_READ);
    rec_ok(e, 5, 10 * PG, VPRI_ACC_READ);
    assert_false(vpri_park_due(&e->q));
    /* Resolution: everything parked resumes. */
    vpri_pa_set(e->vp.map.bits, 10, VPRI_PA_RW);
    atomic_fetch_add(&e->vp.chan.ctrl->resolve_gen, 1);
    assert_true(vpri_park_due(&e->q));
    assert_int_equal(vpri_park_scan(&e->q, chain_of, resume, e, &why), 6);
    assert_int_equal(e->resumed, 6);
    assert_int_equal(e->q.park.n, 0);
    assert_int_equal(atomic_load(&e->vp.chan.slots[1].parked), 0);
    assert_int_equal(atomic_load(&e->vp.chan.slots[1].resumed), 6);
}

static void test_hostile_consumer(void **state)
{
    struct env *e = *state;
    struct vpri_miss m;
    const char *why = NULL;
    vpri_pa_set(e->vp.map.bits, 10, VPRI_PA_NONE);
    assert_int_equal(vpri_q_check(&e->q, &e->c, &m), VPRI_MISS);
    assert_int_equal(vpri_park(&e->q, &e->c, &m), 0);
    /* Far behind: the ring looks full, nothing breaks. */
    atomic_store(&e->vp.chan.ctrl->cons, (uint64_t)-1000);
    assert_int_equal(vpri_handled(&e->vp.dev), (uint64_t)-1000);
    uint64_t t;
    assert_int_equal(vpri_post(&e->vp.dev, 1, VPRI_ACC_READ, 0, 1, 0, &t), -EAGAIN);
    /* Ahead of every ticket handed out: a violation, and handled() clamps. */
    atomic_store(&e->vp.chan.ctrl->cons, 5);
    assert_int_equal(vpri_handled(&e->vp.dev), 1);
    assert_int_equal(vpri_post(&e->vp.dev, 1, VPRI_ACC_READ, 0, 1, 0, &t), -EPROTO);
    assert_true(vpri_park_due(&e->q));
    assert_int_equal(vpri_park_scan(&e->q, chain_of, resume, e, &why), -1);
    assert_non_null(why);
}

static void test_park_full(void **state)
{
    struct env *e = *state;
    struct vpri_miss m;
    vpri_pa_set(e->vp.map.bits, 10, VPRI_PA_NONE);
    assert_int_equal(vpri_q_check(&e->q, &e->c, &m), VPRI_MISS);
    for (unsigned i = 0; i < VPRI_PARK_MAX; i++) {
        assert_false(vpri_park_full(&e->q));
        assert_int_equal(vpri_park(&e->q, &e->c, &m), 0);
    }
    assert_true(vpri_park_full(&e->q));
    assert_int_equal(atomic_load(&e->vp.chan.slots[1].parked), VPRI_PARK_MAX);
    /* The ring holds 4; the rest wait to be posted, none is lost. */
    assert_int_equal(atomic_load(&e->vp.chan.slots[1].faults), ENTRIES);
    unsigned n = 0;
    while (vpri_park_pop(&e->q))
        n++;
    assert_int_equal(n, VPRI_PARK_MAX);
    assert_false(vpri_park_full(&e->q));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bind_off, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chain_check, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dma_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_epochs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_post_full_ring_and_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_consumer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_park_full, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
