/*
 * tcp_syncache.h — the syncache and SYN cookies (tcp_syncache.c): the hooks that tcp_input,
 * the timers, stack creation and listener close call.
 *
 * Contract: see tcp_syncache.c.  Stack-owner core only.
 */
#ifndef FASTNET_TCP_SYNCACHE_H
#define FASTNET_TCP_SYNCACHE_H

#include <stdint.h>

struct fn_tcp;
struct fn_tcp_opts;
struct tcpcb;

/* What the syncache reads of a segment for a listening port (tcp_input.c fills it). */
struct tcp_synseg {
    uint32_t faddr;             /* network order */
    uint16_t sport;             /* host order; the destination port is the listener's */
    uint32_t seq, ack;
    uint8_t flags;              /* FN_TH_* */
    uint16_t win;               /* as received (unscaled) */
    const struct fn_tcp_opts *to;
};

/* Allocate the table (cfg.tcp_syncache_size entries) and draw the cookie secret.
 * 0, -EINVAL (tcp_syncache_size or tcp_syncookies out of range), -ENOMEM. */
int tcp_syncache_init(struct fn_tcp *tcp);
void tcp_syncache_fini(struct fn_tcp *tcp);
/* A segment for listener l that matches no connection.  Returns the connection that a valid
 * third ACK created — ESTABLISHED, on l's accept queue; the caller processes the rest of the
 * segment (data, FIN) as that connection's — or NULL when the segment has been dealt with
 * (the caller frees its buffer). */
struct tcpcb *tcp_syncache_input(struct tcpcb *l, const struct tcp_synseg *s, uint64_t now);
/* Drop every half-open entry of listener l (it is closing; the peers' ACKs then get RSTs). */
void tcp_syncache_purge(struct tcpcb *l);
/* SYN-ACK retransmissions and expiries due by now. */
void tcp_syncache_timer(struct fn_tcp *tcp, uint64_t now);
/* The earliest of them, UINT64_MAX if the table is empty. */
uint64_t tcp_syncache_next_deadline(const struct fn_tcp *tcp);

#endif
