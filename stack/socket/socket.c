/*
 * socket.c — BSD socket calls over fn_tcp (fn_socket.h) with Linux's semantics: the
 * descriptor table, bind/listen/accept/connect, send/recv, shutdown/close, names, options,
 * ioctl, and the loop that lets a blocking call drive its own stack.
 *
 * Contract: fn_sock_init() (from fn_stack_create) validates cfg.tcp_max_sockets (-EINVAL)
 * and allocates the table (-ENOMEM); nothing allocates after that.  Every public call
 * first checks that the calling thread owns the stack (EPERM, touching nothing but
 * st->owner_tid), then folds the stack's ready list into socket state (fn_sock_sync), then
 * acts; errors are -1 with errno.  The errno values and their order follow Linux's
 * net/ipv4 (inet_stream_connect, tcp_sendmsg, tcp_recvmsg, inet_shutdown, tcp_poll), as
 * observed on the kernel this was written against.  Only blocking calls read the platform
 * clock and sleep (fn_sock_wait); everything else runs at the time of the last poll.
 * Costs: data calls are O(1) plus the bytes copied; a burst of new descriptors (socket,
 * accept, epoll_create) O(1) each (fn_sock_alloc); bind(), listen() and connect() on a
 * socket without a port scan the descriptor table and the tcpcbs for port conflicts
 * (O(descriptors + tcpcbs) per probe) — fine at set-up rates, a port index is the fix if
 * connect rates ever make it show.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "core/fn_stack_impl.h"
#include "platform/fn_platform.h"
#include "socket/fn_sock_impl.h"
#include "tcp/fn_tcp.h"
#include "tcp/fn_tcp_sock.h"
#include "tcp/tcp_fsm.h"

#define SOMAXCONN_LINUX 4096        /* net.core.somaxconn default since Linux 5.4 */
#define EPHEMERAL_LO 49152u         /* RFC 6056 §2.1: the IANA dynamic range */
#define EPHEMERAL_N (65536u - EPHEMERAL_LO)
#define IO_CHUNK (1u << 30)         /* bytes per fn_tcp call (its lengths are uint32_t) */

static int fail(int err)
{
    return fn_sock_fail(err);
}

/* ---- the table ---- */

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

int fn_sock_init(struct fn_stack *st)
{
    uint32_t n = st->cfg.tcp_max_sockets;
    struct fn_socktab *t;

    if (n < 1 || n > (1u << 22))
        return -EINVAL;
    t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    t->st = st;
    t->n = n;
    t->nwords = (n + 63) / 64;
    t->nitems = 2 * n;
    t->socks = calloc(n, sizeof(*t->socks));
    t->freemap = calloc(t->nwords, sizeof(*t->freemap));
    t->items = calloc(t->nitems, sizeof(*t->items));
    if (!t->socks || !t->freemap || !t->items) {
        free(t->socks);
        free(t->freemap);
        free(t->items);
        free(t);
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < n; i++)
        t->freemap[i / 64] |= 1ull << (i % 64);
    for (uint32_t i = t->nitems; i-- > 0;) {
        t->items[i].snext = t->free_items;
        t->free_items = &t->items[i];
    }
    if (fn_random_bytes(&t->rng, sizeof(t->rng)) != 0)
        t->rng = fn_clock_ns();
    st->sock = t;
    return 0;
}

void fn_sock_fini(struct fn_stack *st)
{
    struct fn_socktab *t = st->sock;

    /* The tcpcbs still held by sockets go with fn_tcp_fini(), buffers and all. */
    if (!t)
        return;
    free(t->socks);
    free(t->freemap);
    free(t->items);
    free(t);
    st->sock = NULL;
}

static int sock_fd(const struct fn_socktab *t, const struct fn_sock *so)
{
    return (int)(so - t->socks);
}

/* The lowest free descriptor, as Linux hands out.  The scan starts at free_lo, below which
 * every word is full, and leaves free_lo at the word it stopped at: a burst of N accepts
 * into a table of n costs O(N + n/64) in all, where scanning from word 0 cost O(n/64) per
 * accept (O(N^2 / 64) for the burst; 1.2 % of the native HTTP server's CPU while it
 * accepted 100,000 idle connections).  A free below free_lo moves it back to that word, so
 * one call after a close may still scan up to the next free word: never more than before. */
struct fn_sock *fn_sock_alloc(struct fn_socktab *t, uint8_t kind)
{
    for (uint32_t w = t->free_lo; w < t->nwords; w++) {
        t->alloc_words++;
        if (t->freemap[w]) {
            uint32_t i = w * 64 + (uint32_t)__builtin_ctzll(t->freemap[w]);
            struct fn_sock *so = &t->socks[i];
            t->freemap[w] &= ~(1ull << (i % 64));
            t->free_lo = w;
            memset(so, 0, sizeof(*so));
            so->kind = kind;
            t->used++;
            return so;
        }
    }
    t->free_lo = t->nwords;
    return NULL;
}

struct fn_sock *fn_sock_alloc_counted(struct fn_stack *st, uint8_t kind)
{
    struct fn_sock *so = fn_sock_alloc(st->sock, kind);

    if (!so) {
        st->stats.sock_table_full++;
        errno = EMFILE;
    }
    return so;
}

int fn_sock_open(struct fn_stack *st, uint8_t kind)
{
    struct fn_sock *so;

    if (fn_sock_enter(st) < 0 || !(so = fn_sock_alloc_counted(st, kind)))
        return -1;
    return sock_fd(st->sock, so);
}

void fn_sock_free(struct fn_socktab *t, struct fn_sock *so)
{
    uint32_t i = (uint32_t)(so - t->socks);

    so->kind = FN_FD_FREE;
    t->freemap[i / 64] |= 1ull << (i % 64);
    if (i / 64 < t->free_lo)
        t->free_lo = i / 64;
    t->used--;
}

unsigned fn_socket_count(const struct fn_stack *st)
{
    return st->sock->used;
}

void fn_socket_set_block_hook(struct fn_stack *st, fn_block_hook fn, void *arg)
{
    if (!st || fn_thread_id() != st->owner_tid)
        return;
    st->sock->hook = fn;
    st->sock->hook_arg = arg;
}

int fn_sock_enter(struct fn_stack *st)
{
    if (!st)
        return fail(EFAULT);
    if (fn_thread_id() != st->owner_tid)
        return fail(EPERM);
    fn_sock_sync(st->sock);
    return 0;
}

struct fn_sock *fn_sock_get_any(struct fn_stack *st, int fd)
{
    struct fn_socktab *t;

    if (fn_sock_enter(st) < 0)
        return NULL;
    t = st->sock;
    if (fd < 0 || (uint32_t)fd >= t->n || t->socks[fd].kind == FN_FD_FREE) {
        errno = EBADF;
        return NULL;
    }
    return &t->socks[fd];
}

struct fn_sock *fn_sock_get(struct fn_stack *st, int fd)
{
    struct fn_sock *so = fn_sock_get_any(st, fd);

    if (so && so->kind != FN_FD_SOCK) {
        errno = ENOTSOCK;
        return NULL;
    }
    return so;
}

uint32_t fn_sock_rcv_window(const struct fn_sock *so)
{
    /* Linux: half of the doubled SO_RCVBUF is the window (tcp_full_space with the default
     * scaling ratio), the rest bookkeeping. */
    return so->rcvbuf_lock ? (uint32_t)so->rcvbuf / 2 : 0;
}

/* ---- state as Linux's tcp_poll and friends see it ---- */

void fn_sock_apply_keepalive(struct fn_sock *so)
{
    if (so->tp && !so->listening) {
        fn_tcp_set_keepalive(so->tp, so->keepalive, (uint32_t)so->keepidle,
                             (uint32_t)so->keepintvl, (uint32_t)so->keepcnt);
        fn_tcp_set_user_timeout(so->tp, so->user_timeout_ms);
    }
}

int fn_sock_state(const struct fn_sock *so)
{
    return so->tp ? fn_tcp_state(so->tp) : TCPS_CLOSED;
}

static int connecting(int state)
{
    return state == TCPS_SYN_SENT || state == TCPS_SYN_RECEIVED;
}

/* The error a failed connection has for its owner, until reported once (Linux sk_err). */
int fn_sock_error_peek(const struct fn_sock *so)
{
    int e;

    if (!so->tp || so->listening || so->err_taken || fn_tcp_state(so->tp) != TCPS_CLOSED)
        return 0;
    e = fn_tcp_error(so->tp);
    /* Linux's tcp_reset(): a RST in CLOSE_WAIT (the peer had closed, we had not) is EPIPE —
     * the peer is gone, not "reset" mid-conversation. */
    if (e == ECONNRESET && fn_tcp_rcvd_fin(so->tp) && !(so->shut & SO_SHUT_WR))
        e = EPIPE;
    return e;
}

int fn_sock_error_take(struct fn_sock *so)
{
    int e = fn_sock_error_peek(so);

    if (e)
        so->err_taken = 1;
    return e;
}

/* RCV_SHUTDOWN / SEND_SHUTDOWN: ours, the peer's FIN, or a connection that is over (Linux's
 * tcp_done() sets both). */
int fn_sock_rcv_shut(const struct fn_sock *so)
{
    return (so->shut & SO_SHUT_RD) ||
           (so->tp && (fn_tcp_rcvd_fin(so->tp) || fn_tcp_state(so->tp) == TCPS_CLOSED));
}

int fn_sock_snd_shut(const struct fn_sock *so)
{
    return (so->shut & SO_SHUT_WR) || (so->tp && fn_tcp_state(so->tp) == TCPS_CLOSED);
}

/* Bytes the socket may still queue: SO_SNDBUF and the stack's own bound. */
uint32_t fn_sock_send_room(const struct fn_sock *so)
{
    uint32_t q = fn_tcp_sndq(so->tp), w = fn_tcp_writable(so->tp);
    uint32_t lim = (uint32_t)so->sndbuf;

    if (q >= lim)
        return 0;
    return lim - q < w ? lim - q : w;
}

int fn_sock_writable(const struct fn_sock *so)
{
    uint32_t room;

    if (!so->tp)
        return 1;
    room = fn_sock_send_room(so);
    /* Linux sk_stream_is_writeable(): free space at least half of what is queued, so a
     * writer woken up can make real progress. */
    return room > 0 && room >= fn_tcp_sndq(so->tp) / 2;
}

uint32_t fn_sock_poll(const struct fn_sock *so)
{
    int state = fn_sock_state(so);
    uint32_t m = 0;

    if (so->listening)
        return fn_tcp_acceptq_len(so->tp) > 0 ? EPOLLIN | EPOLLRDNORM : 0;
    if ((fn_sock_rcv_shut(so) && fn_sock_snd_shut(so)) || state == TCPS_CLOSED)
        m |= EPOLLHUP;
    if (fn_sock_rcv_shut(so))
        m |= EPOLLIN | EPOLLRDNORM | EPOLLRDHUP;
    if (!connecting(state)) {
        if (so->tp && fn_tcp_readable(so->tp) > 0)
            m |= EPOLLIN | EPOLLRDNORM;
        if (fn_sock_snd_shut(so) || fn_sock_writable(so))
            m |= EPOLLOUT | EPOLLWRNORM;
    }
    if (fn_sock_error_peek(so))
        m |= EPOLLERR;
    return m;
}

/* ---- blocking ---- */

int fn_sock_wait(struct fn_socktab *t, struct fn_sock *so, int (*done)(struct fn_sock *),
                 uint64_t timeout_ns)
{
    struct fn_stack *st = t->st;
    uint64_t start = fn_clock_ns(), end = timeout_ns ? start + timeout_ns : UINT64_MAX;

    for (;;) {
        uint64_t now = fn_clock_ns(), d;

        fn_stack_poll(st, now);
        fn_sock_sync(t);
        if (done(so))
            return 1;
        if (now >= end)
            return 0;
        if (t->hook)
            t->hook(t->hook_arg, now);
        d = fn_stack_next_deadline(st);
        if (d > end)
            d = end;
        if (d <= now)
            continue;
        /* With a hook, other work may be due any time: never sleep long. */
        if (t->hook && d - now > 1000000u)
            d = now + 1000000u;
        fn_wait_fd(fn_stack_fd(st), d - now);
    }
}

/* A non-blocking call runs at the last poll's time; one that may wait reads the clock so
 * that the stack's timers and its own deadline agree. */
uint64_t fn_sock_call_now(const struct fn_stack *st, int nb)
{
    return nb ? st->now : fn_clock_ns();
}

/* ---- addresses and ports ---- */

static int sockaddr_in_get(const struct sockaddr *addr, socklen_t len, struct sockaddr_in *out)
{
    if (!addr)
        return fail(EFAULT);
    if (len < (socklen_t)sizeof(struct sockaddr_in))
        return fail(EINVAL);
    memcpy(out, addr, sizeof(*out));
    if (out->sin_family != AF_INET)
        return fail(EAFNOSUPPORT);
    return 0;
}

/* Linux's move_addr_to_user(): copy at most *len bytes, report the full length. */
static int sockaddr_in_put(struct sockaddr *addr, socklen_t *len, uint32_t ip, uint16_t port)
{
    struct sockaddr_in sin;
    socklen_t n;

    if (!len || !addr)
        return fail(EFAULT);
    if ((int)*len < 0)
        return fail(EINVAL);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = ip;
    sin.sin_port = htons(port);
    n = *len < (socklen_t)sizeof(sin) ? *len : (socklen_t)sizeof(sin);
    memcpy(addr, &sin, n);
    *len = sizeof(sin);
    return 0;
}

/* Does another socket's hold on `port` forbid so from taking it?  Linux's bind-conflict
 * rule: fine if both set SO_REUSEPORT, or both set SO_REUSEADDR and the other is not
 * listening.  A connection whose socket is closed but which still runs (TIME_WAIT above
 * all) holds the port too, unless so sets SO_REUSEADDR — the classic "Address already in
 * use" of a restarted server. */
static int port_conflict(const struct fn_socktab *t, const struct fn_sock *so, uint16_t port)
{
    for (uint32_t i = 0; i < t->n; i++) {
        const struct fn_sock *o = &t->socks[i];
        if (o == so || o->kind != FN_FD_SOCK || !o->bound || o->lport != port)
            continue;
        if (so->reuseport && o->reuseport)
            continue;
        if (so->reuseaddr && o->reuseaddr && !o->listening)
            continue;
        return 1;
    }
    if (!so->reuseaddr && fn_tcp_port_orphaned(t->st, port))
        return 1;
    return fn_tcp_port_listening(t->st, port, so->reuseport);
}

/* Port 0: a random free ephemeral port (RFC 6056 §3.3.1), then a linear probe. */
static int autobind(struct fn_socktab *t, struct fn_sock *so)
{
    uint32_t start = (uint32_t)(splitmix64(&t->rng) % EPHEMERAL_N);

    for (uint32_t i = 0; i < EPHEMERAL_N; i++) {
        uint16_t p = (uint16_t)(EPHEMERAL_LO + (start + i) % EPHEMERAL_N);
        if (!port_conflict(t, so, p)) {
            so->lport = p;
            so->bound = 1;
            return 0;
        }
    }
    return fail(EADDRINUSE);
}

/* ---- socket, bind, listen ---- */

/* TCP_CONGESTION chosen before the tcpcb existed goes to it now (the name was checked when
 * it was set, so this cannot fail).  Accepted connections need no call: the syncache gives
 * them the listener's algorithm. */
static void sock_apply_cc(struct fn_sock *so)
{
    if (so->cc)
        fn_tcp_set_cc(so->tp, so->cc);
}

static void sock_defaults(const struct fn_stack *st, struct fn_sock *so)
{
    so->rcvbuf = (int)(st->cfg.tcp_rcvbuf > INT_MAX / 2 ? INT_MAX / 2 : st->cfg.tcp_rcvbuf);
    so->sndbuf = (int)(st->cfg.tcp_sndbuf > INT_MAX / 2 ? INT_MAX / 2 : st->cfg.tcp_sndbuf);
    so->nodelay = st->cfg.tcp_nodelay != 0;
    /* Linux's defaults: tcp_keepalive_time 7200 s, intvl 75 s, probes 9 (RFC 1122
     * §4.2.3.6: at least two hours idle). */
    so->keepidle = 7200;
    so->keepintvl = 75;
    so->keepcnt = 9;
}

int fn_socket(struct fn_stack *st, int domain, int type, int protocol)
{
    struct fn_sock *so;

    if (fn_sock_enter(st) < 0)
        return -1;
    if (domain != AF_INET)
        return fail(EAFNOSUPPORT);
    if (type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC | 0xf))
        return fail(EINVAL);
    if ((type & 0xf) != SOCK_STREAM)
        return fail((type & 0xf) == SOCK_DGRAM || (type & 0xf) == SOCK_RAW
                        ? EPROTONOSUPPORT : EINVAL);
    if (protocol != 0 && protocol != IPPROTO_TCP)
        return fail(EPROTONOSUPPORT);
    so = fn_sock_alloc_counted(st, FN_FD_SOCK);
    if (!so)
        return -1;
    sock_defaults(st, so);
    so->nonblock = (type & SOCK_NONBLOCK) != 0;
    return sock_fd(st->sock, so);
}

int fn_bind(struct fn_stack *st, int fd, const struct sockaddr *addr, socklen_t addrlen)
{
    struct fn_sock *so = fn_sock_get(st, fd);
    struct sockaddr_in sin;
    uint16_t port;

    if (!so || sockaddr_in_get(addr, addrlen, &sin) < 0)
        return -1;
    if (sin.sin_addr.s_addr != htonl(INADDR_ANY) && sin.sin_addr.s_addr != st->cfg.ip)
        return fail(EADDRNOTAVAIL);
    if (so->bound || so->tp)
        return fail(EINVAL);
    port = ntohs(sin.sin_port);
    if (port == 0) {
        if (autobind(st->sock, so) < 0)
            return -1;
    } else {
        if (port_conflict(st->sock, so, port))
            return fail(EADDRINUSE);
        so->lport = port;
        so->bound = 1;
    }
    so->user_bound = 1;
    so->laddr = sin.sin_addr.s_addr;
    return 0;
}

int fn_listen(struct fn_stack *st, int fd, int backlog)
{
    struct fn_sock *so = fn_sock_get(st, fd);
    struct tcpcb *tp;
    int rc;

    if (!so)
        return -1;
    /* Linux: backlog is clamped to somaxconn, and the accept queue is full only when it
     * holds more than backlog connections — backlog + 1 fit (observed: listen(0) lets one
     * connection complete, listen(2) three). */
    if (backlog < 0 || backlog > SOMAXCONN_LINUX)
        backlog = SOMAXCONN_LINUX;
    if (so->listening) {
        fn_tcp_set_backlog(so->tp, (uint32_t)backlog + 1);
        return 0;
    }
    if (so->tp || so->ss != SS_UNCONNECTED)
        return fail(EINVAL);
    if (!so->bound && autobind(st->sock, so) < 0)
        return -1;
    rc = fn_tcp_listen_opts(st, so->lport, (uint32_t)backlog + 1, so->reuseport, &tp);
    if (rc)
        return fail(-rc);
    so->tp = tp;
    so->listening = 1;
    fn_tcp_set_user(tp, so);
    sock_apply_cc(so);
    /* What shapes the SYN-ACKs of the connections it accepts, as Linux. */
    fn_tcp_set_rcvbuf(tp, fn_sock_rcv_window(so));
    fn_tcp_set_user_mss(tp, (uint16_t)so->maxseg);
    fn_sock_wake(so, EP_WAKE_ALL);
    return 0;
}

/* ---- accept ---- */

static int accept_ready(struct fn_sock *so)
{
    return !so->listening || fn_tcp_acceptq_len(so->tp) > 0;
}

/* Linux clones the listening socket: an accepted one starts with the listener's options. */
static void inherit_options(struct fn_sock *so, const struct fn_sock *l)
{
    so->reuseaddr = l->reuseaddr;
    so->reuseport = l->reuseport;
    so->keepalive = l->keepalive;
    so->nodelay = l->nodelay;
    so->linger_on = l->linger_on;
    so->linger_s = l->linger_s;
    so->rcvbuf = l->rcvbuf;
    so->rcvbuf_lock = l->rcvbuf_lock;
    so->sndbuf = l->sndbuf;
    so->maxseg = l->maxseg;
    so->cc = l->cc;
    so->cc_linux_reno = l->cc_linux_reno;
    so->keepidle = l->keepidle;
    so->keepintvl = l->keepintvl;
    so->keepcnt = l->keepcnt;
    so->user_timeout_ms = l->user_timeout_ms;
    so->rcvtimeo_ns = l->rcvtimeo_ns;
    so->sndtimeo_ns = l->sndtimeo_ns;
    so->laddr = l->laddr;
}

static struct fn_sock *accept_one(struct fn_stack *st, struct fn_sock *l, int flags)
{
    struct fn_socktab *t = st->sock;
    struct fn_sock *so;
    struct tcpcb *tp;

    /* Linux takes the fd before the connection: a full table leaves it queued. */
    so = fn_sock_alloc(t, FN_FD_SOCK);
    if (!so) {
        st->stats.sock_accept_table_full++;
        errno = EMFILE;
        return NULL;
    }
    tp = fn_tcp_accept(l->tp);
    if (!tp) {
        fn_sock_free(t, so);
        errno = EAGAIN;
        return NULL;
    }
    inherit_options(so, l);
    so->tp = tp;
    so->ss = SS_CONNECTED;
    so->bound = 1;
    so->lport = fn_tcp_lport(tp);
    so->nonblock = (flags & SOCK_NONBLOCK) != 0;
    fn_tcp_set_user(tp, so);
    fn_tcp_set_nodelay(tp, so->nodelay);
    fn_sock_apply_keepalive(so);
    if (so->maxseg)
        fn_tcp_clamp_mss(tp, so->maxseg);
    return so;
}

int fn_accept4(struct fn_stack *st, int fd, struct sockaddr *addr, socklen_t *addrlen,
               int flags)
{
    struct fn_sock *l = fn_sock_get(st, fd), *so;

    if (!l)
        return -1;
    if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC))
        return fail(EINVAL);
    if (!l->listening)
        return fail(EINVAL);
    if (addr && !addrlen)
        return fail(EFAULT);
    if (addrlen && (int)*addrlen < 0)
        return fail(EINVAL);
    while (!(so = accept_one(st, l, flags))) {
        if (errno != EAGAIN || l->nonblock)
            return -1;
        if (!fn_sock_wait(st->sock, l, accept_ready, l->rcvtimeo_ns))
            return fail(EAGAIN);
        if (!l->listening)
            return fail(EINVAL);
    }
    if (addr)
        sockaddr_in_put(addr, addrlen, fn_tcp_faddr(so->tp), fn_tcp_fport(so->tp));
    return sock_fd(st->sock, so);
}

int fn_accept(struct fn_stack *st, int fd, struct sockaddr *addr, socklen_t *addrlen)
{
    return fn_accept4(st, fd, addr, addrlen, 0);
}

/* ---- connect ---- */

static int connect_done(struct fn_sock *so)
{
    return !connecting(fn_sock_state(so));
}

/* A connection that is over goes back to an unconnected socket (Linux's disconnect): the
 * tcpcb is released and a port connect() picked is given back. */
static void disconnect(struct fn_sock *so, uint64_t now)
{
    fn_sock_zc_drop(so, now);
    if (so->tp)
        fn_tcp_close(so->tp, now);
    so->tp = NULL;
    so->ss = SS_UNCONNECTED;
    so->err_taken = 0;
    so->shut = 0;
    if (!so->user_bound) {
        so->bound = 0;
        so->lport = 0;
    }
}

/* Linux's __inet_stream_connect(): the socket state decides first, then TCP's. */
int fn_connect(struct fn_stack *st, int fd, const struct sockaddr *addr, socklen_t addrlen)
{
    struct fn_sock *so = fn_sock_get(st, fd);
    struct sockaddr_in sin;
    uint64_t now;
    int err, rc;

    if (!so || sockaddr_in_get(addr, addrlen, &sin) < 0)
        return -1;
    now = fn_sock_call_now(st, so->nonblock);
    switch (so->ss) {
    case SS_CONNECTED:
        return fail(EISCONN);
    case SS_CONNECTING:
        err = EALREADY;
        break;
    default:
        if (so->tp)                 /* listening */
            return fail(EISCONN);
        /* The port comes from here, not fn_tcp: it must not be one a bound socket holds. */
        if (!so->bound && autobind(st->sock, so) < 0)
            return fail(EADDRNOTAVAIL);
        rc = fn_tcp_connect_opts(st, sin.sin_addr.s_addr, ntohs(sin.sin_port), so->lport,
                                 fn_sock_rcv_window(so), (uint16_t)so->maxseg, &so->tp, now);
        if (rc) {
            so->tp = NULL;
            if (!so->user_bound)
                so->bound = 0;
            return fail(-rc);
        }
        fn_tcp_set_user(so->tp, so);
        fn_tcp_set_nodelay(so->tp, so->nodelay);
        fn_sock_apply_keepalive(so);
        sock_apply_cc(so);
        so->bound = 1;
        so->ss = SS_CONNECTING;
        fn_sock_wake(so, EP_WAKE_ALL);
        err = EINPROGRESS;
        break;
    }
    if (connecting(fn_sock_state(so))) {
        if (so->nonblock || !fn_sock_wait(st->sock, so, connect_done, so->sndtimeo_ns))
            return fail(err);
    }
    if (fn_sock_state(so) == TCPS_CLOSED) {
        /* Refused, reset or timed out: report it once (ECONNABORTED if SO_ERROR took it
         * already) and start over unconnected. */
        err = fn_sock_error_take(so);
        disconnect(so, now);
        return fail(err ? err : ECONNABORTED);
    }
    so->ss = SS_CONNECTED;
    if (so->maxseg)
        fn_tcp_clamp_mss(so->tp, so->maxseg);
    return 0;
}

/* ---- receive ---- */

/* One attempt: bytes (> 0), 0 at EOF, or -errno (-EAGAIN: nothing yet).  Linux's
 * tcp_recvmsg() order: data first, then EOF after the peer's FIN, then a pending error
 * (once), then a shut-down or finished connection reads as EOF. */
static int recv_once(struct fn_sock *so, uint8_t *buf, size_t len, int flags, uint64_t now)
{
    uint32_t n = len > IO_CHUNK ? IO_CHUNK : (uint32_t)len;

    if (so->listening || !so->tp)
        return -ENOTCONN;
    if (flags & MSG_OOB)
        return -EOPNOTSUPP;         /* no urgent data here (Linux: EINVAL when none) */
    if (len == 0)
        return 0;
    if (fn_tcp_readable(so->tp) > 0) {
        /* Linux finds a bad buffer only when it copies. */
        if (!buf)
            return -EFAULT;
        if (flags & MSG_PEEK)
            return (int)fn_tcp_peek(so->tp, buf, n);
        return fn_tcp_recv(so->tp, buf, n, now);
    }
    return fn_sock_recv_nodata(so);
}

int fn_sock_recv_nodata(struct fn_sock *so)
{
    int e;

    if (fn_tcp_rcvd_fin(so->tp))
        return 0;
    if ((e = fn_sock_error_take(so)) != 0)
        return -e;
    if (fn_sock_rcv_shut(so))
        return 0;
    return -EAGAIN;
}

int fn_sock_recv_ready(struct fn_sock *so)
{
    return !so->tp || fn_tcp_readable(so->tp) > 0 || fn_sock_rcv_shut(so) || fn_sock_error_peek(so);
}

static ssize_t recv_common(struct fn_stack *st, struct fn_sock *so, uint8_t *buf, size_t len,
                           int flags)
{
    int nb = so->nonblock || (flags & MSG_DONTWAIT);
    uint64_t now = fn_sock_call_now(st, nb);
    size_t done = 0;

    for (;;) {
        int r = recv_once(so, buf ? buf + done : NULL, len - done, flags, now);
        if (r > 0) {
            done += (size_t)r;
            /* MSG_WAITALL: keep going until len, EOF, an error or the timeout. */
            if (!(flags & MSG_WAITALL) || (flags & MSG_PEEK) || done == len)
                return (ssize_t)done;
            continue;
        }
        if (r == 0 || (r != -EAGAIN && done > 0))
            return (ssize_t)done;
        if (r != -EAGAIN)
            return fail(-r);
        if (nb || !fn_sock_wait(st->sock, so, fn_sock_recv_ready, so->rcvtimeo_ns))
            return done ? (ssize_t)done : fail(EAGAIN);
        now = fn_clock_ns();
    }
}

ssize_t fn_recv(struct fn_stack *st, int fd, void *buf, size_t len, int flags)
{
    struct fn_sock *so = fn_sock_get(st, fd);

    return so ? recv_common(st, so, buf, len, flags) : -1;
}

ssize_t fn_read(struct fn_stack *st, int fd, void *buf, size_t len)
{
    return fn_recv(st, fd, buf, len, 0);
}

/* The iovec checks of Linux's import_iovec(): count 0..IOV_MAX, no NULL base with a length,
 * a total that fits ssize_t. */
static int iov_check(const struct iovec *iov, int iovcnt)
{
    size_t total = 0;

    if (iovcnt < 0 || iovcnt > IOV_MAX)
        return fail(EINVAL);
    if (iovcnt > 0 && !iov)
        return fail(EFAULT);
    for (int i = 0; i < iovcnt; i++) {
        if (iov[i].iov_len > 0 && !iov[i].iov_base)
            return fail(EFAULT);
        if (iov[i].iov_len > (size_t)SSIZE_MAX - total)
            return fail(EINVAL);
        total += iov[i].iov_len;
    }
    return 0;
}

static ssize_t send_common(struct fn_stack *st, struct fn_sock *so, const uint8_t *buf,
                           size_t len, int flags);

/* recv_common or send_common over an iovec: only the first part may wait, the rest take
 * what fits now; a short part ends the call.  For sends every part but the last non-empty
 * one carries MSG_MORE, so the iovec goes out as one stream, not a segment per part. */
static ssize_t iov_io(struct fn_stack *st, int fd, const struct iovec *iov, int iovcnt,
                      int sending)
{
    struct fn_sock *so = fn_sock_get(st, fd);
    ssize_t done = 0;
    int last = iovcnt - 1;

    if (!so || iov_check(iov, iovcnt) < 0)
        return -1;
    while (last > 0 && iov[last].iov_len == 0)
        last--;
    for (int i = 0; i < iovcnt; i++) {
        int flags = done ? MSG_DONTWAIT : 0;
        ssize_t r;
        if (iov[i].iov_len == 0)
            continue;
        if (sending)
            r = send_common(st, so, iov[i].iov_base, iov[i].iov_len,
                            flags | (i < last ? MSG_MORE : 0));
        else
            r = recv_common(st, so, iov[i].iov_base, iov[i].iov_len, flags);
        if (r < 0)
            return done ? done : -1;
        done += r;
        if ((size_t)r < iov[i].iov_len)
            break;
    }
    return done;
}

ssize_t fn_readv(struct fn_stack *st, int fd, const struct iovec *iov, int iovcnt)
{
    return iov_io(st, fd, iov, iovcnt, 0);
}

/* ---- send ---- */

/* One attempt: bytes queued (> 0), 0 for len 0, or -errno.  Linux's tcp_sendmsg() order:
 * not yet connected waits (EAGAIN), a pending error is reported once, anything else not
 * ESTABLISHED/CLOSE_WAIT is EPIPE. */
static int send_once(struct fn_sock *so, const uint8_t *buf, size_t len, int flags,
                     uint64_t now)
{
    uint32_t room, n;
    int rc = fn_sock_send_check(so, flags);

    if (rc < 0)
        return rc;
    if (len == 0)
        return 0;
    if (!buf)
        return -EFAULT;
    room = fn_sock_send_room(so);
    if (room == 0) {
        so->nospace = 1;
        return -EAGAIN;
    }
    n = len > room ? room : (uint32_t)(len > IO_CHUNK ? IO_CHUNK : len);
    if (flags & MSG_MORE)
        rc = fn_tcp_send_more(so->tp, buf, n, now);
    else
        rc = fn_tcp_send(so->tp, buf, n, now);
    if (rc == -EAGAIN || !fn_sock_writable(so))
        so->nospace = 1;
    return rc;
}

int fn_sock_send_check(struct fn_sock *so, int flags)
{
    int state = fn_sock_state(so), e;

    if (so->listening || !so->tp)
        return -EPIPE;
    if (state != TCPS_ESTABLISHED && state != TCPS_CLOSE_WAIT) {
        if ((e = fn_sock_error_take(so)) != 0)
            return -e;
        return connecting(state) ? -EAGAIN : -EPIPE;
    }
    if (flags & MSG_OOB)
        return -EOPNOTSUPP;         /* no urgent data here */
    return 0;
}

static int send_ready(struct fn_sock *so)
{
    int state = fn_sock_state(so);

    if (!so->tp)
        return 1;
    if (connecting(state))
        return 0;
    if (state != TCPS_ESTABLISHED && state != TCPS_CLOSE_WAIT)
        return 1;
    return fn_sock_send_room(so) > 0;
}

static ssize_t send_common(struct fn_stack *st, struct fn_sock *so, const uint8_t *buf,
                           size_t len, int flags)
{
    int nb = so->nonblock || (flags & MSG_DONTWAIT);
    uint64_t now = fn_sock_call_now(st, nb);
    size_t done = 0;

    for (;;) {
        int r = send_once(so, buf ? buf + done : NULL, len - done, flags, now);
        if (r > 0) {
            done += (size_t)r;
            if (done == len || nb)
                return (ssize_t)done;
            continue;
        }
        /* A blocking send waits until all of it is queued (Linux); what was queued before
         * an error, a timeout or EAGAIN on a non-blocking socket is the result. */
        if (r == 0 || (r != -EAGAIN && done > 0))
            return (ssize_t)done;
        if (r != -EAGAIN)
            return fail(-r);
        if (nb || !fn_sock_wait(st->sock, so, send_ready, so->sndtimeo_ns))
            return done ? (ssize_t)done : fail(EAGAIN);
        now = fn_clock_ns();
    }
}

ssize_t fn_send(struct fn_stack *st, int fd, const void *buf, size_t len, int flags)
{
    struct fn_sock *so = fn_sock_get(st, fd);

    return so ? send_common(st, so, buf, len, flags) : -1;
}

ssize_t fn_write(struct fn_stack *st, int fd, const void *buf, size_t len)
{
    return fn_send(st, fd, buf, len, 0);
}

ssize_t fn_writev(struct fn_stack *st, int fd, const struct iovec *iov, int iovcnt)
{
    return iov_io(st, fd, iov, iovcnt, 1);
}

/* ---- shutdown, close ---- */

/* Linux's inet_shutdown(). */
int fn_shutdown(struct fn_stack *st, int fd, int how)
{
    struct fn_sock *so = fn_sock_get(st, fd);
    int state;
    unsigned bits;

    if (!so)
        return -1;
    if (how < SHUT_RD || how > SHUT_RDWR)
        return fail(EINVAL);
    bits = (unsigned)how + 1;       /* SHUT_RD → SO_SHUT_RD, SHUT_WR → SO_SHUT_WR, both */
    if (so->listening) {
        /* Shutting the receive side of a listener stops it listening (its queue is
         * reset); the port stays bound and listen() may start it again. */
        if (bits & SO_SHUT_RD) {
            fn_tcp_close(so->tp, st->now);
            so->tp = NULL;
            so->listening = 0;
            fn_sock_wake(so, EP_WAKE_ALL);
        }
        return 0;
    }
    state = fn_sock_state(so);
    if (state == TCPS_SYN_SENT) {
        disconnect(so, st->now);
        fn_sock_wake(so, EP_WAKE_ALL);
        return 0;
    }
    /* Linux records the shutdown even when there is no connection, then says ENOTCONN. */
    so->shut |= (uint8_t)bits;
    fn_sock_wake(so, EP_WAKE_ALL);
    if (state == TCPS_CLOSED)
        return fail(ENOTCONN);
    if (bits & SO_SHUT_WR)
        fn_tcp_shutdown_wr(so->tp, st->now);
    return 0;
}

static int linger_done(struct fn_sock *so)
{
    int state = fn_sock_state(so);

    return state == TCPS_FIN_WAIT_2 || state == TCPS_TIME_WAIT || state == TCPS_CLOSED;
}

static void sock_release(struct fn_stack *st, struct fn_sock *so)
{
    struct tcpcb *tp = so->tp;

    fn_sock_unwatch(st->sock, so);
    fn_sock_zc_drop(so, st->now);
    so->tp = NULL;
    if (!tp)
        return;
    if (so->listening) {
        fn_tcp_close(tp, st->now);
    } else if (so->linger_on && so->linger_s == 0) {
        /* SO_LINGER {1, 0}: abort, the peer gets a RST (RFC 9293 §3.10.5 ABORT). */
        fn_tcp_abort(tp, st->now);
    } else if (so->linger_on && fn_tcp_readable(tp) == 0 &&
               TCPS_HAVEESTABLISHED(fn_tcp_state(tp))) {
        /* SO_LINGER {1, n}: wait up to n s for the data and the FIN to be acknowledged —
         * O_NONBLOCK or not, as Linux's inet_release(). */
        so->tp = tp;
        fn_tcp_shutdown_wr(tp, fn_clock_ns());
        fn_sock_wait(st->sock, so, linger_done, (uint64_t)so->linger_s * 1000000000ull);
        so->tp = NULL;
        fn_tcp_close(tp, st->now);
    } else {
        fn_tcp_close(tp, st->now);
    }
}

int fn_close(struct fn_stack *st, int fd)
{
    struct fn_sock *so = fn_sock_get_any(st, fd);

    if (!so)
        return -1;
    if (so->kind != FN_FD_SOCK)
        fn_epoll_release(st->sock, so);
    else
        sock_release(st, so);
    fn_sock_free(st->sock, so);
    return 0;
}

/* ---- names ---- */

int fn_getsockname(struct fn_stack *st, int fd, struct sockaddr *addr, socklen_t *addrlen)
{
    struct fn_sock *so = fn_sock_get(st, fd);
    uint32_t ip;

    if (!so)
        return -1;
    /* A connection's local address is the stack's; a listener's is what bind() said. */
    ip = so->tp && !so->listening ? st->cfg.ip : so->laddr;
    return sockaddr_in_put(addr, addrlen, ip, so->bound ? so->lport : 0);
}

int fn_getpeername(struct fn_stack *st, int fd, struct sockaddr *addr, socklen_t *addrlen)
{
    struct fn_sock *so = fn_sock_get(st, fd);
    int state;

    if (!so)
        return -1;
    state = fn_sock_state(so);
    if (!so->tp || so->listening || state == TCPS_CLOSED || state == TCPS_SYN_SENT)
        return fail(ENOTCONN);
    return sockaddr_in_put(addr, addrlen, fn_tcp_faddr(so->tp), fn_tcp_fport(so->tp));
}

/* ---- ioctl ---- */

int fn_ioctl(struct fn_stack *st, int fd, unsigned long request, void *arg)
{
    struct fn_sock *so = fn_sock_get_any(st, fd);

    if (!so)
        return -1;
    switch (request) {
    case FIONBIO:
        if (!arg)
            return fail(EFAULT);
        so->nonblock = *(const int *)arg != 0;
        return 0;
    case FIONREAD:
        if (so->kind != FN_FD_SOCK)
            return fail(ENOTTY);
        if (!arg)
            return fail(EFAULT);
        if (so->listening)
            return fail(EINVAL);
        *(int *)arg = so->tp ? (int)fn_tcp_readable(so->tp) : 0;
        return 0;
    default:
        return fail(ENOTTY);
    }
}
