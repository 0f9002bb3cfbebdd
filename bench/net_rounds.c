#include "net_rounds.h"

int nc_median_round(const struct nc_result *r, unsigned n)
{
    unsigned ok = 0;
    for (unsigned i = 0; i < n; i++)
        ok += r[i].ok;
    if (!ok)
        return -1;
    /* The round with (ok-1)/2 measured rounds below it; ties go by index,
     * so equal rates still give exactly one answer. */
    unsigned want = (ok - 1) / 2;
    for (unsigned i = 0; i < n; i++) {
        if (!r[i].ok)
            continue;
        unsigned below = 0;
        for (unsigned j = 0; j < n; j++)
            if (j != i && r[j].ok &&
                (r[j].mpps < r[i].mpps || (r[j].mpps == r[i].mpps && j < i)))
                below++;
        if (below == want)
            return (int)i;
    }
    return -1;
}
