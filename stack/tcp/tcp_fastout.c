/*
 * tcp_fastout.c — handing a connection's segments to the link with a prebuilt header: the
 * Ethernet and IPv4 header every segment of a connection carries, built once with the
 * canonical emitters and kept in the tcpcb together with its next hop's ARP entry.
 *
 * Contract: tcp_ip_output(tp, pkt, now) takes pkt (the TCP header and payload at pkt->data,
 * checksummed) and always consumes it.  When the remembered ARP entry would be used as it is
 * by fn_arp_resolve_pkt (no probe due, nothing to queue), the segment fits the MTU and the
 * pkt has the headroom, it prepends the header, fills in total length, identification and
 * header checksum (the sum of the fixed fields is kept with the header) and queues the frame
 * with fn_stack_tx — the same bytes and the same counters as fn_ip_output, without routing,
 * ARP lookup and header building per segment.  Anything else (no header yet, the entry
 * expired, STALE or gone, a broadcast next hop, too big) goes through fn_ip_output, after
 * which the entry is looked up again.  Fails only as fn_ip_output does (counted there).
 * Stack-owner core only; never allocates.
 */
#include <string.h>

#include "core/fn_stack_impl.h"
#include "net/fn_ip.h"
#include "net/fn_net.h"
#include "tcp/tcp_var.h"
#include "wire/fn_wire.h"

_Static_assert(TCP_L2L3_HLEN == FN_ETH_HLEN + FN_IPV4_HLEN, "Ethernet + IPv4 header");

/* What tcp_output asks of IP for every segment (RFC 9293 §3.7.1: DF, for PMTU discovery). */
static const struct fn_ip_out tcp_ip_out = {.proto = FN_IPPROTO_TCP, .df = 1};

/* Fold a sum of 16-bit big-endian words to 16 bits (RFC 1071 §4.1). */
static uint32_t fold16(uint32_t sum)
{
    sum = (sum & 0xffffu) + (sum >> 16);
    return (sum & 0xffffu) + (sum >> 16);
}

/* Build the header as fn_ip_output builds it for this connection's segments, with total
 * length, identification and checksum zero, and keep the sum of its IPv4 words. */
static void hdr_build(struct tcpcb *tp)
{
    static const uint8_t nomac[6];
    struct fn_stack *st = tp->t_stack;
    struct fn_ip_out o = tcp_ip_out;
    struct fn_ipv4_info h;
    uint8_t *ip = tp->t_l2hdr + FN_ETH_HLEN;
    uint32_t sum = 0;

    o.dst = tp->faddr;
    fn_ip_fill_hdr(st, &o, &h, 0);
    h.id = 0;
    fn_ipv4_emit(ip, &h);
    ip[10] = ip[11] = 0;
    for (uint32_t i = 0; i < FN_IPV4_HLEN; i += 2)
        sum += (uint32_t)ip[i] << 8 | ip[i + 1];
    tp->t_l3sum = fold16(sum);
    fn_eth_emit(tp->t_l2hdr, nomac, st->mac, FN_ETHERTYPE_IPV4);
}

/* After fn_ip_output: remember the next hop's ARP entry, if the segment went by ARP at all
 * (ether.c sends to broadcast next hops without it). */
static void hdr_learn(struct tcpcb *tp)
{
    struct fn_stack *st = tp->t_stack;
    uint32_t nh;

    if (fn_ip_nexthop(st, tp->faddr, &nh) != 0 || nh == 0xffffffffu ||
        (st->cfg.prefix_len < 31 && (nh & ~st->netmask) == ~st->netmask))
        return;
    tp->t_arp_slot = fn_arp_slot(st, nh);
    if (tp->t_arp_slot < 0)
        return;
    if (!tp->t_l2ok)
        hdr_build(tp);
    tp->t_nh = nh;
    tp->t_l2ok = 1;
}

void tcp_ip_output(struct tcpcb *tp, struct fn_pkt *pkt, uint64_t now)
{
    struct fn_stack *st = tp->t_stack;
    struct fn_ip_out o;

    if (tp->t_l2ok && FN_IPV4_HLEN + pkt->len <= st->mtu) {
        const uint8_t *mac = fn_arp_usable(st, tp->t_arp_slot, tp->t_nh, now);
        uint8_t *h = mac ? fn_pkt_push(pkt, TCP_L2L3_HLEN) : NULL;
        if (h) {
            uint32_t len = pkt->len - FN_ETH_HLEN, id = st->ip_id++;
            /* RFC 791 §3.1 header checksum: the kept sum plus the two fields that change. */
            uint32_t csum = ~fold16(tp->t_l3sum + len + id) & 0xffffu;
            memcpy(h, tp->t_l2hdr, TCP_L2L3_HLEN);
            memcpy(h, mac, 6);
            h[FN_ETH_HLEN + 2] = (uint8_t)(len >> 8);
            h[FN_ETH_HLEN + 3] = (uint8_t)len;
            h[FN_ETH_HLEN + 4] = (uint8_t)(id >> 8);
            h[FN_ETH_HLEN + 5] = (uint8_t)id;
            h[FN_ETH_HLEN + 10] = (uint8_t)(csum >> 8);
            h[FN_ETH_HLEN + 11] = (uint8_t)csum;
            st->stats.ip_tx++;
            fn_stack_tx(st, pkt, now);
            return;
        }
    }
    o = tcp_ip_out;
    o.dst = tp->faddr;
    fn_ip_output(st, pkt, &o, now);
    hdr_learn(tp);
}
