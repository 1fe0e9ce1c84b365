/*
 * test_tcp_nagle.c — Nagle's algorithm (RFC 1122 §4.2.3.4, RFC 9293 §3.7.4): on by default,
 * a small segment waits while data is unacknowledged and goes coalesced with what follows
 * once the ACK arrives; TCP_NODELAY sends at once.
 */
#include "tcp_harness.h"

#define SETUP_ISS(iss, ...) TT_SETUP(iss, __VA_ARGS__, (void)0)
#define TEARDOWN() TT_TEARDOWN()

FN_TEST(nagle_holds_small_segments_until_ack)
{
    SETUP_ISS(3, (void)0);
    FN_CHECK_EQ(fn_tcp_send(tp, "aaaaaaaaaa", 10, t.now), 10);
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(tt_read(&t, &r), 1);                        /* idle: goes at once */
    FN_CHECK_EQ(r.th.payload_len, 10);
    FN_CHECK_EQ(fn_tcp_send(tp, "bbbbbbbbbb", 10, t.now), 10);
    FN_CHECK_EQ(fn_tcp_send(tp, "cccccccccc", 10, t.now), 10);
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(tt_read(&t, &r), 0);                        /* held: data in flight */
    tt_inject(&p, 1, 11, FN_TH_ACK, NULL, 0);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(RSEQ(&p, &r), 11);
    FN_CHECK_EQ(r.th.payload_len, 20);                      /* coalesced */
    FN_CHECK(r.th.flags & FN_TH_PUSH);
    tt_inject(&p, 1, 31, FN_TH_ACK, NULL, 0);
    fn_tcp_set_nodelay(tp, 1);
    FN_CHECK_EQ(fn_tcp_send(tp, "d", 1, t.now), 1);
    FN_CHECK_EQ(fn_tcp_send(tp, "e", 1, t.now), 1);
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(tt_read(&t, &r), 1);                        /* TCP_NODELAY: both go */
    FN_CHECK_EQ(RSEQ(&p, &r), 32);
    TEARDOWN();
}

/* RFC 1122 §4.2.3.4: Nagle holds only a segment smaller than the MSS — with data in flight
 * a full-size segment still goes, and only the short tail behind it waits for the ACK. */
FN_TEST(nagle_never_holds_a_full_segment)
{
    static uint8_t d[3 * P_MSS];
    SETUP_ISS(5, (void)0);
    FN_CHECK_EQ(fn_tcp_send(tp, "x", 1, t.now), 1);
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(tt_read(&t, &r), 1);                        /* 1 byte in flight now */
    FN_CHECK_EQ(fn_tcp_send(tp, d, P_MSS + 100, t.now), (int)(P_MSS + 100));
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(RSEQ(&p, &r), 2);
    FN_CHECK_EQ(r.th.payload_len, tcp_maxseg(tp));         /* the full segment went */
    FN_CHECK_EQ(tt_read(&t, &r), 0);                        /* the 100-byte tail waits */
    tt_inject(&p, 1, 2 + tcp_maxseg(tp), FN_TH_ACK, NULL, 0);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.payload_len, P_MSS + 100 - tcp_maxseg(tp));
    TEARDOWN();
}

FN_TEST_MAIN()
