/* The vhost-user decoder: every supported request with its right payload size
 * and fd count is accepted; short, long and wrong-fd variants are rejected;
 * header checks (version, flags, size > max) reject before any payload. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "vhost/vhost_msg.h"

/* A message that satisfies the request's own rule: size and the payload
 * fields the rule looks at (region count, config size, no-fd bit). */
static unsigned make_good(const struct vhu_msg_spec *s, uint32_t req, struct vhu_msg *m)
{
    memset(m, 0, sizeof(*m));
    m->hdr.request = req;
    m->hdr.flags = VHOST_USER_VERSION;
    switch (s->size_rule) {
    case VHU_SIZE_EXACT:
        m->hdr.size = s->size;
        break;
    case VHU_SIZE_MEMTABLE:
        m->p.mem.nregions = 2;
        m->hdr.size = 8 + 2 * sizeof(struct vhu_mem_region);
        break;
    case VHU_SIZE_CONFIG:
        m->p.cfg.size = 16;
        m->hdr.size = VHOST_USER_CONFIG_HDR + 16;
        break;
    }
    switch (s->fd_rule) {
    case VHU_FD_NONE:
        return 0;
    case VHU_FD_ONE:
        return 1;
    case VHU_FD_THREE:
        return 3;
    case VHU_FD_VRING:
        return 1;
    case VHU_FD_REGIONS:
        return m->p.mem.nregions;
    case VHU_FD_OPTIONAL:
        return 0;
    }
    return 0;
}

static void test_every_request(void **state)
{
    char why[160];
    unsigned supported = 0;
    (void)state;

    for (uint32_t req = 0; req <= VHOST_USER_MAX_REQUEST + 5; req++) {
        const struct vhu_msg_spec *s = vhost_msg_spec(req);
        struct vhu_msg m;
        if (!s) {
            memset(&m, 0, sizeof(m));
            m.hdr.request = req;
            assert_int_equal(vhu_msg_check(NULL, &m, 0, why, sizeof(why)), -1);
            assert_non_null(strstr(why, "unsupported"));
            continue;
        }
        supported++;
        unsigned nfds = make_good(s, req, &m);
        assert_int_equal(vhu_msg_check(s, &m, nfds, why, sizeof(why)), 0);

        /* One byte longer: always wrong. */
        struct vhu_msg bad = m;
        bad.hdr.size++;
        assert_int_equal(vhu_msg_check(s, &bad, nfds, why, sizeof(why)), -1);
        /* One byte shorter (when there is a payload). */
        if (m.hdr.size > 0) {
            bad = m;
            bad.hdr.size--;
            assert_int_equal(vhu_msg_check(s, &bad, nfds, why, sizeof(why)), -1);
        }
        /* An extra fd is always wrong, except where one is optional. */
        if (s->fd_rule != VHU_FD_OPTIONAL) {
            assert_int_equal(vhu_msg_check(s, &m, nfds + 1, why, sizeof(why)), -1);
            assert_non_null(strstr(why, "file descriptors"));
        } else {
            assert_int_equal(vhu_msg_check(s, &m, 1, why, sizeof(why)), 0);
            assert_int_equal(vhu_msg_check(s, &m, 2, why, sizeof(why)), -1);
        }
        /* A missing fd where one is required. */
        if (nfds > 0)
            assert_int_equal(vhu_msg_check(s, &m, nfds - 1, why, sizeof(why)), -1);
        assert_non_null(vhost_msg_name(req));
        assert_string_not_equal(vhost_msg_name(req), "UNKNOWN");
    }
    assert_int_equal(supported, 30);
}

static void test_vring_nofd(void **state)
{
    char why[160];
    (void)state;
    uint32_t reqs[] = {VHOST_USER_SET_VRING_KICK, VHOST_USER_SET_VRING_CALL,
                       VHOST_USER_SET_VRING_ERR};
    for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
        const struct vhu_msg_spec *s = vhost_msg_spec(reqs[i]);
        struct vhu_msg m = {.hdr = {reqs[i], VHOST_USER_VERSION, 8}};
        m.p.u64 = 1 | VHOST_USER_VRING_NOFD_MASK;
        assert_int_equal(vhu_msg_check(s, &m, 0, why, sizeof(why)), 0);
        assert_int_equal(vhu_msg_check(s, &m, 1, why, sizeof(why)), -1);
        m.p.u64 = 1;
        assert_int_equal(vhu_msg_check(s, &m, 0, why, sizeof(why)), -1);
        assert_int_equal(vhu_msg_check(s, &m, 1, why, sizeof(why)), 0);
    }
}

static void test_mem_table_rules(void **state)
{
    const struct vhu_msg_spec *s = vhost_msg_spec(VHOST_USER_SET_MEM_TABLE);
    char why[160];
    struct vhu_msg m = {.hdr = {VHOST_USER_SET_MEM_TABLE, VHOST_USER_VERSION, 0}};
    (void)state;

    /* Shorter than the region count field. */
    m.hdr.size = 4;
    assert_int_equal(vhu_msg_check(s, &m, 0, why, sizeof(why)), -1);
    /* Zero regions and more regions than the message can carry. */
    m.hdr.size = 8;
    m.p.mem.nregions = 0;
    assert_int_equal(vhu_msg_check(s, &m, 0, why, sizeof(why)), -1);
    m.p.mem.nregions = VHOST_USER_MEM_TABLE_MAX + 1;
    m.hdr.size = 8 + 32 * VHOST_USER_MEM_TABLE_MAX;
    assert_int_equal(vhu_msg_check(s, &m, VHOST_USER_MEM_TABLE_MAX, why, sizeof(why)), -1);
    /* Region count and size disagree. */
    m.p.mem.nregions = 3;
    m.hdr.size = 8 + 32 * 2;
    assert_int_equal(vhu_msg_check(s, &m, 3, why, sizeof(why)), -1);
    /* All eight. */
    m.p.mem.nregions = VHOST_USER_MEM_TABLE_MAX;
    m.hdr.size = 8 + 32 * VHOST_USER_MEM_TABLE_MAX;
    assert_int_equal(vhu_msg_check(s, &m, VHOST_USER_MEM_TABLE_MAX, why, sizeof(why)), 0);
    assert_int_equal(vhu_msg_check(s, &m, VHOST_USER_MEM_TABLE_MAX - 1, why, sizeof(why)), -1);
}

static void test_config_rules(void **state)
{
    const struct vhu_msg_spec *s = vhost_msg_spec(VHOST_USER_GET_CONFIG);
    char why[160];
    struct vhu_msg m = {.hdr = {VHOST_USER_GET_CONFIG, VHOST_USER_VERSION, 0}};
    (void)state;

    m.hdr.size = 8; /* truncated config header */
    assert_int_equal(vhu_msg_check(s, &m, 0, why, sizeof(why)), -1);
    m.p.cfg.size = VHOST_USER_MAX_CONFIG + 1; /* size field larger than the max */
    m.hdr.size = VHOST_USER_CONFIG_HDR + VHOST_USER_MAX_CONFIG;
    assert_int_equal(vhu_msg_check(s, &m, 0, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "exceeds"));
    m.p.cfg.size = VHOST_USER_MAX_CONFIG;
    assert_int_equal(vhu_msg_check(s, &m, 0, why, sizeof(why)), 0);
    m.p.cfg.size = 0;
    m.hdr.size = VHOST_USER_CONFIG_HDR;
    assert_int_equal(vhu_msg_check(s, &m, 0, why, sizeof(why)), 0);
}

static void test_header(void **state)
{
    char why[160];
    struct vhu_hdr h = {VHOST_USER_GET_FEATURES, VHOST_USER_VERSION, 0};
    (void)state;

    assert_int_equal(vhu_hdr_check(&h, why, sizeof(why)), 0);
    h.flags = VHOST_USER_VERSION | VHOST_USER_NEED_REPLY_MASK;
    assert_int_equal(vhu_hdr_check(&h, why, sizeof(why)), 0);
    h.flags = 2; /* version 2 */
    assert_int_equal(vhu_hdr_check(&h, why, sizeof(why)), -1);
    h.flags = VHOST_USER_VERSION | VHOST_USER_REPLY_MASK;
    assert_int_equal(vhu_hdr_check(&h, why, sizeof(why)), -1);
    h.flags = VHOST_USER_VERSION | (1u << 7);
    assert_int_equal(vhu_hdr_check(&h, why, sizeof(why)), -1);
    h.flags = VHOST_USER_VERSION;
    h.size = VHOST_USER_MAX_PAYLOAD;
    assert_int_equal(vhu_hdr_check(&h, why, sizeof(why)), 0);
    h.size = VHOST_USER_MAX_PAYLOAD + 1;
    assert_int_equal(vhu_hdr_check(&h, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "exceeds"));
    h.size = 0xffffffffu;
    assert_int_equal(vhu_hdr_check(&h, why, sizeof(why)), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_request), cmocka_unit_test(test_vring_nofd),
        cmocka_unit_test(test_mem_table_rules), cmocka_unit_test(test_config_rules),
        cmocka_unit_test(test_header),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
