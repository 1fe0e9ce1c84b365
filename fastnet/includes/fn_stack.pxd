# Mirror of stack/include/fastnet/fn_stack.h and the platform calls the owner makes.
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t

from fastnet.includes.fn_backend cimport fn_backend
from fastnet.includes.fn_config cimport fn_config
from fastnet.includes.fn_pkt cimport fn_pool


cdef extern from "fastnet/fn_stack.h" nogil:
    int FN_MAX_BATCH
    size_t FN_STATS_COUNT

    # The X-macro struct: FN_STATS_COUNT uint64_t counters in the order of fn_stats_names.
    struct fn_stats:
        pass

    const char *const fn_stats_names[]
    const char *const fn_stats_descs[]

    struct fn_stack:
        pass

    int fn_stack_create(const fn_config *cfg, fn_pool *pool, fn_backend *be, fn_stack **out)
    uint32_t fn_stack_destroy(fn_stack *st)
    int fn_stack_poll(fn_stack *st, uint64_t now_ns)
    uint64_t fn_stack_next_deadline(const fn_stack *st)
    int fn_stack_fd(const fn_stack *st)
    void fn_stack_start(fn_stack *st, uint64_t now_ns)
    void fn_stack_get_stats(const fn_stack *st, fn_stats *out)
    const fn_backend *fn_stack_backend(const fn_stack *st)
    fn_pool *fn_stack_pool(const fn_stack *st)
    const fn_config *fn_stack_config(const fn_stack *st)
    int fn_stack_arp_lookup(const fn_stack *st, uint32_t ip, uint8_t mac[6])
    int fn_stack_arp_resolve(fn_stack *st, uint32_t ip, uint64_t now_ns)
    int fn_stack_ping(fn_stack *st, uint32_t dst, uint16_t id, uint16_t seq,
                      const void *payload, uint32_t len, uint64_t now_ns)
    int fn_stack_ping_replies(fn_stack *st, uint16_t *ids, uint16_t *seqs, int max)


cdef extern from "platform/fn_platform.h" nogil:
    uint64_t fn_clock_ns()
    void fn_log_set_level(int level)
    int fn_log_get_level()
