/*
 * test_tcp_bidir.c — segment-level tests for what the simulation matrix (sim_tcp_matrix.c)
 * found with data and loss in both directions at once: a pure ACK sent while our own
 * retransmission has rewound snd_nxt must carry the next new sequence number (snd_max), or
 * a peer that is retransmitting too drops it as below its RCV.NXT (RFC 9293 §3.10.7.4) and
 * both ends retransmit until they give up; and a pure ACK from a peer that filled our
 * window arrives at its right edge and must be taken, not dropped as out of window.
 */
#include "tcp_harness.h"

#define SEG 1460u

FN_TEST(pure_ack_during_retransmission_carries_snd_max)
{
    static uint8_t big[3 * SEG], pd[100];

    TT_SETUP(0x10000, (void)0, (void)0);
    FN_CHECK_EQ(fn_tcp_send(tp, big, sizeof(big), t.now), (int)sizeof(big));
    fn_stack_poll(t.sa, t.now);
    for (uint32_t i = 0; i < 3; i++) {
        FN_CHECK_EQ(tt_read(&t, &r), 1);
        FN_CHECK_EQ(RSEQ(&p, &r), 1 + i * SEG);
    }
    /* RTO: snd_nxt goes back to snd_una, one segment (cwnd = 1 SMSS) goes again. */
    tt_advance(&t, tp->t_rxtcur);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(RSEQ(&p, &r), 1);
    FN_CHECK_EQ(r.th.payload_len, SEG);
    FN_CHECK_EQ(tt_read(&t, &r), 0);
    FN_CHECK_EQ(tp->snd_nxt - p.a_iss, 1 + SEG);

    /* The peer's data is acknowledged (delayed ACK) with SEQ = snd_max, not snd_nxt. */
    tt_inject(&p, 1, 1, FN_TH_ACK, pd, sizeof(pd));
    FN_CHECK_EQ(tt_read(&t, &r), 0);
    tt_advance(&t, (uint64_t)c.tcp_delack_ms * MS);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.flags, FN_TH_ACK);
    FN_CHECK_EQ(r.th.payload_len, 0);
    FN_CHECK_EQ(RSEQ(&p, &r), 1 + 3 * SEG);
    FN_CHECK_EQ(RACK(&p, &r), 101);

    /* The immediate ACK of an old duplicate (tcp_send_ack) too. */
    tt_inject(&p, 1, 1, FN_TH_ACK, pd, sizeof(pd));
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.flags, FN_TH_ACK);
    FN_CHECK_EQ(RSEQ(&p, &r), 1 + 3 * SEG);
    FN_CHECK_EQ(RACK(&p, &r), 101);
    FN_CHECK_EQ(tt_read(&t, &r), 0);

    /* The retransmission state is untouched: the next segment to resend is the second. */
    FN_CHECK_EQ(tp->snd_nxt - p.a_iss, 1 + SEG);
    tt_inject(&p, 101, 1 + 3 * SEG, FN_TH_ACK, NULL, 0);
    FN_CHECK_EQ(tp->snd_una, tp->snd_max);
    FN_CHECK_EQ(tp->t_timer[TT_REXMT], 0);
    TT_TEARDOWN();
}

FN_TEST(pure_ack_at_right_edge_of_our_window_is_processed)
{
    /* The peer filled our receive window (its data lost or in flight) and ACKs our data
     * from SEQ = RCV.NXT + RCV.WND: the ACK must count, not be dropped as out of window. */
    static uint8_t big[3 * SEG];
    uint32_t edge;

    TT_SETUP(0x20000, (void)0, (void)0);
    FN_CHECK_EQ(fn_tcp_send(tp, big, sizeof(big), t.now), (int)sizeof(big));
    fn_stack_poll(t.sa, t.now);
    for (uint32_t i = 0; i < 3; i++)
        FN_CHECK_EQ(tt_read(&t, &r), 1);
    edge = tp->rcv_adv - p.iss;                 /* relative SEQ of the right edge */
    FN_CHECK(edge > 1);

    /* One beyond the edge is still out of window: dropped, answered by an ACK. */
    tt_inject(&p, edge + 1, 1 + SEG, FN_TH_ACK, NULL, 0);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_rx_oow, 1);
    FN_CHECK_EQ(tp->snd_una - p.a_iss, 1);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(RACK(&p, &r), 1);

    /* At the edge: the ACK is taken, nothing is sent back. */
    tt_inject(&p, edge, 1 + 3 * SEG, FN_TH_ACK, NULL, 0);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_rx_oow, 1);
    FN_CHECK_EQ(tp->snd_una, tp->snd_max);
    FN_CHECK_EQ(tp->t_timer[TT_REXMT], 0);
    FN_CHECK_EQ(tt_read(&t, &r), 0);
    TT_TEARDOWN();
}

FN_TEST_MAIN()
