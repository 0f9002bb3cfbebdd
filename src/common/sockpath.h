/* Claiming a unix socket path to listen on: a socket file left by a process
 * that died is replaced, a live one (something accepts a connection) or a
 * file of another kind is not. Two daemons given the same path would
 * otherwise take it from each other without a word. */
#ifndef SC_SOCKPATH_H
#define SC_SOCKPATH_H

#include <sys/types.h>

/* 0: path is free now (nothing there, or a stale socket removed);
 * -EADDRINUSE: a process listens on it; -EEXIST: not a socket;
 * -ENAMETOOLONG: too long for a unix socket address. */
int sockpath_claim(const char *path);

/* path with its directory resolved (realpath: no ".", "..", "//" or
 * symlinks) and its last component as given, so two spellings of one socket
 * compare equal; path itself (copied) when the directory does not resolve.
 * malloc'd; NULL when out of memory. */
char *sockpath_canonical(const char *path);
/* *path replaced by its canonical spelling; -ENOMEM (and *path as it was). */
int sockpath_canonicalize(char **path);

/* Device sockets are handed to this group (QEMU's, e.g. libvirt's "kvm")
 * so a QEMU running as another user can connect without being in
 * sidecored's own group, which would let it use the RPC socket too.
 * (gid_t)-1, the default: the daemon's group. Set once at start-up. */
void sockpath_set_group(gid_t gid);
gid_t sockpath_group(void);

/* Makes a device socket just bound at path connectable by its owner and
 * group (mode 0660, whatever umask we inherited), the group being the one
 * set above. 0 or -errno (-EPERM: we may not give it that group). */
int sockpath_share(const char *path);

#endif
