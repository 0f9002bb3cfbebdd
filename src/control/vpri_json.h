/* The VPRI counters of a device's queues in its stats result: one "vpri"
 * object per queue that has a VPRI slot, added to the queue objects of a
 * device_stats / net_stats result (matched by their "index"). Devices that
 * never negotiated VPRI get nothing. */
#ifndef SC_VPRI_JSON_H
#define SC_VPRI_JSON_H

#include <jansson.h>

#include "../vhost/vhost_user.h"

json_t *vpri_qstats_json(const struct vpri_qstats *s);
/* queues: the result's "queues" array. */
void vpri_json_add_queues(struct vhost_dev *vh, json_t *queues);

#endif
