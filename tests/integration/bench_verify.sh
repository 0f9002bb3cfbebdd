#!/usr/bin/env bash
# sidecore-bench against sidecored: one daemon with a null device and a
# file device (4 queues each).
#  null: workloads with 1 and 4 queues, poll and event completions, must
#        finish without I/O errors (no data verification: null stores nothing).
#  file: --verify with 1 and 4 queues must pass; then the host reads the
#        backing file and finds the bench's sector headers at their LBAs.
# Finally SIGTERM must stop sidecored cleanly and remove its sockets.
# Usage: bench_verify.sh BUILD_DIR   
set -u
BUILD=${1:?usage: bench_verify.sh BUILD_DIR}
BENCH=$BUILD/sidecore-bench
SCD=$BUILD/sidecored
[ -x "$BENCH" ] || { echo "FAIL: $BENCH not built"; exit 1; }
if ! "$SCD" --help 2>&1 | grep -q -- --blk; then
    echo "FAIL: $SCD missing or its --help does not list --blk"
    exit 1
fi

TMP=$(mktemp -d /tmp/bench-verify.XXXXXX)
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

N=$TMP/null0.sock
for q in 1 4; do
    bench 0 run --socket "$N" --workload randread --qd 16 --queues $q --ios 20000
    grep -q " 0 errors" "$TMP/out" || fail "null randread reported errors"
    bench 0 run --socket "$N" --workload randwrite --qd 16 --queues $q --ios 20000 --event
    bench 0 run --socket "$N" --workload mixed --bs 64k --qd 4 --queues $q --ios 2000
done

F=$TMP/file0.sock
bench 0 run --socket "$F" --workload write --bs 4k --qd 16 --queues 1 --span 1M --ios 256 --verify
grep -q " 0 mismatches" "$TMP/out" || fail "verify summary missing"
bench 0 run --socket "$F" --workload mixed --bs 4k --qd 8 --queues 4 --span 8M --ios 20000 --verify
bench 0 run --socket "$F" --workload randwrite --bs 16k --qd 4 --queues 4 --span 4M --ios 4000 --verify --event
bench 0 run --socket "$F" --workload randread --bs 4k --qd 32 --queues 1 --span 2M --ios 4000 --verify

# Blocks 0..255 (sectors 0..2047) were written by the first file run and
# only rewritten by later runs, so every such sector names its own LBA.
check_headers "$IMG" 0 1 7 8 100 1023 2047

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
for s in "$N" "$F" "$TMP/rpc.sock"; do
    [ -e "$s" ] && fail "sidecored left $s behind"
done
echo "PASS: bench_verify"
