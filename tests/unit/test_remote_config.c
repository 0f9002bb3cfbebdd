/* Configuration of the vRIO roles: remote backends (JSON and --blk), the
 * iohost section, exports, interposition lists; errors name the key. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "control/config.h"

static void remote_device(void **st)
{
    (void)st;
    char err[384];
    json_t *j = json_loads(
        "{\"name\": \"r0\", \"backend\": {\"type\": \"remote\", \"server\": \"10.0.0.2:7000\","
        " \"device\": \"disk0\", \"mtu\": 9000, \"failover_ms\": 300,"
        " \"fallback\": {\"type\": \"file\", \"path\": \"/srv/disk0.img\"}},"
        " \"interpose\": [{\"type\": \"meter\"}]}", 0, NULL);
    struct cfg_device d, c;
    assert_int_equal(cfg_device_from_json(j, "params", &d, err, sizeof(err)), 0);
    assert_int_equal(d.backend.type, CFG_BE_REMOTE);
    assert_string_equal(d.backend.remote->server, "10.0.0.2:7000");
    assert_string_equal(d.backend.remote->device, "disk0");
    assert_int_equal(d.backend.remote->mtu, 9000);
    assert_int_equal(d.backend.remote->failover_ms, 300);
    assert_string_equal(d.backend.remote->fallback->path, "/srv/disk0.img");
    assert_int_equal(json_array_size(d.interpose), 1);
    assert_int_equal(cfg_device_copy(&c, &d), 0);
    json_t *o = cfg_device_to_json(&c);
    json_t *be = json_object_get(o, "backend");
    assert_string_equal(json_string_value(json_object_get(be, "type")), "remote");
    assert_string_equal(json_string_value(json_object_get(be, "server")), "10.0.0.2:7000");
    assert_string_equal(json_string_value(json_object_get(json_object_get(be, "fallback"),
                                                          "path")),
                        "/srv/disk0.img");
    assert_int_equal(json_array_size(json_object_get(o, "interpose")), 1);
    json_decref(o);
    cfg_device_free(&c);
    cfg_device_free(&d);
    json_decref(j);

    assert_int_equal(cfg_device_from_blk_arg("name=r1,backend=remote,server=10.0.0.2:7000,"
                                             "export=disk1,fallback=/x.img,mtu=1500",
                                             &d, err, sizeof(err)), 0);
    assert_string_equal(d.backend.remote->device, "disk1");
    assert_int_equal(d.backend.remote->fallback->type, CFG_BE_FILE);
    assert_string_equal(d.backend.remote->fallback->path, "/x.img");
    cfg_device_free(&d);
}

static void remote_errors(void **st)
{
    (void)st;
    static const struct {
        const char *json, *msg;
    } bad[] = {
        {"{\"name\":\"a\",\"backend\":{\"type\":\"remote\",\"device\":\"d\"}}",
         "params.backend.server: missing (a remote backend needs the iohost's IP:PORT)"},
        {"{\"name\":\"a\",\"backend\":{\"type\":\"remote\",\"server\":\"1.2.3.4:5\"}}",
         "params.backend.device: missing (the export's name on the iohost)"},
        {"{\"name\":\"a\",\"backend\":{\"type\":\"remote\",\"server\":\"host:5\"}}",
         "params.backend.server: expected a numeric IP:PORT like \"10.0.0.2:7000\" (port "
         "1-65535), got \"host:5\""},
        /* getaddrinfo wrapped ports modulo 65536; port 0 binds anywhere. */
        {"{\"name\":\"a\",\"backend\":{\"type\":\"remote\",\"server\":\"1.2.3.4:107736\"}}",
         "params.backend.server: expected a numeric IP:PORT like \"10.0.0.2:7000\" (port "
         "1-65535), got \"1.2.3.4:107736\""},
        {"{\"name\":\"a\",\"backend\":{\"type\":\"remote\",\"server\":\"[::1]:0\"}}",
         "params.backend.server: expected a numeric IP:PORT like \"10.0.0.2:7000\" (port "
         "1-65535), got \"[::1]:0\""},
        {"{\"name\":\"a\",\"backend\":{\"type\":\"remote\",\"server\":\"1.2.3.4:+80\"}}",
         "params.backend.server: expected a numeric IP:PORT like \"10.0.0.2:7000\" (port "
         "1-65535), got \"1.2.3.4:+80\""},
        {"{\"name\":\"a\",\"backend\":{\"type\":\"remote\",\"server\":\"1.2.3.4:5\","
         "\"device\":\"d\",\"mtu\":500}}",
         "params.backend.mtu: expected an integer from 1280 to 65000, got 500"},
        {"{\"name\":\"a\",\"backend\":{\"type\":\"remote\",\"server\":\"1.2.3.4:5\","
         "\"device\":\"d\",\"fallback\":{\"type\":\"remote\"}}}",
         "params.backend.fallback: expected a local backend object like {\"type\": \"file\", "
         "\"path\": ...}, got {\"type\":\"remote\"}"},
        {"{\"name\":\"a\",\"backend\":{\"type\":\"remote\",\"server\":\"1.2.3.4:5\","
         "\"device\":\"d\",\"colour\":1}}",
         "params.backend.colour: unknown key (a remote backend takes server, device, size, "
         "fallback, mtu, window, heartbeat_ms, failover_ms, timeout_ms)"},
        {"{\"name\":\"a\",\"backend\":{\"type\":\"null\"},\"interpose\":[{\"type\":\"x\"}]}",
         "params.interpose[0].type: expected \"meter\", \"qos\", \"crypt\" or \"filter\", got \"x\""},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[384] = "";
        json_t *j = json_loads(bad[i].json, 0, NULL);
        assert_non_null(j);
        struct cfg_device d;
        int rc = cfg_device_from_json(j, "params", &d, err, sizeof(err));
        json_decref(j);
        if (rc != -EINVAL || strcmp(err, bad[i].msg) != 0) {
            print_error("input %s\n  rc %d, message \"%s\"\n  expected \"%s\"\n", bad[i].json, rc,
                        err, bad[i].msg);
            fail();
        }
    }
    char err[256];
    struct cfg_device d;
    assert_int_equal(cfg_device_from_blk_arg("name=a,backend=remote,export=d", &d, err,
                                             sizeof(err)), -EINVAL);
    assert_string_equal(err, "--blk server: missing (a remote backend needs the iohost's "
                             "IP:PORT)");
    assert_int_equal(cfg_device_from_blk_arg("name=a,server=1.2.3.4:5", &d, err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "only remote backends"));
}

static void iohost_config(void **st)
{
    (void)st;
    char err[384];
    json_t *j = json_loads(
        "{\"role\": \"iohost\", \"iohost\": {\"listen\": \"0.0.0.0:7000\", \"sockets\": 2},"
        " \"exports\": [{\"name\": \"disk0\", \"backend\": {\"type\": \"file\", \"path\": \"/a\"},"
        " \"interpose\": [{\"type\": \"qos\", \"iops\": 100}]},"
        " {\"name\": \"disk1\", \"read_only\": true, \"backend\": {\"type\": \"null\"}}]}",
        0, NULL);
    struct sc_config c;
    assert_int_equal(cfg_from_json(j, &c, err, sizeof(err)), 0);
    json_decref(j);
    assert_true(c.rio.has_role);
    assert_int_equal(c.rio.role, CFG_ROLE_IOHOST);
    assert_string_equal(c.rio.io.listen, "0.0.0.0:7000");
    assert_int_equal(c.rio.io.sockets, 2);
    assert_int_equal(c.rio.nr_exports, 2);
    assert_string_equal(c.rio.exports[0].backend->path, "/a");
    assert_true(c.rio.exports[1].read_only);
    json_t *o = cfg_export_to_json(&c.rio.exports[0]);
    assert_int_equal(json_array_size(json_object_get(o, "interpose")), 1);
    json_decref(o);
    cfg_free(&c);

    static const char *const bad[] = {
        "{\"role\": \"router\"}",
        "{\"iohost\": {\"listen\": \"nowhere\"}}",
        "{\"exports\": [{\"name\": \"x\"}]}",
        "{\"exports\": [{\"name\": \"x\", \"backend\": {\"type\": \"remote\"}}]}",
        /* An unknown key after the name was taken as a success, and the
         * daemon used an export without a backend (SIGSEGV). */
        "{\"exports\": [{\"name\": \"x\", \"readonly\": true, \"backend\": {\"type\": "
        "\"null\"}}]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        j = json_loads(bad[i], 0, NULL);
        assert_int_equal(cfg_from_json(j, &c, err, sizeof(err)), -EINVAL);
        json_decref(j);
    }
    assert_non_null(strstr(err, "exports[0].readonly: unknown key"));
    enum cfg_role r;
    assert_int_equal(cfg_role_parse("vmhost", &r), 0);
    assert_int_equal(r, CFG_ROLE_VMHOST);
    assert_string_equal(cfg_role_name(CFG_ROLE_LOCAL), "local");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(remote_device),
        cmocka_unit_test(remote_errors),
        cmocka_unit_test(iohost_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
