#!/usr/bin/env bash
# VPRI (docs/VPRI.md) end to end: sidecored with two file-backed blk devices
# on ONE sidecore; sidecore-bench plays the VM, overcommits device A's
# buffer pool and serves the I/O page faults the device reports.
#  1. bitmap misses park and resume with every read verified, for the LRU,
#     DMA-aware and pin-nothing policies, and for the blk, nic and mix
#     workloads;
#  2. eviction race: random pages and pages of buffers with requests in
#     flight are evicted every loop step, many thousand times, with no wrong
#     data, no I/O error and no device failure;
#  3. a second device on the same sidecore completes requests while A's are
#     parked and its faults are held back (A completes none meanwhile); with
#     A alone, the idle sidecore sleeps with requests parked and the
#     resolution wakes it;
#  4. a frontend without VPRI (plain `sidecore-bench run --verify`) works on
#     the same device afterwards;
# and the daemon's own per-queue VPRI counters (sidecorectl stats) add up.
# Usage: vpri_blk.sh BUILD_DIR
set -u
BUILD=${1:?usage: vpri_blk.sh BUILD_DIR}
BENCH=$BUILD/sidecore-bench
SCD=$BUILD/sidecored
CTL=$BUILD/sidecorectl
[ -x "$BENCH" ] || { echo "FAIL: $BENCH not built"; exit 1; }
[ -x "$SCD" ] || { echo "FAIL: $SCD not built"; exit 1; }
[ -x "$CTL" ] || { echo "FAIL: $CTL not built"; exit 1; }
command -v jq >/dev/null || { echo "FAIL: jq is missing (scripts/install-deps.sh test)"; exit 1; }

TMP=$(mktemp -d /tmp/vpri-blk.XXXXXX)
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

truncate -s 8M "$TMP/a.img"
truncate -s 8M "$TMP/b.img"
"$SCD" --no-default --rpc "$TMP/rpc.sock" --sidecores 1 --log-level info \
    --blk "name=a,socket=$TMP/a.sock,backend=file,path=$TMP/a.img,size=8M" \
    --blk "name=b,socket=$TMP/b.sock,backend=file,path=$TMP/b.img,size=8M" \
    >"$TMP/scd.log" 2>&1 &
SCD_PID=$!
wait_socket "$TMP/a.sock" "$SCD_PID" sidecored
wait_socket "$TMP/b.sock" "$SCD_PID" sidecored

# iopf WANT ARGS...: one bounded `sidecore-bench iopf run`, output in $TMP/out.
iopf() {
    local want=$1; shift
    echo "+ sidecore-bench iopf run $*"
    timeout 120 "$BENCH" iopf run "$@" >"$TMP/out" 2>"$TMP/err"
    local rc=$?
    cat "$TMP/out"
    if [ "$rc" -ne "$want" ]; then
        sed 's/^/  stderr: /' "$TMP/err" | tail -20
        fail "sidecore-bench iopf exited $rc, expected $want"
    fi
    kill -0 "$SCD_PID" 2>/dev/null || fail "sidecored died"
}

# field NAME: the value of NAME=... in the last output.
field() {
    grep -o "\b$1=[0-9.]*" "$TMP/out" | head -1 | cut -d= -f2
}

expect_clean() {
    [ "$(field errors)" = 0 ] || fail "I/O errors"
    [ "$(field mismatches)" = 0 ] || fail "wrong data read back"
    [ "$(field checked)" -gt 0 ] || fail "no read was verified"
}

A=$TMP/a.sock
B=$TMP/b.sock

echo "== 1. misses park and resume, data verified"
for pol in lru dma none; do
    iopf 0 --socket "$A" --policy $pol --overcommit 20 --pool-mb 4 --ios 15000 --verify
    expect_clean
    [ "$(field faults)" -gt 0 ] || fail "$pol: no fault was served"
    [ "$(field resumed)" -gt 0 ] || fail "$pol: the device resumed no parked request"
    [ "$(field parked_now)" = 0 ] || fail "$pol: requests still parked at the end"
done
for wl in nic mix; do
    iopf 0 --socket "$A" --workload $wl --policy dma --overcommit 30 --pool-mb 4 \
        --rx-buffers 256 --ios 10000 --verify
    [ "$(field errors)" = 0 ] || fail "$wl: I/O errors"
    [ "$(field mismatches)" = 0 ] || fail "$wl: wrong data"
    [ "$(field faults)" -gt 0 ] || fail "$wl: no fault was served"
done

echo "== 1b. the daemon's own VPRI counters (sidecorectl stats)"
# vq KEY: device a's queue-0 VPRI counter KEY, as the daemon reports it
# (the bench has gone: these are the counters its channels left behind).
timeout 10 "$CTL" -s "$TMP/rpc.sock" --json stats a >"$TMP/stats.json" ||
    fail "sidecorectl stats a"
vq() { jq -r ".queues[0].vpri.$1" "$TMP/stats.json"; }
[ "$(vq faults)" -gt 0 ] || fail "the daemon counted no fault: $(cat "$TMP/stats.json")"
[ "$(vq resumed)" -gt 0 ] || fail "the daemon counted no resumed request"
[ "$(vq lookups)" -ge "$(vq resumed)" ] || fail "fewer lookups than resumed requests"
[ "$(vq parked)" = 0 ] || fail "the daemon still counts parked requests"
[ "$(vq dropped)" = 0 ] || fail "blk counted dropped frames"
awk -v w="$(vq mean_wait_us)" 'BEGIN { exit !(w > 0) }' || fail "no report-to-resume time"
timeout 10 "$CTL" -s "$TMP/rpc.sock" stats a >"$TMP/stats.txt" || fail "sidecorectl stats a"
cat "$TMP/stats.txt"
grep -q "VPRI QUEUE" "$TMP/stats.txt" || fail "sidecorectl shows no VPRI counters"
timeout 10 "$CTL" -s "$TMP/rpc.sock" --json stats b >"$TMP/stats.json" ||
    fail "sidecorectl stats b"
[ "$(jq '[.queues[] | select(has("vpri"))] | length' "$TMP/stats.json")" = 0 ] ||
    fail "device b never negotiated VPRI but shows counters"

echo "== 2. eviction race"
iopf 0 --socket "$A" --socket2 "$B" --overcommit 20 --pool-mb 4 --ios 20000 --verify --storm 8
expect_clean
[ "$(field evicted)" -gt 5000 ] || fail "too few evictions for a race test"
[ "$(field faults)" -gt 1000 ] || fail "too few faults for a race test"

echo "== 3. a second device flows while the first one faults"
iopf 0 --socket "$A" --socket2 "$B" --overcommit 20 --pool-mb 4 --ios 4000 --verify \
    --hold-ms 500
expect_clean
[ "$(field a_parked)" -gt 0 ] || fail "no request of A was parked during the hold"
[ "$(field a_done_during)" = 0 ] || fail "A completed requests whose faults were held"
[ "$(field b_done_during)" -gt 0 ] || fail "B completed nothing while A was faulting"

echo "== 3b. the sidecore sleeps with requests parked and wakes on their resolution"
iopf 0 --socket "$A" --overcommit 20 --pool-mb 4 --ios 500 --verify --hold-ms 300
[ "$(field a_parked)" -gt 0 ] || fail "no request of A was parked during the hold"
[ "$(field parked_now)" = 0 ] || fail "requests still parked at the end"

echo "== 4. a frontend without VPRI on the same device"
echo "+ sidecore-bench run --socket $A --verify"
timeout 120 "$BENCH" run --socket "$A" --workload mixed --qd 8 --ios 4000 --verify \
    >"$TMP/out" 2>"$TMP/err" || { cat "$TMP/out" "$TMP/err"; fail "plain run failed"; }
grep -q " 0 mismatches" "$TMP/out" || { cat "$TMP/out"; fail "plain run: verify summary"; }

grep -q "device failed" "$TMP/scd.log" && fail "a device failed"
grep -q "VPRI channel" "$TMP/scd.log" || fail "the daemon never set up a VPRI channel"
echo "PASS"
