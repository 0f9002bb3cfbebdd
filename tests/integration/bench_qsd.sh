#!/usr/bin/env bash
# sidecore-bench (and the frontend library under it) against a real,
# independent vhost-user-blk backend: qemu-storage-daemon.
#  1. file export: --verify runs with 1 and 4 queues (write, mixed, randread
#     with prefill, event mode) must pass; then the host reads the image and
#     finds the bench's sector headers (magic + lba) where it wrote them.
#  2. null-co export (stores nothing): a --verify write run must FAIL with
#     MISMATCH, proving the verifier catches lost data.
# Usage: bench_qsd.sh BUILD_DIR
set -u
BUILD=${1:?usage: bench_qsd.sh BUILD_DIR}
BENCH=$BUILD/sidecore-bench
QSD=$(command -v qemu-storage-daemon || true)
if [ -z "$QSD" ]; then
    echo "FAIL: qemu-storage-daemon not installed (run: scripts/install-deps.sh test)"
    exit 1
fi
[ -x "$BENCH" ] || { echo "FAIL: $BENCH not built"; exit 1; }

TMP=$(mktemp -d /tmp/bench-qsd.XXXXXX)
QSD_PID=
cleanup() {
    if [ -n "$QSD_PID" ]; then
        kill "$QSD_PID" 2>/dev/null
        wait "$QSD_PID" 2>/dev/null
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT

fail() { echo "FAIL: $*"; [ -f "$TMP/qsd.log" ] && sed 's/^/  qsd: /' "$TMP/qsd.log"; exit 1; }
. "$(dirname "$0")/lib/bench_common.sh"

start_qsd() { # blockdev-options queues
    rm -f "$TMP/qsd.sock"
    "$QSD" --blockdev "$1" \
        --export "type=vhost-user-blk,id=e0,node-name=n0,addr.type=unix,addr.path=$TMP/qsd.sock,writable=on,num-queues=$2" \
        >"$TMP/qsd.log" 2>&1 &
    QSD_PID=$!
    wait_socket "$TMP/qsd.sock" "$QSD_PID" qemu-storage-daemon
}

stop_qsd() {
    kill "$QSD_PID" 2>/dev/null
    wait "$QSD_PID" 2>/dev/null
    QSD_PID=
}

IMG=$TMP/disk.img
truncate -s 64M "$IMG"
start_qsd "driver=file,node-name=n0,filename=$IMG" 4
S=$TMP/qsd.sock

bench 0 run --socket "$S" --workload write --bs 4k --qd 16 --queues 1 --span 1M --ios 256 --verify
grep -q "0 mismatches" "$TMP/out" || fail "verify summary missing"
bench 0 run --socket "$S" --workload mixed --bs 4k --qd 8 --queues 4 --span 8M --ios 20000 --verify
bench 0 run --socket "$S" --workload randwrite --bs 16k --qd 4 --queues 4 --span 4M --ios 4000 --verify --event
bench 0 run --socket "$S" --workload randread --bs 4k --qd 32 --queues 4 --span 2M --ios 4000 --verify --json
grep -q '"mismatches": 0' "$TMP/out" || fail "JSON verify result missing"
bench 0 run --socket "$S" --workload randread --bs 4k --qd 32 --queues 2 --ios 20000
stop_qsd

# The first run wrote blocks 0..255 of 4 KiB sequentially, i.e. sectors
# 0..2047; later runs rewrote some of them, but every sector in the first
# 1 MiB must still carry a bench header naming its own LBA.
check_headers "$IMG" 0 1 7 8 100 1023 2047

# Null storage must be caught by the verifier.
start_qsd "driver=null-co,node-name=n0,size=67108864,read-zeroes=on" 1
bench 1 run --socket "$S" --workload write --bs 4k --qd 8 --span 1M --ios 64 --verify
grep -q MISMATCH "$TMP/err" || fail "no MISMATCH reported against null storage"
stop_qsd

echo "PASS: bench_qsd"
