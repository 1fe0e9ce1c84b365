/*
 * tcp_output.c — building and sending segments for a connection (RFC 9293 §3.8, RFC 1122
 * §4.2.3.4, RFC 7323, RFC 6691).
 *
 * Contract: tcp_output(tp, now) decides from the connection state what, if anything, to send
 * now — SYN / SYN-ACK with options, data cut into MSS-sized segments copied out of the send
 * chain (new data and retransmissions alike: a retransmission is simply snd_nxt rewound),
 * FIN after the last byte, ACKs owed and window updates — and hands each segment, in a fresh
 * pool buffer with its checksum computed in software, to fn_ip_output.  It never sleeps.
 * When the pool is empty it stops, counts tcp_nobuf and leaves the retransmission timer to
 * try again.  Returns the number of segments sent.  Stack-owner core only.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "core/fn_stack_impl.h"
#include "net/fn_ip.h"
#include "tcp/tcp_csum.h"
#include "tcp/tcp_var.h"
#include "wire/fn_wire.h"


static const uint8_t tcp_outflags[TCP_NSTATES] = {
    [TCPS_CLOSED] = FN_TH_RST | FN_TH_ACK,
    [TCPS_LISTEN] = 0,
    [TCPS_SYN_SENT] = FN_TH_SYN,
    [TCPS_SYN_RECEIVED] = FN_TH_SYN | FN_TH_ACK,
    [TCPS_ESTABLISHED] = FN_TH_ACK,
    [TCPS_CLOSE_WAIT] = FN_TH_ACK,
    [TCPS_FIN_WAIT_1] = FN_TH_FIN | FN_TH_ACK,
    [TCPS_CLOSING] = FN_TH_FIN | FN_TH_ACK,
    [TCPS_LAST_ACK] = FN_TH_FIN | FN_TH_ACK,
    [TCPS_FIN_WAIT_2] = FN_TH_ACK,
    [TCPS_TIME_WAIT] = FN_TH_ACK,
};

/* RFC 9293 §3.1: a TCP header carries at most 40 bytes of options. */
#define TCP_OPT_MAX 40u

uint8_t tcp_rcv_wscale_for(uint32_t rcvbuf)
{
    uint8_t s = 0;

    while (s < TCP_MAX_WINSHIFT && (rcvbuf >> s) > TCP_MAXWIN)
        s++;
    return s;
}

/* Receiver SWS avoidance (RFC 9293 §3.8.6.2.2): the least the right edge may move by. */
static inline uint32_t rcv_sws(const struct tcpcb *tp)
{
    uint32_t half = tcp_rcvbuf(tp) / 2;

    return half < tp->t_maxseg ? half : tp->t_maxseg;
}

uint32_t tcp_rcv_space(const struct tcpcb *tp)
{
    uint32_t buf = tcp_rcvbuf(tp), held = tcp_rcv_held(tp);
    uint32_t space = buf > held ? buf - held : 0;
    uint32_t pool = tcp_pool_rcv_window(tp);

    /* Offer no more than the pool can back (tcp_pool.c); the right edge rule below keeps
     * what was already offered. */
    if (space > pool)
        space = pool;
    /* Receiver SWS avoidance (RFC 9293 §3.8.6.2.2, RFC 1122 §4.2.3.3): while the free space
     * is below both a quarter of the buffer and one MSS, offer no more than already offered. */
    if (space < buf / 4 && space < tp->t_maxseg)
        space = 0;
    if (space > (uint32_t)TCP_MAXWIN << tp->rcv_wscale)
        space = (uint32_t)TCP_MAXWIN << tp->rcv_wscale;
    /* The right edge already offered never moves left, and moves right only by at least
     * min(Fr·RCV.BUFF, Eff.snd.MSS), Fr = 1/2 (RFC 9293 §3.8.6.2.2). */
    if (TCPS_HAVERCVDSYN(tp->t_state) &&
        SEQ_LT(tp->rcv_nxt + space, tp->rcv_adv + rcv_sws(tp)))
        space = tp->rcv_adv - tp->rcv_nxt;
    return space;
}

/* SEG.SEQ of a segment that occupies no sequence space (see tcp_output): snd_max, except
 * while probing a shut window.  The probe byte was not taken as far as we know, and a
 * receiver with RCV.WND = 0 accepts only SEG.SEQ = RCV.NXT (RFC 9293 §3.10.7.4): sent from
 * snd_max, our window updates would all be dropped by a peer that waits for them behind a
 * window of its own that we filled (FreeBSD's probes leave SND.NXT at SND.UNA for this). */
static uint32_t bare_seq(const struct tcpcb *tp)
{
    return tp->snd_wnd == 0 && tp->t_timer[TT_PERSIST] != 0 ? tp->snd_una : tp->snd_max;
}

void tcp_send_ack(struct tcpcb *tp, uint64_t now)
{
    /* SEG.SEQ = SND.NXT in RFC 9293's sense, as for every pure ACK (below). */
    tcp_respond(tp->t_stack, tp, tp->faddr, tp->fport, tp->lport, bare_seq(tp), tp->rcv_nxt,
                FN_TH_ACK, now);
}

/* Network byte order stores (one swap and one store each, where byte stores are four). */
static void wr32(uint8_t *p, uint32_t v)
{
    uint32_t be = htonl(v);

    memcpy(p, &be, 4);
}

static void wr16(uint8_t *p, uint16_t v)
{
    uint16_t be = htons(v);

    memcpy(p, &be, 2);
}

/* Copy len bytes at stream offset off (from the first byte of the send chain) to dst. */
static void sb_copy(struct tcpcb *tp, uint32_t off, uint8_t *dst, uint32_t len)
{
    struct fn_pkt *p = tp->snd_head;
    uint32_t poff = 0;

    if (tp->snd_cache && tp->snd_cache_off <= off) {
        p = tp->snd_cache;
        poff = tp->snd_cache_off;
    }
    while (p && poff + p->len <= off) {
        poff += p->len;
        p = p->next;
    }
    while (len > 0 && p) {
        uint32_t in = off - poff, n = p->len - in;
        if (n > len)
            n = len;
        memcpy(dst, p->data + in, n);
        dst += n;
        len -= n;
        off += n;
        tp->snd_cache = p;
        tp->snd_cache_off = poff;
        poff += p->len;
        p = p->next;
    }
}

/* Options of a SYN or SYN-ACK (RFC 9293 §3.2, RFC 7323 §2–3, RFC 2018 §2).  Returns bytes. */
static uint32_t syn_options(struct tcpcb *tp, uint8_t *o, uint64_t now)
{
    const struct fn_config *c = tcp_cfg(tp);
    int active = tp->t_state == TCPS_SYN_SENT;
    int ws = (tp->t_flags & TF_REQ_SCALE) && (active || (tp->t_flags & TF_RCVD_SCALE));
    int ts = (tp->t_flags & TF_REQ_TSTMP) && (active || (tp->t_flags & TF_RCVD_TSTMP));
    int sack = c->tcp_sack && (active || (tp->t_flags & TF_SACK_PERMIT));

    /* RFC 7323 §3.2: TSecr is zero unless the ACK bit is set. */
    return tcp_syn_opts(o, (uint16_t)tcp_adv_mss(tp), ws ? tp->request_r_scale : -1,
                        sack, ts, tcp_ts_now(tp, now), active ? 0 : tp->ts_recent);
}

uint32_t tcp_adv_mss(const struct tcpcb *tp)
{
    uint32_t mss = fn_ip_mtu(tp->t_stack) - FN_IPV4_HLEN - FN_TCP_HLEN;

    if (mss > 65535)
        mss = 65535;
    return tp->t_user_mss && tp->t_user_mss < mss ? tp->t_user_mss : mss;
}

uint32_t tcp_syn_opts(uint8_t *o, uint16_t mss, int wscale, int sack, int ts, uint32_t tsval,
                      uint32_t tsecr)
{
    uint32_t n = 0;

    o[n++] = FN_TCPOPT_MSS;
    o[n++] = 4;
    wr16(o + n, mss);
    n += 2;
    if (wscale >= 0) {
        o[n++] = FN_TCPOPT_NOP;
        o[n++] = FN_TCPOPT_WSCALE;
        o[n++] = 3;
        o[n++] = (uint8_t)wscale;
    }
    if (sack && ts) {
        o[n++] = FN_TCPOPT_SACK_PERM;
        o[n++] = 2;
    } else if (ts) {
        o[n++] = FN_TCPOPT_NOP;
        o[n++] = FN_TCPOPT_NOP;
    } else if (sack) {
        o[n++] = FN_TCPOPT_NOP;
        o[n++] = FN_TCPOPT_NOP;
        o[n++] = FN_TCPOPT_SACK_PERM;
        o[n++] = 2;
    }
    if (ts) {
        o[n++] = FN_TCPOPT_TIMESTAMP;
        o[n++] = 10;
        wr32(o + n, tsval);
        wr32(o + n + 4, tsecr);
        n += 8;
    }
    return n;
}

/* The window to advertise: returns the bytes it stands for, the header value in *field. */
static uint32_t adv_window(const struct tcpcb *tp, int syn, uint16_t *field)
{
    uint32_t shift = syn ? 0 : tp->rcv_wscale, w = tcp_rcv_space(tp) >> shift;

    /* RFC 7323 §2.2: the window in a SYN is never scaled. */
    if (w > TCP_MAXWIN)
        w = TCP_MAXWIN;

    *field = (uint16_t)w;
    return w << shift;
}

/* Build and send one segment that tcp_output decided on: flags, len bytes of payload from
 * stream offset off (from snd_una), sackopt bytes of SACK option.  Returns 1 if it went out,
 * 0 if the pool had no buffer (counted, retried later). */
static int send_segment(struct tcpcb *tp, uint8_t flags, uint32_t off, uint32_t len,
                        uint32_t sackopt, uint64_t now)
{
    struct fn_stack *st = tp->t_stack;
    const struct fn_config *c = &st->cfg;
    uint32_t optlen = 0, hlen, win_bytes, seq, sum;
    uint16_t wfield, csum;
    uint8_t opts[TCP_OPT_MAX], *h;
    struct fn_pkt *pkt;

    if (flags & FN_TH_SYN)
        optlen = syn_options(tp, opts, now);
    else if (TS_ON(tp)) {
        opts[0] = FN_TCPOPT_NOP;
        opts[1] = FN_TCPOPT_NOP;
        opts[2] = FN_TCPOPT_TIMESTAMP;
        opts[3] = 10;
        wr32(opts + 4, tcp_ts_now(tp, now));
        wr32(opts + 8, tp->ts_recent);
        optlen = TCPOLEN_TSTAMP_APPA;
    }
    if (sackopt)
        optlen += tcp_sack_opts(tp, opts + optlen, sizeof(opts) - optlen);
    hlen = FN_TCP_HLEN + optlen;
    /* The window is the one the decision in tcp_output saw: computed after taking this
     * segment's buffer, a pool-limited window (tcp_pool.c) could come out a segment
     * smaller, and a window update would leave the edge where it was — woken again as soon
     * as the buffer came back, for ever. */
    win_bytes = adv_window(tp, flags & FN_TH_SYN, &wfield);
    pkt = fn_pkt_alloc(st->pool);
    if (!pkt) {
        st->stats.tcp_nobuf++;
        /* Try again later; while persisting, the persist timer is that retry. */
        if (tp->t_timer[TT_REXMT] == 0 && tp->t_timer[TT_PERSIST] == 0)
            tcp_rexmt_arm(tp, now);
        tcp_pool_wait(tp, TCP_PWAIT_OUT);
        return 0;
    }
    h = fn_pkt_put(pkt, hlen + len);
    seq = (flags & FN_TH_SYN) ? tp->iss : tp->snd_nxt;
    if (len > 0)
        sb_copy(tp, off, h + hlen, len);
    /* PSH on the segment that empties the send buffer (RFC 9293 §3.9.1.2). */
    if (len > 0 && off + len == tp->snd_cc)
        flags |= FN_TH_PUSH;
    wr16(h, tp->lport);
    wr16(h + 2, tp->fport);
    /* A segment that occupies no sequence space carries RFC 9293's SND.NXT, the next new
     * octet (snd_max), not snd_nxt rewound for a retransmission: the peer's
     * acceptability test (§3.10.7.4) drops a pure ACK below its RCV.NXT, and two ends
     * retransmitting at once would never see each other's ACKs again. */
    wr32(h + 4, len == 0 && !(flags & (FN_TH_SYN | FN_TH_FIN)) ? bare_seq(tp) : seq);
    wr32(h + 8, (flags & FN_TH_ACK) ? tp->rcv_nxt : 0);
    h[12] = (uint8_t)((hlen / 4) << 4);
    h[13] = flags;
    wr16(h + 14, wfield);
    h[16] = h[17] = 0;
    h[18] = h[19] = 0;
    sum = fn_csum_pseudo(c->ip, tp->faddr, FN_IPPROTO_TCP, (uint16_t)(hlen + len));
    if (len == 0 && optlen == TCPOLEN_TSTAMP_APPA) {
        /* The bare ACK of a timestamp connection: a fixed-size copy and sum. */
        memcpy(h + FN_TCP_HLEN, opts, TCPOLEN_TSTAMP_APPA);
        csum = fn_csum_fold(tcp_csum_fold32(tcp_csum_hdr32(h, sum)));
    } else {
        memcpy(h + FN_TCP_HLEN, opts, optlen);
        csum = fn_csum_fold(fn_csum_partial(h, hlen + len, sum));
    }
    memcpy(h + 16, &csum, 2);

    /* Sequence space accounting. */
    if (len > 0 && SEQ_LT(seq, tp->snd_max)) {
        st->stats.tcp_rexmt_segs++;
        tp->t_total_retrans++;
    }
    tp->snd_nxt = seq + len + ((flags & FN_TH_SYN) ? 1 : 0) + ((flags & FN_TH_FIN) ? 1 : 0);
    if (flags & FN_TH_FIN)
        tp->t_flags |= TF_SENTFIN;
    if (SEQ_GT(tp->snd_nxt, tp->snd_max)) {
        tp->snd_max = tp->snd_nxt;
        /* RFC 6298 §3 / Karn: time one new segment per RTT. */
        if (tp->t_rtttime == 0) {
            tp->t_rtttime = now;
            tp->t_rtseq = seq;
        }
    }
    if (len > 0 || (flags & (FN_TH_SYN | FN_TH_FIN)))
        tcp_persist_sent(tp, now);
    else
        /* A bare ACK leaves waiting data where it was: a timer must still watch it, as
         * when nothing is sent (RFC 9293 §3.8.6.1), or a shut window stalls for ever. */
        tcp_persist_hold(tp, off, now);
    if (len > 0)
        tp->t_sndtime = now;
    if (flags & FN_TH_ACK) {
        tp->last_ack_sent = tp->rcv_nxt;
        tp->t_flags &= ~(TF_ACKNOW | TF_DELACK);
        tcp_timer_stop(tp, TT_DELACK);
    } else {
        tp->t_flags &= ~TF_ACKNOW;
    }
    if (TCPS_HAVERCVDSYN(tp->t_state) && SEQ_GT(tp->rcv_nxt + win_bytes, tp->rcv_adv))
        tp->rcv_adv = tp->rcv_nxt + win_bytes;
    tp->rcv_wnd = win_bytes;
    tcp_pool_adv_check(tp);

    st->stats.tcp_tx++;
    st->stats.tcp_tx_bytes += len;
    tcp_ip_output(tp, pkt, now);
    return 1;
}

int tcp_output(struct tcpcb *tp, uint64_t now)
{
    int sent = 0;

    if (tp->t_state == TCPS_CLOSED || tp->t_state == TCPS_LISTEN)
        return 0;
    /* The common case of an owed ACK with nothing else to go (every second in-order data
     * segment): everything is sent, no SACK block or D-SACK is due, no probe forced — the
     * decisions below would all come to a bare ACK, so it goes out at once. */
    if (tp->t_state == TCPS_ESTABLISHED &&
        (tp->t_flags & (TF_ACKNOW | TF_FORCEDATA)) == TF_ACKNOW &&
        tp->snd_nxt == tp->snd_max && tp->snd_cc == tp->snd_max - tp->snd_una &&
        !tp->reass_head && !tp->rcv_dsack_on)
        return send_segment(tp, FN_TH_ACK, tp->snd_cc, 0, 0, now);
    tcp_pmtu_check(tp, now);
    /* Sending resumes after idle: RFC 5681 §4.1's restart window after more than an RTO,
     * and RFC 9438 §5.8's idle time kept out of CUBIC's clock (tcp_cc.c). */
    if (tp->snd_max == tp->snd_una && tp->t_sndtime != 0 && tp->snd_cc > 0 &&
        TCPS_HAVEESTABLISHED(tp->t_state))
        tcp_cc_tx_resume(tp, now);
    for (int guard = 0; guard < 4096; guard++) {
        uint8_t flags = tcp_outflags[tp->t_state];
        uint32_t maxseg = tcp_maxseg(tp);
        uint32_t sendwin = tp->snd_wnd < tp->snd_cwnd ? tp->snd_wnd : tp->snd_cwnd;
        uint32_t off, len = 0, fin_seq, sackopt = 0, cap;
        int32_t avail;
        int send = 0, more = 0, pooled = 0;

        /* The SYN occupies iss; once it has gone out it is not resent from here unless the
         * retransmission timer rewound snd_nxt to iss. */
        if ((flags & FN_TH_SYN) && tp->snd_nxt != tp->iss)
            flags &= (uint8_t)~FN_TH_SYN;
        /* SACK blocks of an ACK come out of the payload (RFC 6691 §2); SACKed data is
         * never sent again (tcp_sack.c). */
        if ((flags & (FN_TH_SYN | FN_TH_ACK)) == FN_TH_ACK)
            sackopt = tcp_sack_opts(tp, NULL,
                                    TCP_OPT_MAX - (TS_ON(tp) ? TCPOLEN_TSTAMP_APPA : 0));
        maxseg -= sackopt;
        cap = tcp_sack_skip(tp);
        off = tp->snd_nxt - tp->snd_una;
        if (TCPS_HAVEESTABLISHED(tp->t_state)) {
            avail = (int32_t)((tp->snd_cc < sendwin ? tp->snd_cc : sendwin) - off);
            if ((int32_t)off < 0 || avail < 0)
                avail = 0;
            len = (uint32_t)avail;
            if (len > maxseg) {
                len = maxseg;
                more = 1;
            }
            if (len > cap) {
                len = cap;
                more = 1;
            }
            /* New data waits while the pool is down to its reserve; retransmissions do not
             * (tcp_pool.c). */
            if (len > 0 && SEQ_GEQ(tp->snd_nxt, tp->snd_max) && !tcp_pool_may_send_new(tp)) {
                len = 0;
                more = 0;
                pooled = 1;
            }
        }
        /* FIN goes with (or after) the last byte, only when the owner shut down writing. */
        if (flags & FN_TH_FIN) {
            fin_seq = tp->snd_una + tp->snd_cc;
            if (tp->snd_nxt + len != fin_seq)
                flags &= (uint8_t)~FN_TH_FIN;
        }

        /* The override timer (RFC 9293 §3.8.6.2.1) fired with data waiting: send it even
         * if small; into a zero window, a 1-byte probe (RFC 9293 §3.8.6.1). */
        if ((tp->t_flags & TF_FORCEDATA) && len == 0 && off < tp->snd_cc &&
            TCPS_HAVEESTABLISHED(tp->t_state) && sendwin == 0)
            len = 1;
        if (len > 0 && (tp->t_flags & TF_FORCEDATA))
            send = 1;
        if (len > 0) {
            int idle = tp->snd_max == tp->snd_una;
            if (len == maxseg)
                send = 1;
            /* RFC 1122 §4.2.3.4 (Nagle): a short segment only when nothing is in flight,
             * unless TCP_NODELAY; and only if it is all we have — and not while the
             * owner is sending with MSG_MORE (it said more data follows). */
            else if ((idle || (tp->t_flags & TF_NODELAY)) && off + len >= tp->snd_cc &&
                     !tp->t_more)
                send = 1;
            /* Sender SWS avoidance (RFC 9293 §3.8.6.2.1): at least half the largest window
             * the peer ever offered. */
            else if (tp->max_sndwnd > 0 && len >= tp->max_sndwnd / 2)
                send = 1;
            else if (SEQ_LT(tp->snd_nxt, tp->snd_max))
                send = 1;       /* retransmission */
        }
        /* An owed ACK carries the window anyway: the update test is only for when none is. */
        if (!send && !(tp->t_flags & TF_ACKNOW) && TCPS_HAVERCVDSYN(tp->t_state)) {
            /* Window update: only when the peer could be held back by the edge it has. */
            uint32_t space = tcp_rcv_space(tp) >> tp->rcv_wscale << tp->rcv_wscale;
            int32_t adv = (int32_t)(tp->rcv_nxt + space - tp->rcv_adv);
            if (adv > 0 && tcp_rcv_update_due(tp, (uint32_t)adv))
                send = 1;
        }
        if (tp->t_flags & TF_ACKNOW)
            send = 1;
        if (flags & (FN_TH_SYN | FN_TH_RST | FN_TH_FIN))
            send = 1;
        if (flags == 0)
            send = 0;   /* SYN_SENT after the SYN: nothing may go out before the SYN-ACK */
        if (!send) {
            if (!pooled)        /* held by the pool: its recovery wakes us (tcp_pool.c) */
                tcp_persist_hold(tp, off, now);
            break;
        }
        if (tp->t_state == TCPS_CLOSED)
            break;

        if (!send_segment(tp, flags, off, len, sackopt, now))
            break;
        sent++;
        if (!more)
            break;
    }
    return sent;
}
