#include "rpc.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/util.h"

#define RPC_MAX_REPLY (4u << 20)

static int rpc_connect(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path))
        return -ENAMETOOLONG;
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

json_t *rpc_call(const char *socket, const char *method, json_t *params, int timeout_ms)
{
    int fd = rpc_connect(socket);
    if (fd < 0) {
        fprintf(stderr, "sidecore-bench: RPC connect %s: %s\n", socket, strerror(-fd));
        return NULL;
    }
    json_t *req = json_pack("{s:s,s:i,s:s}", "jsonrpc", "2.0", "id", 1, "method", method);
    if (params)
        json_object_set(req, "params", params);
    char *line = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    json_t *result = NULL;
    char *buf = NULL;
    if (!line)
        goto out;
    size_t len = strlen(line);
    line[len] = '\n'; /* json_dumps leaves the terminator; replace and send len+1 */
    if (send(fd, line, len + 1, MSG_NOSIGNAL) != (ssize_t)(len + 1)) {
        fprintf(stderr, "sidecore-bench: RPC %s: send failed: %s\n", method, strerror(errno));
        goto out;
    }
    size_t cap = 65536, used = 0;
    buf = malloc(cap);
    uint64_t deadline = sc_now_ns() + (uint64_t)timeout_ms * 1000000ull;
    while (buf && !memchr(buf, '\n', used)) {
        uint64_t now = sc_now_ns();
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (now >= deadline || poll(&p, 1, (int)((deadline - now) / 1000000) + 1) <= 0) {
            if (sc_now_ns() < deadline && errno == EINTR)
                continue;
            fprintf(stderr, "sidecore-bench: RPC %s: no answer within %d ms\n", method,
                    timeout_ms);
            goto out;
        }
        if (used + 1 >= cap) {
            if (cap >= RPC_MAX_REPLY) {
                fprintf(stderr, "sidecore-bench: RPC %s: reply larger than %u bytes\n", method,
                        RPC_MAX_REPLY);
                goto out;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb)
                goto out;
            buf = nb;
            cap *= 2;
        }
        ssize_t n = recv(fd, buf + used, cap - used - 1, 0);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            fprintf(stderr, "sidecore-bench: RPC %s: connection closed before a reply\n",
                    method);
            goto out;
        }
        used += (size_t)n;
    }
    if (!buf)
        goto out;
    json_error_t jerr;
    json_t *rep = json_loadb(buf, (size_t)((char *)memchr(buf, '\n', used) - buf), 0, &jerr);
    if (!rep) {
        fprintf(stderr, "sidecore-bench: RPC %s: bad JSON reply: %s\n", method, jerr.text);
        goto out;
    }
    json_t *err = json_object_get(rep, "error");
    if (err) {
        fprintf(stderr, "sidecore-bench: RPC %s failed: %s\n", method,
                json_string_value(json_object_get(err, "message"))
                    ? json_string_value(json_object_get(err, "message"))
                    : "(no message)");
    } else if ((result = json_object_get(rep, "result"))) {
        json_incref(result);
    } else {
        fprintf(stderr, "sidecore-bench: RPC %s: reply has neither result nor error\n", method);
    }
    json_decref(rep);
out:
    free(buf);
    free(line);
    close(fd);
    return result;
}
