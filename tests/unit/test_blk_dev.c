/* virtio-blk end to end without sockets: guest memory is a memfd mapped
 * twice (the test's "driver" view and the guest-memory table), the test lays
 * out a split ring and acts as the driver, a real sidecore serves the queue
 * with the file backend. Checks used elements, status bytes and the file;
 * request-level errors (IOERR, UNSUPP, read-only) and a device-level error
 * (no status byte) that stops one device and leaves another one working;
 * a VPRI-parked request given up at once when its frontend is gone. */
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
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "backend/blk_backend.h"
#include "core/sidecore.h"
#include "dev/blk.h"
#include "dev/virtio_blk_spec.h"
#include "mem/guestmem.h"
#include "virtq/vdev.h"
#include "virtq/virtq.h"
#include "vpri/vpri_dev.h"
#include "vpri/vpri_queue.h"
#include "blk_mem.h"
#include "vpri_plain.h"

#define MEM_SIZE (8u << 20)
#define QNUM 256
#define DISK_SIZE (1u << 20)
#define DESC_GPA 0x1000ull
#define AVAIL_GPA 0x3000ull
#define USED_GPA 0x4000ull
#define DATA_GPA 0x10000ull

struct drv {
    uint8_t *mem; /* the driver's view of guest memory */
    struct vring_desc *desc;
    struct vring_avail *avail;
    struct vring_used *used;
    uint16_t next_desc, avail_idx, used_seen;
    uint64_t next_data;
    int kick_fd, call_fd;
    struct virtq vq;
};

struct env {
    int memfd;
    uint8_t *mem;
    struct guestmem gm;
    struct sc_set *scs;
    char dir[64];
    char path[2][128];
    struct vdev *dev[2];
    struct drv drv[2];
    _Atomic int failures;
};

static void on_fail(struct vdev *d, uint16_t qidx, void *opaque)
{
    (void)d;
    (void)qidx;
    atomic_fetch_add(&((struct env *)opaque)->failures, 1);
}

static struct vdev *make_dev(struct env *e, int i, const char *name, bool ro)
{
    const char *why = NULL;
    struct blk_file_params fp = {.path = e->path[i], .size = DISK_SIZE};
    if (ro) {
        /* Create it writable first, then reopen read-only. */
        struct blk_backend *tmp = blk_file_create(&fp, &why);
        assert_non_null(tmp);
        tmp->ops->destroy(tmp);
        fp.size = 0;
        fp.read_only = true;
    }
    struct blk_backend *be = blk_file_create(&fp, &why);
    assert_non_null(be);
    struct blk_dev_params p = {.name = name, .num_queues = 2, .serial = "serial-0123"};
    struct vdev *d = blk_dev_create(&p, be, e->scs, &why);
    assert_non_null(d);
    d->on_fail = on_fail;
    d->on_fail_opaque = e;
    return d;
}

/* Driver i's ring lives in its own 1 MiB slice of guest memory. */
static void start_queue(struct env *e, int i)
{
    struct drv *v = &e->drv[i];
    uint64_t base = (uint64_t)i << 20;
    memset(v, 0, sizeof(*v));
    v->mem = e->mem;
    v->desc = (struct vring_desc *)(e->mem + base + DESC_GPA);
    v->avail = (struct vring_avail *)(e->mem + base + AVAIL_GPA);
    v->used = (struct vring_used *)(e->mem + base + USED_GPA);
    v->next_data = base + DATA_GPA;
    v->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    v->call_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

    const struct gm_table *t = gm_current(&e->gm);
    void *hd = gm_gpa_to_host(t, base + DESC_GPA, vring_desc_bytes(QNUM));
    void *ha = gm_gpa_to_host(t, base + AVAIL_GPA, vring_avail_bytes(QNUM));
    void *hu = gm_gpa_to_host(t, base + USED_GPA, vring_used_bytes(QNUM));
    assert_non_null(hd);
    uint64_t feat = e->dev[i]->ops->features(e->dev[i]);
    feat &= ~(1ull << VIRTIO_RING_F_EVENT_IDX); /* an interrupt per publish */
    feat &= ~((1ull << VIRTIO_F_RING_PACKED) | (1ull << VIRTIO_F_IN_ORDER)); /* split rings here */
    assert_int_equal(e->dev[i]->ops->set_features(e->dev[i], feat), 0);
    vq_init(&v->vq, QNUM, hd, ha, hu, 0, feat, &e->gm);
    assert_int_equal(e->dev[i]->ops->queue_start(e->dev[i], 0, &v->vq, v->kick_fd, v->call_fd),
                     0);
}

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    const char *why = NULL;
    e->memfd = memfd_create("guest", MFD_CLOEXEC);
    assert_true(e->memfd >= 0);
    assert_int_equal(ftruncate(e->memfd, MEM_SIZE), 0);
    e->mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, e->memfd, 0);
    assert_true(e->mem != MAP_FAILED);
    gm_init(&e->gm);
    struct gm_table *t = gm_table_new_empty();
    assert_non_null(t);
    assert_int_equal(gm_table_add(t, 0, MEM_SIZE, (uint64_t)(uintptr_t)e->mem, 0,
                                  dup(e->memfd), &why),
                     0);
    gm_table_free(gm_publish(&e->gm, t), true);

    struct sc_params sp;
    sc_params_default(&sp);
    sp.nr_sidecores = 1;
    e->scs = sc_set_create(&sp);
    assert_non_null(e->scs);

    snprintf(e->dir, sizeof(e->dir), "/tmp/sc-blkdev-XXXXXX");
    assert_non_null(mkdtemp(e->dir));
    for (int i = 0; i < 2; i++)
        snprintf(e->path[i], sizeof(e->path[i]), "%s/d%d.img", e->dir, i);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;
    for (int i = 0; i < 2; i++) {
        if (!e->dev[i])
            continue;
        e->dev[i]->ops->queue_stop(e->dev[i], 0);
        e->dev[i]->ops->destroy(e->dev[i]);
        close(e->drv[i].kick_fd);
        close(e->drv[i].call_fd);
        unlink(e->path[i]);
    }
    rmdir(e->dir);
    sc_set_destroy(e->scs);
    gm_destroy(&e->gm);
    munmap(e->mem, MEM_SIZE);
    close(e->memfd);
    free(e);
    return 0;
}

struct seg {
    uint64_t gpa;
    uint32_t len;
    bool write;
};

/* Allocate len bytes of guest memory for buffers (16-byte aligned). */
static uint64_t galloc(struct drv *v, uint32_t len)
{
    uint64_t g = v->next_data;
    v->next_data += (len + 15) & ~15u;
    return g;
}

static uint16_t add_chain(struct drv *v, const struct seg *s, int n)
{
    uint16_t head = v->next_desc % QNUM;
    for (int i = 0; i < n; i++) {
        uint16_t d = (uint16_t)((v->next_desc + i) % QNUM);
        v->desc[d].addr = s[i].gpa;
        v->desc[d].len = s[i].len;
        v->desc[d].flags = (uint16_t)((s[i].write ? VRING_DESC_F_WRITE : 0) |
                                      (i + 1 < n ? VRING_DESC_F_NEXT : 0));
        v->desc[d].next = (uint16_t)((d + 1) % QNUM);
    }
    v->next_desc = (uint16_t)(v->next_desc + n);
    v->avail->ring[v->avail_idx % QNUM] = head;
    v->avail_idx++;
    atomic_store_explicit((_Atomic uint16_t *)&v->avail->idx, v->avail_idx,
                          memory_order_release);
    return head;
}

static void kick(struct drv *v)
{
    uint64_t one = 1;
    assert_int_equal(write(v->kick_fd, &one, sizeof(one)), sizeof(one));
}

/* Wait (bounded) for n more used elements. */
static bool wait_used(struct drv *v, uint16_t n)
{
    uint16_t want = (uint16_t)(v->used_seen + n);
    for (int i = 0; i < 5000; i++) {
        uint16_t idx =
            atomic_load_explicit((_Atomic uint16_t *)&v->used->idx, memory_order_acquire);
        if (idx == want) {
            v->used_seen = want;
            return true;
        }
        usleep(1000);
    }
    return false;
}

static struct vring_used_elem *used_elem(struct drv *v, uint16_t back)
{
    return &v->used->ring[(uint16_t)(v->used_seen - back) % QNUM];
}

struct rq {
    uint64_t hdr, data, st;
    uint32_t dlen;
};

/* header | data | status in three descriptors, written but not yet on the
 * ring (see offer3). */
static struct rq prepare3(struct drv *v, uint32_t type, uint64_t sector, uint32_t dlen)
{
    struct rq r;
    r.hdr = galloc(v, 16);
    r.data = dlen ? galloc(v, dlen) : 0;
    r.st = galloc(v, 1);
    r.dlen = dlen;
    struct virtio_blk_outhdr h = {.type = type, .sector = sector};
    memcpy(v->mem + r.hdr, &h, sizeof(h));
    v->mem[r.st] = 0xff;
    return r;
}

static void offer3(struct drv *v, const struct rq *r, bool dwrite)
{
    struct seg s[3] = {{r->hdr, 16, false}, {r->data, r->dlen, dwrite}, {r->st, 1, true}};
    if (r->dlen)
        add_chain(v, s, 3);
    else {
        s[1] = s[2];
        add_chain(v, s, 2);
    }
}

static struct rq submit3(struct drv *v, uint32_t type, uint64_t sector, uint32_t dlen,
                         bool dwrite)
{
    struct rq r = prepare3(v, type, sector, dlen);
    offer3(v, &r, dwrite);
    return r;
}

static uint8_t run3(struct drv *v, uint32_t type, uint64_t sector, uint32_t dlen, bool dwrite,
                    struct rq *out)
{
    struct rq r = submit3(v, type, sector, dlen, dwrite);
    kick(v);
    assert_true(wait_used(v, 1));
    if (out)
        *out = r;
    return v->mem[r.st];
}

static void read_file(const char *path, uint64_t off, void *buf, size_t len)
{
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, buf, len, (off_t)off), (ssize_t)len);
    close(fd);
}

static void test_config_and_features(void **state)
{
    struct env *e = *state;
    e->dev[0] = make_dev(e, 0, "blk0", false);
    struct vdev *d = e->dev[0];
    struct virtio_blk_config c;
    assert_int_equal(d->ops->config_size(d), sizeof(c));
    d->ops->get_config(d, (uint8_t *)&c, 0, sizeof(c));
    assert_int_equal(c.capacity, DISK_SIZE / 512);
    assert_int_equal(c.seg_max, BLK_SEG_MAX);
    assert_int_equal(c.num_queues, 2);
    assert_int_equal(c.blk_size, 512);
    assert_int_equal(c.max_discard_seg, 1);
    assert_int_equal(c.max_write_zeroes_seg, 1);
    assert_int_equal(d->ops->max_queues(d), 2);
    uint64_t f = d->ops->features(d);
    assert_true(f & (1ull << VIRTIO_F_VERSION_1));
    assert_true(f & (1ull << VIRTIO_BLK_F_MQ));
    assert_true(f & (1ull << VIRTIO_BLK_F_DISCARD));
    assert_true(f & (1ull << VIRTIO_BLK_F_FLUSH));
    assert_false(f & (1ull << VIRTIO_BLK_F_RO));
    assert_false(f & (1ull << VIRTIO_BLK_F_SIZE_MAX));
    /* A backend with a request limit: segments small enough that seg_max
     * of them stay within it (a remote device got requests past 4 MiB). */
    struct mem_be *m = mem_be_create(1 << 20);
    m->max_io = 4u << 20;
    const char *why = NULL;
    struct blk_dev_params mp = {.name = "lim", .num_queues = 1};
    struct vdev *lim = blk_dev_create(&mp, &m->base, e->scs, &why);
    assert_non_null(lim);
    assert_true(lim->ops->features(lim) & (1ull << VIRTIO_BLK_F_SIZE_MAX));
    struct virtio_blk_config lc;
    lim->ops->get_config(lim, (uint8_t *)&lc, 0, sizeof(lc));
    assert_int_equal(lc.size_max, 32768);
    assert_true((uint64_t)lc.size_max * lc.seg_max <= m->max_io);
    lim->ops->destroy(lim);
    uint8_t b = 0;
    assert_true(d->ops->set_config(d, &b, 32, 1) < 0);
    /* Queue 2 does not exist (num_queues = 2). */
    struct virtq vq = {.num = 8};
    assert_int_equal(d->ops->queue_start(d, 2, &vq, -1, -1), -EINVAL);
}

static void test_read_write_flush_getid(void **state)
{
    struct env *e = *state;
    e->dev[0] = make_dev(e, 0, "blk0", false);
    start_queue(e, 0);
    struct drv *v = &e->drv[0];
    struct rq r;

    /* Write 4 KiB at sector 8. */
    r = submit3(v, VIRTIO_BLK_T_OUT, 8, 4096, false);
    for (int i = 0; i < 4096; i++)
        v->mem[r.data + i] = (uint8_t)(i * 13 + 1);
    kick(v);
    assert_true(wait_used(v, 1));
    assert_int_equal(v->mem[r.st], VIRTIO_BLK_S_OK);
    assert_int_equal(used_elem(v, 1)->len, 1);
    uint8_t fbuf[4096];
    read_file(e->path[0], 8 * 512, fbuf, sizeof(fbuf));
    assert_memory_equal(fbuf, v->mem + r.data, 4096);

    /* Read it back: header split 8+8, data split 1000+3096 with the status
     * byte at the end of the second data descriptor. */
    uint64_t h = galloc(v, 16), d = galloc(v, 4097);
    struct virtio_blk_outhdr hdr = {.type = VIRTIO_BLK_T_IN, .sector = 8};
    memcpy(v->mem + h, &hdr, 16);
    memset(v->mem + d, 0, 4097);
    v->mem[d + 4096] = 0xff;
    struct seg s[4] = {{h, 8, false}, {h + 8, 8, false}, {d, 1000, true}, {d + 1000, 3097, true}};
    add_chain(v, s, 4);
    kick(v);
    assert_true(wait_used(v, 1));
    assert_int_equal(v->mem[d + 4096], VIRTIO_BLK_S_OK);
    assert_memory_equal(v->mem + d, fbuf, 4096);
    assert_int_equal(used_elem(v, 1)->len, 4097);

    assert_int_equal(run3(v, VIRTIO_BLK_T_FLUSH, 0, 0, false, NULL), VIRTIO_BLK_S_OK);
    assert_int_equal(run3(v, VIRTIO_BLK_T_GET_ID, 0, 20, true, &r), VIRTIO_BLK_S_OK);
    assert_memory_equal(v->mem + r.data, "serial-0123\0\0\0\0\0\0\0\0", 20);

    /* The guest was told about completions. */
    uint64_t cnt = 0;
    assert_int_equal(read(v->call_fd, &cnt, sizeof(cnt)), sizeof(cnt));
    assert_true(cnt >= 1);
    struct sc_queue_stats qs[2];
    assert_int_equal(blk_dev_queue_stats(e->dev[0], qs, 2), 2);
    assert_int_equal(qs[0].requests, 4);
    assert_true(qs[0].notifies >= 1);
    assert_true(qs[0].bytes >= 8192);
}

static void test_discard_write_zeroes(void **state)
{
    struct env *e = *state;
    e->dev[0] = make_dev(e, 0, "blk0", false);
    start_queue(e, 0);
    struct drv *v = &e->drv[0];
    struct rq r;
    r = submit3(v, VIRTIO_BLK_T_OUT, 0, 8192, false);
    memset(v->mem + r.data, 0x5a, 8192);
    kick(v);
    assert_true(wait_used(v, 1));
    assert_int_equal(v->mem[r.st], VIRTIO_BLK_S_OK);

    struct virtio_blk_discard_write_zeroes seg = {.sector = 0, .num_sectors = 8};
    r = submit3(v, VIRTIO_BLK_T_DISCARD, 0, 16, false);
    memcpy(v->mem + r.data, &seg, sizeof(seg));
    kick(v);
    assert_true(wait_used(v, 1));
    assert_int_equal(v->mem[r.st], VIRTIO_BLK_S_OK);

    seg = (struct virtio_blk_discard_write_zeroes){.sector = 8, .num_sectors = 8,
                                                   .flags = VIRTIO_BLK_WZ_F_UNMAP};
    r = submit3(v, VIRTIO_BLK_T_WRITE_ZEROES, 0, 16, false);
    memcpy(v->mem + r.data, &seg, sizeof(seg));
    kick(v);
    assert_true(wait_used(v, 1));
    assert_int_equal(v->mem[r.st], VIRTIO_BLK_S_OK);
    uint8_t fbuf[8192], zero[8192] = {0};
    read_file(e->path[0], 0, fbuf, sizeof(fbuf));
    assert_memory_equal(fbuf, zero, sizeof(fbuf));

    /* unmap on a discard, unknown flags: UNSUPP; two segments, range: IOERR. */
    seg = (struct virtio_blk_discard_write_zeroes){.sector = 0, .num_sectors = 8,
                                                   .flags = VIRTIO_BLK_WZ_F_UNMAP};
    r = submit3(v, VIRTIO_BLK_T_DISCARD, 0, 16, false);
    memcpy(v->mem + r.data, &seg, sizeof(seg));
    kick(v);
    assert_true(wait_used(v, 1));
    assert_int_equal(v->mem[r.st], VIRTIO_BLK_S_UNSUPP);
    seg.flags = 4;
    r = submit3(v, VIRTIO_BLK_T_WRITE_ZEROES, 0, 16, false);
    memcpy(v->mem + r.data, &seg, sizeof(seg));
    kick(v);
    assert_true(wait_used(v, 1));
    assert_int_equal(v->mem[r.st], VIRTIO_BLK_S_UNSUPP);
    r = submit3(v, VIRTIO_BLK_T_DISCARD, 0, 32, false);
    memset(v->mem + r.data, 0, 32);
    kick(v);
    assert_true(wait_used(v, 1));
    assert_int_equal(v->mem[r.st], VIRTIO_BLK_S_IOERR);
    seg = (struct virtio_blk_discard_write_zeroes){.sector = DISK_SIZE / 512 - 4,
                                                   .num_sectors = 8};
    r = submit3(v, VIRTIO_BLK_T_DISCARD, 0, 16, false);
    memcpy(v->mem + r.data, &seg, sizeof(seg));
    kick(v);
    assert_true(wait_used(v, 1));
    assert_int_equal(v->mem[r.st], VIRTIO_BLK_S_IOERR);
}

static void test_request_errors(void **state)
{
    struct env *e = *state;
    e->dev[0] = make_dev(e, 0, "blk0", false);
    start_queue(e, 0);
    struct drv *v = &e->drv[0];
    uint64_t cap = DISK_SIZE / 512;

    assert_int_equal(run3(v, VIRTIO_BLK_T_IN, cap, 512, true, NULL), VIRTIO_BLK_S_IOERR);
    assert_int_equal(run3(v, VIRTIO_BLK_T_IN, cap - 1, 1024, true, NULL), VIRTIO_BLK_S_IOERR);
    assert_int_equal(run3(v, VIRTIO_BLK_T_OUT, UINT64_MAX, 512, false, NULL),
                     VIRTIO_BLK_S_IOERR);
    assert_int_equal(run3(v, VIRTIO_BLK_T_OUT, 0, 100, false, NULL), VIRTIO_BLK_S_IOERR);
    assert_int_equal(run3(v, VIRTIO_BLK_T_IN, 0, 0, false, NULL), VIRTIO_BLK_S_IOERR);
    /* IN whose data is device-readable: no writable data. */
    assert_int_equal(run3(v, VIRTIO_BLK_T_IN, 0, 512, false, NULL), VIRTIO_BLK_S_IOERR);
    assert_int_equal(run3(v, 99, 0, 512, true, NULL), VIRTIO_BLK_S_UNSUPP);
    assert_int_equal(run3(v, VIRTIO_BLK_T_IN, cap - 1, 512, true, NULL), VIRTIO_BLK_S_OK);
    assert_false(vdev_is_broken(e->dev[0]));
    struct blk_dev_errors errs;
    blk_dev_errors(e->dev[0], &errs);
    assert_int_equal(errs.ioerr, 6);
    assert_int_equal(errs.unsupp, 1);
}

static void test_read_only_device(void **state)
{
    struct env *e = *state;
    e->dev[0] = make_dev(e, 0, "ro0", true);
    struct vdev *d = e->dev[0];
    uint64_t f = d->ops->features(d);
    assert_true(f & (1ull << VIRTIO_BLK_F_RO));
    assert_false(f & (1ull << VIRTIO_BLK_F_DISCARD));
    start_queue(e, 0);
    struct drv *v = &e->drv[0];
    struct rq r;
    r = submit3(v, VIRTIO_BLK_T_DISCARD, 0, 16, false);
    struct virtio_blk_discard_write_zeroes seg = {.sector = 0, .num_sectors = 1};
    memcpy(v->mem + r.data, &seg, sizeof(seg));
    kick(v);
    assert_true(wait_used(v, 1));
    assert_int_equal(v->mem[r.st], VIRTIO_BLK_S_IOERR);
    assert_int_equal(run3(v, VIRTIO_BLK_T_OUT, 0, 512, false, NULL), VIRTIO_BLK_S_IOERR);
    assert_int_equal(run3(v, VIRTIO_BLK_T_IN, 0, 512, true, NULL), VIRTIO_BLK_S_OK);
    assert_int_equal(run3(v, VIRTIO_BLK_T_FLUSH, 0, 0, false, NULL), VIRTIO_BLK_S_OK);
}

static void test_many_in_flight(void **state)
{
    struct env *e = *state;
    e->dev[0] = make_dev(e, 0, "blk0", false);
    start_queue(e, 0);
    struct drv *v = &e->drv[0];
    struct rq r[64];
    for (int i = 0; i < 64; i++) {
        r[i] = submit3(v, VIRTIO_BLK_T_OUT, (uint64_t)i * 8, 4096, false);
        memset(v->mem + r[i].data, i + 1, 4096);
    }
    kick(v);
    assert_true(wait_used(v, 64));
    for (int i = 0; i < 64; i++) {
        assert_int_equal(v->mem[r[i].st], VIRTIO_BLK_S_OK);
        uint8_t fbuf[4096];
        read_file(e->path[0], (uint64_t)i * 4096, fbuf, sizeof(fbuf));
        assert_memory_equal(fbuf, v->mem + r[i].data, 4096);
    }
    e->dev[0]->ops->queue_stop(e->dev[0], 0);
    assert_int_equal(v->vq.last_avail, 64);
    /* Restart on the same ring: the device continues where it stopped. */
    assert_int_equal(e->dev[0]->ops->queue_start(e->dev[0], 0, &v->vq, v->kick_fd, v->call_fd),
                     0);
    assert_int_equal(run3(v, VIRTIO_BLK_T_IN, 0, 4096, true, NULL), VIRTIO_BLK_S_OK);
}

static void test_device_failure_isolated(void **state)
{
    struct env *e = *state;
    e->dev[0] = make_dev(e, 0, "bad0", false);
    e->dev[1] = make_dev(e, 1, "good1", false);
    start_queue(e, 0);
    start_queue(e, 1);
    struct drv *v = &e->drv[0];

    /* A request with no device-writable byte: nowhere to put a status. */
    uint64_t h = galloc(v, 16);
    struct virtio_blk_outhdr hdr = {.type = VIRTIO_BLK_T_IN};
    memcpy(v->mem + h, &hdr, 16);
    struct seg s[1] = {{h, 16, false}};
    add_chain(v, s, 1);
    kick(v);
    for (int i = 0; i < 5000 && !vdev_is_broken(e->dev[0]); i++)
        usleep(1000);
    assert_true(vdev_is_broken(e->dev[0]));
    assert_int_equal(atomic_load(&e->failures), 1);

    /* The other device on the same sidecore still works. */
    assert_int_equal(run3(&e->drv[1], VIRTIO_BLK_T_OUT, 0, 512, false, NULL), VIRTIO_BLK_S_OK);
    assert_int_equal(run3(&e->drv[1], VIRTIO_BLK_T_IN, 0, 512, true, NULL), VIRTIO_BLK_S_OK);
    /* The broken one serves nothing more. */
    submit3(v, VIRTIO_BLK_T_FLUSH, 0, 0, false);
    kick(v);
    usleep(20000);
    assert_int_equal(v->used->idx, 0);
}

static void test_short_header_fails_device(void **state)
{
    struct env *e = *state;
    e->dev[0] = make_dev(e, 0, "bad0", false);
    start_queue(e, 0);
    struct drv *v = &e->drv[0];
    uint64_t h = galloc(v, 16), st = galloc(v, 1);
    struct seg s[2] = {{h, 12, false}, {st, 1, true}};
    add_chain(v, s, 2);
    kick(v);
    for (int i = 0; i < 5000 && !vdev_is_broken(e->dev[0]); i++)
        usleep(1000);
    assert_true(vdev_is_broken(e->dev[0]));
}

/* The null backend has no event fd: the sidecore must keep polling while
 * its requests wait for the next reap, and reads leave the buffers alone. */
static void test_null_backend_device(void **state)
{
    struct env *e = *state;
    const char *why = NULL;
    struct blk_backend *be = blk_null_create(DISK_SIZE, 512, &why);
    assert_non_null(be);
    struct blk_dev_params p = {.name = "null0", .num_queues = 1};
    e->dev[0] = blk_dev_create(&p, be, e->scs, &why);
    assert_non_null(e->dev[0]);
    start_queue(e, 0);
    struct drv *v = &e->drv[0];
    struct rq r[8];
    for (int i = 0; i < 8; i++) {
        r[i] = submit3(v, VIRTIO_BLK_T_IN, (uint64_t)i, 512, true);
        memset(v->mem + r[i].data, 0x77, 512);
    }
    kick(v);
    assert_true(wait_used(v, 8));
    for (int i = 0; i < 8; i++) {
        assert_int_equal(v->mem[r[i].st], VIRTIO_BLK_S_OK);
        assert_int_equal(v->mem[r[i].data + 100], 0x77);
    }
    assert_int_equal(run3(v, VIRTIO_BLK_T_GET_ID, 0, 20, true, &r[0]), VIRTIO_BLK_S_OK);
    assert_memory_equal(v->mem + r[0].data, "null0\0", 6);
}

/* VPRI: map and channel in plain memory (vpri_plain.h). */
#define VP_PAGES (MEM_SIZE / 4096)
#define VP_QUEUES 2u
#define VP_ENTRIES 8u

struct vp {
    struct vpri_plain v;
    uint64_t first, n; /* pages the late resolution makes resident */
};

static void vp_set(struct vp *p, uint64_t first, uint64_t n, unsigned pa)
{
    for (uint64_t k = first; k < first + n; k++)
        vpri_pa_set(p->v.map.bits, k, pa);
}

static void *resolve_later(void *arg)
{
    struct vp *p = arg;
    struct timespec ts = {0, 100 * 1000000L};
    nanosleep(&ts, NULL);
    vp_set(p, p->first, p->n, VPRI_PA_RW);
    atomic_fetch_add(&p->v.chan.ctrl->resolve_gen, 1);
    atomic_store(&p->v.chan.ctrl->cons, 1);
    return NULL;
}

/* Device 0 on p's map and channel with queue 0 started, and one 4 KiB write
 * parked there: its pages are made not resident, its fault record posted. */
static struct rq park_one_write(struct env *e, struct vp *p, struct drv **out)
{
    e->dev[0] = make_dev(e, 0, "vp", false);
    atomic_store(&e->gm.vpri, &p->v.dev);
    start_queue(e, 0);
    struct drv *v = &e->drv[0];
    v->next_data = (v->next_data + 4095) & ~4095ull;
    /* Absent before the request is on the ring: the sidecore polls the
     * queue it just started, and could read a page made absent later. */
    struct rq r = prepare3(v, VIRTIO_BLK_T_OUT, 0, 4096);
    p->first = r.hdr >> 12;
    p->n = (r.st >> 12) - p->first + 1;
    vp_set(p, p->first, p->n, VPRI_PA_NONE);
    offer3(v, &r, false);
    kick(v);
    for (int i = 0; i < 5000 && atomic_load(&p->v.chan.ring[0].seq) != 1; i++)
        usleep(1000);
    assert_int_equal(atomic_load(&p->v.chan.ring[0].seq), 1);
    *out = v;
    return r;
}

/* With the frontend gone nobody resolves a fault: stopping a queue gives
 * its parked request up at once (dropped: its pages are not resident, so
 * not even the status byte can be written). A stop that waited, as it did
 * for 5 s, saw the resolution this thread makes 100 ms later and ran it. */
static void test_vpri_stop_owner_gone(void **state)
{
    struct env *e = *state;
    struct vp p;
    vpri_plain_init(&p.v, VP_PAGES, VP_QUEUES, VP_ENTRIES, 0);
    struct drv *v;
    struct rq r = park_one_write(e, &p, &v);
    atomic_store(&p.v.dev.owner_gone, true);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, resolve_later, &p), 0);
    e->dev[0]->ops->queue_stop(e->dev[0], 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(atomic_load((_Atomic uint16_t *)&v->used->idx), 0);
    assert_int_equal(v->mem[r.st], 0xff);
    atomic_store(&e->gm.vpri, NULL);
    vpri_plain_free(&p.v);
}

/* A live owner that never resolves: the stop waits out its whole bound,
 * once. That counts against the device, so its later stops wait only
 * VPRI_STOP_SHORT_NS: the control thread that waits serves every device,
 * and a frontend could otherwise hold it that long again and again. */
static void test_vpri_stop_strike(void **state)
{
    struct env *e = *state;
    struct vp p;
    vpri_plain_init(&p.v, VP_PAGES, VP_QUEUES, VP_ENTRIES, 0);
    struct vpri_q probe = {.d = &p.v.dev};
    assert_int_equal(vpri_q_stop_bound(&probe, 5000000000ull), 5000000000ull);
    struct drv *v;
    struct rq r = park_one_write(e, &p, &v);
    e->dev[0]->ops->queue_stop(e->dev[0], 0);
    assert_int_equal(atomic_load((_Atomic uint16_t *)&v->used->idx), 0);
    assert_int_equal(v->mem[r.st], 0xff); /* dropped: not even the status byte */
    assert_true(atomic_load(&p.v.dev.strike_ns) != 0);
    assert_int_equal(vpri_q_stop_bound(&probe, 5000000000ull), VPRI_STOP_SHORT_NS);
    atomic_store(&e->gm.vpri, NULL);
    vpri_plain_free(&p.v);
}

/* Quiesced (what the transport does before a message that stops the ring),
 * the queue takes no new request while the one it holds (a parked write)
 * completes; it is settled once that one is done, and released it takes
 * the new one. Without the quiesce the read behind the write completed
 * first, and the stop after it would have waited for both on the control
 * thread. */
static void test_quiesce_settles(void **state)
{
    struct env *e = *state;
    struct vp p;
    vpri_plain_init(&p.v, VP_PAGES, VP_QUEUES, VP_ENTRIES, 0);
    struct drv *v;
    struct rq w = park_one_write(e, &p, &v);
    struct vdev *d = e->dev[0];
    assert_true(d->ops->queue_quiesce(d, 0, true));
    struct rq rd = submit3(v, VIRTIO_BLK_T_IN, 8, 512, true);
    kick(v);
    usleep(20000);
    assert_false(d->ops->queue_settled(d, 0));
    assert_int_equal(atomic_load((_Atomic uint16_t *)&v->used->idx), 0);

    vp_set(&p, p.first, p.n, VPRI_PA_RW);
    atomic_fetch_add(&p.v.chan.ctrl->resolve_gen, 1);
    atomic_store(&p.v.chan.ctrl->cons, 1);
    for (int i = 0; i < 5000 && !d->ops->queue_settled(d, 0); i++)
        usleep(1000);
    assert_true(d->ops->queue_settled(d, 0));
    assert_true(wait_used(v, 1));
    assert_int_equal(v->mem[w.st], VIRTIO_BLK_S_OK);
    assert_int_equal(v->mem[rd.st], 0xff);
    usleep(20000);
    assert_int_equal(atomic_load((_Atomic uint16_t *)&v->used->idx), 1);

    assert_true(d->ops->queue_quiesce(d, 0, false));
    assert_true(wait_used(v, 1));
    assert_int_equal(v->mem[rd.st], VIRTIO_BLK_S_OK);
    d->ops->queue_stop(d, 0); /* the queue points at p until it stops */
    atomic_store(&e->gm.vpri, NULL);
    vpri_plain_free(&p.v);
}

static int config_changes;
static void on_config(struct vdev *d, void *opaque)
{
    (void)d, (void)opaque;
    config_changes++;
}

/* Growing a disk under its driver: requests past the old end fail before
 * and succeed after, the config space shows the new capacity, the
 * transport is told; shrinking, and sizes that are not whole blocks, are
 * refused with a reason and change nothing. */
static void test_resize(void **state)
{
    struct env *e = *state;
    e->dev[0] = make_dev(e, 0, "grow0", false);
    struct vdev *d = e->dev[0];
    config_changes = 0;
    d->on_config_change = on_config;
    start_queue(e, 0);
    struct drv *v = &e->drv[0];
    uint64_t old = DISK_SIZE / 512;
    assert_int_equal(run3(v, VIRTIO_BLK_T_OUT, old, 512, false, NULL), VIRTIO_BLK_S_IOERR);

    const char *why = NULL;
    assert_int_equal(blk_dev_resize(d, DISK_SIZE / 2, &why), -EINVAL);
    assert_non_null(strstr(why, "only growing"));
    assert_int_equal(blk_dev_resize(d, 2 * DISK_SIZE + 100, &why), -EINVAL);
    assert_int_equal(config_changes, 0);
    assert_int_equal(blk_dev_resize(d, 2 * DISK_SIZE, &why), 0);
    assert_int_equal(config_changes, 1);
    struct stat st;
    assert_int_equal(stat(e->path[0], &st), 0);
    assert_int_equal(st.st_size, 2 * DISK_SIZE);
    struct virtio_blk_config cfg;
    d->ops->get_config(d, (uint8_t *)&cfg, 0, sizeof(cfg));
    assert_int_equal(cfg.capacity, 2 * old);

    struct rq r;
    assert_int_equal(run3(v, VIRTIO_BLK_T_OUT, old, 512, false, &r), VIRTIO_BLK_S_OK);
    uint8_t fbuf[512];
    read_file(e->path[0], DISK_SIZE, fbuf, sizeof(fbuf));
    assert_memory_equal(fbuf, v->mem + r.data, sizeof(fbuf));
    assert_int_equal(run3(v, VIRTIO_BLK_T_IN, 2 * old - 1, 512, true, NULL), VIRTIO_BLK_S_OK);
    assert_int_equal(run3(v, VIRTIO_BLK_T_IN, 2 * old, 512, true, NULL), VIRTIO_BLK_S_IOERR);
}

/* A backend that holds every request until the test releases them: what a
 * slow disk or an I/O host that stopped answering looks like to the device. */
struct hold_be {
    struct blk_backend be;
    _Atomic bool release;
    _Atomic unsigned held;
};
struct blk_bq {
    struct hold_be *h;
    struct blk_io *io[64];
    unsigned n;
};
static void hold_info(struct blk_backend *b, struct blk_backend_info *out)
{
    (void)b;
    *out = (struct blk_backend_info){.size = DISK_SIZE, .block_size = 512};
}
static int hold_open(struct blk_backend *b, unsigned depth, struct blk_bq **out)
{
    (void)depth;
    *out = calloc(1, sizeof(**out));
    (*out)->h = (struct hold_be *)b;
    return 0;
}
static void hold_close(struct blk_bq *q)
{
    assert_int_equal(q->n, 0);
    free(q);
}
static int hold_submit(struct blk_bq *q, struct blk_io *io)
{
    if (q->n == 64)
        return -EAGAIN;
    q->io[q->n++] = io;
    atomic_fetch_add(&q->h->held, 1);
    return 0;
}
static void hold_kick(struct blk_bq *q)
{
    (void)q;
}
static int hold_reap(struct blk_bq *q)
{
    if (!atomic_load(&q->h->release))
        return 0;
    unsigned n = q->n;
    for (unsigned i = 0; i < n; i++)
        q->io[i]->done(q->io[i], 0);
    q->n = 0;
    return (int)n;
}
static unsigned hold_in_flight(struct blk_bq *q)
{
    return q->n;
}
static int hold_event_fd(struct blk_bq *q)
{
    (void)q;
    return -1;
}
static void hold_destroy(struct blk_backend *b)
{
    (void)b;
}
static const struct blk_backend_ops hold_ops = {
    .name = "hold", .info = hold_info, .queue_open = hold_open, .queue_close = hold_close,
    .submit = hold_submit, .kick = hold_kick, .reap = hold_reap, .in_flight = hold_in_flight,
    .event_fd = hold_event_fd, .destroy = hold_destroy,
};

/* A device that fails while its backend holds requests still finishes them
 * from the sidecore, and only then parks the queue: until then it is not
 * settled, so the transport's teardown waits for them without blocking.
 * Before, the queue parked at once and its stop waited on the control
 * thread, where the vhost layer could not tell it from a settled one. */
static void test_failed_device_drains_backend(void **state)
{
    struct env *e = *state;
    static struct hold_be h;
    memset(&h, 0, sizeof(h));
    h.be.ops = &hold_ops;
    const char *why = NULL;
    struct blk_dev_params p = {.name = "hold0", .num_queues = 1, .serial = "hold"};
    e->dev[0] = blk_dev_create(&p, &h.be, e->scs, &why);
    assert_non_null(e->dev[0]);
    e->dev[0]->on_fail = on_fail;
    e->dev[0]->on_fail_opaque = e;
    struct vdev *d = e->dev[0];
    start_queue(e, 0);
    struct drv *v = &e->drv[0];
    struct rq w[4];
    for (int i = 0; i < 4; i++)
        w[i] = submit3(v, VIRTIO_BLK_T_OUT, (uint64_t)i * 8, 4096, false);
    kick(v);
    for (int i = 0; i < 5000 && atomic_load(&h.held) < 4; i++)
        usleep(1000);
    assert_int_equal(atomic_load(&h.held), 4);

    vdev_fail(d, 0, "test: a failure with writes in the backend");
    assert_true(d->ops->queue_quiesce(d, 0, true));
    usleep(20000);
    assert_false(d->ops->queue_settled(d, 0));
    assert_int_equal(atomic_load((_Atomic uint16_t *)&v->used->idx), 0);

    atomic_store(&h.release, true);
    for (int i = 0; i < 5000 && !d->ops->queue_settled(d, 0); i++)
        usleep(1000);
    assert_true(d->ops->queue_settled(d, 0));
    assert_true(wait_used(v, 4));
    for (int i = 0; i < 4; i++)
        assert_int_equal(v->mem[w[i].st], VIRTIO_BLK_S_OK);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_config_and_features),
        T(test_read_write_flush_getid),
        T(test_discard_write_zeroes),
        T(test_request_errors),
        T(test_read_only_device),
        T(test_many_in_flight),
        T(test_device_failure_isolated),
        T(test_short_header_fails_device),
        T(test_null_backend_device),
        T(test_vpri_stop_owner_gone),
        T(test_vpri_stop_strike),
        T(test_quiesce_settles),
        T(test_failed_device_drains_backend),
        T(test_resize),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
