#!/usr/bin/env bash
# sidecore-bench remote-compare, short: every row is measured on both sides
# (the bare hops on the remote side only), the net rows included (testpmd
# as the VM: request-response through a tap, a stream into a sink), and the
# machine is left as found: no scb-* namespace, no sidecored or testpmd of
# the run, no scratch directory, no hugepage borrowed; the same after a
# SIGINT in the middle of a blk and of a net run. No timing thresholds.
# Usage: bench_remote_compare.sh BUILD_DIR
set -u
BUILD=${1:?usage: bench_remote_compare.sh BUILD_DIR}
BENCH=$BUILD/sidecore-bench
[ -x "$BENCH" ] && [ -x "$BUILD/sidecored" ] || { echo "FAIL: sidecore-bench / sidecored not built"; exit 1; }
for t in ip jq timeout dpdk-testpmd stdbuf; do
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
    pgrep -f 'dpdk-testpmd.*/tmp/sc-rcmp-' >/dev/null && fail "$what: a testpmd of the run is left"
    ls /var/run/dpdk 2>/dev/null | grep -qE '^scb-[0-9]+-(rr|st)-' &&
        fail "$what: a testpmd runtime directory of the run is left"
    grep -q sc-rcmp- /proc/mounts && fail "$what: a hugetlbfs mount of the run is left"
    [ "$(cat /proc/sys/vm/nr_hugepages)" = "$HUGE0" ] ||
        fail "$what: nr_hugepages is $(cat /proc/sys/vm/nr_hugepages), was $HUGE0"
    return 0
}
ip netns list | grep -q '^scb-' && fail "scb-* namespaces exist before the test"
HUGE0=$(cat /proc/sys/vm/nr_hugepages)

echo "+ sidecore-bench remote-compare --time 0.5 --json"
timeout 300 "$BENCH" remote-compare --time 0.5 --json --quiet >"$TMP/out" 2>"$TMP/err"
rc=$?
cat "$TMP/out"
[ "$rc" -eq 0 ] || fail "remote-compare exited $rc"
jq -e '.rows | length >= 27' "$TMP/out" >/dev/null || fail "rows are missing"
for sec in "blk null" "blk file" "consolidation (null)"; do
    jq -e --arg s "$sec" '[.rows[] | select(.section == $s)] | length >= 5 and
        all(.local != null and .remote != null and .local > 0 and .remote > 0)' \
        "$TMP/out" >/dev/null || fail "section '$sec' has a row not measured on both sides"
done
for sec in "veth hop (4K read)" "veth hop (64 B frame)"; do
    jq -e --arg s "$sec" '[.rows[] | select(.section == $s)] | length >= 2 and
        all(.remote != null and .remote > 0 and .local == null)' "$TMP/out" >/dev/null ||
        fail "the rows of '$sec' are not measured"
done
# Net: latencies and rates above zero on both sides; lost rounds and drop
# percentages are counts that may be zero, but must be there.
jq -e '[.rows[] | select(.section == "net RR (64 B UDP)")] | length == 3 and
    all(.local != null and .remote != null) and
    all(select(.label | startswith("round trip")) | .local > 0 and .remote > 0)' \
    "$TMP/out" >/dev/null || fail "the net request-response rows are not measured on both sides"
jq -e '[.rows[] | select(.section == "net stream (64 B)")] | length == 3 and
    all(.local != null and .remote != null and .local >= 0 and .remote >= 0) and
    all(select(.label | contains("Mpps")) | .local > 0 and .remote > 0)' \
    "$TMP/out" >/dev/null || fail "the net stream rows are not measured on both sides"
left_over "after a run"

echo "+ the text table, then SIGINT during a run"
timeout 300 "$BENCH" remote-compare --rows blk,net --backends null --time 0.5 --quiet >"$TMP/out" 2>"$TMP/err" ||
    fail "the text run failed"
cat "$TMP/out"
grep -q "remote/local" "$TMP/out" || fail "no table header"
grep -q "note: blk null QD1 p50: remote adds" "$TMP/out" || fail "no note on the QD1 overhead"
grep -q "note: net RR p50: remote adds" "$TMP/out" || fail "no note on the net RR overhead"
left_over "after the text run"

# interrupt BENCH_ARGS PATTERN WHAT: SIGINT once a process matching PATTERN
# runs; the run must end non-zero and leave nothing behind.
interrupt() {
    local _
    "$BENCH" remote-compare $1 --quiet >"$TMP/out" 2>"$TMP/err" &
    BPID=$!
    for _ in $(seq 300); do
        pgrep -f "$2" >/dev/null && break
        sleep 0.1
    done
    pgrep -f "$2" >/dev/null || fail "$3: nothing matching '$2' started within 30 s"
    sleep 1
    kill -INT "$BPID"
    timeout 60 tail --pid="$BPID" -f /dev/null || fail "remote-compare did not end within 60 s of SIGINT"
    wait "$BPID"
    rc=$?
    BPID=
    [ "$rc" -ne 0 ] || fail "$3: an interrupted run exited 0"
    left_over "after SIGINT ($3)"
}

interrupt "--rows blk,consolidation --time 3" 'sidecored.*/tmp/sc-rcmp-.*vmhost' "blk rows"
interrupt "--rows net --time 3" 'dpdk-testpmd.*/tmp/sc-rcmp-' "net rows"
echo "PASS: bench_remote_compare"
