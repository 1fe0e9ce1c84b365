/*
 * tcp_keepalive.c — noticing a peer that went away: keepalive (RFC 1122 §4.2.3.6), the user
 * timeout (RFC 5482 TCP_USER_TIMEOUT) and the common way a connection gives up on its peer.
 *
 * Contract: owns TT_KEEP and the keepalive and user-timeout fields of the tcpcb.  Keepalive
 * is off unless the owner turns it on (fn_tcp_set_keepalive); it then probes a synchronized
 * connection that has nothing to send after t_keepidle_s without a segment from the peer,
 * every t_keepintvl_s, with SEG.SEQ = SND.UNA − 1 and no data, and aborts after t_keepcnt
 * unanswered probes.  The timer is lazy: a segment does not touch it (tcp_input only updates
 * t_rcvtime and zeroes t_probes); an expiry that finds the peer heard from re-arms itself
 * for the rest of the idle time.  The user timeout bounds how long sent data may stay
 * unacknowledged; when set it replaces the retransmission count.  Every give-up sends a RST
 * to a synchronized peer and reports ETIMEDOUT, or the ICMP soft error recorded meanwhile
 * (as Linux).  May free the tcpcb.  Stack-owner core only; never allocates.
 */
#include <errno.h>

#include "core/fn_stack_impl.h"
#include "tcp/tcp_var.h"
#include "wire/fn_wire.h"

#define NS_PER_MS 1000000ull
#define NS_PER_S 1000000000ull

struct tcpcb *tcp_drop_timedout(struct tcpcb *tp, uint64_t now)
{
    /* RFC 9293 §3.8.3 R2 / RFC 1122 §4.2.3.5: give up and tell the owner; a synchronized
     * peer is told with a RST (at snd_max: a retransmission has rewound snd_nxt) so it does
     * not wait for us. */
    if (TCPS_HAVEESTABLISHED(tp->t_state))
        tcp_respond(tp->t_stack, tp, tp->faddr, tp->fport, tp->lport, tp->snd_max, tp->rcv_nxt,
                    FN_TH_RST | FN_TH_ACK, now);
    return tcp_drop(tp, tp->t_softerror ? tp->t_softerror : ETIMEDOUT);
}

static uint64_t uto_ns(const struct tcpcb *tp)
{
    return (uint64_t)tp->t_user_timeout_ms * NS_PER_MS;
}

uint64_t tcp_uto_clamp(const struct tcpcb *tp, uint64_t when, uint64_t now)
{
    /* RFC 5482: fire no later than the user timeout, so the abort is on time. */
    uint64_t end = tp->t_uto_start + uto_ns(tp);

    if (end < when)
        when = end > now ? end : now + 1;
    return when;
}

int tcp_rexmt_give_up(struct tcpcb *tp, uint32_t limit, uint64_t now)
{
    if (tp->t_user_timeout_ms == 0)
        return tp->t_rxtshift >= limit;
    if (now - tp->t_uto_start < uto_ns(tp))
        return 0;
    tp->t_stack->stats.tcp_user_timeouts++;
    return 1;
}

static int keep_eligible(const struct tcpcb *tp)
{
    return TCPS_HAVEESTABLISHED(tp->t_state) && tp->t_state != TCPS_TIME_WAIT;
}

void tcp_keep_timeout(struct tcpcb *tp, uint64_t now)
{
    struct fn_stack *st = tp->t_stack;
    uint64_t idle = (uint64_t)tp->t_keepidle_s * NS_PER_S;
    uint64_t quiet = now - tp->t_rcvtime;

    if (!tp->t_keepalive || tp->t_state == TCPS_TIME_WAIT || tp->t_state == TCPS_CLOSED)
        return;
    /* Not yet synchronized, or data waiting: the handshake and the retransmission and
     * persist timers watch the peer then.  Look again an idle period later. */
    if (!keep_eligible(tp) || tp->snd_cc > 0 || tp->snd_max != tp->snd_una) {
        tcp_timer_arm(tp, TT_KEEP, now + idle);
        return;
    }
    if (quiet < idle) {
        tcp_timer_arm(tp, TT_KEEP, tp->t_rcvtime + idle);
        return;
    }
    /* Unanswered probes (t_probes survives only while the peer stays silent): the count,
     * or with a user timeout the silence itself (Linux), ends the connection. */
    if (tp->t_user_timeout_ms != 0 ? tp->t_probes > 0 && quiet >= uto_ns(tp)
                                   : tp->t_probes >= tp->t_keepcnt) {
        st->stats.tcp_keepalive_drops++;
        if (tp->t_user_timeout_ms != 0)
            st->stats.tcp_user_timeouts++;
        tcp_drop_timedout(tp, now);
        return;
    }
    /* RFC 1122 §4.2.3.6: SEG.SEQ = SND.NXT − 1, no data.  SND.UNA − 1 is the same on a
     * connection with nothing in flight (the only kind probed here) and is always a byte the
     * peer already has, so it must answer with an ACK (RFC 9293 §3.10.7.4). */
    tcp_respond(st, tp, tp->faddr, tp->fport, tp->lport, tp->snd_una - 1, tp->rcv_nxt,
                FN_TH_ACK, now);
    tp->t_probes++;
    st->stats.tcp_keepalive_probes++;
    tcp_timer_arm(tp, TT_KEEP, now + (uint64_t)tp->t_keepintvl_s * NS_PER_S);
}

int fn_tcp_set_keepalive(struct tcpcb *tp, int on, uint32_t idle_s, uint32_t intvl_s,
                         uint32_t cnt)
{
    const struct fn_config *c = tcp_cfg(tp);

    if (tp->t_state == TCPS_LISTEN)
        return -EINVAL;
    if (!on) {
        tp->t_keepalive = 0;
        tcp_timer_stop(tp, TT_KEEP);
        return 0;
    }
    idle_s = idle_s ? idle_s : c->tcp_keepalive_idle_s;
    intvl_s = intvl_s ? intvl_s : c->tcp_keepalive_intvl_s;
    cnt = cnt ? cnt : c->tcp_keepalive_cnt;
    if (idle_s > TCP_KEEPIDLE_MAX || intvl_s > TCP_KEEPINTVL_MAX || cnt > TCP_KEEPCNT_MAX)
        return -EINVAL;
    tp->t_keepidle_s = (uint16_t)idle_s;
    tp->t_keepintvl_s = (uint16_t)intvl_s;
    tp->t_keepcnt = (uint8_t)cnt;
    tp->t_keepalive = 1;
    /* The idle time counts from the last segment heard, as when the knobs change on a
     * Linux socket; a connection already idle that long is probed at the next poll. */
    if (tp->t_state != TCPS_CLOSED && tp->t_state != TCPS_TIME_WAIT)
        tcp_timer_arm(tp, TT_KEEP, tp->t_rcvtime + (uint64_t)idle_s * NS_PER_S);
    return 0;
}

int fn_tcp_set_user_timeout(struct tcpcb *tp, uint32_t ms)
{
    if (tp->t_state == TCPS_LISTEN)
        return -EINVAL;
    tp->t_user_timeout_ms = ms;
    return 0;
}
