/* File descriptors over unix sockets (SCM_RIGHTS), for the vhost-user
 * backend, the frontend library and the test tools alike.
 *
 * fdpass_attach puts nfds descriptors into a message about to be sent, using
 * ctl (ctlsize bytes, aligned for struct cmsghdr: a union fdpass_ctl holds
 * FDPASS_MAX) as the control buffer. fdpass_take moves every
 * descriptor a received message carried into fds (up to max) and closes the
 * ones beyond: the caller never leaks a descriptor a peer pushed at it. */
#ifndef SC_FDPASS_H
#define SC_FDPASS_H

#include <stddef.h>
#include <sys/socket.h>

#define FDPASS_MAX 8 /* vhost-user's limit per message */

union fdpass_ctl {
    char buf[CMSG_SPACE(sizeof(int) * FDPASS_MAX)];
    struct cmsghdr align;
};

/* Returns 0, or -1 when nfds descriptors do not fit in ctl (mh unchanged). */
int fdpass_attach(struct msghdr *mh, void *ctl, size_t ctlsize, const int *fds, unsigned nfds);

/* Returns how many descriptors the message carried in all; those past max
 * (and all of them with max 0) are closed. *ntaken gets the number stored. */
unsigned fdpass_take(struct msghdr *mh, int *fds, unsigned max, unsigned *ntaken);

#endif
