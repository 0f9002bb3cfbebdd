/* libFuzzer harness: virtqueue engine (split / packed / IN_ORDER / indirect,
 * inflight area) with guest memory = fuzzer bytes, mapped as two adjacent
 * guest regions backed by two separate heap buffers (ASan red zones between
 * them: any host access outside a region is reported).
 * Input layout:
 *   [0]  feature bits: 1 packed, 2 in_order, 4 indirect, 8 event_idx,
 *        16 reads_only, 32 inflight area, 64 device_in_order, 128 settle
 *   [1]  ring size selector
 *   [2..3] base
 *   [4..5] split point of guest memory between the two regions
 *   [6]  max_iov (1..64) in the low bits; 64: dirty log on (every guest
 *        byte the device changed must then be marked in it); 128: with a
 *        log address from the inflight selector bytes (a hostile frontend's)
 *   [7]  push policy byte
 *   [8..9] length of guest memory image L
 *   then L bytes guest memory, then (if flag 32) inflight area bytes, then
 *   "driver writes" ops: (u16 off, u16 val) applied between pops. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem/dirtylog.h"
#include "mem/guestmem.h"
#include "virtq/virtq.h"

#define MAXIOV 64

static void check_iov(const uint8_t *r0, size_t s0, const uint8_t *r1, size_t s1,
                      const struct iovec *iov, int n)
{
    for (int i = 0; i < n; i++) {
        const uint8_t *b = iov[i].iov_base;
        size_t l = iov[i].iov_len;
        int ok = (b >= r0 && l <= s0 && b - r0 <= (ptrdiff_t)(s0 - l)) ||
                 (r1 && b >= r1 && l <= s1 && b - r1 <= (ptrdiff_t)(s1 - l));
        if (!ok || l == 0) {
            fprintf(stderr, "iov %d [%p,+%zu) outside guest memory\n", i, (void *)b, l);
            abort();
        }
    }
}

/* Every byte that differs from the shadow lies on a logged page; the
 * shadow then takes the memory as it is. */
static void check_log(const struct dirty_log_map *m, uint8_t *shadow, const uint8_t *r0,
                      size_t s0, const uint8_t *r1, size_t s1)
{
    for (size_t i = 0; m && i < s0 + s1; i++) {
        uint8_t now = i < s0 ? r0[i] : r1[i - s0];
        uint64_t page = i / DIRTY_LOG_PAGE;
        if (now != shadow[i] && page < m->size * 8 && !((m->bits[page / 8] >> (page % 8)) & 1)) {
            fprintf(stderr, "guest byte 0x%zx changed, page %llu not in the dirty log\n", i,
                    (unsigned long long)page);
            abort();
        }
    }
    memcpy(shadow, r0, s0);
    if (s1)
        memcpy(shadow + s0, r1, s1);
}

/* What a device does with the len bytes it reports written. */
static void write_in(const struct vq_chain *c, uint32_t len, uint8_t pat)
{
    for (int i = c->n_out; i < c->n_out + c->n_in && len; i++) {
        size_t k = c->iov[i].iov_len < len ? c->iov[i].iov_len : len;
        uint8_t *b = c->iov[i].iov_base;
        for (size_t j = 0; j < k; j++)
            b[j] = (uint8_t)(b[j] ^ pat);
        len -= (uint32_t)k;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 10)
        return 0;
    uint8_t fl = data[0];
    bool packed = fl & 1;
    uint16_t num = packed ? 1 + (data[1] % 64) : (uint16_t)(1u << (data[1] % 7));
    uint16_t base = (uint16_t)(data[2] | (data[3] << 8));
    uint16_t splitsel = (uint16_t)(data[4] | (data[5] << 8));
    uint16_t max_iov = 1 + data[6] % MAXIOV;
    bool logging = data[6] & 64, log_hostile = data[6] & 128;
    uint8_t pushpol = data[7];
    size_t L = (size_t)(data[8] | (data[9] << 8));
    data += 10;
    size -= 10;

    uint64_t avail_off = 16ull * num, used_off, ring_end;
    if (packed) {
        used_off = avail_off + 4;
        ring_end = used_off + 4;
    } else {
        used_off = (avail_off + 6 + 2ull * num + 3) & ~3ull;
        ring_end = used_off + 6 + 8ull * num;
    }
    if (L < ring_end)
        L = ring_end;
    if (L > 16384)
        L = 16384;
    /* region 0: [0, s0) holds the rings; region 1: [s0, L) */
    size_t s0 = ring_end + (L > ring_end ? splitsel % (L - ring_end + 1) : 0);
    size_t s1 = L - s0;
    uint8_t *r0 = malloc(s0);
    uint8_t *r1 = s1 ? malloc(s1) : NULL;
    memset(r0, 0, s0);
    if (r1)
        memset(r1, 0, s1);
    size_t take = size < L ? size : L;
    memcpy(r0, data, take < s0 ? take : s0);
    if (take > s0)
        memcpy(r1, data + s0, take - s0);
    data += take;
    size -= take;

    uint8_t *inf = NULL;
    uint64_t inf_bytes = 0;
    if (fl & 32) {
        inf_bytes = packed ? vq_inflight_packed_bytes(num) : vq_inflight_split_bytes(num);
        inf = malloc(inf_bytes);
        memset(inf, 0, inf_bytes);
        size_t t2 = size < inf_bytes ? size : inf_bytes;
        memcpy(inf, data, t2);
        data += t2;
        size -= t2;
    }

    struct guestmem gm;
    gm_init(&gm);
    struct gm_table *t = calloc(1, sizeof(*t));
    t->bus = &gm.bus;
    t->n = 1;
    t->r[0] = (struct gm_region){.gpa = 0, .size = s0, .uva = 0x100000, .host = r0, .fd = -1};
    if (s1) {
        t->n = 2;
        t->r[1] = (struct gm_region){.gpa = s0, .size = s1, .uva = 0x200000 + s0, .host = r1,
                                     .fd = -1};
    }
    struct gm_table *old = gm_publish(&gm, t);
    struct dirty_log_map logm = {.size = 1}; /* 8 pages: all of it */
    uint8_t *shadow = NULL;
    if (logging) {
        logm.bits = calloc(1, logm.size);
        dirty_log_swap(&gm.log, &logm);
    }
    if (logging && !log_hostile) {
        shadow = malloc(L);
        memcpy(shadow, r0, s0);
        if (s1)
            memcpy(shadow + s0, r1, s1);
    }

    uint64_t feat = 0;
    if (packed)
        feat |= 1ull << VIRTIO_F_RING_PACKED;
    if (fl & 2)
        feat |= 1ull << VIRTIO_F_IN_ORDER;
    if (fl & 4)
        feat |= 1ull << VIRTIO_RING_F_INDIRECT_DESC;
    if (fl & 8)
        feat |= 1ull << VIRTIO_RING_F_EVENT_IDX;

    static struct virtq vq;
    if (packed)
        base = (uint16_t)((base & 0x8000) | ((base & 0x7fff) % num));
    vq_init(&vq, num, r0, r0 + avail_off, r0 + used_off, base, feat, &gm);
    vq.log_used = logging;
    vq.used_log_gpa = used_off;
    vq.desc_log_gpa = 0;
    vq.dev_event_log_gpa = used_off;
    if (log_hostile) { /* no oracle then: the log addresses are wrong */
        vq.used_log_gpa = UINT64_MAX - splitsel;
        vq.desc_log_gpa = (uint64_t)splitsel << 48;
        vq.dev_event_log_gpa = UINT64_MAX - 1;
    }
    if (inf && !vq.err)
        vq_set_inflight(&vq, inf, inf_bytes);
    if (fl & 64)
        vq_device_in_order(&vq);
    vq_set_reads_only(&vq, fl & 16);
    vq_set_settle(&vq, fl & 128);

    struct iovec iov[MAXIOV];
    uint64_t gpa[MAXIOV];
    struct vq_chain held[128];
    struct iovec hiov[128][4];
    uint64_t hgpa[128][4];
    int nheld = 0;
    bool in_order_dev = fl & 64;
    for (int round = 0; round < 3 * num + 8; round++) {
        struct vq_chain c = {.iov = iov, .gpa = gpa, .max_iov = max_iov};
        vq_has_work(&vq);
        int rc = vq_pop(&vq, &c);
        if (rc < 0)
            break;
        if (rc == 1) {
            if (c.n_out + c.n_in > max_iov)
                abort();
            check_iov(r0, s0, r1, s1, iov, c.n_out + c.n_in);
            /* touch every byte like a device would */
            volatile uint8_t sink = 0;
            for (int i = 0; i < c.n_out + c.n_in; i++)
                for (size_t k = 0; k < iov[i].iov_len; k += 64)
                    sink ^= ((uint8_t *)iov[i].iov_base)[k];
            (void)sink;
            if (nheld < 128) {
                held[nheld] = c;
                int k = c.n_out + c.n_in < 4 ? c.n_out + c.n_in : 4;
                memcpy(hiov[nheld], iov, sizeof(struct iovec) * k);
                memcpy(hgpa[nheld], gpa, sizeof(uint64_t) * k);
                held[nheld].iov = hiov[nheld];
                held[nheld].gpa = hgpa[nheld];
                held[nheld].n_out = (uint16_t)(c.n_out < k ? c.n_out : k);
                held[nheld].n_in = (uint16_t)(k - held[nheld].n_out);
                nheld++;
            }
        }
        /* push some held chains */
        if (nheld && (rc == 0 || (pushpol >> (round & 7)) & 1)) {
            int idx = in_order_dev ? 0 : (int)((pushpol + round) % nheld);
            struct vq_chain *h = &held[idx];
            uint32_t len = h->in_len ? (uint32_t)(h->in_len >> (round & 3)) : 0;
            if (logging)
                write_in(h, len, (uint8_t)(round | 1));
            vq_push(&vq, h, len);
            memmove(&held[idx], &held[idx + 1], sizeof(held[0]) * (nheld - idx - 1));
            memmove(&hiov[idx], &hiov[idx + 1], sizeof(hiov[0]) * (nheld - idx - 1));
            memmove(&hgpa[idx], &hgpa[idx + 1], sizeof(hgpa[0]) * (nheld - idx - 1));
            for (int j = idx; j < nheld - 1; j++) {
                held[j].iov = hiov[j];
                held[j].gpa = hgpa[j];
            }
            nheld--;
            vq_publish(&vq);
            vq_should_notify(&vq);
        }
        if (round & 1)
            vq_set_notify(&vq, round & 2);
        if (shadow)
            check_log(&logm, shadow, r0, s0, r1, s1);
        /* driver writes between pops */
        if (size >= 4) {
            uint16_t off = (uint16_t)(data[0] | (data[1] << 8));
            uint16_t val = (uint16_t)(data[2] | (data[3] << 8));
            data += 4;
            size -= 4;
            size_t o2 = (size_t)(off % (ring_end / 2)) * 2;
            memcpy(r0 + o2, &val, 2);
            if (shadow)
                memcpy(shadow + o2, &val, 2);
        }
    }
    while (nheld) {
        vq_push(&vq, &held[0], 0);
        memmove(&held[0], &held[1], sizeof(held[0]) * (nheld - 1));
        memmove(&hiov[0], &hiov[1], sizeof(hiov[0]) * (nheld - 1));
        memmove(&hgpa[0], &hgpa[1], sizeof(hgpa[0]) * (nheld - 1));
        for (int j = 0; j < nheld - 1; j++) {
            held[j].iov = hiov[j];
            held[j].gpa = hgpa[j];
        }
        nheld--;
    }
    vq_publish(&vq);
    vq_should_notify(&vq);
    if (shadow)
        check_log(&logm, shadow, r0, s0, r1, s1);
    vq_fini(&vq);
    dirty_log_swap(&gm.log, NULL);
    free((void *)logm.bits);
    free(shadow);
    gm_table_free(gm_publish(&gm, old), false);
    gm_table_free(gm_publish(&gm, NULL), false);
    free(r0);
    free(r1);
    free(inf);
    return 0;
}
