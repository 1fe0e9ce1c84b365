/*
 * tcp_subr.c — TCP's per-stack state: creation, the tcpcb array and free list, the
 * connection and listen hash tables, ISNs (RFC 6528), ephemeral ports (RFC 6056), closing and
 * freeing connections, the ready list, and bare RST/ACK segments.
 *
 * Contract: fn_tcp_init() validates the TCP knobs (-EINVAL), allocates every tcpcb and table
 * (-ENOMEM) and registers tcp_input/tcp_ctlinput with IP; after that nothing here allocates.
 * tcp_alloc() ends the oldest TIME_WAIT nobody holds when no tcpcb is free
 * (tcp_timewait.c), and returns NULL only when all cfg.tcp_max_conns tcpcbs belong to live
 * connections, listeners or TIME_WAITs still held by their owner — the caller refuses the
 * connection and counts it.  Lookups are O(1) hash probes.  Stack-owner core only.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/fn_stack_impl.h"
#include "net/fn_ip.h"
#include "platform/fn_platform.h"
#include "tcp/tcp_syncache.h"
#include "tcp/tcp_var.h"
#include "wire/fn_wire.h"

const struct fn_config *tcp_cfg(const struct tcpcb *tp)
{
    return &tp->t_stack->cfg;
}

/* ---- SipHash-2-4 (Aumasson & Bernstein, "SipHash: a fast short-input PRF", 2012) ---- */

static inline uint64_t rotl64(uint64_t x, unsigned b)
{
    return (x << b) | (x >> (64 - b));
}

#define SIPROUND(v0, v1, v2, v3)                                                          \
    do {                                                                                  \
        v0 += v1; v1 = rotl64(v1, 13); v1 ^= v0; v0 = rotl64(v0, 32);                     \
        v2 += v3; v3 = rotl64(v3, 16); v3 ^= v2;                                          \
        v0 += v3; v3 = rotl64(v3, 21); v3 ^= v0;                                          \
        v2 += v1; v1 = rotl64(v1, 17); v1 ^= v2; v2 = rotl64(v2, 32);                     \
    } while (0)

/* The key is two 64-bit words k0, k1 (the paper's 128-bit key read little-endian); the
 * message is read as little-endian 64-bit words, the last one padded with zeros and carrying
 * len mod 256 in its top byte. */
uint64_t fn_siphash24(const uint64_t key[2], const void *data, uint32_t len)
{
    const uint8_t *p = data;
    uint64_t v0 = key[0] ^ 0x736f6d6570736575ull;
    uint64_t v1 = key[1] ^ 0x646f72616e646f6dull;
    uint64_t v2 = key[0] ^ 0x6c7967656e657261ull;
    uint64_t v3 = key[1] ^ 0x7465646279746573ull;
    uint64_t m;
    uint32_t i = 0;

    for (; i + 8 <= len; i += 8) {
        m = 0;
        for (unsigned b = 0; b < 8; b++)
            m |= (uint64_t)p[i + b] << (8 * b);
        v3 ^= m;
        SIPROUND(v0, v1, v2, v3);
        SIPROUND(v0, v1, v2, v3);
        v0 ^= m;
    }
    m = (uint64_t)(len & 0xff) << 56;
    for (unsigned b = 0; i + b < len; b++)
        m |= (uint64_t)p[i + b] << (8 * b);
    v3 ^= m;
    SIPROUND(v0, v1, v2, v3);
    SIPROUND(v0, v1, v2, v3);
    v0 ^= m;
    v2 ^= 0xff;
    for (unsigned r = 0; r < 4; r++)
        SIPROUND(v0, v1, v2, v3);
    return v0 ^ v1 ^ v2 ^ v3;
}

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int config_ok(const struct fn_config *c)
{
    if (c->tcp_max_conns < 1 || c->tcp_max_conns > (1u << 22))
        return 0;
    if (c->tcp_sndbuf < 1024 || c->tcp_sndbuf > (1u << 30) || c->tcp_rcvbuf < 1024 ||
        c->tcp_rcvbuf > (1u << 30))
        return 0;
    if (c->tcp_rto_min_ms < 1 || c->tcp_rto_init_ms < c->tcp_rto_min_ms ||
        c->tcp_rto_max_ms < 60000 || c->tcp_rto_max_ms < c->tcp_rto_init_ms)
        return 0;       /* RFC 6298 §2.5: the maximum is at least 60 s */
    if (c->tcp_max_rexmits < 1 || c->tcp_syn_retries < 1 || c->tcp_msl_ms < 1 ||
        c->tcp_fin_wait2_ms < 1)
        return 0;
    /* RFC 9293 §3.8.6.3: an ACK must not be delayed more than 0.5 s. */
    if (c->tcp_delack_ms < 1 || c->tcp_delack_ms >= 500)
        return 0;
    if (c->tcp_min_mss < TCP_MSS_FLOOR || c->tcp_min_mss > TCP_MSS_DEFAULT ||
        c->tcp_initcwnd_segs < 1)
        return 0;
    /* Keepalive defaults within Linux's TCP_KEEPIDLE / TCP_KEEPINTVL / TCP_KEEPCNT limits. */
    if (c->tcp_keepalive_idle_s < 1 || c->tcp_keepalive_idle_s > TCP_KEEPIDLE_MAX ||
        c->tcp_keepalive_intvl_s < 1 || c->tcp_keepalive_intvl_s > TCP_KEEPINTVL_MAX ||
        c->tcp_keepalive_cnt < 1 || c->tcp_keepalive_cnt > TCP_KEEPCNT_MAX)
        return 0;
    if (c->tcp_cc >= cc_algo_count())
        return 0;       /* not an FN_CC_* index */
    /* A reserve of half the pool or more would leave bulk data almost nothing. */
    if (c->tcp_pool_reserve_pct < 1 || c->tcp_pool_reserve_pct > 50 || c->tcp_pool_ooo_pct > 100)
        return 0;
    return 1;
}

static uint32_t pow2_at_least(uint32_t n)
{
    uint32_t p = 1;
    while (p < n)
        p <<= 1;
    return p;
}

int fn_tcp_init(struct fn_stack *st)
{
    const struct fn_config *c = &st->cfg;
    struct fn_tcp *tcp;
    uint64_t seed[6];
    int rc;

    if (!config_ok(c))
        return -EINVAL;
    tcp = calloc(1, sizeof(*tcp));
    if (!tcp)
        return -ENOMEM;
    tcp->st = st;
    tcp->ntcbs = c->tcp_max_conns;
    tcp->hash_mask = pow2_at_least(2 * tcp->ntcbs) - 1;
    tcp->lhash_mask = 255;
    tcp->tcbs = calloc(tcp->ntcbs, sizeof(*tcp->tcbs));
    tcp->hash = calloc((size_t)tcp->hash_mask + 1, sizeof(*tcp->hash));
    tcp->lhash = calloc((size_t)tcp->lhash_mask + 1, sizeof(*tcp->lhash));
    tcp->heap = calloc(tcp->ntcbs, sizeof(*tcp->heap));
    if (!tcp->tcbs || !tcp->hash || !tcp->lhash || !tcp->heap) {
        free(tcp->tcbs);
        free(tcp->hash);
        free(tcp->lhash);
        free(tcp->heap);
        free(tcp);
        return -ENOMEM;
    }
    /* RFC 6528 §3: the ISN secret must be unpredictable; so are the other keys. */
    if (fn_random_bytes(seed, sizeof(seed)) != 0) {
        fn_log(FN_LOG_WARN, "tcp: no random secret available, using the clock");
        for (unsigned i = 0; i < 6; i++)
            seed[i] = fn_clock_ns() * 0x9e3779b97f4a7c15ull + i;
    }
    tcp->isn_key[0] = seed[0];
    tcp->isn_key[1] = seed[1];
    tcp->ts_key[0] = seed[2];
    tcp->ts_key[1] = seed[3];
    tcp->hash_key = seed[4];
    tcp->rng = seed[5];
    /* Free list in index order: allocation order is predictable in tests. */
    for (uint32_t i = tcp->ntcbs; i-- > 0;) {
        tcp->tcbs[i].t_heapidx = -1;
        tcp->tcbs[i].t_qnext = tcp->free_list;
        tcp->free_list = &tcp->tcbs[i];
    }
    st->tcp = tcp;
    tcp_pool_init(tcp);
    rc = tcp_syncache_init(tcp);
    if (rc) {
        fn_tcp_fini(st);
        return rc;
    }
    fn_ip_register(st, FN_IPPROTO_TCP, tcp_input, tcp_ctlinput, tcp);
    return 0;
}

static void tcb_release_buffers(struct tcpcb *tp)
{
    fn_pkt_free_chain(tp->snd_head);
    tp->snd_head = tp->snd_tail = tp->snd_cache = NULL;
    tp->snd_cc = tp->snd_cache_off = tp->snd_nbufs = 0;
    fn_pkt_free_chain(tp->rcv_head);
    tp->rcv_head = tp->rcv_tail = NULL;
    tp->rcv_cc = 0;
    tcp_reass_flush(tp);
}

void fn_tcp_fini(struct fn_stack *st)
{
    struct fn_tcp *tcp = st->tcp;

    if (!tcp)
        return;
    for (uint32_t i = 0; i < tcp->ntcbs; i++) {
        if (tcp->tcbs[i].lport != 0)
            tcb_release_buffers(&tcp->tcbs[i]);
    }
    tcp_syncache_fini(tcp);
    free(tcp->tcbs);
    free(tcp->hash);
    free(tcp->lhash);
    free(tcp->heap);
    free(tcp);
    st->tcp = NULL;
}

uint32_t fn_tcp_count(const struct fn_stack *st)
{
    return st->tcp->nused;
}

uint32_t fn_tcp_conn_bytes(const struct fn_stack *st)
{
    const struct fn_tcp *tcp = st->tcp;
    uint64_t b = (uint64_t)tcp->ntcbs * (sizeof(*tcp->tcbs) + sizeof(*tcp->heap)) +
                 ((uint64_t)tcp->hash_mask + 1 + tcp->lhash_mask + 1) * sizeof(*tcp->hash) +
                 sizeof(*tcp);

    return (uint32_t)((b + tcp->ntcbs - 1) / tcp->ntcbs);
}

struct tcpcb *tcp_alloc(struct fn_tcp *tcp)
{
    struct tcpcb *tp;

    /* TIME_WAIT gives way to a new connection (tcp_timewait.c). */
    if (!tcp->free_list && tcp_tw_recycle(tcp) != 0)
        return NULL;
    tp = tcp->free_list;
    tcp->free_list = tp->t_qnext;
    memset(tp, 0, sizeof(*tp));
    tp->t_heapidx = -1;
    tp->t_stack = tcp->st;
    tp->t_state = TCPS_CLOSED;
    tp->cc_algo = cc_algo_by_index(tcp->st->cfg.tcp_cc);
    tp->ccv.tp = tp;
    if (tcp->st->cfg.tcp_nodelay)
        tp->t_flags |= TF_NODELAY;
    tcp->nused++;
    return tp;
}

/* ---- hash tables ---- */

static uint32_t conn_hash(const struct fn_tcp *tcp, uint32_t faddr, uint16_t fport,
                          uint16_t lport)
{
    uint64_t h = ((uint64_t)faddr << 32 | (uint32_t)fport << 16 | lport) ^ tcp->hash_key;

    h *= 0x9e3779b97f4a7c15ull;
    return (uint32_t)(h >> 32) & tcp->hash_mask;
}

struct tcpcb *tcp_lookup(struct fn_tcp *tcp, uint32_t faddr, uint16_t fport, uint16_t lport)
{
    struct tcpcb *tp = tcp->hash[conn_hash(tcp, faddr, fport, lport)];

    while (tp && !(tp->faddr == faddr && tp->fport == fport && tp->lport == lport))
        tp = tp->t_hnext;
    return tp;
}

struct tcpcb *tcp_lookup_listen(struct fn_tcp *tcp, uint16_t lport)
{
    struct tcpcb *tp = tcp->lhash[lport & tcp->lhash_mask];

    while (tp && tp->lport != lport)
        tp = tp->t_hnext;
    return tp;
}

/* A SO_REUSEPORT group is the listeners of one port in one chain: a SYN takes member
 * k = hash(4-tuple) scaled to the group's size, counted in chain order, so every segment of
 * a flow (a resent SYN, a cookie's third ACK) finds the same member while the group stays
 * as it is.  The key is the stack's own, so peers cannot aim their flows at one member.
 * Per-core sharding later puts one group per core stack; RSS picks the core first. */
struct tcpcb *tcp_lookup_listen_flow(struct fn_tcp *tcp, uint32_t faddr, uint16_t fport,
                                     uint16_t lport)
{
    struct tcpcb *first = tcp_lookup_listen(tcp, lport);
    uint64_t h;
    uint32_t n = 0, k;

    if (!first || !first->t_reuseport)
        return first;
    for (struct tcpcb *tp = first; tp; tp = tp->t_hnext)
        n += tp->lport == lport;
    if (n == 1)
        return first;
    h = ((uint64_t)faddr << 32 | (uint32_t)fport << 16 | lport) ^ ~tcp->hash_key;
    h *= 0xc2b2ae3d27d4eb4full;
    h ^= h >> 29;
    k = (uint32_t)(((h >> 32) * n) >> 32);
    for (struct tcpcb *tp = first; tp; tp = tp->t_hnext)
        if (tp->lport == lport && k-- == 0)
            return tp;
    return first;
}

void tcp_hash_insert(struct fn_tcp *tcp, struct tcpcb *tp)
{
    struct tcpcb **b = &tcp->hash[conn_hash(tcp, tp->faddr, tp->fport, tp->lport)];

    tp->t_hnext = *b;
    *b = tp;
}

void tcp_listen_insert(struct fn_tcp *tcp, struct tcpcb *tp)
{
    struct tcpcb **b = &tcp->lhash[tp->lport & tcp->lhash_mask];

    tp->t_hnext = *b;
    *b = tp;
}

static void unhash(struct fn_tcp *tcp, struct tcpcb *tp)
{
    struct tcpcb **pp;

    if (tp->t_state == TCPS_LISTEN)
        pp = &tcp->lhash[tp->lport & tcp->lhash_mask];
    else
        pp = &tcp->hash[conn_hash(tcp, tp->faddr, tp->fport, tp->lport)];
    while (*pp && *pp != tp)
        pp = &(*pp)->t_hnext;
    if (*pp)
        *pp = tp->t_hnext;
    tp->t_hnext = NULL;
}

/* ---- ISN (RFC 6528 §3) and timestamp offsets (RFC 7323 §7.1) ---- */

static uint64_t tuple_hash(const uint64_t key[2], const struct fn_stack *st, uint32_t faddr,
                           uint16_t fport, uint16_t lport)
{
    uint8_t m[12];

    memcpy(m, &st->cfg.ip, 4);
    memcpy(m + 4, &faddr, 4);
    m[8] = (uint8_t)(lport >> 8);
    m[9] = (uint8_t)lport;
    m[10] = (uint8_t)(fport >> 8);
    m[11] = (uint8_t)fport;
    return fn_siphash24(key, m, sizeof(m));
}

uint32_t tcp_isn_for(struct fn_tcp *tcp, uint32_t faddr, uint16_t fport, uint16_t lport,
                     uint64_t now)
{
    /* ISN = M + F(localip, localport, remoteip, remoteport, secretkey), M a 4 µs clock:
     * increasing for one 4-tuple (safe reuse after TIME_WAIT), unpredictable across them. */
    return (uint32_t)(now / 4000) + (uint32_t)tuple_hash(tcp->isn_key, tcp->st, faddr, fport,
                                                         lport);
}

uint32_t tcp_ts_offset_for(struct fn_tcp *tcp, uint32_t faddr, uint16_t fport, uint16_t lport)
{
    return (uint32_t)tuple_hash(tcp->ts_key, tcp->st, faddr, fport, lport);
}

/* Common set-up of a new connection once its 4-tuple and ISN are known. */
void tcp_conn_setup(struct tcpcb *tp, uint32_t iss, uint64_t now)
{
    struct fn_tcp *tcp = tp->t_stack->tcp;
    const struct fn_config *c = &tp->t_stack->cfg;

    tp->iss = iss;
    tp->snd_una = tp->snd_nxt = tp->snd_max = tp->iss;
    tp->snd_recover = tp->iss;
    tp->ts_offset = tcp_ts_offset_for(tcp, tp->faddr, tp->fport, tp->lport);
    tp->t_maxseg = TCP_MSS_DEFAULT;
    tp->t_rxtcur = (uint64_t)c->tcp_rto_init_ms * 1000000ull;
    tp->t_rcvtime = now;
    tp->request_r_scale = tcp_rcv_wscale_for(tcp_rcvbuf(tp));
    if (c->tcp_window_scaling)
        tp->t_flags |= TF_REQ_SCALE;
    if (c->tcp_timestamps)
        tp->t_flags |= TF_REQ_TSTMP;
    /* The initial cwnd is set by conn_init once the MSS is known (tcp_input.c). */
    tp->snd_cwnd = TCP_MSS_DEFAULT;
    tp->snd_ssthresh = UINT32_MAX;     /* RFC 5681 §3.1: arbitrarily high */
}

/* ---- ephemeral ports (RFC 6056 §3.3.1: a random port per connection) ---- */

int tcp_ephemeral_port(struct fn_tcp *tcp, uint32_t faddr, uint16_t fport, uint16_t *out)
{
    const uint32_t lo = 49152, n = 65536 - 49152;   /* the IANA dynamic range */
    uint32_t start = (uint32_t)(splitmix64(&tcp->rng) % n);

    /* Random start, then a linear probe over the range (RFC 6056 Algorithm 1), bounded. */
    for (uint32_t i = 0; i < n; i++) {
        uint16_t p = (uint16_t)(lo + (start + i) % n);
        if (!tcp_lookup(tcp, faddr, fport, p) && !tcp_lookup_listen(tcp, p)) {
            *out = p;
            return 0;
        }
    }
    return -EADDRNOTAVAIL;
}

/* ---- events and the ready list ---- */

void tcp_event_post(struct tcpcb *tp, uint32_t ev)
{
    struct fn_tcp *tcp = tp->t_stack->tcp;

    /* Connections nobody owns (detached, or not yet accepted) report to nobody. */
    if ((tp->t_flags & TF_DETACHED) || tp->t_listen)
        return;
    if (tp->t_revents == 0) {
        tp->t_rnext = NULL;
        if (tcp->ready_tail)
            tcp->ready_tail->t_rnext = tp;
        else
            tcp->ready_head = tp;
        tcp->ready_tail = tp;
    }
    tp->t_revents |= ev;
}

static void ready_unlink(struct fn_tcp *tcp, struct tcpcb *tp)
{
    struct tcpcb **pp = &tcp->ready_head, *prev = NULL;

    if (tp->t_revents == 0)
        return;
    while (*pp && *pp != tp) {
        prev = *pp;
        pp = &(*pp)->t_rnext;
    }
    if (*pp) {
        *pp = tp->t_rnext;
        if (tcp->ready_tail == tp)
            tcp->ready_tail = prev;
    }
    tp->t_revents = 0;
    tp->t_rnext = NULL;
}

void tcp_detach(struct tcpcb *tp)
{
    /* The owner lets go: it must never see this tcpcb in a later fn_tcp_ready(). */
    tp->t_flags |= TF_DETACHED;
    ready_unlink(tp->t_stack->tcp, tp);
    tcp_tw_note(tp);            /* a TIME_WAIT nobody holds may now be recycled */
}

int fn_tcp_ready(struct fn_stack *st, struct fn_tcp_event *ev, int max)
{
    struct fn_tcp *tcp = st->tcp;
    int n = 0;

    while (n < max && tcp->ready_head) {
        struct tcpcb *tp = tcp->ready_head;
        tcp->ready_head = tp->t_rnext;
        if (!tcp->ready_head)
            tcp->ready_tail = NULL;
        ev[n].tp = tp;
        ev[n].events = tp->t_revents;
        tp->t_revents = 0;
        tp->t_rnext = NULL;
        n++;
    }
    return n;
}

/* ---- closing ---- */

/* Take a child off its listener's queues (it is being freed or accepted). */
static void child_unlink(struct tcpcb *tp)
{
    struct tcpcb *l = tp->t_listen, **pp;

    if (!l)
        return;
    for (pp = &l->t_acc_head; *pp; pp = &(*pp)->t_qnext) {
        if (*pp == tp) {
            *pp = tp->t_qnext;
            break;
        }
    }
    l->t_acc_tail = NULL;
    for (struct tcpcb *q = l->t_acc_head; q; q = q->t_qnext)
        l->t_acc_tail = q;
    l->t_qlen--;
    tp->t_listen = NULL;
    tp->t_qnext = NULL;
}

void tcp_free(struct tcpcb *tp)
{
    struct fn_tcp *tcp = tp->t_stack->tcp;

    if (tcp->fast_tp == tp)
        tcp->fast_tp = NULL;
    child_unlink(tp);
    tcp_pool_unwait(tp);
    tcp_pool_rcv_end(tp);
    tcp_timers_stop_all(tp);            /* first: no 2·MSL goes back to the heap on unlink */
    tcp_tw_unlink(tp);
    if (tp->lport != 0 && (tp->t_state != TCPS_CLOSED))
        unhash(tcp, tp);
    ready_unlink(tcp, tp);
    tcb_release_buffers(tp);
    tp->lport = 0;
    tp->t_state = TCPS_CLOSED;
    tp->t_qnext = tcp->free_list;
    tcp->free_list = tp;
    tcp->nused--;
}

struct tcpcb *tcp_close(struct tcpcb *tp)
{
    struct fn_tcp *tcp = tp->t_stack->tcp;

    if (tp->t_state != TCPS_CLOSED)
        unhash(tcp, tp);
    tp->t_state = TCPS_CLOSED;
    tcp_timers_stop_all(tp);
    tcp_pool_rcv_end(tp);
    if ((tp->t_flags & TF_DETACHED) || tp->t_listen) {
        tcp_free(tp);
        return NULL;
    }
    /* The owner keeps the tcpcb (and any data it has not read yet) until it closes it. */
    fn_pkt_free_chain(tp->snd_head);
    tp->snd_head = tp->snd_tail = tp->snd_cache = NULL;
    tp->snd_cc = tp->snd_cache_off = tp->snd_nbufs = 0;
    tcp_reass_flush(tp);
    tcp_event(tp, FN_TCP_EV_CLOSED | (tp->t_error ? FN_TCP_EV_ERROR | FN_TCP_EV_READABLE : 0));
    return tp;
}

struct tcpcb *tcp_drop(struct tcpcb *tp, int err)
{
    tp->t_error = err;
    return tcp_close(tp);
}

/* ---- bare segments ---- */

uint32_t tcp_ts_opt(uint8_t *o, uint32_t tsval, uint32_t tsecr)
{
    o[0] = FN_TCPOPT_NOP;
    o[1] = FN_TCPOPT_NOP;
    o[2] = FN_TCPOPT_TIMESTAMP;
    o[3] = 10;
    for (int i = 0; i < 4; i++) {
        o[4 + i] = (uint8_t)(tsval >> (24 - 8 * i));
        o[8 + i] = (uint8_t)(tsecr >> (24 - 8 * i));
    }
    return TCPOLEN_TSTAMP_APPA;
}

int tcp_emit(struct fn_stack *st, uint32_t faddr, uint16_t fport, uint16_t lport, uint32_t seq,
             uint32_t ack, uint8_t flags, uint16_t win, const uint8_t *opts, uint32_t optlen,
             uint64_t now)
{
    struct fn_pkt *pkt = fn_pkt_alloc(st->pool);
    struct fn_ip_out o;
    uint8_t *h;
    uint32_t hlen = FN_TCP_HLEN + optlen, sum;
    uint16_t c;

    if (!pkt) {
        st->stats.tcp_nobuf++;
        return -ENOBUFS;
    }
    h = fn_pkt_put(pkt, hlen);
    if (!h) {
        fn_pkt_free(pkt);       /* options beyond what a header holds: a caller bug */
        return -EINVAL;
    }
    memset(h, 0, FN_TCP_HLEN);
    h[0] = (uint8_t)(lport >> 8);
    h[1] = (uint8_t)lport;
    h[2] = (uint8_t)(fport >> 8);
    h[3] = (uint8_t)fport;
    h[4] = (uint8_t)(seq >> 24);
    h[5] = (uint8_t)(seq >> 16);
    h[6] = (uint8_t)(seq >> 8);
    h[7] = (uint8_t)seq;
    h[8] = (uint8_t)(ack >> 24);
    h[9] = (uint8_t)(ack >> 16);
    h[10] = (uint8_t)(ack >> 8);
    h[11] = (uint8_t)ack;
    h[12] = (uint8_t)((hlen / 4) << 4);
    h[13] = flags;
    h[14] = (uint8_t)(win >> 8);
    h[15] = (uint8_t)win;
    memcpy(h + FN_TCP_HLEN, opts, optlen);
    sum = fn_csum_pseudo(st->cfg.ip, faddr, FN_IPPROTO_TCP, (uint16_t)hlen);
    c = fn_csum_fold(fn_csum_partial(h, hlen, sum));
    memcpy(h + 16, &c, 2);
    memset(&o, 0, sizeof(o));
    o.dst = faddr;
    o.proto = FN_IPPROTO_TCP;
    o.df = 1;
    st->stats.tcp_tx++;
    if (flags & FN_TH_RST)
        st->stats.tcp_rst_tx++;
    fn_ip_output(st, pkt, &o, now);
    return 0;
}

void tcp_respond(struct fn_stack *st, struct tcpcb *tp, uint32_t faddr, uint16_t fport,
                 uint16_t lport, uint32_t seq, uint32_t ack, uint8_t flags, uint64_t now)
{
    uint8_t opts[40] = {0};
    uint32_t optlen = 0;
    uint16_t win = 0;

    if (tp && (tp->t_flags & TF_RCVD_TSTMP) && !(flags & FN_TH_RST))
        optlen = tcp_ts_opt(opts, tcp_ts_now(tp, now), tp->ts_recent);
    if (tp && (flags & (FN_TH_RST | FN_TH_ACK)) == FN_TH_ACK)
        optlen += tcp_sack_opts(tp, opts + optlen, 40 - optlen);   /* RFC 2018 §4 */
    if (tp && !(flags & FN_TH_RST)) {
        uint32_t w = tcp_rcv_space(tp) >> tp->rcv_wscale;
        win = (uint16_t)(w > TCP_MAXWIN ? TCP_MAXWIN : w);
    }
    if (tcp_emit(st, faddr, fport, lport, seq, ack, flags, win, opts, optlen, now) == 0 &&
        tp && (flags & FN_TH_ACK))
        tp->last_ack_sent = ack;
}
