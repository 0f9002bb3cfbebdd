/* Runtime directory lock (see pidlock.h). */
#include "pidlock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int pidlock_acquire(const char *path, char *why, size_t len)
{
    /* The holder unlinks the file before it lets go: a lock taken on a file
     * that is no longer the one at path locks nothing, so try again. */
    for (int tries = 0; tries < 10; tries++) {
        /* Never through a symlink, never anything but a regular file: the
         * file is truncated once locked. */
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0644);
        if (fd < 0) {
            int e = errno;
            snprintf(why, len, "cannot open the lock file %s: %s", path,
                     e == ELOOP ? "it is a symbolic link" : strerror(e));
            return -e;
        }
        struct stat cur;
        if (fstat(fd, &cur) < 0 || !S_ISREG(cur.st_mode)) {
            close(fd);
            snprintf(why, len, "cannot use the lock file %s: not a regular file", path);
            return -EINVAL;
        }
        /* An OFD lock rather than flock: image locks are OFD locks too, so
         * this file cannot be taken as a disk image while a daemon holds it. */
        struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
        if (fcntl(fd, F_OFD_SETLK, &fl) < 0) {
            int e = errno == EACCES ? EAGAIN : errno;
            char pid[24] = "";
            ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
            close(fd);
            if (e != EAGAIN) {
                snprintf(why, len, "cannot lock %s: %s", path, strerror(e));
                return -e;
            }
            pid[n > 0 ? n : 0] = '\0';
            pid[strcspn(pid, "\n")] = '\0';
            snprintf(why, len,
                     "another sidecored (pid %s) runs in this runtime directory (%s is "
                     "locked); give each daemon its own --runtime-dir",
                     *pid ? pid : "?", path);
            return -EBUSY;
        }
        struct stat a, b;
        if (fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino &&
            a.st_dev == b.st_dev) {
            char pid[24];
            int k = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
            /* The lock holds without the pid: it only serves the message. */
            bool wrote = ftruncate(fd, 0) == 0 && pwrite(fd, pid, (size_t)k, 0) == k;
            (void)wrote;
            return fd;
        }
        close(fd);
    }
    snprintf(why, len, "cannot lock %s: it keeps being replaced", path);
    return -EAGAIN;
}

void pidlock_release(int fd, const char *path)
{
    if (fd < 0)
        return;
    unlink(path);
    close(fd);
}
