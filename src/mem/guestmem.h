/* Guest memory as the backend sees it.
 *
 * Regions arrive as file descriptors (SET_MEM_TABLE, ADD_MEM_REG) and are
 * mapped once. A gm_table is an immutable snapshot of all regions, sorted by
 * guest-physical address; the control path builds a new table on every change
 * and publishes it with one atomic store. The data path loads the current
 * table once per poll round (gm_current) and translates with no lock.
 * The control path only unmaps a retired table after every queue that could
 * have read it has been stopped (see vhost layer), so readers never see freed
 * mappings.
 *
 * All translation functions treat addresses and lengths as hostile: a range
 * that is not entirely inside mapped memory, or that wraps, is refused. */
#ifndef SC_GUESTMEM_H
#define SC_GUESTMEM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "../common/busguard.h"
#include "dirtylog.h"

#define GM_MAX_REGIONS 32

struct gm_region {
    uint64_t gpa;         /* guest physical address of the first byte */
    uint64_t size;        /* bytes */
    uint64_t uva;         /* the frontend's virtual address of the first byte */
    uint64_t mmap_offset; /* offset of the region in fd */
    uint8_t *host;        /* our address of the first byte */
    void *map_base;       /* what mmap returned (page aligned) */
    size_t map_len;
    int fd;
    uint32_t readds;      /* ADD_MEM_REGs of it beyond the first (gm_readd) */
};

struct gm_table {
    struct bus_owner *bus; /* told when a region's file shrinks (busguard.h) */
    uint32_t n;
    struct gm_region r[GM_MAX_REGIONS]; /* sorted by gpa, non-overlapping */
};

struct vpri_dev;

struct guestmem {
    _Atomic(struct gm_table *) table; /* never NULL after gm_init */
    struct dirty_log log;
    /* VPRI (src/vpri): set by the transport while queues are stopped;
     * queues bind to it when they start. NULL: all memory is resident. */
    _Atomic(struct vpri_dev *) vpri;
    /* Regions' files are the frontend's: one that shrinks under us sets
     * bus.hit (busguard.h) and writes bus.wake_fd, which the transport
     * sets. New tables built for this memory must point at it. */
    struct bus_owner bus;
};

void gm_init(struct guestmem *gm);
/* Unmaps and closes everything. No data-path user may remain. */
void gm_destroy(struct guestmem *gm);

static inline const struct gm_table *gm_current(struct guestmem *gm)
{
    return atomic_load_explicit(&gm->table, memory_order_acquire);
}

/* Host address of [gpa, gpa+len) if it lies inside one region, else NULL. */
void *gm_gpa_to_host(const struct gm_table *t, uint64_t gpa, uint64_t len);

/* Host address of [uva, uva+len) in the frontend's address space (vring
 * addresses are given that way), if it lies inside one region, else NULL. */
void *gm_uva_to_host(const struct gm_table *t, uint64_t uva, uint64_t len);

/* Translate a guest range that may span several adjacent regions into at most
 * max iovecs appended at iov (gpa_out[i] gets each piece's guest address when
 * gpa_out is not NULL). Returns the number of iovecs used, -EFAULT if any
 * byte is unmapped or the range wraps, -ENOBUFS if max is too small. */
int gm_map_iov(const struct gm_table *t, uint64_t gpa, uint64_t len, struct iovec *iov,
               uint64_t *gpa_out, int max);

/* gm_map_iov that sets *hint to the region of the range's first byte. */
int gm_map_iov_learn(const struct gm_table *t, uint32_t *hint, uint64_t gpa, uint64_t len,
                     struct iovec *iov, uint64_t *gpa_out, int max);

/* gm_map_iov for the data path: a queue's buffers mostly lie in the region
 * of the one before, so region *hint is tried first, without the search
 * (64 B net tx, alternating 100 ms phases in one run: +1-2%). The hint is a
 * guess checked against t every time: any value is safe, across tables. */
static inline int gm_map_iov_hint(const struct gm_table *t, uint32_t *hint, uint64_t gpa,
                                  uint64_t len, struct iovec *iov, uint64_t *gpa_out, int max)
{
    if (*hint < t->n && len && max > 0) {
        const struct gm_region *r = &t->r[*hint];
        uint64_t off = gpa - r->gpa;
        if (gpa >= r->gpa && off < r->size && len <= r->size - off) {
            iov->iov_base = r->host + off;
            iov->iov_len = (size_t)len;
            if (gpa_out)
                *gpa_out = gpa;
            return 1;
        }
    }
    return gm_map_iov_learn(t, hint, gpa, len, iov, gpa_out, max);
}

/* Control path. Builds a new table: a copy of the current one with the
 * given region added (mapped from fd, which is taken over) or removed.
 * Validation: size > 0, no wrap in gpa/uva/offset arithmetic, no overlap with
 * existing regions, at most GM_MAX_REGIONS. On error returns NULL with errno
 * set and a reason in *why; the fd is closed on error too. */
struct gm_table *gm_table_new_empty(void);
int gm_table_add(struct gm_table *t, uint64_t gpa, uint64_t size, uint64_t uva,
                 uint64_t mmap_offset, int fd, const char **why);
/* Removes the region matching gpa/size/uva exactly; the removed region's
 * mapping is returned in *removed so the caller can unmap it after quiescing. */
int gm_table_remove(struct gm_table *t, uint64_t gpa, uint64_t size, uint64_t uva,
                    struct gm_region *removed);
/* Copy without the mappings' ownership changing: regions are shared between
 * the old and new table until the old one is retired with gm_table_free. */
struct gm_table *gm_table_clone(const struct gm_table *t);

/* Control path, on the current table. QEMU 7.2 sends ADD_MEM_REG and
 * REM_MEM_REG once per queue pair of a multiqueue NIC (each pair is a
 * vhost device of its own there, sharing one connection), so the same
 * region arrives several times. gm_readd: when the current table holds
 * exactly (gpa, size, uva, mmap_offset), mapped from the same file as fd,
 * counts one more add of it and returns true (fd stays the caller's);
 * false otherwise, or when it was added GM_MAX_READDS times already.
 * gm_unreadd: takes back one of those adds of (gpa, size, uva); false when
 * there is none (the region itself must go then). */
#define GM_MAX_READDS 256u
bool gm_readd(struct guestmem *gm, uint64_t gpa, uint64_t size, uint64_t uva,
              uint64_t mmap_offset, int fd);
bool gm_unreadd(struct guestmem *gm, uint64_t gpa, uint64_t size, uint64_t uva);

/* Swap in t; returns the previous table. */
struct gm_table *gm_publish(struct guestmem *gm, struct gm_table *t);

/* Free a table struct; when unmap is true also unmap and close its regions. */
void gm_table_free(struct gm_table *t, bool unmap);
void gm_region_unmap(struct gm_region *r);

/* Data-path write logging: marks the guest pages of [gpa, gpa+len) dirty
 * (atomic OR, no lock) when logging is on; a no-op otherwise. */
static inline void gm_log_write(struct guestmem *gm, uint64_t gpa, uint64_t len)
{
    dirty_log_mark(&gm->log, gpa, len);
}

/* Parallel pre-fault of all regions (MADV_POPULATE_WRITE) with nthreads
 * threads; returns 0 or -errno once every page is in. */
int gm_prefault(const struct gm_table *t, unsigned nthreads);
/* The same in the background: returns at once (NULL: out of memory, nothing
 * runs). t must stay mapped and alive until gm_prefault_stop. done, if set,
 * is called once on a pre-fault thread when all of t is in (not after a
 * stop): the first error or 0, the bytes and the time it took. */
struct gm_prefault_job;
struct gm_prefault_job *gm_prefault_start(const struct gm_table *t, unsigned nthreads,
                                          void (*done)(void *arg, int err, uint64_t bytes,
                                                       uint64_t ns),
                                          void *arg);
/* Cancels what is left (each thread stops after its current 64 MiB chunk),
 * waits for the threads and frees the job; the first error or 0. NULL: no-op. */
int gm_prefault_stop(struct gm_prefault_job *j);

#endif
