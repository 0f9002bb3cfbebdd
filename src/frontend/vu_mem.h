/* Frontend "guest" memory: one shared mapping the backend maps too.
 * GPA = byte offset in the mapping; the mapping's virtual address is what
 * SET_MEM_TABLE announces as userspace_addr. Either created here (memfd,
 * MAP_SHARED, owned and freed by vu_mem_destroy) or wrapped around a
 * caller's fd + mapping (not owned; e.g. a VMM's guest RAM).
 * A bump allocator hands out aligned, zeroed chunks for rings and buffers;
 * there is no free: everything goes away with the memory. Not thread-safe. */
#ifndef VU_MEM_H
#define VU_MEM_H

#include <stddef.h>
#include <stdint.h>

struct vu_mem {
    int fd;
    uint8_t *base;
    uint64_t size;
    uint64_t next; /* bump pointer (offset) */
    int owned;
};

/* size is rounded up to 2 MiB. Returns 0 or -errno. */
int vu_mem_create(struct vu_mem *m, uint64_t size);
/* Wraps an existing shared mapping; allocation starts at alloc_start. */
int vu_mem_wrap(struct vu_mem *m, int fd, void *base, uint64_t size, uint64_t alloc_start);
void vu_mem_destroy(struct vu_mem *m);

/* Returns a zeroed chunk (align: power of two) or NULL when full. */
void *vu_mem_alloc(struct vu_mem *m, uint64_t len, uint64_t align);
/* GPA of a pointer into the mapping, or UINT64_MAX if [p, p+len) is outside. */
uint64_t vu_mem_gpa(const struct vu_mem *m, const void *p, uint64_t len);
/* Pointer for a GPA range, or NULL if outside. */
void *vu_mem_ptr(const struct vu_mem *m, uint64_t gpa, uint64_t len);

#endif
