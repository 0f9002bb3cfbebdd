# sidecored for the net integration tests (sourced, not run): start it in
# $TMP (log $TMP/daemon.log), wait for "sidecored: ready", talk to its RPC
# socket, read counters, stop it and check its exit status. Needs BUILD,
# TMP and a fail function.
# shellcheck shell=bash

SCD=$BUILD/sidecored
CTL=$BUILD/sidecorectl
SCD_PID=

scd_require() {
    local b
    for b in "$SCD" "$CTL"; do
        [ -x "$b" ] || fail "$b not built"
    done
    command -v jq >/dev/null || fail "jq not found (scripts/install-deps.sh test)"
}

# scd_wait_ready WHO LOG PID: up to 10 s until the sidecored PID (WHO in
# messages) writes "sidecored: ready" to LOG; fails if it exits first.
scd_wait_ready() {
    local _
    for _ in $(seq 100); do
        grep -q "sidecored: ready" "$2" && return 0
        kill -0 "$3" 2>/dev/null || fail "$1 exited at start-up"
        sleep 0.1
    done
    fail "$1 did not get ready within 10 s"
}

# scd_start ARGS...: sidecored with one sidecore on CPU 1 and ARGS; up to
# 10 s until it is ready.
scd_start() {
    # Emptied before the start: the child's redirection may come after the
    # first look for "ready", which would then find the last daemon's.
    : >"$TMP/daemon.log"
    "$SCD" --no-default --runtime-dir "$TMP" --rpc "$TMP/rpc.sock" --cpus 1 "$@" \
        >"$TMP/daemon.out" 2>"$TMP/daemon.log" &
    SCD_PID=$!
    scd_wait_ready sidecored "$TMP/daemon.log" "$SCD_PID"
}

# scd_stop: SIGTERM; it must exit 0 within 10 s.
scd_stop() {
    local rc=0
    kill -TERM "$SCD_PID"
    timeout 10 tail --pid="$SCD_PID" -f /dev/null || fail "sidecored still running 10 s after SIGTERM"
    wait "$SCD_PID" || rc=$?
    SCD_PID=
    [ "$rc" -eq 0 ] || fail "sidecored exited with status $rc"
}

# scd_cleanup: for trap EXIT.
scd_cleanup() {
    if [ -n "$SCD_PID" ]; then
        kill -TERM "$SCD_PID" 2>/dev/null
        timeout 10 tail --pid="$SCD_PID" -f /dev/null 2>/dev/null || kill -KILL "$SCD_PID" 2>/dev/null
        wait "$SCD_PID" 2>/dev/null
        SCD_PID=
    fi
}

scd_ctl() { timeout 15 "$CTL" -s "$TMP/rpc.sock" --json "$@"; }

# scd_port SWITCH PORT JQ_FILTER: a counter of one switch port.
scd_port() {
    scd_ctl switch-stats "$1" | jq -r --arg p "$2" ".ports[] | select(.name == \$p) | $3"
}

# scd_wait SECONDS DESCRIPTION COMMAND...: runs COMMAND (a predicate
# function: arguments are expanded once) every 0.2 s until it succeeds.
scd_wait() {
    local secs=$1 what=$2 _
    shift 2
    for _ in $(seq $((secs * 5))); do
        "$@" && return 0
        sleep 0.2
    done
    fail "timed out after $secs s waiting for $what"
}
