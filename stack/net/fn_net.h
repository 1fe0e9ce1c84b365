/*
 * fn_net.h — entry points between the net/ modules and core/ (internal).
 *
 * Contract: all functions take the owning stack and run on its core.  *_input functions own
 * the packet they are given (they free or forward it).  *_timer functions run due timers and
 * recompute their next_due; core calls them only when now >= next_due.
 */
#ifndef FASTNET_NET_FN_NET_H
#define FASTNET_NET_FN_NET_H

#include <stdint.h>

#include "fastnet/fn_pkt.h"
#include "net/fn_ip.h"

/* The largest IPv4 datagram (RFC 791: 16-bit total length). */
#define FN_IP_MAXPACKET 65535u

struct fn_stack;

/* ether.c */
void fn_ether_input(struct fn_stack *st, struct fn_pkt *pkt, uint64_t now);
/* fn_ether_input for v[0..n) in order (a receive batch), with the runs of pure ACKs one
 * step each (tcp_fast_acks). */
void fn_ether_input_batch(struct fn_stack *st, struct fn_pkt **v, int n, uint64_t now);
/* Prepend an Ethernet header (dst, our mac, type) to pkt (data at L3) and queue it for tx.
 * Consumes pkt; a pkt without headroom is dropped (drop_nobuf). */
void fn_ether_send(struct fn_stack *st, struct fn_pkt *pkt, const uint8_t dst[6],
                   uint16_t type, uint64_t now);
/* Send an IPv4 packet (data at the IPv4 header) to next hop nh: resolved → sent; else queued
 * on the ARP entry.  Consumes pkt. */
void fn_ether_output_ip(struct fn_stack *st, struct fn_pkt *pkt, uint32_t nh, uint64_t now);

/* arp.c */
int fn_arp_init(struct fn_stack *st);
void fn_arp_fini(struct fn_stack *st);
void fn_arp_input(struct fn_stack *st, struct fn_pkt *pkt, uint64_t now);
void fn_arp_timer(struct fn_stack *st, uint64_t now);
/* Resolve nh for pkt: returns 1 with mac filled (caller sends pkt), or 0 when pkt was taken
 * (queued or dropped). */
int fn_arp_resolve_pkt(struct fn_stack *st, uint32_t nh, struct fn_pkt *pkt, uint8_t mac[6],
                       uint64_t now);
void fn_arp_announce(struct fn_stack *st, uint64_t now);
/* For senders that remember their next hop's entry (TCP's per-connection output header):
 * the index of nh's entry, or -1 if it has none; and, for a remembered index, nh's MAC if
 * that entry still holds nh and fn_arp_resolve_pkt would use it right now with nothing
 * else to do (no probe due, nothing to queue) — else NULL, and the caller takes the
 * ordinary path. */
int32_t fn_arp_slot(const struct fn_stack *st, uint32_t nh);
const uint8_t *fn_arp_usable(const struct fn_stack *st, int32_t slot, uint32_t nh,
                             uint64_t now);

/* ipv4.c */
void fn_ipv4_input(struct fn_stack *st, struct fn_pkt *pkt, uint64_t now);
/* A source address we accept datagrams from (not 0, ours, loopback, multicast/class E or
 * our subnet's broadcast). */
int fn_ip_src_ok(const struct fn_stack *st, uint32_t src);
/* Hand a whole datagram to its protocol (also used by reassembly). */
void fn_ip_deliver(struct fn_stack *st, struct fn_ip_rx *rx, uint64_t now);
void fn_ipv4_init(struct fn_stack *st);
/* The 20-byte header fields for o, with the current IP ID (the caller advances st->ip_id). */
void fn_ip_fill_hdr(struct fn_stack *st, const struct fn_ip_out *o, struct fn_ipv4_info *h,
                    uint32_t total_len);

/* ip_fastin.c */
/* The frame (Ethernet header at pkt->data, already counted as received, and not taken by
 * tcp_fastin.c's steps) if it is a plain unicast TCP segment for us that Ethernet and IPv4
 * input would hand to TCP unchanged: does what they do and delivers it, returns 1.  Else 0
 * with nothing done or counted. */
int fn_ip_fast_plain(struct fn_stack *st, struct fn_pkt *pkt, uint64_t now);

/* ip_frag.c */
int fn_reass_init(struct fn_stack *st);
void fn_reass_fini(struct fn_stack *st);
/* pkt->data at the IPv4 header, len trimmed to total_len; info parsed.  Consumes pkt. */
void fn_reass_input(struct fn_stack *st, struct fn_pkt *pkt, const struct fn_ipv4_info *info,
                    uint64_t now);
void fn_reass_timer(struct fn_stack *st, uint64_t now);
/* Send a datagram body of total bytes (iov pieces) to next hop nh in as many packets as the
 * MTU needs (RFC 791 §3.2 fragmentation; one packet when it fits).  0 or -ENOBUFS. */
int fn_ip_frag_output(struct fn_stack *st, const struct fn_ip_out *o, uint32_t nh,
                      const struct fn_iov *iov, int iovcnt, uint32_t total, uint64_t now);

/* icmp.c */
void fn_icmp_input(struct fn_stack *st, void *arg, struct fn_ip_rx *rx, uint64_t now);
int fn_icmp_echo(struct fn_stack *st, uint32_t dst, uint16_t id, uint16_t seq,
                 const void *payload, uint32_t len, uint64_t now);

#endif
