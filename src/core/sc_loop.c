/* The sidecore thread: poll rounds, hybrid sleep, mailbox service.
 *
 * One clock read per round: the round's duration is charged to the core as
 * busy or idle time and split among the queues that found work in proportion
 * to what they reported. While busy the loop makes no syscall of its own. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/util.h"
#include "sc_int.h"

#define SC_MAX_EVENTS 64
#define SC_AUX_TAG 1ull /* low bit of epoll data: aux_fd rather than kick_fd */
/* Idle polling past this yields the CPU every round: a poller sharing the
 * CPU (the iohost of a vmhost on one machine, a vCPU thread) then runs at
 * once instead of after our time slice or idle_us; alone on its CPU the
 * sidecore pays one syscall per idle round, and none while work arrives
 * more often than this. After a round that handed work to such a poller
 * (sc_handoff: vRIO datagrams sent, frames written to a tap), the first
 * idle round yields at once: the answer cannot come before the peer ran
 * (remote 4K QD1 with vmhost and iohost on one CPU: p50 21.8 -> 12.2 us;
 * remote net request-response after the tap's handoff: 18.2 -> 12.7 us). */
#define SC_YIELD_AFTER_NS 5000ull

static const char *qname(const struct sc_queue *q)
{
    return q->name ? q->name : "?";
}

static int epoll_fd_op(struct sidecore *c, int op, int fd, uint64_t tag, const struct sc_queue *q)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = tag};
    if (fd < 0)
        return 0;
    if (epoll_ctl(c->epfd, op, fd, &ev) == 0)
        return 0;
    int err = errno;
    if (op == EPOLL_CTL_DEL && (err == ENOENT || err == EBADF))
        return 0; /* already removed after a hangup, or closed by the owner */
    LOG_ERR("sidecore", "sidecore-%u: queue %s: cannot %s fd %d in epoll: %s", c->id, qname(q),
            op == EPOLL_CTL_ADD ? "watch" : "unwatch", fd, strerror(err));
    return -err;
}

static void unwatch_queue(struct sidecore *c, struct sc_queue *q)
{
    epoll_fd_op(c, EPOLL_CTL_DEL, q->kick_fd, (uintptr_t)q, q);
    epoll_fd_op(c, EPOLL_CTL_DEL, q->aux_fd, (uintptr_t)q | SC_AUX_TAG, q);
}

void sc_loop_apply(struct sidecore *c, struct sc_mb_req *r)
{
    struct sc_queue *q = r->q;

    if (r->op == SC_MB_ATTACH) {
        int rc = epoll_fd_op(c, EPOLL_CTL_ADD, q->kick_fd, (uintptr_t)q, q);
        if (rc == 0) {
            rc = epoll_fd_op(c, EPOLL_CTL_ADD, q->aux_fd, (uintptr_t)q | SC_AUX_TAG, q);
            if (rc < 0)
                epoll_fd_op(c, EPOLL_CTL_DEL, q->kick_fd, (uintptr_t)q, q);
        }
        if (rc == 0) {
            /* The loop polls right after the mailbox; only the never_poll
             * baseline keeps guest kicks on while polling. */
            if (q->set_notify)
                q->set_notify(q, c->set->p.never_poll);
            __atomic_store_n(&q->owner, c, __ATOMIC_RELAXED);
            q->next = c->queues;
            c->queues = q;
            atomic_fetch_add_explicit(&c->nr_queues, 1, memory_order_relaxed);
        }
        r->result = rc;
    } else {
        struct sc_queue **pp = &c->queues;
        while (*pp && *pp != q)
            pp = &(*pp)->next;
        if (*pp) {
            *pp = q->next;
            if (!q->parked)
                unwatch_queue(c, q);
            atomic_fetch_sub_explicit(&c->nr_queues, 1, memory_order_relaxed);
            r->result = 0;
        } else {
            LOG_ERR("sidecore", "sidecore-%u: detach of unknown queue %s", c->id, qname(q));
            r->result = -ENOENT;
        }
        q->next = NULL;
        __atomic_store_n(&q->owner, NULL, __ATOMIC_RELAXED);
    }
    r->done = true;
}

static void serve_mailbox(struct sidecore *c)
{
    pthread_mutex_lock(&c->mb_lock);
    atomic_store_explicit(&c->mb_pending, false, memory_order_relaxed);
    struct sc_mb_req *r = c->mb_head;
    c->mb_head = NULL;
    while (r) {
        struct sc_mb_req *next = r->next; /* r lives on a waiter's stack */
        sc_loop_apply(c, r);
        r = next;
    }
    pthread_cond_broadcast(&c->mb_cond);
    pthread_mutex_unlock(&c->mb_lock);
}

static void set_notify_all(struct sidecore *c, bool on)
{
    for (struct sc_queue *q = c->queues; q; q = q->next)
        if (!q->parked && q->set_notify)
            q->set_notify(q, on);
}

/* Enable notifications everywhere; true if some queue already has work. */
/* *wake_ns: the earliest time a queue wants a round although nothing is
 * pending (UINT64_MAX: none). */
static bool arm_all(struct sidecore *c, uint64_t *wake_ns)
{
    bool pending = false;
    *wake_ns = UINT64_MAX;
    for (struct sc_queue *q = c->queues; q; q = q->next) {
        if (q->parked || !q->set_notify)
            continue;
        q->wake_ns = 0;
        if (q->set_notify(q, true))
            pending = true;
        else if (q->wake_ns && q->wake_ns < *wake_ns)
            *wake_ns = q->wake_ns;
    }
    return pending;
}

/* Returns the round's work (requests started or completed: a request may
 * count twice, once each way) and adds the requests completed to *done. */
static uint64_t poll_round(struct sidecore *c, uint64_t *done)
{
    uint64_t work = 0;
    for (struct sc_queue *q = c->queues; q; q = q->next) {
        q->round_work = 0;
        if (q->parked)
            continue;
        uint64_t before = q->stats.requests;
        int r = q->poll(q);
        *done += q->stats.requests - before;
        q->stats.polls++;
        if (SC_UNLIKELY(r < 0)) {
            q->parked = true;
            unwatch_queue(c, q);
            LOG_ERR("sidecore", "sidecore-%u: queue %s failed (poll returned %d); parked until "
                    "it is detached", c->id, qname(q), r);
            continue;
        }
        q->round_work = r;
        work += (uint64_t)r;
    }
    return work;
}

static void charge_busy(struct sidecore *c, uint64_t dur, uint64_t work)
{
    for (struct sc_queue *q = c->queues; q; q = q->next)
        if (q->round_work > 0)
            q->stats.busy_ns += dur * (uint64_t)q->round_work / work;
}

static void drain_event(struct sidecore *c, const struct epoll_event *ev)
{
    if (ev->data.u64 == 0) {
        uint64_t v;
        if (read(c->mb_efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
            LOG_WARN("sidecore", "sidecore-%u: mailbox read: %s", c->id, strerror(errno));
        return;
    }
    bool aux = ev->data.u64 & SC_AUX_TAG;
    struct sc_queue *q = (struct sc_queue *)(uintptr_t)(ev->data.u64 & ~SC_AUX_TAG);
    int fd = aux ? q->aux_fd : q->kick_fd;
    uint64_t v = 0;

    if (ev->events & (EPOLLHUP | EPOLLERR)) {
        /* A kick fd that hung up would wake us forever: stop watching it. */
        LOG_ERR("sidecore", "sidecore-%u: queue %s: %s fd %d hung up; no longer watched",
                c->id, qname(q), aux ? "aux" : "kick", fd);
        epoll_fd_op(c, EPOLL_CTL_DEL, fd, ev->data.u64, q);
        return;
    }
    ssize_t n = read(fd, &v, sizeof(v));
    if (n == (ssize_t)sizeof(v) && !aux)
        q->stats.kicks += v;
}

/* Sleep until an event or the bounded timeout. Returns true when woken by an
 * event, false on timeout or when a queue had pending work. */
static bool core_sleep(struct sidecore *c, bool *notify_on)
{
    struct epoll_event evs[SC_MAX_EVENTS];
    bool never_poll = c->set->p.never_poll;

    *notify_on = true;
    uint64_t wake_ns;
    if (arm_all(c, &wake_ns)) {
        if (!never_poll) {
            set_notify_all(c, false);
            *notify_on = false;
        }
        return true;
    }
    uint64_t t0 = sc_now_ns();
    int timeout = SC_SLEEP_TIMEOUT_MS;
    if (wake_ns != UINT64_MAX)
        timeout = wake_ns <= t0 ? 0
                                : (int)SC_MIN((wake_ns - t0 + 999999) / 1000000,
                                              (uint64_t)SC_SLEEP_TIMEOUT_MS);
    sc_stat_add(&c->sleeps, 1);
    atomic_store_explicit(&c->sleep_since, t0, memory_order_release);
    int n = epoll_wait(c->epfd, evs, SC_MAX_EVENTS, timeout);
    int err = errno;
    uint64_t t1 = sc_now_ns();
    atomic_store_explicit(&c->sleep_since, 0, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    sc_stat_add(&c->sleep_ns, t1 - t0);
    if (n < 0 && err != EINTR)
        LOG_ERR("sidecore", "sidecore-%u: epoll_wait: %s", c->id, strerror(err));
    /* EINTR counts as a wakeup: io_uring task work (a backend completion
     * about to be posted) interrupts the sleep that way. */
    if (n == 0 || (n < 0 && err != EINTR))
        return false;
    sc_stat_add(&c->wakeups, 1);
    for (int i = 0; i < n; i++)
        drain_event(c, &evs[i]);
    if (!never_poll) {
        set_notify_all(c, false);
        *notify_on = false;
    }
    return true;
}

static void name_and_pin(struct sidecore *c)
{
    char name[16];
    snprintf(name, sizeof(name), "sidecore-%u", c->id);
    pthread_setname_np(pthread_self(), name);
    if (c->cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(c->cpu, &set);
        int rc = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
        if (rc != 0)
            LOG_WARN("sidecore", "sidecore-%u: cannot pin to cpu %d: %s; running unpinned",
                     c->id, c->cpu, strerror(rc));
    }
}

static __thread struct sidecore *tls_self;
static __thread bool tls_handoff;

void sc_handoff(void)
{
    tls_handoff = true;
}

bool sc_polled_here(const struct sc_queue *q)
{
    return tls_self && __atomic_load_n(&q->owner, __ATOMIC_RELAXED) == tls_self;
}

void *sc_loop_main(void *arg)
{
    struct sidecore *c = arg;
    const struct sc_params *p = &c->set->p;
    uint64_t idle_limit = (uint64_t)p->idle_us * 1000ull;
    uint64_t t = sc_now_ns();
    uint64_t last_work = t, win_start = t, win_busy = 0;
    bool notify_on = p->never_poll;

    name_and_pin(c);
    tls_self = c;
    while (!atomic_load_explicit(&c->stop, memory_order_relaxed)) {
        if (atomic_load_explicit(&c->mb_pending, memory_order_relaxed)) {
            serve_mailbox(c);
            last_work = t;
        }
        uint64_t done = 0;
        uint64_t work = poll_round(c, &done);
        uint64_t now = sc_now_ns();
        uint64_t dur = now - t;
        t = now;
        sc_stat_add(&c->rounds, 1);
        if (work > 0) {
            sc_stat_add(&c->busy_ns, dur);
            sc_stat_add(&c->requests, done);
            charge_busy(c, dur, work);
            last_work = now;
            if (notify_on && !p->never_poll) {
                set_notify_all(c, false);
                notify_on = false;
            }
        } else {
            sc_stat_add(&c->idle_ns, dur);
        }
        if (now - win_start >= SC_LOAD_WINDOW_NS) {
            uint64_t busy = atomic_load_explicit(&c->busy_ns, memory_order_relaxed);
            atomic_store_explicit(&c->recent_busy_ns, busy - win_busy, memory_order_relaxed);
            win_busy = busy;
            win_start = now;
        }
        if (work > 0)
            continue;
        if (!p->never_poll && (tls_handoff || now - last_work >= SC_YIELD_AFTER_NS)) {
            sc_stat_add(&c->yields, 1);
            sched_yield();
        }
        tls_handoff = false;
        if (p->never_sleep)
            continue;
        if (p->never_poll || now - last_work >= idle_limit) {
            if (core_sleep(c, &notify_on))
                last_work = sc_now_ns();
            t = sc_now_ns(); /* sleep time is not idle polling time */
        }
    }

    /* Answer anything still posted, then let waiters act for us. */
    pthread_mutex_lock(&c->mb_lock);
    struct sc_mb_req *r = c->mb_head;
    c->mb_head = NULL;
    while (r) {
        struct sc_mb_req *next = r->next;
        sc_loop_apply(c, r);
        r = next;
    }
    atomic_store(&c->alive, false);
    pthread_cond_broadcast(&c->mb_cond);
    pthread_mutex_unlock(&c->mb_lock);
    return NULL;
}
