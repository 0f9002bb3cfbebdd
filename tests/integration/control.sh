#!/usr/bin/env bash
# Control plane end to end: sidecored driven through sidecorectl.
#  1. --no-default start: create null and file devices (read-only, 4 queues),
#     list/stats/info/sidecores/top, I/O through sidecore-bench shows up in
#     the stats, delete; bad requests give clear errors and the daemon stays
#     up; a second daemon on the same RPC socket is refused; images are
#     locked against other daemons, qemu-io and qemu-storage-daemon.
#  2. --config FILE brings up the devices in the file; a bad config names
#     the key and exits non-zero.
#  3. No device arguments: null0 and file0 come up and QEMU lines are printed.
#  4. A vmhost with a remote device on a loopback iohost: list shows the
#     export's size and the defaults the device runs with; the text views
#     show their counters and the device's stages.
# Each daemon stops on SIGTERM with status 0 and removes its sockets.
# Usage: control.sh BUILD_DIR (CONTROL_UDP_PORT: the iohost's port in part 4;
# by default a free one)
set -u
BUILD=${1:?usage: control.sh BUILD_DIR}
SCD=$BUILD/sidecored
CTL=$BUILD/sidecorectl
BENCH=$BUILD/sidecore-bench
for b in "$SCD" "$CTL"; do
    [ -x "$b" ] || { echo "FAIL: $b not built"; exit 1; }
done
TMP=$(mktemp -d /tmp/control.XXXXXX)
PID=
QSD_PID=
IOPID=
cleanup() {
    [ -n "$QSD_PID" ] && kill "$QSD_PID" 2>/dev/null
    [ -n "$IOPID" ] && kill "$IOPID" 2>/dev/null
    if [ -n "$PID" ]; then
        kill "$PID" 2>/dev/null
        wait "$PID" 2>/dev/null
    fi
    mountpoint -q "$TMP/full" && umount "$TMP/full"
    rm -rf "$TMP"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*"
    [ -f "$TMP/daemon.log" ] && sed 's/^/  sidecored: /' "$TMP/daemon.log" | tail -n 40
    exit 1
}

# start_daemon LOGNAME ARGS...: starts sidecored, waits (10 s max) for
# "sidecored: ready" in its log.
start_daemon() {
    local log=$1; shift
    # Emptied here, not by the redirection: the child may open it after the
    # first grep below, which then saw the last daemon's "ready".
    : >"$TMP/daemon.log"
    "$SCD" "$@" >"$TMP/$log.out" 2>"$TMP/daemon.log" &
    PID=$!
    local _
    for _ in $(seq 100); do
        grep -q "sidecored: ready" "$TMP/daemon.log" && return 0
        kill -0 "$PID" 2>/dev/null || fail "sidecored exited at start-up"
        sleep 0.1
    done
    fail "sidecored did not log 'sidecored: ready' within 10 s"
}

# stop_daemon SOCKET...: SIGTERM, then status 0 within 10 s and no sockets
# left, nor crash record files next to them (no frontend runs packed rings).
stop_daemon() {
    kill -TERM "$PID"
    local _ rc=0
    for _ in $(seq 100); do
        kill -0 "$PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$PID" 2>/dev/null && fail "sidecored still running 10 s after SIGTERM"
    wait "$PID" || rc=$?
    PID=
    [ "$rc" -eq 0 ] || fail "sidecored exited with status $rc after SIGTERM"
    local s
    for s in "$@"; do
        [ ! -e "$s" ] || fail "sidecored left $s behind"
        [ -z "$(find "$(dirname "$s")" -maxdepth 1 -name '*-rings')" ] ||
            fail "sidecored left crash record files in $(dirname "$s")"
    done
    grep -q "sidecored: stopped" "$TMP/daemon.log" || fail "no 'stopped' line in the log"
}

# ctl ARGS...: sidecorectl against the current daemon, bounded; must succeed.
ctl() {
    timeout 30 "$CTL" -s "$RPC" "$@" >"$TMP/ctl.out" 2>"$TMP/ctl.err" ||
        fail "sidecorectl $* failed: $(cat "$TMP/ctl.err")"
}

# ctl_fails PATTERN ARGS...: sidecorectl must fail and print PATTERN.
ctl_fails() {
    local pat=$1; shift
    local rc=0
    timeout 30 "$CTL" -s "$RPC" "$@" >"$TMP/ctl.out" 2>"$TMP/ctl.err" || rc=$?
    [ "$rc" -ne 0 ] || fail "sidecorectl $* succeeded, expected an error"
    [ "$rc" -ne 124 ] || fail "sidecorectl $* timed out"
    grep -qF -- "$pat" "$TMP/ctl.err" ||
        fail "sidecorectl $* said '$(cat "$TMP/ctl.err")', expected '$pat'"
    echo "ok: sidecorectl $* -> $(cat "$TMP/ctl.err")"
    kill -0 "$PID" 2>/dev/null || fail "sidecored died after: sidecorectl $*"
}

jget() { # jget FILE EXPR: a value from a JSON file (jq is not assumed)
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# ---- 1. runtime devices through the RPC -------------------------------------
RUN=$TMP/run1
RPC=$RUN/sidecored.sock
ctl_fails_nodaemon() {
    local rc=0
    "$CTL" -s "$RPC" list >/dev/null 2>"$TMP/ctl.err" || rc=$?
    [ "$rc" -ne 0 ] || fail "sidecorectl succeeded without a daemon"
    grep -qF "cannot connect to $RPC: No such file or directory (is sidecored running?)" \
        "$TMP/ctl.err" || fail "no clear message without a daemon: $(cat "$TMP/ctl.err")"
    echo "ok: no daemon -> $(cat "$TMP/ctl.err")"
}
ctl_fails_nodaemon
start_daemon run1 --no-default --runtime-dir "$RUN" --sidecores 2 --idle-us 100 \
    --prefault-threads 2
[ -S "$RPC" ] || fail "no RPC socket at $RPC"
ctl info
grep -q "2 sidecore(s) in hybrid mode, 0 device(s)" "$TMP/ctl.out" || fail "info: $(cat "$TMP/ctl.out")"

ctl create-blk nul1 --socket "$RUN/nul1.sock" --backend null --size 2G --queues 4
[ -S "$RUN/nul1.sock" ] || fail "create-blk did not create $RUN/nul1.sock"
grep -qF -- "-chardev socket,id=c0,path=$RUN/nul1.sock,reconnect=1 -device vhost-user-blk-pci,chardev=c0,num-queues=4" \
    "$TMP/ctl.out" || fail "create-blk prints no QEMU line: $(cat "$TMP/ctl.out")"
truncate -s 64M "$TMP/img1.img" # read-only backends do not create files
ctl create-blk img1 --socket "$RUN/img1.sock" --backend file --path "$TMP/img1.img" --size 64M \
    --read-only
ctl create-blk img2 --backend file --path "$TMP/img2.img" --size 32M --queues 2
[ -S "$RUN/img2.sock" ] || fail "a device without --socket should listen on $RUN/img2.sock"
[ "$(stat -c %s "$TMP/img2.img")" -eq $((32 << 20)) ] || fail "img2.img was not created with 32 MiB"
# QEMU as another user of the daemon's group (libvirt's) must be able to
# connect: the socket was 0755 after the usual umask, root's alone.
[ "$(stat -c %a "$RUN/img2.sock")" = 660 ] || fail "img2.sock has mode $(stat -c %a "$RUN/img2.sock"), expected 660"

ctl list
cat "$TMP/ctl.out"
grep -Eq "^nul1 +null +2G +4 +no +server +waiting +$RUN/nul1.sock" "$TMP/ctl.out" || fail "list: nul1"
grep -Eq "^img1 +file +64M +1 +yes " "$TMP/ctl.out" || fail "list: img1 is not read-only"
ctl --json list
cp "$TMP/ctl.out" "$TMP/list.json"
[ "$(jget "$TMP/list.json" 'len(d)')" = 3 ] || fail "--json list has not 3 devices"
[ "$(jget "$TMP/list.json" 'd[0]["queues"]')" = 4 ] || fail "--json list: nul1 queues"
[ "$(jget "$TMP/list.json" 'd[1]["read_only"]')" = True ] || fail "--json list: img1 read_only"
[ "$(jget "$TMP/list.json" 'd[1]["backend"]["path"]')" = "$TMP/img1.img" ] || fail "img1 path"

if [ -x "$BENCH" ]; then
    timeout 120 "$BENCH" run --socket "$RUN/nul1.sock" --workload randread --queues 4 --qd 8 \
        --ios 4000 --quiet >"$TMP/bench.out" 2>&1 || fail "bench on nul1: $(cat "$TMP/bench.out")"
    ctl --json stats nul1
    cp "$TMP/ctl.out" "$TMP/stats.json"
    reqs=$(jget "$TMP/stats.json" 'sum(q["requests"] for q in d["queues"])')
    [ "$reqs" -ge 4000 ] || fail "stats count $reqs requests on nul1 after 4000 I/Os"
    echo "ok: stats count $reqs requests after the bench"
    grep -q "nul1: pre-faulted [0-9]* MiB of guest memory with 2 thread(s)" "$TMP/daemon.log" ||
        fail "--prefault-threads 2: no pre-fault of the bench's guest memory in the log"
    grep -o "nul1: pre-faulted.*" "$TMP/daemon.log" | head -n 1
    ctl sidecores
    cat "$TMP/ctl.out"
    sreqs=$(awk 'NR > 1 {s += $10} END {print s}' "$TMP/ctl.out")
    [ "$sreqs" -ge 4000 ] || fail "sidecores count $sreqs requests"
    # A bench whose device is deleted under it stops at once (it ran on
    # until its 30 s request timeout).
    ctl create-blk gone --backend null --size 64M
    timeout 20 "$BENCH" run --socket "$RUN/gone.sock" --workload randread --time 15 --quiet \
        >"$TMP/gone.out" 2>&1 &
    gone_pid=$!
    for _ in $(seq 100); do
        ctl --json stats gone
        [ "$(jget "$TMP/ctl.out" 'sum(q["requests"] for q in d["queues"])')" -gt 0 ] && break
        sleep 0.1
    done
    ctl delete gone
    rc=0
    wait "$gone_pid" || rc=$?
    # 124: still waiting at 20 s, past its 15 s run, for answers that never come.
    [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "bench on a deleted device exited $rc"
    grep -q "the backend closed the vhost-user connection" "$TMP/gone.out" ||
        fail "bench on a deleted device: $(cat "$TMP/gone.out")"
else
    echo "note: $BENCH not built; skipping the I/O part"
fi
ctl stats nul1
grep -q "nul1.q3" "$TMP/ctl.out" || fail "stats nul1 shows no queue 3"
ctl stats
grep -q "^img2: waiting" "$TMP/ctl.out" || fail "stats (all) misses img2"
ctl --json stats img1
[ "$(jget "$TMP/ctl.out" 'd["errors"]["ioerr"]')" = 0 ] || fail "stats img1 errors"
ctl top --interval 100 --count 2
grep -c "^nul1.q" "$TMP/ctl.out" | grep -qx 8 || fail "top did not print 2 samples of 4 queues"
ctl --json top --interval 100 --count 1
[ "$(jget "$TMP/ctl.out" 'len(d["sidecores"])')" = 2 ] || fail "top --json sidecores"

# Bad requests: clear errors, the daemon stays up.
ctl_fails "device nul1 already exists" create-blk nul1 --backend null
ctl_fails "socket $RUN/nul1.sock is already used by device nul1" \
    create-blk other --socket "$RUN/nul1.sock"
ctl_fails "params.backend.path: missing" create-blk x --backend file
ctl_fails 'params.backend.size: expected a size like 1G, 512M or a byte count (below 8 EiB), got "12X"' \
    create-blk x --size 12X
# Past an off_t: was accepted, listed as 0B and -1024 in JSON.
ctl_fails 'params.backend.size: expected a size like 1G, 512M or a byte count (below 8 EiB)' \
    create-blk x --size 18014398509481983K
ctl_fails 'params.backend.type: expected "null", "file" or "remote", got "rbd"' create-blk x --backend rbd
ctl_fails "params.queues: expected an integer from 1 to 64, got 65" create-blk x --queues 65
ctl_fails "params.name: expected a name" create-blk "bad/name"
ctl_fails "it is a directory (give an image file or a block device)" \
    create-blk x --backend file --path "$TMP"
ctl_fails "cannot open the file backend $TMP/nodir/x.img" \
    create-blk x --backend file --path "$TMP/nodir/x.img" --size 1M
ctl_fails "backend path $TMP/img1.img is already used by device img1" \
    create-blk x --backend file --path "$TMP/img1.img"
# A create that fails leaves nothing it made behind: no crash record file
# (a bad socket left x.blk-rings), no image (a bad socket left the image the
# file backend had just created; test_blk_file checks the backend's own
# failures).
ctl_fails "socket $RPC is the daemon's RPC socket" create-blk x --socket "$RPC"
ctl_fails "is the daemon's RPC socket" create-blk sidecored --backend null
# The last of two values won silently, hiding a typo.
ctl_fails "create-blk: --size given twice" create-blk twice --size 1M --size 2M
ctl_fails "is the daemon's RPC socket" create-blk x --socket "$RPC" --client
ctl_fails 'top: --interval expects a number from 10 to 3600000 (ms), got "5"' top --interval 5
: >"$TMP/notasock"
ctl_fails "socket path exists and is not a socket" create-blk x --socket "$TMP/notasock"
ctl_fails "socket path exists and is not a socket" create-blk x --socket "$TMP/notasock" \
    --backend file --path "$TMP/new.img" --size 1M
[ ! -e "$TMP/new.img" ] || fail "a failed create left the image $TMP/new.img it created"
# Nor an image it extended longer (1 MiB was left at 1 GiB).
truncate -s 1M "$TMP/old.img"
ctl_fails "socket path exists and is not a socket" create-blk x --socket "$TMP/notasock" \
    --backend file --path "$TMP/old.img" --size 1G
[ "$(stat -c %s "$TMP/old.img")" = 1048576 ] || fail "a failed create extended $TMP/old.img"
[ ! -e "$RUN/x.blk-rings" ] || fail "a failed create left $RUN/x.blk-rings"
[ ! -e "$RUN/sidecored.blk-rings" ] || fail "a failed create left $RUN/sidecored.blk-rings"
# A device's crash record file is not another device's image: an image at
# the path where device v keeps its records is neither resized nor removed
# by v (v's create truncated it to 528384 bytes, its delete unlinked it).
head -c 4M /dev/urandom >"$TMP/rings-img.ref"
cp "$TMP/rings-img.ref" "$RUN/v.blk-rings"
ctl create-blk w --backend file --path "$RUN/v.blk-rings"
ctl create-blk v --backend null --size 1M
grep -q "cannot lock (is it a disk image in use?) the ring state file $RUN/v.blk-rings" \
    "$TMP/daemon.log" || fail "v took w's image $RUN/v.blk-rings as its crash record file"
ctl delete v
cmp -s "$TMP/rings-img.ref" "$RUN/v.blk-rings" || fail "v changed or removed w's image"
ctl delete w
# A file at that path that is no image in use and holds no records (an
# image put there, not served now) is left alone too: it was truncated at
# the create and removed at the delete.
ctl create-blk v --backend null --size 1M
grep -q "v.blk-rings holds something else than crash records" "$TMP/daemon.log" ||
    fail "v took a file that holds no records as its crash record file"
ctl delete v
cmp -s "$TMP/rings-img.ref" "$RUN/v.blk-rings" || fail "v changed or removed a file at its record path"
rm -f "$RUN/v.blk-rings"
# And the other way: a live crash record file is not taken as an image.
ctl create-blk v --backend null --size 1M
ctl_fails "holds a lock on the file that excludes any other use" \
    create-blk w --backend file --path "$RUN/v.blk-rings"
ctl delete v
# Nor the daemon's lock file (the guest wrote into it; SIGTERM removed it).
ctl_fails "a daemon's lock file" create-blk w --backend file --path "$RUN/sidecored.lock"
# Two devices on one file need shared, however the path is spelt (a
# symlink, a hard link or dir//img passed the path compare).
ln -s "$TMP/img2.img" "$TMP/img2-alias.img"
ctl_fails "lets no one else write it" create-blk w --backend file --path "$TMP/img2-alias.img"
ctl_fails "lets no one else write it" create-blk w --backend file --path "$TMP//img2.img"
# Relative paths: sidecorectl makes them absolute from its own directory;
# the daemon refuses them from other clients (they named files in its own
# working directory).
ctl_abs=$(realpath "$CTL")
(cd "$TMP" && timeout 15 "$ctl_abs" -s "$RPC" create-blk rel --backend file \
    --path rel.img --size 1M --socket rel.sock) >"$TMP/ctl.out" 2>&1 ||
    fail "create-blk with relative paths: $(cat "$TMP/ctl.out")"
[ -S "$TMP/rel.sock" ] && [ -f "$TMP/rel.img" ] || fail "relative paths were not taken from sidecorectl's directory"
ctl delete rel
echo '{"jsonrpc":"2.0","id":1,"method":"device_create","params":{"name":"rel","backend":{"type":"file","path":"rel.img","size":"1M"}}}' |
    timeout 15 socat -t 5 - "UNIX-CONNECT:$RPC" >"$TMP/raw.out" 2>&1
grep -q 'params.backend.path: expected an absolute path' "$TMP/raw.out" ||
    fail "a relative path over RPC: $(cat "$TMP/raw.out")"
# A file longer than the size asked for is served whole, and listed so (it
# was listed with the size asked for; without a size, as 0B).
truncate -s 10M "$TMP/big.img"
ctl create-blk big --backend file --path "$TMP/big.img" --size 1M
truncate -s 3M "$TMP/own.img"
ctl create-blk own --backend file --path "$TMP/own.img"
ctl --json list
[ "$(jget "$TMP/ctl.out" '[x["backend"]["size"] for x in d if x["name"] == "big"][0]')" = $((10 << 20)) ] ||
    fail "big (a 10M file, size 1M) is not listed with 10M"
[ "$(jget "$TMP/ctl.out" '[x["backend"]["size"] for x in d if x["name"] == "own"][0]')" = $((3 << 20)) ] ||
    fail "own (a 3M file without a size) is not listed with 3M"
ctl delete big
ctl delete own
ctl_fails "no device named ghost" delete ghost
ctl_fails "no device named ghost" stats ghost
# A name of the other kind says which commands take it.
ctl switch-create swk
ctl net-create nk switch=swk
ctl create-blk bk
ctl_fails "no device named nk (nk is a net device: net_delete, net_stats (sidecorectl net-delete" delete nk
ctl_fails "no device named nk (nk is a net device" stats nk
ctl_fails "no net device named bk (bk is a block device: device_delete, device_stats (sidecorectl delete, stats))" net-delete bk
ctl_fails "no net device named bk (bk is a block device" net-stats bk
ctl info
grep -q "device(s) (4 blk, 1 net)" "$TMP/ctl.out" || fail "info counts: $(cat "$TMP/ctl.out")"
ctl_fails "net-create: switch given twice" net-create nk2 switch=swk switch=swk
# Another spelling of a socket is the same socket (a client device would
# have connected to the daemon itself).
ctl_fails "is already used by net device nk" net-create nk2 switch=swk client=on "socket=$RUN/./nk.sock"
ctl_fails "is the daemon's RPC socket" create-blk bk2 --client --socket "$RUN//sidecored.sock"
ctl_fails "its directory does not exist" create-blk bk2 --socket "$TMP/no/such/dir/bk2.sock"
# A client device on a path in a missing directory was created and waited
# silently forever: refused as in server mode. One whose frontend is not
# there yet logs its first failure and each change of reason (not every
# retry), and list shows the reason until a connect works.
ctl_fails "its directory does not exist" create-blk bk2 --client --socket "$TMP/no/such/dir/bk2.sock"
ctl create-blk ck --client --socket "$TMP/ck.sock" --size 1M
ctl list
grep -qF "cannot connect to $TMP/ck.sock: No such file or directory; is the frontend started" \
    "$TMP/ctl.out" || fail "list shows no connect error for ck: $(cat "$TMP/ctl.out")"
sleep 1 # a few retries (50 ms, doubling)
[ "$(grep -c "ck: cannot connect to $TMP/ck.sock: No such file" "$TMP/daemon.log")" = 1 ] ||
    fail "ck's connect failure is not logged exactly once"
python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$TMP/ck.sock"
for _ in $(seq 100); do
    grep -q "ck: cannot connect to $TMP/ck.sock: Connection refused" "$TMP/daemon.log" && break
    sleep 0.05
done
grep -q "ck: cannot connect to $TMP/ck.sock: Connection refused" "$TMP/daemon.log" ||
    fail "ck's new connect failure (a socket nobody listens on) is not logged"
sleep 5 | timeout 10 socat "UNIX-LISTEN:$TMP/ck.sock,unlink-early" - >/dev/null &
CK=$!
for _ in $(seq 100); do
    ctl --json list
    [ "$(jget "$TMP/ctl.out" '[x["status"] + "/" + x["why"] for x in d if x["name"] == "ck"][0]')" = \
        connected/ ] && break
    sleep 0.05
done
[ "$(jget "$TMP/ctl.out" '[x["status"] + "/" + x["why"] for x in d if x["name"] == "ck"][0]')" = \
    connected/ ] || fail "ck once connected: $(cat "$TMP/ctl.out")"
ctl delete ck
kill "$CK" 2>/dev/null
wait "$CK" 2>/dev/null
ctl_fails "contains a control character" create-blk bk2 --socket "$TMP/a
b.sock"
# QEMU reads a comma in an option value as ",,": the printed line says so.
ctl create-blk bk2 --socket "$TMP/a,b.sock"
grep -qF "path=$TMP/a,,b.sock" "$TMP/ctl.out" || fail "the QEMU line for a,b.sock: $(cat "$TMP/ctl.out")"
ctl delete bk2
# With every RPC slot busy, sidecorectl prints the daemon's refusal, not
# the broken pipe its request met.
timeout 40 python3 - "$RPC" >"$TMP/busy.out" <<'PY' &
import socket, sys, time
ss = []
for i in range(64):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    s.send(b'{"jsonrpc":')
    ss.append(s)
print("busy", flush=True)
end = time.time() + 30
while time.time() < end:
    for s in ss:
        try:
            s.send(b' ')
        except OSError:
            pass
    time.sleep(0.3)
PY
busy=$!
# Up to 20 s for all 64 to connect (a fixed 2 s was too short under load).
for _ in $(seq 200); do grep -q busy "$TMP/busy.out" && break; sleep 0.1; done
grep -q busy "$TMP/busy.out" || fail "64 RPC clients did not connect within 20 s"
for _ in 1 2 3; do
    ctl_fails "too many RPC clients" info
done
kill "$busy" 2>/dev/null; wait "$busy" 2>/dev/null
# The text views show the counters the README names (they were only in
# --json): a filter's hits per rule, a NIC's announced and steered_flows.
ctl port-add swk snk type=sink
ctl interpose snk '[{"type":"filter","rules":[{"action":"deny","proto":"udp","dport":9}]}]'
ctl port-add swk gen type=sink source_size=128 source_count=5
for _ in $(seq 50); do
    ctl switch-stats swk
    grep -q "^      rule 1: action=deny proto=udp dport=9 hits=5$" "$TMP/ctl.out" && break
    sleep 0.1
done
grep -q "^      rule 1: action=deny proto=udp dport=9 hits=5$" "$TMP/ctl.out" ||
    fail "switch-stats shows no hits of the filter's rule: $(cat "$TMP/ctl.out")"
grep -Eq "^    stage 1 filter: default=allow default_hits=[0-9]+$" "$TMP/ctl.out" ||
    fail "switch-stats shows no filter stage: $(cat "$TMP/ctl.out")"
ctl net-stats nk
grep -q "^  announced=0 steered_flows=0 ctrl_ok=0 ctrl_err=0$" "$TMP/ctl.out" ||
    fail "net-stats shows no announced/steered_flows: $(cat "$TMP/ctl.out")"
ctl port-delete swk gen
ctl port-delete swk snk
ctl net-delete nk
ctl delete bk
ctl switch-delete swk
ctl_fails "unknown command" frobnicate
ctl list
grep -q "^x " "$TMP/ctl.out" && fail "a failed create left device x behind"

# A second daemon may not take over a live RPC socket.
rc=0
timeout 20 "$SCD" --no-default --runtime-dir "$RUN" >/dev/null 2>"$TMP/second.log" || rc=$?
[ "$rc" -ne 0 ] || fail "a second sidecored on $RPC started"
grep -q "in use" "$TMP/second.log" || grep -q "runs in this runtime directory" "$TMP/second.log" ||
    fail "second daemon: $(cat "$TMP/second.log")"
ctl info
# Nor may one share its runtime directory, even with an RPC socket of its
# own: it would replace the first one's device sockets and open (and
# resize) the crash record files the first one has mapped (a second daemon
# whose img1 had fewer queues shrank img1.blk-rings: the first died of
# SIGBUS). Refused before it touches anything there.
rings_before=$(stat -c %s "$RUN/img1.blk-rings")
sock_before=$(stat -c %i "$RUN/img1.sock")
rc=0
timeout 20 "$SCD" --no-default --runtime-dir "$RUN" --rpc "$TMP/other.rpc" \
    --blk "name=img1,socket=$RUN/img1.sock,backend=null,size=64M,queues=1" \
    >/dev/null 2>"$TMP/second.log" || rc=$?
[ "$rc" -ne 0 ] || fail "a second sidecored in the runtime directory $RUN started"
grep -q "another sidecored (pid $PID) runs in this runtime directory" "$TMP/second.log" ||
    fail "second daemon in $RUN: $(cat "$TMP/second.log")"
[ "$(stat -c %s "$RUN/img1.blk-rings")" = "$rings_before" ] || fail "the refused daemon resized img1.blk-rings"
[ "$(stat -c %i "$RUN/img1.sock")" = "$sock_before" ] || fail "the refused daemon replaced img1.sock"
# With a runtime directory of its own, it may still not take a live
# device socket of the first.
rc=0
timeout 20 "$SCD" --no-default --runtime-dir "$TMP/other" --rpc "$TMP/other.rpc" \
    --blk "name=x,socket=$RUN/img1.sock,backend=null,size=64M" >/dev/null 2>"$TMP/second.log" || rc=$?
[ "$rc" -ne 0 ] || fail "a second sidecored took the live socket $RUN/img1.sock"
grep -q "in use by a running process" "$TMP/second.log" ||
    fail "second daemon on img1.sock: $(cat "$TMP/second.log")"
[ "$(stat -c %i "$RUN/img1.sock")" = "$sock_before" ] || fail "the refused daemon replaced img1.sock"
[ ! -e "$TMP/other/sidecored.lock" ] || fail "the refused daemon left its lock file"
echo "ok: a second daemon takes neither the runtime directory nor a live socket"

# Images are locked as QEMU locks them (OFD byte locks), so sidecored,
# QEMU and qemu-storage-daemon see each other: while img2 is served
# writable, a second daemon may not serve it and qemu-io may not write it
# (it may still read it, sharing writes, as with an image QEMU runs); while
# qemu-storage-daemon exports img3 writable, sidecored serves it only with
# shared set.
rc=0
timeout 20 "$SCD" --no-default --runtime-dir "$TMP/other" --rpc "$TMP/other.rpc" \
    --blk "name=y,socket=$TMP/y.sock,backend=file,path=$TMP/img2.img" >/dev/null \
    2>"$TMP/second.log" || rc=$?
[ "$rc" -ne 0 ] || fail "a second sidecored served $TMP/img2.img while the first serves it"
grep -q "lets no one else write it" "$TMP/second.log" ||
    fail "second daemon on img2.img: $(cat "$TMP/second.log")"
rc=0
timeout 20 qemu-io -f raw -c "write 0 512" "$TMP/img2.img" >"$TMP/qio.out" 2>&1 || rc=$?
[ "$rc" -ne 0 ] || fail "qemu-io wrote $TMP/img2.img while sidecored serves it"
grep -q 'Failed to get "write" lock' "$TMP/qio.out" || fail "qemu-io on img2.img: $(cat "$TMP/qio.out")"
timeout 20 qemu-io -r -f raw -c "read 0 512" "$TMP/img2.img" >"$TMP/qio.out" 2>&1 ||
    fail "qemu-io -r could not read img2.img: $(cat "$TMP/qio.out")"
truncate -s 16M "$TMP/img3.img"
timeout 60 qemu-storage-daemon \
    --blockdev "driver=file,node-name=n3,filename=$TMP/img3.img" \
    --export "type=vhost-user-blk,id=e3,node-name=n3,addr.type=unix,addr.path=$TMP/qsd3.sock,writable=on" \
    >"$TMP/qsd3.log" 2>&1 &
QSD_PID=$!
for _ in $(seq 100); do [ -S "$TMP/qsd3.sock" ] && break; sleep 0.1; done
[ -S "$TMP/qsd3.sock" ] || fail "qemu-storage-daemon did not come up: $(cat "$TMP/qsd3.log")"
ctl_fails "another process or device writes the file" create-blk img3 --backend file --path "$TMP/img3.img"
ctl create-blk img3 --backend file --path "$TMP/img3.img" --shared
ctl delete img3
kill "$QSD_PID"
wait "$QSD_PID" 2>/dev/null
QSD_PID=
echo "ok: images are locked against other daemons, qemu-io and qemu-storage-daemon"

ctl delete img2
[ ! -e "$RUN/img2.sock" ] || fail "delete left $RUN/img2.sock"
[ ! -e "$RUN/img2.blk-rings" ] || fail "delete left the crash record file $RUN/img2.blk-rings"
ctl --json list
[ "$(jget "$TMP/ctl.out" 'len(d)')" = 2 ] || fail "delete did not remove img2"
stop_daemon "$RPC" "$RUN/nul1.sock" "$RUN/img1.sock"
echo "ok: runtime devices"

# ---- 2. --config FILE --------------------------------------------------------
RUN=$TMP/run2
RPC=$TMP/ctl2.sock
cat >"$TMP/good.json" <<EOF
{"runtime_dir": "$RUN", "rpc_socket": "$RPC", "log_level": "info",
 "sidecores": {"count": 1, "idle_us": 50, "mode": "hybrid"},
 "devices": [
   {"name": "cnull", "type": "blk", "queues": 3, "backend": {"type": "null", "size": "512M"}},
   {"name": "cfile", "type": "blk", "socket": "$RUN/cf.sock", "read_only": true,
    "backend": {"type": "file", "path": "$TMP/cfile.img", "size": "16M"}}]}
EOF
truncate -s 16M "$TMP/cfile.img"
start_daemon run2 --config "$TMP/good.json"
ctl --json list
[ "$(jget "$TMP/ctl.out" '[x["name"] for x in d]')" = "['cnull', 'cfile']" ] ||
    fail "config devices: $(cat "$TMP/ctl.out")"
[ "$(jget "$TMP/ctl.out" 'd[0]["socket"]')" = "$RUN/cnull.sock" ] || fail "cnull socket"
grep -q "num-queues=3" "$TMP/run2.out" || fail "no QEMU line for cnull"
stop_daemon "$RPC" "$RUN/cnull.sock" "$RUN/cf.sock"

cat >"$TMP/bad.json" <<EOF
{"devices": [{"name": "a", "backend": {"type": "null"}},
             {"name": "b", "backend": {"type": "null", "size": "x"}}]}
EOF
rc=0
timeout 20 "$SCD" --config "$TMP/bad.json" --runtime-dir "$RUN" >/dev/null 2>"$TMP/bad.log" || rc=$?
[ "$rc" -ne 0 ] || fail "sidecored accepted a bad config"
grep -qF 'devices[1].backend.size: expected a size like 1G, 512M or a byte count (below 8 EiB), got "x"' \
    "$TMP/bad.log" || fail "bad config message: $(cat "$TMP/bad.log")"
rc=0
timeout 20 "$SCD" --no-default --runtime-dir "$RUN" --blk "name=z,queues=lots" >/dev/null \
    2>"$TMP/bad.log" || rc=$?
[ "$rc" -ne 0 ] || fail "sidecored accepted a bad --blk"
grep -qF -- '--blk queues: expected an integer from 1 to 64, got "lots"' "$TMP/bad.log" ||
    fail "bad --blk message: $(cat "$TMP/bad.log")"
rc=0
timeout 20 "$SCD" --config "$TMP" --runtime-dir "$RUN" >/dev/null 2>"$TMP/bad.log" || rc=$?
[ "$rc" -ne 0 ] || fail "sidecored accepted a directory as its config"
grep -qF "$TMP: is a directory (give a JSON config file)" "$TMP/bad.log" ||
    fail "--config DIR: $(cat "$TMP/bad.log")"
rc=0
timeout 20 "$SCD" --no-default --runtime-dir "$RUN" --cpus 1,,0 >/dev/null 2>"$TMP/bad.log" || rc=$?
[ "$rc" -ne 0 ] || fail "sidecored accepted --cpus 1,,0"
# Two sidecores on one CPU work, with a warning (there was none).
start_daemon run2b --no-default --runtime-dir "$RUN" --sidecores 2 --cpus 0,0
grep -q "sidecores 0 and 1 are both pinned to CPU 0" "$TMP/daemon.log" ||
    fail "no warning for two sidecores on CPU 0"
stop_daemon "$RPC"
# A device named sidecored would listen on the default RPC socket: refused
# as such (the RPC socket was refused instead, "in use by a running
# process (another sidecored?)", the process being this one).
rc=0
timeout 20 "$SCD" --no-default --runtime-dir "$RUN" --blk "name=sidecored,backend=null" \
    >/dev/null 2>"$TMP/bad.log" || rc=$?
[ "$rc" -ne 0 ] || fail "sidecored served a device on its own RPC socket"
grep -qF "device sidecored: socket $RUN/sidecored.sock is the daemon's RPC socket" "$TMP/bad.log" ||
    fail "device on the RPC socket: $(cat "$TMP/bad.log")"
# A runtime directory others may write is refused (another user who made
# /tmp/sidecore-$UID first could replace the device sockets), as is one of
# another user; a symlink at sidecored.lock is never followed (a root
# daemon truncated the file it pointed to).
mkdir -p "$TMP/open" "$TMP/foreign"
chmod 0777 "$TMP/open"
chown 65534 "$TMP/foreign"
for d in open foreign; do
    rc=0
    timeout 20 "$SCD" --no-default --runtime-dir "$TMP/$d" >/dev/null 2>"$TMP/bad.log" || rc=$?
    [ "$rc" -ne 0 ] || fail "sidecored accepted the runtime dir $d"
    grep -qE "the runtime directory $TMP/$d (is writable by other users|belongs to uid 65534)" \
        "$TMP/bad.log" || fail "runtime dir $d: $(cat "$TMP/bad.log")"
    [ ! -e "$TMP/$d/sidecored.lock" ] || fail "a lock file was made in the refused dir $d"
done
mkdir -p "$TMP/lnk"
echo precious >"$TMP/victim"
ln -s "$TMP/victim" "$TMP/lnk/sidecored.lock"
rc=0
timeout 20 "$SCD" --no-default --runtime-dir "$TMP/lnk" >/dev/null 2>"$TMP/bad.log" || rc=$?
[ "$rc" -ne 0 ] || fail "sidecored locked through a symlink"
grep -q "sidecored.lock: it is a symbolic link" "$TMP/bad.log" || fail "lock symlink: $(cat "$TMP/bad.log")"
[ "$(cat "$TMP/victim")" = precious ] || fail "the lock symlink's target was changed"
# A full runtime file system: the crash record of a packed ring was a
# sparse file whose first store raised SIGBUS and killed the daemon. The
# ring now works without a record, and the log says why.
mkdir -p "$TMP/full"
mount -t tmpfs -o size=1m,mode=0755 sc-control-full "$TMP/full" || fail "cannot mount a tmpfs"
start_daemon runfull --no-default --runtime-dir "$TMP/full" --blk name=f,backend=null,queues=1
dd if=/dev/zero of="$TMP/full/fill" bs=4k 2>/dev/null
timeout 15 "$CTL" -s "$TMP/full/sidecored.sock" create-blk g --backend null \
    --socket "$TMP/full/g.sock" >/dev/null || fail "create-blk on a full runtime fs"
for d in f g; do
    timeout 60 "$BENCH" run --socket "$TMP/full/$d.sock" --packed --workload randread --qd 4 \
        --ios 200 --quiet >"$TMP/bench.out" 2>&1 || fail "packed ring $d: $(cat "$TMP/bench.out")"
    kill -0 "$PID" 2>/dev/null || fail "sidecored died on a full runtime file system"
done
grep -q "cannot allocate the ring state file $TMP/full/g.blk-rings" "$TMP/daemon.log" ||
    fail "no word about g's record"
rm -f "$TMP/full/fill"
stop_daemon "$TMP/full/sidecored.sock"
umount "$TMP/full"
echo "ok: --config and bad start-up input"

# ---- 3. embedded default -----------------------------------------------------
RUN=$TMP/run3
RPC=$RUN/sidecored.sock
start_daemon run3 --runtime-dir "$RUN"
ctl --json list
[ "$(jget "$TMP/ctl.out" '[(x["name"], x["backend"]["type"], x["backend"]["size"], x["queues"]) for x in d]')" = \
  "[('null0', 'null', 1073741824, 2), ('file0', 'file', 268435456, 2)]" ] ||
    fail "default devices: $(cat "$TMP/ctl.out")"
[ -f "$RUN/file0.img" ] || fail "no $RUN/file0.img"
for dev in null0 file0; do
    grep -qF -- "-chardev socket,id=c0,path=$RUN/$dev.sock,reconnect=1 -device vhost-user-blk-pci,chardev=c0,num-queues=2" \
        "$TMP/run3.out" || fail "no QEMU line for $dev: $(cat "$TMP/run3.out")"
done
grep -q "^qemu-system-x86_64 -M q35,memory-backend=mem .*memory-backend-memfd,id=mem,size=512M,share=on" \
    "$TMP/run3.out" || fail "QEMU line lacks the shared memory backend"
# SIGUSR1/SIGUSR2 are ignored and SIGHUP stops in order (their default
# action killed the daemon and left its sockets and lock file behind).
kill -USR1 "$PID"
kill -USR2 "$PID"
ctl info
grep -q "User defined signal 2 received from pid [0-9]*; sidecored gives it no meaning: ignored" \
    "$TMP/daemon.log" || fail "SIGUSR2 not logged as ignored"
stop_daemon_with() {
    kill "-$1" "$PID"
    shift
    timeout 10 tail --pid="$PID" -f /dev/null || fail "sidecored still running 10 s after the signal"
    local rc=0
    wait "$PID" || rc=$?
    PID=
    [ "$rc" -eq 0 ] || fail "sidecored exited with status $rc"
    local f
    for f in "$@"; do [ ! -e "$f" ] || fail "sidecored left $f behind"; done
}
stop_daemon_with HUP "$RPC" "$RUN/null0.sock" "$RUN/file0.sock" "$RUN/sidecored.lock"
grep -q "Hangup received; shutting down" "$TMP/daemon.log" || fail "no shutdown on SIGHUP"

# ---- 4. a remote device on a loopback iohost ---------------------------------
UDP=${CONTROL_UDP_PORT:-}
for _ in $(seq 100); do
    [ -n "$UDP" ] && break
    p=$((20000 + RANDOM % 20000))
    ss -Hlun "sport = :$p" | grep -q . || UDP=$p
done
[ -n "$UDP" ] || fail "no free UDP port found for the iohost"
IORUN=$TMP/io4
"$SCD" --no-default --runtime-dir "$IORUN" --listen "127.0.0.1:$UDP" \
    --export name=d0,backend=null,size=64M >"$TMP/io4.out" 2>"$TMP/io4.log" &
IOPID=$!
for _ in $(seq 100); do
    grep -q "sidecored: ready" "$TMP/io4.log" && break
    kill -0 "$IOPID" 2>/dev/null || fail "the iohost exited at start-up: $(cat "$TMP/io4.log")"
    sleep 0.1
done
grep -q "sidecored: ready" "$TMP/io4.log" || fail "the iohost did not get ready within 10 s"
RUN=$TMP/run4
RPC=$RUN/sidecored.sock
start_daemon run4 --no-default --runtime-dir "$RUN" \
    --blk "name=r0,backend=remote,server=127.0.0.1:$UDP,export=d0"
# Without a size it has its export's, and list and the start-up QEMU
# comment say so, with the defaults it runs with (they showed the config
# as given: 0B, "0 MiB", mtu 0, failover_ms 0 ...).
grep -q "^# r0: remote backend, 64 MiB, 1 queue(s)$" "$TMP/run4.out" ||
    fail "start-up QEMU comment of r0: $(grep "^# r0" "$TMP/run4.out")"
ctl list
grep -Eq "^r0 +remote +64M +1 " "$TMP/ctl.out" || fail "list: r0 lacks its export's size: $(cat "$TMP/ctl.out")"
ctl --json list
[ "$(jget "$TMP/ctl.out" '[d[0]["backend"][k] for k in ("size", "mtu", "window", "heartbeat_ms", "failover_ms", "timeout_ms")]')" = \
  "[67108864, 1500, 128, 100, 1000, 10000]" ] || fail "--json list: r0's backend: $(cat "$TMP/ctl.out")"
# The text views show what the README says they do (it was only in
# --json): a device's stages in list and their counters in stats, the
# congestion windows in peers, refused sessions and dropped writes in exports.
ctl interpose r0 '[{"type":"meter"},{"type":"qos","iops":100000}]'
if [ -x "$BENCH" ]; then
    timeout 60 "$BENCH" run --socket "$RUN/r0.sock" --workload randread --ios 200 --quiet \
        >"$TMP/bench.out" 2>&1 || fail "bench on r0: $(cat "$TMP/bench.out")"
    ctl stats r0
    grep -Eq "^    latency_us:( [0-9]+-[0-9]+:[0-9]+)+$" "$TMP/ctl.out" ||
        fail "stats r0 shows no latency histogram: $(cat "$TMP/ctl.out")"
fi
ctl stats r0
# Long stage lines fold under their stage (the meter's ran to 150 columns).
sed -n '/^  stage 1/,/^  DEVICE/{/^  DEVICE/!p}' "$TMP/ctl.out" | awk 'length > 100 { bad = 1 } END { exit bad }' ||
    fail "stats r0 has stage lines over 100 columns: $(cat "$TMP/ctl.out")"
sed -n '/^  stage 1 meter:/,/^  stage 2/p' "$TMP/ctl.out" | tr -s ' \n' ' ' |
    grep -Eq "^ stage 1 meter: reads=[0-9]+ writes=0 .* lat_p99_us=[0-9]+ .*stage 2" ||
    fail "stats r0 shows no meter stage: $(cat "$TMP/ctl.out")"
sed -n '/^  stage 2 qos:/,/^  DEVICE/{/^  DEVICE/!p}' "$TMP/ctl.out" | tr -s ' \n' ' ' |
    grep -Eq "^ stage 2 qos: iops=100000 .* deferred=[0-9]+ $" ||
    fail "stats r0 shows no qos stage: $(cat "$TMP/ctl.out")"
ctl list
grep -qF '   stages [{"type":"meter"},{"type":"qos","iops":100000}]' "$TMP/ctl.out" ||
    fail "list shows no stages of r0: $(cat "$TMP/ctl.out")"
ctl peers
grep -Eq "^  export d0: requests=[0-9]+ cwnd_bytes=[0-9]+ cwnd_cuts=[0-9]+( |$)" "$TMP/ctl.out" ||
    fail "peers shows no congestion windows: $(cat "$TMP/ctl.out")"
RPC=$IORUN/sidecored.sock ctl exports
grep -q "^  sessions_refused=0 unknown_export_requests=0 malformed_datagrams=0$" "$TMP/ctl.out" ||
    fail "exports shows no iohost counters: $(cat "$TMP/ctl.out")"
grep -Eq "^  partial_writes_expired=0 writes_dropped_for_memory=0( |$)" "$TMP/ctl.out" ||
    fail "exports shows no export counters: $(cat "$TMP/ctl.out")"
# The backend is the configured one, not the interposition chain around
# it (every export showed "interpose").
RPC=$IORUN/sidecored.sock ctl --json exports
[ "$(jget "$TMP/ctl.out" 'd["exports"][0]["backend"]')" = null ] ||
    fail "--json exports: d0's backend: $(cat "$TMP/ctl.out")"
# A resize's HELLO is an answer from the iohost: the idle device's
# last_rx_ms starts again (it kept counting from the bench's last answer).
sleep 1.1
ctl --json peers
before=$(jget "$TMP/ctl.out" 'd[0]["last_rx_ms"]')
[ "$before" -ge 1000 ] || fail "r0's iohost last answered $before ms ago, after 1.1 s of nothing"
RPC=$IORUN/sidecored.sock ctl export-resize d0 128M
ctl resize r0 128M
ctl --json peers
after=$(jget "$TMP/ctl.out" 'd[0]["last_rx_ms"]')
[ "$after" -lt "$before" ] || fail "after a resize r0's iohost last answered $after ms ago ($before before)"
stop_daemon "$RPC" "$RUN/r0.sock"
kill -TERM "$IOPID"
timeout 10 tail --pid="$IOPID" -f /dev/null || fail "the iohost still runs 10 s after SIGTERM"
wait "$IOPID" || fail "the iohost exited with status $? after SIGTERM"
IOPID=
echo "ok: a remote device's text views"
echo "PASS: control plane"
