/*
 * test_tcp_transfer.c — end to end: two stacks over the in-memory link, the fault wrapper
 * (seeded) impairing both directions, 1 MiB each way at the same time, every byte checked
 * against a position-dependent pattern, both sides half-close with FIN, TIME_WAIT runs out
 * and both pools return to zero (the driver is tcp_xfer.h).
 */
#include "tcp_xfer.h"

#define XFER (1u << 20)

static void run_transfer(int *fn_test_failed, const struct impair *im, uint64_t seed,
                         struct xfer_result *res)
{
    run_transfer_ex(im, seed, XFER, NULL, res);
    if (!res->ok)
        fprintf(stderr, "  transfer failed: %s\n", res->why);
    FN_CHECK(res->ok);
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
