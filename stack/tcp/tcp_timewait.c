/*
 * tcp_timewait.c — TIME_WAIT never starves new connections.  cfg.tcp_max_conns bounds the
 * tcpcbs, and every connection we close first holds one for 2·MSL (60 s by default) after
 * its last segment: a server answering short requests and closing first would otherwise run
 * out of tcpcbs at max_conns / 60 connections per second, and refuse everyone until the
 * oldest TIME_WAIT ends.  So a TIME_WAIT whose owner has let go of it is only a tenant: when
 * a new connection (passive or active) or a listener needs a tcpcb and none is free, the
 * oldest such TIME_WAIT ends early and gives up its tcpcb — Linux's answer past
 * tcp_max_tw_buckets, and FreeBSD's recycling of tcptw entries.  The cost is that of any
 * TIME_WAIT cut short: a late segment of the old connection gets a RST instead of an ACK, and
 * its 4-tuple may come back before 2·MSL — where ISNs (RFC 6528) and timestamps that keep
 * increasing for a 4-tuple tell the new connection's segments from the old one's.
 *
 * Contract: owns fn_tcp's TIME_WAIT queue (tw_head/tw_tail, doubly linked through
 * t_twprev/t_twnext), which holds exactly the tcpcbs in TIME_WAIT with TF_DETACHED, in the
 * order they became so; one still held by its owner is not a tenant (nothing could free it)
 * and joins when the owner closes it.  Every operation is O(1).  Nothing here allocates;
 * recycling frees a tcpcb through tcp_close.  Stack-owner core only.
 */
#include <errno.h>

#include "core/fn_stack_impl.h"
#include "tcp/tcp_var.h"

void tcp_tw_unlink(struct tcpcb *tp)
{
    struct fn_tcp *tcp = tp->t_stack->tcp;

    if (!tp->t_twq)
        return;
    if (tp->t_twprev)
        tp->t_twprev->t_twnext = tp->t_twnext;
    else
        tcp->tw_head = tp->t_twnext;
    if (tp->t_twnext)
        tp->t_twnext->t_twprev = tp->t_twprev;
    else
        tcp->tw_tail = tp->t_twprev;
    tp->t_twprev = tp->t_twnext = NULL;
    tp->t_twq = 0;
}

void tcp_tw_note(struct tcpcb *tp)
{
    struct fn_tcp *tcp = tp->t_stack->tcp;

    if (tp->t_state != TCPS_TIME_WAIT || !(tp->t_flags & TF_DETACHED))
        return;
    /* A restarted 2·MSL (the peer's FIN again) makes it the newest: the queue stays in
     * expiry order, so its head is always the TIME_WAIT closest to its end anyway. */
    tcp_tw_unlink(tp);
    tp->t_twprev = tcp->tw_tail;
    tp->t_twnext = NULL;
    if (tcp->tw_tail)
        tcp->tw_tail->t_twnext = tp;
    else
        tcp->tw_head = tp;
    tcp->tw_tail = tp;
    tp->t_twq = 1;
}

int tcp_tw_recycle(struct fn_tcp *tcp)
{
    struct tcpcb *tp = tcp->tw_head;

    if (!tp)
        return -ENOBUFS;
    tcp->st->stats.tcp_tw_recycled++;
    /* Detached: tcp_close frees it (and tcp_free takes it off the queue). */
    tcp_close(tp);
    return 0;
}

int tcp_tcb_available(const struct fn_tcp *tcp)
{
    return tcp->free_list != NULL || tcp->tw_head != NULL;
}
