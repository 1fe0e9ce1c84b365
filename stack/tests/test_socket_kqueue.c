/*
 * test_socket_kqueue.c — fn_kqueue / fn_kevent with FreeBSD's semantics over two stacks on
 * the memory link: READ/WRITE filters with byte counts in data, EV_EOF (and the socket
 * error in fflags) on half-close and reset, level-triggered by default, EV_CLEAR edges,
 * EV_ONESHOT and EV_DISPATCH, errors reported in the eventlist or as errno, per kevent(2).
 */
#include "sock_harness.h"

static struct fn_kevent kev(int fd, int16_t filter, uint16_t flags, uintptr_t udata)
{
    struct fn_kevent k;

    memset(&k, 0, sizeof(k));
    k.ident = (uintptr_t)fd;
    k.filter = filter;
    k.flags = flags;
    k.udata = (void *)udata;
    return k;
}

static const struct timespec ZERO = {0, 0};

/* Apply one change (no events asked for): 0 or -1 with errno. */
static int kchange(struct fn_stack *st, int kq, int fd, int16_t filter, uint16_t flags)
{
    struct fn_kevent k = kev(fd, filter, flags, (uintptr_t)(fd * 10 + (filter == FN_EVFILT_READ)));

    return fn_kevent(st, kq, &k, 1, NULL, 0, &ZERO);
}

/* The report for (fd, filter) in one poll of kq, or a zeroed event if none. */
static struct fn_kevent kfind(struct fn_stack *st, int kq, int fd, int16_t filter, int *total)
{
    struct fn_kevent out[8], none;
    int n = fn_kevent(st, kq, NULL, 0, out, 8, &ZERO);

    memset(&none, 0, sizeof(none));
    *total = n;
    for (int i = 0; i < n; i++)
        if ((int)out[i].ident == fd && out[i].filter == filter)
            return out[i];
    return none;
}

FN_TEST(read_write_filters_report_byte_counts_and_eof)
{
    SH_SETUP_PAIR();
    int kq = fn_kqueue(t.sa), n;
    struct fn_kevent e;
    char buf[8];

    FN_CHECK(kq >= 0);
    FN_CHECK_EQ(kchange(t.sa, kq, c, FN_EVFILT_READ, FN_EV_ADD), 0);
    FN_CHECK_EQ(kchange(t.sa, kq, c, FN_EVFILT_WRITE, FN_EV_ADD), 0);
    e = kfind(t.sa, kq, c, FN_EVFILT_WRITE, &n);
    FN_CHECK_EQ(n, 1);                              /* writable, nothing to read */
    FN_CHECK_EQ(e.data, 131072);                    /* the whole send buffer is free */
    FN_CHECK_EQ((uintptr_t)e.udata, (uintptr_t)(c * 10));
    FN_CHECK_EQ(fn_send(t.sb, s, "hello", 5, 0), 5);
    sh_run(&t);
    e = kfind(t.sa, kq, c, FN_EVFILT_READ, &n);
    FN_CHECK_EQ(n, 2);
    FN_CHECK_EQ(e.data, 5);
    FN_CHECK_EQ(e.flags & FN_EV_EOF, 0);
    FN_CHECK_EQ((uintptr_t)e.udata, (uintptr_t)(c * 10 + 1));
    /* Level-triggered: again while unread; gone once read. */
    e = kfind(t.sa, kq, c, FN_EVFILT_READ, &n);
    FN_CHECK_EQ(e.data, 5);
    FN_CHECK_EQ(fn_recv(t.sa, c, buf, sizeof(buf), 0), 5);
    e = kfind(t.sa, kq, c, FN_EVFILT_READ, &n);
    FN_CHECK_EQ(e.filter, 0);
    FN_CHECK_EQ(n, 1);
    /* The peer's FIN: READ with EV_EOF, data 0, no error. */
    FN_CHECK_EQ(fn_shutdown(t.sb, s, SHUT_WR), 0);
    sh_run(&t);
    e = kfind(t.sa, kq, c, FN_EVFILT_READ, &n);
    FN_CHECK_EQ(e.filter, FN_EVFILT_READ);
    FN_CHECK(e.flags & FN_EV_EOF);
    FN_CHECK_EQ(e.data, 0);
    FN_CHECK_EQ(e.fflags, 0);
    /* A reset: both filters EOF, the error in fflags. */
    FN_CHECK_EQ(sh_abort(t.sb, s), 0);
    sh_run(&t);
    e = kfind(t.sa, kq, c, FN_EVFILT_WRITE, &n);
    FN_CHECK(e.flags & FN_EV_EOF);
    FN_CHECK_EQ(e.fflags, EPIPE);                   /* reset in CLOSE_WAIT (Linux: EPIPE) */
    SH_TEARDOWN();
}

FN_TEST(clear_oneshot_and_dispatch)
{
    SH_SETUP_PAIR();
    int kq = fn_kqueue(t.sa), one = 1, n;
    struct fn_kevent e, out[2];

    FN_CHECK(kq >= 0);
    FN_CHECK_EQ(fn_setsockopt(t.sb, s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)), 0);
    /* EV_CLEAR: one report per new segment, even unread. */
    FN_CHECK_EQ(kchange(t.sa, kq, c, FN_EVFILT_READ, FN_EV_ADD | FN_EV_CLEAR), 0);
    FN_CHECK_EQ(fn_send(t.sb, s, "a", 1, 0), 1);
    sh_run(&t);
    e = kfind(t.sa, kq, c, FN_EVFILT_READ, &n);
    FN_CHECK_EQ(e.data, 1);
    kfind(t.sa, kq, c, FN_EVFILT_READ, &n);
    FN_CHECK_EQ(n, 0);
    FN_CHECK_EQ(fn_send(t.sb, s, "b", 1, 0), 1);
    sh_run(&t);
    e = kfind(t.sa, kq, c, FN_EVFILT_READ, &n);
    FN_CHECK_EQ(e.data, 2);
    /* EV_DISPATCH: one report, then disabled until EV_ENABLE. */
    FN_CHECK_EQ(kchange(t.sa, kq, c, FN_EVFILT_READ, FN_EV_ADD | FN_EV_DISPATCH), 0);
    kfind(t.sa, kq, c, FN_EVFILT_READ, &n);
    FN_CHECK_EQ(n, 1);
    kfind(t.sa, kq, c, FN_EVFILT_READ, &n);
    FN_CHECK_EQ(n, 0);
    FN_CHECK_EQ(kchange(t.sa, kq, c, FN_EVFILT_READ, FN_EV_ENABLE), 0);
    kfind(t.sa, kq, c, FN_EVFILT_READ, &n);
    FN_CHECK_EQ(n, 1);
    /* EV_ONESHOT: one report, then the registration is gone (DELETE: ENOENT). */
    FN_CHECK_EQ(kchange(t.sa, kq, c, FN_EVFILT_WRITE, FN_EV_ADD | FN_EV_ONESHOT), 0);
    FN_CHECK_EQ(fn_kevent(t.sa, kq, NULL, 0, out, 2, &ZERO), 1);
    FN_CHECK_EQ(out[0].filter, FN_EVFILT_WRITE);
    FN_CHECK_EQ(kchange(t.sa, kq, c, FN_EVFILT_WRITE, FN_EV_DELETE), -1);
    FN_CHECK_EQ(errno, ENOENT);
    /* EV_DISABLE silences a registration that would report. */
    FN_CHECK_EQ(kchange(t.sa, kq, c, FN_EVFILT_READ, FN_EV_DISABLE), 0);
    kfind(t.sa, kq, c, FN_EVFILT_READ, &n);
    FN_CHECK_EQ(n, 0);
    SH_TEARDOWN();
}

FN_TEST(listener_read_counts_waiting_connections)
{
    SH_SETUP();
    struct sockaddr_in b = sh_addr(IP_B, SH_PORT);
    int l = sh_listen(&t, 8), kq = fn_kqueue(t.sb), n;
    struct fn_kevent e;

    FN_CHECK(l >= 0 && kq >= 0);
    FN_CHECK_EQ(kchange(t.sb, kq, l, FN_EVFILT_READ, FN_EV_ADD), 0);
    for (int i = 0; i < 2; i++) {
        int c = sh_socket_nb(t.sa);
        FN_CHECK_EQ(fn_connect(t.sa, c, SA(b), sizeof(b)), -1);
    }
    sh_run(&t);
    e = kfind(t.sb, kq, l, FN_EVFILT_READ, &n);
    FN_CHECK_EQ(e.data, 2);
    FN_CHECK_EQ(e.flags & FN_EV_EOF, 0);
    SH_TEARDOWN();
}

FN_TEST(kevent_errors_as_kevent_2)
{
    SH_SETUP();
    int kq = fn_kqueue(t.sa), so = sh_socket_nb(t.sa), ep = fn_epoll_create1(t.sa, 0);
    struct fn_kevent ch[2] = {kev(99, FN_EVFILT_READ, FN_EV_ADD, 0),
                              kev(so, FN_EVFILT_READ, FN_EV_ADD | FN_EV_RECEIPT, 0)};
    struct fn_kevent out[4], bad = kev(so, 7, FN_EV_ADD, 0);
    struct timespec neg = {0, -1};
    struct epoll_event ev = {.events = EPOLLIN};

    FN_CHECK(kq >= 0 && so >= 0 && ep >= 0);
    /* Room in the eventlist: each failed change (and each EV_RECEIPT) is an EV_ERROR
     * event with data = errno, and the call succeeds. */
    FN_CHECK_EQ(fn_kevent(t.sa, kq, ch, 2, out, 4, &ZERO), 2);
    FN_CHECK_EQ(out[0].flags, FN_EV_ERROR);
    FN_CHECK_EQ(out[0].data, EBADF);
    FN_CHECK_EQ(out[1].flags, FN_EV_ERROR);
    FN_CHECK_EQ(out[1].data, 0);
    /* No room: the call fails with the errno. */
    FN_CHECK_EQ(fn_kevent(t.sa, kq, &bad, 1, NULL, 0, &ZERO), -1);
    FN_CHECK_EQ(errno, EINVAL);
    FN_CHECK_EQ(kchange(t.sa, kq, so, FN_EVFILT_WRITE, FN_EV_DELETE), -1);
    FN_CHECK_EQ(errno, ENOENT);
    FN_CHECK_EQ(fn_kevent(t.sa, so, NULL, 0, out, 4, &ZERO), -1);
    FN_CHECK_EQ(errno, EINVAL);
    FN_CHECK_EQ(fn_kevent(t.sa, kq, NULL, 0, out, 4, &neg), -1);
    FN_CHECK_EQ(errno, EINVAL);
    FN_CHECK_EQ(fn_kevent(t.sa, kq, NULL, 1, out, 4, &ZERO), -1);
    FN_CHECK_EQ(errno, EFAULT);
    FN_CHECK_EQ(fn_kevent(t.sa, 77, NULL, 0, out, 4, &ZERO), -1);
    FN_CHECK_EQ(errno, EBADF);
    /* A kqueue is neither a socket nor an epoll set. */
    FN_CHECK_EQ(fn_epoll_ctl(t.sa, ep, EPOLL_CTL_ADD, kq, &ev), -1);
    FN_CHECK_EQ(errno, EPERM);
    FN_CHECK_EQ(fn_epoll_wait(t.sa, kq, &ev, 1, 0), -1);
    FN_CHECK_EQ(errno, EINVAL);
    FN_CHECK_EQ(fn_send(t.sa, kq, "x", 1, 0), -1);
    FN_CHECK_EQ(errno, ENOTSOCK);
    SH_TEARDOWN();
}

FN_TEST(kevent_with_timeout_drives_the_stack)
{
    SH_SETUP_PAIR();
    int kq = fn_kqueue(t.sa);
    struct fn_kevent out[2];
    struct timespec ts = {1, 0}, short_ts = {0, 20000000};
    uint64_t t0;

    FN_CHECK(kq >= 0);
    FN_CHECK_EQ(sh_go_blocking(&t, -1), 0);
    FN_CHECK_EQ(kchange(t.sa, kq, c, FN_EVFILT_READ, FN_EV_ADD), 0);
    t0 = fn_clock_ns();
    FN_CHECK_EQ(fn_kevent(t.sa, kq, NULL, 0, out, 2, &short_ts), 0);
    FN_CHECK(fn_clock_ns() - t0 >= 20 * MS);
    FN_CHECK_EQ(fn_send(t.sb, s, "xyz", 3, 0), 3);
    FN_CHECK_EQ(fn_kevent(t.sa, kq, NULL, 0, out, 2, &ts), 1);
    FN_CHECK_EQ(out[0].data, 3);
    sh_end_blocking(&t);
    SH_TEARDOWN();
}

FN_TEST_MAIN()
