/* Opening a configured block backend (null, file, or remote with its
 * fallback) and wrapping it in an interposition chain with the configured
 * stages. Shared by the device registry and the iohost's exports. */
#ifndef SC_BLK_OPEN_H
#define SC_BLK_OPEN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "../backend/blk_backend.h"
#include "../interpose/ip_chain.h"
#include "config.h"

/* NULL with "<what>: <reason>" in err. *remote (may be NULL) gets the
 * remote backend inside, for its peer stats. */
struct blk_backend *blk_open(const struct cfg_backend *b, bool read_only, const char *what,
                             struct blk_backend **remote, char *err, size_t len);
/* Fills what r leaves 0 (mtu, window, heartbeat_ms, failover_ms,
 * timeout_ms) with the values a remote backend opened from it uses. */
void blk_remote_effective(struct cfg_remote *r);
/* Wraps be (taken over) in a chain with the stages of interpose (may be
 * NULL). NULL with err set; be is destroyed then. */
struct ip_chain *blk_open_chain(struct blk_backend *be, const json_t *interpose,
                                const char *what, char *err, size_t len);
/* Replaces the chain's stages with the JSON list. */
int blk_chain_set(struct ip_chain *c, const json_t *interpose, char *err, size_t len);

#endif
