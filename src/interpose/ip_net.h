/* Interposition chain for net ports: a port hook (net_port.h) running the
 * frame() of an ordered list of net stages on every frame the port sends or
 * receives; the first stage that drops a frame ends its walk.
 *
 * One chain per port name, kept by the control layer: it may be hooked to a
 * port that exists now and to the next port of that name (a remote peer that
 * reconnects keeps its filter). The list is replaced as a whole
 * (ip_net_set, control thread) while sidecores filter: readers announce
 * themselves in one of two epoch counters for the length of one batch, and
 * the old list is freed once the previous epoch drained (bounded: a batch).
 * A chain is destroyed only after no port holds its hook. */
#ifndef SC_IP_NET_H
#define SC_IP_NET_H

#include <jansson.h>

#include "ip_stage.h"

struct ip_net;

struct ip_net *ip_net_create(void);
void ip_net_destroy(struct ip_net *c);
struct net_port_hook *ip_net_hook(struct ip_net *c);

/* Takes over stages[0..n) on success; on failure (-EINVAL: a stage that
 * does not apply to net, reason in why) the caller keeps them. */
int ip_net_set(struct ip_net *c, struct ip_stage **stages, unsigned n, const char **why);
/* Before the hook is set (tests): the clock stages see. */
void ip_net_set_clock(struct ip_net *c, ip_clock_fn fn, void *opaque);
/* [{"type": ..., stage stats...}, ...] of the current list. */
json_t *ip_net_stats(struct ip_net *c);

#endif
