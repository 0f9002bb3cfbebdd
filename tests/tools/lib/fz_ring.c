/* Random virtqueue chains (contract: fz.h). Chains are shaped like the
 * device's requests most of the time (blk: header, data, status; net tx:
 * virtio-net header and a frame with plausible IP headers and offload
 * fields; net rx: writable buffers; ctrl: class, command, data, ack), so
 * they get past the ring's checks into the device, and are broken some of
 * the time (flags, next, addresses, lengths, ids). The driver also rewrites
 * slots the device may still be reading, and scribbles on the ring indexes
 * and event fields now and then: all of it is input a device must survive. */
#include "fz.h"

#include <string.h>

#include "common/util.h"
#include "dev/virtio_blk_spec.h"
#include "dev/virtio_net_spec.h"

#define TABLES 0x40000u      /* indirect tables: 64 of 2 KiB below VU_RAW_DATA */
#define TABLE_BYTES 0x800u
#define MAX_TABLES 64u
#define MAX_CHAIN 6u

enum role { BLK, NET_RX, NET_TX, NET_CTRL };

struct seg {
    uint64_t addr;
    uint32_t len;
    bool write;
};

static enum role role_of(const struct fz *z, const struct vu_raw *f, unsigned qi)
{
    if (!z->net)
        return BLK;
    if (qi == 2 && (f->features & (1ull << VIRTIO_NET_F_CTRL_VQ)))
        return NET_CTRL;
    return qi % 2 ? NET_TX : NET_RX;
}

/* Where a buffer of len bytes goes: in the data area mostly; over the rings,
 * across the end of memory, or anywhere now and then. */
static uint64_t buf_addr(struct fz *z, uint32_t len)
{
    uint32_t room = VU_RAW_MEM - VU_RAW_DATA;
    if (fz_pct(z, 3))
        return VU_RAW_RING_BASE + fz_below(z, 4 * 0x4000);
    if (fz_bad(z))
        return fz_pct(z, 50) ? VU_RAW_MEM - fz_below(z, 64) : fz_edge(z);
    return VU_RAW_DATA + (len < room ? fz_below(z, room - len) : 0);
}

static void *gmem(struct vu_raw *f, uint64_t addr, uint32_t len)
{
    if (addr >= VU_RAW_MEM || len > VU_RAW_MEM - addr)
        return NULL;
    return f->mem + addr;
}

static void blk_header(struct fz *z, struct vu_raw *f, const struct seg *s)
{
    static const uint32_t types[] = {VIRTIO_BLK_T_IN, VIRTIO_BLK_T_OUT, VIRTIO_BLK_T_FLUSH,
                                     VIRTIO_BLK_T_GET_ID, VIRTIO_BLK_T_DISCARD,
                                     VIRTIO_BLK_T_WRITE_ZEROES};
    uint8_t *p = gmem(f, s->addr, 16);
    if (!p)
        return;
    uint32_t type = fz_pct(z, 90) ? types[fz_below(z, 6)] : (uint32_t)fz_u64(z);
    uint64_t sector = fz_pct(z, 80) ? fz_below(z, 1u << 17) : fz_edge(z);
    memcpy(p, &type, 4);
    memset(p + 4, 0, 4);
    memcpy(p + 8, &sector, 8);
    /* DISCARD / WRITE_ZEROES carry segments after the header. */
    if ((type == VIRTIO_BLK_T_DISCARD || type == VIRTIO_BLK_T_WRITE_ZEROES) && s->len >= 32) {
        uint64_t seg_sector = fz_pct(z, 80) ? fz_below(z, 1u << 17) : fz_edge(z);
        uint32_t n = fz_pct(z, 80) ? fz_below(z, 4096) : (uint32_t)fz_edge(z);
        uint32_t fl = fz_pct(z, 80) ? fz_below(z, 2) : (uint32_t)fz_u64(z);
        memcpy(p + 16, &seg_sector, 8);
        memcpy(p + 24, &n, 4);
        memcpy(p + 28, &fl, 4);
    }
}

/* A frame of len bytes after the virtio-net header, with offload fields
 * that sometimes make sense for it and sometimes do not. */
static void net_frame(struct fz *z, struct vu_raw *f, const struct seg *s)
{
    static const uint8_t gso[] = {VIRTIO_NET_HDR_GSO_NONE, VIRTIO_NET_HDR_GSO_TCPV4,
                                  VIRTIO_NET_HDR_GSO_UDP, VIRTIO_NET_HDR_GSO_TCPV6,
                                  VIRTIO_NET_HDR_GSO_UDP_L4,
                                  VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN};
    uint8_t *p = gmem(f, s->addr, s->len);
    if (!p || s->len < VIRTIO_NET_HDR_LEN)
        return;
    uint32_t flen = s->len - VIRTIO_NET_HDR_LEN;
    uint8_t *e = p + VIRTIO_NET_HDR_LEN;
    fz_bytes(z, e, flen < 128 ? flen : 128);
    struct virtio_net_hdr_v1 h = {0};
    if (fz_pct(z, 50)) {
        h.flags = (uint8_t)(fz_pct(z, 80) ? fz_below(z, 4) : fz_u64(z));
        h.gso_type = fz_pct(z, 90) ? gso[fz_below(z, 6)] : (uint8_t)fz_u64(z);
        h.hdr_len = (uint16_t)(fz_pct(z, 70) ? 14 + fz_below(z, 80) : fz_edge(z));
        h.gso_size = (uint16_t)(fz_pct(z, 70) ? 1 + fz_below(z, 1500) : fz_edge(z));
        h.csum_start = (uint16_t)(fz_pct(z, 70) ? 14 + fz_below(z, 60) : fz_edge(z));
        h.csum_offset = (uint16_t)(fz_pct(z, 70) ? fz_below(z, 20) : fz_edge(z));
    }
    memcpy(p, &h, sizeof(h));
    if (flen < 14 + 40)
        return;
    if (fz_pct(z, 30))
        memset(e, 0xff, 6);
    uint16_t ip_len = (uint16_t)(flen - 14);
    if (fz_pct(z, 60)) {
        e[12] = 0x08, e[13] = 0x00;
        e[14] = (uint8_t)(fz_pct(z, 85) ? 0x45 : fz_u64(z));
        uint16_t tl = fz_pct(z, 80) ? ip_len : (uint16_t)fz_u64(z);
        e[16] = (uint8_t)(tl >> 8), e[17] = (uint8_t)tl;
        e[23] = fz_pct(z, 50) ? 6 : 17;
    } else if (fz_pct(z, 60)) {
        e[12] = 0x86, e[13] = 0xdd;
        e[14] = 0x60;
        uint16_t pl = fz_pct(z, 80) ? (uint16_t)(ip_len - 40) : (uint16_t)fz_u64(z);
        e[18] = (uint8_t)(pl >> 8), e[19] = (uint8_t)pl;
        e[20] = fz_pct(z, 50) ? 6 : 17;
    }
}

/* class, command: RX's six, MAC's two, MQ's one, guest offloads' one */
static const uint8_t ctrl_cmds[][2] = {{0, 0}, {0, 1}, {0, 2}, {0, 3}, {0, 4},
                                       {0, 5}, {1, 0}, {1, 1}, {4, 0}, {5, 0}};
#define N_CTRL_CMDS (sizeof(ctrl_cmds) / sizeof(ctrl_cmds[0]))

static void ctrl_cmd(struct fz *z, struct vu_raw *f, const struct seg *s, unsigned k)
{
    uint8_t *p = gmem(f, s->addr, s->len);
    if (!p)
        return;
    fz_bytes(z, p, s->len < 64 ? s->len : 64);
    if (s->len >= 2) {
        p[0] = fz_pct(z, 90) ? ctrl_cmds[k][0] : (uint8_t)fz_u64(z);
        p[1] = fz_pct(z, 90) ? ctrl_cmds[k][1] : (uint8_t)fz_u64(z);
    }
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (unsigned i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* A well-formed payload for command k (*len set; at most 64 bytes): most
 * commands then succeed and change the device's filters and queue choice
 * under the traffic. */
static void ctrl_data(struct fz *z, unsigned k, uint8_t *d, uint32_t *len)
{
    switch (ctrl_cmds[k][0]) {
    case 0: /* RX: on or off */
        d[0] = (uint8_t)fz_below(z, 2);
        *len = 1;
        break;
    case 1: { /* MAC: TABLE_SET, unicast then multicast table */
        uint32_t off = 0;
        for (unsigned t = 0; t < 2; t++) {
            uint32_t n = (uint32_t)fz_below(z, 3);
            put_le32(d + off, n);
            off += 4;
            fz_bytes(z, d + off, 6 * n);
            if (t == 1)
                for (uint32_t i = 0; i < n; i++)
                    d[off + 6 * i] |= 1; /* multicast */
            off += 6 * n;
        }
        *len = off;
        break;
    }
    case 4: /* MQ: VQ_PAIRS_SET 1..2 */
        d[0] = (uint8_t)(1 + fz_below(z, 2));
        d[1] = 0;
        *len = 2;
        break;
    default:
        fz_bytes(z, d, 8);
        *len = 8;
        break;
    }
}

/* The segments of one request for the queue's role; returns their count. */
static unsigned shape(struct fz *z, struct vu_raw *f, enum role r, struct seg *s)
{
    unsigned n = 0;
    switch (r) {
    case BLK: {
        s[n].len = !fz_bad(z) ? 16 : fz_len(z);
        s[n].addr = buf_addr(z, s[n].len);
        s[n].write = false;
        blk_header(z, f, &s[n]);
        n++;
        bool in = fz_pct(z, 50);
        unsigned data = fz_below(z, MAX_CHAIN - 1);
        for (unsigned i = 0; i < data; i++, n++) {
            s[n].len = fz_pct(z, 70) ? 512u << fz_below(z, 4) : fz_len(z);
            s[n].addr = buf_addr(z, s[n].len);
            s[n].write = in;
        }
        s[n].len = !fz_bad(z) ? 1 : fz_len(z);
        s[n].addr = buf_addr(z, s[n].len);
        s[n].write = true;
        n++;
        break;
    }
    case NET_TX: {
        unsigned k = 1 + fz_below(z, 3);
        for (unsigned i = 0; i < k; i++, n++) {
            s[n].len = !fz_bad(z) ? 12 + 60 + fz_below(z, 1500) : fz_len(z);
            s[n].addr = buf_addr(z, s[n].len);
            s[n].write = false;
        }
        net_frame(z, f, &s[0]);
        break;
    }
    case NET_RX: {
        unsigned k = 1 + fz_below(z, 2);
        for (unsigned i = 0; i < k; i++, n++) {
            s[n].len = !fz_bad(z) ? 64 + fz_below(z, 2048) : fz_len(z);
            s[n].addr = buf_addr(z, s[n].len);
            s[n].write = true;
        }
        break;
    }
    case NET_CTRL: {
        unsigned k = fz_below(z, N_CTRL_CMDS);
        uint8_t data[64];
        uint32_t dlen;
        ctrl_data(z, k, data, &dlen);
        if (fz_bad(z)) {
            dlen = (uint32_t)fz_len(z);
            fz_bytes(z, data, sizeof(data));
        } else if (fz_pct(z, 20)) {
            data[fz_below(z, dlen)] = (uint8_t)fz_u64(z);
        }
        s[0] = (struct seg){.len = !fz_bad(z) ? 2 : fz_len(z), .write = false};
        s[1] = (struct seg){.len = dlen, .write = false};
        s[2] = (struct seg){.len = !fz_bad(z) ? 1 : fz_len(z), .write = true};
        for (unsigned i = 0; i < 3; i++)
            s[i].addr = buf_addr(z, s[i].len);
        ctrl_cmd(z, f, &s[0], k);
        uint8_t *d = gmem(f, s[1].addr, s[1].len);
        if (d)
            memcpy(d, data, SC_MIN(s[1].len, (uint32_t)sizeof(data)));
        n = 3;
        break;
    }
    }
    if (fz_bad(z))
        s[fz_below(z, n)].write ^= true;
    return n;
}

static uint16_t split_flags(struct fz *z, const struct seg *s, bool more)
{
    uint16_t fl = (uint16_t)((more ? VRING_DESC_F_NEXT : 0) | (s->write ? VRING_DESC_F_WRITE : 0));
    return !fz_bad(z) ? fl : (uint16_t)fz_u64(z);
}

/* An indirect table at a fresh slot of the table area; its gpa. */
static uint64_t table_gpa(struct fz_ring *r)
{
    return TABLES + (r->tables++ % MAX_TABLES) * TABLE_BYTES;
}

static void split_chain(struct fz *z, struct vu_raw *f, struct vu_raw_q *q, struct fz_ring *r,
                        const struct seg *s, unsigned n)
{
    uint16_t head = r->next % VU_RAW_QNUM;
    if (n > 1 && (f->features & (1ull << VIRTIO_RING_F_INDIRECT_DESC)) && fz_pct(z, 25)) {
        uint64_t t = table_gpa(r);
        struct vring_desc *d = (struct vring_desc *)(f->mem + t);
        for (unsigned i = 0; i < n; i++)
            d[i] = (struct vring_desc){.addr = s[i].addr, .len = s[i].len,
                                       .flags = split_flags(z, &s[i], i + 1 < n),
                                       .next = (uint16_t)(!fz_bad(z) ? i + 1 : fz_u64(z))};
        uint32_t tl = !fz_bad(z) ? n * 16u : fz_len(z);
        q->desc[head] = (struct vring_desc){.addr = !fz_bad(z) ? t : fz_edge(z), .len = tl,
                                            .flags = VRING_DESC_F_INDIRECT};
        r->next++;
    } else {
        for (unsigned i = 0; i < n; i++) {
            uint16_t slot = r->next++ % VU_RAW_QNUM;
            q->desc[slot] = (struct vring_desc){
                .addr = s[i].addr, .len = s[i].len, .flags = split_flags(z, &s[i], i + 1 < n),
                .next = (uint16_t)(!fz_bad(z) ? r->next % VU_RAW_QNUM : fz_u64(z))};
        }
    }
    uint16_t entry = !fz_bad(z) ? head : (uint16_t)fz_u64(z);
    q->avail->ring[r->avail_idx % VU_RAW_QNUM] = entry;
    r->avail_idx++;
    __atomic_store_n(&q->avail->idx, r->avail_idx, __ATOMIC_RELEASE);
}

static uint16_t packed_flags(struct fz *z, const struct seg *s, bool more, bool wrap)
{
    uint16_t fl = (uint16_t)((more ? VRING_DESC_F_NEXT : 0) | (s->write ? VRING_DESC_F_WRITE : 0) |
                             vring_packed_avail_flags(wrap));
    return !fz_bad(z) ? fl : (uint16_t)fz_u64(z);
}

static void packed_chain(struct fz *z, struct vu_raw *f, struct vu_raw_q *q, struct fz_ring *r,
                         const struct seg *s, unsigned n)
{
    uint16_t id = (uint16_t)(!fz_bad(z) ? r->next % VU_RAW_QNUM : fz_edge(z));
    uint16_t head = r->next % VU_RAW_QNUM, head_flags;
    bool head_wrap = r->wrap;
    if (n > 1 && (f->features & (1ull << VIRTIO_RING_F_INDIRECT_DESC)) && fz_pct(z, 25)) {
        uint64_t t = table_gpa(r);
        struct vring_packed_desc *d = (struct vring_packed_desc *)(f->mem + t);
        for (unsigned i = 0; i < n; i++)
            d[i] = (struct vring_packed_desc){
                .addr = s[i].addr, .len = s[i].len,
                .flags = (uint16_t)(!fz_bad(z) ? (s[i].write ? VRING_DESC_F_WRITE : 0)
                                                  : fz_u64(z))};
        q->pdesc[head].addr = !fz_bad(z) ? t : fz_edge(z);
        q->pdesc[head].len = !fz_bad(z) ? n * 16u : fz_len(z);
        q->pdesc[head].id = id;
        head_flags = (uint16_t)(VRING_DESC_F_INDIRECT | vring_packed_avail_flags(head_wrap));
        n = 1;
    } else {
        head_flags = packed_flags(z, &s[0], n > 1, head_wrap);
        q->pdesc[head].addr = s[0].addr;
        q->pdesc[head].len = s[0].len;
        q->pdesc[head].id = id;
    }
    for (unsigned i = 0; i < n; i++) {
        uint16_t pos = r->next % VU_RAW_QNUM;
        if (i > 0) {
            q->pdesc[pos] = (struct vring_packed_desc){
                .addr = s[i].addr, .len = s[i].len, .id = id,
                .flags = packed_flags(z, &s[i], i + 1 < n, r->wrap)};
        }
        if (++r->next % VU_RAW_QNUM == 0)
            r->wrap = !r->wrap;
    }
    /* The head's flags last: they make the whole chain available. */
    __atomic_store_n(&q->pdesc[head].flags, head_flags, __ATOMIC_RELEASE);
}

static void scribble(struct fz *z, struct vu_raw *f, struct vu_raw_q *q, struct fz_ring *r)
{
    uint16_t v = (uint16_t)fz_edge(z);
    bool packed = f->packed;
    switch (fz_below(z, 5)) {
    case 0:
        if (!packed) {
            r->avail_idx = v;
            __atomic_store_n(&q->avail->idx, v, __ATOMIC_RELEASE);
        }
        break;
    case 1:
        __atomic_store_n(&q->used->idx, v, __ATOMIC_RELEASE);
        break;
    case 2:
        __atomic_store_n(&q->avail->flags, v, __ATOMIC_RELEASE);
        break;
    case 3: /* used_event (split) or the driver event's off_wrap (packed) */
        if (packed)
            __atomic_store_n(&q->avail->flags, v, __ATOMIC_RELEASE);
        else
            __atomic_store_n(&q->avail->ring[VU_RAW_QNUM], v, __ATOMIC_RELEASE);
        break;
    default:
        fz_bytes(z, &q->desc[fz_below(z, VU_RAW_QNUM)], sizeof(struct vring_desc));
        break;
    }
}

void fz_ring_round(struct fz *z, struct vu_raw *f, unsigned qi, struct fz_ring *r, unsigned n)
{
    struct vu_raw_q *q = &f->q[qi];
    enum role role = role_of(z, f, qi);
    r->tables = 0;
    for (unsigned i = 0; i < n; i++) {
        struct seg s[MAX_CHAIN + 1];
        z->bad = fz_pct(z, 4);
        unsigned k = shape(z, f, role, s);
        if (f->packed)
            packed_chain(z, f, q, r, s, k);
        else
            split_chain(z, f, q, r, s, k);
    }
    if (fz_pct(z, 2))
        scribble(z, f, q, r);
    vu_raw_kick(f, qi);
}
