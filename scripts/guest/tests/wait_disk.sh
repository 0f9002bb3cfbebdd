#!/bin/sh
# Used by the other guest tests: waits up to 20 s for the block device $1
# (default /dev/vda; it appears asynchronously after virtio_blk probes),
# then reports its size. Exit 1 (with an error line) when it never came.
dev=${1:-/dev/vda}
i=0
while [ ! -b "$dev" ] && [ $i -lt 200 ]; do
    sleep 0.1
    i=$((i + 1))
done
if [ ! -b "$dev" ]; then
    echo "SCRESULT error=no_$dev"
    ls /sys/bus/virtio/devices/ 2>/dev/null | sed 's/^/SCRESULT virtio_device=/'
    exit 1
fi
echo "SCRESULT size=$(blockdev --getsize64 "$dev")"
