/* Sidecore set: thread life cycle, placement and the control side of the
 * mailbox (synchronous attach / detach). The polling loop is in sc_loop.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/util.h"
#include "sc_int.h"

#define SC_ACK_WARN_S 5

void sc_params_default(struct sc_params *p)
{
    memset(p, 0, sizeof(*p));
    p->nr_sidecores = 1;
    p->idle_us = 200;
    for (unsigned i = 0; i < SC_ARRAY_SIZE(p->cpus); i++)
        p->cpus[i] = -1;
}

static void core_release(struct sidecore *c)
{
    if (c->epfd >= 0)
        close(c->epfd);
    if (c->mb_efd >= 0)
        close(c->mb_efd);
    pthread_cond_destroy(&c->mb_cond);
    pthread_mutex_destroy(&c->mb_lock);
}

static int core_init(struct sc_set *s, unsigned i)
{
    struct sidecore *c = &s->cores[i];
    pthread_condattr_t ca;

    c->set = s;
    c->id = i;
    c->cpu = s->p.cpus[i];
    c->epfd = -1;
    c->mb_efd = -1;
    pthread_mutex_init(&c->mb_lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->mb_cond, &ca);
    pthread_condattr_destroy(&ca);

    c->epfd = epoll_create1(EPOLL_CLOEXEC);
    c->mb_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (c->epfd < 0 || c->mb_efd < 0) {
        int err = errno;
        LOG_ERR("sidecore", "sidecore-%u: cannot create epoll/eventfd: %s", i, strerror(err));
        return -err;
    }
    /* data.u64 == 0 marks the mailbox; queues use their (non-NULL) address. */
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0};
    if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, c->mb_efd, &ev) < 0) {
        int err = errno;
        LOG_ERR("sidecore", "sidecore-%u: epoll_ctl(mailbox): %s", i, strerror(err));
        return -err;
    }
    atomic_store(&c->alive, true);
    int rc = pthread_create(&c->thread, NULL, sc_loop_main, c);
    if (rc != 0) {
        atomic_store(&c->alive, false);
        LOG_ERR("sidecore", "sidecore-%u: pthread_create: %s", i, strerror(rc));
        return -rc;
    }
    c->started = true;
    return 0;
}

static void core_stop(struct sidecore *c)
{
    if (c->started) {
        uint64_t one = 1;
        atomic_store(&c->stop, true);
        if (write(c->mb_efd, &one, sizeof(one)) < 0)
            LOG_WARN("sidecore", "sidecore-%u: mailbox wake: %s", c->id, strerror(errno));
        pthread_join(c->thread, NULL);
        c->started = false;
    }
    core_release(c);
}

struct sc_set *sc_set_create(const struct sc_params *p)
{
    struct sc_params def;
    if (!p) {
        sc_params_default(&def);
        p = &def;
    }
    if (p->nr_sidecores == 0 || p->nr_sidecores > SC_MAX_CORES) {
        LOG_ERR("sidecore", "nr_sidecores=%u: must be 1..%u", p->nr_sidecores, SC_MAX_CORES);
        return NULL;
    }
    if (p->never_sleep && p->never_poll) {
        LOG_ERR("sidecore", "never_sleep and never_poll are mutually exclusive");
        return NULL;
    }
    struct sc_set *s = calloc(1, sizeof(*s) + p->nr_sidecores * sizeof(struct sidecore));
    if (!s) {
        LOG_ERR("sidecore", "out of memory for %u sidecores", p->nr_sidecores);
        return NULL;
    }
    s->p = *p;
    pthread_mutex_init(&s->lock, NULL);
    for (unsigned i = 0; i < p->nr_sidecores; i++) {
        if (core_init(s, i) < 0) {
            for (unsigned j = 0; j <= i; j++)
                core_stop(&s->cores[j]);
            pthread_mutex_destroy(&s->lock);
            free(s);
            return NULL;
        }
        s->n = i + 1;
    }
    return s;
}

void sc_set_destroy(struct sc_set *s)
{
    if (!s)
        return;
    for (unsigned i = 0; i < s->n; i++) {
        unsigned left = atomic_load(&s->cores[i].nr_queues);
        if (left)
            LOG_ERR("sidecore", "sidecore-%u destroyed with %u queue(s) still attached", i,
                    left);
        core_stop(&s->cores[i]);
    }
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* Post r to c and wait until the thread has applied it. */
static void mailbox_call(struct sidecore *c, struct sc_mb_req *r)
{
    uint64_t one = 1;
    unsigned waited = 0;

    pthread_mutex_lock(&c->mb_lock);
    r->next = c->mb_head;
    c->mb_head = r;
    atomic_store_explicit(&c->mb_pending, true, memory_order_release);
    pthread_mutex_unlock(&c->mb_lock);
    if (write(c->mb_efd, &one, sizeof(one)) < 0)
        LOG_WARN("sidecore", "sidecore-%u: mailbox wake: %s", c->id, strerror(errno));

    pthread_mutex_lock(&c->mb_lock);
    while (!r->done) {
        if (!atomic_load(&c->alive)) {
            /* The thread is gone: nobody else touches its state any more. */
            struct sc_mb_req **pp = &c->mb_head;
            while (*pp && *pp != r)
                pp = &(*pp)->next;
            if (*pp)
                *pp = r->next;
            sc_loop_apply(c, r);
            break;
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += 1;
        if (pthread_cond_timedwait(&c->mb_cond, &c->mb_lock, &ts) == ETIMEDOUT && !r->done) {
            waited++;
            if (waited % SC_ACK_WARN_S == 0)
                LOG_ERR("sidecore",
                        "sidecore-%u has not acknowledged %s of queue %s for %u s "
                        "(a poll() call may be stuck)",
                        c->id, r->op == SC_MB_ATTACH ? "attach" : "detach",
                        r->q->name ? r->q->name : "?", waited);
        }
    }
    pthread_mutex_unlock(&c->mb_lock);
}

static uint64_t core_load_busy(struct sidecore *c)
{
    return atomic_load_explicit(&c->recent_busy_ns, memory_order_relaxed);
}

int sc_attach(struct sc_set *s, struct sc_queue *q)
{
    if (!s || !q || !q->poll) {
        LOG_ERR("sidecore", "attach: queue %s has no poll callback",
                q && q->name ? q->name : "?");
        return -EINVAL;
    }
    if (q->owner) {
        LOG_ERR("sidecore", "attach: queue %s is already attached to sidecore-%u",
                q->name ? q->name : "?", q->owner->id);
        return -EBUSY;
    }

    pthread_mutex_lock(&s->lock);
    struct sidecore *best = &s->cores[0];
    for (unsigned i = 1; i < s->n; i++) {
        struct sidecore *c = &s->cores[i];
        if (c->assigned < best->assigned ||
            (c->assigned == best->assigned && core_load_busy(c) < core_load_busy(best)))
            best = c;
    }
    if (!q->light)
        best->assigned++;
    pthread_mutex_unlock(&s->lock);

    q->parked = false;
    q->next = NULL;
    q->round_work = 0;
    struct sc_mb_req r = {.op = SC_MB_ATTACH, .q = q};
    mailbox_call(best, &r);
    if (r.result < 0 && !q->light) {
        pthread_mutex_lock(&s->lock);
        best->assigned--;
        pthread_mutex_unlock(&s->lock);
        return r.result;
    }
    LOG_DEBUG("sidecore", "queue %s attached to sidecore-%u", q->name ? q->name : "?", best->id);
    return 0;
}

void sc_detach(struct sc_queue *q)
{
    if (!q || !q->owner) {
        LOG_ERR("sidecore", "detach: queue %s is not attached", q && q->name ? q->name : "?");
        return;
    }
    struct sidecore *c = q->owner;
    struct sc_mb_req r = {.op = SC_MB_DETACH, .q = q};
    mailbox_call(c, &r);
    if (q->light)
        return;
    pthread_mutex_lock(&c->set->lock);
    c->assigned--;
    pthread_mutex_unlock(&c->set->lock);
}

void sc_wake(struct sc_queue *q)
{
    struct sidecore *c = q ? q->owner : NULL;
    uint64_t one = 1;
    /* The loop polls every queue after any wake-up; an empty mailbox is fine. */
    if (c && write(c->mb_efd, &one, sizeof(one)) < 0)
        LOG_WARN("sidecore", "sidecore-%u: wake for %s: %s", c->id, q->name ? q->name : "?", strerror(errno));
}

unsigned sc_set_count(const struct sc_set *s)
{
    return s ? s->n : 0;
}

/* Sleep time up to *now, the sleep in progress included. */
static uint64_t sleep_ns_now(struct sidecore *c, uint64_t *now_out)
{
    uint64_t since, total, now;
    for (;;) {
        since = atomic_load_explicit(&c->sleep_since, memory_order_acquire);
        total = atomic_load_explicit(&c->sleep_ns, memory_order_relaxed);
        now = sc_now_ns();
        atomic_thread_fence(memory_order_acquire);
        /* Unchanged: total does not hold the sleep that began at since. */
        if (atomic_load_explicit(&c->sleep_since, memory_order_relaxed) == since)
            break;
    }
    *now_out = now;
    if (since && now > since)
        total += now - since;
    /* A read racing with a sleep's end may have credited it up to a clock
     * read a little later than the end the loop records, or may find the
     * sleep ended but not yet added: never hand out less than before. */
    uint64_t seen = atomic_load_explicit(&c->sleep_seen, memory_order_relaxed);
    while (seen < total &&
           !atomic_compare_exchange_weak_explicit(&c->sleep_seen, &seen, total,
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
    return seen > total ? seen : total;
}

void sc_core_stats(struct sc_set *s, unsigned idx, struct sc_core_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!s || idx >= s->n)
        return;
    struct sidecore *c = &s->cores[idx];
    out->id = c->id;
    out->cpu = c->cpu;
    out->nr_queues = atomic_load_explicit(&c->nr_queues, memory_order_relaxed);
    out->rounds = atomic_load_explicit(&c->rounds, memory_order_relaxed);
    out->busy_ns = atomic_load_explicit(&c->busy_ns, memory_order_relaxed);
    out->idle_ns = atomic_load_explicit(&c->idle_ns, memory_order_relaxed);
    out->sleep_ns = sleep_ns_now(c, &out->sampled_ns);
    out->sleeps = atomic_load_explicit(&c->sleeps, memory_order_relaxed);
    out->wakeups = atomic_load_explicit(&c->wakeups, memory_order_relaxed);
    out->requests = atomic_load_explicit(&c->requests, memory_order_relaxed);
    out->yields = atomic_load_explicit(&c->yields, memory_order_relaxed);
}
