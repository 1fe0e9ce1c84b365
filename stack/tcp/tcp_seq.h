/*
 * tcp_seq.h — sequence-number comparison in mod-2^32 arithmetic (RFC 9293 §3.4).
 *
 * Contract: pure macros.  Every comparison of TCP sequence numbers (and of timestamps, which
 * wrap the same way, RFC 7323 §5.2) goes through these; a plain < on sequence numbers is a
 * bug.  a and b are valid only within 2^31 of each other, which the window sizes guarantee.
 */
#ifndef FASTNET_TCP_SEQ_H
#define FASTNET_TCP_SEQ_H

#include <stdint.h>

#define SEQ_LT(a, b)  ((int32_t)((uint32_t)(a) - (uint32_t)(b)) < 0)
#define SEQ_LEQ(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) <= 0)
#define SEQ_GT(a, b)  ((int32_t)((uint32_t)(a) - (uint32_t)(b)) > 0)
#define SEQ_GEQ(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) >= 0)
#define SEQ_MIN(a, b) (SEQ_LT(a, b) ? (a) : (b))
#define SEQ_MAX(a, b) (SEQ_GT(a, b) ? (a) : (b))

/* Timestamps (RFC 7323 §5.2: TSval comparisons are mod 2^32 like sequence numbers). */
#define TSTMP_LT(a, b)  SEQ_LT(a, b)
#define TSTMP_GEQ(a, b) SEQ_GEQ(a, b)

#endif
