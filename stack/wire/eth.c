/*
 * eth.c — Ethernet II header view and emitter.
 *
 * Contract: pure; any core.  fn_eth_parse fails only with FN_WIRE_TRUNCATED (fewer than 14
 * bytes).  802.1Q tags are not interpreted: a tagged frame reports type 0x8100 and hlen 14,
 * and it is the caller's decision to drop it (fastnet does not terminate VLANs).
 */
#include "wire/fn_wire.h"

#include <string.h>

enum fn_wire_err fn_eth_parse(const uint8_t *p, size_t len, struct fn_eth_info *out)
{
    if (len < FN_ETH_HLEN)
        return FN_WIRE_TRUNCATED;
    out->dst = p;
    out->src = p + FN_ETH_ALEN;
    out->type = (uint16_t)(p[12] << 8 | p[13]);
    out->hlen = FN_ETH_HLEN;
    return FN_WIRE_OK;
}

void fn_eth_emit(uint8_t *p, const uint8_t dst[6], const uint8_t src[6], uint16_t type)
{
    /* Both addresses are copied out first: a reply is often built in place, with dst and
     * src pointing into the very header being rewritten (even swapped). */
    uint8_t d[FN_ETH_ALEN], s[FN_ETH_ALEN];

    memcpy(d, dst, FN_ETH_ALEN);
    memcpy(s, src, FN_ETH_ALEN);
    memcpy(p, d, FN_ETH_ALEN);
    memcpy(p + FN_ETH_ALEN, s, FN_ETH_ALEN);
    p[12] = (uint8_t)(type >> 8);
    p[13] = (uint8_t)type;
}

int fn_eth_is_broadcast(const uint8_t mac[6])
{
    return (mac[0] & mac[1] & mac[2] & mac[3] & mac[4] & mac[5]) == 0xff;
}

/* IEEE 802: the I/G bit (least significant bit of the first octet) marks group addresses;
 * broadcast is one of them. */
int fn_eth_is_multicast(const uint8_t mac[6])
{
    return mac[0] & 1;
}
