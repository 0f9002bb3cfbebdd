/* Guard against files a frontend handed us shrinking under our mappings.
 *
 * Guest memory, the dirty log and the inflight area are mappings of files
 * the frontend owns; it can truncate one at any time, and the next touch of
 * a page past the new end raises SIGBUS, which would end the daemon and
 * every device it serves. The guard's SIGBUS handler finds the guarded
 * mapping that holds the faulting address, replaces the whole of it with
 * anonymous zero pages (so the access completes), records the address for
 * the mapping's owner and writes the owner's eventfd; the owner then fails
 * its device. A SIGBUS outside every guarded mapping is a bug of ours: the
 * handler restores the default action and the access faults again.
 *
 * busguard_add / busguard_remove are control-path calls (a mutex); the
 * handler reads the table without locks. Unmapping a guarded mapping must
 * follow busguard_remove (the owner must outlive its guarded mappings). */
#ifndef SC_BUSGUARD_H
#define SC_BUSGUARD_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define BUSGUARD_MAX 4096 /* guarded mappings in the process */

struct bus_owner {
    _Atomic uintptr_t hit; /* a faulting address (0: none yet) */
    int wake_fd;           /* eventfd written on a hit, or -1 */
};

/* Installs the handler (once per process; later calls do nothing).
 * 0 or -errno. */
int busguard_install(void);

/* Guards [base, base+len) for owner (may be NULL: nobody is told).
 * 0, or -ENOSPC when BUSGUARD_MAX mappings are guarded already. */
int busguard_add(void *base, size_t len, struct bus_owner *owner);
void busguard_remove(void *base);

#endif
