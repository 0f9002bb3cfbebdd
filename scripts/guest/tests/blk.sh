#!/bin/sh
# Guest side of tests/integration/qemu_guest_blk*.sh: writes 16 MiB of random
# data to /dev/vda with O_DIRECT, reads it back with O_DIRECT and prints both
# checksums, then checksums a region the host filled before boot, given on
# the kernel command line as sc.pre=OFFSET_MIB:LENGTH_MIB.
dev=/dev/vda
pre=

for arg in $(cat /proc/cmdline); do
    case $arg in sc.pre=*) pre=${arg#sc.pre=} ;; esac
done

/tests/wait_disk.sh $dev || exit 1

# The pre-filled region is read first, before anything is written.
if [ -n "$pre" ]; then
    off=${pre%%:*}
    len=${pre#*:}
    sum=$(dd if=$dev bs=1M skip="$off" count="$len" iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)
    echo "SCRESULT pre_md5=$sum"
fi

dd if=/dev/urandom of=/tmp/data bs=1M count=16 2>/dev/null || exit 1
echo "SCRESULT write_md5=$(md5sum /tmp/data | cut -d' ' -f1)"
dd if=/tmp/data of=$dev bs=1M oflag=direct conv=fsync 2>/dev/null || { echo "SCRESULT error=write_failed"; exit 1; }
sync
echo 3 >/proc/sys/vm/drop_caches
echo "SCRESULT read_md5=$(dd if=$dev bs=1M count=16 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)"
