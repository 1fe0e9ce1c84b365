/*
 * tcp_timer.c — TCP timers: retransmission (RFC 6298), delayed ACK, TIME_WAIT (2·MSL) and the
 * FIN_WAIT_2 limit, kept in one per-stack binary min-heap (but for the 2·MSL of the TIME_WAITs
 * nobody holds, which tcp_timewait.c's queue ends in deadline order).
 *
 * Contract: each tcpcb has TT_NTIMERS absolute deadlines (0 = off); the heap holds every
 * tcpcb with at least one armed timer, keyed by the earliest.  Arming, stopping and firing
 * are O(log n); fn_tcp_next_deadline() is O(1); fn_tcp_timer() touches only tcpcbs whose
 * deadline has passed — no per-connection scan.  A timer fires at most once per call, and
 * every re-arm is strictly in the future, so one call is bounded.  Firing may free a tcpcb
 * (give-up, end of TIME_WAIT).  The persist and keepalive expiries are dispatched from here
 * to tcp_persist.c and tcp_keepalive.c.  Stack-owner core only.
 */
#include <errno.h>

#include "core/fn_stack_impl.h"
#include "tcp/tcp_ack.h"
#include "tcp/tcp_syncache.h"
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

/* The earliest armed timer, 0 if none: an off timer (0) counts as the latest possible
 * deadline through the unsigned wrap of t - 1, so this is a chain of minimums without
 * branches on which timers are armed (written out: -O2 does not unroll the loop). */
static inline uint64_t min_armed(uint64_t m, uint64_t t)
{
    return t - 1 < m ? t - 1 : m;
}

_Static_assert(TT_NTIMERS == 5, "timers_min names every timer");

static uint64_t timers_min(const struct tcpcb *tp)
{
    const uint64_t *t = tp->t_timer;
    /* A 2·MSL the TIME_WAIT queue ends is no heap key (tcp_timewait.c). */
    uint64_t t2 = tp->t_twtimed ? 0 : t[TT_2MSL];
    uint64_t m = min_armed(min_armed(UINT64_MAX, t[0]), t[1]);

    m = min_armed(min_armed(m, t2), t[3]);
    return min_armed(m, t[4]) + 1;
}

/* Give the tcpcb the heap key due (0: leave the heap); only a key that changes moves it.
 * Inlined into its callers: it runs twice per delayed-ACK cycle (arm, then stop). */
__attribute__((always_inline)) static inline void heap_set_key(struct tcpcb *tp, uint64_t due)
{
    struct fn_tcp *tcp = tp->t_stack->tcp;
    uint64_t old = tp->t_due;

    if (due == old)
        return;
    tp->t_due = due;
    if (due == 0) {
        heap_remove(tcp, tp);
    } else if (old == 0) {
        tp->t_heapidx = (int32_t)tcp->nheap;
        tcp->heap[tcp->nheap++] = tp;
        heap_up(tcp, (uint32_t)tp->t_heapidx);
    } else if (due < old) {
        heap_up(tcp, (uint32_t)tp->t_heapidx);
    } else {
        heap_down(tcp, (uint32_t)tp->t_heapidx);
    }
}

/* Recompute t_due from the armed timers and fix the tcpcb's place in the heap. */
static void timer_resched(struct tcpcb *tp)
{
    heap_set_key(tp, timers_min(tp));
}

/* Stopping a timer that is not the earliest, like arming one (tcp_timer_arm and
 * tcp_timer_stop in tcp_var.h), touches neither the other timers nor the heap. */
void tcp_timer_rekey(struct tcpcb *tp, uint64_t old, uint64_t when)
{
    if (tp->t_due == 0 || when < tp->t_due)
        heap_set_key(tp, when);
    else if (old == tp->t_due)
        timer_resched(tp);      /* the earliest moved later: another may be first now */
}

void tcp_timer_resched(struct tcpcb *tp)
{
    timer_resched(tp);
}

void tcp_timers_stop_all(struct tcpcb *tp)
{
    for (int i = 0; i < TT_NTIMERS; i++)
        tp->t_timer[i] = 0;
    heap_set_key(tp, 0);
}

uint64_t fn_tcp_next_deadline(const struct fn_stack *st)
{
    const struct fn_tcp *tcp = st->tcp;
    uint64_t sc = tcp_syncache_next_deadline(tcp), pw = tcp_pool_next_deadline(tcp);
    uint64_t tw = tcp_tw_next_deadline(tcp);

    if (tcp_pool_wake_due(tcp))
        return 0;       /* waiters may get buffers now (tcp_pool.c) */
    if (pw < sc)
        sc = pw;
    if (tw < sc)
        sc = tw;
    return tcp->nheap && tcp->heap[0]->t_due < sc ? tcp->heap[0]->t_due : sc;
}

/* ---- RFC 6298 ---- */

uint64_t tcp_rto(const struct tcpcb *tp, uint32_t shift)
{
    uint64_t max = tcp_rto_max(tp);
    uint64_t base = tcp_rto_base(tp);

    /* §5.5: back off by doubling; clamp before shifting far enough to overflow. */
    for (uint32_t i = 0; i < shift && base < max; i++)
        base *= 2;
    return base > max ? max : base;                             /* §2.5 */
}

void tcp_rexmt_arm(struct tcpcb *tp, uint64_t now)
{
    tcp_timer_arm(tp, TT_REXMT, tcp_rexmt_deadline(tp, now));
}

/* ---- expiries ---- */

static struct tcpcb *timer_rexmt(struct tcpcb *tp, uint64_t now)
{
    struct fn_stack *st = tp->t_stack;
    const struct fn_config *c = &st->cfg;
    uint32_t limit = TCPS_HAVEESTABLISHED(tp->t_state) ? c->tcp_max_rexmits
                                                      : c->tcp_syn_retries;

    st->stats.tcp_rexmt_timeout++;
    if (tcp_rexmt_give_up(tp, limit, now)) {
        st->stats.tcp_conn_timedout++;
        return tcp_drop_timedout(tp, now);
    }
    if (tp->snd_una == tp->snd_max && TCPS_HAVEESTABLISHED(tp->t_state)) {
        /* Nothing in flight: armed because the pool was empty when data was due (zero
         * windows and sender SWS avoidance have TT_PERSIST) — no loss, so no congestion
         * signal; send what the window allows, or probe it with one byte, and back off. */
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
    tcp_sack_rto(tp);                   /* RFC 6675 §5.1: the peer may have reneged */
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

    tcp_syncache_timer(tcp, now);
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
        case TT_PERSIST:
            tcp_persist_timeout(tp, now);
            break;
        case TT_KEEP:
            tcp_keep_timeout(tp, now);
            break;
        default:
            timer_2msl(tp, now);
            break;
        }
    }
    tcp_tw_expire(tcp, now);
    tcp_pool_wake(st, now);
}
