/*
 * ipv4.c — IPv4 header (RFC 791) view and emitter.
 *
 * Contract: pure; any core.  fn_ipv4_parse checks, in this order, and fails with:
 *   FN_WIRE_TRUNCATED    fewer than 20 bytes;
 *   FN_WIRE_BAD_VERSION  version != 4;
 *   FN_WIRE_BAD_HLEN     IHL < 5, or IHL * 4 beyond the bytes available;
 *   FN_WIRE_BAD_LEN      total length < IHL * 4, or beyond the bytes available (bytes after
 *                        total length are link padding and are allowed);
 *   FN_WIRE_BAD_CSUM     (verify_csum only) the header checksum does not verify.
 * Structure is validated before integrity so that a damaged length field is reported as
 * such.  Options are not interpreted: they are hlen - 20 bytes after the fixed header, and
 * the IPv4 layer decides what to do with them.  The reserved flag bit is ignored.
 */
#include "wire/fn_wire.h"

#include <string.h>

static inline uint16_t rd16(const uint8_t *b)
{
    return (uint16_t)(b[0] << 8 | b[1]);
}

/* fn_csum over an IPv4 header.  The option-less 20-byte header (nearly every packet) is
 * summed as five 32-bit words into 64 bits, where no carry can be lost, and folded: the same
 * one's-complement sum as fn_csum (RFC 1071) in a few instructions and no call. */
static inline uint16_t hdr_csum(const uint8_t *p, uint32_t hlen)
{
    uint32_t w[5];
    uint64_t s;

    if (hlen != FN_IPV4_HLEN)
        return fn_csum(p, hlen);
    memcpy(w, p, sizeof w);
    s = (uint64_t)w[0] + w[1] + w[2] + w[3] + w[4];
    s = (s & 0xffffffffu) + (s >> 32);
    s = (s & 0xffffffffu) + (s >> 32);
    return fn_csum_fold((uint32_t)s);
}

enum fn_wire_err fn_ipv4_parse(const uint8_t *p, size_t len, int verify_csum,
                               struct fn_ipv4_info *out)
{
    if (len < FN_IPV4_HLEN)
        return FN_WIRE_TRUNCATED;
    if (p[0] >> 4 != 4)
        return FN_WIRE_BAD_VERSION;
    out->hlen = (uint8_t)((p[0] & 0x0f) * 4);
    if (out->hlen < FN_IPV4_HLEN || out->hlen > len)
        return FN_WIRE_BAD_HLEN;
    out->total_len = rd16(p + 2);
    if (out->total_len < out->hlen || out->total_len > len)
        return FN_WIRE_BAD_LEN;
    /* RFC 791 §3.1 "Header Checksum": the sum over the header including the stored
     * checksum is all ones, i.e. the folded complement is zero. */
    if (verify_csum && hdr_csum(p, out->hlen) != 0)
        return FN_WIRE_BAD_CSUM;

    uint16_t frag = rd16(p + 6);

    out->tos = p[1];
    out->id = rd16(p + 4);
    out->df = (frag & FN_IP_DF) != 0;
    out->mf = (frag & FN_IP_MF) != 0;
    /* The offset field counts 8-octet units (RFC 791 §3.1); 0x1fff * 8 fits 16 bits. */
    out->frag_off = (uint16_t)((frag & FN_IP_OFFMASK) * 8u);
    out->ttl = p[8];
    out->proto = p[9];
    memcpy(&out->src, p + 12, 4);
    memcpy(&out->dst, p + 16, 4);
    return FN_WIRE_OK;
}

int fn_ipv4_parse_plain(const uint8_t *p, size_t len, struct fn_ipv4_info *out)
{
    uint16_t total, frag;

    /* Version 4 with IHL 5 in one compare; every other check as fn_ipv4_parse's. */
    if (len < FN_IPV4_HLEN || p[0] != 0x45)
        return 0;
    total = rd16(p + 2);
    frag = rd16(p + 6);
    if (total < FN_IPV4_HLEN || total > len || (frag & (FN_IP_MF | FN_IP_OFFMASK)) != 0 ||
        hdr_csum(p, FN_IPV4_HLEN) != 0)
        return 0;
    out->hlen = FN_IPV4_HLEN;
    out->tos = p[1];
    out->total_len = total;
    out->id = rd16(p + 4);
    out->frag_off = 0;
    out->df = (frag & FN_IP_DF) != 0;
    out->mf = 0;
    out->ttl = p[8];
    out->proto = p[9];
    memcpy(&out->src, p + 12, 4);
    memcpy(&out->dst, p + 16, 4);
    return 1;
}

void fn_ipv4_emit(uint8_t *p, const struct fn_ipv4_info *in)
{
    uint16_t frag = (uint16_t)((in->frag_off / 8u) & FN_IP_OFFMASK);
    uint16_t csum;

    if (in->df)
        frag |= FN_IP_DF;
    if (in->mf)
        frag |= FN_IP_MF;
    p[0] = 0x45;                /* version 4, IHL 5: no options */
    p[1] = in->tos;
    p[2] = (uint8_t)(in->total_len >> 8);
    p[3] = (uint8_t)in->total_len;
    p[4] = (uint8_t)(in->id >> 8);
    p[5] = (uint8_t)in->id;
    p[6] = (uint8_t)(frag >> 8);
    p[7] = (uint8_t)frag;
    p[8] = in->ttl;
    p[9] = in->proto;
    p[10] = 0;                  /* the checksum is computed with its own field zero */
    p[11] = 0;
    memcpy(p + 12, &in->src, 4);
    memcpy(p + 16, &in->dst, 4);
    csum = hdr_csum(p, FN_IPV4_HLEN);
    memcpy(p + 10, &csum, 2);
}
