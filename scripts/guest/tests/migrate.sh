#!/bin/sh
# Guest side of tests/integration/qemu_guest_migrate.sh: waits for the disk
# and runs /bin/migrate_io on it (scripts/guest/progs/migrate_io.c), which
# writes and reads known data until the host marks the migration done at
# 8 MiB, then checks memory and disk and prints SCRESULT lines.
dev=/dev/vda

# The disk appears asynchronously after virtio_blk probes; wait up to 20 s.
i=0
while [ ! -b $dev ] && [ $i -lt 200 ]; do
    sleep 0.1
    i=$((i + 1))
done
[ -b $dev ] || { echo "SCRESULT error=no_$dev"; exit 1; }
echo "SCRESULT size=$(blockdev --getsize64 $dev)"
exec /bin/migrate_io $dev $((8 << 20))
