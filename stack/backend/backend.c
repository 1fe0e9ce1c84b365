/*
 * backend.c — opening a packet I/O backend by name.
 *
 * Contract: fn_backend_open() maps a configured backend name ("af_xdp", "af_packet", "tap")
 * to its open function and returns what that returns.  An unknown name is -EINVAL with an
 * errmsg that lists the valid ones; napi_poll or rx_moderation ADAPTIVE on any backend but
 * af_xdp is -EINVAL (rx_moderation AUTO, the default, is nothing to do there).  The
 * in-memory link and the fault/pcap wrappers are not opened by name: they need more than an
 * interface (a peer, an inner backend).
 * Called at stack creation, by the core that will own the backend.
 */
#include <errno.h>
#include <string.h>

#include "fastnet/fn_backend.h"

int fn_backend_open(const char *name, const struct fn_backend_params *params,
                    struct fn_pool *pool, struct fn_backend **out, const char **errmsg)
{
    const char *dummy;

    if (!errmsg)
        errmsg = &dummy;
    *out = NULL;
    if (!name) {
        *errmsg = "no backend name given (expected af_xdp, af_packet or tap)";
        return -EINVAL;
    }
    if (params && params->napi_poll && strcmp(name, "af_xdp") != 0) {
        *errmsg = "napi_poll is supported by the af_xdp backend only";
        return -EINVAL;
    }
    if (params && (params->rx_moderation < FN_RX_MODERATION_AUTO ||
                   params->rx_moderation > FN_RX_MODERATION_ADAPTIVE)) {
        *errmsg = "rx_moderation must be FN_RX_MODERATION_AUTO, _OFF or _ADAPTIVE";
        return -EINVAL;
    }
    if (params && params->rx_moderation == FN_RX_MODERATION_ADAPTIVE &&
        strcmp(name, "af_xdp") != 0) {
        *errmsg = "adaptive rx_moderation is supported by the af_xdp backend only";
        return -EINVAL;
    }
    if (strcmp(name, "af_packet") == 0)
        return fn_backend_af_packet_open(params, pool, out, errmsg);
    if (strcmp(name, "tap") == 0)
        return fn_backend_tap_open(params, pool, out, errmsg);
    if (strcmp(name, "af_xdp") == 0)
        return fn_backend_af_xdp_open(params, pool, out, errmsg);
    *errmsg = "unknown backend name (expected af_xdp, af_packet or tap)";
    return -EINVAL;
}
