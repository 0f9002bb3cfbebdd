/* The device's crash records (struct vq_resume, one per queue) in a file
 * of their own, mapped shared: what a sidecored that crashed or exited
 * wrote there is read by the next one on the same runtime directory. Only
 * packed rings without an inflight area use it (vhu_queue_try_start).
 * Deleting the device removes the file; without one (no path, or it cannot
 * be made) the device works as before and only its packed rings' recovery
 * after a restart is lost. The file is write-locked (an OFD lock, as image
 * locks are) while mapped: a file some device or program serves as a disk
 * image is never resized or overwritten here, nor taken as an image while
 * it holds records. */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/log.h"
#include "vhost_int.h"

/* Whole records, each starting with the magic or never written: anything
 * else at the path (a file put there, an image not in use) is not ours to
 * resize or remove. */
static bool holds_records(int fd, uint64_t size)
{
    uint64_t rec = vq_resume_bytes();
    if (size % rec)
        return false;
    for (uint64_t at = 0; at < size; at += rec) {
        uint32_t magic;
        if (pread(fd, &magic, sizeof(magic), (off_t)at) != (ssize_t)sizeof(magic) ||
            (magic != 0 && magic != VQ_RESUME_MAGIC))
            return false;
    }
    return true;
}

void vhu_ring_state_open(struct vhost_dev *v, const char *path)
{
    if (!path || !*path)
        return;
    /* Sparse: only what the rings touch takes memory. */
    size_t len = (size_t)v->nq * vq_resume_bytes();
    const char *what = "open";
    struct stat st;
    int err;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        goto fail;
    what = "use";
    if (fstat(fd, &st) < 0)
        goto fail_fd;
    if (!S_ISREG(st.st_mode)) {
        errno = EINVAL; /* not a regular file */
        goto fail_fd;
    }
    what = "lock (is it a disk image in use?)";
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    if (fcntl(fd, F_OFD_SETLK, &fl) < 0)
        goto fail_fd;
    bool fresh = st.st_size == 0; /* ours to remove if it cannot serve */
    if (!fresh && !holds_records(fd, (uint64_t)st.st_size)) {
        close(fd);
        LOG_WARN(VHU_COMP, "%s: %s holds something else than crash records (left as it is): "
                           "packed rings without an inflight area will not resume after a "
                           "crash of the daemon; move the file away",
                 v->path, path);
        return;
    }
    what = "size";
    if (ftruncate(fd, (off_t)len) < 0)
        goto fail_fresh;
    /* Stores into a hole of a full file system raise SIGBUS and would kill
     * the daemon: each queue's header page is allocated now, the rest when
     * a ring of known size starts (vhu_ring_state_reserve). */
    what = "allocate";
    for (uint16_t i = 0; i < v->nq; i++) {
        int e = posix_fallocate(fd, (off_t)i * (off_t)vq_resume_bytes(), 4096);
        if (e) {
            errno = e;
            goto fail_fresh;
        }
    }
    what = "map";
    void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED)
        goto fail_fresh;
    v->ring_state_path = strdup(path);
    if (!v->ring_state_path) {
        munmap(m, len);
        errno = ENOMEM;
        goto fail_fresh;
    }
    v->ring_state_fd = fd;
    v->ring_state = m;
    v->ring_state_len = len;
    return;
fail_fresh:
    err = errno;
    if (fresh)
        unlink(path);
    errno = err;
fail_fd:
    err = errno;
    close(fd);
    errno = err;
fail:
    LOG_WARN(VHU_COMP, "%s: cannot %s the ring state file %s (%s): packed rings without an "
                       "inflight area will not resume after a crash of the daemon",
             v->path, what, path, strerror(errno));
}

void vhu_ring_state_close(struct vhost_dev *v)
{
    if (v->ring_state)
        munmap(v->ring_state, v->ring_state_len);
    if (v->ring_state_fd >= 0)
        close(v->ring_state_fd);
    v->ring_state_fd = -1;
    free(v->ring_state_path);
    v->ring_state = NULL;
    v->ring_state_path = NULL;
}

/* Unlinked only: rings still draining keep writing to the mapping. */
void vhost_dev_drop_ring_state(struct vhost_dev *v)
{
    if (!v->ring_state_path)
        return;
    if (vhu_packed(v)) {
        LOG_INFO(VHU_COMP, "%s: crash records kept in %s: a VM runs packed rings on the device "
                           "and will resend its first bases to a device of this name created "
                           "again, which resumes the rings from them",
                 v->path, v->ring_state_path);
        return;
    }
    unlink(v->ring_state_path);
}

struct vq_resume *vhu_ring_state_of(struct vhost_dev *v, uint16_t i)
{
    if (!v->ring_state || i >= v->nq)
        return NULL;
    return (struct vq_resume *)(v->ring_state + (size_t)i * vq_resume_bytes());
}

struct vq_resume *vhu_ring_state_reserve(struct vhost_dev *v, uint16_t i, uint16_t num)
{
    struct vq_resume *r = vhu_ring_state_of(v, i);
    if (!r)
        return NULL;
    off_t at = (off_t)i * (off_t)vq_resume_bytes();
    int e = posix_fallocate(v->ring_state_fd, at, (off_t)vq_resume_bytes_for(num));
    if (e) {
        LOG_WARN(VHU_COMP, "%s: cannot allocate ring %u's crash record in %s (%s): the ring "
                           "works, but will not resume after a crash of the daemon",
                 v->path, i, v->ring_state_path, strerror(e));
        return NULL;
    }
    return r;
}
