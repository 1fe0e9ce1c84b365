/*
 * af_packet.c — the AF_PACKET backend: one interface through mmap'd TPACKET_V2 rings.
 *
 * Contract: fn_backend_af_packet_open() binds one packet socket to params->ifname with an
 * RX ring and a TX ring mapped into this process.  rx_batch copies each frame the kernel
 * placed in the RX ring into a pool buffer (at FN_PKT_HEADROOM) and hands the slot back;
 * tx_batch copies frames into free TX slots; flush makes one sendto() kick per call when
 * anything was queued.  be->fd is the socket: readable (POLLIN) when the RX ring has frames.
 * Every op is non-blocking; only the owning core may call them.  The rings are the kernel's
 * memory, not pool buffers, and a sent frame is freed once copied: stats.held stays 0.
 *
 * Why TPACKET_V2 and not V3: V3 hands frames over in blocks that are retired by a timer,
 * which adds about 1 ms to every round trip — fatal for TCP latency (BACKEND-NOTES.md).  V2
 * publishes each frame as it lands.  One socket carries both rings (V2 for both), so a single
 * fd serves poll and the TX kick.
 *
 * Socket options and why:
 *   PACKET_IGNORE_OUTGOING  our own transmissions do not come back through the RX ring (we
 *                           also skip PACKET_OUTGOING frames in case the kernel lacks it).
 *   PACKET_LOSS             a malformed TX slot is discarded by the kernel instead of
 *                           stalling the ring.
 *   no PACKET_QDISC_BYPASS  veth's default qdisc is noqueue, so bypassing gains nothing
 *                           measurable there, and keeping the qdisc path lets tc/nftables
 *                           egress rules on the stack's interface (tbf shaping in tests) see
 *                           our frames.
 * The socket is created with protocol 0 (receives nothing) and only bound with ETH_P_ALL
 * once the rings exist, so no frame of another interface ever lands in the ring.
 *
 * Frames and counters:
 *   - MAC and MTU come from SIOCGIFHWADDR / SIOCGIFMTU (params->mtu overrides the MTU); the
 *     stack uses the interface's own MAC, so promiscuous mode is not needed.
 *   - rx frames longer than mtu + 14 (GRO/GSO aggregates when offloads are left on) and
 *     truncated frames are dropped (rx_errors); so are frames whose VLAN tag the kernel
 *     stripped (a non-zero VID): they belong to a VLAN device, not to this untagged link.
 *   - kernel ring overflows (TP_STATUS_LOSING, then PACKET_STATISTICS) add to rx_errors.
 *   - rx checksum state per frame: TP_STATUS_CSUMNOTREADY -> FN_PKT_F_L4_CSUM_PARTIAL (a
 *     local sender on veth left the checksum to "hardware"), TP_STATUS_CSUM_VALID ->
 *     FN_PKT_F_L4_CSUM_OK.  caps has FN_BE_CAP_RX_CSUM_FLAGS.
 *   - tx frames longer than mtu + 14 or finding the TX ring full are dropped (tx_drops).
 * What may fail at open: no such interface, not Ethernet, interface down, no permission
 * (CAP_NET_RAW), ring allocation — each with a negative errno and a static errmsg.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fastnet/fn_backend.h"

#define AFP_RING_DEFAULT 1024u
#define AFP_BLOCK_SIZE   65536u
#define ETH_HDR_LEN      14u
/* V2 TX data starts right after the aligned header (the sockaddr_ll part is RX only). */
#define AFP_TX_DATA_OFF  (TPACKET2_HDRLEN - sizeof(struct sockaddr_ll))
#define AFP_SLL_OFF      TPACKET_ALIGN(sizeof(struct tpacket2_hdr))

struct afp_be {
    struct fn_backend be;           /* first member */
    uint8_t *map;                   /* RX ring followed by TX ring */
    size_t map_len;
    uint8_t *rx_ring;
    uint8_t *tx_ring;
    uint32_t frame_size;            /* bytes per slot, both rings */
    uint32_t rx_frames, tx_frames;  /* slots per ring */
    uint32_t rx_head;               /* next RX slot the kernel will fill */
    uint32_t tx_head;               /* next TX slot to fill */
    uint32_t tx_pending;            /* slots handed to the kernel since the last kick */
};

static struct tpacket2_hdr *rx_slot(struct afp_be *p, uint32_t i)
{
    return (struct tpacket2_hdr *)(p->rx_ring + (size_t)i * p->frame_size);
}

static struct tpacket2_hdr *tx_slot(struct afp_be *p, uint32_t i)
{
    return (struct tpacket2_hdr *)(p->tx_ring + (size_t)i * p->frame_size);
}

/* The kernel reports ring overflow by flagging a frame; the counts themselves come from
 * PACKET_STATISTICS (which resets them on read). */
static void collect_kernel_drops(struct afp_be *p)
{
    struct tpacket_stats st;
    socklen_t len = sizeof(st);

    if (getsockopt(p->be.fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0)
        p->be.stats.rx_errors += st.tp_drops;
}

/* Copy one ready RX slot into pkts[*n] (or count why not). */
static void rx_one(struct afp_be *p, struct tpacket2_hdr *h, uint32_t status,
                   struct fn_pkt **pkts, int *n)
{
    struct fn_backend *be = &p->be;
    const struct sockaddr_ll *sll = (const struct sockaddr_ll *)((uint8_t *)h + AFP_SLL_OFF);
    struct fn_pkt *pkt;

    if (sll->sll_pkttype == PACKET_OUTGOING)
        return;
    if (h->tp_len > be->mtu + ETH_HDR_LEN || h->tp_snaplen != h->tp_len ||
        ((status & TP_STATUS_VLAN_VALID) && (h->tp_vlan_tci & 0x0fffu))) {
        be->stats.rx_errors++;
        return;
    }
    pkt = fn_pkt_alloc(be->pool);
    if (!pkt) {
        be->stats.rx_nobuf++;
        return;
    }
    if (fn_pkt_tailroom(pkt) < h->tp_snaplen) {
        fn_pkt_free(pkt);
        be->stats.rx_errors++;
        return;
    }
    memcpy(pkt->data, (uint8_t *)h + h->tp_mac, h->tp_snaplen);
    pkt->len = h->tp_snaplen;
    if (status & TP_STATUS_CSUMNOTREADY)
        pkt->flags |= FN_PKT_F_L4_CSUM_PARTIAL;
    else if (status & TP_STATUS_CSUM_VALID)
        pkt->flags |= FN_PKT_F_L4_CSUM_OK;
    be->stats.rx_packets++;
    be->stats.rx_bytes += pkt->len;
    pkts[(*n)++] = pkt;
}

static int afp_rx_batch(struct fn_backend *be, struct fn_pkt **pkts, int max, uint64_t now)
{
    struct afp_be *p = (struct afp_be *)be;
    int n = 0;

    (void)now;
    /* At most one pass over the ring per call, whatever the frames turn out to be. */
    for (uint32_t budget = p->rx_frames; n < max && budget > 0; budget--) {
        struct tpacket2_hdr *h = rx_slot(p, p->rx_head);
        uint32_t status = __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE);

        if (!(status & TP_STATUS_USER))
            break;
        if (status & TP_STATUS_LOSING)
            collect_kernel_drops(p);
        rx_one(p, h, status, pkts, &n);
        /* Hand the slot back only after the copy: the kernel may overwrite it at once. */
        __atomic_store_n(&h->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
        p->rx_head = p->rx_head + 1 == p->rx_frames ? 0 : p->rx_head + 1;
    }
    return n;
}

static int afp_tx_batch(struct fn_backend *be, struct fn_pkt **pkts, int n, uint64_t now)
{
    struct afp_be *p = (struct afp_be *)be;
    int queued = 0;

    (void)now;
    for (int i = 0; i < n; i++) {
        struct fn_pkt *pkt = pkts[i];
        struct tpacket2_hdr *h = tx_slot(p, p->tx_head);
        uint32_t status = __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE);

        /* TP_STATUS_WRONG_FORMAT: the kernel refused this slot's frame; reuse the slot. */
        if ((status != TP_STATUS_AVAILABLE && status != TP_STATUS_WRONG_FORMAT) ||
            pkt->len > be->mtu + ETH_HDR_LEN || pkt->len > p->frame_size - AFP_TX_DATA_OFF) {
            be->stats.tx_drops++;
            fn_pkt_free(pkt);
            continue;
        }
        memcpy((uint8_t *)h + AFP_TX_DATA_OFF, pkt->data, pkt->len);
        h->tp_len = pkt->len;
        h->tp_snaplen = pkt->len;
        __atomic_store_n(&h->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
        p->tx_head = p->tx_head + 1 == p->tx_frames ? 0 : p->tx_head + 1;
        p->tx_pending++;
        be->stats.tx_packets++;
        be->stats.tx_bytes += pkt->len;
        fn_pkt_free(pkt);
        queued++;
    }
    return queued;
}

static int afp_flush(struct fn_backend *be, uint64_t now)
{
    struct afp_be *p = (struct afp_be *)be;

    (void)now;
    if (!p->tx_pending)
        return 0;
    be->stats.tx_kicks++;
    if (sendto(be->fd, NULL, 0, MSG_DONTWAIT, NULL, 0) < 0) {
        /* Transient: the slots stay SEND_REQUEST and the next flush kicks again. */
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS || errno == EINTR)
            return 0;
        return -errno;
    }
    p->tx_pending = 0;
    return 0;
}

static void afp_close(struct fn_backend *be)
{
    struct afp_be *p = (struct afp_be *)be;

    if (p->map)
        munmap(p->map, p->map_len);
    if (be->fd >= 0)
        close(be->fd);
    free(p);
}

static const struct fn_backend_ops afp_ops = {
    .name = "af_packet",
    .rx_batch = afp_rx_batch,
    .tx_batch = afp_tx_batch,
    .flush = afp_flush,
    .next_deadline = NULL,
    .close = afp_close,
};

static int set_int(int fd, int opt, int val)
{
    return setsockopt(fd, SOL_PACKET, opt, &val, sizeof(val)) < 0 ? -errno : 0;
}

/* Read MAC, MTU and flags of the interface; errmsg on failure. */
static int read_ifinfo(int fd, const char *ifname, struct fn_backend *be, uint32_t mtu_param,
                       const char **errmsg)
{
    struct ifreq ifr;

    memset(&ifr, 0, sizeof(ifr));
    strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
    if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) {
        *errmsg = "af_packet: SIOCGIFHWADDR failed";
        return -errno;
    }
    if (ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER) {
        *errmsg = "af_packet: interface is not an Ethernet device";
        return -EINVAL;
    }
    memcpy(be->mac, ifr.ifr_hwaddr.sa_data, 6);
    if (ioctl(fd, SIOCGIFMTU, &ifr) < 0) {
        *errmsg = "af_packet: SIOCGIFMTU failed";
        return -errno;
    }
    be->mtu = mtu_param ? mtu_param : (uint32_t)ifr.ifr_mtu;
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) {
        *errmsg = "af_packet: SIOCGIFFLAGS failed";
        return -errno;
    }
    if (!(ifr.ifr_flags & IFF_UP)) {
        *errmsg = "af_packet: interface is down (ip link set DEV up)";
        return -ENETDOWN;
    }
    return 0;
}

/* Slot size: header + alignment slack + the largest frame, rounded up to a power of two so
 * that slots tile a block exactly. */
static uint32_t slot_size(uint32_t mtu)
{
    uint32_t need = (uint32_t)TPACKET2_HDRLEN + 16u + mtu + ETH_HDR_LEN + 4u;
    uint32_t s = 2048;

    while (s < need)
        s <<= 1;
    return s;
}

static int setup_rings(struct afp_be *p, uint32_t ring_size, const char **errmsg)
{
    struct tpacket_req req;
    uint32_t block = p->frame_size > AFP_BLOCK_SIZE ? p->frame_size : AFP_BLOCK_SIZE;
    uint32_t per_block = block / p->frame_size;
    uint32_t blocks = (ring_size + per_block - 1) / per_block;
    size_t ring_bytes = (size_t)blocks * block;
    int rc;

    memset(&req, 0, sizeof(req));
    req.tp_block_size = block;
    req.tp_block_nr = blocks;
    req.tp_frame_size = p->frame_size;
    req.tp_frame_nr = blocks * per_block;
    if (setsockopt(p->be.fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)) < 0 ||
        setsockopt(p->be.fd, SOL_PACKET, PACKET_TX_RING, &req, sizeof(req)) < 0) {
        rc = -errno;
        *errmsg = "af_packet: cannot create the packet rings";
        return rc;
    }
    p->rx_frames = p->tx_frames = req.tp_frame_nr;
    p->map_len = 2 * ring_bytes;
    p->map = mmap(NULL, p->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, p->be.fd, 0);
    if (p->map == MAP_FAILED) {
        rc = -errno;
        p->map = NULL;
        *errmsg = "af_packet: cannot map the packet rings";
        return rc;
    }
    p->rx_ring = p->map;
    p->tx_ring = p->map + ring_bytes;
    return 0;
}

int fn_backend_af_packet_open(const struct fn_backend_params *params, struct fn_pool *pool,
                              struct fn_backend **out, const char **errmsg)
{
    const char *dummy;
    struct afp_be *p;
    struct sockaddr_ll sll;
    unsigned int ifindex;
    int rc;

    if (!errmsg)
        errmsg = &dummy;
    *out = NULL;
    if (!params || !params->ifname || !pool || strlen(params->ifname) >= FN_IFNAMSIZ) {
        *errmsg = "af_packet: missing or too long interface name";
        return -EINVAL;
    }
    ifindex = if_nametoindex(params->ifname);
    if (!ifindex) {
        *errmsg = "af_packet: no such interface";
        return -ENODEV;
    }
    p = calloc(1, sizeof(*p));
    if (!p) {
        *errmsg = "af_packet: out of memory";
        return -ENOMEM;
    }
    p->be.ops = &afp_ops;
    p->be.pool = pool;
    p->be.priv = p;
    p->be.caps = FN_BE_CAP_RX_CSUM_FLAGS;
    strncpy(p->be.ifname, params->ifname, FN_IFNAMSIZ - 1);

    p->be.fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (p->be.fd < 0) {
        rc = -errno;
        *errmsg = rc == -EPERM ? "af_packet: permission denied (needs CAP_NET_RAW)"
                               : "af_packet: cannot create the packet socket";
        goto fail;
    }
    rc = read_ifinfo(p->be.fd, params->ifname, &p->be, params->mtu, errmsg);
    if (rc)
        goto fail;
    p->frame_size = slot_size(p->be.mtu);
    if ((rc = set_int(p->be.fd, PACKET_VERSION, TPACKET_V2)) != 0 ||
        (rc = set_int(p->be.fd, PACKET_LOSS, 1)) != 0) {
        *errmsg = "af_packet: cannot configure the packet socket (TPACKET_V2)";
        goto fail;
    }
    /* Absent before Linux 4.20; rx_one() filters PACKET_OUTGOING frames in that case. */
    (void)set_int(p->be.fd, PACKET_IGNORE_OUTGOING, 1);
    rc = setup_rings(p, params->ring_size ? params->ring_size : AFP_RING_DEFAULT, errmsg);
    if (rc)
        goto fail;

    memset(&sll, 0, sizeof(sll));
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    sll.sll_ifindex = (int)ifindex;
    if (bind(p->be.fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
        rc = -errno;
        *errmsg = "af_packet: cannot bind to the interface";
        goto fail;
    }
    *out = &p->be;
    return 0;

fail:
    afp_close(&p->be);
    return rc;
}
