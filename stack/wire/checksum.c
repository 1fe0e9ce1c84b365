/*
 * checksum.c — the internet checksum (RFC 1071) and its incremental update (RFC 1624).
 *
 * Contract: pure functions over caller memory; no allocation, no state, callable from any
 * core.  Nothing here can fail.
 *
 * Representation: every value is in MEMORY order.  The one's-complement sum is independent
 * of byte order (RFC 1071 §2(B)), so summing words exactly as they lie in memory and storing
 * the complemented result back the same way puts the right bytes on the wire on either
 * endianness, with no byte swap on the per-packet path.  Only values that arrive in host
 * order (the pseudo-header's protocol and length) are converted.
 *
 * fn_csum_fold and fn_csum_pseudo are static inline in fn_wire.h: a few instructions each,
 * on every packet, not worth a call.
 *
 * Accumulators: fn_csum_partial sums 64-bit words and folds the carries back in (end-around
 * carry), which is congruent to the 16-bit sum modulo 0xffff because 2^16 == 1
 * (mod 0xffff).  Between calls the accumulator is a 32-bit value in the same congruence
 * class; fn_csum_fold reduces it to 16 bits.  A non-zero input never folds
 * to 0 (end-around carry addition of values not both zero is never zero), so the stored
 * checksum of any non-zero data lies in 0..0xfffe, the same range RFC 1624 eqn. 3 produces:
 * full and incremental computation agree bit for bit.
 */
#include "wire/fn_wire.h"

#include <string.h>

#ifndef __SIZEOF_INT128__
#error "checksum.c needs a 128-bit integer type (gcc or clang on a 64-bit target)"
#endif
/* The running sum: 64-bit words are added into a 128-bit integer, so the compiler emits an
 * add / add-with-carry pair per word and the carries out of bit 63 collect in the high half
 * instead of being folded back one by one.  2^64 == 1 (mod 0xffff), so the high half is
 * folded into the low one once at the end. */
__extension__ typedef unsigned __int128 csum_acc;

static inline uint64_t load64(const uint8_t *b)
{
    uint64_t w;

    memcpy(&w, b, sizeof w);    /* any alignment; compiles to one load */
    return w;
}

/* On x86-64 the bulk of the sum is one add-with-carry chain over 64-bit words: the carry
 * out of each add goes straight into the next (adc), 8 words per loop iteration, which
 * is about a quarter of the instructions the portable loop below compiles to.  ASan cannot
 * see memory reads inside asm, so sanitizer builds keep the portable loop and its checks. */
#if defined(__x86_64__) && defined(__GNUC__)
#if defined(__SANITIZE_ADDRESS__)
#define CSUM_ADC_ASM 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CSUM_ADC_ASM 0
#endif
#endif
#ifndef CSUM_ADC_ASM
#define CSUM_ADC_ASM 1
#endif
#else
#define CSUM_ADC_ASM 0
#endif

#if CSUM_ADC_ASM
/* Eight adds with carry of the words at base, base + 8, ... (base: an assembler expression)
 * from p into a. */
#define CSUM_ADC8(base)                                                                     \
    "adcq " base "+0(%[p]), %[a]\n\t" "adcq " base "+8(%[p]), %[a]\n\t"                  \
    "adcq " base "+16(%[p]), %[a]\n\t" "adcq " base "+24(%[p]), %[a]\n\t"                \
    "adcq " base "+32(%[p]), %[a]\n\t" "adcq " base "+40(%[p]), %[a]\n\t"                \
    "adcq " base "+48(%[p]), %[a]\n\t" "adcq " base "+56(%[p]), %[a]\n\t"

/* The end-around-carry sum of n 64-bit words at b onto acc.  Every carry is added back in
 * before the result is returned: the chain's last adc may produce one more carry only if it
 * started from an all-ones accumulator with a carry pending, a state an add chain that starts
 * with a clear carry never reaches, so the one closing adc $0 cannot overflow. */
static inline uint64_t csum_adc_words(const uint8_t *b, size_t n, uint64_t acc)
{
    /* Blocks of 32 words (a full-size segment is five of them), then of 8, then single
     * words: the loop's lea/dec/jnz come once per 256 bytes on the long stretch. */
    size_t blocks = n / 32, mids = n % 32 / 8, rest = n % 8;

    __asm__("test %[blocks], %[blocks]\n\t"   /* clears CF */
            "jz 2f\n"
            "1:\n\t"
            CSUM_ADC8("0") CSUM_ADC8("64") CSUM_ADC8("128") CSUM_ADC8("192")
            "leaq 256(%[p]), %[p]\n\t"            /* lea and dec leave CF alone */
            "decq %[blocks]\n\t"
            "jnz 1b\n\t"
            "adcq $0, %[a]\n"
            "2:\n\t"
            "test %[mids], %[mids]\n\t"
            "jz 4f\n"
            "3:\n\t"
            CSUM_ADC8("0")
            "leaq 64(%[p]), %[p]\n\t"
            "decq %[mids]\n\t"
            "jnz 3b\n\t"
            "adcq $0, %[a]\n"
            "4:\n\t"
            "test %[rest], %[rest]\n\t"
            "jz 6f\n"
            "5:\n\t"
            "adcq 0(%[p]), %[a]\n\t"
            "leaq 8(%[p]), %[p]\n\t"
            "decq %[rest]\n\t"
            "jnz 5b\n\t"
            "adcq $0, %[a]\n"
            "6:"
            : [a] "+r"(acc), [p] "+r"(b), [blocks] "+r"(blocks), [mids] "+r"(mids),
              [rest] "+r"(rest)
            :
            : "cc", "memory");
    return acc;
}
#endif

/* The 1..7 tail bytes, as a 4-, a 2- and a 1-byte piece, summed as plain integers (< 2^34).
 * Each piece starts at an even offset from the start of the data, and moving a 16-bit word
 * by a multiple of 16 bits inside the accumulator does not change the sum modulo 0xffff
 * (2^16 == 1), so the pieces can be added as small integers.  Fixed-size copies keep this
 * free of a memcpy call. */
static inline uint64_t csum_tail(const uint8_t *b, size_t len)
{
    uint64_t t = 0;

    if (len & 4) {
        uint32_t w;

        memcpy(&w, b, 4);
        t += w;
        b += 4;
    }
    if (len & 2) {
        uint16_t w;

        memcpy(&w, b, 2);
        t += w;
        b += 2;
    }
    if (len & 1) {
        /* An odd final byte is the first byte of a word padded with zero (RFC 1071 §4.1). */
        uint8_t pad[2] = {b[0], 0};
        uint16_t w;

        memcpy(&w, pad, 2);
        t += w;
    }
    return t;
}

/* 64 -> 32 bits: the halves' sum is at most 2^33 - 2, and one more fold fits 32 bits. */
static inline uint32_t csum_fold64(uint64_t v)
{
    v = (v & 0xffffffffu) + (v >> 32);
    v = (v & 0xffffffffu) + (v >> 32);
    return (uint32_t)v;
}

uint32_t fn_csum_partial(const void *p, size_t len, uint32_t sum)
{
    const uint8_t *b = p;
#if CSUM_ADC_ASM
    uint64_t acc = csum_adc_words(b, len / 8, sum);
    uint64_t t = csum_tail(b + (len & ~(size_t)7), len & 7);

    /* End-around carry: after a wrap acc is below t < 2^34, so adding 1 cannot wrap. */
    acc += t;
    acc += acc < t;
    return csum_fold64(acc);
#else
    csum_acc a0 = sum, a1 = 0;
    uint64_t lo, hi;

    /* 32 bytes per iteration into two independent carry chains, so that consecutive
     * add/adc pairs can issue in parallel.  The high halves count carries: at most one per
     * word, they cannot overflow. */
    while (len >= 32) {
        a0 += load64(b);
        a1 += load64(b + 8);
        a0 += load64(b + 16);
        a1 += load64(b + 24);
        b += 32;
        len -= 32;
    }
    while (len >= 8) {
        a0 += load64(b);
        b += 8;
        len -= 8;
    }
    a1 += csum_tail(b, len);
    a0 += a1;

    /* 128 -> 64 bits with end-around carry (after a wrap the sum is at most 2^64 - 2, so
     * adding the carry cannot wrap again), then 64 -> 32. */
    lo = (uint64_t)a0;
    hi = (uint64_t)(a0 >> 64);
    lo += hi;
    lo += lo < hi;
    return csum_fold64(lo);
#endif
}

uint16_t fn_csum(const void *p, size_t len)
{
    return fn_csum_fold(fn_csum_partial(p, len, 0));
}

/* RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), with one's-complement (end-around carry)
 * addition.  All operands in memory order. */
uint16_t fn_csum_update16(uint16_t csum, uint16_t old_field, uint16_t new_field)
{
    uint32_t sum = (uint16_t)~csum + (uint32_t)(uint16_t)~old_field + new_field;

    return fn_csum_fold(sum);
}

uint16_t fn_csum_update32(uint16_t csum, uint32_t old_field, uint32_t new_field)
{
    /* A 32-bit field is two 16-bit words; the halves of the memory-order value are exactly
     * those words on either endianness. */
    uint32_t sum = (uint16_t)~csum;

    sum += (uint16_t)~(old_field >> 16);
    sum += (uint16_t)~(old_field & 0xffffu);
    sum += new_field >> 16;
    sum += new_field & 0xffffu;
    return fn_csum_fold(sum);
}
