/* vhost-user frontend connection: the control channel to one backend
 * (QEMU docs/interop/vhost-user.rst), what DPDK's virtio-user is to DPDK.
 *
 * Contract:
 * - vu_conn_connect() connects to a listening backend, retrying until the
 *   socket accepts or timeout_ms passes; vu_conn_accept() listens on a path
 *   and waits (bounded) for a "client-mode" backend to connect.
 * - Every call is synchronous, one message in flight. Replies are checked
 *   (request id, REPLY flag, version, exact payload size); any violation is
 *   logged with LOG_ERR, recorded in vu_conn_error(), and returns -EPROTO.
 *   A peer that does not answer within the connection's reply timeout
 *   (default 10 s) yields -ETIMEDOUT. Once an error happened the connection
 *   is "broken" and every further call fails with -EPIPE.
 * - Once REPLY_ACK is negotiated (vu_set_protocol_features), messages without
 *   a natural reply carry NEED_REPLY and the backend's non-zero ack becomes
 *   -EIO.
 * - Addresses: SET_VRING_ADDR takes frontend virtual addresses (the space of
 *   SET_MEM_TABLE's userspace_addr), descriptors carry GPAs.
 * Not thread-safe: one thread drives a connection. */
#ifndef VU_FRONT_H
#define VU_FRONT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vu_conn;

struct vu_mem_region {
    uint64_t gpa;
    uint64_t size;
    uint64_t uaddr;       /* frontend virtual address of the region */
    uint64_t mmap_offset; /* offset of the region in fd */
    int fd;
};

int vu_conn_connect(const char *path, unsigned timeout_ms, struct vu_conn **out);
int vu_conn_accept(const char *path, unsigned timeout_ms, struct vu_conn **out);
void vu_conn_close(struct vu_conn *c);
const char *vu_conn_error(const struct vu_conn *c);
void vu_conn_set_reply_timeout(struct vu_conn *c, unsigned timeout_ms);
uint64_t vu_conn_protocol_features(const struct vu_conn *c);
/* The backend closed the connection (its device was deleted, the daemon
 * stopped): nothing it holds will be answered. Does not block. */
bool vu_conn_hung_up(const struct vu_conn *c);

int vu_get_features(struct vu_conn *c, uint64_t *features);
int vu_set_features(struct vu_conn *c, uint64_t features);
int vu_get_protocol_features(struct vu_conn *c, uint64_t *pf);
/* Also makes the connection use REPLY_ACK when that bit is set. */
int vu_set_protocol_features(struct vu_conn *c, uint64_t pf);
int vu_set_owner(struct vu_conn *c);
int vu_get_queue_num(struct vu_conn *c, uint64_t *num);
int vu_get_config(struct vu_conn *c, uint32_t offset, void *buf, uint32_t len);
int vu_set_mem_table(struct vu_conn *c, const struct vu_mem_region *r, unsigned n);
int vu_set_vring_num(struct vu_conn *c, unsigned idx, unsigned num);
int vu_set_vring_addr(struct vu_conn *c, unsigned idx, uint64_t desc_ua, uint64_t used_ua,
                      uint64_t avail_ua);
/* The same with VHOST_VRING_F_LOG: used-ring writes are logged at log_gpa
 * (the used ring's guest address). */
int vu_set_vring_addr_logged(struct vu_conn *c, unsigned idx, uint64_t desc_ua, uint64_t used_ua,
                             uint64_t avail_ua, uint64_t log_gpa);
/* SET_LOG_BASE: size bytes of fd at offset become the dirty log (bit
 * gpa / 4096). Needs LOG_SHMFD negotiated; waits for the backend's reply. */
int vu_set_log_base(struct vu_conn *c, int fd, uint64_t size, uint64_t offset);
int vu_set_vring_base(struct vu_conn *c, unsigned idx, unsigned base);
/* *base: a split ring's next avail index; for a packed ring the avail
 * position and wrap counter in bits 0-15, the used ones in bits 16-31. */
int vu_get_vring_base(struct vu_conn *c, unsigned idx, unsigned *base);
/* fd < 0 sends the "no fd" flag (polling, per spec). */
int vu_set_vring_kick(struct vu_conn *c, unsigned idx, int fd);
int vu_set_vring_call(struct vu_conn *c, unsigned idx, int fd);
int vu_set_vring_enable(struct vu_conn *c, unsigned idx, bool enable);
int vu_set_status(struct vu_conn *c, uint8_t status);
/* A request of a protocol extension (no reply body; acked under REPLY_ACK),
 * e.g. VPRI's (vu_vpri.h). The fds stay the caller's. */
int vu_send_ext(struct vu_conn *c, uint32_t req, const void *payload, uint32_t size,
                const int *fds, unsigned nfds);
int vu_get_status(struct vu_conn *c, uint8_t *status);

#endif
