/*
 * test_tcp_retransmit.c — the retransmission timer: the RTO estimator against RFC 6298 by
 * hand, the minimum RTO, retransmission with exponential backoff, Karn's rule, backoff reset
 * on a new ACK, giving up with ETIMEDOUT, cwnd = 1 SMSS after an RTO, initial window 10
 * (RFC 6928), slow start.  Fast retransmit and recovery are in test_tcp_fastrecovery.c.
 */
#include "tcp_harness.h"
#include "tcp/tcp_ack.h"

/* The window arithmetic checked here is NewReno's (RFC 5681 / 6582): select it explicitly,
 * the stack's default is CUBIC (test_tcp_cubic.c checks that one). */
#define SETUP(...)                                                                   \
    static uint8_t big[65536];                                                       \
    (void)big;                                                                       \
    TT_SETUP(0x7ffffff0u, (c.tcp_cc = FN_CC_NEWRENO, __VA_ARGS__), (void)0)
#define TEARDOWN() TT_TEARDOWN()

FN_TEST(rto_estimator_matches_rfc6298)
{
    SETUP((void)0);
    /* Start from "no sample" to check §2.1/2.2/2.3 by hand. */
    tp->t_srtt = tp->t_rttvar = 0;
    FN_CHECK(tcp_rto(tp, 0) == 1000 * MS);                  /* §2.1 initial 1 s */
    tcp_xmit_timer(tp, 100 * MS);
    FN_CHECK(tp->t_srtt == 100 * MS);                       /* §2.2 SRTT = R */
    FN_CHECK(tp->t_rttvar == 50 * MS);                      /*      RTTVAR = R/2 */
    FN_CHECK(tp->t_rxtcur == 300 * MS);                     /*      RTO = SRTT + 4·RTTVAR */
    tcp_xmit_timer(tp, 200 * MS);
    /* §2.3: RTTVAR = 3/4·50 + 1/4·|100-200| = 62.5; SRTT = 7/8·100 + 1/8·200 = 112.5 */
    FN_CHECK(tp->t_rttvar == 62500 * 1000ull);
    FN_CHECK(tp->t_srtt == 112500 * 1000ull);
    FN_CHECK(tp->t_rxtcur == 362500 * 1000ull);
    /* §5.5 backoff doubles; §2.5 capped at the maximum. */
    FN_CHECK(tcp_rto(tp, 1) == 725 * MS);
    FN_CHECK(tcp_rto(tp, 30) == (uint64_t)c.tcp_rto_max_ms * MS);
    /* §2.4: never below the configured minimum. */
    for (int i = 0; i < 50; i++)
        tcp_xmit_timer(tp, 1 * MS);
    FN_CHECK(tp->t_rxtcur == 200 * MS);
    TEARDOWN();
}

FN_TEST(rto_backoff_karn_and_reset_on_new_ack)
{
    uint64_t rto;
    uint64_t srtt;

    SETUP((void)0);
    rto = tp->t_rxtcur;
    FN_CHECK(rto == 200 * MS);          /* the handshake measured ~0: the minimum */
    FN_CHECK_EQ(fn_tcp_send(tp, big, 100, t.now), 100);
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    for (int i = 0; i < 3; i++) {
        tt_advance(&t, rto - 1);
        FN_CHECK_EQ(tt_read(&t, &r), 0);
        tt_advance(&t, 1);
        FN_CHECK_EQ(tt_read(&t, &r), 1);
        FN_CHECK_EQ(RSEQ(&p, &r), 1);
        FN_CHECK_EQ(r.th.payload_len, 100);
        rto *= 2;
    }
    FN_CHECK_EQ(tp->t_rxtshift, 3);
    /* Karn: the ACK of a retransmitted segment gives no RTT sample. */
    srtt = tp->t_srtt;
    tt_advance(&t, 50 * MS);
    tt_inject(&p, 1, 101, FN_TH_ACK, NULL, 0);
    FN_CHECK(tp->t_srtt == srtt);
    /* The new ACK ends the backoff. */
    FN_CHECK_EQ(tp->t_rxtshift, 0);
    FN_CHECK(tp->t_rxtcur == 200 * MS);
    FN_CHECK_EQ(tp->t_timer[TT_REXMT], 0);
    /* A fresh segment is timed: 30 ms later its ACK is a sample. */
    FN_CHECK_EQ(fn_tcp_send(tp, big, 100, t.now), 100);
    fn_stack_poll(t.sa, t.now);
    tt_advance(&t, 30 * MS);
    tt_inject(&p, 1, 201, FN_TH_ACK, NULL, 0);
    FN_CHECK(tp->t_srtt != srtt);
    TEARDOWN();
}

FN_TEST(give_up_with_etimedout_and_rst)
{
    SETUP(c.tcp_max_rexmits = 3);
    FN_CHECK_EQ(fn_tcp_send(tp, big, 10, t.now), 10);
    fn_stack_poll(t.sa, t.now);
    for (int i = 0; i < 4 && fn_tcp_state(tp) != TCPS_CLOSED; i++)
        tt_advance(&t, tp->t_rxtcur);
    FN_CHECK_EQ(fn_tcp_state(tp), TCPS_CLOSED);
    FN_CHECK_EQ(fn_tcp_error(tp), ETIMEDOUT);
    FN_CHECK(tt_events(&t, tp) & FN_TCP_EV_ERROR);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_conn_timedout, 1);
    for (int i = 0; i < 4; i++)
        FN_CHECK_EQ(tt_read(&t, &r), 1);                    /* original + 3 retransmits */
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK(r.th.flags & FN_TH_RST);
    fn_tcp_close(tp, t.now);
    tp = NULL;
    TEARDOWN();
}

FN_TEST(initial_window_10_and_slow_start)
{
    uint32_t cw;

    SETUP((void)0);
    FN_CHECK_EQ(tp->snd_cwnd, 14600);                       /* min(10·1460, max(2920, 14600)) */
    FN_CHECK_EQ(fn_tcp_send(tp, big, 30000, t.now), 30000);
    fn_stack_poll(t.sa, t.now);
    for (int i = 0; i < 10; i++)
        FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(tt_read(&t, &r), 0);                        /* cwnd full */
    cw = tp->snd_cwnd;
    tt_inject(&p, 1, 1 + 2920, FN_TH_ACK, NULL, 0);
    /* Slow start, byte counting with L = 2 (RFC 3465): +2 SMSS for 2 SMSS acked. */
    FN_CHECK_EQ(tp->snd_cwnd, cw + 2920);
    /* 2 segments left the window, cwnd grew by 2: 4 new segments. */
    for (int i = 0; i < 4; i++)
        FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(tt_read(&t, &r), 0);
    TEARDOWN();
}

FN_TEST(rto_collapses_cwnd_to_one_segment)
{
    SETUP((void)0);
    FN_CHECK_EQ(fn_tcp_send(tp, big, 10000, t.now), 10000);
    fn_stack_poll(t.sa, t.now);
    tnet_drain(&t);
    tt_advance(&t, tp->t_rxtcur);
    FN_CHECK_EQ(tp->snd_cwnd, 1460);                        /* RFC 5681 §3.1 */
    /* Six full segments were in flight (Nagle held the 1240-byte tail): ssthresh =
     * max(FlightSize / 2, 2·SMSS) = 8760 / 2. */
    FN_CHECK_EQ(tp->snd_ssthresh, 4380);
    FN_CHECK_EQ(tt_read(&t, &r), 1);                        /* one segment, from snd_una */
    FN_CHECK_EQ(RSEQ(&p, &r), 1);
    FN_CHECK_EQ(tt_read(&t, &r), 0);
    TEARDOWN();
}

FN_TEST_MAIN()
