/* VPRI shared-memory ABI (docs/VPRI.md): the layouts and message payloads
 * both the daemon and a frontend use. Fixed-width types only; every offset
 * is computed from the message payload by both sides, never read back from
 * shared memory. Everything the frontend can write is hostile to the daemon.
 *
 * Map memfd (VPRI_SET_MAP): [PA-BITMAP][pad to 4 KiB][DMA-access table].
 *   PA-BITMAP: 64-bit little-endian words; guest page p (gpa >> 12) has the
 *   2-bit attribute (word[p / 32] >> (2 * (p % 32))) & 3.
 *   DMA table: one uint16_t per page p, saturating access count.
 * Channel memfd (VPRI_SET_CHANNEL): [ctrl: 128 B][queue slots: 64 B each]
 *   [IOPF ring: entries * 32 B]. */
#ifndef SC_VPRI_ABI_H
#define SC_VPRI_ABI_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Protocol feature bit and front-end request ids (docs/VPRI.md, "Numbers"). */
#define VHOST_USER_PROTOCOL_F_VPRI 60
#define VHOST_USER_VPRI_SET_MAP 1024
#define VHOST_USER_VPRI_SET_CHANNEL 1025

#define VPRI_PAGE_SHIFT 12
#define VPRI_PAGE_SIZE (1ull << VPRI_PAGE_SHIFT)
#define VPRI_PAGES_PER_WORD 32u

/* Page attributes. 3 is read-write too, so "writable" is the high bit and
 * "readable" is either bit. */
#define VPRI_PA_NONE 0u
#define VPRI_PA_RO 1u
#define VPRI_PA_RW 2u
#define VPRI_PA_RW_ALT 3u

/* Access a record asks for: what the device needs to do to the page. */
#define VPRI_ACC_READ 1u  /* device reads guest memory (driver's OUT buffers) */
#define VPRI_ACC_WRITE 2u /* device writes guest memory (IN buffers) */

#define VPRI_MAX_PAGES (1ull << 28)  /* 1 TiB of guest-physical space */
#define VPRI_MAX_RING (1u << 16)
#define VPRI_MAX_QUEUES 1024u
#define VPRI_DMA_MAX 0xffffu

/* VPRI_SET_MAP payload; one fd: the map memfd, sealed against shrinking. */
struct vpri_map_msg {
    uint64_t npages;      /* pages covered: GPAs [0, npages * 4096) */
    uint64_t mmap_size;   /* >= vpri_map_bytes(npages) */
    uint64_t mmap_offset; /* page aligned */
};

/* VPRI_SET_CHANNEL payload; three fds: channel memfd (sealed against
 * shrinking), fault eventfd (device -> frontend), resolve eventfd
 * (frontend -> device). */
struct vpri_chan_msg {
    uint32_t device_id;   /* copied into every record */
    uint32_t nqueues;     /* queue slots; >= the device's queue count */
    uint32_t ring_entries; /* power of two, 2..VPRI_MAX_RING */
    uint32_t flags;       /* 0 */
    uint64_t mmap_size;   /* >= vpri_chan_bytes(nqueues, ring_entries) */
    uint64_t mmap_offset; /* page aligned */
};

/* Channel control block. Line 0 is written by the frontend only. */
struct vpri_ctrl {
    _Atomic uint64_t cons;        /* records handled (not merely read) */
    _Atomic uint64_t resolve_gen; /* bumped after any page is made resident */
    uint8_t pad0[48];
    uint8_t pad1[64];             /* reserved for the device */
};

/* Per-queue slot, written by the device only. epoch = gen << 1 | quiet. */
struct vpri_qslot {
    _Atomic uint64_t epoch;
    _Atomic uint64_t faults;   /* records posted */
    _Atomic uint64_t parked;   /* requests parked now */
    _Atomic uint64_t resumed;  /* parked requests that went on */
    _Atomic uint64_t lookups;  /* chains checked against the bitmap */
    _Atomic uint64_t dropped;  /* net rx: frames dropped while the queue was parked */
    _Atomic uint64_t ring_full; /* posts that found the IOPF ring full (retried) */
    _Atomic uint64_t wait_ns;   /* parked time of the resumed requests, summed */
};

#define VPRI_EPOCH_QUIET 1ull

/* One I/O page fault. seq = ticket + 1 (low 32 bits) marks it complete. */
struct vpri_rec {
    _Atomic uint32_t seq;
    uint16_t queue;
    uint8_t access;  /* VPRI_ACC_* */
    uint8_t flags;   /* 0 */
    uint32_t device; /* vpri_chan_msg.device_id */
    uint32_t len;    /* bytes from gpa, all missing pages of one buffer run */
    uint64_t gpa;    /* first byte that lacks the access */
    uint64_t req_id; /* device-chosen, unique while the request is parked */
};

_Static_assert(sizeof(struct vpri_map_msg) == 24, "map message payload");
_Static_assert(sizeof(struct vpri_chan_msg) == 32, "channel message payload");
_Static_assert(sizeof(struct vpri_ctrl) == 128, "control block");
_Static_assert(sizeof(struct vpri_qslot) == 64, "queue slot is one cache line");
_Static_assert(sizeof(struct vpri_rec) == 32, "IOPF record");
_Static_assert(offsetof(struct vpri_rec, gpa) == 16, "IOPF record layout");
_Static_assert(sizeof(_Atomic uint64_t) == 8, "lock-free 64-bit atomics");

static inline uint64_t vpri_align(uint64_t x, uint64_t a)
{
    return (x + a - 1) & ~(a - 1);
}

static inline uint64_t vpri_bitmap_bytes(uint64_t npages)
{
    return vpri_align(npages, VPRI_PAGES_PER_WORD) / VPRI_PAGES_PER_WORD * 8;
}

static inline uint64_t vpri_table_offset(uint64_t npages)
{
    return vpri_align(vpri_bitmap_bytes(npages), VPRI_PAGE_SIZE);
}

static inline uint64_t vpri_map_bytes(uint64_t npages)
{
    return vpri_align(vpri_table_offset(npages) + npages * 2, VPRI_PAGE_SIZE);
}

static inline uint64_t vpri_slots_offset(void)
{
    return sizeof(struct vpri_ctrl);
}

static inline uint64_t vpri_ring_offset(uint32_t nqueues)
{
    return vpri_slots_offset() + (uint64_t)nqueues * sizeof(struct vpri_qslot);
}

static inline uint64_t vpri_chan_bytes(uint32_t nqueues, uint32_t entries)
{
    return vpri_align(vpri_ring_offset(nqueues) + (uint64_t)entries * sizeof(struct vpri_rec),
                      VPRI_PAGE_SIZE);
}

/* Attribute of page p (p < npages). */
static inline unsigned vpri_pa_get(const _Atomic uint64_t *bits, uint64_t p)
{
    uint64_t w = atomic_load_explicit(&bits[p / VPRI_PAGES_PER_WORD], memory_order_relaxed);
    return (unsigned)(w >> (2 * (p % VPRI_PAGES_PER_WORD))) & 3u;
}

/* Owner side: set page p's attribute (atomic against other setters). */
static inline void vpri_pa_set(_Atomic uint64_t *bits, uint64_t p, unsigned pa)
{
    _Atomic uint64_t *w = &bits[p / VPRI_PAGES_PER_WORD];
    unsigned sh = 2 * (p % VPRI_PAGES_PER_WORD);
    uint64_t old = atomic_load_explicit(w, memory_order_relaxed), nw;
    do
        nw = (old & ~(3ull << sh)) | ((uint64_t)(pa & 3u) << sh);
    while (!atomic_compare_exchange_weak_explicit(w, &old, nw, memory_order_release,
                                                  memory_order_relaxed));
}

#endif
