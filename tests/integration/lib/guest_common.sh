# Shared by the qemu_guest_* integration tests (sourced, not run): builds the
# Linux guest (scripts/guest/build-guest.sh, cached in BUILD/guest), boots it
# under QEMU TCG against a vhost-user-blk socket (or, with guest_qemu, any
# devices) and checks what the guest reports. Needs: BUILD (read here), TMP,
# and a dump_backend_log function printing the backend's log for failure
# reports.
# shellcheck shell=bash disable=SC2154

GUEST_TIMEOUT=${GUEST_TIMEOUT:-300}
GUEST_IMG_SIZE=64M
# Region the host fills before boot and the guest checksums: OFFSET:LEN MiB.
GUEST_PRE_OFF=32
GUEST_PRE_LEN=1
GUEST_WRITE_MIB=16

fail() {
    echo "FAIL: $*"
    if [ -f "$TMP/serial.log" ]; then
        echo "--- last 50 lines of the guest serial log ---"
        tail -n 50 "$TMP/serial.log" | tr -d '\r'
    fi
    echo "--- backend log (last 50 lines) ---"
    dump_backend_log | tail -n 50
    exit 1
}

# guest_require: fails when QEMU is not installed (install-deps.sh installs it).
guest_require() {
    QEMU=$(command -v qemu-system-x86_64 || true)
    if [ -z "$QEMU" ]; then
        echo "FAIL: qemu-system-x86_64 not installed (run: scripts/install-deps.sh test)"
        exit 1
    fi
    local root
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
    GUEST_DIR=$BUILD/guest
    timeout 240 "$root/scripts/guest/build-guest.sh" "$GUEST_DIR" ||
        fail "building the guest failed (scripts/guest/build-guest.sh $GUEST_DIR)"
}

# guest_image PATH: a sparse image with a known pattern in the pre-filled
# region; prints nothing, sets PRE_MD5.
guest_image() {
    truncate -s "$GUEST_IMG_SIZE" "$1"
    yes "sidecore pre-filled by the host before boot" | head -c $((GUEST_PRE_LEN << 20)) |
        dd of="$1" bs=1M seek="$GUEST_PRE_OFF" conv=notrunc status=none
    PRE_MD5=$(dd if="$1" bs=1M skip="$GUEST_PRE_OFF" count="$GUEST_PRE_LEN" status=none | md5sum | cut -d' ' -f1)
}

# guest_boot SOCKET QUEUES: boots the guest with test "blk", output in
# $TMP/serial.log; fails on timeout or when QEMU itself fails.
guest_boot() {
    local rc
    echo "+ booting the guest (TCG, up to ${GUEST_TIMEOUT} s) against $1"
    timeout "$GUEST_TIMEOUT" "$QEMU" -accel tcg -M q35 -cpu max -m 512M -smp 2 \
        -object memory-backend-memfd,id=mem,size=512M,share=on -numa node,memdev=mem \
        -chardev socket,id=c0,path="$1" -device vhost-user-blk-pci,chardev=c0,num-queues="$2" \
        -kernel "$GUEST_DIR/vmlinuz" -initrd "$GUEST_DIR/initrd.gz" \
        -append "console=ttyS0 panic=-1 quiet sc.test=blk sc.pre=$GUEST_PRE_OFF:$GUEST_PRE_LEN" \
        -nodefaults -display none -serial stdio -no-reboot </dev/null >"$TMP/serial.log" 2>&1
    rc=$?
    [ "$rc" -eq 124 ] && fail "the guest did not power off within ${GUEST_TIMEOUT} s"
    [ "$rc" -eq 0 ] || fail "QEMU exited with status $rc"
}

# guest_result KEY [SERIAL_LOG]: the value of the guest's "SCRESULT
# KEY=value" line (default log: $TMP/serial.log).
guest_result() {
    tr -d '\r' <"${2:-$TMP/serial.log}" | sed -n "s/^SCRESULT $1=//p" | tail -n 1
}

# guest_qemu SERIAL_LOG TEST KERNEL_ARGS QEMU_ARGS...: runs guest test TEST
# (one vCPU) with QEMU_ARGS for its devices, bounded by GUEST_TIMEOUT; the
# console goes to SERIAL_LOG, and the console's input comes from
# GUEST_STDIN (default /dev/null). Returns QEMU's status (124: timed out).
guest_qemu() {
    local log=$1 test=$2 args=$3
    shift 3
    timeout "$GUEST_TIMEOUT" "$QEMU" -accel tcg -M q35 -cpu max -m 512M -smp 1 \
        -object memory-backend-memfd,id=mem,size=512M,share=on -numa node,memdev=mem "$@" \
        -kernel "$GUEST_DIR/vmlinuz" -initrd "$GUEST_DIR/initrd.gz" \
        -append "console=ttyS0 panic=-1 quiet sc.test=$test $args" \
        -nodefaults -display none -serial stdio -no-reboot <"${GUEST_STDIN:-/dev/null}" >"$log" 2>&1
}

# guest_check IMAGE: compares the guest's checksums with each other and with
# the host's view of the image.
guest_check() {
    local exit_rc size wmd5 rmd5 pmd5 hmd5
    exit_rc=$(guest_result exit)
    [ -n "$exit_rc" ] || fail "the guest never reported its test result"
    [ -z "$(guest_result error)" ] || fail "guest error: $(guest_result error)"
    [ -z "$(guest_result insmod_failed)" ] || fail "guest could not load module $(guest_result insmod_failed)"
    [ "$exit_rc" = 0 ] || fail "the guest test script exited $exit_rc"
    size=$(guest_result size)
    [ "$size" = $(( ${GUEST_IMG_SIZE%M} << 20 )) ] || fail "guest sees a disk of '$size' bytes, expected $GUEST_IMG_SIZE"
    wmd5=$(guest_result write_md5)
    rmd5=$(guest_result read_md5)
    pmd5=$(guest_result pre_md5)
    hmd5=$(dd if="$1" bs=1M count="$GUEST_WRITE_MIB" status=none | md5sum | cut -d' ' -f1)
    echo "guest wrote    $wmd5"
    echo "host file has  $hmd5"
    echo "guest read     $rmd5"
    echo "pre-filled:    host $PRE_MD5 guest $pmd5"
    [ -n "$wmd5" ] || fail "no write checksum from the guest"
    [ "$wmd5" = "$hmd5" ] || fail "the host file does not hold what the guest wrote"
    [ "$wmd5" = "$rmd5" ] || fail "the guest read back different data than it wrote"
    [ "$pmd5" = "$PRE_MD5" ] || fail "the guest read different data than the host pre-filled"
}

# guest_cleanup: for trap EXIT in scripts with one sidecored (DAEMON_PID)
# and maybe one QEMU in the background (QEMU_PID): both go, then $TMP.
guest_cleanup() {
    [ -n "${QEMU_PID:-}" ] && kill -KILL "$QEMU_PID" 2>/dev/null
    if [ -n "${DAEMON_PID:-}" ]; then
        kill "$DAEMON_PID" 2>/dev/null
        wait "$DAEMON_PID" 2>/dev/null
    fi
    rm -rf "$TMP"
}

# guest_stop_daemon: SIGTERM to $DAEMON_PID; sidecored must exit 0.
guest_stop_daemon() {
    local rc=0
    kill -TERM "$DAEMON_PID"
    wait "$DAEMON_PID" || rc=$?
    DAEMON_PID=
    [ "$rc" -eq 0 ] || fail "sidecored exited with status $rc after SIGTERM"
}

# guest_wait_socket PATH PID WHAT: up to 10 s for a unix socket to appear.
guest_wait_socket() {
    local _
    for _ in $(seq 100); do
        [ -S "$1" ] && return 0
        kill -0 "$2" 2>/dev/null || fail "$3 exited at start-up"
        sleep 0.1
    done
    fail "$3 did not create $1 within 10 s"
}
