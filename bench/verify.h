/* Data verification for the bench. Every 512-byte sector of a written
 * block starts with a header (magic, sector LBA, write sequence) followed by
 * a pattern derived from both; the bench remembers per block the sequence
 * of the last write that completed OK. A read of a block with a known
 * sequence must reproduce it exactly. A block is never read and written
 * concurrently (busy flags), so "last completed write" is well defined. */
#ifndef BENCH_VERIFY_H
#define BENCH_VERIFY_H

#include <stdbool.h>
#include <stdint.h>

#define VERIFY_NEVER 0u
#define VERIFY_UNKNOWN UINT32_MAX /* a write to it failed: contents unknown */
#define VERIFY_MAX_BLOCKS (1ull << 28)

struct verify {
    uint64_t nblocks;
    uint32_t bs;
    uint32_t *seq;
    uint8_t *busy;
    uint32_t next_seq;
    uint64_t checked, mismatches;
};

int verify_init(struct verify *v, uint64_t nblocks, uint32_t bs);
void verify_free(struct verify *v);
uint32_t verify_new_seq(struct verify *v);
void verify_fill(void *buf, uint32_t bs, uint64_t first_sector, uint32_t seq);
/* Compares buf (block blk) with the expected content; logs and counts a
 * mismatch. Returns true if it matched. */
bool verify_check(struct verify *v, const void *buf, uint64_t blk, uint64_t first_sector,
                  uint32_t seq);

#endif
