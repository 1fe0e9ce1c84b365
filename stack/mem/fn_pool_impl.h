/*
 * fn_pool_impl.h — the packet pool's layout, for pool.c and for the one inline free the
 * stack's hottest path uses (internal to stack/; applications see only fastnet/fn_pkt.h).
 *
 * Contract: as fn_pkt.h's.  fn_pkt_release() is fn_pkt_free() inline: same checks (a double
 * free aborts rather than corrupt the pool), same counters.  Owning core only.
 */
#ifndef FASTNET_MEM_POOL_IMPL_H
#define FASTNET_MEM_POOL_IMPL_H

#include <stdlib.h>

#include "fastnet/fn_pkt.h"

struct fn_pool {
    uint8_t *region;
    size_t region_size;
    uint32_t buf_size;
    uint32_t count;
    uint32_t n_free;             /* entries valid in free_idx[0 .. n_free) */
    uint32_t *free_idx;          /* stack of free buffer indices */
    struct fn_pkt *descs;        /* descriptor i describes buffer i */
    uint8_t *allocated;          /* 1 while buffer i is handed out: catches double frees */
    struct fn_pool_stats st;
};

static inline void fn_pkt_release(struct fn_pkt *pkt)
{
    struct fn_pool *p;

    if (!pkt)
        return;
    p = pkt->pool;
    /* A double free would put one index on the stack twice and later hand the same buffer
     * to two owners; refuse it instead of corrupting memory. */
    if (!p->allocated[pkt->idx])
        abort();
    p->allocated[pkt->idx] = 0;
    p->free_idx[p->n_free++] = pkt->idx;
    p->st.frees++;
}

#endif
