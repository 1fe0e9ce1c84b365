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
 * The same queue ends TIME_WAIT on time.  Every 2·MSL is as long as every other, so tcpcbs
 * queued as they enter TIME_WAIT are queued in deadline order, and the queue's head is the
 * next to end: their 2·MSL timers stay out of the timer heap (t_twtimed), which otherwise
 * holds one entry per TIME_WAIT — tens of thousands on a server closing short connections
 * first, each insertion and removal a walk down that many cache-cold tcpcbs — and keeps
 * only the connections that are alive.  The exception is a TIME_WAIT its owner held for a
 * while and then let go of: its deadline is earlier than that of tcpcbs already queued, so
 * it keeps its heap entry.  Its deadline is then earlier than that of every t_twtimed tcpcb
 * queued after it (tw_due_max only grows), so the heap ends it before any of those is due,
 * and the walk from the head may stop at it.
 *
 * Contract: owns fn_tcp's TIME_WAIT queue (tw_head/tw_tail, doubly linked through
 * t_twprev/t_twnext), which holds exactly the tcpcbs in TIME_WAIT with TF_DETACHED, in the
 * order they became so; one still held by its owner is not a tenant (nothing could free it)
 * and joins when the owner closes it.  The t_twtimed ones have non-decreasing deadlines in
 * queue order and end in tcp_tw_expire.  Every operation is O(1) (tcp_tw_expire per tcpcb
 * it ends).  Nothing here allocates; recycling and expiry free a tcpcb through tcp_close.
 * Stack-owner core only.
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
    if (!tcp->tw_head)
        tcp->tw_due_max = 0;
    if (tp->t_twtimed) {
        tp->t_twtimed = 0;
        tcp_timer_resched(tp);          /* an armed 2·MSL goes back to the heap */
    }
}

void tcp_tw_note(struct tcpcb *tp)
{
    struct fn_tcp *tcp = tp->t_stack->tcp;
    uint64_t due;

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
    due = tp->t_timer[TT_2MSL];
    if (due != 0 && due >= tcp->tw_due_max) {
        tcp->tw_due_max = due;
        tp->t_twtimed = 1;
        tcp_timer_resched(tp);          /* off the heap, unless another timer runs */
    }
}

void tcp_tw_expire(struct fn_tcp *tcp, uint64_t now)
{
    struct tcpcb *tp;

    while ((tp = tcp->tw_head) != NULL && tp->t_twtimed && tp->t_timer[TT_2MSL] <= now) {
        /* RFC 9293 §3.10.8: TIME_WAIT over.  Detached: tcp_close frees it. */
        tp->t_timer[TT_2MSL] = 0;
        tcp_close(tp);
    }
}

uint64_t tcp_tw_next_deadline(const struct fn_tcp *tcp)
{
    const struct tcpcb *tp = tcp->tw_head;

    /* A head the heap ends comes first anyway (see above). */
    return tp && tp->t_twtimed ? tp->t_timer[TT_2MSL] : UINT64_MAX;
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
