/* Which of several rounds of one net-compare row on one backend stands for
 * it: the median of the rounds that were measured (the lower middle one
 * for an even count), so one round that caught the shared machine in
 * another state does not move the figure. */
#ifndef BENCH_NET_ROUNDS_H
#define BENCH_NET_ROUNDS_H

#include "net_side.h"

/* Index into r[0..n) of the median measured round; -1 when none was. */
int nc_median_round(const struct nc_result *r, unsigned n);

#endif
