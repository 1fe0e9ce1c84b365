/*
 * fault.c — the fault-injection wrapper: a backend that impairs the frames of another.
 *
 * Contract: fn_backend_fault_wrap() returns a backend that forwards everything to `inner`
 * (and owns it: closing the wrapper closes the inner backend).  Each direction — rx (frames
 * coming up from the inner backend) and tx (frames going down to it) — applies, per frame and
 * in this order:
 *   1. rate limit: a token-bucket policer (rate_bps, depth burst_bytes, 0 = 2 * (mtu + 14)),
 *      refilled from the now_ns of the calls; a frame that finds too few tokens is dropped
 *      (fault_rate_limited).  Policing, not shaping: a link that is too slow loses frames,
 *      which is what the TCP code needs to be tested against.
 *   2. drop (fault_dropped)
 *   3. corrupt: one random bit of the frame is flipped (fault_corrupted); the frame loses any
 *      FN_PKT_F_L4_CSUM_* flag so the stack verifies, and rejects, it.
 *   4. duplicate: a copy from the frame's own pool follows the frame (fault_duplicated; no
 *      copy and no count when the pool is empty).
 *   then each resulting frame, independently:
 *   5. delay by delay_ns (fault_delayed): held in a per-direction queue ordered by due time,
 *      bounded to FAULT_DELAY_MAX frames (beyond that the frame is dropped, fault_dropped);
 *      other frames keep going.  Due frames are released by later calls: rx frames by
 *      rx_batch, tx frames by rx_batch, tx_batch and flush (tx frames released inside
 *      rx_batch are flushed to the inner backend at once).  With an rx delay configured,
 *      rx_batch takes every frame the inner backend holds on each call, however many
 *      released frames are still waiting to be returned: the delay queue is the wire, and a
 *      window of frames that fell due at one instant must not leave the frames behind it to
 *      overflow the inner receive ring.
 *   6. reorder: the frame is held back and goes out right after the next frame of the same
 *      direction (fault_reordered); one frame at most is held per direction, and a held frame
 *      goes out on its own once FAULT_REORDER_MAX_HOLD_NS have passed, so the last frame of
 *      a burst is not lost.
 * next_deadline() reports the earliest due time of the held frames (and the inner backend's),
 * or 0 when received frames are waiting for rx_batch (a duplicate that did not fit a batch).
 *
 * Determinism: each direction draws from its own PRNG (splitmix64) seeded from params->seed,
 * and which draws are made depends only on the configuration, the frames and the times
 * passed in; so the same seed with the same sequence of calls, times and frames gives the
 * same pattern, and traffic in one direction does not shift the other's pattern.
 *
 * Stats: be->stats mirrors the inner backend's counters (refreshed on every call) with this
 * wrapper's fault_* counters added, and held = the inner backend's held plus every frame this
 * wrapper holds (delayed, held back for reordering, received but not yet returned).  Frames
 * lost to faults are not tx_drops: tx_batch returns n minus the frames the inner backend
 * counted as tx_drops during the call.
 *
 * fn_backend_fault_set() replaces both directions' configuration of a wrapper in use (a
 * link that goes dark after a connection is up: drop = 1000000 ppm): each direction's PRNG
 * is reseeded as by wrap() and its token bucket starts full again; frames already held keep
 * their due times and go out as configured when they were taken.
 *
 * Owns: every frame it holds (delayed, held for reordering, received but not yet returned by
 * rx_batch); close() frees them all.  No allocation after wrap().  One core, like the inner.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fastnet/fn_backend.h"

#define FAULT_DELAY_MAX           16384u
#define FAULT_REORDER_MAX_HOLD_NS 1000000ull /* 1 ms */
#define FAULT_CHUNK               64         /* frames per call into the inner backend */
#define ETH_HDR_LEN               14u

__extension__ typedef unsigned __int128 fault_u128;

/* A FIFO of packets linked through pkt->next (the holder's field). */
struct pkt_list {
    struct fn_pkt *head;
    struct fn_pkt *tail;
    uint32_t count;
};

struct fault_dir {
    struct fn_fault_dir cfg;
    uint64_t rng;                   /* splitmix64 state */
    struct pkt_list delayed;        /* sorted by pkt->ts (due time), earliest first */
    struct fn_pkt *held;            /* frame held back for reordering, or NULL */
    uint64_t held_since;
    /* token bucket, in bits * 1e9 so that refill = rate_bps * elapsed_ns exactly */
    fault_u128 tokens;
    fault_u128 depth;
    uint64_t tb_last;
    int tb_started;
};

struct fault_counters {
    uint64_t dropped, duplicated, reordered, delayed, corrupted, rate_limited;
};

struct fault_be {
    struct fn_backend be;           /* first member */
    struct fn_backend *inner;
    struct fault_dir rx, tx;
    struct pkt_list rx_ready;       /* frames that passed the rx faults, not yet returned */
    struct fault_counters c;
};

/* splitmix64 (Steele, Lea, Flood 2014): a Weyl sequence through a 64-bit mixing function. */
static uint64_t rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [0, bound) from the top 32 bits (multiply-shift, no modulo bias worth noting). */
static uint32_t rng_below(uint64_t *state, uint32_t bound)
{
    return (uint32_t)(((rng_next(state) >> 32) * (uint64_t)bound) >> 32);
}

static int rng_chance(uint64_t *state, uint32_t ppm)
{
    return rng_below(state, 1000000u) < ppm;
}

static void list_push(struct pkt_list *l, struct fn_pkt *pkt)
{
    pkt->next = NULL;
    if (l->tail)
        l->tail->next = pkt;
    else
        l->head = pkt;
    l->tail = pkt;
    l->count++;
}

static struct fn_pkt *list_pop(struct pkt_list *l)
{
    struct fn_pkt *pkt = l->head;
    if (!pkt)
        return NULL;
    l->head = pkt->next;
    if (!l->head)
        l->tail = NULL;
    l->count--;
    pkt->next = NULL;
    return pkt;
}

/* Insert by due time (pkt->ts), after equal ones.  With a monotonic clock and one delay per
 * direction every insert lands at the tail; the walk is only for clocks that step back. */
static void list_insert_sorted(struct pkt_list *l, struct fn_pkt *pkt)
{
    struct fn_pkt **pp;

    if (!l->tail || l->tail->ts <= pkt->ts) {
        list_push(l, pkt);
        return;
    }
    for (pp = &l->head; *pp && (*pp)->ts <= pkt->ts; pp = &(*pp)->next)
        ;
    pkt->next = *pp;
    *pp = pkt;
    l->count++;
}

static void list_free(struct pkt_list *l)
{
    struct fn_pkt *pkt;
    while ((pkt = list_pop(l)) != NULL)
        fn_pkt_free(pkt);
}

/* Move pkt to out, followed by the frame held for reordering, if any. */
static void emit(struct fault_dir *d, struct pkt_list *out, struct fn_pkt *pkt)
{
    list_push(out, pkt);
    if (d->held) {
        list_push(out, d->held);
        d->held = NULL;
    }
}

/* Steps 5 and 6 for one frame. */
static void stage(struct fault_be *f, struct fault_dir *d, struct pkt_list *out,
                  struct fn_pkt *pkt, uint64_t now)
{
    if (d->cfg.delay_ppm && rng_chance(&d->rng, d->cfg.delay_ppm)) {
        if (d->delayed.count >= FAULT_DELAY_MAX) {
            f->c.dropped++;
            fn_pkt_free(pkt);
            return;
        }
        pkt->ts = now + d->cfg.delay_ns;
        list_insert_sorted(&d->delayed, pkt);
        f->c.delayed++;
        return;
    }
    if (d->cfg.reorder_ppm && rng_chance(&d->rng, d->cfg.reorder_ppm) && !d->held) {
        d->held = pkt;
        d->held_since = now;
        f->c.reordered++;
        return;
    }
    emit(d, out, pkt);
}

/* Token-bucket policer: 1 if the frame may pass. */
static int bucket_take(struct fault_dir *d, uint32_t len, uint64_t now)
{
    fault_u128 cost = (fault_u128)len * 8u * 1000000000u;

    if (!d->tb_started) {
        d->tb_started = 1;
        d->tb_last = now;
        d->tokens = d->depth;
    } else if (now > d->tb_last) {
        d->tokens += (fault_u128)d->cfg.rate_bps * (now - d->tb_last);
        if (d->tokens > d->depth)
            d->tokens = d->depth;
        d->tb_last = now;
    }
    if (d->tokens < cost)
        return 0;
    d->tokens -= cost;
    return 1;
}

static struct fn_pkt *copy_pkt(const struct fn_pkt *src)
{
    struct fn_pkt *dup = fn_pkt_alloc(src->pool);
    if (!dup)
        return NULL;
    dup->data = fn_pkt_buf(dup) + fn_pkt_headroom(src);
    memcpy(dup->data, src->data, src->len);
    dup->len = src->len;
    dup->flags = src->flags;
    dup->l3_off = src->l3_off;
    return dup;
}

/* Steps 1-4 for one frame, then stage() for it and its copy. */
static void process(struct fault_be *f, struct fault_dir *d, struct pkt_list *out,
                    struct fn_pkt *pkt, uint64_t now)
{
    struct fn_pkt *dup = NULL;

    if (d->cfg.rate_bps && !bucket_take(d, pkt->len, now)) {
        f->c.rate_limited++;
        fn_pkt_free(pkt);
        return;
    }
    if (d->cfg.drop_ppm && rng_chance(&d->rng, d->cfg.drop_ppm)) {
        f->c.dropped++;
        fn_pkt_free(pkt);
        return;
    }
    if (d->cfg.corrupt_ppm && rng_chance(&d->rng, d->cfg.corrupt_ppm) && pkt->len > 0) {
        uint32_t bit = rng_below(&d->rng, pkt->len * 8u);
        pkt->data[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        pkt->flags &= (uint16_t)~(FN_PKT_F_L4_CSUM_OK | FN_PKT_F_L4_CSUM_PARTIAL);
        f->c.corrupted++;
    }
    if (d->cfg.dup_ppm && rng_chance(&d->rng, d->cfg.dup_ppm)) {
        dup = copy_pkt(pkt);
        if (dup)
            f->c.duplicated++;
    }
    stage(f, d, out, pkt, now);
    if (dup)
        stage(f, d, out, dup, now);
}

/* Release what is due at `now`: delayed frames, and a frame held back for too long. */
static void service(struct fault_dir *d, struct pkt_list *out, uint64_t now)
{
    while (d->delayed.head && d->delayed.head->ts <= now)
        emit(d, out, list_pop(&d->delayed));
    if (d->held && now - d->held_since >= FAULT_REORDER_MAX_HOLD_NS) {
        list_push(out, d->held);
        d->held = NULL;
    }
}

static void sync_stats(struct fault_be *f)
{
    struct fn_backend_stats *s = &f->be.stats;

    *s = f->inner->stats;
    s->fault_dropped += f->c.dropped;
    s->fault_duplicated += f->c.duplicated;
    s->fault_reordered += f->c.reordered;
    s->fault_delayed += f->c.delayed;
    s->fault_corrupted += f->c.corrupted;
    s->fault_rate_limited += f->c.rate_limited;
    s->held += f->rx.delayed.count + f->tx.delayed.count + (f->rx.held != NULL) +
               (f->tx.held != NULL) + f->rx_ready.count;
}

/* Hand a list to the inner backend in chunks. */
static void send_list(struct fault_be *f, struct pkt_list *out, uint64_t now)
{
    struct fn_pkt *chunk[FAULT_CHUNK];

    while (out->count) {
        int k = 0;
        while (k < FAULT_CHUNK && out->count)
            chunk[k++] = list_pop(out);
        fn_backend_tx(f->inner, chunk, k, now);
    }
}

/* Release due tx frames to the inner backend; returns how many went. */
static uint32_t service_tx(struct fault_be *f, uint64_t now)
{
    struct pkt_list out = {0};
    uint32_t n;

    service(&f->tx, &out, now);
    n = out.count;
    send_list(f, &out, now);
    return n;
}

static int fault_rx_batch(struct fn_backend *be, struct fn_pkt **pkts, int max, uint64_t now)
{
    struct fault_be *f = (struct fault_be *)be;
    struct fn_pkt *chunk[FAULT_CHUNK];
    int err = 0, n = 0, drain = f->rx.cfg.delay_ppm != 0;

    if (service_tx(f, now))
        fn_backend_flush(f->inner, now);
    service(&f->rx, &f->rx_ready, now);
    while (max > 0 && (drain || f->rx_ready.count < (uint32_t)max)) {
        int want = drain ? FAULT_CHUNK : max - (int)f->rx_ready.count;
        int got;

        if (want > FAULT_CHUNK)
            want = FAULT_CHUNK;
        got = fn_backend_rx(f->inner, chunk, want, now);
        if (got < 0) {
            err = got;
            break;
        }
        for (int i = 0; i < got; i++)
            process(f, &f->rx, &f->rx_ready, chunk[i], now);
        if (got < want)
            break;
    }
    while (n < max && f->rx_ready.count)
        pkts[n++] = list_pop(&f->rx_ready);
    sync_stats(f);
    return n == 0 && err ? err : n;
}

static int fault_tx_batch(struct fn_backend *be, struct fn_pkt **pkts, int n, uint64_t now)
{
    struct fault_be *f = (struct fault_be *)be;
    struct pkt_list out = {0};
    uint64_t drops_before = f->inner->stats.tx_drops;
    uint64_t inner_drops;

    service(&f->tx, &out, now);
    for (int i = 0; i < n; i++)
        process(f, &f->tx, &out, pkts[i], now);
    send_list(f, &out, now);
    sync_stats(f);
    inner_drops = f->inner->stats.tx_drops - drops_before;
    return inner_drops >= (uint64_t)n ? 0 : n - (int)inner_drops;
}

static int fault_flush(struct fn_backend *be, uint64_t now)
{
    struct fault_be *f = (struct fault_be *)be;
    int rc;

    service_tx(f, now);
    rc = fn_backend_flush(f->inner, now);
    sync_stats(f);
    return rc;
}

static uint64_t dir_deadline(const struct fault_dir *d)
{
    uint64_t t = UINT64_MAX;

    if (d->delayed.head)
        t = d->delayed.head->ts;
    if (d->held && d->held_since + FAULT_REORDER_MAX_HOLD_NS < t)
        t = d->held_since + FAULT_REORDER_MAX_HOLD_NS;
    return t;
}

static uint64_t fault_next_deadline(struct fn_backend *be)
{
    struct fault_be *f = (struct fault_be *)be;
    uint64_t t = fn_backend_next_deadline(f->inner);
    uint64_t r = dir_deadline(&f->rx), x = dir_deadline(&f->tx);

    /* Frames already received but not yet returned: rx_batch has work right now. */
    if (f->rx_ready.count)
        return 0;
    if (r < t)
        t = r;
    if (x < t)
        t = x;
    return t;
}

static void dir_free(struct fault_dir *d)
{
    list_free(&d->delayed);
    fn_pkt_free(d->held);
    d->held = NULL;
}

static void fault_close(struct fn_backend *be)
{
    struct fault_be *f = (struct fault_be *)be;

    dir_free(&f->rx);
    dir_free(&f->tx);
    list_free(&f->rx_ready);
    fn_backend_close(f->inner);
    free(f);
}

static const struct fn_backend_ops fault_ops = {
    .name = "fault",
    .rx_batch = fault_rx_batch,
    .tx_batch = fault_tx_batch,
    .flush = fault_flush,
    .next_deadline = fault_next_deadline,
    .close = fault_close,
};

static void dir_init(struct fault_dir *d, const struct fn_fault_dir *cfg, uint64_t seed,
                     uint32_t mtu)
{
    uint64_t burst = cfg->burst_bytes ? cfg->burst_bytes : 2ull * (mtu + ETH_HDR_LEN);

    d->cfg = *cfg;
    /* Seed the stream with one splitmix64 step of the seed mixed with a per-direction
     * constant, so rx and tx start far apart in the sequence. */
    d->rng = seed;
    d->rng = rng_next(&d->rng);
    d->depth = (fault_u128)burst * 8u * 1000000000u;
}

int fn_backend_fault_wrap(struct fn_backend *inner, const struct fn_fault_params *params,
                          struct fn_backend **out)
{
    struct fault_be *f;

    *out = NULL;
    if (!inner || !params)
        return -EINVAL;
    f = calloc(1, sizeof(*f));
    if (!f)
        return -ENOMEM;
    f->inner = inner;
    dir_init(&f->rx, &params->rx, params->seed ^ 0x5258000000000000ull, inner->mtu); /* "RX" */
    dir_init(&f->tx, &params->tx, params->seed ^ 0x5458000000000000ull, inner->mtu); /* "TX" */
    f->be.ops = &fault_ops;
    f->be.pool = inner->pool;
    f->be.priv = f;
    f->be.fd = inner->fd;
    f->be.mtu = inner->mtu;
    f->be.caps = inner->caps;
    memcpy(f->be.mac, inner->mac, sizeof(f->be.mac));
    memcpy(f->be.ifname, inner->ifname, sizeof(f->be.ifname));
    sync_stats(f);
    *out = &f->be;
    return 0;
}

int fn_backend_fault_set(struct fn_backend *be, const struct fn_fault_params *params)
{
    struct fault_be *f;

    if (!be || !params || be->ops != &fault_ops)
        return -EINVAL;
    f = be->priv;
    dir_init(&f->rx, &params->rx, params->seed ^ 0x5258000000000000ull, f->inner->mtu);
    dir_init(&f->tx, &params->tx, params->seed ^ 0x5458000000000000ull, f->inner->mtu);
    f->rx.tb_started = f->tx.tb_started = 0;
    return 0;
}
