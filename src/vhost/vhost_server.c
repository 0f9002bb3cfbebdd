/* Socket side of a vhost-user device: the listening socket (server mode,
 * one frontend at a time, extra connections are refused) or the outgoing
 * connection with a reconnect timer (client mode, backoff doubling from
 * 50 ms up to 1 s), the message loop step, failures and teardown.
 *
 * Failures reach us two ways: a bad message (control thread, vhu_fail) or the
 * device failing on a sidecore (vdev_fail -> vhu_on_fail on that thread, which
 * only wakes the control thread through an eventfd; the teardown happens
 * here, where the connection state lives). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/sockpath.h"
#include "../common/util.h"
#include "vhost_int.h"

#define VHU_BACKOFF_MIN_MS 50u
#define VHU_BACKOFF_MAX_MS 1000u
/* Messages handled per wake-up, so one chatty frontend cannot starve the loop. */
#define VHU_MSGS_PER_EVENT 64

static void on_conn_event(int fd, uint32_t events, void *opaque);
static int dispatch(struct vhost_dev *v);
static void try_connect(void *opaque);

static void schedule_reconnect(struct vhost_dev *v)
{
    if (!v->client || v->reconnect_timer > 0 || !v->loop)
        return;
    int id = evloop_timer(v->loop, v->backoff_ms, try_connect, v);
    if (id < 0) {
        LOG_ERR(VHU_COMP, "%s: cannot arm the reconnect timer: %s; the device stays disconnected",
                v->dev->name, strerror(-id));
        return;
    }
    v->reconnect_timer = id;
    v->backoff_ms = v->backoff_ms * 2 > VHU_BACKOFF_MAX_MS ? VHU_BACKOFF_MAX_MS : v->backoff_ms * 2;
}

/* Everything the frontend gave us goes, queues first (the data path may be
 * using memory, log and inflight area until they are stopped). */
static void teardown(struct vhost_dev *v)
{
    vhu_settle_cancel(v);
    if (v->conn.fd >= 0)
        evloop_del(v->loop, v->conn.fd);
    atomic_store_explicit(&v->vpri.owner_gone, true, memory_order_release);
    vhu_queues_reset(v);
    v->dev->ops->reset(v->dev);
    vhu_mem_forget(v);
    vhu_log_forget(v);
    vhu_inflight_forget(v);
    vhu_vpri_forget(v);
    vhu_backend_ch_forget(v);
    v->features = 0;
    v->features_set = false;
    v->protocol_features = 0;
    v->protocol_set = false;
    vhu_conn_close(&v->conn);
    /* The failure was the connection's: with it gone the device waits for
     * the next frontend, its last failure still in v->why and the count. */
    v->failed = false;
    atomic_store(&v->dev->broken, false);
}

static void disconnect(struct vhost_dev *v)
{
    teardown(v);
    schedule_reconnect(v);
}

/* Disconnect once the rings finished what they hold (vhost_settle.c). */
static void hang_up(struct vhost_dev *v)
{
    if (!vhu_settle_begin(v, true))
        disconnect(v);
}

void vhu_fail(struct vhost_dev *v, uint16_t qidx, const char *msgname, const char *reason)
{
    LOG_ERR(VHU_COMP, "%s: %s: %s; device stopped, waiting for a new frontend connection",
            v->dev->name, msgname, reason);
    snprintf(v->why, sizeof(v->why), "%s: %s", msgname, reason);
    v->failed = true;
    v->failures++;
    vdev_fail_quiet(v->dev, qidx, "%s: %s", msgname, reason);
}

static void attach(struct vhost_dev *v, int fd)
{
    vhu_conn_init(&v->conn, fd);
    int rc = evloop_add(v->loop, fd, EPOLLIN, on_conn_event, v);
    if (rc < 0) {
        LOG_ERR(VHU_COMP, "%s: cannot watch the frontend connection: %s", v->dev->name,
                strerror(-rc));
        vhu_conn_close(&v->conn);
        schedule_reconnect(v);
        return;
    }
    /* A new frontend starts from a clean device; the last failure stays in v->why. */
    atomic_store(&v->fail_qidx, -1);
    atomic_store(&v->gm.bus.hit, 0);
    atomic_store(&v->dev->broken, false);
    atomic_store(&v->dev->status, 0);
    v->dev->why[0] = '\0';
    v->failed = false;
    v->config_told = false;
    v->messages = 0;
    v->connections++;
    v->backoff_ms = VHU_BACKOFF_MIN_MS;
    v->connect_err = 0;
    LOG_INFO(VHU_COMP, "%s: frontend connected on %s", v->dev->name, v->path);
}

static void on_conn_event(int fd, uint32_t events, void *opaque)
{
    struct vhost_dev *v = opaque;
    char why[160];
    (void)fd, (void)events;

    for (int n = 0; n < VHU_MSGS_PER_EVENT; n++) {
        enum vhu_recv st = vhu_conn_recv(&v->conn, why, sizeof(why));
        if (st == VHU_RECV_AGAIN)
            return;
        if (st == VHU_RECV_EOF) {
            LOG_INFO(VHU_COMP, "%s: frontend disconnected", v->dev->name);
            hang_up(v);
            return;
        }
        if (st == VHU_RECV_ERROR) {
            const char *name = "message";
            if (v->conn.have >= VHOST_USER_HDR_SIZE) {
                name = vhost_msg_name(v->conn.msg.hdr.request);
                if (v->conn.msg.hdr.flags & VHOST_USER_NEED_REPLY_MASK) {
                    uint64_t nack = 1;
                    vhu_conn_send(&v->conn, v->conn.msg.hdr.request, &nack, sizeof(nack), NULL, 0);
                }
            }
            vhu_fail(v, 0, name, why);
            hang_up(v);
            return;
        }
        if (vhu_settle_begin(v, false) || dispatch(v) < 0)
            return;
    }
}

/* The message in v->conn; -1 when the connection goes (the device failed). */
static int dispatch(struct vhost_dev *v)
{
    int rc = vhu_dispatch(v);
    vhu_conn_msg_done(&v->conn);
    vhu_settle_release(v);
    if (rc < 0)
        hang_up(v);
    return rc;
}

void vhu_conn_resume(struct vhost_dev *v, bool hangup)
{
    if (hangup) {
        disconnect(v);
        return;
    }
    if (dispatch(v) < 0)
        return;
    int rc = evloop_add(v->loop, v->conn.fd, EPOLLIN, on_conn_event, v);
    if (rc < 0) {
        LOG_ERR(VHU_COMP, "%s: cannot watch the frontend connection again: %s; disconnecting",
                v->dev->name, strerror(-rc));
        disconnect(v);
    }
}

static void on_wake(int fd, uint32_t events, void *opaque)
{
    struct vhost_dev *v = opaque;
    uint64_t cnt;
    (void)events;

    if (read(fd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
        LOG_WARN(VHU_COMP, "%s: reading the failure eventfd: %s", v->dev->name, strerror(errno));
    /* The SIGBUS guard replaced a mapping whose file the frontend shrank. */
    if (atomic_exchange(&v->gm.bus.hit, 0) && v->conn.fd >= 0)
        vdev_fail(v->dev, 0, "the frontend shrank a file it shares with the device (guest "
                             "memory, dirty log or inflight area) under the device's mapping");
    /* Stale wake-ups (failure already handled, or a new frontend since) end
     * here; a handled one may still wait for its rings (hang_up). */
    if (v->conn.fd < 0 || !vdev_is_broken(v->dev) || v->failed || v->retired)
        return;
    int q = atomic_exchange(&v->fail_qidx, -1);
    if (q >= 0 && q < v->nq && v->q[q].err_fd >= 0) {
        uint64_t one = 1;
        if (write(v->q[q].err_fd, &one, sizeof(one)) < 0)
            LOG_WARN(VHU_COMP, "%s: signalling the error eventfd of queue %d: %s", v->dev->name,
                     q, strerror(errno));
    }
    LOG_ERR(VHU_COMP, "%s: device failed: %s; closing the frontend connection", v->dev->name,
            v->dev->why);
    snprintf(v->why, sizeof(v->why), "%s", v->dev->why);
    v->failed = true;
    v->failures++;
    hang_up(v);
}

static void vhu_on_fail(struct vdev *d, uint16_t qidx, void *opaque)
{
    struct vhost_dev *v = opaque;
    uint64_t one = 1;
    (void)d;

    atomic_store(&v->fail_qidx, (int)qidx);
    /* eventfd write cannot block or fail short: the counter only saturates. */
    if (write(v->wake_fd, &one, sizeof(one)) < 0)
        return;
}

static void on_listen(int fd, uint32_t events, void *opaque)
{
    struct vhost_dev *v = opaque;
    (void)events;

    int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c < 0) {
        if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
            LOG_WARN(VHU_COMP, "%s: accept on %s: %s", v->dev->name, v->path, strerror(errno));
        return;
    }
    if (v->conn.fd >= 0) {
        /* A QEMU with reconnect=1 on a busy socket comes back at once, some
         * thousand times a second: the log says so once per 10 s, and at
         * once when the reason changed (a frontend that hangs up and comes
         * back straight away may be refused as a second one first, and
         * then be told to wait for its requests). The line is written
         * before the close the frontend sees, so whoever reads the log
         * after its refusal finds it. */
        v->refused++;
        uint64_t now = sc_now_ns();
        bool settling = v->settling && v->settle_hangup;
        if (v->refused_told_ns && now - v->refused_told_ns < 10ull * 1000000000ull &&
            settling == v->refused_settling) {
            close(c);
            return;
        }
        if (settling)
            LOG_WARN(VHU_COMP, "%s: refused a frontend on %s: the one that left still has "
                     "requests in the backend, finishing within %llu s; connect again then "
                     "(%llu refused since the last such line)", v->dev->name, v->path,
                     (unsigned long long)vhu_settle_left_s(v) + 1,
                     (unsigned long long)(v->refused - v->refused_told));
        else
            LOG_WARN(VHU_COMP, "%s: refused a second frontend on %s: one is already connected "
                     "(%llu refused since the last such line)",
                     v->dev->name, v->path, (unsigned long long)(v->refused - v->refused_told));
        v->refused_told = v->refused;
        v->refused_told_ns = now;
        v->refused_settling = settling;
        close(c);
        return;
    }
    attach(v, c);
}

static int fill_addr(const char *path, struct sockaddr_un *a)
{
    memset(a, 0, sizeof(*a));
    a->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(a->sun_path))
        return -ENAMETOOLONG;
    memcpy(a->sun_path, path, strlen(path));
    return 0;
}

/* What a person can do about a failed connect to a frontend. */
static const char *connect_hint(int err)
{
    switch (err) {
    case ENOENT:
        return "is the frontend started, listening there (QEMU: -chardev "
               "socket,...,server=on,wait=off)?";
    case ECONNREFUSED:
        return "nothing listens on it: did the frontend exit?";
    case EACCES:
        return "permission denied: let the daemon's user search the directories and write "
               "the socket";
    case EAGAIN:
        return "the frontend does not accept connections fast enough";
    default:
        return "";
    }
}

static void connect_error_text(const struct vhost_dev *v, char *buf, size_t len)
{
    const char *hint = connect_hint(v->connect_err);
    snprintf(buf, len, "cannot connect to %s: %s%s%s", v->path, strerror(v->connect_err),
             *hint ? "; " : "", hint);
}

/* The reconnect timer retries for as long as it takes (at intervals growing
 * to 1 s): only the first failure and a change of reason are worth a line. */
static void connect_failed(struct vhost_dev *v, int err)
{
    if (err == v->connect_err) {
        LOG_DEBUG(VHU_COMP, "%s: connect %s: %s (retry in %u ms)", v->dev->name, v->path,
                  strerror(err), v->backoff_ms);
        return;
    }
    v->connect_err = err;
    char msg[320];
    connect_error_text(v, msg, sizeof(msg));
    LOG_WARN(VHU_COMP, "%s: %s (retrying at intervals growing to 1 s; logged again when the "
             "reason changes)", v->dev->name, msg);
}

static void try_connect(void *opaque)
{
    struct vhost_dev *v = opaque;
    struct sockaddr_un a;

    v->reconnect_timer = 0;
    if (v->conn.fd >= 0 || fill_addr(v->path, &a) < 0)
        return;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        LOG_WARN(VHU_COMP, "%s: socket: %s", v->dev->name, strerror(errno));
        schedule_reconnect(v);
        return;
    }
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        int err = errno;
        close(fd);
        connect_failed(v, err);
        schedule_reconnect(v);
        return;
    }
    attach(v, fd);
}

/* A socket in a directory that does not exist is most likely a typo:
 * refused, as server mode's bind refuses it, rather than waited for in
 * silence for ever. */
static int check_client_path(const char *path, const char **why)
{
    struct sockaddr_un a;
    if (fill_addr(path, &a) < 0) {
        *why = "socket path too long for a unix socket";
        return -ENAMETOOLONG;
    }
    char dir[sizeof(a.sun_path)];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        return 0; /* the working directory */
    if (slash == dir)
        slash[1] = '\0'; /* the root directory */
    else
        *slash = '\0';
    struct stat st;
    int rc = stat(dir, &st) < 0 ? -errno : S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
    if (rc == -ENOENT)
        *why = "cannot connect to the socket path: its directory does not exist";
    else if (rc == -ENOTDIR)
        *why = "cannot connect to the socket path: a part of it is not a directory";
    else
        rc = 0; /* anything else (EACCES): the connect's log line and list say so */
    return rc;
}

static int listen_on(struct vhost_dev *v, const char **why)
{
    struct sockaddr_un a;

    if (fill_addr(v->path, &a) < 0) {
        *why = "socket path too long for a unix socket";
        return -ENAMETOOLONG;
    }
    /* Only a stale socket is removed: never some other file at that path,
     * nor one that another process (another sidecored) listens on. */
    int claim = sockpath_claim(v->path);
    if (claim == -EEXIST) {
        *why = "socket path exists and is not a socket";
        return claim;
    }
    if (claim == -EADDRINUSE) {
        *why = "socket path is in use by a running process (another sidecored?)";
        return claim;
    }
    v->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (v->listen_fd < 0) {
        *why = "cannot create a unix socket";
        return -errno;
    }
    if (bind(v->listen_fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        int e = errno;
        *why = e == ENOENT    ? "cannot bind the socket path: its directory does not exist"
               : e == EACCES  ? "cannot bind the socket path: permission denied in its directory"
               : e == EROFS   ? "cannot bind the socket path: its file system is read-only"
               : e == ENOTDIR ? "cannot bind the socket path: a part of it is not a directory"
                              : "cannot bind the socket path";
        return -e;
    }
    /* Connecting takes write permission: owner and group, so a QEMU
     * running as another user in that group (libvirt's) can attach. */
    int rc = sockpath_share(v->path);
    if (rc < 0)
        *why = rc == -EPERM && sockpath_group() != (gid_t)-1
                   ? "cannot hand the socket to the socket group (sidecored is not root or in "
                     "that group)"
                   : "cannot set the socket's mode or group";
    else if ((rc = listen(v->listen_fd, 4) < 0 ? -errno : 0) < 0)
        *why = "listen failed";
    else if ((rc = evloop_add(v->loop, v->listen_fd, EPOLLIN, on_listen, v)) < 0)
        *why = "cannot add the socket to the event loop";
    if (rc < 0)
        unlink(v->path);
    return rc;
}

static void free_dev(struct vhost_dev *v)
{
    if (v->wake_fd >= 0) {
        evloop_del(v->loop, v->wake_fd);
        close(v->wake_fd);
    }
    if (v->listen_fd >= 0) {
        evloop_del(v->loop, v->listen_fd);
        close(v->listen_fd);
    }
    if (v->gm_ready)
        gm_destroy(&v->gm);
    vhu_ring_state_close(v);
    free(v->q);
    free(v->paused);
    free(v->quiesced);
    free(v->vpri_past);
    free(v->path);
    free(v);
}

int vhost_dev_create(struct evloop *loop, const struct vhost_dev_cfg *cfg,
                     struct vhost_dev **out, const char **why)
{
    struct vhost_dev *v;
    int rc;

    *out = NULL;
    if (!loop || !cfg || !cfg->dev || !cfg->dev->ops || !cfg->socket_path || !*cfg->socket_path) {
        *why = "missing event loop, device or socket path";
        return -EINVAL;
    }
    for (const char *c = cfg->socket_path; *c; c++)
        if ((unsigned char)*c < ' ' || *c == 0x7f) {
            /* It would split the lists and the printed QEMU line. */
            *why = "the socket path contains a control character (newline, tab, ...)";
            return -EINVAL;
        }
    uint16_t nq = cfg->dev->ops->max_queues(cfg->dev);
    if (nq == 0 || nq > VHOST_USER_VRING_IDX_MASK + 1) {
        *why = "device queue count must be 1..256 (vhost-user ring index is 8 bits)";
        return -EINVAL;
    }
    v = calloc(1, sizeof(*v));
    if (!v) {
        *why = "out of memory";
        return -ENOMEM;
    }
    v->loop = loop;
    v->dev = cfg->dev;
    v->client = cfg->client;
    v->prefault_threads = cfg->prefault_threads;
    v->vpri_offer = cfg->vpri;
    v->listen_fd = -1;
    v->ring_state_fd = -1;
    v->log_call_fd = -1;
    v->backend_fd = -1;
    v->backoff_ms = VHU_BACKOFF_MIN_MS;
    vhu_conn_init(&v->conn, -1);
    atomic_init(&v->fail_qidx, -1);
    v->nq = nq;
    v->path = strdup(cfg->socket_path);
    v->q = calloc(nq, sizeof(*v->q));
    v->paused = calloc(nq, sizeof(*v->paused));
    v->quiesced = calloc(nq, sizeof(*v->quiesced));
    v->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (!v->path || !v->q || !v->paused || !v->quiesced || v->wake_fd < 0) {
        *why = "out of memory or eventfds";
        rc = -ENOMEM;
        goto fail;
    }
    for (uint16_t i = 0; i < nq; i++)
        vhu_queue_init(&v->q[i]);
    gm_init(&v->gm);
    v->gm.bus.wake_fd = v->wake_fd;
    v->gm_ready = true;
    rc = evloop_add(loop, v->wake_fd, EPOLLIN, on_wake, v);
    if (rc < 0) {
        *why = "cannot add the failure eventfd to the event loop";
        goto fail;
    }
    v->dev->on_fail = vhu_on_fail;
    v->dev->on_fail_opaque = v;
    v->dev->on_config_change = vhu_on_config_change;
    v->dev->on_config_opaque = v;
    if (v->client) {
        rc = check_client_path(v->path, why);
        if (rc < 0)
            goto fail;
        try_connect(v);
    } else {
        rc = listen_on(v, why);
        if (rc < 0)
            goto fail;
    }
    /* Last: a device that could not be made leaves no file behind. The
     * frontend's first message comes through the event loop, later. */
    vhu_ring_state_open(v, cfg->ring_state_path);
    *out = v;
    return 0;
fail:
    if (v->dev->on_fail == vhu_on_fail) {
        v->dev->on_fail = NULL;
        v->dev->on_config_change = NULL;
    }
    free_dev(v);
    return rc;
}

void vhost_dev_destroy(struct vhost_dev *v)
{
    if (!v)
        return;
    if (v->reconnect_timer > 0)
        evloop_timer_cancel(v->loop, v->reconnect_timer);
    v->reconnect_timer = 0;
    v->client = false; /* no reconnect from here on */
    /* Only a frontend on packed rings can need the records after we go. */
    vhost_dev_drop_ring_state(v);
    teardown(v);
    v->dev->on_fail = NULL;
    v->dev->on_config_change = NULL;
    if (v->listen_fd >= 0)
        unlink(v->path);
    free_dev(v);
}

void vhost_dev_retire(struct vhost_dev *v)
{
    if (v->reconnect_timer > 0)
        evloop_timer_cancel(v->loop, v->reconnect_timer);
    v->reconnect_timer = 0;
    v->client = false;
    v->retired = true;
    /* A message waiting for its rings is dropped with the device. */
    vhu_settle_cancel(v);
    if (v->conn.fd >= 0)
        evloop_del(v->loop, v->conn.fd);
    if (v->listen_fd >= 0)
        evloop_del(v->loop, v->listen_fd);
    vhost_dev_quiesce(v);
}

void vhost_dev_get_info(struct vhost_dev *v, struct vhost_dev_info *out)
{
    const struct gm_table *t = gm_current(&v->gm);

    memset(out, 0, sizeof(*out));
    out->connected = v->conn.fd >= 0;
    out->status = atomic_load(&v->dev->status);
    out->features = v->features;
    out->protocol_features = v->protocol_features;
    out->queues_started = vhu_queues_started(v);
    out->mem_regions = t->n;
    for (uint32_t i = 0; i < t->n; i++)
        out->mem_bytes += t->r[i].size;
    out->messages = v->messages;
    out->connections = v->connections;
    out->failed = v->failed || vdev_is_broken(v->dev);
    out->failures = v->failures;
    out->config_changes = v->config_changes;
    out->stopping = v->settling;
    if (v->settling)
        out->stopping_ms = (sc_now_ns() - v->settle_ns) / 1000000;
    if (v->client && v->conn.fd < 0 && v->connect_err)
        connect_error_text(v, out->connect_error, sizeof(out->connect_error));
    if (v->why[0])
        snprintf(out->why, sizeof(out->why), "%s", v->why);
    else if (vdev_is_broken(v->dev))
        snprintf(out->why, sizeof(out->why), "%s", v->dev->why);
}
