/* Device failure: the first reason wins, later ones are only logged by their
 * callers. Readers of d->why must first see NEEDS_RESET in d->status
 * (acquire): it is set, with release, only after why is complete. */
#include "vdev.h"

#include <stdarg.h>
#include <stdio.h>

#include "../common/log.h"

static void failv(struct vdev *d, uint16_t qidx, bool tell, const char *fmt, va_list ap)
{
    bool expected = false;
    if (!atomic_compare_exchange_strong_explicit(&d->broken, &expected, true,
                                                 memory_order_acq_rel, memory_order_relaxed))
        return;
    vsnprintf(d->why, sizeof(d->why), fmt, ap);
    atomic_fetch_or_explicit(&d->status, VIRTIO_STATUS_NEEDS_RESET, memory_order_release);
    if (tell)
        LOG_ERR("vdev", "%s: device failed (queue %u): %s; it needs a reset by the driver",
                d->name ? d->name : "(unnamed)", qidx, d->why);
    if (d->on_fail)
        d->on_fail(d, qidx, d->on_fail_opaque);
}

void vdev_fail(struct vdev *d, uint16_t qidx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    failv(d, qidx, true, fmt, ap);
    va_end(ap);
}

void vdev_fail_quiet(struct vdev *d, uint16_t qidx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    failv(d, qidx, false, fmt, ap);
    va_end(ap);
}
