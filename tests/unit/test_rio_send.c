/* rio_send over loopback UDP, read back datagram by datagram: whatever way
 * the fragments leave (one UDP_SEGMENT send per batch, or one datagram per
 * message when the kernel refuses segmentation), the receiver sees one
 * datagram per fragment, each full but the last, in order, with the right
 * offset, a valid seal and the right bytes. Covers messages longer than one
 * segmented send (many 1400-byte fragments, jumbo fragments) and a
 * fragment too scattered for one iovec (sent from the stage). */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "remote/rio_io.h"
#include "remote/rio_wire.h"

struct pair {
    int tx, rx;
};

static int setup(void **st)
{
    struct pair *p = calloc(1, sizeof(*p));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    const char *why = NULL;
    p->rx = rio_socket((struct sockaddr *)&a, sizeof(a), false, NULL, 0, &why);
    assert_true(p->rx >= 0);
    assert_int_equal(getsockname(p->rx, (struct sockaddr *)&a, &al), 0);
    p->tx = rio_socket(NULL, 0, false, (struct sockaddr *)&a, sizeof(a), &why);
    assert_true(p->tx >= 0);
    *st = p;
    return 0;
}

static int teardown(void **st)
{
    struct pair *p = *st;
    close(p->tx);
    close(p->rx);
    free(p);
    return 0;
}

static void fill(uint8_t *b, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)(i * 131 + seed + (i >> 9));
}

/* Sends data (len bytes, cut into iovecs by cuts) and checks every datagram
 * the receiver gets (bounded: 2 s per datagram). */
static void send_and_check(struct pair *p, const struct iovec *iov, int iovcnt,
                           const uint8_t *data, uint32_t len, uint16_t frag)
{
    uint8_t *stage = malloc(RIO_DGRAM_MAX), *buf = malloc(RIO_DGRAM_MAX);
    struct rio_hdr h = {.type = RIO_T_RESP, .op = RIO_OP_READ, .len = len, .session = 3,
                        .id = 77, .offset = 8192};
    assert_int_equal(rio_send(p->tx, NULL, 0, &h, iov, iovcnt, len, frag, stage), 0);
    uint32_t nfrag = (len + frag - 1) / frag;
    for (uint32_t i = 0; i < nfrag; i++) {
        struct pollfd pf = {.fd = p->rx, .events = POLLIN};
        assert_int_equal(poll(&pf, 1, 2000), 1);
        ssize_t n = recv(p->rx, buf, RIO_DGRAM_MAX, MSG_DONTWAIT);
        uint32_t want = i + 1 < nfrag ? frag : len - i * frag;
        assert_int_equal(n, RIO_HDR_SIZE + want);
        struct rio_hdr o;
        assert_int_equal(rio_hdr_decode(buf, (size_t)n, &o), 0);
        assert_int_equal(o.frag_off, i * frag);
        assert_int_equal(o.frag_size, frag);
        assert_int_equal(o.len, len);
        assert_true(o.id == 77 && o.session == 3 && o.offset == 8192);
        struct iovec d = {buf + RIO_HDR_SIZE, want};
        assert_true(rio_sealed(buf, &d, 1, want));
        assert_memory_equal(buf + RIO_HDR_SIZE, data + i * frag, want);
    }
    assert_int_equal(recv(p->rx, buf, RIO_DGRAM_MAX, MSG_DONTWAIT), -1);
    assert_int_equal(errno, EAGAIN);
    free(stage);
    free(buf);
}

static void one_buffer(void **st, uint32_t len, uint16_t frag)
{
    uint8_t *data = malloc(len);
    fill(data, len, len);
    struct iovec v = {data, len};
    send_and_check(*st, &v, 1, data, len, frag);
    free(data);
}

static void read_answer_4k(void **st)
{
    one_buffer(st, 4096, 1400);
}

/* 47 fragments: more than one batch of 16, the last one short. */
static void many_fragments(void **st)
{
    one_buffer(st, 46 * 1400 + 123, 1400);
}

/* Jumbo fragments: a batch of 16 is over UDP's 64 KiB, so it goes out in
 * several segmented sends. */
static void jumbo_fragments(void **st)
{
    one_buffer(st, 20 * 8900 + 5, 8900);
}

/* Exactly full fragments, and a single fragment. */
static void edges(void **st)
{
    one_buffer(st, 3 * 1400, 1400);
    one_buffer(st, 1000, 1400);
}

/* A run of tiny iovecs in the middle: the fragment holding it needs more
 * than RIO_FRAG_IOV pieces and is sent from the stage between batches. */
static void scattered(void **st)
{
    uint32_t len = 6 * 1400;
    uint8_t *data = malloc(len);
    fill(data, len, 9);
    struct iovec v[80];
    int n = 0;
    uint32_t off = 0;
    v[n++] = (struct iovec){data, 2000};
    off = 2000;
    for (int i = 0; i < 70; i++, off += 10)
        v[n++] = (struct iovec){data + off, 10};
    v[n++] = (struct iovec){data + off, len - off};
    send_and_check(*st, v, n, data, len, 1400);
    free(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(read_answer_4k, setup, teardown),
        cmocka_unit_test_setup_teardown(many_fragments, setup, teardown),
        cmocka_unit_test_setup_teardown(jumbo_fragments, setup, teardown),
        cmocka_unit_test_setup_teardown(edges, setup, teardown),
        cmocka_unit_test_setup_teardown(scattered, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
