#!/usr/bin/env bash
# sidecore-bench remote-compare, short: every row is measured on both sides
# (the bare hop on the remote side only) and the machine is left as found:
# no scb-* namespace, no sidecored of the run, no scratch directory; the
# same after a SIGINT in the middle of a run. No timing thresholds.
# Usage: bench_remote_compare.sh BUILD_DIR
set -u
BUILD=${1:?usage: bench_remote_compare.sh BUILD_DIR}
BENCH=$BUILD/sidecore-bench
[ -x "$BENCH" ] && [ -x "$BUILD/sidecored" ] || { echo "FAIL: sidecore-bench / sidecored not built"; exit 1; }
for t in ip jq timeout; do
    command -v $t >/dev/null || { echo "FAIL: $t not found (scripts/install-deps.sh test)"; exit 1; }
done
[ "$(id -u)" -eq 0 ] || { echo "FAIL: network namespaces need root"; exit 1; }

TMP=$(mktemp -d /tmp/bench-rcmp.XXXXXX)
BPID=
cleanup() {
    if [ -n "$BPID" ] && kill -0 "$BPID" 2>/dev/null; then
        kill -INT "$BPID"
        timeout 30 tail --pid="$BPID" -f /dev/null || kill -KILL "$BPID"
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*"
    [ -f "$TMP/err" ] && sed 's/^/  stderr: /' "$TMP/err" | tail -40
    exit 1
}
# Nothing of a run may outlive it.
left_over() {
    local what=$1
    ip netns list | grep -q '^scb-' && fail "$what: a scb-* namespace is left"
    pgrep -f 'sidecored.*/tmp/sc-rcmp-' >/dev/null && fail "$what: a sidecored of the run is left"
    ls -d /tmp/sc-rcmp-* 2>/dev/null | grep -q . && fail "$what: a scratch directory is left"
    return 0
}
ip netns list | grep -q '^scb-' && fail "scb-* namespaces exist before the test"

echo "+ sidecore-bench remote-compare --time 0.5 --json"
timeout 300 "$BENCH" remote-compare --time 0.5 --json --quiet >"$TMP/out" 2>"$TMP/err"
rc=$?
cat "$TMP/out"
[ "$rc" -eq 0 ] || fail "remote-compare exited $rc"
jq -e '.rows | length >= 19' "$TMP/out" >/dev/null || fail "rows are missing"
for sec in "blk null" "blk file" "consolidation (null)"; do
    jq -e --arg s "$sec" '[.rows[] | select(.section == $s)] | length >= 5 and
        all(.local != null and .remote != null and .local > 0 and .remote > 0)' \
        "$TMP/out" >/dev/null || fail "section '$sec' has a row not measured on both sides"
done
jq -e '[.rows[] | select(.section | startswith("veth hop"))] | length == 4 and
    all(.remote != null and .remote > 0 and .local == null)' "$TMP/out" >/dev/null ||
    fail "the hop rows are not measured"
left_over "after a run"

echo "+ the text table, then SIGINT during a run"
timeout 300 "$BENCH" remote-compare --rows blk --backends null --time 0.5 --quiet >"$TMP/out" 2>"$TMP/err" ||
    fail "the text run failed"
cat "$TMP/out"
grep -q "remote/local" "$TMP/out" || fail "no table header"
grep -q "note: blk null QD1 p50: remote adds" "$TMP/out" || fail "no note on the QD1 overhead"
left_over "after the text run"

"$BENCH" remote-compare --rows blk,consolidation --time 3 --quiet >"$TMP/out" 2>"$TMP/err" &
BPID=$!
for _ in $(seq 150); do
    pgrep -f 'sidecored.*/tmp/sc-rcmp-.*vmhost' >/dev/null && break
    sleep 0.1
done
sleep 1
kill -INT "$BPID"
timeout 60 tail --pid="$BPID" -f /dev/null || fail "remote-compare did not end within 60 s of SIGINT"
wait "$BPID"
rc=$?
BPID=
[ "$rc" -ne 0 ] || fail "an interrupted run exited 0"
left_over "after SIGINT"
echo "PASS: bench_remote_compare"
