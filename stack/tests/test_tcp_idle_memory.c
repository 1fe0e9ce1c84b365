/*
 * test_tcp_idle_memory.c — what an idle connection costs: after data moved both ways
 * (in order, out of order through the reassembly queue, and acked), an ESTABLISHED
 * connection with empty queues holds no packet buffer, keepalive probing included; its
 * whole cost is fn_tcp_conn_bytes() of preallocated state, printed here.
 */
#include "tcp_harness.h"

#define NCONN 100

static uint8_t data[8192];

/* The peer sends 3000 bytes out of order ([1000,2000) first, then [0,1000), [2000,3000)),
 * A reads them all, A sends 5000 bytes and the peer acknowledges them.  1 on success. */
static int exercise(struct tnet *t, struct peer *p, struct tcpcb *tp)
{
    uint8_t b[4096];

    tt_inject(p, 1 + 1000, 1, FN_TH_ACK, data + 1000, 1000);
    if (tp->reass_head == NULL)
        return 0;
    tt_inject(p, 1, 1, FN_TH_ACK, data, 1000);
    tt_inject(p, 1 + 2000, 1, FN_TH_ACK, data + 2000, 1000);
    if (fn_tcp_recv(tp, b, sizeof(b), t->now) != 3000 || memcmp(b, data, 3000) != 0)
        return 0;
    if (fn_tcp_send(tp, data, 5000, t->now) != 5000)
        return 0;
    fn_stack_poll(t->sa, t->now);
    /* The peer acknowledges whatever was sent (Nagle holds the tail for one round). */
    for (int i = 0; i < 4 && tp->snd_cc > 0; i++)
        tt_inject(p, 3001, tp->snd_max - p->a_iss, FN_TH_ACK, NULL, 0);
    tnet_drain(t);
    return tp->snd_una == tp->snd_max && tp->snd_cc == 0 && tp->rcv_cc == 0;
}

static int holds_nothing(const struct tcpcb *tp)
{
    return fn_tcp_state(tp) == TCPS_ESTABLISHED && !tp->snd_head && !tp->snd_tail &&
           !tp->rcv_head && !tp->rcv_tail && !tp->reass_head && tp->reass_segs == 0;
}

FN_TEST(idle_connections_hold_no_packet_buffers)
{
    static struct peer peers[NCONN];
    static struct tcpcb *conns[NCONN];
    uint32_t bytes;

    TT_SETUP(0x4000, c.tcp_max_conns = 128, (void)0);
    for (uint32_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i ^ (i >> 7));
    peers[0] = p;
    conns[0] = tp;
    for (uint32_t i = 1; i < NCONN; i++) {
        tt_peer_init(&peers[i], &t, 0x4000 + 7919 * i);
        peers[i].port = (uint16_t)(P_PORT + i);
        conns[i] = tt_passive(&peers[i], l);
        FN_CHECK(conns[i] != NULL);
    }
    FN_CHECK_EQ(fn_tcp_count(t.sa), NCONN + 1);             /* + the listener */
    for (uint32_t i = 0; i < NCONN; i++)
        FN_CHECK(exercise(&t, &peers[i], conns[i]));
    tt_advance(&t, 100 * MS);                               /* delayed ACKs out */
    tnet_drain(&t);
    for (uint32_t i = 0; i < NCONN; i++)
        FN_CHECK(holds_nothing(conns[i]));
    FN_CHECK_EQ(pool_in_use(t.pa), 0);
    /* Keepalive probing an idle connection allocates only for the probe on the wire. */
    for (uint32_t i = 0; i < NCONN; i++)
        FN_CHECK_EQ(fn_tcp_set_keepalive(conns[i], 1, 10, 5, 3), 0);
    tt_advance(&t, 10 * SEC);
    FN_CHECK_EQ(tnet_drain(&t), NCONN);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_keepalive_probes, NCONN);
    for (uint32_t i = 0; i < NCONN; i++) {
        tt_inject(&peers[i], 3001, 5001, FN_TH_ACK, NULL, 0);
        FN_CHECK(holds_nothing(conns[i]));
    }
    tnet_drain(&t);
    FN_CHECK_EQ(pool_in_use(t.pa), 0);
    /* All of an idle connection's memory: its tcpcb and its share of the tables. */
    bytes = fn_tcp_conn_bytes(t.sa);
    FN_CHECK(bytes >= sizeof(struct tcpcb));
    FN_CHECK(bytes <= sizeof(struct tcpcb) + 64);
    printf("  %u idle connections: 0 packet buffers, %u bytes of state each "
           "(struct tcpcb %zu + tables)\n", NCONN, bytes, sizeof(struct tcpcb));
    for (uint32_t i = 1; i < NCONN; i++)
        fn_tcp_abort(conns[i], t.now);
    TT_TEARDOWN();
}

FN_TEST_MAIN()
