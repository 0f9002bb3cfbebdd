#!/bin/bash
# A hostile frontend on one device must not disturb another device, nor the
# daemon: device A serves a verifying benchmark while vu_hostile attacks B
# (malformed messages, corrupted rings). Then A's run must have succeeded,
# B must show as failed with a reason, the daemon must still be alive, and
# B must serve a fresh, well-behaved frontend.
# A has a file backend so --verify reads back real data (a null backend
# stores nothing); B is a null device.
# Usage: hostile_frontend.sh BUILD_DIR
set -u
BUILD=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)
DAEMON=$BUILD/sidecored
CTL=$BUILD/sidecorectl
BENCH=$BUILD/sidecore-bench
HOSTILE=$BUILD/tests/vu_hostile
for bin in "$DAEMON" "$CTL" "$BENCH" "$HOSTILE"; do
    [ -x "$bin" ] || { echo "hostile_frontend: missing $bin (build first)"; exit 1; }
done
command -v jq >/dev/null || { echo "hostile_frontend: jq is required"; exit 1; }

TMP=$(mktemp -d /tmp/sc-hostile.XXXXXX)
RPC=$TMP/rpc.sock
DPID=
BPID=
cleanup() {
    [ -n "$BPID" ] && kill "$BPID" 2>/dev/null
    if [ -n "$DPID" ]; then
        kill -TERM "$DPID" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$DPID" 2>/dev/null
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
fail() {
    echo "hostile_frontend: FAIL: $*"
    echo "--- daemon log (tail) ---"; tail -n 40 "$TMP/daemon.log" 2>/dev/null
    exit 1
}

"$DAEMON" --no-default --runtime-dir "$TMP" --rpc "$RPC" --sidecores 1 --log-level info \
    --blk name=A,socket=$TMP/A.sock,backend=file,path=$TMP/A.img,size=64M,queues=2 \
    --blk name=B,socket=$TMP/B.sock,backend=null,size=64M,queues=2 \
    >"$TMP/daemon.out" 2>"$TMP/daemon.log" &
DPID=$!
for _ in $(seq 100); do
    grep -q "sidecored: ready" "$TMP/daemon.log" 2>/dev/null && break
    kill -0 "$DPID" 2>/dev/null || fail "daemon exited during start-up"
    sleep 0.1
done
grep -q "sidecored: ready" "$TMP/daemon.log" || fail "daemon not ready within 10 s"

timeout 60 "$BENCH" run --socket "$TMP/A.sock" --verify --time 5 >"$TMP/benchA.log" 2>&1 &
BPID=$!

timeout 300 "$HOSTILE" "$TMP/B.sock" all >"$TMP/hostile.log" 2>&1
HRC=$?
cat "$TMP/hostile.log"
[ "$HRC" -eq 0 ] || fail "vu_hostile all exited with $HRC"
timeout 60 "$HOSTILE" "$TMP/B.sock" small_log >>"$TMP/hostile.log" 2>&1 || fail "vu_hostile small_log"
grep -q "B: the dirty log (64 bytes) covers guest memory up to 0x200000, but memory reaches" \
    "$TMP/daemon.log" || fail "no word about a dirty log smaller than guest memory"
# End on a failure so the listing has one to show.
timeout 60 "$HOSTILE" "$TMP/B.sock" bad_index >>"$TMP/hostile.log" 2>&1 || fail "vu_hostile bad_index"

wait "$BPID"
BRC=$?
BPID=
[ "$BRC" -eq 0 ] || { cat "$TMP/benchA.log"; fail "bench on A failed (exit $BRC) while B was attacked"; }

kill -0 "$DPID" 2>/dev/null || fail "daemon died"
LIST=$(timeout 10 "$CTL" -s "$RPC" --json list) || fail "sidecorectl list failed"
FAILURES=$(echo "$LIST" | jq -r '.[] | select(.name=="B") | .failures')
WHY=$(echo "$LIST" | jq -r '.[] | select(.name=="B") | .why')
AFAILED=$(echo "$LIST" | jq -r '.[] | select(.name=="A") | .failed')
AFAILURES=$(echo "$LIST" | jq -r '.[] | select(.name=="A") | .failures')
# Each scenario that reached the device stopped it once; reconnecting starts
# afresh, so "failed" may be false again but the count and reason remain.
[ "$FAILURES" -ge 10 ] 2>/dev/null || fail "device B counts $FAILURES failures, expected >= 10: $LIST"
[ -n "$WHY" ] && [ "$WHY" != "null" ] || fail "device B failed without a reason: $LIST"
[ "$AFAILED" = "false" ] || fail "device A reported failed: $LIST"
# A header of version 0, then the frontend is gone: B waits for the next
# one. It stayed "failed" until then, and the log spoke of a driver reset.
printf '\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00' |
    timeout 5 socat -u - UNIX-CONNECT:"$TMP/B.sock" || fail "cannot send B a bad header"
b_failures() { timeout 10 "$CTL" -s "$RPC" --json list | jq -r '.[] | select(.name=="B") | .failures'; }
for _ in $(seq 50); do [ "$(b_failures)" -gt "$FAILURES" ] && break; sleep 0.1; done
[ "$(b_failures)" -gt "$FAILURES" ] || fail "a bad header did not fail B"
sleep 0.2
BSTATUS=$(timeout 10 "$CTL" -s "$RPC" --json list | jq -r '.[] | select(.name=="B") | "\(.status) \(.failed)"')
[ "$BSTATUS" = "waiting false" ] || fail "device B, its bad frontend gone, is '$BSTATUS'"
grep "B: device failed" "$TMP/daemon.log" | grep -q "version" &&
    fail "a protocol error was logged as a device failure needing a driver reset"
[ "$AFAILURES" = "0" ] || fail "device A counts failures: $LIST"
echo "hostile_frontend: B failed as expected: $WHY"

timeout 60 "$BENCH" run --socket "$TMP/B.sock" --time 2 >"$TMP/benchB.log" 2>&1 ||
    { cat "$TMP/benchB.log"; fail "a fresh frontend on B did not work"; }
kill -0 "$DPID" 2>/dev/null || fail "daemon died"
echo "hostile_frontend: PASS"
