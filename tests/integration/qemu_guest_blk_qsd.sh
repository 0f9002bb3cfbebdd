#!/usr/bin/env bash
# The guest of qemu_guest_blk.sh against the reference backend,
# qemu-storage-daemon: proves the guest and its checks are right, so a
# failure of qemu_guest_blk.sh points at sidecored.
# Usage: qemu_guest_blk_qsd.sh BUILD_DIR
set -u
BUILD=${1:?usage: qemu_guest_blk_qsd.sh BUILD_DIR}
QSD=$(command -v qemu-storage-daemon || true)
if [ -z "$QSD" ]; then
    echo "FAIL: qemu-storage-daemon not installed (run: scripts/install-deps.sh test)"
    exit 1
fi
TMP=$(mktemp -d /tmp/guest-qsd.XXXXXX)
QSD_PID=
cleanup() {
    if [ -n "$QSD_PID" ]; then
        kill "$QSD_PID" 2>/dev/null
        wait "$QSD_PID" 2>/dev/null
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
dump_backend_log() { [ -f "$TMP/qsd.log" ] && cat "$TMP/qsd.log"; }
# shellcheck source=lib/guest_common.sh
. "$(dirname "$0")/lib/guest_common.sh"

guest_require
IMG=$TMP/disk0.img
guest_image "$IMG"
"$QSD" --blockdev "driver=file,node-name=f0,filename=$IMG,cache.direct=off" \
    --export "type=vhost-user-blk,id=e0,node-name=f0,addr.type=unix,addr.path=$TMP/disk0.sock,writable=on,num-queues=2" \
    >"$TMP/qsd.log" 2>&1 &
QSD_PID=$!
guest_wait_socket "$TMP/disk0.sock" "$QSD_PID" qemu-storage-daemon
guest_boot "$TMP/disk0.sock" 2
kill "$QSD_PID"
wait "$QSD_PID" 2>/dev/null
QSD_PID=
guest_check "$IMG"
echo "PASS: guest I/O through qemu-storage-daemon matches the host file"
