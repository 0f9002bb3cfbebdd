/* Image locks compatible with QEMU's (block/file-posix.c), so that QEMU,
 * qemu-storage-daemon, qemu-img and other sidecoreds see who uses an image:
 * a read lock on byte 100 + p while permission p is used, on byte 200 + p
 * while p is refused to others (p: 0 consistent read, 1 write). They are
 * open file description (OFD) locks: they belong to this fd, not to the
 * process, so two devices of one daemon see each other too, and they go
 * with the last close. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "../common/log.h"
#include "blk_file_int.h"

enum { PERM_BASE = 100, UNSHARED_BASE = 200, P_READ = 0, P_WRITE = 1 };

static int lock_byte(int fd, off_t off)
{
    struct flock fl = {.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = off, .l_len = 1};
    return fcntl(fd, F_OFD_SETLK, &fl) < 0 ? -errno : 0;
}

/* 1 when another open file description holds a lock on the byte. */
static int held_by_other(int fd, off_t off)
{
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = off, .l_len = 1};
    if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
        return -errno;
    return fl.l_type != F_UNLCK;
}

int file_lock_image(int fd, const char *path, bool write, bool shared, const char **why)
{
    /* Locks first, then the test, as QEMU does: of two processes starting
     * at once, one or both are refused, never neither. */
    int rc = lock_byte(fd, PERM_BASE + P_READ);
    if (rc == 0 && write)
        rc = lock_byte(fd, PERM_BASE + P_WRITE);
    if (rc == 0 && !shared)
        rc = lock_byte(fd, UNSHARED_BASE + P_WRITE);
    if (rc == -EINVAL || rc == -EOPNOTSUPP || rc == -ENOLCK) {
        LOG_WARN("blk-file", "%s: this file system takes no byte-range locks (%s): the image "
                 "is not protected from other processes", path, strerror(-rc));
        return 0;
    }
    if (rc == -EAGAIN || rc == -EACCES) {
        *why = "another process or device holds a lock on the file that excludes any other "
               "use (is it a device's crash record file, or a daemon's lock file?)";
        return -EBUSY;
    }
    if (rc < 0) {
        LOG_ERR("blk-file", "%s: F_OFD_SETLK: %s", path, strerror(-rc));
        *why = "cannot lock the file";
        return rc;
    }
    int other = held_by_other(fd, UNSHARED_BASE + P_READ);
    if (other == 0 && write)
        other = held_by_other(fd, UNSHARED_BASE + P_WRITE);
    if (other > 0) {
        *why = write ? "another process or device uses the file and lets no one else write "
                       "it (QEMU, qemu-storage-daemon or a sidecored holds its \"write\" "
                       "lock; devices that all set shared may share it)"
                     : "another process or device uses the file and lets no one else read it";
        return -EBUSY;
    }
    if (other == 0 && !shared)
        other = held_by_other(fd, PERM_BASE + P_WRITE);
    if (other > 0) {
        *why = "another process or device writes the file (QEMU, qemu-storage-daemon or a "
               "sidecored holds its \"write\" lock; set shared to use it anyway, e.g. for a "
               "live migration)";
        return -EBUSY;
    }
    if (other < 0) {
        LOG_ERR("blk-file", "%s: F_OFD_GETLK: %s", path, strerror(-other));
        *why = "cannot test the file's locks";
        return other;
    }
    return 0;
}
