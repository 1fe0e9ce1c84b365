/*
 * test_tcp_rfc5961.c — blind in-window attacks (RFC 5961): RST exactly at RCV.NXT resets,
 * in-window RST gets a challenge ACK, out-of-window RST is dropped silently; a SYN on an
 * established connection gets a challenge ACK (never a reset); ACK acceptability
 * (SND.UNA - MAX.SND.WND <= SEG.ACK <= SND.NXT); the challenge-ACK rate limit is per
 * connection; out-of-window data is dropped and ACKed, rate-limited.
 */
#include "tcp_harness.h"

#define SETUP() TT_SETUP(0xabcdef00u, (void)0, (void)0)
#define TEARDOWN() TT_TEARDOWN()

FN_TEST(rst_exact_resets)
{
    SETUP();
    tt_inject(&p, 1, 0, FN_TH_RST, NULL, 0);
    FN_CHECK_EQ(fn_tcp_state(tp), TCPS_CLOSED);
    FN_CHECK_EQ(fn_tcp_error(tp), ECONNRESET);
    FN_CHECK_EQ(tt_read(&t, &r), 0);
    fn_tcp_close(tp, t.now);
    tp = NULL;
    TEARDOWN();
}

FN_TEST(rst_in_window_gets_challenge_ack)
{
    SETUP();
    tt_inject(&p, 1000, 0, FN_TH_RST, NULL, 0);
    FN_CHECK_EQ(fn_tcp_state(tp), TCPS_ESTABLISHED);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.flags, FN_TH_ACK);                     /* <SEQ=SND.NXT><ACK=RCV.NXT> */
    FN_CHECK_EQ(RSEQ(&p, &r), 1);
    FN_CHECK_EQ(RACK(&p, &r), 1);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_challenge_ack, 1);
    /* The real peer, seeing the challenge ACK, would answer with the exact RST. */
    tt_inject(&p, 1, 0, FN_TH_RST, NULL, 0);
    FN_CHECK_EQ(fn_tcp_state(tp), TCPS_CLOSED);
    fn_tcp_close(tp, t.now);
    tp = NULL;
    TEARDOWN();
}

FN_TEST(rst_out_of_window_dropped_silently)
{
    SETUP();
    tt_inject(&p, 1 + 200000, 0, FN_TH_RST, NULL, 0);       /* beyond the window */
    tt_inject(&p, (uint32_t)-1000, 0, FN_TH_RST, NULL, 0);  /* before rcv_nxt */
    FN_CHECK_EQ(fn_tcp_state(tp), TCPS_ESTABLISHED);
    FN_CHECK_EQ(tt_read(&t, &r), 0);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_rst_ignored, 2);
    TEARDOWN();
}

FN_TEST(syn_on_established_challenge_ack_no_reset)
{
    SETUP();
    tt_inject(&p, 1, 0, FN_TH_SYN, NULL, 0);                /* exact seq */
    tt_inject(&p, 500, 0, FN_TH_SYN, NULL, 0);              /* in window */
    tt_inject(&p, (uint32_t)-5000, 0, FN_TH_SYN, NULL, 0);  /* out of window */
    FN_CHECK_EQ(fn_tcp_state(tp), TCPS_ESTABLISHED);
    for (int i = 0; i < 3; i++) {
        FN_CHECK_EQ(tt_read(&t, &r), 1);
        FN_CHECK_EQ(r.th.flags, FN_TH_ACK);
        FN_CHECK_EQ(RACK(&p, &r), 1);
    }
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_rst_tx, 0);
    TEARDOWN();
}

FN_TEST(ack_acceptability)
{
    uint8_t buf[8];

    SETUP();
    /* SEG.ACK > SND.NXT: dropped (its data is not taken) and a challenge ACK sent. */
    tt_inject(&p, 1, 5000, FN_TH_ACK, "evil", 4);
    FN_CHECK_EQ(fn_tcp_recv(tp, buf, sizeof(buf), t.now), -EAGAIN);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(RACK(&p, &r), 1);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_ack_unacceptable, 1);
    /* SEG.ACK far below SND.UNA - MAX.SND.WND: dropped. */
    tt_inject(&p, 1, (uint32_t)-(int32_t)0x40000000, FN_TH_ACK, "evil", 4);
    FN_CHECK_EQ(fn_tcp_recv(tp, buf, sizeof(buf), t.now), -EAGAIN);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_ack_unacceptable, 2);
    tnet_drain(&t);
    /* An old but acceptable ACK (within MAX.SND.WND below SND.UNA): data is taken. */
    tt_inject(&p, 1, (uint32_t)-100, FN_TH_ACK, "good", 4);
    FN_CHECK_EQ(fn_tcp_recv(tp, buf, sizeof(buf), t.now), 4);
    FN_CHECK(memcmp(buf, "good", 4) == 0);
    /* No ACK at all: dropped. */
    tt_inject(&p, 5, 0, 0, "noack", 5);
    FN_CHECK_EQ(fn_tcp_recv(tp, buf, sizeof(buf), t.now), -EAGAIN);
    TEARDOWN();
}

FN_TEST(challenge_ack_rate_limited_per_connection)
{
    struct tcpcb *tp2;
    struct peer p2;

    SETUP();
    tt_peer_init(&p2, &t, 12345);
    p2.port = P_PORT + 1;
    tp2 = tt_passive(&p2, l);
    FN_CHECK(tp2 != NULL);
    tnet_drain(&t);
    for (int i = 0; i < 25; i++)
        tt_inject(&p, 100 + (uint32_t)i, 0, FN_TH_RST, NULL, 0);
    FN_CHECK_EQ(tnet_drain(&t), c.tcp_challenge_ack_per_s);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_challenge_ack_limited, 25 - c.tcp_challenge_ack_per_s);
    /* Another connection has its own budget (no global counter: CVE-2016-5696). */
    tt_inject(&p2, 100, 0, FN_TH_RST, NULL, 0);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.dport, P_PORT + 1);
    /* A second later the budget is back. */
    tt_advance(&t, 1 * SEC);
    tt_inject(&p, 100, 0, FN_TH_RST, NULL, 0);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(fn_tcp_state(tp), TCPS_ESTABLISHED);
    fn_tcp_abort(tp2, t.now);
    TEARDOWN();
}

FN_TEST(out_of_window_data_acked_rate_limited)
{
    SETUP();
    tt_inject(&p, 1 + 300000, 1, FN_TH_ACK, "far", 3);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(RACK(&p, &r), 1);
    tt_inject(&p, 1 + 300000, 1, FN_TH_ACK, "far", 3);
    FN_CHECK_EQ(tt_read(&t, &r), 0);                        /* within the interval */
    tt_advance(&t, c.tcp_oow_ack_interval_ms * MS);
    tt_inject(&p, 1 + 300000, 1, FN_TH_ACK, "far", 3);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_rx_oow, 3);
    TEARDOWN();
}

FN_TEST_MAIN()
