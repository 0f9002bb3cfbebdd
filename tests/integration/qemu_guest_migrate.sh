#!/usr/bin/env bash
# Live migration of a Linux guest whose disk is a sidecored vhost-user-blk
# device, between two QEMU processes (TCG) on this machine. sidecored serves
# both: device "src" for QEMU A and device "dst" for QEMU B, on the same
# backing file (both marked shared).
#
# The guest (scripts/guest/progs/migrate_io.c) keeps writing known patterns
# to its disk and reading each back with O_DIRECT into a buffer that only
# the device writes, so QEMU learns of those writes only from sidecored's
# dirty log. The buffers sit low in guest memory with a filled pool above
# them; QEMU's first pass over memory runs at 16 MiB/s until it has sent
# every buffer page, the guest then refills every buffer twice and freezes
# the buffers (it keeps writing the disk), and the migration finishes at
# full speed. On B, after the host's "migrated" marker, the guest checks the
# buffers (a write the log missed leaves a stale page: with sidecored's log
# turned off, all 512 pages arrive stale), the disk and 32 more rounds; the
# host checks the backing file against every pattern the guest wrote.
#
# Everything happens within QEMU's first pass on purpose: with QEMU 7.2 under
# TCG here, a guest that keeps running through several iterations (bitmap
# syncs) arrives corrupted even with QEMU's own virtio-blk and no vhost-user
# at all, so the guest never runs past the sync that ends the first pass.
#
# The guest also has a vhost-user NIC (device nsrc on A, ndst on B, on one
# switch): after the migration QEMU B asks ndst to announce the guest's MAC
# (SEND_RARP, for guests without GUEST_ANNOUNCE), which must go out.
# Usage: qemu_guest_migrate.sh BUILD_DIR
set -u
GUEST_MAC=52:54:00:5c:0d:01
command -v jq >/dev/null || { echo "FAIL: jq not found (scripts/install-deps.sh test)"; exit 1; }
BUILD=${1:?usage: qemu_guest_migrate.sh BUILD_DIR}
DAEMON=$BUILD/sidecored
[ -x "$DAEMON" ] || { echo "FAIL: $DAEMON not built"; exit 1; }
command -v socat >/dev/null || { echo "FAIL: socat not installed (run: scripts/install-deps.sh test)"; exit 1; }
TMP=$(mktemp -d /tmp/guest-migrate.XXXXXX)
DAEMON_PID= QA_PID= QB_PID=
stop_pid() {
    [ -n "$1" ] || return 0
    kill "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}
cleanup() {
    stop_pid "$QA_PID"
    stop_pid "$QB_PID"
    stop_pid "$DAEMON_PID"
    rm -rf "$TMP"
}
trap cleanup EXIT
dump_backend_log() { [ -f "$TMP/daemon.log" ] && cat "$TMP/daemon.log"; }
# shellcheck source=lib/guest_common.sh
. "$(dirname "$0")/lib/guest_common.sh"

SLOTS=32
MARK_BLOCK=2048
RAM_BYTES=$((512 << 20))
SA=$TMP/serialA.log
SB=$TMP/serialB.log

# Both consoles matter here (the guest moves from A to B).
fail() {
    local f
    echo "FAIL: $*"
    for f in "$SA" "$SB"; do
        [ -f "$f" ] || continue
        echo "--- last 30 lines of $(basename "$f") ---"
        tail -n 30 "$f" | tr -d '\r'
    done
    echo "--- sidecored log (last 40 lines) ---"
    dump_backend_log | tail -n 40
    exit 1
}

# hmp SOCKET COMMAND [WAIT]: one human-monitor command, its output on
# stdout; WAIT (default 0.3) is how long socat waits for the answer after
# sending it.
hmp() {
    printf '%s\n' "$2" | timeout 10 socat -t "${3:-0.3}" - UNIX-CONNECT:"$1" 2>/dev/null |
        tr -d '\r'
}

# rounds_on SERIAL_LOG: the last round count the guest reported there.
rounds_on() {
    local n
    n=$(cat "$1" 2>/dev/null | tr -d '\r' | sed -n 's/^SCPROGRESS round=//p' | tail -n 1)
    echo "${n:-0}"
}

# info_migrate FIELD: a field of QEMU A's "info migrate" (e.g. "dirty sync count").
# A monitor that answers later than hmp waits (a loaded machine) gives an
# answer without the status line: asked again, up to 10 times, waiting
# longer each time (0.3 s every time was not enough once, with the
# machine busy: the status came back empty and was taken for a change).
info_migrate() {
    local out i w=0.3
    for i in 1 2 3 4 5 6 7 8 9 10; do
        out=$(hmp "$TMP/monA.sock" "info migrate" "$w")
        case $out in *"Migration status:"*) break ;; esac
        w=$i
    done
    printf '%s\n' "$out" | sed -n "s/^$1: *//p" | tail -n 1
}

# wait_for SECONDS WHAT CMD...: polls CMD every 0.5 s; fails with WHAT.
wait_for() {
    local secs=$1 what=$2 i
    shift 2
    for i in $(seq $((secs * 2))); do
        "$@" && return 0
        sleep 0.5
    done
    fail "$what (waited $secs s)"
}

# start_qemu NAME SOCKET SERIAL [EXTRA...]: one QEMU in the background,
# bounded by GUEST_TIMEOUT; its pid in QEMU_PID.
start_qemu() {
    local name=$1 sock=$2 serial=$3 nsock=$4
    shift 4
    timeout -k 5 "$GUEST_TIMEOUT" "$QEMU" -accel tcg -M q35 -cpu max -m 512M -smp 1 \
        -object memory-backend-memfd,id=mem,size=512M,share=on -numa node,memdev=mem \
        -chardev socket,id=c0,path="$sock" -device vhost-user-blk-pci,chardev=c0,num-queues=1 \
        -chardev socket,id=c1,path="$nsock" -netdev vhost-user,id=n0,chardev=c1 \
        -device virtio-net-pci,netdev=n0,mac=$GUEST_MAC,vectors=0 \
        -kernel "$GUEST_DIR/vmlinuz" -initrd "$GUEST_DIR/initrd.gz" \
        -append "console=ttyS0 panic=-1 quiet sc.test=migrate" \
        -nodefaults -display none -no-reboot -serial file:"$serial" \
        -monitor unix:"$TMP/mon$name.sock",server=on,wait=off "$@" \
        </dev/null >"$TMP/qemu$name.out" 2>&1 &
    QEMU_PID=$!
}

alive() { kill -0 "$1" 2>/dev/null; }
guest_error() { cat "$1" 2>/dev/null | tr -d '\r' | grep -m1 "^SCRESULT error="; }
# Progress on A, or a reason to stop waiting.
a_has_rounds() {
    alive "$QA_PID" || fail "QEMU A exited early: $(tail -n 3 "$TMP/qemuA.out")"
    [ -z "$(guest_error "$SA")" ] || fail "guest on A: $(guest_error "$SA")"
    [ "$(rounds_on "$SA")" -ge "$1" ]
}
migration_is() {
    local st
    st=$(info_migrate "Migration status")
    case $st in failed | cancelled) fail "migration $st: $(hmp "$TMP/monA.sock" "info migrate")" ;; esac
    [ "$st" = "$1" ]
}
# in_first_pass: the migration runs and QEMU has not synced its dirty
# bitmap since the start (the sync that ends the first pass is the second).
in_first_pass() {
    local n st
    st=$(info_migrate "Migration status")
    case $st in active | setup) ;; *) fail "the migration left 'active' ($st) too early" ;; esac
    n=$(info_migrate "dirty sync count")
    [ "${n:-1}" -le 1 ] || fail "QEMU finished its first pass too early (dirty sync count $n)"
}
# past_buffers: QEMU's first pass has sent every page up to BUF_TOP (it
# walks memory upwards; what it has not sent yet is "remaining").
past_buffers() {
    local kb
    a_has_rounds 0
    in_first_pass
    kb=$(info_migrate "remaining ram" | sed -n 's/^\([0-9]*\) kbytes$/\1/p')
    [ -n "$kb" ] && [ $((kb * 1024)) -le $((RAM_BYTES - BUF_TOP)) ]
}
frozen() {
    a_has_rounds 0
    [ -n "$(guest_result frozen_at "$SA")" ]
}
# marker TEXT: what the guest finds at 8 MiB on its disk.
marker() {
    printf '%s' "$1" | dd of="$IMG" bs=4096 seek="$MARK_BLOCK" conv=notrunc,fsync status=none
}
# a_rounds_in_first_pass N: the guest did N rounds, QEMU is still in its first pass.
a_rounds_in_first_pass() {
    a_has_rounds "$1" || return 1
    in_first_pass
}

guest_require
IMG=$TMP/disk.img
truncate -s "$GUEST_IMG_SIZE" "$IMG"
"$DAEMON" --no-default --runtime-dir "$TMP" --rpc "$TMP/rpc.sock" \
    --blk "name=src,socket=$TMP/src.sock,backend=file,path=$IMG,shared=on" \
    --blk "name=dst,socket=$TMP/dst.sock,backend=file,path=$IMG,shared=on" \
    --switch name=sw0 --net "name=nsrc,socket=$TMP/nsrc.sock,switch=sw0,mac=$GUEST_MAC" \
    --net "name=ndst,socket=$TMP/ndst.sock,switch=sw0,mac=$GUEST_MAC" \
    >"$TMP/daemon.log" 2>&1 &
DAEMON_PID=$!
guest_wait_socket "$TMP/src.sock" "$DAEMON_PID" sidecored
guest_wait_socket "$TMP/dst.sock" "$DAEMON_PID" sidecored

echo "+ QEMU A boots the guest on device src"
start_qemu A "$TMP/src.sock" "$SA" "$TMP/nsrc.sock"
QA_PID=$QEMU_PID
wait_for 180 "the guest on A did not start writing" a_has_rounds 2

echo "+ QEMU B waits for the migration on device dst"
start_qemu B "$TMP/dst.sock" "$SB" "$TMP/ndst.sock" -incoming unix:"$TMP/mig.sock"
QB_PID=$QEMU_PID
wait_for 60 "QEMU B did not listen for the migration" test -S "$TMP/mig.sock"
alive "$QB_PID" || fail "QEMU B exited: $(tail -n 3 "$TMP/qemuB.out")"

BUF_TOP=$(guest_result buf_top "$SA")
[ -n "$BUF_TOP" ] || fail "the guest did not report where its buffers are"
echo "+ the guest's buffers end at guest-physical $((BUF_TOP >> 20)) MiB"
# A downtime limit of 20 s makes QEMU switch over at the first bitmap sync
# after the first pass, whatever the guest dirtied meanwhile.
hmp "$TMP/monA.sock" "migrate_set_parameter downtime-limit 20000" >/dev/null
hmp "$TMP/monA.sock" "migrate_set_parameter max-bandwidth 16M" >/dev/null
hmp "$TMP/monA.sock" "migrate -d unix:$TMP/mig.sock" >/dev/null
wait_for 240 "QEMU's first pass did not get past the guest's buffers" past_buffers
r0=$(rounds_on "$SA")
wait_for 120 "the guest did not keep writing while the migration ran" \
    a_rounds_in_first_pass $((r0 + 2 * SLOTS))
marker SCFREEZE
wait_for 60 "the guest did not freeze its buffers" frozen
in_first_pass
FROZEN=$(guest_result frozen_at "$SA")
echo "+ the guest refilled its buffers from round $r0 to $FROZEN after QEMU had sent them; finishing the migration"
hmp "$TMP/monA.sock" "migrate_set_parameter max-bandwidth 1G" >/dev/null
wait_for 300 "the migration did not complete" migration_is completed
[ "$(info_migrate "dirty sync count")" -le 3 ] ||
    fail "QEMU iterated past its first pass ($(info_migrate "dirty sync count") bitmap syncs)"
ra=$(rounds_on "$SA")
hmp "$TMP/monA.sock" "info migrate" | grep -E "^(total time|downtime|transferred ram|dirty sync count)"
echo "+ migration completed; the guest had reported $ra rounds on A"
grep -q "src: dirty logging on" "$TMP/daemon.log" ||
    fail "QEMU A never turned on dirty logging on device src"
announced() { [ "$(timeout 15 "$BUILD/sidecorectl" -s "$TMP/rpc.sock" --json net-stats ndst | jq .announced)" -ge 1 ]; }
wait_for 30 "device ndst did not announce the guest's MAC (SEND_RARP)" announced
grep -q "fails to broadcast fake RARP" "$TMP/qemuB.out" &&
    fail "QEMU B says the backend failed to broadcast the RARP"
echo "+ device ndst announced $GUEST_MAC for QEMU B"

marker SCMIGRATED
hmp "$TMP/monA.sock" "quit" >/dev/null
wait_for 30 "QEMU A did not quit" eval '! alive "$QA_PID"'
wait "$QA_PID" 2>/dev/null
QA_PID=

echo "+ waiting for the guest on B to verify and power off"
rc=0
wait "$QB_PID" || rc=$?
QB_PID=
[ "$rc" -eq 124 ] && fail "the guest on B did not power off within ${GUEST_TIMEOUT} s"
[ "$rc" -eq 0 ] || fail "QEMU B exited with status $rc: $(tail -n 3 "$TMP/qemuB.out")"

res() { guest_result "$1" "$SB"; }
[ -n "$(res exit)" ] || fail "the guest never reported its result on B"
[ -z "$(res error)" ] || fail "guest error on B: $(res error)"
[ "$(res exit)" = 0 ] || fail "the guest test exited $(res exit)"
echo "guest: frozen_at=$FROZEN migrated_after=$(res migrated_after) buf_bad=$(res buf_bad) ($(res buf_bad_pages) pages) disk_bad=$(res disk_bad) post_bad=$(res post_bad) rounds=$(res rounds)"
[ "$(res buf_bad)" = 0 ] ||
    fail "$(res buf_bad) buffers ($(res buf_bad_pages) pages) the device wrote on A arrived stale on B: the dirty log missed them"
[ "$(res disk_bad)" = 0 ] || fail "$(res disk_bad) slots read back wrong on B"
[ "$(res post_bad)" = 0 ] || fail "$(res post_bad) slots written on B read back wrong"
R=$(res rounds)
[ "$(res migrated_after)" -ge "$ra" ] || fail "the guest on B reports $(res migrated_after) rounds, A saw $ra"
[ "$R" -ge $((ra + SLOTS)) ] || fail "the guest reports $R rounds, expected at least $((ra + SLOTS))"

# The host's view of the file: each slot holds the last pattern written to it.
bad=0
for s in $(seq 0 $((SLOTS - 1))); do
    last=$(( (R - 1 - s) / SLOTS * SLOTS + s ))
    want=$(yes "sidecore migrate round $last slot $s" | head -c 65536 | md5sum | cut -d' ' -f1)
    got=$(dd if="$IMG" bs=64k skip="$s" count=1 status=none | md5sum | cut -d' ' -f1)
    [ "$want" = "$got" ] || { echo "slot $s: file does not hold round $last"; bad=$((bad + 1)); }
done
[ "$bad" -eq 0 ] || fail "$bad slots of the backing file differ from what the guest wrote"

alive "$DAEMON_PID" || fail "sidecored died"
grep -q "device stopped" "$TMP/daemon.log" && fail "sidecored stopped a device"
guest_stop_daemon
echo "PASS: the guest migrated from device src to device dst with its disk and memory intact ($R rounds; buffers refilled from round $r0 to $FROZEN after QEMU had sent them)"
