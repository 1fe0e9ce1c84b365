/*
 * tcp_xfer.h — the bulk-transfer driver shared by the end-to-end TCP tests and the
 * network-simulation matrix: two stacks over the in-memory link, the seeded fault wrapper
 * impairing both directions of A's side, `bytes` each way at the same time, every byte
 * checked against a position-dependent pattern, both sides half-close with FIN, then both
 * close and TIME_WAIT runs out so that both pools and tcpcb tables return to zero.
 *
 * Virtual time: when nothing moves, the clock jumps to the next deadline of either stack
 * (at most 1 s at a time).  A run gives up (res->ok = 0, res->why says where) when the
 * virtual clock passes im->max_vtime_ns or the iteration cap is hit — a stall is a result,
 * not a hang.  Hooks let a caller change both configs before the stacks start (cfg) and
 * each connection once it exists (conn: A's after connect, B's after accept), and the size of
 * both pools (pool_bufs).
 */
#ifndef FASTNET_TESTS_TCP_XFER_H
#define FASTNET_TESTS_TCP_XFER_H

#include <stdio.h>
#include <stdlib.h>

#include "tcp_harness.h"

static inline uint8_t xfer_pat(uint32_t i, int dir)
{
    return (uint8_t)((i * 2654435761u) >> 13) ^ (uint8_t)(dir * 0x5a) ^ (uint8_t)(i >> 9);
}

struct xfer_side {
    struct fn_stack *st;
    struct tcpcb *tp;
    int dir;                    /* which pattern this side sends */
    uint32_t xfer;              /* bytes to send (and expect) */
    uint32_t sent, rcvd;
    int shut, eof, bad;
};

static inline void xfer_side_run(struct xfer_side *s, uint64_t now)
{
    uint8_t buf[8192];
    int n;

    if (!s->tp || fn_tcp_state(s->tp) < TCPS_ESTABLISHED)
        return;
    while (s->sent < s->xfer) {
        uint32_t len = s->xfer - s->sent < sizeof(buf) ? s->xfer - s->sent
                                                       : (uint32_t)sizeof(buf);
        for (uint32_t i = 0; i < len; i++)
            buf[i] = xfer_pat(s->sent + i, s->dir);
        n = fn_tcp_send(s->tp, buf, len, now);
        if (n <= 0)
            break;
        s->sent += (uint32_t)n;
    }
    if (s->sent == s->xfer && !s->shut) {
        fn_tcp_shutdown_wr(s->tp, now);
        s->shut = 1;
    }
    while ((n = fn_tcp_recv(s->tp, buf, sizeof(buf), now)) > 0) {
        for (int i = 0; i < n; i++)
            if (buf[i] != xfer_pat(s->rcvd + (uint32_t)i, !s->dir))
                s->bad++;
        s->rcvd += (uint32_t)n;
    }
    if (n == 0)
        s->eof = 1;
}

static inline uint32_t xfer_pool_peak(struct fn_pool *p)
{
    struct fn_pool_stats ps;

    fn_pool_get_stats(p, &ps);
    return ps.peak_in_use;
}

struct impair {
    uint32_t loss_ppm, reorder_ppm, dup_ppm, corrupt_ppm;
    uint64_t delay_ns;          /* every frame, each direction */
    uint64_t max_vtime_ns;      /* give up past this much virtual time (0 = 1 hour) */
};

struct xfer_hooks {
    void (*cfg)(struct fn_config *c, void *arg);        /* both sides, before start */
    void (*conn)(struct tcpcb *tp, void *arg);          /* each connection, once */
    void *arg;
    uint32_t pool_bufs;         /* buffers in each stack's pool; 0 = XFER_POOL_BUFS */
    uint32_t nconns;            /* connections at once, each `bytes` each way; 0 = 1, at
                                   most XFER_MAX_CONNS */
};

#define XFER_POOL_BUFS 4096u
#define XFER_MAX_CONNS 64u

struct xfer_result {
    int ok;                     /* every byte both ways, FINs, no RST, clean close */
    const char *why;            /* what failed when !ok */
    uint64_t rexmt_a, rexmt_b, vtime_ms;
    uint64_t hdrpred_ack, hdrpred_data;     /* both stacks */
    struct fn_stats sa, sb;     /* both stacks' counters before the final close */
    uint32_t peak_a, peak_b;    /* both pools' peak_in_use before the final close */
};

#define XFER_FAIL(res, msg)                                              \
    do {                                                                 \
        (res)->why = (msg);                                              \
        goto out;                                                        \
    } while (0)

/* A side's connection is through with its FIN exchange: past FIN_WAIT_2, or closed cleanly
 * (its LAST_ACK was acknowledged). */
static inline int xfer_side_closed(const struct xfer_side *s)
{
    int state = fn_tcp_state(s->tp);

    return state >= TCPS_FIN_WAIT_2 || (state == TCPS_CLOSED && !fn_tcp_error(s->tp));
}

/* Every byte both ways and both FINs, on each of n connections. */
static inline int xfer_all_done(const struct xfer_side *A, const struct xfer_side *B, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        if (!A[i].eof || !B[i].eof || A[i].rcvd != A[i].xfer || B[i].rcvd != B[i].xfer ||
            !xfer_side_closed(&A[i]) || !xfer_side_closed(&B[i]))
            return 0;
    }
    return 1;
}

/* The first check a finished run fails on any of its n connections, or NULL. */
static inline const char *xfer_check(const struct xfer_side *A, const struct xfer_side *B,
                                     uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        if (fn_tcp_error(A[i].tp) || fn_tcp_error(B[i].tp))
            return "connection error";
        if (A[i].bad || B[i].bad)
            return "data mismatch";
        if (A[i].rcvd != A[i].xfer || B[i].rcvd != B[i].xfer || !A[i].eof || !B[i].eof)
            return "incomplete";
    }
    return NULL;
}

/* Run one transfer of `bytes` each way (on each of hk->nconns connections at once).
 * Returns with res->ok = 1 on success; on failure res->why names the first check that
 * failed.  Always releases both stacks. */
static inline void run_transfer_ex(const struct impair *im, uint64_t seed, uint32_t bytes,
                                   const struct xfer_hooks *hk, struct xfer_result *res)
{
    struct fn_pool *pa = NULL, *pb = NULL;
    struct fn_backend *ba = NULL, *bb = NULL, *fa = NULL;
    struct fn_stack *sa = NULL, *sb = NULL;
    struct fn_config ca, cb;
    struct fn_fault_params fp;
    struct tcpcb *l = NULL;
    struct xfer_side A[XFER_MAX_CONNS], B[XFER_MAX_CONNS];
    uint64_t now = 1 * SEC, vmax = im->max_vtime_ns ? im->max_vtime_ns : 3600 * SEC;
    uint32_t nbufs, n = hk && hk->nconns ? hk->nconns : 1, nacc = 0;
    const char *why;
    long iter;

    memset(res, 0, sizeof(*res));
    memset(A, 0, sizeof(A));
    memset(B, 0, sizeof(B));
    if (n > XFER_MAX_CONNS) {
        res->why = "too many connections";
        return;
    }
    tnet_cfg(&ca, IP_A);
    tnet_cfg(&cb, IP_B);
    ca.tcp_msl_ms = cb.tcp_msl_ms = 1000;
    if (hk && hk->cfg) {
        hk->cfg(&ca, hk->arg);
        hk->cfg(&cb, hk->arg);
    }
    nbufs = hk && hk->pool_bufs ? hk->pool_bufs : XFER_POOL_BUFS;
    if (fn_pool_create(nbufs, 2048, 0, &pa) || fn_pool_create(nbufs, 2048, 0, &pb))
        XFER_FAIL(res, "pool");
    if (fn_backend_memory_pair(pa, pb, 1500, MAC_A, MAC_B, &ba, &bb))
        XFER_FAIL(res, "memory pair");
    memset(&fp, 0, sizeof(fp));
    fp.seed = seed;
    fp.tx.drop_ppm = fp.rx.drop_ppm = im->loss_ppm;
    fp.tx.reorder_ppm = fp.rx.reorder_ppm = im->reorder_ppm;
    fp.tx.dup_ppm = fp.rx.dup_ppm = im->dup_ppm;
    fp.tx.corrupt_ppm = fp.rx.corrupt_ppm = im->corrupt_ppm;
    if (im->delay_ns) {
        fp.tx.delay_ppm = fp.rx.delay_ppm = 1000000;
        fp.tx.delay_ns = fp.rx.delay_ns = im->delay_ns;
    }
    if (fn_backend_fault_wrap(ba, &fp, &fa))
        XFER_FAIL(res, "fault wrap");
    ba = NULL;                  /* owned by the wrapper now */
    if (fn_stack_create(&ca, pa, fa, &sa))
        XFER_FAIL(res, "stack A");
    fa = NULL;
    if (fn_stack_create(&cb, pb, bb, &sb))
        XFER_FAIL(res, "stack B");
    bb = NULL;

    if (fn_tcp_listen(sb, 8080, n > 8 ? n : 8, &l))
        XFER_FAIL(res, "listen");
    for (uint32_t i = 0; i < n; i++) {
        A[i].st = sa;
        A[i].dir = 0;
        A[i].xfer = bytes;
        B[i].st = sb;
        B[i].dir = 1;
        B[i].xfer = bytes;
        if (fn_tcp_connect(sa, IP_B, 8080, 0, &A[i].tp, now))
            XFER_FAIL(res, "connect");
        if (hk && hk->conn)
            hk->conn(A[i].tp, hk->arg);
    }

    for (iter = 0; iter < 40000000; iter++) {
        int moved = fn_stack_poll(sa, now) + fn_stack_poll(sb, now);
        uint64_t d;

        /* Every pair sends the same patterns, so which B meets which A does not matter. */
        while (nacc < n && (B[nacc].tp = fn_tcp_accept(l)) != NULL) {
            if (hk && hk->conn)
                hk->conn(B[nacc].tp, hk->arg);
            nacc++;
        }
        for (uint32_t i = 0; i < n; i++) {
            xfer_side_run(&A[i], now);
            xfer_side_run(&B[i], now);
        }
        if (nacc == n && xfer_all_done(A, B, n))
            break;
        for (uint32_t i = 0; i < n; i++)
            if (fn_tcp_state(A[i].tp) == TCPS_CLOSED && fn_tcp_error(A[i].tp))
                goto stop;
        if (now - 1 * SEC > vmax)
            break;
        if (moved)
            continue;
        d = fn_stack_next_deadline(sa);
        if (fn_stack_next_deadline(sb) < d)
            d = fn_stack_next_deadline(sb);
        if (d == 0)
            continue;
        /* Idle: jump to the next timer, but never more than 1 s at a time. */
        now = d > now && d - now < SEC ? d : now + (d > now ? SEC : 1000);
    }
stop:
    res->vtime_ms = (now - 1 * SEC) / MS;
    res->sa = tnet_stats(sa);
    res->sb = tnet_stats(sb);
    res->peak_a = xfer_pool_peak(pa);
    res->peak_b = xfer_pool_peak(pb);
    res->rexmt_a = res->sa.tcp_rexmt_segs;
    res->rexmt_b = res->sb.tcp_rexmt_segs;
    res->hdrpred_ack = res->sa.tcp_rx_hdrpred_ack + res->sb.tcp_rx_hdrpred_ack;
    res->hdrpred_data = res->sa.tcp_rx_hdrpred_data + res->sb.tcp_rx_hdrpred_data;
    if (getenv("FN_XFER_DEBUG"))
        printf("  A: rto %llu fast %llu dupack %llu ooo %llu  B: rto %llu fast %llu "
               "dupack %llu ooo %llu\n",
               (unsigned long long)res->sa.tcp_rexmt_timeout,
               (unsigned long long)res->sa.tcp_fast_rexmt,
               (unsigned long long)res->sa.tcp_rx_dupack, (unsigned long long)res->sa.tcp_rx_ooo,
               (unsigned long long)res->sb.tcp_rexmt_timeout,
               (unsigned long long)res->sb.tcp_fast_rexmt,
               (unsigned long long)res->sb.tcp_rx_dupack, (unsigned long long)res->sb.tcp_rx_ooo);
    if (nacc < n)
        XFER_FAIL(res, "never accepted");
    if (now - 1 * SEC > vmax)
        XFER_FAIL(res, "virtual time cap (stall)");
    if ((why = xfer_check(A, B, n)) != NULL)
        XFER_FAIL(res, why);
    /* No connection may be reset.  A RST answering a stale duplicate after both sides have
     * closed (B already CLOSED, A in TIME_WAIT re-ACKing B's retransmitted FIN) is what
     * RFC 9293 §3.10.7.1 prescribes and harms nothing: TIME_WAIT ignores it (RFC 1337). */
    if (res->sa.tcp_rst_rx || res->sb.tcp_rst_rx || res->sa.tcp_conn_reset ||
        res->sb.tcp_conn_reset)
        XFER_FAIL(res, "connection reset");
    res->ok = 1;
out:
    /* Both close; run until TIME_WAIT and every retransmitted FIN are done. */
    for (uint32_t i = 0; i < n; i++) {
        if (A[i].tp)
            fn_tcp_close(A[i].tp, now);
        if (B[i].tp)
            fn_tcp_close(B[i].tp, now);
    }
    if (l)
        fn_tcp_close(l, now);
    for (iter = 0; sa && sb && iter < 100000 && (fn_tcp_count(sa) || fn_tcp_count(sb));
         iter++) {
        int moved = fn_stack_poll(sa, now) + fn_stack_poll(sb, now);
        if (!moved)
            now += 10 * MS;
    }
    if (res->ok && (fn_tcp_count(sa) || fn_tcp_count(sb))) {
        res->ok = 0;
        res->why = "tcpcbs left after close";
    }
    if (sa && fn_stack_destroy(sa) != 0 && res->ok) {
        res->ok = 0;
        res->why = "stack A leaked buffers";
    }
    if (sb && fn_stack_destroy(sb) != 0 && res->ok) {
        res->ok = 0;
        res->why = "stack B leaked buffers";
    }
    /* Whatever no stack took over (setup failed half way): backends before their pools. */
    if (fa)
        fn_backend_close(fa);
    if (ba)
        fn_backend_close(ba);
    if (bb)
        fn_backend_close(bb);
    if (!sa && pa)
        fn_pool_destroy(pa);
    if (!sb && pb)
        fn_pool_destroy(pb);
}

#endif
