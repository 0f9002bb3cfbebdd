#include "rpc.h"

#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/sockpath.h"
#include "../common/util.h"

/* Reads per readiness event, so one busy client cannot starve the others
 * (epoll is level-triggered and comes back for the rest). */
#define READS_PER_EVENT 8
/* An answer buffer past this, freed, is handed back to the system. */
#define RPC_TRIM_ABOVE (1u << 20)

struct rpc_later {
    struct rpc_client *c; /* NULL once the client is gone */
    json_t *id;           /* NULL for a notification */
    char method[64];
};

struct rpc_client {
    struct rpc_server *srv;
    struct rpc_later *later; /* a request answered later: the rest wait */
    int fd;
    char *in;        /* RPC_MAX_LINE + 1 bytes */
    size_t in_len;
    char *out;
    size_t out_len, out_off, out_cap;
    bool closing;    /* close once out is flushed */
    uint64_t active_ns; /* last byte in or out */
    struct rpc_client *next;
};

struct rpc_server {
    struct evloop *loop;
    int fd;
    char *path;
    const struct rpc_method *methods;
    size_t nr_methods;
    void *opaque;
    struct rpc_client *clients;
    unsigned nr_clients;
};

static __thread char why_buf[320];
/* The request being handled, for rpc_defer (handlers run on the loop). */
static __thread struct rpc_client *cur_client;
static __thread const char *cur_method;

json_t *rpc_fail(struct rpc_error *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err->code = code;
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return NULL;
}

int rpc_listen_unix(const char *path, const char **why)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path)) {
        snprintf(why_buf, sizeof(why_buf), "socket path %s is longer than %zu bytes", path,
                 sizeof(sa.sun_path) - 1);
        *why = why_buf;
        return -ENAMETOOLONG;
    }
    strcpy(sa.sun_path, path);
    int claim = sockpath_claim(path);
    if (claim == -EEXIST) {
        snprintf(why_buf, sizeof(why_buf), "%s exists and is not a socket; not replacing it",
                 path);
        *why = why_buf;
        return claim;
    }
    if (claim == -EADDRINUSE) {
        snprintf(why_buf, sizeof(why_buf),
                 "%s is in use by a running process (another sidecored?)", path);
        *why = why_buf;
        return claim;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        int e = errno;
        snprintf(why_buf, sizeof(why_buf), "socket: %s", strerror(e));
        *why = why_buf;
        return -e;
    }
    /* Whoever can connect controls the daemon (devices, file paths it opens
     * as its user): owner and group only, whatever umask we inherited. */
    mode_t old_mask = umask(S_IRWXO | S_IXUSR | S_IXGRP);
    int brc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old_mask);
    if (brc < 0 || listen(fd, 64) < 0) {
        int e = errno;
        snprintf(why_buf, sizeof(why_buf), "cannot listen on %s: %s", path, strerror(e));
        *why = why_buf;
        close(fd);
        return -e;
    }
    return fd;
}

static void client_close(struct rpc_client *c)
{
    struct rpc_server *s = c->srv;
    for (struct rpc_client **pp = &s->clients; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    s->nr_clients--;
    if (c->later)
        c->later->c = NULL;
    evloop_del(s->loop, c->fd);
    close(c->fd);
    free(c->in);
    free(c->out);
    bool big = c->out_cap > RPC_TRIM_ABOVE;
    free(c);
    /* Once an answer buffer this large was freed from an mmap, the
     * allocator's mmap threshold grows past it and the next one comes from
     * the heap, where it stayed after free: 16 MiB of RSS for every client
     * dropped for not reading. */
    if (big)
        malloc_trim(0);
}

/* Appends one line; false when the client exceeds its output allowance. */
static bool client_queue(struct rpc_client *c, json_t *msg)
{
    char *txt = json_dumps(msg, JSON_COMPACT);
    if (!txt)
        return false;
    size_t n = strlen(txt);
    size_t pending = c->out_len - c->out_off;
    bool ok = false;
    if (pending + n + 1 > RPC_MAX_OUTPUT) {
        LOG_ERR("rpc", "client fd %d does not read its answers (%zu bytes pending); dropping it",
                c->fd, pending);
        goto out;
    }
    if (c->out_off > 0 && c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    if (c->out_len + n + 1 > c->out_cap) {
        if (c->out_off > 0) {
            memmove(c->out, c->out + c->out_off, pending);
            c->out_len = pending;
            c->out_off = 0;
        }
        size_t cap = c->out_cap ? c->out_cap : 4096;
        while (cap < c->out_len + n + 1)
            cap *= 2;
        if (cap != c->out_cap) {
            char *nb = realloc(c->out, cap);
            if (!nb)
                goto out;
            c->out = nb;
            c->out_cap = cap;
        }
    }
    memcpy(c->out + c->out_len, txt, n);
    c->out[c->out_len + n] = '\n';
    c->out_len += n + 1;
    ok = true;
out:
    free(txt);
    return ok;
}

static json_t *error_reply(const json_t *id, int code, const char *msg)
{
    return json_pack("{s:s,s:O?,s:{s:i,s:s}}", "jsonrpc", "2.0", "id", id, "error", "code", code,
                     "message", msg);
}

/* Returns the reply to send, or NULL for notifications. */
static json_t *handle_request(struct rpc_server *s, const char *line, size_t len)
{
    json_error_t jerr;
    json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    char msg[512];
    if (!req) {
        snprintf(msg, sizeof(msg), "parse error: %s (column %d)", jerr.text, jerr.column);
        return error_reply(NULL, RPC_PARSE_ERROR, msg);
    }
    json_t *reply = NULL;
    if (!json_is_object(req)) {
        reply = error_reply(NULL, RPC_INVALID_REQUEST,
                            json_is_array(req) ? "invalid request: batches are not supported"
                                               : "invalid request: expected a JSON object");
        goto out;
    }
    json_t *id = json_object_get(req, "id");
    if (id && !json_is_string(id) && !json_is_integer(id) && !json_is_real(id) &&
        !json_is_null(id)) {
        reply = error_reply(NULL, RPC_INVALID_REQUEST,
                            "invalid request: \"id\" must be a string, a number or null");
        goto out;
    }
    const char *ver = json_string_value(json_object_get(req, "jsonrpc"));
    const char *method = json_string_value(json_object_get(req, "method"));
    json_t *params = json_object_get(req, "params");
    const char *bad = NULL;
    if (!ver || strcmp(ver, "2.0") != 0)
        bad = "invalid request: \"jsonrpc\" must be \"2.0\"";
    else if (!method)
        bad = "invalid request: \"method\" must be a string";
    else if (params && !json_is_object(params) && !json_is_array(params))
        bad = "invalid request: \"params\" must be an object or an array";
    if (bad) {
        /* Not a request, so not a notification either: answered, with a
         * null id when it has none (JSON-RPC 2.0, section 5). */
        reply = error_reply(id, RPC_INVALID_REQUEST, bad);
        goto out;
    }
    const struct rpc_method *m = NULL;
    for (size_t i = 0; i < s->nr_methods && !m; i++)
        if (strcmp(s->methods[i].name, method) == 0)
            m = &s->methods[i];
    if (!m) {
        snprintf(msg, sizeof(msg), "method not found: %.100s", method);
        if (id)
            reply = error_reply(id, RPC_METHOD_NOT_FOUND, msg);
        goto out;
    }
    struct rpc_error err = {0};
    cur_method = method;
    json_t *result = m->fn(params, s->opaque, &err);
    if (cur_client && cur_client->later && !result) {
        cur_client->later->id = id ? json_incref(id) : NULL;
        goto out;
    }
    if (!id) {
        json_decref(result);
        goto out;
    }
    if (result) {
        reply = json_pack("{s:s,s:O,s:o}", "jsonrpc", "2.0", "id", id, "result", result);
    } else {
        if (!err.code) {
            err.code = RPC_INTERNAL_ERROR;
            snprintf(err.message, sizeof(err.message), "%s failed (out of memory?)", method);
        }
        LOG_DEBUG("rpc", "%s: error %d: %s", method, err.code, err.message);
        reply = error_reply(id, err.code, err.message);
    }
out:
    json_decref(req);
    return reply;
}

static void client_flush(struct rpc_client *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n <= 0) {
            client_close(c); /* peer went away; nobody reads the answer */
            return;
        }
        c->out_off += (size_t)n;
        c->active_ns = sc_now_ns();
    }
    if (c->out_off == c->out_len) {
        c->out_off = c->out_len = 0;
        if (c->closing && !c->later) {
            client_close(c);
            return;
        }
    }
    uint32_t ev = c->out_len ? EPOLLOUT : 0;
    /* While an answer is deferred nothing more is read: the requests
     * behind it wait in the socket. */
    if (!c->closing && !c->later)
        ev |= EPOLLIN;
    evloop_mod(c->srv->loop, c->fd, ev);
}

/* Serves every complete line in the input buffer. false: client dropped. */
static bool client_lines(struct rpc_client *c)
{
    size_t start = 0;
    char *nl;
    while (!c->closing && (nl = memchr(c->in + start, '\n', c->in_len - start))) {
        size_t len = (size_t)(nl - (c->in + start));
        if (len && c->in[start + len - 1] == '\r')
            len--;
        bool blank = true;
        for (size_t i = 0; i < len && blank; i++)
            blank = c->in[start + i] == ' ' || c->in[start + i] == '\t';
        if (!blank) {
            cur_client = c;
            json_t *reply = handle_request(c->srv, c->in + start, len);
            cur_client = NULL;
            bool ok = !reply || client_queue(c, reply);
            json_decref(reply);
            if (!ok) {
                client_close(c);
                return false;
            }
        }
        start = (size_t)(nl - c->in) + 1;
        if (c->later)
            break;
    }
    memmove(c->in, c->in + start, c->in_len - start);
    c->in_len -= start;
    if (!c->closing && c->in_len >= RPC_MAX_LINE) {
        char msg[128];
        snprintf(msg, sizeof(msg),
                 "invalid request: %u bytes without a newline (a request is at most %u bytes "
                 "and its newline); closing", RPC_MAX_LINE, RPC_MAX_LINE - 1);
        LOG_ERR("rpc", "client fd %d sent %u bytes without a newline; closing it", c->fd,
                RPC_MAX_LINE);
        json_t *reply = error_reply(NULL, RPC_INVALID_REQUEST, msg);
        bool ok = reply && client_queue(c, reply);
        json_decref(reply);
        if (!ok) {
            client_close(c);
            return false;
        }
        c->closing = true;
        c->in_len = 0;
    }
    return true;
}

struct rpc_later *rpc_defer(void)
{
    struct rpc_client *c = cur_client;
    if (!c || c->later)
        return NULL;
    struct rpc_later *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->c = c;
    snprintf(l->method, sizeof(l->method), "%s", cur_method ? cur_method : "?");
    c->later = l;
    return l;
}

void rpc_later_done(struct rpc_later *l, json_t *result, const struct rpc_error *err)
{
    struct rpc_client *c = l->c;
    json_t *reply = NULL;
    if (c && l->id && result) {
        reply = json_pack("{s:s,s:O,s:O}", "jsonrpc", "2.0", "id", l->id, "result", result);
    } else if (c && l->id) {
        int code = err && err->code ? err->code : RPC_INTERNAL_ERROR;
        LOG_DEBUG("rpc", "%s: error %d: %s", l->method, code, err ? err->message : "");
        reply = error_reply(l->id, code, err ? err->message : "failed");
    }
    json_decref(result);
    json_decref(l->id);
    free(l);
    if (!c)
        return;
    c->later = NULL;
    bool ok = !reply || client_queue(c, reply);
    json_decref(reply);
    if (!ok) {
        client_close(c);
        return;
    }
    /* The requests that waited behind it. */
    if (client_lines(c))
        client_flush(c);
}

static void client_cb(int fd, uint32_t events, void *opaque)
{
    struct rpc_client *c = opaque;
    (void)fd;
    if (c->later) {
        /* Not reading while an answer is deferred; a peer that hung up
         * (epoll reports it regardless) will not read it either. */
        if (events & (EPOLLHUP | EPOLLERR))
            client_close(c);
        else
            client_flush(c);
        return;
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        for (int i = 0; i < READS_PER_EVENT && !c->closing && !c->later; i++) {
            ssize_t n = recv(c->fd, c->in + c->in_len, RPC_MAX_LINE - c->in_len, MSG_DONTWAIT);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                break;
            if (n <= 0) {
                /* EOF (or reset): answer what was asked, then close. */
                c->closing = true;
                break;
            }
            c->in_len += (size_t)n;
            c->active_ns = sc_now_ns();
            if (!client_lines(c))
                return;
        }
    }
    client_flush(c);
}

/* At the limit, a connection silent for RPC_IDLE_EVICT_MS with nothing
 * owed either way gives its place to a new one: otherwise idle clients
 * (or ones that sent half a line) lock everyone out for as long as they
 * keep their sockets. true: one was closed. */
static bool evict_idle(struct rpc_server *s)
{
    uint64_t now = sc_now_ns();
    struct rpc_client *oldest = NULL;
    for (struct rpc_client *c = s->clients; c; c = c->next)
        if (!c->later && c->out_len == c->out_off && !c->closing &&
            (!oldest || c->active_ns < oldest->active_ns))
            oldest = c;
    if (!oldest || now - oldest->active_ns < (uint64_t)RPC_IDLE_EVICT_MS * 1000000)
        return false;
    static const char bye[] = "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":"
                              "-32000,\"message\":\"closing an idle RPC connection: "
                              "another client needs its place\"}}\n";
    LOG_INFO("rpc", "closing RPC client fd %d, idle for %llu ms, for a new one (%u clients)",
             oldest->fd, (unsigned long long)((now - oldest->active_ns) / 1000000),
             s->nr_clients);
    ssize_t w = send(oldest->fd, bye, sizeof(bye) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)w;
    client_close(oldest);
    return true;
}

static void accept_cb(int fd, uint32_t events, void *opaque)
{
    struct rpc_server *s = opaque;
    (void)events;
    for (;;) {
        int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                LOG_ERR("rpc", "accept on %s: %s", s->path, strerror(errno));
            return;
        }
        if (s->nr_clients >= RPC_MAX_CLIENTS && !evict_idle(s)) {
            static const char busy[] = "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":"
                                       "-32000,\"message\":\"too many RPC clients; try later\"}}\n";
            LOG_ERR("rpc", "refusing an RPC client: %u clients already connected",
                    s->nr_clients);
            ssize_t w = send(cfd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
            (void)w;
            close(cfd);
            continue;
        }
        struct rpc_client *c = calloc(1, sizeof(*c));
        if (c)
            c->in = malloc(RPC_MAX_LINE + 1);
        if (!c || !c->in || evloop_add(s->loop, cfd, EPOLLIN, client_cb, c) < 0) {
            LOG_ERR("rpc", "cannot serve a new RPC client: out of resources");
            if (c)
                free(c->in);
            free(c);
            close(cfd);
            continue;
        }
        c->srv = s;
        c->fd = cfd;
        c->active_ns = sc_now_ns();
        c->next = s->clients;
        s->clients = c;
        s->nr_clients++;
    }
}

struct rpc_server *rpc_server_create(struct evloop *loop, const char *path,
                                     const struct rpc_method *methods, size_t nr_methods,
                                     void *opaque, const char **why)
{
    struct rpc_server *s = calloc(1, sizeof(*s));
    if (!s || !(s->path = strdup(path))) {
        free(s);
        *why = "out of memory";
        return NULL;
    }
    s->loop = loop;
    s->methods = methods;
    s->nr_methods = nr_methods;
    s->opaque = opaque;
    s->fd = rpc_listen_unix(path, why);
    if (s->fd < 0) {
        free(s->path);
        free(s);
        return NULL;
    }
    int rc = evloop_add(loop, s->fd, EPOLLIN, accept_cb, s);
    if (rc < 0) {
        snprintf(why_buf, sizeof(why_buf), "evloop: %s", strerror(-rc));
        *why = why_buf;
        close(s->fd);
        unlink(path);
        free(s->path);
        free(s);
        return NULL;
    }
    return s;
}

void rpc_server_destroy(struct rpc_server *s)
{
    if (!s)
        return;
    while (s->clients)
        client_close(s->clients);
    evloop_del(s->loop, s->fd);
    close(s->fd);
    unlink(s->path);
    free(s->path);
    free(s);
}

unsigned rpc_server_clients(const struct rpc_server *s) { return s->nr_clients; }
