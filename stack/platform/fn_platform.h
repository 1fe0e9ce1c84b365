/*
 * fn_platform.h — the one place for the clock, randomness and logging.
 *
 * Contract: these are the only calls outside backend/ that reach the operating system.
 * fn_clock_ns() and fn_random_bytes() may be called from any thread; the log level is one
 * process-wide setting (an int written at start-up, read per call), and each fn_log() call
 * writes one line to stderr with a single write so lines from different cores do not mix.
 * The stack itself never reads the clock: time is injected into fn_stack_poll(), and only the
 * owner (the worker loop, the CLI) calls fn_clock_ns().
 */
#ifndef FASTNET_PLATFORM_FN_PLATFORM_H
#define FASTNET_PLATFORM_FN_PLATFORM_H

#include <stddef.h>
#include <stdint.h>

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t fn_clock_ns(void);

/* The calling thread's kernel id (gettid), cached per thread; never 0.  The socket layer
 * records the stack owner's id at creation and refuses calls from any other thread. */
uint64_t fn_thread_id(void);
/* Sleep until fd is readable or timeout_ns passed (fd < 0: just sleep).  Returns poll(2)'s
 * result (> 0 readable, 0 timeout, < 0 interrupted). */
int fn_wait_fd(int fd, uint64_t timeout_ns);

/* Fill buf with len bytes from the kernel CSPRNG (getrandom).  0 or -errno. */
int fn_random_bytes(void *buf, size_t len);

enum fn_log_level {
    FN_LOG_ERROR = 0,
    FN_LOG_WARN = 1,
    FN_LOG_INFO = 2,
    FN_LOG_DEBUG = 3,
};

/* Messages above the level are not written.  Default: FN_LOG_WARN. */
void fn_log_set_level(int level);
int fn_log_get_level(void);
void fn_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
