/*
 * test_socket_conn.c — connections through the socket API with Linux's semantics: two
 * stacks over the memory link, non-blocking sockets driven by the test (sock_harness.h),
 * blocking ones driving their own stack.  Each expected errno / mask is what the Linux
 * kernel returned for the same sequence on loopback (noted at each check), so code moved
 * from kernel sockets behaves the same.
 */
#include <pthread.h>
#include <sys/time.h>

#include "sock_harness.h"

FN_TEST(connect_to_closed_port_reports_econnrefused_via_so_error)
{
    SH_SETUP();
    struct sockaddr_in b = sh_addr(IP_B, 9);
    int c = sh_socket_nb(t.sa);

    FN_CHECK(c >= 0);
    /* Linux: EINPROGRESS, then the RST makes SO_ERROR ECONNREFUSED once, then 0. */
    FN_CHECK_EQ(fn_connect(t.sa, c, SA(b), sizeof(b)), -1);
    FN_CHECK_EQ(errno, EINPROGRESS);
    FN_CHECK_EQ(sh_mask(t.sa, c), 0);
    FN_CHECK_EQ(fn_connect(t.sa, c, SA(b), sizeof(b)), -1);
    FN_CHECK_EQ(errno, EALREADY);
    sh_run(&t);
    /* Linux reports 0x201d: IN | OUT | ERR | HUP | RDHUP. */
    FN_CHECK_EQ(sh_mask(t.sa, c), EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLRDHUP);
    FN_CHECK_EQ(sh_sockopt_int(t.sa, c, SOL_SOCKET, SO_ERROR), ECONNREFUSED);
    FN_CHECK_EQ(sh_sockopt_int(t.sa, c, SOL_SOCKET, SO_ERROR), 0);
    FN_CHECK_EQ(sh_mask(t.sa, c), EPOLLIN | EPOLLOUT | EPOLLHUP | EPOLLRDHUP);
    /* Linux: the error already taken, connect() says ECONNABORTED, then starts over. */
    FN_CHECK_EQ(fn_connect(t.sa, c, SA(b), sizeof(b)), -1);
    FN_CHECK_EQ(errno, ECONNABORTED);
    FN_CHECK_EQ(fn_connect(t.sa, c, SA(b), sizeof(b)), -1);
    FN_CHECK_EQ(errno, EINPROGRESS);
    sh_run(&t);
    /* Linux: not taken by SO_ERROR, the next connect() reports ECONNREFUSED itself; the
     * one after that is a new attempt. */
    FN_CHECK_EQ(fn_connect(t.sa, c, SA(b), sizeof(b)), -1);
    FN_CHECK_EQ(errno, ECONNREFUSED);
    FN_CHECK_EQ(fn_connect(t.sa, c, SA(b), sizeof(b)), -1);
    FN_CHECK_EQ(errno, EINPROGRESS);
    sh_run(&t);
    /* Linux: recv after a refusal: ECONNREFUSED once, then EOF. */
    FN_CHECK_EQ(fn_recv(t.sa, c, (char[4]){0}, 4, 0), -1);
    FN_CHECK_EQ(errno, ECONNREFUSED);
    FN_CHECK_EQ(fn_recv(t.sa, c, (char[4]){0}, 4, 0), 0);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_conn_refused, 3);
    SH_TEARDOWN();
}

FN_TEST(blocking_connect_to_closed_port_fails_econnrefused)
{
    SH_SETUP();
    struct sockaddr_in b = sh_addr(IP_B, 9);
    int c = fn_socket(t.sa, AF_INET, SOCK_STREAM, 0);
    uint64_t t0 = fn_clock_ns();

    FN_CHECK(c >= 0);
    FN_CHECK_EQ(sh_go_blocking(&t, -1), 0);
    FN_CHECK_EQ(fn_connect(t.sa, c, SA(b), sizeof(b)), -1);
    FN_CHECK_EQ(errno, ECONNREFUSED);
    FN_CHECK(fn_clock_ns() - t0 < 2 * SEC);
    sh_end_blocking(&t);
    SH_TEARDOWN();
}

FN_TEST(nonblocking_connect_completes_with_so_error_zero)
{
    SH_SETUP();
    struct sockaddr_in b = sh_addr(IP_B, SH_PORT), got;
    socklen_t len = sizeof(got);
    int l = sh_listen(&t, 8), c = sh_socket_nb(t.sa), s;

    FN_CHECK(l >= 0 && c >= 0);
    FN_CHECK_EQ(fn_connect(t.sa, c, SA(b), sizeof(b)), -1);
    FN_CHECK_EQ(errno, EINPROGRESS);
    /* Linux: while connecting, send EAGAIN, recv EAGAIN, getpeername ENOTCONN. */
    FN_CHECK_EQ(fn_send(t.sa, c, "x", 1, 0), -1);
    FN_CHECK_EQ(errno, EAGAIN);
    FN_CHECK_EQ(fn_recv(t.sa, c, (char[4]){0}, 4, 0), -1);
    FN_CHECK_EQ(errno, EAGAIN);
    FN_CHECK_EQ(fn_getpeername(t.sa, c, (struct sockaddr *)&got, &len), -1);
    FN_CHECK_EQ(errno, ENOTCONN);
    sh_run(&t);
    FN_CHECK_EQ(sh_mask(t.sa, c), EPOLLOUT);
    FN_CHECK_EQ(sh_sockopt_int(t.sa, c, SOL_SOCKET, SO_ERROR), 0);
    /* Linux: one more connect() returns 0 once established, then EISCONN. */
    FN_CHECK_EQ(fn_connect(t.sa, c, SA(b), sizeof(b)), 0);
    FN_CHECK_EQ(fn_connect(t.sa, c, SA(b), sizeof(b)), -1);
    FN_CHECK_EQ(errno, EISCONN);
    FN_CHECK_EQ(fn_getpeername(t.sa, c, (struct sockaddr *)&got, &len), 0);
    FN_CHECK_EQ(len, sizeof(got));
    FN_CHECK_EQ(got.sin_addr.s_addr, IP_B);
    FN_CHECK_EQ(ntohs(got.sin_port), SH_PORT);
    len = sizeof(got);
    s = fn_accept(t.sb, l, (struct sockaddr *)&got, &len);
    FN_CHECK(s >= 0);
    FN_CHECK_EQ(got.sin_addr.s_addr, IP_A);
    FN_CHECK_EQ(fn_getsockname(t.sb, s, (struct sockaddr *)&got, &len), 0);
    FN_CHECK_EQ(got.sin_addr.s_addr, IP_B);
    FN_CHECK_EQ(ntohs(got.sin_port), SH_PORT);
    SH_TEARDOWN();
}

FN_TEST(data_both_ways_read_write_readv_writev_peek_fionread)
{
    SH_SETUP_PAIR();
    int n;
    char buf[64];
    struct iovec wv[3] = {{"hel", 3}, {NULL, 0}, {"lo world", 8}};
    struct iovec rv[2] = {{buf, 5}, {buf + 5, 20}};

    FN_CHECK_EQ(fn_writev(t.sa, c, wv, 3), 11);
    sh_run(&t);
    FN_CHECK_EQ(fn_ioctl(t.sb, s, FIONREAD, &n), 0);
    FN_CHECK_EQ(n, 11);
    FN_CHECK_EQ(fn_recv(t.sb, s, buf, 5, MSG_PEEK), 5);
    FN_CHECK(memcmp(buf, "hello", 5) == 0);
    FN_CHECK_EQ(fn_ioctl(t.sb, s, FIONREAD, &n), 0);
    FN_CHECK_EQ(n, 11);
    memset(buf, 0, sizeof(buf));
    FN_CHECK_EQ(fn_readv(t.sb, s, rv, 2), 11);
    FN_CHECK(memcmp(buf, "hello world", 11) == 0);
    FN_CHECK_EQ(fn_read(t.sb, s, buf, sizeof(buf)), -1);
    FN_CHECK_EQ(errno, EAGAIN);
    FN_CHECK_EQ(fn_write(t.sb, s, "pong", 4), 4);
    sh_run(&t);
    FN_CHECK_EQ(fn_read(t.sa, c, buf, sizeof(buf)), 4);
    FN_CHECK(memcmp(buf, "pong", 4) == 0);
    /* Linux: len 0 reads and writes return 0. */
    FN_CHECK_EQ(fn_recv(t.sa, c, buf, 0, 0), 0);
    FN_CHECK_EQ(fn_send(t.sa, c, buf, 0, 0), 0);
    SH_TEARDOWN();
}

FN_TEST(bind_twice_is_eaddrinuse_unless_reuse_rules_allow)
{
    SH_SETUP();
    struct sockaddr_in a = sh_addr(0, SH_PORT), any0 = sh_addr(0, 0), got;
    socklen_t len = sizeof(got);
    int one = 1, x = sh_socket_nb(t.sa), y = sh_socket_nb(t.sa), z = sh_socket_nb(t.sa);

    FN_CHECK(x >= 0 && y >= 0 && z >= 0);
    FN_CHECK_EQ(fn_bind(t.sa, x, SA(a), sizeof(a)), 0);
    /* Linux: EADDRINUSE for the second socket, EINVAL for binding one socket twice. */
    FN_CHECK_EQ(fn_bind(t.sa, y, SA(a), sizeof(a)), -1);
    FN_CHECK_EQ(errno, EADDRINUSE);
    FN_CHECK_EQ(fn_bind(t.sa, x, SA(any0), sizeof(any0)), -1);
    FN_CHECK_EQ(errno, EINVAL);
    fn_close(t.sa, x);
    /* Linux: both SO_REUSEADDR and neither listening → both bind; the second listen()
     * then fails EADDRINUSE. */
    x = sh_socket_nb(t.sa);
    FN_CHECK_EQ(fn_setsockopt(t.sa, x, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
    FN_CHECK_EQ(fn_setsockopt(t.sa, y, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
    FN_CHECK_EQ(fn_bind(t.sa, x, SA(a), sizeof(a)), 0);
    FN_CHECK_EQ(fn_bind(t.sa, y, SA(a), sizeof(a)), 0);
    FN_CHECK_EQ(fn_listen(t.sa, x, 4), 0);
    FN_CHECK_EQ(fn_listen(t.sa, y, 4), -1);
    FN_CHECK_EQ(errno, EADDRINUSE);
    /* SO_REUSEPORT on both: both bind and both listen, as Linux (the group's balancing is
     * tested in test_socket_reuseport.c). */
    {
        int p1 = sh_socket_nb(t.sb), p2 = sh_socket_nb(t.sb);
        struct sockaddr_in pa = sh_addr(0, 9090);
        FN_CHECK_EQ(fn_setsockopt(t.sb, p1, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)), 0);
        FN_CHECK_EQ(fn_setsockopt(t.sb, p2, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)), 0);
        FN_CHECK_EQ(fn_bind(t.sb, p1, SA(pa), sizeof(pa)), 0);
        FN_CHECK_EQ(fn_bind(t.sb, p2, SA(pa), sizeof(pa)), 0);
        FN_CHECK_EQ(fn_listen(t.sb, p1, 4), 0);
        FN_CHECK_EQ(fn_listen(t.sb, p2, 4), 0);
        FN_CHECK_EQ(sh_sockopt_int(t.sb, p2, SOL_SOCKET, SO_REUSEPORT), 1);
    }
    /* A listener holds its port even against SO_REUSEADDR. */
    FN_CHECK_EQ(fn_setsockopt(t.sa, z, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
    FN_CHECK_EQ(fn_bind(t.sa, z, SA(a), sizeof(a)), -1);
    FN_CHECK_EQ(errno, EADDRINUSE);
    /* Port 0 picks an ephemeral port; an address that is not ours is EADDRNOTAVAIL. */
    FN_CHECK_EQ(fn_bind(t.sa, z, SA(any0), sizeof(any0)), 0);
    FN_CHECK_EQ(fn_getsockname(t.sa, z, (struct sockaddr *)&got, &len), 0);
    FN_CHECK(ntohs(got.sin_port) >= 49152);
    a = sh_addr(ip4(198, 18, 9, 9), 0);
    fn_close(t.sa, z);
    z = sh_socket_nb(t.sa);
    FN_CHECK_EQ(fn_bind(t.sa, z, SA(a), sizeof(a)), -1);
    FN_CHECK_EQ(errno, EADDRNOTAVAIL);
    SH_TEARDOWN();
}

FN_TEST(send_after_peer_reset_econnreset_then_epipe)
{
    SH_SETUP_PAIR();
    struct sockaddr_in got;
    socklen_t len = sizeof(got);
    uint64_t rst0;

    rst0 = tnet_stats(t.sb).tcp_rst_tx;
    FN_CHECK_EQ(sh_abort(t.sb, s), 0);
    sh_run(&t);
    FN_CHECK_EQ(tnet_stats(t.sb).tcp_rst_tx, rst0 + 1);
    /* Linux after a RST in ESTABLISHED: mask 0x201d; send ECONNRESET, then EPIPE; recv
     * EOF; mask 0x2015 once the error is taken; shutdown and getpeername ENOTCONN. */
    FN_CHECK_EQ(sh_mask(t.sa, c), EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLRDHUP);
    FN_CHECK_EQ(fn_send(t.sa, c, "x", 1, MSG_NOSIGNAL), -1);
    FN_CHECK_EQ(errno, ECONNRESET);
    FN_CHECK_EQ(fn_send(t.sa, c, "x", 1, MSG_NOSIGNAL), -1);
    FN_CHECK_EQ(errno, EPIPE);
    FN_CHECK_EQ(fn_recv(t.sa, c, (char[4]){0}, 4, 0), 0);
    FN_CHECK_EQ(sh_mask(t.sa, c), EPOLLIN | EPOLLOUT | EPOLLHUP | EPOLLRDHUP);
    FN_CHECK_EQ(fn_shutdown(t.sa, c, SHUT_WR), -1);
    FN_CHECK_EQ(errno, ENOTCONN);
    FN_CHECK_EQ(fn_getpeername(t.sa, c, (struct sockaddr *)&got, &len), -1);
    FN_CHECK_EQ(errno, ENOTCONN);
    SH_TEARDOWN();
}

FN_TEST(recv_after_peer_reset_econnreset_once_then_eof)
{
    SH_SETUP_PAIR();

    FN_CHECK_EQ(sh_abort(t.sb, s), 0);
    sh_run(&t);
    /* Linux: recv ECONNRESET, recv EOF, send EPIPE. */
    FN_CHECK_EQ(fn_recv(t.sa, c, (char[4]){0}, 4, 0), -1);
    FN_CHECK_EQ(errno, ECONNRESET);
    FN_CHECK_EQ(fn_recv(t.sa, c, (char[4]){0}, 4, 0), 0);
    FN_CHECK_EQ(fn_send(t.sa, c, "x", 1, 0), -1);
    FN_CHECK_EQ(errno, EPIPE);
    SH_TEARDOWN();
}

FN_TEST(recv_after_orderly_shutdown_is_eof_with_rdhup)
{
    SH_SETUP_PAIR();
    char buf[8];

    FN_CHECK_EQ(fn_send(t.sb, s, "bye", 3, 0), 3);
    FN_CHECK_EQ(fn_shutdown(t.sb, s, SHUT_WR), 0);
    sh_run(&t);
    /* Linux after the peer's SHUT_WR: 0x2005 (IN | OUT | RDHUP); data, then EOF, again. */
    FN_CHECK_EQ(sh_mask(t.sa, c), EPOLLIN | EPOLLOUT | EPOLLRDHUP);
    FN_CHECK_EQ(fn_recv(t.sa, c, buf, sizeof(buf), 0), 3);
    FN_CHECK_EQ(fn_recv(t.sa, c, buf, sizeof(buf), 0), 0);
    FN_CHECK_EQ(fn_recv(t.sa, c, buf, sizeof(buf), 0), 0);
    /* The half-closed side still sends. */
    FN_CHECK_EQ(fn_send(t.sa, c, "ok", 2, 0), 2);
    sh_run(&t);
    FN_CHECK_EQ(fn_recv(t.sb, s, buf, sizeof(buf), 0), 2);
    /* Linux after our SHUT_WR too: 0x2015 (+ HUP); a send is EPIPE. */
    FN_CHECK_EQ(fn_shutdown(t.sa, c, SHUT_WR), 0);
    FN_CHECK_EQ(sh_mask(t.sa, c), EPOLLIN | EPOLLOUT | EPOLLHUP | EPOLLRDHUP);
    FN_CHECK_EQ(fn_send(t.sa, c, "x", 1, 0), -1);
    FN_CHECK_EQ(errno, EPIPE);
    sh_run(&t);
    FN_CHECK_EQ(fn_recv(t.sb, s, buf, sizeof(buf), 0), 0);
    SH_TEARDOWN();
}

FN_TEST(our_shutdown_masks_as_linux)
{
    SH_SETUP_PAIR();
    char buf[8];

    /* Linux: SHUT_RD alone → 0x2005 and recv EOF, yet data arriving later is read. */
    FN_CHECK_EQ(fn_shutdown(t.sa, c, SHUT_RD), 0);
    FN_CHECK_EQ(sh_mask(t.sa, c), EPOLLIN | EPOLLOUT | EPOLLRDHUP);
    FN_CHECK_EQ(fn_recv(t.sa, c, buf, sizeof(buf), 0), 0);
    FN_CHECK_EQ(fn_send(t.sb, s, "abc", 3, 0), 3);
    sh_run(&t);
    FN_CHECK_EQ(fn_recv(t.sa, c, buf, sizeof(buf), 0), 3);
    /* Linux: SHUT_WR alone → 0x4 (OUT). */
    FN_CHECK_EQ(fn_shutdown(t.sb, s, SHUT_WR), 0);
    FN_CHECK_EQ(sh_mask(t.sb, s), EPOLLOUT);
    FN_CHECK_EQ(fn_shutdown(t.sb, s, 7), -1);
    FN_CHECK_EQ(errno, EINVAL);
    SH_TEARDOWN();
}

FN_TEST(peer_closed_then_our_data_reset_gives_epipe)
{
    SH_SETUP_PAIR();
    char buf[8];

    FN_CHECK_EQ(fn_close(t.sb, s), 0);
    sh_run(&t);
    /* Linux: EOF, the first send is queued, the peer (closed) answers with a RST, which
     * in CLOSE_WAIT is EPIPE: SO_ERROR EPIPE, sends EPIPE, recv stays EOF. */
    FN_CHECK_EQ(fn_recv(t.sa, c, buf, sizeof(buf), 0), 0);
    FN_CHECK_EQ(fn_send(t.sa, c, "x", 1, 0), 1);
    sh_run(&t);
    FN_CHECK_EQ(fn_recv(t.sa, c, buf, sizeof(buf), 0), 0);
    FN_CHECK_EQ(sh_sockopt_int(t.sa, c, SOL_SOCKET, SO_ERROR), EPIPE);
    FN_CHECK_EQ(fn_send(t.sa, c, "x", 1, 0), -1);
    FN_CHECK_EQ(errno, EPIPE);
    SH_TEARDOWN();
}

FN_TEST(so_linger_zero_close_sends_rst)
{
    SH_SETUP_PAIR();
    struct linger lg = {1, 0}, got;
    socklen_t len = sizeof(got);
    uint64_t rst0 = tnet_stats(t.sa).tcp_rst_tx, fin0;

    FN_CHECK_EQ(fn_setsockopt(t.sa, c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
    FN_CHECK_EQ(fn_getsockopt(t.sa, c, SOL_SOCKET, SO_LINGER, &got, &len), 0);
    FN_CHECK_EQ(got.l_onoff, 1);
    FN_CHECK_EQ(got.l_linger, 0);
    fin0 = tnet_stats(t.sb).tcp_rst_rx;
    FN_CHECK_EQ(fn_close(t.sa, c), 0);
    /* The RST leaves with the close, and nothing stays behind on A (no TIME_WAIT). */
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_rst_tx, rst0 + 1);
    FN_CHECK_EQ(fn_tcp_count(t.sa), 0);
    sh_run(&t);
    FN_CHECK_EQ(tnet_stats(t.sb).tcp_rst_rx, fin0 + 1);
    FN_CHECK_EQ(fn_recv(t.sb, s, (char[4]){0}, 4, 0), -1);
    FN_CHECK_EQ(errno, ECONNRESET);
    SH_TEARDOWN();
}

FN_TEST(so_keepalive_probes_an_idle_connection)
{
    SH_SETUP_PAIR();
    int one = 1, idle = 2, intvl = 1;
    uint64_t probes0 = tnet_stats(t.sa).tcp_keepalive_probes;

    /* Off by default (RFC 1122 §4.2.3.6): 5 idle seconds send nothing. */
    sh_advance(&t, 5 * SEC, 100 * MS);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_keepalive_probes, probes0);
    FN_CHECK_EQ(fn_setsockopt(t.sa, c, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle)), 0);
    FN_CHECK_EQ(fn_setsockopt(t.sa, c, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl)), 0);
    FN_CHECK_EQ(fn_setsockopt(t.sa, c, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)), 0);
    /* 2 s idle: a probe, answered by B's ACK, and another every 2 s of silence. */
    sh_advance(&t, 5 * SEC, 100 * MS);
    FN_CHECK(tnet_stats(t.sa).tcp_keepalive_probes >= probes0 + 2);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_keepalive_drops, 0);
    FN_CHECK_EQ(fn_send(t.sa, c, "k", 1, 0), 1);        /* still connected */
    SH_TEARDOWN();
}

FN_TEST(accept_on_full_backlog_queues_backlog_plus_one)
{
    SH_SETUP();
    struct sockaddr_in b = sh_addr(IP_B, SH_PORT);
    int l = sh_listen(&t, 1), cs[3], done = 0, s;

    FN_CHECK(l >= 0);
    for (int i = 0; i < 3; i++) {
        cs[i] = sh_socket_nb(t.sa);
        FN_CHECK_EQ(fn_connect(t.sa, cs[i], SA(b), sizeof(b)), -1);
        FN_CHECK_EQ(errno, EINPROGRESS);
        sh_run(&t);             /* as on loopback, each handshake runs before the next SYN */
    }
    /* Linux: listen(1) lets two connections complete; the third SYN is dropped and the
     * client stays connecting (it retransmits).  Checked on this kernel over loopback with
     * three sequential non-blocking connects: 2 writable, 2 accepted. */
    for (int i = 0; i < 3; i++)
        done += (sh_mask(t.sa, cs[i]) & EPOLLOUT) != 0;
    FN_CHECK_EQ(done, 2);
    FN_CHECK(tnet_stats(t.sb).tcp_listen_overflow >= 1);
    FN_CHECK_EQ(sh_mask(t.sb, l), EPOLLIN);
    FN_CHECK((s = fn_accept(t.sb, l, NULL, NULL)) >= 0);
    FN_CHECK(fn_accept(t.sb, l, NULL, NULL) >= 0);
    FN_CHECK_EQ(fn_accept(t.sb, l, NULL, NULL), -1);
    FN_CHECK_EQ(errno, EAGAIN);
    FN_CHECK_EQ(sh_mask(t.sb, l), 0);
    /* Room again: the SYN retransmission (initial RTO 1 s) gets the third one in. */
    sh_advance(&t, 1100 * MS, 100 * MS);
    done = 0;
    for (int i = 0; i < 3; i++)
        done += (sh_mask(t.sa, cs[i]) & EPOLLOUT) != 0;
    FN_CHECK_EQ(done, 3);
    FN_CHECK(fn_accept(t.sb, l, NULL, NULL) >= 0);
    SH_TEARDOWN();
}

FN_TEST(listener_shutdown_rd_stops_listening)
{
    SH_SETUP();
    struct sockaddr_in b = sh_addr(IP_B, SH_PORT);
    int l = sh_listen(&t, 8), c = sh_socket_nb(t.sa);

    FN_CHECK(l >= 0 && c >= 0);
    /* Linux: SHUT_WR on a listener is a no-op; SHUT_RD stops it: connects are refused,
     * accept is EINVAL, listen() starts it again. */
    FN_CHECK_EQ(fn_shutdown(t.sb, l, SHUT_WR), 0);
    FN_CHECK_EQ(fn_shutdown(t.sb, l, SHUT_RD), 0);
    FN_CHECK_EQ(fn_connect(t.sa, c, SA(b), sizeof(b)), -1);
    sh_run(&t);
    FN_CHECK_EQ(sh_sockopt_int(t.sa, c, SOL_SOCKET, SO_ERROR), ECONNREFUSED);
    FN_CHECK_EQ(fn_accept(t.sb, l, NULL, NULL), -1);
    FN_CHECK_EQ(errno, EINVAL);
    FN_CHECK_EQ(fn_listen(t.sb, l, 8), 0);
    fn_close(t.sa, c);
    c = sh_socket_nb(t.sa);
    FN_CHECK_EQ(fn_connect(t.sa, c, SA(b), sizeof(b)), -1);
    sh_run(&t);
    FN_CHECK(fn_accept(t.sb, l, NULL, NULL) >= 0);
    SH_TEARDOWN();
}

FN_TEST(shutdown_while_connecting_abandons_and_connect_starts_over)
{
    SH_SETUP();
    struct sockaddr_in b = sh_addr(IP_B, SH_PORT);
    int l = sh_listen(&t, 8), c = sh_socket_nb(t.sa);

    FN_CHECK(l >= 0 && c >= 0);
    FN_CHECK_EQ(fn_connect(t.sa, c, SA(b), sizeof(b)), -1);
    /* Linux: shutdown in SYN_SENT disconnects (0); the next connect is EINPROGRESS. */
    FN_CHECK_EQ(fn_shutdown(t.sa, c, SHUT_RDWR), 0);
    FN_CHECK_EQ(fn_tcp_count(t.sa), 0);
    FN_CHECK_EQ(fn_connect(t.sa, c, SA(b), sizeof(b)), -1);
    FN_CHECK_EQ(errno, EINPROGRESS);
    sh_run(&t);
    FN_CHECK_EQ(fn_connect(t.sa, c, SA(b), sizeof(b)), 0);
    SH_TEARDOWN();
}

FN_TEST(msg_more_holds_a_short_tail_until_the_next_send)
{
    SH_SETUP_PAIR();
    int one = 1;
    uint64_t tx0;
    char buf[16];

    FN_CHECK_EQ(fn_setsockopt(t.sa, c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)), 0);
    FN_CHECK_EQ(sh_sockopt_int(t.sa, c, IPPROTO_TCP, TCP_NODELAY), 1);
    tx0 = tnet_stats(t.sa).tcp_tx;
    FN_CHECK_EQ(fn_send(t.sa, c, "head", 4, MSG_MORE), 4);
    sh_run(&t);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_tx, tx0);
    FN_CHECK_EQ(fn_recv(t.sb, s, buf, sizeof(buf), 0), -1);
    FN_CHECK_EQ(errno, EAGAIN);
    FN_CHECK_EQ(fn_send(t.sa, c, "tail", 4, 0), 4);
    sh_run(&t);
    /* One segment carries both. */
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_tx, tx0 + 1);
    FN_CHECK_EQ(fn_recv(t.sb, s, buf, sizeof(buf), 0), 8);
    FN_CHECK(memcmp(buf, "headtail", 8) == 0);
    /* No follow-up send: Linux lets the held tail go after ~200 ms (its probe timer; RTO
     * here, 200 ms min once measured).  Not at 100 ms, by 1 s. */
    sh_advance(&t, 100 * MS, 10 * MS);
    FN_CHECK_EQ(fn_send(t.sa, c, "solo", 4, MSG_MORE), 4);
    sh_advance(&t, 100 * MS, 10 * MS);
    FN_CHECK_EQ(fn_recv(t.sb, s, buf, sizeof(buf), 0), -1);
    FN_CHECK_EQ(errno, EAGAIN);
    sh_advance(&t, 900 * MS, 10 * MS);
    FN_CHECK_EQ(fn_recv(t.sb, s, buf, sizeof(buf), 0), 4);
    SH_TEARDOWN();
}

FN_TEST(tcp_info_and_maxseg_report_the_connection)
{
    SH_SETUP_PAIR();
    struct tcp_info ti;
    socklen_t len = sizeof(ti);
    int mss = 1000;

    FN_CHECK_EQ(fn_send(t.sa, c, "abc", 3, 0), 3);
    sh_run(&t);
    FN_CHECK_EQ(fn_getsockopt(t.sa, c, IPPROTO_TCP, TCP_INFO, &ti, &len), 0);
    FN_CHECK_EQ(ti.tcpi_unacked, 1);              /* B's ACK is delayed */
    sh_advance(&t, 100 * MS, 10 * MS);
    FN_CHECK_EQ(fn_getsockopt(t.sa, c, IPPROTO_TCP, TCP_INFO, &ti, &len), 0);
    FN_CHECK_EQ(len, sizeof(ti));
    FN_CHECK_EQ(ti.tcpi_state, TCP_ESTABLISHED);
    FN_CHECK_EQ(ti.tcpi_snd_mss, 1460 - 12);      /* timestamps on by default */
    FN_CHECK_EQ(ti.tcpi_rcv_mss, 1460 - 12);
    FN_CHECK_EQ(ti.tcpi_snd_cwnd, 10);            /* RFC 6928, in segments as Linux */
    FN_CHECK_EQ(ti.tcpi_snd_ssthresh, 0x7fffffff);
    FN_CHECK(ti.tcpi_rto >= 200000);              /* µs, at least the 200 ms floor */
    FN_CHECK_EQ(ti.tcpi_unacked, 0);
    FN_CHECK_EQ(ti.tcpi_retransmits, 0);
    FN_CHECK_EQ(ti.tcpi_total_retrans, 0);
    FN_CHECK(ti.tcpi_options & TCPI_OPT_TIMESTAMPS);
    /* Linux: TCP_MAXSEG reads the current MSS; a set below it lowers it. */
    FN_CHECK_EQ(sh_sockopt_int(t.sa, c, IPPROTO_TCP, TCP_MAXSEG), 1448);
    FN_CHECK_EQ(fn_setsockopt(t.sa, c, IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof(mss)), 0);
    FN_CHECK(sh_sockopt_int(t.sa, c, IPPROTO_TCP, TCP_MAXSEG) <= 1000);
    /* A short buffer gets the first bytes (Linux truncates). */
    len = 1;
    FN_CHECK_EQ(fn_getsockopt(t.sa, c, IPPROTO_TCP, TCP_INFO, &ti, &len), 0);
    FN_CHECK_EQ(len, 1);
    SH_TEARDOWN();
}

FN_TEST(blocking_recv_times_out_with_eagain)
{
    SH_SETUP_PAIR();
    struct timeval tv = {0, 50000};
    uint64_t t0;

    FN_CHECK_EQ(sh_go_blocking(&t, c), 0);
    FN_CHECK_EQ(fn_setsockopt(t.sa, c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
    t0 = fn_clock_ns();
    /* Linux: SO_RCVTIMEO expiring on a blocking recv is EAGAIN. */
    FN_CHECK_EQ(fn_recv(t.sa, c, (char[4]){0}, 4, 0), -1);
    FN_CHECK_EQ(errno, EAGAIN);
    FN_CHECK(fn_clock_ns() - t0 >= 50 * MS);
    /* MSG_DONTWAIT on a blocking socket does not wait. */
    t0 = fn_clock_ns();
    FN_CHECK_EQ(fn_recv(t.sa, c, (char[4]){0}, 4, MSG_DONTWAIT), -1);
    FN_CHECK_EQ(errno, EAGAIN);
    FN_CHECK(fn_clock_ns() - t0 < 20 * MS);
    /* Data already there: a blocking recv returns it at once; MSG_WAITALL waits for the
     * whole length. */
    FN_CHECK_EQ(fn_send(t.sb, s, "abc", 3, 0), 3);
    FN_CHECK_EQ(fn_recv(t.sa, c, (char[8]){0}, 3, MSG_WAITALL), 3);
    FN_CHECK_EQ(fn_send(t.sb, s, "hi", 2, 0), 2);
    FN_CHECK_EQ(fn_recv(t.sa, c, (char[4]){0}, 4, 0), 2);
    sh_end_blocking(&t);
    SH_TEARDOWN();
}

FN_TEST(descriptor_table_full_is_emfile_and_accept_leaves_connection_queued)
{
    SH_SETUP();
    int l = sh_listen(&t, 8), c, fds[16], n = 0, s;
    struct sockaddr_in b = sh_addr(IP_B, SH_PORT);

    FN_CHECK(l >= 0);
    c = sh_socket_nb(t.sa);
    FN_CHECK_EQ(fn_connect(t.sa, c, SA(b), sizeof(b)), -1);
    sh_run(&t);
    while ((fds[n] = sh_socket_nb(t.sb)) >= 0)
        n++;
    FN_CHECK_EQ(errno, EMFILE);
    FN_CHECK_EQ(n, 15);
    FN_CHECK_EQ(tnet_stats(t.sb).sock_table_full, 1);
    FN_CHECK_EQ(fn_epoll_create1(t.sb, 0), -1);
    FN_CHECK_EQ(errno, EMFILE);
    FN_CHECK_EQ(fn_accept(t.sb, l, NULL, NULL), -1);
    FN_CHECK_EQ(errno, EMFILE);
    FN_CHECK_EQ(tnet_stats(t.sb).sock_accept_table_full, 1);
    /* The lowest free descriptor is reused; the queued connection is still there. */
    FN_CHECK_EQ(fn_close(t.sb, fds[3]), 0);
    s = fn_accept(t.sb, l, NULL, NULL);
    FN_CHECK_EQ(s, fds[3]);
    FN_CHECK_EQ(fn_send(t.sa, c, "q", 1, 0), 1);
    sh_run(&t);
    FN_CHECK_EQ(fn_recv(t.sb, s, (char[4]){0}, 4, MSG_DONTWAIT), 1);
    SH_TEARDOWN();
}

/* SYNs to nobody give up fast: 2 retransmissions from a 100 ms RTO. */
static void fast_syn_timeout(struct fn_config *c)
{
    c->tcp_syn_retries = 2;
    c->tcp_rto_init_ms = 100;
    c->tcp_rto_min_ms = 100;
}

FN_TEST(connect_to_nobody_times_out_etimedout)
{
    SH_SETUP_CFG(fast_syn_timeout);
    struct sockaddr_in nobody = sh_addr(ip4(198, 18, 0, 3), 80);
    int c = sh_socket_nb(t.sa);

    FN_CHECK(c >= 0);
    FN_CHECK_EQ(fn_connect(t.sa, c, SA(nobody), sizeof(nobody)), -1);
    FN_CHECK_EQ(errno, EINPROGRESS);
    sh_advance(&t, 500 * MS, 50 * MS);
    FN_CHECK_EQ(sh_mask(t.sa, c), 0);               /* still trying */
    sh_advance(&t, 1000 * MS, 50 * MS);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_conn_timedout, 1);
    FN_CHECK_EQ(sh_mask(t.sa, c), EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLRDHUP);
    FN_CHECK_EQ(fn_connect(t.sa, c, SA(nobody), sizeof(nobody)), -1);
    FN_CHECK_EQ(errno, ETIMEDOUT);
    SH_TEARDOWN();
}

FN_TEST(blocking_connect_and_accept_time_out_as_linux)
{
    SH_SETUP();
    struct sockaddr_in nobody = sh_addr(ip4(198, 18, 0, 3), 80);
    struct timeval tv = {0, 50000};
    int c = fn_socket(t.sa, AF_INET, SOCK_STREAM, 0), l = fn_socket(t.sb, AF_INET, SOCK_STREAM, 0);
    uint64_t t0;

    FN_CHECK(c >= 0 && l >= 0);
    FN_CHECK_EQ(sh_go_blocking(&t, -1), 0);
    FN_CHECK_EQ(fn_setsockopt(t.sa, c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)), 0);
    t0 = fn_clock_ns();
    /* Linux's __inet_stream_connect: SO_SNDTIMEO running out leaves EINPROGRESS; the
     * attempt goes on (EALREADY). */
    FN_CHECK_EQ(fn_connect(t.sa, c, SA(nobody), sizeof(nobody)), -1);
    FN_CHECK_EQ(errno, EINPROGRESS);
    FN_CHECK(fn_clock_ns() - t0 >= 50 * MS);
    FN_CHECK_EQ(fn_connect(t.sa, c, SA(nobody), sizeof(nobody)), -1);
    FN_CHECK_EQ(errno, EALREADY);
    fn_socket_set_block_hook(t.sa, NULL, NULL);
    /* accept waits SO_RCVTIMEO, then EAGAIN. */
    FN_CHECK_EQ(fn_listen(t.sb, l, 4), 0);
    FN_CHECK_EQ(fn_setsockopt(t.sb, l, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
    t0 = fn_clock_ns();
    FN_CHECK_EQ(fn_accept(t.sb, l, NULL, NULL), -1);
    FN_CHECK_EQ(errno, EAGAIN);
    FN_CHECK(fn_clock_ns() - t0 >= 50 * MS);
    t.now = fn_clock_ns();
    SH_TEARDOWN();
}

FN_TEST(linger_close_waits_for_the_data_to_be_acknowledged)
{
    SH_SETUP_PAIR();
    struct linger lg = {1, 5};
    static char data[20000];
    int n;

    memset(data, 'd', sizeof(data));
    FN_CHECK_EQ(sh_go_blocking(&t, c), 0);
    FN_CHECK_EQ(fn_setsockopt(t.sa, c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
    FN_CHECK_EQ(fn_send(t.sa, c, data, sizeof(data), 0), (long)sizeof(data));
    /* The close returns once B acknowledged everything and our FIN: all of it is in B's
     * receive buffer, then EOF, and no RST went out. */
    FN_CHECK_EQ(fn_close(t.sa, c), 0);
    sh_end_blocking(&t);
    FN_CHECK_EQ(sh_read_all(t.sb, s, &n), sizeof(data));
    FN_CHECK_EQ(n, 0);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_rst_tx, 0);
    SH_TEARDOWN();
}

FN_TEST(blocking_send_waits_until_everything_is_queued)
{
    SH_SETUP_PAIR();
    static char data[200000];
    uint32_t got = 0;
    int n;

    /* More than the send buffer: the call waits for B's ACKs (B's stack runs in the hook,
     * nobody reads B's socket, so its 128 KiB window takes the rest). */
    memset(data, 'e', sizeof(data));
    FN_CHECK_EQ(sh_go_blocking(&t, c), 0);
    FN_CHECK_EQ(fn_send(t.sa, c, data, sizeof(data), 0), (long)sizeof(data));
    sh_end_blocking(&t);
    for (int i = 0; i < 200 && got < sizeof(data); i++) {
        got += sh_read_all(t.sb, s, &n);
        t.now += 10 * MS;
        sh_run(&t);
    }
    FN_CHECK_EQ(got, sizeof(data));
    SH_TEARDOWN();
}

FN_TEST(restarted_server_bind_eaddrinuse_during_time_wait_unless_reuseaddr)
{
    SH_SETUP_PAIR();
    struct sockaddr_in a = sh_addr(0, SH_PORT);
    int one = 1, x, y;

    /* B closes first (TIME_WAIT on B's port 8080), then A, then B's listener goes. */
    FN_CHECK_EQ(fn_close(t.sb, s), 0);
    sh_run(&t);
    FN_CHECK_EQ(fn_close(t.sa, c), 0);
    sh_run(&t);
    FN_CHECK_EQ(fn_close(t.sb, l), 0);
    FN_CHECK_EQ(fn_tcp_count(t.sb), 1);
    /* Linux: EADDRINUSE while the old connection lingers, fine with SO_REUSEADDR. */
    x = sh_socket_nb(t.sb);
    FN_CHECK_EQ(fn_bind(t.sb, x, SA(a), sizeof(a)), -1);
    FN_CHECK_EQ(errno, EADDRINUSE);
    y = sh_socket_nb(t.sb);
    FN_CHECK_EQ(fn_setsockopt(t.sb, y, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
    FN_CHECK_EQ(fn_bind(t.sb, y, SA(a), sizeof(a)), 0);
    FN_CHECK_EQ(fn_listen(t.sb, y, 4), 0);
    FN_CHECK_EQ(fn_close(t.sb, y), 0);
    /* TIME_WAIT over (2 * 100 ms here): the port is free for anyone. */
    sh_advance(&t, 300 * MS, 50 * MS);
    FN_CHECK_EQ(fn_tcp_count(t.sb), 0);
    FN_CHECK_EQ(fn_bind(t.sb, x, SA(a), sizeof(a)), 0);
    SH_TEARDOWN();
}

struct foreign_arg {
    struct fn_stack *st;
    int fd;
    int rc[4], err[4];
};

static void *foreign_thread(void *p)
{
    struct foreign_arg *a = p;
    struct epoll_event ev;

    a->rc[0] = fn_socket(a->st, AF_INET, SOCK_STREAM, 0);
    a->err[0] = errno;
    a->rc[1] = (int)fn_send(a->st, a->fd, "x", 1, 0);
    a->err[1] = errno;
    a->rc[2] = fn_close(a->st, a->fd);
    a->err[2] = errno;
    a->rc[3] = fn_epoll_wait(a->st, a->fd, &ev, 1, 0);
    a->err[3] = errno;
    return NULL;
}

FN_TEST(calls_from_another_thread_fail_eperm)
{
    SH_SETUP();
    struct foreign_arg a = {.st = t.sa};
    pthread_t th;

    a.fd = sh_socket_nb(t.sa);
    FN_CHECK(a.fd >= 0);
    FN_CHECK_EQ(pthread_create(&th, NULL, foreign_thread, &a), 0);
    FN_CHECK_EQ(pthread_join(th, NULL), 0);
    for (int i = 0; i < 4; i++) {
        FN_CHECK_EQ(a.rc[i], -1);
        FN_CHECK_EQ(a.err[i], EPERM);
    }
    /* Nothing changed: still one descriptor, still open. */
    FN_CHECK_EQ(fn_socket_count(t.sa), 1);
    FN_CHECK_EQ(fn_close(t.sa, a.fd), 0);
    SH_TEARDOWN();
}

FN_TEST_MAIN()
