/* Sink/source port, for benchmarks and tests.
 *
 * The sink side counts what is delivered to it (rx counters) and drops it.
 * With source_size > 0 the port also generates UDP/IPv4 frames of that size
 * (Ethernet header to the end of the payload) from its own MAC to
 * source_dst, NET_BATCH per poll, on a sidecore queue: as fast as the
 * receivers take them, or source_count frames in all. The frames belong to
 * NET_SOURCE_FLOWS flows (UDP source ports 1024 on), one flow per batch in
 * turn, so a multiqueue receiver spreads them as it would real traffic.
 * A source with no receiver ready (its peer port, or every other port of
 * its switch: no guest yet) idles, so an idle benchmark setup lets its
 * sidecore sleep. */
#ifndef SC_NET_SINK_H
#define SC_NET_SINK_H

#include <stdint.h>

#include "../core/sidecore.h"
#include "net_port.h"

#define NET_SOURCE_MIN 60
#define NET_SOURCE_MAX 9000
#define NET_SOURCE_FLOWS 8

struct net_sink_params {
    const char *name;
    uint8_t mac[6];
    uint32_t source_size; /* 0: sink only; else NET_SOURCE_MIN..NET_SOURCE_MAX */
    uint8_t source_dst[6];
    uint64_t source_count; /* 0: unlimited */
};

struct net_sink;

struct net_sink *net_sink_create(const struct net_sink_params *p, const char **why);
struct net_port *net_sink_port(struct net_sink *s);
/* Starts generating (after the port is linked); a no-op for a pure sink. */
int net_sink_start(struct net_sink *s, struct sc_set *scs);
/* Stops generating; returns once the source no longer runs. */
void net_sink_stop(struct net_sink *s);
/* Stopped and unlinked first. */
void net_sink_destroy(struct net_sink *s);

#endif
