/* The iohost role in the daemon: the vRIO server and its exports, each an
 * interposition chain over a local backend, added from the config or by RPC
 * (export_create / export_delete / export_list, interpose_set). Control
 * thread only. Errors as in registry.h: -EINVAL (fix the parameters),
 * -EEXIST, -ENOENT, or a failure to open a resource. */
#ifndef SC_EXPORTS_H
#define SC_EXPORTS_H

#include <jansson.h>
#include <stddef.h>

#include "../core/sidecore.h"
#include "config.h"

struct exports;

struct exports *exports_create(struct sc_set *scs, const struct cfg_iohost *io, char *err,
                               size_t len);
void exports_destroy(struct exports *x);

int exports_add(struct exports *x, const struct cfg_export *e, char *err, size_t len);
int exports_remove(struct exports *x, const char *name, char *err, size_t len);
/* Grows an export (rio_server_resize_export); its vmhost devices follow
 * with their own resize. */
int exports_resize(struct exports *x, const char *name, uint64_t bytes, char *err, size_t len);
int exports_interpose_set(struct exports *x, const char *name, const json_t *stages, char *err,
                          size_t len);
/* {"listen", "sockets", "sessions", "exports": [config + counters + stages]} */
json_t *exports_json(struct exports *x);

#endif
