#!/usr/bin/env bash
# virtio-net against a real frontend: DPDK testpmd's virtio-user PMD.
#  1. txonly into a device wired to a sink (split ring; mergeable rx buffers
#     on and off; 2 queue pairs): the packets testpmd counts as sent are the
#     packets the device sent and the sink took.
#  2. Two testpmd instances on one switch, txonly -> rxonly: the sender's
#     count equals the device's tx count; the receiver's count equals its
#     device's rx count; rx + dropped for lack of rx buffers = sent.
#  3. A sink/source port added to a switch while testpmd runs rxonly:
#     exactly source_count frames reach the device, and testpmd receives
#     what the device delivered.
#  4. A tap port: testpmd txonly frames reach the host (the kernel's rx
#     counter matches the port's), and an ARP request from the host reaches
#     testpmd rxonly through the switch.
#  5. A multiqueue tap (queues=2): the kernel sees it so and switch-stats
#     shows both queues; port-add refuses 17 queues, queues on a sink, and
#     2 queues on an existing single-queue tap, each with a clear reason.
# Counts must match exactly; nothing is timed. Every testpmd run is short and
# bounded, and every process is stopped on exit.
# Usage: net_switch.sh BUILD_DIR
set -u
BUILD=${1:?usage: net_switch.sh BUILD_DIR}
SCD=$BUILD/sidecored
CTL=$BUILD/sidecorectl
TESTPMD=$(command -v dpdk-testpmd || true)
for b in "$SCD" "$CTL"; do
    [ -x "$b" ] || { echo "FAIL: $b not built"; exit 1; }
done
[ -n "$TESTPMD" ] || { echo "FAIL: dpdk-testpmd not found (scripts/install-deps.sh test installs dpdk)"; exit 1; }
command -v jq >/dev/null || { echo "FAIL: jq not found (scripts/install-deps.sh test)"; exit 1; }
command -v ip >/dev/null || { echo "FAIL: ip (iproute2) not found"; exit 1; }

TMP=$(mktemp -d /tmp/net_switch.XXXXXX)
PID=
PMDS=()
cleanup() {
    local p
    for p in "${PMDS[@]}"; do
        kill -INT "$p" 2>/dev/null
    done
    for p in "${PMDS[@]}"; do
        timeout 10 tail --pid="$p" -f /dev/null 2>/dev/null || kill -KILL "$p" 2>/dev/null
    done
    if [ -n "$PID" ]; then
        kill "$PID" 2>/dev/null
        wait "$PID" 2>/dev/null
    fi
    # The persistent tap of part 5, if it failed before removing it.
    [ -n "${TAP:-}" ] && ip tuntap del dev "$TAP" mode tap 2>/dev/null
    rm -rf "$TMP" /var/run/dpdk/scnet-$$-*
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*"
    local f
    for f in "$TMP"/pmd-*.log; do
        [ -f "$f" ] && { echo "  --- $f"; tail -n 25 "$f" | sed 's/^/  /'; }
    done
    [ -f "$TMP/daemon.log" ] && sed 's/^/  sidecored: /' "$TMP/daemon.log" | tail -n 40
    exit 1
}

ctl() { timeout 15 "$CTL" -s "$TMP/rpc.sock" --json "$@"; }

start_daemon() {
    # Emptied before the start: the child's redirection may come after the
    # first look for "ready", which would then find the last daemon's.
    : >"$TMP/daemon.log"
    "$SCD" --no-default --runtime-dir "$TMP" --rpc "$TMP/rpc.sock" --cpus 1 "$@" \
        >"$TMP/daemon.out" 2>"$TMP/daemon.log" &
    PID=$!
    local _
    for _ in $(seq 100); do
        grep -q "sidecored: ready" "$TMP/daemon.log" && return 0
        kill -0 "$PID" 2>/dev/null || fail "sidecored exited at start-up"
        sleep 0.1
    done
    fail "sidecored did not get ready within 10 s"
}

stop_daemon() {
    kill -TERM "$PID"
    local rc=0
    timeout 10 tail --pid="$PID" -f /dev/null || fail "sidecored still running 10 s after SIGTERM"
    wait "$PID" || rc=$?
    PID=
    [ "$rc" -eq 0 ] || fail "sidecored exited with status $rc"
}

# start_pmd NAME CPU SOCKET MODE [VDEV_EXTRA [TESTPMD_EXTRA]]: testpmd with a
# virtio-user port on SOCKET; waits (20 s max) until it forwards.
start_pmd() {
    local name=$1 cpu=$2 sock=$3 mode=$4 vextra=${5:-} pextra=${6:-}
    timeout -s INT 120 "$TESTPMD" --lcores "(0,1)@$cpu" --no-pci --no-huge -m 512 \
        --file-prefix="scnet-$$-$name" \
        --vdev "net_virtio_user0,path=$sock$vextra" -- \
        --forward-mode="$mode" --stats-period 1 --total-num-mbufs 8192 $pextra \
        >"$TMP/pmd-$name.log" 2>&1 &
    eval "PMD_$name=$!"
    PMDS+=($!)
    local _
    for _ in $(seq 200); do
        grep -q "start packet forwarding" "$TMP/pmd-$name.log" && return 0
        kill -0 "$!" 2>/dev/null || fail "testpmd $name exited at start-up"
        sleep 0.1
    done
    fail "testpmd $name did not start forwarding within 20 s"
}

# stop_pmd NAME: SIGINT, then its final counters land in the log.
stop_pmd() {
    local var="PMD_$1"
    local p=${!var}
    kill -INT "$p"
    timeout 20 tail --pid="$p" -f /dev/null || fail "testpmd $1 did not exit within 20 s"
    wait "$p" 2>/dev/null
    grep -q "Accumulated forward statistics" "$TMP/pmd-$1.log" || fail "testpmd $1 printed no final statistics"
}

# pmd_count NAME RX|TX: the accumulated count testpmd printed at exit.
pmd_count() {
    sed -n '/Accumulated forward statistics/,/+++++++++++++++++++++++++++++++++++++++/p' \
        "$TMP/pmd-$1.log" | sed -n "s/.*$2-packets: *\([0-9]*\).*/\1/p" | head -n 1
}

# wait_until SECONDS DESCRIPTION COMMAND...: polls every 0.2 s.
wait_until() {
    local secs=$1 what=$2 _
    shift 2
    for _ in $(seq $((secs * 5))); do
        "$@" && return 0
        sleep 0.2
    done
    fail "timed out after $secs s waiting for $what"
}

port_field() { # SWITCH PORT FIELD
    ctl switch-stats "$1" | jq -r --arg p "$2" ".ports[] | select(.name == \$p) | $3"
}

# ---- 1. txonly into a sink ------------------------------------------------
sink_case() { # LABEL QUEUES VDEV_EXTRA
    local label=$1 q=$2 extra=$3
    echo "== sink: $label"
    start_daemon --net "name=n0,backend=sink,queues=$q"
    start_pmd tx 0 "$TMP/n0.sock" txonly ",queues=$q$extra" "--rxq=$q --txq=$q"
    sleep 2
    stop_pmd tx
    local sent dev sink drops
    sent=$(pmd_count tx TX)
    local s
    s=$(ctl net-stats n0) || fail "net-stats n0"
    dev=$(echo "$s" | jq .port.tx_packets)
    sink=$(echo "$s" | jq .sink.rx_packets)
    drops=$(echo "$s" | jq .port.drops_total)
    echo "testpmd sent $sent; device sent $dev; sink took $sink; drops $drops"
    [ -n "$sent" ] && [ "$sent" -gt 0 ] || fail "$label: testpmd sent nothing"
    [ "$sent" = "$dev" ] || fail "$label: testpmd sent $sent, the device sent $dev"
    [ "$dev" = "$sink" ] || fail "$label: the device sent $dev, the sink took $sink"
    [ "$drops" = 0 ] || fail "$label: $drops packets dropped"
    if [ "$q" -gt 1 ]; then
        local busy
        busy=$(echo "$s" | jq '[.queues[] | select(.kind == "tx" and .packets > 0)] | length')
        [ "$busy" = "$q" ] || fail "$label: only $busy of $q tx queues carried packets"
    fi
    # The text view says how many pairs the device has (it said 0: the
    # pair count's key was overwritten by the queue stats).
    timeout 15 "$CTL" -s "$TMP/rpc.sock" net-stats n0 >"$TMP/ns.txt" || fail "net-stats n0 (text)"
    grep -q "/$q queue pair(s) active" "$TMP/ns.txt" || fail "net-stats text: $(head -n 1 "$TMP/ns.txt")"
    [ "$(echo "$s" | jq .queue_pairs)" = "$q" ] || fail "net-stats: queue_pairs is not $q"
    stop_daemon
}
sink_case "split, mergeable rx buffers" 1 ""
sink_case "split, no mergeable rx buffers" 1 ",mrg_rxbuf=0"
sink_case "split, 2 queue pairs" 2 ""

# ---- 2. two testpmd on one switch -----------------------------------------
echo "== switch: txonly -> rxonly"
start_daemon --switch name=sw0 --net name=n0,switch=sw0 --net name=n1,switch=sw0
start_pmd rx 1 "$TMP/n1.sock" rxonly
start_pmd tx 0 "$TMP/n0.sock" txonly
sleep 2
stop_pmd tx
# The receiver drains what was delivered before it stops.
sleep 1
stop_pmd rx
sent=$(pmd_count tx TX)
got=$(pmd_count rx RX)
n0_tx=$(port_field sw0 n0 .tx_packets)
n1_rx=$(port_field sw0 n1 .rx_packets)
n1_nobuf=$(port_field sw0 n1 .drops.no_buffers)
n1_drops=$(port_field sw0 n1 .drops_total)
echo "testpmd tx $sent; n0 tx $n0_tx; n1 rx $n1_rx (+$n1_nobuf without buffers); testpmd rx $got"
[ -n "$sent" ] && [ "$sent" -gt 0 ] || fail "switch: testpmd sent nothing"
[ "$sent" = "$n0_tx" ] || fail "switch: testpmd sent $sent, n0 sent $n0_tx"
[ "$got" = "$n1_rx" ] || fail "switch: n1 delivered $n1_rx, testpmd received $got"
[ "$n1_drops" = "$n1_nobuf" ] || fail "switch: n1 dropped for reasons other than missing buffers"
[ $((n1_rx + n1_nobuf)) -eq "$n0_tx" ] || fail "switch: n1 took $n1_rx + dropped $n1_nobuf != $n0_tx sent"
[ "$got" -gt 0 ] || fail "switch: nothing reached the receiver"

# ---- 3. a source port on the switch -> testpmd rxonly ---------------------
echo "== switch: source port -> rxonly"
N=200000
start_pmd rx 1 "$TMP/n1.sock" rxonly
ctl port-add sw0 gen type=sink source_size=128 source_count=$N >/dev/null || fail "port-add gen"
gen_done() { [ "$(port_field sw0 gen .tx_packets)" = "$N" ]; }
wait_until 60 "the source to send $N frames" gen_done
sleep 1
stop_pmd rx
got=$(pmd_count rx RX)
rx_before=$n1_rx
n1_rx=$(port_field sw0 n1 .rx_packets)
n1_nobuf=$(port_field sw0 n1 .drops.no_buffers)
n0_rx=$(port_field sw0 n0 .rx_packets)
n0_down=$(port_field sw0 n0 .drops.link_down)
delivered=$((n1_rx - rx_before))
echo "source sent $N; n1 delivered $delivered; testpmd received $got; n0 (no frontend) dropped $n0_down"
[ "$got" = "$delivered" ] || fail "source: n1 delivered $delivered, testpmd received $got"
[ "$got" -gt 0 ] || fail "source: nothing reached testpmd"
[ "$n0_down" -ge "$N" ] || fail "source: n0 without a frontend should drop the $N flooded frames as link_down"
ctl port-delete sw0 gen >/dev/null || fail "port-delete"

# ---- 4. a tap port joins the host: both directions -------------------------
echo "== switch: tap port <-> testpmd"
TAP=sct$$
TAP=${TAP:0:15}
ctl port-add sw0 host type=tap ifname=$TAP >/dev/null || fail "port-add tap $TAP"
ip link show "$TAP" >/dev/null 2>&1 || fail "tap $TAP does not exist"
ip addr add 10.211.0.1/24 dev "$TAP" || fail "cannot address $TAP"
kern_rx() { ip -s -j link show "$TAP" | jq '.[0].stats64.rx.packets'; }
rx0=$(kern_rx)
start_pmd tx 0 "$TMP/n0.sock" txonly
sleep 1
stop_pmd tx
sent=$(pmd_count tx TX)
tap_rx=$(port_field sw0 host .rx_packets)
tap_drop=$(port_field sw0 host .drops_total)
host_rx=$(( $(kern_rx) - rx0 ))
echo "testpmd tx $sent; tap port wrote $tap_rx (+$tap_drop dropped); the kernel counted $host_rx"
[ "$sent" -gt 0 ] || fail "tap: testpmd sent nothing"
[ $((tap_rx + tap_drop)) -eq "$sent" ] || fail "tap: $tap_rx + $tap_drop != $sent"
[ "$host_rx" -eq "$tap_rx" ] || fail "tap: the kernel received $host_rx, the port wrote $tap_rx"
# Host to guest: a datagram to an unknown neighbour makes the kernel ARP
# (broadcast) through the tap, the switch and n1 into testpmd.
# Counted before testpmd attaches: the kernel's own frames (IPv6 neighbour
# discovery, MLD) may reach n1 as soon as it has rx buffers.
before=$(port_field sw0 n1 .rx_packets)
start_pmd rx 1 "$TMP/n1.sock" rxonly
echo x >/dev/udp/10.211.0.2/9 2>/dev/null
arp_seen() { [ "$(port_field sw0 host .tx_packets)" -gt 0 ] && [ "$(port_field sw0 n1 .rx_packets)" -gt "$before" ]; }
wait_until 10 "an ARP request from the host to reach n1" arp_seen
sleep 1
stop_pmd rx
got=$(pmd_count rx RX)
delivered=$(( $(port_field sw0 n1 .rx_packets) - before ))
echo "host sent $(port_field sw0 host .tx_packets) frame(s) into the switch; n1 delivered $delivered; testpmd received $got"
[ "$got" = "$delivered" ] || fail "tap: n1 delivered $delivered, testpmd received $got"
ctl port-delete sw0 host >/dev/null || fail "port-delete tap"
ip link show "$TAP" >/dev/null 2>&1 && fail "tap $TAP still exists after port-delete"

# ---- 5. a multiqueue tap, and what a port refuses --------------------------
echo "== switch: multiqueue tap"
ctl port-add sw0 host type=tap ifname=$TAP queues=2 >/dev/null || fail "port-add a tap with 2 queues"
mq=$(ip -d -j link show "$TAP" | jq '.[0].linkinfo.info_data.multi_queue')
nq=$(ctl switch-stats sw0 | jq '.ports[] | select(.name == "host") | .host_queues | length')
echo "tap $TAP: multi_queue $mq, $nq queues read"
[ "$mq" = true ] || fail "the kernel does not see $TAP as a multiqueue tap"
[ "$nq" = 2 ] || fail "switch-stats shows $nq host queues for a 2-queue tap"
# A single-queue sender's flows spread over the tap's queues by their hash
# (testpmd's multi-flow mode varies the source address: 256 flows).
kern_rx0=$(kern_rx)
start_pmd tx 0 "$TMP/n0.sock" txonly "" "--txonly-multi-flow"
sleep 1
stop_pmd tx
hq=$(ctl switch-stats sw0 | jq -c '.ports[] | select(.name == "host") | [.host_queues[].rx_packets]')
tap_rx=$(port_field sw0 host .rx_packets)
host_rx=$(( $(kern_rx) - kern_rx0 ))
echo "a single-queue sender's 256 flows through the tap's queues: $hq; the kernel counted $host_rx"
[ "$(echo "$hq" | jq 'length == 2 and all(. > 0)')" = true ] ||
    fail "a single-queue sender's flows all went into one tap queue: $hq"
[ "$(echo "$hq" | jq add)" = "$tap_rx" ] || fail "the tap queues wrote $hq, the port $tap_rx"
[ "$host_rx" = "$tap_rx" ] || fail "the kernel received $host_rx, the port wrote $tap_rx"
# The text view shows each tap queue too (it was only in --json).
timeout 15 "$CTL" -s "$TMP/rpc.sock" switch-stats sw0 >"$TMP/ss.txt" || fail "switch-stats sw0 (text)"
for i in 0 1; do
    grep -Eq "^    host queue $i +[0-9]+ +[0-9.]+[BKMG] +$(echo "$hq" | jq ".[$i]") +[0-9.]+[BKMG]$" \
        "$TMP/ss.txt" || fail "switch-stats text shows no host queue $i as $hq: $(cat "$TMP/ss.txt")"
done
ctl port-delete sw0 host >/dev/null || fail "port-delete the multiqueue tap"
ip link show "$TAP" >/dev/null 2>&1 && fail "tap $TAP still exists after port-delete"
# refuse PORT_ARGS... EXPECTED: port-add fails and says EXPECTED.
refuse() {
    local want=${*: -1} out
    out=$(ctl port-add sw0 "${@:1:$#-1}" 2>&1) && fail "port-add $* succeeded"
    echo "$out" | grep -q "$want" || fail "port-add ${*:1:$#-1}: expected \"$want\", got: $out"
}
refuse bad type=tap ifname=$TAP queues=17 "1..16"
refuse bad type=sink queues=2 "queues belongs to tap ports"
ip tuntap add dev "$TAP" mode tap || fail "cannot create a persistent tap $TAP"
refuse bad type=tap ifname=$TAP queues=2 "the existing tap is single-queue: give queues=1"
ip tuntap del dev "$TAP" mode tap
refuse bad type=tap ifname=.. "not \".\" or \"..\""
refuse bad type=tap ifname=a:b "no '/', ':', spaces"
refuse bad type=tap ifname=lo "exists and is not a tap"
# Two ports on one multiqueue tap would flood the host's frames back into
# it: a tap another port or another program holds is refused.
ctl port-add sw0 host type=tap ifname=$TAP queues=2 >/dev/null || fail "port-add a tap with 2 queues"
refuse bad type=tap ifname=$TAP queues=2 "interface $TAP is already port host's tap"
ctl port-delete sw0 host >/dev/null || fail "port-delete the multiqueue tap"
ip tuntap add dev "$TAP" mode tap multi_queue || fail "cannot create a persistent multiqueue tap"
ip link set "$TAP" up
timeout 60 python3 -c '
import fcntl, os, struct, sys, time
fd = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(fd, 0x400454ca, struct.pack("16sH", sys.argv[1].encode(), 0x0002 | 0x1000 | 0x0100))
print("attached", flush=True)
time.sleep(60)' "$TAP" >"$TMP/holder.out" 2>&1 &
holder=$!
for _ in $(seq 100); do grep -q attached "$TMP/holder.out" && break; sleep 0.1; done
grep -q attached "$TMP/holder.out" || fail "could not attach a queue to $TAP: $(cat "$TMP/holder.out")"
refuse bad type=tap ifname=$TAP queues=2 "in use by another program"
kill "$holder"; wait "$holder" 2>/dev/null
ip tuntap del dev "$TAP" mode tap multi_queue
echo "ok: taps of another kind, mode, port or program are refused"
# A source whose frames the device's MTU would drop (over_mtu) is refused.
out=$(ctl net-create big backend=sink source_size=9000 2>&1) &&
    fail "net-create with source_size 9000 at mtu 1500 succeeded"
echo "$out" | grep -q "raise mtu" || fail "net-create source_size 9000: expected \"raise mtu\", got: $out"
ctl net-create big backend=sink source_size=9000 mtu=9000 >/dev/null || fail "net-create source_size 9000 mtu 9000"
ctl net-delete big >/dev/null || fail "net-delete big"
# A deleted device's filter goes with it: a new device of that name starts
# without one. Only DEVICE@ADDRESS names a remote peer that may come later.
ctl net-create again backend=sink >/dev/null || fail "net-create again"
ctl interpose again '[{"type":"filter","default":"deny"}]' >/dev/null || fail "interpose on again"
ctl net-delete again >/dev/null || fail "net-delete again"
ctl net-create again backend=sink >/dev/null || fail "net-create again (2)"
[ "$(ctl net-stats again | jq -c .port.interpose)" = "[]" ] ||
    fail "a re-created device inherited its namesake's filter: $(ctl net-stats again | jq -c .port.interpose)"
ctl net-delete again >/dev/null || fail "net-delete again (2)"
out=$(ctl interpose 'a b@c' '[]' 2>&1) && fail "interpose on 'a b@c' succeeded"
echo "$out" | grep -q "no device, port or export named a b@c" || fail "interpose 'a b@c': got: $out"
out=$(ctl interpose 'n9@10.9.9.9' '[{"type":"filter"},{"type":"meter"}]' 2>&1) &&
    fail "a meter stage on a net port was accepted"
echo "$out" | grep -q "stage 1 (meter) does not apply to net ports" || fail "meter on a net port: got: $out"
ctl interpose 'n9@10.9.9.9' '[{"type":"filter"}]' >/dev/null || fail "interpose on a remote peer to come"
ctl interpose 'n9@10.9.9.9' '[]' >/dev/null || fail "removing a remote peer's stages"
# Ports share one name space with block devices (interpose names either).
ctl create-blk blkname >/dev/null || fail "create-blk blkname"
refuse blkname type=sink "a blk device named blkname already exists"
# The text list and stats show every device, net ones after blk ones (they
# showed blk only; net devices were in net-list and net-stats alone).
txt=$(timeout 15 "$CTL" -s "$TMP/rpc.sock" list)
echo "$txt" | grep -q "^blkname " || fail "list lacks blkname: $txt"
echo "$txt" | grep -Eq "^n0 +1 +[0-9a-f:]{17} +1500 +switch sw0 " || fail "list lacks n0: $txt"
txt=$(timeout 15 "$CTL" -s "$TMP/rpc.sock" stats)
echo "$txt" | grep -q "^blkname: " || fail "stats lacks blkname: $txt"
echo "$txt" | grep -q "^n0: .* queue pair(s) active" || fail "stats lacks n0: $txt"
ctl delete blkname >/dev/null || fail "delete blkname"
echo "ok: chains go with their device; port names do not take block devices' names"
# RPC errors name the request's keys (they read switches[0].mac_table).
out=$(ctl switch-create swx mac_table=x 2>&1) && fail "switch-create with mac_table=x succeeded"
echo "$out" | grep -q "params.mac_table: expected" || fail "switch-create mac_table=x: got: $out"
# An all-zero MAC is no unicast address (it was accepted as one).
out=$(ctl net-create zero mac=00:00:00:00:00:00 2>&1) && fail "net-create with MAC 00:00:00:00:00:00 succeeded"
echo "$out" | grep -q "not all zeros" || fail "net-create zero MAC: got: $out"
# Two NICs with one MAC on a switch take turns in its MAC table (accepted
# silently before): said in the log, as they may be the two ends of a live
# migration (qemu_guest_migrate.sh has those).
MAC0=$(ctl net-list | jq -r '.[] | select(.name == "n0") | .mac')
ctl net-create twin switch=sw0 mac="$MAC0" >/dev/null || fail "a second NIC with n0's MAC was refused"
grep -q "net device twin: MAC $MAC0 is net device n0's too, on switch sw0: fine for the two ends of a live migration" \
    "$TMP/daemon.log" || fail "no word about twin's MAC, n0's too"
ctl net-delete twin >/dev/null || fail "net-delete twin"
# A disk attached to a NIC's socket (a copy-paste mistake): QEMU realizes
# it on the NIC's config padded with zeros and the guest hangs; sidecored
# said nothing. It now says what the frontend reads and what the device is.
if command -v qemu-system-x86_64 >/dev/null; then
    ctl net-create wrongtype backend=sink >/dev/null || fail "net-create wrongtype"
    timeout 20 qemu-system-x86_64 -M q35,memory-backend=mem -m 64M \
        -object memory-backend-memfd,id=mem,size=64M,share=on \
        -chardev socket,id=c0,path="$TMP/wrongtype.sock" \
        -device vhost-user-blk-pci,chardev=c0,num-queues=1 \
        -nodefaults -display none -S >"$TMP/qemu-wrongtype.log" 2>&1 &
    QP=$!
    told() { grep -q "wrongtype: the frontend reads config bytes \[0, [0-9]*) of this virtio-net device, which has [0-9]* (the rest reads as zeros): is the frontend a virtio-net device?" "$TMP/daemon.log"; }
    for _ in $(seq 100); do told && break; sleep 0.1; done
    kill "$QP" 2>/dev/null
    wait "$QP" 2>/dev/null
    told || fail "a vhost-user-blk frontend on a NIC's socket went without a word: $(cat "$TMP/qemu-wrongtype.log")"
    ctl net-delete wrongtype >/dev/null || fail "net-delete wrongtype"
    echo "ok: a disk frontend on a NIC's socket is named in the log"
fi
ctl switch-delete sw0 >/dev/null 2>&1 && fail "switch-delete succeeded with net devices on it"
ctl net-delete n0 >/dev/null && ctl net-delete n1 >/dev/null || fail "net-delete"
ctl switch-delete sw0 >/dev/null || fail "switch-delete"
stop_daemon
echo "PASS"
