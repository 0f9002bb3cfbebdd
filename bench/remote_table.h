/* The result table of `sidecore-bench remote-compare`: rows of one
 * quantity measured on the local (Elvis: sidecore on the VM's host) and
 * the remote (vRIO: VM host -> I/O host) side, printed side by side with
 * remote/local, or as JSON. A row is found by (section, label) and created
 * on first use, in order, so every measuring module (blk, hop,
 * consolidation, net) only sets values. A side never measured shows "-"
 * and null, never a zero. */
#ifndef BENCH_REMOTE_TABLE_H
#define BENCH_REMOTE_TABLE_H

#include <jansson.h>
#include <stdbool.h>

#define RT_MAX_ROWS 64

enum rt_side { RT_LOCAL, RT_REMOTE };

struct rt_row {
    char section[32], label[48];
    int prec;          /* digits after the point */
    bool remote_only;  /* nothing local to compare with (the bare hop) */
    double v[2];
    bool have[2];
};

struct rt_table {
    struct rt_row rows[RT_MAX_ROWS];
    unsigned n;
};

/* Finds or declares a row (declared before measuring, a row that then
 * fails still shows); NULL when the table is full. */
struct rt_row *rt_row(struct rt_table *t, const char *section, const char *label, int prec,
                      bool remote_only);
void rt_set(struct rt_table *t, const char *section, const char *label, int prec,
            enum rt_side side, double v);
/* Rows that lack a side they should have. */
unsigned rt_missing(const struct rt_table *t);
void rt_print(const struct rt_table *t);
/* [{"section", "label", "local", "remote", "ratio"}], null where not measured. */
json_t *rt_json(const struct rt_table *t);

#endif
