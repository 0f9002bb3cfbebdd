/* Configuration of the vRIO roles: the daemon's role, remote blk backends
 * (on a vmhost), and the iohost's server and exports. They appear in the
 * JSON config ("role", "iohost", "exports", a device backend of type
 * "remote", a device's "interpose" stage list), in RPC parameters and on
 * the command line (--role, --listen, --export KEY=VAL,..., and the remote
 * keys of --blk). Errors read "<key path>: expected <what>, got <value>".
 *
 * A remote backend: {"type": "remote", "server": "IP:PORT", "device": NAME,
 *   "mtu", "window", "heartbeat_ms", "failover_ms", "timeout_ms", "size",
 *   "fallback": {"type": "file"|"null", ...}}. Without a fallback, requests
 *   fail with an I/O error while the iohost is unreachable.
 * An export: {"name", "backend": {"type": "file"|"null", ...}, "read_only",
 *   "interpose": [...]}. */
#ifndef SC_REMOTE_CONFIG_H
#define SC_REMOTE_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

enum cfg_role { CFG_ROLE_LOCAL, CFG_ROLE_VMHOST, CFG_ROLE_IOHOST };

struct cfg_backend;
struct cfg_device;

struct cfg_remote {
    char *server;
    char *device;
    unsigned mtu, window, heartbeat_ms, failover_ms, timeout_ms;
    struct cfg_backend *fallback; /* NULL: EIO while unreachable */
};

struct cfg_export {
    char *name;
    bool read_only;
    struct cfg_backend *backend;
    json_t *interpose; /* NULL: no stages */
};

struct cfg_iohost {
    char *listen;      /* NULL: not an iohost */
    char *net_listen;  /* vRIO net: where remote net devices join switches; NULL: none */
    unsigned mtu, sockets;
};

struct cfg_rio {
    enum cfg_role role;
    bool has_role;
    struct cfg_iohost io;
    struct cfg_export *exports;
    unsigned nr_exports;
};

int cfg_role_parse(const char *s, enum cfg_role *out);
const char *cfg_role_name(enum cfg_role r);

/* The remote keys of a backend object whose type is "remote"; fills
 * b->remote and b->size. */
int cfg_remote_from_json(const json_t *obj, const char *bctx, struct cfg_backend *b, char *err,
                         size_t len);
/* --blk keys server, export, fallback (a file path), mtu, failover_ms;
 * 1 when key is not one of them. */
int cfg_remote_blk_pair(struct cfg_device *d, const char *key, const char *val, char *err,
                        size_t len);
int cfg_remote_check(const struct cfg_device *d, const char *bpfx, char *err, size_t len);
struct cfg_remote *cfg_remote_dup(const struct cfg_remote *r);
void cfg_remote_free(struct cfg_remote *r);
json_t *cfg_remote_to_json(const struct cfg_remote *r);

/* A device's "interpose" value: checked by building the stages once. */
int cfg_interpose_check(const json_t *v, const char *ctx, char *err, size_t len);

int cfg_export_from_json(const json_t *o, const char *ctx, struct cfg_export *out, char *err,
                         size_t len);
void cfg_export_free(struct cfg_export *e);
json_t *cfg_export_to_json(const struct cfg_export *e);
int cfg_iohost_from_json(const json_t *o, struct cfg_iohost *out, char *err, size_t len);
/* "exports": [...] appended to rio. */
int cfg_rio_add_exports(struct cfg_rio *rio, const json_t *arr, char *err, size_t len);
int cfg_rio_add_export(struct cfg_rio *rio, const struct cfg_export *e);
void cfg_rio_free(struct cfg_rio *rio);

#endif
