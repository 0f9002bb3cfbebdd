#include "vhost_msg.h"

#include <stdio.h>

_Static_assert(sizeof(struct vhu_hdr) == 12, "vhost-user header is 12 bytes");
_Static_assert(sizeof(struct vhu_vring_addr) == 40, "vring address description");
_Static_assert(sizeof(struct vhu_mem_region) == 32, "memory region description");
_Static_assert(sizeof(struct vhu_mem_single) == 40, "single memory region description");
_Static_assert(sizeof(struct vhu_inflight) == 24, "inflight description as QEMU sends it");

const char *vhost_msg_name(uint32_t request)
{
    const struct vhu_msg_spec *s = vhost_msg_spec(request);
    return s ? s->name : "UNKNOWN";
}

int vhu_hdr_check(const struct vhu_hdr *h, char *why, size_t whylen)
{
    if ((h->flags & VHOST_USER_VERSION_MASK) != VHOST_USER_VERSION) {
        snprintf(why, whylen, "protocol version %u, expected %u",
                 h->flags & VHOST_USER_VERSION_MASK, VHOST_USER_VERSION);
        return -1;
    }
    if (h->flags & VHOST_USER_REPLY_MASK) {
        snprintf(why, whylen, "reply flag set on a request");
        return -1;
    }
    if (h->flags & ~VHOST_USER_KNOWN_FLAGS) {
        snprintf(why, whylen, "unknown flags 0x%x", h->flags & ~VHOST_USER_KNOWN_FLAGS);
        return -1;
    }
    if (h->size > VHOST_USER_MAX_PAYLOAD) {
        snprintf(why, whylen, "payload size %u exceeds the maximum %u", h->size,
                 VHOST_USER_MAX_PAYLOAD);
        return -1;
    }
    return 0;
}

static int check_size(const struct vhu_msg_spec *s, const struct vhu_msg *m, char *why,
                      size_t whylen)
{
    uint32_t size = m->hdr.size;

    switch (s->size_rule) {
    case VHU_SIZE_EXACT:
        if (size != s->size) {
            snprintf(why, whylen, "payload is %u bytes, expected %u", size, s->size);
            return -1;
        }
        return 0;
    case VHU_SIZE_MEMTABLE: {
        uint32_t n;
        if (size < 8) {
            snprintf(why, whylen, "payload is %u bytes, too short for a memory table", size);
            return -1;
        }
        n = m->p.mem.nregions;
        if (n == 0 || n > VHOST_USER_MEM_TABLE_MAX) {
            snprintf(why, whylen, "%u memory regions, expected 1..%u", n,
                     VHOST_USER_MEM_TABLE_MAX);
            return -1;
        }
        if (size != 8 + n * (uint32_t)sizeof(struct vhu_mem_region)) {
            snprintf(why, whylen, "payload is %u bytes, expected %u for %u regions", size,
                     8 + n * (uint32_t)sizeof(struct vhu_mem_region), n);
            return -1;
        }
        return 0;
    }
    case VHU_SIZE_CONFIG:
        if (size < VHOST_USER_CONFIG_HDR) {
            snprintf(why, whylen, "payload is %u bytes, too short for a config header", size);
            return -1;
        }
        if (m->p.cfg.size > VHOST_USER_MAX_CONFIG) {
            snprintf(why, whylen, "config size %u exceeds the maximum %u", m->p.cfg.size,
                     VHOST_USER_MAX_CONFIG);
            return -1;
        }
        if (size != VHOST_USER_CONFIG_HDR + m->p.cfg.size) {
            snprintf(why, whylen, "payload is %u bytes but the config size field says %u",
                     size, m->p.cfg.size);
            return -1;
        }
        return 0;
    }
    snprintf(why, whylen, "no size rule");
    return -1;
}

static int check_fds(const struct vhu_msg_spec *s, const struct vhu_msg *m, unsigned nfds,
                     char *why, size_t whylen)
{
    unsigned want;

    switch (s->fd_rule) {
    case VHU_FD_NONE:
        want = 0;
        break;
    case VHU_FD_ONE:
        want = 1;
        break;
    case VHU_FD_THREE:
        want = 3;
        break;
    case VHU_FD_VRING:
        want = (m->p.u64 & VHOST_USER_VRING_NOFD_MASK) ? 0 : 1;
        break;
    case VHU_FD_REGIONS:
        want = m->p.mem.nregions;
        break;
    case VHU_FD_OPTIONAL:
        if (nfds > 1) {
            snprintf(why, whylen, "%u file descriptors, expected at most 1", nfds);
            return -1;
        }
        return 0;
    default:
        snprintf(why, whylen, "no fd rule");
        return -1;
    }
    if (nfds != want) {
        snprintf(why, whylen, "%u file descriptors, expected %u", nfds, want);
        return -1;
    }
    return 0;
}

int vhu_msg_check(const struct vhu_msg_spec *spec, const struct vhu_msg *msg, unsigned nfds,
                 char *why, size_t whylen)
{
    if (!spec) {
        snprintf(why, whylen, "unsupported request id %u", msg->hdr.request);
        return -1;
    }
    if (check_size(spec, msg, why, whylen) < 0)
        return -1;
    return check_fds(spec, msg, nfds, why, whylen);
}
