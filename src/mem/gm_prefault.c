/* Parallel pre-faulting of guest memory, so the first guest I/O does not pay
 * for page faults on the sidecore. The concatenation of all regions is cut
 * into nthreads page-aligned slices, one per thread. */
#include "guestmem.h"

#include <errno.h>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define GM_PREFAULT_MAX_THREADS 64

struct slice {
    const struct gm_table *t;
    uint64_t begin, end; /* offsets into the concatenated mappings */
    size_t page;
    int err;
    pthread_t tid;
};

/* Older kernels lack MADV_POPULATE_WRITE: fault pages in by hand. An atomic
 * add of zero writes without changing what a running guest may be storing. */
static void touch_pages(uint8_t *p, size_t len, size_t page)
{
    for (size_t o = 0; o < len; o += page)
        __atomic_fetch_add(p + o, 0, __ATOMIC_RELAXED);
}

static int populate(uint8_t *p, size_t len, size_t page)
{
    if (madvise(p, len, MADV_POPULATE_WRITE) == 0)
        return 0;
    if (errno == EINVAL) {
        touch_pages(p, len, page);
        return 0;
    }
    return -errno;
}

static void *slice_run(void *arg)
{
    struct slice *s = arg;
    uint64_t pos = 0;
    for (uint32_t i = 0; i < s->t->n && !s->err; i++) {
        const struct gm_region *r = &s->t->r[i];
        uint64_t lo = pos > s->begin ? pos : s->begin;
        uint64_t hi = pos + r->map_len < s->end ? pos + r->map_len : s->end;
        if (lo < hi) {
            uint64_t off = (lo - pos) & ~((uint64_t)s->page - 1);
            s->err = populate((uint8_t *)r->map_base + off, (size_t)(hi - pos - off), s->page);
        }
        pos += r->map_len;
    }
    return NULL;
}

int gm_prefault(const struct gm_table *t, unsigned nthreads)
{
    struct slice s[GM_PREFAULT_MAX_THREADS];
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    uint64_t total = 0;

    for (uint32_t i = 0; i < t->n; i++)
        total += t->r[i].map_len;
    if (nthreads == 0)
        nthreads = 1;
    if (nthreads > GM_PREFAULT_MAX_THREADS)
        nthreads = GM_PREFAULT_MAX_THREADS;
    uint64_t pages = (total + page - 1) / page;
    if (nthreads > pages)
        nthreads = pages ? (unsigned)pages : 1;

    /* Slices start on page multiples of the concatenation, which is not a
     * page boundary inside a region whose predecessor has an odd length:
     * slice_run rounds down, so a page may be populated twice, harmlessly. */
    for (unsigned k = 0; k < nthreads; k++) {
        s[k] = (struct slice){.t = t, .page = page};
        s[k].begin = pages * k / nthreads * page;
        s[k].end = k + 1 == nthreads ? total : pages * (k + 1) / nthreads * page;
    }
    bool started[GM_PREFAULT_MAX_THREADS] = {false};
    for (unsigned k = 1; k < nthreads; k++)
        started[k] = pthread_create(&s[k].tid, NULL, slice_run, &s[k]) == 0;
    slice_run(&s[0]);
    int rc = s[0].err;
    for (unsigned k = 1; k < nthreads; k++) {
        if (started[k])
            pthread_join(s[k].tid, NULL);
        else
            slice_run(&s[k]);
        if (!rc)
            rc = s[k].err;
    }
    return rc;
}
