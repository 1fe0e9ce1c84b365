/*
 * fn_backend.h — userspace packet I/O backends.
 *
 * Contract: a backend is one queue of one interface, owned by one core.  It moves whole
 * Ethernet frames in batches between the wire and fn_pkt buffers of the pool it was opened
 * with.  Backends are the only code (with platform/) that makes syscalls.  Every op is
 * non-blocking; to sleep, the stack waits for fn_backend_fd() to become readable.
 *
 * Ownership: rx_batch hands out packets allocated from be->pool (the caller frees them);
 * tx_batch takes ownership of every packet it is given, sent or not (unsent ones are freed and
 * counted in stats.tx_drops).  Frames that cannot be received for lack of buffers are dropped
 * and counted (stats.rx_nobuf); nothing blocks and nothing crashes.  Buffers a backend keeps
 * for itself between calls (rings, queues) are allocated from be->pool and counted in
 * stats.held; close() frees them all.
 *
 * Wrappers (fault injection, pcap capture) are backends that hold an inner backend; they
 * forward everything and own the inner backend (closing the wrapper closes it).
 */
#ifndef FASTNET_FN_BACKEND_H
#define FASTNET_FN_BACKEND_H

#include <stdint.h>
#include "fn_pkt.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FN_IFNAMSIZ 16

struct fn_backend;

struct fn_backend_stats {
    uint64_t rx_packets;
    uint64_t rx_bytes;
    uint64_t rx_nobuf;      /* frames dropped because the pool was empty */
    uint64_t rx_errors;     /* frames dropped for backend-level reasons (too long, ring error) */
    uint64_t tx_packets;
    uint64_t tx_bytes;
    uint64_t tx_drops;      /* packets handed to tx_batch that were not sent (ring full, error) */
    uint64_t tx_kicks;      /* wakeup syscalls made (sendto for AF_XDP, etc.) */
    uint64_t napi_polls;    /* af_xdp napi_poll: non-blocking recvfrom()s made to run the NAPI
                             * (made only where the socket has a NAPI id) */
    uint64_t rx_moderated;  /* af_xdp adaptive rx moderation: 1 while the device defers (a
                             * gauge) */
    uint64_t rx_moderation_switches; /* ... times it went on or off */
    /* Pool buffers the backend holds right now (a gauge, not a counter): frames posted on a
     * fill ring or being received into, frames on a tx ring or awaiting completion, frames a
     * wrapper delays or holds back, frames waiting in the memory link's receive ring.  A
     * wrapper reports its own plus the inner backend's.  pool in_use minus this is what the
     * stack and the application hold, which is what a leak check compares. */
    uint64_t held;
    /* wrappers (fault) add their own counters here; zero for plain backends */
    uint64_t fault_dropped;
    uint64_t fault_duplicated;
    uint64_t fault_reordered;
    uint64_t fault_delayed;
    uint64_t fault_corrupted;
    uint64_t fault_rate_limited;
};

/* Capabilities (be->caps) */
#define FN_BE_CAP_RX_CSUM_FLAGS 0x1u /* rx packets carry FN_PKT_F_L4_CSUM_* flags */
#define FN_BE_CAP_BUSY_POLL     0x2u /* the backend supports busy polling */
#define FN_BE_CAP_ZEROCOPY_RX   0x4u /* rx frames land in pool buffers without a copy */

struct fn_backend_ops {
    const char *name;
    /* Receive up to max frames.  Returns the count (>= 0) or a negative errno for a
     * fatal backend error.  Never blocks. */
    int (*rx_batch)(struct fn_backend *be, struct fn_pkt **pkts, int max, uint64_t now_ns);
    /* Queue n frames for transmission; takes ownership of all of them.  Returns the number
     * queued (the rest were freed and counted in stats.tx_drops). */
    int (*tx_batch)(struct fn_backend *be, struct fn_pkt **pkts, int n, uint64_t now_ns);
    /* Push queued frames to the wire (one kick per poll iteration).  May be NULL. */
    int (*flush)(struct fn_backend *be, uint64_t now_ns);
    /* Earliest time (monotonic ns) at which the backend has work of its own to do (a
     * delayed frame in the fault wrapper), or UINT64_MAX.  May be NULL (= UINT64_MAX). */
    uint64_t (*next_deadline)(struct fn_backend *be);
    /* Release everything: unmap rings, detach XDP programs, close fds, free held packets. */
    void (*close)(struct fn_backend *be);
};

struct fn_backend {
    const struct fn_backend_ops *ops;
    struct fn_pool *pool;
    void *priv;                     /* backend-private state */
    int fd;                         /* fd to sleep on (readable = frames waiting), or -1 */
    uint32_t mtu;                   /* L3 MTU of the link */
    uint32_t caps;                  /* FN_BE_CAP_* */
    uint8_t mac[6];                 /* our Ethernet address on this link */
    char ifname[FN_IFNAMSIZ];
    struct fn_backend_stats stats;
};

/* XDP attach modes for af_xdp */
enum fn_xdp_mode { FN_XDP_MODE_AUTO = 0, FN_XDP_MODE_NATIVE, FN_XDP_MODE_SKB };

struct fn_backend_params {
    const char *ifname;             /* interface (created if missing for tap) */
    uint32_t queue;                 /* queue id (af_xdp, tap multi-queue) */
    uint32_t ring_size;             /* descriptors per ring; 0 = backend default */
    uint32_t mtu;                   /* 0 = read from the interface */
    enum fn_xdp_mode xdp_mode;
    const char *xdp_obj_path;       /* our XDP program (BPF ELF); NULL = built-in default path */
    int busy_poll;                  /* 1 = caller will busy-poll; backend may skip wakeups */
    /* af_xdp only ("NAPI poll", Linux preferred busy polling): the XDP socket gets
     * SO_PREFER_BUSY_POLL, rx_batch asks to run the device's NAPI itself (one non-blocking
     * recvfrom when the rx ring is empty; it runs only where the socket has a NAPI id, not on
     * copy mode since Linux 6.13), and the device's napi_defer_hard_irqs / gro_flush_timeout
     * are set to 2 / napi_hold_us while the backend is open (restored by close and by a
     * failed open; a killed process leaves them set).  Other backends refuse it (-EINVAL). */
    int napi_poll;
    uint32_t napi_hold_us;          /* napi_poll, rx moderation: gro_flush_timeout in µs; 0 = 200 */
    /* af_xdp without napi_poll: the same device deferral, on only while the receive rate is
     * high (adaptive receive moderation, as a NIC's adaptive interrupt coalescing).  AUTO
     * (the default) does it where the device allows and goes without otherwise; ADAPTIVE
     * fails the open instead; other backends have nothing to moderate and refuse ADAPTIVE
     * (-EINVAL). */
    int rx_moderation;              /* FN_RX_MODERATION_* */
};

#define FN_RX_MODERATION_AUTO     0
#define FN_RX_MODERATION_OFF      1
#define FN_RX_MODERATION_ADAPTIVE 2

#define FN_NAPI_HOLD_US_DEFAULT 200u
#define FN_NAPI_HOLD_US_MAX     100000u

/* Open a backend by name: "af_xdp", "af_packet", "tap".  Returns 0 or a negative errno;
 * on failure *errmsg (if not NULL) points to a static, human-readable reason. */
int fn_backend_open(const char *name, const struct fn_backend_params *params,
                    struct fn_pool *pool, struct fn_backend **out, const char **errmsg);

int fn_backend_af_packet_open(const struct fn_backend_params *params, struct fn_pool *pool,
                              struct fn_backend **out, const char **errmsg);
int fn_backend_tap_open(const struct fn_backend_params *params, struct fn_pool *pool,
                        struct fn_backend **out, const char **errmsg);
/* Returns -ENOTSUP when fastnet was built without libxdp. */
int fn_backend_af_xdp_open(const struct fn_backend_params *params, struct fn_pool *pool,
                           struct fn_backend **out, const char **errmsg);

/* The in-memory link: two backends whose tx is the other's rx (frames are copied into the
 * receiving side's pool, so the two stacks may have separate pools).  mac_a/mac_b may be
 * NULL for fixed locally-administered defaults.  Each end is closed on its own; the link is
 * freed with the second close. */
int fn_backend_memory_pair(struct fn_pool *pool_a, struct fn_pool *pool_b, uint32_t mtu,
                           const uint8_t *mac_a, const uint8_t *mac_b,
                           struct fn_backend **a, struct fn_backend **b);

/* Fault injection wrapper.  Probabilities are in parts per million, applied independently in
 * each direction from one seeded PRNG per direction: same seed and same traffic, same pattern. */
struct fn_fault_dir {
    uint32_t drop_ppm;
    uint32_t dup_ppm;
    uint32_t reorder_ppm;           /* hold a frame back and send it after the next one */
    uint32_t corrupt_ppm;           /* flip one random bit of the frame */
    uint32_t delay_ppm;             /* delay a frame by delay_ns (others keep going) */
    uint64_t delay_ns;              /* delay for all frames if delay_ppm == 1000000 */
    uint64_t rate_bps;              /* token bucket rate in bits/s; 0 = unlimited */
    uint64_t burst_bytes;           /* token bucket depth; 0 = 2 * MTU */
};
struct fn_fault_params {
    uint64_t seed;
    struct fn_fault_dir rx;         /* applied to frames coming from the inner backend */
    struct fn_fault_dir tx;         /* applied to frames going to the inner backend */
};
int fn_backend_fault_wrap(struct fn_backend *inner, const struct fn_fault_params *params,
                          struct fn_backend **out);
/* New faults for a wrapper in use (e.g. every frame dropped once a connection is up): PRNGs
 * reseeded, token buckets full; frames already held go out as before.  -EINVAL if be is
 * not a fault wrapper. */
int fn_backend_fault_set(struct fn_backend *be, const struct fn_fault_params *params);

/* pcap capture wrapper: every frame received from and sent to the inner backend is written to
 * path (classic pcap, LINKTYPE_ETHERNET, ns timestamps).  Returns -errno if path cannot be
 * opened. */
int fn_backend_pcap_wrap(struct fn_backend *inner, const char *path, struct fn_backend **out);

/* Convenience wrappers around the ops table. */
static inline int fn_backend_rx(struct fn_backend *be, struct fn_pkt **pkts, int max,
                                uint64_t now_ns)
{
    return be->ops->rx_batch(be, pkts, max, now_ns);
}
static inline int fn_backend_tx(struct fn_backend *be, struct fn_pkt **pkts, int n,
                                uint64_t now_ns)
{
    return be->ops->tx_batch(be, pkts, n, now_ns);
}
static inline int fn_backend_flush(struct fn_backend *be, uint64_t now_ns)
{
    return be->ops->flush ? be->ops->flush(be, now_ns) : 0;
}
static inline uint64_t fn_backend_next_deadline(struct fn_backend *be)
{
    return be->ops->next_deadline ? be->ops->next_deadline(be) : UINT64_MAX;
}
static inline void fn_backend_close(struct fn_backend *be)
{
    if (be)
        be->ops->close(be);
}

#ifdef __cplusplus
}
#endif
#endif
