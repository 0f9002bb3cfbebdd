/* Dirty log for live migration (vhost-user SET_LOG_BASE): a bitmap shared with
 * the frontend, one bit per 4 KiB guest page, indexed by guest physical page
 * number. Sidecores set bits with atomic OR and no lock. The control path
 * swaps the bitmap pointer atomically (SET_LOG_BASE), and retires the old one
 * only after queues are quiesced. */
#ifndef SC_DIRTYLOG_H
#define SC_DIRTYLOG_H

#include <stdatomic.h>
#include <stdint.h>
#include <stddef.h>

#define DIRTY_LOG_PAGE 4096u

struct bus_owner;

struct dirty_log_map {
    _Atomic uint8_t *bits;
    uint64_t size;  /* bytes of bitmap */
    void *map_base;
    size_t map_len;
};

struct dirty_log {
    _Atomic(struct dirty_log_map *) map; /* NULL: logging off */
};

void dirty_log_mark_slow(struct dirty_log_map *m, uint64_t gpa, uint64_t len);

static inline void dirty_log_mark(struct dirty_log *log, uint64_t gpa, uint64_t len)
{
    struct dirty_log_map *m = atomic_load_explicit(&log->map, memory_order_acquire);
    if (__builtin_expect(m != NULL, 0) && len)
        dirty_log_mark_slow(m, gpa, len);
}

/* Control path: map size bytes of fd at offset as the log, guarded for
 * owner (busguard.h: the frontend may shrink the file); returns the new map
 * or NULL (errno set). Takes over fd (closed after mmap). */
struct dirty_log_map *dirty_log_map_new(int fd, uint64_t size, uint64_t offset,
                                        struct bus_owner *owner);
/* Installs m (NULL turns logging off); returns the previous map. */
struct dirty_log_map *dirty_log_swap(struct dirty_log *log, struct dirty_log_map *m);
void dirty_log_map_free(struct dirty_log_map *m);

#endif
