/*
 * tcp_fastin.c — the two common segments of an established connection in one step each
 * (issue 3): pure ACKs for new data (a run of them in one receive batch in one step), and
 * in-order data.  The frame is checked against the one flow header prediction last took,
 * and what the layered path (ip_fastin, tcp_input's header prediction) would do to it is
 * done directly.
 *
 * Contract: fn_ether_input_batch calls tcp_fast_acks() at a frame of a pure ACK's length,
 * tcp_fast_data() for a longer one.  Each decides on a frame with reads only.  It takes the
 * frame only when it is an Ethernet frame to our MAC carrying a 20-byte-header IPv4
 * datagram to us, not a fragment, with a valid header checksum, carrying a 32-byte TCP header
 * with the NOP NOP TS option layout, flags ACK or ACK|PSH, a valid TCP checksum, for
 * tcp->fast_tp, and that connection is ESTABLISHED and the segment would pass header
 * prediction with an unchanged window: tcp_fast_acks pure ACKs for new data, tcp_fast_data
 * in-order payload (the frame's Ethernet padding ignored, as IP does) that acknowledges
 * nothing new.  It then applies the counters the layered path would (the Ethernet ones
 * are fn_ether_input_batch's) plus tcp_rx_fastack, leaves the state it would leave segment
 * by segment, and frees or keeps the frames as it would.  Anything else returns 0 with
 * nothing changed or counted, and the layered path handles the frame.  So behaviour is that
 * of the layered path (tests/test_tcp_fastin.c compares them, tests/test_tcp_ackbatch.c a
 * batch with the same frames one poll each); only the cost differs.  Never allocates,
 * cannot fail.  Stack-owner core only.
 */
#include <string.h>

#include "core/fn_stack_impl.h"
#include "net/fn_net.h"
#include "tcp/tcp_ack.h"
#include "tcp/tcp_csum.h"
#include "tcp/tcp_var.h"
#include "wire/fn_wire.h"

/* Where the parts of the one frame shape this path takes lie. */
enum {
    FA_IP = FN_ETH_HLEN,
    FA_TCP = FN_ETH_HLEN + FN_IPV4_HLEN,
    FA_OPT = FA_TCP + FN_TCP_HLEN,
    FA_LEN = TCP_FASTACK_FRAME_LEN,
};
_Static_assert(FA_LEN == FA_OPT + 12, "NOP NOP TS: RFC 7323 Appendix A");

static inline uint16_t fa_rd16(const uint8_t *b)
{
    return (uint16_t)(b[0] << 8 | b[1]);
}

static inline uint32_t fa_rd32(const uint8_t *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* Raw words in memory order (tcp_ld64 too): the header checks compare them with masks and
 * expected values built in memory order too, so they hold on either byte order. */
static inline uint32_t fa_ld32(const uint8_t *p)
{
    uint32_t w;

    memcpy(&w, p, 4);
    return w;
}

static inline uint16_t fa_ld16(const uint8_t *p)
{
    uint16_t w;

    memcpy(&w, p, 2);
    return w;
}

/* Masks and expected values of the fixed bytes, in memory order.  IPv4 bytes 0-7: version 4
 * with a 20-byte header, the total length, no MF and offset 0 (TOS, id and DF are free). */
static const uint8_t fa_ip0_mask[8] = {0xff, 0, 0xff, 0xff, 0, 0, 0x3f, 0xff};
/* IPv4 bytes 8-15: protocol TCP and the source (TTL and checksum are free). */
static const uint8_t fa_ip8_mask[8] = {0, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff};
/* Ethernet bytes 12-13: IPv4. */
static const uint8_t fa_ethertype[2] = {FN_ETHERTYPE_IPV4 >> 8, FN_ETHERTYPE_IPV4 & 0xff};
/* TCP bytes 12-13: a 32-byte header, no reserved bit, flags ACK (PSH is free). */
static const uint8_t fa_th12_mask[2] = {0xff, (uint8_t)~FN_TH_PUSH};
static const uint8_t fa_th12_want[2] = {0x80, FN_TH_ACK};
/* TCP bytes 20-23: NOP NOP TS (RFC 7323 Appendix A); and the pseudo-header's zero,
 * protocol and TCP length words of a pure ACK (RFC 9293 §3.1). */
static const uint8_t fa_opt_want[4] = {1, 1, 8, 10};
static const uint8_t fa_pseudo[4] = {0, FN_IPPROTO_TCP, 0, FA_LEN - FA_TCP};

/* The frame's Ethernet, IPv4 and TCP headers are those of tp's flow in the one shape this
 * path takes, with IPv4 total length tot (which the caller has checked fits the frame); both
 * checksums are verified (RFC 791 §3.1, RFC 9293 §3.1) unless the backend verified the TCP
 * one.  Exactly what ip_fastin and tcp_input's parse would accept for this shape: the source
 * needs no fn_ip_src_ok here, as it is tp's peer, which passed that check when header
 * prediction made tp the fast path's flow (and the stack's address and mask never change).
 * Inlined like fa_predict. */
__attribute__((always_inline)) static inline int fa_headers_ok(const struct fn_stack *st,
                                                               const struct tcpcb *tp,
                                                               const struct fn_pkt *pkt,
                                                               uint32_t tot)
{
    const uint8_t *f = pkt->data, *ip = f + FA_IP, *th = f + FA_TCP;
    uint8_t ip0_want[8] = {0x45, 0, (uint8_t)(tot >> 8), (uint8_t)tot, 0, 0, 0, 0};
    uint8_t src8[8] = {0, FN_IPPROTO_TCP, 0, 0}, ports[4];
    uint64_t ip0 = tcp_ld64(ip), ip8 = tcp_ld64(ip + 8), sum;
    uint32_t dst = fa_ld32(ip + 16);

    memcpy(src8 + 4, &tp->faddr, 4);
    ports[0] = (uint8_t)(tp->fport >> 8);
    ports[1] = (uint8_t)tp->fport;
    ports[2] = (uint8_t)(tp->lport >> 8);
    ports[3] = (uint8_t)tp->lport;
    if (fa_ld32(f) != fa_ld32(st->mac) || fa_ld16(f + 4) != fa_ld16(st->mac + 4) ||
        fa_ld16(f + 12) != fa_ld16(fa_ethertype) ||
        (ip0 & tcp_ld64(fa_ip0_mask)) != tcp_ld64(ip0_want) ||
        (ip8 & tcp_ld64(fa_ip8_mask)) != tcp_ld64(src8) || dst != st->cfg.ip ||
        fa_ld32(th) != fa_ld32(ports) ||
        (fa_ld16(th + 12) & fa_ld16(fa_th12_mask)) != fa_ld16(fa_th12_want) ||
        fa_ld32(th + 20) != fa_ld32(fa_opt_want))
        return 0;
    if (!tcp_csum_ok(tcp_csum_add(tcp_csum_add(ip0, ip8), dst)))
        return 0;
    if (pkt->flags & (FN_PKT_F_L4_CSUM_OK | FN_PKT_F_L4_CSUM_PARTIAL))
        return 1;
    if (tot != FA_LEN - FA_IP)
        return fn_csum_fold(fn_csum_partial(th, tot - FN_IPV4_HLEN,
                                            fn_csum_pseudo(fa_ld32(ip + 12), dst, FN_IPPROTO_TCP,
                                                           (uint16_t)(tot - FN_IPV4_HLEN)))) == 0;
    /* A pure ACK: the 32 header bytes and the pseudo-header (source and destination as they
     * are in the IPv4 header) summed inline. */
    sum = (uint64_t)fa_ld32(ip + 12) + dst + fa_ld32(fa_pseudo);
    return tcp_csum_ok(tcp_csum_hdr32(th, sum));
}

/* The fields of the segment header prediction looks at (host order, window scaled). */
struct fa_seg {
    uint32_t seq, ack, tiwin, tsval, tsecr;
};

/* The fields of the segment at th (a 32-byte header with NOP NOP TS) for tp. */
__attribute__((always_inline)) static inline void fa_parse(const struct tcpcb *tp,
                                                         const uint8_t *th, struct fa_seg *g)
{
    g->seq = fa_rd32(th + 4);
    g->ack = fa_rd32(th + 8);
    g->tiwin = (uint32_t)fa_rd16(th + 14) << tp->snd_wscale;
    g->tsval = fa_rd32(th + FN_TCP_HLEN + 4);
    g->tsecr = fa_rd32(th + FN_TCP_HLEN + 8);
}

/* The cached flow, if the frame's headers are its own and the segment passes what header
 * prediction asks of pure ACKs and data alike; NULL otherwise.  Inlined into each caller
 * whatever the compiler's estimate: the pure ACK's constants fold into it. */
__attribute__((always_inline)) static inline struct tcpcb *fa_predict(const struct fn_stack *st,
                                                                     const struct fn_pkt *pkt,
                                                                     uint32_t tot,
                                                                     struct fa_seg *g)
{
    struct tcpcb *tp = st->tcp ? st->tcp->fast_tp : NULL;     /* NULL: TCP not set up */
    const uint8_t *th = pkt->data + FA_TCP;

    if (!tp || tp->t_state != TCPS_ESTABLISHED || !TS_ON(tp) || !fa_headers_ok(st, tp, pkt, tot))
        return NULL;
    fa_parse(tp, th, g);
    /* tcp_input's header prediction, and the window unchanged (a window change takes the
     * general path). */
    if (g->seq != tp->rcv_nxt || g->tiwin == 0 || g->tiwin != tp->snd_wnd ||
        SEQ_GT(tp->snd_wl1, g->seq) || tp->snd_nxt != tp->snd_max ||
        (tp->t_flags & TF_FASTRECOVERY) || tp->t_dupacks != 0 || tp->snd_sack_n != 0 ||
        TSTMP_LT(g->tsval, tp->ts_recent))
        return NULL;
    return tp;
}

/* What ip_fastin and tcp_input do to every segment they pass to header prediction, in their
 * order. */
static inline void fa_arrived(struct fn_stack *st, struct tcpcb *tp, const struct fa_seg *g,
                              uint64_t now)
{
    st->stats.ip_rx++;
    st->stats.tcp_rx++;
    tp->t_rcvtime = now;
    tp->t_probes = 0;
    tp->t_softerror = 0;
    /* RFC 7323 §4.3: TS.Recent follows the segment that sits at Last.ACK.sent. */
    if (SEQ_LEQ(g->seq, tp->last_ack_sent)) {
        tp->ts_recent = g->tsval;
        tp->ts_recent_age = now;
    }
    st->stats.tcp_rx_fastack++;
}

/* What tcp_fast_acks makes of one frame. */
enum {
    FA_SLOW,    /* not a pure ACK of new data for the cached flow: the layered path's */
    FA_RUN,     /* one, with an RTT sample from its timestamp echo: may join a run */
    FA_ONE,     /* one, without such a sample: taken alone (tcp_ack_advance) */
};

/* What the checks of a run's frames compare with: tp's fields no ACK of the run changes,
 * and the running SND.UNA and TS.Recent (kept here, not in tp, while the run lasts). */
struct fa_run {
    uint32_t rcv_nxt, snd_wnd, snd_wl1, snd_max;
    uint32_t una, tsr, tsnow;   /* tsnow: our TSval now */
};

/* Classify the frame as the run so far leaves the connection; g gets its fields. */
__attribute__((always_inline)) static inline int fa_ack_class(const struct fn_stack *st,
                                                              const struct tcpcb *tp,
                                                              const struct fn_pkt *pkt,
                                                              const struct fa_run *r,
                                                              struct fa_seg *g)
{
    const uint8_t *th = pkt->data + FA_TCP;

    if (pkt->len != FA_LEN || !fa_headers_ok(st, tp, pkt, FA_LEN - FA_IP))
        return FA_SLOW;
    fa_parse(tp, th, g);
    /* Header prediction with the window unchanged (as fa_predict), for new data. */
    if (g->seq != r->rcv_nxt || g->tiwin == 0 || g->tiwin != r->snd_wnd ||
        SEQ_GT(r->snd_wl1, g->seq) || TSTMP_LT(g->tsval, r->tsr) || SEQ_LEQ(g->ack, r->una) ||
        SEQ_GT(g->ack, r->snd_max))
        return FA_SLOW;
    /* tcp_rtt_sample's timestamp case. */
    return g->tsecr != 0 && r->tsnow - g->tsecr < 0x7fffffffu ? FA_RUN : FA_ONE;
}

/* One pure ACK for new data, as header prediction takes it. */
static void fa_ack_one(struct fn_stack *st, struct tcpcb *tp, struct fn_pkt *pkt,
                       const struct fa_seg *g, uint64_t now)
{
    fa_arrived(st, tp, g, now);
    st->stats.tcp_rx_hdrpred_ack++;
    fn_pkt_release(pkt);
    tcp_ack_advance(tp, g->ack, g->tsecr, now);
    tp->snd_wl1 = g->seq;
    tp->snd_wl2 = g->ack;
    /* As after header prediction's pure ACK: only unsent data the ACK may have let out, or
     * an owed ACK, gives tcp_output work. */
    if (SEQ_LT(tp->snd_max, tp->snd_una + tp->snd_cc) || (tp->t_flags & TF_ACKNOW))
        tcp_output(tp, now);
}

/*
 * A run of pure ACKs for new data of the cached flow, consecutive in one receive batch, in
 * one step (FreeBSD's LRO ACK compression, with the semantics of one ACK at a time kept
 * exact).  Within a run nothing but the ACKs themselves changes the connection: all arrive
 * at the same now, none carries data, a window change, SACK blocks or anything header
 * prediction would not take (a frame that does ends the run, and goes on its own way after
 * it), and — the run's condition — none gives tcp_output work: no unsent data and no ACK
 * owed (snd_una + snd_cc does not move with an ACK, so that holds for all of them or none;
 * when it does not, each ACK is a run of its own and tcp_output follows it, as one at a
 * time).  So per ACK only what depends on the order is done: its checks against the running SND.UNA
 * and TS.Recent, its RTT sample (SRTT and RTTVAR are an exponential average, one step per
 * sample, RFC 6298 §2.3) and, while cwnd is what limits the flight, its congestion-control
 * step.  The rest is done once for the run with the values the last ACK leaves: the RTO
 * (a function of SRTT and RTTVAR only), the send chain's drop, the retransmission timer
 * (re-armed from the same now by each ACK), the counters, TS.Recent, SND.WL1/WL2, the
 * writable event, and the congestion-control step of the ACKs that are not cwnd-limited
 * (as the flight only shrinks within a run, those are the run's tail; cc.h: such a step
 * depends on nothing but now, once is as many times).
 */
__attribute__((always_inline)) static inline int fa_run(struct fn_stack *st,
                                                        struct fn_pkt **v, int n, uint64_t now,
                                                        int *slow, int *sent)
{
    struct tcpcb *tp = st->tcp ? st->tcp->fast_tp : NULL;     /* NULL: TCP not set up */
    struct fa_seg g;
    struct fa_run r;
    uint64_t srtt, rttvar;
    uint32_t mss, acked = 0, applim = 0;
    int k, c = FA_SLOW, one, syn, tsupd;

    *slow = 1;
    *sent = 0;
    /* fa_predict's conditions on the connection: none changes within a run. */
    if (!tp || tp->t_state != TCPS_ESTABLISHED || !TS_ON(tp) || tp->snd_nxt != tp->snd_max ||
        (tp->t_flags & TF_FASTRECOVERY) || tp->t_dupacks != 0 || tp->snd_sack_n != 0)
        return 0;
    r.rcv_nxt = tp->rcv_nxt;
    r.snd_wnd = tp->snd_wnd;
    r.snd_wl1 = tp->snd_wl1;
    r.snd_max = tp->snd_max;
    r.una = tp->snd_una;
    r.tsr = tp->ts_recent;
    r.tsnow = tcp_ts_now(tp, now);
    srtt = tp->t_srtt;
    rttvar = tp->t_rttvar;
    /* Output due after each ACK (the ACK may let unsent data out, or one is owed): a run
     * of one, then tcp_output — the next ACK must find what it sent in flight. */
    one = SEQ_LT(r.snd_max, r.una + tp->snd_cc) || (tp->t_flags & TF_ACKNOW);
    /* Our SYN still unacked (simultaneous open): tcp_ack_advance, one ACK at a time. */
    syn = (tp->t_flags & TF_SYNUNACKED) != 0;
    /* RFC 7323 §4.3: TS.Recent follows every ACK of the run, or none (SEG.SEQ is RCV.NXT
     * for them all, and Last.ACK.sent does not move without output). */
    tsupd = SEQ_LEQ(tp->rcv_nxt, tp->last_ack_sent);
    mss = tcp_maxseg(tp);
    for (k = 0; k < n; k++) {
        uint32_t flight;

        c = fa_ack_class(st, tp, v[k], &r, &g);
        if (c != FA_RUN || syn) {
            c = c == FA_SLOW ? FA_SLOW : FA_ONE;
            break;
        }
        tcp_rtt_step(&srtt, &rttvar, tcp_ts_rtt(r.tsnow - g.tsecr));
        acked = g.ack - r.una;
        flight = r.snd_max - r.una;
        r.una = g.ack;
        if (tsupd)
            r.tsr = g.tsval;
        fn_pkt_release(v[k]);
        /* tcp_cc_ack for a cwnd-limited ACK, now; the others once at the end. */
        if (flight + mss >= tp->snd_cwnd) {
            tp->ccv.flags = CCF_CWND_LIMITED;
            tcp_ccv_ack(tp, acked, r.snd_max - r.una, now, srtt);
            tp->cc_algo->ack_received(&tp->ccv, CC_ACK);
        } else {
            applim++;
        }
        if (one) {
            k++;
            break;
        }
    }
    if (k == 0) {
        if (c == FA_SLOW)
            return 0;
        fa_ack_one(st, tp, v[0], &g, now);
        *slow = 0;
        return 1;
    }
    *slow = !one && k < n && c == FA_SLOW;
    /* What each ACK would have done, with the last one's values. */
    st->stats.ip_rx += (uint64_t)k;
    st->stats.tcp_rx += (uint64_t)k;
    st->stats.tcp_rx_fastack += (uint64_t)k;
    st->stats.tcp_rx_hdrpred_ack += (uint64_t)k;
    st->stats.tcp_cc_app_limited += applim;
    tp->t_rcvtime = now;
    tp->t_probes = 0;
    tp->t_softerror = 0;
    if (tsupd) {
        tp->ts_recent = r.tsr;
        tp->ts_recent_age = now;
    }
    tp->t_srtt = srtt;
    tp->t_rttvar = rttvar;
    tp->t_rtttime = 0;
    tcp_rto_update(tp);
    tcp_sb_drop(tp, r.una - tp->snd_una);
    tp->snd_una = r.una;
    if (r.una != r.snd_max) {
        tcp_timer_arm(tp, TT_REXMT, tcp_rexmt_deadline(tp, now));  /* RFC 6298 §5.3 */
    } else {
        if (k > 1)
            tp->t_uto_start = now;      /* as the earlier ACKs' re-arming left it */
        tcp_timer_stop(tp, TT_REXMT);   /* §5.2 */
    }
    tcp_ccv_ack(tp, acked, r.snd_max - r.una, now, srtt);
    if (applim) {
        tp->ccv.flags = 0;
        tp->cc_algo->ack_received(&tp->ccv, CC_ACK);
    }
    if (!(tp->t_flags & TF_NEEDFIN))
        tcp_event(tp, FN_TCP_EV_WRITABLE);
    tp->snd_wl1 = tp->rcv_nxt;
    tp->snd_wl2 = r.una;
    if (one) {
        tcp_output(tp, now);
        *sent = 1;
    }
    return k;
}

int tcp_fast_acks(struct fn_stack *st, struct fn_pkt **v, int n, uint64_t now, int *slow)
{
    int done = 0, sent;

    /* After a run of one and its output, the next frame in this call: a stream of ACKs
     * that each let data out pays one call, not one per ACK. */
    do
        done += fa_run(st, v + done, n - done, now, slow, &sent);
    while (sent && done < n);
    return done;
}

/* The caller has checked pkt->len > TCP_FASTACK_FRAME_LEN. */
int tcp_fast_data(struct fn_stack *st, struct fn_pkt *pkt, uint64_t now)
{
    struct fa_seg g;
    uint32_t tot = fa_rd16(pkt->data + FA_IP + 2), len = tot - (FA_LEN - FA_IP);
    struct tcpcb *tp;

    /* Payload, all of it inside the frame. */
    if (tot <= FA_LEN - FA_IP || tot > pkt->len - FA_IP)
        return 0;
    tp = fa_predict(st, pkt, tot, &g);
    /* In-order data that acknowledges nothing new, inside the window offered. */
    if (!tp || g.ack != tp->snd_una || tp->reass_head || SEQ_GT(g.seq + len, tp->rcv_adv))
        return 0;
    /* What IP and TCP input do to the frame they keep: the payload alone remains. */
    pkt->l3_off = FN_ETH_HLEN;
    fn_pkt_pull(pkt, FA_LEN);
    pkt->len = len;
    fa_arrived(st, tp, &g, now);
    tcp_hdrpred_data(tp, pkt, now);
    return 1;
}
