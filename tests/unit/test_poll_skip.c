/* Receive pacing (common/poll_skip.h) with a controlled clock: an idle fd is
 * skipped for at most the poll count and never past the time bound (the
 * bound is what keeps a round trip from waiting out many slow rounds). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/poll_skip.h"

static void bounded_by_polls(void **st)
{
    (void)st;
    struct poll_skip s = {0};
    assert_false(poll_skip_now(&s, 0)); /* never idle: receive */
    poll_skip_idle(&s, 3, 1000, 100);
    for (unsigned i = 0; i < 3; i++)
        assert_true(poll_skip_now(&s, 100 + i));
    assert_false(poll_skip_now(&s, 104));
}

static void bounded_by_time(void **st)
{
    (void)st;
    struct poll_skip s = {0};
    poll_skip_idle(&s, 16, 2000, 10000);
    assert_true(poll_skip_now(&s, 10500));
    assert_false(poll_skip_now(&s, 12000)); /* slow rounds: the bound ends it */
    assert_false(poll_skip_now(&s, 12001)); /* and it stays ended */
}

static void reset(void **st)
{
    (void)st;
    struct poll_skip s = {0};
    poll_skip_idle(&s, 16, 2000, 0);
    poll_skip_reset(&s);
    assert_false(poll_skip_now(&s, 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bounded_by_polls),
        cmocka_unit_test(bounded_by_time),
        cmocka_unit_test(reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
