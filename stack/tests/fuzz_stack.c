/*
 * fuzz_stack.c — libFuzzer harness over the whole input path of one stack, with time.
 *
 * Contract: each input is a program run against a fresh stack A on the in-memory link (end B
 * is played by the harness).  Byte 0 picks the TCP options A offers and the resource limits,
 * byte 1 the starting states; then A listens on port 80 and holds, in "slots" 0..3, an
 * accepted connection (ESTABLISHED), an active one (ESTABLISHED, FIN_WAIT_1 or CLOSE_WAIT),
 * one left in SYN_SENT and a half-open child of the listener (SYN_RECEIVED).  The rest of
 * the input is a sequence of operations: TCP segments from the peer of a slot (sequence and
 * ACK numbers relative to A's state, flags, window, options and payload from the input,
 * checksum right unless asked otherwise), raw frames, the same segment as IPv4 fragments,
 * ICMP errors quoting a connection, ARP, bursts of duplicate ACKs, clock advances, and the
 * owner's calls (send, recv, shutdown, close, abort, accept, connect, socket options,
 * closing and reopening the listener).  Nothing here may fail on malformed input; a finding is an abort with the
 * invariant that broke:
 *   - after every step, the structural invariants of every tcpcb (tcp_var.h), the timer
 *     heap, the ready list and the listener queues, and exact accounting of packet buffers
 *     (every buffer in use by A is held by a send, receive or reassembly chain or an ARP
 *     queue);
 *   - every frame A sends is well-formed with correct checksums, and its TCP payload is the
 *     bytes the owner queued at that stream offset; every byte the owner reads is the byte
 *     the peer sent at that sequence number (payloads are a function of their sequence
 *     number), unless raw frames may have put other bytes into a stream;
 *   - events go only to tcpcbs the owner holds, and a tcpcb the owner holds is never freed;
 *   - at the end, with every connection closed and the peer silent, the timers alone bring
 *     fn_tcp_count() to 0 and fn_stack_destroy() reports no buffer in use.
 * The harness replaces fn_random_bytes with a fixed-seed generator, so a crashing input
 * replays exactly (ISNs, ports and hash keys included).  Single-threaded.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"
#include "tcp_harness.h"
#include "net/fn_net.h"
#include "platform/fn_platform.h"


#define NSLOT 8
#define PEER_PORT(s) ((uint16_t)(40000 + (s)))
#define FRAME_MAX 1514u                 /* link MTU 1500 + Ethernet */
#define IP_OTHER ip4(198, 18, 0, 77)    /* on the subnet, never answers ARP */
#define NFLOOD 32                       /* SYN-flood peers: ports FLOOD_PORT.. */
#define FLOOD_PORT 41000

/* ---- deterministic randomness: replaces platform/random.c at link time ---- */

static uint64_t rnd_state;

int fn_random_bytes(void *buf, size_t len)
{
    fz_random_fill(&rnd_state, buf, len);
    return 0;
}

/* ---- state ---- */

struct slot {
    struct tcpcb *tp;           /* held by the owner (the harness), or NULL */
    struct peer p;              /* the peer end of the slot's 4-tuple */
    uint32_t rcv_base, una_base, max_base;  /* A's rcv_nxt / snd_una / snd_max, last seen */
    /* Stream checks of the connection the slot holds or last held (tuple p.port/p.aport). */
    int have_iss;
    uint32_t iss;               /* A's ISN */
    uint32_t sent;              /* bytes the owner queued (the stream offset of the next) */
    uint32_t read;              /* bytes the owner read */
};

struct fz {
    struct tnet t;
    struct fn_config c;
    struct tcpcb *l;
    struct slot s[NSLOT];
    struct fz_input src;        /* the program */
    int tainted;                /* raw IPv4 frames went in: stream contents are unknown */
    uint16_t pmss;              /* MSS option of the peers' SYNs */
    /* SYN-flood peers: the ISS of the last SYN-ACK (entry or cookie) A sent each, and its
     * TSval, so that op_flood can complete a handshake with a valid or a forged ACK. */
    uint32_t flood_iss[NFLOOD], flood_tsval[NFLOOD];
    uint8_t flood_seen[NFLOOD];
    uint8_t buf[65536];
};

static struct fz Z;
static int trace;               /* FUZZ_STACK_TRACE set: print each step (triage) */

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static uint8_t g8(struct fz *z)
{
    return fz_g8(&z->src);
}

static uint16_t g16(struct fz *z)
{
    return fz_g16(&z->src);
}

static uint32_t g32(struct fz *z)
{
    uint32_t hi = g16(z);
    return hi << 16 | g16(z);
}

/* Payload bytes are a function of their sequence number (peer → A) or stream offset
 * (A → peer), so that reassembly and retransmission can be checked byte for byte. */
static uint8_t peer_byte(uint32_t seq)
{
    return (uint8_t)((seq * 2654435761u) >> 24);
}

static uint8_t owner_byte(uint32_t off)
{
    return (uint8_t)((off * 40503u) >> 7 ^ off);
}

static struct fn_tcp *tcpst(struct fz *z)
{
    return z->t.sa->tcp;
}

/* A's tcpcb for the slot's 4-tuple (the one the owner holds, or any the stack has). */
static struct tcpcb *slot_tcb(struct fz *z, struct slot *s)
{
    if (s->tp)
        return s->tp;
    return tcp_lookup(tcpst(z), IP_B, s->p.port, s->p.aport);
}

static void slot_refresh(struct fz *z, struct slot *s)
{
    struct tcpcb *tp = slot_tcb(z, s);

    if (!tp)
        return;
    s->rcv_base = tp->rcv_nxt;
    s->una_base = tp->snd_una;
    s->max_base = tp->snd_max;
}

/* The owner now holds tp in slot s. */
static void slot_take(struct slot *s, struct tcpcb *tp)
{
    s->tp = tp;
    s->p.aport = tp->lport;
    s->have_iss = 1;
    s->iss = tp->iss;
    s->sent = 0;
    s->read = 0;
}

static struct slot *slot_by_ports(struct fz *z, uint16_t aport, uint16_t pport)
{
    for (int i = 0; i < NSLOT; i++) {
        if (z->s[i].p.port == pport && z->s[i].p.aport == aport)
            return &z->s[i];
    }
    return NULL;
}

/* ---- what A sends ---- */

static void check_tcp_out(struct fz *z, const struct fn_ipv4_info *ip, const uint8_t *l4)
{
    uint32_t l4len = ip->total_len - ip->hlen;
    struct fn_tcp_info th;
    struct fn_tcp_opts to;
    struct slot *s;

    FZ_ASSERT(ip->df && !ip->mf && ip->frag_off == 0);
    FZ_ASSERT(fn_tcp_parse(l4, l4len, &th) == FN_WIRE_OK);
    FZ_ASSERT(fn_csum_fold(fn_csum_partial(l4, l4len, fn_csum_pseudo(ip->src, ip->dst,
                                                                      FN_IPPROTO_TCP,
                                                                      (uint16_t)l4len))) == 0);
    FZ_ASSERT(fn_tcp_opts_parse(th.opts, th.opts_len, &to) == FN_WIRE_OK);
    FZ_ASSERT(!((th.flags & FN_TH_SYN) && (th.flags & (FN_TH_RST | FN_TH_FIN))));
    FZ_ASSERT(th.sport != 0 && th.dport != 0);
    if ((th.flags & (FN_TH_SYN | FN_TH_ACK)) == (FN_TH_SYN | FN_TH_ACK) &&
        th.sport == A_PORT && th.dport >= FLOOD_PORT && th.dport < FLOOD_PORT + NFLOOD) {
        z->flood_iss[th.dport - FLOOD_PORT] = th.seq;
        z->flood_tsval[th.dport - FLOOD_PORT] = to.has_ts ? to.tsval : 0;
        z->flood_seen[th.dport - FLOOD_PORT] = 1;
    }
    s = slot_by_ports(z, th.sport, th.dport);
    if (!s || ip->dst != IP_B)
        return;
    if (to.has_ts)
        s->p.tsecr = to.tsval;
    if (!s->have_iss || th.payload_len == 0 || (th.flags & (FN_TH_SYN | FN_TH_RST)))
        return;
    /* The slot's stream offsets are those of the connection it took last; an older one on
     * the same tuple (closed by the owner, still sending) is not checked. */
    {
        const struct tcpcb *tp = tcp_lookup(tcpst(z), IP_B, th.dport, th.sport);
        if (!tp || tp->iss != s->iss)
            return;
    }
    /* The payload is what the owner queued at that offset (RFC 9293 §3.4: a retransmission
     * carries the same bytes). */
    {
        uint32_t off = th.seq - (s->iss + 1);
        FZ_ASSERT(off < s->sent && th.payload_len <= s->sent - off);
        for (uint32_t i = 0; i < th.payload_len; i++)
            FZ_ASSERT(th.payload[i] == owner_byte(off + i));
    }
}

/* Read and check every frame A put on the link. */
static void drain(struct fz *z)
{
    static uint8_t f[2048];
    uint32_t n;

    while ((n = tnet_read(&z->t, f, sizeof f)) > 0) {
        struct fn_eth_info eth;
        struct fn_ipv4_info ip;
        struct fn_arp_info arp;

        FZ_ASSERT(n <= FRAME_MAX);
        FZ_ASSERT(fn_eth_parse(f, n, &eth) == FN_WIRE_OK);
        FZ_ASSERT(memcmp(eth.src, MAC_A, 6) == 0);
        if (eth.type == FN_ETHERTYPE_ARP) {
            FZ_ASSERT(fn_arp_parse(f + FN_ETH_HLEN, n - FN_ETH_HLEN, &arp) == FN_WIRE_OK);
            FZ_ASSERT(arp.spa == IP_A);
            continue;
        }
        FZ_ASSERT(eth.type == FN_ETHERTYPE_IPV4);
        FZ_ASSERT(fn_ipv4_parse(f + FN_ETH_HLEN, n - FN_ETH_HLEN, 1, &ip) == FN_WIRE_OK);
        FZ_ASSERT(ip.src == IP_A && ip.ttl != 0);
        if (ip.proto == FN_IPPROTO_TCP) {
            check_tcp_out(z, &ip, f + FN_ETH_HLEN + ip.hlen);
        } else if (ip.proto == FN_IPPROTO_ICMP && ip.frag_off == 0 && !ip.mf) {
            FZ_ASSERT(fn_csum(f + FN_ETH_HLEN + ip.hlen, ip.total_len - ip.hlen) == 0);
        } else {
            FZ_ASSERT(ip.proto == FN_IPPROTO_ICMP);
        }
    }
}

/* Run A until its receive ring is empty, then read what it sent. */
static void settle(struct fz *z)
{
    for (int i = 0; i < 64 && fn_stack_poll(z->t.sa, z->t.now) > 0; i++)
        ;
    drain(z);
}

/* ---- invariants ---- */

static int owned(const struct fz *z, const struct tcpcb *tp)
{
    if (tp == z->l)
        return 1;
    for (int i = 0; i < NSLOT; i++) {
        if (z->s[i].tp == tp)
            return 1;
    }
    return 0;
}

static uint32_t chain(const struct fn_pkt *p, uint32_t *bytes)
{
    uint32_t n = 0;

    *bytes = 0;
    for (; p; p = p->next) {
        FZ_ASSERT(n++ < 1u << 20);
        *bytes += p->len;
    }
    return n;
}

/* One tcpcb in use; returns the packet buffers it holds. */
static uint32_t check_tcb(struct fz *z, const struct tcpcb *tp)
{
    const struct fn_config *c = &z->c;
    uint32_t bufs = 0, b, n;
    uint64_t due = 0;

    FZ_ASSERT(tp->t_state >= TCPS_CLOSED && tp->t_state < TCP_NSTATES);
    FZ_ASSERT(tp->t_stack == z->t.sa);
    /* Only the owner's listener listens; CLOSED ones wait for their owner. */
    if (tp->t_state == TCPS_LISTEN)
        FZ_ASSERT(tp == z->l);
    if (tp->t_state == TCPS_CLOSED)
        FZ_ASSERT(owned(z, tp) && !(tp->t_flags & TF_DETACHED) && !tp->t_listen);
    if (tp->t_flags & TF_DETACHED)
        FZ_ASSERT(!owned(z, tp) && tp->t_revents == 0);
    if (tp->t_listen)
        FZ_ASSERT(tp->t_listen == z->l && z->l && !owned(z, tp) && tp->t_revents == 0);
    for (int i = 0; i < TT_NTIMERS; i++) {
        /* The 2·MSL of a TIME_WAIT the queue ends is no heap key (tcp_timewait.c). */
        if (i == TT_2MSL && tp->t_twtimed)
            continue;
        if (tp->t_timer[i] && (due == 0 || tp->t_timer[i] < due))
            due = tp->t_timer[i];
    }
    FZ_ASSERT(tp->t_due == due);
    if (tp->t_twtimed)
        FZ_ASSERT(tp->t_twq && tp->t_timer[TT_2MSL] != 0);
    if (tp->t_twq)
        FZ_ASSERT(tp->t_state == TCPS_TIME_WAIT && (tp->t_flags & TF_DETACHED));
    FZ_ASSERT((tp->t_heapidx >= 0) == (due != 0));
    if (tp->t_heapidx >= 0)
        FZ_ASSERT((uint32_t)tp->t_heapidx < tcpst(z)->nheap &&
                  tcpst(z)->heap[tp->t_heapidx] == tp);
    if (tp->t_state == TCPS_LISTEN) {
        FZ_ASSERT(tp->t_qlen <= tp->t_backlog && tp->t_sc_count <= tp->t_backlog);
        FZ_ASSERT(!tp->snd_head && !tp->rcv_head && !tp->reass_head);
        return 0;
    }
    /* Send sequence space (tcp_var.h). */
    FZ_ASSERT(SEQ_LEQ(tp->snd_una, tp->snd_nxt) && SEQ_LEQ(tp->snd_nxt, tp->snd_max));
    n = chain(tp->snd_head, &b);
    FZ_ASSERT(b == tp->snd_cc && tp->snd_cc <= c->tcp_sndbuf);
    FZ_ASSERT((tp->snd_head == NULL) == (tp->snd_tail == NULL));
    bufs += n;
    n = chain(tp->rcv_head, &b);
    FZ_ASSERT(b == tp->rcv_cc && tp->rcv_cc <= c->tcp_rcvbuf);
    FZ_ASSERT((tp->rcv_head == NULL) == (tp->rcv_tail == NULL));
    bufs += n;
    n = chain(tp->reass_head, &b);
    FZ_ASSERT(n == tp->reass_segs && b == tp->reass_bytes);
    FZ_ASSERT(tp->reass_segs <= c->tcp_reass_max_segs);
    bufs += n;
    /* The reassembly queue: ascending, disjoint, strictly after rcv_nxt (tcp_reass.c). */
    {
        uint32_t end = tp->rcv_nxt;
        for (const struct fn_pkt *p = tp->reass_head; p; p = p->next) {
            uint32_t seq = (uint32_t)p->user;
            FZ_ASSERT(p == tp->reass_head ? SEQ_GT(seq, end) : SEQ_GEQ(seq, end));
            end = seq + p->len;
        }
    }
    FZ_ASSERT(tp->snd_wscale <= TCP_MAX_WINSHIFT && tp->rcv_wscale <= TCP_MAX_WINSHIFT);
    /* The SACK scoreboard (tcp_var.h): only with SACK in use, bounded, ascending, disjoint,
     * never adjacent, nothing beyond snd_max (RFC 6675 §3; RFC 2018 §8 never trusts a block
     * for data not sent). */
    FZ_ASSERT(tp->snd_sack_n <= TCP_SACK_SB_MAX);
    if (!(tp->t_flags & TF_SACK_PERMIT))
        FZ_ASSERT(tp->snd_sack_n == 0);
    for (uint32_t i = 0; i < tp->snd_sack_n; i++) {
        const struct tcp_sackblk *sb = &tp->snd_sack[i];
        FZ_ASSERT(SEQ_LT(sb->start, sb->end) && SEQ_LEQ(sb->end, tp->snd_max));
        if (i > 0)
            FZ_ASSERT(SEQ_GT(sb->start, tp->snd_sack[i - 1].end));
    }
    FZ_ASSERT(tp->rcv_sack_nrecent <= TCP_SACK_RCV_RECENT);
    /* A tcpcb waits for the pool iff it is linked on the waiters list (tcp_pool.c). */
    {
        uint32_t linked = 0, n2 = 0;
        for (const struct tcpcb *w = tcpst(z)->pool_waiters; w; w = w->t_pwnext) {
            FZ_ASSERT(n2++ < tcpst(z)->ntcbs);
            linked += w == tp;
        }
        FZ_ASSERT(linked == (tp->t_pwait != 0));
    }
    FZ_ASSERT(tp->t_rxtcur >= (uint64_t)c->tcp_rto_min_ms * 1000000ull &&
              tp->t_rxtcur <= (uint64_t)c->tcp_rto_max_ms * 1000000ull);
    if (TCPS_HAVERCVDSYN(tp->t_state)) {
        FZ_ASSERT(SEQ_LEQ(tp->rcv_nxt, tp->rcv_adv));
        FZ_ASSERT(tp->t_maxseg >= c->tcp_min_mss);
    }
    return bufs;
}

static void check_invariants(struct fz *z)
{
    struct fn_tcp *tcp = tcpst(z);
    struct fn_stack *st = z->t.sa;
    uint32_t used = 0, bufs = 0, timed = 0, ready = 0, kids = 0, ooo = 0;
    struct fn_pool_stats ps;

    for (uint32_t i = 0; i < tcp->ntcbs; i++) {
        const struct tcpcb *tp = &tcp->tcbs[i];
        if (tp->lport == 0)
            continue;
        used++;
        bufs += check_tcb(z, tp);
        timed += tp->t_due != 0;
        ready += tp->t_revents != 0;
        kids += tp->t_listen != NULL;
        ooo += tp->reass_segs;
    }
    FZ_ASSERT(used == tcp->nused && fn_tcp_count(st) == used);
    /* The out-of-order budget counts exactly the queued segments (tcp_pool.c). */
    FZ_ASSERT(tcp->ooo_bufs == ooo);
    /* The heap holds exactly the tcpcbs with a timer armed, ordered by deadline. */
    FZ_ASSERT(tcp->nheap == timed);
    for (uint32_t i = 1; i < tcp->nheap; i++)
        FZ_ASSERT(tcp->heap[(i - 1) / 2]->t_due <= tcp->heap[i]->t_due);
    /* The TIME_WAIT queue: the queued tcpcbs, its t_twtimed ones in deadline order (the
     * queue ends them from its head), none later than tw_due_max. */
    {
        uint32_t n = 0, queued = 0;
        uint64_t last_due = 0;
        const struct tcpcb *prev = NULL;
        for (uint32_t i = 0; i < tcp->ntcbs; i++)
            queued += tcp->tcbs[i].lport != 0 && tcp->tcbs[i].t_twq;
        for (const struct tcpcb *tp = tcp->tw_head; tp; tp = tp->t_twnext) {
            FZ_ASSERT(n++ < tcp->ntcbs && tp->t_twq && tp->t_twprev == prev);
            if (tp->t_twtimed) {
                FZ_ASSERT(tp->t_timer[TT_2MSL] >= last_due &&
                          tp->t_timer[TT_2MSL] <= tcp->tw_due_max);
                last_due = tp->t_timer[TT_2MSL];
            }
            prev = tp;
        }
        FZ_ASSERT(n == queued && tcp->tw_tail == prev);
    }
    /* The ready list links exactly the tcpcbs with events pending. */
    {
        uint32_t n = 0;
        const struct tcpcb *last = NULL;
        for (const struct tcpcb *tp = tcp->ready_head; tp; tp = tp->t_rnext) {
            FZ_ASSERT(n++ < tcp->ntcbs && tp->lport != 0 && tp->t_revents != 0);
            last = tp;
        }
        FZ_ASSERT(n == ready && tcp->ready_tail == last);
    }
    /* The listener's queues. */
    if (z->l) {
        uint32_t n = 0;
        FZ_ASSERT(z->l->t_state == TCPS_LISTEN && z->l->t_qlen == kids);
        for (const struct tcpcb *c = z->l->t_acc_head; c; c = c->t_qnext) {
            FZ_ASSERT(n++ < kids && c->t_listen == z->l && TCPS_HAVEESTABLISHED(c->t_state));
            if (!c->t_qnext)
                FZ_ASSERT(z->l->t_acc_tail == c);
        }
    } else {
        FZ_ASSERT(kids == 0);
    }
    /* What the owner holds is alive. */
    for (int i = 0; i < NSLOT; i++) {
        const struct tcpcb *tp = z->s[i].tp;
        if (tp)
            FZ_ASSERT(tp->lport != 0 && !(tp->t_flags & TF_DETACHED) && !tp->t_listen);
    }
    /* Every packet buffer in use is held by someone who will free it. */
    for (uint32_t i = 0; i < st->cfg.arp_cache_size; i++) {
        uint32_t b;
        FZ_ASSERT(chain(st->arp.e[i].q_head, &b) == st->arp.e[i].q_len);
        bufs += st->arp.e[i].q_len;
    }
    fn_pool_get_stats(st->pool, &ps);
    FZ_ASSERT(ps.in_use == bufs + st->ntx);
    fn_pool_get_stats(z->t.pb, &ps);
    FZ_ASSERT(ps.in_use == 0);
}

/* Events go only to what the owner holds. */
static void take_events(struct fz *z)
{
    struct fn_tcp_event ev[16];
    int n;

    while ((n = fn_tcp_ready(z->t.sa, ev, 16)) > 0) {
        for (int i = 0; i < n; i++)
            FZ_ASSERT(owned(z, ev[i].tp) && ev[i].events != 0);
    }
}

/* ---- building the peer's frames ---- */

static uint32_t syn_opts(const struct fz *z, const struct peer *p, uint8_t *o)
{
    uint32_t n = 0;

    o[n++] = FN_TCPOPT_MSS;
    o[n++] = 4;
    o[n++] = (uint8_t)(z->pmss >> 8);
    o[n++] = (uint8_t)z->pmss;
    if (z->c.tcp_window_scaling) {
        o[n++] = FN_TCPOPT_NOP;
        o[n++] = FN_TCPOPT_WSCALE;
        o[n++] = 3;
        o[n++] = 7;
    }
    if (z->c.tcp_sack) {
        o[n++] = FN_TCPOPT_NOP;
        o[n++] = FN_TCPOPT_NOP;
        o[n++] = FN_TCPOPT_SACK_PERM;
        o[n++] = 2;
    }
    if (p->ts) {
        o[n++] = FN_TCPOPT_NOP;
        o[n++] = FN_TCPOPT_NOP;
        o[n++] = FN_TCPOPT_TIMESTAMP;
        o[n++] = 10;
        put32(o + n, p->tsval);
        put32(o + n + 4, p->tsecr);
        n += 8;
    }
    return n;
}

static void inject(struct fz *z, const uint8_t *f, uint32_t len)
{
    tnet_queue(&z->t, f, len);
    settle(z);
}

/* A TCP segment from slot s's peer, fields from the input; returns the frame length. */
static uint32_t build_seg(struct fz *z, struct slot *s, uint8_t *f)
{
    static uint8_t payload[FRAME_MAX];
    uint8_t flags = g8(z), m = g8(z), opts[40];
    uint32_t seq, ack, optlen = 0, dlen, room, flen;

    slot_refresh(z, s);
    switch (m & 3) {
    case 0:
        seq = s->rcv_base + (uint32_t)(int8_t)g8(z);
        break;
    case 1:
        seq = s->rcv_base + (uint32_t)(int16_t)g16(z);
        break;
    case 2:
        seq = g32(z);
        break;
    default:
        seq = s->rcv_base + (uint32_t)g16(z) * 64u;    /* far into (or past) the window */
        break;
    }
    switch ((m >> 2) & 3) {
    case 0:
        ack = s->una_base + (uint32_t)(int8_t)g8(z);
        break;
    case 1:
        ack = s->max_base + (uint32_t)(int8_t)g8(z);
        break;
    case 2:
        ack = g32(z);
        break;
    default:
        ack = s->una_base + (uint32_t)(int16_t)g16(z);
        break;
    }
    s->p.win = g16(z);
    if (m & 0x10) {
        optlen = g8(z) % 41u;
        for (uint32_t i = 0; i < optlen; i++)
            opts[i] = g8(z);
    }
    if ((m & 0x20) && s->p.ts && optlen + TCPOLEN_TSTAMP_APPA <= 40) {
        opts[optlen++] = FN_TCPOPT_NOP;
        opts[optlen++] = FN_TCPOPT_NOP;
        opts[optlen++] = FN_TCPOPT_TIMESTAMP;
        opts[optlen++] = 10;
        put32(opts + optlen, s->p.tsval);
        put32(opts + optlen + 4, s->p.tsecr);
        optlen += 8;
        s->p.tsval += g8(z);
    }
    while (optlen % 4)
        opts[optlen++] = FN_TCPOPT_EOL;
    room = FRAME_MAX - FN_ETH_HLEN - FN_IPV4_HLEN - FN_TCP_HLEN - optlen;
    dlen = g16(z) % (room + 1);
    for (uint32_t i = 0; i < dlen; i++)
        payload[i] = peer_byte(seq + ((flags & FN_TH_SYN) ? 1 : 0) + i);
    flen = tt_build_abs(&s->p, f, seq, ack, flags, opts, optlen, payload, dlen);
    /* m bits 6 and 7 together: a wrong TCP checksum (IP must drop it, counted). */
    if ((m & 0xc0) == 0xc0)
        f[FN_ETH_HLEN + FN_IPV4_HLEN + 16] ^= 0x5a;
    return flen;
}

static void op_seg(struct fz *z, struct slot *s, uint8_t hi)
{
    uint8_t f[TT_FRAME_MAX];

    /* hi on a slot the owner does not hold: aim at the listener again (a new connection)
     * rather than at the connection the slot held last. */
    if (hi && !s->tp)
        s->p.aport = A_PORT;
    inject(z, f, build_seg(z, s, f));
}

/* Timestamp option of slot peer p at o (NOP NOP TS), 12 bytes, or 0 without timestamps. */
static uint32_t ts_opt(const struct peer *p, uint8_t *o)
{
    if (!p->ts)
        return 0;
    o[0] = FN_TCPOPT_NOP;
    o[1] = FN_TCPOPT_NOP;
    o[2] = FN_TCPOPT_TIMESTAMP;
    o[3] = 10;
    put32(o + 4, p->tsval);
    put32(o + 8, p->tsecr);
    return TCPOLEN_TSTAMP_APPA;
}

/* 1 to 4 identical pure ACKs from slot s's peer, at rcv_nxt with the window it sent last:
 * duplicate ACKs (RFC 5681 §2) are what fast retransmit and NewReno recovery need, and a
 * fully fuzzed window would hardly ever repeat. */
static void op_acks(struct fz *z, struct slot *s)
{
    uint8_t f[TT_FRAME_MAX], n = g8(z), o[TCPOLEN_TSTAMP_APPA];
    uint32_t ack, optlen, flen;

    slot_refresh(z, s);
    ack = ((n & 4) ? s->max_base : s->una_base) + (uint32_t)(int8_t)g8(z);
    optlen = ts_opt(&s->p, o);
    flen = tt_build_abs(&s->p, f, s->rcv_base, ack, FN_TH_ACK, o, optlen, NULL, 0);
    for (int i = 0; i <= (n & 3); i++)
        inject(z, f, flen);
}

/* One SACK block edge from the input: near snd_una, near snd_max, or anywhere, in units of
 * one byte or of A's segment size (so that blocks fall on the segments A sent). */
static uint32_t sack_edge(struct fz *z, const struct slot *s, uint32_t mss)
{
    uint8_t m = g8(z);
    uint32_t unit = (m & 4) ? mss : 1u;

    switch (m & 3) {
    case 0:
        return s->una_base + (uint32_t)(int8_t)g8(z) * unit;
    case 1:
        return s->max_base + (uint32_t)(int8_t)g8(z) * unit;
    case 2:
        return s->una_base + (uint32_t)g16(z) * unit;
    default:
        return g32(z);
    }
}

/* 1 to 4 identical ACKs from slot s's peer carrying SACK blocks (RFC 2018 §3): blocks valid,
 * stale (below SND.UNA), beyond SND.MAX, inverted or empty, a D-SACK first block (RFC 2883
 * §4) and, now and then, an option length that does not fit the blocks. */
static void op_sack(struct fz *z, struct slot *s)
{
    uint8_t f[TT_FRAME_MAX], o[40], n = g8(z);
    const struct tcpcb *tp;
    uint32_t nb = 1 + (n & 3), optlen, lenpos, ack, mss = 536, flen;

    slot_refresh(z, s);
    tp = slot_tcb(z, s);
    if (tp && tp->t_maxseg)
        mss = tp->t_maxseg;
    ack = ((n & 4) ? s->max_base : s->una_base) + (uint32_t)(int8_t)g8(z);
    optlen = ts_opt(&s->p, o);
    if (optlen && nb > 3)
        nb = 3;             /* 40 option bytes: 12 for timestamps, 2 + 3·8 for SACK */
    o[optlen++] = FN_TCPOPT_NOP;
    o[optlen++] = FN_TCPOPT_NOP;
    o[optlen++] = FN_TCPOPT_SACK;
    lenpos = optlen++;
    o[lenpos] = (uint8_t)(2 + 8 * nb);
    for (uint32_t i = 0; i < nb; i++) {
        uint32_t a = sack_edge(z, s, mss), b;
        if (i == 0 && (n & 0x08)) {
            /* D-SACK: a duplicate below the cumulative ACK. */
            b = ack - (uint32_t)(g8(z) % 4u) * mss;
            a = b - mss;
        } else {
            b = (n & 0x10) ? sack_edge(z, s, mss) : a + (uint32_t)(g8(z) % 8u) * mss;
        }
        put32(o + optlen, a);
        put32(o + optlen + 4, b);
        optlen += 8;
    }
    if ((n & 0xe0) == 0xe0)
        o[lenpos] = g8(z);  /* a length that lies about the block count */
    flen = tt_build_abs(&s->p, f, s->rcv_base, ack, FN_TH_ACK, o, optlen, NULL, 0);
    for (int i = 0; i <= ((n >> 5) & 3); i++)
        inject(z, f, flen);
}

/* A SYN flood from up to NFLOOD other peers (each with fuzz-chosen options), overflowing the
 * listener's share of the syncache into SYN cookies (RFC 4987 §3.6), then the third ACK of
 * one of them: right, forged (the cookie off by a fuzz-chosen amount), or with data. */
static void op_flood(struct fz *z)
{
    uint8_t f[TT_FRAME_MAX], o[40], n = g8(z), m = g8(z);
    static uint8_t d[512];
    struct peer p = z->s[NSLOT - 1].p;
    uint32_t k, optlen, dlen;

    for (uint32_t i = 0; i < (n & 15u); i++) {
        k = (m + i) % NFLOOD;
        p.port = (uint16_t)(FLOOD_PORT + k);
        p.aport = A_PORT;
        p.iss = 0x20000000u + k * 0x01000000u;
        p.ts = (n & 0x10) && z->c.tcp_timestamps;
        p.tsval = 1000 + k;
        p.tsecr = 0;
        optlen = (n & 0x20) ? syn_opts(z, &p, o) : 0;
        tnet_queue(&z->t, f, tt_build_abs(&p, f, p.iss, 0, FN_TH_SYN, o, optlen, NULL, 0));
    }
    settle(z);
    if (!(n & 0x40))
        return;
    k = m % NFLOOD;
    p.port = (uint16_t)(FLOOD_PORT + k);
    p.aport = A_PORT;
    p.ts = z->flood_tsval[k] != 0;
    p.tsval = 1001 + k;
    p.tsecr = z->flood_tsval[k];
    {
        uint32_t ack = z->flood_iss[k] + 1, seq = 0x20000000u + k * 0x01000000u + 1;
        uint8_t how = g8(z);
        if (how & 1)
            ack += (how & 2) ? g32(z) : (uint32_t)(int8_t)g8(z);  /* forged */
        if (how & 4)
            seq += (uint32_t)(int8_t)g8(z);
        dlen = (how & 8) ? g16(z) % (sizeof d + 1) : 0;
        for (uint32_t i = 0; i < dlen; i++)
            d[i] = (uint8_t)(seq + i);
        optlen = ts_opt(&p, o);
        inject(z, f, tt_build_abs(&p, f, seq, ack, FN_TH_ACK | ((how & 16) ? FN_TH_FIN : 0), o,
                                  optlen, d, dlen));
    }
}

/* The same segment as two (or, with a duplicate, three) IPv4 fragments. */
static void op_frag(struct fz *z, struct slot *s)
{
    uint8_t f[TT_FRAME_MAX], a[TT_FRAME_MAX], b[TT_FRAME_MAX];
    uint32_t flen = build_seg(z, s, f), l4len = flen - FN_ETH_HLEN - FN_IPV4_HLEN;
    const uint8_t *l4 = f + FN_ETH_HLEN + FN_IPV4_HLEN;
    uint8_t how = g8(z);
    uint16_t id = g16(z);
    uint32_t split, alen, blen;

    if (l4len <= 8) {
        inject(z, f, flen);
        return;
    }
    split = 8 * (1 + how % ((l4len - 1) / 8));
    alen = build_ip(a, MAC_A, MAC_B, IP_B, IP_A, FN_IPPROTO_TCP, id, 0, 1, l4, split);
    blen = build_ip(b, MAC_A, MAC_B, IP_B, IP_A, FN_IPPROTO_TCP, id, (uint16_t)split, 0,
                    l4 + split, l4len - split);
    if (how & 0x80) {
        tnet_queue(&z->t, b, blen);
        tnet_queue(&z->t, a, alen);
    } else {
        tnet_queue(&z->t, a, alen);
        tnet_queue(&z->t, b, blen);
    }
    if (how & 0x40)
        tnet_queue(&z->t, (how & 0x20) ? a : b, (how & 0x20) ? alen : blen);
    settle(z);
}

/* Raw bytes, at four depths: a whole frame, after an Ethernet header, after an IPv4 header
 * (transport checksum made right), or as a TCP header on the slot's 4-tuple. */
static void op_raw(struct fz *z, struct slot *s)
{
    static uint8_t f[FRAME_MAX], body[FRAME_MAX];
    uint8_t mode = g8(z);
    uint32_t n = g16(z) % (FRAME_MAX + 1), flen;

    for (uint32_t i = 0; i < n; i++)
        body[i] = g8(z);
    z->tainted = 1;
    switch (mode & 3) {
    case 0:
        memcpy(f, body, n);
        flen = n;
        break;
    case 1:
        if (n > FRAME_MAX - FN_ETH_HLEN)
            n = FRAME_MAX - FN_ETH_HLEN;
        fn_eth_emit(f, (mode & 4) ? MAC_BCAST : MAC_A, MAC_B, g16(z));
        memcpy(f + FN_ETH_HLEN, body, n);
        flen = FN_ETH_HLEN + n;
        break;
    default: {
        uint8_t proto = (mode & 3) == 3 ? FN_IPPROTO_TCP : g8(z);
        uint32_t sum;
        uint16_t c;

        if (n > FRAME_MAX - FN_ETH_HLEN - FN_IPV4_HLEN)
            n = FRAME_MAX - FN_ETH_HLEN - FN_IPV4_HLEN;
        if (proto == FN_IPPROTO_TCP && n >= FN_TCP_HLEN && (mode & 3) == 3) {
            put16(body, s->p.port);
            put16(body + 2, s->p.aport);
        }
        if (proto == FN_IPPROTO_TCP && n >= FN_TCP_HLEN) {
            body[16] = body[17] = 0;
            sum = fn_csum_pseudo(IP_B, IP_A, FN_IPPROTO_TCP, (uint16_t)n);
            c = fn_csum_fold(fn_csum_partial(body, n, sum));
            memcpy(body + 16, &c, 2);
        } else if (proto == FN_IPPROTO_UDP && n >= FN_UDP_HLEN) {
            body[6] = body[7] = 0;
            sum = fn_csum_pseudo(IP_B, IP_A, FN_IPPROTO_UDP, (uint16_t)n);
            c = fn_csum_fold(fn_csum_partial(body, n, sum));
            memcpy(body + 6, &c, 2);
        } else if (proto == FN_IPPROTO_ICMP && n >= 4) {
            body[2] = body[3] = 0;
            c = fn_csum(body, n);
            memcpy(body + 2, &c, 2);
        }
        flen = build_ip(f, MAC_A, MAC_B, IP_B, IP_A, proto, g16(z), 0, 0, body, n);
        break;
    }
    }
    inject(z, f, flen);
}

/* An ICMP error quoting a segment A sent on slot s's 4-tuple. */
static void op_icmp(struct fz *z, struct slot *s)
{
    static const uint8_t tc[][2] = {{3, 4}, {3, 3}, {3, 1}, {3, 13}, {11, 0}, {12, 0}, {3, 2}};
    uint8_t sel = g8(z), type, code, q[FN_IPV4_HLEN + 28], body[8 + sizeof q], f[128];
    struct fn_ipv4_info h;
    uint16_t mtu = g16(z), qtot = g16(z);
    uint32_t seq, qlen = FN_IPV4_HLEN + 8 + g8(z) % 21u, blen;

    if (sel < 7 * 32) {
        type = tc[sel % 7][0];
        code = tc[sel % 7][1];
    } else {
        type = g8(z);
        code = g8(z);
    }
    slot_refresh(z, s);
    seq = s->una_base + (uint32_t)(int16_t)g16(z);
    memset(&h, 0, sizeof h);
    h.total_len = (sel & 1) ? qtot : (uint16_t)(FN_IPV4_HLEN + FN_TCP_HLEN + 1460);
    h.df = 1;
    h.ttl = 64;
    h.proto = FN_IPPROTO_TCP;
    h.src = IP_A;
    h.dst = IP_B;
    fn_ipv4_emit(q, &h);
    memset(q + FN_IPV4_HLEN, 0, 28);
    put16(q + FN_IPV4_HLEN, s->p.aport);
    put16(q + FN_IPV4_HLEN + 2, s->p.port);
    put32(q + FN_IPV4_HLEN + 4, seq);
    blen = build_icmp(body, type, code, mtu, q, qlen);
    inject(z, f, build_ip(f, MAC_A, MAC_B, IP_B, IP_A, FN_IPPROTO_ICMP, g16(z), 0, 0, body,
                          blen));
}

static void op_arp(struct fz *z)
{
    uint8_t f[64] = {0}, sha[6], m = g8(z);
    uint32_t spa = (m & 2) ? ip4(198, 18, 0, g8(z)) : IP_B;
    uint32_t tpa = (m & 4) ? ip4(198, 18, 0, g8(z)) : IP_A;

    memcpy(sha, MAC_B, 6);
    if (m & 8)
        sha[5] = g8(z);
    fn_eth_emit(f, (m & 16) ? MAC_BCAST : MAC_A, sha, FN_ETHERTYPE_ARP);
    fn_arp_emit(f + FN_ETH_HLEN, (m & 1) ? FN_ARP_OP_REPLY : FN_ARP_OP_REQUEST, sha, spa,
                MAC_A, tpa);
    inject(z, f, 60);
}

static void op_advance(struct fz *z, uint8_t hi)
{
    uint8_t d = hi ? 0 : g8(z);
    uint64_t ns;

    if (hi) {
        /* Straight to the next deadline: the timer that is due fires exactly on time. */
        uint64_t dl = fn_stack_next_deadline(z->t.sa);
        ns = dl != UINT64_MAX && dl > z->t.now ? dl - z->t.now : 1;
    } else if (d < 128) {
        ns = d * MS;
    } else if (d < 192) {
        ns = (d - 128u) * 100 * MS;
    } else if (d < 240) {
        ns = (d - 192u) * SEC;
    } else {
        ns = (d - 239u) * 60 * SEC;
    }
    z->t.now += ns;
    settle(z);
}

/* ---- the owner's calls ---- */

static void op_send(struct fz *z, struct slot *s)
{
    uint32_t n = g16(z);
    int r;

    if (!s->tp)
        return;
    for (uint32_t i = 0; i < n; i++)
        z->buf[i] = owner_byte(s->sent + i);
    r = fn_tcp_send(s->tp, z->buf, n, z->t.now);
    FZ_ASSERT(r != 0 && (r < 0 || (uint32_t)r <= n));
    if (r > 0)
        s->sent += (uint32_t)r;
    else
        FZ_ASSERT(r == -EAGAIN || r == -EPIPE || r == -s->tp->t_error);
}

static void op_recv(struct fz *z, struct slot *s)
{
    uint32_t n = g16(z);
    int r;

    if (!s->tp)
        return;
    r = fn_tcp_recv(s->tp, z->buf, n, z->t.now);
    FZ_ASSERT(r <= (int)n);
    if (r <= 0)
        return;
    /* Every byte read is the peer's byte at that sequence number: reassembly never mixes up
     * or rewrites data. */
    if (!z->tainted) {
        for (int i = 0; i < r; i++)
            FZ_ASSERT(z->buf[i] == peer_byte(s->tp->irs + 1 + s->read + (uint32_t)i));
    }
    s->read += (uint32_t)r;
}

static void op_close(struct fz *z, struct slot *s, int abort_it)
{
    if (!s->tp)
        return;
    if (abort_it)
        fn_tcp_abort(s->tp, z->t.now);
    else
        fn_tcp_close(s->tp, z->t.now);
    s->tp = NULL;
}

static void op_accept(struct fz *z, uint8_t hi)
{
    struct tcpcb *tp;
    struct slot *s;

    if (!z->l || !(tp = fn_tcp_accept(z->l)))
        return;
    s = slot_by_ports(z, A_PORT, tp->fport);
    if (s && !s->tp && tp->faddr == IP_B) {
        slot_take(s, tp);
        return;
    }
    if (hi)
        fn_tcp_abort(tp, z->t.now);
    else
        fn_tcp_close(tp, z->t.now);
}

static void op_connect(struct fz *z, struct slot *s, uint8_t hi)
{
    struct tcpcb *tp;

    if (s->tp)
        return;
    if (fn_tcp_connect(z->t.sa, hi ? IP_OTHER : IP_B, s->p.port, 0, &tp, z->t.now) != 0)
        return;
    slot_take(s, tp);
    if (hi)
        s->p.aport = 0;     /* not the peer's tuple: its segments are not checked */
}

static void op_setopt(struct fz *z, struct slot *s)
{
    uint8_t sel = g8(z);
    int r;

    if (!s->tp)
        return;
    switch (sel % 3) {
    case 0:
        fn_tcp_set_nodelay(s->tp, sel & 8);
        break;
    case 1:
        r = fn_tcp_set_keepalive(s->tp, sel & 8, g8(z), g8(z), g8(z) % 16u);
        FZ_ASSERT(r == 0 || r == -EINVAL);
        break;
    default:
        r = fn_tcp_set_user_timeout(s->tp, g16(z));
        FZ_ASSERT(r == 0 || r == -EINVAL);
        break;
    }
}

static void op_listen(struct fz *z, uint8_t hi)
{
    if (z->l) {
        if (hi)
            fn_tcp_abort(z->l, z->t.now);
        else
            fn_tcp_close(z->l, z->t.now);
        z->l = NULL;
    } else {
        int r = fn_tcp_listen(z->t.sa, A_PORT, 1 + g8(z) % 8u, &z->l);
        FZ_ASSERT(r == 0 || r == -ENOBUFS);
        if (r)
            z->l = NULL;
    }
}

/* ---- set-up ---- */

static void peer_setup(struct fz *z, int i)
{
    struct slot *s = &z->s[i];

    tt_peer_init(&s->p, &z->t, 0x10000000u * (uint32_t)i + 0xfff00000u);
    s->p.port = PEER_PORT(i);
    s->p.aport = A_PORT;
    s->p.ts = z->c.tcp_timestamps;
}

/* The next segment A sent to the peer of slot s (others, such as a window update A sends
 * once scaling is on, are skipped). */
static void read_seg(struct fz *z, const struct slot *s, struct rseg *r)
{
    do
        FZ_ASSERT(tt_read(&z->t, r) == 1);
    while (r->th.dport != s->p.port);
}

/* The peer of slot i opens a connection to the listener; with `ack`, it completes. */
static void setup_passive(struct fz *z, int i, int ack)
{
    struct slot *s = &z->s[i];
    uint8_t o[40];
    struct rseg r;

    tt_inject_abs(&s->p, s->p.iss, 0, FN_TH_SYN, o, syn_opts(z, &s->p, o), NULL, 0);
    read_seg(z, s, &r);
    FZ_ASSERT(r.th.flags == (FN_TH_SYN | FN_TH_ACK));
    s->p.a_iss = r.th.seq;
    if (r.to.has_ts)
        s->p.tsecr = r.to.tsval;
    if (!ack)
        return;
    tt_inject(&s->p, 1, 1, FN_TH_ACK, NULL, 0);
    s->p.tsval++;
    slot_take(s, fn_tcp_accept(z->l));
    FZ_ASSERT(s->tp && fn_tcp_state(s->tp) == TCPS_ESTABLISHED);
}

/* A connects to the peer of slot i; with `answer`, the peer completes the handshake. */
static void setup_active(struct fz *z, int i, int answer)
{
    struct slot *s = &z->s[i];
    struct tcpcb *tp;
    uint8_t o[40];
    struct rseg r;

    FZ_ASSERT(fn_tcp_connect(z->t.sa, IP_B, s->p.port, 0, &tp, z->t.now) == 0);
    slot_take(s, tp);
    fn_stack_poll(z->t.sa, z->t.now);
    read_seg(z, s, &r);
    FZ_ASSERT(r.th.flags == FN_TH_SYN);
    s->p.a_iss = r.th.seq;
    if (r.to.has_ts)
        s->p.tsecr = r.to.tsval;
    if (!answer)
        return;
    tt_inject_abs(&s->p, s->p.iss, s->p.a_iss + 1, FN_TH_SYN | FN_TH_ACK, o,
                  syn_opts(z, &s->p, o), NULL, 0);
    s->p.tsval++;
    read_seg(z, s, &r);
    FZ_ASSERT(fn_tcp_state(tp) == TCPS_ESTABLISHED);
}

static void setup(struct fz *z, uint8_t cfg, uint8_t variant)
{
    struct slot *s1 = &z->s[1];

    tt_cfg(&z->c);
    z->c.tcp_timestamps = cfg & 1;
    z->c.tcp_window_scaling = (cfg >> 1) & 1;
    z->c.tcp_sack = (cfg >> 2) & 1;
    z->c.tcp_nodelay = (cfg >> 3) & 1;
    if (cfg & 0x10) {
        z->c.tcp_rcvbuf = 4096;
        z->c.tcp_sndbuf = 8192;
    }
    if (cfg & 0x20)
        z->c.tcp_reass_max_segs = 4;
    if (cfg & 0x40)
        z->c.mtu = 576;
    /* Byte 1 above the start states: congestion control, pool policy, syncache, peer MSS. */
    z->c.tcp_cc = (variant & 0x08) ? FN_CC_NEWRENO : FN_CC_CUBIC;
    if (variant & 0x10) {
        z->c.tcp_pool_reserve_pct = 30;
        z->c.tcp_pool_ooo_pct = 5;
    }
    if (variant & 0x20)
        z->c.tcp_syncookies = 2;
    if (variant & 0x40)
        z->c.tcp_syncache_size = 2;
    z->pmss = (variant & 0x80) ? 64 : P_MSS;
    FZ_ASSERT(tnet_open(&z->t, &z->c, NULL, (cfg & 0x80) ? 48 : 512, 1500) == 0);
    tnet_teach_b(&z->t);
    FZ_ASSERT(fn_tcp_listen(z->t.sa, A_PORT, 4, &z->l) == 0);
    for (int i = 0; i < NSLOT; i++)
        peer_setup(z, i);
    setup_passive(z, 0, 1);
    setup_active(z, 1, 1);
    setup_active(z, 2, 0);
    setup_passive(z, 3, 0);
    switch (variant & 3) {
    case 1:     /* FIN_WAIT_1 with data in flight */
        for (uint32_t i = 0; i < 3000; i++)
            z->buf[i] = owner_byte(i);
        FZ_ASSERT(fn_tcp_send(s1->tp, z->buf, 3000, z->t.now) == 3000);
        s1->sent = 3000;
        FZ_ASSERT(fn_tcp_shutdown_wr(s1->tp, z->t.now) == 0);
        break;
    case 2: {   /* CLOSE_WAIT: the peer's FIN */
        uint8_t f[TT_FRAME_MAX];
        tnet_inject(&z->t, f, tt_build(&s1->p, f, 1, 1, FN_TH_FIN | FN_TH_ACK, NULL, 0));
        FZ_ASSERT(fn_tcp_state(s1->tp) == TCPS_CLOSE_WAIT);
        break;
    }
    default:
        break;
    }
    if (variant & 4) {
        /* Unread in-order data waiting on slot 0. */
        static uint8_t d[300];
        for (uint32_t i = 0; i < sizeof d; i++)
            d[i] = peer_byte(z->s[0].p.iss + 1 + i);
        tt_inject(&z->s[0].p, 1, 1, FN_TH_ACK | FN_TH_PUSH, d, sizeof d);
    }
    settle(z);
    take_events(z);
    check_invariants(z);
}

static void trace_tcbs(struct fz *z)
{
    struct fn_tcp *tcp = tcpst(z);
    struct fn_pool_stats ps;

    fn_pool_get_stats(z->t.pa, &ps);
    fprintf(stderr, "pool in use %u\n", ps.in_use);
    for (uint32_t i = 0; i < tcp->ntcbs; i++) {
        const struct tcpcb *tp = &tcp->tcbs[i];
        if (tp->lport == 0)
            continue;
        fprintf(stderr, "tcb %u: %u->%u state %d flags %#x una %u nxt %u max %u snd_cc %u "
                "snd_wnd %u cwnd %u rcv_cc %u reass %u timers", i, tp->lport, tp->fport,
                tp->t_state, tp->t_flags, tp->snd_una - tp->iss, tp->snd_nxt - tp->iss,
                tp->snd_max - tp->iss, tp->snd_cc, tp->snd_wnd, tp->snd_cwnd, tp->rcv_cc,
                tp->reass_segs);
        for (int k = 0; k < TT_NTIMERS; k++)
            fprintf(stderr, " %llu", (unsigned long long)tp->t_timer[k]);
        fprintf(stderr, "\n");
    }
}

/* Close everything, stay silent, and let the timers finish every connection. */
static void teardown(struct fz *z)
{
    struct fn_pool_stats ps;
    int i;

    for (i = 0; i < NSLOT; i++)
        op_close(z, &z->s[i], 0);
    if (z->l)
        fn_tcp_close(z->l, z->t.now);
    z->l = NULL;
    settle(z);
    for (i = 0; i < 100000; i++) {
        uint64_t d;

        fn_pool_get_stats(z->t.pa, &ps);
        if (fn_tcp_count(z->t.sa) == 0 && ps.in_use == 0)
            break;
        d = fn_stack_next_deadline(z->t.sa);
        if (trace && d == UINT64_MAX)
            trace_tcbs(z);
        /* Something still holds a connection or a buffer but no timer will ever end it. */
        FZ_ASSERT(d != UINT64_MAX);
        z->t.now = d > z->t.now ? d : z->t.now + 1;
        settle(z);
        take_events(z);
        if (i % 64 == 0)
            check_invariants(z);
        if (trace && i % 20000 == 19999)
            trace_tcbs(z);      /* still going: what keeps the timers busy */
    }
    check_invariants(z);
    FZ_ASSERT(fn_tcp_count(z->t.sa) == 0);
    FZ_ASSERT(tnet_close(&z->t) == 0);
}

static void trace_step(struct fz *z, uint8_t op)
{
    fprintf(stderr, "t=%llu.%03llus op %2u slot %u hi %u |", (unsigned long long)(z->t.now / SEC),
            (unsigned long long)(z->t.now % SEC / MS), op & 15u, (op >> 4) & 7u, op >> 7);
    for (int i = 0; i < NSLOT; i++) {
        const struct tcpcb *tp = slot_tcb(z, &z->s[i]);
        if (tp)
            fprintf(stderr, " %d:%s%d", i, z->s[i].tp ? "" : "~", tp->t_state);
    }
    fprintf(stderr, " | tcbs %u\n", fn_tcp_count(z->t.sa));
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fn_log_set_level(FN_LOG_ERROR);     /* once-per-stack warnings would flood the output */
    trace = getenv("FUZZ_STACK_TRACE") != NULL;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz *z = &Z;
    int steps = 0;

    if (size < 2)
        return 0;
    memset(z, 0, offsetof(struct fz, buf));
    rnd_state = 0x5eed;
    z->src.in = data;
    z->src.len = size;
    z->src.pos = 2;
    setup(z, data[0], data[1]);
    while (z->src.pos < z->src.len && steps++ < 4096) {
        uint8_t op = g8(z), hi = op >> 7;
        struct slot *s = &z->s[(op >> 4) & 7];

        switch (op & 15) {
        case 0:
        case 1:
            op_seg(z, s, hi);
            break;
        case 2:
            op_raw(z, s);
            break;
        case 3:
            op_frag(z, s);
            break;
        case 4:
            op_icmp(z, s);
            break;
        case 5:
            op_advance(z, hi);
            break;
        case 6:
            op_send(z, s);
            break;
        case 7:
            op_recv(z, s);
            break;
        case 8:
            if (s->tp)
                FZ_ASSERT(fn_tcp_shutdown_wr(s->tp, z->t.now) == 0 ||
                          fn_tcp_state(s->tp) == TCPS_CLOSED);
            break;
        case 9:
            op_close(z, s, hi);
            break;
        case 10:
            op_accept(z, hi);
            break;
        case 11:
            op_connect(z, s, hi);
            break;
        case 12:
            op_setopt(z, s);
            break;
        case 13:
            if (hi)
                op_flood(z);
            else
                op_arp(z);
            break;
        case 14:
            op_listen(z, hi);
            break;
        default:
            if (hi)
                op_sack(z, s);
            else
                op_acks(z, s);
            break;
        }
        settle(z);
        take_events(z);
        check_invariants(z);
        if (trace)
            trace_step(z, op);
    }
    teardown(z);
    return 0;
}
