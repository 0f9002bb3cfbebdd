/* blk_dump SOCKET BYTES: reads the first BYTES of a vhost-user blk device
 * (1 MiB at a time, 30 s bound per read) and writes them to stdout, so a
 * test can checksum what a device serves. Exit 1 on any error. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "frontend/vu_blk.h"

#define CHUNK (1u << 20)

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: blk_dump SOCKET BYTES\n");
        return 2;
    }
    unsigned long long total = strtoull(argv[2], NULL, 0);
    struct vu_blk_cfg cfg = {.socket = argv[1], .mem_bytes = 4u << 20};
    struct vu_blk *b;
    if (vu_blk_open(&cfg, &b) < 0) {
        fprintf(stderr, "blk_dump: cannot open %s\n", argv[1]);
        return 1;
    }
    void *buf = vu_mem_alloc(vu_blk_mem(b), CHUNK, 4096);
    int rc = buf ? 0 : 1;
    for (unsigned long long off = 0; !rc && off < total; off += CHUNK) {
        uint32_t len = total - off < CHUNK ? (uint32_t)(total - off) : CHUNK;
        uint8_t st = 0xff;
        if (vu_blk_sync(b, 0, VU_BLK_READ, off / 512, buf, len, 30000, &st) < 0 ||
            st != VU_BLK_S_OK) {
            fprintf(stderr, "blk_dump: read at %llu failed (status %u)\n", off, st);
            rc = 1;
        } else if (fwrite(buf, 1, len, stdout) != len) {
            rc = 1;
        }
    }
    vu_blk_close(b);
    return rc;
}
