/* Claiming a socket path (common/sockpath.h): nothing there and a stale
 * socket are free (the stale one removed), a listening socket and a file of
 * another kind are not touched. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/sockpath.h"

static int listen_at(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 4), 0);
    return fd;
}

static void claims(void **st)
{
    (void)st;
    char dir[] = "/tmp/test_sockpath.XXXXXX", path[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/s.sock", dir);
    assert_int_equal(sockpath_claim(path), 0); /* nothing there */

    int fd = listen_at(path);
    assert_int_equal(sockpath_claim(path), -EADDRINUSE);
    assert_int_equal(access(path, F_OK), 0);
    close(fd); /* the listener died: its file stays, stale */
    assert_int_equal(access(path, F_OK), 0);
    assert_int_equal(sockpath_claim(path), 0);
    assert_int_equal(access(path, F_OK), -1);

    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(sockpath_claim(path), -EEXIST);
    assert_int_equal(access(path, F_OK), 0);
    unlink(path);

    char longp[200];
    memset(longp, 'a', sizeof(longp) - 1);
    longp[sizeof(longp) - 1] = '\0';
    assert_int_equal(sockpath_claim(longp), -ENAMETOOLONG);
    assert_int_equal(rmdir(dir), 0);
}

/* Two spellings of one socket come out the same. */
static void canonical(void **st)
{
    (void)st;
    char dir[] = "/tmp/test_sockpath.XXXXXX", p[256], link[64];
    assert_non_null(mkdtemp(dir));
    snprintf(link, sizeof(link), "%s.link", dir);
    assert_int_equal(symlink(dir, link), 0);
    const char *forms[] = {"%s/a.sock", "%s/./a.sock", "%s//a.sock", "%s/../%s/a.sock"};
    char want[128];
    snprintf(want, sizeof(want), "%s/a.sock", dir);
    for (unsigned i = 0; i < 4; i++) {
        snprintf(p, sizeof(p), forms[i], dir, strrchr(dir, '/') + 1);
        char *c = sockpath_canonical(p);
        assert_string_equal(c, want);
        free(c);
    }
    snprintf(p, sizeof(p), "%s/a.sock", link);
    char *c = sockpath_canonical(p);
    assert_string_equal(c, want);
    free(c);
    /* A directory that does not resolve: as given. */
    c = sockpath_canonical("/nonexistent.dir/./a.sock");
    assert_string_equal(c, "/nonexistent.dir/./a.sock");
    free(c);
    c = sockpath_canonical("/a.sock");
    assert_string_equal(c, "/a.sock");
    free(c);
    unlink(link);
    assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(claims), cmocka_unit_test(canonical)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
