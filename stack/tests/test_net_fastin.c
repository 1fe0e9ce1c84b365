/*
 * test_net_fastin.c — the fused Ethernet + IPv4 receive step (net/ip_fastin.c) behaves as the
 * layered path: fn_ipv4_parse_plain accepts exactly the plain headers fn_ipv4_parse accepts
 * and fills the same fields; segments taken by the fused step are counted and delivered as
 * before (Ethernet padding trimmed), and frames it leaves alone (bad TCP checksum, broadcast
 * MAC) are dropped or delivered by the layered path with the same counters.
 */
#include "tcp_harness.h"

#define SETUP(...) TT_SETUP(777, __VA_ARGS__, (void)0)
#define TEARDOWN() TT_TEARDOWN()

static int same_fields(const struct fn_ipv4_info *a, const struct fn_ipv4_info *b)
{
    return a->hlen == b->hlen && a->tos == b->tos && a->total_len == b->total_len &&
           a->id == b->id && a->frag_off == b->frag_off && a->df == b->df && a->mf == b->mf &&
           a->ttl == b->ttl && a->proto == b->proto && a->src == b->src && a->dst == b->dst;
}

FN_TEST(plain_parse_agrees_with_the_full_parser)
{
    uint8_t base[64], h[64];
    uint64_t rng = 99;
    uint32_t plain = 0;

    memset(base, 0, sizeof(base));
    base[0] = 0x45;
    base[2] = 0;
    base[3] = 40;
    base[6] = 0x40;
    base[8] = 64;
    base[9] = FN_IPPROTO_TCP;
    memcpy(base + 12, &(uint32_t){IP_B}, 4);
    memcpy(base + 16, &(uint32_t){IP_A}, 4);
    for (int i = 0; i < 200000; i++) {
        struct fn_ipv4_info a, b;
        uint32_t len;
        int fast, full;
        memcpy(h, base, sizeof(h));
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        /* One to three random bytes of the header changed, sometimes with the checksum
         * made right again, and a random amount of bytes available. */
        for (uint32_t k = 0; k < 1 + (rng >> 62); k++)
            h[(rng >> (8 + 8 * k)) % 24] = (uint8_t)(rng >> (16 + 8 * k));
        if ((rng >> 5) & 1) {
            uint16_t c;
            h[10] = h[11] = 0;
            c = fn_csum(h, 20);
            memcpy(h + 10, &c, 2);
        }
        len = 16 + (uint32_t)((rng >> 40) % 40);
        fast = fn_ipv4_parse_plain(h, len, &a);
        full = fn_ipv4_parse(h, len, 1, &b) == FN_WIRE_OK;
        FN_CHECK_EQ(fast, full && b.hlen == FN_IPV4_HLEN && !b.mf && b.frag_off == 0);
        if (fast) {
            FN_CHECK(same_fields(&a, &b));
            plain++;
        }
    }
    FN_CHECK(plain > 10000);            /* the comparison covered accepted headers too */
}

/* A's counters that the receive path moves. */
struct rxc {
    uint64_t eth, ip, tcp, bytes, bad_l4;
};

/* Inject frame f and return how A's counters moved. */
static struct rxc inject_delta(struct tnet *t, const uint8_t *f, uint32_t len)
{
    struct fn_stats s0 = tnet_stats(t->sa), s1;

    tnet_inject(t, f, len);
    s1 = tnet_stats(t->sa);
    return (struct rxc){s1.eth_rx - s0.eth_rx, s1.ip_rx - s0.ip_rx, s1.tcp_rx - s0.tcp_rx,
                        s1.tcp_rx_bytes - s0.tcp_rx_bytes,
                        s1.drop_l4_bad_csum - s0.drop_l4_bad_csum};
}

FN_TEST(fused_input_counts_delivers_and_leaves_the_rest_alone)
{
    uint8_t f[TT_FRAME_MAX], b[64];
    uint32_t len;
    struct rxc d;

    SETUP((void)0);
    /* A plain segment padded by Ethernet to 30 bytes more: 10 bytes delivered. */
    len = tt_build(&p, f, 1, 1, FN_TH_ACK, "0123456789", 10);
    memset(f + len, 0xee, 30);
    d = inject_delta(&t, f, len + 30);
    FN_CHECK(d.eth == 1 && d.ip == 1 && d.tcp == 1 && d.bytes == 10 && d.bad_l4 == 0);
    FN_CHECK_EQ(fn_tcp_recv(tp, b, sizeof(b), t.now), 10);
    FN_CHECK(memcmp(b, "0123456789", 10) == 0);
    /* A bad TCP checksum: dropped and counted once, by the layered path. */
    len = tt_build(&p, f, 11, 1, FN_TH_ACK, "abcdefghij", 10);
    f[len - 1] ^= 0x40;
    d = inject_delta(&t, f, len);
    FN_CHECK(d.eth == 1 && d.ip == 1 && d.tcp == 0 && d.bytes == 0 && d.bad_l4 == 1);
    /* The same segment, right, to the broadcast MAC: the layered path accepts it. */
    f[len - 1] ^= 0x40;
    memcpy(f, MAC_BCAST, 6);
    d = inject_delta(&t, f, len);
    FN_CHECK(d.eth == 1 && d.ip == 1 && d.tcp == 1 && d.bytes == 10 && d.bad_l4 == 0);
    FN_CHECK_EQ(fn_tcp_recv(tp, b, sizeof(b), t.now), 10);
    FN_CHECK(memcmp(b, "abcdefghij", 10) == 0);
    TEARDOWN();
}

FN_TEST_MAIN()
