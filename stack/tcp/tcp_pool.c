/*
 * tcp_pool.c — how TCP shares the stack's one packet-buffer pool (issue 3: exhaustion
 * degrades, it never stalls a connection, crashes or leaks).
 *
 * Contract: owns the pool policy and its accounting — the reserve, the out-of-order budget,
 * each connection's share, and the list of connections waiting for the pool to recover.
 * Nothing here allocates or fails; every refusal is counted by the caller's stats block
 * (tcp_pool_*).  Stack-owner core only.
 *
 * The policy.  One pool per core backs everything: frames being received (the backend takes
 * them before TCP sees them), segments on their way out, and what connections hold — send
 * chains, unread receive chains and out-of-order queues.  If connections may hold the whole
 * pool, the ACKs that would free their send chains can no longer be received and the
 * retransmissions that would fill their holes can no longer be sent: a deadlock that only a
 * timeout ends.  So, with R = tcp_pool_reserve_pct of the pool and free the buffers free
 * now, from the most to the least demanding:
 *   - a send chain grows only while it holds less than half of what lies above 2R: one
 *     bulk sender converges to a third of that, k of them to 1/(k+1) each, so a newcomer
 *     always finds room, and the band between R and 2R is left to segments in flight.
 *     fn_tcp_send then returns what it could queue or -EAGAIN (tcp_pool_snd_refused) and
 *     FN_TCP_EV_WRITABLE follows once the share allows more (TCP_PWAIT_SND);
 *   - a segment of new data goes out only while free > R (tcp_pool_tx_deferred), and the
 *     connection waits for the pool (TCP_PWAIT_OUT) instead of for its RTO;
 *   - out-of-order data is the first received data to go: it is queued only while free > R
 *     and all connections together hold fewer out-of-order buffers than tcp_pool_ooo_pct of
 *     the pool (tcp_pool_ooo_dropped).  The refusal comes before queuing, so a SACK block
 *     never reports data we did not keep (RFC 2018 §8 allows reneging; we do not need it);
 *   - in-order data is kept while free > R/4: below that it is dropped (tcp_pool_rx_dropped)
 *     and the sender retransmits it; the ACK it gets back carries our window;
 *   - control segments, ACKs, window updates, retransmissions and probes may take any
 *     buffer: they are what makes progress, and they leave at once.
 * The window offered grows only towards what the pool can back: half of what lies above R,
 * shared among the connections that kept data in this or the last 100 ms epoch, in segments,
 * less what the connection's unread data holds; never beyond the receive buffer, and its
 * right edge never moves left (RFC 9293 §3.8.6.2.2, applied by tcp_rcv_space).  Idle
 * connections do not count as receivers, so they do not shrink the windows of busy ones;
 * the windows they were offered before stand.  Nor do connections that can receive no more
 * data: one leaves the count as soon as the peer's FIN is in or it closes
 * (tcp_pool_rcv_end).  A connection whose window stalls for lack
 * of buffers waits (TCP_PWAIT_RCV) and sends a window update when the pool can back one.
 * Waiters are checked from the timer pass of a poll whenever buffers came back since the
 * last check, or since the lowest count after it (and fn_tcp_next_deadline asks for that
 * poll at once), or when the receivers counted fell below the most seen since (the count
 * moves on with the clock, not only with data: fn_tcp_next_deadline asks for a poll at the
 * next epoch while there are waiters and more than one receiver); each is woken only for
 * what the pool can now give it (new data once free > 3R/2: hysteresis above the R
 * threshold), and waits again if it must.
 */
#include "core/fn_stack_impl.h"
#include "mem/fn_pool_impl.h"
#include "tcp/tcp_var.h"

/* Payload bytes a send-chain buffer holds. */
static uint32_t snd_buf_bytes(const struct fn_stack *st)
{
    return fn_pool_buf_size(st->pool) - FN_PKT_HEADROOM;
}

void tcp_pool_init(struct fn_tcp *tcp)
{
    const struct fn_config *c = &tcp->st->cfg;
    uint32_t n = fn_pool_count(tcp->st->pool);

    tcp->pool_reserve = (uint32_t)((uint64_t)n * c->tcp_pool_reserve_pct / 100);
    if (tcp->pool_reserve < 4 && n >= 8)
        tcp->pool_reserve = 4;      /* room for at least an ACK, a retransmission, a frame */
    tcp->pool_ooo_max = (uint32_t)((uint64_t)n * c->tcp_pool_ooo_pct / 100);
}

static uint32_t pool_free(const struct fn_tcp *tcp)
{
    return tcp->st->pool->n_free;       /* fn_pool_free_count, read in place */
}

/* Buffers above the reserve. */
static uint32_t pool_avail(const struct fn_tcp *tcp)
{
    uint32_t f = pool_free(tcp);

    return f > tcp->pool_reserve ? f - tcp->pool_reserve : 0;
}

/* Buffers tp's send chain occupies, and those its owner took to fill for it (zero-copy
 * sends: they may be partly full, so the count is kept rather than derived from snd_cc). */
static uint32_t snd_bufs(const struct tcpcb *tp)
{
    return tp->snd_nbufs + tp->snd_lent_bufs;
}

/* The verdict of a policy check: a refusal is counted and, for `why` != 0, tp waits. */
static int verdict(struct tcpcb *tp, int ok, uint64_t *refused, uint32_t why)
{
    if (ok)
        return 1;
    (*refused)++;
    if (why)
        tcp_pool_wait(tp, why);
    return 0;
}

/* Buffers tp's send chain may take one after the other now.  The k-th (from 0) is granted
 * while own + k < (free - k - 2R) / 2 — less than half of what lies above twice the reserve
 * — that is while 3k < free - 2R - 2·own - 1. */
static uint32_t snd_share(const struct tcpcb *tp)
{
    const struct fn_tcp *tcp = tp->t_stack->tcp;
    uint64_t f = pool_free(tcp), need = 2ull * tcp->pool_reserve + 2ull * snd_bufs(tp) + 1;

    return f > need ? (uint32_t)((f - need + 2) / 3) : 0;
}

int tcp_pool_may_queue_snd(struct tcpcb *tp)
{
    return verdict(tp, snd_share(tp) > 0, &tp->t_stack->stats.tcp_pool_snd_refused,
                   TCP_PWAIT_SND);
}

uint32_t tcp_pool_snd_room(const struct tcpcb *tp)
{
    uint32_t room = tp->snd_tail ? fn_pkt_tailroom(tp->snd_tail) : 0;

    return room + snd_share(tp) * snd_buf_bytes(tp->t_stack);
}

int tcp_pool_may_send_new(struct tcpcb *tp)
{
    struct fn_tcp *tcp = tp->t_stack->tcp;

    return verdict(tp, pool_free(tcp) > tcp->pool_reserve,
                   &tp->t_stack->stats.tcp_pool_tx_deferred, TCP_PWAIT_OUT);
}

int tcp_pool_may_queue_ooo(struct tcpcb *tp)
{
    struct fn_tcp *tcp = tp->t_stack->tcp;

    /* No wait: the peer resends what we drop, and its retransmission finds the pool anew. */
    return verdict(tp, pool_avail(tcp) > 0 && tcp->ooo_bufs < tcp->pool_ooo_max,
                   &tp->t_stack->stats.tcp_pool_ooo_dropped, 0);
}

/* Receivers are counted per epoch: long enough to see every bulk receiver, short enough to
 * forget the idle ones quickly. */
#define TCP_POOL_EPOCH_NS (100ull * 1000000ull)

/* Move the count on to now's epoch.  Both data kept and the timer pass of every poll do it:
 * were it left to data, connections that are gone (a burst of short requests) would go on
 * counting while no data comes — and none comes to a connection they hold at a zero window. */
static void rx_roll(struct fn_tcp *tcp, uint64_t now)
{
    uint64_t e = now / TCP_POOL_EPOCH_NS;

    if (e != tcp->rx_epoch) {
        tcp->rx_active_prev = e == tcp->rx_epoch + 1 ? tcp->rx_active : 0;
        tcp->rx_active = 0;
        tcp->rx_epoch = e;
    }
}

static void rx_note(struct tcpcb *tp, uint64_t now)
{
    struct fn_tcp *tcp = tp->t_stack->tcp;
    uint64_t e = now / TCP_POOL_EPOCH_NS;

    rx_roll(tcp, now);
    if (tp->t_rx_epoch != e + 1) {
        tp->t_rx_prev = tp->t_rx_epoch == e;
        tp->t_rx_epoch = e + 1;
        tcp->rx_active++;
    }
}

/* Only ESTABLISHED, FIN_WAIT_1 and FIN_WAIT_2 take segment text (RFC 9293 §3.10.7.4
 * seventh): once the peer's FIN is in (CLOSE_WAIT, CLOSING, LAST_ACK, TIME_WAIT) or the
 * connection is gone, no window of tp's will be used again.  Under churn — every short
 * request closed within the epoch it came in — the dead would otherwise outnumber the live
 * receivers and shut their windows until the count moved on two epochs later. */
void tcp_pool_rcv_end(struct tcpcb *tp)
{
    struct fn_tcp *tcp = tp->t_stack->tcp;
    uint64_t cur = tcp->rx_epoch + 1;   /* t_rx_epoch of a note in the count's epoch */

    if (tp->t_rx_epoch == cur) {
        if (tcp->rx_active > 0)
            tcp->rx_active--;
        if (tp->t_rx_prev && tcp->rx_active_prev > 0)
            tcp->rx_active_prev--;
    } else if (tp->t_rx_epoch != 0 && tp->t_rx_epoch == cur - 1 && tcp->rx_active_prev > 0) {
        tcp->rx_active_prev--;
    }
    tp->t_rx_epoch = 0;
    tp->t_rx_prev = 0;
}

/* Connections receiving now: those that kept data in this epoch or the last. */
static uint32_t rx_receivers(const struct fn_tcp *tcp)
{
    uint32_t n = tcp->rx_active > tcp->rx_active_prev ? tcp->rx_active : tcp->rx_active_prev;

    return n ? n : 1;
}

int tcp_pool_may_keep_rcv(struct tcpcb *tp, uint64_t now)
{
    struct fn_tcp *tcp = tp->t_stack->tcp;

    rx_note(tp, now);
    return verdict(tp, pool_free(tcp) > tcp->pool_reserve / 4,
                   &tp->t_stack->stats.tcp_pool_rx_dropped, TCP_PWAIT_RCV);
}

uint32_t tcp_pool_rcv_window(const struct tcpcb *tp)
{
    const struct fn_tcp *tcp = tp->t_stack->tcp;
    uint32_t half = pool_avail(tcp) / 2 / rx_receivers(tcp), mss = tcp_maxseg(tp);
    uint32_t held = (tcp_rcv_held(tp) + mss - 1) / mss;
    uint64_t w;

    if (held >= half)
        return 0;
    w = (uint64_t)(half - held) * mss;
    return w > UINT32_MAX ? UINT32_MAX : (uint32_t)w;
}

void tcp_pool_adv_check(struct tcpcb *tp)
{
    uint32_t buf = tcp_rcvbuf(tp), held = tcp_rcv_held(tp);

    if (TCPS_HAVERCVDFIN(tp->t_state))
        return;                 /* the peer sends no more data: no window to reopen */
    /* Stalled (under a segment offered) while the buffer alone would offer more: the pool
     * is what holds the peer back, so its recovery is worth a window update. */
    if (tcp_rcv_wnd_stalled(tp) && buf > held && buf - held >= tp->t_maxseg &&
        tcp_pool_rcv_window(tp) < tp->t_maxseg) {
        tp->t_stack->stats.tcp_pool_wnd_limited++;
        tcp_pool_wait(tp, TCP_PWAIT_RCV);
    }
}

void tcp_pool_wait(struct tcpcb *tp, uint32_t why)
{
    struct fn_tcp *tcp = tp->t_stack->tcp;

    if (tp->t_pwait == 0) {
        tp->t_pwnext = tcp->pool_waiters;
        tcp->pool_waiters = tp;
    }
    tp->t_pwait |= why;
}

void tcp_pool_unwait(struct tcpcb *tp)
{
    struct tcpcb **pp = &tp->t_stack->tcp->pool_waiters;

    if (tp->t_pwait == 0)
        return;
    while (*pp && *pp != tp)
        pp = &(*pp)->t_pwnext;
    if (*pp)
        *pp = tp->t_pwnext;
    tp->t_pwnext = NULL;
    tp->t_pwait = 0;
}

int tcp_pool_wake_due(const struct fn_tcp *tcp)
{
    /* Only buffers coming back can satisfy a waiter the last pass left waiting: what a
     * waiter needs grows with the free count.  Allocations alone (the owner sending what a
     * wake let it send) must not make a pass due, or poll would be asked for again at once
     * with nothing to gain — a busy loop that never lets the clock reach the next timer. */
    return tcp->pool_waiters && (pool_free(tcp) > tcp->pool_wake_free ||
                                 rx_receivers(tcp) < tcp->pool_wake_rcvrs);
}

uint64_t tcp_pool_next_deadline(const struct fn_tcp *tcp)
{
    /* Fewer receivers give a waiter a larger window: the count can drop at the next epoch
     * (to the last one's, then to none), and that pass must run even if the owner sleeps. */
    if (tcp->pool_waiters && rx_receivers(tcp) > 1)
        return (tcp->rx_epoch + 1) * TCP_POOL_EPOCH_NS;
    return UINT64_MAX;
}

/* The reasons of tp's wait that the pool can satisfy now. */
static uint32_t wait_satisfied(struct tcpcb *tp, uint32_t why)
{
    struct fn_tcp *tcp = tp->t_stack->tcp;
    uint32_t ok = 0;

    if ((why & TCP_PWAIT_SND) && snd_share(tp) > 0)
        ok |= TCP_PWAIT_SND;
    /* Half a reserve above the send threshold: hysteresis. */
    if ((why & TCP_PWAIT_OUT) && pool_free(tcp) > tcp->pool_reserve + tcp->pool_reserve / 2)
        ok |= TCP_PWAIT_OUT;
    if ((why & TCP_PWAIT_RCV) && tcp_pool_rcv_window(tp) >= tp->t_maxseg)
        ok |= TCP_PWAIT_RCV;
    return ok;
}

void tcp_pool_wake(struct fn_stack *st, uint64_t now)
{
    struct fn_tcp *tcp = st->tcp;
    struct tcpcb *list;

    rx_roll(tcp, now);
    if (pool_free(tcp) < tcp->pool_wake_free)
        tcp->pool_wake_free = pool_free(tcp);   /* the low-water mark since the last pass */
    if (rx_receivers(tcp) > tcp->pool_wake_rcvrs)
        tcp->pool_wake_rcvrs = rx_receivers(tcp);   /* and the high-water mark of receivers */
    if (!tcp_pool_wake_due(tcp))
        return;
    /* Detach the whole list first: whoever must go on waiting (or waits again because of
     * what it does now) links itself anew, so the pass is bounded. */
    list = tcp->pool_waiters;
    tcp->pool_waiters = NULL;
    while (list) {
        struct tcpcb *tp = list;
        uint32_t why = tp->t_pwait, ok = wait_satisfied(tp, why);

        list = tp->t_pwnext;
        tp->t_pwnext = NULL;
        tp->t_pwait = 0;
        if (why & ~ok)
            tcp_pool_wait(tp, why & ~ok);
        if (!ok)
            continue;
        st->stats.tcp_pool_wakeups++;
        if ((ok & TCP_PWAIT_SND) && tp->t_state != TCPS_CLOSED &&
            !(tp->t_flags & TF_NEEDFIN))
            tcp_event(tp, FN_TCP_EV_WRITABLE);
        if ((ok & TCP_PWAIT_OUT) ||
            ((ok & TCP_PWAIT_RCV) && !TCPS_HAVERCVDFIN(tp->t_state))) {
            if (TCPS_HAVEESTABLISHED(tp->t_state))
                tcp_output(tp, now);
        }
    }
    tcp->pool_wake_free = pool_free(tcp);
    tcp->pool_wake_rcvrs = rx_receivers(tcp);
}
