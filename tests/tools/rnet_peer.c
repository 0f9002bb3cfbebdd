/* rnet_peer: a hand-made vmhost tunnel against an iohost's net listener,
 * for what a real one never does. Each scenario exits 0 when the iohost
 * behaves as its contract says, 1 when not (and says what it saw), 2 on a
 * set-up error. Waits are bounded (at most 2 s per answer).
 *   moved   joins SWITCH, then pings with its session and slot from
 *           another socket (a NAT rebinding): that one must be told the
 *           peer is unknown (PONG -ENOENT), not answered as the peer.
 *   spoof   joins SWITCH, then sends a HELLO of the same name with a new
 *           session from the same address and port: refused (-EEXIST)
 *           while the first lives, not a replacement.
 *   flood N sends N HELLOs of distinct sessions and names at once and
 *           prints how many were answered ("answered A").
 *   zero N  sends N empty datagrams.
 *   forget N  plays an iohost at IOHOST_IP:PORT for N seconds that takes
 *           every HELLO and forgets the tunnel at every PING (PONG
 *           -ENOENT); prints "forgot K" (the tunnel's heartbeats).
 * usage: rnet_peer IOHOST_IP:PORT SWITCH SCENARIO [N] */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "remote/rio_io.h"
#include "remote/rnet_wire.h"

static struct sockaddr_storage g_to;
static socklen_t g_tolen;
static const char *g_sw;

static int sock(void)
{
    const char *why = "";
    int fd = rio_socket(NULL, 0, false, (struct sockaddr *)&g_to, g_tolen, &why);
    if (fd < 0) {
        fprintf(stderr, "rnet_peer: socket: %s\n", why);
        exit(2);
    }
    return fd;
}

static void send_msg(int fd, const struct rnet_hdr *h, const void *pl, size_t len)
{
    uint8_t hdr[RNET_HDR_SIZE];
    struct iovec v[2] = {{hdr, sizeof(hdr)}, {(void *)pl, len}};
    rnet_hdr_encode(h, hdr, &v[1], 1, len);
    struct msghdr m = {.msg_iov = v, .msg_iovlen = len ? 2 : 1};
    if (sendmsg(fd, &m, 0) < 0)
        fprintf(stderr, "rnet_peer: send: %s\n", strerror(errno));
}

static void hello(int fd, uint64_t session, const char *name)
{
    char pl[2 * RNET_NAME_MAX];
    size_t a = strlen(g_sw), b = strlen(name);
    memcpy(pl, g_sw, a + 1);
    memcpy(pl + a + 1, name, b);
    struct rnet_hdr h = {.type = RNET_T_HELLO, .session = session};
    send_msg(fd, &h, pl, a + 1 + b);
}

/* The next message of type on fd within ms, or false. */
static bool answer(int fd, uint8_t type, unsigned ms, struct rnet_hdr *out)
{
    uint8_t buf[65536];
    struct pollfd p = {.fd = fd, .events = POLLIN};
    while (poll(&p, 1, (int)ms) > 0) {
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n > 0 && rnet_hdr_decode(buf, (size_t)n, out) == 0 && out->type == type)
            return true;
    }
    return false;
}

static void ping(int fd, uint64_t session, uint16_t slot)
{
    uint64_t ts = 1;
    struct rnet_hdr h = {.type = RNET_T_PING, .peer = slot, .session = session};
    send_msg(fd, &h, &ts, sizeof(ts));
}

static int joined(int fd, uint64_t session, const char *name, uint16_t *slot)
{
    struct rnet_hdr a;
    hello(fd, session, name);
    if (!answer(fd, RNET_T_HELLO_ACK, 2000, &a) || a.status != 0) {
        fprintf(stderr, "rnet_peer: %s could not join %s\n", name, g_sw);
        exit(2);
    }
    *slot = a.peer;
    return 0;
}

static int moved(void)
{
    int a = sock(), b = sock();
    uint16_t slot;
    uint64_t session = 0x5eed0001u + (uint64_t)getpid();
    joined(a, session, "rpmoved", &slot);
    ping(b, session, slot);
    struct rnet_hdr r;
    if (answer(b, RNET_T_PONG, 2000, &r) && r.status == -ENOENT) {
        printf("moved: the other socket is told the peer is unknown\n");
        return 0;
    }
    if (answer(a, RNET_T_PONG, 500, &r))
        printf("moved: BUG: the ping from elsewhere was answered to the joining socket\n");
    else
        printf("moved: BUG: no PONG -ENOENT to the socket that pinged\n");
    return 1;
}

static int spoof(void)
{
    int a = sock();
    uint16_t slot;
    uint64_t session = 0x5eed1001u + (uint64_t)getpid();
    joined(a, session, "rpspoof", &slot);
    hello(a, session + 1, "rpspoof");
    struct rnet_hdr r;
    if (!answer(a, RNET_T_HELLO_ACK, 2000, &r)) {
        printf("spoof: BUG: the second HELLO got no answer\n");
        return 1;
    }
    if (r.status == -EEXIST) {
        printf("spoof: a new session of a live peer's name is refused\n");
        return 0;
    }
    printf("spoof: BUG: a new session from the live peer's address got status %d\n", r.status);
    return 1;
}

static int flood(unsigned n)
{
    int fd = sock();
    char name[32];
    for (unsigned i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "rpflood%u", i);
        hello(fd, 0x5eed2000u + i, name);
    }
    unsigned got = 0;
    struct rnet_hdr r;
    while (got < n && answer(fd, RNET_T_HELLO_ACK, 1000, &r))
        got++;
    printf("answered %u\n", got);
    return 0;
}

static int zero(unsigned n)
{
    int fd = sock();
    for (unsigned i = 0; i < n; i++)
        if (send(fd, "", 0, 0) < 0)
            fprintf(stderr, "rnet_peer: send: %s\n", strerror(errno));
    return 0;
}

static int forget(unsigned secs)
{
    const char *why = "";
    int fd = rio_socket((struct sockaddr *)&g_to, g_tolen, false, NULL, 0, &why);
    if (fd < 0) {
        fprintf(stderr, "rnet_peer: bind: %s\n", why);
        return 2;
    }
    uint8_t buf[65536];
    unsigned forgot = 0;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) > 0) {
            struct sockaddr_storage from;
            socklen_t fl = sizeof(from);
            ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
            struct rnet_hdr h;
            if (n > 0 && rnet_hdr_decode(buf, (size_t)n, &h) == 0 &&
                (h.type == RNET_T_HELLO || h.type == RNET_T_PING)) {
                struct rnet_hdr a = {.type = h.type == RNET_T_HELLO ? RNET_T_HELLO_ACK
                                                                   : RNET_T_PONG,
                                     .session = h.session,
                                     .status = h.type == RNET_T_PING ? -ENOENT : 0};
                uint8_t hdr[RNET_HDR_SIZE];
                struct iovec v[2] = {{hdr, sizeof(hdr)}, {buf + RNET_HDR_SIZE, 8}};
                size_t pl = h.type == RNET_T_PING ? 8 : 0;
                rnet_hdr_encode(&a, hdr, &v[1], 1, pl);
                struct msghdr m = {.msg_name = &from, .msg_namelen = fl, .msg_iov = v,
                                   .msg_iovlen = pl ? 2 : 1};
                if (sendmsg(fd, &m, 0) > 0 && h.type == RNET_T_PING)
                    forgot++;
            }
        }
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while (t.tv_sec - t0.tv_sec < (time_t)secs);
    printf("forgot %u\n", forgot);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 4 || rio_addr_parse(argv[1], &g_to, &g_tolen) < 0) {
        fprintf(stderr, "usage: rnet_peer IOHOST_IP:PORT SWITCH moved|spoof|flood N|zero N|"
                "forget N\n");
        return 2;
    }
    g_sw = argv[2];
    unsigned n = argc > 4 ? (unsigned)strtoul(argv[4], NULL, 10) : 1;
    if (!strcmp(argv[3], "moved"))
        return moved();
    if (!strcmp(argv[3], "spoof"))
        return spoof();
    if (!strcmp(argv[3], "flood"))
        return flood(n);
    if (!strcmp(argv[3], "zero"))
        return zero(n);
    if (!strcmp(argv[3], "forget"))
        return forget(n);
    fprintf(stderr, "rnet_peer: unknown scenario %s\n", argv[3]);
    return 2;
}
