/*
 * tool_common.h — what the real-backend tools (tool_tcp_peer, tool_sock_echo) parse and open
 * alike: an IPV4/PREFIX argument, the -m XDP mode, and a packet pool with a backend on it
 * opened the way `fastnet up` opens one.  Test code, header-only; errors go to stderr.
 */
#ifndef FASTNET_TESTS_TOOL_COMMON_H
#define FASTNET_TESTS_TOOL_COMMON_H

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fastnet/fn_backend.h"
#include "fastnet/fn_config.h"

/* "198.18.0.1/24" (no prefix: /24) into a network-order address and a length; 0 or -1. */
static inline int tool_parse_cidr(const char *s, uint32_t *ip, uint8_t *plen)
{
    char buf[32];
    const char *slash = strchr(s, '/');
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    long p = slash ? strtol(slash + 1, NULL, 10) : 24;

    if (n >= sizeof(buf) || p < 0 || p > 32)
        return -1;
    memcpy(buf, s, n);
    buf[n] = 0;
    if (inet_pton(AF_INET, buf, ip) != 1)
        return -1;
    *plen = (uint8_t)p;
    return 0;
}

/* -m native | skb | anything else (auto). */
static inline enum fn_xdp_mode tool_xdp_mode(const char *s)
{
    return strcmp(s, "native") == 0 ? FN_XDP_MODE_NATIVE
           : strcmp(s, "skb") == 0  ? FN_XDP_MODE_SKB
                                    : FN_XDP_MODE_AUTO;
}

/* A pool of cfg->n_bufs buffers and BACKEND opened on IFNAME over it; 0, or -1 after saying
 * why (nothing is left open then). */
static inline int tool_open_backend(const struct fn_config *cfg, const char *backend,
                                    const char *ifname, enum fn_xdp_mode mode,
                                    const char *xdp_obj, struct fn_pool **pool,
                                    struct fn_backend **be)
{
    struct fn_backend_params params;
    const char *errmsg = "";
    int rc = fn_pool_create(cfg->n_bufs, cfg->buf_size, 0, pool);

    if (rc) {
        fprintf(stderr, "pool: %s\n", strerror(-rc));
        return -1;
    }
    memset(&params, 0, sizeof(params));
    params.ifname = ifname;
    params.xdp_mode = mode;
    params.xdp_obj_path = xdp_obj;
    rc = fn_backend_open(backend, &params, *pool, be, &errmsg);
    if (rc) {
        fprintf(stderr, "open %s on %s: %s (%s)\n", backend, ifname, errmsg, strerror(-rc));
        fn_pool_destroy(*pool);
        return -1;
    }
    return 0;
}

#endif
