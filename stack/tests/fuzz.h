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

#endif
