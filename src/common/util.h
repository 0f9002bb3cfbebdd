/* Small helpers shared by every layer: time, alignment, branch hints. */
#ifndef SC_UTIL_H
#define SC_UTIL_H

#include <stdint.h>
#include <time.h>

#define SC_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define SC_LIKELY(x) __builtin_expect(!!(x), 1)
#define SC_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define SC_ALIGN_UP(x, a) (((x) + ((a)-1)) & ~((__typeof__(x))(a)-1))
#define SC_MIN(a, b) ((a) < (b) ? (a) : (b))
#define SC_MAX(a, b) ((a) > (b) ? (a) : (b))

static inline uint64_t sc_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void sc_cpu_relax(void) { __builtin_ia32_pause(); }

/* Fetch a line for reading. Not __builtin_prefetch: GCC treats it as free
 * of side effects, so a static helper that only prefetches is found "pure"
 * and every call to it is deleted (which silently undid the ring and tx
 * header prefetches); an asm volatile stays where it is written. */
static inline void sc_prefetch(const void *p)
{
#if defined(__x86_64__)
    __asm__ volatile("prefetcht0 %0" : : "m"(*(const char *)p));
#else
    __builtin_prefetch(p);
#endif
}

/* Fetch a line for writing: ask for ownership now, not on the store. GCC
 * emits a read prefetch for __builtin_prefetch(p, 1) unless PRFCHW is in
 * -march; PREFETCHW is in every x86-64 CPU since Broadwell and K8 (and a
 * no-op on the older Intel parts). */
static inline void sc_prefetch_w(const void *p)
{
#if defined(__x86_64__)
    __asm__ volatile("prefetchw %0" : : "m"(*(const char *)p));
#else
    __builtin_prefetch(p, 1);
#endif
}

/* Drop a line we only read and will not read again, from every cache: the
 * guest that wrote it will write it again, and while we keep a shared copy
 * that store waits for ours to be invalidated. On EPYC machines that wait
 * is longer than the plain miss the store takes once the line is gone (a
 * testpmd sender moved 4-23% more frames). On Xeons it is the other way
 * round: the flush sends the line past the shared L3 to memory, and the
 * sender's store then waits for memory (a testpmd sender moved 15.0 Mpps
 * with the flush, 24.1 without; CLDEMOTE 20-22). So AMD only. Not for
 * lines the guest only reads or never wrote: those it would have to fetch
 * again. */
static inline void sc_cache_drop(const void *p)
{
#if defined(__x86_64__) && !defined(__clang__)
    /* clang 14 does not know "clflushopt" here (the fuzzing build): no drop. */
    if (__builtin_cpu_is("amd") && __builtin_cpu_supports("clflushopt"))
        __asm__ volatile("clflushopt %0" : "+m"(*(volatile char *)p));
#else
    (void)p;
#endif
}

#endif
