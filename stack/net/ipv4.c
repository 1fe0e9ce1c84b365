/*
 * ipv4.c — IPv4 input validation and demultiplexing, routing, and output (RFC 791,
 * RFC 1122 §3.2–3.3).
 *
 * Contract: fn_ipv4_input() owns the packet it is given (data at the IPv4 header).  It drops
 * and counts — exactly one drop_* counter per dropped packet — anything malformed, not
 * addressed to our unicast address (broadcast and multicast included: we join no group and,
 * like Linux by default, do not answer broadcast pings), or from an impossible source; hands
 * fragments to reassembly; and delivers whole datagrams to the handler registered for their
 * protocol.  TCP and UDP checksums are verified here, once, for every transport.
 * Output routes (our subnet → direct, else the gateway), fragments when needed and passes
 * each packet to ether for ARP resolution.  Stack-owner core only.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "core/fn_stack_impl.h"
#include "net/fn_net.h"
#include "platform/fn_platform.h"
#include "wire/fn_wire.h"

static void udp_noport_input(struct fn_stack *st, void *arg, struct fn_ip_rx *rx,
                             uint64_t now);

void fn_ipv4_init(struct fn_stack *st)
{
    uint16_t id = 0;

    /* A random first IP ID: IDs of a restarted stack do not line up with old fragments
     * still sitting in a peer's reassembly queue. */
    if (fn_random_bytes(&id, sizeof(id)) != 0)
        id = 1;
    st->ip_id = id;
    st->icmp_credit_ns = 1000000000u;
    st->icmp_credit_at = 0;
    fn_ip_register(st, FN_IPPROTO_ICMP, fn_icmp_input, NULL, NULL);
    fn_ip_register(st, FN_IPPROTO_UDP, udp_noport_input, NULL, NULL);
}

void fn_ip_register(struct fn_stack *st, uint8_t proto, fn_ip_input_fn input,
                    fn_ip_ctlinput_fn ctlinput, void *arg)
{
    st->protos[proto].input = input;
    st->protos[proto].ctlinput = input ? ctlinput : NULL;
    st->protos[proto].arg = input ? arg : NULL;
}

uint32_t fn_ip_mtu(const struct fn_stack *st)
{
    return st->mtu;
}

/* RFC 1122 §3.2.1.3: a source must be a unicast address of someone else — not 0, not ours,
 * not loopback (127/8), not multicast/reserved (224/3 incl. 255.255.255.255), not our
 * subnet's broadcast address. */
int fn_ip_src_ok(const struct fn_stack *st, uint32_t src)
{
    uint8_t first = ((const uint8_t *)&src)[0];

    if (src == 0 || src == st->cfg.ip || first == 127 || first >= 224)
        return 0;
    if (st->cfg.prefix_len < 31 && (src & ~st->netmask) == ~st->netmask)
        return 0;
    return 1;
}

void fn_ipv4_input(struct fn_stack *st, struct fn_pkt *pkt, uint64_t now)
{
    struct fn_ipv4_info ip;
    struct fn_ip_rx rx;
    enum fn_wire_err err;

    st->stats.ip_rx++;
    err = fn_ipv4_parse(pkt->data, pkt->len, 1, &ip);
    if (err != FN_WIRE_OK) {
        switch (err) {
        case FN_WIRE_BAD_VERSION:
            st->stats.drop_ip_bad_version++;
            break;
        case FN_WIRE_BAD_HLEN:
            st->stats.drop_ip_bad_ihl++;
            break;
        case FN_WIRE_BAD_CSUM:
            st->stats.drop_ip_bad_csum++;
            break;
        default:            /* TRUNCATED, BAD_LEN: total length < IHL or beyond the frame */
            st->stats.drop_ip_truncated++;
            break;
        }
        fn_pkt_free(pkt);
        return;
    }
    /* Ethernet pads short frames to 60 bytes: the datagram ends at total_len. */
    pkt->len = ip.total_len;
    if (ip.dst != st->cfg.ip) {
        st->stats.drop_ip_not_for_us++;
        fn_pkt_free(pkt);
        return;
    }
    if (!fn_ip_src_ok(st, ip.src)) {
        st->stats.drop_ip_bad_src++;
        fn_pkt_free(pkt);
        return;
    }
    if (ip.mf || ip.frag_off != 0) {
        st->stats.frag_rx++;
        fn_reass_input(st, pkt, &ip, now);
        return;
    }
    rx.ip = ip;
    rx.iph = pkt->data;
    rx.l4 = pkt->data + ip.hlen;
    rx.l4_len = ip.total_len - ip.hlen;
    rx.pkt = pkt;
    rx.pkt_flags = pkt->flags;
    fn_ip_deliver(st, &rx, now);
}

/* TCP/UDP: the fixed header is there and the checksum (RFC 9293 §3.1, RFC 768) verifies.
 * Frames whose checksum the backend already verified, or that never left this host with an
 * unfinished checksum (veth offload, FN_PKT_F_L4_CSUM_PARTIAL), are trusted. */
static int l4_ok(struct fn_stack *st, const struct fn_ip_rx *rx)
{
    uint32_t sum;

    if (rx->ip.proto == FN_IPPROTO_UDP) {
        struct fn_udp_info u;
        if (fn_udp_parse(rx->l4, rx->l4_len, &u) != FN_WIRE_OK) {
            st->stats.drop_l4_truncated++;
            return 0;
        }
        if (u.csum == 0)
            return 1;           /* RFC 768: the sender computed no checksum */
    } else if (rx->l4_len < FN_TCP_HLEN) {
        st->stats.drop_l4_truncated++;
        return 0;
    }
    if (rx->pkt_flags & (FN_PKT_F_L4_CSUM_OK | FN_PKT_F_L4_CSUM_PARTIAL))
        return 1;
    sum = fn_csum_pseudo(rx->ip.src, rx->ip.dst, rx->ip.proto, (uint16_t)rx->l4_len);
    sum = fn_csum_partial(rx->l4, rx->l4_len, sum);
    if (fn_csum_fold(sum) == 0)
        return 1;
    st->stats.drop_l4_bad_csum++;
    if (!st->warned_l4_csum) {
        char a[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &rx->ip.src, a, sizeof(a));
        fn_log(FN_LOG_WARN,
               "dropping %s packets from %s with bad checksums: the peer probably has "
               "transmit checksum offload on (on a veth or TAP peer: ethtool -K DEV tx off); "
               "counted in drop_l4_bad_csum, logged once",
               rx->ip.proto == FN_IPPROTO_TCP ? "TCP" : "UDP", a);
        st->warned_l4_csum = 1;
    }
    return 0;
}

void fn_ip_deliver(struct fn_stack *st, struct fn_ip_rx *rx, uint64_t now)
{
    const struct fn_ip_proto *p = &st->protos[rx->ip.proto];

    if (!p->input) {
        st->stats.drop_ip_unknown_proto++;
        /* RFC 1122 §3.2.2.1: protocol unreachable.  TCP is the exception while no TCP is
         * registered: answering segments is TCP's own job (a RST), not ICMP's. */
        if (rx->ip.proto != FN_IPPROTO_TCP)
            fn_icmp_error(st, rx, FN_ICMP_UNREACH, FN_ICMP_UNREACH_PROTO, 0, now);
        fn_pkt_free(rx->pkt);
        return;
    }
    if ((rx->ip.proto == FN_IPPROTO_TCP || rx->ip.proto == FN_IPPROTO_UDP) && !l4_ok(st, rx)) {
        fn_pkt_free(rx->pkt);
        return;
    }
    p->input(st, p->arg, rx, now);
}

/* The UDP handler while there are no UDP sockets: every port is closed (RFC 1122 §4.1.3.1). */
static void udp_noport_input(struct fn_stack *st, void *arg, struct fn_ip_rx *rx,
                             uint64_t now)
{
    (void)arg;
    st->stats.udp_rx++;
    st->stats.udp_no_port++;
    fn_icmp_error(st, rx, FN_ICMP_UNREACH, FN_ICMP_UNREACH_PORT, 0, now);
    fn_pkt_free(rx->pkt);
}

/* Next hop for dst: on our subnet the destination itself, else the gateway. */
int fn_ip_nexthop(const struct fn_stack *st, uint32_t dst, uint32_t *nh)
{
    /* 0 is no destination; our own address would need a loopback we do not have. */
    if (dst == 0 || dst == st->cfg.ip)
        return -ENETUNREACH;
    if (dst == 0xffffffffu || (dst & st->netmask) == (st->cfg.ip & st->netmask)) {
        *nh = dst;
        return 0;
    }
    if (st->cfg.gateway) {
        *nh = st->cfg.gateway;
        return 0;
    }
    return -ENETUNREACH;
}

static int ip_route(struct fn_stack *st, uint32_t dst, uint32_t *nh)
{
    int rc = fn_ip_nexthop(st, dst, nh);

    if (rc)
        st->stats.drop_ip_no_route++;
    return rc;
}

void fn_ip_fill_hdr(struct fn_stack *st, const struct fn_ip_out *o, struct fn_ipv4_info *h,
                    uint32_t total_len)
{
    memset(h, 0, sizeof(*h));
    h->hlen = FN_IPV4_HLEN;
    h->tos = o->tos;
    h->total_len = (uint16_t)total_len;
    h->id = st->ip_id;
    h->df = o->df ? 1 : 0;
    h->ttl = o->ttl ? o->ttl : st->cfg.default_ttl;
    h->proto = o->proto;
    h->src = o->src ? o->src : st->cfg.ip;
    h->dst = o->dst;
}

int fn_ip_output(struct fn_stack *st, struct fn_pkt *pkt, const struct fn_ip_out *o,
                 uint64_t now)
{
    struct fn_ipv4_info h;
    struct fn_iov iov;
    uint32_t nh;
    int rc;

    if (pkt->len > FN_IP_MAXPACKET - FN_IPV4_HLEN) {
        fn_pkt_free(pkt);
        return -EINVAL;
    }
    rc = ip_route(st, o->dst, &nh);
    if (rc) {
        fn_pkt_free(pkt);
        return rc;
    }
    if (FN_IPV4_HLEN + pkt->len <= st->mtu &&
        fn_pkt_headroom(pkt) >= FN_IPV4_HLEN + FN_ETH_HLEN) {
        uint8_t *p = fn_pkt_push(pkt, FN_IPV4_HLEN);
        fn_ip_fill_hdr(st, o, &h, pkt->len);
        st->ip_id++;
        fn_ipv4_emit(p, &h);
        st->stats.ip_tx++;
        fn_ether_output_ip(st, pkt, nh, now);
        return 0;
    }
    if (FN_IPV4_HLEN + pkt->len > st->mtu && o->df) {
        st->stats.drop_ip_df_too_big++;
        fn_pkt_free(pkt);
        return -EMSGSIZE;
    }
    /* Too big for one frame, or no headroom: copy into fresh MTU-sized packets. */
    iov.base = pkt->data;
    iov.len = pkt->len;
    rc = fn_ip_frag_output(st, o, nh, &iov, 1, pkt->len, now);
    fn_pkt_free(pkt);
    return rc;
}

int fn_ip_output_iov(struct fn_stack *st, const struct fn_ip_out *o, const struct fn_iov *iov,
                     int iovcnt, uint64_t now)
{
    uint32_t total = 0, nh;
    int rc;

    for (int i = 0; i < iovcnt; i++) {
        if (iov[i].len > FN_IP_MAXPACKET)
            return -EINVAL;
        total += iov[i].len;
    }
    if (total > FN_IP_MAXPACKET - FN_IPV4_HLEN)
        return -EINVAL;
    rc = ip_route(st, o->dst, &nh);
    if (rc)
        return rc;
    if (FN_IPV4_HLEN + total > st->mtu && o->df) {
        st->stats.drop_ip_df_too_big++;
        return -EMSGSIZE;
    }
    return fn_ip_frag_output(st, o, nh, iov, iovcnt, total, now);
}
