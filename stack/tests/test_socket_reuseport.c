/*
 * test_socket_reuseport.c — SO_REUSEPORT groups through the socket API, Linux's rules:
 * several sockets that all set SO_REUSEPORT bind and listen on one port, each new connection
 * is accepted by exactly one of them (both get some), through the syncache and through SYN
 * cookies alike; closing one member resets what sat in its accept queue and leaves the
 * others serving; a socket without the option, or a group joined by one without it, gets
 * EADDRINUSE.  Two stacks over the memory link (sock_harness.h): A connects, B listens.
 */
#include "sock_harness.h"
#include "socket/fn_sock_impl.h"
#include "tcp/fn_tcp_sock.h"

#define NCONN 24

/* Connections waiting in listener fd's accept queue. */
static int rp_queued(struct tnet *t, int fd)
{
    return (int)fn_tcp_acceptq_len(fn_sock_get(t->sb, fd)->tp);
}

/* A non-blocking socket on B bound to SH_PORT with SO_REUSEPORT = reuse; -1 with errno. */
static int rp_bind(struct tnet *t, int reuse)
{
    struct sockaddr_in a = sh_addr(0, SH_PORT);
    int fd = sh_socket_nb(t->sb), err;

    if (fd < 0)
        return -1;
    if (fn_setsockopt(t->sb, fd, SOL_SOCKET, SO_REUSEPORT, &reuse, sizeof(reuse)) < 0 ||
        fn_bind(t->sb, fd, SA(a), sizeof(a)) < 0) {
        err = errno;
        fn_close(t->sb, fd);
        errno = err;
        return -1;
    }
    return fd;
}

static int rp_listen(struct tnet *t, int reuse)
{
    int fd = rp_bind(t, reuse);

    if (fd >= 0 && fn_listen(t->sb, fd, 8) < 0) {
        fn_close(t->sb, fd);
        return -1;
    }
    return fd;
}

/* Connect from A once, then accept on whichever of the n listeners has it.  Returns the
 * index of the listener that accepted, -1 if none did, -2 if more than one did.  Both ends
 * are closed again (A aborts, so no TIME_WAIT piles up). */
static int rp_one(struct tnet *t, const int *l, int n)
{
    struct sockaddr_in b = sh_addr(IP_B, SH_PORT);
    int c = sh_socket_nb(t->sa), who = -1;

    if (c < 0 || fn_connect(t->sa, c, SA(b), sizeof(b)) != -1 || errno != EINPROGRESS)
        return -1;
    sh_run(t);
    for (int i = 0; i < n; i++) {
        int s = fn_accept4(t->sb, l[i], NULL, NULL, SOCK_NONBLOCK);
        if (s >= 0) {
            who = who == -1 ? i : -2;
            fn_close(t->sb, s);
        }
    }
    sh_abort(t->sa, c);
    sh_run(t);
    return who;
}

/* NCONN connections over the group l[0..n-1]: each accepted exactly once; counts per member. */
static int rp_spread(struct tnet *t, const int *l, int n, int *count)
{
    for (int i = 0; i < n; i++)
        count[i] = 0;
    for (int k = 0; k < NCONN; k++) {
        int who = rp_one(t, l, n);
        if (who < 0)
            return -1;
        count[who]++;
    }
    return 0;
}

/* Two members, NCONN connections: 1 if each was accepted once and both members got some. */
static int rp_pair_spreads(struct tnet *t)
{
    int l[2] = {rp_listen(t, 1), rp_listen(t, 1)}, count[2];

    return l[0] >= 0 && l[1] >= 0 && rp_spread(t, l, 2, count) == 0 && count[0] > 0 &&
           count[1] > 0 && count[0] + count[1] == NCONN;
}

FN_TEST(reuseport_group_shares_connections)
{
    SH_SETUP();

    FN_CHECK(rp_pair_spreads(&t));
    FN_CHECK_EQ(tnet_stats(t.sb).tcp_syncookies_ok, 0);
    SH_TEARDOWN();
}

static void cookies_always(struct fn_config *c)
{
    c->tcp_syncookies = 2;
}

/* Cookies keep nothing: the third ACK must hash to the member that answered the SYN. */
FN_TEST(reuseport_group_shares_cookie_connections)
{
    SH_SETUP_CFG(cookies_always);

    FN_CHECK(rp_pair_spreads(&t));
    FN_CHECK(tnet_stats(t.sb).tcp_syncookies_ok >= NCONN);
    SH_TEARDOWN();
}

/* Connections queue on both members unaccepted; closing one resets exactly its queue, the
 * other member's connections survive, and every later connection goes to the survivor. */
FN_TEST(reuseport_close_one_member_others_serve)
{
    SH_SETUP();
    struct sockaddr_in b = sh_addr(IP_B, SH_PORT);
    int l[2], c[12], n = 0, count[1], reset = 0, alive = 0, queued0;
    char ch;

    l[0] = rp_listen(&t, 1);
    l[1] = rp_listen(&t, 1);
    FN_CHECK(l[0] >= 0 && l[1] >= 0);
    /* Until both members hold some (bounded: the hash sends each flow either way). */
    while (n < 12 && (rp_queued(&t, l[0]) == 0 || rp_queued(&t, l[1]) == 0)) {
        c[n] = sh_socket_nb(t.sa);
        FN_CHECK(c[n] >= 0);
        FN_CHECK_EQ(fn_connect(t.sa, c[n], SA(b), sizeof(b)), -1);
        sh_run(&t);
        FN_CHECK_EQ(fn_send(t.sa, c[n], "x", 1, 0), 1);
        sh_run(&t);
        n++;
    }
    queued0 = rp_queued(&t, l[0]);
    FN_CHECK(queued0 > 0 && rp_queued(&t, l[1]) > 0);
    FN_CHECK_EQ(queued0 + rp_queued(&t, l[1]), n);
    FN_CHECK_EQ(fn_close(t.sb, l[0]), 0);
    sh_run(&t);
    for (int k = 0; k < n; k++) {
        if (fn_recv(t.sa, c[k], &ch, 1, MSG_DONTWAIT) < 0 && errno == ECONNRESET)
            reset++;
        else
            alive++;
    }
    FN_CHECK_EQ(reset, queued0);
    FN_CHECK(alive > 0);
    for (int k = 0; k < alive; k++) {
        int s = fn_accept4(t.sb, l[1], NULL, NULL, SOCK_NONBLOCK);
        FN_CHECK(s >= 0);
        FN_CHECK_EQ(fn_recv(t.sb, s, &ch, 1, 0), 1);
        fn_close(t.sb, s);
    }
    FN_CHECK_EQ(fn_accept4(t.sb, l[1], NULL, NULL, SOCK_NONBLOCK), -1);
    for (int k = 0; k < n; k++)
        sh_abort(t.sa, c[k]);
    sh_run(&t);
    FN_CHECK_EQ(rp_spread(&t, &l[1], 1, count), 0);
    FN_CHECK_EQ(count[0], NCONN);
    SH_TEARDOWN();
}

/* A member joins while a handshake is half-open: the flow may now hash to another member,
 * but its third ACK still completes on the one that holds its syncache entry. */
FN_TEST(reuseport_half_open_stays_with_its_member_when_the_group_grows)
{
    SH_SETUP();
    struct sockaddr_in b = sh_addr(IP_B, SH_PORT);
    int l[8], n = 2;

    l[0] = rp_listen(&t, 1);
    l[1] = rp_listen(&t, 1);
    FN_CHECK(l[0] >= 0 && l[1] >= 0);
    FN_CHECK(rp_one(&t, l, n) >= 0);          /* ARP learned: the next SYN goes at once */
    while (n < 8) {
        int c = sh_socket_nb(t.sa), holder = -1, s;
        FN_CHECK(c >= 0);
        FN_CHECK_EQ(fn_connect(t.sa, c, SA(b), sizeof(b)), -1);
        fn_stack_poll(t.sa, t.now);
        fn_stack_poll(t.sb, t.now);           /* the SYN is in, the SYN-ACK on its way */
        for (int i = 0; i < n; i++)
            if (fn_tcp_halfopen_len(fn_sock_get(t.sb, l[i])->tp) == 1)
                holder = holder == -1 ? i : -2;
        FN_CHECK(holder >= 0);
        l[n] = rp_listen(&t, 1);
        FN_CHECK(l[n] >= 0);
        n++;
        sh_run(&t);
        for (int i = 0; i < n; i++) {
            FN_CHECK_EQ(fn_tcp_halfopen_len(fn_sock_get(t.sb, l[i])->tp), 0);
            FN_CHECK_EQ(rp_queued(&t, l[i]), i == holder);
        }
        s = fn_accept4(t.sb, l[holder], NULL, NULL, SOCK_NONBLOCK);
        FN_CHECK(s >= 0);
        fn_close(t.sb, s);
        sh_abort(t.sa, c);
        sh_run(&t);
    }
    SH_TEARDOWN();
}

FN_TEST(reuseport_needs_every_socket_to_set_it)
{
    SH_SETUP();
    int a, b;

    /* Without the option the port is held as before. */
    a = rp_listen(&t, 0);
    FN_CHECK(a >= 0);
    FN_CHECK_EQ(rp_bind(&t, 0), -1);
    FN_CHECK_EQ(errno, EADDRINUSE);
    FN_CHECK_EQ(rp_bind(&t, 1), -1);
    FN_CHECK_EQ(errno, EADDRINUSE);
    FN_CHECK_EQ(fn_close(t.sb, a), 0);

    /* A group refuses a newcomer without the option, bound or listening. */
    a = rp_listen(&t, 1);
    FN_CHECK(a >= 0);
    FN_CHECK_EQ(rp_bind(&t, 0), -1);
    FN_CHECK_EQ(errno, EADDRINUSE);
    b = rp_bind(&t, 1);
    FN_CHECK(b >= 0);
    FN_CHECK_EQ(fn_close(t.sb, a), 0);
    FN_CHECK_EQ(rp_bind(&t, 0), -1);         /* b still holds the port, with the option */
    FN_CHECK_EQ(errno, EADDRINUSE);
    FN_CHECK_EQ(fn_close(t.sb, b), 0);
    SH_TEARDOWN();
}

/* The TCP layer's own rule, for listeners that have no socket. */
FN_TEST(reuseport_tcp_listen_group_rule)
{
    SH_SETUP();
    struct tcpcb *p, *q, *r;

    FN_CHECK_EQ(fn_tcp_listen_opts(t.sb, 9000, 4, 1, &p), 0);
    FN_CHECK_EQ(fn_tcp_listen_opts(t.sb, 9000, 4, 1, &q), 0);
    FN_CHECK_EQ(fn_tcp_listen_opts(t.sb, 9000, 4, 0, &r), -EADDRINUSE);
    FN_CHECK_EQ(fn_tcp_listen(t.sb, 9000, 4, &r), -EADDRINUSE);
    FN_CHECK_EQ(fn_tcp_count(t.sb), 2);
    fn_tcp_close(p, t.now);
    FN_CHECK_EQ(fn_tcp_listen_opts(t.sb, 9000, 4, 0, &r), -EADDRINUSE);
    fn_tcp_close(q, t.now);
    FN_CHECK_EQ(fn_tcp_listen_opts(t.sb, 9000, 4, 0, &r), 0);
    fn_tcp_close(r, t.now);
    FN_CHECK_EQ(fn_tcp_count(t.sb), 0);
    SH_TEARDOWN();
}

FN_TEST_MAIN()
