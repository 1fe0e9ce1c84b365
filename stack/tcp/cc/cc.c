/*
 * cc.c — the registry of congestion-control algorithms and the window arithmetic they share.
 *
 * Contract: a constant table, indexed by FN_CC_* (the value of struct fn_config.tcp_cc), of
 * every algorithm the stack has; lookups by index or name never fail loudly (NULL for an
 * unknown one — the caller refuses it).  The helpers only read the tcpcb's MSS and config and
 * write snd_cwnd.  fn_config_cc_name() is the public view of the table's order (what the
 * config key tcp.congestion maps to cfg.tcp_cc).  No state of its own; any core (the table
 * is read-only).
 */
#include <string.h>

#include "fastnet/fn_config.h"
#include "tcp/cc/cc.h"
#include "tcp/tcp_var.h"

static const struct cc_algo *const cc_algos[] = {
    [FN_CC_NEWRENO] = &newreno_cc_algo,
    [FN_CC_CUBIC] = &cubic_cc_algo,
};

#define NALGOS (sizeof(cc_algos) / sizeof(cc_algos[0]))

unsigned cc_algo_count(void)
{
    return NALGOS;
}

const struct cc_algo *cc_algo_by_index(unsigned i)
{
    return i < NALGOS ? cc_algos[i] : NULL;
}

const char *fn_config_cc_name(unsigned i)
{
    return i < NALGOS ? cc_algos[i]->name : NULL;
}

const struct cc_algo *cc_algo_by_name(const char *name)
{
    for (unsigned i = 0; i < NALGOS; i++)
        if (strcmp(cc_algos[i]->name, name) == 0)
            return cc_algos[i];
    return NULL;
}

uint32_t cc_slow_start_incr(uint32_t bytes_acked, uint32_t smss)
{
    /* RFC 3465 §2.2: grow by the bytes acked, at most L·SMSS per ACK with L = 2, so that a
     * stretch ACK cannot turn into a line-rate burst. */
    return bytes_acked < 2 * smss ? bytes_acked : 2 * smss;
}

uint32_t cc_cwnd_add(uint32_t cwnd, uint64_t incr)
{
    uint64_t w = (uint64_t)cwnd + incr;

    return w > CC_CWND_MAX ? CC_CWND_MAX : (uint32_t)w;
}

void cc_post_recovery_window(struct cc_var *ccv)
{
    struct tcpcb *tp = ccv->tp;
    uint32_t fl = ccv->flight + tcp_maxseg(tp);

    /* RFC 6582 §3.2 step 3, option (1): never leave recovery with a window that would
     * release more than one segment beyond what is in flight in a burst. */
    tp->snd_cwnd = tp->snd_ssthresh < fl ? tp->snd_ssthresh : fl;
}

void cc_restart_window(struct cc_var *ccv)
{
    struct tcpcb *tp = ccv->tp;
    uint32_t rw = cc_initial_window(tcp_maxseg(tp), tcp_cfg(tp)->tcp_initcwnd_segs);

    /* RFC 5681 §4.1: after an idle period cwnd = min(RW, cwnd), RW the initial window. */
    if (rw < tp->snd_cwnd)
        tp->snd_cwnd = rw;
}
