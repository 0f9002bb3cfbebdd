#!/usr/bin/env bash
# sidecore-bench over packed virtqueues against sidecored: a null device and
# a file device (4 queues each).
#  null: read and write workloads with 1 and 4 queues, poll and event
#        completions, with and without IN_ORDER, must finish without errors
#        (runs long enough for every ring to wrap many times).
#  file: --verify with 1 and 4 queues must pass, also with IN_ORDER (the
#        bench then checks that every completion is the oldest outstanding
#        request: io_uring completes out of order, the engine must not);
#        then the host finds the bench's sector headers at their LBAs.
#  The frontend must have negotiated RING_PACKED (sidecored logs nothing
#  about rings; the bench fails start-up if the feature is not offered).
# Finally SIGTERM must stop sidecored cleanly.
# Usage: bench_packed.sh BUILD_DIR
set -u
BUILD=${1:?usage: bench_packed.sh BUILD_DIR}
BENCH=$BUILD/sidecore-bench
SCD=$BUILD/sidecored
[ -x "$BENCH" ] || { echo "FAIL: $BENCH not built"; exit 1; }
[ -x "$SCD" ] || { echo "FAIL: $SCD not built"; exit 1; }
"$BENCH" run --help 2>&1 | grep -q -- --packed || { echo "FAIL: sidecore-bench has no --packed"; exit 1; }

TMP=$(mktemp -d /tmp/bench-packed.XXXXXX)
SCD_PID=
cleanup() {
    if [ -n "$SCD_PID" ]; then
        kill "$SCD_PID" 2>/dev/null
        wait "$SCD_PID" 2>/dev/null
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; [ -f "$TMP/scd.log" ] && sed 's/^/  sidecored: /' "$TMP/scd.log"; exit 1; }
. "$(dirname "$0")/lib/bench_common.sh"

IMG=$TMP/file0.img
truncate -s 64M "$IMG"
"$SCD" --no-default --rpc "$TMP/rpc.sock" --sidecores 1 --log-level info \
    --blk "name=null0,socket=$TMP/null0.sock,backend=null,size=64M,queues=4" \
    --blk "name=file0,socket=$TMP/file0.sock,backend=file,path=$IMG,size=64M,queues=4" \
    >"$TMP/scd.log" 2>&1 &
SCD_PID=$!
wait_socket "$TMP/null0.sock" "$SCD_PID" sidecored
wait_socket "$TMP/file0.sock" "$SCD_PID" sidecored

# packed_run ARGS...: a bench run that must have negotiated RING_PACKED (bit 34).
packed_run() {
    bench 0 run --packed "$@"
    local f
    f=$(sed -n 's/.*, features \(0x[0-9a-f]*\),.*/\1/p' "$TMP/out")
    [ -n "$f" ] || fail "no feature line in the bench output"
    [ $(( (f >> 34) & 1 )) -eq 1 ] || fail "features $f lack RING_PACKED"
}

N=$TMP/null0.sock
for q in 1 4; do
    packed_run --socket "$N" --workload randread --qd 16 --queues $q --ios 20000
    grep -q " 0 errors" "$TMP/out" || fail "null randread over packed rings reported errors"
    packed_run --socket "$N" --workload randwrite --qd 16 --queues $q --ios 20000 --event
    packed_run --in-order --socket "$N" --workload mixed --bs 64k --qd 4 --queues $q \
        --ios 4000
    packed_run --in-order --socket "$N" --workload randread --qd 32 --queues $q \
        --ios 20000 --event
done
# IN_ORDER on a split ring goes through the same reordering.
bench 0 run --in-order --socket "$N" --workload randread --qd 32 --queues 4 --ios 20000

F=$TMP/file0.sock
packed_run --socket "$F" --workload write --bs 4k --qd 16 --queues 1 --span 1M \
    --ios 256 --verify
grep -q " 0 mismatches" "$TMP/out" || fail "verify summary missing"
packed_run --socket "$F" --workload mixed --bs 4k --qd 8 --queues 4 --span 8M \
    --ios 20000 --verify
packed_run --in-order --socket "$F" --workload randwrite --bs 16k --qd 16 --queues 4 \
    --span 4M --ios 4000 --verify --event
packed_run --in-order --socket "$F" --workload randread --bs 4k --qd 32 --queues 1 \
    --span 2M --ios 4000 --verify
bench 0 run --in-order --socket "$F" --workload mixed --bs 4k --qd 16 --queues 4 --span 4M \
    --ios 8000 --verify

# Blocks 0..255 (sectors 0..2047) were written by the first file run and
# only rewritten by later runs, so every such sector names its own LBA.
check_headers "$IMG" 0 1 7 8 100 1023 2047

grep -q "device failed" "$TMP/scd.log" && fail "a device failed during the runs"

kill -TERM "$SCD_PID"
for _ in $(seq 100); do
    kill -0 "$SCD_PID" 2>/dev/null || break
    sleep 0.1
done
kill -0 "$SCD_PID" 2>/dev/null && fail "sidecored did not exit within 10 s of SIGTERM"
wait "$SCD_PID"
rc=$?
SCD_PID=
[ "$rc" -eq 0 ] || fail "sidecored exited with status $rc after SIGTERM"
echo "PASS: bench_packed"
