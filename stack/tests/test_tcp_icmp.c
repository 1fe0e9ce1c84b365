/*
 * test_tcp_icmp.c — ICMP errors reaching TCP connections: only with a quoted sequence
 * number in flight (RFC 5927 §4.1, others counted and ignored); port / protocol unreachable
 * and administratively prohibited refuse a connection attempt at once; host / net
 * unreachable are soft errors reported when the connection then times out (as Linux), and
 * every unreachable is soft once synchronized (RFC 5927 §4.2); fragmentation needed lowers
 * the MSS to next-hop MTU − 40 (a plateau when no MTU is given, RFC 1191 §5; never below
 * the floor, never up) and resends at once; ten minutes after the last one the larger MSS
 * is tried again (RFC 1191 §6.3).
 */
#include "tcp_dead_peer.h"

#define SETUP(...) TT_SETUP(0x3000, __VA_ARGS__, (void)0)
#define TEARDOWN() TT_TEARDOWN()

#define ROUTER ip4(198, 18, 0, 254)

static uint8_t data[8192];

/* An ICMP error from a router about the segment A sent in *q (IP header + 8 bytes of TCP
 * quoted), the quoted sequence number moved by dseq. */
static void inject_icmp(struct tnet *t, uint8_t type, uint8_t code, uint16_t mtu,
                        const struct rseg *q, uint32_t dseq)
{
    uint8_t quote[28], body[64], f[128];
    uint32_t len, seq;

    memcpy(quote, q->frame + FN_ETH_HLEN, sizeof(quote));
    seq = q->th.seq + dseq;
    put32(quote + FN_IPV4_HLEN + 4, seq);
    len = build_icmp(body, type, code, mtu, quote, sizeof(quote));
    tnet_inject(t, f, build_ip(f, MAC_A, MAC_B, ROUTER, IP_A, FN_IPPROTO_ICMP, 7, 0, 0, body,
                               len));
}

/* A sends 2920 bytes as two full segments; the first is kept in *q. */
static int two_segments(struct tnet *t, struct tcpcb *tp, struct rseg *q)
{
    struct rseg r;

    for (uint32_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 3 + 1);
    if (fn_tcp_send(tp, data, 2920, t->now) != 2920)
        return 0;
    fn_stack_poll(t->sa, t->now);
    return tt_read(t, q) == 1 && q->th.payload_len == 1460 && tt_read(t, &r) == 1 &&
           tt_read(t, &r) == 0;
}

/* The next segments carry stream bytes [0, 2920) from relative seq 1 in pieces of at most
 * mss bytes, full ones first.  1 if so. */
static int resent_in(struct tnet *t, struct peer *p, uint32_t mss)
{
    struct rseg r;
    uint32_t off = 0;

    while (off < 2920) {
        uint32_t want = 2920 - off < mss ? 2920 - off : mss;
        if (tt_read(t, &r) != 1 || RSEQ(p, &r) != 1 + off || r.th.payload_len != want ||
            memcmp(r.th.payload, data + off, want) != 0)
            return 0;
        off += want;
    }
    return tt_read(t, &r) == 0;
}

FN_TEST(needfrag_lowers_mss_and_resends_at_once)
{
    struct rseg q;

    SETUP((void)0);
    FN_CHECK(two_segments(&t, tp, &q));
    inject_icmp(&t, FN_ICMP_UNREACH, FN_ICMP_UNREACH_NEEDFRAG, 1200, &q, 0);
    FN_CHECK_EQ(tp->t_maxseg, 1160);
    FN_CHECK(resent_in(&t, &p, 1160));
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_pmtu_changes, 1);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_icmp_accepted, 1);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_rexmt_timeout, 0);
    /* A larger next-hop MTU never raises it again (RFC 1191 §6.3). */
    inject_icmp(&t, FN_ICMP_UNREACH, FN_ICMP_UNREACH_NEEDFRAG, 1400, &q, 0);
    FN_CHECK_EQ(tp->t_maxseg, 1160);
    FN_CHECK_EQ(tt_read(&t, &r), 0);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_pmtu_changes, 1);
    TEARDOWN();
}

/* The peer acknowledges all A sent, and whatever A answers is dropped. */
static void ack_all(struct tnet *t, struct peer *p, struct tcpcb *tp)
{
    tt_inject(p, 1, tp->snd_max - p->a_iss, FN_TH_ACK, NULL, 0);
    fn_stack_poll(t->sa, t->now);
    tnet_drain(t);
}

/* A sends 2920 more stream bytes.  1 if it took them. */
static int send_more(struct tnet *t, struct tcpcb *tp)
{
    if (fn_tcp_send(tp, data, 2920, t->now) != 2920)
        return 0;
    fn_stack_poll(t->sa, t->now);
    return 1;
}

/* The data segments A just sent: 1 if they are pieces of at most mss, full first, 2920
 * bytes in all. */
static int sent_in(struct tnet *t, uint32_t mss)
{
    struct rseg r;
    uint32_t left = 2920;

    while (left > 0) {
        uint32_t want = left < mss ? left : mss;
        if (tt_read(t, &r) != 1 || r.th.payload_len != want)
            return 0;
        left -= want;
    }
    return tt_read(t, &r) == 0;
}

/* RFC 1191 §6.3: ten minutes after the last Datagram Too Big, the larger MSS is tried again
 * — to the nanosecond of the virtual clock; another Too Big meanwhile restarts the wait, and
 * one after the raise lowers it once more. */
FN_TEST(needfrag_lowered_mss_is_tried_again_after_ten_minutes)
{
    const uint64_t wait = 600 * SEC;
    struct rseg q;
    uint64_t t0;

    SETUP(c.tcp_nodelay = 1);                       /* every piece goes at once */
    FN_CHECK(two_segments(&t, tp, &q));
    inject_icmp(&t, FN_ICMP_UNREACH, FN_ICMP_UNREACH_NEEDFRAG, 1200, &q, 0);
    FN_CHECK(resent_in(&t, &p, 1160));
    ack_all(&t, &p, tp);
    /* 5 minutes on, another one (the same hop, the same MTU): the wait starts again. */
    tt_advance(&t, wait / 2);
    FN_CHECK(send_more(&t, tp));
    FN_CHECK(tt_read(&t, &q) == 1 && q.th.payload_len == 1160);
    inject_icmp(&t, FN_ICMP_UNREACH, FN_ICMP_UNREACH_NEEDFRAG, 1200, &q, 0);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_icmp_accepted, 2);
    t0 = t.now;
    ack_all(&t, &p, tp);
    tt_advance(&t, wait - 1);                       /* 1 ns short of ten minutes */
    FN_CHECK(send_more(&t, tp));
    FN_CHECK(sent_in(&t, 1160));
    FN_CHECK_EQ(tp->t_maxseg, 1160);
    ack_all(&t, &p, tp);
    tt_advance(&t, t0 + wait - t.now);              /* ten minutes: 1460 again */
    FN_CHECK(send_more(&t, tp));
    FN_CHECK(sent_in(&t, 1460));
    FN_CHECK_EQ(tp->t_maxseg, 1460);
    FN_CHECK_EQ(tp->t_pmtu_mss, 0);
    ack_all(&t, &p, tp);
    /* The path is still small: the router says so again and the MSS drops again. */
    FN_CHECK(send_more(&t, tp));
    FN_CHECK(tt_read(&t, &q) == 1 && q.th.payload_len == 1460);
    tnet_drain(&t);
    inject_icmp(&t, FN_ICMP_UNREACH, FN_ICMP_UNREACH_NEEDFRAG, 1200, &q, 0);
    FN_CHECK_EQ(tp->t_maxseg, 1160);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_pmtu_changes, 2);
    FN_CHECK(sent_in(&t, 1160));                    /* what was in flight, resent */
    TEARDOWN();
}

FN_TEST(needfrag_without_mtu_takes_the_plateau_below)
{
    struct rseg q;

    SETUP((void)0);
    FN_CHECK(two_segments(&t, tp, &q));
    /* An old router: no MTU.  The quoted datagram was 1500 bytes: plateau 1492. */
    inject_icmp(&t, FN_ICMP_UNREACH, FN_ICMP_UNREACH_NEEDFRAG, 0, &q, 0);
    FN_CHECK_EQ(tp->t_maxseg, 1492 - 40);
    FN_CHECK(resent_in(&t, &p, 1452));
    TEARDOWN();
}

FN_TEST(needfrag_mss_has_a_floor)
{
    struct rseg q;

    SETUP((void)0);
    FN_CHECK(two_segments(&t, tp, &q));
    inject_icmp(&t, FN_ICMP_UNREACH, FN_ICMP_UNREACH_NEEDFRAG, 68, &q, 0);
    FN_CHECK_EQ(tp->t_maxseg, c.tcp_min_mss);
    FN_CHECK(resent_in(&t, &p, c.tcp_min_mss));
    TEARDOWN();
}

FN_TEST(quoted_sequence_number_must_be_in_flight)
{
    struct rseg q;
    struct fn_stats s;

    SETUP((void)0);
    FN_CHECK(two_segments(&t, tp, &q));
    /* Below SND.UNA, at SND.MAX and far away: a blind attacker's guesses. */
    inject_icmp(&t, FN_ICMP_UNREACH, FN_ICMP_UNREACH_NEEDFRAG, 576, &q, (uint32_t)-1);
    inject_icmp(&t, FN_ICMP_UNREACH, FN_ICMP_UNREACH_NEEDFRAG, 576, &q, 2920);
    inject_icmp(&t, FN_ICMP_UNREACH, FN_ICMP_UNREACH_HOST, 0, &q, 0x40000000);
    /* The last byte in flight is fine for a soft error. */
    inject_icmp(&t, FN_ICMP_UNREACH, FN_ICMP_UNREACH_HOST, 0, &q, 2919);
    s = tnet_stats(t.sa);
    FN_CHECK_EQ(s.tcp_icmp_bad_seq, 3);
    FN_CHECK_EQ(s.tcp_icmp_accepted, 1);
    FN_CHECK_EQ(s.tcp_pmtu_changes, 0);
    FN_CHECK_EQ(tp->t_maxseg, P_MSS);
    FN_CHECK_EQ(tt_read(&t, &r), 0);
    FN_CHECK_EQ(tp->t_softerror, EHOSTUNREACH);
    /* Quoting no connection (another port): counted too. */
    put32(q.frame + FN_ETH_HLEN + FN_IPV4_HLEN, (uint32_t)A_PORT << 16 | 9);
    inject_icmp(&t, FN_ICMP_UNREACH, FN_ICMP_UNREACH_PORT, 0, &q, 0);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_icmp_noconn, 1);
    FN_CHECK_EQ(fn_tcp_state(tp), TCPS_ESTABLISHED);
    TEARDOWN();
}

/* Start an active open from A to the peer; the SYN is kept in *syn. */
static struct tcpcb *connect_from_a(struct tnet *t, struct rseg *syn)
{
    struct tcpcb *a = NULL;

    if (fn_tcp_connect(t->sa, IP_B, P_PORT, 0, &a, t->now) != 0)
        return NULL;
    fn_stack_poll(t->sa, t->now);
    if (tt_read(t, syn) != 1 || syn->th.flags != FN_TH_SYN)
        return NULL;
    return a;
}

FN_TEST(unreachable_port_protocol_or_prohibited_refuses_a_connect)
{
    static const uint8_t codes[] = {FN_ICMP_UNREACH_PORT, FN_ICMP_UNREACH_PROTO, 13, 10};

    SETUP((void)0);
    for (unsigned i = 0; i < sizeof(codes); i++) {
        struct rseg syn;
        struct tcpcb *a = connect_from_a(&t, &syn);
        FN_CHECK(a != NULL);
        inject_icmp(&t, FN_ICMP_UNREACH, codes[i], 0, &syn, 0);
        /* At once, without waiting for the SYN retries, and no RST to anyone. */
        FN_CHECK(tt_aborted(&t, a, ECONNREFUSED, 0));
        fn_tcp_close(a, t.now);
    }
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_conn_refused, 4);
    TEARDOWN();
}

FN_TEST(host_or_net_unreachable_is_reported_when_the_connect_times_out)
{
    static const struct {
        uint8_t code;
        int err;
    } cases[] = {{FN_ICMP_UNREACH_HOST, EHOSTUNREACH}, {FN_ICMP_UNREACH_NET, ENETUNREACH}};

    SETUP(c.tcp_syn_retries = 2);
    for (unsigned i = 0; i < 2; i++) {
        struct rseg syn;
        struct tcpcb *a = connect_from_a(&t, &syn);
        FN_CHECK(a != NULL);
        inject_icmp(&t, FN_ICMP_UNREACH, cases[i].code, 0, &syn, 0);
        /* A soft error: the attempt goes on (RFC 1122 §4.2.3.9)... */
        FN_CHECK_EQ(fn_tcp_state(a), TCPS_SYN_SENT);
        FN_CHECK_EQ(a->t_softerror, cases[i].err);
        FN_CHECK_EQ(fn_tcp_error(a), 0);
        FN_CHECK(tt_next_after(&t, &r, 1 * SEC));
        FN_CHECK_EQ(r.th.flags, FN_TH_SYN);
        FN_CHECK(tt_next_after(&t, &r, 2 * SEC));
        FN_CHECK_EQ(r.th.flags, FN_TH_SYN);
        /* ...and is what the owner hears when it times out, instead of ETIMEDOUT. */
        tt_advance(&t, 4 * SEC);
        FN_CHECK(tt_aborted(&t, a, cases[i].err, 0));
        fn_tcp_close(a, t.now);
        tnet_teach_b(&t);
    }
    TEARDOWN();
}

FN_TEST(unreachables_are_soft_once_established)
{
    struct rseg q;

    SETUP(c.tcp_max_rexmits = 2);
    FN_CHECK(two_segments(&t, tp, &q));
    /* Port unreachable for an established connection: not a reset (RFC 5927 §4.2). */
    inject_icmp(&t, FN_ICMP_UNREACH, FN_ICMP_UNREACH_PORT, 0, &q, 0);
    FN_CHECK_EQ(fn_tcp_state(tp), TCPS_ESTABLISHED);
    FN_CHECK_EQ(tp->t_softerror, ECONNREFUSED);
    /* Any segment from the peer makes it stale. */
    tt_inject(&p, 1, 1, FN_TH_ACK, NULL, 0);
    FN_CHECK_EQ(tp->t_softerror, 0);
    /* Host unreachable, then the retransmissions run out: EHOSTUNREACH, with a RST. */
    inject_icmp(&t, FN_ICMP_UNREACH, FN_ICMP_UNREACH_HOST, 0, &q, 0);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_icmp_soft, 2);
    for (int i = 0; i < 2; i++) {
        tt_advance(&t, tp->t_timer[TT_REXMT] - t.now);
        FN_CHECK_EQ(tt_read(&t, &r), 1);
        FN_CHECK_EQ(RSEQ(&p, &r), 1);
    }
    tt_advance(&t, tp->t_timer[TT_REXMT] - t.now);
    FN_CHECK(tt_aborted(&t, tp, EHOSTUNREACH, 1));
    TT_TEARDOWN_FAILED();
}

FN_TEST(time_exceeded_parameter_problem_and_prohibited_are_soft)
{
    static const struct {
        uint8_t type, code;
        int err;
    } cases[] = {{FN_ICMP_TIME_EXCEEDED, 0, EHOSTUNREACH},
                 {FN_ICMP_PARAM_PROB, 0, EPROTO},
                 {FN_ICMP_UNREACH, 13, EHOSTUNREACH},
                 {FN_ICMP_UNREACH, 6, ENETUNREACH}};
    struct rseg q;

    SETUP((void)0);
    FN_CHECK(two_segments(&t, tp, &q));
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        inject_icmp(&t, cases[i].type, cases[i].code, 0, &q, 0);
        FN_CHECK_EQ(fn_tcp_state(tp), TCPS_ESTABLISHED);
        FN_CHECK_EQ(tp->t_softerror, cases[i].err);
        FN_CHECK_EQ(fn_tcp_error(tp), 0);
        FN_CHECK_EQ(tt_read(&t, &r), 0);
    }
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_icmp_soft, 4);
    TEARDOWN();
}

FN_TEST_MAIN()
