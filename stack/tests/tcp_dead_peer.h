/*
 * tcp_dead_peer.h — a check shared by the tests of giving up on a peer (test_tcp_persist.c,
 * test_tcp_keepalive.c, test_tcp_icmp.c), on top of tcp_harness.h.
 */
#ifndef FASTNET_TESTS_TCP_DEAD_PEER_H
#define FASTNET_TESTS_TCP_DEAD_PEER_H

#include "tcp_harness.h"

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

#endif
