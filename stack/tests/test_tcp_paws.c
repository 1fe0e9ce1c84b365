/*
 * test_tcp_paws.c — timestamps and PAWS (RFC 7323): timestamps on every segment once
 * negotiated, TS.Recent updated only from the segment at Last.ACK.sent, old TSvals dropped
 * and ACKed, RSTs exempt, the 24-day rule, RTT measured from echoed timestamps, MSS payload
 * reduced by the option bytes.
 */
#include "tcp_harness.h"

/* The peer's TS clock starts near 2^31 and wraps during the tests. */
#define SETUP()                                                                      \
    uint8_t buf[64];                                                                 \
    (void)buf;                                                                       \
    TT_SETUP(0x1000u, c.tcp_timestamps = 1, (p.ts = 1, p.tsval = 0x7ffffff0u))
#define TEARDOWN() TT_TEARDOWN()

FN_TEST(timestamps_on_every_segment)
{
    SETUP();
    FN_CHECK(tp->t_flags & TF_RCVD_TSTMP);
    FN_CHECK_EQ(tcp_maxseg(tp), 1460 - 12);
    p.tsval += 10;
    tt_inject(&p, 1, 1, FN_TH_ACK, "hello", 5);
    tt_advance(&t, 40 * MS);
    FN_CHECK_EQ(tt_read(&t, &r), 1);                        /* the delayed ACK */
    FN_CHECK(r.to.has_ts);
    FN_CHECK(r.to.tsecr == p.tsval);
    FN_CHECK_EQ(fn_tcp_send(tp, "x", 1, t.now), 1);
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK(r.to.has_ts);
    FN_CHECK(r.to.tsecr == p.tsval);
    TEARDOWN();
}

FN_TEST(paws_drops_old_tsval_and_acks)
{
    SETUP();
    p.tsval += 100;                                         /* wraps past 2^31 */
    tt_inject(&p, 1, 1, FN_TH_ACK, "aaaa", 4);
    tnet_drain(&t);
    p.tsval -= 50;                                          /* an old duplicate */
    tt_inject(&p, 5, 1, FN_TH_ACK, "bbbb", 4);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_rx_paws, 1);
    FN_CHECK_EQ(tt_read(&t, &r), 1);                        /* ACKed... */
    FN_CHECK_EQ(RACK(&p, &r), 5);
    FN_CHECK_EQ(fn_tcp_recv(tp, buf, sizeof(buf), t.now), 4); /* ...and its data dropped */
    /* A RST is not subject to PAWS (RFC 7323 §5.3 R1). */
    tt_inject(&p, 5, 0, FN_TH_RST, NULL, 0);
    FN_CHECK_EQ(fn_tcp_state(tp), TCPS_CLOSED);
    fn_tcp_close(tp, t.now);
    tp = NULL;
    fn_tcp_close(l, t.now);
    FN_CHECK_EQ(tnet_close(&t), 0);
}

FN_TEST(ts_recent_only_from_segment_at_last_ack_sent)
{
    uint32_t before;

    SETUP();
    before = tp->ts_recent;
    p.tsval = before + 1000;
    tt_inject(&p, 501, 1, FN_TH_ACK, "ooo", 3);             /* out of order: beyond */
    FN_CHECK(tp->ts_recent == before);
    p.tsval = before + 10;
    tt_inject(&p, 1, 1, FN_TH_ACK, "in", 2);                /* at Last.ACK.sent */
    FN_CHECK(tp->ts_recent == before + 10);
    TEARDOWN();
}

FN_TEST(paws_24_day_rule)
{
    SETUP();
    p.tsval -= 1000;
    tp->ts_recent_age = t.now;
    t.now += 25ull * 24 * 3600 * SEC;                       /* idle for 25 days */
    tt_inject(&p, 1, 1, FN_TH_ACK, "late", 4);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_rx_paws, 0);
    FN_CHECK_EQ(fn_tcp_recv(tp, buf, sizeof(buf), t.now), 4);
    TEARDOWN();
}

FN_TEST(rtt_from_timestamp_echo)
{
    SETUP();
    FN_CHECK_EQ(fn_tcp_send(tp, "x", 1, t.now), 1);
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    p.tsecr = r.to.tsval;
    tt_advance(&t, 80 * MS);
    tcp_timers_stop_all(tp);        /* only the sample is of interest */
    tp->t_rtttime = 0;              /* no timed segment: the sample comes from TSecr */
    tp->t_srtt = 0;
    tt_inject(&p, 1, 2, FN_TH_ACK, NULL, 0);
    FN_CHECK(tp->t_srtt == 80 * MS);
    TEARDOWN();
}

FN_TEST_MAIN()
