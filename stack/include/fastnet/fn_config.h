/*
 * fn_config.h — the knobs of one stack instance.
 *
 * Contract: a plain struct, filled with fn_config_defaults() and then overridden by the
 * caller (the Python layer parses TOML and flags into it).  The stack copies it at creation;
 * nothing reads global knobs.  IPv4 addresses are in network byte order everywhere in C.
 */
#ifndef FASTNET_FN_CONFIG_H
#define FASTNET_FN_CONFIG_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct fn_config {
    /* addressing */
    uint32_t ip;                    /* our IPv4 address (network order) */
    uint8_t prefix_len;             /* local subnet prefix, 0..32 */
    uint32_t gateway;               /* default gateway (network order), 0 = none */
    uint32_t mtu;                   /* L3 MTU; 0 = take the backend's */

    /* per-core resources */
    uint32_t n_bufs;                /* packet buffers in the pool */
    uint32_t buf_size;              /* bytes per buffer (power of two) */
    int hugepages;                  /* 1 = try 2 MB hugepages first */
    uint32_t rx_batch;              /* frames per rx_batch call (<= FN_MAX_BATCH) */
    int core;                       /* core this stack runs on (for assertions/logs); -1 = any */

    /* ARP (RFC 826) */
    uint32_t arp_cache_size;        /* entries */
    uint32_t arp_reachable_ms;      /* a resolved entry is used without re-asking this long */
    uint32_t arp_retry_ms;          /* interval between requests while resolving */
    uint32_t arp_max_retries;       /* requests before giving up (queued packets dropped) */
    uint32_t arp_queue_max;         /* packets held per unresolved entry */
    int gratuitous_arp;             /* 1 = announce our address when the stack starts */

    /* IPv4 */
    uint8_t default_ttl;
    uint32_t reass_max_datagrams;   /* datagrams being reassembled at once */
    uint32_t reass_max_size;        /* largest reassembled datagram (<= 65535) */
    uint32_t reass_timeout_ms;      /* RFC 791 suggests 15 s; Linux uses 30 s */
    uint32_t reass_max_frags;       /* fragments per datagram */

    /* ICMP */
    uint32_t icmp_err_rate_per_s;   /* ICMP errors we send per second (token bucket) */

    /* TCP (RFC 9293 and the RFCs cited at each default in config.c) */
    uint32_t tcp_max_conns;         /* tcpcbs preallocated (connections, listeners and
                                       TIME_WAIT).  When none is free, the oldest TIME_WAIT
                                       whose socket is closed gives way (tcp_tw_recycled);
                                       when all belong to live connections, SYNs are
                                       dropped, a third ACK gets a RST and connect fails
                                       with ENOBUFS (tcp_tcb_exhausted) */
    uint32_t tcp_sndbuf;            /* send buffer bytes per connection */
    uint32_t tcp_rcvbuf;            /* receive buffer bytes per connection (max window) */
    uint32_t tcp_reass_max_segs;    /* out-of-order segments held per connection */
    uint32_t tcp_msl_ms;            /* maximum segment lifetime; TIME_WAIT lasts 2·MSL */
    uint32_t tcp_fin_wait2_ms;      /* FIN_WAIT_2 limit once the owner closed the socket */
    uint32_t tcp_rto_init_ms;       /* RFC 6298 §2.1 initial RTO */
    uint32_t tcp_rto_min_ms;        /* RFC 6298 §2.4 lower bound */
    uint32_t tcp_rto_max_ms;        /* RFC 6298 §2.5 upper bound (>= 60 s) */
    uint32_t tcp_max_rexmits;       /* retransmissions of one segment before ETIMEDOUT */
    uint32_t tcp_syn_retries;       /* SYN / SYN-ACK retransmissions before giving up */
    uint32_t tcp_delack_ms;         /* delayed-ACK bound (RFC 9293 §3.8.6.3: < 0.5 s) */
    uint32_t tcp_initcwnd_segs;     /* initial window in segments (RFC 6928) */
    uint32_t tcp_min_mss;           /* floor on the peer's MSS (>= 48) */
    uint32_t tcp_challenge_ack_per_s; /* RFC 5961 §7 challenge ACKs per connection per s */
    uint32_t tcp_oow_ack_interval_ms; /* min interval between ACKs to out-of-window segs */
    int tcp_window_scaling;         /* 1 = offer window scale (RFC 7323 §2) */
    int tcp_timestamps;             /* 1 = offer timestamps (RFC 7323 §3) */
    int tcp_sack;                   /* 1 = offer SACK-permitted (RFC 2018) */
    int tcp_nodelay;                /* 1 = new connections start with Nagle off */
    /* TCP keepalive defaults for fn_tcp_set_keepalive (RFC 1122 §4.2.3.6; off per socket) */
    uint32_t tcp_keepalive_idle_s;  /* idle before the first probe (>= 2 h by the RFC) */
    uint32_t tcp_keepalive_intvl_s; /* between unanswered probes */
    uint32_t tcp_keepalive_cnt;     /* unanswered probes before ETIMEDOUT */
    uint32_t tcp_syncache_size;     /* half-open passive opens held, all listeners together;
                                       a listener holds at most its backlog of them */
    uint32_t tcp_syncookies;        /* RFC 4987 §3.6: 0 never, 1 when the syncache (or the
                                       listener's share) is full, 2 for every SYN */
    uint32_t tcp_cc;                /* congestion control of new connections: FN_CC_* */
    uint32_t tcp_max_sockets;       /* socket layer: descriptors (sockets, epoll sets, kqueues)
                                       preallocated; epoll registrations are twice this */
    /* TCP's share of the packet-buffer pool (tcp_pool.c) */
    uint32_t tcp_pool_reserve_pct;  /* % of the pool kept for ACKs, control segments,
                                       retransmissions and received frames: new data is
                                       neither queued nor (below half of it) sent into it */
    uint32_t tcp_pool_ooo_pct;      /* % of the pool out-of-order data of all connections
                                       together may hold */
};

/* Congestion-control algorithms by index (struct fn_config.tcp_cc); the names are those of
 * fn_tcp_set_cc() and of the config key tcp.congestion. */
#define FN_CC_NEWRENO 0u            /* RFC 5681 / RFC 6582 */
#define FN_CC_CUBIC   1u            /* RFC 9438 */

/* Fill with the defaults documented in docs/config.md and the README. */
void fn_config_defaults(struct fn_config *c);

/* Numeric knobs by their field name (the table is in core/config_knobs.c): count, i-th name
 * (NULL past the end), get and set.  set returns 0, -ENOENT for an unknown name, -ERANGE for
 * a value that does not fit the field. */
unsigned fn_config_knob_count(void);
const char *fn_config_knob_name(unsigned i);
int fn_config_knob_get(const struct fn_config *c, const char *name, int64_t *out);
int fn_config_knob_set(struct fn_config *c, const char *name, int64_t value);

/* The name of the congestion-control algorithm with FN_CC_* index i, NULL past the end:
 * the names tcp.congestion accepts, in index order. */
const char *fn_config_cc_name(unsigned i);

#ifdef __cplusplus
}
#endif
#endif
