/*
 * test_tcp_close.c — closing (RFC 9293 §3.6, §3.10.4, §3.10.7.4): active and passive close,
 * simultaneous close, half-close, TIME_WAIT for 2·MSL and its RST immunity (RFC 1337), FIN
 * retransmission, FIN_WAIT_2 limit for a closed socket, close with unread data → RST.
 */
#include "tcp_harness.h"

#define SETUP() TT_SETUP(0x40000000u, c.tcp_msl_ms = 1000, (void)0)
#define TEARDOWN() TT_TEARDOWN()

FN_TEST(active_close_time_wait_2msl)
{
    SETUP();
    FN_CHECK_EQ(fn_tcp_shutdown_wr(tp, t.now), 0);
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(fn_tcp_state(tp), TCPS_FIN_WAIT_1);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.flags, FN_TH_FIN | FN_TH_ACK);
    FN_CHECK_EQ(RSEQ(&p, &r), 1);
    FN_CHECK_EQ(fn_tcp_send(tp, "x", 1, t.now), -EPIPE);
    tt_inject(&p, 1, 2, FN_TH_ACK, NULL, 0);
    FN_CHECK_EQ(fn_tcp_state(tp), TCPS_FIN_WAIT_2);
    FN_CHECK_EQ(tt_read(&t, &r), 0);
    tt_inject(&p, 1, 2, FN_TH_FIN | FN_TH_ACK, NULL, 0);
    FN_CHECK_EQ(fn_tcp_state(tp), TCPS_TIME_WAIT);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.flags, FN_TH_ACK);
    FN_CHECK_EQ(RACK(&p, &r), 2);
    FN_CHECK_EQ(fn_tcp_recv(tp, &r, 1, t.now), 0);          /* EOF */
    tt_advance(&t, 2 * 1000 * MS - 1);
    FN_CHECK_EQ(fn_tcp_state(tp), TCPS_TIME_WAIT);
    tt_advance(&t, 1);
    FN_CHECK_EQ(fn_tcp_state(tp), TCPS_CLOSED);
    FN_CHECK(tt_events(&t, tp) & FN_TCP_EV_CLOSED);
    FN_CHECK_EQ(fn_tcp_error(tp), 0);
    fn_tcp_close(tp, t.now);
    tp = NULL;
    TEARDOWN();
}

FN_TEST(passive_close_last_ack)
{
    SETUP();
    tt_inject(&p, 1, 1, FN_TH_FIN | FN_TH_ACK, NULL, 0);
    FN_CHECK_EQ(fn_tcp_state(tp), TCPS_CLOSE_WAIT);
    FN_CHECK_EQ(tt_read(&t, &r), 1);                        /* FIN acked at once */
    FN_CHECK_EQ(RACK(&p, &r), 2);
    FN_CHECK(tt_events(&t, tp) & FN_TCP_EV_EOF);
    FN_CHECK_EQ(fn_tcp_recv(tp, &r, 1, t.now), 0);
    /* We may still send in CLOSE_WAIT. */
    FN_CHECK_EQ(fn_tcp_send(tp, "bye", 3, t.now), 3);
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.payload_len, 3);
    fn_tcp_close(tp, t.now);
    tp = NULL;
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.flags, FN_TH_FIN | FN_TH_ACK);
    FN_CHECK_EQ(RSEQ(&p, &r), 4);
    FN_CHECK_EQ(fn_tcp_count(t.sa), 2);
    tt_inject(&p, 2, 5, FN_TH_ACK, NULL, 0);
    FN_CHECK_EQ(fn_tcp_count(t.sa), 1);                     /* LAST_ACK done: freed */
    TEARDOWN();
}

FN_TEST(simultaneous_close_closing)
{
    SETUP();
    fn_tcp_shutdown_wr(tp, t.now);
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    /* The peer's FIN crosses ours: it does not ack our FIN. */
    tt_inject(&p, 1, 1, FN_TH_FIN | FN_TH_ACK, NULL, 0);
    FN_CHECK_EQ(fn_tcp_state(tp), TCPS_CLOSING);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(RACK(&p, &r), 2);
    tt_inject(&p, 2, 2, FN_TH_ACK, NULL, 0);
    FN_CHECK_EQ(fn_tcp_state(tp), TCPS_TIME_WAIT);
    fn_tcp_close(tp, t.now);                                /* owner gone; TIME_WAIT stays */
    tp = NULL;
    FN_CHECK_EQ(fn_tcp_count(t.sa), 2);
    tt_advance(&t, 2 * SEC);
    FN_CHECK_EQ(fn_tcp_count(t.sa), 1);
    TEARDOWN();
}

FN_TEST(half_close_keeps_receiving)
{
    uint8_t buf[64];

    SETUP();
    fn_tcp_shutdown_wr(tp, t.now);
    fn_stack_poll(t.sa, t.now);
    tnet_drain(&t);
    tt_inject(&p, 1, 2, FN_TH_ACK, NULL, 0);
    FN_CHECK_EQ(fn_tcp_state(tp), TCPS_FIN_WAIT_2);
    tt_inject(&p, 1, 2, FN_TH_ACK | FN_TH_PUSH, "still talking", 13);
    FN_CHECK_EQ(fn_tcp_recv(tp, buf, sizeof(buf), t.now), 13);
    FN_CHECK(memcmp(buf, "still talking", 13) == 0);
    tt_inject(&p, 14, 2, FN_TH_FIN | FN_TH_ACK, NULL, 0);
    FN_CHECK_EQ(fn_tcp_state(tp), TCPS_TIME_WAIT);
    FN_CHECK_EQ(fn_tcp_recv(tp, buf, sizeof(buf), t.now), 0);
    tt_advance(&t, 2 * SEC);
    fn_tcp_close(tp, t.now);
    tp = NULL;
    TEARDOWN();
}

FN_TEST(time_wait_ignores_rst_and_reacks_fin)
{
    SETUP();
    fn_tcp_shutdown_wr(tp, t.now);
    fn_stack_poll(t.sa, t.now);
    tnet_drain(&t);
    tt_inject(&p, 1, 2, FN_TH_FIN | FN_TH_ACK, NULL, 0);
    FN_CHECK_EQ(fn_tcp_state(tp), TCPS_TIME_WAIT);
    tnet_drain(&t);
    tt_advance(&t, 1500 * MS);
    /* RFC 1337: a RST, even exactly at rcv_nxt, does not end TIME_WAIT. */
    tt_inject(&p, 2, 2, FN_TH_RST, NULL, 0);
    FN_CHECK_EQ(fn_tcp_state(tp), TCPS_TIME_WAIT);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_rst_ignored, 1);
    /* The peer's FIN again (our ACK was lost): ACK it and restart 2·MSL. */
    tt_inject(&p, 1, 2, FN_TH_FIN | FN_TH_ACK, NULL, 0);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(RACK(&p, &r), 2);
    tt_advance(&t, 1900 * MS);
    FN_CHECK_EQ(fn_tcp_state(tp), TCPS_TIME_WAIT);
    tt_advance(&t, 100 * MS);
    FN_CHECK_EQ(fn_tcp_state(tp), TCPS_CLOSED);
    fn_tcp_close(tp, t.now);
    tp = NULL;
    TEARDOWN();
}

FN_TEST(fin_retransmitted_on_rto)
{
    SETUP();
    FN_CHECK_EQ(fn_tcp_send(tp, "abc", 3, t.now), 3);
    fn_tcp_shutdown_wr(tp, t.now);
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.payload_len, 3);
    FN_CHECK_EQ(tt_read(&t, &r), 1);                        /* the FIN right after */
    FN_CHECK(r.th.flags & FN_TH_FIN);
    FN_CHECK_EQ(RSEQ(&p, &r), 4);
    FN_CHECK_EQ(tt_read(&t, &r), 0);
    tt_inject(&p, 1, 4, FN_TH_ACK, NULL, 0);                /* data acked, FIN not */
    FN_CHECK_EQ(fn_tcp_state(tp), TCPS_FIN_WAIT_1);
    tt_advance(&t, tp->t_rxtcur);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.flags, FN_TH_FIN | FN_TH_ACK);
    FN_CHECK_EQ(RSEQ(&p, &r), 4);
    FN_CHECK_EQ(r.th.payload_len, 0);
    tt_inject(&p, 1, 5, FN_TH_ACK, NULL, 0);
    FN_CHECK_EQ(fn_tcp_state(tp), TCPS_FIN_WAIT_2);
    FN_CHECK_EQ(tp->t_timer[TT_REXMT], 0);
    fn_tcp_abort(tp, t.now);
    tp = NULL;
    TEARDOWN();
}

FN_TEST(fin_wait_2_limited_after_close)
{
    SETUP();
    fn_tcp_close(tp, t.now);
    tp = NULL;
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    tt_inject(&p, 1, 2, FN_TH_ACK, NULL, 0);
    FN_CHECK_EQ(fn_tcp_count(t.sa), 2);
    tt_advance(&t, (uint64_t)c.tcp_fin_wait2_ms * MS);
    FN_CHECK_EQ(fn_tcp_count(t.sa), 1);                     /* not stuck forever */
    TEARDOWN();
}

FN_TEST(close_with_unread_data_resets)
{
    SETUP();
    tt_inject(&p, 1, 1, FN_TH_ACK, "unread", 6);
    tnet_drain(&t);
    fn_tcp_close(tp, t.now);
    tp = NULL;
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK(r.th.flags & FN_TH_RST);
    FN_CHECK_EQ(RSEQ(&p, &r), 1);
    TEARDOWN();
}

FN_TEST(data_after_close_resets)
{
    SETUP();
    fn_tcp_close(tp, t.now);
    tp = NULL;
    fn_stack_poll(t.sa, t.now);
    tnet_drain(&t);
    tt_inject(&p, 1, 2, FN_TH_ACK, "late", 4);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK(r.th.flags & FN_TH_RST);
    TEARDOWN();
}

FN_TEST(peer_reset_reported)
{
    SETUP();
    tt_inject(&p, 1, 1, FN_TH_RST, NULL, 0);
    FN_CHECK_EQ(fn_tcp_state(tp), TCPS_CLOSED);
    FN_CHECK_EQ(fn_tcp_error(tp), ECONNRESET);
    FN_CHECK(tt_events(&t, tp) & FN_TCP_EV_ERROR);
    FN_CHECK_EQ(fn_tcp_recv(tp, &r, 1, t.now), -ECONNRESET);
    fn_tcp_close(tp, t.now);
    tp = NULL;
    TEARDOWN();
}

FN_TEST(closed_tcpcb_never_reported_ready)
{
    struct fn_tcp_event ev[8];

    SETUP();
    tt_events(&t, tp);
    tt_inject(&p, 1, 1, FN_TH_FIN | FN_TH_ACK, NULL, 0);     /* raises READABLE | EOF */
    FN_CHECK(fn_tcp_events(tp) & FN_TCP_EV_EOF);
    fn_tcp_close(tp, t.now);
    tp = NULL;
    FN_CHECK_EQ(fn_tcp_ready(t.sa, ev, 8), 0);
    tnet_drain(&t);
    tt_inject(&p, 2, 2, FN_TH_ACK, NULL, 0);                 /* LAST_ACK acked: freed */
    TEARDOWN();
}

FN_TEST(time_wait_reused_by_newer_syn_only)
{
    struct tcpcb *tp2;

    SETUP();
    fn_tcp_close(tp, t.now);                                /* active close by A */
    tp = NULL;
    fn_stack_poll(t.sa, t.now);
    tnet_drain(&t);
    tt_inject(&p, 1, 2, FN_TH_FIN | FN_TH_ACK, NULL, 0);
    tnet_drain(&t);
    FN_CHECK_EQ(fn_tcp_count(t.sa), 2);                     /* listener + TIME_WAIT */
    /* An old SYN (not beyond the old connection's sequence space): challenge ACK. */
    tt_inject_abs(&p, p.iss, 0, FN_TH_SYN, NULL, 0, NULL, 0);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.flags, FN_TH_ACK);
    /* A SYN beyond it: TIME_WAIT gives way to the new connection. */
    p.iss += 100000;
    tp2 = tt_passive(&p, l);
    FN_CHECK(tp2 != NULL);
    FN_CHECK_EQ(fn_tcp_state(tp2), TCPS_ESTABLISHED);
    FN_CHECK_EQ(fn_tcp_count(t.sa), 2);
    fn_tcp_abort(tp2, t.now);
    TEARDOWN();
}

FN_TEST_MAIN()
