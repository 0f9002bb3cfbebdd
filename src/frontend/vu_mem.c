#include "vu_mem.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/log.h"

#define VU_MEM_ROUND (2ull << 20)

int vu_mem_create(struct vu_mem *m, uint64_t size)
{
    memset(m, 0, sizeof(*m));
    m->fd = -1;
    if (size == 0 || size > (1ull << 40)) {
        LOG_ERR("vu_mem", "memory size %llu out of range (1 B .. 1 TiB)",
                (unsigned long long)size);
        return -EINVAL;
    }
    size = (size + VU_MEM_ROUND - 1) & ~(VU_MEM_ROUND - 1);
    int fd = memfd_create("vu-front-mem", MFD_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        LOG_ERR("vu_mem", "memfd_create: %s", strerror(e));
        return -e;
    }
    if (ftruncate(fd, (off_t)size) < 0) {
        int e = errno;
        LOG_ERR("vu_mem", "ftruncate memfd to %llu bytes: %s", (unsigned long long)size,
                strerror(e));
        close(fd);
        return -e;
    }
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        int e = errno;
        LOG_ERR("vu_mem", "mmap %llu bytes: %s", (unsigned long long)size, strerror(e));
        close(fd);
        return -e;
    }
    m->fd = fd;
    m->base = p;
    m->size = size;
    m->owned = 1;
    return 0;
}

int vu_mem_wrap(struct vu_mem *m, int fd, void *base, uint64_t size, uint64_t alloc_start)
{
    memset(m, 0, sizeof(*m));
    m->fd = -1;
    if (fd < 0 || !base || size == 0 || alloc_start > size) {
        LOG_ERR("vu_mem", "wrap: need an fd, a mapping and alloc_start <= size");
        return -EINVAL;
    }
    m->fd = fd;
    m->base = base;
    m->size = size;
    m->next = alloc_start;
    return 0;
}

void vu_mem_destroy(struct vu_mem *m)
{
    if (m->owned) {
        if (m->base)
            munmap(m->base, m->size);
        if (m->fd >= 0)
            close(m->fd);
    }
    memset(m, 0, sizeof(*m));
    m->fd = -1;
}

void *vu_mem_alloc(struct vu_mem *m, uint64_t len, uint64_t align)
{
    if (align == 0 || (align & (align - 1)) != 0 || len == 0)
        return NULL;
    uint64_t off = (m->next + align - 1) & ~(align - 1);
    if (off < m->next || off > m->size || len > m->size - off)
        return NULL;
    m->next = off + len;
    memset(m->base + off, 0, len);
    return m->base + off;
}

uint64_t vu_mem_gpa(const struct vu_mem *m, const void *p, uint64_t len)
{
    uintptr_t a = (uintptr_t)p, b = (uintptr_t)m->base;
    if (a < b || a - b > m->size || len > m->size - (a - b))
        return UINT64_MAX;
    return a - b;
}

void *vu_mem_ptr(const struct vu_mem *m, uint64_t gpa, uint64_t len)
{
    if (gpa > m->size || len > m->size - gpa)
        return NULL;
    return m->base + gpa;
}
