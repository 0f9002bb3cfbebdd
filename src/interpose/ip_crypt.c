/* Encryption at rest: AES-XTS-256 (OpenSSL EVP) per 512-byte sector with the
 * sector number as tweak (little-endian in the 16-byte IV, like dm-crypt's
 * plain64). Writes are encrypted into a bounce buffer, because the
 * plaintext is the guest's memory and must stay as it is; reads are
 * decrypted in place once the backend filled the buffers. Guest buffers
 * may split a sector anywhere, so each sector is gathered, transformed and
 * scattered through a 512-byte staging area. Cipher contexts are per queue.
 *
 * A bounce buffer holds at most CRYPT_PART bytes: a longer write or
 * WRITE_ZEROES goes to the backend in parts, one after the other (IP_AGAIN),
 * and the buffers of a device's requests together stay within
 * CRYPT_BUDGET (admit defers the rest): a guest whose requests all name
 * one large buffer once made the daemon allocate their whole sum. */
#include <errno.h>
#include <openssl/evp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/log.h"
#include "../common/util.h"
#include "ip_stages.h"

#define SECTOR 512u
#define CRYPT_PART (1u << 20)
#define CRYPT_BUDGET (32u << 20)

struct crypt {
    struct ip_stage base;
    uint8_t key[IP_CRYPT_KEY_BYTES];
    _Atomic uint64_t enc_sectors, dec_sectors, failures;
    _Atomic uint64_t bounced; /* bytes of bounce buffers held */
};

struct crypt_q {
    EVP_CIPHER_CTX *enc, *dec;
};

struct bounce {
    struct iovec iov;
    struct blk_io seen; /* the request as this stage got it */
    uint64_t done;      /* bytes of it written by earlier parts */
    uint32_t cap;
    uint8_t *data;      /* page-aligned: O_DIRECT takes it as it is */
};

static int crypt_qopen(struct ip_stage *s, void **qstate)
{
    struct crypt *c = (struct crypt *)s;
    struct crypt_q *q = calloc(1, sizeof(*q));
    if (!q)
        return -ENOMEM;
    q->enc = EVP_CIPHER_CTX_new();
    q->dec = EVP_CIPHER_CTX_new();
    if (!q->enc || !q->dec ||
        EVP_EncryptInit_ex(q->enc, EVP_aes_256_xts(), NULL, c->key, NULL) != 1 ||
        EVP_DecryptInit_ex(q->dec, EVP_aes_256_xts(), NULL, c->key, NULL) != 1) {
        EVP_CIPHER_CTX_free(q->enc);
        EVP_CIPHER_CTX_free(q->dec);
        free(q);
        return -EINVAL;
    }
    *qstate = q;
    return 0;
}

static void crypt_qclose(struct ip_stage *s, void *qstate)
{
    struct crypt_q *q = qstate;
    (void)s;
    EVP_CIPHER_CTX_free(q->enc);
    EVP_CIPHER_CTX_free(q->dec);
    free(q);
}

/* One sector through ctx, in place. */
static bool xts(EVP_CIPHER_CTX *ctx, bool enc, uint64_t sector, uint8_t *buf)
{
    uint8_t iv[16] = {0};
    for (unsigned i = 0; i < 8; i++)
        iv[i] = (uint8_t)(sector >> (8 * i));
    int outl = 0;
    if (enc)
        return EVP_EncryptInit_ex(ctx, NULL, NULL, NULL, iv) == 1 &&
               EVP_EncryptUpdate(ctx, buf, &outl, buf, SECTOR) == 1 && outl == SECTOR;
    return EVP_DecryptInit_ex(ctx, NULL, NULL, NULL, iv) == 1 &&
           EVP_DecryptUpdate(ctx, buf, &outl, buf, SECTOR) == 1 && outl == SECTOR;
}

/* Walks len bytes of the iovecs from byte skip on, sector by sector: copy
 * out, transform, copy back (to dst when given, else to the same place). */
static bool transform(EVP_CIPHER_CTX *ctx, bool enc, uint64_t first_sector,
                      const struct iovec *iov, int iovcnt, uint64_t skip, uint64_t len,
                      uint8_t *dst)
{
    uint8_t sec[SECTOR];
    int i = 0;
    size_t in_off = 0;
    while (i < iovcnt && skip >= iov[i].iov_len)
        skip -= iov[i++].iov_len;
    in_off = (size_t)skip;
    for (uint64_t done = 0; done < len; done += SECTOR) {
        struct { int i; size_t off; } start = {i, in_off};
        for (size_t got = 0; got < SECTOR;) {
            if (i >= iovcnt)
                return false;
            size_t k = SC_MIN(iov[i].iov_len - in_off, SECTOR - got);
            memcpy(sec + got, (uint8_t *)iov[i].iov_base + in_off, k);
            got += k;
            in_off += k;
            if (in_off == iov[i].iov_len) {
                i++;
                in_off = 0;
            }
        }
        if (!xts(ctx, enc, first_sector + done / SECTOR, sec))
            return false;
        if (dst) {
            memcpy(dst + done, sec, SECTOR);
            continue;
        }
        for (size_t put = 0, off = start.off; put < SECTOR;) {
            size_t k = SC_MIN(iov[start.i].iov_len - off, SECTOR - put);
            memcpy((uint8_t *)iov[start.i].iov_base + off, sec + put, k);
            put += k;
            off += k;
            if (off == iov[start.i].iov_len) {
                start.i++;
                off = 0;
            }
        }
    }
    return true;
}

static bool bounced_op(const struct blk_io *io)
{
    return io->op == BLK_OP_WRITE || io->op == BLK_OP_WRITE_ZEROES;
}

static uint32_t part_cap(const struct blk_io *io)
{
    return (uint32_t)SC_MIN(io->len, (uint64_t)CRYPT_PART);
}

/* Encrypts the part of the request after b->done into the bounce buffer
 * and points x->io at it. */
static bool fill_part(struct crypt *c, struct crypt_q *q, struct ip_xfer *x, struct bounce *b)
{
    const struct blk_io *r = &b->seen;
    uint32_t n = (uint32_t)SC_MIN(r->len - b->done, (uint64_t)b->cap);
    uint64_t sector = (r->offset + b->done) / SECTOR;
    b->iov = (struct iovec){b->data, n};
    bool ok;
    if (r->op == BLK_OP_WRITE_ZEROES) {
        /* Zeros on disk would read back as noise: write encrypted zeros. */
        memset(b->data, 0, n);
        ok = transform(q->enc, true, sector, &b->iov, 1, 0, n, NULL);
    } else {
        ok = transform(q->enc, true, sector, r->iov, r->iovcnt, b->done, n, b->data);
    }
    if (!ok) {
        atomic_fetch_add_explicit(&c->failures, 1, memory_order_relaxed);
        return false;
    }
    atomic_fetch_add_explicit(&c->enc_sectors, n / SECTOR, memory_order_relaxed);
    x->io.op = BLK_OP_WRITE;
    x->io.unmap = false;
    x->io.offset = r->offset + b->done;
    x->io.len = n;
    x->io.iov = &b->iov;
    x->io.iovcnt = 1;
    return true;
}

static void release(struct crypt *c, struct ip_xfer *x, unsigned pos)
{
    struct bounce *b = x->scratch[pos];
    x->io = b->seen;
    atomic_fetch_sub_explicit(&c->bounced, b->cap, memory_order_relaxed);
    free(b->data);
    free(b);
    x->scratch[pos] = NULL;
}

/* Bounce memory is bounded per device; one request always gets through. */
static int crypt_admit(struct ip_stage *s, const struct ip_xfer *x, uint64_t now)
{
    struct crypt *c = (struct crypt *)s;
    (void)now;
    if (!bounced_op(&x->io))
        return 0;
    uint64_t held = atomic_load_explicit(&c->bounced, memory_order_relaxed);
    return held && held + part_cap(&x->io) > CRYPT_BUDGET ? -EAGAIN : 0;
}

static int crypt_pre(struct ip_stage *s, void *qstate, struct ip_xfer *x, unsigned pos,
                     uint64_t now)
{
    struct crypt *c = (struct crypt *)s;
    (void)now;
    if (!qstate)
        return -ENOMEM;
    bool rw = x->io.op == BLK_OP_READ || x->io.op == BLK_OP_WRITE;
    if ((rw || x->io.op == BLK_OP_WRITE_ZEROES) && (x->io.offset % SECTOR || x->io.len % SECTOR))
        return -EINVAL;
    if (!bounced_op(&x->io) || x->io.len == 0)
        return 0;
    struct bounce *b = calloc(1, sizeof(*b));
    if (!b)
        return -ENOMEM;
    b->seen = x->io;
    b->cap = part_cap(&x->io);
    if (posix_memalign((void **)&b->data, 4096, b->cap)) {
        free(b);
        return -ENOMEM;
    }
    atomic_fetch_add_explicit(&c->bounced, b->cap, memory_order_relaxed);
    x->scratch[pos] = b;
    if (!fill_part(c, qstate, x, b)) {
        release(c, x, pos);
        return -EIO;
    }
    return 0;
}

static void crypt_post(struct ip_stage *s, void *qstate, struct ip_xfer *x, unsigned pos,
                       int *res, uint64_t now)
{
    struct crypt *c = (struct crypt *)s;
    (void)now;
    struct bounce *b = x->scratch[pos];
    if (b) {
        b->done += x->io.len;
        if (*res >= 0 && b->done < b->seen.len) {
            if (fill_part(c, qstate, x, b)) {
                *res = IP_AGAIN;
                return;
            }
            *res = -EIO;
        }
        release(c, x, pos);
        return;
    }
    if (x->io.op != BLK_OP_READ || *res < 0)
        return;
    struct crypt_q *q = qstate;
    if (!transform(q->dec, false, x->io.offset / SECTOR, x->io.iov, x->io.iovcnt, 0, x->io.len,
                   NULL)) {
        atomic_fetch_add_explicit(&c->failures, 1, memory_order_relaxed);
        *res = -EIO;
        return;
    }
    atomic_fetch_add_explicit(&c->dec_sectors, x->io.len / SECTOR, memory_order_relaxed);
}

static json_t *crypt_stats(struct ip_stage *s)
{
    struct crypt *c = (struct crypt *)s;
    return json_pack("{s:s,s:I,s:I,s:I}", "cipher", "aes-256-xts", "encrypted_sectors",
                     (json_int_t)atomic_load_explicit(&c->enc_sectors, memory_order_relaxed),
                     "decrypted_sectors",
                     (json_int_t)atomic_load_explicit(&c->dec_sectors, memory_order_relaxed),
                     "failures",
                     (json_int_t)atomic_load_explicit(&c->failures, memory_order_relaxed));
}

static void crypt_destroy(struct ip_stage *s)
{
    struct crypt *c = (struct crypt *)s;
    OPENSSL_cleanse(c->key, sizeof(c->key));
    free(c);
}

static const struct ip_stage_ops crypt_ops = {
    .kind = "crypt",
    .admit = crypt_admit,
    .pre = crypt_pre,
    .post = crypt_post,
    .qopen = crypt_qopen,
    .qclose = crypt_qclose,
    .stats = crypt_stats,
    .destroy = crypt_destroy,
};

struct ip_stage *ip_crypt_create(const uint8_t key[IP_CRYPT_KEY_BYTES], const char **why)
{
    /* XTS with equal halves is weak and OpenSSL refuses it. */
    if (memcmp(key, key + IP_CRYPT_KEY_BYTES / 2, IP_CRYPT_KEY_BYTES / 2) == 0) {
        *why = "the two halves of the XTS key must differ";
        return NULL;
    }
    struct crypt *c = calloc(1, sizeof(*c));
    if (!c) {
        *why = "out of memory";
        return NULL;
    }
    c->base.ops = &crypt_ops;
    memcpy(c->key, key, IP_CRYPT_KEY_BYTES);
    return &c->base;
}

static int hex_key(const char *s, uint8_t *out)
{
    if (strlen(s) != IP_CRYPT_KEY_BYTES * 2)
        return -EINVAL;
    for (unsigned i = 0; i < IP_CRYPT_KEY_BYTES; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1 || !strchr("0123456789abcdefABCDEF", s[2 * i]) ||
            !strchr("0123456789abcdefABCDEF", s[2 * i + 1]))
            return -EINVAL;
        out[i] = (uint8_t)v;
    }
    return 0;
}

struct ip_stage *ip_crypt_from_json(const json_t *o, const char *ctx, char *err, size_t len)
{
    uint8_t key[IP_CRYPT_KEY_BYTES];
    bool has_key = false;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)o, k, v) {
        if (strcmp(k, "type") == 0)
            continue;
        if (strcmp(k, "key") != 0) {
            snprintf(err, len, "%s.%s: unknown key (expected key)", ctx, k);
            return NULL;
        }
        if (!json_is_string(v) || hex_key(json_string_value(v), key) < 0) {
            snprintf(err, len, "%s.key: expected 128 hex digits (a 512-bit AES-XTS-256 key)",
                     ctx);
            return NULL;
        }
        has_key = true;
    }
    if (!has_key) {
        snprintf(err, len, "%s.key: missing (a crypt stage needs a key)", ctx);
        return NULL;
    }
    const char *why = "";
    struct ip_stage *s = ip_crypt_create(key, &why);
    OPENSSL_cleanse(key, sizeof(key));
    if (!s)
        snprintf(err, len, "%s: %s", ctx, why);
    return s;
}
