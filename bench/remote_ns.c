#include "remote_ns.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"

#define CMD_TIMEOUT_NS (10ull * 1000000000ull)

/* Runs argv (PATH searched), stdout discarded and stderr too when quiet;
 * killed after 10 s. 0 when it exited 0. */
static int run(const char *const argv[], bool quiet)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) {
            dup2(null, 0);
            dup2(null, 1);
            if (quiet)
                dup2(null, 2);
        }
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    uint64_t deadline = sc_now_ns() + CMD_TIMEOUT_NS;
    int st;
    while (waitpid(pid, &st, WNOHANG) == 0) {
        if (sc_now_ns() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            fprintf(stderr, "sidecore-bench: '%s %s %s' hung for 10 s; killed\n", argv[0],
                    argv[1] ? argv[1] : "", argv[1] && argv[2] ? argv[2] : "");
            return -1;
        }
        usleep(2000);
    }
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

#define IP(...) run((const char *const[]){"ip", __VA_ARGS__, NULL}, false)

static void names(struct rns *n)
{
    for (unsigned i = 0; i < RNS_VMHOSTS; i++) {
        snprintf(n->vm[i], sizeof(n->vm[i]), "scb-vm%u", i);
        snprintf(n->vm_ip[i], sizeof(n->vm_ip[i]), "10.79.%u.1", i);
        snprintf(n->io_ip[i], sizeof(n->io_ip[i]), "10.79.%u.2", i);
    }
}

static void remove_all(struct rns *n)
{
    for (unsigned i = 0; i < RNS_VMHOSTS; i++)
        run((const char *const[]){"ip", "netns", "del", n->vm[i], NULL}, true);
    run((const char *const[]){"ip", "netns", "del", RNS_IOHOST, NULL}, true);
    run((const char *const[]){"ip", "netns", "del", RNS_LOCAL, NULL}, true);
}

static int link_pair(struct rns *n, unsigned i, const char *mtu)
{
    char v[16], io[16], vaddr[24], ioaddr[24];
    snprintf(v, sizeof(v), "scb-v%u", i);
    snprintf(io, sizeof(io), "scb-i%u", i);
    snprintf(vaddr, sizeof(vaddr), "%s/24", n->vm_ip[i]);
    snprintf(ioaddr, sizeof(ioaddr), "%s/24", n->io_ip[i]);
    if (IP("link", "add", v, "mtu", mtu, "type", "veth", "peer", "name", io, "mtu", mtu))
        return -1;
    if (IP("link", "set", v, "netns", n->vm[i]) || IP("link", "set", io, "netns", RNS_IOHOST) ||
        IP("-n", n->vm[i], "addr", "add", vaddr, "dev", v) ||
        IP("-n", RNS_IOHOST, "addr", "add", ioaddr, "dev", io) ||
        IP("-n", n->vm[i], "link", "set", v, "up") ||
        IP("-n", RNS_IOHOST, "link", "set", io, "up")) {
        /* A veth still in the root namespace would outlive the run. */
        run((const char *const[]){"ip", "link", "del", v, NULL}, true);
        return -1;
    }
    return 0;
}

int rns_setup(struct rns *n, unsigned mtu)
{
    char m[16];
    snprintf(m, sizeof(m), "%u", mtu);
    names(n);
    remove_all(n);
    n->up = true;
    const char *all[] = {n->vm[0], n->vm[1], RNS_IOHOST, RNS_LOCAL};
    for (unsigned i = 0; i < SC_ARRAY_SIZE(all); i++) {
        if (IP("netns", "add", all[i]) || IP("-n", all[i], "link", "set", "lo", "up")) {
            fprintf(stderr, "sidecore-bench: cannot create network namespace %s (root "
                    "needed)\n", all[i]);
            rns_teardown(n);
            return -1;
        }
    }
    for (unsigned i = 0; i < RNS_VMHOSTS; i++) {
        if (link_pair(n, i, m)) {
            fprintf(stderr, "sidecore-bench: cannot link %s to %s (veth, MTU %u)\n", n->vm[i],
                    RNS_IOHOST, mtu);
            rns_teardown(n);
            return -1;
        }
    }
    return 0;
}

void rns_teardown(struct rns *n)
{
    if (!n->up)
        return;
    remove_all(n);
    n->up = false;
}

int rns_cmd(const char *const argv[]) { return run(argv, false); }

int rns_socket(const char *ns, int type)
{
    char path[64];
    snprintf(path, sizeof(path), "/run/netns/%s", ns);
    int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    int target = open(path, O_RDONLY | O_CLOEXEC);
    int fd = -1;
    if (self < 0 || target < 0 || setns(target, CLONE_NEWNET)) {
        fprintf(stderr, "sidecore-bench: cannot enter network namespace %s: %s\n", ns,
                strerror(errno));
    } else {
        fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
        if (fd < 0)
            perror("sidecore-bench: socket");
        if (setns(self, CLONE_NEWNET)) {
            perror("sidecore-bench: cannot return to the bench's network namespace");
            if (fd >= 0)
                close(fd);
            fd = -1;
        }
    }
    if (self >= 0)
        close(self);
    if (target >= 0)
        close(target);
    return fd;
}
