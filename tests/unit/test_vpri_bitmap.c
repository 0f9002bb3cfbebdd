/* PA-BITMAP encoding and lookups (src/vpri/vpri_abi.h, vpri_bitmap.h):
 * the 2-bit encoding as the frontend writes it, single-page and
 * page-spanning buffers, runs across 64-bit word boundaries, read versus
 * write access (3 counts as read-write), the first missing run clipped to
 * the buffer, and ranges that reach past the bitmap or wrap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vpri/vpri_bitmap.h"

#define NPAGES 200u
#define PG VPRI_PAGE_SIZE

static _Atomic uint64_t bits[(NPAGES + 31) / 32];

static void fill(unsigned pa)
{
    for (uint64_t p = 0; p < NPAGES; p++)
        vpri_pa_set(bits, p, pa);
}

static enum vpri_verdict check(uint64_t gpa, uint64_t len, bool write, uint64_t *mg,
                               uint64_t *ml)
{
    *mg = *ml = 0;
    return vpri_range_check(bits, NPAGES, gpa, len, write, mg, ml);
}

static void test_encoding(void **state)
{
    (void)state;
    memset(bits, 0, sizeof(bits));
    vpri_pa_set(bits, 0, VPRI_PA_RO);
    vpri_pa_set(bits, 1, VPRI_PA_RW);
    vpri_pa_set(bits, 2, VPRI_PA_RW_ALT);
    vpri_pa_set(bits, 33, VPRI_PA_RW);
    /* Page p is bits 2*(p%32) of word p/32, little end first. */
    assert_int_equal(atomic_load(&bits[0]), 0x1ull | 0x2ull << 2 | 0x3ull << 4);
    assert_int_equal(atomic_load(&bits[1]), 0x2ull << 2);
    assert_int_equal(vpri_pa_get(bits, 2), 3);
    vpri_pa_set(bits, 2, VPRI_PA_NONE);
    assert_int_equal(vpri_pa_get(bits, 2), 0);
    assert_int_equal(vpri_pa_get(bits, 1), 2);
    assert_int_equal(vpri_bitmap_bytes(1), 8);
    assert_int_equal(vpri_bitmap_bytes(32), 8);
    assert_int_equal(vpri_bitmap_bytes(33), 16);
    assert_int_equal(vpri_table_offset(33), 4096);
    assert_int_equal(vpri_map_bytes(33), 8192);
}

static void test_access_kinds(void **state)
{
    uint64_t mg, ml;
    (void)state;
    fill(VPRI_PA_RO);
    assert_int_equal(check(5 * PG + 10, 100, false, &mg, &ml), VPRI_RESIDENT);
    assert_int_equal(check(5 * PG + 10, 100, true, &mg, &ml), VPRI_MISS);
    assert_int_equal(mg, 5 * PG + 10);
    assert_int_equal(ml, 100);
    fill(VPRI_PA_RW_ALT);
    assert_int_equal(check(5 * PG, PG, true, &mg, &ml), VPRI_RESIDENT);
    fill(VPRI_PA_NONE);
    assert_int_equal(check(5 * PG, 1, false, &mg, &ml), VPRI_MISS);
    assert_int_equal(check(0, 0, true, &mg, &ml), VPRI_RESIDENT); /* empty buffer */
}

static void test_spanning_and_runs(void **state)
{
    uint64_t mg, ml;
    (void)state;
    fill(VPRI_PA_RW);
    /* A buffer over pages 30..34 crosses the word boundary at 32. */
    assert_int_equal(check(30 * PG + 100, 4 * PG, true, &mg, &ml), VPRI_RESIDENT);
    vpri_pa_set(bits, 32, VPRI_PA_NONE);
    vpri_pa_set(bits, 33, VPRI_PA_RO);
    assert_int_equal(check(30 * PG + 100, 4 * PG, false, &mg, &ml), VPRI_MISS);
    assert_int_equal(mg, 32 * PG);
    assert_int_equal(ml, PG); /* page 33 is readable: the run stops there */
    assert_int_equal(check(30 * PG + 100, 4 * PG, true, &mg, &ml), VPRI_MISS);
    assert_int_equal(mg, 32 * PG);
    assert_int_equal(ml, 2 * PG);
    /* A run that lasts to the end of the buffer is clipped to it. */
    fill(VPRI_PA_RW);
    for (uint64_t p = 60; p < 100; p++)
        vpri_pa_set(bits, p, VPRI_PA_NONE);
    assert_int_equal(check(50 * PG, 20 * PG + 7, true, &mg, &ml), VPRI_MISS);
    assert_int_equal(mg, 60 * PG);
    assert_int_equal(ml, 10 * PG + 7);
    /* A buffer starting inside a missing page reports from its own start. */
    assert_int_equal(check(61 * PG + 5, 3 * PG, false, &mg, &ml), VPRI_MISS);
    assert_int_equal(mg, 61 * PG + 5);
    assert_int_equal(ml, 3 * PG);
    /* A run spanning two whole words and ending in a third. */
    assert_int_equal(check(0, NPAGES * PG, true, &mg, &ml), VPRI_MISS);
    assert_int_equal(mg, 60 * PG);
    assert_int_equal(ml, 40 * PG);
}

static void test_outside(void **state)
{
    uint64_t mg, ml;
    (void)state;
    fill(VPRI_PA_RW);
    assert_int_equal(check((NPAGES - 1) * PG, PG, true, &mg, &ml), VPRI_RESIDENT);
    assert_int_equal(check((NPAGES - 1) * PG, PG + 1, true, &mg, &ml), VPRI_OUTSIDE);
    assert_int_equal(check(NPAGES * PG, 1, false, &mg, &ml), VPRI_OUTSIDE);
    assert_int_equal(check(UINT64_MAX - 10, 100, false, &mg, &ml), VPRI_OUTSIDE);
    assert_int_equal(check(UINT64_MAX, 1, false, &mg, &ml), VPRI_OUTSIDE);
}

/* Every single-page and two-page buffer against a random bitmap, compared
 * with a page-by-page reference. */
static void test_against_reference(void **state)
{
    uint64_t x = 12345, mg, ml;
    (void)state;
    for (uint64_t p = 0; p < NPAGES; p++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        vpri_pa_set(bits, p, (unsigned)(x % 8 < 5 ? 2 + x % 2 : x % 2));
    }
    for (uint64_t gpa = 0; gpa < (NPAGES - 3) * PG; gpa += PG / 2 + 1) {
        for (uint64_t len = 1; len < 3 * PG; len += PG / 3) {
            for (int w = 0; w < 2; w++) {
                uint64_t first = UINT64_MAX, last = 0;
                for (uint64_t p = gpa / PG; p <= (gpa + len - 1) / PG; p++) {
                    unsigned pa = vpri_pa_get(bits, p);
                    bool ok = w ? (pa & 2) : pa != 0;
                    if (!ok && first == UINT64_MAX)
                        first = last = p;
                    else if (!ok && last == p - 1 && first != UINT64_MAX)
                        last = p;
                    else if (ok && first != UINT64_MAX && last == p - 1)
                        break;
                }
                enum vpri_verdict v = check(gpa, len, w, &mg, &ml);
                if (first == UINT64_MAX) {
                    assert_int_equal(v, VPRI_RESIDENT);
                    continue;
                }
                assert_int_equal(v, VPRI_MISS);
                uint64_t s = first * PG > gpa ? first * PG : gpa;
                uint64_t e = (last + 1) * PG < gpa + len ? (last + 1) * PG : gpa + len;
                assert_int_equal(mg, s);
                assert_int_equal(ml, e - s);
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encoding),
        cmocka_unit_test(test_access_kinds),
        cmocka_unit_test(test_spanning_and_runs),
        cmocka_unit_test(test_outside),
        cmocka_unit_test(test_against_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
