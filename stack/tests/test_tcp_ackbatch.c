/*
 * test_tcp_ackbatch.c — pure ACKs in one receive batch (tcp_fast_acks: a run of them in one
 * step) leave exactly what the same frames leave one poll each.  The comparison plays a
 * seeded stream of batches twice against a fresh connection sending data: once each batch
 * queued whole and taken by one fn_stack_poll, once one poll per frame at the same virtual
 * time (timers due at that time are fired by an empty poll first in both runs, so the polls
 * differ only in how the frames are grouped).  Batches are mostly runs of pure ACKs for new
 * data, with echoes of older TSvals (RTT samples that differ), mixed with duplicate ACKs,
 * window changes, SACK blocks, data, PAWS-old and zero timestamp echoes, old and too new
 * ACKs and corrupted bytes; between batches the application sends nothing, fills the send
 * buffer (every ACK gives tcp_output work) or sends just enough to fill cwnd (cwnd-limited
 * ACKs without unsent data), newreno and cubic, with and without SACK.  After every batch
 * the tcpcb's sequence, window, congestion (cc_data too), RTT, RTO, timestamp and timer
 * state, the SACK scoreboard, every counter, the buffers in use and every segment sent must
 * be the same.  Then directed cases: three duplicate ACKs behind new ACKs in one batch
 * trigger fast retransmit; the SACK blocks of ACKs in one batch all reach the scoreboard; a
 * window update inside a run is not lost; the RTT samples of a run each step SRTT/RTTVAR as
 * RFC 6298 §2.3 says; the ACKs of two connections interleaved in one batch each reach their
 * own; the algorithms' app-limited ACK step is what cc.h says the runs rely on.
 */
#include "tcp_snap.h"

#define BATCHES 700
#define MAXB 32

static struct snap g_ref[BATCHES];

/* One peer frame of a batch into f (length returned); *una and the echo state advance as the
 * peer's would. */
struct gen {
    uint64_t rng;
    uint32_t una, amax, last_tsv, mss;
    uint16_t win0;
};

static uint32_t gen_frame(struct gen *g, struct peer *p, struct tcpcb *tp, uint8_t *f,
                          int clean)
{
    uint64_t x = next_rng(&g->rng), r2 = next_rng(&g->rng);
    uint32_t pick = (uint32_t)(x % 100), ack, seq, dlen = 0, optlen, flen;
    uint32_t tsecr = g->last_tsv - (uint32_t)((x >> 8) % 40);     /* older echoes: longer RTTs */
    uint8_t o[40], data[120], flags = FN_TH_ACK;

    if (clean || pick < 60)
        ack = g->una + (g->amax - g->una < (1 + r2 % 3) * g->mss ? g->amax - g->una
                                                                 : (uint32_t)(1 + r2 % 3) * g->mss);
    else if (pick < 75)
        ack = g->una;                                   /* duplicate */
    else if (pick < 80)
        ack = g->una - (uint32_t)(r2 % 3000);           /* old */
    else if (pick < 83)
        ack = g->amax + 1 + (uint32_t)(r2 % 5000);      /* too new */
    else
        ack = g->amax;
    if (SEQ_GT(ack, g->una) && SEQ_LEQ(ack, g->amax))
        g->una = ack;
    seq = tp->rcv_nxt - p->iss;
    pick = clean ? 999 : (uint32_t)((x >> 16) % 100);
    if (pick < 6) {
        dlen = 1 + (uint32_t)(r2 % sizeof(data));
        tt_fill(data, seq, dlen);
    } else if (pick < 12) {
        p->win = (uint16_t)(2000 + r2 % 60000);
    } else if (pick < 20) {
        p->win = g->win0;
    } else if (pick < 23) {
        flags |= FN_TH_PUSH;
    }
    p->tsval += (uint32_t)((x >> 24) % 4);
    pick = clean ? 99 : (uint32_t)((x >> 32) % 100);
    /* PAWS-old (RFC 7323 §5.3) now and then: older than the last frames of this batch. */
    optlen = put_ts_after(o, 1, 1, pick < 4 ? p->tsval - 1 - (uint32_t)(r2 % 4) : p->tsval,
                          pick >= 4 && pick < 7 ? 0 : tsecr);
    if (pick >= 7 && pick < 17) {
        /* A SACK block above the cumulative ACK. */
        uint32_t lo = g->una + (uint32_t)(1 + r2 % 4) * g->mss;
        o[optlen++] = 1;
        o[optlen++] = 1;
        o[optlen++] = 5;
        o[optlen++] = 10;
        put32(o + optlen, p->a_iss + lo);
        put32(o + optlen + 4, p->a_iss + lo + g->mss);
        optlen += 8;
    }
    flen = tt_build_abs(p, f, p->iss + seq, p->a_iss + ack, flags, o, optlen, data, dlen);
    if (!clean && (x >> 40) % 100 < 3)
        f[(r2 >> 32) % flen] ^= (uint8_t)(1 + (r2 >> 8) % 255);
    return flen;
}

/* A's output since the last call, hashed; amax and the last TSval learnt. */
static uint64_t read_out(struct tnet *t, struct peer *p, struct gen *g, uint32_t ts0,
                         uint32_t *nout)
{
    struct rseg r;
    uint64_t h = 0;

    while (tt_read(t, &r) == 1) {
        uint32_t end = (uint32_t)(r.th.seq - p->a_iss) + r.th.payload_len +
                       ((r.th.flags & FN_TH_FIN) ? 1 : 0);
        if (SEQ_GT(end, g->amax))
            g->amax = end;
        if (r.to.has_ts)
            g->last_tsv = r.to.tsval;
        h = mix_seg(h, p, &r, ts0);
        ++*nout;
    }
    return h;
}

/* One run of BATCHES batches; batched = 0 polls once per frame.  The first run records into
 * g_ref, the second compares.  *nruns counts batches with two or more clean ACKs in a row. */
static void play(int *fn_test_failed, uint64_t seed, uint32_t cc, int sack, int batched,
                 uint64_t *nruns)
{
    static uint8_t big[32768];
    static uint8_t frames[MAXB][TT_FRAME_MAX];
    uint32_t flen[MAXB], ts0;
    struct gen g;
    TT_SETUP(0x7000u, (c.tcp_timestamps = 1, c.tcp_sack = sack, c.tcp_cc = cc),
             (p.ts = 1, p.sackok = sack));

    memset(&g, 0, sizeof(g));
    g.rng = seed;
    g.una = g.amax = 1;
    g.last_tsv = ts0 = p.tsecr;
    g.mss = tcp_maxseg(tp);
    g.win0 = p.win;
    *nruns = 0;
    FN_CHECK_EQ(c.rx_batch >= MAXB, 1);
    for (int b = 0; b < BATCHES; b++) {
        uint64_t x = next_rng(&g.rng), h;
        uint32_t n = 1 + (uint32_t)(x % MAXB), nout = 0, inrow = 0, best = 0;
        uint32_t app = (uint32_t)((x >> 8) % 10);
        struct snap now;

        /* The application: fill the send buffer now and then, else (while nothing is left
         * unsent) send what fills cwnd or the peer's window exactly, or nothing. */
        if (app == 0 && fn_tcp_writable(tp) > 0) {
            (void)fn_tcp_send(tp, big, sizeof(big), t.now);
        } else if (app < 6 && tp->snd_cc == tp->snd_max - tp->snd_una) {
            uint32_t flight = tp->snd_max - tp->snd_una;
            uint32_t w = tp->snd_cwnd < tp->snd_wnd ? tp->snd_cwnd : tp->snd_wnd;
            uint32_t want = w > flight ? w - flight : 0;
            if (app >= 4)
                want = want / 2;
            if (want > sizeof(big))
                want = sizeof(big);
            want -= want % g.mss;       /* no sub-MSS tail for Nagle to hold back */
            if (want > 0)
                (void)fn_tcp_send(tp, big, want, t.now);
        }
        tt_advance(&t, (x >> 16) % 500 == 0 ? 1500000000ull : ((x >> 24) % 7) * 1000000ull);
        fn_stack_poll(t.sa, t.now);     /* timers due now, in both runs before the frames */
        h = read_out(&t, &p, &g, ts0, &nout);
        for (uint32_t i = 0; i < n; i++) {
            int clean = (next_rng(&g.rng) % 100) < 80;
            flen[i] = gen_frame(&g, &p, tp, frames[i], clean);
            inrow = clean ? inrow + 1 : 0;
            if (inrow > best)
                best = inrow;
        }
        if (best >= 2)
            ++*nruns;
        for (uint32_t i = 0; i < n; i++) {
            tnet_queue(&t, frames[i], flen[i]);
            if (!batched)
                fn_stack_poll(t.sa, t.now);
        }
        if (batched)
            fn_stack_poll(t.sa, t.now);
        h = mix(h, read_out(&t, &p, &g, ts0, &nout));
        take_snap(&now, &t, tp, nout, h);
        if (batched)
            memcpy(&g_ref[b], &now, sizeof(now));
        else if (memcmp(&g_ref[b], &now, sizeof(now)) != 0) {
            fprintf(stderr, "  seed %llx cc %u sack %d: runs differ after batch %d\n",
                    (unsigned long long)seed, cc, sack, b);
            for (size_t q = 0; q < sizeof(now) / 4; q++)
                if (((uint32_t *)&now)[q] != ((uint32_t *)&g_ref[b])[q])
                    fprintf(stderr, "  snapshot word %zu: batch %u, one poll each %u\n", q,
                            ((uint32_t *)&g_ref[b])[q], ((uint32_t *)&now)[q]);
            FN_CHECK(0);
            break;
        }
        if (tp->t_state != TCPS_ESTABLISHED) {
            FN_CHECK_EQ(tp->t_state, TCPS_ESTABLISHED);
            break;
        }
    }
    TT_TEARDOWN();
}

static void compare(int *fn_test_failed, uint64_t seed, uint32_t cc, int sack)
{
    uint64_t runs_a = 0, runs_b = 0;

    play(fn_test_failed, seed, cc, sack, 1, &runs_a);
    if (*fn_test_failed)
        return;
    play(fn_test_failed, seed, cc, sack, 0, &runs_b);
    /* Worth something only if many batches held runs for tcp_fast_acks to take. */
    FN_CHECK(runs_a > BATCHES / 2);
    FN_CHECK_EQ(runs_a, runs_b);
}

FN_TEST(ack_batch_equals_one_poll_each_newreno)
{
    for (uint64_t k = 0; k < 3 && !*fn_test_failed; k++)
        compare(fn_test_failed, 0xac0ull + k, FN_CC_NEWRENO, (int)(k & 1));
}

FN_TEST(ack_batch_equals_one_poll_each_cubic)
{
    for (uint64_t k = 0; k < 3 && !*fn_test_failed; k++)
        compare(fn_test_failed, 0xac10ull + k, FN_CC_CUBIC, (int)(k & 1));
}

/* A connection with timestamps (and SACK if asked) and ten full segments in flight; the
 * peer echoes A's TSval.  Declares what TT_SETUP declares. */
#define BATCH_SETUP(SACK)                                                               \
    TT_SETUP(0x9000u, (c.tcp_timestamps = 1, c.tcp_sack = (SACK)),                    \
             (p.ts = 1, p.sackok = (SACK)));                                          \
    uint32_t mss = tcp_maxseg(tp);                                                    \
    static uint8_t buf10[10 * 1448];                                                  \
    FN_CHECK_EQ(mss, 1448u);                                                          \
    FN_CHECK_EQ(fn_tcp_send(tp, buf10, sizeof(buf10), t.now), (int)sizeof(buf10));    \
    fn_stack_poll(t.sa, t.now);                                                       \
    while (tt_read(&t, &r) == 1)                                                      \
        p.tsecr = r.to.tsval;                                                         \
    FN_CHECK_EQ(tp->snd_max - tp->snd_una, 10 * mss)

/* Queue the peer's pure ACK of rack with the window p.win and options o (NULL: NOP NOP TS). */
static void queue_ack(struct tnet *t, struct peer *p, uint32_t rack, const uint8_t *o,
                      uint32_t optlen)
{
    uint8_t f[TT_FRAME_MAX], ts[12];

    if (!o) {
        optlen = put_ts_after(ts, 1, 1, p->tsval, p->tsecr);
        o = ts;
    }
    tnet_queue(t, f, tt_build_abs(p, f, p->iss + 1, p->a_iss + rack, FN_TH_ACK, o, optlen,
                                  NULL, 0));
}

FN_TEST(ack_batch_dupacks_trigger_fast_retransmit)
{
    BATCH_SETUP(0);
    int rexmit = 0;

    tt_advance(&t, 5 * 1000000ull);
    /* Two new ACKs, then three duplicates of the second, in one poll. */
    queue_ack(&t, &p, 1 + mss, NULL, 0);
    queue_ack(&t, &p, 1 + 2 * mss, NULL, 0);
    for (int i = 0; i < 3; i++)
        queue_ack(&t, &p, 1 + 2 * mss, NULL, 0);
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(tp->snd_una - tp->iss, 1 + 2 * mss);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_rx_dupack, 3);
    FN_CHECK(tp->t_flags & TF_FASTRECOVERY);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_fast_rexmt, 1);
    /* RFC 5681 §3.2 step 2: the segment at SND.UNA goes out again. */
    while (tt_read(&t, &r) == 1)
        if (RSEQ(&p, &r) == 1 + 2 * mss && r.th.payload_len == mss)
            rexmit++;
    FN_CHECK(rexmit >= 1);
    TT_TEARDOWN();
}

FN_TEST(ack_batch_sack_blocks_reach_scoreboard)
{
    BATCH_SETUP(1);
    uint8_t o[24];
    uint32_t n;

    tt_advance(&t, 5 * 1000000ull);
    /* A new ACK, then two duplicates with a SACK block each (segments 4 and 7). */
    queue_ack(&t, &p, 1 + mss, NULL, 0);
    for (uint32_t k = 3; k <= 6; k += 3) {
        n = put_ts_after(o, 1, 1, p.tsval, p.tsecr);
        o[n++] = 1;
        o[n++] = 1;
        o[n++] = 5;
        o[n++] = 10;
        put32(o + n, p.a_iss + 1 + k * mss);
        put32(o + n + 4, p.a_iss + 1 + (k + 1) * mss);
        queue_ack(&t, &p, 1 + mss, o, n + 8);
    }
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(tp->snd_una - tp->iss, 1 + mss);
    FN_CHECK_EQ(tp->snd_sack_n, 2);
    FN_CHECK_EQ(tp->snd_sack[0].start - tp->iss, 1 + 3 * mss);
    FN_CHECK_EQ(tp->snd_sack[0].end - tp->iss, 1 + 4 * mss);
    FN_CHECK_EQ(tp->snd_sack[1].start - tp->iss, 1 + 6 * mss);
    FN_CHECK_EQ(tp->snd_sack[1].end - tp->iss, 1 + 7 * mss);
    FN_CHECK_EQ(tp->t_dupacks, 2);
    TT_TEARDOWN();
}

FN_TEST(ack_batch_window_update_inside_run)
{
    BATCH_SETUP(0);

    tt_advance(&t, 5 * 1000000ull);
    queue_ack(&t, &p, 1 + mss, NULL, 0);
    queue_ack(&t, &p, 1 + 2 * mss, NULL, 0);
    p.win = 20000;                      /* the window shrinks with the third ACK */
    queue_ack(&t, &p, 1 + 3 * mss, NULL, 0);
    queue_ack(&t, &p, 1 + 4 * mss, NULL, 0);
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(tp->snd_una - tp->iss, 1 + 4 * mss);
    FN_CHECK_EQ(tp->snd_wnd, 20000);
    FN_CHECK_EQ(tp->snd_wl2 - tp->iss, 1 + 4 * mss);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_rx, 2 + 4);   /* the SYN, the handshake's ACK, 4 */
    TT_TEARDOWN();
}

FN_TEST(ack_batch_rtt_sample_per_ack)
{
    BATCH_SETUP(0);
    uint32_t ts_sent = p.tsecr;
    uint64_t srtt, rttvar, rto;

    /* Eight ACKs in one poll 9 ms after the data left, echoing TSvals 0..7 ms older than
     * that of the data: samples of 9..16 ms, each one step of RFC 6298 §2.2/§2.3. */
    tt_advance(&t, 9 * 1000000ull);
    srtt = tp->t_srtt;
    rttvar = tp->t_rttvar;
    for (uint32_t i = 0; i < 8; i++) {
        uint64_t rtt = (uint64_t)(9 + i) * 1000000ull;
        p.tsecr = ts_sent - i;
        queue_ack(&t, &p, 1 + (i + 1) * mss, NULL, 0);
        if (srtt == 0) {
            srtt = rtt;
            rttvar = rtt / 2;
        } else {
            uint64_t d = srtt > rtt ? srtt - rtt : rtt - srtt;
            rttvar = rttvar - rttvar / 4 + d / 4;
            srtt = srtt - srtt / 8 + rtt / 8;
        }
    }
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(tp->snd_una - tp->iss, 1 + 8 * mss);
    FN_CHECK_EQ(tp->t_srtt, srtt);
    FN_CHECK_EQ(tp->t_rttvar, rttvar);
    /* §2.3/§2.4: RTO = SRTT + 4·RTTVAR, at least the minimum; the timer restarted (§5.3). */
    rto = srtt + 4 * rttvar;
    if (rto < (uint64_t)c.tcp_rto_min_ms * 1000000ull)
        rto = (uint64_t)c.tcp_rto_min_ms * 1000000ull;
    FN_CHECK_EQ(tp->t_rxtcur, rto);
    FN_CHECK_EQ(tp->t_timer[TT_REXMT], t.now + rto);
    FN_CHECK_EQ(tp->t_rxtshift, 0);
    TT_TEARDOWN();
}

/* cc.h's condition for calling ack_received once for a run's ACKs that are not
 * cwnd-limited: for every algorithm, a second such call at the same now, with other byte,
 * flight and RTT values, changes nothing. */
FN_TEST(ack_batch_cc_app_limited_step_idempotent)
{
    BATCH_SETUP(0);

    for (unsigned i = 0; i < cc_algo_count(); i++) {
        struct cc_var once;
        uint32_t cwnd, ssthresh;

        FN_CHECK_EQ(fn_tcp_set_cc(tp, cc_algo_by_index(i)->name), 0);
        tt_advance(&t, 7 * 1000000ull);
        tp->ccv.flags = 0;
        tp->ccv.bytes_this_ack = mss;
        tp->ccv.flight = 5 * mss;
        tp->ccv.now = t.now;
        tp->ccv.srtt = 3 * 1000000ull;
        tp->cc_algo->ack_received(&tp->ccv, CC_ACK);
        once = tp->ccv;
        cwnd = tp->snd_cwnd;
        ssthresh = tp->snd_ssthresh;
        tp->ccv.bytes_this_ack = 3 * mss;
        tp->ccv.flight = 2 * mss;
        tp->ccv.srtt = 9 * 1000000ull;
        tp->cc_algo->ack_received(&tp->ccv, CC_ACK);
        FN_CHECK(memcmp(tp->ccv.cc_data, once.cc_data, sizeof(once.cc_data)) == 0);
        FN_CHECK_EQ(tp->snd_cwnd, cwnd);
        FN_CHECK_EQ(tp->snd_ssthresh, ssthresh);
    }
    TT_TEARDOWN();
}

/* A batch mixing the pure ACKs of two connections: each run ends at the other flow's frame
 * (which the layered path takes, and which makes its flow the cached one), and every ACK
 * still lands on its own connection. */
FN_TEST(ack_batch_two_flows_interleaved)
{
    BATCH_SETUP(0);
    struct peer p2;
    struct tcpcb *tp2;
    uint64_t hp0 = tnet_stats(t.sa).tcp_rx_hdrpred_ack;
    static const int flow[] = {1, 1, 2, 1, 2, 2, 1, 1};
    uint32_t n1 = 0, n2 = 0;

    tt_peer_init(&p2, &t, 0xa000u);
    p2.port = P_PORT + 1;
    p2.ts = 1;
    tp2 = tt_passive(&p2, l);
    FN_CHECK(tp2 != NULL);
    FN_CHECK_EQ(fn_tcp_send(tp2, buf10, sizeof(buf10), t.now), (int)sizeof(buf10));
    fn_stack_poll(t.sa, t.now);
    while (tt_read(&t, &r) == 1)
        p2.tsecr = r.to.tsval;
    tt_advance(&t, 4 * 1000000ull);
    for (unsigned i = 0; i < sizeof(flow) / sizeof(flow[0]); i++) {
        if (flow[i] == 1)
            queue_ack(&t, &p, 1 + ++n1 * mss, NULL, 0);
        else
            queue_ack(&t, &p2, 1 + ++n2 * mss, NULL, 0);
    }
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(tp->snd_una - tp->iss, 1 + n1 * mss);
    FN_CHECK_EQ(tp2->snd_una - tp2->iss, 1 + n2 * mss);
    FN_CHECK_EQ(tp->snd_cc, (10 - n1) * mss);
    FN_CHECK_EQ(tp2->snd_cc, (10 - n2) * mss);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_rx_hdrpred_ack - hp0, n1 + n2);
    FN_CHECK(tp->t_srtt != 0 && tp2->t_srtt != 0);
    FN_CHECK_EQ(tp->t_timer[TT_REXMT], t.now + tp->t_rxtcur);
    FN_CHECK_EQ(tp2->t_timer[TT_REXMT], t.now + tp2->t_rxtcur);
    fn_tcp_abort(tp2, t.now);
    TT_TEARDOWN();
}

FN_TEST_MAIN()
