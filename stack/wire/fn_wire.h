/*
 * fn_wire.h — checked views of Ethernet, ARP, IPv4, ICMP, UDP and TCP headers, and the
 * internet checksum.
 *
 * Contract: pure functions.  No allocation, no state, no clock.  Every parse function takes
 * the bytes actually available and returns FN_WIRE_OK only if every field it reports lies
 * inside them and is well-formed; on error the output struct is unspecified.  Multi-byte
 * header fields are reported in host order, EXCEPT IPv4 addresses, which stay in network
 * order everywhere in fastnet.  Emit functions write complete headers (checksums included
 * where the header has its own) and never fail: the caller provides the room.
 *
 * Checksums: fn_csum_* work on raw memory; a 16-bit result is returned so that storing it
 * with memcpy / as the header field (no byte swap) puts the right bytes on the wire.
 */
#ifndef FASTNET_WIRE_FN_WIRE_H
#define FASTNET_WIRE_FN_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum fn_wire_err {
    FN_WIRE_OK = 0,
    FN_WIRE_TRUNCATED,      /* fewer bytes than the header (or its length fields) need */
    FN_WIRE_BAD_VERSION,    /* IPv4 version != 4 */
    FN_WIRE_BAD_HLEN,       /* IHL < 5, TCP data offset < 5, header length beyond packet */
    FN_WIRE_BAD_LEN,        /* a length field inconsistent with the bytes (IP total length,
                               UDP length) */
    FN_WIRE_BAD_CSUM,       /* checksum does not verify */
    FN_WIRE_BAD_FORMAT,     /* other malformed field (ARP hw/proto type/len, etc.) */
};
const char *fn_wire_strerror(enum fn_wire_err e);

/* ---- checksum (RFC 1071, RFC 1624) ---- */
/* Add len bytes at p to a 32-bit one's-complement accumulator (any alignment, any length;
 * an odd final byte is padded with zero). */
uint32_t fn_csum_partial(const void *p, size_t len, uint32_t sum);
/* Fold the accumulator to 16 bits and complement it: the value to store in the header. */
static inline uint16_t fn_csum_fold(uint32_t sum)
{
    /* Two folds: the first leaves at most 0x1fffe, the second at most 0xffff. */
    sum = (sum & 0xffffu) + (sum >> 16);
    sum = (sum & 0xffffu) + (sum >> 16);
    return (uint16_t)~sum;
}
/* fn_csum_fold(fn_csum_partial(p, len, 0)). 0 when computed over data that includes a correct
 * checksum field. */
uint16_t fn_csum(const void *p, size_t len);
/* Accumulator seed for the TCP/UDP pseudo-header (RFC 9293 §3.1); src/dst in network order,
 * l4_len in host order. */
static inline uint32_t fn_csum_pseudo(uint32_t src, uint32_t dst, uint8_t proto,
                                      uint16_t l4_len)
{
    /* RFC 9293 §3.1 / RFC 768: source, destination, zero + protocol, TCP/UDP length.  src and
     * dst are already in memory order; each contributes its two 16-bit halves.  proto and
     * l4_len are host-order values and go in as the 16-bit words they are in memory in
     * network order.  The total is at most 6 * 0xffff, well inside 32 bits. */
    uint8_t b[4] = {0, proto, (uint8_t)(l4_len >> 8), (uint8_t)l4_len};
    uint16_t w[2];

    memcpy(w, b, sizeof w);
    return (src >> 16) + (src & 0xffffu) + (dst >> 16) + (dst & 0xffffu) + w[0] + w[1];
}
/* Incremental update (RFC 1624 eqn. 3) of a stored checksum when a 16-bit field changes from
 * old_field to new_field (all three as stored in memory). */
uint16_t fn_csum_update16(uint16_t csum, uint16_t old_field, uint16_t new_field);
uint16_t fn_csum_update32(uint16_t csum, uint32_t old_field, uint32_t new_field);

/* ---- Ethernet II ---- */
#define FN_ETH_HLEN 14u
#define FN_ETH_ALEN 6u
#define FN_ETHERTYPE_IPV4 0x0800u
#define FN_ETHERTYPE_ARP 0x0806u
#define FN_ETHERTYPE_VLAN 0x8100u

struct fn_eth_info {
    const uint8_t *dst;
    const uint8_t *src;
    uint16_t type;              /* host order */
    uint32_t hlen;              /* 14 */
};
enum fn_wire_err fn_eth_parse(const uint8_t *p, size_t len, struct fn_eth_info *out);
void fn_eth_emit(uint8_t *p, const uint8_t dst[6], const uint8_t src[6], uint16_t type);
int fn_eth_is_broadcast(const uint8_t mac[6]);
int fn_eth_is_multicast(const uint8_t mac[6]);

/* ---- ARP over Ethernet/IPv4 (RFC 826) ---- */
#define FN_ARP_LEN 28u
#define FN_ARP_OP_REQUEST 1u
#define FN_ARP_OP_REPLY 2u

struct fn_arp_info {
    uint16_t op;                /* host order; only 1 and 2 accepted */
    const uint8_t *sha;         /* sender hardware address */
    uint32_t spa;               /* sender protocol address, network order */
    const uint8_t *tha;
    uint32_t tpa;
};
/* Checks htype 1, ptype 0x0800, hlen 6, plen 4, op 1 or 2, and 28 bytes present. */
enum fn_wire_err fn_arp_parse(const uint8_t *p, size_t len, struct fn_arp_info *out);
void fn_arp_emit(uint8_t *p, uint16_t op, const uint8_t sha[6], uint32_t spa,
                 const uint8_t tha[6], uint32_t tpa);

/* ---- IPv4 (RFC 791) ---- */
#define FN_IPV4_HLEN 20u
#define FN_IPV4_MAX_HLEN 60u
#define FN_IPPROTO_ICMP 1u
#define FN_IPPROTO_TCP 6u
#define FN_IPPROTO_UDP 17u
#define FN_IP_DF 0x4000u
#define FN_IP_MF 0x2000u
#define FN_IP_OFFMASK 0x1fffu

struct fn_ipv4_info {
    uint8_t hlen;               /* header bytes (IHL * 4), 20..60 */
    uint8_t tos;
    uint16_t total_len;         /* host order, hlen..65535, <= bytes available */
    uint16_t id;                /* host order */
    uint16_t frag_off;          /* fragment offset in BYTES (field * 8) */
    uint8_t df;                 /* don't fragment */
    uint8_t mf;                 /* more fragments */
    uint8_t ttl;
    uint8_t proto;
    uint32_t src;               /* network order */
    uint32_t dst;               /* network order */
};
/* len: bytes available from p (the frame may carry Ethernet padding beyond total_len).
 * verify_csum != 0: a bad header checksum is FN_WIRE_BAD_CSUM. */
enum fn_wire_err fn_ipv4_parse(const uint8_t *p, size_t len, int verify_csum,
                               struct fn_ipv4_info *out);
/* The common case only: 1 if p holds an IPv4 header without options, not a fragment, with a
 * correct checksum, that fn_ipv4_parse(p, len, 1, out) accepts — out is then filled exactly
 * as it would fill it; 0 otherwise (out undefined; fn_ipv4_parse says what is wrong). */
int fn_ipv4_parse_plain(const uint8_t *p, size_t len, struct fn_ipv4_info *out);
/* Write a 20-byte header (no options) from the info fields (hlen ignored, frag_off in bytes,
 * must be a multiple of 8) with its checksum. */
void fn_ipv4_emit(uint8_t *p, const struct fn_ipv4_info *in);

/* ---- ICMP (RFC 792) ---- */
#define FN_ICMP_HLEN 8u
#define FN_ICMP_ECHO_REPLY 0u
#define FN_ICMP_UNREACH 3u
#define FN_ICMP_SOURCE_QUENCH 4u
#define FN_ICMP_ECHO 8u
#define FN_ICMP_TIME_EXCEEDED 11u
#define FN_ICMP_PARAM_PROB 12u
#define FN_ICMP_UNREACH_NET 0u
#define FN_ICMP_UNREACH_HOST 1u
#define FN_ICMP_UNREACH_PROTO 2u
#define FN_ICMP_UNREACH_PORT 3u
#define FN_ICMP_UNREACH_NEEDFRAG 4u

struct fn_icmp_info {
    uint8_t type;
    uint8_t code;
    uint16_t id;                /* echo: identifier, host order */
    uint16_t seq;               /* echo: sequence number, host order */
    uint16_t next_mtu;          /* unreach/needfrag: next-hop MTU (RFC 1191), host order */
    const uint8_t *payload;     /* bytes after the 8-byte header */
    uint32_t payload_len;
};
enum fn_wire_err fn_icmp_parse(const uint8_t *p, size_t len, int verify_csum,
                               struct fn_icmp_info *out);
/* Write the 8-byte header; the checksum covers the header and payload_len bytes that follow
 * it at p + 8 (they must already be in place). rest = the 4 bytes after the checksum as a
 * host-order 32-bit value (id << 16 | seq for echo). */
void fn_icmp_emit(uint8_t *p, uint8_t type, uint8_t code, uint32_t rest, size_t payload_len);

/* ---- UDP (RFC 768) ---- */
#define FN_UDP_HLEN 8u
struct fn_udp_info {
    uint16_t sport, dport;      /* host order */
    uint16_t len;               /* header + payload, host order, 8..bytes available */
    uint16_t csum;              /* as stored; 0 = none */
    const uint8_t *payload;
    uint32_t payload_len;
};
enum fn_wire_err fn_udp_parse(const uint8_t *p, size_t len, struct fn_udp_info *out);

/* ---- TCP (RFC 9293) ---- */
#define FN_TCP_HLEN 20u
#define FN_TCP_MAX_HLEN 60u
#define FN_TH_FIN 0x01u
#define FN_TH_SYN 0x02u
#define FN_TH_RST 0x04u
#define FN_TH_PUSH 0x08u
#define FN_TH_ACK 0x10u
#define FN_TH_URG 0x20u
#define FN_TH_ECE 0x40u
#define FN_TH_CWR 0x80u

struct fn_tcp_info {
    uint16_t sport, dport;      /* host order */
    uint32_t seq, ack;          /* host order */
    uint8_t hlen;               /* data offset in bytes, 20..60 */
    uint8_t flags;              /* FN_TH_* */
    uint16_t win;               /* host order, unscaled */
    uint16_t csum;              /* as stored */
    uint16_t urp;               /* host order */
    const uint8_t *opts;        /* options bytes (hlen - 20 of them) */
    uint32_t opts_len;
    const uint8_t *payload;
    uint32_t payload_len;
};
/* len: the TCP segment length (IP total length - IP header length). */
enum fn_wire_err fn_tcp_parse(const uint8_t *p, size_t len, struct fn_tcp_info *out);

#define FN_TCPOPT_EOL 0u
#define FN_TCPOPT_NOP 1u
#define FN_TCPOPT_MSS 2u
#define FN_TCPOPT_WSCALE 3u
#define FN_TCPOPT_SACK_PERM 4u
#define FN_TCPOPT_SACK 5u
#define FN_TCPOPT_TIMESTAMP 8u

struct fn_tcp_opts {
    uint8_t has_mss, has_wscale, sack_permitted, has_ts;
    uint16_t mss;
    uint8_t wscale;             /* as sent; the caller clamps to 14 (RFC 7323 §2.3) */
    uint32_t tsval, tsecr;
    uint8_t nsack;              /* SACK blocks present, 0..4 */
    uint32_t sack[4][2];        /* [left, right) edges, host order, unvalidated */
};
/* Unknown options are skipped; an option with an illegal length (0, 1 for a kind that has a
 * length, or running past the end) stops parsing and returns FN_WIRE_BAD_FORMAT with what was
 * parsed before it kept in out (RFC 9293 §3.1 robustness). */
enum fn_wire_err fn_tcp_opts_parse(const uint8_t *opts, size_t len, struct fn_tcp_opts *out);

#endif
