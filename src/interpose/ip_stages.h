/* The stage kinds: constructors (for code and tests) and their JSON forms
 * (for the config and RPC), collected in ip_kinds.c.
 *   {"type": "meter"}   requests, bytes, errors by kind, latency histogram
 *   {"type": "qos", "iops": N, "iops_burst": N, "bps": SIZE, "bps_burst": SIZE}
 *                       token buckets; a request waits (the device keeps it)
 *                       until every enabled bucket holds its cost (1 I/O;
 *                       READ/WRITE bytes); bursts default to 1/10 s of rate
 *   {"type": "crypt", "key": "<128 hex digits>"}
 *                       AES-XTS-256 of every 512-byte sector, tweak = sector
 *                       number; WRITE_ZEROES of up to 1 MiB becomes a write
 *                       of encrypted zeros, larger ones fail (EOPNOTSUPP) */
#ifndef SC_IP_STAGES_H
#define SC_IP_STAGES_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "ip_stage.h"

#define IP_CRYPT_KEY_BYTES 64

struct ip_qos_params {
    uint64_t iops, iops_burst; /* 0: no IOPS limit; burst 0: iops / 10 (at least 1) */
    uint64_t bps, bps_burst;   /* 0: no bandwidth limit */
};

struct ip_stage *ip_meter_create(void);
struct ip_stage *ip_qos_create(const struct ip_qos_params *p, const char **why);
struct ip_stage *ip_crypt_create(const uint8_t key[IP_CRYPT_KEY_BYTES], const char **why);

/* JSON constructors: NULL with "<ctx>.<key>: expected ..., got ..." in err. */
struct ip_stage *ip_meter_from_json(const json_t *o, const char *ctx, char *err, size_t len);
struct ip_stage *ip_qos_from_json(const json_t *o, const char *ctx, char *err, size_t len);
struct ip_stage *ip_crypt_from_json(const json_t *o, const char *ctx, char *err, size_t len);

/* Shared by the JSON constructors. */
int ip_json_expect(char *err, size_t len, const char *ctx, const char *key, const char *what,
                   const json_t *got);
/* A number or a size string ("10M"); -EINVAL otherwise. */
int ip_json_size(const json_t *v, uint64_t *out);

#endif
