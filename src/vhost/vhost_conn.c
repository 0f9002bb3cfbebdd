#include "vhost_conn.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../common/fdpass.h"

void vhu_conn_init(struct vhu_conn *c, int fd)
{
    memset(c, 0, sizeof(*c));
    c->fd = fd;
    for (unsigned i = 0; i < VHOST_USER_MAX_FDS; i++)
        c->fds[i] = -1;
}

static void close_fds(struct vhu_conn *c)
{
    for (unsigned i = 0; i < VHOST_USER_MAX_FDS; i++) {
        if (c->fds[i] >= 0)
            close(c->fds[i]);
        c->fds[i] = -1;
    }
    c->nfds = 0;
}

/* Takes every fd of every SCM_RIGHTS block; returns -1 when there were more
 * than the protocol allows (the extra ones are closed at once). */
static int collect_fds(struct vhu_conn *c, struct msghdr *mh)
{
    unsigned got;
    unsigned total = fdpass_take(mh, c->fds + c->nfds, VHOST_USER_MAX_FDS - c->nfds, &got);
    c->nfds += got;
    return total > got ? -1 : 0;
}

enum vhu_recv vhu_conn_recv(struct vhu_conn *c, char *why, size_t whylen)
{
    for (;;) {
        size_t total = c->have < VHOST_USER_HDR_SIZE ? VHOST_USER_HDR_SIZE
                                                     : VHOST_USER_HDR_SIZE + c->msg.hdr.size;
        if (c->have == total)
            return VHU_RECV_MSG;

        /* Room for one more fd than allowed, so an excess is seen, not silently cut. */
        union {
            char buf[CMSG_SPACE(sizeof(int) * (VHOST_USER_MAX_FDS + 1))];
            struct cmsghdr align;
        } ctrl;
        /* Header and payload are separate buffers: on the wire the payload
         * follows the 12-byte header with no padding. */
        uint8_t *dst = c->have < VHOST_USER_HDR_SIZE
                           ? (uint8_t *)&c->msg.hdr + c->have
                           : (uint8_t *)&c->msg.p + (c->have - VHOST_USER_HDR_SIZE);
        struct iovec iov = {.iov_base = dst, .iov_len = total - c->have};
        struct msghdr mh = {.msg_iov = &iov,
                            .msg_iovlen = 1,
                            .msg_control = ctrl.buf,
                            .msg_controllen = sizeof(ctrl.buf)};
        ssize_t n = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return VHU_RECV_AGAIN;
            snprintf(why, whylen, "socket read failed: %s", strerror(errno));
            return VHU_RECV_ERROR;
        }
        int over = collect_fds(c, &mh);
        if (over < 0 || (mh.msg_flags & MSG_CTRUNC)) {
            snprintf(why, whylen, "more than %u file descriptors sent with one message",
                     VHOST_USER_MAX_FDS);
            return VHU_RECV_ERROR;
        }
        if (n == 0) {
            if (c->have == 0 && c->nfds == 0)
                return VHU_RECV_EOF;
            if (c->have < VHOST_USER_HDR_SIZE)
                snprintf(why, whylen, "connection closed inside a message header (%zu of %u bytes)",
                         c->have, VHOST_USER_HDR_SIZE);
            else
                snprintf(why, whylen,
                         "connection closed inside the message: %zu of %u payload bytes received",
                         c->have - VHOST_USER_HDR_SIZE, c->msg.hdr.size);
            return VHU_RECV_ERROR;
        }
        size_t before = c->have;
        c->have += (size_t)n;
        if (before < VHOST_USER_HDR_SIZE && c->have == VHOST_USER_HDR_SIZE) {
            if (vhu_hdr_check(&c->msg.hdr, why, whylen) < 0)
                return VHU_RECV_ERROR;
            memset(&c->msg.p, 0, sizeof(c->msg.p));
        }
    }
}

void vhu_conn_msg_done(struct vhu_conn *c)
{
    close_fds(c);
    c->have = 0;
}

int vhu_conn_send(struct vhu_conn *c, uint32_t request, const void *payload, uint32_t size,
                 const int *fds, unsigned nfds)
{
    struct vhu_hdr h = {.request = request,
                       .flags = VHOST_USER_VERSION | VHOST_USER_REPLY_MASK,
                       .size = size};
    union fdpass_ctl ctrl;
    struct iovec iov[2] = {{.iov_base = &h, .iov_len = sizeof(h)},
                           {.iov_base = (void *)payload, .iov_len = size}};
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = size ? 2 : 1};
    size_t total = sizeof(h) + size, sent = 0;

    if (c->fd < 0)
        return -ENOTCONN;
    if (nfds > VHOST_USER_MAX_FDS || fdpass_attach(&mh, ctrl.buf, sizeof(ctrl.buf), fds, nfds))
        return -EINVAL;
    while (sent < total) {
        ssize_t n = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return -EAGAIN;
            return -errno;
        }
        sent += (size_t)n;
        /* fds went with the first byte; drop them and skip what was written. */
        mh.msg_control = NULL;
        mh.msg_controllen = 0;
        while (n > 0 && mh.msg_iovlen > 0) {
            if ((size_t)n >= mh.msg_iov->iov_len) {
                n -= (ssize_t)mh.msg_iov->iov_len;
                mh.msg_iov++;
                mh.msg_iovlen--;
            } else {
                mh.msg_iov->iov_base = (char *)mh.msg_iov->iov_base + n;
                mh.msg_iov->iov_len -= (size_t)n;
                n = 0;
            }
        }
    }
    return 0;
}

void vhu_conn_close(struct vhu_conn *c)
{
    close_fds(c);
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->have = 0;
}
