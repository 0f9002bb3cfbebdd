/* sidecore-bench's pure helpers: the log-linear latency histogram and the
 * verification pattern. The bench is a program, not a library, so its two
 * self-contained sources are compiled into this test directly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../bench/hist.c"
#include "../../bench/verify.c"

static void test_hist_buckets(void **state)
{
    (void)state;
    /* Exact below 32, monotonic, and each value inside its bucket. */
    for (uint64_t v = 0; v < 32; v++)
        assert_int_equal(hist_index(v), v);
    unsigned prev = 0;
    for (uint64_t v = 1; v < (1ull << 40); v += v / 7 + 1) {
        unsigned i = hist_index(v);
        assert_true(i >= prev);
        assert_true(i < HIST_BUCKETS);
        assert_true(hist_bucket_lo(i) <= v);
        if (i + 1 < HIST_BUCKETS)
            assert_true(v < hist_bucket_lo(i + 1));
        prev = i;
    }
    assert_int_equal(hist_index(UINT64_MAX), HIST_BUCKETS - 1);
}

static void test_hist_percentiles(void **state)
{
    (void)state;
    static struct hist h;
    hist_init(&h);
    assert_int_equal(hist_pct(&h, 0.5), 0);
    /* 1..100000 ns uniformly: p50 ~ 50000, p99 ~ 99000, within 3%. */
    for (uint64_t v = 1; v <= 100000; v++)
        hist_add(&h, v);
    assert_int_equal(h.count, 100000);
    assert_int_equal(h.min, 1);
    assert_int_equal(h.max, 100000);
    double p50 = (double)hist_pct(&h, 0.5), p99 = (double)hist_pct(&h, 0.99);
    double p999 = (double)hist_pct(&h, 0.999);
    assert_true(p50 > 50000 * 0.97 && p50 < 50000 * 1.03);
    assert_true(p99 > 99000 * 0.97 && p99 < 99000 * 1.03);
    assert_true(p999 > 99900 * 0.97 && p999 <= 100000);
    assert_int_equal(hist_pct(&h, 1.0), 100000);
}

static void test_verify_roundtrip(void **state)
{
    (void)state;
    struct verify v;
    assert_int_equal(verify_init(&v, 16, 4096), 0);
    uint8_t *buf = malloc(4096);
    uint32_t s = verify_new_seq(&v);
    verify_fill(buf, 4096, 24, s);
    assert_true(verify_check(&v, buf, 3, 24, s));
    assert_int_equal(v.mismatches, 0);
    /* One flipped byte in the last sector. */
    buf[4095] ^= 1;
    assert_false(verify_check(&v, buf, 3, 24, s));
    buf[4095] ^= 1;
    /* Stale data (older write) and data of another LBA are both caught. */
    assert_false(verify_check(&v, buf, 3, 24, s + 1));
    assert_false(verify_check(&v, buf, 4, 32, s));
    /* Zeroes (nothing stored) are caught. */
    memset(buf, 0, 4096);
    assert_false(verify_check(&v, buf, 3, 24, s));
    assert_int_equal(v.mismatches, 4);
    assert_int_equal(v.checked, 5);
    free(buf);
    verify_free(&v);
    assert_int_equal(verify_init(&v, VERIFY_MAX_BLOCKS + 1, 512), -1);
}

static void test_verify_seq_skips_reserved(void **state)
{
    (void)state;
    struct verify v;
    assert_int_equal(verify_init(&v, 1, 512), 0);
    v.next_seq = VERIFY_UNKNOWN - 1;
    assert_int_equal(verify_new_seq(&v), VERIFY_UNKNOWN - 1);
    assert_int_equal(verify_new_seq(&v), 1); /* never NEVER (0) or UNKNOWN */
    verify_free(&v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hist_buckets),
        cmocka_unit_test(test_hist_percentiles),
        cmocka_unit_test(test_verify_roundtrip),
        cmocka_unit_test(test_verify_seq_skips_reserved),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
