/* VPRI messages through the real vhost-user path: a vhost_dev serving a
 * virtio-blk device (null backend) on a sidecore, driven by the frontend
 * library. Hostile payload sizes, fd counts, fd kinds, unsealed or short
 * memfds and bad geometry each stop the device with a reason; a frontend
 * that did not negotiate the feature cannot use the messages; a well-formed
 * pair is accepted. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "backend/blk_backend.h"
#include "common/evloop.h"
#include "common/log.h"
#include "core/sidecore.h"
#include "dev/blk.h"
#include "frontend/vu_front.h"
#include "frontend/vu_mem.h"
#include "frontend/vu_proto.h"
#include "frontend/vu_vpri.h"
#include "vhost/vhost_user.h"
#include "virtq/virtio_spec.h"

#define MEM_BYTES (2u << 20)

struct env {
    struct sc_set *scs;
    struct vdev *dev;
    struct evloop *loop;
    struct vhost_dev *vh;
    pthread_t ctl;
    _Atomic bool stop;
    char dir[64], sock[96];
    struct vu_mem mem;
    struct vu_conn *c;
    struct vu_vpri vp;
};

static void *ctl_thread(void *arg)
{
    struct env *e = arg;
    while (!atomic_load(&e->stop))
        evloop_run_once(e->loop, 20);
    return NULL;
}

static void connect_and_negotiate(struct env *e, bool vpri)
{
    uint64_t f, pf;
    assert_int_equal(vu_conn_connect(e->sock, 5000, &e->c), 0);
    assert_int_equal(vu_set_owner(e->c), 0);
    assert_int_equal(vu_get_features(e->c, &f), 0);
    assert_int_equal(vu_get_protocol_features(e->c, &pf), 0);
    assert_true(pf & (1ull << VHOST_USER_PROTOCOL_F_VPRI));
    uint64_t want = (1ull << VU_PF_REPLY_ACK) | (vpri ? 1ull << VHOST_USER_PROTOCOL_F_VPRI : 0);
    assert_int_equal(vu_set_protocol_features(e->c, want), 0);
    assert_int_equal(vu_set_features(e->c, (1ull << VIRTIO_F_VERSION_1) |
                                               (1ull << VHOST_USER_F_PROTOCOL_FEATURES)),
                     0);
    struct vu_mem_region reg = {.gpa = 0, .size = e->mem.size,
                                .uaddr = (uint64_t)(uintptr_t)e->mem.base, .fd = e->mem.fd};
    assert_int_equal(vu_set_mem_table(e->c, &reg, 1), 0);
}

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    const char *why = NULL;
    assert_non_null(e);
    sc_log_set_level(SC_LOG_ERR);
    snprintf(e->dir, sizeof(e->dir), "/tmp/test_vpri_msg.XXXXXX");
    assert_non_null(mkdtemp(e->dir));
    snprintf(e->sock, sizeof(e->sock), "%s/blk.sock", e->dir);
    struct sc_params sp;
    sc_params_default(&sp);
    sp.nr_sidecores = 1;
    e->scs = sc_set_create(&sp);
    assert_non_null(e->scs);
    struct blk_backend *be = blk_null_create(1 << 20, 512, &why);
    assert_non_null(be);
    struct blk_dev_params bp = {.name = "vp0", .num_queues = 2};
    e->dev = blk_dev_create(&bp, be, e->scs, &why);
    assert_non_null(e->dev);
    e->loop = evloop_create();
    assert_non_null(e->loop);
    struct vhost_dev_cfg vc = {.socket_path = e->sock, .dev = e->dev, .vpri = true};
    assert_int_equal(vhost_dev_create(e->loop, &vc, &e->vh, &why), 0);
    assert_int_equal(pthread_create(&e->ctl, NULL, ctl_thread, e), 0);
    assert_int_equal(vu_mem_create(&e->mem, MEM_BYTES), 0);
    assert_int_equal(vu_vpri_create(&e->vp, MEM_BYTES / 4096, 2, 16, 5), 0);
    *state = e;
    return 0;
}

static void stop_ctl(struct env *e)
{
    if (!atomic_exchange(&e->stop, true))
        pthread_join(e->ctl, NULL);
}

static int teardown(void **state)
{
    struct env *e = *state;
    vu_conn_close(e->c);
    stop_ctl(e);
    vhost_dev_destroy(e->vh);
    e->dev->ops->destroy(e->dev);
    sc_set_destroy(e->scs);
    evloop_destroy(e->loop);
    vu_vpri_destroy(&e->vp);
    vu_mem_destroy(&e->mem);
    rmdir(e->dir);
    free(e);
    return 0;
}

/* The message is refused and the device stopped with a reason containing
 * want. */
static void expect_failure(struct env *e, int rc, const char *want)
{
    assert_int_not_equal(rc, 0);
    stop_ctl(e);
    struct vhost_dev_info info;
    vhost_dev_get_info(e->vh, &info);
    if (!strstr(info.why, want))
        fail_msg("reason '%s' does not mention '%s'", info.why, want);
    assert_true(info.failures >= 1);
}

static int send_map(struct env *e, uint64_t npages, uint64_t size, uint64_t off, int fd)
{
    struct vpri_map_msg mm = {.npages = npages, .mmap_size = size, .mmap_offset = off};
    return vu_send_ext(e->c, VHOST_USER_VPRI_SET_MAP, &mm, sizeof(mm), &fd, 1);
}

static int send_chan(struct env *e, uint32_t nq, uint32_t entries, const int *fds, unsigned n)
{
    struct vpri_chan_msg cm = {.device_id = 1, .nqueues = nq, .ring_entries = entries,
                               .mmap_size = vpri_chan_bytes(nq ? nq : 1, entries ? entries : 2),
                               .mmap_offset = 0};
    return vu_send_ext(e->c, VHOST_USER_VPRI_SET_CHANNEL, &cm, sizeof(cm), fds, n);
}

static void test_accepted(void **state)
{
    struct env *e = *state;
    connect_and_negotiate(e, true);
    assert_int_equal(vu_vpri_send(&e->vp, e->c), 0);
    /* Sending both again replaces them. */
    assert_int_equal(vu_vpri_send(&e->vp, e->c), 0);
    stop_ctl(e);
    struct vhost_dev_info info;
    vhost_dev_get_info(e->vh, &info);
    assert_int_equal(info.failures, 0);
    assert_true(atomic_load(&e->vp.slots[0].epoch) & VPRI_EPOCH_QUIET);
}

static void test_not_negotiated(void **state)
{
    struct env *e = *state;
    connect_and_negotiate(e, false);
    expect_failure(e, vu_vpri_send(&e->vp, e->c), "VPRI was not negotiated");
}

static void test_map_bad_size(void **state)
{
    struct env *e = *state;
    connect_and_negotiate(e, true);
    uint64_t junk[2] = {1, 2};
    expect_failure(e, vu_send_ext(e->c, VHOST_USER_VPRI_SET_MAP, junk, sizeof(junk),
                                  &e->vp.map_fd, 1),
                   "payload is 16 bytes, expected 24");
}

static void test_map_no_fd(void **state)
{
    struct env *e = *state;
    connect_and_negotiate(e, true);
    struct vpri_map_msg mm = {.npages = 1, .mmap_size = 8192};
    expect_failure(e, vu_send_ext(e->c, VHOST_USER_VPRI_SET_MAP, &mm, sizeof(mm), NULL, 0),
                   "0 file descriptors, expected 1");
}

static void test_map_unsealed(void **state)
{
    struct env *e = *state;
    connect_and_negotiate(e, true);
    int fd = memfd_create("x", MFD_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 1 << 20), 0);
    expect_failure(e, send_map(e, 16, vpri_map_bytes(16), 0, fd), "F_SEAL_SHRINK");
    close(fd);
}

static void test_map_short(void **state)
{
    struct env *e = *state;
    connect_and_negotiate(e, true);
    /* The memfd holds a map of 512 pages; ask for one of eight times as many. */
    uint64_t n = 8 * e->vp.npages;
    expect_failure(e, send_map(e, n, vpri_map_bytes(n), 0, e->vp.map_fd), "beyond the end");
}

static void test_map_geometry(void **state)
{
    struct env *e = *state;
    connect_and_negotiate(e, true);
    expect_failure(e, send_map(e, 0, 8192, 0, e->vp.map_fd), "PA-BITMAP of 0 pages");
}

static void test_map_size_field(void **state)
{
    struct env *e = *state;
    connect_and_negotiate(e, true);
    expect_failure(e, send_map(e, e->vp.npages, 100, 0, e->vp.map_fd), "map of 100 bytes");
}

static void test_map_offset(void **state)
{
    struct env *e = *state;
    connect_and_negotiate(e, true);
    expect_failure(e, send_map(e, 1, vpri_map_bytes(1), 100, e->vp.map_fd), "not page aligned");
}

static void test_chan_fd_count(void **state)
{
    struct env *e = *state;
    connect_and_negotiate(e, true);
    expect_failure(e, send_chan(e, 2, 16, &e->vp.chan_fd, 1), "1 file descriptors, expected 3");
}

static void test_chan_not_eventfd(void **state)
{
    struct env *e = *state;
    connect_and_negotiate(e, true);
    int fds[3] = {e->vp.chan_fd, e->vp.map_fd, e->vp.resolve_fd};
    expect_failure(e, send_chan(e, 2, 16, fds, 3), "must be eventfds");
}

static void test_chan_ring_size(void **state)
{
    struct env *e = *state;
    connect_and_negotiate(e, true);
    int fds[3] = {e->vp.chan_fd, e->vp.fault_fd, e->vp.resolve_fd};
    expect_failure(e, send_chan(e, 2, 12, fds, 3), "not a power of two");
}

static void test_chan_few_slots(void **state)
{
    struct env *e = *state;
    connect_and_negotiate(e, true);
    int fds[3] = {e->vp.chan_fd, e->vp.fault_fd, e->vp.resolve_fd};
    expect_failure(e, send_chan(e, 1, 16, fds, 3), "queue slot count");
}

static void test_chan_short(void **state)
{
    struct env *e = *state;
    connect_and_negotiate(e, true);
    int fds[3] = {e->vp.chan_fd, e->vp.fault_fd, e->vp.resolve_fd};
    expect_failure(e, send_chan(e, 2, 65536, fds, 3), "beyond the end");
}

static void test_unknown_extension_id(void **state)
{
    struct env *e = *state;
    connect_and_negotiate(e, true);
    uint64_t x = 0;
    expect_failure(e, vu_send_ext(e->c, VHOST_USER_VPRI_SET_CHANNEL + 1, &x, sizeof(x), NULL, 0),
                   "unsupported request id 1026");
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_accepted),        T(test_not_negotiated), T(test_map_bad_size),
        T(test_map_no_fd),       T(test_map_unsealed),   T(test_map_short),
        T(test_map_geometry),    T(test_map_size_field), T(test_map_offset),
        T(test_chan_fd_count),   T(test_chan_not_eventfd), T(test_chan_ring_size),
        T(test_chan_few_slots),  T(test_chan_short),     T(test_unknown_extension_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
