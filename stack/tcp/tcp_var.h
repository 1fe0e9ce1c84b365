/*
 * tcp_var.h — the TCP control block and the per-stack TCP state (internal to tcp/).
 *
 * Contract: one struct fn_tcp per stack, allocated by fn_tcp_init() at stack creation with
 * every tcpcb the stack will ever use (cfg.tcp_max_conns) and every table; nothing on the
 * packet path allocates memory (packet buffers come from the stack's pool and every pool
 * failure is a counted drop or a deferred send).  Only the core that polls the stack touches
 * any of it.
 *
 * Sequence numbers are compared only with SEQ_* (tcp_seq.h).  Times are monotonic ns.
 */
#ifndef FASTNET_TCP_VAR_H
#define FASTNET_TCP_VAR_H

#include <stdint.h>

#include "fastnet/fn_pkt.h"
#include "tcp/cc/cc.h"
#include "tcp/fn_tcp.h"
#include "tcp/tcp_fsm.h"
#include "tcp/tcp_seq.h"

struct fn_stack;
struct fn_ip_rx;
struct fn_icmp_err;
struct fn_tcp_opts;

#define TCP_MAXWIN       65535u     /* largest unscaled window (RFC 9293 §3.1) */
#define TCP_MAX_WINSHIFT 14u        /* RFC 7323 §2.3 */
#define TCP_MSS_DEFAULT  536u       /* RFC 9293 §3.7.1: no MSS option → 536 */
#define TCP_MSS_FLOOR    48u        /* never accept a send MSS below this (Linux's floor) */
#define TCPOLEN_TSTAMP_APPA 12u     /* NOP NOP TS(10): what every non-SYN segment carries */
#define TCP_TS_HZ_NS     1000000ull /* timestamp clock: 1 ms (RFC 7323 §5.4: 1 ms..1 s) */

#define TCP_L2L3_HLEN    34u        /* Ethernet + IPv4 header without options (tcp_fastout.c) */

/* Timers (absolute deadlines, 0 = off). */
#define TT_REXMT  0     /* retransmission (also SYN / SYN-ACK / FIN retransmission) */
#define TT_DELACK 1     /* delayed ACK */
#define TT_2MSL   2     /* TIME_WAIT 2·MSL, or the FIN_WAIT_2 timeout of a closed socket */
#define TT_PERSIST 3    /* zero-window probe / sender SWS override (tcp_persist.c) */
#define TT_KEEP   4     /* keepalive (tcp_keepalive.c) */
#define TT_NTIMERS 5

/* t_flags */
#define TF_ACKNOW      0x00000001u /* send an ACK at the next tcp_output */
#define TF_DELACK      0x00000002u /* an ACK is owed; TT_DELACK runs */
#define TF_NODELAY     0x00000004u /* Nagle off (TCP_NODELAY) */
#define TF_REQ_SCALE   0x00000008u /* we send (sent) the window-scale option on our SYN */
#define TF_RCVD_SCALE  0x00000010u /* the peer's SYN had window scale: both did → scaling on */
#define TF_REQ_TSTMP   0x00000020u /* we send (sent) timestamps on our SYN */
#define TF_RCVD_TSTMP  0x00000040u /* the peer's SYN had timestamps: both did → TS on */
#define TF_SACK_PERMIT 0x00000080u /* both sides sent SACK-permitted: SACK in use (tcp_sack.c) */
#define TF_SENTFIN     0x00000100u /* our FIN has been sent at least once */
#define TF_NEEDFIN     0x00000200u /* the owner shut down writing: send FIN after the data */
#define TF_RCVDFIN     0x00000400u /* the peer's FIN was received in order: EOF for reads */
#define TF_DETACHED    0x00000800u /* the owner closed it: free the tcpcb once CLOSED */
#define TF_FASTRECOVERY 0x00001000u /* NewReno fast recovery (RFC 6582) in progress */
#define TF_PASSIVE     0x00002000u /* created by a passive open (SYN to a listener) */
#define TF_FORCEDATA   0x00004000u /* the override timer fired: send what the window allows
                                      even if small, or 1 byte into a zero window */
#define TF_SYNUNACKED  0x00008000u /* simultaneous open: our SYN (at iss) is not acked yet,
                                      so the first new ACK covers one byte that is no data.
                                      A flag, not snd_una == iss: that is true again after
                                      every 2^32 bytes */

/* Keepalive limits (Linux's MAX_TCP_KEEPIDLE / KEEPINTVL / KEEPCNT). */
#define TCP_KEEPIDLE_MAX  32767u
#define TCP_KEEPINTVL_MAX 32767u
#define TCP_KEEPCNT_MAX   127u
/* SACK (tcp_sack.c): fixed per-tcpcb capacities, preallocated in the tcpcb. */
#define TCP_SACK_SB_MAX     16u /* scoreboard ranges; when full the highest range is dropped */
#define TCP_SACK_RCV_RECENT 4u  /* out-of-order arrivals remembered for block order */

/* One SACK block / scoreboard range: [start, end), mod 2^32. */
struct tcp_sackblk {
    uint32_t start, end;
};

/* Per-connection challenge-ACK limiter window (RFC 5961 §7: per connection, not global). */
#define TCP_CHALLENGE_WINDOW_NS 1000000000ull

struct tcpcb {
    /* ---- identity (the 4-tuple; laddr is always the stack's address) ---- */
    uint32_t faddr;             /* peer address, network order; 0 on a listener */
    uint16_t lport;             /* local port, host order; != 0 while in use */
    uint16_t fport;             /* peer port, host order; 0 on a listener */
    int t_state;                /* TCPS_*; TCPS_CLOSED only for a tcpcb awaiting release */
    uint32_t t_flags;           /* TF_* */
    int t_error;                /* 0, or the errno the owner is told (ECONNRESET, …) */

    /* ---- send sequence space (RFC 9293 §3.3.1); SEQ_LEQ(snd_una, snd_nxt) and
     *      SEQ_LEQ(snd_nxt, snd_max) always hold ---- */
    uint32_t iss;               /* our initial sequence number (RFC 6528) */
    uint32_t snd_una;           /* oldest unacknowledged sequence number */
    uint32_t snd_nxt;           /* next sequence number to send (rewound for retransmits) */
    uint32_t snd_max;           /* highest sequence number sent + 1 */
    uint32_t snd_wnd;           /* peer's window (scaled), from the last window update */
    uint32_t max_sndwnd;        /* largest snd_wnd seen (RFC 5961 §5.2 MAX.SND.WND) */
    uint32_t snd_wl1;           /* SEG.SEQ of the segment of the last window update */
    uint32_t snd_wl2;           /* SEG.ACK of the segment of the last window update */
    uint32_t snd_recover;       /* RFC 6582 `recover`: snd_max when fast recovery began */
    uint32_t snd_cwnd;          /* congestion window, bytes (owned by the cc algorithm) */
    uint32_t snd_ssthresh;      /* slow-start threshold, bytes (owned by the cc algorithm) */

    /* ---- receive sequence space; SEQ_LEQ(rcv_nxt, rcv_adv) once synchronized ---- */
    uint32_t irs;               /* peer's initial sequence number */
    uint32_t rcv_nxt;           /* next sequence number expected */
    uint32_t rcv_wnd;           /* window we offer, bytes (what the last segment advertised) */
    uint32_t rcv_adv;           /* rcv_nxt + advertised window: the right edge promised */
    uint32_t last_ack_sent;     /* ACK field of our last segment (RFC 7323 Last.ACK.sent) */

    /* ---- options ---- */
    uint16_t t_maxseg;          /* send MSS without options: peer's MSS clamped to our
                                   MTU - 40, never below cfg.tcp_min_mss */
    uint16_t t_peer_mss;        /* MSS option of the peer's SYN (536 if absent) */
    uint8_t snd_wscale;         /* shift applied to the peer's windows (0 unless both sent WS) */
    uint8_t rcv_wscale;         /* shift applied to our windows (0 unless both sent WS) */
    uint8_t request_r_scale;    /* the shift we offered on our SYN */
    uint8_t t_dupacks;          /* consecutive duplicate ACKs (RFC 5681 §3.2) */
    uint32_t ts_recent;         /* RFC 7323 TS.Recent: TSval to echo */
    uint64_t ts_recent_age;     /* when ts_recent was set (PAWS 24-day rule, RFC 7323 §5.5) */
    uint32_t ts_offset;         /* random per-connection offset of our TSval (RFC 7323 §7.1) */

    /* ---- retransmission timing (RFC 6298), all in ns ---- */
    uint64_t t_srtt;            /* smoothed RTT; 0 = no sample yet */
    uint64_t t_rttvar;          /* RTT variation */
    uint64_t t_rxtcur;          /* current RTO (backed off by t_rxtshift), in [min, max] */
    uint32_t t_rxtshift;        /* retransmissions of the current head (backoff exponent) */
    uint32_t t_rtseq;           /* sequence number being timed (valid while t_rtttime != 0) */
    uint64_t t_rtttime;         /* when the timed segment was sent; 0 = none (Karn) */
    uint64_t t_rcvtime;         /* last segment received */
    uint64_t t_sndtime;         /* last data segment sent (idle detection, RFC 5681 §4.1) */

    /* ---- timers ---- */
    uint64_t t_timer[TT_NTIMERS];
    uint64_t t_due;             /* min of the armed timers; heap key; 0 = not in the heap */
    int32_t t_heapidx;          /* index in fn_tcp.heap, -1 when not in the heap */

    /* ---- RFC 5961 §7 challenge-ACK limiter and out-of-window ACK limiter ---- */
    uint64_t t_chal_start;      /* start of the current 1 s window */
    uint32_t t_chal_count;      /* challenge ACKs sent in the window */
    uint64_t t_oow_last;        /* last ACK sent for an out-of-window segment */

    /* ---- buffers: chains of pkts (data at pkt->data, len bytes), linked by pkt->next ---- */
    struct fn_pkt *snd_head;    /* unacked + unsent data; first byte is snd_una (after SYN) */
    struct fn_pkt *snd_tail;
    uint32_t snd_cc;            /* bytes in the send chain, <= cfg.tcp_sndbuf */
    struct fn_pkt *snd_cache;   /* a pkt of the chain and the stream offset (from snd_head's */
    uint32_t snd_cache_off;     /*   first byte) at which it starts: speeds up segmenting */
    struct fn_pkt *rcv_head;    /* in-order data not yet read by the owner */
    struct fn_pkt *rcv_tail;
    uint32_t rcv_cc;            /* bytes in the receive chain; rcv_cc + rcv_lent <= the
                                   receive buffer (tcp_rcvbuf()) */
    uint32_t rcv_lent;          /* bytes of received buffers the owner borrowed
                                   (fn_tcp_zc_take) and has not given back: read, so not in
                                   rcv_cc, but still holding buffers, so the window counts
                                   them */
    uint32_t snd_nbufs;         /* buffers in the send chain */
    uint32_t snd_lent_bufs;     /* buffers the owner took to fill for the send chain
                                   (fn_tcp_zc_alloc) and has not queued or given back: they
                                   count towards its pool share */
    uint32_t t_rcvbuf;          /* receive buffer bytes: bounds the window; 0 = cfg's
                                   (SO_RCVBUF; its window scale is fixed by the SYN) */
    uint16_t t_user_mss;        /* TCP_MAXSEG: caps the MSS we advertise and send; 0 = none */
    struct fn_pkt *reass_head;  /* out-of-order segments, ascending, disjoint (tcp_reass.c);
                                   pkt->user holds the sequence number of the first byte,
                                   pkt->ts bit 0 a FIN after the data */
    uint32_t reass_segs;        /* pkts in reass, <= cfg.tcp_reass_max_segs */
    uint32_t reass_bytes;

    /* ---- persist, keepalive, user timeout, ICMP errors (tcp_persist.c, tcp_keepalive.c,
     *      tcp_icmp.c) ---- */
    uint64_t t_uto_start;       /* start of the current wait for the peer: when the oldest
                                   unacked data went out or was last acked (REXMT armed at
                                   backoff 0), or when persisting began */
    uint32_t t_user_timeout_ms; /* RFC 5482 TCP_USER_TIMEOUT; 0 = off (t_rxtshift rules) */
    uint16_t t_pmtu_mss;        /* t_maxseg before a Datagram Too Big lowered it, tried
                                   again from t_pmtu_raise on (RFC 1191 §6.3); 0 = never
                                   lowered, or raised back since */
    uint64_t t_pmtu_raise;      /* with t_pmtu_mss: 10 min after the last Too Big */
    int t_softerror;            /* errno of the last ICMP soft error (RFC 1122 §4.2.3.9),
                                   reported instead of ETIMEDOUT on a timeout; 0 = none;
                                   cleared by any segment from the peer */
    uint32_t t_probes;          /* keepalive or zero-window probes sent since the last segment
                                   from the peer (tcp_input resets it) */
    uint16_t t_keepidle_s;      /* RFC 1122 §4.2.3.6 idle time before the first probe */
    uint16_t t_keepintvl_s;     /* between unanswered probes */
    uint8_t t_keepcnt;          /* unanswered probes before ETIMEDOUT */
    uint8_t t_keepalive;        /* 1 = keepalive on (SO_KEEPALIVE); TT_KEEP runs */
    uint8_t t_pshift;           /* persist backoff exponent (RTO-based, tcp_rto()) */

    /* ---- congestion control ---- */
    const struct cc_algo *cc_algo;
    struct cc_var ccv;

    /* ---- SACK (tcp_sack.c; RFC 2018, RFC 2883, RFC 6675); used only with TF_SACK_PERMIT ---- */
    struct tcp_sackblk snd_sack[TCP_SACK_SB_MAX]; /* scoreboard: ranges the peer SACKed,
                                   ascending, disjoint, never adjacent, all <= snd_max;
                                   trimmed to snd_una by every ACK (header prediction
                                   leaves connections with a scoreboard alone) */
    uint32_t snd_sack_n;        /* ranges in use, <= TCP_SACK_SB_MAX */
    uint32_t sack_high_rxt;     /* RFC 6675 HighRxt + 1: end of the highest retransmission of
                                   this recovery */
    uint32_t rcv_sack_recent[TCP_SACK_RCV_RECENT]; /* a byte of each of the latest
                                   out-of-order arrivals, newest first (RFC 2018 §4 order) */
    uint32_t rcv_sack_nrecent;
    struct tcp_sackblk rcv_dsack; /* RFC 2883 duplicate to report in the next ACK ... */
    int rcv_dsack_on;           /* ... if set; cleared once sent */

    /* ---- ownership and events ---- */
    struct tcpcb *t_listen;     /* passive child not yet accepted: its listener; else NULL */
    struct tcpcb *t_qnext;      /* link in the listener's queue, or in the free list */
    uint32_t t_qlen;            /* listener: completed children not yet accepted */
    uint32_t t_backlog;         /* listener: bound on t_qlen and on t_sc_count */
    struct tcpcb *t_acc_head;   /* listener: completed children, oldest first */
    struct tcpcb *t_acc_tail;
    struct tcpcb *t_hnext;      /* connection / listen hash chain */
    uint8_t t_reuseport;        /* listener: shares its port with others that set it too
                                   (SO_REUSEPORT); a SYN picks one by its 4-tuple */
    struct tcpcb *t_rnext;      /* ready list link */
    uint32_t t_revents;         /* FN_TCP_EV_* pending; != 0 iff linked in the ready list */
    void *t_user;               /* owner's pointer */
    struct fn_stack *t_stack;   /* the stack (and core) this tcpcb belongs to */

    /* ---- syncache (tcp_syncache.c) ---- */
    uint32_t t_sc_count;        /* listener: its half-open entries in the syncache */

    /* ---- prebuilt output header (tcp_fastout.c); valid only while t_l2ok ---- */
    uint8_t t_l2hdr[TCP_L2L3_HLEN]; /* Ethernet (destination MAC refreshed per segment) and
                                   IPv4 header of our segments, total length, id and
                                   checksum zero */
    uint8_t t_l2ok;             /* 1 once t_l2hdr, t_l3sum, t_nh were built */
    uint32_t t_l3sum;           /* folded sum of t_l2hdr's IPv4 words (RFC 1071) */
    uint32_t t_nh;              /* next hop of faddr */
    int32_t t_arp_slot;         /* ARP entry of t_nh when last seen, -1 = none */
    /* ---- socket layer support (tcp_sock.c) ---- */
    uint8_t t_more;             /* 1 only inside a MSG_MORE send: a short tail waits */
    uint32_t t_total_retrans;   /* segments retransmitted, for TCP_INFO */
    /* ---- pool pressure (tcp_pool.c) ---- */
    uint32_t t_pwait;           /* TCP_PWAIT_* this tcpcb waits for; != 0 iff it is linked
                                   in fn_tcp.pool_waiters */
    struct tcpcb *t_pwnext;     /* link in fn_tcp.pool_waiters */
    uint64_t t_rx_epoch;        /* 1 + the last receiver epoch in which data was kept, while
                                   tp may still receive (0 once tcp_pool_rcv_end ran) */
    uint8_t t_rx_prev;          /* 1 iff data was kept in the epoch before that one too */
    /* ---- TIME_WAIT recycling (tcp_timewait.c) ---- */
    uint8_t t_twq;              /* 1 iff linked in fn_tcp's TIME_WAIT queue: then in
                                   TIME_WAIT and TF_DETACHED (nobody holds it) */
    uint8_t t_twtimed;          /* 1 iff t_twq and the queue, not the heap, ends its 2·MSL:
                                   t_timer[TT_2MSL] is then left out of t_due */
    struct tcpcb *t_twprev, *t_twnext;  /* links in that queue */
};

/* Per-stack TCP state (st->tcp). */
struct fn_tcp {
    struct fn_stack *st;
    struct tcpcb *tcbs;         /* cfg.tcp_max_conns control blocks */
    uint32_t ntcbs;
    uint32_t nused;
    struct tcpcb *free_list;    /* linked by t_qnext */
    struct tcpcb *tw_head;      /* TIME_WAIT tcpcbs nobody holds, by when they joined */
    struct tcpcb *tw_tail;      /*   the queue, oldest first (tcp_timewait.c) */
    uint64_t tw_due_max;        /* latest 2·MSL deadline of a t_twtimed tcpcb since the
                                   queue was last empty: those deadlines never decrease */
    struct tcpcb **hash;        /* connections by (faddr, fport, lport) */
    uint32_t hash_mask;         /* buckets - 1, power of two >= 2·ntcbs */
    struct tcpcb **lhash;       /* listeners by lport */
    uint32_t lhash_mask;
    struct tcpcb **heap;        /* binary min-heap of tcpcbs by t_due */
    uint32_t nheap;
    struct tcpcb *ready_head;   /* tcpcbs with t_revents != 0, oldest first */
    struct tcpcb *ready_tail;
    uint64_t isn_key[2];        /* RFC 6528 secret: SipHash key for ISNs */
    uint64_t ts_key[2];         /* key of the timestamp offsets */
    uint64_t hash_key;          /* seed of the connection hash */
    uint64_t rng;               /* splitmix64 state for ephemeral ports */
    struct tcp_syncache *syncache; /* half-open passive opens (tcp_syncache.c) */
    /* pool pressure (tcp_pool.c) */
    uint32_t pool_reserve;      /* buffers only ACKs, control, retransmissions and received
                                   frames may take (cfg.tcp_pool_reserve_pct of the pool) */
    uint32_t pool_ooo_max;      /* bound on ooo_bufs (cfg.tcp_pool_ooo_pct of the pool) */
    uint32_t ooo_bufs;          /* sum of every tcpcb's reass_segs */
    uint32_t pool_wake_free;    /* free buffers after the last pass over the waiters */
    uint32_t pool_wake_rcvrs;   /* rx_receivers after the last pass (or more, seen since) */
    struct tcpcb *pool_waiters; /* tcpcbs with t_pwait != 0, linked by t_pwnext */
    uint64_t rx_epoch;          /* current receiver epoch (now / TCP_POOL_EPOCH_NS) */
    uint32_t rx_active, rx_active_prev; /* tcpcbs that kept data in it / the one before */
    struct tcpcb *fast_tp;      /* the last connection header prediction took a pure ACK
                                   or in-order data for (tcp_fastin.c); NULL or a tcpcb in
                                   use (tcp_free clears it) */
};

/* RFC 7323 §3.2: timestamps are in use only if both SYNs carried them. */
#define TS_ON(tp) (((tp)->t_flags & (TF_REQ_TSTMP | TF_RCVD_TSTMP)) == \
                   (TF_REQ_TSTMP | TF_RCVD_TSTMP))

/* ---- tcp_input.c, tcp_fastin.c ---- */
/* A new cumulative ACK (tcp_ack_advance in tcp_ack.h, out of line). */
int tcp_ack_new(struct tcpcb *tp, uint32_t ack, uint32_t tsecr, uint64_t now);
/* tcp_ack_new's part for a connection in fast recovery (TF_FASTRECOVERY): partial and full
 * ACKs of RFC 6582 / RFC 6675; may send. */
void tcp_ack_recovery(struct tcpcb *tp, uint32_t ack, uint32_t acked, uint64_t now);
/* The one frame length tcp_fast_ack takes: Ethernet, IPv4 and TCP headers with the
 * timestamp option (14 + 20 + 32), no payload. */
#define TCP_FASTACK_FRAME_LEN 66u
/* The longest run at the head of v[0..n) (frames of a receive batch, in order) of pure ACKs
 * of new data for the cached flow, taken as tcp_fast_ack would take them one by one;
 * returns its length (0: v[0] is not one).  *slow is 1 if the frame after the run (v[0]
 * when 0 is returned) was found to be one for the layered path (0: not looked at, or one
 * for another call). */
int tcp_fast_acks(struct fn_stack *st, struct fn_pkt **v, int n, uint64_t now, int *slow);
/* In-order data of the cached flow in one step (frames longer than a pure ACK). */
int tcp_fast_data(struct fn_stack *st, struct fn_pkt *pkt, uint64_t now);
/* Header prediction's in-order data (tcp_input and tcp_fast_data): pkt holds exactly the
 * payload, which starts at rcv_nxt; consumes pkt, may send the ACK it calls for. */
void tcp_hdrpred_data(struct tcpcb *tp, struct fn_pkt *pkt, uint64_t now);

/* ---- tcp_subr.c ---- */
int fn_tcp_init(struct fn_stack *st);
void fn_tcp_fini(struct fn_stack *st);
uint64_t fn_siphash24(const uint64_t key[2], const void *data, uint32_t len);
struct tcpcb *tcp_alloc(struct fn_tcp *tcp);
struct tcpcb *tcp_lookup(struct fn_tcp *tcp, uint32_t faddr, uint16_t fport, uint16_t lport);
struct tcpcb *tcp_lookup_listen(struct fn_tcp *tcp, uint16_t lport);
/* The listener on lport that serves the flow from faddr:fport: with a SO_REUSEPORT group,
 * one member picked by a keyed hash of the 4-tuple (the same one while the group does not
 * change); NULL if none listens. */
struct tcpcb *tcp_lookup_listen_flow(struct fn_tcp *tcp, uint32_t faddr, uint16_t fport,
                                     uint16_t lport);
void tcp_hash_insert(struct fn_tcp *tcp, struct tcpcb *tp);
void tcp_listen_insert(struct fn_tcp *tcp, struct tcpcb *tp);
void tcp_conn_setup(struct tcpcb *tp, uint32_t iss, uint64_t now);
int tcp_ephemeral_port(struct fn_tcp *tcp, uint32_t faddr, uint16_t fport, uint16_t *out);
/* Enter CLOSED: unhash, stop timers, free buffers, raise CLOSED; the tcpcb itself is freed
 * if no owner holds it (detached or an unaccepted child).  Returns tp, or NULL if freed. */
struct tcpcb *tcp_close(struct tcpcb *tp);
/* tcp_close with an error for the owner (ECONNRESET, ETIMEDOUT, …). */
struct tcpcb *tcp_drop(struct tcpcb *tp, int err);
void tcp_free(struct tcpcb *tp);
/* Raise events ev for the owner: link tp in the ready list (tcp_event_post) unless they are
 * all pending already — the common case of a stream of segments or ACKs. */
void tcp_event_post(struct tcpcb *tp, uint32_t ev);
static inline void tcp_event(struct tcpcb *tp, uint32_t ev)
{
    if ((tp->t_revents & ev) != ev)
        tcp_event_post(tp, ev);
}
/* The owner released tp (close/abort): mark it detached and take it off the ready list. */
void tcp_detach(struct tcpcb *tp);
/* Send a bare segment not tied to a tcpcb's send state (RST, or an ACK for tp == NULL). */
void tcp_respond(struct fn_stack *st, struct tcpcb *tp, uint32_t faddr, uint16_t fport,
                 uint16_t lport, uint32_t seq, uint32_t ack, uint8_t flags, uint64_t now);
/* Send a segment without payload: header fields, window field and options as given.
 * 0, or -ENOBUFS (counted tcp_nobuf). */
int tcp_emit(struct fn_stack *st, uint32_t faddr, uint16_t fport, uint16_t lport, uint32_t seq,
             uint32_t ack, uint8_t flags, uint16_t win, const uint8_t *opts, uint32_t optlen,
             uint64_t now);
/* NOP NOP TIMESTAMP (RFC 7323 §3.2, the Appendix A layout) at o; returns 12. */
uint32_t tcp_ts_opt(uint8_t *o, uint32_t tsval, uint32_t tsecr);
/* The RFC 6528 ISN (what an active open passes tcp_conn_setup; a passive one passes the
 * ISN its SYN-ACK carried) and the RFC 7323 §7.1 timestamp offset of a 4-tuple (which
 * tcp_conn_setup gives a tcpcb with that 4-tuple). */
uint32_t tcp_isn_for(struct fn_tcp *tcp, uint32_t faddr, uint16_t fport, uint16_t lport,
                     uint64_t now);
uint32_t tcp_ts_offset_for(struct fn_tcp *tcp, uint32_t faddr, uint16_t fport, uint16_t lport);
/* Our TSval at now (RFC 7323 §5.4: a 1 ms clock, with the connection's offset).  now / 10^6
 * is written as the multiply-high and shift a compiler uses for this divisor (exact for every
 * 64-bit now): inlined into large functions, gcc otherwise emits a divide instruction, tens
 * of cycles on every ACK. */
_Static_assert(TCP_TS_HZ_NS == 1000000ull, "tcp_ts_now's reciprocal is that of 10^6");
static inline uint32_t tcp_ts_now(const struct tcpcb *tp, uint64_t now)
{
    __extension__ typedef unsigned __int128 tcp_u128;
    uint64_t hi = (uint64_t)(((tcp_u128)now * 0x431bde82d7b634dbull) >> 64);

    return (uint32_t)(hi >> 18) + tp->ts_offset;
}
const struct fn_config *tcp_cfg(const struct tcpcb *tp);
/* The connection's receive buffer: what the window offered may reach (SO_RCVBUF, or the
 * configuration's). */
static inline uint32_t tcp_rcvbuf(const struct tcpcb *tp)
{
    return tp->t_rcvbuf ? tp->t_rcvbuf : tcp_cfg(tp)->tcp_rcvbuf;
}
/* The MSS our SYN / SYN-ACK advertises: MTU - 40 (RFC 9293 §3.7.1, RFC 6691), or less if
 * TCP_MAXSEG asks (as Linux). */
uint32_t tcp_adv_mss(const struct tcpcb *tp);
/* Received bytes that still hold buffers: unread, or borrowed by the owner (zero-copy). */
static inline uint32_t tcp_rcv_held(const struct tcpcb *tp)
{
    return tp->rcv_cc + tp->rcv_lent;
}

/* ---- tcp_usrreq.c ---- */
/* May the owner queue data on tp: 0, or -ENOTCONN (listener), the connection's error, or
 * -EPIPE (shut down for writing, closed). */
int tcp_usr_may_send(const struct tcpcb *tp);

/* ---- tcp_input.c ---- */
void tcp_input(struct fn_stack *st, void *arg, struct fn_ip_rx *rx, uint64_t now);

/* ---- tcp_icmp.c ---- */
void tcp_ctlinput(struct fn_stack *st, void *arg, const struct fn_icmp_err *e, uint64_t now);
void tcp_pmtu_raise(struct tcpcb *tp);
/* tcp_output, before it sizes segments: the larger MSS is due again (RFC 1191 §6.3). */
static inline void tcp_pmtu_check(struct tcpcb *tp, uint64_t now)
{
    if (tp->t_pmtu_mss != 0 && now >= tp->t_pmtu_raise)
        tcp_pmtu_raise(tp);
}

/* ---- tcp_persist.c ---- */
/* tcp_output sent nothing: make sure a timer watches whatever waits (REXMT for data in
 * flight, TT_PERSIST for data held by a zero window or by sender SWS avoidance). */
void tcp_persist_hold(struct tcpcb *tp, uint32_t off, uint64_t now);
/* tcp_output sent data, SYN or FIN: a probe keeps persisting; anything else ends persist
 * mode and runs the retransmission timer. */
void tcp_persist_sent(struct tcpcb *tp, uint64_t now);
void tcp_persist_timeout(struct tcpcb *tp, uint64_t now);
/* The window we last offered is below one segment: the peer is stalled (or probing), so
 * an opening is worth a window update at once. */
int tcp_rcv_wnd_stalled(const struct tcpcb *tp);

/* ---- tcp_rcvwnd.c ---- */
/* Nothing else is to be sent and the right edge may move by adv > 0 bytes: is that worth a
 * window update of its own now? */
int tcp_rcv_update_due(const struct tcpcb *tp, uint32_t adv);

/* ---- tcp_fastout.c ---- */
/* Send a segment of tp (TCP header and payload at pkt->data): by the prebuilt header when it
 * holds, else by fn_ip_output.  Consumes pkt. */
void tcp_ip_output(struct tcpcb *tp, struct fn_pkt *pkt, uint64_t now);

/* ---- tcp_keepalive.c ---- */
void tcp_keep_timeout(struct tcpcb *tp, uint64_t now);
/* The REXMT deadline `when` clamped to the user timeout (t_user_timeout_ms != 0): the
 * abort is on time (tcp_rexmt_deadline in tcp_ack.h). */
uint64_t tcp_uto_clamp(const struct tcpcb *tp, uint64_t when, uint64_t now);
/* The retransmission timer fired: give up now?  The user timeout, when set, replaces the
 * count `limit` (RFC 5482, as Linux). */
int tcp_rexmt_give_up(struct tcpcb *tp, uint32_t limit, uint64_t now);
/* Abort a connection the peer stopped answering: RST if synchronized, then tcp_drop with
 * the soft error if one was recorded, else ETIMEDOUT.  Returns tcp_drop's result. */
struct tcpcb *tcp_drop_timedout(struct tcpcb *tp, uint64_t now);

/* ---- tcp_reass.c ---- */
/* Queue the payload of pkt (data at the payload, first byte seq >= rcv_nxt, fin: a FIN
 * follows it) and move whatever became in order to the receive chain, advancing rcv_nxt past
 * the data (not the FIN).  Consumes pkt.  Returns TCP_REASS_* bits. */
#define TCP_REASS_DATA 1    /* in-order data was appended to the receive chain */
#define TCP_REASS_FIN  2    /* the FIN is now in order (the caller processes it) */
int tcp_reass(struct tcpcb *tp, struct fn_pkt *pkt, uint32_t seq, int fin);
void tcp_reass_flush(struct tcpcb *tp);
/* Append in-order data to the receive chain (coalescing small payloads). */
void tcp_rcv_append(struct tcpcb *tp, struct fn_pkt *pkt);

/* ---- tcp_output.c ---- */
int tcp_output(struct tcpcb *tp, uint64_t now);
/* The largest payload of a data segment (t_maxseg minus the options every segment carries):
 * RFC 6691 §2, the MSS does not count options; every segment of a connection with
 * timestamps carries 12 option bytes, so its payload is 12 bytes smaller. */
static inline uint32_t tcp_maxseg(const struct tcpcb *tp)
{
    return tp->t_maxseg - (TS_ON(tp) ? TCPOLEN_TSTAMP_APPA : 0);
}
/* The window we would advertise now (bytes, before scaling). */
uint32_t tcp_rcv_space(const struct tcpcb *tp);
/* Send an ACK now (challenge ACK, out-of-window ACK) from the current state. */
void tcp_send_ack(struct tcpcb *tp, uint64_t now);
uint8_t tcp_rcv_wscale_for(uint32_t rcvbuf);
/* Options of a SYN or SYN-ACK at o (at most 20 bytes): MSS, window scale `wscale` (< 0: none),
 * SACK-permitted, timestamps.  Returns bytes, a multiple of 4. */
uint32_t tcp_syn_opts(uint8_t *o, uint16_t mss, int wscale, int sack, int ts, uint32_t tsval,
                      uint32_t tsecr);

/* ---- tcp_cc.c: congestion-control events of the transport (and tcp_cc_ack, tcp_ack.h) ---- */
/* tcp_output is about to send with nothing in flight (data was sent before). */
void tcp_cc_tx_resume(struct tcpcb *tp, uint64_t now);

/* ---- tcp_sack.c ---- */
/* What the SACK option of an ACK told the sender (tcp_sack_input). */
#define TCP_SACK_NONE 0     /* no SACK option (or SACK not negotiated) */
#define TCP_SACK_OLD  1     /* blocks, but nothing SACKed that was not SACKed before */
#define TCP_SACK_NEW  2     /* the scoreboard grew */
/* Validate the blocks of an acceptable ACK (SEG.ACK = ack) and merge them into the
 * scoreboard.  Returns TCP_SACK_*. */
int tcp_sack_input(struct tcpcb *tp, const struct fn_tcp_opts *to, uint32_t ack);
/* A duplicate ACK (t_dupacks already counted) on a SACK connection: enter or continue
 * RFC 6675 loss recovery.  Returns 1 if handled, 0 to fall back to limited transmit. */
int tcp_sack_dupack(struct tcpcb *tp, uint64_t now);
/* RFC 6675 §5 (B)/(C): send what pipe allows for an ACK during recovery. */
void tcp_sack_output(struct tcpcb *tp, uint64_t now);
/* RFC 6675 §5.1: an RTO discards the scoreboard (the receiver may have reneged). */
void tcp_sack_rto(struct tcpcb *tp);
/* tcp_output: move snd_nxt past SACKed data; returns how many bytes from snd_nxt may go
 * before the next SACKed range (UINT32_MAX: no limit). */
uint32_t tcp_sack_skip(struct tcpcb *tp);
/* Receiver: an out-of-order (or hole-filling) segment [seq, seq + len) is about to be queued:
 * remember it for block order and D-SACK any part already held (RFC 2883 §4). */
void tcp_sack_rcv_segment(struct tcpcb *tp, uint32_t seq, uint32_t len);
/* Receiver: [start, end) arrived again below rcv_nxt: D-SACK it in the next ACK. */
void tcp_sack_dsack(struct tcpcb *tp, uint32_t start, uint32_t end);
/* The SACK option of the next ACK in at most room bytes (RFC 2018 §3-4): writes it to o
 * (and consumes a pending D-SACK) unless o is NULL; returns its length (0: none). */
uint32_t tcp_sack_opts(struct tcpcb *tp, uint8_t *o, uint32_t room);

/* ---- tcp_timewait.c: TIME_WAIT gives way to new connections (its contract) ---- */
/* tp entered (or restarted) TIME_WAIT, or its owner let go of it: once both hold, queue it
 * as the newest TIME_WAIT that may be recycled. */
void tcp_tw_note(struct tcpcb *tp);
/* tp is being freed or requeued: take it off the queue (its 2·MSL back to the heap). */
void tcp_tw_unlink(struct tcpcb *tp);
/* End the queued TIME_WAITs whose 2·MSL is over (from fn_tcp_timer, after the heap's). */
void tcp_tw_expire(struct fn_tcp *tcp, uint64_t now);
/* The earliest 2·MSL deadline the queue ends, UINT64_MAX if none. */
uint64_t tcp_tw_next_deadline(const struct fn_tcp *tcp);
/* No tcpcb is free: end the oldest queued TIME_WAIT (counted tcp_tw_recycled), freeing its
 * tcpcb.  0, or -ENOBUFS when none is queued. */
int tcp_tw_recycle(struct fn_tcp *tcp);
/* May a new connection get a tcpcb now (free, or a TIME_WAIT to recycle)? */
int tcp_tcb_available(const struct fn_tcp *tcp);

/* ---- tcp_pool.c: sharing the packet-buffer pool (the policy is in its contract) ---- */
#define TCP_PWAIT_SND 1u    /* a send was refused: raise FN_TCP_EV_WRITABLE when it may grow */
#define TCP_PWAIT_OUT 2u    /* new data was held back: tcp_output once the pool recovers */
#define TCP_PWAIT_RCV 4u    /* the window stalled for want of buffers: send an update */
void tcp_pool_init(struct fn_tcp *tcp);
/* May tp's send chain take one more buffer?  If not: counted, and tp waits (SND). */
int tcp_pool_may_queue_snd(struct tcpcb *tp);
/* Bytes tp's send chain may grow by now (tail room plus its share of the pool). */
uint32_t tcp_pool_snd_room(const struct tcpcb *tp);
/* May a segment of new data take a buffer?  If not: counted, and tp waits (OUT). */
int tcp_pool_may_send_new(struct tcpcb *tp);
/* May an out-of-order segment be queued?  If not: counted (the caller drops it). */
int tcp_pool_may_queue_ooo(struct tcpcb *tp);
/* May in-order data be kept?  If not: counted, and tp waits (RCV).  Either way tp counts
 * as a receiver at now (its window shares the pool with the other receivers). */
int tcp_pool_may_keep_rcv(struct tcpcb *tp, uint64_t now);
/* The receive window the pool can back for tp now, bytes. */
uint32_t tcp_pool_rcv_window(const struct tcpcb *tp);
/* tp can receive no more data (the peer's FIN came, or it closed): it stops counting as a
 * receiver at once.  Idempotent. */
void tcp_pool_rcv_end(struct tcpcb *tp);
/* tcp_output advertised a window: wait (RCV) if the pool is what keeps it shut. */
void tcp_pool_adv_check(struct tcpcb *tp);
void tcp_pool_wait(struct tcpcb *tp, uint32_t why);
/* tp is being freed: take it off the waiters. */
void tcp_pool_unwait(struct tcpcb *tp);
/* The pool or the receivers changed since waiters were last checked: poll now. */
int tcp_pool_wake_due(const struct fn_tcp *tcp);
/* When the receivers counted may drop, if that matters to a waiter; else UINT64_MAX. */
uint64_t tcp_pool_next_deadline(const struct fn_tcp *tcp);
/* Wake the waiters the pool can now satisfy (every poll, from fn_tcp_timer). */
void tcp_pool_wake(struct fn_stack *st, uint64_t now);

/* ---- tcp_timer.c ---- */
/* A timer armed from old to when changed the tcpcb's earliest deadline (tcp_timer_arm). */
void tcp_timer_rekey(struct tcpcb *tp, uint64_t old, uint64_t when);
/* Arm timer which for the absolute time when (0 is taken as 1).  t_due stays the exact
 * minimum of the armed timers (fn_tcp_next_deadline reports it), but the common cases touch
 * neither the other timers nor the heap: re-arming a timer to a later deadline while another
 * one is earlier (the retransmission timer under a delayed ACK), or to the same one. */
static inline void tcp_timer_arm(struct tcpcb *tp, int which, uint64_t when)
{
    uint64_t old = tp->t_timer[which];

    if (when == 0)
        when = 1;
    if (old == when)
        return;
    tp->t_timer[which] = when;
    if (tp->t_due == 0 || when < tp->t_due || old == tp->t_due)
        tcp_timer_rekey(tp, old, when);
}
/* The earliest timer was stopped: recompute t_due and the heap (tcp_timer_stop). */
void tcp_timer_resched(struct tcpcb *tp);
static inline void tcp_timer_stop(struct tcpcb *tp, int which)
{
    uint64_t old = tp->t_timer[which];

    if (old == 0)
        return;
    tp->t_timer[which] = 0;
    if (old == tp->t_due)
        tcp_timer_resched(tp);
}
void tcp_timers_stop_all(struct tcpcb *tp);
/* Arm the retransmission timer for the current RTO from now (RFC 6298 §5.1). */
void tcp_rexmt_arm(struct tcpcb *tp, uint64_t now);
/* RTO for backoff shift n, clamped to [tcp_rto_min, tcp_rto_max]. */
uint64_t tcp_rto(const struct tcpcb *tp, uint32_t shift);
uint64_t fn_tcp_next_deadline(const struct fn_stack *st);
void fn_tcp_timer(struct fn_stack *st, uint64_t now);

#endif
