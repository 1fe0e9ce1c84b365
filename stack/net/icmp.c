/*
 * icmp.c — ICMP for a host (RFC 792, RFC 1122 §3.2.2): echo, errors in and out.
 *
 * Contract: registered by fn_stack_create as the handler of IP protocol 1; consumes the
 * datagram it is given.  Echo requests (only ever to our unicast address: broadcast pings
 * are dropped by ipv4_input) are answered with the same id, sequence and data; a plain
 * request is answered in its own buffer, a reassembled one is copied and the reply
 * fragmented.  Echo replies are recorded in a small ring for fn_stack_ping_replies (the
 * oldest is overwritten; every echo reply to our address is recorded — ids are not matched
 * against the requests sent, the caller does that).  Destination unreachable, time exceeded and parameter problem are
 * validated (the quote must hold an IPv4 header that we sent and 8 bytes of its transport
 * header, RFC 1122 §3.2.2) and passed to the ctlinput of the quoted protocol.  Other types
 * (redirect, source quench — RFC 6633, timestamp, ...) are dropped as drop_icmp_unhandled.
 * Errors we send are rate-limited by a token bucket (cfg.icmp_err_rate_per_s, a burst of at
 * most one second's worth; 0 = never send errors).  Stack-owner core only.
 */
#include <errno.h>
#include <string.h>

#include "core/fn_stack_impl.h"
#include "net/fn_net.h"
#include "wire/fn_wire.h"

#define NS_PER_S 1000000000u
/* RFC 1812 §4.3.2.3 / what Linux does: an error quotes as much as fits in 576 bytes. */
#define FN_ICMP_ERR_MAX 576u

/* Write an 8-byte ICMP header into hdr whose checksum covers hdr and payload (which need not
 * follow it in memory). */
static void icmp_hdr(uint8_t hdr[8], uint8_t type, uint8_t code, uint32_t rest,
                     const void *payload, uint32_t len)
{
    uint32_t sum;
    uint16_t c;

    fn_icmp_emit(hdr, type, code, rest, 0);
    hdr[2] = hdr[3] = 0;
    sum = fn_csum_partial(hdr, FN_ICMP_HLEN, 0);
    if (len > 0)
        sum = fn_csum_partial(payload, len, sum);
    c = fn_csum_fold(sum);
    memcpy(hdr + 2, &c, 2);
}

static int is_error_type(uint8_t type)
{
    return type == FN_ICMP_UNREACH || type == FN_ICMP_SOURCE_QUENCH || type == 5 ||
           type == FN_ICMP_TIME_EXCEEDED || type == FN_ICMP_PARAM_PROB;
}

static void echo_reply(struct fn_stack *st, struct fn_ip_rx *rx, const struct fn_icmp_info *ic,
                       uint64_t now)
{
    struct fn_ip_out o = {.dst = rx->ip.src, .proto = FN_IPPROTO_ICMP, .tos = rx->ip.tos};
    uint32_t rest = (uint32_t)ic->id << 16 | ic->seq;
    int rc;

    if (rx->pkt) {
        /* Turn the request around in its own buffer: same id, seq and data (RFC 792). */
        struct fn_pkt *pkt = rx->pkt;
        fn_pkt_pull(pkt, rx->ip.hlen);
        fn_icmp_emit(pkt->data, FN_ICMP_ECHO_REPLY, 0, rest, ic->payload_len);
        rc = fn_ip_output(st, pkt, &o, now);
    } else {
        uint8_t hdr[FN_ICMP_HLEN];
        struct fn_iov iov[2];
        icmp_hdr(hdr, FN_ICMP_ECHO_REPLY, 0, rest, ic->payload, ic->payload_len);
        iov[0].base = hdr;
        iov[0].len = FN_ICMP_HLEN;
        iov[1].base = ic->payload;
        iov[1].len = ic->payload_len;
        rc = fn_ip_output_iov(st, &o, iov, 2, now);
    }
    if (rc == 0) {
        st->stats.icmp_tx++;
        st->stats.icmp_echo_replied++;
    }
}

static void error_input(struct fn_stack *st, struct fn_ip_rx *rx, const struct fn_icmp_info *ic,
                        uint64_t now)
{
    const uint8_t *q = ic->payload;
    uint32_t qlen = ic->payload_len, hl;
    uint8_t hdr[FN_IPV4_MAX_HLEN];
    struct fn_icmp_err e;
    const struct fn_ip_proto *p;

    st->stats.icmp_err_rx++;
    /* The quote: an IPv4 header and at least 8 bytes of what followed (RFC 792).  It may be
     * cut short, so its total length cannot be checked against the bytes: parse a copy of
     * the header whose total length is patched to cover the header alone. */
    if (qlen < FN_IPV4_HLEN + 8 || (q[0] >> 4) != 4) {
        st->stats.drop_icmp_malformed++;
        return;
    }
    hl = (uint32_t)(q[0] & 0x0f) * 4;
    if (hl < FN_IPV4_HLEN || qlen < hl + 8) {
        st->stats.drop_icmp_malformed++;
        return;
    }
    memcpy(hdr, q, hl);
    hdr[2] = (uint8_t)(hl >> 8);
    hdr[3] = (uint8_t)hl;
    memset(&e, 0, sizeof(e));
    if (fn_ipv4_parse(hdr, hl, 0, &e.qip) != FN_WIRE_OK || e.qip.src != st->cfg.ip ||
        e.qip.frag_off != 0) {
        /* Not about a datagram we sent, or about a non-initial fragment (no ports). */
        st->stats.drop_icmp_malformed++;
        return;
    }
    e.qip.total_len = (uint16_t)(q[2] << 8 | q[3]);
    p = &st->protos[e.qip.proto];
    if (!p->ctlinput) {
        st->stats.drop_icmp_unhandled++;
        return;
    }
    e.type = ic->type;
    e.code = ic->code;
    e.next_mtu = ic->type == FN_ICMP_UNREACH && ic->code == FN_ICMP_UNREACH_NEEDFRAG
                     ? ic->next_mtu : 0;
    e.pointer = ic->type == FN_ICMP_PARAM_PROB ? rx->l4[4] : 0;
    e.from = rx->ip.src;
    e.ql4 = q + hl;
    e.ql4_len = qlen - hl;
    st->stats.icmp_err_delivered++;
    p->ctlinput(st, p->arg, &e, now);
}

void fn_icmp_input(struct fn_stack *st, void *arg, struct fn_ip_rx *rx, uint64_t now)
{
    struct fn_icmp_info ic;
    enum fn_wire_err err;

    (void)arg;
    st->stats.icmp_rx++;
    err = fn_icmp_parse(rx->l4, rx->l4_len, 1, &ic);
    if (err != FN_WIRE_OK) {
        if (err == FN_WIRE_BAD_CSUM)
            st->stats.drop_icmp_bad_csum++;
        else
            st->stats.drop_icmp_malformed++;
        fn_pkt_free(rx->pkt);
        return;
    }
    switch (ic.type) {
    case FN_ICMP_ECHO:
        if (ic.code != 0) {
            st->stats.drop_icmp_malformed++;
            break;
        }
        echo_reply(st, rx, &ic, now);
        return;         /* the request's packet became the reply (or was consumed) */
    case FN_ICMP_ECHO_REPLY:
        st->ping_ids[st->ping_head] = ic.id;
        st->ping_seqs[st->ping_head] = ic.seq;
        st->ping_head = (st->ping_head + 1) % FN_PING_RING;
        if (st->ping_count < FN_PING_RING)
            st->ping_count++;
        break;
    case FN_ICMP_UNREACH:
    case FN_ICMP_TIME_EXCEEDED:
    case FN_ICMP_PARAM_PROB:
        error_input(st, rx, &ic, now);
        break;
    default:
        st->stats.drop_icmp_unhandled++;
        break;
    }
    fn_pkt_free(rx->pkt);
}

/* Token bucket (RFC 1812 §4.3.2.8 / RFC 1122 §3.2.2 encourage limiting error rates). */
static int icmp_err_allowed(struct fn_stack *st, uint64_t now)
{
    uint64_t cost;

    if (st->cfg.icmp_err_rate_per_s == 0)
        return 0;
    if (now > st->icmp_credit_at) {
        uint64_t add = now - st->icmp_credit_at;
        st->icmp_credit_ns = add >= NS_PER_S - st->icmp_credit_ns ? NS_PER_S
                                                                  : st->icmp_credit_ns + add;
    }
    st->icmp_credit_at = now;
    cost = NS_PER_S / st->cfg.icmp_err_rate_per_s;
    if (st->icmp_credit_ns < cost)
        return 0;
    st->icmp_credit_ns -= cost;
    return 1;
}

void fn_icmp_error(struct fn_stack *st, const struct fn_ip_rx *rx, uint8_t type, uint8_t code,
                   uint16_t next_mtu, uint64_t now)
{
    struct fn_ip_out o = {.dst = rx->ip.src, .proto = FN_IPPROTO_ICMP};
    uint8_t hdr[FN_ICMP_HLEN];
    struct fn_iov iov[2];
    uint32_t qlen = rx->ip.hlen + rx->l4_len;
    uint32_t rest = 0;

    /* RFC 1122 §3.2.2: never about an ICMP error, nor about a non-initial fragment.  (The
     * other exclusions — broadcast/multicast destination, bad source — never reach here.) */
    if (rx->ip.frag_off != 0)
        return;
    if (rx->ip.proto == FN_IPPROTO_ICMP && (rx->l4_len < 1 || is_error_type(rx->l4[0])))
        return;
    if (!icmp_err_allowed(st, now)) {
        st->stats.icmp_err_rate_limited++;
        return;
    }
    if (qlen > FN_ICMP_ERR_MAX - FN_IPV4_HLEN - FN_ICMP_HLEN)
        qlen = FN_ICMP_ERR_MAX - FN_IPV4_HLEN - FN_ICMP_HLEN;
    if (type == FN_ICMP_UNREACH && code == FN_ICMP_UNREACH_NEEDFRAG)
        rest = next_mtu;    /* RFC 1191 §4: next-hop MTU in the low 16 bits */
    icmp_hdr(hdr, type, code, rest, rx->iph, qlen);
    iov[0].base = hdr;
    iov[0].len = FN_ICMP_HLEN;
    iov[1].base = rx->iph;
    iov[1].len = qlen;
    if (fn_ip_output_iov(st, &o, iov, 2, now) == 0)
        st->stats.icmp_tx++;
}

int fn_icmp_echo(struct fn_stack *st, uint32_t dst, uint16_t id, uint16_t seq,
                 const void *payload, uint32_t len, uint64_t now)
{
    struct fn_ip_out o = {.dst = dst, .proto = FN_IPPROTO_ICMP};
    uint8_t hdr[FN_ICMP_HLEN];
    struct fn_iov iov[2];
    int rc;

    if (len > 65535u - FN_IPV4_HLEN - FN_ICMP_HLEN || (len > 0 && !payload))
        return -EINVAL;
    icmp_hdr(hdr, FN_ICMP_ECHO, 0, (uint32_t)id << 16 | seq, payload, len);
    iov[0].base = hdr;
    iov[0].len = FN_ICMP_HLEN;
    iov[1].base = payload;
    iov[1].len = len;
    rc = fn_ip_output_iov(st, &o, iov, 2, now);
    if (rc == 0)
        st->stats.icmp_tx++;
    return rc;
}
