/*
 * fn_tcp_sock.h — what the socket layer (socket/) needs from a tcpcb beyond fn_tcp.h:
 * peeking at received data, the accept queue, MSS, MSG_MORE, and the numbers TCP_INFO shows.
 *
 * Contract: same as fn_tcp.h — stack-owner core only, nothing blocks, nothing reads the
 * clock.  Getters never change the connection; the setters change only what they name.
 */
#ifndef FASTNET_TCP_FN_TCP_SOCK_H
#define FASTNET_TCP_FN_TCP_SOCK_H

#include <stdint.h>

#include "tcp/fn_tcp.h"

struct fn_pkt;

/* The connection's numbers, in the units the socket layer converts from (ns, bytes). */
struct fn_tcp_conn_info {
    int state;                  /* TCPS_* */
    uint64_t rto_ns;            /* current RTO, backoff included */
    uint64_t srtt_ns;           /* 0 = no sample yet */
    uint64_t rttvar_ns;
    uint32_t snd_mss;           /* payload bytes of a full-size segment we send */
    uint32_t rcv_mss;           /* payload bytes of a full-size segment we can receive */
    uint32_t snd_cwnd;          /* bytes */
    uint32_t snd_ssthresh;      /* bytes; UINT32_MAX = not yet set (RFC 5681 §3.1) */
    uint32_t retransmits;       /* RTO backoffs of the current head (t_rxtshift) */
    uint32_t total_retrans;     /* segments retransmitted over the connection's life */
    uint32_t unacked;           /* bytes sent and not yet acknowledged */
    uint8_t snd_wscale, rcv_wscale;
    uint8_t ts_on, ws_on, sack_on;
};

void fn_tcp_get_info(const struct tcpcb *tp, struct fn_tcp_conn_info *ci);
/* Copy up to len received bytes without consuming them (MSG_PEEK); returns the count. */
uint32_t fn_tcp_peek(const struct tcpcb *tp, void *buf, uint32_t len);
/* 1 once the peer's FIN was received in order (reads end at EOF after the data). */
int fn_tcp_rcvd_fin(const struct tcpcb *tp);
/* Listener: completed connections waiting for fn_tcp_accept(). */
uint32_t fn_tcp_acceptq_len(const struct tcpcb *l);
/* Listener: its half-open connections in the syncache. */
uint32_t fn_tcp_halfopen_len(const struct tcpcb *l);
/* Listener: change the bound on half-open + unaccepted connections (listen() again). */
void fn_tcp_set_backlog(struct tcpcb *l, uint32_t backlog);
/* 1 if a listener holds local port `port` (host order) against a newcomer: always, unless
 * reuseport is set and the port's listeners form a SO_REUSEPORT group it may join. */
int fn_tcp_port_listening(struct fn_stack *st, uint16_t port, int reuseport);
/* 1 if a connection its owner already closed (FIN_WAIT, TIME_WAIT, ...) still holds local
 * port `port`.  A scan of the tcpcbs: for bind(), not for the packet path. */
int fn_tcp_port_orphaned(struct fn_stack *st, uint16_t port);
/* Bytes in the send buffer (unacknowledged + unsent). */
uint32_t fn_tcp_sndq(const struct tcpcb *tp);
/* Payload bytes of a full-size segment (the send MSS minus the options each segment has). */
uint32_t fn_tcp_mss(const struct tcpcb *tp);
/* TCP_MAXSEG: never send segments larger than mss (lowers the send MSS only). */
void fn_tcp_clamp_mss(struct tcpcb *tp, uint32_t mss);
/* fn_tcp_connect with the socket options that shape the SYN, as Linux: rcvbuf (SO_RCVBUF;
 * 0 = cfg.tcp_rcvbuf, never above it) bounds the window offered and picks the window scale;
 * mss (TCP_MAXSEG; 0 = none) caps the MSS advertised. */
int fn_tcp_connect_opts(struct fn_stack *st, uint32_t dst, uint16_t dst_port,
                        uint16_t src_port, uint32_t rcvbuf, uint16_t mss, struct tcpcb **out,
                        uint64_t now);
/* SO_RCVBUF on a connection or a listener (0 = cfg.tcp_rcvbuf, never above it): the bound on
 * the window from now on; a listener's shapes the SYN-ACKs of what it accepts and their
 * window scale.  A connection's scale stays what its SYN fixed. */
void fn_tcp_set_rcvbuf(struct tcpcb *tp, uint32_t bytes);
/* TCP_MAXSEG on a listener: the MSS its SYN-ACKs advertise and its children send at most. */
void fn_tcp_set_user_mss(struct tcpcb *l, uint16_t mss);
/* fn_tcp_send() with MSG_MORE: a short last segment of this call is held back (more data
 * follows), as Nagle would hold it; full-size segments still go.  A held tail with nothing
 * in flight leaves one RTO later if no other send comes (Linux: ~200 ms). */
int fn_tcp_send_more(struct tcpcb *tp, const void *data, uint32_t len, uint64_t now);

/* Zero-copy receive: move up to max whole buffers from the head of the receive chain to
 * out[] (their data at pkt->data, pkt->len bytes), oldest first; returns the count.  Their
 * bytes leave fn_tcp_readable() but stay counted against the window (rcv_lent) until
 * fn_tcp_zc_rcv_done() gives them back; the buffers are the owner's to free. */
uint32_t fn_tcp_zc_take(struct tcpcb *tp, struct fn_pkt **out, uint32_t max);
/* The owner freed borrowed buffers holding `bytes`: the window reopens by that much (and an
 * update goes out if worth one, as after a read).  Any state, CLOSED included. */
void fn_tcp_zc_rcv_done(struct tcpcb *tp, uint32_t bytes, uint64_t now);
/* Zero-copy send: a pool buffer (data = buf + FN_PKT_HEADROOM, len 0) for the owner to fill,
 * counted in the connection's pool share (tcp_pool.c) until queued or given back; NULL
 * when the share or the pool has none (FN_TCP_EV_WRITABLE follows when it has). */
struct fn_pkt *fn_tcp_zc_alloc(struct tcpcb *tp);
/* Give back a buffer from fn_tcp_zc_alloc unsent (frees it). */
void fn_tcp_zc_unalloc(struct tcpcb *tp, struct fn_pkt *p);
/* Queue a filled buffer from fn_tcp_zc_alloc (pkt->len bytes at pkt->data) at the end of
 * the send chain without copying (a payload of at most 256 bytes is copied into the tail's
 * free room instead) and run tcp_output; more != 0 as MSG_MORE.  Returns len, having taken
 * the buffer, or -errno leaving it the caller's: -EAGAIN (not all of it fits
 * cfg.tcp_sndbuf and the chain is not empty), -EPIPE, -ENOTCONN, or the connection's error. */
int fn_tcp_zc_send(struct tcpcb *tp, struct fn_pkt *p, int more, uint64_t now);

#endif
