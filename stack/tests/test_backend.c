/* Backends that need no network: the in-memory link, the fault wrapper, the pcap wrapper.
 * Every test ends with the pools' in_use back to 0 (no leaked buffers). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fastnet/fn_backend.h"
#include "fn_test.h"

static uint32_t pool_in_use(struct fn_pool *p)
{
    struct fn_pool_stats st;
    fn_pool_get_stats(p, &st);
    return st.in_use;
}

/* A frame of len bytes whose payload encodes seq (bytes 14..17) and a fixed pattern. */
static struct fn_pkt *make_frame(struct fn_pool *p, uint32_t seq, uint32_t len)
{
    struct fn_pkt *pkt = fn_pkt_alloc(p);
    uint8_t *d;
    if (!pkt)
        return NULL;
    d = fn_pkt_put(pkt, len);
    for (uint32_t i = 0; i < len; i++)
        d[i] = (uint8_t)(i * 7u + 3u);
    memset(d, 0xff, 6);
    d[12] = 0x08;
    d[13] = 0x00;
    d[14] = (uint8_t)(seq >> 24);
    d[15] = (uint8_t)(seq >> 16);
    d[16] = (uint8_t)(seq >> 8);
    d[17] = (uint8_t)seq;
    return pkt;
}

static uint32_t frame_seq(const struct fn_pkt *pkt)
{
    const uint8_t *d = pkt->data;
    return (uint32_t)d[14] << 24 | (uint32_t)d[15] << 16 | (uint32_t)d[16] << 8 | d[17];
}

static int frame_intact(const struct fn_pkt *pkt, uint32_t len)
{
    if (pkt->len != len)
        return 0;
    for (uint32_t i = 18; i < len; i++)
        if (pkt->data[i] != (uint8_t)(i * 7u + 3u))
            return 0;
    return 1;
}

static void free_all(struct fn_pkt **pkts, int n)
{
    for (int i = 0; i < n; i++)
        fn_pkt_free(pkts[i]);
}

/* ---- memory link ---- */

FN_TEST(memory_pair_both_directions)
{
    struct fn_pool *pa, *pb;
    struct fn_backend *a, *b;
    struct fn_pkt *pk[64];
    int n;

    FN_CHECK_EQ(fn_pool_create(256, 2048, 0, &pa), 0);
    FN_CHECK_EQ(fn_pool_create(256, 2048, 0, &pb), 0);
    FN_CHECK_EQ(fn_backend_memory_pair(pa, pb, 1500, NULL, NULL, &a, &b), 0);
    FN_CHECK_EQ(a->fd, -1);
    FN_CHECK_EQ(a->mtu, 1500);
    FN_CHECK(memcmp(a->mac, "\x02\x00\x00\x00\x00\x01", 6) == 0);
    FN_CHECK(memcmp(b->mac, "\x02\x00\x00\x00\x00\x02", 6) == 0);

    for (int i = 0; i < 10; i++)
        pk[i] = make_frame(pa, (uint32_t)i, 60 + (uint32_t)i);
    FN_CHECK_EQ(fn_backend_tx(a, pk, 10, 0), 10);
    FN_CHECK_EQ(pool_in_use(pa), 0);
    FN_CHECK_EQ(pool_in_use(pb), 10);
    FN_CHECK_EQ(fn_backend_rx(a, pk, 64, 0), 0);
    n = fn_backend_rx(b, pk, 4, 0);
    FN_CHECK_EQ(n, 4);
    n += fn_backend_rx(b, pk + 4, 64, 0);
    FN_CHECK_EQ(n, 10);
    for (int i = 0; i < 10; i++) {
        FN_CHECK(pk[i]->pool == pb);
        FN_CHECK_EQ(frame_seq(pk[i]), i);
        FN_CHECK(frame_intact(pk[i], 60 + (uint32_t)i));
        FN_CHECK_EQ(fn_pkt_headroom(pk[i]), FN_PKT_HEADROOM);
    }
    free_all(pk, n);
    FN_CHECK_EQ(a->stats.tx_packets, 10);
    FN_CHECK_EQ(b->stats.rx_packets, 10);
    FN_CHECK_EQ(b->stats.rx_bytes, 10 * 60 + 45);

    /* and back */
    for (int i = 0; i < 3; i++)
        pk[i] = make_frame(pb, 100 + (uint32_t)i, 1514);
    FN_CHECK_EQ(fn_backend_tx(b, pk, 3, 0), 3);
    n = fn_backend_rx(a, pk, 64, 0);
    FN_CHECK_EQ(n, 3);
    for (int i = 0; i < 3; i++) {
        FN_CHECK(pk[i]->pool == pa);
        FN_CHECK_EQ(frame_seq(pk[i]), 100 + i);
        FN_CHECK(frame_intact(pk[i], 1514));
    }
    free_all(pk, n);

    /* oversize frames are not sent */
    pk[0] = make_frame(pa, 1, 1515);
    FN_CHECK_EQ(fn_backend_tx(a, pk, 1, 0), 0);
    FN_CHECK_EQ(a->stats.tx_drops, 1);

    fn_backend_close(a);
    fn_backend_close(b);
    FN_CHECK_EQ(fn_pool_destroy(pa), 0);
    FN_CHECK_EQ(fn_pool_destroy(pb), 0);
}

FN_TEST(memory_ring_full_drops)
{
    struct fn_pool *pa, *pb;
    struct fn_backend *a, *b;
    struct fn_pkt *pk[256];
    int sent = 0, got = 0, n;

    FN_CHECK_EQ(fn_pool_create(4096, 2048, 0, &pa), 0);
    FN_CHECK_EQ(fn_pool_create(4096, 2048, 0, &pb), 0);
    FN_CHECK_EQ(fn_backend_memory_pair(pa, pb, 1500, NULL, NULL, &a, &b), 0);
    /* 2000 frames into a 1024-slot ring: the rest are dropped at the sender */
    for (int r = 0; r < 2000 / 250; r++) {
        for (int i = 0; i < 250; i++)
            pk[i] = make_frame(pa, (uint32_t)(r * 250 + i), 64);
        sent += fn_backend_tx(a, pk, 250, 0);
    }
    FN_CHECK_EQ(sent, 1024);
    FN_CHECK_EQ(a->stats.tx_drops, 2000 - 1024);
    FN_CHECK_EQ(pool_in_use(pa), 0);
    FN_CHECK_EQ(pool_in_use(pb), 1024);
    while ((n = fn_backend_rx(b, pk, 256, 0)) > 0) {
        for (int i = 0; i < n; i++)
            FN_CHECK_EQ(frame_seq(pk[i]), got + i);
        got += n;
        free_all(pk, n);
    }
    FN_CHECK_EQ(got, 1024);
    /* room again */
    pk[0] = make_frame(pa, 7, 64);
    FN_CHECK_EQ(fn_backend_tx(a, pk, 1, 0), 1);
    /* queued frames still in b's ring are freed by b's close */
    fn_backend_close(b);
    FN_CHECK_EQ(pool_in_use(pb), 0);
    /* sending to a closed end drops */
    pk[0] = make_frame(pa, 8, 64);
    FN_CHECK_EQ(fn_backend_tx(a, pk, 1, 0), 0);
    fn_backend_close(a);
    FN_CHECK_EQ(fn_pool_destroy(pa), 0);
    FN_CHECK_EQ(fn_pool_destroy(pb), 0);
}

FN_TEST(memory_pool_exhaustion_counted)
{
    struct fn_pool *pa, *pb;
    struct fn_backend *a, *b;
    struct fn_pkt *pk[64];
    const uint8_t ma[6] = {0x02, 1, 2, 3, 4, 5}, mb[6] = {0x02, 6, 7, 8, 9, 10};
    int n;

    FN_CHECK_EQ(fn_pool_create(64, 2048, 0, &pa), 0);
    FN_CHECK_EQ(fn_pool_create(8, 2048, 0, &pb), 0);
    FN_CHECK_EQ(fn_backend_memory_pair(pa, pb, 1500, ma, mb, &a, &b), 0);
    FN_CHECK(memcmp(a->mac, ma, 6) == 0 && memcmp(b->mac, mb, 6) == 0);
    for (int i = 0; i < 20; i++)
        pk[i] = make_frame(pa, (uint32_t)i, 100);
    /* the frames left a: counted as sent; b had room for 8 only */
    FN_CHECK_EQ(fn_backend_tx(a, pk, 20, 0), 20);
    FN_CHECK_EQ(b->stats.rx_nobuf, 12);
    FN_CHECK_EQ(pool_in_use(pa), 0);
    n = fn_backend_rx(b, pk, 64, 0);
    FN_CHECK_EQ(n, 8);
    for (int i = 0; i < n; i++)
        FN_CHECK_EQ(frame_seq(pk[i]), i);
    free_all(pk, n);
    /* closing in the other order frees the link too (ASan would report a leak otherwise) */
    fn_backend_close(a);
    fn_backend_close(b);
    FN_CHECK_EQ(fn_pool_destroy(pa), 0);
    FN_CHECK_EQ(fn_pool_destroy(pb), 0);
}

/* An end's held is the frames waiting in its receive ring.  Both ends share one pool here,
 * so every buffer in use is either one of the link's or the caller's. */
FN_TEST(memory_held_counts_ring_frames)
{
    struct fn_pool *p;
    struct fn_backend *a, *b;
    struct fn_pkt *pk[64];
    int n;

    FN_CHECK_EQ(fn_pool_create(128, 2048, 0, &p), 0);
    FN_CHECK_EQ(fn_backend_memory_pair(p, p, 1500, NULL, NULL, &a, &b), 0);
    FN_CHECK(a->stats.held == 0 && b->stats.held == 0);
    for (int i = 0; i < 10; i++)
        pk[i] = make_frame(p, (uint32_t)i, 60);
    FN_CHECK_EQ(fn_backend_tx(a, pk, 10, 0), 10);
    FN_CHECK(a->stats.held == 0 && b->stats.held == 10);
    pk[0] = make_frame(p, 99, 60);
    FN_CHECK_EQ(fn_backend_tx(b, pk, 1, 0), 1);
    FN_CHECK_EQ(a->stats.held, 1);
    FN_CHECK_EQ(pool_in_use(p), a->stats.held + b->stats.held);
    n = fn_backend_rx(b, pk, 4, 0);
    FN_CHECK_EQ(n, 4);
    FN_CHECK_EQ(b->stats.held, 6);
    /* the 4 received are the caller's now, not the link's */
    FN_CHECK_EQ(pool_in_use(p) - a->stats.held - b->stats.held, 4);
    free_all(pk, n);
    free_all(pk, fn_backend_rx(b, pk, 64, 0));
    FN_CHECK_EQ(b->stats.held, 0);
    /* frames still queued at close are freed, and held says so (b's memory lives until the
     * second close) */
    fn_backend_close(a);
    FN_CHECK_EQ(a->stats.held, 0);
    FN_CHECK_EQ(pool_in_use(p), 0);
    fn_backend_close(b);
    FN_CHECK_EQ(fn_pool_destroy(p), 0);
}

/* ---- fault wrapper ---- */

/* A rig: a memory link a <-> b; the fault wrapper sits on a (tx faults act on a->b frames,
 * rx faults on b->a frames). */
struct rig {
    struct fn_pool *pa, *pb;
    struct fn_backend *a, *b, *fa;
};

static int rig_open(struct rig *r, const struct fn_fault_params *fp)
{
    memset(r, 0, sizeof(*r));
    if (fn_pool_create(4096, 2048, 0, &r->pa) || fn_pool_create(4096, 2048, 0, &r->pb))
        return -1;
    if (fn_backend_memory_pair(r->pa, r->pb, 1500, NULL, NULL, &r->a, &r->b))
        return -1;
    return fn_backend_fault_wrap(r->a, fp, &r->fa);
}

/* Closes everything; returns the number of leaked buffers. */
static uint32_t rig_close(struct rig *r)
{
    uint32_t leaked;
    fn_backend_close(r->fa);
    fn_backend_close(r->b);
    leaked = fn_pool_destroy(r->pa);
    leaked += fn_pool_destroy(r->pb);
    return leaked;
}

/* What a receiver saw: seq in arrival order, and how many bits differ from the original. */
struct trace {
    uint32_t n;
    uint32_t seq[200000];
    uint8_t flipped[200000];
};

static struct trace trace_x, trace_y;

static int popcount8(uint8_t x)
{
    int c = 0;
    for (; x; x &= (uint8_t)(x - 1))
        c++;
    return c;
}

static void record(struct trace *t, struct fn_pkt **pk, int n, uint32_t len)
{
    for (int i = 0; i < n; i++) {
        /* Rebuild the original from the pattern; a corrupted seq shows up as a bit flip in
         * bytes 14..17 only if we compare against the right seq, so count flips outside
         * the seq and assume the seq itself is the flipped byte when nothing else differs. */
        int bits = 0;
        uint8_t ref[2048];
        const uint8_t *d = pk[i]->data;
        for (uint32_t k = 0; k < len; k++)
            ref[k] = (uint8_t)(k * 7u + 3u);
        memset(ref, 0xff, 6);
        ref[12] = 0x08;
        ref[13] = 0x00;
        for (uint32_t k = 0; k < len && k < pk[i]->len; k++)
            if (k < 14 || k > 17)
                bits += popcount8((uint8_t)(d[k] ^ ref[k]));
        if (t->n < 200000) {
            t->seq[t->n] = frame_seq(pk[i]);
            t->flipped[t->n] = (uint8_t)bits;
            t->n++;
        }
    }
    free_all(pk, n);
}

/* Pushes `total` frames of `len` bytes through the rig, `batch` per virtual microsecond,
 * in the direction chosen (tx: a->b through the wrapper's tx faults; rx: b->a through its
 * rx faults), then lets every delayed/held frame out.  Records arrivals in t. */
static void run_traffic(struct rig *r, int rx_dir, uint32_t total, int batch, uint32_t len,
                        struct trace *t)
{
    struct fn_pkt *pk[256];
    uint64_t now = 1000;
    uint32_t seq = 0;
    int n;

    t->n = 0;
    while (seq < total) {
        int k = 0;
        for (; k < batch && seq < total; k++)
            pk[k] = make_frame(rx_dir ? r->pb : r->pa, seq++, len);
        if (rx_dir) {
            fn_backend_tx(r->b, pk, k, now);
            while ((n = fn_backend_rx(r->fa, pk, 256, now)) > 0)
                record(t, pk, n, len);
        } else {
            fn_backend_tx(r->fa, pk, k, now);
            fn_backend_flush(r->fa, now);
            while ((n = fn_backend_rx(r->b, pk, 256, now)) > 0)
                record(t, pk, n, len);
        }
        now += 1000;
    }
    /* drain: step to each deadline until nothing is held */
    for (int guard = 0; guard < 100000 && fn_backend_next_deadline(r->fa) != UINT64_MAX;
         guard++) {
        uint64_t d = fn_backend_next_deadline(r->fa);
        if (d > now)
            now = d;
        fn_backend_flush(r->fa, now);
        while ((n = fn_backend_rx(r->fa, pk, 256, now)) > 0)
            record(t, pk, n, len);
        while ((n = fn_backend_rx(r->b, pk, 256, now)) > 0)
            record(t, pk, n, len);
    }
}

static const struct fn_fault_dir all_faults = {
    .drop_ppm = 50000, .dup_ppm = 50000, .reorder_ppm = 50000, .corrupt_ppm = 50000,
    .delay_ppm = 50000, .delay_ns = 7000,
};

static int traces_equal(const struct trace *x, const struct trace *y)
{
    return x->n == y->n && !memcmp(x->seq, y->seq, x->n * sizeof(x->seq[0])) &&
           !memcmp(x->flipped, y->flipped, x->n);
}

FN_TEST(fault_deterministic_per_seed)
{
    for (int rx_dir = 0; rx_dir < 2; rx_dir++) {
        struct fn_fault_params fp = {.seed = 42};
        struct rig r;
        struct fn_backend_stats s1;

        if (rx_dir)
            fp.rx = all_faults;
        else
            fp.tx = all_faults;
        FN_CHECK_EQ(rig_open(&r, &fp), 0);
        run_traffic(&r, rx_dir, 20000, 16, 100, &trace_x);
        s1 = r.fa->stats;
        FN_CHECK_EQ(rig_close(&r), 0);
        FN_CHECK(s1.fault_dropped > 0 && s1.fault_duplicated > 0 && s1.fault_reordered > 0 &&
                 s1.fault_corrupted > 0 && s1.fault_delayed > 0);

        /* same seed, same traffic: the same arrivals, bit for bit */
        FN_CHECK_EQ(rig_open(&r, &fp), 0);
        run_traffic(&r, rx_dir, 20000, 16, 100, &trace_y);
        FN_CHECK(memcmp(&s1, &r.fa->stats, sizeof(s1)) == 0);
        FN_CHECK_EQ(rig_close(&r), 0);
        FN_CHECK(traces_equal(&trace_x, &trace_y));

        /* another seed: another pattern */
        fp.seed = 43;
        FN_CHECK_EQ(rig_open(&r, &fp), 0);
        run_traffic(&r, rx_dir, 20000, 16, 100, &trace_y);
        FN_CHECK_EQ(rig_close(&r), 0);
        FN_CHECK(!traces_equal(&trace_x, &trace_y));
    }
}

FN_TEST(fault_directions_independent)
{
    /* Faults configured on rx only must not touch tx traffic, and tx traffic must not shift
     * the rx pattern. */
    struct fn_fault_params fp = {.seed = 7, .rx = all_faults};
    struct rig r;

    FN_CHECK_EQ(rig_open(&r, &fp), 0);
    run_traffic(&r, 0, 5000, 16, 80, &trace_x);
    FN_CHECK_EQ(trace_x.n, 5000);
    for (uint32_t i = 0; i < trace_x.n; i++)
        FN_CHECK(trace_x.seq[i] == i && trace_x.flipped[i] == 0);
    run_traffic(&r, 1, 5000, 16, 80, &trace_x);
    FN_CHECK_EQ(rig_close(&r), 0);

    FN_CHECK_EQ(rig_open(&r, &fp), 0);
    run_traffic(&r, 1, 5000, 16, 80, &trace_y);
    FN_CHECK_EQ(rig_close(&r), 0);
    FN_CHECK(traces_equal(&trace_x, &trace_y));
}

#define RATE_FRAMES 100000u
#define RATE_PPM    50000u /* 5 %: expect 5000 +- 250 (more than 3 sigma) */

static int near_rate(uint64_t count)
{
    uint64_t expect = (uint64_t)RATE_FRAMES * RATE_PPM / 1000000u;
    return count > expect - expect / 20 && count < expect + expect / 20;
}

FN_TEST(fault_drop_rate)
{
    struct fn_fault_params fp = {.seed = 1, .tx = {.drop_ppm = RATE_PPM}};
    struct rig r;

    FN_CHECK_EQ(rig_open(&r, &fp), 0);
    run_traffic(&r, 0, RATE_FRAMES, 32, 64, &trace_x);
    FN_CHECK(near_rate(r.fa->stats.fault_dropped));
    FN_CHECK_EQ(trace_x.n, RATE_FRAMES - r.fa->stats.fault_dropped);
    for (uint32_t i = 1; i < trace_x.n; i++)
        FN_CHECK(trace_x.seq[i] > trace_x.seq[i - 1]);
    FN_CHECK_EQ(r.fa->stats.fault_duplicated + r.fa->stats.fault_corrupted +
                    r.fa->stats.fault_reordered + r.fa->stats.fault_delayed,
                0);
    FN_CHECK_EQ(rig_close(&r), 0);
}

FN_TEST(fault_dup_rate)
{
    struct fn_fault_params fp = {.seed = 2, .rx = {.dup_ppm = RATE_PPM}};
    struct rig r;
    uint32_t dups = 0;

    FN_CHECK_EQ(rig_open(&r, &fp), 0);
    run_traffic(&r, 1, RATE_FRAMES, 32, 64, &trace_x);
    FN_CHECK(near_rate(r.fa->stats.fault_duplicated));
    FN_CHECK_EQ(trace_x.n, RATE_FRAMES + r.fa->stats.fault_duplicated);
    for (uint32_t i = 1; i < trace_x.n; i++) {
        FN_CHECK(trace_x.seq[i] >= trace_x.seq[i - 1]);
        dups += trace_x.seq[i] == trace_x.seq[i - 1];
    }
    FN_CHECK_EQ(dups, r.fa->stats.fault_duplicated);
    FN_CHECK_EQ(rig_close(&r), 0);
}

FN_TEST(fault_corrupt_rate)
{
    struct fn_fault_params fp = {.seed = 3, .tx = {.corrupt_ppm = RATE_PPM}};
    struct rig r;
    uint32_t flipped = 0;

    FN_CHECK_EQ(rig_open(&r, &fp), 0);
    run_traffic(&r, 0, RATE_FRAMES, 32, 64, &trace_x);
    FN_CHECK(near_rate(r.fa->stats.fault_corrupted));
    FN_CHECK_EQ(trace_x.n, RATE_FRAMES);
    /* every corruption is exactly one bit; flips in the seq field show as a wrong seq */
    for (uint32_t i = 0; i < trace_x.n; i++) {
        FN_CHECK(trace_x.flipped[i] <= 1);
        flipped += trace_x.flipped[i];
        if (trace_x.seq[i] != i) {
            uint32_t x = trace_x.seq[i] ^ i;
            FN_CHECK(trace_x.flipped[i] == 0 && x && !(x & (x - 1)));
            flipped++;
        }
    }
    FN_CHECK_EQ(flipped, r.fa->stats.fault_corrupted);
    FN_CHECK_EQ(rig_close(&r), 0);
}

FN_TEST(fault_reorder_rate)
{
    struct fn_fault_params fp = {.seed = 4, .tx = {.reorder_ppm = RATE_PPM}};
    struct rig r;
    uint32_t swaps = 0;

    FN_CHECK_EQ(rig_open(&r, &fp), 0);
    run_traffic(&r, 0, RATE_FRAMES, 32, 64, &trace_x);
    /* a frame drawn while another is held is not held: slightly below the ppm */
    FN_CHECK(near_rate(r.fa->stats.fault_reordered + r.fa->stats.fault_reordered / 20));
    FN_CHECK_EQ(trace_x.n, RATE_FRAMES);
    /* each reordered frame swaps with its successor */
    for (uint32_t i = 1; i < trace_x.n; i++)
        if (trace_x.seq[i] < trace_x.seq[i - 1]) {
            FN_CHECK_EQ(trace_x.seq[i], trace_x.seq[i - 1] - 1);
            swaps++;
        }
    FN_CHECK_EQ(swaps, r.fa->stats.fault_reordered);
    FN_CHECK_EQ(rig_close(&r), 0);
}

FN_TEST(fault_delay_rate)
{
    /* 32 frames per virtual us, delay 10 us: a delayed frame arrives 288..319 frames late */
    struct fn_fault_params fp = {.seed = 5, .rx = {.delay_ppm = RATE_PPM, .delay_ns = 10000}};
    struct rig r;
    uint32_t late = 0, max_seen = 0;

    FN_CHECK_EQ(rig_open(&r, &fp), 0);
    run_traffic(&r, 1, RATE_FRAMES, 32, 64, &trace_x);
    FN_CHECK(near_rate(r.fa->stats.fault_delayed));
    FN_CHECK_EQ(trace_x.n, RATE_FRAMES);
    for (uint32_t i = 0; i < trace_x.n; i++) {
        if (trace_x.seq[i] + 250 < max_seen)
            late++;
        if (trace_x.seq[i] > max_seen)
            max_seen = trace_x.seq[i];
    }
    /* frames delayed in the last 10 us of traffic are released by the drain, still late
     * but with fewer successors; allow for them */
    FN_CHECK(late <= r.fa->stats.fault_delayed && late + 40 >= r.fa->stats.fault_delayed);
    FN_CHECK_EQ(rig_close(&r), 0);
}

FN_TEST(fault_delay_released_on_time)
{
    struct fn_fault_params fp = {.seed = 9,
                                 .tx = {.delay_ppm = 1000000, .delay_ns = 5000},
                                 .rx = {.delay_ppm = 1000000, .delay_ns = 3000}};
    struct rig r;
    struct fn_pkt *pk[8];

    FN_CHECK_EQ(rig_open(&r, &fp), 0);
    FN_CHECK_EQ(fn_backend_next_deadline(r.fa), UINT64_MAX);
    /* tx: a frame sent at t=1000 reaches b at t=6000, not before */
    pk[0] = make_frame(r.pa, 1, 60);
    FN_CHECK_EQ(fn_backend_tx(r.fa, pk, 1, 1000), 1);
    FN_CHECK_EQ(fn_backend_flush(r.fa, 1000), 0);
    FN_CHECK_EQ(r.fa->stats.fault_delayed, 1);
    FN_CHECK_EQ(fn_backend_next_deadline(r.fa), 6000);
    FN_CHECK_EQ(fn_backend_rx(r.b, pk, 8, 1000), 0);
    FN_CHECK_EQ(fn_backend_flush(r.fa, 5999), 0);
    FN_CHECK_EQ(fn_backend_rx(r.b, pk, 8, 5999), 0);
    /* a later frame at t=2000 is due at 7000; release by tx at 6000 lets only the first go */
    pk[0] = make_frame(r.pa, 2, 60);
    FN_CHECK_EQ(fn_backend_tx(r.fa, pk, 1, 2000), 1);
    FN_CHECK_EQ(fn_backend_flush(r.fa, 6000), 0);
    FN_CHECK_EQ(fn_backend_rx(r.b, pk, 8, 6000), 1);
    FN_CHECK_EQ(frame_seq(pk[0]), 1);
    fn_pkt_free(pk[0]);
    FN_CHECK_EQ(fn_backend_next_deadline(r.fa), 7000);
    /* rx_batch also releases tx frames that are due */
    FN_CHECK_EQ(fn_backend_rx(r.fa, pk, 8, 7000), 0);
    FN_CHECK_EQ(fn_backend_rx(r.b, pk, 8, 7000), 1);
    FN_CHECK_EQ(frame_seq(pk[0]), 2);
    fn_pkt_free(pk[0]);
    FN_CHECK_EQ(fn_backend_next_deadline(r.fa), UINT64_MAX);

    /* rx: b sends at t=10000, the wrapper hands it up at t=13000 */
    pk[0] = make_frame(r.pb, 3, 60);
    FN_CHECK_EQ(fn_backend_tx(r.b, pk, 1, 10000), 1);
    FN_CHECK_EQ(fn_backend_rx(r.fa, pk, 8, 10000), 0);
    FN_CHECK_EQ(fn_backend_next_deadline(r.fa), 13000);
    FN_CHECK_EQ(fn_backend_rx(r.fa, pk, 8, 12999), 0);
    FN_CHECK_EQ(fn_backend_rx(r.fa, pk, 8, 13000), 1);
    FN_CHECK_EQ(frame_seq(pk[0]), 3);
    fn_pkt_free(pk[0]);
    FN_CHECK_EQ(fn_backend_next_deadline(r.fa), UINT64_MAX);
    FN_CHECK_EQ(r.fa->stats.fault_delayed, 3);
    FN_CHECK_EQ(rig_close(&r), 0);
}

/* b sends frames seq0 .. seq0 + n - 1 towards the wrapper at `now`. */
static void send_from_b(struct rig *r, uint32_t seq0, uint32_t n, uint64_t now)
{
    struct fn_pkt *pk[64];

    for (uint32_t done = 0; done < n;) {
        int k = 0;
        for (; k < 64 && done < n; k++, done++)
            pk[k] = make_frame(r->pb, seq0 + done, 60);
        fn_backend_tx(r->b, pk, k, now);
    }
}

/* The wrapper's held is its delayed and reordered frames plus the inner end's ring: the
 * buffers of pa that the test (the "stack") does not hold. */
FN_TEST(fault_held_tracks_delayed_and_reordered)
{
    struct fn_fault_params fp = {.seed = 9,
                                 .tx = {.delay_ppm = 1000000, .delay_ns = 5000},
                                 .rx = {.delay_ppm = 1000000, .delay_ns = 3000}};
    struct fn_fault_params fr = {.seed = 9, .tx = {.reorder_ppm = 1000000}};
    struct rig r;
    struct fn_pkt *pk[8];

    FN_CHECK_EQ(rig_open(&r, &fp), 0);
    FN_CHECK_EQ(r.fa->stats.held, 0);
    /* tx: three frames wait in the delay queue, then reach b's ring */
    for (int i = 0; i < 3; i++)
        pk[i] = make_frame(r.pa, (uint32_t)i, 60);
    FN_CHECK_EQ(fn_backend_tx(r.fa, pk, 3, 1000), 3);
    FN_CHECK_EQ(r.fa->stats.held, 3);
    FN_CHECK_EQ(pool_in_use(r.pa), r.fa->stats.held);
    FN_CHECK_EQ(fn_backend_flush(r.fa, 5999), 0);
    FN_CHECK_EQ(r.fa->stats.held, 3);
    FN_CHECK_EQ(fn_backend_flush(r.fa, 6000), 0);
    FN_CHECK_EQ(r.fa->stats.held, 0);
    FN_CHECK_EQ(pool_in_use(r.pa), 0);
    FN_CHECK_EQ(r.b->stats.held, 3);
    free_all(pk, fn_backend_rx(r.b, pk, 8, 6000));
    /* rx: two frames from b sit in a's ring, then in the wrapper's delay queue */
    send_from_b(&r, 10, 2, 10000);
    FN_CHECK_EQ(r.a->stats.held, 2);
    FN_CHECK_EQ(fn_backend_rx(r.fa, pk, 8, 10000), 0);
    FN_CHECK_EQ(r.a->stats.held, 0);
    FN_CHECK_EQ(r.fa->stats.held, 2);
    FN_CHECK_EQ(pool_in_use(r.pa), 2);
    FN_CHECK_EQ(fn_backend_rx(r.fa, pk, 8, 13000), 2);
    FN_CHECK_EQ(r.fa->stats.held, 0);
    FN_CHECK_EQ(pool_in_use(r.pa) - r.fa->stats.held, 2); /* the caller's now */
    free_all(pk, 2);
    /* delayed frames still queued at close are freed with the wrapper */
    pk[0] = make_frame(r.pa, 20, 60);
    FN_CHECK_EQ(fn_backend_tx(r.fa, pk, 1, 20000), 1);
    FN_CHECK_EQ(r.fa->stats.held, 1);
    FN_CHECK_EQ(rig_close(&r), 0);

    /* reorder: the held-back frame counts until the next frame takes it along */
    FN_CHECK_EQ(rig_open(&r, &fr), 0);
    pk[0] = make_frame(r.pa, 1, 60);
    FN_CHECK_EQ(fn_backend_tx(r.fa, pk, 1, 0), 1);
    FN_CHECK_EQ(r.fa->stats.held, 1);
    FN_CHECK_EQ(pool_in_use(r.pa), 1);
    pk[0] = make_frame(r.pa, 2, 60);
    FN_CHECK_EQ(fn_backend_tx(r.fa, pk, 1, 0), 1);
    FN_CHECK_EQ(r.fa->stats.held, 0);
    FN_CHECK_EQ(pool_in_use(r.pa), 0);
    free_all(pk, fn_backend_rx(r.b, pk, 8, 0));
    FN_CHECK_EQ(rig_close(&r), 0);
}


FN_TEST(fault_delay_drains_inner_ring_while_releasing_a_burst)
{
    /* 1500 frames fall due at one instant and are handed up 32 per call; meanwhile b keeps
     * sending 800 frames between calls into a's 1024-slot ring.  The wrapper must keep
     * taking them off the ring (into the delay queue), so nothing is lost and order holds. */
    struct fn_fault_params fp = {.seed = 11, .rx = {.delay_ppm = 1000000, .delay_ns = 10000}};
    struct fn_pkt *pk[64];
    struct rig r;
    uint32_t got = 0, next = 0;
    uint64_t now = 1000;
    int n, ordered = 1;

    FN_CHECK_EQ(rig_open(&r, &fp), 0);
    send_from_b(&r, 0, 750, now);
    FN_CHECK_EQ(fn_backend_rx(r.fa, pk, 32, now), 0);
    send_from_b(&r, 750, 750, now);
    FN_CHECK_EQ(fn_backend_rx(r.fa, pk, 32, now), 0);
    now += 10000;
    for (uint32_t burst = 0; burst < 3; burst++) {
        n = fn_backend_rx(r.fa, pk, 32, now);
        FN_CHECK_EQ(n, 32);
        for (int i = 0; i < n; i++)
            ordered &= frame_seq(pk[i]) == next++;
        got += (uint32_t)n;
        free_all(pk, n);
        send_from_b(&r, 1500 + burst * 800, 800, now);
    }
    FN_CHECK_EQ(r.b->stats.tx_drops, 0);
    for (int guard = 0; guard < 1000 && got < 1500 + 3 * 800; guard++) {
        uint64_t d = fn_backend_next_deadline(r.fa);
        if (d != 0 && d != UINT64_MAX && d > now)
            now = d;
        while ((n = fn_backend_rx(r.fa, pk, 32, now)) > 0) {
            for (int i = 0; i < n; i++)
                ordered &= frame_seq(pk[i]) == next++;
            got += (uint32_t)n;
            free_all(pk, n);
        }
    }
    FN_CHECK_EQ(got, 1500 + 3 * 800);
    FN_CHECK(ordered);
    FN_CHECK_EQ(r.fa->stats.fault_dropped, 0);
    FN_CHECK_EQ(rig_close(&r), 0);
}

FN_TEST(fault_reorder_hold_times_out)
{
    struct fn_fault_params fp = {.seed = 9, .tx = {.reorder_ppm = 1000000}};
    struct rig r;
    struct fn_pkt *pk[8];

    FN_CHECK_EQ(rig_open(&r, &fp), 0);
    pk[0] = make_frame(r.pa, 1, 60);
    pk[1] = make_frame(r.pa, 2, 60);
    pk[2] = make_frame(r.pa, 3, 60);
    FN_CHECK_EQ(fn_backend_tx(r.fa, pk, 3, 0), 3);
    /* 1 held, 2 out then 1, 3 held */
    FN_CHECK_EQ(fn_backend_rx(r.b, pk, 8, 0), 2);
    FN_CHECK(frame_seq(pk[0]) == 2 && frame_seq(pk[1]) == 1);
    free_all(pk, 2);
    FN_CHECK_EQ(fn_backend_next_deadline(r.fa), 1000000);
    FN_CHECK_EQ(fn_backend_flush(r.fa, 999999), 0);
    FN_CHECK_EQ(fn_backend_rx(r.b, pk, 8, 0), 0);
    FN_CHECK_EQ(fn_backend_flush(r.fa, 1000000), 0);
    FN_CHECK_EQ(fn_backend_rx(r.b, pk, 8, 0), 1);
    FN_CHECK_EQ(frame_seq(pk[0]), 3);
    fn_pkt_free(pk[0]);
    FN_CHECK_EQ(rig_close(&r), 0);
}

FN_TEST(fault_rate_limit_bucket)
{
    /* 8 Mbit/s = 1 byte per us, 10000-byte bucket, 1000-byte frames */
    struct fn_fault_params fp = {.seed = 1, .tx = {.rate_bps = 8000000, .burst_bytes = 10000}};
    struct rig r;
    struct fn_pkt *pk[32];
    int n, passed = 0;

    FN_CHECK_EQ(rig_open(&r, &fp), 0);
    for (int i = 0; i < 20; i++)
        pk[i] = make_frame(r.pa, (uint32_t)i, 1000);
    fn_backend_tx(r.fa, pk, 20, 0);
    FN_CHECK_EQ(r.fa->stats.fault_rate_limited, 10); /* the burst */
    free_all(pk, fn_backend_rx(r.b, pk, 32, 0));
    /* 5 ms later: 5000 bytes of tokens */
    for (int i = 0; i < 10; i++)
        pk[i] = make_frame(r.pa, (uint32_t)i, 1000);
    fn_backend_tx(r.fa, pk, 10, 5000000);
    FN_CHECK_EQ(r.fa->stats.fault_rate_limited, 15);
    free_all(pk, fn_backend_rx(r.b, pk, 32, 0));
    /* a long pause fills the bucket to its depth, not beyond */
    for (int i = 0; i < 20; i++)
        pk[i] = make_frame(r.pa, (uint32_t)i, 1000);
    fn_backend_tx(r.fa, pk, 20, 1000000000);
    FN_CHECK_EQ(r.fa->stats.fault_rate_limited, 25);
    free_all(pk, fn_backend_rx(r.b, pk, 32, 0));
    /* sustained: 2 MB/s offered for one second, 1 MB/s + one bucket goes through */
    for (uint64_t t = 2000000000; t < 3000000000; t += 500000) {
        pk[0] = make_frame(r.pa, 0, 1000);
        fn_backend_tx(r.fa, pk, 1, t);
        n = fn_backend_rx(r.b, pk, 32, t);
        passed += n;
        free_all(pk, n);
    }
    FN_CHECK(passed >= 1000 + 9 && passed <= 1000 + 11);
    FN_CHECK_EQ(rig_close(&r), 0);
}

FN_TEST(fault_close_frees_held_frames)
{
    struct fn_fault_params fp = {.seed = 11, .rx = all_faults, .tx = all_faults};
    struct rig r;
    struct fn_pkt *pk[64];

    fp.rx.delay_ns = fp.tx.delay_ns = 1000000000;
    fp.rx.reorder_ppm = fp.tx.reorder_ppm = 500000;
    FN_CHECK_EQ(rig_open(&r, &fp), 0);
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < 64; i++)
            pk[i] = make_frame(r.pa, (uint32_t)i, 200);
        fn_backend_tx(r.fa, pk, 64, 100);
        for (int i = 0; i < 64; i++)
            pk[i] = make_frame(r.pb, (uint32_t)i, 200);
        fn_backend_tx(r.b, pk, 64, 100);
        /* take only a few: the rest stays inside the wrapper */
        free_all(pk, fn_backend_rx(r.fa, pk, 3, 100));
    }
    FN_CHECK(r.fa->stats.fault_delayed > 0 && pool_in_use(r.pa) > 0);
    /* every buffer of pa still in use is one the wrapper (or a's ring) holds */
    FN_CHECK_EQ(pool_in_use(r.pa), r.fa->stats.held);
    FN_CHECK_EQ(rig_close(&r), 0);
}

/* A link that goes dark and comes back: fn_backend_fault_set on a wrapper in use. */
FN_TEST(fault_set_replaces_faults_in_use)
{
    struct fn_fault_params none = {.seed = 13};
    struct fn_fault_params dark = {.seed = 13, .rx = {.drop_ppm = 1000000},
                                   .tx = {.drop_ppm = 1000000}};
    struct rig r;

    FN_CHECK_EQ(rig_open(&r, &none), 0);
    run_traffic(&r, 0, 100, 10, 64, &trace_x);
    FN_CHECK_EQ(trace_x.n, 100);
    FN_CHECK_EQ(fn_backend_fault_set(r.fa, &dark), 0);
    run_traffic(&r, 0, 100, 10, 64, &trace_x);
    FN_CHECK_EQ(trace_x.n, 0);
    run_traffic(&r, 1, 100, 10, 64, &trace_x);
    FN_CHECK_EQ(trace_x.n, 0);
    FN_CHECK_EQ(r.fa->stats.fault_dropped, 200);
    FN_CHECK_EQ(fn_backend_fault_set(r.fa, &none), 0);
    run_traffic(&r, 1, 100, 10, 64, &trace_x);
    FN_CHECK_EQ(trace_x.n, 100);
    /* only a fault wrapper takes new faults */
    FN_CHECK_EQ(fn_backend_fault_set(r.b, &dark), -EINVAL);
    FN_CHECK_EQ(fn_backend_fault_set(r.fa, NULL), -EINVAL);
    FN_CHECK_EQ(rig_close(&r), 0);
}

FN_TEST(fault_dup_with_empty_pool_is_skipped)
{
    struct fn_fault_params fp = {.seed = 12, .tx = {.dup_ppm = 1000000}};
    struct fn_pool *pa, *pb;
    struct fn_backend *a, *b, *fa;
    struct fn_pkt *pk[8];

    FN_CHECK_EQ(fn_pool_create(4, 2048, 0, &pa), 0);
    FN_CHECK_EQ(fn_pool_create(64, 2048, 0, &pb), 0);
    FN_CHECK_EQ(fn_backend_memory_pair(pa, pb, 1500, NULL, NULL, &a, &b), 0);
    FN_CHECK_EQ(fn_backend_fault_wrap(a, &fp, &fa), 0);
    for (int i = 0; i < 4; i++)
        pk[i] = make_frame(pa, (uint32_t)i, 60);
    FN_CHECK_EQ(fn_backend_tx(fa, pk, 4, 0), 4);
    FN_CHECK_EQ(fa->stats.fault_duplicated, 0);
    FN_CHECK_EQ(fn_backend_rx(b, pk, 8, 0), 4);
    free_all(pk, 4);
    pk[0] = make_frame(pa, 9, 60);
    FN_CHECK_EQ(fn_backend_tx(fa, pk, 1, 0), 1);
    FN_CHECK_EQ(fa->stats.fault_duplicated, 1);
    FN_CHECK_EQ(fn_backend_rx(b, pk, 8, 0), 2);
    free_all(pk, 2);
    fn_backend_close(fa);
    fn_backend_close(b);
    FN_CHECK_EQ(fn_pool_destroy(pa), 0);
    FN_CHECK_EQ(fn_pool_destroy(pb), 0);
}


/* ---- pcap wrapper ---- */

static uint32_t rd32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

FN_TEST(pcap_writes_readable_file)
{
    char path[] = "/tmp/fn_test_backend_XXXXXX.pcap";
    struct fn_pool *pa, *pb;
    struct fn_backend *a, *b, *pa_be;
    struct fn_pkt *pk[8];
    struct timespec mono, real;
    uint8_t buf[65536];
    size_t flen, off;
    FILE *f;
    int fd, recs = 0;
    uint64_t now;
    const uint32_t lens[5] = {60, 1514, 99, 42, 1000};

    fd = mkstemps(path, 5);
    FN_CHECK(fd >= 0);
    close(fd);
    FN_CHECK_EQ(fn_pool_create(64, 2048, 0, &pa), 0);
    FN_CHECK_EQ(fn_pool_create(64, 2048, 0, &pb), 0);
    FN_CHECK_EQ(fn_backend_memory_pair(pa, pb, 1500, NULL, NULL, &a, &b), 0);
    FN_CHECK_EQ(fn_backend_pcap_wrap(a, "/nonexistent-dir/x.pcap", &pa_be), -ENOENT);
    FN_CHECK_EQ(fn_backend_pcap_wrap(a, path, &pa_be), 0);
    FN_CHECK(memcmp(pa_be->mac, a->mac, 6) == 0 && pa_be->mtu == 1500);

    clock_gettime(CLOCK_MONOTONIC, &mono);
    clock_gettime(CLOCK_REALTIME, &real);
    now = (uint64_t)mono.tv_sec * 1000000000u + (uint64_t)mono.tv_nsec;
    /* three frames out, two frames in */
    for (int i = 0; i < 3; i++)
        pk[i] = make_frame(pa, (uint32_t)i, lens[i]);
    FN_CHECK_EQ(fn_backend_tx(pa_be, pk, 3, now), 3);
    FN_CHECK_EQ(pa_be->stats.tx_packets, 3);
    FN_CHECK_EQ(fn_backend_flush(pa_be, now), 0);
    free_all(pk, fn_backend_rx(b, pk, 8, now));
    for (int i = 3; i < 5; i++)
        pk[i - 3] = make_frame(pb, (uint32_t)i, lens[i]);
    FN_CHECK_EQ(fn_backend_tx(b, pk, 2, now), 2);
    FN_CHECK_EQ(fn_backend_rx(pa_be, pk, 8, now + 1500000000u), 2);
    free_all(pk, 2);
    FN_CHECK_EQ(pa_be->stats.rx_packets, 2);
    fn_backend_close(pa_be);
    fn_backend_close(b);
    FN_CHECK_EQ(fn_pool_destroy(pa), 0);
    FN_CHECK_EQ(fn_pool_destroy(pb), 0);

    f = fopen(path, "rb");
    FN_CHECK(f != NULL);
    flen = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    FN_CHECK(flen >= 24);
    FN_CHECK_EQ(rd32(buf), 0xa1b23c4du);
    FN_CHECK(buf[4] == 2 && buf[5] == 0 && buf[6] == 4 && buf[7] == 0); /* little endian */
    FN_CHECK_EQ(rd32(buf + 8), 0);
    FN_CHECK_EQ(rd32(buf + 12), 0);
    FN_CHECK_EQ(rd32(buf + 16), 262144);
    FN_CHECK_EQ(rd32(buf + 20), 1);
    for (off = 24; off + 16 <= flen; recs++) {
        uint32_t incl = rd32(buf + off + 8), orig = rd32(buf + off + 12);
        int64_t sec = rd32(buf + off), nsec = rd32(buf + off + 4);
        int64_t expect = real.tv_sec + (recs >= 3 ? 1 : 0);
        struct fn_pkt fake = {.data = buf + off + 16, .len = incl};

        FN_CHECK(recs < 5);
        FN_CHECK(nsec < 1000000000);
        /* wall time within a second of what the clock said (rx records 1.5 s later) */
        FN_CHECK(sec >= expect - 1 && sec <= expect + 2);
        FN_CHECK_EQ(incl, lens[recs]);
        FN_CHECK_EQ(orig, lens[recs]);
        FN_CHECK(off + 16 + incl <= flen);
        FN_CHECK_EQ(frame_seq(&fake), recs);
        FN_CHECK(frame_intact(&fake, lens[recs]));
        off += 16 + incl;
    }
    FN_CHECK_EQ(recs, 5);
    FN_CHECK_EQ(off, flen);

    if (system("command -v tcpdump >/dev/null 2>&1") == 0) {
        char cmd[256];
        snprintf(cmd, sizeof(cmd), "tcpdump -nn -r %s 2>/dev/null | wc -l", path);
        f = popen(cmd, "r");
        FN_CHECK(f != NULL);
        FN_CHECK(fgets((char *)buf, sizeof(buf), f) != NULL);
        pclose(f);
        FN_CHECK_EQ(atoi((char *)buf), 5);
        snprintf(cmd, sizeof(cmd), "tcpdump -nn -r %s >/dev/null 2>&1", path);
        FN_CHECK_EQ(system(cmd), 0);
    } else {
        printf("  (skipped tcpdump -r check: tcpdump not found)\n");
    }
    unlink(path);
}


/* ---- opening by name (no network needed: these fail before touching one) ---- */

FN_TEST(open_by_name_errors)
{
    struct fn_pool *p;
    struct fn_backend *be = (struct fn_backend *)1;
    struct fn_backend_params params = {.ifname = "fn-no-such-if0"};
    const char *err = NULL;

    FN_CHECK_EQ(fn_pool_create(8, 2048, 0, &p), 0);
    FN_CHECK_EQ(fn_backend_open("bogus", &params, p, &be, &err), -EINVAL);
    FN_CHECK(be == NULL && err && strstr(err, "unknown backend"));
    FN_CHECK_EQ(fn_backend_open(NULL, &params, p, &be, NULL), -EINVAL);
    err = NULL;
    FN_CHECK_EQ(fn_backend_open("af_packet", &params, p, &be, &err), -ENODEV);
    FN_CHECK(be == NULL && err && strstr(err, "no such interface"));
    params.ifname = "a-name-far-too-long-for-linux";
    err = NULL;
    FN_CHECK_EQ(fn_backend_open("tap", &params, p, &be, &err), -EINVAL);
    FN_CHECK(be == NULL && err != NULL);
    FN_CHECK_EQ(fn_pool_destroy(p), 0);
}

/* napi_poll is af_xdp's: the other backends refuse it before opening anything (an interface
 * that exists would otherwise open), and af_xdp refuses a hold time beyond its limit. */
FN_TEST(napi_poll_refused_off_af_xdp)
{
    struct fn_pool *p;
    struct fn_backend *be = (struct fn_backend *)1;
    struct fn_backend_params params = {.ifname = "lo", .napi_poll = 1};
    const char *err = NULL;

    FN_CHECK_EQ(fn_pool_create(128, 2048, 0, &p), 0);
    FN_CHECK_EQ(fn_backend_open("af_packet", &params, p, &be, &err), -EINVAL);
    FN_CHECK(be == NULL && err && strstr(err, "napi_poll"));
    err = NULL;
    FN_CHECK_EQ(fn_backend_open("tap", &params, p, &be, &err), -EINVAL);
    FN_CHECK(be == NULL && err && strstr(err, "napi_poll"));
    params.napi_hold_us = FN_NAPI_HOLD_US_MAX + 1;
    err = NULL;
    be = (struct fn_backend *)1;
    FN_CHECK_EQ(fn_backend_open("af_xdp", &params, p, &be, &err), -EINVAL);
    FN_CHECK(be == NULL && err && strstr(err, "napi_hold_us"));
    FN_CHECK_EQ(fn_pool_destroy(p), 0);
}

/* Adaptive rx moderation is af_xdp's too; AUTO (the default, 0) is nothing to do elsewhere
 * and opens; an unknown value is refused by every backend. */
FN_TEST(rx_moderation_adaptive_refused_off_af_xdp)
{
    struct fn_pool *p;
    struct fn_backend *be = (struct fn_backend *)1;
    struct fn_backend_params params = {.ifname = "lo",
                                       .rx_moderation = FN_RX_MODERATION_ADAPTIVE};
    const char *err = NULL;

    FN_CHECK_EQ(fn_pool_create(128, 2048, 0, &p), 0);
    FN_CHECK_EQ(fn_backend_open("af_packet", &params, p, &be, &err), -EINVAL);
    FN_CHECK(be == NULL && err && strstr(err, "rx_moderation"));
    err = NULL;
    be = (struct fn_backend *)1;
    FN_CHECK_EQ(fn_backend_open("tap", &params, p, &be, &err), -EINVAL);
    FN_CHECK(be == NULL && err && strstr(err, "rx_moderation"));
    params.rx_moderation = 7;
    err = NULL;
    be = (struct fn_backend *)1;
    FN_CHECK_EQ(fn_backend_open("af_xdp", &params, p, &be, &err), -EINVAL);
    FN_CHECK(be == NULL && err && strstr(err, "rx_moderation"));
    FN_CHECK_EQ(fn_pool_destroy(p), 0);
}

FN_TEST_MAIN()
