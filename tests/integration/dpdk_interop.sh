#!/usr/bin/env bash
# Interop matrix: DPDK testpmd's virtio-user PMD against sidecored's
# virtio-net device, with packet counts checked on both sides.
#   forward modes txonly, rxonly, io, macswap
#   x split and packed rings x mrg_rxbuf on/off x in_order on/off (1 queue
#   pair), plus every mode on both rings with 2 queue pairs.
# Each case gets its own switch with the device and a sink port "gen":
#   txonly   testpmd's frames (unknown destination) are flooded to gen:
#            testpmd TX = device tx = gen rx.
#   rxonly   gen, added once testpmd forwards, sends N frames to the device:
#            testpmd RX = device rx (the rest are counted as dropped for
#            lack of rx buffers: gen sends faster than testpmd takes).
#   io       as rxonly with broadcast frames; testpmd sends them back
#            unchanged and the switch floods them to gen.
#   macswap  as rxonly with frames to the device's MAC; testpmd swaps the
#            addresses, so they go back to gen.
#            Both: testpmd RX = device rx, testpmd TX = device tx = gen rx,
#            and testpmd TX + its own tx drops = testpmd RX.
# testpmd stops forwarding before counts are compared; its ports stay up,
# so the device drains what testpmd already counted as sent.
# The features the device negotiated must be the ones the case asked for,
# and the device must not have failed. Nothing is timed: every wait is for
# a count, bounded. Every case runs (each in a subshell that stops its own
# testpmd); the failed ones are listed at the end.
# Usage: dpdk_interop.sh BUILD_DIR
set -u
BUILD=${1:?usage: dpdk_interop.sh BUILD_DIR}
TMP=$(mktemp -d /tmp/dpdk_interop.XXXXXX)
HERE=$(dirname "$0")
# shellcheck source=lib/scd_common.sh
. "$HERE/lib/scd_common.sh"
# shellcheck source=lib/dpdk_common.sh
. "$HERE/lib/dpdk_common.sh"
cleanup() {
    dpdk_cleanup
    scd_cleanup
    rm -rf "$TMP"
}
trap cleanup EXIT
fail() {
    echo "FAIL: ${CASE:-setup}: $*"
    [ -f "$TMP/pmd-pmd.log" ] && tail -n 12 "$TMP/pmd-pmd.log" | sed 's/^/  testpmd: /'
    [ -f "$TMP/daemon.log" ] && tail -n 12 "$TMP/daemon.log" | sed 's/^/  sidecored: /'
    exit 1
}
scd_require
dpdk_require

N=20000                          # frames gen sends in the receive modes
F_MRG_RXBUF=15 F_MQ=22 F_RING_PACKED=34 F_IN_ORDER=35

# has_bit HEX BIT
has_bit() { [ $((($1 >> $2) & 1)) -eq 1 ]; }

# check_feature FEATURES BIT NAME WANTED(0|1)
check_feature() {
    local got=0
    has_bit "$1" "$2" && got=1
    [ "$got" = "$4" ] || fail "$3 negotiated=$got, asked for $4 (features $1)"
}

dev() { scd_ctl net-stats "$DEV" | jq -r "$1"; }
dev_ge() { [ "$(dev "$1")" -ge "$2" ] 2>/dev/null; }         # FILTER VALUE
gen_sent() { [ "$(scd_port "$1" "$GEN" .tx_packets)" = "$2" ]; }  # SWITCH COUNT

# run_case K MODE RING(split|packed) MRG(0|1) IN_ORDER(0|1) QUEUES [TESTPMD_ARG]: case
# number K (names its switch swK, device cK and sink port genK: names are
# unique across the daemon, and a failed case leaves its own behind).
run_case() {
    local k=$1 mode=$2 ring=$3 mrg=$4 ino=$5 q=$6 extra=${7:-} packed=0
    [ "$ring" = packed ] && packed=1
    CASE="$mode $ring mrg_rxbuf=$mrg in_order=$ino queues=$q${extra:+ $extra}"
    DEV=c$k GEN=gen$k
    local sw=sw$k sock=$TMP/c$k.sock
    scd_ctl switch-create "$sw" >/dev/null || fail "switch-create"
    scd_ctl net-create "$DEV" "switch=$sw" "queues=$q" "socket=$sock" >/dev/null || fail "net-create"
    [ "$mode" = txonly ] && { scd_ctl port-add "$sw" "$GEN" type=sink >/dev/null || fail "port-add"; }
    dpdk_start pmd 0 "$mode" \
        "net_virtio_user0,path=$sock,queues=$q,packed_vq=$packed,mrg_rxbuf=$mrg,in_order=$ino" \
        --rxq="$q" --txq="$q" --port-topology=loop ${extra:+"$extra"}
    dpdk_wait_forwarding pmd
    scd_wait 20 "the device to start its queues" dev_ge .queues_started $((2 * q))
    local feat
    feat=$(dev .features)
    check_feature "$feat" $F_RING_PACKED RING_PACKED $packed
    check_feature "$feat" $F_MRG_RXBUF MRG_RXBUF "$mrg"
    check_feature "$feat" $F_IN_ORDER IN_ORDER "$ino"
    check_feature "$feat" $F_MQ MQ $((q > 1))

    if [ "$mode" = txonly ]; then
        dpdk_wait_live pmd 0 TX-packets 1 30
    else
        local dst
        dst=$(dev .mac)
        [ "$mode" = io ] && dst=ff:ff:ff:ff:ff:ff
        scd_ctl port-add "$sw" "$GEN" type=sink source_size=64 "source_dst=$dst" \
            source_count=$N >/dev/null || fail "port-add gen with a source"
        scd_wait 60 "gen to send $N frames" gen_sent "$sw" $N
        # testpmd reads everything the device delivered before it stops.
        dpdk_wait_live pmd 0 RX-packets "$(dev .port.rx_packets)" 30
    fi
    # Forwarding stops, the rings stay: the device drains what testpmd
    # counted as sent.
    dpdk_stop_fwd pmd
    local rx tx txdrop d_rx d_tx nobuf g_rx failed busy
    tx=$(dpdk_fwd pmd TX-packets)
    scd_wait 30 "the device to take the $tx frames testpmd sent" dev_ge .port.tx_packets "$tx"
    busy=$(dev '[.queues[] | select(.kind == "tx" and .packets > 0)] | length')
    dpdk_quit pmd

    rx=$(dpdk_fwd pmd RX-packets)
    txdrop=$(dpdk_fwd pmd TX-dropped)
    d_rx=$(dev .port.rx_packets)
    d_tx=$(dev .port.tx_packets)
    nobuf=$(dev .port.drops.no_buffers)
    failed=$(dev .failures)
    g_rx=$(scd_port "$sw" "$GEN" .rx_packets)
    printf '%-52s testpmd rx %7s tx %9s | device rx %7s (+%5s no buffers) tx %9s | gen rx %9s\n' \
        "$CASE" "$rx" "$tx" "$d_rx" "$nobuf" "$d_tx" "$g_rx"
    [ "$failed" = 0 ] || fail "the device failed: $(dev .why)"
    [ "$tx" = "$d_tx" ] || fail "testpmd sent $tx, the device took $d_tx"
    [ "$rx" = "$d_rx" ] || fail "the device delivered $d_rx, testpmd received $rx"
    [ "$g_rx" = "$d_tx" ] || fail "the device took $d_tx, gen received $g_rx"
    case $mode in
        txonly)
            [ "$tx" -gt 0 ] || fail "testpmd sent nothing"
            [ "$q" -eq 1 ] || [ "$busy" = "$q" ] || fail "only $busy of $q tx queues carried packets"
            ;;
        rxonly)
            [ "$rx" -gt 0 ] || fail "testpmd received nothing"
            [ $((d_rx + nobuf)) -eq $N ] || fail "device rx $d_rx + $nobuf without buffers != $N sent"
            ;;
        *)
            [ "$tx" -gt 0 ] || fail "testpmd sent nothing back"
            [ $((tx + txdrop)) -eq "$rx" ] || fail "testpmd received $rx but sent $tx + dropped $txdrop"
            [ $((d_rx + nobuf)) -eq $N ] || fail "device rx $d_rx + $nobuf without buffers != $N sent"
            ;;
    esac
    scd_ctl net-delete "$DEV" >/dev/null || fail "net-delete"
    scd_ctl port-delete "$sw" "$GEN" >/dev/null || fail "port-delete"
    scd_ctl switch-delete "$sw" >/dev/null || fail "switch-delete"
}

ncase=0
FAILED=()
# case ARGS...: run_case in a subshell; a failure is recorded, not fatal.
case_() {
    ncase=$((ncase + 1))
    ( trap dpdk_cleanup EXIT; run_case "$ncase" "$@" ) || FAILED+=("$*")
    kill -0 "$SCD_PID" 2>/dev/null || fail "sidecored died"
}

scd_start
for ring in split packed; do
    for mrg in 1 0; do
        for ino in 1 0; do
            for mode in txonly rxonly io macswap; do
                case_ "$mode" "$ring" "$mrg" "$ino" 1
            done
        done
    done
    for mode in txonly rxonly io macswap; do
        case_ "$mode" "$ring" 1 1 2
    done
    # Frames in several segments: DPDK sends them through an indirect
    # table, on a packed ring with the header entry marked writable.
    case_ txonly "$ring" 1 0 1 --txpkts=60,40
done
CASE=
if [ ${#FAILED[@]} -gt 0 ]; then
    echo "FAIL: ${#FAILED[@]} of $ncase cases (mode ring mrg_rxbuf in_order queues):"
    printf '  %s\n' "${FAILED[@]}"
    exit 1
fi
[ "$(scd_ctl net-list | jq length)" = 0 ] || fail "net devices left after the matrix"
scd_stop
echo "PASS: $ncase testpmd cases, counts equal on both sides"
