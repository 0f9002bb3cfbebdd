/* vhost-user wire format (QEMU docs/interop/vhost-user.rst): message ids,
 * protocol feature bits, payload structs, and a pure decoder.
 *
 * The decoder has no side effects: given a header, the number of payload
 * bytes and fds that arrived, and the rule for the message type, it says
 * whether the message is well formed and, if not, why. Rules per message
 * type (payload size, fd count, reply) live in the dispatch table of
 * vhost_dev.c and are reachable through vhost_msg_spec(). Semantic checks
 * (ranges, state) belong to the handlers. */
#ifndef SC_VHOST_MSG_H
#define SC_VHOST_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum vhost_user_request {
    VHOST_USER_GET_FEATURES = 1,
    VHOST_USER_SET_FEATURES = 2,
    VHOST_USER_SET_OWNER = 3,
    VHOST_USER_RESET_OWNER = 4,
    VHOST_USER_SET_MEM_TABLE = 5,
    VHOST_USER_SET_LOG_BASE = 6,
    VHOST_USER_SET_LOG_FD = 7,
    VHOST_USER_SET_VRING_NUM = 8,
    VHOST_USER_SET_VRING_ADDR = 9,
    VHOST_USER_SET_VRING_BASE = 10,
    VHOST_USER_GET_VRING_BASE = 11,
    VHOST_USER_SET_VRING_KICK = 12,
    VHOST_USER_SET_VRING_CALL = 13,
    VHOST_USER_SET_VRING_ERR = 14,
    VHOST_USER_GET_PROTOCOL_FEATURES = 15,
    VHOST_USER_SET_PROTOCOL_FEATURES = 16,
    VHOST_USER_GET_QUEUE_NUM = 17,
    VHOST_USER_SET_VRING_ENABLE = 18,
    VHOST_USER_SEND_RARP = 19,
    VHOST_USER_SET_BACKEND_REQ_FD = 21,
    VHOST_USER_GET_CONFIG = 24,
    VHOST_USER_SET_CONFIG = 25,
    VHOST_USER_GET_INFLIGHT_FD = 31,
    VHOST_USER_SET_INFLIGHT_FD = 32,
    VHOST_USER_RESET_DEVICE = 34,
    VHOST_USER_GET_MAX_MEM_SLOTS = 36,
    VHOST_USER_ADD_MEM_REG = 37,
    VHOST_USER_REM_MEM_REG = 38,
    VHOST_USER_SET_STATUS = 39,
    VHOST_USER_GET_STATUS = 40,
    VHOST_USER_MAX_REQUEST = 40,
};

#define VHOST_USER_PROTOCOL_F_MQ 0
#define VHOST_USER_PROTOCOL_F_LOG_SHMFD 1
#define VHOST_USER_PROTOCOL_F_RARP 2
#define VHOST_USER_PROTOCOL_F_REPLY_ACK 3
#define VHOST_USER_PROTOCOL_F_BACKEND_REQ 5
#define VHOST_USER_PROTOCOL_F_CONFIG 9
#define VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD 12
#define VHOST_USER_PROTOCOL_F_RESET_DEVICE 13
#define VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS 15
#define VHOST_USER_PROTOCOL_F_STATUS 16

#define VHOST_F_LOG_ALL 26
#define VHOST_VRING_F_LOG 0

#define VHOST_USER_VERSION 0x1u
#define VHOST_USER_VERSION_MASK 0x3u
#define VHOST_USER_REPLY_MASK (1u << 2)
#define VHOST_USER_NEED_REPLY_MASK (1u << 3)
#define VHOST_USER_KNOWN_FLAGS (VHOST_USER_VERSION_MASK | VHOST_USER_REPLY_MASK | VHOST_USER_NEED_REPLY_MASK)

#define VHOST_USER_VRING_IDX_MASK 0xffull
#define VHOST_USER_VRING_NOFD_MASK (1ull << 8)

#define VHOST_USER_MAX_FDS 8
#define VHOST_USER_MEM_TABLE_MAX 8 /* regions in one SET_MEM_TABLE */
#define VHOST_USER_CONFIG_HDR 12
#define VHOST_USER_MAX_CONFIG 256

struct vhu_hdr {
    uint32_t request;
    uint32_t flags;
    uint32_t size;
};

struct vhu_vring_state {
    uint32_t index;
    uint32_t num;
};

struct vhu_vring_addr {
    uint32_t index;
    uint32_t flags;
    uint64_t desc;
    uint64_t used;
    uint64_t avail;
    uint64_t log;
};

struct vhu_mem_region {
    uint64_t gpa;
    uint64_t size;
    uint64_t uva;
    uint64_t mmap_offset;
};

struct vhu_mem_table {
    uint32_t nregions;
    uint32_t padding;
    struct vhu_mem_region r[VHOST_USER_MEM_TABLE_MAX];
};

struct vhu_mem_single {
    uint64_t padding;
    struct vhu_mem_region r;
};

struct vhu_log {
    uint64_t size;
    uint64_t offset;
};

struct vhu_config {
    uint32_t offset;
    uint32_t size;
    uint32_t flags;
    uint8_t data[VHOST_USER_MAX_CONFIG];
};

struct vhu_inflight {
    uint64_t mmap_size;
    uint64_t mmap_offset;
    uint16_t num_queues;
    uint16_t queue_size;
};

union vhu_payload {
    uint64_t u64;
    struct vhu_vring_state state;
    struct vhu_vring_addr addr;
    struct vhu_mem_table mem;
    struct vhu_mem_single mreg;
    struct vhu_log log;
    struct vhu_config cfg;
    struct vhu_inflight inflight;
};

#define VHOST_USER_HDR_SIZE ((uint32_t)sizeof(struct vhu_hdr))
#define VHOST_USER_MAX_PAYLOAD ((uint32_t)sizeof(union vhu_payload))

/* In memory the payload is 8-byte aligned after the header; on the wire it
 * follows the header directly (see vhost_conn.c). */
struct vhu_msg {
    struct vhu_hdr hdr;
    union vhu_payload p;
};

enum vhu_size_rule {
    VHU_SIZE_EXACT,    /* size == spec size */
    VHU_SIZE_MEMTABLE, /* 8 + nregions * 32, 1 <= nregions <= 8 */
    VHU_SIZE_CONFIG,   /* 12 + cfg.size, cfg.size <= 256 */
};

enum vhu_fd_rule {
    VHU_FD_NONE,     /* no fds */
    VHU_FD_ONE,      /* exactly one */
    VHU_FD_THREE,    /* exactly three (VPRI_SET_CHANNEL) */
    VHU_FD_VRING,    /* one unless VHOST_USER_VRING_NOFD_MASK is set in the u64, then none */
    VHU_FD_REGIONS,  /* one per region of the memory table */
    VHU_FD_OPTIONAL, /* zero or one (REM_MEM_REG: tolerated, closed unused) */
};

struct vhu_msg_spec {
    const char *name;
    enum vhu_size_rule size_rule;
    uint32_t size;
    enum vhu_fd_rule fd_rule;
    bool has_reply; /* the protocol defines a reply body (REPLY_ACK adds none) */
};

/* Rule for a request id, NULL when we do not support it (defined next to the
 * dispatch table in vhost_dev.c). */
const struct vhu_msg_spec *vhost_msg_spec(uint32_t request);
/* Printable name ("UNKNOWN" for unsupported ids). */
const char *vhost_msg_name(uint32_t request);

/* Header alone: version, flags, size <= VHOST_USER_MAX_PAYLOAD. Checked as
 * soon as the header arrives, before the payload is read.
 * Returns 0 or -1 with a reason in why. */
int vhu_hdr_check(const struct vhu_hdr *h, char *why, size_t whylen);

/* Whole message: payload size and fd count against spec (NULL: unknown
 * request, always an error). msg->hdr.size bytes of payload are present. */
int vhu_msg_check(const struct vhu_msg_spec *spec, const struct vhu_msg *msg, unsigned nfds,
                 char *why, size_t whylen);

#endif
