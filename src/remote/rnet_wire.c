/* vRIO net header encoding (see rnet_wire.h). */
#include "rnet_wire.h"

#include <ctype.h>
#include <endian.h>
#include <errno.h>
#include <isa-l/crc.h>
#include <string.h>
#include <sys/uio.h>

#include "../backend/net_port.h"

static void put16(uint8_t *p, uint16_t v)
{
    v = htole16(v);
    memcpy(p, &v, 2);
}
static void put32(uint8_t *p, uint32_t v)
{
    v = htole32(v);
    memcpy(p, &v, 4);
}
static void put64(uint8_t *p, uint64_t v)
{
    v = htole64(v);
    memcpy(p, &v, 8);
}
static uint16_t get16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return le16toh(v);
}
static uint32_t get32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return le32toh(v);
}
static uint64_t get64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return le64toh(v);
}

#define CRC_AT 28

/* zlib's CRC-32 (ISA-L), the CRC field taken as zero. */
static uint32_t hdr_crc(const uint8_t *hdr)
{
    uint8_t h[RNET_HDR_SIZE];
    memcpy(h, hdr, sizeof(h));
    memset(h + CRC_AT, 0, 4);
    return crc32_gzip_refl(0, h, sizeof(h));
}

void rnet_hdr_encode(const struct rnet_hdr *h, uint8_t out[RNET_HDR_SIZE],
                     const struct iovec *iov, unsigned niov, size_t len)
{
    memset(out, 0, RNET_HDR_SIZE);
    put16(out, RNET_MAGIC);
    out[2] = RNET_VERSION;
    out[3] = h->type;
    out[4] = h->flags;
    put16(out + 6, h->peer);
    put32(out + 8, (uint32_t)h->status);
    put64(out + 12, h->session);
    put32(out + 20, h->seq);
    put16(out + 24, h->csum_start);
    put16(out + 26, h->csum_offset);
    uint32_t c = hdr_crc(out);
    for (unsigned i = 0; i < niov && len; i++) {
        size_t k = iov[i].iov_len < len ? iov[i].iov_len : len;
        c = crc32_gzip_refl(c, iov[i].iov_base, k);
        len -= k;
    }
    put32(out + CRC_AT, c);
}

static int sealed(const uint8_t *buf, size_t n)
{
    uint32_t c = crc32_gzip_refl(hdr_crc(buf), buf + RNET_HDR_SIZE, n - RNET_HDR_SIZE);
    return c == get32(buf + CRC_AT) ? 0 : -EINVAL;
}

int rnet_hdr_decode(const uint8_t *buf, size_t n, struct rnet_hdr *h)
{
    if (n < RNET_HDR_SIZE || get16(buf) != RNET_MAGIC || buf[2] != RNET_VERSION)
        return -EINVAL;
    h->type = buf[3];
    h->flags = buf[4];
    h->peer = get16(buf + 6);
    h->status = (int32_t)get32(buf + 8);
    h->session = get64(buf + 12);
    h->seq = get32(buf + 20);
    h->csum_start = get16(buf + 24);
    h->csum_offset = get16(buf + 26);
    size_t pl = n - RNET_HDR_SIZE;
    /* A status is 0 or -errno: INT32_MIN made strerror(-status) overflow. */
    if (h->session == 0 || (h->flags & ~RNET_F_NEEDS_CSUM) || h->status > 0 ||
        h->status < -4095)
        return -EINVAL;
    switch (h->type) {
    case RNET_T_DATA:
        if (pl < NET_MIN_FRAME || pl > RNET_MAX_FRAME)
            return -EINVAL;
        /* The checksum field (2 bytes) must lie inside the frame. */
        if ((h->flags & RNET_F_NEEDS_CSUM) &&
            (size_t)h->csum_start + h->csum_offset + 2 > pl)
            return -EINVAL;
        return sealed(buf, n);
    case RNET_T_HELLO:
        return pl >= 2 && pl <= 2 * RNET_NAME_MAX ? sealed(buf, n) : -EINVAL;
    case RNET_T_PING:
    case RNET_T_PONG:
        return pl == 8 ? sealed(buf, n) : -EINVAL;
    case RNET_T_HELLO_ACK:
    case RNET_T_BYE:
        return pl == 0 ? sealed(buf, n) : -EINVAL;
    default:
        return -EINVAL;
    }
}

bool rnet_name_ok(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isalnum(p[i]) && p[i] != '-' && p[i] != '_' && p[i] != '.')
            return false;
    return n > 0;
}
