/* vRIO net wire format: Ethernet frames between a vmhost's tunnel port and
 * an iohost's switch, one UDP datagram per frame, best effort.
 *
 * Every datagram starts with a 32-byte header (little-endian). `session` is
 * random per vmhost tunnel; `peer` is the slot the iohost gave it in
 * HELLO_ACK. DATA carries one frame after the header and its virtio-net
 * offload metadata (only NEEDS_CSUM crosses: the sender resolved GSO, see
 * rnet_io.h); `seq` counts a session's DATA per direction, so a receiver
 * sees frames the path lost as gaps (PING and PONG carry the sender's next
 * seq, so a lost tail shows too). HELLO (payload: the switch name, a
 * NUL, the tunnel's name) asks to join a switch; HELLO_ACK answers with the
 * slot or -errno in status. PING / PONG (payload: the sender's 8-byte
 * timestamp, echoed) are heartbeats; a PONG with status -ENOENT tells a
 * tunnel the iohost no longer knows it (restart), so it says HELLO again.
 * BYE: the tunnel goes away. Every datagram carries a CRC-32 of its header
 * (the field taken as zero) and payload, as vRIO's block datagrams do
 * (rio_wire.h): a damaged one is dropped like a frame with a bad FCS.
 * rnet_hdr_decode accepts only self-consistent headers of datagrams whose
 * CRC matches; anything else is dropped and counted. */
#ifndef SC_RNET_WIRE_H
#define SC_RNET_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RNET_MAGIC 0x4e52u /* "RN" */
#define RNET_VERSION 2
#define RNET_HDR_SIZE 32
/* Largest frame a datagram carries: an IPv4 UDP payload less our header. */
#define RNET_MAX_FRAME (65507u - RNET_HDR_SIZE)
#define RNET_NAME_MAX 48

enum rnet_type {
    RNET_T_DATA = 1,
    RNET_T_HELLO = 2,
    RNET_T_HELLO_ACK = 3,
    RNET_T_PING = 4,
    RNET_T_PONG = 5,
    RNET_T_BYE = 6,
};

#define RNET_F_NEEDS_CSUM 0x01 /* csum_start / csum_offset are valid */

struct rnet_hdr {
    uint8_t type;
    uint8_t flags;
    uint16_t peer;
    int32_t status;       /* HELLO_ACK, PONG: 0 or -errno */
    uint64_t session;
    uint32_t seq;
    uint16_t csum_start, csum_offset;
};

/* A switch or device name in a HELLO: what a device name may hold
 * (letters, digits, '-', '_', '.'), since it becomes a port name in stats
 * (JSON) and in the log. A name with other bytes joined but vanished from
 * net-peers (not UTF-8); a newline in one could forge log lines. */
bool rnet_name_ok(const uint8_t *p, size_t n);

struct iovec;
/* The header of a datagram whose payload is the first len bytes of
 * iov[0..niov) (len 0: none), its CRC included. */
void rnet_hdr_encode(const struct rnet_hdr *h, uint8_t out[RNET_HDR_SIZE],
                     const struct iovec *iov, unsigned niov, size_t len);
/* 0, or -EINVAL when buf (n bytes: the whole datagram) is not a valid
 * message: bad magic or version, unknown type, a status other than 0 or
 * -errno (-4095..0), DATA without a frame or
 * with csum fields outside it, control messages with a wrong payload, a
 * CRC that does not match. */
int rnet_hdr_decode(const uint8_t *buf, size_t n, struct rnet_hdr *h);

#endif
