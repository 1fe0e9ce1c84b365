/*
 * test_tcp_robust.c — hostile input: seeded random segments (any flags, sequence and ACK
 * numbers near and far from the window, random and malformed options, random payload sizes)
 * thrown at an established connection and at a listener.  The stack must not crash (run it
 * under SAN=1), must keep its invariants, and must give every buffer back.
 */
#include "tcp_harness.h"

static uint64_t rng(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

FN_TEST(random_segments_keep_invariants)
{
    struct tnet t;
    struct fn_config c;
    struct tcpcb *l, *tp;
    struct peer p;
    uint64_t s = 12345;
    uint8_t data[1400], opts[40], buf[4096];

    tt_cfg(&c);
    c.tcp_timestamps = 1;
    c.tcp_window_scaling = 1;
    c.tcp_sack = 1;
    FN_CHECK_EQ(tt_open(&t, &c), 0);
    FN_CHECK_EQ(fn_tcp_listen(t.sa, A_PORT, 8, &l), 0);
    tt_peer_init(&p, &t, 0xfffff000u);
    tp = tt_passive(&p, l);
    FN_CHECK(tp != NULL);
    FN_CHECK_EQ(fn_tcp_send(tp, data, sizeof(data), t.now), (int)sizeof(data));
    for (int i = 0; i < 20000; i++) {
        uint64_t r = rng(&s);
        uint32_t optlen = (uint32_t)(r % 11) * 4 % 41, dlen = (uint32_t)(rng(&s) % 1400);
        uint32_t seq, ack;
        uint8_t flags = (uint8_t)rng(&s);

        for (uint32_t k = 0; k < optlen; k++)
            opts[k] = (uint8_t)rng(&s) % 12;
        /* Sequence numbers near the window most of the time, anywhere sometimes. */
        seq = (r >> 8) & 1 ? tp->rcv_nxt + (uint32_t)(rng(&s) % 200000) - 50000
                           : (uint32_t)rng(&s);
        ack = (r >> 9) & 1 ? tp->snd_una + (uint32_t)(rng(&s) % 4000) - 2000
                           : (uint32_t)rng(&s);
        if (fn_tcp_state(tp) == TCPS_CLOSED) {
            printf("  connection closed after %d segments (error %d)\n", i, fn_tcp_error(tp));
            break;
        }
        p.port = (r >> 10) & 7 ? P_PORT : (uint16_t)(P_PORT + 1 + (r >> 16) % 4);
        tt_inject_abs(&p, seq, ack, flags, opts, optlen, data, dlen % 3 ? 0 : dlen);
        tnet_drain(&t);
        if ((r >> 20) % 16 == 0)
            fn_tcp_recv(tp, buf, sizeof(buf), t.now);
        if ((r >> 24) % 64 == 0)
            tt_advance(&t, (rng(&s) % 300) * MS);
        FN_CHECK(SEQ_LEQ(tp->snd_una, tp->snd_nxt));
        FN_CHECK(SEQ_LEQ(tp->snd_nxt, tp->snd_max));
        FN_CHECK(tp->rcv_cc <= c.tcp_rcvbuf);
        FN_CHECK(tp->reass_segs <= c.tcp_reass_max_segs);
        {
            /* Accept any child that completed, and abort it. */
            struct tcpcb *x = fn_tcp_accept(l);
            if (x)
                fn_tcp_abort(x, t.now);
        }
    }
    {
        struct fn_stats x = tnet_stats(t.sa);
        printf("  rx %llu, challenge ACKs %llu, oow %llu, paws %llu, noport %llu, badopt %llu\n",
               (unsigned long long)x.tcp_rx, (unsigned long long)x.tcp_challenge_ack,
               (unsigned long long)x.tcp_rx_oow, (unsigned long long)x.tcp_rx_paws,
               (unsigned long long)x.tcp_rx_noport, (unsigned long long)x.tcp_rx_badopt);
        FN_CHECK(x.tcp_rx > 19000);
    }
    fn_tcp_abort(tp, t.now);
    fn_tcp_close(l, t.now);
    for (int i = 0; i < 100 && fn_tcp_count(t.sa); i++)
        tt_advance(&t, 1 * SEC);
    FN_CHECK_EQ(fn_tcp_count(t.sa), 0);
    FN_CHECK_EQ(tnet_close(&t), 0);
}

FN_TEST_MAIN()
