/* Virtqueue engine, device side: split rings, and packed rings
 * (VIRTIO_F_RING_PACKED, virtq_packed*.c) behind the same entry points with
 * the same checks; VIRTIO_F_IN_ORDER for both (virtq_order.c).
 *
 * vq_pop walks one descriptor chain and turns it into host iovecs. Every field
 * the driver controls is checked: the available index may not run more than
 * the ring size ahead of what we consumed; heads and next indices must be
 * below the ring size; a chain may not be longer than the ring size (loops);
 * indirect tables must be a whole number of descriptors, inside guest memory,
 * not nested and not longer than the ring size; each buffer must lie entirely
 * inside mapped guest memory (buffers spanning adjacent regions become several
 * iovecs); the total length is capped (VQ_MAX_CHAIN_BYTES) without overflow;
 * device-readable buffers must precede device-writable ones. A violation puts
 * the queue in the error state with a reason (vq->err) and vq_pop returns -1
 * from then on; the device decides what to do (stop itself, NEEDS_RESET).
 *
 * Completions are batched: vq_push records used elements, vq_publish writes
 * them and makes them visible with one release store of used->idx, and vq_should_notify
 * applies EVENT_IDX / NO_INTERRUPT suppression. Dirty logging of the written
 * buffers and of the used ring happens inside vq_push / vq_publish.
 *
 * Single-threaded: one sidecore owns a started queue at a time. */
#ifndef SC_VIRTQ_H
#define SC_VIRTQ_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "../mem/guestmem.h"
#include "inflight.h"
#include "virtio_packed.h"
#include "virtio_spec.h"

#define VQ_MAX_CHAIN_BYTES (1ull << 32) /* a chain's total length stays < 4 GiB */

struct vq_chain {
    /* Filled by the caller before vq_pop: */
    struct iovec *iov; /* max_iov entries */
    uint64_t *gpa;     /* max_iov entries: guest address of each iovec */
    uint16_t max_iov;
    /* Filled by vq_pop: */
    uint16_t head;   /* id to give back to vq_push */
    uint16_t ndesc;  /* descriptor-table slots the chain occupies (for IN_ORDER
                      * accounting): entries of an indirect table not counted */
    uint16_t n_out;  /* iov[0 .. n_out) are device-readable */
    uint16_t n_in;   /* iov[n_out .. n_out+n_in) are device-writable */
    uint32_t out_len;
    uint32_t in_len;
};

#define VQ_HEADS 64u /* avail entries copied ahead (power of two) */
#define VQ_USED_SHADOW 64u /* used elements held back for vq_publish */

struct virtq {
    uint16_t num; /* ring size, power of two */
    struct vring_desc *desc;
    struct vring_avail *avail;
    struct vring_used *used;
    uint64_t used_log_gpa; /* guest address of the used ring for dirty logging */
    bool log_used;         /* VHOST_VRING_F_LOG was set in SET_VRING_ADDR */

    uint16_t last_avail; /* next avail entry we will consume */
    uint16_t avail_seen; /* avail->idx as last read: avoids re-reading the
                          * driver's hot cache line for every chain */
    /* Split ring: copies of the avail entries [last_avail, heads_end), taken
     * a run at a time. The driver keeps appending to the line it shares
     * with them, so reading each entry when it is needed (and again for
     * the prefetches ahead of it) missed nearly every time. Each entry is
     * read from guest memory once. */
    uint16_t heads_end;
    uint16_t heads[VQ_HEADS];
    bool settle_on;     /* vq_set_settle */
    uint32_t region_hint; /* guest memory region of the last buffer (guestmem.h) */
    uint8_t settle_left; /* calls still answered 0 without looking */
    uint16_t used_idx;   /* next used entry we will write (shadow) */
    uint16_t pub_used;   /* used->idx as last published */
    /* Split ring: used elements [used_written, used_idx) are recorded in
     * used_shadow and written at vq_publish (or when it fills). */
    uint16_t used_written;
    struct vring_used_elem used_shadow[VQ_USED_SHADOW];
    uint16_t signalled_used;
    bool signalled_valid;

    bool event_idx;
    bool indirect;
    bool reads_only;    /* vq_set_reads_only */
    bool notify_on;     /* guest kicks currently enabled */

    struct guestmem *gm;
    struct vq_inflight *inflight; /* split ring; NULL without INFLIGHT_SHMFD */
    struct vq_inflight_packed *pinf; /* packed ring; NULL without INFLIGHT_SHMFD */
    struct vq_resume *resume; /* packed ring without an inflight area; may be NULL */
    bool shadow_in_record;    /* shadow lives in a crash record (not freed here) */
    uint16_t *pinf_next; /* our copy of the area's entry links (never read back) */
    uint16_t pinf_free;  /* first free entry of the area (num: none) */
    uint64_t inflight_counter;
    /* Left inflight by a previous backend, oldest first: split heads, or
     * packed area entries with their chain's descriptor count. */
    struct vq_resubmit {
        uint16_t head;
        uint16_t ndesc;
    } *resubmit;
    uint16_t n_resubmit;
    uint16_t resubmit_pos; /* resubmit[resubmit_pos .. n_resubmit) still to hand out */
    uint16_t batch_head;   /* head of the last vq_push, for inflight last_batch_head */
    const char *err;              /* non-NULL: queue is broken, this says why */
    char err_buf[160];

    /* Packed ring (VIRTIO_F_RING_PACKED) and IN_ORDER, see virtq_packed.c and
     * virtq_order.c. For a packed ring desc/avail/used above are unused;
     * last_avail, used_idx, pub_used and signalled_used hold a ring
     * position with its wrap counter in bit 15 (virtio_packed.h). */
    bool ext;      /* packed or in_order: the entry points take the slower path */
    bool packed;
    bool in_order;
    struct vring_packed_desc *pdesc;
    struct vring_packed_event *drv_event; /* driver area: its interrupt wishes */
    struct vring_packed_event *dev_event; /* device area: our kick wishes */
    uint64_t desc_log_gpa;      /* guest address of pdesc, for dirty logging */
    uint64_t dev_event_log_gpa; /* guest address of dev_event */
    struct vq_id_state *ids;    /* per buffer id (ring size entries) */
    uint16_t *order;            /* IN_ORDER: ids in the order they were popped
                                 * (none after vq_device_in_order) */
    uint16_t order_head, order_len;
    struct vq_used_shadow *shadow; /* packed: used descriptors written, flags not yet */
    uint16_t n_shadow;
};

/* Control path: set up a queue on host ring addresses (already translated
 * and size-checked by the transport; num a power of two). last_avail and
 * used_idx start at base. Overwrites the whole struct: call vq_fini first
 * when reusing one that had an inflight area or a packed / IN_ORDER ring.
 * With VIRTIO_F_RING_PACKED in features, desc is the descriptor ring, avail
 * the driver event area and used the device event area; num need not be a
 * power of two, and base is a position with its wrap counter in bit 15.
 * Packed and IN_ORDER queues allocate per-id state; when that fails the
 * queue starts in the error state. */
void vq_init(struct virtq *vq, uint16_t num, void *desc, void *avail, void *used,
             uint16_t base, uint64_t features, struct guestmem *gm);

/* Attach the queue's inflight area of bytes bytes (after vq_init, before
 * the first pop). Requests it holds in flight are handed out again by vq_pop
 * before new ones, oldest first. A packed ring resumes at the area's used
 * position, whatever base the frontend gave (a frontend cannot know it
 * after a backend crash). Returns 0, or -1 (vq->err set) when the area is
 * malformed or too small. */
int vq_set_inflight(struct virtq *vq, void *area, uint64_t bytes);

/* A packed ring's crash record, in memory that outlives the process (a
 * file the transport maps), for frontends that keep no inflight area:
 * QEMU's vhost-user-net. After a backend crash or restart such a frontend
 * can only send again the base it gave at the ring's start, and a packed
 * ring holds no index that says how far the device got (a split ring's
 * used->idx does). The next backend resumes at the record's used
 * position instead, re-reading the buffers the crashed one had taken and
 * not returned, and finishes a publication the crash cut short
 * (virtq_resume.c). Each queue's record takes vq_resume_bytes() (mostly
 * untouched: the used descriptors of one publication). */
#define VQ_RESUME_MAGIC 0x53435231u /* "SCR1": layout version 1 */
struct vq_resume {
    uint32_t magic;    /* VQ_RESUME_MAGIC while it describes a running ring */
    uint16_t num;
    uint16_t start;    /* the frontend's base (position | wrap << 15) at the start */
    uint64_t ring;     /* the frontend's address of the descriptor ring */
    uint16_t used;     /* position | wrap << 15 after the publication under way */
    uint16_t old_used; /* ... after the last completed one */
    uint16_t pub_n;    /* used buffers in the publication under way */
    uint8_t pad[42];
};
uint64_t vq_resume_bytes(void);
/* The part of a record a ring of num entries touches (page-rounded). */
uint64_t vq_resume_bytes_for(uint32_t num);

/* Control path, after vq_init (and vq_set_inflight) of a ring whose
 * frontend gave base frontend_base for the ring at frontend address ring:
 * when the record r (vq_resume_bytes() of memory) was left running on that
 * same ring by a crashed backend, resumes at its used position (true);
 * then r describes this queue until vq_resume_stop. Not for split rings or
 * rings with an inflight area (no effect). A ring the driver set up anew
 * (no descriptor marked used since) is never resumed, whatever r says. */
bool vq_resume_start(struct virtq *vq, struct vq_resume *r, uint64_t ring,
                     uint16_t frontend_base);
/* The queue stopped: its record takes no more writes and keeps the last
 * position, for a frontend that lost its backend without asking for the
 * base (hangup, daemon exit or restart) and will resend its old one. */
void vq_resume_stop(struct virtq *vq);
/* The frontend learned the ring's position (GET_VRING_BASE): r no longer
 * applies. NULL: nothing. */
void vq_resume_forget(struct vq_resume *r);

/* Control path: release what vq_set_inflight allocated. Call when the queue
 * is stopped for good or before vq_init reuses the struct. */
void vq_fini(struct virtq *vq);

/* Control path, after vq_init and before the first vq_pop: the device
 * promises to push every chain in the order it popped it (net queues). An
 * IN_ORDER split ring then needs no per-buffer bookkeeping and takes the
 * plain entry points (a testpmd sender moved 8% more frames); a packed one
 * keeps no order list. */
void vq_device_in_order(struct virtq *vq);

/* 1: chain returned in *c; 0: nothing available; -1: queue broken (vq->err). */
int vq_pop(struct virtq *vq, struct vq_chain *c);

/* Split ring, for devices that complete requests in the poll that takes
 * them (blk): after a look at avail->idx found a short run of new buffers
 * (3 to 15), the next VQ_SETTLE_POLLS calls of vq_pop answer 0 without
 * looking again, so a driver that is streaming requests adds to the run
 * before the device pays the misses on the index, the entries and the
 * descriptors again. A driver with one or two requests outstanding is
 * answered at once. vq_has_work still sees everything. Off after vq_init. */
#define VQ_SETTLE_POLLS 12u
void vq_set_settle(struct virtq *vq, bool on);

/* For a queue whose buffers the device only reads (net transmit): every
 * descriptor counts as device-readable, its WRITE flag ignored, as DPDK's
 * vhost library does (DPDK 22.11's packed transmit tables mark the header
 * entry writable). Off after vq_init. */
static inline void vq_set_reads_only(struct virtq *vq, bool on) { vq->reads_only = on; }

/* True when the driver has made buffers available we have not consumed. */
bool vq_has_work(const struct virtq *vq);

/* Return a chain: used element (head, len). len bytes of the chain's
 * device-writable part were written; they are dirty-logged here. */
void vq_push(struct virtq *vq, const struct vq_chain *c, uint32_t len);

/* Write the pushed elements and make them visible to the driver (release
 * store of used->idx). */
void vq_publish(struct virtq *vq);

/* Buffers pushed and not yet published. */
static inline uint16_t vq_unpublished(const struct virtq *vq)
{
    return vq->packed ? vq->n_shadow : (uint16_t)(vq->used_idx - vq->pub_used);
}

/* After vq_publish: does the driver want an interrupt now? Records what was
 * published as seen for EVENT_IDX, so the next call only considers newer
 * used entries. */
bool vq_should_notify(struct virtq *vq);

/* Enable or disable driver kicks (VRING_USED_F_NO_NOTIFY or avail_event).
 * Enabling returns true when work arrived meanwhile (the caller must poll
 * again instead of sleeping, or a kick may be lost). */
bool vq_set_notify(struct virtq *vq, bool enable);

/* Put the queue in the error state (for device-level violations found by
 * the device, e.g. a malformed request header). */
void vq_fail(struct virtq *vq, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
