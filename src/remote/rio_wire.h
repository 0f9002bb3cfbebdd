/* vRIO wire format: block requests between a vmhost and an iohost over UDP.
 *
 * Every datagram starts with a 64-byte header (little-endian on the wire)
 * and may carry data after it. A request is identified by (session, id):
 * a session is one vmhost queue (random 64-bit id), ids increase by one per
 * request. REQ carries the request, RESP the answer; data travels in WRITE
 * requests and successful READ responses, split into fragments of at most
 * frag_size bytes at offsets that are multiples of frag_size (the sender's
 * choice from its path MTU; every fragment of one message uses the same).
 * `ack` in a REQ is the client's low-water mark: every id below it is
 * settled and will never be sent again, so the server may forget it.
 * HELLO asks for an export's description (payload: its name), PING/PONG
 * are heartbeats (offset carries the sender's timestamp, echoed back).
 *
 * Fencing by lease: every message from the iohost carries its stamp (its
 * clock in ms, never 0) in `lease`; every REQ carries back the newest stamp
 * the client has received. The iohost applies a write-like request only
 * while that stamp is at most RIO_LEASE_MS old on its own clock, and
 * answers -ESTALE otherwise (nothing applied; the client resends with the
 * stamp of that answer). The stamp came from the iohost before the request
 * was sent, so a request the network held back longer than the lease can
 * no longer be applied, and the client knows, from when it received the
 * stamps it sent, the moment after which nothing it sent can land: it
 * hands abandoned writes to a fallback only after that moment (plus the
 * time a submitted write may take, bounded by the lease again). No clocks
 * need to agree: each side compares only stamps of its own clock.
 *
 * Selective retransmission: a link slower than a request's burst of
 * fragments (a 1 MiB write at 10 Mbit/s) drops the same tail of every
 * copy, so resending whole requests never completes one. A client resends
 * a fragmented WRITE as its first fragment with RIO_F_PROBE; the iohost,
 * still assembling it, answers NACK: a bitmap of the fragments it holds
 * (bit i of byte i / 8 is fragment i), and the client sends the others. A
 * READ is resent with RIO_F_HAVE and the bitmap of the fragments the client
 * holds, and the iohost's answer carries only the rest.
 *
 * Integrity: every datagram carries a CRC-32 (zlib's polynomial, computed
 * with ISA-L) of its header (the field itself taken as zero) and its data.
 * UDP's own checksum is optional on the way (veth and checksum offload skip
 * it) and weak; a datagram that was damaged anyway is dropped like a lost
 * one and sent again, instead of landing a damaged block on the disk or in
 * the guest.
 *
 * rio_hdr_decode accepts only self-consistent headers and rio_sealed only
 * datagrams whose CRC matches: one that fails either is dropped by either
 * side. */
#ifndef SC_RIO_WIRE_H
#define SC_RIO_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RIO_MAGIC 0x5652u /* "RV" */
#define RIO_VERSION 4
#define RIO_HDR_SIZE 72
#define RIO_MAX_IO (4u << 20)     /* READ/WRITE bytes per request */
#define RIO_MIN_FRAG 1024u        /* smallest fragment a receiver accepts */
#define RIO_MAX_FRAGS (RIO_MAX_IO / RIO_MIN_FRAG)
#define RIO_MIN_MTU 1280u
#define RIO_MAX_MTU 65000u
#define RIO_ID_SPAN 1024u         /* ids in flight per session, at most */
#define RIO_NAME_MAX 64
#define RIO_LEASE_MS 250u         /* how old a REQ's echoed stamp may be */

enum rio_type {
    RIO_T_REQ = 1,
    RIO_T_RESP = 2,
    RIO_T_HELLO = 3,
    RIO_T_HELLO_ACK = 4,
    RIO_T_PING = 5,
    RIO_T_PONG = 6,
    RIO_T_NACK = 7, /* payload: the fragments of a WRITE the iohost holds */
};

/* Same values as enum blk_op. */
enum rio_op { RIO_OP_READ, RIO_OP_WRITE, RIO_OP_FLUSH, RIO_OP_DISCARD, RIO_OP_WRITE_ZEROES };

#define RIO_F_UNMAP 0x01 /* WRITE_ZEROES may deallocate */
#define RIO_F_PROBE 0x02 /* WRITE resent: answer NACK while assembling it */
#define RIO_F_HAVE 0x04  /* READ resent: payload is the client's fragment bitmap */
#define RIO_F_RESEND (RIO_F_PROBE | RIO_F_HAVE) /* not part of what a request is */

/* Export description flags (HELLO_ACK payload). */
#define RIO_EX_READ_ONLY 0x01
#define RIO_EX_DISCARD 0x02
#define RIO_EX_WRITE_ZEROES 0x04
#define RIO_EX_FLUSH 0x08

struct rio_hdr {
    uint8_t type;
    uint8_t op;
    uint8_t flags;
    uint16_t queue;     /* the client's queue index, for logs */
    uint16_t frag_size; /* data-carrying messages: bytes per fragment */
    uint32_t device;    /* export tag: rio_tag(name) */
    int32_t status;     /* RESP / HELLO_ACK: 0 or -errno */
    uint32_t len;       /* request bytes (READ/WRITE data, DISCARD/WZ range) */
    uint32_t frag_off;  /* where this datagram's data belongs */
    uint32_t lease;     /* iohost: its stamp; REQ: the newest stamp received */
    uint64_t session;
    uint64_t id;
    uint64_t offset;    /* REQ: byte offset; PING/PONG: timestamp */
    uint64_t ack;
};

struct rio_hello_info {
    uint64_t size;
    uint32_t block_size;
    uint32_t flags;     /* RIO_EX_* */
    uint64_t epoch;     /* random per server start: a change means a restart */
};
#define RIO_HELLO_INFO_SIZE 24

/* The iohost's stamp for now (ms, wrapping, never 0). */
static inline uint32_t rio_stamp(uint64_t now_ns)
{
    uint32_t ms = (uint32_t)(now_ns / 1000000ull);
    return ms ? ms : 1;
}

/* May a request carrying `echo` still be applied at stamp `now`? A stamp of
 * none (0) or from the future (a restarted clock) is not fresh. */
static inline bool rio_stamp_fresh(uint32_t echo, uint32_t now)
{
    return echo != 0 && now - echo <= RIO_LEASE_MS;
}

/* The header with a zero CRC: rio_seal it once its data is known. */
void rio_hdr_encode(const struct rio_hdr *h, uint8_t out[RIO_HDR_SIZE]);
/* 0, or -EINVAL when the datagram is not a well-formed vRIO message; n is
 * the datagram's full size (header and data). */
int rio_hdr_decode(const uint8_t *buf, size_t n, struct rio_hdr *h);

struct iovec;
/* Writes the CRC of the encoded header and the first len bytes of the
 * data iovecs (len 0: no data) into the header. */
void rio_seal(uint8_t hdr[RIO_HDR_SIZE], const struct iovec *data, int niov, uint32_t len);
/* Does the CRC in hdr match the header and the first len bytes of data? */
bool rio_sealed(const uint8_t hdr[RIO_HDR_SIZE], const struct iovec *data, int niov,
                uint32_t len);

/* Does a message of this kind carry data after the header? */
bool rio_carries_data(const struct rio_hdr *h);

/* Bytes of a fragment bitmap for a len-byte message cut at frag_size. */
static inline uint32_t rio_bitmap_bytes(uint32_t len, uint32_t frag_size)
{
    return ((len + frag_size - 1) / frag_size + 7) / 8;
}
static inline bool rio_bitmap_has(const uint8_t *map, uint32_t i)
{
    return map && (map[i / 8] >> (i % 8)) & 1;
}

void rio_hello_encode(const struct rio_hello_info *in, uint8_t out[RIO_HELLO_INFO_SIZE]);
void rio_hello_decode(const uint8_t in[RIO_HELLO_INFO_SIZE], struct rio_hello_info *out);

/* FNV-1a of an export name: how requests name their device. */
uint32_t rio_tag(const char *name);
/* Data bytes per fragment for a path MTU (IPv4 or IPv6 headers). */
uint16_t rio_frag_size(unsigned mtu, bool ipv6);

#endif
