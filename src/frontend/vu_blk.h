/* virtio-blk driver over vhost-user: opens a backend, negotiates, sets up
 * N queues, submits block requests and reaps their completions.
 *
 * Contract:
 * - vu_blk_open() does the whole start-up: connect (or accept when
 *   cfg.listen), SET_OWNER, feature and protocol-feature negotiation
 *   (VERSION_1 required; EVENT_IDX, INDIRECT_DESC, MQ, blk features,
 *   PROTOCOL_FEATURES with REPLY_ACK/MQ/CONFIG/STATUS taken when offered),
 *   GET_QUEUE_NUM, GET_CONFIG, SET_MEM_TABLE, ring setup, enable, DRIVER_OK.
 *   It fails with a logged reason rather than running degraded.
 * - Data buffers must lie inside vu_blk_mem(b) (allocate them with
 *   vu_mem_alloc). Requests are identified by the caller's 64-bit tag.
 * - At most vu_blk_queue_size() requests are outstanding per queue;
 *   submission beyond returns -ENOSPC. Submissions are published at once;
 *   vu_blk_kick() notifies the device (subject to its suppression).
 * - vu_blk_reap() returns completions; a protocol violation by the device
 *   (see vu_vring.h) or a status byte not written returns -EPROTO and the
 *   queue is dead.
 * Single-threaded per handle. */
#ifndef VU_BLK_H
#define VU_BLK_H

#include <stdbool.h>
#include <stdint.h>

#include "vu_front.h"
#include "vu_mem.h"
#include "vu_vpri.h"
#include "vu_vring.h"

/* virtio-blk feature bits (virtio spec 5.2.3). */
#define VU_BLK_F_SIZE_MAX 1
#define VU_BLK_F_SEG_MAX 2
#define VU_BLK_F_GEOMETRY 4
#define VU_BLK_F_RO 5
#define VU_BLK_F_BLK_SIZE 6
#define VU_BLK_F_FLUSH 9
#define VU_BLK_F_TOPOLOGY 10
#define VU_BLK_F_CONFIG_WCE 11
#define VU_BLK_F_MQ 12
#define VU_BLK_F_DISCARD 13
#define VU_BLK_F_WRITE_ZEROES 14

enum vu_blk_op {
    VU_BLK_READ = 0,
    VU_BLK_WRITE = 1,
    VU_BLK_FLUSH = 4,
    VU_BLK_GET_ID = 8,
    VU_BLK_DISCARD = 11,
    VU_BLK_WRITE_ZEROES = 13,
};

#define VU_BLK_S_OK 0
#define VU_BLK_S_IOERR 1
#define VU_BLK_S_UNSUPP 2
#define VU_BLK_ID_BYTES 20

struct vu_blk_cfg {
    const char *socket;
    bool listen;              /* wait for a client-mode backend to connect */
    unsigned connect_timeout_ms; /* 0: 5000 */
    unsigned queues;          /* 0: 1; must be <= the device's queue count */
    uint16_t queue_size;      /* 0: 128 */
    uint64_t mem_bytes;       /* 0: rings + 16 MiB */
    struct vu_mem *mem;       /* optional: use this memory instead (not owned) */
    bool no_indirect, no_event_idx;
    bool packed;              /* VIRTIO_F_RING_PACKED; start-up fails if not offered */
    bool in_order;            /* VIRTIO_F_IN_ORDER; likewise (completions are then
                               * checked to come back in submission order) */
    bool poll_no_callfd;      /* send "no fd" for call: the device must not signal */
    struct vu_vpri *vpri;     /* optional, not owned: negotiate VPRI (start-up fails if
                               * not offered) and send it before the rings start */
};

struct vu_blk_info {
    uint64_t features, protocol_features;
    uint64_t capacity;        /* 512-byte sectors */
    uint32_t blk_size;        /* logical block size (512 if not offered) */
    uint32_t seg_max, size_max;
    uint16_t device_queues;   /* from GET_QUEUE_NUM / config */
    uint32_t max_discard_sectors, max_write_zeroes_sectors;
    bool read_only;
};

struct vu_blk_cpl {
    uint64_t tag;
    uint8_t status;    /* VU_BLK_S_* */
    uint32_t len;      /* bytes the device reported written, status included */
};

struct vu_blk;

int vu_blk_open(const struct vu_blk_cfg *cfg, struct vu_blk **out);
/* Stops the rings (GET_VRING_BASE) and closes; outstanding requests are lost. */
void vu_blk_close(struct vu_blk *b);

const struct vu_blk_info *vu_blk_info(const struct vu_blk *b);
struct vu_mem *vu_blk_mem(struct vu_blk *b);
unsigned vu_blk_queues(const struct vu_blk *b);
uint16_t vu_blk_queue_size(const struct vu_blk *b);
struct vu_vring *vu_blk_vring(struct vu_blk *b, unsigned q);
/* The backend hung up (see vu_conn_hung_up). */
bool vu_blk_hung_up(const struct vu_blk *b);

/* READ/WRITE: buf/len (len multiple of 512); FLUSH: no buffer;
 * GET_ID: buf of VU_BLK_ID_BYTES; DISCARD/WRITE_ZEROES: sector + len bytes
 * of range (buf unused; one segment, WRITE_ZEROES with unmap=0).
 * Returns 0, -ENOSPC (queue full), -EINVAL, or -EPIPE (queue dead). */
int vu_blk_submit(struct vu_blk *b, unsigned q, enum vu_blk_op op, uint64_t sector,
                  void *buf, uint32_t len, uint64_t tag);
int vu_blk_kick(struct vu_blk *b, unsigned q);
/* Reaps up to max completions; returns the count or a negative error. */
int vu_blk_reap(struct vu_blk *b, unsigned q, struct vu_blk_cpl *out, unsigned max);
/* Waits up to timeout_ms for completions on queue q via its call eventfd
 * (re-arming notifications first). Returns 1 if there is something to reap,
 * 0 on timeout. */
int vu_blk_wait(struct vu_blk *b, unsigned q, int timeout_ms);
/* Polling mode on/off for a queue (suppresses device notifications). */
void vu_blk_set_polling(struct vu_blk *b, unsigned q, bool polling);
/* Synchronous helper (GET_ID, one-off I/O) on a queue with nothing else
 * outstanding: submit, wait (bounded), reap. *status gets VU_BLK_S_*. */
int vu_blk_sync(struct vu_blk *b, unsigned q, enum vu_blk_op op, uint64_t sector, void *buf,
                uint32_t len, int timeout_ms, uint8_t *status);

#endif
