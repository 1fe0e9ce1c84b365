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
};

/* Fill with the defaults documented in docs/config and the README. */
void fn_config_defaults(struct fn_config *c);

#ifdef __cplusplus
}
#endif
#endif
