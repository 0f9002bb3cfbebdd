/* Internals shared by the sidecore control side (sidecore.c) and the polling
 * loop (sc_loop.c).
 *
 * The queue list, the epoll set and the queue stats belong to the sidecore
 * thread. The control thread talks to it only through the mailbox: a list of
 * requests under mb_lock, announced by mb_pending (checked by the loop with
 * one relaxed load per round) and mb_efd (wakes the loop from epoll). The
 * thread marks each request done under mb_lock and broadcasts mb_cond. */
#ifndef SC_CORE_INT_H
#define SC_CORE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "sidecore.h"

#define SC_MAX_CORES 64
#define SC_SLEEP_TIMEOUT_MS 1000 /* bounded sleep: the mailbox is rechecked */
#define SC_LOAD_WINDOW_NS 1000000000ull

enum sc_mb_op { SC_MB_ATTACH, SC_MB_DETACH };

struct sc_mb_req {
    enum sc_mb_op op;
    struct sc_queue *q;
    int result;
    bool done;
    struct sc_mb_req *next;
};

struct sidecore {
    struct sc_set *set;
    unsigned id;
    int cpu;
    pthread_t thread;
    bool started;
    _Atomic bool alive;
    _Atomic bool stop;

    /* Thread-owned. */
    struct sc_queue *queues;
    int epfd;

    /* Mailbox. */
    pthread_mutex_t mb_lock;
    pthread_cond_t mb_cond;
    struct sc_mb_req *mb_head;
    _Atomic bool mb_pending;
    int mb_efd;

    /* Placement, under set->lock: queues placed here (counted at placement,
     * before the thread acknowledges, so concurrent attaches spread). */
    unsigned assigned;

    /* Written by the thread, read by anyone with relaxed loads. */
    _Atomic unsigned nr_queues;
    _Atomic uint64_t rounds, busy_ns, idle_ns, sleep_ns, sleeps, wakeups, requests, yields;
    _Atomic uint64_t recent_busy_ns; /* busy time in the last complete window */
    /* Start of the sleep in progress (sc_now_ns; 0: awake), so a reader can
     * credit a sleep that has not ended yet: epoll_wait may take up to
     * SC_SLEEP_TIMEOUT_MS, longer than a `top` interval. The loop clears it
     * before adding the ended sleep to sleep_ns (a release fence between):
     * a reader that sees the same start before and after reading sleep_ns
     * read a sleep_ns without that sleep (a seqlock with sleep_since as its
     * sequence). */
    _Atomic uint64_t sleep_since;
    /* Readers only: the largest sleep time handed out, which keeps it
     * monotonic across a sleep's end that races with a read. */
    _Atomic uint64_t sleep_seen;
};

struct sc_set {
    struct sc_params p;
    unsigned n;
    pthread_mutex_t lock; /* placement only */
    struct sidecore cores[];
};

void *sc_loop_main(void *arg);
/* Applies one mailbox request; runs on the sidecore thread (or on the
 * control thread once the sidecore thread is gone). */
void sc_loop_apply(struct sidecore *c, struct sc_mb_req *r);

static inline void sc_stat_add(_Atomic uint64_t *s, uint64_t v)
{
    /* Single writer: a relaxed load+store is enough and avoids a locked add. */
    atomic_store_explicit(s, atomic_load_explicit(s, memory_order_relaxed) + v,
                          memory_order_relaxed);
}

#endif
