/*
 * test_tcp_cubic.c — CUBIC (RFC 9438) and congestion-control selection.
 *
 * The hook arithmetic against the RFC's formulas (ACKs fed straight to the hooks over
 * virtual time, the cwnd trace compared with W(t) computed in floating point here): the
 * integer cube root, K, the β = 0.7 cut, fast convergence, the concave and convex regions,
 * the Reno-friendly region at small BDP, the timeout case.  Then segment by segment: no
 * growth (and no CUBIC time) while application-limited, the restart window after idle for
 * both algorithms, the selection API and knob; and a transfer over the lossy memory link
 * with CUBIC selected on both connections.
 */
#include "tcp_xfer.h"

#include "tcp/cc/cubic.h"
#include "tcp/tcp_ack.h"

#define M 1460u                 /* SMSS of the TT_SETUP connections (no timestamps) */

static struct cubic cstate(const struct tcpcb *tp)
{
    struct cubic cs;

    memcpy(&cs, tp->ccv.cc_data, sizeof(cs));
    return cs;
}

/* Reference arithmetic, in doubles, straight from RFC 9438 §4.2 (segments and seconds). */
static double ref_cbrt(double x)
{
    double y = x > 1 ? x / 3 : 1;

    for (int i = 0; i < 200; i++)
        y -= (y * y * y - x) / (3 * y * y);
    return y;
}

static double ref_k(double w_max, double cwnd_epoch)
{
    return ref_cbrt((w_max - cwnd_epoch) / 0.4);
}

static double ref_w(double w_max, double k, double t)
{
    return 0.4 * (t - k) * (t - k) * (t - k) + w_max;
}

/* One new ACK of one SMSS for a cwnd-limited flight at `now`, as ack_new passes it. */
static void ack_once(struct tcpcb *tp, uint64_t now, uint64_t rtt)
{
    tp->ccv.now = now;
    tp->ccv.srtt = rtt;
    tp->ccv.flags = CCF_CWND_LIMITED;
    tp->ccv.bytes_this_ack = M;
    tp->ccv.flight = tp->snd_cwnd;
    tp->cc_algo->ack_received(&tp->ccv, CC_ACK);
}

/* One RTT of a cwnd-limited flow, fed to the hooks: the window at the start of the RTT is
 * acked in SMSS-sized ACKs spread evenly over it. */
static void ack_one_rtt(struct tcpcb *tp, uint64_t *now, uint64_t rtt)
{
    uint32_t n = tp->snd_cwnd / M;
    uint64_t start = *now;

    for (uint32_t i = 1; i <= n; i++) {
        *now = start + rtt * i / n;
        ack_once(tp, *now, rtt);
    }
}

/* A loss by three duplicate ACKs with cwnd (and flight) `cwnd`, then the end of recovery:
 * what the transport does around the hooks (tcp_input.c). */
static void loss_and_recovery(struct tcpcb *tp, uint32_t cwnd, uint64_t now)
{
    tp->snd_cwnd = cwnd;
    tp->ccv.flight = cwnd;
    tp->ccv.now = now;
    tp->cc_algo->cong_signal(&tp->ccv, CC_NDUPACK);
    tp->snd_cwnd = tp->snd_ssthresh + 3 * M;
    tp->ccv.flight = cwnd;
    tp->cc_algo->post_recovery(&tp->ccv);
}

FN_TEST(integer_cube_root)
{
    /* Exact on cubes, floor just below them, across the whole 64-bit range. */
    for (uint64_t y = 1; y <= 2642245; y += (y < 5000 ? 1 : y / 997)) {
        FN_CHECK_EQ(cubic_cbrt(y * y * y), y);
        FN_CHECK_EQ(cubic_cbrt(y * y * y - 1), y - 1);
        if (y < 2642245)
            FN_CHECK_EQ(cubic_cbrt(y * y * y + 3 * y * y), y);
    }
    FN_CHECK_EQ(cubic_cbrt(0), 0);
    FN_CHECK_EQ(cubic_cbrt(UINT64_MAX), 2642245);   /* 2642245³ < 2⁶⁴ < 2642246³ */
}

FN_TEST(k_and_w_match_the_formula)
{
    /* K = cbrt(W_max·(1 − β)/C) after a β cut, rounded down to the millisecond: W(0) is
     * at or above where the epoch started, and would be below it with K one ms later;
     * W(K) = W_max; the curve is point-symmetric around K. */
    static const uint32_t wmax_segs[] = {10, 20, 100, 1000, 40000};

    for (unsigned i = 0; i < sizeof(wmax_segs) / sizeof(wmax_segs[0]); i++) {
        uint32_t wmax = wmax_segs[i] * M, epoch = wmax / 10 * 7;
        double kref = ref_k(wmax / (double)M, epoch / (double)M) * 1000;
        uint32_t k = cubic_k_ms(wmax, epoch, M);

        FN_CHECK(k >= kref - 1.0 && k <= kref + 0.0001);
        FN_CHECK_EQ(cubic_w(wmax, k, k, M), wmax);
        FN_CHECK(cubic_w(wmax, k, 0, M) >= epoch);
        FN_CHECK(cubic_w(wmax, k + 1, 0, M) <= epoch);
        FN_CHECK_EQ(cubic_w(wmax, k, 2ull * k, M) - wmax, wmax - cubic_w(wmax, k, 0, M));
    }
    /* W_max = 100 segments, cwnd_epoch = 70: K = cbrt(75) s = 4.217 s. */
    FN_CHECK_EQ(cubic_k_ms(100 * M, 70 * M, M), 4217);
    /* The convex region 10 s after K: 0.4·10³ = 400 segments above W_max. */
    FN_CHECK_EQ(cubic_w(100 * M, 4217, 14217, M), 500 * M);
    /* Nothing to climb back to: K = 0.  Far beyond any window: clamped, no overflow. */
    FN_CHECK_EQ(cubic_k_ms(70 * M, 70 * M, M), 0);
    FN_CHECK_EQ(cubic_w(100 * M, 0, 1ull << 40, 65535), CC_CWND_MAX);
    FN_CHECK_EQ(cubic_w(100 * M, 4217, 0, 65535), 0);
}

FN_TEST(beta_cut_and_fast_convergence)
{
    struct cubic cs;

    TT_SETUP(1000, (void)0, (void)0);
    FN_CHECK(strcmp(fn_tcp_cc_name(tp), "cubic") == 0);      /* the default */
    /* The first loss: ssthresh = 0.7·flight (RFC 9438 §4.6), W_max = cwnd. */
    loss_and_recovery(tp, 100 * M, t.now);
    cs = cstate(tp);
    FN_CHECK_EQ(tp->snd_ssthresh, 70 * M);
    FN_CHECK_EQ(tp->snd_cwnd, 70 * M);                       /* recovery ends at ssthresh */
    FN_CHECK_EQ(cs.w_max, 100 * M);
    FN_CHECK_EQ(cs.cwnd_prior, 100 * M);
    FN_CHECK(!(cs.flags & CUBIC_F_EPOCH));
    /* A loss below W_max (§4.7 fast convergence): W_max = cwnd·(1 + β)/2. */
    loss_and_recovery(tp, 90 * M, t.now);
    cs = cstate(tp);
    FN_CHECK_EQ(cs.w_max, 90 * M * 17 / 20);
    FN_CHECK_EQ(tp->snd_ssthresh, 90 * M * 7 / 10);
    /* A loss above W_max: W_max = cwnd, no fast convergence. */
    loss_and_recovery(tp, 120 * M, t.now);
    FN_CHECK_EQ(cstate(tp).w_max, 120 * M);
    FN_CHECK_EQ(tp->snd_ssthresh, 84 * M);
    /* Never below 2 SMSS. */
    loss_and_recovery(tp, 2 * M, t.now);
    FN_CHECK_EQ(tp->snd_ssthresh, 2 * M);
    TT_TEARDOWN();
}

FN_TEST(cwnd_trace_follows_w_of_t)
{
    /* After a loss at 100 segments, 200 ms RTT (BDP large enough that CUBIC, not the
     * Reno-friendly estimate, drives for these 9 s): concave up to W_max around
     * K = 4.217 s, a plateau, then convex.  Tolerance: RFC 9438 §4.2 aims cwnd at
     * W(t + RTT) and closes the gap over one RTT, so at the end of every RTT cwnd lies
     * within [W(t) − 1 SMSS, W(t + RTT) + 1 SMSS]; at K it is W_max within 2 SMSS. */
    const uint64_t rtt = 200 * MS;
    uint64_t now;
    uint64_t epoch;
    double k, lo, hi, w_t;
    int checked = 0;

    TT_SETUP(1000, (void)0, (void)0);
    now = t.now;
    loss_and_recovery(tp, 100 * M, now);
    k = ref_k(100, 70);
    ack_one_rtt(tp, &now, rtt);
    epoch = cstate(tp).epoch_start;
    FN_CHECK_EQ(cstate(tp).k_ms, 4217);
    FN_CHECK_EQ(cstate(tp).cwnd_epoch, 70 * M);
    while (now - epoch < 9 * SEC) {
        uint32_t before = tp->snd_cwnd;
        double ts;
        ack_one_rtt(tp, &now, rtt);
        ts = (double)(now - epoch) / SEC;
        w_t = ref_w(100, k, ts) * M;
        lo = w_t - M;
        hi = ref_w(100, k, ts + (double)rtt / SEC) * M + M;
        if (!(tp->snd_cwnd >= lo && tp->snd_cwnd <= hi))
            fprintf(stderr, "  t=%.3f s cwnd %.2f segs, W(t) %.2f W(t+RTT) %.2f\n", ts,
                    tp->snd_cwnd / (double)M, w_t / M, hi / M - 1);
        FN_CHECK(tp->snd_cwnd >= lo && tp->snd_cwnd <= hi);
        FN_CHECK(tp->snd_cwnd >= before);                   /* never shrinks in CA */
        if (ts > k - 0.1 && ts < k + 0.1)
            FN_CHECK(tp->snd_cwnd >= 98 * M && tp->snd_cwnd <= 102 * M);
        checked++;
    }
    FN_CHECK(checked > 40);
    /* It went through all three regions: far below W_max at first, far above at the end. */
    FN_CHECK(tp->snd_cwnd > 115 * M);
    FN_CHECK_EQ(cstate(tp).epoch_start, epoch);            /* cwnd-limited all along */
    TT_TEARDOWN();
}

FN_TEST(reno_friendly_region_dominates_at_small_bdp)
{
    /* 1 ms RTT, loss at 20 segments: W_cubic barely moves in tens of ms (K = 2.47 s), while
     * W_est gains α = 9/17 segment per RTT (RFC 9438 §4.3) until it reaches cwnd_prior
     * (20 segments), then 1 segment per RTT.  cwnd must follow W_est. */
    const uint64_t rtt = 1 * MS;
    uint64_t now;
    double alpha = 3 * (1 - 0.7) / (1 + 0.7);

    TT_SETUP(1000, (void)0, (void)0);
    now = t.now;
    loss_and_recovery(tp, 20 * M, now);
    FN_CHECK_EQ(tp->snd_cwnd, 14 * M);
    for (int n = 1; n <= 10; n++) {
        double want = (14 + alpha * n) * M;
        struct cubic cs;
        ack_one_rtt(tp, &now, rtt);
        cs = cstate(tp);
        FN_CHECK(tp->snd_cwnd >= want - M / 2 && tp->snd_cwnd <= want + M / 2);
        /* … and that is the Reno-friendly region, not the cubic curve. */
        FN_CHECK(cubic_w(cs.w_max, cs.k_ms, (now - cs.epoch_start) / MS, M) + M / 2 <
                 tp->snd_cwnd);
    }
    /* Past cwnd_prior α is 1: one segment per RTT, Reno's own rate. */
    for (int n = 0; n < 5; n++)
        ack_one_rtt(tp, &now, rtt);
    {
        uint32_t w0 = tp->snd_cwnd;
        FN_CHECK(w0 > 20 * M);
        for (int n = 0; n < 10; n++)
            ack_one_rtt(tp, &now, rtt);
        FN_CHECK(tp->snd_cwnd - w0 >= 9 * M && tp->snd_cwnd - w0 <= 11 * M);
    }
    TT_TEARDOWN();
}

FN_TEST(rto_loss_window_then_k_zero)
{
    struct cubic cs;
    uint64_t now;

    TT_SETUP(1000, (void)0, (void)0);
    now = t.now;
    loss_and_recovery(tp, 100 * M, now);            /* W_max = 100 segments */
    tp->snd_cwnd = 80 * M;
    /* A timeout (RFC 9438 §4.8): Reno's 1-SMSS loss window, ssthresh with β. */
    tp->t_rxtshift = 1;
    tp->ccv.flight = 80 * M;
    tp->cc_algo->cong_signal(&tp->ccv, CC_RTO);
    FN_CHECK_EQ(tp->snd_cwnd, M);
    FN_CHECK_EQ(tp->snd_ssthresh, 56 * M);
    FN_CHECK(cstate(tp).flags & CUBIC_F_RTO);
    FN_CHECK_EQ(cstate(tp).w_max, 80 * M * 17 / 20);        /* fast convergence */
    /* The backed-off retransmission times out again: ssthresh and W_max are held
     * (RFC 5681 §3.1: cwnd is already the loss window). */
    tp->t_rxtshift = 2;
    tp->ccv.flight = 80 * M;
    tp->cc_algo->cong_signal(&tp->ccv, CC_RTO);
    FN_CHECK_EQ(tp->snd_ssthresh, 56 * M);
    FN_CHECK_EQ(cstate(tp).w_max, 80 * M * 17 / 20);
    FN_CHECK_EQ(cstate(tp).cwnd_prior, 80 * M);
    /* Slow start below ssthresh: one SMSS per SMSS acked … */
    for (uint32_t w = M; w < 56 * M; w += M) {
        now += 1 * MS;
        ack_once(tp, now, 10 * MS);
        FN_CHECK_EQ(tp->snd_cwnd, w + M);
    }
    FN_CHECK(!(cstate(tp).flags & CUBIC_F_EPOCH));
    /* … then the first congestion-avoidance ACK starts an epoch with K = 0 and W_max the
     * window at that moment, not the old W_max. */
    ack_one_rtt(tp, &now, 10 * MS);
    cs = cstate(tp);
    FN_CHECK(cs.flags & CUBIC_F_EPOCH);
    FN_CHECK(!(cs.flags & CUBIC_F_RTO));
    FN_CHECK_EQ(cs.k_ms, 0);
    FN_CHECK_EQ(cs.w_max, cs.cwnd_epoch);
    FN_CHECK_EQ(cs.cwnd_epoch, 56 * M);
    TT_TEARDOWN();
}

/* ---- segment level ---- */

static uint8_t bulk[200000];

/* The peer acknowledges every segment A sends, one ACK each, `gap` apart, until A has
 * nothing more to send; returns the number of segments. */
static int ack_each(struct tnet *t, struct peer *p, uint64_t gap)
{
    struct rseg r;
    int n = 0;

    while (n < 100000 && tt_read(t, &r) == 1) {
        t->now += gap;
        tt_inject(p, 1, RSEQ(p, &r) + r.th.payload_len, FN_TH_ACK, NULL, 0);
        n++;
    }
    return n;
}

/* The peer of the end-to-end trace: it receives every segment at once and its ACK reaches
 * A one RTT later; one segment (the first at or above `drop_at`) is lost once.  A receiver
 * with at most one hole: rcv_nxt, and the out-of-order run [ooo_start, ooo_end) above it. */
struct rtt_peer {
    struct peer *p;
    uint64_t rtt;
    uint32_t rcv_nxt, ooo_start, ooo_end, drop_at;
    int dropped;
    uint32_t q_ack[4096];
    uint64_t q_due[4096];
    uint32_t q_head, q_tail;
};

static void rtt_peer_receive(struct rtt_peer *rp, uint32_t s, uint32_t e, uint64_t now)
{
    if (!rp->dropped && SEQ_GEQ(s, rp->drop_at)) {
        rp->dropped = 1;
        return;
    }
    if (s == rp->rcv_nxt) {
        rp->rcv_nxt = e;
        if (rp->ooo_end && SEQ_GEQ(rp->rcv_nxt, rp->ooo_start)) {
            rp->rcv_nxt = rp->ooo_end;
            rp->ooo_start = rp->ooo_end = 0;
        }
    } else if (SEQ_GT(s, rp->rcv_nxt)) {
        if (!rp->ooo_end)
            rp->ooo_start = s;
        rp->ooo_end = e;
    }
    rp->q_ack[rp->q_tail % 4096] = rp->rcv_nxt;
    rp->q_due[rp->q_tail % 4096] = now + rp->rtt;
    rp->q_tail++;
}

/* Advance the virtual clock by `step`: A's segments reach the peer, due ACKs reach A. */
static void rtt_peer_step(struct rtt_peer *rp, struct tnet *t, struct tcpcb *tp, uint64_t step)
{
    struct rseg r;

    while (fn_tcp_writable(tp) >= 8192)
        fn_tcp_send(tp, bulk, 8192, t->now);
    fn_stack_poll(t->sa, t->now);
    while (tt_read(t, &r) == 1)
        if (r.th.payload_len)
            rtt_peer_receive(rp, RSEQ(rp->p, &r), RSEQ(rp->p, &r) + r.th.payload_len, t->now);
    while (rp->q_head != rp->q_tail && rp->q_due[rp->q_head % 4096] <= t->now) {
        tt_inject(rp->p, 1, rp->q_ack[rp->q_head % 4096], FN_TH_ACK, NULL, 0);
        rp->q_head++;
    }
    tt_advance(t, step);
}

FN_TEST(end_to_end_cwnd_trace_follows_w_of_t)
{
    /* The whole path — tcp_output, the peer's ACK clock, ack_new, fast retransmit and
     * recovery, the hooks — on a 500 ms RTT: one loss in congestion avoidance at about 30
     * segments, then the trace for 5 s against RFC 9438's W(t) with the epoch's own W_max
     * and cwnd_epoch (K to the ms; the Reno-friendly estimate stays below W(t) at this
     * RTT).  Tolerance: the peer's ACKs come a whole window at a time, once per RTT, and
     * cwnd holds between those bursts, so every 50 ms cwnd lies within
     * [W(t − RTT) − 1 SMSS, W(t + RTT) + 1 SMSS]. */
    static struct rtt_peer rp;
    struct cubic cs;
    uint32_t w_loss = 0;
    double k, wmax;
    int checked = 0;

    TT_SETUP(1000, (void)0, (void)0);
    memset(&rp, 0, sizeof(rp));
    rp.p = &p;
    rp.rtt = 500 * MS;
    rp.rcv_nxt = 1;
    rp.drop_at = 1 + 100 * M;
    tp->snd_cwnd = 30 * M;
    tp->snd_ssthresh = 30 * M;          /* congestion avoidance, no slow-start overshoot */
    tp->t_srtt = 0;                     /* the handshake measured ~0: start the estimator */
    tcp_xmit_timer(tp, rp.rtt);         /* from this RTT, or the first RTT is an RTO */
    /* Until the loss is detected (the third duplicate ACK), then until recovery is over
     * and the next epoch has begun (cong_signal ended the previous one). */
    for (int i = 0; i < 1000 && tnet_stats(t.sa).tcp_fast_rexmt == 0; i++) {
        w_loss = tp->snd_cwnd;
        rtt_peer_step(&rp, &t, tp, 10 * MS);
    }
    for (int i = 0; i < 1000 && ((tp->t_flags & TF_FASTRECOVERY) ||
                                 !(cstate(tp).flags & CUBIC_F_EPOCH)); i++)
        rtt_peer_step(&rp, &t, tp, 10 * MS);
    cs = cstate(tp);
    FN_CHECK(rp.dropped);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_fast_rexmt, 1);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_rexmt_timeout, 0);
    FN_CHECK(cs.flags & CUBIC_F_EPOCH);
    FN_CHECK(w_loss >= 30 * M && w_loss <= 34 * M);
    /* W_max: cwnd at the loss (which grew a little within the last 10 ms step). */
    FN_CHECK(cs.w_max >= w_loss && cs.w_max < w_loss + M);
    /* The β cut: ssthresh 0.7 of the flight at the loss (cwnd plus at most the limited
     * transmit segments); the epoch starts where slow start from the post-recovery window
     * crossed it (byte counting: at most 2 SMSS beyond). */
    FN_CHECK(tp->snd_ssthresh >= (uint64_t)cs.w_max * 7 / 10 - M &&
             tp->snd_ssthresh <= (uint64_t)(cs.w_max + 3 * M) * 7 / 10);
    FN_CHECK(cs.cwnd_epoch >= tp->snd_ssthresh && cs.cwnd_epoch <= tp->snd_ssthresh + 2 * M);
    wmax = cs.w_max / (double)M;
    k = ref_k(wmax, cs.cwnd_epoch / (double)M);
    FN_CHECK(cs.k_ms >= k * 1000 - 1 && cs.k_ms <= k * 1000);
    while (t.now - cs.epoch_start < 5 * SEC) {
        double ts, lo, hi;
        for (int i = 0; i < 5; i++)
            rtt_peer_step(&rp, &t, tp, 10 * MS);
        ts = (double)(t.now - cs.epoch_start) / SEC;
        lo = ref_w(wmax, k, ts > 0.5 ? ts - 0.5 : 0) * M - M;
        hi = ref_w(wmax, k, ts + 0.5) * M + M;
        if (!(tp->snd_cwnd >= lo && tp->snd_cwnd <= hi))
            fprintf(stderr, "  t=%.3f s cwnd %.2f segs, W(t - RTT) %.2f W(t + RTT) %.2f\n",
                    ts, tp->snd_cwnd / (double)M, lo / M + 1, hi / M - 1);
        FN_CHECK(tp->snd_cwnd >= lo && tp->snd_cwnd <= hi);
        /* The window is used: a full cwnd is sent each RTT (less a short tail). */
        FN_CHECK(tp->snd_max - tp->snd_una + 2 * M >= tp->snd_cwnd ||
                 rp.q_head == rp.q_tail);
        checked++;
    }
    FN_CHECK(checked >= 99);
    FN_CHECK(tp->snd_cwnd > cs.w_max + M);              /* into the convex region */
    FN_CHECK_EQ(cstate(tp).epoch_start, cs.epoch_start); /* cwnd-limited throughout */
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_fast_rexmt, 1);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_rexmt_timeout, 0);
    TT_TEARDOWN();
}

FN_TEST(no_growth_while_application_limited)
{
    static const char *const algos[] = {"newreno", "cubic"};

    for (unsigned a = 0; a < 2; a++) {
        uint64_t limited0;

        TT_SETUP(1000, (void)0, (void)0);
        FN_CHECK_EQ(fn_tcp_set_cc(tp, algos[a]), 0);
        limited0 = tnet_stats(t.sa).tcp_cc_app_limited;
        /* A request/response pattern: 200 bytes in flight at a time, each acked. */
        for (int i = 0; i < 30; i++) {
            FN_CHECK_EQ(fn_tcp_send(tp, bulk, 200, t.now), 200);
            fn_stack_poll(t.sa, t.now);
            FN_CHECK_EQ(ack_each(&t, &p, 20 * MS), 1);
        }
        FN_CHECK_EQ(tp->snd_cwnd, 14600);                   /* still the initial window */
        FN_CHECK_EQ(tnet_stats(t.sa).tcp_cc_app_limited - limited0, 30);
        /* Filling the window does grow it (slow start). */
        FN_CHECK_EQ(fn_tcp_send(tp, bulk, 20 * M, t.now), (int)(20 * M));
        fn_stack_poll(t.sa, t.now);
        ack_each(&t, &p, 1 * MS);
        FN_CHECK(tp->snd_cwnd > 14600);
        TT_TEARDOWN();
    }
}

FN_TEST(cubic_time_excludes_app_limited_and_idle_periods)
{
    struct cubic cs;
    uint32_t cw;

    /* RFC 9438 §5.8: t must not include application-limited or idle periods. */
    TT_SETUP(1000, (void)0, (void)0);
    tp->snd_ssthresh = tp->snd_cwnd;                /* congestion avoidance from the start */
    FN_CHECK_EQ(fn_tcp_send(tp, bulk, 10 * M, t.now), (int)(10 * M));
    fn_stack_poll(t.sa, t.now);
    tnet_drain(&t);
    t.now += 50 * MS;
    tt_inject(&p, 1, 1 + 10 * M, FN_TH_ACK, NULL, 0);      /* cwnd-limited: epoch starts */
    cs = cstate(tp);
    FN_CHECK(cs.flags & CUBIC_F_EPOCH);
    FN_CHECK_EQ(cs.epoch_start, t.now);
    cw = tp->snd_cwnd;
    /* 3 s of small requests: none of it counts, cwnd does not move. */
    for (int i = 0; i < 30; i++) {
        t.now += 50 * MS;                           /* idle, nothing in flight */
        FN_CHECK_EQ(fn_tcp_send(tp, bulk, 300, t.now), 300);
        fn_stack_poll(t.sa, t.now);
        FN_CHECK_EQ(ack_each(&t, &p, 50 * MS), 1);  /* application-limited ACK */
    }
    cs = cstate(tp);
    FN_CHECK_EQ(tp->snd_cwnd, cw);
    FN_CHECK_EQ(cs.epoch_start, t.now);             /* t is still 0 */
    /* 100 ms idle (less than the RTO, so no restart window), then a full window acked
     * 100 ms later: t is 100 ms — the cwnd-limited time counts, the idle time does not
     * (tx_resume cut it out when sending resumed). */
    t.now += 100 * MS;
    FN_CHECK(t.now - tp->t_sndtime < tp->t_rxtcur);
    FN_CHECK_EQ(fn_tcp_send(tp, bulk, 10 * M, t.now), (int)(10 * M));
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(tnet_drain(&t), 10);
    t.now += 100 * MS;
    tt_inject(&p, 1, tp->snd_max - p.a_iss, FN_TH_ACK, NULL, 0);
    FN_CHECK_EQ(t.now - cstate(tp).epoch_start, 100 * MS);
    TT_TEARDOWN();
}

FN_TEST(restart_window_after_idle_both_algorithms)
{
    static const char *const algos[] = {"newreno", "cubic"};

    for (unsigned a = 0; a < 2; a++) {
        uint32_t grown;

        TT_SETUP(1000, (void)0, (void)0);
        FN_CHECK_EQ(fn_tcp_set_cc(tp, algos[a]), 0);
        /* Grow cwnd past the initial window, into congestion avoidance (an epoch runs). */
        tp->snd_ssthresh = 20 * M;
        FN_CHECK_EQ(fn_tcp_send(tp, bulk, 60 * M, t.now), (int)(60 * M));
        fn_stack_poll(t.sa, t.now);
        ack_each(&t, &p, 1 * MS);
        FN_CHECK_EQ(tp->snd_una, tp->snd_max);
        grown = tp->snd_cwnd;
        FN_CHECK(grown >= 20 * M);
        if (a == 1)
            FN_CHECK(cstate(tp).flags & CUBIC_F_EPOCH);
        /* Idle for less than an RTO: no restart, a full cwnd goes out. */
        t.now += tp->t_rxtcur / 2;
        FN_CHECK_EQ(fn_tcp_send(tp, bulk, 60 * M, t.now), (int)(60 * M));
        fn_stack_poll(t.sa, t.now);
        FN_CHECK_EQ(tnet_drain(&t), grown / M);
        FN_CHECK_EQ(tnet_stats(t.sa).tcp_cc_idle_restart, 0);
        tt_inject(&p, 1, tp->snd_max - p.a_iss, FN_TH_ACK, NULL, 0);
        ack_each(&t, &p, 1 * MS);
        FN_CHECK_EQ(tp->snd_una, tp->snd_max);
        /* Idle for more than an RTO (RFC 5681 §4.1): the restart window, IW = 10 segments. */
        t.now += 2 * tp->t_rxtcur;
        FN_CHECK_EQ(fn_tcp_send(tp, bulk, 60 * M, t.now), (int)(60 * M));
        fn_stack_poll(t.sa, t.now);
        FN_CHECK_EQ(tp->snd_cwnd, 14600);
        FN_CHECK_EQ(tnet_drain(&t), 10);
        FN_CHECK_EQ(tnet_stats(t.sa).tcp_cc_idle_restart, 1);
        /* CUBIC: the epoch is over; the next one starts when congestion avoidance does. */
        if (a == 1)
            FN_CHECK(!(cstate(tp).flags & CUBIC_F_EPOCH));
        TT_TEARDOWN();
    }
}

/* ---- selection ---- */

static int fake_destroys;

static void fake_destroy(struct cc_var *ccv)
{
    ccv->cc_data[0] = 0xdead;       /* must not survive into the next algorithm */
    fake_destroys++;
}

/* Only what a switch away from it calls. */
static const struct cc_algo fake_cc_algo = {
    .name = "fake",
    .cb_destroy = fake_destroy,
};

FN_TEST(selection_registry_and_api)
{
    uint32_t cw, ss;

    /* The registry: index order is the ABI of cfg.tcp_cc and of tcp.congestion. */
    FN_CHECK_EQ(cc_algo_count(), 2);
    FN_CHECK(strcmp(cc_algo_by_index(FN_CC_NEWRENO)->name, "newreno") == 0);
    FN_CHECK(strcmp(cc_algo_by_index(FN_CC_CUBIC)->name, "cubic") == 0);
    FN_CHECK(cc_algo_by_index(2) == NULL);
    FN_CHECK(strcmp(fn_config_cc_name(FN_CC_CUBIC), "cubic") == 0);     /* the public view */
    FN_CHECK(fn_config_cc_name(2) == NULL);
    FN_CHECK(cc_algo_by_name("cubic") == &cubic_cc_algo);
    FN_CHECK(cc_algo_by_name("reno") == NULL);
    {
        struct fn_config d;
        fn_config_defaults(&d);
        FN_CHECK_EQ(d.tcp_cc, FN_CC_CUBIC);
    }

    TT_SETUP(1000, c.tcp_cc = FN_CC_NEWRENO, (void)0);
    FN_CHECK(strcmp(fn_tcp_cc_name(tp), "newreno") == 0);   /* from the config */
    FN_CHECK(strcmp(fn_tcp_cc_name(l), "newreno") == 0);
    FN_CHECK_EQ(fn_tcp_set_cc(tp, "bbr"), -ENOENT);
    FN_CHECK_EQ(fn_tcp_set_cc(tp, NULL), -ENOENT);
    FN_CHECK(strcmp(fn_tcp_cc_name(tp), "newreno") == 0);
    /* Mid-connection: the window is kept, the new algorithm's state starts from zero. */
    tp->snd_cwnd = 30 * M;
    tp->snd_ssthresh = 20 * M;
    tp->ccv.cc_data[0] = 12345;
    cw = tp->snd_cwnd;
    ss = tp->snd_ssthresh;
    FN_CHECK_EQ(fn_tcp_set_cc(tp, "cubic"), 0);
    FN_CHECK(tp->cc_algo == &cubic_cc_algo);
    FN_CHECK_EQ(tp->snd_cwnd, cw);
    FN_CHECK_EQ(tp->snd_ssthresh, ss);
    FN_CHECK_EQ(tp->ccv.cc_data[0], 0);
    FN_CHECK_EQ(fn_tcp_set_cc(tp, "cubic"), 0);              /* the same one: no-op */
    /* The switch runs the old algorithm's cleanup before the new one takes over. */
    tp->cc_algo = &fake_cc_algo;
    FN_CHECK_EQ(fn_tcp_set_cc(tp, "newreno"), 0);
    FN_CHECK_EQ(fake_destroys, 1);
    FN_CHECK(tp->cc_algo == &newreno_cc_algo);
    FN_CHECK_EQ(tp->ccv.cc_data[0], 0);
    FN_CHECK_EQ(tp->snd_cwnd, cw);
    /* …and the new connection of a listener set to CUBIC is CUBIC. */
    FN_CHECK_EQ(fn_tcp_set_cc(l, "cubic"), 0);
    {
        struct peer p2;
        struct tcpcb *tp2;
        tt_peer_init(&p2, &t, 5000);
        p2.port = P_PORT + 1;
        tp2 = tt_passive(&p2, l);
        FN_CHECK(tp2 != NULL);
        FN_CHECK(strcmp(fn_tcp_cc_name(tp2), "cubic") == 0);
        FN_CHECK_EQ(tp2->snd_cwnd, 14600);                  /* cubic's conn_init ran */
        fn_tcp_abort(tp2, t.now);
    }
    TT_TEARDOWN();
}

FN_TEST(unknown_cc_index_is_refused_at_stack_creation)
{
    struct fn_pool *pa, *pb;
    struct fn_backend *ba, *bb;
    struct fn_stack *st = NULL;
    struct fn_config c;

    tnet_cfg(&c, IP_A);
    FN_CHECK_EQ(fn_pool_create(256, 2048, 0, &pa), 0);
    FN_CHECK_EQ(fn_pool_create(256, 2048, 0, &pb), 0);
    FN_CHECK_EQ(fn_backend_memory_pair(pa, pb, 1500, MAC_A, MAC_B, &ba, &bb), 0);
    /* The knob by name, as the Python layer sets it. */
    FN_CHECK_EQ(fn_config_knob_set(&c, "tcp_cc", cc_algo_count()), 0);
    FN_CHECK_EQ(fn_stack_create(&c, pa, ba, &st), -EINVAL);
    FN_CHECK_EQ(fn_config_knob_set(&c, "tcp_cc", FN_CC_NEWRENO), 0);
    FN_CHECK_EQ(fn_stack_create(&c, pa, ba, &st), 0);
    FN_CHECK_EQ(fn_stack_destroy(st), 0);
    fn_backend_close(bb);
    FN_CHECK_EQ(fn_pool_destroy(pb), 0);
}

/* ---- end to end ---- */

struct sel {
    int selected;
};

static void cfg_newreno(struct fn_config *c, void *arg)
{
    (void)arg;
    c->tcp_cc = FN_CC_NEWRENO;      /* so that only the conn hook can make them CUBIC */
}

static void conn_cubic(struct tcpcb *tp, void *arg)
{
    struct sel *s = arg;

    if (fn_tcp_set_cc(tp, "cubic") == 0 && strcmp(fn_tcp_cc_name(tp), "cubic") == 0)
        s->selected++;
}

FN_TEST(transfer_with_loss_cubic_on_both_sides)
{
    /* 10 ms each way, 1 % loss and 1 % reordering both directions, 1 MiB each way. */
    struct impair im = {.loss_ppm = 10000, .reorder_ppm = 10000, .delay_ns = 10 * MS};
    struct xfer_hooks hk = {.cfg = cfg_newreno, .conn = conn_cubic};
    struct xfer_result res;
    struct sel s = {0};

    for (uint64_t seed = 11; seed < 14; seed++) {
        s.selected = 0;
        hk.arg = &s;
        run_transfer_ex(&im, seed, 1u << 20, &hk, &res);
        if (!res.ok)
            fprintf(stderr, "  seed %llu: %s\n", (unsigned long long)seed, res.why);
        FN_CHECK(res.ok);
        FN_CHECK_EQ(s.selected, 2);                 /* A after connect, B after accept */
        FN_CHECK(res.sa.tcp_fast_rexmt + res.sb.tcp_fast_rexmt > 0);
        FN_CHECK(res.rexmt_a > 0 && res.rexmt_b > 0);
        printf("  seed %llu: cubic both sides, virtual %llu ms, retransmitted %llu + %llu, "
               "fast retransmits %llu + %llu, app-limited ACKs %llu + %llu\n",
               (unsigned long long)seed, (unsigned long long)res.vtime_ms,
               (unsigned long long)res.rexmt_a, (unsigned long long)res.rexmt_b,
               (unsigned long long)res.sa.tcp_fast_rexmt, (unsigned long long)res.sb.tcp_fast_rexmt,
               (unsigned long long)res.sa.tcp_cc_app_limited,
               (unsigned long long)res.sb.tcp_cc_app_limited);
    }
}

FN_TEST_MAIN()
