#!/usr/bin/env bash
# A tap port when the host side changes under it, in a network namespace of
# its own:
#  1. The interface deleted (`ip link del`) under a running two-queue tap
#     port: the port says so in switch-stats and the log, its queues stop
#     (the sidecore sleeps again instead of polling descriptors that stay
#     ready forever), frames to the host count as link_down, and the port
#     can be deleted and added again.
# Nothing is timed; every wait is bounded.
# Usage: net_tap_host.sh BUILD_DIR
set -u
BUILD=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
TMP=$(mktemp -d /tmp/sc-taphost.XXXXXX)
NS=sctap-$$
TAP=sth$$
TAP=${TAP:0:15}
# shellcheck source=lib/scd_common.sh
. "$HERE/lib/scd_common.sh"
cleanup() {
    scd_cleanup
    ip netns del "$NS" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*"
    [ -f "$TMP/daemon.log" ] && sed 's/^/  sidecored: /' "$TMP/daemon.log" | tail -n 30
    exit 1
}
scd_require
command -v ip >/dev/null || fail "ip (iproute2) not found"
ip netns add "$NS" || fail "cannot create network namespace $NS"
# sidecored in the namespace: ip netns exec execs it (SCD_PID stays its pid).
printf '#!/bin/sh\nexec ip netns exec %s %s "$@"\n' "$NS" "$SCD" >"$TMP/scd-in-ns"
chmod +x "$TMP/scd-in-ns"
SCD=$TMP/scd-in-ns
nsip() { ip netns exec "$NS" ip "$@"; }

# ---- 1. the interface deleted under the port -------------------------------
echo "== tap interface deleted under a running port"
scd_start --switch name=sw0 --port "switch=sw0,name=host,type=tap,ifname=$TAP,queues=2"
nsip link show "$TAP" >/dev/null 2>&1 || fail "tap $TAP was not created"
[ "$(scd_port sw0 host .error)" = "" ] || fail "a working tap reports an error: $(scd_port sw0 host .error)"
nsip link del "$TAP" || fail "cannot delete $TAP"
said() { [ -n "$(scd_port sw0 host .error)" ]; }
scd_wait 10 "switch-stats to say the tap is gone" said
scd_port sw0 host .error | grep -q "interface was deleted" ||
    fail "switch-stats error: $(scd_port sw0 host .error)"
grep -q "host: tap $TAP: the interface was deleted" "$TMP/daemon.log" ||
    fail "no word in the log about $TAP being deleted"
# Its descriptors stay readable (EPOLLERR) for good: polled on, the
# sidecore never slept again.
sleeps() { scd_ctl sidecores | jq '.[0].sleeps'; }
s0=$(sleeps)
slept() { [ "$(sleeps)" -gt "$s0" ]; }
scd_wait 10 "the sidecore to sleep again" slept
timeout 15 "$CTL" -s "$TMP/rpc.sock" switch-stats sw0 | grep -q "stopped: the interface was deleted" ||
    fail "switch-stats text does not say the port stopped"
# Frames for the host: dropped as link_down, not written.
scd_ctl port-add sw0 gen type=sink source_size=100 source_count=50 >/dev/null || fail "port-add gen"
sent() { [ "$(scd_port sw0 gen .tx_packets)" = 50 ]; }
scd_wait 10 "the source to send 50 frames" sent
down() { [ "$(scd_port sw0 host .drops.link_down)" = 50 ]; }
scd_wait 10 "the 50 frames to count as link_down" down
[ "$(scd_port sw0 host .drops_total)" = 50 ] || fail "drops: $(scd_port sw0 host .drops)"
scd_ctl port-delete sw0 host >/dev/null || fail "port-delete of the gone tap"
scd_ctl port-add sw0 host type=tap "ifname=$TAP" queues=2 >/dev/null || fail "port-add $TAP again"
nsip link show "$TAP" >/dev/null 2>&1 || fail "tap $TAP was not made again"
[ "$(scd_port sw0 host .error)" = "" ] || fail "the new tap reports: $(scd_port sw0 host .error)"
scd_stop
echo "ok: a deleted tap stops its port with a reason"
echo "PASS"
