#!/bin/sh
# Guest side of the unbound case in tests/integration/qemu_guest_blk_reconnect.sh:
# unbinds virtio_blk from the disk, says so, waits (up to 240 s) for a line
# on the console (the host restarted sidecored meanwhile), binds the driver
# again and runs the blk test on the disk. QEMU hung the bind when it
# skipped the memory table for a daemon that had offered CONFIGURE_MEM_SLOTS.
drv=/sys/bus/virtio/drivers/virtio_blk
/tests/wait_disk.sh /dev/vda >/dev/null || exit 1
dev=$(basename "$(readlink -f /sys/block/vda/device)")
echo "$dev" >"$drv/unbind" || { echo "SCRESULT error=unbind_failed"; exit 1; }
echo "SCRESULT unbound=$dev"
read -t 240 line || { echo "SCRESULT error=no_line_from_the_host"; exit 1; }
echo "$dev" >"$drv/bind" || { echo "SCRESULT error=bind_failed"; exit 1; }
echo "SCRESULT rebound=$dev"
exec /tests/blk.sh
