#!/usr/bin/env bash
# A real Linux guest under QEMU (TCG) whose vhost-user-blk disk is remote:
# the vmhost sidecored (namespace qgr-vm) serves the disk to QEMU and
# forwards every request over UDP through a veth pair to an iohost
# sidecored (namespace qgr-io) that keeps it in a file. The guest writes
# 16 MiB with O_DIRECT and reads it back; its checksums must equal each
# other and the iohost's file, a region filled before boot must read back
# unchanged, and the iohost must report the guest's bytes as served by it.
# QEMU runs in the root namespace (the vhost-user socket is a file).
# Usage: qemu_guest_blk_remote.sh BUILD_DIR
set -u
BUILD=${1:?usage: qemu_guest_blk_remote.sh BUILD_DIR}
DAEMON=$BUILD/sidecored
CTL=$BUILD/sidecorectl
for b in "$DAEMON" "$CTL"; do
    [ -x "$b" ] || { echo "FAIL: $b not built"; exit 1; }
done
for t in ip jq timeout; do
    command -v $t >/dev/null || { echo "FAIL: $t not found (scripts/install-deps.sh test)"; exit 1; }
done
[ "$(id -u)" -eq 0 ] || { echo "FAIL: network namespaces need root"; exit 1; }
TMP=$(mktemp -d /tmp/guest-blk-remote.XXXXXX)
NS_VM=qgr-vm
NS_IO=qgr-io
IO_PID=
VM_PID=
stop_daemon() { # PID: SIGTERM, up to 10 s, then SIGKILL
    kill -TERM "$1" 2>/dev/null
    timeout 10 tail --pid="$1" -f /dev/null 2>/dev/null || kill -KILL "$1" 2>/dev/null
}
cleanup() {
    [ -n "$VM_PID" ] && stop_daemon "$VM_PID"
    [ -n "$IO_PID" ] && stop_daemon "$IO_PID"
    ip netns del "$NS_VM" 2>/dev/null
    ip netns del "$NS_IO" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT
dump_backend_log() {
    local f
    for f in "$TMP/vmhost.log" "$TMP/iohost.log"; do
        [ -f "$f" ] && sed "s|^|$(basename "$f" .log): |" "$f"
    done
}
# shellcheck source=lib/guest_common.sh
. "$(dirname "$0")/lib/guest_common.sh"

guest_require
IMG=$TMP/disk0.img
guest_image "$IMG"

for n in "$NS_VM" "$NS_IO"; do
    ip netns del "$n" 2>/dev/null
    ip netns add "$n" || fail "cannot create namespace $n"
    ip -n "$n" link set lo up
done
ip link add qgr-v type veth peer name qgr-i || fail "cannot create the veth pair"
ip link set qgr-v netns "$NS_VM"
ip link set qgr-i netns "$NS_IO"
ip -n "$NS_VM" addr add 10.78.0.1/24 dev qgr-v
ip -n "$NS_IO" addr add 10.78.0.2/24 dev qgr-i
ip -n "$NS_VM" link set qgr-v up
ip -n "$NS_IO" link set qgr-i up

# wait_ready LOG PID WHAT: up to 10 s for sidecored's ready line.
wait_ready() {
    local _
    for _ in $(seq 100); do
        grep -q "sidecored: ready" "$1" && return 0
        kill -0 "$2" 2>/dev/null || fail "$3 exited at start-up"
        sleep 0.1
    done
    fail "$3 not ready within 10 s"
}
ip netns exec "$NS_IO" "$DAEMON" --no-default --runtime-dir "$TMP/io" --rpc "$TMP/io.rpc" \
    --log-level info --listen 0.0.0.0:7400 --export "name=disk0,path=$IMG" \
    >"$TMP/iohost.out" 2>"$TMP/iohost.log" &
IO_PID=$!
wait_ready "$TMP/iohost.log" "$IO_PID" "the iohost sidecored"
ip netns exec "$NS_VM" "$DAEMON" --no-default --runtime-dir "$TMP/vm" --rpc "$TMP/vm.rpc" \
    --log-level info \
    --blk "name=disk0,socket=$TMP/disk0.sock,backend=remote,server=10.78.0.2:7400,export=disk0,queues=2" \
    >"$TMP/vmhost.out" 2>"$TMP/vmhost.log" &
VM_PID=$!
wait_ready "$TMP/vmhost.log" "$VM_PID" "the vmhost sidecored"
guest_wait_socket "$TMP/disk0.sock" "$VM_PID" "the vmhost sidecored"

guest_boot "$TMP/disk0.sock" 2
kill -0 "$VM_PID" 2>/dev/null || fail "the vmhost sidecored died while serving the guest"
kill -0 "$IO_PID" 2>/dev/null || fail "the iohost sidecored died while serving the guest"
peers=$(timeout 15 "$CTL" -s "$TMP/vm.rpc" --json peers) || fail "sidecorectl peers failed"
# The guest is gone, so no queue is open: the state is idle (no guess at
# the iohost's), and the iohost has answered.
echo "$peers" | jq -e '.[0].state == "idle" and .[0].last_rx_ms >= 0 and .[0].failovers == 0 and
    .[0].fallback_requests == 0 and .[0].failed_requests == 0' >/dev/null ||
    fail "the remote device did not stay connected: $peers"
written=$(timeout 15 "$CTL" -s "$TMP/io.rpc" --json exports |
    jq '.exports[] | select(.name == "disk0") | .bytes_written')
[ "${written:-0}" -ge $((GUEST_WRITE_MIB << 20)) ] ||
    fail "the iohost wrote ${written:-no} bytes, less than the guest's $GUEST_WRITE_MIB MiB"
echo "iohost: $written bytes written for the guest; vmhost stayed connected"
for who in VM IO; do
    pid_var=${who}_PID
    kill -TERM "${!pid_var}"
    rc=0
    timeout 10 tail --pid="${!pid_var}" -f /dev/null || fail "sidecored ($who) still running 10 s after SIGTERM"
    wait "${!pid_var}" || rc=$?
    [ "$rc" -eq 0 ] || fail "sidecored ($who) exited with status $rc after SIGTERM"
    eval "$pid_var="
done
guest_check "$IMG"
echo "PASS: a guest's remote disk (vmhost -> iohost over UDP) matches the iohost's file"
