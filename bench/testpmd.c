#include "testpmd.h"

#include <dirent.h>
#include <signal.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"

#define PMD_STOP_NS 15000000000ull

int testpmd_start(struct testpmd *t, const struct pmd_cfg *c, const char *dir)
{
    char lcores[32], prefix_arg[96], mode[64], vdev_arg[PMD_MAX_VDEVS][PATH_MAX + 160];
    const char *argv[48];
    unsigned a = 0;
    t->d.name = c->name;
    snprintf(t->d.log, sizeof(t->d.log), "%s/pmd-%s.log", dir, c->name);
    snprintf(t->prefix, sizeof(t->prefix), "scb-%d-%s", (int)getpid(), c->name);
    snprintf(lcores, sizeof(lcores), "(0,1)@%d", c->cpu);
    snprintf(prefix_arg, sizeof(prefix_arg), "--file-prefix=%s", t->prefix);
    snprintf(mode, sizeof(mode), "--forward-mode=%s", c->mode);
    argv[a++] = "stdbuf";
    argv[a++] = "-oL";
    argv[a++] = "dpdk-testpmd";
    argv[a++] = "--lcores";
    argv[a++] = lcores;
    argv[a++] = "--no-pci";
    argv[a++] = prefix_arg;
    argv[a++] = "-m";
    argv[a++] = "512";
    if (c->huge_dir) {
        argv[a++] = "--huge-dir";
        argv[a++] = c->huge_dir;
        /* virtio-user shares its memory as one fd per memseg list;
         * otherwise every 2 MiB page is a region and the frontend runs
         * out of vhost-user memory regions. */
        argv[a++] = "--single-file-segments";
    } else {
        argv[a++] = "--no-huge";
    }
    for (unsigned i = 0; i < PMD_MAX_VDEVS && c->vdevs[i]; i++) {
        snprintf(vdev_arg[i], sizeof(vdev_arg[i]), "%s", c->vdevs[i]);
        argv[a++] = "--vdev";
        argv[a++] = vdev_arg[i];
    }
    argv[a++] = "--";
    argv[a++] = mode;
    argv[a++] = "--stats-period=1";
    argv[a++] = "--total-num-mbufs=16384";
    for (unsigned i = 0; i < PMD_MAX_EXTRA && c->extra[i]; i++)
        argv[a++] = c->extra[i];
    argv[a] = NULL;
    return daemon_start(&t->d, (char *const *)argv, c->cpu);
}

static bool log_has(const char *log, const char *what)
{
    FILE *f = fopen(log, "r");
    if (!f)
        return false;
    char line[512];
    bool found = false;
    while (!found && fgets(line, sizeof(line), f))
        found = strstr(line, what) != NULL;
    fclose(f);
    return found;
}

int testpmd_wait_forwarding(struct testpmd *t, unsigned timeout_ms)
{
    uint64_t deadline = sc_now_ns() + (uint64_t)timeout_ms * 1000000ull;
    for (;;) {
        if (log_has(t->d.log, "start packet forwarding"))
            return 0;
        int st;
        if (waitpid(t->d.pid, &st, WNOHANG) == t->d.pid) {
            t->d.pid = 0;
            fprintf(stderr, "sidecore-bench: testpmd %s exited during start-up\n", t->d.name);
            daemon_show_log(&t->d);
            return -1;
        }
        if (sc_now_ns() > deadline) {
            fprintf(stderr, "sidecore-bench: testpmd %s did not forward within %u ms\n",
                    t->d.name, timeout_ms);
            daemon_show_log(&t->d);
            return -1;
        }
        usleep(50000);
    }
}

unsigned testpmd_samples(const char *log, unsigned port, struct pmd_sample *out, unsigned max)
{
    FILE *f = fopen(log, "r");
    if (!f)
        return 0;
    char hdr[64], line[512];
    snprintf(hdr, sizeof(hdr), "NIC statistics for port %u ", port);
    unsigned n = 0;
    bool in = false;
    struct pmd_sample s = {0};
    while (fgets(line, sizeof(line), f)) {
        if (strstr(line, hdr)) {
            in = true;
            memset(&s, 0, sizeof(s));
            continue;
        }
        if (!in)
            continue;
        char *p;
        unsigned long long v;
        if ((p = strstr(line, "RX-packets:")) && sscanf(p, "RX-packets: %llu", &v) == 1)
            s.rx = v;
        if ((p = strstr(line, "TX-packets:")) && sscanf(p, "TX-packets: %llu", &v) == 1)
            s.tx = v;
        if ((p = strstr(line, "Rx-pps:")) && sscanf(p, "Rx-pps: %llu", &v) == 1)
            s.rx_pps = (double)v;
        if ((p = strstr(line, "Tx-pps:")) && sscanf(p, "Tx-pps: %llu", &v) == 1)
            s.tx_pps = (double)v;
        if (strstr(line, "##########")) {
            in = false;
            if (n < max)
                out[n] = s;
            n++;
        }
    }
    fclose(f);
    return n;
}

unsigned testpmd_blocks(const struct testpmd *t, unsigned port)
{
    return testpmd_samples(t->d.log, port, NULL, 0);
}

/* EAL leaves its runtime files (config, memseg arrays, mp socket) in
 * /var/run/dpdk/<prefix>, one level deep. */
static void remove_runtime_dir(const char *prefix)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "/var/run/dpdk/%s", prefix);
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char f[PATH_MAX + 256];
        snprintf(f, sizeof(f), "%s/%s", dir, e->d_name);
        unlink(f);
    }
    closedir(d);
    rmdir(dir);
}

void testpmd_stop(struct testpmd *t)
{
    if (t->d.pid > 0) {
        kill(t->d.pid, SIGINT);
        uint64_t deadline = sc_now_ns() + PMD_STOP_NS;
        int st;
        while (waitpid(t->d.pid, &st, WNOHANG) == 0) {
            if (sc_now_ns() > deadline) {
                fprintf(stderr, "sidecore-bench: testpmd %s still running 15 s after SIGINT; "
                        "killing it\n", t->d.name);
                kill(t->d.pid, SIGKILL);
                waitpid(t->d.pid, &st, 0);
                break;
            }
            usleep(20000);
        }
        t->d.pid = 0;
    }
    if (t->prefix[0])
        remove_runtime_dir(t->prefix);
}
