/* Guest program for tests/integration/qemu_guest_migrate.sh: runs inside the
 * Linux guest that is migrated, linked statically into its initramfs.
 *
 * The first SLOTS * 64 KiB of the disk are slots. Round r writes slot
 * r % SLOTS with a pattern that only (r, slot) determine, reads it back with
 * O_DIRECT and checks it. The host steers the phases by writing a marker at
 * MARKER_OFFSET, read every round:
 *   filling  each read lands in the slot's own long-lived buffer, which the
 *            CPU never writes after start-up: QEMU can learn that the device
 *            changed it only from the device's dirty log.
 *   frozen   ("SCFREEZE") the buffers are left alone; rounds go on (the disk
 *            keeps being written through the switchover), reading back into
 *            a spare buffer.
 *   done     ("SCMIGRATED", on the destination): every buffer is checked
 *            against the last pattern read into it (buf_bad, in slots and
 *            pages: a write the log missed leaves a stale page), every slot
 *            on disk (disk_bad), then SLOTS more rounds (post_bad).
 * QEMU's first pass sends guest memory in guest-physical order, so where the
 * buffers are matters: they are the SLOTS 64 KiB chunks with the lowest
 * guest-physical addresses (from /proc/self/pagemap) of a POOL-byte
 * allocation, and the rest of the pool is filled with non-zero bytes once.
 * buf_top (the end of the highest buffer page) tells the host when QEMU has
 * sent every buffer page, and the filled pool above it keeps QEMU's pass
 * busy for a while after that, while the guest refills the buffers.
 * Output on stdout: "SCPROGRESS round=N" every 8 rounds and "SCRESULT
 * key=value" lines; exit status 0 when every round went through (the
 * counts tell whether the data survived). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SLOTS 32u
#define SLOT (64u * 1024u)
#define PAGE 4096u
#define POOL (128u << 20)
#define CHUNKS (POOL / SLOT)
/* Only reached if the host never writes the marker (QEMU is killed first). */
#define MAX_ROUNDS 50000000u

static int fd;
static uint8_t *pool, *scratch, *spare;
static unsigned buf_chunk[SLOTS]; /* pool chunk of each slot's buffer */

/* The bytes `yes "sidecore migrate round R slot S" | head -c 65536` prints. */
static void pattern(uint8_t *p, unsigned r, unsigned s)
{
    char line[64];
    int n = snprintf(line, sizeof(line), "sidecore migrate round %u slot %u\n", r, s);
    for (unsigned i = 0; i < SLOT; i++)
        p[i] = (uint8_t)line[i % (unsigned)n];
}

static uint8_t *slot_buf(unsigned s) { return pool + (size_t)buf_chunk[s] * SLOT; }

/* The last round before `rounds` that wrote slot s (s < rounds). */
static unsigned last_round(unsigned rounds, unsigned s)
{
    return (rounds - 1 - s) / SLOTS * SLOTS + s;
}

static int die(const char *what, unsigned r)
{
    printf("SCRESULT error=%s_round_%u\n", what, r);
    return 1;
}

static int one_round(unsigned r, uint8_t *into)
{
    unsigned s = r % SLOTS;
    off_t off = (off_t)s * SLOT;
    pattern(scratch, r, s);
    if (pwrite(fd, scratch, SLOT, off) != (ssize_t)SLOT)
        return die("write", r);
    if (pread(fd, into, SLOT, off) != (ssize_t)SLOT)
        return die("read", r);
    if (memcmp(into, scratch, SLOT) != 0)
        return die("readback", r);
    return 0;
}

/* Slots whose buffer (or, with from_disk, whose content on disk now) is not
 * the last pattern written there before round `rounds`; *pages counts the
 * 4 KiB pages that differ. */
static unsigned check(unsigned rounds, int from_disk, unsigned *pages)
{
    unsigned bad = 0;
    *pages = 0;
    for (unsigned s = 0; s < SLOTS && s < rounds; s++) {
        uint8_t *got = from_disk ? spare : slot_buf(s);
        if (from_disk && pread(fd, got, SLOT, (off_t)s * SLOT) != (ssize_t)SLOT)
            return SLOTS + 1;
        pattern(scratch, last_round(rounds, s), s);
        unsigned p = 0;
        for (unsigned off = 0; off < SLOT; off += PAGE)
            p += memcmp(got + off, scratch + off, PAGE) != 0;
        if (p) {
            printf("SCRESULT %s_slot%u=round%u_%u_pages\n", from_disk ? "disk" : "buf", s,
                   last_round(rounds, s), p);
            bad++;
            *pages += p;
        }
    }
    return bad;
}

static int marker_is(const char *m) { return memcmp(spare, m, strlen(m)) == 0; }

/* The highest guest-physical byte + 1 of each pool chunk, from pagemap
 * (bit 63: present, bits 0-54: frame number). 0 if it cannot be read. */
static int chunk_tops(uint64_t *top)
{
    int pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (pm < 0)
        return -1;
    uint64_t e[SLOT / PAGE];
    for (unsigned c = 0; c < CHUNKS; c++) {
        off_t at = (off_t)((uintptr_t)(pool + (size_t)c * SLOT) / PAGE * sizeof(e[0]));
        if (pread(pm, e, sizeof(e), at) != (ssize_t)sizeof(e)) {
            close(pm);
            return -1;
        }
        top[c] = 0;
        for (unsigned i = 0; i < SLOT / PAGE; i++) {
            uint64_t pfn = e[i] & ((1ull << 55) - 1);
            if (!(e[i] >> 63) || pfn == 0) {
                close(pm);
                return -1;
            }
            if ((pfn + 1) * PAGE > top[c])
                top[c] = (pfn + 1) * PAGE;
        }
    }
    close(pm);
    return 0;
}

/* Picks the SLOTS chunks that end lowest as buffers and fills the rest of
 * the pool; returns buf_top, or 0 on failure. */
static uint64_t place_buffers(void)
{
    static uint64_t top[CHUNKS];
    memset(pool, 0, POOL); /* fault the pool in: from here on only the device writes buffers */
    if (chunk_tops(top) < 0)
        return 0;
    uint64_t buf_top = 0;
    for (unsigned s = 0; s < SLOTS; s++) {
        unsigned best = 0;
        for (unsigned c = 1; c < CHUNKS; c++)
            if (top[c] < top[best])
                best = c;
        buf_chunk[s] = best;
        if (top[best] > buf_top)
            buf_top = top[best];
        top[best] = UINT64_MAX;
    }
    for (unsigned c = 0; c < CHUNKS; c++)
        if (top[c] != UINT64_MAX)
            memset(pool + (size_t)c * SLOT, 0x5a, SLOT);
    return buf_top;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s DEVICE MARKER_OFFSET\n", argv[0]);
        return 2;
    }
    off_t mark_off = (off_t)strtoull(argv[2], NULL, 0);
    setvbuf(stdout, NULL, _IOLBF, 0);
    fd = open(argv[1], O_RDWR | O_DIRECT | O_CLOEXEC);
    if (fd < 0) {
        printf("SCRESULT error=open_%s\n", argv[1]);
        return 1;
    }
    if (posix_memalign((void **)&pool, SLOT, POOL) || posix_memalign((void **)&scratch, PAGE, SLOT) ||
        posix_memalign((void **)&spare, PAGE, SLOT)) {
        printf("SCRESULT error=out_of_memory\n");
        return 1;
    }
    uint64_t buf_top = place_buffers();
    if (!buf_top) {
        printf("SCRESULT error=pagemap\n");
        return 1;
    }
    printf("SCRESULT buf_top=%llu\n", (unsigned long long)buf_top);

    unsigned rounds = 0, frozen = 0;
    for (;;) {
        if (one_round(rounds, frozen ? spare : slot_buf(rounds % SLOTS)))
            return 1;
        rounds++;
        if (rounds % 8 == 0)
            printf("SCPROGRESS round=%u\n", rounds);
        if (pread(fd, spare, PAGE, mark_off) != (ssize_t)PAGE)
            return die("marker_read", rounds);
        if (!frozen && marker_is("SCFREEZE")) {
            frozen = rounds;
            printf("SCRESULT frozen_at=%u\n", frozen);
        }
        if (marker_is("SCMIGRATED")) {
            if (!frozen)
                return die("migrated_before_freeze", rounds);
            break;
        }
        if (rounds >= MAX_ROUNDS)
            return die("no_marker", rounds);
    }
    printf("SCRESULT migrated_after=%u\n", rounds);

    unsigned pages, bad = check(frozen, 0, &pages);
    printf("SCRESULT buf_bad=%u\nSCRESULT buf_bad_pages=%u\n", bad, pages);
    printf("SCRESULT disk_bad=%u\n", check(rounds, 1, &pages));
    for (unsigned i = 0; i < SLOTS; i++, rounds++)
        if (one_round(rounds, spare))
            return 1;
    printf("SCRESULT post_bad=%u\n", check(rounds, 1, &pages));
    printf("SCRESULT rounds=%u\n", rounds);
    return 0;
}
