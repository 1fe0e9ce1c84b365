/*
 * test_net_icmp.c — ICMP (net/icmp.c) and transport dispatch (net/ipv4.c): errors we send
 * (port / protocol unreachable, rate limit), errors we receive (validated and handed to the
 * quoted protocol's ctlinput), and TCP/UDP checksum verification, frame by frame.
 */
#include "fn_test.h"
#include "net_harness.h"

#include "core/fn_stack_impl.h"
#include "net/fn_ip.h"
#include "net/fn_net.h"

static uint32_t udp_frame(uint8_t *f, uint16_t dport, const char *msg)
{
    uint8_t body[1600];
    uint32_t blen = build_udp(body, IP_B, IP_A, 40000, dport, msg, (uint32_t)strlen(msg));
    return build_ip(f, MAC_A, MAC_B, IP_B, IP_A, FN_IPPROTO_UDP, 0x4242, 0, 0, body, blen);
}

/* Read one frame: an ICMP error from A to B of type/code whose quote is exactly quote[]. */
static int is_icmp_error(struct tnet *t, uint8_t type, uint8_t code, const uint8_t *quote,
                         uint32_t qlen)
{
    uint8_t out[2048];
    uint32_t len = tnet_read(t, out, sizeof(out));
    struct fn_ipv4_info ip;
    struct fn_icmp_info ic;

    if (len < 34 || memcmp(out, MAC_B, 6) != 0)
        return 0;
    if (fn_ipv4_parse(out + 14, len - 14, 1, &ip) != FN_WIRE_OK || ip.src != IP_A ||
        ip.dst != IP_B || ip.proto != FN_IPPROTO_ICMP)
        return 0;
    if (fn_icmp_parse(out + 34, len - 34, 1, &ic) != FN_WIRE_OK)
        return 0;
    return ic.type == type && ic.code == code && ic.payload_len == qlen &&
           memcmp(ic.payload, quote, qlen) == 0;
}

FN_TEST(icmp_udp_port_unreachable_quotes_datagram)
{
    struct tnet t;
    struct fn_config c;
    uint8_t f[256];
    uint32_t len;

    tnet_cfg(&c, IP_A);
    FN_CHECK_EQ(tnet_open(&t, &c, NULL, 256, 1500), 0);
    tnet_teach_b(&t);
    len = udp_frame(f, 9999, "hello");
    tnet_inject(&t, f, len);
    /* RFC 792 / RFC 1122 §3.2.2: the IP header and the datagram (all of it: it fits in 576). */
    FN_CHECK(is_icmp_error(&t, FN_ICMP_UNREACH, FN_ICMP_UNREACH_PORT, f + 14, len - 14));
    struct fn_stats s = tnet_stats(t.sa);
    FN_CHECK_EQ(s.udp_rx, 1);
    FN_CHECK_EQ(s.udp_no_port, 1);
    FN_CHECK_EQ(s.icmp_tx, 1);
    FN_CHECK_EQ(tnet_close(&t), 0);
}

FN_TEST(icmp_long_quote_cut_at_576)
{
    struct tnet t;
    struct fn_config c;
    uint8_t f[2048];
    char msg[1001];
    uint32_t len;

    memset(msg, 'q', 1000);
    msg[1000] = 0;
    tnet_cfg(&c, IP_A);
    FN_CHECK_EQ(tnet_open(&t, &c, NULL, 256, 1500), 0);
    tnet_teach_b(&t);
    len = udp_frame(f, 7, msg);
    tnet_inject(&t, f, len);
    FN_CHECK(is_icmp_error(&t, FN_ICMP_UNREACH, FN_ICMP_UNREACH_PORT, f + 14, 576 - 28));
    FN_CHECK_EQ(tnet_close(&t), 0);
}

FN_TEST(icmp_error_rate_limited)
{
    struct tnet t;
    struct fn_config c;
    uint8_t f[256];
    uint32_t len;

    tnet_cfg(&c, IP_A);
    c.icmp_err_rate_per_s = 2;
    FN_CHECK_EQ(tnet_open(&t, &c, NULL, 256, 1500), 0);
    tnet_teach_b(&t);
    len = udp_frame(f, 9, "x");
    for (int i = 0; i < 5; i++)
        tnet_inject(&t, f, len);
    FN_CHECK_EQ(tnet_drain(&t), 2);
    FN_CHECK_EQ(tnet_stats(t.sa).icmp_err_rate_limited, 3);
    t.now += 500 * MS;                  /* half a second: one more token */
    for (int i = 0; i < 3; i++)
        tnet_inject(&t, f, len);
    FN_CHECK_EQ(tnet_drain(&t), 1);
    FN_CHECK_EQ(tnet_stats(t.sa).udp_no_port, 8);
    FN_CHECK_EQ(tnet_close(&t), 0);
}

FN_TEST(icmp_protocol_unreachable_but_not_for_tcp)
{
    struct tnet t;
    struct fn_config c;
    uint8_t f[256], body[64], tcp[20] = {0};
    uint32_t len;

    tnet_cfg(&c, IP_A);
    FN_CHECK_EQ(tnet_open(&t, &c, NULL, 256, 1500), 0);
    tnet_teach_b(&t);
    memset(body, 0xab, 16);
    len = build_ip(f, MAC_A, MAC_B, IP_B, IP_A, 99, 7, 0, 0, body, 16);
    tnet_inject(&t, f, len);
    FN_CHECK(is_icmp_error(&t, FN_ICMP_UNREACH, FN_ICMP_UNREACH_PROTO, f + 14, len - 14));
    /* TCP is TCP's business: a malformed header (data offset 0) is dropped and counted
     * by TCP, never answered with ICMP protocol-unreachable. */
    tnet_inject(&t, f, build_ip(f, MAC_A, MAC_B, IP_B, IP_A, FN_IPPROTO_TCP, 8, 0, 0, tcp, 20));
    FN_CHECK_EQ(tnet_read(&t, f, sizeof(f)), 0);
    FN_CHECK_EQ(tnet_stats(t.sa).drop_ip_unknown_proto, 1);
    FN_CHECK(tnet_stats(t.sa).tcp_rx_malformed + tnet_stats(t.sa).drop_l4_bad_csum +
             tnet_stats(t.sa).drop_l4_truncated >= 1);
    FN_CHECK_EQ(tnet_close(&t), 0);
}

/* ---- a test transport registered for TCP ---- */
struct tproto {
    int inputs, errors, had_pkt;
    uint32_t last_len;
    struct fn_icmp_err err;
    uint8_t ql4[8];
};

static void tproto_input(struct fn_stack *st, void *arg, struct fn_ip_rx *rx, uint64_t now)
{
    struct tproto *p = arg;
    (void)st;
    (void)now;
    p->inputs++;
    p->had_pkt = rx->pkt != NULL;
    p->last_len = rx->l4_len;
    fn_pkt_free(rx->pkt);
}

static void tproto_ctlinput(struct fn_stack *st, void *arg, const struct fn_icmp_err *e,
                            uint64_t now)
{
    struct tproto *p = arg;
    (void)st;
    (void)now;
    p->errors++;
    p->err = *e;
    memcpy(p->ql4, e->ql4, 8);
}

/* A TCP header (20 bytes) from B:80 to A:12345 with a correct checksum. */
static void tcp_seg(uint8_t *h, uint32_t src, uint32_t dst)
{
    uint16_t c;
    memset(h, 0, 20);
    h[0] = 0;
    h[1] = 80;
    h[2] = 0x30;
    h[3] = 0x39;
    h[4] = 0x11;
    h[5] = 0x22;
    h[6] = 0x33;
    h[7] = 0x44;
    h[12] = 5 << 4;
    h[13] = FN_TH_SYN;
    h[14] = 0xff;
    c = fn_csum_fold(fn_csum_partial(h, 20, fn_csum_pseudo(src, dst, FN_IPPROTO_TCP, 20)));
    memcpy(h + 16, &c, 2);
}

FN_TEST(icmp_error_quoting_tcp_reaches_ctlinput)
{
    struct tnet t;
    struct fn_config c;
    struct tproto tp = {0};
    uint8_t f[256], body[128], inner[64];
    uint32_t len, ilen;

    tnet_cfg(&c, IP_A);
    FN_CHECK_EQ(tnet_open(&t, &c, NULL, 256, 1500), 0);
    fn_ip_register(t.sa, FN_IPPROTO_TCP, tproto_input, tproto_ctlinput, &tp);

    /* The datagram we "sent": A:12345 -> B:80, quoted as IP header + 8 bytes of TCP. */
    uint8_t tcp[20];
    tcp_seg(tcp, IP_A, IP_B);
    ilen = build_ip(inner, MAC_B, MAC_A, IP_A, IP_B, FN_IPPROTO_TCP, 77, 0, 0, tcp, 20) - 14;
    memmove(inner, inner + 14, ilen);
    /* Fragmentation needed, next-hop MTU 1400 (RFC 1191). */
    len = build_icmp(body, FN_ICMP_UNREACH, FN_ICMP_UNREACH_NEEDFRAG, 1400, inner, 28);
    tnet_inject(&t, f, build_ip(f, MAC_A, MAC_B, ip4(198, 18, 0, 254), IP_A, 1, 1, 0, 0, body, len));
    FN_CHECK_EQ(tp.errors, 1);
    FN_CHECK_EQ(tp.err.type, FN_ICMP_UNREACH);
    FN_CHECK_EQ(tp.err.code, FN_ICMP_UNREACH_NEEDFRAG);
    FN_CHECK_EQ(tp.err.next_mtu, 1400);
    FN_CHECK_EQ(tp.err.from, ip4(198, 18, 0, 254));
    FN_CHECK_EQ(tp.err.qip.proto, FN_IPPROTO_TCP);
    FN_CHECK_EQ(tp.err.qip.src, IP_A);
    FN_CHECK_EQ(tp.err.qip.dst, IP_B);
    FN_CHECK_EQ(tp.err.qip.total_len, 40);
    FN_CHECK_EQ(tp.err.ql4_len, 8);
    FN_CHECK(memcmp(tp.ql4, tcp, 8) == 0);
    /* Time exceeded and parameter problem too. */
    len = build_icmp(body, FN_ICMP_TIME_EXCEEDED, 0, 0, inner, 28);
    tnet_inject(&t, f, build_ip(f, MAC_A, MAC_B, IP_B, IP_A, 1, 2, 0, 0, body, len));
    len = build_icmp(body, FN_ICMP_PARAM_PROB, 0, 0x0c000000u, inner, 28);
    tnet_inject(&t, f, build_ip(f, MAC_A, MAC_B, IP_B, IP_A, 1, 3, 0, 0, body, len));
    FN_CHECK_EQ(tp.errors, 3);
    FN_CHECK_EQ(tp.err.pointer, 12);
    struct fn_stats s = tnet_stats(t.sa);
    FN_CHECK_EQ(s.icmp_err_rx, 3);
    FN_CHECK_EQ(s.icmp_err_delivered, 3);

    /* Malformed quotes: 4 bytes of TCP only; not our source; a non-initial fragment;
     * version 6; IHL 3. */
    len = build_icmp(body, FN_ICMP_UNREACH, 1, 0, inner, 24);
    tnet_inject(&t, f, build_ip(f, MAC_A, MAC_B, IP_B, IP_A, 1, 4, 0, 0, body, len));
    uint8_t bad[28];
    const int edits[][2] = {{12, 9}, {6, 0x01}, {0, 0x65}, {0, 0x43}};
    for (size_t i = 0; i < 4; i++) {
        memcpy(bad, inner, 28);
        bad[edits[i][0]] = (uint8_t)edits[i][1];
        len = build_icmp(body, FN_ICMP_UNREACH, 1, 0, bad, 28);
        tnet_inject(&t, f, build_ip(f, MAC_A, MAC_B, IP_B, IP_A, 1, 5, 0, 0, body, len));
    }
    s = tnet_stats(t.sa);
    FN_CHECK_EQ(s.drop_icmp_malformed, 5);
    FN_CHECK_EQ(tp.errors, 3);
    /* Quoting UDP, which has no ctlinput: counted as unhandled. */
    memcpy(bad, inner, 28);
    bad[9] = FN_IPPROTO_UDP;
    len = build_icmp(body, FN_ICMP_UNREACH, 3, 0, bad, 28);
    tnet_inject(&t, f, build_ip(f, MAC_A, MAC_B, IP_B, IP_A, 1, 6, 0, 0, body, len));
    FN_CHECK_EQ(tnet_stats(t.sa).drop_icmp_unhandled, 1);
    /* We never answer an ICMP error with an ICMP error. */
    FN_CHECK_EQ(tnet_read(&t, f, sizeof(f)), 0);

    /* The registered input gets TCP segments with a good checksum, not bad ones. */
    tcp_seg(tcp, IP_B, IP_A);
    len = build_ip(f, MAC_A, MAC_B, IP_B, IP_A, FN_IPPROTO_TCP, 9, 0, 0, tcp, 20);
    tnet_inject(&t, f, len);
    FN_CHECK_EQ(tp.inputs, 1);
    FN_CHECK_EQ(tp.had_pkt, 1);
    FN_CHECK_EQ(tp.last_len, 20);
    f[len - 1] ^= 0x40;
    tnet_inject(&t, f, len);
    FN_CHECK_EQ(tp.inputs, 1);
    FN_CHECK_EQ(tnet_stats(t.sa).drop_l4_bad_csum, 1);
    /* Truncated TCP header. */
    tnet_inject(&t, f, build_ip(f, MAC_A, MAC_B, IP_B, IP_A, FN_IPPROTO_TCP, 9, 0, 0, tcp, 12));
    FN_CHECK_EQ(tnet_stats(t.sa).drop_l4_truncated, 1);
    FN_CHECK_EQ(tp.inputs, 1);
    FN_CHECK_EQ(tnet_close(&t), 0);
}

FN_TEST(icmp_udp_checksum_bad_dropped_partial_trusted)
{
    struct tnet t;
    struct fn_config c;
    uint8_t f[256];
    uint32_t len;

    tnet_cfg(&c, IP_A);
    FN_CHECK_EQ(tnet_open(&t, &c, NULL, 256, 1500), 0);
    tnet_teach_b(&t);
    len = udp_frame(f, 53, "query");
    f[len - 1] ^= 0xff;
    tnet_inject(&t, f, len);
    tnet_inject(&t, f, len);            /* the warning is logged once; both are counted */
    FN_CHECK_EQ(tnet_drain(&t), 0);
    FN_CHECK_EQ(tnet_stats(t.sa).drop_l4_bad_csum, 2);
    FN_CHECK_EQ(tnet_stats(t.sa).udp_rx, 0);

    /* The same frame flagged as never having left the host (veth CHECKSUM_PARTIAL) or as
     * verified by the NIC is trusted: here that means a port unreachable. */
    static const uint16_t flags[] = {FN_PKT_F_L4_CSUM_PARTIAL, FN_PKT_F_L4_CSUM_OK};
    for (int i = 0; i < 2; i++) {
        struct fn_pkt *pkt = fn_pkt_alloc(fn_stack_pool(t.sa));
        FN_CHECK(pkt != NULL);
        memcpy(fn_pkt_put(pkt, len), f, len);
        pkt->flags = flags[i];
        fn_ether_input(t.sa, pkt, t.now);
        fn_stack_poll(t.sa, t.now);
        FN_CHECK(is_icmp_error(&t, FN_ICMP_UNREACH, FN_ICMP_UNREACH_PORT, f + 14, len - 14));
    }
    /* UDP checksum 0 means "none" (RFC 768). */
    len = udp_frame(f, 53, "query");
    f[14 + 20 + 6] = f[14 + 20 + 7] = 0;
    tnet_inject(&t, f, len);
    FN_CHECK(is_icmp_error(&t, FN_ICMP_UNREACH, FN_ICMP_UNREACH_PORT, f + 14, len - 14));
    /* UDP length beyond the datagram. */
    f[14 + 20 + 5] = 200;
    tnet_inject(&t, f, len);
    FN_CHECK_EQ(tnet_stats(t.sa).drop_l4_truncated, 1);
    FN_CHECK_EQ(tnet_close(&t), 0);
}

FN_TEST(icmp_bad_checksum_unhandled_types_echo_reply_ring)
{
    struct tnet t;
    struct fn_config c;
    uint8_t f[256], body[64];
    uint32_t len;
    uint16_t ids[40], seqs[40];

    tnet_cfg(&c, IP_A);
    FN_CHECK_EQ(tnet_open(&t, &c, NULL, 256, 1500), 0);
    tnet_teach_b(&t);
    len = build_icmp(body, FN_ICMP_ECHO, 0, 1, "abc", 3);
    body[9] ^= 1;
    tnet_inject(&t, f, build_ip(f, MAC_A, MAC_B, IP_B, IP_A, 1, 1, 0, 0, body, len));
    tnet_inject(&t, f, build_ip(f, MAC_A, MAC_B, IP_B, IP_A, 1, 1, 0, 0, body, 7));
    len = build_icmp(body, 13, 0, 0, "abcdefghijkl", 12);      /* timestamp */
    tnet_inject(&t, f, build_ip(f, MAC_A, MAC_B, IP_B, IP_A, 1, 1, 0, 0, body, len));
    len = build_icmp(body, 5, 0, IP_B, "abcdefghijkl", 12);    /* redirect */
    tnet_inject(&t, f, build_ip(f, MAC_A, MAC_B, IP_B, IP_A, 1, 1, 0, 0, body, len));
    FN_CHECK_EQ(tnet_read(&t, f, sizeof(f)), 0);
    struct fn_stats s = tnet_stats(t.sa);
    FN_CHECK_EQ(s.drop_icmp_bad_csum, 1);
    FN_CHECK_EQ(s.drop_icmp_malformed, 1);
    FN_CHECK_EQ(s.drop_icmp_unhandled, 2);
    FN_CHECK_EQ(s.icmp_rx, 4);
    /* Echo replies: the ring keeps the newest 32. */
    for (uint32_t i = 0; i < 40; i++) {
        len = build_icmp(body, FN_ICMP_ECHO_REPLY, 0, 3u << 16 | i, "r", 1);
        tnet_inject(&t, f, build_ip(f, MAC_A, MAC_B, IP_B, IP_A, 1, 1, 0, 0, body, len));
    }
    FN_CHECK_EQ(fn_stack_ping_replies(t.sa, ids, seqs, 40), 32);
    FN_CHECK_EQ(seqs[0], 8);
    FN_CHECK_EQ(seqs[31], 39);
    FN_CHECK_EQ(ids[31], 3);
    FN_CHECK_EQ(tnet_close(&t), 0);
}

FN_TEST_MAIN()
