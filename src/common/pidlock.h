/* One daemon per runtime directory: an exclusive lock (OFD) on a file in it,
 * taken before anything else there is created or opened (device sockets,
 * crash records of the rings that a live daemon has mapped: a second
 * daemon that opened and shrank one made the first die of SIGBUS). The
 * file holds the owner's pid, for the message; it goes at release. */
#ifndef SC_PIDLOCK_H
#define SC_PIDLOCK_H

#include <stddef.h>

/* The lock's fd (kept open while the daemon runs), or -errno with a
 * message in why: -EBUSY when another process holds it. */
int pidlock_acquire(const char *path, char *why, size_t len);
void pidlock_release(int fd, const char *path);

#endif
