#!/bin/bash
# What the file backend does with storage that cannot do everything, and
# with requests a guest may legally send (virtio-blk's unit is 512 bytes
# whatever the disk's, and buffers need no alignment), driven by
# blk_script one request at a time:
#  1. a FLUSH failed (a loop device whose file on a small tmpfs cannot take
#     the writeback): every later FLUSH fails too (the kernel reports the
#     error once; a second FLUSH said OK while the data was lost);
#  2. WRITE_ZEROES and DISCARD where fallocate cannot (tmpfs has no zero
#     range, ramfs no fallocate, a loop device may not discard): status OK,
#     zeros read back (they failed with IOERR);
#  3. a read-only block device without readonly=on: refused with the
#     reason (it was offered writable, every write failing);
#  4. direct=on with guest buffers off their alignment, and 512-byte
#     requests on a 4 KiB-sector disk with and without direct=on: served
#     (they failed with IOERR);
#  5. encryption on a direct=on file: writes and WRITE_ZEROES work (the
#     bounce buffer was not aligned for O_DIRECT: every write failed);
#  6. a queue whose requests a QoS stage holds back lets its sidecore sleep
#     until the limit lets the next one through (it polled all along);
#  7. frontends refused on a busy socket are logged once per 10 s.
# Usage: blk_storage.sh BUILD_DIR
set -u
BUILD=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)
SCRIPT=$BUILD/tests/blk_script
TMP=$(mktemp -d /tmp/sc-blkst.XXXXXX)
LOOPS=()
MOUNTS=()
fail() {
    echo "blk_storage: FAIL: $*"
    echo "--- daemon log (tail) ---"; tail -n 30 "$TMP/daemon.log" 2>/dev/null
    exit 1
}
# shellcheck source=lib/scd_common.sh
. "$(dirname "$0")/lib/scd_common.sh"
cleanup() {
    scd_cleanup
    local l m
    for l in "${LOOPS[@]}"; do losetup -d "$l" 2>/dev/null; done
    for m in "${MOUNTS[@]}"; do umount "$m" 2>/dev/null; done
    rm -rf "$TMP"
}
trap cleanup EXIT
scd_require
[ -x "$SCRIPT" ] || fail "$SCRIPT not built"
[ "$(id -u)" -eq 0 ] || fail "loop devices and mounts need root"
command -v losetup >/dev/null || fail "losetup not found"

# loop VAR ARGS...: attaches a loop device (losetup ARGS), its name in VAR
# (not by command substitution: the clean-up list lives in this shell).
loop() {
    local var=$1 l
    shift
    l=$(losetup -f --show "$@") || fail "losetup $*"
    LOOPS+=("$l")
    printf -v "$var" '%s' "$l"
}
mnt() {
    mkdir -p "$TMP/$1"
    mount -t "$2" ${3:+-o "$3"} "sc-blkst-$1" "$TMP/$1" || fail "mount $2 on $TMP/$1"
    MOUNTS+=("$TMP/$1")
}
# run DEVICE CMD...: blk_script on the device's socket; output in $OUT.
run() {
    local dev=$1
    shift
    OUT=$(timeout 120 "$SCRIPT" "$TMP/$dev.sock" "$@") || fail "blk_script on $dev: $OUT"
}
expect() { grep -qx -- "$1" <<<"$OUT" || fail "expected '$1', got: $OUT"; }

# --- 1. a failed FLUSH stays failed ------------------------------------------
mnt small tmpfs size=8m
truncate -s 32M "$TMP/small/back.img"
loop L1 "$TMP/small/back.img"
mnt ram ramfs
truncate -s 16M "$TMP/ram/lo.img"
loop L2 "$TMP/ram/lo.img"
mnt tmp tmpfs size=64m
truncate -s 16M "$TMP/d.img" "$TMP/k.img" "$TMP/ro.img" "$TMP/b4k.img"
loop L3 -b 4096 "$TMP/b4k.img"
scd_start --blk "name=fl,backend=file,path=$L1" \
    --blk "name=t,backend=file,path=$TMP/tmp/t.img,size=16M" \
    --blk "name=r,backend=file,path=$TMP/ram/r.img,size=16M" \
    --blk "name=l,backend=file,path=$L2" \
    --blk "name=dd,backend=file,path=$TMP/d.img,direct=on" \
    --blk "name=b,backend=file,path=$L3,shared=on" \
    --blk "name=bd,backend=file,path=$L3,direct=on,shared=on" \
    --blk "name=k,backend=file,path=$TMP/k.img,direct=on"
run fl w:0:4194304:1 w:8192:4194304:2 w:16384:4194304:3 w:24576:4194304:4 fl fl
[ "$(grep -c '^fl status=1$' <<<"$OUT")" = 2 ] ||
    fail "a FLUSH after a failed one did not fail: $OUT"
grep -q "fdatasync failed" "$TMP/daemon.log" || fail "no word about the failed fdatasync"
echo "ok: a failed FLUSH stays failed"

# --- 2. WRITE_ZEROES and DISCARD without fallocate -----------------------------
run t w:0:8192:3 wz:0:8192 z:0:8192 dc:16:4096
expect "wz:0:8192 status=0"
expect "z:0:8192 status=0 zero"
expect "dc:16:4096 status=0"
run r w:0:8192:3 dc:0:4096 wz:0:4096 z:0:4096
expect "dc:0:4096 status=0"
expect "wz:0:4096 status=0"
expect "z:0:4096 status=0 zero"
run l w:0:4096:5 dc:0:4096 wz:8:4096 z:8:4096
expect "dc:0:4096 status=0"
expect "wz:8:4096 status=0"
expect "z:8:4096 status=0 zero"
echo "ok: discard and write-zeroes where fallocate cannot"

# --- 4. alignment: skewed buffers, 512-byte requests on a 4 KiB disk ---------
run dd w:0:4096:1:8 r:0:4096:1:8 r:0:4096:1:0 w:9:1536:2:3 r:9:1536:2:100
expect "r:0:4096:1:8 status=0 match"
expect "r:0:4096:1:0 status=0 match"
expect "r:9:1536:2:100 status=0 match"
run b info wz:1:512 dc:9:512 z:1:512
grep -q "blk_size=4096" <<<"$OUT" || fail "the 4 KiB disk is not advertised as such: $OUT"
expect "wz:1:512 status=0"
expect "dc:9:512 status=0"
expect "z:1:512 status=0 zero"
run bd w:1:512:5 r:1:512:5 w:17:4096:6 r:17:4096:6
expect "w:1:512:5 status=0"
expect "r:1:512:5 status=0 match"
expect "r:17:4096:6 status=0 match"
echo "ok: requests off the O_DIRECT alignment and the disk's block size"

# --- 5. encryption on an O_DIRECT file -----------------------------------------
KEY=$(printf '11%.0s' $(seq 32); printf '22%.0s' $(seq 32))
scd_ctl interpose k "[{\"type\":\"crypt\",\"key\":\"$KEY\"}]" >/dev/null || fail "interpose k"
run k w:8:4096:1 r:8:4096:1 wz:64:4096 z:64:4096
expect "w:8:4096:1 status=0"
expect "r:8:4096:1 status=0 match"
expect "wz:64:4096 status=0"
expect "z:64:4096 status=0 zero"
# The key was shown to anyone who could list the devices.
scd_ctl list | grep -q "$KEY" && fail "device_list shows the crypt key"
scd_ctl list | jq -e '.[] | select(.name == "k") | .interpose[0].key == "(hidden)"' >/dev/null ||
    fail "the crypt stage is not listed: $(scd_ctl list)"
echo "ok: encryption on direct=on"

# --- 6. a queue held back by QoS sleeps -----------------------------------------
# Its sidecore kept polling while the rate limit held a request (most of a
# CPU for a disk limited to 5 IOPS): it now sleeps until the bucket holds
# enough, so it spends that time asleep rather than polling idle.
scd_ctl interpose t '[{"type":"qos","iops":5,"iops_burst":1}]' >/dev/null || fail "interpose t"
ns() { scd_ctl sidecores | jq "[.[].$1] | add"; }
idle0=$(ns idle_ns) sleep0=$(ns sleep_ns)
run t w:0:4096:1 w:8:4096:2 w:16:4096:3 w:24:4096:4 w:32:4096:5 w:40:4096:6 r:40:4096:6
expect "r:40:4096:6 status=0 match"
idle=$(($(ns idle_ns) - idle0)) slept=$(($(ns sleep_ns) - sleep0))
[ "$idle" -lt "$slept" ] ||
    fail "the sidecore polled while QoS held writes: idle ${idle} ns, asleep ${slept} ns"
echo "ok: a queue held back by QoS sleeps (polling idle $((idle / 1000000)) ms, asleep $((slept / 1000000)) ms)"

# --- 7. a second frontend on a busy socket ------------------------------------
# A QEMU with reconnect=1 pointed at a socket in use comes back at once,
# thousands of times a second: each refusal was a warning (13 MB of log in
# 10 s). One line per 10 s now, with the count.
timeout 60 "$BUILD/sidecore-bench" run --socket "$TMP/dd.sock" --workload randread --qd 1 \
    --time 4 --quiet >/dev/null 2>&1 &
BP=$!
for _ in $(seq 50); do scd_ctl stats dd | jq -e '.connected' >/dev/null 2>&1 && break; sleep 0.1; done
for _ in $(seq 100); do timeout 2 socat -u /dev/null "UNIX-CONNECT:$TMP/dd.sock" 2>/dev/null; done
wait "$BP" || fail "the bench on dd failed while others knocked"
n=$(grep -c "dd: refused a second frontend" "$TMP/daemon.log")
[ "$n" -ge 1 ] && [ "$n" -le 2 ] || fail "$n log lines for 100 refused frontends"
echo "ok: 100 refused frontends, $n log line(s)"

# --- 9. a block device grown under its device ------------------------------------
# resize refused every block device, even after the device itself grew
# (losetup -c here, lvextend in production): it now takes up to the
# device's new size.
truncate -s 32M "$TMP/ram/lo.img"
losetup -c "$L2" || fail "losetup -c $L2"
OUT=$(scd_ctl resize l 48M 2>&1) && fail "resize beyond the block device succeeded: $OUT"
grep -q "the block device is smaller than that: grow the device itself first" <<<"$OUT" ||
    fail "resize beyond the block device: $OUT"
OUT=$(scd_ctl resize l 32M 2>&1) || fail "resize to the grown block device's size: $OUT"
run l info w:40000:4096:7 r:40000:4096:7
grep -q "info capacity=65536 " <<<"$OUT" || fail "the grown block device's capacity: $OUT"
expect "r:40000:4096:7 status=0 match"
echo "ok: a grown block device is resized"
scd_stop

# --- 3. a read-only block device -------------------------------------------
loop L4 -r "$TMP/ro.img"
rc=0
timeout 20 "$SCD" --no-default --runtime-dir "$TMP/ro" --blk "name=ro,backend=file,path=$L4" \
    >/dev/null 2>"$TMP/ro.log" || rc=$?
[ "$rc" -ne 0 ] || fail "a read-only block device was served writable"
grep -q "the block device is read-only (set readonly=on" "$TMP/ro.log" ||
    fail "read-only device: $(cat "$TMP/ro.log")"
scd_start --blk "name=ro,backend=file,path=$L4,readonly=on,serial=SC-RO-0001" \
    --blk "name=a-name-longer-than-twenty"
run ro info z:0:4096 id
grep -q " ro=1 " <<<"$OUT" || fail "readonly=on not advertised: $OUT"
echo "ok: a read-only block device needs readonly=on"

# --- 8. the serial a guest reads (GET_ID) ---------------------------------------
expect "id status=0 serial=SC-RO-0001"
run a-name-longer-than-twenty id
expect "id status=0 serial=a-name-longer-than-t"
OUT=$(timeout 20 "$CTL" -s "$TMP/rpc.sock" create-blk viarpc --serial QEMU-LIKE_01.x 2>&1) ||
    fail "create-blk --serial: $OUT"
run viarpc id
expect "id status=0 serial=QEMU-LIKE_01.x"
OUT=$(timeout 20 "$CTL" -s "$TMP/rpc.sock" --json list 2>&1)
grep -q '"serial": "QEMU-LIKE_01.x"' <<<"$OUT" || fail "list does not show the serial: $OUT"
scd_stop
echo "ok: serial from --blk, from RPC, and the name's first 20 bytes by default"
echo "blk_storage: PASS"
