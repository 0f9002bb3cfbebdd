#!/usr/bin/env bash
# VPRI on virtio-net (docs/VPRI.md) end to end: sidecored with a switch and
# two net devices on ONE sidecore. sidecore-bench plays the faulting VM on
# device na (VPRI, overcommitted rx buffer pool, faults served from its own
# loop) and a second VM on nb that sends na numbered frames through the
# switch (`sidecore-bench iopf run --device net`).
#  1. rx buffers that are not resident park na's rx queue, faults are
#     posted and served, and the queue resumes: every frame na receives is
#     the one sent (payload pattern checked) and in order; frames that
#     arrived while it was parked were dropped and counted, and
#     sent = received + dropped (the daemon's port counters);
#  2. the same under the DMA-aware and pin-nothing policies, paced;
#  3. no device failed, the daemon survives, and its own VPRI counters
#     (sidecorectl net-stats) show the faults and drops, with nothing left
#     parked once the frontend is gone.
# Usage: vpri_net.sh BUILD_DIR
set -u
BUILD=${1:?usage: vpri_net.sh BUILD_DIR}
BENCH=$BUILD/sidecore-bench
SCD=$BUILD/sidecored
CTL=$BUILD/sidecorectl
for b in "$BENCH" "$SCD" "$CTL"; do
    [ -x "$b" ] || { echo "FAIL: $b not built"; exit 1; }
done
command -v jq >/dev/null || { echo "FAIL: jq is missing (scripts/install-deps.sh test)"; exit 1; }

TMP=$(mktemp -d /tmp/vpri-net.XXXXXX)
SCD_PID=
cleanup() {
    if [ -n "$SCD_PID" ]; then
        kill "$SCD_PID" 2>/dev/null
        wait "$SCD_PID" 2>/dev/null
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; [ -f "$TMP/scd.log" ] && sed 's/^/  sidecored: /' "$TMP/scd.log" | tail -40; exit 1; }
. "$(dirname "$0")/lib/bench_common.sh"

"$SCD" --no-default --rpc "$TMP/rpc.sock" --sidecores 1 --log-level info \
    --switch name=sw0 \
    --net "name=na,switch=sw0,socket=$TMP/a.sock" \
    --net "name=nb,switch=sw0,socket=$TMP/b.sock" \
    >"$TMP/scd.log" 2>&1 &
SCD_PID=$!
wait_socket "$TMP/a.sock" "$SCD_PID" sidecored
wait_socket "$TMP/b.sock" "$SCD_PID" sidecored

field() {
    grep -o "\b$1=[0-9.]*" "$TMP/out" | head -1 | cut -d= -f2
}

# na's port counters as the daemon reports them.
port() {
    timeout 10 "$CTL" -s "$TMP/rpc.sock" --json net-stats na >"$TMP/stats.json" ||
        fail "sidecorectl net-stats na"
    jq -r ".port.$1" "$TMP/stats.json"
}

# run ARGS...: one bounded run; checks what every run must satisfy.
run() {
    local rx0 drop0
    rx0=$(port rx_packets)
    drop0=$(port drops.no_buffers)
    echo "+ sidecore-bench iopf run --device net $*"
    timeout 120 "$BENCH" iopf run --device net --socket "$TMP/a.sock" \
        --socket2 "$TMP/b.sock" --workload nic --pool-mb 4 --rx-buffers 256 "$@" \
        >"$TMP/out" 2>"$TMP/err"
    local rc=$?
    cat "$TMP/out"
    if [ "$rc" -ne 0 ]; then
        sed 's/^/  stderr: /' "$TMP/err" | tail -20
        fail "sidecore-bench iopf exited $rc"
    fi
    kill -0 "$SCD_PID" 2>/dev/null || fail "sidecored died"
    local sent received rx drops
    sent=$(field sent)
    received=$(field received)
    [ "$sent" -gt 0 ] || fail "nothing was sent"
    [ "$received" -gt 0 ] || fail "nothing was received"
    [ "$(field faults)" -gt 0 ] || fail "no fault was served"
    [ "$(field resumed)" -gt 0 ] || fail "the rx queue never resumed"
    [ "$(field mismatches)" = 0 ] || fail "wrong or reordered frames"
    rx=$(( $(port rx_packets) - rx0 ))
    drops=$(( $(port drops.no_buffers) - drop0 ))
    [ "$rx" = "$received" ] || fail "the daemon delivered $rx frames, the VM received $received"
    [ "$sent" = $((received + drops)) ] ||
        fail "sent $sent != received $received + dropped $drops"
    [ "$(field dropped_parked)" -le "$drops" ] || fail "more parked drops than port drops"
}

echo "== 1. rx misses park and resume, every frame checked"
run --policy lru --overcommit 30 --ios 20000 --verify
[ "$(field checked)" = "$(field received)" ] || fail "not every received frame was checked"
[ "$(field dropped_parked)" -gt 0 ] || fail "no frame was dropped while the queue was parked"

echo "== 2. DMA-aware pinning and pin-nothing, paced sender"
run --policy dma --pin-ratio 0.3 --overcommit 20 --ios 10000 --rate 20000 --verify
run --policy none --overcommit 20 --ios 10000 --rate 20000

echo "== 3. the daemon's own counters"
timeout 10 "$CTL" -s "$TMP/rpc.sock" net-stats na >"$TMP/stats.txt" || fail "sidecorectl net-stats"
cat "$TMP/stats.txt"
grep -q "VPRI QUEUE" "$TMP/stats.txt" || fail "sidecorectl shows no VPRI counters"
timeout 10 "$CTL" -s "$TMP/rpc.sock" --json net-stats na >"$TMP/stats.json" || fail "net-stats"
vq() { jq -r ".queues[] | select(.kind == \"rx\") | .vpri.$1" "$TMP/stats.json"; }
[ "$(vq faults)" -gt 0 ] || fail "the daemon counted no rx fault"
[ "$(vq dropped)" -gt 0 ] || fail "the daemon counted no frame dropped while parked"
[ "$(vq parked)" = 0 ] || fail "the daemon still counts a parked rx queue"
[ "$(jq -r '.failed' "$TMP/stats.json")" = false ] || fail "na failed"
grep -q "device failed" "$TMP/scd.log" && fail "a device failed"
grep -q "na: VPRI channel" "$TMP/scd.log" || fail "na never set up a VPRI channel"
echo "PASS"
