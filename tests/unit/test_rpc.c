/* The JSON-RPC server over a real unix socket, with a fake method table:
 * framing (pipelined, split, CRLF and blank lines), parse errors that keep
 * the connection, over-long lines that close it, unknown methods, invalid
 * requests and params, notifications, many clients, answers given later
 * (in order, others served meanwhile, the asker gone), and the socket file's
 * life cycle (stale replaced, live refused, unlinked on destroy). The test
 * runs the loop itself between client steps; every wait is bounded. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/evloop.h"
#include "common/util.h"
#include "control/rpc.h"

#define WAIT_NS (5ull * 1000000000ull)

struct fixture {
    char dir[32];
    char path[64];
    struct evloop *loop;
    struct rpc_server *srv;
    int calls;
    struct rpc_later *later;
};

static json_t *m_echo(json_t *params, void *opaque, struct rpc_error *err)
{
    struct fixture *f = opaque;
    (void)err;
    f->calls++;
    return params ? json_incref(params) : json_null();
}

static json_t *m_need_name(json_t *params, void *opaque, struct rpc_error *err)
{
    (void)opaque;
    if (!json_is_string(json_object_get(params, "name")))
        return rpc_fail(err, RPC_INVALID_PARAMS, "params.name: expected a string");
    return json_string(json_string_value(json_object_get(params, "name")));
}

static json_t *m_fail_silently(json_t *params, void *opaque, struct rpc_error *err)
{
    (void)params;
    (void)opaque;
    (void)err;
    return NULL;
}

static json_t *m_later(json_t *params, void *opaque, struct rpc_error *err)
{
    struct fixture *f = opaque;
    (void)params;
    (void)err;
    f->later = rpc_defer();
    assert_non_null(f->later);
    return NULL;
}

static const struct rpc_method methods[] = {{"echo", m_echo},
                                            {"need_name", m_need_name},
                                            {"fail_silently", m_fail_silently},
                                            {"later", m_later}};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_rpc.XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/rpc.sock", f->dir);
    f->loop = evloop_create();
    const char *why = NULL;
    f->srv = rpc_server_create(f->loop, f->path, methods, SC_ARRAY_SIZE(methods), f, &why);
    if (!f->srv) {
        fprintf(stderr, "rpc_server_create: %s\n", why);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    rpc_server_destroy(f->srv);
    evloop_destroy(f->loop);
    rmdir(f->dir);
    free(f);
    return 0;
}

static int client(struct fixture *f)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

static void send_str(int fd, const char *s)
{
    size_t len = strlen(s);
    assert_int_equal(send(fd, s, len, MSG_NOSIGNAL), (ssize_t)len);
}

/* Runs the loop until the client has a whole line (returned, parsed) or the
 * connection is closed (returns NULL, *closed set). */
static json_t *read_reply(struct fixture *f, int fd, bool *closed)
{
    static char buf[256 * 1024];
    static size_t used;
    static int buf_fd = -1;
    if (buf_fd != fd) {
        used = 0;
        buf_fd = fd;
    }
    uint64_t deadline = sc_now_ns() + WAIT_NS;
    *closed = false;
    for (;;) {
        char *nl = memchr(buf, '\n', used);
        if (nl) {
            json_error_t jerr;
            json_t *j = json_loadb(buf, (size_t)(nl - buf), 0, &jerr);
            if (!j)
                fail_msg("server sent bad JSON: %.*s", (int)(nl - buf), buf);
            size_t rest = used - (size_t)(nl + 1 - buf);
            memmove(buf, nl + 1, rest);
            used = rest;
            return j;
        }
        if (sc_now_ns() > deadline)
            fail_msg("no reply within 5 s");
        evloop_run_once(f->loop, 20);
        ssize_t n = recv(fd, buf + used, sizeof(buf) - used, MSG_DONTWAIT);
        if (n == 0) {
            *closed = true;
            return NULL;
        }
        if (n > 0)
            used += (size_t)n;
    }
}

static json_t *reply(struct fixture *f, int fd)
{
    bool closed;
    json_t *j = read_reply(f, fd, &closed);
    if (!j)
        fail_msg("server closed the connection instead of replying");
    return j;
}

static void assert_error(json_t *rep, int code, const char *msg_part)
{
    json_t *err = json_object_get(rep, "error");
    if (!err)
        fail_msg("expected an error reply, got %s", json_dumps(rep, 0));
    assert_int_equal(json_integer_value(json_object_get(err, "code")), code);
    const char *msg = json_string_value(json_object_get(err, "message"));
    assert_non_null(msg);
    if (!strstr(msg, msg_part))
        fail_msg("error message \"%s\" lacks \"%s\"", msg, msg_part);
    assert_string_equal(json_string_value(json_object_get(rep, "jsonrpc")), "2.0");
}

static void test_call(void **state)
{
    struct fixture *f = *state;
    int fd = client(f);
    send_str(fd, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"echo\",\"params\":{\"a\":1}}\n");
    json_t *r = reply(f, fd);
    assert_int_equal(json_integer_value(json_object_get(r, "id")), 7);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "result"), "a")), 1);
    assert_null(json_object_get(r, "error"));
    json_decref(r);
    /* String ids come back unchanged. */
    send_str(fd, "{\"jsonrpc\":\"2.0\",\"id\":\"x-1\",\"method\":\"need_name\","
                 "\"params\":{\"name\":\"blk0\"}}\n");
    r = reply(f, fd);
    assert_string_equal(json_string_value(json_object_get(r, "id")), "x-1");
    assert_string_equal(json_string_value(json_object_get(r, "result")), "blk0");
    json_decref(r);
    close(fd);
}

static void test_framing(void **state)
{
    struct fixture *f = *state;
    int fd = client(f);
    /* Three requests in one write, with a blank line and CRLF between. */
    send_str(fd, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\",\"params\":[1]}\n\n"
                 "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"echo\",\"params\":[2]}\r\n"
                 "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"echo\",\"params\":[3]}\n");
    for (int i = 1; i <= 3; i++) {
        json_t *r = reply(f, fd);
        assert_int_equal(json_integer_value(json_object_get(r, "id")), i);
        assert_int_equal(json_integer_value(json_array_get(json_object_get(r, "result"), 0)), i);
        json_decref(r);
    }
    /* One request split over two writes is answered once it is whole. */
    int before = f->calls;
    send_str(fd, "{\"jsonrpc\":\"2.0\",\"id\":4,\"met");
    for (int i = 0; i < 5; i++)
        evloop_run_once(f->loop, 10);
    assert_int_equal(f->calls, before);
    send_str(fd, "hod\":\"echo\"}\n");
    json_t *r = reply(f, fd);
    assert_int_equal(json_integer_value(json_object_get(r, "id")), 4);
    assert_true(json_is_null(json_object_get(r, "result")));
    json_decref(r);
    close(fd);
}

static void test_parse_error_keeps_connection(void **state)
{
    struct fixture *f = *state;
    int fd = client(f);
    send_str(fd, "{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \n");
    json_t *r = reply(f, fd);
    assert_error(r, RPC_PARSE_ERROR, "parse error");
    assert_true(json_is_null(json_object_get(r, "id")));
    json_decref(r);
    send_str(fd, "not json at all\n");
    r = reply(f, fd);
    assert_error(r, RPC_PARSE_ERROR, "parse error");
    json_decref(r);
    /* A key given twice is ambiguous (which size did the operator mean?): refused. */
    send_str(fd, "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"echo\",\"method\":\"echo\"}\n");
    r = reply(f, fd);
    assert_error(r, RPC_PARSE_ERROR, "duplicate");
    json_decref(r);
    send_str(fd, "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"echo\"}\n");
    r = reply(f, fd);
    assert_int_equal(json_integer_value(json_object_get(r, "id")), 9);
    json_decref(r);
    close(fd);
}

static void test_long_line_closes(void **state)
{
    struct fixture *f = *state;
    int fd = client(f);
    size_t len = RPC_MAX_LINE + 4096;
    char *big = malloc(len);
    memset(big, ' ', len);
    big[0] = '{';
    size_t off = 0;
    uint64_t deadline = sc_now_ns() + WAIT_NS;
    bool closed = false;
    json_t *r = NULL;
    /* Interleave sending with serving: the socket buffer may be smaller. */
    while (off < len && sc_now_ns() < deadline) {
        ssize_t n = send(fd, big + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0)
            off += (size_t)n;
        else if (n < 0 && errno != EAGAIN)
            break; /* the server may close while we still send: fine */
        evloop_run_once(f->loop, 10);
    }
    free(big);
    r = read_reply(f, fd, &closed);
    assert_non_null(r);
    assert_error(r, RPC_INVALID_REQUEST, "65536 bytes without a newline (a request is at most 65535 bytes");
    json_decref(r);
    r = read_reply(f, fd, &closed);
    assert_null(r);
    assert_true(closed);
    close(fd);
    /* The server still serves others. */
    fd = client(f);
    send_str(fd, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\"}\n");
    r = reply(f, fd);
    assert_int_equal(json_integer_value(json_object_get(r, "id")), 1);
    json_decref(r);
    close(fd);
}

static void test_bad_requests(void **state)
{
    struct fixture *f = *state;
    int fd = client(f);
    static const struct {
        const char *line;
        int code;
        const char *msg;
    } cases[] = {
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"frobnicate\"}\n", RPC_METHOD_NOT_FOUND,
         "method not found: frobnicate"},
        {"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"need_name\",\"params\":{}}\n",
         RPC_INVALID_PARAMS, "params.name: expected a string"},
        {"{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"need_name\"}\n", RPC_INVALID_PARAMS,
         "params.name"},
        {"{\"id\":4,\"method\":\"echo\"}\n", RPC_INVALID_REQUEST, "\"jsonrpc\" must be \"2.0\""},
        {"{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":42}\n", RPC_INVALID_REQUEST,
         "\"method\" must be a string"},
        {"{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"echo\",\"params\":\"x\"}\n",
         RPC_INVALID_REQUEST, "\"params\" must be an object or an array"},
        {"[{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"echo\"}]\n", RPC_INVALID_REQUEST,
         "batches are not supported"},
        {"{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"echo\"}\n", RPC_INVALID_REQUEST,
         "\"id\" must be"},
        {"{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"fail_silently\"}\n", RPC_INTERNAL_ERROR,
         "fail_silently failed"},
    };
    for (size_t i = 0; i < SC_ARRAY_SIZE(cases); i++) {
        send_str(fd, cases[i].line);
        json_t *r = reply(f, fd);
        assert_error(r, cases[i].code, cases[i].msg);
        json_decref(r);
    }
    close(fd);
}

static void test_notifications(void **state)
{
    struct fixture *f = *state;
    int fd = client(f);
    int before = f->calls;
    /* No id: served but never answered, even when wrong. */
    send_str(fd, "{\"jsonrpc\":\"2.0\",\"method\":\"echo\"}\n"
                 "{\"jsonrpc\":\"2.0\",\"method\":\"nope\"}\n"
                 "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"echo\"}\n");
    json_t *r = reply(f, fd);
    assert_int_equal(json_integer_value(json_object_get(r, "id")), 5);
    json_decref(r);
    assert_int_equal(f->calls, before + 2);
    close(fd);
}

/* Not requests, hence not notifications: answered with a null id (they
 * got nothing, and a client waiting for an answer hung). */
static void test_invalid_without_id(void **state)
{
    struct fixture *f = *state;
    int fd = client(f);
    static const char *const bad[] = {"{}\n", "{\"method\":\"echo\"}\n",
                                      "{\"jsonrpc\":\"2.0\"}\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        send_str(fd, bad[i]);
        json_t *r = reply(f, fd);
        assert_error(r, RPC_INVALID_REQUEST, "invalid request");
        assert_true(json_is_null(json_object_get(r, "id")));
        json_decref(r);
    }
    close(fd);
}

/* Idle connections filling every place give way to a newcomer once they
 * have been silent for RPC_IDLE_EVICT_MS; before, all newcomers were
 * refused for as long as the idle ones stayed. */
static void test_idle_clients_evicted(void **state)
{
    struct fixture *f = *state;
    int fds[RPC_MAX_CLIENTS];
    for (int i = 0; i < RPC_MAX_CLIENTS; i++)
        fds[i] = client(f);
    send_str(fds[0], "{\"jsonrpc\":\"2.0\",\"id\":1,"); /* half a line, then silence */
    for (int i = 0; i < 50; i++)
        evloop_run_once(f->loop, 10);
    assert_int_equal(rpc_server_clients(f->srv), RPC_MAX_CLIENTS);
    /* A client active a moment ago keeps its place: the newcomer is refused. */
    int late = client(f);
    bool closed;
    json_t *r = read_reply(f, late, &closed);
    assert_error(r, -32000, "too many RPC clients");
    json_decref(r);
    close(late);
    /* Later, the newcomer is served, and one idle client was told why it goes. */
    struct timespec ts = {1, 100 * 1000 * 1000};
    nanosleep(&ts, NULL);
    int fd = client(f);
    send_str(fd, "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"echo\"}\n");
    r = reply(f, fd);
    assert_int_equal(json_integer_value(json_object_get(r, "id")), 9);
    json_decref(r);
    int told = 0;
    for (int i = 0; i < RPC_MAX_CLIENTS; i++) {
        char buf[512];
        ssize_t n = recv(fds[i], buf, sizeof(buf) - 1, MSG_DONTWAIT);
        if (n > 0) {
            buf[n] = '\0';
            assert_non_null(strstr(buf, "closing an idle RPC connection"));
            told++;
        }
        close(fds[i]);
    }
    assert_int_equal(told, 1);
    close(fd);
    for (int i = 0; i < 50 && rpc_server_clients(f->srv); i++)
        evloop_run_once(f->loop, 10);
    assert_int_equal(rpc_server_clients(f->srv), 0);
}

static void test_many_clients(void **state)
{
    struct fixture *f = *state;
    enum { N = 24 };
    int fds[N];
    for (int i = 0; i < N; i++)
        fds[i] = client(f);
    for (int i = 0; i < N; i++) {
        char line[128];
        snprintf(line, sizeof(line),
                 "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"echo\",\"params\":[%d]}\n", i, i * 3);
        send_str(fds[i], line);
    }
    for (int i = N - 1; i >= 0; i--) {
        json_t *r = reply(f, fds[i]);
        assert_int_equal(json_integer_value(json_object_get(r, "id")), i);
        assert_int_equal(json_integer_value(json_array_get(json_object_get(r, "result"), 0)),
                         i * 3);
        json_decref(r);
    }
    assert_int_equal(rpc_server_clients(f->srv), N);
    for (int i = 0; i < N; i++)
        close(fds[i]);
    uint64_t deadline = sc_now_ns() + WAIT_NS;
    while (rpc_server_clients(f->srv) > 0 && sc_now_ns() < deadline)
        evloop_run_once(f->loop, 20);
    assert_int_equal(rpc_server_clients(f->srv), 0);
}

static long rss_kib(void)
{
    FILE *fp = fopen("/proc/self/statm", "r");
    long pages = 0, rss = 0;
    assert_non_null(fp);
    assert_int_equal(fscanf(fp, "%ld %ld", &pages, &rss), 2);
    fclose(fp);
    return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Sends 60 KB echo requests and never reads: the server drops the client
 * once 16 MiB of answers are pending. */
static void flood_until_dropped(struct fixture *f)
{
    static char line[61 * 1024];
    int n = snprintf(line, sizeof(line), "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\","
                     "\"params\":[\"");
    memset(line + n, 'x', 60 * 1024);
    strcpy(line + n + 60 * 1024, "\"]}\n");
    size_t len = strlen(line), off = 0;
    int fd = client(f);
    uint64_t deadline = sc_now_ns() + 4 * WAIT_NS;
    while (rpc_server_clients(f->srv) == 0 && sc_now_ns() < deadline)
        evloop_run_once(f->loop, 10);
    while (rpc_server_clients(f->srv) > 0 && sc_now_ns() < deadline) {
        ssize_t w = send(fd, line + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0)
            off = (off + (size_t)w) % len;
        evloop_run_once(f->loop, w > 0 ? 0 : 1);
    }
    assert_int_equal(rpc_server_clients(f->srv), 0);
    close(fd);
}

/* Clients that do not read their answers are dropped; the memory their
 * answers took goes back to the system (RSS stayed 16 MiB up per client
 * dropped, the allocator keeping the freed buffer once its mmap threshold
 * had grown past it). Not under ASan, whose allocator keeps freed memory
 * in quarantine by design. */
static void test_unread_answers_dropped_memory_returned(void **state)
{
    struct fixture *f = *state;
    flood_until_dropped(f);
    long before = rss_kib();
    flood_until_dropped(f);
    flood_until_dropped(f);
    long after = rss_kib();
#if !defined(__SANITIZE_ADDRESS__)
    if (after - before > 8 * 1024)
        fail_msg("RSS grew by %ld KiB over two dropped clients", after - before);
#else
    (void)after;
    (void)before;
#endif
}

static void test_half_close_still_answered(void **state)
{
    struct fixture *f = *state;
    int fd = client(f);
    send_str(fd, "{\"jsonrpc\":\"2.0\",\"id\":11,\"method\":\"echo\"}\n");
    shutdown(fd, SHUT_WR);
    bool closed;
    json_t *r = read_reply(f, fd, &closed);
    assert_non_null(r);
    assert_int_equal(json_integer_value(json_object_get(r, "id")), 11);
    json_decref(r);
    assert_null(read_reply(f, fd, &closed));
    assert_true(closed);
    close(fd);
}

/* Runs the loop until cond(f) or 5 s. */
static void run_until(struct fixture *f, bool (*cond)(struct fixture *f))
{
    uint64_t deadline = sc_now_ns() + WAIT_NS;
    while (!cond(f) && sc_now_ns() < deadline)
        evloop_run_once(f->loop, 20);
    assert_true(cond(f));
}

static bool later_taken(struct fixture *f) { return f->later != NULL; }
static bool one_client(struct fixture *f) { return rpc_server_clients(f->srv) == 1; }

/* Nothing arrives on fd while the loop runs for about 100 ms. */
static void assert_silent(struct fixture *f, int fd)
{
    for (int i = 0; i < 5; i++)
        evloop_run_once(f->loop, 20);
    char c;
    assert_int_equal(recv(fd, &c, 1, MSG_DONTWAIT | MSG_PEEK), -1);
    assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
}

static void test_deferred_answers(void **state)
{
    struct fixture *f = *state;
    int a = client(f), b = client(f);
    /* A's second request waits behind the deferred first; B is served. */
    send_str(a, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"later\"}\n"
                "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"echo\",\"params\":[2]}\n");
    run_until(f, later_taken);
    send_str(b, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"echo\"}\n");
    json_t *r = reply(f, b);
    assert_int_equal(json_integer_value(json_object_get(r, "id")), 3);
    json_decref(r);
    assert_silent(f, a);
    struct rpc_later *l = f->later;
    f->later = NULL;
    rpc_later_done(l, json_string("done"), NULL);
    r = reply(f, a);
    assert_int_equal(json_integer_value(json_object_get(r, "id")), 1);
    assert_string_equal(json_string_value(json_object_get(r, "result")), "done");
    json_decref(r);
    r = reply(f, a);
    assert_int_equal(json_integer_value(json_object_get(r, "id")), 2);
    json_decref(r);

    /* A deferred failure. */
    send_str(a, "{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"method\":\"later\"}\n");
    run_until(f, later_taken);
    struct rpc_error e = {.code = RPC_SERVER_ERROR};
    snprintf(e.message, sizeof(e.message), "the backend gave up");
    l = f->later;
    f->later = NULL;
    rpc_later_done(l, NULL, &e);
    r = reply(f, a);
    assert_string_equal(json_string_value(json_object_get(r, "id")), "x");
    assert_error(r, RPC_SERVER_ERROR, "gave up");
    json_decref(r);

    /* A client that half-closes after asking still gets the deferred
     * answer and the one behind it, then the connection closes. */
    int h = client(f);
    send_str(h, "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"later\"}\n"
                "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"echo\"}\n");
    shutdown(h, SHUT_WR);
    run_until(f, later_taken);
    assert_silent(f, h);
    l = f->later;
    f->later = NULL;
    rpc_later_done(l, json_string("half"), NULL);
    r = reply(f, h);
    assert_int_equal(json_integer_value(json_object_get(r, "id")), 6);
    json_decref(r);
    r = reply(f, h);
    assert_int_equal(json_integer_value(json_object_get(r, "id")), 7);
    json_decref(r);
    bool closed;
    assert_null(read_reply(f, h, &closed));
    assert_true(closed);
    close(h);

    /* The asker hangs up while its answer is deferred: the server lets go
     * of it (no busy loop on the hangup) and the late answer goes nowhere. */
    send_str(b, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"later\"}\n");
    run_until(f, later_taken);
    close(b);
    run_until(f, one_client);
    l = f->later;
    f->later = NULL;
    rpc_later_done(l, json_string("late"), NULL);

    /* The server goes while an answer is deferred: answering is harmless. */
    send_str(a, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"later\"}\n");
    run_until(f, later_taken);
    rpc_server_destroy(f->srv);
    f->srv = NULL;
    l = f->later;
    f->later = NULL;
    rpc_later_done(l, json_string("after"), NULL);
    close(a);
}

static void test_socket_file(void **state)
{
    struct fixture *f = *state;
    const char *why = NULL;
    /* A live server on the path is not replaced. */
    struct rpc_server *s2 = rpc_server_create(f->loop, f->path, methods, 1, f, &why);
    assert_null(s2);
    assert_non_null(strstr(why, "in use"));

    /* A stale socket (nobody listening) is replaced. */
    char stale[80];
    snprintf(stale, sizeof(stale), "%s/stale.sock", f->dir);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", stale);
    int sfd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_int_equal(bind(sfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(sfd);
    s2 = rpc_server_create(f->loop, stale, methods, 1, f, &why);
    assert_non_null(s2);
    rpc_server_destroy(s2);
    struct stat st;
    assert_int_equal(stat(stale, &st), -1);

    /* A regular file is never clobbered. */
    FILE *fp = fopen(stale, "w");
    assert_non_null(fp);
    fclose(fp);
    s2 = rpc_server_create(f->loop, stale, methods, 1, f, &why);
    assert_null(s2);
    assert_non_null(strstr(why, "not a socket"));
    assert_int_equal(stat(stale, &st), 0);
    unlink(stale);

    /* Owner and group only, even under a umask that would allow others. */
    mode_t old_mask = umask(0);
    s2 = rpc_server_create(f->loop, stale, methods, 1, f, &why);
    umask(old_mask);
    assert_non_null(s2);
    assert_int_equal(stat(stale, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0660);
    rpc_server_destroy(s2);

    /* Destroy unlinks the path. */
    rpc_server_destroy(f->srv);
    assert_int_equal(stat(f->path, &st), -1);
    f->srv = rpc_server_create(f->loop, f->path, methods, SC_ARRAY_SIZE(methods), f, &why);
    assert_non_null(f->srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_call, setup, teardown),
        cmocka_unit_test_setup_teardown(test_framing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parse_error_keeps_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_line_closes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_notifications, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_without_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_clients_evicted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_clients, setup, teardown),
        cmocka_unit_test_setup_teardown(test_half_close_still_answered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unread_answers_dropped_memory_returned, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_deferred_answers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_socket_file, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
