/*
 * fn_tcp.h — the internal TCP user API: what the socket layer (next issue) and the tests use.
 *
 * Contract: every call runs on the core that owns the stack; nothing blocks and nothing reads
 * the clock (now is passed in, monotonic ns).  A struct tcpcb * handed out here is owned by
 * the caller until fn_tcp_close() or fn_tcp_abort(), after which it must not be used: the
 * stack finishes the close on its own and recycles the tcpcb.  Connections accepted from a
 * listener become the caller's with fn_tcp_accept().
 *
 * Errors are negative errno values.  A connection that fails (reset, refused, timed out)
 * moves to TCPS_CLOSED with fn_tcp_error() set and FN_TCP_EV_ERROR | FN_TCP_EV_CLOSED raised;
 * its tcpcb stays valid until the owner closes it.
 *
 * Events: each tcpcb has a mask of pending events.  Raising one links the tcpcb into the
 * stack's ready list (once); fn_tcp_ready() hands the list to the owner in one batch and
 * clears it — O(ready), never a scan of all connections.
 */
#ifndef FASTNET_TCP_FN_TCP_H
#define FASTNET_TCP_FN_TCP_H

#include <stdint.h>

struct fn_stack;
struct tcpcb;

#define FN_TCP_EV_READABLE  0x01u /* data (or EOF) to read; on a listener: a connection to accept */
#define FN_TCP_EV_WRITABLE  0x02u /* send buffer space became available */
#define FN_TCP_EV_CONNECTED 0x04u /* the handshake completed */
#define FN_TCP_EV_EOF       0x08u /* the peer's FIN arrived (after all its data) */
#define FN_TCP_EV_ERROR     0x10u /* fn_tcp_error() is set */
#define FN_TCP_EV_CLOSED    0x20u /* the connection reached CLOSED */

struct fn_tcp_event {
    struct tcpcb *tp;
    uint32_t events;            /* FN_TCP_EV_* raised since the last fn_tcp_ready() */
};

/* Listen on our address, local port `port` (host order).  backlog bounds both the listener's
 * half-open connections in the syncache (beyond it: SYN cookies, cfg.tcp_syncookies) and its
 * completed connections not yet accepted (beyond it SYNs and third ACKs are dropped).
 * -EADDRINUSE, -ENOBUFS (no free tcpcb), -EINVAL (port 0, backlog 0). */
int fn_tcp_listen(struct fn_stack *st, uint16_t port, uint32_t backlog, struct tcpcb **out);
/* The same; reuseport != 0 joins (or starts) the port's SO_REUSEPORT group: every listener
 * of the port must have set it, and each new flow goes to one member (tcp_lookup_listen_flow
 * in tcp_subr.c).  -EADDRINUSE when a listener of the port is not in the group. */
int fn_tcp_listen_opts(struct fn_stack *st, uint16_t port, uint32_t backlog, int reuseport,
                       struct tcpcb **out);
/* The oldest established connection of a listener, now owned by the caller; NULL if none. */
struct tcpcb *fn_tcp_accept(struct tcpcb *listener);
/* Active open to dst (network order) : dst_port (host order) from src_port (0 = a random
 * ephemeral port, RFC 6056).  Sends the SYN.  -EADDRINUSE, -ENOBUFS, -EINVAL,
 * -EADDRNOTAVAIL (no free ephemeral port). */
int fn_tcp_connect(struct fn_stack *st, uint32_t dst, uint16_t dst_port, uint16_t src_port,
                   struct tcpcb **out, uint64_t now);
/* Queue up to len bytes: returns bytes queued (> 0), -EAGAIN when the send buffer is full or
 * the buffer pool grants the connection no more (FN_TCP_EV_WRITABLE follows once it does),
 * -EPIPE after shutdown/close, -ENOTCONN on a listener, -t_error after a failure. */
int fn_tcp_send(struct tcpcb *tp, const void *data, uint32_t len, uint64_t now);
/* Copy out up to len bytes: bytes (> 0), 0 at EOF, -EAGAIN when nothing is there yet,
 * -t_error after a failure, -ENOTCONN on a listener. */
int fn_tcp_recv(struct tcpcb *tp, void *buf, uint32_t len, uint64_t now);
/* Send a FIN after the queued data (half-close).  0 or -ENOTCONN. */
int fn_tcp_shutdown_wr(struct tcpcb *tp, uint64_t now);
/* Release the connection: graceful (FIN) unless unread data is waiting, in which case the
 * peer is reset (RFC 9293 §3.10.4 / RFC 2525 §2.17).  Closing a listener resets its queued
 * connections.  tp is invalid afterwards. */
void fn_tcp_close(struct tcpcb *tp, uint64_t now);
/* Reset the connection (RST) and release it.  tp is invalid afterwards. */
void fn_tcp_abort(struct tcpcb *tp, uint64_t now);

int fn_tcp_state(const struct tcpcb *tp);       /* TCPS_* */
int fn_tcp_error(const struct tcpcb *tp);       /* 0 or a positive errno */
uint32_t fn_tcp_events(const struct tcpcb *tp); /* pending events (not cleared) */
/* Bytes readable now / bytes fn_tcp_send would queue now (free space in the send buffer,
 * bounded by the connection's share of the buffer pool). */
uint32_t fn_tcp_readable(const struct tcpcb *tp);
uint32_t fn_tcp_writable(const struct tcpcb *tp);
/* Local/foreign port (host order) and foreign address (network order). */
uint16_t fn_tcp_lport(const struct tcpcb *tp);
uint16_t fn_tcp_fport(const struct tcpcb *tp);
uint32_t fn_tcp_faddr(const struct tcpcb *tp);
/* TCP_NODELAY: 1 disables Nagle (RFC 1122 §4.2.3.4). */
void fn_tcp_set_nodelay(struct tcpcb *tp, int on);
/* SO_KEEPALIVE with TCP_KEEPIDLE / TCP_KEEPINTVL / TCP_KEEPCNT (RFC 1122 §4.2.3.6): after
 * idle_s seconds without a segment from the peer, probe every intvl_s seconds; cnt
 * unanswered probes abort the connection with ETIMEDOUT.  0 for idle_s, intvl_s or cnt
 * takes the stack's default (cfg.tcp_keepalive_*).  Off by default.  0, or -EINVAL for a
 * listener or values beyond Linux's limits (idle/intvl 32767 s, cnt 127). */
int fn_tcp_set_keepalive(struct tcpcb *tp, int on, uint32_t idle_s, uint32_t intvl_s,
                         uint32_t cnt);
/* TCP_USER_TIMEOUT (RFC 5482): abort with ETIMEDOUT when sent data stays unacknowledged
 * for ms milliseconds (also a zero window persisting that long, and keepalive probes going
 * unanswered that long).  It replaces the retransmission count.  0 = off (default).
 * 0, or -EINVAL for a listener. */
int fn_tcp_set_user_timeout(struct tcpcb *tp, uint32_t ms);
/* An opaque pointer for the owner (the socket layer's handle). */
void fn_tcp_set_user(struct tcpcb *tp, void *user);
void *fn_tcp_user(const struct tcpcb *tp);

/* Congestion control (RFC 5681 / RFC 9438): the algorithm of tp by name ("newreno",
 * "cubic"); 0, or -ENOENT for an unknown name.  Mid-connection the new algorithm takes over
 * the current cwnd and ssthresh; a listener's choice passes to the connections it accepts.
 * New tcpcbs start with cfg.tcp_cc.  fn_tcp_cc_name: the current algorithm's name. */
int fn_tcp_set_cc(struct tcpcb *tp, const char *name);
const char *fn_tcp_cc_name(const struct tcpcb *tp);

/* Hand out up to max ready tcpcbs with their events, oldest first, and clear them. */
int fn_tcp_ready(struct fn_stack *st, struct fn_tcp_event *ev, int max);

/* tcpcbs in use (connections, listeners and closing/TIME_WAIT ones). */
uint32_t fn_tcp_count(const struct fn_stack *st);
/* Bytes of memory one connection costs when idle: its tcpcb plus its share of the tables
 * preallocated by fn_tcp_init (hashes, timer heap).  An idle connection holds no packet
 * buffer, so this is all of it. */
uint32_t fn_tcp_conn_bytes(const struct fn_stack *st);

#endif
