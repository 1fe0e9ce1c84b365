/*
 * test_tcp_delack.c — when TCP acknowledges (RFC 5681 §4.2, RFC 9293 §3.8.6.3): at least
 * every second full-size segment, within the delayed-ACK bound (cfg.tcp_delack_ms, under
 * 500 ms), and at once for out-of-order data and for data that fills a hole; the window's
 * jump at the first read waits for an ACK that is owed anyway.
 */
#include "tcp_harness.h"

#define SETUP_ISS(iss, ...) TT_SETUP(iss, __VA_ARGS__, (void)0)
#define TEARDOWN() TT_TEARDOWN()

FN_TEST(delayed_ack_every_second_segment_and_timer)
{
    SETUP_ISS(1000, (void)0);
    tt_send_range(&p, 0, 1000);
    FN_CHECK_EQ(tt_read(&t, &r), 0);                        /* delayed */
    tt_send_range(&p, 1000, 1000);
    FN_CHECK_EQ(tt_read(&t, &r), 1);                        /* second segment: ACK now */
    FN_CHECK_EQ(RACK(&p, &r), 2001);
    tt_send_range(&p, 2000, 500);
    FN_CHECK_EQ(tt_read(&t, &r), 0);
    tt_advance(&t, c.tcp_delack_ms * MS - 1);
    FN_CHECK_EQ(tt_read(&t, &r), 0);
    tt_advance(&t, 1);
    FN_CHECK_EQ(tt_read(&t, &r), 1);                        /* bounded delay */
    FN_CHECK_EQ(RACK(&p, &r), 2501);
    FN_CHECK(tt_check_stream(tp, t.now, 0, 2500));
    FN_CHECK(tnet_stats(t.sa).tcp_rx_hdrpred_data >= 2);
    TEARDOWN();
}

FN_TEST(out_of_order_acked_at_once_and_reassembled)
{
    SETUP_ISS(5000, (void)0);
    tt_send_range(&p, 1000, 1000);
    FN_CHECK_EQ(tt_read(&t, &r), 1);                        /* immediate duplicate ACK */
    FN_CHECK_EQ(RACK(&p, &r), 1);
    FN_CHECK_EQ(fn_tcp_recv(tp, &r, 1, t.now), -EAGAIN);
    tt_send_range(&p, 3000, 500);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(RACK(&p, &r), 1);
    tt_send_range(&p, 0, 1000);                                /* fills the first hole */
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(RACK(&p, &r), 2001);
    tt_send_range(&p, 2000, 1000);                             /* fills the last hole */
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(RACK(&p, &r), 3501);
    FN_CHECK(tt_check_stream(tp, t.now, 0, 3500));
    FN_CHECK_EQ(tp->reass_segs, 0);
    TEARDOWN();
}

/* Reading the first request lets the window's edge jump from the SYN-ACK's 65535 (never
 * scaled, RFC 7323 §2.2) to the whole buffer.  With an ACK owed for the request, that jump
 * waits for it: the answer written next carries it, as with Linux — no pure window update
 * first — or, if the application answers nothing, the delayed ACK does. */
FN_TEST(first_read_window_jump_rides_on_the_answer_or_the_delayed_ack)
{
    static const char req[] = "GET / HTTP/1.1\r\n\r\n", ans[] = "HTTP/1.1 200 OK\r\n\r\n";
    struct tnet t;
    struct fn_config c;
    struct tcpcb *l, *tp;
    struct peer p;
    struct rseg r;
    uint8_t buf[64];

    tt_cfg(&c);
    c.tcp_window_scaling = 1;
    FN_CHECK_EQ(tt_open(&t, &c), 0);
    FN_CHECK_EQ(fn_tcp_listen(t.sa, A_PORT, 4, &l), 0);
    for (int answer = 1; answer >= 0; answer--) {
        uint8_t shift;
        tt_peer_init(&p, &t, 1000u + (uint32_t)answer);
        p.port = (uint16_t)(P_PORT + answer);
        tt_send_syn(&p, P_MSS, 7, 0);
        FN_CHECK_EQ(tt_read(&t, &r), 1);
        FN_CHECK(r.th.flags == (FN_TH_SYN | FN_TH_ACK) && r.to.has_wscale);
        FN_CHECK_EQ(r.th.win, 65535);
        shift = r.to.wscale;
        p.a_iss = r.th.seq;
        tt_inject(&p, 1, 1, FN_TH_ACK, NULL, 0);
        tp = fn_tcp_accept(l);
        FN_CHECK(tp != NULL);
        tt_inject(&p, 1, 1, FN_TH_ACK | FN_TH_PUSH, req, sizeof(req) - 1);
        FN_CHECK_EQ(tt_read(&t, &r), 0);                        /* the ACK is delayed */
        FN_CHECK_EQ(fn_tcp_recv(tp, buf, sizeof(buf), t.now), (int)sizeof(req) - 1);
        FN_CHECK_EQ(tt_read(&t, &r), 0);                        /* no pure update */
        if (answer) {
            FN_CHECK_EQ(fn_tcp_send(tp, ans, sizeof(ans) - 1, t.now), (int)sizeof(ans) - 1);
            fn_stack_poll(t.sa, t.now);
            FN_CHECK_EQ(tt_read(&t, &r), 1);
            FN_CHECK_EQ(r.th.payload_len, sizeof(ans) - 1);
        } else {
            tt_advance(&t, c.tcp_delack_ms * MS);
            FN_CHECK_EQ(tt_read(&t, &r), 1);
            FN_CHECK_EQ(r.th.payload_len, 0);
        }
        FN_CHECK_EQ(RACK(&p, &r), sizeof(req));
        FN_CHECK(((uint32_t)r.th.win << shift) > 65535u);       /* the edge has jumped */
        FN_CHECK_EQ(tt_read(&t, &r), 0);
        fn_tcp_abort(tp, t.now);
        fn_stack_poll(t.sa, t.now);
        FN_CHECK(tt_read(&t, &r) == 1 && (r.th.flags & FN_TH_RST));
    }
    fn_tcp_close(l, t.now);
    FN_CHECK_EQ(fn_tcp_count(t.sa), 0);
    FN_CHECK_EQ(tnet_close(&t), 0);
}

FN_TEST_MAIN()
