/*
 * fn_xdp_kern.c — the XDP program fastnet's af_xdp backend attaches to its interface.
 *
 * Contract: every frame that arrives on an rx queue with an AF_XDP socket in `xsks_map`
 * (keyed by rx queue index) is redirected to that socket; on a queue without a socket the
 * frame goes on to the kernel's own stack (XDP_PASS), so an attached program never blackholes
 * an interface.  The program keeps no state and never looks inside a frame: which frames the
 * stack owns is decided in userspace (the stack hands the rest to the kernel over its TAP slow
 * path).
 *
 * Built with `clang -O2 -g -target bpf` (stack/Makefile target `bpf`, and setup.py); loaded,
 * attached and detached by stack/backend/af_xdp.c, which also fills `xsks_map`.  The map name
 * is the one libxdp uses for its own default program, so tools that know that layout read it.
 *
 * Why no <linux/bpf.h>: with `-target bpf` clang does not search the multiarch directory
 * (/usr/include/x86_64-linux-gnu) where Debian keeps <asm/types.h>, so the kernel UAPI headers
 * do not compile without an extra -I that depends on the build host.  The few UAPI definitions
 * used here are declared below with the values of include/uapi/linux/bpf.h, which are a stable
 * kernel ABI; only libbpf's <bpf/bpf_helpers.h> (macros and helper prototypes) is included.
 */

typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef signed int __s32;
typedef signed long long __s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;

#include <bpf/bpf_helpers.h>

/* include/uapi/linux/bpf.h */
#define FN_BPF_MAP_TYPE_XSKMAP 17
#define FN_XDP_PASS 2

/* The context the kernel passes to an XDP program (include/uapi/linux/bpf.h, struct xdp_md);
 * only rx_queue_index is read, the leading fields fix its offset. */
struct xdp_md {
    __u32 data;
    __u32 data_end;
    __u32 data_meta;
    __u32 ingress_ifindex;
    __u32 rx_queue_index;
    __u32 egress_ifindex;
};

/* 64 entries cover the queue counts of common NICs; the loader raises max_entries before
 * loading when it binds a higher queue index. */
struct {
    __uint(type, FN_BPF_MAP_TYPE_XSKMAP);
    __uint(max_entries, 64);
    __type(key, __u32);
    __type(value, __u32);
} xsks_map SEC(".maps");

SEC("xdp")
int fn_xdp_sock(struct xdp_md *ctx)
{
    /* The flags argument of bpf_redirect_map is the action taken when the key has no entry
     * (kernel >= 5.3): a queue without a bound socket passes its frames to the kernel. */
    return (int)bpf_redirect_map(&xsks_map, ctx->rx_queue_index, FN_XDP_PASS);
}

/* bpf_redirect_map is not GPL-only; the licence string only gates GPL-only helpers. */
char _license[] SEC("license") = "Dual BSD/GPL";
