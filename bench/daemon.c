#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"

int daemon_start(struct daemon *d, char *const argv[], int cpu)
{
    pid_t pid = fork();
    if (pid < 0) {
        perror("sidecore-bench: fork");
        return -1;
    }
    if (pid == 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        sched_setaffinity(0, sizeof(set), &set);
        int fd = open(d->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        int null = open("/dev/null", O_RDONLY);
        if (null >= 0)
            dup2(null, 0);
        execvp(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    d->pid = pid;
    return 0;
}

void daemon_show_log(const struct daemon *d)
{
    FILE *f = fopen(d->log, "r");
    if (!f)
        return;
    fprintf(stderr, "---- %s log (%s) ----\n", d->name, d->log);
    char line[512];
    while (fgets(line, sizeof(line), f))
        fputs(line, stderr);
    fclose(f);
}

void daemon_stop(struct daemon *d)
{
    if (d->pid <= 0)
        return;
    kill(d->pid, SIGTERM);
    uint64_t deadline = sc_now_ns() + 5000000000ull;
    int st;
    while (waitpid(d->pid, &st, WNOHANG) == 0) {
        if (sc_now_ns() > deadline) {
            fprintf(stderr, "sidecore-bench: %s ignored SIGTERM for 5 s; killing it\n",
                    d->name);
            kill(d->pid, SIGKILL);
            waitpid(d->pid, &st, 0);
            break;
        }
        usleep(10000);
    }
    d->pid = 0;
}

int daemon_wait_sockets(struct daemon *d, const char *const *paths, unsigned n,
                        unsigned timeout_ms)
{
    uint64_t deadline = sc_now_ns() + (uint64_t)timeout_ms * 1000000ull;
    for (;;) {
        unsigned ok = 0;
        struct stat st;
        for (unsigned i = 0; i < n; i++)
            ok += stat(paths[i], &st) == 0 && S_ISSOCK(st.st_mode);
        if (ok == n)
            return 0;
        int status;
        if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
            d->pid = 0;
            fprintf(stderr, "sidecore-bench: %s exited during start-up (%s %d)\n", d->name,
                    WIFEXITED(status) ? "exit status" : "signal",
                    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
            daemon_show_log(d);
            return -1;
        }
        if (sc_now_ns() > deadline) {
            fprintf(stderr, "sidecore-bench: %s did not create its sockets within %u ms\n",
                    d->name, timeout_ms);
            daemon_show_log(d);
            return -1;
        }
        usleep(20000);
    }
}

int daemon_sidecored_path(const char *argv0, char *out, size_t len)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        snprintf(exe, sizeof(exe), "%s", argv0);
    else
        exe[n] = 0;
    snprintf(out, len, "%s/sidecored", dirname(exe));
    if (access(out, X_OK)) {
        fprintf(stderr, "sidecore-bench: %s not found or not executable (build it next to "
                "sidecore-bench)\n", out);
        return -1;
    }
    return 0;
}

int make_image(const char *path, uint64_t size)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || ftruncate(fd, (off_t)size) < 0) {
        fprintf(stderr, "sidecore-bench: create %s: %s\n", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path) ? -1 : 0;
}

int scratch_remove(const char *dir)
{
    if (nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS) == 0)
        return 0;
    fprintf(stderr, "sidecore-bench: could not remove %s: %s\n", dir, strerror(errno));
    return -1;
}
