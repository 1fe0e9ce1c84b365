/*
 * arp.c — the ARP cache and resolution (RFC 826, RFC 1122 §2.3.2, RFC 5227 announcements).
 *
 * Contract: owns the cache of cfg.arp_cache_size entries (allocated at create, hashed by IP)
 * and the IP packets waiting for a resolution.  Stack-owner core only.
 *
 *  - Learning follows RFC 826's merge rule: the sender of any well-formed ARP packet updates
 *    an existing entry; a new entry is created only when the packet targets our address.
 *  - Requests for our address are answered in place (the request's buffer becomes the reply).
 *  - An unresolved next hop gets an INCOMPLETE entry and a broadcast request every
 *    arp_retry_ms; after arp_max_retries requests the waiting packets are dropped
 *    (arp_queue_drops) and the resolution counted as failed.  While resolving, at most
 *    arp_queue_max packets wait; when full the OLDEST is dropped (newer packets — a TCP
 *    retransmission, the latest ping — are the ones worth keeping).
 *  - A REACHABLE entry turns STALE after arp_reachable_ms; a stale MAC keeps being used, and
 *    the first use sends a unicast probe (RFC 1122 §2.3.2.1); if arp_max_retries probes go
 *    unanswered the entry is freed.
 *  - Cache full: the resolved entry confirmed longest ago is evicted; if every entry is still
 *    resolving, nothing is learned (arp_cache_full) and the packet needing it is dropped.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/fn_stack_impl.h"
#include "net/fn_net.h"
#include "platform/fn_platform.h"
#include "wire/fn_wire.h"

static const uint8_t mac_zero[6];
static const uint8_t mac_bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

static uint64_t ms_to_ns(uint32_t ms)
{
    return (uint64_t)ms * 1000000u;
}

static uint32_t arp_hash(const struct fn_arp *a, uint32_t ip)
{
    return ((ip * 2654435761u) >> 7) & (a->nbuckets - 1);
}

int fn_arp_init(struct fn_stack *st)
{
    struct fn_arp *a = &st->arp;
    uint32_t n = st->cfg.arp_cache_size;

    a->nbuckets = 1;
    while (a->nbuckets < n)
        a->nbuckets <<= 1;
    a->e = calloc(n, sizeof(*a->e));
    a->buckets = malloc(a->nbuckets * sizeof(*a->buckets));
    if (!a->e || !a->buckets)
        return -ENOMEM;
    for (uint32_t i = 0; i < a->nbuckets; i++)
        a->buckets[i] = -1;
    for (uint32_t i = 0; i < n; i++)
        a->e[i].hnext = i + 1 < n ? (int32_t)(i + 1) : -1;
    a->free_head = 0;
    a->next_due = UINT64_MAX;
    return 0;
}

static void queue_drop(struct fn_stack *st, struct fn_arp_entry *e)
{
    st->stats.arp_queue_drops += e->q_len;
    fn_pkt_free_chain(e->q_head);
    e->q_head = e->q_tail = NULL;
    e->q_len = 0;
}

void fn_arp_fini(struct fn_stack *st)
{
    struct fn_arp *a = &st->arp;

    if (a->e) {
        for (uint32_t i = 0; i < st->cfg.arp_cache_size; i++)
            fn_pkt_free_chain(a->e[i].q_head);
    }
    free(a->e);
    free(a->buckets);
    a->e = NULL;
    a->buckets = NULL;
}

static struct fn_arp_entry *arp_find(const struct fn_arp *a, uint32_t ip)
{
    for (int32_t i = a->buckets[arp_hash(a, ip)]; i >= 0; i = a->e[i].hnext) {
        if (a->e[i].ip == ip)
            return &a->e[i];
    }
    return NULL;
}

static void arp_free_entry(struct fn_stack *st, struct fn_arp_entry *e)
{
    struct fn_arp *a = &st->arp;
    int32_t idx = (int32_t)(e - a->e);
    int32_t *link = &a->buckets[arp_hash(a, e->ip)];

    while (*link != idx)
        link = &a->e[*link].hnext;
    *link = e->hnext;
    queue_drop(st, e);
    memset(e, 0, sizeof(*e));
    e->hnext = a->free_head;
    a->free_head = idx;
    a->used--;
}

/* A new FREE-state entry for ip (state to be set by the caller), or NULL when the cache is
 * full of entries still resolving. */
static struct fn_arp_entry *arp_alloc(struct fn_stack *st, uint32_t ip)
{
    struct fn_arp *a = &st->arp;
    struct fn_arp_entry *e;
    uint32_t b;

    if (a->free_head < 0) {
        struct fn_arp_entry *victim = NULL;
        for (uint32_t i = 0; i < st->cfg.arp_cache_size; i++) {
            e = &a->e[i];
            if (e->state != FN_ARP_INCOMPLETE && (!victim || e->updated < victim->updated))
                victim = e;
        }
        if (!victim) {
            st->stats.arp_cache_full++;
            return NULL;
        }
        arp_free_entry(st, victim);
    }
    e = &a->e[a->free_head];
    a->free_head = e->hnext;
    memset(e, 0, sizeof(*e));
    e->ip = ip;
    b = arp_hash(a, ip);
    e->hnext = a->buckets[b];
    a->buckets[b] = (int32_t)(e - a->e);
    a->used++;
    return e;
}

static void arp_arm(struct fn_stack *st, struct fn_arp_entry *e, uint64_t when)
{
    e->timer = when;
    if (when < st->arp.next_due)
        st->arp.next_due = when;
}

/* Send one ARP packet (op, target tha/tpa) in a fresh buffer to Ethernet dst. */
static void arp_send(struct fn_stack *st, uint16_t op, const uint8_t eth_dst[6],
                     const uint8_t tha[6], uint32_t tpa, uint64_t now)
{
    struct fn_pkt *pkt = fn_pkt_alloc(st->pool);
    uint8_t *p;

    if (!pkt) {
        st->stats.drop_nobuf++;
        return;
    }
    p = fn_pkt_put(pkt, FN_ARP_LEN);
    fn_arp_emit(p, op, st->mac, st->cfg.ip, tha, tpa);
    st->stats.arp_tx++;
    fn_ether_send(st, pkt, eth_dst, FN_ETHERTYPE_ARP, now);
}

/* The entry's MAC is (re)confirmed: send everything that waited for it. */
static void arp_confirm(struct fn_stack *st, struct fn_arp_entry *e, const uint8_t mac[6],
                        uint64_t now)
{
    struct fn_pkt *pkt = e->q_head;

    memcpy(e->mac, mac, 6);
    e->state = FN_ARP_REACHABLE;
    e->retries = 0;
    e->updated = now;
    arp_arm(st, e, now + ms_to_ns(st->cfg.arp_reachable_ms));
    e->q_head = e->q_tail = NULL;
    e->q_len = 0;
    while (pkt) {
        struct fn_pkt *next = pkt->next;
        pkt->next = NULL;
        fn_ether_send(st, pkt, e->mac, FN_ETHERTYPE_IPV4, now);
        pkt = next;
    }
}

void fn_arp_input(struct fn_stack *st, struct fn_pkt *pkt, uint64_t now)
{
    struct fn_arp_info arp;
    struct fn_arp_entry *e;
    uint8_t sha[6];
    uint32_t spa;
    int merged = 0;

    st->stats.arp_rx++;
    if (fn_arp_parse(pkt->data, pkt->len, &arp) != FN_WIRE_OK ||
        fn_eth_is_multicast(arp.sha)) {
        /* A group address as sender is not a host we could ever answer. */
        st->stats.drop_arp_malformed++;
        fn_pkt_free(pkt);
        return;
    }
    memcpy(sha, arp.sha, 6);
    spa = arp.spa;
    if (spa == st->cfg.ip) {
        /* Someone else claims our address (RFC 5227 §2.4): never learn it; tell the
         * operator once (a flood of these must not become a flood of log lines). */
        if (!st->warned_arp_conflict)
            fn_log(FN_LOG_WARN, "ARP: %02x:%02x:%02x:%02x:%02x:%02x claims our address",
                   sha[0], sha[1], sha[2], sha[3], sha[4], sha[5]);
        st->warned_arp_conflict = 1;
        st->stats.drop_arp_conflict++;
        fn_pkt_free(pkt);
        return;
    }
    /* RFC 826 "merge": update the sender if we already know it, whatever the target. An
     * all-zero sender address is an RFC 5227 probe: nothing to learn. */
    if (spa != 0) {
        e = arp_find(&st->arp, spa);
        if (e) {
            arp_confirm(st, e, sha, now);
            merged = 1;
        }
    }
    if (arp.tpa != st->cfg.ip) {
        st->stats.drop_arp_not_for_us++;
        fn_pkt_free(pkt);
        return;
    }
    if (!merged && spa != 0) {
        e = arp_alloc(st, spa);
        if (e) {
            arp_confirm(st, e, sha, now);
            merged = 1;
        }
    }
    if (arp.op == FN_ARP_OP_REPLY) {
        if (merged)
            st->stats.arp_replies_learned++;
        fn_pkt_free(pkt);
        return;
    }
    /* Request for us: turn the buffer around (RFC 826: swap, fill in our hardware address,
     * set the opcode to reply) and send it to the asker. */
    pkt->len = FN_ARP_LEN;
    fn_arp_emit(pkt->data, FN_ARP_OP_REPLY, st->mac, st->cfg.ip, sha, spa);
    st->stats.arp_requests_answered++;
    st->stats.arp_tx++;
    fn_ether_send(st, pkt, sha, FN_ETHERTYPE_ARP, now);
}

void fn_arp_timer(struct fn_stack *st, uint64_t now)
{
    struct fn_arp *a = &st->arp;
    uint64_t next = UINT64_MAX;

    for (uint32_t i = 0; i < st->cfg.arp_cache_size && a->used > 0; i++) {
        struct fn_arp_entry *e = &a->e[i];
        if (e->state == FN_ARP_FREE || e->state == FN_ARP_STALE)
            continue;
        if (e->timer <= now) {
            switch (e->state) {
            case FN_ARP_REACHABLE:
                e->state = FN_ARP_STALE;
                continue;
            case FN_ARP_INCOMPLETE:
            case FN_ARP_PROBE:
                if (e->retries >= st->cfg.arp_max_retries) {
                    st->stats.arp_resolve_failed++;
                    arp_free_entry(st, e);
                    continue;
                }
                e->retries++;
                e->timer = now + ms_to_ns(st->cfg.arp_retry_ms);
                if (e->state == FN_ARP_PROBE)
                    arp_send(st, FN_ARP_OP_REQUEST, e->mac, e->mac, e->ip, now);
                else
                    arp_send(st, FN_ARP_OP_REQUEST, mac_bcast, mac_zero, e->ip, now);
                break;
            default:
                break;
            }
        }
        if (e->timer < next)
            next = e->timer;
    }
    a->next_due = next;
}

/* Create an INCOMPLETE entry for ip and send the first request. */
static struct fn_arp_entry *arp_start(struct fn_stack *st, uint32_t ip, uint64_t now)
{
    struct fn_arp_entry *e = arp_alloc(st, ip);

    if (!e)
        return NULL;
    e->state = FN_ARP_INCOMPLETE;
    e->retries = 1;
    arp_arm(st, e, now + ms_to_ns(st->cfg.arp_retry_ms));
    arp_send(st, FN_ARP_OP_REQUEST, mac_bcast, mac_zero, ip, now);
    return e;
}

int fn_arp_resolve_pkt(struct fn_stack *st, uint32_t nh, struct fn_pkt *pkt, uint8_t mac[6],
                       uint64_t now)
{
    struct fn_arp_entry *e = arp_find(&st->arp, nh);

    if (e && e->state != FN_ARP_INCOMPLETE) {
        if (e->state == FN_ARP_STALE ||
            (e->state == FN_ARP_REACHABLE && now >= e->timer)) {
            e->state = FN_ARP_PROBE;
            e->retries = 1;
            arp_arm(st, e, now + ms_to_ns(st->cfg.arp_retry_ms));
            arp_send(st, FN_ARP_OP_REQUEST, e->mac, e->mac, e->ip, now);
        }
        memcpy(mac, e->mac, 6);
        return 1;
    }
    if (!e) {
        e = arp_start(st, nh, now);
        if (!e) {
            fn_pkt_free(pkt);       /* counted as arp_cache_full */
            return 0;
        }
    }
    if (e->q_len >= st->cfg.arp_queue_max) {
        struct fn_pkt *old = e->q_head;
        st->stats.arp_queue_drops++;
        if (!old) {
            fn_pkt_free(pkt);       /* arp_queue_max == 0: nothing may wait */
            return 0;
        }
        e->q_head = old->next;
        if (!e->q_head)
            e->q_tail = NULL;
        e->q_len--;
        old->next = NULL;
        fn_pkt_free(old);
    }
    pkt->next = NULL;
    if (e->q_tail)
        e->q_tail->next = pkt;
    else
        e->q_head = pkt;
    e->q_tail = pkt;
    e->q_len++;
    return 0;
}

int32_t fn_arp_slot(const struct fn_stack *st, uint32_t nh)
{
    const struct fn_arp_entry *e = arp_find(&st->arp, nh);

    return e ? (int32_t)(e - st->arp.e) : -1;
}

const uint8_t *fn_arp_usable(const struct fn_stack *st, int32_t slot, uint32_t nh,
                             uint64_t now)
{
    const struct fn_arp_entry *e;

    if (slot < 0 || (uint32_t)slot >= st->cfg.arp_cache_size)
        return NULL;
    e = &st->arp.e[slot];
    /* The branch of fn_arp_resolve_pkt that only copies the MAC: an entry holds one IP and
     * an IP has at most one entry, so this is the entry arp_find would return. */
    if (e->ip != nh || !(e->state == FN_ARP_PROBE ||
                         (e->state == FN_ARP_REACHABLE && now < e->timer)))
        return NULL;
    return e->mac;
}

void fn_arp_announce(struct fn_stack *st, uint64_t now)
{
    /* RFC 5227 §2.3 ARP Announcement: a request with sender and target both our address. */
    arp_send(st, FN_ARP_OP_REQUEST, mac_bcast, mac_zero, st->cfg.ip, now);
}

int fn_stack_arp_lookup(const struct fn_stack *st, uint32_t ip, uint8_t mac[6])
{
    const struct fn_arp_entry *e = arp_find(&st->arp, ip);

    if (!e || e->state == FN_ARP_INCOMPLETE)
        return 0;
    memcpy(mac, e->mac, 6);
    return 1;
}

int fn_stack_arp_resolve(struct fn_stack *st, uint32_t ip, uint64_t now)
{
    if (ip == 0 || ip == st->cfg.ip || ip == 0xffffffffu)
        return -EINVAL;
    if (arp_find(&st->arp, ip))
        return 0;
    return arp_start(st, ip, now) ? 0 : -ENOBUFS;
}
