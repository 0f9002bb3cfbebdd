#!/usr/bin/env bash
# sidecore-bench net-compare, briefly: 64 B frames on split rings, every
# direction, without and with hugepages, one second per row. Every row must
# be measured on both backends with a rate above zero (no rate is compared
# with anything: this is a noisy shared machine), and afterwards the
# machine must be as before: the hugepage count restored, no hugetlbfs
# mount, no DPDK runtime dirs or scratch dirs of the bench left behind.
# Usage: bench_net_compare.sh BUILD_DIR
set -u
BUILD=${1:?usage: bench_net_compare.sh BUILD_DIR}
BENCH=$BUILD/sidecore-bench
[ -x "$BENCH" ] || { echo "FAIL: $BENCH not built"; exit 1; }
command -v dpdk-testpmd >/dev/null || { echo "FAIL: dpdk-testpmd not found (scripts/install-deps.sh test)"; exit 1; }
command -v jq >/dev/null || { echo "FAIL: jq not found (scripts/install-deps.sh test)"; exit 1; }
TMP=$(mktemp -d /tmp/bench-net.XXXXXX)
BPID=
cleanup() {
    if [ -n "$BPID" ]; then
        kill -INT "$BPID" 2>/dev/null
        timeout 60 tail --pid="$BPID" -f /dev/null || kill -KILL "$BPID" 2>/dev/null
        wait "$BPID" 2>/dev/null
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; [ -f "$TMP/err" ] && tail -n 40 "$TMP/err" | sed 's/^/  bench: /'; exit 1; }

pages_before=$(cat /proc/sys/vm/nr_hugepages)
scratch_before=$(ls -d /tmp/sc-netcmp-* 2>/dev/null | wc -l)
echo "+ sidecore-bench net-compare --sizes 64 --rings split --hugepages both --warmup 1 --time 1 --json"
timeout -s INT 400 "$BENCH" net-compare --sizes 64 --rings split --hugepages both --warmup 1 \
    --time 1 --json >"$TMP/out" 2>"$TMP/err" &
BPID=$!
pid=$BPID
rc=0
wait "$BPID" || rc=$?
BPID=
[ "$rc" -eq 0 ] || fail "net-compare exited $rc"
jq -r '.rows[] | "\(.hugepages) \(.ring) \(.size) \(.direction): sidecored \(.sidecored.mpps) Mpps, dpdk \(.dpdk.mpps) Mpps"' \
    "$TMP/out" || fail "net-compare printed no JSON"
[ "$(jq '.rows | length' "$TMP/out")" = 6 ] || fail "expected 6 rows (3 directions x hugepages off/on)"
bad=$(jq '[.rows[] | select((.sidecored.ok and .dpdk.ok and .sidecored.mpps > 0 and .dpdk.mpps > 0) | not)] | length' "$TMP/out")
[ "$bad" = 0 ] || fail "$bad rows without a rate on both backends"
[ "$(jq '[.rows[] | select(.sidecored.sidecore_busy_pct == null)] | length' "$TMP/out")" = 0 ] ||
    fail "rows without the sidecore's busy time"

# Rounds: each backend's figure is one of its rounds (the median).
echo "+ sidecore-bench net-compare --sizes 64 --rings split --dirs tx --hugepages off --warmup 0 --time 1 --repeat 2 --json"
timeout -s INT 200 "$BENCH" net-compare --sizes 64 --rings split --dirs tx --hugepages off \
    --warmup 0 --time 1 --repeat 2 --json >"$TMP/out2" 2>"$TMP/err" &
BPID=$!
rc=0
wait "$BPID" || rc=$?
BPID=
[ "$rc" -eq 0 ] || fail "net-compare --repeat 2 exited $rc"
jq -c '.rows[] | {sc: .sidecored.rounds_mpps, dpdk: .dpdk.rounds_mpps}' "$TMP/out2"
[ "$(jq '[.rows[] | select((.sidecored.rounds_mpps | length) == 2 and (.dpdk.rounds_mpps | length) == 2
        and (.sidecored.mpps as $m | .sidecored.rounds_mpps | index($m)) != null
        and (.dpdk.mpps as $m | .dpdk.rounds_mpps | index($m)) != null)] | length' "$TMP/out2")" = 1 ] ||
    fail "--repeat 2: expected two rounds per backend, the figure one of them"

[ "$(cat /proc/sys/vm/nr_hugepages)" = "$pages_before" ] ||
    fail "nr_hugepages is $(cat /proc/sys/vm/nr_hugepages), was $pages_before"
! grep -q "sc-netcmp-" /proc/mounts || fail "a hugetlbfs mount of the bench is left: $(grep sc-netcmp- /proc/mounts)"
[ "$(ls -d /tmp/sc-netcmp-* 2>/dev/null | wc -l)" = "$scratch_before" ] || fail "the bench left a scratch dir in /tmp"
! ls -d /var/run/dpdk/scb-"$pid"-* >/dev/null 2>&1 || fail "DPDK runtime dirs left: $(ls -d /var/run/dpdk/scb-"$pid"-*)"
echo "PASS: every row measured on both backends; hugepages and scratch state restored"
