/* Minimal JSON-RPC 2.0 client for sidecored's control socket: one request
 * line out, one response line back, bounded by a timeout. */
#ifndef BENCH_RPC_H
#define BENCH_RPC_H

#include <jansson.h>

/* Returns the "result" (new reference) or NULL with a message on stderr. */
json_t *rpc_call(const char *socket, const char *method, json_t *params, int timeout_ms);

#endif
