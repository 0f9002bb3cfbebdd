/* Net configuration objects: switches, switch ports (tap, sink/source) and
 * virtio-net devices, as they appear in the JSON config ("switches",
 * "net_devices"), in RPC parameters and on sidecored's command line
 * (--switch / --port / --net KEY=VAL,...). The command-line form is turned
 * into a JSON object of strings and parsed by the same code, so both accept
 * the same keys; numbers may be JSON numbers or digit strings, booleans
 * true/false or "on"/"off". Errors read "<key path>: expected <what>, got
 * <value>"; nothing is half-filled on error.
 *
 * Defaults: switch mac_table 4096, aging 300 s; net queues 1, mtu 1500,
 * offload on, mac 52:54:00 + 3 bytes hashed from the name, socket
 * <runtime_dir>/<name>.sock (filled in by the registry); a sink port's
 * source_dst defaults to broadcast, a net device's sink source to the
 * device's own mac. A net device is linked by exactly one of switch=NAME,
 * backend=sink, or server=IP:PORT with remote_switch=NAME (vRIO net). */
#ifndef SC_NET_CONFIG_H
#define SC_NET_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum cfg_port_type { CFG_PORT_TAP, CFG_PORT_SINK };

struct cfg_source {
    uint32_t size; /* 0: no source */
    uint8_t dst[6];
    bool has_dst;
    uint64_t count;
};

struct cfg_switch {
    char *name;
    uint32_t mac_table;
    uint32_t aging;
};

struct cfg_port {
    char *name;
    char *sw;
    enum cfg_port_type type;
    char *ifname; /* tap; NULL: the port name */
    unsigned queues; /* tap: 1..NET_TAP_MAX_QUEUES (multiqueue above 1) */
    struct cfg_source src; /* sink */
};

struct cfg_net {
    char *name;
    char *socket; /* NULL: <runtime_dir>/<name>.sock */
    bool client;
    unsigned queues; /* queue pairs */
    uint8_t mac[6];
    unsigned mtu;
    bool offload;
    char *sw;  /* switch to join, or NULL with sink or server */
    bool sink; /* wired to a private sink/source port */
    struct cfg_source src;
    /* Remote (vRIO net): wired to a tunnel to switch rswitch on the iohost
     * whose net listener is server ("IP:PORT"). */
    char *server, *rswitch;
    unsigned heartbeat_ms; /* 0: the tunnel's default */
};

struct cfg_netset {
    struct cfg_switch *sws;
    unsigned nr_sws;
    struct cfg_port *ports;
    unsigned nr_ports;
    struct cfg_net *nets;
    unsigned nr_nets;
};

/* ctx names the object in messages ("params", "net_devices[0]"). sw, when
 * not NULL, is the switch a port nested in a switch object belongs to. */
int cfg_switch_from_json(const json_t *o, const char *ctx, struct cfg_switch *out, char *err,
                         size_t len);
int cfg_port_from_json(const json_t *o, const char *ctx, const char *sw, struct cfg_port *out,
                       char *err, size_t len);
int cfg_net_from_json(const json_t *o, const char *ctx, struct cfg_net *out, char *err,
                      size_t len);
/* "name=sw0,aging=60" -> {"name": "sw0", "aging": "60"}; NULL with err set. */
json_t *cfg_kv_to_json(const char *arg, const char *what, char *err, size_t len);

json_t *cfg_switch_to_json(const struct cfg_switch *c);
json_t *cfg_port_to_json(const struct cfg_port *c);
json_t *cfg_net_to_json(const struct cfg_net *c);

int cfg_switch_copy(struct cfg_switch *dst, const struct cfg_switch *src);
int cfg_port_copy(struct cfg_port *dst, const struct cfg_port *src);
int cfg_net_copy(struct cfg_net *dst, const struct cfg_net *src);
void cfg_switch_free(struct cfg_switch *c);
void cfg_port_free(struct cfg_port *c);
void cfg_net_free(struct cfg_net *c);

/* Top-level config keys "switches" (objects, each may hold "ports") and
 * "net_devices"; appended to set. */
int cfg_netset_add_switches(struct cfg_netset *set, const json_t *arr, char *err, size_t len);
/* One switch object (with its nested ports); ctx names it in errors. */
int cfg_netset_add_switch_json(struct cfg_netset *set, const json_t *o, const char *ctx,
                               char *err, size_t len);
int cfg_netset_add_nets(struct cfg_netset *set, const json_t *arr, char *err, size_t len);
/* Append copies. */
int cfg_netset_add_switch(struct cfg_netset *set, const struct cfg_switch *c);
int cfg_netset_add_port(struct cfg_netset *set, const struct cfg_port *c);
int cfg_netset_add_net(struct cfg_netset *set, const struct cfg_net *c);
void cfg_netset_free(struct cfg_netset *set);

#endif
