/* vmhost client: creating the backend (one bounded HELLO to learn the
 * export's size and abilities), queue life cycle and per-peer stats. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/util.h"
#include "rio_client_int.h"
#include "rio_io.h"

#define MS(x) ((uint64_t)(x) * 1000000ull)

static const struct blk_backend_ops rio_ops;

static uint64_t random64(void)
{
    uint64_t v = 0;
    if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v))
        v = sc_now_ns() ^ ((uint64_t)getpid() << 32);
    return v ? v : 1;
}

static void rio_info(struct blk_backend *b, struct blk_backend_info *out)
{
    *out = ((struct rio_be *)b)->info;
}

static void cq_free(struct rio_cq *q)
{
    if (q->fbq)
        q->be->fallback->ops->queue_close(q->fbq);
    if (q->epfd >= 0)
        close(q->epfd);
    if (q->tfd >= 0)
        close(q->tfd);
    if (q->sock >= 0)
        close(q->sock);
    free(q->stage);
    free(q->flat);
    free(q);
}

static int watch(int epfd, int fd)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    return fd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == 0 ? 0 : -errno;
}

static int rio_queue_open(struct blk_backend *b, unsigned depth, struct blk_bq **out)
{
    struct rio_be *be = (struct rio_be *)b;
    if (depth == 0)
        return -EINVAL;
    unsigned window = SC_MIN(be->window, depth);
    struct rio_cq *q = calloc(1, sizeof(*q) + window * sizeof(q->slots[0]));
    if (!q)
        return -ENOMEM;
    q->be = be;
    q->sock = q->tfd = q->epfd = q->fb_efd = -1;
    q->window = window;
    q->session = random64();
    q->next_id = q->lwm = 1;
    q->next_check_ns = UINT64_MAX;
    q->rto_ns = SC_MAX(be->rto_min_ns, MS(10));
    q->cwnd = RIO_CWND_INIT;
    q->ssthresh = UINT64_MAX;
    for (unsigned i = 0; i < window; i++)
        q->slots[i].q = q;
    const char *why = "";
    int rc = -ENOMEM;
    q->peer_frag = be->frag_size;
    q->stage = malloc(RIO_DGRAM_MAX);
    q->flat = malloc(RIO_DGRAM_MAX);
    if (!q->stage || !q->flat)
        goto fail;
    q->sock = rio_socket(NULL, 0, false, (struct sockaddr *)&be->addr, be->addrlen, &why);
    if (q->sock < 0) {
        rc = q->sock;
        LOG_ERR("remote", "%s: %s: %s", be->label, why, strerror(-rc));
        goto fail;
    }
    /* An answer's fragments, sent as one segmented run, then come in one
     * receive (rio_cq.c); without it, one receive each. */
    rio_gro_on(q->sock);
    q->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    q->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (q->tfd < 0 || q->epfd < 0) {
        rc = -errno;
        goto fail;
    }
    if (be->fallback) {
        if ((rc = be->fallback->ops->queue_open(be->fallback, window, &q->fbq)) < 0) {
            LOG_ERR("remote", "%s: the fallback backend cannot open a queue: %s", be->label,
                    strerror(-rc));
            q->fbq = NULL;
            goto fail;
        }
        q->fb_efd = be->fallback->ops->event_fd(q->fbq);
    }
    if ((rc = watch(q->epfd, q->sock)) < 0 || (rc = watch(q->epfd, q->tfd)) < 0 ||
        (rc = watch(q->epfd, q->fb_efd)) < 0)
        goto fail;
    /* The lowest number no open queue has: QEMU restarts a device's rings
     * one by one (a migration's start), and "one above the highest" named
     * queue 0 q2 and queue 1 q3 in the log, beside the device's q0 and q1. */
    pthread_mutex_lock(&be->lock);
    for (;;) {
        bool taken = false;
        for (struct rio_cq *o = be->queues; o && !taken; o = o->next)
            taken = o->idx == q->idx;
        if (!taken)
            break;
        q->idx++;
    }
    q->next = be->queues;
    be->queues = q;
    pthread_mutex_unlock(&be->lock);
    rio_cq_start(q);
    *out = (struct blk_bq *)q;
    return 0;
fail:
    cq_free(q);
    return rc;
}

static void rio_queue_close(struct blk_bq *bq)
{
    struct rio_cq *q = (struct rio_cq *)bq;
    if (!q)
        return;
    struct rio_be *be = q->be;
    if (q->busy)
        LOG_ERR("remote", "%s q%u: closed with %u request(s) in flight", be->label, q->idx,
                q->busy);
    pthread_mutex_lock(&be->lock);
    for (struct rio_cq **pp = &be->queues; *pp; pp = &(*pp)->next)
        if (*pp == q) {
            *pp = q->next;
            break;
        }
    _Atomic uint64_t *past[] = {&be->past_requests, &be->past_retransmits, &be->past_failovers,
                                &be->past_reconnects, &be->past_fb, &be->past_failed,
                                &be->past_stale, &be->past_cuts};
    _Atomic uint64_t *now[] = {&q->requests, &q->retransmits, &q->failovers, &q->reconnects,
                               &q->fb_requests, &q->failed, &q->stale_resends,
                               &q->cwnd_cuts};
    for (unsigned i = 0; i < SC_ARRAY_SIZE(past); i++)
        atomic_fetch_add(past[i], atomic_load(now[i]));
    uint64_t rx = atomic_load(&q->pub_last_rx_ns);
    if (rx > atomic_load(&be->past_rx_ns))
        atomic_store(&be->past_rx_ns, rx);
    pthread_mutex_unlock(&be->lock);
    cq_free(q);
}

static int rio_submit(struct blk_bq *bq, struct blk_io *io)
{
    return rio_cq_submit((struct rio_cq *)bq, io);
}

static void rio_kick(struct blk_bq *bq) { rio_cq_kick((struct rio_cq *)bq); }
static int rio_reap(struct blk_bq *bq) { return rio_cq_reap((struct rio_cq *)bq); }
static unsigned rio_in_flight(struct blk_bq *bq) { return ((struct rio_cq *)bq)->busy; }
static int rio_event_fd(struct blk_bq *bq) { return ((struct rio_cq *)bq)->epfd; }

static void rio_destroy(struct blk_backend *b)
{
    struct rio_be *be = (struct rio_be *)b;
    if (!be)
        return;
    if (be->fallback)
        be->fallback->ops->destroy(be->fallback);
    pthread_mutex_destroy(&be->lock);
    free(be);
}

static int rio_resize(struct blk_backend *b, uint64_t size, const char **why);

static const struct blk_backend_ops rio_ops = {
    .name = "remote",
    .info = rio_info,
    .queue_open = rio_queue_open,
    .queue_close = rio_queue_close,
    .submit = rio_submit,
    .kick = rio_kick,
    .reap = rio_reap,
    .in_flight = rio_in_flight,
    .event_fd = rio_event_fd,
    .destroy = rio_destroy,
    .resize = rio_resize,
};

/* One HELLO exchange, retried every 200 ms within timeout_ms. 0, -ENOENT
 * (no such export), -ETIMEDOUT or another -errno; *heard_ns: when the
 * answer came (0: none). */
static int hello(const struct rio_target *t, unsigned timeout_ms, struct rio_hello_info *out,
                 uint64_t *heard_ns)
{
    *heard_ns = 0;
    const char *why = "";
    int fd = rio_socket(NULL, 0, false, (const struct sockaddr *)&t->addr, t->addrlen, &why);
    if (fd < 0)
        return fd;
    uint64_t nonce = random64();
    struct rio_hdr h = {.type = RIO_T_HELLO, .device = t->tag, .id = nonce};
    struct iovec name = {(void *)t->device, strlen(t->device)};
    uint64_t end = sc_now_ns() + MS(timeout_ms);
    int rc = -ETIMEDOUT;
    uint8_t wire[RIO_HDR_SIZE];
    rio_hdr_encode(&h, wire);
    rio_seal(wire, &name, 1, (uint32_t)name.iov_len);
    struct iovec v[2] = {{wire, sizeof(wire)}, name};
    struct msghdr m = {.msg_iov = v, .msg_iovlen = 2};
    while (sc_now_ns() < end && rc == -ETIMEDOUT) {
        if (sendmsg(fd, &m, 0) < 0)
            LOG_DEBUG("remote", "%s: HELLO: %s", t->device, strerror(errno));
        uint64_t step_end = SC_MIN(end, sc_now_ns() + MS(200));
        while (rc == -ETIMEDOUT) {
            uint64_t now = sc_now_ns();
            if (now >= step_end)
                break;
            struct pollfd p = {.fd = fd, .events = POLLIN};
            if (poll(&p, 1, (int)((step_end - now) / 1000000ull) + 1) <= 0)
                continue;
            struct rio_hdr a;
            if (rio_peek(fd, &a, NULL, NULL) < 0)
                continue;
            if (a.type != RIO_T_HELLO_ACK || a.id != nonce) {
                rio_drop(fd);
                continue;
            }
            uint8_t info[RIO_HELLO_INFO_SIZE];
            struct iovec iv = {info, sizeof(info)};
            if (a.status) {
                rio_drop(fd);
                rc = a.status;
            } else if (rio_recv_into(fd, &iv, 1, 0, sizeof(info), info) == 0) {
                rio_hello_decode(info, out);
                rc = 0;
            }
            if (rc != -ETIMEDOUT)
                *heard_ns = sc_now_ns();
        }
    }
    close(fd);
    return rc;
}

static void info_from_hello(struct blk_backend_info *inf, const struct rio_hello_info *h)
{
    inf->size = h->size;
    inf->block_size = h->block_size == 4096 ? 4096 : 512;
    inf->read_only = h->flags & RIO_EX_READ_ONLY;
    inf->can_discard = h->flags & RIO_EX_DISCARD;
    inf->can_write_zeroes = h->flags & RIO_EX_WRITE_ZEROES;
    inf->has_flush = h->flags & RIO_EX_FLUSH;
}

void rio_blk_target(const struct blk_backend *b, struct rio_target *t)
{
    const struct rio_be *be = (const struct rio_be *)b;
    t->addr = be->addr;
    t->addrlen = be->addrlen;
    t->tag = be->tag;
    snprintf(t->device, sizeof(t->device), "%s", be->device);
}

int rio_target_probe(const struct rio_target *t, unsigned timeout_ms, uint64_t *rtt_ns,
                     uint64_t *heard_ns, const char **why)
{
    struct rio_hello_info hi;
    uint64_t t0 = sc_now_ns();
    int rc = hello(t, timeout_ms, &hi, heard_ns);
    *rtt_ns = *heard_ns ? *heard_ns - t0 : 0;
    if (rc == -ENOENT)
        *why = "the iohost answers but has no export of that name";
    else if (rc == -ETIMEDOUT)
        *why = "the iohost did not answer";
    else if (rc < 0)
        *why = "the HELLO could not be sent";
    return rc;
}

void rio_blk_heard(struct blk_backend *b, uint64_t when_ns)
{
    struct rio_be *be = (struct rio_be *)b;
    uint64_t old = atomic_load(&be->past_rx_ns);
    while (old < when_ns && !atomic_compare_exchange_weak(&be->past_rx_ns, &old, when_ns))
        ;
}

int rio_target_check_size(const struct rio_target *t, uint64_t size, uint64_t *heard_ns,
                          const char **why)
{
    struct rio_hello_info hi;
    int rc = hello(t, 2000, &hi, heard_ns);
    if (rc == -ENOENT) {
        *why = "the iohost has no export of that name any more";
        return rc;
    }
    if (rc < 0) {
        *why = "the iohost does not answer, so the export's size is unknown (try again when "
               "it does)";
        return rc;
    }
    if (hi.size != size) {
        static __thread char msg[160];
        snprintf(msg, sizeof(msg), "the export on the iohost is %llu bytes, and a remote device "
                 "has its export's size (grow the export first: export-resize on the iohost)",
                 (unsigned long long)hi.size);
        *why = msg;
        return -EINVAL;
    }
    return 0;
}

/* A remote device has its export's size: the export grows on the iohost
 * first (export_resize), then the device follows (the caller checked the
 * size with rio_target_check_size), and its fallback (the export's own
 * storage) with it. */
static int rio_resize(struct blk_backend *b, uint64_t size, const char **why)
{
    struct rio_be *be = (struct rio_be *)b;
    int rc;
    if (be->fallback) {
        if (!be->fallback->ops->resize) {
            *why = "the fallback backend cannot be resized";
            return -EOPNOTSUPP;
        }
        rc = be->fallback->ops->resize(be->fallback, size, why);
        if (rc < 0)
            return rc;
    }
    be->info.size = size;
    return 0;
}

void rio_blk_params_defaults(struct rio_blk_params *p)
{
    p->mtu = p->mtu ? p->mtu : 1500;
    p->window = p->window ? p->window : 128;
    p->heartbeat_ms = p->heartbeat_ms ? p->heartbeat_ms : 100;
    p->failover_ms = p->failover_ms ? p->failover_ms : 1000;
    p->timeout_ms = p->timeout_ms ? p->timeout_ms : 10000;
    p->rto_min_us = p->rto_min_us ? p->rto_min_us : 2000;
    p->connect_ms = p->connect_ms ? p->connect_ms : 2000;
}

struct blk_backend *rio_blk_create(const struct rio_blk_params *given, const char **why)
{
    struct rio_blk_params dp = *given, *p = &dp;
    rio_blk_params_defaults(p);
    if (!p->device || !*p->device || strlen(p->device) >= RIO_NAME_MAX) {
        *why = "the export name on the iohost is missing or longer than 63 bytes";
        return NULL;
    }
    if (p->window > RIO_ID_SPAN) {
        *why = "window must be at most 1024";
        return NULL;
    }
    struct rio_be *be = calloc(1, sizeof(*be));
    if (!be) {
        *why = "out of memory";
        return NULL;
    }
    if (rio_addr_parse(p->server, &be->addr, &be->addrlen) < 0) {
        free(be);
        *why = "iohost address: expected IP:PORT (numeric, port 1-65535, e.g. 10.0.0.2:7000 "
               "or [fd00::2]:7000)";
        return NULL;
    }
    be->base.ops = &rio_ops;
    snprintf(be->device, sizeof(be->device), "%s", p->device);
    snprintf(be->label, sizeof(be->label), "%s (%s on %s)", p->what ? p->what : "device",
             p->device, p->server);
    be->tag = rio_tag(p->device);
    be->frag_size = rio_frag_size(p->mtu, be->addr.ss_family == AF_INET6);
    be->window = p->window;
    be->heartbeat_ns = MS(p->heartbeat_ms);
    be->failover_ns = MS(p->failover_ms);
    be->timeout_ns = MS(p->timeout_ms);
    be->rto_min_ns = (uint64_t)p->rto_min_us * 1000ull;
    pthread_mutex_init(&be->lock, NULL);

    struct rio_hello_info hi;
    struct rio_target t;
    rio_blk_target(&be->base, &t);
    uint64_t heard;
    int rc = hello(&t, p->connect_ms, &hi, &heard);
    if (rc == 0) {
        info_from_hello(&be->info, &hi);
        if (p->size && p->size != hi.size) {
            rio_destroy(&be->base);
            *why = "the given size differs from the export's size on the iohost";
            return NULL;
        }
        struct blk_backend_info fi;
        if (p->fallback && (p->fallback->ops->info(p->fallback, &fi), fi.size != hi.size)) {
            /* Not the export's storage: after a failover, writes past its
             * end grew the file, acknowledged, and were lost to the export. */
            rio_destroy(&be->base);
            *why = "the fallback's size differs from the export's size on the iohost (a "
                   "fallback must reach the export's own storage)";
            return NULL;
        }
    } else if (rc == -ENOENT) {
        rio_destroy(&be->base);
        *why = "the iohost has no export of that name";
        return NULL;
    } else if (p->fallback) {
        p->fallback->ops->info(p->fallback, &be->info);
        if (p->size && p->size != be->info.size) {
            rio_destroy(&be->base);
            *why = "the given size differs from the fallback's size";
            return NULL;
        }
    } else if (p->size) {
        be->info = (struct blk_backend_info){.size = p->size, .block_size = 512,
                                             .has_flush = true};
    } else {
        rio_destroy(&be->base);
        *why = "the iohost does not answer (give size to create the device anyway)";
        return NULL;
    }
    atomic_init(&be->past_rx_ns, heard);
    be->info.max_io = RIO_MAX_IO;
    be->info.settle_ms = (uint32_t)(be->timeout_ns / 1000000); /* every request ends by then */
    if (rc < 0)
        LOG_WARN("remote", "%s: the iohost does not answer yet (%s); starting anyway", be->label,
                 strerror(-rc));
    be->fallback = p->fallback;
    return &be->base;
}

bool rio_blk_is(const struct blk_backend *b) { return b && b->ops == &rio_ops; }

void rio_blk_stats(struct blk_backend *b, struct rio_peer_stats *out)
{
    struct rio_be *be = (struct rio_be *)b;
    memset(out, 0, sizeof(*out));
    out->requests = atomic_load(&be->past_requests);
    out->retransmits = atomic_load(&be->past_retransmits);
    out->failovers = atomic_load(&be->past_failovers);
    out->reconnects = atomic_load(&be->past_reconnects);
    out->fallback_requests = atomic_load(&be->past_fb);
    out->failed_requests = atomic_load(&be->past_failed);
    out->stale_resends = atomic_load(&be->past_stale);
    out->cwnd_cuts = atomic_load(&be->past_cuts);
    int worst = RQ_CONNECTED;
    uint64_t rtt_sum = 0, rtt_n = 0, now = sc_now_ns();
    pthread_mutex_lock(&be->lock);
    uint64_t past_rx = atomic_load(&be->past_rx_ns), oldest_rx = be->queues ? now : past_rx;
    for (struct rio_cq *q = be->queues; q; q = q->next) {
        out->queues++;
        int st = atomic_load_explicit(&q->pub_state, memory_order_relaxed);
        if (st == RQ_FAILED || (st == RQ_RECOVERING && worst == RQ_CONNECTED))
            worst = st;
        uint64_t rtt = atomic_load_explicit(&q->pub_srtt_ns, memory_order_relaxed);
        if (rtt) {
            rtt_sum += rtt;
            rtt_n++;
        }
        out->in_flight += atomic_load_explicit(&q->pub_remote, memory_order_relaxed);
        out->on_fallback += atomic_load_explicit(&q->pub_fallback, memory_order_relaxed);
        out->queued += atomic_load_explicit(&q->pub_queued, memory_order_relaxed);
        out->cwnd_bytes += atomic_load_explicit(&q->pub_cwnd, memory_order_relaxed);
        out->cwnd_cuts += atomic_load_explicit(&q->cwnd_cuts, memory_order_relaxed);
        out->requests += atomic_load_explicit(&q->requests, memory_order_relaxed);
        out->retransmits += atomic_load_explicit(&q->retransmits, memory_order_relaxed);
        out->failovers += atomic_load_explicit(&q->failovers, memory_order_relaxed);
        out->reconnects += atomic_load_explicit(&q->reconnects, memory_order_relaxed);
        out->fallback_requests += atomic_load_explicit(&q->fb_requests, memory_order_relaxed);
        out->failed_requests += atomic_load_explicit(&q->failed, memory_order_relaxed);
        out->stale_resends += atomic_load_explicit(&q->stale_resends, memory_order_relaxed);
        /* A queue that has heard nothing yet counts from the device's
         * last answer. */
        uint64_t rx = atomic_load_explicit(&q->pub_last_rx_ns, memory_order_relaxed);
        oldest_rx = SC_MIN(oldest_rx, rx ? rx : past_rx);
    }
    /* No queue open: nothing talks to the iohost, so no state is known. */
    out->state = be->queues ? rio_state_name(worst) : "idle";
    pthread_mutex_unlock(&be->lock);
    out->rtt_us = rtt_n ? rtt_sum / rtt_n / 1000 : 0;
    if (!oldest_rx)
        out->last_rx_ms = -1;
    else
        out->last_rx_ms = now > oldest_rx ? (int64_t)((now - oldest_rx) / 1000000ull) : 0;
}
