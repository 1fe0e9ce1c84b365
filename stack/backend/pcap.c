/*
 * pcap.c — the capture wrapper: a backend that records every frame of another to a file.
 *
 * Contract: fn_backend_pcap_wrap() returns a backend that forwards everything to `inner` (and
 * owns it: closing the wrapper closes it) and writes each frame received from the inner
 * backend and each frame handed to it for transmission to a classic pcap file: nanosecond
 * magic 0xa1b23c4d, version 2.4, LINKTYPE_ETHERNET (1), host byte order (readers detect it
 * from the magic).  tx frames are recorded when tx_batch is called, before the inner backend
 * sees them, so a frame the inner backend then drops still appears in the capture.
 *
 * Timestamps: the stack's now_ns is monotonic (or virtual, in tests).  At open the wrapper
 * reads CLOCK_REALTIME and CLOCK_MONOTONIC once; a record's time is
 * realtime_at_open + (now_ns - monotonic_at_open), so captures line up with the wall clock of
 * a peer's tcpdump and no clock is read per frame.
 *
 * Output goes through a stdio buffer (allocated at open) that is flushed on every backend
 * flush and on close: one write() per poll iteration at most.  A write error (disk full)
 * stops the capture quietly — the data path keeps running; close reports nothing either.
 * be->stats mirrors the inner backend's counters (held included: the wrapper holds no frame
 * of its own).  One core, like the inner backend.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fastnet/fn_backend.h"

#define PCAP_MAGIC_NS      0xa1b23c4du
#define PCAP_LINKTYPE_ETH  1u
#define PCAP_SNAPLEN       262144u
#define PCAP_STDIO_BUFSIZE (256u * 1024u)

static const uint16_t pcap_version[2] = {2, 4};

struct pcap_be {
    struct fn_backend be;           /* first member */
    struct fn_backend *inner;
    FILE *f;
    char *iobuf;
    int64_t wall_offset_ns;         /* realtime - monotonic, sampled once at open */
    int failed;                     /* a write failed: capture stopped */
};

static void write_record(struct pcap_be *p, const struct fn_pkt *pkt, uint64_t now)
{
    int64_t wall = (int64_t)now + p->wall_offset_ns;
    uint32_t hdr[4];
    uint32_t incl = pkt->len < PCAP_SNAPLEN ? pkt->len : PCAP_SNAPLEN;

    if (p->failed)
        return;
    if (wall < 0)
        wall = 0;
    hdr[0] = (uint32_t)(wall / 1000000000);
    hdr[1] = (uint32_t)(wall % 1000000000);
    hdr[2] = incl;
    hdr[3] = pkt->len;
    if (fwrite(hdr, sizeof(hdr), 1, p->f) != 1 || fwrite(pkt->data, 1, incl, p->f) != incl)
        p->failed = 1;
}

static int pcap_rx_batch(struct fn_backend *be, struct fn_pkt **pkts, int max, uint64_t now)
{
    struct pcap_be *p = (struct pcap_be *)be;
    int n = fn_backend_rx(p->inner, pkts, max, now);

    for (int i = 0; i < n; i++)
        write_record(p, pkts[i], now);
    be->stats = p->inner->stats;
    return n;
}

static int pcap_tx_batch(struct fn_backend *be, struct fn_pkt **pkts, int n, uint64_t now)
{
    struct pcap_be *p = (struct pcap_be *)be;
    int rc;

    for (int i = 0; i < n; i++)
        write_record(p, pkts[i], now);
    rc = fn_backend_tx(p->inner, pkts, n, now);
    be->stats = p->inner->stats;
    return rc;
}

static int pcap_flush(struct fn_backend *be, uint64_t now)
{
    struct pcap_be *p = (struct pcap_be *)be;
    int rc = fn_backend_flush(p->inner, now);

    if (!p->failed && fflush(p->f) != 0)
        p->failed = 1;
    be->stats = p->inner->stats;
    return rc;
}

static uint64_t pcap_next_deadline(struct fn_backend *be)
{
    struct pcap_be *p = (struct pcap_be *)be;
    return fn_backend_next_deadline(p->inner);
}

static void pcap_close(struct fn_backend *be)
{
    struct pcap_be *p = (struct pcap_be *)be;

    fclose(p->f);
    free(p->iobuf);
    fn_backend_close(p->inner);
    free(p);
}

static const struct fn_backend_ops pcap_ops = {
    .name = "pcap",
    .rx_batch = pcap_rx_batch,
    .tx_batch = pcap_tx_batch,
    .flush = pcap_flush,
    .next_deadline = pcap_next_deadline,
    .close = pcap_close,
};

static int64_t ts_ns(const struct timespec *ts)
{
    return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

int fn_backend_pcap_wrap(struct fn_backend *inner, const char *path, struct fn_backend **out)
{
    struct pcap_be *p;
    struct timespec real, mono;
    uint32_t fhdr[6];
    int err;

    *out = NULL;
    if (!inner || !path)
        return -EINVAL;
    p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->iobuf = malloc(PCAP_STDIO_BUFSIZE);
    if (!p->iobuf) {
        free(p);
        return -ENOMEM;
    }
    p->f = fopen(path, "wb");
    if (!p->f) {
        err = errno;
        free(p->iobuf);
        free(p);
        return -err;
    }
    setvbuf(p->f, p->iobuf, _IOFBF, PCAP_STDIO_BUFSIZE);

    clock_gettime(CLOCK_REALTIME, &real);
    clock_gettime(CLOCK_MONOTONIC, &mono);
    p->wall_offset_ns = ts_ns(&real) - ts_ns(&mono);

    /* The pcap global header: magic, version 2.4 (two u16), thiszone, sigfigs, snaplen,
     * linktype.  Written as u32s; the version halves packed in host order. */
    fhdr[0] = PCAP_MAGIC_NS;
    memcpy(&fhdr[1], pcap_version, sizeof(pcap_version));
    fhdr[2] = 0;
    fhdr[3] = 0;
    fhdr[4] = PCAP_SNAPLEN;
    fhdr[5] = PCAP_LINKTYPE_ETH;
    if (fwrite(fhdr, sizeof(fhdr), 1, p->f) != 1 || fflush(p->f) != 0) {
        err = errno ? errno : EIO;
        fclose(p->f);
        free(p->iobuf);
        free(p);
        return -err;
    }

    p->inner = inner;
    p->be.ops = &pcap_ops;
    p->be.pool = inner->pool;
    p->be.priv = p;
    p->be.fd = inner->fd;
    p->be.mtu = inner->mtu;
    p->be.caps = inner->caps;
    memcpy(p->be.mac, inner->mac, sizeof(p->be.mac));
    memcpy(p->be.ifname, inner->ifname, sizeof(p->be.ifname));
    p->be.stats = inner->stats;
    *out = &p->be;
    return 0;
}
