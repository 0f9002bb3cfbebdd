#!/bin/sh
# Guest side of tests/integration/qemu_guest_net.sh. Kernel command line:
#   sc.ip=ADDR/PREFIX     address for eth0
#   sc.ping=A,B,...       addresses to ping, in order
#   sc.bulk=HOST:PORT:N   after the pings, TCP both ways: send the output
#                         of "seq 1 N" to HOST:PORT, then take one
#                         connection on PORT and report its bytes' MD5
#                         (SCRESULT bulk_sent=STATUS, bulk_listening=PORT,
#                         bulk_got_md5=SUM); each side at most 120 s
#   sc.pin=MASK           run that sender on the CPUs of MASK (taskset), so
#                         its flow leaves on the tx queue of those CPUs
#   sc.to=PEER:PORT:N     then send "seq 1 N" to another guest at PEER:PORT
#                         (retrying the connection for up to 60 s while the
#                         peer is not listening yet): SCRESULT peer_sent=STATUS
#   sc.from=PORT          then take one connection on PORT from another guest
#                         and report its bytes' MD5: SCRESULT peer_got_md5=SUM
#   sc.hold=PORT          afterwards, stay up until the host connects to
#                         PORT and sends a line (so a peer guest can still
#                         ping this one); at most 180 s
# For each address: SCRESULT ping_ADDR=RECEIVED/SENT after waiting up to
# 60 s for its first answer (the peer may still be booting). Exits 1 when
# an address never answered.
ip='' ping_list='' hold='' bulk='' to='' from='' pin=''
for arg in $(cat /proc/cmdline); do
    case $arg in
        sc.ip=*) ip=${arg#sc.ip=} ;;
        sc.ping=*) ping_list=${arg#sc.ping=} ;;
        sc.hold=*) hold=${arg#sc.hold=} ;;
        sc.bulk=*) bulk=${arg#sc.bulk=} ;;
        sc.to=*) to=${arg#sc.to=} ;;
        sc.from=*) from=${arg#sc.from=} ;;
        sc.pin=*) pin=${arg#sc.pin=} ;;
    esac
done
[ -n "$ip" ] || { echo "SCRESULT error=no_sc.ip"; exit 2; }

# The NIC appears asynchronously after virtio_net probes; wait up to 20 s.
i=0
while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 200 ]; do
    sleep 0.1
    i=$((i + 1))
done
if [ ! -e /sys/class/net/eth0 ]; then
    echo "SCRESULT error=no_eth0"
    ls /sys/bus/virtio/devices/ 2>/dev/null | sed 's/^/SCRESULT virtio_device=/'
    exit 1
fi
ip link set lo up
ip link set eth0 up || { echo "SCRESULT error=eth0_up_failed"; exit 1; }
ip addr add "$ip" dev eth0 || { echo "SCRESULT error=ip_addr_failed"; exit 1; }
echo "SCRESULT mac=$(cat /sys/class/net/eth0/address)"

rc=0
for target in $(echo "$ping_list" | tr ',' ' '); do
    i=0
    until ping -c 1 -W 1 "$target" >/dev/null 2>&1; do
        i=$((i + 1))
        [ $i -lt 60 ] || break
    done
    got=$(ping -c 5 -i 0.2 -W 3 "$target" 2>/dev/null |
          sed -n 's/.* \([0-9]*\) packets received.*/\1/p')
    echo "SCRESULT ping_$target=${got:-0}/5"
    [ "${got:-0}" -gt 0 ] || rc=1
done

# listen_md5 PORT: the MD5 of what one connection on PORT sends (120 s max).
listen_md5() {
    timeout 120 nc -l -p "$1" 2>/dev/null | md5sum | cut -d' ' -f1
}

if [ -n "$bulk" ]; then
    IFS=: read -r bhost bport blines <<EOF_BULK
$bulk
EOF_BULK
    if [ -n "$pin" ]; then
        seq 1 "$blines" | taskset "$pin" timeout 120 nc "$bhost" "$bport"
    else
        seq 1 "$blines" | timeout 120 nc "$bhost" "$bport"
    fi
    st=$?
    echo "SCRESULT bulk_sent=$st"
    [ "$st" = 0 ] || rc=1
    echo "SCRESULT bulk_listening=$bport"
    echo "SCRESULT bulk_got_md5=$(listen_md5 "$bport")"
fi

if [ -n "$to" ]; then
    IFS=: read -r peer pport plines <<EOF_TO
$to
EOF_TO
    i=0
    until seq 1 "$plines" | timeout 120 nc "$peer" "$pport" 2>/dev/null; do
        i=$((i + 1))
        [ $i -lt 120 ] || break
        sleep 0.5
    done
    st=$([ $i -lt 120 ] && echo 0 || echo 1)
    echo "SCRESULT peer_sent=$st"
    [ "$st" = 0 ] || rc=1
fi

if [ -n "$from" ]; then
    echo "SCRESULT peer_listening=$from"
    echo "SCRESULT peer_got_md5=$(listen_md5 "$from")"
fi

if [ -n "$hold" ]; then
    echo "SCRESULT holding=$hold"
    msg=$(timeout 180 nc -l -p "$hold" 2>/dev/null | head -n 1)
    echo "SCRESULT host_said=${msg:-nothing}"
fi
echo "SCRESULT eth0_rx=$(cat /sys/class/net/eth0/statistics/rx_packets)"
echo "SCRESULT eth0_tx=$(cat /sys/class/net/eth0/statistics/tx_packets)"
exit $rc
