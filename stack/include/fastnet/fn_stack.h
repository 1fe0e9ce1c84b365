/*
 * fn_stack.h — one stack instance (one core, one backend queue, one buffer pool).
 *
 * Contract: a stack is driven by its owner with fn_stack_poll(stack, now) — receive a batch,
 * run input, fire due timers, flush all output in one batch, kick the backend once.  Time is
 * injected (monotonic nanoseconds), so tests run it on a virtual clock.  A stack is not
 * thread-safe: exactly one thread owns it.  fn_stack_next_deadline() tells the owner how long
 * it may sleep on fn_stack_fd().
 */
#ifndef FASTNET_FN_STACK_H
#define FASTNET_FN_STACK_H

#include <stdint.h>
#include "fn_backend.h"
#include "fn_config.h"
#include "fn_pkt.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FN_MAX_BATCH 64

/* Per-core counters.  X(name, description): the one list, so C, Python and `fastnet stat`
 * never disagree about names. */
#define FN_STATS_FIELDS(X)                                                              \
    X(eth_rx, "frames received")                                                        \
    X(eth_rx_bytes, "bytes received")                                                   \
    X(eth_tx, "frames sent")                                                            \
    X(eth_tx_bytes, "bytes sent")                                                       \
    X(drop_eth_truncated, "dropped: frame shorter than an Ethernet header")             \
    X(drop_eth_not_for_us, "dropped: destination MAC neither ours nor broadcast")       \
    X(drop_eth_unknown_type, "dropped: ethertype not handled (not IPv4/ARP)")           \
    X(drop_nobuf, "dropped: no packet buffer")                                          \
    X(arp_rx, "ARP packets received")                                                   \
    X(arp_tx, "ARP packets sent")                                                       \
    X(arp_requests_answered, "ARP requests for our address answered")                   \
    X(arp_replies_learned, "ARP replies learned")                                       \
    X(arp_resolve_failed, "ARP resolutions given up")                                   \
    X(arp_queue_drops, "packets dropped waiting for ARP (queue full or failed)")        \
    X(arp_cache_full, "ARP cache full, entry not learned")                              \
    X(drop_arp_malformed, "dropped: ARP with bad lengths/types")                        \
    X(drop_arp_not_for_us, "dropped: ARP not about our address")                        \
    X(drop_arp_conflict, "dropped: ARP from another host claiming our address")         \
    X(ip_rx, "IPv4 packets received")                                                   \
    X(ip_tx, "IPv4 packets sent")                                                       \
    X(drop_ip_truncated, "dropped: IPv4 truncated or total length beyond frame")        \
    X(drop_ip_bad_version, "dropped: IP version not 4")                                 \
    X(drop_ip_bad_ihl, "dropped: IPv4 IHL < 5 or beyond packet")                        \
    X(drop_ip_bad_csum, "dropped: IPv4 header checksum")                                \
    X(drop_ip_bad_src, "dropped: IPv4 source is broadcast/multicast/ours")              \
    X(drop_ip_not_for_us, "dropped: IPv4 destination not ours")                         \
    X(drop_ip_no_route, "dropped on output: no route")                                  \
    X(drop_ip_unknown_proto, "dropped: IP protocol not handled")                        \
    X(drop_ip_df_too_big, "dropped on output: DF set and larger than MTU")              \
    X(frag_rx, "IPv4 fragments received")                                               \
    X(frag_reassembled, "IPv4 datagrams reassembled")                                   \
    X(frag_tx, "IPv4 fragments sent")                                                   \
    X(drop_frag_overlap, "dropped: overlapping fragments (datagram discarded)")         \
    X(drop_frag_dup, "dropped: exact duplicate of a fragment already held")             \
    X(drop_frag_too_big, "dropped: reassembled size beyond the limit")                  \
    X(drop_frag_too_many, "dropped: too many fragments or datagrams in reassembly")     \
    X(drop_frag_timeout, "dropped: reassembly timed out")                               \
    X(drop_frag_malformed, "dropped: fragment with bad offset/length")                  \
    X(icmp_rx, "ICMP messages received")                                                \
    X(icmp_tx, "ICMP messages sent")                                                    \
    X(icmp_echo_replied, "ICMP echo requests answered")                                 \
    X(icmp_err_rx, "ICMP errors received")                                              \
    X(icmp_err_delivered, "ICMP errors passed to a transport")                          \
    X(icmp_err_rate_limited, "ICMP errors not sent (rate limit)")                       \
    X(drop_icmp_bad_csum, "dropped: ICMP checksum")                                     \
    X(drop_icmp_malformed, "dropped: ICMP truncated or bad quoted header")              \
    X(drop_icmp_unhandled, "dropped: ICMP type, or quoted protocol, not handled")       \
    X(drop_l4_bad_csum, "dropped: TCP/UDP checksum (peer veth may have tx offload on)") \
    X(drop_l4_truncated, "dropped: TCP/UDP header truncated")                           \
    X(udp_rx, "UDP datagrams received")                                                 \
    X(udp_no_port, "UDP datagrams to no socket (ICMP port unreachable)")              \
    X(tcp_rx, "TCP segments received")                                                 \
    X(tcp_tx, "TCP segments sent")                                                     \
    X(tcp_rx_bytes, "TCP payload bytes received in order")                             \
    X(tcp_tx_bytes, "TCP payload bytes sent (incl. retransmissions)")                  \
    X(tcp_rx_malformed, "TCP segments dropped: bad header length")                     \
    X(tcp_rx_badopt, "TCP segments with an illegal option length (rest ignored)")      \
    X(tcp_rx_noport, "TCP segments to no connection or listener (RST sent unless RST)") \
    X(tcp_rx_dropped, "TCP segments dropped by the state machine")                     \
    X(tcp_rx_oow, "TCP segments outside the receive window")                           \
    X(tcp_rx_dup, "TCP segments entirely duplicate")                                   \
    X(tcp_rx_ooo, "TCP segments queued out of order")                                  \
    X(tcp_rx_reass_full, "TCP out-of-order segments dropped: reassembly queue full")   \
    X(tcp_rx_rcvbuf_full, "TCP data beyond the receive buffer dropped")                \
    X(tcp_rx_paws, "TCP segments dropped by PAWS (RFC 7323)")                          \
    X(tcp_rx_hdrpred_ack, "TCP pure ACKs taken by header prediction")                  \
    X(tcp_rx_fastack, "of those and of the data below, taken in one step (fast path)") \
    X(tcp_rx_hdrpred_data, "TCP data segments taken by header prediction")             \
    X(tcp_rx_dupack, "TCP duplicate ACKs received")                                    \
    X(tcp_rst_tx, "TCP RSTs sent")                                                     \
    X(tcp_rst_rx, "TCP RSTs accepted (connection reset)")                              \
    X(tcp_rst_ignored, "TCP RSTs ignored (out of window, TIME_WAIT)")                  \
    X(tcp_challenge_ack, "TCP challenge ACKs sent (RFC 5961)")                         \
    X(tcp_challenge_ack_limited, "TCP challenge ACKs suppressed by the rate limit")    \
    X(tcp_ack_unacceptable, "TCP segments with an unacceptable ACK (RFC 5961 §5)")     \
    X(tcp_delack_sent, "TCP delayed ACKs sent by the timer")                           \
    X(tcp_rexmt_timeout, "TCP retransmission timeouts")                                \
    X(tcp_rexmt_segs, "TCP segments retransmitted")                                    \
    X(tcp_fast_rexmt, "TCP fast retransmits (3 duplicate ACKs)")                       \
    X(tcp_conn_active, "TCP active opens (SYN sent)")                                  \
    X(tcp_conn_passive, "TCP passive opens (tcpcb created for a completed handshake)") \
    X(tcp_conn_established, "TCP connections established")                             \
    X(tcp_conn_timedout, "TCP connections dropped: retransmissions exhausted")         \
    X(tcp_conn_reset, "TCP connections reset by the peer")                             \
    X(tcp_conn_refused, "TCP active opens refused (RST or ICMP)")                      \
    X(tcp_tcb_exhausted, "TCP connections refused: no tcpcb free or in TIME_WAIT")      \
    X(tcp_tw_recycled, "TCP TIME_WAITs ended early: their tcpcb taken for a new connection") \
    X(tcp_listen_overflow, "TCP SYNs dropped: listen backlog full")                    \
    X(tcp_nobuf, "TCP segments not sent: no packet buffer")                            \
    /* TCP persist, keepalive, user timeout and ICMP errors (issue 3) */                  \
    X(tcp_persist_probes, "TCP zero-window probes sent (RFC 9293 3.8.6.1)")              \
    X(tcp_persist_drops, "TCP connections dropped: zero-window probes unanswered")       \
    X(tcp_keepalive_probes, "TCP keepalive probes sent (RFC 1122 4.2.3.6)")              \
    X(tcp_keepalive_drops, "TCP connections dropped: keepalive probes unanswered")       \
    X(tcp_user_timeouts, "TCP connections dropped by the user timeout (RFC 5482)")       \
    X(tcp_icmp_accepted, "ICMP errors accepted by a TCP connection")                     \
    X(tcp_icmp_bad_seq, "ICMP errors ignored: quoted seq not in flight (RFC 5927 4.1)")  \
    X(tcp_icmp_noconn, "ICMP errors ignored: quoting no TCP connection")                 \
    X(tcp_icmp_soft, "ICMP errors kept as a soft error (reported on timeout)")           \
    X(tcp_pmtu_changes, "TCP MSS lowered by ICMP fragmentation needed (RFC 1191)")      \
    /* syncache and SYN cookies (tcp_syncache.c, RFC 4987) */                           \
    X(tcp_syncache_added, "TCP SYNs given a syncache entry (SYN-ACK sent)")             \
    X(tcp_syncache_overflow, "TCP SYNs finding the syncache or the listener's share full") \
    X(tcp_syncache_dup_syn, "TCP duplicate SYNs answered again from the syncache")      \
    X(tcp_syncache_rexmt, "TCP SYN-ACKs retransmitted from the syncache")               \
    X(tcp_syncache_expired, "TCP syncache entries dropped: SYN-ACK retries exhausted")  \
    X(tcp_syncookies_sent, "TCP SYN-ACKs sent with a SYN cookie")                       \
    X(tcp_syncookies_ok, "TCP connections created from a valid SYN-cookie ACK")         \
    X(tcp_syncookies_bad, "TCP ACKs with a forged or stale SYN cookie (RST sent)")      \
    /* congestion control (tcp/tcp_cc.c, tcp/cc/) */                                  \
    X(tcp_cc_app_limited, "TCP ACKs that grew no cwnd: the flight was not cwnd-limited")  \
    X(tcp_cc_idle_restart, "TCP restart windows applied after idle (RFC 5681 §4.1)")    \
    /* SACK (tcp_sack.c: RFC 2018, RFC 2883, RFC 6675) */                              \
    X(tcp_sack_blocks_rx, "TCP SACK blocks received and valid (not D-SACK)")           \
    X(tcp_sack_bad_blocks, "TCP SACK blocks ignored: inverted, empty, outside the window") \
    X(tcp_sack_sb_full, "TCP SACK ranges dropped: scoreboard full (highest dropped)")  \
    X(tcp_sack_recovery, "TCP SACK loss recoveries entered (RFC 6675)")                \
    X(tcp_sack_rexmt, "TCP segments retransmitted by SACK loss recovery")              \
    X(tcp_sack_tx, "TCP segments sent with SACK blocks")                               \
    X(tcp_dsack_rx, "TCP D-SACK blocks received (RFC 2883)")                           \
    X(tcp_dsack_tx, "TCP D-SACK blocks sent (RFC 2883)")                                \
    /* socket layer (socket/) */                                                        \
    X(sock_table_full, "sockets / epoll instances refused: descriptor table full")      \
    X(sock_accept_table_full, "accepts refused: descriptor table full (conn queued)")   \
    X(sock_epoll_items_full, "epoll registrations refused: registration pool empty")    \
    /* TCP under packet-buffer pool pressure (tcp_pool.c) */                            \
    X(tcp_pool_snd_refused, "TCP sends refused or cut short: pool reserve or share reached") \
    X(tcp_pool_tx_deferred, "TCP new-data segments held back: pool down to half its reserve") \
    X(tcp_pool_ooo_dropped, "TCP out-of-order segments dropped: pool reserve or ooo budget") \
    X(tcp_pool_rx_dropped, "TCP in-order segments dropped: pool nearly empty")         \
    X(tcp_pool_wnd_limited, "TCP windows held shut by the pool, not the receive buffer") \
    X(tcp_pool_wakeups, "TCP connections woken when the pool recovered")

struct fn_stats {
#define FN_STATS_DECL(name, desc) uint64_t name;
    FN_STATS_FIELDS(FN_STATS_DECL)
#undef FN_STATS_DECL
};

/* Names and descriptions in field order; FN_STATS_COUNT entries. */
extern const char *const fn_stats_names[];
extern const char *const fn_stats_descs[];
#define FN_STATS_COUNT (sizeof(struct fn_stats) / sizeof(uint64_t))

struct fn_stack;

/* Create a stack over an open backend and its pool.  The stack takes ownership of both
 * (fn_stack_destroy closes the backend and destroys the pool).  Returns 0 or -errno. */
int fn_stack_create(const struct fn_config *cfg, struct fn_pool *pool, struct fn_backend *be,
                    struct fn_stack **out);
/* Returns the number of packet buffers still in use after the backend closed (0 = no leak). */
uint32_t fn_stack_destroy(struct fn_stack *st);

/* One poll iteration at time now_ns (monotonic).  Returns the number of frames received, or a
 * negative errno if the backend failed fatally. */
int fn_stack_poll(struct fn_stack *st, uint64_t now_ns);
/* Earliest time a timer (ARP retry, reassembly timeout, TCP timers, backend delay) is due;
 * UINT64_MAX if none.  The owner may sleep on fn_stack_fd() until then. */
uint64_t fn_stack_next_deadline(const struct fn_stack *st);
int fn_stack_fd(const struct fn_stack *st);

/* Start-up actions that send (gratuitous ARP).  Called once by the owner after create. */
void fn_stack_start(struct fn_stack *st, uint64_t now_ns);

void fn_stack_get_stats(const struct fn_stack *st, struct fn_stats *out);
const struct fn_backend *fn_stack_backend(const struct fn_stack *st);
struct fn_pool *fn_stack_pool(const struct fn_stack *st);
const struct fn_config *fn_stack_config(const struct fn_stack *st);

/* ARP cache lookup: 1 and the MAC if resolved, 0 if not. */
int fn_stack_arp_lookup(const struct fn_stack *st, uint32_t ip, uint8_t mac[6]);
/* Start resolving ip (sends a request unless already resolved/resolving). 0 or -errno. */
int fn_stack_arp_resolve(struct fn_stack *st, uint32_t ip, uint64_t now_ns);

/* Send an ICMP echo request (for `fastnet ping`-style checks and tests).  0 or -errno. */
int fn_stack_ping(struct fn_stack *st, uint32_t dst, uint16_t id, uint16_t seq,
                  const void *payload, uint32_t len, uint64_t now_ns);
/* Echo replies received for our own requests since the last call (id/seq pairs);
 * returns the count copied (at most max). */
int fn_stack_ping_replies(struct fn_stack *st, uint16_t *ids, uint16_t *seqs, int max);

#ifdef __cplusplus
}
#endif
#endif
