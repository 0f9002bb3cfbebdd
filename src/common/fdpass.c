#include "fdpass.h"

#include <string.h>
#include <unistd.h>

int fdpass_attach(struct msghdr *mh, void *ctl, size_t ctlsize, const int *fds, unsigned nfds)
{
    if (CMSG_SPACE(sizeof(int) * nfds) > ctlsize)
        return -1;
    if (nfds == 0)
        return 0;
    memset(ctl, 0, ctlsize);
    mh->msg_control = ctl;
    mh->msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
    struct cmsghdr *cm = CMSG_FIRSTHDR(mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
    return 0;
}

unsigned fdpass_take(struct msghdr *mh, int *fds, unsigned max, unsigned *ntaken)
{
    unsigned total = 0, taken = 0;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        const unsigned char *data = CMSG_DATA(cm);
        for (size_t i = 0; i < n; i++, total++) {
            int fd;
            memcpy(&fd, data + i * sizeof(int), sizeof(int));
            if (taken < max)
                fds[taken++] = fd;
            else
                close(fd);
        }
    }
    if (ntaken)
        *ntaken = taken;
    return total;
}
