#include "iopf.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "iopf_dev.h"
#include "iopf_net.h"
#include "iopf_table.h"

#define DRAIN_NS (15ull * 1000000000ull)

/* The second VM has a vCPU of its own: its loop runs in a thread, so its
 * latencies do not include the time the first one spends on its faults. It
 * takes completions by interrupt and sleeps between them: the two VMs share
 * the bench's CPU, and a spinning B would measure the scheduler's time
 * slices, not the device. */
struct b_runner {
    struct iopf_dev *b;
    pthread_t th;
    _Atomic bool stop, reset, failed;
    _Atomic uint64_t ios;
};

static void *b_thread(void *arg)
{
    struct b_runner *r = arg;
    for (;;) {
        if (atomic_exchange(&r->reset, false))
            hist_init(&r->b->lat);
        bool more = !atomic_load(&r->stop);
        if (!more && !r->b->inflight)
            return NULL;
        int n = iopf_dev_step(r->b, more, false);
        if (n < 0) {
            atomic_store(&r->failed, true);
            return NULL;
        }
        if (n == 0 && r->b->inflight)
            iopf_dev_wait(r->b, 5);
        atomic_store_explicit(&r->ios, r->b->ios, memory_order_relaxed);
    }
}

/* The bench squeezes both VMs onto one CPU; on a host each has vCPUs of its
 * own, so B's vCPU never queues behind A's fault service (swap I/O for its
 * CPU working set). A's loop therefore yields the CPU to B whenever B is
 * runnable, or B's p99 would measure A's syscalls, not the shared sidecore.
 * What remains is kernel time A's syscalls hold without a preemption point
 * (this kernel runs preempt=none). */
static void a_defer_to_b(bool on)
{
    struct sched_param sp = {0};
    pthread_setschedparam(pthread_self(), on ? SCHED_IDLE : SCHED_OTHER, &sp);
}

/* Stops B once its outstanding requests completed. */
static void b_stop(struct b_runner *r)
{
    if (!r->b)
        return;
    atomic_store(&r->stop, true);
    pthread_join(r->th, NULL);
    r->b = NULL;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: sidecore-bench iopf run --socket PATH [options]\n"
            "       sidecore-bench iopf table [--time S] [--warmup S] [--pool-mb N] [--qd N]\n"
            "                                 [--rate IOPS]\n"
            "run options:\n"
            "  --device D        blk | net (default blk); net: the nic workload on a virtio-net\n"
            "                    device, whose frames the --socket2 net device sends (--ios\n"
            "                    frames, --rate frames/s; no --storm, --hold-ms, --time,\n"
            "                    --warmup)\n"
            "  --socket2 PATH    a second device on the same daemon, no VPRI, measured alongside\n"
            "                    (its own thread, qd 4, completions by interrupt)\n"
            "  --workload W      blk | nic | mix (default blk)\n"
            "  --overcommit P    percent of the buffer pool that is not resident (default 20)\n"
            "  --policy P        lru | dma | none (default lru)\n"
            "  --pin-ratio R     dma policy: at most this share of the pool pinned (default 0.1)\n"
            "  --pool-mb N       managed buffer pool (default 32)\n"
            "  --rx-buffers N    nic/mix: rx pool in buffers (default 8%% of the pool)\n"
            "  --bs N            request size, multiple of 4096 (default 4096)\n"
            "  --qd N            requests outstanding per device (default 16)\n"
            "  --ios N           requests on the faulting device (default 20000)\n"
            "  --time S          run for S seconds instead\n"
            "  --verify          check every read against the last write\n"
            "  --storm N         every loop step evict N random pages and up to N pages of\n"
            "                    buffers with requests in flight\n"
            "  --hold-ms MS      first park the faulting device's requests and hold its\n"
            "                    faults for MS while the second device runs\n"
            "  --warmup S        run S seconds before measuring (policies settle)\n"
            "  --rate N          the faulting device submits at most N requests/s\n"
            "  --seed N\n");
}

static int parse_run(int argc, char **argv, struct iopf_params *o)
{
    static const struct option lo[] = {
        {"socket", 1, 0, 's'},     {"socket2", 1, 0, 'S'},   {"workload", 1, 0, 'w'},
        {"overcommit", 1, 0, 'o'}, {"policy", 1, 0, 'p'},    {"pin-ratio", 1, 0, 'r'},
        {"pool-mb", 1, 0, 'm'},    {"rx-buffers", 1, 0, 'x'}, {"bs", 1, 0, 'b'},
        {"qd", 1, 0, 'q'},         {"ios", 1, 0, 'n'},       {"time", 1, 0, 't'},
        {"verify", 0, 0, 'v'},     {"storm", 1, 0, 'e'},     {"hold-ms", 1, 0, 'h'},
        {"seed", 1, 0, 'z'},       {"warmup", 1, 0, 'u'},    {"rate", 1, 0, 'R'},
        {"device", 1, 0, 'd'},     {0, 0, 0, 0}};
    memset(o, 0, sizeof(*o));
    o->a = (struct iopf_dev_cfg){.vpri = true, .wl = IOPF_WL_BLK, .bs = 4096, .qd = 16,
                                 .pool_bytes = 32ull << 20, .rx_buffers = 0,
                                 .overcommit = 20, .policy = VU_OC_LRU, .pin_ratio = 0.1};
    o->ios = 20000;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        char *end = NULL;
        switch (c) {
        case 's': o->a.socket = optarg; break;
        case 'S': o->socket2 = optarg; break;
        case 'w':
            if (!strcmp(optarg, "blk"))
                o->a.wl = IOPF_WL_BLK;
            else if (!strcmp(optarg, "nic"))
                o->a.wl = IOPF_WL_NIC;
            else if (!strcmp(optarg, "mix"))
                o->a.wl = IOPF_WL_MIX;
            else
                goto bad;
            break;
        case 'o': o->a.overcommit = (unsigned)strtoul(optarg, &end, 10); break;
        case 'p':
            if (vu_oc_policy_parse(optarg, &o->a.policy))
                goto bad;
            break;
        case 'r': o->a.pin_ratio = strtod(optarg, &end); break;
        case 'm': o->a.pool_bytes = strtoull(optarg, &end, 10) << 20; break;
        case 'x': o->a.rx_buffers = (uint32_t)strtoul(optarg, &end, 10); break;
        case 'b': o->a.bs = (uint32_t)strtoul(optarg, &end, 10); break;
        case 'q': o->a.qd = (unsigned)strtoul(optarg, &end, 10); break;
        case 'n': o->ios = strtoull(optarg, &end, 10); break;
        case 't': o->time_s = strtod(optarg, &end); break;
        case 'v': o->a.verify = true; break;
        case 'e': o->storm = (unsigned)strtoul(optarg, &end, 10); break;
        case 'h': o->hold_ms = (unsigned)strtoul(optarg, &end, 10); break;
        case 'z': o->a.seed = strtoull(optarg, &end, 10); break;
        case 'u': o->warmup_s = strtod(optarg, &end); break;
        case 'R': o->a.rate = (unsigned)strtoul(optarg, &end, 10); break;
        case 'd':
            if (!strcmp(optarg, "blk"))
                o->device = IOPF_DEV_BLK;
            else if (!strcmp(optarg, "net"))
                o->device = IOPF_DEV_NET;
            else
                goto bad;
            break;
        default: goto bad;
        }
        if (end && *end)
            goto bad;
    }
    if (!o->a.socket || o->a.overcommit > 95 || o->a.pin_ratio < 0 || o->a.pin_ratio > 1 ||
        o->a.qd > 256 || optind != argc)
        goto bad;
    if (o->device == IOPF_DEV_NET) {
        /* The NIC case only, measured by frames: B is the sender. */
        if (!o->socket2 || o->a.wl != IOPF_WL_NIC || o->storm || o->hold_ms || o->time_s > 0 ||
            o->warmup_s > 0)
            goto bad;
    }
    return 0;
bad:
    usage(stderr);
    return -1;
}

static double us(uint64_t ns)
{
    return ns / 1000.0;
}

/* Parks A's requests on non-resident buffers and holds its faults while B
 * runs: B must keep completing on the shared sidecore. */
static int hold_phase(struct iopf_dev *a, struct b_runner *b, unsigned ms, struct iopf_res *res)
{
    a->reads_only = true;
    if (iopf_dev_evict_all(a) < 0 || iopf_dev_step(a, true, false) < 0)
        return -1;
    uint64_t a0 = a->ios, b0 = atomic_load(&b->ios), end = sc_now_ns() + ms * 1000000ull;
    while (sc_now_ns() < end) {
        if (iopf_dev_step(a, false, false) < 0)
            return -1;
        struct vpri_qslot qs;
        iopf_dev_qstats(a, &qs);
        if (qs.parked > res->hold_parked)
            res->hold_parked = qs.parked;
    }
    a->reads_only = false;
    res->hold_a_done = a->ios - a0;
    res->hold_b_done = b->b ? atomic_load(&b->ios) - b0 : 0;
    return 0;
}

/* Drives A (and B) until A did ios requests or secs passed, then lets
 * everything outstanding complete (bounded). 0 or -1 (message printed). */
static int drive(struct iopf_dev *a, struct b_runner *b, const struct iopf_params *p,
                 uint64_t ios, double secs)
{
    uint64_t ios0 = a->ios, t0 = sc_now_ns(), stopped = 0;
    uint64_t dur = secs > 0 ? (uint64_t)(secs * 1e9) : 0;
    for (;;) {
        uint64_t now = sc_now_ns();
        bool more = secs > 0 ? now - t0 < dur : a->ios - ios0 < ios;
        if (!more && !a->inflight)
            return 0;
        if (!more && !stopped)
            stopped = now;
        if (b->b && atomic_load(&b->failed)) {
            fprintf(stderr, "iopf: %s\n", b->b->why);
            return -1;
        }
        if (!more && now - stopped > DRAIN_NS) {
            fprintf(stderr, "iopf: requests still outstanding long after the end\n");
            return -1;
        }
        int w = iopf_dev_step(a, more, true);
        if (w < 0) {
            fprintf(stderr, "iopf: %s\n", a->why);
            return -1;
        }
        /* An idle vCPU halts: let B's thread have the shared CPU. */
        if (w == 0)
            sched_yield();
        if (p->storm && a->oc &&
            (vu_oc_evict_random(a->oc, p->storm) < 0 || iopf_dev_evict_inflight(a, p->storm) < 0)) {
            fprintf(stderr, "iopf: eviction failed\n");
            return -1;
        }
    }
}

static void collect(struct iopf_dev *a, struct iopf_dev *b, const struct vu_oc_stats *st0,
                    const struct vpri_qslot *q0, uint64_t ios0, uint64_t bios0,
                    struct iopf_res *res)
{
    res->ios = a->ios - ios0;
    res->errors = a->errors + (b ? b->errors : 0);
    res->checked = a->checked + (b ? b->checked : 0);
    res->mismatches = a->mismatches + (b ? b->mismatches : 0);
    res->a_p50 = hist_pct(&a->lat, 0.5);
    res->a_p99 = hist_pct(&a->lat, 0.99);
    res->a_p999 = hist_pct(&a->lat, 0.999);
    if (b) {
        res->b_ios = b->ios - bios0;
        res->b_p50 = hist_pct(&b->lat, 0.5);
        res->b_p99 = hist_pct(&b->lat, 0.99);
        res->b_p999 = hist_pct(&b->lat, 0.999);
    }
    if (a->oc) {
        struct vu_oc_stats st;
        vu_oc_get_stats(a->oc, &st);
        res->records = st.records - st0->records;
        res->restored_iopf = st.restored_iopf - st0->restored_iopf;
        res->restored_cpu = st.restored_cpu - st0->restored_cpu;
        res->evicted = st.evicted - st0->evicted;
        res->evict_aborts = st.evict_aborts - st0->evict_aborts;
        res->service_ns = st.service_ns - st0->service_ns;
        res->pinned = st.pinned;
        res->managed = st.managed;
        res->resident = st.resident;
    }
    iopf_dev_qstats(a, &res->dev);
    res->dev.faults -= q0->faults;
    res->dev.resumed -= q0->resumed;
    res->dev.lookups -= q0->lookups;
    res->dev.ring_full -= q0->ring_full;
    res->dev.wait_ns -= q0->wait_ns;
}

int iopf_run(const struct iopf_params *p, struct iopf_res *res)
{
    struct iopf_dev a, b;
    struct iopf_dev *pb = NULL;
    struct b_runner br = {0};
    int rc = 2;
    memset(res, 0, sizeof(*res));
    if (iopf_dev_open(&a, &p->a) < 0) {
        fprintf(stderr, "iopf: %s\n", a.why);
        iopf_dev_close(&a);
        return 2;
    }
    if (p->socket2) {
        struct iopf_dev_cfg bc = p->a;
        bc.socket = p->socket2;
        bc.vpri = false;
        bc.wl = IOPF_WL_BLK;
        bc.pool_bytes = (uint64_t)bc.bs * bc.qd * 4;
        bc.seed = p->a.seed + 7;
        bc.event = true;
        bc.rate = 0;
        bc.qd = p->a.qd < 4 ? p->a.qd : 4;
        if (iopf_dev_open(&b, &bc) < 0) {
            fprintf(stderr, "iopf: %s\n", b.why);
            iopf_dev_close(&b);
            iopf_dev_close(&a);
            return 2;
        }
        pb = &b;
        br.b = pb;
        if (pthread_create(&br.th, NULL, b_thread, &br)) {
            fprintf(stderr, "iopf: cannot start the second device's thread\n");
            br.b = NULL;
            goto out;
        }
        a_defer_to_b(true);
    }
    if (p->hold_ms && hold_phase(&a, &br, p->hold_ms, res) < 0)
        goto out;
    if (p->warmup_s > 0 && drive(&a, &br, p, 0, p->warmup_s) < 0)
        goto out;
    struct vu_oc_stats st0 = {0};
    struct vpri_qslot q0;
    if (a.oc)
        vu_oc_get_stats(a.oc, &st0);
    iopf_dev_qstats(&a, &q0);
    uint64_t ios0 = a.ios, bios0 = atomic_load(&br.ios), t0 = sc_now_ns();
    hist_init(&a.lat);
    atomic_store(&br.reset, true);
    if (drive(&a, &br, p, p->ios, p->time_s) < 0)
        goto out;
    res->elapsed_ns = sc_now_ns() - t0;
    b_stop(&br);
    if (pb && atomic_load(&br.failed)) {
        fprintf(stderr, "iopf: %s\n", pb->why);
        goto out;
    }
    collect(&a, pb, &st0, &q0, ios0, bios0, res);
    rc = res->errors || res->mismatches ? 1 : 0;
out:
    a_defer_to_b(false);
    b_stop(&br);
    if (pb)
        iopf_dev_close(pb);
    iopf_dev_close(&a);
    return rc;
}

static void print_res(const struct iopf_params *o, const struct iopf_res *r)
{
    double secs = r->elapsed_ns / 1e9;
    printf("iopf: workload=%s policy=%s overcommit=%u ios=%llu errors=%llu checked=%llu "
           "mismatches=%llu seconds=%.2f\n",
           iopf_wl_name(o->a.wl), vu_oc_policy_name(o->a.policy), o->a.overcommit,
           (unsigned long long)r->ios, (unsigned long long)r->errors,
           (unsigned long long)r->checked, (unsigned long long)r->mismatches, secs);
    printf("iopf: faults=%llu iopf_per_s=%.1f restored_iopf=%llu restored_cpu=%llu "
           "evicted=%llu evict_aborts=%llu pinned=%llu resident=%llu managed=%llu "
           "service_us_per_fault=%.1f\n",
           (unsigned long long)r->records, secs > 0 ? r->records / secs : 0,
           (unsigned long long)r->restored_iopf, (unsigned long long)r->restored_cpu,
           (unsigned long long)r->evicted, (unsigned long long)r->evict_aborts,
           (unsigned long long)r->pinned, (unsigned long long)r->resident,
           (unsigned long long)r->managed,
           r->records ? us(r->service_ns) / (double)r->records : 0.0);
    printf("iopf: device posted=%llu resumed=%llu parked_now=%llu lookups=%llu ring_full=%llu "
           "report_to_resume_us=%.1f\n",
           (unsigned long long)r->dev.faults, (unsigned long long)r->dev.resumed,
           (unsigned long long)r->dev.parked, (unsigned long long)r->dev.lookups,
           (unsigned long long)r->dev.ring_full,
           r->dev.resumed ? us(r->dev.wait_ns) / (double)r->dev.resumed : 0.0);
    printf("iopf: a_p50_us=%.1f a_p99_us=%.1f a_p999_us=%.1f", us(r->a_p50), us(r->a_p99),
           us(r->a_p999));
    if (o->socket2 && o->device != IOPF_DEV_NET)
        printf(" b_ios=%llu b_p50_us=%.1f b_p99_us=%.1f b_p999_us=%.1f",
               (unsigned long long)r->b_ios, us(r->b_p50), us(r->b_p99), us(r->b_p999));
    printf("\n");
    if (o->device == IOPF_DEV_NET)
        printf("net: sent=%llu received=%llu dropped_parked=%llu reordered=%llu\n",
               (unsigned long long)r->net_sent, (unsigned long long)r->net_received,
               (unsigned long long)r->net_dropped, (unsigned long long)r->net_reordered);
    if (o->hold_ms)
        printf("hold: ms=%u a_parked=%llu a_done_during=%llu b_done_during=%llu\n", o->hold_ms,
               (unsigned long long)r->hold_parked, (unsigned long long)r->hold_a_done,
               (unsigned long long)r->hold_b_done);
}

const char *iopf_wl_name(enum iopf_wl w)
{
    return w == IOPF_WL_BLK ? "blk" : w == IOPF_WL_NIC ? "nic" : "mix";
}

int bench_iopf(int argc, char **argv, const char *argv0)
{
    if (argc >= 2 && !strcmp(argv[1], "table"))
        return iopf_table(argc - 1, argv + 1, argv0);
    if (argc >= 2 && !strcmp(argv[1], "run")) {
        struct iopf_params o;
        if (parse_run(argc - 1, argv + 1, &o))
            return 2;
        struct iopf_res r;
        int rc = o.device == IOPF_DEV_NET ? iopf_net_run(&o, &r) : iopf_run(&o, &r);
        if (rc != 2)
            print_res(&o, &r);
        return rc;
    }
    bool help = argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"));
    usage(help ? stdout : stderr);
    return help ? 0 : 2;
}
