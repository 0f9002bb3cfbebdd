/* Net rows of remote-compare: local (Elvis: the VM's net device on a switch
 * of a local sidecored) against remote (vRIO: the device on a vmhost
 * sidecored, a tunnel to the switch of an iohost sidecored). The "VM" is
 * dpdk-testpmd with virtio-user on the device's socket, on the bench's CPU
 * (2 MiB hugepages, borrowed for the run). Each switch has a tap port (the
 * host's own stack: addressed, a static neighbour entry for the VM, since
 * testpmd answers no ARP) and a sink port. The net daemons are the rows'
 * own, started with the blk daemons' CPUs, local in namespace scb-lo,
 * iohost in scb-io, vmhost in scb-vm0.
 *   request-response: UDP ping-pong (64 B payload, one in flight, a
 *     blocking socket as a host application has, remote_rr.h) from the
 *     tap's namespace, on the CPU of the sidecore that holds the switch
 *     (the host's, not the guest's), to testpmd in 5tswap mode (swaps MACs, IPs and
 *     ports, so the frame returns to the socket); p50, p99, lost rounds.
 *   veth hop: the bare UDP round trip between vmhost and iohost, answered
 *     with a datagram of the tunnel's size for that frame (remote_hop.h),
 *     polling and blocking: what the path alone costs.
 *   stream: testpmd txonly, 64 B frames to the sink's MAC (learned by the
 *     switch from one frame the sink sends at start); over --time after a
 *     warm-up: the device's tx counter (what the guest sent), the sink
 *     port's rx counter (what crossed the switch), and every drop counted
 *     on the way (switch ports, device, tunnel and listener path drops).
 * A side that cannot be set up leaves its rows unmeasured (why on stderr)
 * and the other side is still measured. */
#ifndef BENCH_REMOTE_NET_H
#define BENCH_REMOTE_NET_H

#include "remote_compare.h"

/* 0, or 1 when some row could not be measured. */
int rc_net_rows(struct rc_env *e, struct rt_table *t);
/* What the net rows measure, and the remote overhead next to the hop. */
void rc_net_print_note(const struct rc_env *e, const struct rt_table *t);

#endif
