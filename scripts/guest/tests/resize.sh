#!/bin/sh
# Guest side of tests/integration/qemu_guest_blk_resize.sh: reports the
# disk's size, waits (60 s at most) for the host to grow it under us,
# reports the new size, then writes 1 MiB of random data into the last MiB
# (beyond the old end) with O_DIRECT, reads it back and prints both
# checksums.
dev=/dev/vda
/tests/wait_disk.sh $dev || exit 1
old=$(blockdev --getsize64 $dev)
i=0
while [ "$(blockdev --getsize64 $dev)" = "$old" ] && [ $i -lt 600 ]; do
    sleep 0.1
    i=$((i + 1))
done
new=$(blockdev --getsize64 $dev)
echo "SCRESULT new_size=$new"
[ "$new" != "$old" ] || { echo "SCRESULT error=size_unchanged_after_60s"; exit 1; }
last=$((new / 1048576 - 1))
dd if=/dev/urandom of=/tmp/data bs=1M count=1 2>/dev/null || exit 1
echo "SCRESULT write_md5=$(md5sum /tmp/data | cut -d' ' -f1)"
dd if=/tmp/data of=$dev bs=1M seek=$last oflag=direct conv=fsync 2>/dev/null ||
    { echo "SCRESULT error=write_past_old_end_failed"; exit 1; }
echo "SCRESULT read_md5=$(dd if=$dev bs=1M skip=$last count=1 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)"
