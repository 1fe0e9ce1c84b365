/*
 * cubic.c — CUBIC congestion control (RFC 9438): β = 0.7, W(t) = C·(t − K)³ + W_max with
 * C = 0.4, the Reno-friendly estimate W_est, fast convergence, the timeout case, slow start
 * below ssthresh, and no growth (nor elapsed time) while the sender is not cwnd-limited.
 *
 * Contract: window arithmetic only (see cc.h): the hooks update snd_cwnd / snd_ssthresh and
 * struct cubic (cubic.h) in cc_data.  Fast retransmit, recovery and the window inflation
 * during it are the transport's (tcp_input.c).  Integer arithmetic throughout — no libm, no
 * floating point — with every product bounded to 64 bits (the bounds are noted where they
 * matter).  Nothing here can fail.  Runs on the stack's core only.
 */
#include <stddef.h>
#include <string.h>

#include "fastnet/fn_config.h"
#include "tcp/cc/cc.h"
#include "tcp/cc/cubic.h"
#include "tcp/tcp_var.h"

#define NS_PER_MS 1000000ull

uint32_t cubic_cbrt(uint64_t x)
{
    uint64_t y = 0;

    /* Digit by digit in base 8, most significant first: y doubles each step and gains a 1
     * bit when the remainder still holds (y + 1)³ − y³ = 3y(y + 1) + 1 at this scale.
     * Comparing x >> s instead of shifting the difference up never overflows. */
    for (int s = 63; s >= 0; s -= 3) {
        uint64_t b;

        y <<= 1;
        b = 3 * y * (y + 1) + 1;
        if ((x >> s) >= b) {
            x -= b << s;
            y++;
        }
    }
    return (uint32_t)y;
}

uint32_t cubic_k_ms(uint32_t w_max, uint32_t cwnd_epoch, uint32_t smss)
{
    if (w_max <= cwnd_epoch || smss == 0)
        return 0;
    /* RFC 9438 §4.2 eq. 2: K = cbrt((W_max − cwnd_epoch) / C) s with windows in segments;
     * (W_max − cwnd_epoch)/SMSS/C s³ is that times 10⁹ in ms³.  The product is below
     * 2³² · 2.5·10⁹ < 2⁶⁴. */
    return cubic_cbrt((uint64_t)(w_max - cwnd_epoch) * CUBIC_MS3_PER_SEG / smss);
}

uint32_t cubic_w(uint32_t w_max, uint32_t k_ms, uint64_t t_ms, uint32_t smss)
{
    uint64_t d = t_ms > k_ms ? t_ms - k_ms : k_ms - t_ms, d3, off, w;

    if (d > CUBIC_DT_MAX_MS)
        d = CUBIC_DT_MAX_MS;
    d3 = d * d * d;                                     /* <= 2⁶⁰ */
    /* C·d³·SMSS bytes, split into quotient and remainder so that neither part overflows
     * (quotient <= 2⁶⁰ / 2.5·10⁹ < 2²⁹, remainder < 2.5·10⁹ < 2³², SMSS < 2¹⁶). */
    off = d3 / CUBIC_MS3_PER_SEG * smss + d3 % CUBIC_MS3_PER_SEG * smss / CUBIC_MS3_PER_SEG;
    if (t_ms < k_ms)
        return off >= w_max ? 0 : w_max - (uint32_t)off;
    w = w_max + off;
    return w > CC_CWND_MAX ? CC_CWND_MAX : (uint32_t)w;
}

static void cubic_load(const struct cc_var *ccv, struct cubic *cs)
{
    memcpy(cs, ccv->cc_data, sizeof(*cs));
}

static void cubic_store(struct cc_var *ccv, const struct cubic *cs)
{
    memcpy(ccv->cc_data, cs, sizeof(*cs));
}

/* One field of the state in place, for the per-ACK cases that touch one or two of them
 * (copying the whole state in and out would cost more than their work). */
#define CUBIC_GET(ccv, field, v) \
    memcpy(&(v), (const char *)(ccv)->cc_data + offsetof(struct cubic, field), sizeof(v))
#define CUBIC_SET(ccv, field, v) \
    memcpy((char *)(ccv)->cc_data + offsetof(struct cubic, field), &(v), sizeof(v))

/* RFC 9438 §5.8: t must not include periods in which the flow was application-limited (or
 * idle), else W(t) would have run far ahead by the time the sender fills cwnd again.  The
 * stretch since the last accounting is cut out of t by moving the epoch start. */
static void cubic_exclude(struct cc_var *ccv)
{
    uint64_t now = ccv->now, mark, start;
    uint32_t flags;

    CUBIC_GET(ccv, t_mark, mark);
    if (now <= mark)
        return;
    CUBIC_GET(ccv, flags, flags);
    if (flags & CUBIC_F_EPOCH) {
        CUBIC_GET(ccv, epoch_start, start);
        start += now - mark;
        CUBIC_SET(ccv, epoch_start, start);
    }
    CUBIC_SET(ccv, t_mark, now);
}

/* The first cwnd-limited ACK of a congestion-avoidance stage starts an epoch. */
static void cubic_epoch_begin(struct cubic *cs, uint32_t cwnd, uint32_t smss, uint64_t now)
{
    cs->flags |= CUBIC_F_EPOCH;
    cs->epoch_start = cs->t_mark = now;
    cs->cwnd_epoch = cwnd;
    cs->acc = 0;
    /* RFC 9438 §4.3: W_est starts at cwnd_epoch. */
    cs->w_est = (uint64_t)cwnd << CUBIC_EST_SHIFT;
    if ((cs->flags & CUBIC_F_RTO) || cs->w_max <= cwnd) {
        /* RFC 9438 §4.8: the first stage after a timeout grows from the current window as
         * W_max with K = 0; so does one with no W_max above us (slow start ended without a
         * loss, or the algorithm took over a running connection). */
        cs->w_max = cwnd;
        cs->k_ms = 0;
    } else {
        cs->k_ms = cubic_k_ms(cs->w_max, cwnd, smss);
    }
    cs->flags &= ~CUBIC_F_RTO;
}

static void cubic_conn_init(struct cc_var *ccv)
{
    struct tcpcb *tp = ccv->tp;

    tp->snd_cwnd = cc_initial_window(tcp_maxseg(tp), tcp_cfg(tp)->tcp_initcwnd_segs);
    memset(ccv->cc_data, 0, sizeof(ccv->cc_data));
}

/* Congestion avoidance (RFC 9438 §4.2–§4.5) for one cwnd-limited ACK. */
static void cubic_avoid(struct cubic *cs, struct cc_var *ccv)
{
    struct tcpcb *tp = ccv->tp;
    uint32_t smss = tcp_maxseg(tp), cwnd = tp->snd_cwnd, acked = ccv->bytes_this_ack;
    uint64_t t_ns, est;
    uint32_t a_num = CUBIC_ALPHA_NUM, a_den = CUBIC_ALPHA_DEN, target;

    if (cwnd == 0)
        return;         /* never set by the transport or a hook; W_est and acc divide by it */
    if (!(cs->flags & CUBIC_F_EPOCH))
        cubic_epoch_begin(cs, cwnd, smss, ccv->now);
    if (ccv->now > cs->t_mark)
        cs->t_mark = ccv->now;
    t_ns = ccv->now > cs->epoch_start ? ccv->now - cs->epoch_start : 0;

    /* RFC 9438 §4.3: W_est grows by α·segments_acked/cwnd per ACK; once it reaches the
     * window of the last congestion event, α = 1 (Reno's own rate).  The product is below
     * 2³² · 2¹⁶ · 9 · 2¹⁰ < 2⁶². */
    if ((cs->w_est >> CUBIC_EST_SHIFT) >= cs->cwnd_prior)
        a_num = a_den = 1;
    cs->w_est += ((uint64_t)acked * smss * a_num << CUBIC_EST_SHIFT) / ((uint64_t)a_den * cwnd);
    est = cs->w_est >> CUBIC_EST_SHIFT;
    if (est > CC_CWND_MAX)
        est = CC_CWND_MAX;

    if (cubic_w(cs->w_max, cs->k_ms, t_ns / NS_PER_MS, smss) < est) {
        /* Reno-friendly region (§4.3): W_cubic(t) < W_est, so cwnd = W_est — never lower
         * than cwnd is already. */
        if (est > cwnd)
            tp->snd_cwnd = (uint32_t)est;
        cs->acc = 0;
        return;
    }
    /* Concave (§4.4, cwnd < W_max) and convex (§4.5) regions alike: aim at W(t + RTT)
     * (§4.2), bounded to [cwnd, 1.5·cwnd], and close (target − cwnd)/cwnd of the gap per
     * SMSS acknowledged.  acc < cwnd + 2³¹·2³² stays below 2⁶⁴. */
    target = cubic_w(cs->w_max, cs->k_ms, (t_ns + ccv->srtt) / NS_PER_MS, smss);
    if (target > cwnd + cwnd / 2)
        target = cwnd + cwnd / 2;
    if (target <= cwnd)
        return;
    cs->acc += (uint64_t)(target - cwnd) * acked;
    tp->snd_cwnd = cc_cwnd_add(cwnd, cs->acc / cwnd);
    cs->acc %= cwnd;
}

/* cubic_avoid on the state copied out of cc_data and back.  Kept out of line so that
 * cubic_ack_received's other, cheaper cases run without the copy's stack frame. */
__attribute__((noinline)) static void cubic_avoid_ack(struct cc_var *ccv)
{
    struct cubic cs;

    cubic_load(ccv, &cs);
    cubic_avoid(&cs, ccv);
    cubic_store(ccv, &cs);
}

static void cubic_ack_received(struct cc_var *ccv, int type)
{
    struct tcpcb *tp = ccv->tp;

    if (type != CC_ACK || (ccv->flags & CCF_IN_RECOVERY))
        return;
    if (!(ccv->flags & CCF_CWND_LIMITED)) {
        /* RFC 9438 §4.1 / §5.8: no growth while application-limited, and this time does
         * not count in t. */
        cubic_exclude(ccv);
    } else if (tp->snd_cwnd < tp->snd_ssthresh) {
        /* RFC 9438 §4.10: slow start below ssthresh, as Reno's (RFC 5681 §3.1), counting
         * bytes (RFC 3465). */
        tp->snd_cwnd = cc_cwnd_add(tp->snd_cwnd,
                                   cc_slow_start_incr(ccv->bytes_this_ack, tcp_maxseg(tp)));
        CUBIC_SET(ccv, t_mark, ccv->now);
    } else {
        cubic_avoid_ack(ccv);
    }
}

static void cubic_cong_signal(struct cc_var *ccv, int type)
{
    struct tcpcb *tp = ccv->tp;
    uint32_t smss = tcp_maxseg(tp), cwnd = tp->snd_cwnd;
    uint64_t ss;
    struct cubic cs;

    cubic_load(ccv, &cs);
    /* A timeout of data already retransmitted by a timeout holds ssthresh (RFC 5681 §3.1:
     * eq. 4 is for a segment not yet resent) and W_max: cwnd is already the loss window. */
    if (!(type == CC_RTO && tp->t_rxtshift > 1)) {
        cs.cwnd_prior = cwnd;
        /* RFC 9438 §4.7 fast convergence: a loss below the last W_max means a new flow is
         * competing; release bandwidth by remembering only (1 + β)/2 of this window. */
        if (cwnd < cs.w_max)
            cs.w_max = (uint32_t)((uint64_t)cwnd * (CUBIC_BETA_DEN + CUBIC_BETA_NUM) /
                                  (2 * CUBIC_BETA_DEN));
        else
            cs.w_max = cwnd;
        /* RFC 9438 §4.6: ssthresh = flight_size · β_cubic, at least 2 SMSS.  (Growth is
         * limited to cwnd-limited flights, so flight and cwnd agree when it matters.) */
        ss = (uint64_t)ccv->flight * CUBIC_BETA_NUM / CUBIC_BETA_DEN;
        tp->snd_ssthresh = ss > 2u * smss ? (uint32_t)ss : 2u * smss;
    }
    cs.flags &= ~CUBIC_F_EPOCH;
    cs.acc = 0;
    if (type == CC_RTO) {
        /* RFC 9438 §4.8: cwnd as Reno after a timeout (RFC 5681 §3.1: 1 SMSS), and the next
         * congestion-avoidance stage starts with K = 0. */
        tp->snd_cwnd = smss;
        cs.flags |= CUBIC_F_RTO;
    }
    /* CC_NDUPACK: the transport sets cwnd for the fast retransmit and inflation, and
     * post_recovery leaves recovery at (at most) ssthresh, the β cut. */
    cubic_store(ccv, &cs);
}

static void cubic_after_idle(struct cc_var *ccv)
{
    struct cubic cs;

    /* RFC 5681 §4.1: restart from the restart window; a new epoch begins when congestion
     * avoidance resumes, so W(t) cannot have run ahead during the idle period. */
    cc_restart_window(ccv);
    cubic_load(ccv, &cs);
    cs.flags &= ~CUBIC_F_EPOCH;
    cs.acc = 0;
    cubic_store(ccv, &cs);
}

static void cubic_tx_resume(struct cc_var *ccv)
{
    /* Nothing was in flight since the last ACK: an idle stretch (RFC 9438 §5.8). */
    cubic_exclude(ccv);
}

const struct cc_algo cubic_cc_algo = {
    .name = "cubic",
    .conn_init = cubic_conn_init,
    .ack_received = cubic_ack_received,
    .cong_signal = cubic_cong_signal,
    .post_recovery = cc_post_recovery_window,
    .after_idle = cubic_after_idle,
    .tx_resume = cubic_tx_resume,
};
