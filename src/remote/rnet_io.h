/* vRIO net datagram I/O shared by the vmhost tunnel (rnet_client) and the
 * iohost listener (rnet_server).
 *
 * Sending: each packet becomes DATA datagrams sent with sendmmsg, header
 * plus the packet's own iovecs (guest or tap buffers: no staging copy). The
 * remote end is a receiver that takes checksum offload only: GSO packets are
 * segmented here in software (net_offload.h) into frames no larger than the
 * sender's MSS allows; a frame above the path MTU is fragmented by the
 * kernel's IP layer (the sockets allow it), so nothing above the frame is
 * reassembled by us. A full socket buffer drops the rest of a batch, as a
 * wire would; every drop is counted by reason.
 *
 * Receiving: recvmmsg into per-end buffers; a DATA datagram becomes a
 * net_pkt pointing into its buffer, valid until the next receive. Sequence
 * gaps per session count frames the path lost (a late frame takes one back,
 * so reordering does not inflate the count). */
#ifndef SC_RNET_IO_H
#define SC_RNET_IO_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "../backend/net_port.h"
#include "../common/poll_skip.h"
#include "rio_io.h"
#include "rnet_wire.h"

#define RNET_BATCH 32
#define RNET_BUF_SIZE 65536u

enum rnet_drop {
    RNET_DROP_SEND_FULL,   /* sender: socket buffer full (or the kernel refused) */
    RNET_DROP_TOO_BIG,     /* sender: frame larger than a datagram can carry */
    RNET_DROP_BAD_GSO,     /* sender: GSO packet that cannot be segmented */
    RNET_DROP_NOT_JOINED,  /* sender: the tunnel has no slot on the iohost yet */
    RNET_DROP_LOST,        /* receiver: sequence gaps (lost on the path) */
    RNET_DROP_MALFORMED,   /* receiver: not a valid datagram */
    RNET_DROP_UNKNOWN,     /* receiver: session or slot not known here, or from elsewhere */
    RNET_DROP_JOIN_BUSY,   /* iohost: a HELLO while MAX_PENDING joins wait (asked again) */
    RNET_DROP__COUNT
};

extern const char *const rnet_drop_names[RNET_DROP__COUNT];

/* One end's path counters: several sidecores send, one receives. */
struct rnet_path {
    _Atomic uint64_t tx_datagrams, tx_bytes;
    _Atomic uint64_t rx_datagrams, rx_bytes;
    _Atomic uint64_t drops[RNET_DROP__COUNT];
};

static inline void rnet_count(_Atomic uint64_t *c, uint64_t v)
{
    atomic_fetch_add_explicit(c, v, memory_order_relaxed);
}

/* Receive pacing of the tunnel and listener sockets (poll_skip.h). */
#define RNET_SKIP_POLLS 8
#define RNET_SKIP_NS 2000ull

/* Receiver's view of one sender's sequence numbers (one thread). */
struct rnet_rxseq {
    bool started;
    uint32_t next;
    uint64_t missing; /* gaps not yet filled by late frames */
};
/* A gap wider than this is no path's loss between two datagrams (16.7M
 * frames): the numbering starts over there, nothing is counted lost. Any
 * forward jump counted, and a peer's 10 heartbeats made 21 billion lost. */
#define RNET_SEQ_JUMP (1 << 24)
/* Accounts seq; updates path->drops[LOST]. */
void rnet_rxseq_see(struct rnet_rxseq *s, uint32_t seq, struct rnet_path *path);
/* The sender's next seq (carried by heartbeats): frames lost at the end of
 * a burst, which no later frame reveals, count too. */
void rnet_rxseq_mark(struct rnet_rxseq *s, uint32_t next, struct rnet_path *path);

/* Non-blocking UDP socket (bound and/or connected; large buffers; IP
 * fragmentation allowed). Returns the fd or -errno with why. */
int rnet_socket(const struct sockaddr *bind_to, socklen_t blen, const struct sockaddr *peer,
                socklen_t plen, const char **why);

/* DATA datagrams for pkts to `to` (NULL on a connected socket). seq is the
 * session's send counter. Returns the frames sent; *frames and *bytes say
 * what was handed in, counted as the wire carries it (a GSO packet as its
 * segments), sent or dropped, so both ends count in one unit. */
unsigned rnet_send_pkts(int fd, const struct sockaddr *to, socklen_t tolen, uint64_t session,
                        uint16_t peer, _Atomic uint32_t *seq, struct net_pkt *const *pkts,
                        unsigned n, struct rnet_path *path, unsigned *frames,
                        uint64_t *bytes);
/* One control datagram (HELLO, PING, ...) with payload; 0 or -errno. */
int rnet_send_ctl(int fd, const struct sockaddr *to, socklen_t tolen, const struct rnet_hdr *h,
                  const void *payload, size_t len);

struct rnet_rxbuf {
    uint8_t *data;              /* RNET_BATCH buffers of RNET_BUF_SIZE */
    struct mmsghdr msg[RNET_BATCH];
    struct iovec iov[RNET_BATCH];
    struct sockaddr_storage from[RNET_BATCH];
    uint32_t seg[RNET_BATCH]; /* UDP_GRO segment size, 0: one datagram */
    union rio_gro_ctl ctl[RNET_BATCH];
};
int rnet_rxbuf_init(struct rnet_rxbuf *b);
void rnet_rxbuf_fini(struct rnet_rxbuf *b);
/* Receives (0 when none waits) into buffers 0..n-1, from senders from[i].
 * Buffer i holds one datagram, or a run of datagrams from one sender that
 * the kernel coalesced (UDP_GRO): walk it with rnet_rx_size. */
int rnet_recv(int fd, struct rnet_rxbuf *b);
static inline uint8_t *rnet_rxbuf_at(struct rnet_rxbuf *b, unsigned i)
{
    return b->data + (size_t)i * RNET_BUF_SIZE;
}
/* Size of the datagram at byte off of buffer i; 0 past its last. */
static inline size_t rnet_rx_size(const struct rnet_rxbuf *b, unsigned i, size_t off)
{
    size_t total = b->msg[i].msg_len;
    if (off >= total)
        return 0;
    size_t left = total - off;
    return b->seg[i] && b->seg[i] < left ? b->seg[i] : left;
}

/* DATA datagram (decoded header h, n bytes) -> packet pointing into buf;
 * false when its offload metadata does not pass net_hdr_check and
 * net_csum_placed. */
bool rnet_pkt_from(const struct rnet_hdr *h, uint8_t *buf, size_t n, struct net_pkt *p,
                   struct iovec *iov);

/* {"tx_datagrams", ..., "drops": {...}} */
json_t *rnet_path_json(struct rnet_path *p);

#endif
