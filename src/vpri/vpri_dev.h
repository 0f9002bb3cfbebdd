/* Per-device VPRI state on the daemon side: the frontend's map (PA-BITMAP
 * and DMA-access table) and channel (control block, queue slots, IOPF ring,
 * fault and resolve eventfds), mapped and checked once on the control
 * thread (vhost/vhost_vpri.c). The data path (vpri_queue.h) reads it without
 * locks; it never changes while a queue bound to it runs (the transport
 * stops the queues to replace it).
 *
 * Posting a fault is multi-producer (queues of one device may run on
 * different sidecores): producers claim a ticket with a CAS on a private
 * counter, fill the record and mark it complete with its seq field. The
 * frontend's consumer index is hostile: a value ahead of the tickets handed
 * out is a violation; one far behind only makes the ring look full. */
#ifndef SC_VPRI_DEV_H
#define SC_VPRI_DEV_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vpri_abi.h"

struct vpri_map {
    _Atomic uint64_t *bits;
    _Atomic uint16_t *dma;
    uint64_t npages;
    void *base;
    size_t len;
};

struct vpri_chan {
    struct vpri_ctrl *ctrl;
    struct vpri_qslot *slots;
    struct vpri_rec *ring;
    uint32_t nqueues, entries, device_id;
    int fault_fd;   /* we write: records were posted */
    int resolve_fd; /* the frontend writes: pages became resident */
    void *base;
    size_t len;
};

struct vpri_dev {
    const struct vpri_map *map;
    const struct vpri_chan *chan;
    _Atomic uint64_t reserve; /* tickets handed out */
    /* Set when the frontend's connection ends, before its queues stop:
     * nobody will resolve a fault any more, so a stopping queue gives up
     * its parked requests at once instead of waiting out its bound. */
    _Atomic bool owner_gone;
    /* When a stop of this device last waited its whole bound with requests
     * still parked under a live owner (ns; 0: never). Kept across
     * connections: see vpri_q_stop_bound. */
    _Atomic uint64_t strike_ns;
};

/* Control path. Map fd / channel fds are taken over (closed on error too).
 * dev_queues: the device's queue count (the channel must have a slot each).
 * Return 0 or -1 with a reason in why. */
int vpri_map_open(int fd, const struct vpri_map_msg *m, struct vpri_map **out, char *why,
                  size_t whylen);
void vpri_map_free(struct vpri_map *m);
int vpri_chan_open(const int fds[3], const struct vpri_chan_msg *m, uint32_t dev_queues,
                   struct vpri_chan **out, char *why, size_t whylen);
void vpri_chan_free(struct vpri_chan *c);

/* Posts one record. 0: posted, ticket in *ticket; -EAGAIN: ring full (or
 * contended), retry later; -EPROTO: the consumer index is impossible. */
int vpri_post(struct vpri_dev *d, uint16_t queue, uint8_t access, uint64_t gpa, uint32_t len,
              uint64_t req_id, uint64_t *ticket);

/* Records the frontend has handled, as the device may trust it: clamped to
 * the tickets handed out. */
uint64_t vpri_handled(struct vpri_dev *d);

#endif
