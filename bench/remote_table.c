#include "remote_table.h"

#include <stdio.h>
#include <string.h>

struct rt_row *rt_row(struct rt_table *t, const char *section, const char *label, int prec,
                      bool remote_only)
{
    for (unsigned i = 0; i < t->n; i++)
        if (!strcmp(t->rows[i].section, section) && !strcmp(t->rows[i].label, label))
            return &t->rows[i];
    if (t->n == RT_MAX_ROWS)
        return NULL;
    struct rt_row *r = &t->rows[t->n++];
    memset(r, 0, sizeof(*r));
    snprintf(r->section, sizeof(r->section), "%s", section);
    snprintf(r->label, sizeof(r->label), "%s", label);
    r->prec = prec;
    r->remote_only = remote_only;
    return r;
}

void rt_set(struct rt_table *t, const char *section, const char *label, int prec,
            enum rt_side side, double v)
{
    struct rt_row *r = rt_row(t, section, label, prec, false);
    if (r) {
        r->v[side] = v;
        r->have[side] = true;
    }
}

unsigned rt_missing(const struct rt_table *t)
{
    unsigned n = 0;
    for (unsigned i = 0; i < t->n; i++) {
        const struct rt_row *r = &t->rows[i];
        n += !r->have[RT_REMOTE] || (!r->remote_only && !r->have[RT_LOCAL]);
    }
    return n;
}

static bool has_ratio(const struct rt_row *r)
{
    return r->have[RT_LOCAL] && r->have[RT_REMOTE] && r->v[RT_LOCAL] > 0;
}

void rt_print(const struct rt_table *t)
{
    printf("%-22s %-34s %12s %12s %13s\n", "", "", "local", "remote", "remote/local");
    const char *last = "";
    for (unsigned i = 0; i < t->n; i++) {
        const struct rt_row *r = &t->rows[i];
        char c[2][32], ratio[32] = "-";
        for (int s = 0; s < 2; s++) {
            if (r->have[s])
                snprintf(c[s], sizeof(c[s]), "%.*f", r->prec, r->v[s]);
            else
                snprintf(c[s], sizeof(c[s]), "%s", s == RT_LOCAL && r->remote_only ? "" : "-");
        }
        if (has_ratio(r))
            snprintf(ratio, sizeof(ratio), "%.2f", r->v[RT_REMOTE] / r->v[RT_LOCAL]);
        else if (r->remote_only)
            ratio[0] = '\0';
        printf("%-22s %-34s %12s %12s %13s\n", strcmp(last, r->section) ? r->section : "",
               r->label, c[RT_LOCAL], c[RT_REMOTE], ratio);
        last = r->section;
    }
}

json_t *rt_json(const struct rt_table *t)
{
    json_t *arr = json_array();
    for (unsigned i = 0; arr && i < t->n; i++) {
        const struct rt_row *r = &t->rows[i];
        json_t *j = json_pack("{s:s,s:s}", "section", r->section, "label", r->label);
        json_object_set_new(j, "local", r->have[RT_LOCAL] ? json_real(r->v[RT_LOCAL])
                                                         : json_null());
        json_object_set_new(j, "remote", r->have[RT_REMOTE] ? json_real(r->v[RT_REMOTE])
                                                           : json_null());
        json_object_set_new(j, "ratio", has_ratio(r) ? json_real(r->v[RT_REMOTE] /
                                                                 r->v[RT_LOCAL])
                                                     : json_null());
        json_array_append_new(arr, j);
    }
    return arr;
}
