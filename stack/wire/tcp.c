/*
 * tcp.c — TCP header (RFC 9293 §3.1) view and option parser.
 *
 * Contract: pure; any core.  len is the segment length (IP total length - IP header
 * length).  fn_tcp_parse fails with FN_WIRE_TRUNCATED (fewer than 20 bytes) or
 * FN_WIRE_BAD_HLEN (data offset < 5, or beyond the segment).  The checksum is not verified
 * here: it needs the pseudo-header, which only the IP layer knows.
 *
 * fn_tcp_opts_parse zeroes out, then walks the options: EOL ends the list, NOP is skipped,
 * every other kind carries a length octet.  A length below 2, a missing length octet, or a
 * length running past the option bytes cannot be stepped over, so parsing stops there with
 * FN_WIRE_BAD_FORMAT and what was already parsed kept (RFC 9293 §3.1, "must be prepared to
 * handle an illegal option length").  A known option whose length is wrong for its kind but
 * stays inside the bytes is skipped like an unknown one: its value cannot be trusted, but
 * the options after it can still be found.  A repeated option overrides the earlier one.
 */
#include "wire/fn_wire.h"

#include <string.h>

static inline uint16_t rd16(const uint8_t *b)
{
    return (uint16_t)(b[0] << 8 | b[1]);
}

static inline uint32_t rd32(const uint8_t *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

enum fn_wire_err fn_tcp_parse(const uint8_t *p, size_t len, struct fn_tcp_info *out)
{
    if (len < FN_TCP_HLEN)
        return FN_WIRE_TRUNCATED;
    out->hlen = (uint8_t)((p[12] >> 4) * 4);
    if (out->hlen < FN_TCP_HLEN || out->hlen > len)
        return FN_WIRE_BAD_HLEN;
    out->sport = rd16(p);
    out->dport = rd16(p + 2);
    out->seq = rd32(p + 4);
    out->ack = rd32(p + 8);
    /* The low nibble of byte 12 holds reserved bits (and the obsolete NS bit, RFC 8311);
     * fastnet does not use them. */
    out->flags = p[13];
    out->win = rd16(p + 14);
    memcpy(&out->csum, p + 16, 2);
    out->urp = rd16(p + 18);
    out->opts = p + FN_TCP_HLEN;
    out->opts_len = out->hlen - FN_TCP_HLEN;
    out->payload = p + out->hlen;
    out->payload_len = (uint32_t)(len - out->hlen);
    return FN_WIRE_OK;
}

enum fn_wire_err fn_tcp_opts_parse(const uint8_t *opts, size_t len, struct fn_tcp_opts *out)
{
    size_t i = 0;

    memset(out, 0, sizeof *out);
    /* The layout of every segment of a connection with timestamps and no SACK blocks
     * (RFC 7323 Appendix A: NOP, NOP, TS): recognised by its first four bytes, so the
     * common case skips the walk below.  Anything else takes the walk. */
    if (len == 12 && opts[0] == FN_TCPOPT_NOP && opts[1] == FN_TCPOPT_NOP &&
        opts[2] == FN_TCPOPT_TIMESTAMP && opts[3] == 10) {
        out->has_ts = 1;
        out->tsval = rd32(opts + 4);
        out->tsecr = rd32(opts + 8);
        return FN_WIRE_OK;
    }
    while (i < len) {
        uint8_t kind = opts[i];

        if (kind == FN_TCPOPT_EOL)
            break;
        if (kind == FN_TCPOPT_NOP) {
            i++;
            continue;
        }
        if (len - i < 2)
            return FN_WIRE_BAD_FORMAT;

        uint8_t olen = opts[i + 1];
        const uint8_t *v = opts + i + 2;

        if (olen < 2 || olen > len - i)
            return FN_WIRE_BAD_FORMAT;
        switch (kind) {
        case FN_TCPOPT_MSS:             /* RFC 9293 §3.2 */
            if (olen == 4) {
                out->has_mss = 1;
                out->mss = rd16(v);
            }
            break;
        case FN_TCPOPT_WSCALE:          /* RFC 7323 §2.2 */
            if (olen == 3) {
                out->has_wscale = 1;
                out->wscale = v[0];
            }
            break;
        case FN_TCPOPT_SACK_PERM:       /* RFC 2018 §2 */
            if (olen == 2)
                out->sack_permitted = 1;
            break;
        case FN_TCPOPT_SACK:            /* RFC 2018 §3: 2 + 8n octets, n = 1..4 */
            if (olen >= 10 && olen <= 34 && (olen - 2) % 8 == 0) {
                out->nsack = (uint8_t)((olen - 2) / 8);
                for (unsigned b = 0; b < out->nsack; b++) {
                    out->sack[b][0] = rd32(v + 8 * b);
                    out->sack[b][1] = rd32(v + 8 * b + 4);
                }
            }
            break;
        case FN_TCPOPT_TIMESTAMP:       /* RFC 7323 §3.2 */
            if (olen == 10) {
                out->has_ts = 1;
                out->tsval = rd32(v);
                out->tsecr = rd32(v + 4);
            }
            break;
        default:
            break;
        }
        i += olen;
    }
    return FN_WIRE_OK;
}
