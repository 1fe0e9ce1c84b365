/*
 * sock_harness.h — fixtures of the socket-layer tests (test_socket_*.c): two stacks over
 * the in-memory link (A = 198.18.0.1, B = 198.18.0.2), both used through fn_socket.h and
 * fn_event.h.  Time is virtual (t->now): the tests drive both stacks themselves with
 * non-blocking sockets, so every call runs at the last poll's time.  Tests of blocking
 * calls use sh_block_hook, which polls stack B at the platform clock while A waits.
 *
 * SH_SETUP declares t and opens the pair (SH_SETUP_PAIR also connects two sockets,
 * SH_SETUP_CFG changes the configuration first); SH_TEARDOWN closes every descriptor the test
 * left open on both stacks, runs TIME_WAIT out, and checks that descriptor tables, tcpcb
 * tables and both pools are back to zero.
 */
#ifndef FASTNET_TESTS_SOCK_HARNESS_H
#define FASTNET_TESTS_SOCK_HARNESS_H

#include <errno.h>

#include "fastnet/fn_event.h"
#include "fastnet/fn_socket.h"
#include "fn_test.h"
#include "net_harness.h"
#include "platform/fn_platform.h"
#include "tcp/fn_tcp.h"

#define SH_PORT 8080

static inline void sh_cfg(struct fn_config *c, uint32_t ip)
{
    tnet_cfg(c, ip);
    c->tcp_max_conns = 32;
    c->tcp_max_sockets = 16;
    c->tcp_msl_ms = 100;        /* TIME_WAIT 200 ms: teardown stays short */
}

static inline struct sockaddr_in sh_addr(uint32_t ip, uint16_t port)
{
    struct sockaddr_in a;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = ip;
    a.sin_port = htons(port);
    return a;
}

#define SA(a) ((const struct sockaddr *)&(a))

/* Poll both stacks at t->now until a round moves nothing (bounded). */
static inline void sh_run(struct tnet *t)
{
    tnet_run(t);
}

/* Advance the virtual clock in steps of `step` ns for `total` ns, polling both stacks. */
static inline void sh_advance(struct tnet *t, uint64_t total, uint64_t step)
{
    for (uint64_t d = 0; d < total; d += step) {
        t->now += step;
        sh_run(t);
    }
}

/* A non-blocking TCP socket on st, or -1. */
static inline int sh_socket_nb(struct fn_stack *st)
{
    return fn_socket(st, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
}

/* A non-blocking listener on B:SH_PORT with the given backlog, or -1. */
static inline int sh_listen(struct tnet *t, int backlog)
{
    struct sockaddr_in a = sh_addr(0, SH_PORT);
    int l = sh_socket_nb(t->sb);

    if (l < 0 || fn_bind(t->sb, l, SA(a), sizeof(a)) < 0 || fn_listen(t->sb, l, backlog) < 0)
        return -1;
    return l;
}

/* Connect a non-blocking client on A to B:SH_PORT and accept it on B (listener l):
 * *c = A's socket, *s = B's accepted socket.  0 or -1. */
static inline int sh_pair(struct tnet *t, int l, int *c, int *s)
{
    struct sockaddr_in b = sh_addr(IP_B, SH_PORT);

    *c = sh_socket_nb(t->sa);
    if (*c < 0)
        return -1;
    if (fn_connect(t->sa, *c, SA(b), sizeof(b)) != -1 || errno != EINPROGRESS)
        return -1;
    sh_run(t);
    *s = fn_accept4(t->sb, l, NULL, NULL, SOCK_NONBLOCK);
    return *s < 0 ? -1 : 0;
}

static inline int sh_sockopt_int(struct fn_stack *st, int fd, int level, int name)
{
    int v = -12345;
    socklen_t len = sizeof(v);

    if (fn_getsockopt(st, fd, level, name, &v, &len) < 0)
        return -1000 - errno;
    return v;
}

/* Close with SO_LINGER {1, 0}: the peer gets a RST. */
static inline int sh_abort(struct fn_stack *st, int fd)
{
    struct linger lg = {1, 0};

    if (fn_setsockopt(st, fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) < 0)
        return -1;
    return fn_close(st, fd);
}

/* The mask one registration reports right now (level-triggered, one epoll, timeout 0):
 * a fresh epoll instance each time so earlier reports do not interfere. */
static inline uint32_t sh_mask(struct fn_stack *st, int fd)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP, .data.u64 = 0};
    int ep = fn_epoll_create1(st, 0), n;

    if (ep < 0)
        return 0xdead0000u;
    if (fn_epoll_ctl(st, ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
        fn_close(st, ep);
        return 0xdead0001u;
    }
    memset(&ev, 0, sizeof(ev));
    n = fn_epoll_wait(st, ep, &ev, 1, 0);
    fn_close(st, ep);
    return n == 1 ? ev.events : 0;
}

/* Blocking calls on A: poll B at the platform clock on every round of A's wait. */
static inline void sh_block_hook(void *arg, uint64_t now)
{
    struct tnet *t = arg;

    fn_stack_poll(t->sb, now);
}

/* adjust (may be NULL) changes both configurations before the stacks start. */
/* From here on A's waits run B's stack too (on the platform clock); fd >= 0 becomes a
 * blocking socket.  sh_end_blocking() undoes the hook and moves the virtual clock past
 * the platform time the waits used, so later polls never go back in time. */
static inline int sh_go_blocking(struct tnet *t, int fd)
{
    fn_socket_set_block_hook(t->sa, sh_block_hook, t);
    return fd >= 0 ? fn_ioctl(t->sa, fd, FIONBIO, &(int){0}) : 0;
}

static inline void sh_end_blocking(struct tnet *t)
{
    fn_socket_set_block_hook(t->sa, NULL, NULL);
    t->now = fn_clock_ns();
}

/* Read fd (non-blocking) until it has nothing more: bytes read; *last = the final
 * return (0 at EOF, -1 when nothing is there yet). */
static inline uint32_t sh_read_all(struct fn_stack *st, int fd, int *last)
{
    char buf[4096];
    uint32_t got = 0;
    int n;

    while ((n = (int)fn_recv(st, fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
        got += (uint32_t)n;
    *last = n;
    return got;
}

static inline int sh_open(struct tnet *t, void (*adjust)(struct fn_config *c))
{
    struct fn_config ca, cb;
    int rc;

    sh_cfg(&ca, IP_A);
    sh_cfg(&cb, IP_B);
    if (adjust) {
        adjust(&ca);
        adjust(&cb);
    }
    rc = tnet_open(t, &ca, &cb, 1024, 1500);
    if (rc == 0) {
        /* The clock of non-blocking calls is the last poll's: start both at t->now. */
        fn_stack_start(t->sa, t->now);
        fn_stack_start(t->sb, t->now);
    }
    return rc;
}

/* Close every descriptor left on st. */
static inline void sh_close_all(struct fn_stack *st)
{
    for (int fd = 0; fd < 16 && fn_socket_count(st) > 0; fd++)
        fn_close(st, fd);
}

#define SH_SETUP_CFG(adjust)                                            \
    struct tnet t;                                                      \
    FN_CHECK_EQ(sh_open(&t, (adjust)), 0)

#define SH_SETUP() SH_SETUP_CFG(NULL)

/* SH_SETUP plus a connection: l listens on B:SH_PORT, c (on A) is connected to s (on B),
 * both non-blocking. */
#define SH_SETUP_PAIR()                                                 \
    SH_SETUP();                                                         \
    int l = sh_listen(&t, 8), c = -1, s = -1;                           \
    FN_CHECK(l >= 0);                                                   \
    FN_CHECK_EQ(sh_pair(&t, l, &c, &s), 0)

#define SH_TEARDOWN()                                                   \
    do {                                                                \
        sh_close_all(t.sa);                                             \
        sh_close_all(t.sb);                                             \
        FN_CHECK_EQ(fn_socket_count(t.sa), 0);                          \
        FN_CHECK_EQ(fn_socket_count(t.sb), 0);                          \
        for (int i_ = 0; i_ < 400 && (fn_tcp_count(t.sa) || fn_tcp_count(t.sb)); i_++) { \
            t.now += 10 * MS;                                           \
            sh_run(&t);                                                 \
        }                                                               \
        FN_CHECK_EQ(fn_tcp_count(t.sa), 0);                             \
        FN_CHECK_EQ(fn_tcp_count(t.sb), 0);                             \
        FN_CHECK_EQ(tnet_close(&t), 0);                                 \
    } while (0)

#endif
