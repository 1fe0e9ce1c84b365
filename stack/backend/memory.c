/*
 * memory.c — the in-memory link: two backends joined back to back inside one process.
 *
 * Contract: fn_backend_memory_pair() creates one link with two ends.  tx_batch on one end
 * copies each frame into a fresh buffer of the *other* end's pool and appends it to that
 * end's receive ring; rx_batch on an end dequeues from its own ring.  So the two ends may use
 * separate pools (two stacks, one per pool) and a frame never crosses pools by pointer.
 *
 * Owns: the link (both ends' descriptors and rings, allocated once at creation) and every
 * frame sitting in a receive ring.  Nothing is allocated from the heap after creation.
 * An end's stats.held is the frames in its own receive ring (buffers of its own pool, in
 * flight on the link): the sending end's tx_batch raises it, rx_batch and close lower it.
 *
 * What may fail, and where it is counted:
 *   - the receiving ring is full            -> frame dropped, sender's stats.tx_drops
 *   - the frame is longer than mtu + 14     -> frame dropped, sender's stats.tx_drops
 *   - the other end is already closed       -> frame dropped, sender's stats.tx_drops
 *   - the receiving pool has no free buffer -> frame dropped, receiver's stats.rx_nobuf
 *     (from the sender's point of view that frame went out on the wire: it counts in the
 *     sender's tx_packets and in tx_batch's return value, as a NIC would report it)
 *
 * There is no fd to sleep on (fd = -1): the two ends are driven by the same thread, usually a
 * test on a virtual clock.  Both ends must be used by that one thread.  Each end is closed on
 * its own; closing an end frees the frames still queued for it, and the second close frees
 * the link.  Received frames carry no checksum flags (caps = 0): the sending stack computed
 * every checksum, and the receiving stack verifies them as it would on a wire.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fastnet/fn_backend.h"

/* Frames that may wait in one end's receive ring: like a NIC RX ring, bounded. */
#define MEM_RING_SIZE 1024u
#define ETH_HDR_LEN   14u

struct mem_end {
    struct fn_backend be;       /* first member: a struct fn_backend * is a struct mem_end * */
    struct mem_link *link;
    struct mem_end *peer;
    struct fn_pkt *ring[MEM_RING_SIZE]; /* frames received by this end, FIFO */
    uint32_t head;              /* next slot to dequeue; head <= tail, tail - head <= size */
    uint32_t tail;              /* next slot to fill (free-running, wraps mod 2^32) */
    int closed;
};

struct mem_link {
    struct mem_end end[2];
    int open_ends;
};

static const uint8_t default_mac_a[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
static const uint8_t default_mac_b[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02};

static int mem_rx_batch(struct fn_backend *be, struct fn_pkt **pkts, int max, uint64_t now_ns)
{
    struct mem_end *e = (struct mem_end *)be;
    int n = 0;

    (void)now_ns;
    while (n < max && e->head != e->tail) {
        struct fn_pkt *pkt = e->ring[e->head % MEM_RING_SIZE];
        e->head++;
        be->stats.rx_packets++;
        be->stats.rx_bytes += pkt->len;
        pkts[n++] = pkt;
    }
    be->stats.held = e->tail - e->head;
    return n;
}

static int mem_tx_batch(struct fn_backend *be, struct fn_pkt **pkts, int n, uint64_t now_ns)
{
    struct mem_end *e = (struct mem_end *)be;
    struct mem_end *peer = e->peer;
    int sent = 0;

    (void)now_ns;
    for (int i = 0; i < n; i++) {
        struct fn_pkt *src = pkts[i];
        struct fn_pkt *dst;

        if (peer->closed || src->len > be->mtu + ETH_HDR_LEN ||
            peer->tail - peer->head >= MEM_RING_SIZE) {
            be->stats.tx_drops++;
            fn_pkt_free(src);
            continue;
        }
        /* The frame left this end: from here on, any loss is the receiver's. */
        be->stats.tx_packets++;
        be->stats.tx_bytes += src->len;
        sent++;
        dst = fn_pkt_alloc(peer->be.pool);
        if (!dst || fn_pkt_tailroom(dst) < src->len) {
            peer->be.stats.rx_nobuf += dst ? 0 : 1;
            peer->be.stats.rx_errors += dst ? 1 : 0;
            fn_pkt_free(dst);
            fn_pkt_free(src);
            continue;
        }
        memcpy(dst->data, src->data, src->len);
        dst->len = src->len;
        fn_pkt_free(src);
        peer->ring[peer->tail % MEM_RING_SIZE] = dst;
        peer->tail++;
    }
    peer->be.stats.held = peer->tail - peer->head;
    return sent;
}

static void mem_close(struct fn_backend *be)
{
    struct mem_end *e = (struct mem_end *)be;
    struct mem_link *link = e->link;

    if (e->closed)
        return;
    while (e->head != e->tail)
        fn_pkt_free(e->ring[e->head++ % MEM_RING_SIZE]);
    be->stats.held = 0;
    e->closed = 1;
    if (--link->open_ends == 0)
        free(link);
}

static const struct fn_backend_ops mem_ops = {
    .name = "memory",
    .rx_batch = mem_rx_batch,
    .tx_batch = mem_tx_batch,
    .flush = NULL,
    .next_deadline = NULL,
    .close = mem_close,
};

static void mem_end_init(struct mem_end *e, struct mem_link *link, struct mem_end *peer,
                         struct fn_pool *pool, uint32_t mtu, const uint8_t *mac,
                         const char *name)
{
    e->be.ops = &mem_ops;
    e->be.pool = pool;
    e->be.priv = e;
    e->be.fd = -1;
    e->be.mtu = mtu;
    e->be.caps = 0;
    memcpy(e->be.mac, mac, 6);
    strncpy(e->be.ifname, name, FN_IFNAMSIZ - 1);
    e->link = link;
    e->peer = peer;
}

int fn_backend_memory_pair(struct fn_pool *pool_a, struct fn_pool *pool_b, uint32_t mtu,
                           const uint8_t *mac_a, const uint8_t *mac_b,
                           struct fn_backend **a, struct fn_backend **b)
{
    struct mem_link *link;

    *a = NULL;
    *b = NULL;
    if (!pool_a || !pool_b || mtu < 68)
        return -EINVAL;
    link = calloc(1, sizeof(*link));
    if (!link)
        return -ENOMEM;
    mem_end_init(&link->end[0], link, &link->end[1], pool_a, mtu,
                 mac_a ? mac_a : default_mac_a, "mem0");
    mem_end_init(&link->end[1], link, &link->end[0], pool_b, mtu,
                 mac_b ? mac_b : default_mac_b, "mem1");
    link->open_ends = 2;
    *a = &link->end[0].be;
    *b = &link->end[1].be;
    return 0;
}
