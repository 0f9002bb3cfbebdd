#!/usr/bin/env bash
# A real Linux guest drives sidecored's vhost-user-blk device over packed
# virtqueues (QEMU's packed=on; Linux's virtio_ring negotiates
# VIRTIO_F_RING_PACKED): the same write/read-back checks as qemu_guest_blk.sh.
# Besides the data checks, sidecored's log must show that packed rings were
# negotiated and no device failure.
# Usage: qemu_guest_blk_packed.sh BUILD_DIR
set -u
BUILD=${1:?usage: qemu_guest_blk_packed.sh BUILD_DIR}
DAEMON=$BUILD/sidecored
[ -x "$DAEMON" ] || { echo "FAIL: $DAEMON not built"; exit 1; }
TMP=$(mktemp -d /tmp/guest-blk-packed.XXXXXX)
DAEMON_PID=
dump_backend_log() { [ -f "$TMP/daemon.log" ] && cat "$TMP/daemon.log"; }
# shellcheck source=lib/guest_common.sh
. "$(dirname "$0")/lib/guest_common.sh"
trap guest_cleanup EXIT

guest_require
IMG=$TMP/disk0.img
guest_image "$IMG"
"$DAEMON" --no-default --runtime-dir "$TMP" --rpc "$TMP/rpc.sock" --log-level info \
    --blk "name=disk0,socket=$TMP/disk0.sock,backend=file,path=$IMG,size=$GUEST_IMG_SIZE,queues=2" \
    >"$TMP/daemon.log" 2>&1 &
DAEMON_PID=$!
guest_wait_socket "$TMP/disk0.sock" "$DAEMON_PID" sidecored
echo "+ booting the guest (TCG, packed rings, up to ${GUEST_TIMEOUT} s)"
guest_qemu "$TMP/serial.log" blk "sc.pre=$GUEST_PRE_OFF:$GUEST_PRE_LEN" -smp 2 \
    -chardev socket,id=c0,path="$TMP/disk0.sock" \
    -device vhost-user-blk-pci,chardev=c0,num-queues=2,packed=on
rc=$?
[ "$rc" -eq 124 ] && fail "the guest did not power off within ${GUEST_TIMEOUT} s"
[ "$rc" -eq 0 ] || fail "QEMU exited with status $rc"
kill -0 "$DAEMON_PID" 2>/dev/null || fail "sidecored died while serving the guest"
grep -q "device failed" "$TMP/daemon.log" && fail "the device failed while serving the guest"
grep -q "disk0: features 0x[0-9a-f]* (packed rings" "$TMP/daemon.log" ||
    fail "the guest did not negotiate packed rings"
guest_stop_daemon
guest_check "$IMG"
echo "PASS: guest I/O over packed rings through sidecored matches the host file"
