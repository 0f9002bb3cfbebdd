#include "iopf_table.h"

#include <getopt.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "daemon.h"
#include "iopf.h"
#include "vpri/vpri_bitmap.h"

#define LOOKUP_PAGES (1u << 20) /* a 4 GiB guest */
#define LOOKUPS 2000000u
#define START_TIMEOUT_MS 15000

static const unsigned OVERCOMMIT[] = {10, 20, 30};
static const enum vu_oc_policy POLICY[] = {VU_OC_LRU, VU_OC_DMA, VU_OC_NONE};
static const enum iopf_wl WORKLOAD[] = {IOPF_WL_NIC, IOPF_WL_BLK, IOPF_WL_MIX};

/* ns per vpri_range_check of random buffers of `pages` pages, all resident. */
static double lookup_ns(const _Atomic uint64_t *bits, unsigned pages)
{
    uint64_t x = 88172645463325252ull, sink = 0, mg, ml;
    uint64_t t0 = sc_now_ns();
    for (unsigned i = 0; i < LOOKUPS; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        uint64_t gpa = (x % (LOOKUP_PAGES - pages)) * VPRI_PAGE_SIZE + (pages > 1 ? 512 : 0);
        uint64_t len = pages * VPRI_PAGE_SIZE - (pages > 1 ? 1024 : 512);
        sink += vpri_range_check(bits, LOOKUP_PAGES, gpa, len, x & 1, &mg, &ml);
    }
    uint64_t dt = sc_now_ns() - t0;
    if (sink)
        fprintf(stderr, "iopf: lookup found %llu misses in a resident bitmap\n",
                (unsigned long long)sink);
    return (double)dt / LOOKUPS;
}

static void print_lookups(void)
{
    _Atomic uint64_t *bits = malloc(vpri_bitmap_bytes(LOOKUP_PAGES));
    if (!bits)
        return;
    memset(bits, 0xaa, vpri_bitmap_bytes(LOOKUP_PAGES));
    printf("PA-BITMAP lookup (4 GiB guest, random buffers, all resident): 1 page %.1f ns, "
           "2 pages %.1f ns, 16 pages %.1f ns, 64 pages %.1f ns\n",
           lookup_ns(bits, 1), lookup_ns(bits, 2), lookup_ns(bits, 16), lookup_ns(bits, 64));
    free(bits);
}

static double ms(uint64_t ns)
{
    return ns / 1e6;
}

static void row(const char *wl, unsigned oc, const char *pol, const struct iopf_res *r,
                uint64_t b_base)
{
    double s = r->elapsed_ns / 1e9;
    printf("%-4s %3u%% %-5s %9.1f %8llu %7.1f%% %9.1f %9.2f %9.2f %9.2f %9.2f %8.2f\n", wl, oc,
           pol, s > 0 ? r->records / s : 0, (unsigned long long)r->records,
           r->managed ? 100.0 * r->pinned / r->managed : 0,
           r->dev.resumed ? r->dev.wait_ns / 1e3 / r->dev.resumed : 0, ms(r->a_p99),
           ms(r->a_p999), ms(r->b_p99), ms(r->b_p999),
           b_base ? (double)r->b_p99 / b_base : 0);
}

int iopf_table(int argc, char **argv, const char *argv0)
{
    static const struct option lo[] = {{"time", 1, 0, 't'},   {"warmup", 1, 0, 'w'},
                                       {"pool-mb", 1, 0, 'm'}, {"qd", 1, 0, 'q'},
                                       {"rate", 1, 0, 'r'},    {0, 0, 0, 0}};
    double secs = 3, warm = 2;
    unsigned pool_mb = 16, qd = 16, rate = 4000;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 't': secs = atof(optarg); break;
        case 'w': warm = atof(optarg); break;
        case 'm': pool_mb = (unsigned)atoi(optarg); break;
        case 'q': qd = (unsigned)atoi(optarg); break;
        case 'r': rate = (unsigned)atoi(optarg); break;
        default:
            fprintf(stderr, "usage: sidecore-bench iopf table [--time S] [--warmup S] "
                    "[--pool-mb N] [--qd N] [--rate IOPS]\n");
            return 2;
        }
    }
    char dir[] = "/tmp/sidecore-iopf.XXXXXX", bin[PATH_MAX], rpc[PATH_MAX], sa[PATH_MAX],
         sb[PATH_MAX], ia[PATH_MAX], ib[PATH_MAX], blka[PATH_MAX * 2 + 64],
         blkb[PATH_MAX * 2 + 64], cpus[16];
    if (!mkdtemp(dir) || daemon_sidecored_path(argv0, bin, sizeof(bin)))
        return 2;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int dcpu = ncpu > 1 ? (int)ncpu - 1 : 0;
    snprintf(rpc, sizeof(rpc), "%s/rpc.sock", dir);
    snprintf(sa, sizeof(sa), "%s/a.sock", dir);
    snprintf(sb, sizeof(sb), "%s/b.sock", dir);
    snprintf(ia, sizeof(ia), "%s/a.img", dir);
    snprintf(ib, sizeof(ib), "%s/b.img", dir);
    snprintf(cpus, sizeof(cpus), "%d", dcpu);
    snprintf(blka, sizeof(blka), "name=a,socket=%s,backend=file,path=%s,size=64M", sa, ia);
    snprintf(blkb, sizeof(blkb), "name=b,socket=%s,backend=file,path=%s,size=64M", sb, ib);
    struct daemon d = {.name = "sidecored"};
    snprintf(d.log, sizeof(d.log), "%s/sidecored.log", dir);
    char *dargv[] = {bin, "--no-default", "--rpc", rpc, "--sidecores", "1", "--cpus", cpus,
                     "--blk", blka, "--blk", blkb, NULL};
    const char *paths[] = {sa, sb, rpc};
    int rc = 2;
    if (make_image(ia, 64 << 20) || make_image(ib, 64 << 20) || daemon_start(&d, dargv, dcpu) ||
        daemon_wait_sockets(&d, paths, 3, START_TIMEOUT_MS))
        goto out;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(0, &set);
    sched_setaffinity(0, sizeof(set), &set);

    printf("sidecore-bench iopf table: sidecored on CPU %d (one sidecore, devices A and B), "
           "bench on CPU 0; A: pool %u MiB, qd %u, at most %u requests/s; B: qd 4, "
           "interrupts; 4 KiB requests, %.0f s warm-up + %.0f s per row\n", dcpu, pool_mb, qd,
           rate, warm, secs);
    print_lookups();
    printf("IOPF/s and faults: records the faulting VM (A) served; pinned: share of A's pool "
           "pinned by the policy; resume: report-to-resume (device parks -> resumes); "
           "latencies in ms; B/base: B's p99 over its p99 with A not overcommitted\n");
    printf("%-4s %4s %-5s %9s %8s %8s %9s %9s %9s %9s %9s %8s\n", "wl", "oc", "pol", "IOPF/s",
           "faults", "pinned", "resume_us", "A_p99", "A_p99.9", "B_p99", "B_p99.9", "B/base");
    double ratio[3][3];
    bool inf[3][3];
    rc = 0;
    for (unsigned w = 0; w < 3; w++) {
        struct iopf_params p = {.a = {.socket = sa, .vpri = true, .wl = WORKLOAD[w], .bs = 4096,
                                      .qd = qd, .pool_bytes = (uint64_t)pool_mb << 20,
                                      .overcommit = 0, .policy = VU_OC_LRU, .pin_ratio = 0.1,
                                      .rate = rate, .seed = 1 + w},
                                .socket2 = sb, .time_s = secs, .warmup_s = warm};
        struct iopf_res base, r;
        int x = iopf_run(&p, &base);
        if (x == 2) {
            rc = 2;
            goto out;
        }
        row(iopf_wl_name(WORKLOAD[w]), 0, "-", &base, base.b_p99);
        for (unsigned o = 0; o < 3; o++) {
            uint64_t faults[3] = {0};
            for (unsigned k = 0; k < 3; k++) {
                p.a.overcommit = OVERCOMMIT[o];
                p.a.policy = POLICY[k];
                x = iopf_run(&p, &r);
                if (x == 2) {
                    rc = 2;
                    goto out;
                }
                rc |= x;
                faults[k] = r.records;
                row(iopf_wl_name(WORKLOAD[w]), OVERCOMMIT[o], vu_oc_policy_name(POLICY[k]), &r,
                    base.b_p99);
            }
            inf[w][o] = faults[1] == 0;
            ratio[w][o] = (double)faults[0] / (double)(faults[1] ? faults[1] : 1);
        }
    }
    printf("LRU/ours (IOPFs):");
    for (unsigned w = 0; w < 3; w++)
        for (unsigned o = 0; o < 3; o++)
            printf(" %s %u%%: %s%.2fx%s", iopf_wl_name(WORKLOAD[w]), OVERCOMMIT[o],
                   inf[w][o] ? ">=" : "", ratio[w][o], w == 2 && o == 2 ? "\n" : ";");
out:
    if (rc == 2)
        daemon_show_log(&d);
    daemon_stop(&d);
    unlink(ia);
    unlink(ib);
    unlink(d.log);
    rmdir(dir);
    return rc;
}
