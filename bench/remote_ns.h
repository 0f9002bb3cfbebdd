/* The hosts of `sidecore-bench remote-compare`: network namespaces that
 * stand for two VM hosts and one I/O host on this machine, each VM host
 * joined to the I/O host by a veth pair (10.79.N.1 on vmhostN, 10.79.N.2
 * on the I/O host), and a local host (no links: the net rows' local
 * sidecored puts its tap there, apart from the machine's own network). Names carry the "scb-" prefix so they never collide
 * with the integration tests' namespaces; set-up first removes leftovers
 * of a run that was killed. Commands (`ip`) run bounded in time, their
 * output is kept out of the bench's own. */
#ifndef BENCH_REMOTE_NS_H
#define BENCH_REMOTE_NS_H

#include <stdbool.h>

#define RNS_VMHOSTS 2
#define RNS_IOHOST "scb-io"
#define RNS_LOCAL "scb-lo"

struct rns {
    char vm[RNS_VMHOSTS][16];      /* namespace names */
    char vm_ip[RNS_VMHOSTS][16];   /* a VM host's address */
    char io_ip[RNS_VMHOSTS][16];   /* the I/O host's address facing VM host i */
    bool up;
};

/* Creates the namespaces and links with the given MTU. 0, or -1 with a
 * message (whatever was created is removed again). */
int rns_setup(struct rns *n, unsigned mtu);
/* Removes namespaces and links (their veths go with them); idempotent. */
void rns_teardown(struct rns *n);

/* A socket of the given type created inside namespace ns (the calling
 * thread returns to its own namespace). fd or -1 with a message. */
int rns_socket(const char *ns, int type);

/* Runs argv (PATH searched; "ip ...", "ip netns exec NS ..."), output
 * discarded but for stderr, killed after 10 s. 0 when it exited 0. */
int rns_cmd(const char *const argv[]);

#endif
