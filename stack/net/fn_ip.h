/*
 * fn_ip.h — the IPv4 layer as seen by transports (ICMP here; TCP and UDP sockets later).
 *
 * Contract: per-stack, single owner (the core that polls the stack); nothing locks.
 *
 * Input.  A transport registers, per IP protocol number, an input handler and optionally a
 * ctlinput handler (ICMP errors about datagrams it sent).  ipv4_input has already verified
 * the IPv4 header, that the datagram is addressed to our unicast address from a sane source,
 * reassembled fragments, and — for TCP and UDP — the L4 checksum (honouring
 * FN_PKT_F_L4_CSUM_OK/PARTIAL) and that at least the fixed L4 header (20 / 8 bytes) is there.
 * The handler owns rx->pkt (it must free or reuse it).  rx->pkt is NULL when the datagram came
 * out of a reassembly buffer: the bytes are then valid only during the call.
 *
 * Output.  Two entry points, both route (subnet → direct, else gateway), fragment when the
 * datagram exceeds the MTU (unless DF), resolve the next hop through ARP and append the frames
 * to the stack's tx queue (sent at the end of the poll iteration):
 *   fn_ip_output()      the L4 header + payload are already in a pkt at pkt->data with
 *                       headroom for IPv4 + Ethernet (FN_PKT_HEADROOM); consumes the pkt.
 *   fn_ip_output_iov()  the datagram body is given as (ptr, len) pieces, any total length up
 *                       to 65515; copied into as many MTU-sized pkts as needed.
 * Both return 0 (sent, or queued waiting for ARP) or a negative errno: -ENETUNREACH (no
 * route, counted drop_ip_no_route), -EMSGSIZE (DF and too big, drop_ip_df_too_big), -ENOBUFS
 * (pool empty, drop_nobuf), -EINVAL (body longer than 65515).
 */
#ifndef FASTNET_NET_FN_IP_H
#define FASTNET_NET_FN_IP_H

#include <stdint.h>

#include "fastnet/fn_pkt.h"
#include "wire/fn_wire.h"

struct fn_stack;

/* One received datagram, handed to a protocol's input handler. */
struct fn_ip_rx {
    struct fn_ipv4_info ip;     /* the parsed header; for a reassembled datagram total_len is
                                   the reassembled length and mf/frag_off are 0 */
    const uint8_t *iph;         /* the IPv4 header (ip.hlen bytes), immediately followed by l4 */
    uint8_t *l4;                /* the L4 bytes (header + payload) */
    uint32_t l4_len;            /* = ip.total_len - ip.hlen (Ethernet padding already trimmed) */
    struct fn_pkt *pkt;         /* owning packet (pkt->data == iph), or NULL if reassembled */
    uint16_t pkt_flags;         /* FN_PKT_F_* of the frame; 0 for a reassembled datagram */
};

/* One ICMP error about a datagram we sent (RFC 1122 §3.2.2, §4.2.3.9). */
struct fn_icmp_err {
    uint8_t type;               /* FN_ICMP_UNREACH, FN_ICMP_TIME_EXCEEDED, FN_ICMP_PARAM_PROB */
    uint8_t code;
    uint16_t next_mtu;          /* UNREACH/NEEDFRAG: next-hop MTU (RFC 1191), 0 if not given */
    uint8_t pointer;            /* PARAM_PROB: octet offset of the problem */
    uint32_t from;              /* who sent the ICMP error (network order) */
    struct fn_ipv4_info qip;    /* the quoted IPv4 header; qip.src is our address; total_len as
                                   the quote states it (the quote itself may be shorter) */
    const uint8_t *ql4;         /* quoted L4 bytes: ports / sequence number live here */
    uint32_t ql4_len;           /* >= 8 (validated) */
};

typedef void (*fn_ip_input_fn)(struct fn_stack *st, void *arg, struct fn_ip_rx *rx,
                               uint64_t now);
typedef void (*fn_ip_ctlinput_fn)(struct fn_stack *st, void *arg, const struct fn_icmp_err *e,
                                  uint64_t now);

/* Register (or with input == NULL, remove) the handlers of IP protocol proto.  ICMP (1) and
 * UDP (17, "no sockets": ICMP port unreachable) are registered by fn_stack_create; a later
 * registration replaces them.  ctlinput may be NULL. */
void fn_ip_register(struct fn_stack *st, uint8_t proto, fn_ip_input_fn input,
                    fn_ip_ctlinput_fn ctlinput, void *arg);

/* What fn_ip_output*() puts in the IPv4 header. */
struct fn_ip_out {
    uint32_t src;               /* network order; 0 = the stack's address */
    uint32_t dst;               /* network order */
    uint8_t proto;
    uint8_t tos;
    uint8_t ttl;                /* 0 = cfg.default_ttl */
    uint8_t df;                 /* 1 = set Don't Fragment (and never fragment) */
};

struct fn_iov {
    const void *base;
    uint32_t len;
};

int fn_ip_output(struct fn_stack *st, struct fn_pkt *pkt, const struct fn_ip_out *o,
                 uint64_t now);
int fn_ip_output_iov(struct fn_stack *st, const struct fn_ip_out *o, const struct fn_iov *iov,
                     int iovcnt, uint64_t now);

/* The next hop for dst (dst itself on our subnet, else the gateway): 0, or -ENETUNREACH.
 * Counts nothing: fn_ip_output counts drop_ip_no_route when it fails to route. */
int fn_ip_nexthop(const struct fn_stack *st, uint32_t dst, uint32_t *nh);

/* The L3 MTU in use (cfg.mtu, or the backend's). */
uint32_t fn_ip_mtu(const struct fn_stack *st);

/* Send an ICMP error about the datagram rx (RFC 1122 §3.2.2: never about an ICMP error, a
 * broadcast, or a non-initial fragment — rx is always a whole datagram to our unicast
 * address).  Rate-limited by cfg.icmp_err_rate_per_s; quotes the IP header and as much of the
 * datagram as fits in 576 bytes.  next_mtu is used for UNREACH/NEEDFRAG only. */
void fn_icmp_error(struct fn_stack *st, const struct fn_ip_rx *rx, uint8_t type, uint8_t code,
                   uint16_t next_mtu, uint64_t now);

#endif
