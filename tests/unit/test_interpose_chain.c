/* Interposition chain and its stages over an in-memory backend, with a
 * clock the test controls: pass-through, metering, QoS token buckets,
 * AES-XTS encryption at rest (checked against OpenSSL directly), replacing
 * the stage list while requests are in flight, and the JSON forms. */
#include <errno.h>
#include <openssl/evp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "blk_mem.h"
#include "interpose/ip_chain.h"
#include "interpose/ip_stages.h"

struct fixture {
    struct mem_be *mem;
    struct ip_chain *chain;
    struct blk_backend *be;
    struct blk_bq *q;
    uint64_t now;
    unsigned done;
    int last_res;
};

static uint64_t fake_clock(void *opaque) { return ((struct fixture *)opaque)->now; }

static void on_done(struct blk_io *io, int res)
{
    struct fixture *f = *(struct fixture **)(io + 1);
    f->done++;
    f->last_res = res;
}

/* A request with a back pointer to the fixture right after it. */
struct req {
    struct blk_io io;
    struct fixture *f;
    struct iovec iov[4];
};

static void req_init(struct req *r, struct fixture *f, enum blk_op op, uint64_t off, void *buf,
                     uint64_t len)
{
    memset(r, 0, sizeof(*r));
    r->f = f;
    r->iov[0] = (struct iovec){buf, len};
    r->io = (struct blk_io){.op = op, .offset = off, .len = len, .iov = r->iov,
                            .iovcnt = buf ? 1 : 0, .done = on_done};
}

static int setup(void **st)
{
    struct fixture *f = calloc(1, sizeof(*f));
    f->mem = mem_be_create(1 << 20);
    f->chain = ip_chain_create(&f->mem->base);
    ip_chain_set_clock(f->chain, fake_clock, f);
    f->be = ip_chain_backend(f->chain);
    f->now = 1000000000ull;
    assert_int_equal(f->be->ops->queue_open(f->be, 16, &f->q), 0);
    *st = f;
    return 0;
}

static int teardown(void **st)
{
    struct fixture *f = *st;
    f->be->ops->queue_close(f->q);
    f->be->ops->destroy(f->be);
    free(f);
    return 0;
}

static void set(struct fixture *f, struct ip_stage *a, struct ip_stage *b)
{
    struct ip_stage *st[2] = {a, b};
    const char *why = "";
    assert_int_equal(ip_chain_set(f->chain, st, b ? 2 : (a ? 1 : 0), &why), 0);
}

static int submit(struct fixture *f, struct req *r)
{
    return f->be->ops->submit(f->q, &r->io);
}

static void passthrough(void **st)
{
    struct fixture *f = *st;
    uint8_t w[4096], rd[4096];
    memset(w, 0xab, sizeof(w));
    struct req a, b;
    req_init(&a, f, BLK_OP_WRITE, 8192, w, sizeof(w));
    assert_int_equal(submit(f, &a), 0);
    assert_int_equal(f->be->ops->in_flight(f->q), 1);
    assert_int_equal(f->be->ops->reap(f->q), 1);
    assert_int_equal(f->done, 1);
    assert_int_equal(f->last_res, 0);
    req_init(&b, f, BLK_OP_READ, 8192, rd, sizeof(rd));
    assert_int_equal(submit(f, &b), 0);
    f->be->ops->reap(f->q);
    assert_memory_equal(w, rd, sizeof(w));
    assert_ptr_equal(ip_chain_of(f->be), f->chain);
    assert_null(ip_chain_of(&f->mem->base));
}

static json_t *stage_stats(struct fixture *f, unsigned i)
{
    json_t *a = ip_chain_stats(f->chain);
    json_t *o = json_incref(json_array_get(a, i));
    json_decref(a);
    return o;
}

static void meter(void **st)
{
    struct fixture *f = *st;
    set(f, ip_meter_create(), NULL);
    uint8_t buf[2048];
    struct req r;
    req_init(&r, f, BLK_OP_WRITE, 0, buf, sizeof(buf));
    assert_int_equal(submit(f, &r), 0);
    f->now += 40000; /* 40 us */
    f->be->ops->reap(f->q);
    req_init(&r, f, BLK_OP_READ, 0, buf, 1024);
    assert_int_equal(submit(f, &r), 0);
    f->now += 3000000; /* 3 ms */
    f->be->ops->reap(f->q);
    req_init(&r, f, BLK_OP_READ, (1 << 20) - 512, buf, 1024); /* past the end */
    assert_int_equal(submit(f, &r), 0);
    f->be->ops->reap(f->q);
    assert_int_equal(f->last_res, -EINVAL);
    req_init(&r, f, BLK_OP_FLUSH, 0, NULL, 0);
    assert_int_equal(submit(f, &r), 0);
    f->be->ops->reap(f->q);

    json_t *m = stage_stats(f, 0);
    assert_string_equal(json_string_value(json_object_get(m, "type")), "meter");
    assert_int_equal(json_integer_value(json_object_get(m, "writes")), 1);
    assert_int_equal(json_integer_value(json_object_get(m, "reads")), 1);
    assert_int_equal(json_integer_value(json_object_get(m, "flushes")), 1);
    assert_int_equal(json_integer_value(json_object_get(m, "errors")), 1);
    assert_int_equal(json_integer_value(json_object_get(m, "bytes_written")), 2048);
    assert_int_equal(json_integer_value(json_object_get(m, "bytes_read")), 1024);
    /* 40 us lands in bucket [32, 64) us, 3 ms in [2048, 4096) us. */
    json_t *h = json_object_get(m, "lat_hist_log2_us");
    assert_int_equal(json_integer_value(json_array_get(h, 5)), 1);
    assert_int_equal(json_integer_value(json_array_get(h, 11)), 1);
    assert_int_equal(json_integer_value(json_object_get(m, "lat_p99_us")), 4096);
    json_decref(m);
}

static void qos_iops(void **st)
{
    struct fixture *f = *st;
    const char *why = "";
    struct ip_qos_params p = {.iops = 10, .iops_burst = 2};
    set(f, ip_qos_create(&p, &why), NULL);
    uint8_t buf[512];
    struct req r[4];
    for (int i = 0; i < 2; i++) {
        req_init(&r[i], f, BLK_OP_READ, 0, buf, sizeof(buf));
        assert_int_equal(submit(f, &r[i]), 0);
    }
    req_init(&r[2], f, BLK_OP_READ, 0, buf, sizeof(buf));
    assert_int_equal(submit(f, &r[2]), -EAGAIN); /* burst used up */
    f->now += 50000000;                          /* 50 ms: half a token */
    assert_int_equal(submit(f, &r[2]), -EAGAIN);
    f->now += 50000000;                          /* 100 ms: one token */
    assert_int_equal(submit(f, &r[2]), 0);
    assert_int_equal(submit(f, &r[2]), -EAGAIN);
    f->now += 10ull * 1000000000ull;             /* refill caps at the burst */
    for (int i = 0; i < 2; i++)
        assert_int_equal(submit(f, &r[i]), 0);
    assert_int_equal(submit(f, &r[3]), -EAGAIN);
    f->be->ops->reap(f->q);
    json_t *q = stage_stats(f, 0);
    assert_int_equal(json_integer_value(json_object_get(q, "admitted")), 5);
    assert_int_equal(json_integer_value(json_object_get(q, "deferred")), 4);
    json_decref(q);
}

static void qos_bandwidth(void **st)
{
    struct fixture *f = *st;
    const char *why = "";
    struct ip_qos_params p = {.bps = 8192, .bps_burst = 4096};
    set(f, ip_qos_create(&p, &why), NULL);
    static uint8_t buf[16384];
    struct req r;
    req_init(&r, f, BLK_OP_WRITE, 0, buf, 4096);
    assert_int_equal(submit(f, &r), 0);
    assert_int_equal(submit(f, &r), -EAGAIN);
    f->now += 250000000; /* 2048 bytes back */
    assert_int_equal(submit(f, &r), -EAGAIN);
    f->now += 250000000;
    assert_int_equal(submit(f, &r), 0);
    /* A request larger than the burst passes once the bucket is full,
     * and the debt holds the next one back for as long as it takes. */
    f->now += 1000000000ull;
    req_init(&r, f, BLK_OP_WRITE, 0, buf, 16384);
    assert_int_equal(submit(f, &r), 0);
    req_init(&r, f, BLK_OP_FLUSH, 0, NULL, 0);
    f->now += 1000000000ull;
    assert_int_equal(submit(f, &r), -EAGAIN); /* -12288 + 8192 < 0 */
    f->now += 500000000ull;
    assert_int_equal(submit(f, &r), 0);       /* FLUSH costs no bytes */
    f->be->ops->reap(f->q);
}

static void xts_ref(const uint8_t *key, uint64_t sector, const uint8_t *in, uint8_t *out)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    uint8_t iv[16] = {0};
    memcpy(iv, &sector, 8);
    int l = 0;
    assert_int_equal(EVP_EncryptInit_ex(c, EVP_aes_256_xts(), NULL, key, iv), 1);
    assert_int_equal(EVP_EncryptUpdate(c, out, &l, in, 512), 1);
    assert_int_equal(l, 512);
    EVP_CIPHER_CTX_free(c);
}

static void crypt(void **st)
{
    struct fixture *f = *st;
    uint8_t key[IP_CRYPT_KEY_BYTES];
    for (unsigned i = 0; i < sizeof(key); i++)
        key[i] = (uint8_t)(i * 7 + 1);
    const char *why = "";
    set(f, ip_meter_create(), ip_crypt_create(key, &why));

    uint8_t plain[1024], saved[1024], back[1024], ref[512];
    for (unsigned i = 0; i < sizeof(plain); i++)
        plain[i] = (uint8_t)(i ^ (i >> 8));
    memcpy(saved, plain, sizeof(plain));
    struct req r;
    req_init(&r, f, BLK_OP_WRITE, 3 * 512, NULL, sizeof(plain));
    /* Sectors split across buffers at odd places. */
    r.iov[0] = (struct iovec){plain, 100};
    r.iov[1] = (struct iovec){plain + 100, 700};
    r.iov[2] = (struct iovec){plain + 800, 224};
    r.io.iovcnt = 3;
    assert_int_equal(submit(f, &r), 0);
    f->be->ops->reap(f->q);
    assert_int_equal(f->last_res, 0);
    assert_memory_equal(plain, saved, sizeof(plain)); /* guest buffer untouched */
    assert_memory_not_equal(f->mem->data + 3 * 512, plain, 512);
    xts_ref(key, 3, plain, ref);
    assert_memory_equal(f->mem->data + 3 * 512, ref, 512);
    xts_ref(key, 4, plain + 512, ref);
    assert_memory_equal(f->mem->data + 4 * 512, ref, 512);

    req_init(&r, f, BLK_OP_READ, 3 * 512, NULL, sizeof(back));
    r.iov[0] = (struct iovec){back, 300};
    r.iov[1] = (struct iovec){back + 300, 724};
    r.io.iovcnt = 2;
    assert_int_equal(submit(f, &r), 0);
    f->be->ops->reap(f->q);
    assert_memory_equal(back, plain, sizeof(back));

    /* WRITE_ZEROES reads back as zeros, not as decrypted zeros. */
    req_init(&r, f, BLK_OP_WRITE_ZEROES, 3 * 512, NULL, 1024);
    assert_int_equal(submit(f, &r), 0);
    f->be->ops->reap(f->q);
    assert_int_equal(f->last_res, 0);
    req_init(&r, f, BLK_OP_READ, 3 * 512, back, sizeof(back));
    assert_int_equal(submit(f, &r), 0);
    f->be->ops->reap(f->q);
    uint8_t zero[1024] = {0};
    assert_memory_equal(back, zero, sizeof(back));

    json_t *c = stage_stats(f, 1);
    assert_string_equal(json_string_value(json_object_get(c, "type")), "crypt");
    assert_int_equal(json_integer_value(json_object_get(c, "encrypted_sectors")), 4);
    assert_int_equal(json_integer_value(json_object_get(c, "decrypted_sectors")), 4);
    json_decref(c);
    /* The meter saw the device's operations, not the rewritten ones. */
    json_t *m = stage_stats(f, 0);
    assert_int_equal(json_integer_value(json_object_get(m, "writes")), 1);
    assert_int_equal(json_integer_value(json_object_get(m, "other")), 1);
    assert_int_equal(json_integer_value(json_object_get(m, "errors")), 0);
    json_decref(m);

    uint8_t same[IP_CRYPT_KEY_BYTES] = {0};
    assert_null(ip_crypt_create(same, &why));
}

static int setup_big(void **st)
{
    struct fixture *f = calloc(1, sizeof(*f));
    f->mem = mem_be_create(8 << 20);
    f->chain = ip_chain_create(&f->mem->base);
    ip_chain_set_clock(f->chain, fake_clock, f);
    f->be = ip_chain_backend(f->chain);
    f->now = 1000000000ull;
    assert_int_equal(f->be->ops->queue_open(f->be, 64, &f->q), 0);
    *st = f;
    return 0;
}

static void drain(struct fixture *f, unsigned want)
{
    for (int i = 0; i < 10000 && f->done < want; i++)
        f->be->ops->reap(f->q);
    assert_int_equal(f->done, want);
}

/* Writes and WRITE_ZEROES longer than a bounce buffer go down in parts
 * (a WRITE_ZEROES over 1 MiB was refused, and the guest saw I/O errors);
 * the stages before crypt see one request. Bounce memory is bounded: a
 * guest whose requests all named one large buffer made the daemon
 * allocate their sum (1.3 GB for 32 x 40 MiB). */
static void crypt_in_parts(void **st)
{
    struct fixture *f = *st;
    uint8_t key[IP_CRYPT_KEY_BYTES];
    for (unsigned i = 0; i < sizeof(key); i++)
        key[i] = (uint8_t)(i * 5 + 3);
    const char *why = "";
    set(f, ip_meter_create(), ip_crypt_create(key, &why));
    enum { LEN = (5u << 20) / 2 };
    static uint8_t plain[LEN], saved[LEN], back[LEN];
    for (unsigned i = 0; i < LEN; i++)
        plain[i] = (uint8_t)((i * 2654435761u) >> 13);
    memcpy(saved, plain, LEN);
    struct req r;
    req_init(&r, f, BLK_OP_WRITE, 0, NULL, LEN);
    r.iov[0] = (struct iovec){plain, 1000};
    r.iov[1] = (struct iovec){plain + 1000, (1u << 20) + 24};
    r.iov[2] = (struct iovec){plain + (1u << 20) + 1024, LEN - (1u << 20) - 1024};
    r.io.iovcnt = 3;
    assert_int_equal(submit(f, &r), 0);
    drain(f, 1);
    assert_int_equal(f->last_res, 0);
    assert_memory_equal(plain, saved, LEN);
    uint8_t ref[512];
    static const uint64_t sectors[] = {0, 1, 2047, 2048, 4095, 4096, LEN / 512 - 1};
    for (unsigned i = 0; i < sizeof(sectors) / sizeof(sectors[0]); i++) {
        xts_ref(key, sectors[i], plain + sectors[i] * 512, ref);
        assert_memory_equal(f->mem->data + sectors[i] * 512, ref, 512);
    }
    req_init(&r, f, BLK_OP_READ, 0, back, LEN);
    assert_int_equal(submit(f, &r), 0);
    drain(f, 2);
    assert_memory_equal(back, plain, LEN);

    req_init(&r, f, BLK_OP_WRITE_ZEROES, 512, NULL, (3u << 20) + 512);
    assert_int_equal(submit(f, &r), 0);
    drain(f, 3);
    assert_int_equal(f->last_res, 0);
    req_init(&r, f, BLK_OP_READ, 0, back, LEN);
    assert_int_equal(submit(f, &r), 0);
    drain(f, 4);
    assert_memory_equal(back, plain, 512);
    for (unsigned i = 512; i < LEN; i++)
        assert_int_equal(back[i], 0);
    json_t *m = stage_stats(f, 0);
    assert_int_equal(json_integer_value(json_object_get(m, "writes")), 1);
    assert_int_equal(json_integer_value(json_object_get(m, "other")), 1);
    assert_int_equal(json_integer_value(json_object_get(m, "errors")), 0);
    json_decref(m);

    /* 1 MiB writes of one buffer while the backend holds them: 32 MiB of
     * bounce buffers, then "not now" until some complete. */
    atomic_store(&f->mem->hold, true);
    static struct req many[40];
    unsigned taken = 0;
    for (unsigned i = 0; i < 40; i++) {
        req_init(&many[i], f, BLK_OP_WRITE, 0, plain, 1u << 20);
        int rc = submit(f, &many[i]);
        if (rc == -EAGAIN)
            break;
        assert_int_equal(rc, 0);
        taken++;
    }
    assert_int_equal(taken, 32);
    atomic_store(&f->mem->hold, false);
    drain(f, 4 + taken);
    req_init(&many[taken], f, BLK_OP_WRITE, 0, plain, 1u << 20);
    assert_int_equal(submit(f, &many[taken]), 0);
    drain(f, 5 + taken);
}

static void replace_in_flight(void **st)
{
    struct fixture *f = *st;
    set(f, ip_meter_create(), NULL);
    atomic_store(&f->mem->hold, true);
    uint8_t buf[512];
    struct req a, b;
    req_init(&a, f, BLK_OP_READ, 0, buf, sizeof(buf));
    assert_int_equal(submit(f, &a), 0);
    set(f, ip_meter_create(), ip_meter_create());
    req_init(&b, f, BLK_OP_READ, 0, buf, sizeof(buf));
    assert_int_equal(submit(f, &b), -EAGAIN); /* old list still has a request */
    set(f, NULL, NULL);                       /* and again: the middle one is freed */
    atomic_store(&f->mem->hold, false);
    assert_int_equal(f->be->ops->reap(f->q), 1);
    assert_int_equal(submit(f, &b), 0);       /* now on the empty list */
    f->be->ops->reap(f->q);
    json_t *s = ip_chain_stats(f->chain);
    assert_int_equal(json_array_size(s), 0);
    json_decref(s);
    assert_int_equal(f->done, 2);
}

static void from_json(void **st)
{
    (void)st;
    struct ip_stage *out[IP_MAX_STAGES];
    unsigned n = 0;
    char err[256];
    json_t *j = json_loads("[{\"type\":\"meter\"},{\"type\":\"qos\",\"iops\":100,"
                           "\"bps\":\"10M\"}]", 0, NULL);
    assert_int_equal(ip_stages_from_json(j, out, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 2);
    ip_stages_free(out, n);
    json_decref(j);

    const char *bad[] = {
        "[{\"type\":\"nope\"}]",
        "[{\"type\":\"qos\"}]",
        "[{\"type\":\"qos\",\"iops\":-1}]",
        /* 2^63 and above were taken and shown negative in the stats (h12). */
        "[{\"type\":\"qos\",\"bps\":\"16000000000000000000\"}]",
        "[{\"type\":\"qos\",\"iops\":9007199254740993}]",
        "[{\"type\":\"meter\",\"x\":1}]",
        "[{\"type\":\"crypt\"}]",
        "[{\"type\":\"crypt\",\"key\":\"abc\"}]",
        "{\"type\":\"meter\"}",
    };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        j = json_loads(bad[i], 0, NULL);
        err[0] = '\0';
        assert_int_equal(ip_stages_from_json(j, out, &n, err, sizeof(err)), -EINVAL);
        assert_true(strlen(err) > 0);
        json_decref(j);
    }
    char key[IP_CRYPT_KEY_BYTES * 2 + 64];
    snprintf(key, sizeof(key), "[{\"type\":\"crypt\",\"key\":\"%0128d\"}]", 0);
    j = json_loads(key, 0, NULL);
    assert_int_equal(ip_stages_from_json(j, out, &n, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "halves"));
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(passthrough, setup, teardown),
        cmocka_unit_test_setup_teardown(meter, setup, teardown),
        cmocka_unit_test_setup_teardown(qos_iops, setup, teardown),
        cmocka_unit_test_setup_teardown(qos_bandwidth, setup, teardown),
        cmocka_unit_test_setup_teardown(crypt, setup, teardown),
        cmocka_unit_test_setup_teardown(crypt_in_parts, setup_big, teardown),
        cmocka_unit_test_setup_teardown(replace_in_flight, setup, teardown),
        cmocka_unit_test(from_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
