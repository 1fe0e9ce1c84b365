/*
 * newreno.c — NewReno congestion control (RFC 5681, RFC 6582, RFC 3465 byte counting,
 * RFC 6928 initial window).
 *
 * Contract: window arithmetic only (see cc.h): slow start and congestion avoidance on new
 * ACKs, ssthresh on congestion signals, cwnd after recovery and after idle.  Fast retransmit
 * and the partial-ACK logic of RFC 6582 live in tcp_input.c, which calls these hooks.  No
 * state beyond the tcpcb's cwnd/ssthresh and one byte counter in cc_data.
 */
#include "fastnet/fn_config.h"
#include "tcp/cc/cc.h"
#include "tcp/tcp_var.h"

static void newreno_conn_init(struct cc_var *ccv)
{
    struct tcpcb *tp = ccv->tp;

    tp->snd_cwnd = cc_initial_window(tcp_maxseg(tp), tcp_cfg(tp)->tcp_initcwnd_segs);
    ccv->cc_data[0] = 0;
}

static void newreno_ack_received(struct cc_var *ccv, int type)
{
    struct tcpcb *tp = ccv->tp;
    uint32_t smss = tcp_maxseg(tp), incr;

    if (type != CC_ACK || (ccv->flags & CCF_IN_RECOVERY))
        return;
    /* Grow only while the window is what limits us (RFC 7661 §4.3 spirit; RFC 5681 §3.1
     * does not grow cwnd for an application-limited flow indefinitely). */
    if (!(ccv->flags & CCF_CWND_LIMITED))
        return;
    if (tp->snd_cwnd < tp->snd_ssthresh) {
        /* Slow start with Appropriate Byte Counting, L = 2 (RFC 3465 §2.2). */
        incr = cc_slow_start_incr(ccv->bytes_this_ack, smss);
        ccv->cc_data[0] = 0;
    } else {
        /* Congestion avoidance, byte counting (RFC 3465 §2.1): one SMSS per cwnd acked. */
        ccv->cc_data[0] += ccv->bytes_this_ack;
        if (ccv->cc_data[0] < tp->snd_cwnd)
            return;
        ccv->cc_data[0] -= tp->snd_cwnd;
        incr = smss;
    }
    tp->snd_cwnd = cc_cwnd_add(tp->snd_cwnd, incr);
}

static void newreno_cong_signal(struct cc_var *ccv, int type)
{
    struct tcpcb *tp = ccv->tp;
    uint32_t smss = tcp_maxseg(tp);
    uint32_t half = ccv->flight / 2;

    /* RFC 5681 §3.1 eq. 4 / §3.2 step 2: ssthresh = max(FlightSize / 2, 2·SMSS). */
    tp->snd_ssthresh = half > 2 * smss ? half : 2 * smss;
    ccv->cc_data[0] = 0;
    if (type == CC_RTO)
        tp->snd_cwnd = smss;        /* RFC 5681 §3.1: loss window = 1 SMSS */
    /* CC_NDUPACK: the transport sets cwnd for the fast retransmit and inflation. */
}

const struct cc_algo newreno_cc_algo = {
    .name = "newreno",
    .conn_init = newreno_conn_init,
    .ack_received = newreno_ack_received,
    .cong_signal = newreno_cong_signal,
    /* RFC 6582 §3.2 step 3, option (1): cwnd = min(ssthresh, FlightSize + SMSS). */
    .post_recovery = cc_post_recovery_window,
    /* RFC 5681 §4.1: cwnd = min(RW, cwnd), RW = the initial window. */
    .after_idle = cc_restart_window,
};
