/*
 * test_tcp_handshake.c — opening connections (RFC 9293 §3.5, §3.10.7.2–3): active, passive,
 * simultaneous open, SYN options, SYN retransmission with backoff, RST in SYN-SENT, RST to
 * segments for no connection (never to a RST), backlog and tcpcb exhaustion; plus the
 * SipHash-2-4 used for ISNs (RFC 6528) against the paper's test vector.
 */
#include "tcp_harness.h"

FN_TEST(siphash_paper_vector)
{
    /* Appendix A of the SipHash paper: key 00..0f, message 00..0e. */
    uint64_t key[2] = {0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull};
    uint8_t m[15];

    for (int i = 0; i < 15; i++)
        m[i] = (uint8_t)i;
    FN_CHECK(fn_siphash24(key, m, 15) == 0xa129ca6149be45e5ull);
}

FN_TEST(passive_open_options_and_accept)
{
    struct tnet t;
    struct fn_config c;
    struct tcpcb *l, *tp;
    struct peer p;
    struct rseg r;

    tt_cfg(&c);
    c.tcp_window_scaling = 1;
    c.tcp_timestamps = 1;
    c.tcp_sack = 1;
    FN_CHECK_EQ(tt_open(&t, &c), 0);
    FN_CHECK_EQ(fn_tcp_listen(t.sa, A_PORT, 4, &l), 0);
    FN_CHECK_EQ(fn_tcp_listen(t.sa, A_PORT, 4, &tp), -EADDRINUSE);
    tt_peer_init(&p, &t, 0x10000000u);
    p.ts = 1;
    tt_send_syn(&p, 1400, 7, 1);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.flags, FN_TH_SYN | FN_TH_ACK);
    FN_CHECK(r.th.ack == p.iss + 1);
    FN_CHECK(r.to.has_mss && r.to.mss == 1460);         /* MTU 1500 - 40 */
    FN_CHECK(r.to.has_wscale && r.to.wscale == 2);      /* 128 KiB buffer */
    FN_CHECK(r.to.sack_permitted);
    FN_CHECK(r.to.has_ts && r.to.tsecr == p.tsval);
    FN_CHECK(r.th.win == 65535);                         /* SYN window never scaled */
    FN_CHECK(fn_tcp_accept(l) == NULL);                  /* not established yet */
    p.a_iss = r.th.seq;
    p.tsecr = r.to.tsval;
    tt_inject(&p, 1, 1, FN_TH_ACK, NULL, 0);
    FN_CHECK(tt_events(&t, l) & FN_TCP_EV_READABLE);
    tp = fn_tcp_accept(l);
    FN_CHECK(tp != NULL);
    FN_CHECK_EQ(fn_tcp_state(tp), TCPS_ESTABLISHED);
    FN_CHECK_EQ(tp->t_maxseg, 1400);
    FN_CHECK_EQ(tp->snd_wscale, 7);
    FN_CHECK_EQ(tp->rcv_wscale, 2);
    FN_CHECK(tp->t_flags & TF_SACK_PERMIT);
    FN_CHECK_EQ(tp->snd_wnd, 65535u << 7);
    FN_CHECK(tt_events(&t, tp) & FN_TCP_EV_CONNECTED);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_conn_established, 1);
    fn_tcp_abort(tp, t.now);
    fn_tcp_close(l, t.now);
    FN_CHECK_EQ(fn_tcp_count(t.sa), 0);
    FN_CHECK_EQ(tnet_close(&t), 0);
}

FN_TEST(passive_open_without_options_defaults)
{
    struct tnet t;
    struct fn_config c;
    struct tcpcb *l, *tp;
    struct peer p;
    struct rseg r;

    tt_cfg(&c);
    c.tcp_window_scaling = 1;
    c.tcp_timestamps = 1;
    FN_CHECK_EQ(tt_open(&t, &c), 0);
    FN_CHECK_EQ(fn_tcp_listen(t.sa, A_PORT, 4, &l), 0);
    tt_peer_init(&p, &t, 0xfffffff0u);
    tt_inject_abs(&p, p.iss, 0, FN_TH_SYN, NULL, 0, NULL, 0);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    /* The peer offered nothing: we reply with MSS only (no WS, no TS on the SYN-ACK). */
    FN_CHECK(r.to.has_mss && !r.to.has_wscale && !r.to.has_ts);
    p.a_iss = r.th.seq;
    tt_inject(&p, 1, 1, FN_TH_ACK, NULL, 0);
    tp = fn_tcp_accept(l);
    FN_CHECK(tp != NULL);
    FN_CHECK_EQ(tp->t_maxseg, 536);                     /* RFC 9293 §3.7.1 default */
    FN_CHECK_EQ(tp->snd_wscale, 0);
    FN_CHECK_EQ(tp->rcv_wscale, 0);
    FN_CHECK(!(tp->t_flags & TF_RCVD_TSTMP));
    fn_tcp_abort(tp, t.now);
    fn_tcp_close(l, t.now);
    FN_CHECK_EQ(tnet_close(&t), 0);
}

FN_TEST(tiny_mss_is_floored_and_huge_wscale_clamped)
{
    struct tnet t;
    struct fn_config c;
    struct tcpcb *l, *tp;
    struct peer p;
    struct rseg r;

    tt_cfg(&c);
    c.tcp_window_scaling = 1;
    FN_CHECK_EQ(tt_open(&t, &c), 0);
    FN_CHECK_EQ(fn_tcp_listen(t.sa, A_PORT, 4, &l), 0);
    tt_peer_init(&p, &t, 5);
    tt_send_syn(&p, 8, 200, 0);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    p.a_iss = r.th.seq;
    tt_inject(&p, 1, 1, FN_TH_ACK, NULL, 0);
    tp = fn_tcp_accept(l);
    FN_CHECK(tp != NULL);
    FN_CHECK_EQ(tp->t_maxseg, 64);                      /* cfg.tcp_min_mss */
    FN_CHECK_EQ(tp->snd_wscale, 14);                    /* RFC 7323 §2.3 */
    fn_tcp_abort(tp, t.now);
    fn_tcp_close(l, t.now);
    FN_CHECK_EQ(tnet_close(&t), 0);
}

FN_TEST(active_open)
{
    struct tnet t;
    struct fn_config c;
    struct tcpcb *tp;
    struct peer p;
    struct rseg r;
    uint8_t o[4] = {2, 4, 0x05, 0xb4};

    tt_cfg(&c);
    FN_CHECK_EQ(tt_open(&t, &c), 0);
    tt_peer_init(&p, &t, 1000);
    FN_CHECK_EQ(fn_tcp_connect(t.sa, IP_B, P_PORT, 0, &tp, t.now), 0);
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(fn_tcp_state(tp), TCPS_SYN_SENT);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.flags, FN_TH_SYN);
    FN_CHECK(r.th.sport >= 49152);                      /* RFC 6056 ephemeral range */
    FN_CHECK(r.to.has_mss && r.to.mss == 1460);
    p.aport = r.th.sport;
    p.a_iss = r.th.seq;
    /* An ACK that does not ack our SYN gets a RST <SEQ=SEG.ACK> and changes nothing. */
    tt_inject_abs(&p, p.iss, p.a_iss + 5, FN_TH_SYN | FN_TH_ACK, o, 4, NULL, 0);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.flags, FN_TH_RST);
    FN_CHECK(r.th.seq == p.a_iss + 5);
    FN_CHECK_EQ(fn_tcp_state(tp), TCPS_SYN_SENT);
    tt_inject_abs(&p, p.iss, p.a_iss + 1, FN_TH_SYN | FN_TH_ACK, o, 4, NULL, 0);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.flags, FN_TH_ACK);
    FN_CHECK_EQ(RSEQ(&p, &r), 1);
    FN_CHECK_EQ(RACK(&p, &r), 1);
    FN_CHECK_EQ(fn_tcp_state(tp), TCPS_ESTABLISHED);
    FN_CHECK(tt_events(&t, tp) & FN_TCP_EV_CONNECTED);
    FN_CHECK_EQ(tp->t_timer[TT_REXMT], 0);
    fn_tcp_abort(tp, t.now);
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK(r.th.flags & FN_TH_RST);
    FN_CHECK_EQ(tnet_close(&t), 0);
}

FN_TEST(simultaneous_open)
{
    struct tnet t;
    struct fn_config c;
    struct tcpcb *tp;
    struct peer p;
    struct rseg r;
    uint8_t o[4] = {2, 4, 0x05, 0xb4};

    tt_cfg(&c);
    FN_CHECK_EQ(tt_open(&t, &c), 0);
    tt_peer_init(&p, &t, 77777);
    FN_CHECK_EQ(fn_tcp_connect(t.sa, IP_B, P_PORT, 5555, &tp, t.now), 0);
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    p.aport = 5555;
    p.a_iss = r.th.seq;
    /* The peer's own SYN crosses ours (RFC 9293 Figure 7). */
    tt_inject_abs(&p, p.iss, 0, FN_TH_SYN, o, 4, NULL, 0);
    FN_CHECK_EQ(fn_tcp_state(tp), TCPS_SYN_RECEIVED);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.flags, FN_TH_SYN | FN_TH_ACK);
    FN_CHECK(r.th.seq == p.a_iss);
    FN_CHECK_EQ(RACK(&p, &r), 1);
    /* The peer's SYN,ACK for our SYN. */
    tt_inject_abs(&p, p.iss, p.a_iss + 1, FN_TH_SYN | FN_TH_ACK, o, 4, NULL, 0);
    FN_CHECK_EQ(fn_tcp_state(tp), TCPS_ESTABLISHED);
    FN_CHECK(tt_events(&t, tp) & FN_TCP_EV_CONNECTED);
    fn_tcp_abort(tp, t.now);
    tnet_drain(&t);
    FN_CHECK_EQ(tnet_close(&t), 0);
}

FN_TEST(syn_retransmit_backoff_then_etimedout)
{
    struct tnet t;
    struct fn_config c;
    struct tcpcb *tp;
    struct rseg r;
    uint32_t seq;
    uint64_t rto = 1 * SEC;

    tt_cfg(&c);
    c.tcp_syn_retries = 3;
    FN_CHECK_EQ(tt_open(&t, &c), 0);
    FN_CHECK_EQ(fn_tcp_connect(t.sa, IP_B, P_PORT, 0, &tp, t.now), 0);
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    seq = r.th.seq;
    for (int i = 0; i < 3; i++) {
        /* Nothing just before the RTO, the same SYN at it; the RTO doubles (RFC 6298 §5.5). */
        tt_advance(&t, rto - 1);
        FN_CHECK_EQ(tt_read(&t, &r), 0);
        FN_CHECK(fn_stack_next_deadline(t.sa) == t.now + 1);
        tt_advance(&t, 1);
        FN_CHECK_EQ(tt_read(&t, &r), 1);
        FN_CHECK_EQ(r.th.flags, FN_TH_SYN);
        FN_CHECK(r.th.seq == seq);
        rto *= 2;
    }
    tt_advance(&t, rto);
    FN_CHECK_EQ(fn_tcp_state(tp), TCPS_CLOSED);
    FN_CHECK_EQ(fn_tcp_error(tp), ETIMEDOUT);
    FN_CHECK(tt_events(&t, tp) & FN_TCP_EV_ERROR);
    FN_CHECK_EQ(fn_tcp_send(tp, "x", 1, t.now), -ETIMEDOUT);
    fn_tcp_close(tp, t.now);
    FN_CHECK_EQ(fn_tcp_count(t.sa), 0);
    FN_CHECK(fn_tcp_next_deadline(t.sa) == UINT64_MAX);  /* no TCP timer left */
    FN_CHECK_EQ(tnet_close(&t), 0);
}

FN_TEST(rst_in_syn_sent_only_if_it_acks_our_syn)
{
    struct tnet t;
    struct fn_config c;
    struct tcpcb *tp;
    struct peer p;
    struct rseg r;

    tt_cfg(&c);
    FN_CHECK_EQ(tt_open(&t, &c), 0);
    tt_peer_init(&p, &t, 1);
    FN_CHECK_EQ(fn_tcp_connect(t.sa, IP_B, P_PORT, 0, &tp, t.now), 0);
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    p.aport = r.th.sport;
    p.a_iss = r.th.seq;
    /* RST without ACK: ignored. */
    tt_inject_abs(&p, 0, 0, FN_TH_RST, NULL, 0, NULL, 0);
    FN_CHECK_EQ(fn_tcp_state(tp), TCPS_SYN_SENT);
    /* RST,ACK with a wrong ACK: answered by nothing (never RST a RST), ignored. */
    tt_inject_abs(&p, 0, p.a_iss + 2, FN_TH_RST | FN_TH_ACK, NULL, 0, NULL, 0);
    FN_CHECK_EQ(fn_tcp_state(tp), TCPS_SYN_SENT);
    FN_CHECK_EQ(tt_read(&t, &r), 0);
    /* RST,ACK acking the SYN: refused. */
    tt_inject_abs(&p, 0, p.a_iss + 1, FN_TH_RST | FN_TH_ACK, NULL, 0, NULL, 0);
    FN_CHECK_EQ(fn_tcp_state(tp), TCPS_CLOSED);
    FN_CHECK_EQ(fn_tcp_error(tp), ECONNREFUSED);
    FN_CHECK_EQ(fn_tcp_recv(tp, &r, 1, t.now), -ECONNREFUSED);
    FN_CHECK_EQ(tt_read(&t, &r), 0);
    fn_tcp_close(tp, t.now);
    FN_CHECK_EQ(tnet_close(&t), 0);
}

FN_TEST(rst_to_no_connection_never_to_rst)
{
    struct tnet t;
    struct fn_config c;
    struct peer p;
    struct rseg r;

    tt_cfg(&c);
    FN_CHECK_EQ(tt_open(&t, &c), 0);
    tt_peer_init(&p, &t, 500);
    /* SYN to a closed port: <SEQ=0><ACK=SEG.SEQ+1><CTL=RST,ACK>. */
    tt_inject_abs(&p, 500, 0, FN_TH_SYN, NULL, 0, NULL, 0);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.flags, FN_TH_RST | FN_TH_ACK);
    FN_CHECK_EQ(r.th.seq, 0);
    FN_CHECK_EQ(r.th.ack, 501);
    /* Data with ACK: <SEQ=SEG.ACK><CTL=RST>. */
    tt_inject_abs(&p, 600, 12345, FN_TH_ACK, NULL, 0, "abc", 3);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.flags, FN_TH_RST);
    FN_CHECK_EQ(r.th.seq, 12345);
    /* Data + FIN without ACK: ack covers data and FIN. */
    tt_inject_abs(&p, 600, 0, FN_TH_FIN, NULL, 0, "abc", 3);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.ack, 604);
    /* A RST is never answered. */
    tt_inject_abs(&p, 600, 0, FN_TH_RST, NULL, 0, NULL, 0);
    tt_inject_abs(&p, 600, 7, FN_TH_RST | FN_TH_ACK, NULL, 0, NULL, 0);
    FN_CHECK_EQ(tt_read(&t, &r), 0);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_rx_noport, 5);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_rst_tx, 3);
    FN_CHECK_EQ(tnet_close(&t), 0);
}

FN_TEST(listener_ack_gets_rst_and_syn_ack_retransmits)
{
    struct tnet t;
    struct fn_config c;
    struct tcpcb *l;
    struct peer p;
    struct rseg r;

    tt_cfg(&c);
    c.tcp_syn_retries = 2;
    FN_CHECK_EQ(tt_open(&t, &c), 0);
    FN_CHECK_EQ(fn_tcp_listen(t.sa, A_PORT, 4, &l), 0);
    tt_peer_init(&p, &t, 9);
    tt_inject_abs(&p, 9, 777, FN_TH_ACK, NULL, 0, NULL, 0);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.flags, FN_TH_RST);
    FN_CHECK_EQ(r.th.seq, 777);
    tt_send_syn(&p, P_MSS, -1, 0);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.flags, FN_TH_SYN | FN_TH_ACK);
    /* The peer's SYN again: the same SYN-ACK again. */
    tt_send_syn(&p, P_MSS, -1, 0);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.flags, FN_TH_SYN | FN_TH_ACK);
    /* The SYN-ACK retransmits on its timer, then the half-open child is dropped. */
    tt_advance(&t, 1 * SEC);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.flags, FN_TH_SYN | FN_TH_ACK);
    tt_advance(&t, 2 * SEC);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    /* The half-open connection is a syncache entry, not a tcpcb. */
    FN_CHECK_EQ(fn_tcp_count(t.sa), 1);
    FN_CHECK_EQ(l->t_sc_count, 1);
    tt_advance(&t, 4 * SEC);
    FN_CHECK_EQ(tt_read(&t, &r), 0);
    FN_CHECK_EQ(l->t_sc_count, 0);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_syncache_expired, 1);
    FN_CHECK_EQ(fn_tcp_count(t.sa), 1);
    FN_CHECK_EQ(l->t_qlen, 0);
    fn_tcp_close(l, t.now);
    FN_CHECK_EQ(tnet_close(&t), 0);
}

FN_TEST(backlog_and_tcb_exhaustion_refuse)
{
    struct tnet t;
    struct fn_config c;
    struct tcpcb *l, *x, *y;
    struct peer p;
    struct rseg r;

    tt_cfg(&c);
    c.tcp_max_conns = 3;
    c.tcp_syncookies = 0;       /* beyond the backlog: refuse (cookies: test_tcp_syncache.c) */
    FN_CHECK_EQ(tt_open(&t, &c), 0);
    FN_CHECK_EQ(fn_tcp_listen(t.sa, A_PORT, 1, &l), 0);
    tt_peer_init(&p, &t, 100);
    tt_send_syn(&p, P_MSS, -1, 0);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    p.port++;
    tt_send_syn(&p, P_MSS, -1, 0);
    FN_CHECK_EQ(tt_read(&t, &r), 0);                    /* backlog 1: dropped */
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_syncache_overflow, 1);
    /* The half-open connection holds no tcpcb: two of the three are still free. */
    FN_CHECK_EQ(fn_tcp_connect(t.sa, IP_B, 1, 0, &x, t.now), 0);
    FN_CHECK_EQ(fn_tcp_connect(t.sa, IP_B, 2, 0, &y, t.now), 0);
    FN_CHECK_EQ(fn_tcp_connect(t.sa, IP_B, 3, 0, &y, t.now), -ENOBUFS);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_tcb_exhausted, 1);
    /* Closing the listener drops its half-open entry quietly: only the two SYNs go out. */
    fn_tcp_close(l, t.now);
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.flags, FN_TH_SYN);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.flags, FN_TH_SYN);
    FN_CHECK_EQ(tt_read(&t, &r), 0);
    FN_CHECK(fn_tcp_next_deadline(t.sa) != UINT64_MAX); /* the connects' SYN timers only */
    fn_tcp_close(x, t.now);
    fn_tcp_close(y, t.now);
    FN_CHECK_EQ(fn_tcp_count(t.sa), 0);
    FN_CHECK(fn_tcp_next_deadline(t.sa) == UINT64_MAX);
    FN_CHECK_EQ(tnet_close(&t), 0);
}

FN_TEST(isn_differs_per_tuple)
{
    struct tnet t;
    struct fn_config c;
    struct tcpcb *a, *b;

    tt_cfg(&c);
    FN_CHECK_EQ(tt_open(&t, &c), 0);
    FN_CHECK_EQ(fn_tcp_connect(t.sa, IP_B, 1000, 2000, &a, t.now), 0);
    FN_CHECK_EQ(fn_tcp_connect(t.sa, IP_B, 1000, 2001, &b, t.now), 0);
    FN_CHECK(a->iss != b->iss);
    FN_CHECK_EQ(fn_tcp_connect(t.sa, IP_B, 1000, 2001, &b, t.now), -EADDRINUSE);
    fn_tcp_close(a, t.now);
    fn_tcp_close(b, t.now);
    tnet_drain(&t);
    FN_CHECK_EQ(tnet_close(&t), 0);
}

/* An ICMP error from B quoting the segment r that A sent. */
static void inject_icmp_about(struct tnet *t, const struct rseg *r, uint8_t type, uint8_t code,
                              uint32_t rest)
{
    uint8_t body[128], f[256];
    uint32_t blen = build_icmp(body, type, code, rest, r->frame + FN_ETH_HLEN, 28);

    tnet_inject(t, f, build_ip(f, MAC_A, MAC_B, IP_B, IP_A, FN_IPPROTO_ICMP, 3, 0, 0, body,
                               blen));
}

FN_TEST(icmp_port_unreachable_refuses_connect)
{
    struct tnet t;
    struct fn_config c;
    struct tcpcb *tp;
    struct rseg r;

    tt_cfg(&c);
    FN_CHECK_EQ(tt_open(&t, &c), 0);
    FN_CHECK_EQ(fn_tcp_connect(t.sa, IP_B, P_PORT, 0, &tp, t.now), 0);
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    inject_icmp_about(&t, &r, FN_ICMP_UNREACH, FN_ICMP_UNREACH_PORT, 0);
    FN_CHECK_EQ(fn_tcp_state(tp), TCPS_CLOSED);
    FN_CHECK_EQ(fn_tcp_error(tp), ECONNREFUSED);
    fn_tcp_close(tp, t.now);
    FN_CHECK_EQ(tnet_close(&t), 0);
}

FN_TEST(icmp_frag_needed_shrinks_mss_and_resends)
{
    static uint8_t big[4000];
    struct tnet t;
    struct fn_config c;
    struct tcpcb *l, *tp;
    struct peer p;
    struct rseg r;

    tt_cfg(&c);
    FN_CHECK_EQ(tt_open(&t, &c), 0);
    FN_CHECK_EQ(fn_tcp_listen(t.sa, A_PORT, 4, &l), 0);
    tt_peer_init(&p, &t, 1);
    tp = tt_passive(&p, l);
    FN_CHECK(tp != NULL);
    FN_CHECK_EQ(fn_tcp_send(tp, big, 1460, t.now), 1460);
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.payload_len, 1460);
    /* A forged error quoting a sequence number not in flight is ignored (RFC 5927). */
    {
        struct rseg bad = r;
        bad.frame[FN_ETH_HLEN + 20 + 4] ^= 0x40;
        inject_icmp_about(&t, &bad, FN_ICMP_UNREACH, FN_ICMP_UNREACH_NEEDFRAG, 1000);
        FN_CHECK_EQ(tp->t_maxseg, 1460);
    }
    inject_icmp_about(&t, &r, FN_ICMP_UNREACH, FN_ICMP_UNREACH_NEEDFRAG, 1000);
    FN_CHECK_EQ(tp->t_maxseg, 960);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(RSEQ(&p, &r), 1);
    FN_CHECK_EQ(r.th.payload_len, 960);
    fn_tcp_abort(tp, t.now);
    fn_tcp_close(l, t.now);
    FN_CHECK_EQ(tnet_close(&t), 0);
}

FN_TEST_MAIN()
