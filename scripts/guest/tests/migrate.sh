#!/bin/sh
# Guest side of tests/integration/qemu_guest_migrate.sh: waits for the disk
# and runs /bin/migrate_io on it (scripts/guest/progs/migrate_io.c), which
# writes and reads known data until the host marks the migration done at
# 8 MiB, then checks memory and disk and prints SCRESULT lines.
dev=/dev/vda
/tests/wait_disk.sh $dev || exit 1
exec /bin/migrate_io $dev $((8 << 20))
