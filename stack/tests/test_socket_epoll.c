/*
 * test_socket_epoll.c — fn_epoll_* with Linux's semantics over two stacks on the memory
 * link: level-triggered reports while ready, EPOLLET once per new edge (even when the
 * previous one was not consumed), EPOLLONESHOT until EPOLL_CTL_MOD, EPOLLRDHUP on
 * half-close, EPOLLOUT edges after a full send buffer, registrations dropped on close,
 * the ctl/wait errors, and a wait with a timeout driving the stack on the real clock.
 * Expected values are what the Linux kernel reported for the same steps on loopback.
 */
#include "sock_harness.h"

/* Register fd on ep with events and data = fd. */
static int reg(struct fn_stack *st, int ep, int op, int fd, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.u64 = (uint64_t)fd};

    return fn_epoll_ctl(st, ep, op, fd, &ev);
}

/* One wait with timeout 0: the events of the single report, 0 if none, ~0 if several. */
static uint32_t wait1(struct fn_stack *st, int ep)
{
    struct epoll_event ev[4];
    int n = fn_epoll_wait(st, ep, ev, 4, 0);

    if (n == 0)
        return 0;
    return n == 1 ? ev[0].events : ~0u;
}

FN_TEST(level_triggered_reports_while_ready)
{
    SH_SETUP_PAIR();
    int ep = fn_epoll_create1(t.sa, 0);
    struct epoll_event ev[4];
    char buf[16];

    FN_CHECK(ep >= 0);
    FN_CHECK_EQ(reg(t.sa, ep, EPOLL_CTL_ADD, c, EPOLLIN), 0);
    FN_CHECK_EQ(wait1(t.sa, ep), 0);
    FN_CHECK_EQ(fn_send(t.sb, s, "abcd", 4, 0), 4);
    sh_run(&t);
    FN_CHECK_EQ(fn_epoll_wait(t.sa, ep, ev, 4, 0), 1);
    FN_CHECK_EQ(ev[0].events, EPOLLIN);
    FN_CHECK_EQ(ev[0].data.u64, (uint64_t)c);
    FN_CHECK_EQ(wait1(t.sa, ep), EPOLLIN);          /* still unread: again */
    FN_CHECK_EQ(fn_recv(t.sa, c, buf, 2, 0), 2);
    FN_CHECK_EQ(wait1(t.sa, ep), EPOLLIN);
    FN_CHECK_EQ(fn_recv(t.sa, c, buf, sizeof(buf), 0), 2);
    FN_CHECK_EQ(wait1(t.sa, ep), 0);
    SH_TEARDOWN();
}

FN_TEST(edge_triggered_reports_once_per_edge)
{
    SH_SETUP_PAIR();
    int ep = fn_epoll_create1(t.sa, 0), ep2 = fn_epoll_create1(t.sa, 0), one = 1;

    FN_CHECK(ep >= 0 && ep2 >= 0);
    /* B sends each byte at once (no Nagle hold while the first is unacknowledged). */
    FN_CHECK_EQ(fn_setsockopt(t.sb, s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)), 0);
    /* Linux: ET IN on an idle connection: nothing; one segment: one report; a second
     * segment while the first is unread is a new edge: one more report. */
    FN_CHECK_EQ(reg(t.sa, ep, EPOLL_CTL_ADD, c, EPOLLIN | EPOLLET), 0);
    FN_CHECK_EQ(wait1(t.sa, ep), 0);
    FN_CHECK_EQ(fn_send(t.sb, s, "a", 1, 0), 1);
    sh_run(&t);
    FN_CHECK_EQ(wait1(t.sa, ep), EPOLLIN);
    FN_CHECK_EQ(wait1(t.sa, ep), 0);
    FN_CHECK_EQ(fn_send(t.sb, s, "b", 1, 0), 1);
    sh_run(&t);
    FN_CHECK_EQ(wait1(t.sa, ep), EPOLLIN);
    FN_CHECK_EQ(wait1(t.sa, ep), 0);
    /* Linux: ET IN|OUT added while readable and writable: one report of both (0x5),
     * and new data reports both again. */
    FN_CHECK_EQ(reg(t.sa, ep2, EPOLL_CTL_ADD, c, EPOLLIN | EPOLLOUT | EPOLLET), 0);
    FN_CHECK_EQ(wait1(t.sa, ep2), EPOLLIN | EPOLLOUT);
    FN_CHECK_EQ(wait1(t.sa, ep2), 0);
    FN_CHECK_EQ(fn_send(t.sb, s, "c", 1, 0), 1);
    sh_run(&t);
    FN_CHECK_EQ(wait1(t.sa, ep2), EPOLLIN | EPOLLOUT);
    FN_CHECK_EQ(wait1(t.sa, ep2), 0);
    FN_CHECK_EQ(wait1(t.sa, ep), EPOLLIN);
    SH_TEARDOWN();
}

FN_TEST(oneshot_disables_until_mod)
{
    SH_SETUP_PAIR();
    int ep = fn_epoll_create1(t.sa, 0);

    FN_CHECK(ep >= 0);
    FN_CHECK_EQ(fn_send(t.sb, s, "a", 1, 0), 1);
    sh_run(&t);
    /* Linux: one report, then silence; MOD re-arms (still readable: reported); new data
     * while disabled: nothing. */
    FN_CHECK_EQ(reg(t.sa, ep, EPOLL_CTL_ADD, c, EPOLLIN | EPOLLONESHOT), 0);
    FN_CHECK_EQ(wait1(t.sa, ep), EPOLLIN);
    FN_CHECK_EQ(wait1(t.sa, ep), 0);
    FN_CHECK_EQ(reg(t.sa, ep, EPOLL_CTL_MOD, c, EPOLLIN | EPOLLONESHOT), 0);
    FN_CHECK_EQ(wait1(t.sa, ep), EPOLLIN);
    FN_CHECK_EQ(fn_send(t.sb, s, "b", 1, 0), 1);
    sh_run(&t);
    FN_CHECK_EQ(wait1(t.sa, ep), 0);
    SH_TEARDOWN();
}

FN_TEST(rdhup_on_half_close_and_hup_when_both_shut)
{
    SH_SETUP_PAIR();
    int ep = fn_epoll_create1(t.sa, 0);

    FN_CHECK(ep >= 0);
    FN_CHECK_EQ(reg(t.sa, ep, EPOLL_CTL_ADD, c, EPOLLIN | EPOLLRDHUP | EPOLLET), 0);
    FN_CHECK_EQ(wait1(t.sa, ep), 0);
    FN_CHECK_EQ(fn_shutdown(t.sb, s, SHUT_WR), 0);
    sh_run(&t);
    FN_CHECK_EQ(wait1(t.sa, ep), EPOLLIN | EPOLLRDHUP);
    FN_CHECK_EQ(wait1(t.sa, ep), 0);
    /* Our own shutdown is a state change too: HUP joins (always reported). */
    FN_CHECK_EQ(fn_shutdown(t.sa, c, SHUT_WR), 0);
    FN_CHECK_EQ(wait1(t.sa, ep), EPOLLIN | EPOLLRDHUP | EPOLLHUP);
    SH_TEARDOWN();
}

FN_TEST(listener_and_connecting_socket_edges)
{
    SH_SETUP();
    struct sockaddr_in b = sh_addr(IP_B, SH_PORT);
    int l = sh_listen(&t, 8), c = sh_socket_nb(t.sa);
    int epa = fn_epoll_create1(t.sa, 0), epb = fn_epoll_create1(t.sb, 0);

    FN_CHECK(l >= 0 && c >= 0 && epa >= 0 && epb >= 0);
    /* Linux: a fresh socket is OUT|HUP (0x14). */
    FN_CHECK_EQ(reg(t.sa, epa, EPOLL_CTL_ADD, c, EPOLLIN | EPOLLOUT | EPOLLET), 0);
    FN_CHECK_EQ(wait1(t.sa, epa), EPOLLOUT | EPOLLHUP);
    FN_CHECK_EQ(reg(t.sb, epb, EPOLL_CTL_ADD, l, EPOLLIN), 0);
    FN_CHECK_EQ(wait1(t.sb, epb), 0);
    FN_CHECK_EQ(fn_connect(t.sa, c, SA(b), sizeof(b)), -1);
    FN_CHECK_EQ(wait1(t.sa, epa), 0);
    sh_run(&t);
    FN_CHECK_EQ(wait1(t.sa, epa), EPOLLOUT);        /* connected: an edge */
    FN_CHECK_EQ(wait1(t.sa, epa), 0);
    FN_CHECK_EQ(wait1(t.sb, epb), EPOLLIN);
    FN_CHECK(fn_accept(t.sb, l, NULL, NULL) >= 0);
    FN_CHECK_EQ(wait1(t.sb, epb), 0);
    SH_TEARDOWN();
}

FN_TEST(edge_triggered_out_after_a_full_send_buffer)
{
    SH_SETUP_PAIR();
    int ep = fn_epoll_create1(t.sa, 0), small = 4096, n = 0;
    static char chunk[1024];
    char sink[8192];

    FN_CHECK(ep >= 0);
    FN_CHECK_EQ(fn_setsockopt(t.sa, c, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
    FN_CHECK_EQ(sh_sockopt_int(t.sa, c, SOL_SOCKET, SO_SNDBUF), 8192);  /* doubled */
    FN_CHECK_EQ(reg(t.sa, ep, EPOLL_CTL_ADD, c, EPOLLOUT | EPOLLET), 0);
    FN_CHECK_EQ(wait1(t.sa, ep), EPOLLOUT);
    while (fn_send(t.sa, c, chunk, sizeof(chunk), 0) > 0)
        n++;
    FN_CHECK_EQ(errno, EAGAIN);
    FN_CHECK_EQ(n, 8);                              /* SO_SNDBUF bounds what is queued */
    FN_CHECK_EQ(wait1(t.sa, ep), 0);
    /* The peer acknowledges: room again is one edge. */
    sh_advance(&t, 100 * MS, 10 * MS);
    FN_CHECK_EQ(wait1(t.sa, ep), EPOLLOUT);
    FN_CHECK_EQ(wait1(t.sa, ep), 0);
    FN_CHECK_EQ(fn_recv(t.sb, s, sink, sizeof(sink), 0), 8192);
    SH_TEARDOWN();
}

/* The peer half-closed (we are in CLOSE_WAIT, RFC 9293 §3.10.4: SEND is still allowed):
 * room freed by its ACKs must still wake a writer, or an echo server's last bytes to a
 * `nc -N` client stay queued for ever.  Linux reports EPOLLOUT here as in ESTABLISHED. */
FN_TEST(out_after_a_full_send_buffer_in_close_wait)
{
    SH_SETUP_PAIR();
    int ep = fn_epoll_create1(t.sa, 0), small = 4096;
    static char chunk[1024];
    char sink[8192];

    FN_CHECK(ep >= 0);
    FN_CHECK_EQ(fn_shutdown(t.sb, s, SHUT_WR), 0);
    sh_run(&t);
    FN_CHECK_EQ(fn_recv(t.sa, c, sink, sizeof(sink), 0), 0);       /* the peer's FIN */
    FN_CHECK_EQ(fn_setsockopt(t.sa, c, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
    FN_CHECK_EQ(reg(t.sa, ep, EPOLL_CTL_ADD, c, EPOLLOUT), 0);
    while (fn_send(t.sa, c, chunk, sizeof(chunk), 0) > 0)
        ;
    FN_CHECK_EQ(errno, EAGAIN);
    FN_CHECK_EQ(wait1(t.sa, ep), 0);
    sh_advance(&t, 100 * MS, 10 * MS);
    FN_CHECK_EQ(wait1(t.sa, ep), EPOLLOUT);
    FN_CHECK_EQ(fn_recv(t.sb, s, sink, sizeof(sink), 0), 8192);
    SH_TEARDOWN();
}

FN_TEST(close_drops_registrations)
{
    SH_SETUP_PAIR();
    int ep = fn_epoll_create1(t.sa, 0), c2;

    FN_CHECK(ep >= 0);
    FN_CHECK_EQ(fn_send(t.sb, s, "a", 1, 0), 1);
    sh_run(&t);
    FN_CHECK_EQ(reg(t.sa, ep, EPOLL_CTL_ADD, c, EPOLLIN), 0);
    FN_CHECK_EQ(fn_close(t.sa, c), 0);
    FN_CHECK_EQ(wait1(t.sa, ep), 0);
    /* The number comes back for a new socket, unregistered. */
    c2 = sh_socket_nb(t.sa);
    FN_CHECK_EQ(c2, c);
    FN_CHECK_EQ(reg(t.sa, ep, EPOLL_CTL_DEL, c2, 0), -1);
    FN_CHECK_EQ(errno, ENOENT);
    /* Closing the epoll instance frees its registrations too (the pool is reusable). */
    FN_CHECK_EQ(reg(t.sa, ep, EPOLL_CTL_ADD, c2, EPOLLOUT), 0);
    FN_CHECK_EQ(fn_close(t.sa, ep), 0);
    ep = fn_epoll_create(t.sa, 1);
    FN_CHECK_EQ(reg(t.sa, ep, EPOLL_CTL_ADD, c2, EPOLLOUT), 0);
    FN_CHECK_EQ(wait1(t.sa, ep), EPOLLOUT | EPOLLHUP);
    SH_TEARDOWN();
}

FN_TEST(ctl_and_wait_errors_as_linux)
{
    SH_SETUP();
    int ep = fn_epoll_create1(t.sa, 0), ep2 = fn_epoll_create1(t.sa, 0), so = sh_socket_nb(t.sa);
    struct epoll_event ev = {.events = EPOLLIN};

    FN_CHECK(ep >= 0 && ep2 >= 0 && so >= 0);
    /* Linux: EEXIST, ENOENT for MOD and DEL, EINVAL for epfd == fd (observed). */
    FN_CHECK_EQ(reg(t.sa, ep, EPOLL_CTL_ADD, so, EPOLLIN), 0);
    FN_CHECK_EQ(reg(t.sa, ep, EPOLL_CTL_ADD, so, EPOLLIN), -1);
    FN_CHECK_EQ(errno, EEXIST);
    FN_CHECK_EQ(reg(t.sa, ep2, EPOLL_CTL_MOD, so, EPOLLIN), -1);
    FN_CHECK_EQ(errno, ENOENT);
    FN_CHECK_EQ(reg(t.sa, ep2, EPOLL_CTL_DEL, so, 0), -1);
    FN_CHECK_EQ(errno, ENOENT);
    FN_CHECK_EQ(reg(t.sa, ep, EPOLL_CTL_ADD, ep, EPOLLIN), -1);
    FN_CHECK_EQ(errno, EINVAL);
    /* epoll(7): EBADF for a bad fd, EINVAL when epfd is not an epoll instance or op is
     * unknown, EFAULT for a missing event, EINVAL for EPOLLEXCLUSIVE with MOD. */
    FN_CHECK_EQ(reg(t.sa, ep, EPOLL_CTL_ADD, 99, EPOLLIN), -1);
    FN_CHECK_EQ(errno, EBADF);
    FN_CHECK_EQ(reg(t.sa, -1, EPOLL_CTL_ADD, so, EPOLLIN), -1);
    FN_CHECK_EQ(errno, EBADF);
    FN_CHECK_EQ(reg(t.sa, so, EPOLL_CTL_ADD, so, EPOLLIN), -1);
    FN_CHECK_EQ(errno, EINVAL);
    FN_CHECK_EQ(reg(t.sa, ep, 42, so, EPOLLIN), -1);
    FN_CHECK_EQ(errno, EINVAL);
    FN_CHECK_EQ(fn_epoll_ctl(t.sa, ep, EPOLL_CTL_MOD, so, NULL), -1);
    FN_CHECK_EQ(errno, EFAULT);
    FN_CHECK_EQ(reg(t.sa, ep, EPOLL_CTL_MOD, so, EPOLLIN | EPOLLEXCLUSIVE), -1);
    FN_CHECK_EQ(errno, EINVAL);
    /* Nesting is not supported here (Linux allows it): EPERM. */
    FN_CHECK_EQ(reg(t.sa, ep, EPOLL_CTL_ADD, ep2, EPOLLIN), -1);
    FN_CHECK_EQ(errno, EPERM);
    FN_CHECK_EQ(fn_epoll_wait(t.sa, ep, &ev, 0, 0), -1);
    FN_CHECK_EQ(errno, EINVAL);
    FN_CHECK_EQ(fn_epoll_wait(t.sa, ep, NULL, 1, 0), -1);
    FN_CHECK_EQ(errno, EFAULT);
    FN_CHECK_EQ(fn_epoll_wait(t.sa, so, &ev, 1, 0), -1);
    FN_CHECK_EQ(errno, EINVAL);
    FN_CHECK_EQ(fn_epoll_create(t.sa, 0), -1);
    FN_CHECK_EQ(errno, EINVAL);
    FN_CHECK_EQ(fn_epoll_create1(t.sa, 1), -1);
    FN_CHECK_EQ(errno, EINVAL);
    /* An epoll descriptor is not a socket. */
    FN_CHECK_EQ(fn_send(t.sa, ep, "x", 1, 0), -1);
    FN_CHECK_EQ(errno, ENOTSOCK);
    SH_TEARDOWN();
}

FN_TEST(registration_pool_exhaustion_is_enospc_and_counted)
{
    SH_SETUP();
    int ep[5], so[8];

    /* 16 descriptors → a pool of 32 registrations: 4 sets × 8 sockets take it all. */
    for (int i = 0; i < 8; i++)
        FN_CHECK((so[i] = sh_socket_nb(t.sa)) >= 0);
    for (int e = 0; e < 5; e++)
        FN_CHECK((ep[e] = fn_epoll_create1(t.sa, 0)) >= 0);
    for (int e = 0; e < 4; e++)
        for (int i = 0; i < 8; i++)
            FN_CHECK_EQ(reg(t.sa, ep[e], EPOLL_CTL_ADD, so[i], EPOLLIN), 0);
    FN_CHECK_EQ(reg(t.sa, ep[4], EPOLL_CTL_ADD, so[0], EPOLLIN), -1);
    FN_CHECK_EQ(errno, ENOSPC);
    FN_CHECK_EQ(tnet_stats(t.sa).sock_epoll_items_full, 1);
    /* Deleting one gives it back. */
    FN_CHECK_EQ(reg(t.sa, ep[0], EPOLL_CTL_DEL, so[0], 0), 0);
    FN_CHECK_EQ(reg(t.sa, ep[4], EPOLL_CTL_ADD, so[0], EPOLLIN), 0);
    SH_TEARDOWN();
}

FN_TEST(wait_with_timeout_drives_the_stack)
{
    SH_SETUP_PAIR();
    int ep = fn_epoll_create1(t.sa, 0);
    struct epoll_event ev;
    uint64_t t0;

    FN_CHECK(ep >= 0);
    FN_CHECK_EQ(sh_go_blocking(&t, -1), 0);
    FN_CHECK_EQ(reg(t.sa, ep, EPOLL_CTL_ADD, c, EPOLLIN), 0);
    t0 = fn_clock_ns();
    FN_CHECK_EQ(fn_epoll_wait(t.sa, ep, &ev, 1, 30), 0);
    FN_CHECK(fn_clock_ns() - t0 >= 30 * MS);
    /* B's data leaves on B's next poll (the hook), A's wait polls A: well before 1 s. */
    FN_CHECK_EQ(fn_send(t.sb, s, "hi", 2, 0), 2);
    t0 = fn_clock_ns();
    FN_CHECK_EQ(fn_epoll_wait(t.sa, ep, &ev, 1, 1000), 1);
    FN_CHECK_EQ(ev.events, EPOLLIN);
    FN_CHECK(fn_clock_ns() - t0 < 500 * MS);
    sh_end_blocking(&t);
    SH_TEARDOWN();
}

FN_TEST(wait_with_timeout_runs_the_stack_even_when_something_is_ready)
{
    SH_SETUP_PAIR();
    int ep = fn_epoll_create1(t.sa, 0), r = -1;
    struct epoll_event ev;
    char buf[4];

    FN_CHECK(ep >= 0);
    FN_CHECK_EQ(sh_go_blocking(&t, -1), 0);
    /* Always writable, so every wait has a report at once — and must still have polled
     * the stack, or B's data would never arrive in a loop made only of waits. */
    FN_CHECK_EQ(reg(t.sa, ep, EPOLL_CTL_ADD, c, EPOLLOUT), 0);
    FN_CHECK_EQ(fn_send(t.sb, s, "hi", 2, 0), 2);
    for (int i = 0; i < 100 && r < 0; i++) {
        FN_CHECK_EQ(fn_epoll_wait(t.sa, ep, &ev, 1, 10), 1);
        FN_CHECK_EQ(ev.events, EPOLLOUT);
        fn_stack_poll(t.sb, fn_clock_ns());
        r = (int)fn_recv(t.sa, c, buf, sizeof(buf), 0);
    }
    FN_CHECK_EQ(r, 2);
    sh_end_blocking(&t);
    SH_TEARDOWN();
}

FN_TEST_MAIN()
