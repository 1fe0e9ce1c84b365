/*
 * fn_test.h — the minimal test harness of the C unit tests (no dependencies).
 *
 * A test file defines tests with FN_TEST(name) { ... } and ends with FN_TEST_MAIN().  Each
 * test runs in order; a failed FN_CHECK marks the test failed, prints file:line and the
 * expression, and returns from the test.  main() prints "N passed, N failed" and exits 1 on
 * any failure.  Argument 1, if given, runs only tests whose name contains it.
 */
#ifndef FASTNET_TESTS_FN_TEST_H
#define FASTNET_TESTS_FN_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fn_test_case {
    const char *name;
    void (*fn)(int *failed);
};

#define FN_TEST_MAX 512
extern struct fn_test_case fn_test_cases[FN_TEST_MAX];
extern int fn_test_ncases;

#define FN_TEST(name)                                                                \
    static void fn_test_##name(int *fn_test_failed);                                \
    __attribute__((constructor)) static void fn_test_register_##name(void)          \
    {                                                                                \
        if (fn_test_ncases < FN_TEST_MAX)                                            \
            fn_test_cases[fn_test_ncases++] = (struct fn_test_case){#name,           \
                                                                    fn_test_##name}; \
    }                                                                                \
    static void fn_test_##name(int *fn_test_failed)

#define FN_CHECK(cond)                                                               \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "  %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            *fn_test_failed = 1;                                                     \
            return;                                                                  \
        }                                                                            \
    } while (0)

#define FN_CHECK_EQ(a, b)                                                            \
    do {                                                                             \
        long long fn_a_ = (long long)(a), fn_b_ = (long long)(b);                    \
        if (fn_a_ != fn_b_) {                                                        \
            fprintf(stderr, "  %s:%d: check failed: %s == %s (%lld != %lld)\n",      \
                    __FILE__, __LINE__, #a, #b, fn_a_, fn_b_);                        \
            *fn_test_failed = 1;                                                     \
            return;                                                                  \
        }                                                                            \
    } while (0)

#define FN_TEST_MAIN()                                                               \
    struct fn_test_case fn_test_cases[FN_TEST_MAX];                                  \
    int fn_test_ncases;                                                              \
    int main(int argc, char **argv)                                                  \
    {                                                                                \
        int passed = 0, failed = 0;                                                  \
        for (int i = 0; i < fn_test_ncases; i++) {                                   \
            int f = 0;                                                               \
            if (argc > 1 && !strstr(fn_test_cases[i].name, argv[1]))                 \
                continue;                                                            \
            fn_test_cases[i].fn(&f);                                                 \
            printf("%s %s\n", f ? "FAIL" : "ok  ", fn_test_cases[i].name);           \
            if (f)                                                                   \
                failed++;                                                            \
            else                                                                     \
                passed++;                                                            \
        }                                                                            \
        printf("%s: %d passed, %d failed\n", argv[0], passed, failed);               \
        return failed ? 1 : (passed ? 0 : 1);                                        \
    }

#endif
