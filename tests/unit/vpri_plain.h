/* A PA-BITMAP map and an IOPF channel in plain memory, for unit tests of
 * the device side of VPRI (the transport's checks are test_vpri_msg's
 * business): every page read-write, the DMA-access table zeroed, the
 * channel empty, a non-blocking fault eventfd and no resolve eventfd.
 * Include after cmocka.h (it asserts). */
#ifndef TEST_VPRI_PLAIN_H
#define TEST_VPRI_PLAIN_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vpri/vpri_dev.h"

struct vpri_plain {
    struct vpri_map map;
    struct vpri_chan chan;
    struct vpri_dev dev;
    void *map_mem, *chan_mem;
};

static inline void vpri_plain_init(struct vpri_plain *p, uint64_t npages, unsigned nqueues,
                                   unsigned entries, uint32_t device_id)
{
    memset(p, 0, sizeof(*p));
    p->map_mem = aligned_alloc(4096, vpri_map_bytes(npages));
    p->chan_mem = aligned_alloc(4096, vpri_chan_bytes(nqueues, entries));
    assert_non_null(p->map_mem);
    assert_non_null(p->chan_mem);
    memset(p->map_mem, 0, vpri_map_bytes(npages));
    memset(p->map_mem, 0xaa, vpri_bitmap_bytes(npages)); /* all read-write */
    memset(p->chan_mem, 0, vpri_chan_bytes(nqueues, entries));
    p->map.bits = p->map_mem;
    p->map.dma = (_Atomic uint16_t *)((uint8_t *)p->map_mem + vpri_table_offset(npages));
    p->map.npages = npages;
    p->chan.ctrl = p->chan_mem;
    p->chan.slots = (struct vpri_qslot *)((uint8_t *)p->chan_mem + vpri_slots_offset());
    p->chan.ring = (struct vpri_rec *)((uint8_t *)p->chan_mem + vpri_ring_offset(nqueues));
    p->chan.nqueues = nqueues;
    p->chan.entries = entries;
    p->chan.device_id = device_id;
    p->chan.fault_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    assert_true(p->chan.fault_fd >= 0);
    p->chan.resolve_fd = -1;
    p->dev.map = &p->map;
    p->dev.chan = &p->chan;
}

static inline void vpri_plain_free(struct vpri_plain *p)
{
    close(p->chan.fault_fd);
    free(p->map_mem);
    free(p->chan_mem);
}

#endif
