# Mirror of stack/include/fastnet/fn_config.h.
from libc.stdint cimport uint8_t, uint32_t, int64_t

cdef extern from "fastnet/fn_config.h" nogil:
    struct fn_config:
        uint32_t ip
        uint8_t prefix_len
        uint32_t gateway
        uint32_t mtu
        uint32_t n_bufs
        uint32_t buf_size
        int hugepages

    void fn_config_defaults(fn_config *c)
    unsigned fn_config_knob_count()
    const char *fn_config_knob_name(unsigned i)
    int fn_config_knob_get(const fn_config *c, const char *name, int64_t *out)
    int fn_config_knob_set(fn_config *c, const char *name, int64_t value)
    const char *fn_config_cc_name(unsigned i)
