/* Guest memory table: mapping and translation (including a region at an
 * offset that is not page aligned), splitting across adjacent regions,
 * validation of hostile regions (fd closed on every refusal), removal,
 * publication and pre-faulting. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "mem/guestmem.h"

#define MB (1ull << 20)

static int new_memfd(uint64_t size)
{
    int fd = memfd_create("test-guestmem", MFD_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)size), 0);
    return fd;
}

static bool fd_is_closed(int fd)
{
    return fcntl(fd, F_GETFD) < 0 && errno == EBADF;
}

/* The table maps each file separately from the test's view: two addresses
 * name the same byte when a store through one shows through the other. */
static bool same_byte(void *host, uint8_t *view)
{
    static uint8_t tag;
    *(uint8_t *)host = ++tag;
    return *view == tag;
}

/* Adds a region backed by a fresh memfd; returns a view of the file. */
static uint8_t *add(struct gm_table *t, uint64_t gpa, uint64_t size, uint64_t uva,
                    uint64_t off)
{
    const char *why = NULL;
    int fd = new_memfd(off + size);
    uint8_t *view = mmap(NULL, off + size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    assert_true(view != MAP_FAILED);
    assert_int_equal(gm_table_add(t, gpa, size, uva, off, fd, &why), 0);
    return view + off;
}

static void test_map_translate(void **state)
{
    (void)state;
    struct gm_table *t = gm_table_new_empty();
    uint8_t *view = add(t, 16 * MB, MB, 0x7f0000000000ull, 0x800);
    assert_int_equal(t->n, 1);

    uint8_t *h = gm_gpa_to_host(t, 16 * MB, MB);
    assert_non_null(h);
    h[0] = 0xab;
    h[MB - 1] = 0xcd;
    assert_int_equal(view[0], 0xab); /* offset 0x800 of the file, not 0 */
    assert_int_equal(view[MB - 1], 0xcd);
    assert_ptr_equal(gm_gpa_to_host(t, 16 * MB + 100, 10), h + 100);
    assert_ptr_equal(gm_gpa_to_host(t, 17 * MB - 1, 1), h + MB - 1);
    assert_ptr_equal(gm_gpa_to_host(t, 16 * MB + 5, 0), h + 5);

    assert_null(gm_gpa_to_host(t, 16 * MB - 1, 2));
    assert_null(gm_gpa_to_host(t, 17 * MB - 1, 2));
    assert_null(gm_gpa_to_host(t, 17 * MB, 0)); /* one past the end names no byte */
    assert_null(gm_gpa_to_host(t, 0, 1));
    assert_null(gm_gpa_to_host(t, 16 * MB + 1, UINT64_MAX));
    assert_null(gm_gpa_to_host(t, UINT64_MAX, 2));

    assert_ptr_equal(gm_uva_to_host(t, 0x7f0000000000ull + 7, 8), h + 7);
    assert_null(gm_uva_to_host(t, 0x7f0000000000ull + MB - 4, 8));
    assert_null(gm_uva_to_host(t, 16 * MB, 1));
    munmap(view - 0x800, MB + 0x800);
    gm_table_free(t, true);
}

static void test_adjacent_split(void **state)
{
    (void)state;
    struct gm_table *t = gm_table_new_empty();
    /* Added out of order: the table keeps them sorted. */
    uint8_t *b = add(t, MB, MB, 0x20000000, 0);
    uint8_t *a = add(t, 0, MB, 0x10000000, 0);
    uint8_t *c = add(t, 3 * MB, MB, 0x30000000, 0);
    assert_int_equal(t->r[0].gpa, 0);
    assert_int_equal(t->r[1].gpa, MB);

    struct iovec iov[4];
    uint64_t gpa[4];
    assert_int_equal(gm_map_iov(t, MB - 100, 300, iov, gpa, 4), 2);
    assert_true(same_byte(iov[0].iov_base, a + MB - 100));
    assert_int_equal(iov[0].iov_len, 100);
    assert_true(same_byte(iov[1].iov_base, b));
    assert_int_equal(iov[1].iov_len, 200);
    assert_int_equal(gpa[0], MB - 100);
    assert_int_equal(gpa[1], MB);
    assert_int_equal(gm_map_iov(t, 10, 20, iov, NULL, 4), 1);
    assert_int_equal(gm_map_iov(t, 10, 0, iov, NULL, 4), 0);

    assert_int_equal(gm_map_iov(t, MB - 100, 300, iov, gpa, 1), -ENOBUFS);
    assert_null(gm_gpa_to_host(t, MB - 100, 300)); /* not one piece */
    assert_int_equal(gm_map_iov(t, 2 * MB - 10, 20, iov, gpa, 4), -EFAULT); /* hole */
    assert_int_equal(gm_map_iov(t, 3 * MB + 10, MB, iov, gpa, 4), -EFAULT); /* past the end */
    assert_int_equal(gm_map_iov(t, UINT64_MAX - 5, 10, iov, gpa, 4), -EFAULT); /* wraps */
    assert_int_equal(gm_map_iov(t, 3 * MB, UINT64_MAX, iov, gpa, 4), -EFAULT);
    assert_int_equal(gm_map_iov(t, 3 * MB, MB, iov, gpa, 4), 1);
    assert_true(same_byte(iov[0].iov_base, c));

    /* The hinted form: a miss searches and learns the first byte's region;
     * a stale or wild hint, a range leaving the hinted region, a hole and
     * a wrap get what gm_map_iov gives. */
    uint32_t hint = 7;
    assert_int_equal(gm_map_iov_hint(t, &hint, 3 * MB + 5, 10, iov, gpa, 4), 1);
    assert_int_equal(hint, 2);
    assert_true(same_byte(iov[0].iov_base, c + 5));
    assert_int_equal(gpa[0], 3 * MB + 5);
    assert_int_equal(gm_map_iov_hint(t, &hint, 3 * MB + 100, 10, iov, NULL, 4), 1);
    assert_true(same_byte(iov[0].iov_base, c + 100));
    assert_int_equal(gm_map_iov_hint(t, &hint, 10, 20, iov, gpa, 4), 1); /* region 0 */
    assert_int_equal(hint, 0);
    assert_true(same_byte(iov[0].iov_base, a + 10));
    assert_int_equal(gm_map_iov_hint(t, &hint, MB - 100, 300, iov, gpa, 4), 2);
    assert_int_equal(iov[0].iov_len, 100);
    assert_true(same_byte(iov[1].iov_base, b));
    assert_int_equal(gm_map_iov_hint(t, &hint, MB - 100, 300, iov, gpa, 1), -ENOBUFS);
    hint = 1;
    assert_int_equal(gm_map_iov_hint(t, &hint, 2 * MB - 10, 20, iov, gpa, 4), -EFAULT);
    assert_int_equal(gm_map_iov_hint(t, &hint, UINT64_MAX - 5, 10, iov, gpa, 4), -EFAULT);
    hint = 2;
    assert_int_equal(gm_map_iov_hint(t, &hint, 3 * MB, UINT64_MAX, iov, gpa, 4), -EFAULT);
    assert_int_equal(gm_map_iov_hint(t, &hint, 4 * MB - 1, 2, iov, gpa, 4), -EFAULT);
    assert_int_equal(gm_map_iov_hint(t, &hint, 3 * MB, 0, iov, gpa, 4), 0);
    munmap(a, MB);
    munmap(b, MB);
    munmap(c, MB);
    gm_table_free(t, true);
}

static void expect_refused(struct gm_table *t, uint64_t gpa, uint64_t size, uint64_t uva,
                           uint64_t off, uint64_t file_size, int err, const char *needle)
{
    const char *why = NULL;
    int fd = new_memfd(file_size);
    uint32_t n = t->n;
    errno = 0;
    assert_int_equal(gm_table_add(t, gpa, size, uva, off, fd, &why), -1);
    assert_int_equal(errno, err);
    assert_non_null(why);
    assert_non_null(strstr(why, needle));
    assert_true(fd_is_closed(fd));
    assert_int_equal(t->n, n);
}

static void test_refused(void **state)
{
    (void)state;
    struct gm_table *t = gm_table_new_empty();
    uint8_t *v = add(t, 4 * MB, MB, 0x10000000, 0);

    expect_refused(t, 0, 0, 0, 0, 4096, EINVAL, "zero");
    expect_refused(t, UINT64_MAX - 4095, 8192, 0, 0, 8192, EINVAL, "wraps");
    expect_refused(t, 0, 8192, UINT64_MAX - 4095, 0, 8192, EINVAL, "wraps");
    expect_refused(t, 0, 8192, 0, UINT64_MAX - 4095, 8192, EINVAL, "offset");
    expect_refused(t, 4 * MB - 4096, 8192, 0, 0, 8192, EINVAL, "overlap");
    expect_refused(t, 5 * MB - 4096, 8192, 0, 0, 8192, EINVAL, "overlap");
    expect_refused(t, 4 * MB + 4096, 4096, 0, 0, 4096, EINVAL, "overlap");
    expect_refused(t, 3 * MB, 3 * MB, 0, 0, 3 * MB, EINVAL, "overlap");
    expect_refused(t, 0, 8192, 0, 4096, 8192, EINVAL, "end of its file");

    const char *why = NULL;
    assert_int_equal(gm_table_add(t, 0, 4096, 0, 0, -1, &why), -1);
    assert_non_null(why);

    for (uint64_t i = 0; t->n < GM_MAX_REGIONS; i++)
        munmap(add(t, 64 * MB + i * 4096, 4096, 0x90000000 + i * 4096, 0), 4096);
    expect_refused(t, 32 * MB, 4096, 0, 0, 4096, ENOSPC, "too many");
    munmap(v, MB);
    gm_table_free(t, true);
}

static void test_remove(void **state)
{
    (void)state;
    struct gm_table *t = gm_table_new_empty();
    uint8_t *a = add(t, 0, MB, 0x10000000, 0);
    uint8_t *b = add(t, MB, MB, 0x20000000, 0);
    uint8_t *c = add(t, 2 * MB, MB, 0x30000000, 0);
    struct gm_region r;

    assert_int_equal(gm_table_remove(t, MB, MB, 0x20000001, &r), -1); /* uva differs */
    assert_int_equal(errno, ENOENT);
    assert_int_equal(gm_table_remove(t, MB, MB, 0x20000000, &r), 0);
    assert_int_equal(t->n, 2);
    assert_int_equal(r.gpa, MB);
    assert_null(gm_gpa_to_host(t, MB + 5, 1));
    assert_non_null(gm_gpa_to_host(t, 5, 1));
    assert_non_null(gm_gpa_to_host(t, 2 * MB + 5, 1));
    assert_int_equal(t->r[1].gpa, 2 * MB);
    int fd = r.fd;
    gm_region_unmap(&r);
    assert_true(fd_is_closed(fd));
    assert_null(r.map_base);
    munmap(a, MB);
    munmap(b, MB);
    munmap(c, MB);
    gm_table_free(t, true);
}

struct done_log {
    _Atomic int calls;
    int err;
    uint64_t bytes;
};

static void on_done(void *arg, int err, uint64_t bytes, uint64_t ns)
{
    struct done_log *l = arg;
    (void)ns;
    l->err = err;
    l->bytes = bytes;
    atomic_fetch_add(&l->calls, 1);
}

static void test_publish_clone(void **state)
{
    (void)state;
    struct guestmem gm;
    gm_init(&gm);
    const struct gm_table *empty = gm_current(&gm);
    assert_non_null(empty);
    assert_int_equal(empty->n, 0);
    assert_null(gm_gpa_to_host(empty, 0, 1));

    struct gm_table *t = gm_table_new_empty();
    uint8_t *a = add(t, 0, MB, 0x10000000, 0);
    struct gm_table *old = gm_publish(&gm, t);
    assert_ptr_equal(old, empty);
    gm_table_free(old, true);
    assert_ptr_equal(gm_current(&gm), t);

    /* Hot-add: clone shares the mapping, the old table is freed without unmapping. */
    struct gm_table *c = gm_table_clone(gm_current(&gm));
    uint8_t *b = add(c, MB, MB, 0x20000000, 0);
    gm_table_free(gm_publish(&gm, c), false);
    uint8_t *h = gm_gpa_to_host(gm_current(&gm), 10, 1);
    *h = 0x5a;
    assert_int_equal(a[10], 0x5a);
    assert_int_equal(gm_map_iov(gm_current(&gm), MB - 1, 2, (struct iovec[2]){0}, NULL, 2), 2);
    assert_int_equal(gm_prefault(gm_current(&gm), 2), 0);
    assert_int_equal(gm_prefault(gm_current(&gm), 0), 0);
    assert_int_equal(gm_prefault(gm_current(&gm), 1000), 0);

    /* In the background: done reports every byte once; a job stopped
     * right away reports nothing and leaves nothing running. */
    struct done_log log = {0};
    struct gm_prefault_job *j = gm_prefault_start(gm_current(&gm), 2, on_done, &log);
    assert_non_null(j);
    for (int i = 0; i < 5000 && !atomic_load(&log.calls); i++)
        usleep(1000);
    assert_int_equal(gm_prefault_stop(j), 0);
    assert_int_equal(atomic_load(&log.calls), 1);
    assert_int_equal(log.err, 0);
    assert_int_equal(log.bytes, 2 * MB);
    j = gm_prefault_start(gm_current(&gm), 2, on_done, &log);
    assert_non_null(j);
    assert_int_equal(gm_prefault_stop(j), 0);
    assert_true(atomic_load(&log.calls) <= 2);
    assert_int_equal(gm_prefault_stop(NULL), 0);
    gm_destroy(&gm);
    munmap(a, MB);
    munmap(b, MB);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_map_translate), cmocka_unit_test(test_adjacent_split),
        cmocka_unit_test(test_refused),       cmocka_unit_test(test_remove),
        cmocka_unit_test(test_publish_clone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
