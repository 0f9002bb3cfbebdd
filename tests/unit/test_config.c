/* Configuration parsing: a full good config; every kind of bad input gives a
 * message naming the key and what was expected; sizes; the --blk syntax;
 * device objects round-trip through cfg_device_to_json. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "backend/net_port.h"
#include "control/config.h"
#include "control/net_config.h"

static const char *good_json =
    "{\"runtime_dir\": \"/tmp/rt\", \"rpc_socket\": \"/tmp/rt/rpc.sock\", \"log_level\": \"debug\","
    " \"socket_group\": \"kvm\","
    " \"sidecores\": {\"count\": 2, \"cpus\": [1, 0], \"idle_us\": 50, \"mode\": \"poll\","
    "  \"prefault_threads\": 4},"
    " \"devices\": ["
    "  {\"name\": \"null0\", \"type\": \"blk\", \"socket\": \"/tmp/n.sock\", \"client\": false,"
    "   \"queues\": 2, \"read_only\": true, \"backend\": {\"type\": \"null\", \"size\": \"1G\"}},"
    "  {\"name\": \"file0\", \"type\": \"blk\", \"backend\": {\"type\": \"file\","
    "   \"path\": \"/x.img\", \"size\": 4096, \"direct\": true}, \"client\": true}]}";

static void test_good_config(void **state)
{
    (void)state;
    json_error_t jerr;
    json_t *root = json_loads(good_json, 0, &jerr);
    assert_non_null(root);
    struct sc_config c;
    char err[256] = "";
    assert_int_equal(cfg_from_json(root, &c, err, sizeof(err)), 0);
    json_decref(root);
    assert_string_equal(c.runtime_dir, "/tmp/rt");
    assert_string_equal(c.rpc_socket, "/tmp/rt/rpc.sock");
    assert_string_equal(c.socket_group, "kvm");
    assert_true(c.has_log_level);
    assert_int_equal(c.log_level, SC_LOG_DEBUG);
    assert_int_equal(c.sidecores.count, 2);
    assert_int_equal(c.sidecores.nr_cpus, 2);
    assert_int_equal(c.sidecores.cpus[0], 1);
    assert_int_equal(c.sidecores.cpus[1], 0);
    assert_int_equal(c.sidecores.idle_us, 50);
    assert_int_equal(c.sidecores.mode, CFG_MODE_POLL);
    assert_int_equal(c.sidecores.prefault_threads, 4);
    assert_int_equal(c.nr_devices, 2);
    struct cfg_device *d = &c.devices[0];
    assert_string_equal(d->name, "null0");
    assert_string_equal(d->socket, "/tmp/n.sock");
    assert_int_equal(d->queues, 2);
    assert_true(d->read_only);
    assert_false(d->client);
    assert_int_equal(d->backend.type, CFG_BE_NULL);
    assert_int_equal(d->backend.size, 1ull << 30);
    d = &c.devices[1];
    assert_string_equal(d->name, "file0");
    assert_null(d->socket);
    assert_int_equal(d->queues, 1);
    assert_true(d->client);
    assert_int_equal(d->backend.type, CFG_BE_FILE);
    assert_string_equal(d->backend.path, "/x.img");
    assert_int_equal(d->backend.size, 4096);
    assert_true(d->backend.direct);
    cfg_free(&c);
}

static void test_null_default_size(void **state)
{
    (void)state;
    json_t *o = json_loads("{\"name\": \"a\", \"backend\": {\"type\": \"null\"}}", 0, NULL);
    struct cfg_device d;
    char err[256];
    assert_int_equal(cfg_device_from_json(o, "params", &d, err, sizeof(err)), 0);
    assert_int_equal(d.backend.size, CFG_NULL_DEFAULT_SIZE);
    assert_int_equal(d.queues, 1);
    cfg_device_free(&d);
    json_decref(o);
}

/* Each bad config and the exact message it must give. */
static const struct {
    const char *json;
    const char *msg;
} bad[] = {
    {"[]", "config: expected a JSON object at the top level, got []"},
    {"{\"runtime_dir\": 5}", "runtime_dir: expected a path string, got 5"},
    {"{\"log_level\": \"loud\"}",
     "log_level: expected \"error\", \"warn\", \"info\" or \"debug\", got \"loud\""},
    {"{\"colour\": 1}",
     "colour: unknown key (expected runtime_dir, rpc_socket, socket_group, log_level, sidecores, "
     "devices, switches, net_devices, role, iohost, exports)"},
    {"{\"socket_group\": \"\"}", "socket_group: expected a group name or number, got \"\""},
    {"{\"socket_group\": -1}", "socket_group: expected a group name or number, got -1"},
    {"{\"sidecores\": 3}", "sidecores: expected an object like {\"count\": 1}, got 3"},
    {"{\"sidecores\": {\"count\": 0}}", "sidecores.count: expected an integer from 1 to 64, got 0"},
    {"{\"sidecores\": {\"cpus\": [1, \"x\"]}}",
     "sidecores.cpus[1]: expected a cpu number (or -1: not pinned), got \"x\""},
    {"{\"sidecores\": {\"mode\": \"fast\"}}",
     "sidecores.mode: expected \"hybrid\", \"poll\" or \"notify\", got \"fast\""},
    {"{\"sidecores\": {\"idle_us\": -1}}",
     "sidecores.idle_us: expected microseconds from 0 to 10000000, got -1"},
    {"{\"sidecores\": {\"threads\": 1}}",
     "sidecores.threads: unknown key (expected count, cpus, idle_us, mode, prefault_threads)"},
    {"{\"sidecores\": {\"prefault_threads\": 65}}",
     "sidecores.prefault_threads: expected a thread count from 0 to 64, got 65"},
    {"{\"devices\": {}}", "devices: expected an array of device objects, got {}"},
    {"{\"devices\": [3]}", "devices[0]: expected a device object, got 3"},
    {"{\"devices\": [{\"backend\": {\"type\": \"null\"}}]}",
     "devices[0].name: missing (every device needs a name)"},
    {"{\"devices\": [{\"name\": \"a/b\", \"backend\": {\"type\": \"null\"}}]}",
     "devices[0].name: expected a name of 1-32 letters, digits, '_', '-' or '.', got \"a/b\""},
    {"{\"devices\": [{\"name\": \"a\"}]}",
     "devices[0].backend: missing (expected {\"type\": \"null\"|\"file\", ...})"},
    {"{\"devices\": [{\"name\": \"a\", \"type\": \"net\", \"backend\": {\"type\": \"null\"}}]}",
     "devices[0].type: expected \"blk\", got \"net\""},
    {"{\"devices\": [{\"name\": \"a\", \"backend\": {\"type\": \"null\"}},"
     " {\"name\": \"b\", \"backend\": {\"type\": \"null\", \"size\": \"x\"}}]}",
     "devices[1].backend.size: expected a size like 1G, 512M or a byte count (below 8 EiB), got \"x\""},
    {"{\"devices\": [{\"name\": \"a\", \"backend\": {\"type\": \"null\", \"size\": 1000}}]}",
     "devices[0].backend.size: expected a multiple of 512 bytes, got 1000"},
    {"{\"devices\": [{\"name\": \"a\", \"backend\": {\"type\": \"disk\"}}]}",
     "devices[0].backend.type: expected \"null\", \"file\" or \"remote\", got \"disk\""},
    {"{\"devices\": [{\"name\": \"a\", \"backend\": {\"size\": \"1G\"}}]}",
     "devices[0].backend.type: missing (expected \"null\" or \"file\")"},
    {"{\"devices\": [{\"name\": \"a\", \"backend\": {\"type\": \"file\"}}]}",
     "devices[0].backend.path: missing (a file backend needs a path)"},
    {"{\"devices\": [{\"name\": \"a\", \"backend\": {\"type\": \"null\", \"path\": \"/x\"}}]}",
     "devices[0].backend.path: only file backends take a path"},
    {"{\"devices\": [{\"name\": \"a\", \"backend\": {\"type\": \"file\", \"path\": \"/x\","
     " \"direct\": \"yes\"}}]}",
     "devices[0].backend.direct: expected true or false, got \"yes\""},
    {"{\"devices\": [{\"name\": \"a\", \"backend\": {\"type\": \"file\", \"path\": \"/x\","
     " \"shared\": 1}}]}",
     "devices[0].backend.shared: expected true or false, got 1"},
    {"{\"devices\": [{\"name\": \"a\", \"queues\": 65, \"backend\": {\"type\": \"null\"}}]}",
     "devices[0].queues: expected an integer from 1 to 64, got 65"},
    {"{\"devices\": [{\"name\": \"a\", \"read_only\": 1, \"backend\": {\"type\": \"null\"}}]}",
     "devices[0].read_only: expected true or false, got 1"},
    {"{\"devices\": [{\"name\": \"a\", \"socket\": \"\", \"backend\": {\"type\": \"null\"}}]}",
     "devices[0].socket: expected a unix socket path, got \"\""},
    {"{\"devices\": [{\"name\": \"a\", \"sock\": \"/x\", \"backend\": {\"type\": \"null\"}}]}",
     "devices[0].sock: unknown key (expected name, type, socket, serial, client, queues, "
     "read_only, backend, interpose)"},
    {"{\"devices\": [{\"name\": \"a\", \"serial\": \"123456789012345678901\","
     " \"backend\": {\"type\": \"null\"}}]}",
     "devices[0].serial: expected a serial of 1-20 printable ASCII characters without spaces or "
     "'/', got \"123456789012345678901\""},
    {"{\"devices\": [{\"name\": \"a\", \"serial\": \"a/b\", \"backend\": {\"type\": \"null\"}}]}",
     "devices[0].serial: expected a serial of 1-20 printable ASCII characters without spaces or "
     "'/', got \"a/b\""},
    /* Names given twice say where. */
    {"{\"switches\": [{\"name\": \"s\"}, {\"name\": \"s\"}]}",
     "switches[1].name: switch s is given twice"},
    {"{\"switches\": [{\"name\": \"s\", \"ports\": [{\"name\": \"p\", \"type\": \"sink\"},"
     " {\"name\": \"p\", \"type\": \"sink\"}]}]}",
     "switches[0].ports[1].name: p is given twice (net devices and ports share names)"},
    {"{\"net_devices\": [{\"name\": \"n\", \"backend\": \"sink\"},"
     " {\"name\": \"n\", \"backend\": \"sink\"}]}",
     "net_devices[1].name: n is given twice (net devices and ports share names)"},
};

static void test_bad_configs(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_error_t jerr;
        json_t *root = json_loads(bad[i].json, 0, &jerr);
        if (!root)
            fail_msg("test input %zu is not JSON: %s", i, jerr.text);
        struct sc_config c;
        char err[256] = "";
        int rc = cfg_from_json(root, &c, err, sizeof(err));
        json_decref(root);
        if (rc != -EINVAL || strcmp(err, bad[i].msg) != 0)
            fail_msg("input %s\n  rc %d, message \"%s\"\n  expected \"%s\"", bad[i].json, rc, err,
                     bad[i].msg);
    }
}

static void test_load_file(void **state)
{
    (void)state;
    char path[] = "/tmp/test_config.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *bad_json = "{\n  \"devices\": [\n    {\"name\": \"a\",}\n  ]\n}\n";
    assert_int_equal(write(fd, bad_json, strlen(bad_json)), (ssize_t)strlen(bad_json));
    close(fd);
    struct sc_config c;
    char err[512] = "";
    assert_int_equal(cfg_load_file(path, &c, err, sizeof(err)), -EINVAL);
    char want[128];
    snprintf(want, sizeof(want), "%s:3:", path);
    assert_non_null(strstr(err, want));
    assert_non_null(strstr(err, "invalid JSON"));

    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(good_json, f);
    fclose(f);
    assert_int_equal(cfg_load_file(path, &c, err, sizeof(err)), 0);
    assert_int_equal(c.nr_devices, 2);
    cfg_free(&c);

    f = fopen(path, "w");
    fputs("{\"devices\": [{\"name\": \"a\", \"backend\": {\"type\": \"null\", \"size\": true}}]}", f);
    fclose(f);
    assert_int_equal(cfg_load_file(path, &c, err, sizeof(err)), -EINVAL);
    snprintf(want, sizeof(want),
             "%s: devices[0].backend.size: expected a size like 1G, 512M or a byte count (below 8 EiB), got true",
             path);
    assert_string_equal(err, want);
    unlink(path);

    assert_int_equal(cfg_load_file("/nonexistent/sidecore.json", &c, err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "/nonexistent/sidecore.json"));
}

static void test_sizes(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        uint64_t v;
    } good[] = {
        {"0", 0},          {"4096", 4096},       {"512K", 512ull << 10}, {"512M", 512ull << 20},
        {"1G", 1ull << 30}, {"1g", 1ull << 30},   {"2T", 2ull << 40},     {"1GiB", 1ull << 30},
        {"64MB", 64ull << 20}, {"16777216", 16ull << 20}, {"8388607T", 8388607ull << 40},
        {"9223372036854775807", INT64_MAX},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        uint64_t v = 1;
        assert_int_equal(cfg_parse_size(good[i].s, &v), 0);
        assert_int_equal(v, good[i].v);
    }
    static const char *const badv[] = {"", "x", "-1", "1Q", "1GG", "G", " 1G", "1.5G",
                                       "99999999999999999999", "20000000T", "1Gx",
                                       /* past an off_t (were accepted) */
                                       "8388608T", "18014398509481983K",
                                       "9223372036854775808"};
    for (size_t i = 0; i < sizeof(badv) / sizeof(badv[0]); i++) {
        uint64_t v;
        if (cfg_parse_size(badv[i], &v) == 0)
            fail_msg("size \"%s\" was accepted as %llu", badv[i], (unsigned long long)v);
    }
    assert_true(cfg_parse_size(NULL, &(uint64_t){0}) < 0);
}

static void test_blk_arg(void **state)
{
    (void)state;
    struct cfg_device d;
    char err[256] = "";
    assert_int_equal(cfg_device_from_blk_arg("name=disk0,socket=/tmp/d.sock,backend=file,"
                                             "path=/tmp/d.img,size=64M,queues=4,readonly=on,"
                                             "direct=on,client=on",
                                             &d, err, sizeof(err)),
                     0);
    assert_string_equal(d.name, "disk0");
    assert_string_equal(d.socket, "/tmp/d.sock");
    assert_int_equal(d.backend.type, CFG_BE_FILE);
    assert_string_equal(d.backend.path, "/tmp/d.img");
    assert_int_equal(d.backend.size, 64ull << 20);
    assert_int_equal(d.queues, 4);
    assert_true(d.read_only);
    assert_true(d.backend.direct);
    assert_true(d.client);
    cfg_device_free(&d);

    assert_int_equal(cfg_device_from_blk_arg("name=n", &d, err, sizeof(err)), 0);
    assert_int_equal(d.backend.type, CFG_BE_NULL);
    assert_int_equal(d.backend.size, CFG_NULL_DEFAULT_SIZE);
    assert_null(d.socket);
    assert_false(d.read_only);
    cfg_device_free(&d);

    static const struct {
        const char *arg, *msg;
    } badb[] = {
        {"socket=/x", "--blk name: missing (every device needs a name)"},
        {"name=a,size=lots", "--blk size: expected a size like 1G, 512M or a byte count (below 8 EiB), got "
                             "\"lots\""},
        {"name=a,queues=0", "--blk queues: expected an integer from 1 to 64, got \"0\""},
        {"name=a,queues=4x", "--blk queues: expected an integer from 1 to 64, got \"4x\""},
        {"name=a,backend=rbd", "--blk backend: expected null, file or remote, got \"rbd\""},
        {"name=a,readonly=maybe", "--blk readonly: expected on or off, got \"maybe\""},
        {"name=a,colour=red",
         "--blk colour: unknown key (expected name, socket, serial, backend, path, size, "
         "queues, readonly, direct, shared, client; remote: server, export, fallback, mtu, "
         "failover_ms, timeout_ms)"},
        {"name=a,shared=on", "--blk shared: only file backends take shared"},
        {"name=a,queues", "--blk: expected KEY=VALUE, got \"queues\""},
        {"name=a,size=1G,size=2G", "--blk size: given twice"},
        {"name=a,backend=file", "--blk path: missing (a file backend needs a path)"},
        {"name=a b", "--blk name: expected a name of 1-32 letters, digits, '_', '-' or '.', got "
                     "\"a b\""},
        {"name=a,socket=", "--blk socket: expected a path, got an empty value"},
        {"name=a,serial=with space", "--blk serial: expected a serial of 1-20 printable ASCII "
                                     "characters without spaces or '/', got \"with space\""},
    };
    for (size_t i = 0; i < sizeof(badb) / sizeof(badb[0]); i++) {
        int rc = cfg_device_from_blk_arg(badb[i].arg, &d, err, sizeof(err));
        if (rc != -EINVAL || strcmp(err, badb[i].msg) != 0)
            fail_msg("--blk %s\n  rc %d, message \"%s\"\n  expected \"%s\"", badb[i].arg, rc, err,
                     badb[i].msg);
    }
}

static void test_round_trip(void **state)
{
    (void)state;
    struct cfg_device d, e;
    char err[256];
    assert_int_equal(cfg_device_from_blk_arg("name=r,socket=/s,backend=file,path=/p,size=1M,"
                                             "queues=3,readonly=on,direct=on,shared=on,"
                                             "serial=SC-0001",
                                             &d, err, sizeof(err)),
                     0);
    assert_true(d.backend.shared);
    assert_string_equal(d.serial, "SC-0001");
    json_t *j = cfg_device_to_json(&d);
    assert_non_null(j);
    assert_int_equal(cfg_device_from_json(j, "x", &e, err, sizeof(err)), 0);
    assert_string_equal(e.name, d.name);
    assert_string_equal(e.socket, d.socket);
    assert_string_equal(e.serial, "SC-0001");
    assert_string_equal(e.backend.path, d.backend.path);
    assert_int_equal(e.backend.size, d.backend.size);
    assert_int_equal(e.queues, 3);
    assert_true(e.read_only);
    assert_true(e.backend.direct);
    assert_true(e.backend.shared);
    json_decref(j);
    cfg_device_free(&d);
    cfg_device_free(&e);
}

/* A remote net device's default MAC takes in the address its host reaches
 * the iohost from: "net0" on every vmhost met on one switch with one MAC.
 * A local one's comes from its name. */
static void test_net_default_mac(void **state)
{
    (void)state;
    char err[256] = "";
    struct cfg_net r, l;
    json_t *o = cfg_kv_to_json("name=net0,server=127.0.0.1:7401,remote_switch=sw0", "--net", err,
                               sizeof(err));
    assert_non_null(o);
    assert_int_equal(cfg_net_from_json(o, "--net", &r, err, sizeof(err)), 0);
    json_decref(o);
    o = cfg_kv_to_json("name=net0,backend=sink", "--net", err, sizeof(err));
    assert_non_null(o);
    assert_int_equal(cfg_net_from_json(o, "--net", &l, err, sizeof(err)), 0);
    json_decref(o);
    uint8_t byname[6], byaddr[6];
    net_mac_from_name("net0", 0x52, byname);
    net_mac_from_name("net0@127.0.0.1", 0x52, byaddr);
    assert_memory_equal(l.mac, byname, 6);
    assert_memory_equal(r.mac, byaddr, 6);
    assert_memory_not_equal(r.mac, l.mac, 6);
    cfg_net_free(&r);
    cfg_net_free(&l);
}

static void test_small_parsers(void **state)
{
    (void)state;
    int cpus[4];
    assert_int_equal(cfg_parse_cpu_list("1,0", cpus, 4), 2);
    assert_int_equal(cpus[0], 1);
    assert_int_equal(cpus[1], 0);
    assert_int_equal(cfg_parse_cpu_list("1,x", cpus, 4), -1);
    assert_int_equal(cfg_parse_cpu_list("1,2,3,4,5", cpus, 4), -1);
    /* Empty entries are errors (strtok skipped them: "1,,0" was 1,0). */
    assert_int_equal(cfg_parse_cpu_list("1,,0", cpus, 4), -1);
    assert_int_equal(cfg_parse_cpu_list("1,", cpus, 4), -1);
    assert_int_equal(cfg_parse_cpu_list(",1", cpus, 4), -1);
    assert_int_equal(cfg_parse_cpu_list("", cpus, 4), -1);
    enum cfg_mode m;
    assert_int_equal(cfg_parse_mode("notify", &m), 0);
    assert_int_equal(m, CFG_MODE_NOTIFY);
    assert_string_equal(cfg_mode_name(m), "notify");
    assert_true(cfg_parse_mode("turbo", &m) < 0);
    enum sc_log_level l;
    assert_int_equal(cfg_parse_log_level("warn", &l), 0);
    assert_int_equal(l, SC_LOG_WARN);
    assert_true(cfg_parse_log_level("WARN", &l) < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_config), cmocka_unit_test(test_null_default_size),
        cmocka_unit_test(test_bad_configs), cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_sizes),       cmocka_unit_test(test_blk_arg),
        cmocka_unit_test(test_net_default_mac),
        cmocka_unit_test(test_round_trip),  cmocka_unit_test(test_small_parsers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
