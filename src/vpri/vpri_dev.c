#include "vpri_dev.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define POST_TRIES 8 /* CAS attempts before a post is retried next round */

/* A shared area must stay as long as we map it: a frontend truncating it
 * later would turn our next access into SIGBUS, so it must be a sealed
 * memfd that already covers what we map. */
static int check_area(int fd, uint64_t off, uint64_t len, const char *what, char *why,
                      size_t whylen)
{
    struct stat st;
    if (off % VPRI_PAGE_SIZE) {
        snprintf(why, whylen, "%s offset 0x%llx is not page aligned", what,
                 (unsigned long long)off);
        return -1;
    }
    int seals = fcntl(fd, F_GET_SEALS);
    if (seals < 0 || !(seals & F_SEAL_SHRINK)) {
        snprintf(why, whylen, "%s must be a memfd sealed with F_SEAL_SHRINK", what);
        return -1;
    }
    if (fstat(fd, &st) < 0 || off + len < off || (uint64_t)st.st_size < off + len) {
        snprintf(why, whylen, "%s [0x%llx, +0x%llx) is beyond the end of its memfd", what,
                 (unsigned long long)off, (unsigned long long)len);
        return -1;
    }
    return 0;
}

static int is_eventfd(int fd)
{
    char path[64], link[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, link, sizeof(link) - 1);
    if (n < 0)
        return 0;
    link[n] = '\0';
    return strcmp(link, "anon_inode:[eventfd]") == 0;
}

int vpri_map_open(int fd, const struct vpri_map_msg *m, struct vpri_map **out, char *why,
                  size_t whylen)
{
    *out = NULL;
    if (m->npages == 0 || m->npages > VPRI_MAX_PAGES) {
        snprintf(why, whylen, "PA-BITMAP of %llu pages, expected 1..%llu",
                 (unsigned long long)m->npages, (unsigned long long)VPRI_MAX_PAGES);
        close(fd);
        return -1;
    }
    uint64_t need = vpri_map_bytes(m->npages);
    if (m->mmap_size < need) {
        snprintf(why, whylen, "map of %llu bytes, %llu pages need %llu",
                 (unsigned long long)m->mmap_size, (unsigned long long)m->npages,
                 (unsigned long long)need);
        close(fd);
        return -1;
    }
    if (check_area(fd, m->mmap_offset, need, "map", why, whylen) < 0) {
        close(fd);
        return -1;
    }
    void *p = mmap(NULL, need, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)m->mmap_offset);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED) {
        snprintf(why, whylen, "cannot map the PA-BITMAP: %s", strerror(e));
        return -1;
    }
    struct vpri_map *map = calloc(1, sizeof(*map));
    if (!map) {
        munmap(p, need);
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    map->bits = p;
    map->dma = (_Atomic uint16_t *)((uint8_t *)p + vpri_table_offset(m->npages));
    map->npages = m->npages;
    map->base = p;
    map->len = need;
    *out = map;
    return 0;
}

void vpri_map_free(struct vpri_map *m)
{
    if (!m)
        return;
    munmap(m->base, m->len);
    free(m);
}

static void close3(const int fds[3])
{
    for (int i = 0; i < 3; i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

int vpri_chan_open(const int fds[3], const struct vpri_chan_msg *m, uint32_t dev_queues,
                   struct vpri_chan **out, char *why, size_t whylen)
{
    *out = NULL;
    const char *bad = NULL;
    if (m->flags)
        bad = "unknown channel flags";
    else if (m->nqueues < dev_queues || m->nqueues > VPRI_MAX_QUEUES)
        bad = "queue slot count below the device's queues or above 1024";
    else if (m->ring_entries < 2 || m->ring_entries > VPRI_MAX_RING ||
             (m->ring_entries & (m->ring_entries - 1)))
        bad = "IOPF ring size is not a power of two in 2..65536";
    else if (!is_eventfd(fds[1]) || !is_eventfd(fds[2]))
        bad = "fault and resolve fds must be eventfds";
    if (bad) {
        snprintf(why, whylen, "channel (%u slots, %u entries): %s", m->nqueues,
                 m->ring_entries, bad);
        close3(fds);
        return -1;
    }
    uint64_t need = vpri_chan_bytes(m->nqueues, m->ring_entries);
    if (m->mmap_size < need) {
        snprintf(why, whylen, "channel of %llu bytes, needs %llu", (unsigned long long)m->mmap_size,
                 (unsigned long long)need);
        close3(fds);
        return -1;
    }
    if (check_area(fds[0], m->mmap_offset, need, "channel", why, whylen) < 0) {
        close3(fds);
        return -1;
    }
    /* A sidecore must never block on the fault eventfd (the frontend could
     * have filled its counter), nor the control thread on the resolve one. */
    for (int i = 1; i < 3; i++) {
        int fl = fcntl(fds[i], F_GETFL);
        if (fl < 0 || fcntl(fds[i], F_SETFL, fl | O_NONBLOCK) < 0) {
            snprintf(why, whylen, "cannot make the eventfds non-blocking: %s", strerror(errno));
            close3(fds);
            return -1;
        }
    }
    void *p = mmap(NULL, need, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], (off_t)m->mmap_offset);
    int e = errno;
    close(fds[0]);
    struct vpri_chan *c = p == MAP_FAILED ? NULL : calloc(1, sizeof(*c));
    if (!c) {
        if (p != MAP_FAILED)
            munmap(p, need);
        snprintf(why, whylen, "cannot map the channel: %s", strerror(p == MAP_FAILED ? e : ENOMEM));
        close(fds[1]);
        close(fds[2]);
        return -1;
    }
    c->base = p;
    c->len = need;
    c->ctrl = p;
    c->slots = (struct vpri_qslot *)((uint8_t *)p + vpri_slots_offset());
    c->ring = (struct vpri_rec *)((uint8_t *)p + vpri_ring_offset(m->nqueues));
    c->nqueues = m->nqueues;
    c->entries = m->ring_entries;
    c->device_id = m->device_id;
    c->fault_fd = fds[1];
    c->resolve_fd = fds[2];
    for (uint32_t i = 0; i < c->nqueues; i++)
        atomic_store_explicit(&c->slots[i].epoch, VPRI_EPOCH_QUIET, memory_order_relaxed);
    *out = c;
    return 0;
}

void vpri_chan_free(struct vpri_chan *c)
{
    if (!c)
        return;
    munmap(c->base, c->len);
    close(c->fault_fd);
    close(c->resolve_fd);
    free(c);
}

int vpri_post(struct vpri_dev *d, uint16_t queue, uint8_t access, uint64_t gpa, uint32_t len,
              uint64_t req_id, uint64_t *ticket)
{
    const struct vpri_chan *c = d->chan;
    uint64_t t = atomic_load_explicit(&d->reserve, memory_order_relaxed);
    int tries = 0;
    for (;;) {
        uint64_t cons = atomic_load_explicit(&c->ctrl->cons, memory_order_acquire);
        if (t - cons > c->entries)
            return (int64_t)(cons - t) > 0 ? -EPROTO : -EAGAIN;
        if (t - cons == c->entries || ++tries > POST_TRIES)
            return -EAGAIN;
        if (atomic_compare_exchange_weak_explicit(&d->reserve, &t, t + 1, memory_order_relaxed,
                                                  memory_order_relaxed))
            break;
    }
    struct vpri_rec *r = &c->ring[t & (c->entries - 1)];
    r->queue = queue;
    r->access = access;
    r->flags = 0;
    r->device = c->device_id;
    r->len = len;
    r->gpa = gpa;
    r->req_id = req_id;
    atomic_store_explicit(&r->seq, (uint32_t)(t + 1), memory_order_release);
    uint64_t one = 1;
    /* EAGAIN means the counter is saturated: the frontend is awake anyway. */
    if (write(c->fault_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        return -EPROTO;
    *ticket = t;
    return 0;
}

uint64_t vpri_handled(struct vpri_dev *d)
{
    uint64_t t = atomic_load_explicit(&d->reserve, memory_order_relaxed);
    uint64_t cons = atomic_load_explicit(&d->chan->ctrl->cons, memory_order_acquire);
    return (int64_t)(cons - t) > 0 ? t : cons;
}
