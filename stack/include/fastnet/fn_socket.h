/*
 * fn_socket.h — BSD sockets over one fastnet stack, with Linux's semantics.
 *
 * Every call takes the stack first and then works like the Linux call of the same name:
 * it returns -1 and sets errno on failure, with the errno Linux gives for the same misuse
 * (checked against the kernel; the tests name the observed values).  Constants and structs
 * are the system's own (<sys/socket.h>, <netinet/in.h>, <netinet/tcp.h>, <sys/ioctl.h>), so
 * code written for Linux sockets carries over.
 *
 * Descriptors are small ints (lowest free first, as POSIX requires) from a table of
 * cfg.tcp_max_sockets entries preallocated per stack; they are not kernel fds and mean
 * nothing to another stack.  Sockets, epoll instances and kqueues (fn_event.h) share the
 * table.
 * A full table: fn_socket/fn_epoll_create fail with EMFILE, fn_accept with EMFILE leaving
 * the connection queued (as Linux does when the process is out of fds).
 *
 * Ownership: a stack belongs to the thread that created it.  A call from any other thread
 * (or from a forked child) fails with EPERM after reading only the owner's id — it never
 * touches the stack's memory otherwise.
 *
 * Blocking: sockets are blocking unless SOCK_NONBLOCK / FIONBIO / MSG_DONTWAIT.  There is
 * one thread per stack, so a blocking call drives the stack itself: it polls it with the
 * platform clock and sleeps on fn_stack_fd() until the next timer, until the call can
 * complete, bounded by SO_RCVTIMEO (accept, recv) or SO_SNDTIMEO (connect, send); on expiry
 * it fails with EAGAIN (connect: EINPROGRESS), as Linux.  fn_socket_set_block_hook() lets
 * the owner run other work on each round of such a wait.  Non-blocking calls never wait
 * and never read the clock: they use the time of the last fn_stack_poll().
 *
 * Not (yet) supported, with the error returned: address families other than AF_INET
 * (EAFNOSUPPORT), socket types other than SOCK_STREAM (EPROTONOSUPPORT), urgent data
 * (MSG_OOB: EOPNOTSUPP), connect(AF_UNSPEC) to dissolve a connection (EAFNOSUPPORT).  No
 * signal is ever raised: EPIPE comes without SIGPIPE whether or not MSG_NOSIGNAL is given.
 * SO_REUSEPORT works as Linux within one stack: sockets that all set it may bind and listen
 * on one port (a socket without it gets EADDRINUSE, either way round), and each new
 * connection goes to one listener of the group, picked by a hash of its 4-tuple (every
 * segment of a handshake reaches the same one); closing one listener resets the connections
 * still in its accept queue and leaves the others serving.  SO_KEEPALIVE and TCP_KEEPIDLE/KEEPINTVL/
 * KEEPCNT drive the connection's keepalive timer (RFC 1122 §4.2.3.6) and TCP_USER_TIMEOUT
 * its give-up on unacknowledged data (RFC 5482; a listener's values pass to the connections
 * it accepts).  SO_RCVBUF is reported doubled, as Linux, and half
 * of it bounds the receive window (never above cfg.tcp_rcvbuf); set before connect() or
 * listen() it also sizes the window and picks the window scale of the SYN / SYN-ACK, as
 * Linux (SO_RCVBUF 16384: window 16384, scale 0; 65536: scale 1).  Unlike Linux, the SYN's
 * window is not rounded down to whole segments, and without SO_RCVBUF the scale follows
 * cfg.tcp_rcvbuf, not tcp_rmem.  SO_SNDBUF bounds the bytes queued (never above
 * cfg.tcp_sndbuf).  TCP_MAXSEG set before connect() or listen() is the MSS the SYN /
 * SYN-ACK advertises (if below the MTU's) and lowers the send MSS once connected.
 * TCP_CONGESTION takes Linux's "reno" (NewReno here) and reports it back as "reno".
 */
#ifndef FASTNET_FN_SOCKET_H
#define FASTNET_FN_SOCKET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>

#ifdef __cplusplus
extern "C" {
#endif

struct fn_stack;

/* socket(2): AF_INET, SOCK_STREAM optionally | SOCK_NONBLOCK | SOCK_CLOEXEC (accepted, no
 * meaning here), protocol 0 or IPPROTO_TCP.  EAFNOSUPPORT, EPROTONOSUPPORT, EINVAL (unknown
 * type flags), EMFILE (table full). */
int fn_socket(struct fn_stack *st, int domain, int type, int protocol);

/* bind(2): sin_addr INADDR_ANY or the stack's address (else EADDRNOTAVAIL), port 0 picks a
 * free ephemeral port.  EINVAL (already bound, addrlen short), EFAULT, EAFNOSUPPORT,
 * EADDRINUSE (another socket holds the port, unless both set SO_REUSEADDR and neither
 * listens, or both set SO_REUSEPORT; a closed socket's connection still in TIME_WAIT or
 * FIN_WAIT holds it unless this socket sets SO_REUSEADDR). */
int fn_bind(struct fn_stack *st, int fd, const struct sockaddr *addr, socklen_t addrlen);
/* listen(2): an unbound socket gets an ephemeral port.  backlog < 0 or above 4096 means
 * 4096; as Linux, backlog + 1 connections may wait to be accepted, further SYNs are dropped
 * (the client retransmits).  Listening again changes the backlog.  EINVAL (connected or
 * connecting), EADDRINUSE (another listener on the port). */
int fn_listen(struct fn_stack *st, int fd, int backlog);
/* accept(2) / accept4(2) (flags: SOCK_NONBLOCK, SOCK_CLOEXEC).  addr may be NULL.  EINVAL
 * (not listening, bad flags), EAGAIN (non-blocking, nothing queued, or SO_RCVTIMEO
 * expired), EMFILE (table full: the connection stays queued), EFAULT. */
int fn_accept(struct fn_stack *st, int fd, struct sockaddr *addr, socklen_t *addrlen);
int fn_accept4(struct fn_stack *st, int fd, struct sockaddr *addr, socklen_t *addrlen,
               int flags);
/* connect(2).  Non-blocking: EINPROGRESS, then EALREADY while the handshake runs; once it
 * completed, one more connect() returns 0 and later ones EISCONN; once it failed, the next
 * connect() returns the error (ECONNREFUSED, ETIMEDOUT, ...; ECONNABORTED if SO_ERROR
 * already took it) and the one after starts a new attempt.  Blocking: waits for the
 * outcome (EINPROGRESS if SO_SNDTIMEO expires first).  EISCONN (connected or listening),
 * EINVAL, EFAULT, EAFNOSUPPORT, EADDRINUSE, EADDRNOTAVAIL, ENOBUFS (no tcpcb free). */
int fn_connect(struct fn_stack *st, int fd, const struct sockaddr *addr, socklen_t addrlen);

/* recv(2) flags: MSG_PEEK, MSG_DONTWAIT, MSG_WAITALL, MSG_NOSIGNAL (ignored).  Returns the
 * bytes read, 0 at EOF (peer's FIN, SHUT_RD, or after a reset was reported), -1 with
 * ENOTCONN (never connected, listening), EAGAIN, ECONNRESET / ETIMEDOUT / ECONNREFUSED
 * (reported once, as Linux; then 0), EFAULT (buf NULL when there is data to copy),
 * EOPNOTSUPP (MSG_OOB on a connection).  As Linux, the socket's state is checked before
 * the flags and the buffer. */
ssize_t fn_recv(struct fn_stack *st, int fd, void *buf, size_t len, int flags);
ssize_t fn_read(struct fn_stack *st, int fd, void *buf, size_t len);
ssize_t fn_readv(struct fn_stack *st, int fd, const struct iovec *iov, int iovcnt);
/* send(2) flags: MSG_MORE (hold a short last segment: more follows), MSG_DONTWAIT,
 * MSG_NOSIGNAL (never a signal anyway).  Returns bytes queued (a non-blocking send may be
 * partial; a blocking one waits for room until SO_SNDTIMEO).  EPIPE (shut down for
 * writing, never connected, closed), ECONNRESET / ETIMEDOUT (the failure, reported once;
 * then EPIPE), EAGAIN (buffer full, or still connecting and non-blocking), EFAULT (buf
 * NULL, len > 0, on a connection), EOPNOTSUPP (MSG_OOB on a connection). */
ssize_t fn_send(struct fn_stack *st, int fd, const void *buf, size_t len, int flags);
ssize_t fn_write(struct fn_stack *st, int fd, const void *buf, size_t len);
ssize_t fn_writev(struct fn_stack *st, int fd, const struct iovec *iov, int iovcnt);

/* shutdown(2): SHUT_RD / SHUT_WR / SHUT_RDWR.  On a listener SHUT_RD stops listening
 * (queued connections are reset); on a connecting socket any `how` abandons the attempt.
 * ENOTCONN (no connection, or it already failed), EINVAL (bad how). */
int fn_shutdown(struct fn_stack *st, int fd, int how);
/* close(2): a connection is closed gracefully (FIN after the queued data) unless unread
 * data is waiting or SO_LINGER is on with l_linger 0 — then the peer gets a RST.  With
 * SO_LINGER on and l_linger > 0 the call waits (even on a non-blocking socket, as Linux)
 * up to l_linger seconds for its data and FIN to be acknowledged, driving the stack.
 * Removes the socket from every epoll set and kqueue.  EBADF. */
int fn_close(struct fn_stack *st, int fd);

int fn_getsockname(struct fn_stack *st, int fd, struct sockaddr *addr, socklen_t *addrlen);
/* ENOTCONN unless a connection exists (not before it is established, not after a reset). */
int fn_getpeername(struct fn_stack *st, int fd, struct sockaddr *addr, socklen_t *addrlen);

/* SOL_SOCKET: SO_REUSEADDR, SO_REUSEPORT, SO_KEEPALIVE, SO_LINGER, SO_RCVBUF, SO_SNDBUF,
 * SO_RCVTIMEO, SO_SNDTIMEO, SO_ERROR (get: takes the pending error), SO_TYPE, SO_DOMAIN,
 * SO_PROTOCOL, SO_ACCEPTCONN; IPPROTO_TCP: TCP_NODELAY, TCP_MAXSEG (88..65535),
 * TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT, TCP_USER_TIMEOUT (ms >= 0, RFC 5482),
 * TCP_INFO (get: tcpi_state, tcpi_rto,
 * tcpi_snd_mss, tcpi_rcv_mss, tcpi_rtt, tcpi_rttvar, tcpi_snd_cwnd, tcpi_snd_ssthresh,
 * tcpi_retransmits, tcpi_total_retrans, tcpi_unacked, tcpi_options and the window scales
 * are filled, in Linux's units; the rest is zero), TCP_CONGESTION (set: the algorithm's
 * name, "cubic", "newreno" or Linux's "reno", optlen >= 1, read up to a NUL or 15 bytes,
 * ENOENT if unknown; get: the name as set, NUL-padded to 16 bytes; a listener's choice passes to accepted sockets; a
 * socket that chose none reports cfg.tcp_cc's).  A get copies at most *optlen bytes and
 * sets *optlen; a set needs a full int (struct linger, struct timeval) or fails with
 * EINVAL.  ENOPROTOOPT (unknown level or option), EFAULT, EDOM (tv_usec out of range). */
int fn_getsockopt(struct fn_stack *st, int fd, int level, int optname, void *optval,
                  socklen_t *optlen);
int fn_setsockopt(struct fn_stack *st, int fd, int level, int optname, const void *optval,
                  socklen_t optlen);

/* ioctl(2): FIONREAD (int *: bytes readable; EINVAL on a listener), FIONBIO (const int *:
 * non-blocking on/off).  ENOTTY for any other request, EFAULT for a NULL argument. */
int fn_ioctl(struct fn_stack *st, int fd, unsigned long request, void *arg);

/* ---- zero-copy ----
 * Receive by borrowing the stack's buffers: fn_zc_recv lends up to max received buffers
 * (whole ones, oldest first; their data as it arrived, one segment or a few coalesced small
 * ones each) and fills iov[i] with a read-only view of each.  Borrowed data is read: it
 * leaves FIONREAD, EPOLLIN and fn_recv, which go on with what follows.  But until
 * fn_zc_release gives the buffers back, their bytes keep the receive window closed by as
 * much — a reader that holds on to them throttles its peer, as a full socket buffer does.
 * The views stay valid until released or until the socket is closed (close releases what is
 * still borrowed, so the pool's counters return to zero); never after.
 *
 * Send into buffers taken from the pool: fn_zc_alloc lends one empty buffer of *cap bytes
 * (the pool's buffer size less its headroom); fn_zc_send(buf, len) appends it with its len
 * bytes to the send chain as it is — no copy of the payload into the stack (payloads of up
 * to 256 bytes are copied into the free room of the chain's last buffer, so that small
 * sends do not each hold a buffer).  Each segment is still built by copying from the chain
 * into a fresh buffer, as for fn_send: the chain must stay intact for retransmission.  A
 * buffer goes whole or not at all, and while lent it counts in the connection's share of
 * the pool.  fn_zc_free gives back one unsent; close gives back every one. */

/* One borrowed buffer: base[0..len) is the data, read-only. */
struct fn_zc_iov {
    const void *base;
    size_t len;
};

/* Returns the number of buffers lent (1..max; their views in iov[0..n)), 0 at EOF, or -1:
 * EINVAL (max < 1, flags other than MSG_DONTWAIT / MSG_NOSIGNAL), EFAULT (iov NULL),
 * ENOTCONN, EAGAIN (nothing to read and non-blocking, or SO_RCVTIMEO), the connection's
 * error once (ECONNRESET, ...), EBADF.  Blocks as fn_recv does.  At most 64 buffers a call. */
ssize_t fn_zc_recv(struct fn_stack *st, int fd, struct fn_zc_iov *iov, int max, int flags);
/* Give back the `count` oldest borrowed buffers (in the order fn_zc_recv lent them; -1 =
 * all, 0 = none): the window reopens and a window update goes out if worth one.  Returns
 * the number still borrowed, or -1: EINVAL (count < -1 or more than are borrowed), EBADF. */
int fn_zc_release(struct fn_stack *st, int fd, int count);
/* A buffer to fill: returns its start and sets *cap, or NULL with errno: ENOBUFS (the pool,
 * or this connection's share of it, has none now: EPOLLOUT follows when it has), EPIPE /
 * EAGAIN (still connecting) / the pending error as fn_send reports them, EFAULT (cap NULL),
 * EBADF.  Never waits. */
void *fn_zc_alloc(struct fn_stack *st, int fd, size_t *cap);
/* Queue buf (from fn_zc_alloc on this fd) with its first len bytes (0..cap; 0 frees it).
 * Flags: MSG_MORE, MSG_DONTWAIT, MSG_NOSIGNAL.  Returns len, the buffer now the stack's;
 * or -1 with the buffer still the caller's: EINVAL (buf not lent on this fd, len > cap, bad
 * flags), EAGAIN (SO_SNDBUF has no room for all of it — an empty queue takes any buffer —
 * and non-blocking, or SO_SNDTIMEO expired), EPIPE, ECONNRESET, ... as fn_send.  A blocking
 * call waits for room for the whole buffer. */
ssize_t fn_zc_send(struct fn_stack *st, int fd, void *buf, size_t len, int flags);
/* Give back an unsent buffer from fn_zc_alloc.  EINVAL (not lent on this fd), EBADF. */
int fn_zc_free(struct fn_stack *st, int fd, void *buf);

/* Called on every round of a blocking call's wait (and of fn_epoll_wait with a timeout),
 * before it sleeps, with the time it just polled the stack at: for the owner's other work,
 * or a test's second stack.  With a hook set a wait sleeps at most 1 ms per round.  NULL
 * removes it; a call from another thread is ignored. */
typedef void (*fn_block_hook)(void *arg, uint64_t now_ns);
void fn_socket_set_block_hook(struct fn_stack *st, fn_block_hook fn, void *arg);

/* Descriptors in use (sockets, epoll sets, kqueues): 0 once every one is closed.  Owner
 * thread only (it reads the table without the ownership check, for tests and stats). */
unsigned fn_socket_count(const struct fn_stack *st);

#ifdef __cplusplus
}
#endif
#endif
