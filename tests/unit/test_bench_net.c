/* sidecore-bench net-compare's pure parts: reading testpmd's periodic port
 * statistics out of its log, and the option parser. The bench is a
 * program, not a library, so the sources are compiled in here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../bench/daemon.c"
#include "../../bench/net_opts.c"
#include "../../bench/net_rounds.c"
#include "../../bench/testpmd.c"

/* One block as testpmd 22.11 prints it with --stats-period. */
static void block(FILE *f, unsigned port, unsigned long long rx, unsigned long long tx,
                  unsigned long long rx_pps, unsigned long long tx_pps, int closed)
{
    fprintf(f, "\x1b[2J\x1b[1;1H\nPort statistics ====================================\n");
    fprintf(f, "  ######################## NIC statistics for port %u  ########################\n",
            port);
    fprintf(f, "  RX-packets: %-10llu RX-missed: 0          RX-bytes:  %llu\n", rx, rx * 64);
    fprintf(f, "  RX-errors: 0\n  RX-nombuf:  0         \n");
    fprintf(f, "  TX-packets: %-10llu TX-errors: 0          TX-bytes:  %llu\n\n", tx, tx * 64);
    fprintf(f, "  Throughput (since last show)\n");
    fprintf(f, "  Rx-pps: %12llu          Rx-bps: %12llu\n", rx_pps, rx_pps * 512);
    fprintf(f, "  Tx-pps: %12llu          Tx-bps: %12llu\n", tx_pps, tx_pps * 512);
    if (closed)
        fprintf(f, "  ############################################################################\n");
}

static void test_samples(void **state)
{
    (void)state;
    char path[] = "/tmp/test_bench_net.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "EAL: Detected CPU lcores: 2\nstart packet forwarding\n");
    block(f, 0, 0, 0, 0, 0, 1);
    block(f, 1, 5, 6, 7, 8, 1);
    block(f, 0, 1000, 2000, 1000, 2000, 1);
    block(f, 1, 9, 9, 9, 9, 1);
    block(f, 0, 15000000000ull, 3000, 14999999000ull, 1000, 1);
    /* A block still being written is not a sample yet. */
    block(f, 0, 1, 1, 1, 1, 0);
    fclose(f);

    struct pmd_sample s[8];
    assert_int_equal(testpmd_samples(path, 0, s, 8), 3);
    assert_int_equal(testpmd_samples(path, 0, NULL, 0), 3);
    assert_int_equal(testpmd_samples(path, 1, s, 8), 2);
    assert_int_equal(testpmd_samples(path, 0, s, 2), 3); /* counts all, stores 2 */
    assert_int_equal(testpmd_samples(path, 0, s, 8), 3);
    assert_int_equal(s[1].rx, 1000);
    assert_int_equal(s[1].tx, 2000);
    assert_true(s[1].rx_pps == 1000.0 && s[1].tx_pps == 2000.0);
    assert_int_equal(s[2].rx, 15000000000ull);
    assert_true(s[2].rx_pps == 14999999000.0);
    assert_int_equal(testpmd_samples(path, 2, s, 8), 0);
    unlink(path);
    assert_int_equal(testpmd_samples(path, 0, s, 8), 0);
}

static int parse(struct net_opts *o, const char *a1, const char *a2)
{
    char *argv[] = {"net-compare", (char *)a1, (char *)a2, NULL};
    return net_opts_parse(a1 ? (a2 ? 3 : 2) : 1, argv, o);
}

static void test_opts_defaults(void **state)
{
    (void)state;
    struct net_opts o;
    assert_int_equal(parse(&o, NULL, NULL), 0);
    assert_int_equal(o.nsizes, 2);
    assert_int_equal(o.sizes[0], 64);
    assert_int_equal(o.sizes[1], 1500);
    assert_true(o.split && o.packed && o.tx && o.rx && o.g2g && o.huge_off && o.huge_on);
    assert_int_equal(o.warmup_s, 2);
    assert_int_equal(o.time_s, 5);
    assert_int_equal(o.queue_size, 256);
}

static void test_opts_lists(void **state)
{
    (void)state;
    struct net_opts o;
    assert_int_equal(parse(&o, "--sizes", "60,128,1514"), 0);
    assert_int_equal(o.nsizes, 3);
    assert_int_equal(o.sizes[2], 1514);
    assert_int_equal(parse(&o, "--rings", "packed"), 0);
    assert_true(!o.split && o.packed);
    assert_int_equal(parse(&o, "--dirs", "g2g,tx"), 0);
    assert_true(o.tx && !o.rx && o.g2g);
    assert_int_equal(parse(&o, "--hugepages", "on"), 0);
    assert_true(!o.huge_off && o.huge_on);
    assert_int_equal(parse(&o, "--queue-size", "1024"), 0);
    assert_int_equal(o.queue_size, 1024);
    assert_int_equal(parse(&o, "--warmup", "0"), 0);
    assert_int_equal(o.warmup_s, 0);
    assert_int_equal(parse(&o, NULL, NULL), 0);
    assert_int_equal(o.repeat, 1);
    assert_int_equal(parse(&o, "--repeat", "9"), 0);
    assert_int_equal(o.repeat, 9);
}

static int median_of(const double *mpps, const bool *ok, unsigned n)
{
    struct nc_result r[NET_MAX_REPEAT];
    memset(r, 0, sizeof(r));
    for (unsigned i = 0; i < n; i++) {
        r[i].ok = ok[i];
        r[i].mpps = mpps[i];
    }
    return nc_median_round(r, n);
}

static void test_median_round(void **state)
{
    (void)state;
    const bool all[5] = {true, true, true, true, true};
    assert_int_equal(median_of((double[]){12.0}, all, 1), 0);
    assert_int_equal(median_of((double[]){18.0, 10.0, 12.0}, all, 3), 2);
    /* Even count: the lower middle. */
    assert_int_equal(median_of((double[]){18.0, 10.0, 12.0, 11.0}, all, 4), 3);
    /* Equal rates: still one round. */
    assert_int_equal(median_of((double[]){5.0, 5.0, 5.0}, all, 3), 1);
    /* Rounds that failed are not counted, whatever their rate. */
    const bool some[4] = {false, true, false, true};
    assert_int_equal(median_of((double[]){0.0, 9.0, 99.0, 7.0}, some, 4), 3);
    const bool none[2] = {false, false};
    assert_int_equal(median_of((double[]){1.0, 2.0}, none, 2), -1);
    assert_int_equal(median_of(NULL, NULL, 0), -1);
}

static void test_opts_rejects(void **state)
{
    (void)state;
    struct net_opts o;
    static const char *const bad[][2] = {
        {"--sizes", "59"},        {"--sizes", "1515"},       {"--sizes", "64,x"},
        {"--sizes", "1,2,3,4,5"}, {"--sizes", ""},           {"--sizes", "60,60,60,60,60"},
        {"--rings", "ring"},      {"--rings", ","},          {"--dirs", "up"},
        {"--hugepages", "yes"},   {"--time", "0"},           {"--time", "601"},
        {"--warmup", "-1"},       {"--queue-size", "100"},   {"--queue-size", "2048"},
        {"--queue-size", "32"},   {"--time", "5s"},          {"extra", NULL},
        {"--repeat", "0"},        {"--repeat", "10"},        {"--repeat", "2x"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(parse(&o, bad[i][0], bad[i][1]), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_samples),
        cmocka_unit_test(test_opts_defaults),
        cmocka_unit_test(test_opts_lists),
        cmocka_unit_test(test_opts_rejects),
        cmocka_unit_test(test_median_round),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
