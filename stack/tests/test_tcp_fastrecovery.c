/*
 * test_tcp_fastrecovery.c — fast retransmit on the third duplicate ACK with
 * ssthresh = max(FlightSize/2, 2·SMSS) (RFC 5681 §3.2), limited transmit (RFC 3042), NewReno
 * partial ACKs that retransmit the next hole and stay in recovery (RFC 6582).  How duplicate
 * ACKs are counted across data segments is in test_tcp_dupack.c; SACK-based recovery in
 * test_tcp_sack.c.
 */
#include "tcp_harness.h"

/* The window arithmetic checked here is NewReno's (RFC 5681 / 6582): select it explicitly,
 * the stack's default is CUBIC (test_tcp_cubic.c checks that one). */
#define SETUP(...)                                                                   \
    static uint8_t big[65536];                                                       \
    (void)big;                                                                       \
    TT_SETUP(0x7ffffff0u, (c.tcp_cc = FN_CC_NEWRENO, __VA_ARGS__), (void)0)
#define TEARDOWN() TT_TEARDOWN()

FN_TEST(fast_retransmit_limited_transmit_newreno)
{
    const uint32_t M = 1460;
    uint32_t flight;

    SETUP((void)0);
    /* 10 segments in flight (IW 10), more data queued. */
    FN_CHECK_EQ(fn_tcp_send(tp, big, 20 * M, t.now), (int)(20 * M));
    fn_stack_poll(t.sa, t.now);
    for (int i = 0; i < 10; i++)
        FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(tt_read(&t, &r), 0);
    /* Segment 1 and 4 are lost; the peer acks segment 0, then duplicates. */
    tt_inject(&p, 1, 1 + M, FN_TH_ACK, NULL, 0);
    tnet_drain(&t);
    flight = tp->snd_max - tp->snd_una;
    /* dupack 1 and 2: limited transmit sends one new segment each (RFC 3042). */
    tt_inject(&p, 1, 1 + M, FN_TH_ACK, NULL, 0);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK(RSEQ(&p, &r) == 1 + M + flight);
    tt_inject(&p, 1, 1 + M, FN_TH_ACK, NULL, 0);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK(RSEQ(&p, &r) == 1 + M + flight + M);
    FN_CHECK_EQ(tp->snd_cwnd, 14600 + 1460);                /* unchanged by them */
    /* dupack 3: fast retransmit of the first unacked segment. */
    flight = tp->snd_max - tp->snd_una;
    tt_inject(&p, 1, 1 + M, FN_TH_ACK, NULL, 0);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(RSEQ(&p, &r), 1 + M);
    FN_CHECK_EQ(r.th.payload_len, M);
    FN_CHECK_EQ(tp->snd_ssthresh, flight / 2 > 2 * M ? flight / 2 : 2 * M);
    FN_CHECK_EQ(tp->snd_cwnd, tp->snd_ssthresh + 3 * M);
    FN_CHECK(tp->t_flags & TF_FASTRECOVERY);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_fast_rexmt, 1);
    tnet_drain(&t);
    /* A partial ACK (up to the second hole at segment 4): retransmit it at once and stay
     * in recovery (RFC 6582 §3.2 step 5). */
    tt_inject(&p, 1, 1 + 4 * M, FN_TH_ACK, NULL, 0);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(RSEQ(&p, &r), 1 + 4 * M);
    FN_CHECK(tp->t_flags & TF_FASTRECOVERY);
    tnet_drain(&t);
    /* The full ACK (everything up to `recover`) ends recovery, cwnd <= ssthresh. */
    tt_inject(&p, 1, tp->snd_recover - p.a_iss, FN_TH_ACK, NULL, 0);
    FN_CHECK(!(tp->t_flags & TF_FASTRECOVERY));
    FN_CHECK(tp->snd_cwnd <= tp->snd_ssthresh);
    /* Duplicates of an ACK not above `recover` do not start a second recovery: one
     * window cut per window of data (RFC 6582 §3.2 step 2). */
    {
        uint32_t ss = tp->snd_ssthresh, una = tp->snd_una - p.a_iss;
        FN_CHECK(tp->snd_max != tp->snd_una);
        tnet_drain(&t);
        for (int i = 0; i < 3; i++)
            tt_inject(&p, 1, una, FN_TH_ACK, NULL, 0);
        FN_CHECK_EQ(tnet_stats(t.sa).tcp_fast_rexmt, 1);
        FN_CHECK_EQ(tp->snd_ssthresh, ss);
    }
    TEARDOWN();
}

FN_TEST_MAIN()
