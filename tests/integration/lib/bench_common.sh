# Shared by the sidecore-bench integration tests (sourced, not run).
# Needs: BENCH (bench binary), TMP (scratch dir), and a fail() function.

# bench WANT_STATUS ARGS...: runs the bench bounded by 120 s, output in
# $TMP/out and $TMP/err, fails the test on an unexpected exit status.
bench() {
    local want=$1; shift
    echo "+ sidecore-bench $*"
    timeout 120 "$BENCH" "$@" --quiet >"$TMP/out" 2>"$TMP/err"
    local rc=$?
    cat "$TMP/out"
    if [ "$rc" -ne "$want" ]; then
        sed 's/^/  stderr: /' "$TMP/err"
        fail "sidecore-bench exited $rc, expected $want"
    fi
}

# check_headers IMAGE SECTOR...: each listed 512-byte sector of IMAGE must
# start with the bench's header: magic "SCBENCH1" then its own LBA.
check_headers() {
    local img=$1; shift
    local s words magic lba
    for s in "$@"; do
        words=$(od -An -v -tx8 -j $((s * 512)) -N 16 "$img" | tr -s ' ')
        magic=$(echo "$words" | awk '{print $1}')
        lba=$(echo "$words" | awk '{print $2}')
        [ "$magic" = "3148434e45424353" ] || fail "sector $s of $img has no bench header ($words)"
        [ $((16#$lba)) -eq "$s" ] || fail "sector $s of $img carries lba $((16#$lba))"
    done
    echo "host check: bench headers at the expected LBAs in $img"
}

# wait_socket PATH PID WHAT: up to 10 s for a unix socket to appear.
wait_socket() {
    local i
    for i in $(seq 100); do
        [ -S "$1" ] && return 0
        kill -0 "$2" 2>/dev/null || fail "$3 exited at start-up"
        sleep 0.1
    done
    fail "$3 did not create $1 within 10 s"
}
