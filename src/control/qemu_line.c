#include "qemu_line.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../backend/net_port.h"

/* QEMU connects to our socket: reconnect=1 brings the device back after a
 * restart (or crash) of sidecored; when QEMU listens, we reconnect. */
#define CHARDEV_MODE(client) ((client) ? ",server=on,wait=off" : ",reconnect=1")

/* Guest RAM must be a shared memfd: the daemon maps the same pages. */
#define QEMU_MEM                                                                                   \
    "qemu-system-x86_64 -M q35,memory-backend=mem -m 512M "                                        \
    "-object memory-backend-memfd,id=mem,size=512M,share=on "

/* A value in QEMU's option syntax: a comma is written twice. */
static char *qemu_escape(const char *v)
{
    size_t n = strlen(v), extra = 0;
    for (size_t i = 0; i < n; i++)
        extra += v[i] == ',';
    char *o = malloc(n + extra + 1), *p = o;
    if (!o)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        *p++ = v[i];
        if (v[i] == ',')
            *p++ = ',';
    }
    *p = '\0';
    return o;
}

char *qemu_line_blk(const struct cfg_device *d)
{
    char *s, *path = qemu_escape(d->socket);
    int rc = path ? asprintf(&s,
                             QEMU_MEM "-chardev socket,id=c0,path=%s%s "
                                      "-device vhost-user-blk-pci,chardev=c0,num-queues=%u",
                             path, CHARDEV_MODE(d->client), d->queues)
                  : -1;
    free(path);
    return rc < 0 ? NULL : s;
}

char *qemu_line_net(const struct cfg_net *n)
{
    char mac[18], mtu[24] = "", *s, *path = qemu_escape(n->socket);
    net_mac_format(n->mac, mac);
    /* QEMU keeps a vhost-user NIC's config space itself and tells the
     * guest an MTU only with host_mtu: without it the guest sends 1500
     * bytes into a smaller MTU (dropped as over_mtu) or never uses jumbo
     * frames. */
    if (n->mtu && n->mtu != 1500)
        snprintf(mtu, sizeof(mtu), ",host_mtu=%u", n->mtu);
    /* vectors=0: see ENVIRONMENT.md (vhost-user NICs under emulation);
     * with more than one pair the guest needs mq=on to use them. */
    int rc = path ? asprintf(&s,
                             QEMU_MEM "-chardev socket,id=n0,path=%s%s "
                                      "-netdev vhost-user,id=n0,chardev=n0,queues=%u "
                                      "-device virtio-net-pci,netdev=n0,mac=%s,vectors=0%s%s",
                             path, CHARDEV_MODE(n->client), n->queues ? n->queues : 1, mac,
                             n->queues > 1 ? ",mq=on" : "", mtu)
                  : -1;
    free(path);
    return rc < 0 ? NULL : s;
}
