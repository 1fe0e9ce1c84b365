/*
 * test_tcp_persist.c — flow control at the edges (RFC 9293 §3.8.6): zero-window probing with
 * the persist timer (one byte at SND.UNA, RTO-based exponential backoff up to tcp_rto_max, no
 * give-up while the peer answers, ETIMEDOUT once probes go unanswered, sending resumes from
 * SND.UNA when the window opens), answered probes never taken for duplicate ACKs, sender SWS
 * avoidance (§3.8.6.2.1: half the largest window, the override timeout), receiver SWS
 * avoidance (§3.8.6.2.2: the right edge moves by min(RCV.BUFF/2, MSS) at least) and the
 * window update when the application reads; the ACK and window of a segment our shut window
 * cannot take — a probe, a retransmission across RCV.NXT, a FIN — still count (§3.10.7.4),
 * and our bare ACKs leave from SND.UNA while we probe, where a shut window takes them;
 * end to end, two stacks with a reader that stops for 10 s and resumes, and two stacks
 * echoing under backpressure with both windows shut.
 */
#include "tcp_dead_peer.h"
#include "tcp_xfer.h"

#define SETUP(...) TT_SETUP(0x1000, __VA_ARGS__, (void)0)
#define TEARDOWN() TT_TEARDOWN()

static uint8_t data[16384];

static void fill_data(void)
{
    for (uint32_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 13 + 5);
}

/* A sends n bytes, the peer takes them and shuts its window (ACK 1 + n, window 0); then the
 * application queues `more` bytes, which must not go out.  1 on success. */
static int shut_window(struct tnet *t, struct peer *p, struct tcpcb *tp, uint32_t n,
                       uint32_t more)
{
    struct rseg r;

    fill_data();
    if (fn_tcp_send(tp, data, n, t->now) != (int)n)
        return 0;
    fn_stack_poll(t->sa, t->now);
    while (tt_read(t, &r) == 1)
        ;
    p->win = 0;
    tt_inject(p, 1, 1 + n, FN_TH_ACK, NULL, 0);
    if (tp->snd_wnd != 0 || tp->snd_una != tp->snd_max)
        return 0;
    if (fn_tcp_send(tp, data + n, more, t->now) != (int)more)
        return 0;
    fn_stack_poll(t->sa, t->now);
    return tt_read(t, &r) == 0 && tp->t_timer[TT_PERSIST] != 0 && tp->t_timer[TT_REXMT] == 0;
}

/* Advance to just before the next probe (nothing), then to it: one 1-byte segment at
 * relative seq `seq` carrying stream byte seq - 1.  1 on success. */
static int expect_probe(struct tnet *t, struct peer *p, uint64_t after, uint32_t seq)
{
    struct rseg r;

    if (!tt_next_after(t, &r, after))
        return 0;
    return RSEQ(p, &r) == seq && r.th.payload_len == 1 && r.th.payload[0] == data[seq - 1] &&
           (r.th.flags & FN_TH_ACK) && tt_read(t, &r) == 0;
}

FN_TEST(zero_window_probes_back_off_and_sending_resumes)
{
    uint64_t rto, rto_max;
    uint32_t cwnd;

    SETUP(c.tcp_max_rexmits = 3);
    rto = tp->t_rxtcur;
    rto_max = (uint64_t)c.tcp_rto_max_ms * MS;
    FN_CHECK(shut_window(&t, &p, tp, 1000, 4000));
    cwnd = tp->snd_cwnd;
    /* Probes at RTO, 2·RTO, 4·RTO, … capped at tcp_rto_max — many more than
     * tcp_max_rexmits, and the connection lives on because each one is answered (with the
     * same ACK and the same zero window, which are not duplicate ACKs). */
    for (int i = 0; i < 12; i++) {
        uint64_t wait = rto << i;
        tnet_teach_b(&t);           /* minutes pass: keep A's ARP entry for B fresh */
        FN_CHECK(expect_probe(&t, &p, wait < rto_max ? wait : rto_max, 1001));
        tt_inject(&p, 1, 1001, FN_TH_ACK, NULL, 0);
        FN_CHECK_EQ(tt_read(&t, &r), 0);
        FN_CHECK_EQ(tp->t_probes, 0);
    }
    FN_CHECK_EQ(fn_tcp_state(tp), TCPS_ESTABLISHED);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_persist_probes, 12);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_fast_rexmt, 0);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_rexmt_timeout, 0);
    FN_CHECK_EQ(tp->snd_cwnd, cwnd);                        /* a shut window is no loss */
    /* The window opens: data flows at once from SND.UNA, the probe byte included. */
    p.win = 65535;
    tt_inject(&p, 1, 1001, FN_TH_ACK, NULL, 0);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(RSEQ(&p, &r), 1001);
    FN_CHECK_EQ(r.th.payload_len, 1460);
    FN_CHECK(memcmp(r.th.payload, data + 1000, 1460) == 0);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(RSEQ(&p, &r), 2461);
    FN_CHECK_EQ(tp->t_timer[TT_PERSIST], 0);
    FN_CHECK(tp->t_timer[TT_REXMT] != 0);
    FN_CHECK_EQ(tp->t_pshift, 0);
    FN_CHECK_EQ(tt_read(&t, &r), 0);                        /* Nagle holds the short tail */
    tt_inject(&p, 1, 3921, FN_TH_ACK, NULL, 0);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(RSEQ(&p, &r), 3921);
    FN_CHECK_EQ(r.th.payload_len, 1080);
    tt_inject(&p, 1, 5001, FN_TH_ACK, NULL, 0);
    FN_CHECK_EQ(tp->snd_una, tp->snd_max);
    FN_CHECK_EQ(tp->t_timer[TT_REXMT], 0);
    FN_CHECK_EQ(tp->t_timer[TT_PERSIST], 0);
    TEARDOWN();
}

FN_TEST(unanswered_probes_time_out_with_rst)
{
    uint64_t rto;

    SETUP(c.tcp_max_rexmits = 3);
    rto = tp->t_rxtcur;
    FN_CHECK(shut_window(&t, &p, tp, 100, 100));
    FN_CHECK(expect_probe(&t, &p, rto, 101));
    FN_CHECK(expect_probe(&t, &p, 2 * rto, 101));
    FN_CHECK(expect_probe(&t, &p, 4 * rto, 101));
    FN_CHECK_EQ(tp->t_probes, 3);
    FN_CHECK(tt_aborts_after(&t, tp, 8 * rto, ETIMEDOUT));
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_persist_drops, 1);
    TT_TEARDOWN_FAILED();
}

FN_TEST(closed_socket_is_not_pinned_by_a_shut_window)
{
    uint64_t rto;

    SETUP(c.tcp_max_rexmits = 4);
    rto = tp->t_rxtcur;
    FN_CHECK(shut_window(&t, &p, tp, 100, 100));
    fn_tcp_close(tp, t.now);                                /* FIN waits behind the data */
    FN_CHECK_EQ(fn_tcp_state(tp), TCPS_FIN_WAIT_1);
    /* The peer answers every probe, but the socket has no owner any more: after
     * tcp_max_rexmits backoffs it is reset and freed. */
    for (int i = 0; i < 4; i++) {
        FN_CHECK(expect_probe(&t, &p, rto << i, 101));
        tt_inject(&p, 1, 101, FN_TH_ACK, NULL, 0);
    }
    FN_CHECK_EQ(fn_tcp_count(t.sa), 2);
    tt_advance(&t, rto << 4);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK(r.th.flags & FN_TH_RST);
    FN_CHECK_EQ(fn_tcp_count(t.sa), 1);                     /* only the listener */
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_persist_drops, 1);
    tp = NULL;
    TEARDOWN();
}

FN_TEST(window_shut_by_a_segment_acked_at_once_still_persists)
{
    uint64_t rto;

    SETUP((void)0);
    rto = tp->t_rxtcur;
    fill_data();
    FN_CHECK_EQ(fn_tcp_send(tp, data, 1000, t.now), 1000);
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(fn_tcp_send(tp, data + 1000, 500, t.now), 500);
    FN_CHECK_EQ(tt_read(&t, &r), 0);                        /* Nagle: 1000 in flight */
    /* One segment acks everything in flight, shuts the window and carries the peer's FIN.
     * The FIN is acked at once; that bare ACK must not leave the 500 waiting bytes without
     * a timer (found by fuzz_stack: a closed connection stuck in CLOSING forever, holding
     * its buffers). */
    p.win = 0;
    tt_inject(&p, 1, 1001, FN_TH_ACK | FN_TH_FIN, NULL, 0);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.flags, FN_TH_ACK);
    FN_CHECK_EQ(RACK(&p, &r), 2);
    FN_CHECK_EQ(r.th.payload_len, 0);
    FN_CHECK_EQ(fn_tcp_state(tp), TCPS_CLOSE_WAIT);
    FN_CHECK(tp->t_timer[TT_PERSIST] != 0);
    FN_CHECK(expect_probe(&t, &p, rto, 1001));
    /* The window opens: the data goes out; closing then sends our FIN. */
    p.win = 65535;
    tt_inject(&p, 2, 1001, FN_TH_ACK, NULL, 0);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(RSEQ(&p, &r), 1001);
    FN_CHECK_EQ(r.th.payload_len, 500);
    FN_CHECK(memcmp(r.th.payload, data + 1000, 500) == 0);
    fn_tcp_close(tp, t.now);
    FN_CHECK_EQ(fn_tcp_state(tp), TCPS_LAST_ACK);
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.flags & FN_TH_FIN, FN_TH_FIN);
    FN_CHECK_EQ(RSEQ(&p, &r), 1501);
    tt_inject(&p, 2, 1502, FN_TH_ACK, NULL, 0);
    FN_CHECK_EQ(fn_tcp_count(t.sa), 1);                     /* only the listener */
    tp = NULL;
    TEARDOWN();
}

FN_TEST(probe_without_a_packet_buffer_waits_for_the_next_expiry)
{
    static struct fn_pkt *held[1024];
    uint64_t rto, nobuf;
    uint32_t n = 0;

    SETUP((void)0);
    rto = tp->t_rxtcur;
    FN_CHECK(shut_window(&t, &p, tp, 100, 100));
    /* The pool runs dry just when the first probe is due. */
    while (n < 1024 && (held[n] = fn_pkt_alloc(t.pa)) != NULL)
        n++;
    FN_CHECK(n < 1024);
    nobuf = tnet_stats(t.sa).tcp_nobuf;
    tt_advance(&t, rto);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_nobuf, nobuf + 1);
    /* Counted, no retransmission timer behind persist's back, persist still backing off. */
    FN_CHECK_EQ(tp->t_timer[TT_REXMT], 0);
    FN_CHECK(tp->t_timer[TT_PERSIST] == t.now + 2 * rto);
    for (uint32_t i = 0; i < n; i++)
        fn_pkt_free(held[i]);
    FN_CHECK(expect_probe(&t, &p, 2 * rto, 101));
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_rexmt_timeout, 0);
    TEARDOWN();
}

FN_TEST(probe_byte_taken_by_the_peer)
{
    uint64_t rto;

    SETUP((void)0);
    rto = tp->t_rxtcur;
    FN_CHECK(shut_window(&t, &p, tp, 100, 100));
    FN_CHECK(expect_probe(&t, &p, rto, 101));
    /* The peer had room for one byte after all: it takes it and stays shut. */
    tt_inject(&p, 1, 102, FN_TH_ACK, NULL, 0);
    FN_CHECK_EQ(tt_read(&t, &r), 0);
    FN_CHECK(tp->snd_una - p.a_iss == 102);
    FN_CHECK(tp->t_timer[TT_PERSIST] != 0);
    FN_CHECK_EQ(tp->t_timer[TT_REXMT], 0);
    /* The backoff goes on; the next probe is the next byte. */
    FN_CHECK(expect_probe(&t, &p, 2 * rto, 102));
    TEARDOWN();
}

FN_TEST(window_shrinking_to_zero_with_data_in_flight_persists)
{
    uint64_t rto;

    SETUP((void)0);
    rto = tp->t_rxtcur;
    fill_data();
    FN_CHECK_EQ(fn_tcp_send(tp, data, 2920, t.now), 2920);
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    /* Only the first segment is taken and the window shuts: the second is in flight into a
     * window of zero.  No retransmission timeout (no cwnd cut): persist, from SND.UNA. */
    p.win = 0;
    tt_inject(&p, 1, 1461, FN_TH_ACK, NULL, 0);
    FN_CHECK_EQ(tt_read(&t, &r), 0);
    FN_CHECK(tp->t_timer[TT_PERSIST] != 0);
    FN_CHECK_EQ(tp->t_timer[TT_REXMT], 0);
    FN_CHECK(expect_probe(&t, &p, rto, 1461));
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_rexmt_timeout, 0);
    p.win = 65535;
    tt_inject(&p, 1, 1461, FN_TH_ACK, NULL, 0);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(RSEQ(&p, &r), 1461);
    FN_CHECK_EQ(r.th.payload_len, 1460);
    TEARDOWN();
}

FN_TEST(sender_sws_half_the_largest_window_and_override)
{
    uint64_t rto;

    /* The peer never offers more than 1000 bytes. */
    TT_SETUP(0x1000, (void)0, p.win = 1000);
    rto = tp->t_rxtcur;
    FN_CHECK_EQ(tp->max_sndwnd, 1000);
    fill_data();
    /* 1000 bytes is less than an MSS but all the window and >= half the largest window
     * ever offered: sent at once (RFC 9293 §3.8.6.2.1 condition 3). */
    FN_CHECK_EQ(fn_tcp_send(tp, data, 3000, t.now), 3000);
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.payload_len, 1000);
    FN_CHECK_EQ(tt_read(&t, &r), 0);
    /* Now 400 usable: under half of 1000, not all that waits — held. */
    p.win = 400;
    tt_inject(&p, 1, 1001, FN_TH_ACK, NULL, 0);
    FN_CHECK_EQ(tt_read(&t, &r), 0);
    FN_CHECK(tp->t_timer[TT_PERSIST] != 0);
    /* The override timeout sends what the window allows, then the retransmission timer
     * watches it like any data. */
    tt_advance(&t, rto - 1);
    FN_CHECK_EQ(tt_read(&t, &r), 0);
    tt_advance(&t, 1);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(RSEQ(&p, &r), 1001);
    FN_CHECK_EQ(r.th.payload_len, 400);
    FN_CHECK_EQ(tt_read(&t, &r), 0);
    FN_CHECK_EQ(tp->t_timer[TT_PERSIST], 0);
    FN_CHECK(tp->t_timer[TT_REXMT] != 0);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_persist_probes, 0);   /* no probe: the window was open */
    /* A window of 600 opens (>= half the largest): sent without waiting. */
    p.win = 600;
    tt_inject(&p, 1, 1401, FN_TH_ACK, NULL, 0);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.payload_len, 600);
    TEARDOWN();
}

/* The peer sends n bytes from stream offset off (relative seq 1 + off) in 1024-byte
 * segments, and A's ACKs are drained. */
static void peer_send(struct tnet *t, struct peer *p, uint32_t off, uint32_t n)
{
    while (n > 0) {
        uint32_t k = n < 1024 ? n : 1024;
        tt_inject(p, 1 + off, 1, FN_TH_ACK, data + off, k);
        off += k;
        n -= k;
    }
    tnet_drain(t);
}

FN_TEST(receiver_sws_and_window_update_on_read)
{
    uint8_t b[8192];

    SETUP(c.tcp_rcvbuf = 8192);
    fill_data();
    FN_CHECK_EQ(tp->rcv_wscale, 0);
    peer_send(&t, &p, 0, 8192);
    tt_advance(&t, 100 * MS);                               /* the delayed ACK too */
    tnet_drain(&t);
    FN_CHECK(tp->rcv_adv == tp->rcv_nxt);                   /* shut */
    /* Reading 1000 bytes frees less than min(RCV.BUFF/2, MSS) = 1460: the window stays
     * shut — no update, and the answer to a probe still says 0. */
    FN_CHECK_EQ(fn_tcp_recv(tp, b, 1000, t.now), 1000);
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(tt_read(&t, &r), 0);
    tt_inject(&p, 1 + 8192, 1, FN_TH_ACK, "x", 1);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.win, 0);
    FN_CHECK_EQ(RACK(&p, &r), 8193);
    /* 500 more: 1500 free >= 1460, and the peer is stalled behind a shut window — the
     * update goes at once (not only at 2 segments). */
    FN_CHECK_EQ(fn_tcp_recv(tp, b, 500, t.now), 500);
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.win, 1500);
    FN_CHECK_EQ(RACK(&p, &r), 8193);
    FN_CHECK_EQ(tt_read(&t, &r), 0);
    /* Empty the buffer: the window is wide open again (one more update). */
    FN_CHECK_EQ(fn_tcp_recv(tp, b, sizeof(b), t.now), 8192 - 1500);
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.win, 8192);
    TEARDOWN();
}

/* Both windows shut: the peer took A's first 1000 bytes up to relative `ack` and filled
 * A's 8192-byte buffer, and A has 3000 more bytes queued behind the peer's zero window.  1 on
 * success, with A persisting. */
static int both_shut(struct tnet *t, struct peer *p, struct tcpcb *tp, uint32_t ack)
{
    struct rseg r;

    fill_data();
    peer_send(t, p, 0, 8192);
    tt_advance(t, 100 * MS);
    tnet_drain(t);
    if (tp->rcv_adv != tp->rcv_nxt || fn_tcp_send(tp, data, 1000, t->now) != 1000)
        return 0;
    fn_stack_poll(t->sa, t->now);
    if (tt_read(t, &r) != 1 || r.th.payload_len != 1000 || r.th.win != 0 || tt_read(t, &r))
        return 0;
    p->win = 0;
    tt_inject(p, 1 + 8192, ack, FN_TH_ACK, NULL, 0);
    if (fn_tcp_send(tp, data + 1000, 3000, t->now) != 3000)
        return 0;
    fn_stack_poll(t->sa, t->now);
    return tt_read(t, &r) == 0 && tp->snd_wnd == 0 && tp->t_timer[TT_PERSIST] != 0;
}

/* After the probe's ACK of 1001 and window 65535: the bytes from 1001 go out at once,
 * acking RCV.NXT (the probe's byte not taken), and the persist timer is off.  1 on
 * success. */
static int sending_resumed(struct tnet *t, struct peer *p, struct tcpcb *tp)
{
    uint32_t m = tcp_maxseg(tp);
    struct rseg r;

    if (tp->snd_una - p->a_iss != 1001 || tp->snd_wnd != 65535 || tp->rcv_cc != 8192 ||
        tp->rcv_nxt - p->iss != 1 + 8192 || tp->t_timer[TT_PERSIST] != 0 ||
        tp->t_timer[TT_REXMT] == 0)
        return 0;
    for (uint32_t seq = 1001; seq < 1001 + 2 * m; seq += m) {
        if (tt_read(t, &r) != 1 || RSEQ(p, &r) != seq || r.th.payload_len != m ||
            memcmp(r.th.payload, data + seq - 1, m) != 0 || RACK(p, &r) != 1 + 8192 ||
            r.th.win != 0)
            return 0;
    }
    return tt_read(t, &r) == 0;                     /* Nagle holds the tail */
}

/* The peer's own probe: one byte at RCV.NXT into our shut window, acking 1001 and opening
 * its window.  Dropped whole, both ends would wait for ever (RFC 9293 §3.10.7.4: "special
 * allowance" for the ACK of an unacceptable segment).  Shaped for header prediction (and,
 * with timestamps, for tcp_fastin.c), which must not take its byte either. */
static void probe_carries_ack_and_window(int *fn_test_failed, int ts)
{
    uint32_t m;

    TT_SETUP(0x1000, (c.tcp_rcvbuf = 8192, c.tcp_timestamps = ts), p.ts = ts);
    m = tcp_maxseg(tp);
    FN_CHECK(both_shut(&t, &p, tp, 501));
    p.win = 65535;
    tt_inject(&p, 1 + 8192, 1001, FN_TH_ACK | FN_TH_PUSH, "x", 1);
    FN_CHECK(sending_resumed(&t, &p, tp));
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_rx_dupack, 0);
    /* The next probes with nothing new are still answered at once (not rate-limited like
     * out-of-window ACKs) and not taken; the first answer carries the tail along. */
    tt_inject(&p, 1 + 8192, 1001, FN_TH_ACK, "y", 1);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(RSEQ(&p, &r), 1001 + 2 * m);
    FN_CHECK_EQ(r.th.payload_len, 3000 - 2 * m);
    FN_CHECK_EQ(RACK(&p, &r), 1 + 8192);
    FN_CHECK_EQ(r.th.win, 0);
    tt_inject(&p, 1 + 8192, 1001, FN_TH_ACK, "z", 1);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.payload_len, 0);
    FN_CHECK_EQ(RACK(&p, &r), 1 + 8192);
    FN_CHECK_EQ(tt_read(&t, &r), 0);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_rx_dupack, 0);         /* probes are no dup ACKs */
    FN_CHECK_EQ(tp->rcv_cc, 8192);
    TEARDOWN();
}

FN_TEST(probe_of_our_zero_window_carries_ack_and_window)
{
    probe_carries_ack_and_window(fn_test_failed, 0);
}

FN_TEST(probe_of_our_zero_window_carries_ack_and_window_with_timestamps)
{
    probe_carries_ack_and_window(fn_test_failed, 1);
}

FN_TEST(retransmission_across_our_zero_window_edge_carries_ack_and_window)
{
    SETUP(c.tcp_rcvbuf = 8192);
    FN_CHECK(both_shut(&t, &p, tp, 501));
    /* The peer resends its last 100 bytes and 200 new ones (its RTO fired): the part
     * before RCV.NXT is old, the rest is beyond the shut window; the ACK and window count. */
    p.win = 65535;
    tt_inject(&p, 1 + 8092, 1001, FN_TH_ACK, data + 8092, 300);
    FN_CHECK(sending_resumed(&t, &p, tp));
    TEARDOWN();
}

FN_TEST(fin_at_our_zero_window_edge_carries_ack_and_window)
{
    SETUP(c.tcp_rcvbuf = 8192);
    FN_CHECK(both_shut(&t, &p, tp, 501));
    /* A FIN needs a sequence number the shut window does not have: not taken (the peer
     * sends it again), but its ACK and window are. */
    p.win = 65535;
    tt_inject(&p, 1 + 8192, 1001, FN_TH_ACK | FN_TH_FIN, NULL, 0);
    FN_CHECK(sending_resumed(&t, &p, tp));
    FN_CHECK_EQ(fn_tcp_state(tp), TCPS_ESTABLISHED);
    TEARDOWN();
}

FN_TEST(window_update_while_probing_leaves_from_snd_una)
{
    uint8_t b[8192];
    uint64_t rto;

    SETUP(c.tcp_rcvbuf = 8192);
    rto = tp->t_rxtcur;
    FN_CHECK(both_shut(&t, &p, tp, 1001));
    /* The probe byte (1001) is not taken: the peer's RCV.NXT stays 1001, one below
     * SND.MAX now. */
    FN_CHECK(expect_probe(&t, &p, rto, 1001));
    FN_CHECK(tp->snd_max - p.a_iss == 1002);
    /* A's application reads: the window update must leave at 1001, the one sequence
     * number the peer's shut window accepts a bare ACK at (RFC 9293 §3.10.7.4); from
     * SND.MAX the peer would drop it and, waiting for it, keep its own window shut. */
    FN_CHECK_EQ(fn_tcp_recv(tp, b, sizeof(b), t.now), 8192);
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.payload_len, 0);
    FN_CHECK_EQ(RSEQ(&p, &r), 1001);
    FN_CHECK_EQ(RACK(&p, &r), 1 + 8192);
    FN_CHECK_EQ(r.th.win, 8192);
    FN_CHECK_EQ(tt_read(&t, &r), 0);
    /* The window opens: sending resumes from SND.UNA, and bare ACKs leave from SND.MAX
     * again. */
    p.win = 65535;
    tt_inject(&p, 1 + 8192, 1001, FN_TH_ACK, NULL, 0);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(RSEQ(&p, &r), 1001);
    FN_CHECK_EQ(r.th.payload_len, 1460);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(tt_read(&t, &r), 0);
    tt_inject(&p, 1 + 8192, 1001 + 2 * 1460, FN_TH_ACK, NULL, 0);
    FN_CHECK_EQ(tt_read(&t, &r), 1);                        /* the 80-byte tail */
    FN_CHECK_EQ(tt_read(&t, &r), 0);
    tt_inject(&p, 1 + 8192, 1001 + 2 * 1460, FN_TH_ACK, "q", 1);
    tt_inject(&p, 2 + 8192, 1001 + 2 * 1460, FN_TH_ACK, "r", 1); /* the second: ACK now */
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.payload_len, 0);
    FN_CHECK_EQ(RSEQ(&p, &r), 4001);
    FN_CHECK_EQ(RACK(&p, &r), 3 + 8192);
    TEARDOWN();
}

FN_TEST(window_update_only_when_it_is_worth_it)
{
    uint8_t b[8192];

    SETUP(c.tcp_rcvbuf = 8192);
    fill_data();
    peer_send(&t, &p, 0, 4096);
    tt_advance(&t, 100 * MS);
    tnet_drain(&t);
    FN_CHECK(tp->rcv_adv - tp->rcv_nxt == 4096);            /* half the buffer still offered */
    /* 2000 read: the edge could move by 2000, less than 2 segments and than half the
     * buffer, and the peer is not stalled: no update of its own... */
    FN_CHECK_EQ(fn_tcp_recv(tp, b, 2000, t.now), 2000);
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(tt_read(&t, &r), 0);
    /* ...1000 more make 3000 >= 2·MSS: update. */
    FN_CHECK_EQ(fn_tcp_recv(tp, b, 1000, t.now), 1000);
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.win, 4096 + 3000);
    FN_CHECK_EQ(tt_read(&t, &r), 0);
    TEARDOWN();
}

/* Two stacks on the memory link, A connected to B's port 80 (listener l).  1 on success. */
static int two_stacks_connect(struct tnet *t, const struct fn_config *ca,
                              const struct fn_config *cb, struct tcpcb **l, struct tcpcb **a,
                              struct tcpcb **b)
{
    *l = *a = *b = NULL;
    if (tnet_open(t, ca, cb, 1024, 1500) != 0 || fn_tcp_listen(t->sb, 80, 4, l) != 0 ||
        fn_tcp_connect(t->sa, IP_B, 80, 0, a, t->now) != 0)
        return 0;
    for (int i = 0; i < 100 && !*b; i++) {
        tnet_run(t);
        *b = fn_tcp_accept(*l);
        t->now += MS;
    }
    return *b != NULL;
}

/* Both ends close, then the listener: 1 once no tcpcb and no buffer is left. */
static int two_stacks_close(struct tnet *t, struct tcpcb *l, struct tcpcb *a, struct tcpcb *b)
{
    fn_tcp_close(a, t->now);
    fn_tcp_close(b, t->now);
    for (int i = 0; i < 2000 && fn_tcp_count(t->sa) + fn_tcp_count(t->sb) > 1; i++) {
        tnet_run(t);
        t->now += MS;
    }
    if (fn_tcp_count(t->sa) != 0)
        return 0;
    fn_tcp_close(l, t->now);
    return fn_tcp_count(t->sb) == 0 && tnet_close(t) == 0;
}

/* One side's application: A writes the pattern while it can, B reads it once awake. */
static void pause_step(struct tcpcb *a, struct tcpcb *b, uint32_t total, uint32_t *sent,
                       uint32_t *rcvd, int *bad, int reading, uint64_t now)
{
    uint8_t buf[4096];
    int n;

    while (*sent < total) {
        uint32_t len = total - *sent < sizeof(buf) ? total - *sent : (uint32_t)sizeof(buf);
        for (uint32_t i = 0; i < len; i++)
            buf[i] = xfer_pat(*sent + i, 0);
        if ((n = fn_tcp_send(a, buf, len, now)) <= 0)
            break;
        *sent += (uint32_t)n;
    }
    while (reading && (n = fn_tcp_recv(b, buf, sizeof(buf), now)) > 0) {
        for (int i = 0; i < n; i++)
            *bad += buf[i] != xfer_pat(*rcvd + (uint32_t)i, 0);
        *rcvd += (uint32_t)n;
    }
}

/* B's application in the echo test: it reads only what it can write back at once, as an
 * asyncio Protocol does that pauses reading while its transport is paused for writing. */
static void echo_step(struct tcpcb *b, uint32_t *echoed, int *bad, uint64_t now)
{
    uint8_t buf[4096];
    uint32_t room;
    int n;

    while ((room = fn_tcp_writable(b)) > 0) {
        n = fn_tcp_recv(b, buf, room < sizeof(buf) ? room : (uint32_t)sizeof(buf), now);
        if (n <= 0)
            break;
        *bad += fn_tcp_send(b, buf, (uint32_t)n, now) != n;
        *echoed += (uint32_t)n;
    }
}

FN_TEST(two_stacks_echo_under_backpressure_both_windows_shut)
{
    const uint32_t total = 300000;
    const uint64_t resume = 3 * SEC;
    struct tnet t;
    struct fn_config ca, cb;
    struct tcpcb *l, *a, *b;
    uint32_t sent = 0, rcvd = 0, echoed = 0;
    uint64_t t0, done = 0;
    int bad = 0, both_shut = 0;
    struct fn_stats sa, sb;

    /* Buffers of whole segments: each window fills exactly, with no remnant for sender
     * SWS avoidance to send into, so each end's last word is a probe byte the other does
     * not take. */
    tt_cfg(&ca);
    ca.tcp_sndbuf = 10 * 1460;
    ca.tcp_rcvbuf = 10 * 1460;
    ca.tcp_msl_ms = 100;
    cb = ca;
    cb.ip = IP_B;
    FN_CHECK(two_stacks_connect(&t, &ca, &cb, &l, &a, &b));
    t0 = t.now;
    /* A writes the pattern and, for the first 3 s, reads nothing: B's echo fills A's
     * window, B's send buffer fills, B stops reading, B's window shuts, A's send buffer
     * fills — each end persists against the other's zero window with a probe byte out
     * that the other did not take.  Then A reads all it gets.  Both ends probed each
     * other for ever (found by the loop parity suite: two fastnet stacks echoing under
     * backpressure): A's window updates left from its SND.MAX, one past B's RCV.NXT, which
     * B's shut window does not take, and A's probes, at B's RCV.NXT, were dropped whole by
     * the zero-window check.  Either fix alone ends the stall; with the first, A's update
     * gets through at once. */
    while (t.now - t0 < 60 * SEC && !done) {
        int reading = t.now - t0 >= resume;
        pause_step(a, a, total, &sent, &rcvd, &bad, reading, t.now);
        echo_step(b, &echoed, &bad, t.now);
        tnet_run(&t);
        if (!reading && a->snd_wnd == 0 && b->snd_wnd == 0 &&
            a->t_timer[TT_PERSIST] != 0 && b->t_timer[TT_PERSIST] != 0 &&
            SEQ_GT(a->snd_max, b->rcv_nxt) && SEQ_GT(b->snd_max, a->rcv_nxt))
            both_shut = 1;
        if (rcvd == total)
            done = t.now - t0;
        t.now += MS;
    }
    sa = tnet_stats(t.sa);
    sb = tnet_stats(t.sb);
    FN_CHECK_EQ(rcvd, total);
    FN_CHECK_EQ(echoed, total);
    FN_CHECK_EQ(bad, 0);
    FN_CHECK(both_shut);
    FN_CHECK(done > resume && done < resume + SEC);
    FN_CHECK_EQ(sa.tcp_persist_drops + sb.tcp_persist_drops, 0);
    FN_CHECK_EQ(sa.tcp_rexmt_timeout + sb.tcp_rexmt_timeout, 0);   /* no ACK was dropped */
    printf("  both windows shut for 3 s: all %u bytes echoed %llu ms after A read again\n",
           total, (unsigned long long)((done - resume) / MS));
    FN_CHECK(two_stacks_close(&t, l, a, b));
}

FN_TEST(two_stacks_reader_pauses_and_resumes)
{
    const uint32_t total = 200000;
    const uint64_t resume = 10 * SEC;
    struct tnet t;
    struct fn_config ca, cb;
    struct tcpcb *l, *a, *b;
    uint32_t sent = 0, rcvd = 0;
    uint64_t t0, done = 0;
    int bad = 0, persisted = 0;
    struct fn_stats sa;

    tt_cfg(&ca);
    ca.tcp_sndbuf = 65536;
    ca.tcp_msl_ms = 100;
    cb = ca;
    cb.ip = IP_B;
    cb.tcp_rcvbuf = 16384;
    FN_CHECK(two_stacks_connect(&t, &ca, &cb, &l, &a, &b));
    t0 = t.now;
    /* 1 ms steps for 30 s of virtual time; B's application sleeps for the first 10 s. */
    while (t.now - t0 < 30 * SEC && !done) {
        int reading = t.now - t0 >= resume;
        pause_step(a, b, total, &sent, &rcvd, &bad, reading, t.now);
        tnet_run(&t);
        if (!reading && a->snd_wnd == 0 && a->t_timer[TT_PERSIST] != 0)
            persisted = 1;
        if (rcvd == total)
            done = t.now - t0;
        t.now += MS;
    }
    sa = tnet_stats(t.sa);
    FN_CHECK(persisted);
    FN_CHECK_EQ(bad, 0);
    FN_CHECK_EQ(rcvd, total);
    /* Probes at 0.2, 0.6, 1.4, 3.0, 6.2 s after the window shut, all answered. */
    FN_CHECK(sa.tcp_persist_probes >= 4);
    FN_CHECK_EQ(sa.tcp_persist_drops, 0);
    FN_CHECK_EQ(sa.tcp_rexmt_timeout, 0);
    FN_CHECK_EQ(sa.tcp_fast_rexmt, 0);
    /* B's window update on reading restarts A at once, not at A's next probe (~12.6 s). */
    FN_CHECK(done > resume && done < resume + SEC);
    printf("  reader asleep 10 s: %llu probes answered, all %u bytes %llu ms after it woke\n",
           (unsigned long long)sa.tcp_persist_probes, total,
           (unsigned long long)((done - resume) / MS));
    FN_CHECK(two_stacks_close(&t, l, a, b));
}

/* A pure ACK ahead of RCV.NXT (the peer's data before it was lost) that shuts the window,
 * then the lost data again with the window open: the reopening must be taken at once.  Were
 * SND.WL1 set to the early ACK's sequence number, every segment below it — the
 * retransmission included — would fail the RFC 9293 §3.10.7.4 window-update test and the
 * send side would wait for the persist timer. */
FN_TEST(window_reopened_by_the_gap_filler_after_an_early_pure_ack)
{
    uint8_t gap[100];

    SETUP((void)0);
    fill_data();
    memset(gap, 'g', sizeof(gap));
    p.win = 0;
    tt_inject(&p, 1 + sizeof(gap), 1, FN_TH_ACK, NULL, 0);
    FN_CHECK_EQ(tp->snd_wnd, 0);
    FN_CHECK_EQ(fn_tcp_send(tp, data, 1000, t.now), 1000);
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(tt_read(&t, &r), 0);
    p.win = 65535;
    tt_inject(&p, 1, 1, FN_TH_ACK, gap, sizeof(gap));
    FN_CHECK_EQ(tp->snd_wnd, 65535);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(RSEQ(&p, &r), 1);
    FN_CHECK_EQ(RACK(&p, &r), 1 + sizeof(gap));
    FN_CHECK_EQ(r.th.payload_len, 1000);
    FN_CHECK_EQ(memcmp(r.th.payload, data, 1000), 0);
    TEARDOWN();
}

FN_TEST_MAIN()
