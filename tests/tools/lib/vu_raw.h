/* vu_raw: a raw vhost-user frontend for test tools that must be able to send
 * anything, valid or not (vu_hostile, vu_fuzz). It speaks the wire format
 * directly instead of going through the frontend library, which would
 * refuse to send malformed messages.
 *
 * Guest memory is a memfd of VU_RAW_MEM bytes mapped here too (our own
 * mapping address is the frontend's user address, gpa 0 at its start).
 * Queue q's rings sit at gpa VU_RAW_RING_BASE + q * 0x4000 (descriptors,
 * then the avail or driver area at +0x1000, the used or device area at
 * +0x2000); buffers go above VU_RAW_DATA. Every wait is bounded. */
#ifndef SC_TEST_VU_RAW_H
#define SC_TEST_VU_RAW_H

#include <stdbool.h>
#include <stdint.h>

#include "frontend/vu_vpri.h"
#include "vhost/vhost_msg.h"
#include "virtq/virtio_packed.h"
#include "virtq/virtio_spec.h"

/* Longer than the daemon's own bound on a queue stop (5 s, which a VPRI
 * request parked under a live frontend may use up while the control thread
 * serves every device): a stall within it is allowed, not one beyond. */
#define VU_RAW_WAIT_MS 12000
#define VU_RAW_MEM (4u << 20)
#define VU_RAW_QNUM 128u
#define VU_RAW_MAXQ 4u
#define VU_RAW_RING_BASE 0x10000u
#define VU_RAW_DATA 0x100000u

struct vu_raw_q {
    int kick, call;
    struct vring_desc *desc;
    struct vring_packed_desc *pdesc; /* the same memory as desc */
    struct vring_avail *avail;
    struct vring_used *used;
};

struct vu_raw {
    int fd;
    uint8_t *mem; /* guest memory, shared with the backend */
    int memfd;
    uint64_t offered;     /* the backend's GET_FEATURES answer (vu_raw_open) */
    /* Set between vu_raw_open and vu_raw_setup: */
    bool packed;          /* negotiate RING_PACKED (vu_raw_setup fails if not offered) */
    uint64_t extra;       /* further feature bits to take where the backend offers them */
    unsigned nq;          /* queues to set up (0 means 1) */
    bool vpri;            /* negotiate VPRI (docs/VPRI.md) where offered */
    bool inflight;        /* take an inflight area (INFLIGHT_SHMFD) where offered */
    bool log;             /* negotiate LOG_SHMFD and LOG_ALL (dirty logging) where offered */
    uint64_t features;    /* what vu_raw_setup negotiated */
    bool vpri_on;         /* VPRI negotiated: vp holds the owner's side */
    struct vu_vpri vp;
    struct vu_raw_q q[VU_RAW_MAXQ];
    uint8_t *inf;         /* the inflight area, mapped here too (f->inflight) */
    uint64_t inf_len;
};

/* Connects to path and checks the backend answers GET_FEATURES (it refuses
 * a second frontend until it has finished with the previous one, so this
 * retries for VU_RAW_WAIT_MS). Prints why on failure. */
int vu_raw_open(struct vu_raw *f, const char *path);
void vu_raw_close(struct vu_raw *f);

/* One message as given: header fields, payload (at most 512 bytes), fds. */
int vu_raw_send(struct vu_raw *f, uint32_t req, uint32_t flags, const void *p, uint32_t size,
                const int *fds, unsigned nfds);
/* The same with the version flag and optionally NEED_REPLY. */
int vu_raw_req(struct vu_raw *f, uint32_t req, bool ack, const void *p, uint32_t size,
               const int *fds, unsigned nfds);
/* 1: a reply (up to max payload bytes copied, fds closed); 0: the backend
 * closed the connection; -1: nothing within ms, or a malformed reply. */
int vu_raw_recv(struct vu_raw *f, struct vhu_hdr *h, void *payload, size_t max, int ms);
/* The same, keeping the reply's first fd in *keep (which must be -1). */
int vu_raw_recv_fd(struct vu_raw *f, struct vhu_hdr *h, void *payload, size_t max, int *keep,
                   int ms);
int vu_raw_get_u64(struct vu_raw *f, uint32_t req, uint64_t *out);
/* A message with NEED_REPLY that must be acknowledged with 0. */
int vu_raw_ok(struct vu_raw *f, uint32_t req, const void *p, uint32_t size, const int *fds,
              unsigned nfds);

/* What QEMU does: features, memory table (then, with f->vpri and the
 * backend offering it, the VPRI map and channel, every page read-write;
 * with f->inflight and the backend offering it, an inflight area for the
 * queues) and, with rings, f->nq enabled queues and DRIVER_OK. Prints the
 * step that failed. */
int vu_raw_setup(struct vu_raw *f, bool rings);

/* Stops queue qi (GET_VRING_BASE) and starts it again at base with a new
 * kick eventfd, as QEMU does around a backend restart. */
int vu_raw_restart_queue(struct vu_raw *f, unsigned qi, uint32_t base);

int vu_raw_kick(struct vu_raw *f, unsigned q);

#endif
