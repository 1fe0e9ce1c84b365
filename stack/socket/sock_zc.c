/*
 * sock_zc.c — zero-copy receive and send (fn_zc_* in fn_socket.h): the application reads
 * received data in the stack's own buffers and fills pool buffers that join the send chain
 * as they are.
 *
 * Contract: owns each socket's lists of lent buffers (zc_rx: received, borrowed until
 * released, oldest first; zc_tx: taken for sending, until sent or freed).  A buffer is in
 * exactly one place at a time — the connection's chains, one socket's list, or the pool —
 * so close (fn_sock_zc_drop) returns every lent buffer and the pool counters go back to
 * zero.  Accounting: borrowed bytes are read (FIONREAD, EPOLLIN no longer see them) but keep
 * the receive window closed by their size until released (fn_tcp_zc_take / _rcv_done);
 * buffers taken for sending count in the connection's pool share (fn_tcp_zc_alloc).
 * Errors are errno values as the rest of the socket layer's; owner thread only.
 */
#include <errno.h>
#include <string.h>

#include "core/fn_stack_impl.h"
#include "socket/fn_sock_impl.h"
#include "tcp/fn_tcp.h"
#include "tcp/fn_tcp_sock.h"
#include "tcp/tcp_fsm.h"

/* Buffers one fn_zc_recv call takes at most (an on-stack array). */
#define ZC_RECV_BATCH 64

static int fail(int err)
{
    return fn_sock_fail(err);
}

/* Free the oldest n borrowed buffers; returns the bytes they held. */
static uint32_t rx_free(struct fn_sock *so, uint32_t n)
{
    uint32_t bytes = 0;

    while (n-- > 0 && so->zc_rx_head) {
        struct fn_pkt *p = so->zc_rx_head;
        so->zc_rx_head = p->next;
        bytes += p->len;
        fn_pkt_free(p);
        so->zc_rx_n--;
    }
    if (!so->zc_rx_head)
        so->zc_rx_tail = NULL;
    return bytes;
}

void fn_sock_zc_drop(struct fn_sock *so, uint64_t now)
{
    uint32_t bytes = rx_free(so, so->zc_rx_n);

    if (so->tp && bytes)
        fn_tcp_zc_rcv_done(so->tp, bytes, now);
    while (so->zc_tx) {
        struct fn_pkt *p = so->zc_tx;
        so->zc_tx = p->next;
        if (so->tp)
            fn_tcp_zc_unalloc(so->tp, p);
        else
            fn_pkt_free(p);
    }
}

/* One attempt: buffers lent (> 0), 0 at EOF, or -errno (-EAGAIN: nothing yet). */
static int zc_recv_once(struct fn_sock *so, struct fn_zc_iov *iov, int max)
{
    struct fn_pkt *got[ZC_RECV_BATCH];
    uint32_t n;

    if (so->listening || !so->tp)
        return -ENOTCONN;
    if (fn_tcp_readable(so->tp) == 0)
        return fn_sock_recv_nodata(so);
    n = fn_tcp_zc_take(so->tp, got, (uint32_t)(max < ZC_RECV_BATCH ? max : ZC_RECV_BATCH));
    for (uint32_t i = 0; i < n; i++) {
        iov[i].base = got[i]->data;
        iov[i].len = got[i]->len;
        got[i]->next = NULL;
        if (so->zc_rx_tail)
            so->zc_rx_tail->next = got[i];
        else
            so->zc_rx_head = got[i];
        so->zc_rx_tail = got[i];
        so->zc_rx_n++;
    }
    return (int)n;
}

ssize_t fn_zc_recv(struct fn_stack *st, int fd, struct fn_zc_iov *iov, int max, int flags)
{
    struct fn_sock *so = fn_sock_get(st, fd);
    int nb, r;

    if (!so)
        return -1;
    if (flags & ~(MSG_DONTWAIT | MSG_NOSIGNAL))
        return fail(EINVAL);
    if (max < 1)
        return fail(EINVAL);
    if (!iov)
        return fail(EFAULT);
    nb = so->nonblock || (flags & MSG_DONTWAIT);
    for (;;) {
        r = zc_recv_once(so, iov, max);
        if (r != -EAGAIN)
            return r < 0 ? fail(-r) : r;
        if (nb || !fn_sock_wait(st->sock, so, fn_sock_recv_ready, so->rcvtimeo_ns))
            return fail(EAGAIN);
    }
}

int fn_zc_release(struct fn_stack *st, int fd, int count)
{
    struct fn_sock *so = fn_sock_get(st, fd);
    uint32_t bytes;

    if (!so)
        return -1;
    if (count < -1 || (count > 0 && (uint32_t)count > so->zc_rx_n))
        return fail(EINVAL);
    bytes = rx_free(so, count < 0 ? so->zc_rx_n : (uint32_t)count);
    if (so->tp && bytes)
        fn_tcp_zc_rcv_done(so->tp, bytes, st->now);
    return (int)so->zc_rx_n;
}

void *fn_zc_alloc(struct fn_stack *st, int fd, size_t *cap)
{
    struct fn_sock *so = fn_sock_get(st, fd);
    struct fn_pkt *p;
    int rc;

    if (!so)
        return NULL;
    if (!cap) {
        errno = EFAULT;
        return NULL;
    }
    if ((rc = fn_sock_send_check(so, 0)) < 0) {
        errno = -rc;
        return NULL;
    }
    p = fn_tcp_zc_alloc(so->tp);
    if (!p) {
        so->nospace = 1;            /* the pool's recovery is an EPOLLOUT edge */
        errno = ENOBUFS;
        return NULL;
    }
    p->next = so->zc_tx;
    so->zc_tx = p;
    *cap = fn_pkt_tailroom(p);
    return p->data;
}

/* The lent send buffer whose data starts at buf, unlinked from so's list; NULL if none. */
static struct fn_pkt **tx_find(struct fn_sock *so, const void *buf)
{
    for (struct fn_pkt **pp = &so->zc_tx; *pp; pp = &(*pp)->next)
        if ((*pp)->data == buf)
            return pp;
    return NULL;
}

int fn_zc_free(struct fn_stack *st, int fd, void *buf)
{
    struct fn_sock *so = fn_sock_get(st, fd);
    struct fn_pkt **pp, *p;

    if (!so)
        return -1;
    if (!buf || !(pp = tx_find(so, buf)))
        return fail(EINVAL);
    p = *pp;
    *pp = p->next;
    if (so->tp)
        fn_tcp_zc_unalloc(so->tp, p);
    else
        fn_pkt_free(p);
    return 0;
}

/* Bytes the queue may still take for a zero-copy send: SO_SNDBUF (never above the stack's
 * bound); the buffer is already taken, so the pool share does not matter. */
static uint32_t zc_room(const struct fn_sock *so)
{
    uint32_t q = fn_tcp_sndq(so->tp), lim = (uint32_t)so->sndbuf;

    return q < lim ? lim - q : 0;
}

/* A buffer goes whole; an empty queue takes it whatever SO_SNDBUF says. */
static int zc_fits(const struct fn_sock *so, uint32_t len)
{
    return zc_room(so) >= len || fn_tcp_sndq(so->tp) == 0;
}

/* A blocking zero-copy send may try again: the buffer fits, or the send will fail. */
static int zc_send_ready(struct fn_sock *so)
{
    int state = fn_sock_state(so);

    if (!so->tp || (state != TCPS_ESTABLISHED && state != TCPS_CLOSE_WAIT))
        return 1;
    return zc_fits(so, so->zc_wait_len);
}

ssize_t fn_zc_send(struct fn_stack *st, int fd, void *buf, size_t len, int flags)
{
    struct fn_sock *so = fn_sock_get(st, fd);
    struct fn_pkt **pp, *p;
    int nb, rc;

    if (!so)
        return -1;
    if (flags & ~(MSG_DONTWAIT | MSG_NOSIGNAL | MSG_MORE))
        return fail(EINVAL);
    if (!buf || !(pp = tx_find(so, buf)))
        return fail(EINVAL);
    p = *pp;
    if (len > fn_pkt_tailroom(p))
        return fail(EINVAL);
    nb = so->nonblock || (flags & MSG_DONTWAIT);
    for (;;) {
        uint64_t now = fn_sock_call_now(st, nb);
        rc = fn_sock_send_check(so, flags);
        if (rc == 0 && !zc_fits(so, (uint32_t)len))
            rc = -EAGAIN;
        if (rc == 0) {
            /* Unlinked first: the connection takes the buffer (or frees it, copied). */
            *pp = p->next;
            p->next = NULL;
            p->len = (uint32_t)len;
            rc = fn_tcp_zc_send(so->tp, p, (flags & MSG_MORE) != 0, now);
            if (rc >= 0) {
                if (!fn_sock_writable(so))
                    so->nospace = 1;
                return (ssize_t)len;
            }
            p->len = 0;
            p->next = so->zc_tx;
            so->zc_tx = p;
        }
        if (rc != -EAGAIN)
            return fail(-rc);
        so->nospace = 1;
        so->zc_wait_len = (uint32_t)len;
        if (nb || !fn_sock_wait(st->sock, so, zc_send_ready, so->sndtimeo_ns))
            return fail(EAGAIN);
        pp = tx_find(so, buf);
    }
}
