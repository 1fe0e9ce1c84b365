/*
 * tcp_timer.c — TCP timers: retransmission (RFC 6298), delayed ACK, TIME_WAIT (2·MSL) and the
 * FIN_WAIT_2 limit, kept in one per-stack binary min-heap.
 *
 * Contract: each tcpcb has TT_NTIMERS absolute deadlines (0 = off); the heap holds every
 * tcpcb with at least one armed timer, keyed by the earliest.  Arming, stopping and firing
 * are O(log n); fn_tcp_next_deadline() is O(1); fn_tcp_timer() touches only tcpcbs whose
 * deadline has passed — no per-connection scan.  A timer fires at most once per call, and
 * every re-arm is strictly in the future, so one call is bounded.  Firing may free a tcpcb
 * (give-up, end of TIME_WAIT).  Stack-owner core only.
 */
#include <errno.h>

#include "core/fn_stack_impl.h"
#include "tcp/tcp_var.h"

#define NS_PER_MS 1000000ull

/* ---- the heap ---- */

static void heap_swap(struct fn_tcp *tcp, uint32_t a, uint32_t b)
{
    struct tcpcb *t = tcp->heap[a];

    tcp->heap[a] = tcp->heap[b];
    tcp->heap[b] = t;
    tcp->heap[a]->t_heapidx = (int32_t)a;
    tcp->heap[b]->t_heapidx = (int32_t)b;
}

static void heap_up(struct fn_tcp *tcp, uint32_t i)
{
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (tcp->heap[p]->t_due <= tcp->heap[i]->t_due)
            break;
        heap_swap(tcp, i, p);
        i = p;
    }
}

static void heap_down(struct fn_tcp *tcp, uint32_t i)
{
    for (;;) {
        uint32_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < tcp->nheap && tcp->heap[l]->t_due < tcp->heap[m]->t_due)
            m = l;
        if (r < tcp->nheap && tcp->heap[r]->t_due < tcp->heap[m]->t_due)
            m = r;
        if (m == i)
            break;
        heap_swap(tcp, i, m);
        i = m;
    }
}

static void heap_remove(struct fn_tcp *tcp, struct tcpcb *tp)
{
    uint32_t i = (uint32_t)tp->t_heapidx;

    tp->t_heapidx = -1;
    tcp->nheap--;
    if (i != tcp->nheap) {
        tcp->heap[i] = tcp->heap[tcp->nheap];
        tcp->heap[i]->t_heapidx = (int32_t)i;
        heap_down(tcp, i);
        heap_up(tcp, i);
    }
}

/* Recompute t_due from the armed timers and fix the tcpcb's place in the heap. */
static void timer_resched(struct tcpcb *tp)
{
    struct fn_tcp *tcp = tp->t_stack->tcp;
    uint64_t due = 0;

    for (int i = 0; i < TT_NTIMERS; i++) {
        if (tp->t_timer[i] && (due == 0 || tp->t_timer[i] < due))
            due = tp->t_timer[i];
    }
    if (due == 0) {
        if (tp->t_heapidx >= 0)
            heap_remove(tcp, tp);
        tp->t_due = 0;
        return;
    }
    tp->t_due = due;
    if (tp->t_heapidx < 0) {
        tp->t_heapidx = (int32_t)tcp->nheap;
        tcp->heap[tcp->nheap++] = tp;
        heap_up(tcp, (uint32_t)tp->t_heapidx);
    } else {
        heap_down(tcp, (uint32_t)tp->t_heapidx);
        heap_up(tcp, (uint32_t)tp->t_heapidx);
    }
}

void tcp_timer_arm(struct tcpcb *tp, int which, uint64_t when)
{
    if (when == 0)
        when = 1;
    if (tp->t_timer[which] == when)
        return;
    tp->t_timer[which] = when;
    timer_resched(tp);
}

void tcp_timer_stop(struct tcpcb *tp, int which)
{
    if (tp->t_timer[which] == 0)
        return;
    tp->t_timer[which] = 0;
    timer_resched(tp);
}

void tcp_timers_stop_all(struct tcpcb *tp)
{
    for (int i = 0; i < TT_NTIMERS; i++)
        tp->t_timer[i] = 0;
    timer_resched(tp);
}

uint64_t fn_tcp_next_deadline(const struct fn_stack *st)
{
    const struct fn_tcp *tcp = st->tcp;

    return tcp->nheap ? tcp->heap[0]->t_due : UINT64_MAX;
}

/* ---- RFC 6298 ---- */

uint64_t tcp_rto(const struct tcpcb *tp, uint32_t shift)
{
    const struct fn_config *c = tcp_cfg(tp);
    uint64_t min = (uint64_t)c->tcp_rto_min_ms * NS_PER_MS;
    uint64_t max = (uint64_t)c->tcp_rto_max_ms * NS_PER_MS;
    uint64_t base;

    if (tp->t_srtt == 0) {
        base = (uint64_t)c->tcp_rto_init_ms * NS_PER_MS;       /* §2.1 */
    } else {
        /* §2.3: RTO = SRTT + max(G, K·RTTVAR), K = 4; G is the 1 ns clock granularity. */
        uint64_t k = 4 * tp->t_rttvar;
        base = tp->t_srtt + (k > 1 ? k : 1);
    }
    if (base < min)
        base = min;                                             /* §2.4 */
    /* §5.5: back off by doubling; clamp before shifting far enough to overflow. */
    for (uint32_t i = 0; i < shift && base < max; i++)
        base *= 2;
    return base > max ? max : base;                             /* §2.5 */
}

void tcp_xmit_timer(struct tcpcb *tp, uint64_t rtt)
{
    if (rtt == 0)
        rtt = 1;
    if (tp->t_srtt == 0) {
        /* §2.2: first measurement R: SRTT = R, RTTVAR = R/2. */
        tp->t_srtt = rtt;
        tp->t_rttvar = rtt / 2;
    } else {
        /* §2.3: RTTVAR = (1 - β)·RTTVAR + β·|SRTT - R'|, β = 1/4, then
         *       SRTT = (1 - α)·SRTT + α·R', α = 1/8 (RTTVAR first: it uses the old SRTT). */
        uint64_t d = tp->t_srtt > rtt ? tp->t_srtt - rtt : rtt - tp->t_srtt;
        tp->t_rttvar = tp->t_rttvar - tp->t_rttvar / 4 + d / 4;
        tp->t_srtt = tp->t_srtt - tp->t_srtt / 8 + rtt / 8;
    }
    tp->t_rxtshift = 0;
    tp->t_rxtcur = tcp_rto(tp, 0);
}

void tcp_rexmt_arm(struct tcpcb *tp, uint64_t now)
{
    tcp_timer_arm(tp, TT_REXMT, now + tp->t_rxtcur);
}

/* ---- expiries ---- */

static struct tcpcb *timer_rexmt(struct tcpcb *tp, uint64_t now)
{
    struct fn_stack *st = tp->t_stack;
    const struct fn_config *c = &st->cfg;
    uint32_t limit = TCPS_HAVEESTABLISHED(tp->t_state) ? c->tcp_max_rexmits
                                                      : c->tcp_syn_retries;

    st->stats.tcp_rexmt_timeout++;
    if (tp->t_rxtshift >= limit) {
        /* RFC 9293 §3.8.3 R2 / RFC 1122 §4.2.3.5: give up and tell the owner ETIMEDOUT; a
         * synchronized peer is told with a RST (at snd_max: snd_nxt is rewound here) so it
         * does not wait for us. */
        st->stats.tcp_conn_timedout++;
        if (TCPS_HAVEESTABLISHED(tp->t_state))
            tcp_respond(st, tp, tp->faddr, tp->fport, tp->lport, tp->snd_max, tp->rcv_nxt,
                        FN_TH_RST | FN_TH_ACK, now);
        return tcp_drop(tp, ETIMEDOUT);
    }
    if (tp->snd_una == tp->snd_max && TCPS_HAVEESTABLISHED(tp->t_state)) {
        /* Nothing in flight: this is the override timer of data held back by sender SWS
         * avoidance or a zero window — no loss, so no congestion signal; send what the
         * window allows, or probe it with one byte, and back off. */
        tp->t_rxtshift++;
        tp->t_rxtcur = tcp_rto(tp, tp->t_rxtshift);
        tp->t_flags |= TF_FORCEDATA;
        tcp_output(tp, now);
        tp->t_flags &= ~TF_FORCEDATA;
        if (tp->t_timer[TT_REXMT] == 0 && tp->snd_cc > 0)
            tcp_rexmt_arm(tp, now);
        return tp;
    }
    tp->t_rxtshift++;
    /* RFC 6298 §5.5: back off the timer. */
    tp->t_rxtcur = tcp_rto(tp, tp->t_rxtshift);
    /* Karn (RFC 6298 §3): the timed segment is being retransmitted; do not sample it. */
    tp->t_rtttime = 0;
    if (TCPS_HAVEESTABLISHED(tp->t_state)) {
        /* RFC 5681 §3.1 eq. 4 and the after-RTO window: the cc hook decides. */
        tp->ccv.flight = tp->snd_max - tp->snd_una;
        tp->ccv.now = now;
        tp->cc_algo->cong_signal(&tp->ccv, CC_RTO);
    }
    tp->t_flags &= ~TF_FASTRECOVERY;
    tp->t_dupacks = 0;
    /* RFC 6582 §3.2 step 4: after an RTO, recover = the highest sequence sent. */
    tp->snd_recover = tp->snd_max;
    tp->snd_nxt = tp->snd_una;
    tp->t_timer[TT_REXMT] = 0;
    tcp_output(tp, now);
    if (tp->t_timer[TT_REXMT] == 0)
        tcp_rexmt_arm(tp, now);
    return tp;
}

static struct tcpcb *timer_delack(struct tcpcb *tp, uint64_t now)
{
    tp->t_stack->stats.tcp_delack_sent++;
    tp->t_flags |= TF_ACKNOW;
    tcp_output(tp, now);
    return tp;
}

static struct tcpcb *timer_2msl(struct tcpcb *tp, uint64_t now)
{
    (void)now;
    /* TIME_WAIT over (RFC 9293 §3.10.8), or a closed socket's FIN_WAIT_2 limit reached:
     * the peer never sent its FIN — nothing stays in FIN_WAIT_2 forever. */
    return tcp_close(tp);
}

void fn_tcp_timer(struct fn_stack *st, uint64_t now)
{
    struct fn_tcp *tcp = st->tcp;

    while (tcp->nheap > 0 && tcp->heap[0]->t_due <= now) {
        struct tcpcb *tp = tcp->heap[0];
        int which = 0;

        for (int i = 1; i < TT_NTIMERS; i++) {
            if (tp->t_timer[i] && (tp->t_timer[which] == 0 || tp->t_timer[i] < tp->t_timer[which]))
                which = i;
        }
        tp->t_timer[which] = 0;
        timer_resched(tp);
        switch (which) {
        case TT_REXMT:
            timer_rexmt(tp, now);
            break;
        case TT_DELACK:
            timer_delack(tp, now);
            break;
        default:
            timer_2msl(tp, now);
            break;
        }
    }
}
