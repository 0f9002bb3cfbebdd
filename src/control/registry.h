/* Device registry: the daemon's devices by name. Adding a device opens its
 * backend, creates the virtio device on the sidecore set and its vhost-user
 * socket on the control loop, in that order; removing one undoes it in
 * reverse. Names, vhost-user socket paths and file backend paths are unique:
 * a second device with any of them is refused. Control thread only.
 *
 * Errors come back as -errno with a message in err: -EINVAL (the request is
 * wrong: fix the parameters), -EEXIST (a unique key is taken), -ENOENT (no
 * such device); anything else is a failure to open a resource. */
#ifndef SC_REGISTRY_H
#define SC_REGISTRY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "../common/evloop.h"
#include "../core/sidecore.h"
#include "config.h"

struct registry;

/* runtime_dir is where devices without a socket get <name>.sock. */
struct registry *registry_create(struct evloop *loop, struct sc_set *scs,
                                 const char *runtime_dir);
/* Removes every device, newest first. */
void registry_destroy(struct registry *r);

int registry_add(struct registry *r, const struct cfg_device *d, char *err, size_t errlen);
/* The same, but a remote backend is opened on a thread of its own: its
 * HELLO may wait 2 s for a silent iohost, and the loop serves every
 * vhost-user and RPC socket meanwhile. 1: pending, added(ctx, rc, err) runs
 * on the loop thread once done (err NULL on success; from registry_destroy
 * with -ECANCELED); the name and socket are taken meanwhile, and a delete
 * is refused (-EBUSY). 0 or -errno: done at once, added is not called. */
int registry_add_async(struct registry *r, const struct cfg_device *d,
                       void (*added)(void *ctx, int rc, const char *err), void *ctx,
                       char *errbuf, size_t errlen);
/* Removes the device at once from every lookup; it reads no vhost-user
 * message and takes no new request from then on. 0: destroyed already;
 * 1: its backend still holds requests: it is destroyed once they complete
 * (bounded), without blocking the loop, and done(ctx) runs then on the
 * loop thread (never before this returns; also from registry_destroy).
 * Meanwhile its name, socket and backend path stay taken. */
int registry_remove(struct registry *r, const char *name, void (*done)(void *ctx), void *ctx,
                    char *errbuf, size_t errlen);
unsigned registry_count(const struct registry *r);
/* The device as created (socket filled in), also while it is being
 * created (registry_add_async) or deleted; NULL if absent. */
const struct cfg_device *registry_find(const struct registry *r, const char *name);

/* The blk device listening on or connecting to socket (or being created
 * or deleted on it), or NULL. */
const char *registry_socket_user(const struct registry *r, const char *socket);
/* The daemon's RPC socket: no device (blk or net) may listen there. The
 * string is kept, not copied. */
void registry_reserve_socket(struct registry *r, const char *rpc_socket);
/* A message naming the clash when socket is the reserved one, else NULL. */
const char *registry_socket_reserved(const struct registry *r, const char *socket);
/* Other device kinds (net) share the name and socket space: a device whose
 * name or socket claims() reports taken is refused with -EEXIST. */
void registry_set_claims(struct registry *r,
                         bool (*claims)(void *opaque, const char *name, const char *socket),
                         void *opaque);

/* Remote backends are refused in the local role (the default). */
void registry_set_role(struct registry *r, enum cfg_role role);
/* Threads that pre-fault guest memory at SET_MEM_TABLE for devices created
 * from now on (blk and net); 0: none. */
void registry_set_prefault(struct registry *r, unsigned threads);
unsigned registry_prefault(const struct registry *r);
/* Replaces the device's interposition stages (a JSON stage list). */
int registry_interpose_set(struct registry *r, const char *name, const json_t *stages,
                           char *err, size_t len);
/* Grows the device's disk to bytes under a running guest (blk_dev_resize).
 * A remote device has its export's size, which the iohost is asked for on
 * a thread of its own (up to 2 s when it is silent): 1, and done(ctx, rc,
 * told, err) runs on the loop thread once resized or refused (err NULL on
 * success). 0 or -errno: done at once (*told set), done is not called. */
int registry_resize(struct registry *r, const char *name, uint64_t bytes, bool *told,
                    void (*done)(void *ctx, int rc, bool told, const char *err), void *ctx,
                    char *err, size_t len);
/* Per-peer state of every remote device. */
json_t *registry_remote_json(struct registry *r);
/* The same, each device's iohost asked first (one HELLO each, on a thread
 * of its own; at most 1 s per silent iohost): 1, and done(ctx, peers) runs
 * on the loop thread with every element carrying "probe" ({"answered",
 * "rtt_us"} or {"answered", "error"}), peers NULL when the daemon stops
 * first. 0: no remote device (done not called); -errno: not started. */
int registry_probe_remotes(struct registry *r, void (*done)(void *ctx, json_t *peers), void *ctx);

/* device_list and device_stats results (see the RPC surface). */
json_t *registry_list_json(struct registry *r);
json_t *registry_stats_json(struct registry *r, const char *name, char *err, size_t errlen);

#endif
