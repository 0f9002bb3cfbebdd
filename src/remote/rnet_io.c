/* vRIO net datagram I/O (see rnet_io.h). */
#include "rnet_io.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../backend/net_offload.h"
#include "../common/util.h"
#include "../core/sidecore.h"
#include "rio_io.h"

/* iovecs of one sendmmsg batch, all messages together. */
#define TX_IOV_POOL 512

const char *const rnet_drop_names[RNET_DROP__COUNT] = {
    [RNET_DROP_SEND_FULL] = "send_full", [RNET_DROP_TOO_BIG] = "too_big",
    [RNET_DROP_BAD_GSO] = "bad_gso",     [RNET_DROP_NOT_JOINED] = "not_joined",
    [RNET_DROP_LOST] = "lost",           [RNET_DROP_MALFORMED] = "malformed",
    [RNET_DROP_UNKNOWN] = "unknown_peer", [RNET_DROP_JOIN_BUSY] = "join_busy",
};

void rnet_rxseq_see(struct rnet_rxseq *s, uint32_t seq, struct rnet_path *path)
{
    if (!s->started) {
        s->started = true;
        s->next = seq + 1;
        return;
    }
    int32_t d = (int32_t)(seq - s->next);
    if (d > RNET_SEQ_JUMP) {
        s->next = seq + 1;
    } else if (d >= 0) {
        if (d > 0) {
            s->missing += (uint32_t)d;
            rnet_count(&path->drops[RNET_DROP_LOST], (uint32_t)d);
        }
        s->next = seq + 1;
    } else if (s->missing) {
        /* Late, not lost: undo one counted gap. */
        s->missing--;
        atomic_fetch_sub_explicit(&path->drops[RNET_DROP_LOST], 1, memory_order_relaxed);
    }
}

void rnet_rxseq_mark(struct rnet_rxseq *s, uint32_t next, struct rnet_path *path)
{
    if (!s->started) {
        s->started = true;
        s->next = next;
        return;
    }
    int32_t d = (int32_t)(next - s->next);
    if (d > RNET_SEQ_JUMP) {
        s->next = next;
    } else if (d > 0) {
        s->missing += (uint32_t)d;
        rnet_count(&path->drops[RNET_DROP_LOST], (uint32_t)d);
        s->next = next;
    }
}

int rnet_socket(const struct sockaddr *bind_to, socklen_t blen, const struct sockaddr *peer,
                socklen_t plen, const char **why)
{
    int fd = rio_socket(bind_to, blen, false, peer, plen, why);
    if (fd < 0)
        return fd;
    /* A run of small frames sent segmented (rnet_send_pkts) then comes in
     * one receive; without it, one receive each. */
    rio_gro_on(fd);
    /* Frames above the path MTU leave as IP fragments rather than errors. */
    int v = IP_PMTUDISC_DONT;
    int family = bind_to ? bind_to->sa_family : peer->sa_family;
    if (family == AF_INET)
        setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &v, sizeof(v));
    else
        setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &v, sizeof(v));
    return fd;
}

struct txbatch {
    int fd;
    const struct sockaddr *to;
    socklen_t tolen;
    struct rnet_path *path;
    unsigned n, niov, sent;
    unsigned frames;       /* wire frames handed in (after GSO), sent or not */
    uint64_t frame_bytes;
    _Atomic uint32_t *seqp; /* the session's send counter */
    uint32_t seq[RNET_BATCH];
    uint64_t bytes[RNET_BATCH];
    uint8_t hdr[RNET_BATCH][RNET_HDR_SIZE];
    struct mmsghdr msg[RNET_BATCH];
    struct iovec iov[TX_IOV_POOL];
};

/* Datagrams of at most this many bytes go out in segmented runs: below any
 * path MTU, so no run is refused for its size. */
#define GSO_DGRAM_MAX 1400u
#define GSO_BYTES_MAX 65000u /* under UDP's 65507 */

/* How many messages from i one segmented send can carry: all of one
 * datagram size but the last, which may be shorter. */
static unsigned gso_run(const struct txbatch *b, unsigned i)
{
    uint64_t size = RNET_HDR_SIZE + b->bytes[i];
    if (size > GSO_DGRAM_MAX || !rio_gso_usable())
        return 1;
    unsigned k = 1;
    while (i + k < b->n && (k + 1) * size <= GSO_BYTES_MAX) {
        uint64_t next = RNET_HDR_SIZE + b->bytes[i + k];
        if (next > size)
            break;
        k++;
        if (next < size)
            break;
    }
    return k;
}

/* The rest of the batch, from message i, is dropped (send_full): its
 * sequence numbers go back when no frame took a later one meanwhile, so the
 * receiver does not count the same frames again as lost on the path. */
static void give_back(struct txbatch *b, unsigned i)
{
    uint32_t last = b->seq[b->n - 1], want = last + 1;
    if (last - b->seq[i] == b->n - 1 - i)
        atomic_compare_exchange_strong_explicit(b->seqp, &want, b->seq[i],
                                                memory_order_relaxed, memory_order_relaxed);
}

/* Messages [i, end) one datagram each. False when the socket is full: the
 * rest of the batch is dropped. */
static bool tx_each(struct txbatch *b, unsigned i, unsigned end, unsigned *ok, uint64_t *bytes)
{
    while (i < end) {
        int r = sendmmsg(b->fd, b->msg + i, end - i, MSG_DONTWAIT);
        if (r > 0) {
            for (int k = 0; k < r; k++)
                *bytes += b->bytes[i + (unsigned)k];
            i += (unsigned)r;
            *ok += (unsigned)r;
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == ENOBUFS)) {
            rnet_count(&b->path->drops[RNET_DROP_SEND_FULL], b->n - i);
            give_back(b, i);
            return false;
        }
        /* One message refused (a pending ICMP error, a size limit): skip it. */
        rnet_count(&b->path->drops[RNET_DROP_SEND_FULL], 1);
        i++;
    }
    return true;
}

/* Messages [i, i + k) as one segmented send (their iovecs are adjacent in
 * the pool): one pass through the stack for the run. 1: sent; 0: the
 * kernel refuses segmentation, nothing sent; -1: the socket is full, the
 * rest of the batch dropped; -2: the run was refused and dropped. */
static int tx_run(struct txbatch *b, unsigned i, unsigned k, unsigned *ok, uint64_t *bytes)
{
    const struct msghdr *m0 = &b->msg[i].msg_hdr, *ml = &b->msg[i + k - 1].msg_hdr;
    struct msghdr m = {.msg_name = m0->msg_name, .msg_namelen = m0->msg_namelen,
                       .msg_iov = m0->msg_iov,
                       .msg_iovlen = (size_t)(ml->msg_iov + ml->msg_iovlen - m0->msg_iov)};
    union rio_gso_ctl ctl;
    rio_gso_cmsg(&ctl, &m, (uint16_t)(RNET_HDR_SIZE + b->bytes[i]));
    for (;;) {
        if (sendmsg(b->fd, &m, MSG_DONTWAIT) >= 0) {
            for (unsigned j = i; j < i + k; j++)
                *bytes += b->bytes[j];
            *ok += k;
            return 1;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == ENOBUFS) {
            rnet_count(&b->path->drops[RNET_DROP_SEND_FULL], b->n - i);
            give_back(b, i);
            return -1;
        }
        if (rio_gso_refusal(errno)) {
            rio_gso_refused(errno);
            return 0;
        }
        if (rio_gso_too_big(errno, RNET_HDR_SIZE + b->bytes[i]))
            return 0;
        rnet_count(&b->path->drops[RNET_DROP_SEND_FULL], k);
        return -2;
    }
}

/* Runs of small frames of one size (a stream) go out segmented, the rest
 * one datagram each, in order. */
static void tx_flush(struct txbatch *b)
{
    unsigned i = 0, from = 0, ok = 0;
    uint64_t bytes = 0;
    bool go = true;
    while (go && i < b->n) {
        unsigned k = gso_run(b, i);
        if (k < 2) {
            i++;
            continue;
        }
        if (!(go = tx_each(b, from, i, &ok, &bytes)))
            break;
        int r = tx_run(b, i, k, &ok, &bytes);
        go = r != -1;
        i += k;
        if (r != 0)
            from = i;
    }
    if (go)
        tx_each(b, from, b->n, &ok, &bytes);
    if (ok) {
        rnet_count(&b->path->tx_datagrams, ok);
        rnet_count(&b->path->tx_bytes, bytes);
        sc_handoff();
    }
    b->sent += ok;
    b->n = 0;
    b->niov = 0;
}

/* Queue one frame; flushes first when the batch is full. */
static void tx_add(struct txbatch *b, const struct net_pkt *o, uint64_t session, uint16_t peer,
                   _Atomic uint32_t *seq)
{
    b->frames++;
    b->frame_bytes += o->len;
    if (o->len > RNET_MAX_FRAME) {
        rnet_count(&b->path->drops[RNET_DROP_TOO_BIG], 1);
        return;
    }
    if (b->n == RNET_BATCH || b->niov + o->niov + 1u > TX_IOV_POOL)
        tx_flush(b);
    struct rnet_hdr h = {.type = RNET_T_DATA, .peer = peer, .session = session,
                         .seq = atomic_fetch_add_explicit(seq, 1, memory_order_relaxed)};
    b->seqp = seq;
    b->seq[b->n] = h.seq;
    if (o->hdr.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
        h.flags = RNET_F_NEEDS_CSUM;
        h.csum_start = o->hdr.csum_start;
        h.csum_offset = o->hdr.csum_offset;
    }
    rnet_hdr_encode(&h, b->hdr[b->n], o->iov, o->niov, o->len);
    struct iovec *iov = b->iov + b->niov;
    iov[0] = (struct iovec){b->hdr[b->n], RNET_HDR_SIZE};
    memcpy(iov + 1, o->iov, o->niov * sizeof(*iov));
    b->msg[b->n].msg_hdr = (struct msghdr){.msg_name = (void *)b->to, .msg_namelen = b->tolen,
                                           .msg_iov = iov, .msg_iovlen = o->niov + 1u};
    b->bytes[b->n] = o->len;
    b->niov += o->niov + 1u;
    b->n++;
}

unsigned rnet_send_pkts(int fd, const struct sockaddr *to, socklen_t tolen, uint64_t session,
                        uint16_t peer, _Atomic uint32_t *seq, struct net_pkt *const *pkts,
                        unsigned n, struct rnet_path *path, unsigned *frames, uint64_t *bytes)
{
    struct txbatch b = {.fd = fd, .to = to, .tolen = to ? tolen : 0, .path = path};
    for (unsigned i = 0; i < n; i++) {
        const struct net_pkt *p = pkts[i];
        if (p->hdr.gso_type == VIRTIO_NET_HDR_GSO_NONE) {
            tx_add(&b, p, session, peer, seq);
            continue;
        }
        struct net_fix f;
        enum net_drop why;
        if (net_fix_begin(&f, p, NET_CAP_CSUM, &why) < 0) {
            rnet_count(&path->drops[RNET_DROP_BAD_GSO], 1);
            b.frames++;
            b.frame_bytes += p->len;
            continue;
        }
        /* A segment's headers live in f until the next net_fix_next: send
         * each before asking for the next. */
        const struct net_pkt *o;
        while ((o = net_fix_next(&f))) {
            tx_add(&b, o, session, peer, seq);
            tx_flush(&b);
        }
    }
    if (b.n)
        tx_flush(&b);
    *frames = b.frames;
    *bytes = b.frame_bytes;
    return b.sent;
}

int rnet_send_ctl(int fd, const struct sockaddr *to, socklen_t tolen, const struct rnet_hdr *h,
                  const void *payload, size_t len)
{
    uint8_t hb[RNET_HDR_SIZE];
    struct iovec iov[2] = {{hb, sizeof(hb)}, {(void *)payload, len}};
    rnet_hdr_encode(h, hb, &iov[1], 1, len);
    struct msghdr m = {.msg_name = (void *)to, .msg_namelen = to ? tolen : 0, .msg_iov = iov,
                       .msg_iovlen = len ? 2 : 1};
    return sendmsg(fd, &m, MSG_DONTWAIT) < 0 ? -errno : 0;
}

int rnet_rxbuf_init(struct rnet_rxbuf *b)
{
    memset(b, 0, sizeof(*b));
    b->data = malloc((size_t)RNET_BATCH * RNET_BUF_SIZE);
    return b->data ? 0 : -ENOMEM;
}

void rnet_rxbuf_fini(struct rnet_rxbuf *b)
{
    free(b->data);
    b->data = NULL;
}

int rnet_recv(int fd, struct rnet_rxbuf *b)
{
    for (unsigned i = 0; i < RNET_BATCH; i++) {
        b->iov[i] = (struct iovec){rnet_rxbuf_at(b, i), RNET_BUF_SIZE};
        b->msg[i].msg_hdr = (struct msghdr){.msg_name = &b->from[i],
                                            .msg_namelen = sizeof(b->from[i]),
                                            .msg_iov = &b->iov[i], .msg_iovlen = 1};
        b->msg[i].msg_len = 0;
    }
    for (unsigned i = 0; i < RNET_BATCH; i++) {
        b->msg[i].msg_hdr.msg_control = b->ctl[i].buf;
        b->msg[i].msg_hdr.msg_controllen = sizeof(b->ctl[i].buf);
    }
    int r = recvmmsg(fd, b->msg, RNET_BATCH, MSG_DONTWAIT, NULL);
    if (r < 0)
        return errno == EAGAIN || errno == EINTR ? 0 : -errno;
    for (int i = 0; i < r; i++)
        b->seg[i] = rio_gro_size(&b->msg[i].msg_hdr, b->msg[i].msg_len);
    return r;
}

bool rnet_pkt_from(const struct rnet_hdr *h, uint8_t *buf, size_t n, struct net_pkt *p,
                   struct iovec *iov)
{
    memset(&p->hdr, 0, sizeof(p->hdr));
    p->len = (uint32_t)(n - RNET_HDR_SIZE);
    if (h->flags & RNET_F_NEEDS_CSUM) {
        p->hdr.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
        p->hdr.csum_start = h->csum_start;
        p->hdr.csum_offset = h->csum_offset;
    }
    if (net_hdr_check(&p->hdr, p->len, NET_CAP_CSUM) != NET_DROP__COUNT)
        return false;
    iov->iov_base = buf + RNET_HDR_SIZE;
    iov->iov_len = p->len;
    p->iov = iov;
    p->niov = 1;
    if (!net_csum_placed(p))
        return false;
    memcpy(p->eth, buf + RNET_HDR_SIZE, sizeof(p->eth));
    return true;
}

static json_int_t ld(_Atomic uint64_t *c)
{
    return (json_int_t)atomic_load_explicit(c, memory_order_relaxed);
}

json_t *rnet_path_json(struct rnet_path *p)
{
    json_t *d = json_object();
    json_int_t total = 0;
    for (unsigned i = 0; d && i < RNET_DROP__COUNT; i++) {
        json_int_t v = ld(&p->drops[i]);
        json_object_set_new(d, rnet_drop_names[i], json_integer(v));
        total += v;
    }
    return json_pack("{s:I,s:I,s:I,s:I,s:I,s:o}", "tx_datagrams", ld(&p->tx_datagrams),
                     "tx_bytes", ld(&p->tx_bytes), "rx_datagrams", ld(&p->rx_datagrams),
                     "rx_bytes", ld(&p->rx_bytes), "drops_total", total, "drops",
                     d ? d : json_object());
}
