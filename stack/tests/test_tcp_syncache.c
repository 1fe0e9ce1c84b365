/*
 * test_tcp_syncache.c — passive opens through the syncache and SYN cookies (RFC 4987):
 * no tcpcb before the third ACK, SYN-ACK retransmission with backoff and expiry, duplicate
 * SYNs, RST and bad ACKs in SYN-RECEIVED (RFC 9293 §3.10.7.4, RFC 5961 §3.2), cookies on
 * overflow carrying the MSS (and window scale / SACK through the timestamp), forged and
 * stale cookies, the accept-queue-full policy, and a SYN flood from thousands of spoofed
 * sources while a real client connects and exchanges data.  Every test ends with no tcpcb
 * and no packet buffer left.
 */
#include "tcp_harness.h"

/* The peer's SYN and A's answer: 1 if it was the SYN-ACK for it (the peer learns A's ISS and
 * TSval), 0 if A sent nothing, -1 for anything else. */
static int syn(struct peer *p, struct rseg *r, uint16_t mss, int ws, int sack)
{
    tt_send_syn(p, mss, ws, sack);
    if (tt_read(p->t, r) != 1)
        return 0;
    if (r->th.flags != (FN_TH_SYN | FN_TH_ACK) || r->th.ack != p->iss + 1)
        return -1;
    p->a_iss = r->th.seq;
    if (r->to.has_ts)
        p->tsecr = r->to.tsval;
    return 1;
}

/* The peer's third ACK (with optional data) and the listener's newest child, accepted. */
static struct tcpcb *ack_accept(struct peer *p, struct tcpcb *l, const char *data)
{
    tt_inject(p, 1, 1, FN_TH_ACK, data, data ? (uint32_t)strlen(data) : 0);
    return fn_tcp_accept(l);
}

/* The fixture of most tests here: A listens on A_PORT with backlog BL after CFG ran on the
 * config c.  Declares t, c, l, r and tp (NULL until the test accepts a connection into it;
 * TT_TEARDOWN aborts it, closes l and checks that no tcpcb and no buffer is left). */
#define SC_SETUP(BL, CFG)                                                \
    struct tnet t;                                                       \
    struct fn_config c;                                                  \
    struct tcpcb *l = NULL, *tp = NULL;                                  \
    struct rseg r;                                                       \
    tt_cfg(&c);                                                          \
    CFG;                                                                 \
    FN_CHECK_EQ(tt_open(&t, &c), 0);                                     \
    FN_CHECK_EQ(fn_tcp_listen(t.sa, A_PORT, (BL), &l), 0)

/* Offer window scale, timestamps and SACK (tt_cfg turns them off). */
static void all_options(struct fn_config *c)
{
    c->tcp_window_scaling = 1;
    c->tcp_timestamps = 1;
    c->tcp_sack = 1;
}

/* Nothing from A for `wait` — A's next deadline is exactly then — and then one segment,
 * read into r.  1 if so. */
static int silent_until(struct tnet *t, struct rseg *r, uint64_t wait)
{
    tt_advance(t, wait - 1);
    if (tt_read(t, r) != 0 || fn_stack_next_deadline(t->sa) != t->now + 1)
        return 0;
    tt_advance(t, 1);
    return tt_read(t, r) == 1;
}

FN_TEST(handshake_holds_no_tcpcb_until_the_ack)
{
    SC_SETUP(4, (void)0);
    struct peer p, q;
    char buf[16];

    tt_peer_init(&p, &t, 0x7ffffff0u);
    FN_CHECK_EQ(syn(&p, &r, 1400, -1, 0), 1);
    FN_CHECK(r.to.has_mss && r.to.mss == 1460);
    FN_CHECK_EQ(r.th.win, 65535);
    /* Half-open: a syncache entry, no tcpcb, no buffer held. */
    FN_CHECK_EQ(fn_tcp_count(t.sa), 1);
    FN_CHECK_EQ(l->t_sc_count, 1);
    FN_CHECK_EQ(pool_in_use(t.pa), 0);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_syncache_added, 1);
    FN_CHECK(fn_tcp_next_deadline(t.sa) == t.now + 1 * SEC);   /* the SYN-ACK timer */
    t.now += 50 * MS;
    tp = ack_accept(&p, l, NULL);
    FN_CHECK(tp != NULL);
    FN_CHECK_EQ(fn_tcp_count(t.sa), 2);
    FN_CHECK_EQ(l->t_sc_count, 0);
    FN_CHECK_EQ(fn_tcp_state(tp), TCPS_ESTABLISHED);
    FN_CHECK_EQ(tp->t_maxseg, 1400);
    FN_CHECK(tp->t_flags & TF_PASSIVE);
    FN_CHECK(tp->t_srtt == 50 * MS);            /* the SYN-ACK was not resent: a sample */
    FN_CHECK(tp->snd_una == p.a_iss + 1 && tp->snd_max == p.a_iss + 1);
    FN_CHECK(tp->rcv_nxt == p.iss + 1);
    FN_CHECK(fn_tcp_next_deadline(t.sa) == UINT64_MAX);         /* nothing outstanding */
    /* Another half-open entry, due in 1 s; below, the RTO of our data (200 ms, the minimum
     * over a 50 ms SRTT) comes first: the next deadline is the earlier of the two. */
    tt_peer_init(&q, &t, 5);
    q.port = P_PORT + 1;
    FN_CHECK_EQ(syn(&q, &r, 1400, -1, 0), 1);
    FN_CHECK(fn_tcp_next_deadline(t.sa) == t.now + 1 * SEC);
    FN_CHECK(tt_events(&t, tp) & FN_TCP_EV_CONNECTED);
    FN_CHECK_EQ(tt_read(&t, &r), 0);
    /* Data both ways. */
    tt_inject(&p, 1, 1, FN_TH_ACK | FN_TH_PUSH, "ping", 4);
    FN_CHECK_EQ(fn_tcp_recv(tp, buf, sizeof(buf), t.now), 4);
    FN_CHECK(memcmp(buf, "ping", 4) == 0);
    FN_CHECK_EQ(fn_tcp_send(tp, "pong", 4, t.now), 4);
    fn_stack_poll(t.sa, t.now);
    FN_CHECK(fn_tcp_next_deadline(t.sa) == t.now + 200 * MS);
    FN_CHECK_EQ(l->t_sc_count, 1);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(RSEQ(&p, &r), 1);
    FN_CHECK_EQ(RACK(&p, &r), 5);
    FN_CHECK_EQ(r.th.payload_len, 4);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_conn_passive, 1);
    TT_TEARDOWN();
}

FN_TEST(data_on_the_third_ack_is_kept)
{
    SC_SETUP(4, c.tcp_timestamps = 1);
    struct peer p;
    char buf[16];

    tt_peer_init(&p, &t, 1);
    p.ts = 1;
    FN_CHECK_EQ(syn(&p, &r, 1460, -1, 0), 1);
    FN_CHECK(r.to.has_ts && r.to.tsecr == 1000);
    p.tsval = 1010;
    t.now += 20 * MS;
    tp = ack_accept(&p, l, "GET /");
    FN_CHECK(tp != NULL);
    FN_CHECK(tp->t_flags & TF_RCVD_TSTMP);
    FN_CHECK_EQ(tp->ts_recent, 1010);
    FN_CHECK(tp->t_srtt == 20 * MS);            /* from the echoed TSval */
    FN_CHECK_EQ(fn_tcp_readable(tp), 5);
    FN_CHECK_EQ(fn_tcp_recv(tp, buf, sizeof(buf), t.now), 5);
    FN_CHECK(memcmp(buf, "GET /", 5) == 0);
    /* The delayed ACK for it, with a timestamp echoing 1010. */
    tt_advance(&t, c.tcp_delack_ms * MS);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.flags, FN_TH_ACK);
    FN_CHECK_EQ(RACK(&p, &r), 6);
    FN_CHECK(r.to.has_ts && r.to.tsecr == 1010);
    TT_TEARDOWN();
}

FN_TEST(synack_retransmits_with_backoff_then_expires)
{
    SC_SETUP(4, c.tcp_syn_retries = 3);
    struct peer p;
    uint64_t rto = 1 * SEC;

    tt_peer_init(&p, &t, 5000);
    FN_CHECK_EQ(syn(&p, &r, P_MSS, -1, 0), 1);
    for (int i = 0; i < 3; i++) {
        /* Nothing before the timeout, the same SYN-ACK at it; the timeout doubles. */
        FN_CHECK(silent_until(&t, &r, rto));
        FN_CHECK_EQ(r.th.flags, FN_TH_SYN | FN_TH_ACK);
        FN_CHECK(r.th.seq == p.a_iss);
        FN_CHECK(r.th.ack == p.iss + 1);
        FN_CHECK_EQ(fn_tcp_count(t.sa), 1);
        rto *= 2;
    }
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_syncache_rexmt, 3);
    /* After the last retry's timeout the entry goes, silently. */
    tt_advance(&t, rto - 1);
    FN_CHECK_EQ(l->t_sc_count, 1);
    tt_advance(&t, 1);
    FN_CHECK_EQ(tt_read(&t, &r), 0);
    FN_CHECK_EQ(l->t_sc_count, 0);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_syncache_expired, 1);
    FN_CHECK(fn_tcp_next_deadline(t.sa) == UINT64_MAX);
    /* A late ACK finds nothing: RST <SEQ=SEG.ACK> (RFC 9293 §3.10.7.2). */
    tt_inject(&p, 1, 1, FN_TH_ACK, NULL, 0);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.flags, FN_TH_RST);
    FN_CHECK(r.th.seq == p.a_iss + 1);
    FN_CHECK(fn_tcp_accept(l) == NULL);
    TT_TEARDOWN();
}

FN_TEST(duplicate_syn_resends_the_synack_without_moving_the_timer)
{
    SC_SETUP(4, (void)0);
    struct peer p;
    uint32_t iss;

    tt_peer_init(&p, &t, 777);
    FN_CHECK_EQ(syn(&p, &r, P_MSS, -1, 0), 1);
    iss = p.a_iss;
    tt_advance(&t, 600 * MS);
    FN_CHECK_EQ(syn(&p, &r, P_MSS, -1, 0), 1);
    FN_CHECK(p.a_iss == iss);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_syncache_dup_syn, 1);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_syncache_added, 1);
    /* The retransmission is still due 1 s after the first SYN-ACK. */
    tt_advance(&t, 400 * MS);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK(r.th.seq == iss);
    /* A SYN with another ISN: the peer started over; the SYN-ACK acks the new one. */
    p.iss = 999999;
    FN_CHECK_EQ(syn(&p, &r, P_MSS, -1, 0), 1);
    FN_CHECK_EQ(l->t_sc_count, 1);
    tp = ack_accept(&p, l, NULL);
    FN_CHECK(tp != NULL);
    FN_CHECK(tp->irs == 999999);
    TT_TEARDOWN();
}

FN_TEST(rst_and_bad_ack_in_syn_received)
{
    SC_SETUP(4, (void)0);
    struct peer p;

    tt_peer_init(&p, &t, 40000);
    FN_CHECK_EQ(syn(&p, &r, P_MSS, -1, 0), 1);
    /* RFC 5961 §3.2: a RST in the window but not at RCV.NXT gets a challenge ACK. */
    tt_inject(&p, 101, 0, FN_TH_RST, NULL, 0);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.flags, FN_TH_ACK);
    FN_CHECK_EQ(RSEQ(&p, &r), 1);
    FN_CHECK_EQ(RACK(&p, &r), 1);
    FN_CHECK_EQ(l->t_sc_count, 1);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_challenge_ack, 1);
    /* Outside the window: ignored. */
    tt_inject(&p, 1 + 200000, 0, FN_TH_RST, NULL, 0);
    tt_inject(&p, 0, 0, FN_TH_RST, NULL, 0);
    FN_CHECK_EQ(tt_read(&t, &r), 0);
    FN_CHECK_EQ(l->t_sc_count, 1);
    /* An ACK that does not ack our SYN: <SEQ=SEG.ACK><CTL=RST>, the entry stays. */
    tt_inject(&p, 1, 5, FN_TH_ACK, NULL, 0);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.flags, FN_TH_RST);
    FN_CHECK_EQ(RSEQ(&p, &r), 5);
    FN_CHECK_EQ(l->t_sc_count, 1);
    FN_CHECK_EQ(fn_tcp_count(t.sa), 1);
    /* An ACK whose SEQ is not RCV.NXT: answered with an ACK, nothing created. */
    tt_inject(&p, 50, 1, FN_TH_ACK, NULL, 0);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.flags, FN_TH_ACK);
    FN_CHECK_EQ(RACK(&p, &r), 1);
    FN_CHECK_EQ(fn_tcp_count(t.sa), 1);
    /* The RST at exactly RCV.NXT removes the entry, silently. */
    tt_inject(&p, 1, 0, FN_TH_RST, NULL, 0);
    FN_CHECK_EQ(tt_read(&t, &r), 0);
    FN_CHECK_EQ(l->t_sc_count, 0);
    FN_CHECK(fn_tcp_next_deadline(t.sa) == UINT64_MAX);
    /* Now the third ACK finds nothing and is reset. */
    tt_inject(&p, 1, 1, FN_TH_ACK, NULL, 0);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.flags, FN_TH_RST);
    FN_CHECK(fn_tcp_accept(l) == NULL);
    TT_TEARDOWN();
}

FN_TEST(overflow_falls_back_to_cookies_with_the_mss)
{
    SC_SETUP(1, {
        c.tcp_window_scaling = 1;
        c.tcp_sack = 1;
    });
    struct tcpcb *x;
    struct peer p, q;

    tt_peer_init(&q, &t, 1);
    FN_CHECK_EQ(syn(&q, &r, P_MSS, -1, 0), 1);       /* holds the listener's one entry */
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_syncookies_sent, 0);
    tt_peer_init(&p, &t, 0xabcdef00u);
    p.port = P_PORT + 1;
    /* Window scale and SACK offered without timestamps: a cookie cannot carry them, so the
     * SYN-ACK offers neither. */
    FN_CHECK_EQ(syn(&p, &r, 1400, 5, 1), 1);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_syncache_overflow, 1);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_syncookies_sent, 1);
    FN_CHECK(r.to.has_mss && r.to.mss == 1460);
    FN_CHECK(!r.to.has_wscale && !r.to.sack_permitted && !r.to.has_ts);
    FN_CHECK_EQ(l->t_sc_count, 1);
    FN_CHECK(fn_tcp_next_deadline(t.sa) == t.now + 1 * SEC);  /* q's entry only */
    tp = ack_accept(&p, l, NULL);
    FN_CHECK(tp != NULL);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_syncookies_ok, 1);
    FN_CHECK_EQ(fn_tcp_state(tp), TCPS_ESTABLISHED);
    FN_CHECK_EQ(tp->t_maxseg, 1400);
    FN_CHECK_EQ(tp->snd_wscale, 0);
    FN_CHECK_EQ(tp->rcv_wscale, 0);
    FN_CHECK(!(tp->t_flags & (TF_SACK_PERMIT | TF_RCVD_SCALE | TF_RCVD_TSTMP)));
    FN_CHECK(tp->iss == p.a_iss && tp->irs == p.iss);
    FN_CHECK(tp->t_srtt == 0);                  /* a cookie knows no send time */
    /* The next MSS down the table: 1380 is carried as 1360. */
    p.port = P_PORT + 2;
    p.iss = 123;
    FN_CHECK_EQ(syn(&p, &r, 1380, -1, 0), 1);
    x = ack_accept(&p, l, NULL);
    FN_CHECK(x != NULL);
    FN_CHECK_EQ(x->t_maxseg, 1360);
    fn_tcp_abort(x, t.now);
    /* The entry of q completes normally. */
    x = ack_accept(&q, l, NULL);
    FN_CHECK(x != NULL);
    FN_CHECK_EQ(x->t_maxseg, P_MSS);
    FN_CHECK_EQ(l->t_sc_count, 0);
    fn_tcp_abort(x, t.now);
    tnet_drain(&t);
    TT_TEARDOWN();
}

FN_TEST(late_cookie_ack_wins_over_a_newer_entry)
{
    SC_SETUP(1, (void)0);
    struct tcpcb *x;
    struct peer p, q;
    uint32_t cookie;

    tt_peer_init(&q, &t, 1);
    FN_CHECK_EQ(syn(&q, &r, P_MSS, -1, 0), 1);       /* the listener's one entry */
    tt_peer_init(&p, &t, 77);
    p.port = P_PORT + 1;
    FN_CHECK_EQ(syn(&p, &r, P_MSS, -1, 0), 1);       /* a cookie */
    cookie = p.a_iss;
    x = ack_accept(&q, l, NULL);                     /* the share is free again */
    FN_CHECK(x != NULL);
    /* p's SYN again (it did not see the cookie SYN-ACK yet): now an entry, another ISS. */
    FN_CHECK_EQ(syn(&p, &r, P_MSS, -1, 0), 1);
    FN_CHECK(p.a_iss != cookie);
    FN_CHECK_EQ(l->t_sc_count, 1);
    /* Then p answers the first SYN-ACK: the cookie verifies and the entry goes. */
    p.a_iss = cookie;
    tp = ack_accept(&p, l, NULL);
    FN_CHECK(tp != NULL);
    FN_CHECK(tp->iss == cookie);
    FN_CHECK_EQ(l->t_sc_count, 0);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_syncookies_ok, 1);
    FN_CHECK(fn_tcp_next_deadline(t.sa) == UINT64_MAX);
    fn_tcp_abort(x, t.now);
    tnet_drain(&t);
    TT_TEARDOWN();
}

FN_TEST(cookie_carries_wscale_and_sack_in_the_timestamp)
{
    SC_SETUP(4, {
        all_options(&c);
        c.tcp_syncookies = 2;
    });
    struct peer p;

    tt_peer_init(&p, &t, 0x01020304u);
    p.ts = 1;
    FN_CHECK_EQ(syn(&p, &r, 1460, 7, 1), 1);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_syncookies_sent, 1);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_syncache_added, 0);
    FN_CHECK(r.to.has_wscale && r.to.wscale == 2 && r.to.sack_permitted);
    FN_CHECK(r.to.has_ts && r.to.tsecr == 1000);
    FN_CHECK_EQ(r.to.tsval & 0x1f, 7 | 0x10);   /* peer's shift 7, SACK-permitted */
    /* Mode 2 keeps nothing: no entry, no timer. */
    FN_CHECK_EQ(l->t_sc_count, 0);
    FN_CHECK(fn_tcp_next_deadline(t.sa) == UINT64_MAX);
    p.tsval = 1005;
    p.win = 1000;
    tp = ack_accept(&p, l, NULL);
    FN_CHECK(tp != NULL);
    FN_CHECK_EQ(tp->snd_wscale, 7);
    FN_CHECK_EQ(tp->rcv_wscale, 2);
    FN_CHECK_EQ(tp->snd_wnd, 1000u << 7);
    FN_CHECK(tp->t_flags & TF_SACK_PERMIT);
    FN_CHECK(tp->t_flags & TF_RCVD_TSTMP);
    FN_CHECK_EQ(tp->ts_recent, 1005);
    /* Our later TSvals never go below the cookie's (RFC 7323 §5.4). */
    FN_CHECK_EQ(fn_tcp_send(tp, "abc", 3, t.now), 3);
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.payload_len, 3);
    FN_CHECK(r.to.has_ts && TSTMP_GEQ(r.to.tsval, p.tsecr) && r.to.tsecr == 1005);
    TT_TEARDOWN();
}

FN_TEST(forged_and_stale_cookies_are_rejected)
{
    SC_SETUP(4, c.tcp_syncookies = 2);
    struct peer p;

    tt_peer_init(&p, &t, 4242);
    FN_CHECK_EQ(syn(&p, &r, P_MSS, -1, 0), 1);
    /* A random ACK, and the real cookie with one MAC bit flipped: RST <SEQ=SEG.ACK>. */
    tt_inject_abs(&p, p.iss + 1, 0x5eed1234u, FN_TH_ACK, NULL, 0, NULL, 0);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.flags, FN_TH_RST);
    FN_CHECK(r.th.seq == 0x5eed1234u);
    tt_inject_abs(&p, p.iss + 1, (p.a_iss ^ 0x00100000u) + 1, FN_TH_ACK, NULL, 0, NULL, 0);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.flags, FN_TH_RST);
    /* The right cookie for another peer ISN (SEG.SEQ - 1) does not verify either. */
    tt_inject_abs(&p, p.iss + 2, p.a_iss + 1, FN_TH_ACK, NULL, 0, NULL, 0);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.flags, FN_TH_RST);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_syncookies_bad, 3);
    FN_CHECK_EQ(fn_tcp_count(t.sa), 1);
    /* Two windows later the genuine cookie is stale. */
    tt_advance(&t, 129 * SEC);
    tt_inject(&p, 1, 1, FN_TH_ACK, NULL, 0);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.flags, FN_TH_RST);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_syncookies_bad, 4);
    FN_CHECK(fn_tcp_accept(l) == NULL);
    /* One window later (the previous count) it is still good. */
    p.port++;
    FN_CHECK_EQ(syn(&p, &r, P_MSS, -1, 0), 1);
    tt_advance(&t, 64 * SEC);
    tp = ack_accept(&p, l, NULL);
    FN_CHECK(tp != NULL);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_syncookies_ok, 1);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_syncookies_bad, 4);
    TT_TEARDOWN();
}

/* Two peers whose SYNs get cookies at the same instant (ports P_PORT + k, P_PORT + k + 1). */
static int two_cookies(struct tnet *t, struct peer *a, struct peer *b, uint16_t k)
{
    struct rseg r;

    tt_peer_init(a, t, 100000u * k);
    a->port = (uint16_t)(P_PORT + k);
    tt_peer_init(b, t, 100000u * k + 50000u);
    b->port = (uint16_t)(P_PORT + k + 1);
    return syn(a, &r, P_MSS, -1, 0) == 1 && syn(b, &r, P_MSS, -1, 0) == 1;
}

/* The cookie's lifetime to the nanosecond of the virtual clock.  The MAC covers the 64 s
 * count of the stack's clock, and a count verifies only while it is the current or the
 * previous one (Linux's scheme: a cookie lives 64 to 128 s, then its count has rotated
 * out).  Issued in the last nanosecond of a count, a cookie is still good 64 s later, the
 * last nanosecond of the next count, and refused one nanosecond after that; issued in the
 * first nanosecond of a count, it is good until 128 s less a nanosecond later. */
FN_TEST(cookie_lifetime_edges_on_the_virtual_clock)
{
    SC_SETUP(4, c.tcp_syncookies = 2);
    const uint64_t period = 64 * SEC;
    struct peer a, b;
    uint64_t k;

    /* The last nanosecond of a count. */
    k = t.now / period + 1;
    tt_advance(&t, k * period - 1 - t.now);
    FN_CHECK(two_cookies(&t, &a, &b, 1));
    tt_advance(&t, period);                             /* (k + 1)·64 s - 1 ns */
    tp = ack_accept(&a, l, NULL);
    FN_CHECK(tp != NULL);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_syncookies_ok, 1);
    tt_advance(&t, 1);                                  /* (k + 1)·64 s: rotated out */
    tt_inject(&b, 1, 1, FN_TH_ACK, NULL, 0);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.flags, FN_TH_RST);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_syncookies_bad, 1);
    FN_CHECK(fn_tcp_accept(l) == NULL);
    fn_tcp_abort(tp, t.now);
    fn_stack_poll(t.sa, t.now);
    tnet_drain(&t);                                     /* its RST */
    /* The first nanosecond of a count: it is now, (k + 1)·64 s. */
    FN_CHECK(two_cookies(&t, &a, &b, 3));
    tt_advance(&t, 2 * period - 1);                     /* (k + 3)·64 s - 1 ns */
    tp = ack_accept(&a, l, NULL);
    FN_CHECK(tp != NULL);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_syncookies_ok, 2);
    tt_advance(&t, 1);                                  /* (k + 3)·64 s */
    tt_inject(&b, 1, 1, FN_TH_ACK, NULL, 0);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.flags, FN_TH_RST);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_syncookies_bad, 2);
    FN_CHECK(fn_tcp_accept(l) == NULL);
    TT_TEARDOWN();
}

FN_TEST(cookies_are_checked_only_after_one_was_sent)
{
    SC_SETUP(4, (void)0);
    struct peer p;

    tt_peer_init(&p, &t, 1);
    /* Mode 1 with no overflow yet: an ACK to the listener is simply reset, not verified. */
    tt_inject_abs(&p, 2, 0x11111111u, FN_TH_ACK, NULL, 0, NULL, 0);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.flags, FN_TH_RST);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_syncookies_bad, 0);
    TT_TEARDOWN();
}

FN_TEST(accept_queue_full_drops_syns_and_third_acks)
{
    SC_SETUP(1, (void)0);
    struct tcpcb *c1, *c2, *c3, *c4;
    struct peer p1, p2, p3, p4;
    char buf[16];

    tt_peer_init(&p1, &t, 100);
    tt_peer_init(&p2, &t, 200);
    tt_peer_init(&p3, &t, 300);
    tt_peer_init(&p4, &t, 400);
    p2.port = P_PORT + 2;
    p3.port = P_PORT + 3;
    p4.port = P_PORT + 4;
    FN_CHECK_EQ(syn(&p1, &r, P_MSS, -1, 0), 1);
    tt_inject(&p1, 1, 1, FN_TH_ACK, NULL, 0);
    FN_CHECK_EQ(l->t_qlen, 1);                          /* c1 waits to be accepted */
    /* Accept queue full: a SYN gets no SYN-ACK. */
    FN_CHECK_EQ(syn(&p2, &r, P_MSS, -1, 0), 0);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_listen_overflow, 1);
    FN_CHECK_EQ(l->t_sc_count, 0);
    c1 = fn_tcp_accept(l);
    FN_CHECK(c1 != NULL);
    /* Room again: p2 gets the entry, p3 (share full) a cookie. */
    FN_CHECK_EQ(syn(&p2, &r, P_MSS, -1, 0), 1);
    FN_CHECK_EQ(syn(&p3, &r, P_MSS, -1, 0), 1);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_syncookies_sent, 1);
    tt_inject(&p2, 1, 1, FN_TH_ACK, NULL, 0);
    FN_CHECK_EQ(l->t_qlen, 1);
    /* p3's valid cookie ACK while the queue is full: dropped, nothing sent, no tcpcb. */
    tt_inject(&p3, 1, 1, FN_TH_ACK, NULL, 0);
    FN_CHECK_EQ(tt_read(&t, &r), 0);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_listen_overflow, 2);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_syncookies_ok, 0);
    FN_CHECK_EQ(fn_tcp_count(t.sa), 3);
    c2 = fn_tcp_accept(l);
    FN_CHECK(c2 != NULL);
    /* p4 gets an entry; then p3's data (the same cookie) completes and fills the queue. */
    FN_CHECK_EQ(syn(&p4, &r, P_MSS, -1, 0), 1);
    tt_inject(&p3, 1, 1, FN_TH_ACK | FN_TH_PUSH, "hi", 2);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_syncookies_ok, 1);
    FN_CHECK_EQ(l->t_qlen, 1);
    /* p4's third ACK while full: dropped, its entry kept; its SYN-ACK comes again. */
    tt_inject(&p4, 1, 1, FN_TH_ACK, NULL, 0);
    FN_CHECK_EQ(tt_read(&t, &r), 0);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_listen_overflow, 3);
    FN_CHECK_EQ(l->t_sc_count, 1);
    tt_advance(&t, 1 * SEC);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.flags, FN_TH_SYN | FN_TH_ACK);
    FN_CHECK(r.th.seq == p4.a_iss);
    c3 = fn_tcp_accept(l);
    FN_CHECK(c3 != NULL);
    FN_CHECK_EQ(fn_tcp_fport(c3), P_PORT + 3);
    FN_CHECK_EQ(fn_tcp_recv(c3, buf, sizeof(buf), t.now), 2);
    tt_inject(&p4, 1, 1, FN_TH_ACK, NULL, 0);
    c4 = fn_tcp_accept(l);
    FN_CHECK(c4 != NULL);
    FN_CHECK_EQ(fn_tcp_fport(c4), P_PORT + 4);
    FN_CHECK_EQ(l->t_sc_count, 0);
    fn_tcp_abort(c1, t.now);
    fn_tcp_abort(c2, t.now);
    fn_tcp_abort(c3, t.now);
    fn_tcp_abort(c4, t.now);
    tnet_drain(&t);
    TT_TEARDOWN();
}

static uint64_t rng(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Spoofed SYNs from n random off-link sources (answered through the gateway, end B). */
static void flood(struct tnet *t, uint64_t *seed, int n)
{
    struct peer f;

    tt_peer_init(&f, t, 0);
    for (int i = 0; i < n; i++) {
        uint64_t x = rng(seed);
        f.ip = ip4(10, (unsigned)(x >> 8) & 0xff, (unsigned)(x >> 16) & 0xff,
                   1 + (unsigned)(x >> 24) % 254);  /* never a .0 or .255 source */
        f.port = (uint16_t)(1024 + (x >> 32) % 60000);
        f.iss = (uint32_t)(x >> 40);
        tt_send_syn(&f, P_MSS, -1, 0);
        tnet_drain(t);
    }
}

FN_TEST(syn_flood_while_a_real_client_connects)
{
    SC_SETUP(32, {
        c.gateway = IP_B;
        c.tcp_timestamps = 1;
        c.tcp_window_scaling = 1;
        c.tcp_syncache_size = 64;
    });
    struct peer p;
    struct fn_stats s;
    uint64_t seed = 99;
    char buf[64];

    flood(&t, &seed, 2000);
    FN_CHECK_EQ(l->t_sc_count, 32);                     /* the listener's share, no more */
    FN_CHECK_EQ(fn_tcp_count(t.sa), 1);                 /* and no tcpcb for any of them */
    FN_CHECK_EQ(pool_in_use(t.pa), 0);
    /* The real client, in the middle of the flood, gets a cookie and connects. */
    tt_peer_init(&p, &t, 0x55555555u);
    p.ts = 1;
    FN_CHECK_EQ(syn(&p, &r, 1460, 6, 0), 1);
    FN_CHECK(r.to.has_wscale && r.to.has_ts);
    flood(&t, &seed, 2000);
    p.tsval += 3;
    tp = ack_accept(&p, l, NULL);
    FN_CHECK(tp != NULL);
    FN_CHECK_EQ(tp->snd_wscale, 6);
    flood(&t, &seed, 1000);
    /* It exchanges data while the flood goes on. */
    p.tsval += 3;
    tt_inject(&p, 1, 1, FN_TH_ACK | FN_TH_PUSH, "request", 7);
    FN_CHECK_EQ(fn_tcp_recv(tp, buf, sizeof(buf), t.now), 7);
    FN_CHECK_EQ(fn_tcp_send(tp, "response", 8, t.now), 8);
    fn_stack_poll(t.sa, t.now);
    /* A window update may come first: with scaling on, the window grows past the 64 KiB
     * the SYN-ACK could offer (RFC 7323 §2.2). */
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    if (r.th.payload_len == 0) {
        FN_CHECK(r.th.win << 2 > 65535);
        FN_CHECK_EQ(tt_read(&t, &r), 1);
    }
    FN_CHECK_EQ(r.th.payload_len, 8);
    FN_CHECK_EQ(RACK(&p, &r), 8);
    s = tnet_stats(t.sa);
    printf("  flood: %llu SYNs, %llu entries, %llu cookies, %llu overflows\n",
           (unsigned long long)(s.tcp_syncache_added + s.tcp_syncookies_sent +
                                s.tcp_syncache_dup_syn),
           (unsigned long long)s.tcp_syncache_added, (unsigned long long)s.tcp_syncookies_sent,
           (unsigned long long)s.tcp_syncache_overflow);
    /* Every SYN was answered: an entry (the listener's 32), a cookie, or a repeat. */
    FN_CHECK_EQ(s.tcp_syncache_added + s.tcp_syncookies_sent + s.tcp_syncache_dup_syn, 5001);
    FN_CHECK_EQ(s.tcp_syncache_added, 32);
    FN_CHECK(s.tcp_syncookies_sent >= 4900);
    FN_CHECK_EQ(s.tcp_syncookies_ok, 1);
    FN_CHECK_EQ(fn_tcp_count(t.sa), 2);
    /* The flood's entries retransmit and expire; nothing is left behind. */
    for (int i = 0; i < 200 && l->t_sc_count > 0; i++) {
        tt_advance(&t, 1 * SEC);
        tnet_drain(&t);
    }
    FN_CHECK_EQ(l->t_sc_count, 0);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_syncache_expired, 32);
    TT_TEARDOWN();
}

/* Hostile input at a listener: seeded random flags, with sequence and ACK numbers near the
 * ones the syncache and the cookies expect (and anywhere), from a handful of ports.  The
 * bounds must hold, every completed child is accepted and aborted, and at the end every
 * entry expires and nothing is left. */
FN_TEST(random_segments_at_a_listener_keep_the_bounds)
{
    SC_SETUP(4, {
        all_options(&c);
        c.tcp_syncache_size = 6;
        c.tcp_syn_retries = 2;
    });
    struct peer p;
    uint32_t a_iss[8] = {0};
    uint64_t seed = 7;
    uint8_t opts[40];

    tt_peer_init(&p, &t, 0);
    for (int i = 0; i < 20000; i++) {
        uint64_t x = rng(&seed);
        uint32_t k = (uint32_t)(x & 7), optlen = (uint32_t)((x >> 3) % 11) * 4 % 41;
        uint8_t flags = (uint8_t)(x >> 8);
        struct tcpcb *child;

        p.port = (uint16_t)(P_PORT + k);
        p.iss = 1000u * k;
        for (uint32_t j = 0; j < optlen; j++)
            opts[j] = (uint8_t)(rng(&seed) % 12);
        if ((x >> 16) % 4 == 0)
            tt_send_syn(&p, (uint16_t)(rng(&seed) % 9000), (int)(x >> 20) % 16 - 1,
                        (int)(x >> 24) & 1);
        else
            tt_inject_abs(&p, (x >> 28) & 1 ? p.iss + 1 + (uint32_t)(rng(&seed) % 3) - 1
                                            : (uint32_t)rng(&seed),
                          (x >> 29) & 1 ? a_iss[k] + 1 + (uint32_t)(rng(&seed) % 3) - 1
                                        : (uint32_t)rng(&seed),
                          flags, opts, optlen, "xyz", (x >> 30) & 1 ? 3 : 0);
        while (tt_read(&t, &r) == 1) {
            if (r.th.flags == (FN_TH_SYN | FN_TH_ACK) && r.th.dport >= P_PORT &&
                r.th.dport < P_PORT + 8)
                a_iss[r.th.dport - P_PORT] = r.th.seq;
        }
        FN_CHECK(l->t_sc_count <= 4);
        FN_CHECK(l->t_qlen <= 4);
        FN_CHECK(fn_tcp_count(t.sa) <= 1 + 4 + 8);
        if ((x >> 40) % 3 == 0 && (child = fn_tcp_accept(l)) != NULL)
            fn_tcp_abort(child, t.now);
        if ((x >> 44) % 50 == 0)
            tt_advance(&t, (rng(&seed) % 2000) * MS);
    }
    printf("  %llu entries, %llu cookies sent, %llu ok, %llu bad\n",
           (unsigned long long)tnet_stats(t.sa).tcp_syncache_added,
           (unsigned long long)tnet_stats(t.sa).tcp_syncookies_sent,
           (unsigned long long)tnet_stats(t.sa).tcp_syncookies_ok,
           (unsigned long long)tnet_stats(t.sa).tcp_syncookies_bad);
    FN_CHECK(tnet_stats(t.sa).tcp_syncookies_ok > 0);
    for (int i = 0; i < 20 && (l->t_sc_count > 0 || fn_tcp_count(t.sa) > 1); i++) {
        struct tcpcb *child;
        while ((child = fn_tcp_accept(l)) != NULL)
            fn_tcp_abort(child, t.now);
        tt_advance(&t, 1 * SEC);
        tnet_drain(&t);
    }
    FN_CHECK_EQ(l->t_sc_count, 0);
    TT_TEARDOWN();
}

FN_TEST(listener_close_purges_its_entries)
{
    SC_SETUP(4, (void)0);
    struct tcpcb *l2;
    struct peer p;

    FN_CHECK_EQ(fn_tcp_listen(t.sa, A_PORT + 1, 4, &l2), 0);
    tt_peer_init(&p, &t, 10);
    FN_CHECK_EQ(syn(&p, &r, P_MSS, -1, 0), 1);
    p.port++;
    FN_CHECK_EQ(syn(&p, &r, P_MSS, -1, 0), 1);
    p.aport = A_PORT + 1;
    FN_CHECK_EQ(syn(&p, &r, P_MSS, -1, 0), 1);
    FN_CHECK_EQ(l->t_sc_count, 2);
    fn_tcp_close(l, t.now);
    FN_CHECK_EQ(tt_read(&t, &r), 0);                    /* quietly */
    FN_CHECK_EQ(l2->t_sc_count, 1);
    /* The other listener's entry still retransmits; a third ACK to the closed port is reset. */
    tt_advance(&t, 1 * SEC);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.sport, A_PORT + 1);
    FN_CHECK_EQ(tt_read(&t, &r), 0);
    p.aport = A_PORT;
    tt_inject(&p, 1, 1, FN_TH_ACK, NULL, 0);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.flags, FN_TH_RST);
    fn_tcp_close(l2, t.now);
    FN_CHECK(fn_tcp_next_deadline(t.sa) == UINT64_MAX);
    FN_CHECK_EQ(fn_tcp_count(t.sa), 0);
    FN_CHECK_EQ(tnet_close(&t), 0);
    (void)tp;
}

FN_TEST(bad_knobs_are_refused)
{
    struct fn_config c;
    struct tnet t;

    tt_cfg(&c);
    c.tcp_syncookies = 3;
    FN_CHECK_EQ(tt_open(&t, &c), -EINVAL);
    fn_backend_close(t.ba);
    fn_backend_close(t.bb);
    FN_CHECK_EQ(fn_pool_destroy(t.pa), 0);
    FN_CHECK_EQ(fn_pool_destroy(t.pb), 0);
}

FN_TEST_MAIN()
