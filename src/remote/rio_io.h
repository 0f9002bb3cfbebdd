/* vRIO datagram I/O shared by the vmhost client and the iohost server:
 * sockets, sending a message as fragments, and receiving a datagram's data
 * straight into the buffers it belongs to.
 *
 * Sending: a message with data is cut into fragments of frag_size bytes;
 * each fragment goes out as [header, slice of the caller's iovecs], so data
 * leaves guest or request buffers without a staging copy. A message's
 * fragments (full but the last) go to the kernel as one UDP_SEGMENT send
 * per batch, which cuts them into datagrams after one pass through the
 * stack; where the kernel refuses that (no checksum offload on the path),
 * as one datagram each through sendmmsg. The receiver sees the same
 * datagrams either way. A fragment whose slice needs more than RIO_FRAG_IOV iovecs
 * is copied through the caller's stage buffer instead. Sockets are
 * non-blocking: a full socket buffer drops the rest (-EAGAIN), as the wire
 * would; retransmission recovers.
 *
 * Receiving: rio_peek reads the header of the next datagram without taking
 * it (and its full length, so the header can be checked against it); the
 * caller then takes it with rio_recv_into (data lands in the slice
 * [skip, skip + len) of its iovecs) or rio_drop. That costs two syscalls
 * per datagram; where the data goes to the receiver's own memory anyway
 * (the iohost's request buffers), rio_recv_batch takes up to RIO_RX_BATCH
 * datagrams in one recvmmsg into slots large enough for any datagram, and
 * the caller copies data out: a copy of a fragment is far cheaper than a
 * syscall. */
#ifndef SC_RIO_IO_H
#define SC_RIO_IO_H

#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "rio_wire.h"

#define RIO_FRAG_IOV 32
#define RIO_SOCK_BUF (8 << 20)
#define RIO_RX_BATCH 8
#define RIO_DGRAM_MAX 65536u /* UDP payload at RIO_MAX_MTU fits */

/* UDP segmentation offload (UDP_SEGMENT), shared by the blk and net
 * senders: usable until the kernel refused it once (rio_gso_refusal(errno)
 * after a segmented send; rio_gso_refused then says so in the log). */
bool rio_gso_usable(void);
bool rio_gso_refusal(int err);
void rio_gso_refused(int err);
/* A segmented send answered EMSGSIZE: its segments exceed the route's MTU
 * (the configured mtu is larger than the network's). That send goes out
 * datagram by datagram instead (the kernel fragments them), and the first
 * time it happens the log says so; segmentation stays on for the rest. */
bool rio_gso_too_big(int err, unsigned seg);
union rio_gso_ctl {
    char buf[CMSG_SPACE(sizeof(uint16_t))];
    struct cmsghdr align;
};
/* Points m's control data at ctl, asking for datagrams of seg bytes. */
static inline void rio_gso_cmsg(union rio_gso_ctl *ctl, struct msghdr *m, uint16_t seg)
{
    memset(ctl, 0, sizeof(*ctl));
    m->msg_control = ctl->buf;
    m->msg_controllen = sizeof(ctl->buf);
    struct cmsghdr *c = CMSG_FIRSTHDR(m);
    c->cmsg_level = SOL_UDP;
    c->cmsg_type = UDP_SEGMENT;
    c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
    memcpy(CMSG_DATA(c), &seg, sizeof(seg));
}

union rio_gro_ctl {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
};
/* Asks fd for coalesced receives (UDP_GRO); where the kernel lacks it,
 * each datagram simply comes on its own. */
static inline void rio_gro_on(int fd)
{
    int on = 1;
    setsockopt(fd, SOL_UDP, UDP_GRO, &on, sizeof(on));
}

/* On a UDP_GRO socket, a receive of n bytes may hold a run of datagrams
 * from one sender: their size (the last may be shorter) from m's control
 * data, or 0 when it holds one datagram. */
static inline uint32_t rio_gro_size(struct msghdr *m, size_t n)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
        int gso;
        if (c->cmsg_level != SOL_UDP || c->cmsg_type != UDP_GRO ||
            c->cmsg_len < CMSG_LEN(sizeof(gso)))
            continue;
        memcpy(&gso, CMSG_DATA(c), sizeof(gso));
        if (gso > 0 && (size_t)gso < n)
            return (uint32_t)gso;
    }
    return 0;
}

/* "1.2.3.4:7000" or "[::1]:7000" (numeric only: no name lookups). */
int rio_addr_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len);
void rio_addr_format(const struct sockaddr *sa, char *buf, size_t len);

/* Non-blocking UDP socket for family with large buffers; bound to bind_to
 * (SO_REUSEPORT when reuseport) and/or connected to peer when given.
 * Returns the fd or -errno with a reason in why. */
int rio_socket(const struct sockaddr *bind_to, socklen_t blen, bool reuseport,
               const struct sockaddr *peer, socklen_t plen, const char **why);

/* Sends header h (type, op, ids...) with len bytes of data from iov (may be
 * 0 bytes: one datagram). h->frag_off and h->frag_size are filled in here.
 * to may be NULL on a connected socket. stage holds one fragment. */
int rio_send(int fd, const struct sockaddr *to, socklen_t tolen, struct rio_hdr *h,
             const struct iovec *iov, int iovcnt, uint32_t len, uint16_t frag_size,
             uint8_t *stage);
/* The same, leaving out the fragments set in skip (a wire bitmap,
 * rio_wire.h); nothing when every one is set. */
int rio_send_some(int fd, const struct sockaddr *to, socklen_t tolen, struct rio_hdr *h,
                  const struct iovec *iov, int iovcnt, uint32_t len, uint16_t frag_size,
                  uint8_t *stage, const uint8_t *skip);

/* > 0: the next datagram's full size, header decoded into h (-EINVAL and
 * the datagram dropped when it is not vRIO); -EAGAIN when none waits. */
int rio_peek(int fd, struct rio_hdr *h, struct sockaddr_storage *from, socklen_t *fromlen);
/* Takes the peeked datagram, its payload into bytes [skip, skip+len) of iov. */
int rio_recv_into(int fd, const struct iovec *iov, int iovcnt, uint64_t skip, uint32_t len,
                  uint8_t *stage);
void rio_drop(int fd);

struct rio_rxbatch {
    uint8_t *slots; /* RIO_RX_BATCH * RIO_DGRAM_MAX bytes */
    struct mmsghdr msg[RIO_RX_BATCH];
    struct iovec iov[RIO_RX_BATCH];
    struct sockaddr_storage from[RIO_RX_BATCH];
    uint32_t seg[RIO_RX_BATCH]; /* rio_gro_size of each receive */
    union rio_gro_ctl ctl[RIO_RX_BATCH];
};

int rio_rxbatch_init(struct rio_rxbatch *b);
void rio_rxbatch_free(struct rio_rxbatch *b);
/* Receives (0: none waiting), or -errno. Receive i is in slots + i *
 * RIO_DGRAM_MAX, msg[i].msg_len bytes, from from[i] (msg[i].msg_hdr.
 * msg_namelen bytes): one datagram, or on a UDP_GRO socket a run of them
 * of seg[i] bytes each but the last (seg[i] 0: one datagram). */
int rio_recv_batch(int fd, struct rio_rxbatch *b);

/* The iovecs covering [skip, skip + len) of iov into out (at most max);
 * returns the count, or -1 when more than max are needed or iov is short. */
int rio_iov_slice(const struct iovec *iov, int n, uint64_t skip, uint64_t len,
                  struct iovec *out, int max);
/* Copy between a flat buffer and [skip, skip + len) of iov. */
void rio_iov_to_buf(const struct iovec *iov, int n, uint64_t skip, uint8_t *dst, uint64_t len);
void rio_buf_to_iov(const struct iovec *iov, int n, uint64_t skip, const uint8_t *src,
                    uint64_t len);

#endif
