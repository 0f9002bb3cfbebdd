/* File backend: open (and create or extend) a regular file, or open a block
 * device, and describe it. Request handling is in blk_file_ring.c. */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/log.h"
#include "blk_file_int.h"

static void file_info(struct blk_backend *b, struct blk_backend_info *out)
{
    *out = ((struct file_be *)b)->info;
}

static void file_destroy(struct blk_backend *b)
{
    struct file_be *fb = (struct file_be *)b;
    if (!fb)
        return;
    close(fb->fd);
    if (fb->bfd >= 0)
        close(fb->bfd);
    free(fb);
}

/* A block device grows by itself (lvextend, losetup -c, a SAN's rescan):
 * the device takes up to what the kernel now says it holds, as SPDK's
 * bdev_aio_rescan does. */
static int blkdev_resize(struct file_be *fb, uint64_t size, const char **why)
{
    uint64_t bytes = 0;
    if (ioctl(fb->fd, BLKGETSIZE64, &bytes) < 0) {
        int e = errno;
        *why = "cannot read the block device's size";
        return -e;
    }
    if (size > bytes) {
        *why = "the block device is smaller than that: grow the device itself first "
               "(lvextend, losetup -c, a rescan), then resize to at most its size";
        return -EINVAL;
    }
    fb->info.size = size;
    return 0;
}

static int file_resize(struct blk_backend *b, uint64_t size, const char **why)
{
    struct file_be *fb = (struct file_be *)b;
    if (fb->is_blkdev)
        return blkdev_resize(fb, size, why);
    if (fb->info.read_only) {
        *why = "the file is read-only";
        return -EROFS;
    }
    /* The file, not what this device saw: another device sharing it (a
     * live migration's other end) may have grown it since. */
    struct stat st;
    if (fstat(fb->fd, &st) < 0) {
        int e = errno;
        *why = "cannot stat the file";
        return -e;
    }
    if (size < (uint64_t)st.st_size) {
        *why = "the file is larger than that (another device sharing it grew it?): shrinking "
               "it would cut off data";
        return -EINVAL;
    }
    if (ftruncate(fb->fd, (off_t)size) < 0) {
        int e = errno;
        *why = "cannot extend the file";
        return -e;
    }
    fb->info.size = size;
    return 0;
}

const struct blk_backend_ops file_ops = {
    .name = "file",
    .info = file_info,
    .queue_open = file_queue_open,
    .queue_close = file_queue_close,
    .submit = file_submit,
    .kick = file_kick,
    .reap = file_reap,
    .in_flight = file_in_flight,
    .event_fd = file_event_fd,
    .destroy = file_destroy,
    .resize = file_resize,
};

/* *created: the file did not exist; a failed start removes it again. */
static int open_file(const struct blk_file_params *p, bool *created, const char **why)
{
    int flags = (p->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC;
    if (p->direct)
        flags |= O_DIRECT;
    *created = false;
    int fd = open(p->path, flags);
    if (fd < 0 && errno == ENOENT && !p->read_only && p->size > 0) {
        fd = open(p->path, flags | O_CREAT | O_EXCL, 0600);
        *created = fd >= 0;
        if (fd < 0 && errno == EEXIST)
            fd = open(p->path, flags);
    }
    if (fd >= 0)
        return fd;
    int err = errno;
    if (p->direct && err == EINVAL) {
        *why = "O_DIRECT is not supported by this filesystem (turn direct off)";
    } else if (err == ENOENT) {
        *why = p->read_only ? "file does not exist"
                            : "file does not exist (give a size to create it)";
    } else if (err == EACCES || err == EPERM || err == EROFS) {
        *why = "permission denied (serve it read-only: readonly=on, sidecorectl --read-only, "
               "\"read_only\": true in JSON)";
    } else if (err == EISDIR) {
        *why = "it is a directory (give an image file or a block device)";
    } else if (err == ENXIO) {
        *why = "it is a socket or a device with no driver (give an image file or a block device)";
    } else {
        *why = "cannot open the file";
    }
    LOG_ERR("blk-file", "%s: open: %s", p->path, strerror(err));
    errno = err;
    return -1;
}

static int describe_blkdev(int fd, const struct blk_file_params *p, struct blk_backend_info *inf,
                           const char **why)
{
    uint64_t bytes = 0;
    int ssz = 0;
    if (ioctl(fd, BLKGETSIZE64, &bytes) < 0 || ioctl(fd, BLKSSZGET, &ssz) < 0) {
        LOG_ERR("blk-file", "%s: BLKGETSIZE64/BLKSSZGET: %s", p->path, strerror(errno));
        *why = "cannot read the block device's size";
        return -1;
    }
    if (p->size > bytes) {
        *why = "size is larger than the block device";
        return -1;
    }
    int ro = 0;
    if (!p->read_only && ioctl(fd, BLKROGET, &ro) == 0 && ro) {
        *why = "the block device is read-only (set readonly=on to serve it read-only)";
        return -1;
    }
    inf->size = bytes;
    inf->block_size = ssz == 4096 ? 4096 : 512;
    return 0;
}

/* What O_DIRECT asks of buffers and of offsets and lengths: the kernel
 * says (statx) where it can, else the disk's logical block size and 512. */
static void dio_alignment(struct file_be *fb)
{
    struct statx sx;
    fb->mem_align = 512;
    fb->off_align = fb->info.block_size;
    if (statx(fb->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) == 0 &&
        (sx.stx_mask & STATX_DIOALIGN) && sx.stx_dio_mem_align && sx.stx_dio_offset_align) {
        fb->mem_align = sx.stx_dio_mem_align;
        fb->off_align = sx.stx_dio_offset_align;
    }
}

/* The same file opened again without O_DIRECT (see struct file_be). */
static int open_buffered(int fd, bool read_only)
{
    char self[64];
    snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
    return open(self, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
}

static int describe_regular(int fd, const struct blk_file_params *p, const struct stat *st,
                            struct blk_backend_info *inf, const char **why)
{
    uint64_t size = (uint64_t)st->st_size;
    if (p->size > size) {
        if (p->read_only) {
            *why = "cannot extend a read-only file to the requested size";
            return -1;
        }
        if (ftruncate(fd, (off_t)p->size) < 0) {
            LOG_ERR("blk-file", "%s: ftruncate to %llu: %s", p->path,
                    (unsigned long long)p->size, strerror(errno));
            *why = "cannot extend the file to the requested size";
            return -1;
        }
        inf->grown = true;
        inf->grown_from = size;
        size = p->size;
    } else if (p->size && p->size < size) {
        LOG_INFO("blk-file", "%s: the file holds %llu bytes, more than size %llu: the guest "
                 "sees all of it", p->path, (unsigned long long)size,
                 (unsigned long long)p->size);
    }
    if (size < 512) {
        *why = "file is smaller than one 512-byte sector (give a size)";
        return -1;
    }
    if (size % 512)
        LOG_WARN("blk-file", "%s: the file holds %llu bytes, not a whole number of 512-byte "
                 "sectors: the last %llu are not served (give a size to round it up)", p->path,
                 (unsigned long long)size, (unsigned long long)(size % 512));
    inf->size = size;
    /* O_DIRECT needs buffers and offsets aligned to the disk under the file
     * system, which a regular file does not reveal: 4 KiB is safe for both
     * 512-byte and 4 KiB disks. */
    inf->block_size = p->direct ? 4096 : 512;
    return 0;
}

struct blk_backend *blk_file_create(const struct blk_file_params *p, const char **why)
{
    struct stat st;
    struct blk_backend_info inf = {0};

    if (!p || !p->path || !p->path[0]) {
        *why = "no path given";
        return NULL;
    }
    bool created;
    int fd = open_file(p, &created, why);
    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) < 0) {
        *why = "cannot stat the file";
        goto fail;
    }
    bool blkdev = S_ISBLK(st.st_mode);
    if (!blkdev && !S_ISREG(st.st_mode)) {
        *why = "not a regular file or block device";
        goto fail;
    }
    /* Before any ftruncate: a file another process serves is not resized. */
    if (!p->unlocked && file_lock_image(fd, p->path, !p->read_only, p->shared, why) < 0)
        goto fail;
    if (blkdev ? describe_blkdev(fd, p, &inf, why) < 0
               : describe_regular(fd, p, &st, &inf, why) < 0)
        goto fail;
    inf.created = created;
    inf.read_only = p->read_only;
    inf.can_discard = !p->read_only;
    inf.can_write_zeroes = !p->read_only;
    inf.has_flush = true;

    struct file_be *fb = calloc(1, sizeof(*fb));
    if (!fb) {
        *why = "out of memory";
        goto fail;
    }
    fb->base.ops = &file_ops;
    fb->fd = fd;
    fb->bfd = -1;
    fb->is_blkdev = blkdev;
    fb->info = inf;
    if (p->direct) {
        dio_alignment(fb);
        fb->bfd = open_buffered(fd, p->read_only);
        if (fb->bfd < 0) {
            LOG_ERR("blk-file", "%s: reopen without O_DIRECT: %s", p->path, strerror(errno));
            *why = "cannot open the file a second time (without O_DIRECT)";
            free(fb);
            goto fail;
        }
    }
    return &fb->base;
fail:
    LOG_ERR("blk-file", "%s: %s", p->path, *why);
    if (created)
        unlink(p->path);
    close(fd);
    return NULL;
}
