/*
 * af_xdp.c — the AF_XDP backend: one rx/tx queue of one interface through an XDP socket.
 *
 * Contract (see fn_backend.h for the ops): the pool's region IS the UMEM.  UMEM frame i is
 * pool buffer i (frame size = fn_pool_buf_size()), so received frames land in pool buffers
 * and transmitted packets leave from them: no copy in userspace either way.  Owned by one
 * core; nothing here locks.
 *
 * Buffer ownership.  The pool only knows "allocated" and "free", so a frame the kernel holds
 * is an allocated packet: the backend allocates buffers with fn_pkt_alloc() to post them on the
 * fill ring, hands them out as already-allocated packets from rx_batch, takes the caller's
 * packets onto the tx ring as they are, and frees them with fn_pkt_free() when the completion
 * ring returns them.  frame_state[] records for every frame whether the kernel holds it (on the
 * fill ring or in flight on tx), so close() can give every such buffer back to the pool and a
 * descriptor for a frame we did not post is caught and counted instead of corrupting the pool.
 * stats.held (fill_held + tx_held, refreshed at the end of every op) tells those allocated
 * buffers apart from the stack's: a clean idle backend holds its whole fill ring.
 *
 * The XDP program is ours (backend/xdp/fn_xdp_kern.c, path from params->xdp_obj_path or the
 * compile-time FN_XDP_OBJ_DEFAULT).  It is loaded and attached here with libbpf as a single
 * program, not through libxdp's dispatcher: the dispatcher needs bpffs and freplace programs,
 * which fail on the machines we target (EPERM).  libxdp's xsk part creates the socket with
 * program loading inhibited; the socket is then inserted into our program's xsks_map.  The
 * attach uses XDP_FLAGS_UPDATE_IF_NOEXIST, so an interface that already has an XDP program
 * (someone else's, or ours left behind by a process killed with SIGKILL) is never taken over:
 * open fails with -EBUSY and says how to clear it.  close() detaches exactly the program it
 * attached (XDP_FLAGS_REPLACE with our fd) and leaves nothing behind; a process that dies
 * without close() leaves the program attached, and `ip link set dev IF xdp off` removes it.
 * One backend per interface at a time: the program and its map belong to the opener.
 *
 * Rings: copy mode (XDP_COPY; zero-copy is EOPNOTSUPP on veth) with XDP_USE_NEED_WAKEUP.  In
 * copy mode the kernel transmits only from sendto(), at most 32 descriptors per call, so
 * flush() kicks once per poll iteration and repeats while the kernel answers EAGAIN (bounded).
 * The fill ring is twice the number of frames posted on it: the kernel publishes its consumer
 * index lazily, and a ring sized to hold every posted frame looks full while it is not.
 *
 * NAPI poll (params->napi_poll, off by default: Linux preferred busy polling).  The XDP socket
 * gets SO_BUSY_POLL (20 µs; it only bounds blocking calls, and we make none, but a socket
 * without it never busy-polls), SO_BUSY_POLL_BUDGET 64 and SO_PREFER_BUSY_POLL, and rx_batch,
 * when the rx ring is empty and the socket has a NAPI id (SO_INCOMING_NAPI_ID after bind),
 * makes one recvfrom(MSG_DONTWAIT) (counted in stats.napi_polls): the kernel then runs one
 * pass of the device's NAPI poll in our system call, no spinning, and the frames it receives
 * are on the ring when rx_batch peeks again.  Since Linux 6.13 only a zero-copy socket on a
 * driver that links its queues to NAPIs has one (resolved at bind); ours are copy mode, so
 * there no recvfrom is made (it would run nothing; bench/results/loop_cost.md, "IRQ
 * suspension") and what acts is the device's deferral: napi_defer_hard_irqs = 2 and
 * gro_flush_timeout = napi_hold_us.  After a NAPI poll that found frames, the peer's
 * transmits do not wake the NAPI (on veth: its kthread); its watchdog polls after
 * gro_flush_timeout and takes what arrived as one batch (waking us through the fd), and
 * after 2 empty watchdog polls the device is back to a wake per frame: receive interrupt
 * moderation.  The price is latency: a frame waits up to gro_flush_timeout.  The two device
 * values are read (from /sys/class/net/IF, which must be this network namespace's sysfs: the
 * interface's ifindex and MAC are checked there) and written before the XDP program is
 * loaded, and written back by close and by every failed open after that point (each only if
 * it still holds our value: see xsk_napi_restore); a process killed without close leaves
 * them set, like the XDP program (reset with `echo 0 > /sys/class/net/IF/napi_defer_hard_irqs`
 * and the same for gro_flush_timeout).
 *
 * Adaptive receive moderation (params->rx_moderation AUTO, the default, or ADAPTIVE; not with
 * napi_poll, which holds the deferral all the time): the same two device values, written
 * only while the receive rate is high.  rx_batch counts frames over 10 ms windows of its
 * clock; a window with 4 or more frames per hold time turns the deferral on (a deferred NAPI
 * poll then takes a batch, and the peer's frames stop waking the NAPI one by one), one with
 * fewer than 2 turns it off (xsk_napi_restore: what was there goes back).  At open only the
 * possibility is checked (this namespace's sysfs, the files writable): AUTO goes without
 * where it fails (an info line), ADAPTIVE fails the open.  A write that fails later turns the
 * adaptation off for good (a warning).  stats.rx_moderated is 1 while on; stats.
 * rx_moderation_switches counts the changes.
 *
 * Failures: open returns -errno with a static errmsg; rx/tx never block and never fail for
 * lack of buffers (drops are counted: rx_nobuf from the kernel's fill-ring-empty counter, read
 * with XDP_STATISTICS at most once per millisecond of rx_batch's clock).  Received frames carry
 * no checksum state (AF_XDP has none): FN_BE_CAP_RX_CSUM_FLAGS is not set.
 *
 * Built always; without libxdp (FN_HAVE_LIBXDP undefined) open returns -ENOTSUP.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "fastnet/fn_backend.h"

#ifndef FN_HAVE_LIBXDP

int fn_backend_af_xdp_open(const struct fn_backend_params *params, struct fn_pool *pool,
                           struct fn_backend **out, const char **errmsg)
{
    (void)params;
    (void)pool;
    if (out)
        *out = NULL;
    if (errmsg)
        *errmsg = "built without libxdp";
    return -ENOTSUP;
}

#else /* FN_HAVE_LIBXDP */

#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/xsk.h>

#include "platform/fn_platform.h"

/* The kernel puts received data XDP_PACKET_HEADROOM bytes after the UMEM frame headroom, so a
 * UMEM headroom of FN_PKT_HEADROOM - XDP_PACKET_HEADROOM makes AF_XDP frames start at
 * FN_PKT_HEADROOM like every other backend's. */
_Static_assert(FN_PKT_HEADROOM >= XDP_PACKET_HEADROOM,
               "pool headroom must cover the kernel's XDP headroom");
#define FN_XSK_UMEM_HEADROOM (FN_PKT_HEADROOM - XDP_PACKET_HEADROOM)

#define FN_XSK_RING_DEFAULT 2048u
#define FN_XSK_RING_MAX     16384u
#define FN_XSK_MAP_ENTRIES  64u   /* max_entries compiled into fn_xdp_kern.c */
#define FN_XSK_KICK_BATCH   32u   /* descriptors the kernel sends per sendto() in copy mode */
#define FN_XSK_REFILL_CHUNK 64u
#define FN_XSK_STATS_NS     1000000ull
#define FN_XSK_BIND_TRIES   100   /* x 10 ms: see the bind retry in open */
#define FN_XSK_PROG_MAP     "xsks_map"

/* NAPI poll (see the header comment).  Older libc headers may lack the option numbers. */
#ifndef SO_BUSY_POLL
#define SO_BUSY_POLL 46
#endif
#ifndef SO_PREFER_BUSY_POLL
#define SO_PREFER_BUSY_POLL 69
#endif
#ifndef SO_BUSY_POLL_BUDGET
#define SO_BUSY_POLL_BUDGET 70
#endif
#define FN_XSK_BUSY_POLL_US     20
#define FN_XSK_BUSY_POLL_BUDGET 64
#define FN_XSK_NAPI_DEFER       2
/* Adaptive receive moderation (params->rx_moderation, see the header): the receive rate is
 * measured over windows of FN_XSK_MOD_WINDOW_NS, in frames per hold time (napi_hold_us).
 * The device's deferral goes on when a window saw FN_XSK_MOD_ON_PER_HOLD or more (then a
 * deferred NAPI poll takes several frames at once) and off when one saw fewer than
 * FN_XSK_MOD_OFF_PER_HOLD (then it would mostly add latency); in between the setting stays.
 * With the default hold of 200 µs: on at 20,000 frames/s, off below 10,000. */
#define FN_XSK_MOD_WINDOW_NS    10000000ull
#define FN_XSK_MOD_ON_PER_HOLD  4ull
#define FN_XSK_MOD_OFF_PER_HOLD 2ull
enum { NAPI_KNOB_DEFER = 0, NAPI_KNOB_GRO = 1, NAPI_KNOBS = 2 };
static const char *const napi_knob_names[NAPI_KNOBS] = {"napi_defer_hard_irqs",
                                                         "gro_flush_timeout"};

/* Who holds frame i (frame_state[i]).  FRAME_CALLER: not the kernel — free in the pool, or
 * allocated to the stack. */
enum { FRAME_CALLER = 0, FRAME_FILL = 1, FRAME_TX = 2 };

struct fn_xsk {
    struct fn_backend be;            /* first: the backend handed out is &x->be */

    /* Rings are zero-initialised (calloc): xsk_umem__create does not set the completion
     * ring's cached indices. */
    struct xsk_ring_prod fill;
    struct xsk_ring_cons comp;
    struct xsk_ring_cons rx;
    struct xsk_ring_prod tx;
    struct xsk_umem *umem;
    struct xsk_socket *xsk;

    struct bpf_object *obj;          /* our XDP program and its xsks_map */
    int prog_fd;
    int map_fd;
    int ifindex;
    int netns_fd;                    /* the network namespace ifindex is in (-1: unknown) */
    uint32_t attach_flags;           /* XDP_FLAGS_DRV_MODE or _SKB_MODE once attached, else 0 */

    uint8_t *region;                 /* UMEM start = pool region */
    uint32_t buf_size;               /* UMEM frame size = pool buffer size */
    uint32_t count;                  /* frames in the UMEM = buffers in the pool */
    uint32_t tx_size;                /* descriptors in the tx ring */
    uint32_t fill_target;            /* frames kept posted on the fill ring */
    uint32_t fill_held;              /* frames on the fill ring or being received into */
    uint32_t tx_held;                /* frames on the tx ring or awaiting completion */
    int tx_stalled;                  /* last flush left descriptors the kernel did not take */
    int busy_poll;
    int napi_poll;                   /* params->napi_poll */
    int napi_id;                     /* the socket's NAPI id (SO_INCOMING_NAPI_ID), 0: none */
    int mod_adaptive;                /* the deferral follows the receive rate (not napi_poll) */
    uint64_t mod_win_ns;             /* start of the current rate window (0: none yet) */
    uint64_t mod_win_rx;             /* stats.rx_packets at its start */
    uint32_t napi_hold_us;
    /* The device's napi_defer_hard_irqs / gro_flush_timeout as found at open, and whether we
     * wrote ours over them (then close writes these back). */
    unsigned long long napi_prev[NAPI_KNOBS];
    unsigned long long napi_ours[NAPI_KNOBS];
    int napi_written[NAPI_KNOBS];

    /* Counters of our own, added to the kernel's XDP_STATISTICS when stats are refreshed. */
    uint64_t own_rx_errors;
    uint64_t own_tx_drops;
    uint64_t stats_ns;
    int stats_valid;

    uint8_t *frame_state;            /* count entries, FRAME_* */
};

static struct fn_xsk *xsk_of(struct fn_backend *be)
{
    return (struct fn_xsk *)be->priv;
}

static uint32_t round_pow2(uint32_t v)
{
    uint32_t p = 1;

    while (p < v && p < (1u << 31))
        p <<= 1;
    return p;
}

/* Give the kernel's drop counters to be->stats.  Kernel counters (struct xdp_statistics):
 * rx_fill_ring_empty_descs counts frames dropped because the fill ring was empty (the pool
 * had no buffer for us to post); rx_dropped counts those too plus frames too long for a
 * frame; rx_ring_full counts frames dropped because we did not drain the rx ring. */
static void xsk_refresh_stats(struct fn_xsk *x)
{
    struct xdp_statistics st;
    socklen_t len = sizeof(st);
    uint64_t other;

    memset(&st, 0, sizeof(st));
    if (getsockopt(x->be.fd, SOL_XDP, XDP_STATISTICS, &st, &len) != 0)
        return;
    other = st.rx_dropped > st.rx_fill_ring_empty_descs
                ? st.rx_dropped - st.rx_fill_ring_empty_descs : 0;
    x->be.stats.rx_nobuf = st.rx_fill_ring_empty_descs;
    x->be.stats.rx_errors = x->own_rx_errors + other + st.rx_ring_full + st.rx_invalid_descs;
    x->be.stats.tx_drops = x->own_tx_drops + st.tx_invalid_descs;
}

/* stats.held: every frame the kernel holds for us, posted for receive or in flight on tx. */
static void xsk_note_held(struct fn_xsk *x)
{
    x->be.stats.held = (uint64_t)x->fill_held + x->tx_held;
}

/* Top the fill ring up to fill_target frames with fresh pool buffers.  An empty pool just
 * leaves the ring short; the kernel then drops (and counts) what it cannot place. */
static void xsk_refill(struct fn_xsk *x)
{
    struct fn_pkt *got[FN_XSK_REFILL_CHUNK];
    uint32_t rounds = x->fill_target / FN_XSK_REFILL_CHUNK + 1;

    while (x->fill_held < x->fill_target && rounds-- > 0) {
        uint32_t want = x->fill_target - x->fill_held;
        uint32_t n = 0, idx, i;

        if (want > FN_XSK_REFILL_CHUNK)
            want = FN_XSK_REFILL_CHUNK;
        while (n < want && (got[n] = fn_pkt_alloc(x->be.pool)) != NULL)
            n++;
        if (n == 0)
            return;
        /* The ring has room for 2 * fill_target entries and never holds more than
         * fill_target, so this reservation only fails if the kernel misbehaves. */
        if (xsk_ring_prod__reserve(&x->fill, n, &idx) != n) {
            for (i = 0; i < n; i++)
                fn_pkt_free(got[i]);
            return;
        }
        for (i = 0; i < n; i++) {
            *xsk_ring_prod__fill_addr(&x->fill, idx + i) = (uint64_t)got[i]->idx * x->buf_size;
            x->frame_state[got[i]->idx] = FRAME_FILL;
        }
        xsk_ring_prod__submit(&x->fill, n);
        x->fill_held += n;
        if (n < want)
            return;
    }
}

/* Return transmitted frames to the pool. */
static void xsk_reap(struct fn_xsk *x)
{
    uint32_t idx, n, i;

    if (x->tx_held == 0)
        return;
    n = xsk_ring_cons__peek(&x->comp, x->tx_size, &idx);
    for (i = 0; i < n; i++) {
        uint64_t addr = *xsk_ring_cons__comp_addr(&x->comp, idx + i);
        uint64_t f = addr / x->buf_size;

        if (f >= x->count || x->frame_state[f] != FRAME_TX) {
            x->own_tx_drops++;
            continue;
        }
        x->frame_state[f] = FRAME_CALLER;
        x->tx_held--;
        fn_pkt_free(fn_pool_pkt(x->be.pool, (uint32_t)f));
    }
    if (n)
        xsk_ring_cons__release(&x->comp, n);
}

/* Take up to max received frames off the rx ring into pkts. */
static int xsk_take(struct fn_xsk *x, struct fn_pkt **pkts, int max)
{
    struct fn_backend *be = &x->be;
    uint32_t idx = 0, n, i;
    int got = 0;

    n = max > 0 ? xsk_ring_cons__peek(&x->rx, (uint32_t)max, &idx) : 0;
    for (i = 0; i < n; i++) {
        const struct xdp_desc *d = xsk_ring_cons__rx_desc(&x->rx, idx + i);
        uint64_t f = d->addr / x->buf_size;
        uint64_t off = d->addr % x->buf_size;
        struct fn_pkt *pkt;

        if (f >= x->count || x->frame_state[f] != FRAME_FILL) {
            /* Not a frame we posted: never hand out a buffer someone else owns. */
            x->own_rx_errors++;
            be->stats.rx_errors++;
            continue;
        }
        x->frame_state[f] = FRAME_CALLER;
        x->fill_held--;
        pkt = fn_pool_pkt(be->pool, (uint32_t)f);
        if (off + d->len > x->buf_size || d->len == 0) {
            x->own_rx_errors++;
            be->stats.rx_errors++;
            fn_pkt_free(pkt);
            continue;
        }
        /* The buffer has been allocated since it was posted; the descriptor says where the
         * kernel put the frame (frame start + UMEM headroom + XDP_PACKET_HEADROOM). */
        pkt->data = x->region + d->addr;
        pkt->len = d->len;
        pkt->flags = 0;
        pkt->l3_off = 0;
        pkt->next = NULL;
        pkt->ts = 0;
        pkt->user = 0;
        pkts[got++] = pkt;
        be->stats.rx_packets++;
        be->stats.rx_bytes += d->len;
    }
    if (n)
        xsk_ring_cons__release(&x->rx, n);
    return got;
}

static int xsk_napi_apply(struct fn_xsk *x, const char **errmsg);
static void xsk_napi_restore(struct fn_xsk *x);

/* Adaptive receive moderation: at the end of each window, the deferral goes on at a high
 * receive rate and off at a low one.  A failed write turns the adaptation off for good. */
static void xsk_mod_update(struct fn_xsk *x, uint64_t now_ns)
{
    uint64_t rx = x->be.stats.rx_packets, dt, frames, hold_ns = x->napi_hold_us * 1000ull;
    const char *why = NULL;

    if (x->mod_win_ns == 0 || now_ns < x->mod_win_ns) {
        x->mod_win_ns = now_ns;
        x->mod_win_rx = rx;
        return;
    }
    dt = now_ns - x->mod_win_ns;
    if (dt < FN_XSK_MOD_WINDOW_NS)
        return;
    frames = rx - x->mod_win_rx;
    x->mod_win_ns = now_ns;
    x->mod_win_rx = rx;
    if (!x->be.stats.rx_moderated && frames * hold_ns >= FN_XSK_MOD_ON_PER_HOLD * dt) {
        if (xsk_napi_apply(x, &why) != 0) {
            fn_log(FN_LOG_WARN, "af_xdp: %s: adaptive receive moderation stops: %s",
                   x->be.ifname, why);
            xsk_napi_restore(x);
            x->mod_adaptive = 0;
            return;
        }
        x->be.stats.rx_moderated = 1;
        x->be.stats.rx_moderation_switches++;
    } else if (x->be.stats.rx_moderated && frames * hold_ns < FN_XSK_MOD_OFF_PER_HOLD * dt) {
        xsk_napi_restore(x);
        x->be.stats.rx_moderated = 0;
        x->be.stats.rx_moderation_switches++;
    }
}

static int xsk_rx_batch(struct fn_backend *be, struct fn_pkt **pkts, int max, uint64_t now_ns)
{
    struct fn_xsk *x = xsk_of(be);
    int got = xsk_take(x, pkts, max);

    xsk_refill(x);
    if (x->napi_id && got == 0 && max > 0) {
        /* NAPI poll on a socket with a NAPI id: one pass of the device's NAPI (MSG_DONTWAIT:
         * the kernel's sk_busy_loop does not spin), then we look again.  A copy-mode socket
         * on Linux >= 6.13 has none, and the call would run nothing (header). */
        recvfrom(be->fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
        be->stats.napi_polls++;
        got = xsk_take(x, pkts, max);
        xsk_refill(x);
    } else if (got == 0 && x->busy_poll && xsk_ring_prod__needs_wakeup(&x->fill)) {
        /* A busy-polling caller never sleeps in poll(), which is what runs the driver when
         * the kernel asks for a wakeup on the fill ring: do it for it. */
        recvfrom(be->fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
        be->stats.tx_kicks++;
    }

    if (x->mod_adaptive)
        xsk_mod_update(x, now_ns);
    if (!x->stats_valid || now_ns < x->stats_ns || now_ns - x->stats_ns >= FN_XSK_STATS_NS) {
        x->stats_valid = 1;
        x->stats_ns = now_ns;
        xsk_refresh_stats(x);
    }
    xsk_note_held(x);
    return got;
}

/* A packet from another pool is not in our UMEM: move it into one of our buffers. */
static struct fn_pkt *xsk_adopt(struct fn_xsk *x, struct fn_pkt *pkt)
{
    struct fn_pkt *own;

    if (pkt->len > x->buf_size - FN_PKT_HEADROOM)
        return NULL;
    own = fn_pkt_alloc(x->be.pool);
    if (!own)
        return NULL;
    memcpy(own->data, pkt->data, pkt->len);
    own->len = pkt->len;
    fn_pkt_free(pkt);
    return own;
}

static int xsk_tx_batch(struct fn_backend *be, struct fn_pkt **pkts, int n, uint64_t now_ns)
{
    struct fn_xsk *x = xsk_of(be);
    uint32_t queued = 0;
    int i;

    (void)now_ns;
    xsk_reap(x);
    for (i = 0; i < n; i++) {
        struct fn_pkt *pkt = pkts[i];
        struct xdp_desc *d;
        uint32_t idx;

        if (pkt->pool != be->pool) {
            struct fn_pkt *own = xsk_adopt(x, pkt);
            if (!own) {
                fn_pkt_free(pkt);
                x->own_tx_drops++;
                be->stats.tx_drops++;
                continue;
            }
            pkt = own;
        }
        if (x->frame_state[pkt->idx] != FRAME_CALLER) {
            /* The caller handed us a buffer the kernel still holds: freeing it would
             * corrupt the pool, sending it would race the kernel.  Count and skip. */
            x->own_tx_drops++;
            be->stats.tx_drops++;
            continue;
        }
        if (pkt->len == 0 || xsk_ring_prod__reserve(&x->tx, 1, &idx) != 1) {
            fn_pkt_free(pkt);
            x->own_tx_drops++;
            be->stats.tx_drops++;
            continue;
        }
        d = xsk_ring_prod__tx_desc(&x->tx, idx);
        d->addr = (uint64_t)(pkt->data - x->region);
        d->len = pkt->len;
        d->options = 0;
        x->frame_state[pkt->idx] = FRAME_TX;
        x->tx_held++;
        be->stats.tx_packets++;
        be->stats.tx_bytes += pkt->len;
        queued++;
    }
    if (queued)
        xsk_ring_prod__submit(&x->tx, queued);
    xsk_note_held(x);
    return (int)queued;
}

/* Descriptors on the tx ring that the kernel has not taken yet. */
static uint32_t xsk_tx_pending(struct fn_xsk *x)
{
    return x->tx_size - xsk_prod_nb_free(&x->tx, x->tx_size);
}

static int xsk_flush(struct fn_backend *be, uint64_t now_ns)
{
    struct fn_xsk *x = xsk_of(be);
    uint32_t pending = xsk_tx_pending(x);
    uint32_t kicks = pending / FN_XSK_KICK_BATCH + 2;
    int err = 0;

    (void)now_ns;
    while (pending > 0 && kicks-- > 0 && xsk_ring_prod__needs_wakeup(&x->tx)) {
        be->stats.tx_kicks++;
        if (sendto(be->fd, NULL, 0, MSG_DONTWAIT, NULL, 0) >= 0) {
            pending = xsk_tx_pending(x);
            continue;
        }
        /* EAGAIN: the per-call batch ran out (or the device was busy); EBUSY: the completion
         * ring is full.  Both clear by reaping and kicking again. */
        if (errno != EAGAIN && errno != EBUSY) {
            /* ENETDOWN, ENOBUFS, ENXIO: the descriptors stay queued for the next flush. */
            if (errno != ENETDOWN && errno != ENOBUFS)
                err = -errno;
            break;
        }
        xsk_reap(x);
        pending = xsk_tx_pending(x);
    }
    xsk_reap(x);
    x->tx_stalled = xsk_tx_pending(x) > 0 && xsk_ring_prod__needs_wakeup(&x->tx);
    xsk_note_held(x);
    return err;
}

static uint64_t xsk_next_deadline(struct fn_backend *be)
{
    /* Descriptors the kernel has not taken are retried by the next flush; ask the caller
     * not to sleep until then (the fd would not wake it). */
    return xsk_of(be)->tx_stalled ? 0 : UINT64_MAX;
}

/* The detach goes over netlink, which names the device by ifindex in the calling thread's
 * network namespace: a stack opened in one namespace and closed from another (a program
 * that entered the namespace with setns to open it, as the tests and `fastnet up --netns`
 * do, then left) would address another namespace's device.  So the thread enters the
 * namespace of the open for the detach and goes back; *back is the fd to go back to, or
 * -1 when the thread already is there (or the namespace is unknown). */
static int netns_enter(int target, int *back)
{
    struct stat here, there;
    int cur;

    *back = -1;
    if (target < 0)
        return 0;
    cur = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (cur < 0)
        return -errno;
    if (fstat(cur, &here) == 0 && fstat(target, &there) == 0 && here.st_dev == there.st_dev &&
        here.st_ino == there.st_ino) {
        close(cur);
        return 0;
    }
    if (setns(target, CLONE_NEWNET) != 0) {
        int err = -errno;

        close(cur);
        return err;
    }
    *back = cur;
    return 0;
}

static void netns_leave(int back)
{
    if (back < 0)
        return;
    if (setns(back, CLONE_NEWNET) != 0)
        fn_log(FN_LOG_ERROR, "af_xdp: returning to the thread's network namespace after the "
               "XDP detach failed (%d): the thread stays in the interface's", -errno);
    close(back);
}

static void xsk_detach_prog(struct fn_xsk *x)
{
    LIBBPF_OPTS(bpf_xdp_attach_opts, opts, .old_prog_fd = x->prog_fd);
    int err, back;

    if (!x->attach_flags)
        return;
    err = netns_enter(x->netns_fd, &back);
    if (err) {
        fn_log(FN_LOG_ERROR, "af_xdp: cannot enter the network namespace of %s to detach its "
               "XDP program (%d); remove it with: ip link set dev %s xdp off", x->be.ifname,
               err, x->be.ifname);
        x->attach_flags = 0;
        return;
    }
    /* XDP_FLAGS_REPLACE with our fd: remove the program only if it is still ours. */
    err = bpf_xdp_detach(x->ifindex, x->attach_flags, &opts);
    netns_leave(back);
    if (err)
        fn_log(FN_LOG_ERROR, "af_xdp: detaching the XDP program from %s failed (%d); "
               "remove it with: ip link set dev %s xdp off", x->be.ifname, err, x->be.ifname);
    x->attach_flags = 0;
}

static void sysfs_path(char *path, size_t size, const char *ifname, const char *name)
{
    snprintf(path, size, "/sys/class/net/%s/%s", ifname, name);
}

/* /sys/class/net/IF/NAME into buf (NUL-terminated, trailing newline cut); -errno. */
static int sysfs_read(const char *ifname, const char *name, char *buf, size_t size)
{
    char path[128];
    ssize_t r;
    int fd, err = 0;

    sysfs_path(path, sizeof(path), ifname, name);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    r = read(fd, buf, size - 1);
    if (r < 0)
        err = -errno;
    close(fd);
    if (r <= 0)
        return err ? err : -EIO;
    buf[r] = '\0';
    if (buf[r - 1] == '\n')
        buf[r - 1] = '\0';
    return 0;
}

static int sysfs_read_u64(const char *ifname, const char *name, unsigned long long *v)
{
    char text[64], *end;
    int err = sysfs_read(ifname, name, text, sizeof(text));

    if (err)
        return err;
    errno = 0;
    *v = strtoull(text, &end, 10);
    return errno || end == text || *end != '\0' ? -EIO : 0;
}

static int sysfs_write_u64(const char *ifname, const char *name, unsigned long long v)
{
    char path[128], text[32];
    int fd, len, err = 0;

    sysfs_path(path, sizeof(path), ifname, name);
    len = snprintf(text, sizeof(text), "%llu\n", v);
    fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (write(fd, text, (size_t)len) != len)
        err = errno ? -errno : -EIO;
    close(fd);
    return err;
}

/* Write back the device values we replaced (close, failed open), each only if it still
 * holds what we wrote: a value changed since (by an administrator, or by another stack on
 * another queue of the device restoring what it found) is someone else's now and stays.
 * With stacks on several queues of one device, the device then ends as it was before the
 * first of them opened, whatever order they close in. */
static void xsk_napi_restore(struct fn_xsk *x)
{
    for (int i = 0; i < NAPI_KNOBS; i++) {
        unsigned long long now;
        int err;

        if (!x->napi_written[i])
            continue;
        x->napi_written[i] = 0;
        if (sysfs_read_u64(x->be.ifname, napi_knob_names[i], &now) == 0 &&
            now != x->napi_ours[i]) {
            fn_log(FN_LOG_INFO, "af_xdp: %s %s is %llu, not the %llu we set: left as it is",
                   x->be.ifname, napi_knob_names[i], now, x->napi_ours[i]);
            continue;
        }
        err = sysfs_write_u64(x->be.ifname, napi_knob_names[i], x->napi_prev[i]);
        if (!err)
            fn_log(FN_LOG_DEBUG, "af_xdp: %s %s back to %llu", x->be.ifname,
                   napi_knob_names[i], x->napi_prev[i]);
        else
            fn_log(FN_LOG_ERROR, "af_xdp: restoring %s of %s to %llu failed (%d); reset it "
                   "with: echo %llu > /sys/class/net/%s/%s", napi_knob_names[i],
                   x->be.ifname, x->napi_prev[i], err, x->napi_prev[i], x->be.ifname,
                   napi_knob_names[i]);
    }
}

/* NAPI deferral, device side: check that /sys/class/net shows our interface (a process
 * that entered the namespace without remounting /sys would see another namespace's
 * devices). */
static int xsk_napi_check(struct fn_xsk *x, const char **errmsg)
{
    unsigned long long ifindex;
    char addr[32], mac[32];
    const uint8_t *m = x->be.mac;

    if (sysfs_read_u64(x->be.ifname, "ifindex", &ifindex) != 0 ||
        ifindex != (unsigned long long)x->ifindex ||
        sysfs_read(x->be.ifname, "address", addr, sizeof(addr)) != 0) {
        *errmsg = "napi_poll: /sys/class/net does not show this network namespace's interface "
                  "(enter the namespace with ip netns exec, which remounts /sys)";
        return -ENODEV;
    }
    snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4],
             m[5]);
    if (strcmp(addr, mac) != 0) {
        *errmsg = "napi_poll: /sys/class/net does not show this network namespace's interface "
                  "(enter the namespace with ip netns exec, which remounts /sys)";
        return -ENODEV;
    }
    return 0;
}

/* Keep the two values the device has now, write ours (napi_poll at open; adaptive
 * moderation each time it goes on).  A failed write leaves what was written marked, for
 * xsk_napi_restore. */
static int xsk_napi_apply(struct fn_xsk *x, const char **errmsg)
{
    unsigned long long want[NAPI_KNOBS];
    int err;

    for (int i = 0; i < NAPI_KNOBS; i++) {
        err = sysfs_read_u64(x->be.ifname, napi_knob_names[i], &x->napi_prev[i]);
        if (err) {
            *errmsg = "napi_poll: cannot read the interface's napi_defer_hard_irqs or "
                      "gro_flush_timeout in /sys/class/net";
            return err;
        }
    }
    want[NAPI_KNOB_DEFER] = FN_XSK_NAPI_DEFER;
    want[NAPI_KNOB_GRO] = (unsigned long long)x->napi_hold_us * 1000ull;
    for (int i = 0; i < NAPI_KNOBS; i++) {
        err = sysfs_write_u64(x->be.ifname, napi_knob_names[i], want[i]);
        if (err) {
            *errmsg = err == -EPERM || err == -EACCES
                          ? "napi_poll: setting the interface's napi_defer_hard_irqs and "
                            "gro_flush_timeout needs CAP_NET_ADMIN"
                          : "napi_poll: cannot write the interface's napi_defer_hard_irqs or "
                            "gro_flush_timeout in /sys/class/net";
            return err;
        }
        x->napi_written[i] = 1;
        x->napi_ours[i] = want[i];
        fn_log(FN_LOG_DEBUG, "af_xdp: %s %s %llu -> %llu", x->be.ifname, napi_knob_names[i],
               x->napi_prev[i], want[i]);
    }
    return 0;
}

/* Whether the two device values can be changed later (adaptive moderation writes them only
 * under load, so the open checks what the first write would need): this namespace's sysfs,
 * the values readable, the files writable (CAP_NET_ADMIN). */
static int xsk_mod_check(struct fn_xsk *x, const char **errmsg)
{
    char path[128];
    int err = xsk_napi_check(x, errmsg);

    if (err) {
        *errmsg = "rx_moderation: /sys/class/net does not show this network namespace's "
                  "interface (enter the namespace with ip netns exec, which remounts /sys)";
        return err;
    }
    for (int i = 0; i < NAPI_KNOBS; i++) {
        sysfs_path(path, sizeof(path), x->be.ifname, napi_knob_names[i]);
        if (access(path, R_OK | W_OK) != 0) {
            err = -errno;
            *errmsg = err == -EACCES || err == -EPERM
                          ? "rx_moderation: changing the interface's napi_defer_hard_irqs and "
                            "gro_flush_timeout needs CAP_NET_ADMIN"
                          : "rx_moderation: the interface has no napi_defer_hard_irqs or "
                            "gro_flush_timeout in /sys/class/net";
            return err;
        }
    }
    return 0;
}

/* NAPI poll, socket side: preferred busy polling on the XDP socket. */
static int xsk_napi_socket(struct fn_xsk *x, const char **errmsg)
{
    static const int opts[3][2] = {{SO_BUSY_POLL, FN_XSK_BUSY_POLL_US},
                                   {SO_BUSY_POLL_BUDGET, FN_XSK_BUSY_POLL_BUDGET},
                                   {SO_PREFER_BUSY_POLL, 1}};

    for (int i = 0; i < 3; i++) {
        if (setsockopt(x->be.fd, SOL_SOCKET, opts[i][0], &opts[i][1], sizeof(int)) == 0)
            continue;
        if (errno == EPERM) {
            *errmsg = "napi_poll: SO_BUSY_POLL / SO_BUSY_POLL_BUDGET / SO_PREFER_BUSY_POLL on "
                      "the XDP socket need CAP_NET_ADMIN";
            return -EPERM;
        }
        if (errno == ENOPROTOOPT) {
            *errmsg = "napi_poll: the kernel is too old or built without busy polling "
                      "(SO_PREFER_BUSY_POLL needs Linux >= 5.11 and CONFIG_NET_RX_BUSY_POLL)";
            return -ENOPROTOOPT;
        }
        *errmsg = "napi_poll: setting the busy-poll options of the XDP socket failed";
        return -errno;
    }
    return 0;
}

/* The NAPI id the kernel gave the bound socket (0: none, or the kernel cannot say).  Only
 * with one does a recvfrom run the device's NAPI; without, rx_batch makes none. */
static int xsk_napi_id(struct fn_xsk *x)
{
    unsigned int id = 0;
    socklen_t len = sizeof(id);

    if (getsockopt(x->be.fd, SOL_SOCKET, SO_INCOMING_NAPI_ID, &id, &len) != 0)
        return 0;
    return (int)(id & 0x7fffffff);
}

/* Tear down in reverse order of creation; safe on a partly opened backend. */
static void xsk_destroy(struct fn_xsk *x)
{
    uint32_t i;

    xsk_detach_prog(x);
    if (x->xsk)
        xsk_socket__delete(x->xsk);
    if (x->umem)
        xsk_umem__delete(x->umem);
    if (x->obj)
        bpf_object__close(x->obj);
    /* The socket is gone, so the kernel holds nothing: every posted or in-flight frame goes
     * back to the pool. */
    if (x->frame_state) {
        for (i = 0; i < x->count; i++)
            if (x->frame_state[i] != FRAME_CALLER)
                fn_pkt_free(fn_pool_pkt(x->be.pool, i));
        free(x->frame_state);
    }
    /* Last: the device is as we found it only once our socket and program are gone. */
    xsk_napi_restore(x);
    if (x->netns_fd >= 0)
        close(x->netns_fd);
    free(x);
}

static void xsk_close(struct fn_backend *be)
{
    xsk_destroy(xsk_of(be));
}

static const struct fn_backend_ops xsk_ops = {
    .name = "af_xdp",
    .rx_batch = xsk_rx_batch,
    .tx_batch = xsk_tx_batch,
    .flush = xsk_flush,
    .next_deadline = xsk_next_deadline,
    .close = xsk_close,
};

/* MAC and MTU of the interface (SIOCGIFHWADDR / SIOCGIFMTU). */
static int xsk_query_link(struct fn_xsk *x, uint32_t *ifmtu, const char **errmsg)
{
    struct ifreq ifr;
    int s, err = 0;

    s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) {
        *errmsg = "cannot open a socket to query the interface";
        return -errno;
    }
    memset(&ifr, 0, sizeof(ifr));
    memcpy(ifr.ifr_name, x->be.ifname, sizeof(x->be.ifname));
    if (ioctl(s, SIOCGIFHWADDR, &ifr) != 0) {
        err = -errno;
        *errmsg = "cannot read the interface's MAC address (SIOCGIFHWADDR)";
        goto out;
    }
    memcpy(x->be.mac, ifr.ifr_hwaddr.sa_data, 6);
    if (ioctl(s, SIOCGIFMTU, &ifr) != 0) {
        err = -errno;
        *errmsg = "cannot read the interface's MTU (SIOCGIFMTU)";
        goto out;
    }
    *ifmtu = (uint32_t)ifr.ifr_mtu;
out:
    close(s);
    return err;
}

/* Load our XDP program from its ELF file; the XSKMAP is sized for the queue we bind. */
static int xsk_load_prog(struct fn_xsk *x, const char *path, uint32_t queue,
                         const char **errmsg)
{
    struct bpf_program *prog;
    struct bpf_map *map;
    int err;

    x->obj = bpf_object__open_file(path, NULL);
    if (!x->obj) {
        err = -errno;
        *errmsg = "cannot open the XDP program object (xdp_obj_path)";
        return err ? err : -EINVAL;
    }
    map = bpf_object__find_map_by_name(x->obj, FN_XSK_PROG_MAP);
    prog = bpf_object__next_program(x->obj, NULL);
    if (!map || !prog || bpf_map__type(map) != BPF_MAP_TYPE_XSKMAP) {
        *errmsg = "the XDP object has no program or no XSKMAP named xsks_map";
        return -EINVAL;
    }
    if (queue >= FN_XSK_MAP_ENTRIES && bpf_map__set_max_entries(map, queue + 1) != 0) {
        *errmsg = "cannot size xsks_map for the queue";
        return -EINVAL;
    }
    err = bpf_object__load(x->obj);
    if (err) {
        *errmsg = "the kernel refused to load the XDP program (needs CAP_BPF/CAP_NET_ADMIN)";
        return err;
    }
    x->prog_fd = bpf_program__fd(prog);
    x->map_fd = bpf_map__fd(map);
    return 0;
}

/* Attach in the asked mode; AUTO tries native (driver) mode first, then generic (skb). */
static int xsk_attach_prog(struct fn_xsk *x, enum fn_xdp_mode mode, const char **errmsg)
{
    static const uint32_t modes[] = {XDP_FLAGS_DRV_MODE, XDP_FLAGS_SKB_MODE};
    size_t first = mode == FN_XDP_MODE_SKB ? 1 : 0;
    size_t last = mode == FN_XDP_MODE_NATIVE ? 0 : 1;
    int err = -EINVAL;

    for (size_t i = first; i <= last; i++) {
        err = bpf_xdp_attach(x->ifindex, x->prog_fd, modes[i] | XDP_FLAGS_UPDATE_IF_NOEXIST,
                             NULL);
        if (err == 0) {
            x->attach_flags = modes[i];
            return 0;
        }
        if (err == -EBUSY || err == -EEXIST) {
            *errmsg = "an XDP program is already attached to the interface (one left by a "
                      "killed fastnet is removed with: ip link set dev IFNAME xdp off)";
            return -EBUSY;
        }
        fn_log(FN_LOG_INFO, "af_xdp: %s-mode XDP attach on %s failed (%d)",
               modes[i] == XDP_FLAGS_DRV_MODE ? "native" : "generic", x->be.ifname, err);
    }
    *errmsg = mode == FN_XDP_MODE_NATIVE
                  ? "native-mode XDP attach failed (on veth: the peer's MTU must be <= ~3500)"
                  : "the XDP program could not be attached to the interface";
    return err;
}

int fn_backend_af_xdp_open(const struct fn_backend_params *params, struct fn_pool *pool,
                           struct fn_backend **out, const char **errmsg)
{
    struct xsk_umem_config ucfg;
    struct xsk_socket_config scfg;
    const char *dummy_msg, *obj_path;
    struct fn_xsk *x;
    uint32_t ring, ifmtu = 0, room;
    size_t len;
    int err;

    if (!errmsg)
        errmsg = &dummy_msg;
    *errmsg = NULL;
    *out = NULL;
    if (!params || !pool || !params->ifname) {
        *errmsg = "af_xdp needs an interface name and a pool";
        return -EINVAL;
    }
    len = strlen(params->ifname);
    if (len == 0 || len >= FN_IFNAMSIZ) {
        *errmsg = "bad interface name";
        return -EINVAL;
    }
    if (params->napi_hold_us > FN_NAPI_HOLD_US_MAX) {   /* napi_poll's and moderation's */
        *errmsg = "napi_hold_us must be between 1 and 100000 (0 = 200)";
        return -EINVAL;
    }
    obj_path = params->xdp_obj_path;
#ifdef FN_XDP_OBJ_DEFAULT
    if (!obj_path)
        obj_path = FN_XDP_OBJ_DEFAULT;
#endif
    if (!obj_path) {
        *errmsg = "no XDP program: set xdp_obj_path to the built fn_xdp_kern.o";
        return -EINVAL;
    }
    ring = params->ring_size ? round_pow2(params->ring_size) : FN_XSK_RING_DEFAULT;
    if (ring < 64 || ring > FN_XSK_RING_MAX) {
        *errmsg = "ring_size must be between 64 and 16384";
        return -EINVAL;
    }
    if (fn_pool_count(pool) < 64) {
        *errmsg = "the pool is too small for AF_XDP (64 buffers at least)";
        return -EINVAL;
    }

    x = calloc(1, sizeof(*x));
    if (!x) {
        *errmsg = "out of memory";
        return -ENOMEM;
    }
    x->be.ops = &xsk_ops;
    x->be.pool = pool;
    x->be.priv = x;
    x->be.fd = -1;
    x->be.caps = FN_BE_CAP_ZEROCOPY_RX | FN_BE_CAP_BUSY_POLL;
    memcpy(x->be.ifname, params->ifname, len + 1);
    x->prog_fd = -1;
    x->map_fd = -1;
    /* Unknown (-1) only where /proc is not mounted: the detach then runs where it is. */
    x->netns_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    x->region = fn_pool_region(pool);
    x->buf_size = fn_pool_buf_size(pool);
    x->count = fn_pool_count(pool);
    x->tx_size = ring;
    x->busy_poll = params->busy_poll;
    x->napi_poll = params->napi_poll != 0;
    x->napi_hold_us = params->napi_hold_us ? params->napi_hold_us : FN_NAPI_HOLD_US_DEFAULT;
    /* Half the pool at most stays posted for receive; the rest is the stack's. */
    x->fill_target = ring < x->count / 2 ? ring : x->count / 2;
    x->frame_state = calloc(x->count, 1);
    if (!x->frame_state) {
        *errmsg = "out of memory";
        err = -ENOMEM;
        goto fail;
    }

    x->ifindex = (int)if_nametoindex(params->ifname);
    if (x->ifindex == 0) {
        *errmsg = "no such interface";
        err = -ENODEV;
        goto fail;
    }
    err = xsk_query_link(x, &ifmtu, errmsg);
    if (err)
        goto fail;
    /* A received frame must fit after the headroom: the kernel drops longer ones. */
    room = x->buf_size - FN_PKT_HEADROOM;
    if (ifmtu + 18u > room) {
        *errmsg = "the interface MTU is too large for the pool's buffer size";
        err = -EMSGSIZE;
        goto fail;
    }
    if (params->mtu > ifmtu) {
        *errmsg = "mtu is larger than the interface MTU";
        err = -EINVAL;
        goto fail;
    }
    x->be.mtu = params->mtu ? params->mtu : ifmtu;

    /* From here on every failure restores the device's values (xsk_destroy). */
    if (x->napi_poll) {
        err = xsk_napi_check(x, errmsg);
        if (!err)
            err = xsk_napi_apply(x, errmsg);
        if (err)
            goto fail;
    } else if (params->rx_moderation != FN_RX_MODERATION_OFF) {
        err = xsk_mod_check(x, errmsg);
        if (err && params->rx_moderation == FN_RX_MODERATION_ADAPTIVE)
            goto fail;
        if (err)
            fn_log(FN_LOG_INFO, "af_xdp: %s: no adaptive receive moderation: %s",
                   x->be.ifname, *errmsg);
        x->mod_adaptive = err == 0;
        err = 0;
    }

    err = xsk_load_prog(x, obj_path, params->queue, errmsg);
    if (err)
        goto fail;

    memset(&ucfg, 0, sizeof(ucfg));
    ucfg.fill_size = round_pow2(2 * x->fill_target);
    ucfg.comp_size = ring;
    ucfg.frame_size = x->buf_size;
    ucfg.frame_headroom = FN_XSK_UMEM_HEADROOM;
    ucfg.flags = 0;
    /* Frames beyond count * buf_size (hugepage rounding) are never posted: leave them out. */
    err = xsk_umem__create(&x->umem, x->region, (uint64_t)x->count * x->buf_size, &x->fill,
                           &x->comp, &ucfg);
    if (err) {
        x->umem = NULL;
        /* The kernel pins the UMEM and charges it to RLIMIT_MEMLOCK unless the process
         * has CAP_IPC_LOCK; ENOBUFS/ENOMEM mean that limit, EINVAL a frame size it refuses. */
        *errmsg = err == -ENOBUFS || err == -ENOMEM
                      ? "UMEM registration failed: the pool exceeds RLIMIT_MEMLOCK (run with "
                        "CAP_IPC_LOCK or raise the limit)"
                      : "UMEM registration failed (the kernel refused the pool's buffer size; "
                        "2048 and 4096 work)";
        goto fail;
    }

    memset(&scfg, 0, sizeof(scfg));
    scfg.rx_size = ring;
    scfg.tx_size = ring;
    scfg.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD;
    scfg.bind_flags = XDP_COPY | XDP_USE_NEED_WAKEUP;
    /* The kernel frees a closed XDP socket's hold on its queue after an RCU grace period
     * and a work item, so a queue closed a moment ago (a restart, a test reopening) answers
     * EBUSY for some 20 ms.  Retry for up to a second before deciding the queue is taken;
     * libxdp's create undoes a failed bind fully, so the same UMEM can be retried. */
    for (int tries = 0;; tries++) {
        const struct timespec pause = {.tv_sec = 0, .tv_nsec = 10 * 1000 * 1000};

        err = xsk_socket__create(&x->xsk, params->ifname, params->queue, x->umem, &x->rx,
                                 &x->tx, &scfg);
        if (err != -EBUSY || tries >= FN_XSK_BIND_TRIES)
            break;
        nanosleep(&pause, NULL);
    }
    if (err) {
        x->xsk = NULL;
        *errmsg = err == -EBUSY ? "the queue already has an XDP socket (another process?)"
                                : "cannot create or bind the XDP socket (bad queue index?)";
        goto fail;
    }
    x->be.fd = xsk_socket__fd(x->xsk);
    if (x->napi_poll) {
        err = xsk_napi_socket(x, errmsg);
        if (err)
            goto fail;
        x->napi_id = xsk_napi_id(x);
    }
    xsk_refill(x);
    xsk_note_held(x);

    err = xsk_attach_prog(x, params->xdp_mode, errmsg);
    if (err)
        goto fail;
    err = xsk_socket__update_xskmap(x->xsk, x->map_fd);
    if (err) {
        *errmsg = "cannot insert the XDP socket into xsks_map";
        goto fail;
    }
    fn_log(FN_LOG_INFO, "af_xdp: %s queue %u, %s mode, copy, %u frames posted for rx%s",
           x->be.ifname, params->queue,
           x->attach_flags == XDP_FLAGS_DRV_MODE ? "native" : "generic", x->fill_target,
           x->napi_poll ? ", NAPI poll" : x->mod_adaptive ? ", adaptive rx moderation" : "");
    if (x->napi_poll)
        fn_log(FN_LOG_INFO, "af_xdp: %s napi_defer_hard_irqs %d, gro_flush_timeout %u us "
               "while open (were %llu, %llu ns); %s", x->be.ifname, FN_XSK_NAPI_DEFER,
               x->napi_hold_us, x->napi_prev[NAPI_KNOB_DEFER], x->napi_prev[NAPI_KNOB_GRO],
               x->napi_id ? "the socket's NAPI runs in our receive calls"
                          : "the socket has no NAPI id (copy mode): receive moderation only");
    *out = &x->be;
    return 0;

fail:
    xsk_destroy(x);
    return err < 0 ? err : -EINVAL;
}

#endif /* FN_HAVE_LIBXDP */
