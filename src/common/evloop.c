#include "evloop.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "util.h"

struct ev_fd {
    int fd;
    evloop_fd_cb cb;
    void *opaque;
    bool dead;
    struct ev_fd *next;
};

struct ev_timer {
    int id;
    uint64_t deadline_ns;
    evloop_timer_cb cb;
    void *opaque;
    struct ev_timer *next;
};

struct evloop {
    int epfd;
    struct ev_fd *fds;     /* includes entries marked dead until the round ends */
    struct ev_timer *timers;
    int next_timer_id;
    int depth;             /* > 0 while dispatching */
};

struct evloop *evloop_create(void)
{
    struct evloop *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0) {
        free(l);
        return NULL;
    }
    l->next_timer_id = 1;
    return l;
}

static void reap_dead(struct evloop *l)
{
    struct ev_fd **pp = &l->fds;
    while (*pp) {
        if ((*pp)->dead) {
            struct ev_fd *e = *pp;
            *pp = e->next;
            free(e);
        } else {
            pp = &(*pp)->next;
        }
    }
}

void evloop_destroy(struct evloop *l)
{
    if (!l)
        return;
    for (struct ev_fd *e = l->fds; e; e = e->next)
        e->dead = true;
    reap_dead(l);
    while (l->timers) {
        struct ev_timer *t = l->timers;
        l->timers = t->next;
        free(t);
    }
    close(l->epfd);
    free(l);
}

int evloop_add(struct evloop *l, int fd, uint32_t events, evloop_fd_cb cb, void *opaque)
{
    struct ev_fd *e = calloc(1, sizeof(*e));
    if (!e)
        return -ENOMEM;
    e->fd = fd;
    e->cb = cb;
    e->opaque = opaque;
    struct epoll_event ev = {.events = events, .data.ptr = e};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        int err = errno;
        free(e);
        return -err;
    }
    e->next = l->fds;
    l->fds = e;
    return 0;
}

static struct ev_fd *find_fd(struct evloop *l, int fd)
{
    for (struct ev_fd *e = l->fds; e; e = e->next)
        if (!e->dead && e->fd == fd)
            return e;
    return NULL;
}

int evloop_mod(struct evloop *l, int fd, uint32_t events)
{
    struct ev_fd *e = find_fd(l, fd);
    if (!e)
        return -ENOENT;
    struct epoll_event ev = {.events = events, .data.ptr = e};
    return epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

void evloop_del(struct evloop *l, int fd)
{
    struct ev_fd *e = find_fd(l, fd);
    if (!e)
        return;
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
    /* Freed after the dispatch round: a pending event may still point at it. */
    e->dead = true;
    if (l->depth == 0)
        reap_dead(l);
}

int evloop_timer(struct evloop *l, unsigned ms, evloop_timer_cb cb, void *opaque)
{
    struct ev_timer *t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    t->id = l->next_timer_id++;
    if (l->next_timer_id <= 0)
        l->next_timer_id = 1;
    t->deadline_ns = sc_now_ns() + (uint64_t)ms * 1000000ull;
    t->cb = cb;
    t->opaque = opaque;
    t->next = l->timers;
    l->timers = t;
    return t->id;
}

void evloop_timer_cancel(struct evloop *l, int id)
{
    for (struct ev_timer **pp = &l->timers; *pp; pp = &(*pp)->next) {
        if ((*pp)->id == id) {
            struct ev_timer *t = *pp;
            *pp = t->next;
            free(t);
            return;
        }
    }
}

static int run_timers(struct evloop *l)
{
    int n = 0;
    uint64_t now = sc_now_ns();
    for (;;) {
        struct ev_timer **pp = &l->timers, *due = NULL;
        for (; *pp; pp = &(*pp)->next) {
            if ((*pp)->deadline_ns <= now) {
                due = *pp;
                *pp = due->next;
                break;
            }
        }
        if (!due)
            return n;
        evloop_timer_cb cb = due->cb;
        void *opaque = due->opaque;
        free(due);
        cb(opaque);
        n++;
    }
}

int evloop_run_once(struct evloop *l, int timeout_ms)
{
    if (l->timers) {
        uint64_t now = sc_now_ns(), first = UINT64_MAX;
        for (struct ev_timer *t = l->timers; t; t = t->next)
            first = SC_MIN(first, t->deadline_ns);
        int t_ms = first <= now ? 0 : (int)SC_MIN((first - now + 999999) / 1000000, 1u << 30);
        if (timeout_ms < 0 || t_ms < timeout_ms)
            timeout_ms = t_ms;
    }
    struct epoll_event evs[32];
    int n = epoll_wait(l->epfd, evs, 32, timeout_ms);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    l->depth++;
    for (int i = 0; i < n; i++) {
        struct ev_fd *e = evs[i].data.ptr;
        if (!e->dead)
            e->cb(e->fd, evs[i].events, e->opaque);
    }
    l->depth--;
    if (l->depth == 0)
        reap_dead(l);
    return n + run_timers(l);
}
