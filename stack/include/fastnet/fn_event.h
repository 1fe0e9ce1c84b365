/*
 * fn_event.h — epoll over a fastnet stack's descriptors, with Linux's semantics.
 *
 * The constants and struct epoll_event are the system's (<sys/epoll.h>).  An epoll
 * instance is a descriptor of the stack's table (fn_close() releases it) and watches
 * sockets of the same stack.  Level-triggered by default: a ready socket is reported by
 * every fn_epoll_wait() while it stays ready.  EPOLLET: reported once per new edge — new
 * data, a new connection, freed send space after a send found the buffer full, a state
 * change (connected, EOF, reset) — even if the previous edge was not consumed.
 * EPOLLONESHOT: after one report the registration is disabled until EPOLL_CTL_MOD.
 * EPOLLERR and EPOLLHUP are always reported.  The masks are Linux's tcp_poll(): a fresh
 * socket is EPOLLOUT|EPOLLHUP; a connecting one nothing; the peer's FIN (or SHUT_RD) gives
 * EPOLLIN|EPOLLRDHUP; both directions shut down, or a failed connection, adds EPOLLHUP;
 * a pending error (until SO_ERROR or a call takes it) EPOLLERR; a listener is EPOLLIN
 * while connections wait to be accepted.
 *
 * Readiness comes from the stack's ready list (fn_tcp_ready), so a wait costs O(ready
 * sockets), never O(sockets).  While the socket layer is in use it is the only consumer of
 * that list.  Registrations come from a pool of 2 * cfg.tcp_max_sockets preallocated
 * entries (ENOSPC when it is empty, as Linux past max_user_watches).  Nesting epoll
 * instances is not supported (EPERM).  Ownership and errno conventions: fn_socket.h.
 */
#ifndef FASTNET_FN_EVENT_H
#define FASTNET_FN_EVENT_H

#include <stdint.h>
#include <sys/epoll.h>

#ifdef __cplusplus
extern "C" {
#endif

struct fn_stack;

/* epoll_create(2) (size > 0, else EINVAL) / epoll_create1(2) (flags 0 or EPOLL_CLOEXEC,
 * else EINVAL).  EMFILE when the table is full. */
int fn_epoll_create(struct fn_stack *st, int size);
int fn_epoll_create1(struct fn_stack *st, int flags);
/* epoll_ctl(2): EPOLL_CTL_ADD (EEXIST if registered), EPOLL_CTL_MOD / EPOLL_CTL_DEL (ENOENT
 * if not).  EBADF (either fd), EINVAL (epfd not an epoll instance, fd == epfd, bad op,
 * EPOLLEXCLUSIVE with MOD), EFAULT (event NULL for ADD/MOD), ENOSPC, EPERM (fd is an epoll
 * instance). */
int fn_epoll_ctl(struct fn_stack *st, int epfd, int op, int fd, struct epoll_event *event);
/* epoll_wait(2): up to maxevents ready registrations.  timeout_ms 0: return at once with
 * what is ready (the caller drives fn_stack_poll()); otherwise the stack is polled with
 * the platform clock at least once and the call sleeps until something is ready or
 * timeout_ms passed (-1: forever).  Returns the count (0 on timeout).  EBADF, EINVAL
 * (not an epoll instance, maxevents <= 0), EFAULT (events NULL). */
int fn_epoll_wait(struct fn_stack *st, int epfd, struct epoll_event *events, int maxevents,
                  int timeout_ms);

#ifdef __cplusplus
}
#endif
#endif
