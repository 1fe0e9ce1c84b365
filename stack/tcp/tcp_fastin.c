/*
 * tcp_fastin.c — the pure ACK of an established connection in one step (issue 3): the frame
 * is checked against the one flow header prediction last took a pure ACK for, and what the
 * layered path (ip_fastin, tcp_input's header prediction) would do to it is done directly.
 *
 * Contract: tcp_fast_ack() is called by fn_ip_fast_input for a frame of its length.  It
 * decides with reads only.  It takes the frame (returns 1) only when it is an Ethernet frame
 * to our MAC carrying a 20-byte-header IPv4 datagram to us, not a fragment, with a valid header
 * checksum, carrying exactly a 32-byte TCP header with the NOP NOP TS option layout, flags
 * ACK or ACK|PSH, no payload, a valid TCP checksum, for tcp->fast_tp, and that connection is
 * ESTABLISHED and the segment would pass header prediction as a pure ACK for new data with
 * an unchanged window.  It then applies the same counters (plus tcp_rx_fastack) and state
 * changes in the same order as the layered path and frees the frame.  Anything else returns
 * 0 with nothing changed or counted, and the layered path handles the frame.  So behaviour
 * is that of the layered path (tests/test_tcp_fastin.c compares them); only the cost
 * differs.  Never allocates, cannot fail.  Stack-owner core only.
 */
#include <string.h>

#include "core/fn_stack_impl.h"
#include "net/fn_net.h"
#include "tcp/tcp_ack.h"
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

/* Raw words in memory order: the header checks compare them with masks and expected values
 * built in memory order too, so they hold on either byte order. */
static inline uint64_t fa_ld64(const uint8_t *p)
{
    uint64_t w;

    memcpy(&w, p, 8);
    return w;
}

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

/* RFC 1071 §2(B): the Internet checksum may be summed in 64-bit words with end-around
 * carry; one add of w to the sum. */
static inline uint64_t fa_adc(uint64_t sum, uint64_t w)
{
    sum += w;
    return sum + (sum < w);
}

/* Is the data summed, which includes its checksum field, correct?  Folding the 64-bit sum
 * to 16 bits keeps it modulo 0xffff (2^16 ≡ 1), and a correct field makes the folded sum
 * 0xffff; a folded sum is 0 only for an all-zero input (sum == 0).  So the one remainder
 * by a constant (a multiply and shifts) replaces the folds. */
static inline int fa_csum_ok(uint64_t sum)
{
    return sum != 0 && sum % 0xffffu == 0;
}

/* Masks and expected values of the fixed bytes, in memory order.  IPv4 bytes 0-7: version 4
 * with a 20-byte header, total length 52, no MF and offset 0 (TOS, id and DF are free). */
static const uint8_t fa_ip0_mask[8] = {0xff, 0, 0xff, 0xff, 0, 0, 0x3f, 0xff};
static const uint8_t fa_ip0_want[8] = {0x45, 0, 0, FA_LEN - FA_IP, 0, 0, 0, 0};
/* IPv4 bytes 8-15: protocol TCP and the source (TTL and checksum are free). */
static const uint8_t fa_ip8_mask[8] = {0, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff};
/* Ethernet bytes 12-13: IPv4. */
static const uint8_t fa_ethertype[2] = {FN_ETHERTYPE_IPV4 >> 8, FN_ETHERTYPE_IPV4 & 0xff};
/* TCP bytes 12-13: a 32-byte header, no reserved bit, flags ACK (PSH is free). */
static const uint8_t fa_th12_mask[2] = {0xff, (uint8_t)~FN_TH_PUSH};
static const uint8_t fa_th12_want[2] = {0x80, FN_TH_ACK};
/* TCP bytes 20-23: NOP NOP TS (RFC 7323 Appendix A); and the pseudo-header's zero,
 * protocol and TCP length words (RFC 9293 §3.1). */
static const uint8_t fa_opt_want[4] = {1, 1, 8, 10};
static const uint8_t fa_pseudo[4] = {0, FN_IPPROTO_TCP, 0, FA_LEN - FA_TCP};

/* The frame's Ethernet, IPv4 and TCP headers are those of tp's flow in the one shape this path takes;
 * both checksums are verified (RFC 791 §3.1, RFC 9293 §3.1) unless the backend verified the
 * TCP one.  Exactly what ip_fastin and tcp_input's parse would accept for this shape: the
 * source needs no fn_ip_src_ok here, as it is tp's peer, which passed that check when
 * header prediction made tp the fast path's flow (and the stack's address and mask never
 * change). */
static inline int fa_headers_ok(const struct fn_stack *st, const struct tcpcb *tp,
                                const struct fn_pkt *pkt)
{
    const uint8_t *f = pkt->data, *ip = f + FA_IP, *th = f + FA_TCP;
    uint8_t src8[8] = {0, FN_IPPROTO_TCP, 0, 0}, ports[4];
    uint64_t ip0 = fa_ld64(ip), ip8 = fa_ld64(ip + 8), sum;
    uint32_t dst = fa_ld32(ip + 16);

    memcpy(src8 + 4, &tp->faddr, 4);
    ports[0] = (uint8_t)(tp->fport >> 8);
    ports[1] = (uint8_t)tp->fport;
    ports[2] = (uint8_t)(tp->lport >> 8);
    ports[3] = (uint8_t)tp->lport;
    if (fa_ld32(f) != fa_ld32(st->mac) || fa_ld16(f + 4) != fa_ld16(st->mac + 4) ||
        fa_ld16(f + 12) != fa_ld16(fa_ethertype) ||
        (ip0 & fa_ld64(fa_ip0_mask)) != fa_ld64(fa_ip0_want) ||
        (ip8 & fa_ld64(fa_ip8_mask)) != fa_ld64(src8) || dst != st->cfg.ip ||
        fa_ld32(th) != fa_ld32(ports) ||
        (fa_ld16(th + 12) & fa_ld16(fa_th12_mask)) != fa_ld16(fa_th12_want) ||
        fa_ld32(th + 20) != fa_ld32(fa_opt_want))
        return 0;
    if (!fa_csum_ok(fa_adc(fa_adc(ip0, ip8), dst)))
        return 0;
    if (pkt->flags & (FN_PKT_F_L4_CSUM_OK | FN_PKT_F_L4_CSUM_PARTIAL))
        return 1;
    /* The pseudo-header: source and destination as they are in the IPv4 header. */
    sum = (uint64_t)fa_ld32(ip + 12) + dst + fa_ld32(fa_pseudo);
    sum = fa_adc(fa_adc(sum, fa_ld64(th)), fa_ld64(th + 8));
    return fa_csum_ok(fa_adc(fa_adc(sum, fa_ld64(th + 16)), fa_ld64(th + 24)));
}

/* The caller has checked pkt->len == TCP_FASTACK_FRAME_LEN (so that other frames pay one
 * compare, not a call). */
int tcp_fast_ack(struct fn_stack *st, struct fn_pkt *pkt, uint64_t now)
{
    struct tcpcb *tp = st->tcp ? st->tcp->fast_tp : NULL;     /* NULL: TCP not set up */
    const uint8_t *th;
    uint32_t seq, ack, tiwin, tsval, tsecr;

    if (!tp || tp->t_state != TCPS_ESTABLISHED || !TS_ON(tp) || !fa_headers_ok(st, tp, pkt))
        return 0;
    th = pkt->data + FA_TCP;
    seq = fa_rd32(th + 4);
    ack = fa_rd32(th + 8);
    tiwin = (uint32_t)fa_rd16(th + 14) << tp->snd_wscale;
    tsval = fa_rd32(th + FN_TCP_HLEN + 4);
    tsecr = fa_rd32(th + FN_TCP_HLEN + 8);
    /* tcp_input's header prediction for a pure ACK of new data, and the window unchanged
     * (a window change takes the general path). */
    if (seq != tp->rcv_nxt || tiwin == 0 || tiwin != tp->snd_wnd || SEQ_GT(tp->snd_wl1, seq) ||
        tp->snd_nxt != tp->snd_max || (tp->t_flags & TF_FASTRECOVERY) || tp->t_dupacks != 0 ||
        tp->snd_sack_n != 0 || TSTMP_LT(tsval, tp->ts_recent) || SEQ_LEQ(ack, tp->snd_una) ||
        SEQ_GT(ack, tp->snd_max))
        return 0;

    /* From here on, what ip_fastin and tcp_input do to this segment, in their order. */
    st->stats.ip_rx++;
    st->stats.tcp_rx++;
    tp->t_rcvtime = now;
    tp->t_probes = 0;
    tp->t_softerror = 0;
    /* RFC 7323 §4.3: TS.Recent follows the segment that sits at Last.ACK.sent. */
    if (SEQ_LEQ(seq, tp->last_ack_sent)) {
        tp->ts_recent = tsval;
        tp->ts_recent_age = now;
    }
    st->stats.tcp_rx_hdrpred_ack++;
    st->stats.tcp_rx_fastack++;
    fn_pkt_free(pkt);
    tcp_ack_advance(tp, ack, tsecr, now);
    tp->snd_wl1 = seq;
    tp->snd_wl2 = ack;
    /* As after header prediction's pure ACK: only unsent data the ACK may have let out, or
     * an owed ACK, gives tcp_output work. */
    if (SEQ_LT(tp->snd_max, tp->snd_una + tp->snd_cc) || (tp->t_flags & TF_ACKNOW))
        tcp_output(tp, now);
    return 1;
}
