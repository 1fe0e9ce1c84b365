# Mirror of stack/include/fastnet/fn_backend.h (only what the Cython layer uses).
from libc.stdint cimport uint8_t, uint32_t, uint64_t

from fastnet.includes.fn_pkt cimport fn_pool


cdef extern from "fastnet/fn_backend.h" nogil:
    int FN_IFNAMSIZ

    struct fn_backend_stats:
        uint64_t rx_packets
        uint64_t rx_bytes
        uint64_t rx_nobuf
        uint64_t rx_errors
        uint64_t tx_packets
        uint64_t tx_bytes
        uint64_t tx_drops
        uint64_t tx_kicks
        uint64_t napi_polls
        uint64_t rx_moderated
        uint64_t rx_moderation_switches
        uint64_t held
        uint64_t fault_dropped
        uint64_t fault_duplicated
        uint64_t fault_reordered
        uint64_t fault_delayed
        uint64_t fault_corrupted
        uint64_t fault_rate_limited

    struct fn_backend_ops:
        const char *name

    struct fn_backend:
        const fn_backend_ops *ops
        fn_pool *pool
        int fd
        uint32_t mtu
        uint32_t caps
        uint8_t mac[6]
        char ifname[16]
        fn_backend_stats stats

    enum fn_xdp_mode:
        FN_XDP_MODE_AUTO
        FN_XDP_MODE_NATIVE
        FN_XDP_MODE_SKB

    struct fn_backend_params:
        const char *ifname
        uint32_t queue
        uint32_t ring_size
        uint32_t mtu
        fn_xdp_mode xdp_mode
        const char *xdp_obj_path
        int busy_poll
        int napi_poll
        uint32_t napi_hold_us
        int rx_moderation

    enum:
        FN_RX_MODERATION_AUTO
        FN_RX_MODERATION_OFF
        FN_RX_MODERATION_ADAPTIVE

    int fn_backend_open(const char *name, const fn_backend_params *params, fn_pool *pool,
                        fn_backend **out, const char **errmsg)
    int fn_backend_memory_pair(fn_pool *pool_a, fn_pool *pool_b, uint32_t mtu,
                               const uint8_t *mac_a, const uint8_t *mac_b,
                               fn_backend **a, fn_backend **b)

    struct fn_fault_dir:
        uint32_t drop_ppm
        uint32_t dup_ppm
        uint32_t reorder_ppm
        uint32_t corrupt_ppm
        uint32_t delay_ppm
        uint64_t delay_ns
        uint64_t rate_bps
        uint64_t burst_bytes

    struct fn_fault_params:
        uint64_t seed
        fn_fault_dir rx
        fn_fault_dir tx

    int fn_backend_fault_wrap(fn_backend *inner, const fn_fault_params *params,
                              fn_backend **out)
    int fn_backend_fault_set(fn_backend *be, const fn_fault_params *params)
    int fn_backend_pcap_wrap(fn_backend *inner, const char *path, fn_backend **out)
    void fn_backend_close(fn_backend *be)
