/*
 * test_tcp_sim.c — the reduced simulation matrix for CI (the full one is sim_tcp_matrix.c,
 * `make -C stack sim`): two stacks over the memory link with seeded loss and delay in both
 * directions, 1 MiB each way at once; every byte arrives, both sides close with FIN, no
 * RST, pools and tcpcb tables back to zero.  Also: the same seed gives byte-identical
 * results, another seed different ones, the caps turn a stall into a reported failure
 * without leaking, and a congestion-control algorithm this build lacks is "not built";
 * with the default buffers, no ACK is dropped as out of window.
 */
#include "tcp_sim.h"

#define CI_BYTES (1u << 20)

static struct sim_cell ci_cell(uint32_t loss_ppm, uint64_t delay_ns, uint32_t bytes,
                               uint64_t seed)
{
    struct sim_cell c = {
        .loss_ppm = loss_ppm,
        .delay_ns = delay_ns,
        .cc = "newreno",
        .bytes = bytes,
        .seed = seed,
        .max_vtime_ns = 3600 * SEC,
        .max_wall_ms = 30000,
    };
    return c;
}

/* The cell's JSON row as a string (caller frees). */
static char *row_of(const struct sim_cell *c, const struct sim_result *r)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    if (!f)
        return NULL;
    sim_row_json(f, c, r);
    fclose(f);
    return buf;
}

FN_TEST(sim_reduced_matrix_every_byte_fin_no_rst)
{
    static const uint32_t loss[] = {0, 10000, 50000};
    static const uint64_t delay[] = {100 * 1000, 100 * MS};

    for (unsigned d = 0; d < 2; d++) {
        for (unsigned l = 0; l < 3; l++) {
            struct sim_cell c = ci_cell(loss[l], delay[d], CI_BYTES, SIM_SEED);
            struct sim_result r;
            const struct xfer_result *x = &r.x;
            uint64_t drop_ab, drop_ba;

            sim_run_cell(&c, &r);
            if (!x->ok)
                fprintf(stderr, "  loss %u ppm delay %llu ns: %s\n", loss[l],
                        (unsigned long long)delay[d], x->why);
            FN_CHECK(r.built && x->ok);
            FN_CHECK_EQ(x->rcvd_a, CI_BYTES);
            FN_CHECK_EQ(x->rcvd_b, CI_BYTES);
            /* Both FINs sent and acknowledged (ok: and no connection error). */
            FN_CHECK(xfer_fin_acked_state(x->state_a) && xfer_fin_acked_state(x->state_b));
            /* No RST accepted, none sent but for segments after a clean close. */
            FN_CHECK_EQ(x->sa.tcp_rst_rx + x->sb.tcp_rst_rx, 0);
            FN_CHECK(x->sa.tcp_rst_tx + x->sb.tcp_rst_tx <= x->late_rst);
            FN_CHECK_EQ(x->tcbs_left, 0);
            FN_CHECK_EQ(x->leaked, 0);
            /* The link itself loses nothing; only the configured loss does. */
            FN_CHECK_EQ(x->la.tx_drops + x->la.rx_nobuf + x->lb.tx_drops + x->lb.rx_nobuf, 0);
            FN_CHECK_EQ(x->lb.fault_dropped, 0);
            /* Every frame is delayed both ways: each A->B frame that left A's wrapper (B's
             * wrapper delays it), each B->A frame A's wrapper did not drop; so nothing
             * completes before the handshake's round trip plus the data's one-way trip. */
            FN_CHECK_EQ(x->lb.fault_delayed, x->la.tx_packets);
            drop_ab = sim_lost_ab(x);
            drop_ba = sim_lost_ba(x);
            FN_CHECK_EQ(drop_ab + drop_ba, x->la.fault_dropped);
            FN_CHECK(x->done_ab_ns >= 3 * delay[d] && x->done_ba_ns >= 3 * delay[d]);
            if (loss[l] == 0) {
                FN_CHECK_EQ(x->la.fault_dropped, 0);
                FN_CHECK_EQ(x->rexmt_a + x->rexmt_b, 0);
            } else {
                /* Loss hits both directions, and both senders had to retransmit. */
                FN_CHECK(drop_ab > 0 && drop_ba > 0);
                FN_CHECK(x->rexmt_a > 0 && x->rexmt_b > 0);
            }
        }
    }
}

/* The default 128 KiB buffers: the window, not cwnd, limits both senders. */
static void default_bufs_cfg(struct fn_config *c, void *arg)
{
    struct fn_config d;

    (void)arg;
    fn_config_defaults(&d);
    c->tcp_msl_ms = d.tcp_msl_ms;
    c->n_bufs = 8192;
}

FN_TEST(sim_window_limited_no_ack_dropped_as_out_of_window)
{
    /* Both senders fill the peer's window, so their pure ACKs leave from its right edge;
     * with loss, the peer's RCV.NXT lags and those ACKs sit exactly at its RCV.NXT +
     * RCV.WND.  None may be dropped as out of window (tcp_rx_oow): no segment here is. */
    static const uint32_t loss[] = {10000, 20000};
    static const uint64_t delay[] = {100 * 1000, 10 * MS};
    struct xfer_hooks hk = {.cfg = default_bufs_cfg};

    for (unsigned d = 0; d < 2; d++) {
        for (unsigned l = 0; l < 2; l++) {
            struct impair im = {.loss_ppm = loss[l], .delay_ns = delay[d],
                                .max_vtime_ns = 3600 * SEC, .max_wall_ms = 30000};
            struct xfer_result x;

            run_transfer_ex(&im, 3, 4u << 20, &hk, &x);
            FN_CHECK(x.ok);
            FN_CHECK_EQ(x.sa.tcp_rx_oow + x.sb.tcp_rx_oow, 0);
            FN_CHECK(x.rexmt_a > 0 && x.rexmt_b > 0);
        }
    }
}

FN_TEST(sim_same_seed_same_bytes)
{
    struct sim_cell c = ci_cell(20000, 10 * MS, 256 * 1024, 77);
    struct sim_result r1, r2, r3;
    char *a, *b, *o;

    sim_run_cell(&c, &r1);
    sim_run_cell(&c, &r2);
    FN_CHECK(r1.x.ok && r2.x.ok);
    a = row_of(&c, &r1);
    b = row_of(&c, &r2);
    FN_CHECK(a && b);
    FN_CHECK(strcmp(a, b) == 0);
    FN_CHECK(memcmp(&r1.x.sa, &r2.x.sa, sizeof(r1.x.sa)) == 0);
    FN_CHECK(memcmp(&r1.x.sb, &r2.x.sb, sizeof(r1.x.sb)) == 0);
    FN_CHECK(memcmp(&r1.x.la, &r2.x.la, sizeof(r1.x.la)) == 0);
    FN_CHECK(r1.x.done_ab_ns == r2.x.done_ab_ns && r1.x.done_ba_ns == r2.x.done_ba_ns);
    /* Another seed, another loss pattern: the seed is what decides. */
    c.seed = 78;
    sim_run_cell(&c, &r3);
    FN_CHECK(r3.x.ok);
    o = row_of(&c, &r3);
    FN_CHECK(o != NULL);
    FN_CHECK(memcmp(&r1.x.la, &r3.x.la, sizeof(r1.x.la)) != 0);
    free(a);
    free(b);
    free(o);
}

FN_TEST(sim_caps_report_failure_without_leaks)
{
    /* 10 % loss at 100 ms needs minutes of virtual time: a 2 s cap must stop it. */
    struct sim_cell c = ci_cell(100000, 100 * MS, CI_BYTES, SIM_SEED);
    struct sim_result r;

    c.max_vtime_ns = 2 * SEC;
    sim_run_cell(&c, &r);
    FN_CHECK(r.built && !r.x.ok);
    FN_CHECK(strcmp(r.x.why, "virtual time cap (stall)") == 0);
    FN_CHECK(r.x.vtime_ms >= 2000 && r.x.vtime_ms < 4000);
    FN_CHECK(r.x.rcvd_a < CI_BYTES);
    FN_CHECK_EQ(r.x.tcbs_left, 0);
    FN_CHECK_EQ(r.x.leaked, 0);

    /* A wall-time cap of 1 ms fires at the first check after it passed. */
    c = ci_cell(0, 100 * 1000, 64u << 20, SIM_SEED);
    c.max_wall_ms = 1;
    sim_run_cell(&c, &r);
    FN_CHECK(!r.x.ok);
    FN_CHECK(strcmp(r.x.why, "wall time cap") == 0);
    FN_CHECK_EQ(r.x.tcbs_left, 0);
    FN_CHECK_EQ(r.x.leaked, 0);
}

FN_TEST(sim_cc_not_in_build_is_not_built)
{
    struct sim_cell c = ci_cell(0, 100 * 1000, 64 * 1024, SIM_SEED);
    struct sim_result r;

    FN_CHECK(sim_cc_lookup("newreno") == &newreno_cc_algo);
    FN_CHECK(sim_cc_lookup("no-such-algorithm") == NULL);
    c.cc = "no-such-algorithm";
    sim_run_cell(&c, &r);
    FN_CHECK(!r.built);
    FN_CHECK(strcmp(sim_status(&r), "not built") == 0);
    /* CUBIC: either this build has it and the cell passes, or it is reported not built. */
    c.cc = "cubic";
    sim_run_cell(&c, &r);
    FN_CHECK_EQ(r.built, sim_cc_lookup("cubic") != NULL);
    FN_CHECK(!r.built || r.x.ok);
}

FN_TEST_MAIN()
