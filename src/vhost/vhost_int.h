/* Internals of the vhost-user backend shared by its files:
 *   vhost_dev.c     dispatch table, message loop step, feature/config/status messages
 *   vhost_ring.c    per-ring messages (SET_VRING_*, GET_VRING_BASE)
 *   vhost_queue.c   queue life cycle: translate + check rings, start, stop, restart
 *   vhost_mem.c     memory table, dirty log, inflight area messages
 *   vhost_server.c  sockets: listen/accept or connect/reconnect, failure, teardown
 *   vhost_vpri.c    VPRI messages (docs/VPRI.md): map, channel, resolve wake-ups
 *   vhost_backend_ch.c  the backend channel: CONFIG_CHANGE_MSG to the frontend
 *   vhost_ring_state.c  the file of crash records for packed rings (vq_resume)
 *   vhost_settle.c  waits for rings a message stops to finish their requests
 *                   without blocking the control thread
 * Everything here runs on the control thread, except vhu_on_fail (any thread). */
#ifndef SC_VHOST_INT_H
#define SC_VHOST_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../mem/guestmem.h"
#include "../vpri/vpri_dev.h"
#include "../vpri/vpri_stats.h"
#include "../virtq/vdev.h"
#include "../virtq/virtq.h"
#include "vhost_conn.h"
#include "vhost_msg.h"
#include "vhost_user.h"

#define VHU_COMP "vhost"

struct vhu_queue {
    uint32_t num;        /* 0: not set */
    struct vhu_vring_addr addr;
    bool addr_set;
    uint16_t base;       /* avail index to start at (SET_VRING_BASE, or saved at stop);
                          * packed: position | wrap counter << 15 */
    uint16_t used_base;  /* packed: the used position, same encoding */
    uint16_t frontend_base; /* packed: the avail half of the last SET_VRING_BASE */
    bool kick_set;       /* SET_VRING_KICK seen (kick_fd -1 means: polled) */
    int kick_fd;
    int call_fd;
    int err_fd;
    bool enable_set;     /* SET_VRING_ENABLE seen; else the default applies */
    bool enabled;
    bool started;        /* handed to the device with queue_start */
    struct virtq vq;
};

struct vhost_dev {
    struct evloop *loop;
    char *path;
    bool client;
    struct vdev *dev;
    unsigned prefault_threads;

    int listen_fd;       /* server mode */
    uint64_t refused, refused_told; /* second frontends turned away; as of the last log */
    uint64_t refused_told_ns;
    bool refused_settling; /* the reason of the last logged refusal */
    int reconnect_timer; /* client mode, 0 when none pending */
    unsigned backoff_ms;

    struct vhu_conn conn; /* conn.fd < 0: not connected */
    int wake_fd;         /* eventfd: a failure reported from another thread */
    _Atomic int fail_qidx; /* queue named by the last on_fail, -1 if none */

    uint64_t features;   /* acked by SET_FEATURES */
    bool features_set;
    uint64_t protocol_features;
    bool protocol_set; /* SET_PROTOCOL_FEATURES came on this connection */

    uint16_t nq;
    struct vhu_queue *q;
    bool *paused;        /* scratch for vhu_queues_pause, nq entries */
    bool *quiesced;      /* vhost_settle.c: rings quiesced for the message, nq entries */
    bool settling;       /* the connection waits for them (not read meanwhile) */
    bool retired;        /* vhost_dev_retire: being deleted, serves nothing */
    bool settle_hangup;  /* what waits is the teardown after a hangup */
    int settle_timer;    /* 0 when none pending */
    uint64_t settle_ns;

    struct guestmem gm;
    bool gm_ready;
    struct gm_prefault_job *prefault_job; /* running on gm's current table, or NULL */
    int log_call_fd;     /* SET_LOG_FD */
    int backend_fd;      /* SET_BACKEND_REQ_FD, -1: none */
    uint64_t config_changes; /* CONFIG_CHANGE_MSGs sent */
    /* SET_LOG_BASE's log, owned here. The data path sees it (gm.log) only
     * while LOG_ALL is negotiated: the frontend frees the log once it turns
     * LOG_ALL off, and expects no writes to it after that. */
    struct dirty_log_map *log_map;

    void *inflight_map;  /* SET_INFLIGHT_FD area */
    size_t inflight_map_len;
    uint8_t *inflight_base;
    uint16_t inflight_nq;
    uint16_t inflight_qsize;
    uint64_t inflight_stride; /* bytes of each queue's region */

    uint8_t *ring_state; /* nq records of vq_resume_bytes(), mapped from ring_state_path; or NULL */
    size_t ring_state_len;
    char *ring_state_path;
    int ring_state_fd;   /* held open: its lock keeps others (image users) off the file */

    bool vpri_offer;           /* cfg.vpri */
    struct vpri_map *vpri_map; /* VPRI_SET_MAP, owned */
    struct vpri_chan *vpri_chan; /* VPRI_SET_CHANNEL, owned */
    struct vpri_dev vpri;      /* what gm.vpri points to once both are set */
    struct vpri_qstats *vpri_past; /* nq entries: counters of channels gone */

    uint64_t messages;
    uint64_t connections;
    bool failed;
    bool config_told; /* warned of a config read past the device's, this connection */
    uint64_t failures;
    char why[192];       /* last failure (kept after the vdev is cleared) */
    int connect_err;     /* client mode: errno of the last failed connect, 0 once one worked */
    char err[160];       /* reason of the failing handler */
};

/* Handler results. */
#define VHU_OK 0
#define VHU_REFUSED 1 /* answer "failed" (REPLY_ACK) and carry on */
#define VHU_FATAL (-1) /* malformed or out of state: the device stops */

struct vhu_reply {
    union vhu_payload p;
    uint32_t size;
    int fds[1];
    unsigned nfds;
};

typedef int (*vhu_handler)(struct vhost_dev *v, struct vhu_msg *m, int *fds, unsigned nfds,
                          struct vhu_reply *r);

/* Sets v->err and returns VHU_FATAL. */
int vhu_err(struct vhost_dev *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* vhost_dev.c: handle the message in v->conn. Returns 0, or -1 when the
 * connection must be closed (the device failed; reason logged). */
int vhu_dispatch(struct vhost_dev *v);
uint64_t vhu_offered_features(struct vhost_dev *v);
uint64_t vhu_offered_protocol_features(struct vhost_dev *v);
bool vhu_has_proto(struct vhost_dev *v, unsigned bit);

/* vhost_dev.c: whether SET_FEATURES with f changes the device's bits (it
 * then stops the running rings). */
bool vhu_features_change_device(const struct vhost_dev *v, uint64_t f);

/* vhost_server.c: after a settle, dispatch the message that waited (or tear
 * down after the hangup that waited) and read the connection again. */
void vhu_conn_resume(struct vhost_dev *v, bool hangup);

/* vhost_settle.c. Before the message in v->conn is dispatched (hangup:
 * before the teardown after a hangup): quiesces the running rings it may
 * stop; true when some still hold requests, the socket is then unwatched
 * and vhu_conn_resume is called once they settled (or the bound ran out). */
bool vhu_settle_begin(struct vhost_dev *v, bool hangup);
/* After the dispatch: rings it quiesced and did not stop take requests again. */
void vhu_settle_release(struct vhost_dev *v);
/* Teardown: forget a pending settle. */
void vhu_settle_cancel(struct vhost_dev *v);
/* Whole seconds (rounded up) a pending settle may still take at most. */
unsigned vhu_settle_left_s(const struct vhost_dev *v);

/* vhost_queue.c */
void vhu_queue_init(struct vhu_queue *q);
bool vhu_queue_enabled(struct vhost_dev *v, struct vhu_queue *q);
/* Starts queue i if it is fully configured and enabled and not started.
 * VHU_OK or VHU_FATAL with v->err set. */
int vhu_queue_try_start(struct vhost_dev *v, uint16_t i);
void vhu_queue_stop(struct vhost_dev *v, uint16_t i);
/* Stops every started queue, remembering which ones in was[] (nq entries). */
void vhu_queues_pause(struct vhost_dev *v, bool *was);
/* Restarts the queues paused by vhu_queues_pause. VHU_OK or VHU_FATAL. */
int vhu_queues_resume(struct vhost_dev *v, const bool *was);
/* Stops all queues and forgets their configuration, closing their fds. */
void vhu_queues_reset(struct vhost_dev *v);
/* Checks that a ring of num entries at addr lies inside the current memory
 * and is aligned; on success fills the host pointers. */
int vhu_ring_translate(struct vhost_dev *v, const struct vhu_vring_addr *a, uint32_t num,
                      void **desc, void **avail, void **used);
unsigned vhu_queues_started(struct vhost_dev *v);
static inline bool vhu_packed(const struct vhost_dev *v)
{
    return v->features & (1ull << VIRTIO_F_RING_PACKED);
}

/* vhost_ring.c */
int vhu_h_set_vring_num(struct vhost_dev *, struct vhu_msg *, int *, unsigned, struct vhu_reply *);
int vhu_h_set_vring_addr(struct vhost_dev *, struct vhu_msg *, int *, unsigned, struct vhu_reply *);
int vhu_h_set_vring_base(struct vhost_dev *, struct vhu_msg *, int *, unsigned, struct vhu_reply *);
int vhu_h_get_vring_base(struct vhost_dev *, struct vhu_msg *, int *, unsigned, struct vhu_reply *);
int vhu_h_set_vring_kick(struct vhost_dev *, struct vhu_msg *, int *, unsigned, struct vhu_reply *);
int vhu_h_set_vring_call(struct vhost_dev *, struct vhu_msg *, int *, unsigned, struct vhu_reply *);
int vhu_h_set_vring_err(struct vhost_dev *, struct vhu_msg *, int *, unsigned, struct vhu_reply *);
int vhu_h_set_vring_enable(struct vhost_dev *, struct vhu_msg *, int *, unsigned,
                          struct vhu_reply *);

/* vhost_mem.c */
int vhu_h_set_mem_table(struct vhost_dev *, struct vhu_msg *, int *, unsigned, struct vhu_reply *);
int vhu_h_add_mem_reg(struct vhost_dev *, struct vhu_msg *, int *, unsigned, struct vhu_reply *);
int vhu_h_rem_mem_reg(struct vhost_dev *, struct vhu_msg *, int *, unsigned, struct vhu_reply *);
int vhu_h_set_log_base(struct vhost_dev *, struct vhu_msg *, int *, unsigned, struct vhu_reply *);
int vhu_h_set_log_fd(struct vhost_dev *, struct vhu_msg *, int *, unsigned, struct vhu_reply *);
int vhu_h_get_inflight_fd(struct vhost_dev *, struct vhu_msg *, int *, unsigned,
                         struct vhu_reply *);
int vhu_h_set_inflight_fd(struct vhost_dev *, struct vhu_msg *, int *, unsigned,
                         struct vhu_reply *);
/* Turns dirty logging off and frees the log (queues must be stopped). */
void vhu_log_forget(struct vhost_dev *v);
/* Shows the log to the data path or hides it, after LOG_ALL in v->features. */
void vhu_log_apply(struct vhost_dev *v);
void vhu_inflight_forget(struct vhost_dev *v);
/* Drops every region (queues must be stopped). */
void vhu_mem_forget(struct vhost_dev *v);

/* vhost_ring_state.c. Maps (creating it if needed) the file at path: a
 * warning and no records when that fails. Close unmaps (the file stays:
 * see vhost_dev_drop_ring_state). */
void vhu_ring_state_open(struct vhost_dev *v, const char *path);
void vhu_ring_state_close(struct vhost_dev *v);
/* Queue i's record, or NULL without the file. */
struct vq_resume *vhu_ring_state_of(struct vhost_dev *v, uint16_t i);
/* Ring i's record with room for num entries allocated in the file, or NULL
 * (none, or the file system is full: said in the log). */
struct vq_resume *vhu_ring_state_reserve(struct vhost_dev *v, uint16_t i, uint16_t num);

/* vhost_backend_ch.c: the frontend's channel for our own requests. */
int vhu_h_set_backend_req_fd(struct vhost_dev *, struct vhu_msg *, int *, unsigned,
                            struct vhu_reply *);
void vhu_backend_ch_forget(struct vhost_dev *v);
/* vdev on_config_change: CONFIG_CHANGE_MSG on the channel, if there is one. */
void vhu_on_config_change(struct vdev *d, void *opaque);

/* vhost_vpri.c */
int vhu_h_vpri_set_map(struct vhost_dev *, struct vhu_msg *, int *, unsigned, struct vhu_reply *);
int vhu_h_vpri_set_channel(struct vhost_dev *, struct vhu_msg *, int *, unsigned,
                           struct vhu_reply *);
/* Hides VPRI from the data path and frees it (queues must be stopped). */
void vhu_vpri_forget(struct vhost_dev *v);

/* vhost_server.c: called for a fatal error on the control thread. */
void vhu_fail(struct vhost_dev *v, uint16_t qidx, const char *msgname, const char *reason);

#endif
