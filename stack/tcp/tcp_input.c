/*
 * tcp_input.c — segment arrival (RFC 9293 §3.10.7) with RFC 5961 (blind in-window attacks),
 * RFC 7323 (window scale, timestamps, PAWS), RFC 5681/6582/3042 (fast retransmit, NewReno,
 * limited transmit) and RFC 1337 (no TIME_WAIT assassination).
 *
 * Contract: tcp_input() is IP's handler for protocol 6.  IP has verified the checksum and
 * that 20 header bytes are there; everything else about the segment is untrusted and goes
 * through fn_tcp_parse / fn_tcp_opts_parse first.  tcp_input owns rx->pkt: the payload is
 * kept (pulled to the payload, no copy) in the receive chain or reassembly queue, or freed.
 * Segments for no connection get a RST (never for a RST); segments for a listening port go
 * to the syncache (tcp_syncache.c), the one place a passive open starts.
 * Every drop is counted.  May free tcpcbs (resets, final ACK of LAST_ACK).  Stack-owner core.
 */
#include <errno.h>
#include <string.h>

#include "core/fn_stack_impl.h"
#include "net/fn_ip.h"
#include "tcp/tcp_ack.h"
#include "tcp/tcp_syncache.h"
#include "tcp/tcp_var.h"
#include "wire/fn_wire.h"

/* RFC 7323 §5.5: a TS.Recent older than 24 days is invalid (the peer's clock may wrap). */
#define PAWS_IDLE_NS (24ull * 24 * 3600 * 1000000000ull)

/* One received segment, parsed. */
struct tcpseg {
    uint32_t faddr;             /* network order */
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint8_t flags;
    uint16_t win;               /* as received (unscaled) */
    uint32_t len;               /* payload bytes (pkt->len when pkt != NULL) */
    struct fn_pkt *pkt;         /* payload at pkt->data; NULL if no payload kept */
    struct fn_tcp_opts to;
};

/* The TSecr tcp_rtt_sample takes: 0 when the segment carried no timestamp. */
static uint32_t seg_tsecr(const struct tcpseg *s)
{
    return s->to.has_ts ? s->to.tsecr : 0;
}

static void seg_free(struct tcpseg *s)
{
    fn_pkt_free(s->pkt);
    s->pkt = NULL;
}

/* RFC 9293 §3.10.7.1: the RST for a segment that has no connection (or is unacceptable in a
 * way that calls for one).  Never in answer to a RST. */
static void respond_rst(struct fn_stack *st, const struct tcpseg *s, uint64_t now)
{
    uint32_t seglen = s->len + ((s->flags & FN_TH_SYN) ? 1 : 0) + ((s->flags & FN_TH_FIN) ? 1 : 0);

    if (s->flags & FN_TH_RST)
        return;
    if (s->flags & FN_TH_ACK)
        tcp_respond(st, NULL, s->faddr, s->sport, s->dport, s->ack, 0, FN_TH_RST, now);
    else
        tcp_respond(st, NULL, s->faddr, s->sport, s->dport, 0, s->seq + seglen,
                    FN_TH_RST | FN_TH_ACK, now);
}

/* RFC 5961 §7: challenge ACKs, rate-limited per connection (a global limit would be a side
 * channel, CVE-2016-5696). */
static void challenge_ack(struct tcpcb *tp, uint64_t now)
{
    struct fn_stack *st = tp->t_stack;

    if (now - tp->t_chal_start >= TCP_CHALLENGE_WINDOW_NS || tp->t_chal_start == 0) {
        tp->t_chal_start = now;
        tp->t_chal_count = 0;
    }
    if (tp->t_chal_count >= st->cfg.tcp_challenge_ack_per_s) {
        st->stats.tcp_challenge_ack_limited++;
        return;
    }
    tp->t_chal_count++;
    st->stats.tcp_challenge_ack++;
    tcp_send_ack(tp, now);
}

/* An ACK for a segment outside the window (RFC 9293 §3.10.7.4), rate-limited so that two
 * confused endpoints cannot ping-pong ACKs at line rate. */
static void oow_ack(struct tcpcb *tp, uint64_t now)
{
    uint64_t gap = (uint64_t)tcp_cfg(tp)->tcp_oow_ack_interval_ms * 1000000ull;

    if (tp->t_oow_last != 0 && now - tp->t_oow_last < gap)
        return;
    tp->t_oow_last = now;
    tcp_send_ack(tp, now);
}

/* Options of the peer's SYN or SYN-ACK (RFC 9293 §3.7.1, RFC 7323 §2.2/§3.2, RFC 2018). */
static void syn_options(struct tcpcb *tp, const struct tcpseg *s, uint64_t now)
{
    const struct fn_config *c = tcp_cfg(tp);
    uint32_t mss = s->to.has_mss ? s->to.mss : TCP_MSS_DEFAULT;
    uint32_t ours = fn_ip_mtu(tp->t_stack) - FN_IPV4_HLEN - FN_TCP_HLEN;

    tp->t_peer_mss = (uint16_t)mss;
    if (mss > ours)
        mss = ours;                     /* never send more than our MTU carries */
    if (mss < c->tcp_min_mss)
        mss = c->tcp_min_mss;           /* a floor against tiny-MSS resource attacks */
    tp->t_maxseg = (uint16_t)mss;
    if (s->to.has_wscale && (tp->t_flags & TF_REQ_SCALE)) {
        tp->t_flags |= TF_RCVD_SCALE;
        /* RFC 7323 §2.3: a shift above 14 is used as 14. */
        tp->snd_wscale = s->to.wscale > TCP_MAX_WINSHIFT ? TCP_MAX_WINSHIFT : s->to.wscale;
        tp->rcv_wscale = tp->request_r_scale;
    } else {
        /* Scaling is used only if both sides sent the option. */
        tp->t_flags &= ~TF_REQ_SCALE;
        tp->snd_wscale = tp->rcv_wscale = 0;
    }
    if (s->to.has_ts && (tp->t_flags & TF_REQ_TSTMP)) {
        tp->t_flags |= TF_RCVD_TSTMP;
        tp->ts_recent = s->to.tsval;
        tp->ts_recent_age = now;
    } else {
        tp->t_flags &= ~TF_REQ_TSTMP;
    }
    if (s->to.sack_permitted && c->tcp_sack)
        tp->t_flags |= TF_SACK_PERMIT;
}

/* A segment for a listening port with no connection (RFC 9293 §3.10.7.2) goes to the
 * syncache.  Returns the connection a valid third ACK just created — the rest of the segment
 * (data, FIN) is then processed as that connection's — or NULL with the segment consumed. */
static struct tcpcb *tcp_syn_input(struct tcpcb *l, struct tcpseg *s, uint64_t now)
{
    const struct tcp_synseg ss = {.faddr = s->faddr, .sport = s->sport, .seq = s->seq,
                                  .ack = s->ack, .flags = s->flags, .win = s->win, .to = &s->to};
    struct tcpcb *tp = tcp_syncache_input(l, &ss, now);

    if (!tp)
        seg_free(s);
    return tp;
}

static void enter_time_wait(struct tcpcb *tp, uint64_t now)
{
    tp->t_state = TCPS_TIME_WAIT;
    tcp_timers_stop_all(tp);
    /* RFC 9293 §3.10.7.4: TIME_WAIT lasts 2·MSL. */
    tcp_timer_arm(tp, TT_2MSL, now + 2ull * tcp_cfg(tp)->tcp_msl_ms * 1000000ull);
    tcp_tw_note(tp);                    /* recyclable once nobody holds it (tcp_timewait.c) */
}

/* The peer's FIN is in order (RFC 9293 §3.10.7.4 "eighth, check the FIN bit"). */
static void process_fin(struct tcpcb *tp, uint64_t now)
{
    tp->rcv_nxt++;
    tp->t_flags |= TF_RCVDFIN | TF_ACKNOW;
    tcp_pool_rcv_end(tp);              /* no segment text after the FIN */
    tcp_event(tp, FN_TCP_EV_READABLE | FN_TCP_EV_EOF);
    switch (tp->t_state) {
    case TCPS_SYN_RECEIVED:
    case TCPS_ESTABLISHED:
        tp->t_state = TCPS_CLOSE_WAIT;
        break;
    case TCPS_FIN_WAIT_1:
        /* Our FIN is not acked yet (else we would be in FIN_WAIT_2): simultaneous close. */
        tp->t_state = TCPS_CLOSING;
        break;
    case TCPS_FIN_WAIT_2:
        enter_time_wait(tp, now);
        break;
    default:
        break;
    }
}

int tcp_ack_new(struct tcpcb *tp, uint32_t ack, uint32_t tsecr, uint64_t now)
{
    return tcp_ack_advance(tp, ack, tsecr, now);
}

void tcp_ack_recovery(struct tcpcb *tp, uint32_t ack, uint32_t acked, uint64_t now)
{
    if ((tp->t_flags & TF_SACK_PERMIT) && SEQ_LT(ack, tp->snd_recover)) {
        tcp_sack_output(tp, now);       /* RFC 6675 §5 (B): a partial ACK, cwnd unchanged */
    } else if (SEQ_LT(ack, tp->snd_recover)) {
        /* RFC 6582 §3.2 step 5: partial ACK.  Retransmit the first unacked segment,
         * deflate cwnd by the newly acked amount (adding back one SMSS if at least one
         * SMSS was acked), stay in recovery. */
        uint32_t smss = tcp_maxseg(tp), onxt = tp->snd_nxt, cw = tp->snd_cwnd;
        tp->t_rtttime = 0;
        tp->snd_nxt = tp->snd_una;
        tp->snd_cwnd = smss;
        tcp_output(tp, now);
        if (SEQ_GT(onxt, tp->snd_nxt))
            tp->snd_nxt = onxt;
        tp->snd_cwnd = (cw > acked ? cw - acked : 0) + (acked >= smss ? smss : 0);
        if (tp->snd_cwnd < smss)
            tp->snd_cwnd = smss;
    } else {
        /* Full ACK: recovery ends (RFC 6582 §3.2 step 3). */
        tp->t_flags &= ~TF_FASTRECOVERY;
        tp->ccv.flags = 0;
        tp->cc_algo->post_recovery(&tp->ccv);
    }
}

/* Third and later duplicate ACKs: fast retransmit / fast recovery (RFC 5681 §3.2, RFC 6582),
 * and limited transmit for the first two (RFC 3042). */
static void dup_ack(struct tcpcb *tp, uint64_t now)
{
    struct fn_stack *st = tp->t_stack;
    uint32_t smss = tcp_maxseg(tp);

    st->stats.tcp_rx_dupack++;
    if (tp->t_dupacks < 255)
        tp->t_dupacks++;
    if ((tp->t_flags & TF_SACK_PERMIT) && tcp_sack_dupack(tp, now))
        return;                         /* RFC 6675 loss recovery (tcp_sack.c) */
    if (tp->t_flags & TF_FASTRECOVERY) {
        /* RFC 6582 §3.2 step 4: inflate by one SMSS per further duplicate. */
        tp->snd_cwnd += smss;
        tcp_output(tp, now);
        return;
    }
    if (tp->t_dupacks < 3) {
        /* RFC 3042: send one new segment per duplicate if the peer's window allows,
         * without counting it against cwnd. */
        uint32_t cw = tp->snd_cwnd;
        tp->snd_cwnd = cw + tp->t_dupacks * smss;
        tcp_output(tp, now);
        tp->snd_cwnd = cw;
        return;
    }
    if (tp->t_dupacks != 3)
        return;
    /* RFC 6582 §3.2 step 2: only if the ACK covers more than `recover` — one cwnd cut
     * per window of data. */
    if (SEQ_LEQ(tp->snd_una, tp->snd_recover)) {
        tp->t_dupacks = 0;
        return;
    }
    {
        uint32_t onxt = tp->snd_nxt;
        st->stats.tcp_fast_rexmt++;
        tp->ccv.flight = tp->snd_max - tp->snd_una;
        tp->ccv.now = now;
        tp->cc_algo->cong_signal(&tp->ccv, CC_NDUPACK);
        tp->snd_recover = tp->snd_max;
        tp->t_flags |= TF_FASTRECOVERY;
        tp->t_rtttime = 0;              /* Karn */
        tcp_timer_stop(tp, TT_REXMT);
        tp->snd_nxt = tp->snd_una;
        tp->snd_cwnd = smss;
        tcp_output(tp, now);
        /* RFC 5681 §3.2 step 3: cwnd = ssthresh + 3·SMSS. */
        tp->snd_cwnd = tp->snd_ssthresh + 3 * smss;
        if (SEQ_GT(onxt, tp->snd_nxt))
            tp->snd_nxt = onxt;
        tcp_output(tp, now);
    }
}

/* SYN-SENT (RFC 9293 §3.10.7.3). */
static void syn_sent_input(struct tcpcb *tp, struct tcpseg *s, uint64_t now)
{
    struct fn_stack *st = tp->t_stack;

    if (s->flags & FN_TH_ACK) {
        if (SEQ_LEQ(s->ack, tp->iss) || SEQ_GT(s->ack, tp->snd_max)) {
            respond_rst(st, s, now);
            st->stats.tcp_rx_dropped++;
            goto drop;
        }
    }
    if (s->flags & FN_TH_RST) {
        /* Accepted only if it acknowledges our SYN (RFC 5961 §3.2 for SYN-SENT). */
        if (s->flags & FN_TH_ACK) {
            st->stats.tcp_rst_rx++;
            st->stats.tcp_conn_refused++;
            seg_free(s);
            tcp_drop(tp, ECONNREFUSED);
            return;
        }
        st->stats.tcp_rst_ignored++;
        goto drop;
    }
    if (!(s->flags & FN_TH_SYN)) {
        st->stats.tcp_rx_dropped++;
        goto drop;
    }
    tp->irs = s->seq;
    tp->rcv_nxt = tp->rcv_adv = s->seq + 1;
    syn_options(tp, s, now);
    tp->snd_wnd = tp->max_sndwnd = s->win;    /* RFC 7323 §2.2: not scaled */
    tp->snd_wl1 = s->seq;
    tp->snd_wl2 = s->ack;
    tp->cc_algo->conn_init(&tp->ccv);
    if (s->flags & FN_TH_ACK) {
        tcp_rtt_sample(tp, s->ack, seg_tsecr(s), now);
        /* RFC 6298 §5.7: if the SYN was retransmitted and nothing was measured, the data
         * phase starts with RTO 3 s. */
        if (tp->t_srtt == 0 && tp->t_rxtshift > 0 && tp->t_rxtcur < 3000000000ull)
            tp->t_rxtcur = 3000000000ull;
        tp->t_rxtshift = 0;
        tp->snd_una = s->ack;
        if (SEQ_LT(tp->snd_nxt, tp->snd_una))
            tp->snd_nxt = tp->snd_una;
        tcp_timer_stop(tp, TT_REXMT);
        tp->t_state = TCPS_ESTABLISHED;
        st->stats.tcp_conn_established++;
        tcp_event(tp, FN_TCP_EV_CONNECTED | FN_TCP_EV_WRITABLE);
        tp->t_flags |= TF_ACKNOW;
        /* Data or FIN riding on the SYN-ACK is not acknowledged: the peer resends it. */
        seg_free(s);
        if (tp->t_flags & TF_NEEDFIN)
            tp->t_state = TCPS_FIN_WAIT_1;
        tcp_output(tp, now);
        return;
    }
    /* Simultaneous open: answer with SYN,ACK from ISS (RFC 9293 §3.10.7.3 fourth). */
    tp->t_state = TCPS_SYN_RECEIVED;
    tp->t_flags |= TF_SYNUNACKED;
    tp->snd_nxt = tp->iss;
    tcp_timer_stop(tp, TT_REXMT);
    tcp_output(tp, now);
drop:
    seg_free(s);
}

/* SYN_RECEIVED → ESTABLISHED on an acceptable ACK.  Only a simultaneous open gets here: a
 * passive open lives in the syncache until its third ACK and becomes ESTABLISHED there. */
static void syn_rcvd_established(struct tcpcb *tp, const struct tcpseg *s)
{
    struct fn_stack *st = tp->t_stack;

    tp->t_state = (tp->t_flags & TF_NEEDFIN) ? TCPS_FIN_WAIT_1 : TCPS_ESTABLISHED;
    st->stats.tcp_conn_established++;
    tp->snd_wnd = (uint32_t)s->win << tp->snd_wscale;
    if (tp->snd_wnd > tp->max_sndwnd)
        tp->max_sndwnd = tp->snd_wnd;
    tp->snd_wl1 = s->seq;
    tp->snd_wl2 = s->ack;
    tcp_event(tp, FN_TCP_EV_CONNECTED | FN_TCP_EV_WRITABLE);
}

/* In-order payload pkt of len > 0 bytes at rcv_nxt with nothing queued out of order: kept
 * (returns 1) unless the pool is nearly empty, then freed with an ACK owed (returns 0).
 * Consumes pkt either way. */
static int rcv_in_order(struct tcpcb *tp, struct fn_pkt *pkt, uint32_t len, uint64_t now)
{
    /* The pool is nearly empty: keep nothing, ACK what we have (tcp_pool.c). */
    if (!tcp_pool_may_keep_rcv(tp, now)) {
        fn_pkt_free(pkt);
        tp->t_flags |= TF_ACKNOW;
        return 0;
    }
    tp->rcv_nxt += len;
    tp->t_stack->stats.tcp_rx_bytes += len;
    tcp_rcv_append(tp, pkt);
    tcp_event(tp, FN_TCP_EV_READABLE);
    /* RFC 5681 §4.2 / RFC 9293 §3.8.6.3: ACK at least every second segment; a lone segment
     * waits at most tcp_delack_ms. */
    if (tp->t_flags & TF_DELACK) {
        tp->t_flags |= TF_ACKNOW;
    } else {
        tp->t_flags |= TF_DELACK;
        tcp_timer_arm(tp, TT_DELACK, now + (uint64_t)tcp_cfg(tp)->tcp_delack_ms * 1000000ull);
    }
    return 1;
}

/* Receive payload s (seq already trimmed to rcv_nxt..window) and a FIN. */
static void process_data(struct tcpcb *tp, struct tcpseg *s, int fin, uint64_t now)
{
    struct fn_stack *st = tp->t_stack;
    int fin_in_order = 0;

    if (s->len > 0 && s->seq == tp->rcv_nxt && !tp->reass_head) {
        struct fn_pkt *p = s->pkt;
        s->pkt = NULL;
        if (!rcv_in_order(tp, p, s->len, now))
            return;                     /* not kept: nor is a FIN after it */
        fin_in_order = fin;
    } else if (s->len > 0 && !tcp_pool_may_keep_rcv(tp, now)) {
        /* The pool is nearly empty: keep nothing, ACK what we have (tcp_pool.c). */
        seg_free(s);
        tp->t_flags |= TF_ACKNOW;
        return;
    } else if (s->len > 0 || (fin && s->seq != tp->rcv_nxt) || (fin && tp->reass_head)) {
        struct fn_pkt *p = s->pkt;
        int r;

        if (!p) {
            p = fn_pkt_alloc(st->pool);
            if (!p) {
                st->stats.tcp_nobuf++;
                return;
            }
        }
        s->pkt = NULL;
        tcp_sack_rcv_segment(tp, s->seq, s->len);
        r = tcp_reass(tp, p, s->seq, fin);
        if (r & TCP_REASS_DATA)
            tcp_event(tp, FN_TCP_EV_READABLE);
        fin_in_order = (r & TCP_REASS_FIN) != 0;
        /* RFC 5681 §4.2: out-of-order data, and data that fills (part of) a hole, are
         * acknowledged at once — the duplicate ACKs drive the sender's fast retransmit. */
        tp->t_flags |= TF_ACKNOW;
    } else if (fin) {
        fin_in_order = 1;
    }
    if (fin_in_order)
        process_fin(tp, now);
}

void tcp_hdrpred_data(struct tcpcb *tp, struct fn_pkt *pkt, uint64_t now)
{
    tp->t_stack->stats.tcp_rx_hdrpred_data++;
    (void)rcv_in_order(tp, pkt, pkt->len, now);
    if (tp->t_flags & TF_ACKNOW)
        tcp_output(tp, now);
}

void tcp_input(struct fn_stack *st, void *arg, struct fn_ip_rx *rx, uint64_t now)
{
    struct fn_tcp *tcp = arg;
    struct fn_tcp_info th;
    struct tcpseg s;
    struct tcpcb *tp;
    uint32_t tiwin, win, seglen, todrop;
    int fin, sack, needoutput = 0, zwprobe = 0;

    st->stats.tcp_rx++;
    memset(&s, 0, sizeof(s));
    if (fn_tcp_parse(rx->l4, rx->l4_len, &th) != FN_WIRE_OK) {
        st->stats.tcp_rx_malformed++;
        fn_pkt_free(rx->pkt);
        return;
    }
    /* An illegal option length stops option parsing; what came before it is kept and the
     * segment is still processed (RFC 9293 §3.1). */
    if (fn_tcp_opts_parse(th.opts, th.opts_len, &s.to) != FN_WIRE_OK)
        st->stats.tcp_rx_badopt++;
    s.faddr = rx->ip.src;
    s.sport = th.sport;
    s.dport = th.dport;
    s.seq = th.seq;
    s.ack = th.ack;
    s.flags = th.flags;
    s.win = th.win;
    s.len = th.payload_len;
    fin = (s.flags & FN_TH_FIN) != 0;
    if (rx->pkt) {
        s.pkt = rx->pkt;
        fn_pkt_pull(s.pkt, (uint32_t)(th.payload - s.pkt->data));
        s.pkt->len = s.len;
    } else if (s.len > 0) {
        /* From IP reassembly: the bytes live only during this call.  Keep what fits in one
         * buffer; the rest (and a FIN after it) is simply not acknowledged and comes again. */
        s.pkt = fn_pkt_alloc(st->pool);
        if (s.pkt) {
            uint32_t n = fn_pkt_tailroom(s.pkt);
            if (n < s.len) {
                s.len = n;
                s.flags &= (uint8_t)~FN_TH_FIN;
                fin = 0;
            }
            memcpy(fn_pkt_put(s.pkt, s.len), th.payload, s.len);
        } else {
            st->stats.tcp_nobuf++;
            s.len = 0;
            s.flags &= (uint8_t)~FN_TH_FIN;
            fin = 0;
        }
    }
    if (s.sport == 0 || s.dport == 0) {
        st->stats.tcp_rx_malformed++;
        seg_free(&s);
        return;
    }

    tp = tcp_lookup(tcp, s.faddr, s.sport, s.dport);
    if (!tp) {
        struct tcpcb *l = tcp_lookup_listen_flow(tcp, s.faddr, s.sport, s.dport);
        if (!l) {
            st->stats.tcp_rx_noport++;
            respond_rst(st, &s, now);
            seg_free(&s);
            return;
        }
        tp = tcp_syn_input(l, &s, now);
        if (!tp)
            return;
    }
    tp->t_rcvtime = now;
    /* The peer is alive: its probes are answered and an ICMP soft error is stale
     * (tcp_persist.c, tcp_keepalive.c, tcp_icmp.c). */
    tp->t_probes = 0;
    tp->t_softerror = 0;
    if (tp->t_state == TCPS_SYN_SENT) {
        syn_sent_input(tp, &s, now);
        return;
    }
    tiwin = (uint32_t)s.win << tp->snd_wscale;

    /* Header prediction: the common case of an established connection — in-order data with
     * nothing else going on, or a pure ACK for new data — skips the general checks below
     * (they would all pass) but uses the same helpers. */
    if (tp->t_state == TCPS_ESTABLISHED &&
        (s.flags & (FN_TH_SYN | FN_TH_FIN | FN_TH_RST | FN_TH_URG | FN_TH_ACK)) == FN_TH_ACK &&
        s.seq == tp->rcv_nxt && tiwin != 0 && SEQ_LEQ(tp->snd_wl1, s.seq) &&
        tp->snd_nxt == tp->snd_max && !(tp->t_flags & TF_FASTRECOVERY) && tp->t_dupacks == 0 &&
        s.to.nsack == 0 && tp->snd_sack_n == 0 &&
        (!TS_ON(tp) || (s.to.has_ts && TSTMP_GEQ(s.to.tsval, tp->ts_recent)))) {
        if (TS_ON(tp) && SEQ_LEQ(s.seq, tp->last_ack_sent)) {
            tp->ts_recent = s.to.tsval;
            tp->ts_recent_age = now;
        }
        if (s.len == 0 && SEQ_GT(s.ack, tp->snd_una) && SEQ_LEQ(s.ack, tp->snd_max)) {
            st->stats.tcp_rx_hdrpred_ack++;
            tcp->fast_tp = tp;          /* the flow tcp_fastin.c tries first */
            seg_free(&s);
            tcp_ack_new(tp, s.ack, seg_tsecr(&s), now);
            /* A new ACK from the newest segment always updates the window (§3.10.7.4). */
            tp->snd_wnd = tiwin;
            tp->snd_wl1 = s.seq;
            tp->snd_wl2 = s.ack;
            if (tiwin > tp->max_sndwnd)
                tp->max_sndwnd = tiwin;
            /* Only data not yet sent (the ACK may have opened the window for it) or an
             * owed ACK gives tcp_output work; ack_new already re-armed the timer. */
            if (SEQ_LT(tp->snd_max, tp->snd_una + tp->snd_cc) || (tp->t_flags & TF_ACKNOW))
                tcp_output(tp, now);
            return;
        }
        if (s.len > 0 && s.ack == tp->snd_una && tiwin == tp->snd_wnd && !tp->reass_head &&
            SEQ_LEQ(s.seq + s.len, tp->rcv_adv)) {
            tcp->fast_tp = tp;
            tcp_hdrpred_data(tp, s.pkt, now);
            return;
        }
    }

    /* PAWS (RFC 7323 §5.3 R1): a non-RST segment whose TSval is older than TS.Recent is an
     * old duplicate; ACK it (rate-limited) and drop it. */
    if (TS_ON(tp) && s.to.has_ts && !(s.flags & FN_TH_RST) && tp->ts_recent_age != 0 &&
        TSTMP_LT(s.to.tsval, tp->ts_recent)) {
        if (now - tp->ts_recent_age > PAWS_IDLE_NS) {
            tp->ts_recent_age = 0;      /* R1 exception: TS.Recent too old to trust */
        } else {
            st->stats.tcp_rx_paws++;
            oow_ack(tp, now);
            seg_free(&s);
            return;
        }
    }

    /* RCV.WND: the window we last offered. */
    win = SEQ_GT(tp->rcv_adv, tp->rcv_nxt) ? tp->rcv_adv - tp->rcv_nxt : 0;

    /* RST (RFC 9293 §3.10.7.4 second, as amended by RFC 5961 §3.2). */
    if (s.flags & FN_TH_RST) {
        if (tp->t_state == TCPS_TIME_WAIT) {
            st->stats.tcp_rst_ignored++;        /* RFC 1337: no TIME_WAIT assassination */
        } else if (s.seq == tp->rcv_nxt) {
            st->stats.tcp_rst_rx++;
            seg_free(&s);
            switch (tp->t_state) {
            case TCPS_SYN_RECEIVED:
                /* A passive child goes away quietly; an active (simultaneous) open is
                 * refused. */
                if (!(tp->t_flags & TF_PASSIVE))
                    st->stats.tcp_conn_refused++;
                tcp_drop(tp, ECONNREFUSED);
                return;
            case TCPS_CLOSING:
            case TCPS_LAST_ACK:
                tcp_close(tp);
                return;
            default:
                st->stats.tcp_conn_reset++;
                tcp_drop(tp, ECONNRESET);
                return;
            }
        } else if (SEQ_GEQ(s.seq, tp->rcv_nxt) && SEQ_LT(s.seq, tp->rcv_nxt + win)) {
            challenge_ack(tp, now);             /* in window, not exact */
        } else {
            st->stats.tcp_rst_ignored++;
        }
        seg_free(&s);
        return;
    }

    /* A retransmitted SYN in SYN_RECEIVED (or the peer's SYN,ACK in a simultaneous open):
     * the SYN itself is a duplicate of what we have. */
    if ((s.flags & FN_TH_SYN) && tp->t_state == TCPS_SYN_RECEIVED && s.seq == tp->irs) {
        s.seq++;
        s.flags &= (uint8_t)~FN_TH_SYN;
        if (!(s.flags & FN_TH_ACK)) {
            tp->snd_nxt = tp->iss;              /* send the SYN-ACK again */
            tcp_output(tp, now);
            seg_free(&s);
            return;
        }
    }
    /* A new SYN for a 4-tuple in TIME_WAIT may reopen it (RFC 9293 §3.10.7.4 / RFC 6191):
     * only if it is unmistakably newer — a higher timestamp when both used timestamps, else
     * a sequence number beyond the old connection's — and someone listens on the port. */
    if ((s.flags & (FN_TH_SYN | FN_TH_ACK)) == FN_TH_SYN && tp->t_state == TCPS_TIME_WAIT) {
        struct tcpcb *l = tcp_lookup_listen_flow(tcp, s.faddr, s.sport, s.dport);
        int newer = (TS_ON(tp) && s.to.has_ts) ? TSTMP_LT(tp->ts_recent, s.to.tsval)
                                               : SEQ_GT(s.seq, tp->rcv_nxt);
        if (l && newer) {
            tcp_close(tp);
            (void)tcp_syn_input(l, &s, now);   /* a SYN: never a connection back */
            return;
        }
    }
    /* Any other SYN on a synchronized connection: challenge ACK, never a reset
     * (RFC 5961 §4.2). */
    if (s.flags & FN_TH_SYN) {
        challenge_ack(tp, now);
        seg_free(&s);
        return;
    }

    /* Acceptability (RFC 9293 §3.10.7.4 first, the four cases), mod 2^32. */
    seglen = s.len + (fin ? 1 : 0);
    {
        int ok;
        /* A zero-length segment exactly at the right edge is accepted (SEQ_LEQ, where
         * §3.10.7.4 has <): a peer that filled our window sends its ACKs from there, with
         * its data lost or still in flight, and Linux and FreeBSD accept it too. */
        if (seglen == 0)
            ok = win == 0 ? s.seq == tp->rcv_nxt
                          : SEQ_GEQ(s.seq, tp->rcv_nxt) && SEQ_LEQ(s.seq, tp->rcv_nxt + win);
        else if (win == 0) {
            /* A probe of our zero window (RFC 9293 §3.8.6.1), or a retransmission reaching
             * past RCV.NXT: its text and FIN are trimmed off below, but §3.10.7.4's
             * "special allowance" keeps its ACK and window — when both ends are shut,
             * each one's probes carry the window the other waits for (two stacks echoing
             * under backpressure stalled for ever).  Answered at once, never
             * rate-limited: the prober waits for that ACK's window. */
            ok = zwprobe = SEQ_LEQ(s.seq, tp->rcv_nxt) && SEQ_GT(s.seq + seglen, tp->rcv_nxt);
        } else
            ok = (SEQ_GEQ(s.seq, tp->rcv_nxt) && SEQ_LT(s.seq, tp->rcv_nxt + win)) ||
                 (SEQ_GEQ(s.seq + seglen - 1, tp->rcv_nxt) &&
                  SEQ_LT(s.seq + seglen - 1, tp->rcv_nxt + win));
        if (!ok) {
            if (SEQ_LEQ(s.seq + seglen, tp->rcv_nxt) && seglen > 0) {
                /* An old duplicate (our ACK was lost): ACK at once. */
                st->stats.tcp_rx_dup++;
                if (tp->t_state == TCPS_TIME_WAIT && fin)
                    enter_time_wait(tp, now);   /* FIN again: restart 2·MSL */
                tcp_sack_dsack(tp, s.seq, s.seq + s.len);   /* RFC 2883 §4 */
                tcp_send_ack(tp, now);
            } else {
                st->stats.tcp_rx_oow++;
                oow_ack(tp, now);
            }
            seg_free(&s);
            return;
        }
    }
    /* Trim to the window: bytes before rcv_nxt, then bytes beyond the right edge. */
    todrop = tp->rcv_nxt - s.seq;
    if ((int32_t)todrop > 0) {
        if (todrop > s.len)
            todrop = s.len;
        tcp_sack_dsack(tp, s.seq, s.seq + todrop);      /* RFC 2883 §4.1.3: partly old */
        if (s.pkt)
            fn_pkt_pull(s.pkt, todrop);
        s.len -= todrop;
        s.seq += todrop;
    }
    if (SEQ_GT(s.seq + s.len, tp->rcv_nxt + win)) {
        uint32_t excess = s.seq + s.len - (tp->rcv_nxt + win);
        s.len -= excess;
        if (s.pkt)
            s.pkt->len = s.len;
        fin = 0;                                /* the FIN lies beyond the window */
        st->stats.tcp_rx_rcvbuf_full++;
    } else if (fin && SEQ_GT(s.seq + s.len + 1, tp->rcv_nxt + win) && win == 0) {
        fin = 0;
    }

    /* New data for a socket its owner has closed: nobody will read it (RFC 9293 §3.10.7.4
     * seventh; FreeBSD and Linux reset here).  The RST goes at snd_max: snd_nxt may be
     * rewound for a retransmission, and the peer checks a RST against its RCV.NXT. */
    if ((tp->t_flags & TF_DETACHED) && s.len > 0 && tp->t_state > TCPS_CLOSE_WAIT) {
        tcp_respond(st, tp, tp->faddr, tp->fport, tp->lport, tp->snd_max, 0, FN_TH_RST, now);
        seg_free(&s);
        tcp_drop(tp, ECONNRESET);
        return;
    }

    /* RFC 7323 §4.3: TS.Recent follows the segment that sits at Last.ACK.sent. */
    if (TS_ON(tp) && s.to.has_ts && SEQ_LEQ(s.seq, tp->last_ack_sent)) {
        tp->ts_recent = s.to.tsval;
        tp->ts_recent_age = now;
    }

    /* ACK (RFC 9293 §3.10.7.4 fifth). */
    if (!(s.flags & FN_TH_ACK)) {
        st->stats.tcp_rx_dropped++;
        seg_free(&s);
        if (zwprobe)
            tcp_send_ack(tp, now);
        return;
    }
    if (tp->t_state == TCPS_SYN_RECEIVED) {
        if (SEQ_LEQ(s.ack, tp->snd_una) || SEQ_GT(s.ack, tp->snd_max)) {
            respond_rst(st, &s, now);
            st->stats.tcp_ack_unacceptable++;
            seg_free(&s);
            return;
        }
        syn_rcvd_established(tp, &s);
    }
    /* RFC 5961 §5.2: acceptable only if SND.UNA - MAX.SND.WND <= SEG.ACK <= SND.NXT. */
    if (SEQ_GT(s.ack, tp->snd_max) || SEQ_LT(s.ack, tp->snd_una - tp->max_sndwnd)) {
        st->stats.tcp_ack_unacceptable++;
        challenge_ack(tp, now);
        seg_free(&s);
        return;
    }
    sack = tcp_sack_input(tp, &s.to, s.ack);
    if (SEQ_LEQ(s.ack, tp->snd_una)) {
        /* RFC 5681 §2: a duplicate ACK carries no data (a probe of our shut window did,
         * trimmed or not), no SYN/FIN, the same window, acks snd_una, and data is
         * outstanding — not the answer to a zero-window probe, and with SACK not if its
         * blocks are old news (RFC 6675 §2). */
        if (s.len == 0 && !fin && !zwprobe && tiwin == tp->snd_wnd &&
            s.ack == tp->snd_una && tp->snd_max != tp->snd_una && tp->t_timer[TT_PERSIST] == 0 &&
            sack != TCP_SACK_OLD) {
            seg_free(&s);
            dup_ack(tp, now);
            return;
        }
        /* New SACK information is evidence of loss even on an ACK that carries data or
         * a window change (both ways busy): count it as a duplicate. */
        if (sack == TCP_SACK_NEW && s.ack == tp->snd_una && tp->snd_max != tp->snd_una)
            dup_ack(tp, now);
        /* Otherwise not a duplicate (data, a window update), but it does not move SND.UNA
         * either: the count of duplicates goes on (RFC 5681 §3.2 "without any intervening
         * ACKs which move SND.UNA"); only ack_new() restarts it. */
    } else {
        int fin_acked = tcp_ack_new(tp, s.ack, seg_tsecr(&s), now);
        needoutput = 1;
        if (fin_acked) {
            switch (tp->t_state) {
            case TCPS_FIN_WAIT_1:
                tp->t_state = TCPS_FIN_WAIT_2;
                /* Nothing stays in FIN_WAIT_2 forever once the owner is gone. */
                if (tp->t_flags & TF_DETACHED)
                    tcp_timer_arm(tp, TT_2MSL,
                                  now + (uint64_t)tcp_cfg(tp)->tcp_fin_wait2_ms * 1000000ull);
                break;
            case TCPS_CLOSING:
                enter_time_wait(tp, now);
                break;
            case TCPS_LAST_ACK:
                seg_free(&s);
                tcp_close(tp);
                return;
            default:
                break;
            }
        }
    }

    /* Window update (RFC 9293 §3.10.7.4: SND.WL1 / SND.WL2 guard against old segments). */
    if (SEQ_LT(tp->snd_wl1, s.seq) ||
        (tp->snd_wl1 == s.seq &&
         (SEQ_LT(tp->snd_wl2, s.ack) || (tp->snd_wl2 == s.ack && tiwin > tp->snd_wnd)))) {
        if (tiwin > tp->snd_wnd)
            needoutput = 1;
        /* The window reopens after zero-window probing: the probe byte was not taken, so
         * send again from the first unacknowledged byte. */
        if (tp->snd_wnd == 0 && tiwin > 0 && SEQ_GT(tp->snd_nxt, tp->snd_una))
            tp->snd_nxt = tp->snd_una;
        tp->snd_wnd = tiwin;
        /* A segment ahead of RCV.NXT (the peer's data before it still missing) counts as
         * sent at RCV.NXT: recorded at its own SEG.SEQ, SND.WL1 would make every segment
         * below it — the missing data when it comes again included — fail this test, and a
         * window the peer reopens in them would be ignored until its sequence numbers pass
         * the early one (a stall under a zero window). */
        tp->snd_wl1 = SEQ_GT(s.seq, tp->rcv_nxt) ? tp->rcv_nxt : s.seq;
        tp->snd_wl2 = s.ack;
        if (tiwin > tp->max_sndwnd)
            tp->max_sndwnd = tiwin;
    }

    /* The probe is answered now, by the data its ACK let out if any. */
    if (zwprobe)
        tp->t_flags |= TF_ACKNOW;
    /* Text and FIN: only while the peer has not closed (RFC 9293 §3.10.7.4 seventh). */
    if (TCPS_HAVERCVDFIN(tp->t_state)) {
        if (tp->t_state == TCPS_TIME_WAIT && fin) {
            enter_time_wait(tp, now);
            tp->t_flags |= TF_ACKNOW;
        }
    } else if (s.len > 0 || fin) {
        process_data(tp, &s, fin, now);
    }
    seg_free(&s);
    if (needoutput || (tp->t_flags & TF_ACKNOW))
        tcp_output(tp, now);
}
