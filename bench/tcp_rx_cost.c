/*
 * tcp_rx_cost.c — the receive-path cost benchmark (issue 3): instructions per in-order
 * full-size data segment and per pure ACK, from the backend's rx ring to the socket buffer.
 *
 * Contract: a standalone program, not part of the stack.  It sets up one ESTABLISHED
 * connection between stack A (fastnet) and a peer played by the program on the raw end of
 * the in-memory link (stack/tests/tcp_harness.h), with timestamps and window scaling on as
 * with a Linux peer.  Every frame of the measured region is built before the measurement
 * starts; per batch of cfg.rx_batch frames the program puts them in A's receive ring (not
 * measured), then runs one fn_stack_poll() — and in the drain mode the application's
 * fn_tcp_ready()/fn_tcp_recv() — inside the measured region, then consumes what A sent (not
 * measured).  The memory backend sets no checksum flags, so A verifies every TCP checksum in
 * software on the measured path, as it does behind af_packet or tap; before measuring, the
 * program checks that a corrupted frame is indeed dropped for its checksum.
 *
 * The measured region is marked with callgrind client requests (run under
 * `valgrind --tool=callgrind --collect-atstart=no`); without valgrind they cost nothing and
 * the program is its own smoke test.  Per-segment figures come from two runs with different
 * K: (Ir(K2) - Ir(K1)) / (K2 - K1) cancels everything outside the per-segment work
 * (bench/tcp_rx_cost.py does that).
 *
 * Modes:
 *   data        K in-order full-size data segments, nobody reads (large receive buffer)
 *   data-drain  the same, and the application drains the receive buffer after every poll
 *   ack         K pure ACKs, each acknowledging one more full-size segment of data in flight
 *               (everything was sent before the measurement, so no ACK releases new data)
 *   send-64k    the send side: the peer's window holds 64 KiB (send-1m: 1 MiB) in flight;
 *   send-1m     each of the K pure ACKs acknowledges one segment and moves the window's right
 *               edge by as much, so A sends exactly one new full-size segment per ACK — the
 *               output part of the figure is the cost of sending a segment with that much
 *               data in flight (copying it out of the send chain must not grow with it)
 *
 * Output: one line of JSON per mode with the counter deltas of the measured region.  Exit
 * status 0 only if setup worked, every one of the K segments was taken by header prediction,
 * the application saw every byte (drain mode), and the stack ended with no tcpcb and no
 * packet buffer in use; 1 otherwise, 2 for bad arguments.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench_harness.h"

#define P_WSCALE 7              /* the peer's window: 65535 << 7, never the limit here */
#define BENCH_RCVBUF (64u << 20) /* the data mode keeps every segment: K2 must fit */
#define BENCH_SNDBUF (16u << 20) /* the ack mode sends all its data before measuring */
#define BENCH_POOL 16384u
#define POLL_STEP_NS 1000u      /* virtual time per poll: far below every TCP timer */

enum mode { MODE_DATA, MODE_DRAIN, MODE_ACK, MODE_SEND_64K, MODE_SEND_1M, MODE_END };
static const char *const mode_names[] = {"data", "data-drain", "ack", "send-64k", "send-1m"};
/* The peer's window in the send modes (a multiple of 1 << P_WSCALE), 0 otherwise. */
static const uint32_t mode_window[] = {0, 0, 0, 64u << 10, 1u << 20};

struct bench {
    struct tnet t;
    struct fn_config c;
    struct tcpcb *l, *tp;
    struct peer p;
    uint32_t seg;               /* full-size payload: MSS minus the timestamp option */
    uint8_t *frames;            /* K prebuilt frames of TT_FRAME_MAX bytes */
    uint32_t *flen;
    uint64_t drained;           /* bytes the application read in the measured region */
};

static void die(const char *what)
{
    fprintf(stderr, "tcp_rx_cost: %s\n", what);
    exit(1);
}

/* Connection set-up as with a Linux peer: MSS 1460, window scale, timestamps; the third
 * ACK offers the window `win` (bytes; 0: the largest). */
static void bench_open(struct bench *b, uint32_t win)
{
    struct rseg r;

    tt_cfg(&b->c);
    b->c.tcp_timestamps = 1;
    b->c.tcp_window_scaling = 1;
    b->c.tcp_rcvbuf = BENCH_RCVBUF;
    b->c.tcp_sndbuf = BENCH_SNDBUF;
    /* The ack mode needs K2 segments in flight at once, without a slow-start warm-up. */
    b->c.tcp_initcwnd_segs = BENCH_POOL;
    if (tnet_open(&b->t, &b->c, NULL, BENCH_POOL, 1500) != 0)
        die("stack set-up failed");
    tnet_teach_b(&b->t);
    if (fn_tcp_listen(b->t.sa, A_PORT, 4, &b->l) != 0)
        die("listen failed");
    tt_peer_init(&b->p, &b->t, 7000);
    b->p.ts = 1;
    tt_send_syn(&b->p, P_MSS, P_WSCALE, 0);
    if (tt_read(&b->t, &r) != 1 || r.th.flags != (FN_TH_SYN | FN_TH_ACK) || !r.to.has_ts ||
        !r.to.has_wscale)
        die("no SYN-ACK with timestamps and window scale");
    b->p.a_iss = r.th.seq;
    b->p.tsecr = r.to.tsval;
    if (win)
        b->p.win = (uint16_t)(win >> P_WSCALE);
    tt_inject(&b->p, 1, 1, FN_TH_ACK, NULL, 0);
    b->tp = fn_tcp_accept(b->l);
    if (!b->tp || fn_tcp_state(b->tp) != TCPS_ESTABLISHED)
        die("handshake failed");
    b->seg = tcp_maxseg(b->tp);
    tt_events(&b->t, b->tp);
}

static void bench_close(struct bench *b)
{
    fn_tcp_abort(b->tp, b->t.now);
    fn_tcp_close(b->l, b->t.now);
    tnet_drain(&b->t);
    if (fn_tcp_count(b->t.sa) != 0)
        die("tcpcbs left at the end");
    if (tnet_close(&b->t) != 0)
        die("packet buffers left at the end");
}

/* What a real application does with a readable connection: read until EAGAIN. */
static void app_drain(struct bench *b)
{
    static uint8_t buf[65536];
    struct fn_tcp_event ev[FN_MAX_BATCH];
    int n = fn_tcp_ready(b->t.sa, ev, FN_MAX_BATCH);

    for (int i = 0; i < n; i++) {
        int got;
        if (!(ev[i].events & FN_TCP_EV_READABLE))
            continue;
        while ((got = fn_tcp_recv(ev[i].tp, buf, sizeof(buf), b->t.now)) > 0)
            b->drained += (uint64_t)got;
    }
}

/* Feed frames [0, k) in batches of rx_batch; only the polls (and the drain) are measured
 * when `measured`.  A's output is consumed by the peer after each poll. */
static void feed(struct bench *b, uint32_t k, enum mode m, int measured)
{
    uint32_t batch = b->c.rx_batch;

    for (uint32_t i = 0; i < k; i += batch) {
        uint32_t n = k - i < batch ? k - i : batch;
        for (uint32_t j = 0; j < n; j++)
            tnet_queue(&b->t, b->frames + (size_t)(i + j) * TT_FRAME_MAX, b->flen[i + j]);
        if (measured)
            CALLGRIND_TOGGLE_COLLECT;
        fn_stack_poll(b->t.sa, b->t.now);
        if (m == MODE_DRAIN)
            app_drain(b);
        if (measured)
            CALLGRIND_TOGGLE_COLLECT;
        tnet_drain(&b->t);
        b->t.now += POLL_STEP_NS;
    }
}

/* Data segments: stream bytes [first * seg, (first + k) * seg) of the peer, acknowledging
 * nothing new (A sends no data). */
static void build_data(struct bench *b, uint32_t first, uint32_t k)
{
    static uint8_t payload[2048];

    for (uint32_t i = 0; i < b->seg; i++)
        payload[i] = (uint8_t)(i * 7 + 3);
    for (uint32_t i = 0; i < k; i++)
        b->flen[i] = tt_build(&b->p, b->frames + (size_t)i * TT_FRAME_MAX,
                              1 + (first + i) * b->seg, 1, FN_TH_ACK, payload, b->seg);
}

/* Pure ACKs: the i-th acknowledges A's stream up to (first + i + 1) segments. */
static void build_acks(struct bench *b, uint32_t first, uint32_t k)
{
    for (uint32_t i = 0; i < k; i++)
        b->flen[i] = tt_build(&b->p, b->frames + (size_t)i * TT_FRAME_MAX, 1,
                              1 + (first + i + 1) * b->seg, FN_TH_ACK, NULL, 0);
}

/* The measured path must verify the TCP checksum in software as behind a real backend
 * without checksum offload: the memory backend claims no rx checksum flags, and a copy of
 * the first measured frame with one bit flipped in its last byte must be dropped as
 * drop_l4_bad_csum, not taken by TCP. */
static void check_software_csum(struct bench *b)
{
    static uint8_t f[TT_FRAME_MAX];
    struct fn_stats s0, s1;
    uint32_t len = b->flen[0];

    if (fn_stack_backend(b->t.sa)->caps & FN_BE_CAP_RX_CSUM_FLAGS)
        die("the backend offloads rx checksums: the measurement would not verify them");
    memcpy(f, b->frames, len);
    f[len - 1] ^= 1;
    fn_stack_get_stats(b->t.sa, &s0);
    tnet_queue(&b->t, f, len);
    fn_stack_poll(b->t.sa, b->t.now);
    tnet_drain(&b->t);
    fn_stack_get_stats(b->t.sa, &s1);
    if (s1.drop_l4_bad_csum != s0.drop_l4_bad_csum + 1 || s1.tcp_rx != s0.tcp_rx)
        die("a segment with a bad checksum was not dropped by software verification");
}

/* Queue total bytes for sending and let A send what the windows allow. */
static void queue_send(struct bench *b, uint64_t total)
{
    static uint8_t chunk[65536];
    uint64_t queued = 0;

    while (queued < total) {
        uint32_t want = total - queued < sizeof(chunk) ? (uint32_t)(total - queued)
                                                      : (uint32_t)sizeof(chunk);
        int got = fn_tcp_send(b->tp, chunk, want, b->t.now);
        if (got <= 0)
            die("send buffer full in set-up");
        queued += (uint64_t)got;
    }
    fn_stack_poll(b->t.sa, b->t.now);
    tnet_drain(&b->t);
}

static int run(enum mode m, uint32_t k, uint32_t warmup)
{
    struct bench b;
    struct fn_stats s0, s1;
    uint32_t n = k > warmup ? k : warmup;
    int ok, send = m == MODE_SEND_64K || m == MODE_SEND_1M;

    memset(&b, 0, sizeof(b));
    b.frames = malloc((size_t)n * TT_FRAME_MAX);
    b.flen = malloc((size_t)n * sizeof(*b.flen));
    if (!b.frames || !b.flen)
        die("out of memory");
    bench_open(&b, mode_window[m]);

    if (send) {
        uint32_t w = mode_window[m];
        /* The window's worth goes out now; every later ACK releases one more segment. */
        queue_send(&b, (uint64_t)w + (uint64_t)(warmup + k + 1) * b.seg);
        if (b.tp->snd_max - b.tp->snd_una != w / b.seg * b.seg)
            die("the window's worth of data not in flight before the measurement");
        build_acks(&b, 0, warmup);
        feed(&b, warmup, m, 0);
        build_acks(&b, warmup, k);
    } else if (m == MODE_ACK) {
        uint64_t total = (uint64_t)(warmup + k) * b.seg;
        /* All data goes out now: cwnd and the peer's window allow it. */
        queue_send(&b, total);
        if (b.tp->snd_max - b.tp->snd_una != total || b.tp->snd_nxt != b.tp->snd_max)
            die("data not all in flight before the measurement");
        build_acks(&b, 0, warmup);
        feed(&b, warmup, m, 0);
        build_acks(&b, warmup, k);
    } else {
        build_data(&b, 0, warmup);
        feed(&b, warmup, m, 0);
        build_data(&b, warmup, k);
    }
    check_software_csum(&b);
    tt_events(&b.t, b.tp);
    b.drained = 0;

    fn_stack_get_stats(b.t.sa, &s0);
    feed(&b, k, m, 1);
    fn_stack_get_stats(b.t.sa, &s1);

    printf("{\"mode\": \"%s\", \"k\": %u, \"seg_bytes\": %u, \"rx_batch\": %u, "
           "\"tcp_rx\": %llu, \"hdrpred_data\": %llu, \"hdrpred_ack\": %llu, "
           "\"rx_bytes\": %llu, \"drained\": %llu, \"tcp_tx\": %llu, \"drop_l4_bad_csum\": %llu}\n",
           mode_names[m], k, b.seg, b.c.rx_batch,
           (unsigned long long)(s1.tcp_rx - s0.tcp_rx),
           (unsigned long long)(s1.tcp_rx_hdrpred_data - s0.tcp_rx_hdrpred_data),
           (unsigned long long)(s1.tcp_rx_hdrpred_ack - s0.tcp_rx_hdrpred_ack),
           (unsigned long long)(s1.tcp_rx_bytes - s0.tcp_rx_bytes),
           (unsigned long long)b.drained, (unsigned long long)(s1.tcp_tx - s0.tcp_tx),
           (unsigned long long)(s1.drop_l4_bad_csum - s0.drop_l4_bad_csum));
    ok = s1.tcp_rx - s0.tcp_rx == k;
    if (send)
        ok = ok && s1.tcp_rx_hdrpred_ack - s0.tcp_rx_hdrpred_ack == k &&
             s1.tcp_tx - s0.tcp_tx == k && s1.tcp_tx_bytes - s0.tcp_tx_bytes == (uint64_t)k * b.seg;
    else if (m == MODE_ACK)
        ok = ok && s1.tcp_rx_hdrpred_ack - s0.tcp_rx_hdrpred_ack == k &&
             b.tp->snd_una == b.tp->snd_max && s1.tcp_tx == s0.tcp_tx;
    else
        ok = ok && s1.tcp_rx_hdrpred_data - s0.tcp_rx_hdrpred_data == k &&
             s1.tcp_rx_bytes - s0.tcp_rx_bytes == (uint64_t)k * b.seg &&
             (m != MODE_DRAIN || b.drained == (uint64_t)k * b.seg);
    bench_close(&b);
    free(b.frames);
    free(b.flen);
    return ok;
}

static void usage(void)
{
    fprintf(stderr, "usage: tcp_rx_cost [--mode data|data-drain|ack|send-64k|send-1m|all] "
                    "[--k N] "
                    "[--warmup N]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"mode", required_argument, NULL, 'm'},
        {"k", required_argument, NULL, 'k'},
        {"warmup", required_argument, NULL, 'w'},
        {NULL, 0, NULL, 0},
    };
    const char *mode = "all";
    long k = 1000, warmup = 64;
    int c, ok = 1, any = 0;

    while ((c = getopt_long(argc, argv, "m:k:w:", opts, NULL)) != -1) {
        switch (c) {
        case 'm':
            mode = optarg;
            break;
        case 'k':
            k = strtol(optarg, NULL, 10);
            break;
        case 'w':
            warmup = strtol(optarg, NULL, 10);
            break;
        default:
            usage();
        }
    }
    /* The ack mode has warmup + k segments in flight: they must fit the peer's window. */
    if (k < 1 || warmup < 1 || k + warmup > 4096 || optind != argc)
        usage();
    /* The deliberately corrupted frame of check_software_csum would log a warning. */
    fn_log_set_level(FN_LOG_ERROR);
    for (int m = MODE_DATA; m < MODE_END; m++) {
        if (strcmp(mode, "all") != 0 && strcmp(mode, mode_names[m]) != 0)
            continue;
        any = 1;
        if (!run((enum mode)m, (uint32_t)k, (uint32_t)warmup))
            ok = 0;
    }
    if (!any)
        usage();
    return ok ? 0 : 1;
}
