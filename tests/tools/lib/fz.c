/* Edge values for the fuzzer (contract: fz.h). */
#include "fz.h"

#include <string.h>

uint64_t fz_edge(struct fz *z)
{
    static const uint64_t edges[] = {
        0, 1, 2, 3, 7, 8, 15, 16, 17, 63, 64, 255, 256, 511, 512, 4095, 4096, 4097,
        0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000u, 0xffffffffu, 0x100000000ull,
        VU_RAW_MEM - 1, VU_RAW_MEM, VU_RAW_MEM + 1, VU_RAW_MEM - 16, VU_RAW_DATA,
        0x7fffffffffffffffull, 0x8000000000000000ull, 0xfffffffffffff000ull, ~0ull, ~0ull - 15,
    };
    unsigned n = sizeof(edges) / sizeof(edges[0]);
    uint32_t k = fz_below(z, n + 2);
    if (k < n)
        return edges[k];
    return k == n ? fz_u64(z) : fz_u64(z) >> fz_below(z, 64);
}

uint32_t fz_len(struct fz *z)
{
    switch (fz_below(z, 8)) {
    case 0:
        return (uint32_t)fz_edge(z);
    case 1:
        return fz_below(z, 16);
    case 2:
    case 3:
        return 512u << fz_below(z, 5);
    default:
        return 1 + fz_below(z, 2048);
    }
}

void fz_bytes(struct fz *z, void *p, size_t n)
{
    uint8_t *b = p;
    while (n) {
        uint64_t v = fz_u64(z);
        size_t k = n < 8 ? n : 8;
        memcpy(b, &v, k);
        b += k;
        n -= k;
    }
}
