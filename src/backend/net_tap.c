/* Tap port (see net_tap.h). */
#include "net_tap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/poll_skip.h"
#include "../common/util.h"
#include "net_offload.h"

#define TAP_BUF (VIRTIO_NET_HDR_LEN + NET_MAX_FRAME)
/* Polls skipped after the host had nothing (poll_skip.h): a read is a
 * syscall, and the host side is the slow path, so a busy sidecore looks
 * only now and then, but never waits longer than TAP_IDLE_NS. */
#define TAP_IDLE_SKIP 16
#define TAP_IDLE_NS 2000ull

struct net_tap {
    struct net_port port;
    char ifname[IFNAMSIZ];
    int fd;
    int epfd; /* holds fd: what the sidecore sleeps on (reading it consumes nothing) */
    struct sc_queue scq;
    bool attached;
    struct poll_skip skip;
    char qname[64];
    uint8_t *bufs;
    struct iovec iov[NET_BATCH];
    struct net_pkt pkts[NET_BATCH];
    struct net_pkt *ptrs[NET_BATCH];
    unsigned err_logs;
};

static void tap_deliver(struct net_port *p, struct net_pkt *const *pkts, unsigned n,
                        unsigned hint)
{
    struct net_tap *t = p->opaque;
    uint64_t ok = 0, bytes = 0, down = 0, ioerr = 0;
    (void)hint;
    for (unsigned i = 0; i < n; i++) {
        const struct net_pkt *pk = pkts[i];
        struct iovec iov[NET_MAX_IOV + 1];
        struct virtio_net_hdr_v1 h = pk->hdr;
        h.num_buffers = 0;
        iov[0].iov_base = &h;
        iov[0].iov_len = sizeof(h);
        unsigned k = SC_MIN((unsigned)pk->niov, (unsigned)NET_MAX_IOV);
        memcpy(iov + 1, pk->iov, k * sizeof(*iov));
        ssize_t w = writev(t->fd, iov, (int)k + 1);
        if (w == (ssize_t)(sizeof(h) + pk->len)) {
            ok++;
            bytes += pk->len;
        } else if (w < 0 && (errno == EIO || errno == EAGAIN)) {
            down++; /* interface down, or its queue is full */
        } else {
            ioerr++;
        }
    }
    net_port_rx(p, ok, bytes);
    if (ok)
        sc_handoff();
    if (down)
        net_port_drop(p, NET_DROP_LINK_DOWN, down);
    if (ioerr)
        net_port_drop(p, NET_DROP_IO_ERROR, ioerr);
}

static const struct net_port_ops tap_ops = {.type = "tap", .deliver = tap_deliver};

static int tap_poll(struct sc_queue *q)
{
    struct net_tap *t = q->opaque;
    unsigned n = 0;
    uint64_t bytes = 0, bad[NET_DROP__COUNT] = {0};

    if (t->skip.polls && poll_skip_now(&t->skip, sc_now_ns()))
        return 0;
    for (unsigned i = 0; i < NET_BATCH; i++) {
        uint8_t *buf = t->bufs + (size_t)i * TAP_BUF;
        ssize_t r = read(t->fd, buf, TAP_BUF);
        if (r < 0) {
            if (errno != EAGAIN && errno != EINTR && t->err_logs++ < 10)
                LOG_ERR("net", "%s: reading tap %s: %s", t->port.name, t->ifname,
                        strerror(errno));
            break;
        }
        struct net_pkt *p = &t->pkts[n];
        if ((size_t)r < VIRTIO_NET_HDR_LEN) {
            bad[NET_DROP_BAD_HEADER]++;
            continue;
        }
        memcpy(&p->hdr, buf, VIRTIO_NET_HDR_LEN);
        p->len = (uint32_t)r - VIRTIO_NET_HDR_LEN;
        enum net_drop why = net_hdr_check(&p->hdr, p->len, NET_CAP_ALL);
        if (why != NET_DROP__COUNT) {
            bad[why]++;
            continue;
        }
        t->iov[n].iov_base = buf + VIRTIO_NET_HDR_LEN;
        t->iov[n].iov_len = p->len;
        p->iov = &t->iov[n];
        p->niov = 1;
        memcpy(p->eth, buf + VIRTIO_NET_HDR_LEN, sizeof(p->eth));
        bytes += p->len;
        t->ptrs[n++] = p;
    }
    if (n)
        net_port_send(&t->port, t->ptrs, n, 0);
    for (unsigned r = 0; r < NET_DROP__COUNT; r++)
        if (bad[r])
            net_port_drop(&t->port, r, bad[r]);
    sc_queue_account(q, n, bytes);
    if (n == 0)
        poll_skip_idle(&t->skip, TAP_IDLE_SKIP, TAP_IDLE_NS, sc_now_ns());
    return (int)n;
}

static bool tap_set_notify(struct sc_queue *q, bool enable)
{
    struct net_tap *t = q->opaque;
    poll_skip_reset(&t->skip);
    if (!enable)
        return false;
    struct epoll_event ev;
    return epoll_wait(t->epfd, &ev, 1, 0) > 0;
}

static int set_up(const char *ifname, uint8_t mac[6])
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -errno;
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
    int rc = 0;
    if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) {
        rc = -errno;
    } else {
        ifr.ifr_flags |= IFF_UP;
        if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
            rc = -errno;
    }
    if (rc == 0 && ioctl(s, SIOCGIFHWADDR, &ifr) == 0)
        memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
    close(s);
    return rc;
}

struct net_tap *net_tap_create(const char *name, const char *ifname, const char **why)
{
    if (!ifname)
        ifname = name;
    if (strlen(ifname) >= IFNAMSIZ) {
        *why = "interface name is longer than 15 bytes";
        return NULL;
    }
    struct net_tap *t = calloc(1, sizeof(*t));
    if (!t) {
        *why = "out of memory";
        return NULL;
    }
    t->epfd = -1;
    t->fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (t->fd < 0) {
        *why = "cannot open /dev/net/tun (tun module, permissions?)";
        goto fail;
    }
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    int hdr = VIRTIO_NET_HDR_LEN;
    if (ioctl(t->fd, TUNSETIFF, &ifr) < 0) {
        *why = errno == EBUSY ? "the tap interface is in use by another program"
                              : "TUNSETIFF failed (not root, or the name is taken by "
                                "another kind of interface?)";
        goto fail;
    }
    snprintf(t->ifname, sizeof(t->ifname), "%s", ifr.ifr_name);
    if (ioctl(t->fd, TUNSETVNETHDRSZ, &hdr) < 0 ||
        ioctl(t->fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) < 0) {
        *why = "the tap interface refused the virtio-net header or offload settings";
        goto fail;
    }
    uint8_t mac[6] = {0};
    if (set_up(t->ifname, mac) < 0) {
        *why = "cannot bring the tap interface up";
        goto fail;
    }
    t->bufs = malloc((size_t)NET_BATCH * TAP_BUF);
    t->epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN};
    if (!t->bufs || t->epfd < 0 || epoll_ctl(t->epfd, EPOLL_CTL_ADD, t->fd, &ev) < 0) {
        *why = "out of memory or file descriptors";
        goto fail;
    }
    net_port_init(&t->port, &tap_ops, name, mac, NET_CAP_ALL, t);
    snprintf(t->qname, sizeof(t->qname), "%s.host", name);
    t->scq.name = t->qname;
    t->scq.poll = tap_poll;
    t->scq.set_notify = tap_set_notify;
    t->scq.kick_fd = -1;
    t->scq.aux_fd = t->epfd;
    t->scq.opaque = t;
    for (unsigned i = 0; i < NET_BATCH; i++)
        t->ptrs[i] = &t->pkts[i];
    return t;
fail:
    if (t->fd >= 0)
        close(t->fd);
    if (t->epfd >= 0)
        close(t->epfd);
    free(t->bufs);
    free(t);
    return NULL;
}

struct net_port *net_tap_port(struct net_tap *t) { return &t->port; }
const char *net_tap_ifname(const struct net_tap *t) { return t->ifname; }

int net_tap_start(struct net_tap *t, struct sc_set *scs)
{
    if (t->attached)
        return 0;
    int rc = sc_attach(scs, &t->scq);
    t->attached = rc == 0;
    return rc;
}

void net_tap_stop(struct net_tap *t)
{
    if (t->attached)
        sc_detach(&t->scq);
    t->attached = false;
}

void net_tap_destroy(struct net_tap *t)
{
    if (!t)
        return;
    net_tap_stop(t);
    close(t->epfd);
    close(t->fd);
    free(t->bufs);
    free(t);
}
