/*
 * clock.c — the monotonic clock.
 *
 * Contract: fn_clock_ns() reads CLOCK_MONOTONIC (never goes back, unaffected by wall-clock
 * changes).  It cannot fail on Linux; if it ever did, 0 is returned and callers see time stand
 * still rather than jump.  Any thread.
 */
#include <time.h>

#include "platform/fn_platform.h"

uint64_t fn_clock_ns(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
