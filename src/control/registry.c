#include "registry.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "../backend/blk_backend.h"
#include "../common/log.h"
#include "../common/sockpath.h"
#include "../common/util.h"
#include "../dev/blk.h"
#include "../remote/rio_client.h"
#include "blk_open.h"
#include "vpri_json.h"
#include "../vhost/vhost_user.h"
#include "../virtq/virtio_spec.h"

/* Work that may wait (a silent iohost's HELLO) runs off the loop: work()
 * on a thread of its own, then finish() on the loop thread (cancelled:
 * the registry is being destroyed, which joins the thread first). */
struct reg_job {
    struct registry *r;
    pthread_t th;
    int efd; /* the thread finished */
    void (*work)(struct reg_job *j);
    void (*finish)(struct reg_job *j, bool cancelled);
    struct reg_job *next;
};

struct reg_dev {
    struct cfg_device cfg;
    struct ip_chain *chain;      /* the device's backend: stages over the real one */
    struct blk_backend *remote;  /* inside the chain when the backend is remote */
    struct vdev *vdev;
    struct vhost_dev *vh;
    struct reg_dev *next; /* newest first */
    /* Being deleted (registry_remove): waits for its backend on the loop. */
    struct registry *reg;
    int timer;
    uint64_t since_ns;
    void (*done)(void *ctx);
    void *done_ctx;
    /* Being opened (registry_add_async): a job opens the backend. */
    struct reg_job opener;
    struct blk_backend *opened; /* its result, NULL with open_err */
    char open_err[512];
    void (*added)(void *ctx, int rc, const char *err);
    void *added_ctx;
};

/* Past the devices' own drain bounds (5 s): then the destroy's own drain
 * decides, as before a delete waited on the loop. */
#define REG_DELETE_MAX_NS (6ull * 1000000000ull)
#define REG_DELETE_TICK_MS 1u

struct registry {
    struct evloop *loop;
    struct sc_set *scs;
    enum cfg_role role;
    unsigned prefault;
    char *runtime_dir;
    struct reg_dev *devs;
    unsigned count;
    struct reg_dev *dying; /* removed, waiting for their backends */
    struct reg_dev *opening; /* added, their backends being opened */
    struct reg_job *jobs;    /* running off the loop */
    bool (*claims)(void *opaque, const char *name, const char *socket);
    void *claims_opaque;
    const char *rpc_socket;
};

struct registry *registry_create(struct evloop *loop, struct sc_set *scs,
                                 const char *runtime_dir)
{
    struct registry *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->loop = loop;
    r->scs = scs;
    r->runtime_dir = strdup(runtime_dir ? runtime_dir : ".");
    if (!r->runtime_dir) {
        free(r);
        return NULL;
    }
    return r;
}

static struct reg_dev *find(const struct registry *r, const char *name)
{
    for (struct reg_dev *d = r->devs; d; d = d->next)
        if (strcmp(d->cfg.name, name) == 0)
            return d;
    return NULL;
}

const struct cfg_device *registry_find(const struct registry *r, const char *name)
{
    struct reg_dev *d = find(r, name);
    for (struct reg_dev *x = r->dying; !d && x; x = x->next)
        if (strcmp(x->cfg.name, name) == 0)
            d = x;
    for (struct reg_dev *x = r->opening; !d && x; x = x->next)
        if (strcmp(x->cfg.name, name) == 0)
            d = x;
    return d ? &d->cfg : NULL;
}

unsigned registry_count(const struct registry *r) { return r->count; }

const char *registry_socket_user(const struct registry *r, const char *socket)
{
    const struct reg_dev *lists[3] = {r->devs, r->dying, r->opening};
    for (int i = 0; i < 3; i++)
        for (const struct reg_dev *d = lists[i]; d; d = d->next)
            if (strcmp(d->cfg.socket, socket) == 0)
                return d->cfg.name;
    return NULL;
}

void registry_set_claims(struct registry *r,
                         bool (*claims)(void *opaque, const char *name, const char *socket),
                         void *opaque)
{
    r->claims = claims;
    r->claims_opaque = opaque;
}

void registry_reserve_socket(struct registry *r, const char *rpc_socket)
{
    r->rpc_socket = rpc_socket;
}

const char *registry_socket_reserved(const struct registry *r, const char *socket)
{
    if (r->rpc_socket && socket && strcmp(r->rpc_socket, socket) == 0)
        return "is the daemon's RPC socket (give the device another name or socket)";
    return NULL;
}

/* A device being deleted or created holds its name, socket and backend. */
static int conflict_with(const struct reg_dev *d, int state, const struct cfg_device *c,
                         char *err, size_t len)
{
    static const char *const states[] = {
        "", " (being deleted: its backend still holds requests; try again shortly)",
        " (being created: its iohost has not answered yet)"};
    const char *dying = states[state];
    if (strcmp(d->cfg.name, c->name) == 0) {
        snprintf(err, len, "device %s already exists%s", c->name, dying);
        return -EEXIST;
    }
    if (strcmp(d->cfg.socket, c->socket) == 0) {
        snprintf(err, len, "socket %s is already used by device %s%s", c->socket, d->cfg.name,
                 dying);
        return -EEXIST;
    }
    if (c->backend.path && d->cfg.backend.path &&
        strcmp(c->backend.path, d->cfg.backend.path) == 0 &&
        !(c->backend.shared && d->cfg.backend.shared)) {
        snprintf(err, len,
                 "backend path %s is already used by device %s%s (devices that all set "
                 "shared may share it, e.g. for a live migration)",
                 c->backend.path, d->cfg.name, dying);
        return -EEXIST;
    }
    return 0;
}

static int conflict(const struct registry *r, const struct cfg_device *c, char *err, size_t len)
{
    const char *rpc = registry_socket_reserved(r, c->socket);
    if (rpc) {
        snprintf(err, len, "device %s: socket %s %s", c->name, c->socket, rpc);
        return -EEXIST;
    }
    if (r->claims && r->claims(r->claims_opaque, c->name, c->socket)) {
        snprintf(err, len, "device %s: the name or socket %s is taken by a net device", c->name,
                 c->socket);
        return -EEXIST;
    }
    const struct reg_dev *lists[3] = {r->devs, r->dying, r->opening};
    for (int i = 0; i < 3; i++)
        for (const struct reg_dev *d = lists[i]; d; d = d->next) {
            int rc = conflict_with(d, i, c, err, len);
            if (rc < 0)
                return rc;
        }
    return 0;
}

static struct blk_backend *open_backend(const struct registry *r, struct reg_dev *d, char *err,
                                        size_t len)
{
    const struct cfg_device *c = &d->cfg;
    char what[64];
    snprintf(what, sizeof(what), "device %s", c->name);
    if (c->backend.type == CFG_BE_REMOTE && r->role == CFG_ROLE_LOCAL) {
        snprintf(err, len, "%s: remote backends need the vmhost role, which is set when sidecored "
                 "starts (sidecored --role vmhost, or \"role\": \"vmhost\" in its config)",
                 what);
        return NULL;
    }
    struct blk_backend *be = blk_open(&c->backend, c->read_only, what, &d->remote, err, len);
    if (!be)
        return NULL;
    d->chain = blk_open_chain(be, c->interpose, what, err, len);
    return d->chain ? ip_chain_backend(d->chain) : NULL;
}

void registry_set_role(struct registry *r, enum cfg_role role) { r->role = role; }
void registry_set_prefault(struct registry *r, unsigned threads) { r->prefault = threads; }
unsigned registry_prefault(const struct registry *r) { return r->prefault; }

/* A copy of c with its socket named and nothing clashing with it: ready
 * for its backend. NULL with *rc and err otherwise. */
static struct reg_dev *add_begin(struct registry *r, const struct cfg_device *c, int *rc,
                                 char *err, size_t len)
{
    struct reg_dev *d = calloc(1, sizeof(*d));
    *rc = -ENOMEM;
    if (!d || cfg_device_copy(&d->cfg, c)) {
        free(d);
        snprintf(err, len, "out of memory");
        return NULL;
    }
    if (!d->cfg.socket) {
        if (asprintf(&d->cfg.socket, "%s/%s.sock", r->runtime_dir, d->cfg.name) < 0) {
            d->cfg.socket = NULL;
            snprintf(err, len, "out of memory");
            goto fail;
        }
    }
    /* One spelling per socket, so the conflict checks see every other. */
    if (sockpath_canonicalize(&d->cfg.socket) < 0) {
        snprintf(err, len, "out of memory");
        goto fail;
    }
    if ((*rc = conflict(r, &d->cfg, err, len)))
        goto fail;
    return d;
fail:
    cfg_device_free(&d->cfg);
    free(d);
    return NULL;
}

/* The rest of an add, once the backend is open (be; NULL: it did not
 * open, and err says why). d is in the registry or freed after. */
static int add_finish(struct registry *r, struct reg_dev *d, struct blk_backend *be, char *err,
                      size_t len)
{
    int rc = -ENOMEM;
    bool made_file = false, grew_file = false;
    uint64_t grown_from = 0;
    if (!be) {
        rc = -EIO;
        goto fail;
    }
    /* What the guest sees and the device uses, as list and the start-up
     * QEMU comment show it: the file's own size when none was given or the
     * file is longer, a remote export's size, and the remote defaults. */
    struct blk_backend_info bi;
    be->ops->info(be, &bi);
    d->cfg.backend.size = bi.size;
    if (d->remote) {
        blk_remote_effective(d->cfg.backend.remote);
        if (d->cfg.backend.remote->fallback)
            d->cfg.backend.remote->fallback->size = bi.size;
    } else {
        made_file = bi.created;
        grew_file = bi.grown;
        grown_from = bi.grown_from;
    }
    const char *why = "unknown reason";
    struct blk_dev_params bp = {
        .name = d->cfg.name, .serial = d->cfg.serial, .num_queues = (uint16_t)d->cfg.queues,
        .read_only = d->cfg.read_only};
    d->vdev = blk_dev_create(&bp, be, r->scs, &why);
    if (!d->vdev) {
        be->ops->destroy(be);
        snprintf(err, len, "device %s: %s", d->cfg.name, why);
        rc = -EINVAL;
        goto fail;
    }
    char rings[4096];
    snprintf(rings, sizeof(rings), "%s/%s.blk-rings", r->runtime_dir, d->cfg.name);
    struct vhost_dev_cfg vc = {.socket_path = d->cfg.socket, .client = d->cfg.client,
                               .dev = d->vdev, .vpri = true, .prefault_threads = r->prefault,
                               .ring_state_path = rings};
    rc = vhost_dev_create(r->loop, &vc, &d->vh, &why);
    if (rc < 0) {
        d->vdev->ops->destroy(d->vdev);
        snprintf(err, len, "device %s: socket %s: %s", d->cfg.name, d->cfg.socket, why);
        goto fail;
    }
    d->next = r->devs;
    r->devs = d;
    r->count++;
    static const char *const be_names[] = {"null", "file", "remote"};
    LOG_INFO("registry", "device %s created: %s backend, %u queue(s)%s, %s %s", d->cfg.name,
             be_names[d->cfg.backend.type], d->cfg.queues,
             d->cfg.read_only ? ", read-only" : "",
             d->cfg.client ? "connecting to" : "listening on", d->cfg.socket);
    return 0;
fail:
    /* After the backend is gone: a failed create leaves no image it made,
     * nor one it extended longer. */
    if (made_file)
        unlink(d->cfg.backend.path);
    else if (grew_file && truncate(d->cfg.backend.path, (off_t)grown_from) < 0)
        LOG_WARN("registry", "device %s: cannot shrink %s back to %llu bytes: %s", d->cfg.name,
                 d->cfg.backend.path, (unsigned long long)grown_from, strerror(errno));
    cfg_device_free(&d->cfg);
    free(d);
    return rc;
}

int registry_add(struct registry *r, const struct cfg_device *c, char *err, size_t len)
{
    int rc;
    struct reg_dev *d = add_begin(r, c, &rc, err, len);
    if (!d)
        return rc;
    return add_finish(r, d, open_backend(r, d, err, len), err, len);
}

static void *job_thread(void *arg)
{
    struct reg_job *j = arg;
    j->work(j);
    uint64_t one = 1;
    while (write(j->efd, &one, sizeof(one)) < 0 && errno == EINTR)
        ;
    return NULL;
}

/* The job has finished, or is about to (its thread is joined). */
static void job_end(struct reg_job *j)
{
    struct registry *r = j->r;
    pthread_join(j->th, NULL);
    evloop_del(r->loop, j->efd);
    close(j->efd);
    for (struct reg_job **pp = &r->jobs; *pp; pp = &(*pp)->next)
        if (*pp == j) {
            *pp = j->next;
            break;
        }
}

static void job_done(int fd, uint32_t events, void *opaque)
{
    (void)fd;
    (void)events;
    struct reg_job *j = opaque;
    job_end(j);
    j->finish(j, false);
}

/* 0: running; -errno: nothing started (no thread), the caller does the work. */
static int job_start(struct registry *r, struct reg_job *j)
{
    j->r = r;
    j->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (j->efd < 0)
        return -errno;
    int rc = evloop_add(r->loop, j->efd, EPOLLIN, job_done, j);
    if (rc == 0) {
        rc = -pthread_create(&j->th, NULL, job_thread, j);
        if (rc == 0) {
            j->next = r->jobs;
            r->jobs = j;
            return 0;
        }
        evloop_del(r->loop, j->efd);
    }
    close(j->efd);
    return rc;
}

static struct reg_dev *opener_of(struct reg_job *j)
{
    return (struct reg_dev *)((char *)j - offsetof(struct reg_dev, opener));
}

static void open_work(struct reg_job *j)
{
    struct reg_dev *d = opener_of(j);
    d->opened = open_backend(j->r, d, d->open_err, sizeof(d->open_err));
}

static void open_finish(struct reg_job *j, bool cancelled)
{
    struct reg_dev *d = opener_of(j);
    struct registry *r = j->r;
    for (struct reg_dev **pp = &r->opening; *pp; pp = &(*pp)->next)
        if (*pp == d) {
            *pp = d->next;
            break;
        }
    d->next = NULL;
    void (*added)(void *, int, const char *) = d->added;
    void *ctx = d->added_ctx;
    if (cancelled) {
        if (d->opened)
            d->opened->ops->destroy(d->opened);
        cfg_device_free(&d->cfg);
        free(d);
        added(ctx, -ECANCELED, "the daemon is stopping");
        return;
    }
    char err[sizeof(d->open_err)];
    snprintf(err, sizeof(err), "%s", d->open_err);
    int rc = add_finish(r, d, d->opened, err, sizeof(err));
    added(ctx, rc, rc < 0 ? err : NULL);
}

int registry_add_async(struct registry *r, const struct cfg_device *c,
                       void (*added)(void *ctx, int rc, const char *err), void *ctx, char *err,
                       size_t len)
{
    if (c->backend.type != CFG_BE_REMOTE)
        return registry_add(r, c, err, len);
    int rc;
    struct reg_dev *d = add_begin(r, c, &rc, err, len);
    if (!d)
        return rc;
    d->added = added;
    d->added_ctx = ctx;
    d->opener.work = open_work;
    d->opener.finish = open_finish;
    if (job_start(r, &d->opener) == 0) {
        d->next = r->opening;
        r->opening = d;
        LOG_INFO("registry", "device %s: asking the iohost %s for export %s", d->cfg.name,
                 c->backend.remote->server, c->backend.remote->device);
        return 1;
    }
    /* No thread: the loop waits for the iohost, as it did before. */
    return add_finish(r, d, open_backend(r, d, err, len), err, len);
}

static void dev_free(struct reg_dev *d)
{
    vhost_dev_destroy(d->vh);
    d->vdev->ops->destroy(d->vdev);
    cfg_device_free(&d->cfg);
    free(d);
}

/* The device's backend holds nothing more (or the bound passed): the
 * destroy's drain finds nothing to wait for. */
static void finish_delete(struct reg_dev *d)
{
    struct registry *r = d->reg;
    for (struct reg_dev **pp = &r->dying; *pp; pp = &(*pp)->next)
        if (*pp == d) {
            *pp = d->next;
            break;
        }
    if (d->timer > 0)
        evloop_timer_cancel(r->loop, d->timer);
    LOG_INFO("registry", "device %s deleted after %llu ms", d->cfg.name,
             (unsigned long long)((sc_now_ns() - d->since_ns) / 1000000));
    void (*done)(void *) = d->done;
    void *ctx = d->done_ctx;
    dev_free(d);
    done(ctx);
}

static void delete_tick(void *opaque)
{
    struct reg_dev *d = opaque;
    d->timer = 0;
    if (!vhost_dev_settled(d->vh) && sc_now_ns() - d->since_ns < REG_DELETE_MAX_NS) {
        int id = evloop_timer(d->reg->loop, REG_DELETE_TICK_MS, delete_tick, d);
        if (id > 0) {
            d->timer = id;
            return;
        }
    }
    finish_delete(d);
}

int registry_remove(struct registry *r, const char *name, void (*done)(void *ctx), void *ctx,
                    char *err, size_t len)
{
    struct reg_dev *d = NULL;
    for (struct reg_dev **pp = &r->devs; *pp; pp = &(*pp)->next)
        if (strcmp((*pp)->cfg.name, name) == 0) {
            d = *pp;
            *pp = d->next;
            break;
        }
    if (!d) {
        for (const struct reg_dev *o = r->opening; o; o = o->next)
            if (strcmp(o->cfg.name, name) == 0) {
                snprintf(err, len, "device %s is being created (its iohost has not answered "
                         "yet): delete it once the create has returned", name);
                return -EBUSY;
            }
        snprintf(err, len, "no device named %s", name);
        return -ENOENT;
    }
    r->count--;
    vhost_dev_drop_ring_state(d->vh);
    vhost_dev_retire(d->vh);
    int timer = vhost_dev_settled(d->vh) ? 0 : evloop_timer(r->loop, REG_DELETE_TICK_MS,
                                                           delete_tick, d);
    if (timer <= 0) {
        /* Nothing held; or no timer, and the destroy's own drain waits. */
        LOG_INFO("registry", "device %s deleted", name);
        dev_free(d);
        return 0;
    }
    d->reg = r;
    d->timer = timer;
    d->since_ns = sc_now_ns();
    d->done = done;
    d->done_ctx = ctx;
    d->next = r->dying;
    r->dying = d;
    LOG_INFO("registry", "device %s: deleting once its backend finishes what it holds", name);
    return 1;
}

void registry_destroy(struct registry *r)
{
    if (!r)
        return;
    while (r->jobs) {
        struct reg_job *j = r->jobs;
        job_end(j);
        j->finish(j, true);
    }
    while (r->dying)
        finish_delete(r->dying);
    for (struct reg_dev *d = r->devs; d; d = d->next)
        if (d->vh)
            vhost_dev_quiesce(d->vh);
    while (r->devs) {
        struct reg_dev *d = r->devs;
        r->devs = d->next;
        dev_free(d);
    }
    free(r->runtime_dir);
    free(r);
}

/* A word for people: where the device is in its life. */
static const char *status_word(const struct reg_dev *d, const struct vhost_dev_info *vi)
{
    if (vi->failed)
        return "failed";
    if (!vi->connected)
        return d->cfg.client ? "connecting" : "waiting";
    if (vi->stopping)
        return "stopping";
    if ((vi->status & VIRTIO_STATUS_DRIVER_OK) && vi->queues_started)
        return "running";
    return "connected";
}

static json_t *state_json(const struct reg_dev *d, json_t *obj)
{
    struct vhost_dev_info vi;
    vhost_dev_get_info(d->vh, &vi);
    const char *why = vi.connect_error[0] ? vi.connect_error
                      : vi.why[0]           ? vi.why
                      : vdev_is_broken(d->vdev) ? d->vdev->why
                                                : "";
    json_object_set_new(obj, "connected", json_boolean(vi.connected));
    json_object_set_new(obj, "status", json_string(status_word(d, &vi)));
    json_object_set_new(obj, "virtio_status", json_integer(vi.status));
    json_object_set_new(obj, "queues_started", json_integer(vi.queues_started));
    json_object_set_new(obj, "failed", json_boolean(vi.failed));
    json_object_set_new(obj, "failures", json_integer((json_int_t)vi.failures));
    json_object_set_new(obj, "why", json_string(why));
    json_object_set_new(obj, "connect_error", json_string(vi.connect_error));
    json_object_set_new(obj, "stopping_ms",
                        vi.stopping ? json_integer((json_int_t)vi.stopping_ms) : json_null());
    return obj;
}

json_t *registry_list_json(struct registry *r)
{
    json_t *arr = json_array();
    if (!arr)
        return NULL;
    /* Oldest first, as people created them. */
    struct reg_dev *order[r->count ? r->count : 1];
    unsigned n = 0;
    for (struct reg_dev *d = r->devs; d && n < r->count; d = d->next)
        order[n++] = d;
    while (n--) {
        json_t *o = cfg_device_to_json(&order[n]->cfg);
        if (!o || json_array_append_new(arr, state_json(order[n], o))) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

/* Per-peer state of a remote device, as sidecorectl shows it. */
static json_t *remote_json(const struct reg_dev *d)
{
    struct rio_peer_stats p;
    rio_blk_stats(d->remote, &p);
    const struct cfg_remote *c = d->cfg.backend.remote;
    return json_pack("{s:s,s:s,s:s,s:s,s:b,s:i,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,"
                     "s:I,s:I}",
                     "device", d->cfg.name, "server", c->server, "export", c->device,
                     "state", p.state, "connected", strcmp(p.state, "connected") == 0,
                     "queues", (int)p.queues, "rtt_us", (json_int_t)p.rtt_us, "in_flight",
                     (json_int_t)p.in_flight, "on_fallback", (json_int_t)p.on_fallback,
                     "queued", (json_int_t)p.queued, "cwnd_bytes", (json_int_t)p.cwnd_bytes,
                     "cwnd_cuts", (json_int_t)p.cwnd_cuts,
                     "requests", (json_int_t)p.requests, "retransmits",
                     (json_int_t)p.retransmits, "failovers", (json_int_t)p.failovers,
                     "reconnects", (json_int_t)p.reconnects, "fallback_requests",
                     (json_int_t)p.fallback_requests, "failed_requests",
                     (json_int_t)p.failed_requests, "stale_resends", (json_int_t)p.stale_resends,
                     "last_rx_ms", (json_int_t)p.last_rx_ms);
}

json_t *registry_stats_json(struct registry *r, const char *name, char *err, size_t len)
{
    struct reg_dev *d = find(r, name);
    if (!d) {
        snprintf(err, len, "no device named %s", name);
        return NULL;
    }
    json_t *o = json_pack("{s:s}", "name", d->cfg.name);
    if (!o)
        return NULL;
    state_json(d, o);
    struct blk_dev_errors e;
    blk_dev_errors(d->vdev, &e);
    json_object_set_new(o, "errors", json_pack("{s:I,s:I}", "ioerr", (json_int_t)e.ioerr, "unsupp",
                                               (json_int_t)e.unsupp));
    struct sc_queue_stats qs[BLK_MAX_QUEUES];
    unsigned nq = blk_dev_queue_stats(d->vdev, qs, BLK_MAX_QUEUES);
    json_t *qa = json_array();
    for (unsigned i = 0; qa && i < nq; i++) {
        char qname[CFG_NAME_MAX + 16];
        snprintf(qname, sizeof(qname), "%s.q%u", d->cfg.name, i);
        json_array_append_new(
            qa, json_pack("{s:i,s:s,s:I,s:I,s:I,s:I,s:I,s:I}", "index", (int)i, "name", qname,
                          "requests", (json_int_t)qs[i].requests, "bytes",
                          (json_int_t)qs[i].bytes, "kicks", (json_int_t)qs[i].kicks, "notifies",
                          (json_int_t)qs[i].notifies, "busy_ns", (json_int_t)qs[i].busy_ns,
                          "polls", (json_int_t)qs[i].polls));
    }
    if (qa)
        vpri_json_add_queues(d->vh, qa);
    json_object_set_new(o, "queues", qa ? qa : json_array());
    json_object_set_new(o, "interpose", ip_chain_stats(d->chain));
    if (d->remote)
        json_object_set_new(o, "remote", remote_json(d));
    return o;
}

int registry_interpose_set(struct registry *r, const char *name, const json_t *stages,
                           char *err, size_t len)
{
    struct reg_dev *d = find(r, name);
    if (!d) {
        snprintf(err, len, "no device named %s", name);
        return -ENOENT;
    }
    int rc = blk_chain_set(d->chain, stages, err, len);
    if (rc == 0) {
        json_decref(d->cfg.interpose);
        d->cfg.interpose = json_array_size(stages) ? json_deep_copy(stages) : NULL;
    }
    return rc;
}

static int resize_apply(struct reg_dev *d, uint64_t bytes, bool *told, char *err, size_t len)
{
    const char *name = d->cfg.name;
    struct vhost_dev_info before, after;
    vhost_dev_get_info(d->vh, &before);
    const char *why = NULL;
    int rc = blk_dev_resize(d->vdev, bytes, &why);
    vhost_dev_get_info(d->vh, &after);
    *told = after.config_changes > before.config_changes;
    if (rc < 0) {
        bool sys = why && rc != -EINVAL && rc != -EOPNOTSUPP && rc != -EROFS;
        snprintf(err, len, "cannot resize %s to %llu bytes: %s%s%s%s", name,
                 (unsigned long long)bytes, why ? why : strerror(-rc), sys ? " (" : "",
                 sys ? strerror(-rc) : "", sys ? ")" : "");
        return rc;
    }
    d->cfg.backend.size = bytes;
    if (d->remote && d->cfg.backend.remote->fallback)
        d->cfg.backend.remote->fallback->size = bytes;
    return 0;
}

/* A remote device's resize: the iohost is asked for the export's size. */
struct resize_job {
    struct reg_job job;
    struct rio_target target;
    uint64_t bytes, heard_ns;
    int rc;
    char why[256];
    void (*done)(void *ctx, int rc, bool told, const char *err);
    void *ctx;
    char name[];
};

static void resize_work(struct reg_job *j)
{
    struct resize_job *z = (struct resize_job *)j;
    const char *why = "";
    z->rc = rio_target_check_size(&z->target, z->bytes, &z->heard_ns, &why);
    snprintf(z->why, sizeof(z->why), "%s", why);
}

static void resize_finish(struct reg_job *j, bool cancelled)
{
    struct resize_job *z = (struct resize_job *)j;
    char err[512];
    bool told = false;
    int rc = cancelled ? -ECANCELED : z->rc;
    struct reg_dev *d = cancelled ? NULL : find(j->r, z->name);
    if (d && d->remote && z->heard_ns)
        rio_blk_heard(d->remote, z->heard_ns);
    if (cancelled)
        snprintf(err, sizeof(err), "the daemon is stopping");
    else if (rc < 0)
        snprintf(err, sizeof(err), "cannot resize %s to %llu bytes: %s", z->name,
                 (unsigned long long)z->bytes, z->why);
    else if (d && d->remote)
        rc = resize_apply(d, z->bytes, &told, err, sizeof(err));
    else {
        rc = -ENOENT;
        snprintf(err, sizeof(err), "device %s was deleted meanwhile", z->name);
    }
    z->done(z->ctx, rc, told, rc < 0 ? err : NULL);
    free(z);
}

int registry_resize(struct registry *r, const char *name, uint64_t bytes, bool *told,
                    void (*done)(void *ctx, int rc, bool told, const char *err), void *ctx,
                    char *err, size_t len)
{
    struct reg_dev *d = find(r, name);
    if (!d) {
        snprintf(err, len, "no device named %s", name);
        return -ENOENT;
    }
    /* The device's own checks (shrinking, alignment, no change) come
     * first, as before the iohost was asked off the loop: only a growth
     * it would take needs the export's size. */
    struct blk_backend_info bi = {0};
    if (d->remote)
        d->remote->ops->info(d->remote, &bi);
    if (!d->remote || bytes <= bi.size || bytes % bi.block_size)
        return resize_apply(d, bytes, told, err, len);
    struct resize_job *z = calloc(1, sizeof(*z) + strlen(name) + 1);
    if (!z) {
        snprintf(err, len, "out of memory");
        return -ENOMEM;
    }
    strcpy(z->name, name);
    z->bytes = bytes;
    z->done = done;
    z->ctx = ctx;
    rio_blk_target(d->remote, &z->target);
    z->job.work = resize_work;
    z->job.finish = resize_finish;
    if (job_start(r, &z->job) == 0) {
        LOG_INFO("registry", "device %s: asking the iohost for the size of export %s before "
                 "the resize", name, z->target.device);
        return 1;
    }
    /* No thread: the loop asks, as it did before. */
    resize_work(&z->job);
    if (z->heard_ns)
        rio_blk_heard(d->remote, z->heard_ns);
    int rc = z->rc;
    if (rc < 0)
        snprintf(err, len, "cannot resize %s to %llu bytes: %s", name,
                 (unsigned long long)bytes, z->why);
    free(z);
    return rc < 0 ? rc : resize_apply(d, bytes, told, err, len);
}

/* remote_peers with a probe: one HELLO per remote device, off the loop. */
struct probe_item {
    char name[CFG_NAME_MAX + 1];
    struct rio_target target;
    int rc;
    uint64_t rtt_ns, heard_ns;
    const char *why;
};

struct probe_job {
    struct reg_job job;
    void (*done)(void *ctx, json_t *peers);
    void *ctx;
    unsigned n;
    struct probe_item items[];
};

#define PROBE_TIMEOUT_MS 1000u

static bool same_host(const struct rio_target *a, const struct rio_target *b)
{
    return a->addrlen == b->addrlen && memcmp(&a->addr, &b->addr, a->addrlen) == 0;
}

static void probe_work(struct reg_job *j)
{
    struct probe_job *z = (struct probe_job *)j;
    for (unsigned i = 0; i < z->n; i++) {
        struct probe_item *it = &z->items[i];
        /* A silent iohost is waited for once, not once per device on it:
         * the answer stays bounded by a second per iohost. */
        const struct probe_item *dead = NULL;
        for (unsigned k = 0; k < i && !dead; k++)
            if (z->items[k].rc == -ETIMEDOUT && same_host(&z->items[k].target, &it->target))
                dead = &z->items[k];
        if (dead) {
            it->rc = -ETIMEDOUT;
            it->why = dead->why;
            continue;
        }
        it->rc = rio_target_probe(&it->target, PROBE_TIMEOUT_MS, &it->rtt_ns, &it->heard_ns,
                                  &it->why);
    }
}

static json_t *probe_json(const struct probe_item *it)
{
    if (it->rc == 0)
        return json_pack("{s:b,s:I}", "answered", 1, "rtt_us", (json_int_t)(it->rtt_ns / 1000));
    char why[128];
    if (it->rc == -ETIMEDOUT)
        snprintf(why, sizeof(why), "%s within %u ms", it->why, PROBE_TIMEOUT_MS);
    else
        snprintf(why, sizeof(why), "%s", it->why);
    return json_pack("{s:b,s:s}", "answered", it->heard_ns != 0, "error", why);
}

static void probe_finish(struct reg_job *j, bool cancelled)
{
    struct probe_job *z = (struct probe_job *)j;
    json_t *peers = NULL;
    if (!cancelled) {
        for (unsigned i = 0; i < z->n; i++) {
            struct reg_dev *d = find(j->r, z->items[i].name);
            if (d && d->remote && z->items[i].heard_ns)
                rio_blk_heard(d->remote, z->items[i].heard_ns);
        }
        peers = registry_remote_json(j->r);
        size_t k;
        json_t *p;
        json_array_foreach(peers, k, p) {
            const char *name = json_string_value(json_object_get(p, "device"));
            for (unsigned i = 0; name && i < z->n; i++)
                if (strcmp(z->items[i].name, name) == 0)
                    json_object_set_new(p, "probe", probe_json(&z->items[i]));
        }
    }
    z->done(z->ctx, peers);
    free(z);
}

int registry_probe_remotes(struct registry *r, void (*done)(void *ctx, json_t *peers), void *ctx)
{
    unsigned n = 0;
    for (struct reg_dev *d = r->devs; d; d = d->next)
        n += d->remote != NULL;
    if (n == 0)
        return 0;
    struct probe_job *z = calloc(1, sizeof(*z) + n * sizeof(z->items[0]));
    if (!z)
        return -ENOMEM;
    z->done = done;
    z->ctx = ctx;
    for (struct reg_dev *d = r->devs; d; d = d->next) {
        if (!d->remote)
            continue;
        snprintf(z->items[z->n].name, sizeof(z->items[0].name), "%s", d->cfg.name);
        rio_blk_target(d->remote, &z->items[z->n].target);
        z->n++;
    }
    z->job.work = probe_work;
    z->job.finish = probe_finish;
    int rc = job_start(r, &z->job);
    if (rc < 0) {
        free(z);
        return rc;
    }
    return 1;
}

json_t *registry_remote_json(struct registry *r)
{
    json_t *arr = json_array();
    for (struct reg_dev *d = r->devs; arr && d; d = d->next)
        if (d->remote)
            json_array_append_new(arr, remote_json(d));
    return arr;
}
