/*
 * test_wire.c — unit tests of stack/wire/: the internet checksum and the checked header
 * views.
 *
 * The canonical frames below were written by hand and their checksums computed
 * independently (a plain 16-bit-word summation in Python, cross-checked with scapy); the
 * checksum itself is also checked against a naive byte-pair reference on random data, and
 * the RFC 1071 §3 worked example.  Every parse error path is driven, including truncation at
 * every prefix length.
 */
#include "fn_test.h"

#include "wire/fn_wire.h"

/* Ethernet / IPv4 (DF, ttl 64, id 0xbeef) / ICMP echo request id 0x1234 seq 7, 13-byte
 * payload 0x20..0x2c (odd length).  IP checksum 0xefbc, ICMP checksum 0xdadf. */
static const uint8_t icmp_echo_frame[55] = {
    0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
    0x08, 0x00, 0x45, 0x00, 0x00, 0x29, 0xbe, 0xef, 0x40, 0x00, 0x40, 0x01,
    0xef, 0xbc, 0xc6, 0x12, 0x00, 0x01, 0xc6, 0x12, 0x00, 0x02, 0x08, 0x00,
    0xda, 0xdf, 0x12, 0x34, 0x00, 0x07, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25,
    0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c,
};

/* Broadcast ARP request 02:00:00:00:00:01 / 198.18.0.1 asks for 198.18.0.2, padded to 60. */
static const uint8_t arp_req_frame[60] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
    0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x02, 0x00,
    0x00, 0x00, 0x00, 0x01, 0xc6, 0x12, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0xc6, 0x12, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

/* Ethernet / IPv4 (id 1) / UDP 40000 -> 53, payload "hello, fastnet!".  IP checksum 0xae99,
 * UDP checksum 0x1668. */
static const uint8_t udp_frame[57] = {
    0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
    0x08, 0x00, 0x45, 0x00, 0x00, 0x2b, 0x00, 0x01, 0x40, 0x00, 0x40, 0x11,
    0xae, 0x99, 0xc6, 0x12, 0x00, 0x01, 0xc6, 0x12, 0x00, 0x02, 0x9c, 0x40,
    0x00, 0x35, 0x00, 0x17, 0x16, 0x68, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x2c,
    0x20, 0x66, 0x61, 0x73, 0x74, 0x6e, 0x65, 0x74, 0x21,
};

/* Ethernet / IPv4 (id 0x4242) / TCP SYN 45678 -> 80, seq 0x01020304, win 64240, options
 * MSS 1460, SACK-permitted, TS 0xdeadbeef/0, NOP, WS 7.  IP checksum 0x6c52, TCP 0x6c85. */
static const uint8_t tcp_syn_frame[74] = {
    0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
    0x08, 0x00, 0x45, 0x00, 0x00, 0x3c, 0x42, 0x42, 0x40, 0x00, 0x40, 0x06,
    0x6c, 0x52, 0xc6, 0x12, 0x00, 0x01, 0xc6, 0x12, 0x00, 0x02, 0xb2, 0x6e,
    0x00, 0x50, 0x01, 0x02, 0x03, 0x04, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02,
    0xfa, 0xf0, 0x6c, 0x85, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04, 0x02,
    0x08, 0x0a, 0xde, 0xad, 0xbe, 0xef, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03,
    0x03, 0x07,
};

/* ---- helpers ---- */

static uint64_t rng_state;

static void rng_seed(uint64_t s)
{
    rng_state = s ? s : 1;
}

/* xorshift64*: a fixed seed makes every random test reproducible. */
static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

/* A network-order IPv4 address as fastnet keeps it. */
static uint32_t ip4(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
    uint8_t x[4] = {a, b, c, d};
    uint32_t v;

    memcpy(&v, x, 4);
    return v;
}

/* A memory-order 16-bit value (checksum as stored) read as it appears on the wire. */
static uint16_t wire16(uint16_t stored)
{
    uint8_t b[2];

    memcpy(b, &stored, 2);
    return (uint16_t)(b[0] << 8 | b[1]);
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* Naive RFC 1071 reference: big-endian 16-bit words, a 64-bit sum, a fold at the end.
 * Returns the checksum as a wire-order value. */
static uint16_t ref_csum(const uint8_t *p, size_t len, uint64_t seed_wire)
{
    uint64_t s = seed_wire;

    for (size_t i = 0; i + 1 < len; i += 2)
        s += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (len & 1)
        s += (uint32_t)p[len - 1] << 8;
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

#define ETH 14u

/* ---- checksum ---- */

FN_TEST(csum_rfc1071_example)
{
    /* RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2, so the checksum is 220d. */
    static const uint8_t d[8] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
    uint16_t c = fn_csum(d, sizeof d);
    uint8_t b[2];

    memcpy(b, &c, 2);
    FN_CHECK_EQ(b[0], 0x22);
    FN_CHECK_EQ(b[1], 0x0d);
    FN_CHECK_EQ(wire16(fn_csum_fold(fn_csum_partial(d, 8, 0))), 0x220d);
}

FN_TEST(csum_known_ipv4_header)
{
    /* A widely published IPv4 header whose checksum field holds b861. */
    uint8_t h[20] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                     0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};

    FN_CHECK_EQ(fn_csum(h, 20), 0);     /* verifies */
    h[10] = h[11] = 0;
    FN_CHECK_EQ(wire16(fn_csum(h, 20)), 0xb861);
}

FN_TEST(csum_canonical_frames_verify)
{
    FN_CHECK_EQ(fn_csum(icmp_echo_frame + ETH, 20), 0);
    FN_CHECK_EQ(fn_csum(icmp_echo_frame + ETH + 20, sizeof icmp_echo_frame - ETH - 20), 0);
    FN_CHECK_EQ(fn_csum(udp_frame + ETH, 20), 0);
    FN_CHECK_EQ(fn_csum(tcp_syn_frame + ETH, 20), 0);
}

FN_TEST(csum_odd_lengths)
{
    static const uint8_t one[1] = {0x01};
    static const uint8_t three[3] = {0x12, 0x34, 0x56};

    /* The odd final byte is the high byte of a zero-padded word (RFC 1071 §4.1). */
    FN_CHECK_EQ(wire16(fn_csum(one, 1)), 0xfeff);
    FN_CHECK_EQ(wire16(fn_csum(three, 3)), (uint16_t)~(0x1234 + 0x5600));
    FN_CHECK_EQ(wire16(fn_csum(one, 0)), 0xffff);   /* nothing summed */
}

FN_TEST(csum_matches_reference_any_alignment)
{
    static uint8_t buf[70000 + 8];

    rng_seed(0x1071);
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)rng();
    for (int iter = 0; iter < 4000; iter++) {
        size_t off = (size_t)(rng() % 8);
        size_t len = iter < 200 ? (size_t)iter : (size_t)(rng() % 2000);
        uint16_t seed = (uint16_t)rng();
        uint16_t seed_mem;
        uint8_t sb[2] = {(uint8_t)(seed >> 8), (uint8_t)seed};

        memcpy(&seed_mem, sb, 2);
        FN_CHECK_EQ(wire16(fn_csum(buf + off, len)), ref_csum(buf + off, len, 0));
        FN_CHECK_EQ(wire16(fn_csum_fold(fn_csum_partial(buf + off, len, seed_mem))),
                    ref_csum(buf + off, len, seed));
    }
    /* Longer than any packet, to exercise carries out of the 64-bit accumulator. */
    memset(buf, 0xff, sizeof buf);
    FN_CHECK_EQ(wire16(fn_csum(buf + 1, 70000)), ref_csum(buf + 1, 70000, 0));
    FN_CHECK_EQ(wire16(fn_csum(buf + 3, 65535)), ref_csum(buf + 3, 65535, 0));
    FN_CHECK_EQ(fn_csum_partial(buf, 64, 0xffffffffu) != 0, 1);
}

FN_TEST(csum_partial_chains)
{
    uint8_t buf[1501];

    rng_seed(7);
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)rng();
    /* Summing in even-length pieces equals summing the whole (only the last may be odd). */
    for (size_t cut = 0; cut <= sizeof buf; cut += 2) {
        uint32_t s = fn_csum_partial(buf, cut, 0);

        s = fn_csum_partial(buf + cut, sizeof buf - cut, s);
        FN_CHECK_EQ(fn_csum_fold(s), fn_csum(buf, sizeof buf));
    }
}

FN_TEST(csum_all_zero_and_all_ones)
{
    uint8_t z[40] = {0};
    uint8_t f[40];

    memset(f, 0xff, sizeof f);
    FN_CHECK_EQ(wire16(fn_csum(z, sizeof z)), 0xffff);
    /* A non-zero sum never folds to zero: all-ones data sums to ffff, checksum 0. */
    FN_CHECK_EQ(wire16(fn_csum(f, sizeof f)), 0x0000);
}

FN_TEST(csum_pseudo_header)
{
    const uint8_t *ip = udp_frame + ETH;
    const uint8_t *udp = ip + 20;
    size_t ulen = sizeof udp_frame - ETH - 20;
    uint32_t src, dst;
    uint8_t ph[12 + 64];

    memcpy(&src, ip + 12, 4);
    memcpy(&dst, ip + 16, 4);
    /* RFC 768: the stored checksum verifies over pseudo-header + datagram. */
    FN_CHECK_EQ(fn_csum_fold(fn_csum_partial(udp, ulen, fn_csum_pseudo(src, dst, 17,
                                                                         (uint16_t)ulen))),
                0);
    /* And the seed equals summing an explicit pseudo-header. */
    memcpy(ph, ip + 12, 8);
    ph[8] = 0;
    ph[9] = 17;
    put16(ph + 10, (uint16_t)ulen);
    memcpy(ph + 12, udp, ulen);
    ph[12 + 6] = ph[12 + 7] = 0;
    FN_CHECK_EQ(wire16(fn_csum(ph, 12 + ulen)), 0x1668);
    FN_CHECK_EQ(wire16(fn_csum_fold(fn_csum_partial(ph + 12, ulen,
                                                    fn_csum_pseudo(src, dst, 17,
                                                                   (uint16_t)ulen)))),
                0x1668);

    /* TCP too, over the canonical SYN. */
    const uint8_t *tip = tcp_syn_frame + ETH;
    size_t tlen = sizeof tcp_syn_frame - ETH - 20;

    memcpy(&src, tip + 12, 4);
    memcpy(&dst, tip + 16, 4);
    FN_CHECK_EQ(fn_csum_fold(fn_csum_partial(tip + 20, tlen,
                                             fn_csum_pseudo(src, dst, 6, (uint16_t)tlen))),
                0);
    /* Extreme operands stay inside the 32-bit accumulator. */
    FN_CHECK_EQ(wire16(fn_csum_fold(fn_csum_pseudo(0xffffffffu, 0xffffffffu, 255, 65535))),
                ref_csum((const uint8_t *)"\xff\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff",
                         12, 0));
}

FN_TEST(csum_incremental16_random)
{
    uint8_t h[20];

    rng_seed(1624);
    for (int iter = 0; iter < 20000; iter++) {
        for (int i = 0; i < 20; i++)
            h[i] = (uint8_t)rng();
        h[10] = h[11] = 0;
        uint16_t c = fn_csum(h, 20);

        memcpy(h + 10, &c, 2);
        /* Change one aligned 16-bit field (not the checksum) several times in a row. */
        for (int k = 0; k < 4; k++) {
            unsigned w = (unsigned)(rng() % 9);
            unsigned off = (w >= 5 ? w + 1 : w) * 2;
            uint16_t oldf, newf = (uint16_t)rng();

            if (iter % 7 == 0)
                newf = 0;       /* zero words are the corner cases of RFC 1624 §3 */
            memcpy(&oldf, h + off, 2);
            memcpy(h + off, &newf, 2);
            c = fn_csum_update16(c, oldf, newf);
            memcpy(h + 10, &c, 2);
            uint8_t z[20];

            memcpy(z, h, 20);
            z[10] = z[11] = 0;
            FN_CHECK_EQ(c, fn_csum(z, 20));
            FN_CHECK_EQ(fn_csum(h, 20), 0);
        }
    }
}

FN_TEST(csum_incremental32_random)
{
    uint8_t h[20];

    rng_seed(0xabcdef);
    for (int iter = 0; iter < 20000; iter++) {
        for (int i = 0; i < 20; i++)
            h[i] = (uint8_t)rng();
        h[10] = h[11] = 0;
        uint16_t c = fn_csum(h, 20);
        unsigned off = (rng() & 1) ? 12 : 16;
        uint32_t oldf, newf = (uint32_t)rng();

        memcpy(&oldf, h + off, 4);
        memcpy(h + off, &newf, 4);
        c = fn_csum_update32(c, oldf, newf);
        FN_CHECK_EQ(c, fn_csum(h, 20));
    }
}

FN_TEST(csum_incremental_nat_rewrite)
{
    /* Rewriting the source address of the canonical SYN: both the IP header checksum and
     * the TCP checksum (through its pseudo-header) follow with update32. */
    uint8_t f[sizeof tcp_syn_frame];
    uint8_t *ip = f + ETH, *tcp = ip + 20;
    size_t tlen = sizeof f - ETH - 20;
    uint32_t oldsrc, newsrc = ip4(198, 19, 255, 254), dst;
    uint16_t ipc, tc;

    memcpy(f, tcp_syn_frame, sizeof f);
    memcpy(&oldsrc, ip + 12, 4);
    memcpy(&dst, ip + 16, 4);
    memcpy(&ipc, ip + 10, 2);
    memcpy(&tc, tcp + 16, 2);
    memcpy(ip + 12, &newsrc, 4);
    ipc = fn_csum_update32(ipc, oldsrc, newsrc);
    tc = fn_csum_update32(tc, oldsrc, newsrc);
    memcpy(ip + 10, &ipc, 2);
    memcpy(tcp + 16, &tc, 2);
    FN_CHECK_EQ(fn_csum(ip, 20), 0);
    FN_CHECK_EQ(fn_csum_fold(fn_csum_partial(tcp, tlen,
                                             fn_csum_pseudo(newsrc, dst, 6, (uint16_t)tlen))),
                0);
}

/* ---- Ethernet ---- */

FN_TEST(eth_parse_canonical)
{
    struct fn_eth_info e;

    FN_CHECK_EQ(fn_eth_parse(icmp_echo_frame, sizeof icmp_echo_frame, &e), FN_WIRE_OK);
    FN_CHECK(e.dst == icmp_echo_frame);
    FN_CHECK(e.src == icmp_echo_frame + 6);
    FN_CHECK_EQ(e.type, FN_ETHERTYPE_IPV4);
    FN_CHECK_EQ(e.hlen, 14);
    FN_CHECK_EQ(fn_eth_parse(arp_req_frame, sizeof arp_req_frame, &e), FN_WIRE_OK);
    FN_CHECK_EQ(e.type, FN_ETHERTYPE_ARP);
    FN_CHECK(fn_eth_is_broadcast(e.dst));
    FN_CHECK(fn_eth_is_multicast(e.dst));
    FN_CHECK(!fn_eth_is_broadcast(e.src));
    FN_CHECK(!fn_eth_is_multicast(e.src));
}

FN_TEST(eth_truncated_every_prefix)
{
    struct fn_eth_info e;

    for (size_t n = 0; n < 14; n++)
        FN_CHECK_EQ(fn_eth_parse(udp_frame, n, &e), FN_WIRE_TRUNCATED);
    FN_CHECK_EQ(fn_eth_parse(udp_frame, 14, &e), FN_WIRE_OK);
}

FN_TEST(eth_vlan_reported_not_stripped)
{
    uint8_t f[18] = {0};

    f[12] = 0x81;
    f[14] = 0x00;
    f[16] = 0x08;
    struct fn_eth_info e;

    FN_CHECK_EQ(fn_eth_parse(f, sizeof f, &e), FN_WIRE_OK);
    FN_CHECK_EQ(e.type, FN_ETHERTYPE_VLAN);
    FN_CHECK_EQ(e.hlen, 14);
}

FN_TEST(eth_group_bits)
{
    static const uint8_t mc[6] = {0x01, 0x00, 0x5e, 0x00, 0x00, 0x01};
    static const uint8_t almost[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xfe};

    FN_CHECK(fn_eth_is_multicast(mc));
    FN_CHECK(!fn_eth_is_broadcast(mc));
    FN_CHECK(!fn_eth_is_broadcast(almost));
    FN_CHECK(fn_eth_is_multicast(almost));
}

FN_TEST(eth_emit_and_in_place_swap)
{
    uint8_t f[14];

    fn_eth_emit(f, icmp_echo_frame, icmp_echo_frame + 6, FN_ETHERTYPE_IPV4);
    FN_CHECK(memcmp(f, icmp_echo_frame, 14) == 0);
    /* A reply built in place: the addresses swap. */
    fn_eth_emit(f, f + 6, f, 0x86dd);
    FN_CHECK(memcmp(f, icmp_echo_frame + 6, 6) == 0);
    FN_CHECK(memcmp(f + 6, icmp_echo_frame, 6) == 0);
    FN_CHECK_EQ(get16(f + 12), 0x86dd);
}

/* ---- ARP ---- */

FN_TEST(arp_parse_canonical)
{
    struct fn_arp_info a;
    const uint8_t *p = arp_req_frame + ETH;

    FN_CHECK_EQ(fn_arp_parse(p, sizeof arp_req_frame - ETH, &a), FN_WIRE_OK);
    FN_CHECK_EQ(a.op, FN_ARP_OP_REQUEST);
    FN_CHECK(a.sha == p + 8);
    FN_CHECK(a.tha == p + 18);
    FN_CHECK_EQ(a.spa, ip4(198, 18, 0, 1));
    FN_CHECK_EQ(a.tpa, ip4(198, 18, 0, 2));
    FN_CHECK(memcmp(a.sha, arp_req_frame + 6, 6) == 0);
}

FN_TEST(arp_truncated_every_prefix)
{
    struct fn_arp_info a;

    for (size_t n = 0; n < FN_ARP_LEN; n++)
        FN_CHECK_EQ(fn_arp_parse(arp_req_frame + ETH, n, &a), FN_WIRE_TRUNCATED);
    FN_CHECK_EQ(fn_arp_parse(arp_req_frame + ETH, FN_ARP_LEN, &a), FN_WIRE_OK);
}

FN_TEST(arp_bad_fields)
{
    /* offset, replacement byte: each breaks one of htype, ptype, hlen, plen, op. */
    static const struct {
        unsigned off;
        uint8_t val;
    } bad[] = {
        {0, 0x01}, {1, 0x06}, {1, 0x00}, {2, 0x86}, {3, 0x06}, {3, 0xdd},
        {4, 0x08}, {4, 0x00}, {5, 0x06}, {5, 0x10}, {6, 0x01}, {7, 0x00},
        {7, 0x03}, {7, 0x04}, {7, 0xff},
    };
    uint8_t p[FN_ARP_LEN];
    struct fn_arp_info a;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memcpy(p, arp_req_frame + ETH, sizeof p);
        p[bad[i].off] = bad[i].val;
        FN_CHECK_EQ(fn_arp_parse(p, sizeof p, &a), FN_WIRE_BAD_FORMAT);
    }
    memcpy(p, arp_req_frame + ETH, sizeof p);
    p[7] = FN_ARP_OP_REPLY;
    FN_CHECK_EQ(fn_arp_parse(p, sizeof p, &a), FN_WIRE_OK);
    FN_CHECK_EQ(a.op, FN_ARP_OP_REPLY);
}

FN_TEST(arp_emit_and_in_place_reply)
{
    static const uint8_t zero[6] = {0};
    static const uint8_t mine[6] = {0x02, 0, 0, 0, 0, 0x02};
    uint8_t p[FN_ARP_LEN];
    struct fn_arp_info a;

    fn_arp_emit(p, FN_ARP_OP_REQUEST, arp_req_frame + 6, ip4(198, 18, 0, 1), zero,
                ip4(198, 18, 0, 2));
    FN_CHECK(memcmp(p, arp_req_frame + ETH, FN_ARP_LEN) == 0);
    /* Answer in place: tha <- the request's sha, sha <- our MAC (RFC 826 "swap"). */
    FN_CHECK_EQ(fn_arp_parse(p, sizeof p, &a), FN_WIRE_OK);
    fn_arp_emit(p, FN_ARP_OP_REPLY, mine, a.tpa, a.sha, a.spa);
    FN_CHECK_EQ(fn_arp_parse(p, sizeof p, &a), FN_WIRE_OK);
    FN_CHECK_EQ(a.op, FN_ARP_OP_REPLY);
    FN_CHECK(memcmp(a.sha, mine, 6) == 0);
    FN_CHECK(memcmp(a.tha, arp_req_frame + 6, 6) == 0);
    FN_CHECK_EQ(a.spa, ip4(198, 18, 0, 2));
    FN_CHECK_EQ(a.tpa, ip4(198, 18, 0, 1));
}

/* ---- IPv4 ---- */

FN_TEST(ipv4_parse_canonical)
{
    struct fn_ipv4_info ip;
    const uint8_t *p = icmp_echo_frame + ETH;
    size_t n = sizeof icmp_echo_frame - ETH;

    FN_CHECK_EQ(fn_ipv4_parse(p, n, 1, &ip), FN_WIRE_OK);
    FN_CHECK_EQ(ip.hlen, 20);
    FN_CHECK_EQ(ip.tos, 0);
    FN_CHECK_EQ(ip.total_len, 41);
    FN_CHECK_EQ(ip.id, 0xbeef);
    FN_CHECK_EQ(ip.frag_off, 0);
    FN_CHECK_EQ(ip.df, 1);
    FN_CHECK_EQ(ip.mf, 0);
    FN_CHECK_EQ(ip.ttl, 64);
    FN_CHECK_EQ(ip.proto, FN_IPPROTO_ICMP);
    FN_CHECK_EQ(ip.src, ip4(198, 18, 0, 1));
    FN_CHECK_EQ(ip.dst, ip4(198, 18, 0, 2));
}

FN_TEST(ipv4_options_and_fragment_fields)
{
    /* IHL 6 (NOP NOP NOP EOL), tos 0x10, total 32, id 0x1111, MF, offset 100 units, ttl 5,
     * UDP, 198.18.1.1 -> 198.18.1.2; checksum f31f; 8 payload bytes; 6 bytes of padding. */
    uint8_t p[38] = {0x46, 0x10, 0x00, 0x20, 0x11, 0x11, 0x20, 0x64, 0x05, 0x11,
                     0xf3, 0x1f, 0xc6, 0x12, 0x01, 0x01, 0xc6, 0x12, 0x01, 0x02,
                     0x01, 0x01, 0x01, 0x00};
    struct fn_ipv4_info ip;

    FN_CHECK_EQ(fn_ipv4_parse(p, sizeof p, 1, &ip), FN_WIRE_OK);
    FN_CHECK_EQ(ip.hlen, 24);
    FN_CHECK_EQ(ip.tos, 0x10);
    FN_CHECK_EQ(ip.total_len, 32);
    FN_CHECK_EQ(ip.id, 0x1111);
    FN_CHECK_EQ(ip.frag_off, 800);
    FN_CHECK_EQ(ip.df, 0);
    FN_CHECK_EQ(ip.mf, 1);
    FN_CHECK_EQ(ip.ttl, 5);
    FN_CHECK_EQ(ip.proto, FN_IPPROTO_UDP);
    FN_CHECK_EQ(ip.src, ip4(198, 18, 1, 1));
    FN_CHECK_EQ(ip.dst, ip4(198, 18, 1, 2));
    /* The largest offset: 0x1fff units = 65528 bytes. */
    p[6] = 0x1f;
    p[7] = 0xff;
    FN_CHECK_EQ(fn_ipv4_parse(p, sizeof p, 0, &ip), FN_WIRE_OK);
    FN_CHECK_EQ(ip.frag_off, 65528);
    FN_CHECK_EQ(ip.mf, 0);
    FN_CHECK_EQ(fn_ipv4_parse(p, sizeof p, 1, &ip), FN_WIRE_BAD_CSUM);
}

FN_TEST(ipv4_truncated_every_prefix)
{
    /* Prefixes shorter than 20 bytes are TRUNCATED; with the header there but fewer bytes
     * than total length, BAD_LEN.  With options, a prefix cutting the options is BAD_HLEN. */
    const uint8_t *p = icmp_echo_frame + ETH;
    size_t n = sizeof icmp_echo_frame - ETH;
    struct fn_ipv4_info ip;

    for (size_t k = 0; k <= n; k++) {
        enum fn_wire_err want = k < 20 ? FN_WIRE_TRUNCATED : k < n ? FN_WIRE_BAD_LEN
                                                                  : FN_WIRE_OK;

        FN_CHECK_EQ(fn_ipv4_parse(p, k, 1, &ip), want);
        FN_CHECK_EQ(fn_ipv4_parse(p, k, 0, &ip), want);
    }

    uint8_t o[32] = {0x46, 0x10, 0x00, 0x20, 0x11, 0x11, 0x20, 0x64, 0x05, 0x11,
                     0xf3, 0x1f, 0xc6, 0x12, 0x01, 0x01, 0xc6, 0x12, 0x01, 0x02,
                     0x01, 0x01, 0x01, 0x00};

    for (size_t k = 0; k <= sizeof o; k++) {
        enum fn_wire_err want = k < 20   ? FN_WIRE_TRUNCATED
                                : k < 24 ? FN_WIRE_BAD_HLEN
                                : k < 32 ? FN_WIRE_BAD_LEN
                                         : FN_WIRE_OK;

        FN_CHECK_EQ(fn_ipv4_parse(o, k, 1, &ip), want);
    }
}

FN_TEST(ipv4_bad_version)
{
    uint8_t p[60];
    struct fn_ipv4_info ip;

    memcpy(p, icmp_echo_frame + ETH, 41);
    for (unsigned v = 0; v < 16; v++) {
        p[0] = (uint8_t)(v << 4 | 5);
        FN_CHECK_EQ(fn_ipv4_parse(p, 41, 0, &ip), v == 4 ? FN_WIRE_OK : FN_WIRE_BAD_VERSION);
    }
}

FN_TEST(ipv4_bad_ihl)
{
    uint8_t p[60] = {0};
    struct fn_ipv4_info ip;

    memcpy(p, icmp_echo_frame + ETH, 41);
    for (unsigned ihl = 0; ihl < 5; ihl++) {
        p[0] = (uint8_t)(0x40 | ihl);
        FN_CHECK_EQ(fn_ipv4_parse(p, 41, 0, &ip), FN_WIRE_BAD_HLEN);
    }
    /* IHL 15 = 60 bytes, beyond the 41 available; still bad when total length says 60. */
    p[0] = 0x4f;
    FN_CHECK_EQ(fn_ipv4_parse(p, 41, 0, &ip), FN_WIRE_BAD_HLEN);
    put16(p + 2, 60);
    FN_CHECK_EQ(fn_ipv4_parse(p, 59, 0, &ip), FN_WIRE_BAD_HLEN);
    FN_CHECK_EQ(fn_ipv4_parse(p, 60, 0, &ip), FN_WIRE_OK);
    FN_CHECK_EQ(ip.hlen, 60);
}

FN_TEST(ipv4_bad_total_length)
{
    uint8_t p[64];
    struct fn_ipv4_info ip;

    memcpy(p, icmp_echo_frame + ETH, 41);
    memset(p + 41, 0, sizeof p - 41);
    /* Total length below the header length (checked before the checksum). */
    for (uint16_t tl = 0; tl < 20; tl++) {
        put16(p + 2, tl);
        FN_CHECK_EQ(fn_ipv4_parse(p, 41, 1, &ip), FN_WIRE_BAD_LEN);
    }
    /* Beyond the bytes available. */
    put16(p + 2, 42);
    FN_CHECK_EQ(fn_ipv4_parse(p, 41, 0, &ip), FN_WIRE_BAD_LEN);
    put16(p + 2, 0xffff);
    FN_CHECK_EQ(fn_ipv4_parse(p, 41, 0, &ip), FN_WIRE_BAD_LEN);
    /* Equal to the header alone, and link padding after total length: both fine. */
    put16(p + 2, 20);
    FN_CHECK_EQ(fn_ipv4_parse(p, 41, 0, &ip), FN_WIRE_OK);
    FN_CHECK_EQ(ip.total_len, 20);
    memcpy(p, icmp_echo_frame + ETH, 41);
    FN_CHECK_EQ(fn_ipv4_parse(p, sizeof p, 1, &ip), FN_WIRE_OK);
    FN_CHECK_EQ(ip.total_len, 41);
}

FN_TEST(ipv4_bad_checksum)
{
    uint8_t p[41];
    struct fn_ipv4_info ip;

    /* Flip every bit of the header in turn: each is caught when verifying (a single-bit
     * error always changes the one's-complement sum).  Bits that break structure report
     * the structural error first. */
    for (unsigned bit = 0; bit < 160; bit++) {
        memcpy(p, icmp_echo_frame + ETH, sizeof p);
        p[bit / 8] ^= (uint8_t)(0x80 >> (bit % 8));
        enum fn_wire_err e = fn_ipv4_parse(p, sizeof p, 1, &ip);

        FN_CHECK(e != FN_WIRE_OK);
        if (bit >= 32)          /* past version/IHL/total length */
            FN_CHECK_EQ(e, FN_WIRE_BAD_CSUM);
    }
    memcpy(p, icmp_echo_frame + ETH, sizeof p);
    p[11] ^= 1;
    FN_CHECK_EQ(fn_ipv4_parse(p, sizeof p, 1, &ip), FN_WIRE_BAD_CSUM);
    FN_CHECK_EQ(fn_ipv4_parse(p, sizeof p, 0, &ip), FN_WIRE_OK);
    FN_CHECK_EQ(ip.id, 0xbeef);
}

FN_TEST(ipv4_emit_canonical)
{
    struct fn_ipv4_info in = {
        .hlen = 99,     /* ignored */
        .tos = 0,
        .total_len = 41,
        .id = 0xbeef,
        .frag_off = 0,
        .df = 1,
        .mf = 0,
        .ttl = 64,
        .proto = FN_IPPROTO_ICMP,
        .src = ip4(198, 18, 0, 1),
        .dst = ip4(198, 18, 0, 2),
    };
    uint8_t p[20];
    struct fn_ipv4_info out;

    memset(p, 0xa5, sizeof p);
    fn_ipv4_emit(p, &in);
    FN_CHECK(memcmp(p, icmp_echo_frame + ETH, 20) == 0);

    in.df = 0;
    in.mf = 1;
    in.frag_off = 1480;
    in.tos = 0xb8;
    fn_ipv4_emit(p, &in);
    FN_CHECK_EQ(fn_csum(p, 20), 0);
    FN_CHECK_EQ(get16(p + 6), FN_IP_MF | 185);
    FN_CHECK_EQ(fn_ipv4_parse(p, 20, 1, &out), FN_WIRE_BAD_LEN);   /* 41 > 20 */
    uint8_t q[41] = {0};

    memcpy(q, p, 20);
    FN_CHECK_EQ(fn_ipv4_parse(q, sizeof q, 1, &out), FN_WIRE_OK);
    FN_CHECK_EQ(out.frag_off, 1480);
    FN_CHECK_EQ(out.mf, 1);
    FN_CHECK_EQ(out.df, 0);
    FN_CHECK_EQ(out.tos, 0xb8);
}

/* ---- ICMP ---- */

FN_TEST(icmp_parse_canonical)
{
    const uint8_t *p = icmp_echo_frame + ETH + 20;
    size_t n = sizeof icmp_echo_frame - ETH - 20;
    struct fn_icmp_info ic;

    FN_CHECK_EQ(n, 21);         /* odd: the checksum pads the last byte */
    FN_CHECK_EQ(fn_icmp_parse(p, n, 1, &ic), FN_WIRE_OK);
    FN_CHECK_EQ(ic.type, FN_ICMP_ECHO);
    FN_CHECK_EQ(ic.code, 0);
    FN_CHECK_EQ(ic.id, 0x1234);
    FN_CHECK_EQ(ic.seq, 7);
    FN_CHECK_EQ(ic.next_mtu, 0);
    FN_CHECK(ic.payload == p + 8);
    FN_CHECK_EQ(ic.payload_len, 13);
}

FN_TEST(icmp_truncated_and_bad_checksum)
{
    const uint8_t *p = icmp_echo_frame + ETH + 20;
    size_t n = sizeof icmp_echo_frame - ETH - 20;
    uint8_t q[21];
    struct fn_icmp_info ic;

    for (size_t k = 0; k < 8; k++) {
        FN_CHECK_EQ(fn_icmp_parse(p, k, 1, &ic), FN_WIRE_TRUNCATED);
        FN_CHECK_EQ(fn_icmp_parse(p, k, 0, &ic), FN_WIRE_TRUNCATED);
    }
    /* A shortened message no longer verifies (the checksum covers all of it) unless the
     * cut bytes summed to zero. */
    for (size_t k = 8; k < n; k++) {
        FN_CHECK_EQ(fn_icmp_parse(p, k, 1, &ic), FN_WIRE_BAD_CSUM);
        FN_CHECK_EQ(fn_icmp_parse(p, k, 0, &ic), FN_WIRE_OK);
        FN_CHECK_EQ(ic.payload_len, k - 8);
    }
    for (unsigned bit = 0; bit < 8 * n; bit++) {
        memcpy(q, p, n);
        q[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        FN_CHECK_EQ(fn_icmp_parse(q, n, 1, &ic), FN_WIRE_BAD_CSUM);
    }
}

FN_TEST(icmp_emit_echo_and_unreach)
{
    uint8_t m[21];
    struct fn_icmp_info ic;

    memset(m, 0, 8);
    memcpy(m + 8, icmp_echo_frame + ETH + 28, 13);
    fn_icmp_emit(m, FN_ICMP_ECHO, 0, 0x1234u << 16 | 7, 13);
    FN_CHECK(memcmp(m, icmp_echo_frame + ETH + 20, 21) == 0);
    FN_CHECK_EQ(wire16(fn_csum(m, 21)), 0);

    /* Fragmentation needed, next-hop MTU 1400 (RFC 1191 §4), quoting an IP header + 8. */
    uint8_t u[8 + 28];

    memcpy(u + 8, udp_frame + ETH, 28);
    fn_icmp_emit(u, FN_ICMP_UNREACH, FN_ICMP_UNREACH_NEEDFRAG, 1400, 28);
    FN_CHECK_EQ(fn_icmp_parse(u, sizeof u, 1, &ic), FN_WIRE_OK);
    FN_CHECK_EQ(ic.type, 3);
    FN_CHECK_EQ(ic.code, 4);
    FN_CHECK_EQ(ic.next_mtu, 1400);
    FN_CHECK_EQ(ic.payload_len, 28);
    FN_CHECK(memcmp(ic.payload, udp_frame + ETH, 28) == 0);
    /* Port unreachable: the same field is unused, next_mtu 0. */
    fn_icmp_emit(u, FN_ICMP_UNREACH, FN_ICMP_UNREACH_PORT, 0, 28);
    FN_CHECK_EQ(fn_icmp_parse(u, sizeof u, 1, &ic), FN_WIRE_OK);
    FN_CHECK_EQ(ic.next_mtu, 0);
    FN_CHECK_EQ(get16(u + 4), 0);
}

/* ---- UDP ---- */

FN_TEST(udp_parse_canonical)
{
    const uint8_t *p = udp_frame + ETH + 20;
    size_t n = sizeof udp_frame - ETH - 20;
    struct fn_udp_info u;

    FN_CHECK_EQ(fn_udp_parse(p, n, &u), FN_WIRE_OK);
    FN_CHECK_EQ(u.sport, 40000);
    FN_CHECK_EQ(u.dport, 53);
    FN_CHECK_EQ(u.len, 23);
    FN_CHECK_EQ(wire16(u.csum), 0x1668);
    FN_CHECK(u.payload == p + 8);
    FN_CHECK_EQ(u.payload_len, 15);
    FN_CHECK(memcmp(u.payload, "hello, fastnet!", 15) == 0);
}

FN_TEST(udp_errors)
{
    const uint8_t *p = udp_frame + ETH + 20;
    size_t n = sizeof udp_frame - ETH - 20;
    uint8_t q[40];
    struct fn_udp_info u;

    for (size_t k = 0; k <= n; k++)
        FN_CHECK_EQ(fn_udp_parse(p, k, &u),
                    k < 8 ? FN_WIRE_TRUNCATED : k < n ? FN_WIRE_BAD_LEN : FN_WIRE_OK);
    memset(q, 0, sizeof q);
    memcpy(q, p, n);
    for (uint16_t l = 0; l < 8; l++) {
        put16(q + 4, l);
        FN_CHECK_EQ(fn_udp_parse(q, n, &u), FN_WIRE_BAD_LEN);
    }
    /* Exactly a header; bytes after the UDP length are not payload. */
    put16(q + 4, 8);
    FN_CHECK_EQ(fn_udp_parse(q, sizeof q, &u), FN_WIRE_OK);
    FN_CHECK_EQ(u.payload_len, 0);
    put16(q + 4, 23);
    FN_CHECK_EQ(fn_udp_parse(q, sizeof q, &u), FN_WIRE_OK);
    FN_CHECK_EQ(u.payload_len, 15);
    put16(q + 4, 0xffff);
    FN_CHECK_EQ(fn_udp_parse(q, sizeof q, &u), FN_WIRE_BAD_LEN);
}

/* ---- TCP ---- */

FN_TEST(tcp_parse_canonical)
{
    const uint8_t *p = tcp_syn_frame + ETH + 20;
    size_t n = sizeof tcp_syn_frame - ETH - 20;
    struct fn_tcp_info t;
    struct fn_tcp_opts o;

    FN_CHECK_EQ(fn_tcp_parse(p, n, &t), FN_WIRE_OK);
    FN_CHECK_EQ(t.sport, 45678);
    FN_CHECK_EQ(t.dport, 80);
    FN_CHECK_EQ(t.seq, 0x01020304);
    FN_CHECK_EQ(t.ack, 0);
    FN_CHECK_EQ(t.hlen, 40);
    FN_CHECK_EQ(t.flags, FN_TH_SYN);
    FN_CHECK_EQ(t.win, 64240);
    FN_CHECK_EQ(wire16(t.csum), 0x6c85);
    FN_CHECK_EQ(t.urp, 0);
    FN_CHECK(t.opts == p + 20);
    FN_CHECK_EQ(t.opts_len, 20);
    FN_CHECK(t.payload == p + 40);
    FN_CHECK_EQ(t.payload_len, 0);

    FN_CHECK_EQ(fn_tcp_opts_parse(t.opts, t.opts_len, &o), FN_WIRE_OK);
    FN_CHECK_EQ(o.has_mss, 1);
    FN_CHECK_EQ(o.mss, 1460);
    FN_CHECK_EQ(o.sack_permitted, 1);
    FN_CHECK_EQ(o.has_ts, 1);
    FN_CHECK_EQ(o.tsval, 0xdeadbeef);
    FN_CHECK_EQ(o.tsecr, 0);
    FN_CHECK_EQ(o.has_wscale, 1);
    FN_CHECK_EQ(o.wscale, 7);
    FN_CHECK_EQ(o.nsack, 0);
}

FN_TEST(tcp_flags_and_payload)
{
    uint8_t s[20 + 5] = {0x00, 0x50, 0xb2, 0x6e, 0xff, 0xff, 0xff, 0xff, 0x80, 0x00,
                         0x00, 0x01, 0x50, 0xff, 0x00, 0x00, 0x12, 0x34, 0xab, 0xcd,
                         'a', 'b', 'c', 'd', 'e'};
    struct fn_tcp_info t;

    FN_CHECK_EQ(fn_tcp_parse(s, sizeof s, &t), FN_WIRE_OK);
    FN_CHECK_EQ(t.seq, 0xffffffffu);
    FN_CHECK_EQ(t.ack, 0x80000001u);
    FN_CHECK_EQ(t.flags, 0xff);
    FN_CHECK_EQ(t.win, 0);
    FN_CHECK_EQ(wire16(t.csum), 0x1234);
    FN_CHECK_EQ(t.urp, 0xabcd);
    FN_CHECK_EQ(t.opts_len, 0);
    FN_CHECK_EQ(t.payload_len, 5);
    FN_CHECK(t.payload == s + 20);
    /* Reserved bits in byte 12 do not leak into the data offset or flags. */
    s[12] = 0x5f;
    FN_CHECK_EQ(fn_tcp_parse(s, sizeof s, &t), FN_WIRE_OK);
    FN_CHECK_EQ(t.hlen, 20);
    FN_CHECK_EQ(t.flags, 0xff);
}

FN_TEST(tcp_truncated_and_bad_offset)
{
    const uint8_t *p = tcp_syn_frame + ETH + 20;
    size_t n = sizeof tcp_syn_frame - ETH - 20;
    uint8_t q[60];
    struct fn_tcp_info t;

    for (size_t k = 0; k <= n; k++)
        FN_CHECK_EQ(fn_tcp_parse(p, k, &t),
                    k < 20 ? FN_WIRE_TRUNCATED : k < 40 ? FN_WIRE_BAD_HLEN : FN_WIRE_OK);
    memset(q, 0, sizeof q);
    memcpy(q, p, n);
    for (unsigned off = 0; off < 16; off++) {
        q[12] = (uint8_t)(off << 4);
        enum fn_wire_err want = off < 5 ? FN_WIRE_BAD_HLEN : FN_WIRE_OK;

        FN_CHECK_EQ(fn_tcp_parse(q, 60, &t), want);
        if (want == FN_WIRE_OK) {
            FN_CHECK_EQ(t.hlen, off * 4);
            FN_CHECK_EQ(t.payload_len, 60 - off * 4);
        }
        /* With only 40 bytes, offsets 11..15 run past the segment. */
        FN_CHECK_EQ(fn_tcp_parse(q, 40, &t), off < 5 || off > 10 ? FN_WIRE_BAD_HLEN
                                                                  : FN_WIRE_OK);
    }
}

FN_TEST(tcpopts_empty_eol_nop)
{
    struct fn_tcp_opts o;
    /* NOP padding, then EOL: whatever follows EOL is not options (even garbage). */
    static const uint8_t a[] = {1, 1, 1, 2, 4, 0x05, 0xb4, 0, 3, 3, 9, 0xff};
    static const uint8_t nops[] = {1, 1, 1, 1, 1, 1, 1, 1};

    memset(&o, 0x5a, sizeof o);
    FN_CHECK_EQ(fn_tcp_opts_parse(NULL, 0, &o), FN_WIRE_OK);
    FN_CHECK_EQ(o.has_mss + o.has_wscale + o.sack_permitted + o.has_ts + o.nsack, 0);
    FN_CHECK_EQ(fn_tcp_opts_parse(a, sizeof a, &o), FN_WIRE_OK);
    FN_CHECK_EQ(o.has_mss, 1);
    FN_CHECK_EQ(o.mss, 1460);
    FN_CHECK_EQ(o.has_wscale, 0);
    FN_CHECK_EQ(fn_tcp_opts_parse(nops, sizeof nops, &o), FN_WIRE_OK);
    FN_CHECK_EQ(o.has_mss, 0);
    /* EOL first: nothing. */
    FN_CHECK_EQ(fn_tcp_opts_parse(a + 7, sizeof a - 7, &o), FN_WIRE_OK);
    FN_CHECK_EQ(o.has_wscale, 0);
}

FN_TEST(tcpopts_unknown_skipped)
{
    /* Unknown kinds 30 (MPTCP, len 4), 253 (experimental, len 6), 19 (MD5, len 18 cut to
     * 2) are stepped over by their lengths. */
    static const uint8_t a[] = {30, 4, 0xaa, 0xbb, 3, 3, 14, 253, 6, 2, 4, 0x01, 0x00,
                                19, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2};
    struct fn_tcp_opts o;

    FN_CHECK_EQ(fn_tcp_opts_parse(a, sizeof a, &o), FN_WIRE_OK);
    FN_CHECK_EQ(o.has_wscale, 1);
    FN_CHECK_EQ(o.wscale, 14);
    FN_CHECK_EQ(o.has_mss, 0);  /* the "2 4 1 0" inside kind 253 is not an MSS */
    FN_CHECK_EQ(o.has_ts, 1);
    FN_CHECK_EQ(o.tsval, 1);
    FN_CHECK_EQ(o.tsecr, 2);
}

FN_TEST(tcpopts_wscale_unclamped)
{
    static const uint8_t a[] = {3, 3, 200};
    struct fn_tcp_opts o;

    FN_CHECK_EQ(fn_tcp_opts_parse(a, sizeof a, &o), FN_WIRE_OK);
    FN_CHECK_EQ(o.wscale, 200);     /* the caller clamps (RFC 7323 §2.3) */
}

FN_TEST(tcpopts_bad_lengths_keep_earlier)
{
    /* MSS, then an option with length 0 / 1 / past the end / no length octet at all. */
    static const uint8_t len0[] = {2, 4, 0x02, 0x18, 4, 2, 30, 0, 3, 3, 7};
    static const uint8_t len1[] = {2, 4, 0x02, 0x18, 4, 2, 8, 1, 3, 3, 7};
    static const uint8_t past[] = {2, 4, 0x02, 0x18, 4, 2, 3, 3, 5, 8, 10, 0, 0, 0, 1, 0};
    static const uint8_t nolen[] = {2, 4, 0x02, 0x18, 4, 2, 1, 1, 8};
    static const uint8_t pastmss[] = {1, 2, 4, 0x05};
    struct fn_tcp_opts o;

    FN_CHECK_EQ(fn_tcp_opts_parse(len0, sizeof len0, &o), FN_WIRE_BAD_FORMAT);
    FN_CHECK_EQ(o.has_mss, 1);
    FN_CHECK_EQ(o.mss, 536);
    FN_CHECK_EQ(o.sack_permitted, 1);
    FN_CHECK_EQ(o.has_wscale, 0);       /* after the bad option: not reached */

    FN_CHECK_EQ(fn_tcp_opts_parse(len1, sizeof len1, &o), FN_WIRE_BAD_FORMAT);
    FN_CHECK_EQ(o.mss, 536);
    FN_CHECK_EQ(o.sack_permitted, 1);
    FN_CHECK_EQ(o.has_ts, 0);
    FN_CHECK_EQ(o.has_wscale, 0);

    FN_CHECK_EQ(fn_tcp_opts_parse(past, sizeof past, &o), FN_WIRE_BAD_FORMAT);
    FN_CHECK_EQ(o.mss, 536);
    FN_CHECK_EQ(o.has_wscale, 1);
    FN_CHECK_EQ(o.wscale, 5);
    FN_CHECK_EQ(o.has_ts, 0);

    FN_CHECK_EQ(fn_tcp_opts_parse(nolen, sizeof nolen, &o), FN_WIRE_BAD_FORMAT);
    FN_CHECK_EQ(o.has_mss, 1);
    FN_CHECK_EQ(o.sack_permitted, 1);

    FN_CHECK_EQ(fn_tcp_opts_parse(pastmss, sizeof pastmss, &o), FN_WIRE_BAD_FORMAT);
    FN_CHECK_EQ(o.has_mss, 0);

    /* Every prefix of a well-formed list either parses or stops with BAD_FORMAT, never
     * reading beyond the prefix (checked by ASan in SAN builds: each prefix is copied to the
     * very end of a stack buffer, so one byte more is a redzone). */
    const uint8_t *full = tcp_syn_frame + ETH + 40;

    for (size_t k = 0; k <= 20; k++) {
        uint8_t buf[20];
        uint8_t *cut = buf + (20 - k);

        memcpy(cut, full, k);
        enum fn_wire_err e = fn_tcp_opts_parse(cut, k, &o);
        /* Option boundaries: MSS 0-4, SACKP 4-6, TS 6-16, NOP 16-17, WS 17-20. */
        int boundary = k == 0 || k == 4 || k == 6 || k == 16 || k == 17 || k == 20;

        FN_CHECK_EQ(e, boundary ? FN_WIRE_OK : FN_WIRE_BAD_FORMAT);
        FN_CHECK_EQ(o.has_mss, k >= 4);
        FN_CHECK_EQ(o.sack_permitted, k >= 6);
        FN_CHECK_EQ(o.has_ts, k >= 16);
        FN_CHECK_EQ(o.has_wscale, k >= 20);
    }
}

FN_TEST(tcpopts_wrong_length_known_kind_skipped)
{
    /* MSS of length 3, WS of length 4, SACK-permitted of length 3, TS of length 8: each is
     * in bounds, so skipped, and the following options are still found. */
    static const uint8_t a[] = {2, 3, 0xff, 3, 4, 1, 2, 4, 3, 0, 8, 8, 0, 0, 0, 0, 0, 0,
                                2, 4, 0x23, 0x28, 5, 2, 5, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    struct fn_tcp_opts o;

    FN_CHECK_EQ(fn_tcp_opts_parse(a, sizeof a, &o), FN_WIRE_OK);
    FN_CHECK_EQ(o.has_mss, 1);
    FN_CHECK_EQ(o.mss, 9000);
    FN_CHECK_EQ(o.has_wscale, 0);
    FN_CHECK_EQ(o.sack_permitted, 0);
    FN_CHECK_EQ(o.has_ts, 0);
    FN_CHECK_EQ(o.nsack, 0);    /* SACK lengths 2 and 11 are not 2 + 8n, n >= 1 */
}

FN_TEST(tcpopts_sack_blocks)
{
    /* NOP NOP SACK with 4 blocks, NOP NOP EOL EOL: 40 bytes, the whole option space (4 blocks
     * is the most that fits, RFC 2018 §3). */
    uint8_t a[40];
    struct fn_tcp_opts o;

    a[0] = 1;
    a[1] = 1;
    a[2] = 5;
    a[3] = 34;
    for (unsigned i = 0; i < 8; i++) {
        uint32_t v = 0xfffffff0u + i * 0x10000u;

        a[4 + 4 * i] = (uint8_t)(v >> 24);
        a[5 + 4 * i] = (uint8_t)(v >> 16);
        a[6 + 4 * i] = (uint8_t)(v >> 8);
        a[7 + 4 * i] = (uint8_t)v;
    }
    a[36] = 1;
    a[37] = 1;
    a[38] = 0;
    a[39] = 0;
    FN_CHECK_EQ(fn_tcp_opts_parse(a, sizeof a, &o), FN_WIRE_OK);
    FN_CHECK_EQ(o.nsack, 4);
    for (unsigned b = 0; b < 4; b++) {
        FN_CHECK_EQ(o.sack[b][0], (uint32_t)(0xfffffff0u + 2 * b * 0x10000u));
        FN_CHECK_EQ(o.sack[b][1], (uint32_t)(0xfffffff0u + (2 * b + 1) * 0x10000u));
    }
    /* 1, 2, 3 blocks. */
    for (uint8_t nb = 1; nb <= 3; nb++) {
        a[3] = (uint8_t)(2 + 8 * nb);
        FN_CHECK_EQ(fn_tcp_opts_parse(a + 2, (size_t)(2 + 8 * nb), &o), FN_WIRE_OK);
        FN_CHECK_EQ(o.nsack, nb);
        FN_CHECK_EQ(o.sack[nb - 1][1], (uint32_t)(0xfffffff0u + (2 * nb - 1) * 0x10000u));
    }
    /* TS + SACK with 3 blocks, the usual pair in an established connection. */
    static const uint8_t ts_sack[] = {1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 8, 1, 1, 5, 26,
                                      0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4,
                                      0, 0, 0, 5, 0, 0, 0, 6};
    FN_CHECK_EQ(fn_tcp_opts_parse(ts_sack, sizeof ts_sack, &o), FN_WIRE_OK);
    FN_CHECK_EQ(o.has_ts, 1);
    FN_CHECK_EQ(o.tsval, 9);
    FN_CHECK_EQ(o.tsecr, 8);
    FN_CHECK_EQ(o.nsack, 3);
    FN_CHECK_EQ(o.sack[2][0], 5);
    FN_CHECK_EQ(o.sack[2][1], 6);
    /* A SACK option claiming 4 blocks in a list cut short: stops, TS kept. */
    static const uint8_t cut[] = {8, 10, 0, 0, 0, 7, 0, 0, 0, 6, 5, 34, 0, 0, 0, 1};
    FN_CHECK_EQ(fn_tcp_opts_parse(cut, sizeof cut, &o), FN_WIRE_BAD_FORMAT);
    FN_CHECK_EQ(o.has_ts, 1);
    FN_CHECK_EQ(o.tsval, 7);
    FN_CHECK_EQ(o.nsack, 0);
}

FN_TEST(tcpopts_appendix_a_timestamp_layout)
{
    /* NOP NOP TS, the layout of every segment of a timestamp connection (RFC 7323
     * Appendix A), has a shortcut in the parser: it must give exactly what the walk gives
     * for the same option in another order, and a near miss must still take the walk. */
    static const uint8_t appa[] = {1, 1, 8, 10, 0x80, 0, 0, 1, 0xff, 0xff, 0xff, 0xfe};
    static const uint8_t other[] = {8, 10, 0x80, 0, 0, 1, 0xff, 0xff, 0xff, 0xfe, 1, 0};
    static const uint8_t shortts[] = {1, 1, 8, 9, 0, 0, 0, 1, 0, 0, 0, 1};
    static const uint8_t withmss[] = {1, 1, 8, 10, 0, 0, 0, 5, 0, 0, 0, 6, 2, 4, 0x05, 0xb4};
    struct fn_tcp_opts a, b;

    memset(&a, 0x5a, sizeof a);
    memset(&b, 0xa5, sizeof b);
    FN_CHECK_EQ(fn_tcp_opts_parse(appa, sizeof appa, &a), FN_WIRE_OK);
    FN_CHECK_EQ(fn_tcp_opts_parse(other, sizeof other, &b), FN_WIRE_OK);
    FN_CHECK_EQ(memcmp(&a, &b, sizeof a), 0);
    FN_CHECK_EQ(a.has_ts, 1);
    FN_CHECK_EQ(a.tsval, 0x80000001u);
    FN_CHECK_EQ(a.tsecr, 0xfffffffeu);
    FN_CHECK_EQ(a.has_mss + a.has_wscale + a.sack_permitted + a.nsack, 0);
    /* TS of length 9 is in bounds but wrong for its kind: skipped, no timestamp. */
    FN_CHECK_EQ(fn_tcp_opts_parse(shortts, sizeof shortts, &a), FN_WIRE_OK);
    FN_CHECK_EQ(a.has_ts, 0);
    /* The same prefix followed by more options: all of them are found. */
    FN_CHECK_EQ(fn_tcp_opts_parse(withmss, sizeof withmss, &a), FN_WIRE_OK);
    FN_CHECK_EQ(a.has_ts, 1);
    FN_CHECK_EQ(a.tsval, 5);
    FN_CHECK_EQ(a.has_mss, 1);
    FN_CHECK_EQ(a.mss, 1460);
}

FN_TEST(tcpopts_random_never_overreads)
{
    /* Random option bytes of random length: the parser must stay in bounds (ASan) and
     * report only OK or BAD_FORMAT, with nsack <= 4. */
    uint8_t buf[64];
    struct fn_tcp_opts o;

    rng_seed(9293);
    for (int iter = 0; iter < 100000; iter++) {
        size_t n = (size_t)(rng() % 41);
        uint8_t *p = buf + (64 - n);

        for (size_t i = 0; i < n; i++) {
            uint64_t r = rng();

            /* Bias towards known kinds and small lengths so that paths are reached. */
            p[i] = (r & 3) == 0 ? (uint8_t)(r >> 8) % 12 : (uint8_t)(r >> 8) % 44;
        }
        enum fn_wire_err e = fn_tcp_opts_parse(p, n, &o);

        FN_CHECK(e == FN_WIRE_OK || e == FN_WIRE_BAD_FORMAT);
        FN_CHECK(o.nsack <= 4);
    }
}

FN_TEST(strerror_names)
{
    for (int e = FN_WIRE_OK; e <= FN_WIRE_BAD_FORMAT; e++)
        FN_CHECK(fn_wire_strerror((enum fn_wire_err)e) != NULL &&
                 *fn_wire_strerror((enum fn_wire_err)e) != '\0');
    FN_CHECK(strcmp(fn_wire_strerror(FN_WIRE_OK), "ok") == 0);
    FN_CHECK(strcmp(fn_wire_strerror((enum fn_wire_err)77), "unknown wire error") == 0);
}

FN_TEST_MAIN()
