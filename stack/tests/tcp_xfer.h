/*
 * tcp_xfer.h — the bulk-transfer driver shared by the end-to-end TCP tests and the
 * network-simulation matrix: two stacks over the in-memory link, the seeded fault wrapper
 * impairing both directions, `bytes` each way at the same time, every byte
 * checked against a position-dependent pattern, both sides half-close with FIN, then both
 * close and TIME_WAIT runs out so that both pools and tcpcb tables return to zero.
 *
 * Where the faults sit: loss, reordering, duplication and corruption in A's wrapper (tx for
 * A->B frames, rx for B->A frames); the one-way delay on the receiving side of each
 * direction (B's wrapper rx for A->B, A's wrapper rx for B->A), so a frame is "on the wire"
 * in the receiver's delay queue and a whole window released at once never has to fit the
 * memory link's receive ring.  Each stack's pool holds cfg.n_bufs buffers.
 *
 * Virtual time: when nothing moves, the clock jumps to the next deadline of either stack
 * (at most 1 s at a time).  A run gives up (res->ok = 0, res->why says where) when the
 * virtual clock passes im->max_vtime_ns, the wall clock passes im->max_wall_ms or the
 * iteration cap is hit — a stall is a result, not a hang.  Hooks let a caller change both
 * configs before the stacks start (cfg), each connection once it exists (conn: A's after
 * connect, B's after accept), the size of both pools (pool_bufs, else cfg.n_bufs) and the
 * number of connections run at once (nconns), each carrying `bytes` each way.
 */
#ifndef FASTNET_TESTS_TCP_XFER_H
#define FASTNET_TESTS_TCP_XFER_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

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
    uint64_t done_ns;           /* virtual time the last expected byte arrived; 0 = not yet */
};

static inline void xfer_side_run(struct xfer_side *s, uint64_t now)
{
    uint8_t buf[8192];
    int n;

    if (!s->tp || fn_tcp_state(s->tp) < TCPS_ESTABLISHED)
        return;
    /* Fill the pattern only when the send buffer has room: most calls find it full. */
    while (s->sent < s->xfer && fn_tcp_writable(s->tp) > 0) {
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
        if (s->rcvd == s->xfer && !s->done_ns)
            s->done_ns = now;
    }
    if (n == 0)
        s->eof = 1;
}

/* A state in which our FIN has been sent and acknowledged: FIN_WAIT_2 or TIME_WAIT for the
 * side that closed first, CLOSED after LAST_ACK for the side that got the peer's FIN first
 * (a CLOSED connection with an error is a failure, not a close). */
static inline int xfer_fin_acked_state(int s)
{
    return s == TCPS_FIN_WAIT_2 || s == TCPS_TIME_WAIT || s == TCPS_CLOSED;
}

static inline int xfer_fin_acked(const struct tcpcb *tp)
{
    return tp && xfer_fin_acked_state(fn_tcp_state(tp)) && !fn_tcp_error(tp);
}

static inline uint32_t xfer_pool_peak(struct fn_pool *p)
{
    struct fn_pool_stats ps;

    fn_pool_get_stats(p, &ps);
    return ps.peak_in_use;
}

/* Every byte both ways and both FINs acknowledged, on each of n connections. */
static inline int xfer_all_done(const struct xfer_side *A, const struct xfer_side *B, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (!A[i].eof || !B[i].eof || A[i].rcvd != A[i].xfer || B[i].rcvd != B[i].xfer ||
            !xfer_fin_acked(A[i].tp) || !xfer_fin_acked(B[i].tp))
            return 0;
    return 1;
}

/* The first check a finished run fails on any of its n connections, or NULL. */
static inline const char *xfer_check(const struct xfer_side *A, const struct xfer_side *B,
                                     uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        if (fn_tcp_error(A[i].tp) || fn_tcp_error(B[i].tp))
            return "connection error";
        if (!xfer_fin_acked(A[i].tp) || !xfer_fin_acked(B[i].tp))
            return "FIN not acknowledged";
        if (A[i].bad || B[i].bad)
            return "data mismatch";
        if (A[i].rcvd != A[i].xfer || B[i].rcvd != B[i].xfer || !A[i].eof || !B[i].eof)
            return "incomplete";
    }
    return NULL;
}

struct impair {
    uint32_t loss_ppm, reorder_ppm, dup_ppm, corrupt_ppm;
    uint64_t delay_ns;          /* every frame, each direction */
    uint64_t max_vtime_ns;      /* give up past this much virtual time (0 = 1 hour) */
    uint64_t max_wall_ms;       /* give up past this much wall-clock time (0 = no limit) */
};

struct xfer_hooks {
    void (*cfg)(struct fn_config *c, void *arg);        /* both sides, before start */
    void (*conn)(struct tcpcb *tp, void *arg);          /* each connection, once */
    void *arg;
    uint32_t pool_bufs;         /* buffers in each stack's pool; 0 = cfg.n_bufs */
    uint32_t nconns;            /* connections at once, each `bytes` each way; 0 = 1, at
                                   most XFER_MAX_CONNS */
};

#define XFER_POOL_BUFS 4096u    /* cfg.n_bufs's default: the pools unless a hook says */
#define XFER_MAX_CONNS 64u

struct xfer_result {
    int ok;                     /* every byte both ways, FINs, no RST, clean close */
    uint64_t late_rst;          /* RSTs that answered a segment arriving after its
                                   connection had closed cleanly (allowed, see below) */
    const char *why;            /* what failed when !ok */
    uint64_t rexmt_a, rexmt_b, vtime_ms;
    uint64_t hdrpred_ack, hdrpred_data;     /* both stacks */
    uint64_t done_ab_ns, done_ba_ns;        /* virtual time from the SYN until the receiver
                                               had every byte (A->B, B->A); 0 = never */
    uint32_t rcvd_a, rcvd_b;    /* bytes the first connection's sides received in order */
    int state_a, state_b;       /* TCPS_* of the first connection's sides at the end (-1) */
    uint32_t peak_a, peak_b;    /* both pools' peak_in_use before the final close */
    uint32_t tcbs_left, leaked; /* after the final close, failed runs too: tcpcbs still in
                                   use and packet buffers not back in either pool */
    struct fn_stats sa, sb;     /* both stacks' counters before the final close */
    struct fn_backend_stats la, lb;         /* both ends' link counters (fault_* included) */
};

static inline uint64_t xfer_wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Destroy a stack (if any), adding its leaked buffers to res; a leak fails a good run. */
static inline void xfer_destroy(struct fn_stack *st, struct xfer_result *res, const char *why)
{
    uint32_t n = st ? fn_stack_destroy(st) : 0;

    res->leaked += n;
    if (n && res->ok) {
        res->ok = 0;
        res->why = why;
    }
}

#define XFER_FAIL(res, msg)                                              \
    do {                                                                 \
        (res)->why = (msg);                                              \
        goto out;                                                        \
    } while (0)

/* Run one transfer of `bytes` each way (on each of hk->nconns connections at once).
 * Returns with res->ok = 1 on success; on failure res->why names the first check that
 * failed.  Always releases both stacks. */
static inline void run_transfer_ex(const struct impair *im, uint64_t seed, uint32_t bytes,
                                   const struct xfer_hooks *hk, struct xfer_result *res)
{
    struct fn_pool *pa = NULL, *pb = NULL;
    struct fn_backend *ba = NULL, *bb = NULL, *fa = NULL, *fb = NULL;
    struct fn_stack *sa = NULL, *sb = NULL;
    struct fn_config ca, cb;
    struct fn_fault_params fp, fpb;
    struct tcpcb *l = NULL;
    struct xfer_side A[XFER_MAX_CONNS], B[XFER_MAX_CONNS];
    uint32_t n = hk && hk->nconns ? hk->nconns : 1, nacc = 0;
    const char *why;
    uint64_t now = 1 * SEC, vmax = im->max_vtime_ns ? im->max_vtime_ns : 3600 * SEC;
    uint64_t wall0 = xfer_wall_ms();
    int wall_out = 0;
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
    if (hk && hk->pool_bufs)
        ca.n_bufs = cb.n_bufs = hk->pool_bufs;
    if (fn_pool_create(ca.n_bufs, 2048, 0, &pa) || fn_pool_create(cb.n_bufs, 2048, 0, &pb))
        XFER_FAIL(res, "pool");
    if (fn_backend_memory_pair(pa, pb, 1500, MAC_A, MAC_B, &ba, &bb))
        XFER_FAIL(res, "memory pair");
    memset(&fp, 0, sizeof(fp));
    memset(&fpb, 0, sizeof(fpb));
    fp.seed = seed;
    fpb.seed = seed ^ 0x4242424242424242ull;   /* B's wrapper draws only for the delay */
    fp.tx.drop_ppm = fp.rx.drop_ppm = im->loss_ppm;
    fp.tx.reorder_ppm = fp.rx.reorder_ppm = im->reorder_ppm;
    fp.tx.dup_ppm = fp.rx.dup_ppm = im->dup_ppm;
    fp.tx.corrupt_ppm = fp.rx.corrupt_ppm = im->corrupt_ppm;
    if (im->delay_ns) {
        fp.rx.delay_ppm = fpb.rx.delay_ppm = 1000000;
        fp.rx.delay_ns = fpb.rx.delay_ns = im->delay_ns;
    }
    if (fn_backend_fault_wrap(ba, &fp, &fa))
        XFER_FAIL(res, "fault wrap");
    ba = NULL;                  /* owned by the wrapper now */
    if (fn_backend_fault_wrap(bb, &fpb, &fb))
        XFER_FAIL(res, "fault wrap B");
    bb = NULL;
    if (fn_stack_create(&ca, pa, fa, &sa))
        XFER_FAIL(res, "stack A");
    fa = NULL;
    if (fn_stack_create(&cb, pb, fb, &sb))
        XFER_FAIL(res, "stack B");
    fb = NULL;

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
        while (l && nacc < n && (B[nacc].tp = fn_tcp_accept(l)) != NULL) {
            if (hk && hk->conn)
                hk->conn(B[nacc].tp, hk->arg);
            if (++nacc == n) {
                /* Every connection we want is there; without the listener, a late segment
                 * for B's closed connection is "no connection" on B as on A. */
                fn_tcp_close(l, now);
                l = NULL;
            }
        }
        for (uint32_t i = 0; i < n; i++) {
            xfer_side_run(&A[i], now);
            xfer_side_run(&B[i], now);
        }
        if (nacc == n && xfer_all_done(A, B, n))
            break;
        /* A reset or a give-up ends the run (reported below). */
        for (uint32_t i = 0; i < n; i++)
            if (fn_tcp_error(A[i].tp) || (B[i].tp && fn_tcp_error(B[i].tp)))
                goto stop;
        if (now - 1 * SEC > vmax)
            break;
        if ((iter & 4095) == 0 && im->max_wall_ms && xfer_wall_ms() - wall0 > im->max_wall_ms) {
            wall_out = 1;
            break;
        }
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
    res->rexmt_a = res->sa.tcp_rexmt_segs;
    res->rexmt_b = res->sb.tcp_rexmt_segs;
    res->hdrpred_ack = res->sa.tcp_rx_hdrpred_ack + res->sb.tcp_rx_hdrpred_ack;
    res->hdrpred_data = res->sa.tcp_rx_hdrpred_data + res->sb.tcp_rx_hdrpred_data;
    {
        /* The last connection to finish a direction decides its time; 0 if one never did. */
        int all_ab = 1, all_ba = 1;

        for (uint32_t i = 0; i < n; i++) {
            if (!B[i].done_ns)
                all_ab = 0;
            else if (B[i].done_ns - 1 * SEC > res->done_ab_ns)
                res->done_ab_ns = B[i].done_ns - 1 * SEC;
            if (!A[i].done_ns)
                all_ba = 0;
            else if (A[i].done_ns - 1 * SEC > res->done_ba_ns)
                res->done_ba_ns = A[i].done_ns - 1 * SEC;
        }
        if (!all_ab)
            res->done_ab_ns = 0;
        if (!all_ba)
            res->done_ba_ns = 0;
    }
    res->rcvd_a = A[0].rcvd;
    res->rcvd_b = B[0].rcvd;
    res->peak_a = xfer_pool_peak(pa);
    res->peak_b = xfer_pool_peak(pb);
    res->late_rst = res->sa.tcp_rx_noport + res->sb.tcp_rx_noport + res->sa.tcp_syncookies_bad +
                    res->sb.tcp_syncookies_bad;
    res->state_a = A[0].tp ? fn_tcp_state(A[0].tp) : -1;
    res->state_b = B[0].tp ? fn_tcp_state(B[0].tp) : -1;
    res->la = fn_stack_backend(sa)->stats;
    res->lb = fn_stack_backend(sb)->stats;
    if (getenv("FN_XFER_DEBUG"))
        printf("  A: rto %llu fast %llu dupack %llu ooo %llu  B: rto %llu fast %llu "
               "dupack %llu ooo %llu\n",
               (unsigned long long)res->sa.tcp_rexmt_timeout,
               (unsigned long long)res->sa.tcp_fast_rexmt,
               (unsigned long long)res->sa.tcp_rx_dupack, (unsigned long long)res->sa.tcp_rx_ooo,
               (unsigned long long)res->sb.tcp_rexmt_timeout,
               (unsigned long long)res->sb.tcp_fast_rexmt,
               (unsigned long long)res->sb.tcp_rx_dupack, (unsigned long long)res->sb.tcp_rx_ooo);
    if (now - 1 * SEC > vmax)
        XFER_FAIL(res, "virtual time cap (stall)");
    if (wall_out)
        XFER_FAIL(res, "wall time cap");
    if (iter >= 40000000)
        XFER_FAIL(res, "iteration cap");
    if (nacc < n)
        XFER_FAIL(res, "never accepted");
    if ((why = xfer_check(A, B, n)) != NULL)
        XFER_FAIL(res, why);
    /* No connection may be reset.  A RST answering a stale duplicate after both sides have
     * closed (B already CLOSED, A in TIME_WAIT re-ACKing B's retransmitted FIN) is what
     * RFC 9293 §3.10.7.1 prescribes and harms nothing: TIME_WAIT ignores it (RFC 1337). */
    if (res->sa.tcp_rst_rx || res->sb.tcp_rst_rx || res->sa.tcp_conn_reset ||
        res->sb.tcp_conn_reset)
        XFER_FAIL(res, "connection reset");
    res->ok = 1;
    /* Nor may a RST leave from inside a connection.  A side that closed cleanly (LAST_ACK ->
     * CLOSED) has no tcpcb left, so a duplicate of the ACK that closed it arriving next
     * draws a RST: such RSTs count as tcp_rx_noport (or, met by a listener while cookies are
     * on, tcp_syncookies_bad) and are only reported, in late_rst. */
    if (res->sa.tcp_rst_tx > res->sa.tcp_rx_noport + res->sa.tcp_syncookies_bad ||
        res->sb.tcp_rst_tx > res->sb.tcp_rx_noport + res->sb.tcp_syncookies_bad) {
        res->ok = 0;
        res->why = "RST sent";
    }
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
    res->tcbs_left = (sa ? fn_tcp_count(sa) : 0) + (sb ? fn_tcp_count(sb) : 0);
    if (res->ok && res->tcbs_left) {
        res->ok = 0;
        res->why = "tcpcbs left after close";
    }
    xfer_destroy(sa, res, "stack A leaked buffers");
    xfer_destroy(sb, res, "stack B leaked buffers");
    /* Whatever no stack took over (setup failed half way): backends before their pools. */
    if (fa)
        fn_backend_close(fa);
    if (fb)
        fn_backend_close(fb);
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
