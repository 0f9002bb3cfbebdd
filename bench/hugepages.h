/* 2 MiB hugepages for a benchmark, borrowed and given back: reserves pages
 * through /proc/sys/vm/nr_hugepages (on top of what is already there),
 * mounts a private hugetlbfs for the DPDK processes, and afterwards
 * unmounts it and lowers the count by what it added (so runs that overlap
 * each give back their own). Needs root. */
#ifndef BENCH_HUGEPAGES_H
#define BENCH_HUGEPAGES_H

#include <limits.h>
#include <stdbool.h>

struct hugepages {
    char dir[PATH_MAX];   /* the mount point */
    long saved;           /* nr_hugepages before */
    long added;           /* what this run reserved */
    bool mounted, reserved;
};

/* Reserves pages more 2 MiB pages and mounts them under parent/huge.
 * 0, or -1 with a message (everything already undone). */
int hugepages_setup(struct hugepages *h, const char *parent, long pages);
/* Deletes what DPDK left in the mount (its page files outlive it). */
void hugepages_clear(struct hugepages *h);
void hugepages_restore(struct hugepages *h);

#endif
