/*
 * cubic.h — CUBIC's private state and its integer arithmetic (RFC 9438), internal to tcp/.
 *
 * Contract: struct cubic is what cubic.c keeps in cc_var.cc_data (copied in and out by
 * memcpy, whole or a field at a time, so cc_data needs no particular type); the tests read
 * it the same way to check the algorithm against the RFC's formulas.  The functions are
 * pure integer arithmetic (no libm, no floating point) and never fail; any core.
 *
 * Units: windows in bytes (the RFC's segments times SMSS), the time t of the cubic function
 * and K in milliseconds, every timestamp in ns.
 */
#ifndef FASTNET_TCP_CC_CUBIC_H
#define FASTNET_TCP_CC_CUBIC_H

#include <stdint.h>

#include "tcp/cc/cc.h"

/* β_cubic = 0.7 (RFC 9438 §4.6). */
#define CUBIC_BETA_NUM 7u
#define CUBIC_BETA_DEN 10u
/* α_cubic = 3(1 − β)/(1 + β) = 0.9/1.7 = 9/17 (RFC 9438 §4.3). */
#define CUBIC_ALPHA_NUM 9u
#define CUBIC_ALPHA_DEN 17u
/* C = 0.4 segments/s³ (RFC 9438 §5.1).  With t in ms, C·(t − K)³ segments is
 * (t − K)³ / CUBIC_MS3_PER_SEG, where CUBIC_MS3_PER_SEG = 10⁹ ms³/s³ / 0.4. */
#define CUBIC_MS3_PER_SEG 2500000000ull
/* |t − K| is clamped here (about 17 minutes): beyond it W(t) is far past any window we
 * would set, and the clamp keeps (t − K)³ within 64 bits. */
#define CUBIC_DT_MAX_MS (1ull << 20)
/* Fraction bits of W_est: α·SMSS·acked/cwnd is often less than a byte per ACK. */
#define CUBIC_EST_SHIFT 10

#define CUBIC_F_EPOCH 0x1u  /* a congestion-avoidance epoch is running (epoch_start valid) */
#define CUBIC_F_RTO   0x2u  /* the next epoch follows a timeout: K = 0 (RFC 9438 §4.8) */

struct cubic {
    uint64_t epoch_start;   /* ns: start of the epoch, moved later by every stretch of time
                               the sender was not cwnd-limited, so t = now − epoch_start
                               counts only cwnd-limited time (RFC 9438 §5.8) */
    uint64_t t_mark;        /* ns: time up to which t has been accounted; >= epoch_start */
    uint64_t w_est;         /* W_est (RFC 9438 §4.3), bytes << CUBIC_EST_SHIFT */
    uint64_t acc;           /* sum of (target − cwnd)·acked not yet turned into whole bytes of
                               cwnd (< cwnd after each ACK) */
    uint32_t w_max;         /* W_max, bytes: cwnd before the last reduction, lowered by fast
                               convergence (RFC 9438 §4.7) */
    uint32_t cwnd_prior;    /* cwnd at the last congestion event (the α switch of §4.3) */
    uint32_t cwnd_epoch;    /* cwnd when the epoch began (RFC 9438 §4.2 eq. 2) */
    uint32_t k_ms;          /* K, ms: when W(t) reaches W_max again */
    uint32_t flags;         /* CUBIC_F_* */
};

_Static_assert(sizeof(struct cubic) <= CC_DATA_MAX,
               "CUBIC's state fits in cc_data");

/* floor(cbrt(x)). */
uint32_t cubic_cbrt(uint64_t x);
/* K = cbrt((W_max − cwnd_epoch) / C) in ms (RFC 9438 §4.2 eq. 2); 0 if cwnd_epoch >= W_max. */
uint32_t cubic_k_ms(uint32_t w_max, uint32_t cwnd_epoch, uint32_t smss);
/* W_cubic(t) = C·(t − K)³ + W_max in bytes (RFC 9438 §4.2 eq. 1), t in ms, clamped to
 * [0, CC_CWND_MAX]. */
uint32_t cubic_w(uint32_t w_max, uint32_t k_ms, uint64_t t_ms, uint32_t smss);

#endif
