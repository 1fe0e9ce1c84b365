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
#include <time.h>

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

/*
 * kqueue, as FreeBSD's kqueue(2)/kevent(2) (F-Stack's ff_kevent users expect it), over the
 * same registrations and ready lists as epoll.  Linux has no <sys/event.h>, so the names
 * carry an FN_ prefix; values and struct layout follow FreeBSD's.  Filters: FN_EVFILT_READ
 * (data: bytes readable, or connections waiting on a listener) and FN_EVFILT_WRITE (data:
 * bytes a send may queue).  FN_EV_EOF is set once that side is shut down (peer's FIN, our
 * shutdown, a reset), with fflags the pending socket error.  Level-triggered unless
 * FN_EV_CLEAR (reported once per new edge); FN_EV_ONESHOT deletes after one report,
 * FN_EV_DISPATCH disables (FN_EV_ENABLE re-arms).  A failed change is reported in the
 * eventlist as FN_EV_ERROR with data = errno while there is room, else kevent fails with
 * that errno (EBADF, ENOENT, EINVAL, ENOSPC); FN_EV_RECEIPT reports every change that way.
 */
#define FN_EVFILT_READ  (-1)
#define FN_EVFILT_WRITE (-2)

#define FN_EV_ADD      0x0001
#define FN_EV_DELETE   0x0002
#define FN_EV_ENABLE   0x0004
#define FN_EV_DISABLE  0x0008
#define FN_EV_ONESHOT  0x0010
#define FN_EV_CLEAR    0x0020
#define FN_EV_RECEIPT  0x0040
#define FN_EV_DISPATCH 0x0080
#define FN_EV_ERROR    0x4000
#define FN_EV_EOF      0x8000

struct fn_kevent {
    uintptr_t ident;            /* the socket's descriptor */
    int16_t filter;             /* FN_EVFILT_* */
    uint16_t flags;             /* FN_EV_* */
    uint32_t fflags;
    int64_t data;
    void *udata;
};

/* kqueue(2): a new kqueue descriptor.  EMFILE when the table is full. */
int fn_kqueue(struct fn_stack *st);
/* kevent(2): apply nchanges changes, then return up to nevents ready events.  timeout
 * NULL waits forever, {0, 0} not at all (the caller drives fn_stack_poll()); otherwise the
 * stack is run as by fn_epoll_wait.  Returns the number of events placed.  EBADF (kq),
 * EINVAL (kq not a kqueue, negative counts, bad timeout), EFAULT (NULL lists). */
int fn_kevent(struct fn_stack *st, int kq, const struct fn_kevent *changelist, int nchanges,
              struct fn_kevent *eventlist, int nevents, const struct timespec *timeout);

#ifdef __cplusplus
}
#endif
#endif
