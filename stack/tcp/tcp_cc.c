/*
 * tcp_cc.c — the transport's side of congestion control: which algorithm a connection uses
 * (the config default, a listener's choice, fn_tcp_set_cc), and the two events the
 * algorithms cannot see for themselves — whether an ACK found the sender cwnd-limited
 * (tcp_cc_ack, inline in tcp_ack.h for the pure-ACK fast path), and sending resuming after
 * idle.
 *
 * Contract: the algorithms (tcp/cc/) only decide windows; this file tells them what
 * happened.  fn_tcp_set_cc fails only with -ENOENT for a name the registry does not know.
 * Counts tcp_cc_app_limited and tcp_cc_idle_restart.  Stack-owner core only.
 */
#include <errno.h>
#include <string.h>

#include "core/fn_stack_impl.h"
#include "tcp/tcp_var.h"

void tcp_cc_tx_resume(struct tcpcb *tp, uint64_t now)
{
    tp->ccv.now = now;
    tp->ccv.srtt = tp->t_srtt;
    if (tp->cc_algo->tx_resume)
        tp->cc_algo->tx_resume(&tp->ccv);
    /* RFC 5681 §4.1: after an idle period longer than the RTO, restart from the restart
     * window rather than bursting a stale cwnd into the network. */
    if (now - tp->t_sndtime >= tp->t_rxtcur) {
        uint32_t cw = tp->snd_cwnd;

        tp->cc_algo->after_idle(&tp->ccv);
        if (tp->snd_cwnd < cw)
            tp->t_stack->stats.tcp_cc_idle_restart++;
    }
}

int fn_tcp_set_cc(struct tcpcb *tp, const char *name)
{
    const struct cc_algo *a = name ? cc_algo_by_name(name) : NULL;

    if (!a)
        return -ENOENT;
    if (a == tp->cc_algo)
        return 0;
    /* The old algorithm lets go of its state; the new one starts from zeroed private state
     * and takes the connection's cwnd / ssthresh as they are (a connection not yet
     * established gets the new algorithm's conn_init at the handshake). */
    if (tp->cc_algo->cb_destroy)
        tp->cc_algo->cb_destroy(&tp->ccv);
    memset(tp->ccv.cc_data, 0, sizeof(tp->ccv.cc_data));
    tp->cc_algo = a;
    if (a->cb_init)
        a->cb_init(&tp->ccv);
    return 0;
}

const char *fn_tcp_cc_name(const struct tcpcb *tp)
{
    return tp->cc_algo->name;
}
