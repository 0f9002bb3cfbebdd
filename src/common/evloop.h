/* Control-plane event loop (one thread): file descriptors with callbacks and
 * one-shot timers. The data plane never runs here. */
#ifndef SC_EVLOOP_H
#define SC_EVLOOP_H

#include <stdint.h>

struct evloop;
typedef void (*evloop_fd_cb)(int fd, uint32_t events, void *opaque);
typedef void (*evloop_timer_cb)(void *opaque);

struct evloop *evloop_create(void);
void evloop_destroy(struct evloop *l);
/* events: EPOLLIN/EPOLLOUT...; returns 0 or -errno. */
int evloop_add(struct evloop *l, int fd, uint32_t events, evloop_fd_cb cb, void *opaque);
int evloop_mod(struct evloop *l, int fd, uint32_t events);
/* Safe to call from a callback, including for the fd being served. */
void evloop_del(struct evloop *l, int fd);
/* One-shot timer after ms; returns an id > 0 or -errno. */
int evloop_timer(struct evloop *l, unsigned ms, evloop_timer_cb cb, void *opaque);
void evloop_timer_cancel(struct evloop *l, int id);
/* Wait up to timeout_ms (-1: no limit) and dispatch; returns events handled or -errno. */
int evloop_run_once(struct evloop *l, int timeout_ms);

#endif
