/*
 * fuzz_sock.c — libFuzzer harness over the socket layer (fn_socket.h, fn_event.h) of two
 * stacks talking over the in-memory link, with time.
 *
 * Contract: each input is a program run against a fresh pair of stacks A (198.18.0.1) and
 * B (198.18.0.2).  Byte 0 picks the configuration of both (TCP options, congestion control,
 * a small buffer pool so that the pool policy engages, SYN cookies, small buffers, few
 * tcpcbs and syncache entries); the rest is a sequence of calls, each on A or B, with descriptors, addresses,
 * lengths, flags, levels and option values from the input — bad descriptors, short and
 * NULL addresses, negative and huge sizes included — and clock advances that poll both
 * stacks.  Every socket is non-blocking and no call is given a timeout, so no call waits on
 * the platform clock and an input replays exactly.  A finding is an abort with the invariant
 * that broke:
 *   - every call returns its documented range, and -1 only with errno set;
 *   - descriptors: the table holds exactly the descriptors the harness was handed and has
 *     not closed (fn_socket_count, lowest-free allocation, EBADF for the others); an epoll
 *     report names only a descriptor that is open;
 *   - stream contents: every byte received is the byte the sending socket queued at that
 *     stream offset (payload bytes are a function of the sender's port and the offset);
 *   - at the end, with every descriptor closed, the timers alone bring fn_tcp_count() of both
 *     stacks to 0 and fn_stack_destroy() reports no buffer in use.
 * The harness replaces fn_random_bytes with a fixed-seed generator.  Single-threaded.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>

#include "fuzz.h"
#include "sock_harness.h"

#define NFD 12                          /* cfg.tcp_max_sockets of both stacks */
#define IP_OTHER ip4(198, 18, 0, 77)    /* on the subnet, never answers ARP */
#define EV_MAGIC 0x5a5a000000000000ull  /* epoll data: magic | fd */

/* ---- deterministic randomness: replaces platform/random.c at link time ---- */

static uint64_t rnd_state;

int fn_random_bytes(void *buf, size_t len)
{
    fz_random_fill(&rnd_state, buf, len);
    return 0;
}

/* ---- state ---- */

/* What the harness knows of one descriptor of one stack. */
struct fdst {
    int open;                   /* handed out and not closed */
    int epoll;                  /* an epoll instance */
    uint32_t sent, read;        /* stream offsets of the current connection */
    int have_peer;              /* peer_port known: the received bytes are checked */
    uint16_t peer_port;         /* the sender's port (host order) */
};

struct fz {
    struct tnet t;
    struct fdst fd[2][NFD];
    struct fz_input src;        /* the program */
    uint8_t buf[8192];
};

static struct fz Z;
static int trace;               /* FUZZ_SOCK_TRACE set: print each step (triage) */

static uint8_t g8(struct fz *z)
{
    return fz_g8(&z->src);
}

static uint16_t g16(struct fz *z)
{
    return fz_g16(&z->src);
}

static struct fn_stack *stk(struct fz *z, int side)
{
    return side ? z->t.sb : z->t.sa;
}

/* A byte of the stream a socket on port `port` sends, at offset off. */
static uint8_t stream_byte(uint16_t port, uint32_t off)
{
    return (uint8_t)(((off * 40503u) >> 7 ^ off) + port * 131u);
}

/* A descriptor from the input: mostly a table slot, sometimes out of range or negative. */
static int gfd(struct fz *z)
{
    return (int)(g8(z) % (NFD + 4)) - 2;
}

static struct fdst *known(struct fz *z, int side, int fd)
{
    return fd >= 0 && fd < NFD ? &z->fd[side][fd] : NULL;
}

/* A call returned -1: errno must say why. */
static void failed_ok(long rc)
{
    FZ_ASSERT(rc >= 0 || (rc == -1 && errno != 0));
}

/* A call that returns a status: 0, or -1 with errno. */
static void status_ok(long rc)
{
    FZ_ASSERT(rc == 0 || (rc == -1 && errno != 0));
}

/* A call handed out descriptor rc: the lowest free one (POSIX), a fresh stream. */
static void got_fd(struct fz *z, int side, int rc, int epoll)
{
    struct fdst *f;

    if (rc < 0)
        return;
    f = known(z, side, rc);
    FZ_ASSERT(f && !f->open);
    for (int i = 0; i < rc; i++)
        FZ_ASSERT(z->fd[side][i].open);
    memset(f, 0, sizeof *f);
    f->open = 1;
    f->epoll = epoll;
}

/* A new connection starts on fd: offsets from zero. */
static void new_stream(struct fdst *f, int have_peer, uint16_t peer_port)
{
    f->sent = 0;
    f->read = 0;
    f->have_peer = have_peer;
    f->peer_port = peer_port;
}

/* An address from the input: A's, B's, any, one that never answers; a few ports. */
static socklen_t gaddr(struct fz *z, struct sockaddr_in *a)
{
    static const uint16_t ports[] = {SH_PORT, SH_PORT + 1, 0, 9};
    uint8_t m = g8(z);
    uint32_t ips[] = {IP_A, IP_B, 0, IP_OTHER};

    *a = sh_addr(ips[m & 3], (m & 0x40) ? g16(z) : ports[(m >> 2) & 3]);
    if (m & 0x10)
        a->sin_family = (sa_family_t)g8(z);
    if (m & 0x20)
        return (socklen_t)(g8(z) % 24u);
    return sizeof *a;
}

/* ---- the calls ---- */

static void op_socket(struct fz *z, int side)
{
    uint8_t m = g8(z);
    int type = SOCK_STREAM | SOCK_NONBLOCK, proto = 0, dom = AF_INET, rc;

    if (m & 1)
        type |= SOCK_CLOEXEC;
    if (m & 2)
        type |= (int)g8(z) << 12;   /* unknown type flags: EINVAL */
    if (m & 4)
        proto = g8(z);
    if (m & 8)
        dom = g8(z);
    errno = 0;
    rc = fn_socket(stk(z, side), dom, type, proto);
    failed_ok(rc);
    got_fd(z, side, rc, 0);
}

static void op_bind(struct fz *z, int side)
{
    struct sockaddr_in a;
    int fd = gfd(z);
    socklen_t len = gaddr(z, &a);
    long rc;

    errno = 0;
    rc = fn_bind(stk(z, side), fd, (g8(z) & 0x80) ? NULL : SA(a), len);
    status_ok(rc);
}

static void op_listen(struct fz *z, int side)
{
    int fd = gfd(z), backlog = (int8_t)g8(z);
    long rc;

    errno = 0;
    rc = fn_listen(stk(z, side), fd, backlog);
    status_ok(rc);
}

static void op_accept(struct fz *z, int side)
{
    struct sockaddr_in a;
    socklen_t len = (g8(z) & 1) ? sizeof a : (socklen_t)g8(z) % 20u;
    int fd = gfd(z), flags = SOCK_NONBLOCK | ((g8(z) & 1) ? SOCK_CLOEXEC : 0), rc;
    uint8_t m = g8(z);

    if (m & 1)
        flags |= (int)m << 8;       /* unknown flags: EINVAL */
    errno = 0;
    rc = fn_accept4(stk(z, side), fd, (m & 2) ? NULL : (struct sockaddr *)&a,
                    (m & 2) ? NULL : &len, flags);
    failed_ok(rc);
    got_fd(z, side, rc, 0);
    if (rc >= 0) {
        struct sockaddr_in p;
        socklen_t plen = sizeof p;
        int known_peer = fn_getpeername(stk(z, side), rc, (struct sockaddr *)&p, &plen) == 0;
        new_stream(&z->fd[side][rc], known_peer, known_peer ? ntohs(p.sin_port) : 0);
    }
}

static void op_connect(struct fz *z, int side)
{
    struct sockaddr_in a;
    int fd = gfd(z);
    socklen_t len = gaddr(z, &a);
    struct fdst *f = known(z, side, fd);
    long rc;

    errno = 0;
    rc = fn_connect(stk(z, side), fd, SA(a), len);
    status_ok(rc);
    /* EINPROGRESS starts a new connection (possibly after a failed one on this socket). */
    if (rc == -1 && errno == EINPROGRESS) {
        FZ_ASSERT(f && f->open && !f->epoll);
        new_stream(f, 1, ntohs(a.sin_port));
    }
}

/* An iovcnt from the input for an array of `have` entries: in range, 0, negative, or above
 * IOV_MAX (EINVAL, as Linux; the array is never read then). */
static int giovcnt(struct fz *z, int have)
{
    static const int bad[] = {-1, 0, 1, 2000};
    uint8_t m = g8(z);

    return m & 4 ? bad[m & 3] : have;
}

/* The bytes fd queues next, offsets [f->sent, f->sent + n): keyed by fd's own port. */
static int fill(struct fz *z, int side, int fd, struct fdst *f, uint32_t n)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;

    if (!f || !f->open || f->epoll ||
        fn_getsockname(stk(z, side), fd, (struct sockaddr *)&a, &len) != 0)
        return 0;
    for (uint32_t i = 0; i < n; i++)
        z->buf[i] = stream_byte(ntohs(a.sin_port), f->sent + i);
    return 1;
}

static void op_send(struct fz *z, int side)
{
    int fd = gfd(z);
    uint8_t m = g8(z);
    uint32_t n = g16(z) % (sizeof z->buf + 1);
    struct fdst *f = known(z, side, fd);
    int flags = MSG_DONTWAIT | MSG_NOSIGNAL | ((m & 1) ? MSG_MORE : 0);
    long rc;

    if (!fill(z, side, fd, f, n))
        memset(z->buf, 0, n);
    errno = 0;
    if (m & 2) {
        struct iovec iov[3] = {{z->buf, n / 3}, {z->buf + n / 3, n / 3},
                               {z->buf + 2 * (n / 3), n - 2 * (n / 3)}};
        rc = fn_writev(stk(z, side), fd, iov, giovcnt(z, 3));
    } else {
        rc = fn_send(stk(z, side), fd, (m & 8) ? NULL : z->buf, n,
                     flags | ((m & 0x10) ? MSG_OOB : 0));
    }
    failed_ok(rc);
    FZ_ASSERT(rc <= (long)n);
    if (rc > 0) {
        FZ_ASSERT(f && f->open && !f->epoll && ((m & 2) || !(m & 8)));
        f->sent += (uint32_t)rc;
    }
}

static void op_recv(struct fz *z, int side)
{
    int fd = gfd(z);
    uint8_t m = g8(z);
    uint32_t n = g16(z) % (sizeof z->buf + 1);
    struct fdst *f = known(z, side, fd);
    int flags = MSG_DONTWAIT | ((m & 1) ? MSG_PEEK : 0) | ((m & 2) ? MSG_WAITALL : 0) |
                ((m & 0x10) ? MSG_OOB : 0);
    long rc;

    errno = 0;
    if (m & 4) {
        struct iovec iov[2] = {{z->buf, n / 2}, {z->buf + n / 2, n - n / 2}};
        rc = fn_readv(stk(z, side), fd, iov, giovcnt(z, 2));
        flags = 0;
    } else {
        rc = fn_recv(stk(z, side), fd, (m & 8) ? NULL : z->buf, n, flags);
    }
    failed_ok(rc);
    FZ_ASSERT(rc <= (long)n);
    if (rc <= 0)
        return;
    FZ_ASSERT(f && f->open && !f->epoll);
    /* The bytes are the sender's, at this stream offset: nothing lost, duplicated or
     * reordered between two sockets, whatever the calls around them did. */
    if (f->have_peer) {
        for (long i = 0; i < rc; i++)
            FZ_ASSERT(z->buf[i] == stream_byte(f->peer_port, f->read + (uint32_t)i));
    }
    if (!(flags & MSG_PEEK))
        f->read += (uint32_t)rc;
}

static void op_shutdown(struct fz *z, int side)
{
    int fd = gfd(z), how = (int)(g8(z) % 5u) - 1;
    long rc;

    errno = 0;
    rc = fn_shutdown(stk(z, side), fd, how);
    status_ok(rc);
}

static void op_close(struct fz *z, int side)
{
    int fd = gfd(z);
    struct fdst *f = known(z, side, fd);
    long rc;

    errno = 0;
    rc = fn_close(stk(z, side), fd);
    failed_ok(rc);
    /* close succeeds exactly on the descriptors that are open. */
    FZ_ASSERT((rc == 0) == (f && f->open));
    if (rc != 0)
        FZ_ASSERT(errno == EBADF);
    else
        f->open = 0;
}

/* Options with values from the input; SO_LINGER only with l_linger 0 (a positive one makes
 * close wait on the platform clock), timeouts are harmless on non-blocking sockets. */
static void op_sockopt(struct fz *z, int side)
{
    static const int opts[][2] = {
        {SOL_SOCKET, SO_REUSEADDR}, {SOL_SOCKET, SO_REUSEPORT}, {SOL_SOCKET, SO_KEEPALIVE},
        {SOL_SOCKET, SO_LINGER}, {SOL_SOCKET, SO_RCVBUF}, {SOL_SOCKET, SO_SNDBUF},
        {SOL_SOCKET, SO_RCVTIMEO}, {SOL_SOCKET, SO_SNDTIMEO}, {SOL_SOCKET, SO_ERROR},
        {SOL_SOCKET, SO_TYPE}, {SOL_SOCKET, SO_ACCEPTCONN}, {IPPROTO_TCP, TCP_NODELAY},
        {IPPROTO_TCP, TCP_MAXSEG}, {IPPROTO_TCP, TCP_KEEPIDLE}, {IPPROTO_TCP, TCP_KEEPINTVL},
        {IPPROTO_TCP, TCP_KEEPCNT}, {IPPROTO_TCP, TCP_INFO}, {IPPROTO_TCP, TCP_USER_TIMEOUT},
        {IPPROTO_TCP, TCP_CONGESTION}, {77, 1}};
    int fd = gfd(z);
    uint8_t sel = g8(z), m = g8(z);
    int level = opts[sel % 20][0], name = opts[sel % 20][1];
    union {
        int i;
        struct linger lg;
        struct timeval tv;
        uint8_t b[256];
    } v;
    socklen_t len = (m & 1) ? (socklen_t)g8(z) : sizeof(int);
    long rc;

    memset(&v, 0, sizeof v);
    for (uint32_t i = 0; i < 8; i++)
        v.b[i] = g8(z);
    if (name == SO_LINGER && level == SOL_SOCKET) {
        v.lg.l_linger = 0;
        if (!(m & 1))
            len = sizeof v.lg;
    }
    if (name == TCP_CONGESTION && level == IPPROTO_TCP)
        memcpy(v.b, (m & 4) ? "newreno" : "cubic", (m & 4) ? 8 : 6);
    errno = 0;
    if (m & 2) {
        rc = fn_getsockopt(stk(z, side), fd, level, name, (m & 8) ? NULL : &v, &len);
        FZ_ASSERT(rc != 0 || len <= sizeof v);
    } else {
        rc = fn_setsockopt(stk(z, side), fd, level, name, (m & 8) ? NULL : &v, len);
    }
    status_ok(rc);
}

static void op_ioctl(struct fz *z, int side)
{
    int fd = gfd(z), v = 1;
    uint8_t m = g8(z);
    long rc;

    errno = 0;
    if (m & 1)
        rc = fn_ioctl(stk(z, side), fd, FIONREAD, (m & 2) ? NULL : &v);
    else
        rc = fn_ioctl(stk(z, side), fd, (m & 2) ? FIONBIO : (unsigned long)g16(z), &v);
    status_ok(rc);
    if (rc == 0 && (m & 1) && !(m & 2))
        FZ_ASSERT(v >= 0);
}

static void op_names(struct fz *z, int side)
{
    struct sockaddr_in a;
    uint8_t m = g8(z);
    socklen_t len = (m & 1) ? sizeof a : (socklen_t)g8(z) % 20u;
    int fd = gfd(z);
    long rc;

    errno = 0;
    if (m & 2)
        rc = fn_getpeername(stk(z, side), fd, (m & 4) ? NULL : (struct sockaddr *)&a, &len);
    else
        rc = fn_getsockname(stk(z, side), fd, (m & 4) ? NULL : (struct sockaddr *)&a, &len);
    status_ok(rc);
}

static void op_epoll_create(struct fz *z, int side)
{
    uint8_t m = g8(z);
    int rc;

    errno = 0;
    if (m & 1)
        rc = fn_epoll_create(stk(z, side), (int)(int8_t)g8(z));
    else
        rc = fn_epoll_create1(stk(z, side), (m & 2) ? (int)g8(z) << 16 : EPOLL_CLOEXEC);
    failed_ok(rc);
    got_fd(z, side, rc, 1);
}

static void op_epoll_ctl(struct fz *z, int side)
{
    int ep = gfd(z), fd = gfd(z), op = (int)(g8(z) % 5u);
    struct epoll_event ev;
    uint8_t m = g8(z);
    long rc;

    ev.events = (m & 1) ? ((uint32_t)g16(z) | (uint32_t)g8(z) << 24)
                        : (EPOLLIN | EPOLLOUT | EPOLLRDHUP | ((m & 2) ? EPOLLET : 0) |
                           ((m & 4) ? EPOLLONESHOT : 0));
    ev.data.u64 = EV_MAGIC | (uint32_t)fd;
    errno = 0;
    rc = fn_epoll_ctl(stk(z, side), ep, op, fd, (m & 8) ? NULL : &ev);
    status_ok(rc);
}

static void op_epoll_wait(struct fz *z, int side)
{
    struct epoll_event ev[8];
    int ep = gfd(z), max = (int)(g8(z) % 11u) - 1, rc;

    errno = 0;
    rc = fn_epoll_wait(stk(z, side), ep, ev, max, 0);
    failed_ok(rc);
    FZ_ASSERT(rc <= (max > 0 ? max : 0));
    /* Reports name only descriptors still open: close removes a socket from every set. */
    for (int i = 0; i < rc; i++) {
        uint64_t d = ev[i].data.u64;
        struct fdst *f;
        FZ_ASSERT((d & ~0xffffffffull) == EV_MAGIC);
        f = known(z, side, (int)(uint32_t)d);
        FZ_ASSERT(f && f->open && ev[i].events != 0);
    }
}

static void op_advance(struct fz *z)
{
    uint8_t d = g8(z);

    if (d < 128)
        z->t.now += d * MS;
    else if (d < 224)
        z->t.now += (d - 127u) * 100 * MS;
    else
        z->t.now += (d - 223u) * 10 * SEC;
    sh_run(&z->t);
}

/* ---- invariants ---- */

static void check_fds(struct fz *z)
{
    for (int side = 0; side < 2; side++) {
        unsigned n = 0;
        for (int i = 0; i < NFD; i++)
            n += (unsigned)z->fd[side][i].open;
        FZ_ASSERT(fn_socket_count(stk(z, side)) == n);
    }
}

static void setup(struct fz *z, uint8_t cfg)
{
    struct fn_config c[2];

    for (int side = 0; side < 2; side++) {
        sh_cfg(&c[side], side ? IP_B : IP_A);
        c[side].tcp_max_sockets = NFD;
        c[side].tcp_timestamps = cfg & 1;
        c[side].tcp_window_scaling = (cfg >> 1) & 1;
        c[side].tcp_sack = (cfg >> 2) & 1;
        c[side].tcp_cc = (cfg & 8) ? FN_CC_NEWRENO : FN_CC_CUBIC;
        if (cfg & 0x10)
            c[side].tcp_syncookies = 2;
        if (cfg & 0x20) {
            c[side].tcp_rcvbuf = 4096;
            c[side].tcp_sndbuf = 8192;
        }
        if (cfg & 0x80) {
            /* Few tcpcbs and half-open entries: connect gets ENOBUFS, SYNs overflow into
             * cookies (or are dropped) and TIME_WAIT competes with new connections. */
            c[side].tcp_max_conns = 6;
            c[side].tcp_syncache_size = 2;
        }
    }
    /* A small pool on A: its TCP share policy refuses, defers and makes connections wait. */
    FZ_ASSERT(tnet_open(&z->t, &c[0], &c[1], (cfg & 0x40) ? 64 : 1024, 1500) == 0);
    fn_stack_start(z->t.sa, z->t.now);
    fn_stack_start(z->t.sb, z->t.now);
}

/* Close everything and let the timers finish every connection on both stacks. */
static void teardown(struct fz *z)
{
    for (int side = 0; side < 2; side++) {
        for (int i = 0; i < NFD; i++) {
            if (z->fd[side][i].open)
                FZ_ASSERT(fn_close(stk(z, side), i) == 0);
            z->fd[side][i].open = 0;
        }
        FZ_ASSERT(fn_socket_count(stk(z, side)) == 0);
    }
    sh_run(&z->t);
    for (int i = 0; i < 100000; i++) {
        uint64_t da, db, d;

        if (fn_tcp_count(z->t.sa) == 0 && fn_tcp_count(z->t.sb) == 0)
            break;
        da = fn_stack_next_deadline(z->t.sa);
        db = fn_stack_next_deadline(z->t.sb);
        d = da < db ? da : db;
        /* Something still holds a connection but no timer will ever end it. */
        FZ_ASSERT(d != UINT64_MAX);
        z->t.now = d > z->t.now ? d : z->t.now + 1;
        sh_run(&z->t);
    }
    FZ_ASSERT(fn_tcp_count(z->t.sa) == 0 && fn_tcp_count(z->t.sb) == 0);
    FZ_ASSERT(tnet_close(&z->t) == 0);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fn_log_set_level(FN_LOG_ERROR);
    trace = getenv("FUZZ_SOCK_TRACE") != NULL;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static void (*const ops[])(struct fz *, int) = {
        op_socket, op_bind, op_listen, op_accept, op_connect, op_send, op_recv, op_shutdown,
        op_close, op_sockopt, op_ioctl, op_names, op_epoll_create, op_epoll_ctl,
        op_epoll_wait};
    struct fz *z = &Z;
    int steps = 0;

    if (size < 1)
        return 0;
    memset(z, 0, offsetof(struct fz, buf));
    rnd_state = 0x5eed;
    z->src.in = data;
    z->src.len = size;
    z->src.pos = 1;
    setup(z, data[0]);
    while (z->src.pos < z->src.len && steps++ < 4096) {
        uint8_t op = g8(z);
        unsigned k = op & 0x1f;

        if (k < sizeof ops / sizeof ops[0])
            ops[k](z, op >> 7);
        else
            op_advance(z);
        if (trace)
            fprintf(stderr, "t=%llums call %2u side %u errno %d | sockets %u %u tcbs %u %u\n",
                    (unsigned long long)(z->t.now / MS), k, op >> 7, errno,
                    fn_socket_count(z->t.sa), fn_socket_count(z->t.sb),
                    fn_tcp_count(z->t.sa), fn_tcp_count(z->t.sb));
        check_fds(z);
    }
    teardown(z);
    return 0;
}
