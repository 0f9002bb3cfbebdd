#!/usr/bin/env bash
# A tap port when the host side changes under it, in a network namespace of
# its own:
#  1. The interface deleted (`ip link del`) under a running two-queue tap
#     port: the port says so in switch-stats and the log, its queues stop
#     (the sidecore sleeps again instead of polling descriptors that stay
#     ready forever), frames to the host count as link_down, and the port
#     can be deleted and added again.
#  2. A guest (tests/tools/net_tx_raw: any virtio-net header) sends TCP GSO
#     packets towards the host whose metadata does not describe them (a UDP
#     packet, TCP in the other IP version): dropped as the guest's
#     bad_header, none written into the tap (the kernel refused them, and
#     they counted as the tap's io_error); a sane one reaches the host, and
#     so does one whose hdr_len hint is beyond the frame.
#  3. A tap port whose ifname is a template ("sth%d"): the port-add reply
#     and switch-stats name the interface the kernel made (the reply said
#     "sth%d", and switch-stats named no interface at all).
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

# ---- 2. hostile offload metadata from a guest towards the tap -------------
echo "== a guest's GSO metadata towards the tap"
RAW=$BUILD/tests/net_tx_raw
[ -x "$RAW" ] || fail "$RAW not built"
command -v python3 >/dev/null || fail "python3 not found"
scd_start --switch name=sw0 --net name=g,switch=sw0 --port "switch=sw0,name=host,type=tap,ifname=$TAP"
nsip addr add 10.219.0.1/24 dev "$TAP" || fail "cannot address $TAP"
TMAC=$(nsip -j link show "$TAP" | jq -r '.[0].address')
GMAC=$(scd_ctl net-list | jq -r '.[0].mac')
# frames KIND... > FILE: one record (LE length, virtio-net header, frame)
# per KIND, a TCP packet of 3000 bytes from g to the host.
frames() {
    python3 - "$TMAC" "$GMAC" "$@" <<'PY'
import ipaddress, struct, sys
dst, src = (bytes(int(x, 16) for x in m.split(':')) for m in sys.argv[1:3])
def l4(proto):
    pay = bytes(range(256)) * 12
    if proto == 17:
        return struct.pack('!HHHH', 9, 9, 8 + len(pay), 0) + pay
    return struct.pack('!HHIIBBHHH', 9, 9, 1, 0, 0x50, 0x18, 65535, 0, 0) + pay
def v4(proto):
    t = l4(proto)
    return b'\x08\x00' + struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(t), 1, 0x4000, 64, proto, 0,
                                   bytes([10, 219, 0, 2]), bytes([10, 219, 0, 1])) + t
def v6():
    t = l4(6)
    return b'\x86\xdd' + struct.pack('!IHBB', 0x60000000, len(t), 6, 64) + \
        ipaddress.IPv6Address('fd19::2').packed + ipaddress.IPv6Address('fd19::1').packed + t
# kind: (gso_type, csum_offset, l3 payload, l4 start, hdr_len)
kinds = {'ok': (1, 16, v4(6), 34, 54), 'udp': (1, 6, v4(17), 34, 54),
         'v4as6': (4, 16, v4(6), 34, 54), 'v6as4': (1, 16, v6(), 54, 74),
         'hint': (1, 16, v4(6), 34, 65535)}
out = sys.stdout.buffer
for k in sys.argv[3:]:
    gso, off, l3, start, hlen = kinds[k]
    b = struct.pack('<BBHHHHH', 1, gso, hlen, 1000, start, off, 0) + dst + src + l3
    out.write(struct.pack('<I', len(b)) + b)
PY
}
# hint: hdr_len (only a hint, virtio 1.2, 5.1.6.2) beyond the frame, which
# tun refuses as is (it counted as the tap's io_error).
frames udp v4as6 v6as4 ok hint >"$TMP/bad.bin" || fail "cannot build the frames"
timeout 60 "$RAW" "$TMP/g.sock" "$TMP/bad.bin" || fail "net_tx_raw failed"
[ "$(scd_ctl net-stats g | jq .port.drops.bad_header)" = 3 ] ||
    fail "g: 3 bad GSO packets, drops $(scd_ctl net-stats g | jq -c .port.drops)"
wrote() { [ "$(scd_port sw0 host .rx_packets)" = 2 ]; }
scd_wait 10 "the two sane GSO packets to reach the host" wrote
[ "$(scd_port sw0 host .drops_total)" = 0 ] || fail "tap drops: $(scd_port sw0 host .drops)"
scd_stop
echo "ok: GSO metadata that does not describe its packet is the guest's bad_header"

# ---- 3. which interface a tap port is --------------------------------------
echo "== the interface of a tap port"
scd_start --switch name=sw0
made=$(scd_ctl port-add sw0 host type=tap 'ifname=sth%d' | jq -r .ifname) || fail "port-add sth%d"
[ "$made" != 'sth%d' ] && nsip -d link show "$made" 2>/dev/null | grep -q "tun type tap" ||
    fail "port-add answered ifname \"$made\", which is no tap here: $(nsip -br link)"
[ "$(scd_port sw0 host .ifname)" = "$made" ] ||
    fail "switch-stats names interface \"$(scd_port sw0 host .ifname)\", not $made"
timeout 15 "$CTL" -s "$TMP/rpc.sock" switch-stats sw0 | grep -q "^    interface $made\$" ||
    fail "switch-stats text does not name interface $made"
scd_stop
echo "ok: port-add and switch-stats name the tap's interface"
echo "PASS"
