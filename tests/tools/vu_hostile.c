/* vu_hostile: a hostile vhost-user frontend for testing a running backend.
 *
 *   vu_hostile SOCKET_PATH SCENARIO|all|list
 *
 * Each scenario uses its own connection: it either sends one malformed or
 * out-of-state message (expecting an error reply when it asked for one, then
 * the backend closing the connection), or never reads its replies (the
 * backend must drop it rather than wait), or sets a device up properly with
 * memfd guest memory and then corrupts the ring (descriptor loop, buffer
 * outside memory, head out of range, avail index far ahead, bad indirect
 * table; on a packed ring: buffer id out of range, an id used twice, a
 * chain longer than the ring, indirect inside indirect), or shrinks the
 * file behind guest memory under a waiting request, and kicks, expecting
 * the backend to close the connection; or hands over a blocking call
 * eventfd filled to its limit, expecting a request to be served anyway. At the
 * end it checks that the device still accepts a well-behaved connection.
 * Exit status 0 when every scenario got the expected reaction; every wait is
 * bounded. */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/vu_raw.h"

static const char *sock_path;

/* The expected reaction: any replies are failures, then the backend closes. */
static int expect_closed(struct vu_raw *f)
{
    struct vhu_hdr h;
    uint64_t u = 0;
    int r;
    while ((r = vu_raw_recv(f, &h, &u, sizeof(u), VU_RAW_WAIT_MS)) == 1) {
        if (h.size == 8 && u == 0) {
            fprintf(stderr, "vu_hostile: the backend acknowledged %s as a success\n",
                    vhost_msg_name(h.request));
            return -1;
        }
    }
    if (r < 0) {
        fprintf(stderr, "vu_hostile: the backend did not close the connection within %d ms\n",
                VU_RAW_WAIT_MS);
        return -1;
    }
    return 0;
}

static void make_avail(struct vu_raw *f, uint16_t head, uint16_t idx)
{
    f->q[0].avail->ring[0] = head;
    __atomic_store_n(&f->q[0].avail->idx, idx, __ATOMIC_RELEASE);
}

/* ---- scenarios: 0 = sent (the reaction is checked by the caller) ---- */

static int s_wrong_state(struct vu_raw *f)
{
    struct vhu_vring_addr a = {.index = 0, .desc = 0x1000, .avail = 0x2000, .used = 0x3000};
    return vu_raw_req(f, VHOST_USER_SET_VRING_ADDR, true, &a, sizeof(a), NULL, 0);
}

static int s_bad_index(struct vu_raw *f)
{
    struct vhu_vring_state s = {200, VU_RAW_QNUM};
    return vu_raw_req(f, VHOST_USER_SET_VRING_NUM, true, &s, 8, NULL, 0);
}

static int s_bad_ring_size(struct vu_raw *f)
{
    struct vhu_vring_state s = {0, 100};
    return vu_raw_req(f, VHOST_USER_SET_VRING_NUM, true, &s, 8, NULL, 0);
}

static int s_huge_ring(struct vu_raw *f)
{
    struct vhu_vring_state s = {0, 65536};
    return vu_raw_req(f, VHOST_USER_SET_VRING_NUM, true, &s, 8, NULL, 0);
}

static int s_short_payload(struct vu_raw *f)
{
    uint32_t half = 0;
    return vu_raw_req(f, VHOST_USER_SET_VRING_NUM, true, &half, 4, NULL, 0);
}

static int s_size_over_max(struct vu_raw *f)
{
    struct vhu_hdr h = {VHOST_USER_SET_MEM_TABLE, VHOST_USER_VERSION | VHOST_USER_NEED_REPLY_MASK,
                       0x10000000u};
    return write(f->fd, &h, sizeof(h)) == (ssize_t)sizeof(h) ? 0 : -1;
}

static int s_bad_version(struct vu_raw *f)
{
    return vu_raw_send(f, VHOST_USER_GET_FEATURES, 2, NULL, 0, NULL, 0);
}

static int s_too_many_fds(struct vu_raw *f)
{
    int fds[9], rc;
    for (int i = 0; i < 9; i++)
        fds[i] = eventfd(0, EFD_CLOEXEC);
    uint64_t idx = 0;
    rc = vu_raw_req(f, VHOST_USER_SET_VRING_KICK, true, &idx, 8, fds, 9);
    for (int i = 0; i < 9; i++)
        close(fds[i]);
    return rc;
}

static int s_fd_on_fdless(struct vu_raw *f)
{
    int fd = eventfd(0, EFD_CLOEXEC);
    int rc = vu_raw_req(f, VHOST_USER_SET_OWNER, true, NULL, 0, &fd, 1);
    close(fd);
    return rc;
}

static int s_missing_fd(struct vu_raw *f)
{
    uint64_t idx = 0;
    return vu_raw_req(f, VHOST_USER_SET_VRING_CALL, true, &idx, 8, NULL, 0);
}

static int s_unknown_request(struct vu_raw *f)
{
    return vu_raw_req(f, 99, true, NULL, 0, NULL, 0);
}

static int s_bad_config(struct vu_raw *f)
{
    struct vhu_config c = {.offset = 0xffff0000u, .size = 16};
    return vu_raw_req(f, VHOST_USER_GET_CONFIG, false, &c, VHOST_USER_CONFIG_HDR + 16, NULL, 0);
}

static int s_region_overlap(struct vu_raw *f)
{
    struct vhu_mem_table mt = {.nregions = 2};
    int fds[2] = {memfd_create("a", MFD_CLOEXEC), memfd_create("b", MFD_CLOEXEC)};
    if (fds[0] < 0 || fds[1] < 0 || ftruncate(fds[0], 1 << 20) || ftruncate(fds[1], 1 << 20))
        return -1;
    mt.r[0] = (struct vhu_mem_region){.gpa = 0, .size = 1 << 20, .uva = 0x10000000};
    mt.r[1] = (struct vhu_mem_region){.gpa = 1 << 19, .size = 1 << 20, .uva = 0x20000000};
    int rc = vu_raw_req(f, VHOST_USER_SET_MEM_TABLE, true, &mt, 8 + 64, fds, 2);
    close(fds[0]);
    close(fds[1]);
    return rc;
}

static int s_region_past_file(struct vu_raw *f)
{
    struct vhu_mem_table mt = {.nregions = 1};
    int fd = memfd_create("small", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, 4096))
        return -1;
    mt.r[0] = (struct vhu_mem_region){.gpa = 0, .size = 1ull << 40, .uva = 0x10000000,
                                     .mmap_offset = 1ull << 62};
    int rc = vu_raw_req(f, VHOST_USER_SET_MEM_TABLE, true, &mt, 8 + 32, &fd, 1);
    close(fd);
    return rc;
}

static int s_ring_outside(struct vu_raw *f)
{
    if (vu_raw_setup(f, false) < 0)
        return -1;
    struct vhu_vring_state s = {0, VU_RAW_QNUM};
    if (vu_raw_ok(f, VHOST_USER_SET_VRING_NUM, &s, 8, NULL, 0) < 0)
        return -1;
    struct vhu_vring_addr a = {.index = 0,
                              .desc = (uintptr_t)f->mem + VU_RAW_MEM - 64,
                              .avail = (uintptr_t)f->mem + 0x1000,
                              .used = (uintptr_t)f->mem + 0x2000};
    return vu_raw_req(f, VHOST_USER_SET_VRING_ADDR, true, &a, sizeof(a), NULL, 0);
}

/* Guest memory remapped at file offset 1 under the same addresses: rings
 * at aligned addresses would be misaligned in the backend's mapping. */
static int s_ring_misaligned(struct vu_raw *f)
{
    if (vu_raw_setup(f, false) < 0)
        return -1;
    struct vhu_mem_table mt = {.nregions = 1};
    mt.r[0] = (struct vhu_mem_region){.gpa = 0, .size = VU_RAW_MEM - 4096,
                                     .uva = (uintptr_t)f->mem, .mmap_offset = 1};
    if (vu_raw_ok(f, VHOST_USER_SET_MEM_TABLE, &mt, 8 + 32, &f->memfd, 1) < 0)
        return -1;
    struct vhu_vring_state s = {0, VU_RAW_QNUM};
    if (vu_raw_ok(f, VHOST_USER_SET_VRING_NUM, &s, 8, NULL, 0) < 0)
        return -1;
    struct vhu_vring_addr a = {.index = 0,
                              .desc = (uintptr_t)f->mem + VU_RAW_RING_BASE,
                              .avail = (uintptr_t)f->mem + VU_RAW_RING_BASE + 0x1000,
                              .used = (uintptr_t)f->mem + VU_RAW_RING_BASE + 0x2000};
    return vu_raw_req(f, VHOST_USER_SET_VRING_ADDR, true, &a, sizeof(a), NULL, 0);
}

static int s_truncated(struct vu_raw *f)
{
    struct vhu_hdr h = {VHOST_USER_SET_VRING_ADDR, VHOST_USER_VERSION, 40};
    uint8_t buf[12 + 8] = {0};
    memcpy(buf, &h, 12);
    if (write(f->fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
        return -1;
    /* Hang up mid-message: the backend must clean up by itself. */
    close(f->fd);
    f->fd = -1;
    return 0;
}

static int r_desc_loop(struct vu_raw *f)
{
    if (vu_raw_setup(f, true) < 0)
        return -1;
    f->q[0].desc[0] = (struct vring_desc){.addr = 0x100000, .len = 16, .flags = VRING_DESC_F_NEXT, .next = 1};
    f->q[0].desc[1] = (struct vring_desc){.addr = 0x100100, .len = 16, .flags = VRING_DESC_F_NEXT, .next = 0};
    make_avail(f, 0, 1);
    return vu_raw_kick(f, 0);
}

static int r_addr_outside(struct vu_raw *f)
{
    if (vu_raw_setup(f, true) < 0)
        return -1;
    f->q[0].desc[0] = (struct vring_desc){.addr = 0xfffffffffffff000ull, .len = 4096};
    make_avail(f, 0, 1);
    return vu_raw_kick(f, 0);
}

static int r_head_out_of_range(struct vu_raw *f)
{
    if (vu_raw_setup(f, true) < 0)
        return -1;
    make_avail(f, 5000, 1);
    return vu_raw_kick(f, 0);
}

static int r_next_out_of_range(struct vu_raw *f)
{
    if (vu_raw_setup(f, true) < 0)
        return -1;
    f->q[0].desc[0] = (struct vring_desc){.addr = 0x100000, .len = 16, .flags = VRING_DESC_F_NEXT,
                                     .next = 4000};
    make_avail(f, 0, 1);
    return vu_raw_kick(f, 0);
}

static int r_avail_far_ahead(struct vu_raw *f)
{
    if (vu_raw_setup(f, true) < 0)
        return -1;
    make_avail(f, 0, 1000);
    return vu_raw_kick(f, 0);
}

static int r_bad_indirect(struct vu_raw *f)
{
    if (vu_raw_setup(f, true) < 0)
        return -1;
    f->q[0].desc[0] = (struct vring_desc){.addr = 0x100000, .len = 17, .flags = VRING_DESC_F_INDIRECT};
    make_avail(f, 0, 1);
    return vu_raw_kick(f, 0);
}

/* Packed ring: descriptor at position pos of the first lap (wrap counter 1);
 * the head's flags go last. */
static void pdesc_put(struct vu_raw *f, uint16_t pos, uint64_t addr, uint32_t len, uint16_t id,
                      uint16_t flags)
{
    struct vring_packed_desc *d = &f->q[0].pdesc[pos];
    d->addr = addr;
    d->len = len;
    d->id = id;
    __atomic_store_n(&d->flags, (uint16_t)(flags | vring_packed_avail_flags(true)),
                     __ATOMIC_RELEASE);
}

static int packed_setup(struct vu_raw *f)
{
    f->packed = true;
    return vu_raw_setup(f, true);
}

static int p_id_out_of_range(struct vu_raw *f)
{
    if (packed_setup(f) < 0)
        return -1;
    pdesc_put(f, 0, 0x100000, 16, 5000, 0);
    return vu_raw_kick(f, 0);
}

static int p_id_twice(struct vu_raw *f)
{
    if (packed_setup(f) < 0)
        return -1;
    /* Both are available at the kick, and blk pops a batch before handling
     * any of it, so the second is refused while the first is outstanding. */
    pdesc_put(f, 1, 0x100000, 16, 3, 0);
    pdesc_put(f, 0, 0x100000, 16, 3, 0);
    return vu_raw_kick(f, 0);
}

static int p_chain_too_long(struct vu_raw *f)
{
    if (packed_setup(f) < 0)
        return -1;
    for (uint16_t i = VU_RAW_QNUM; i-- > 0;) /* every slot with NEXT: no end in one lap */
        pdesc_put(f, i, 0x100000, 0, 0, VRING_DESC_F_NEXT);
    return vu_raw_kick(f, 0);
}

static int p_indirect_nested(struct vu_raw *f)
{
    if (packed_setup(f) < 0)
        return -1;
    struct vring_packed_desc *t = (struct vring_packed_desc *)(f->mem + 0x100000);
    t[0] = (struct vring_packed_desc){.addr = 0x100000, .len = 16, .flags = VRING_DESC_F_INDIRECT};
    pdesc_put(f, 0, 0x100000, 16, 0, VRING_DESC_F_INDIRECT);
    return vu_raw_kick(f, 0);
}

/* The frontend shrinks the file behind guest memory after handing it over,
 * with a request waiting: the backend's next touch of it is past the end
 * of the file. */
static int r_memory_shrunk(struct vu_raw *f)
{
    if (vu_raw_setup(f, true) < 0)
        return -1;
    f->q[0].desc[0] = (struct vring_desc){.addr = VU_RAW_DATA, .len = 16};
    make_avail(f, 0, 1);
    if (ftruncate(f->memfd, 0) < 0)
        return -1;
    munmap(f->mem, VU_RAW_MEM); /* our own view is gone too */
    f->mem = NULL;
    return vu_raw_kick(f, 0);
}

/* Requests whose replies are never read: once the socket is full the
 * backend must drop the connection at once rather than wait (its control
 * thread serves every device). The replies are read after, to find the
 * close. */
static int s_unread_replies(struct vu_raw *f)
{
    struct vhu_hdr h = {VHOST_USER_GET_FEATURES, VHOST_USER_VERSION, 0};
    for (int i = 0; i < 100000; i++) {
        if (send(f->fd, &h, sizeof(h), MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)sizeof(h))
            continue;
        if (errno != EAGAIN)
            return 0; /* closed already */
        usleep(1000);
    }
    return 0;
}

/* Not a violation: a call eventfd that is blocking (created without
 * EFD_NONBLOCK) and filled to its limit, so that signalling it would wait.
 * The backend must complete the request anyway (the interrupt is simply
 * already pending) and keep serving; 0 when used->idx moved within the
 * bound. The connection is closed here. */
static int r_call_saturated(struct vu_raw *f)
{
    if (vu_raw_setup(f, true) < 0)
        return -1;
    int full = eventfd(0, EFD_CLOEXEC);
    uint64_t max = 0xfffffffffffffffeull, idx = 0;
    if (full < 0 || write(full, &max, sizeof(max)) != (ssize_t)sizeof(max) ||
        vu_raw_ok(f, VHOST_USER_SET_VRING_CALL, &idx, 8, &full, 1) < 0)
        return -1;
    close(full);
    /* A GET_ID request: header, 20-byte buffer, status byte. */
    uint8_t *m = f->mem + VU_RAW_DATA;
    memset(m, 0, 64);
    m[0] = 8; /* VIRTIO_BLK_T_GET_ID */
    f->q[0].desc[0] = (struct vring_desc){.addr = VU_RAW_DATA, .len = 16,
                                          .flags = VRING_DESC_F_NEXT, .next = 1};
    f->q[0].desc[1] = (struct vring_desc){.addr = VU_RAW_DATA + 16, .len = 20,
                                          .flags = VRING_DESC_F_NEXT | VRING_DESC_F_WRITE,
                                          .next = 2};
    f->q[0].desc[2] = (struct vring_desc){.addr = VU_RAW_DATA + 36, .len = 1,
                                          .flags = VRING_DESC_F_WRITE};
    make_avail(f, 0, 1);
    if (vu_raw_kick(f, 0) < 0)
        return -1;
    for (int i = 0; i < VU_RAW_WAIT_MS; i++) {
        if (__atomic_load_n(&f->q[0].used->idx, __ATOMIC_ACQUIRE) == 1) {
            close(f->fd);
            f->fd = -1;
            return 0;
        }
        usleep(1000);
    }
    fprintf(stderr, "vu_hostile: the request was not completed\n");
    return -1;
}

/* Not violations either: the frontend stops the ring (GET_VRING_BASE) or
 * hangs up while the device holds HELD_REQS writes (a slow backend, or a
 * QoS stage the caller configured). A stop must be answered once they have
 * completed, with their count as the base. What was done is printed at
 * once, so a caller can check what the daemon does meanwhile (it must
 * serve others). */
#define HELD_REQS 10u
#define HELD_STRIDE 12288u

static int held_submit_nowait(struct vu_raw *f);

static int held_submit(struct vu_raw *f)
{
    if (held_submit_nowait(f) < 0)
        return -1;
    /* The device took them once the first one is back (a QoS stage lets
     * one through at once); a stop sent before would find none in flight. */
    for (int i = 0; i < VU_RAW_WAIT_MS; i++) {
        if (__atomic_load_n(&f->q[0].used->idx, __ATOMIC_ACQUIRE) >= 1)
            return 0;
        usleep(1000);
    }
    fprintf(stderr, "vu_hostile: no write completed within %d ms\n", VU_RAW_WAIT_MS);
    return -1;
}

static int held_submit_nowait(struct vu_raw *f)
{
    if (vu_raw_setup(f, true) < 0)
        return -1;
    for (uint16_t i = 0; i < HELD_REQS; i++) {
        /* header | 4 KiB of data | status byte, a page each */
        uint64_t base = VU_RAW_DATA + (uint64_t)i * HELD_STRIDE;
        uint8_t *m = f->mem + base;
        memset(m, 0, 16);
        m[0] = 1;                /* VIRTIO_BLK_T_OUT */
        m[8] = (uint8_t)(i * 8); /* sector */
        memset(m + 4096, 0x5a ^ i, 4096);
        m[8192] = 0xff;
        uint16_t d = (uint16_t)(i * 3);
        f->q[0].desc[d] = (struct vring_desc){.addr = base, .len = 16,
                                              .flags = VRING_DESC_F_NEXT, .next = d + 1};
        f->q[0].desc[d + 1] = (struct vring_desc){.addr = base + 4096, .len = 4096,
                                                  .flags = VRING_DESC_F_NEXT, .next = d + 2};
        f->q[0].desc[d + 2] = (struct vring_desc){.addr = base + 8192, .len = 1,
                                                  .flags = VRING_DESC_F_WRITE};
        f->q[0].avail->ring[i] = d;
    }
    __atomic_store_n(&f->q[0].avail->idx, HELD_REQS, __ATOMIC_RELEASE);
    return vu_raw_kick(f, 0);
}

/* Writes the device completed with status OK (0) so far. */
static unsigned held_completed(const struct vu_raw *f)
{
    unsigned ok = 0;
    for (unsigned i = 0; i < HELD_REQS; i++)
        ok += f->mem[VU_RAW_DATA + (uint64_t)i * HELD_STRIDE + 8192] == 0;
    return ok;
}

static int r_held_stop(struct vu_raw *f)
{
    struct vhu_vring_state st = {0, 0};
    if (held_submit(f) < 0 ||
        vu_raw_send(f, VHOST_USER_GET_VRING_BASE, VHOST_USER_VERSION, &st, sizeof(st), NULL, 0) < 0)
        return -1;
    printf("vu_hostile: held_stop: GET_VRING_BASE sent with %u writes submitted\n", HELD_REQS);
    fflush(stdout);
    struct vhu_hdr h;
    if (vu_raw_recv(f, &h, &st, sizeof(st), 20000) != 1 ||
        h.request != VHOST_USER_GET_VRING_BASE) {
        fprintf(stderr, "vu_hostile: no GET_VRING_BASE reply within 20 s\n");
        return -1;
    }
    uint16_t used = __atomic_load_n(&f->q[0].used->idx, __ATOMIC_ACQUIRE);
    unsigned ok = held_completed(f);
    printf("vu_hostile: held_stop: base %u, used %u, %u of %u writes completed OK\n", st.num, used,
           ok, HELD_REQS);
    if (st.num != HELD_REQS || used != HELD_REQS || ok != HELD_REQS)
        return -1;
    close(f->fd);
    f->fd = -1;
    return 0;
}

/* The call eventfd replaced while writes are held (QEMU does that when a
 * migration starts): the ring restarts around it, and every write must
 * complete OK (a QoS stage held them past the stop's bound and they failed
 * with IOERR). */
static int r_held_call(struct vu_raw *f)
{
    if (held_submit(f) < 0)
        return -1;
    int call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    uint64_t idx = 0;
    if (call < 0 || vu_raw_ok(f, VHOST_USER_SET_VRING_CALL, &idx, 8, &call, 1) < 0)
        return -1;
    close(call);
    for (int i = 0; i < 20000 && held_completed(f) < HELD_REQS; i++)
        usleep(1000);
    uint16_t used = __atomic_load_n(&f->q[0].used->idx, __ATOMIC_ACQUIRE);
    unsigned ok = held_completed(f);
    printf("vu_hostile: held_call: used %u, %u of %u writes completed OK\n", used, ok, HELD_REQS);
    close(f->fd);
    f->fd = -1;
    return used == HELD_REQS && ok == HELD_REQS ? 0 : -1;
}

/* The ring stopped while a backend that answers nothing holds the writes
 * (a frozen remote I/O host): the answer must come once the device ended
 * every one (here with IOERR, when the remote device gives up), with all of
 * them in the used ring. It came after 5 s with none completed, and they
 * never were. */
static int r_held_stop_silent(struct vu_raw *f)
{
    struct vhu_vring_state st = {0, 0};
    if (held_submit_nowait(f) < 0)
        return -1;
    usleep(300 * 1000);
    if (vu_raw_send(f, VHOST_USER_GET_VRING_BASE, VHOST_USER_VERSION, &st, sizeof(st), NULL,
                    0) < 0)
        return -1;
    struct vhu_hdr h;
    if (vu_raw_recv(f, &h, &st, sizeof(st), 30000) != 1 ||
        h.request != VHOST_USER_GET_VRING_BASE) {
        fprintf(stderr, "vu_hostile: no GET_VRING_BASE reply within 30 s\n");
        return -1;
    }
    uint16_t used = __atomic_load_n(&f->q[0].used->idx, __ATOMIC_ACQUIRE);
    unsigned answered = 0;
    for (unsigned i = 0; i < HELD_REQS; i++)
        answered += f->mem[VU_RAW_DATA + (uint64_t)i * HELD_STRIDE + 8192] != 0xff;
    printf("vu_hostile: held_stop_silent: base %u, used %u, %u of %u writes answered\n", st.num,
           used, answered, HELD_REQS);
    close(f->fd);
    f->fd = -1;
    return st.num == HELD_REQS && used == HELD_REQS && answered == HELD_REQS ? 0 : -1;
}

/* A dirty log of 64 bytes for 4 MiB of memory (it covers 2 MiB): taken,
 * and the daemon must say that writes above it go unlogged (they were
 * dropped without a word: a migration loses them). The caller reads the log. */
static int r_small_log(struct vu_raw *f)
{
    f->log = true;
    if (vu_raw_setup(f, true) < 0)
        return -1;
    int fd = memfd_create("vu_hostile_log", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, 4096) < 0)
        return -1;
    struct vhu_log l = {.size = 64, .offset = 0};
    struct vhu_hdr h;
    uint64_t u = 1;
    int rc = vu_raw_req(f, VHOST_USER_SET_LOG_BASE, false, &l, sizeof(l), &fd, 1);
    close(fd);
    if (rc < 0 || vu_raw_recv(f, &h, &u, sizeof(u), VU_RAW_WAIT_MS) != 1 || u != 0) {
        fprintf(stderr, "vu_hostile: the small dirty log was not answered\n");
        return -1;
    }
    close(f->fd);
    f->fd = -1;
    return 0;
}

/* Writes held, then a hangup; when stdin is a pipe, at a line there (or
 * after 20 s), so the caller can try a second frontend while this one is
 * connected. */
static int r_held_hangup(struct vu_raw *f)
{
    if (held_submit(f) < 0)
        return -1;
    struct stat st;
    if (fstat(STDIN_FILENO, &st) == 0 && S_ISFIFO(st.st_mode)) {
        printf("vu_hostile: held_hangup: holding %u writes; hanging up at a line on stdin\n",
               HELD_REQS);
        fflush(stdout);
        struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
        if (poll(&p, 1, 20000) != 1)
            fprintf(stderr, "vu_hostile: held_hangup: no line on stdin within 20 s\n");
    }
    close(f->fd);
    f->fd = -1;
    printf("vu_hostile: held_hangup: hung up with %u writes submitted\n", HELD_REQS);
    fflush(stdout);
    return 0;
}

/* Writes held, then the daemon is to delete the device (the caller does,
 * over RPC): it must complete all of them before it closes the connection. */
static int r_held_delete(struct vu_raw *f)
{
    if (held_submit(f) < 0)
        return -1;
    printf("vu_hostile: held_delete: waiting with %u writes submitted\n", HELD_REQS);
    fflush(stdout);
    struct vhu_hdr h;
    uint64_t u;
    int r;
    while ((r = vu_raw_recv(f, &h, &u, sizeof(u), 20000)) == 1)
        ;
    if (r < 0) {
        fprintf(stderr, "vu_hostile: held_delete: the connection stayed open for 20 s\n");
        return -1;
    }
    uint16_t used = __atomic_load_n(&f->q[0].used->idx, __ATOMIC_ACQUIRE);
    unsigned ok = held_completed(f);
    printf("vu_hostile: held_delete: closed by the daemon; used %u, %u of %u writes completed "
           "OK\n", used, ok, HELD_REQS);
    close(f->fd);
    f->fd = -1;
    return used == HELD_REQS && ok == HELD_REQS ? 0 : -1;
}

struct scenario {
    const char *name;
    int (*run)(struct vu_raw *f);
    const char *what;
    bool named_only; /* needs the caller's help: not in "all", no check after */
};

static const struct scenario scenarios[] = {
    {"wrong_state", s_wrong_state, "SET_VRING_ADDR before any memory table"},
    {"bad_index", s_bad_index, "ring index 200"},
    {"bad_ring_size", s_bad_ring_size, "ring size 100 (not a power of two)"},
    {"huge_ring", s_huge_ring, "ring size 65536"},
    {"short_payload", s_short_payload, "SET_VRING_NUM with a 4-byte payload"},
    {"size_over_max", s_size_over_max, "header size field 256 MiB"},
    {"bad_version", s_bad_version, "protocol version 2"},
    {"too_many_fds", s_too_many_fds, "9 fds with one message"},
    {"fd_on_fdless", s_fd_on_fdless, "fd sent with SET_OWNER"},
    {"missing_fd", s_missing_fd, "SET_VRING_CALL without fd and without the no-fd bit"},
    {"unknown_request", s_unknown_request, "request id 99"},
    {"bad_config", s_bad_config, "GET_CONFIG offset 0xffff0000"},
    {"region_overlap", s_region_overlap, "two overlapping memory regions"},
    {"region_past_file", s_region_past_file, "region offset far past the end of its file"},
    {"ring_outside", s_ring_outside, "descriptor table running past guest memory"},
    {"ring_misaligned", s_ring_misaligned, "rings aligned, but not in the backend's mapping"},
    {"truncated", s_truncated, "message cut short, then hang up"},
    {"unread_replies", s_unread_replies, "requests sent, replies never read"},
    {"desc_loop", r_desc_loop, "descriptor chain loop"},
    {"addr_outside", r_addr_outside, "buffer address outside guest memory"},
    {"head_out_of_range", r_head_out_of_range, "avail head 5000 on a 128-entry ring"},
    {"next_out_of_range", r_next_out_of_range, "descriptor next index 4000"},
    {"avail_far_ahead", r_avail_far_ahead, "avail idx 1000 ahead on a 128-entry ring"},
    {"bad_indirect", r_bad_indirect, "indirect table of 17 bytes"},
    {"memory_shrunk", r_memory_shrunk, "guest memory file truncated under a waiting request"},
    {"call_saturated", r_call_saturated, "blocking call eventfd at its limit (served anyway)"},
    {"held_stop", r_held_stop, "ring stopped with 10 writes in flight (answered after them)"},
    {"held_hangup", r_held_hangup, "hang up with 10 writes in flight"},
    {"held_call", r_held_call, "call eventfd replaced with 10 writes held (all complete OK)"},
    {"held_stop_silent", r_held_stop_silent, "ring stopped, 10 writes held by a silent backend",
     true},
    {"small_log", r_small_log, "dirty log of 64 bytes for 4 MiB of memory (taken, with a warning)",
     true},
    {"held_delete", r_held_delete, "10 writes in flight when the device is deleted", true},
    {"packed_id_out_of_range", p_id_out_of_range, "packed ring: buffer id 5000 on 128 entries"},
    {"packed_id_twice", p_id_twice, "packed ring: two outstanding buffers with id 3"},
    {"packed_chain_too_long", p_chain_too_long, "packed ring: NEXT on every descriptor"},
    {"packed_indirect_nested", p_indirect_nested, "packed ring: indirect inside indirect"},
};

static int run_one(const struct scenario *s)
{
    struct vu_raw f;
    if (vu_raw_open(&f, sock_path) < 0)
        return -1;
    int rc = s->run(&f);
    if (rc == 0 && f.fd >= 0)
        rc = expect_closed(&f);
    vu_raw_close(&f);
    printf("vu_hostile: %-18s %-55s %s\n", s->name, s->what, rc == 0 ? "ok" : "FAILED");
    fflush(stdout);
    return rc;
}

/* The device must still serve a well-behaved frontend afterwards. */
static int check_alive(void)
{
    struct vu_raw f;
    int rc = vu_raw_open(&f, sock_path) == 0 && vu_raw_setup(&f, true) == 0 ? 0 : -1;
    vu_raw_close(&f);
    printf("vu_hostile: %-18s %-55s %s\n", "recovered", "a proper setup works afterwards",
           rc == 0 ? "ok" : "FAILED");
    return rc;
}

int main(int argc, char **argv)
{
    size_t n = sizeof(scenarios) / sizeof(scenarios[0]);
    if (argc == 2 && !strcmp(argv[1], "list")) {
        for (size_t i = 0; i < n; i++)
            printf("%s\n", scenarios[i].name);
        return 0;
    }
    if (argc != 3) {
        fprintf(stderr, "usage: %s SOCKET_PATH SCENARIO|all\n       %s list\n", argv[0], argv[0]);
        return 2;
    }
    sock_path = argv[1];
    int failed = 0, ran = 0;
    bool check = true;
    for (size_t i = 0; i < n; i++) {
        bool all = !strcmp(argv[2], "all");
        if ((all && scenarios[i].named_only) || (!all && strcmp(argv[2], scenarios[i].name)))
            continue;
        ran++;
        check = !scenarios[i].named_only;
        failed += run_one(&scenarios[i]) != 0;
    }
    if (!ran) {
        fprintf(stderr, "vu_hostile: unknown scenario '%s' (try: list)\n", argv[2]);
        return 2;
    }
    if (check)
        failed += check_alive() != 0;
    printf("vu_hostile: %d scenario(s), %d failed\n", ran, failed);
    return failed ? 1 : 0;
}
