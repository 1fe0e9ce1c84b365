/*
 * ip_frag.c — IPv4 fragment reassembly (RFC 791 §3.2, RFC 815) and output fragmentation.
 *
 * Contract: owns cfg.reass_max_datagrams reassembly slots, each with a buffer of
 * FN_IPV4_MAX_HLEN + cfg.reass_max_size bytes allocated at create, so the memory that
 * fragments can pin is bounded and nothing allocates per fragment.  Fragment payloads are
 * copied into the slot (the fragment's packet is freed at once) and the byte ranges held are
 * tracked, at most cfg.reass_max_frags of them.  Policy, every case counted:
 *   - a fragment overlapping one already held discards the whole datagram (drop_frag_overlap;
 *     RFC 5722's rule, as Linux does for IPv4 since 4.19); an exact duplicate is ignored
 *     (drop_frag_dup), as a retransmitting network produces them harmlessly;
 *   - a datagram growing beyond reass_max_size is discarded (drop_frag_too_big);
 *   - no free slot, or too many fragments: drop_frag_too_many (a new datagram is refused
 *     rather than evicting one in progress);
 *   - a slot not complete reass_timeout_ms after its first fragment is discarded
 *     (drop_frag_timeout) and, if fragment 0 had arrived, the source gets ICMP Time Exceeded
 *     code 1 (RFC 1122 §3.3.2);
 *   - inconsistent fragments (zero length, a non-final length not a multiple of 8, beyond
 *     65535, two different ends) discard the datagram (drop_frag_malformed).
 * A completed datagram is delivered from the slot's buffer (rx.pkt == NULL) and the slot is
 * freed when the handler returns.  Stack-owner core only.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/fn_stack_impl.h"
#include "net/fn_net.h"
#include "wire/fn_wire.h"

int fn_reass_init(struct fn_stack *st)
{
    struct fn_reass *r = &st->reass;
    uint32_t n = st->cfg.reass_max_datagrams;
    size_t bufsz = FN_IPV4_MAX_HLEN + (size_t)st->cfg.reass_max_size;

    r->next_due = UINT64_MAX;
    r->nslots = n;
    if (n == 0)
        return 0;
    r->slots = calloc(n, sizeof(*r->slots));
    if (!r->slots)
        return -ENOMEM;
    for (uint32_t i = 0; i < n; i++) {
        r->slots[i].ranges = malloc(st->cfg.reass_max_frags * sizeof(struct fn_reass_range));
        r->slots[i].buf = malloc(bufsz);
        if (!r->slots[i].ranges || !r->slots[i].buf)
            return -ENOMEM;
    }
    return 0;
}

void fn_reass_fini(struct fn_stack *st)
{
    struct fn_reass *r = &st->reass;

    if (r->slots) {
        for (uint32_t i = 0; i < r->nslots; i++) {
            free(r->slots[i].ranges);
            free(r->slots[i].buf);
        }
    }
    free(r->slots);
    r->slots = NULL;
    r->nslots = 0;
}

static void slot_free(struct fn_reass *r, struct fn_reass_slot *s)
{
    s->used = 0;
    r->used--;
}

static struct fn_reass_slot *slot_get(struct fn_stack *st, const struct fn_ipv4_info *ip,
                                      uint64_t now)
{
    struct fn_reass *r = &st->reass;
    struct fn_reass_slot *s, *empty = NULL;

    for (uint32_t i = 0; i < r->nslots; i++) {
        s = &r->slots[i];
        if (!s->used) {
            if (!empty)
                empty = s;
            continue;
        }
        /* RFC 791 §3.2: fragments belong together when source, destination, protocol and
         * identification all match. */
        if (s->id == ip->id && s->src == ip->src && s->dst == ip->dst && s->proto == ip->proto)
            return s;
    }
    if (!empty)
        return NULL;
    s = empty;
    s->used = 1;
    s->id = ip->id;
    s->src = ip->src;
    s->dst = ip->dst;
    s->proto = ip->proto;
    s->hlen = 0;
    s->total = 0;
    s->received = 0;
    s->nranges = 0;
    s->expiry = now + (uint64_t)st->cfg.reass_timeout_ms * 1000000u;
    if (s->expiry < r->next_due)
        r->next_due = s->expiry;
    r->used++;
    return s;
}

/* Deliver a complete datagram from slot s and free the slot. */
static void reass_complete(struct fn_stack *st, struct fn_reass_slot *s, uint64_t now)
{
    uint8_t *iph = s->buf + FN_IPV4_MAX_HLEN - s->hlen;
    struct fn_ip_rx rx;
    uint16_t csum;

    rx.ip = s->info0;
    rx.ip.total_len = (uint16_t)(s->hlen + s->total);
    rx.ip.mf = 0;
    rx.ip.frag_off = 0;
    /* Make the stored header describe the whole datagram, so that an ICMP error quoting it
     * (port unreachable for a large UDP datagram) quotes a consistent header. */
    iph[2] = (uint8_t)(rx.ip.total_len >> 8);
    iph[3] = (uint8_t)rx.ip.total_len;
    iph[6] = rx.ip.df ? (uint8_t)(FN_IP_DF >> 8) : 0;
    iph[7] = 0;
    iph[10] = iph[11] = 0;
    csum = fn_csum(iph, s->hlen);
    memcpy(iph + 10, &csum, 2);
    rx.iph = iph;
    rx.l4 = s->buf + FN_IPV4_MAX_HLEN;
    rx.l4_len = s->total;
    rx.pkt = NULL;
    rx.pkt_flags = 0;
    st->stats.frag_reassembled++;
    fn_ip_deliver(st, &rx, now);
    slot_free(&st->reass, s);
}

void fn_reass_input(struct fn_stack *st, struct fn_pkt *pkt, const struct fn_ipv4_info *ip,
                    uint64_t now)
{
    struct fn_reass_slot *s;
    uint32_t len = ip->total_len - ip->hlen;
    uint32_t start = ip->frag_off, end = start + len;

    /* RFC 791 §3.2: every fragment but the last carries a multiple of 8 bytes; a datagram
     * never exceeds 65535 bytes (the "ping of death" is the violation of this). */
    if (len == 0 || (ip->mf && (len & 7u)) || ip->hlen + end > FN_IP_MAXPACKET) {
        st->stats.drop_frag_malformed++;
        fn_pkt_free(pkt);
        return;
    }
    s = slot_get(st, ip, now);
    if (!s) {
        st->stats.drop_frag_too_many++;
        fn_pkt_free(pkt);
        return;
    }
    if (FN_IPV4_HLEN + end > st->cfg.reass_max_size) {
        st->stats.drop_frag_too_big++;
        goto discard;
    }
    if ((!ip->mf && s->total != 0 && s->total != end) || (s->total != 0 && end > s->total)) {
        st->stats.drop_frag_malformed++;
        goto discard;
    }
    for (uint32_t i = 0; i < s->nranges; i++) {
        const struct fn_reass_range *rg = &s->ranges[i];
        if (!ip->mf && rg->end > end) {
            st->stats.drop_frag_malformed++;     /* data beyond the datagram's end */
            goto discard;
        }
        if (start < rg->end && rg->start < end) {
            if (rg->start == start && rg->end == end) {
                st->stats.drop_frag_dup++;
                fn_pkt_free(pkt);
                return;
            }
            st->stats.drop_frag_overlap++;
            goto discard;
        }
    }
    if (s->nranges >= st->cfg.reass_max_frags) {
        st->stats.drop_frag_too_many++;
        goto discard;
    }
    memcpy(s->buf + FN_IPV4_MAX_HLEN + start, pkt->data + ip->hlen, len);
    s->ranges[s->nranges].start = start;
    s->ranges[s->nranges].end = end;
    s->nranges++;
    s->received += len;
    if (!ip->mf)
        s->total = end;
    if (start == 0) {
        /* Fragment 0's header (with all options, RFC 791 §3.1) becomes the datagram's. */
        s->hlen = ip->hlen;
        s->info0 = *ip;
        memcpy(s->buf + FN_IPV4_MAX_HLEN - ip->hlen, pkt->data, ip->hlen);
    }
    fn_pkt_free(pkt);
    if (s->total != 0 && s->received == s->total) {
        /* Ranges are disjoint and all inside [0, total): full coverage, fragment 0 here. */
        if (s->hlen + s->total > FN_IP_MAXPACKET) {
            st->stats.drop_frag_malformed++;
            slot_free(&st->reass, s);
            return;
        }
        reass_complete(st, s, now);
    }
    return;

discard:
    fn_pkt_free(pkt);
    slot_free(&st->reass, s);
}

void fn_reass_timer(struct fn_stack *st, uint64_t now)
{
    struct fn_reass *r = &st->reass;
    uint64_t next = UINT64_MAX;

    for (uint32_t i = 0; i < r->nslots && r->used > 0; i++) {
        struct fn_reass_slot *s = &r->slots[i];
        if (!s->used)
            continue;
        if (s->expiry > now) {
            if (s->expiry < next)
                next = s->expiry;
            continue;
        }
        st->stats.drop_frag_timeout++;
        if (s->hlen != 0) {
            /* RFC 1122 §3.3.2 / RFC 792: Time Exceeded, code 1, quoting fragment 0. */
            struct fn_ip_rx rx;
            uint32_t have = 0;
            for (uint32_t k = 0; k < s->nranges; k++) {
                if (s->ranges[k].start == 0)
                    have = s->ranges[k].end;
            }
            rx.ip = s->info0;
            rx.iph = s->buf + FN_IPV4_MAX_HLEN - s->hlen;
            rx.l4 = s->buf + FN_IPV4_MAX_HLEN;
            rx.l4_len = have;
            rx.pkt = NULL;
            rx.pkt_flags = 0;
            fn_icmp_error(st, &rx, FN_ICMP_TIME_EXCEEDED, 1, 0, now);
        }
        slot_free(r, s);
    }
    r->next_due = next;
}

int fn_ip_frag_output(struct fn_stack *st, const struct fn_ip_out *o, uint32_t nh,
                      const struct fn_iov *iov, int iovcnt, uint32_t total, uint64_t now)
{
    uint32_t maxpay = st->mtu - FN_IPV4_HLEN;
    int fragmenting = total > maxpay;
    uint32_t off = 0, voff = 0;
    int vi = 0;
    uint16_t id = st->ip_id++;

    /* RFC 791 §3.2: fragment payloads (but the last) are multiples of 8 bytes. */
    if (fragmenting)
        maxpay &= ~7u;
    do {
        uint32_t chunk = total - off < maxpay ? total - off : maxpay;
        struct fn_pkt *pkt = fn_pkt_alloc(st->pool);
        struct fn_ipv4_info h;
        uint8_t *p, *d;
        uint32_t left = chunk;

        if (!pkt) {
            st->stats.drop_nobuf++;
            return -ENOBUFS;
        }
        /* fn_stack_create checked that headroom + Ethernet + MTU fit in a buffer. */
        p = fn_pkt_put(pkt, FN_IPV4_HLEN + chunk);
        d = p + FN_IPV4_HLEN;
        while (left > 0 && vi < iovcnt) {
            uint32_t take = iov[vi].len - voff;
            if (take > left)
                take = left;
            if (take > 0) {
                memcpy(d, (const uint8_t *)iov[vi].base + voff, take);
                d += take;
                left -= take;
                voff += take;
            }
            if (voff == iov[vi].len) {
                vi++;
                voff = 0;
            }
        }
        fn_ip_fill_hdr(st, o, &h, FN_IPV4_HLEN + chunk);
        h.id = id;
        h.frag_off = (uint16_t)off;
        h.mf = off + chunk < total;
        fn_ipv4_emit(p, &h);
        st->stats.ip_tx++;
        if (fragmenting)
            st->stats.frag_tx++;
        fn_ether_output_ip(st, pkt, nh, now);
        off += chunk;
    } while (off < total);
    return 0;
}
