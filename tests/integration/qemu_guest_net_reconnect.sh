#!/usr/bin/env bash
# sidecored crashes or restarts under a Linux guest's running NIC: the
# guest sends several MB over TCP to a listener on the host's tap port of
# sidecored's switch, and then takes as much back. sidecored is killed
# with SIGKILL in the middle of the first transfer, and in the middle of
# the second, which is later also interrupted by an orderly restart
# (SIGTERM); each time a new sidecored starts on the same runtime directory
# and configuration. QEMU reconnects (chardev reconnect=1) and starts the
# rings again; both transfers must arrive whole (MD5), with TCP resending
# what the interruptions dropped. The host sends 8 MiB before each of its
# transfer's restarts and the rest after the last, so every daemon carries
# some of it; its transfer also goes through the device being deleted and
# created again over RPC while the VM runs.
# Runs over a split ring (QEMU resumes it at the used index in guest
# memory) and a packed ring (QEMU can only resend the base it gave at the
# start: sidecored resumes from the crash record it keeps in
# <runtime-dir>/<device>.net-rings, which the test checks it did, also
# after the orderly restart; the file goes once no guest is attached).
# The guest has two vCPUs and its NIC two queue pairs (its sender pinned to
# vCPU 1, so both pairs carry the transfers), the host a two-queue tap:
# every ring of the NIC goes through each restart.
# Usage: qemu_guest_net_reconnect.sh BUILD_DIR
set -u
BUILD=${1:?usage: qemu_guest_net_reconnect.sh BUILD_DIR}
TMP=$(mktemp -d /tmp/guest-net-reconnect.XXXXXX)
HERE=$(dirname "$0")
QEMU_PID=
LISTEN_PID=
N=0 # daemon instances started; the current one logs to $TMP/daemon$N.log
cleanup() {
    exec 7>&- 2>/dev/null
    [ -n "$LISTEN_PID" ] && kill "$LISTEN_PID" 2>/dev/null
    [ -n "$QEMU_PID" ] && kill -KILL "$QEMU_PID" 2>/dev/null
    [ -n "$SCD_PID" ] && kill -KILL "$SCD_PID" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT
dump_backend_log() { cat "$TMP"/daemon*.log 2>/dev/null; }
# shellcheck source=lib/guest_common.sh
. "$HERE/lib/guest_common.sh"
# shellcheck source=lib/scd_common.sh
. "$HERE/lib/scd_common.sh"
command -v ip >/dev/null || fail "ip not found (iproute2)"
command -v socat >/dev/null || fail "socat not found (scripts/install-deps.sh test)"
guest_require
scd_require

# A subnet and tap name of this run's own, so concurrent runs do not meet.
NET=10.$((200 + $$ % 50)).$((($$ / 50) % 250)).
HOST=${NET}1
GUEST=${NET}2
TAP=sctap$$
MAC=52:54:00:5c:00:02
PORT=7001
LINES=3000000           # "seq 1 N": 20.7 MB each way
KILL_AFTER=$((1 << 20)) # bytes of a transfer that cross before the kill
HOST_PART=$((8 << 20))  # host -> guest bytes sent before each restart
seq 1 "$LINES" >"$TMP/data"
want=$(md5sum <"$TMP/data" | cut -d' ' -f1)

# start_daemon: a new sidecored on the same runtime dir, switch and tap.
start_daemon() {
    N=$((N + 1))
    "$SCD" --no-default --runtime-dir "$TMP" --rpc "$TMP/rpc.sock" --cpus 1 --log-level info \
        --switch name=sw0 --port "switch=sw0,name=tap0,type=tap,ifname=$TAP,queues=2" \
        --net "name=g0,switch=sw0,mac=$MAC,queues=2" >"$TMP/daemon$N.out" 2>"$TMP/daemon$N.log" 7>&- &
    SCD_PID=$!
    scd_wait_ready "sidecored #$N" "$TMP/daemon$N.log" "$SCD_PID"
    [ ! -e "/proc/sys/net/ipv6/conf/$TAP" ] || echo 1 >"/proc/sys/net/ipv6/conf/$TAP/disable_ipv6"
    ip addr add "$HOST/24" dev "$TAP" || fail "cannot give $TAP the address $HOST"
}

# restart SIGNAL: stops the daemon with SIGNAL (KILL or TERM), then a new one.
restart() {
    kill -"$1" "$SCD_PID"
    timeout 15 tail --pid="$SCD_PID" -f /dev/null || fail "sidecored #$N still runs 15 s after SIG$1"
    { wait "$SCD_PID"; } 2>/dev/null
    SCD_PID=
    start_daemon
    echo "+ sidecored #$((N - 1)) stopped by SIG$1 mid-transfer, #$N started"
}

# recreate: the device deleted and created again over RPC under the running
# VM (a packed ring's NIC stayed dead: the delete removed the crash record
# its QEMU's old base needs).
recreate() {
    local before
    before=$(grep -c "resumes at used position" "$TMP/daemon$N.log")
    scd_ctl net-delete g0 >/dev/null || fail "net-delete g0"
    scd_ctl net-create g0 switch=sw0 mac="$MAC" queues=2 >/dev/null || fail "net-create g0"
    RESUMED=$before
    echo "+ device g0 deleted and created again mid-transfer"
}

guest_alive() { kill -0 "$QEMU_PID" 2>/dev/null || fail "QEMU exited during the transfers"; }
file_grew() { guest_alive && [ "$(stat -c %s "$1" 2>/dev/null || echo 0)" -ge "$2" ]; }
delivered() { guest_alive && [ "$(scd_ctl net-stats g0 | jq .port.rx_bytes)" -ge "$1" ]; }
guest_said() { [ -n "$(guest_result "$1" "$TMP/serial.log")" ] || { guest_alive && false; }; }

run_case() { # RING: split or packed
    local ring=$1 opts="" got base rc
    [ "$ring" = packed ] && opts=",packed=on"
    rm -f "$TMP"/daemon*.log "$TMP/bulk" "$TMP/serial.log"
    N=0
    start_daemon
    timeout "$GUEST_TIMEOUT" socat -u "TCP-LISTEN:$PORT,bind=$HOST,reuseaddr" \
        "CREATE:$TMP/bulk" 2>"$TMP/listen.log" &
    LISTEN_PID=$!
    echo "+ $ring ring: booting the guest (TCG, up to ${GUEST_TIMEOUT} s)"
    guest_qemu "$TMP/serial.log" net \
        "sc.ip=$GUEST/24 sc.ping=$HOST sc.bulk=$HOST:$PORT:$LINES sc.pin=2" -smp 2 \
        -chardev socket,id=c0,path="$TMP/g0.sock",reconnect=1 \
        -netdev vhost-user,id=n0,chardev=c0,queues=2 \
        -device virtio-net-pci,netdev=n0,mac=$MAC,vectors=0,mq=on$opts &
    QEMU_PID=$!

    scd_wait "$GUEST_TIMEOUT" "the guest's TCP data to start arriving" file_grew "$TMP/bulk" "$KILL_AFTER"
    restart KILL
    wait "$LISTEN_PID" || { cat "$TMP/listen.log"; fail "the host's TCP listener failed"; }
    LISTEN_PID=
    got=$(md5sum <"$TMP/bulk" | cut -d' ' -f1)
    echo "guest -> host: $(stat -c %s "$TMP/bulk") bytes, md5 $got (want $want)"
    [ "$got" = "$want" ] || fail "the host received other bytes than the guest sent"
    got=$(scd_ctl net-stats g0 | jq '.queues[] | select(.name == "g0.tx1") | .packets')
    echo "frames the guest sent on tx queue 1 after the restart: $got"
    [ "$got" -gt 0 ] || fail "after the restart, nothing came in on the second queue pair"

    scd_wait 60 "the guest to listen" guest_said bulk_listening
    base=$(scd_ctl net-stats g0 | jq .port.rx_bytes)
    # A fast guest would otherwise take it all before the test restarts.
    rm -f "$TMP/feed"
    mkfifo "$TMP/feed"
    timeout 180 socat -u "OPEN:$TMP/feed" "TCP:$GUEST:$PORT,retry=40,interval=0.5" \
        2>"$TMP/send.log" &
    LISTEN_PID=$!
    # Read-write: opening does not wait for socat. Daemons started while it
    # is open do not inherit it, or socat would never see the end.
    exec 7<>"$TMP/feed"
    head -c "$HOST_PART" "$TMP/data" >&7
    scd_wait 120 "the host's TCP data to reach the guest" delivered $((base + KILL_AFTER))
    restart KILL
    tail -c +$((HOST_PART + 1)) "$TMP/data" | head -c "$HOST_PART" >&7
    scd_wait 120 "more of the host's TCP data to reach the guest" delivered "$KILL_AFTER"
    restart TERM
    tail -c +$((2 * HOST_PART + 1)) "$TMP/data" | head -c "$HOST_PART" >&7
    scd_wait 120 "still more of the host's TCP data to reach the guest" delivered "$KILL_AFTER"
    recreate
    tail -c +$((3 * HOST_PART + 1)) "$TMP/data" >&7
    exec 7>&-
    wait "$LISTEN_PID" || { cat "$TMP/send.log"; fail "the host could not send its TCP data"; }
    LISTEN_PID=
    scd_wait 120 "the guest to checksum the host's data" guest_said bulk_got_md5
    got=$(guest_result bulk_got_md5 "$TMP/serial.log")
    echo "host -> guest: md5 $got (want $want)"
    [ "$got" = "$want" ] || fail "the guest received other bytes than the host sent"

    rc=0
    wait "$QEMU_PID" || rc=$?
    QEMU_PID=
    [ "$rc" -eq 124 ] && fail "the guest did not power off within ${GUEST_TIMEOUT} s"
    [ "$rc" -eq 0 ] || fail "QEMU exited with status $rc"
    [ "$(guest_result bulk_sent "$TMP/serial.log")" = 0 ] || fail "the guest's nc failed to send"
    [ "$(scd_ctl net-stats g0 | jq .failures)" = 0 ] ||
        fail "device g0 failed: $(scd_ctl net-stats g0 | jq -r .why)"
    if [ "$ring" = packed ]; then
        grep -q "(packed rings" "$TMP/daemon$N.log" || fail "the guest did not negotiate packed rings"
        for n in 2 3 4; do
            grep -q "resumes at used position" "$TMP/daemon$n.log" ||
                fail "sidecored #$n did not resume the packed rings from the crash record"
        done
        [ "$(grep -c "resumes at used position" "$TMP/daemon$N.log")" -gt "$RESUMED" ] ||
            fail "the device created again did not resume the packed rings from the crash record"
    fi
    scd_stop
    [ ! -e "$TMP/g0.net-rings" ] || fail "sidecored left a crash record file with no guest attached"
}

run_case split
run_case packed
echo "PASS: a guest's TCP transfers survived sidecored being killed and restarted mid-transfer (split and packed rings)"
