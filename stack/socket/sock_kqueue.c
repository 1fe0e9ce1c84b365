/*
 * sock_kqueue.c — fn_kqueue / fn_kevent (fn_event.h): FreeBSD's kqueue over the epoll
 * registrations of sock_event.c.
 *
 * Contract: a kqueue is a descriptor whose registrations are keyed by (socket, filter);
 * EVFILT_READ watches EPOLLIN, EVFILT_WRITE EPOLLOUT, so the stack's ready list feeds both
 * the same way (O(ready)).  Reports are built from the socket's state when collected:
 * byte counts, EV_EOF, the pending error in fflags.  Changes never allocate beyond the
 * shared registration pool (ENOSPC, counted).  Owner thread only.
 */
#include <errno.h>
#include <string.h>

#include "core/fn_stack_impl.h"
#include "platform/fn_platform.h"
#include "socket/fn_sock_impl.h"
#include "tcp/fn_tcp.h"
#include "tcp/fn_tcp_sock.h"

#define KQ_ITEM_FLAGS (FN_EV_ONESHOT | FN_EV_CLEAR | FN_EV_DISPATCH)

static int fail(int err)
{
    return fn_sock_fail(err);
}

int fn_kqueue(struct fn_stack *st)
{
    return fn_sock_open(st, FN_FD_KQUEUE);
}

static uint32_t filter_events(int16_t filter, uint16_t flags)
{
    uint32_t ev = filter == FN_EVFILT_READ ? EPOLLIN : EPOLLOUT;

    /* EV_CLEAR is an edge; EV_ONESHOT and EV_DISPATCH stop after one report. */
    if (flags & FN_EV_CLEAR)
        ev |= EPOLLET;
    if (flags & (FN_EV_ONESHOT | FN_EV_DISPATCH))
        ev |= EPOLLONESHOT;
    return ev;
}

/* One change; 0 or a positive errno. */
static int apply_change(struct fn_stack *st, struct fn_sock *kq, const struct fn_kevent *ch)
{
    struct fn_socktab *t = st->sock;
    struct fn_sock *so;
    struct fn_epitem *it;

    if (ch->filter != FN_EVFILT_READ && ch->filter != FN_EVFILT_WRITE)
        return EINVAL;
    if (ch->ident >= t->n || t->socks[ch->ident].kind == FN_FD_FREE)
        return EBADF;
    so = &t->socks[ch->ident];
    if (so->kind != FN_FD_SOCK)
        return EINVAL;
    it = fn_epitem_find(so, kq, ch->filter);
    if (ch->flags & FN_EV_DELETE) {
        if (!it)
            return ENOENT;
        fn_epitem_del(t, it);
        return 0;
    }
    if (!it) {
        if (!(ch->flags & FN_EV_ADD))
            return ENOENT;
        it = fn_epitem_new(st, kq, so);
        if (!it)
            return errno;
        it->filter = ch->filter;
    }
    if (ch->flags & FN_EV_ADD) {
        it->kflags = ch->flags & KQ_ITEM_FLAGS;
        it->data = (uint64_t)(uintptr_t)ch->udata;
    }
    it->events = filter_events(it->filter, it->kflags);
    fn_epitem_dequeue(it);
    if (ch->flags & FN_EV_DISABLE)
        it->disabled = 1;
    else
        fn_epitem_arm(it);
    return 0;
}

static void kev_fill(const struct fn_epitem *it, int fd, uint32_t mask, void *out, int i)
{
    struct fn_kevent *ev = (struct fn_kevent *)out + i;
    const struct fn_sock *so = it->so;

    (void)mask;
    memset(ev, 0, sizeof(*ev));
    ev->ident = (uintptr_t)fd;
    ev->filter = it->filter;
    ev->flags = it->kflags;
    ev->udata = (void *)(uintptr_t)it->data;
    if (it->filter == FN_EVFILT_READ) {
        if (so->listening)
            ev->data = fn_tcp_acceptq_len(so->tp);
        else
            ev->data = so->tp ? fn_tcp_readable(so->tp) : 0;
        if (!so->listening && fn_sock_rcv_shut(so))
            ev->flags |= FN_EV_EOF;
    } else {
        ev->data = so->tp && !so->listening ? fn_sock_send_room(so) : 0;
        if (fn_sock_snd_shut(so))
            ev->flags |= FN_EV_EOF;
    }
    if (ev->flags & FN_EV_EOF)
        ev->fflags = (uint32_t)fn_sock_error_peek(so);
}

int fn_kevent(struct fn_stack *st, int kqfd, const struct fn_kevent *changelist, int nchanges,
              struct fn_kevent *eventlist, int nevents, const struct timespec *timeout)
{
    struct fn_sock *kq = fn_sock_get_any(st, kqfd);
    uint64_t end;
    int n = 0;

    if (!kq)
        return -1;
    if (kq->kind != FN_FD_KQUEUE || nchanges < 0 || nevents < 0)
        return fail(EINVAL);
    if ((nchanges > 0 && !changelist) || (nevents > 0 && !eventlist))
        return fail(EFAULT);
    if (timeout &&
        (timeout->tv_sec < 0 || timeout->tv_nsec < 0 || timeout->tv_nsec >= 1000000000))
        return fail(EINVAL);
    for (int i = 0; i < nchanges; i++) {
        int err = apply_change(st, kq, &changelist[i]);
        if (err == 0 && !(changelist[i].flags & FN_EV_RECEIPT))
            continue;
        /* kevent(2): a change's error goes into the eventlist while there is room. */
        if (n >= nevents)
            return err ? fail(err) : n;
        eventlist[n] = changelist[i];
        eventlist[n].flags = FN_EV_ERROR;
        eventlist[n].data = err;
        n++;
    }
    if (n > 0 || nevents == 0)
        return n;
    if (timeout && timeout->tv_sec == 0 && timeout->tv_nsec == 0)
        return fn_ep_collect(st->sock, kq, eventlist, nevents, kev_fill);
    end = timeout ? fn_clock_ns() + (uint64_t)timeout->tv_sec * 1000000000ull +
                        (uint64_t)timeout->tv_nsec
                  : UINT64_MAX;
    return fn_ep_wait(st->sock, kq, end, eventlist, nevents, kev_fill);
}
