#!/usr/bin/env bash
# Headline test: a real Linux guest under QEMU (TCG) uses a sidecored
# vhost-user-blk device as /dev/vda. The guest writes 16 MiB of random data
# with O_DIRECT and reads it back; its checksums must equal each other and
# the host file's, and a region the host filled before boot must read back
# unchanged in the guest. qemu_guest_blk_qsd.sh runs the same guest against
# qemu-storage-daemon.
# Usage: qemu_guest_blk.sh BUILD_DIR
set -u
BUILD=${1:?usage: qemu_guest_blk.sh BUILD_DIR}
DAEMON=$BUILD/sidecored
[ -x "$DAEMON" ] || { echo "FAIL: $DAEMON not built"; exit 1; }
TMP=$(mktemp -d /tmp/guest-blk.XXXXXX)
DAEMON_PID=
dump_backend_log() { [ -f "$TMP/daemon.log" ] && cat "$TMP/daemon.log"; }
# shellcheck source=lib/guest_common.sh
. "$(dirname "$0")/lib/guest_common.sh"
trap guest_cleanup EXIT

guest_require
IMG=$TMP/disk0.img
guest_image "$IMG"
"$DAEMON" --no-default --runtime-dir "$TMP" --rpc "$TMP/rpc.sock" \
    --blk "name=disk0,socket=$TMP/disk0.sock,backend=file,path=$IMG,size=$GUEST_IMG_SIZE,queues=2" \
    >"$TMP/daemon.log" 2>&1 &
DAEMON_PID=$!
guest_wait_socket "$TMP/disk0.sock" "$DAEMON_PID" sidecored
guest_boot "$TMP/disk0.sock" 2
kill -0 "$DAEMON_PID" 2>/dev/null || fail "sidecored died while serving the guest"
guest_stop_daemon
[ ! -e "$TMP/disk0.sock" ] || fail "sidecored left $TMP/disk0.sock behind after SIGTERM"
guest_check "$IMG"
echo "PASS: guest I/O through sidecored matches the host file"
