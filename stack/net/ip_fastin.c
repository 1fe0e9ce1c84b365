/*
 * ip_fastin.c — the common receive case in one step: a unicast Ethernet frame carrying an
 * IPv4 datagram without options, not a fragment, to our address, with a TCP segment whose
 * checksum is right.
 *
 * Contract: fn_ip_fast_plain() is called by fn_ether_input_batch for every frame that
 * tcp/tcp_fastin.c's steps (tried first) did not take, after the Ethernet receive counters.
 * It decides on a frame with reads only; if every check Ethernet input, IPv4 input and IP
 * delivery would make passes, it applies what those layers do to a
 * frame they pass on (l3_off, the pull of the Ethernet header, the trim to the IP total
 * length, ip_rx) and hands the segment to TCP with the same fn_ip_rx they would build,
 * consuming the frame; it returns 1.  Otherwise it returns 0 having changed and counted
 * nothing, and the layered path handles the frame — drops and their counters included (a
 * bad checksum is then computed a second time there).  So behaviour is that of the layered
 * path; only the cost differs.  Never allocates, cannot fail.  Stack-owner core only.
 */
#include <string.h>

#include "core/fn_stack_impl.h"
#include "net/fn_ip.h"
#include "net/fn_net.h"
#include "tcp/tcp_var.h"
#include "wire/fn_wire.h"

/* Every frame tcp_fastin.c does not take. */
int fn_ip_fast_plain(struct fn_stack *st, struct fn_pkt *pkt, uint64_t now)
{
    const struct fn_ip_proto *tcp = &st->protos[FN_IPPROTO_TCP];
    const uint8_t *f = pkt->data;
    struct fn_ip_rx rx;

    /* Ethernet: long enough for the smallest segment, to our MAC (broadcasts take the
     * layered path), IPv4. */
    if (pkt->len < FN_ETH_HLEN + FN_IPV4_HLEN + FN_TCP_HLEN || !tcp->input ||
        f[12] != (FN_ETHERTYPE_IPV4 >> 8) || f[13] != (FN_ETHERTYPE_IPV4 & 0xff) ||
        memcmp(f, st->mac, 6) != 0)
        return 0;
    /* IPv4 (RFC 791, RFC 1122 §3.2.1.3 source checks), as fn_ipv4_input checks it. */
    if (!fn_ipv4_parse_plain(f + FN_ETH_HLEN, pkt->len - FN_ETH_HLEN, &rx.ip) ||
        rx.ip.proto != FN_IPPROTO_TCP || rx.ip.dst != st->cfg.ip ||
        rx.ip.total_len < FN_IPV4_HLEN + FN_TCP_HLEN || !fn_ip_src_ok(st, rx.ip.src))
        return 0;
    rx.l4_len = rx.ip.total_len - FN_IPV4_HLEN;
    rx.pkt_flags = pkt->flags;
    /* RFC 9293 §3.1: the checksum covers the pseudo-header, unless the backend did it. */
    if (!(rx.pkt_flags & (FN_PKT_F_L4_CSUM_OK | FN_PKT_F_L4_CSUM_PARTIAL)) &&
        fn_csum_fold(fn_csum_partial(f + FN_ETH_HLEN + FN_IPV4_HLEN, rx.l4_len,
                                     fn_csum_pseudo(rx.ip.src, rx.ip.dst, FN_IPPROTO_TCP,
                                                    (uint16_t)rx.l4_len))) != 0)
        return 0;
    pkt->l3_off = FN_ETH_HLEN;
    fn_pkt_pull(pkt, FN_ETH_HLEN);
    pkt->len = rx.ip.total_len;     /* Ethernet padding beyond the datagram */
    st->stats.ip_rx++;
    rx.iph = pkt->data;
    rx.l4 = pkt->data + FN_IPV4_HLEN;
    rx.pkt = pkt;
    tcp->input(st, tcp->arg, &rx, now);
    return 1;
}
