/*
 * tcp_csum.h — the Internet checksum of a 32-byte TCP header (the timestamp-option header of
 * every pure ACK) summed inline, for the fast receive step (tcp_fastin.c) and tcp_output's
 * bare ACKs, where a call to fn_csum_partial and its loop would cost more than the sum
 * (internal to tcp/).
 *
 * Contract: pure arithmetic over bytes the caller owns; any alignment, either byte order
 * (words are summed in memory order, as fn_csum_pseudo's seed is).  Cannot fail; any core.
 */
#ifndef FASTNET_TCP_CSUM_H
#define FASTNET_TCP_CSUM_H

#include <stdint.h>
#include <string.h>

static inline uint64_t tcp_ld64(const uint8_t *p)
{
    uint64_t w;

    memcpy(&w, p, 8);
    return w;
}

/* RFC 1071 §2(B): the Internet checksum may be summed in 64-bit words with end-around
 * carry; one add of w to the sum. */
static inline uint64_t tcp_csum_add(uint64_t sum, uint64_t w)
{
    sum += w;
    return sum + (sum < w);
}

/* seed (a 64-bit sum so far) plus the 32 bytes at th. */
static inline uint64_t tcp_csum_hdr32(const uint8_t *th, uint64_t seed)
{
    uint64_t sum = tcp_csum_add(tcp_csum_add(seed, tcp_ld64(th)), tcp_ld64(th + 8));

    return tcp_csum_add(tcp_csum_add(sum, tcp_ld64(th + 16)), tcp_ld64(th + 24));
}

/* The 64-bit sum folded to 32 bits (still to be folded to 16 by fn_csum_fold). */
static inline uint32_t tcp_csum_fold32(uint64_t sum)
{
    sum = (sum & 0xffffffffu) + (sum >> 32);
    sum = (sum & 0xffffffffu) + (sum >> 32);
    return (uint32_t)sum;
}

/* Is the data summed, which includes its checksum field, correct?  Folding the 64-bit sum
 * to 16 bits keeps it modulo 0xffff (2^16 ≡ 1), and a correct field makes the folded sum
 * 0xffff; a folded sum is 0 only for an all-zero input (sum == 0).  So divisibility by
 * 0xffff replaces the folds, tested with one multiply (never a divide instruction): for odd
 * d, d divides x iff x · d⁻¹ mod 2^64 <= (2^64 − 1) / d (Hacker's Delight §10-17);
 * 0xffff⁻¹ mod 2^64 = 0xfffefffefffeffff. */
static inline int tcp_csum_ok(uint64_t sum)
{
    return sum != 0 && sum * 0xfffefffefffeffffull <= UINT64_MAX / 0xffffu;
}

#endif
