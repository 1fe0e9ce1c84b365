/*
 * ether.c — Ethernet II input demultiplexing and output framing.
 *
 * Contract: fn_ether_input() owns the frame it is given: it is passed on to ARP or IPv4 with
 * data advanced to the L3 header (pkt->l3_off records the 14 bytes pulled), or freed and
 * counted.  We accept frames addressed to our MAC and to broadcast; multicast is not joined,
 * so it is dropped (drop_eth_not_for_us).  802.1Q tags are not handled: a VLAN-tagged frame
 * counts as drop_eth_unknown_type.  Output prepends the 14-byte header in the headroom and
 * queues the frame on the stack's tx queue.  Stack-owner core only.
 */
#include <string.h>

#include "core/fn_stack_impl.h"
#include "net/fn_net.h"
#include "tcp/tcp_var.h"
#include "wire/fn_wire.h"

static const uint8_t eth_bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

/* A frame neither tcp/tcp_fastin.c's steps nor ip_fastin.c take: the layered path. */
static void ether_demux(struct fn_stack *st, struct fn_pkt *pkt, uint64_t now)
{
    struct fn_eth_info eth;

    if (fn_eth_parse(pkt->data, pkt->len, &eth) != FN_WIRE_OK) {
        st->stats.drop_eth_truncated++;
        fn_pkt_free(pkt);
        return;
    }
    if (memcmp(eth.dst, st->mac, 6) != 0 && !fn_eth_is_broadcast(eth.dst)) {
        st->stats.drop_eth_not_for_us++;
        fn_pkt_free(pkt);
        return;
    }
    pkt->l3_off = (uint16_t)eth.hlen;
    fn_pkt_pull(pkt, eth.hlen);
    switch (eth.type) {
    case FN_ETHERTYPE_IPV4:
        fn_ipv4_input(st, pkt, now);
        break;
    case FN_ETHERTYPE_ARP:
        fn_arp_input(st, pkt, now);
        break;
    default:
        st->stats.drop_eth_unknown_type++;
        fn_pkt_free(pkt);
        break;
    }
}

/* The common frames first, in one step each, without a call per layer: a run of pure ACKs
 * of the cached flow (tcp_fast_acks checks their Ethernet headers itself), in-order data of
 * it (tcp_fast_data likewise), a plain TCP segment for us (ip_fastin.c); then the layered
 * path.  The counters are those of fn_ether_input's first lines for every frame. */
void fn_ether_input_batch(struct fn_stack *st, struct fn_pkt **v, int n, uint64_t now)
{
    int i = 0;

    while (i < n) {
        struct fn_pkt *pkt = v[i];
        uint32_t len = pkt->len;

        if (len == TCP_FASTACK_FRAME_LEN) {
            int slow, k = tcp_fast_acks(st, v + i, n - i, now, &slow);

            st->stats.eth_rx += (uint64_t)k;
            st->stats.eth_rx_bytes += (uint64_t)k * TCP_FASTACK_FRAME_LEN;
            i += k;
            if (!slow)
                continue;       /* k > 0: the frames after the run are looked at again */
            pkt = v[i];         /* not a pure ACK the fast step takes: the layered path */
            len = pkt->len;
        }
        i++;
        st->stats.eth_rx++;
        st->stats.eth_rx_bytes += len;
        if (len > TCP_FASTACK_FRAME_LEN && tcp_fast_data(st, pkt, now))
            continue;
        if (!fn_ip_fast_plain(st, pkt, now))
            ether_demux(st, pkt, now);
    }
}

void fn_ether_input(struct fn_stack *st, struct fn_pkt *pkt, uint64_t now)
{
    fn_ether_input_batch(st, &pkt, 1, now);
}

void fn_ether_send(struct fn_stack *st, struct fn_pkt *pkt, const uint8_t dst[6],
                   uint16_t type, uint64_t now)
{
    uint8_t *h = fn_pkt_push(pkt, FN_ETH_HLEN);

    if (!h) {
        st->stats.drop_nobuf++;
        fn_pkt_free(pkt);
        return;
    }
    fn_eth_emit(h, dst, st->mac, type);
    fn_stack_tx(st, pkt, now);
}

/* Limited broadcast, or the directed broadcast of our subnet (RFC 1122 §3.2.1.3): sent to the
 * Ethernet broadcast address without ARP. */
static int is_broadcast_ip(const struct fn_stack *st, uint32_t ip)
{
    if (ip == 0xffffffffu)
        return 1;
    return st->cfg.prefix_len < 31 && (ip & ~st->netmask) == ~st->netmask;
}

void fn_ether_output_ip(struct fn_stack *st, struct fn_pkt *pkt, uint32_t nh, uint64_t now)
{
    uint8_t mac[6];

    if (is_broadcast_ip(st, nh)) {
        fn_ether_send(st, pkt, eth_bcast, FN_ETHERTYPE_IPV4, now);
        return;
    }
    if (fn_arp_resolve_pkt(st, nh, pkt, mac, now))
        fn_ether_send(st, pkt, mac, FN_ETHERTYPE_IPV4, now);
}
