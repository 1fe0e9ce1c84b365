/*
 * icmp.c — ICMP (RFC 792) header view and emitter.
 *
 * Contract: pure; any core.  len is the whole ICMP message (IP total length - IP header
 * length).  fn_icmp_parse fails with FN_WIRE_TRUNCATED (fewer than 8 bytes) or, with
 * verify_csum, FN_WIRE_BAD_CSUM (the checksum over the whole message does not verify).
 * Types are not restricted: the caller dispatches on type/code.  id and seq are the two
 * halves of the 4 bytes after the checksum for every type (identifier and sequence number
 * for echo); next_mtu is the second half for destination unreachable / fragmentation
 * needed (RFC 1191 §4) and 0 otherwise.
 */
#include "wire/fn_wire.h"

#include <string.h>

static inline uint16_t rd16(const uint8_t *b)
{
    return (uint16_t)(b[0] << 8 | b[1]);
}

enum fn_wire_err fn_icmp_parse(const uint8_t *p, size_t len, int verify_csum,
                               struct fn_icmp_info *out)
{
    if (len < FN_ICMP_HLEN)
        return FN_WIRE_TRUNCATED;
    /* RFC 792: the checksum covers the whole ICMP message, starting with the type. */
    if (verify_csum && fn_csum(p, len) != 0)
        return FN_WIRE_BAD_CSUM;
    out->type = p[0];
    out->code = p[1];
    out->id = rd16(p + 4);
    out->seq = rd16(p + 6);
    out->next_mtu = (out->type == FN_ICMP_UNREACH && out->code == FN_ICMP_UNREACH_NEEDFRAG)
                        ? out->seq
                        : 0;
    out->payload = p + FN_ICMP_HLEN;
    out->payload_len = (uint32_t)(len - FN_ICMP_HLEN);
    return FN_WIRE_OK;
}

void fn_icmp_emit(uint8_t *p, uint8_t type, uint8_t code, uint32_t rest, size_t payload_len)
{
    uint16_t csum;

    p[0] = type;
    p[1] = code;
    p[2] = 0;
    p[3] = 0;
    p[4] = (uint8_t)(rest >> 24);
    p[5] = (uint8_t)(rest >> 16);
    p[6] = (uint8_t)(rest >> 8);
    p[7] = (uint8_t)rest;
    csum = fn_csum(p, FN_ICMP_HLEN + payload_len);
    memcpy(p + 2, &csum, 2);
}
