/* The QEMU command line that attaches a guest to a device, as sidecored
 * prints it at start-up and the create RPCs return it ("qemu"): one place,
 * so the two never disagree. Returns a malloc'd string, or NULL when out of
 * memory. */
#ifndef SC_QEMU_LINE_H
#define SC_QEMU_LINE_H

#include "config.h"
#include "net_config.h"

char *qemu_line_blk(const struct cfg_device *d);
char *qemu_line_net(const struct cfg_net *n);

#endif
