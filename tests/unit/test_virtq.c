/* Split virtqueue engine against a fake driver. Guest memory is one memfd,
 * seen by the driver through one mapping and by the engine as two adjacent
 * regions (gpa [0, 1M) and [1M, 2M)), so buffers and indirect tables can
 * straddle a region boundary. Covers good chains, every hostile chain the
 * engine must refuse (each fails the queue for good with a reason), the used
 * ring, EVENT_IDX and flag-based suppression, dirty logging exactness,
 * inflight resubmission, and vdev_fail. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "mem/guestmem.h"
#include "virtq/vdev.h"
#include "virtq/virtq.h"
#include "vq_expect.h"

#define MB (1ull << 20)
#define MEM (2 * MB)
#define NUM 16
#define DESC 0x0ull
#define AVAIL 0x1000ull
#define USED 0x2000ull
#define IND 0x3000ull
#define DATA 0x10000ull
#define MAXIOV 8
#define FEAT ((1ull << VIRTIO_RING_F_INDIRECT_DESC) | (1ull << VIRTIO_RING_F_EVENT_IDX))

struct fx {
    uint8_t *mem; /* driver view */
    int memfd;
    struct guestmem gm;
    struct virtq vq;
    struct vq_chain c;
    struct iovec iov[MAXIOV];
    uint64_t gpa[MAXIOV];
    uint16_t avail_idx;
};

static void *host(struct fx *f, uint64_t gpa, uint64_t len)
{
    void *p = gm_gpa_to_host(gm_current(&f->gm), gpa, len);
    assert_non_null(p);
    return p;
}

static void init_vq(struct fx *f, uint64_t features)
{
    vq_init(&f->vq, NUM, host(f, DESC, vring_desc_bytes(NUM)),
            host(f, AVAIL, vring_avail_bytes(NUM) + 2), host(f, USED, vring_used_bytes(NUM) + 2),
            0, features, &f->gm);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    const char *why;
    f->memfd = memfd_create("test-virtq", MFD_CLOEXEC);
    assert_true(f->memfd >= 0);
    assert_int_equal(ftruncate(f->memfd, MEM), 0);
    f->mem = mmap(NULL, MEM, PROT_READ | PROT_WRITE, MAP_SHARED, f->memfd, 0);
    assert_true(f->mem != MAP_FAILED);
    gm_init(&f->gm);
    struct gm_table *t = gm_table_new_empty();
    assert_int_equal(gm_table_add(t, 0, MB, 0x10000000, 0, dup(f->memfd), &why), 0);
    assert_int_equal(gm_table_add(t, MB, MB, 0x20000000, MB, dup(f->memfd), &why), 0);
    gm_table_free(gm_publish(&f->gm, t), true);
    init_vq(f, FEAT);
    f->c = (struct vq_chain){.iov = f->iov, .gpa = f->gpa, .max_iov = MAXIOV};
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    vq_fini(&f->vq);
    gm_destroy(&f->gm);
    munmap(f->mem, MEM);
    close(f->memfd);
    free(f);
    return 0;
}

/* ---- fake driver ---- */

static void desc_at(struct fx *f, uint64_t table, uint16_t i, uint64_t addr, uint32_t len,
                    uint16_t flags, uint16_t next)
{
    struct vring_desc d = {.addr = addr, .len = len, .flags = flags, .next = next};
    memcpy(f->mem + table + 16ull * i, &d, sizeof(d));
}

static void desc(struct fx *f, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
                 uint16_t next)
{
    desc_at(f, DESC, i, addr, len, flags, next);
}

static struct vring_avail *avail(struct fx *f) { return (struct vring_avail *)(f->mem + AVAIL); }
static struct vring_used *used(struct fx *f) { return (struct vring_used *)(f->mem + USED); }

static void offer(struct fx *f, uint16_t head)
{
    avail(f)->ring[f->avail_idx % NUM] = head;
    f->avail_idx++;
    __atomic_store_n(&avail(f)->idx, f->avail_idx, __ATOMIC_RELEASE);
}

static int pop(struct fx *f) { return vq_pop(&f->vq, &f->c); }

/* The engine's iovec i is guest address gpa, len bytes, holding what the
 * driver wrote there. */
static void expect_iov(struct fx *f, unsigned i, uint64_t gpa, size_t len)
{
    assert_int_equal(f->gpa[i], gpa);
    assert_int_equal(f->iov[i].iov_len, len);
    f->mem[gpa] = (uint8_t)(0x40 + i);
    assert_int_equal(*(uint8_t *)f->iov[i].iov_base, 0x40 + i);
}

static void expect_broken(struct fx *f, const char *needle)
{
    assert_int_equal(pop(f), -1);
    assert_non_null(f->vq.err);
    if (!strstr(f->vq.err, needle))
        fail_msg("error \"%s\" does not mention \"%s\"", f->vq.err, needle);
    const char *first = f->vq.err;
    offer(f, 0);
    assert_int_equal(pop(f), -1); /* stays broken */
    assert_ptr_equal(f->vq.err, first);
}

/* ---- good chains ---- */

static void test_direct(void **state)
{
    struct fx *f = *state;
    assert_int_equal(pop(f), 0);
    assert_false(vq_has_work(&f->vq));
    desc(f, 3, DATA, 16, VRING_DESC_F_NEXT, 7);
    desc(f, 7, DATA + 0x1000, 512, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1);
    desc(f, 1, DATA + 0x2000, 1, VRING_DESC_F_WRITE, 0);
    offer(f, 3);
    assert_true(vq_has_work(&f->vq));
    assert_int_equal(pop(f), 1);
    assert_int_equal(f->c.head, 3);
    assert_int_equal(f->c.ndesc, 3);
    assert_int_equal(f->c.n_out, 1);
    assert_int_equal(f->c.n_in, 2);
    assert_int_equal(f->c.out_len, 16);
    assert_int_equal(f->c.in_len, 513);
    expect_iov(f, 0, DATA, 16);
    expect_iov(f, 1, DATA + 0x1000, 512);
    expect_iov(f, 2, DATA + 0x2000, 1);
    assert_int_equal(pop(f), 0);
    assert_int_equal(f->vq.last_avail, 1);
    assert_null(f->vq.err);
}

static void test_indirect_and_mixed(void **state)
{
    struct fx *f = *state;
    desc(f, 0, IND, 3 * 16, VRING_DESC_F_INDIRECT | VRING_DESC_F_WRITE, 0); /* WRITE ignored */
    desc_at(f, IND, 0, DATA, 16, VRING_DESC_F_NEXT, 2);
    desc_at(f, IND, 2, DATA + 0x1000, 4096, VRING_DESC_F_NEXT, 1);
    desc_at(f, IND, 1, DATA + 0x3000, 1, VRING_DESC_F_WRITE, 0);
    offer(f, 0);
    assert_int_equal(pop(f), 1);
    assert_int_equal(f->c.ndesc, 1);
    assert_int_equal(f->c.n_out, 2);
    assert_int_equal(f->c.n_in, 1);
    assert_int_equal(f->c.out_len, 16 + 4096);
    expect_iov(f, 1, DATA + 0x1000, 4096);
    expect_iov(f, 2, DATA + 0x3000, 1);

    /* Direct descriptors followed by one indirect (spec 2.7.5.3.2). */
    desc(f, 5, DATA, 16, VRING_DESC_F_NEXT, 6);
    desc(f, 6, IND + 0x100, 2 * 16, VRING_DESC_F_INDIRECT, 0);
    desc_at(f, IND + 0x100, 0, DATA + 0x1000, 100, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
    desc_at(f, IND + 0x100, 1, DATA + 0x2000, 1, VRING_DESC_F_WRITE, 0);
    offer(f, 5);
    assert_int_equal(pop(f), 1);
    assert_int_equal(f->c.head, 5);
    assert_int_equal(f->c.ndesc, 2);
    assert_int_equal(f->c.n_out, 1);
    assert_int_equal(f->c.n_in, 2);
    assert_int_equal(f->c.in_len, 101);
    expect_iov(f, 0, DATA, 16);
    expect_iov(f, 2, DATA + 0x2000, 1);
}

static void test_zero_length(void **state)
{
    struct fx *f = *state;
    desc(f, 0, DATA, 16, VRING_DESC_F_NEXT, 1);
    desc(f, 1, 0xdead000000ull, 0, VRING_DESC_F_NEXT, 2); /* no byte named: not mapped */
    desc(f, 2, DATA + 0x1000, 0, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 3);
    desc(f, 3, DATA + 0x2000, 1, VRING_DESC_F_WRITE, 0);
    offer(f, 0);
    assert_int_equal(pop(f), 1);
    assert_int_equal(f->c.ndesc, 4);
    assert_int_equal(f->c.n_out, 1);
    assert_int_equal(f->c.n_in, 1);
    expect_iov(f, 1, DATA + 0x2000, 1);
}

static void test_spanning_regions(void **state)
{
    struct fx *f = *state;
    desc(f, 0, MB - 100, 300, VRING_DESC_F_NEXT, 1);
    desc(f, 1, MB - 16, 2 * 16, VRING_DESC_F_INDIRECT, 0); /* table straddles too */
    desc_at(f, MB - 16, 0, MB - 1, 2, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
    desc_at(f, MB - 16, 1, DATA, 4, VRING_DESC_F_WRITE, 0);
    offer(f, 0);
    assert_int_equal(pop(f), 1);
    assert_int_equal(f->c.n_out, 2);
    assert_int_equal(f->c.n_in, 3);
    expect_iov(f, 0, MB - 100, 100);
    expect_iov(f, 1, MB, 200);
    expect_iov(f, 2, MB - 1, 1);
    expect_iov(f, 3, MB, 1);
    expect_iov(f, 4, DATA, 4);
    assert_int_equal(f->c.out_len, 300);
    assert_int_equal(f->c.in_len, 6);
}

/* A chain of one descriptor takes a shorter path than a walk; it must come
 * out the same, across regions too, and refuse what the walk refuses. */
static void test_lone_descriptor(void **state)
{
    struct fx *f = *state;
    desc(f, 0, MB - 10, 30, VRING_DESC_F_WRITE, 0);
    desc(f, 1, DATA, 60, 0, 0);
    offer(f, 0);
    offer(f, 1);
    assert_int_equal(pop(f), 1);
    expect_chain(&f->c, 0, 1, 0, 2, 0, 30);
    expect_iov(f, 0, MB - 10, 10);
    expect_iov(f, 1, MB, 20);
    assert_int_equal(pop(f), 1);
    expect_chain(&f->c, 1, 1, 1, 0, 60, 0);
    expect_iov(f, 0, DATA, 60);

    f->c.max_iov = 1;
    offer(f, 0);
    expect_broken(f, "needs more than 1 segments");
}

/* ---- hostile chains ---- */

static void test_loop_next(void **state)
{
    struct fx *f = *state;
    /* Empty buffers: a loop of real ones runs out of segments first. */
    desc(f, 0, DATA, 0, VRING_DESC_F_NEXT, 1);
    desc(f, 1, DATA, 0, VRING_DESC_F_NEXT, 0);
    offer(f, 0);
    expect_broken(f, "longer than the ring size 16 (loop)");
}

static void test_self_loop(void **state)
{
    struct fx *f = *state;
    desc(f, 4, DATA, 0, VRING_DESC_F_NEXT, 4);
    offer(f, 4);
    expect_broken(f, "loop");
}

static void test_next_out_of_range(void **state)
{
    struct fx *f = *state;
    desc(f, 0, DATA, 1, VRING_DESC_F_NEXT, NUM);
    offer(f, 0);
    expect_broken(f, "links to 16, beyond the ring size 16");
}

static void test_head_out_of_range(void **state)
{
    struct fx *f = *state;
    offer(f, 0xffff);
    expect_broken(f, "head 65535");
}

static void test_avail_too_far(void **state)
{
    struct fx *f = *state;
    __atomic_store_n(&avail(f)->idx, NUM + 1, __ATOMIC_RELEASE);
    expect_broken(f, "avail idx 17 is 17 entries ahead");
}

static void test_avail_full_ring_ok(void **state)
{
    struct fx *f = *state;
    for (uint16_t i = 0; i < NUM; i++) {
        desc(f, i, DATA + i, 1, 0, 0);
        offer(f, i);
    }
    for (uint16_t i = 0; i < NUM; i++) {
        assert_int_equal(pop(f), 1);
        assert_int_equal(f->c.head, i);
    }
    assert_int_equal(pop(f), 0);
}

/* Avail entries published a few at a time while the engine consumes them,
 * across the 16-bit index wrap, with indirect and direct chains mixed: each
 * head comes out once, in order, with its own buffers. */
static void test_avail_trickle_across_wrap(void **state)
{
    struct fx *f = *state;
    const uint16_t base = 65530;
    vq_fini(&f->vq);
    used(f)->idx = base; /* as a ring the device left at base */
    vq_init(&f->vq, NUM, host(f, DESC, vring_desc_bytes(NUM)),
            host(f, AVAIL, vring_avail_bytes(NUM) + 2), host(f, USED, vring_used_bytes(NUM) + 2),
            base, FEAT, &f->gm);
    f->avail_idx = base;
    unsigned offered = 0, popped = 0, step = 0;
    while (popped < 300) {
        /* Keep at most NUM outstanding; publish 1..5 at a time. */
        unsigned burst = 1 + step++ % 5;
        for (unsigned k = 0; k < burst && offered - popped < NUM; k++, offered++) {
            uint16_t h = (uint16_t)(offered % NUM);
            if (offered % 3 == 0) {
                desc_at(f, IND, h, DATA + 0x100u * h, 4 + h, 0, 0);
                desc(f, h, IND + 16u * h, 16, VRING_DESC_F_INDIRECT, 0);
            } else {
                desc(f, h, DATA + 0x100u * h, 4 + h, 0, 0);
            }
            offer(f, h);
        }
        for (unsigned k = 0; k < 1 + step % 3 && popped < offered; k++, popped++) {
            assert_int_equal(pop(f), 1);
            assert_int_equal(f->c.head, popped % NUM);
            assert_int_equal(f->c.out_len, 4 + popped % NUM);
            assert_int_equal(f->gpa[0], DATA + 0x100u * (popped % NUM));
            vq_push(&f->vq, &f->c, 0);
        }
        vq_publish(&f->vq);
    }
    assert_int_equal(f->vq.last_avail, (uint16_t)(base + 300));
    assert_int_equal(used(f)->idx, (uint16_t)(base + 300));
}

/* A ring restarted at base 12 whose used index is 0 (12 requests in flight
 * at the last stop, given up after its bound): the next completion is used
 * entry 0 and used->idx 1. Counting from base published used->idx 13 over
 * twelve entries never written. */
static void test_restart_keeps_ring_used_idx(void **state)
{
    struct fx *f = *state;
    vq_fini(&f->vq);
    used(f)->idx = 0;
    vq_init(&f->vq, NUM, host(f, DESC, vring_desc_bytes(NUM)),
            host(f, AVAIL, vring_avail_bytes(NUM) + 2), host(f, USED, vring_used_bytes(NUM) + 2),
            12, FEAT, &f->gm);
    f->avail_idx = 12;
    desc(f, 3, DATA, 64, 0, 0);
    offer(f, 3);
    assert_int_equal(pop(f), 1);
    assert_int_equal(f->c.head, 3);
    vq_push(&f->vq, &f->c, 0);
    vq_publish(&f->vq);
    assert_int_equal(used(f)->idx, 1);
    assert_int_equal(used(f)->ring[0].id, 3);
}

/* Each published avail entry is read from guest memory once: a driver that
 * rewrites entries after publishing them (the spec forbids it) cannot make
 * the engine see a different head the second time. */
static void test_avail_entry_read_once(void **state)
{
    struct fx *f = *state;
    for (uint16_t i = 0; i < 4; i++) {
        desc(f, i, DATA + i, 1, 0, 0);
        offer(f, i);
    }
    assert_int_equal(pop(f), 1);
    assert_int_equal(f->c.head, 0);
    for (uint16_t i = 1; i < 4; i++)
        avail(f)->ring[i] = 0xffff;
    for (uint16_t i = 1; i < 4; i++) {
        assert_int_equal(pop(f), 1);
        assert_int_equal(f->c.head, i);
    }
    assert_int_equal(pop(f), 0);
    assert_null(f->vq.err);
}

/* vq_set_settle: a short run (3..15) makes the next VQ_SETTLE_POLLS pops
 * answer 0 while vq_has_work sees the new buffer; one or two, or settling
 * off, are answered at once. */
static void test_settle(void **state)
{
    struct fx *f = *state;
    for (uint16_t i = 0; i < NUM; i++)
        desc(f, i, DATA + i, 1, 0, 0);
    /* Off by default. */
    offer(f, 0);
    offer(f, 1);
    offer(f, 2);
    for (int i = 0; i < 3; i++)
        assert_int_equal(pop(f), 1);
    offer(f, 3);
    assert_int_equal(pop(f), 1);

    vq_set_settle(&f->vq, true);
    offer(f, 4);
    offer(f, 5);
    assert_int_equal(pop(f), 1);
    assert_int_equal(pop(f), 1);
    offer(f, 6); /* after a run of two: no wait */
    assert_int_equal(pop(f), 1);
    assert_int_equal(f->c.head, 6);
    for (uint16_t h = 7; h < 10; h++)
        offer(f, h);
    for (int i = 0; i < 3; i++)
        assert_int_equal(pop(f), 1);
    offer(f, 10); /* after a run of three: settles */
    for (unsigned i = 0; i < VQ_SETTLE_POLLS; i++) {
        assert_int_equal(pop(f), 0);
        assert_true(vq_has_work(&f->vq));
    }
    assert_int_equal(pop(f), 1);
    assert_int_equal(f->c.head, 10);
    assert_int_equal(pop(f), 0);
    assert_null(f->vq.err);
}

static void test_indirect_in_indirect(void **state)
{
    struct fx *f = *state;
    desc(f, 0, IND, 16, VRING_DESC_F_INDIRECT, 0);
    desc_at(f, IND, 0, IND + 0x100, 16, VRING_DESC_F_INDIRECT, 0);
    offer(f, 0);
    expect_broken(f, "itself indirect");
}

static void test_indirect_with_next(void **state)
{
    struct fx *f = *state;
    desc(f, 0, IND, 16, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 1);
    desc_at(f, IND, 0, DATA, 16, 0, 0);
    offer(f, 0);
    expect_broken(f, "both INDIRECT and NEXT");
}

static void test_indirect_not_negotiated(void **state)
{
    struct fx *f = *state;
    init_vq(f, 1ull << VIRTIO_RING_F_EVENT_IDX);
    desc(f, 0, IND, 16, VRING_DESC_F_INDIRECT, 0);
    desc_at(f, IND, 0, DATA, 16, 0, 0);
    offer(f, 0);
    expect_broken(f, "not negotiated");
}

static void test_indirect_len(void **state)
{
    static const struct {
        uint32_t len;
        const char *why;
    } bad[] = {{24, "multiple of 16"}, {0, "multiple of 16"}, {8, "multiple of 16"},
               {2000 * 16, "2000 entries, the limit is 1024"},
               {0xfffffff0u, "entries, the limit"}};
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct fx *f = *state;
        init_vq(f, FEAT);
        f->avail_idx = 0;
        desc(f, 0, IND, bad[i].len, VRING_DESC_F_INDIRECT, 0);
        offer(f, 0);
        expect_broken(f, bad[i].why);
    }
}

static void test_indirect_outside(void **state)
{
    struct fx *f = *state;
    desc(f, 0, 3 * MB, 32, VRING_DESC_F_INDIRECT, 0);
    offer(f, 0);
    expect_broken(f, "indirect table entry 0 at 0x300000 is not inside guest memory");
}

static void test_indirect_partly_outside(void **state)
{
    struct fx *f = *state;
    desc(f, 0, MEM - 16, 32, VRING_DESC_F_INDIRECT, 0);
    desc_at(f, MEM - 16, 0, DATA, 4, VRING_DESC_F_NEXT, 1);
    offer(f, 0);
    expect_broken(f, "indirect table entry 1");
}

static void test_indirect_loop_and_next(void **state)
{
    struct fx *f = *state;
    desc(f, 0, IND, 2 * 16, VRING_DESC_F_INDIRECT, 0);
    desc_at(f, IND, 0, DATA, 0, VRING_DESC_F_NEXT, 1);
    desc_at(f, IND, 1, DATA, 0, VRING_DESC_F_NEXT, 0);
    offer(f, 0);
    expect_broken(f, "longer than its 2 entries (loop)");

    init_vq(f, FEAT);
    f->avail_idx = 0;
    desc_at(f, IND, 1, DATA, 1, VRING_DESC_F_NEXT, 2);
    offer(f, 0);
    expect_broken(f, "links to 2, beyond the table's 2 entries");
}

static void test_buffer_outside(void **state)
{
    struct fx *f = *state;
    desc(f, 0, MEM - 10, 20, 0, 0);
    offer(f, 0);
    expect_broken(f, "[0x1ffff6, +20) is not inside guest memory");

    init_vq(f, FEAT);
    f->avail_idx = 0;
    desc(f, 0, 0x123456789000ull, 1, VRING_DESC_F_WRITE, 0);
    offer(f, 0);
    expect_broken(f, "not inside guest memory");
}

static void test_buffer_wraps(void **state)
{
    struct fx *f = *state;
    desc(f, 0, UINT64_MAX - 10, 100, 0, 0);
    offer(f, 0);
    expect_broken(f, "wraps around 2^64");
}

static void test_readable_after_writable(void **state)
{
    struct fx *f = *state;
    desc(f, 0, DATA, 1, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
    desc(f, 1, DATA, 1, 0, 0);
    offer(f, 0);
    expect_broken(f, "device-readable descriptor 1 follows a device-writable one");

    /* The same inside an indirect table. */
    init_vq(f, FEAT);
    f->avail_idx = 0;
    desc(f, 0, DATA, 1, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
    desc(f, 1, IND, 16, VRING_DESC_F_INDIRECT, 0);
    desc_at(f, IND, 0, DATA, 1, 0, 0);
    offer(f, 0);
    expect_broken(f, "device-readable indirect entry 0");
}

static void test_too_many_segments(void **state)
{
    struct fx *f = *state;
    f->c.max_iov = 2;
    desc(f, 0, DATA, 1, VRING_DESC_F_NEXT, 1);
    desc(f, 1, MB - 1, 2, 0, 0); /* two iovecs: three in all */
    offer(f, 0);
    expect_broken(f, "needs more than 2 segments");
}

static void test_length_overflow(void **state)
{
    struct fx *f = *state;
    /* A sparse 4 GiB region: no byte of it is touched. */
    const char *why;
    int big = memfd_create("test-virtq-big", MFD_CLOEXEC);
    assert_true(big >= 0);
    assert_int_equal(ftruncate(big, (off_t)(1ull << 32)), 0);
    struct gm_table *t = gm_table_clone(gm_current(&f->gm));
    assert_int_equal(gm_table_add(t, 1ull << 32, 1ull << 32, 0x100000000000ull, 0, big, &why), 0);
    struct gm_table *old = gm_publish(&f->gm, t);
    gm_table_free(old, false);

    desc(f, 0, 1ull << 32, 0x80000000u, VRING_DESC_F_NEXT, 1);
    desc(f, 1, (1ull << 32) + 0x80000000u, 0x7fffffffu, VRING_DESC_F_NEXT, 2);
    desc(f, 2, DATA, 1, VRING_DESC_F_WRITE, 0);
    offer(f, 0);
    expect_broken(f, "4 GiB");

    /* Just under the cap is served. */
    init_vq(f, FEAT);
    f->avail_idx = 0;
    desc(f, 2, DATA, 0, VRING_DESC_F_WRITE, 0);
    offer(f, 0);
    assert_int_equal(pop(f), 1);
    assert_int_equal(f->c.out_len, 0xffffffffu);
}

/* ---- used ring and notifications ---- */

static void test_used_ring(void **state)
{
    struct fx *f = *state;
    for (uint16_t i = 0; i < 3; i++) {
        desc(f, i, DATA, 4, VRING_DESC_F_WRITE, 0);
        offer(f, i);
    }
    struct vq_chain got[3];
    for (int i = 0; i < 3; i++) {
        assert_int_equal(pop(f), 1);
        got[i] = f->c;
    }
    vq_push(&f->vq, &got[2], 4);
    vq_push(&f->vq, &got[0], 1);
    assert_int_equal(used(f)->idx, 0); /* not yet published */
    vq_publish(&f->vq);
    assert_int_equal(used(f)->idx, 2);
    assert_int_equal(used(f)->ring[0].id, 2);
    assert_int_equal(used(f)->ring[0].len, 4);
    assert_int_equal(used(f)->ring[1].id, 0);
    assert_int_equal(used(f)->ring[1].len, 1);
    vq_publish(&f->vq); /* nothing new: no change */
    assert_int_equal(used(f)->idx, 2);
}

static void push_one(struct fx *f)
{
    struct vq_chain c = {.head = 0};
    vq_push(&f->vq, &c, 0);
    vq_publish(&f->vq);
}

static void test_event_idx(void **state)
{
    struct fx *f = *state;
    uint16_t *used_event = &avail(f)->ring[NUM];
    push_one(f); /* used idx 1 */
    assert_true(vq_should_notify(&f->vq)); /* first time: always */
    *used_event = 1;
    push_one(f); /* 2: the driver asked for an interrupt once idx passes 1 */
    assert_true(vq_should_notify(&f->vq));
    *used_event = 5;
    push_one(f); /* 3 */
    assert_false(vq_should_notify(&f->vq));
    push_one(f); /* 4 */
    push_one(f); /* 5 */
    assert_false(vq_should_notify(&f->vq));
    push_one(f); /* 6: passes 5 */
    assert_true(vq_should_notify(&f->vq));
    assert_false(vq_should_notify(&f->vq)); /* nothing new since */
}

static void test_no_interrupt_flag(void **state)
{
    struct fx *f = *state;
    init_vq(f, 0);
    push_one(f);
    assert_true(vq_should_notify(&f->vq));
    avail(f)->flags = VRING_AVAIL_F_NO_INTERRUPT;
    push_one(f);
    assert_false(vq_should_notify(&f->vq));
}

static void test_set_notify(void **state)
{
    struct fx *f = *state;
    uint16_t *avail_event = (uint16_t *)&used(f)->ring[NUM];

    init_vq(f, 0);
    assert_false(vq_set_notify(&f->vq, false));
    assert_int_equal(used(f)->flags & VRING_USED_F_NO_NOTIFY, VRING_USED_F_NO_NOTIFY);
    assert_false(vq_set_notify(&f->vq, true));
    assert_int_equal(used(f)->flags & VRING_USED_F_NO_NOTIFY, 0);
    desc(f, 0, DATA, 1, 0, 0);
    offer(f, 0);
    assert_true(vq_set_notify(&f->vq, true)); /* work arrived: poll again */

    init_vq(f, FEAT);
    used(f)->flags = 0;
    *avail_event = 0xbeef;
    assert_int_equal(pop(f), 1); /* last_avail 1 */
    assert_false(vq_set_notify(&f->vq, false));
    assert_int_equal(*avail_event, 0xbeef); /* left alone */
    assert_int_equal(used(f)->flags, 0);
    assert_false(vq_set_notify(&f->vq, true));
    assert_int_equal(*avail_event, 1);
    offer(f, 0);
    assert_true(vq_has_work(&f->vq));
    assert_true(vq_set_notify(&f->vq, true));
}

/* ---- used ring batching ---- */

static void test_used_written_at_publish(void **state)
{
    struct fx *f = *state;
    for (uint16_t i = 0; i < NUM; i++) {
        desc(f, i, DATA + 0x100u * i, 64, VRING_DESC_F_WRITE, 0);
        offer(f, (uint16_t)(NUM - 1 - i));
    }
    struct vq_chain got[NUM];
    struct iovec iov[NUM][1];
    uint64_t gpa[NUM][1];
    for (uint16_t i = 0; i < NUM; i++) {
        got[i] = (struct vq_chain){.iov = iov[i], .gpa = gpa[i], .max_iov = 1};
        assert_int_equal(vq_pop(&f->vq, &got[i]), 1);
    }
    for (uint16_t i = 0; i < NUM; i++)
        vq_push(&f->vq, &got[i], 10u + i);
    struct vring_used_elem zero[NUM] = {0};
    assert_memory_equal(used(f)->ring, zero, sizeof(zero)); /* nothing before publish */
    assert_int_equal(used(f)->idx, 0);
    vq_publish(&f->vq);
    assert_int_equal(used(f)->idx, NUM);
    for (uint16_t i = 0; i < NUM; i++) {
        assert_int_equal(used(f)->ring[i].id, NUM - 1 - i);
        assert_int_equal(used(f)->ring[i].len, 10u + i);
    }
}

/* More pushes than the batch holds before one publish: the ring ends with
 * the latest element in every slot and the index counts them all. */
static void test_used_batch_overflow(void **state)
{
    struct fx *f = *state;
    desc(f, 3, DATA, 64, VRING_DESC_F_WRITE, 0);
    offer(f, 3);
    assert_int_equal(pop(f), 1);
    const unsigned n = VQ_USED_SHADOW + NUM + 5;
    for (unsigned k = 0; k < n; k++)
        vq_push(&f->vq, &f->c, k);
    assert_int_equal(used(f)->idx, 0);
    vq_publish(&f->vq);
    assert_int_equal(used(f)->idx, n);
    for (unsigned k = n - NUM; k < n; k++) {
        assert_int_equal(used(f)->ring[k % NUM].id, 3);
        assert_int_equal(used(f)->ring[k % NUM].len, k);
    }
}

/* ---- dirty log ---- */

static void test_dirty_log(void **state)
{
    struct fx *f = *state;
    int lfd = memfd_create("test-virtq-log", MFD_CLOEXEC);
    const unsigned log_bytes = MEM / 4096 / 8;
    assert_int_equal(ftruncate(lfd, 4096), 0);
    uint8_t *bits = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, lfd, 0);
    assert_true(bits != MAP_FAILED);
    struct dirty_log_map *m = dirty_log_map_new(lfd, log_bytes, 0, NULL);
    assert_non_null(m);
    assert_null(dirty_log_swap(&f->gm.log, m));
    f->vq.log_used = true;
    f->vq.used_log_gpa = USED;

    desc(f, 0, DATA, 16, VRING_DESC_F_NEXT, 1); /* read only: never logged */
    desc(f, 1, DATA + 0x1000 + 4000, 200, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2);
    desc(f, 2, DATA + 0x10000, 4096, VRING_DESC_F_WRITE, 0);
    offer(f, 0);
    assert_int_equal(pop(f), 1);
    struct vq_chain c = f->c;
    assert_int_equal(pop(f), 0);
    uint8_t zero[4096] = {0};
    assert_memory_equal(bits, zero, sizeof(zero)); /* popping writes nothing */

    vq_push(&f->vq, &c, 90); /* 90 bytes: page 0x11 only */
    uint8_t want[4096] = {0};
    want[0x11 / 8] |= 1u << (0x11 % 8);
    assert_memory_equal(bits, want, sizeof(want));
    memset(bits, 0, 4096);
    vq_publish(&f->vq); /* the used element, then used->idx: same page */
    memset(want, 0, sizeof(want));
    want[(USED >> 12) / 8] |= 1u << ((USED >> 12) % 8);
    assert_memory_equal(bits, want, sizeof(want));
    memset(bits, 0, 4096);

    vq_push(&f->vq, &c, 200 + 1); /* both pages of desc 1, first of desc 2 */
    memset(want, 0, sizeof(want));
    want[0x11 / 8] |= 1u << (0x11 % 8);
    want[0x12 / 8] |= 1u << (0x12 % 8);
    want[0x20 / 8] |= 1u << (0x20 % 8);
    assert_memory_equal(bits, want, sizeof(want));
    memset(bits, 0, 4096);
    vq_publish(&f->vq);
    memset(want, 0, sizeof(want));
    want[(USED >> 12) / 8] |= 1u << ((USED >> 12) % 8);
    assert_memory_equal(bits, want, sizeof(want));
    memset(bits, 0, 4096);

    f->vq.log_used = false; /* buffers are still logged, the ring is not */
    vq_push(&f->vq, &c, 1);
    vq_publish(&f->vq);
    memset(want, 0, sizeof(want));
    want[0x11 / 8] |= 1u << (0x11 % 8);
    assert_memory_equal(bits, want, sizeof(want));
    munmap(bits, 4096);
}

/* ---- inflight ---- */

static struct vq_inflight *new_inflight(void)
{
    struct vq_inflight *inf = calloc(1, vq_inflight_queue_bytes(NUM));
    assert_non_null(inf);
    return inf;
}

static void test_inflight_resubmit(void **state)
{
    struct fx *f = *state;
    struct vq_inflight *inf = new_inflight();
    assert_int_equal(vq_set_inflight(&f->vq, inf, vq_inflight_queue_bytes(NUM)), 0);
    assert_int_equal(inf->version, 1);
    assert_int_equal(inf->desc_num, NUM);

    const uint16_t heads[] = {0, 3, 5};
    struct vq_chain got[3];
    for (int i = 0; i < 3; i++) {
        desc(f, heads[i], DATA + 0x1000u * heads[i], 8, VRING_DESC_F_WRITE, 0);
        offer(f, heads[i]);
        assert_int_equal(pop(f), 1);
        got[i] = f->c;
        assert_int_equal(inf->desc[heads[i]].inflight, 1);
    }
    assert_true(inf->desc[0].counter < inf->desc[5].counter);
    vq_push(&f->vq, &got[1], 8);
    assert_int_equal(inf->desc[3].inflight, 1); /* until published */
    vq_publish(&f->vq);
    assert_int_equal(inf->desc[3].inflight, 0);
    assert_int_equal(inf->used_idx, 1);
    assert_int_equal(inf->last_batch_head, 3);

    /* Backend restarts; the frontend's base is the guest's used idx. */
    inf->desc[0].counter = 40; /* oldest must come first whatever the head */
    inf->desc[5].counter = 7;
    vq_init(&f->vq, NUM, host(f, DESC, 256), host(f, AVAIL, 64), host(f, USED, 256), 1, FEAT,
            &f->gm);
    assert_int_equal(vq_set_inflight(&f->vq, inf, vq_inflight_queue_bytes(NUM)), 0);
    assert_int_equal(f->vq.n_resubmit, 2);
    assert_true(vq_has_work(&f->vq));
    assert_int_equal(pop(f), 1);
    assert_int_equal(f->c.head, 5);
    assert_int_equal(f->c.in_len, 8);
    assert_int_equal(pop(f), 1);
    assert_int_equal(f->c.head, 0);
    assert_int_equal(f->vq.last_avail, 3); /* avail entries are not consumed again */
    assert_int_equal(pop(f), 0);
    desc(f, 7, DATA, 8, VRING_DESC_F_WRITE, 0);
    offer(f, 7);
    assert_int_equal(pop(f), 1);
    assert_int_equal(f->c.head, 7);
    assert_true(inf->desc[7].counter > 40);
    free(inf);
}

static void test_inflight_repair_batch(void **state)
{
    struct fx *f = *state;
    struct vq_inflight *inf = new_inflight();
    assert_int_equal(vq_set_inflight(&f->vq, inf, vq_inflight_queue_bytes(NUM)), 0);
    for (uint16_t h = 0; h < 3; h++) {
        desc(f, h, DATA, 8, VRING_DESC_F_WRITE, 0);
        offer(f, h);
        assert_int_equal(pop(f), 1);
    }
    /* Crash after used->idx was stored but before the marks were cleared:
     * heads 1 and 2 completed, head 0 did not. */
    used(f)->ring[0] = (struct vring_used_elem){.id = 1, .len = 8};
    used(f)->ring[1] = (struct vring_used_elem){.id = 2, .len = 8};
    used(f)->idx = 2;
    vq_init(&f->vq, NUM, host(f, DESC, 256), host(f, AVAIL, 64), host(f, USED, 256), 2, FEAT,
            &f->gm);
    assert_int_equal(vq_set_inflight(&f->vq, inf, vq_inflight_queue_bytes(NUM)), 0);
    assert_int_equal(inf->used_idx, 2);
    assert_int_equal(f->vq.n_resubmit, 1);
    assert_int_equal(pop(f), 1);
    assert_int_equal(f->c.head, 0);
    assert_int_equal(pop(f), 0);
    free(inf);
}

static void test_inflight_malformed(void **state)
{
    struct fx *f = *state;
    struct vq_inflight *inf = new_inflight();
    inf->version = 1;
    inf->desc_num = NUM * 2;
    assert_int_equal(vq_set_inflight(&f->vq, inf, vq_inflight_queue_bytes(NUM)), -1);
    assert_non_null(strstr(f->vq.err, "tracks 32 descriptors, the ring has 16"));

    init_vq(f, FEAT);
    inf->version = 9;
    assert_int_equal(vq_set_inflight(&f->vq, inf, vq_inflight_queue_bytes(NUM)), -1);
    assert_non_null(strstr(f->vq.err, "version 9"));
    free(inf);
}

/* Recovery moves the used index to the ring's; the batch of used elements
 * must start there too. A base that differed from it (stale or hostile)
 * made the next push index the batch from the old base: past its end. */
static void test_inflight_base_differs(void **state)
{
    struct fx *f = *state;
    struct vq_inflight *inf = new_inflight();
    assert_int_equal(vq_set_inflight(&f->vq, inf, vq_inflight_queue_bytes(NUM)), 0);
    struct vq_chain got[3];
    struct iovec iov[3][MAXIOV];
    for (uint16_t h = 0; h < 3; h++) {
        desc(f, h, DATA, 8, VRING_DESC_F_WRITE, 0);
        offer(f, h);
        got[h] = (struct vq_chain){.iov = iov[h], .max_iov = MAXIOV};
        assert_int_equal(vq_pop(&f->vq, &got[h]), 1);
    }
    vq_push(&f->vq, &got[0], 8);
    vq_push(&f->vq, &got[1], 8);
    vq_publish(&f->vq);
    assert_int_equal(used(f)->idx, 2);

    vq_fini(&f->vq);
    vq_init(&f->vq, NUM, host(f, DESC, 256), host(f, AVAIL, 64), host(f, USED, 256), 0, FEAT,
            &f->gm);
    assert_int_equal(vq_set_inflight(&f->vq, inf, vq_inflight_queue_bytes(NUM)), 0);
    assert_int_equal(f->vq.n_resubmit, 1);
    assert_int_equal(pop(f), 1);
    assert_int_equal(f->c.head, 2);
    vq_push(&f->vq, &f->c, 5);
    vq_publish(&f->vq);
    assert_int_equal(used(f)->idx, 3);
    assert_int_equal(used(f)->ring[0].id, 0);
    assert_int_equal(used(f)->ring[0].len, 8);
    assert_int_equal(used(f)->ring[1].id, 1);
    assert_int_equal(used(f)->ring[2].id, 2);
    assert_int_equal(used(f)->ring[2].len, 5);
    assert_null(f->vq.err);
    free(inf);
}

/* An IN_ORDER queue restarted on an area that already holds state (every
 * restart after the first start) kept its per-id state: recovery used to
 * free it with the old resubmit list, and the next pop crashed. */
static void test_inflight_in_order_restart(void **state)
{
    struct fx *f = *state;
    const uint64_t feat = FEAT | (1ull << VIRTIO_F_IN_ORDER);
    struct vq_inflight *inf = new_inflight();
    vq_fini(&f->vq);
    init_vq(f, feat);
    assert_int_equal(vq_set_inflight(&f->vq, inf, vq_inflight_queue_bytes(NUM)), 0);
    desc(f, 0, DATA, 8, VRING_DESC_F_WRITE, 0);
    offer(f, 0);
    assert_int_equal(pop(f), 1);
    vq_push(&f->vq, &f->c, 8);
    vq_publish(&f->vq);

    vq_fini(&f->vq);
    vq_init(&f->vq, NUM, host(f, DESC, 256), host(f, AVAIL, 64), host(f, USED, 256), 1, feat,
            &f->gm);
    assert_int_equal(vq_set_inflight(&f->vq, inf, vq_inflight_queue_bytes(NUM)), 0);
    desc(f, 1, DATA, 8, VRING_DESC_F_WRITE, 0);
    offer(f, 1);
    assert_int_equal(pop(f), 1);
    assert_int_equal(f->c.head, 1);
    vq_push(&f->vq, &f->c, 8);
    vq_publish(&f->vq);
    assert_int_equal(used(f)->idx, 2);
    assert_null(f->vq.err);
    free(inf);
}

/* A device that pushes in pop order (net) serves an IN_ORDER ring on the
 * plain entry points: every chain gets its used element in avail order, and
 * a head the driver repeats while outstanding is not the device's concern
 * (the order list that refused it is gone). */
static void test_device_in_order(void **state)
{
    struct fx *f = *state;
    vq_fini(&f->vq);
    init_vq(f, FEAT | (1ull << VIRTIO_F_IN_ORDER));
    vq_device_in_order(&f->vq);
    assert_false(f->vq.ext);
    for (uint16_t i = 0; i < 3; i++) {
        desc(f, i, DATA + 64 * i, 64, VRING_DESC_F_WRITE, 0);
        offer(f, i);
    }
    offer(f, 0);
    struct vq_chain got[4];
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pop(f), 1);
        got[i] = f->c;
    }
    for (int i = 0; i < 4; i++)
        vq_push(&f->vq, &got[i], (uint32_t)(10 + i));
    vq_publish(&f->vq);
    assert_null(f->vq.err);
    assert_int_equal(used(f)->idx, 4);
    const uint16_t heads[4] = {0, 1, 2, 0};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(used(f)->ring[i].id, heads[i]);
        assert_int_equal(used(f)->ring[i].len, 10 + i);
    }
}

/* ---- device failure ---- */

static int fail_calls;
static uint16_t fail_q;

static void on_fail(struct vdev *d, uint16_t qidx, void *opaque)
{
    (void)d;
    fail_calls++;
    fail_q = qidx;
    assert_ptr_equal(opaque, &fail_calls);
}

static void test_vdev_fail(void **state)
{
    (void)state;
    struct vdev d = {.name = "blk0", .on_fail = on_fail, .on_fail_opaque = &fail_calls};
    atomic_store(&d.status, VIRTIO_STATUS_DRIVER_OK);
    vdev_fail(&d, 3, "descriptor loop at head %u", 9);
    vdev_fail(&d, 1, "second reason");
    assert_true(vdev_is_broken(&d));
    assert_int_equal(fail_calls, 1);
    assert_int_equal(fail_q, 3);
    assert_string_equal(d.why, "descriptor loop at head 9");
    assert_int_equal(atomic_load(&d.status), VIRTIO_STATUS_DRIVER_OK | VIRTIO_STATUS_NEEDS_RESET);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_direct),
        T(test_indirect_and_mixed),
        T(test_zero_length),
        T(test_spanning_regions),
        T(test_lone_descriptor),
        T(test_loop_next),
        T(test_self_loop),
        T(test_next_out_of_range),
        T(test_head_out_of_range),
        T(test_avail_too_far),
        T(test_avail_full_ring_ok),
        T(test_avail_trickle_across_wrap),
        T(test_restart_keeps_ring_used_idx),
        T(test_avail_entry_read_once),
        T(test_settle),
        T(test_indirect_in_indirect),
        T(test_indirect_with_next),
        T(test_indirect_not_negotiated),
        T(test_indirect_len),
        T(test_indirect_outside),
        T(test_indirect_partly_outside),
        T(test_indirect_loop_and_next),
        T(test_buffer_outside),
        T(test_buffer_wraps),
        T(test_readable_after_writable),
        T(test_too_many_segments),
        T(test_length_overflow),
        T(test_used_ring),
        T(test_event_idx),
        T(test_no_interrupt_flag),
        T(test_set_notify),
        T(test_used_written_at_publish),
        T(test_used_batch_overflow),
        T(test_dirty_log),
        T(test_inflight_resubmit),
        T(test_inflight_repair_batch),
        T(test_inflight_malformed),
        T(test_inflight_in_order_restart),
        T(test_device_in_order),
        T(test_inflight_base_differs),
        cmocka_unit_test(test_vdev_fail),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
