# dpdk-testpmd for the integration tests (sourced, not run). Each instance
# runs interactive with its commands written to a FIFO, so a test can stop
# forwarding (ports stay up: the peer can still drain the rings), read
# exact counters, and only then quit. Every instance is bounded in time and
# stopped on exit. Needs TMP (scratch dir) and a fail function. Instance
# NAME logs to $TMP/pmd-NAME.log; its EAL runtime dir is
# /var/run/dpdk/sct-PID-NAME.
# shellcheck shell=bash

# Longest life of one testpmd: a test that hangs still ends.
DPDK_LIFETIME=${DPDK_LIFETIME:-180}
# Empty: --no-huge. Otherwise a hugetlbfs mount point.
DPDK_HUGE_DIR=${DPDK_HUGE_DIR:-}
declare -A DPDK_PID=() DPDK_FD=()

# dpdk_require: fails when testpmd or stdbuf (which makes its output reach
# the log line by line) is missing.
dpdk_require() {
    TESTPMD=$(command -v dpdk-testpmd || true)
    [ -n "$TESTPMD" ] || fail "dpdk-testpmd not found (scripts/install-deps.sh test installs dpdk)"
    command -v stdbuf >/dev/null || fail "stdbuf not found (coreutils)"
}

dpdk_prefix() { echo "sct-$$-$1"; }

# dpdk_count NAME PATTERN: lines of NAME's log matching PATTERN.
dpdk_count() { grep -c -- "$2" "$TMP/pmd-$1.log" 2>/dev/null; }

# dpdk_wait_count NAME PATTERN N SECONDS WHAT: until the log has more than
# N lines matching PATTERN.
dpdk_wait_count() {
    local _
    for _ in $(seq $(($4 * 10))); do
        [ "$(dpdk_count "$1" "$2")" -gt "$3" ] && return 0
        kill -0 "${DPDK_PID[$1]}" 2>/dev/null || fail "testpmd $1 exited (waiting for $5)"
        sleep 0.1
    done
    fail "testpmd $1: no $5 within $4 s"
}

# dpdk_start NAME CPU MODE VDEVS [TESTPMD_ARGS...]: starts testpmd with both
# lcores on CPU, forward mode MODE, one --vdev per space-separated word of
# VDEVS, and starts forwarding. Does not wait (see dpdk_wait_forwarding).
dpdk_start() {
    local name=$1 cpu=$2 mode=$3 vdevs=$4 v fd
    shift 4
    local eal=(--lcores "(0,1)@$cpu" --no-pci --file-prefix="$(dpdk_prefix "$name")")
    if [ -n "$DPDK_HUGE_DIR" ]; then
        eal+=(--huge-dir "$DPDK_HUGE_DIR" -m 512 --single-file-segments)
    else
        eal+=(--no-huge -m 512)
    fi
    for v in $vdevs; do eal+=(--vdev "$v"); done
    rm -f "$TMP/pmd-$name.cmd"
    mkfifo "$TMP/pmd-$name.cmd" || fail "mkfifo $TMP/pmd-$name.cmd"
    timeout -s INT -k 10 "$DPDK_LIFETIME" stdbuf -oL "$TESTPMD" "${eal[@]}" -- -i \
        --forward-mode="$mode" --total-num-mbufs 16384 "$@" \
        <"$TMP/pmd-$name.cmd" >"$TMP/pmd-$name.log" 2>&1 &
    DPDK_PID[$name]=$!
    # Opening the FIFO waits for testpmd's side; the shell keeps it open.
    exec {fd}>"$TMP/pmd-$name.cmd"
    DPDK_FD[$name]=$fd
    dpdk_cmd "$name" start
}

# dpdk_cmd NAME COMMAND: one line to NAME's command prompt.
dpdk_cmd() { echo "$2" >&"${DPDK_FD[$1]}" || fail "testpmd $1 does not take commands"; }

# dpdk_wait_forwarding NAME: up to 30 s until testpmd forwards (a vhost PMD
# backend with --no-huge takes seconds to create its socket).
dpdk_wait_forwarding() { dpdk_wait_count "$1" "packet forwarding - ports=" 0 30 "forwarding"; }

# dpdk_wait_socket PATH NAME: up to 30 s for testpmd NAME to create PATH.
dpdk_wait_socket() {
    local _
    for _ in $(seq 300); do
        [ -S "$1" ] && return 0
        kill -0 "${DPDK_PID[$2]}" 2>/dev/null || fail "testpmd $2 exited at start-up"
        sleep 0.1
    done
    fail "testpmd $2 did not create $1 within 30 s"
}

# dpdk_live NAME PORT FIELD: PORT's counter FIELD (RX-packets, TX-packets,
# ...) as testpmd reports it now.
dpdk_live() {
    local hdr="NIC statistics for port $2 " n
    n=$(dpdk_count "$1" "$hdr")
    dpdk_cmd "$1" "show port stats $2"
    dpdk_wait_count "$1" "$hdr" "$n" 10 "port statistics"
    # The block may still be arriving: wait for its closing line.
    local _ v
    for _ in $(seq 50); do
        v=$(awk -v hdr="$hdr" -v f="$3:" '
            index($0, hdr) { inb = 1; done = 0; v = ""; next }
            inb && /####################/ { inb = 0; done = 1 }
            inb { for (i = 1; i < NF; i++) if ($i == f) v = $(i + 1) }
            END { if (done) print v }' "$TMP/pmd-$1.log")
        [ -n "$v" ] && { echo "$v"; return 0; }
        sleep 0.1
    done
    fail "testpmd $1: incomplete port statistics"
}

# dpdk_wait_live NAME PORT FIELD VALUE SECONDS: until the counter reaches
# VALUE; fails with both numbers after SECONDS.
dpdk_wait_live() {
    local _ v
    [[ $4 =~ ^[0-9]+$ ]] || fail "testpmd $1: no count to wait for ('$4')"
    for _ in $(seq $(($5 * 2))); do
        v=$(dpdk_live "$1" "$2" "$3")
        [ "$v" -ge "$4" ] && return 0
        sleep 0.5
    done
    fail "testpmd $1 port $2 $3 is '$v' after $5 s, waited for $4"
}

# dpdk_stop_fwd NAME: stops forwarding; the ports stay up, and the forward
# counters (dpdk_fwd) are final.
dpdk_stop_fwd() {
    local n
    n=$(dpdk_count "$1" "^Done\.")
    dpdk_cmd "$1" stop
    dpdk_wait_count "$1" "^Done\." "$n" 20 "final statistics"
}

# dpdk_quit NAME: quits (EOF on its commands), up to 20 s for the exit.
dpdk_quit() {
    local p=${DPDK_PID[$1]} fd=${DPDK_FD[$1]}
    exec {fd}>&-
    if ! timeout 20 tail --pid="$p" -f /dev/null; then
        kill -KILL "$p" 2>/dev/null
        fail "testpmd $1 did not exit within 20 s of quit"
    fi
    wait "$p" 2>/dev/null
    unset "DPDK_PID[$1]" "DPDK_FD[$1]"
    rm -rf "/var/run/dpdk/$(dpdk_prefix "$1")" "$TMP/pmd-$1.cmd"
}

# dpdk_stop NAME: dpdk_stop_fwd, then dpdk_quit.
dpdk_stop() {
    dpdk_stop_fwd "$1"
    dpdk_quit "$1"
}

# dpdk_cleanup: stops every instance still running (for trap EXIT).
dpdk_cleanup() {
    local n fd
    for n in "${!DPDK_PID[@]}"; do
        fd=${DPDK_FD[$n]:-}
        [ -n "$fd" ] && exec {fd}>&-
        kill -INT "${DPDK_PID[$n]}" 2>/dev/null
    done
    for n in "${!DPDK_PID[@]}"; do
        timeout 20 tail --pid="${DPDK_PID[$n]}" -f /dev/null 2>/dev/null ||
            kill -KILL "${DPDK_PID[$n]}" 2>/dev/null
        wait "${DPDK_PID[$n]}" 2>/dev/null
        rm -rf "/var/run/dpdk/$(dpdk_prefix "$n")" "$TMP/pmd-$n.cmd"
    done
    DPDK_PID=()
    DPDK_FD=()
}

# dpdk_fwd NAME FIELD [PORT]: after dpdk_stop_fwd, a forward counter
# (RX-packets, RX-dropped, TX-packets, TX-dropped) of PORT, or of all ports
# without PORT, from the last statistics testpmd printed.
dpdk_fwd() {
    local start='Accumulated forward statistics'
    [ $# -ge 3 ] && start="Forward statistics for port $3 "
    awk -v s="$start" -v f="$2:" '
        index($0, s) { inb = 1; v = ""; next }
        inb && (index($0, "-----------") || index($0, "+++++++++++")) { inb = 0; last = v }
        inb { for (i = 1; i < NF; i++) if ($i == f) v = $(i + 1) }
        END { print last }' "$TMP/pmd-$1.log"
}
