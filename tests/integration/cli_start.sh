#!/bin/bash
# sidecored's start-up checks of what an operator gives it: a sidecore
# pinned to a CPU the daemon may not run on is refused (it ran unpinned
# while `sidecores` showed it on that CPU); more sidecores than CPUs and an
# image that is not a whole number of sectors are warned about; ports
# outside 1-65535 are refused (they wrapped modulo 65536); --export takes
# readonly=on as --blk does (an unknown key there crashed the daemon);
# --socket-group hands device sockets, and only them, to a group (QEMU's),
# an unknown group is refused.
# Usage: cli_start.sh BUILD_DIR
set -u
BUILD=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)
TMP=$(mktemp -d /tmp/sc-cli.XXXXXX)
fail() {
    echo "cli_start: FAIL: $*"
    echo "--- daemon log (tail) ---"
    tail -n 20 "$TMP/daemon.log" 2>/dev/null
    exit 1
}
# shellcheck source=lib/scd_common.sh
. "$(dirname "$0")/lib/scd_common.sh"
trap 'scd_cleanup; rm -rf "$TMP"' EXIT
scd_require

# refused EXPECTED ARGS...: sidecored with ARGS must exit 2 at once, saying EXPECTED.
refused() {
    local want=$1 rc=0
    shift
    timeout 10 "$SCD" --no-default --runtime-dir "$TMP/run" --rpc "$TMP/r.sock" "$@" \
        >"$TMP/daemon.log" 2>&1 || rc=$?
    [ "$rc" -eq 2 ] || fail "sidecored $* exited $rc (expected 2)"
    grep -qF "$want" "$TMP/daemon.log" || fail "sidecored $*: expected \"$want\""
}

ALLOWED=$(sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' /proc/self/status)
NONE=$(nproc --all)
refused "sidecore 0: CPU $NONE in --cpus / sidecores.cpus is not one sidecored may run on (CPUs $ALLOWED)" \
    --cpus "$NONE"
refused "expected a numeric IP:PORT (port 1-65535), got \"127.0.0.1:107736\"" \
    --listen 127.0.0.1:107736
refused "expected a numeric IP:PORT (port 1-65535), got \"127.0.0.1:0\"" \
    --listen 127.0.0.1:9 --net-listen 127.0.0.1:0
refused 'socket_group: no group "sc-no-such-group" on this system' \
    --socket-group sc-no-such-group
echo "cli_start: a CPU sidecored may not use, ports outside 1-65535, an unknown group are refused"

# A free UDP port for the export.
PORT=
for p in $(seq 42400 42499); do
    ss -Hlun "sport = :$p" | grep -q . || { PORT=$p; break; }
done
[ -n "$PORT" ] || fail "no free UDP port in 42400-42499"
head -c 1000 /dev/zero >"$TMP/odd.img"
N=$(( $(nproc) + 1 ))
"$SCD" --no-default --runtime-dir "$TMP" --rpc "$TMP/rpc.sock" --sidecores "$N" \
    --blk "name=odd,backend=file,path=$TMP/odd.img" \
    --listen "127.0.0.1:$PORT" --export name=e0,backend=null,size=16M,readonly=on \
    >"$TMP/daemon.out" 2>"$TMP/daemon.log" &
SCD_PID=$!
scd_wait_ready sidecored "$TMP/daemon.log" "$SCD_PID"
grep -q "$N sidecores but sidecored may run on $((N - 1)) CPU(s) ($ALLOWED): they will take turns" \
    "$TMP/daemon.log" || fail "no warning for $N sidecores on $((N - 1)) CPU(s)"
grep -q "odd.img: the file holds 1000 bytes, not a whole number of 512-byte sectors: the last 488 are not served" \
    "$TMP/daemon.log" || fail "no warning for a 1000-byte image"
RO=$(timeout 10 "$CTL" -s "$TMP/rpc.sock" --json exports | jq -r '.exports[0].config.read_only')
[ "$RO" = true ] || fail "--export ...,readonly=on: read_only is $RO"
scd_stop

# Device sockets, made at start-up and by RPC, go to the group asked for;
# the RPC socket, which controls the daemon, stays with the daemon's group.
GID=$(getent group nogroup | cut -d: -f3)
[ -n "$GID" ] || fail "no group nogroup on this system"
"$SCD" --no-default --runtime-dir "$TMP/grp" --rpc "$TMP/grp/rpc.sock" --socket-group nogroup \
    --blk "name=g0,backend=null,size=16M" >"$TMP/daemon.out" 2>"$TMP/daemon.log" &
SCD_PID=$!
scd_wait_ready sidecored "$TMP/daemon.log" "$SCD_PID"
timeout 10 "$CTL" -s "$TMP/grp/rpc.sock" create-blk g1 --backend null --size 16M >/dev/null ||
    fail "create-blk g1"
for s in g0 g1; do
    got=$(stat -c '%g %a' "$TMP/grp/$s.sock")
    [ "$got" = "$GID 660" ] || fail "$s.sock: group and mode $got, expected $GID 660"
done
got=$(stat -c %g "$TMP/grp/rpc.sock")
[ "$got" = "$(id -g)" ] || fail "the RPC socket went to group $got"
scd_stop
echo "cli_start: ok"
