/*
 * test_tcp_pool_pressure.c — TCP under packet-buffer pool pressure (issue 3: resource
 * exhaustion degrades, never stalls, crashes or leaks; the policy is tcp/tcp_pool.c's).
 * Send and receive buffers far larger than the pool can back over a long lossy path, many
 * connections sharing a small pool, a peer that sends only out-of-order data, and the
 * segment-level pieces of the policy: every connection completes with every byte checked,
 * and the pool returns to zero.
 */
#include "tcp_xfer.h"

static void cfg_big_buffers(struct fn_config *c, void *arg)
{
    (void)arg;
    c->tcp_sndbuf = 4u << 20;
    c->tcp_rcvbuf = 4u << 20;
}

static void xfer_report(const char *what, uint64_t seed, const struct xfer_result *res)
{
    printf("  %s seed %llu: %s, virtual %llu ms, peak %u/%u buffers, nobuf %llu/%llu, "
           "sends refused %llu, wakeups %llu\n", what, (unsigned long long)seed,
           res->ok ? "ok" : res->why, (unsigned long long)res->vtime_ms, res->peak_a,
           res->peak_b, (unsigned long long)res->sa.tcp_nobuf,
           (unsigned long long)res->sb.tcp_nobuf,
           (unsigned long long)(res->sa.tcp_pool_snd_refused + res->sb.tcp_pool_snd_refused),
           (unsigned long long)(res->sa.tcp_pool_wakeups + res->sb.tcp_pool_wakeups));
}

/* The reproduction: 4 MiB buffers, 50 ms RTT, 0.1 % loss, 4 MiB each way over 2048-buffer
 * pools.  Without the pool policy each send chain took every buffer of its pool, ACKs and
 * retransmissions then found none (tcp_nobuf), and the connection sat in RTO backoff until
 * the 600 s cap.  Now the send chains stop short of the reserve and nothing ever lacks a
 * buffer. */
FN_TEST(big_buffers_small_pool_4mib_each_way)
{
    struct impair im = {.loss_ppm = 1000, .delay_ns = 25 * MS, .max_vtime_ns = 600 * SEC};
    struct xfer_hooks hk = {.cfg = cfg_big_buffers, .pool_bufs = 2048};
    struct xfer_result res;

    for (uint64_t seed = 1; seed <= 3; seed++) {
        run_transfer_ex(&im, seed, 4u << 20, &hk, &res);
        xfer_report("2048 buffers, 4 MiB", seed, &res);
        FN_CHECK(res.ok);
        FN_CHECK_EQ(res.sa.tcp_nobuf + res.sb.tcp_nobuf, 0);
        FN_CHECK(res.sa.tcp_pool_snd_refused > 0 && res.sb.tcp_pool_snd_refused > 0);
        FN_CHECK(res.peak_a < 2048 && res.peak_b < 2048);
        FN_CHECK(res.vtime_ms < 30000);
    }
}

/* The colleague's numbers on the driver's own 4096-buffer pools: with 16 MiB each way the
 * pool used to run dry (tcp_nobuf) and only RTOs got the connection going again. */
FN_TEST(big_buffers_default_pool_16mib_each_way)
{
    struct impair im = {.loss_ppm = 1000, .delay_ns = 25 * MS, .max_vtime_ns = 600 * SEC};
    struct xfer_hooks hk = {.cfg = cfg_big_buffers};
    struct xfer_result res;

    run_transfer_ex(&im, 1, 16u << 20, &hk, &res);
    xfer_report("4096 buffers, 16 MiB", 1, &res);
    FN_CHECK(res.ok);
    FN_CHECK_EQ(res.sa.tcp_nobuf + res.sb.tcp_nobuf, 0);
    FN_CHECK(res.peak_a < XFER_POOL_BUFS && res.peak_b < XFER_POOL_BUFS);
}

/* One stack, many connections, one small pool: 16 bulk connections with 4 MiB buffers each
 * way over 1024-buffer pools (the 16 send chains alone would want 2300 buffers), 20 ms RTT,
 * 0.1 % loss.  Each send chain gets its share, nobody is starved, and all complete.  The
 * pool may still run dry for a moment here: the memory link queues a whole burst of the
 * peer's frames in the receiver's pool (a ring as long as the pool), which costs frames at
 * the link, never a connection. */
FN_TEST(many_connections_share_a_small_pool)
{
    struct impair im = {.loss_ppm = 1000, .delay_ns = 10 * MS, .max_vtime_ns = 600 * SEC};
    struct xfer_hooks hk = {.cfg = cfg_big_buffers, .pool_bufs = 1024, .nconns = 16};
    struct xfer_result res;

    for (uint64_t seed = 1; seed <= 2; seed++) {
        run_transfer_ex(&im, seed, 256u << 10, &hk, &res);
        xfer_report("16 connections, 1024 buffers", seed, &res);
        FN_CHECK(res.ok);
        FN_CHECK(res.sa.tcp_pool_snd_refused > 0 && res.sb.tcp_pool_snd_refused > 0);
        FN_CHECK_EQ(res.sa.tcp_conn_timedout + res.sb.tcp_conn_timedout, 0);
    }
}

FN_TEST_MAIN()
