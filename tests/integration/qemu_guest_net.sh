#!/usr/bin/env bash
# Linux guests under QEMU (TCG) on sidecored's switch, with the host on a tap
# port of the same switch.
#  1. Guests A and B ping each other and the host's address on the tap; the
#     host pings both; each guest stays up until the host has connected to
#     it over TCP and said "bye", so neither leaves before the other is done.
#  2. Guest C pings a testpmd virtio-user port on the switch (forward mode
#     icmpecho answers ARP and ICMP echo): replies must come back, and what
#     testpmd received and sent equals what its switch port delivered and
#     took.
# Guest A has two vCPUs and a NIC with two queue pairs (mq=on): QEMU 7.2
# then runs one vhost device per pair on the connection, each adding the
# guest's memory regions (ADD_MEM_REG) itself; its flows come back on the
# pair they left by, through the switch and a multiqueue tap (2 queues).
# Between the pings and the hold of part 1, guests A (split ring) and B
# (packed ring, no mergeable rx buffers: Linux posts big chained rx
# buffers then) each send a few MB over TCP to the host and take as much
# back, then A sends as much to B (each transfer checksummed): the guests'
# checksum and segmentation offloads cross the switch into the tap, the
# host's come back, a guest's reach the other guest, and the tx queues'
# held-back completions must not stall a real TCP sender.
# Usage: qemu_guest_net.sh BUILD_DIR
set -u
BUILD=${1:?usage: qemu_guest_net.sh BUILD_DIR}
TMP=$(mktemp -d /tmp/guest-net.XXXXXX)
HERE=$(dirname "$0")
declare -A QPID=() BULK_PID=()
cleanup() {
    local n
    for n in "${!BULK_PID[@]}"; do kill "${BULK_PID[$n]}" 2>/dev/null; done
    for n in "${!QPID[@]}"; do kill "${QPID[$n]}" 2>/dev/null; done
    for n in "${!QPID[@]}"; do wait "${QPID[$n]}" 2>/dev/null; done
    dpdk_cleanup
    scd_cleanup
    rm -rf "$TMP"
}
trap cleanup EXIT
dump_backend_log() { [ -f "$TMP/daemon.log" ] && cat "$TMP/daemon.log"; }
# shellcheck source=lib/guest_common.sh
. "$HERE/lib/guest_common.sh"
# shellcheck source=lib/scd_common.sh
. "$HERE/lib/scd_common.sh"
# shellcheck source=lib/dpdk_common.sh
. "$HERE/lib/dpdk_common.sh"
fail() {
    echo "FAIL: $*"
    local f
    for f in "$TMP"/serial-*.log; do
        [ -f "$f" ] || continue
        echo "--- last 30 lines of $(basename "$f") ---"
        tail -n 30 "$f" | tr -d '\r'
    done
    [ -f "$TMP/pmd-pmd.log" ] && tail -n 20 "$TMP/pmd-pmd.log" | sed 's/^/  testpmd: /'
    echo "--- sidecored log (last 40 lines) ---"
    dump_backend_log | tail -n 40
    exit 1
}
command -v ip >/dev/null || fail "ip not found (iproute2)"
# busybox-static (the guest's) also pings from the host.
PING=(/bin/busybox ping)
"${PING[@]}" --help >/dev/null 2>&1 || fail "/bin/busybox has no ping (scripts/install-deps.sh test)"
guest_require
scd_require
dpdk_require

# A subnet and tap name of this run's own, so concurrent runs do not meet.
NET=10.$((200 + $$ % 50)).$((($$ / 50) % 250)).
HOST=${NET}1
TAP=sctap$$
HOLD_PORT=7000
BULK_LINES=600000 # "seq 1 N": 4 MB

# boot NAME DEVICE KERNEL_ARGS [NIC_OPTIONS [PAIRS]]: guest NAME on net
# device DEVICE, in the background, with PAIRS queue pairs (default 1; more
# give the guest as many vCPUs); its console goes to $TMP/serial-NAME.log.
boot() {
    local mac pairs=${5:-1} mq=""
    mac=$(scd_ctl net-stats "$2" | jq -r .mac) || fail "net-stats $2"
    [ "$pairs" -gt 1 ] && mq=",mq=on"
    : >"$TMP/serial-$1.log"
    guest_qemu "$TMP/serial-$1.log" net "$3" -smp "$pairs" \
        -chardev socket,id=c0,path="$TMP/$2.sock" \
        -netdev vhost-user,id=n0,chardev=c0,queues="$pairs" \
        -device virtio-net-pci,netdev=n0,mac="$mac",vectors=0$mq${4:-} &
    QPID[$1]=$!
}

# wait_guest NAME: QEMU must power off cleanly (bounded by its timeout).
wait_guest() {
    local rc=0
    wait "${QPID[$1]}" || rc=$?
    unset "QPID[$1]"
    [ "$rc" -eq 124 ] && fail "guest $1 did not power off within ${GUEST_TIMEOUT} s"
    [ "$rc" -eq 0 ] || fail "QEMU of guest $1 exited with status $rc"
}

# holding NAME: the guest finished its pings and waits for the host.
holding() {
    kill -0 "${QPID[$1]}" 2>/dev/null || fail "guest $1 powered off before the host said bye"
    [ -n "$(guest_result holding "$TMP/serial-$1.log")" ]
}

# check_pings NAME ADDR...: every ADDR answered the guest.
check_pings() {
    local name=$1 log=$TMP/serial-$1.log a got
    shift
    [ -z "$(guest_result error "$log")" ] || fail "guest $name: $(guest_result error "$log")"
    [ -z "$(guest_result insmod_failed "$log")" ] || fail "guest $name could not load $(guest_result insmod_failed "$log")"
    for a in "$@"; do
        got=$(guest_result "ping_$a" "$log")
        echo "guest $name -> $a: $got replies"
        [ -n "$got" ] && [ "${got%/*}" -gt 0 ] || fail "guest $name got no answer from $a"
    done
    [ "$(guest_result exit "$log")" = 0 ] || fail "guest $name's test exited $(guest_result exit "$log")"
}

scd_start --switch name=sw0 --port "switch=sw0,name=tap0,type=tap,ifname=$TAP,queues=2" \
    --net name=g0,switch=sw0,queues=2 --net name=g1,switch=sw0
# The host's IPv6 chatter would land in the exact counts of part 2.
[ ! -e "/proc/sys/net/ipv6/conf/$TAP" ] || echo 1 >"/proc/sys/net/ipv6/conf/$TAP/disable_ipv6"
ip addr add "$HOST/24" dev "$TAP" || fail "cannot give $TAP the address $HOST"

command -v socat >/dev/null || fail "socat not found (scripts/install-deps.sh test)"
bulk_want=$(seq 1 "$BULK_LINES" | md5sum | cut -d' ' -f1)

# guest_said KEY LOG: the guest has reported KEY.
guest_said() { [ -n "$(guest_result "$1" "$2")" ]; }

# bulk_listen NAME PORT: the host's listener for guest NAME's TCP data.
bulk_listen() {
    timeout "$GUEST_TIMEOUT" socat -u "TCP-LISTEN:$2,bind=$HOST,reuseaddr" \
        "CREATE:$TMP/bulk-$1" 2>"$TMP/bulk-$1.log" &
    BULK_PID[$1]=$!
}

# bulk_check NAME ADDR PORT DEVICE: guest NAME's data reached the host
# whole; then the host's reaches the guest whole.
bulk_check() {
    local name=$1 addr=$2 port=$3 log=$TMP/serial-$1.log got
    scd_wait "$GUEST_TIMEOUT" "guest $name to send its TCP data" guest_said bulk_listening "$log"
    wait "${BULK_PID[$name]}" || { cat "$TMP/bulk-$name.log"; fail "the host's TCP listener for guest $name failed"; }
    unset "BULK_PID[$name]"
    [ "$(guest_result bulk_sent "$log")" = 0 ] || fail "guest $name's nc failed to send"
    got=$(md5sum <"$TMP/bulk-$name" | cut -d' ' -f1)
    echo "guest $name -> host over TCP: $(stat -c %s "$TMP/bulk-$name") bytes, md5 $got (want $bulk_want)"
    [ "$got" = "$bulk_want" ] || fail "the host received other bytes than guest $name sent"
    seq 1 "$BULK_LINES" | timeout 120 socat -u - "TCP:$addr:$port,retry=40,interval=0.5" ||
        fail "the host could not send its TCP data to guest $name"
    scd_wait 120 "guest $name to checksum the host's TCP data" guest_said bulk_got_md5 "$log"
    got=$(guest_result bulk_got_md5 "$log")
    echo "host -> guest $name over TCP: md5 $got (want $bulk_want)"
    [ "$got" = "$bulk_want" ] || fail "guest $name received other bytes than the host sent"
    echo "guest $name's port so far: $(scd_ctl net-stats "$4" | jq -c '.port | {tx_packets, tx_bytes, rx_packets, rx_bytes}')"
}

echo "== 1. two guests and the host"
bulk_listen a 7001
bulk_listen b 7002
boot a g0 "sc.ip=${NET}2/24 sc.ping=${NET}3,$HOST sc.bulk=$HOST:7001:$BULK_LINES \
sc.to=${NET}3:7003:$BULK_LINES sc.hold=$HOLD_PORT sc.pin=2" "" 2
boot b g1 "sc.ip=${NET}3/24 sc.ping=${NET}2,$HOST sc.bulk=$HOST:7002:$BULK_LINES \
sc.from=7003 sc.hold=$HOLD_PORT" ,packed=on,mrg_rxbuf=off
bulk_check a "${NET}2" 7001 g0
bulk_check b "${NET}3" 7002 g1
scd_wait 180 "guest b to checksum guest a's TCP data" guest_said peer_got_md5 "$TMP/serial-b.log"
got=$(guest_result peer_got_md5 "$TMP/serial-b.log")
echo "guest a -> guest b over TCP: md5 $got (want $bulk_want)"
[ "$got" = "$bulk_want" ] || fail "guest b received other bytes than guest a sent"
[ "$(guest_result peer_sent "$TMP/serial-a.log")" = 0 ] || fail "guest a could not send to guest b"
feat=$(scd_ctl net-stats g1 | jq -r .features)
[ $(((feat >> 34) & 1)) = 1 ] && [ $(((feat >> 15) & 1)) = 0 ] ||
    fail "guest b's NIC should have a packed ring without mergeable rx buffers (features $feat)"
scd_wait "$GUEST_TIMEOUT" "guest a to finish its pings" holding a
started=$(scd_ctl net-stats g0 | jq '[.queues[] | select(.kind != "ctrl" and .started)] | length')
echo "guest a's NIC: $started rings running"
[ "$started" = 4 ] || fail "guest a's NIC runs $started rings, not both queue pairs' 4"
# Receive steering: a flow guest a sent on a pair's tx queue comes back on
# that pair's rx queue (before steering, everything from the tap landed on
# rx queue 0), and flows it never sent spread by their hash.
qpk() { scd_ctl net-stats g0 | jq --arg q "$1" '.queues[] | select(.name == $q) | .packets'; }
echo "guest a's queues: $(scd_ctl net-stats g0 | jq -c '[.queues[] | select(.kind != "ctrl") | {(.name): .packets}] | add')"
for p in 0 1; do
    [ "$(qpk "g0.tx$p")" -eq 0 ] || [ "$(qpk "g0.rx$p")" -gt 0 ] ||
        fail "guest a sent on tx queue $p, but nothing came back on rx queue $p"
done
[ "$(qpk g0.tx1)" -gt 0 ] || fail "guest a's sender pinned to CPU 1 never used tx queue 1"
# The tap is multiqueue: the guests' flows go into the tap queue their
# hash picks and come back through it (which queue depends on the run's
# addresses and ports; net_switch.sh checks that flows spread).
hq=$(scd_ctl switch-stats sw0 | jq -c '.ports[] | select(.name == "tap0") | [.host_queues[].tx_packets]')
echo "frames the tap's two queues read from the host: $hq"
[ "$(echo "$hq" | jq 'length == 2 and add > 0')" = true ] ||
    fail "the multiqueue tap read nothing from the host: $hq"
flows=$(scd_ctl net-stats g0 | jq .steered_flows)
echo "guest a's NIC steers $flows flows"
[ "$flows" -gt 0 ] || fail "guest a's NIC recorded no flow for receive steering"
scd_wait "$GUEST_TIMEOUT" "guest b to finish its pings" holding b
for g in 2 3; do
    timeout 30 "${PING[@]}" -c 3 -W 5 "${NET}$g" >"$TMP/hostping" 2>&1 ||
        { cat "$TMP/hostping"; fail "the host cannot ping ${NET}$g"; }
    echo "host -> ${NET}$g: $(grep -o '[0-9]* packets received' "$TMP/hostping")"
    timeout 30 bash -c "echo bye >/dev/tcp/${NET}$g/$HOLD_PORT" ||
        fail "the host cannot connect to ${NET}$g:$HOLD_PORT"
done
wait_guest a
wait_guest b
check_pings a "${NET}3" "$HOST"
check_pings b "${NET}2" "$HOST"
for g in a b; do
    [ "$(guest_result host_said "$TMP/serial-$g.log")" = bye ] || fail "guest $g did not hear the host"
done
for p in tap0 g0 g1; do
    s=$(scd_ctl switch-stats sw0 | jq -c --arg p "$p" '.ports[] | select(.name == $p)')
    echo "port $p: $(echo "$s" | jq -c '{rx_packets, tx_packets, drops}')"
    [ "$(echo "$s" | jq .rx_packets)" -gt 0 ] && [ "$(echo "$s" | jq .tx_packets)" -gt 0 ] ||
        fail "port $p carried nothing in one direction"
done
for d in g0 g1; do
    [ "$(scd_ctl net-stats $d | jq .failures)" = 0 ] || fail "device $d failed: $(scd_ctl net-stats $d | jq -r .why)"
done

echo "== 2. a guest and testpmd"
scd_ctl net-create tp switch=sw0 "socket=$TMP/tp.sock" >/dev/null || fail "net-create tp"
dpdk_start pmd 0 icmpecho "net_virtio_user0,path=$TMP/tp.sock"
dpdk_wait_forwarding pmd
boot c g0 "sc.ip=${NET}4/24 sc.ping=${NET}9"
wait_guest c
check_pings c "${NET}9"
tp_rx=$(scd_port sw0 tp .rx_packets)
dpdk_wait_live pmd 0 RX-packets "$tp_rx" 30
dpdk_stop pmd
rx=$(dpdk_fwd pmd RX-packets)
tx=$(dpdk_fwd pmd TX-packets)
tp_rx=$(scd_port sw0 tp .rx_packets)
tp_tx=$(scd_port sw0 tp .tx_packets)
echo "testpmd received $rx, sent $tx; its port delivered $tp_rx, took $tp_tx"
[ "$tx" -gt 0 ] || fail "testpmd answered nothing"
[ "$rx" = "$tp_rx" ] || fail "the port delivered $tp_rx frames, testpmd received $rx"
[ "$tx" = "$tp_tx" ] || fail "testpmd sent $tx frames, the port took $tp_tx"
[ "$(scd_ctl net-stats tp | jq .failures)" = 0 ] || fail "device tp failed"
scd_stop
echo "PASS: guests, host and testpmd reached each other through sidecored's switch"
