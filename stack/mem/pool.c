/*
 * pool.c — the per-core packet buffer pool (see fn_pkt.h for the contract).
 *
 * Owns: one mmap'd region of count * buf_size bytes (2 MB hugepages when asked for and
 * available), an array of count descriptors, and a stack of free indices.  alloc pops,
 * free pushes: O(1), no system calls after creation.  Only the owning core may call any of
 * this.  The only failures are at creation (-EINVAL, -ENOMEM) and an empty pool at alloc
 * time (NULL, counted).
 *
 * mem/ is allowed its mmap/munmap at creation and destruction only: the region is memory the
 * stack owns for its whole life, like the rings a backend maps.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "fastnet/fn_pkt.h"
#include "mem/fn_pool_impl.h"

#define HUGEPAGE_SIZE (2u * 1024u * 1024u)

static int is_pow2(uint32_t x)
{
    return x && !(x & (x - 1));
}

int fn_pool_create(uint32_t n, uint32_t buf_size, unsigned flags, struct fn_pool **out)
{
    struct fn_pool *p;
    size_t size;
    void *region = MAP_FAILED;
    int huge = 0;

    *out = NULL;
    if (n == 0 || n > (1u << 24) || !is_pow2(buf_size) || buf_size < 1024u ||
        buf_size > 65536u)
        return -EINVAL;
    size = (size_t)n * buf_size;

    if (flags & FN_POOL_HUGEPAGES) {
        size_t hsize = (size + HUGEPAGE_SIZE - 1) & ~(size_t)(HUGEPAGE_SIZE - 1);
        region = mmap(NULL, hsize, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_POPULATE, -1, 0);
        if (region != MAP_FAILED) {
            size = hsize;
            huge = 1;
        }
    }
    if (region == MAP_FAILED) {
        /* No reserved hugepages (the common case): plain pages, populated up front so the
         * fast path never takes a page fault on a fresh buffer. */
        region = mmap(NULL, size, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
        if (region == MAP_FAILED)
            return -ENOMEM;
    }

    p = calloc(1, sizeof(*p));
    if (p) {
        p->free_idx = calloc(n, sizeof(*p->free_idx));
        p->descs = calloc(n, sizeof(*p->descs));
        p->allocated = calloc(n, 1);
    }
    if (!p || !p->free_idx || !p->descs || !p->allocated) {
        if (p) {
            free(p->free_idx);
            free(p->descs);
            free(p->allocated);
            free(p);
        }
        munmap(region, size);
        return -ENOMEM;
    }
    p->region = region;
    p->region_size = size;
    p->buf_size = buf_size;
    p->count = n;
    for (uint32_t i = 0; i < n; i++) {
        p->descs[i].idx = i;
        p->descs[i].pool = p;
        /* Lowest indices on top of the stack: allocation order is predictable in tests. */
        p->free_idx[i] = n - 1 - i;
    }
    p->n_free = n;
    p->st.size = n;
    p->st.buf_size = buf_size;
    p->st.hugepages = huge;
    *out = p;
    return 0;
}

uint32_t fn_pool_destroy(struct fn_pool *p)
{
    uint32_t leaked;

    if (!p)
        return 0;
    leaked = p->count - p->n_free;
    munmap(p->region, p->region_size);
    free(p->free_idx);
    free(p->descs);
    free(p->allocated);
    free(p);
    return leaked;
}

struct fn_pkt *fn_pkt_alloc(struct fn_pool *p)
{
    struct fn_pkt *pkt;
    uint32_t idx;

    if (p->n_free == 0) {
        p->st.alloc_failures++;
        return NULL;
    }
    idx = p->free_idx[--p->n_free];
    p->allocated[idx] = 1;
    pkt = &p->descs[idx];
    pkt->data = p->region + (size_t)idx * p->buf_size + FN_PKT_HEADROOM;
    pkt->len = 0;
    pkt->flags = 0;
    pkt->l3_off = 0;
    pkt->next = NULL;
    pkt->ts = 0;
    pkt->user = 0;
    p->st.allocs++;
    if (p->count - p->n_free > p->st.peak_in_use)
        p->st.peak_in_use = p->count - p->n_free;
    return pkt;
}

void fn_pkt_free(struct fn_pkt *pkt)
{
    fn_pkt_release(pkt);
}

void fn_pkt_free_chain(struct fn_pkt *pkt)
{
    while (pkt) {
        struct fn_pkt *next = pkt->next;
        fn_pkt_free(pkt);
        pkt = next;
    }
}

void fn_pool_get_stats(const struct fn_pool *p, struct fn_pool_stats *out)
{
    *out = p->st;
    out->in_use = p->count - p->n_free;
}

void *fn_pool_region(const struct fn_pool *p)
{
    return p->region;
}

size_t fn_pool_region_size(const struct fn_pool *p)
{
    return p->region_size;
}

uint32_t fn_pool_buf_size(const struct fn_pool *p)
{
    return p->buf_size;
}

uint32_t fn_pool_count(const struct fn_pool *p)
{
    return p->count;
}

uint32_t fn_pool_free_count(const struct fn_pool *p)
{
    return p->n_free;
}

struct fn_pkt *fn_pool_pkt(struct fn_pool *p, uint32_t idx)
{
    return idx < p->count ? &p->descs[idx] : NULL;
}

uint8_t *fn_pkt_buf(const struct fn_pkt *pkt)
{
    return pkt->pool->region + (size_t)pkt->idx * pkt->pool->buf_size;
}

uint32_t fn_pkt_headroom(const struct fn_pkt *pkt)
{
    return (uint32_t)(pkt->data - fn_pkt_buf(pkt));
}

uint32_t fn_pkt_tailroom(const struct fn_pkt *pkt)
{
    return pkt->pool->buf_size - fn_pkt_headroom(pkt) - pkt->len;
}
