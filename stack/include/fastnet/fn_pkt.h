/*
 * fn_pkt.h — packet buffers and the per-core buffer pool.
 *
 * Contract: a pool is one contiguous region of `n` fixed-size buffers (2 MB hugepages when
 * available and asked for, plain pages otherwise) plus a stack of free indices (ixy's
 * design): alloc and free are O(1) and never touch the system after creation.  A pool is
 * owned by one core; nothing here locks.  Exhaustion is not an error condition of the pool:
 * fn_pkt_alloc() returns NULL and counts the failure, and every caller drops and counts.
 *
 * The region is page-aligned and every buffer starts at `idx * buf_size`, so the region can be
 * registered as an AF_XDP UMEM as it is (buffer index == UMEM frame index).
 */
#ifndef FASTNET_FN_PKT_H
#define FASTNET_FN_PKT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes kept free in front of received/allocated data so that lower layers can prepend their
 * headers without copying (Ethernet 14 + IPv4 60 + TCP 60 fits; XDP frames also use it). */
#define FN_PKT_HEADROOM 256u
/* Default buffer size: a power of two (an AF_XDP frame size) holding headroom + 1514 bytes. */
#define FN_PKT_BUFSZ_DEFAULT 2048u

/* pkt->flags */
#define FN_PKT_F_L4_CSUM_OK      0x0001u /* the backend verified the L4 checksum */
#define FN_PKT_F_L4_CSUM_PARTIAL 0x0002u /* sender left the L4 checksum unfinished (veth
                                            offload; AF_PACKET TP_STATUS_CSUMNOTREADY): the
                                            data never left this host, treat it as valid */

struct fn_pool;

struct fn_pkt {
    uint8_t *data;          /* first valid byte; buf <= data, data + len <= buf + buf_size */
    uint32_t len;           /* valid bytes from data */
    uint32_t idx;           /* index of this buffer in its pool; never changes */
    uint16_t flags;         /* FN_PKT_F_* */
    uint16_t l3_off;        /* offset of the L3 header from data at ether_input time */
    struct fn_pkt *next;    /* free for use by whoever holds the packet (queues) */
    struct fn_pool *pool;   /* the pool this buffer returns to */
    uint64_t ts;            /* free for use by the holder (e.g. time queued) */
    uint64_t user;          /* free for use by the holder */
};

struct fn_pool_stats {
    uint32_t size;          /* number of buffers */
    uint32_t in_use;        /* currently allocated */
    uint32_t peak_in_use;
    uint32_t buf_size;
    uint64_t allocs;
    uint64_t frees;
    uint64_t alloc_failures;
    int hugepages;          /* 1 if the region sits on 2 MB hugepages */
};

/* Pool flags */
#define FN_POOL_HUGEPAGES 0x1u /* try 2 MB hugepages first, fall back to plain pages */

/* Create a pool of n buffers of buf_size bytes (power of two, >= 1024).  Returns 0 or a
 * negative errno (-EINVAL for bad sizes, -ENOMEM when the region cannot be mapped). */
int fn_pool_create(uint32_t n, uint32_t buf_size, unsigned flags, struct fn_pool **out);
/* Unmaps the region.  Buffers still in use are reported by the return value (their count);
 * the caller decides whether that is a leak worth failing a test for. */
uint32_t fn_pool_destroy(struct fn_pool *p);

/* O(1).  Returns a packet with data = buf + FN_PKT_HEADROOM, len = 0, flags = 0, next = NULL,
 * or NULL when the pool is empty (counted in alloc_failures). */
struct fn_pkt *fn_pkt_alloc(struct fn_pool *p);
/* O(1).  Returns the packet to its own pool.  NULL is ignored. */
void fn_pkt_free(struct fn_pkt *pkt);
/* Free a ->next-linked chain. */
void fn_pkt_free_chain(struct fn_pkt *pkt);

void fn_pool_get_stats(const struct fn_pool *p, struct fn_pool_stats *out);

/* Region access, for backends that hand buffers to the kernel (AF_XDP UMEM). */
void *fn_pool_region(const struct fn_pool *p);
size_t fn_pool_region_size(const struct fn_pool *p);
uint32_t fn_pool_buf_size(const struct fn_pool *p);
uint32_t fn_pool_count(const struct fn_pool *p);
/* Buffers free now (count minus in use), O(1): for callers that ration the pool. */
uint32_t fn_pool_free_count(const struct fn_pool *p);
/* The descriptor of buffer idx (idx < count).  Does not change allocation state. */
struct fn_pkt *fn_pool_pkt(struct fn_pool *p, uint32_t idx);
/* Start of the buffer that backs pkt. */
uint8_t *fn_pkt_buf(const struct fn_pkt *pkt);
/* Bytes available in front of data / after data + len. */
uint32_t fn_pkt_headroom(const struct fn_pkt *pkt);
uint32_t fn_pkt_tailroom(const struct fn_pkt *pkt);

/* Prepend n bytes (returns the new data pointer, or NULL if headroom is short). */
static inline uint8_t *fn_pkt_push(struct fn_pkt *pkt, uint32_t n)
{
    if (fn_pkt_headroom(pkt) < n)
        return NULL;
    pkt->data -= n;
    pkt->len += n;
    return pkt->data;
}

/* Strip n bytes from the front (returns the new data pointer, or NULL if len < n). */
static inline uint8_t *fn_pkt_pull(struct fn_pkt *pkt, uint32_t n)
{
    if (pkt->len < n)
        return NULL;
    pkt->data += n;
    pkt->len -= n;
    return pkt->data;
}

/* Append n bytes at the tail (returns a pointer to them, or NULL if tailroom is short). */
static inline uint8_t *fn_pkt_put(struct fn_pkt *pkt, uint32_t n)
{
    uint8_t *p;
    if (fn_pkt_tailroom(pkt) < n)
        return NULL;
    p = pkt->data + pkt->len;
    pkt->len += n;
    return p;
}

#ifdef __cplusplus
}
#endif
#endif
