/*
 * test_tcp_dupack.c — counting duplicate ACKs across segments that are not duplicates
 * (RFC 5681 §3.2: fast retransmit follows "3 duplicate ACKs ... without any intervening ACKs
 * which move SND.UNA").  Found against the Linux kernel (tests/test_tcp_real_peer.py): in a
 * bidirectional transfer the peer's data segments carry the same ACK between its duplicate
 * ACKs, and its receive-window autotuning sends window updates between them; neither moves
 * SND.UNA, so neither may restart the count — else every loss waits for the RTO.
 */
#include "tcp_harness.h"

#define M 1460u

static uint8_t big[65536];

/* 10 segments in flight, more queued; the peer acks the first: segment 1 is "lost". */
static void lose_second_segment(int *fn_test_failed, struct tnet *t, struct tcpcb *tp,
                                struct peer *p)
{
    struct rseg r;

    FN_CHECK_EQ(fn_tcp_send(tp, big, 20 * M, t->now), (int)(20 * M));
    fn_stack_poll(t->sa, t->now);
    for (int i = 0; i < 10; i++)
        FN_CHECK_EQ(tt_read(t, &r), 1);
    tt_inject(p, 1, 1 + M, FN_TH_ACK, NULL, 0);
    tnet_drain(t);
}

/* The third duplicate: segment 1 goes again at once, and recovery starts. */
static void expect_fast_retransmit(int *fn_test_failed, struct tnet *t, struct tcpcb *tp,
                                   struct peer *p)
{
    struct rseg r;
    int found = 0;

    while (tt_read(t, &r) == 1) {
        if (r.th.payload_len > 0 && RSEQ(p, &r) == 1 + M)
            found = 1;
    }
    FN_CHECK(found);
    FN_CHECK(tp->t_flags & TF_FASTRECOVERY);
    FN_CHECK_EQ(tnet_stats(t->sa).tcp_fast_rexmt, 1);
    FN_CHECK_EQ(tnet_stats(t->sa).tcp_rexmt_timeout, 0);
}

FN_TEST(data_segments_between_dupacks_do_not_restart_the_count)
{
    uint8_t d[100];

    TT_SETUP(0x10000u, (void)0, (void)0);
    memset(d, 'x', sizeof(d));
    lose_second_segment(fn_test_failed, &t, tp, &p);
    FN_CHECK(!*fn_test_failed);
    tt_inject(&p, 1, 1 + M, FN_TH_ACK, NULL, 0);               /* dupack 1 */
    /* The peer's own data, acking the same byte: not a duplicate ACK (RFC 5681 §2), and it
     * does not move SND.UNA. */
    tt_inject(&p, 1, 1 + M, FN_TH_ACK, d, sizeof(d));
    FN_CHECK_EQ(tp->t_dupacks, 1);
    tt_inject(&p, 101, 1 + M, FN_TH_ACK, NULL, 0);             /* dupack 2 */
    tt_inject(&p, 101, 1 + M, FN_TH_ACK, d, sizeof(d));
    FN_CHECK_EQ(tp->t_dupacks, 2);
    tnet_drain(&t);
    tt_inject(&p, 201, 1 + M, FN_TH_ACK, NULL, 0);             /* dupack 3 */
    expect_fast_retransmit(fn_test_failed, &t, tp, &p);
    FN_CHECK(!*fn_test_failed);
    TT_TEARDOWN();
}

FN_TEST(window_updates_between_dupacks_do_not_restart_the_count)
{
    TT_SETUP(0x20000u, (void)0, p.win = 30000);
    lose_second_segment(fn_test_failed, &t, tp, &p);
    FN_CHECK(!*fn_test_failed);
    tt_inject(&p, 1, 1 + M, FN_TH_ACK, NULL, 0);               /* dupack 1 */
    /* The peer's window grows (its application read): a window update, not a duplicate;
     * the duplicates after it carry the new window. */
    p.win = 60000;
    tt_inject(&p, 1, 1 + M, FN_TH_ACK, NULL, 0);
    FN_CHECK_EQ(tp->t_dupacks, 1);
    tt_inject(&p, 1, 1 + M, FN_TH_ACK, NULL, 0);               /* dupack 2 */
    FN_CHECK_EQ(tp->t_dupacks, 2);
    tnet_drain(&t);
    tt_inject(&p, 1, 1 + M, FN_TH_ACK, NULL, 0);               /* dupack 3 */
    expect_fast_retransmit(fn_test_failed, &t, tp, &p);
    FN_CHECK(!*fn_test_failed);
    TT_TEARDOWN();
}

FN_TEST(an_ack_that_moves_snd_una_restarts_the_count)
{
    TT_SETUP(0x30000u, (void)0, (void)0);
    lose_second_segment(fn_test_failed, &t, tp, &p);
    FN_CHECK(!*fn_test_failed);
    tt_inject(&p, 1, 1 + M, FN_TH_ACK, NULL, 0);
    tt_inject(&p, 1, 1 + M, FN_TH_ACK, NULL, 0);
    FN_CHECK_EQ(tp->t_dupacks, 2);
    tt_inject(&p, 1, 1 + 2 * M, FN_TH_ACK, NULL, 0);           /* new data acked */
    FN_CHECK_EQ(tp->t_dupacks, 0);
    tt_inject(&p, 1, 1 + 2 * M, FN_TH_ACK, NULL, 0);
    FN_CHECK_EQ(tp->t_dupacks, 1);
    FN_CHECK(!(tp->t_flags & TF_FASTRECOVERY));
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_fast_rexmt, 0);
    TT_TEARDOWN();
}

FN_TEST_MAIN()
