/* JSON-RPC 2.0 server on a unix stream socket, run by the control evloop.
 *
 * Framing: one JSON object per line in each direction. Many clients at once
 * (up to RPC_MAX_CLIENTS; past it, the one silent longest, if for more than
 * RPC_IDLE_EVICT_MS with nothing owed, is closed for the newcomer, else the
 * newcomer is refused); each request is answered in order. A line longer
 * than RPC_MAX_LINE gets an invalid-request error and the connection is
 * closed; malformed JSON gets a parse error (the connection stays usable);
 * an unknown method gets method-not-found. Requests without "id" are
 * notifications and get no answer; an invalid request without one gets an
 * error with a null id. A client that stops reading while its
 * answers pile up past RPC_MAX_OUTPUT is dropped, so it cannot grow our
 * memory. Handlers run on the loop thread and must not block: one whose
 * work takes time answers later (rpc_defer). */
#ifndef SC_RPC_H
#define SC_RPC_H

#include <jansson.h>
#include <stddef.h>

#include "../common/evloop.h"

#define RPC_MAX_LINE (64u * 1024)
#define RPC_MAX_OUTPUT (16u * 1024 * 1024)
#define RPC_MAX_CLIENTS 64
#define RPC_IDLE_EVICT_MS 1000

#define RPC_PARSE_ERROR (-32700)
#define RPC_INVALID_REQUEST (-32600)
#define RPC_METHOD_NOT_FOUND (-32601)
#define RPC_INVALID_PARAMS (-32602)
#define RPC_INTERNAL_ERROR (-32603)
#define RPC_SERVER_ERROR (-32000) /* the request was valid but could not be done */

struct rpc_error {
    int code;
    char message[384];
};

/* params is NULL when the request has none. Returns the result (a new
 * reference) or NULL with err filled in. */
typedef json_t *(*rpc_handler)(json_t *params, void *opaque, struct rpc_error *err);

struct rpc_method {
    const char *name;
    rpc_handler fn;
};

/* For handlers: fills err and returns NULL. */
json_t *rpc_fail(struct rpc_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A reply given after the handler returned. */
struct rpc_later;

/* Inside a handler: the request is answered by rpc_later_done instead, and
 * the handler returns NULL with err untouched. Until then the client's
 * further requests wait, so its answers stay in order; other clients are
 * served. NULL: out of memory (answer at once). */
struct rpc_later *rpc_defer(void);
/* Loop thread: sends the deferred answer, result (a new reference, taken
 * over) or err when result is NULL, and frees l. Nothing is sent when the
 * client went away (or the server was destroyed) meanwhile. */
void rpc_later_done(struct rpc_later *l, json_t *result, const struct rpc_error *err);

struct rpc_server;

/* Listens on path (a stale socket left by a dead daemon is replaced; a live
 * one is refused). methods must outlive the server. Returns NULL with a
 * reason in why (a static or thread-local string). */
struct rpc_server *rpc_server_create(struct evloop *loop, const char *path,
                                     const struct rpc_method *methods, size_t nr_methods,
                                     void *opaque, const char **why);
/* Closes every client and the socket, unlinks the path. */
void rpc_server_destroy(struct rpc_server *s);
unsigned rpc_server_clients(const struct rpc_server *s);

/* Binds a listening unix stream socket at path, replacing a stale socket
 * file; returns the fd or -errno with a message in why. */
int rpc_listen_unix(const char *path, const char **why);

#endif
