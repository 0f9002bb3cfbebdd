/* iohost server: sockets and their sidecore queues, exports, stats. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/util.h"
#include "rio_io.h"
#include "rio_srv_int.h"

static void sq_free(struct rio_sq *sq)
{
    if (!sq)
        return;
    if (sq->epfd >= 0)
        close(sq->epfd);
    if (sq->sock >= 0)
        close(sq->sock);
    free(sq->stage);
    rio_rxbatch_free(&sq->rxb);
    free(sq);
}

static int watch(int epfd, int fd, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.fd = fd};
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == 0 ? 0 : -errno;
}

static struct rio_sq *sq_new(struct rio_server *s, unsigned idx, const char **why)
{
    struct rio_sq *sq = calloc(1, sizeof(*sq));
    if (!sq) {
        *why = "out of memory";
        return NULL;
    }
    sq->srv = s;
    sq->idx = idx;
    sq->ready_wake_ns = UINT64_MAX;
    sq->epfd = -1;
    sq->sock = rio_socket((struct sockaddr *)&s->addr, s->addrlen, true, NULL, 0, why);
    sq->stage = malloc(s->frag_size);
    if (sq->sock < 0 || !sq->stage || rio_rxbatch_init(&sq->rxb) < 0) {
        if (sq->sock >= 0)
            *why = "out of memory";
        sq->sock = -1;
        sq_free(sq);
        return NULL;
    }
    /* A write's fragments, sent as one segmented run, then come in one
     * receive (rio_srv_rx.c walks it). */
    rio_gro_on(sq->sock);
    sq->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (sq->epfd < 0 || watch(sq->epfd, sq->sock, EPOLLIN) < 0) {
        *why = "cannot create the socket queue's epoll set";
        sq_free(sq);
        return NULL;
    }
    snprintf(sq->name, sizeof(sq->name), "iohost.s%u", idx);
    sq->scq.name = sq->name;
    sq->scq.poll = rio_sq_poll;
    sq->scq.set_notify = rio_sq_set_notify;
    sq->scq.kick_fd = -1;
    sq->scq.aux_fd = sq->epfd;
    sq->scq.opaque = sq;
    return sq;
}

static void detach_all(struct rio_server *s)
{
    for (unsigned i = 0; i < s->nsq; i++) {
        sc_detach(&s->sq[i]->scq);
        rio_sq_drain(s->sq[i]);
    }
}

static int attach_all(struct rio_server *s)
{
    int rc = 0;
    for (unsigned i = 0; i < s->nsq; i++) {
        int r = sc_attach(s->scs, &s->sq[i]->scq);
        if (r < 0) {
            LOG_ERR("remote", "%s: cannot attach to a sidecore: %s", s->sq[i]->name,
                    strerror(-r));
            rc = r;
        }
    }
    return rc;
}

struct rio_server *rio_server_create(const struct rio_server_params *p, struct sc_set *scs,
                                     const char **why)
{
    unsigned n = p->sockets ? p->sockets : 1;
    if (n > 64) {
        *why = "at most 64 sockets";
        return NULL;
    }
    struct rio_server *s = calloc(1, sizeof(*s) + n * sizeof(s->sq[0]));
    if (!s) {
        *why = "out of memory";
        return NULL;
    }
    if (rio_addr_parse(p->listen, &s->addr, &s->addrlen) < 0) {
        free(s);
        *why = "listen: expected IP:PORT (numeric, port 1-65535, e.g. 0.0.0.0:7000)";
        return NULL;
    }
    s->scs = scs;
    s->frag_size = rio_frag_size(p->mtu ? p->mtu : 1500, s->addr.ss_family == AF_INET6);
    s->depth = p->depth ? p->depth : 256;
    s->max_sessions = p->max_sessions ? p->max_sessions : 1024;
    s->mem_budget = p->mem_budget ? p->mem_budget : 64ull << 20;
    if (getrandom(&s->epoch, sizeof(s->epoch), 0) != (ssize_t)sizeof(s->epoch))
        s->epoch = sc_now_ns();
    for (; s->nsq < n; s->nsq++) {
        s->sq[s->nsq] = sq_new(s, s->nsq, why);
        if (!s->sq[s->nsq]) {
            rio_server_destroy(s);
            return NULL;
        }
    }
    if (attach_all(s) < 0) {
        *why = "cannot attach the server's sockets to sidecores";
        rio_server_destroy(s);
        return NULL;
    }
    char a[80];
    rio_addr_format((struct sockaddr *)&s->addr, a, sizeof(a));
    LOG_INFO("remote", "iohost serving on %s (UDP, %u socket(s), fragments of %u bytes)", a, n,
             s->frag_size);
    return s;
}

static void export_free(struct rio_export *e)
{
    e->be->ops->destroy(e->be);
    free(e);
}

void rio_server_destroy(struct rio_server *s)
{
    if (!s)
        return;
    for (unsigned i = 0; i < s->nsq; i++) {
        struct rio_sq *sq = s->sq[i];
        if (sq->scq.owner)
            sc_detach(&sq->scq);
        rio_sq_drain(sq);
        rio_sess_drop_export(sq, ~0u);
        for (unsigned e = 0; e < RIO_MAX_EXPORTS; e++)
            if (sq->sx[e].bq)
                s->ex[e]->be->ops->queue_close(sq->sx[e].bq);
        sq_free(sq);
    }
    for (unsigned e = 0; e < RIO_MAX_EXPORTS; e++)
        if (s->ex[e])
            export_free(s->ex[e]);
    free(s);
}

static int find_export(const struct rio_server *s, const char *name)
{
    for (unsigned i = 0; i < RIO_MAX_EXPORTS; i++)
        if (s->ex[i] && strcmp(s->ex[i]->name, name) == 0)
            return (int)i;
    return -1;
}

struct blk_backend *rio_server_export_backend(struct rio_server *s, const char *name)
{
    int i = find_export(s, name);
    return i >= 0 ? s->ex[i]->be : NULL;
}

/* Backend queues of export e on every socket; undone on failure. */
static int open_queues(struct rio_server *s, unsigned e)
{
    struct rio_export *ex = s->ex[e];
    for (unsigned i = 0; i < s->nsq; i++) {
        struct rio_sq *sq = s->sq[i];
        int rc = ex->be->ops->queue_open(ex->be, s->depth, &sq->sx[e].bq);
        if (rc == 0) {
            sq->sx[e].efd = ex->be->ops->event_fd(sq->sx[e].bq);
            if (sq->sx[e].efd >= 0 && (rc = watch(sq->epfd, sq->sx[e].efd,
                                                  EPOLLIN | EPOLLET)) < 0)
                ex->be->ops->queue_close(sq->sx[e].bq);
        }
        if (rc < 0) {
            sq->sx[e].bq = NULL;
            while (i-- > 0) {
                epoll_ctl(s->sq[i]->epfd, EPOLL_CTL_DEL, s->sq[i]->sx[e].efd, NULL);
                ex->be->ops->queue_close(s->sq[i]->sx[e].bq);
                s->sq[i]->sx[e].bq = NULL;
            }
            return rc;
        }
    }
    return 0;
}

int rio_server_add_export(struct rio_server *s, const char *name, struct blk_backend *be,
                          const char **why)
{
    if (!name || !*name || strlen(name) >= RIO_NAME_MAX) {
        *why = "export name missing or longer than 63 bytes";
        return -EINVAL;
    }
    uint32_t tag = rio_tag(name);
    for (unsigned i = 0; i < RIO_MAX_EXPORTS; i++) {
        if (s->ex[i] && (strcmp(s->ex[i]->name, name) == 0 || s->ex[i]->tag == tag)) {
            *why = strcmp(s->ex[i]->name, name) == 0 ? "an export of that name exists"
                                                     : "the name's tag collides with an "
                                                       "existing export (rename it)";
            return -EEXIST;
        }
    }
    unsigned e = 0;
    while (e < RIO_MAX_EXPORTS && s->ex[e])
        e++;
    if (e == RIO_MAX_EXPORTS) {
        *why = "too many exports (64)";
        return -ENOSPC;
    }
    struct rio_export *ex = calloc(1, sizeof(*ex));
    if (!ex) {
        *why = "out of memory";
        return -ENOMEM;
    }
    snprintf(ex->name, sizeof(ex->name), "%s", name);
    ex->tag = tag;
    ex->be = be;
    be->ops->info(be, &ex->info);
    detach_all(s);
    s->ex[e] = ex;
    int rc = open_queues(s, e);
    if (rc < 0) {
        s->ex[e] = NULL;
        free(ex);
        *why = "the backend cannot open its queues";
    }
    attach_all(s);
    if (rc == 0)
        LOG_INFO("remote", "export %s: %s backend, %llu bytes%s", name, be->ops->name,
                 (unsigned long long)ex->info.size, ex->info.read_only ? ", read-only" : "");
    return rc;
}

int rio_server_remove_export(struct rio_server *s, const char *name, const char **why)
{
    int e = find_export(s, name);
    if (e < 0) {
        *why = "no export of that name";
        return -ENOENT;
    }
    detach_all(s);
    for (unsigned i = 0; i < s->nsq; i++) {
        struct rio_sq *sq = s->sq[i];
        rio_sess_drop_export(sq, (unsigned)e);
        if (sq->sx[e].efd >= 0)
            epoll_ctl(sq->epfd, EPOLL_CTL_DEL, sq->sx[e].efd, NULL);
        s->ex[e]->be->ops->queue_close(sq->sx[e].bq);
        sq->sx[e].bq = NULL;
    }
    export_free(s->ex[e]);
    s->ex[e] = NULL;
    attach_all(s);
    return 0;
}

int rio_server_resize_export(struct rio_server *s, const char *name, uint64_t bytes,
                             const char **why)
{
    int e = find_export(s, name);
    if (e < 0) {
        *why = "no export of that name";
        return -ENOENT;
    }
    struct rio_export *ex = s->ex[e];
    uint32_t bs = ex->info.block_size ? ex->info.block_size : 512;
    if (bytes % bs) {
        *why = "the new size is not a multiple of the block size";
        return -EINVAL;
    }
    if (bytes < ex->info.size) {
        *why = "shrinking an export would cut off its vmhosts' guests' data; only growing is "
               "supported";
        return -EINVAL;
    }
    if (bytes == ex->info.size)
        return 0;
    if (!ex->be->ops->resize) {
        *why = "the backend cannot be resized";
        return -EOPNOTSUPP;
    }
    /* The sidecores read the size in every range check: they stand still
     * while it changes. */
    detach_all(s);
    uint64_t old = ex->info.size;
    int rc = ex->be->ops->resize(ex->be, bytes, why);
    if (rc == 0)
        ex->be->ops->info(ex->be, &ex->info);
    attach_all(s);
    if (rc == 0)
        LOG_INFO("remote", "export %s: resized from %llu to %llu bytes", name,
                 (unsigned long long)old, (unsigned long long)ex->info.size);
    return rc;
}

static json_int_t ld(_Atomic uint64_t *c)
{
    return (json_int_t)atomic_load_explicit(c, memory_order_relaxed);
}

json_t *rio_server_stats(struct rio_server *s)
{
    char a[80];
    rio_addr_format((struct sockaddr *)&s->addr, a, sizeof(a));
    json_t *arr = json_array();
    for (unsigned i = 0; arr && i < RIO_MAX_EXPORTS; i++) {
        struct rio_export *e = s->ex[i];
        if (!e)
            continue;
        json_array_append_new(
            arr, json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
                           "name", e->name,
                           "backend", e->be->ops->name, "size", (json_int_t)e->info.size,
                           "requests", ld(&e->requests), "bytes_read", ld(&e->bytes_read),
                           "bytes_written", ld(&e->bytes_written), "errors", ld(&e->errors),
                           "duplicate_writes", ld(&e->dup_writes), "reads_repeated",
                           ld(&e->reread), "answers_resent", ld(&e->resent),
                           "sessions_opened", ld(&e->sessions), "stale_refused",
                           ld(&e->stale), "partial_writes_expired", ld(&e->expired),
                           "writes_dropped_for_memory", ld(&e->mem_drops),
                           "partial_writes_nacked", ld(&e->nacks),
                           "partial_writes_reclaimed", ld(&e->reclaimed)));
    }
    return json_pack("{s:s,s:i,s:i,s:i,s:I,s:I,s:I,s:o}", "listen", a, "sockets", (int)s->nsq,
                     "frag_size", (int)s->frag_size, "sessions",
                     (int)atomic_load(&s->sessions), "sessions_refused", ld(&s->sess_refused),
                     "malformed_datagrams", ld(&s->malformed),
                     "unknown_export_requests", ld(&s->unknown_export), "exports",
                     arr ? arr : json_array());
}
