/* Memory table, dirty log and inflight area messages. A new table or log is
 * published atomically; the one it replaces is retired only after every
 * started queue has been stopped once (the data path may still hold it), and
 * the queues are restarted on the new table. */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/util.h"
#include "vhost_int.h"

/* Largest dirty bitmap accepted: 1 GiB covers 32 TiB of guest memory. */
#define VHU_MAX_LOG_BYTES (1ull << 30)

/* Swaps in t, restarting running queues on it. Returns the old table (the
 * caller frees it: nothing can read it any more) and the resume result. */
static struct gm_table *publish_table(struct vhost_dev *v, struct gm_table *t, int *rc)
{
    vhu_queues_pause(v, v->paused);
    struct gm_table *old = gm_publish(&v->gm, t);
    *rc = vhu_queues_resume(v, v->paused);
    return old;
}

/* On the last pre-fault thread. */
static void prefaulted(void *arg, int err, uint64_t bytes, uint64_t ns)
{
    struct vhost_dev *v = arg;
    if (err < 0)
        LOG_WARN(VHU_COMP, "%s: pre-faulting guest memory failed: %s (continuing)", v->dev->name,
                 strerror(-err));
    else
        LOG_INFO(VHU_COMP, "%s: pre-faulted %llu MiB of guest memory with %u thread(s) in %llu ms",
                 v->dev->name, (unsigned long long)(bytes >> 20), v->prefault_threads,
                 (unsigned long long)(ns / 1000000));
}

/* Pre-faulting runs in the background, so a large guest does not hold the
 * control thread (every device's messages, the RPC server) for seconds; the
 * frontend gets its reply at once and the sidecores may start meanwhile.
 * The job reads the table it was given: stop it before that table goes. */
static void prefault_stop(struct vhost_dev *v)
{
    gm_prefault_stop(v->prefault_job);
    v->prefault_job = NULL;
}

static void prefault(struct vhost_dev *v, const struct gm_table *t)
{
    if (!v->prefault_threads)
        return;
    v->prefault_job = gm_prefault_start(t, v->prefault_threads, prefaulted, v);
    if (!v->prefault_job)
        LOG_WARN(VHU_COMP, "%s: out of memory: guest memory is not pre-faulted", v->dev->name);
}

int vhu_h_set_mem_table(struct vhost_dev *v, struct vhu_msg *m, int *fds, unsigned nfds,
                       struct vhu_reply *r)
{
    const struct vhu_mem_table *mt = &m->p.mem;
    const char *why = "invalid region";
    int rc;
    (void)nfds, (void)r;

    struct gm_table *t = gm_table_new_empty();
    if (!t)
        return vhu_err(v, "out of memory building the memory table");
    t->bus = &v->gm.bus;
    for (uint32_t i = 0; i < mt->nregions; i++) {
        const struct vhu_mem_region *g = &mt->r[i];
        int fd = fds[i];
        fds[i] = -1;
        if (gm_table_add(t, g->gpa, g->size, g->uva, g->mmap_offset, fd, &why) != 0) {
            gm_table_free(t, true);
            return vhu_err(v, "region %u (gpa 0x%llx size 0x%llx uva 0x%llx offset 0x%llx): %s",
                          i, (unsigned long long)g->gpa, (unsigned long long)g->size,
                          (unsigned long long)g->uva, (unsigned long long)g->mmap_offset, why);
        }
    }
    prefault_stop(v);
    /* Every region of the old table was mapped separately: unmap them all. */
    gm_table_free(publish_table(v, t, &rc), true);
    prefault(v, t);
    return rc;
}

int vhu_h_add_mem_reg(struct vhost_dev *v, struct vhu_msg *m, int *fds, unsigned nfds,
                     struct vhu_reply *r)
{
    const struct vhu_mem_region *g = &m->p.mreg.r;
    const char *why = "invalid region";
    int rc, fd = fds[0];
    (void)nfds, (void)r;

    fds[0] = -1;
    if (gm_readd(&v->gm, g->gpa, g->size, g->uva, g->mmap_offset, fd)) {
        LOG_DEBUG(VHU_COMP, "%s: region gpa 0x%llx size 0x%llx added again (one add per queue "
                            "pair from QEMU 7.2): already mapped",
                  v->dev->name, (unsigned long long)g->gpa, (unsigned long long)g->size);
        close(fd);
        return VHU_OK;
    }
    struct gm_table *t = gm_table_clone(gm_current(&v->gm));
    if (!t) {
        close(fd);
        return vhu_err(v, "out of memory building the memory table");
    }
    if (gm_table_add(t, g->gpa, g->size, g->uva, g->mmap_offset, fd, &why) != 0) {
        gm_table_free(t, false);
        return vhu_err(v, "region gpa 0x%llx size 0x%llx uva 0x%llx offset 0x%llx: %s",
                      (unsigned long long)g->gpa, (unsigned long long)g->size,
                      (unsigned long long)g->uva, (unsigned long long)g->mmap_offset, why);
    }
    prefault_stop(v);
    gm_table_free(publish_table(v, t, &rc), false);
    prefault(v, t);
    return rc;
}

int vhu_h_rem_mem_reg(struct vhost_dev *v, struct vhu_msg *m, int *fds, unsigned nfds,
                     struct vhu_reply *r)
{
    const struct vhu_mem_region *g = &m->p.mreg.r;
    struct gm_region removed;
    int rc;
    (void)fds, (void)nfds, (void)r;

    if (gm_unreadd(&v->gm, g->gpa, g->size, g->uva))
        return VHU_OK; /* an earlier add of it stands */
    struct gm_table *t = gm_table_clone(gm_current(&v->gm));
    if (!t)
        return vhu_err(v, "out of memory building the memory table");
    if (gm_table_remove(t, g->gpa, g->size, g->uva, &removed) != 0) {
        gm_table_free(t, false);
        return vhu_err(v, "no region gpa 0x%llx size 0x%llx uva 0x%llx to remove",
                      (unsigned long long)g->gpa, (unsigned long long)g->size,
                      (unsigned long long)g->uva);
    }
    prefault_stop(v);
    gm_table_free(publish_table(v, t, &rc), false);
    /* Queues now run (or stay stopped) on t, which does not have it. */
    gm_region_unmap(&removed);
    return rc;
}

/* A mapping past the end of the file would fault (SIGBUS) on first touch. */
static int check_file_covers(struct vhost_dev *v, int fd, uint64_t off, uint64_t len,
                             const char *what)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return vhu_err(v, "%s: fstat failed: %s", what, strerror(errno));
    if (off + len < off || (uint64_t)st.st_size < off + len)
        return vhu_err(v, "%s: [offset 0x%llx, +0x%llx) is beyond the end of the file (%lld bytes)",
                      what, (unsigned long long)off, (unsigned long long)len,
                      (long long)st.st_size);
    return VHU_OK;
}

int vhu_h_set_log_base(struct vhost_dev *v, struct vhu_msg *m, int *fds, unsigned nfds,
                      struct vhu_reply *r)
{
    const struct vhu_log *l = &m->p.log;
    int fd = fds[0], rc = VHU_OK;
    (void)nfds;

    if (!vhu_has_proto(v, VHOST_USER_PROTOCOL_F_LOG_SHMFD))
        return vhu_err(v, "LOG_SHMFD was not negotiated");
    if (l->size == 0 || l->size > VHU_MAX_LOG_BYTES)
        return vhu_err(v, "log size %llu is not in 1..%llu bytes", (unsigned long long)l->size,
                      VHU_MAX_LOG_BYTES);
    if (check_file_covers(v, fd, l->offset, l->size, "dirty log") != VHU_OK)
        return VHU_FATAL;
    /* One bit per 4 KiB page: a log too small for the memory leaves the
     * pages above it unmarked, and a migration would lose what the device
     * wrote there. Marks past it are dropped (the frontend's mistake), but
     * said here. */
    const struct gm_table *t = gm_current(&v->gm);
    uint64_t top = t->n ? t->r[t->n - 1].gpa + t->r[t->n - 1].size : 0;
    uint64_t need = (top / 4096 + 7) / 8;
    if (l->size < need)
        LOG_WARN(VHU_COMP, "%s: the dirty log (%llu bytes) covers guest memory up to 0x%llx, "
                           "but memory reaches 0x%llx: the device's writes above are not "
                           "logged, and a migration would lose them",
                 v->dev->name, (unsigned long long)l->size, (unsigned long long)l->size * 8 * 4096,
                 (unsigned long long)top);
    fds[0] = -1;
    struct dirty_log_map *map = dirty_log_map_new(fd, l->size, l->offset, &v->gm.bus);
    if (!map)
        return vhu_err(v, "cannot map the dirty log (size %llu, offset %llu): %s",
                      (unsigned long long)l->size, (unsigned long long)l->offset,
                      strerror(errno));
    struct dirty_log_map *old = v->log_map;
    v->log_map = map;
    if (old) {
        /* A sidecore may still hold the old log: retire it once every queue
         * has stopped. */
        vhu_queues_pause(v, v->paused);
        vhu_log_apply(v);
        rc = vhu_queues_resume(v, v->paused);
        dirty_log_map_free(old);
    } else {
        vhu_log_apply(v);
    }
    /* With LOG_SHMFD the frontend waits for this reply (u64 0). */
    r->p.u64 = 0;
    r->size = sizeof(r->p.u64);
    return rc;
}

int vhu_h_set_log_fd(struct vhost_dev *v, struct vhu_msg *m, int *fds, unsigned nfds,
                    struct vhu_reply *r)
{
    (void)m, (void)nfds, (void)r;
    if (v->log_call_fd >= 0)
        close(v->log_call_fd);
    v->log_call_fd = fds[0];
    fds[0] = -1;
    return VHU_OK;
}

void vhu_log_apply(struct vhost_dev *v)
{
    struct dirty_log_map *m = (v->features >> VHOST_F_LOG_ALL) & 1 ? v->log_map : NULL;
    /* The map stays owned by v->log_map: a sidecore that still marks the
     * one hidden here writes memory that is mapped until it is replaced or
     * forgotten, both of which quiesce the queues first. */
    struct dirty_log_map *was = dirty_log_swap(&v->gm.log, m);
    if (m && m != was)
        LOG_INFO(VHU_COMP, "%s: dirty logging on (%llu-byte log, guest memory up to %llu MiB)",
                 v->dev->name, (unsigned long long)m->size,
                 (unsigned long long)(m->size * 8 * DIRTY_LOG_PAGE >> 20));
    else if (!m && was)
        LOG_INFO(VHU_COMP, "%s: dirty logging off", v->dev->name);
}

void vhu_log_forget(struct vhost_dev *v)
{
    dirty_log_swap(&v->gm.log, NULL);
    dirty_log_map_free(v->log_map);
    v->log_map = NULL;
    if (v->log_call_fd >= 0)
        close(v->log_call_fd);
    v->log_call_fd = -1;
}

static int check_inflight_geometry(struct vhost_dev *v, const struct vhu_inflight *in)
{
    if (in->num_queues == 0 || in->num_queues > v->nq)
        return vhu_err(v, "inflight area for %u queues, the device has %u", in->num_queues,
                      v->nq);
    if (in->queue_size == 0 || in->queue_size > VIRTQ_MAX_SIZE ||
        (in->queue_size & (in->queue_size - 1)))
        return vhu_err(v, "inflight queue size %u is not a power of two in 1..%u",
                      in->queue_size, VIRTQ_MAX_SIZE);
    return VHU_OK;
}

int vhu_h_get_inflight_fd(struct vhost_dev *v, struct vhu_msg *m, int *fds, unsigned nfds,
                         struct vhu_reply *r)
{
    const struct vhu_inflight *in = &m->p.inflight;
    (void)fds, (void)nfds;

    if (!vhu_has_proto(v, VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD))
        return vhu_err(v, "INFLIGHT_SHMFD was not negotiated");
    if (check_inflight_geometry(v, in) != VHU_OK)
        return VHU_FATAL;
    uint64_t size = in->num_queues * vq_inflight_queue_bytes(in->queue_size);
    int fd = memfd_create("sidecore-inflight", MFD_CLOEXEC);
    if (fd < 0)
        return vhu_err(v, "memfd_create for the inflight area failed: %s", strerror(errno));
    /* A fresh memfd reads as zeros: version 0 tells the queue it is new. */
    if (ftruncate(fd, (off_t)size) < 0) {
        int e = errno;
        close(fd);
        return vhu_err(v, "sizing the inflight area to %llu bytes failed: %s",
                      (unsigned long long)size, strerror(e));
    }
    r->p.inflight = (struct vhu_inflight){.mmap_size = size,
                                         .mmap_offset = 0,
                                         .num_queues = in->num_queues,
                                         .queue_size = in->queue_size};
    r->size = sizeof(r->p.inflight);
    r->fds[0] = fd;
    r->nfds = 1;
    return VHU_OK;
}

void vhu_inflight_forget(struct vhost_dev *v)
{
    if (v->inflight_map) {
        busguard_remove(v->inflight_map);
        munmap(v->inflight_map, v->inflight_map_len);
    }
    v->inflight_map = NULL;
    v->inflight_map_len = 0;
    v->inflight_base = NULL;
    v->inflight_nq = 0;
    v->inflight_qsize = 0;
    v->inflight_stride = 0;
}

int vhu_h_set_inflight_fd(struct vhost_dev *v, struct vhu_msg *m, int *fds, unsigned nfds,
                         struct vhu_reply *r)
{
    const struct vhu_inflight *in = &m->p.inflight;
    long page = sysconf(_SC_PAGESIZE);
    (void)nfds, (void)r;

    if (!vhu_has_proto(v, VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD))
        return vhu_err(v, "INFLIGHT_SHMFD was not negotiated");
    if (vhu_queues_started(v))
        return vhu_err(v, "inflight area set while queues are running");
    if (check_inflight_geometry(v, in) != VHU_OK)
        return VHU_FATAL;
    /* Areas we hand out have room for the packed layout; one sized for
     * split rings only (an older sidecored's) still serves split rings. */
    uint64_t stride = vq_inflight_queue_bytes(in->queue_size);
    if (in->mmap_size < in->num_queues * stride)
        stride = vq_inflight_split_bytes(in->queue_size);
    uint64_t need = in->num_queues * stride;
    if (in->mmap_size < need)
        return vhu_err(v, "inflight area of %llu bytes, %u queues of %u need %llu",
                      (unsigned long long)in->mmap_size, in->num_queues, in->queue_size,
                      (unsigned long long)(in->num_queues *
                                           vq_inflight_queue_bytes(in->queue_size)));
    if (in->mmap_offset % (uint64_t)page)
        return vhu_err(v, "inflight area offset 0x%llx is not page aligned",
                      (unsigned long long)in->mmap_offset);
    if (check_file_covers(v, fds[0], in->mmap_offset, need, "inflight area") != VHU_OK)
        return VHU_FATAL;
    void *p = mmap(NULL, need, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], (off_t)in->mmap_offset);
    if (p == MAP_FAILED)
        return vhu_err(v, "cannot map the inflight area: %s", strerror(errno));
    if (busguard_add(p, need, &v->gm.bus) < 0) {
        munmap(p, need);
        return vhu_err(v, "too many mappings of frontend files in this daemon");
    }
    vhu_inflight_forget(v);
    v->inflight_map = p;
    v->inflight_map_len = need;
    v->inflight_base = p;
    v->inflight_nq = in->num_queues;
    v->inflight_qsize = in->queue_size;
    v->inflight_stride = stride;
    return VHU_OK;
}

void vhu_mem_forget(struct vhost_dev *v)
{
    prefault_stop(v);
    struct gm_table *empty = gm_table_new_empty();
    if (!empty) {
        LOG_ERR(VHU_COMP, "%s: out of memory: guest memory stays mapped until the next table",
                v->dev->name);
        return;
    }
    empty->bus = &v->gm.bus; /* ADD_MEM_REG builds on it */
    gm_table_free(gm_publish(&v->gm, empty), true);
}
