/*
 * tcp_sack.c — selective acknowledgments: the receiver's SACK and D-SACK blocks (RFC 2018
 * §3-4, RFC 2883 §4), the sender's scoreboard and the conservative SACK-based loss recovery
 * of RFC 6675 (IsLost, pipe, NextSeg, RecoveryPoint = snd_recover).
 *
 * Contract: owns the SACK fields of the tcpcb (the "SACK" block in tcp_var.h) and nothing
 * else; everything here does something only when both sides sent SACK-permitted
 * (TF_SACK_PERMIT), so a connection without SACK keeps the NewReno path untouched.
 * Memory is the fixed arrays in the tcpcb: the scoreboard holds at most TCP_SACK_SB_MAX
 * ranges and, when full, deterministically forgets the highest one (forgetting a SACK only
 * makes the sender more conservative — it may resend data the peer holds, never skip data
 * the peer lacks).  CPU per ACK is O(blocks × TCP_SACK_SB_MAX) on the sender and
 * O(TCP_SACK_RCV_RECENT × reassembly segments) per ACK built on the receiver, whatever the
 * peer sends (the "SACK panic" class: crafted blocks with a tiny MSS).  Peer blocks are
 * untrusted: inverted, empty, below SND.UNA or above SND.MAX ones are dropped and counted.
 * Nothing here allocates or fails; segments go out through tcp_output().  Stack-owner core.
 */
#include <string.h>

#include "core/fn_stack_impl.h"
#include "tcp/tcp_var.h"
#include "wire/fn_wire.h"

#define SACK_ON(tp) (((tp)->t_flags & TF_SACK_PERMIT) != 0)
/* RFC 6675 §2 DupThresh. */
#define DUPTHRESH 3u
/* The sequence number of a reassembly pkt (tcp_var.h: reass_head keeps it in pkt->user). */
#define RQ_SEQ(p) ((uint32_t)(p)->user)

/* ==== receiver: the blocks our ACKs carry ==== */

/* The run of contiguous held bytes that starts at pkt p: [*s, *e).  Returns the pkt after
 * it.  A run may be empty (a lone FIN); callers skip those. */
static const struct fn_pkt *rq_run(const struct fn_pkt *p, uint32_t *s, uint32_t *e)
{
    *s = *e = RQ_SEQ(p);
    while (p && RQ_SEQ(p) == *e) {
        *e += p->len;
        p = p->next;
    }
    return p;
}

/* The non-empty run holding byte seq, if any. */
static int rq_find(const struct tcpcb *tp, uint32_t seq, uint32_t *s, uint32_t *e)
{
    const struct fn_pkt *p = tp->reass_head;

    while (p) {
        p = rq_run(p, s, e);
        if (SEQ_GT(*s, seq))
            return 0;
        if (SEQ_LT(seq, *e))
            return 1;
    }
    return 0;
}

void tcp_sack_rcv_segment(struct tcpcb *tp, uint32_t seq, uint32_t len)
{
    uint32_t end = seq + len, s, e;
    const struct fn_pkt *p = tp->reass_head;

    if (!SACK_ON(tp) || len == 0)
        return;
    /* RFC 2883 §4: the first run of held bytes the segment repeats is its D-SACK block. */
    while (p) {
        p = rq_run(p, &s, &e);
        if (SEQ_GEQ(s, end))
            break;
        if (SEQ_GT(e, seq) && s != e) {
            tcp_sack_dsack(tp, SEQ_GT(s, seq) ? s : seq, SEQ_LT(e, end) ? e : end);
            break;
        }
    }
    /* RFC 2018 §4: the block holding the latest arrival comes first; older arrivals follow
     * in the order they came.  The oldest memory falls off the end. */
    memmove(tp->rcv_sack_recent + 1, tp->rcv_sack_recent,
            (TCP_SACK_RCV_RECENT - 1) * sizeof(tp->rcv_sack_recent[0]));
    tp->rcv_sack_recent[0] = seq;
    if (tp->rcv_sack_nrecent < TCP_SACK_RCV_RECENT)
        tp->rcv_sack_nrecent++;
}

void tcp_sack_dsack(struct tcpcb *tp, uint32_t start, uint32_t end)
{
    if (!SACK_ON(tp) || SEQ_LEQ(end, start))
        return;
    /* RFC 2883 §4: only the duplicate of the latest segment is reported, and only once,
     * in the next ACK (the callers' ACK policy decides when that goes). */
    tp->rcv_dsack.start = start;
    tp->rcv_dsack.end = end;
    tp->rcv_dsack_on = 1;
}

static int blk_has(const struct tcp_sackblk *b, uint32_t from, uint32_t n, uint32_t s)
{
    for (uint32_t i = from; i < n; i++)
        if (b[i].start == s)
            return 1;
    return 0;
}

/* Up to max blocks: the pending D-SACK, then the runs of the latest arrivals newest first,
 * then any other held runs lowest first (RFC 2018 §4, RFC 2883 §4).  Rewrites the recent
 * list as run starts without repeats, which changes no later answer. */
static uint32_t rcv_blocks(struct tcpcb *tp, struct tcp_sackblk *b, uint32_t max)
{
    uint32_t n = 0, first, keep = 0, s, e;
    const struct fn_pkt *p;

    if (tp->rcv_dsack_on)
        b[n++] = tp->rcv_dsack;
    first = n;
    for (uint32_t i = 0; i < tp->rcv_sack_nrecent; i++) {
        if (!rq_find(tp, tp->rcv_sack_recent[i], &s, &e) || blk_has(b, first, n, s))
            continue;
        tp->rcv_sack_recent[keep++] = s;
        if (n < max) {
            b[n].start = s;
            b[n++].end = e;
        }
    }
    tp->rcv_sack_nrecent = keep;
    for (p = tp->reass_head; p && n < max;) {
        p = rq_run(p, &s, &e);
        if (s != e && !blk_has(b, first, n, s)) {
            b[n].start = s;
            b[n++].end = e;
        }
    }
    return n;
}

static void put32be(uint8_t *o, uint32_t v)
{
    o[0] = (uint8_t)(v >> 24);
    o[1] = (uint8_t)(v >> 16);
    o[2] = (uint8_t)(v >> 8);
    o[3] = (uint8_t)v;
}

uint32_t tcp_sack_opts(struct tcpcb *tp, uint8_t *o, uint32_t room)
{
    struct tcp_sackblk b[4];
    uint32_t max, n;

    if (!SACK_ON(tp) || (!tp->reass_head && !tp->rcv_dsack_on) || room < 12)
        return 0;
    /* RFC 2018 §3: NOP NOP kind length + 8 bytes a block, at most 4 blocks in the 40 bytes
     * of options (3 next to the 12 bytes of timestamps). */
    max = (room - 4) / 8;
    if (max > 4)
        max = 4;
    n = rcv_blocks(tp, b, max);
    if (n == 0)
        return 0;
    if (o) {
        o[0] = FN_TCPOPT_NOP;
        o[1] = FN_TCPOPT_NOP;
        o[2] = FN_TCPOPT_SACK;
        o[3] = (uint8_t)(2 + 8 * n);
        for (uint32_t i = 0; i < n; i++) {
            put32be(o + 4 + 8 * i, b[i].start);
            put32be(o + 8 + 8 * i, b[i].end);
        }
        tp->t_stack->stats.tcp_sack_tx++;
        if (tp->rcv_dsack_on) {
            tp->rcv_dsack_on = 0;
            tp->t_stack->stats.tcp_dsack_tx++;
        }
    }
    return 4 + 8 * n;
}

/* ==== sender: the scoreboard ==== */

/* Forget what lies below una (cumulatively acknowledged). */
static void sb_trim(struct tcpcb *tp, uint32_t una)
{
    struct tcp_sackblk *b = tp->snd_sack;
    uint32_t i = 0;

    while (i < tp->snd_sack_n && SEQ_LEQ(b[i].end, una))
        i++;
    if (i) {
        memmove(b, b + i, (tp->snd_sack_n - i) * sizeof(*b));
        tp->snd_sack_n -= i;
    }
    if (tp->snd_sack_n && SEQ_LT(b[0].start, una))
        b[0].start = una;
}

/* Merge [s, e) into the scoreboard.  Returns 1 if bytes not SACKed before are SACKed now. */
static int sb_insert(struct tcpcb *tp, uint32_t s, uint32_t e)
{
    struct tcp_sackblk *b = tp->snd_sack;
    uint32_t n = tp->snd_sack_n, i = 0, j;
    int grew;

    while (i < n && SEQ_LT(b[i].end, s))
        i++;
    /* b[i..j) overlap or touch [s, e). */
    for (j = i; j < n && SEQ_LEQ(b[j].start, e); j++)
        ;
    if (j == i) {
        if (n == TCP_SACK_SB_MAX) {
            tp->t_stack->stats.tcp_sack_sb_full++;
            if (i == n)
                return 0;       /* the new range is the highest: it is the one forgotten */
            n--;                /* forget the highest range to make room */
        }
        memmove(b + i + 1, b + i, (n - i) * sizeof(*b));
        b[i].start = s;
        b[i].end = e;
        tp->snd_sack_n = n + 1;
        return 1;
    }
    grew = j - i > 1;           /* it bridges a gap between two ranges */
    if (SEQ_LT(s, b[i].start)) {
        b[i].start = s;
        grew = 1;
    }
    if (SEQ_GT(b[j - 1].end, e))
        e = b[j - 1].end;
    if (SEQ_GT(e, b[i].end))
        grew = 1;
    b[i].end = e;
    memmove(b + i + 1, b + j, (n - j) * sizeof(*b));
    tp->snd_sack_n = n - (j - i - 1);
    return grew;
}

int tcp_sack_input(struct tcpcb *tp, const struct fn_tcp_opts *to, uint32_t ack)
{
    struct fn_stats *stats = &tp->t_stack->stats;
    uint32_t lo = SEQ_GT(ack, tp->snd_una) ? ack : tp->snd_una;
    int grew = 0;

    if (!SACK_ON(tp))
        return TCP_SACK_NONE;
    sb_trim(tp, lo);
    if (to->nsack == 0)
        return TCP_SACK_NONE;
    for (uint32_t i = 0; i < to->nsack; i++) {
        uint32_t s = to->sack[i][0], e = to->sack[i][1];

        if (SEQ_LEQ(e, s)) {
            stats->tcp_sack_bad_blocks++;           /* inverted or empty */
            continue;
        }
        /* RFC 2883 §5: a first block below the cumulative ACK, or inside the second block,
         * reports a duplicate — no news about what is missing. */
        if (i == 0 && (SEQ_LEQ(e, ack) ||
                       (to->nsack > 1 && SEQ_GEQ(s, to->sack[1][0]) &&
                        SEQ_LEQ(e, to->sack[1][1]) && SEQ_LT(to->sack[1][0], to->sack[1][1])))) {
            stats->tcp_dsack_rx++;
            continue;
        }
        /* RFC 2018 §3 only SACKs data we sent and that is not yet acknowledged. */
        if (SEQ_LEQ(e, lo) || SEQ_GT(e, tp->snd_max)) {
            stats->tcp_sack_bad_blocks++;
            continue;
        }
        stats->tcp_sack_blocks_rx++;
        if (sb_insert(tp, SEQ_LT(s, lo) ? lo : s, e))
            grew = 1;
    }
    return grew ? TCP_SACK_NEW : TCP_SACK_OLD;
}

void tcp_sack_rto(struct tcpcb *tp)
{
    tp->snd_sack_n = 0;
    tp->sack_high_rxt = tp->snd_una;
}

/* Moving snd_nxt without sending cannot leave a hole behind: it only ever jumps over
 * [snd_nxt, end) of a range the peer SACKed, and every byte below snd_nxt was either sent
 * in this pass or is such a range.  If cwnd then allows nothing more, snd_nxt waits at the
 * next hole, which goes out with the next ACK that opens cwnd (go_back_n_skip_leaves_no_hole
 * in test_tcp_sack.c).  A range that later leaves the scoreboard without being ACKed — the
 * highest one forgotten when it is full — is still held by the peer, which SACKed it; one
 * the peer reneged on is resent after the RTO, which clears the scoreboard (RFC 2018 §8).
 * In loss recovery snd_nxt matters even less: NextSeg and pipe (RFC 6675 §4) walk the holes
 * of the scoreboard from HighRxt and HighData, and sack_xmit puts snd_nxt back. */
uint32_t tcp_sack_skip(struct tcpcb *tp)
{
    const struct tcp_sackblk *b = tp->snd_sack;

    if (tp->snd_sack_n == 0 || SEQ_GEQ(tp->snd_nxt, tp->snd_max))
        return UINT32_MAX;
    sb_trim(tp, tp->snd_una);
    /* RFC 6675 §4 NextSeg never picks SACKed bytes; nor does any other retransmission
     * (go-back-N after an RTO uses what was SACKed since). */
    for (uint32_t i = 0; i < tp->snd_sack_n; i++) {
        if (SEQ_LEQ(b[i].end, tp->snd_nxt))
            continue;
        if (SEQ_LEQ(b[i].start, tp->snd_nxt)) {
            tp->snd_nxt = b[i].end;
            continue;
        }
        return b[i].start - tp->snd_nxt;
    }
    return UINT32_MAX;
}

/* ==== sender: RFC 6675 loss recovery ==== */

/* Hole i (i < snd_sack_n) is [hole_start(i), snd_sack[i].start); the tail above the last
 * range, up to snd_max, is not a hole. */
static uint32_t hole_start(const struct tcpcb *tp, uint32_t i)
{
    return i == 0 ? tp->snd_una : tp->snd_sack[i - 1].end;
}

/* RFC 6675 §4 IsLost: a byte is lost when DupThresh discontiguous SACKed ranges, or more
 * than (DupThresh - 1)·SMSS SACKed bytes, lie above it.  Both only grow towards snd_una, so
 * the lost bytes are exactly holes 0 .. n-1 of the returned n. */
static uint32_t lost_holes(const struct tcpcb *tp, uint32_t smss)
{
    uint64_t bytes = 0;

    for (uint32_t i = tp->snd_sack_n; i-- > 0;) {
        bytes += tp->snd_sack[i].end - tp->snd_sack[i].start;
        if (tp->snd_sack_n - i >= DUPTHRESH || bytes > (uint64_t)(DUPTHRESH - 1) * smss)
            return i + 1;
    }
    return 0;
}

/* RFC 6675 §4 SetPipe: unSACKed bytes not deemed lost, plus those retransmitted. */
static uint32_t sack_pipe(const struct tcpcb *tp, uint32_t nlost)
{
    uint32_t pipe = 0;

    for (uint32_t i = 0; i <= tp->snd_sack_n; i++) {
        uint32_t hs = hole_start(tp, i);
        uint32_t he = i < tp->snd_sack_n ? tp->snd_sack[i].start : tp->snd_max;
        if (i >= nlost)
            pipe += he - hs;
        if (SEQ_GT(tp->sack_high_rxt, hs))
            pipe += (SEQ_LT(tp->sack_high_rxt, he) ? tp->sack_high_rxt : he) - hs;
    }
    return pipe;
}

#define NS_NONE   0
#define NS_REXMT  1
#define NS_NEW    2

/* The first byte at or above HighRxt in holes [from, to), as a segment of at most smss. */
static int hole_seg(const struct tcpcb *tp, uint32_t from, uint32_t to, uint32_t smss,
                    uint32_t *seq, uint32_t *len)
{
    for (uint32_t i = from; i < to; i++) {
        uint32_t hs = hole_start(tp, i), he = tp->snd_sack[i].start;
        if (SEQ_LT(hs, tp->sack_high_rxt))
            hs = tp->sack_high_rxt;
        if (SEQ_LT(hs, he)) {
            *seq = hs;
            *len = he - hs < smss ? he - hs : smss;
            return 1;
        }
    }
    return 0;
}

/* RFC 6675 §4 NextSeg, rules 1-3.  Rule 4 (the rescue retransmission of the tail) is a
 * SHOULD that is not done: in the transfer tests it mostly resent tails that were not lost;
 * tail loss is left to the RTO (RACK-TLP, RFC 8985, is the checklist's next item). */
static int next_seg(const struct tcpcb *tp, uint32_t nlost, uint32_t smss, int allow_new,
                    uint32_t *seq, uint32_t *len)
{
    uint32_t dend = tp->snd_una + tp->snd_cc;      /* end of the data (the FIN follows) */

    if (hole_seg(tp, 0, nlost, smss, seq, len))
        return NS_REXMT;                            /* (1) a lost hole */
    if (allow_new && SEQ_LT(tp->snd_max, dend) &&
        tp->snd_max - tp->snd_una + smss <= tp->snd_wnd) {
        *seq = tp->snd_max;
        *len = smss;
        return NS_NEW;                              /* (2) new data the window allows */
    }
    if (hole_seg(tp, nlost, tp->snd_sack_n, smss, seq, len))
        return NS_REXMT;                            /* (3) a hole not yet deemed lost */
    return NS_NONE;
}

/* Send one segment [seq, seq + len) through tcp_output; returns the sequence space sent. */
static uint32_t sack_xmit(struct tcpcb *tp, uint32_t seq, uint32_t len, uint64_t now)
{
    uint32_t onxt = tp->snd_nxt, ocwnd = tp->snd_cwnd, sent;

    /* tcp_output sends from snd_nxt what cwnd allows above snd_una: open it by exactly
     * this segment. */
    tp->snd_nxt = seq;
    tp->snd_cwnd = seq - tp->snd_una + len;
    tcp_output(tp, now);
    sent = tp->snd_nxt - seq;
    tp->snd_cwnd = ocwnd;
    if (SEQ_GT(onxt, tp->snd_nxt))
        tp->snd_nxt = onxt;
    return (int32_t)sent > 0 ? sent : 0;
}

/* A retransmission went out: HighRxt moves up (RFC 6675 §4 NextSeg (1.c)). */
static void rexmt_sent(struct tcpcb *tp, uint32_t seq, uint32_t sent)
{
    tp->t_stack->stats.tcp_sack_rexmt++;
    if (SEQ_GT(seq + sent, tp->sack_high_rxt))
        tp->sack_high_rxt = seq + sent;
}

/* The first unSACKed byte at or above snd_una and the end of its hole (or of the data). */
static uint32_t first_unsacked(const struct tcpcb *tp, uint32_t *end)
{
    uint32_t seq = tp->snd_una, i = 0;

    while (i < tp->snd_sack_n && SEQ_LEQ(tp->snd_sack[i].start, seq)) {
        if (SEQ_GT(tp->snd_sack[i].end, seq))
            seq = tp->snd_sack[i].end;
        i++;
    }
    *end = i < tp->snd_sack_n ? tp->snd_sack[i].start : tp->snd_max;
    return seq;
}

/* Retransmit the first unSACKed segment (RFC 6675 §5 step 4.3). */
static void rexmt_first(struct tcpcb *tp, uint32_t smss, uint64_t now)
{
    uint32_t end, seq = first_unsacked(tp, &end), sent;

    if (SEQ_GEQ(seq, end))
        return;
    sent = sack_xmit(tp, seq, end - seq < smss ? end - seq : smss, now);
    if (sent)
        rexmt_sent(tp, seq, sent);
}

void tcp_sack_output(struct tcpcb *tp, uint64_t now)
{
    uint32_t smss = tcp_maxseg(tp), nlost, pipe, seq, len, sent;
    int allow_new = 1;

    sb_trim(tp, tp->snd_una);
    nlost = lost_holes(tp, smss);
    pipe = sack_pipe(tp, nlost);
    /* RFC 6675 §5 (C): while cwnd - pipe >= 1 SMSS, send what NextSeg picks. */
    for (int guard = 0; guard < 4096 && tp->snd_cwnd >= pipe + smss; guard++) {
        int kind = next_seg(tp, nlost, smss, allow_new, &seq, &len);

        if (kind == NS_NONE)
            break;
        sent = sack_xmit(tp, seq, len, now);
        if (sent == 0) {
            if (kind != NS_NEW)
                break;
            allow_new = 0;      /* held back (Nagle, window): try the other rules */
            continue;
        }
        if (kind == NS_REXMT)
            rexmt_sent(tp, seq, sent);
        pipe += sent;
    }
}

int tcp_sack_dupack(struct tcpcb *tp, uint64_t now)
{
    struct fn_stack *st = tp->t_stack;
    uint32_t smss = tcp_maxseg(tp);

    if (tp->t_flags & TF_FASTRECOVERY) {
        /* RFC 6675 §5 (B)/(C): no cwnd inflation; pipe says what may go. */
        tcp_sack_output(tp, now);
        return 1;
    }
    sb_trim(tp, tp->snd_una);
    /* RFC 6675 §5 step 2-3: DupThresh duplicates, or IsLost(HighACK + 1) earlier. */
    if (tp->t_dupacks < DUPTHRESH &&
        !(lost_holes(tp, smss) > 0 && SEQ_LT(tp->snd_una, tp->snd_sack[0].start)))
        return 0;
    /* RFC 6582 §3.2 step 2 (and RFC 6675 §5.1 after an RTO): one reduction per window. */
    if (SEQ_LEQ(tp->snd_una, tp->snd_recover))
        return 0;
    st->stats.tcp_sack_recovery++;
    st->stats.tcp_fast_rexmt++;
    /* RFC 6675 §5 step 4: RecoveryPoint = HighData; ssthresh = cwnd = FlightSize / 2 (the
     * cc hook decides ssthresh). */
    tp->ccv.flight = tp->snd_max - tp->snd_una;
    tp->ccv.now = now;
    tp->cc_algo->cong_signal(&tp->ccv, CC_NDUPACK);
    tp->snd_cwnd = tp->snd_ssthresh;
    tp->snd_recover = tp->snd_max;
    tp->t_flags |= TF_FASTRECOVERY;
    tp->t_rtttime = 0;                  /* Karn: what is timed may be retransmitted now */
    tp->sack_high_rxt = tp->snd_una;
    /* Step 4.3: the first segment presumed lost goes at once. */
    rexmt_first(tp, smss, now);
    tcp_sack_output(tp, now);
    return 1;
}
