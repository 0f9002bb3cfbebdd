#include "verify.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VERIFY_MAGIC 0x3148434e45424353ull /* "SCBENCH1" */
#define VERIFY_REPORT_MAX 10

struct sector_hdr {
    uint64_t magic, lba, seq, pad;
};

int verify_init(struct verify *v, uint64_t nblocks, uint32_t bs)
{
    memset(v, 0, sizeof(*v));
    if (nblocks > VERIFY_MAX_BLOCKS) {
        fprintf(stderr, "sidecore-bench: --verify tracks at most %llu blocks; use --span to "
                "verify a smaller region\n", (unsigned long long)VERIFY_MAX_BLOCKS);
        return -1;
    }
    v->nblocks = nblocks;
    v->bs = bs;
    v->seq = calloc(nblocks, sizeof(*v->seq));
    v->busy = calloc(nblocks, 1);
    v->next_seq = 1;
    if (!v->seq || !v->busy) {
        verify_free(v);
        fprintf(stderr, "sidecore-bench: out of memory for verification state\n");
        return -1;
    }
    return 0;
}

void verify_free(struct verify *v)
{
    free(v->seq);
    free(v->busy);
    v->seq = NULL;
    v->busy = NULL;
}

uint32_t verify_new_seq(struct verify *v)
{
    uint32_t s = v->next_seq++;
    if (v->next_seq == VERIFY_UNKNOWN)
        v->next_seq = 1;
    return s;
}

static inline uint64_t pattern_word(uint64_t lba, uint64_t seq, uint64_t j)
{
    uint64_t x = lba * 0x9E3779B97F4A7C15ull ^ (seq << 21) ^ (j * 0xBF58476D1CE4E5B9ull);
    return x ^ (x >> 29);
}

static void fill_sector(uint64_t *w, uint64_t lba, uint32_t seq)
{
    struct sector_hdr h = {VERIFY_MAGIC, lba, seq, 0};
    memcpy(w, &h, sizeof(h));
    for (unsigned j = sizeof(h) / 8; j < 512 / 8; j++)
        w[j] = pattern_word(lba, seq, j);
}

void verify_fill(void *buf, uint32_t bs, uint64_t first_sector, uint32_t seq)
{
    for (uint32_t s = 0; s < bs / 512; s++)
        fill_sector((uint64_t *)((uint8_t *)buf + (size_t)s * 512), first_sector + s, seq);
}

bool verify_check(struct verify *v, const void *buf, uint64_t blk, uint64_t first_sector,
                  uint32_t seq)
{
    uint64_t expect[512 / 8];
    v->checked++;
    for (uint32_t s = 0; s < v->bs / 512; s++) {
        const uint8_t *p = (const uint8_t *)buf + (size_t)s * 512;
        fill_sector(expect, first_sector + s, seq);
        if (memcmp(p, expect, 512) == 0)
            continue;
        v->mismatches++;
        if (v->mismatches <= VERIFY_REPORT_MAX) {
            struct sector_hdr got;
            memcpy(&got, p, sizeof(got));
            unsigned off = 0;
            while (off < 512 && p[off] == ((const uint8_t *)expect)[off])
                off++;
            if (got.magic == VERIFY_MAGIC)
                fprintf(stderr, "verify: MISMATCH at lba %" PRIu64 " (block %" PRIu64
                        ", byte %u of the sector): expected write #%u of that lba, found "
                        "lba %" PRIu64 " write #%" PRIu64 "\n", first_sector + s, blk, off, seq,
                        got.lba, got.seq);
            else
                fprintf(stderr, "verify: MISMATCH at lba %" PRIu64 " (block %" PRIu64
                        ", byte %u of the sector): expected write #%u, found no bench header "
                        "(data never written or overwritten by someone else)\n",
                        first_sector + s, blk, off, seq);
        } else if (v->mismatches == VERIFY_REPORT_MAX + 1) {
            fprintf(stderr, "verify: more mismatches, not listing them\n");
        }
        return false;
    }
    return true;
}
