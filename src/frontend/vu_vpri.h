/* VPRI, frontend side (docs/VPRI.md): the memory owner's half of the
 * protocol. Creates the map memfd (PA-BITMAP + DMA-access table, every page
 * read-write to start with) and the channel memfd (control block, queue
 * slots, IOPF ring), both sealed against shrinking, plus the fault and
 * resolve eventfds; sends them over a connection that negotiated
 * VHOST_USER_PROTOCOL_F_VPRI; consumes fault records; runs the owner's side
 * of the eviction handshake.
 *
 * One vu_vpri serves one device connection. Single-threaded: the thread that
 * services faults owns it (sidecore-bench: its I/O loop). */
#ifndef VU_VPRI_H
#define VU_VPRI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vpri/vpri_abi.h"
#include "vu_front.h"

struct vu_vpri {
    _Atomic uint64_t *bits;
    _Atomic uint16_t *dma;
    uint64_t npages;
    struct vpri_ctrl *ctrl;
    struct vpri_qslot *slots;
    struct vpri_rec *ring;
    uint32_t nqueues, entries, device_id;
    int map_fd, chan_fd, fault_fd, resolve_fd;
    void *map_base, *chan_base;
    size_t map_len, chan_len;
    uint64_t cons;      /* private copy of ctrl->cons */
    uint64_t *snap;     /* nqueues epochs, for the handshake */
};

/* npages: guest pages covered (GPAs [0, npages * 4096)). Returns 0 or -errno. */
int vu_vpri_create(struct vu_vpri *v, uint64_t npages, uint32_t nqueues, uint32_t ring_entries,
                   uint32_t device_id);
void vu_vpri_destroy(struct vu_vpri *v);
/* VPRI_SET_MAP then VPRI_SET_CHANNEL; after SET_MEM_TABLE, before the rings
 * start. */
int vu_vpri_send(struct vu_vpri *v, struct vu_conn *c);

static inline unsigned vu_vpri_get(const struct vu_vpri *v, uint64_t page)
{
    return vpri_pa_get(v->bits, page);
}
static inline void vu_vpri_set(struct vu_vpri *v, uint64_t page, unsigned pa)
{
    vpri_pa_set(v->bits, page, pa);
}

/* The record at the consumer index once the device completed it, or NULL.
 * Its fields are copied to *out (the device could rewrite the slot only
 * after vu_vpri_consume). */
bool vu_vpri_peek(struct vu_vpri *v, struct vpri_rec *out);
/* The record at the consumer index is handled: its pages are resident. */
void vu_vpri_consume(struct vu_vpri *v);
/* Pages became resident or records were handled: bump resolve_gen and wake
 * the device. */
void vu_vpri_notify(struct vu_vpri *v);
/* Clears the fault eventfd (non-blocking); returns its count. */
uint64_t vu_vpri_fault_events(struct vu_vpri *v);

/* Eviction handshake, after the caller cleared the pages' bits: wait until
 * no access to them can be in flight (every queue quiet or two generations
 * on). Returns 0, or -ETIMEDOUT after timeout_ms (the caller restores the
 * bits and keeps the pages). */
int vu_vpri_quiesce(struct vu_vpri *v, unsigned timeout_ms);

/* DMA-access table. */
static inline uint16_t vu_vpri_dma(const struct vu_vpri *v, uint64_t page)
{
    return atomic_load_explicit(&v->dma[page], memory_order_relaxed);
}
/* Halves the counts of pages [first, first + n). */
void vu_vpri_dma_decay(struct vu_vpri *v, uint64_t first, uint64_t n);

/* Sum of the device's per-queue statistics. */
void vu_vpri_qstats(const struct vu_vpri *v, struct vpri_qslot *sum);

#endif
