/*
 * test_tcp_delack.c — when TCP acknowledges (RFC 5681 §4.2, RFC 9293 §3.8.6.3): at least
 * every second full-size segment, within the delayed-ACK bound (cfg.tcp_delack_ms, under
 * 500 ms), and at once for out-of-order data and for data that fills a hole.
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

FN_TEST_MAIN()
