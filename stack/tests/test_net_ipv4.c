/*
 * test_net_ipv4.c — IPv4 input validation, routing, the stack's lifecycle and poll loop:
 * one stack against a raw memory-link end (hand-built frames in, frames out checked), or two
 * stacks over the link, on a virtual clock.
 */
#include <errno.h>

#include "fn_test.h"
#include "net_harness.h"

/* An echo request frame from B to A (payload dlen bytes of a pattern). */
static uint32_t echo_frame(uint8_t *f, uint16_t id, uint16_t seq, uint32_t dlen)
{
    uint8_t body[2048], data[2048];

    for (uint32_t i = 0; i < dlen; i++)
        data[i] = (uint8_t)(i * 7 + 1);
    uint32_t blen = build_icmp(body, FN_ICMP_ECHO, 0, (uint32_t)id << 16 | seq, data, dlen);
    return build_ip(f, MAC_A, MAC_B, IP_B, IP_A, FN_IPPROTO_ICMP, 0x1234, 0, 0, body, blen);
}

/* Read one frame and check it is an echo reply from A to B with id/seq and dlen bytes. */
static int is_echo_reply(struct tnet *t, uint16_t id, uint16_t seq, uint32_t dlen)
{
    uint8_t out[2048];
    uint32_t len = tnet_read(t, out, sizeof(out));
    struct fn_eth_info e;
    struct fn_ipv4_info ip;
    struct fn_icmp_info ic;

    if (fn_eth_parse(out, len, &e) != FN_WIRE_OK || memcmp(e.dst, MAC_B, 6) != 0 ||
        memcmp(e.src, MAC_A, 6) != 0 || e.type != FN_ETHERTYPE_IPV4)
        return 0;
    if (fn_ipv4_parse(out + 14, len - 14, 1, &ip) != FN_WIRE_OK || ip.src != IP_A ||
        ip.dst != IP_B || ip.proto != FN_IPPROTO_ICMP || ip.ttl != 64 || len != 14u + ip.total_len)
        return 0;
    if (fn_icmp_parse(out + 34, len - 34, 1, &ic) != FN_WIRE_OK)
        return 0;
    if (ic.type != FN_ICMP_ECHO_REPLY || ic.id != id || ic.seq != seq || ic.payload_len != dlen)
        return 0;
    for (uint32_t i = 0; i < dlen; i++) {
        if (ic.payload[i] != (uint8_t)(i * 7 + 1))
            return 0;
    }
    return 1;
}

FN_TEST(ipv4_ping_between_two_stacks)
{
    struct tnet t;
    struct fn_config ca, cb;
    uint16_t ids[8], seqs[8];

    tnet_cfg(&ca, IP_A);
    tnet_cfg(&cb, IP_B);
    FN_CHECK_EQ(tnet_open(&t, &ca, &cb, 256, 1500), 0);
    FN_CHECK_EQ(fn_stack_ping(t.sa, IP_B, 42, 1, "hello", 5, t.now), 0);
    tnet_run(&t);
    FN_CHECK_EQ(fn_stack_ping_replies(t.sa, ids, seqs, 8), 1);
    FN_CHECK_EQ(ids[0], 42);
    FN_CHECK_EQ(seqs[0], 1);
    FN_CHECK_EQ(fn_stack_ping_replies(t.sa, ids, seqs, 8), 0);
    /* Second ping: ARP is cached, no new ARP traffic. */
    FN_CHECK_EQ(fn_stack_ping(t.sa, IP_B, 42, 2, "hello", 5, t.now), 0);
    tnet_run(&t);
    FN_CHECK_EQ(fn_stack_ping_replies(t.sa, ids, seqs, 8), 1);
    FN_CHECK_EQ(seqs[0], 2);
    struct fn_stats sa = tnet_stats(t.sa), sb = tnet_stats(t.sb);
    FN_CHECK_EQ(sa.arp_tx, 1);
    FN_CHECK_EQ(sb.arp_requests_answered, 1);
    FN_CHECK_EQ(sb.icmp_echo_replied, 2);
    FN_CHECK_EQ(sa.icmp_tx, 2);
    FN_CHECK_EQ(sa.icmp_rx, 2);
    FN_CHECK_EQ(stats_drops(&sa) + stats_drops(&sb), 0);
    FN_CHECK_EQ(sa.eth_tx, sb.eth_rx);
    FN_CHECK_EQ(sa.eth_tx_bytes, sb.eth_rx_bytes);
    FN_CHECK_EQ(tnet_close(&t), 0);
}

FN_TEST(ipv4_echo_reply_bytes_and_padding_trimmed)
{
    struct tnet t;
    struct fn_config c;
    uint8_t f[128];
    uint32_t len;

    tnet_cfg(&c, IP_A);
    FN_CHECK_EQ(tnet_open(&t, &c, NULL, 256, 1500), 0);
    tnet_teach_b(&t);
    len = echo_frame(f, 9, 3, 4);           /* 46 bytes: a real wire pads it to 60 */
    memset(f + len, 0xee, 60 - len);
    tnet_inject(&t, f, 60);
    FN_CHECK(is_echo_reply(&t, 9, 3, 4));
    FN_CHECK_EQ(tnet_stats(t.sa).icmp_echo_replied, 1);
    FN_CHECK_EQ(tnet_close(&t), 0);
}

FN_TEST(ipv4_malformed_each_dropped_and_counted_then_ping_works)
{
    struct tnet t;
    struct fn_config c;
    uint8_t good[256], f[256];
    uint32_t len;
    struct fn_stats s0, s1;

    tnet_cfg(&c, IP_A);
    FN_CHECK_EQ(tnet_open(&t, &c, NULL, 256, 1500), 0);
    tnet_teach_b(&t);
    len = echo_frame(good, 1, 1, 32);

    /* Truncated at every offset (no Ethernet padding: a short frame as a backend sees it). */
    for (uint32_t cut = 0; cut < len; cut++) {
        s0 = tnet_stats(t.sa);
        tnet_inject(&t, good, cut);
        s1 = tnet_stats(t.sa);
        FN_CHECK_EQ(stats_drops(&s1) - stats_drops(&s0), 1);
        if (cut < 14)
            FN_CHECK_EQ(s1.drop_eth_truncated - s0.drop_eth_truncated, 1);
        else if (cut < 34)
            FN_CHECK_EQ(s1.drop_ip_truncated - s0.drop_ip_truncated, 1);
        else    /* IP ok, ICMP cut short: total length beyond the frame */
            FN_CHECK_EQ(s1.drop_ip_truncated - s0.drop_ip_truncated, 1);
    }
    FN_CHECK_EQ(tnet_read(&t, f, sizeof(f)), 0);

    /* Bad IHL: 4 (< 5), and 15 (60 bytes of header, beyond a 34-byte packet). */
    static const uint8_t ihls[] = {0x44, 0x40, 0x4f};
    for (size_t i = 0; i < sizeof(ihls); i++) {
        uint32_t l = i == 2 ? 14 + 34 : len;
        memcpy(f, good, len);
        f[14] = ihls[i];
        if (i == 2) {
            f[16] = 0;
            f[17] = 34;
        }
        fix_ip_csum(f);
        s0 = tnet_stats(t.sa);
        tnet_inject(&t, f, l);
        s1 = tnet_stats(t.sa);
        FN_CHECK_EQ(s1.drop_ip_bad_ihl - s0.drop_ip_bad_ihl, 1);
        FN_CHECK_EQ(stats_drops(&s1) - stats_drops(&s0), 1);
    }
    /* Total length < IHL, total length beyond the frame. */
    static const uint16_t tls[] = {19, 0, 1000, 65535};
    for (size_t i = 0; i < sizeof(tls) / sizeof(tls[0]); i++) {
        memcpy(f, good, len);
        f[16] = (uint8_t)(tls[i] >> 8);
        f[17] = (uint8_t)tls[i];
        fix_ip_csum(f);
        s0 = tnet_stats(t.sa);
        tnet_inject(&t, f, len);
        s1 = tnet_stats(t.sa);
        FN_CHECK_EQ(s1.drop_ip_truncated - s0.drop_ip_truncated, 1);
        FN_CHECK_EQ(stats_drops(&s1) - stats_drops(&s0), 1);
    }
    /* Bad header checksum. */
    memcpy(f, good, len);
    f[24] ^= 0x01;
    s0 = tnet_stats(t.sa);
    tnet_inject(&t, f, len);
    s1 = tnet_stats(t.sa);
    FN_CHECK_EQ(s1.drop_ip_bad_csum - s0.drop_ip_bad_csum, 1);
    FN_CHECK_EQ(stats_drops(&s1) - stats_drops(&s0), 1);
    /* Version 6 in an IPv4 ethertype; version 0. */
    static const uint8_t vers[] = {0x65, 0x05};
    for (size_t i = 0; i < sizeof(vers); i++) {
        memcpy(f, good, len);
        f[14] = vers[i];
        fix_ip_csum(f);
        s0 = tnet_stats(t.sa);
        tnet_inject(&t, f, len);
        s1 = tnet_stats(t.sa);
        FN_CHECK_EQ(s1.drop_ip_bad_version - s0.drop_ip_bad_version, 1);
        FN_CHECK_EQ(stats_drops(&s1) - stats_drops(&s0), 1);
    }
    FN_CHECK_EQ(tnet_read(&t, f, sizeof(f)), 0);
    /* The stack still answers. */
    tnet_inject(&t, good, len);
    FN_CHECK(is_echo_reply(&t, 1, 1, 32));
    FN_CHECK_EQ(tnet_close(&t), 0);
}

FN_TEST(ipv4_not_for_us_bad_source_broadcast_ping)
{
    struct tnet t;
    struct fn_config c;
    uint8_t f[256], body[64], out[256];
    uint32_t blen;
    struct fn_stats s;

    tnet_cfg(&c, IP_A);
    FN_CHECK_EQ(tnet_open(&t, &c, NULL, 256, 1500), 0);
    tnet_teach_b(&t);
    blen = build_icmp(body, FN_ICMP_ECHO, 0, 1, "x", 1);
    /* Another host's address; limited broadcast; subnet broadcast (Linux ignores broadcast
     * pings by default, and so do we). */
    tnet_inject(&t, f, build_ip(f, MAC_A, MAC_B, IP_B, ip4(198, 18, 0, 9), 1, 1, 0, 0, body, blen));
    tnet_inject(&t, f, build_ip(f, MAC_BCAST, MAC_B, IP_B, 0xffffffffu, 1, 1, 0, 0, body, blen));
    tnet_inject(&t, f, build_ip(f, MAC_BCAST, MAC_B, IP_B, ip4(198, 18, 0, 255), 1, 1, 0, 0,
                                body, blen));
    s = tnet_stats(t.sa);
    FN_CHECK_EQ(s.drop_ip_not_for_us, 3);
    /* Impossible sources: ours, 0, multicast, limited broadcast, loopback, subnet bcast. */
    const uint32_t srcs[] = {IP_A, 0, ip4(224, 0, 0, 1), 0xffffffffu, ip4(127, 0, 0, 1),
                             ip4(198, 18, 0, 255)};
    for (size_t i = 0; i < sizeof(srcs) / sizeof(srcs[0]); i++)
        tnet_inject(&t, f, build_ip(f, MAC_A, MAC_B, srcs[i], IP_A, 1, 1, 0, 0, body, blen));
    s = tnet_stats(t.sa);
    FN_CHECK_EQ(s.drop_ip_bad_src, 6);
    /* Multicast MAC, another unicast MAC, a VLAN tag, an unknown ethertype. */
    build_ip(f, MAC_A, MAC_B, IP_B, IP_A, 1, 1, 0, 0, body, blen);
    f[0] = 0x01;
    tnet_inject(&t, f, 14 + 20 + blen);
    f[0] = 0x02;
    f[5] = 0x77;
    tnet_inject(&t, f, 14 + 20 + blen);
    build_ip(f, MAC_A, MAC_B, IP_B, IP_A, 1, 1, 0, 0, body, blen);
    f[12] = 0x81;
    f[13] = 0x00;
    tnet_inject(&t, f, 14 + 20 + blen);
    f[12] = 0x86;
    f[13] = 0xdd;
    tnet_inject(&t, f, 14 + 20 + blen);
    s = tnet_stats(t.sa);
    FN_CHECK_EQ(s.drop_eth_not_for_us, 2);
    FN_CHECK_EQ(s.drop_eth_unknown_type, 2);
    FN_CHECK_EQ(stats_drops(&s), 13);
    FN_CHECK_EQ(tnet_read(&t, out, sizeof(out)), 0);
    FN_CHECK_EQ(tnet_close(&t), 0);
}

FN_TEST(ipv4_routing_gateway_and_no_route)
{
    struct tnet t;
    struct fn_config c;
    uint8_t out[256];
    struct fn_arp_info a;

    tnet_cfg(&c, IP_A);
    c.gateway = ip4(198, 18, 0, 254);
    FN_CHECK_EQ(tnet_open(&t, &c, NULL, 256, 1500), 0);
    /* Off-subnet: ARP asks for the gateway, not the destination. */
    FN_CHECK_EQ(fn_stack_ping(t.sa, ip4(198, 19, 7, 7), 1, 1, "x", 1, t.now), 0);
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(tnet_read(&t, out, sizeof(out)), 42);
    FN_CHECK_EQ(fn_arp_parse(out + 14, 28, &a), FN_WIRE_OK);
    FN_CHECK_EQ(a.tpa, ip4(198, 18, 0, 254));
    FN_CHECK_EQ(tnet_close(&t), 0);

    tnet_cfg(&c, IP_A);
    FN_CHECK_EQ(tnet_open(&t, &c, NULL, 256, 1500), 0);
    FN_CHECK_EQ(fn_stack_ping(t.sa, ip4(198, 19, 7, 7), 1, 1, "x", 1, t.now), -ENETUNREACH);
    FN_CHECK_EQ(fn_stack_ping(t.sa, IP_A, 1, 1, "x", 1, t.now), -ENETUNREACH);
    FN_CHECK_EQ(tnet_stats(t.sa).drop_ip_no_route, 2);
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(tnet_read(&t, out, sizeof(out)), 0);
    FN_CHECK_EQ(tnet_close(&t), 0);
}

FN_TEST(stack_create_rejects_bad_config)
{
    struct fn_pool *p;
    struct fn_backend *a, *b;
    struct fn_stack *st = NULL;
    struct fn_config c;

    FN_CHECK_EQ(fn_pool_create(64, 2048, 0, &p), 0);
    FN_CHECK_EQ(fn_backend_memory_pair(p, p, 1500, MAC_A, MAC_B, &a, &b), 0);
    for (int i = 0; i < 11; i++) {
        tnet_cfg(&c, IP_A);
        switch (i) {
        case 0: c.ip = 0; break;
        case 1: c.prefix_len = 33; break;
        case 2: c.gateway = ip4(198, 19, 0, 1); break;          /* outside the subnet */
        case 3: c.gateway = IP_A; break;
        case 4: c.mtu = 67; break;
        case 5: c.mtu = 1501; break;                            /* above the backend's */
        case 6: c.rx_batch = 0; break;
        case 7: c.rx_batch = FN_MAX_BATCH + 1; break;
        case 8: c.reass_max_size = 575; break;
        case 9: c.arp_cache_size = 0; break;
        case 10: c.reass_max_size = 65536; break;
        }
        FN_CHECK_EQ(fn_stack_create(&c, p, a, &st), -EINVAL);
    }
    /* The caller still owns what it passed in. */
    fn_backend_close(a);
    fn_backend_close(b);
    FN_CHECK_EQ(fn_pool_destroy(p), 0);

    /* A 9000-byte MTU does not fit 2048-byte buffers. */
    FN_CHECK_EQ(fn_pool_create(64, 2048, 0, &p), 0);
    FN_CHECK_EQ(fn_backend_memory_pair(p, p, 9000, MAC_A, MAC_B, &a, &b), 0);
    tnet_cfg(&c, IP_A);
    FN_CHECK_EQ(fn_stack_create(&c, p, a, &st), -EINVAL);
    c.mtu = 1500;
    FN_CHECK_EQ(fn_stack_create(&c, p, a, &st), 0);
    FN_CHECK(fn_stack_config(st)->mtu == 1500);
    FN_CHECK(fn_stack_pool(st) == p);
    FN_CHECK(fn_stack_backend(st) == a);
    FN_CHECK_EQ(fn_stack_fd(st), -1);
    fn_backend_close(b);
    FN_CHECK_EQ(fn_stack_destroy(st), 0);
}

FN_TEST(stats_names_match_fields)
{
    struct fn_stats s;

    FN_CHECK_EQ(FN_STATS_COUNT, sizeof(s) / 8);
    for (size_t i = 0; i < FN_STATS_COUNT; i++) {
        const char *n = fn_stats_names[i];
        FN_CHECK(n && *n && fn_stats_descs[i] && *fn_stats_descs[i]);
        for (const char *p = n; *p; p++)
            FN_CHECK((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_');
    }
    FN_CHECK(strcmp(fn_stats_names[0], "eth_rx") == 0);
}

FN_TEST(pool_exhaustion_drops_counted_no_leak)
{
    struct tnet t;
    struct fn_config ca, cb;
    static uint8_t big[4000];
    uint16_t ids[32], seqs[32];

    tnet_cfg(&ca, IP_A);
    tnet_cfg(&cb, IP_B);
    /* Stack A has 6 buffers: a 4000-byte ping needs 3 to send and 3 to receive. */
    FN_CHECK_EQ(tnet_open(&t, &ca, &cb, 6, 1500), 0);
    for (uint16_t seq = 0; seq < 20; seq++) {
        int rc = fn_stack_ping(t.sa, IP_B, 5, seq, big, sizeof(big), t.now);
        FN_CHECK(rc == 0 || rc == -ENOBUFS);
    }
    tnet_run(&t);
    for (uint16_t seq = 0; seq < 20; seq++)
        fn_stack_ping(t.sb, IP_A, 6, seq, big, sizeof(big), t.now);
    for (int i = 0; i < 10; i++) {
        tnet_run(&t);
        t.now += 100 * MS;
    }
    struct fn_stats sa = tnet_stats(t.sa);
    FN_CHECK(sa.drop_nobuf + fn_stack_backend(t.sa)->stats.rx_nobuf +
             sa.arp_queue_drops > 0);
    /* And it still works once traffic stops. */
    fn_stack_ping_replies(t.sa, ids, seqs, 32);
    FN_CHECK_EQ(fn_stack_ping(t.sa, IP_B, 5, 100, "x", 1, t.now), 0);
    tnet_run(&t);
    FN_CHECK_EQ(fn_stack_ping_replies(t.sa, ids, seqs, 32), 1);
    FN_CHECK_EQ(seqs[0], 100);
    FN_CHECK_EQ(tnet_close(&t), 0);
}

FN_TEST(tx_queue_overflow_flushes_early_never_drops)
{
    struct tnet t;
    struct fn_config c;
    uint8_t f[128];
    uint32_t len;

    tnet_cfg(&c, IP_A);
    FN_CHECK_EQ(tnet_open(&t, &c, NULL, 1024, 1500), 0);
    tnet_teach_b(&t);
    /* 400 pings queued without a poll: more than the tx queue (256) holds. */
    for (uint16_t seq = 0; seq < 400; seq++)
        FN_CHECK_EQ(fn_stack_ping(t.sa, IP_B, 1, seq, "x", 1, t.now), 0);
    fn_stack_poll(t.sa, t.now);
    for (uint16_t seq = 0; seq < 400; seq++) {
        struct fn_icmp_info ic;
        len = tnet_read(&t, f, sizeof(f));
        FN_CHECK_EQ(len, 14 + 20 + 9);
        FN_CHECK_EQ(fn_icmp_parse(f + 34, 9, 1, &ic), FN_WIRE_OK);
        FN_CHECK_EQ(ic.seq, seq);
    }
    FN_CHECK_EQ(tnet_stats(t.sa).eth_tx, 401);
    FN_CHECK_EQ(fn_stack_backend(t.sa)->stats.tx_drops, 0);
    FN_CHECK_EQ(tnet_close(&t), 0);
}

FN_TEST_MAIN()
