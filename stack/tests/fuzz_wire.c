/*
 * fuzz_wire.c — libFuzzer harness over every parser of stack/wire/ and the checksum.
 *
 * Contract: the first input byte picks the target, the rest is the bytes handed to it, in a
 * heap buffer of exactly that size (libFuzzer's copy), so ASan flags any read past the end.
 * Every parse result is checked against the contract written in fn_wire.h and the parser's
 * own top comment: the error code is recomputed here from the raw bytes by a separate,
 * deliberately naive reading of the RFC layout, and on success every reported field and
 * pointer must match the bytes and lie inside them.  The checksum is compared with a plain
 * byte-pair summation, in one piece and chained, and its incremental update with a full
 * recomputation.  A mismatch aborts (a finding).  Pure: no stack, no allocation.
 */
#include <string.h>

#include "fuzz.h"
#include "wire/fn_wire.h"

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t mem32(const uint8_t *p)
{
    uint32_t v;

    memcpy(&v, p, 4);
    return v;
}

/* The parse result is the one the contract gives for these bytes; 1 if it is a success
 * (the caller then checks the fields). */
static int result_is(enum fn_wire_err got, enum fn_wire_err want)
{
    FZ_ASSERT(got == want);
    return got == FN_WIRE_OK;
}

/* A pointer reported by a parser lies in [p, p + len] and n bytes from it fit too. */
static int inside(const uint8_t *p, size_t len, const uint8_t *q, size_t n)
{
    return q >= p && q <= p + len && n <= (size_t)(p + len - q);
}

/* RFC 1071 by the book: big-endian 16-bit words, odd byte padded, end-around carry, as the
 * wire-order value of the complement. */
static uint16_t ref_csum(const uint8_t *p, size_t len)
{
    uint64_t s = 0;

    for (size_t i = 0; i + 1 < len; i += 2)
        s += be16(p + i);
    if (len & 1)
        s += (uint32_t)p[len - 1] << 8;
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

/* A memory-order checksum as fastnet stores it, read as a wire-order value. */
static uint16_t wire_of(uint16_t stored)
{
    uint8_t b[2];

    memcpy(b, &stored, 2);
    return be16(b);
}

static void fuzz_eth(const uint8_t *p, size_t len)
{
    struct fn_eth_info e;
    enum fn_wire_err r = fn_eth_parse(p, len, &e);

    FZ_ASSERT((r == FN_WIRE_OK) == (len >= FN_ETH_HLEN));
    if (r != FN_WIRE_OK) {
        FZ_ASSERT(r == FN_WIRE_TRUNCATED);
        return;
    }
    FZ_ASSERT(e.dst == p && e.src == p + 6 && e.hlen == FN_ETH_HLEN);
    FZ_ASSERT(e.type == be16(p + 12));
    FZ_ASSERT(fn_eth_is_broadcast(e.dst) == (memcmp(p, "\xff\xff\xff\xff\xff\xff", 6) == 0));
    FZ_ASSERT(!fn_eth_is_broadcast(e.dst) || fn_eth_is_multicast(e.dst));
}

static void fuzz_arp(const uint8_t *p, size_t len)
{
    struct fn_arp_info a;
    enum fn_wire_err r = fn_arp_parse(p, len, &a), want;

    if (len < FN_ARP_LEN)
        want = FN_WIRE_TRUNCATED;
    else if (be16(p) != 1 || be16(p + 2) != 0x0800 || p[4] != 6 || p[5] != 4 ||
             (be16(p + 6) != 1 && be16(p + 6) != 2))
        want = FN_WIRE_BAD_FORMAT;
    else
        want = FN_WIRE_OK;
    if (!result_is(r, want))
        return;
    FZ_ASSERT(a.op == be16(p + 6));
    FZ_ASSERT(a.sha == p + 8 && a.tha == p + 18);
    FZ_ASSERT(a.spa == mem32(p + 14) && a.tpa == mem32(p + 24));
}

static void fuzz_ipv4(const uint8_t *p, size_t len, int verify)
{
    struct fn_ipv4_info ip;
    enum fn_wire_err r = fn_ipv4_parse(p, len, verify, &ip), want;
    uint32_t ihl = len ? (uint32_t)(p[0] & 15) * 4 : 0;

    /* The order of the checks is part of the contract (ipv4.c's top comment). */
    if (len < 20)
        want = FN_WIRE_TRUNCATED;
    else if (p[0] >> 4 != 4)
        want = FN_WIRE_BAD_VERSION;
    else if (ihl < 20 || ihl > len)
        want = FN_WIRE_BAD_HLEN;
    else if (be16(p + 2) < ihl || be16(p + 2) > len)
        want = FN_WIRE_BAD_LEN;
    else if (verify && ref_csum(p, ihl) != 0)
        want = FN_WIRE_BAD_CSUM;
    else
        want = FN_WIRE_OK;
    if (!result_is(r, want))
        return;
    FZ_ASSERT(ip.hlen == ihl && ip.hlen >= 20 && ip.hlen <= FN_IPV4_MAX_HLEN);
    FZ_ASSERT(ip.total_len == be16(p + 2) && ip.total_len >= ip.hlen && ip.total_len <= len);
    FZ_ASSERT(ip.tos == p[1] && ip.id == be16(p + 4) && ip.ttl == p[8] && ip.proto == p[9]);
    FZ_ASSERT(ip.df == ((p[6] & 0x40) != 0) && ip.mf == ((p[6] & 0x20) != 0));
    FZ_ASSERT(ip.frag_off == (be16(p + 6) & 0x1fff) * 8u && ip.frag_off % 8 == 0);
    FZ_ASSERT(ip.src == mem32(p + 12) && ip.dst == mem32(p + 16));
    if (verify)
        FZ_ASSERT(fn_csum(p, ip.hlen) == 0);
}

static void fuzz_icmp(const uint8_t *p, size_t len, int verify)
{
    struct fn_icmp_info ic;
    enum fn_wire_err r = fn_icmp_parse(p, len, verify, &ic), want;

    if (len < 8)
        want = FN_WIRE_TRUNCATED;
    else if (verify && ref_csum(p, len) != 0)
        want = FN_WIRE_BAD_CSUM;
    else
        want = FN_WIRE_OK;
    if (!result_is(r, want))
        return;
    FZ_ASSERT(ic.type == p[0] && ic.code == p[1]);
    FZ_ASSERT(ic.id == be16(p + 4) && ic.seq == be16(p + 6));
    FZ_ASSERT(ic.next_mtu == ((p[0] == 3 && p[1] == 4) ? be16(p + 6) : 0));
    FZ_ASSERT(ic.payload == p + 8 && ic.payload_len == len - 8);
}

static void fuzz_udp(const uint8_t *p, size_t len)
{
    struct fn_udp_info u;
    enum fn_wire_err r = fn_udp_parse(p, len, &u), want;

    if (len < 8)
        want = FN_WIRE_TRUNCATED;
    else if (be16(p + 4) < 8 || be16(p + 4) > len)
        want = FN_WIRE_BAD_LEN;
    else
        want = FN_WIRE_OK;
    if (!result_is(r, want))
        return;
    FZ_ASSERT(u.sport == be16(p) && u.dport == be16(p + 2) && u.len == be16(p + 4));
    FZ_ASSERT(memcmp(&u.csum, p + 6, 2) == 0);
    FZ_ASSERT(u.payload == p + 8 && u.payload_len == u.len - 8u);
    FZ_ASSERT(inside(p, len, u.payload, u.payload_len));
}

/* An independent walk of the option list (RFC 9293 §3.1, RFC 7323, RFC 2018) following the
 * rules of tcp.c's top comment; returns what fn_tcp_opts_parse must return. */
static enum fn_wire_err ref_opts(const uint8_t *o, size_t len, struct fn_tcp_opts *t)
{
    size_t i = 0;

    memset(t, 0, sizeof *t);
    while (i < len && o[i] != 0) {
        size_t ol;

        if (o[i] == 1) {
            i++;
            continue;
        }
        if (i + 1 >= len || o[i + 1] < 2 || o[i + 1] > len - i)
            return FN_WIRE_BAD_FORMAT;
        ol = o[i + 1];
        if (o[i] == 2 && ol == 4) {
            t->has_mss = 1;
            t->mss = be16(o + i + 2);
        } else if (o[i] == 3 && ol == 3) {
            t->has_wscale = 1;
            t->wscale = o[i + 2];
        } else if (o[i] == 4 && ol == 2) {
            t->sack_permitted = 1;
        } else if (o[i] == 5 && ol >= 10 && ol <= 34 && (ol - 2) % 8 == 0) {
            t->nsack = (uint8_t)((ol - 2) / 8);
            for (unsigned b = 0; b < t->nsack; b++) {
                t->sack[b][0] = be32(o + i + 2 + 8 * b);
                t->sack[b][1] = be32(o + i + 6 + 8 * b);
            }
        } else if (o[i] == 8 && ol == 10) {
            t->has_ts = 1;
            t->tsval = be32(o + i + 2);
            t->tsecr = be32(o + i + 6);
        }
        i += ol;
    }
    return FN_WIRE_OK;
}

static void check_opts(const uint8_t *o, size_t len)
{
    struct fn_tcp_opts got, want;
    enum fn_wire_err r = fn_tcp_opts_parse(o, len, &got);

    FZ_ASSERT(r == ref_opts(o, len, &want));
    /* On BAD_FORMAT what came before the bad option is kept: it is compared too. */
    FZ_ASSERT(got.has_mss == want.has_mss && got.mss == want.mss);
    FZ_ASSERT(got.has_wscale == want.has_wscale && got.wscale == want.wscale);
    FZ_ASSERT(got.sack_permitted == want.sack_permitted);
    FZ_ASSERT(got.has_ts == want.has_ts && got.tsval == want.tsval && got.tsecr == want.tsecr);
    FZ_ASSERT(got.nsack == want.nsack && got.nsack <= 4);
    for (unsigned b = 0; b < got.nsack; b++)
        FZ_ASSERT(got.sack[b][0] == want.sack[b][0] && got.sack[b][1] == want.sack[b][1]);
    FZ_ASSERT(got.has_mss <= 1 && got.has_wscale <= 1 && got.sack_permitted <= 1 &&
              got.has_ts <= 1);
}

static void fuzz_tcp(const uint8_t *p, size_t len)
{
    struct fn_tcp_info th;
    enum fn_wire_err r = fn_tcp_parse(p, len, &th), want;
    uint32_t off = len >= 13 ? (uint32_t)(p[12] >> 4) * 4 : 0;

    if (len < 20)
        want = FN_WIRE_TRUNCATED;
    else if (off < 20 || off > len)
        want = FN_WIRE_BAD_HLEN;
    else
        want = FN_WIRE_OK;
    if (!result_is(r, want))
        return;
    FZ_ASSERT(th.sport == be16(p) && th.dport == be16(p + 2));
    FZ_ASSERT(th.seq == be32(p + 4) && th.ack == be32(p + 8));
    FZ_ASSERT(th.hlen == off && th.hlen >= 20 && th.hlen <= FN_TCP_MAX_HLEN);
    FZ_ASSERT(th.flags == p[13] && th.win == be16(p + 14) && th.urp == be16(p + 18));
    FZ_ASSERT(memcmp(&th.csum, p + 16, 2) == 0);
    FZ_ASSERT(th.opts == p + 20 && th.opts_len == th.hlen - 20u);
    FZ_ASSERT(th.payload == p + th.hlen && th.payload_len == len - th.hlen);
    FZ_ASSERT(inside(p, len, th.opts, th.opts_len));
    FZ_ASSERT(inside(p, len, th.payload, th.payload_len));
    check_opts(th.opts, th.opts_len);
}

/* A whole frame the way the stack reads it: Ethernet, then IPv4, then its transport. */
static void fuzz_frame(const uint8_t *p, size_t len)
{
    struct fn_eth_info e;
    struct fn_ipv4_info ip;
    const uint8_t *l3, *l4;

    if (fn_eth_parse(p, len, &e) != FN_WIRE_OK)
        return;
    l3 = p + e.hlen;
    if (e.type == FN_ETHERTYPE_ARP) {
        fuzz_arp(l3, len - e.hlen);
        return;
    }
    fuzz_ipv4(l3, len - e.hlen, 1);
    if (fn_ipv4_parse(l3, len - e.hlen, 0, &ip) != FN_WIRE_OK)
        return;
    /* Link padding beyond total_len is not part of the datagram. */
    l4 = l3 + ip.hlen;
    if (ip.proto == FN_IPPROTO_TCP)
        fuzz_tcp(l4, ip.total_len - ip.hlen);
    else if (ip.proto == FN_IPPROTO_UDP)
        fuzz_udp(l4, ip.total_len - ip.hlen);
    else if (ip.proto == FN_IPPROTO_ICMP)
        fuzz_icmp(l4, ip.total_len - ip.hlen, 1);
}

static void fuzz_csum(const uint8_t *p, size_t len)
{
    size_t cut;
    uint32_t acc;
    uint8_t buf[256];
    uint16_t before, oldw, neww, full, inc;
    uint32_t old32, new32;

    FZ_ASSERT(wire_of(fn_csum(p, len)) == ref_csum(p, len));
    if (len == 0)
        return;
    /* Chaining: any even cut sums to the same (RFC 1071 §2(C)). */
    cut = (p[0] * 2u) % (len + 1) & ~(size_t)1;
    acc = fn_csum_partial(p, cut, 0);
    acc = fn_csum_partial(p + cut, len - cut, acc);
    FZ_ASSERT(fn_csum_fold(acc) == fn_csum(p, len));
    /* RFC 1624 eqn. 3: replacing a 16-bit word (or a 32-bit pair) in a buffer that carries a
     * correct checksum gives the same checksum as recomputing it, unless the data becomes all
     * zero (the full sum then has no non-zero form, RFC 1624 §3). */
    if (len < 8 || len > sizeof buf)
        return;
    memcpy(buf, p, len);
    buf[0] = buf[1] = 0;
    before = fn_csum(buf, len);
    memcpy(buf, &before, 2);
    memcpy(&oldw, buf + 2, 2);
    memcpy(&neww, p + 4, 2);
    memcpy(buf + 2, &neww, 2);
    inc = fn_csum_update16(before, oldw, neww);
    buf[0] = buf[1] = 0;
    full = fn_csum(buf, len);
    if (full != 0xffff && before != 0xffff)
        FZ_ASSERT(inc == full);
    memcpy(buf, &full, 2);
    memcpy(&old32, buf + 4, 4);
    memcpy(&new32, p + len - 4, 4);
    memcpy(buf + 4, &new32, 4);
    inc = fn_csum_update32(full, old32, new32);
    buf[0] = buf[1] = 0;
    before = fn_csum(buf, len);
    if (before != 0xffff && full != 0xffff)
        FZ_ASSERT(inc == before);
}

enum { T_ETH, T_ARP, T_IPV4, T_IPV4_NOCSUM, T_ICMP, T_ICMP_NOCSUM, T_UDP, T_TCP, T_OPTS,
       T_FRAME, T_CSUM, T_COUNT };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data + 1;
    size_t len;

    if (size < 1)
        return 0;
    len = size - 1;
    switch (data[0] % T_COUNT) {
    case T_ETH:
        fuzz_eth(p, len);
        break;
    case T_ARP:
        fuzz_arp(p, len);
        break;
    case T_IPV4:
        fuzz_ipv4(p, len, 1);
        break;
    case T_IPV4_NOCSUM:
        fuzz_ipv4(p, len, 0);
        break;
    case T_ICMP:
        fuzz_icmp(p, len, 1);
        break;
    case T_ICMP_NOCSUM:
        fuzz_icmp(p, len, 0);
        break;
    case T_UDP:
        fuzz_udp(p, len);
        break;
    case T_TCP:
        fuzz_tcp(p, len);
        break;
    case T_OPTS:
        check_opts(p, len);
        break;
    case T_FRAME:
        fuzz_frame(p, len);
        break;
    default:
        fuzz_csum(p, len);
        break;
    }
    return 0;
}
