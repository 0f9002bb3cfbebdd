/* Guest memory tables: mapping regions, building and publishing snapshots.
 * Control path only; translation lives in gm_xlate.c, pre-faulting in
 * gm_prefault.c. */
#include "guestmem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/log.h"

_Static_assert(GM_MAX_REGIONS == 32, "the error text below names the limit");

#define GM_COMP "guestmem"

struct gm_table *gm_table_new_empty(void)
{
    return calloc(1, sizeof(struct gm_table));
}

void gm_init(struct guestmem *gm)
{
    struct gm_table *t = gm_table_new_empty();
    /* Readers rely on a table always being present; a 2 KiB allocation
     * failing at device creation leaves nothing sensible to do. */
    if (!t) {
        LOG_ERR(GM_COMP, "out of memory allocating the guest memory table");
        abort();
    }
    atomic_init(&gm->bus.hit, 0);
    gm->bus.wake_fd = -1;
    t->bus = &gm->bus;
    atomic_init(&gm->table, t);
    atomic_init(&gm->log.map, NULL);
    atomic_init(&gm->vpri, NULL);
    if (busguard_install() < 0)
        LOG_WARN(GM_COMP, "cannot install the SIGBUS guard: a frontend that shrinks its memory "
                          "file would end the daemon");
}

void gm_region_unmap(struct gm_region *r)
{
    if (r->map_base) {
        busguard_remove(r->map_base);
        munmap(r->map_base, r->map_len);
    }
    if (r->fd >= 0)
        close(r->fd);
    r->map_base = NULL;
    r->map_len = 0;
    r->host = NULL;
    r->fd = -1;
}

void gm_table_free(struct gm_table *t, bool unmap)
{
    if (!t)
        return;
    if (unmap)
        for (uint32_t i = 0; i < t->n; i++)
            gm_region_unmap(&t->r[i]);
    free(t);
}

void gm_destroy(struct guestmem *gm)
{
    gm_table_free(atomic_exchange_explicit(&gm->table, NULL, memory_order_acq_rel), true);
    dirty_log_map_free(dirty_log_swap(&gm->log, NULL));
}

struct gm_table *gm_table_clone(const struct gm_table *t)
{
    struct gm_table *c = gm_table_new_empty();
    if (c && t)
        memcpy(c, t, sizeof(*c));
    return c;
}

struct gm_table *gm_publish(struct guestmem *gm, struct gm_table *t)
{
    return atomic_exchange_explicit(&gm->table, t, memory_order_acq_rel);
}

static int refuse(int fd, int err, const char **why, const char *reason)
{
    if (fd >= 0)
        close(fd);
    if (why)
        *why = reason;
    errno = err;
    return -1;
}

/* Checks everything about a new region that does not need the fd. */
static const char *check_geometry(const struct gm_table *t, uint64_t gpa, uint64_t size,
                                  uint64_t uva, uint64_t mmap_offset, uint32_t *pos)
{
    uint64_t end;
    if (size == 0)
        return "region size is zero";
    if (__builtin_add_overflow(gpa, size, &end))
        return "guest physical range wraps around 2^64";
    if (uva + size < uva)
        return "user address range wraps around 2^64";
    if (mmap_offset + size < mmap_offset || mmap_offset + size > (uint64_t)INT64_MAX)
        return "file offset range is too large";
    uint32_t i = 0;
    while (i < t->n && t->r[i].gpa < gpa)
        i++;
    if (i > 0 && t->r[i - 1].gpa + t->r[i - 1].size > gpa)
        return "overlaps an existing region";
    if (i < t->n && t->r[i].gpa < end)
        return "overlaps an existing region";
    *pos = i;
    return NULL;
}

int gm_table_add(struct gm_table *t, uint64_t gpa, uint64_t size, uint64_t uva,
                 uint64_t mmap_offset, int fd, const char **why)
{
    uint32_t pos = 0;
    if (t->n >= GM_MAX_REGIONS)
        return refuse(fd, ENOSPC, why, "too many memory regions (the limit is 32)");
    const char *bad = check_geometry(t, gpa, size, uva, mmap_offset, &pos);
    if (bad)
        return refuse(fd, EINVAL, why, bad);
    if (fd < 0)
        return refuse(fd, EBADF, why, "no file descriptor for the region");

    struct stat st;
    if (fstat(fd, &st) < 0)
        return refuse(fd, errno, why, "cannot stat the region's file descriptor");
    /* Touching a mapping beyond the end of a file raises SIGBUS on the
     * sidecore: refuse the region now instead. */
    if (S_ISREG(st.st_mode) && (uint64_t)st.st_size < mmap_offset + size)
        return refuse(fd, EINVAL, why, "region extends beyond the end of its file");

    long page = sysconf(_SC_PAGESIZE);
    uint64_t aligned = mmap_offset & ~((uint64_t)page - 1);
    uint64_t delta = mmap_offset - aligned;
    size_t map_len = (size_t)(size + delta);
    void *base = mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)aligned);
    if (base == MAP_FAILED)
        return refuse(fd, errno, why, "mmap of the region failed");
    if (busguard_add(base, map_len, t->bus) < 0) {
        munmap(base, map_len);
        return refuse(fd, ENOSPC, why, "too many mappings of frontend files in this daemon");
    }

    memmove(&t->r[pos + 1], &t->r[pos], (t->n - pos) * sizeof(t->r[0]));
    t->r[pos] = (struct gm_region){
        .gpa = gpa,
        .size = size,
        .uva = uva,
        .mmap_offset = mmap_offset,
        .host = (uint8_t *)base + delta,
        .map_base = base,
        .map_len = map_len,
        .fd = fd,
    };
    t->n++;
    return 0;
}

/* The region that is exactly (gpa, size, uva), or NULL. */
static struct gm_region *find_exact(struct gm_table *t, uint64_t gpa, uint64_t size,
                                    uint64_t uva)
{
    for (uint32_t i = 0; t && i < t->n; i++)
        if (t->r[i].gpa == gpa && t->r[i].size == size && t->r[i].uva == uva)
            return &t->r[i];
    return NULL;
}

static struct gm_region *current_exact(struct guestmem *gm, uint64_t gpa, uint64_t size,
                                       uint64_t uva)
{
    return find_exact(atomic_load_explicit(&gm->table, memory_order_acquire), gpa, size, uva);
}

/* The data path never reads readds: counting in place needs no new table. */
bool gm_readd(struct guestmem *gm, uint64_t gpa, uint64_t size, uint64_t uva,
              uint64_t mmap_offset, int fd)
{
    struct gm_region *r = current_exact(gm, gpa, size, uva);
    struct stat a, b;
    if (!r || r->mmap_offset != mmap_offset || r->readds >= GM_MAX_READDS ||
        fstat(fd, &a) < 0 || fstat(r->fd, &b) < 0 || a.st_dev != b.st_dev || a.st_ino != b.st_ino)
        return false;
    r->readds++;
    return true;
}

bool gm_unreadd(struct guestmem *gm, uint64_t gpa, uint64_t size, uint64_t uva)
{
    struct gm_region *r = current_exact(gm, gpa, size, uva);
    if (!r || r->readds == 0)
        return false;
    r->readds--;
    return true;
}

int gm_table_remove(struct gm_table *t, uint64_t gpa, uint64_t size, uint64_t uva,
                    struct gm_region *removed)
{
    struct gm_region *r = find_exact(t, gpa, size, uva);
    if (!r) {
        errno = ENOENT;
        return -1;
    }
    uint32_t i = (uint32_t)(r - t->r);
    *removed = *r;
    memmove(&t->r[i], &t->r[i + 1], (t->n - i - 1) * sizeof(t->r[0]));
    t->n--;
    memset(&t->r[t->n], 0, sizeof(t->r[0]));
    return 0;
}
