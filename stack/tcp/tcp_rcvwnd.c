/*
 * tcp_rcvwnd.c — when a window update is worth a segment of its own (RFC 9293 §3.8.6.2.2,
 * RFC 1122 §4.2.3.3).
 *
 * Contract: tcp_rcv_update_due() is a pure decision for tcp_output when nothing else is to
 * be sent: it reads the tcpcb and the configuration, changes nothing and cannot fail.  How
 * far the right edge may move at all (receiver SWS avoidance) is tcp_rcv_space()'s business;
 * this only decides whether a move that is allowed needs an ACK now, or can wait for the
 * next ACK the peer's own data will call for — which carries the window anyway.
 * Stack-owner core only.
 */
#include "core/fn_stack_impl.h"
#include "tcp/tcp_var.h"

int tcp_rcv_update_due(const struct tcpcb *tp, uint32_t adv)
{
    uint32_t rcvbuf = tcp_rcvbuf(tp);
    uint32_t offered = SEQ_GT(tp->rcv_adv, tp->rcv_nxt) ? tp->rcv_adv - tp->rcv_nxt : 0;
    uint32_t maxwin = (uint32_t)TCP_MAXWIN << tp->rcv_wscale;

    if (adv == 0)
        return 0;
    /* A peer facing less than a segment is stalled (its SWS avoidance, or its persist
     * timer backing off): tell it as soon as the edge may move at all. */
    if (tcp_rcv_wnd_stalled(tp))
        return 1;
    /* The peer may still send more than half of the largest window we could ever offer:
     * the new edge does not limit it yet, and the ACKs its next segments call for
     * (RFC 5681 §4.2) will carry it.  An update of its own would cost a segment per read
     * on a fast reader and tell the peer nothing it needs. */
    if (rcvbuf < maxwin)
        maxwin = rcvbuf;
    if (offered > maxwin / 2)
        return 0;
    /* An ACK is owed already (TF_DELACK) and the peer has a quarter of the most we offer:
     * that ACK carries the new edge within the delayed-ACK time, and the answer the
     * application is about to write carries it sooner.  This is the first read of every
     * connection (the SYN-ACK's window is at most 65535 unscaled, so reading a request lets
     * the edge jump to the whole buffer): a short request-response connection would
     * otherwise spend a pure ACK on it that Linux, growing its window gradually, never
     * sends. */
    if ((tp->t_flags & TF_DELACK) && offered >= maxwin / 4)
        return 0;
    /* Worth a segment: the edge moves by two segments or by half the buffer. */
    return adv >= 2u * tp->t_maxseg || 2u * adv >= rcvbuf;
}
