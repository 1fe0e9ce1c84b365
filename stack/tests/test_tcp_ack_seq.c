/*
 * test_tcp_ack_seq.c — the sequence number of segments without data while a retransmission
 * has rewound snd_nxt.  Found by the two-stack transfer under 2 % loss (both ends timed out
 * at once, then each dropped the other's ACKs for ever): a pure ACK, a duplicate-data ACK, an
 * abort's RST must carry snd_max — the peer may already hold everything up to it, and a
 * zero-length segment below its RCV.NXT is unacceptable (RFC 9293 §3.10.7.4), so the ACK in
 * it would never be looked at.
 */
#include "tcp_harness.h"

#define M 1460u

static uint8_t big[65536];

/* Five segments out, none acked, then the RTO: segment 1 goes again, snd_nxt = 1 + M. */
static void rewind_by_rto(int *fn_test_failed, struct tnet *t, struct tcpcb *tp,
                          struct peer *p)
{
    struct rseg r;

    FN_CHECK_EQ(fn_tcp_send(tp, big, 5 * M, t->now), (int)(5 * M));
    fn_stack_poll(t->sa, t->now);
    for (int i = 0; i < 5; i++)
        FN_CHECK_EQ(tt_read(t, &r), 1);
    tt_advance(t, tp->t_rxtcur);
    FN_CHECK_EQ(tt_read(t, &r), 1);
    FN_CHECK_EQ(RSEQ(p, &r), 1);
    FN_CHECK_EQ(r.th.payload_len, M);
    FN_CHECK_EQ(tt_read(t, &r), 0);
    FN_CHECK(SEQ_LT(tp->snd_nxt, tp->snd_max));
}

FN_TEST(pure_ack_during_retransmission_carries_snd_max)
{
    uint8_t d[100];

    TT_SETUP(0x40000u, (void)0, (void)0);
    memset(d, 'y', sizeof(d));
    rewind_by_rto(fn_test_failed, &t, tp, &p);
    FN_CHECK(!*fn_test_failed);
    /* Two segments of the peer's data: the second is ACKed at once (RFC 5681 §4.2); cwnd is
     * one segment and it is in flight, so the ACK goes alone. */
    tt_inject(&p, 1, 1, FN_TH_ACK, d, sizeof(d));
    tt_inject(&p, 101, 1, FN_TH_ACK, d, sizeof(d));
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.payload_len, 0);
    FN_CHECK_EQ(RACK(&p, &r), 201);
    FN_CHECK_EQ(RSEQ(&p, &r), 1 + 5 * M);
    /* snd_nxt itself stays rewound: the next retransmission continues from it. */
    FN_CHECK_EQ(tp->snd_nxt - p.a_iss, 1 + M);
    TT_TEARDOWN();
}

FN_TEST(ack_for_duplicate_data_during_retransmission_carries_snd_max)
{
    uint8_t d[100];

    TT_SETUP(0x50000u, (void)0, (void)0);
    memset(d, 'z', sizeof(d));
    tt_inject(&p, 1, 1, FN_TH_ACK, d, sizeof(d));
    tt_advance(&t, 100 * MS);               /* the delayed ACK goes out */
    tnet_drain(&t);
    rewind_by_rto(fn_test_failed, &t, tp, &p);
    FN_CHECK(!*fn_test_failed);
    /* The peer retransmits what A already has: an old duplicate, ACKed at once. */
    tt_inject(&p, 1, 1, FN_TH_ACK, d, sizeof(d));
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.payload_len, 0);
    FN_CHECK_EQ(RACK(&p, &r), 101);
    FN_CHECK_EQ(RSEQ(&p, &r), 1 + 5 * M);
    TT_TEARDOWN();
}

FN_TEST(abort_during_retransmission_resets_at_snd_max)
{
    TT_SETUP(0x60000u, (void)0, (void)0);
    rewind_by_rto(fn_test_failed, &t, tp, &p);
    FN_CHECK(!*fn_test_failed);
    fn_tcp_abort(tp, t.now);
    tp = NULL;
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.flags & FN_TH_RST, FN_TH_RST);
    FN_CHECK_EQ(RSEQ(&p, &r), 1 + 5 * M);
    TT_TEARDOWN();
}

FN_TEST_MAIN()

/* After 2^32 - 2M - 1 bytes, snd_una reaches iss again (mod 2^32): the ACK that starts
 * there must free all it acks.  It used to take "snd_una == iss" for "our SYN is not acked
 * yet" and free one byte too few, so every later segment carried the stream one byte late. */
FN_TEST(ack_from_iss_after_2_32_bytes_frees_all_it_acks)
{
    const uint32_t base = 0u - 2u * M;      /* relative to A's ISN: 2M bytes before iss */

    TT_SETUP(0x70000u, (void)0, (void)0);
    for (uint32_t i = 0; i < sizeof(big); i++)
        big[i] = tt_pbyte(i);
    tp->snd_una = tp->snd_nxt = tp->snd_max = p.a_iss + base;
    tp->snd_wl2 = tp->snd_recover = tp->snd_una;
    FN_CHECK_EQ(fn_tcp_send(tp, big, 4 * M, t.now), (int)(4 * M));
    fn_stack_poll(t.sa, t.now);
    for (uint32_t i = 0; i < 4; i++) {
        FN_CHECK_EQ(tt_read(&t, &r), 1);
        FN_CHECK_EQ(RSEQ(&p, &r), base + i * M);
    }
    tt_inject(&p, 1, base + 2 * M, FN_TH_ACK, NULL, 0);    /* acks up to iss itself */
    FN_CHECK_EQ(tp->snd_una, p.a_iss);
    FN_CHECK_EQ(tp->snd_cc, 2 * M);
    tt_inject(&p, 1, base + 3 * M, FN_TH_ACK, NULL, 0);    /* from iss: one segment */
    FN_CHECK_EQ(tp->snd_cc, M);
    FN_CHECK_EQ(tp->snd_cc, tp->snd_max - tp->snd_una);
    /* The last segment, retransmitted by the RTO, is the stream's last M bytes. */
    tnet_drain(&t);
    tt_advance(&t, tp->t_rxtcur);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(RSEQ(&p, &r), base + 3 * M);
    FN_CHECK_EQ(r.th.payload_len, M);
    FN_CHECK(memcmp(r.th.payload, big + 3 * M, M) == 0);
    TT_TEARDOWN();
}
