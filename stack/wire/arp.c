/*
 * arp.c — ARP (RFC 826) view and emitter, restricted to Ethernet hardware and IPv4 protocol
 * addresses, the only combination fastnet resolves.
 *
 * Contract: pure; any core.  fn_arp_parse fails with FN_WIRE_TRUNCATED (fewer than 28
 * bytes) or FN_WIRE_BAD_FORMAT (htype != 1, ptype != 0x0800, hlen != 6, plen != 4, or an
 * opcode other than request/reply).  Bytes after the 28-byte body (Ethernet padding) are
 * ignored.
 */
#include "wire/fn_wire.h"

#include <string.h>

#define ARP_HTYPE_ETHER 1u

static inline uint16_t rd16(const uint8_t *b)
{
    return (uint16_t)(b[0] << 8 | b[1]);
}

enum fn_wire_err fn_arp_parse(const uint8_t *p, size_t len, struct fn_arp_info *out)
{
    if (len < FN_ARP_LEN)
        return FN_WIRE_TRUNCATED;
    /* RFC 826 "Packet Reception": a receiver only handles the hardware/protocol pair it
     * knows; the address lengths must then be the ones that pair implies. */
    if (rd16(p) != ARP_HTYPE_ETHER || rd16(p + 2) != FN_ETHERTYPE_IPV4 ||
        p[4] != FN_ETH_ALEN || p[5] != 4)
        return FN_WIRE_BAD_FORMAT;
    out->op = rd16(p + 6);
    if (out->op != FN_ARP_OP_REQUEST && out->op != FN_ARP_OP_REPLY)
        return FN_WIRE_BAD_FORMAT;
    out->sha = p + 8;
    memcpy(&out->spa, p + 14, 4);
    out->tha = p + 18;
    memcpy(&out->tpa, p + 24, 4);
    return FN_WIRE_OK;
}

void fn_arp_emit(uint8_t *p, uint16_t op, const uint8_t sha[6], uint32_t spa,
                 const uint8_t tha[6], uint32_t tpa)
{
    /* Both hardware addresses are copied out first: a reply is usually built in place from
     * the request, with sha/tha pointing into the body being rewritten. */
    uint8_t s[FN_ETH_ALEN], t[FN_ETH_ALEN];

    memcpy(s, sha, FN_ETH_ALEN);
    memcpy(t, tha, FN_ETH_ALEN);
    p[0] = 0;
    p[1] = ARP_HTYPE_ETHER;
    p[2] = (uint8_t)(FN_ETHERTYPE_IPV4 >> 8);
    p[3] = (uint8_t)FN_ETHERTYPE_IPV4;
    p[4] = FN_ETH_ALEN;
    p[5] = 4;
    p[6] = (uint8_t)(op >> 8);
    p[7] = (uint8_t)op;
    memcpy(p + 8, s, FN_ETH_ALEN);
    memcpy(p + 14, &spa, 4);
    memcpy(p + 18, t, FN_ETH_ALEN);
    memcpy(p + 24, &tpa, 4);
}
