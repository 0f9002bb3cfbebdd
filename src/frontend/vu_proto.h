/* vhost-user wire format as the frontend sends it (QEMU
 * docs/interop/vhost-user.rst). Message numbers, flag bits and payload
 * layouts only; no behaviour. Kept apart from src/vhost on purpose: the two
 * sides interoperate through the specification, not through shared code. */
#ifndef VU_PROTO_H
#define VU_PROTO_H

#include <stdint.h>

enum vu_req {
    VU_REQ_GET_FEATURES = 1,
    VU_REQ_SET_FEATURES = 2,
    VU_REQ_SET_OWNER = 3,
    VU_REQ_RESET_OWNER = 4,
    VU_REQ_SET_MEM_TABLE = 5,
    VU_REQ_SET_LOG_BASE = 6,
    VU_REQ_SET_VRING_NUM = 8,
    VU_REQ_SET_VRING_ADDR = 9,
    VU_REQ_SET_VRING_BASE = 10,
    VU_REQ_GET_VRING_BASE = 11,
    VU_REQ_SET_VRING_KICK = 12,
    VU_REQ_SET_VRING_CALL = 13,
    VU_REQ_SET_VRING_ERR = 14,
    VU_REQ_GET_PROTOCOL_FEATURES = 15,
    VU_REQ_SET_PROTOCOL_FEATURES = 16,
    VU_REQ_GET_QUEUE_NUM = 17,
    VU_REQ_SET_VRING_ENABLE = 18,
    VU_REQ_GET_CONFIG = 24,
    VU_REQ_SET_CONFIG = 25,
    VU_REQ_GET_MAX_MEM_SLOTS = 36,
    VU_REQ_SET_STATUS = 39,
    VU_REQ_GET_STATUS = 40,
};

/* Protocol feature bits. */
#define VU_PF_MQ 0
#define VU_PF_LOG_SHMFD 1
#define VU_PF_REPLY_ACK 3
#define VU_PF_CONFIG 9
#define VU_PF_INFLIGHT_SHMFD 12
#define VU_PF_STATUS 16

/* Dirty logging for migration: the transport feature bit and the ring
 * address flag that asks for used-ring writes to be logged too. */
#define VU_F_LOG_ALL 26
#define VU_VRING_F_LOG 0

/* Header flags. */
#define VU_FLAG_VERSION 0x1u
#define VU_FLAG_VERSION_MASK 0x3u
#define VU_FLAG_REPLY (1u << 2)
#define VU_FLAG_NEED_REPLY (1u << 3)

/* SET_VRING_KICK/CALL payload: ring index in bits 0-7, bit 8 = no fd. */
#define VU_VRING_IDX_MASK 0xffull
#define VU_VRING_NOFD (1ull << 8)

#define VU_MAX_FDS 8
#define VU_MAX_MEM_REGIONS 8
#define VU_CONFIG_MAX 256

struct vu_hdr {
    uint32_t request;
    uint32_t flags;
    uint32_t size;
} __attribute__((packed));

struct vu_vring_state {
    uint32_t index;
    uint32_t num;
};

struct vu_vring_addr {
    uint32_t index;
    uint32_t flags;
    uint64_t desc_user_addr;
    uint64_t used_user_addr;
    uint64_t avail_user_addr;
    uint64_t log_guest_addr;
};

struct vu_log_wire {
    uint64_t mmap_size;
    uint64_t mmap_offset;
};

struct vu_mem_region_wire {
    uint64_t guest_phys_addr;
    uint64_t memory_size;
    uint64_t userspace_addr;
    uint64_t mmap_offset;
};

struct vu_mem_table_wire {
    uint32_t nregions;
    uint32_t padding;
    struct vu_mem_region_wire regions[VU_MAX_MEM_REGIONS];
};

struct vu_config_wire {
    uint32_t offset;
    uint32_t size;
    uint32_t flags;
    uint8_t payload[VU_CONFIG_MAX];
};

union vu_payload {
    uint64_t u64;
    struct vu_vring_state state;
    struct vu_vring_addr addr;
    struct vu_mem_table_wire mem;
    struct vu_config_wire config;
};

#endif
