/* `sidecore-bench iopf run --device net`: the seed's NIC case on a real
 * virtio-net device. The faulting VM A (--socket, a vu_net with VPRI) owns
 * a buffer pool it overcommits: a recycled rx pool (--rx-buffers, one
 * buffer per --bs bytes) the device receives into, and the rest, the
 * guest's working set, whose random pages its CPU touches per packet. A
 * second device B (--socket2, no VPRI, on the same switch) sends A --ios
 * numbered frames as fast as its ring allows (or --rate per second). A's
 * rx queue parks on a buffer that is not resident; frames that arrive
 * meanwhile are dropped, as a NIC without buffers would.
 *
 * Frames: 14-byte Ethernet header (A's MAC, B's, ethertype 0x88b5), then a
 * 64-bit sequence number, a 64-bit send time and a pattern derived from the
 * sequence number. With --verify, A's CPU reads every frame it receives
 * (touching its page first) and checks the pattern and that sequence
 * numbers only grow (order kept, drops are gaps); without it the payload
 * is forwarded unread (zero copy) and only the CPU's working-set touches
 * restore pages for the CPU. */
#ifndef BENCH_IOPF_NET_H
#define BENCH_IOPF_NET_H

#include "iopf.h"

/* 0 clean, 1 wrong or reordered frames, 2 could not run. */
int iopf_net_run(const struct iopf_params *p, struct iopf_res *res);

#endif
