/*
 * test_sock_synopts.c — socket options that shape the handshake, as Linux: SO_RCVBUF set
 * before connect() / listen() bounds the window our SYN / SYN-ACK offers and picks the window
 * scale (Linux 6.18 on loopback, observed with tcpdump: SO_RCVBUF 1024 → window 1152 and
 * scale 0, 4096 → 4096/0, 16384 → 16384/0, 65536 → ~65535/1, 131072 → 65535/2 — the window
 * is half the doubled value, the scale the least that covers it); TCP_MAXSEG set before
 * connect() / listen() is the MSS option advertised (1000 → mss 1000, 88 → mss 88); and
 * TCP_CONGESTION accepts Linux's "reno" (NewReno here) and reports "reno".  Stack A runs
 * the sockets, end B is the raw peer played by the test (tcp_harness.h).
 */
#include "tcp_harness.h"
/* tcp_var.h (through the harness) and <netinet/tcp.h> (through fn_socket.h) both define
 * these, with the same values; this file uses neither's. */
#undef TCP_MAXWIN
#undef TCP_MAX_WINSHIFT
#undef TCP_MSS_DEFAULT
#undef TCPOLEN_TSTAMP_APPA
#include "fastnet/fn_socket.h"

static int sock_open(struct tnet *t, uint32_t rcvbuf)
{
    struct fn_config c;

    tt_cfg(&c);
    c.tcp_window_scaling = 1;
    c.tcp_rcvbuf = rcvbuf;
    c.tcp_max_sockets = 8;
    if (tt_open(t, &c) != 0)
        return -1;
    fn_stack_start(t->sa, t->now);
    return 0;
}

/* A's SYN for a non-blocking socket connected with SO_RCVBUF rb (0: unset) and
 * TCP_MAXSEG mss (0: unset); 1 if read. */
static int syn_with(struct tnet *t, int rb, int mss, struct rseg *r)
{
    struct sockaddr_in b;
    int fd = fn_socket(t->sa, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), ok;

    memset(&b, 0, sizeof(b));
    b.sin_family = AF_INET;
    b.sin_addr.s_addr = IP_B;
    b.sin_port = htons(P_PORT);
    if (fd < 0 ||
        (rb && fn_setsockopt(t->sa, fd, SOL_SOCKET, SO_RCVBUF, &rb, sizeof(rb)) < 0) ||
        (mss && fn_setsockopt(t->sa, fd, IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof(mss)) < 0) ||
        fn_connect(t->sa, fd, (struct sockaddr *)&b, sizeof(b)) != -1 || errno != EINPROGRESS)
        return 0;
    fn_stack_poll(t->sa, t->now);
    ok = tt_read(t, r) == 1 && r->th.flags == FN_TH_SYN;
    fn_close(t->sa, fd);
    tnet_drain(t);
    return ok;
}

FN_TEST(so_rcvbuf_before_connect_sizes_the_syn_window_and_scale)
{
    static const struct { int rb; uint16_t win; uint8_t ws; } want[] = {
        {1, 1152, 0}, {1024, 1152, 0}, {4096, 4096, 0}, {16384, 16384, 0},
        {65536, 65535, 1}, {100000, 65535, 1}, {131072, 65535, 2},
    };
    struct tnet t;
    struct rseg r;

    FN_CHECK_EQ(sock_open(&t, 1u << 20), 0);
    for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        FN_CHECK(syn_with(&t, want[i].rb, 0, &r));
        FN_CHECK_EQ(r.th.win, want[i].win);
        FN_CHECK(r.to.has_wscale);
        FN_CHECK_EQ(r.to.wscale, want[i].ws);
        FN_CHECK_EQ(r.to.mss, 1460);
    }
    /* Unset, the configuration's buffer decides: 1 MiB → scale 5. */
    FN_CHECK(syn_with(&t, 0, 0, &r));
    FN_CHECK_EQ(r.th.win, 65535);
    FN_CHECK_EQ(r.to.wscale, 5);
    FN_CHECK_EQ(tnet_close(&t), 0);
}

FN_TEST(so_rcvbuf_never_raises_the_window_above_the_configuration)
{
    struct tnet t;
    struct rseg r;

    FN_CHECK_EQ(sock_open(&t, 16384), 0);
    FN_CHECK(syn_with(&t, 1 << 20, 0, &r));
    FN_CHECK_EQ(r.th.win, 16384);
    FN_CHECK_EQ(r.to.wscale, 0);
    FN_CHECK_EQ(tnet_close(&t), 0);
}

FN_TEST(tcp_maxseg_before_connect_is_the_mss_advertised)
{
    struct tnet t;
    struct rseg r;

    FN_CHECK_EQ(sock_open(&t, 1u << 20), 0);
    FN_CHECK(syn_with(&t, 0, 1000, &r));
    FN_CHECK_EQ(r.to.mss, 1000);
    FN_CHECK(syn_with(&t, 0, 88, &r));
    FN_CHECK_EQ(r.to.mss, 88);
    /* Above what the MTU carries: the MTU's (Linux: the same). */
    FN_CHECK(syn_with(&t, 0, 9000, &r));
    FN_CHECK_EQ(r.to.mss, 1460);
    FN_CHECK(syn_with(&t, 8192, 536, &r));
    FN_CHECK_EQ(r.to.mss, 536);
    FN_CHECK_EQ(r.th.win, 8192);
    FN_CHECK_EQ(tnet_close(&t), 0);
}

FN_TEST(a_listeners_so_rcvbuf_and_tcp_maxseg_shape_its_syn_acks_and_children)
{
    struct tnet t;
    struct peer p;
    struct rseg r;
    struct sockaddr_in a;
    int l, rb = 16384, mss = 1000, s, v;
    socklen_t len = sizeof(v);

    FN_CHECK_EQ(sock_open(&t, 1u << 20), 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons(A_PORT);
    l = fn_socket(t.sa, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    FN_CHECK(l >= 0);
    FN_CHECK_EQ(fn_setsockopt(t.sa, l, SOL_SOCKET, SO_RCVBUF, &rb, sizeof(rb)), 0);
    FN_CHECK_EQ(fn_setsockopt(t.sa, l, IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof(mss)), 0);
    FN_CHECK_EQ(fn_bind(t.sa, l, (struct sockaddr *)&a, sizeof(a)), 0);
    FN_CHECK_EQ(fn_listen(t.sa, l, 4), 0);
    tt_peer_init(&p, &t, 5000);
    tt_send_syn(&p, 1460, 7, 0);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.flags, FN_TH_SYN | FN_TH_ACK);
    /* Linux, listener SO_RCVBUF 16384 and TCP_MAXSEG 1000: win 16384, wscale 0, mss 1000. */
    FN_CHECK_EQ(r.th.win, 16384);
    FN_CHECK(r.to.has_wscale);
    FN_CHECK_EQ(r.to.wscale, 0);
    FN_CHECK_EQ(r.to.mss, 1000);
    p.a_iss = r.th.seq;
    tt_inject(&p, 1, 1, FN_TH_ACK, NULL, 0);
    s = fn_accept4(t.sa, l, NULL, NULL, SOCK_NONBLOCK);
    FN_CHECK(s >= 0);
    /* The child sends no more than TCP_MAXSEG and reports what SO_RCVBUF gave it. */
    FN_CHECK_EQ(fn_getsockopt(t.sa, s, IPPROTO_TCP, TCP_MAXSEG, &v, &len), 0);
    FN_CHECK_EQ(v, 1000);
    FN_CHECK_EQ(fn_getsockopt(t.sa, s, SOL_SOCKET, SO_RCVBUF, &v, &len), 0);
    FN_CHECK_EQ(v, 32768);
    {
        struct linger lg = {1, 0};      /* a RST: the raw peer never closes */
        FN_CHECK_EQ(fn_setsockopt(t.sa, s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
    }
    FN_CHECK_EQ(fn_close(t.sa, s), 0);
    FN_CHECK_EQ(fn_close(t.sa, l), 0);
    tnet_drain(&t);
    FN_CHECK_EQ(tnet_close(&t), 0);
}

FN_TEST(tcp_congestion_reno_is_newreno_reported_as_reno)
{
    struct tnet t;
    char name[16];
    socklen_t len = sizeof(name);
    int fd;

    FN_CHECK_EQ(sock_open(&t, 1u << 20), 0);
    fd = fn_socket(t.sa, AF_INET, SOCK_STREAM, 0);
    FN_CHECK(fd >= 0);
    FN_CHECK_EQ(fn_setsockopt(t.sa, fd, IPPROTO_TCP, TCP_CONGESTION, "reno", 4), 0);
    FN_CHECK_EQ(fn_getsockopt(t.sa, fd, IPPROTO_TCP, TCP_CONGESTION, name, &len), 0);
    FN_CHECK_EQ(len, 16);
    /* Linux: "reno" NUL-padded; and a NUL ends the name ("reno\0x" is "reno"). */
    FN_CHECK(memcmp(name, "reno\0\0\0\0\0\0\0\0\0\0\0\0", 16) == 0);
    FN_CHECK_EQ(fn_setsockopt(t.sa, fd, IPPROTO_TCP, TCP_CONGESTION, "cubic", 5), 0);
    FN_CHECK_EQ(fn_getsockopt(t.sa, fd, IPPROTO_TCP, TCP_CONGESTION, name, &len), 0);
    FN_CHECK(strcmp(name, "cubic") == 0);
    FN_CHECK_EQ(fn_setsockopt(t.sa, fd, IPPROTO_TCP, TCP_CONGESTION, "reno\0x", 6), 0);
    FN_CHECK_EQ(fn_getsockopt(t.sa, fd, IPPROTO_TCP, TCP_CONGESTION, name, &len), 0);
    FN_CHECK(strcmp(name, "reno") == 0);
    /* Linux: ENOENT for "Reno" and "ren". */
    FN_CHECK_EQ(fn_setsockopt(t.sa, fd, IPPROTO_TCP, TCP_CONGESTION, "Reno", 4), -1);
    FN_CHECK_EQ(errno, ENOENT);
    FN_CHECK_EQ(fn_setsockopt(t.sa, fd, IPPROTO_TCP, TCP_CONGESTION, "ren", 3), -1);
    FN_CHECK_EQ(errno, ENOENT);
    FN_CHECK_EQ(fn_close(t.sa, fd), 0);
    FN_CHECK_EQ(tnet_close(&t), 0);
}

FN_TEST_MAIN()
