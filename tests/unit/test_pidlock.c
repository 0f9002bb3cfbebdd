/* The runtime directory lock (common/pidlock.h): a second holder is refused
 * with the first one's pid, the file goes at release, and the lock can be
 * taken again then. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/pidlock.h"

static void one_holder(void **st)
{
    (void)st;
    char dir[] = "/tmp/test_pidlock.XXXXXX", path[64], why[256], pid[32];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/sidecored.lock", dir);
    int fd = pidlock_acquire(path, why, sizeof(why));
    assert_true(fd >= 0);
    /* Another open file description is another holder, in this process too. */
    assert_int_equal(pidlock_acquire(path, why, sizeof(why)), -EBUSY);
    snprintf(pid, sizeof(pid), "(pid %ld)", (long)getpid());
    assert_non_null(strstr(why, pid));
    assert_non_null(strstr(why, "--runtime-dir"));
    pidlock_release(fd, path);
    assert_int_equal(access(path, F_OK), -1);
    fd = pidlock_acquire(path, why, sizeof(why));
    assert_true(fd >= 0);
    pidlock_release(fd, path);
    assert_int_equal(rmdir(dir), 0);
}

static void unwritable_dir(void **st)
{
    (void)st;
    char why[256];
    int rc = pidlock_acquire("/nonexistent-dir/sidecored.lock", why, sizeof(why));
    assert_int_equal(rc, -ENOENT);
    assert_non_null(strstr(why, "cannot open the lock file"));
}

/* The lock file was opened through a symlink and truncated: whoever could
 * write the runtime directory made a root daemon empty any file. */
static void symlink_refused(void **st)
{
    (void)st;
    char dir[] = "/tmp/test_pidlock.XXXXXX", path[64], victim[64], why[256], buf[16];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/sidecored.lock", dir);
    snprintf(victim, sizeof(victim), "%s/victim", dir);
    FILE *f = fopen(victim, "w");
    assert_non_null(f);
    fputs("precious", f);
    fclose(f);
    assert_int_equal(symlink(victim, path), 0);
    assert_true(pidlock_acquire(path, why, sizeof(why)) < 0);
    assert_non_null(strstr(why, "symbolic link"));
    f = fopen(victim, "r");
    assert_non_null(f);
    assert_non_null(fgets(buf, sizeof(buf), f));
    fclose(f);
    assert_string_equal(buf, "precious");
    unlink(path);
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_int_equal(pidlock_acquire(path, why, sizeof(why)), -EINVAL);
    assert_non_null(strstr(why, "not a regular file"));
    unlink(path);
    unlink(victim);
    assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_holder),
        cmocka_unit_test(unwritable_dir),
        cmocka_unit_test(symlink_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
