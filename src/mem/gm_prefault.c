/* Parallel pre-faulting of guest memory, so the first guest I/O does not pay
 * for page faults on the sidecore. The concatenation of all regions is cut
 * into nthreads page-aligned slices, one per thread; each thread works in
 * chunks and checks between them whether the job was cancelled. */
#include "guestmem.h"


#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../common/util.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define GM_PREFAULT_MAX_THREADS 64
#define GM_PREFAULT_CHUNK (64ull << 20)

struct gm_prefault_job;

struct slice {
    struct gm_prefault_job *j;
    uint64_t begin, end; /* offsets into the concatenated mappings */
    int err;
    pthread_t tid;
    bool started;
};

struct gm_prefault_job {
    const struct gm_table *t;
    size_t page;
    unsigned n;
    _Atomic bool cancel;
    _Atomic unsigned running;
    uint64_t total, start_ns;
    void (*done)(void *arg, int err, uint64_t bytes, uint64_t ns);
    void *arg;
    struct slice s[GM_PREFAULT_MAX_THREADS];
};

/* Older kernels lack MADV_POPULATE_WRITE: fault pages in by hand. An atomic
 * add of zero writes without changing what a running guest may be storing. */
static void touch_pages(uint8_t *p, size_t len, size_t page)
{
    for (size_t o = 0; o < len; o += page)
        __atomic_fetch_add(p + o, 0, __ATOMIC_RELAXED);
}

static int populate(struct gm_prefault_job *j, uint8_t *p, size_t len)
{
    for (size_t o = 0; o < len && !atomic_load_explicit(&j->cancel, memory_order_relaxed);) {
        size_t k = len - o < GM_PREFAULT_CHUNK ? len - o : GM_PREFAULT_CHUNK;
        if (madvise(p + o, k, MADV_POPULATE_WRITE) < 0) {
            if (errno != EINVAL)
                return -errno;
            touch_pages(p + o, k, j->page);
        }
        o += k;
    }
    return 0;
}

static int first_error(const struct gm_prefault_job *j)
{
    for (unsigned k = 0; k < j->n; k++)
        if (j->s[k].err)
            return j->s[k].err;
    return 0;
}

static void *slice_run(void *arg)
{
    struct slice *s = arg;
    struct gm_prefault_job *j = s->j;
    uint64_t pos = 0;
    for (uint32_t i = 0; i < j->t->n && !s->err; i++) {
        const struct gm_region *r = &j->t->r[i];
        uint64_t lo = pos > s->begin ? pos : s->begin;
        uint64_t hi = pos + r->map_len < s->end ? pos + r->map_len : s->end;
        if (lo < hi) {
            uint64_t off = (lo - pos) & ~((uint64_t)j->page - 1);
            s->err = populate(j, (uint8_t *)r->map_base + off, (size_t)(hi - pos - off));
        }
        pos += r->map_len;
    }
    /* The last slice to finish reports the whole job (unless cancelled). */
    if (atomic_fetch_sub(&j->running, 1) == 1 && j->done && !atomic_load(&j->cancel))
        j->done(j->arg, first_error(j), j->total, sc_now_ns() - j->start_ns);
    return NULL;
}

struct gm_prefault_job *gm_prefault_start(const struct gm_table *t, unsigned nthreads,
                                          void (*done)(void *arg, int err, uint64_t bytes,
                                                       uint64_t ns),
                                          void *arg)
{
    struct gm_prefault_job *j = calloc(1, sizeof(*j));
    if (!j)
        return NULL;
    j->t = t;
    j->page = (size_t)sysconf(_SC_PAGESIZE);
    j->done = done;
    j->arg = arg;
    j->start_ns = sc_now_ns();
    for (uint32_t i = 0; i < t->n; i++)
        j->total += t->r[i].map_len;
    if (nthreads == 0)
        nthreads = 1;
    if (nthreads > GM_PREFAULT_MAX_THREADS)
        nthreads = GM_PREFAULT_MAX_THREADS;
    uint64_t pages = (j->total + j->page - 1) / j->page;
    if (nthreads > pages)
        nthreads = pages ? (unsigned)pages : 1;
    j->n = nthreads;

    /* Slices start on page multiples of the concatenation, which is not a
     * page boundary inside a region whose predecessor has an odd length:
     * slice_run rounds down, so a page may be populated twice, harmlessly. */
    for (unsigned k = 0; k < nthreads; k++) {
        j->s[k] = (struct slice){.j = j};
        j->s[k].begin = pages * k / nthreads * j->page;
        j->s[k].end = k + 1 == nthreads ? j->total : pages * (k + 1) / nthreads * j->page;
    }
    atomic_store(&j->running, nthreads);
    for (unsigned k = 0; k < nthreads; k++) {
        j->s[k].started = pthread_create(&j->s[k].tid, NULL, slice_run, &j->s[k]) == 0;
        if (!j->s[k].started) {
            /* This slice stays undone: the job ends once the others have. */
            j->s[k].err = -EAGAIN;
            atomic_fetch_sub(&j->running, 1);
        }
    }
    return j;
}

static int join(struct gm_prefault_job *j)
{
    for (unsigned k = 0; k < j->n; k++)
        if (j->s[k].started)
            pthread_join(j->s[k].tid, NULL);
    int rc = first_error(j);
    free(j);
    return rc;
}

int gm_prefault_stop(struct gm_prefault_job *j)
{
    if (!j)
        return 0;
    atomic_store(&j->cancel, true);
    return join(j);
}

int gm_prefault(const struct gm_table *t, unsigned nthreads)
{
    struct gm_prefault_job *j = gm_prefault_start(t, nthreads, NULL, NULL);
    return j ? join(j) : -ENOMEM;
}
