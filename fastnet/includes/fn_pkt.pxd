# Mirror of stack/include/fastnet/fn_pkt.h (only what the Cython layer uses).
from libc.stdint cimport uint32_t, uint64_t


cdef extern from "fastnet/fn_pkt.h" nogil:
    unsigned FN_POOL_HUGEPAGES
    unsigned FN_PKT_HEADROOM
    unsigned FN_PKT_BUFSZ_DEFAULT

    struct fn_pool:
        pass

    struct fn_pool_stats:
        uint32_t size
        uint32_t in_use
        uint32_t peak_in_use
        uint32_t buf_size
        uint64_t allocs
        uint64_t frees
        uint64_t alloc_failures
        int hugepages

    int fn_pool_create(uint32_t n, uint32_t buf_size, unsigned flags, fn_pool **out)
    uint32_t fn_pool_destroy(fn_pool *p)
    void fn_pool_get_stats(const fn_pool *p, fn_pool_stats *out)
