/*
 * sock_event.c — epoll over the descriptor table (fn_event.h): registrations, the ready
 * list of each epoll instance, and the feed from the stack's ready list.
 *
 * Contract: readiness moves in one direction only — the stack raises events on tcpcbs
 * (fn_tcp_ready), fn_sock_sync() turns each into a wake-up of that socket's registrations
 * (queued on their epoll instance's ready list, once), and fn_epoll_wait() re-reads the
 * socket's mask (fn_sock_poll) for each queued registration, as Linux's ep_send_events()
 * does.  So a wait costs O(queued), never O(sockets).  Level-triggered registrations that
 * are still ready go back on the list after a report; EPOLLET ones wait for the next
 * wake-up; EPOLLONESHOT ones are disabled until EPOLL_CTL_MOD.  Registrations come from a
 * preallocated pool (ENOSPC when empty, counted).  Owner thread only.
 */
#include <errno.h>
#include <string.h>

#include "core/fn_stack_impl.h"
#include "platform/fn_platform.h"
#include "socket/fn_sock_impl.h"
#include "tcp/fn_tcp.h"

#define EP_SUPPORTED (EPOLLIN | EPOLLPRI | EPOLLOUT | EPOLLRDNORM | EPOLLRDBAND |          \
                      EPOLLWRNORM | EPOLLWRBAND | EPOLLMSG | EPOLLERR | EPOLLHUP |          \
                      EPOLLRDHUP | EPOLLEXCLUSIVE | EPOLLWAKEUP | EPOLLONESHOT | EPOLLET)

static int fail(int err)
{
    return fn_sock_fail(err);
}

/* ---- the ready list of one epoll instance ---- */

void fn_epitem_queue(struct fn_epitem *it)
{
    struct fn_sock *ep = it->ep;

    it->rnext = NULL;
    it->rprev = ep->ep_tail;
    if (ep->ep_tail)
        ep->ep_tail->rnext = it;
    else
        ep->ep_head = it;
    ep->ep_tail = it;
    it->queued = 1;
    ep->ep_nready++;
}

void fn_epitem_dequeue(struct fn_epitem *it)
{
    struct fn_sock *ep = it->ep;

    if (!it->queued)
        return;
    if (it->rprev)
        it->rprev->rnext = it->rnext;
    else
        ep->ep_head = it->rnext;
    if (it->rnext)
        it->rnext->rprev = it->rprev;
    else
        ep->ep_tail = it->rprev;
    it->rprev = it->rnext = NULL;
    it->queued = 0;
    ep->ep_nready--;
}

/* ---- the feed ---- */

void fn_sock_wake(struct fn_sock *so, uint32_t key)
{
    for (struct fn_epitem *it = so->items; it; it = it->snext) {
        if (it->disabled || it->queued)
            continue;
        /* Linux's ep_poll_callback(): a wake-up about other events leaves it alone. */
        if (key != EP_WAKE_ALL && !(key & (it->events | EPOLLERR | EPOLLHUP)))
            continue;
        fn_epitem_queue(it);
    }
}

/* Which EPOLL* bits a batch of FN_TCP_EV_* may have changed; 0 = none worth a wake-up. */
static uint32_t wake_key(struct fn_sock *so, uint32_t ev)
{
    uint32_t key = 0;

    if (ev & (FN_TCP_EV_CONNECTED | FN_TCP_EV_EOF | FN_TCP_EV_ERROR | FN_TCP_EV_CLOSED))
        return EP_WAKE_ALL;
    if (ev & FN_TCP_EV_READABLE)
        key |= EPOLLIN | EPOLLRDNORM;
    /* Linux's sk_stream_write_space(): freed room is news only to a writer that ran out
     * of it (SOCK_NOSPACE), and only once it is worth writing again. */
    if ((ev & FN_TCP_EV_WRITABLE) && so->nospace && fn_sock_writable(so)) {
        so->nospace = 0;
        key |= EPOLLOUT | EPOLLWRNORM;
    }
    return key;
}

void fn_sock_sync(struct fn_socktab *t)
{
    struct fn_tcp_event ev[FN_MAX_BATCH];
    int n;

    while ((n = fn_tcp_ready(t->st, ev, FN_MAX_BATCH)) > 0) {
        for (int i = 0; i < n; i++) {
            struct fn_sock *so = fn_tcp_user(ev[i].tp);
            uint32_t key;
            if (!so)
                continue;
            key = wake_key(so, ev[i].events);
            if (key)
                fn_sock_wake(so, key);
        }
    }
}

/* ---- registrations ---- */

static void item_free(struct fn_socktab *t, struct fn_epitem *it)
{
    fn_epitem_dequeue(it);
    memset(it, 0, sizeof(*it));
    it->snext = t->free_items;
    t->free_items = it;
}

struct fn_epitem *fn_epitem_new(struct fn_stack *st, struct fn_sock *ep, struct fn_sock *so)
{
    struct fn_socktab *t = st->sock;
    struct fn_epitem *it = t->free_items;

    if (!it) {
        st->stats.sock_epoll_items_full++;
        return (void)fail(ENOSPC), NULL;
    }
    t->free_items = it->snext;
    memset(it, 0, sizeof(*it));
    it->ep = ep;
    it->so = so;
    it->snext = so->items;
    so->items = it;
    return it;
}

static void item_unlink_sock(struct fn_epitem *it)
{
    struct fn_epitem **pp = &it->so->items;

    while (*pp && *pp != it)
        pp = &(*pp)->snext;
    if (*pp)
        *pp = it->snext;
}

void fn_epitem_del(struct fn_socktab *t, struct fn_epitem *it)
{
    item_unlink_sock(it);
    item_free(t, it);
}

void fn_sock_unwatch(struct fn_socktab *t, struct fn_sock *so)
{
    while (so->items) {
        struct fn_epitem *it = so->items;
        so->items = it->snext;
        item_free(t, it);
    }
}

void fn_epoll_release(struct fn_socktab *t, struct fn_sock *ep)
{
    /* Closing an epoll instance is rare: a scan of the pool is fine here. */
    for (uint32_t i = 0; i < t->nitems; i++) {
        struct fn_epitem *it = &t->items[i];
        if (it->ep == ep) {
            item_unlink_sock(it);
            item_free(t, it);
        }
    }
}

struct fn_epitem *fn_epitem_find(struct fn_sock *so, const struct fn_sock *ep, int16_t filter)
{
    struct fn_epitem *it = so->items;

    while (it && !(it->ep == ep && it->filter == filter))
        it = it->snext;
    return it;
}

/* Registering or changing a registration polls the socket once (Linux's ep_insert /
 * ep_modify): already ready means queued now. */
void fn_epitem_arm(struct fn_epitem *it)
{
    it->disabled = 0;
    if (!it->queued && (fn_sock_poll(it->so) & (it->events | EPOLLERR | EPOLLHUP)))
        fn_epitem_queue(it);
}

int fn_ep_collect(struct fn_socktab *t, struct fn_sock *ep, void *out, int max,
                  fn_ep_fill fill)
{
    struct fn_epitem *again = NULL, *again_tail = NULL;
    uint32_t budget = ep->ep_nready;
    int n = 0;

    while (n < max && budget-- > 0 && ep->ep_head) {
        struct fn_epitem *it = ep->ep_head;
        /* epoll always reports EPOLLERR and EPOLLHUP; a kqueue filter only its own side. */
        uint32_t always = it->filter ? 0 : EPOLLERR | EPOLLHUP;
        uint32_t m = fn_sock_poll(it->so) & (it->events | always);

        fn_epitem_dequeue(it);
        if (!m)
            continue;
        fill(it, (int)(it->so - t->socks), m, out, n++);
        if (it->kflags & FN_EV_ONESHOT) {
            fn_epitem_del(t, it);
        } else if (it->events & EPOLLONESHOT) {
            it->disabled = 1;
        } else if (!(it->events & EPOLLET)) {
            /* Level-triggered: still ready, so back on the list — after this round. */
            it->rnext = NULL;
            if (again_tail)
                again_tail->rnext = it;
            else
                again = it;
            again_tail = it;
        }
    }
    while (again) {
        struct fn_epitem *it = again;
        again = it->rnext;
        fn_epitem_queue(it);
    }
    return n;
}

int fn_ep_wait(struct fn_socktab *t, struct fn_sock *ep, uint64_t end, void *out, int max,
               fn_ep_fill fill)
{
    for (;;) {
        uint64_t now = fn_clock_ns();
        /* Drive the stack like a blocking call; a registration queued with nothing to
         * report (its mask fell back to 0) sends the loop round again. */
        int ok = fn_sock_wait(t, ep, fn_ep_has_ready,
                              end == UINT64_MAX ? 0 : (end > now ? end - now : 1));
        int n = fn_ep_collect(t, ep, out, max, fill);
        if (n > 0 || !ok)
            return n;
    }
}

static void epoll_fill(const struct fn_epitem *it, int fd, uint32_t mask, void *out, int i)
{
    struct epoll_event *ev = (struct epoll_event *)out + i;

    (void)fd;
    ev->events = mask;
    ev->data.u64 = it->data;
}

/* ---- the public calls ---- */

int fn_ep_has_ready(struct fn_sock *ep)
{
    return ep->ep_nready > 0;
}

int fn_epoll_create(struct fn_stack *st, int size)
{
    if (size <= 0)
        return fail(EINVAL);
    return fn_sock_open(st, FN_FD_EPOLL);
}

int fn_epoll_create1(struct fn_stack *st, int flags)
{
    if (flags & ~EPOLL_CLOEXEC)
        return fail(EINVAL);
    return fn_sock_open(st, FN_FD_EPOLL);
}

/* epfd → epoll instance after the owner check and a sync (EPERM, EBADF, EINVAL). */
static struct fn_sock *ep_get(struct fn_stack *st, int epfd)
{
    struct fn_sock *ep = fn_sock_get_any(st, epfd);

    if (ep && ep->kind != FN_FD_EPOLL)
        return (void)fail(EINVAL), NULL;
    return ep;
}

int fn_epoll_ctl(struct fn_stack *st, int epfd, int op, int fd, struct epoll_event *event)
{
    struct fn_socktab *t;
    struct fn_sock *ep = ep_get(st, epfd), *so;
    struct fn_epitem *it;

    if (!ep)
        return -1;
    t = st->sock;
    if (fd < 0 || (uint32_t)fd >= t->n || t->socks[fd].kind == FN_FD_FREE)
        return fail(EBADF);
    so = &t->socks[fd];
    if (so == ep)
        return fail(EINVAL);
    if (so->kind != FN_FD_SOCK)
        return fail(EPERM);
    if (op != EPOLL_CTL_ADD && op != EPOLL_CTL_MOD && op != EPOLL_CTL_DEL)
        return fail(EINVAL);
    if (op != EPOLL_CTL_DEL && !event)
        return fail(EFAULT);
    it = fn_epitem_find(so, ep, 0);
    switch (op) {
    case EPOLL_CTL_ADD:
        if (it)
            return fail(EEXIST);
        it = fn_epitem_new(st, ep, so);
        if (!it)
            return -1;
        break;
    case EPOLL_CTL_MOD:
        if (!it)
            return fail(ENOENT);
        if (event->events & EPOLLEXCLUSIVE)
            return fail(EINVAL);
        break;
    default:
        if (!it)
            return fail(ENOENT);
        fn_epitem_del(t, it);
        return 0;
    }
    it->events = event->events & EP_SUPPORTED;
    it->data = event->data.u64;
    fn_epitem_dequeue(it);
    fn_epitem_arm(it);
    return 0;
}

int fn_epoll_wait(struct fn_stack *st, int epfd, struct epoll_event *events, int maxevents,
                  int timeout_ms)
{
    struct fn_sock *ep = ep_get(st, epfd);
    uint64_t end;

    if (!ep)
        return -1;
    if (maxevents <= 0)
        return fail(EINVAL);
    if (!events)
        return fail(EFAULT);
    /* With a timeout, the stack runs at least once first: a loop made of nothing but
     * fn_epoll_wait() must still receive, fire timers and flush what it sent. */
    if (timeout_ms == 0)
        return fn_ep_collect(st->sock, ep, events, maxevents, epoll_fill);
    end = timeout_ms < 0 ? UINT64_MAX : fn_clock_ns() + (uint64_t)timeout_ms * 1000000ull;
    return fn_ep_wait(st->sock, ep, end, events, maxevents, epoll_fill);
}
