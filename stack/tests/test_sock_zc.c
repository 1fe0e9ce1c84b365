/*
 * test_sock_zc.c — zero-copy receive and send through the socket API (fn_zc_* in
 * fn_socket.h): borrowed views hold exactly the bytes received, leave FIONREAD and EPOLLIN
 * at once, keep the receive window closed by their size until released, and every lent
 * buffer — received or taken for sending — goes back to the pool on release, send, free or
 * close.  Two stacks over the memory link (sock_harness.h); SH_TEARDOWN checks that both
 * pools end with no buffer in use.
 */
#include "sock_harness.h"

static uint32_t in_use(const struct fn_pool *p)
{
    struct fn_pool_stats s;

    fn_pool_get_stats(p, &s);
    return s.in_use;
}

static void pattern(uint8_t *buf, uint32_t len, uint32_t off)
{
    for (uint32_t i = 0; i < len; i++)
        buf[i] = (uint8_t)((off + i) * 131u + 7u);
}

/* 1 if the views hold pattern bytes from stream offset *off on (advanced past them). */
static int views_match(const struct fn_zc_iov *iov, int n, uint32_t *off)
{
    uint8_t want[4096];

    for (int i = 0; i < n; i++) {
        if (iov[i].len == 0 || iov[i].len > sizeof(want))
            return 0;
        pattern(want, (uint32_t)iov[i].len, *off);
        if (memcmp(iov[i].base, want, iov[i].len) != 0)
            return 0;
        *off += (uint32_t)iov[i].len;
    }
    return 1;
}

static void small_rcvbuf(struct fn_config *c)
{
    c->tcp_rcvbuf = 16384;
}

FN_TEST(zc_recv_lends_the_received_bytes_and_they_leave_fionread_and_epollin)
{
    SH_SETUP_PAIR();
    uint8_t data[3000];
    struct fn_zc_iov iov[64];
    uint32_t off = 0, base = in_use(t.pb), total = 0;
    int n, avail = -1;

    pattern(data, sizeof(data), 0);
    FN_CHECK_EQ(fn_send(t.sa, c, data, sizeof(data), 0), (ssize_t)sizeof(data));
    sh_run(&t);
    FN_CHECK_EQ(fn_ioctl(t.sb, s, FIONREAD, &avail), 0);
    FN_CHECK_EQ(avail, 3000);
    FN_CHECK(sh_mask(t.sb, s) & EPOLLIN);
    base = in_use(t.pb);
    n = (int)fn_zc_recv(t.sb, s, iov, 64, 0);
    FN_CHECK(n >= 2);                   /* 3000 bytes over a 1500-byte MTU */
    FN_CHECK(views_match(iov, n, &off));
    for (int i = 0; i < n; i++)
        total += (uint32_t)iov[i].len;
    FN_CHECK_EQ(total, 3000);
    /* Read: nothing left to read, no EPOLLIN; but the buffers are still held. */
    FN_CHECK_EQ(fn_ioctl(t.sb, s, FIONREAD, &avail), 0);
    FN_CHECK_EQ(avail, 0);
    FN_CHECK_EQ(sh_mask(t.sb, s) & EPOLLIN, 0);
    FN_CHECK_EQ(fn_recv(t.sb, s, data, sizeof(data), 0), -1);
    FN_CHECK_EQ(errno, EAGAIN);
    FN_CHECK_EQ(fn_zc_recv(t.sb, s, iov, 64, 0), -1);
    FN_CHECK_EQ(errno, EAGAIN);
    FN_CHECK_EQ(in_use(t.pb), base);
    /* Released in order, one then the rest: each gives its buffer back. */
    FN_CHECK_EQ(fn_zc_release(t.sb, s, 0), n);
    FN_CHECK_EQ(fn_zc_release(t.sb, s, 1), n - 1);
    FN_CHECK_EQ(in_use(t.pb), base - 1);
    FN_CHECK_EQ(fn_zc_release(t.sb, s, -1), 0);
    FN_CHECK_EQ(in_use(t.pb), base - (uint32_t)n);
    /* More data after a borrow: recv and fn_zc_recv go on with it. */
    pattern(data, 100, 3000);
    FN_CHECK_EQ(fn_send(t.sa, c, data, 100, 0), 100);
    sh_advance(&t, 300 * MS, 10 * MS);  /* B's delayed ACK lets Nagle release it */
    FN_CHECK_EQ(fn_zc_recv(t.sb, s, iov, 1, MSG_DONTWAIT), 1);
    FN_CHECK(views_match(iov, 1, &off));
    FN_CHECK_EQ(off, 3100);
    SH_TEARDOWN();
}

/* One round of a transfer A → B: A sends what it may of data[*sent..len), 5 ms pass, B
 * borrows everything it has into iov[0..64).  Returns the buffers borrowed, -1 if
 * fn_zc_recv failed otherwise than EAGAIN (or lent more than 64). */
static int zc_round(struct tnet *t, int c, int s, const uint8_t *data, uint32_t len,
                    uint32_t *sent, struct fn_zc_iov *iov)
{
    ssize_t w = fn_send(t->sa, c, data + *sent, len - *sent, 0);
    int n, got = 0;

    if (w > 0)
        *sent += (uint32_t)w;
    t->now += 5 * MS;
    sh_run(t);
    while (got < 64 && (n = (int)fn_zc_recv(t->sb, s, iov + got, 64 - got, 0)) > 0)
        got += n;
    return got < 64 && errno != EAGAIN ? -1 : got;
}

FN_TEST(zc_borrowed_bytes_keep_the_window_closed_until_released)
{
    SH_SETUP_CFG(small_rcvbuf);
    int l = sh_listen(&t, 8), c = -1, s = -1;
    static uint8_t data[65536];
    struct fn_zc_iov iov[64];
    uint32_t sent = 0, lent = 0, off = 0;

    FN_CHECK(l >= 0);
    FN_CHECK_EQ(sh_pair(&t, l, &c, &s), 0);
    pattern(data, sizeof(data), 0);
    /* Borrow everything that arrives and keep it: the peer may send no more than the
     * receive buffer, however long it tries (persist probes included). */
    for (int round = 0; round < 200; round++) {
        int n = zc_round(&t, c, s, data, sizeof(data), &sent, iov);
        FN_CHECK(n >= 0 && views_match(iov, n, &off));
        for (int i = 0; i < n; i++)
            lent += (uint32_t)iov[i].len;
    }
    FN_CHECK(lent > 8192);
    FN_CHECK(lent <= 16384);
    FN_CHECK(sent > lent);              /* the rest waits in A's send buffer */
    /* Released, the window opens and the rest flows: read it all, borrowing and releasing
     * as we go. */
    FN_CHECK_EQ(fn_zc_release(t.sb, s, -1), 0);
    for (int round = 0; round < 400 && off < sizeof(data); round++) {
        int n = zc_round(&t, c, s, data, sizeof(data), &sent, iov);
        FN_CHECK(n >= 0 && views_match(iov, n, &off));
        FN_CHECK_EQ(fn_zc_release(t.sb, s, -1), 0);
    }
    FN_CHECK_EQ(off, sizeof(data));
    SH_TEARDOWN();
}

FN_TEST(zc_recv_misuse_and_end_of_stream_as_recv)
{
    SH_SETUP_PAIR();
    struct fn_zc_iov iov[4];
    int u = sh_socket_nb(t.sb);

    FN_CHECK(u >= 0);
    FN_CHECK_EQ(fn_zc_recv(t.sb, s, iov, 0, 0), -1);
    FN_CHECK_EQ(errno, EINVAL);
    FN_CHECK_EQ(fn_zc_recv(t.sb, s, NULL, 4, 0), -1);
    FN_CHECK_EQ(errno, EFAULT);
    FN_CHECK_EQ(fn_zc_recv(t.sb, s, iov, 4, MSG_PEEK), -1);
    FN_CHECK_EQ(errno, EINVAL);
    FN_CHECK_EQ(fn_zc_recv(t.sb, l, iov, 4, 0), -1);
    FN_CHECK_EQ(errno, ENOTCONN);
    FN_CHECK_EQ(fn_zc_recv(t.sb, u, iov, 4, 0), -1);
    FN_CHECK_EQ(errno, ENOTCONN);
    FN_CHECK_EQ(fn_zc_recv(t.sb, 15, iov, 4, 0), -1);
    FN_CHECK_EQ(errno, EBADF);
    FN_CHECK_EQ(fn_zc_release(t.sb, s, 1), -1);     /* nothing borrowed */
    FN_CHECK_EQ(errno, EINVAL);
    FN_CHECK_EQ(fn_zc_release(t.sb, s, -2), -1);
    FN_CHECK_EQ(errno, EINVAL);
    FN_CHECK_EQ(fn_zc_release(t.sb, 15, 0), -1);
    FN_CHECK_EQ(errno, EBADF);
    /* The peer's FIN after data: the data, then 0 as recv. */
    FN_CHECK_EQ(fn_send(t.sa, c, "abc", 3, 0), 3);
    FN_CHECK_EQ(fn_shutdown(t.sa, c, SHUT_WR), 0);
    sh_run(&t);
    FN_CHECK_EQ(fn_zc_recv(t.sb, s, iov, 4, 0), 1);
    FN_CHECK_EQ(iov[0].len, 3);
    FN_CHECK_EQ(memcmp(iov[0].base, "abc", 3), 0);
    FN_CHECK_EQ(fn_zc_recv(t.sb, s, iov, 4, 0), 0);
    FN_CHECK_EQ(fn_zc_release(t.sb, s, -1), 0);
    FN_CHECK_EQ(fn_zc_release(t.sb, s, 1), -1);     /* released already */
    FN_CHECK_EQ(errno, EINVAL);
    SH_TEARDOWN();
}

FN_TEST(zc_recv_reports_a_reset_once_then_eof)
{
    SH_SETUP_PAIR();
    struct fn_zc_iov iov[4];

    FN_CHECK_EQ(sh_abort(t.sa, c), 0);
    sh_run(&t);
    FN_CHECK_EQ(fn_zc_recv(t.sb, s, iov, 4, 0), -1);
    FN_CHECK_EQ(errno, ECONNRESET);
    FN_CHECK_EQ(fn_zc_recv(t.sb, s, iov, 4, 0), 0);
    SH_TEARDOWN();
}

FN_TEST(zc_close_with_borrowed_buffers_gives_them_back_and_closes_gracefully)
{
    SH_SETUP_PAIR();
    uint8_t data[5000];
    struct fn_zc_iov iov[64];
    uint32_t base;
    int last;

    pattern(data, sizeof(data), 0);
    base = in_use(t.pb);
    FN_CHECK_EQ(fn_send(t.sa, c, data, sizeof(data), 0), (ssize_t)sizeof(data));
    sh_advance(&t, 300 * MS, 10 * MS);  /* all of it, Nagle's short tail included */
    FN_CHECK(fn_zc_recv(t.sb, s, iov, 64, 0) >= 3);
    FN_CHECK_EQ(fn_zc_recv(t.sb, s, iov, 64, 0), -1);
    FN_CHECK_EQ(errno, EAGAIN);
    FN_CHECK(in_use(t.pb) > base);
    /* Borrowed data was read: close sends a FIN, not the RST of unread data. */
    FN_CHECK_EQ(fn_close(t.sb, s), 0);
    sh_run(&t);
    FN_CHECK_EQ(in_use(t.pb), base);
    FN_CHECK_EQ(sh_read_all(t.sa, c, &last), 0);
    FN_CHECK_EQ(last, 0);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_rst_rx + tnet_stats(t.sb).tcp_rst_tx, 0);
    SH_TEARDOWN();
}

/* Read everything s has now (non-blocking) into buf; returns the count. */
static uint32_t read_into(struct fn_stack *st, int fd, uint8_t *buf, uint32_t cap)
{
    uint32_t got = 0;
    ssize_t n;

    while (got < cap && (n = fn_recv(st, fd, buf + got, cap - got, MSG_DONTWAIT)) > 0)
        got += (uint32_t)n;
    return got;
}

FN_TEST(zc_send_queues_filled_pool_buffers_without_copying_them)
{
    SH_SETUP_PAIR();
    static uint8_t got[16384], want[16384];
    uint32_t base, off = 0, n = 0;
    size_t cap = 0;
    uint8_t *b;

    for (int i = 0; i < 4; i++) {
        base = in_use(t.pa);
        b = fn_zc_alloc(t.sa, c, &cap);
        FN_CHECK(b != NULL);
        FN_CHECK_EQ(cap, 2048 - FN_PKT_HEADROOM);
        FN_CHECK_EQ(in_use(t.pa), base + 1);
        pattern(b, (uint32_t)cap, off);
        FN_CHECK_EQ(fn_zc_send(t.sa, c, b, cap, 0), (ssize_t)cap);
        /* The filled buffer is in the send chain now (not copied and freed), and the
         * segment built from it is on the link. */
        FN_CHECK_EQ(in_use(t.pa), base + 2);
        off += (uint32_t)cap;
        sh_run(&t);
        n += read_into(t.sb, s, got + n, sizeof(got) - n);
    }
    /* A short one (copied into free room at the tail, if any), then a zero-length one
     * (freed), then a partly filled one behind it. */
    b = fn_zc_alloc(t.sa, c, &cap);
    FN_CHECK(b != NULL);
    pattern(b, 100, off);
    FN_CHECK_EQ(fn_zc_send(t.sa, c, b, 100, MSG_MORE), 100);
    off += 100;
    b = fn_zc_alloc(t.sa, c, &cap);
    FN_CHECK(b != NULL);
    FN_CHECK_EQ(fn_zc_send(t.sa, c, b, 0, 0), 0);
    b = fn_zc_alloc(t.sa, c, &cap);
    FN_CHECK(b != NULL);
    pattern(b, 1000, off);
    FN_CHECK_EQ(fn_zc_send(t.sa, c, b, 1000, 0), 1000);
    off += 1000;
    for (int i = 0; i < 50 && n < off; i++) {
        t.now += 10 * MS;
        sh_run(&t);
        n += read_into(t.sb, s, got + n, sizeof(got) - n);
    }
    FN_CHECK_EQ(n, off);
    pattern(want, off, 0);
    FN_CHECK_EQ(memcmp(got, want, off), 0);
    SH_TEARDOWN();
}

FN_TEST(zc_send_misuse_and_states)
{
    SH_SETUP_PAIR();
    size_t cap = 0;
    int u = sh_socket_nb(t.sa), other = -1, s2 = -1;
    uint8_t *b, *b2;

    FN_CHECK(u >= 0);
    /* Never connected: EPIPE as fn_send; a listener the same. */
    FN_CHECK(fn_zc_alloc(t.sa, u, &cap) == NULL);
    FN_CHECK_EQ(errno, EPIPE);
    FN_CHECK(fn_zc_alloc(t.sb, l, &cap) == NULL);
    FN_CHECK_EQ(errno, EPIPE);
    FN_CHECK(fn_zc_alloc(t.sa, c, NULL) == NULL);
    FN_CHECK_EQ(errno, EFAULT);
    FN_CHECK(fn_zc_alloc(t.sa, 15, &cap) == NULL);
    FN_CHECK_EQ(errno, EBADF);
    b = fn_zc_alloc(t.sa, c, &cap);
    FN_CHECK(b != NULL);
    /* Not lent on this fd, too long, bad flags: EINVAL, the buffer still ours. */
    FN_CHECK_EQ(sh_pair(&t, l, &other, &s2), 0);
    FN_CHECK_EQ(fn_zc_send(t.sa, other, b, 10, 0), -1);
    FN_CHECK_EQ(errno, EINVAL);
    FN_CHECK_EQ(fn_zc_send(t.sa, c, b + 1, 10, 0), -1);
    FN_CHECK_EQ(errno, EINVAL);
    FN_CHECK_EQ(fn_zc_send(t.sa, c, b, cap + 1, 0), -1);
    FN_CHECK_EQ(errno, EINVAL);
    FN_CHECK_EQ(fn_zc_send(t.sa, c, b, 10, MSG_OOB), -1);
    FN_CHECK_EQ(errno, EINVAL);
    FN_CHECK_EQ(fn_zc_free(t.sa, other, b), -1);
    FN_CHECK_EQ(errno, EINVAL);
    FN_CHECK_EQ(fn_zc_free(t.sa, c, b), 0);
    FN_CHECK_EQ(fn_zc_free(t.sa, c, b), -1);        /* given back already */
    FN_CHECK_EQ(errno, EINVAL);
    FN_CHECK_EQ(fn_zc_send(t.sa, c, b, 10, 0), -1);
    FN_CHECK_EQ(errno, EINVAL);
    /* After shutdown(SHUT_WR) a lent buffer can no longer go: EPIPE, still ours; close
     * gives it back. */
    b = fn_zc_alloc(t.sa, c, &cap);
    b2 = fn_zc_alloc(t.sa, c, &cap);
    FN_CHECK(b != NULL && b2 != NULL && b != b2);
    FN_CHECK_EQ(fn_shutdown(t.sa, c, SHUT_WR), 0);
    FN_CHECK_EQ(fn_zc_send(t.sa, c, b, 10, 0), -1);
    FN_CHECK_EQ(errno, EPIPE);
    FN_CHECK(fn_zc_alloc(t.sa, c, &cap) == NULL);
    FN_CHECK_EQ(errno, EPIPE);
    FN_CHECK_EQ(fn_close(t.sa, c), 0);
    SH_TEARDOWN();
}

FN_TEST(zc_send_full_sndbuf_is_eagain_and_the_buffer_stays_ours)
{
    SH_SETUP_PAIR();
    static uint8_t data[65536];
    int sb = 1;                         /* Linux's floor: 4608 */
    size_t cap;
    uint8_t *b;

    FN_CHECK_EQ(fn_setsockopt(t.sa, c, SOL_SOCKET, SO_SNDBUF, &sb, sizeof(sb)), 0);
    FN_CHECK(fn_send(t.sa, c, data, sizeof(data), 0) > 0);
    b = fn_zc_alloc(t.sa, c, &cap);
    FN_CHECK(b != NULL);
    memset(b, 'z', cap);
    FN_CHECK_EQ(fn_zc_send(t.sa, c, b, cap, 0), -1);
    FN_CHECK_EQ(errno, EAGAIN);
    /* Once the queue drains, the same buffer goes. */
    for (int i = 0; i < 100; i++) {
        int last;
        t.now += 5 * MS;
        sh_run(&t);
        sh_read_all(t.sb, s, &last);
    }
    FN_CHECK_EQ(fn_zc_send(t.sa, c, b, cap, MSG_DONTWAIT), (ssize_t)cap);
    SH_TEARDOWN();
}

FN_TEST(zc_alloc_until_the_share_is_gone_is_enobufs_and_close_gives_all_back)
{
    SH_SETUP_PAIR();
    uint32_t base = in_use(t.pa), got = 0;
    size_t cap;

    while (got < 2000 && fn_zc_alloc(t.sa, c, &cap) != NULL)
        got++;
    FN_CHECK_EQ(errno, ENOBUFS);
    FN_CHECK(got > 10);
    FN_CHECK(got < 1024);               /* the connection's share, not the whole pool */
    FN_CHECK_EQ(in_use(t.pa), base + got);
    FN_CHECK(tnet_stats(t.sa).tcp_pool_snd_refused > 0);
    FN_CHECK_EQ(fn_close(t.sa, c), 0);
    sh_run(&t);
    FN_CHECK(in_use(t.pa) <= base);
    SH_TEARDOWN();
}
FN_TEST_MAIN()
