/* libFuzzer harness: virtio-net offload metadata from a hostile guest
 * (net_hdr_check, net_csum_placed), the receiver-side fallbacks (net_fix:
 * checksum completion and TSO segmentation) and the flow parser used by the
 * packet filter (net_flow_parse via a filter stage with port rules).
 * Input: [12 B virtio_net_hdr_v1][allowed caps][receiver caps][n iov cuts]
 * [cut bytes...] frame. The frame is split into up to 8 separately
 * allocated iovecs (ASan catches any read past one). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/net_flow.h"
#include "backend/net_offload.h"
#include "common/log.h"
#include "interpose/ip_filter.h"

static struct ip_stage *filt;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    sc_log_set_level(SC_LOG_ERR);
    char err[256];
    json_error_t je;
    json_t *o = json_loads(
        "{\"type\":\"filter\",\"default\":\"allow\",\"rules\":["
        "{\"action\":\"deny\",\"proto\":\"tcp\",\"dport\":\"20-25\",\"dst\":\"10.0.0.0/8\"},"
        "{\"action\":\"deny\",\"proto\":\"udp\",\"sport\":53,\"frag\":\"first\"},"
        "{\"action\":\"deny\",\"ethertype\":\"ipv6\",\"src\":\"fe80::/10\",\"proto\":\"icmpv6\"},"
        "{\"action\":\"allow\",\"frag\":\"later\",\"dir\":\"in\"},"
        "{\"action\":\"deny\",\"ethertype\":\"arp\",\"src_mac\":\"02:00:00:00:00:01\"}]}",
        0, &je);
    filt = ip_filter_from_json(o, "fuzz", err, sizeof(err));
    if (!filt) { fprintf(stderr, "filter: %s\n", err); abort(); }
    json_decref(o);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 15)
        return 0;
    struct virtio_net_hdr_v1 h;
    memcpy(&h, data, 12);
    unsigned allowed = data[12] & NET_CAP_ALL, rcaps = data[13] & NET_CAP_ALL;
    unsigned ncut = data[14] % 8;
    data += 15, size -= 15;
    if (size < ncut)
        return 0;
    const uint8_t *cuts = data;
    data += ncut, size -= ncut;
    if (size > NET_MAX_FRAME)
        size = NET_MAX_FRAME;
    /* iovecs */
    struct iovec iov[8];
    unsigned niov = 0;
    size_t off = 0;
    for (unsigned i = 0; i <= ncut && off < size; i++) {
        size_t l = i < ncut ? 1 + cuts[i] * 2u : size - off;
        if (l > size - off)
            l = size - off;
        uint8_t *b = malloc(l);
        memcpy(b, data + off, l);
        iov[niov++] = (struct iovec){b, l};
        off += l;
    }
    if (off < size) { /* remainder */
        size_t l = size - off;
        uint8_t *b = malloc(l);
        memcpy(b, data + off, l);
        if (niov == 8) niov--; /* cannot happen: ncut <= 7 */
        iov[niov++] = (struct iovec){b, l};
    }
    struct net_pkt p = {.hdr = h, .iov = iov, .niov = (uint16_t)niov, .len = (uint32_t)size};
    if (size >= 12)
        memcpy(p.eth, data, 12);
    if (net_hdr_check(&p.hdr, p.len, allowed) == NET_DROP__COUNT && net_csum_placed(&p)) {
        /* the switch's path: filter both directions, then per receiver fix */
        filt->ops->frame(filt, &p, false, 0);
        filt->ops->frame(filt, &p, true, 0);
        struct net_flow fl;
        net_flow_parse(&p, &fl);
        static struct net_fix f;
        enum net_drop why;
        if (net_fix_begin(&f, &p, rcaps, &why) == 0) {
            const struct net_pkt *o;
            unsigned n = 0;
            while ((o = net_fix_next(&f)) != NULL) {
                size_t tot = 0;
                volatile uint8_t sink = 0;
                for (unsigned i = 0; i < o->niov; i++) {
                    const uint8_t *b = o->iov[i].iov_base;
                    for (size_t k = 0; k < o->iov[i].iov_len; k++)
                        sink ^= b[k];
                    tot += o->iov[i].iov_len;
                }
                (void)sink; /* the reads are the point: ASan checks every byte */
                if (tot != o->len) {
                    fprintf(stderr, "segment %u: len %u but iovecs hold %zu\n", n, o->len, tot);
                    abort();
                }
                if (++n > NET_MAX_SEGS + 1) {
                    fprintf(stderr, "more than NET_MAX_SEGS segments\n");
                    abort();
                }
            }
        }
    } else {
        /* the filter still parses frames from senders without offloads */
        struct net_pkt q = p;
        memset(&q.hdr, 0, sizeof(q.hdr));
        if (size >= NET_MIN_FRAME)
            filt->ops->frame(filt, &q, false, 0);
    }
    for (unsigned i = 0; i < niov; i++)
        free(iov[i].iov_base);
    return 0;
}
