/*
 * test_socket_random.c — seeded random sequences of socket, epoll and kqueue calls with
 * arbitrary descriptors, ports, flags, lengths and options on both stacks while they run:
 * nothing crashes (the SAN build checks memory), every failure is -1 with a non-zero
 * errno, and once everything is closed the descriptor tables, tcpcb tables and pools are
 * back to zero.
 */
#include "sock_harness.h"

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* One random call on st; returns 0 if it behaved (success, or -1 with errno set). */
static int random_call(struct fn_stack *st, uint32_t peer_ip, uint64_t *seed)
{
    static char buf[3000];
    int fd = (int)(rnd(seed) % 20) - 2, v = (int)(rnd(seed) % 5) - 1, op = (int)(rnd(seed) % 17);
    uint16_t port = (uint16_t)(8000 + rnd(seed) % 3);
    struct sockaddr_in a = sh_addr(rnd(seed) % 2 ? peer_ip : 0, port);
    socklen_t len = (socklen_t)(rnd(seed) % 2 ? sizeof(a) : rnd(seed) % 20);
    struct epoll_event ev = {.events = (uint32_t)rnd(seed), .data.u64 = 1};
    struct fn_kevent kev = {.ident = (uintptr_t)(rnd(seed) % 20),
                            .filter = (int16_t)(-1 - (int)(rnd(seed) % 3)),
                            .flags = (uint16_t)(rnd(seed) & 0xff)};
    struct timespec zero = {0, 0};
    int levels[3] = {SOL_SOCKET, IPPROTO_TCP, 77}, names[6] = {SO_LINGER, SO_RCVBUF,
                    SO_ERROR, TCP_NODELAY, TCP_MAXSEG, SO_RCVTIMEO};
    char opt[16] = {0};
    socklen_t olen = (socklen_t)(rnd(seed) % 17);
    long rc;

    errno = 0;
    switch (op) {
    /* Non-blocking only: a blocking call with nothing to wait for would wait forever. */
    case 0: rc = fn_socket(st, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0); break;
    case 1: rc = fn_bind(st, fd, SA(a), len); break;
    case 2: rc = fn_listen(st, fd, v); break;
    case 3: rc = fn_accept4(st, fd, (struct sockaddr *)&a, &len, SOCK_NONBLOCK); break;
    case 4: rc = fn_connect(st, fd, SA(a), len); break;
    case 5: rc = fn_send(st, fd, buf, rnd(seed) % sizeof(buf), v > 1 ? MSG_MORE : 0); break;
    case 6: rc = fn_recv(st, fd, buf, rnd(seed) % sizeof(buf), v > 1 ? MSG_PEEK : 0); break;
    case 7: rc = fn_shutdown(st, fd, v); break;
    case 8: rc = fn_close(st, fd); break;
    case 9: rc = fn_epoll_create1(st, 0); break;
    case 10: rc = fn_epoll_ctl(st, fd, 1 + v, (int)(rnd(seed) % 20), &ev); break;
    case 11: {
        struct epoll_event out[4];
        rc = fn_epoll_wait(st, fd, out, 4, 0);
        break;
    }
    case 12:
        rc = fn_setsockopt(st, fd, levels[rnd(seed) % 3], names[rnd(seed) % 6], opt, olen);
        break;
    case 13:
        rc = fn_getsockopt(st, fd, levels[rnd(seed) % 3], names[rnd(seed) % 6], opt, &olen);
        break;
    case 14:
        rc = rnd(seed) % 2 ? fn_ioctl(st, fd, FIONREAD, &v) : fn_ioctl(st, fd, FIONBIO, &(int){1});
        break;
    case 15: rc = fn_kqueue(st); break;
    default: {
        struct fn_kevent out[2];
        rc = fn_kevent(st, fd, &kev, 1, out, 2, &zero);
        break;
    }
    }
    return rc >= 0 || (rc == -1 && errno != 0) ? 0 : -1;
}

FN_TEST(random_calls_never_crash_and_leave_nothing_behind)
{
    uint64_t established = 0, data = 0;

    for (uint64_t seed0 = 1; seed0 <= 24; seed0++) {
        SH_SETUP();
        uint64_t seed = seed0 * 0x9e3779b97f4a7c15ull;

        for (int i = 0; i < 3000; i++) {
            FN_CHECK_EQ(random_call(t.sa, IP_B, &seed), 0);
            FN_CHECK_EQ(random_call(t.sb, IP_A, &seed), 0);
            if (i % 8 == 0) {
                t.now += (rnd(&seed) % 50) * MS;
                sh_run(&t);
            }
        }
        established += tnet_stats(t.sa).tcp_conn_established +
                       tnet_stats(t.sb).tcp_conn_established;
        data += tnet_stats(t.sa).tcp_rx_bytes + tnet_stats(t.sb).tcp_rx_bytes;
        SH_TEARDOWN();
    }
    /* The sequences did reach connections and data, not just argument errors. */
    printf("  %llu connections established, %llu bytes received\n",
           (unsigned long long)established, (unsigned long long)data);
    FN_CHECK(established > 0);
    FN_CHECK(data > 0);
}

FN_TEST_MAIN()
