/* Claiming a unix socket path (see sockpath.h). */
#include "sockpath.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

int sockpath_claim(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path))
        return -ENAMETOOLONG;
    strcpy(sa.sun_path, path);
    struct stat st;
    if (lstat(path, &st) < 0)
        return 0;
    if (!S_ISSOCK(st.st_mode))
        return -EEXIST;
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool live = probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    if (probe >= 0)
        close(probe);
    if (live)
        return -EADDRINUSE;
    unlink(path);
    return 0;
}

char *sockpath_canonical(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
        return strdup(path);
    char dir[PATH_MAX], real[PATH_MAX];
    if (!slash)
        snprintf(dir, sizeof(dir), ".");
    else if (slash == path)
        snprintf(dir, sizeof(dir), "/");
    else
        snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
    if (!realpath(dir, real))
        return strdup(path);
    char *out;
    if (asprintf(&out, "%s%s%s", real, strcmp(real, "/") ? "/" : "", base) < 0)
        return NULL;
    return out;
}

int sockpath_canonicalize(char **path)
{
    char *c = sockpath_canonical(*path);
    if (!c)
        return -ENOMEM;
    free(*path);
    *path = c;
    return 0;
}

static gid_t share_gid = (gid_t)-1;

void sockpath_set_group(gid_t gid)
{
    share_gid = gid;
}

gid_t sockpath_group(void)
{
    return share_gid;
}

int sockpath_share(const char *path)
{
    if (share_gid != (gid_t)-1 && chown(path, (uid_t)-1, share_gid) < 0)
        return -errno;
    return chmod(path, 0660) < 0 ? -errno : 0;
}
