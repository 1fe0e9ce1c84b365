/*
 * tcp_fsm.h — the TCP connection states (RFC 9293 §3.3.2), with FreeBSD's names and order.
 *
 * Contract: pure definitions.  The order matters: states >= TCPS_ESTABLISHED are
 * "synchronized" (RFC 9293 §3.5.2), and states > TCPS_CLOSE_WAIT have received the
 * application's close (no more data may be queued to send).
 */
#ifndef FASTNET_TCP_FSM_H
#define FASTNET_TCP_FSM_H

#define TCPS_CLOSED       0  /* no connection; a tcpcb here waits for its owner to release it */
#define TCPS_LISTEN       1  /* a listener: passive opens on its local port */
#define TCPS_SYN_SENT     2  /* active open: SYN sent, waiting for SYN(+ACK) */
#define TCPS_SYN_RECEIVED 3  /* SYN received and SYN-ACK sent, waiting for the ACK */
#define TCPS_ESTABLISHED  4  /* data flows both ways */
#define TCPS_CLOSE_WAIT   5  /* peer's FIN received, we may still send */
#define TCPS_FIN_WAIT_1   6  /* our FIN sent (after all data), not yet acked */
#define TCPS_CLOSING      7  /* both FINs sent, both received, ours not yet acked */
#define TCPS_LAST_ACK     8  /* peer's FIN received, then ours sent, waiting for its ACK */
#define TCPS_FIN_WAIT_2   9  /* our FIN acked, waiting for the peer's FIN */
#define TCPS_TIME_WAIT    10 /* both FINs exchanged and acked; 2·MSL quiet time */
#define TCP_NSTATES       11

#define TCPS_HAVERCVDSYN(s)     ((s) >= TCPS_SYN_RECEIVED)
#define TCPS_HAVEESTABLISHED(s) ((s) >= TCPS_ESTABLISHED)
#define TCPS_HAVERCVDFIN(s)                                                               \
    ((s) == TCPS_CLOSE_WAIT || (s) == TCPS_CLOSING || (s) == TCPS_LAST_ACK ||            \
     (s) == TCPS_TIME_WAIT)

#endif
