/*
 * tcp_usrreq.c — the owner's side of a connection (fn_tcp.h): listen/accept, connect,
 * send/recv through the send and receive chains, shutdown, close, abort, getters.
 *
 * Contract: see fn_tcp.h.  Every call runs on the stack's core; send copies the caller's
 * bytes into pool buffers (filling the tail buffer first) up to cfg.tcp_sndbuf and runs
 * tcp_output; recv copies out of the receive chain, frees drained buffers and sends a window
 * update when the window opened enough (RFC 9293 §3.8.6.2.2).  Pool pressure during send
 * (tcp_pool.c: the reserve, or the connection's share) returns what was queued so far, or
 * -EAGAIN, and FN_TCP_EV_WRITABLE follows when the pool recovers.
 */
#include <errno.h>
#include <string.h>

#include "core/fn_stack_impl.h"
#include "tcp/fn_tcp_sock.h"
#include "tcp/tcp_syncache.h"
#include "tcp/tcp_var.h"

int fn_tcp_listen(struct fn_stack *st, uint16_t port, uint32_t backlog, struct tcpcb **out)
{
    return fn_tcp_listen_opts(st, port, backlog, 0, out);
}

int fn_tcp_listen_opts(struct fn_stack *st, uint16_t port, uint32_t backlog, int reuseport,
                       struct tcpcb **out)
{
    struct fn_tcp *tcp = st->tcp;
    struct tcpcb *tp;

    if (port == 0 || backlog == 0)
        return -EINVAL;
    if (fn_tcp_port_listening(st, port, reuseport))
        return -EADDRINUSE;
    tp = tcp_alloc(tcp);
    if (!tp) {
        st->stats.tcp_tcb_exhausted++;
        return -ENOBUFS;
    }
    tp->lport = port;
    tp->t_state = TCPS_LISTEN;
    tp->t_backlog = backlog;
    tp->t_reuseport = reuseport != 0;
    tcp_listen_insert(tcp, tp);
    *out = tp;
    return 0;
}

struct tcpcb *fn_tcp_accept(struct tcpcb *l)
{
    struct tcpcb *tp;

    if (l->t_state != TCPS_LISTEN || !l->t_acc_head)
        return NULL;
    tp = l->t_acc_head;
    l->t_acc_head = tp->t_qnext;
    if (!l->t_acc_head)
        l->t_acc_tail = NULL;
    l->t_qlen--;
    tp->t_listen = NULL;
    tp->t_qnext = NULL;
    /* Tell the new owner what already happened while it sat in the queue. */
    tcp_event(tp, FN_TCP_EV_CONNECTED | FN_TCP_EV_WRITABLE |
                      (tp->rcv_cc || (tp->t_flags & TF_RCVDFIN) ? FN_TCP_EV_READABLE : 0) |
                      ((tp->t_flags & TF_RCVDFIN) ? FN_TCP_EV_EOF : 0));
    if (l->t_acc_head)
        tcp_event(l, FN_TCP_EV_READABLE);
    return tp;
}

int fn_tcp_connect(struct fn_stack *st, uint32_t dst, uint16_t dst_port, uint16_t src_port,
                   struct tcpcb **out, uint64_t now)
{
    return fn_tcp_connect_opts(st, dst, dst_port, src_port, 0, 0, out, now);
}

int fn_tcp_connect_opts(struct fn_stack *st, uint32_t dst, uint16_t dst_port,
                        uint16_t src_port, uint32_t rcvbuf, uint16_t mss, struct tcpcb **out,
                        uint64_t now)
{
    struct fn_tcp *tcp = st->tcp;
    struct tcpcb *tp;
    int rc;

    if (dst == 0 || dst_port == 0)
        return -EINVAL;
    if (src_port == 0) {
        rc = tcp_ephemeral_port(tcp, dst, dst_port, &src_port);
        if (rc)
            return rc;
    } else if (tcp_lookup(tcp, dst, dst_port, src_port)) {
        return -EADDRINUSE;
    }
    tp = tcp_alloc(tcp);
    if (!tp) {
        st->stats.tcp_tcb_exhausted++;
        return -ENOBUFS;
    }
    tp->faddr = dst;
    tp->fport = dst_port;
    tp->lport = src_port;
    fn_tcp_set_rcvbuf(tp, rcvbuf);      /* before the set-up: they shape the SYN */
    tp->t_user_mss = mss;
    tcp_conn_setup(tp, tcp_isn_for(tcp, dst, dst_port, src_port, now), now);
    /* Until the SYN-ACK, the peer's MSS is unknown: size our own options from our MTU. */
    tp->t_maxseg = TCP_MSS_DEFAULT;
    tp->rcv_wscale = 0;
    tp->t_state = TCPS_SYN_SENT;
    tcp_hash_insert(tcp, tp);
    st->stats.tcp_conn_active++;
    tcp_output(tp, now);
    *out = tp;
    return 0;
}

int tcp_usr_may_send(const struct tcpcb *tp)
{
    if (tp->t_state == TCPS_LISTEN)
        return -ENOTCONN;
    if (tp->t_error)
        return -tp->t_error;
    if ((tp->t_flags & TF_NEEDFIN) || tp->t_state == TCPS_CLOSED ||
        tp->t_state > TCPS_CLOSE_WAIT)
        return -EPIPE;
    return 0;
}

int fn_tcp_send(struct tcpcb *tp, const void *data, uint32_t len, uint64_t now)
{
    const struct fn_config *c = tcp_cfg(tp);
    struct fn_stack *st = tp->t_stack;
    const uint8_t *src = data;
    uint32_t room, done = 0;
    int rc = tcp_usr_may_send(tp);

    if (rc)
        return rc;
    room = c->tcp_sndbuf > tp->snd_cc ? c->tcp_sndbuf - tp->snd_cc : 0;
    if (len > room)
        len = room;
    while (done < len) {
        struct fn_pkt *t = tp->snd_tail;
        uint32_t n;

        if (!t || fn_pkt_tailroom(t) == 0) {
            if (!tcp_pool_may_queue_snd(tp))
                break;          /* the pool's reserve or tp's share (tcp_pool.c) */
            t = fn_pkt_alloc(st->pool);
            if (!t) {
                st->stats.tcp_nobuf++;
                break;
            }
            if (tp->snd_tail)
                tp->snd_tail->next = t;
            else
                tp->snd_head = t;
            tp->snd_tail = t;
            tp->snd_nbufs++;
        }
        n = fn_pkt_tailroom(t);
        if (n > len - done)
            n = len - done;
        memcpy(fn_pkt_put(t, n), src + done, n);
        done += n;
        tp->snd_cc += n;
    }
    if (done == 0)
        return -EAGAIN;
    if (TCPS_HAVEESTABLISHED(tp->t_state))
        tcp_output(tp, now);
    return (int)done;
}

int fn_tcp_recv(struct tcpcb *tp, void *buf, uint32_t len, uint64_t now)
{
    uint8_t *dst = buf;
    uint32_t done = 0;

    if (tp->t_state == TCPS_LISTEN)
        return -ENOTCONN;
    while (done < len && tp->rcv_head) {
        struct fn_pkt *p = tp->rcv_head;
        uint32_t n = p->len < len - done ? p->len : len - done;

        memcpy(dst + done, p->data, n);
        done += n;
        fn_pkt_pull(p, n);
        if (p->len == 0) {
            tp->rcv_head = p->next;
            if (!tp->rcv_head)
                tp->rcv_tail = NULL;
            fn_pkt_free(p);
        }
    }
    tp->rcv_cc -= done;
    if (done > 0) {
        /* The window may have opened enough for an update (tcp_output decides). */
        if (TCPS_HAVEESTABLISHED(tp->t_state) && !TCPS_HAVERCVDFIN(tp->t_state))
            tcp_output(tp, now);
        return (int)done;
    }
    if (tp->t_error)
        return -tp->t_error;
    if (tp->t_flags & TF_RCVDFIN)
        return 0;
    if (tp->t_state == TCPS_CLOSED)
        return 0;
    return -EAGAIN;
}

/* The owner will send no more (RFC 9293 §3.10.4 CLOSE, for the sending half). */
static void usr_closed(struct tcpcb *tp, uint64_t now)
{
    tp->t_flags |= TF_NEEDFIN;
    switch (tp->t_state) {
    case TCPS_ESTABLISHED:
        tp->t_state = TCPS_FIN_WAIT_1;
        break;
    case TCPS_CLOSE_WAIT:
        tp->t_state = TCPS_LAST_ACK;
        break;
    default:
        /* SYN_SENT / SYN_RECEIVED: the FIN follows once established (TF_NEEDFIN). */
        break;
    }
    if (TCPS_HAVEESTABLISHED(tp->t_state))
        tcp_output(tp, now);
}

int fn_tcp_shutdown_wr(struct tcpcb *tp, uint64_t now)
{
    if (tp->t_state == TCPS_LISTEN || tp->t_state == TCPS_CLOSED)
        return -ENOTCONN;
    if (!(tp->t_flags & TF_NEEDFIN))
        usr_closed(tp, now);
    return 0;
}

static void close_listener(struct tcpcb *l, uint64_t now)
{
    struct fn_tcp *tcp = l->t_stack->tcp;

    /* Half-open entries go quietly (the peers' ACKs will find no listener and get RSTs);
     * children not yet accepted are reset: nobody will ever own them. */
    tcp_syncache_purge(l);
    for (uint32_t i = 0; i < tcp->ntcbs && l->t_qlen > 0; i++) {
        struct tcpcb *c = &tcp->tcbs[i];
        if (c->lport != 0 && c->t_listen == l)
            fn_tcp_abort(c, now);
    }
    tcp_close(l);
    tcp_free(l);
}

void fn_tcp_abort(struct tcpcb *tp, uint64_t now)
{
    if (tp->t_state == TCPS_LISTEN) {
        close_listener(tp, now);
        return;
    }
    /* RFC 9293 §3.10.5 ABORT: a RST to a synchronized peer, then gone.  The RFC's SND.NXT
     * is our snd_max (snd_nxt may be rewound for a retransmission). */
    if (TCPS_HAVERCVDSYN(tp->t_state) && tp->t_state != TCPS_TIME_WAIT)
        tcp_respond(tp->t_stack, tp, tp->faddr, tp->fport, tp->lport, tp->snd_max, 0,
                    FN_TH_RST, now);
    tcp_detach(tp);
    if (tp->t_state != TCPS_CLOSED)
        tcp_close(tp);
    else
        tcp_free(tp);
}

void fn_tcp_close(struct tcpcb *tp, uint64_t now)
{
    if (tp->t_state == TCPS_LISTEN) {
        close_listener(tp, now);
        return;
    }
    if (tp->t_state == TCPS_CLOSED || tp->t_state == TCPS_SYN_SENT) {
        tcp_detach(tp);
        if (tp->t_state == TCPS_CLOSED)
            tcp_free(tp);
        else
            tcp_close(tp);
        return;
    }
    /* Unread data: the peer must learn its data was not consumed (RFC 2525 §2.17). */
    if (tp->rcv_cc > 0) {
        fn_tcp_abort(tp, now);
        return;
    }
    tcp_detach(tp);
    if (!(tp->t_flags & TF_NEEDFIN))
        usr_closed(tp, now);
    if (tp->t_state == TCPS_FIN_WAIT_2)
        tcp_timer_arm(tp, TT_2MSL, now + (uint64_t)tcp_cfg(tp)->tcp_fin_wait2_ms * 1000000ull);
}

int fn_tcp_state(const struct tcpcb *tp)
{
    return tp->t_state;
}

int fn_tcp_error(const struct tcpcb *tp)
{
    return tp->t_error;
}

uint32_t fn_tcp_events(const struct tcpcb *tp)
{
    return tp->t_revents;
}

uint32_t fn_tcp_readable(const struct tcpcb *tp)
{
    return tp->rcv_cc;
}

uint32_t fn_tcp_writable(const struct tcpcb *tp)
{
    uint32_t b = tcp_cfg(tp)->tcp_sndbuf, room = b > tp->snd_cc ? b - tp->snd_cc : 0;
    uint32_t pool = tcp_pool_snd_room(tp);

    return room < pool ? room : pool;
}

uint16_t fn_tcp_lport(const struct tcpcb *tp)
{
    return tp->lport;
}

uint16_t fn_tcp_fport(const struct tcpcb *tp)
{
    return tp->fport;
}

uint32_t fn_tcp_faddr(const struct tcpcb *tp)
{
    return tp->faddr;
}

void fn_tcp_set_nodelay(struct tcpcb *tp, int on)
{
    if (on)
        tp->t_flags |= TF_NODELAY;
    else
        tp->t_flags &= ~TF_NODELAY;
}

void fn_tcp_set_user(struct tcpcb *tp, void *user)
{
    tp->t_user = user;
}

void *fn_tcp_user(const struct tcpcb *tp)
{
    return tp->t_user;
}
