/*
 * tcp_reass.c — the receive side's byte queues: the in-order receive chain and the
 * out-of-order reassembly queue (RFC 9293 §3.10.7.4 "seventh, process the segment text").
 *
 * Contract: tcp_rcv_append() takes a pkt whose data is in-order payload and appends it to the
 * receive chain, copying small payloads into the tail buffer instead of holding a buffer per
 * tiny segment (a peer sending 1-byte segments cannot pin one pool buffer per byte).
 * tcp_reass() takes an out-of-order pkt (payload at data, first byte `seq`, seq >= rcv_nxt,
 * already trimmed to the window by the caller) and keeps the queue sorted and disjoint: bytes
 * already held win over bytes arriving again (duplicates and overlaps are trimmed, never
 * merged, so held data is never rewritten), all comparisons are mod 2^32.  The queue is
 * bounded by cfg.tcp_reass_max_segs pkts; a segment that would exceed it is dropped
 * (tcp_rx_reass_full) unless it starts at rcv_nxt, and so is one the pool policy refuses
 * (tcp_pool.c: out-of-order data is the first to go).  Whatever became contiguous with
 * rcv_nxt moves to the receive chain.  Stack-owner core only; never fails otherwise.
 */
#include <string.h>

#include "core/fn_stack_impl.h"
#include "tcp/tcp_var.h"

#define REASS_SEQ(p) ((uint32_t)(p)->user)
#define REASS_FIN(p) ((p)->ts & 1u)
/* Copy payloads up to this size into the tail buffer rather than keeping their own. */
#define RCV_COALESCE_MAX 512u

void tcp_rcv_append(struct tcpcb *tp, struct fn_pkt *pkt)
{
    struct fn_pkt *t = tp->rcv_tail;

    if (pkt->len == 0) {
        fn_pkt_free(pkt);
        return;
    }
    tp->rcv_cc += pkt->len;
    if (t && pkt->len <= RCV_COALESCE_MAX && fn_pkt_tailroom(t) >= pkt->len) {
        memcpy(fn_pkt_put(t, pkt->len), pkt->data, pkt->len);
        fn_pkt_free(pkt);
        return;
    }
    pkt->next = NULL;
    if (t)
        t->next = pkt;
    else
        tp->rcv_head = pkt;
    tp->rcv_tail = pkt;
}

/* reass_segs changes only here, so that the stack-wide ooo_bufs (tcp_pool.c) follows it. */
static void reass_count(struct tcpcb *tp, int32_t n)
{
    tp->reass_segs += (uint32_t)n;
    tp->t_stack->tcp->ooo_bufs += (uint32_t)n;
}

void tcp_reass_flush(struct tcpcb *tp)
{
    fn_pkt_free_chain(tp->reass_head);
    tp->reass_head = NULL;
    reass_count(tp, -(int32_t)tp->reass_segs);
    tp->reass_bytes = 0;
}

/* Move what is contiguous with rcv_nxt to the receive chain.  Returns TCP_REASS_* bits. */
static int reass_deliver(struct tcpcb *tp)
{
    int r = 0;

    while (tp->reass_head && REASS_SEQ(tp->reass_head) == tp->rcv_nxt) {
        struct fn_pkt *p = tp->reass_head;
        int fin = (int)REASS_FIN(p);

        tp->reass_head = p->next;
        reass_count(tp, -1);
        tp->reass_bytes -= p->len;
        tp->rcv_nxt += p->len;
        tp->t_stack->stats.tcp_rx_bytes += p->len;
        if (p->len)
            r |= TCP_REASS_DATA;
        tcp_rcv_append(tp, p);
        if (fin) {
            /* Nothing can follow a FIN: anything still queued beyond it is garbage. */
            r |= TCP_REASS_FIN;
            tcp_reass_flush(tp);
            break;
        }
    }
    return r;
}

int tcp_reass(struct tcpcb *tp, struct fn_pkt *pkt, uint32_t seq, int fin)
{
    struct fn_stack *st = tp->t_stack;
    struct fn_pkt **pp = &tp->reass_head, *prev = NULL;
    uint32_t end = seq + pkt->len;

    /* The last held segment starting at or before seq, and the link to insert at. */
    while (*pp && SEQ_LEQ(REASS_SEQ(*pp), seq)) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (prev) {
        uint32_t pend = REASS_SEQ(prev) + prev->len;
        if (SEQ_GEQ(pend, end)) {
            /* Entirely held already. */
            if (fin && pend == end)
                prev->ts |= 1u;
            st->stats.tcp_rx_dup++;
            fn_pkt_free(pkt);
            return reass_deliver(tp);
        }
        if (SEQ_GT(pend, seq)) {
            fn_pkt_pull(pkt, pend - seq);
            seq = pend;
        }
    }
    /* Later segments the new one overlaps: drop those it covers, trim the one it reaches
     * into (its bytes were here first). */
    while (*pp && SEQ_LT(REASS_SEQ(*pp), end)) {
        struct fn_pkt *q = *pp;
        uint32_t qend = REASS_SEQ(q) + q->len;
        if (SEQ_LEQ(qend, end)) {
            if (REASS_FIN(q) && qend == end)
                fin = 1;
            *pp = q->next;
            reass_count(tp, -1);
            tp->reass_bytes -= q->len;
            fn_pkt_free(q);
            continue;
        }
        /* q extends past the new segment: the new one ends where q starts. */
        pkt->len = REASS_SEQ(q) - seq;
        end = REASS_SEQ(q);
        fin = 0;
        break;
    }
    if (seq != tp->rcv_nxt && tp->reass_segs >= tcp_cfg(tp)->tcp_reass_max_segs) {
        st->stats.tcp_rx_reass_full++;
        fn_pkt_free(pkt);
        return reass_deliver(tp);
    }
    /* Out-of-order data goes first under pool pressure, and before it is queued, so no SACK
     * block ever reports it (tcp_pool.c; RFC 2018 §8 reneging avoided). */
    if (seq != tp->rcv_nxt && !tcp_pool_may_queue_ooo(tp)) {
        fn_pkt_free(pkt);
        return reass_deliver(tp);
    }
    if (pkt->len == 0 && !fin) {
        fn_pkt_free(pkt);
        return reass_deliver(tp);
    }
    pkt->user = seq;
    pkt->ts = fin ? 1u : 0u;
    pkt->next = *pp;
    *pp = pkt;
    reass_count(tp, 1);
    tp->reass_bytes += pkt->len;
    if (seq != tp->rcv_nxt)
        st->stats.tcp_rx_ooo++;
    return reass_deliver(tp);
}
