/* vu_fuzz: a seeded random hostile vhost-user frontend against a running
 * backend.
 *
 *   vu_fuzz SOCKET_PATH blk|net SEED CASES [--time SEC] [--only N] [-v]
 *
 * Each case is its own connection with its own generator (derived from SEED
 * and the case number, so `--only N` replays case N alone) and is one of:
 * a storm of random control messages, with or without a proper set-up
 * first; or a proper set-up (random ring layout and feature subset, VPRI
 * sometimes) followed by rounds of random chains on every queue, with
 * random control messages mixed in (memory tables, ring addresses, resets
 * while requests are in flight), with VPRI, a hostile memory owner, and,
 * with an inflight area, writes into it and queue restarts that make the
 * backend recover from it; ending in a hang-up, sometimes after stopping
 * the rings, sometimes after shrinking the file behind guest memory.
 * The backend may serve, refuse or drop any of it; what it must do is keep
 * answering: every case starts with a connection that must work within
 * VU_RAW_WAIT_MS, and a proper set-up must be accepted. Exit status 0 when
 * every case passed that check and a well-behaved set-up works at the end;
 * 1 names the first case after which it did not. Every wait is bounded. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "dev/virtio_net_spec.h"
#include "lib/fz.h"

static const char *sock_path;
static bool verbose;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_us(unsigned us)
{
    struct timespec ts = {0, (long)us * 1000};
    nanosleep(&ts, NULL);
}

static void drain_calls(struct vu_raw *f)
{
    for (unsigned q = 0; q < VU_RAW_MAXQ; q++) {
        uint64_t v;
        ssize_t n = f->q[q].call >= 0 ? read(f->q[q].call, &v, sizeof(v)) : 0;
        (void)n; /* EAGAIN when nothing was signalled */
    }
}

/* Offered feature bits a case may take beyond the basics. */
static uint64_t extras(struct fz *z, bool net)
{
    static const unsigned common[] = {VIRTIO_RING_F_EVENT_IDX, VIRTIO_F_IN_ORDER};
    static const unsigned netf[] = {VIRTIO_NET_F_CSUM, VIRTIO_NET_F_GUEST_CSUM,
                                    VIRTIO_NET_F_HOST_TSO4, VIRTIO_NET_F_HOST_TSO6,
                                    VIRTIO_NET_F_GUEST_TSO4, VIRTIO_NET_F_GUEST_TSO6,
                                    VIRTIO_NET_F_MRG_RXBUF, VIRTIO_NET_F_CTRL_VQ,
                                    VIRTIO_NET_F_CTRL_RX, VIRTIO_NET_F_MQ, VIRTIO_NET_F_MTU,
                                    VIRTIO_NET_F_MAC, VIRTIO_NET_F_STATUS};
    uint64_t x = 0;
    for (unsigned i = 0; i < sizeof(common) / sizeof(common[0]); i++)
        if (fz_pct(z, 50))
            x |= 1ull << common[i];
    for (unsigned i = 0; net && i < sizeof(netf) / sizeof(netf[0]); i++)
        if (fz_pct(z, 50))
            x |= 1ull << netf[i];
    return x;
}

/* A dirty log covering guest memory (LOG_SHMFD: the backend answers with a
 * u64 0 once it mapped it), so that the rings run logged. */
static int give_log(struct vu_raw *f)
{
    int fd = memfd_create("vu_fuzz_log", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, 4096) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    struct vhu_log l = {.size = 4096, .offset = 0};
    struct vhu_hdr h;
    uint64_t u = 1;
    int rc = vu_raw_req(f, VHOST_USER_SET_LOG_BASE, false, &l, sizeof(l), &fd, 1);
    close(fd);
    if (rc < 0 || vu_raw_recv(f, &h, &u, sizeof(u), VU_RAW_WAIT_MS) != 1 || u != 0) {
        fprintf(stderr, "vu_fuzz: a proper SET_LOG_BASE was not accepted\n");
        return -1;
    }
    return 0;
}

/* 0: the case ran (whatever the backend did with it); -1: the backend
 * stopped answering or refused a proper set-up. */
static int run_case(uint64_t seed, unsigned n, bool net)
{
    struct fz z = {.s = seed ^ (0x9e3779b97f4a7c15ull * (n + 1)), .net = net};
    struct vu_raw f;
    if (vu_raw_open(&f, sock_path) < 0)
        return -1;
    bool storm = fz_pct(&z, 25);
    bool setup = !storm || fz_pct(&z, 50);
    if (setup) {
        f.packed = fz_pct(&z, 40);
        f.vpri = fz_pct(&z, 30);
        f.inflight = fz_pct(&z, 30);
        /* Dirty logging on: the random SET_LOG_BASE messages then take
         * (and swap) the log while the rings run. */
        f.log = fz_pct(&z, 30);
        f.extra = extras(&z, net);
        /* net: rx, tx, and the control queue when it is negotiated. */
        bool ctrl = f.extra & f.offered & (1ull << VIRTIO_NET_F_CTRL_VQ);
        f.nq = net ? 2u + ctrl : 1 + fz_below(&z, 2);
        if (vu_raw_setup(&f, true) < 0 ||
            (f.log && (f.features & (1ull << VHOST_F_LOG_ALL)) && fz_pct(&z, 70) &&
             give_log(&f) < 0)) {
            fprintf(stderr, "vu_fuzz: case %u: a proper set-up (%s ring, features 0x%llx) was "
                            "refused\n",
                    n, f.packed ? "packed" : "split", (unsigned long long)f.extra);
            vu_raw_close(&f);
            return -1;
        }
    }
    unsigned rounds = 1 + fz_below(&z, 40), closed = 0;
    struct fz_ring r[VU_RAW_MAXQ] = {{0}};
    for (unsigned i = 0; i < VU_RAW_MAXQ; i++)
        r[i].wrap = true;
    for (unsigned i = 0; i < rounds && !closed; i++) {
        if (storm || fz_pct(&z, 8)) {
            int rc = fz_msg(&z, &f, storm ? 5 : 1);
            closed = rc != 0;
            continue;
        }
        unsigned nq = f.nq ? f.nq : 1;
        for (unsigned q = 0; q < nq; q++)
            if (fz_pct(&z, 70))
                fz_ring_round(&z, &f, q, &r[q], 1 + fz_below(&z, 8));
        fz_vpri_round(&z, &f);
        fz_inflight_round(&z, &f);
        sleep_us(fz_below(&z, 2000));
        drain_calls(&f);
    }
    bool shrunk = !closed && setup && f.mem && fz_pct(&z, 5);
    if (shrunk) {
        /* The file behind guest memory shrinks under the backend; our own
         * view of it goes too. A kick makes the backend look. */
        off_t keep = fz_pct(&z, 50) ? (off_t)fz_below(&z, VU_RAW_RING_BASE)
                                    : (off_t)fz_below(&z, VU_RAW_MEM);
        if (ftruncate(f.memfd, keep) == 0) {
            munmap(f.mem, VU_RAW_MEM);
            f.mem = NULL;
            for (unsigned q = 0; q < (f.nq ? f.nq : 1u); q++)
                vu_raw_kick(&f, q);
            sleep_us(5000);
        }
    } else if (!closed && setup && fz_pct(&z, 50)) {
        /* Stop the rings the way QEMU does before hanging up. */
        for (unsigned q = 0; q < (f.nq ? f.nq : 1u); q++) {
            struct vhu_vring_state s = {q, 0};
            struct vhu_hdr h;
            uint8_t p[64];
            if (vu_raw_req(&f, VHOST_USER_GET_VRING_BASE, false, &s, sizeof(s), NULL, 0) < 0 ||
                vu_raw_recv(&f, &h, p, sizeof(p), 1000) != 1)
                break;
        }
    }
    if (verbose)
        printf("vu_fuzz: case %u: %s%s, %s ring%s%s, %u rounds%s%s\n", n,
               storm ? "storm" : "rings",
               setup ? " after set-up" : "", f.packed ? "packed" : "split",
               f.vpri_on ? ", VPRI" : "", f.inf ? ", inflight area" : "", rounds,
               closed ? ", closed by the backend" : "",
               shrunk ? ", guest memory shrunk" : "");
    vu_raw_close(&f);
    return 0;
}

static int check_alive(void)
{
    struct vu_raw f;
    int rc = vu_raw_open(&f, sock_path) == 0 && vu_raw_setup(&f, true) == 0 ? 0 : -1;
    vu_raw_close(&f);
    return rc;
}

static void usage(const char *me)
{
    fprintf(stderr, "usage: %s SOCKET_PATH blk|net SEED CASES [--time SEC] [--only N] [-v]\n", me);
}

int main(int argc, char **argv)
{
    if (argc < 5 || (strcmp(argv[2], "blk") && strcmp(argv[2], "net"))) {
        usage(argv[0]);
        return 2;
    }
    sock_path = argv[1];
    bool net = !strcmp(argv[2], "net");
    char *end;
    uint64_t seed = strtoull(argv[3], &end, 0);
    unsigned long cases = strtoul(argv[4], &end, 0);
    double limit = 0;
    long only = -1;
    for (int i = 5; i < argc; i++) {
        if (!strcmp(argv[i], "--time") && i + 1 < argc) {
            limit = strtod(argv[++i], NULL);
        } else if (!strcmp(argv[i], "--only") && i + 1 < argc) {
            only = strtol(argv[++i], NULL, 0);
        } else if (!strcmp(argv[i], "-v")) {
            verbose = true;
        } else {
            usage(argv[0]);
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    double t0 = now_s();
    unsigned long ran = 0;
    for (unsigned long n = 0; n < cases; n++) {
        if (only >= 0 && (long)n != only)
            continue;
        if (limit > 0 && now_s() - t0 > limit)
            break;
        ran++;
        if (run_case(seed, (unsigned)n, net) < 0) {
            printf("vu_fuzz: FAILED at case %lu (replay: %s %s %s %llu %lu --only %lu)\n", n,
                   argv[0], sock_path, argv[2], (unsigned long long)seed, cases, n);
            return 1;
        }
    }
    if (check_alive() < 0) {
        printf("vu_fuzz: FAILED: no well-behaved set-up after %lu cases (seed %llu)\n", ran,
               (unsigned long long)seed);
        return 1;
    }
    printf("vu_fuzz: %lu %s cases from seed %llu in %.1f s, the backend still serves\n", ran,
           argv[2], (unsigned long long)seed, now_s() - t0);
    return 0;
}
