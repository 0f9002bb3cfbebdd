/* vRIO wire format and reassembly: round trips, and every malformed header
 * a hostile or broken peer could send is refused. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "remote/rio_io.h"
#include "remote/rio_reasm.h"
#include "remote/rio_wire.h"

static struct rio_hdr write_frag(uint32_t len, uint32_t off, uint16_t fs)
{
    return (struct rio_hdr){.type = RIO_T_REQ, .op = RIO_OP_WRITE, .frag_size = fs,
                            .device = 7, .len = len, .frag_off = off, .session = 99, .id = 5,
                            .offset = 4096, .ack = 3};
}

static int decode(const struct rio_hdr *in, size_t payload, struct rio_hdr *out)
{
    uint8_t buf[RIO_HDR_SIZE];
    rio_hdr_encode(in, buf);
    return rio_hdr_decode(buf, RIO_HDR_SIZE + payload, out);
}

static void roundtrip(void **st)
{
    (void)st;
    struct rio_hdr h = write_frag(4096, 1408, 1408), o;
    h.flags = RIO_F_UNMAP;
    h.queue = 3;
    h.lease = 0xfffffff0u;
    assert_int_equal(decode(&h, 1408, &o), 0);
    assert_int_equal(o.type, RIO_T_REQ);
    assert_int_equal(o.op, RIO_OP_WRITE);
    assert_int_equal(o.flags, RIO_F_UNMAP);
    assert_int_equal(o.queue, 3);
    assert_int_equal(o.frag_size, 1408);
    assert_int_equal(o.len, 4096);
    assert_int_equal(o.frag_off, 1408);
    assert_true(o.session == 99 && o.id == 5 && o.offset == 4096 && o.ack == 3);
    assert_int_equal(o.lease, 0xfffffff0u);
    /* The last fragment carries what is left. */
    h.frag_off = 2816;
    assert_int_equal(decode(&h, 4096 - 2816, &o), 0);
    struct rio_hdr r = {.type = RIO_T_RESP, .op = RIO_OP_WRITE, .status = -EIO};
    assert_int_equal(decode(&r, 0, &o), 0);
    assert_int_equal(o.status, -EIO);
}

/* Stamps compare on the iohost's clock only, across its 32-bit wrap. */
static void stamps(void **st)
{
    (void)st;
    assert_int_equal(rio_stamp(0), 1); /* never "none" */
    assert_int_equal(rio_stamp(5000000ull), 5);
    assert_true(rio_stamp_fresh(100, 100));
    assert_true(rio_stamp_fresh(100, 100 + RIO_LEASE_MS));
    assert_false(rio_stamp_fresh(100, 101 + RIO_LEASE_MS));
    assert_false(rio_stamp_fresh(0, 100));   /* none */
    assert_false(rio_stamp_fresh(101, 100)); /* from the future */
    assert_true(rio_stamp_fresh(0xffffff80u, 10));
    assert_false(rio_stamp_fresh(0xffffff00u, RIO_LEASE_MS + 1000));
}

static void malformed(void **st)
{
    (void)st;
    struct rio_hdr o, h = write_frag(4096, 0, 1408);
    uint8_t buf[RIO_HDR_SIZE];
    rio_hdr_encode(&h, buf);
    assert_int_equal(rio_hdr_decode(buf, RIO_HDR_SIZE - 1 + 0, &o), -EINVAL); /* short */
    buf[0] ^= 1;
    assert_int_equal(rio_hdr_decode(buf, RIO_HDR_SIZE + 1408, &o), -EINVAL); /* magic */
    buf[0] ^= 1;
    buf[2] = RIO_VERSION - 1; /* before leases: its peer would not fence */
    assert_int_equal(rio_hdr_decode(buf, RIO_HDR_SIZE + 1408, &o), -EINVAL); /* version */
    rio_hdr_encode(&h, buf);
    buf[10] = 1;
    assert_int_equal(rio_hdr_decode(buf, RIO_HDR_SIZE + 1408, &o), -EINVAL); /* reserved */

    assert_int_equal(decode(&h, 1407, &o), -EINVAL);               /* payload too short */
    assert_int_equal(decode(&h, 1409, &o), -EINVAL);               /* payload too long */
    h.frag_off = 100;
    assert_int_equal(decode(&h, 1408, &o), -EINVAL);               /* misaligned */
    h.frag_off = 4096;
    assert_int_equal(decode(&h, 0, &o), -EINVAL);                  /* past the end */
    h = write_frag(RIO_MAX_IO + 512, 0, 1408);
    assert_int_equal(decode(&h, 1408, &o), -EINVAL);               /* too large */
    h = write_frag(4096, 0, 512);
    assert_int_equal(decode(&h, 512, &o), -EINVAL);                /* tiny fragments */
    h = write_frag(0, 0, 1408);
    assert_int_equal(decode(&h, 0, &o), -EINVAL);                  /* empty write */

    struct rio_hdr r = {.type = RIO_T_REQ, .op = RIO_OP_READ, .len = 4096};
    assert_int_equal(decode(&r, 0, &o), 0);
    assert_int_equal(decode(&r, 10, &o), -EINVAL);                 /* read with data */
    r.op = 9;
    assert_int_equal(decode(&r, 0, &o), -EINVAL);                  /* unknown op */
    r = (struct rio_hdr){.type = RIO_T_RESP, .op = RIO_OP_WRITE, .status = 5};
    assert_int_equal(decode(&r, 0, &o), -EINVAL);                  /* positive status */
    r.type = 42;
    assert_int_equal(decode(&r, 0, &o), -EINVAL);                  /* unknown type */
    r = (struct rio_hdr){.type = RIO_T_HELLO};
    assert_int_equal(decode(&r, 0, &o), -EINVAL);                  /* hello without name */
    assert_int_equal(decode(&r, 5, &o), 0);
    assert_int_equal(decode(&r, RIO_NAME_MAX, &o), -EINVAL);
    r = (struct rio_hdr){.type = RIO_T_HELLO_ACK};
    assert_int_equal(decode(&r, RIO_HELLO_INFO_SIZE, &o), 0);
    assert_int_equal(decode(&r, 3, &o), -EINVAL);
    r = (struct rio_hdr){.type = RIO_T_PING};
    assert_int_equal(decode(&r, 1, &o), -EINVAL);
}

/* NACK and a READ resent with HAVE carry a fragment bitmap of exactly
 * the message's size; the reassembly hands out its own in that form. */
static void bitmaps(void **st)
{
    (void)st;
    struct rio_hdr o, n = {.type = RIO_T_NACK, .op = RIO_OP_WRITE, .len = 1u << 20,
                           .frag_size = 1400};
    uint32_t nb = rio_bitmap_bytes(1u << 20, 1400); /* 749 fragments */
    assert_int_equal(nb, 94);
    assert_int_equal(decode(&n, nb, &o), 0);
    assert_int_equal(decode(&n, nb - 1, &o), -EINVAL);
    assert_int_equal(decode(&n, nb + 1, &o), -EINVAL);
    n.op = RIO_OP_READ;
    assert_int_equal(decode(&n, nb, &o), -EINVAL);          /* only writes are NACKed */
    n.op = RIO_OP_WRITE;
    n.frag_size = 100;
    assert_int_equal(decode(&n, rio_bitmap_bytes(1u << 20, 100), &o), -EINVAL);
    n.frag_size = 1400;
    n.status = -5;
    assert_int_equal(decode(&n, nb, &o), -EINVAL);
    struct rio_hdr r = {.type = RIO_T_REQ, .op = RIO_OP_READ, .flags = RIO_F_HAVE,
                        .len = 1u << 20, .frag_size = 1400};
    assert_int_equal(decode(&r, nb, &o), 0);
    assert_int_equal(o.flags, RIO_F_HAVE);
    assert_int_equal(decode(&r, nb + 8, &o), -EINVAL);
    r.flags = 0;
    assert_int_equal(decode(&r, nb, &o), -EINVAL);          /* data without HAVE */

    struct rio_reasm a;
    rio_reasm_reset(&a, 1u << 20);
    struct rio_hdr h = write_frag(1u << 20, 0, 1400);
    uint32_t ids[] = {0, 7, 8, 63, 64, 748};
    for (unsigned i = 0; i < 6; i++) {
        h.frag_off = ids[i] * 1400;
        assert_int_equal(rio_reasm_add(&a, &h), 1);
    }
    uint8_t map[RIO_MAX_FRAGS / 8];
    memset(map, 0xee, sizeof(map));
    rio_reasm_bitmap(&a, map);
    unsigned set = 0;
    for (uint32_t i = 0; i < 749; i++)
        set += rio_bitmap_has(map, i);
    assert_int_equal(set, 6);
    for (unsigned i = 0; i < 6; i++)
        assert_true(rio_bitmap_has(map, ids[i]));
    assert_int_equal(map[0], 0x81);
    assert_int_equal(map[1], 0x01);
    assert_false(rio_bitmap_has(NULL, 0));
}

static void reassembly(void **st)
{
    (void)st;
    struct rio_reasm r;
    rio_reasm_reset(&r, 4096);
    struct rio_hdr h = write_frag(4096, 1408, 1408);
    assert_int_equal(rio_reasm_add(&r, &h), 1);
    assert_int_equal(rio_reasm_add(&r, &h), 0); /* duplicate */
    assert_false(rio_reasm_done(&r));
    h.frag_off = 2816;
    assert_int_equal(rio_reasm_add(&r, &h), 1);
    h.frag_off = 0;
    assert_int_equal(rio_reasm_add(&r, &h), 1);
    assert_true(rio_reasm_done(&r));
    /* A fragment size that changes mid-message starts it over at the new
     * size: the first was damaged, and keeping it refused every fragment of
     * the retransmission. */
    rio_reasm_reset(&r, 4096);
    h = write_frag(4096, 0, 1408);
    assert_int_equal(rio_reasm_add(&r, &h), 1);
    h = write_frag(4096, 2048, 2048);
    assert_int_equal(rio_reasm_add(&r, &h), 1);
    assert_false(rio_reasm_done(&r));
    h = write_frag(4096, 0, 2048);
    assert_int_equal(rio_reasm_add(&r, &h), 1);
    assert_true(rio_reasm_done(&r));
    h = write_frag(8192, 0, 1408);
    assert_int_equal(rio_reasm_add(&r, &h), -EINVAL);
    /* The largest message in the smallest fragments. */
    rio_reasm_reset(&r, RIO_MAX_IO);
    for (uint32_t off = 0; off < RIO_MAX_IO; off += RIO_MIN_FRAG) {
        h = write_frag(RIO_MAX_IO, off, RIO_MIN_FRAG);
        assert_int_equal(rio_reasm_add(&r, &h), 1);
    }
    assert_true(rio_reasm_done(&r));
}

static void sizes_and_addresses(void **st)
{
    (void)st;
    assert_int_equal(rio_frag_size(1500, false), 1500 - 28 - RIO_HDR_SIZE);
    assert_int_equal(rio_frag_size(9000, false), 9000 - 28 - RIO_HDR_SIZE);
    assert_int_equal(rio_frag_size(1500, true), 1500 - 48 - RIO_HDR_SIZE);
    assert_true(rio_frag_size(100, false) >= RIO_MIN_FRAG);
    assert_int_not_equal(rio_tag("disk0"), rio_tag("disk1"));
    struct sockaddr_storage ss;
    socklen_t l;
    assert_int_equal(rio_addr_parse("10.0.0.2:7000", &ss, &l), 0);
    assert_int_equal(rio_addr_parse("[::1]:7000", &ss, &l), 0);
    assert_int_equal(rio_addr_parse("localhost:7000", &ss, &l), -EINVAL);
    assert_int_equal(rio_addr_parse("10.0.0.2", &ss, &l), -EINVAL);
    assert_int_equal(rio_addr_parse(":7000", &ss, &l), -EINVAL);
    char buf[64];
    rio_addr_parse("10.0.0.2:7000", &ss, &l);
    rio_addr_format((struct sockaddr *)&ss, buf, sizeof(buf));
    assert_string_equal(buf, "10.0.0.2:7000");
}

/* The CRC covers the header and the data however the data is split; any
 * flipped bit in either fails it, and so does a datagram cut short. */
static void crc_seal(void **st)
{
    (void)st;
    struct rio_hdr h = {.type = RIO_T_REQ, .op = RIO_OP_WRITE, .len = 3000, .frag_size = 1024,
                        .frag_off = 2048, .session = 7, .id = 9, .offset = 4096};
    uint8_t hdr[RIO_HDR_SIZE], data[952];
    for (unsigned i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 31 + 7);
    rio_hdr_encode(&h, hdr);
    struct iovec one = {data, sizeof(data)};
    rio_seal(hdr, &one, 1, sizeof(data));
    struct rio_hdr o;
    assert_int_equal(rio_hdr_decode(hdr, RIO_HDR_SIZE + sizeof(data), &o), 0);
    assert_true(rio_sealed(hdr, &one, 1, sizeof(data)));
    struct iovec three[3] = {{data, 1}, {data + 1, 500}, {data + 501, 451}};
    assert_true(rio_sealed(hdr, three, 3, sizeof(data)));
    assert_false(rio_sealed(hdr, &one, 1, sizeof(data) - 1));
    for (unsigned bit = 0; bit < 8 * RIO_HDR_SIZE; bit += 13) {
        hdr[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_false(rio_sealed(hdr, &one, 1, sizeof(data)));
        hdr[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    for (unsigned bit = 0; bit < 8 * sizeof(data); bit += 101) {
        data[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_false(rio_sealed(hdr, three, 3, sizeof(data)));
        data[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    assert_true(rio_sealed(hdr, &one, 1, sizeof(data)));
    /* A header-only message. */
    struct rio_hdr p = {.type = RIO_T_PING, .session = 7, .offset = 123};
    rio_hdr_encode(&p, hdr);
    rio_seal(hdr, NULL, 0, 0);
    assert_true(rio_sealed(hdr, NULL, 0, 0));
    hdr[68] = 1; /* reserved */
    assert_int_equal(rio_hdr_decode(hdr, RIO_HDR_SIZE, &o), -EINVAL);
}

static void iov_slices(void **st)
{
    (void)st;
    uint8_t a[100], b[50], c[200];
    struct iovec iov[3] = {{a, 100}, {b, 50}, {c, 200}}, out[4];
    assert_int_equal(rio_iov_slice(iov, 3, 90, 70, out, 4), 3);
    assert_int_equal(out[0].iov_len, 10);
    assert_ptr_equal(out[0].iov_base, a + 90);
    assert_int_equal(out[1].iov_len, 50);
    assert_int_equal(out[2].iov_len, 10);
    assert_int_equal(rio_iov_slice(iov, 3, 90, 70, out, 2), -1); /* too scattered */
    assert_int_equal(rio_iov_slice(iov, 3, 300, 100, out, 4), -1); /* beyond the end */
    uint8_t flat[70];
    memset(a, 1, sizeof(a));
    memset(b, 2, sizeof(b));
    memset(c, 3, sizeof(c));
    rio_iov_to_buf(iov, 3, 90, flat, 70);
    assert_int_equal(flat[0], 1);
    assert_int_equal(flat[10], 2);
    assert_int_equal(flat[69], 3);
    memset(flat, 9, sizeof(flat));
    rio_buf_to_iov(iov, 3, 90, flat, 70);
    assert_int_equal(a[89], 1);
    assert_int_equal(a[90], 9);
    assert_int_equal(c[9], 9);
    assert_int_equal(c[10], 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(roundtrip),
        cmocka_unit_test(stamps),
        cmocka_unit_test(malformed),          cmocka_unit_test(bitmaps),
        cmocka_unit_test(reassembly),         cmocka_unit_test(sizes_and_addresses),
        cmocka_unit_test(iov_slices),     cmocka_unit_test(crc_seal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
