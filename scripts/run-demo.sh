#!/usr/bin/env bash
# What `make run` shows after building: sidecored with its embedded default
# configuration (devices null0 and file0) in a scratch runtime dir, driven by
# sidecorectl and sidecore-bench, then a side-by-side comparison with
# qemu-storage-daemon. Exits non-zero when any step fails.
# Usage: run-demo.sh BUILD_DIR
set -u
BUILD=${1:?usage: run-demo.sh BUILD_DIR}
BUILD=$(cd "$BUILD" && pwd)
DAEMON=$BUILD/sidecored
CTL=$BUILD/sidecorectl
BENCH=$BUILD/sidecore-bench
for b in "$DAEMON" "$CTL" "$BENCH"; do
    [ -x "$b" ] || { echo "run-demo: $b is not built (run: make build)" >&2; exit 1; }
done

RUN=$(mktemp -d /tmp/sidecore-demo.XXXXXX)
RPC=$RUN/sidecored.sock
LOG=$RUN/sidecored.log
DAEMON_PID=
FAILED=()
cleanup() {
    if [ -n "$DAEMON_PID" ]; then
        kill -TERM "$DAEMON_PID" 2>/dev/null
        wait "$DAEMON_PID" 2>/dev/null
    fi
    rm -rf "$RUN"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '\n=== %s\n' "$*"; }

# run_step NAME CMD...: runs CMD bounded by 120 s and records a failure.
run_step() {
    local name=$1 rc
    shift
    echo "+ ${*#"$BUILD/"}"
    timeout 120 "$@"
    rc=$?
    if [ "$rc" -ne 0 ]; then
        echo "run-demo: '$name' failed (exit status $rc)"
        FAILED+=("$name")
    fi
    return "$rc"
}

show_daemon_log() {
    echo "--- sidecored log (last 30 lines) ---"
    tail -n 30 "$LOG"
}

step "starting sidecored with its default devices (runtime dir $RUN)"
"$DAEMON" --runtime-dir "$RUN" >"$LOG" 2>&1 &
DAEMON_PID=$!
for _ in $(seq 100); do
    [ -S "$RPC" ] && break
    kill -0 "$DAEMON_PID" 2>/dev/null || break
    sleep 0.1
done
if [ ! -S "$RPC" ]; then
    if kill -0 "$DAEMON_PID" 2>/dev/null; then
        echo "run-demo: sidecored did not create its RPC socket $RPC within 10 s"
    else
        rc=0
        wait "$DAEMON_PID" || rc=$?
        DAEMON_PID=
        echo "run-demo: sidecored exited at start-up with status $rc"
    fi
    show_daemon_log
    exit 1
fi
cat "$LOG"

step "sidecorectl list"
run_step list "$CTL" -s "$RPC" list

step "sidecore-bench on null0: randread 4k, qd 32, 5 s"
run_step "bench null0" "$BENCH" run --socket "$RUN/null0.sock" --workload randread --bs 4k --qd 32 --time 5

step "sidecore-bench on file0: randwrite 4k, qd 32, 5 s, then read back and verify"
run_step "bench file0 verify" "$BENCH" run --socket "$RUN/file0.sock" --workload randwrite --bs 4k --qd 32 --time 5 --verify

step "sidecorectl stats"
run_step stats "$CTL" -s "$RPC" stats

step "sidecorectl sidecores"
run_step sidecores "$CTL" -s "$RPC" sidecores

# Stopped before the comparison so its polling threads do not share the
# CPUs with the two daemons being compared.
step "stopping sidecored (SIGTERM)"
kill -TERM "$DAEMON_PID"
rc=0
for _ in $(seq 100); do
    kill -0 "$DAEMON_PID" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$DAEMON_PID" 2>/dev/null; then
    echo "run-demo: sidecored did not exit within 10 s of SIGTERM"
    kill -KILL "$DAEMON_PID"
    FAILED+=("shutdown")
fi
wait "$DAEMON_PID" || rc=$?
DAEMON_PID=
if [ "$rc" -ne 0 ]; then
    echo "run-demo: sidecored exited with status $rc"
    FAILED+=("shutdown")
elif [ -e "$RPC" ] || [ -e "$RUN/null0.sock" ] || [ -e "$RUN/file0.sock" ]; then
    echo "run-demo: sidecored left sockets behind in $RUN"
    FAILED+=("shutdown")
else
    echo "sidecored stopped cleanly"
fi

step "sidecore-bench compare --backend null: sidecored vs qemu-storage-daemon, randread 4k qd 32, 5 s each"
if command -v qemu-storage-daemon >/dev/null; then
    run_step compare "$BENCH" compare --backend null --workload randread --bs 4k --qd 32 --time 5
else
    echo "run-demo: qemu-storage-daemon is not installed (run: scripts/install-deps.sh run)"
    FAILED+=("compare")
fi

step "summary"
if [ "${#FAILED[@]}" -eq 0 ]; then
    echo "run-demo: all steps passed"
    exit 0
fi
echo "run-demo: failed steps: ${FAILED[*]}"
show_daemon_log
exit 1
