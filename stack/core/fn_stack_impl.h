/*
 * fn_stack_impl.h — the inside of struct fn_stack, shared by core/, net/ and tcp/.
 *
 * Contract: one stack = one core.  Every field is touched only by the thread that polls the
 * stack.  Everything here is allocated by fn_stack_create() and freed by fn_stack_destroy():
 * nothing on the packet path allocates (packets come from the stack's pool, and every pool
 * failure is a counted drop).
 *
 * Output discipline: every layer that sends calls fn_stack_tx() with a complete Ethernet
 * frame.  Frames collect in txq and leave in one fn_backend_tx() call per poll iteration (or
 * earlier when txq fills — frames are never dropped for that reason), followed by one
 * fn_backend_flush().
 */
#ifndef FASTNET_CORE_FN_STACK_IMPL_H
#define FASTNET_CORE_FN_STACK_IMPL_H

#include <stdint.h>

#include "fastnet/fn_backend.h"
#include "fastnet/fn_config.h"
#include "fastnet/fn_pkt.h"
#include "fastnet/fn_stack.h"
#include "net/fn_ip.h"

#define FN_TXQ_MAX (FN_MAX_BATCH * 4)
#define FN_PING_RING 32u

/* ---- ARP cache (RFC 826, RFC 1122 §2.3.2) ---- */
enum fn_arp_state {
    FN_ARP_FREE = 0,
    FN_ARP_INCOMPLETE,  /* requested, no answer yet; packets wait in q */
    FN_ARP_REACHABLE,   /* mac valid; confirmed less than arp_reachable_ms ago */
    FN_ARP_STALE,       /* mac still used; the next use sends a unicast probe */
    FN_ARP_PROBE,       /* mac still used; probing, freed if arp_max_retries go unanswered */
};

struct fn_arp_entry {
    uint32_t ip;                /* network order; key; 0 only when FREE */
    uint8_t mac[6];             /* valid in REACHABLE, STALE, PROBE */
    uint8_t state;              /* enum fn_arp_state */
    uint8_t pad_;
    uint32_t retries;           /* requests sent in INCOMPLETE / PROBE */
    int32_t hnext;              /* next entry index in the hash chain, -1 = end; free list link
                                   when FREE */
    uint64_t timer;             /* INCOMPLETE/PROBE: next request (or give-up) time;
                                   REACHABLE: when it turns STALE; STALE: unused (no timer) */
    uint64_t updated;           /* when the mac was last confirmed (eviction picks the oldest) */
    struct fn_pkt *q_head;      /* INCOMPLETE: IP packets (data at the IPv4 header) waiting, */
    struct fn_pkt *q_tail;      /*   linked by pkt->next, oldest first; at most arp_queue_max */
    uint32_t q_len;
};

struct fn_arp {
    struct fn_arp_entry *e;     /* cfg.arp_cache_size entries */
    int32_t *buckets;           /* nbuckets heads (entry index or -1) */
    uint32_t nbuckets;          /* power of two >= arp_cache_size */
    int32_t free_head;          /* free entries linked by hnext */
    uint32_t used;
    uint64_t next_due;          /* min timer of INCOMPLETE/PROBE/REACHABLE entries, or MAX */
};

/* ---- IPv4 reassembly (RFC 791 §3.2, RFC 815) ---- */
struct fn_reass_range {
    uint32_t start, end;        /* payload bytes [start, end) held; ranges never overlap */
};

struct fn_reass_slot {
    uint8_t used;
    uint8_t proto;
    uint8_t hlen;               /* header length of fragment 0, 0 until it arrives */
    uint16_t id;                /* key: (src, dst, proto, id) — RFC 791 */
    uint32_t src, dst;
    uint32_t total;             /* payload length, known once the last fragment (MF=0) came;
                                   0 = not yet */
    uint32_t received;          /* sum of range lengths (ranges are disjoint) */
    uint32_t nranges;           /* <= cfg.reass_max_frags */
    uint64_t expiry;            /* first fragment time + reass_timeout_ms */
    struct fn_ipv4_info info0;  /* header fields of fragment 0 (valid when hlen != 0) */
    struct fn_reass_range *ranges;
    uint8_t *buf;               /* FN_IPV4_MAX_HLEN + reass_max_size bytes: fragment 0's header
                                   ends at buf + FN_IPV4_MAX_HLEN, the payload starts there */
};

struct fn_reass {
    struct fn_reass_slot *slots;    /* cfg.reass_max_datagrams */
    uint32_t nslots;
    uint32_t used;
    uint64_t next_due;              /* min expiry of used slots, or UINT64_MAX */
};

struct fn_ip_proto {
    fn_ip_input_fn input;
    fn_ip_ctlinput_fn ctlinput;
    void *arg;
};

struct fn_stack {
    struct fn_config cfg;       /* copied at create */
    struct fn_pool *pool;       /* owned */
    struct fn_backend *be;      /* owned */
    uint8_t mac[6];             /* = be->mac */
    uint32_t mtu;               /* L3 MTU: cfg.mtu or be->mtu, 68..be->mtu */
    uint32_t netmask;           /* network order, from cfg.prefix_len */
    struct fn_stats stats;

    struct fn_pkt *rxv[FN_MAX_BATCH];
    struct fn_pkt *txq[FN_TXQ_MAX];
    uint32_t ntx;               /* frames in txq */
    uint32_t tx_handed;         /* frames handed to the backend since the last flush */

    struct fn_arp arp;

    uint16_t ip_id;             /* next IPv4 identification (random start) */
    struct fn_ip_proto protos[256];
    struct fn_reass reass;
    int warned_l4_csum;         /* the "peer has checksum offload" warning was logged */
    int warned_arp_conflict;    /* the "someone claims our address" warning was logged */

    /* ICMP error token bucket: credit in ns, one error costs 1e9 / rate ns, at most 1 s of
     * credit (a burst of `rate` errors). */
    uint64_t icmp_credit_ns;
    uint64_t icmp_credit_at;

    /* Echo replies to fn_stack_ping(): a ring, the oldest overwritten when full. */
    uint16_t ping_ids[FN_PING_RING], ping_seqs[FN_PING_RING];
    uint32_t ping_head, ping_count;

    struct fn_tcp *tcp;         /* TCP state (tcp/tcp_var.h): tcpcbs, hashes, timer heap,
                                   ready list; created by fn_tcp_init() */

    /* ---- socket layer (socket/): descriptors, epoll, ownership ---- */
    uint64_t now;               /* time of the last fn_stack_poll(): the clock of calls that
                                   do not wait (they never read the platform clock) */
    uint64_t owner_tid;         /* fn_thread_id() of the creating thread: the owner; the only
                                   field a call from another thread reads before refusing */
    struct fn_socktab *sock;    /* descriptor table (socket/fn_sock_impl.h), created by
                                   fn_sock_init() */
};

/* The socket layer's entry points for core/ (socket/socket.c). */
int fn_sock_init(struct fn_stack *st);
void fn_sock_fini(struct fn_stack *st);

/* TCP's entry points for core/ (tcp/tcp_subr.c, tcp/tcp_timer.c). */
int fn_tcp_init(struct fn_stack *st);
void fn_tcp_fini(struct fn_stack *st);
void fn_tcp_timer(struct fn_stack *st, uint64_t now);
uint64_t fn_tcp_next_deadline(const struct fn_stack *st);

/* Append a complete Ethernet frame to the tx queue (takes ownership; counts eth_tx). */
void fn_stack_tx(struct fn_stack *st, struct fn_pkt *pkt, uint64_t now);

#endif
