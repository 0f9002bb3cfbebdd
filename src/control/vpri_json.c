#include "vpri_json.h"

json_t *vpri_qstats_json(const struct vpri_qstats *s)
{
    /* What a reader wants from wait_ns: the mean report-to-resume time. */
    double wait_us = s->resumed ? (double)s->wait_ns / (double)s->resumed / 1e3 : 0.0;
    return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f}", "faults", (json_int_t)s->faults,
                     "parked", (json_int_t)s->parked, "resumed", (json_int_t)s->resumed,
                     "lookups", (json_int_t)s->lookups, "dropped", (json_int_t)s->dropped,
                     "ring_full", (json_int_t)s->ring_full, "wait_ns", (json_int_t)s->wait_ns,
                     "mean_wait_us", wait_us);
}

void vpri_json_add_queues(struct vhost_dev *vh, json_t *queues)
{
    struct vpri_qstats s[256]; /* a vhost-user ring index is 8 bits */
    unsigned n = vhost_dev_vpri_stats(vh, s, 256);
    size_t i;
    json_t *q;
    json_array_foreach(queues, i, q) {
        json_int_t idx = json_integer_value(json_object_get(q, "index"));
        if (idx >= 0 && (unsigned)idx < n)
            json_object_set_new(q, "vpri", vpri_qstats_json(&s[idx]));
    }
}
