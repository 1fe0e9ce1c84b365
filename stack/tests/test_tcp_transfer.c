/*
 * test_tcp_transfer.c — end to end: two stacks over the in-memory link, the fault wrapper
 * (seeded) impairing both directions, 1 MiB each way at the same time, every byte checked
 * against a position-dependent pattern, both sides half-close with FIN, TIME_WAIT runs out
 * and both pools return to zero.  Virtual time: when nothing moves, the clock jumps to the
 * next deadline of either stack.
 */
#include "tcp_harness.h"

#define XFER (1u << 20)

static uint8_t pat(uint32_t i, int dir)
{
    return (uint8_t)((i * 2654435761u) >> 13) ^ (uint8_t)(dir * 0x5a) ^ (uint8_t)(i >> 9);
}

struct side {
    struct fn_stack *st;
    struct tcpcb *tp;
    int dir;                    /* which pattern this side sends */
    uint32_t sent, rcvd;
    int shut, eof, bad;
};

static void side_run(struct side *s, uint64_t now)
{
    uint8_t buf[8192];
    int n;

    if (!s->tp || fn_tcp_state(s->tp) < TCPS_ESTABLISHED)
        return;
    while (s->sent < XFER) {
        uint32_t len = XFER - s->sent < sizeof(buf) ? XFER - s->sent : (uint32_t)sizeof(buf);
        for (uint32_t i = 0; i < len; i++)
            buf[i] = pat(s->sent + i, s->dir);
        n = fn_tcp_send(s->tp, buf, len, now);
        if (n <= 0)
            break;
        s->sent += (uint32_t)n;
    }
    if (s->sent == XFER && !s->shut) {
        fn_tcp_shutdown_wr(s->tp, now);
        s->shut = 1;
    }
    while ((n = fn_tcp_recv(s->tp, buf, sizeof(buf), now)) > 0) {
        for (int i = 0; i < n; i++)
            if (buf[i] != pat(s->rcvd + (uint32_t)i, !s->dir))
                s->bad++;
        s->rcvd += (uint32_t)n;
    }
    if (n == 0)
        s->eof = 1;
}

struct xfer_result {
    int ok;
    uint64_t rexmt_a, rexmt_b, vtime_ms;
    uint64_t hdrpred_ack, hdrpred_data;     /* both stacks */
};

struct impair {
    uint32_t loss_ppm, reorder_ppm, dup_ppm, corrupt_ppm;
    uint64_t delay_ns;          /* every frame, each direction */
};

static void run_transfer(int *fn_test_failed, const struct impair *im, uint64_t seed,
                         struct xfer_result *res)
{
    struct fn_pool *pa, *pb;
    struct fn_backend *ba, *bb, *fa;
    struct fn_stack *sa, *sb;
    struct fn_config ca, cb;
    struct fn_fault_params fp;
    struct tcpcb *l;
    struct side A, B;
    uint64_t now = 1 * SEC;
    long iter;

    memset(res, 0, sizeof(*res));
    tnet_cfg(&ca, IP_A);
    tnet_cfg(&cb, IP_B);
    ca.tcp_msl_ms = cb.tcp_msl_ms = 1000;
    FN_CHECK_EQ(fn_pool_create(4096, 2048, 0, &pa), 0);
    FN_CHECK_EQ(fn_pool_create(4096, 2048, 0, &pb), 0);
    FN_CHECK_EQ(fn_backend_memory_pair(pa, pb, 1500, MAC_A, MAC_B, &ba, &bb), 0);
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
    FN_CHECK_EQ(fn_backend_fault_wrap(ba, &fp, &fa), 0);
    FN_CHECK_EQ(fn_stack_create(&ca, pa, fa, &sa), 0);
    FN_CHECK_EQ(fn_stack_create(&cb, pb, bb, &sb), 0);

    memset(&A, 0, sizeof(A));
    memset(&B, 0, sizeof(B));
    A.st = sa;
    A.dir = 0;
    B.st = sb;
    B.dir = 1;
    FN_CHECK_EQ(fn_tcp_listen(sb, 8080, 8, &l), 0);
    FN_CHECK_EQ(fn_tcp_connect(sa, IP_B, 8080, 0, &A.tp, now), 0);

    for (iter = 0; iter < 4000000; iter++) {
        int moved = fn_stack_poll(sa, now) + fn_stack_poll(sb, now);
        uint64_t d;

        if (!B.tp)
            B.tp = fn_tcp_accept(l);
        side_run(&A, now);
        side_run(&B, now);
        if (A.eof && B.eof && A.rcvd == XFER && B.rcvd == XFER &&
            fn_tcp_state(A.tp) >= TCPS_FIN_WAIT_2 && fn_tcp_state(B.tp) >= TCPS_FIN_WAIT_2)
            break;
        if (A.tp && fn_tcp_state(A.tp) == TCPS_CLOSED)
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
    FN_CHECK(B.tp != NULL);
    FN_CHECK_EQ(fn_tcp_error(A.tp), 0);
    FN_CHECK_EQ(fn_tcp_error(B.tp), 0);
    FN_CHECK_EQ(A.bad, 0);
    FN_CHECK_EQ(B.bad, 0);
    FN_CHECK_EQ(A.rcvd, XFER);
    FN_CHECK_EQ(B.rcvd, XFER);
    FN_CHECK(A.eof && B.eof);
    res->rexmt_a = tnet_stats(sa).tcp_rexmt_segs;
    res->rexmt_b = tnet_stats(sb).tcp_rexmt_segs;
    res->vtime_ms = (now - 1 * SEC) / MS;
    res->hdrpred_ack = tnet_stats(sa).tcp_rx_hdrpred_ack + tnet_stats(sb).tcp_rx_hdrpred_ack;
    res->hdrpred_data = tnet_stats(sa).tcp_rx_hdrpred_data + tnet_stats(sb).tcp_rx_hdrpred_data;
    if (getenv("FN_XFER_DEBUG")) {
        struct fn_stats x = tnet_stats(sa), y = tnet_stats(sb);
        printf("  A: rto %llu fast %llu dupack %llu ooo %llu  B: rto %llu fast %llu dupack %llu ooo %llu\n",
               (unsigned long long)x.tcp_rexmt_timeout, (unsigned long long)x.tcp_fast_rexmt,
               (unsigned long long)x.tcp_rx_dupack, (unsigned long long)x.tcp_rx_ooo,
               (unsigned long long)y.tcp_rexmt_timeout, (unsigned long long)y.tcp_fast_rexmt,
               (unsigned long long)y.tcp_rx_dupack, (unsigned long long)y.tcp_rx_ooo);
    }
    FN_CHECK_EQ(tnet_stats(sa).tcp_rst_tx, 0);
    FN_CHECK_EQ(tnet_stats(sb).tcp_rst_tx, 0);

    /* Both close; run until TIME_WAIT (2 s here) and every retransmitted FIN are done. */
    fn_tcp_close(A.tp, now);
    fn_tcp_close(B.tp, now);
    fn_tcp_close(l, now);
    for (iter = 0; iter < 100000 && (fn_tcp_count(sa) || fn_tcp_count(sb)); iter++) {
        int moved = fn_stack_poll(sa, now) + fn_stack_poll(sb, now);
        if (!moved)
            now += 10 * MS;
    }
    FN_CHECK_EQ(fn_tcp_count(sa), 0);
    FN_CHECK_EQ(fn_tcp_count(sb), 0);
    FN_CHECK_EQ(fn_stack_destroy(sa), 0);
    FN_CHECK_EQ(fn_stack_destroy(sb), 0);
    res->ok = 1;
}

FN_TEST(transfer_1mib_each_way_clean)
{
    struct impair im = {0};
    struct xfer_result r;

    run_transfer(fn_test_failed, &im, 1, &r);
    FN_CHECK(r.ok);
    FN_CHECK_EQ(r.rexmt_a + r.rexmt_b, 0);
    /* The fast path carries most of a clean bulk transfer. */
    FN_CHECK(r.hdrpred_data > 1000);
    FN_CHECK(r.hdrpred_ack > 0);
    printf("  clean: header prediction took %llu data segments, %llu pure ACKs\n",
           (unsigned long long)r.hdrpred_data, (unsigned long long)r.hdrpred_ack);
}

FN_TEST(transfer_1mib_each_way_2pct_loss_reorder)
{
    struct impair im = {.loss_ppm = 20000, .reorder_ppm = 20000};
    struct xfer_result r;

    run_transfer(fn_test_failed, &im, 42, &r);
    FN_CHECK(r.ok);
    FN_CHECK(r.rexmt_a + r.rexmt_b > 0);
    printf("  2%% loss + 2%% reorder: virtual %llu ms, retransmitted %llu + %llu segments\n",
           (unsigned long long)r.vtime_ms, (unsigned long long)r.rexmt_a,
           (unsigned long long)r.rexmt_b);
}

FN_TEST(transfer_2pct_loss_other_seeds)
{
    struct impair im = {.loss_ppm = 20000, .reorder_ppm = 20000};
    struct xfer_result r;

    for (uint64_t seed = 100; seed < 104; seed++) {
        run_transfer(fn_test_failed, &im, seed, &r);
        FN_CHECK(r.ok);
    }
}

FN_TEST(transfer_with_delay_dup_and_corruption)
{
    /* 10 ms each way (20 ms RTT), 1 % loss, 2 % reordering, 1 % duplication, 0.5 %
     * corruption (caught by the checksum, so it is loss to TCP). */
    struct impair im = {.loss_ppm = 10000, .reorder_ppm = 20000, .dup_ppm = 10000,
                        .corrupt_ppm = 5000, .delay_ns = 10 * MS};
    struct xfer_result r;

    run_transfer(fn_test_failed, &im, 7, &r);
    FN_CHECK(r.ok);
    printf("  20 ms RTT, 1%% loss, dup, corruption: virtual %llu ms, retransmitted %llu + %llu\n",
           (unsigned long long)r.vtime_ms, (unsigned long long)r.rexmt_a,
           (unsigned long long)r.rexmt_b);
}

FN_TEST_MAIN()
