/*
 * tcp_snap.h — what a step of a TCP test leaves behind, to compare two runs of the same
 * segments that must agree (test_tcp_fastin.c: fast path against general path;
 * test_tcp_ackbatch.c: a receive batch against one poll per frame), and the seeded draws
 * and hash those tests use.
 */
#ifndef FASTNET_TESTS_TCP_SNAP_H
#define FASTNET_TESTS_TCP_SNAP_H

#include "tcp_harness.h"

/* Sequence numbers relative to the ISNs (which are random per run); timestamps as they are
 * (the runs compared have the same clock and offset). */
struct snap {
    uint32_t snd_una, snd_nxt, snd_max, snd_wnd, max_sndwnd, snd_wl1, snd_wl2, snd_recover;
    uint32_t snd_cwnd, snd_ssthresh, rcv_nxt, rcv_adv, last_ack_sent, ts_recent, snd_cc;
    uint32_t t_flags, t_rxtshift, t_dupacks, t_state, pool, nout, snd_nbufs, snd_sack_n;
    uint32_t ccv_flags, ccv_bytes, ccv_flight, pad;
    uint64_t ts_recent_age, t_srtt, t_rttvar, t_rxtcur, t_rtttime, t_rcvtime, t_due;
    uint64_t t_uto_start, ccv_now, ccv_srtt;
    uint64_t t_timer[TT_NTIMERS];
    uint64_t cc_data[CC_DATA_MAX / 8];
    struct tcp_sackblk snd_sack[TCP_SACK_SB_MAX];
    uint64_t out_hash;
    struct fn_stats stats;
};

static inline void take_snap(struct snap *s, const struct tnet *t, const struct tcpcb *tp,
                             uint32_t nout, uint64_t out_hash)
{
    memset(s, 0, sizeof(*s));
    s->snd_una = tp->snd_una - tp->iss;
    s->snd_nxt = tp->snd_nxt - tp->iss;
    s->snd_max = tp->snd_max - tp->iss;
    s->snd_wnd = tp->snd_wnd;
    s->max_sndwnd = tp->max_sndwnd;
    s->snd_wl1 = tp->snd_wl1 - tp->irs;
    s->snd_wl2 = tp->snd_wl2 - tp->iss;
    s->snd_recover = tp->snd_recover - tp->iss;
    s->snd_cwnd = tp->snd_cwnd;
    s->snd_ssthresh = tp->snd_ssthresh;
    s->rcv_nxt = tp->rcv_nxt - tp->irs;
    s->rcv_adv = tp->rcv_adv - tp->irs;
    s->last_ack_sent = tp->last_ack_sent - tp->irs;
    s->ts_recent = tp->ts_recent;
    s->snd_cc = tp->snd_cc;
    s->t_flags = tp->t_flags;
    s->t_rxtshift = tp->t_rxtshift;
    s->t_dupacks = tp->t_dupacks;
    s->t_state = (uint32_t)tp->t_state;
    s->pool = pool_in_use(t->pa);
    s->nout = nout;
    s->snd_nbufs = tp->snd_nbufs;
    s->snd_sack_n = tp->snd_sack_n;
    for (uint32_t i = 0; i < tp->snd_sack_n && i < TCP_SACK_SB_MAX; i++) {
        s->snd_sack[i].start = tp->snd_sack[i].start - tp->iss;
        s->snd_sack[i].end = tp->snd_sack[i].end - tp->iss;
    }
    s->ccv_flags = tp->ccv.flags;
    s->ccv_bytes = tp->ccv.bytes_this_ack;
    s->ccv_flight = tp->ccv.flight;
    s->ccv_now = tp->ccv.now;
    s->ccv_srtt = tp->ccv.srtt;
    memcpy(s->cc_data, tp->ccv.cc_data, sizeof(s->cc_data));
    s->ts_recent_age = tp->ts_recent_age;
    s->t_srtt = tp->t_srtt;
    s->t_rttvar = tp->t_rttvar;
    s->t_rxtcur = tp->t_rxtcur;
    s->t_rtttime = tp->t_rtttime;
    s->t_rcvtime = tp->t_rcvtime;
    s->t_due = tp->t_due;
    s->t_uto_start = tp->t_uto_start;
    memcpy(s->t_timer, tp->t_timer, sizeof(s->t_timer));
    s->out_hash = out_hash;
    s->stats = tnet_stats(t->sa);
}

/* splitmix64: all 64 bits of each draw are used. */
static inline uint64_t next_rng(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline uint64_t mix(uint64_t h, uint64_t v)
{
    return (h ^ v) * 0x100000001b3ull;
}

/* One segment A sent into the hash of a step's output (timestamps relative to ts0). */
static inline uint64_t mix_seg(uint64_t h, const struct peer *p, const struct rseg *r,
                               uint32_t ts0)
{
    h = mix(h, (uint32_t)(r->th.seq - p->a_iss));
    h = mix(h, (uint32_t)(r->th.ack - p->iss));
    h = mix(h, (uint64_t)r->th.flags << 32 | r->th.win);
    h = mix(h, r->th.payload_len);
    h = mix(h, r->to.has_ts ? (uint64_t)(r->to.tsval - ts0) << 32 | r->to.tsecr : 1);
    return mix(h, r->to.nsack);
}

/* Two bytes a and b, then the timestamp option (RFC 7323 §3) at o; returns 12. */
static inline uint32_t put_ts_after(uint8_t *o, uint8_t a, uint8_t b, uint32_t tsval,
                                    uint32_t tsecr)
{
    o[0] = a;
    o[1] = b;
    o[2] = 8;
    o[3] = 10;
    put32(o + 4, tsval);
    put32(o + 8, tsecr);
    return 12;
}

#endif
