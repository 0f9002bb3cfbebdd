/* SIGBUS guard for mappings of frontend files (see busguard.h). */
#include "busguard.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct slot {
    _Atomic uintptr_t base; /* 0: free */
    _Atomic size_t len;
    struct bus_owner *_Atomic owner;
};

static struct slot slots[BUSGUARD_MAX];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int install_err;

/* Only async-signal-safe work here: loads, mmap, write. */
static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    uintptr_t a = (uintptr_t)si->si_addr;
    for (unsigned i = 0; i < BUSGUARD_MAX; i++) {
        uintptr_t b = atomic_load_explicit(&slots[i].base, memory_order_acquire);
        size_t len = atomic_load_explicit(&slots[i].len, memory_order_relaxed);
        if (!b || a < b || a - b >= len)
            continue;
        /* Zero pages over the whole mapping at once: the file may have
         * shrunk to nothing, and one fault per page would be slow. */
        if (mmap((void *)b, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
                 -1, 0) == MAP_FAILED)
            break;
        struct bus_owner *o = atomic_load_explicit(&slots[i].owner, memory_order_relaxed);
        if (o) {
            atomic_store_explicit(&o->hit, a, memory_order_release);
            if (o->wake_fd >= 0) {
                uint64_t one = 1;
                ssize_t w = write(o->wake_fd, &one, sizeof(one));
                (void)w; /* an eventfd counter only saturates */
            }
        }
        return;
    }
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, NULL);
}

static void install(void)
{
    struct sigaction sa = {.sa_sigaction = on_sigbus, .sa_flags = SA_SIGINFO | SA_RESTART};
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGBUS, &sa, NULL) < 0)
        install_err = -errno;
}

int busguard_install(void)
{
    pthread_once(&once, install);
    return install_err;
}

int busguard_add(void *base, size_t len, struct bus_owner *owner)
{
    int rc = -ENOSPC;
    pthread_mutex_lock(&lock);
    for (unsigned i = 0; i < BUSGUARD_MAX; i++) {
        if (atomic_load_explicit(&slots[i].base, memory_order_relaxed))
            continue;
        atomic_store_explicit(&slots[i].len, len, memory_order_relaxed);
        atomic_store_explicit(&slots[i].owner, owner, memory_order_relaxed);
        atomic_store_explicit(&slots[i].base, (uintptr_t)base, memory_order_release);
        rc = 0;
        break;
    }
    pthread_mutex_unlock(&lock);
    return rc;
}

void busguard_remove(void *base)
{
    pthread_mutex_lock(&lock);
    for (unsigned i = 0; i < BUSGUARD_MAX; i++)
        if (atomic_load_explicit(&slots[i].base, memory_order_relaxed) == (uintptr_t)base) {
            atomic_store_explicit(&slots[i].base, 0, memory_order_release);
            break;
        }
    pthread_mutex_unlock(&lock);
}
