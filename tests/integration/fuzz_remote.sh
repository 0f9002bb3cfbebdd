#!/bin/bash
# A damaging network between a vmhost and an iohost (on loopback): the
# udp_chaos relay loses, reorders and, for one datagram in ten, adds a
# damaged copy (bits flipped, fields set to edge values, cut short,
# extended) in both directions, on the blk transport and on the net tunnel.
# Through it: a verifying benchmark on a remote blk device, a random
# frontend (vu_fuzz) on a remote net device, and the iohost's source port
# flooding the tunnel back. Beside it, on a clean path to the same iohost:
# a verifying benchmark on another export. Afterwards: both daemons alive
# and answering RPC, both paths read back every block they wrote (the
# CRC in every vRIO datagram drops the damaged copies), and the iohost
# still serves a fresh verifying run on the damaged device once the damage
# stops.
# Usage: fuzz_remote.sh BUILD_DIR
set -u
BUILD=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)
SCD=$BUILD/sidecored
CTL=$BUILD/sidecorectl
# shellcheck source=lib/scd_common.sh
. "$(dirname "$0")/lib/scd_common.sh"
BENCH=$BUILD/sidecore-bench
FUZZ=$BUILD/tests/vu_fuzz
CHAOS=$BUILD/tests/udp_chaos
for bin in "$SCD" "$CTL" "$BENCH" "$FUZZ" "$CHAOS"; do
    [ -x "$bin" ] || { echo "fuzz_remote: missing $bin (build first)"; exit 1; }
done
command -v jq >/dev/null || { echo "fuzz_remote: jq is required"; exit 1; }

SECS=${SC_FUZZ_SECONDS:-20}
MUTATE=${SC_FUZZ_MUTATE:-10}
SEED=${SC_FUZZ_SEED:-$(( $(date +%s) % 1000000 ))}
TMP=$(mktemp -d /tmp/sc-fuzz-remote.XXXXXX)
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do
        timeout 10 tail --pid="$p" -f /dev/null 2>/dev/null || kill -KILL "$p" 2>/dev/null
    done
    rm -rf "$TMP"
}
trap cleanup EXIT
fail() {
    echo "fuzz_remote: FAIL (vu_fuzz seed $SEED): $*"
    local f
    for f in "$TMP"/*.out "$TMP"/bench*.log; do
        [ -s "$f" ] && { echo "--- $f"; tail -n 15 "$f"; }
    done
    for f in io vm; do
        echo "--- $f daemon log (tail)"; tail -n 40 "$TMP/$f.log" 2>/dev/null
    done
    # The fuzzed net device's lines fill the tail: the block transport's own
    # (failovers and why) come here.
    echo "--- vm daemon log, remote block lines"
    grep -E 'remote: device [RC] ' "$TMP/vm.log" 2>/dev/null | tail -n 20
    exit 1
}
ctl() { local s=$1; shift; timeout 15 "$CTL" -s "$TMP/$s.rpc" --json "$@"; }

# start_daemon NAME ARGS...: up to 10 s to ready.
start_daemon() {
    local name=$1
    shift
    "$SCD" --no-default --runtime-dir "$TMP/$name" --rpc "$TMP/$name.rpc" --log-level info \
        --sidecores 1 "$@" >"$TMP/$name.out" 2>"$TMP/$name.log" &
    local pid=$!
    PIDS+=("$pid")
    eval "PID_$name=$pid"
    scd_wait_ready "sidecored $name" "$TMP/$name.log" "$pid"
}

# Four consecutive UDP ports nobody holds (another test or run may hold
# fixed ones).
BASE=
for _ in $(seq 100); do
    b=$((20000 + RANDOM % 20000))
    busy=0
    for p in $b $((b + 1)) $((b + 2)) $((b + 3)); do
        ss -Hlun "sport = :$p" | grep -q . && busy=1
    done
    [ "$busy" -eq 0 ] && { BASE=$b; break; }
done
[ -n "$BASE" ] || fail "no four free UDP ports found"
IOB=$BASE; ION=$((BASE + 1)); RLB=$((BASE + 2)); RLN=$((BASE + 3))

truncate -s 64M "$TMP/img0"
truncate -s 64M "$TMP/img1"
start_daemon io --role iohost --cpus 0 --listen 127.0.0.1:$IOB --net-listen 127.0.0.1:$ION \
    --export "name=d0,path=$TMP/img0" --export "name=d1,path=$TMP/img1" \
    --switch name=sw0 --port switch=sw0,name=gen,type=sink,source_size=300
"$CHAOS" 127.0.0.1:$RLB 127.0.0.1:$IOB 2 5 $((SECS + 300)) "$MUTATE" >"$TMP/chaos-blk.out" 2>&1 &
CB=$!
PIDS+=("$CB")
"$CHAOS" 127.0.0.1:$RLN 127.0.0.1:$ION 2 5 $((SECS + 300)) "$MUTATE" >"$TMP/chaos-net.out" 2>&1 &
PIDS+=("$!")
sleep 0.2
for p in "${PIDS[@]:1}"; do
    kill -0 "$p" 2>/dev/null || fail "a relay did not start: $(cat "$TMP"/chaos-*.out)"
done
start_daemon vm --role vmhost --cpus 1 \
    --blk "name=R,socket=$TMP/R.sock,backend=remote,server=127.0.0.1:$RLB,export=d0" \
    --blk "name=C,socket=$TMP/C.sock,backend=remote,server=127.0.0.1:$IOB,export=d1" \
    --net "name=RN,socket=$TMP/RN.sock,server=127.0.0.1:$RLN,remote_switch=sw0"

echo "fuzz_remote: ${SECS} s through the damaging relay (vu_fuzz seed $SEED)"
# The verify prefill writes the whole span before the timed phase: 64 MiB
# took 40 s through the damaging relay on a busy machine, past the bound.
timeout $((SECS + 60)) "$BENCH" run --socket "$TMP/C.sock" --verify --qd 8 --span 16M \
    --time "$SECS" >"$TMP/benchC.log" 2>&1 &
BC=$!
timeout $((SECS + 60)) "$BENCH" run --socket "$TMP/R.sock" --verify --qd 8 --span 16M \
    --time "$SECS" >"$TMP/benchR.log" 2>&1 &
BR=$!
timeout $((SECS + 120)) "$FUZZ" "$TMP/RN.sock" net "$SEED" 100000 --time "$SECS" \
    >"$TMP/fuzz.out" 2>&1
RF=$?
wait "$BR"; RR=$?
wait "$BC"; RC=$?
cat "$TMP/fuzz.out"
tail -n 3 "$TMP/benchR.log"
[ "$RF" -eq 0 ] || fail "vu_fuzz on the remote net device exited with $RF"
[ "$RR" -eq 0 ] || { cat "$TMP/benchR.log"; fail "the verifying bench on the damaged path failed (exit $RR)"; }
[ "$RC" -eq 0 ] || { cat "$TMP/benchC.log"; fail "the verifying bench on the clean path failed (exit $RC)"; }
for d in io vm; do
    pid_var=PID_$d
    kill -0 "${!pid_var}" 2>/dev/null || fail "sidecored $d died"
    ctl "$d" info >/dev/null || fail "sidecored $d does not answer RPC"
done
ctl vm peers | jq -c '.[] | {device, state, retransmits, stale_resends}'

# The damage stops: the relay goes, R reconnects through a clean one.
kill "$CB"
timeout 10 tail --pid="$CB" -f /dev/null
"$CHAOS" 127.0.0.1:$RLB 127.0.0.1:$IOB 0 0 120 >"$TMP/chaos-clean.out" 2>&1 &
CC=$!
PIDS+=("$CC")
sleep 0.2
kill -0 "$CC" 2>/dev/null || fail "the clean relay did not start: $(cat "$TMP/chaos-clean.out")"
timeout 90 "$BENCH" run --socket "$TMP/R.sock" --verify --qd 8 --time 3 >"$TMP/benchR2.log" 2>&1 ||
    { cat "$TMP/benchR2.log"; fail "a verifying run on R after the damage stopped failed"; }
tail -n 2 "$TMP/benchR2.log"
for d in io vm; do
    pid_var=PID_$d
    kill -TERM "${!pid_var}"
    timeout 10 tail --pid="${!pid_var}" -f /dev/null || fail "sidecored $d still running 10 s after SIGTERM"
    wait "${!pid_var}" || fail "sidecored $d exited with status $? at shutdown"
done
echo "fuzz_remote: PASS"
