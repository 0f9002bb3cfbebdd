/* Row groups of remote-compare, each measured on both sides into the
 * table: blk (QD1 latency, loaded IOPS, sidecore busy time per request,
 * per backend), the bare hop (remote only), consolidation (two VMs with
 * imbalanced load at once). Each returns 0, or 1 when a measurement
 * failed (its rows stay unmeasured, the others are still taken). */
#ifndef BENCH_REMOTE_ROWS_H
#define BENCH_REMOTE_ROWS_H

#include "daemon.h"
#include "remote_compare.h"

#define RC_MAX_DEVS 4

/* A device served locally and, as an export of the same name, remotely
 * through vmhost `vm` (consolidation's second VM lives on vmhost 1 and on
 * a local sidecored of its own). */
struct rc_dev {
    const char *name, *backend;
    unsigned vm;
};

enum { RC_LOCAL, RC_LOCAL_B, RC_IOHOST, RC_VMHOST, RC_VMHOST_B, RC_NDAEMONS };

struct rc_daemon {
    struct daemon d;
    char rpc[PATH_MAX];
    char sock[RC_MAX_DEVS][PATH_MAX];
};

struct rc_daemons {
    struct rc_dev devs[RC_MAX_DEVS];
    unsigned ndev;
    struct rc_daemon d[RC_NDAEMONS];
};

int rc_blk_rows(struct rc_env *e, struct rc_daemons *ds, struct rt_table *t);
int rc_hop_rows(struct rc_env *e, struct rt_table *t);
int rc_consol_rows(struct rc_env *e, struct rc_daemons *ds, struct rt_table *t);
/* What the remote path adds at QD1 next to what the bare hop costs. */
void rc_print_note(const struct rt_table *t);

#endif
