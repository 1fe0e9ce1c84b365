/*
 * fuzz.h — what the libFuzzer harnesses (tests/fuzz_*.c) share: the entry points libFuzzer
 * calls and the assertion that turns a broken invariant into a finding.
 *
 * Contract: FZ_ASSERT prints the failed condition with its place and aborts, which libFuzzer
 * reports as a crash and saves the input for.  Never compiled out (the harnesses are the
 * checks).
 */
#ifndef FASTNET_TESTS_FUZZ_H
#define FASTNET_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FZ_ASSERT(c)                                                                   \
    do {                                                                               \
        if (!(c)) {                                                                    \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #c);  \
            abort();                                                                   \
        }                                                                              \
    } while (0)

/* The input as a stream of fields: past its end every field reads as zero, so any prefix of
 * an input is a valid program. */
struct fz_input {
    const uint8_t *in;
    size_t len, pos;
};

static inline uint8_t fz_g8(struct fz_input *f)
{
    return f->pos < f->len ? f->in[f->pos++] : 0;
}

static inline uint16_t fz_g16(struct fz_input *f)
{
    uint16_t hi = fz_g8(f);
    return (uint16_t)(hi << 8 | fz_g8(f));
}

/* splitmix64 bytes from *state: the harnesses' fn_random_bytes (which replaces
 * platform/random.c at link time) is this with a state reset per input, so a crashing input
 * replays exactly — ISNs, ports, hash keys and cookie secrets included. */
static inline void fz_random_fill(uint64_t *state, void *buf, size_t len)
{
    uint8_t *p = buf;

    for (size_t i = 0; i < len; i++) {
        uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        p[i] = (uint8_t)(z ^ (z >> 31));
    }
}

#endif
