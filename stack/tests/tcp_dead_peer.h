/*
 * tcp_dead_peer.h — a check shared by the tests of giving up on a peer (test_tcp_persist.c,
 * test_tcp_keepalive.c, test_tcp_icmp.c): timed expectations and aborts, on top of
 * tcp_harness.h.
 */
#ifndef FASTNET_TESTS_TCP_DEAD_PEER_H
#define FASTNET_TESTS_TCP_DEAD_PEER_H

#include "tcp_harness.h"

/* Nothing from A before `after` from now, then a segment exactly then, in *r.  1 if so. */
static inline int tt_next_after(struct tnet *t, struct rseg *r, uint64_t after)
{
    tt_advance(t, after - 1);
    if (tt_read(t, r) != 0)
        return 0;
    tt_advance(t, 1);
    return tt_read(t, r) == 1;
}

/* tp was aborted: CLOSED with error err, FN_TCP_EV_ERROR raised, and the next segment A
 * sent is a RST (when rst) or there is none.  1 if all of that holds. */
static inline int tt_aborted(struct tnet *t, struct tcpcb *tp, int err, int rst)
{
    struct rseg r;

    if (fn_tcp_state(tp) != TCPS_CLOSED || fn_tcp_error(tp) != err)
        return 0;
    if (!(tt_events(t, tp) & FN_TCP_EV_ERROR))
        return 0;
    if (!rst)
        return tt_read(t, &r) == 0;
    return tt_read(t, &r) == 1 && (r.th.flags & FN_TH_RST) && tt_read(t, &r) == 0;
}

/* The abort comes exactly `after` from now: not a nanosecond earlier (tt_advance by
 * after - 1 leaves tp open), then tt_aborted with a RST.  1 if so. */
static inline int tt_aborts_after(struct tnet *t, struct tcpcb *tp, uint64_t after, int err)
{
    tt_advance(t, after - 1);
    if (fn_tcp_state(tp) == TCPS_CLOSED)
        return 0;
    tt_advance(t, 1);
    return tt_aborted(t, tp, err, 1);
}

/* TT_TEARDOWN for a test whose connection failed: the owner closes it first. */
#define TT_TEARDOWN_FAILED()                                             \
    do {                                                                 \
        fn_tcp_close(tp, t.now);                                         \
        tp = NULL;                                                       \
        TT_TEARDOWN();                                                   \
    } while (0)

#endif
