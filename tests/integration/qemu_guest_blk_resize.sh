#!/usr/bin/env bash
# Growing a disk under a running Linux guest: the guest (scripts/guest/tests/
# resize.sh) sees its 64 MiB vhost-user-blk disk, the host runs `sidecorectl
# resize disk0 96M`; sidecored grows the file and sends CONFIG_CHANGE_MSG on
# the backend channel (BACKEND_REQ), QEMU re-reads the config and interrupts
# the guest, whose kernel must report the new size. The guest then writes
# the last MiB (past the old end) and reads it back; the host file must hold
# what it wrote there.
# Usage: qemu_guest_blk_resize.sh BUILD_DIR
set -u
BUILD=${1:?usage: qemu_guest_blk_resize.sh BUILD_DIR}
DAEMON=$BUILD/sidecored
CTL=$BUILD/sidecorectl
for b in "$DAEMON" "$CTL"; do
    [ -x "$b" ] || { echo "FAIL: $b not built"; exit 1; }
done
TMP=$(mktemp -d /tmp/guest-resize.XXXXXX)
DAEMON_PID=
QEMU_PID=
dump_backend_log() { [ -f "$TMP/daemon.log" ] && cat "$TMP/daemon.log"; }
# shellcheck source=lib/guest_common.sh
. "$(dirname "$0")/lib/guest_common.sh"
trap guest_cleanup EXIT

guest_require
IMG=$TMP/disk0.img
truncate -s 64M "$IMG"
"$DAEMON" --no-default --runtime-dir "$TMP" --rpc "$TMP/rpc.sock" \
    --blk "name=disk0,socket=$TMP/disk0.sock,backend=file,path=$IMG" \
    >"$TMP/daemon.log" 2>&1 &
DAEMON_PID=$!
guest_wait_socket "$TMP/disk0.sock" "$DAEMON_PID" sidecored

echo "+ booting the guest (TCG, up to ${GUEST_TIMEOUT} s)"
guest_qemu "$TMP/serial.log" resize "" \
    -chardev socket,id=c0,path="$TMP/disk0.sock" -device vhost-user-blk-pci,chardev=c0 &
QEMU_PID=$!
for _ in $(seq 1800); do
    [ -n "$(guest_result size)" ] && break
    kill -0 "$QEMU_PID" 2>/dev/null || fail "QEMU exited before the guest saw its disk"
    sleep 0.1
done
[ "$(guest_result size)" = $((64 << 20)) ] || fail "the guest sees '$(guest_result size)' bytes, expected 64 MiB"

echo "+ sidecorectl resize disk0 96M"
timeout 15 "$CTL" -s "$TMP/rpc.sock" resize disk0 96M >"$TMP/resize.out" 2>&1 ||
    fail "sidecorectl resize failed: $(cat "$TMP/resize.out")"
cat "$TMP/resize.out"
grep -q "frontend was told" "$TMP/resize.out" || fail "QEMU was not told of the new size"
[ "$(stat -c %s "$IMG")" = $((96 << 20)) ] || fail "the file is $(stat -c %s "$IMG") bytes, expected 96 MiB"
timeout 15 "$CTL" -s "$TMP/rpc.sock" resize disk0 32M >"$TMP/shrink.out" 2>&1 &&
    fail "shrinking a disk under its guest was accepted"
grep -q "only growing" "$TMP/shrink.out" || fail "shrink refused without saying why: $(cat "$TMP/shrink.out")"
timeout 15 "$CTL" -s "$TMP/rpc.sock" resize disk0 lots >"$TMP/bad.out" 2>&1 &&
    fail "a size of 'lots' was accepted"
grep -q "params.size" "$TMP/bad.out" || fail "a bad size refused without saying why: $(cat "$TMP/bad.out")"
timeout 15 "$CTL" -s "$TMP/rpc.sock" resize nosuch 1G >"$TMP/bad.out" 2>&1 &&
    fail "resizing a device that does not exist was accepted"
grep -q "no device named nosuch" "$TMP/bad.out" || fail "unknown device refused without saying why: $(cat "$TMP/bad.out")"

rc=0
wait "$QEMU_PID" || rc=$?
QEMU_PID=
[ "$rc" -eq 124 ] && fail "the guest did not power off within ${GUEST_TIMEOUT} s"
[ "$rc" -eq 0 ] || fail "QEMU exited with status $rc"
[ -z "$(guest_result error)" ] || fail "guest error: $(guest_result error)"
[ "$(guest_result exit)" = 0 ] || fail "the guest test exited '$(guest_result exit)'"
NEW=$(guest_result new_size)
[ "$NEW" = $((96 << 20)) ] || fail "the guest sees '$NEW' bytes after the resize, expected 96 MiB"
W=$(guest_result write_md5)
R=$(guest_result read_md5)
H=$(dd if="$IMG" bs=1M skip=95 count=1 status=none | md5sum | cut -d' ' -f1)
echo "guest wrote $W, read $R; host file has $H at its last MiB"
[ -n "$W" ] && [ "$W" = "$R" ] && [ "$W" = "$H" ] || fail "the last MiB does not hold what the guest wrote"
kill -0 "$DAEMON_PID" 2>/dev/null || fail "sidecored died"
guest_stop_daemon
echo "PASS: the guest saw its disk grow from 64 to 96 MiB and used the new space"
