/*
 * test_socket_timewait.c — TIME_WAIT through the socket API: a server whose sockets close
 * first, with few tcpcbs and Linux's 60 s TIME_WAIT, keeps serving one short connection
 * after another (the oldest TIME_WAIT gives its tcpcb away, tcp_timewait.c), and connect(2)
 * with every tcpcb held by a live connection fails at once with ENOBUFS.  The TCP side of
 * the same rules is in test_tcp_timewait_limit.c.
 */
#include "sock_harness.h"

#define NCYCLES 50

/* Few tcpcbs and Linux's 60 s TIME_WAIT. */
static void sock_cfg(struct fn_config *c)
{
    c->tcp_max_conns = 4;
    c->tcp_msl_ms = 30000;
}

/* One request/response on a new socket pair; B's socket closes first.  1 if A read the
 * whole answer and then EOF. */
static int sock_cycle(struct tnet *t, int l)
{
    char buf[16];
    int c, s, last;
    uint32_t got;

    if (sh_pair(t, l, &c, &s) != 0)
        return 0;
    if (fn_send(t->sa, c, "GET", 3, 0) != 3)
        return 0;
    sh_run(t);
    if (fn_recv(t->sb, s, buf, sizeof(buf), 0) != 3 || fn_send(t->sb, s, "OK", 2, 0) != 2 ||
        fn_close(t->sb, s) != 0)
        return 0;
    sh_run(t);
    got = sh_read_all(t->sa, c, &last);
    if (fn_close(t->sa, c) != 0)
        return 0;
    sh_run(t);
    return got == 2 && last == 0;
}

FN_TEST(sockets_closing_first_recycle_their_time_waits)
{
    SH_SETUP_CFG(sock_cfg);
    struct sockaddr_in a = sh_addr(0, SH_PORT + 1), b = sh_addr(IP_B, SH_PORT);
    int l = sh_listen(&t, 8), held[4];

    FN_CHECK(l >= 0);
    for (int i = 0; i < NCYCLES; i++)
        FN_CHECK(sock_cycle(&t, l));
    FN_CHECK_EQ(fn_tcp_count(t.sb), 4);                 /* the listener, 3 TIME_WAITs */
    FN_CHECK_EQ(tnet_stats(t.sb).tcp_tw_recycled, NCYCLES - 3);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_conn_reset, 0);
    /* A's four tcpcbs held by a listener and three live connections (B's by its listener
     * and their three ends, in place of its TIME_WAITs): connect(2) says ENOBUFS at once. */
    held[3] = sh_socket_nb(t.sa);
    FN_CHECK(held[3] >= 0);
    FN_CHECK_EQ(fn_bind(t.sa, held[3], SA(a), sizeof(a)), 0);
    FN_CHECK_EQ(fn_listen(t.sa, held[3], 4), 0);
    for (int i = 0; i < 3; i++) {
        int s;
        FN_CHECK_EQ(sh_pair(&t, l, &held[i], &s), 0);
    }
    FN_CHECK_EQ(fn_tcp_count(t.sa), 4);
    FN_CHECK_EQ(tnet_stats(t.sb).tcp_tw_recycled, NCYCLES);
    {
        int x = sh_socket_nb(t.sa);
        FN_CHECK(x >= 0);
        FN_CHECK_EQ(fn_connect(t.sa, x, SA(b), sizeof(b)), -1);
        FN_CHECK_EQ(errno, ENOBUFS);
    }
    /* Closed now, A's sockets leave TIME_WAITs of their own: run them out. */
    sh_close_all(t.sa);
    sh_close_all(t.sb);
    sh_run(&t);
    t.now += 61 * SEC;
    sh_run(&t);
    SH_TEARDOWN();
}

FN_TEST_MAIN()
