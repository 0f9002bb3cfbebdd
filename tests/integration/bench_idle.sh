#!/usr/bin/env bash
# sidecore-bench idle runs end to end: sidecored starts with 16 queues on 4
# devices, the bench attaches and touches every queue, measures, and both
# stop cleanly. The CPU figure itself is a benchmark result, not checked.
# Usage: bench_idle.sh BUILD_DIR
set -u
BUILD=${1:?usage: bench_idle.sh BUILD_DIR}
OUT=$(timeout 60 "$BUILD/sidecore-bench" idle --time 1 --json) || {
    echo "FAIL: sidecore-bench idle exited with $?"; echo "$OUT"; exit 1; }
echo "$OUT"
[ "$(echo "$OUT" | jq -r .queues)" = 16 ] || { echo "FAIL: expected 16 queues"; exit 1; }
[ "$(echo "$OUT" | jq -r .devices)" = 4 ] || { echo "FAIL: expected 4 devices"; exit 1; }
echo "$OUT" | jq -e '.daemon_cpu_pct >= 0' >/dev/null || { echo "FAIL: no CPU figure"; exit 1; }
ls -d /tmp/sc-idle-* 2>/dev/null && { echo "FAIL: scratch directory left behind"; exit 1; }
echo "PASS: sidecore-bench idle"
