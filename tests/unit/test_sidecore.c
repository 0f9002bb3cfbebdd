/* Sidecores with fake queues: synchronous attach/detach from many threads
 * (a detached queue is never polled again), least-loaded placement, hybrid
 * sleep and wake-up by a kick eventfd, sleep time counted during a sleep,
 * parking of a failed queue, the never_poll baseline, yielding right after
 * a handoff, and destroy joining the threads. Every wait is bounded;
 * nothing asserts how long anything took. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/util.h"
#include "core/sidecore.h"

struct fq {
    struct sc_queue q;
    _Atomic int polls;
    _Atomic int work_left; /* poll() serves one request per call while > 0 */
    _Atomic bool notify;
    _Atomic int notify_off_calls;
    _Atomic bool broken;
    bool always_busy;
};

static int fq_poll(struct sc_queue *q)
{
    struct fq *f = (struct fq *)q;
    atomic_fetch_add(&f->polls, 1);
    if (atomic_load(&f->broken))
        return -1;
    if (f->always_busy)
        return 1;
    int w = atomic_load(&f->work_left);
    while (w > 0) {
        /* Like a device: the request's start and its completion both count
         * as work, but it is one request. */
        if (atomic_compare_exchange_weak(&f->work_left, &w, w - 1)) {
            sc_queue_account(q, 1, 512);
            return 2;
        }
    }
    return 0;
}

static bool fq_set_notify(struct sc_queue *q, bool on)
{
    struct fq *f = (struct fq *)q;
    atomic_store(&f->notify, on);
    if (!on)
        atomic_fetch_add(&f->notify_off_calls, 1);
    return on && atomic_load(&f->work_left) > 0;
}

static bool fq_set_notify_none(struct sc_queue *q, bool on)
{
    (void)q;
    (void)on;
    return false;
}

static void fq_init(struct fq *f, const char *name, int kick_fd)
{
    memset(f, 0, sizeof(*f));
    f->q.name = name;
    f->q.poll = fq_poll;
    f->q.set_notify = fq_set_notify;
    f->q.kick_fd = kick_fd;
    f->q.aux_fd = -1;
}

static void nap_ms(unsigned ms)
{
    usleep(ms * 1000);
}

/* Wait (bounded, 5 s) until *v >= want. */
static bool wait_int(_Atomic int *v, int want)
{
    for (int i = 0; i < 5000; i++) {
        if (atomic_load(v) >= want)
            return true;
        nap_ms(1);
    }
    return false;
}

static struct sc_set *make_set(unsigned n, bool never_poll)
{
    struct sc_params p;
    sc_params_default(&p);
    p.nr_sidecores = n;
    p.never_poll = never_poll;
    struct sc_set *s = sc_set_create(&p);
    assert_non_null(s);
    return s;
}

static void test_params_rejected(void **state)
{
    (void)state;
    struct sc_params p;
    sc_params_default(&p);
    assert_int_equal(p.nr_sidecores, 1);
    assert_int_equal(p.cpus[0], -1);
    p.nr_sidecores = 0;
    assert_null(sc_set_create(&p));
    sc_params_default(&p);
    p.never_poll = p.never_sleep = true;
    assert_null(sc_set_create(&p));
}

#define NTHREADS 4
#define NQ 16

struct churn_arg {
    struct sc_set *s;
    struct fq q[NQ];
    int fails;
};

static void *churn(void *arg)
{
    struct churn_arg *a = arg;
    for (int round = 0; round < 5; round++) {
        for (int i = 0; i < NQ; i++) {
            fq_init(&a->q[i], "churn", -1);
            atomic_store(&a->q[i].work_left, 1);
            if (sc_attach(a->s, &a->q[i].q) != 0)
                a->fails++;
        }
        /* attach returned: the sidecore polls each queue at least once. */
        for (int i = 0; i < NQ; i++)
            if (!wait_int(&a->q[i].polls, 1))
                a->fails++;
        for (int i = 0; i < NQ; i++) {
            sc_detach(&a->q[i].q);
            if (a->q[i].q.owner)
                a->fails++;
        }
        int before[NQ];
        for (int i = 0; i < NQ; i++)
            before[i] = atomic_load(&a->q[i].polls);
        nap_ms(2);
        for (int i = 0; i < NQ; i++)
            if (atomic_load(&a->q[i].polls) != before[i])
                a->fails++; /* polled after detach returned */
    }
    return NULL;
}

static void test_attach_detach_threads(void **state)
{
    (void)state;
    struct sc_set *s = make_set(2, false);
    pthread_t t[NTHREADS];
    struct churn_arg *a = calloc(NTHREADS, sizeof(*a));
    assert_non_null(a);
    for (int i = 0; i < NTHREADS; i++) {
        a[i].s = s;
        assert_int_equal(pthread_create(&t[i], NULL, churn, &a[i]), 0);
    }
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(a[i].fails, 0);
    }
    for (unsigned i = 0; i < sc_set_count(s); i++) {
        struct sc_core_stats st;
        sc_core_stats(s, i, &st);
        assert_int_equal(st.nr_queues, 0);
        assert_int_equal(st.id, i);
    }
    free(a);
    sc_set_destroy(s);
}

static void test_attach_twice_and_bad(void **state)
{
    (void)state;
    struct sc_set *s = make_set(1, false);
    struct fq f;
    fq_init(&f, "twice", -1);
    assert_int_equal(sc_attach(s, &f.q), 0);
    assert_int_equal(sc_attach(s, &f.q), -EBUSY);
    sc_detach(&f.q);
    sc_detach(&f.q); /* logged, harmless */
    struct fq g;
    fq_init(&g, "nopoll", -1);
    g.q.poll = NULL;
    assert_int_equal(sc_attach(s, &g.q), -EINVAL);
    /* A kick fd epoll cannot watch (a regular file) fails the attach. */
    FILE *tf = tmpfile();
    assert_non_null(tf);
    fq_init(&g, "badfd", fileno(tf));
    assert_true(sc_attach(s, &g.q) < 0);
    assert_null(g.q.owner);
    fclose(tf);
    sc_set_destroy(s);
}

static void test_placement_fewest_queues(void **state)
{
    (void)state;
    struct sc_set *s = make_set(3, false);
    struct fq f[7];
    for (int i = 0; i < 6; i++) {
        fq_init(&f[i], "place", -1);
        assert_int_equal(sc_attach(s, &f[i].q), 0);
        assert_non_null(f[i].q.owner);
    }
    for (unsigned c = 0; c < 3; c++) {
        struct sc_core_stats st;
        sc_core_stats(s, c, &st);
        assert_int_equal(st.nr_queues, 2);
    }
    /* Empty the sidecore of f[0]: the next queue must land there. */
    struct sidecore *target = f[0].q.owner;
    for (int i = 0; i < 6; i++)
        if (f[i].q.owner == target)
            sc_detach(&f[i].q);
    fq_init(&f[6], "place", -1);
    assert_int_equal(sc_attach(s, &f[6].q), 0);
    assert_ptr_equal(f[6].q.owner, target);
    for (int i = 0; i < 7; i++)
        if (f[i].q.owner)
            sc_detach(&f[i].q);
    sc_set_destroy(s);
}

static void test_placement_busy_tiebreak(void **state)
{
    (void)state;
    struct sc_set *s = make_set(2, false);
    struct fq busy, idle, next;
    fq_init(&busy, "busy", -1);
    busy.always_busy = true;
    fq_init(&idle, "idle", -1);
    assert_int_equal(sc_attach(s, &busy.q), 0);
    assert_int_equal(sc_attach(s, &idle.q), 0);
    assert_ptr_not_equal(busy.q.owner, idle.q.owner);
    /* Wait (bounded) until a load window has closed on the busy sidecore. */
    struct sc_core_stats st;
    uint64_t deadline = sc_now_ns() + 5000000000ull;
    bool windowed = false;
    while (sc_now_ns() < deadline && !windowed) {
        nap_ms(100);
        for (unsigned c = 0; c < 2; c++) {
            sc_core_stats(s, c, &st);
            if (st.busy_ns > 1100000000ull)
                windowed = true;
        }
    }
    assert_true(windowed);
    fq_init(&next, "next", -1);
    assert_int_equal(sc_attach(s, &next.q), 0);
    assert_ptr_equal(next.q.owner, idle.q.owner);
    assert_true(busy.q.stats.busy_ns > 0);
    sc_detach(&next.q);
    sc_detach(&busy.q);
    sc_detach(&idle.q);
    sc_set_destroy(s);
}

static bool wait_sleeping(struct sc_set *s, uint64_t min_sleeps)
{
    struct sc_core_stats st;
    for (int i = 0; i < 5000; i++) {
        sc_core_stats(s, 0, &st);
        if (st.sleeps >= min_sleeps)
            return true;
        nap_ms(1);
    }
    return false;
}

static void test_hybrid_sleep_and_kick(void **state)
{
    (void)state;
    struct sc_set *s = make_set(1, false);
    int kfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    assert_true(kfd >= 0);
    struct fq f;
    fq_init(&f, "hybrid", kfd);
    assert_int_equal(sc_attach(s, &f.q), 0);
    assert_true(wait_sleeping(s, 1));
    /* Notifications on while it sleeps. Checked until it holds: a wakeup
     * between the sleep count and this check (the attach's own mailbox
     * event, on a loaded machine) turns them off for one idle period. */
    bool on = false;
    for (int i = 0; i < 5000 && !(on = atomic_load(&f.notify)); i++)
        nap_ms(1);
    assert_true(on);

    struct sc_core_stats before, after;
    sc_core_stats(s, 0, &before);
    atomic_store(&f.work_left, 3);
    uint64_t one = 1;
    assert_int_equal(write(kfd, &one, sizeof(one)), sizeof(one));
    for (int i = 0; i < 5000 && atomic_load(&f.work_left) > 0; i++)
        nap_ms(1);
    assert_int_equal(atomic_load(&f.work_left), 0);
    assert_true(atomic_load(&f.notify_off_calls) >= 1); /* polling again, kicks off */
    sc_core_stats(s, 0, &after);
    assert_true(after.wakeups > before.wakeups);
    assert_int_equal(after.requests, before.requests + 3);
    assert_int_equal(f.q.stats.requests, 3);
    assert_true(f.q.stats.kicks >= 1);
    assert_true(f.q.stats.busy_ns > 0);
    /* And back to sleep once idle. */
    assert_true(wait_sleeping(s, after.sleeps + 1));
    sc_detach(&f.q);
    sc_set_destroy(s);
    close(kfd);
}

/* A `top` interval is shorter than one idle sleep (up to 1 s): the stats
 * must count the sleep in progress, or an interval sees none of it and the
 * next one several intervals' worth. */
static void test_sleep_counted_while_asleep(void **state)
{
    (void)state;
    uint64_t t_start = sc_now_ns();
    struct sc_set *s = make_set(1, false);
    assert_true(wait_sleeping(s, 1));
    struct sc_core_stats a, b;
    bool same_sleep = false, within_wall = true, monotonic = true, within_sampled = true;
    /* Retried when a timeout ends the sleep between the two reads. */
    for (int i = 0; i < 50 && !same_sleep; i++) {
        sc_core_stats(s, 0, &a);
        nap_ms(20);
        sc_core_stats(s, 0, &b);
        uint64_t wall = sc_now_ns() - t_start;
        within_wall = within_wall && a.sleep_ns <= wall && b.sleep_ns <= wall;
        monotonic = monotonic && b.sleep_ns >= a.sleep_ns && b.sampled_ns > a.sampled_ns;
        /* What top divides by: the daemon's own interval between reads. */
        within_sampled = within_sampled && b.sleep_ns - a.sleep_ns <= b.sampled_ns - a.sampled_ns;
        same_sleep = a.sleeps == b.sleeps;
    }
    /* Before the checks: a failed one would leave the thread running into
     * the next tests. */
    sc_set_destroy(s);
    assert_true(within_wall);
    assert_true(monotonic);
    assert_true(within_sampled);
    assert_true(same_sleep);
    assert_true(b.sleep_ns > a.sleep_ns);
}

static void test_pending_work_cancels_sleep(void **state)
{
    (void)state;
    struct sc_set *s = make_set(1, false);
    struct fq f;
    fq_init(&f, "pending", -1);
    assert_int_equal(sc_attach(s, &f.q), 0);
    assert_true(wait_sleeping(s, 1));
    /* Work appears without a kick: only the 1 s bounded sleep finds it. */
    atomic_store(&f.work_left, 2);
    for (int i = 0; i < 5000 && atomic_load(&f.work_left) > 0; i++)
        nap_ms(1);
    assert_int_equal(atomic_load(&f.work_left), 0);
    sc_detach(&f.q);
    sc_set_destroy(s);
}

static void test_parked_queue(void **state)
{
    (void)state;
    struct sc_set *s = make_set(1, false);
    int kfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct fq bad, good;
    fq_init(&bad, "bad", -1);
    atomic_store(&bad.broken, true);
    fq_init(&good, "good", kfd);
    assert_int_equal(sc_attach(s, &bad.q), 0);
    assert_int_equal(sc_attach(s, &good.q), 0);
    assert_true(wait_int(&bad.polls, 1));
    assert_true(wait_sleeping(s, 1));
    int polls = atomic_load(&bad.polls);
    assert_int_equal(polls, 1);
    /* The other queue is still served. */
    atomic_store(&good.work_left, 5);
    uint64_t one = 1;
    assert_int_equal(write(kfd, &one, sizeof(one)), sizeof(one));
    for (int i = 0; i < 5000 && atomic_load(&good.work_left) > 0; i++)
        nap_ms(1);
    assert_int_equal(atomic_load(&good.work_left), 0);
    assert_int_equal(atomic_load(&bad.polls), 1);
    assert_true(bad.q.parked);
    assert_non_null(bad.q.owner); /* parked queues stay attached */
    sc_detach(&bad.q);
    sc_detach(&good.q);
    sc_set_destroy(s);
    close(kfd);
}

static void test_never_poll(void **state)
{
    (void)state;
    struct sc_set *s = make_set(1, true);
    int kfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct fq f;
    fq_init(&f, "np", kfd);
    assert_int_equal(sc_attach(s, &f.q), 0);
    assert_true(wait_sleeping(s, 1));
    for (int round = 0; round < 3; round++) {
        atomic_store(&f.work_left, 2);
        uint64_t one = 1;
        assert_int_equal(write(kfd, &one, sizeof(one)), sizeof(one));
        for (int i = 0; i < 5000 && atomic_load(&f.work_left) > 0; i++)
            nap_ms(1);
        assert_int_equal(atomic_load(&f.work_left), 0);
    }
    assert_true(atomic_load(&f.notify));
    assert_int_equal(atomic_load(&f.notify_off_calls), 0);
    sc_detach(&f.q);
    sc_set_destroy(s);
    close(kfd);
}

/* A queue that hands work off once (its second poll), then idles; its
 * third and fourth polls read the core's yield count. */
struct hq {
    struct sc_queue q;
    struct sc_set *set;
    _Atomic int polls;
    _Atomic uint64_t yields_before, yields_after;
};

static int hq_poll(struct sc_queue *q)
{
    struct hq *h = (struct hq *)q;
    int n = atomic_fetch_add(&h->polls, 1) + 1;
    struct sc_core_stats st;
    if (n == 2) {
        sc_handoff();
        return 1;
    }
    if (n == 3 || n == 4) {
        sc_core_stats(h->set, 0, &st);
        atomic_store(n == 3 ? &h->yields_before : &h->yields_after, st.yields);
    }
    return 0;
}

/* The round after a handoff ends idle: the sidecore yields then, without
 * first polling idly for its grace period (which a round never lasts
 * here: the yield is counted between the third and the fourth poll). */
static void test_handoff_yields_at_once(void **state)
{
    (void)state;
    struct sc_set *s = make_set(1, false);
    struct hq h;
    memset(&h, 0, sizeof(h));
    h.set = s;
    h.q.name = "handoff";
    h.q.poll = hq_poll;
    h.q.set_notify = fq_set_notify_none;
    h.q.kick_fd = -1;
    h.q.aux_fd = -1;
    assert_int_equal(sc_attach(s, &h.q), 0);
    assert_true(wait_int(&h.polls, 5));
    sc_detach(&h.q);
    assert_int_equal(atomic_load(&h.yields_after) - atomic_load(&h.yields_before), 1);
    sc_set_destroy(s);
}

static int count_threads_named(const char *prefix)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    int n = 0;
    assert_non_null(d);
    while ((e = readdir(d))) {
        char path[300], comm[64] = "";
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        if (fgets(comm, sizeof(comm), f) && strncmp(comm, prefix, strlen(prefix)) == 0)
            n++;
        fclose(f);
    }
    closedir(d);
    return n;
}

static void test_destroy_joins(void **state)
{
    (void)state;
    struct sc_params p;
    sc_params_default(&p);
    p.nr_sidecores = 2;
    p.cpus[0] = 0;
    p.cpus[1] = -1;
    struct sc_set *s = sc_set_create(&p);
    assert_non_null(s);
    assert_int_equal(sc_set_count(s), 2);
    struct sc_core_stats st;
    sc_core_stats(s, 0, &st);
    assert_int_equal(st.cpu, 0);
    for (int i = 0; i < 1000 && count_threads_named("sidecore-") < 2; i++)
        nap_ms(1);
    assert_int_equal(count_threads_named("sidecore-"), 2);
    struct fq f;
    fq_init(&f, "j", -1);
    assert_int_equal(sc_attach(s, &f.q), 0);
    sc_detach(&f.q);
    sc_set_destroy(s);
    /* pthread_join returns when the thread's tid is cleared, which the
     * kernel does before it removes the task from /proc/self/task. */
    for (int i = 0; i < 1000 && count_threads_named("sidecore-") > 0; i++)
        nap_ms(1);
    assert_int_equal(count_threads_named("sidecore-"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_params_rejected),
        cmocka_unit_test(test_attach_detach_threads),
        cmocka_unit_test(test_attach_twice_and_bad),
        cmocka_unit_test(test_placement_fewest_queues),
        cmocka_unit_test(test_placement_busy_tiebreak),
        cmocka_unit_test(test_hybrid_sleep_and_kick),
        cmocka_unit_test(test_sleep_counted_while_asleep),
        cmocka_unit_test(test_pending_work_cancels_sleep),
        cmocka_unit_test(test_parked_queue),
        cmocka_unit_test(test_never_poll),
        cmocka_unit_test(test_handoff_yields_at_once),
        cmocka_unit_test(test_destroy_joins),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
