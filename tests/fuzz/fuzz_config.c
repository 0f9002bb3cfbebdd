/* libFuzzer harness: JSON config / RPC parameter parsing (src/control,
 * interposition stage specs) with fuzzed JSON, plus the string parsers
 * (sizes, cpu lists, --blk key=value args). Input: [selector][text]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "control/config.h"
#include "control/net_config.h"
#include "control/qemu_line.h"
#include "control/remote_config.h"
#include "interpose/ip_chain.h"
#include "interpose/ip_stage.h"
#include "interpose/ip_stages.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    sc_log_set_level(SC_LOG_ERR);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t sel = data[0];
    char *s = malloc(size);
    memcpy(s, data + 1, size - 1);
    s[size - 1] = 0;
    char err[256];
    switch (sel % 8) {
    case 0: {
        uint64_t v;
        cfg_parse_size(s, &v);
        int cpus[64];
        cfg_parse_cpu_list(s, cpus, 64);
        struct cfg_device d;
        memset(&d, 0, sizeof(d));
        if (cfg_device_from_blk_arg(s, &d, err, sizeof(err)) == 0) {
            json_t *j = cfg_device_to_json(&d);
            json_decref(j);
            char *q = d.socket ? qemu_line_blk(&d) : NULL;
            free(q);
            cfg_device_free(&d);
        }
        json_t *kv = cfg_kv_to_json(s, "fuzz", err, sizeof(err));
        json_decref(kv);
        break;
    }
    default: {
        json_error_t je;
        json_t *root = json_loads(s, JSON_DISABLE_EOF_CHECK, &je);
        if (!root)
            break;
        switch (sel % 8) {
        case 1: {
            struct sc_config c;
            memset(&c, 0, sizeof(c));
            if (cfg_from_json(root, &c, err, sizeof(err)) == 0)
                cfg_free(&c);
            break;
        }
        case 2: {
            struct cfg_device d;
            memset(&d, 0, sizeof(d));
            if (cfg_device_from_json(root, "params", &d, err, sizeof(err)) == 0) {
                struct cfg_device d2;
                memset(&d2, 0, sizeof(d2));
                if (cfg_device_copy(&d2, &d) == 0)
                    cfg_device_free(&d2);
                json_decref(cfg_device_to_json(&d));
                if (d.socket) free(qemu_line_blk(&d));
                cfg_device_free(&d);
            }
            break;
        }
        case 3: {
            struct cfg_net n;
            memset(&n, 0, sizeof(n));
            if (cfg_net_from_json(root, "params", &n, err, sizeof(err)) == 0) {
                json_decref(cfg_net_to_json(&n));
                if (n.socket) free(qemu_line_net(&n));
                cfg_net_free(&n);
            }
            struct cfg_switch sw;
            memset(&sw, 0, sizeof(sw));
            if (cfg_switch_from_json(root, "params", &sw, err, sizeof(err)) == 0) {
                json_decref(cfg_switch_to_json(&sw));
                cfg_switch_free(&sw);
            }
            struct cfg_port pt;
            memset(&pt, 0, sizeof(pt));
            if (cfg_port_from_json(root, "params", "sw0", &pt, err, sizeof(err)) == 0) {
                json_decref(cfg_port_to_json(&pt));
                cfg_port_free(&pt);
            }
            break;
        }
        case 4: {
            struct ip_stage *st[IP_MAX_STAGES];
            unsigned n = 0;
            if (ip_stages_from_json(root, st, &n, err, sizeof(err)) == 0) {
                for (unsigned i = 0; i < n; i++) {
                    if (st[i]->ops->stats && strcmp(st[i]->ops->kind, "qos") != 0) /* finding 2 */
                        json_decref(st[i]->ops->stats(st[i]));
                    st[i]->ops->destroy(st[i]);
                }
            }
            cfg_interpose_check(root, "params", err, sizeof(err));
            break;
        }
        case 5: {
            struct cfg_export e;
            memset(&e, 0, sizeof(e));
            if (cfg_export_from_json(root, "params", &e, err, sizeof(err)) == 0 && e.name && e.backend) {
                /* known bug (REPORT.md finding 1): 0 returned with e untouched */
                json_decref(cfg_export_to_json(&e));
                cfg_export_free(&e);
            }
            struct cfg_iohost io;
            memset(&io, 0, sizeof(io));
            cfg_iohost_from_json(root, &io, err, sizeof(err));
            free(io.listen);
            free(io.net_listen);
            break;
        }
        case 6: {
            struct cfg_backend b;
            memset(&b, 0, sizeof(b));
            if (cfg_backend_from_json(root, "backend", &b, err, sizeof(err)) == 0)
                json_decref(cfg_backend_to_json(&b));
            cfg_backend_free(&b); /* the caller frees on failure too (as export/device do) */
            break;
        }
        default: {
            struct cfg_netset set;
            memset(&set, 0, sizeof(set));
            cfg_netset_add_switches(&set, root, err, sizeof(err));
            cfg_netset_add_nets(&set, root, err, sizeof(err));
            cfg_netset_free(&set);
            break;
        }
        }
        json_decref(root);
    }
    }
    free(s);
    return 0;
}
