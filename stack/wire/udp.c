/*
 * udp.c — UDP header (RFC 768) view.
 *
 * Contract: pure; any core.  len is the IP payload length.  fn_udp_parse fails with
 * FN_WIRE_TRUNCATED (fewer than 8 bytes) or FN_WIRE_BAD_LEN (the UDP length field is below
 * 8 or beyond the bytes available).  Bytes after the UDP length are not part of the datagram
 * and are not reported.  The checksum is not verified here: it needs the pseudo-header
 * (fn_csum_pseudo), which only the IP layer knows; csum == 0 means the sender sent none.
 */
#include "wire/fn_wire.h"

#include <string.h>

static inline uint16_t rd16(const uint8_t *b)
{
    return (uint16_t)(b[0] << 8 | b[1]);
}

enum fn_wire_err fn_udp_parse(const uint8_t *p, size_t len, struct fn_udp_info *out)
{
    if (len < FN_UDP_HLEN)
        return FN_WIRE_TRUNCATED;
    out->len = rd16(p + 4);
    if (out->len < FN_UDP_HLEN || out->len > len)
        return FN_WIRE_BAD_LEN;
    out->sport = rd16(p);
    out->dport = rd16(p + 2);
    memcpy(&out->csum, p + 6, 2);
    out->payload = p + FN_UDP_HLEN;
    out->payload_len = out->len - FN_UDP_HLEN;
    return FN_WIRE_OK;
}
