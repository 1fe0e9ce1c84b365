/*
 * tcp_harness.h — fixtures of the TCP tests (test_tcp_*.c), on top of net_harness.h.
 *
 * Segment-level tests (smoltcp/lwIP style): stack A runs fastnet's TCP; end B of the memory
 * link is "the peer", played by the test: it injects hand-built segments whose sequence
 * numbers are relative to the peer's own ISN (P_ISN) and to A's ISN (learnt from A's SYN or
 * SYN-ACK), and reads A's output segment by segment.  Time is virtual (t->now).
 */
#ifndef FASTNET_TESTS_TCP_HARNESS_H
#define FASTNET_TESTS_TCP_HARNESS_H

#include <errno.h>

#include "net_harness.h"
#include "fn_test.h"
#include "core/fn_stack_impl.h"
#include "tcp/fn_tcp.h"
#include "tcp/tcp_var.h"

#define A_PORT 80
#define P_PORT 40000
#define P_MSS 1460

/* A parsed segment sent by stack A. */
struct rseg {
    struct fn_tcp_info th;
    struct fn_tcp_opts to;
    uint8_t frame[2048];
    uint32_t flen;
};

/* The peer, played by the test. */
struct peer {
    struct tnet *t;
    uint16_t port;              /* peer's port */
    uint16_t aport;             /* A's port */
    uint32_t iss;               /* peer's ISN (absolute) */
    uint32_t a_iss;             /* A's ISN (absolute, learnt) */
    int ts;                     /* include a timestamp option */
    uint32_t tsval;             /* peer's next TSval */
    uint32_t tsecr;             /* what the peer echoes */
    uint16_t win;
    uint32_t ip;                /* peer's source address (IP_B; others need a route back) */
    int sackok;                 /* offer SACK-permitted on the peer's SYN (tt_passive) */
    uint16_t mss;               /* MSS option of the peer's SYN (tt_passive); 0: P_MSS */
    struct fn_tcp_opts synack;  /* options of A's SYN-ACK (tt_passive) */
};

static inline void tt_cfg(struct fn_config *c)
{
    tnet_cfg(c, IP_A);
    c->tcp_max_conns = 16;
    c->tcp_timestamps = 0;      /* tests opt in */
    c->tcp_window_scaling = 0;
    c->tcp_sack = 0;
}

/* Raw-link fixture: A with TCP, B raw, A knows B's MAC. */
static inline int tt_open(struct tnet *t, const struct fn_config *c)
{
    int rc = tnet_open(t, c, NULL, 1024, 1500);
    if (rc)
        return rc;
    tnet_teach_b(t);
    return 0;
}

static inline uint32_t pool_in_use(struct fn_pool *p)
{
    struct fn_pool_stats s;
    fn_pool_get_stats(p, &s);
    return s.in_use;
}

static inline void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Build one TCP segment from the peer to A with absolute seq/ack as an Ethernet frame into f
 * (room for TT_FRAME_MAX bytes); returns the frame length. */
#define TT_FRAME_MAX 2100
static inline uint32_t tt_build_abs(const struct peer *p, uint8_t *f, uint32_t seq, uint32_t ack,
                                    uint8_t flags, const uint8_t *opts, uint32_t optlen,
                                    const void *data, uint32_t dlen)
{
    uint8_t seg[2048];
    uint32_t hlen = FN_TCP_HLEN + optlen, sum;
    uint16_t c;

    memset(seg, 0, hlen);
    seg[0] = (uint8_t)(p->port >> 8);
    seg[1] = (uint8_t)p->port;
    seg[2] = (uint8_t)(p->aport >> 8);
    seg[3] = (uint8_t)p->aport;
    put32(seg + 4, seq);
    put32(seg + 8, ack);
    seg[12] = (uint8_t)((hlen / 4) << 4);
    seg[13] = flags;
    seg[14] = (uint8_t)(p->win >> 8);
    seg[15] = (uint8_t)p->win;
    if (optlen)
        memcpy(seg + FN_TCP_HLEN, opts, optlen);
    if (dlen)
        memcpy(seg + hlen, data, dlen);
    sum = fn_csum_pseudo(p->ip, IP_A, FN_IPPROTO_TCP, (uint16_t)(hlen + dlen));
    c = fn_csum_fold(fn_csum_partial(seg, hlen + dlen, sum));
    memcpy(seg + 16, &c, 2);
    return build_ip(f, MAC_A, MAC_B, p->ip, IP_A, FN_IPPROTO_TCP, 1, 0, 0, seg, hlen + dlen);
}

/* Build and inject one TCP segment from the peer to A with absolute seq/ack. */
static inline void tt_inject_abs(struct peer *p, uint32_t seq, uint32_t ack, uint8_t flags,
                                 const uint8_t *opts, uint32_t optlen, const void *data,
                                 uint32_t dlen)
{
    uint8_t f[TT_FRAME_MAX];

    tnet_inject(p->t, f, tt_build_abs(p, f, seq, ack, flags, opts, optlen, data, dlen));
}

/* tt_build_abs with sequence numbers relative to the ISNs (seq 1 = the peer's first data
 * byte, ack 1 = A's first data byte) and the peer's timestamp option when p->ts is on. */
static inline uint32_t tt_build(const struct peer *p, uint8_t *f, uint32_t rseq, uint32_t rack,
                                uint8_t flags, const void *data, uint32_t dlen)
{
    uint8_t o[12] = {0};       /* zeroed: gcc -O2 cannot see n == 0 when p->ts is off */
    uint32_t n = 0;

    if (p->ts) {
        o[0] = 1;
        o[1] = 1;
        o[2] = 8;
        o[3] = 10;
        put32(o + 4, p->tsval);
        put32(o + 8, p->tsecr);
        n = 12;
    }
    return tt_build_abs(p, f, p->iss + rseq, p->a_iss + rack, flags, o, n, data, dlen);
}

/* Inject a segment built by tt_build. */
static inline void tt_inject(struct peer *p, uint32_t rseq, uint32_t rack, uint8_t flags,
                             const void *data, uint32_t dlen)
{
    uint8_t f[TT_FRAME_MAX];

    tnet_inject(p->t, f, tt_build(p, f, rseq, rack, flags, data, dlen));
}

/* The next TCP segment A sent (ARP and others skipped); 1 if there was one. */
static inline int tt_read(struct tnet *t, struct rseg *r)
{
    for (;;) {
        struct fn_ipv4_info ip;
        r->flen = tnet_read(t, r->frame, sizeof(r->frame));
        if (r->flen == 0)
            return 0;
        if (r->flen < FN_ETH_HLEN + FN_IPV4_HLEN || rd16(r->frame + 12) != FN_ETHERTYPE_IPV4)
            continue;
        if (fn_ipv4_parse(r->frame + FN_ETH_HLEN, r->flen - FN_ETH_HLEN, 1, &ip) != FN_WIRE_OK ||
            ip.proto != FN_IPPROTO_TCP)
            continue;
        if (fn_tcp_parse(r->frame + FN_ETH_HLEN + ip.hlen, ip.total_len - ip.hlen, &r->th) !=
            FN_WIRE_OK)
            continue;
        {
            uint32_t sum = fn_csum_pseudo(ip.src, ip.dst, FN_IPPROTO_TCP,
                                          (uint16_t)(ip.total_len - ip.hlen));
            if (fn_csum_fold(fn_csum_partial(r->frame + FN_ETH_HLEN + ip.hlen,
                                             ip.total_len - ip.hlen, sum)) != 0)
                return -1;      /* a bad checksum from A is a test failure */
        }
        fn_tcp_opts_parse(r->th.opts, r->th.opts_len, &r->to);
        return 1;
    }
}

/* Relative seq/ack of a segment A sent. */
#define RSEQ(p, r) ((uint32_t)((r)->th.seq - (p)->a_iss))
#define RACK(p, r) ((uint32_t)((r)->th.ack - (p)->iss))

static inline void tt_peer_init(struct peer *p, struct tnet *t, uint32_t iss)
{
    memset(p, 0, sizeof(*p));
    p->t = t;
    p->port = P_PORT;
    p->aport = A_PORT;
    p->iss = iss;
    p->win = 65535;
    p->tsval = 1000;
    p->ip = IP_B;
}

/* SYN options: MSS (and TS if p->ts, echoing 0). */
static inline void tt_send_syn(struct peer *p, uint16_t mss, int ws, int sackok)
{
    uint8_t o[40];
    uint32_t n = 0;

    o[n++] = 2;
    o[n++] = 4;
    o[n++] = (uint8_t)(mss >> 8);
    o[n++] = (uint8_t)mss;
    if (ws >= 0) {
        o[n++] = 1;
        o[n++] = 3;
        o[n++] = 3;
        o[n++] = (uint8_t)ws;
    }
    if (sackok) {
        o[n++] = 1;
        o[n++] = 1;
        o[n++] = 4;
        o[n++] = 2;
    }
    if (p->ts) {
        o[n++] = 1;
        o[n++] = 1;
        o[n++] = 8;
        o[n++] = 10;
        put32(o + n, p->tsval);
        put32(o + n + 4, 0);
        n += 8;
    }
    tt_inject_abs(p, p->iss, 0, FN_TH_SYN, o, n, NULL, 0);
}

/* Passive open on A (listener lst): SYN, SYN-ACK, ACK.  Returns the accepted tcpcb. */
static inline struct tcpcb *tt_passive(struct peer *p, struct tcpcb *lst)
{
    struct rseg r;

    tt_send_syn(p, p->mss ? p->mss : P_MSS, -1, p->sackok);
    if (tt_read(p->t, &r) != 1 || r.th.flags != (FN_TH_SYN | FN_TH_ACK))
        return NULL;
    p->a_iss = r.th.seq;
    p->synack = r.to;
    if (r.th.ack != p->iss + 1)
        return NULL;
    if (r.to.has_ts)
        p->tsecr = r.to.tsval;
    tt_inject(p, 1, 1, FN_TH_ACK, NULL, 0);
    return fn_tcp_accept(lst);
}

/* Active open from A: returns A's tcpcb in ESTABLISHED (the peer answered the SYN). */
static inline struct tcpcb *tt_active(struct peer *p, struct tnet *t)
{
    struct tcpcb *tp;
    struct rseg r;
    uint8_t o[4] = {2, 4, P_MSS >> 8, P_MSS & 0xff};

    if (fn_tcp_connect(t->sa, IP_B, P_PORT, 0, &tp, t->now) != 0)
        return NULL;
    fn_stack_poll(t->sa, t->now);
    if (tt_read(t, &r) != 1 || r.th.flags != FN_TH_SYN)
        return NULL;
    p->aport = r.th.sport;
    p->a_iss = r.th.seq;
    tt_inject_abs(p, p->iss, p->a_iss + 1, FN_TH_SYN | FN_TH_ACK, o, 4, NULL, 0);
    if (tt_read(t, &r) != 1 || r.th.flags != FN_TH_ACK)
        return NULL;
    return tp;
}

/* Advance the virtual clock and run A's timers. */
static inline void tt_advance(struct tnet *t, uint64_t ns)
{
    t->now += ns;
    fn_stack_poll(t->sa, t->now);
}

/* Drain A's ready list; returns the OR of events for tp. */
static inline uint32_t tt_events(struct tnet *t, struct tcpcb *tp)
{
    struct fn_tcp_event ev[64];
    uint32_t e = 0;
    int n = fn_tcp_ready(t->sa, ev, 64);

    for (int i = 0; i < n; i++)
        if (ev[i].tp == tp)
            e |= ev[i].events;
    return e;
}

/* A stream of known bytes from the peer: byte i of the stream is tt_pbyte(i). */
static inline uint8_t tt_pbyte(uint32_t i)
{
    return (uint8_t)(i * 7 + (i >> 8));
}

static inline void tt_fill(uint8_t *b, uint32_t off, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        b[i] = tt_pbyte(off + i);
}

/* The peer sends stream bytes [off, off + n) (stream offset 0 = relative seq 1). */
static inline void tt_send_range(struct peer *p, uint32_t off, uint32_t n)
{
    uint8_t b[1500];
    tt_fill(b, off, n);
    tt_inject(p, 1 + off, 1, FN_TH_ACK, b, n);
}

static inline int tt_check_stream(struct tcpcb *tp, uint64_t now, uint32_t off, uint32_t n)
{
    uint8_t b[8192];
    int got = fn_tcp_recv(tp, b, sizeof(b), now);

    if (got != (int)n)
        return 0;
    for (uint32_t i = 0; i < n; i++)
        if (b[i] != tt_pbyte(off + i))
            return 0;
    return 1;
}

/* The common fixture of the connection-level tests: A listens on A_PORT and the peer, with
 * ISN `iss`, opens a connection to it (MSS P_MSS, no other SYN options).  CFG is a statement
 * run on the config `c` before A starts, PEER one run on the peer `p` before its SYN.
 * Declares t, c, l (the listener), tp (the accepted tcpcb), p and r. */
#define TT_SETUP(iss, CFG, PEER)                                         \
    struct tnet t;                                                       \
    struct fn_config c;                                                  \
    struct tcpcb *l = NULL, *tp = NULL;                                  \
    struct peer p;                                                       \
    struct rseg r;                                                       \
    (void)r;                                                             \
    tt_cfg(&c);                                                          \
    CFG;                                                                 \
    FN_CHECK_EQ(tt_open(&t, &c), 0);                                     \
    FN_CHECK_EQ(fn_tcp_listen(t.sa, A_PORT, 4, &l), 0);                  \
    tt_peer_init(&p, &t, (iss));                                         \
    PEER;                                                                \
    tp = tt_passive(&p, l);                                              \
    FN_CHECK(tp != NULL)

/* End of a TT_SETUP test: abort tp unless the test closed it itself (set tp = NULL then),
 * close the listener, and check that no tcpcb and no packet buffer is left. */
#define TT_TEARDOWN()                                                    \
    do {                                                                 \
        if (tp)                                                          \
            fn_tcp_abort(tp, t.now);                                     \
        fn_tcp_close(l, t.now);                                          \
        FN_CHECK_EQ(fn_tcp_count(t.sa), 0);                              \
        FN_CHECK_EQ(tnet_close(&t), 0);                                  \
    } while (0)

#endif
