/*
 * net_harness.h — shared fixtures of the net/ tests (test_net_*.c): one stack on end A of an
 * in-memory link, and on end B either a second stack or nothing (a "raw" end: the test
 * injects hand-built frames there and reads what the stack sent).  Time is virtual: t->now,
 * advanced by the test.  All helpers are static inline so each test binary uses what it needs.
 *
 * Addresses: 198.18.0.0/24 (RFC 2544 benchmarking range, as the project rules require).
 */
#ifndef FASTNET_TESTS_NET_HARNESS_H
#define FASTNET_TESTS_NET_HARNESS_H

#include <arpa/inet.h>
#include <string.h>

#include "fastnet/fn_backend.h"
#include "fastnet/fn_config.h"
#include "fastnet/fn_pkt.h"
#include "fastnet/fn_stack.h"
#include "wire/fn_wire.h"

#define MS 1000000ull
#define SEC 1000000000ull

static const uint8_t MAC_A[6] = {0x02, 0x00, 0x5e, 0x00, 0x00, 0x0a};
static const uint8_t MAC_B[6] = {0x02, 0x00, 0x5e, 0x00, 0x00, 0x0b};
static const uint8_t MAC_BCAST[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

static inline uint32_t ip4(unsigned a, unsigned b, unsigned c, unsigned d)
{
    return htonl(a << 24 | b << 16 | c << 8 | d);
}
#define IP_A ip4(198, 18, 0, 1)
#define IP_B ip4(198, 18, 0, 2)

struct tnet {
    struct fn_pool *pa, *pb;
    struct fn_backend *ba, *bb;
    struct fn_stack *sa, *sb;   /* sb NULL: end B is raw */
    uint64_t now;
};

/* A small, quiet configuration: no gratuitous ARP unless a test asks for it. */
static inline void tnet_cfg(struct fn_config *c, uint32_t ip)
{
    fn_config_defaults(c);
    c->ip = ip;
    c->prefix_len = 24;
    c->hugepages = 0;
    c->gratuitous_arp = 0;
}

/* cb == NULL: raw end B.  Returns 0 or the failing call's -errno. */
static inline int tnet_open(struct tnet *t, const struct fn_config *ca,
                            const struct fn_config *cb, uint32_t bufs_a, uint32_t link_mtu)
{
    int rc;

    memset(t, 0, sizeof(*t));
    t->now = 1 * SEC;
    if ((rc = fn_pool_create(bufs_a, 2048, 0, &t->pa)) != 0)
        return rc;
    if ((rc = fn_pool_create(512, 2048, 0, &t->pb)) != 0)
        return rc;
    if ((rc = fn_backend_memory_pair(t->pa, t->pb, link_mtu, MAC_A, MAC_B, &t->ba, &t->bb)))
        return rc;
    if ((rc = fn_stack_create(ca, t->pa, t->ba, &t->sa)) != 0)
        return rc;
    if (cb && (rc = fn_stack_create(cb, t->pb, t->bb, &t->sb)) != 0)
        return rc;
    return 0;
}

/* Buffers still in use in both pools after everything is closed (0 = no leak). */
static inline uint32_t tnet_close(struct tnet *t)
{
    uint32_t leaked = fn_stack_destroy(t->sa);

    if (t->sb) {
        leaked += fn_stack_destroy(t->sb);
    } else {
        fn_backend_close(t->bb);
        leaked += fn_pool_destroy(t->pb);
    }
    return leaked;
}

/* Poll both stacks until a round receives nothing (bounded). */
static inline void tnet_run(struct tnet *t)
{
    for (int i = 0; i < 64; i++) {
        int n = fn_stack_poll(t->sa, t->now);
        if (t->sb)
            n += fn_stack_poll(t->sb, t->now);
        if (n == 0 && i > 0)
            break;
    }
}

/* Raw end: put one frame on the link to stack A without polling A (it waits in A's receive
 * ring until the next fn_stack_poll). */
static inline void tnet_queue(struct tnet *t, const void *frame, uint32_t len)
{
    struct fn_pkt *pkt = fn_pkt_alloc(t->pb);

    if (!pkt)
        return;
    memcpy(fn_pkt_put(pkt, len), frame, len);
    fn_backend_tx(t->bb, &pkt, 1, t->now);
}

/* Raw end: send one frame to stack A and let it process it. */
static inline void tnet_inject(struct tnet *t, const void *frame, uint32_t len)
{
    tnet_queue(t, frame, len);
    fn_stack_poll(t->sa, t->now);
}

/* Raw end: the next frame stack A sent, copied to buf; returns its length or 0 if none. */
static inline uint32_t tnet_read(struct tnet *t, uint8_t *buf, uint32_t cap)
{
    struct fn_pkt *pkt;
    uint32_t len;

    if (fn_backend_rx(t->bb, &pkt, 1, t->now) != 1)
        return 0;
    len = pkt->len < cap ? pkt->len : cap;
    memcpy(buf, pkt->data, len);
    fn_pkt_free(pkt);
    return len;
}

static inline uint32_t tnet_drain(struct tnet *t)
{
    uint8_t buf[2048];
    uint32_t n = 0;

    while (tnet_read(t, buf, sizeof(buf)) > 0)
        n++;
    return n;
}

static inline struct fn_stats tnet_stats(const struct fn_stack *st)
{
    struct fn_stats s;
    fn_stack_get_stats(st, &s);
    return s;
}

/* Sum of every drop_* counter (a dropped packet must raise exactly one of them). */
static inline uint64_t stats_drops(const struct fn_stats *s)
{
    const uint64_t *v = (const uint64_t *)s;
    uint64_t sum = 0;

    for (size_t i = 0; i < FN_STATS_COUNT; i++) {
        if (strncmp(fn_stats_names[i], "drop_", 5) == 0)
            sum += v[i];
    }
    return sum;
}

/* ---- frame builders (the wire/ emitters; byte-exact expectations are written out) ---- */

/* Ethernet + 20-byte IPv4 header + body.  frag_off in bytes.  Returns the frame length. */
static inline uint32_t build_ip(uint8_t *f, const uint8_t dmac[6], const uint8_t smac[6],
                                uint32_t src, uint32_t dst, uint8_t proto, uint16_t id,
                                uint16_t frag_off, int mf, const void *body, uint32_t blen)
{
    struct fn_ipv4_info h;

    memset(&h, 0, sizeof(h));
    h.total_len = (uint16_t)(FN_IPV4_HLEN + blen);
    h.id = id;
    h.frag_off = frag_off;
    h.mf = (uint8_t)mf;
    h.ttl = 64;
    h.proto = proto;
    h.src = src;
    h.dst = dst;
    fn_eth_emit(f, dmac, smac, FN_ETHERTYPE_IPV4);
    fn_ipv4_emit(f + FN_ETH_HLEN, &h);
    if (blen)
        memcpy(f + FN_ETH_HLEN + FN_IPV4_HLEN, body, blen);
    return FN_ETH_HLEN + FN_IPV4_HLEN + blen;
}

/* An ICMP message (header + data) into body; returns its length. */
static inline uint32_t build_icmp(uint8_t *body, uint8_t type, uint8_t code, uint32_t rest,
                                  const void *data, uint32_t dlen)
{
    if (dlen)
        memcpy(body + FN_ICMP_HLEN, data, dlen);
    fn_icmp_emit(body, type, code, rest, dlen);
    return FN_ICMP_HLEN + dlen;
}

/* A UDP datagram with a correct checksum into body; returns its length. */
static inline uint32_t build_udp(uint8_t *body, uint32_t src, uint32_t dst, uint16_t sport,
                                 uint16_t dport, const void *data, uint32_t dlen)
{
    uint32_t len = FN_UDP_HLEN + dlen, sum;
    uint16_t c;

    body[0] = (uint8_t)(sport >> 8);
    body[1] = (uint8_t)sport;
    body[2] = (uint8_t)(dport >> 8);
    body[3] = (uint8_t)dport;
    body[4] = (uint8_t)(len >> 8);
    body[5] = (uint8_t)len;
    body[6] = body[7] = 0;
    if (dlen)
        memcpy(body + FN_UDP_HLEN, data, dlen);
    sum = fn_csum_pseudo(src, dst, FN_IPPROTO_UDP, (uint16_t)len);
    c = fn_csum_fold(fn_csum_partial(body, len, sum));
    if (c == 0)
        c = 0xffff;
    memcpy(body + 6, &c, 2);
    return len;
}

/* Recompute the IPv4 header checksum of the frame f (after a test edited the header). */
static inline void fix_ip_csum(uint8_t *f)
{
    uint8_t *h = f + FN_ETH_HLEN;
    uint32_t hl = (uint32_t)(h[0] & 0x0f) * 4;
    uint16_t c;

    h[10] = h[11] = 0;
    c = fn_csum(h, hl);
    memcpy(h + 10, &c, 2);
}

static inline uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/* Make A know B without any ARP traffic in the test's frames: B asks for A, A answers. */
static inline void tnet_teach_b(struct tnet *t)
{
    uint8_t f[64];

    fn_eth_emit(f, MAC_BCAST, MAC_B, FN_ETHERTYPE_ARP);
    fn_arp_emit(f + FN_ETH_HLEN, FN_ARP_OP_REQUEST, MAC_B, IP_B, (const uint8_t[6]){0}, IP_A);
    tnet_inject(t, f, FN_ETH_HLEN + FN_ARP_LEN);
    tnet_drain(t);
}

#endif
