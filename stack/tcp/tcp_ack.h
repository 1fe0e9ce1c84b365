/*
 * tcp_ack.h — the sender's work for a new cumulative ACK (internal to tcp/): the RTT sample
 * and RTO (RFC 6298), freeing acknowledged data, the retransmission timer, congestion control
 * and the writable event.
 *
 * Contract: every function here is inline so that the pure-ACK fast path (tcp_fastin.c)
 * runs as one function; tcp_input.c uses the same code through tcp_ack_new() (and the
 * timers and the syncache use tcp_xmit_timer).  None allocates or fails,
 * and tcp_ack_advance() sends only in fast recovery (through tcp_ack_recovery() in
 * tcp_input.c; the fast path never gets there).  Stack-owner core only.
 */
#ifndef FASTNET_TCP_ACK_H
#define FASTNET_TCP_ACK_H

#include "core/fn_stack_impl.h"
#include "mem/fn_pool_impl.h"
#include "tcp/tcp_var.h"

#define TCP_NS_PER_MS 1000000ull

/* RFC 6298 §2.1–§2.4: the RTO before backoff and the upper bound, at least the minimum. */
static inline uint64_t tcp_rto_base(const struct tcpcb *tp)
{
    const struct fn_config *c = &tp->t_stack->cfg;
    uint64_t min = (uint64_t)c->tcp_rto_min_ms * TCP_NS_PER_MS, base;

    if (tp->t_srtt == 0) {
        base = (uint64_t)c->tcp_rto_init_ms * TCP_NS_PER_MS;   /* §2.1 */
    } else {
        /* §2.3: RTO = SRTT + max(G, K·RTTVAR), K = 4; G is the 1 ns clock granularity. */
        uint64_t k = 4 * tp->t_rttvar;
        base = tp->t_srtt + (k > 1 ? k : 1);
    }
    return base < min ? min : base;                             /* §2.4 */
}

static inline uint64_t tcp_rto_max(const struct tcpcb *tp)
{
    return (uint64_t)tp->t_stack->cfg.tcp_rto_max_ms * TCP_NS_PER_MS;
}

/* RFC 6298 §2.2–§2.3: SRTT and RTTVAR (*srtt, *rttvar; 0 = no sample yet) after a new RTT
 * sample rtt (ns, > 0). */
static inline void tcp_rtt_step(uint64_t *srtt, uint64_t *rttvar, uint64_t rtt)
{
    if (*srtt == 0) {
        /* §2.2: first measurement R: SRTT = R, RTTVAR = R/2. */
        *srtt = rtt;
        *rttvar = rtt / 2;
    } else {
        /* §2.3: RTTVAR = (1 - β)·RTTVAR + β·|SRTT - R'|, β = 1/4, then
         *       SRTT = (1 - α)·SRTT + α·R', α = 1/8 (RTTVAR first: it uses the old SRTT). */
        uint64_t d = *srtt > rtt ? *srtt - rtt : rtt - *srtt;
        *rttvar = *rttvar - *rttvar / 4 + d / 4;
        *srtt = *srtt - *srtt / 8 + rtt / 8;
    }
}

static inline void tcp_rtt_update(struct tcpcb *tp, uint64_t rtt)
{
    tcp_rtt_step(&tp->t_srtt, &tp->t_rttvar, rtt);
}

/* After a new RTT sample: no backoff, and the RTO from SRTT and RTTVAR (§2.3–§2.5).  It
 * depends on nothing but them, so after several samples in a row once is enough. */
static inline void tcp_rto_update(struct tcpcb *tp)
{
    uint64_t rto = tcp_rto_base(tp), max = tcp_rto_max(tp);

    tp->t_rxtshift = 0;
    tp->t_rxtcur = rto > max ? max : rto;                       /* §2.5 */
}

/* RFC 6298 §2: a new RTT sample (ns); ends any backoff and sets the RTO. */
static inline void tcp_xmit_timer(struct tcpcb *tp, uint64_t rtt)
{
    tcp_rtt_update(tp, rtt ? rtt : 1);
    tcp_rto_update(tp);
}

/* The RTT a timestamp echo measures: ms whole TS clock ticks (RFC 7323 §4.1).  The
 * resolution of the TS clock is 1 ms: a sample of 0 stands for "under 1 ms". */
static inline uint64_t tcp_ts_rtt(uint32_t ms)
{
    return ms ? (uint64_t)ms * TCP_TS_HZ_NS : TCP_TS_HZ_NS / 2;
}

/* RFC 6298 §2 from one ACK: a timestamp echo if both use timestamps (unambiguous even for
 * retransmitted segments), else the one timed segment (Karn: never a retransmitted one).
 * tsecr is the segment's TSecr, 0 if it carried no timestamp.
 * Returns 1 if a sample was taken (tcp_xmit_timer then also reset the backoff and RTO). */
static inline int tcp_rtt_sample(struct tcpcb *tp, uint32_t ack, uint32_t tsecr, uint64_t now)
{
    if (TS_ON(tp) && tsecr != 0) {
        uint32_t ms = tcp_ts_now(tp, now) - tsecr;
        if (ms < 0x7fffffffu) {
            tcp_xmit_timer(tp, tcp_ts_rtt(ms));
            tp->t_rtttime = 0;
            return 1;
        }
    }
    if (tp->t_rtttime != 0 && SEQ_GT(ack, tp->t_rtseq)) {
        tcp_xmit_timer(tp, now - tp->t_rtttime);
        tp->t_rtttime = 0;
        return 1;
    }
    return 0;
}

/* Drop n acknowledged bytes from the head of the send chain; the buffers emptied go back to
 * the pool. */
static inline void tcp_sb_drop(struct tcpcb *tp, uint32_t n)
{
    struct fn_pkt *p = tp->snd_head;

    if (n > tp->snd_cc)
        n = tp->snd_cc;
    tp->snd_cc -= n;
    /* The segmenting cache stays valid across the drop: offsets count from the new head, so
     * a cached pkt that survives moves n bytes closer to it (or becomes the head, partly
     * consumed).  Forgetting it would make sb_copy walk the chain from its head for every
     * segment sent — O(data in flight) per segment. */
    if (tp->snd_cache && tp->snd_cache_off + tp->snd_cache->len > n) {
        tp->snd_cache_off = tp->snd_cache_off > n ? tp->snd_cache_off - n : 0;
    } else {
        tp->snd_cache = NULL;
        tp->snd_cache_off = 0;
    }
    while (p && p->len <= n) {
        struct fn_pkt *next = p->next;
        n -= p->len;
        tp->snd_nbufs--;
        fn_pkt_release(p);
        p = next;
    }
    if (p)
        fn_pkt_pull(p, n);
    else
        tp->snd_tail = NULL;
    tp->snd_head = p;
}

/* The REXMT deadline for now: RFC 6298 §5.1 (records t_uto_start at backoff 0), no later
 * than the user timeout (tcp_keepalive.c). */
static inline uint64_t tcp_rexmt_deadline(struct tcpcb *tp, uint64_t now)
{
    uint64_t when = now + tp->t_rxtcur;

    /* Armed at backoff 0 means a fresh wait: data sent with nothing in flight, or new data
     * acked (RFC 6298 §5.3 restarts the timer then). */
    if (tp->t_rxtshift == 0)
        tp->t_uto_start = now;
    return tp->t_user_timeout_ms != 0 ? tcp_uto_clamp(tp, when, now) : when;
}

/* What congestion control is told of a new cumulative ACK: the bytes it acked, the flight
 * it leaves, when, and the smoothed RTT. */
static inline void tcp_ccv_ack(struct tcpcb *tp, uint32_t acked, uint32_t flight, uint64_t now,
                               uint64_t srtt)
{
    tp->ccv.bytes_this_ack = acked;
    tp->ccv.flight = flight;
    tp->ccv.now = now;
    tp->ccv.srtt = srtt;
}

/* A new cumulative ACK outside recovery (ccv.bytes_this_ack/flight/now/srtt set): tell the
 * algorithm, with whether the flight before the ACK was cwnd-limited. */
static inline void tcp_cc_ack(struct tcpcb *tp, uint32_t flight)
{
    /* RFC 9438 §4.1 and RFC 7661 §4.3: cwnd grows only while it is what limits the sender.
     * The flight before this ACK counts as cwnd-limited when it filled all of cwnd but
     * less than one segment (Nagle or sender SWS avoidance may hold back a short tail). */
    tp->ccv.flags = flight + tcp_maxseg(tp) >= tp->snd_cwnd ? CCF_CWND_LIMITED : 0;
    if (!(tp->ccv.flags & CCF_CWND_LIMITED))
        tp->t_stack->stats.tcp_cc_app_limited++;
    tp->cc_algo->ack_received(&tp->ccv, CC_ACK);
}

/* A new cumulative ACK: SEQ_GT(ack, snd_una), SEQ_LEQ(ack, snd_max); tsecr as for
 * tcp_rtt_sample.  Frees acked data, drives the RTO and congestion control.  Returns 1 if
 * our FIN is now acknowledged (tcp_ack_new in tcp_var.h). */
static inline int tcp_ack_advance(struct tcpcb *tp, uint32_t ack, uint32_t tsecr, uint64_t now)
{
    uint32_t acked = ack - tp->snd_una;
    uint32_t flight = tp->snd_max - tp->snd_una;
    uint32_t data = acked;
    int fin_acked = (tp->t_flags & TF_SENTFIN) && ack == tp->snd_max;
    int sampled = tcp_rtt_sample(tp, ack, tsecr, now);

    if (tp->t_flags & TF_SYNUNACKED) {
        tp->t_flags &= ~TF_SYNUNACKED;
        data--;                         /* the SYN's sequence number carries no data */
    }
    tcp_sb_drop(tp, data);
    tp->snd_una = ack;
    if (SEQ_LT(tp->snd_nxt, tp->snd_una))
        tp->snd_nxt = tp->snd_una;
    /* A new ACK ends any backoff (RFC 6298 §5.3, and the checklist's "reset on new ACK");
     * a new RTT sample has done so already. */
    if (!sampled) {
        tp->t_rxtshift = 0;
        tp->t_rxtcur = tcp_rto(tp, 0);
    }
    if (tp->snd_una == tp->snd_max)
        tcp_timer_stop(tp, TT_REXMT);   /* §5.2: all data acked */
    else
        tcp_timer_arm(tp, TT_REXMT, tcp_rexmt_deadline(tp, now));  /* §5.3: restart */

    tcp_ccv_ack(tp, acked, tp->snd_max - tp->snd_una, now, tp->t_srtt);
    if (tp->t_flags & TF_FASTRECOVERY)
        tcp_ack_recovery(tp, ack, acked, now);
    else
        tcp_cc_ack(tp, flight);
    tp->t_dupacks = 0;
    /* Freed room matters while the owner may still send: ESTABLISHED, and CLOSE_WAIT too
     * (RFC 9293 §3.10.4: SEND after the peer's FIN is allowed), until our FIN is queued. */
    if (data > 0 && (tp->t_state == TCPS_ESTABLISHED || tp->t_state == TCPS_CLOSE_WAIT) &&
        !(tp->t_flags & TF_NEEDFIN))
        tcp_event(tp, FN_TCP_EV_WRITABLE);
    return fin_acked;
}

#endif
