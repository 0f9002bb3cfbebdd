/* The SIGBUS guard: a guarded mapping whose file shrinks reads as zeros
 * (the whole mapping is replaced), its owner learns the address and its
 * eventfd is written; a mapping that is not guarded still ends the process
 * (checked in a child). */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/busguard.h"

#define PAGES 3

static uint8_t *map_file(int *fd)
{
    *fd = memfd_create("test-busguard", MFD_CLOEXEC);
    assert_true(*fd >= 0);
    assert_int_equal(ftruncate(*fd, PAGES * 4096), 0);
    uint8_t *p = mmap(NULL, PAGES * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
    assert_true(p != MAP_FAILED);
    memset(p, 0x5a, PAGES * 4096);
    return p;
}

static void test_guarded_shrink(void **st)
{
    (void)st;
    assert_int_equal(busguard_install(), 0);
    int fd;
    uint8_t *p = map_file(&fd);
    struct bus_owner o = {.wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)};
    assert_true(o.wake_fd >= 0);
    assert_int_equal(busguard_add(p, PAGES * 4096, &o), 0);
    assert_int_equal(ftruncate(fd, 4096), 0);
    volatile uint8_t *past = p + 2 * 4096 + 7;
    assert_int_equal(*past, 0);
    assert_int_equal(atomic_load(&o.hit), (uintptr_t)past);
    uint64_t n = 0;
    assert_int_equal(read(o.wake_fd, &n, sizeof(n)), (ssize_t)sizeof(n));
    assert_int_equal(n, 1);
    p[4096] = 1; /* the replacement is writable; no second fault */
    assert_int_equal(p[0], 0);
    assert_int_equal(read(o.wake_fd, &n, sizeof(n)), -1);
    busguard_remove(p);
    munmap(p, PAGES * 4096);
    close(fd);
    close(o.wake_fd);
}

static void test_unguarded_still_fatal(void **st)
{
    (void)st;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* Installed here, after cmocka's own handlers: the fault is ours to
         * pass on. Nothing of the child's is printed. */
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        if (busguard_install() < 0)
            _exit(4);
        int fd;
        uint8_t *p = map_file(&fd);
        if (ftruncate(fd, 0) < 0)
            _exit(3);
        volatile uint8_t v = p[4096];
        (void)v;
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGBUS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unguarded_still_fatal), /* first: before the parent installs */
        cmocka_unit_test(test_guarded_shrink),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
