/*
 * test_tcp_keepalive.c — noticing a dead peer: keepalive (RFC 1122 §4.2.3.6: off by default,
 * probes with SEG.SEQ = SND.NXT − 1 and no data after the idle time, every interval, any
 * segment from the peer restarts the idle clock, ETIMEDOUT after cnt unanswered probes) and
 * TCP_USER_TIMEOUT (RFC 5482: unacknowledged data, a shut window or unanswered keepalives
 * end the connection after that long, taking precedence over the retransmission count).
 */
#include "tcp_dead_peer.h"

#define SETUP(...) TT_SETUP(0x2000, __VA_ARGS__, (void)0)
#define TEARDOWN() TT_TEARDOWN()

static uint8_t data[4096];

/* Advance by `after` - 1 (nothing may come), then 1 more: the next segment must be a
 * keepalive probe (ACK, no data, seq SND.UNA − 1, ack RCV.NXT).  A's ARP entry for B is
 * refreshed first: hours pass.  1 on success. */
static int expect_keepalive(struct tnet *t, struct peer *p, struct tcpcb *tp, uint64_t after)
{
    struct rseg r;

    tnet_teach_b(t);
    if (!tt_next_after(t, &r, after))
        return 0;
    return r.th.flags == FN_TH_ACK && r.th.payload_len == 0 &&
           tp->snd_nxt == tp->snd_una && r.th.seq == tp->snd_nxt - 1 &&
           RSEQ(p, &r) == tp->snd_una - p->a_iss - 1 && r.th.ack == tp->rcv_nxt &&
           tt_read(t, &r) == 0;
}

FN_TEST(keepalive_off_by_default)
{
    SETUP((void)0);
    FN_CHECK_EQ(tp->t_keepalive, 0);
    FN_CHECK_EQ(tp->t_timer[TT_KEEP], 0);
    tt_advance(&t, 3 * 3600 * SEC);
    FN_CHECK_EQ(tt_read(&t, &r), 0);
    FN_CHECK_EQ(fn_tcp_state(tp), TCPS_ESTABLISHED);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_keepalive_probes, 0);
    TEARDOWN();
}

FN_TEST(keepalive_defaults_probe_and_any_segment_restarts_idle)
{
    SETUP((void)0);
    FN_CHECK_EQ(fn_tcp_set_keepalive(tp, 1, 0, 0, 0), 0);
    FN_CHECK_EQ(tp->t_keepidle_s, 7200);                    /* the knobs' defaults */
    FN_CHECK_EQ(tp->t_keepintvl_s, 75);
    FN_CHECK_EQ(tp->t_keepcnt, 9);
    /* Two hours of silence: a probe. */
    FN_CHECK(expect_keepalive(&t, &p, tp, 7200 * SEC));
    /* Answered: the next one is two hours after the answer, not 75 s. */
    tt_advance(&t, 30 * SEC);
    tt_inject(&p, 1, 1, FN_TH_ACK, NULL, 0);
    FN_CHECK_EQ(tp->t_probes, 0);
    FN_CHECK(expect_keepalive(&t, &p, tp, 7200 * SEC));
    /* Unanswered: every 75 s. */
    FN_CHECK(expect_keepalive(&t, &p, tp, 75 * SEC));
    FN_CHECK_EQ(tp->t_probes, 2);
    /* Data from the peer counts as an answer and restarts the idle clock. */
    tt_inject(&p, 1, 1, FN_TH_ACK | FN_TH_PUSH, "hello", 5);
    FN_CHECK_EQ(tp->t_probes, 0);
    tt_advance(&t, 100 * MS);                               /* the delayed ACK */
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(RACK(&p, &r), 6);
    FN_CHECK(expect_keepalive(&t, &p, tp, 7200 * SEC - 100 * MS));
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_keepalive_probes, 4);
    FN_CHECK_EQ(fn_tcp_state(tp), TCPS_ESTABLISHED);
    /* Turned off: silence for ever. */
    FN_CHECK_EQ(fn_tcp_set_keepalive(tp, 0, 0, 0, 0), 0);
    FN_CHECK_EQ(tp->t_timer[TT_KEEP], 0);
    tt_advance(&t, 5 * 3600 * SEC);
    FN_CHECK_EQ(tt_read(&t, &r), 0);
    TEARDOWN();
}

FN_TEST(keepalive_unanswered_probes_abort_with_etimedout)
{
    SETUP((void)0);
    FN_CHECK_EQ(fn_tcp_set_keepalive(tp, 1, 10, 2, 3), 0);
    FN_CHECK(expect_keepalive(&t, &p, tp, 10 * SEC));
    FN_CHECK(expect_keepalive(&t, &p, tp, 2 * SEC));
    FN_CHECK(expect_keepalive(&t, &p, tp, 2 * SEC));
    FN_CHECK_EQ(fn_tcp_state(tp), TCPS_ESTABLISHED);
    FN_CHECK(tt_aborts_after(&t, tp, 2 * SEC, ETIMEDOUT));
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_keepalive_drops, 1);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_keepalive_probes, 3);
    TT_TEARDOWN_FAILED();
}

FN_TEST(keepalive_waits_while_data_is_outstanding)
{
    SETUP(c.tcp_max_rexmits = 100);
    FN_CHECK_EQ(fn_tcp_set_keepalive(tp, 1, 10, 2, 3), 0);
    FN_CHECK_EQ(fn_tcp_send(tp, data, 100, t.now), 100);
    fn_stack_poll(t.sa, t.now);
    tnet_drain(&t);
    /* Retransmissions watch this peer; keepalive stays out of the way. */
    for (int i = 0; i < 30; i++) {
        tnet_teach_b(&t);
        tt_advance(&t, SEC);
        while (tt_read(&t, &r) == 1)
            FN_CHECK_EQ(r.th.payload_len, 100);
    }
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_keepalive_probes, 0);
    FN_CHECK_EQ(fn_tcp_state(tp), TCPS_ESTABLISHED);
    TEARDOWN();
}

FN_TEST(keepalive_arguments)
{
    SETUP((void)0);
    FN_CHECK_EQ(fn_tcp_set_keepalive(l, 1, 0, 0, 0), -EINVAL);
    FN_CHECK_EQ(fn_tcp_set_keepalive(tp, 1, 32768, 0, 0), -EINVAL);
    FN_CHECK_EQ(fn_tcp_set_keepalive(tp, 1, 0, 32768, 0), -EINVAL);
    FN_CHECK_EQ(fn_tcp_set_keepalive(tp, 1, 0, 0, 128), -EINVAL);
    FN_CHECK_EQ(tp->t_keepalive, 0);
    FN_CHECK_EQ(fn_tcp_set_user_timeout(l, 1000), -EINVAL);
    TEARDOWN();
}

FN_TEST(user_timeout_takes_precedence_over_the_retransmission_count)
{
    uint64_t t0;
    int n = 0;

    SETUP(c.tcp_max_rexmits = 2);
    FN_CHECK_EQ(fn_tcp_set_user_timeout(tp, 10000), 0);
    t0 = t.now;
    FN_CHECK_EQ(fn_tcp_send(tp, data, 100, t.now), 100);
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    /* Retransmissions at 0.2, 0.6, 1.4, 3.0, 6.2 s: more than tcp_max_rexmits. */
    while (t.now - t0 < 10 * SEC - MS) {
        tt_advance(&t, MS);
        while (tt_read(&t, &r) == 1) {
            FN_CHECK_EQ(r.th.payload_len, 100);
            n++;
        }
    }
    FN_CHECK_EQ(n, 5);
    FN_CHECK_EQ(fn_tcp_state(tp), TCPS_ESTABLISHED);
    /* The timer is clamped to the user timeout: the abort comes exactly at 10 s. */
    FN_CHECK(tt_aborts_after(&t, tp, MS, ETIMEDOUT));
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_user_timeouts, 1);
    TT_TEARDOWN_FAILED();
}

FN_TEST(user_timeout_counts_from_the_last_progress)
{
    SETUP((void)0);
    FN_CHECK_EQ(fn_tcp_set_user_timeout(tp, 1000), 0);
    FN_CHECK_EQ(fn_tcp_send(tp, data, 2000, t.now), 2000);
    fn_stack_poll(t.sa, t.now);
    tnet_drain(&t);
    /* At 0.8 s part of it is acked: the wait starts again. */
    tt_advance(&t, 800 * MS);
    tt_inject(&p, 1, 1001, FN_TH_ACK, NULL, 0);
    tnet_drain(&t);
    tt_advance(&t, 999 * MS);
    FN_CHECK_EQ(fn_tcp_state(tp), TCPS_ESTABLISHED);
    tnet_drain(&t);
    FN_CHECK(tt_aborts_after(&t, tp, MS, ETIMEDOUT));
    TT_TEARDOWN_FAILED();
}

FN_TEST(user_timeout_ends_a_shut_window_even_if_probes_are_answered)
{
    SETUP((void)0);
    FN_CHECK_EQ(fn_tcp_send(tp, data, 100, t.now), 100);
    fn_stack_poll(t.sa, t.now);
    tnet_drain(&t);
    p.win = 0;
    tt_inject(&p, 1, 101, FN_TH_ACK, NULL, 0);
    FN_CHECK_EQ(fn_tcp_set_user_timeout(tp, 2000), 0);
    FN_CHECK_EQ(fn_tcp_send(tp, data, 100, t.now), 100);
    fn_stack_poll(t.sa, t.now);
    FN_CHECK(tp->t_timer[TT_PERSIST] != 0);
    /* Probes at 0.2, 0.6, 1.4 s, each answered; the one due at 3.0 s finds the window shut
     * for longer than 2 s and ends it. */
    for (int i = 0; i < 3; i++) {
        tt_advance(&t, tp->t_timer[TT_PERSIST] - t.now);
        FN_CHECK_EQ(tt_read(&t, &r), 1);
        FN_CHECK_EQ(r.th.payload_len, 1);
        tt_inject(&p, 1, 101, FN_TH_ACK, NULL, 0);
    }
    FN_CHECK_EQ(fn_tcp_state(tp), TCPS_ESTABLISHED);
    tt_advance(&t, tp->t_timer[TT_PERSIST] - t.now);
    FN_CHECK(tt_aborted(&t, tp, ETIMEDOUT, 1));
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_user_timeouts, 1);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_persist_drops, 0);
    TT_TEARDOWN_FAILED();
}

FN_TEST(user_timeout_replaces_the_keepalive_count)
{
    SETUP((void)0);
    FN_CHECK_EQ(fn_tcp_set_keepalive(tp, 1, 10, 5, 9), 0);
    FN_CHECK_EQ(fn_tcp_set_user_timeout(tp, 12000), 0);
    FN_CHECK(expect_keepalive(&t, &p, tp, 10 * SEC));
    /* At 15 s the peer has been silent 15 s > 12 s with a probe out: gone (not after 9). */
    FN_CHECK(tt_aborts_after(&t, tp, 5 * SEC, ETIMEDOUT));
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_keepalive_probes, 1);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_keepalive_drops, 1);
    TT_TEARDOWN_FAILED();
}

FN_TEST_MAIN()
