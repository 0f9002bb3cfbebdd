/* libFuzzer harness: vRIO iohost server datagram handling (rio_srv_rx.c:
 * header decode, CRC, sessions, windows, fragment reassembly, NACK/HAVE
 * bitmaps) fed with a sequence of fuzzer datagrams over loopback UDP.
 * The server's socket queue is detached from its sidecore and polled
 * here, deterministically. Input: repeated [u16 len][len bytes]; for each
 * datagram of >= 72 bytes the harness sets magic/version/reserved, puts
 * the export's tag when device==0 and a fresh lease when lease==0, and
 * seals the CRC, unless bit 7 of the first input byte asks for raw bytes.
 * After the sequence all sessions are dropped (state does not leak). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "remote/rio_srv_int.h"
#include "remote/rio_wire.h"
#include "fuzz_common.h"

static struct sc_set *scs;
static struct rio_server *srv;
static struct rio_sq *sq;
static int cli;
static struct sockaddr_in sa;
static uint32_t tag;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    scs = fuzz_sidecores();
    const char *why = "";
    const char *port = getenv("SC_FUZZ_PORT") ? getenv("SC_FUZZ_PORT") : "42101";
    char listen[64];
    snprintf(listen, sizeof(listen), "127.0.0.1:%s", port);
    struct rio_server_params rp = {.listen = listen, .mem_budget = 8u << 20, .max_sessions = 8};
    srv = rio_server_create(&rp, scs, &why);
    if (!srv) { fprintf(stderr, "server: %s\n", why); abort(); }
    struct blk_backend *be = blk_null_create(1 << 20, 512, &why);
    if (!be || rio_server_add_export(srv, "fz", be, &why) < 0) { fprintf(stderr, "export: %s\n", why); abort(); }
    tag = rio_tag("fz");
    sq = srv->sq[0];
    sc_detach(&sq->scq);
    cli = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons(atoi(port));
    int big = 4 << 20;
    setsockopt(cli, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
    return 0;
}

static void drain_cli(void)
{
    static uint8_t b[70000];
    while (recv(cli, b, sizeof(b), MSG_DONTWAIT) > 0) {
        struct rio_hdr h;
        (void)rio_hdr_decode(b, 0, &h);
    }
}

static void poll_some(int n)
{
    for (int i = 0; i < n; i++)
        rio_sq_poll(&sq->scq);
    drain_cli();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    bool raw = data[0] & 0x80;
    data++, size--;
    static uint8_t d[66000];
    int count = 0;
    while (size >= 2 && count < 64) {
        size_t len = data[0] | (data[1] << 8);
        data += 2, size -= 2;
        if (len > size)
            len = size;
        memcpy(d, data, len);
        data += len, size -= len;
        /* small datagrams may be padded with zeros up to a size with a fragment */
        if (len >= RIO_HDR_SIZE && !raw) {
            d[0] = RIO_MAGIC & 0xff; d[1] = RIO_MAGIC >> 8; d[2] = RIO_VERSION;
            d[10] = d[11] = 0;
            memset(d + 68, 0, 4);
            uint32_t dev; memcpy(&dev, d + 12, 4);
            if (dev == 0) memcpy(d + 12, &tag, 4);
            uint32_t lease; memcpy(&lease, d + 28, 4);
            if (lease == 0) { lease = rio_stamp(sc_now_ns()); memcpy(d + 28, &lease, 4); }
            /* len and frag_off/payload consistency: let the fuzzer pick a
             * payload size implicitly by the datagram length */
            struct iovec v = {d + RIO_HDR_SIZE, len - RIO_HDR_SIZE};
            rio_seal(d, &v, 1, (uint32_t)(len - RIO_HDR_SIZE));
        }
        sendto(cli, d, len, 0, (struct sockaddr *)&sa, sizeof(sa));
        count++;
        if (count % 4 == 0)
            poll_some(1);
    }
    poll_some(3);
    /* let backends finish and forget everything */
    for (int i = 0; i < 100 && (sq->exec || sq->ready_head); i++)
        poll_some(1);
    rio_sq_drain(sq);
    rio_sess_drop_export(sq, ~0u);
    return 0;
}
