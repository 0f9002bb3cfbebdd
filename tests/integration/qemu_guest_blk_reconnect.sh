#!/usr/bin/env bash
# sidecored crashes under a running Linux guest and comes back: the guest
# writes 16 MiB to its vhost-user-blk disk while sidecored is killed with
# SIGKILL, requests in flight; a new sidecored takes the socket, QEMU
# reconnects (chardev reconnect=1) and hands it the inflight area
# (VHOST_USER_SET_INFLIGHT_FD), the new daemon resubmits what was in flight,
# and the guest's checks (write, read back, host file) must still pass.
# A QoS stage (2 IOPS) holds requests inside the device while the guest
# writes, so a kill finds some in flight; a kill that found none (the held
# request completed in the moment before it) is repeated, up to 3 times.
# Runs over split and then packed rings.
# Then sidecored is killed and restarted before the guest has started its
# disk (QEMU paused with -S, as a migration's destination waits): QEMU
# reconnects without negotiating protocol features again, and the disk was
# refused for good when the driver started it (GET_INFLIGHT_FD).
# Last, sidecored is killed and restarted while the guest's driver is
# unbound from the disk; the driver binds again afterwards. QEMU, having
# negotiated CONFIGURE_MEM_SLOTS with the dead daemon, skipped the memory
# table for the new one and the bind hung.
# Usage: qemu_guest_blk_reconnect.sh BUILD_DIR
set -u
BUILD=${1:?usage: qemu_guest_blk_reconnect.sh BUILD_DIR}
DAEMON=$BUILD/sidecored
CTL=$BUILD/sidecorectl
for b in "$DAEMON" "$CTL"; do
    [ -x "$b" ] || { echo "FAIL: $b not built"; exit 1; }
done
command -v jq >/dev/null || { echo "FAIL: jq not found (scripts/install-deps.sh test)"; exit 1; }
TMP=$(mktemp -d /tmp/guest-blk-reconnect.XXXXXX)
DAEMON_PID=
QEMU_PID=
N=0 # daemon instances started; the current one logs to $TMP/daemon$N.log
dump_backend_log() { cat "$TMP"/daemon*.log 2>/dev/null; }
# shellcheck source=lib/guest_common.sh
. "$(dirname "$0")/lib/guest_common.sh"
trap guest_cleanup EXIT
# shellcheck source=lib/scd_common.sh
. "$(dirname "$0")/lib/scd_common.sh"

ctl() { timeout 15 "$CTL" -s "$TMP/rpc.sock" --json "$@"; }

# start_daemon: a new sidecored on the same socket and image.
start_daemon() {
    N=$((N + 1))
    "$DAEMON" --no-default --runtime-dir "$TMP" --rpc "$TMP/rpc.sock" --log-level "${LOG_LEVEL:-info}" \
        --blk "name=disk0,socket=$TMP/disk0.sock,backend=file,path=$IMG,size=$GUEST_IMG_SIZE" \
        >"$TMP/daemon$N.log" 2>&1 &
    DAEMON_PID=$!
    scd_wait_ready "sidecored #$N" "$TMP/daemon$N.log" "$DAEMON_PID"
}

deferred() { ctl stats disk0 | jq '[.interpose[]? | select(.type == "qos") | .deferred] | add // 0'; }

# hold_requests: QoS at 2 IOPS, then up to 60 s until it has held a request back.
hold_requests() {
    local _ d0
    ctl interpose disk0 '[{"type":"qos","iops":2,"iops_burst":1}]' >/dev/null ||
        fail "setting the QoS stage failed"
    d0=$(deferred)
    for _ in $(seq 600); do
        [ "$(deferred)" -gt "$d0" ] && return 0
        kill -0 "$QEMU_PID" 2>/dev/null || fail "QEMU exited while the guest was writing"
        sleep 0.1
    done
    fail "the guest's writes were never held by the QoS stage"
}

# resubmitted: up to 60 s for the current daemon to start the guest's queue
# on the inflight area; prints how many requests it resubmitted.
resubmitted() {
    local _ n
    for _ in $(seq 600); do
        n=$(sed -n 's/.*resubmitting \([0-9]*\) request.*/\1/p' "$TMP/daemon$N.log" | tail -n 1)
        if [ -n "$n" ]; then
            echo "$n"
            return 0
        fi
        if [ "$(ctl stats disk0 | jq .queues_started)" -gt 0 ]; then
            n=$(sed -n 's/.*resubmitting \([0-9]*\) request.*/\1/p' "$TMP/daemon$N.log" | tail -n 1)
            echo "${n:-0}"
            return 0
        fi
        kill -0 "$DAEMON_PID" 2>/dev/null || fail "sidecored #$N exited"
        sleep 0.1
    done
    fail "QEMU did not start the queue on sidecored #$N within 60 s"
}

# reconnected: up to 30 s for QEMU to connect to sidecored #2.
reconnected() {
    local _
    for _ in $(seq 300); do
        grep -q "frontend connected" "$TMP/daemon2.log" && return 0
        sleep 0.1
    done
    fail "QEMU did not reconnect to sidecored #2"
}

run_case() { # RING: split or packed
    local ring=$1 dev_opts="" try n rc
    [ "$ring" = packed ] && dev_opts=",packed=on"
    rm -f "$TMP"/daemon*.log "$TMP/serial.log"
    N=0
    IMG=$TMP/disk-$ring.img
    guest_image "$IMG"
    start_daemon
    echo "+ $ring rings: booting the guest (TCG, up to ${GUEST_TIMEOUT} s)"
    guest_qemu "$TMP/serial.log" blk "sc.pre=$GUEST_PRE_OFF:$GUEST_PRE_LEN" \
        -chardev socket,id=c0,path="$TMP/disk0.sock",reconnect=1 \
        -device vhost-user-blk-pci,chardev=c0,num-queues=1"$dev_opts" &
    QEMU_PID=$!
    for _ in $(seq $((GUEST_TIMEOUT * 10))); do
        grep -q "SCRESULT write_md5" "$TMP/serial.log" 2>/dev/null && break
        kill -0 "$QEMU_PID" 2>/dev/null || fail "QEMU exited before the guest started writing"
        sleep 0.1
    done
    grep -q "SCRESULT write_md5" "$TMP/serial.log" || fail "the guest never started writing"
    n=0
    for try in 1 2 3; do
        hold_requests
        kill -KILL "$DAEMON_PID"
        wait "$DAEMON_PID" 2>/dev/null
        echo "+ $ring rings: sidecored #$N killed with the guest's writes held; starting #$((N + 1))"
        start_daemon
        n=$(resubmitted)
        echo "+ sidecored #$N resubmitted $n request(s) (try $try)"
        [ "$n" -gt 0 ] && break
    done
    [ "$n" -gt 0 ] || fail "3 kills found no request in flight"
    ctl interpose disk0 '[]' >/dev/null || fail "removing the QoS stage failed"
    rc=0
    wait "$QEMU_PID" || rc=$?
    QEMU_PID=
    [ "$rc" -eq 124 ] && fail "the guest did not power off within ${GUEST_TIMEOUT} s"
    [ "$rc" -eq 0 ] || fail "QEMU exited with status $rc"
    grep -q "device failed" "$TMP/daemon$N.log" && fail "the device failed after the restart"
    if [ "$ring" = packed ]; then
        grep -q "(packed rings" "$TMP/daemon$N.log" || fail "the guest did not negotiate packed rings"
    fi
    guest_stop_daemon
    guest_check "$IMG"
}

# paused_case: the restart comes before the guest boots.
paused_case() {
    local _ rc
    rm -f "$TMP"/daemon*.log "$TMP/serial.log"
    N=0
    IMG=$TMP/disk-paused.img
    guest_image "$IMG"
    LOG_LEVEL=debug start_daemon
    guest_qemu "$TMP/serial.log" blk "sc.pre=$GUEST_PRE_OFF:$GUEST_PRE_LEN" -S \
        -monitor unix:"$TMP/mon.sock",server=on,wait=off \
        -chardev socket,id=c0,path="$TMP/disk0.sock",reconnect=1 \
        -device vhost-user-blk-pci,chardev=c0,num-queues=1 &
    QEMU_PID=$!
    # GET_CONFIG ends QEMU's set-up of the device.
    for _ in $(seq 300); do
        grep -q "disk0: GET_CONFIG" "$TMP/daemon1.log" && [ -S "$TMP/mon.sock" ] && break
        kill -0 "$QEMU_PID" 2>/dev/null || fail "QEMU exited while paused"
        sleep 0.1
    done
    grep -q "disk0: GET_CONFIG" "$TMP/daemon1.log" || fail "paused QEMU never set the device up"
    kill -KILL "$DAEMON_PID"
    wait "$DAEMON_PID" 2>/dev/null
    echo "+ sidecored killed before the guest booted; starting #2, then the guest"
    start_daemon
    reconnected
    printf 'cont\n' | timeout 10 socat -t 1 - UNIX-CONNECT:"$TMP/mon.sock" >/dev/null ||
        fail "cannot resume QEMU through its monitor"
    rc=0
    wait "$QEMU_PID" || rc=$?
    QEMU_PID=
    [ "$rc" -eq 124 ] && fail "the guest did not power off within ${GUEST_TIMEOUT} s"
    [ "$rc" -eq 0 ] || fail "QEMU exited with status $rc"
    grep -q "device failed" "$TMP/daemon2.log" && fail "the device failed: $(grep "device failed" "$TMP/daemon2.log")"
    grep -q "goes on without negotiating protocol features" "$TMP/daemon2.log" ||
        fail "QEMU negotiated again after the restart: the case did not happen"
    guest_stop_daemon
    guest_check "$IMG"
}

# unbound_case: the restart comes while the guest's driver is unbound; the
# guest binds again when a line comes on its console.
unbound_case() {
    local _ rc
    rm -f "$TMP"/daemon*.log "$TMP/serial.log"
    N=0
    IMG=$TMP/disk-unbound.img
    guest_image "$IMG"
    start_daemon
    mkfifo "$TMP/console.fifo"
    exec 7<>"$TMP/console.fifo"
    GUEST_STDIN=$TMP/console.fifo guest_qemu "$TMP/serial.log" rebind \
        "sc.pre=$GUEST_PRE_OFF:$GUEST_PRE_LEN" \
        -chardev socket,id=c0,path="$TMP/disk0.sock",reconnect=1 \
        -device vhost-user-blk-pci,chardev=c0,num-queues=1 &
    QEMU_PID=$!
    for _ in $(seq $((GUEST_TIMEOUT * 10))); do
        grep -q "SCRESULT unbound=" "$TMP/serial.log" 2>/dev/null && break
        kill -0 "$QEMU_PID" 2>/dev/null || fail "QEMU exited before the guest unbound its driver"
        sleep 0.1
    done
    grep -q "SCRESULT unbound=" "$TMP/serial.log" || fail "the guest never unbound its driver"
    kill -KILL "$DAEMON_PID"
    wait "$DAEMON_PID" 2>/dev/null
    echo "+ sidecored killed with the guest's driver unbound; starting #2"
    start_daemon
    reconnected
    echo go >&7
    rc=0
    wait "$QEMU_PID" || rc=$?
    QEMU_PID=
    exec 7>&-
    [ "$rc" -eq 124 ] && fail "the guest did not power off within ${GUEST_TIMEOUT} s (bind hung?)"
    [ "$rc" -eq 0 ] || fail "QEMU exited with status $rc"
    [ -n "$(guest_result rebound)" ] || fail "the guest did not bind its driver again"
    grep -q "device failed" "$TMP/daemon2.log" && fail "the device failed: $(grep "device failed" "$TMP/daemon2.log")"
    guest_stop_daemon
    guest_check "$IMG"
}

guest_require
run_case split
run_case packed
paused_case
unbound_case
echo "PASS: the guest's disk survived sidecored being killed with requests in flight (split and packed rings), before the guest booted and while its driver was unbound"
