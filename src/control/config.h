/* Daemon configuration: the JSON start-up file, the device objects that
 * device_create receives, and the --blk KEY=VAL,... command-line syntax all
 * parse into the structs below. Every parse error is written to err as
 * "<key path>: expected <what>, got <value>" so a person can fix the input;
 * nothing is half-filled on error (the output is freed again).
 *
 * Device defaults: type "blk", 1 queue, server mode, writable; socket NULL
 * means <runtime_dir>/<name>.sock (the registry fills it in); null backends
 * default to 1 GiB; file backends keep the file's size when size is 0. */
#ifndef SC_CONFIG_H
#define SC_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/log.h"
#include "net_config.h"
#include "remote_config.h"

#define CFG_NAME_MAX 32
#define CFG_MAX_SIDECORES 64
#define CFG_NULL_DEFAULT_SIZE (1ull << 30)

enum cfg_backend_type { CFG_BE_NULL, CFG_BE_FILE, CFG_BE_REMOTE };
enum cfg_mode { CFG_MODE_HYBRID, CFG_MODE_POLL, CFG_MODE_NOTIFY };

struct cfg_backend {
    enum cfg_backend_type type;
    char *path;     /* file only */
    uint64_t size;  /* bytes; 0 = default (null: 1 GiB, file: keep) */
    bool direct;    /* file only: O_DIRECT */
    bool shared;    /* file only: devices that all set it may use the same path
                     * (source and destination of a live migration) */
    struct cfg_remote *remote; /* remote only (remote_config.h) */
};

struct cfg_device {
    char *name;
    char *socket;   /* NULL: <runtime_dir>/<name>.sock */
    char *serial;   /* GET_ID answer, <= 20 bytes; NULL: the name's first 20 */
    bool client;
    unsigned queues;
    bool read_only;
    struct cfg_backend backend;
    json_t *interpose; /* stage list (ip_chain.h); NULL: none */
};

struct cfg_sidecores {
    unsigned count;                 /* 0 = not given */
    int cpus[CFG_MAX_SIDECORES];
    unsigned nr_cpus;               /* entries given in cpus */
    unsigned idle_us;
    bool has_idle_us;
    enum cfg_mode mode;
    bool has_mode;
    unsigned prefault_threads;      /* 0: guest memory is not pre-faulted */
};

struct sc_config {
    char *runtime_dir;              /* NULL: not given */
    char *rpc_socket;               /* NULL: not given */
    char *socket_group;             /* device sockets' group; NULL: not given */
    enum sc_log_level log_level;
    bool has_log_level;
    struct cfg_sidecores sidecores;
    struct cfg_device *devices;
    unsigned nr_devices;
    struct cfg_netset net; /* "switches" (with their ports) and "net_devices" */
    struct cfg_rio rio;    /* "role", "iohost", "exports" */
};

/* For RPC requests: a client's relative path would name a file in the
 * daemon's working directory, not its own. 0 when path is NULL or
 * absolute, else -EINVAL with "<key>: expected an absolute path ..." */
int cfg_absolute(const char *key, const char *path, char *err, size_t len);

/* "4096", "512K", "512M", "1G", "2T" (binary units, optional "iB"/"B"). */
int cfg_parse_size(const char *s, uint64_t *out);
int cfg_parse_mode(const char *s, enum cfg_mode *out);
const char *cfg_mode_name(enum cfg_mode m);
int cfg_parse_log_level(const char *s, enum sc_log_level *out);
/* "1,0,3": up to max cpus; returns the count or -1. */
int cfg_parse_cpu_list(const char *s, int *cpus, unsigned max);

/* ctx names the object in messages (e.g. "devices[1]" or "params"). */
int cfg_device_from_json(const json_t *obj, const char *ctx, struct cfg_device *out, char *err,
                         size_t errlen);
int cfg_device_from_blk_arg(const char *arg, struct cfg_device *out, char *err, size_t errlen);
int cfg_device_copy(struct cfg_device *dst, const struct cfg_device *src);
/* A backend object on its own (also a remote's fallback, an export's). */
int cfg_backend_from_json(const json_t *obj, const char *bctx, struct cfg_backend *b, char *err,
                          size_t errlen);
int cfg_backend_copy(struct cfg_backend *dst, const struct cfg_backend *src);
json_t *cfg_backend_to_json(const struct cfg_backend *b);
void cfg_backend_free(struct cfg_backend *b);
json_t *cfg_device_to_json(const struct cfg_device *d);
/* A copy of an interposition stage list fit to show: keys (crypt) hidden,
 * since lists and stats go to whoever may ask the RPC socket, and logs. */
json_t *cfg_stages_shown(const json_t *stages);
void cfg_device_free(struct cfg_device *d);

int cfg_from_json(const json_t *root, struct sc_config *out, char *err, size_t errlen);
int cfg_load_file(const char *path, struct sc_config *out, char *err, size_t errlen);
/* Appends a copy of d. */
int cfg_add_device(struct sc_config *c, const struct cfg_device *d);
void cfg_free(struct sc_config *c);

#endif
