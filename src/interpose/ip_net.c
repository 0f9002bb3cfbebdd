/* Net interposition chain (see ip_net.h). */
#include "ip_net.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/util.h"
#include "ip_chain.h"

struct ip_nlist {
    unsigned n;
    struct ip_stage *st[IP_MAX_STAGES];
};

struct ip_net {
    struct net_port_hook hook; /* first: the hook leads back to the chain */
    _Atomic(struct ip_nlist *) cur;
    _Atomic unsigned epoch;
    _Atomic unsigned readers[2];
    pthread_mutex_t lock; /* writers and stats */
    ip_clock_fn clock;
    void *clock_opaque;
};

static uint64_t default_clock(void *opaque)
{
    (void)opaque;
    return sc_now_ns();
}

static unsigned reader_enter(struct ip_net *c)
{
    for (;;) {
        unsigned e = atomic_load(&c->epoch);
        atomic_fetch_add(&c->readers[e & 1], 1);
        if (atomic_load(&c->epoch) == e)
            return e & 1;
        atomic_fetch_sub(&c->readers[e & 1], 1);
    }
}

static unsigned run(struct net_port_hook *h, struct net_port *p, bool to_port,
                    struct net_pkt *const *pkts, unsigned n, struct net_pkt **out)
{
    struct ip_net *c = (struct ip_net *)h;
    (void)p;
    unsigned e = reader_enter(c);
    struct ip_nlist *l = atomic_load(&c->cur);
    unsigned k = 0;
    uint64_t now = l->n ? c->clock(c->clock_opaque) : 0;
    for (unsigned i = 0; i < n; i++) {
        enum ip_verdict v = IP_PASS;
        for (unsigned s = 0; s < l->n && v == IP_PASS; s++)
            v = l->st[s]->ops->frame(l->st[s], pkts[i], to_port, now);
        if (v == IP_PASS)
            out[k++] = pkts[i];
    }
    atomic_fetch_sub_explicit(&c->readers[e], 1, memory_order_release);
    return k;
}

static void list_free(struct ip_nlist *l)
{
    if (!l)
        return;
    ip_stages_free(l->st, l->n);
    free(l);
}

struct ip_net *ip_net_create(void)
{
    struct ip_net *c = calloc(1, sizeof(*c));
    struct ip_nlist *empty = calloc(1, sizeof(*empty));
    if (!c || !empty) {
        free(c);
        free(empty);
        return NULL;
    }
    c->hook.filter = run;
    atomic_init(&c->cur, empty);
    pthread_mutex_init(&c->lock, NULL);
    c->clock = default_clock;
    return c;
}

void ip_net_destroy(struct ip_net *c)
{
    if (!c)
        return;
    list_free(atomic_load(&c->cur));
    pthread_mutex_destroy(&c->lock);
    free(c);
}

struct net_port_hook *ip_net_hook(struct ip_net *c) { return &c->hook; }

void ip_net_set_clock(struct ip_net *c, ip_clock_fn fn, void *opaque)
{
    c->clock = fn ? fn : default_clock;
    c->clock_opaque = opaque;
}

int ip_net_set(struct ip_net *c, struct ip_stage **stages, unsigned n, const char **why)
{
    if (n > IP_MAX_STAGES) {
        *why = "too many stages (at most 8)";
        return -EINVAL;
    }
    for (unsigned i = 0; i < n; i++)
        if (!(ip_stage_devs(stages[i]) & IP_DEV_NET) || !stages[i]->ops->frame) {
            /* Control thread only; the caller copies the reason at once. */
            static __thread char msg[96];
            snprintf(msg, sizeof(msg), "stage %u (%s) does not apply to net ports (they take "
                     "filter)", i, stages[i]->ops->kind);
            *why = msg;
            return -EINVAL;
        }
    struct ip_nlist *l = calloc(1, sizeof(*l));
    if (!l) {
        *why = "out of memory";
        return -ENOMEM;
    }
    l->n = n;
    if (n)
        memcpy(l->st, stages, n * sizeof(*stages));
    pthread_mutex_lock(&c->lock);
    struct ip_nlist *old = atomic_exchange(&c->cur, l);
    /* Readers that may still hold old entered in the current epoch: move on
     * and wait for that one to drain (one batch). */
    unsigned prev = atomic_fetch_add(&c->epoch, 1) & 1;
    while (atomic_load(&c->readers[prev]) != 0) {
        struct timespec ts = {0, 20000};
        nanosleep(&ts, NULL);
    }
    pthread_mutex_unlock(&c->lock);
    list_free(old);
    return 0;
}

json_t *ip_net_stats(struct ip_net *c)
{
    pthread_mutex_lock(&c->lock);
    struct ip_nlist *l = atomic_load(&c->cur);
    json_t *arr = ip_stages_stats(l->st, l->n);
    pthread_mutex_unlock(&c->lock);
    return arr;
}
