#!/bin/bash
# Random hostile frontends (tests/tools/vu_fuzz.c) against a blk and a net
# device of one daemon, while a verifying benchmark runs on a third device
# and a source port floods the net device's switch. Afterwards: the
# benchmark saw every block it wrote, the daemon is alive and answers RPC,
# the attacked devices counted failures with reasons, the bystander none,
# and a fresh well-behaved frontend works on the attacked blk device.
# The seed changes every run and is printed (set SC_FUZZ_SEED to replay);
# every wait is bounded.
# Usage: fuzz_frontend.sh BUILD_DIR
set -u
BUILD=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
BENCH=$BUILD/sidecore-bench
FUZZ=$BUILD/tests/vu_fuzz
SEED=${SC_FUZZ_SEED:-$(( $(date +%s) % 1000000 ))}
SECS=${SC_FUZZ_SECONDS:-25}
TMP=$(mktemp -d /tmp/sc-fuzz.XXXXXX)
PIDS=()
# shellcheck source=lib/scd_common.sh
. "$HERE/lib/scd_common.sh"
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    scd_cleanup
    rm -rf "$TMP"
}
trap cleanup EXIT
fail() {
    echo "fuzz_frontend: FAIL (seed $SEED; replay with SC_FUZZ_SEED=$SEED): $*"
    local f
    for f in "$TMP"/fuzz-*.log "$TMP"/benchA.log; do
        [ -f "$f" ] && { echo "--- $f"; tail -n 20 "$f"; }
    done
    echo "--- daemon log (tail) ---"; tail -n 60 "$TMP/daemon.log" 2>/dev/null
    exit 1
}
scd_require
for bin in "$BENCH" "$FUZZ"; do
    [ -x "$bin" ] || fail "missing $bin (build first)"
done

echo "fuzz_frontend: seed $SEED, ${SECS} s per attacker"
scd_start --sidecores 1 --log-level info \
    --blk name=A,socket=$TMP/A.sock,backend=file,path=$TMP/A.img,size=64M,queues=2 \
    --blk name=B,socket=$TMP/B.sock,backend=file,path=$TMP/B.img,size=64M,queues=2 \
    --switch name=sw0 --net name=N,switch=sw0,queues=2 \
    --port switch=sw0,name=gen,type=sink,source_size=200

timeout $((SECS + 60)) "$BENCH" run --socket "$TMP/A.sock" --verify --time $((SECS + 5)) \
    >"$TMP/benchA.log" 2>&1 &
BPID=$!
PIDS+=("$BPID")
timeout $((SECS + 120)) "$FUZZ" "$TMP/B.sock" blk "$SEED" 100000 --time "$SECS" \
    >"$TMP/fuzz-blk.log" 2>&1 &
FB=$!
PIDS+=("$FB")
timeout $((SECS + 120)) "$FUZZ" "$TMP/N.sock" net "$SEED" 100000 --time "$SECS" \
    >"$TMP/fuzz-net.log" 2>&1 &
FN=$!
PIDS+=("$FN")

# B grows by 1 MiB every 0.3 s meanwhile: each resize tells whatever
# frontend holds B (a backend channel, one the fuzzer closed, or none).
(
    for i in $(seq $((SECS * 3))); do
        scd_ctl resize B $((64 + i))M >/dev/null || exit 1
        sleep 0.3
    done
) >"$TMP/resize.log" 2>&1 &
RZ=$!
PIDS+=("$RZ")

wait "$FB"; RB=$?
wait "$FN"; RN=$?
wait "$RZ" || { cat "$TMP/resize.log"; fail "resizing B failed while it was fuzzed"; }
cat "$TMP/fuzz-blk.log" "$TMP/fuzz-net.log"
[ "$RB" -eq 0 ] || fail "vu_fuzz on the blk device exited with $RB"
[ "$RN" -eq 0 ] || fail "vu_fuzz on the net device exited with $RN"
wait "$BPID"; RA=$?
[ "$RA" -eq 0 ] || { cat "$TMP/benchA.log"; fail "the verifying bench on A failed (exit $RA)"; }
PIDS=()

kill -0 "$SCD_PID" 2>/dev/null || fail "daemon died"
LIST=$(scd_ctl list) || fail "sidecorectl list failed"
BF=$(echo "$LIST" | jq -r '.[] | select(.name=="B") | .failures')
BWHY=$(echo "$LIST" | jq -r '.[] | select(.name=="B") | .why')
AF=$(echo "$LIST" | jq -r '.[] | select(.name=="A") | .failures')
NET=$(scd_ctl net-stats N) || fail "sidecorectl net-stats N failed"
NF=$(echo "$NET" | jq -r '.failures')
NWHY=$(echo "$NET" | jq -r '.why')
[ "$AF" = "0" ] || fail "the bystander A counts $AF failures: $LIST"
[ "$BF" -gt 0 ] 2>/dev/null && [ -n "$BWHY" ] || fail "B counts no failures or no reason: $LIST"
[ "$NF" -gt 0 ] 2>/dev/null && [ -n "$NWHY" ] || fail "N counts no failures or no reason: $NET"
echo "fuzz_frontend: B stopped $BF times (last: $BWHY); N $NF times (last: $NWHY)"

timeout 60 "$BENCH" run --socket "$TMP/B.sock" --verify --time 2 >"$TMP/benchB.log" 2>&1 ||
    { cat "$TMP/benchB.log"; fail "a fresh frontend on B did not work"; }
kill -0 "$SCD_PID" 2>/dev/null || fail "daemon died"
scd_stop
echo "fuzz_frontend: PASS"
