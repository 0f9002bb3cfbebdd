/* Claiming a unix socket path to listen on: a socket file left by a process
 * that died is replaced, a live one (something accepts a connection) or a
 * file of another kind is not. Two daemons given the same path would
 * otherwise take it from each other without a word. */
#ifndef SC_SOCKPATH_H
#define SC_SOCKPATH_H

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

#endif
