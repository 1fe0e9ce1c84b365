/*
 * tcp_syncache.c — passive opens without a tcpcb per SYN (RFC 4987 §3.5 SYN cache and §3.6
 * SYN cookies, combined as in §3.7).  The half-open state of a SYN lives in a small
 * preallocated entry (4-tuple, ISNs, the SYN's options, retransmission count and deadline —
 * no packet buffer); when the table, or the listener's share of it (its backlog), is full,
 * that state is folded into our ISS and TSval instead — a SYN cookie — and nothing is kept.
 *
 * Contract: owns the syncache (cfg.tcp_syncache_size entries, their hash by 4-tuple, the
 * retransmission queues, the cookie secret), allocated once by tcp_syncache_init(); nothing
 * here allocates afterwards.  tcp_syncache_input() takes every segment for a listening port
 * that matches no connection: a SYN gets an entry, a cookie, or is dropped (accept queue
 * full, or table full with cookies off); a duplicate SYN gets the SYN-ACK again; a RST
 * removes its entry only at exactly RCV.NXT (RFC 5961 §3.2); a valid third ACK — of an entry
 * or carrying a cookie that verifies — creates the tcpcb directly in ESTABLISHED, queues it
 * on the listener's accept queue and hands it back so that tcp_input processes the rest of
 * the segment as that connection's.  Every other segment is answered (RST, rate-limited ACK)
 * or dropped, and counted.  Exhaustion (no entry, no tcpcb, no packet buffer, accept queue
 * full) refuses or drops, counted, and never leaks: a SYN while every tcpcb belongs to a live
 * connection is dropped, and a third ACK that still finds no tcpcb (a TIME_WAIT is recycled
 * first: tcp_timewait.c) resets the peer and ends the entry.  The whole table has one
 * deadline — the earliest SYN-ACK retransmission — which fn_tcp_next_deadline() folds in: no
 * per-entry timer.  Stack-owner core only; `now` never goes backwards.
 *
 * Cookie policy: a cookie ACK that does not verify is answered like any ACK to a listening
 * port, with a RST <SEQ=SEG.ACK> (RFC 9293 §3.10.7.2) — as Linux does — and counted.  Without
 * timestamps a cookie cannot carry window scale or SACK-permitted: the SYN-ACK then offers
 * neither and the connection runs without them (RFC 4987 §3.6's documented cost).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/fn_stack_impl.h"
#include "net/fn_ip.h"
#include "platform/fn_platform.h"
#include "tcp/tcp_ack.h"
#include "tcp/tcp_syncache.h"
#include "tcp/tcp_var.h"
#include "wire/fn_wire.h"

#define SC_NONE (-1)
/* One retransmission queue per backoff step until the RTO reaches its maximum; 1 ms doubled
 * 33 times exceeds any 32-bit rto_max_ms, so 34 queues always suffice. */
#define SC_MAXQ 34

#define SCF_WSCALE 0x01u        /* the peer sent window scale and we offer it */
#define SCF_SACK   0x02u        /* the peer sent SACK-permitted and we offer it */
#define SCF_TS     0x04u        /* the peer sent timestamps and we offer them */
#define SCF_COOKIE 0x08u        /* rebuilt from a cookie: no send time known, no RTT sample */

/* Cookies: the time counter advances every 64 s; the current and the previous count verify,
 * so a cookie lives between 64 and 128 s.  This is how the cookie secret rotates (RFC 4987
 * §3.6 asks for a secret that changes; Linux does the same): the MAC is keyed by cookie_key
 * over the count, so each 64 s window in effect has its own secret PRF(cookie_key, count),
 * and a count that has rotated out verifies nothing — exactly what re-keying a derived
 * secret per period would give.  Drawing a fresh random key per period instead would need
 * the kernel's CSPRNG on the packet path (platform/random.c: secrets are drawn at
 * creation), and buys something only if cookie_key itself leaked. */
#define SC_COOKIE_PERIOD_NS (64ull * 1000000000ull)
/* Cookie layout: MAC (28 bits) | count parity (1) | MSS index (3). */
#define SC_COOKIE_MSS_BITS 3u
#define SC_COOKIE_MAC_SHIFT 4u
/* TSval of a cookie SYN-ACK: the low 5 bits carry the peer's shift (15 = no window scale)
 * and SACK-permitted. */
#define SC_TS_BITS 5u
#define SC_TS_NOSCALE 15u
#define SC_TS_SACK 0x10u

/* MSS values a cookie can carry: the largest not above the peer's MSS is encoded. */
static const uint16_t sc_mss_table[1u << SC_COOKIE_MSS_BITS] = {
    64, 536, 1200, 1360, 1400, 1440, 1460, 8960,
};

/* One half-open passive open (SYN-RECEIVED without a tcpcb). */
struct syncache {
    uint32_t sc_faddr;          /* peer address, network order */
    uint16_t sc_fport;          /* host order */
    uint16_t sc_lport;          /* host order; 0 = the entry is free */
    uint32_t sc_iss;            /* our ISN (RFC 6528, or the cookie) */
    uint32_t sc_irs;            /* the peer's ISN */
    uint32_t sc_ts_recent;      /* TSval of the SYN (TS.Recent), with SCF_TS */
    uint16_t sc_peer_mss;       /* MSS option of the SYN, 536 if absent */
    uint8_t sc_wscale;          /* the peer's shift, at most 14, with SCF_WSCALE */
    uint8_t sc_flags;           /* SCF_* */
    uint16_t sc_mss;            /* the MSS we advertise: the listener's (tcp_adv_mss) */
    uint32_t sc_rcvbuf;         /* the listener's receive buffer: the window and scale we
                                   offer, and the connection's (SO_RCVBUF before listen) */
    uint32_t sc_rxtshift;       /* SYN-ACK retransmissions so far, <= cfg.tcp_syn_retries */
    uint32_t sc_chal;           /* ACKs sent in answer since sc_chal_start (RFC 5961 §7) */
    uint32_t sc_lidx;           /* its listener's tcpcb index: within a SO_REUSEPORT group
                                   the handshake stays with the member that took the SYN */
    int32_t sc_hnext;           /* hash chain; free-list link while free */
    uint32_t sc_hbucket;        /* the chain it is in: sc_bucket() of its 4-tuple */
    int32_t sc_qprev, sc_qnext; /* links in the retransmission queue of sc_rxtshift */
    uint64_t sc_first;          /* the first SYN-ACK (an RTT sample unless resent: Karn) */
    uint64_t sc_expiry;         /* next SYN-ACK retransmission, or the give-up time */
    uint64_t sc_chal_start;     /* start of the 1 s window of sc_chal; 0 = none yet */
};

/* Entries waiting with the same timeout, oldest first: since they were queued in time order
 * with one fixed duration, their deadlines ascend and only the head can be due. */
struct sc_queue {
    int32_t head, tail;
    uint64_t rto;               /* ns: the SYN-ACK timeout of this backoff step */
};

struct tcp_syncache {
    struct syncache *e;         /* cfg.tcp_syncache_size entries */
    uint32_t size;
    uint32_t used;
    int32_t free_head;
    int32_t *hash;              /* bucket heads (entry index or SC_NONE) */
    uint32_t hash_mask;         /* buckets - 1, a power of two >= size */
    struct sc_queue q[SC_MAXQ]; /* q[k]: entries retransmitted k times; the last one also
                                   holds every later step (they share the maximum RTO) */
    uint32_t nq;
    uint64_t cookie_key[2];     /* SipHash key of the cookie MAC */
    uint64_t hash_key[2];       /* SipHash key of the bucket index (flood-resistant) */
    uint64_t cookie_last;       /* when the last cookie was sent; 0 = never */
};

/* ---- the table ---- */

static uint32_t sc_bucket(const struct tcp_syncache *sch, uint32_t faddr, uint16_t fport,
                          uint16_t lport)
{
    uint8_t m[8];

    memcpy(m, &faddr, 4);
    m[4] = (uint8_t)(fport >> 8);
    m[5] = (uint8_t)fport;
    m[6] = (uint8_t)(lport >> 8);
    m[7] = (uint8_t)lport;
    return (uint32_t)fn_siphash24(sch->hash_key, m, sizeof(m)) & sch->hash_mask;
}

/* The entry of a 4-tuple in chain b (its sc_bucket), SC_NONE if none. */
static int32_t sc_lookup_in(const struct tcp_syncache *sch, uint32_t b, uint32_t faddr,
                            uint16_t fport, uint16_t lport)
{
    int32_t i = sch->hash[b];

    while (i != SC_NONE) {
        const struct syncache *sc = &sch->e[i];
        if (sc->sc_faddr == faddr && sc->sc_fport == fport && sc->sc_lport == lport)
            return i;
        i = sc->sc_hnext;
    }
    return SC_NONE;
}

static int32_t sc_lookup(const struct tcp_syncache *sch, uint32_t faddr, uint16_t fport,
                         uint16_t lport)
{
    return sc_lookup_in(sch, sc_bucket(sch, faddr, fport, lport), faddr, fport, lport);
}

static struct sc_queue *sc_queue_of(struct tcp_syncache *sch, const struct syncache *sc)
{
    return &sch->q[sc->sc_rxtshift < sch->nq ? sc->sc_rxtshift : sch->nq - 1];
}

static void sc_queue_append(struct tcp_syncache *sch, int32_t i, uint64_t now)
{
    struct syncache *sc = &sch->e[i];
    struct sc_queue *q = sc_queue_of(sch, sc);

    sc->sc_expiry = now + q->rto;
    sc->sc_qnext = SC_NONE;
    sc->sc_qprev = q->tail;
    if (q->tail != SC_NONE)
        sch->e[q->tail].sc_qnext = i;
    else
        q->head = i;
    q->tail = i;
}

static void sc_queue_remove(struct tcp_syncache *sch, int32_t i)
{
    struct syncache *sc = &sch->e[i];
    struct sc_queue *q = sc_queue_of(sch, sc);

    if (sc->sc_qprev != SC_NONE)
        sch->e[sc->sc_qprev].sc_qnext = sc->sc_qnext;
    else
        q->head = sc->sc_qnext;
    if (sc->sc_qnext != SC_NONE)
        sch->e[sc->sc_qnext].sc_qprev = sc->sc_qprev;
    else
        q->tail = sc->sc_qprev;
    sc->sc_qprev = sc->sc_qnext = SC_NONE;
}

/* Release entry i; l is its listener (looked up when NULL). */
static void sc_free(struct fn_tcp *tcp, int32_t i, struct tcpcb *l)
{
    struct tcp_syncache *sch = tcp->syncache;
    struct syncache *sc = &sch->e[i];
    int32_t *pp = &sch->hash[sc->sc_hbucket];

    while (*pp != i)
        pp = &sch->e[*pp].sc_hnext;
    *pp = sc->sc_hnext;
    sc_queue_remove(sch, i);
    if (!l)
        l = &tcp->tcbs[sc->sc_lidx];
    if (l->t_sc_count > 0)
        l->t_sc_count--;
    sc->sc_lport = 0;
    sc->sc_hnext = sch->free_head;
    sch->free_head = i;
    sch->used--;
}

/* ---- segments we send ---- */

/* RFC 7323 §2.2: the window of a SYN-ACK is never scaled, so it offers at most 65535. */
static uint32_t synack_window(const struct syncache *sc)
{
    return sc->sc_rcvbuf < TCP_MAXWIN ? sc->sc_rcvbuf : TCP_MAXWIN;
}

/* What of listener l shapes the SYN-ACK: its receive buffer and the MSS it advertises. */
static void sc_from_listener(struct syncache *sc, const struct tcpcb *l)
{
    sc->sc_rcvbuf = tcp_rcvbuf(l);
    sc->sc_mss = (uint16_t)tcp_adv_mss(l);
}

/* Our TSval for an entry: the clock of the tcpcb it will become (same 4-tuple offset). */
static uint32_t sc_tsval(struct fn_tcp *tcp, const struct syncache *sc, uint64_t now)
{
    return (uint32_t)(now / TCP_TS_HZ_NS) +
           tcp_ts_offset_for(tcp, sc->sc_faddr, sc->sc_fport, sc->sc_lport);
}

static void sc_send_synack(struct fn_tcp *tcp, const struct syncache *sc, uint32_t tsval,
                           uint64_t now)
{
    struct fn_stack *st = tcp->st;
    uint32_t n;
    uint8_t o[FN_TCP_MAX_HLEN - FN_TCP_HLEN];

    /* RFC 9293 §3.7.1 / RFC 6691: we advertise MTU - 40 (or the listener's TCP_MAXSEG);
     * each option only if the SYN had it (RFC 7323 §2.2, §3.2; RFC 2018 §2). */
    n = tcp_syn_opts(o, sc->sc_mss,
                     (sc->sc_flags & SCF_WSCALE) ? tcp_rcv_wscale_for(sc->sc_rcvbuf) : -1,
                     (sc->sc_flags & SCF_SACK) != 0, (sc->sc_flags & SCF_TS) != 0, tsval,
                     sc->sc_ts_recent);
    tcp_emit(st, sc->sc_faddr, sc->sc_fport, sc->sc_lport, sc->sc_iss, sc->sc_irs + 1,
             FN_TH_SYN | FN_TH_ACK, (uint16_t)synack_window(sc), o, n, now);
}

/* An ACK of SYN-RECEIVED (a challenge ACK, or the answer to an unacceptable segment),
 * rate-limited per entry like the challenge ACKs of a connection (RFC 5961 §7). */
static void sc_send_ack(struct fn_tcp *tcp, struct syncache *sc, uint64_t now)
{
    struct fn_stack *st = tcp->st;
    const struct fn_config *c = &st->cfg;
    uint32_t win = synack_window(sc), n = 0;
    uint8_t o[TCPOLEN_TSTAMP_APPA] = {0};

    if (sc->sc_chal_start == 0 || now - sc->sc_chal_start >= TCP_CHALLENGE_WINDOW_NS) {
        sc->sc_chal_start = now;
        sc->sc_chal = 0;
    }
    if (sc->sc_chal >= c->tcp_challenge_ack_per_s) {
        st->stats.tcp_challenge_ack_limited++;
        return;
    }
    sc->sc_chal++;
    st->stats.tcp_challenge_ack++;
    if (sc->sc_flags & SCF_TS)
        n = tcp_ts_opt(o, sc_tsval(tcp, sc, now), sc->sc_ts_recent);
    /* Past the SYN-ACK the window is scaled (RFC 7323 §2.2): the same right edge. */
    if (sc->sc_flags & SCF_WSCALE)
        win >>= tcp_rcv_wscale_for(sc->sc_rcvbuf);
    tcp_emit(st, sc->sc_faddr, sc->sc_fport, sc->sc_lport, sc->sc_iss + 1, sc->sc_irs + 1,
             FN_TH_ACK, (uint16_t)win, o, n, now);
}

/* RFC 9293 §3.10.7.2 / §3.10.7.4: an unacceptable ACK gets <SEQ=SEG.ACK><CTL=RST>. */
static void sc_reset(struct fn_stack *st, const struct tcpcb *l, const struct tcp_synseg *s,
                     uint64_t now)
{
    tcp_respond(st, NULL, s->faddr, s->sport, l->lport, s->ack, 0, FN_TH_RST, now);
}

/* ---- SYN cookies (RFC 4987 §3.6) ---- */

/* 28-bit MAC over the 4-tuple, the peer's ISN, the time count and the MSS index.  The count
 * in the input makes every 64 s window's cookies independent of the others'. */
static uint32_t cookie_mac(const struct fn_tcp *tcp, uint32_t faddr, uint16_t fport,
                           uint16_t lport, uint32_t irs, uint32_t count, uint32_t mssidx)
{
    uint8_t m[21];

    memcpy(m, &tcp->st->cfg.ip, 4);
    memcpy(m + 4, &faddr, 4);
    m[8] = (uint8_t)(lport >> 8);
    m[9] = (uint8_t)lport;
    m[10] = (uint8_t)(fport >> 8);
    m[11] = (uint8_t)fport;
    memcpy(m + 12, &irs, 4);
    memcpy(m + 16, &count, 4);
    m[20] = (uint8_t)mssidx;
    return (uint32_t)fn_siphash24(tcp->syncache->cookie_key, m, sizeof(m)) &
           (0xffffffffu >> SC_COOKIE_MAC_SHIFT);
}

static uint32_t cookie_mss_index(uint16_t mss)
{
    uint32_t i = 0;

    while (i + 1 < (1u << SC_COOKIE_MSS_BITS) && sc_mss_table[i + 1] <= mss)
        i++;
    return i;
}

static uint32_t cookie_make(const struct fn_tcp *tcp, const struct syncache *sc, uint64_t now)
{
    uint32_t count = (uint32_t)(now / SC_COOKIE_PERIOD_NS);
    uint32_t idx = cookie_mss_index(sc->sc_peer_mss);

    return cookie_mac(tcp, sc->sc_faddr, sc->sc_fport, sc->sc_lport, sc->sc_irs, count, idx)
               << SC_COOKIE_MAC_SHIFT |
           (count & 1u) << SC_COOKIE_MSS_BITS | idx;
}

/* The cookie SYN-ACK's TSval: our clock with the low bits replaced by the peer's window
 * scale and SACK-permitted, one period back so that it never runs ahead of the clock our
 * later segments carry (RFC 7323 §5.4: TSvals must not go backwards). */
static uint32_t cookie_tsval(struct fn_tcp *tcp, const struct syncache *sc, uint64_t now)
{
    uint32_t bits = (sc->sc_flags & SCF_WSCALE) ? sc->sc_wscale : SC_TS_NOSCALE;

    if (sc->sc_flags & SCF_SACK)
        bits |= SC_TS_SACK;
    return ((sc_tsval(tcp, sc, now) - (1u << SC_TS_BITS)) & ~((1u << SC_TS_BITS) - 1u)) | bits;
}

/* Is an ACK's cookie (SEG.ACK - 1, for SEG.SEQ - 1) one we issued in this window or the
 * previous one?  If so, rebuild the entry it stands for in *sc. */
static int cookie_check(struct fn_tcp *tcp, uint16_t lport, const struct tcp_synseg *s,
                        uint64_t now, struct syncache *sc)
{
    const struct fn_config *c = &tcp->st->cfg;
    uint32_t cookie = s->ack - 1, irs = s->seq - 1;
    uint32_t idx = cookie & ((1u << SC_COOKIE_MSS_BITS) - 1u);
    uint32_t count = (uint32_t)(now / SC_COOKIE_PERIOD_NS);

    /* The parity bit says which of the two windows issued it: one MAC to compute. */
    if ((count & 1u) != ((cookie >> SC_COOKIE_MSS_BITS) & 1u))
        count--;
    if (cookie_mac(tcp, s->faddr, s->sport, lport, irs, count, idx) !=
        cookie >> SC_COOKIE_MAC_SHIFT)
        return 0;
    memset(sc, 0, sizeof(*sc));
    sc->sc_faddr = s->faddr;
    sc->sc_fport = s->sport;
    sc->sc_lport = lport;
    sc->sc_iss = cookie;
    sc->sc_irs = irs;
    sc->sc_peer_mss = sc_mss_table[idx];
    sc->sc_flags = SCF_COOKIE;
    /* Our TSval echoed back carries the rest; no echo means the SYN had no timestamps. */
    if (s->to->has_ts && c->tcp_timestamps) {
        uint32_t ws = s->to->tsecr & 0xfu;
        sc->sc_flags |= SCF_TS;
        sc->sc_ts_recent = s->to->tsval;
        if (ws != SC_TS_NOSCALE && ws <= TCP_MAX_WINSHIFT && c->tcp_window_scaling) {
            sc->sc_flags |= SCF_WSCALE;
            sc->sc_wscale = (uint8_t)ws;
        }
        if ((s->to->tsecr & SC_TS_SACK) && c->tcp_sack)
            sc->sc_flags |= SCF_SACK;
    }
    return 1;
}

/* Verify cookies only while they may be in flight: always in mode 2, else for two periods
 * after the last one sent — blind guessing gets nothing to aim at otherwise. */
static int cookies_active(const struct fn_tcp *tcp, uint64_t now)
{
    const struct tcp_syncache *sch = tcp->syncache;

    if (tcp->st->cfg.tcp_syncookies == 2)
        return 1;
    return sch->cookie_last != 0 && now - sch->cookie_last < 2 * SC_COOKIE_PERIOD_NS;
}

/* ---- the handshake ---- */

/* The state a SYN asks for: its 4-tuple, ISN and the options we will use. */
static void sc_from_syn(struct syncache *sc, const struct fn_config *c, uint16_t lport,
                        const struct tcp_synseg *s)
{
    const struct fn_tcp_opts *to = s->to;

    memset(sc, 0, sizeof(*sc));
    sc->sc_faddr = s->faddr;
    sc->sc_fport = s->sport;
    sc->sc_lport = lport;
    sc->sc_irs = s->seq;
    sc->sc_peer_mss = to->has_mss ? to->mss : TCP_MSS_DEFAULT;   /* RFC 9293 §3.7.1 */
    /* Each option is used only if both sides send it (RFC 7323 §2.2, §3.2; RFC 2018 §2). */
    if (to->has_wscale && c->tcp_window_scaling) {
        sc->sc_flags |= SCF_WSCALE;
        /* RFC 7323 §2.3: a shift above 14 is used as 14. */
        sc->sc_wscale = to->wscale > TCP_MAX_WINSHIFT ? TCP_MAX_WINSHIFT : to->wscale;
    }
    if (to->sack_permitted && c->tcp_sack)
        sc->sc_flags |= SCF_SACK;
    if (to->has_ts && c->tcp_timestamps) {
        sc->sc_flags |= SCF_TS;
        sc->sc_ts_recent = to->tsval;
    }
    sc->sc_hnext = sc->sc_qprev = sc->sc_qnext = SC_NONE;
}

/* The third ACK s completed the handshake of sc: create the connection in ESTABLISHED
 * (RFC 9293 §3.10.7.4 fifth, SYN-RECEIVED → ESTABLISHED) and queue it for accept.  NULL
 * (counted) when the accept queue is full — the segment is dropped and the peer's next
 * segment, prompted by our SYN-ACK retransmission when there is an entry, tries again, as
 * Linux does — or when no tcpcb can be had: every one belongs to a live connection (a
 * TIME_WAIT would have been recycled).  Then nothing is coming back for the peer, which
 * believes itself connected: it gets a RST <SEQ=SEG.ACK> (RFC 9293 §3.10.7.1's answer to
 * an ACK for no connection; Linux's with tcp_abort_on_overflow) so that its connection fails
 * at once instead of hanging, and *refused tells the caller to drop the entry. */
static struct tcpcb *sc_expand(struct tcpcb *l, const struct syncache *sc,
                               const struct tcp_synseg *s, uint64_t now, int *refused)
{
    struct fn_stack *st = l->t_stack;
    struct fn_tcp *tcp = st->tcp;
    const struct fn_config *c = &st->cfg;
    uint32_t mss = sc->sc_peer_mss, ours = fn_ip_mtu(st) - FN_IPV4_HLEN - FN_TCP_HLEN;
    struct tcpcb *tp;

    if (l->t_qlen >= l->t_backlog) {
        st->stats.tcp_listen_overflow++;
        return NULL;
    }
    tp = tcp_alloc(tcp);
    if (!tp) {
        st->stats.tcp_tcb_exhausted++;
        sc_reset(st, l, s, now);
        *refused = 1;
        return NULL;
    }
    tp->faddr = sc->sc_faddr;
    tp->fport = sc->sc_fport;
    tp->lport = sc->sc_lport;
    tp->cc_algo = l->cc_algo;           /* the listener's choice (fn_tcp_set_cc) */
    tp->t_rcvbuf = sc->sc_rcvbuf;       /* and its SO_RCVBUF / TCP_MAXSEG */
    tp->t_user_mss = l->t_user_mss;
    tcp_conn_setup(tp, sc->sc_iss, now);
    /* The sequence spaces the SYN-ACK announced; this ACK acknowledged our SYN. */
    tp->snd_una = tp->snd_nxt = tp->snd_max = sc->sc_iss + 1;
    tp->snd_recover = sc->sc_iss;       /* as for an active open: no recovery point yet */
    tp->irs = sc->sc_irs;
    tp->rcv_nxt = tp->last_ack_sent = sc->sc_irs + 1;
    tp->rcv_adv = tp->rcv_nxt + synack_window(sc);
    tp->t_peer_mss = sc->sc_peer_mss;
    if (mss > ours)
        mss = ours;                     /* never send more than our MTU carries */
    if (l->t_user_mss && mss > l->t_user_mss)
        mss = l->t_user_mss;            /* nor more than TCP_MAXSEG asks */
    if (mss < c->tcp_min_mss)
        mss = c->tcp_min_mss;           /* a floor against tiny-MSS resource attacks */
    tp->t_maxseg = (uint16_t)mss;
    tp->t_flags &= ~(TF_REQ_SCALE | TF_REQ_TSTMP);
    if (sc->sc_flags & SCF_WSCALE) {
        tp->t_flags |= TF_REQ_SCALE | TF_RCVD_SCALE;
        tp->snd_wscale = sc->sc_wscale;
        tp->rcv_wscale = tp->request_r_scale;
    }
    if (sc->sc_flags & SCF_TS) {
        tp->t_flags |= TF_REQ_TSTMP | TF_RCVD_TSTMP;
        /* RFC 7323 §4.3: this segment sits at Last.ACK.sent, so its TSval is TS.Recent. */
        tp->ts_recent = s->to->has_ts ? s->to->tsval : sc->sc_ts_recent;
        tp->ts_recent_age = now;
    }
    if (sc->sc_flags & SCF_SACK)
        tp->t_flags |= TF_SACK_PERMIT;
    tp->t_flags |= TF_PASSIVE;
    tp->t_state = TCPS_ESTABLISHED;
    tp->snd_wnd = tp->max_sndwnd = (uint32_t)s->win << tp->snd_wscale;
    tp->snd_wl1 = s->seq;
    tp->snd_wl2 = s->ack;
    tcp_hash_insert(tcp, tp);
    tp->cc_algo->conn_init(&tp->ccv);
    /* RFC 6298 §2 first sample: from the echoed TSval (unambiguous even after a resend), else
     * from the first SYN-ACK if it was never resent (Karn).  A cookie knows neither. */
    if (!(sc->sc_flags & SCF_COOKIE)) {
        if ((sc->sc_flags & SCF_TS) && s->to->has_ts && s->to->tsecr != 0) {
            uint32_t ms = tcp_ts_now(tp, now) - s->to->tsecr;
            if (ms < 0x7fffffffu)
                tcp_xmit_timer(tp, ms ? (uint64_t)ms * TCP_TS_HZ_NS : TCP_TS_HZ_NS / 2);
        } else if (sc->sc_rxtshift == 0) {
            tcp_xmit_timer(tp, now - sc->sc_first);
        }
    }
    tp->t_listen = l;
    tp->t_qnext = NULL;
    if (l->t_acc_tail)
        l->t_acc_tail->t_qnext = tp;
    else
        l->t_acc_head = tp;
    l->t_acc_tail = tp;
    l->t_qlen++;
    tcp_event(l, FN_TCP_EV_READABLE);
    st->stats.tcp_conn_passive++;
    st->stats.tcp_conn_established++;
    return tp;
}

/* A SYN (no ACK, no RST) for listener l. */
static void sc_syn(struct tcpcb *l, const struct tcp_synseg *s, uint64_t now)
{
    struct fn_stack *st = l->t_stack;
    struct fn_tcp *tcp = st->tcp;
    struct tcp_syncache *sch = tcp->syncache;
    const struct fn_config *c = &st->cfg;
    struct syncache tmp, *sc;
    uint32_t b;
    int32_t i;

    /* Linux's policy: while the accept queue is full a SYN gets no SYN-ACK; the peer's SYN
     * retransmission comes back when the application may have caught up. */
    if (l->t_qlen >= l->t_backlog) {
        st->stats.tcp_listen_overflow++;
        return;
    }
    /* One keyed hash of the 4-tuple for the lookup and the insertion (and sc_free). */
    b = sc_bucket(sch, s->faddr, s->sport, l->lport);
    i = sc_lookup_in(sch, b, s->faddr, s->sport, l->lport);
    if (i != SC_NONE) {
        sc = &sch->e[i];
        if (s->seq == sc->sc_irs) {
            /* The peer resent its SYN: our SYN-ACK was lost.  Send it again; the timer is
             * left alone, so duplicates cannot stretch the entry's life. */
            st->stats.tcp_syncache_dup_syn++;
            sc_send_synack(tcp, sc, sc_tsval(tcp, sc, now), now);
            return;
        }
        /* Another ISN: the peer started over.  RFC 9293 §3.10.7.4: a SYN returns a passive
         * SYN-RECEIVED to LISTEN, where this SYN is taken afresh. */
        sc_free(tcp, i, l);
    }
    /* Every tcpcb belongs to a live connection: the third ACK could only be refused.  As
     * Linux does with a SYN it has no resources for, drop it — the peer's SYN
     * retransmission comes back when a connection may have ended — rather than complete a
     * handshake whose connection would be reset at once. */
    if (!tcp_tcb_available(tcp)) {
        st->stats.tcp_tcb_exhausted++;
        return;
    }
    sc_from_syn(&tmp, c, l->lport, s);
    sc_from_listener(&tmp, l);
    if (c->tcp_syncookies != 2) {
        if (l->t_sc_count < l->t_backlog && sch->free_head != SC_NONE) {
            i = sch->free_head;
            sc = &sch->e[i];
            sch->free_head = sc->sc_hnext;
            *sc = tmp;
            sc->sc_iss = tcp_isn_for(tcp, s->faddr, s->sport, l->lport, now);
            sc->sc_first = now;
            sc->sc_lidx = (uint32_t)(l - tcp->tcbs);
            sc->sc_hbucket = b;
            sc->sc_hnext = sch->hash[b];
            sch->hash[b] = i;
            sc_queue_append(sch, i, now);
            sch->used++;
            l->t_sc_count++;
            st->stats.tcp_syncache_added++;
            sc_send_synack(tcp, sc, sc_tsval(tcp, sc, now), now);
            return;
        }
        st->stats.tcp_syncache_overflow++;
        if (c->tcp_syncookies == 0)
            return;     /* refused: the peer's SYN retransmission may find room */
    }
    /* A cookie: nothing is kept.  Without timestamps there is no room for window scale and
     * SACK-permitted, so the SYN-ACK offers neither. */
    if (!(tmp.sc_flags & SCF_TS))
        tmp.sc_flags = 0;
    tmp.sc_iss = cookie_make(tcp, &tmp, now);
    sch->cookie_last = now ? now : 1;
    st->stats.tcp_syncookies_sent++;
    sc_send_synack(tcp, &tmp, (tmp.sc_flags & SCF_TS) ? cookie_tsval(tcp, &tmp, now) : 0, now);
}

/* The ACK s as the answer to a cookie: -1 if cookies are not being checked now, 0 if it does
 * not verify, 1 if it does — then *tpp is the new connection (NULL: no room, counted, and
 * *refused set if the peer was reset: sc_expand). */
static int sc_cookie_ack(struct tcpcb *l, const struct tcp_synseg *s, uint64_t now,
                         struct tcpcb **tpp, int *refused)
{
    struct fn_tcp *tcp = l->t_stack->tcp;
    struct syncache tmp;

    *tpp = NULL;
    if (!cookies_active(tcp, now))
        return -1;
    if (!cookie_check(tcp, l->lport, s, now, &tmp))
        return 0;
    sc_from_listener(&tmp, l);
    *tpp = sc_expand(l, &tmp, s, now, refused);
    if (*tpp)
        l->t_stack->stats.tcp_syncookies_ok++;
    return 1;
}

/* An ACK (no SYN, no RST) for listener l: the third ACK of an entry or of a cookie. */
static struct tcpcb *sc_ack(struct tcpcb *l, const struct tcp_synseg *s, uint64_t now)
{
    struct fn_stack *st = l->t_stack;
    struct fn_tcp *tcp = st->tcp;
    struct tcp_syncache *sch = tcp->syncache;
    int32_t i = sc_lookup(sch, s->faddr, s->sport, l->lport);
    struct syncache *sc;
    struct tcpcb *tp;
    int refused = 0;

    if (i == SC_NONE) {
        int v = sc_cookie_ack(l, s, now, &tp, &refused);
        if (v == 0)
            st->stats.tcp_syncookies_bad++;
        else if (v < 0)
            st->stats.tcp_rx_noport++;  /* no entry, no cookie: a segment for no connection
                                           (e.g. a late duplicate of a closed one) */
        if (v <= 0)
            sc_reset(st, l, s, now);    /* LISTEN: any ACK is bad (RFC 9293 §3.10.7.2) */
        return tp;
    }
    sc = &sch->e[i];
    /* The peer may answer an earlier SYN-ACK that carried a cookie: its SYN came again
     * after that and found room for this entry.  The cookie is as good; the entry goes. */
    if (s->ack != sc->sc_iss + 1 && sc_cookie_ack(l, s, now, &tp, &refused) == 1) {
        if (tp || refused)
            sc_free(tcp, i, l);
        return tp;
    }
    /* RFC 9293 §3.10.7.4 first: SYN-RECEIVED expects RCV.NXT = IRS + 1.  Only that exact
     * start is taken — the peer resends from there if this one was a later segment. */
    if (s->seq != sc->sc_irs + 1) {
        st->stats.tcp_rx_oow++;
        sc_send_ack(tcp, sc, now);
        return NULL;
    }
    /* RFC 7323 §5.3 PAWS against the SYN's TSval. */
    if ((sc->sc_flags & SCF_TS) && s->to->has_ts && TSTMP_LT(s->to->tsval, sc->sc_ts_recent)) {
        st->stats.tcp_rx_paws++;
        sc_send_ack(tcp, sc, now);
        return NULL;
    }
    /* Fifth: the ACK must acknowledge our SYN, nothing else; otherwise <SEQ=SEG.ACK><RST>
     * and the entry stays. */
    if (s->ack != sc->sc_iss + 1) {
        st->stats.tcp_ack_unacceptable++;
        sc_reset(st, l, s, now);
        return NULL;
    }
    tp = sc_expand(l, sc, s, now, &refused);
    if (tp || refused)
        sc_free(tcp, i, l);     /* connected, or reset: the handshake is over either way */
    return tp;
}

/* A RST for listener l: only an entry's exact RCV.NXT removes it (RFC 5961 §3.2); in the
 * window it earns a challenge ACK; anything else, like any RST in LISTEN, is ignored. */
static void sc_rst(struct tcpcb *l, const struct tcp_synseg *s, uint64_t now)
{
    struct fn_stack *st = l->t_stack;
    struct fn_tcp *tcp = st->tcp;
    int32_t i = sc_lookup(tcp->syncache, s->faddr, s->sport, l->lport);
    struct syncache *sc;

    if (i == SC_NONE) {
        st->stats.tcp_rst_ignored++;
        return;
    }
    sc = &tcp->syncache->e[i];
    if (s->seq == sc->sc_irs + 1) {
        /* RFC 9293 §3.10.7.4 second: a passive SYN-RECEIVED returns to LISTEN. */
        st->stats.tcp_rst_rx++;
        sc_free(tcp, i, l);
    } else if (SEQ_GT(s->seq, sc->sc_irs + 1) &&
               SEQ_LT(s->seq, sc->sc_irs + 1 + synack_window(sc))) {
        sc_send_ack(tcp, sc, now);
    } else {
        st->stats.tcp_rst_ignored++;
    }
}

/* Within a SO_REUSEPORT group the member a flow hashes to may change as members come and
 * go; a half-open entry stays with the listener that took its SYN. */
static struct tcpcb *sc_owner(struct tcpcb *l, const struct tcp_synseg *s)
{
    struct fn_tcp *tcp = l->t_stack->tcp;
    int32_t i;

    if (!l->t_reuseport)
        return l;
    i = sc_lookup(tcp->syncache, s->faddr, s->sport, l->lport);
    return i == SC_NONE ? l : &tcp->tcbs[tcp->syncache->e[i].sc_lidx];
}

struct tcpcb *tcp_syncache_input(struct tcpcb *l, const struct tcp_synseg *s, uint64_t now)
{
    struct fn_stack *st = l->t_stack;

    l = sc_owner(l, s);

    if (s->flags & FN_TH_RST) {
        sc_rst(l, s, now);
        return NULL;
    }
    if (s->flags & FN_TH_SYN) {
        if (s->flags & FN_TH_ACK) {
            /* A SYN-ACK to a listening port: the ACK is bad (RFC 9293 §3.10.7.2). */
            st->stats.tcp_rx_dropped++;
            sc_reset(st, l, s, now);
            return NULL;
        }
        /* Data or FIN on the SYN are not kept: unacknowledged, they come again. */
        sc_syn(l, s, now);
        return NULL;
    }
    if (s->flags & FN_TH_ACK)
        return sc_ack(l, s, now);
    st->stats.tcp_rx_dropped++;     /* no SYN, RST or ACK: RFC 9293 §3.10.7.2 fourth */
    return NULL;
}

/* ---- timer ---- */

/* The queue whose head is due first, or NULL when the table is empty. */
static struct sc_queue *sc_first_due(struct tcp_syncache *sch)
{
    struct sc_queue *best = NULL;

    for (uint32_t k = 0; k < sch->nq && sch->used > 0; k++) {
        struct sc_queue *q = &sch->q[k];
        if (q->head != SC_NONE &&
            (!best || sch->e[q->head].sc_expiry < sch->e[best->head].sc_expiry))
            best = q;
    }
    return best;
}

uint64_t tcp_syncache_next_deadline(const struct fn_tcp *tcp)
{
    struct sc_queue *q = sc_first_due(tcp->syncache);

    return q ? tcp->syncache->e[q->head].sc_expiry : UINT64_MAX;
}

void tcp_syncache_timer(struct fn_tcp *tcp, uint64_t now)
{
    struct tcp_syncache *sch = tcp->syncache;
    struct fn_stack *st = tcp->st;
    struct sc_queue *q;

    /* Each entry fires at most once per call: a re-queued one is due at least 1 ms on. */
    while ((q = sc_first_due(sch)) != NULL && sch->e[q->head].sc_expiry <= now) {
        int32_t i = q->head;
        struct syncache *sc = &sch->e[i];

        if (sc->sc_rxtshift >= st->cfg.tcp_syn_retries) {
            /* RFC 9293 §3.8.3 R2 for a SYN: given up; nobody owns it, so it just goes. */
            st->stats.tcp_syncache_expired++;
            sc_free(tcp, i, NULL);
            continue;
        }
        /* RFC 6298 §5.5: resend and back off. */
        sc_queue_remove(sch, i);
        sc->sc_rxtshift++;
        sc_queue_append(sch, i, now);
        st->stats.tcp_syncache_rexmt++;
        sc_send_synack(tcp, sc, sc_tsval(tcp, sc, now), now);
    }
}

void tcp_syncache_purge(struct tcpcb *l)
{
    struct fn_tcp *tcp = l->t_stack->tcp;
    struct tcp_syncache *sch = tcp->syncache;

    /* A scan of the table: listeners close rarely, and the fast path keeps no list. */
    for (uint32_t i = 0; i < sch->size && l->t_sc_count > 0; i++) {
        if (sch->e[i].sc_lport == l->lport && &tcp->tcbs[sch->e[i].sc_lidx] == l)
            sc_free(tcp, (int32_t)i, l);
    }
}

/* ---- creation ---- */

/* RFC 6298: rto_init doubled per retransmission, within [rto_min, rto_max]. */
static uint64_t sc_rto(const struct fn_config *c, uint32_t shift)
{
    uint64_t rto = (uint64_t)c->tcp_rto_init_ms * 1000000ull;
    uint64_t max = (uint64_t)c->tcp_rto_max_ms * 1000000ull;
    uint64_t min = (uint64_t)c->tcp_rto_min_ms * 1000000ull;

    if (rto < min)
        rto = min;
    for (uint32_t i = 0; i < shift && rto < max; i++)
        rto *= 2;
    return rto > max ? max : rto;
}

int tcp_syncache_init(struct fn_tcp *tcp)
{
    const struct fn_config *c = &tcp->st->cfg;
    struct tcp_syncache *sch;
    uint32_t nb = 1;
    uint64_t seed[4];

    if (c->tcp_syncache_size < 1 || c->tcp_syncache_size > (1u << 22) || c->tcp_syncookies > 2)
        return -EINVAL;
    sch = calloc(1, sizeof(*sch));
    if (!sch)
        return -ENOMEM;
    tcp->syncache = sch;
    while (nb < c->tcp_syncache_size)
        nb <<= 1;
    sch->size = c->tcp_syncache_size;
    sch->hash_mask = nb - 1;
    sch->e = calloc(sch->size, sizeof(*sch->e));
    sch->hash = malloc((size_t)nb * sizeof(*sch->hash));
    if (!sch->e || !sch->hash)
        return -ENOMEM;     /* the caller's fn_tcp_fini frees what was allocated */
    for (uint32_t b = 0; b < nb; b++)
        sch->hash[b] = SC_NONE;
    sch->free_head = SC_NONE;
    for (uint32_t i = sch->size; i-- > 0;) {
        sch->e[i].sc_hnext = sch->free_head;
        sch->free_head = (int32_t)i;
    }
    /* Distinct queues until the RTO stops growing, and no more than the retries need. */
    for (uint32_t k = 0;; k++) {
        sch->q[k].head = sch->q[k].tail = SC_NONE;
        sch->q[k].rto = sc_rto(c, k);
        if (sch->q[k].rto >= (uint64_t)c->tcp_rto_max_ms * 1000000ull ||
            k >= c->tcp_syn_retries || k + 1 == SC_MAXQ) {
            sch->nq = k + 1;
            break;
        }
    }
    /* RFC 4987 §3.6: the cookie secret must be unguessable.  Without platform randomness
     * it is derived from the ISN secret (itself random or, failing that, clock-based). */
    if (fn_random_bytes(seed, sizeof(seed)) != 0) {
        for (uint32_t k = 0; k < 4; k++)
            seed[k] = fn_siphash24(tcp->isn_key, &k, sizeof(k));
    }
    sch->cookie_key[0] = seed[0];
    sch->cookie_key[1] = seed[1];
    sch->hash_key[0] = seed[2];
    sch->hash_key[1] = seed[3];
    return 0;
}

void tcp_syncache_fini(struct fn_tcp *tcp)
{
    struct tcp_syncache *sch = tcp->syncache;

    if (!sch)
        return;
    free(sch->e);
    free(sch->hash);
    free(sch);
    tcp->syncache = NULL;
}
