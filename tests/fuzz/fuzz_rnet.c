/* libFuzzer harness: vRIO net listener (rnet_server.c: header decode, HELLO
 * join parsing, PING/BYE, DATA frames with NEEDS_CSUM into a switch, and
 * what the switch sends on to another remote peer: rnet_send_pkts). Black
 * box, threaded: a real listener on loopback polled by its sidecore, joins
 * on the control evloop pumped here; a switch "sw0" with a sink port and two
 * harness peers A and B (joined at start). Input: repeated
 * [u8 who][u16 len][len bytes]; bytes = 32-byte header (fields taken from
 * the input, session 0 -> the sender's session, peer 0xffff -> its slot)
 * + payload; the harness encodes it with a valid CRC (who bit 7: raw). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend/net_sink.h"
#include "backend/net_switch.h"
#include "common/evloop.h"
#include "common/log.h"
#include "remote/rnet_server.h"
#include "remote/rnet_wire.h"
#include "fuzz_common.h"

static struct sc_set *scs;
static struct evloop *loop;
static struct net_switch *sw;
static struct rnet_server *rs;
static int sk[2];
static uint64_t sess[2] = {0x1111, 0x2222};
static uint16_t slot[2];
static struct sockaddr_in to;

static struct net_switch *find_sw(void *o, const char *name)
{
    (void)o;
    return strcmp(name, "sw0") == 0 ? sw : NULL;
}

static void pump(int n) { for (int i = 0; i < n; i++) evloop_run_once(loop, 0); }

static void drain(int who, bool learn)
{
    static uint8_t b[70000];
    for (;;) {
        ssize_t n = recv(sk[who], b, sizeof(b), MSG_DONTWAIT);
        if (n <= 0)
            return;
        struct rnet_hdr h;
        if (learn && rnet_hdr_decode(b, (size_t)n, &h) == 0 && h.type == RNET_T_HELLO_ACK &&
            h.status == 0)
            slot[who] = h.peer;
    }
}

static void join(int who, const char *name)
{
    uint8_t pl[64];
    size_t n = (size_t)snprintf((char *)pl, sizeof(pl), "sw0%c%s", 0, name);
    struct rnet_hdr h = {.type = RNET_T_HELLO, .session = sess[who]};
    uint8_t d[RNET_HDR_SIZE + 64];
    struct iovec v = {pl, n};
    rnet_hdr_encode(&h, d, &v, 1, n);
    memcpy(d + RNET_HDR_SIZE, pl, n);
    for (int i = 0; i < 200; i++) {
        slot[who] = 0xffff;
        send(sk[who], d, RNET_HDR_SIZE + n, 0);
        for (int k = 0; k < 50 && slot[who] == 0xffff; k++) {
            pump(1);
            usleep(1000);
            drain(who, true);
        }
        if (slot[who] != 0xffff)
            return;
    }
    fprintf(stderr, "join failed\n");
    abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    scs = fuzz_sidecores();
    loop = evloop_create();
    const char *why = "";
    sw = net_switch_create("sw0", 1024, 300, &why);
    struct net_sink_params sp = {.name = "sink0", .mac = {2, 0, 0, 0, 0, 0x55}};
    struct net_sink *sink = net_sink_create(&sp, &why);
    if (!sw || !sink || net_switch_add_port(sw, net_sink_port(sink), &why) < 0) {
        fprintf(stderr, "setup: %s\n", why);
        abort();
    }
    const char *port = getenv("SC_FUZZ_PORT") ? getenv("SC_FUZZ_PORT") : "42120";
    char listen[64];
    snprintf(listen, sizeof(listen), "127.0.0.1:%s", port);
    struct rnet_server_params rp = {.listen = listen, .peer_timeout_ms = 600000};
    struct rnet_server_hooks hk = {.find_switch = find_sw};
    rs = rnet_server_create(&rp, scs, loop, &hk, &why);
    if (!rs) { fprintf(stderr, "rnet: %s\n", why); abort(); }
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    to.sin_port = htons(atoi(port));
    for (int i = 0; i < 2; i++) {
        sk[i] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        connect(sk[i], (struct sockaddr *)&to, sizeof(to));
        int big = 8 << 20;
        setsockopt(sk[i], SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
    }
    join(0, "tunA");
    join(1, "tunB");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t d[70000];
    static unsigned iter;
    if (++iter % 256 == 0) {
        join(0, "tunA");
        join(1, "tunB");
    }
    int count = 0;
    while (size >= 3 && count < 32) {
        uint8_t who = data[0];
        size_t len = data[1] | (data[2] << 8);
        data += 3, size -= 3;
        if (len > size) len = size;
        int w = who & 1;
        if (len >= RNET_HDR_SIZE && !(who & 0x80)) {
            struct rnet_hdr h;
            h.type = data[3];
            h.flags = data[4];
            memcpy(&h.peer, data + 6, 2);
            memcpy(&h.status, data + 8, 4);
            memcpy(&h.session, data + 12, 8);
            memcpy(&h.seq, data + 20, 4);
            memcpy(&h.csum_start, data + 24, 2);
            memcpy(&h.csum_offset, data + 26, 2);
            if (h.session == 0) h.session = sess[w];
            if (h.peer == 0xffff) h.peer = slot[w];
            struct iovec v = {(void *)(data + RNET_HDR_SIZE), len - RNET_HDR_SIZE};
            rnet_hdr_encode(&h, d, &v, 1, len - RNET_HDR_SIZE);
            memcpy(d + RNET_HDR_SIZE, data + RNET_HDR_SIZE, len - RNET_HDR_SIZE);
        } else {
            memcpy(d, data, len);
        }
        data += len, size -= len;
        send(sk[w], d, len, 0);
        count++;
    }
    usleep(300);
    pump(3);
    drain(0, false);
    drain(1, false);
    return 0;
}
