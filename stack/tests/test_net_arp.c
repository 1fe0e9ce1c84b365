/*
 * test_net_arp.c — ARP (net/arp.c) frame by frame: one stack on a memory link, the test on
 * the raw end injecting ARP packets and reading what the stack sends, on a virtual clock.
 */
#include <errno.h>

#include "fn_test.h"
#include "net_harness.h"

static uint32_t arp_frame(uint8_t *f, const uint8_t dmac[6], uint16_t op, const uint8_t sha[6],
                          uint32_t spa, const uint8_t tha[6], uint32_t tpa)
{
    fn_eth_emit(f, dmac, sha, FN_ETHERTYPE_ARP);
    fn_arp_emit(f + FN_ETH_HLEN, op, sha, spa, tha, tpa);
    return FN_ETH_HLEN + FN_ARP_LEN;
}

static const uint8_t ZERO6[6];

FN_TEST(arp_request_for_us_answered_with_exact_reply)
{
    struct tnet t;
    struct fn_config c;
    uint8_t f[128], out[128], mac[6];
    /* The reply, written out: Ethernet to B from A, ARP reply A-is-at to B. */
    static const uint8_t want[42] = {
        0x02, 0x00, 0x5e, 0x00, 0x00, 0x0b, 0x02, 0x00, 0x5e, 0x00, 0x00, 0x0a, 0x08, 0x06,
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02,
        0x02, 0x00, 0x5e, 0x00, 0x00, 0x0a, 198, 18, 0, 1,
        0x02, 0x00, 0x5e, 0x00, 0x00, 0x0b, 198, 18, 0, 2,
    };

    tnet_cfg(&c, IP_A);
    FN_CHECK_EQ(tnet_open(&t, &c, NULL, 256, 1500), 0);
    FN_CHECK_EQ(fn_stack_arp_lookup(t.sa, IP_B, mac), 0);
    tnet_inject(&t, f, arp_frame(f, MAC_BCAST, FN_ARP_OP_REQUEST, MAC_B, IP_B, ZERO6, IP_A));
    FN_CHECK_EQ(tnet_read(&t, out, sizeof(out)), 42);
    FN_CHECK(memcmp(out, want, 42) == 0);
    FN_CHECK_EQ(tnet_read(&t, out, sizeof(out)), 0);
    struct fn_stats s = tnet_stats(t.sa);
    FN_CHECK_EQ(s.arp_rx, 1);
    FN_CHECK_EQ(s.arp_tx, 1);
    FN_CHECK_EQ(s.arp_requests_answered, 1);
    FN_CHECK_EQ(stats_drops(&s), 0);
    /* RFC 826: the asker was learned (it targeted us). */
    FN_CHECK_EQ(fn_stack_arp_lookup(t.sa, IP_B, mac), 1);
    FN_CHECK(memcmp(mac, MAC_B, 6) == 0);
    FN_CHECK_EQ(tnet_close(&t), 0);
}

FN_TEST(arp_for_other_ip_ignored_and_not_learned)
{
    struct tnet t;
    struct fn_config c;
    uint8_t f[128], out[128], mac[6];

    tnet_cfg(&c, IP_A);
    FN_CHECK_EQ(tnet_open(&t, &c, NULL, 256, 1500), 0);
    tnet_inject(&t, f, arp_frame(f, MAC_BCAST, FN_ARP_OP_REQUEST, MAC_B, IP_B, ZERO6,
                                 ip4(198, 18, 0, 99)));
    /* A reply to someone else, too. */
    tnet_inject(&t, f, arp_frame(f, MAC_A, FN_ARP_OP_REPLY, MAC_B, IP_B, MAC_A,
                                 ip4(198, 18, 0, 98)));
    FN_CHECK_EQ(tnet_read(&t, out, sizeof(out)), 0);
    struct fn_stats s = tnet_stats(t.sa);
    FN_CHECK_EQ(s.arp_rx, 2);
    FN_CHECK_EQ(s.drop_arp_not_for_us, 2);
    FN_CHECK_EQ(stats_drops(&s), 2);
    FN_CHECK_EQ(fn_stack_arp_lookup(t.sa, IP_B, mac), 0);
    FN_CHECK_EQ(tnet_close(&t), 0);
}

FN_TEST(arp_malformed_each_field_dropped)
{
    struct tnet t;
    struct fn_config c;
    uint8_t good[128], f[128], out[128];
    uint32_t len;
    /* (offset in the frame, bad value) for htype, ptype, hlen, plen, op. */
    static const struct { uint32_t off; uint8_t val; } bad[] = {
        {14 + 1, 6}, {14 + 2, 0x86}, {14 + 4, 8}, {14 + 5, 16}, {14 + 7, 3}, {14 + 7, 0},
    };

    tnet_cfg(&c, IP_A);
    FN_CHECK_EQ(tnet_open(&t, &c, NULL, 256, 1500), 0);
    len = arp_frame(good, MAC_BCAST, FN_ARP_OP_REQUEST, MAC_B, IP_B, ZERO6, IP_A);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memcpy(f, good, len);
        f[bad[i].off] = bad[i].val;
        tnet_inject(&t, f, len);
        FN_CHECK_EQ(tnet_stats(t.sa).drop_arp_malformed, i + 1);
    }
    /* Truncated: 27 bytes of ARP. */
    tnet_inject(&t, good, len - 1);
    /* A multicast sender hardware address. */
    memcpy(f, good, len);
    f[14 + 8] = 0x01;
    tnet_inject(&t, f, len);
    FN_CHECK_EQ(tnet_read(&t, out, sizeof(out)), 0);
    struct fn_stats s = tnet_stats(t.sa);
    FN_CHECK_EQ(s.drop_arp_malformed, 8);
    FN_CHECK_EQ(stats_drops(&s), 8);
    FN_CHECK_EQ(s.arp_tx, 0);
    /* Still answers a good one. */
    tnet_inject(&t, good, len);
    FN_CHECK_EQ(tnet_read(&t, out, sizeof(out)), 42);
    FN_CHECK_EQ(tnet_close(&t), 0);
}

/* Check that out is a broadcast ARP request from A for target. */
static int is_request_for(const uint8_t *out, uint32_t len, const uint8_t dmac[6],
                          uint32_t target)
{
    struct fn_eth_info e;
    struct fn_arp_info a;

    if (len != 42 || fn_eth_parse(out, len, &e) != FN_WIRE_OK || e.type != FN_ETHERTYPE_ARP ||
        memcmp(e.dst, dmac, 6) != 0 || memcmp(e.src, MAC_A, 6) != 0)
        return 0;
    if (fn_arp_parse(out + 14, len - 14, &a) != FN_WIRE_OK)
        return 0;
    return a.op == FN_ARP_OP_REQUEST && memcmp(a.sha, MAC_A, 6) == 0 && a.spa == IP_A &&
           a.tpa == target;
}

FN_TEST(arp_resolution_retries_then_gives_up)
{
    struct tnet t;
    struct fn_config c;
    uint8_t out[2048];
    uint64_t t0;

    tnet_cfg(&c, IP_A);
    FN_CHECK_EQ(tnet_open(&t, &c, NULL, 256, 1500), 0);
    t0 = t.now;
    FN_CHECK_EQ(fn_stack_next_deadline(t.sa), UINT64_MAX);
    FN_CHECK_EQ(fn_stack_ping(t.sa, IP_B, 7, 1, "abcd", 4, t.now), 0);
    FN_CHECK_EQ(fn_stack_next_deadline(t.sa), 0);      /* output waiting */
    fn_stack_poll(t.sa, t.now);
    FN_CHECK(is_request_for(out, tnet_read(&t, out, sizeof(out)), MAC_BCAST, IP_B));
    FN_CHECK_EQ(tnet_read(&t, out, sizeof(out)), 0);   /* the ping waits for ARP */
    FN_CHECK_EQ(fn_stack_next_deadline(t.sa), t0 + 1000 * MS);
    /* Retries every arp_retry_ms on the virtual clock, arp_max_retries requests in all. */
    for (int r = 1; r < 3; r++) {
        t.now = t0 + (uint64_t)r * 1000 * MS - 1;
        fn_stack_poll(t.sa, t.now);
        FN_CHECK_EQ(tnet_read(&t, out, sizeof(out)), 0);
        t.now += 1;
        fn_stack_poll(t.sa, t.now);
        FN_CHECK(is_request_for(out, tnet_read(&t, out, sizeof(out)), MAC_BCAST, IP_B));
        FN_CHECK_EQ(fn_stack_next_deadline(t.sa), t.now + 1000 * MS);
    }
    t.now = t0 + 3000 * MS;
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(tnet_read(&t, out, sizeof(out)), 0);
    struct fn_stats s = tnet_stats(t.sa);
    FN_CHECK_EQ(s.arp_tx, 3);
    FN_CHECK_EQ(s.arp_resolve_failed, 1);
    FN_CHECK_EQ(s.arp_queue_drops, 1);
    FN_CHECK_EQ(fn_stack_next_deadline(t.sa), UINT64_MAX);
    FN_CHECK_EQ(tnet_close(&t), 0);
}

FN_TEST(arp_queued_packets_sent_after_reply_oldest_dropped)
{
    struct tnet t;
    struct fn_config c;
    uint8_t f[128], out[2048], mac[6];
    struct fn_eth_info e;
    struct fn_ipv4_info ip;
    struct fn_icmp_info ic;

    tnet_cfg(&c, IP_A);
    c.arp_queue_max = 2;
    FN_CHECK_EQ(tnet_open(&t, &c, NULL, 256, 1500), 0);
    for (uint16_t seq = 1; seq <= 4; seq++)
        FN_CHECK_EQ(fn_stack_ping(t.sa, IP_B, 7, seq, "abcd", 4, t.now), 0);
    fn_stack_poll(t.sa, t.now);
    FN_CHECK(is_request_for(out, tnet_read(&t, out, sizeof(out)), MAC_BCAST, IP_B));
    FN_CHECK_EQ(tnet_read(&t, out, sizeof(out)), 0);
    FN_CHECK_EQ(tnet_stats(t.sa).arp_queue_drops, 2);
    t.now += 5 * MS;
    tnet_inject(&t, f, arp_frame(f, MAC_A, FN_ARP_OP_REPLY, MAC_B, IP_B, MAC_A, IP_A));
    FN_CHECK_EQ(fn_stack_arp_lookup(t.sa, IP_B, mac), 1);
    FN_CHECK(memcmp(mac, MAC_B, 6) == 0);
    /* The two newest pings (seq 3, 4) go out, in order, to B's MAC. */
    for (uint16_t seq = 3; seq <= 4; seq++) {
        uint32_t len = tnet_read(&t, out, sizeof(out));
        FN_CHECK_EQ(len, 14 + 20 + 8 + 4);
        FN_CHECK_EQ(fn_eth_parse(out, len, &e), FN_WIRE_OK);
        FN_CHECK(memcmp(e.dst, MAC_B, 6) == 0);
        FN_CHECK_EQ(fn_ipv4_parse(out + 14, len - 14, 1, &ip), FN_WIRE_OK);
        FN_CHECK_EQ(fn_icmp_parse(out + 34, len - 34, 1, &ic), FN_WIRE_OK);
        FN_CHECK_EQ(ic.type, FN_ICMP_ECHO);
        FN_CHECK_EQ(ic.seq, seq);
    }
    FN_CHECK_EQ(tnet_read(&t, out, sizeof(out)), 0);
    struct fn_stats s = tnet_stats(t.sa);
    FN_CHECK_EQ(s.arp_replies_learned, 1);
    /* Timers are recomputed lazily: the old retry time may still be reported (an early
     * wake-up, never a late one); after it passes, the reachable timer is next. */
    uint64_t t_reply = t.now, d = fn_stack_next_deadline(t.sa);
    FN_CHECK(d <= t_reply + 30 * SEC);
    t.now = d;
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(tnet_read(&t, out, sizeof(out)), 0);
    FN_CHECK_EQ(fn_stack_next_deadline(t.sa), t_reply + 30 * SEC);
    FN_CHECK_EQ(tnet_close(&t), 0);
}

FN_TEST(arp_gratuitous_at_start)
{
    struct tnet t;
    struct fn_config c;
    uint8_t out[128];
    static const uint8_t want[42] = {
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x5e, 0x00, 0x00, 0x0a, 0x08, 0x06,
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01,
        0x02, 0x00, 0x5e, 0x00, 0x00, 0x0a, 198, 18, 0, 1,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 198, 18, 0, 1,
    };

    tnet_cfg(&c, IP_A);
    c.gratuitous_arp = 1;
    FN_CHECK_EQ(tnet_open(&t, &c, NULL, 256, 1500), 0);
    fn_stack_start(t.sa, t.now);
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(tnet_read(&t, out, sizeof(out)), 42);
    FN_CHECK(memcmp(out, want, 42) == 0);
    FN_CHECK_EQ(tnet_close(&t), 0);

    /* Off: nothing is sent. */
    tnet_cfg(&c, IP_A);
    FN_CHECK_EQ(tnet_open(&t, &c, NULL, 256, 1500), 0);
    fn_stack_start(t.sa, t.now);
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(tnet_read(&t, out, sizeof(out)), 0);
    FN_CHECK_EQ(tnet_close(&t), 0);
}

FN_TEST(arp_cache_full_evicts_oldest_resolved)
{
    struct tnet t;
    struct fn_config c;
    uint8_t f[128], mac[6];
    uint8_t mac_c[6] = {0x02, 0, 0, 0, 0, 0x0c}, mac_d[6] = {0x02, 0, 0, 0, 0, 0x0d};

    tnet_cfg(&c, IP_A);
    c.arp_cache_size = 2;
    FN_CHECK_EQ(tnet_open(&t, &c, NULL, 256, 1500), 0);
    tnet_inject(&t, f, arp_frame(f, MAC_BCAST, FN_ARP_OP_REQUEST, MAC_B, IP_B, ZERO6, IP_A));
    t.now += MS;
    tnet_inject(&t, f, arp_frame(f, MAC_BCAST, FN_ARP_OP_REQUEST, mac_c, ip4(198, 18, 0, 3),
                                 ZERO6, IP_A));
    t.now += MS;
    tnet_inject(&t, f, arp_frame(f, MAC_BCAST, FN_ARP_OP_REQUEST, mac_d, ip4(198, 18, 0, 4),
                                 ZERO6, IP_A));
    FN_CHECK_EQ(fn_stack_arp_lookup(t.sa, IP_B, mac), 0);
    FN_CHECK_EQ(fn_stack_arp_lookup(t.sa, ip4(198, 18, 0, 3), mac), 1);
    FN_CHECK_EQ(fn_stack_arp_lookup(t.sa, ip4(198, 18, 0, 4), mac), 1);
    FN_CHECK(memcmp(mac, mac_d, 6) == 0);
    FN_CHECK_EQ(tnet_stats(t.sa).arp_cache_full, 0);
    tnet_drain(&t);
    FN_CHECK_EQ(tnet_close(&t), 0);

    /* Every entry still resolving: nothing can be evicted. */
    tnet_cfg(&c, IP_A);
    c.arp_cache_size = 1;
    FN_CHECK_EQ(tnet_open(&t, &c, NULL, 256, 1500), 0);
    FN_CHECK_EQ(fn_stack_arp_resolve(t.sa, IP_B, t.now), 0);
    FN_CHECK_EQ(fn_stack_arp_resolve(t.sa, IP_B, t.now), 0);   /* already resolving */
    FN_CHECK_EQ(fn_stack_arp_resolve(t.sa, ip4(198, 18, 0, 3), t.now), -ENOBUFS);
    FN_CHECK_EQ(fn_stack_ping(t.sa, ip4(198, 18, 0, 4), 1, 1, "x", 1, t.now), 0);
    struct fn_stats s = tnet_stats(t.sa);
    FN_CHECK_EQ(s.arp_cache_full, 2);
    FN_CHECK_EQ(fn_stack_arp_resolve(t.sa, IP_A, t.now), -EINVAL);
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(tnet_drain(&t), 1);     /* the one request for B */
    FN_CHECK_EQ(tnet_close(&t), 0);
}

FN_TEST(arp_stale_entry_used_and_probed)
{
    struct tnet t;
    struct fn_config c;
    uint8_t out[2048], f[128], mac[6];
    struct fn_eth_info e;

    tnet_cfg(&c, IP_A);
    FN_CHECK_EQ(tnet_open(&t, &c, NULL, 256, 1500), 0);
    tnet_teach_b(&t);
    t.now += 31 * SEC;
    fn_stack_poll(t.sa, t.now);         /* REACHABLE -> STALE */
    FN_CHECK_EQ(fn_stack_arp_lookup(t.sa, IP_B, mac), 1);
    FN_CHECK_EQ(fn_stack_ping(t.sa, IP_B, 1, 1, "x", 1, t.now), 0);
    fn_stack_poll(t.sa, t.now);
    /* Unicast probe to the known MAC first (queued at lookup), then the ping itself. */
    FN_CHECK(is_request_for(out, tnet_read(&t, out, sizeof(out)), MAC_B, IP_B));
    uint32_t len = tnet_read(&t, out, sizeof(out));
    FN_CHECK_EQ(fn_eth_parse(out, len, &e), FN_WIRE_OK);
    FN_CHECK_EQ(e.type, FN_ETHERTYPE_IPV4);
    FN_CHECK(memcmp(e.dst, MAC_B, 6) == 0);
    /* The answer confirms the entry: no more probes. */
    tnet_inject(&t, f, arp_frame(f, MAC_A, FN_ARP_OP_REPLY, MAC_B, IP_B, MAC_A, IP_A));
    t.now += 5 * SEC;
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(tnet_read(&t, out, sizeof(out)), 0);
    /* Unanswered probes free the entry after arp_max_retries. */
    t.now += 31 * SEC;
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(fn_stack_ping(t.sa, IP_B, 1, 2, "x", 1, t.now), 0);
    for (int i = 0; i < 4; i++) {
        fn_stack_poll(t.sa, t.now);
        t.now += 1000 * MS;
    }
    FN_CHECK_EQ(tnet_drain(&t), 4);     /* ping + 3 probes */
    FN_CHECK_EQ(fn_stack_arp_lookup(t.sa, IP_B, mac), 0);
    FN_CHECK_EQ(tnet_stats(t.sa).arp_resolve_failed, 1);
    FN_CHECK_EQ(tnet_close(&t), 0);
}

FN_TEST(arp_conflict_not_learned)
{
    struct tnet t;
    struct fn_config c;
    uint8_t f[128], out[128], mac[6];

    tnet_cfg(&c, IP_A);
    FN_CHECK_EQ(tnet_open(&t, &c, NULL, 256, 1500), 0);
    /* Someone announces our address. */
    tnet_inject(&t, f, arp_frame(f, MAC_BCAST, FN_ARP_OP_REQUEST, MAC_B, IP_A, ZERO6, IP_A));
    FN_CHECK_EQ(tnet_read(&t, out, sizeof(out)), 0);
    FN_CHECK_EQ(tnet_stats(t.sa).drop_arp_conflict, 1);
    FN_CHECK_EQ(fn_stack_arp_lookup(t.sa, IP_A, mac), 0);
    /* An RFC 5227 probe (sender 0) for our address is answered, nothing learned. */
    tnet_inject(&t, f, arp_frame(f, MAC_BCAST, FN_ARP_OP_REQUEST, MAC_B, 0, ZERO6, IP_A));
    FN_CHECK_EQ(tnet_read(&t, out, sizeof(out)), 42);
    FN_CHECK_EQ(fn_stack_arp_lookup(t.sa, 0, mac), 0);
    FN_CHECK_EQ(tnet_close(&t), 0);
}

FN_TEST_MAIN()
