/*
 * tap.c — the TAP backend: Ethernet frames exchanged with the kernel through /dev/net/tun.
 *
 * Contract: fn_backend_tap_open() attaches one queue of the TAP device params->ifname,
 * creating the device if it does not exist (a device created here is not persistent: it
 * disappears when the last queue closes).  The fd is non-blocking and is be->fd.  rx_batch
 * does one read() per frame straight into a pool buffer (at FN_PKT_HEADROOM) until EAGAIN or
 * the batch is full; tx_batch does one write() per frame and frees it, so no pool buffer
 * stays with the backend between calls (stats.held stays 0).  Only the owning core may call.
 *
 * Queues: the device is opened with IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE first, so that a
 * device created here can take more queues later (one open per queue, same name; the kernel
 * spreads flows over queues by its symmetric flow hash) and an existing persistent
 * `ip tuntap add ... multi_queue` device can be attached.  An existing single-queue device
 * refuses that flag (EINVAL); for queue 0 we then retry without it, for queue > 0 it is an
 * error (a single-queue device has only queue 0).
 *
 * Addresses: the TAP's kernel side is a NIC of the kernel's own stack with its own MAC; this
 * end is the "wire" side and needs a different one.  The stack's MAC is derived from the
 * interface name — 02:fa followed by the 32-bit FNV-1a hash of the name, big-endian — so it
 * is locally administered, unicast, and stable across restarts (the kernel's ARP cache stays
 * valid).  Should it equal the kernel side's MAC, its last bit is flipped.  The MTU is the
 * device's (SIOCGIFMTU) unless params->mtu is given.  The device is brought up (IFF_UP) if it
 * is down; its addresses and routes are the caller's business.
 *
 * Frames and counters: no vnet header is negotiated, so the kernel finishes checksums and
 * segments GSO frames before handing them over (caps = 0, no checksum flags).  Frames longer
 * than mtu + 14 or than the buffer are dropped (rx_errors); with an empty pool a frame is
 * still read (into a scratch buffer, so the device queue drains) and counted in rx_nobuf.
 * tx frames that are too long or that write() refuses (EAGAIN: the kernel side's queue is
 * full) are dropped and counted in tx_drops.  There is no kick: each write() sends.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fastnet/fn_backend.h"

#define ETH_HDR_LEN 14u

_Static_assert(FN_IFNAMSIZ == IFNAMSIZ, "be->ifname and ifr_name are copied as a whole");

struct tap_be {
    struct fn_backend be;           /* first member */
};

static int tap_rx_batch(struct fn_backend *be, struct fn_pkt **pkts, int max, uint64_t now)
{
    int n = 0;

    (void)now;
    /* One read per slot of the batch, dropped frames included: the loop is bounded even
     * when the pool is empty and frames keep coming. */
    for (int budget = max; budget > 0; budget--) {
        struct fn_pkt *pkt = fn_pkt_alloc(be->pool);
        ssize_t r;

        if (!pkt) {
            /* A read into a short buffer still consumes the whole frame. */
            uint8_t scratch[64];
            r = read(be->fd, scratch, sizeof(scratch));
            if (r < 0)
                break;
            be->stats.rx_nobuf++;
            continue;
        }
        r = read(be->fd, pkt->data, fn_pkt_tailroom(pkt));
        if (r <= 0) {
            int err = r < 0 ? errno : 0;
            fn_pkt_free(pkt);
            if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR || err == 0)
                break;
            return n ? n : -err;
        }
        /* read() returns the frame's full length even when it had to truncate it. */
        if ((size_t)r > fn_pkt_tailroom(pkt) || (size_t)r > be->mtu + ETH_HDR_LEN) {
            fn_pkt_free(pkt);
            be->stats.rx_errors++;
            continue;
        }
        pkt->len = (uint32_t)r;
        be->stats.rx_packets++;
        be->stats.rx_bytes += pkt->len;
        pkts[n++] = pkt;
    }
    return n;
}

static int tap_tx_batch(struct fn_backend *be, struct fn_pkt **pkts, int n, uint64_t now)
{
    int sent = 0;

    (void)now;
    for (int i = 0; i < n; i++) {
        struct fn_pkt *pkt = pkts[i];

        if (pkt->len <= be->mtu + ETH_HDR_LEN && write(be->fd, pkt->data, pkt->len) >= 0) {
            be->stats.tx_packets++;
            be->stats.tx_bytes += pkt->len;
            sent++;
        } else {
            be->stats.tx_drops++;
        }
        fn_pkt_free(pkt);
    }
    return sent;
}

static void tap_close(struct fn_backend *be)
{
    if (be->fd >= 0)
        close(be->fd);
    free(be->priv);
}

static const struct fn_backend_ops tap_ops = {
    .name = "tap",
    .rx_batch = tap_rx_batch,
    .tx_batch = tap_tx_batch,
    .flush = NULL,
    .next_deadline = NULL,
    .close = tap_close,
};

/* 02:fa + FNV-1a-32(name), big-endian. */
static void mac_from_name(const char *name, uint8_t mac[6])
{
    uint32_t h = 2166136261u;

    for (const unsigned char *c = (const unsigned char *)name; *c; c++) {
        h ^= *c;
        h *= 16777619u;
    }
    mac[0] = 0x02;
    mac[1] = 0xfa;
    mac[2] = (uint8_t)(h >> 24);
    mac[3] = (uint8_t)(h >> 16);
    mac[4] = (uint8_t)(h >> 8);
    mac[5] = (uint8_t)h;
}

/* TUNSETIFF with the given flags; returns 0 or -errno.  ifr_name is updated by the kernel. */
static int tun_attach(int fd, struct ifreq *ifr, short flags)
{
    ifr->ifr_flags = flags;
    return ioctl(fd, TUNSETIFF, ifr) < 0 ? -errno : 0;
}

/* MAC (kernel side), MTU, and IFF_UP through a throwaway control socket. */
static int tap_config(struct fn_backend *be, uint32_t mtu_param, const char **errmsg)
{
    struct ifreq ifr;
    uint8_t kmac[6];
    int s, rc = 0;

    s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) {
        *errmsg = "tap: cannot create a control socket";
        return -errno;
    }
    memset(&ifr, 0, sizeof(ifr));
    memcpy(ifr.ifr_name, be->ifname, FN_IFNAMSIZ); /* NUL-terminated: copied that way */
    if (ioctl(s, SIOCGIFHWADDR, &ifr) < 0) {
        rc = -errno;
        *errmsg = "tap: SIOCGIFHWADDR failed";
        goto out;
    }
    memcpy(kmac, ifr.ifr_hwaddr.sa_data, 6);
    mac_from_name(be->ifname, be->mac);
    if (!memcmp(kmac, be->mac, 6))
        be->mac[5] ^= 1;
    if (ioctl(s, SIOCGIFMTU, &ifr) < 0) {
        rc = -errno;
        *errmsg = "tap: SIOCGIFMTU failed";
        goto out;
    }
    be->mtu = mtu_param ? mtu_param : (uint32_t)ifr.ifr_mtu;
    if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) {
        rc = -errno;
        *errmsg = "tap: SIOCGIFFLAGS failed";
        goto out;
    }
    if (!(ifr.ifr_flags & IFF_UP)) {
        ifr.ifr_flags |= IFF_UP;
        if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) {
            rc = -errno;
            *errmsg = "tap: cannot bring the interface up";
        }
    }
out:
    close(s);
    return rc;
}

int fn_backend_tap_open(const struct fn_backend_params *params, struct fn_pool *pool,
                        struct fn_backend **out, const char **errmsg)
{
    const char *dummy;
    struct tap_be *t;
    struct ifreq ifr;
    int rc;

    if (!errmsg)
        errmsg = &dummy;
    *out = NULL;
    if (!params || !params->ifname || !pool || !params->ifname[0] ||
        strlen(params->ifname) >= FN_IFNAMSIZ) {
        *errmsg = "tap: missing or too long interface name";
        return -EINVAL;
    }
    t = calloc(1, sizeof(*t));
    if (!t) {
        *errmsg = "tap: out of memory";
        return -ENOMEM;
    }
    t->be.ops = &tap_ops;
    t->be.pool = pool;
    t->be.priv = t;
    t->be.caps = 0;
    t->be.fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (t->be.fd < 0) {
        rc = -errno;
        *errmsg = rc == -ENOENT ? "tap: /dev/net/tun does not exist"
                                : "tap: cannot open /dev/net/tun";
        goto fail;
    }
    memset(&ifr, 0, sizeof(ifr));
    strncpy(ifr.ifr_name, params->ifname, IFNAMSIZ - 1);
    rc = tun_attach(t->be.fd, &ifr, IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE);
    if (rc == -EINVAL && params->queue == 0)
        rc = tun_attach(t->be.fd, &ifr, IFF_TAP | IFF_NO_PI);
    if (rc) {
        *errmsg = rc == -EPERM   ? "tap: permission denied (needs CAP_NET_ADMIN)"
                  : rc == -EBUSY ? "tap: device busy (single-queue TAP already attached)"
                  : rc == -EINVAL
                      ? "tap: cannot attach (not a TAP device, or queue > 0 on a single-queue TAP)"
                      : "tap: TUNSETIFF failed";
        goto fail;
    }
    memcpy(t->be.ifname, ifr.ifr_name, FN_IFNAMSIZ - 1);
    rc = tap_config(&t->be, params->mtu, errmsg);
    if (rc)
        goto fail;
    *out = &t->be;
    return 0;

fail:
    tap_close(&t->be);
    return rc;
}
