#include "idle.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "daemon.h"
#include "frontend/vu_blk.h"
#include "frontend/vu_mem.h"
#include "rpc.h"

#define IDLE_QUEUES_PER_DEV 4 /* 16 queues = 4 devices of 4, as VMs would attach */
#define IDLE_SETTLE_MS 1000   /* past the sidecore's idle-poll period, into sleep */

/* CPU time of all of pid's threads in ns (schedstat: exact, unlike the
 * 10 ms ticks of /proc/PID/stat); -1 on error. */
static int64_t cpu_ns(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    DIR *dir = opendir(path);
    if (!dir)
        return -1;
    int64_t total = 0;
    struct dirent *e;
    while ((e = readdir(dir))) {
        if (e->d_name[0] == '.')
            continue;
        char f[PATH_MAX];
        snprintf(f, sizeof(f), "/proc/%d/task/%s/schedstat", (int)pid, e->d_name);
        FILE *fp = fopen(f, "r");
        unsigned long long ns;
        if (!fp)
            continue; /* the thread just exited */
        if (fscanf(fp, "%llu", &ns) == 1)
            total += (int64_t)ns;
        fclose(fp);
    }
    closedir(dir);
    return total;
}

static int sleeps_wakeups(const char *rpc, uint64_t *sleeps, uint64_t *wakeups)
{
    json_t *r = rpc_call(rpc, "sidecore_stats", NULL, 5000);
    *sleeps = *wakeups = 0;
    if (!json_is_array(r)) {
        json_decref(r);
        return -1;
    }
    size_t i;
    json_t *c;
    json_array_foreach(r, i, c) {
        *sleeps += (uint64_t)json_integer_value(json_object_get(c, "sleeps"));
        *wakeups += (uint64_t)json_integer_value(json_object_get(c, "wakeups"));
    }
    json_decref(r);
    return 0;
}

/* One read on every queue of b: each queue is started and served once. */
static int touch_queues(struct vu_blk *b)
{
    void *buf = vu_mem_alloc(vu_blk_mem(b), 4096, 4096);
    if (!buf)
        return -1;
    for (unsigned q = 0; q < vu_blk_queues(b); q++) {
        uint8_t st = 0xff;
        if (vu_blk_sync(b, q, VU_BLK_READ, 0, buf, 4096, 5000, &st) || st != 0) {
            fprintf(stderr, "sidecore-bench: idle: read on queue %u failed (status %u)\n", q,
                    st);
            return -1;
        }
    }
    return 0;
}

int bench_idle(struct bench_opts *o, const char *argv0)
{
    unsigned nq = o->queues, ndev = (nq + IDLE_QUEUES_PER_DEV - 1) / IDLE_QUEUES_PER_DEV;
    char dir[] = "/tmp/sc-idle-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("sidecore-bench: mkdtemp");
        return 2;
    }
    char bin[PATH_MAX], rpc[PATH_MAX], cpus[16];
    struct daemon d = {.name = "sidecored"};
    struct vu_blk *b[16] = {0};
    char (*socks)[PATH_MAX] = calloc(ndev, PATH_MAX);
    char (*blk)[PATH_MAX + 96] = calloc(ndev, PATH_MAX + 96);
    char **argv = calloc(8 + 2 * ndev, sizeof(char *));
    const char **paths = calloc(ndev + 1, sizeof(char *));
    int rc = 2;
    if (!socks || !blk || !argv || !paths || daemon_sidecored_path(argv0, bin, sizeof(bin)))
        goto out;
    snprintf(d.log, sizeof(d.log), "%s/sidecored.log", dir);
    snprintf(rpc, sizeof(rpc), "%s/rpc.sock", dir);
    snprintf(cpus, sizeof(cpus), "%d", o->cpu >= 0 ? o->cpu : 0);
    unsigned a = 0;
    argv[a++] = bin;
    argv[a++] = "--no-default";
    argv[a++] = "--rpc";
    argv[a++] = rpc;
    argv[a++] = "--cpus";
    argv[a++] = cpus;
    paths[0] = rpc;
    for (unsigned i = 0; i < ndev; i++) {
        unsigned q = SC_MIN(IDLE_QUEUES_PER_DEV, nq - i * IDLE_QUEUES_PER_DEV);
        snprintf(socks[i], PATH_MAX, "%s/idle%u.sock", dir, i);
        snprintf(blk[i], PATH_MAX + 96, "name=idle%u,socket=%s,backend=null,size=64M,queues=%u",
                 i, socks[i], q);
        argv[a++] = "--blk";
        argv[a++] = blk[i];
        paths[i + 1] = socks[i];
    }
    if (daemon_start(&d, argv, o->cpu >= 0 ? o->cpu : 0) ||
        daemon_wait_sockets(&d, paths, ndev + 1, 15000))
        goto out;
    for (unsigned i = 0; i < ndev; i++) {
        struct vu_blk_cfg cfg = {.socket = socks[i],
                                 .queues = SC_MIN(IDLE_QUEUES_PER_DEV,
                                                  nq - i * IDLE_QUEUES_PER_DEV)};
        if (vu_blk_open(&cfg, &b[i]) || touch_queues(b[i]))
            goto out;
    }
    usleep(IDLE_SETTLE_MS * 1000);
    uint64_t s0, w0, s1, w1;
    int64_t t0 = cpu_ns(d.pid);
    uint64_t n0 = sc_now_ns();
    sleeps_wakeups(rpc, &s0, &w0);
    usleep((useconds_t)(o->time_s * 1e6));
    int64_t t1 = cpu_ns(d.pid);
    uint64_t n1 = sc_now_ns();
    sleeps_wakeups(rpc, &s1, &w1);
    if (t0 < 0 || t1 < 0) {
        fprintf(stderr, "sidecore-bench: idle: cannot read /proc/%d/task/*/schedstat\n", (int)d.pid);
        goto out;
    }
    double secs = (double)(n1 - n0) / 1e9;
    double pct = 100.0 * (double)(t1 - t0) / 1e9 / secs;
    if (o->json) {
        json_t *j = json_pack("{s:i,s:i,s:f,s:f,s:I,s:I}", "queues", nq, "devices", ndev,
                              "seconds", secs, "daemon_cpu_pct", pct, "sleeps",
                              (json_int_t)(s1 - s0), "wakeups", (json_int_t)(w1 - w0));
        json_dumpf(j, stdout, JSON_INDENT(2));
        putchar('\n');
        json_decref(j);
    } else {
        printf("idle: %u queues on %u devices attached, nothing submitted for %.1f s\n", nq,
               ndev, secs);
        printf("%-28s %10.2f\n", "sidecored CPU % (all threads)", pct);
        printf("%-28s %10" PRIu64 "\n", "sidecore sleeps", s1 - s0);
        printf("%-28s %10" PRIu64 "\n", "sidecore wakeups", w1 - w0);
    }
    rc = 0;
out:
    for (unsigned i = 0; i < ndev && i < SC_ARRAY_SIZE(b); i++)
        if (b[i])
            vu_blk_close(b[i]);
    if (rc)
        daemon_show_log(&d);
    daemon_stop(&d);
    if (d.log[0])
        unlink(d.log);
    free(socks), free(blk), free(argv), free(paths);
    scratch_remove(dir);
    return rc;
}
