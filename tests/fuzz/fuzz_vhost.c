/* libFuzzer harness: vhost-user message handling (vhost_dev.c dispatch,
 * vhost_msg.c checks, memory table, vring setup/translation, inflight,
 * log base, config, status) on a real server socket, driven by a sequence
 * of fuzzer messages from a frontend in the same thread (the evloop is
 * pumped between messages). A mock device pops up to 64 chains from every
 * queue it is started with (ring translation through the memory table).
 * Input records: [u8 req][u8 flags][u16 size][size bytes payload][u8 fds]
 * fds: low 3 bits = count (<= 4); for KICK/CALL/ERR/BACKEND_REQ/LOG_FD
 * eventfds, else memfds of 1 MiB whose first 64 KiB come from the input
 * tail (shared "guest memory" image). VPRI_SET_MAP and VPRI_SET_CHANNEL
 * get that image in a memfd sealed against shrinking first, as VPRI's
 * shared areas must be (fds bit 3: an unsealed one), then eventfds. One
 * connection per input. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/evloop.h"
#include "common/fdpass.h"
#include "common/log.h"
#include "vhost/vhost_msg.h"
#include "vhost/vhost_user.h"
#include "virtq/virtq.h"
#include "fuzz_common.h"

#define NQ 2
static struct evloop *loop;
static struct vhost_dev *vd;
static char path[108];
static uint8_t cfg[60];

static uint64_t m_features(struct vdev *d)
{
    (void)d;
    return (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_EVENT_IDX) |
           (1ull << VIRTIO_F_RING_PACKED) | (1ull << VIRTIO_RING_F_INDIRECT_DESC) |
           (1ull << VIRTIO_F_IN_ORDER);
}
static int m_set_features(struct vdev *d, uint64_t f) { (void)d; (void)f; return 0; }
static uint16_t m_max_queues(struct vdev *d) { (void)d; return NQ; }
static uint32_t m_config_size(struct vdev *d) { (void)d; return sizeof(cfg); }
static void m_get_config(struct vdev *d, uint8_t *buf, uint32_t off, uint32_t len)
{
    (void)d;
    memcpy(buf, cfg + off, len);
}
static int m_set_config(struct vdev *d, const uint8_t *buf, uint32_t off, uint32_t len)
{
    (void)d;
    memcpy(cfg + off, buf, len);
    return 0;
}
static int m_queue_start(struct vdev *d, uint16_t idx, struct virtq *vq, int kick, int call)
{
    (void)d; (void)kick; (void)call;
    if (idx >= NQ) abort();
    struct iovec iov[16];
    for (int i = 0; i < 64; i++) {
        struct vq_chain c = {.iov = iov, .max_iov = 16};
        int rc = vq_pop(vq, &c);
        if (rc <= 0)
            break;
        volatile uint8_t s = 0;
        for (int k = 0; k < c.n_out + c.n_in; k++)
            if (iov[k].iov_len)
                s ^= ((uint8_t *)iov[k].iov_base)[0] ^ ((uint8_t *)iov[k].iov_base)[iov[k].iov_len - 1];
        (void)s; /* the reads are the point: ASan checks each buffer's ends */
        vq_push(vq, &c, c.in_len);
    }
    vq_publish(vq);
    vq_should_notify(vq);
    return 0;
}
static void m_queue_stop(struct vdev *d, uint16_t idx) { (void)d; (void)idx; }
static void m_reset(struct vdev *d) { (void)d; }
static const struct vdev_ops mock_ops = {
    .features = m_features, .set_features = m_set_features, .max_queues = m_max_queues,
    .config_size = m_config_size, .get_config = m_get_config, .set_config = m_set_config,
    .queue_start = m_queue_start, .queue_stop = m_queue_stop, .reset = m_reset,
};
static struct vdev mock = {.ops = &mock_ops, .name = "fz"};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    fuzz_log_init();
    loop = evloop_create();
    snprintf(path, sizeof(path), "/tmp/sc-fuzz-vu-%d.sock", getpid());
    struct vhost_dev_cfg c = {.socket_path = path, .dev = &mock, .vpri = true};
    const char *why = "";
    if (vhost_dev_create(loop, &c, &vd, &why) < 0) { fprintf(stderr, "vhost: %s\n", why); abort(); }
    return 0;
}

static void pump(int n) { for (int i = 0; i < n; i++) evloop_run_once(loop, 0); }

static void drain(int cl)
{
    uint8_t b[4096];
    union { char b[CMSG_SPACE(sizeof(int) * 8)]; struct cmsghdr a; } ctrl;
    for (;;) {
        struct iovec iov = {b, sizeof(b)};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctrl.b,
                            .msg_controllen = sizeof(ctrl.b)};
        ssize_t n = recvmsg(cl, &mh, MSG_DONTWAIT);
        if (n <= 0)
            return;
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
            int k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (int j = 0; j < k; j++) {
                int fd;
                memcpy(&fd, CMSG_DATA(cm) + j * sizeof(int), sizeof(int));
                close(fd);
            }
        }
    }
}

/* A 1 MiB memfd holding the input repeated (cheap and stable); sealed
 * against shrinking when seal. */
static int image_memfd(const char *name, const uint8_t *data, size_t size, bool seal)
{
    int fd = memfd_create(name, MFD_CLOEXEC | (seal ? MFD_ALLOW_SEALING : 0));
    if (fd < 0 || ftruncate(fd, 1 << 20) < 0) abort();
    if (size) {
        uint8_t *m = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        for (size_t off = 0; off < (1u << 20); off += size) {
            size_t k = size < (1u << 20) - off ? size : (1u << 20) - off;
            memcpy(m + off, data, k);
            if (off > 65536) break;
        }
        munmap(m, 1 << 20);
    }
    if (seal && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) < 0) abort();
    return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vhost_dev_info inf;
    /* guest memory image: last 64 KiB (or less) of input is NOT reserved */
    int mfd = image_memfd("fz-guest", data, size, false);
    int sfd = image_memfd("fz-vpri", data, size, true);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
    int cl = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (connect(cl, (struct sockaddr *)&a, sizeof(a)) < 0) abort();
    for (int i = 0; i < 200; i++) {
        pump(1);
        vhost_dev_get_info(vd, &inf);
        if (inf.connected) break;
    }
    int nmsg = 0;
    while (size >= 5 && nmsg < 48) {
        uint32_t req = data[0];
        uint8_t fl = data[1];
        if (req >= 0xfe) req = 1024 + (req - 0xfe); /* VPRI_SET_MAP / SET_CHANNEL */
        uint32_t len = data[2] | (data[3] << 8);
        data += 4, size -= 4;
        if (len > size) len = size;
        uint8_t buf[12 + 65536];
        struct vhu_hdr h = {req, VHOST_USER_VERSION | ((fl & 1) ? VHOST_USER_NEED_REPLY_MASK : 0) |
                                 ((fl & 2) ? 0x4 : 0), len};
        if (fl & 0x80) /* raw header size mismatch */
            h.size = len + (fl & 0x70);
        memcpy(buf, &h, 12);
        memcpy(buf + 12, data, len);
        data += len, size -= len;
        unsigned nf = 0;
        uint8_t fdb = 0;
        if (size) { fdb = data[0]; nf = fdb & 7; if (nf > 4) nf = 4; data++, size--; }
        int fds[4];
        bool ev = req == 12 || req == 13 || req == 14 || req == 21 || req == 7 || req == 1025;
        bool vpri = req == 1024 || req == 1025;
        for (unsigned i = 0; i < nf; i++)
            fds[i] = vpri && i == 0 ? dup(fdb & 8 ? mfd : sfd)
                     : ev           ? eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)
                                    : dup(mfd);
        union { char b[CMSG_SPACE(sizeof(int) * 8)]; struct cmsghdr al; } ctrl;
        struct iovec iov = {buf, 12 + len};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
        if (fdpass_attach(&mh, ctrl.b, sizeof(ctrl.b), fds, nf) < 0) abort();
        ssize_t sent = sendmsg(cl, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        for (unsigned i = 0; i < nf; i++) close(fds[i]);
        if (sent < 0) break;
        nmsg++;
        pump(4);
        drain(cl);
    }
    close(cl);
    for (int i = 0; i < 2000; i++) {
        pump(1);
        vhost_dev_get_info(vd, &inf);
        if (!inf.connected && !inf.stopping) break;
        if (i > 20) usleep(100);
    }
    close(mfd);
    close(sfd);
    return 0;
}
