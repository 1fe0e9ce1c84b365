/*
 * test_tcp_fastin.c — the fast paths (tcp/tcp_fastin.c) behave as the general path: the same
 * seeded stream of peer segments (mostly pure ACKs of new data, or in the bulk variant half
 * of them in-order data acknowledging nothing new, mixed with
 * duplicate, old, too new and partial ACKs, window changes, other option layouts, SACK
 * blocks, PAWS-old timestamps, data, SYN/URG/ECE flags, corrupted bytes and RTO-sized
 * pauses) is played twice against a fresh connection sending bulk data: once as it comes,
 * once with the fast path's cached flow cleared before every segment, so that every segment
 * takes the general path.  After every segment the tcpcb's sequence, window, congestion,
 * RTT, timestamp and timer state, every stack counter (but tcp_rx_fastack), the buffers in
 * use and every segment sent must be the same in both runs.
 */
#include "tcp_snap.h"

#define STEPS 2500
#define SEED0 0x5eedull

static struct snap g_ref[STEPS];

/* Options of one peer segment: mostly the RFC 7323 Appendix A layout, sometimes another
 * layout (the timestamp option after a SACK-permitted option, which is ignored outside a
 * SYN), none, or a SACK block after the timestamp. */
static uint32_t peer_opts(uint8_t *o, uint64_t r, uint32_t tsval, uint32_t tsecr,
                          uint32_t sack_lo, uint32_t sack_hi)
{
    uint32_t kind = (uint32_t)(r % 100), n;

    if (kind < 4)
        return 0;
    if (kind < 8)
        return put_ts_after(o, 4, 2, tsval, tsecr);
    n = put_ts_after(o, 1, 1, tsval, tsecr);
    if (kind < 12) {
        o[n++] = 1;
        o[n++] = 1;
        o[n++] = 5;
        o[n++] = 10;
        put32(o + n, sack_lo);
        put32(o + n + 4, sack_hi);
        n += 8;
    }
    return n;
}

/* One run: the connection, STEPS peer segments, after each the application sends some
 * more, the clock moves on and A's segments are read.  fast = 0 clears the cached flow
 * before every segment.  The first run records into g_ref, the second compares. */
static void play(int *fn_test_failed, uint64_t seed, int sack, int bulk, int fast,
                 uint64_t *nfast, uint64_t *nfast_data)
{
    static uint8_t big[16384];
    uint64_t rng = seed;
    uint32_t una = 1, amax = 1, pseq = 1, a_ts0, last_tsv, mss;
    uint16_t win0;
    TT_SETUP(0x5000u, (c.tcp_timestamps = 1, c.tcp_sack = sack),
             (p.ts = 1, p.sackok = sack));

    a_ts0 = last_tsv = p.tsecr;
    mss = tcp_maxseg(tp);
    win0 = p.win;
    for (int step = 0; step < STEPS; step++) {
        uint8_t f[TT_FRAME_MAX], o[40], data[200];
        uint64_t x = next_rng(&rng), r2 = next_rng(&rng), h = 0;
        uint32_t ack, seq, dlen = 0, flen, nout = 0, optlen, pick = (uint32_t)(x % 100);
        uint8_t flags = FN_TH_ACK;
        struct snap now;
        /* Three in four segments are plain ACKs of new data (in the bulk variant half of
         * those are in-order data without a new ACK), the rest are perturbed. */
        int clean = (x >> 60) < 12, clean_data = clean && bulk && ((x >> 59) & 1);
        uint64_t fast0 = tnet_stats(t.sa).tcp_rx_fastack;

        /* The ACK field. */
        if (clean_data)
            ack = una;
        else if (pick < 70 || clean)
            ack = una + (amax - una < (1 + r2 % 6) * mss ? amax - una : (uint32_t)(1 + r2 % 6) * mss);
        else if (pick < 78)
            ack = amax;
        else if (pick < 84)
            ack = una;
        else if (pick < 88)
            ack = una - (uint32_t)(r2 % 3000);
        else if (pick < 92)
            ack = amax + 1 + (uint32_t)(r2 % 5000);
        else
            ack = una + (uint32_t)(r2 % 1000);
        if (SEQ_GT(ack, una) && SEQ_LEQ(ack, amax))
            una = ack;
        /* Sequence number, payload, flags, window, timestamps. */
        seq = pseq = tp->rcv_nxt - p.iss;
        pick = clean ? 999 : (uint32_t)((x >> 8) % 1000);
        if (pick < 5)
            seq = pseq + 1 + (uint32_t)(r2 % 200);
        else if (pick < 15)
            seq = pseq - 1 - (uint32_t)(r2 % 100);
        else if (pick < 115 || clean_data) {
            dlen = 1 + (uint32_t)(r2 % sizeof(data));
            tt_fill(data, pseq, dlen);
        }
        pick = (uint32_t)((x >> 20) % 1000) + (clean ? 170 : 0);
        if (pick < 120)
            flags |= FN_TH_PUSH;
        else if (pick < 150)
            flags |= FN_TH_ECE;
        else if (pick < 160)
            flags |= FN_TH_URG;
        else if (pick < 165)
            flags |= FN_TH_SYN;
        else if (pick < 170)
            flags = FN_TH_PUSH;
        pick = clean ? 100 : (uint32_t)((x >> 30) % 1000);
        if (pick < 30)
            p.win = (uint16_t)(1000 + r2 % 64536);
        else if (pick < 35)
            p.win = 0;
        else if (pick < 250)
            p.win = win0;
        p.tsval += (uint32_t)((x >> 40) % 3);
        pick = clean ? 99 : (uint32_t)((x >> 44) % 100);
        optlen = peer_opts(o, clean ? 99 : r2 >> 20, pick < 3 ? p.tsval - 5 : p.tsval,
                           pick < 8 ? 0 : pick < 12 ? last_tsv - (uint32_t)(r2 % 100) : last_tsv,
                           p.a_iss + una + mss, p.a_iss + una + 2 * mss);
        flen = tt_build_abs(&p, f, p.iss + seq, p.a_iss + ack, flags, o, optlen, data, dlen);
        /* A corrupted byte somewhere in the frame now and then. */
        if (!clean && (x >> 52) % 100 < 4)
            f[(r2 >> 32) % flen] ^= (uint8_t)(1 + (r2 >> 8) % 255);
        if (!fast)
            t.sa->tcp->fast_tp = NULL;
        tnet_inject(&t, f, flen);
        if (dlen > 0 && tnet_stats(t.sa).tcp_rx_fastack > fast0)
            ++*nfast_data;

        /* The application keeps the send buffer full; the clock moves on, now and then by
         * more than an RTO. */
        if (fn_tcp_writable(tp) > 0)
            (void)fn_tcp_send(tp, big, sizeof(big), t.now);
        tt_advance(&t, (r2 % 1000 == 0) ? 1500000000ull : (r2 % 6) * 1000000ull);
        while (tt_read(&t, &r) == 1) {
            uint32_t s_rel = (uint32_t)(r.th.seq - p.a_iss);
            uint32_t end = s_rel + r.th.payload_len + ((r.th.flags & FN_TH_FIN) ? 1 : 0);
            if (SEQ_GT(end, amax))
                amax = end;
            if (r.to.has_ts)
                last_tsv = r.to.tsval;
            h = mix_seg(h, &p, &r, a_ts0);
            nout++;
        }
        take_snap(&now, &t, tp, nout, h);
        now.stats.tcp_rx_fastack = 0;
        if (fast)
            memcpy(&g_ref[step], &now, sizeof(now));
        else if (memcmp(&g_ref[step], &now, sizeof(now)) != 0) {
            fprintf(stderr, "  seed %llx sack %d: runs differ after step %d\n",
                    (unsigned long long)seed, sack, step);
            FN_CHECK(0);
        }
        FN_CHECK_EQ(tp->t_state, TCPS_ESTABLISHED);
    }
    *nfast = tnet_stats(t.sa).tcp_rx_fastack;
    TT_TEARDOWN();
}

static void compare(int *fn_test_failed, uint64_t seed, int sack, int bulk)
{
    uint64_t nfast = 0, nslow = 1, ndata = 0, ndata_slow = 0;

    play(fn_test_failed, seed, sack, bulk, 1, &nfast, &ndata);
    if (*fn_test_failed)
        return;
    play(fn_test_failed, seed, sack, bulk, 0, &nslow, &ndata_slow);
    if (*fn_test_failed)
        return;
    /* The comparison is worth something only if the fast path took many segments in the
     * first run (in the bulk variant, many of them data) and none in the second. */
    FN_CHECK(nfast > STEPS / 2);
    FN_CHECK(!bulk || ndata > STEPS / 5);
    FN_CHECK_EQ(nslow, 0);
}

FN_TEST(fast_ack_equals_general_path_timestamps)
{
    for (uint64_t k = 0; k < 3; k++) {
        compare(fn_test_failed, SEED0 + k, 0, 0);
        if (*fn_test_failed)
            return;
    }
}

FN_TEST(fast_ack_equals_general_path_with_sack)
{
    for (uint64_t k = 0; k < 3; k++) {
        compare(fn_test_failed, SEED0 + 100 + k, 1, 0);
        if (*fn_test_failed)
            return;
    }
}

FN_TEST(fast_data_equals_general_path)
{
    for (uint64_t k = 0; k < 3; k++) {
        compare(fn_test_failed, SEED0 + 200 + k, k == 2, 1);
        if (*fn_test_failed)
            return;
    }
}

FN_TEST_MAIN()
