/*
 * test_tcp_timewait_limit.c — cfg.tcp_max_conns as the limit of live connections, not of
 * TIME_WAIT: a stack whose tcpcbs are all in TIME_WAIT recycles the oldest one for a new
 * passive or active open (counted tcp_tw_recycled); when every tcpcb belongs to a live
 * connection or a listener, a SYN is dropped (the peer's retransmission tries again) and a
 * third ACK that finds no tcpcb is answered with a RST instead of leaving the peer with a
 * connection that never works.  Two stacks over the memory link run many short
 * request/response connections; the raw-peer tests drive the handshake segment by segment.
 * Every test ends with no tcpcb and no packet buffer left.
 *
 * The tests count recycles exactly, so they fix what the random ports would otherwise
 * change: a SYN whose 4-tuple is one of B's TIME_WAITs reopens that TIME_WAIT (RFC 6191)
 * instead of recycling the oldest — about one run in fifty of the server-first test drew
 * such an ephemeral port.  That test gives each connection its own client port, another
 * test reuses a port on purpose, and fn_random_bytes is a fixed-seed generator (it replaces
 * platform/random.c at link time, as in the fuzz harnesses) so ISNs and ports replay.
 */
#include "tcp_harness.h"
#include "fuzz.h"
#include "platform/fn_platform.h"

#define S_PORT 8080
#define C_PORT 40000                    /* the client ports of the server-first tests */
#define NCYCLES 50

static uint64_t rnd_state = 0x7477666c616b65ull;

int fn_random_bytes(void *buf, size_t len)
{
    fz_random_fill(&rnd_state, buf, len);
    return 0;
}

/* Two stacks, A the client and B the server, each with `conns` tcpcbs. */
static int pair_open(struct tnet *t, uint32_t conns)
{
    struct fn_config ca, cb;

    tnet_cfg(&ca, IP_A);
    tnet_cfg(&cb, IP_B);
    ca.tcp_max_conns = cb.tcp_max_conns = conns;
    return tnet_open(t, &ca, &cb, 1024, 1500);
}

/* Forget both stacks' ready lists: the tests look at the tcpcbs directly. */
static void drain_events(struct tnet *t)
{
    struct fn_tcp_event ev[64];

    while (fn_tcp_ready(t->sa, ev, 64) > 0)
        ;
    while (fn_tcp_ready(t->sb, ev, 64) > 0)
        ;
}

/* One connection from A's port src_port (0: an ephemeral one) to B's listener l: A sends a
 * request, B answers it; the server closes first (B then holds the TIME_WAIT) or, with
 * !server_first, the client does (A holds it).  1 if A got the whole answer and the
 * connection closed cleanly on both sides within a bounded virtual time. */
static int cycle(struct tnet *t, struct tcpcb *l, int server_first, uint16_t src_port)
{
    struct tcpcb *c = NULL, *s = NULL;
    char buf[64];
    int sent = 0, answered = 0, got = 0, eof = 0, c_closed = 0, s_closed = 0, n;

    if (fn_tcp_connect(t->sa, IP_B, S_PORT, src_port, &c, t->now) != 0)
        return 0;
    for (int i = 0; i < 4000 && !(c_closed && s_closed); i++) {
        t->now += MS;
        tnet_run(t);
        drain_events(t);
        if (!c_closed && fn_tcp_error(c))
            break;                      /* reset: the connection failed */
        if (!s)
            s = fn_tcp_accept(l);
        if (!sent && fn_tcp_state(c) == TCPS_ESTABLISHED) {
            if (fn_tcp_send(c, "GET", 3, t->now) != 3)
                break;
            sent = 1;
        }
        if (s && !answered && fn_tcp_recv(s, buf, sizeof(buf), t->now) == 3) {
            if (fn_tcp_send(s, "OK", 2, t->now) != 2)
                break;
            answered = 1;
            if (server_first) {
                fn_tcp_close(s, t->now);
                s_closed = 1;
            }
        }
        if (!c_closed) {
            while ((n = fn_tcp_recv(c, buf, sizeof(buf), t->now)) > 0)
                got += n;
            eof |= n == 0;
            /* The client closes once answered — after the server's FIN if it came first. */
            if (got == 2 && (eof || !server_first)) {
                fn_tcp_close(c, t->now);
                c_closed = 1;
            }
        }
        if (s && answered && !s_closed && fn_tcp_recv(s, buf, sizeof(buf), t->now) == 0) {
            fn_tcp_close(s, t->now);
            s_closed = 1;
        }
    }
    if (!c_closed)
        fn_tcp_abort(c, t->now);
    if (s && !s_closed)
        fn_tcp_abort(s, t->now);
    tnet_run(t);
    return c_closed && s_closed && got == 2;
}

/* Close l, let every TIME_WAIT run out and check that nothing is left on either stack. */
#define PAIR_TEARDOWN(t, l)                                              \
    do {                                                                 \
        fn_tcp_close((l), (t).now);                                      \
        (t).now += 61 * SEC;                                             \
        tnet_run(&(t));                                                  \
        FN_CHECK_EQ(fn_tcp_count((t).sa), 0);                            \
        FN_CHECK_EQ(fn_tcp_count((t).sb), 0);                            \
        FN_CHECK_EQ(tnet_close(&(t)), 0);                                \
    } while (0)

FN_TEST(server_closing_first_never_runs_out_of_tcpcbs)
{
    struct tnet t;
    struct tcpcb *l;
    struct fn_stats sb;

    FN_CHECK_EQ(pair_open(&t, 8), 0);
    FN_CHECK_EQ(fn_tcp_listen(t.sb, S_PORT, 8, &l), 0);
    for (int i = 0; i < NCYCLES; i++) {
        if (!cycle(&t, l, 1, (uint16_t)(C_PORT + i))) {
            fprintf(stderr, "  cycle %d failed\n", i);
            FN_CHECK(0);
        }
        /* The listener and at most seven TIME_WAITs, all in the 60 s of the first. */
        FN_CHECK_EQ(fn_tcp_count(t.sb), i < 7 ? (uint32_t)i + 2 : 8u);
    }
    sb = tnet_stats(t.sb);
    FN_CHECK_EQ(sb.tcp_tw_recycled, NCYCLES - 7);
    FN_CHECK_EQ(sb.tcp_tcb_exhausted, 0);
    FN_CHECK_EQ(sb.tcp_conn_passive, NCYCLES);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_conn_reset, 0);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_rst_rx, 0);
    PAIR_TEARDOWN(t, l);
}

FN_TEST(syn_for_a_time_wait_4_tuple_reopens_it_instead_of_recycling)
{
    struct tnet t;
    struct tcpcb *l;

    FN_CHECK_EQ(pair_open(&t, 8), 0);
    FN_CHECK_EQ(fn_tcp_listen(t.sb, S_PORT, 8, &l), 0);
    for (int i = 0; i < 7; i++)
        FN_CHECK(cycle(&t, l, 1, (uint16_t)(C_PORT + i)));
    FN_CHECK_EQ(fn_tcp_count(t.sb), 8);
    /* Every tcpcb is taken; the client comes back from the port of a middle TIME_WAIT.  Its
     * later timestamps make the SYN newer (RFC 6191): that TIME_WAIT ends for it, none
     * other is recycled and nothing is reset. */
    FN_CHECK(cycle(&t, l, 1, C_PORT + 3));
    FN_CHECK_EQ(fn_tcp_count(t.sb), 8);
    FN_CHECK_EQ(tnet_stats(t.sb).tcp_tw_recycled, 0);
    FN_CHECK_EQ(tnet_stats(t.sb).tcp_conn_passive, 8);
    /* A new 4-tuple still needs the oldest TIME_WAIT's tcpcb. */
    FN_CHECK(cycle(&t, l, 1, C_PORT + 7));
    FN_CHECK_EQ(fn_tcp_count(t.sb), 8);
    FN_CHECK_EQ(tnet_stats(t.sb).tcp_tw_recycled, 1);
    FN_CHECK_EQ(tnet_stats(t.sb).tcp_tcb_exhausted, 0);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_conn_reset, 0);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_rst_rx, 0);
    PAIR_TEARDOWN(t, l);
}

FN_TEST(client_closing_first_connects_over_its_time_waits)
{
    struct tnet t;
    struct tcpcb *l;

    FN_CHECK_EQ(pair_open(&t, 8), 0);
    FN_CHECK_EQ(fn_tcp_listen(t.sb, S_PORT, 8, &l), 0);
    for (int i = 0; i < NCYCLES; i++) {
        if (!cycle(&t, l, 0, 0)) {
            fprintf(stderr, "  cycle %d failed\n", i);
            FN_CHECK(0);
        }
        FN_CHECK_EQ(fn_tcp_count(t.sa), i < 8 ? (uint32_t)i + 1 : 8u);
    }
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_tw_recycled, NCYCLES - 8);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_tcb_exhausted, 0);
    FN_CHECK_EQ(tnet_stats(t.sb).tcp_tw_recycled, 0);
    PAIR_TEARDOWN(t, l);
}

FN_TEST(client_learns_of_a_refused_handshake_at_once)
{
    struct tnet t;
    struct tcpcb *l, *l2, *c;
    struct fn_stats sb;

    FN_CHECK_EQ(pair_open(&t, 2), 0);
    FN_CHECK_EQ(fn_tcp_listen(t.sb, S_PORT, 8, &l), 0);
    FN_CHECK_EQ(fn_tcp_connect(t.sa, IP_B, S_PORT, 0, &c, t.now), 0);
    /* ARP, A's SYN, B's SYN-ACK (B's last tcpcb is free) ... */
    for (int i = 0; i < 16 && l->t_sc_count == 0; i++) {
        fn_stack_poll(t.sa, t.now);
        fn_stack_poll(t.sb, t.now);
    }
    FN_CHECK_EQ(l->t_sc_count, 1);
    /* ... then B's owner takes that tcpcb before A's third ACK arrives. */
    FN_CHECK_EQ(fn_tcp_listen(t.sb, S_PORT + 1, 8, &l2), 0);
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(fn_tcp_state(c), TCPS_ESTABLISHED);
    FN_CHECK_EQ(fn_tcp_send(c, "GET", 3, t.now), 3);
    tnet_run(&t);
    /* The request is not left unanswered: the connection is reset. */
    FN_CHECK_EQ(fn_tcp_state(c), TCPS_CLOSED);
    FN_CHECK_EQ(fn_tcp_error(c), ECONNRESET);
    FN_CHECK_EQ(fn_tcp_send(c, "GET", 3, t.now), -ECONNRESET);
    sb = tnet_stats(t.sb);
    FN_CHECK_EQ(sb.tcp_tcb_exhausted, 1);
    FN_CHECK(sb.tcp_rst_tx >= 1);
    FN_CHECK_EQ(l->t_sc_count, 0);
    FN_CHECK(fn_tcp_accept(l) == NULL);
    fn_tcp_close(c, t.now);
    fn_tcp_close(l2, t.now);
    PAIR_TEARDOWN(t, l);
}

/* ---- the raw peer against stack A ---- */

/* The peer's SYN; 1 if A answered it with its SYN-ACK (the peer learns A's ISS). */
static int syn(struct peer *p, struct rseg *r)
{
    tt_send_syn(p, P_MSS, -1, 0);
    if (tt_read(p->t, r) != 1 || r->th.flags != (FN_TH_SYN | FN_TH_ACK) ||
        r->th.ack != p->iss + 1)
        return 0;
    p->a_iss = r->th.seq;
    return 1;
}

/* A passive connection on A from peer port `port`, accepted. */
static struct tcpcb *open_from(struct tnet *t, struct tcpcb *l, uint16_t port, uint32_t iss)
{
    struct peer p;

    tt_peer_init(&p, t, iss);
    p.port = port;
    return tt_passive(&p, l);
}

/* A's connection tp closes first and goes to TIME_WAIT (the peer at port `port` acks A's
 * FIN and sends its own). */
static int to_time_wait(struct tnet *t, struct tcpcb *tp, uint16_t port, uint32_t iss,
                        int owner_closes)
{
    struct peer p;
    struct rseg r;

    tt_peer_init(&p, t, iss);
    p.port = port;
    p.a_iss = tp->iss;
    if (owner_closes)
        fn_tcp_close(tp, t->now);
    else
        fn_tcp_shutdown_wr(tp, t->now);
    fn_stack_poll(t->sa, t->now);
    if (tt_read(t, &r) != 1 || !(r.th.flags & FN_TH_FIN))
        return 0;
    tt_inject(&p, 1, 2, FN_TH_FIN | FN_TH_ACK, NULL, 0);
    if (tt_read(t, &r) != 1 || r.th.flags != FN_TH_ACK)
        return 0;
    return fn_tcp_state(tp) == TCPS_TIME_WAIT;
}

/* A SYN from peer port `port` that A leaves unanswered (no tcpcb for it); 1 if so. */
static int syn_dropped(struct tnet *t, uint16_t port, uint32_t iss)
{
    struct peer p;
    struct rseg r;

    tt_peer_init(&p, t, iss);
    p.port = port;
    tt_send_syn(&p, P_MSS, -1, 0);
    return tt_read(t, &r) == 0;
}

/* The fixture of the raw-peer tests: A with CONNS tcpcbs (after CFG ran on the config c)
 * listens on A_PORT; own[] collects the tcpcbs the test holds (connections, more
 * listeners), which RAW_TEARDOWN aborts before it closes l and checks that no tcpcb and no
 * buffer is left.  Declares t, c, l, own, p and r. */
#define RAW_SETUP(CONNS, CFG)                                            \
    struct tnet t;                                                       \
    struct fn_config c;                                                  \
    struct tcpcb *l = NULL, *own[4] = {NULL, NULL, NULL, NULL};          \
    struct peer p;                                                       \
    struct rseg r;                                                       \
    (void)p;                                                             \
    (void)r;                                                             \
    tt_cfg(&c);                                                          \
    c.tcp_max_conns = (CONNS);                                           \
    CFG;                                                                 \
    FN_CHECK_EQ(tt_open(&t, &c), 0);                                     \
    FN_CHECK_EQ(fn_tcp_listen(t.sa, A_PORT, 4, &l), 0)

#define RAW_TEARDOWN()                                                   \
    do {                                                                 \
        for (int k_ = 0; k_ < 4; k_++)                                   \
            if (own[k_])                                                 \
                fn_tcp_abort(own[k_], t.now);                            \
        fn_tcp_close(l, t.now);                                          \
        FN_CHECK_EQ(fn_tcp_count(t.sa), 0);                              \
        FN_CHECK_EQ(tnet_close(&t), 0);                                  \
    } while (0)

/* A SYN-ACK for the peer while one tcpcb is free, then that tcpcb taken by another listener
 * (own[1]) before the peer's third ACK; the ACK (with `data`) must come back as a RST
 * <SEQ=SEG.ACK>.  1 if so. */
static int ack_after_the_last_tcpcb_went(struct tnet *t, struct peer *p, struct tcpcb **own,
                                         const char *data)
{
    struct rseg r;

    if (!syn(p, &r) || fn_tcp_listen(t->sa, A_PORT + 1, 4, &own[1]) != 0 ||
        fn_tcp_count(t->sa) != 3)
        return 0;
    tt_inject(p, 1, 1, FN_TH_ACK | (data ? FN_TH_PUSH : 0), data,
              data ? (uint32_t)strlen(data) : 0);
    return tt_read(t, &r) == 1 && r.th.flags == FN_TH_RST && r.th.seq == p->a_iss + 1;
}

FN_TEST(third_ack_without_a_tcpcb_gets_a_rst)
{
    RAW_SETUP(3, (void)0);

    own[0] = open_from(&t, l, P_PORT + 1, 1000);
    FN_CHECK(own[0] != NULL);
    tt_peer_init(&p, &t, 5000);
    FN_CHECK(ack_after_the_last_tcpcb_went(&t, &p, own, "GET"));
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_tcb_exhausted, 1);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_tw_recycled, 0);
    /* The handshake is over: no entry left, no SYN-ACK retransmission later. */
    FN_CHECK_EQ(l->t_sc_count, 0);
    FN_CHECK(fn_tcp_accept(l) == NULL);
    tt_advance(&t, 10 * SEC);
    FN_CHECK_EQ(tt_read(&t, &r), 0);
    FN_CHECK(fn_tcp_next_deadline(t.sa) == UINT64_MAX);
    RAW_TEARDOWN();
}

FN_TEST(cookie_ack_without_a_tcpcb_gets_a_rst)
{
    RAW_SETUP(3, c.tcp_syncookies = 2);     /* every SYN gets a cookie: nothing is kept */

    own[0] = open_from(&t, l, P_PORT + 1, 1000);
    FN_CHECK(own[0] != NULL);
    tt_peer_init(&p, &t, 5000);
    FN_CHECK(ack_after_the_last_tcpcb_went(&t, &p, own, NULL));
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_syncookies_sent, 2);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_syncookies_ok, 1);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_tcb_exhausted, 1);
    FN_CHECK(fn_tcp_accept(l) == NULL);
    RAW_TEARDOWN();
}

FN_TEST(syn_with_every_tcpcb_live_is_dropped_until_one_frees)
{
    RAW_SETUP(2, (void)0);
    struct tcpcb *x;

    x = open_from(&t, l, P_PORT + 1, 1000);
    FN_CHECK(x != NULL);
    /* Linux's answer to a SYN it has no resources for: none; the peer resends its SYN. */
    FN_CHECK(syn_dropped(&t, P_PORT, 5000));
    FN_CHECK_EQ(l->t_sc_count, 0);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_tcb_exhausted, 1);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_syncookies_sent, 0);
    /* An active open finds none either: ENOBUFS, as Linux's socket() without memory. */
    FN_CHECK_EQ(fn_tcp_connect(t.sa, IP_B, 1, 0, &own[0], t.now), -ENOBUFS);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_tcb_exhausted, 2);
    /* The live connection ends; the retransmitted SYN gets through. */
    fn_tcp_abort(x, t.now);
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.flags, FN_TH_RST);
    tt_advance(&t, 1 * SEC);
    tt_peer_init(&p, &t, 5000);
    own[0] = tt_passive(&p, l);
    FN_CHECK(own[0] != NULL);
    FN_CHECK_EQ(fn_tcp_state(own[0]), TCPS_ESTABLISHED);
    RAW_TEARDOWN();
}

FN_TEST(oldest_time_wait_goes_first_and_an_owned_one_stays)
{
    RAW_SETUP(4, (void)0);
    struct tcpcb *a, *b, *d;

    a = open_from(&t, l, P_PORT + 1, 1000);
    b = open_from(&t, l, P_PORT + 2, 2000);
    d = open_from(&t, l, P_PORT + 3, 3000);
    FN_CHECK(a && b && d);
    /* d's owner keeps its tcpcb through TIME_WAIT (shut down, not closed); then b, then a
     * close and enter TIME_WAIT in that order. */
    FN_CHECK(to_time_wait(&t, d, P_PORT + 3, 3000, 0));
    t.now += 1 * SEC;
    FN_CHECK(to_time_wait(&t, b, P_PORT + 2, 2000, 1));
    t.now += 1 * SEC;
    FN_CHECK(to_time_wait(&t, a, P_PORT + 1, 1000, 1));
    FN_CHECK_EQ(fn_tcp_count(t.sa), 4);
    own[0] = d;
    /* A new connection takes b's tcpcb, the oldest TIME_WAIT nobody owns. */
    own[1] = open_from(&t, l, P_PORT + 4, 4000);
    FN_CHECK(own[1] != NULL);
    FN_CHECK(own[1] == b);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_tw_recycled, 1);
    FN_CHECK_EQ(fn_tcp_state(d), TCPS_TIME_WAIT);
    /* The old 4-tuple is gone: its late segment gets a RST, as any segment to no
     * connection. */
    tt_peer_init(&p, &t, 2000);
    p.port = P_PORT + 2;
    tt_inject_abs(&p, p.iss + 2, 0, FN_TH_ACK, NULL, 0, NULL, 0);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.flags, FN_TH_RST);
    /* Next a's; then only d's TIME_WAIT is left, and its owner holds it: no room. */
    own[2] = open_from(&t, l, P_PORT + 5, 5000);
    FN_CHECK(own[2] == a);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_tw_recycled, 2);
    FN_CHECK(syn_dropped(&t, P_PORT + 6, 6000));
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_tcb_exhausted, 1);
    /* Once d's owner lets go, its TIME_WAIT may be recycled too. */
    fn_tcp_close(d, t.now);
    own[0] = NULL;
    FN_CHECK_EQ(fn_tcp_state(d), TCPS_TIME_WAIT);
    own[3] = open_from(&t, l, P_PORT + 6, 6000);
    FN_CHECK(own[3] == d);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_tw_recycled, 3);
    RAW_TEARDOWN();
}

FN_TEST(time_wait_that_ends_on_its_own_leaves_the_list)
{
    RAW_SETUP(3, (void)0);
    struct tcpcb *a;

    a = open_from(&t, l, P_PORT + 1, 1000);
    FN_CHECK(a != NULL);
    FN_CHECK(to_time_wait(&t, a, P_PORT + 1, 1000, 1));
    /* 2·MSL later the TIME_WAIT is over by itself: nothing to recycle, a free tcpcb. */
    tt_advance(&t, 2ull * c.tcp_msl_ms * MS);
    FN_CHECK_EQ(fn_tcp_count(t.sa), 1);
    own[0] = open_from(&t, l, P_PORT + 2, 2000);
    own[1] = open_from(&t, l, P_PORT + 3, 3000);
    FN_CHECK(own[0] && own[1]);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_tw_recycled, 0);
    /* Every tcpcb is live now: a SYN finds nothing to recycle (the TIME_WAIT that was
     * there is no longer remembered) and the live connections stay. */
    FN_CHECK(syn_dropped(&t, P_PORT + 4, 4000));
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_tcb_exhausted, 1);
    FN_CHECK_EQ(fn_tcp_state(own[0]), TCPS_ESTABLISHED);
    FN_CHECK_EQ(fn_tcp_state(own[1]), TCPS_ESTABLISHED);
    RAW_TEARDOWN();
}

/* A restarted 2·MSL (the peer's FIN again) makes tw the newest TIME_WAIT.  1 if it was
 * acked at once. */
static int fin_again(struct tnet *t, struct tcpcb *tw, uint16_t port, uint32_t iss)
{
    struct peer p;
    struct rseg r;

    tt_peer_init(&p, t, iss);
    p.port = port;
    p.a_iss = tw->iss;
    tt_inject(&p, 1, 2, FN_TH_FIN | FN_TH_ACK, NULL, 0);
    return tt_read(t, &r) == 1 && r.th.flags == FN_TH_ACK;
}

/* The TIME_WAITs nobody holds end from their queue, not from the timer heap (which a server
 * closing first would fill with them): each ends exactly 2·MSL after its last FIN, in that
 * order, with a restarted one last.  One whose owner let go of it after newer ones were
 * queued (its 2·MSL began before theirs) keeps its heap entry and ends on time, first. */
FN_TEST(time_waits_end_on_time_from_their_queue_and_a_late_one_from_the_heap)
{
    RAW_SETUP(8, (void)0);
    const uint64_t msl2 = 2ull * c.tcp_msl_ms * MS;
    const int order[5] = {0, 2, 3, 4, 1};
    struct tcpcb *tw[5];
    uint64_t due[5];

    for (int i = 0; i < 5; i++) {
        tw[i] = open_from(&t, l, (uint16_t)(P_PORT + 1 + i), 1000u * (uint32_t)(i + 1));
        FN_CHECK(tw[i] != NULL);
    }
    FN_CHECK(to_time_wait(&t, tw[0], P_PORT + 1, 1000, 0));    /* its owner keeps it */
    due[0] = t.now + msl2;
    for (int i = 1; i < 5; i++) {
        t.now += SEC;
        FN_CHECK(to_time_wait(&t, tw[i], (uint16_t)(P_PORT + 1 + i), 1000u * (uint32_t)(i + 1), 1));
        due[i] = t.now + msl2;
        FN_CHECK(tw[i]->t_twtimed && tw[i]->t_heapidx < 0);
    }
    FN_CHECK_EQ(t.sa->tcp->nheap, 1);                          /* tw[0]'s 2·MSL only */
    t.now += SEC;
    fn_tcp_close(tw[0], t.now);
    FN_CHECK(tw[0]->t_twq && !tw[0]->t_twtimed && tw[0]->t_heapidx >= 0);
    FN_CHECK(t.sa->tcp->tw_tail == tw[0]);
    FN_CHECK(fin_again(&t, tw[1], P_PORT + 2, 2000));
    due[1] = t.now + msl2;
    FN_CHECK(t.sa->tcp->tw_tail == tw[1] && tw[1]->t_twtimed);
    FN_CHECK_EQ(fn_tcp_next_deadline(t.sa), due[0]);
    for (int k = 0; k < 5; k++) {
        int i = order[k];
        t.now = due[i] - 1;
        fn_stack_poll(t.sa, t.now);
        FN_CHECK_EQ(fn_tcp_count(t.sa), (uint32_t)(6 - k));     /* the listener too */
        FN_CHECK_EQ(fn_tcp_state(tw[i]), TCPS_TIME_WAIT);
        t.now = due[i];
        fn_stack_poll(t.sa, t.now);
        FN_CHECK_EQ(fn_tcp_count(t.sa), (uint32_t)(5 - k));
        if (k < 4)
            FN_CHECK_EQ(fn_tcp_next_deadline(t.sa), due[order[k + 1]]);
    }
    FN_CHECK_EQ(t.sa->tcp->nheap, 0);
    FN_CHECK(t.sa->tcp->tw_head == NULL);
    RAW_TEARDOWN();
}

FN_TEST_MAIN()
