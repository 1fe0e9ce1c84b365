/*
 * config_knobs.c — struct fn_config fields by name, for the Python layer and config files.
 *
 * Contract: the one table of settable knobs (name, type, offset).  fn_config_knob_set()
 * range-checks against the field's C type (-ERANGE) and rejects unknown names (-ENOENT);
 * semantic checks (gateway in subnet, MTU limits…) stay in fn_stack_create().  Addresses
 * (ip, gateway) are not knobs: callers set them directly.  Pure; any thread.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "fastnet/fn_config.h"

enum knob_type { K_U8, K_U32, K_INT };

struct knob {
    const char *name;
    enum knob_type type;
    size_t off;
};

#define KNOB(field, type) {#field, type, offsetof(struct fn_config, field)}

static const struct knob knobs[] = {
    KNOB(prefix_len, K_U8),
    KNOB(mtu, K_U32),
    KNOB(n_bufs, K_U32),
    KNOB(buf_size, K_U32),
    KNOB(hugepages, K_INT),
    KNOB(rx_batch, K_U32),
    KNOB(core, K_INT),
    KNOB(arp_cache_size, K_U32),
    KNOB(arp_reachable_ms, K_U32),
    KNOB(arp_retry_ms, K_U32),
    KNOB(arp_max_retries, K_U32),
    KNOB(arp_queue_max, K_U32),
    KNOB(gratuitous_arp, K_INT),
    KNOB(default_ttl, K_U8),
    KNOB(reass_max_datagrams, K_U32),
    KNOB(reass_max_size, K_U32),
    KNOB(reass_timeout_ms, K_U32),
    KNOB(reass_max_frags, K_U32),
    KNOB(icmp_err_rate_per_s, K_U32),
    KNOB(tcp_max_conns, K_U32),
    KNOB(tcp_sndbuf, K_U32),
    KNOB(tcp_rcvbuf, K_U32),
    KNOB(tcp_reass_max_segs, K_U32),
    KNOB(tcp_msl_ms, K_U32),
    KNOB(tcp_fin_wait2_ms, K_U32),
    KNOB(tcp_rto_init_ms, K_U32),
    KNOB(tcp_rto_min_ms, K_U32),
    KNOB(tcp_rto_max_ms, K_U32),
    KNOB(tcp_max_rexmits, K_U32),
    KNOB(tcp_syn_retries, K_U32),
    KNOB(tcp_delack_ms, K_U32),
    KNOB(tcp_initcwnd_segs, K_U32),
    KNOB(tcp_min_mss, K_U32),
    KNOB(tcp_challenge_ack_per_s, K_U32),
    KNOB(tcp_oow_ack_interval_ms, K_U32),
    KNOB(tcp_window_scaling, K_INT),
    KNOB(tcp_timestamps, K_INT),
    KNOB(tcp_sack, K_INT),
    KNOB(tcp_nodelay, K_INT),
    KNOB(tcp_keepalive_idle_s, K_U32),
    KNOB(tcp_keepalive_intvl_s, K_U32),
    KNOB(tcp_keepalive_cnt, K_U32),
    KNOB(tcp_syncache_size, K_U32),
    KNOB(tcp_syncookies, K_U32),
    KNOB(tcp_cc, K_U32),
    KNOB(tcp_max_sockets, K_U32),
    KNOB(tcp_pool_reserve_pct, K_U32),
    KNOB(tcp_pool_ooo_pct, K_U32),
};

#define NKNOBS (sizeof(knobs) / sizeof(knobs[0]))

unsigned fn_config_knob_count(void)
{
    return NKNOBS;
}

const char *fn_config_knob_name(unsigned i)
{
    return i < NKNOBS ? knobs[i].name : NULL;
}

static const struct knob *find(const char *name)
{
    for (unsigned i = 0; i < NKNOBS; i++)
        if (strcmp(knobs[i].name, name) == 0)
            return &knobs[i];
    return NULL;
}

int fn_config_knob_get(const struct fn_config *c, const char *name, int64_t *out)
{
    const struct knob *k = find(name);
    const char *p = (const char *)c;

    if (!k)
        return -ENOENT;
    switch (k->type) {
    case K_U8: { uint8_t v; memcpy(&v, p + k->off, sizeof v); *out = v; break; }
    case K_U32: { uint32_t v; memcpy(&v, p + k->off, sizeof v); *out = v; break; }
    case K_INT: { int v; memcpy(&v, p + k->off, sizeof v); *out = v; break; }
    }
    return 0;
}

int fn_config_knob_set(struct fn_config *c, const char *name, int64_t value)
{
    const struct knob *k = find(name);
    char *p = (char *)c;

    if (!k)
        return -ENOENT;
    switch (k->type) {
    case K_U8: {
        uint8_t v = (uint8_t)value;
        if (value < 0 || value > UINT8_MAX)
            return -ERANGE;
        memcpy(p + k->off, &v, sizeof v);
        break;
    }
    case K_U32: {
        uint32_t v = (uint32_t)value;
        if (value < 0 || value > (int64_t)UINT32_MAX)
            return -ERANGE;
        memcpy(p + k->off, &v, sizeof v);
        break;
    }
    case K_INT: {
        int v = (int)value;
        if (value < -2147483647LL - 1 || value > 2147483647LL)
            return -ERANGE;
        memcpy(p + k->off, &v, sizeof v);
        break;
    }
    }
    return 0;
}
