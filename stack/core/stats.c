/*
 * stats.c — names and descriptions of the per-core counters, generated from the one
 * FN_STATS_FIELDS list in fn_stack.h so C, Python and `fastnet stat` agree.
 *
 * Contract: constant tables, FN_STATS_COUNT entries each, in struct field order.
 */
#include "fastnet/fn_stack.h"

const char *const fn_stats_names[] = {
#define FN_STATS_NAME(name, desc) #name,
    FN_STATS_FIELDS(FN_STATS_NAME)
#undef FN_STATS_NAME
};

const char *const fn_stats_descs[] = {
#define FN_STATS_DESC(name, desc) desc,
    FN_STATS_FIELDS(FN_STATS_DESC)
#undef FN_STATS_DESC
};

_Static_assert(sizeof(fn_stats_names) / sizeof(fn_stats_names[0]) == FN_STATS_COUNT,
               "one name per counter");
