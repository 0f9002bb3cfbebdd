#include "vu_net.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "vu_front.h"
#include "vu_proto.h"
#include "vu_vring.h"

/* What an outstanding buffer stands for: the vring's token points here. */
struct vu_net_ctx {
    uint64_t tag;
    uint32_t len;
};

struct vu_net_q {
    struct vu_vring vr;
    struct vu_net_ctx *ctx;
    uint16_t *free_stack;
    uint16_t free_top;
};

struct vu_net {
    struct vu_conn *conn;
    struct vu_mem *mem;
    uint64_t features, protocol_features;
    uint16_t qsize;
    uint8_t mac[6];
    uint64_t hdr_gpa; /* the all-zero transmit header every tx chain starts with */
    struct vu_net_q q[2];
    bool started;
};

static const uint64_t WANT_FEATURES = (1ull << VIRTIO_F_VERSION_1) |
                                      (1ull << VHOST_USER_F_PROTOCOL_FEATURES) |
                                      (1ull << VIRTIO_RING_F_EVENT_IDX) | (1ull << VU_NET_F_MAC);
static const uint64_t WANT_PROTOCOL = (1ull << VU_PF_REPLY_ACK) | (1ull << VU_PF_CONFIG) |
                                      (1ull << VU_PF_STATUS);

static bool has(uint64_t f, unsigned bit) { return (f >> bit) & 1; }

static int set_status(struct vu_net *n, uint8_t s)
{
    return has(n->protocol_features, VU_PF_STATUS) ? vu_set_status(n->conn, s) : 0;
}

static int negotiate(struct vu_net *n, const struct vu_net_cfg *cfg)
{
    uint64_t offered;
    int r = vu_set_owner(n->conn);
    if (!r)
        r = vu_get_features(n->conn, &offered);
    if (r)
        return r;
    if (!has(offered, VIRTIO_F_VERSION_1)) {
        LOG_ERR("vu_net", "backend does not offer VIRTIO_F_VERSION_1 (features 0x%llx)",
                (unsigned long long)offered);
        return -ENOTSUP;
    }
    n->features = offered & WANT_FEATURES;
    if (has(n->features, VHOST_USER_F_PROTOCOL_FEATURES)) {
        uint64_t pf, want = WANT_PROTOCOL;
        if (cfg->vpri)
            want |= 1ull << VHOST_USER_PROTOCOL_F_VPRI;
        r = vu_get_protocol_features(n->conn, &pf);
        if (!r && cfg->vpri && !has(pf, VHOST_USER_PROTOCOL_F_VPRI)) {
            LOG_ERR("vu_net", "backend does not offer VPRI (protocol features 0x%llx)",
                    (unsigned long long)pf);
            return -ENOTSUP;
        }
        if (!r)
            r = vu_set_protocol_features(n->conn, pf & want);
        if (r)
            return r;
        n->protocol_features = pf & want;
    } else if (cfg->vpri) {
        LOG_ERR("vu_net", "VPRI needs PROTOCOL_FEATURES, which the backend does not offer");
        return -ENOTSUP;
    }
    memcpy(n->mac, (uint8_t[]){0x02, 0, 0, 0, 0, 0}, 6);
    if (has(n->features, VU_NET_F_MAC) && has(n->protocol_features, VU_PF_CONFIG)) {
        r = vu_get_config(n->conn, 0, n->mac, 6);
        if (r)
            return r;
    }
    r = set_status(n, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    if (!r)
        r = vu_set_features(n->conn, n->features);
    if (!r)
        r = set_status(n, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                              VIRTIO_STATUS_FEATURES_OK);
    return r;
}

static int setup_queue(struct vu_net *n, unsigned qi)
{
    struct vu_net_q *q = &n->q[qi];
    struct vu_vring_cfg rc = {.num = n->qsize,
                              .event_idx = has(n->features, VIRTIO_RING_F_EVENT_IDX)};
    int r = vu_vring_init_cfg(&q->vr, n->mem, &rc);
    if (r)
        return r;
    q->ctx = calloc(n->qsize, sizeof(*q->ctx));
    q->free_stack = calloc(n->qsize, sizeof(*q->free_stack));
    if (!q->ctx || !q->free_stack)
        return -ENOMEM;
    for (unsigned i = 0; i < n->qsize; i++)
        q->free_stack[i] = (uint16_t)i;
    q->free_top = n->qsize;
    /* The driver polls: no interrupts wanted. */
    vu_vring_disable_cb(&q->vr);
    uint64_t base = (uint64_t)(uintptr_t)n->mem->base;
    r = vu_set_vring_num(n->conn, qi, n->qsize);
    if (!r)
        r = vu_set_vring_base(n->conn, qi, vu_vring_start_base(&q->vr));
    if (!r)
        r = vu_set_vring_addr(n->conn, qi, base + q->vr.desc_gpa, base + q->vr.used_gpa,
                              base + q->vr.avail_gpa);
    if (!r)
        r = vu_set_vring_call(n->conn, qi, q->vr.call_fd);
    if (!r)
        r = vu_set_vring_kick(n->conn, qi, q->vr.kick_fd);
    if (!r && has(n->features, VHOST_USER_F_PROTOCOL_FEATURES))
        r = vu_set_vring_enable(n->conn, qi, true);
    return r;
}

int vu_net_open(const struct vu_net_cfg *cfg, struct vu_net **out)
{
    uint16_t qs = cfg->queue_size ? cfg->queue_size : 256;
    if (!cfg->mem || qs > VIRTQ_MAX_SIZE || (qs & (qs - 1))) {
        LOG_ERR("vu_net", "guest memory is required and the ring size (%u) must be a power "
                "of two up to %u", qs, VIRTQ_MAX_SIZE);
        return -EINVAL;
    }
    struct vu_net *n = calloc(1, sizeof(*n));
    if (!n)
        return -ENOMEM;
    n->mem = cfg->mem;
    n->qsize = qs;
    for (unsigned i = 0; i < 2; i++)
        n->q[i].vr.kick_fd = n->q[i].vr.call_fd = -1;
    int r = -ENOMEM;
    void *hdr = vu_mem_alloc(n->mem, VU_NET_HDR_LEN, 64);
    if (!hdr)
        goto fail;
    memset(hdr, 0, VU_NET_HDR_LEN);
    n->hdr_gpa = vu_mem_gpa(n->mem, hdr, VU_NET_HDR_LEN);
    unsigned to = cfg->connect_timeout_ms ? cfg->connect_timeout_ms : 5000;
    r = vu_conn_connect(cfg->socket, to, &n->conn);
    if (!r)
        r = negotiate(n, cfg);
    if (r)
        goto fail;
    struct vu_mem_region reg = {.gpa = 0, .size = n->mem->size,
                                .uaddr = (uint64_t)(uintptr_t)n->mem->base, .mmap_offset = 0,
                                .fd = n->mem->fd};
    r = vu_set_mem_table(n->conn, &reg, 1);
    if (!r && cfg->vpri)
        r = vu_vpri_send(cfg->vpri, n->conn);
    for (unsigned i = 0; !r && i < 2; i++)
        r = setup_queue(n, i);
    n->started = r == 0;
    if (!r)
        r = set_status(n, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                              VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
    if (r)
        goto fail;
    *out = n;
    return 0;
fail:
    LOG_ERR("vu_net", "start-up with backend %s failed: %s", cfg->socket, strerror(-r));
    vu_net_close(n);
    return r;
}

void vu_net_close(struct vu_net *n)
{
    if (!n)
        return;
    /* Bounded, but above the 5 s the daemon may wait for a parked tx chain
     * before it answers GET_VRING_BASE. */
    if (n->conn)
        vu_conn_set_reply_timeout(n->conn, 10000);
    for (unsigned i = 0; i < 2; i++) {
        if (n->started && n->conn) {
            unsigned base;
            if (has(n->features, VHOST_USER_F_PROTOCOL_FEATURES))
                vu_set_vring_enable(n->conn, i, false);
            vu_get_vring_base(n->conn, i, &base);
        }
        vu_vring_destroy(&n->q[i].vr);
        free(n->q[i].ctx);
        free(n->q[i].free_stack);
    }
    vu_conn_close(n->conn);
    free(n);
}

uint64_t vu_net_features(const struct vu_net *n) { return n->features; }
const uint8_t *vu_net_mac(const struct vu_net *n) { return n->mac; }
uint16_t vu_net_queue_size(const struct vu_net *n) { return n->qsize; }

/* Places one chain; the context carries tag and buffer length. */
static int add(struct vu_net *n, unsigned qi, const struct vu_sg *sg, unsigned n_out,
               unsigned n_in, uint64_t tag, uint32_t len)
{
    struct vu_net_q *q = &n->q[qi];
    if (q->free_top == 0)
        return -ENOSPC;
    struct vu_net_ctx *c = &q->ctx[q->free_stack[q->free_top - 1]];
    c->tag = tag;
    c->len = len;
    int r = vu_vring_add(&q->vr, sg, n_out, n_in, c);
    if (r < 0)
        return r;
    q->free_top--;
    return 0;
}

static void put_back(struct vu_net_q *q, struct vu_net_ctx *c)
{
    q->free_stack[q->free_top++] = (uint16_t)(c - q->ctx);
}

int vu_net_rx_post(struct vu_net *n, void *buf, uint32_t len, uint64_t tag)
{
    uint64_t gpa = len ? vu_mem_gpa(n->mem, buf, len) : UINT64_MAX;
    if (gpa == UINT64_MAX || len < VU_NET_HDR_LEN + 14)
        return -EINVAL;
    struct vu_sg sg = {gpa, len};
    return add(n, VU_NET_RXQ, &sg, 0, 1, tag, len);
}

int vu_net_rx_reap(struct vu_net *n, struct vu_net_rx *out, unsigned max)
{
    struct vu_net_q *q = &n->q[VU_NET_RXQ];
    unsigned k = 0;
    while (k < max) {
        void *tok;
        uint32_t len;
        int r = vu_vring_get_used(&q->vr, &tok, &len);
        if (r <= 0)
            return r < 0 ? r : (int)k;
        struct vu_net_ctx *c = tok;
        put_back(q, c);
        if (len && len < VU_NET_HDR_LEN + 14) {
            LOG_ERR("vu_net", "device wrote %u bytes into an rx buffer: less than the header "
                    "and an Ethernet header", len);
            q->vr.broken = true;
            return -EPROTO;
        }
        out[k++] = (struct vu_net_rx){c->tag, len ? len - VU_NET_HDR_LEN : 0};
    }
    return (int)k;
}

int vu_net_tx(struct vu_net *n, const void *frame, uint32_t len, uint64_t tag)
{
    uint64_t gpa = len ? vu_mem_gpa(n->mem, frame, len) : UINT64_MAX;
    if (gpa == UINT64_MAX || len < 14)
        return -EINVAL;
    struct vu_sg sg[2] = {{n->hdr_gpa, VU_NET_HDR_LEN}, {gpa, len}};
    return add(n, VU_NET_TXQ, sg, 2, 0, tag, len);
}

int vu_net_tx_kick(struct vu_net *n)
{
    int r = vu_vring_kick(&n->q[VU_NET_TXQ].vr);
    return r < 0 ? r : 0;
}

int vu_net_tx_reap(struct vu_net *n, uint64_t *tags, unsigned max)
{
    struct vu_net_q *q = &n->q[VU_NET_TXQ];
    unsigned k = 0;
    while (k < max) {
        void *tok;
        uint32_t len;
        int r = vu_vring_get_used(&q->vr, &tok, &len);
        if (r <= 0)
            return r < 0 ? r : (int)k;
        struct vu_net_ctx *c = tok;
        put_back(q, c);
        tags[k++] = c->tag;
    }
    return (int)k;
}

unsigned vu_net_tx_outstanding(const struct vu_net *n)
{
    return (unsigned)(n->qsize - n->q[VU_NET_TXQ].free_top);
}
