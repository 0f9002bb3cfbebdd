/* iohost side of vRIO: serves exported block backends to vmhosts over UDP.
 *
 * The server has one or more UDP sockets on the same address (SO_REUSEPORT:
 * the kernel keeps each vmhost session on one socket); each socket is a
 * sidecore queue whose poll drains the socket, submits requests to the
 * exports' backends (usually an interposition chain over a file) and sends
 * the answers. Every export has a backend queue per server socket.
 *
 * Guarantees: a request id is applied at most once per session: a
 * retransmitted write that was already applied is answered from the
 * completed-id window, never written again; a retransmitted read is
 * executed and answered again. The window is bounded (RIO_ID_SPAN ids per
 * session; ids below the client's low-water mark are forgotten). A FLUSH
 * starts only once every earlier write of its session has completed, so it
 * covers them. Malformed or out-of-window datagrams are dropped; requests
 * outside the export get an error answer; memory for request data is
 * bounded and shared fairly between sessions (over budget or over its
 * share, a session's new requests are dropped and retransmitted later).
 *
 * Exports are added and removed on the control thread; the sockets' queues
 * are detached meanwhile (requests in flight finish first, bounded). */
#ifndef SC_RIO_SERVER_H
#define SC_RIO_SERVER_H

#include <jansson.h>
#include <stdint.h>

#include "../backend/blk_backend.h"
#include "../core/sidecore.h"

struct rio_server_params {
    const char *listen;        /* "IP:PORT" */
    unsigned mtu;              /* 0: 1500 */
    unsigned sockets;          /* 0: 1 */
    unsigned depth;            /* backend queue depth per export and socket, 0: 256 */
    unsigned max_sessions;     /* per socket, 0: 1024 */
    uint64_t mem_budget;       /* request data bytes per socket, 0: 64 MiB */
};

struct rio_server;

struct rio_server *rio_server_create(const struct rio_server_params *p, struct sc_set *scs,
                                     const char **why);
void rio_server_destroy(struct rio_server *s);

/* Takes over be on success; -EEXIST (name or its tag taken), -EINVAL, or
 * -errno from the backend, reason in why. */
int rio_server_add_export(struct rio_server *s, const char *name, struct blk_backend *be,
                          const char **why);
int rio_server_remove_export(struct rio_server *s, const char *name, const char **why);
/* Grows the export's backend to bytes and answers with that size from now
 * on (HELLO, range checks). Shrinking is refused: a vmhost's guest may hold
 * data past the new end. -ENOENT, -EINVAL, -EOPNOTSUPP or -errno, reason in
 * why. */
int rio_server_resize_export(struct rio_server *s, const char *name, uint64_t bytes,
                             const char **why);
/* The export's backend (for interposition control), or NULL. */
struct blk_backend *rio_server_export_backend(struct rio_server *s, const char *name);

/* {"listen", "sockets", "sessions", "exports": [{name, requests, ...}]} */
json_t *rio_server_stats(struct rio_server *s);

#endif
