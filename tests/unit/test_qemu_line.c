/* The QEMU command lines sidecored prints for its devices. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "control/qemu_line.h"

/* A NIC whose MTU is not 1500 needs host_mtu on the device: QEMU keeps the
 * config space, and without it the guest stayed at 1500 and its full-size
 * frames were dropped as over_mtu on a 1400-byte device. */
static void net_mtu(void **state)
{
    (void)state;
    struct cfg_net n = {.name = "n0", .socket = "/run/a,b.sock", .queues = 2, .mtu = 1400,
                        .mac = {0x52, 0x54, 0, 0, 0, 1}};
    char *s = qemu_line_net(&n);
    assert_non_null(s);
    assert_non_null(strstr(s, "-device virtio-net-pci,netdev=n0,mac=52:54:00:00:00:01,"
                              "vectors=0,mq=on,host_mtu=1400"));
    assert_non_null(strstr(s, "path=/run/a,,b.sock,reconnect=1"));
    free(s);
    n.mtu = 1500;
    n.queues = 1;
    s = qemu_line_net(&n);
    assert_non_null(s);
    assert_null(strstr(s, "host_mtu"));
    assert_null(strstr(s, "mq=on"));
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(net_mtu)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
