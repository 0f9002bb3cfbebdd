#!/usr/bin/env bash
# vRIO block path across network namespaces this test creates: vmhost0 and
# vmhost1 each reach the iohost over a veth pair. sidecored runs as iohost
# (exports on files) and as two vmhosts (remote blk devices); sidecore-bench
# drives the vmhosts' vhost-user sockets (unix sockets ignore namespaces).
#  1. bench --verify through vmhost0 -> iohost on a file; the file holds the
#     bench's sectors at their LBAs; a device whose mtu exceeds the path's
#     still verifies 64K writes.
#  2. encryption: an export with an AES-XTS stage: the guest side verifies,
#     the iohost's file holds no plaintext sector header.
#  3. 5% loss plus reordering (udp_chaos relay in the iohost namespace: this
#     kernel has no sch_netem): every block verified, retransmissions seen.
#  4. the iohost is killed mid-run: a device with a fallback on the same
#     file completes every request, one without fails them with I/O errors,
#     both within the bound (no hang); a device whose guest left before
#     shows idle, not connected; after the restart the iohost serves
#     exactly the file's content (checksums), so every acknowledged write
#     is present, and the error-mode device works again.
# Usage: remote_blk.sh BUILD_DIR
set -u
BUILD=${1:?usage: remote_blk.sh BUILD_DIR}
BENCH=$BUILD/sidecore-bench
SCD=$BUILD/sidecored
CTL=$BUILD/sidecorectl
# shellcheck source=lib/scd_common.sh
. "$(dirname "$0")/lib/scd_common.sh"
DUMP=$BUILD/tests/blk_dump
CHAOS=$BUILD/tests/udp_chaos
for b in "$BENCH" "$SCD" "$CTL" "$DUMP" "$CHAOS"; do
    [ -x "$b" ] || { echo "FAIL: $b not built"; exit 1; }
done
for t in ip jq sha256sum socat timeout; do
    command -v $t >/dev/null || { echo "FAIL: $t not found (scripts/install-deps.sh test)"; exit 1; }
done
[ "$(id -u)" -eq 0 ] || { echo "FAIL: network namespaces need root"; exit 1; }

TMP=$(mktemp -d /tmp/remote-blk.XXXXXX)
NS="vmhost0 vmhost1 iohost"
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null
    done
    for p in "${PIDS[@]}"; do
        timeout 10 tail --pid="$p" -f /dev/null 2>/dev/null || kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    for n in $NS; do
        ip netns del "$n" 2>/dev/null
    done
    rm -rf "$TMP"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*"
    for f in "$TMP"/*.log; do
        [ -f "$f" ] && sed "s|^|  $(basename "$f"): |" "$f" | tail -40
    done
    exit 1
}
. "$(dirname "$0")/lib/bench_common.sh"

# --- hosts ---------------------------------------------------------------
for n in $NS; do
    ip netns del "$n" 2>/dev/null
    ip netns add "$n" || fail "cannot create namespace $n"
    ip -n "$n" link set lo up
done
for i in 0 1; do
    ip link add "rvm$i" type veth peer name "rio$i" || fail "cannot create veth pair $i"
    ip link set "rvm$i" netns "vmhost$i"
    ip link set "rio$i" netns iohost
    ip -n "vmhost$i" addr add "10.77.$i.1/24" dev "rvm$i"
    ip -n iohost addr add "10.77.$i.2/24" dev "rio$i"
    ip -n "vmhost$i" link set "rvm$i" up
    ip -n iohost link set "rio$i" up
done

KEY=$(printf '%064x%064x' 1234567 7654321 | cut -c1-128)
for d in 0 1 2 3 4; do truncate -s 64M "$TMP/img$d"; done

# start_daemon NAME NETNS ARGS...: sidecored in a namespace, up to 10 s to ready.
start_daemon() {
    local name=$1 ns=$2
    shift 2
    ip netns exec "$ns" "$SCD" --no-default --runtime-dir "$TMP/$name" \
        --rpc "$TMP/$name.rpc" --log-level info "$@" >"$TMP/$name.out" 2>"$TMP/$name.log" &
    local pid=$!
    PIDS+=("$pid")
    eval "PID_$name=$pid"
    scd_wait_ready "sidecored $name" "$TMP/$name.log" "$pid"
}
ctl() { local s=$1; shift; timeout 15 "$CTL" -s "$TMP/$s.rpc" --json "$@"; }
peer() { ctl "$1" peers | jq -r --arg d "$2" ".[] | select(.device == \$d) | .$3"; }

IOHOST_ARGS=(--cpus 0 --listen 0.0.0.0:7400
    --export "name=disk0,path=$TMP/img0"
    --export "name=disk2,path=$TMP/img2"
    --export "name=disk3,path=$TMP/img3"
    --export "name=disk4,path=$TMP/img4")
start_daemon io iohost "${IOHOST_ARGS[@]}"
ctl io info | jq -e '.role == "iohost"' >/dev/null || fail "the iohost does not report its role"
# Exports can be added and configured by RPC too: the encrypted one is.
ctl io export-create '{"name":"disk1","backend":{"type":"file","path":"'"$TMP/img1"'"},
    "interpose":[{"type":"meter"},{"type":"crypt","key":"'"$KEY"'"}]}' >/dev/null ||
    fail "export_create over RPC failed"

start_daemon vm0 vmhost0 --cpus 1 \
    --blk "name=r0,socket=$TMP/r0.sock,backend=remote,server=10.77.0.2:7400,export=disk0,queues=2" \
    --blk "name=rl,socket=$TMP/rl.sock,backend=remote,server=10.77.0.2:7401,export=disk2,queues=2,size=64M" \
    --blk "name=re,socket=$TMP/re.sock,backend=remote,server=10.77.0.2:7400,export=disk4,failover_ms=500,timeout_ms=4000" \
    --blk "name=rm,socket=$TMP/rm.sock,backend=remote,server=10.77.0.2:7400,export=disk0,mtu=9000"
start_daemon vm1 vmhost1 --cpus 1 \
    --blk "name=r1,socket=$TMP/r1.sock,backend=remote,server=10.77.1.2:7400,export=disk1" \
    --blk "name=rf,socket=$TMP/rf.sock,backend=remote,server=10.77.1.2:7400,export=disk3,fallback=$TMP/img3,failover_ms=500"
ctl vm0 info | jq -e '.role == "vmhost"' >/dev/null || fail "vmhost0 does not report its role"

# --- 1. verified I/O through the iohost ------------------------------------
bench 0 run --socket "$TMP/r0.sock" --workload mixed --bs 4k --qd 8 --queues 2 --span 8M --ios 8000 --verify
grep -q " 0 mismatches" "$TMP/out" || fail "verify summary missing"
bench 0 run --socket "$TMP/r0.sock" --workload write --bs 4k --qd 4 --queues 1 --span 1M --ios 256 --verify
bench 0 run --socket "$TMP/r0.sock" --workload randwrite --bs 128k --qd 4 --queues 2 --span 8M --ios 500 --verify
check_headers "$TMP/img0" 0 1 8 100 2047
# The bench is gone, so no queue is open and nothing talks to the iohost:
# peers does not claim a state it cannot know, and says when it answered.
[ "$(peer vm0 r0 state)" = idle ] || fail "r0 with no queue open shows $(peer vm0 r0 state), not idle"
[ "$(peer vm0 r0 last_rx_ms)" -ge 0 ] || fail "r0 shows its iohost as never answering"
[ "$(peer vm0 r0 failovers)" = 0 ] || fail "r0 failed over on a clean path"
# An mtu above the path's (9000 over a 1500 veth): the kernel refuses a
# segmented send of 9000-byte datagrams (EMSGSIZE), which was taken as a
# loss until every multi-datagram request timed out (I/O errors; 4K ones
# passed). They now go out one by one, IP-fragmented, and the log says why.
bench 0 run --socket "$TMP/rm.sock" --workload randwrite --bs 64k --qd 4 --span 8M --ios 200 --verify
grep -q "exceed the route's MTU (EMSGSIZE)" "$TMP/vm0.log" || fail "no word about the mtu above the path's"
# An export deleted under its devices: requests fail at once with I/O
# errors and the vmhost says why (the iohost dropped them without a word:
# each waited out its 10 s timeout, and the bench its 120 s bound).
ctl io export-delete disk0 >/dev/null || fail "export-delete disk0"
bench 1 run --socket "$TMP/r0.sock" --workload randread --bs 4k --qd 1 --queues 1 --ios 20
grep -q "device r0 (disk0 on 10.77.0.2:7400) q0: the iohost has no export disk0" "$TMP/vm0.log" ||
    fail "no word about the deleted export, naming the device"
ctl io exports | jq -e '.unknown_export_requests >= 20' >/dev/null || fail "unknown export requests not counted"
# A fallback of another size than the export is not its storage: refused
# (a 1 MiB one for a 64 MiB export took writes past its end after a
# failover, growing the file, acknowledged, lost to the export).
truncate -s 1M "$TMP/small.img"
echo '{"jsonrpc":"2.0","id":1,"method":"device_create","params":{"name":"rs","socket":"'"$TMP"'/rs.sock","backend":{"type":"remote","server":"10.77.0.2:7400","device":"disk2","fallback":{"type":"file","path":"'"$TMP"'/small.img"}}}}' |
    timeout 15 socat -t 5 - "UNIX-CONNECT:$TMP/vm0.rpc" >"$TMP/rs.out" 2>&1
grep -q "the fallback's size differs from the export's size" "$TMP/rs.out" ||
    fail "a 1 MiB fallback for a 64 MiB export: $(cat "$TMP/rs.out")"
[ "$(stat -c %s "$TMP/small.img")" = 1048576 ] || fail "the refused fallback changed size"
# sidecorectl creates remote devices too (only raw RPC could).
ctl vm0 create-blk rc --backend remote --server 10.77.0.2:7400 --export disk2 \
    --socket "$TMP/rc.sock" --failover-ms 500 >/dev/null || fail "create-blk --backend remote"
bench 0 run --socket "$TMP/rc.sock" --workload randwrite --bs 4k --qd 4 --span 1M --ios 200 --verify
ctl vm0 delete rc >/dev/null || fail "delete rc"
# A device on a silent iohost (created anyway when given a size) waits 2 s
# for its HELLO. That wait held the control loop: every other RPC and
# vhost-user socket of the daemon waited with it, and a second create of the
# name was answered only after the first, "already exists". Now the loop
# answers meanwhile: the name is taken by a device being created.
ctl vm0 create-blk rq --backend remote --server 10.77.0.2:7499 --export disk2 --size 64M \
    --socket "$TMP/rq.sock" >"$TMP/rq.out" 2>&1 &
RQ=$!
for _ in $(seq 100); do
    grep -q "device rq: asking the iohost" "$TMP/vm0.log" && break
    sleep 0.02
done
ctl vm0 create-blk rq --backend null --socket "$TMP/rq2.sock" >"$TMP/rq2.out" 2>&1
kill -0 $RQ 2>/dev/null || fail "the control loop did not answer while rq's iohost was silent"
grep -q "being created" "$TMP/rq2.out" || fail "a second rq while one is created: $(cat "$TMP/rq2.out")"
wait $RQ || fail "create of rq on a silent iohost: $(cat "$TMP/rq.out")"
[ "$(peer vm0 rq connected)" = false ] || fail "rq shows a silent iohost as connected"
# A resize asks the iohost for the export's size the same way, off the loop.
ctl vm0 resize rq 96M >"$TMP/rq.out" 2>&1 &
RQ=$!
for _ in $(seq 100); do
    grep -q "device rq: asking the iohost" "$TMP/vm0.log" && break
    sleep 0.02
done
ctl vm0 list >/dev/null || fail "list while rq's resize waits"
kill -0 $RQ 2>/dev/null || fail "the control loop did not answer while rq's resize waited"
wait $RQ && fail "rq grew without its iohost's word"
grep -q "the iohost does not answer" "$TMP/rq.out" || fail "rq's resize: $(cat "$TMP/rq.out")"
ctl vm0 delete rq >/dev/null || fail "delete rq"

# --- 1b. growing a remote disk -----------------------------------------------
# The export grows on the iohost, then its device on the vmhost, with its
# fallback (the export's own file). Remote devices could not be resized.
truncate -s 64M "$TMP/img5"
ctl io export-create '{"name":"disk5","backend":{"type":"file","path":"'"$TMP/img5"'"}}' \
    >/dev/null || fail "export-create disk5"
ctl vm0 create-blk rg --backend remote --server 10.77.0.2:7400 --export disk5 \
    --fallback "$TMP/img5" --socket "$TMP/rg.sock" >/dev/null || fail "create-blk rg"
out=$(ctl vm0 resize rg 96M 2>&1) && fail "rg grew past its export's size"
echo "$out" | grep -q "the export on the iohost is 67108864 bytes" || fail "resize rg first: $out"
out=$(ctl io export-resize disk5 32M 2>&1) && fail "an export shrank"
echo "$out" | grep -q "only growing is supported" || fail "export-resize to 32M: $out"
ctl io export-resize disk5 96M >/dev/null || fail "export-resize disk5 96M"
[ "$(stat -c %s "$TMP/img5")" = $((96 << 20)) ] || fail "img5 did not grow"
ctl io exports | jq -e '.exports[] | select(.name == "disk5") | .size == 100663296' >/dev/null ||
    fail "the export list does not show the new size"
ctl vm0 resize rg 96M >/dev/null || fail "resize rg 96M after its export grew"
ctl vm0 list | jq -e '.[] | select(.name == "rg") | .backend.size == 100663296' >/dev/null ||
    fail "the device list does not show rg's new size: $(ctl vm0 list)"
# Random 64 KiB writes over all 96 MiB: about a third land past the old end.
bench 0 run --socket "$TMP/rg.sock" --workload randwrite --bs 64k --qd 4 --span 96M --ios 300 --verify
ctl vm0 delete rg >/dev/null || fail "delete rg"
ctl io export-delete disk5 >/dev/null || fail "export-delete disk5"
echo "growing: the export and then its device grew from 64 to 96 MiB; writes past the old end verified"

# --- 1c. the vmhost itself stalls ---------------------------------------------
# A vmhost that does not run (stopped, or starved of CPU) sends no heartbeat;
# that time was counted as the iohost's silence, and on resume the requests
# failed with EIO while the iohost answered within milliseconds. Here both
# stall, the vmhost a little longer, so nothing can arrive meanwhile.
ctl vm0 create-blk rp --backend remote --server 10.77.0.2:7400 --export disk2 \
    --socket "$TMP/rp.sock" >/dev/null || fail "create-blk rp"
timeout 120 "$BENCH" run --socket "$TMP/rp.sock" --workload randread --bs 4k --qd 4 --span 8M \
    --time 6 >"$TMP/stall.out" 2>&1 &
STALL_BENCH=$!
for _ in 1 2; do
    sleep 1.5
    kill -STOP "$PID_io" "$PID_vm0"
    sleep 1.5
    kill -CONT "$PID_vm0"
    sleep 0.1
    kill -CONT "$PID_io"
done
wait "$STALL_BENCH" || fail "reads across the vmhost's stalls failed: $(tail -3 "$TMP/stall.out")"
[ "$(peer vm0 rp failovers)" = 0 ] || fail "rp failed over after the vmhost's own stall"
ctl vm0 delete rp >/dev/null || fail "delete rp"
echo "stalls: two 1.5 s stops of the vmhost (and the iohost) cost no I/O error, no failover"

# --- 2. encryption at rest ---------------------------------------------------
bench 0 run --socket "$TMP/r1.sock" --workload write --bs 4k --qd 4 --queues 1 --span 1M --ios 256 --verify
bench 0 run --socket "$TMP/r1.sock" --workload mixed --bs 16k --qd 4 --queues 1 --span 4M --ios 2000 --verify
grep -a -q SCBENCH1 "$TMP/img0" || fail "the plain export holds no bench header (check is blind)"
grep -a -q SCBENCH1 "$TMP/img1" && fail "the encrypted export's file holds plaintext"
[ "$(head -c 1M "$TMP/img1" | tr -d '\0' | wc -c)" -gt 0 ] || fail "nothing was written to img1"
ctl io exports | jq -e '.exports[] | select(.name == "disk1") |
    .interpose[1].encrypted_sectors > 0 and .interpose[1].decrypted_sectors > 0' >/dev/null ||
    fail "the crypt stage shows no work"
ctl io exports | grep -q "$KEY" && fail "the export list shows the crypt key"
echo "encryption: the guest side verified plaintext, img1 holds none"

# --- 3. loss and reordering ------------------------------------------------
ip netns exec iohost "$CHAOS" 10.77.0.2:7401 10.77.0.2:7400 5 10 300 2>"$TMP/chaos.log" &
PIDS+=("$!")
sleep 0.3
bench 0 run --socket "$TMP/rl.sock" --workload mixed --bs 4k --qd 8 --queues 2 --span 8M --ios 4000 --verify
bench 0 run --socket "$TMP/rl.sock" --workload randwrite --bs 64k --qd 4 --queues 1 --span 8M --ios 300 --verify
r=$(peer vm0 rl retransmits)
[ "${r:-0}" -gt 0 ] || fail "no retransmissions through a lossy path (relay not in the way?)"
[ "$(peer vm0 rl failovers)" = 0 ] || fail "the lossy path failed over"
echo "loss and reordering: every block verified, $r retransmission(s)"

# --- 3b. a stop while the iohost is silent ----------------------------------
# The frontend stops the ring (GET_VRING_BASE) with writes held by an
# iohost that stopped answering, on a device that waits 20 s before it
# fails over: the stop was answered after 5 s with none of them completed,
# and they never were (a migrating guest waited for them for good). It is
# now answered once the device ended them itself (its request timeout, 7 s
# here, fails them with EIO).
ctl vm0 create-blk rw --backend remote --server 10.77.0.2:7400 --export disk2 \
    --socket "$TMP/rw.sock" --failover-ms 20000 --timeout-ms 7000 >/dev/null || fail "create-blk rw"
ctl vm0 list | jq -e '.[] | select(.name == "rw") | .backend.timeout_ms == 7000' >/dev/null ||
    fail "rw's timeout_ms: $(ctl vm0 list)"
kill -STOP "$PID_io"
timeout 60 "$BUILD/tests/vu_hostile" "$TMP/rw.sock" held_stop_silent >"$TMP/silent.out" 2>&1
rc=$?
kill -CONT "$PID_io"
cat "$TMP/silent.out"
[ "$rc" -eq 0 ] || fail "the stop left writes a silent iohost held unanswered"
ctl vm0 delete rw >/dev/null || fail "delete rw"

# --- 3c. an export behind a rate limit -------------------------------------------
# Requests its QoS stage held back kept the iohost's sidecore polling (most
# of a CPU for an export limited to 5 IOPS): it now sleeps until the limit
# lets the next one go, so it spends that time asleep rather than polling.
ctl io export-create '{"name":"dq","backend":{"type":"null","size":"16M"},
    "interpose":[{"type":"qos","iops":5,"iops_burst":1}]}' >/dev/null || fail "export-create dq"
ctl vm0 create-blk rq --backend remote --server 10.77.0.2:7400 --export dq \
    --socket "$TMP/rq.sock" >/dev/null || fail "create-blk rq"
ns() { ctl io sidecores | jq "[.[].$1] | add"; }
idle0=$(ns idle_ns) sleep0=$(ns sleep_ns)
bench 0 run --socket "$TMP/rq.sock" --workload randwrite --bs 4k --qd 4 --span 1M --ios 12
idle=$(($(ns idle_ns) - idle0)) slept=$(($(ns sleep_ns) - sleep0))
[ "$idle" -lt "$slept" ] ||
    fail "the iohost polled while QoS held requests: idle ${idle} ns, asleep ${slept} ns"
echo "rate-limited export: the iohost polled idle $((idle / 1000000)) ms, slept $((slept / 1000000)) ms"
ctl vm0 delete rq >/dev/null || fail "delete rq"
ctl io export-delete dq >/dev/null || fail "export-delete dq"

# --- 3d. a link slower than a request's burst -------------------------------
# 10 Mbit/s each way with a short queue (tbf, as a policed or congested
# link): a 1 MiB write is ~750 fragments, and the queue keeps the first ~20
# of every burst. Whole-request resends dropped the same tail every time
# and no write ever landed (each failed after its 10 s timeout). Resends
# now go by NACK rounds paced to what the link delivers, and reads resend
# only what is missing: every block verified.
ctl vm0 create-blk rsl --backend remote --server 10.77.0.2:7400 --export disk2 \
    --socket "$TMP/rsl.sock" >/dev/null || fail "create-blk rsl"
for side in "vmhost0 rvm0" "iohost rio0"; do
    set -- $side
    ip netns exec "$1" tc qdisc add dev "$2" root tbf rate 10mbit burst 32kbit latency 20ms ||
        fail "tc tbf on $2"
done
nack0=$(ctl io exports | jq '[.exports[] | .partial_writes_nacked] | add')
bench 0 run --socket "$TMP/rsl.sock" --workload write --bs 1m --qd 1 --queues 1 --span 8M --ios 4 --verify
nacks=$(( $(ctl io exports | jq '[.exports[] | .partial_writes_nacked] | add') - nack0 ))
# Eight at once: bursts of 8 MiB, the writes' and then the read answers',
# were dropped at the link's queue round after round, and requests waited
# out their timeout (all 8 reads failed with EIO). The congestion window
# keeps about one request's data on the path while it loses.
bench 0 run --socket "$TMP/rsl.sock" --workload write --bs 1m --qd 8 --queues 1 --span 8M --ios 8 --verify
cuts=$(peer vm0 rsl cwnd_cuts)
[ "$cuts" -gt 0 ] || fail "no loss cut rsl's congestion window (was the link slow?)"
for side in "vmhost0 rvm0" "iohost rio0"; do
    set -- $side
    ip netns exec "$1" tc qdisc del dev "$2" root
done
[ "$nacks" -gt 0 ] || fail "no partial write was answered with a NACK (was the link slow?)"
[ "$(peer vm0 rsl failovers)" = 0 ] || fail "rsl failed over on the slow link"
ctl vm0 delete rsl >/dev/null || fail "delete rsl"
echo "slow link: 4 x 1 MiB at QD1 and 8 at QD8 written and read back, $nacks NACK round(s)," \
    "$cuts window cut(s)"

# --- 4. the iohost dies mid-run ------------------------------------------------
echo "+ killing the iohost during two runs"
timeout 120 "$BENCH" run --socket "$TMP/rf.sock" --workload randwrite --bs 4k --qd 8 --queues 1 \
    --span 4M --time 6 --verify --quiet >"$TMP/fb.out" 2>&1 &
FB=$!
timeout 120 "$BENCH" run --socket "$TMP/re.sock" --workload randwrite --bs 4k --qd 8 --queues 1 \
    --span 4M --time 6 --verify --quiet >"$TMP/err.out" 2>&1 &
ER=$!
sleep 2
kill -KILL "$PID_io"
wait "$PID_io" 2>/dev/null
wait $FB
fb_rc=$?
wait $ER
er_rc=$?
cat "$TMP/fb.out" "$TMP/err.out"
[ "$fb_rc" -eq 0 ] || fail "the run with a fallback exited $fb_rc"
grep -q " 0 mismatches" "$TMP/fb.out" || fail "the run with a fallback did not verify"
[ "$er_rc" -eq 1 ] || fail "the run without a fallback exited $er_rc, expected 1 (I/O errors)"
grep -q " 0 mismatches" "$TMP/err.out" || fail "acknowledged writes of the error-mode run are wrong"
[ "$(peer vm1 rf failovers)" -ge 1 ] || fail "rf did not fail over"
[ "$(peer vm1 rf fallback_requests)" -gt 0 ] || fail "rf sent nothing to its fallback"
[ "$(peer vm0 re failed_requests)" -gt 0 ] || fail "re failed no request"
# Every request failed is counted, also those refused at once while failed
# over (peers said 4 while the guest saw 625,922 errors), and with the guest
# gone the device still shows the iohost down (it said connected).
errs=$(sed -n 's/^result: .*, \([0-9]*\) errors$/\1/p' "$TMP/err.out")
[ "$(peer vm0 re failed_requests)" -ge "${errs:-1}" ] ||
    fail "re counts $(peer vm0 re failed_requests) failed requests; the bench saw $errs errors"
[ "$(peer vm0 re connected)" = false ] || fail "re shows a dead iohost as connected"
# r1's guest left before the kill: peers said "connected" for the dead
# iohost (what the last queue saw) and last_rx_ms 0, "just now".
[ "$(peer vm1 r1 state)" = idle ] || fail "r1 shows a dead iohost as $(peer vm1 r1 state)"
[ "$(peer vm1 r1 last_rx_ms)" -gt 0 ] || fail "r1's last answer from the iohost reads as just now"
timeout 15 "$CTL" -s "$TMP/vm1.rpc" peers | grep -Eq '^r1 .* idle .* [0-9]+m?s$' ||
    fail "peers' text shows no idle state and age for r1: $(timeout 15 "$CTL" -s "$TMP/vm1.rpc" peers)"
# A remote device's stats name its iohost and that path's state (they
# showed only the queues: nothing said the device was remote).
timeout 15 "$CTL" -s "$TMP/vm1.rpc" stats r1 | grep -Eq '^  r1 +[0-9.]+:[0-9]+ +idle ' ||
    fail "stats r1 shows no iohost row: $(timeout 15 "$CTL" -s "$TMP/vm1.rpc" stats r1)"
# peers --probe asks the iohost of an idle device (nothing else does): dead
# now, it says so; once restarted, it answers and last_rx_ms starts again.
probe() { ctl "$1" peers --probe | jq -r --arg d "$2" ".[] | select(.device == \$d) | .probe.$3"; }
[ "$(probe vm1 r1 answered)" = false ] || fail "the probe of r1's dead iohost: $(ctl vm1 peers --probe)"
probe vm1 r1 error | grep -q "^the iohost did not answer within 1000 ms$" ||
    fail "the probe of a dead iohost says: $(probe vm1 r1 error)"
timeout 15 "$CTL" -s "$TMP/vm1.rpc" peers --probe | grep -q "^  probe: the iohost did not answer" ||
    fail "peers --probe text: $(timeout 15 "$CTL" -s "$TMP/vm1.rpc" peers --probe)"

start_daemon io iohost "${IOHOST_ARGS[@]}"
# r1's export (disk1, made by RPC) is gone with the restart; rf's is back.
[ "$(probe vm1 r1 answered)" = true ] || fail "r1's restarted iohost: $(ctl vm1 peers --probe)"
[ "$(probe vm1 r1 error)" = "the iohost answers but has no export of that name" ] ||
    fail "the probe of r1's missing export says: $(probe vm1 r1 error)"
[ "$(probe vm1 rf rtt_us)" -gt 0 ] || fail "the probe of rf: $(ctl vm1 peers --probe)"
[ "$(peer vm1 rf last_rx_ms)" -lt 5000 ] ||
    fail "after the probe rf's iohost last answered $(peer vm1 rf last_rx_ms) ms ago"
timeout 15 "$CTL" -s "$TMP/vm1.rpc" peers --probe | grep -Eq "^  probe: answered in [0-9]+ us$" ||
    fail "peers --probe text: $(timeout 15 "$CTL" -s "$TMP/vm1.rpc" peers --probe)"
want=$(head -c 4M "$TMP/img3" | sha256sum | cut -d' ' -f1)
got=$(timeout 60 "$DUMP" "$TMP/rf.sock" 4194304 | sha256sum | cut -d' ' -f1)
[ "$want" = "$got" ] || fail "after the restart the iohost serves other data than the file holds"
ctl io exports | jq -e '.exports[] | select(.name == "disk3") | .bytes_read >= 4194304' \
    >/dev/null || fail "the restarted iohost did not serve the read-back"
bench 0 run --socket "$TMP/re.sock" --workload mixed --bs 4k --qd 8 --queues 1 --span 4M --ios 2000 --verify
echo "after the restart: every acknowledged write is served by the iohost (sha256 $got)"

for n in vm0 vm1 io; do
    pid_var=PID_$n
    kill -TERM "${!pid_var}"
    timeout 10 tail --pid="${!pid_var}" -f /dev/null || fail "sidecored $n still running 10 s after SIGTERM"
    wait "${!pid_var}" || fail "sidecored $n exited with status $?"
done
echo "PASS: remote_blk"
