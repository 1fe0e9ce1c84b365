/*
 * thread.c — the identity of the calling thread, and sleeping on one fd until a deadline.
 *
 * Contract: fn_thread_id() returns the kernel thread id of the caller (gettid(2)), unique
 * across every thread of every process alive at the same time, so a stack can tell its
 * owner from any other thread or a forked child.  The id is cached per thread (a TLS read,
 * no syscall per call) and the cache is cleared in a forked child, whose thread has a new
 * id.  fn_wait_fd() sleeps in poll(2) until fd is readable or timeout_ns passed (fd < 0:
 * just sleep); EINTR ends the wait early, which callers treat as a spurious wake-up.  Any
 * thread.
 */
#include <poll.h>
#include <pthread.h>
#include <unistd.h>

#include "platform/fn_platform.h"

static _Thread_local uint64_t cached_tid;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void forget_tid(void)
{
    cached_tid = 0;
}

static void register_atfork(void)
{
    pthread_atfork(NULL, NULL, forget_tid);
}

uint64_t fn_thread_id(void)
{
    if (cached_tid == 0) {
        pthread_once(&atfork_once, register_atfork);
        cached_tid = (uint64_t)gettid();
    }
    return cached_tid;
}

int fn_wait_fd(int fd, uint64_t timeout_ns)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    uint64_t ms = (timeout_ns + 999999u) / 1000000u;
    int timeout = ms > 1000000u ? 1000000 : (int)ms;

    return poll(fd >= 0 ? &pfd : NULL, fd >= 0 ? 1 : 0, timeout);
}
