/*
 * test_net_frag.c — IPv4 fragment reassembly and output fragmentation (net/ip_frag.c), frame
 * by frame on a virtual clock, and a 4000-byte ping between two stacks with MTU 1500.
 */
#include <errno.h>

#include "fn_test.h"
#include "net_harness.h"

#include "core/fn_stack_impl.h"
#include "net/fn_ip.h"

#define PAYLOAD 4000u
#define MSGLEN (PAYLOAD + 8u)   /* the ICMP echo message: 4008 bytes -> 1480 + 1480 + 1048 */

static uint8_t msg[MSGLEN];

/* The echo request message (id 0x77, seq 1) the fragments are cut from. */
static void make_msg(void)
{
    uint8_t data[PAYLOAD];

    for (uint32_t i = 0; i < PAYLOAD; i++)
        data[i] = (uint8_t)(i * 13 + 5);
    build_icmp(msg, FN_ICMP_ECHO, 0, 0x77u << 16 | 1, data, PAYLOAD);
}

/* Send bytes [off, off+len) of msg as a fragment of datagram id. */
static void frag(struct tnet *t, uint16_t id, uint32_t off, uint32_t len, int mf)
{
    uint8_t f[2048];
    tnet_inject(t, f, build_ip(f, MAC_A, MAC_B, IP_B, IP_A, FN_IPPROTO_ICMP, id, (uint16_t)off,
                               mf, msg + off, len));
}

static void send_whole(struct tnet *t, uint16_t id)
{
    frag(t, id, 0, 1480, 1);
    frag(t, id, 1480, 1480, 1);
    frag(t, id, 2960, MSGLEN - 2960, 0);
}

/* Read the fragmented echo reply: 3 frames, checked one by one, then the whole message. */
static int reply_ok(struct tnet *t)
{
    static const uint32_t offs[3] = {0, 1480, 2960}, lens[3] = {1480, 1480, MSGLEN - 2960};
    uint8_t out[2048], whole[MSGLEN];
    struct fn_ipv4_info ip;
    struct fn_icmp_info ic;
    uint16_t id = 0;

    for (int i = 0; i < 3; i++) {
        uint32_t len = tnet_read(t, out, sizeof(out));
        if (len != 14 + 20 + lens[i] || memcmp(out, MAC_B, 6) != 0)
            return 0;
        if (fn_ipv4_parse(out + 14, len - 14, 1, &ip) != FN_WIRE_OK)
            return 0;
        if (i == 0)
            id = ip.id;
        if (ip.id != id || ip.frag_off != offs[i] || ip.mf != (i < 2) || ip.df ||
            ip.src != IP_A || ip.dst != IP_B || ip.proto != FN_IPPROTO_ICMP)
            return 0;
        memcpy(whole + offs[i], out + 34, lens[i]);
    }
    if (tnet_read(t, out, sizeof(out)) != 0)
        return 0;
    if (fn_icmp_parse(whole, MSGLEN, 1, &ic) != FN_WIRE_OK || ic.type != FN_ICMP_ECHO_REPLY ||
        ic.id != 0x77 || ic.seq != 1 || ic.payload_len != PAYLOAD)
        return 0;
    return memcmp(ic.payload, msg + 8, PAYLOAD) == 0;
}

static int open_raw(struct tnet *t, struct fn_config *c)
{
    if (tnet_open(t, c, NULL, 256, 1500) != 0)
        return -1;
    tnet_teach_b(t);
    make_msg();
    return 0;
}

FN_TEST(frag_ping_4000_between_two_stacks_mtu_1500)
{
    struct tnet t;
    struct fn_config ca, cb;
    static uint8_t big[PAYLOAD];
    uint16_t ids[4], seqs[4];

    tnet_cfg(&ca, IP_A);
    tnet_cfg(&cb, IP_B);
    FN_CHECK_EQ(tnet_open(&t, &ca, &cb, 256, 1500), 0);
    FN_CHECK_EQ(fn_stack_ping(t.sa, IP_B, 3, 9, big, sizeof(big), t.now), 0);
    tnet_run(&t);
    FN_CHECK_EQ(fn_stack_ping_replies(t.sa, ids, seqs, 4), 1);
    FN_CHECK_EQ(ids[0], 3);
    FN_CHECK_EQ(seqs[0], 9);
    struct fn_stats sa = tnet_stats(t.sa), sb = tnet_stats(t.sb);
    FN_CHECK_EQ(sa.frag_tx, 3);
    FN_CHECK_EQ(sb.frag_rx, 3);
    FN_CHECK_EQ(sb.frag_reassembled, 1);
    FN_CHECK_EQ(sb.icmp_echo_replied, 1);
    FN_CHECK_EQ(sb.frag_tx, 3);
    FN_CHECK_EQ(sa.frag_rx, 3);
    FN_CHECK_EQ(sa.frag_reassembled, 1);
    FN_CHECK_EQ(stats_drops(&sa) + stats_drops(&sb), 0);
    FN_CHECK_EQ(t.sa->reass.used + t.sb->reass.used, 0);
    FN_CHECK_EQ(tnet_close(&t), 0);
}

FN_TEST(frag_reply_is_fragmented_frame_by_frame)
{
    struct tnet t;
    struct fn_config c;

    tnet_cfg(&c, IP_A);
    FN_CHECK_EQ(open_raw(&t, &c), 0);
    send_whole(&t, 100);
    FN_CHECK(reply_ok(&t));
    FN_CHECK_EQ(tnet_stats(t.sa).frag_reassembled, 1);
    FN_CHECK_EQ(tnet_close(&t), 0);
}

FN_TEST(frag_out_of_order)
{
    struct tnet t;
    struct fn_config c;

    tnet_cfg(&c, IP_A);
    FN_CHECK_EQ(open_raw(&t, &c), 0);
    frag(&t, 101, 2960, MSGLEN - 2960, 0);
    frag(&t, 101, 0, 1480, 1);
    FN_CHECK_EQ(tnet_drain(&t), 0);
    frag(&t, 101, 1480, 1480, 1);
    FN_CHECK(reply_ok(&t));
    FN_CHECK_EQ(t.sa->reass.used, 0);
    FN_CHECK_EQ(tnet_close(&t), 0);
}

FN_TEST(frag_duplicates_ignored)
{
    struct tnet t;
    struct fn_config c;

    tnet_cfg(&c, IP_A);
    FN_CHECK_EQ(open_raw(&t, &c), 0);
    frag(&t, 102, 0, 1480, 1);
    frag(&t, 102, 0, 1480, 1);
    frag(&t, 102, 1480, 1480, 1);
    frag(&t, 102, 2960, MSGLEN - 2960, 0);
    FN_CHECK(reply_ok(&t));
    /* A duplicate arriving after completion starts a new datagram that never completes. */
    struct fn_stats s = tnet_stats(t.sa);
    FN_CHECK_EQ(s.drop_frag_dup, 1);
    FN_CHECK_EQ(s.frag_rx, 4);
    FN_CHECK_EQ(s.frag_reassembled, 1);
    FN_CHECK_EQ(tnet_close(&t), 0);
}

FN_TEST(frag_overlap_discards_datagram)
{
    struct tnet t;
    struct fn_config c;

    tnet_cfg(&c, IP_A);
    FN_CHECK_EQ(open_raw(&t, &c), 0);
    frag(&t, 103, 0, 1480, 1);
    frag(&t, 103, 1472, 1480, 1);       /* overlaps the first by 8 bytes */
    FN_CHECK_EQ(tnet_stats(t.sa).drop_frag_overlap, 1);
    FN_CHECK_EQ(t.sa->reass.used, 0);
    /* The rest of that datagram cannot complete it any more. */
    frag(&t, 103, 1480, 1480, 1);
    frag(&t, 103, 2960, MSGLEN - 2960, 0);
    FN_CHECK_EQ(tnet_drain(&t), 0);
    FN_CHECK_EQ(tnet_stats(t.sa).frag_reassembled, 0);
    /* A clean datagram still goes through. */
    send_whole(&t, 104);
    FN_CHECK(reply_ok(&t));
    FN_CHECK_EQ(tnet_close(&t), 0);
}

FN_TEST(frag_timeout_frees_slot_and_sends_time_exceeded)
{
    struct tnet t;
    struct fn_config c;
    uint8_t out[2048], f[2048];
    struct fn_ipv4_info ip;
    struct fn_icmp_info ic;
    uint64_t t0;

    tnet_cfg(&c, IP_A);
    FN_CHECK_EQ(open_raw(&t, &c), 0);
    t0 = t.now;
    uint32_t flen = build_ip(f, MAC_A, MAC_B, IP_B, IP_A, FN_IPPROTO_ICMP, 105, 0, 1, msg, 1480);
    tnet_inject(&t, f, flen);
    FN_CHECK_EQ(t.sa->reass.used, 1);
    FN_CHECK_EQ(fn_stack_next_deadline(t.sa) <= t0 + 30 * SEC, 1);
    t.now = t0 + 30 * SEC - 1;
    tnet_teach_b(&t);           /* keep B's ARP entry fresh: no probe mixed into the output */
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(t.sa->reass.used, 1);
    FN_CHECK_EQ(fn_stack_next_deadline(t.sa), t0 + 30 * SEC);
    FN_CHECK_EQ(tnet_read(&t, out, sizeof(out)), 0);
    t.now = t0 + 30 * SEC;
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(t.sa->reass.used, 0);
    FN_CHECK_EQ(tnet_stats(t.sa).drop_frag_timeout, 1);
    /* RFC 1122 §3.3.2: Time Exceeded code 1, quoting fragment 0 (header + data up to 576). */
    uint32_t len = tnet_read(&t, out, sizeof(out));
    FN_CHECK_EQ(len, 14 + 576);
    FN_CHECK_EQ(fn_ipv4_parse(out + 14, len - 14, 1, &ip), FN_WIRE_OK);
    FN_CHECK_EQ(fn_icmp_parse(out + 34, len - 34, 1, &ic), FN_WIRE_OK);
    FN_CHECK_EQ(ic.type, FN_ICMP_TIME_EXCEEDED);
    FN_CHECK_EQ(ic.code, 1);
    FN_CHECK(memcmp(ic.payload, f + 14, 576 - 28) == 0);
    /* Without fragment 0 the timeout is silent. */
    frag(&t, 106, 1480, 1480, 1);
    t.now += 30 * SEC;
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(tnet_stats(t.sa).drop_frag_timeout, 2);
    FN_CHECK_EQ(tnet_read(&t, out, sizeof(out)), 0);
    FN_CHECK_EQ(fn_stack_next_deadline(t.sa) > t.now, 1);
    FN_CHECK_EQ(tnet_close(&t), 0);
}

FN_TEST(frag_too_many_datagrams_and_fragments)
{
    struct tnet t;
    struct fn_config c;

    tnet_cfg(&c, IP_A);
    c.reass_max_datagrams = 2;
    FN_CHECK_EQ(open_raw(&t, &c), 0);
    frag(&t, 1, 0, 1480, 1);
    frag(&t, 2, 0, 1480, 1);
    frag(&t, 3, 0, 1480, 1);
    struct fn_stats s = tnet_stats(t.sa);
    FN_CHECK_EQ(s.drop_frag_too_many, 1);
    FN_CHECK_EQ(t.sa->reass.used, 2);
    /* Datagram 1 can still finish. */
    frag(&t, 1, 1480, 1480, 1);
    frag(&t, 1, 2960, MSGLEN - 2960, 0);
    FN_CHECK(reply_ok(&t));
    FN_CHECK_EQ(tnet_close(&t), 0);

    tnet_cfg(&c, IP_A);
    c.reass_max_frags = 2;
    FN_CHECK_EQ(open_raw(&t, &c), 0);
    send_whole(&t, 7);
    FN_CHECK_EQ(tnet_stats(t.sa).drop_frag_too_many, 1);
    FN_CHECK_EQ(t.sa->reass.used, 0);
    FN_CHECK_EQ(tnet_drain(&t), 0);
    FN_CHECK_EQ(tnet_close(&t), 0);

    /* Reassembly off entirely. */
    tnet_cfg(&c, IP_A);
    c.reass_max_datagrams = 0;
    FN_CHECK_EQ(open_raw(&t, &c), 0);
    send_whole(&t, 8);
    FN_CHECK_EQ(tnet_stats(t.sa).drop_frag_too_many, 3);
    FN_CHECK_EQ(tnet_close(&t), 0);
}

FN_TEST(frag_oversize_and_malformed)
{
    struct tnet t;
    struct fn_config c;
    uint8_t f[2048];

    tnet_cfg(&c, IP_A);
    c.reass_max_size = 2000;
    FN_CHECK_EQ(open_raw(&t, &c), 0);
    send_whole(&t, 9);      /* the second fragment reaches 2960 + 20 > 2000 */
    struct fn_stats s = tnet_stats(t.sa);
    FN_CHECK_EQ(s.drop_frag_too_big, 2);  /* the 2nd discards; the 3rd alone is too big too */
    FN_CHECK_EQ(t.sa->reass.used, 0);
    FN_CHECK_EQ(tnet_drain(&t), 0);
    FN_CHECK_EQ(tnet_close(&t), 0);

    tnet_cfg(&c, IP_A);
    FN_CHECK_EQ(open_raw(&t, &c), 0);
    /* A non-final fragment whose length is not a multiple of 8. */
    frag(&t, 10, 0, 1001, 1);
    /* Beyond 65535 bytes ("ping of death"). */
    tnet_inject(&t, f, build_ip(f, MAC_A, MAC_B, IP_B, IP_A, 1, 11, 65528, 0, msg, 16));
    /* Two different ends for one datagram. */
    frag(&t, 12, 2960, MSGLEN - 2960, 0);
    frag(&t, 12, 1480, 1000, 0);
    /* Data beyond a known end. */
    frag(&t, 13, 1480, 1480, 0);
    frag(&t, 13, 2960, 800, 1);
    s = tnet_stats(t.sa);
    FN_CHECK_EQ(s.drop_frag_malformed, 4);
    FN_CHECK_EQ(stats_drops(&s), 4);
    FN_CHECK_EQ(t.sa->reass.used, 0);
    FN_CHECK_EQ(tnet_drain(&t), 0);
    FN_CHECK_EQ(tnet_close(&t), 0);
}

FN_TEST(frag_reassembled_udp_port_unreachable_quotes_whole_header)
{
    struct tnet t;
    struct fn_config c;
    uint8_t body[3000], f[2048], out[2048], data[2500];
    struct fn_ipv4_info ip;
    struct fn_icmp_info ic;
    uint32_t blen, len;

    tnet_cfg(&c, IP_A);
    FN_CHECK_EQ(open_raw(&t, &c), 0);
    memset(data, 0x5a, sizeof(data));
    blen = build_udp(body, IP_B, IP_A, 1000, 2000, data, sizeof(data));
    tnet_inject(&t, f, build_ip(f, MAC_A, MAC_B, IP_B, IP_A, FN_IPPROTO_UDP, 55, 0, 1, body, 1480));
    tnet_inject(&t, f, build_ip(f, MAC_A, MAC_B, IP_B, IP_A, FN_IPPROTO_UDP, 55, 1480, 0,
                                body + 1480, blen - 1480));
    len = tnet_read(&t, out, sizeof(out));
    FN_CHECK_EQ(len, 14 + 576);
    FN_CHECK_EQ(fn_ipv4_parse(out + 14, len - 14, 1, &ip), FN_WIRE_OK);
    FN_CHECK_EQ(fn_icmp_parse(out + 34, len - 34, 1, &ic), FN_WIRE_OK);
    FN_CHECK_EQ(ic.type, FN_ICMP_UNREACH);
    FN_CHECK_EQ(ic.code, FN_ICMP_UNREACH_PORT);
    /* The quoted header describes the whole datagram, with a valid checksum. */
    FN_CHECK_EQ(fn_csum(ic.payload, 20), 0);
    FN_CHECK_EQ(rd16(ic.payload + 2), 20 + blen);
    FN_CHECK_EQ(rd16(ic.payload + 6), 0);
    FN_CHECK(memcmp(ic.payload + 20, body, 576 - 48) == 0);
    FN_CHECK_EQ(tnet_close(&t), 0);
}

FN_TEST(frag_output_df_and_pkt_path)
{
    struct tnet t;
    struct fn_config c;
    static uint8_t big[2000];
    uint8_t out[2048];
    struct fn_ip_out o = {.dst = IP_B, .proto = 253, .df = 1};
    struct fn_iov iov = {big, sizeof(big)};
    struct fn_ipv4_info ip;

    tnet_cfg(&c, IP_A);
    FN_CHECK_EQ(open_raw(&t, &c), 0);
    FN_CHECK_EQ(fn_ip_output_iov(t.sa, &o, &iov, 1, t.now), -EMSGSIZE);
    struct fn_pkt *pkt = fn_pkt_alloc(fn_stack_pool(t.sa));
    FN_CHECK(fn_pkt_put(pkt, 1600) != NULL);
    memset(pkt->data, 0x11, 1600);
    FN_CHECK_EQ(fn_ip_output(t.sa, pkt, &o, t.now), -EMSGSIZE);
    FN_CHECK_EQ(tnet_stats(t.sa).drop_ip_df_too_big, 2);
    /* Without DF the same packet leaves as two fragments (1480 + 120). */
    o.df = 0;
    pkt = fn_pkt_alloc(fn_stack_pool(t.sa));
    fn_pkt_put(pkt, 1600);
    memset(pkt->data, 0x11, 1600);
    FN_CHECK_EQ(fn_ip_output(t.sa, pkt, &o, t.now), 0);
    /* With DF and a fitting size: one packet with DF set, built in place. */
    o.df = 1;
    pkt = fn_pkt_alloc(fn_stack_pool(t.sa));
    fn_pkt_put(pkt, 100);
    memset(pkt->data, 0x22, 100);
    FN_CHECK_EQ(fn_ip_output(t.sa, pkt, &o, t.now), 0);
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(tnet_read(&t, out, sizeof(out)), 14 + 1500);
    FN_CHECK_EQ(fn_ipv4_parse(out + 14, 1500, 1, &ip), FN_WIRE_OK);
    FN_CHECK(ip.mf && ip.frag_off == 0 && ip.proto == 253);
    FN_CHECK_EQ(tnet_read(&t, out, sizeof(out)), 14 + 20 + 120);
    FN_CHECK_EQ(fn_ipv4_parse(out + 14, 140, 1, &ip), FN_WIRE_OK);
    FN_CHECK(!ip.mf && ip.frag_off == 1480);
    FN_CHECK_EQ(tnet_read(&t, out, sizeof(out)), 14 + 20 + 100);
    FN_CHECK_EQ(fn_ipv4_parse(out + 14, 120, 1, &ip), FN_WIRE_OK);
    FN_CHECK(ip.df && !ip.mf && ip.frag_off == 0 && out[34] == 0x22);
    FN_CHECK_EQ(tnet_stats(t.sa).frag_tx, 2);
    FN_CHECK_EQ(tnet_close(&t), 0);
}

FN_TEST(frag_small_mtu_config)
{
    struct tnet t;
    struct fn_config ca, cb;
    static uint8_t big[3000];
    uint16_t ids[4], seqs[4];

    tnet_cfg(&ca, IP_A);
    tnet_cfg(&cb, IP_B);
    ca.mtu = 576;
    FN_CHECK_EQ(tnet_open(&t, &ca, &cb, 256, 1500), 0);
    FN_CHECK_EQ(fn_stack_ping(t.sa, IP_B, 1, 1, big, sizeof(big), t.now), 0);
    tnet_run(&t);
    FN_CHECK_EQ(fn_stack_ping_replies(t.sa, ids, seqs, 4), 1);
    /* 3008 bytes in 552-byte pieces: 6 fragments. */
    FN_CHECK_EQ(tnet_stats(t.sa).frag_tx, 6);
    FN_CHECK_EQ(tnet_close(&t), 0);
}

FN_TEST_MAIN()
