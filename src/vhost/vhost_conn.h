/* One vhost-user connection's socket I/O (non-blocking unix stream socket).
 *
 * Receiving is incremental: vhu_conn_recv reads at most the rest of the
 * current message (first the 12-byte header, then exactly hdr.size payload
 * bytes), so fds sent with the next message are never attached to this one.
 * fds (SCM_RIGHTS) are collected across the reads of one message; more than
 * VHOST_USER_MAX_FDS, or a truncated control message, is an error. The
 * connection owns received fds until the caller takes one (sets the slot to
 * -1); vhu_conn_msg_done and vhu_conn_close close whatever is left, so a fd
 * can never leak.
 *
 * Sending writes a whole message (with optional fds) or fails, and never
 * waits: the control thread serves every device. Frontends wait for each
 * reply before the next request, so a socket too full for one is a peer
 * that does not read its replies: -EAGAIN, and the connection is lost. */
#ifndef SC_VHOST_CONN_H
#define SC_VHOST_CONN_H

#include <stddef.h>

#include "vhost_msg.h"

struct vhu_conn {
    int fd;
    struct vhu_msg msg;  /* message being received; payload zero-filled past hdr.size */
    size_t have;        /* bytes of msg received so far */
    int fds[VHOST_USER_MAX_FDS];
    unsigned nfds;
};

void vhu_conn_init(struct vhu_conn *c, int fd);

enum vhu_recv {
    VHU_RECV_AGAIN,  /* need more bytes; wait for the socket */
    VHU_RECV_MSG,    /* c->msg and c->fds hold a complete, header-checked message */
    VHU_RECV_EOF,    /* orderly close between messages */
    VHU_RECV_ERROR,  /* malformed header, truncated message, too many fds, I/O error */
};

/* why is filled for VHU_RECV_ERROR. */
enum vhu_recv vhu_conn_recv(struct vhu_conn *c, char *why, size_t whylen);

/* Closes fds the handler did not take and resets for the next message. */
void vhu_conn_msg_done(struct vhu_conn *c);

/* Reply to request with payload (size bytes) and optional fds (not closed).
 * Returns 0 or -errno. */
int vhu_conn_send(struct vhu_conn *c, uint32_t request, const void *payload, uint32_t size,
                 const int *fds, unsigned nfds);

/* Closes the socket and any pending fds. */
void vhu_conn_close(struct vhu_conn *c);

#endif
