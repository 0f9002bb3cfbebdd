/* Packed virtqueue engine and IN_ORDER against a fake driver. Guest memory
 * is one memfd seen by the engine as two adjacent regions (gpa [0, 1M) and
 * [1M, 2M)), so buffers and indirect tables can straddle a region boundary.
 * The ring has 12 entries: packed rings need not be a power of two.
 * Covers good chains (direct, indirect, spanning, many laps with out-of-order
 * completion), every hostile ring the engine must refuse (each fails the
 * queue for good with a reason), wrap-counter handling, used descriptor
 * publication order, both event suppression structures with and without
 * EVENT_IDX, IN_ORDER on packed and split rings, dirty logging, and the
 * inflight area (resubmission after a restart, a crash in the middle of a
 * pop or a publication, a frontend scribbling on it, malformed areas). */
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
#include "virtq/virtq.h"
#include "vq_expect.h"

#define MB (1ull << 20)
#define MEM (2 * MB)
#define NUM 12
#define DESC 0x0ull
#define DRV 0x1000ull
#define DEV 0x1100ull
#define IND 0x3000ull
#define DATA 0x10000ull
#define MAXIOV 8
#define F_PACKED (1ull << VIRTIO_F_RING_PACKED)
#define F_INDIRECT (1ull << VIRTIO_RING_F_INDIRECT_DESC)
#define F_EVENT (1ull << VIRTIO_RING_F_EVENT_IDX)
#define F_ORDER (1ull << VIRTIO_F_IN_ORDER)
#define FEAT (F_PACKED | F_INDIRECT | F_EVENT)
#define W VRING_DESC_F_WRITE
#define IDR VRING_DESC_F_INDIRECT

struct fx {
    uint8_t *mem; /* driver view */
    int memfd;
    struct guestmem gm;
    struct virtq vq;
    struct vq_chain c;
    struct iovec iov[MAXIOV];
    uint64_t gpa[MAXIOV];
    uint16_t avail_pos, used_pos; /* the driver's next positions */
    bool avail_wrap, used_wrap;
    uint16_t ndesc_of[NUM];
};

struct seg {
    uint64_t addr;
    uint32_t len;
    uint16_t flags; /* W, IDR; NEXT and the avail bits are added by put() */
};

static void *host(struct fx *f, uint64_t gpa, uint64_t len)
{
    void *p = gm_gpa_to_host(gm_current(&f->gm), gpa, len);
    assert_non_null(p);
    return p;
}

static void init_ring(struct fx *f, uint64_t features, uint16_t base)
{
    vq_fini(&f->vq);
    vq_init(&f->vq, NUM, host(f, DESC, 16 * NUM), host(f, DRV, 4), host(f, DEV, 4), base,
            features, &f->gm);
    memset(f->mem + DESC, 0, 16 * NUM);
    f->avail_pos = f->used_pos = vring_packed_idx(base);
    f->avail_wrap = f->used_wrap = vring_packed_wrap(base);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    const char *why;
    f->memfd = memfd_create("test-virtq-packed", MFD_CLOEXEC);
    assert_true(f->memfd >= 0);
    assert_int_equal(ftruncate(f->memfd, MEM), 0);
    f->mem = mmap(NULL, MEM, PROT_READ | PROT_WRITE, MAP_SHARED, f->memfd, 0);
    assert_true(f->mem != MAP_FAILED);
    gm_init(&f->gm);
    struct gm_table *t = gm_table_new_empty();
    assert_int_equal(gm_table_add(t, 0, MB, 0x10000000, 0, dup(f->memfd), &why), 0);
    assert_int_equal(gm_table_add(t, MB, MB, 0x20000000, MB, dup(f->memfd), &why), 0);
    gm_table_free(gm_publish(&f->gm, t), true);
    init_ring(f, FEAT, VRING_PACKED_WRAP);
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

static struct vring_packed_desc *pd(struct fx *f, uint16_t pos)
{
    return (struct vring_packed_desc *)(f->mem + DESC) + pos;
}

/* Makes a buffer of n descriptors available under id, the head's flags
 * last, as the spec requires. Returns the head position. */
static uint16_t put(struct fx *f, const struct seg *s, unsigned n, uint16_t id)
{
    uint16_t head = f->avail_pos, head_flags = 0;
    for (unsigned i = 0; i < n; i++) {
        struct vring_packed_desc *d = pd(f, f->avail_pos);
        uint16_t fl = (uint16_t)(s[i].flags | (i + 1 < n ? VRING_DESC_F_NEXT : 0) |
                                 vring_packed_avail_flags(f->avail_wrap));
        d->addr = s[i].addr;
        d->len = s[i].len;
        d->id = id;
        if (i == 0)
            head_flags = fl;
        else
            d->flags = fl;
        if (++f->avail_pos == NUM) {
            f->avail_pos = 0;
            f->avail_wrap = !f->avail_wrap;
        }
    }
    if (id < NUM)
        f->ndesc_of[id] = (uint16_t)n;
    __atomic_store_n(&pd(f, head)->flags, head_flags, __ATOMIC_RELEASE);
    return head;
}

static uint16_t put1(struct fx *f, uint64_t addr, uint32_t len, uint16_t flags, uint16_t id)
{
    struct seg s = {addr, len, flags};
    return put(f, &s, 1, id);
}

/* 1 with the next used descriptor's id, length and flags; 0 if none. */
static int get_used(struct fx *f, uint16_t *id, uint32_t *len, uint16_t *flags)
{
    struct vring_packed_desc *d = pd(f, f->used_pos);
    uint16_t fl = __atomic_load_n(&d->flags, __ATOMIC_ACQUIRE);
    if (!vring_packed_is_used(fl, f->used_wrap))
        return 0;
    *id = d->id;
    *len = d->len;
    if (flags)
        *flags = fl;
    assert_true(*id < NUM);
    f->used_pos = (uint16_t)(f->used_pos + f->ndesc_of[*id]);
    if (f->used_pos >= NUM) {
        f->used_pos -= NUM;
        f->used_wrap = !f->used_wrap;
    }
    return 1;
}

static void expect_used(struct fx *f, uint16_t id, uint32_t len)
{
    uint16_t got_id;
    uint32_t got_len;
    assert_int_equal(get_used(f, &got_id, &got_len, NULL), 1);
    assert_int_equal(got_id, id);
    assert_int_equal(got_len, len);
}

static void expect_no_used(struct fx *f)
{
    uint16_t id;
    uint32_t len;
    assert_int_equal(get_used(f, &id, &len, NULL), 0);
}

static int pop(struct fx *f) { return vq_pop(&f->vq, &f->c); }

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
    put1(f, DATA, 8, 0, 0);
    assert_int_equal(pop(f), -1); /* stays broken */
    assert_ptr_equal(f->vq.err, first);
}

/* ---- good buffers ---- */

static void test_direct_chain(void **state)
{
    struct fx *f = *state;
    struct seg s[3] = {{DATA, 16, 0}, {DATA + 0x100, 512, W}, {DATA + 0x400, 1, W}};
    assert_int_equal(pop(f), 0);
    assert_false(vq_has_work(&f->vq));
    put(f, s, 3, 7);
    assert_true(vq_has_work(&f->vq));
    assert_int_equal(pop(f), 1);
    expect_chain(&f->c, 7, 3, 1, 2, 16, 513);
    expect_iov(f, 0, DATA, 16);
    expect_iov(f, 1, DATA + 0x100, 512);
    expect_iov(f, 2, DATA + 0x400, 1);
    assert_int_equal(pop(f), 0);
    assert_int_equal(f->vq.last_avail, VRING_PACKED_WRAP | 3);

    vq_push(&f->vq, &f->c, 300);
    expect_no_used(f); /* not before vq_publish */
    vq_publish(&f->vq);
    uint16_t id = 0, fl = 0;
    uint32_t len;
    assert_int_equal(get_used(f, &id, &len, &fl), 1);
    assert_int_equal(id, 7);
    assert_int_equal(len, 300);
    assert_true(fl & W); /* something was written */
    assert_int_equal(f->used_pos, 3);
    assert_int_equal(f->vq.used_idx, VRING_PACKED_WRAP | 3);

    put1(f, DATA, 64, 0, 7); /* the id is free again */
    assert_int_equal(pop(f), 1);
    vq_push(&f->vq, &f->c, 0);
    vq_publish(&f->vq);
    assert_int_equal(get_used(f, &id, &len, &fl), 1);
    assert_false(fl & W);
}

static void test_indirect_spanning(void **state)
{
    struct fx *f = *state;
    struct vring_packed_desc t[3] = {
        {.addr = DATA, .len = 8},
        {.addr = MB - 100, .len = 200, .flags = W}, /* straddles the regions */
        {.addr = DATA + 0x800, .len = 4, .flags = W | VRING_DESC_F_NEXT}, /* NEXT ignored */
    };
    memcpy(f->mem + IND, t, sizeof(t));
    put1(f, IND, sizeof(t), IDR, 3);
    assert_int_equal(pop(f), 1);
    assert_int_equal(f->c.head, 3);
    assert_int_equal(f->c.ndesc, 1);
    assert_int_equal(f->c.n_out, 1);
    assert_int_equal(f->c.n_in, 3);
    expect_iov(f, 0, DATA, 8);
    expect_iov(f, 1, MB - 100, 100);
    expect_iov(f, 2, MB, 100);
    expect_iov(f, 3, DATA + 0x800, 4);

    /* A table that itself straddles the boundary is read entry by entry. */
    uint64_t tab = MB - 16;
    memcpy(f->mem + tab, &t[0], 16);
    memcpy(f->mem + tab + 16, &t[2], 16);
    put1(f, tab, 32, IDR, 4);
    assert_int_equal(pop(f), 1);
    assert_int_equal(f->c.n_out, 1);
    assert_int_equal(f->c.n_in, 1);
}

/* Chains of 1..3 descriptors for many laps, completed in reverse order of a
 * batch: positions advance by the completed buffer's size, wrap counters
 * flip on each lap, ids come back exactly once. */
static void test_many_laps_out_of_order(void **state)
{
    struct fx *f = *state;
    struct vq_chain got[4];
    struct iovec iov[4][MAXIOV];
    unsigned seed = 1, flips = 0;
    bool wrap = f->used_wrap;
    for (unsigned round = 0; round < 200; round++) {
        unsigned n = 0, used_desc = 0;
        uint16_t first_id = (uint16_t)(round % 3);
        while (n < 4) {
            unsigned len = 1 + (seed = seed * 1103515245u + 12345u) / 65536 % 3;
            if (used_desc + len > NUM)
                break;
            struct seg s[3] = {{DATA, 16, 0}, {DATA + 0x1000, 32, W}, {DATA + 0x2000, 48, W}};
            put(f, s, len, (uint16_t)(first_id + n * 3));
            used_desc += len;
            n++;
        }
        for (unsigned i = 0; i < n; i++) {
            got[i] = (struct vq_chain){.iov = iov[i], .max_iov = MAXIOV};
            assert_int_equal(vq_pop(&f->vq, &got[i]), 1);
            assert_int_equal(got[i].head, first_id + i * 3);
        }
        assert_int_equal(pop(f), 0);
        for (unsigned i = n; i-- > 0;)
            vq_push(&f->vq, &got[i], i);
        vq_publish(&f->vq);
        for (unsigned i = n; i-- > 0;)
            expect_used(f, got[i].head, i);
        expect_no_used(f);
        flips += f->used_wrap != wrap;
        wrap = f->used_wrap;
    }
    assert_null(f->vq.err);
    assert_true(flips > 50);
    assert_int_equal(f->vq.used_idx, f->vq.last_avail); /* everything returned */
}

static void test_full_ring_chain(void **state)
{
    struct fx *f = *state;
    struct seg s[NUM];
    for (unsigned i = 0; i < NUM; i++)
        s[i] = (struct seg){DATA + i * 0x100, 8, i >= NUM - 2 ? W : 0};
    struct iovec iov[NUM];
    f->c = (struct vq_chain){.iov = iov, .max_iov = NUM};
    put1(f, DATA, 8, 0, 0);
    assert_int_equal(pop(f), 1);
    vq_push(&f->vq, &f->c, 0);
    vq_publish(&f->vq);
    expect_used(f, 0, 0);
    put(f, s, NUM, 5); /* every slot, crossing the end of the ring */
    assert_int_equal(pop(f), 1);
    assert_int_equal(f->c.ndesc, NUM);
    vq_push(&f->vq, &f->c, 16);
    vq_publish(&f->vq);
    expect_used(f, 5, 16);
    assert_int_equal(f->vq.used_idx, 1); /* one lap later: counter 0 */
}

/* A buffer of one descriptor takes a shorter path than a walk; it must come
 * out the same, across regions too, and refuse what the walk refuses. */
static void test_lone_descriptor(void **state)
{
    struct fx *f = *state;
    put1(f, MB - 10, 30, 0, 3);
    put1(f, DATA, 60, W, 4);
    assert_int_equal(pop(f), 1);
    expect_chain(&f->c, 3, 1, 2, 0, 30, 0);
    expect_iov(f, 0, MB - 10, 10);
    expect_iov(f, 1, MB, 20);
    vq_push(&f->vq, &f->c, 0);
    assert_int_equal(pop(f), 1);
    expect_chain(&f->c, 4, 1, 0, 1, 0, 60);
    expect_iov(f, 0, DATA, 60);
    vq_push(&f->vq, &f->c, 60);
    vq_publish(&f->vq);
    expect_used(f, 3, 0);
    expect_used(f, 4, 60);

    put1(f, DATA, 8, W, 4); /* its id is free again */
    put1(f, DATA, 8, W, 4);
    assert_int_equal(pop(f), 1);
    expect_broken(f, "still outstanding");
    init_ring(f, FEAT, VRING_PACKED_WRAP);
    f->c.max_iov = 1;
    put1(f, MB - 10, 30, W, 0);
    expect_broken(f, "more than 1 segments");
}

/* ---- hostile rings ---- */

static void test_id_out_of_range(void **state)
{
    struct fx *f = *state;
    put1(f, DATA, 8, 0, NUM);
    expect_broken(f, "beyond the ring size");
}

static void test_id_from_last_descriptor(void **state)
{
    struct fx *f = *state;
    struct seg s[2] = {{DATA, 8, 0}, {DATA + 8, 8, W}};
    put(f, s, 2, 1);
    pd(f, 0)->id = 0xffff; /* only the last descriptor's id counts */
    assert_int_equal(pop(f), 1);
    assert_int_equal(f->c.head, 1);
    put(f, s, 2, 2);
    pd(f, 3)->id = 0x8000;
    expect_broken(f, "id 32768");
}

static void test_duplicate_id(void **state)
{
    struct fx *f = *state;
    put1(f, DATA, 8, 0, 4);
    put1(f, DATA, 8, 0, 4);
    assert_int_equal(pop(f), 1);
    expect_broken(f, "still outstanding");
}

static void test_chain_longer_than_ring(void **state)
{
    struct fx *f = *state;
    struct seg s[NUM];
    for (unsigned i = 0; i < NUM; i++)
        s[i] = (struct seg){DATA, 0, 0}; /* empty: only the length check can stop it */
    put(f, s, NUM, 0);
    pd(f, NUM - 1)->flags |= VRING_DESC_F_NEXT; /* and round again */
    expect_broken(f, "longer than the ring size");
}

static void test_wrap_counter(void **state)
{
    struct fx *f = *state;
    /* Flags of the other lap, or of a used descriptor, are not available. */
    pd(f, 0)->flags = vring_packed_avail_flags(false);
    assert_int_equal(pop(f), 0);
    pd(f, 0)->flags = vring_packed_used_flags(true);
    assert_int_equal(pop(f), 0);
    pd(f, 0)->flags = VRING_PACKED_DESC_F_AVAIL | VRING_PACKED_DESC_F_USED;
    assert_false(vq_has_work(&f->vq));
    assert_null(f->vq.err);

    /* A full lap, then the old lap's flags at position 0 are stale. */
    for (unsigned i = 0; i < NUM; i++) {
        put1(f, DATA, 8, 0, (uint16_t)i);
        assert_int_equal(pop(f), 1);
        vq_push(&f->vq, &f->c, 0);
    }
    vq_publish(&f->vq);
    assert_int_equal(f->vq.last_avail, 0); /* position 0, counter 0 */
    pd(f, 0)->flags = vring_packed_avail_flags(true);
    assert_int_equal(pop(f), 0);
    pd(f, 0)->flags = vring_packed_avail_flags(false);
    assert_int_equal(pop(f), 1);
}

static void test_bad_base(void **state)
{
    struct fx *f = *state;
    init_ring(f, FEAT, VRING_PACKED_WRAP | NUM);
    assert_int_equal(pop(f), -1);
    assert_non_null(strstr(f->vq.err, "beyond the ring size"));
    assert_false(vq_has_work(&f->vq)); /* and reads nothing outside the ring */
    /* A base later in the ring (second lap) works. */
    init_ring(f, FEAT, 5);
    put1(f, DATA, 8, 0, 0);
    assert_int_equal(pop(f), 1);
    vq_push(&f->vq, &f->c, 0);
    vq_publish(&f->vq);
    expect_used(f, 0, 0);
}

static void test_indirect_nested(void **state)
{
    struct fx *f = *state;
    struct vring_packed_desc t[2] = {{.addr = DATA, .len = 8}, {.addr = IND, .len = 16, .flags = IDR}};
    memcpy(f->mem + IND, t, sizeof(t));
    put1(f, IND, sizeof(t), IDR, 0);
    expect_broken(f, "itself indirect");
}

static void test_indirect_with_next(void **state)
{
    struct fx *f = *state;
    struct seg s[2] = {{IND, 16, IDR}, {DATA, 8, W}};
    memset(f->mem + IND, 0, 16);
    put(f, s, 2, 0);
    expect_broken(f, "NEXT");
}

static void test_indirect_in_chain(void **state)
{
    struct fx *f = *state;
    struct seg s[2] = {{DATA, 8, 0}, {IND, 16, IDR}};
    put(f, s, 2, 0);
    expect_broken(f, "indirect inside a chain");
}

static void test_indirect_not_negotiated(void **state)
{
    struct fx *f = *state;
    init_ring(f, F_PACKED, VRING_PACKED_WRAP);
    put1(f, IND, 16, IDR, 0);
    expect_broken(f, "not negotiated");
}

static void test_indirect_bad_len(void **state)
{
    struct fx *f = *state;
    put1(f, IND, 24, IDR, 0);
    expect_broken(f, "multiple of 16");
    init_ring(f, FEAT, VRING_PACKED_WRAP);
    put1(f, IND, 0, IDR, 0);
    expect_broken(f, "multiple of 16");
    init_ring(f, FEAT, VRING_PACKED_WRAP);
    put1(f, IND, 16 * 1025, IDR, 0);
    expect_broken(f, "limit is 1024");
}

static void test_indirect_outside(void **state)
{
    struct fx *f = *state;
    put1(f, MEM - 16, 32, IDR, 0); /* second entry past the end of memory */
    expect_broken(f, "not inside guest memory");
    init_ring(f, FEAT, VRING_PACKED_WRAP);
    put1(f, UINT64_MAX - 15, 32, IDR, 0); /* wraps */
    expect_broken(f, "not inside guest memory");
}

static void test_buffer_outside_and_wrapping(void **state)
{
    struct fx *f = *state;
    put1(f, MEM - 8, 16, 0, 0);
    expect_broken(f, "not inside guest memory");
    init_ring(f, FEAT, VRING_PACKED_WRAP);
    put1(f, UINT64_MAX - 3, 8, W, 0);
    expect_broken(f, "wraps around");
}

static void test_readable_after_writable(void **state)
{
    struct fx *f = *state;
    struct seg s[2] = {{DATA, 8, W}, {DATA + 8, 8, 0}};
    put(f, s, 2, 0);
    expect_broken(f, "follows a device-writable");
    init_ring(f, FEAT, VRING_PACKED_WRAP);
    struct vring_packed_desc t[2] = {{.addr = DATA, .len = 8, .flags = W}, {.addr = DATA, .len = 8}};
    memcpy(f->mem + IND, t, sizeof(t));
    put1(f, IND, sizeof(t), IDR, 0);
    expect_broken(f, "follows a device-writable");

    /* A queue the device only reads (net transmit) reads every buffer,
     * whatever its WRITE flag: DPDK 22.11 marks the header entry of its
     * packed transmit tables writable. Nothing is reported written. */
    init_ring(f, FEAT, VRING_PACKED_WRAP);
    vq_set_reads_only(&f->vq, true);
    put(f, s, 2, 0);
    assert_int_equal(pop(f), 1);
    assert_int_equal(f->c.n_out, 2);
    assert_int_equal(f->c.n_in, 0);
    vq_push(&f->vq, &f->c, 0);
    put1(f, IND, sizeof(t), IDR, 1);
    assert_int_equal(pop(f), 1);
    assert_int_equal(f->c.n_out, 2);
    assert_int_equal(f->c.n_in, 0);
    vq_push(&f->vq, &f->c, 0);
    put1(f, DATA, 64, W, 2); /* one lone buffer */
    assert_int_equal(pop(f), 1);
    assert_int_equal(f->c.n_out, 1);
    assert_int_equal(f->c.n_in, 0);
    vq_push(&f->vq, &f->c, 0);
    vq_publish(&f->vq);
    uint16_t id;
    uint32_t len;
    uint16_t fl;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(get_used(f, &id, &len, &fl), 1);
        assert_int_equal(id, i);
        assert_false(fl & W);
    }
}

static void test_too_many_segments(void **state)
{
    struct fx *f = *state;
    struct iovec iov[2];
    f->c = (struct vq_chain){.iov = iov, .max_iov = 2};
    struct seg s[3] = {{DATA, 8, 0}, {DATA, 8, 0}, {DATA, 8, W}};
    put(f, s, 3, 0);
    expect_broken(f, "more than 2 segments");
}

static void test_length_overflow(void **state)
{
    struct fx *f = *state;
    const char *why;
    int big = memfd_create("test-virtq-packed-big", MFD_CLOEXEC); /* sparse, never touched */
    assert_true(big >= 0);
    assert_int_equal(ftruncate(big, (off_t)(1ull << 32)), 0);
    struct gm_table *t = gm_table_clone(gm_current(&f->gm));
    assert_int_equal(gm_table_add(t, 1ull << 32, 1ull << 32, 0x100000000000ull, 0, big, &why), 0);
    gm_table_free(gm_publish(&f->gm, t), false);

    struct seg s[3] = {{1ull << 32, 0x80000000u, 0},
                       {(1ull << 32) + 0x80000000u, 0x7fffffffu, 0},
                       {DATA, 1, W}};
    put(f, s, 3, 0);
    expect_broken(f, "4 GiB");
    init_ring(f, FEAT, VRING_PACKED_WRAP);
    s[2].len = 0; /* just under the cap is served */
    put(f, s, 3, 0);
    assert_int_equal(pop(f), 1);
    assert_int_equal(f->c.out_len, 0xffffffffu);
}

/* ---- notifications ---- */

static struct vring_packed_event *drv_event(struct fx *f)
{
    return (struct vring_packed_event *)(f->mem + DRV);
}
static struct vring_packed_event *dev_event(struct fx *f)
{
    return (struct vring_packed_event *)(f->mem + DEV);
}

static void complete_one(struct fx *f, uint16_t id)
{
    put1(f, DATA, 8, 0, id);
    assert_int_equal(pop(f), 1);
    vq_push(&f->vq, &f->c, 0);
    vq_publish(&f->vq);
}

static void test_interrupt_suppression(void **state)
{
    struct fx *f = *state;
    init_ring(f, F_PACKED, VRING_PACKED_WRAP);
    drv_event(f)->flags = RING_EVENT_FLAGS_DISABLE;
    complete_one(f, 0);
    assert_false(vq_should_notify(&f->vq));
    drv_event(f)->flags = RING_EVENT_FLAGS_ENABLE;
    complete_one(f, 1);
    assert_true(vq_should_notify(&f->vq));
    /* DESC without EVENT_IDX is read as ENABLE. */
    drv_event(f)->flags = RING_EVENT_FLAGS_DESC;
    complete_one(f, 2);
    assert_true(vq_should_notify(&f->vq));
}

static void test_event_idx(void **state)
{
    struct fx *f = *state;
    drv_event(f)->flags = RING_EVENT_FLAGS_DESC;
    drv_event(f)->off_wrap = VRING_PACKED_WRAP | 0;
    complete_one(f, 0); /* used position 0 */
    assert_true(vq_should_notify(&f->vq)); /* first one always */
    drv_event(f)->off_wrap = VRING_PACKED_WRAP | 3;
    complete_one(f, 1); /* used 1 */
    assert_false(vq_should_notify(&f->vq));
    complete_one(f, 2); /* used 2 */
    assert_false(vq_should_notify(&f->vq));
    complete_one(f, 3); /* used 3: the event */
    assert_true(vq_should_notify(&f->vq));
    /* An event on the next lap: not before the ring wraps. */
    drv_event(f)->off_wrap = 1; /* position 1, counter 0 */
    for (uint16_t i = 4; i < NUM; i++) {
        complete_one(f, i);
        assert_false(vq_should_notify(&f->vq));
    }
    complete_one(f, 0); /* position 0, second lap */
    assert_false(vq_should_notify(&f->vq));
    complete_one(f, 1); /* position 1, second lap */
    assert_true(vq_should_notify(&f->vq));
    /* A batch crossing the event position notifies once. */
    drv_event(f)->off_wrap = 4;
    for (uint16_t i = 2; i < 7; i++) {
        put1(f, DATA, 8, 0, i);
        assert_int_equal(pop(f), 1);
        vq_push(&f->vq, &f->c, 0);
    }
    vq_publish(&f->vq);
    assert_true(vq_should_notify(&f->vq));
    assert_false(vq_should_notify(&f->vq));
    /* An offset beyond the ring names nothing: notify rather than hang. */
    drv_event(f)->off_wrap = 0x7fff;
    complete_one(f, 7);
    assert_true(vq_should_notify(&f->vq));
}

static void test_kick_suppression(void **state)
{
    struct fx *f = *state;
    assert_false(vq_set_notify(&f->vq, false));
    assert_int_equal(dev_event(f)->flags, RING_EVENT_FLAGS_DISABLE);
    assert_false(vq_set_notify(&f->vq, true));
    assert_int_equal(dev_event(f)->flags, RING_EVENT_FLAGS_DESC);
    assert_int_equal(dev_event(f)->off_wrap, VRING_PACKED_WRAP | 0);
    put1(f, DATA, 8, 0, 0);
    assert_true(vq_set_notify(&f->vq, true)); /* work arrived: poll again */
    assert_int_equal(pop(f), 1);
    assert_false(vq_set_notify(&f->vq, true));
    assert_int_equal(dev_event(f)->off_wrap, VRING_PACKED_WRAP | 1);

    init_ring(f, F_PACKED, VRING_PACKED_WRAP);
    assert_false(vq_set_notify(&f->vq, true));
    assert_int_equal(dev_event(f)->flags, RING_EVENT_FLAGS_ENABLE);
}

/* ---- IN_ORDER ---- */

static void test_in_order_packed(void **state)
{
    struct fx *f = *state;
    init_ring(f, FEAT | F_ORDER, VRING_PACKED_WRAP);
    struct vq_chain got[4];
    struct iovec iov[4][MAXIOV];
    struct seg s[2] = {{DATA, 8, 0}, {DATA + 8, 8, W}};
    for (unsigned r = 0; r < 10; r++) { /* several laps */
        for (uint16_t i = 0; i < 4; i++) {
            put(f, s, 1 + (i & 1), i);
            got[i] = (struct vq_chain){.iov = iov[i], .max_iov = MAXIOV};
            assert_int_equal(vq_pop(&f->vq, &got[i]), 1);
        }
        vq_push(&f->vq, &got[2], 2);
        vq_push(&f->vq, &got[1], 1);
        vq_publish(&f->vq);
        expect_no_used(f); /* 0 still outstanding holds everything back */
        vq_push(&f->vq, &got[0], 10);
        vq_publish(&f->vq);
        expect_used(f, 0, 10);
        expect_used(f, 1, 1);
        expect_used(f, 2, 2);
        expect_no_used(f);
        vq_push(&f->vq, &got[3], 3);
        vq_publish(&f->vq);
        expect_used(f, 3, 3);
    }
    assert_null(f->vq.err);
    vq_push(&f->vq, &got[3], 3); /* twice */
    assert_non_null(f->vq.err);
    assert_non_null(strstr(f->vq.err, "not outstanding"));
}

/* IN_ORDER buffers with nothing writable (net tx) share one used
 * descriptor, with the last one's id, at the group's first position. */
static void expect_group(struct fx *f, uint16_t id, uint32_t len, unsigned ndesc)
{
    struct vring_packed_desc *d = pd(f, f->used_pos);
    assert_true(vring_packed_is_used(d->flags, f->used_wrap));
    assert_int_equal(d->id, id);
    assert_int_equal(d->len, len);
    f->used_pos = (uint16_t)(f->used_pos + ndesc);
    if (f->used_pos >= NUM) {
        f->used_pos -= NUM;
        f->used_wrap = !f->used_wrap;
    }
}

/* A device that pushes in pop order (net) keeps no order list: each push
 * is used at once, rx buffers each get their descriptor, tx buffers still
 * share one, and a double completion is still refused. */
static void test_device_in_order_packed(void **state)
{
    struct fx *f = *state;
    init_ring(f, FEAT | F_ORDER, VRING_PACKED_WRAP);
    vq_device_in_order(&f->vq);
    assert_null(f->vq.order);
    struct vq_chain got[4];
    struct iovec iov[4][MAXIOV];
    struct seg rx[2] = {{DATA, 8, W}, {DATA + 8, 8, W}};
    struct seg tx = {DATA, 8, 0};
    for (unsigned r = 0; r < 10; r++) { /* several laps */
        for (uint16_t i = 0; i < 4; i++) {
            if (i < 2)
                put(f, rx, 1 + i, i);
            else
                put(f, &tx, 1, i);
            got[i] = (struct vq_chain){.iov = iov[i], .max_iov = MAXIOV};
            assert_int_equal(vq_pop(&f->vq, &got[i]), 1);
        }
        vq_push(&f->vq, &got[0], 8);
        vq_publish(&f->vq);
        expect_used(f, 0, 8);
        expect_no_used(f);
        for (unsigned i = 1; i < 4; i++)
            vq_push(&f->vq, &got[i], i == 1 ? 16 : 0);
        vq_publish(&f->vq);
        expect_used(f, 1, 16);
        expect_group(f, 3, 0, 2);
        expect_no_used(f);
    }
    assert_null(f->vq.err);
    vq_push(&f->vq, &got[3], 0); /* twice */
    assert_non_null(f->vq.err);
    assert_non_null(strstr(f->vq.err, "not outstanding"));
}

static void test_in_order_packed_batch(void **state)
{
    struct fx *f = *state;
    init_ring(f, FEAT | F_ORDER, VRING_PACKED_WRAP);
    struct vq_chain got[4];
    struct iovec iov[4][MAXIOV];
    struct seg tx[2] = {{DATA, 8, 0}, {DATA + 8, 8, 0}};
    for (unsigned r = 0; r < 6; r++) { /* three laps */
        for (uint16_t i = 0; i < 4; i++) {
            put(f, tx, 1 + (i & 1), i);
            got[i] = (struct vq_chain){.iov = iov[i], .max_iov = MAXIOV};
            assert_int_equal(vq_pop(&f->vq, &got[i]), 1);
        }
        for (unsigned i = 0; i < 4; i++)
            vq_push(&f->vq, &got[i], 0);
        vq_publish(&f->vq);
        uint16_t inner = (uint16_t)((f->used_pos + 1) % NUM); /* inside the group */
        bool inner_wrap = f->used_pos + 1 < NUM ? f->used_wrap : !f->used_wrap;
        expect_group(f, 3, 0, 6);
        assert_false(vring_packed_is_used(pd(f, inner)->flags, inner_wrap));
        expect_no_used(f);
    }
    /* A buffer with writable bytes stands alone: groups [0] [1] [2 3]. */
    struct seg rx = {DATA, 64, W};
    put(f, tx, 1, 0);
    put(f, &rx, 1, 1);
    put(f, tx, 2, 2);
    put(f, tx, 1, 3);
    for (unsigned i = 0; i < 4; i++) {
        got[i] = (struct vq_chain){.iov = iov[i], .max_iov = MAXIOV};
        assert_int_equal(vq_pop(&f->vq, &got[i]), 1);
    }
    vq_push(&f->vq, &got[2], 0);
    vq_push(&f->vq, &got[3], 0);
    vq_push(&f->vq, &got[1], 5);
    vq_push(&f->vq, &got[0], 0);
    vq_publish(&f->vq);
    expect_group(f, 0, 0, 1);
    expect_group(f, 1, 5, 1);
    expect_group(f, 3, 0, 3);
    expect_no_used(f);
    assert_null(f->vq.err);
}

/* Split ring with IN_ORDER: the used ring is filled in avail order. */
#define SDESC 0x4000ull
#define SAVAIL 0x5000ull
#define SUSED 0x6000ull
#define SNUM 8

static void test_in_order_split(void **state)
{
    struct fx *f = *state;
    vq_fini(&f->vq);
    vq_init(&f->vq, SNUM, host(f, SDESC, 16 * SNUM), host(f, SAVAIL, vring_avail_bytes(SNUM) + 2),
            host(f, SUSED, vring_used_bytes(SNUM) + 2), 0, F_ORDER, &f->gm);
    struct vring_desc *d = (struct vring_desc *)(f->mem + SDESC);
    struct vring_avail *av = (struct vring_avail *)(f->mem + SAVAIL);
    struct vring_used *us = (struct vring_used *)(f->mem + SUSED);
    struct vq_chain got[3];
    struct iovec iov[3][MAXIOV];
    for (uint16_t i = 0; i < 3; i++) {
        d[i] = (struct vring_desc){.addr = DATA, .len = 8, .flags = W};
        av->ring[i] = (uint16_t)(2 - i); /* heads 2, 1, 0 */
    }
    __atomic_store_n(&av->idx, 3, __ATOMIC_RELEASE);
    for (unsigned i = 0; i < 3; i++) {
        got[i] = (struct vq_chain){.iov = iov[i], .max_iov = MAXIOV};
        assert_int_equal(vq_pop(&f->vq, &got[i]), 1);
    }
    vq_push(&f->vq, &got[2], 5); /* head 0 first */
    vq_publish(&f->vq);
    assert_int_equal(us->idx, 0);
    vq_push(&f->vq, &got[0], 7); /* head 2: the oldest */
    vq_publish(&f->vq);
    assert_int_equal(us->idx, 1);
    assert_int_equal(us->ring[0].id, 2);
    assert_int_equal(us->ring[0].len, 7);
    vq_push(&f->vq, &got[1], 6);
    vq_publish(&f->vq);
    assert_int_equal(us->idx, 3);
    assert_int_equal(us->ring[1].id, 1);
    assert_int_equal(us->ring[2].id, 0);
    assert_int_equal(us->ring[2].len, 5);

    /* A head offered again while outstanding is refused. */
    av->ring[3] = 4;
    av->ring[4] = 4;
    d[4] = (struct vring_desc){.addr = DATA, .len = 8};
    __atomic_store_n(&av->idx, 5, __ATOMIC_RELEASE);
    assert_int_equal(pop(f), 1);
    assert_int_equal(pop(f), -1);
    assert_non_null(strstr(f->vq.err, "still outstanding"));
}

/* ---- dirty log ---- */

static void test_dirty_log(void **state)
{
    struct fx *f = *state;
    int lfd = memfd_create("test-virtq-packed-log", MFD_CLOEXEC);
    assert_int_equal(ftruncate(lfd, 4096), 0);
    uint8_t *bits = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, lfd, 0);
    assert_true(bits != MAP_FAILED);
    struct dirty_log_map *m = dirty_log_map_new(lfd, MEM / 4096 / 8, 0, NULL);
    assert_non_null(m);
    assert_null(dirty_log_swap(&f->gm.log, m));
    f->vq.log_used = true;
    f->vq.desc_log_gpa = DESC;
    f->vq.dev_event_log_gpa = DEV;

    struct seg s[3] = {{DATA, 16, 0}, {DATA + 0x1000 + 4000, 200, W}, {DATA + 0x10000, 4096, W}};
    put(f, s, 3, 0);
    assert_int_equal(pop(f), 1);
    uint8_t zero[4096] = {0}, want[4096] = {0};
    assert_memory_equal(bits, zero, sizeof(zero));
    vq_push(&f->vq, &f->c, 201); /* both pages of seg 1, the first of seg 2 */
    want[0x11 / 8] |= 1u << (0x11 % 8);
    want[0x12 / 8] |= 1u << (0x12 % 8);
    want[0x20 / 8] |= 1u << (0x20 % 8);
    assert_memory_equal(bits, want, sizeof(want));
    /* The ring page only once the flags handed the descriptor over. */
    vq_publish(&f->vq);
    want[0] |= 1;
    assert_memory_equal(bits, want, sizeof(want));
    memset(bits, 0, 4096);
    vq_set_notify(&f->vq, false); /* device event area, page 1 */
    memset(want, 0, sizeof(want));
    want[0] |= 2;
    assert_memory_equal(bits, want, sizeof(want));
    munmap(bits, 4096);
}

/* ---- inflight area ---- */

static struct vq_inflight_packed *attach_area(struct fx *f)
{
    struct vq_inflight_packed *a = calloc(1, vq_inflight_queue_bytes(NUM));
    assert_non_null(a);
    assert_int_equal(vq_set_inflight(&f->vq, a, vq_inflight_queue_bytes(NUM)), 0);
    assert_int_equal(a->version, 1);
    assert_int_equal(a->desc_num, NUM);
    return a;
}

/* A new backend takes the queue over: the ring is left as it is, and the
 * frontend's base is stale (after a crash QEMU only knows the last one it
 * was told). */
static int take_over(struct fx *f, struct vq_inflight_packed *a, uint64_t features)
{
    vq_fini(&f->vq);
    vq_init(&f->vq, NUM, host(f, DESC, 16 * NUM), host(f, DRV, 4), host(f, DEV, 4),
            VRING_PACKED_WRAP, features, &f->gm);
    return vq_set_inflight(&f->vq, a, vq_inflight_queue_bytes(NUM));
}

static void restart(struct fx *f, struct vq_inflight_packed *a, uint64_t features)
{
    assert_int_equal(take_over(f, a, features), 0);
}

static uint16_t entry_of(const struct vq_inflight_packed *a, uint16_t id)
{
    for (uint16_t e = 0; e < NUM; e++)
        if (a->desc[e].inflight && a->desc[a->desc[e].last].id == id)
            return e;
    fail_msg("id %u is not in flight in the area", id);
    return 0;
}

static unsigned in_flight(const struct vq_inflight_packed *a)
{
    unsigned n = 0;
    for (uint16_t e = 0; e < NUM; e++)
        n += a->desc[e].inflight;
    return n;
}

static void test_inflight_resubmit(void **state)
{
    struct fx *f = *state;
    struct vq_inflight_packed *a = attach_area(f);
    struct seg two[2] = {{DATA, 16, 0}, {DATA + 0x100, 512, W}};
    struct vq_chain got[3];
    struct iovec iov[3][MAXIOV];
    put(f, two, 2, 1);                /* A: positions 0-1 */
    put1(f, DATA + 0x1000, 8, W, 2);  /* B: position 2 */
    put1(f, DATA + 0x2000, 64, W, 3); /* C: position 3 */
    for (int i = 0; i < 3; i++) {
        got[i] = (struct vq_chain){.iov = iov[i], .max_iov = MAXIOV};
        assert_int_equal(vq_pop(&f->vq, &got[i]), 1);
    }
    assert_int_equal(in_flight(a), 3);
    uint16_t ea = entry_of(a, 1);
    assert_int_equal(a->desc[ea].num, 2);
    assert_int_equal(a->desc[ea].addr, DATA);
    assert_int_equal(a->desc[a->desc[ea].last].addr, DATA + 0x100);
    vq_push(&f->vq, &got[1], 8); /* B completes */
    assert_int_equal(in_flight(a), 3); /* until published */
    vq_publish(&f->vq);
    assert_int_equal(in_flight(a), 2);
    assert_int_equal(a->used_idx, 1);
    assert_int_equal(a->old_used_idx, 1);
    expect_used(f, 2, 8);

    a->desc[entry_of(a, 3)].counter = 0; /* oldest first, whatever the pop order */
    restart(f, a, FEAT);
    assert_int_equal(f->vq.n_resubmit, 2);
    assert_int_equal(f->vq.used_idx, VRING_PACKED_WRAP | 1);
    assert_int_equal(f->vq.last_avail, VRING_PACKED_WRAP | 4);
    assert_true(vq_has_work(&f->vq));
    assert_int_equal(pop(f), 1);
    assert_int_equal(f->c.head, 3);
    expect_iov(f, 0, DATA + 0x2000, 64);
    vq_push(&f->vq, &f->c, 64);
    assert_int_equal(pop(f), 1);
    assert_int_equal(f->c.head, 1);
    assert_int_equal(f->c.ndesc, 2);
    assert_int_equal(f->c.out_len, 16);
    assert_int_equal(f->c.in_len, 512);
    expect_iov(f, 1, DATA + 0x100, 512);
    vq_push(&f->vq, &f->c, 512);
    assert_int_equal(pop(f), 0);
    put1(f, DATA, 4, W, 2); /* new buffers continue where the driver is */
    assert_int_equal(pop(f), 1);
    assert_int_equal(f->c.head, 2);
    vq_push(&f->vq, &f->c, 4);
    vq_publish(&f->vq);
    expect_used(f, 3, 64);
    expect_used(f, 1, 512);
    expect_used(f, 2, 4);
    expect_no_used(f);
    assert_int_equal(in_flight(a), 0);
    assert_null(f->vq.err);

    /* Many laps later the area still describes the ring. */
    for (unsigned r = 0; r < 3 * NUM; r++) {
        put1(f, DATA, 8, W, (uint16_t)(r % NUM));
        assert_int_equal(pop(f), 1);
        vq_push(&f->vq, &f->c, 8);
        vq_publish(&f->vq);
        expect_used(f, (uint16_t)(r % NUM), 8);
    }
    restart(f, a, FEAT);
    assert_int_equal(f->vq.n_resubmit, 0);
    assert_int_equal(f->vq.last_avail, f->vq.used_idx);
    assert_int_equal(vring_packed_idx(f->vq.used_idx), f->avail_pos);
    free(a);
}

/* A crash in the middle of a publication: the area has the batch retired
 * but not its old_* state. Whether the batch counts depends on whether the
 * first used descriptor reached the ring. */
static void crash_mid_publish(struct fx *f, bool reached_ring)
{
    struct vq_inflight_packed *a = attach_area(f);
    struct vq_chain got[2];
    struct iovec iov[2][MAXIOV];
    put1(f, DATA, 8, W, 5);
    put1(f, DATA + 0x1000, 8, W, 6);
    for (int i = 0; i < 2; i++) {
        got[i] = (struct vq_chain){.iov = iov[i], .max_iov = MAXIOV};
        assert_int_equal(vq_pop(&f->vq, &got[i]), 1);
    }
    uint16_t e5 = entry_of(a, 5);
    struct vq_inflight_packed before = *a;
    struct vring_packed_desc ring0 = *pd(f, 0);
    vq_push(&f->vq, &got[0], 8);
    vq_publish(&f->vq);
    a->old_free_head = before.old_free_head;
    a->old_used_idx = before.old_used_idx;
    a->old_used_wrap_counter = before.old_used_wrap_counter;
    a->desc[e5].inflight = 1;
    if (!reached_ring)
        *pd(f, 0) = ring0;

    restart(f, a, FEAT);
    assert_null(f->vq.err);
    if (reached_ring) {
        assert_int_equal(f->vq.n_resubmit, 1);
        assert_int_equal(a->desc[e5].inflight, 0);
        assert_int_equal(pop(f), 1);
        assert_int_equal(f->c.head, 6);
        vq_push(&f->vq, &f->c, 8);
        vq_publish(&f->vq);
        expect_used(f, 5, 8);
        expect_used(f, 6, 8);
    } else {
        assert_int_equal(f->vq.n_resubmit, 2);
        assert_int_equal(f->vq.used_idx, VRING_PACKED_WRAP);
        for (uint16_t id = 5; id <= 6; id++) {
            assert_int_equal(pop(f), 1);
            assert_int_equal(f->c.head, id);
            vq_push(&f->vq, &f->c, 8);
        }
        vq_publish(&f->vq);
        expect_used(f, 5, 8);
        expect_used(f, 6, 8);
    }
    assert_int_equal(pop(f), 0);
    expect_no_used(f);
    assert_int_equal(in_flight(a), 0);
    free(a);
}

static void test_inflight_publish_committed(void **state) { crash_mid_publish(*state, true); }
static void test_inflight_publish_rolled_back(void **state) { crash_mid_publish(*state, false); }

/* As crash_mid_publish with the batch in the ring, but the driver took it
 * and refilled the ring, offering the batch's slot again in the next lap
 * before the new backend came: the batch counts, and that slot is the
 * driver's. */
static void test_inflight_publish_refilled(void **state)
{
    struct fx *f = *state;
    struct vq_inflight_packed *a = attach_area(f);
    struct vq_chain got[2];
    struct iovec iov[2][MAXIOV];
    put1(f, DATA, 8, W, 5);
    put1(f, DATA + 0x1000, 8, W, 6);
    for (int i = 0; i < 2; i++) {
        got[i] = (struct vq_chain){.iov = iov[i], .max_iov = MAXIOV};
        assert_int_equal(vq_pop(&f->vq, &got[i]), 1);
    }
    uint16_t e5 = entry_of(a, 5);
    struct vq_inflight_packed before = *a;
    vq_push(&f->vq, &got[0], 8);
    vq_publish(&f->vq);
    a->old_free_head = before.old_free_head;
    a->old_used_idx = before.old_used_idx;
    a->old_used_wrap_counter = before.old_used_wrap_counter;
    a->desc[e5].inflight = 1;
    expect_used(f, 5, 8);
    static const uint16_t ids[] = {0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 11};
    for (unsigned i = 0; i < 11; i++) /* slots 2-11, then 0 of the next lap */
        put1(f, DATA + 0x100u * i, 8, W, ids[i]);
    struct vring_packed_desc slot0 = *pd(f, 0);

    restart(f, a, FEAT);
    assert_null(f->vq.err);
    assert_int_equal(f->vq.used_idx, VRING_PACKED_WRAP | 1);
    assert_int_equal(f->vq.n_resubmit, 1);
    assert_memory_equal(pd(f, 0), &slot0, sizeof(slot0));
    assert_int_equal(pop(f), 1);
    assert_int_equal(f->c.head, 6);
    for (unsigned i = 0; i < 11; i++) {
        assert_int_equal(pop(f), 1);
        assert_int_equal(f->c.head, ids[i]);
    }
    assert_int_equal(pop(f), 0);
    free(a);
}

/* A crash after a buffer's head was marked but before it left the free
 * list: it is not resubmitted but read from the ring again. */
static void test_inflight_pop_uncommitted(void **state)
{
    struct fx *f = *state;
    struct vq_inflight_packed *a = attach_area(f);
    put1(f, DATA, 8, W, 4);
    assert_int_equal(pop(f), 1);
    struct vq_inflight_packed before = *a;
    struct seg two[2] = {{DATA + 0x100, 8, 0}, {DATA + 0x200, 8, W}};
    put(f, two, 2, 9);
    assert_int_equal(pop(f), 1);
    a->free_head = before.free_head;
    a->old_free_head = before.old_free_head;
    assert_int_equal(in_flight(a), 2);

    restart(f, a, FEAT);
    assert_int_equal(f->vq.n_resubmit, 1);
    assert_int_equal(f->vq.last_avail, VRING_PACKED_WRAP | 1);
    assert_int_equal(pop(f), 1);
    assert_int_equal(f->c.head, 4);
    vq_push(&f->vq, &f->c, 8);
    assert_int_equal(pop(f), 1); /* from the ring */
    assert_int_equal(f->c.head, 9);
    assert_int_equal(f->c.ndesc, 2);
    vq_push(&f->vq, &f->c, 8);
    vq_publish(&f->vq);
    expect_used(f, 4, 8);
    expect_used(f, 9, 8);
    assert_int_equal(in_flight(a), 0);
    free(a);
}

/* IN_ORDER buffers sharing one used descriptor all leave the area. */
static void test_inflight_in_order_group(void **state)
{
    struct fx *f = *state;
    init_ring(f, FEAT | F_ORDER, VRING_PACKED_WRAP);
    struct vq_inflight_packed *a = attach_area(f);
    struct vq_chain got[3];
    struct iovec iov[3][MAXIOV];
    for (uint16_t i = 0; i < 3; i++) {
        put1(f, DATA, 8, 0, i);
        got[i] = (struct vq_chain){.iov = iov[i], .max_iov = MAXIOV};
        assert_int_equal(vq_pop(&f->vq, &got[i]), 1);
    }
    put1(f, DATA, 8, 0, 3);
    assert_int_equal(pop(f), 1);
    for (uint16_t i = 0; i < 3; i++)
        vq_push(&f->vq, &got[i], 0);
    vq_publish(&f->vq);
    expect_group(f, 2, 0, 3);
    assert_int_equal(in_flight(a), 1);
    restart(f, a, FEAT | F_ORDER);
    assert_int_equal(f->vq.n_resubmit, 1);
    assert_int_equal(pop(f), 1);
    assert_int_equal(f->c.head, 3);
    assert_int_equal(f->vq.last_avail, VRING_PACKED_WRAP | 4);
    free(a);
}

/* The frontend can write the area at any time: the data path never
 * follows its links, so scribbling on it only spoils its own recovery. */
static void test_inflight_scribbled(void **state)
{
    struct fx *f = *state;
    struct vq_inflight_packed *a = attach_area(f);
    memset(a->desc, 0xff, NUM * sizeof(a->desc[0]));
    for (unsigned r = 0; r < 2 * NUM; r++) {
        put1(f, DATA, 8, W, (uint16_t)(r % NUM));
        assert_int_equal(pop(f), 1);
        vq_push(&f->vq, &f->c, 8);
        vq_publish(&f->vq);
        expect_used(f, (uint16_t)(r % NUM), 8);
    }
    assert_null(f->vq.err);
    free(a);
}

static void expect_refused(struct fx *f, struct vq_inflight_packed *a, const char *needle)
{
    if (take_over(f, a, FEAT) != -1 || !f->vq.err)
        fail_msg("an area that should be refused (\"%s\") was taken", needle);
    if (!strstr(f->vq.err, needle))
        fail_msg("error \"%s\" does not mention \"%s\"", f->vq.err, needle);
}

static void test_inflight_malformed(void **state)
{
    struct fx *f = *state;
    struct vq_inflight_packed *a = attach_area(f);
    put1(f, DATA, 8, W, 1);
    assert_int_equal(pop(f), 1);
    put1(f, DATA, 8, W, 2);
    assert_int_equal(pop(f), 1);
    struct vq_inflight_packed good = *a;
    struct vq_inflight_pdesc gdesc[NUM];
    memcpy(gdesc, a->desc, sizeof(gdesc));
#define RESET() (*a = good, memcpy(a->desc, gdesc, sizeof(gdesc)))

    a->version = 7;
    expect_refused(f, a, "version 7");
    RESET();
    a->desc_num = NUM + 1;
    expect_refused(f, a, "tracks 13 descriptors, the ring has 12");
    RESET();
    a->used_idx = a->old_used_idx = NUM;
    expect_refused(f, a, "is not a position");
    RESET();
    a->desc[entry_of(a, 2)].num = 2; /* runs into the free list */
    expect_refused(f, a, "in-flight chain");
    RESET();
    a->desc[entry_of(a, 2)].num = NUM + 1;
    expect_refused(f, a, "in-flight chain");
    RESET();
    a->desc[entry_of(a, 1)].last = 9;
    expect_refused(f, a, "in-flight chain");
    RESET();
    a->desc[entry_of(a, 1)].num = 1;
    a->desc[entry_of(a, 1)].next = entry_of(a, 2);
    a->desc[entry_of(a, 1)].num = 2;
    a->desc[entry_of(a, 1)].last = entry_of(a, 2);
    expect_refused(f, a, "in-flight chain"); /* two chains share an entry */
    RESET();
    a->desc[entry_of(a, 1)].addr = MEM + 0x1000; /* checked like a ring descriptor */
    restart(f, a, FEAT);
    expect_broken(f, "resubmitted buffer in inflight entry");
#undef RESET
    free(a);

    /* An area sized for split rings only (an older sidecored's): the ring
     * runs without tracking. */
    init_ring(f, FEAT, VRING_PACKED_WRAP);
    void *small = calloc(1, vq_inflight_split_bytes(NUM));
    assert_int_equal(vq_set_inflight(&f->vq, small, vq_inflight_split_bytes(NUM)), 0);
    assert_null(f->vq.pinf);
    put1(f, DATA, 8, W, 0);
    assert_int_equal(pop(f), 1);
    free(small);
}

/* ---- crash record (frontends without an inflight area) ---- */

/* A new backend takes the ring over as after a crash: the ring is left as
 * it is and the frontend resends base. */
static bool resume_take_over(struct fx *f, struct vq_resume *r, uint16_t base)
{
    vq_fini(&f->vq);
    vq_init(&f->vq, NUM, host(f, DESC, 16 * NUM), host(f, DRV, 4), host(f, DEV, 4), base, FEAT,
            &f->gm);
    return vq_resume_start(&f->vq, r, DESC, base);
}

/* A fresh record on the running ring; buffers 1 (two descriptors), 2 and 3
 * taken, 1 and 2 returned: the record then holds position 3 of the first
 * lap. Buffer 3 stays in *held (iovecs in iov). */
static struct vq_resume *run_three(struct fx *f, struct vq_chain *held, struct iovec *iov)
{
    struct vq_resume *r = calloc(1, vq_resume_bytes());
    assert_non_null(r);
    struct seg two[2] = {{DATA, 16, 0}, {DATA + 0x100, 512, W}};
    struct vq_chain got[2];
    struct iovec iov2[2][MAXIOV];
    assert_false(vq_resume_start(&f->vq, r, DESC, VRING_PACKED_WRAP));
    assert_int_equal(r->magic, VQ_RESUME_MAGIC);
    put(f, two, 2, 1);
    put1(f, DATA + 0x1000, 8, W, 2);
    put1(f, DATA + 0x2000, 64, W, 3);
    for (int i = 0; i < 2; i++) {
        got[i] = (struct vq_chain){.iov = iov2[i], .max_iov = MAXIOV};
        assert_int_equal(vq_pop(&f->vq, &got[i]), 1);
    }
    *held = (struct vq_chain){.iov = iov, .max_iov = MAXIOV};
    assert_int_equal(vq_pop(&f->vq, held), 1);
    assert_int_equal(held->head, 3);
    vq_push(&f->vq, &got[0], 512);
    vq_push(&f->vq, &got[1], 8);
    vq_publish(&f->vq);
    expect_used(f, 1, 512);
    expect_used(f, 2, 8);
    assert_int_equal(r->used, VRING_PACKED_WRAP | 3);
    assert_int_equal(r->old_used, VRING_PACKED_WRAP | 3);
    return r;
}

static void test_resume_after_crash(void **state)
{
    struct fx *f = *state;
    struct vq_chain held;
    struct iovec iov[MAXIOV];
    struct vq_resume *r = run_three(f, &held, iov);
    assert_true(resume_take_over(f, r, VRING_PACKED_WRAP));
    assert_int_equal(f->vq.last_avail, VRING_PACKED_WRAP | 3);
    assert_int_equal(f->vq.used_idx, VRING_PACKED_WRAP | 3);
    assert_int_equal(pop(f), 1); /* buffer 3, which the crashed backend held */
    assert_int_equal(f->c.head, 3);
    expect_iov(f, 0, DATA + 0x2000, 64);
    vq_push(&f->vq, &f->c, 64);
    put1(f, DATA, 8, W, 4);
    assert_int_equal(pop(f), 1);
    assert_int_equal(f->c.head, 4);
    vq_push(&f->vq, &f->c, 8);
    vq_publish(&f->vq);
    expect_used(f, 3, 64);
    expect_used(f, 4, 8);
    expect_no_used(f);
    assert_int_equal(r->old_used, VRING_PACKED_WRAP | 5);

    /* A stop without GET_VRING_BASE (hangup, exit): the frontend resends
     * its old base, the record still says where the ring is. */
    vq_resume_stop(&f->vq);
    assert_true(resume_take_over(f, r, VRING_PACKED_WRAP));
    assert_int_equal(f->vq.last_avail, VRING_PACKED_WRAP | 5);
    /* GET_VRING_BASE told the frontend: the record is void. */
    vq_resume_stop(&f->vq);
    vq_resume_forget(r);
    assert_int_equal(r->magic, 0);
    assert_false(resume_take_over(f, r, VRING_PACKED_WRAP));
    assert_int_equal(f->vq.last_avail, VRING_PACKED_WRAP);
    assert_int_equal(r->magic, VQ_RESUME_MAGIC);
    assert_int_equal(r->start, VRING_PACKED_WRAP);
    assert_null(f->vq.err);
    vq_fini(&f->vq);
    free(r);
}

/* The record is for another ring, or another start of this one, or it
 * does not hold together. */
static void test_resume_other_ring(void **state)
{
    struct fx *f = *state;
    struct vq_chain held;
    struct iovec iov[MAXIOV];
    struct vq_resume *r = run_three(f, &held, iov);
    struct vq_resume saved = *r;
    vq_fini(&f->vq);
    vq_init(&f->vq, NUM, host(f, DESC, 16 * NUM), host(f, DRV, 4), host(f, DEV, 4),
            VRING_PACKED_WRAP, FEAT, &f->gm);
    assert_false(vq_resume_start(&f->vq, r, DESC + 0x10000, VRING_PACKED_WRAP));
    assert_int_equal(f->vq.last_avail, VRING_PACKED_WRAP);
    *r = saved;
    assert_false(resume_take_over(f, r, VRING_PACKED_WRAP | 1));
    assert_int_equal(f->vq.last_avail, VRING_PACKED_WRAP | 1);
    *r = saved;
    r->num = NUM - 1;
    assert_false(resume_take_over(f, r, VRING_PACKED_WRAP));
    *r = saved;
    r->old_used = NUM; /* not a position in the ring */
    assert_false(resume_take_over(f, r, VRING_PACKED_WRAP));
    *r = saved;
    r->old_used = VRING_PACKED_WRAP | 1; /* a publication under way, of nothing */
    r->pub_n = 0;
    assert_false(resume_take_over(f, r, VRING_PACKED_WRAP));
    assert_int_equal(f->vq.last_avail, VRING_PACKED_WRAP);
    assert_int_equal(f->vq.used_idx, VRING_PACKED_WRAP);
    /* Split rings keep their position in used->idx. */
    *r = saved;
    vq_fini(&f->vq);
    vq_init(&f->vq, SNUM, host(f, SDESC, 16 * SNUM), host(f, SAVAIL, 4 + 2 * SNUM),
            host(f, SUSED, 4 + 8 * SNUM), 0, FEAT & ~F_PACKED, &f->gm);
    assert_false(vq_resume_start(&f->vq, r, DESC, VRING_PACKED_WRAP));
    assert_null(f->vq.resume);
    vq_fini(&f->vq);
    free(r);
}

/* The driver reset the device while no backend ran and set the ring up
 * again where it was: a fresh ring, whatever the record says. */
static void test_resume_fresh_ring(void **state)
{
    struct fx *f = *state;
    struct vq_chain held;
    struct iovec iov[MAXIOV];
    struct vq_resume *r = run_three(f, &held, iov);
    memset(f->mem + DESC, 0, 16 * NUM);
    f->avail_pos = f->used_pos = 0;
    f->avail_wrap = f->used_wrap = true;
    put1(f, DATA, 8, W, 7);
    put1(f, DATA + 0x1000, 8, W, 8);
    assert_false(resume_take_over(f, r, VRING_PACKED_WRAP));
    assert_int_equal(pop(f), 1);
    assert_int_equal(f->c.head, 7);
    vq_push(&f->vq, &f->c, 8);
    vq_publish(&f->vq);
    expect_used(f, 7, 8);
    vq_fini(&f->vq);
    free(r);
}

/* A crash in the middle of a publication of buffers 3 and 4 (the record's
 * old_used not yet moved): its second used descriptor is in the ring; its
 * first (written last) did not land (ROLLED), landed (LANDED), or landed
 * and the driver took both and refilled the ring, offering the first slot
 * again in the next lap (REFILLED). The driver gets both once, and what it
 * offered since is not overwritten. */
enum mid_publish { ROLLED, LANDED, REFILLED };

static void resume_mid_publish(struct fx *f, enum mid_publish how)
{
    struct vq_chain held;
    struct iovec iov[MAXIOV];
    struct vq_resume *r = run_three(f, &held, iov);
    struct vring_packed_desc slot3 = *pd(f, 3);
    put1(f, DATA + 0x3000, 8, W, 4);
    assert_int_equal(pop(f), 1);
    assert_int_equal(f->c.head, 4);
    vq_push(&f->vq, &held, 64);
    vq_push(&f->vq, &f->c, 8);
    vq_publish(&f->vq);
    assert_int_equal(r->pub_n, 2);
    r->old_used = VRING_PACKED_WRAP | 3;
    if (how == ROLLED)
        *pd(f, 3) = slot3;
    if (how == REFILLED) {
        expect_used(f, 3, 64);
        expect_used(f, 4, 8);
        for (uint16_t id = 0; id <= 10; id++) /* slots 5-11, then 0-3 of the next lap */
            put1(f, DATA + 0x100u * id, 8, W, id);
    }
    struct vring_packed_desc before3 = *pd(f, 3);
    assert_true(resume_take_over(f, r, VRING_PACKED_WRAP));
    assert_int_equal(f->vq.used_idx, VRING_PACKED_WRAP | 5);
    assert_int_equal(f->vq.last_avail, VRING_PACKED_WRAP | 5);
    assert_int_equal(r->old_used, VRING_PACKED_WRAP | 5);
    if (how == REFILLED) {
        assert_memory_equal(pd(f, 3), &before3, sizeof(before3));
        for (uint16_t id = 0; id <= 10; id++) {
            assert_int_equal(pop(f), 1);
            assert_int_equal(f->c.head, id);
        }
    } else {
        expect_used(f, 3, 64);
        expect_used(f, 4, 8);
        expect_no_used(f);
        assert_int_equal(pop(f), 0);
        put1(f, DATA, 8, W, 5);
        assert_int_equal(pop(f), 1);
        assert_int_equal(f->c.head, 5);
    }
    assert_int_equal(pop(f), 0);
    assert_null(f->vq.err);
    vq_fini(&f->vq);
    free(r);
}

static void test_resume_publish_landed(void **state) { resume_mid_publish(*state, LANDED); }
static void test_resume_publish_rolled_forward(void **state) { resume_mid_publish(*state, ROLLED); }
static void test_resume_publish_refilled(void **state) { resume_mid_publish(*state, REFILLED); }

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_direct_chain),
        T(test_indirect_spanning),
        T(test_lone_descriptor),
        T(test_many_laps_out_of_order),
        T(test_full_ring_chain),
        T(test_id_out_of_range),
        T(test_id_from_last_descriptor),
        T(test_duplicate_id),
        T(test_chain_longer_than_ring),
        T(test_wrap_counter),
        T(test_bad_base),
        T(test_indirect_nested),
        T(test_indirect_with_next),
        T(test_indirect_in_chain),
        T(test_indirect_not_negotiated),
        T(test_indirect_bad_len),
        T(test_indirect_outside),
        T(test_buffer_outside_and_wrapping),
        T(test_readable_after_writable),
        T(test_too_many_segments),
        T(test_length_overflow),
        T(test_interrupt_suppression),
        T(test_event_idx),
        T(test_kick_suppression),
        T(test_in_order_packed),
        T(test_device_in_order_packed),
        T(test_in_order_packed_batch),
        T(test_in_order_split),
        T(test_dirty_log),
        T(test_inflight_resubmit),
        T(test_inflight_publish_committed),
        T(test_inflight_publish_rolled_back),
        T(test_inflight_publish_refilled),
        T(test_inflight_pop_uncommitted),
        T(test_inflight_in_order_group),
        T(test_inflight_scribbled),
        T(test_inflight_malformed),
        T(test_resume_after_crash),
        T(test_resume_other_ring),
        T(test_resume_fresh_ring),
        T(test_resume_publish_landed),
        T(test_resume_publish_rolled_forward),
        T(test_resume_publish_refilled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
