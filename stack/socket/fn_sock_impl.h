/*
 * fn_sock_impl.h — the inside of the socket layer (socket/): the descriptor table, sockets,
 * epoll instances and their registrations.
 *
 * Contract: one struct fn_socktab per stack, created by fn_sock_init() with every
 * descriptor (cfg.tcp_max_sockets) and every epoll registration (twice that) the stack
 * will ever use; nothing here allocates after that.  Only the stack's owner thread touches
 * any of it (every public entry point checks st->owner_tid first).
 */
#ifndef FASTNET_SOCKET_FN_SOCK_IMPL_H
#define FASTNET_SOCKET_FN_SOCK_IMPL_H

#include <errno.h>
#include <stdint.h>

#include "fastnet/fn_event.h"
#include "fastnet/fn_socket.h"

struct tcpcb;
struct fn_pkt;

#define FN_FD_FREE  0
#define FN_FD_SOCK  1
#define FN_FD_EPOLL 2
#define FN_FD_KQUEUE 3

/* Linux's struct socket state: what connect() remembers apart from TCP's own state. */
#define SS_UNCONNECTED 0
#define SS_CONNECTING  1            /* connect() started; the next connect() reports */
#define SS_CONNECTED   2

#define SO_SHUT_RD 1u               /* fn_shutdown(SHUT_RD) */
#define SO_SHUT_WR 2u               /* fn_shutdown(SHUT_WR) */

#define EP_WAKE_ALL 0xffffffffu     /* a state change: every registration may be ready */

struct fn_sock;

/* One registration of a socket in an epoll instance. */
struct fn_epitem {
    struct fn_sock *ep;             /* the epoll instance */
    struct fn_sock *so;             /* the watched socket */
    uint32_t events;                /* EPOLL* asked for, EPOLLET / EPOLLONESHOT included */
    uint64_t data;                  /* epoll_data / kevent udata, as given */
    int16_t filter;                 /* kqueue: EVFILT_READ / EVFILT_WRITE; epoll: 0 */
    uint16_t kflags;                /* kqueue: EV_ONESHOT / EV_DISPATCH / EV_CLEAR asked */
    uint8_t queued;                 /* linked in ep's ready list */
    uint8_t disabled;               /* EPOLLONESHOT fired: silent until EPOLL_CTL_MOD */
    struct fn_epitem *rprev, *rnext;    /* ep's ready list */
    struct fn_epitem *snext;        /* so's registrations; the free list when unused */
};

/* A descriptor: a socket (kind FN_FD_SOCK), an epoll instance (FN_FD_EPOLL) or a kqueue
 * (FN_FD_KQUEUE; it uses the epoll fields: a kqueue is an epoll set keyed by filter). */
struct fn_sock {
    uint8_t kind;                   /* FN_FD_* */
    /* ---- socket ---- */
    uint8_t ss;                     /* SS_* */
    uint8_t nonblock;               /* SOCK_NONBLOCK / FIONBIO */
    uint8_t listening;              /* tp is a listener */
    uint8_t shut;                   /* SO_SHUT_* from fn_shutdown() */
    uint8_t bound;                  /* lport is held (bind, autobind, connect, accept) */
    uint8_t user_bound;             /* bind() chose it: kept when a connect fails */
    uint8_t err_taken;              /* tp's error was reported once (Linux consumes sk_err) */
    uint8_t nospace;                /* a send found no room: new room is an EPOLLOUT edge */
    uint8_t reuseaddr, reuseport, keepalive, nodelay, linger_on;
    int linger_s;
    int rcvbuf, sndbuf;             /* as getsockopt reports them (Linux doubles a set) */
    uint8_t rcvbuf_lock;            /* SO_RCVBUF was set: the window is bounded by half of
                                     * rcvbuf (Linux's SOCK_RCVBUF_LOCK), else by the cfg's */
    uint32_t maxseg;                /* TCP_MAXSEG; 0 = not set */
    const char *cc;                 /* TCP_CONGESTION: a registry name (static); NULL = the
                                     * config default, until set */
    uint8_t cc_linux_reno;          /* it was set as Linux's "reno" (= newreno): reported so */
    int keepidle, keepintvl, keepcnt;
    uint32_t user_timeout_ms;       /* TCP_USER_TIMEOUT (RFC 5482); 0 = off */
    uint64_t rcvtimeo_ns, sndtimeo_ns;  /* 0 = wait forever (Linux's default) */
    uint32_t laddr;                 /* bound address, network order (0 = any) */
    uint16_t lport;                 /* host order, valid when bound */
    struct tcpcb *tp;               /* the connection or listener; NULL before/after */
    struct fn_pkt *zc_rx_head, *zc_rx_tail; /* received buffers lent by fn_zc_recv, oldest
                                     * first (linked by pkt->next), until fn_zc_release */
    uint32_t zc_rx_n;               /* buffers in that list */
    struct fn_pkt *zc_tx;           /* buffers fn_zc_alloc lent, not yet sent or freed */
    uint32_t zc_wait_len;           /* a blocking fn_zc_send waits for room for this much */
    struct fn_epitem *items;        /* registrations watching this socket */
    /* ---- epoll instance ---- */
    struct fn_epitem *ep_head, *ep_tail;    /* ready registrations, oldest first */
    uint32_t ep_nready;
};

struct fn_socktab {
    struct fn_stack *st;
    struct fn_sock *socks;          /* cfg.tcp_max_sockets descriptors */
    uint32_t n, used;
    uint64_t *freemap;              /* bit set = descriptor free; lowest free first */
    uint32_t nwords;
    uint32_t free_lo;               /* every freemap word below it is 0 (all taken) */
    uint64_t alloc_words;           /* freemap words fn_sock_alloc has examined: its cost,
                                     * read by the tests (O(allocations + nwords) total) */
    struct fn_epitem *items;        /* 2 * n registrations */
    uint32_t nitems;
    struct fn_epitem *free_items;
    uint64_t rng;                   /* splitmix64 state for ephemeral ports */
    fn_block_hook hook;
    void *hook_arg;
};

/* -1 with errno: the return of every failing call. */
static inline int fn_sock_fail(int err)
{
    errno = err;
    return -1;
}

/* socket.c */
/* Every entry point first: the owner thread only (EPERM; nothing of st but owner_tid is
 * read otherwise), then the stack's pending events folded into socket state. */
int fn_sock_enter(struct fn_stack *st);
/* fd → descriptor of any kind after fn_sock_enter: NULL with errno EPERM or EBADF. */
struct fn_sock *fn_sock_get_any(struct fn_stack *st, int fd);
/* fd → socket after the owner check and a sync: NULL with errno EPERM, EBADF, ENOTSOCK. */
struct fn_sock *fn_sock_get(struct fn_stack *st, int fd);
/* TCPS_* of the socket's tcpcb; TCPS_CLOSED without one. */
int fn_sock_state(const struct fn_sock *so);
/* Hand the socket's SO_KEEPALIVE / TCP_KEEP* / TCP_USER_TIMEOUT values to its connection
 * (no-op without one or on a listener, whose values are inherited at accept). */
void fn_sock_apply_keepalive(struct fn_sock *so);
/* Take the pending error (Linux's sock_error(): reported once, then 0). */
int fn_sock_error_take(struct fn_sock *so);
/* Linux's tcp_poll(): the EPOLL* bits that hold for the socket now. */
uint32_t fn_sock_poll(const struct fn_sock *so);
int fn_sock_writable(const struct fn_sock *so);
/* Bytes a send may queue now; receive / send side shut down (ours, the peer's, or over). */
uint32_t fn_sock_send_room(const struct fn_sock *so);
int fn_sock_rcv_shut(const struct fn_sock *so);
int fn_sock_snd_shut(const struct fn_sock *so);
/* The pending error without taking it (0 if none). */
int fn_sock_error_peek(const struct fn_sock *so);
/* Take a descriptor (lowest free); NULL when the table is full. */
struct fn_sock *fn_sock_alloc(struct fn_socktab *t, uint8_t kind);
/* The same, counting a full table (sock_table_full) and setting errno EMFILE. */
struct fn_sock *fn_sock_alloc_counted(struct fn_stack *st, uint8_t kind);
/* fn_sock_enter, then a new descriptor of that kind: its number, or -1 with errno. */
int fn_sock_open(struct fn_stack *st, uint8_t kind);
void fn_sock_free(struct fn_socktab *t, struct fn_sock *so);
/* Run the stack with the platform clock until done(so) or timeout_ns passed (0 = no
 * bound); sleeps on the backend fd between rounds.  Returns 1 if done, 0 on timeout. */
int fn_sock_wait(struct fn_socktab *t, struct fn_sock *so, int (*done)(struct fn_sock *),
                 uint64_t timeout_ns);

/* The socket layer's time for a call: the last poll's if it never waits (nb), else the
 * clock's. */
uint64_t fn_sock_call_now(const struct fn_stack *st, int nb);
/* A connected socket with nothing to read: 0 (EOF: FIN, shutdown, over) or -errno (a
 * pending error, once; -EAGAIN: data may come). */
int fn_sock_recv_nodata(struct fn_sock *so);
/* A blocking receive may return (data, EOF, error, no connection). */
int fn_sock_recv_ready(struct fn_sock *so);
/* May a send go ahead on so (0), or -errno as Linux's tcp_sendmsg() (EPIPE, EAGAIN while
 * connecting, the pending error once, EOPNOTSUPP for MSG_OOB)? */
int fn_sock_send_check(struct fn_sock *so, int flags);

/* The receive buffer SO_RCVBUF gives the connection (0: the cfg's, not set). */
uint32_t fn_sock_rcv_window(const struct fn_sock *so);

/* sock_zc.c */
/* Free every buffer the socket lent (received or for sending) and give their bytes back to
 * the connection: close() and disconnect. */
void fn_sock_zc_drop(struct fn_sock *so, uint64_t now);

/* sock_event.c */
/* Hand the stack's ready list to the registrations it concerns (O(ready)). */
void fn_sock_sync(struct fn_socktab *t);
/* Queue so's registrations whose events meet key (EP_WAKE_ALL: all of them). */
void fn_sock_wake(struct fn_sock *so, uint32_t key);
/* Drop every registration of a socket (closed) or of an epoll instance (closed). */
void fn_sock_unwatch(struct fn_socktab *t, struct fn_sock *so);
void fn_epoll_release(struct fn_socktab *t, struct fn_sock *ep);
/* Move up to max ready registrations of ep out through fill (Linux's ep_send_events):
 * each still ready one is reported with its mask; level-triggered ones are queued again,
 * EPOLLONESHOT ones disabled, EV_ONESHOT ones deleted. */
typedef void (*fn_ep_fill)(const struct fn_epitem *it, int fd, uint32_t mask, void *out, int i);
int fn_ep_collect(struct fn_socktab *t, struct fn_sock *ep, void *out, int max,
                  fn_ep_fill fill);
/* Run the stack until fn_ep_collect reports something or the clock passes end
 * (UINT64_MAX: no bound).  Returns the count (0 on timeout). */
int fn_ep_wait(struct fn_socktab *t, struct fn_sock *ep, uint64_t end, void *out, int max,
               fn_ep_fill fill);
/* The registration pool and ready lists, shared with sock_kqueue.c. */
struct fn_epitem *fn_epitem_new(struct fn_stack *st, struct fn_sock *ep, struct fn_sock *so);
struct fn_epitem *fn_epitem_find(struct fn_sock *so, const struct fn_sock *ep, int16_t filter);
void fn_epitem_del(struct fn_socktab *t, struct fn_epitem *it);
void fn_epitem_arm(struct fn_epitem *it);
void fn_epitem_queue(struct fn_epitem *it);
void fn_epitem_dequeue(struct fn_epitem *it);
int fn_ep_has_ready(struct fn_sock *ep);

#endif
