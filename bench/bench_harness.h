/*
 * bench_harness.h — what the callgrind benchmark programs of bench/ share: the stack's test
 * harness (stack/tests/tcp_harness.h, the in-memory link and a raw peer) and the callgrind
 * client request that brackets a measured region.
 *
 * Contract: include once, from the program's one source file (it defines the FN_TEST
 * registry symbols).  Without valgrind's headers CALLGRIND_TOGGLE_COLLECT is a no-op, and
 * under no valgrind it costs nothing either.
 */
#ifndef FASTNET_BENCH_HARNESS_H
#define FASTNET_BENCH_HARNESS_H

#include "platform/fn_platform.h"
#include "tcp_harness.h"

#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#endif
#endif
#ifndef CALLGRIND_TOGGLE_COLLECT
#define CALLGRIND_TOGGLE_COLLECT
#endif

/* The FN_TEST registry is declared by fn_test.h (pulled in by tcp_harness.h); these programs
 * register no tests but define the symbols so that the header's declarations link. */
struct fn_test_case fn_test_cases[FN_TEST_MAX];
int fn_test_ncases;

#endif
