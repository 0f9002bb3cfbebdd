/* Dirty bitmap for live migration, in the vhost-user log format: bit (page %
 * 8) of byte (page / 8) for guest page gpa / 4096. Pages past the end of the
 * bitmap cannot be logged and are skipped: the frontend sized the log for
 * the memory it migrates. */
#include "dirtylog.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../common/busguard.h"

void dirty_log_mark_slow(struct dirty_log_map *m, uint64_t gpa, uint64_t len)
{
    uint64_t last_byte;
    if (__builtin_add_overflow(gpa, len - 1, &last_byte))
        last_byte = UINT64_MAX;
    uint64_t page = gpa / DIRTY_LOG_PAGE;
    uint64_t last = last_byte / DIRTY_LOG_PAGE;
    uint64_t npages = m->size * 8;
    if (page >= npages)
        return;
    if (last >= npages)
        last = npages - 1;
    while (page <= last) {
        unsigned bit = (unsigned)(page % 8);
        uint64_t span = last - page + 1;
        unsigned n = span < 8 - bit ? (unsigned)span : 8 - bit;
        uint8_t mask = (uint8_t)(((1u << n) - 1) << bit);
        atomic_fetch_or_explicit(&m->bits[page / 8], mask, memory_order_relaxed);
        page += n;
    }
}

struct dirty_log_map *dirty_log_map_new(int fd, uint64_t size, uint64_t offset,
                                        struct bus_owner *owner)
{
    struct dirty_log_map *m = NULL;
    int err = EINVAL;
    long pagesz = sysconf(_SC_PAGESIZE);
    uint64_t aligned = offset & ~((uint64_t)pagesz - 1);
    uint64_t delta = offset - aligned;

    if (fd < 0 || size == 0 || size + delta < size || offset + size < offset)
        goto fail;
    m = calloc(1, sizeof(*m));
    if (!m) {
        err = ENOMEM;
        goto fail;
    }
    m->map_len = (size_t)(size + delta);
    m->map_base = mmap(NULL, m->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)aligned);
    if (m->map_base == MAP_FAILED) {
        err = errno;
        goto fail;
    }
    if (busguard_add(m->map_base, m->map_len, owner) < 0) {
        munmap(m->map_base, m->map_len);
        err = ENOSPC;
        goto fail;
    }
    close(fd);
    m->bits = (_Atomic uint8_t *)((uint8_t *)m->map_base + delta);
    m->size = size;
    return m;
fail:
    free(m);
    if (fd >= 0)
        close(fd);
    errno = err;
    return NULL;
}

struct dirty_log_map *dirty_log_swap(struct dirty_log *log, struct dirty_log_map *m)
{
    return atomic_exchange_explicit(&log->map, m, memory_order_acq_rel);
}

void dirty_log_map_free(struct dirty_log_map *m)
{
    if (!m)
        return;
    busguard_remove(m->map_base);
    munmap(m->map_base, m->map_len);
    free(m);
}
