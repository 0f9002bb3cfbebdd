/* The dispatch table (one entry per supported request: wire rule + handler),
 * the per-message step, and the messages about the device as a whole:
 * features, ownership, config space, status, reset.
 *
 * Unknown request ids stop the device: every protocol extension is gated by
 * a feature bit, so a request we do not know means the frontend assumes a
 * feature we never offered, and nothing it sends after that can be trusted
 * (the spec lets the backend close the connection on such errors). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/util.h"
#include "../vpri/vpri_abi.h"
#include "vhost_int.h"

int vhu_err(struct vhost_dev *v, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->err, sizeof(v->err), fmt, ap);
    va_end(ap);
    return VHU_FATAL;
}

uint64_t vhu_offered_features(struct vhost_dev *v)
{
    /* No IOTLB: never offer what the engine lacks. */
    uint64_t dev = v->dev->ops->features(v->dev) & ~(1ull << VIRTIO_F_ACCESS_PLATFORM);
    return dev | (1ull << VHOST_USER_F_PROTOCOL_FEATURES) | (1ull << VHOST_F_LOG_ALL);
}

/* Not CONFIGURE_MEM_SLOTS: QEMU 7.2 that negotiated it keeps its record
 * of the regions the backend holds across a reconnect, so a sidecored
 * restarted while the guest's driver was unbound (or reset) got no region
 * at all when the driver came back, and the guest hung (h11). With the
 * whole table (SET_MEM_TABLE, up to 8 regions) every start sends it. Its
 * messages (ADD/REM_MEM_REG) are still served, for frontends that
 * negotiated it with an earlier sidecored. */
uint64_t vhu_offered_protocol_features(struct vhost_dev *v)
{
    return (v->vpri_offer ? 1ull << VHOST_USER_PROTOCOL_F_VPRI : 0) |
           (1ull << VHOST_USER_PROTOCOL_F_MQ) | (1ull << VHOST_USER_PROTOCOL_F_LOG_SHMFD) |
           (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK) | (1ull << VHOST_USER_PROTOCOL_F_CONFIG) |
           (1ull << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD) |
           (1ull << VHOST_USER_PROTOCOL_F_RESET_DEVICE) |
           (1ull << VHOST_USER_PROTOCOL_F_STATUS) | (1ull << VHOST_USER_PROTOCOL_F_BACKEND_REQ) |
           (v->dev->ops->announce ? 1ull << VHOST_USER_PROTOCOL_F_RARP : 0);
}

bool vhu_has_proto(struct vhost_dev *v, unsigned bit)
{
    return (v->protocol_features >> bit) & 1;
}

static void reply_u64(struct vhu_reply *r, uint64_t val)
{
    r->p.u64 = val;
    r->size = sizeof(r->p.u64);
}

static int h_get_features(struct vhost_dev *v, struct vhu_msg *m, int *fds, unsigned nfds,
                          struct vhu_reply *r)
{
    (void)m, (void)fds, (void)nfds;
    reply_u64(r, vhu_offered_features(v));
    return VHU_OK;
}

static const uint64_t transport_bits =
    (1ull << VHOST_USER_F_PROTOCOL_FEATURES) | (1ull << VHOST_F_LOG_ALL);

bool vhu_features_change_device(const struct vhost_dev *v, uint64_t f)
{
    /* Toggling LOG_ALL during migration resends the same device bits. */
    return !v->features_set || ((f ^ v->features) & ~transport_bits);
}

static int h_set_features(struct vhost_dev *v, struct vhu_msg *m, int *fds, unsigned nfds,
                          struct vhu_reply *r)
{
    uint64_t offered = vhu_offered_features(v), f = m->p.u64;
    (void)fds, (void)nfds, (void)r;

    if (f & ~offered)
        return vhu_err(v, "features 0x%llx include bits 0x%llx that were not offered",
                      (unsigned long long)f, (unsigned long long)(f & ~offered));
    if ((f & (1ull << VHOST_USER_F_PROTOCOL_FEATURES)) && !v->protocol_set) {
        /* QEMU reconnecting to a device its driver has not started yet
         * (a paused VM, a migration's destination) skips the handshake and
         * goes on with what it negotiated with the daemon before us: the
         * same offer, ours being the same program. Every protocol feature
         * only lets the frontend send a message, and it sends only what it
         * negotiated, so taking the offer refuses nothing it may send. */
        v->protocol_features =
            vhu_offered_protocol_features(v) & ~(1ull << VHOST_USER_PROTOCOL_F_VPRI);
        v->protocol_set = true;
        LOG_INFO(VHU_COMP, "%s: the frontend goes on without negotiating protocol features "
                 "(agreed with an earlier sidecored): taking those offered, 0x%llx",
                 v->dev->name, (unsigned long long)v->protocol_features);
    }
    bool dev_changed = vhu_features_change_device(v, f);
    v->features = f;
    v->features_set = true;
    vhu_log_apply(v);
    if (dev_changed) {
        LOG_INFO(VHU_COMP, "%s: features 0x%llx (%s rings%s)", v->dev->name,
                 (unsigned long long)f, vhu_packed(v) ? "packed" : "split",
                 (f & (1ull << VIRTIO_F_IN_ORDER)) ? ", in order" : "");
        /* The data path reads the negotiated bits (header length, ring
         * layout, event index) without locks: change them only while no
         * sidecore runs a queue of this device. */
        vhu_queues_pause(v, v->paused);
        int rc = v->dev->ops->set_features(v->dev, f & ~transport_bits);
        if (rc != 0)
            return vhu_err(v, "the device refused features 0x%llx (error %d)",
                          (unsigned long long)(f & ~transport_bits), rc);
        return vhu_queues_resume(v, v->paused);
    }
    return VHU_OK;
}

static int h_get_protocol_features(struct vhost_dev *v, struct vhu_msg *m, int *fds,
                                   unsigned nfds, struct vhu_reply *r)
{
    (void)m, (void)fds, (void)nfds;
    reply_u64(r, vhu_offered_protocol_features(v));
    return VHU_OK;
}

static int h_set_protocol_features(struct vhost_dev *v, struct vhu_msg *m, int *fds,
                                   unsigned nfds, struct vhu_reply *r)
{
    uint64_t offered = vhu_offered_protocol_features(v), f = m->p.u64;
    (void)fds, (void)nfds, (void)r;

    if (f & ~offered)
        return vhu_err(v, "protocol features 0x%llx include bits 0x%llx that were not offered",
                      (unsigned long long)f, (unsigned long long)(f & ~offered));
    v->protocol_features = f;
    v->protocol_set = true;
    return VHU_OK;
}

static int h_set_owner(struct vhost_dev *v, struct vhu_msg *m, int *fds, unsigned nfds,
                       struct vhu_reply *r)
{
    (void)v, (void)m, (void)fds, (void)nfds, (void)r;
    return VHU_OK;
}

/* After a live migration, for guests that cannot announce themselves: the
 * payload's first 6 bytes are the guest's MAC address. */
static int h_send_rarp(struct vhost_dev *v, struct vhu_msg *m, int *fds, unsigned nfds,
                       struct vhu_reply *r)
{
    uint8_t mac[6];
    (void)fds, (void)nfds, (void)r;

    if (!vhu_has_proto(v, VHOST_USER_PROTOCOL_F_RARP))
        return vhu_err(v, "RARP was not negotiated");
    memcpy(mac, &m->p.u64, sizeof(mac));
    if (mac[0] & 1)
        return vhu_err(v, "MAC address %02x:%02x:%02x:%02x:%02x:%02x is a multicast address",
                      mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
    int rc = v->dev->ops->announce(v->dev, mac);
    if (rc < 0) {
        snprintf(v->err, sizeof(v->err), "the device cannot announce the address: %s",
                 strerror(-rc));
        return VHU_REFUSED;
    }
    return VHU_OK;
}

/* Deprecated; the spec recommends treating it as "disable all rings". */
static int h_reset_owner(struct vhost_dev *v, struct vhu_msg *m, int *fds, unsigned nfds,
                         struct vhu_reply *r)
{
    (void)m, (void)fds, (void)nfds, (void)r;
    for (uint16_t i = 0; i < v->nq; i++) {
        vhu_queue_stop(v, i);
        v->q[i].enable_set = true;
        v->q[i].enabled = false;
    }
    return VHU_OK;
}

static int h_get_queue_num(struct vhost_dev *v, struct vhu_msg *m, int *fds, unsigned nfds,
                           struct vhu_reply *r)
{
    (void)m, (void)fds, (void)nfds;
    reply_u64(r, v->nq);
    return VHU_OK;
}

static int h_get_max_mem_slots(struct vhost_dev *v, struct vhu_msg *m, int *fds, unsigned nfds,
                               struct vhu_reply *r)
{
    (void)v, (void)m, (void)fds, (void)nfds;
    reply_u64(r, GM_MAX_REGIONS);
    return VHU_OK;
}

/* Frontends size config reads by their own headers' struct, which may be
 * longer than ours (newer virtio fields): bytes past our config space read as
 * zero, as for features not offered. Only a range past the protocol's 256-byte
 * config window is an error. */
static int check_config_window(struct vhost_dev *v, const struct vhu_config *c)
{
    if (c->offset > VHOST_USER_MAX_CONFIG || c->size > VHOST_USER_MAX_CONFIG - c->offset)
        return vhu_err(v, "config range [%u, +%u) is outside the %u-byte config window",
                      c->offset, c->size, VHOST_USER_MAX_CONFIG);
    return VHU_OK;
}

static int h_get_config(struct vhost_dev *v, struct vhu_msg *m, int *fds, unsigned nfds,
                        struct vhu_reply *r)
{
    const struct vhu_config *c = &m->p.cfg;
    (void)fds, (void)nfds;

    if (check_config_window(v, c) != VHU_OK)
        return VHU_FATAL;
    r->p.cfg.offset = c->offset;
    r->p.cfg.size = c->size;
    r->p.cfg.flags = c->flags;
    memset(r->p.cfg.data, 0, c->size);
    uint32_t cs = v->dev->ops->config_size(v->dev);
    /* Frontends read the config struct they know, which may be newer than
     * the device's (the rest reads as zeros), but the usual reason for
     * reading far past it is a frontend of another device type: QEMU
     * realizes a disk on a NIC's socket without a word, and the guest
     * hangs. Said once per connection. */
    if (c->offset + c->size > cs && !v->config_told) {
        v->config_told = true;
        LOG_WARN(VHU_COMP, "%s: the frontend reads config bytes [%u, %u) of this %s device, "
                 "which has %u (the rest reads as zeros): is the frontend a %s device?",
                 v->dev->name, c->offset, c->offset + c->size, v->dev->ops->type, cs,
                 v->dev->ops->type);
    }
    if (c->offset < cs) {
        uint32_t n = c->size < cs - c->offset ? c->size : cs - c->offset;
        v->dev->ops->get_config(v->dev, r->p.cfg.data, c->offset, n);
    }
    r->size = VHOST_USER_CONFIG_HDR + c->size;
    return VHU_OK;
}

static int h_set_config(struct vhost_dev *v, struct vhu_msg *m, int *fds, unsigned nfds,
                        struct vhu_reply *r)
{
    const struct vhu_config *c = &m->p.cfg;
    (void)fds, (void)nfds, (void)r;

    if (c->flags > 1)
        return vhu_err(v, "unknown config flags 0x%x", c->flags);
    if (check_config_window(v, c) != VHU_OK)
        return VHU_FATAL;
    /* A guest writing a read-only or absent field is refused, not a broken
     * frontend. */
    uint32_t cs = v->dev->ops->config_size(v->dev);
    int rc = c->offset > cs || c->size > cs - c->offset
                 ? -1
                 : v->dev->ops->set_config(v->dev, c->data, c->offset, c->size);
    if (rc != 0) {
        snprintf(v->err, sizeof(v->err), "the device refused a config write at [%u, +%u)",
                 c->offset, c->size);
        return VHU_REFUSED;
    }
    return VHU_OK;
}

static int h_set_status(struct vhost_dev *v, struct vhu_msg *m, int *fds, unsigned nfds,
                        struct vhu_reply *r)
{
    (void)fds, (void)nfds, (void)r;
    if (m->p.u64 > 0xff)
        return vhu_err(v, "status 0x%llx does not fit the 8-bit virtio status",
                      (unsigned long long)m->p.u64);
    uint8_t keep = vdev_is_broken(v->dev) ? VIRTIO_STATUS_NEEDS_RESET : 0;
    atomic_store(&v->dev->status, (uint8_t)m->p.u64 | keep);
    return VHU_OK;
}

static int h_get_status(struct vhost_dev *v, struct vhu_msg *m, int *fds, unsigned nfds,
                        struct vhu_reply *r)
{
    (void)m, (void)fds, (void)nfds;
    reply_u64(r, atomic_load(&v->dev->status));
    return VHU_OK;
}

static int h_reset_device(struct vhost_dev *v, struct vhu_msg *m, int *fds, unsigned nfds,
                          struct vhu_reply *r)
{
    (void)m, (void)fds, (void)nfds, (void)r;
    vhu_queues_reset(v);
    v->dev->ops->reset(v->dev);
    vhu_inflight_forget(v);
    v->features = 0;
    v->features_set = false;
    atomic_store(&v->dev->status, 0);
    return VHU_OK;
}

struct vhu_entry {
    struct vhu_msg_spec spec;
    vhu_handler fn;
};

#define E(id, size_rule, size, fd_rule, reply, fn)                                        \
    [VHOST_USER_##id] = {{#id, size_rule, size, fd_rule, reply}, fn}

static const struct vhu_entry table[VHOST_USER_MAX_REQUEST + 1] = {
    E(GET_FEATURES, VHU_SIZE_EXACT, 0, VHU_FD_NONE, true, h_get_features),
    E(SET_FEATURES, VHU_SIZE_EXACT, 8, VHU_FD_NONE, false, h_set_features),
    E(SET_OWNER, VHU_SIZE_EXACT, 0, VHU_FD_NONE, false, h_set_owner),
    E(RESET_OWNER, VHU_SIZE_EXACT, 0, VHU_FD_NONE, false, h_reset_owner),
    E(SET_MEM_TABLE, VHU_SIZE_MEMTABLE, 0, VHU_FD_REGIONS, false, vhu_h_set_mem_table),
    E(SET_LOG_BASE, VHU_SIZE_EXACT, 16, VHU_FD_ONE, true, vhu_h_set_log_base),
    E(SET_LOG_FD, VHU_SIZE_EXACT, 0, VHU_FD_ONE, false, vhu_h_set_log_fd),
    E(SET_VRING_NUM, VHU_SIZE_EXACT, 8, VHU_FD_NONE, false, vhu_h_set_vring_num),
    E(SET_VRING_ADDR, VHU_SIZE_EXACT, 40, VHU_FD_NONE, false, vhu_h_set_vring_addr),
    E(SET_VRING_BASE, VHU_SIZE_EXACT, 8, VHU_FD_NONE, false, vhu_h_set_vring_base),
    E(GET_VRING_BASE, VHU_SIZE_EXACT, 8, VHU_FD_NONE, true, vhu_h_get_vring_base),
    E(SET_VRING_KICK, VHU_SIZE_EXACT, 8, VHU_FD_VRING, false, vhu_h_set_vring_kick),
    E(SET_VRING_CALL, VHU_SIZE_EXACT, 8, VHU_FD_VRING, false, vhu_h_set_vring_call),
    E(SET_VRING_ERR, VHU_SIZE_EXACT, 8, VHU_FD_VRING, false, vhu_h_set_vring_err),
    E(GET_PROTOCOL_FEATURES, VHU_SIZE_EXACT, 0, VHU_FD_NONE, true, h_get_protocol_features),
    E(SET_PROTOCOL_FEATURES, VHU_SIZE_EXACT, 8, VHU_FD_NONE, false, h_set_protocol_features),
    E(GET_QUEUE_NUM, VHU_SIZE_EXACT, 0, VHU_FD_NONE, true, h_get_queue_num),
    E(SET_VRING_ENABLE, VHU_SIZE_EXACT, 8, VHU_FD_NONE, false, vhu_h_set_vring_enable),
    E(SEND_RARP, VHU_SIZE_EXACT, 8, VHU_FD_NONE, false, h_send_rarp),
    E(SET_BACKEND_REQ_FD, VHU_SIZE_EXACT, 0, VHU_FD_ONE, false, vhu_h_set_backend_req_fd),
    E(GET_CONFIG, VHU_SIZE_CONFIG, 0, VHU_FD_NONE, true, h_get_config),
    E(SET_CONFIG, VHU_SIZE_CONFIG, 0, VHU_FD_NONE, false, h_set_config),
    E(GET_INFLIGHT_FD, VHU_SIZE_EXACT, 24, VHU_FD_NONE, true, vhu_h_get_inflight_fd),
    E(SET_INFLIGHT_FD, VHU_SIZE_EXACT, 24, VHU_FD_ONE, false, vhu_h_set_inflight_fd),
    E(RESET_DEVICE, VHU_SIZE_EXACT, 0, VHU_FD_NONE, false, h_reset_device),
    E(GET_MAX_MEM_SLOTS, VHU_SIZE_EXACT, 0, VHU_FD_NONE, true, h_get_max_mem_slots),
    E(ADD_MEM_REG, VHU_SIZE_EXACT, 40, VHU_FD_ONE, false, vhu_h_add_mem_reg),
    E(REM_MEM_REG, VHU_SIZE_EXACT, 40, VHU_FD_OPTIONAL, false, vhu_h_rem_mem_reg),
    E(SET_STATUS, VHU_SIZE_EXACT, 8, VHU_FD_NONE, false, h_set_status),
    E(GET_STATUS, VHU_SIZE_EXACT, 0, VHU_FD_NONE, true, h_get_status),
};

/* Our own extension's ids lie far above QEMU's (docs/VPRI.md). */
static const struct vhu_entry vpri_table[] = {
    [VHOST_USER_VPRI_SET_MAP - VHOST_USER_VPRI_SET_MAP] =
        {{"VPRI_SET_MAP", VHU_SIZE_EXACT, sizeof(struct vpri_map_msg), VHU_FD_ONE, false},
         vhu_h_vpri_set_map},
    [VHOST_USER_VPRI_SET_CHANNEL - VHOST_USER_VPRI_SET_MAP] =
        {{"VPRI_SET_CHANNEL", VHU_SIZE_EXACT, sizeof(struct vpri_chan_msg), VHU_FD_THREE, false},
         vhu_h_vpri_set_channel},
};

static const struct vhu_entry *entry(uint32_t request)
{
    if (request < SC_ARRAY_SIZE(table))
        return table[request].fn ? &table[request] : NULL;
    if (request - VHOST_USER_VPRI_SET_MAP < SC_ARRAY_SIZE(vpri_table))
        return &vpri_table[request - VHOST_USER_VPRI_SET_MAP];
    return NULL;
}

const struct vhu_msg_spec *vhost_msg_spec(uint32_t request)
{
    const struct vhu_entry *e = entry(request);
    return e ? &e->spec : NULL;
}

static void reply_failed(struct vhost_dev *v, int rc)
{
    if (rc == -EAGAIN)
        snprintf(v->err, sizeof(v->err), "the frontend does not read its replies (its socket "
                                         "is full)");
    else
        snprintf(v->err, sizeof(v->err), "sending the reply failed: %s", strerror(-rc));
}

static int send_reply(struct vhost_dev *v, uint32_t request, struct vhu_reply *r)
{
    int rc = vhu_conn_send(&v->conn, request, &r->p, r->size, r->fds, r->nfds);
    if (rc < 0)
        reply_failed(v, rc);
    return rc;
}

int vhu_dispatch(struct vhost_dev *v)
{
    struct vhu_msg *m = &v->conn.msg;
    uint32_t req = m->hdr.request;
    const struct vhu_msg_spec *spec = vhost_msg_spec(req);
    const char *name = vhost_msg_name(req);
    bool need_ack = (m->hdr.flags & VHOST_USER_NEED_REPLY_MASK) && !(spec && spec->has_reply);
    struct vhu_reply r = {.fds = {-1}};
    int rc, sent = 0;

    v->messages++;
    v->err[0] = '\0';
    LOG_DEBUG(VHU_COMP, "%s: %s size %u fds %u", v->dev->name, name, m->hdr.size, v->conn.nfds);
    if (vhu_msg_check(spec, m, v->conn.nfds, v->err, sizeof(v->err)) < 0)
        rc = VHU_FATAL;
    else
        rc = entry(req)->fn(v, m, v->conn.fds, v->conn.nfds, &r);

    if (rc == VHU_REFUSED)
        LOG_WARN(VHU_COMP, "%s: %s refused: %s", v->dev->name, name, v->err);
    if (need_ack) {
        uint64_t ack = rc == VHU_OK ? 0 : 1;
        sent = vhu_conn_send(&v->conn, req, &ack, sizeof(ack), NULL, 0);
        if (sent < 0 && rc != VHU_FATAL)
            reply_failed(v, sent);
    } else if (spec && spec->has_reply && rc != VHU_FATAL) {
        sent = send_reply(v, req, &r);
    }
    for (unsigned i = 0; i < r.nfds; i++)
        close(r.fds[i]);
    if (rc == VHU_FATAL || sent < 0) {
        vhu_fail(v, 0, name, v->err);
        return -1;
    }
    return 0;
}
