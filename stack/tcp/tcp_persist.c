/*
 * tcp_persist.c — the persist timer (RFC 9293 §3.8.6.1 zero-window probing, RFC 1122
 * §4.2.2.17) and the override timeout of sender SWS avoidance (RFC 9293 §3.8.6.2.1).
 *
 * Contract: owns TT_PERSIST and t_pshift.  A connection persists (TT_PERSIST armed, TT_REXMT
 * off) while unsent or unacknowledged data waits and either the peer's window is zero or
 * what the window allows is held back by sender SWS avoidance with nothing in flight.  Each
 * expiry forces tcp_output: into a zero window one byte at SND.UNA (a probe the peer must
 * answer), otherwise what the window allows; the interval is the RTO backed off by t_pshift,
 * clamped to [tcp_rto_min, tcp_rto_max] by tcp_rto().  While the peer answers the probes
 * the connection persists for as long as the window stays shut (no give-up, as Linux); it is
 * aborted only after tcp_max_rexmits probes in a row go unanswered, when a user timeout
 * (RFC 5482) is set and the window stayed shut that long, or — once its owner closed it —
 * after tcp_max_rexmits backoffs, answered or not.  Persisting ends when real data
 * goes out (tcp_persist_sent) — the window opened — or when the window opened and only
 * data in flight is left to watch (tcp_persist_hold hands it to TT_REXMT).  The receiving side's half of the same
 * story is here too: when a reopening window is worth an update at once (the receiver SWS
 * threshold itself is tcp_output.c's, next to the window it shapes).  Called by tcp_output and the timer heap; may free the tcpcb (give-up).
 * Stack-owner core only; never allocates.
 */
#include "core/fn_stack_impl.h"
#include "tcp/tcp_var.h"

#define NS_PER_MS 1000000ull
/* Beyond this the backoff is pinned at tcp_rto_max anyway (tcp_rto clamps). */
#define PERSIST_SHIFT_MAX 30u

static void persist_arm(struct tcpcb *tp, uint64_t now)
{
    tcp_timer_arm(tp, TT_PERSIST, now + tcp_rto(tp, tp->t_pshift));
}

/* Enter persist mode: the retransmission timer hands over to TT_PERSIST. */
static void persist_enter(struct tcpcb *tp, uint64_t now)
{
    tcp_timer_stop(tp, TT_REXMT);
    tp->t_rxtshift = 0;
    tp->t_pshift = 0;
    tp->t_uto_start = now;
    if (tp->snd_wnd == 0) {
        /* A closed window takes nothing: whatever was in flight is sent again, from the
         * first unacknowledged byte, once it opens (RFC 9293 §3.8.6.1).  Karn: nothing
         * sent before is timed any more. */
        tp->snd_nxt = tp->snd_una;
        tp->t_rtttime = 0;
    }
    persist_arm(tp, now);
}

void tcp_persist_hold(struct tcpcb *tp, uint32_t off, uint64_t now)
{
    int synced = TCPS_HAVEESTABLISHED(tp->t_state);

    if (tp->t_timer[TT_PERSIST] != 0) {
        /* The window opened but nothing could go (cwnd counts the SACKed bytes the
         * go-back-N skipped as in flight): data sent and unacknowledged is the
         * retransmission timer's to watch (RFC 6298 §5.1), or no expiry ever resends it
         * nor gives up on it.  Otherwise the expiry decides. */
        if (tp->snd_wnd != 0 && SEQ_GT(tp->snd_nxt, tp->snd_una)) {
            tcp_timer_stop(tp, TT_PERSIST);
            tp->t_pshift = 0;
            tcp_rexmt_arm(tp, now);
        }
        return;
    }
    if (synced && tp->snd_wnd == 0 && tp->snd_cc > 0) {
        persist_enter(tp, now);
        return;
    }
    if (SEQ_GT(tp->snd_max, tp->snd_una)) {
        /* A timer runs while anything is in flight: a lost ACK cannot stall us. */
        if (tp->t_timer[TT_REXMT] == 0)
            tcp_rexmt_arm(tp, now);
        return;
    }
    /* Data waits, nothing in flight, the window is open but small: sender SWS avoidance
     * holds it until the override timeout (RFC 9293 §3.8.6.2.1). */
    if (synced && off < tp->snd_cc && tp->t_timer[TT_REXMT] == 0)
        persist_enter(tp, now);
}

void tcp_persist_sent(struct tcpcb *tp, uint64_t now)
{
    if (tp->t_timer[TT_PERSIST] != 0) {
        /* A forced byte into a zero window is a probe: TT_PERSIST keeps watching it; a
         * retransmission timeout for it would cut cwnd for a loss that is none. */
        if ((tp->t_flags & TF_FORCEDATA) && tp->snd_wnd == 0)
            return;
        tcp_timer_stop(tp, TT_PERSIST);
        tp->t_pshift = 0;
    }
    if (tp->t_timer[TT_REXMT] == 0)
        tcp_rexmt_arm(tp, now);     /* RFC 6298 §5.1 */
}

void tcp_persist_timeout(struct tcpcb *tp, uint64_t now)
{
    struct fn_stack *st = tp->t_stack;
    const struct fn_config *c = &st->cfg;
    int probe = tp->snd_wnd == 0;

    if (!TCPS_HAVEESTABLISHED(tp->t_state) || tp->snd_cc == 0)
        return;                 /* everything was acked meanwhile: nothing to persist for */
    if (probe) {
        /* RFC 5482 / Linux: with a user timeout, a window shut that long ends it even
         * though the peer answers. */
        if (tp->t_user_timeout_ms != 0 &&
            now - tp->t_uto_start >= (uint64_t)tp->t_user_timeout_ms * NS_PER_MS) {
            st->stats.tcp_user_timeouts++;
            tcp_drop_timedout(tp, now);
            return;
        }
        /* RFC 1122 §4.2.2.17: the connection stays open as long as the peer answers the
         * probes; tcp_input zeroes t_probes on every segment from the peer. */
        /* A closed socket has no owner to wait for: a peer that keeps answering with a
         * shut window must not pin it for ever (Linux bounds orphans the same way), so
         * it gets tcp_max_rexmits backoffs in all. */
        if (tp->t_probes >= c->tcp_max_rexmits ||
            ((tp->t_flags & TF_DETACHED) && tp->t_pshift >= c->tcp_max_rexmits)) {
            st->stats.tcp_persist_drops++;
            tcp_drop_timedout(tp, now);
            return;
        }
        tp->t_probes++;
        st->stats.tcp_persist_probes++;
        tp->snd_nxt = tp->snd_una;
    }
    if (tp->t_pshift < PERSIST_SHIFT_MAX)
        tp->t_pshift++;
    /* Re-armed first, so that tcp_persist_sent sees a probe going out while persisting. */
    persist_arm(tp, now);
    tp->t_flags |= TF_FORCEDATA;
    tcp_output(tp, now);
    tp->t_flags &= ~TF_FORCEDATA;
    if (probe)
        tp->t_rtttime = 0;      /* Karn: an RTT sample across a shut window means nothing */
}

int tcp_rcv_wnd_stalled(const struct tcpcb *tp)
{
    /* A sender facing less than a segment waits (its SWS avoidance, or its persist timer
     * backing off towards tcp_rto_max) until told otherwise: tell it as soon as the window
     * can open by the SWS threshold, not only at 2 segments (RFC 9293 §3.8.6.2.2). */
    return SEQ_LT(tp->rcv_adv, tp->rcv_nxt + tp->t_maxseg);
}
