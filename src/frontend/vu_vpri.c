#include "vu_vpri.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"

static int sealed_memfd(const char *name, uint64_t size, void **map)
{
    int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return -errno;
    if (ftruncate(fd, (off_t)size) < 0 || fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    *map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (*map == MAP_FAILED) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

int vu_vpri_create(struct vu_vpri *v, uint64_t npages, uint32_t nqueues, uint32_t ring_entries,
                   uint32_t device_id)
{
    memset(v, 0, sizeof(*v));
    v->map_fd = v->chan_fd = v->fault_fd = v->resolve_fd = -1;
    if (!npages || npages > VPRI_MAX_PAGES || !nqueues || nqueues > VPRI_MAX_QUEUES ||
        ring_entries < 2 || ring_entries > VPRI_MAX_RING || (ring_entries & (ring_entries - 1)))
        return -EINVAL;
    v->npages = npages;
    v->nqueues = nqueues;
    v->entries = ring_entries;
    v->device_id = device_id;
    v->map_len = vpri_map_bytes(npages);
    v->chan_len = vpri_chan_bytes(nqueues, ring_entries);
    int r = sealed_memfd("vpri-map", v->map_len, &v->map_base);
    if (r < 0)
        goto fail;
    v->map_fd = r;
    r = sealed_memfd("vpri-chan", v->chan_len, &v->chan_base);
    if (r < 0)
        goto fail;
    v->chan_fd = r;
    v->fault_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    v->resolve_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    v->snap = calloc(nqueues, sizeof(*v->snap));
    if (v->fault_fd < 0 || v->resolve_fd < 0 || !v->snap) {
        r = -ENOMEM;
        goto fail;
    }
    v->bits = v->map_base;
    v->dma = (_Atomic uint16_t *)((uint8_t *)v->map_base + vpri_table_offset(npages));
    /* 0b10 in every pair: every page read-write. */
    memset(v->map_base, 0xaa, vpri_bitmap_bytes(npages));
    v->ctrl = v->chan_base;
    v->slots = (struct vpri_qslot *)((uint8_t *)v->chan_base + vpri_slots_offset());
    v->ring = (struct vpri_rec *)((uint8_t *)v->chan_base + vpri_ring_offset(nqueues));
    return 0;
fail:
    vu_vpri_destroy(v);
    return r;
}

void vu_vpri_destroy(struct vu_vpri *v)
{
    if (v->map_base && v->map_base != MAP_FAILED)
        munmap(v->map_base, v->map_len);
    if (v->chan_base && v->chan_base != MAP_FAILED)
        munmap(v->chan_base, v->chan_len);
    int *fds[] = {&v->map_fd, &v->chan_fd, &v->fault_fd, &v->resolve_fd};
    for (size_t i = 0; i < SC_ARRAY_SIZE(fds); i++)
        if (*fds[i] >= 0)
            close(*fds[i]);
    free(v->snap);
    memset(v, 0, sizeof(*v));
    v->map_fd = v->chan_fd = v->fault_fd = v->resolve_fd = -1;
}

int vu_vpri_send(struct vu_vpri *v, struct vu_conn *c)
{
    struct vpri_map_msg mm = {.npages = v->npages, .mmap_size = v->map_len, .mmap_offset = 0};
    int r = vu_send_ext(c, VHOST_USER_VPRI_SET_MAP, &mm, sizeof(mm), &v->map_fd, 1);
    if (r)
        return r;
    struct vpri_chan_msg cm = {.device_id = v->device_id,
                               .nqueues = v->nqueues,
                               .ring_entries = v->entries,
                               .mmap_size = v->chan_len,
                               .mmap_offset = 0};
    int fds[3] = {v->chan_fd, v->fault_fd, v->resolve_fd};
    return vu_send_ext(c, VHOST_USER_VPRI_SET_CHANNEL, &cm, sizeof(cm), fds, 3);
}

bool vu_vpri_peek(struct vu_vpri *v, struct vpri_rec *out)
{
    struct vpri_rec *r = &v->ring[v->cons & (v->entries - 1)];
    if (atomic_load_explicit(&r->seq, memory_order_acquire) != (uint32_t)(v->cons + 1))
        return false;
    out->queue = r->queue;
    out->access = r->access;
    out->flags = r->flags;
    out->device = r->device;
    out->len = r->len;
    out->gpa = r->gpa;
    out->req_id = r->req_id;
    return true;
}

void vu_vpri_consume(struct vu_vpri *v)
{
    v->cons++;
    atomic_store_explicit(&v->ctrl->cons, v->cons, memory_order_release);
}

void vu_vpri_notify(struct vu_vpri *v)
{
    atomic_fetch_add_explicit(&v->ctrl->resolve_gen, 1, memory_order_release);
    uint64_t one = 1;
    if (write(v->resolve_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        LOG_WARN("vu_vpri", "writing the resolve eventfd: %s", strerror(errno));
}

uint64_t vu_vpri_fault_events(struct vu_vpri *v)
{
    uint64_t n = 0;
    if (read(v->fault_fd, &n, sizeof(n)) < 0)
        return 0;
    return n;
}

static bool passed(uint64_t now, uint64_t then)
{
    return (now & VPRI_EPOCH_QUIET) || (then & VPRI_EPOCH_QUIET) ||
           (now >> 1) - (then >> 1) >= 2;
}

int vu_vpri_quiesce(struct vu_vpri *v, unsigned timeout_ms)
{
    /* Pairs with the device's seq_cst epoch store: our cleared bits are
     * visible to any check made after the epoch we read. */
    atomic_thread_fence(memory_order_seq_cst);
    for (uint32_t i = 0; i < v->nqueues; i++)
        v->snap[i] = atomic_load_explicit(&v->slots[i].epoch, memory_order_seq_cst);
    uint64_t deadline = sc_now_ns() + (uint64_t)timeout_ms * 1000000ull;
    for (uint32_t i = 0; i < v->nqueues;) {
        if (passed(atomic_load_explicit(&v->slots[i].epoch, memory_order_acquire), v->snap[i])) {
            i++;
            continue;
        }
        if (sc_now_ns() > deadline)
            return -ETIMEDOUT;
        sched_yield();
    }
    return 0;
}

void vu_vpri_dma_decay(struct vu_vpri *v, uint64_t first, uint64_t n)
{
    for (uint64_t p = first; p < first + n && p < v->npages; p++) {
        uint16_t c = atomic_load_explicit(&v->dma[p], memory_order_relaxed);
        if (c)
            atomic_store_explicit(&v->dma[p], (uint16_t)(c >> 1), memory_order_relaxed);
    }
}

void vu_vpri_qstats(const struct vu_vpri *v, struct vpri_qslot *sum)
{
    memset(sum, 0, sizeof(*sum));
    for (uint32_t i = 0; i < v->nqueues; i++) {
        const struct vpri_qslot *s = &v->slots[i];
        sum->faults += atomic_load_explicit(&s->faults, memory_order_relaxed);
        sum->parked += atomic_load_explicit(&s->parked, memory_order_relaxed);
        sum->resumed += atomic_load_explicit(&s->resumed, memory_order_relaxed);
        sum->lookups += atomic_load_explicit(&s->lookups, memory_order_relaxed);
        sum->dropped += atomic_load_explicit(&s->dropped, memory_order_relaxed);
        sum->ring_full += atomic_load_explicit(&s->ring_full, memory_order_relaxed);
        sum->wait_ns += atomic_load_explicit(&s->wait_ns, memory_order_relaxed);
    }
}
