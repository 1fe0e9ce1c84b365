/*
 * test_tcp_hdrpred.c — header prediction (the fast path of tcp_input for an ESTABLISHED
 * connection with timestamps, as bench/tcp_rx_cost measures it): in-order data and pure ACKs
 * for new data are taken by it (counted), and taking the shortcut changes nothing a peer can
 * see — the delayed ACK of every second full-size segment echoes the TSval of the first
 * segment it covers (RFC 7323 §4.3, RFC 5681 §4.2), a pure ACK with nothing left to send
 * sends nothing while one that opens the window for waiting data releases it, and the RTO
 * after a sampled ACK is the RFC 6298 estimate without backoff.
 */
#include "tcp_harness.h"

#define SETUP(CFG) TT_SETUP(0x2000u, (c.tcp_timestamps = 1, CFG), p.ts = 1)
#define TEARDOWN() TT_TEARDOWN()

static uint8_t big[16 * 1448];

FN_TEST(in_order_data_with_timestamps_is_predicted_and_acked_every_second_segment)
{
    struct fn_stats s0;
    uint32_t seg, first_tsval = 0;

    SETUP((void)0);
    seg = tcp_maxseg(tp);
    FN_CHECK_EQ(seg, 1448);
    s0 = tnet_stats(t.sa);
    for (uint32_t i = 0; i < 6; i++) {
        p.tsval++;
        tt_inject(&p, 1 + i * seg, 1, FN_TH_ACK, big, seg);
        if (i % 2 == 0) {
            FN_CHECK_EQ(tt_read(&t, &r), 0);            /* the first of a pair waits */
            first_tsval = p.tsval;
            continue;
        }
        FN_CHECK_EQ(tt_read(&t, &r), 1);
        FN_CHECK_EQ(r.th.flags, FN_TH_ACK);
        FN_CHECK_EQ(r.th.payload_len, 0);
        FN_CHECK_EQ(RACK(&p, &r), 1 + (i + 1) * seg);
        FN_CHECK(r.to.has_ts);
        /* TS.Recent came from the segment at Last.ACK.sent, the first of the pair, so the
         * peer's RTT sample includes the delay of the ACK (RFC 7323 §4.3). */
        FN_CHECK_EQ(r.to.tsecr, first_tsval);
    }
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_rx_hdrpred_data - s0.tcp_rx_hdrpred_data, 6);
    FN_CHECK_EQ(fn_tcp_readable(tp), 6 * seg);
    FN_CHECK(tp->t_timer[TT_DELACK] == 0);              /* nothing owed after the pair */
    TEARDOWN();
}

FN_TEST(pure_ack_with_nothing_unsent_sends_nothing)
{
    struct fn_stats s0;
    uint64_t srtt;
    uint32_t seg;

    SETUP((void)0);
    seg = tcp_maxseg(tp);
    FN_CHECK_EQ(fn_tcp_send(tp, big, 3 * seg, t.now), (int)(3 * seg));
    fn_stack_poll(t.sa, t.now);
    for (uint32_t i = 0; i < 3; i++) {
        FN_CHECK_EQ(tt_read(&t, &r), 1);
        FN_CHECK_EQ(RSEQ(&p, &r), 1 + i * seg);
        p.tsecr = r.to.tsval;
    }
    s0 = tnet_stats(t.sa);
    srtt = tp->t_srtt;                                  /* from the handshake */
    FN_CHECK(srtt != 0);
    t.now += 7 * MS;
    tt_inject(&p, 1, 1 + seg, FN_TH_ACK, NULL, 0);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_rx_hdrpred_ack - s0.tcp_rx_hdrpred_ack, 1);
    FN_CHECK_EQ(tt_read(&t, &r), 0);                    /* nothing to send, nothing sent */
    FN_CHECK_EQ(tp->snd_una, p.a_iss + 1 + seg);
    /* The echoed TSval gave an RTT sample of 7 ms (RFC 6298 §2.3: SRTT += (R - SRTT) / 8),
     * and the RTO is the estimate without backoff. */
    FN_CHECK(tp->t_srtt == srtt - srtt / 8 + 7 * MS / 8);
    FN_CHECK_EQ(tp->t_rxtshift, 0);
    FN_CHECK(tp->t_rxtcur == tcp_rto(tp, 0));
    FN_CHECK(tp->t_timer[TT_REXMT] == t.now + tp->t_rxtcur);  /* restarted (RFC 6298 §5.3) */
    tt_inject(&p, 1, 1 + 3 * seg, FN_TH_ACK, NULL, 0);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_rx_hdrpred_ack - s0.tcp_rx_hdrpred_ack, 2);
    FN_CHECK_EQ(tt_read(&t, &r), 0);
    FN_CHECK(tp->t_timer[TT_REXMT] == 0);               /* all acked (RFC 6298 §5.2) */
    FN_CHECK_EQ(pool_in_use(t.pa), 0);
    TEARDOWN();
}

FN_TEST(pure_ack_releases_data_waiting_for_the_congestion_window)
{
    struct fn_stats s0;
    uint32_t seg;

    SETUP(c.tcp_initcwnd_segs = 2);
    seg = tcp_maxseg(tp);
    FN_CHECK_EQ(tp->snd_cwnd, 2 * seg);
    FN_CHECK_EQ(fn_tcp_send(tp, big, 6 * seg, t.now), (int)(6 * seg));
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    p.tsecr = r.to.tsval;
    FN_CHECK_EQ(tt_read(&t, &r), 0);                    /* cwnd full, 4 segments wait */
    s0 = tnet_stats(t.sa);
    tt_inject(&p, 1, 1 + seg, FN_TH_ACK, NULL, 0);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_rx_hdrpred_ack - s0.tcp_rx_hdrpred_ack, 1);
    /* Slow start: cwnd 3 segments with 1 in flight, so the ACK releases the next two. */
    FN_CHECK_EQ(tp->snd_cwnd, 3 * seg);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(RSEQ(&p, &r), 1 + 2 * seg);
    FN_CHECK_EQ(r.th.payload_len, seg);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(RSEQ(&p, &r), 1 + 3 * seg);
    FN_CHECK_EQ(tt_read(&t, &r), 0);
    TEARDOWN();
}

FN_TEST_MAIN()
