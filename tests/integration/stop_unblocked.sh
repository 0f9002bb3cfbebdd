#!/bin/bash
# A ring stopped while its device holds requests must not stall the daemon's
# control plane: device A's QoS stage (2 IOPS) holds 10 writes when its
# frontend stops the ring (GET_VRING_BASE, vu_hostile held_stop). While
# that stop waits for them (about 4.5 s), the RPC server must answer (A
# shows as "stopping") and device B must serve a whole benchmark session
# (connect, handshake, I/O, hang up). Then A's reply must carry the base 10
# with all 10 writes completed. The same for a hangup with writes held:
# B is served while A's teardown waits, and A serves a new frontend after.
# And for deleting A over RPC with writes held: the RPC server serves other
# clients (A is gone from the list; a new device cannot take A's name yet)
# and B serves a benchmark session while the delete waits; the delete's
# answer comes once every held write completed.
# Usage: stop_unblocked.sh BUILD_DIR
set -u
BUILD=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)
BENCH=$BUILD/sidecore-bench
HOSTILE=$BUILD/tests/vu_hostile
TMP=$(mktemp -d /tmp/sc-stop.XXXXXX)
HPID=
DPID=
fail() {
    echo "stop_unblocked: FAIL: $*"
    echo "--- vu_hostile ---"; cat "$TMP/held.log" 2>/dev/null
    echo "--- daemon log (tail) ---"; tail -n 30 "$TMP/daemon.log" 2>/dev/null
    exit 1
}
# shellcheck source=lib/scd_common.sh
. "$(dirname "$0")/lib/scd_common.sh"
cleanup() {
    [ -n "$HPID" ] && kill "$HPID" 2>/dev/null
    [ -n "$DPID" ] && kill "$DPID" 2>/dev/null
    scd_cleanup
    rm -rf "$TMP"
}
trap cleanup EXIT
scd_require
for b in "$BENCH" "$HOSTILE"; do [ -x "$b" ] || fail "$b not built"; done

scd_start --log-level info \
    --blk "name=A,socket=$TMP/A.sock,backend=file,path=$TMP/A.img,size=16M" \
    --blk "name=B,socket=$TMP/B.sock,backend=null,size=16M"
scd_ctl interpose A '[{"type":"qos","iops":2,"iops_burst":1}]' >/dev/null ||
    fail "setting A's QoS stage failed"

a_field() { scd_ctl list | jq -r ".[] | select(.name == \"A\") | .$1"; }
held_sent() { grep -q "GET_VRING_BASE sent" "$TMP/held.log"; }

timeout 60 "$HOSTILE" "$TMP/A.sock" held_stop >"$TMP/held.log" 2>&1 &
HPID=$!
scd_wait 20 "vu_hostile to stop A's ring" held_sent
STATUS=$(a_field status) || fail "sidecorectl list failed while A's stop waited"
WAITED=$(a_field stopping_ms)
[ "$STATUS" = "stopping" ] ||
    fail "A's status is '$STATUS' while its stop waits for held writes (expected stopping)"
echo "stop_unblocked: the RPC server answered while A's stop waited ($WAITED ms so far)"
timeout 30 "$BENCH" run --socket "$TMP/B.sock" --time 1 --qd 4 >"$TMP/benchB.log" 2>&1 ||
    { cat "$TMP/benchB.log"; fail "B's benchmark failed while A's stop waited"; }
AFTER=$(a_field status)
echo "stop_unblocked: B served a benchmark session meanwhile; A is now '$AFTER'"
wait "$HPID"
HRC=$?
HPID=
cat "$TMP/held.log"
[ "$HRC" -eq 0 ] || fail "vu_hostile held_stop exited with $HRC"
grep -q "base 10, used 10, 10 of 10 writes completed OK" "$TMP/held.log" ||
    fail "A's stop did not complete the held writes"
[ "$(a_field failed)" = "false" ] || fail "A reports failed: $(scd_ctl list)"

# The call eventfd replaced with writes held, as QEMU does when a migration
# starts: the ring restarts around it; after 2 s the rate limit lets the
# rest through (at 1 IOPS, 10 writes outlasted the stop's 5 s bound and
# the last ones failed with IOERR).
scd_ctl interpose A '[{"type":"qos","iops":1,"iops_burst":1}]' >/dev/null || fail "A's QoS at 1 IOPS"
timeout 60 "$HOSTILE" "$TMP/A.sock" held_call >"$TMP/held.log" 2>&1 ||
    { cat "$TMP/held.log"; fail "writes held across a call eventfd swap did not all complete OK"; }
cat "$TMP/held.log"
scd_ctl interpose A '[{"type":"qos","iops":2,"iops_burst":1}]' >/dev/null || fail "A's QoS at 2 IOPS"

# A hangup with writes held: the teardown waits for them, B is served
# meanwhile, and A serves a new frontend afterwards (vu_hostile's check).
# A second frontend tried before the hangup is refused as such (its line
# may be held back by the limit of one per 10 s); the one tried during the
# teardown must still be told why, as the reason changed. It was not when
# the hung-up frontend came back before its hangup was seen.
hung_up() { grep -q "hung up with" "$TMP/held.log"; }
holding() { grep -q "holding 10 writes" "$TMP/held.log"; }
mkfifo "$TMP/hangup.fifo"
MARK=$(wc -l <"$TMP/daemon.log")
timeout 60 "$HOSTILE" "$TMP/A.sock" held_hangup <"$TMP/hangup.fifo" >"$TMP/held.log" 2>&1 &
HPID=$!
exec 7>"$TMP/hangup.fifo"
scd_wait 20 "vu_hostile to hold writes on A" holding
timeout 10 "$BENCH" run --socket "$TMP/A.sock" --time 1 >/dev/null 2>&1 &&
    fail "a second frontend was served on A"
echo >&7
exec 7>&-
scd_wait 20 "vu_hostile to hang up on A" hung_up
STATUS=$(a_field status) || fail "sidecorectl list failed while A's teardown waited"
[ "$STATUS" = "stopping" ] ||
    fail "A's status is '$STATUS' after a hangup with writes held (expected stopping)"
# A frontend that comes meanwhile is turned away; the log said "one is
# already connected", right after "frontend disconnected".
timeout 10 "$BENCH" run --socket "$TMP/A.sock" --time 1 >/dev/null 2>&1 &&
    fail "a frontend was served on A while its teardown waited"
tail -n "+$((MARK + 1))" "$TMP/daemon.log" |
    grep -q "A: refused a frontend on .*: the one that left still has requests in the backend" ||
    fail "the refusal during A's teardown does not say why"
timeout 30 "$BENCH" run --socket "$TMP/B.sock" --time 1 --qd 4 >"$TMP/benchB.log" 2>&1 ||
    { cat "$TMP/benchB.log"; fail "B's benchmark failed while A's teardown waited"; }
wait "$HPID"
HRC=$?
HPID=
cat "$TMP/held.log"
[ "$HRC" -eq 0 ] || fail "vu_hostile held_hangup exited with $HRC"

waiting() { grep -q "waiting with" "$TMP/held.log"; }
timeout 60 "$HOSTILE" "$TMP/A.sock" held_delete >"$TMP/held.log" 2>&1 &
HPID=$!
scd_wait 20 "vu_hostile to submit writes to A" waiting
scd_ctl delete A >"$TMP/delete.json" 2>&1 &
DPID=$!
gone() { ! scd_ctl list | jq -e '.[] | select(.name == "A")' >/dev/null; }
scd_wait 5 "A to leave the device list" gone
kill -0 "$DPID" 2>/dev/null ||
    fail "the delete answered before A's held writes completed: $(cat "$TMP/delete.json")"
if scd_ctl create-blk A --backend null --size 16M --socket "$TMP/A2.sock" >"$TMP/create.out" 2>&1; then
    fail "a device named A was created while A was being deleted"
fi
grep -q "being deleted" "$TMP/create.out" ||
    fail "creating A during its delete was refused without saying why: $(cat "$TMP/create.out")"
timeout 30 "$BENCH" run --socket "$TMP/B.sock" --time 1 --qd 4 >"$TMP/benchB.log" 2>&1 ||
    { cat "$TMP/benchB.log"; fail "B's benchmark failed while A's delete waited"; }
PENDING=no
kill -0 "$DPID" 2>/dev/null && PENDING=yes
echo "stop_unblocked: the RPC server answered while A's delete waited; B served a" \
    "benchmark session (the delete still pending after it: $PENDING)"
wait "$DPID" || fail "sidecorectl delete A failed: $(cat "$TMP/delete.json")"
DPID=
jq -e '.deleted == "A"' "$TMP/delete.json" >/dev/null ||
    fail "unexpected delete answer: $(cat "$TMP/delete.json")"
wait "$HPID"
HRC=$?
HPID=
cat "$TMP/held.log"
[ "$HRC" -eq 0 ] || fail "vu_hostile held_delete exited with $HRC"
scd_ctl create-blk A --backend null --size 16M --socket "$TMP/A2.sock" >/dev/null ||
    fail "A's name could not be used again after its delete"
kill -0 "$SCD_PID" 2>/dev/null || fail "sidecored died"
scd_stop
echo "stop_unblocked: ok"
