/*
 * config.c — the defaults of struct fn_config.
 *
 * Contract: fn_config_defaults() fills every field; the address and gateway are
 * left zero because there is no sensible default address — fn_stack_create() rejects ip 0.
 * Pure; any thread.
 */
#include <string.h>

#include "fastnet/fn_config.h"
#include "fastnet/fn_pkt.h"

void fn_config_defaults(struct fn_config *c)
{
    memset(c, 0, sizeof(*c));
    c->ip = 0;
    c->prefix_len = 24;
    c->gateway = 0;
    c->mtu = 0;                     /* take the backend's */

    c->n_bufs = 4096;
    c->buf_size = FN_PKT_BUFSZ_DEFAULT;
    c->hugepages = 1;
    c->rx_batch = 32;
    c->core = -1;

    c->arp_cache_size = 256;
    c->arp_reachable_ms = 30000;    /* Linux base_reachable_time is 30 s */
    c->arp_retry_ms = 1000;         /* RFC 1122 §2.3.2.1: at most one request per second */
    c->arp_max_retries = 3;
    c->arp_queue_max = 16;
    c->gratuitous_arp = 1;

    c->default_ttl = 64;            /* RFC 1700 / Linux default */
    c->reass_max_datagrams = 16;
    c->reass_max_size = 65535;
    c->reass_timeout_ms = 30000;    /* Linux ipfrag_time */
    c->reass_max_frags = 64;

    c->icmp_err_rate_per_s = 100;

    c->tcp_max_conns = 1024;
    c->tcp_sndbuf = 128 * 1024;
    c->tcp_rcvbuf = 128 * 1024;
    c->tcp_reass_max_segs = 128;
    c->tcp_msl_ms = 30000;          /* TIME_WAIT 60 s, as Linux */
    c->tcp_fin_wait2_ms = 60000;    /* Linux tcp_fin_timeout */
    c->tcp_rto_init_ms = 1000;      /* RFC 6298 §2.1 */
    c->tcp_rto_min_ms = 200;        /* Linux TCP_RTO_MIN; RFC 6298 §2.4 says 1 s */
    c->tcp_rto_max_ms = 120000;     /* RFC 6298 §2.5: at least 60 s; Linux 120 s */
    c->tcp_max_rexmits = 15;        /* Linux tcp_retries2 */
    c->tcp_syn_retries = 6;         /* Linux tcp_syn_retries */
    c->tcp_delack_ms = 40;          /* Linux TCP_DELACK_MIN */
    c->tcp_initcwnd_segs = 10;      /* RFC 6928 */
    c->tcp_min_mss = 64;
    c->tcp_challenge_ack_per_s = 10;
    c->tcp_oow_ack_interval_ms = 500; /* Linux tcp_invalid_ratelimit */
    c->tcp_window_scaling = 1;
    c->tcp_timestamps = 1;
    c->tcp_sack = 1;
    c->tcp_nodelay = 0;             /* RFC 1122 §4.2.3.4: Nagle on by default */
    c->tcp_keepalive_idle_s = 7200; /* RFC 1122 §4.2.3.6: no less than two hours */
    c->tcp_keepalive_intvl_s = 75;  /* Linux tcp_keepalive_intvl */
    c->tcp_keepalive_cnt = 9;       /* Linux tcp_keepalive_probes */
    c->tcp_syncache_size = 1024;    /* Linux tcp_max_syn_backlog's order of magnitude */
    c->tcp_syncookies = 1;          /* Linux tcp_syncookies = 1: cookies on overflow */
    c->tcp_cc = FN_CC_CUBIC;        /* RFC 9438: the default of Linux, Windows and macOS */
    c->tcp_max_sockets = 1024;      /* as many descriptors as tcpcbs by default */
    c->tcp_pool_reserve_pct = 12;   /* 491 of 4096 buffers: several receive batches */
    c->tcp_pool_ooo_pct = 25;
}
