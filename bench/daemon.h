/* Daemons the bench starts for itself (sidecored, qemu-storage-daemon):
 * spawned pinned to one CPU with output in a log file, waited for until
 * their sockets exist (bounded), stopped with SIGTERM and, after 5 s,
 * SIGKILL. Every failure prints why, with the daemon's log. */
#ifndef BENCH_DAEMON_H
#define BENCH_DAEMON_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct daemon {
    const char *name;
    pid_t pid; /* 0: not running */
    char log[PATH_MAX];
};

/* Forks and execs argv[0] (PATH searched) on cpu. 0 or -1. */
int daemon_start(struct daemon *d, char *const argv[], int cpu);
/* Waits until every path is a socket; -1 when the daemon died or timeout_ms ran out. */
int daemon_wait_sockets(struct daemon *d, const char *const *paths, unsigned n,
                        unsigned timeout_ms);
void daemon_stop(struct daemon *d);
void daemon_show_log(const struct daemon *d);
/* The sidecored built next to this program. 0 or -1 (with a message). */
int daemon_sidecored_path(const char *argv0, char *out, size_t len);
/* Removes a scratch runtime directory with everything in it: sidecored
 * leaves its packed rings' crash records there on purpose (a restarted
 * daemon resumes from them). 0, or -1 with a message. */
int scratch_remove(const char *dir);
/* A sparse file of size bytes. 0 or -1 (with a message). */
int make_image(const char *path, uint64_t size);

#endif
