/*
 * log.c — leveled logging to stderr.
 *
 * Contract: fn_log() formats one line ("fastnet: LEVEL: message\n") into a stack buffer and
 * writes it with one write(2), so concurrent workers never interleave within a line; longer
 * messages are truncated.  The level is set at run time with fn_log_set_level() (the CLI maps
 * its --log-level flag onto it).  Logging is for rare events (misconfiguration, a peer with
 * checksum offload): nothing on the per-packet path logs more than once.
 */
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "platform/fn_platform.h"

static int fn_log_level_cur = FN_LOG_WARN;

void fn_log_set_level(int level)
{
    if (level < FN_LOG_ERROR)
        level = FN_LOG_ERROR;
    if (level > FN_LOG_DEBUG)
        level = FN_LOG_DEBUG;
    fn_log_level_cur = level;
}

int fn_log_get_level(void)
{
    return fn_log_level_cur;
}

void fn_log(int level, const char *fmt, ...)
{
    static const char *const names[] = {"error", "warning", "info", "debug"};
    char line[512];
    va_list ap;
    int n, m;

    if (level > fn_log_level_cur || level < FN_LOG_ERROR)
        return;
    n = snprintf(line, sizeof(line), "fastnet: %s: ", names[level]);
    va_start(ap, fmt);
    m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        m = 0;
    n += m;
    if (n > (int)sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    /* Best effort: a failed log write has nowhere better to be reported. */
    if (write(STDERR_FILENO, line, (size_t)n) < 0)
        return;
}
