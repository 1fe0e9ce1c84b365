/*
 * stack.c — one stack instance: creation, the poll loop, the tx queue, and the public
 * accessors of fn_stack.h.
 *
 * Contract: fn_stack_create() validates the configuration (-EINVAL), allocates every table the
 * stack will ever use (-ENOMEM), and on success owns the pool and the backend.  After that,
 * only the owning thread calls in.  fn_stack_poll() is one iteration: receive up to rx_batch
 * frames, run input on each, fire due timers (ARP, reassembly), send everything queued with
 * one tx_batch and kick the backend once.  Nothing here sleeps or reads the clock.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/fn_stack_impl.h"
#include "net/fn_net.h"
#include "platform/fn_platform.h"

static uint32_t prefix_mask(uint8_t prefix_len)
{
    return htonl(prefix_len == 0 ? 0 : 0xffffffffu << (32 - prefix_len));
}

static int config_check(const struct fn_config *c, const struct fn_pool *pool,
                        const struct fn_backend *be)
{
    uint32_t mask, mtu;

    if (c->ip == 0 || c->prefix_len > 32)
        return -EINVAL;
    mask = prefix_mask(c->prefix_len);
    if (c->gateway != 0 && ((c->gateway & mask) != (c->ip & mask) || c->gateway == c->ip))
        return -EINVAL;
    if (be->mtu < 68)
        return -EINVAL;
    if (c->mtu != 0 && (c->mtu < 68 || c->mtu > be->mtu))
        return -EINVAL;
    mtu = c->mtu ? c->mtu : be->mtu;
    /* A full-size frame must fit in one buffer behind the headroom. */
    if (fn_pool_buf_size(pool) < FN_PKT_HEADROOM + FN_ETH_HLEN + mtu)
        return -EINVAL;
    if (c->rx_batch < 1 || c->rx_batch > FN_MAX_BATCH)
        return -EINVAL;
    if (c->arp_cache_size < 1 || c->arp_cache_size > (1u << 20) || c->arp_retry_ms == 0 ||
        c->arp_max_retries < 1)
        return -EINVAL;
    if (c->default_ttl == 0)
        return -EINVAL;
    /* RFC 791 §3.2 / RFC 1122 §3.3.2: every host must reassemble 576-byte datagrams. */
    if (c->reass_max_datagrams > 0 &&
        (c->reass_max_size < 576 || c->reass_max_size > 65535 || c->reass_max_frags < 1 ||
         c->reass_timeout_ms == 0 || c->reass_max_datagrams > 4096))
        return -EINVAL;
    return 0;
}

int fn_stack_create(const struct fn_config *cfg, struct fn_pool *pool, struct fn_backend *be,
                    struct fn_stack **out)
{
    struct fn_stack *st;
    int rc;

    if (!cfg || !pool || !be || !out)
        return -EINVAL;
    rc = config_check(cfg, pool, be);
    if (rc)
        return rc;
    st = calloc(1, sizeof(*st));
    if (!st)
        return -ENOMEM;
    st->cfg = *cfg;
    st->pool = pool;
    st->be = be;
    memcpy(st->mac, be->mac, 6);
    st->mtu = cfg->mtu ? cfg->mtu : be->mtu;
    st->netmask = prefix_mask(cfg->prefix_len);
    rc = fn_arp_init(st);
    if (rc == 0)
        rc = fn_reass_init(st);
    if (rc) {
        fn_reass_fini(st);
        fn_arp_fini(st);
        free(st);
        return rc;
    }
    fn_ipv4_init(st);
    rc = fn_tcp_init(st);
    if (rc == 0) {
        rc = fn_sock_init(st);
        if (rc)
            fn_tcp_fini(st);
    }
    if (rc) {
        fn_reass_fini(st);
        fn_arp_fini(st);
        free(st);
        return rc;
    }
    st->owner_tid = fn_thread_id();
    *out = st;
    return 0;
}

uint32_t fn_stack_destroy(struct fn_stack *st)
{
    uint32_t leaked;

    if (!st)
        return 0;
    for (uint32_t i = 0; i < st->ntx; i++)
        fn_pkt_free(st->txq[i]);
    st->ntx = 0;
    fn_sock_fini(st);
    fn_tcp_fini(st);
    fn_arp_fini(st);
    fn_reass_fini(st);
    fn_backend_close(st->be);
    leaked = fn_pool_destroy(st->pool);
    if (leaked)
        fn_log(FN_LOG_WARN, "stack destroyed with %u packet buffers still in use", leaked);
    free(st);
    return leaked;
}

/* Hand the tx queue to the backend (it takes ownership of every frame). */
static void tx_drain(struct fn_stack *st, uint64_t now)
{
    if (st->ntx == 0)
        return;
    fn_backend_tx(st->be, st->txq, (int)st->ntx, now);
    st->tx_handed += st->ntx;
    st->ntx = 0;
}

void fn_stack_tx(struct fn_stack *st, struct fn_pkt *pkt, uint64_t now)
{
    st->stats.eth_tx++;
    st->stats.eth_tx_bytes += pkt->len;
    /* A full queue goes to the backend early rather than dropping (one extra tx_batch). */
    if (st->ntx == FN_TXQ_MAX)
        tx_drain(st, now);
    st->txq[st->ntx++] = pkt;
}

int fn_stack_poll(struct fn_stack *st, uint64_t now)
{
    int n = fn_backend_rx(st->be, st->rxv, (int)st->cfg.rx_batch, now);

    st->now = now;
    if (n > 0)
        fn_ether_input_batch(st, st->rxv, n, now);
    if (now >= st->arp.next_due)
        fn_arp_timer(st, now);
    if (now >= st->reass.next_due)
        fn_reass_timer(st, now);
    fn_tcp_timer(st, now);
    tx_drain(st, now);
    /* One kick per iteration, and only when there is something for the backend to do. */
    if (st->tx_handed > 0 || fn_backend_next_deadline(st->be) <= now) {
        fn_backend_flush(st->be, now);
        st->tx_handed = 0;
    }
    return n;
}

uint64_t fn_stack_next_deadline(const struct fn_stack *st)
{
    uint64_t d, t, b;

    if (st->ntx > 0 || st->tx_handed > 0)
        return 0;           /* output waiting: poll again right away */
    d = st->arp.next_due;
    if (st->reass.next_due < d)
        d = st->reass.next_due;
    t = fn_tcp_next_deadline(st);
    if (t < d)
        d = t;
    b = fn_backend_next_deadline(st->be);
    return b < d ? b : d;
}

int fn_stack_fd(const struct fn_stack *st)
{
    return st->be->fd;
}

void fn_stack_start(struct fn_stack *st, uint64_t now)
{
    st->now = now;
    if (st->cfg.gratuitous_arp)
        fn_arp_announce(st, now);
}

void fn_stack_get_stats(const struct fn_stack *st, struct fn_stats *out)
{
    *out = st->stats;
}

const struct fn_backend *fn_stack_backend(const struct fn_stack *st)
{
    return st->be;
}

struct fn_pool *fn_stack_pool(const struct fn_stack *st)
{
    return st->pool;
}

const struct fn_config *fn_stack_config(const struct fn_stack *st)
{
    return &st->cfg;
}

int fn_stack_ping(struct fn_stack *st, uint32_t dst, uint16_t id, uint16_t seq,
                  const void *payload, uint32_t len, uint64_t now)
{
    return fn_icmp_echo(st, dst, id, seq, payload, len, now);
}

int fn_stack_ping_replies(struct fn_stack *st, uint16_t *ids, uint16_t *seqs, int max)
{
    int n = 0;

    while (n < max && st->ping_count > 0) {
        uint32_t i = (st->ping_head + FN_PING_RING - st->ping_count) % FN_PING_RING;
        ids[n] = st->ping_ids[i];
        seqs[n] = st->ping_seqs[i];
        st->ping_count--;
        n++;
    }
    return n;
}
