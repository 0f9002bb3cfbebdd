/* Dirty-log exactness through the whole stack: the frontend library talks
 * vhost-user to a real vhost_dev serving virtio-blk (file backend) on a real
 * sidecore, the way QEMU does during a migration. Guest memory has three
 * regions: two adjacent ones (GPA 0-1 MiB and 1-2 MiB, so a buffer can span
 * them) and one at GPA 16 MiB whose file offset differs from its GPA (the log
 * is indexed by GPA, not by offset or address).
 *
 * Each phase fills the device-writable pages with a canary, snapshots guest
 * memory, runs reads and writes whose buffers span pages and regions, stops
 * the ring with GET_VRING_BASE (nothing can write after that) and compares at
 * 4 KiB granularity: every page whose bytes changed must be marked, and no
 * page may be marked outside the buffers the device was allowed to write and
 * the used ring. With LOG_ALL off nothing is marked; with LOG_ALL on but
 * VHOST_VRING_F_LOG off the used ring is not; a log replaced while logging
 * (QEMU resizes it when memory changes) takes every mark from then on and the
 * old one none. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
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
#include "common/util.h"
#include "core/sidecore.h"
#include "dev/blk.h"
#include "dev/virtio_blk_spec.h"
#include "frontend/vu_front.h"
#include "frontend/vu_mem.h"
#include "frontend/vu_proto.h"
#include "frontend/vu_vring.h"
#include "vhost/vhost_user.h"

#define PAGE 4096ull
#define MIB (1ull << 20)
#define MEM_BYTES (4 * MIB)
/* Region 2 lives at file offset 2 MiB but guest address 16 MiB. */
#define R2_OFF (2 * MIB)
#define R2_GPA (16 * MIB)
#define GPA_END (R2_GPA + 2 * MIB)
#define LOG_PAGES (GPA_END / PAGE)
#define LOG_BYTES (LOG_PAGES / 8)
#define LOG_FILE 8192u
#define LOG_OFF 1000u /* not page aligned: the spec allows any offset */
#define DISK_BYTES MIB
#define QNUM 256
#define CANARY 0xa5
#define MAX_SEGS 4

struct req {
    uint32_t type;
    uint64_t sector;
    unsigned nseg;
    struct vu_sg seg[MAX_SEGS];
};

/* Buffers chosen to hit the interesting cases; sectors keep them apart. */
static const struct req REQS[] = {
    /* one aligned page */
    {VIRTIO_BLK_T_IN, 0, 1, {{0x20000, 4096}}},
    /* 1 KiB straddling a page boundary */
    {VIRTIO_BLK_T_IN, 8, 1, {{0x21000 + 3584, 1024}}},
    /* 8 KiB across the region 0 / region 1 boundary: two iovecs, three pages */
    {VIRTIO_BLK_T_IN, 16, 1, {{MIB - 2048, 8192}}},
    /* scattered segments in the far region, the last one ending it */
    {VIRTIO_BLK_T_IN, 32, 3,
     {{R2_GPA + 0x3000, 512}, {R2_GPA + 0x5e00, 1024}, {GPA_END - 2560, 2560}}},
    /* 64 KiB, unaligned: seventeen pages */
    {VIRTIO_BLK_T_IN, 64, 1, {{MIB + 0x30000 + 2048, 65536}}},
    /* writes: the device only reads these buffers, they must never be marked */
    {VIRTIO_BLK_T_OUT, 400, 1, {{0x30000, 4096}}},
    {VIRTIO_BLK_T_OUT, 416, 2, {{R2_GPA + 0x10000 - 1024, 4096}, {MIB + 0x80000, 4096}}},
};
#define NREQ (sizeof(REQS) / sizeof(REQS[0]))

enum mode {
    LOG_NOTHING, /* LOG_ALL off */
    LOG_DATA,    /* LOG_ALL on, ring without VHOST_VRING_F_LOG */
    LOG_FULL,    /* LOG_ALL on, ring with VHOST_VRING_F_LOG */
};

struct env {
    char dir[64], sock[128], disk[128];
    struct evloop *loop;
    struct sc_set *scs;
    struct vdev *dev;
    struct vhost_dev *vh;
    pthread_t ctl;
    _Atomic bool stop;

    struct vu_mem mem;
    struct vu_vring vr;
    struct vu_conn *c;
    struct virtio_blk_outhdr *hdr; /* one per request, on a driver-only page */
    uint8_t *status;               /* one byte per request, on its own page */
    uint64_t status_gpa;
    uint8_t *snap;
    unsigned base; /* ring index while stopped */

    int logfd;
    uint8_t *logfile; /* LOG_FILE bytes, the log at log_off */
    unsigned log_off;
};

static uint64_t gpa_to_off(uint64_t gpa)
{
    return gpa >= R2_GPA ? gpa - R2_GPA + R2_OFF : gpa;
}

static uint64_t off_to_gpa(uint64_t off)
{
    return off >= R2_OFF ? off - R2_OFF + R2_GPA : off;
}

static void *ctl_thread(void *arg)
{
    struct env *e = arg;
    while (!atomic_load(&e->stop))
        evloop_run_once(e->loop, 20);
    return NULL;
}

/* Disk bytes never equal the canary, so every byte a read lands changes. */
static void make_disk(const char *path)
{
    uint8_t *buf = malloc(DISK_BYTES);
    assert_non_null(buf);
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < DISK_BYTES; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        buf[i] = (uint8_t)x == CANARY ? (uint8_t)~CANARY : (uint8_t)x;
    }
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, buf, DISK_BYTES), (ssize_t)DISK_BYTES);
    close(fd);
    free(buf);
}

static int new_log(unsigned bytes, uint8_t **map)
{
    int fd = memfd_create("test-dirty-log", MFD_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, bytes), 0);
    *map = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    assert_true(*map != MAP_FAILED);
    return fd;
}

/* SET_VRING_ADDR, allowed while the ring runs (QEMU turns the ring's log
 * flag on and off that way). */
static void ring_addr(struct env *e, bool log_ring)
{
    uint64_t ua = (uint64_t)(uintptr_t)e->mem.base;
    uint64_t d = ua + e->vr.desc_gpa, u = ua + e->vr.used_gpa, a = ua + e->vr.avail_gpa;
    if (log_ring)
        assert_int_equal(vu_set_vring_addr_logged(e->c, 0, d, u, a, e->vr.used_gpa), 0);
    else
        assert_int_equal(vu_set_vring_addr(e->c, 0, d, u, a), 0);
}

/* Restarts a ring stopped by GET_VRING_BASE. */
static void ring_restart(struct env *e, bool log_ring)
{
    assert_int_equal(vu_set_vring_base(e->c, 0, e->base), 0);
    ring_addr(e, log_ring);
    assert_int_equal(vu_set_vring_kick(e->c, 0, e->vr.kick_fd), 0);
}

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    assert_non_null(e);
    const char *why = NULL;
    sc_log_set_level(SC_LOG_ERR);

    snprintf(e->dir, sizeof(e->dir), "/tmp/test_dirtylog_exact.XXXXXX");
    assert_non_null(mkdtemp(e->dir));
    snprintf(e->sock, sizeof(e->sock), "%s/blk.sock", e->dir);
    snprintf(e->disk, sizeof(e->disk), "%s/disk.img", e->dir);
    make_disk(e->disk);

    struct sc_params sp;
    sc_params_default(&sp);
    sp.nr_sidecores = 1;
    e->scs = sc_set_create(&sp);
    assert_non_null(e->scs);
    struct blk_file_params fp = {.path = e->disk};
    struct blk_backend *be = blk_file_create(&fp, &why);
    assert_non_null(be);
    struct blk_dev_params bp = {.name = "dl0", .num_queues = 1};
    e->dev = blk_dev_create(&bp, be, e->scs, &why);
    assert_non_null(e->dev);
    e->loop = evloop_create();
    assert_non_null(e->loop);
    struct vhost_dev_cfg vc = {.socket_path = e->sock, .dev = e->dev};
    assert_int_equal(vhost_dev_create(e->loop, &vc, &e->vh, &why), 0);
    assert_int_equal(pthread_create(&e->ctl, NULL, ctl_thread, e), 0);

    /* Driver-only pages first (desc, avail, indirect tables, headers), then
     * the device-written ones (used ring, status bytes). */
    assert_int_equal(vu_mem_create(&e->mem, MEM_BYTES), 0);
    assert_int_equal(vu_vring_init(&e->vr, &e->mem, QNUM, true, true), 0);
    e->hdr = vu_mem_alloc(&e->mem, PAGE, PAGE);
    e->status = vu_mem_alloc(&e->mem, PAGE, PAGE);
    assert_non_null(e->hdr);
    assert_non_null(e->status);
    e->status_gpa = vu_mem_gpa(&e->mem, e->status, 1);
    assert_true(e->mem.next < 0x20000); /* below every data buffer */
    e->snap = malloc(MEM_BYTES);
    assert_non_null(e->snap);

    struct vu_conn *c;
    assert_int_equal(vu_conn_connect(e->sock, 5000, &c), 0);
    e->c = c;
    uint64_t f, pf;
    assert_int_equal(vu_set_owner(c), 0);
    assert_int_equal(vu_get_features(c, &f), 0);
    assert_true(f & (1ull << VU_F_LOG_ALL));
    assert_int_equal(vu_get_protocol_features(c, &pf), 0);
    assert_true(pf & (1ull << VU_PF_LOG_SHMFD));
    assert_int_equal(vu_set_protocol_features(c, (1ull << VU_PF_REPLY_ACK) |
                                                     (1ull << VU_PF_LOG_SHMFD)),
                     0);
    assert_int_equal(vu_set_features(c, (1ull << VIRTIO_F_VERSION_1) |
                                            (1ull << VHOST_USER_F_PROTOCOL_FEATURES) |
                                            (1ull << VIRTIO_RING_F_INDIRECT_DESC) |
                                            (1ull << VIRTIO_RING_F_EVENT_IDX)),
                     0);
    uint64_t ua = (uint64_t)(uintptr_t)e->mem.base;
    struct vu_mem_region regs[3] = {
        {.gpa = 0, .size = MIB, .uaddr = ua, .mmap_offset = 0, .fd = e->mem.fd},
        {.gpa = MIB, .size = MIB, .uaddr = ua + MIB, .mmap_offset = MIB, .fd = e->mem.fd},
        {.gpa = R2_GPA, .size = 2 * MIB, .uaddr = ua + R2_OFF, .mmap_offset = R2_OFF,
         .fd = e->mem.fd},
    };
    assert_int_equal(vu_set_mem_table(c, regs, 3), 0);
    e->logfd = new_log(LOG_FILE, &e->logfile);
    e->log_off = LOG_OFF;
    assert_int_equal(vu_set_log_base(c, e->logfd, LOG_BYTES, LOG_OFF), 0);

    assert_int_equal(vu_set_vring_num(c, 0, QNUM), 0);
    assert_int_equal(vu_set_vring_call(c, 0, e->vr.call_fd), 0);
    assert_int_equal(vu_set_vring_enable(c, 0, true), 0);
    ring_restart(e, false);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;
    vu_conn_close(e->c);
    atomic_store(&e->stop, true);
    pthread_join(e->ctl, NULL);
    vhost_dev_destroy(e->vh);
    e->dev->ops->destroy(e->dev);
    sc_set_destroy(e->scs);
    evloop_destroy(e->loop);
    vu_vring_destroy(&e->vr);
    vu_mem_destroy(&e->mem);
    munmap(e->logfile, LOG_FILE);
    close(e->logfd);
    free(e->snap);
    unlink(e->disk);
    rmdir(e->dir);
    free(e);
    return 0;
}

static void set_page(uint8_t *bm, uint64_t gpa) { bm[gpa / PAGE / 8] |= (uint8_t)(1u << (gpa / PAGE % 8)); }

static bool has_page(const uint8_t *bm, uint64_t page) { return (bm[page / 8] >> (page % 8)) & 1; }

static void set_range(uint8_t *bm, uint64_t gpa, uint64_t len)
{
    for (uint64_t p = gpa / PAGE; p <= (gpa + len - 1) / PAGE; p++)
        set_page(bm, p * PAGE);
}

/* The device may write these: read buffers, status bytes, and the used ring
 * when the ring is logged. */
static void allowed_pages(struct env *e, bool ring, uint8_t *bm)
{
    for (unsigned i = 0; i < NREQ; i++) {
        if (REQS[i].type == VIRTIO_BLK_T_IN)
            for (unsigned s = 0; s < REQS[i].nseg; s++)
                set_range(bm, REQS[i].seg[s].gpa, REQS[i].seg[s].len);
        set_page(bm, e->status_gpa + i);
    }
    if (ring)
        set_range(bm, e->vr.used_gpa, vring_used_bytes(QNUM) + 2);
}

/* Pages whose bytes differ from the snapshot, except the ones only the
 * driver (this test) writes. */
static void changed_pages(struct env *e, uint8_t *bm)
{
    uint64_t used_page = e->vr.used_gpa / PAGE;
    uint64_t hdr_page = vu_mem_gpa(&e->mem, e->hdr, 1) / PAGE;
    for (uint64_t off = 0; off < MEM_BYTES; off += PAGE) {
        uint64_t gpa = off_to_gpa(off), page = gpa / PAGE;
        if (page <= hdr_page && page != used_page)
            continue;
        if (memcmp(e->mem.base + off, e->snap + off, PAGE) != 0)
            set_page(bm, gpa);
    }
}

static void submit_all(struct env *e)
{
    for (unsigned i = 0; i < NREQ; i++) {
        const struct req *r = &REQS[i];
        struct vu_sg sg[MAX_SEGS + 2];
        e->hdr[i] = (struct virtio_blk_outhdr){.type = r->type, .sector = r->sector};
        sg[0] = (struct vu_sg){vu_mem_gpa(&e->mem, &e->hdr[i], sizeof(e->hdr[i])), 16};
        for (unsigned s = 0; s < r->nseg; s++)
            sg[1 + s] = r->seg[s];
        sg[1 + r->nseg] = (struct vu_sg){e->status_gpa + i, 1};
        unsigned n_out = r->type == VIRTIO_BLK_T_IN ? 1 : 1 + r->nseg;
        assert_true(vu_vring_add(&e->vr, sg, n_out, r->nseg + 2 - n_out, (void *)r) >= 0);
    }
    assert_true(vu_vring_kick(&e->vr) >= 0);
}

static void reap_all(struct env *e)
{
    uint64_t deadline = sc_now_ns() + 10000000000ull;
    unsigned done = 0;
    while (done < NREQ) {
        void *tok;
        uint32_t len;
        int r = vu_vring_get_used(&e->vr, &tok, &len);
        assert_true(r >= 0);
        if (r == 0) {
            assert_true(sc_now_ns() < deadline);
            usleep(200);
            continue;
        }
        const struct req *q = tok;
        unsigned i = (unsigned)(q - REQS);
        uint32_t want = 1;
        if (q->type == VIRTIO_BLK_T_IN)
            for (unsigned s = 0; s < q->nseg; s++)
                want += q->seg[s].len;
        assert_int_equal(e->status[i], VIRTIO_BLK_S_OK);
        assert_int_equal(len, want);
        done++;
    }
}

/* One round of I/O under the log as it is now configured; returns with the
 * ring stopped and the pages checked against the mode. */
static void io_phase(struct env *e, enum mode m)
{
    /* Canary on every device-writable page, outside the rings. */
    uint8_t fill[LOG_BYTES] = {0};
    allowed_pages(e, false, fill);
    for (uint64_t p = 0; p < LOG_PAGES; p++)
        if (has_page(fill, p))
            memset(e->mem.base + gpa_to_off(p * PAGE), CANARY, PAGE);
    for (unsigned i = 0; i < NREQ; i++) {
        e->status[i] = 0xff;
        for (unsigned s = 0; REQS[i].type == VIRTIO_BLK_T_OUT && s < REQS[i].nseg; s++)
            memset(e->mem.base + gpa_to_off(REQS[i].seg[s].gpa), 0x40 + (int)i,
                   REQS[i].seg[s].len);
    }
    memcpy(e->snap, e->mem.base, MEM_BYTES);
    memset(e->logfile, 0, LOG_FILE);

    submit_all(e);
    reap_all(e);
    /* Stopped: nothing writes guest memory or the log after this reply. */
    assert_int_equal(vu_get_vring_base(e->c, 0, &e->base), 0);

    uint8_t changed[LOG_BYTES] = {0}, allowed[LOG_BYTES] = {0};
    changed_pages(e, changed);
    allowed_pages(e, m == LOG_FULL, allowed);
    const uint8_t *marked = e->logfile + e->log_off;
    for (uint64_t p = 0; p < LOG_PAGES; p++) {
        bool ch = has_page(changed, p), mk = has_page(marked, p), al = has_page(allowed, p);
        bool ring = p == e->vr.used_gpa / PAGE;
        /* Every read completed in full: what it may write was written. */
        if (al && !ch)
            fail_msg("page 0x%llx should have been written by a read", (unsigned long long)p);
        if (m == LOG_NOTHING) {
            if (mk)
                fail_msg("page 0x%llx marked with LOG_ALL off", (unsigned long long)p);
            continue;
        }
        if (ch && !mk && !(ring && m == LOG_DATA))
            fail_msg("page 0x%llx (gpa 0x%llx) written by the device but not marked",
                     (unsigned long long)p, (unsigned long long)(p * PAGE));
        if (mk && !al)
            fail_msg("page 0x%llx (gpa 0x%llx) marked but the device may not write it",
                     (unsigned long long)p, (unsigned long long)(p * PAGE));
    }
    /* Nothing outside the log's bytes in the log's file. */
    for (unsigned i = 0; i < LOG_FILE; i++)
        if (i < e->log_off || i >= e->log_off + LOG_BYTES)
            assert_int_equal(e->logfile[i], 0);
}

static void set_log_all(struct env *e, bool on)
{
    uint64_t f = (1ull << VIRTIO_F_VERSION_1) | (1ull << VHOST_USER_F_PROTOCOL_FEATURES) |
                 (1ull << VIRTIO_RING_F_INDIRECT_DESC) | (1ull << VIRTIO_RING_F_EVENT_IDX);
    assert_int_equal(vu_set_features(e->c, f | (on ? 1ull << VU_F_LOG_ALL : 0)), 0);
}

/* A log is set (as QEMU does before it turns LOG_ALL on) but logging is off. */
static void test_off_marks_nothing(void **state)
{
    struct env *e = *state;
    io_phase(e, LOG_NOTHING);
}

/* QEMU's order at migration start: log base, LOG_ALL, then each running
 * ring's address again with VHOST_VRING_F_LOG. Then the same on a ring
 * restarted with the flag already set. */
static void test_on_marks_exactly(void **state)
{
    struct env *e = *state;
    set_log_all(e, true);
    ring_addr(e, true);
    io_phase(e, LOG_FULL);
    ring_restart(e, true);
    io_phase(e, LOG_FULL);
}

static void test_ring_flag_off(void **state)
{
    struct env *e = *state;
    set_log_all(e, true);
    io_phase(e, LOG_DATA);
}

/* Migration cancelled, or the source resumed: LOG_ALL goes off and the log
 * (which QEMU frees) must not be written any more, whatever the ring flag. */
static void test_off_again(void **state)
{
    struct env *e = *state;
    set_log_all(e, true);
    ring_addr(e, true);
    io_phase(e, LOG_FULL);
    set_log_all(e, false);
    ring_restart(e, false);
    io_phase(e, LOG_NOTHING);
    ring_restart(e, true);
    io_phase(e, LOG_NOTHING);
}

/* QEMU replaces the log when guest memory grows during migration: every mark
 * goes to the new one, none to the old one. */
static void test_log_replaced(void **state)
{
    struct env *e = *state;
    set_log_all(e, true);
    ring_addr(e, true);
    uint8_t *old = e->logfile;
    int oldfd = e->logfd;
    e->logfd = new_log(LOG_FILE, &e->logfile);
    e->log_off = 0;
    assert_int_equal(vu_set_log_base(e->c, e->logfd, LOG_BYTES + 64, 0), 0);
    memset(old, 0, LOG_FILE);
    io_phase(e, LOG_FULL);
    for (unsigned i = 0; i < LOG_FILE; i++)
        assert_int_equal(old[i], 0);
    munmap(old, LOG_FILE);
    close(oldfd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_off_marks_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_on_marks_exactly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ring_flag_off, setup, teardown),
        cmocka_unit_test_setup_teardown(test_off_again, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_replaced, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
