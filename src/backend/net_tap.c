/* Tap port (see net_tap.h). */
#include "net_tap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
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
#include "net_flow.h"
#include "net_offload.h"
#include "net_tap_batch.h"

#define TAP_BUF (VIRTIO_NET_HDR_LEN + NET_MAX_FRAME)
/* Polls skipped after the host had nothing (poll_skip.h): a read is a
 * syscall, and the host side is the slow path, so a busy sidecore looks
 * only now and then, but never waits longer than TAP_IDLE_NS. */
#define TAP_IDLE_SKIP 16
#define TAP_IDLE_NS 2000ull
/* iovecs of a frame written in a batch: the header and up to 3 buffers
 * (a frame in more goes alone). */
#define TAP_IOV 4u
_Static_assert(NET_BATCH <= TAP_BATCH_MAX, "a poll's reads go in one tap_io_batch");

/* One queue of the tap: its file descriptor, read by a sidecore queue. */
struct tap_queue {
    struct net_tap *t;
    unsigned idx;
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
    _Atomic uint64_t to_host_packets, to_host_bytes; /* written into this queue */
    unsigned ahead; /* reads the next poll submits: 1..NET_BATCH */
};

struct net_tap {
    struct net_port port;
    char ifname[IFNAMSIZ];
    unsigned nq;
    struct tap_queue *q[NET_TAP_MAX_QUEUES];
    /* The interface went away under us: every read and write of its
     * descriptors now fails with EBADFD, and epoll reports them ready
     * forever, so its queues stop (poll < 0) instead of spinning. */
    _Atomic bool gone;
};

#define TAP_GONE_WHY "the interface was deleted; port-delete the port (port-add makes a new tap)"

/* The tap queue a frame to the host goes into: its flow's, by the two-way
 * hash, so every sender's flows spread over the tap queues (the kernel
 * sends each flow's replies back through the queue it came in by, and a
 * multiqueue guest's receive steering finds the flow's pair whatever tap
 * queue delivers it); a frame without a flow by the sender's queue. */
static unsigned tap_pick(const struct net_tap *t, const struct net_pkt *pk, unsigned hint)
{
    uint32_t h;
    if (t->nq == 1)
        return 0;
    return net_flow_hash_pkt(pk, &h) ? h % t->nq : hint % t->nq;
}

static void tap_deliver(struct net_port *p, struct net_pkt *const *pkts, unsigned n,
                        unsigned hint)
{
    struct net_tap *t = p->opaque;
    uint64_t ok = 0, bytes = 0, down = 0, ioerr = 0;
    if (atomic_load_explicit(&t->gone, memory_order_relaxed)) {
        net_port_drop(p, NET_DROP_LINK_DOWN, n);
        return;
    }
    uint32_t qpk[NET_TAP_MAX_QUEUES] = {0};
    uint64_t qby[NET_TAP_MAX_QUEUES] = {0};
    struct virtio_net_hdr_v1 hdr[TAP_BATCH_MAX];
    struct iovec iov[TAP_BATCH_MAX][TAP_IOV];
    struct tap_io w[TAP_BATCH_MAX];
    unsigned qi[TAP_BATCH_MAX];
    for (unsigned base = 0; base < n; base += TAP_BATCH_MAX) {
        unsigned m = SC_MIN(n - base, TAP_BATCH_MAX), nw = 0;
        for (unsigned i = 0; i < m; i++) {
            const struct net_pkt *pk = pkts[base + i];
            qi[i] = tap_pick(t, pk, hint);
            hdr[i] = pk->hdr;
            hdr[i].num_buffers = 0;
            /* hdr_len is the sender's hint (virtio 1.2, 5.1.6.2), which tun
             * takes as the size of the headers and refuses (EINVAL) beyond
             * the frame or inside the Ethernet header: 0 lets it find them. */
            if (hdr[i].hdr_len > pk->len || hdr[i].hdr_len < NET_MIN_FRAME)
                hdr[i].hdr_len = 0;
            struct iovec *v = iov[i];
            v[0] = (struct iovec){&hdr[i], sizeof(hdr[i])};
            w[i].fd = t->q[qi[i]]->fd;
            if (pk->niov < TAP_IOV) {
                memcpy(v + 1, pk->iov, (size_t)pk->niov * sizeof(*v));
                w[i].iov = v;
                w[i].iovcnt = pk->niov + 1;
                nw++;
            } else {
                w[i].iovcnt = 0; /* written alone, below */
            }
        }
        if (nw == m) {
            tap_io_batch(w, m, true);
        } else {
            /* A long chain (a big frame in many guest buffers): its iovecs
             * do not fit the batch's; every frame goes alone, in order. */
            for (unsigned i = 0; i < m; i++) {
                const struct net_pkt *pk = pkts[base + i];
                struct iovec big[NET_MAX_IOV + 1];
                unsigned k = SC_MIN((unsigned)pk->niov, (unsigned)NET_MAX_IOV);
                big[0] = iov[i][0];
                memcpy(big + 1, pk->iov, k * sizeof(*big));
                w[i].iov = big;
                w[i].iovcnt = (int)k + 1;
                tap_io_batch(&w[i], 1, true);
            }
        }
        for (unsigned i = 0; i < m; i++) {
            const struct net_pkt *pk = pkts[base + i];
            if (w[i].result == (ssize_t)(sizeof(hdr[i]) + pk->len)) {
                ok++;
                bytes += pk->len;
                qpk[qi[i]]++;
                qby[qi[i]] += pk->len;
            } else if (w[i].result == -EIO || w[i].result == -EAGAIN ||
                       w[i].result == -EBADFD) {
                down++; /* interface down or deleted, or its queue is full */
            } else {
                ioerr++;
            }
        }
    }
    net_port_rx(p, ok, bytes);
    for (unsigned i = 0; ok && i < t->nq; i++) {
        if (!qpk[i])
            continue;
        /* Several sidecores may write into one tap queue. */
        atomic_fetch_add_explicit(&t->q[i]->to_host_packets, qpk[i], memory_order_relaxed);
        atomic_fetch_add_explicit(&t->q[i]->to_host_bytes, qby[i], memory_order_relaxed);
    }
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
    struct tap_queue *tq = q->opaque;
    struct net_tap *t = tq->t;
    unsigned n = 0;
    uint64_t bytes = 0, bad[NET_DROP__COUNT] = {0};

    if (tq->skip.polls && poll_skip_now(&tq->skip, sc_now_ns()))
        return 0;
    /* As many reads as the last poll suggests the queue holds, in one
     * submission: a busy queue ramps up to a whole batch per system call,
     * an idle one costs a single read. */
    unsigned k = tq->ahead, got = 0;
    struct tap_io op[NET_BATCH];
    struct iovec riov[NET_BATCH];
    for (unsigned i = 0; i < k; i++) {
        riov[i] = (struct iovec){tq->bufs + (size_t)i * TAP_BUF, TAP_BUF};
        op[i] = (struct tap_io){.fd = tq->fd, .iov = &riov[i], .iovcnt = 1};
    }
    tap_io_batch(op, k, false);
    for (unsigned i = 0; i < k; i++) {
        ssize_t r = op[i].result;
        uint8_t *buf = riov[i].iov_base;
        if (r == -EBADFD) {
            if (!atomic_exchange(&t->gone, true))
                LOG_ERR("net", "%s: tap %s: %s", t->port.name, t->ifname, TAP_GONE_WHY);
            return -1;
        }
        if (r < 0) {
            if (r != -EAGAIN && r != -EINTR && tq->err_logs++ < 10)
                LOG_ERR("net", "%s: reading tap %s: %s", t->port.name, t->ifname,
                        strerror((int)-r));
            continue;
        }
        got++;
        struct net_pkt *p = &tq->pkts[n];
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
        tq->iov[n].iov_base = buf + VIRTIO_NET_HDR_LEN;
        tq->iov[n].iov_len = p->len;
        p->iov = &tq->iov[n];
        p->niov = 1;
        memcpy(p->eth, buf + VIRTIO_NET_HDR_LEN, sizeof(p->eth));
        bytes += p->len;
        tq->ptrs[n++] = p;
    }
    tq->ahead = got == k ? SC_MIN(2 * k, (unsigned)NET_BATCH) : got + 1;
    if (n)
        net_port_send(&t->port, tq->ptrs, n, tq->idx);
    for (unsigned r = 0; r < NET_DROP__COUNT; r++)
        if (bad[r])
            net_port_drop(&t->port, r, bad[r]);
    sc_queue_account(q, n, bytes);
    if (n == 0)
        poll_skip_idle(&tq->skip, TAP_IDLE_SKIP, TAP_IDLE_NS, sc_now_ns());
    return (int)n;
}

static bool tap_set_notify(struct sc_queue *q, bool enable)
{
    struct tap_queue *tq = q->opaque;
    poll_skip_reset(&tq->skip);
    if (!enable)
        return false;
    struct epoll_event ev;
    return epoll_wait(tq->epfd, &ev, 1, 0) > 0;
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

static void queue_free(struct tap_queue *q)
{
    if (!q)
        return;
    if (q->epfd >= 0)
        close(q->epfd);
    if (q->fd >= 0)
        close(q->fd);
    free(q->bufs);
    free(q);
}

/* One line of /sys/class/net/IF/ATTR into buf; false when there is none
 * (no such interface or attribute, or one the kernel will not tell now:
 * carrier of an interface that is down). */
static bool sys_attr(const char *ifname, const char *attr, char *buf, size_t len)
{
    char path[96];
    snprintf(path, sizeof(path), "/sys/class/net/%s/%s", ifname, attr);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, len - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    return true;
}

/* Before attaching to an interface that exists: it must be a tap of the
 * queue mode asked for, and free. A multiqueue tap takes more queues from
 * anyone, so one in use (a VM's, another daemon's) would be shared and
 * frames would loop; the kernel raises a tap's carrier while queues are
 * attached, which says so when the interface is up. */
static const char *existing_unusable(const char *ifname, unsigned nq)
{
    char buf[32];
    if (strchr(ifname, '%') || !sys_attr(ifname, "ifindex", buf, sizeof(buf)))
        return NULL; /* made anew */
    if (!sys_attr(ifname, "tun_flags", buf, sizeof(buf)))
        return "an interface of that name exists and is not a tap";
    unsigned long fl = strtoul(buf, NULL, 16);
    if (!(fl & IFF_TAP))
        return "an interface of that name exists and is a tun (layer 3) device, not a tap";
    if (!(fl & IFF_MULTI_QUEUE) != (nq == 1))
        return nq == 1 ? "the existing tap is multiqueue: give queues=2 or more"
                       : "the existing tap is single-queue: give queues=1";
    if (sys_attr(ifname, "carrier", buf, sizeof(buf)) && buf[0] == '1')
        return "the tap interface is in use by another program (queues attached: its carrier "
               "is on)";
    return NULL;
}

/* Queue idx of interface ifname (created by the first). NULL with *why. */
static struct tap_queue *queue_open(struct net_tap *t, const char *ifname, unsigned idx,
                                    unsigned nq, const char *name, const char **why)
{
    struct tap_queue *q = calloc(1, sizeof(*q));
    if (!q) {
        *why = "out of memory";
        return NULL;
    }
    q->t = t;
    q->idx = idx;
    q->ahead = 1;
    q->epfd = -1;
    q->fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (q->fd < 0) {
        *why = "cannot open /dev/net/tun (tun module, permissions?)";
        goto fail;
    }
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | (nq > 1 ? IFF_MULTI_QUEUE : 0);
    int hdr = VIRTIO_NET_HDR_LEN;
    if (ioctl(q->fd, TUNSETIFF, &ifr) < 0) {
        *why = errno == EBUSY    ? "the tap interface is in use by another program"
               : errno == EINVAL ? "TUNSETIFF refused the interface name or flags"
               : errno == EPERM  ? "TUNSETIFF: not permitted (needs CAP_NET_ADMIN, or the "
                                   "persistent tap belongs to another user)"
                                 : "TUNSETIFF failed";
        goto fail;
    }
    if (idx == 0)
        snprintf(t->ifname, sizeof(t->ifname), "%s", ifr.ifr_name);
    if (ioctl(q->fd, TUNSETVNETHDRSZ, &hdr) < 0 ||
        ioctl(q->fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) < 0) {
        *why = "the tap interface refused the virtio-net header or offload settings";
        goto fail;
    }
    q->bufs = malloc((size_t)NET_BATCH * TAP_BUF);
    q->epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN};
    if (!q->bufs || q->epfd < 0 || epoll_ctl(q->epfd, EPOLL_CTL_ADD, q->fd, &ev) < 0) {
        *why = "out of memory or file descriptors";
        goto fail;
    }
    if (nq > 1)
        snprintf(q->qname, sizeof(q->qname), "%s.host%u", name, idx);
    else
        snprintf(q->qname, sizeof(q->qname), "%s.host", name);
    q->scq.name = q->qname;
    q->scq.poll = tap_poll;
    q->scq.set_notify = tap_set_notify;
    q->scq.kick_fd = -1;
    q->scq.aux_fd = q->epfd;
    q->scq.opaque = q;
    for (unsigned i = 0; i < NET_BATCH; i++)
        q->ptrs[i] = &q->pkts[i];
    return q;
fail:
    queue_free(q);
    return NULL;
}

struct net_tap *net_tap_create(const char *name, const char *ifname, unsigned queues,
                               const char **why)
{
    if (!ifname)
        ifname = name;
    if (strlen(ifname) >= IFNAMSIZ) {
        *why = "interface name is longer than 15 bytes";
        return NULL;
    }
    if (queues < 1 || queues > NET_TAP_MAX_QUEUES) {
        *why = "a tap has 1..16 queues";
        return NULL;
    }
    if ((*why = existing_unusable(ifname, queues)))
        return NULL;
    struct net_tap *t = calloc(1, sizeof(*t));
    if (!t) {
        *why = "out of memory";
        return NULL;
    }
    for (unsigned i = 0; i < queues; i++) {
        /* Queues after the first attach to the interface the first made. */
        if (!(t->q[i] = queue_open(t, i ? t->ifname : ifname, i, queues, name, why)))
            goto fail;
        t->nq = i + 1;
    }
    uint8_t mac[6] = {0};
    if (set_up(t->ifname, mac) < 0) {
        *why = "cannot bring the tap interface up";
        goto fail;
    }
    net_port_init(&t->port, &tap_ops, name, mac, NET_CAP_ALL, t);
    return t;
fail:
    for (unsigned i = 0; i < t->nq; i++)
        queue_free(t->q[i]);
    free(t);
    return NULL;
}

struct net_port *net_tap_port(struct net_tap *t) { return &t->port; }
const char *net_tap_ifname(const struct net_tap *t) { return t->ifname; }

const char *net_tap_error(const struct net_tap *t)
{
    return atomic_load_explicit(&t->gone, memory_order_relaxed) ? TAP_GONE_WHY : NULL;
}

unsigned net_tap_queues(const struct net_tap *t, struct net_tap_queue_stats *st, unsigned max)
{
    unsigned n = SC_MIN(t->nq, max);
    for (unsigned i = 0; i < n; i++) {
        const struct tap_queue *q = t->q[i];
        st[i].from_host_packets = q->scq.stats.requests;
        st[i].from_host_bytes = q->scq.stats.bytes;
        st[i].to_host_packets = atomic_load_explicit(&q->to_host_packets, memory_order_relaxed);
        st[i].to_host_bytes = atomic_load_explicit(&q->to_host_bytes, memory_order_relaxed);
    }
    return n;
}

int net_tap_start(struct net_tap *t, struct sc_set *scs)
{
    for (unsigned i = 0; i < t->nq; i++) {
        struct tap_queue *q = t->q[i];
        if (q->attached)
            continue;
        int rc = sc_attach(scs, &q->scq);
        if (rc < 0) {
            net_tap_stop(t);
            return rc;
        }
        q->attached = true;
    }
    return 0;
}

void net_tap_stop(struct net_tap *t)
{
    for (unsigned i = 0; i < t->nq; i++) {
        if (t->q[i]->attached)
            sc_detach(&t->q[i]->scq);
        t->q[i]->attached = false;
    }
}

void net_tap_destroy(struct net_tap *t)
{
    if (!t)
        return;
    net_tap_stop(t);
    for (unsigned i = 0; i < t->nq; i++)
        queue_free(t->q[i]);
    free(t);
}
