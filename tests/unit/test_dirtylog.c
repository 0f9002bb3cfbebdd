/* Dirty bitmap math: bit (page % 8) of byte (page / 8), exact page ranges at
 * page boundaries, a log at a file offset that is not page aligned, and
 * nothing ever written past the bitmap whatever the range. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "mem/dirtylog.h"

#define LOG_BYTES 16u /* 128 pages */
#define FILE_BYTES 8192u
#define OFF 100u

struct fx {
    uint8_t *file; /* the frontend's view of the whole file */
    struct dirty_log log;
};

static int setup(void **state)
{
    static struct fx f;
    int fd = memfd_create("test-dirtylog", MFD_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, FILE_BYTES), 0);
    f.file = mmap(NULL, FILE_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    assert_true(f.file != MAP_FAILED);
    atomic_init(&f.log.map, NULL);
    struct dirty_log_map *m = dirty_log_map_new(fd, LOG_BYTES, OFF, NULL);
    assert_non_null(m);
    assert_null(dirty_log_swap(&f.log, m));
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    dirty_log_map_free(dirty_log_swap(&f->log, NULL));
    munmap(f->file, FILE_BYTES);
    return 0;
}

/* Bits set in the log, as a list of pages; checks the rest of the file is
 * untouched. */
static void expect_pages(struct fx *f, const unsigned *pages, unsigned n)
{
    uint8_t want[LOG_BYTES] = {0};
    for (unsigned i = 0; i < n; i++)
        want[pages[i] / 8] |= (uint8_t)(1u << (pages[i] % 8));
    assert_memory_equal(f->file + OFF, want, LOG_BYTES);
    for (unsigned i = 0; i < FILE_BYTES; i++)
        if (i < OFF || i >= OFF + LOG_BYTES)
            assert_int_equal(f->file[i], 0);
    memset(f->file + OFF, 0, LOG_BYTES);
}

static void test_boundaries(void **state)
{
    struct fx *f = *state;
    dirty_log_mark(&f->log, 0, 1);
    expect_pages(f, (unsigned[]){0}, 1);
    dirty_log_mark(&f->log, 4095, 1);
    expect_pages(f, (unsigned[]){0}, 1);
    dirty_log_mark(&f->log, 4095, 2);
    expect_pages(f, (unsigned[]){0, 1}, 2);
    dirty_log_mark(&f->log, 8192, 4096);
    expect_pages(f, (unsigned[]){2}, 1);
    dirty_log_mark(&f->log, 8192, 4097);
    expect_pages(f, (unsigned[]){2, 3}, 2);
    dirty_log_mark(&f->log, 7 * 4096 + 10, 4096); /* crosses a byte of the bitmap */
    expect_pages(f, (unsigned[]){7, 8}, 2);
    dirty_log_mark(&f->log, 5 * 4096, 20 * 4096);
    unsigned run[20];
    for (unsigned i = 0; i < 20; i++)
        run[i] = 5 + i;
    expect_pages(f, run, 20);
    dirty_log_mark(&f->log, 4096, 0); /* nothing written */
    expect_pages(f, NULL, 0);
}

static void test_out_of_range(void **state)
{
    struct fx *f = *state;
    dirty_log_mark(&f->log, 128ull * 4096, 4096);
    expect_pages(f, NULL, 0);
    dirty_log_mark(&f->log, 127ull * 4096 + 5, 1ull << 40);
    expect_pages(f, (unsigned[]){127}, 1);
    dirty_log_mark(&f->log, UINT64_MAX - 10, 100); /* wraps: far beyond the log */
    expect_pages(f, NULL, 0);
    dirty_log_mark(&f->log, 0, UINT64_MAX);
    unsigned all[128];
    for (unsigned i = 0; i < 128; i++)
        all[i] = i;
    expect_pages(f, all, 128);
}

static void test_off_and_errors(void **state)
{
    struct fx *f = *state;
    struct dirty_log_map *m = dirty_log_swap(&f->log, NULL);
    dirty_log_mark(&f->log, 0, 4096); /* logging off: a no-op */
    expect_pages(f, NULL, 0);
    assert_null(dirty_log_swap(&f->log, m));

    errno = 0;
    assert_null(dirty_log_map_new(-1, 16, 0, NULL));
    assert_int_equal(errno, EINVAL);
    int fd = memfd_create("x", MFD_CLOEXEC);
    assert_null(dirty_log_map_new(fd, 0, 0, NULL));
    assert_int_equal(errno, EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_boundaries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_out_of_range, setup, teardown),
        cmocka_unit_test_setup_teardown(test_off_and_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
