#include "vu_blk.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "vu_proto.h"

/* Per-request header, discard segment and status byte, in shared memory. */
struct vu_blk_wire {
    uint32_t type;
    uint32_t reserved;
    uint64_t sector;
    uint64_t seg_sector;
    uint32_t seg_num;
    uint32_t seg_flags;
    uint8_t status;
    uint8_t pad[31];
};

struct vu_blk_ctx {
    struct vu_blk_wire *w;
    uint64_t w_gpa;
    uint64_t tag;
    uint16_t next_free;
};

struct vu_blk_q {
    struct vu_vring vr;
    struct vu_blk_ctx *ctx;
    uint16_t free_top; /* stack of free ctx indices */
    uint16_t *free_stack;
};

struct vu_blk {
    struct vu_conn *conn;
    struct vu_mem own_mem, *mem;
    struct vu_blk_info info;
    unsigned nq;
    uint16_t qsize;
    struct vu_blk_q *q;
    bool started;
};

static const uint64_t WANT_FEATURES =
    (1ull << VIRTIO_F_VERSION_1) | (1ull << VHOST_USER_F_PROTOCOL_FEATURES) |
    (1ull << VIRTIO_RING_F_EVENT_IDX) | (1ull << VIRTIO_RING_F_INDIRECT_DESC) |
    (1ull << VU_BLK_F_SIZE_MAX) | (1ull << VU_BLK_F_SEG_MAX) | (1ull << VU_BLK_F_GEOMETRY) |
    (1ull << VU_BLK_F_RO) | (1ull << VU_BLK_F_BLK_SIZE) | (1ull << VU_BLK_F_FLUSH) |
    (1ull << VU_BLK_F_TOPOLOGY) | (1ull << VU_BLK_F_MQ) | (1ull << VU_BLK_F_DISCARD) |
    (1ull << VU_BLK_F_WRITE_ZEROES);

static const uint64_t WANT_PROTOCOL = (1ull << VU_PF_MQ) | (1ull << VU_PF_REPLY_ACK) |
                                      (1ull << VU_PF_CONFIG) | (1ull << VU_PF_STATUS);

static inline bool has(uint64_t f, unsigned bit) { return (f >> bit) & 1; }

static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }

static int read_config(struct vu_blk *b)
{
    struct vu_blk_info *in = &b->info;
    in->blk_size = 512;
    in->capacity = 0;
    if (!has(in->protocol_features, VU_PF_CONFIG)) {
        LOG_ERR("vu_blk", "backend does not offer the CONFIG protocol feature: the disk size "
                "cannot be read");
        return -ENOTSUP;
    }
    /* Ask only for the fields the offered features make exist (virtio spec
     * 5.2.4): a backend may treat a read past its config space as fatal. */
    uint8_t cfg[60] = {0};
    unsigned got = 24;
    if (has(in->features, VU_BLK_F_TOPOLOGY))
        got = 32;
    if (has(in->features, VU_BLK_F_CONFIG_WCE))
        got = 34;
    if (has(in->features, VU_BLK_F_MQ))
        got = 36;
    if (has(in->features, VU_BLK_F_DISCARD))
        got = 48;
    if (has(in->features, VU_BLK_F_WRITE_ZEROES))
        got = 60;
    int r = vu_get_config(b->conn, 0, cfg, got);
    if (r == -EIO && got > 24) {
        got = 24;
        r = vu_get_config(b->conn, 0, cfg, got);
    }
    if (r)
        return r;
    memcpy(&in->capacity, cfg, 8);
    if (has(in->features, VU_BLK_F_SIZE_MAX))
        in->size_max = rd32(cfg + 8);
    if (has(in->features, VU_BLK_F_SEG_MAX))
        in->seg_max = rd32(cfg + 12);
    if (has(in->features, VU_BLK_F_BLK_SIZE)) {
        uint32_t bs = rd32(cfg + 20);
        if (bs < 512 || bs > 65536 || (bs & (bs - 1))) {
            LOG_ERR("vu_blk", "device block size %u is not a power of two in 512..65536", bs);
            return -EPROTO;
        }
        in->blk_size = bs;
    }
    if (got >= 48 && has(in->features, VU_BLK_F_DISCARD))
        in->max_discard_sectors = rd32(cfg + 36);
    if (got >= 60 && has(in->features, VU_BLK_F_WRITE_ZEROES))
        in->max_write_zeroes_sectors = rd32(cfg + 48);
    in->read_only = has(in->features, VU_BLK_F_RO);
    return 0;
}

static int negotiate(struct vu_blk *b, const struct vu_blk_cfg *cfg)
{
    struct vu_blk_info *in = &b->info;
    uint64_t offered;
    int r = vu_set_owner(b->conn);
    if (!r)
        r = vu_get_features(b->conn, &offered);
    if (r)
        return r;
    if (!has(offered, VIRTIO_F_VERSION_1)) {
        LOG_ERR("vu_blk", "backend does not offer VIRTIO_F_VERSION_1 (features 0x%llx); legacy "
                "devices are not supported", (unsigned long long)offered);
        return -ENOTSUP;
    }
    uint64_t want = WANT_FEATURES;
    if (cfg->no_indirect)
        want &= ~(1ull << VIRTIO_RING_F_INDIRECT_DESC);
    if (cfg->no_event_idx)
        want &= ~(1ull << VIRTIO_RING_F_EVENT_IDX);
    const uint64_t ring_opts = (cfg->packed ? 1ull << VIRTIO_F_RING_PACKED : 0) |
                               (cfg->in_order ? 1ull << VIRTIO_F_IN_ORDER : 0);
    if (ring_opts & ~offered) {
        LOG_ERR("vu_blk", "backend does not offer the ring features asked for (%s%s; features "
                "0x%llx)", (ring_opts & ~offered) >> VIRTIO_F_RING_PACKED & 1 ? "RING_PACKED " : "",
                (ring_opts & ~offered) >> VIRTIO_F_IN_ORDER & 1 ? "IN_ORDER" : "",
                (unsigned long long)offered);
        return -ENOTSUP;
    }
    want |= ring_opts;
    in->features = offered & want;
    if (has(in->features, VHOST_USER_F_PROTOCOL_FEATURES)) {
        uint64_t pf, want_pf = WANT_PROTOCOL;
        if (cfg->vpri)
            want_pf |= 1ull << VHOST_USER_PROTOCOL_F_VPRI;
        r = vu_get_protocol_features(b->conn, &pf);
        if (!r && cfg->vpri && !has(pf, VHOST_USER_PROTOCOL_F_VPRI)) {
            LOG_ERR("vu_blk", "backend does not offer VPRI (protocol features 0x%llx)",
                    (unsigned long long)pf);
            return -ENOTSUP;
        }
        if (!r)
            r = vu_set_protocol_features(b->conn, pf & want_pf);
        if (r)
            return r;
        in->protocol_features = pf & want_pf;
    } else if (cfg->vpri) {
        LOG_ERR("vu_blk", "VPRI needs PROTOCOL_FEATURES, which the backend does not offer");
        return -ENOTSUP;
    }
    in->device_queues = 1;
    if (has(in->protocol_features, VU_PF_MQ)) {
        uint64_t n;
        r = vu_get_queue_num(b->conn, &n);
        if (r)
            return r;
        if (n == 0 || n > 1024) {
            LOG_ERR("vu_blk", "backend reports %llu queues (1..1024 expected)",
                    (unsigned long long)n);
            return -EPROTO;
        }
        in->device_queues = (uint16_t)n;
    }
    if (b->nq > in->device_queues) {
        LOG_ERR("vu_blk", "asked for %u queues but the backend serves %u", b->nq,
                in->device_queues);
        return -EINVAL;
    }
    if (b->nq > 1 && !has(in->features, VU_BLK_F_MQ)) {
        LOG_ERR("vu_blk", "asked for %u queues but the device does not offer VIRTIO_BLK_F_MQ",
                b->nq);
        return -ENOTSUP;
    }
    r = read_config(b);
    if (r)
        return r;
    bool st = has(in->protocol_features, VU_PF_STATUS);
    if (st)
        r = vu_set_status(b->conn, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    if (!r)
        r = vu_set_features(b->conn, in->features);
    if (!r && st)
        r = vu_set_status(b->conn, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                                       VIRTIO_STATUS_FEATURES_OK);
    if (!r && st) {
        uint8_t s;
        r = vu_get_status(b->conn, &s);
        if (!r && !(s & VIRTIO_STATUS_FEATURES_OK)) {
            LOG_ERR("vu_blk", "backend did not accept features 0x%llx (status 0x%x)",
                    (unsigned long long)in->features, s);
            r = -ENOTSUP;
        }
    }
    return r;
}

static int setup_queue(struct vu_blk *b, unsigned qi, const struct vu_blk_cfg *cfg)
{
    struct vu_blk_q *q = &b->q[qi];
    struct vu_vring_cfg rc = {.num = b->qsize,
                              .event_idx = has(b->info.features, VIRTIO_RING_F_EVENT_IDX),
                              .indirect = has(b->info.features, VIRTIO_RING_F_INDIRECT_DESC),
                              .packed = has(b->info.features, VIRTIO_F_RING_PACKED),
                              .in_order = has(b->info.features, VIRTIO_F_IN_ORDER)};
    int r = vu_vring_init_cfg(&q->vr, b->mem, &rc);
    if (r)
        return r;
    q->ctx = calloc(b->qsize, sizeof(*q->ctx));
    q->free_stack = calloc(b->qsize, sizeof(*q->free_stack));
    struct vu_blk_wire *w = vu_mem_alloc(b->mem, (uint64_t)b->qsize * sizeof(*w), 64);
    if (!q->ctx || !q->free_stack || !w) {
        LOG_ERR("vu_blk", "out of memory for queue %u request headers", qi);
        return -ENOMEM;
    }
    for (unsigned i = 0; i < b->qsize; i++) {
        q->ctx[i].w = &w[i];
        q->ctx[i].w_gpa = vu_mem_gpa(b->mem, &w[i], sizeof(*w));
        q->free_stack[i] = (uint16_t)i;
    }
    q->free_top = b->qsize;
    uint64_t base = (uint64_t)(uintptr_t)b->mem->base;
    r = vu_set_vring_num(b->conn, qi, b->qsize);
    if (!r)
        r = vu_set_vring_base(b->conn, qi, vu_vring_start_base(&q->vr));
    if (!r)
        r = vu_set_vring_addr(b->conn, qi, base + q->vr.desc_gpa, base + q->vr.used_gpa,
                              base + q->vr.avail_gpa);
    if (!r)
        r = vu_set_vring_call(b->conn, qi, cfg->poll_no_callfd ? -1 : q->vr.call_fd);
    if (!r)
        r = vu_set_vring_kick(b->conn, qi, q->vr.kick_fd);
    if (!r && has(b->info.features, VHOST_USER_F_PROTOCOL_FEATURES))
        r = vu_set_vring_enable(b->conn, qi, true);
    return r;
}

int vu_blk_open(const struct vu_blk_cfg *cfg, struct vu_blk **out)
{
    struct vu_blk *b = calloc(1, sizeof(*b));
    if (!b)
        return -ENOMEM;
    b->own_mem.fd = -1;
    b->nq = cfg->queues ? cfg->queues : 1;
    b->qsize = cfg->queue_size ? cfg->queue_size : 128;
    if (b->nq > 1024 || b->qsize > VIRTQ_MAX_SIZE || (b->qsize & (b->qsize - 1))) {
        LOG_ERR("vu_blk", "bad geometry: %u queues (max 1024) of size %u (power of two)",
                b->nq, b->qsize);
        free(b);
        return -EINVAL;
    }
    b->q = calloc(b->nq, sizeof(*b->q));
    if (!b->q) {
        free(b);
        return -ENOMEM;
    }
    for (unsigned i = 0; i < b->nq; i++)
        b->q[i].vr.kick_fd = b->q[i].vr.call_fd = -1;
    int r;
    if (cfg->mem) {
        b->mem = cfg->mem;
    } else {
        uint64_t per_q = 5 * 4096ull + (uint64_t)b->qsize * (16 + 2 + 8 + 64 +
                                                              16 * VU_VRING_MAX_SEGS);
        r = vu_mem_create(&b->own_mem, b->nq * per_q + (cfg->mem_bytes ? cfg->mem_bytes
                                                                          : (16ull << 20)));
        if (r)
            goto fail;
        b->mem = &b->own_mem;
    }
    unsigned to = cfg->connect_timeout_ms ? cfg->connect_timeout_ms : 5000;
    r = cfg->listen ? vu_conn_accept(cfg->socket, to, &b->conn)
                    : vu_conn_connect(cfg->socket, to, &b->conn);
    if (r)
        goto fail;
    r = negotiate(b, cfg);
    if (r)
        goto fail;
    struct vu_mem_region reg = {.gpa = 0, .size = b->mem->size,
                                .uaddr = (uint64_t)(uintptr_t)b->mem->base, .mmap_offset = 0,
                                .fd = b->mem->fd};
    r = vu_set_mem_table(b->conn, &reg, 1);
    if (!r && cfg->vpri)
        r = vu_vpri_send(cfg->vpri, b->conn);
    for (unsigned i = 0; !r && i < b->nq; i++)
        r = setup_queue(b, i, cfg);
    b->started = r == 0;
    if (!r && has(b->info.protocol_features, VU_PF_STATUS))
        r = vu_set_status(b->conn, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                                       VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
    if (r)
        goto fail;
    *out = b;
    return 0;
fail:
    LOG_ERR("vu_blk", "start-up with backend %s failed: %s", cfg->socket, strerror(-r));
    vu_blk_close(b);
    return r;
}

void vu_blk_close(struct vu_blk *b)
{
    if (!b)
        return;
    /* Teardown must not hang on a backend that stopped answering. */
    if (b->conn)
        vu_conn_set_reply_timeout(b->conn, 2000);
    for (unsigned i = 0; i < b->nq; i++) {
        if (b->started && b->conn) {
            unsigned base;
            if (has(b->info.features, VHOST_USER_F_PROTOCOL_FEATURES))
                vu_set_vring_enable(b->conn, i, false);
            vu_get_vring_base(b->conn, i, &base);
        }
        vu_vring_destroy(&b->q[i].vr);
        free(b->q[i].ctx);
        free(b->q[i].free_stack);
    }
    vu_conn_close(b->conn);
    vu_mem_destroy(&b->own_mem);
    free(b->q);
    free(b);
}

const struct vu_blk_info *vu_blk_info(const struct vu_blk *b) { return &b->info; }
struct vu_mem *vu_blk_mem(struct vu_blk *b) { return b->mem; }
unsigned vu_blk_queues(const struct vu_blk *b) { return b->nq; }
uint16_t vu_blk_queue_size(const struct vu_blk *b) { return b->qsize; }
bool vu_blk_hung_up(const struct vu_blk *b) { return vu_conn_hung_up(b->conn); }
struct vu_vring *vu_blk_vring(struct vu_blk *b, unsigned q) { return &b->q[q].vr; }

int vu_blk_submit(struct vu_blk *b, unsigned qi, enum vu_blk_op op, uint64_t sector,
                  void *buf, uint32_t len, uint64_t tag)
{
    if (qi >= b->nq)
        return -EINVAL;
    struct vu_blk_q *q = &b->q[qi];
    if (q->free_top == 0)
        return -ENOSPC;
    struct vu_sg sg[3];
    unsigned n_out = 1, n_in = 1, k = 1;
    uint16_t ci = q->free_stack[q->free_top - 1];
    struct vu_blk_ctx *c = &q->ctx[ci];
    sg[0] = (struct vu_sg){c->w_gpa, 16};
    uint64_t dgpa = 0;
    if (op == VU_BLK_READ || op == VU_BLK_WRITE || op == VU_BLK_GET_ID) {
        if (op == VU_BLK_GET_ID)
            len = VU_BLK_ID_BYTES;
        dgpa = len ? vu_mem_gpa(b->mem, buf, len) : UINT64_MAX;
        if (dgpa == UINT64_MAX) {
            LOG_ERR("vu_blk", "data buffer %p+%u is empty or outside the shared memory", buf,
                    len);
            return -EINVAL;
        }
        sg[k++] = (struct vu_sg){dgpa, len};
        if (op == VU_BLK_WRITE)
            n_out = 2;
        else
            n_in = 2;
    } else if (op == VU_BLK_DISCARD || op == VU_BLK_WRITE_ZEROES) {
        if (len == 0 || len % 512)
            return -EINVAL;
        c->w->seg_sector = sector;
        c->w->seg_num = len / 512;
        c->w->seg_flags = 0;
        sg[k++] = (struct vu_sg){c->w_gpa + 16, 16};
        n_out = 2;
    } else if (op != VU_BLK_FLUSH) {
        return -EINVAL;
    }
    sg[k++] = (struct vu_sg){c->w_gpa + offsetof(struct vu_blk_wire, status), 1};
    c->w->type = op;
    c->w->reserved = 0;
    c->w->sector = (op == VU_BLK_READ || op == VU_BLK_WRITE) ? sector : 0;
    c->w->status = 0xff; /* lets us tell "device never wrote status" */
    c->tag = tag;
    int r = vu_vring_add(&q->vr, sg, n_out, n_in, c);
    if (r < 0)
        return r;
    q->free_top--;
    return 0;
}

int vu_blk_kick(struct vu_blk *b, unsigned q)
{
    int r = vu_vring_kick(&b->q[q].vr);
    return r < 0 ? r : 0;
}

int vu_blk_reap(struct vu_blk *b, unsigned qi, struct vu_blk_cpl *out, unsigned max)
{
    struct vu_blk_q *q = &b->q[qi];
    unsigned n = 0;
    while (n < max) {
        void *tok;
        uint32_t len;
        int r = vu_vring_get_used(&q->vr, &tok, &len);
        if (r < 0)
            return r;
        if (r == 0)
            break;
        struct vu_blk_ctx *c = tok;
        uint8_t st = c->w->status;
        q->free_stack[q->free_top++] = (uint16_t)(c - q->ctx);
        if (st > VU_BLK_S_UNSUPP) {
            LOG_ERR("vu_blk", "queue %u: device completed request tag %llu without a valid "
                    "status byte (0x%x)", qi, (unsigned long long)c->tag, st);
            q->vr.broken = true;
            return -EPROTO;
        }
        out[n++] = (struct vu_blk_cpl){c->tag, st, len};
    }
    return (int)n;
}

void vu_blk_set_polling(struct vu_blk *b, unsigned q, bool polling)
{
    if (polling)
        vu_vring_disable_cb(&b->q[q].vr);
    else
        vu_vring_enable_cb(&b->q[q].vr);
}

int vu_blk_wait(struct vu_blk *b, unsigned qi, int timeout_ms)
{
    struct vu_vring *vr = &b->q[qi].vr;
    if (!vu_vring_enable_cb(vr))
        return 1;
    struct pollfd p = {.fd = vr->call_fd, .events = POLLIN};
    int n = poll(&p, 1, timeout_ms);
    if (n > 0)
        vu_vring_ack_call(vr);
    return vu_vring_has_used(vr) ? 1 : 0;
}

int vu_blk_sync(struct vu_blk *b, unsigned q, enum vu_blk_op op, uint64_t sector, void *buf,
                uint32_t len, int timeout_ms, uint8_t *status)
{
    const uint64_t tag = 0x53594e43ull;
    int r = vu_blk_submit(b, q, op, sector, buf, len, tag);
    if (r == 0)
        r = vu_blk_kick(b, q);
    if (r)
        return r;
    uint64_t deadline = sc_now_ns() + (uint64_t)timeout_ms * 1000000ull;
    for (;;) {
        struct vu_blk_cpl c;
        r = vu_blk_reap(b, q, &c, 1);
        if (r < 0)
            return r;
        if (r == 1) {
            if (c.tag != tag)
                continue;
            *status = c.status;
            return 0;
        }
        uint64_t now = sc_now_ns();
        if (now >= deadline) {
            LOG_ERR("vu_blk", "queue %u: request type %d did not complete within %d ms", q, op,
                    timeout_ms);
            return -ETIMEDOUT;
        }
        vu_blk_wait(b, q, (int)((deadline - now) / 1000000) + 1);
    }
}
