/*
 * random.c — cryptographically strong random bytes for IDs, ISNs and secrets.
 *
 * Contract: fn_random_bytes() fills the buffer from getrandom(2) (the kernel CSPRNG, blocking
 * only until it is seeded at boot).  Returns 0 or -errno; a short read is retried, EINTR is
 * retried.  Any thread.  Callers on the packet path draw secrets at creation, not per packet.
 */
#include <errno.h>
#include <sys/random.h>

#include "platform/fn_platform.h"

int fn_random_bytes(void *buf, size_t len)
{
    unsigned char *p = buf;

    while (len > 0) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}
