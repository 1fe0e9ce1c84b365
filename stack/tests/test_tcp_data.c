/*
 * test_tcp_data.c — moving data (RFC 9293 §3.8–3.10): out-of-order reassembly with overlaps
 * and duplicates, the 2^32 wrap, flow control with a small receive buffer and the window
 * update on read, MSS segmentation, a full send buffer.  Delayed ACKs are in
 * test_tcp_delack.c, Nagle in test_tcp_nagle.c.
 */
#include "tcp_harness.h"

#define SETUP_ISS(iss, ...) TT_SETUP(iss, __VA_ARGS__, (void)0)
#define TEARDOWN() TT_TEARDOWN()

FN_TEST(overlaps_and_duplicates_never_corrupt)
{
    SETUP_ISS(77, (void)0);
    tt_send_range(&p, 300, 200);       /* [300,500) */
    tt_send_range(&p, 450, 200);       /* [450,650) overlaps the tail */
    tt_send_range(&p, 250, 100);       /* [250,350) overlaps the head */
    tt_send_range(&p, 320, 50);        /* inside */
    tt_send_range(&p, 600, 50);        /* duplicate of held bytes */
    tt_send_range(&p, 200, 500);       /* covers everything held and more */
    tt_send_range(&p, 0, 100);         /* in order */
    tt_send_range(&p, 0, 100);         /* old duplicate */
    tt_send_range(&p, 50, 200);        /* overlaps delivered and held */
    FN_CHECK(tt_check_stream(tp, t.now, 0, 700));
    FN_CHECK_EQ(tp->reass_segs, 0);
    FN_CHECK(tnet_stats(t.sa).tcp_rx_dup >= 2);
    TEARDOWN();
}

FN_TEST(sequence_wraparound)
{
    /* The peer's ISN sits just below 2^32: its data wraps while being reassembled. */
    SETUP_ISS(0xfffffc00u, (void)0);
    tt_send_range(&p, 1400, 1000);     /* crosses 2^32 */
    tt_send_range(&p, 2400, 600);
    tt_send_range(&p, 400, 1000);
    tt_send_range(&p, 0, 400);
    FN_CHECK(tt_check_stream(tp, t.now, 0, 3000));
    FN_CHECK(tp->rcv_nxt == (uint32_t)(0xfffffc00u + 1 + 3000));
    /* An old segment from before the wrap is a duplicate, not new data. */
    tt_send_range(&p, 0, 400);
    FN_CHECK_EQ(fn_tcp_recv(tp, &r, 1, t.now), -EAGAIN);
    TEARDOWN();
}

FN_TEST(fin_out_of_order_waits_for_the_data)
{
    uint8_t b[16];

    SETUP_ISS(31, (void)0);
    tt_fill(b, 100, 10);
    tt_inject(&p, 101, 1, FN_TH_ACK | FN_TH_FIN, b, 10);
    FN_CHECK_EQ(fn_tcp_state(tp), TCPS_ESTABLISHED);
    tt_send_range(&p, 0, 100);
    FN_CHECK_EQ(fn_tcp_state(tp), TCPS_CLOSE_WAIT);
    FN_CHECK(tt_check_stream(tp, t.now, 0, 110));
    FN_CHECK_EQ(fn_tcp_recv(tp, b, sizeof(b), t.now), 0);
    TEARDOWN();
}

FN_TEST(flow_control_zero_window_and_update_on_read)
{
    uint8_t b[4096];

    SETUP_ISS(9, c.tcp_rcvbuf = 4096);
    FN_CHECK_EQ(tp->rcv_wscale, 0);
    for (uint32_t off = 0; off < 4096; off += 1024)
        tt_send_range(&p, off, 1024);
    tnet_drain(&t);
    tt_advance(&t, 100 * MS);
    /* The buffer is full: the window is closed. */
    tt_inject(&p, 1 + 4096, 1, FN_TH_ACK, "x", 1);          /* beyond the window */
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.win, 0);
    FN_CHECK_EQ(RACK(&p, &r), 4097);
    FN_CHECK_EQ(fn_tcp_readable(tp), 4096);
    /* A small read does not reopen the window (receiver SWS avoidance)... */
    FN_CHECK_EQ(fn_tcp_recv(tp, b, 100, t.now), 100);
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(tt_read(&t, &r), 0);
    /* ...reading it all does, with a window update. */
    FN_CHECK_EQ(fn_tcp_recv(tp, b, sizeof(b), t.now), 3996);
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.win, 4096);
    FN_CHECK_EQ(pool_in_use(t.pa), 0);                      /* nothing held when idle */
    TEARDOWN();
}

FN_TEST(mss_segmentation_and_peer_window)
{
    static uint8_t big[6000];

    SETUP_ISS(3, (void)0);
    tt_fill(big, 0, sizeof(big));
    FN_CHECK_EQ(fn_tcp_send(tp, big, 5000, t.now), 5000);
    fn_stack_poll(t.sa, t.now);
    for (int i = 0; i < 3; i++) {
        FN_CHECK_EQ(tt_read(&t, &r), 1);
        FN_CHECK_EQ(r.th.payload_len, 1460);
        FN_CHECK_EQ(RSEQ(&p, &r), 1 + 1460u * i);
    }
    /* Nagle: the short tail waits while full segments are unacknowledged. */
    FN_CHECK_EQ(tt_read(&t, &r), 0);
    tt_inject(&p, 1, 1 + 4380, FN_TH_ACK, NULL, 0);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.payload_len, 620);
    FN_CHECK(r.th.flags & FN_TH_PUSH);
    FN_CHECK(memcmp(r.th.payload, big + 4380, 620) == 0);
    /* The peer's window limits what is sent: 1000 bytes, not a full segment. */
    p.win = 1000;
    tt_inject(&p, 1, 5001, FN_TH_ACK, NULL, 0);
    FN_CHECK_EQ(pool_in_use(t.pa), 0);                      /* all acked: buffers freed */
    FN_CHECK_EQ(fn_tcp_send(tp, big, 3000, t.now), 3000);
    fn_stack_poll(t.sa, t.now);
    /* Sender SWS avoidance: 1000 bytes is less than a segment and than half the largest
     * window the peer offered, so it waits... */
    FN_CHECK_EQ(tt_read(&t, &r), 0);
    /* ...until the override timer sends what the window allows. */
    tt_advance(&t, tp->t_rxtcur);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.payload_len, 1000);
    FN_CHECK_EQ(tt_read(&t, &r), 0);
    /* A zero window: after the next expiry, a 1-byte probe. */
    p.win = 0;
    tt_inject(&p, 1, 6001, FN_TH_ACK, NULL, 0);
    tt_advance(&t, tp->t_rxtcur);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.payload_len, 1);
    FN_CHECK_EQ(RSEQ(&p, &r), 6001);
    p.win = 65535;
    tt_inject(&p, 1, 6001, FN_TH_ACK, NULL, 0);             /* window reopens */
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(RSEQ(&p, &r), 6001);
    FN_CHECK_EQ(r.th.payload_len, 1460);
    TEARDOWN();
}

FN_TEST(send_buffer_full_eagain)
{
    static uint8_t big[70000];

    SETUP_ISS(3, c.tcp_sndbuf = 65536);
    FN_CHECK_EQ(fn_tcp_send(tp, big, sizeof(big), t.now), 65536);
    FN_CHECK_EQ(fn_tcp_send(tp, big, 1, t.now), -EAGAIN);
    FN_CHECK_EQ(fn_tcp_writable(tp), 0);
    tnet_drain(&t);
    tt_inject(&p, 1, 1 + 1460, FN_TH_ACK, NULL, 0);
    FN_CHECK_EQ(fn_tcp_writable(tp), 1460);
    FN_CHECK(tt_events(&t, tp) & FN_TCP_EV_WRITABLE);
    TEARDOWN();
}

FN_TEST(reassembly_queue_bounded_and_first_bytes_win)
{
    uint8_t junk[200];

    SETUP_ISS(1234, c.tcp_reass_max_segs = 4);
    for (uint32_t i = 0; i < 6; i++)
        tt_send_range(&p, 200 + 200 * i, 100);                 /* 6 separate holes */
    FN_CHECK_EQ(tp->reass_segs, 4);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_rx_reass_full, 2);
    /* An overlapping segment with different bytes: what was held first is kept. */
    memset(junk, 0xee, sizeof(junk));
    tt_inject(&p, 1 + 220, 1, FN_TH_ACK, junk, 60);          /* inside held [200,300) */
    FN_CHECK_EQ(tp->reass_segs, 4);
    tt_send_range(&p, 0, 200);                                 /* in order: always taken */
    {
        uint8_t b[400];
        FN_CHECK_EQ(fn_tcp_recv(tp, b, sizeof(b), t.now), 300);
        for (uint32_t i = 0; i < 300; i++)
            FN_CHECK_EQ(b[i], tt_pbyte(i));
    }
    FN_CHECK_EQ(tp->reass_segs, 3);
    tnet_drain(&t);
    TEARDOWN();
}

FN_TEST_MAIN()
