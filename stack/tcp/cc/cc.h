/*
 * cc.h — pluggable congestion control (FreeBSD's cc_algo shape, RFC 5681).
 *
 * Contract: an algorithm is a table of hooks over a small struct cc_var.  The transport
 * (tcp_input.c / tcp_timer.c) decides what happened — how many bytes an ACK newly
 * acknowledged, that three duplicate ACKs or an RTO signalled congestion, that recovery
 * ended — and calls the hook; the hook only updates tp->snd_cwnd and tp->snd_ssthresh (and
 * its own private state in cc_data).  Hooks never send, never allocate, never fail.  Loss
 * recovery itself (which segment to retransmit, `recover`, NewReno partial ACKs) is the
 * transport's job.  Runs on the stack's core only.
 *
 * Algorithms are found by name or by index in one registry (cc.c); the index is what
 * struct fn_config.tcp_cc holds (FN_CC_* in fn_config.h).
 */
#ifndef FASTNET_TCP_CC_CC_H
#define FASTNET_TCP_CC_CC_H

#include <stdint.h>

struct tcpcb;

/* Why cong_signal is called. */
#define CC_NDUPACK 1    /* third duplicate ACK: fast retransmit (RFC 5681 §3.2) */
#define CC_RTO     2    /* retransmission timeout (RFC 5681 §3.1 eq. 4, RFC 6298 §5.5) */

/* What kind of ACK ack_received saw (duplicates are counted by the transport, which
 * drives fast retransmit itself; an algorithm that wants them gets a type here later). */
#define CC_ACK    1     /* a new cumulative ACK outside recovery */

/* cc_var.flags */
#define CCF_CWND_LIMITED 0x01u /* the sender had a full cwnd in flight when the ACK came */
#define CCF_IN_RECOVERY  0x02u /* fast recovery in progress: do not grow cwnd */

#define CC_DATA_MAX 64u

struct cc_var {
    struct tcpcb *tp;           /* the connection; hooks write snd_cwnd / snd_ssthresh */
    uint32_t flags;             /* CCF_* as set by the transport before each hook */
    uint32_t bytes_this_ack;    /* bytes newly acknowledged by the ACK being processed */
    uint32_t flight;            /* FlightSize (snd_max - snd_una) before the ACK / signal */
    uint64_t now;               /* ns, for time-based algorithms */
    uint64_t srtt;              /* the tcpcb's smoothed RTT (ns, 0 = no sample) at the ACK */
    uint64_t cc_data[CC_DATA_MAX / 8]; /* private state of the algorithm */
};

struct cc_algo {
    const char *name;
    /* Optional.  The algorithm takes over a connection whose cwnd / ssthresh are already
     * set (a switch with fn_tcp_set_cc); cc_data is zero.  Never resets the window. */
    void (*cb_init)(struct cc_var *ccv);
    /* Optional.  The algorithm gives the connection up (before the next one's cb_init). */
    void (*cb_destroy)(struct cc_var *ccv);
    /* A connection starts (after the handshake sets t_maxseg): initial window. */
    void (*conn_init)(struct cc_var *ccv);
    /* A new cumulative ACK (type CC_ACK) outside fast recovery.  For an ACK without
     * CCF_CWND_LIMITED it must depend on nothing but ccv->now and its own state, and a
     * second call at the same now must change nothing: the transport calls it once for a
     * run of such ACKs in one receive batch (tcp_fastin.c).  Of the tcpcb it reads only
     * snd_cwnd, snd_ssthresh, tcp_maxseg() and the config (ccv has the rest): within such
     * a run the other fields are brought up to date after the last ACK. */
    void (*ack_received)(struct cc_var *ccv, int type);
    /* Congestion: CC_NDUPACK or CC_RTO. */
    void (*cong_signal)(struct cc_var *ccv, int type);
    /* Fast recovery ended with a full ACK. */
    void (*post_recovery)(struct cc_var *ccv);
    /* Sending resumes after an idle period longer than the RTO (RFC 5681 §4.1). */
    void (*after_idle)(struct cc_var *ccv);
    /* Optional.  tcp_output is about to send with nothing in flight, after an idle period
     * of any length (called before after_idle when that applies too); ccv->now is set. */
    void (*tx_resume)(struct cc_var *ccv);
};

extern const struct cc_algo newreno_cc_algo;
extern const struct cc_algo cubic_cc_algo;

/* ---- the registry (cc.c) ---- */
unsigned cc_algo_count(void);
/* By FN_CC_* index; NULL past the end. */
const struct cc_algo *cc_algo_by_index(unsigned i);
/* By name ("newreno", "cubic"); NULL if unknown. */
const struct cc_algo *cc_algo_by_name(const char *name);

/* ---- window arithmetic shared by the algorithms (cc.c) ---- */
/* The largest cwnd any algorithm sets (keeps cwnd + increments far from wrapping). */
#define CC_CWND_MAX (UINT32_MAX / 2)
/* Slow start with Appropriate Byte Counting, L = 2 (RFC 3465 §2.2): the increment. */
uint32_t cc_slow_start_incr(uint32_t bytes_acked, uint32_t smss);
/* cwnd + incr, clamped to CC_CWND_MAX. */
uint32_t cc_cwnd_add(uint32_t cwnd, uint64_t incr);
/* The window after fast recovery: RFC 6582 §3.2 step 3 option (1),
 * min(ssthresh, FlightSize + SMSS). */
void cc_post_recovery_window(struct cc_var *ccv);
/* RFC 5681 §4.1: cwnd = min(RW, cwnd), RW the initial window. */
void cc_restart_window(struct cc_var *ccv);

/* The initial (and restart) window of every algorithm.  RFC 6928 §2: for IW 10,
 * min(10·SMSS, max(2·SMSS, 14600)); another configured IW is taken as given. */
static inline uint32_t cc_initial_window(uint32_t smss, uint32_t iw_segs)
{
    uint64_t iw = (uint64_t)iw_segs * smss;

    if (iw_segs == 10) {
        uint64_t cap = 2ull * smss > 14600 ? 2ull * smss : 14600;
        if (iw > cap)
            iw = cap;
    }
    return iw > UINT32_MAX / 2 ? UINT32_MAX / 2 : (uint32_t)iw;
}

#endif
