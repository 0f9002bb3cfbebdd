/* Interposition chain: a block backend that runs a device's stages around
 * another backend (file, null, remote). With no stages it passes requests
 * straight through.
 *
 * The stage list is replaced as a whole (ip_chain_set, control thread) while
 * queues run: each queue finishes the requests it started under the old list
 * (holding new ones back with -EAGAIN meanwhile), then switches on its own
 * sidecore. Old lists are freed once no queue uses them (at a later set or
 * at destroy). A request the inner backend refuses for lack of room is kept
 * in the chain and resubmitted on the next kick or reap, so the chain
 * accepts what its depth allows. The chain owns the inner backend. */
#ifndef SC_IP_CHAIN_H
#define SC_IP_CHAIN_H

#include <jansson.h>

#include "ip_stage.h"

struct ip_chain;

struct ip_chain *ip_chain_create(struct blk_backend *inner);
struct blk_backend *ip_chain_backend(struct ip_chain *c);
struct ip_chain *ip_chain_of(struct blk_backend *b); /* NULL if b is not a chain */

/* Takes over stages[0..n) on success (0); on failure (-errno, reason in why)
 * the caller still owns them. n == 0 empties the chain. */
int ip_chain_set(struct ip_chain *c, struct ip_stage **stages, unsigned n, const char **why);
/* Before any queue opens (tests): the clock every stage sees. */
void ip_chain_set_clock(struct ip_chain *c, ip_clock_fn fn, void *opaque);
/* [{"kind": ..., stage stats...}, ...] of the current list. */
json_t *ip_chain_stats(struct ip_chain *c);

/* Builds stages from a JSON array of stage objects ({"type": "meter"}, ...);
 * on success *n stages are in out (caller owns). Errors name the element. */
int ip_stages_from_json(const json_t *arr, struct ip_stage **out, unsigned *n, char *err,
                        size_t errlen);
void ip_stages_free(struct ip_stage **st, unsigned n);
/* [{"type": ..., stage stats...}, ...] of stages st[0..n) (NULL if out of
 * memory). */
json_t *ip_stages_stats(struct ip_stage *const *st, unsigned n);

#endif
