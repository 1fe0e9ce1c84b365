/* Buffer pool: O(1) alloc/free, exhaustion counted, headroom/tailroom arithmetic, no leaks. */
#include <errno.h>

#include "fastnet/fn_pkt.h"
#include "fn_test.h"

FN_TEST(create_rejects_bad_sizes)
{
    struct fn_pool *p = NULL;
    FN_CHECK_EQ(fn_pool_create(0, 2048, 0, &p), -EINVAL);
    FN_CHECK_EQ(fn_pool_create(16, 1000, 0, &p), -EINVAL);
    FN_CHECK_EQ(fn_pool_create(16, 512, 0, &p), -EINVAL);
    FN_CHECK(p == NULL);
}

FN_TEST(alloc_until_empty_then_counts_failure)
{
    struct fn_pool *p;
    struct fn_pkt *pk[8];
    struct fn_pool_stats st;

    FN_CHECK_EQ(fn_pool_create(8, 2048, 0, &p), 0);
    for (int i = 0; i < 8; i++) {
        pk[i] = fn_pkt_alloc(p);
        FN_CHECK(pk[i] != NULL);
        FN_CHECK_EQ(pk[i]->len, 0);
        FN_CHECK_EQ(fn_pkt_headroom(pk[i]), FN_PKT_HEADROOM);
        FN_CHECK_EQ(fn_pkt_tailroom(pk[i]), 2048 - FN_PKT_HEADROOM);
        FN_CHECK(fn_pkt_buf(pk[i]) == (uint8_t *)fn_pool_region(p) + pk[i]->idx * 2048u);
    }
    FN_CHECK(fn_pkt_alloc(p) == NULL);
    fn_pool_get_stats(p, &st);
    FN_CHECK_EQ(st.in_use, 8);
    FN_CHECK_EQ(st.alloc_failures, 1);
    for (int i = 0; i < 8; i++)
        fn_pkt_free(pk[i]);
    fn_pool_get_stats(p, &st);
    FN_CHECK_EQ(st.in_use, 0);
    FN_CHECK_EQ(st.peak_in_use, 8);
    FN_CHECK_EQ(fn_pool_destroy(p), 0);
}

FN_TEST(push_pull_put_respect_bounds)
{
    struct fn_pool *p;
    struct fn_pkt *k;

    FN_CHECK_EQ(fn_pool_create(4, 2048, 0, &p), 0);
    k = fn_pkt_alloc(p);
    FN_CHECK(fn_pkt_put(k, 100) == fn_pkt_buf(k) + FN_PKT_HEADROOM);
    FN_CHECK_EQ(k->len, 100);
    FN_CHECK(fn_pkt_push(k, 14) != NULL);
    FN_CHECK_EQ(k->len, 114);
    FN_CHECK(fn_pkt_push(k, FN_PKT_HEADROOM) == NULL); /* only HEADROOM-14 left */
    FN_CHECK(fn_pkt_pull(k, 115) == NULL);
    FN_CHECK(fn_pkt_pull(k, 14) != NULL);
    FN_CHECK(fn_pkt_put(k, 2048) == NULL);
    fn_pkt_free(k);
    FN_CHECK_EQ(fn_pool_destroy(p), 0);
}

FN_TEST(destroy_reports_leaks_and_chain_free)
{
    struct fn_pool *p;
    struct fn_pkt *a, *b;

    FN_CHECK_EQ(fn_pool_create(4, 2048, FN_POOL_HUGEPAGES, &p), 0); /* falls back if none */
    a = fn_pkt_alloc(p);
    b = fn_pkt_alloc(p);
    a->next = b;
    fn_pkt_free_chain(a);
    (void)fn_pkt_alloc(p);
    FN_CHECK_EQ(fn_pool_destroy(p), 1);
}

FN_TEST_MAIN()
