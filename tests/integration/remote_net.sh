#!/usr/bin/env bash
# vRIO net path across network namespaces this test creates (nvmhost0,
# nvmhost1, niohost; veth pairs): sidecored runs as iohost (switch sw0 with a
# tap port rntap0 addressed 10.78.9.1/24 in niohost, and the net listener)
# and as two vmhosts whose net devices are remote (tunnels to sw0). DPDK
# testpmd's virtio-user drives the vmhosts' devices (unix sockets ignore
# namespaces).
#  1. testpmd icmpecho on vmhost0's n0: ping from niohost to 10.78.9.2 is
#     answered across the remote path; per direction, what one end sent
#     equals what the other took plus the drops counted on the path.
#  2. a filter denying ICMP on the iohost's peer port: pings fail, the
#     rule's hit counter counts them; ARP still passes (default allow).
#  3. testpmd txonly on vmhost0 -> rxonly on vmhost1 through the iohost's
#     switch: packets arrive, and sent = received + drops counted on the way.
#  4. a second vmhost daemon on vmhost0's host, with a net device of the
#     same name, is refused while the first one's tunnel lives.
#  5. what net-list, port-delete and net-create say about remote devices.
#  6. after an iohost restart, frames lost on the path are counted.
#  7. frames the vmhost's full socket could not send are counted once.
#  8. a hand-made tunnel (rnet_peer): a ping with a peer's session from
#     another socket, a second session of a live peer's name from its own
#     address, a burst of HELLOs, empty datagrams: each answered or counted
#     as the contract says.
# Every wait is bounded; every process and namespace is removed on exit.
# Usage: remote_net.sh BUILD_DIR
set -u
BUILD=${1:?usage: remote_net.sh BUILD_DIR}
SCD=$BUILD/sidecored
CTL=$BUILD/sidecorectl
# shellcheck source=lib/scd_common.sh
. "$(dirname "$0")/lib/scd_common.sh"
for b in "$SCD" "$CTL"; do
    [ -x "$b" ] || { echo "FAIL: $b not built"; exit 1; }
done
PEER=$BUILD/tests/rnet_peer
[ -x "$PEER" ] || { echo "FAIL: $PEER not built"; exit 1; }
for t in ip jq ping timeout stdbuf; do
    command -v $t >/dev/null || { echo "FAIL: $t not found (scripts/install-deps.sh test)"; exit 1; }
done
[ "$(id -u)" -eq 0 ] || { echo "FAIL: network namespaces need root"; exit 1; }

TMP=$(mktemp -d /tmp/remote-net.XXXXXX)
NS="nvmhost0 nvmhost1 niohost"
PIDS=()
fail() {
    echo "FAIL: $*"
    local f s
    for s in io vm0 vm1; do
        [ -S "$TMP/$s.rpc" ] && timeout 5 "$CTL" -s "$TMP/$s.rpc" --json net-peers 2>/dev/null |
            jq -c . | sed "s|^|  $s net-peers: |"
    done
    [ -S "$TMP/io.rpc" ] && timeout 5 "$CTL" -s "$TMP/io.rpc" --json switch-stats sw0 2>/dev/null |
        jq -c '.ports[]' | sed "s|^|  io port: |"
    for f in "$TMP"/*.log; do
        [ -f "$f" ] && sed "s|^|  $(basename "$f"): |" "$f" | tail -30
    done
    exit 1
}
. "$(dirname "$0")/lib/dpdk_common.sh"
cleanup() {
    local p n
    dpdk_cleanup
    for p in "${PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null
    done
    for p in "${PIDS[@]}"; do
        timeout 10 tail --pid="$p" -f /dev/null 2>/dev/null || kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    for n in $NS; do
        ip netns del "$n" 2>/dev/null
    done
    rm -rf "$TMP"
}
trap cleanup EXIT
dpdk_require

# --- hosts ---------------------------------------------------------------
for n in $NS; do
    ip netns del "$n" 2>/dev/null
    ip netns add "$n" || fail "cannot create namespace $n"
    ip -n "$n" link set lo up
done
for i in 0 1; do
    ip link add "rnv$i" type veth peer name "rnio$i" || fail "cannot create veth pair $i"
    ip link set "rnv$i" netns "nvmhost$i"
    ip link set "rnio$i" netns niohost
    ip -n "nvmhost$i" addr add "10.78.$i.1/24" dev "rnv$i"
    ip -n niohost addr add "10.78.$i.2/24" dev "rnio$i"
    ip -n "nvmhost$i" link set "rnv$i" up
    ip -n niohost link set "rnio$i" up
done

# start_daemon NAME NETNS ARGS...: sidecored in a namespace, up to 10 s to ready.
start_daemon() {
    local name=$1 ns=$2
    shift 2
    ip netns exec "$ns" "$SCD" --no-default --runtime-dir "$TMP/$name" \
        --rpc "$TMP/$name.rpc" --log-level info "$@" >"$TMP/$name.out" 2>"$TMP/$name.log" &
    local pid=$!
    PIDS+=("$pid")
    scd_wait_ready "sidecored $name" "$TMP/$name.log" "$pid"
}
ctl() { local s=$1; shift; timeout 15 "$CTL" -s "$TMP/$s.rpc" --json "$@"; }
# tun VM FIELD: a counter of the VM daemon's tunnel (jq path below .tunnels[0]).
tun() { ctl "$1" net-peers | jq -r ".tunnels[0]$2"; }
# peer NAME FIELD: a counter of the iohost's peer NAME.
peer() { ctl io net-peers | jq -r --arg n "$1" ".listener.peers[] | select(.name == \$n) $2"; }
wait_for() { # SECONDS WHAT COMMAND...
    local secs=$1 what=$2 _
    shift 2
    for _ in $(seq $((secs * 5))); do
        "$@" && return 0
        sleep 0.2
    done
    fail "timed out after $secs s waiting for $what"
}
joined() { [ "$(tun "$1" .state)" = connected ]; }

# An iohost of remote NICs only: it needed a block listener it did not use.
io_up() {
    start_daemon io niohost --cpus 0 \
        --net-listen 0.0.0.0:7411 --switch name=sw0 --port switch=sw0,name=rntap0,type=tap
    IO_PID=${PIDS[-1]}
    ip netns exec niohost sysctl -qw net.ipv6.conf.rntap0.disable_ipv6=1
    ip -n niohost addr add 10.78.9.1/24 dev rntap0 || fail "cannot address the tap"
}
io_up
start_daemon vm0 nvmhost0 --cpus 1 \
    --net "name=n0,socket=$TMP/n0.sock,server=10.78.0.2:7411,remote_switch=sw0,heartbeat_ms=50"
start_daemon vm1 nvmhost1 --cpus 1 \
    --net "name=n1,socket=$TMP/n1.sock,server=10.78.1.2:7411,remote_switch=sw0,heartbeat_ms=50"
wait_for 10 "vmhost0's tunnel to join sw0" joined vm0
wait_for 10 "vmhost1's tunnel to join sw0" joined vm1
P0=n0@10.78.0.1
P1=n1@10.78.1.1
[ "$(peer $P0 .switch)" = sw0 ] || fail "the iohost shows no peer $P0 on sw0"
rtt=$(tun vm0 .rtt_us)
[ "$rtt" -gt 0 ] || fail "no round trip measured by heartbeats"
echo "tunnels joined; heartbeat RTT vmhost0 <-> iohost: $rtt us"

# consistent VM PEER: per direction, sent = taken + drops on the way.
# Frames from the device into the tunnel (to_iohost) reach the iohost's peer
# port (from_vmhost) unless the vmhost could not send them or the path lost
# them; and back.
consistent() {
    local t p
    t=$(ctl "$1" net-peers | jq -c '.tunnels[0]')
    p=$(ctl io net-peers | jq -c --arg n "$2" '.listener.peers[] | select(.name == $n)')
    local up down
    up=$(jq -n --argjson t "$t" --argjson p "$p" '$t.to_iohost_packets ==
        $p.from_vmhost_packets + $p.path.drops.lost + $t.path.drops.send_full +
        $t.path.drops.not_joined + $t.path.drops.too_big + $t.path.drops.bad_gso')
    down=$(jq -n --argjson t "$t" --argjson p "$p" '$p.to_vmhost_packets ==
        $t.from_iohost_packets + $t.path.drops.lost + $p.path.drops.send_full +
        $p.path.drops.too_big + $p.path.drops.bad_gso')
    [ "$up" = true ] && [ "$down" = true ]
}

# --- 1. ping across the remote path --------------------------------------
dpdk_start e0 1 icmpecho "net_virtio_user0,path=$TMP/n0.sock"
dpdk_wait_forwarding e0
ip netns exec niohost timeout 30 ping -c 20 -i 0.1 -W 2 10.78.9.2 >"$TMP/ping1.out" 2>&1
got=$(awk '/packets transmitted/ {print $4}' "$TMP/ping1.out")
[ "${got:-0}" -ge 18 ] || fail "ping across the remote path: ${got:-0} of 20 replies"
wait_for 10 "consistent counts on both ends" consistent vm0 $P0
echo "1. ping: $got/20 replies; tunnel sent $(tun vm0 .to_iohost_packets), got $(tun vm0 .from_iohost_packets); counts consistent"

# --- 2. a filter on the iohost's peer port denies ICMP ---------------------
ctl io interpose "$P0" '[{"type":"filter","default":"allow","rules":[
    {"action":"deny","ethertype":"ipv4","proto":"icmp"}]}]' >/dev/null ||
    fail "interpose_set with a filter on $P0 failed"
ip netns exec niohost timeout 30 ping -c 10 -i 0.1 -W 1 10.78.9.2 >"$TMP/ping2.out" 2>&1
got=$(awk '/packets transmitted/ {print $4}' "$TMP/ping2.out")
[ "${got:-1}" -eq 0 ] || fail "ICMP denied on $P0, yet $got ping replies came back"
hits=$(ctl io switch-stats sw0 | jq -r --arg n "$P0" \
    '.ports[] | select(.name == $n) | .interpose[0].rules[0].hits')
[ "${hits:-0}" -ge 10 ] || fail "the deny rule counted ${hits:-0} hits for 10 echo requests"
filtered=$(ctl io switch-stats sw0 | jq -r --arg n "$P0" \
    '.ports[] | select(.name == $n) | .drops.filtered')
[ "$filtered" -ge 10 ] || fail "the peer port counted $filtered filtered drops"
ctl io interpose "$P0" '[]' >/dev/null || fail "clearing the filter failed"
ip netns exec niohost timeout 30 ping -c 5 -i 0.1 -W 2 10.78.9.2 >"$TMP/ping3.out" 2>&1
got=$(awk '/packets transmitted/ {print $4}' "$TMP/ping3.out")
[ "${got:-0}" -ge 4 ] || fail "pings do not pass again after the filter was removed"
echo "2. filter: 0/10 replies while ICMP is denied, rule hits $hits; $got/5 after removal"
dpdk_stop e0

# --- 3. txonly on vmhost0 -> rxonly on vmhost1 through the iohost ---------
dpdk_start rx1 1 rxonly "net_virtio_user0,path=$TMP/n1.sock"
dpdk_wait_forwarding rx1
dpdk_start tx0 1 txonly "net_virtio_user0,path=$TMP/n0.sock" --txpkts=256
dpdk_wait_forwarding tx0
sleep 2
dpdk_stop_fwd tx0
sent=$(dpdk_fwd tx0 TX-packets)
[ "${sent:-0}" -gt 0 ] || fail "testpmd tx0 sent nothing"
# Settle: frames still in sockets and rings land, heartbeats carry the tails.
sleep 1
dpdk_stop_fwd rx1
recv=$(dpdk_fwd rx1 RX-packets)
dpdk_quit tx0
dpdk_quit rx1
n1=$(ctl vm1 net-stats n1)
io=$(ctl io net-peers)
t0=$(ctl vm0 net-peers | jq -c '.tunnels[0]')
t1=$(ctl vm1 net-peers | jq -c '.tunnels[0]')
drops=$(jq -n --argjson t0 "$t0" --argjson t1 "$t1" --argjson io "$io" --argjson n1 "$n1" \
    --arg p0 "$P0" --arg p1 "$P1" '
    ($io.listener.peers[] | select(.name == $p0)) as $q0 |
    ($io.listener.peers[] | select(.name == $p1)) as $q1 |
    ($t0.path.drops.send_full + $t0.path.drops.not_joined + $t0.path.drops.too_big +
     $q0.path.drops.lost + $q0.port_drops + $q1.port_drops +
     $q1.path.drops.send_full + $q1.path.drops.too_big + $t1.path.drops.lost +
     $n1.port.drops_total)')
echo "3. stream: testpmd sent $sent, received $recv, drops counted on the way $drops"
[ "${recv:-0}" -gt 0 ] || fail "nothing reached vmhost1"
[ "$recv" -le "$sent" ] || fail "received more than was sent"
[ $((recv + drops)) -ge "$sent" ] ||
    fail "sent $sent != received $recv + counted drops $drops (frames unaccounted for)"

# 4. A second vmhost daemon on vmhost0's host with a net device of the same
# name: refused while the first one's tunnel lives (the two replaced each
# other at every HELLO, ~20 times a second, for good), said once each side.
sess0=$(peer "$P0" .session)
start_daemon vm0b nvmhost0 --cpus 1 \
    --net "name=n0,socket=$TMP/n0b.sock,server=10.78.0.2:7411,remote_switch=sw0,heartbeat_ms=50"
VM0B_PID=${PIDS[-1]}
wait_for 10 "the namesake to be refused" grep -q "a live peer of our name from our host holds it" \
    "$TMP/vm0b.log"
sleep 1
[ "$(peer "$P0" .session)" = "$sess0" ] || fail "the namesake replaced vmhost0's tunnel"
[ "$(grep -c "cannot join switch sw0: a live peer of that name holds it" "$TMP/io.log")" = 1 ] ||
    fail "the iohost did not say once why it refuses the namesake"
[ "$(grep -c "refuses to attach us" "$TMP/vm0b.log")" = 1 ] || fail "the namesake's refusal is not said once"
echo "4. a namesake from the same host is refused; vmhost0's tunnel stays"

# 5. What the control surface says about remote devices and peers.
# A remote device was listed as a "sink".
timeout 15 "$CTL" -s "$TMP/vm0.rpc" net-list >"$TMP/list.out" || fail "net-list"
grep -q "remote sw0" "$TMP/list.out" || fail "net-list does not show n0 as remote: $(cat "$TMP/list.out")"
# The iohost's peer port is listed by switch-stats; port-delete said it did
# not exist.
out=$(ctl io port-delete sw0 "$P0" 2>&1) && fail "port-delete of a peer's port succeeded"
echo "$out" | grep -q "is a remote peer's port: it goes with its tunnel" ||
    fail "port-delete of a peer's port: $out"
# Every vmhost's "net9" got one MAC: their guests could not reach each other.
m0=$(ctl vm0 net-create net9 server=10.78.0.2:7411 remote_switch=sw0 | jq -r .mac)
m1=$(ctl vm1 net-create net9 server=10.78.1.2:7411 remote_switch=sw0 | jq -r .mac)
[ -n "$m0" ] && [ "$m0" != null ] && [ "$m0" != "$m1" ] ||
    fail "net9 on two vmhosts got MACs $m0 and $m1"
ctl vm0 net-delete net9 >/dev/null && ctl vm1 net-delete net9 >/dev/null || fail "net-delete net9"
# A heartbeat the iohost's 10 s silence timeout cannot keep (it forgot the
# peer while the vmhost said connected), an mtu no datagram carries.
out=$(ctl vm0 net-create slow server=10.78.0.2:7411 remote_switch=sw0 heartbeat_ms=15000 2>&1) &&
    fail "heartbeat_ms=15000 accepted"
echo "$out" | grep -q "1..1000" || fail "heartbeat_ms=15000: $out"
out=$(ctl vm0 net-create big server=10.78.0.2:7411 remote_switch=sw0 mtu=65500 2>&1) &&
    fail "mtu=65500 accepted for a remote device"
echo "$out" | grep -q "at most 65457" || fail "mtu=65500: $out"
echo "5. remote devices listed as such, peer ports explained, MACs per host, limits said"

# 6. The iohost restarts: its new peer numbers frames from 0, and the
# tunnel kept the old numbering, so every frame the path lost afterwards
# looked late and none was counted (396 of 403 lost, 0 counted).
kill -TERM "$VM0B_PID"
dpdk_start e6 1 icmpecho "net_virtio_user0,path=$TMP/n0.sock"
dpdk_wait_forwarding e6
ip netns exec niohost timeout 30 ping -q -c 300 -i 0.005 -W 2 10.78.9.2 >/dev/null
# Stopped before the restart: the new iohost would inherit its command
# pipe and keep it from seeing the end of its commands.
dpdk_stop e6
kill -KILL "$IO_PID"
wait "$IO_PID" 2>/dev/null
rm -rf "$TMP/io" "$TMP/io.rpc"
io_up
wait_for 10 "vmhost0's tunnel to join the restarted iohost" joined vm0
wait_for 10 "the peer to show on the restarted iohost" test -n "$(peer $P0 .name)"
dpdk_start e7 1 icmpecho "net_virtio_user0,path=$TMP/n0.sock"
dpdk_wait_forwarding e7
ip netns exec niohost timeout 10 ping -q -c 3 -i 0.2 -W 2 10.78.9.2 >/dev/null
f0=$(tun vm0 .from_iohost_packets) l0=$(tun vm0 .path.drops.lost) p0=$(peer $P0 .to_vmhost_packets)
# A queue of 4 KiB at 1 Mbit/s keeps a few of a burst of 400 x 1400 B (on a
# busy machine too: the iohost forwards them faster than 90 a second).
ip netns exec niohost tc qdisc add dev rnio0 root tbf rate 1mbit burst 4k limit 4k ||
    fail "tc tbf on rnio0"
ip netns exec niohost timeout 20 python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(400):
    s.sendto(b"x" * 1400, ("10.78.9.2", 9))'
sleep 1.5
ip netns exec niohost tc qdisc del dev rnio0 root
ip netns exec niohost timeout 10 ping -q -c 3 -i 0.2 -W 2 10.78.9.2 >/dev/null
sleep 0.5
sent=$(( $(peer $P0 .to_vmhost_packets) - p0 )) got=$(( $(tun vm0 .from_iohost_packets) - f0 ))
lost=$(( $(tun vm0 .path.drops.lost) - l0 ))
echo "6. after an iohost restart: sent $sent frames to vmhost0, $got arrived, $lost counted lost"
[ "$got" -lt "$sent" ] || fail "the tbf dropped nothing: the check is blind"
[ $((sent - got - lost)) -eq 0 ] || fail "$((sent - got - lost)) frames lost after the restart went uncounted"
dpdk_stop e7

# 7. The vmhost's socket fills up behind a slow link: the frames it cannot
# send are counted once, as send_full. Their sequence numbers were spent
# anyway, so the iohost counted the same frames again as lost on the path.
# The queue is longer than the socket's send buffer (8 MiB, 16 MiB as the
# kernel counts it): nothing is dropped on the wire, only the socket limits
# what goes out. Counted from here on: the iohost's counters restarted with
# it in section 6, the vmhost's did not.
# up: the tunnel's frames into the path, and what became of them.
up() {
    local t p
    t=$(ctl vm0 net-peers | jq -c '.tunnels[0]')
    p=$(ctl io net-peers | jq -c --arg n "$P0" '.listener.peers[] | select(.name == $n)')
    jq -n --argjson t "$t" --argjson p "$p" '[$t.to_iohost_packets, $p.from_vmhost_packets,
        $p.path.drops.lost, $t.path.drops.send_full] | @sh' -r
}
ip netns exec nvmhost0 tc qdisc add dev rnv0 root tbf rate 20mbit burst 32k limit 64mb ||
    fail "tc tbf on rnv0"
read -r sent0 took0 lost0 full0 <<<"$(up)"
# took_all: every frame the tunnel sent since has reached the iohost or is
# counted as a drop, once.
took_all() {
    read -r sent took lost full <<<"$(up)"
    sent=$((sent - sent0)) took=$((took - took0)) lost=$((lost - lost0)) full=$((full - full0))
    [ "$sent" -eq $((took + lost + full)) ]
}
dpdk_start tx7 1 txonly "net_virtio_user0,path=$TMP/n0.sock" --txpkts=1400
dpdk_wait_forwarding tx7
# Until the socket is full (about 2 s here), at most 15 s.
for _ in $(seq 75); do
    took_all
    [ "$full" -gt 0 ] && break
    sleep 0.2
done
dpdk_stop tx7
# The queue drains: up to 16 MiB at 20 Mbit/s, 7 s.
for _ in $(seq 75); do took_all && break; sleep 0.2; done
ip netns exec nvmhost0 tc qdisc del dev rnv0 root
echo "7. behind a slow link: the tunnel took $sent frames; $took reached the iohost," \
    "$full could not be sent, $lost counted lost on the path"
[ "$full" -gt 0 ] || fail "the socket never filled: the check is blind"
[ "$sent" -eq $((took + lost + full)) ] ||
    fail "$sent frames != $took arrived + $lost lost + $full send_full (a drop counted twice or never)"

# --- 8. a hand-made tunnel (h10's findings) ----------------------------------
rp() { timeout 20 ip netns exec nvmhost0 "$PEER" 10.78.0.2:7411 sw0 "$@"; }
unmatched() { ctl io net-peers | jq -r ".listener.unmatched.drops.$1"; }
# Datagrams with a peer's session and slot from another address kept it
# alive while every reply went to the address it joined from.
rp moved || fail "a ping from another socket was taken as the peer's"
# A HELLO of a new session from a live peer's own address and port replaced
# it without knowing its session.
rp spoof || fail "a live peer was replaced by a new session from its address"
# HELLOs beyond the 32 joins waiting for the control thread were dropped
# uncounted; and empty datagrams were never counted.
busy0=$(unmatched join_busy) mal0=$(unmatched malformed)
answered=$(rp flood 200 | sed -n 's/^answered //p')
busy=$(( $(unmatched join_busy) - busy0 ))
[ "$((answered + busy))" -ge 200 ] ||
    fail "200 HELLOs at once: $answered answered, $busy counted join_busy, the rest neither"
rp zero 5 || fail "rnet_peer zero"
wait_for 5 "5 empty datagrams counted malformed" \
    test "$(( $(unmatched malformed) - mal0 ))" -ge 5
echo "8. a hand-made tunnel: moved and spoofed sessions refused; 200 HELLOs: $answered" \
    "answered, $busy join_busy; empty datagrams counted"
# A broken iohost that forgets the tunnel at every PING: the vmhost logged
# "forgot us" and "joined" once per heartbeat, for good.
ip netns exec niohost timeout 20 "$PEER" 10.78.1.2:7499 sw0 forget 3 >"$TMP/forget.out" 2>&1 &
FG=$!
sleep 0.2
ctl vm1 net-create nf server=10.78.1.2:7499 remote_switch=sw0 heartbeat_ms=50 >/dev/null ||
    fail "net-create nf"
wait $FG
forgot=$(sed -n 's/^forgot //p' "$TMP/forget.out")
lines=$(grep -c "nf: 10.78.1.2:7499 forgot us" "$TMP/vm1.log")
ctl vm1 net-delete nf >/dev/null || fail "net-delete nf"
[ "${forgot:-0}" -ge 10 ] || fail "the broken iohost forgot nf only ${forgot:-0} times: blind check"
[ "$lines" -le 4 ] || fail "$forgot forgettings made $lines log lines (at most 4 per 10 s)"
echo "   a broken iohost forgot the tunnel $forgot times in 3 s: $lines log line(s)"
echo "PASS"
