/* blk_script: a scripted virtio-blk driver, one request at a time, for
 * tests of what a backend does with requests a guest may legally send.
 *
 *   blk_script SOCKET CMD...
 *
 * Commands (numbers decimal or 0x; SEC in 512-byte sectors, LEN in bytes):
 *   info                    capacity, blk_size, read-only, discard, write-zeroes
 *   w:SEC:LEN:SEED[:SKEW]   write a pattern made from SEED and the sector
 *                           numbers, from a buffer SKEW bytes past a page
 *   r:SEC:LEN:SEED[:SKEW]   read (into a buffer SKEW bytes past a page) and
 *                           compare with that pattern: match / mismatch
 *   z:SEC:LEN               read and check for zeros: zero / nonzero
 *   wz:SEC:LEN  dc:SEC:LEN  WRITE_ZEROES (no unmap), DISCARD
 *   fl                      FLUSH
 *   id                      GET_ID: prints the serial (up to 20 bytes)
 * Each prints "CMD status=S [...]" (S: the virtio status byte). Exit 0 when
 * every request completed (whatever its status), 2 on a usage error, 3 when
 * the device could not be set up or a request did not complete in 20 s. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/vu_blk.h"

#define MAX_LEN (16u << 20)
#define WAIT_MS 20000

static uint8_t pattern(uint64_t seed, uint64_t sector, unsigned i)
{
    uint64_t x = seed * 0x9E3779B97F4A7C15ull ^ (sector + 1) * 0xBF58476D1CE4E5B9ull ^
                 (i / 8 + 1) * 0x94D049BB133111EBull;
    x ^= x >> 29;
    return (uint8_t)(x >> (i % 8 * 8));
}

static void fill(uint8_t *p, uint64_t seed, uint64_t sector, uint64_t len)
{
    for (uint64_t o = 0; o < len; o++)
        p[o] = pattern(seed, sector + o / 512, (unsigned)(o % 512));
}

/* The numbers after "op:" into v (at most n); how many there were. */
static int numbers(const char *cmd, unsigned long long *v, int n)
{
    int k = 0;
    for (const char *p = strchr(cmd, ':'); p && k < n; p = strchr(p + 1, ':'))
        v[k++] = strtoull(p + 1, NULL, 0);
    return k;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: blk_script SOCKET CMD... (see the source's head)\n");
        return 2;
    }
    struct vu_blk_cfg cfg = {.socket = argv[1], .mem_bytes = 2 * MAX_LEN + (8u << 20),
                             .connect_timeout_ms = 10000};
    struct vu_blk *b;
    if (vu_blk_open(&cfg, &b) < 0) {
        fprintf(stderr, "blk_script: cannot set up the device on %s\n", argv[1]);
        return 3;
    }
    struct vu_mem *m = vu_blk_mem(b);
    uint8_t *buf = vu_mem_alloc(m, MAX_LEN + 4096, 4096);
    uint8_t *ref = malloc(MAX_LEN);
    if (!buf || !ref) {
        fprintf(stderr, "blk_script: out of memory\n");
        return 3;
    }
    int rc = 0;
    for (int a = 2; a < argc && !rc; a++) {
        const char *c = argv[a];
        unsigned long long v[4] = {0};
        int nv = numbers(c, v, 4);
        size_t oplen = strcspn(c, ":");
        uint8_t st = 0xff;
        int r = 0;
        if (strncmp(c, "info", oplen) == 0 && oplen == 4) {
            const struct vu_blk_info *in = vu_blk_info(b);
            printf("info capacity=%llu blk_size=%u ro=%d discard=%d write_zeroes=%d\n",
                   (unsigned long long)in->capacity, in->blk_size, in->read_only,
                   !!(in->features & (1ull << VU_BLK_F_DISCARD)),
                   !!(in->features & (1ull << VU_BLK_F_WRITE_ZEROES)));
            continue;
        }
        if (v[1] > MAX_LEN || v[3] > 4095) {
            fprintf(stderr, "blk_script: %s: at most %u bytes, skew below 4096\n", c, MAX_LEN);
            return 2;
        }
        uint8_t *p = buf + v[3];
        uint32_t len = (uint32_t)v[1];
        if (c[0] == 'w' && oplen == 1 && nv >= 3) {
            fill(p, v[2], v[0], len);
            r = vu_blk_sync(b, 0, VU_BLK_WRITE, v[0], p, len, WAIT_MS, &st);
            printf("%s status=%d\n", c, st);
        } else if (c[0] == 'r' && oplen == 1 && nv >= 3) {
            memset(p, 0xee, len);
            r = vu_blk_sync(b, 0, VU_BLK_READ, v[0], p, len, WAIT_MS, &st);
            fill(ref, v[2], v[0], len);
            printf("%s status=%d %s\n", c, st, memcmp(p, ref, len) ? "mismatch" : "match");
        } else if (c[0] == 'z' && oplen == 1 && nv >= 2) {
            memset(p, 0xee, len);
            r = vu_blk_sync(b, 0, VU_BLK_READ, v[0], p, len, WAIT_MS, &st);
            memset(ref, 0, len);
            printf("%s status=%d %s\n", c, st, memcmp(p, ref, len) ? "nonzero" : "zero");
        } else if ((strncmp(c, "wz", oplen) == 0 || strncmp(c, "dc", oplen) == 0) &&
                   oplen == 2 && nv >= 2) {
            r = vu_blk_sync(b, 0, c[0] == 'w' ? VU_BLK_WRITE_ZEROES : VU_BLK_DISCARD, v[0],
                            NULL, len, WAIT_MS, &st);
            printf("%s status=%d\n", c, st);
        } else if (strcmp(c, "id") == 0) {
            memset(p, 0, VU_BLK_ID_BYTES + 1);
            r = vu_blk_sync(b, 0, VU_BLK_GET_ID, 0, p, VU_BLK_ID_BYTES, WAIT_MS, &st);
            printf("%s status=%d serial=%s\n", c, st, (char *)p);
        } else if (strcmp(c, "fl") == 0) {
            r = vu_blk_sync(b, 0, VU_BLK_FLUSH, 0, NULL, 0, WAIT_MS, &st);
            printf("%s status=%d\n", c, st);
        } else {
            fprintf(stderr, "blk_script: unknown command %s\n", c);
            return 2;
        }
        if (r < 0) {
            printf("%s failed: %s\n", c, strerror(-r));
            rc = 3;
        }
        fflush(stdout);
    }
    free(ref);
    vu_blk_close(b);
    return rc;
}
