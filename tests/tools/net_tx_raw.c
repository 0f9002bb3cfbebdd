/* net_tx_raw: a guest that sends exactly the frames it is given, virtio-net
 * header included, on a net device's tx queue: what a hostile or buggy
 * driver may put in front of its frames (checksum offsets, GSO metadata)
 * that testpmd and Linux never would.
 *
 *   net_tx_raw SOCKET_PATH FILE
 *
 * FILE holds records: a 32-bit little-endian length L, then L bytes, the
 * 12-byte virtio_net_hdr_v1 followed by the frame. Each record goes out as
 * one descriptor. The driver negotiates CSUM, HOST_TSO4 and HOST_TSO6
 * where offered. Exits 0 once the device has used every buffer (bounded
 * by VU_RAW_WAIT_MS per batch), printing how many records it sent. */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dev/virtio_net_spec.h"
#include "lib/vu_raw.h"

#define TXQ 1u
#define BATCH 64u

static int wait_used(struct vu_raw *f, uint16_t want)
{
    struct vu_raw_q *q = &f->q[TXQ];
    for (int waited = 0; waited < VU_RAW_WAIT_MS; waited += 10) {
        if (__atomic_load_n(&q->used->idx, __ATOMIC_ACQUIRE) == want)
            return 0;
        struct pollfd p = {.fd = q->call, .events = POLLIN};
        poll(&p, 1, 10);
        uint64_t v;
        if (p.revents & POLLIN && read(q->call, &v, sizeof(v)) < 0)
            return -1;
    }
    fprintf(stderr, "net_tx_raw: the device used %u of %u buffers within %d ms\n",
            (unsigned)q->used->idx, (unsigned)want, VU_RAW_WAIT_MS);
    return -1;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s SOCKET_PATH FILE\n", argv[0]);
        return 2;
    }
    FILE *in = fopen(argv[2], "rb");
    if (!in) {
        perror(argv[2]);
        return 2;
    }
    struct vu_raw f;
    if (vu_raw_open(&f, argv[1]) < 0)
        return 1;
    f.nq = 2;
    f.extra = (1ull << VIRTIO_NET_F_CSUM) | (1ull << VIRTIO_NET_F_HOST_TSO4) |
              (1ull << VIRTIO_NET_F_HOST_TSO6);
    if (vu_raw_setup(&f, true) < 0) {
        vu_raw_close(&f);
        return 1;
    }
    struct vu_raw_q *q = &f.q[TXQ];
    uint16_t idx = 0;
    unsigned sent = 0, inbatch = 0;
    uint64_t at = VU_RAW_DATA;
    int rc = 0;
    for (;;) {
        uint8_t lb[4];
        if (fread(lb, 1, 4, in) != 4)
            break;
        uint32_t len = (uint32_t)lb[0] | (uint32_t)lb[1] << 8 | (uint32_t)lb[2] << 16 |
                       (uint32_t)lb[3] << 24;
        if (at + len > VU_RAW_MEM || inbatch == BATCH) {
            if (vu_raw_kick(&f, TXQ) < 0 || wait_used(&f, idx) < 0) {
                rc = 1;
                break;
            }
            at = VU_RAW_DATA;
            inbatch = 0;
        }
        if (at + len > VU_RAW_MEM || fread(f.mem + at, 1, len, in) != len) {
            fprintf(stderr, "net_tx_raw: record %u: bad length %u\n", sent, len);
            rc = 2;
            break;
        }
        uint16_t d = (uint16_t)(idx % VU_RAW_QNUM);
        q->desc[d] = (struct vring_desc){.addr = at, .len = len};
        q->avail->ring[d] = d;
        idx++;
        __atomic_store_n(&q->avail->idx, idx, __ATOMIC_RELEASE);
        at += (len + 63) & ~63u;
        inbatch++;
        sent++;
    }
    if (rc == 0 && (vu_raw_kick(&f, TXQ) < 0 || wait_used(&f, idx) < 0))
        rc = 1;
    fclose(in);
    vu_raw_close(&f);
    if (rc == 0)
        printf("net_tx_raw: sent %u\n", sent);
    return rc;
}
