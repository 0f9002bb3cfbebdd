/* The backend channel (protocol feature BACKEND_REQ): a socket the frontend
 * hands over with SET_BACKEND_REQ_FD, on which the backend starts requests
 * of its own. Used for one: CONFIG_CHANGE_MSG, when the device changed its
 * config space (a disk grew), so the frontend re-reads it (GET_CONFIG) and
 * interrupts the driver. We never ask for a reply: the control thread does
 * not wait for a frontend. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/log.h"
#include "vhost_int.h"

#define VHOST_USER_BACKEND_CONFIG_CHANGE_MSG 2

int vhu_h_set_backend_req_fd(struct vhost_dev *v, struct vhu_msg *m, int *fds, unsigned nfds,
                            struct vhu_reply *r)
{
    struct stat st;
    int fd = fds[0], fl;
    (void)m, (void)nfds, (void)r;

    if (!vhu_has_proto(v, VHOST_USER_PROTOCOL_F_BACKEND_REQ))
        return vhu_err(v, "BACKEND_REQ was not negotiated");
    if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode))
        return vhu_err(v, "the backend channel fd is not a socket");
    /* A frontend that stops reading must not stall the control thread. */
    if ((fl = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return vhu_err(v, "cannot make the backend channel non-blocking: %s", strerror(errno));
    vhu_backend_ch_forget(v);
    v->backend_fd = fd;
    fds[0] = -1;
    return VHU_OK;
}

void vhu_backend_ch_forget(struct vhost_dev *v)
{
    if (v->backend_fd >= 0)
        close(v->backend_fd);
    v->backend_fd = -1;
}

void vhu_on_config_change(struct vdev *d, void *opaque)
{
    struct vhost_dev *v = opaque;
    (void)d;

    if (v->conn.fd < 0)
        return;
    if (v->backend_fd < 0 || !vhu_has_proto(v, VHOST_USER_PROTOCOL_F_CONFIG)) {
        LOG_WARN(VHU_COMP, "%s: config space changed, but the frontend gave no backend channel "
                 "(BACKEND_REQ and CONFIG): the driver sees it only when it reads the config "
                 "again", v->dev->name);
        return;
    }
    struct vhu_hdr h = {.request = VHOST_USER_BACKEND_CONFIG_CHANGE_MSG,
                        .flags = VHOST_USER_VERSION,
                        .size = 0};
    ssize_t n = send(v->backend_fd, &h, sizeof(h), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n == (ssize_t)sizeof(h)) {
        v->config_changes++;
        return;
    }
    LOG_WARN(VHU_COMP, "%s: cannot tell the frontend that the config space changed: %s",
             v->dev->name, n < 0 ? strerror(errno) : "short write on the backend channel");
}
