/*
 * test_socket_fdtable.c — the descriptor table: the lowest free descriptor is the one handed
 * out (as Linux), and what allocating costs.  Cost is asserted as work, never as time: the
 * freemap words fn_sock_alloc examined (fn_socktab.alloc_words) for a burst of accepts must
 * grow with the number of accepts, not with accepts times table size.
 */
#include "core/fn_stack_impl.h"
#include "sock_harness.h"
#include "socket/fn_sock_impl.h"

#define BURST 2000u             /* accepted connections: 32 freemap words */
#define SMALL 200u              /* descriptors of the lowest-free test: 4 words, one partial */

static void burst_cfg(struct fn_config *c)
{
    c->tcp_max_sockets = BURST + 64;
    c->tcp_max_conns = BURST + 64;
}

static void small_cfg(struct fn_config *c)
{
    c->tcp_max_sockets = SMALL;
}

static void close_range(struct tnet *t, struct fn_stack *st, int lo, int hi)
{
    for (int fd = lo; fd < hi; fd++) {
        /* Resets in batches: a FIN each would hold the link's small pools. */
        sh_abort(st, fd);
        if ((fd - lo) % 64 == 63)
            sh_run(t);
    }
    sh_run(t);
}

/* B accepts BURST connections, one at a time as they complete, as a server's accept loop
 * does: descriptors 1..BURST in order, and O(BURST + words) freemap words examined. */
FN_TEST(accept_burst_costs_linear_work)
{
    SH_SETUP_CFG(burst_cfg);
    int l = sh_listen(&t, 4096);
    struct fn_socktab *tb = t.sb->sock;
    uint64_t before;

    FN_CHECK_EQ(l, 0);
    before = tb->alloc_words;
    for (uint32_t i = 0; i < BURST; i++) {
        int c, s;

        FN_CHECK_EQ(sh_pair(&t, l, &c, &s), 0);
        FN_CHECK_EQ(c, (int)i);
        FN_CHECK_EQ(s, (int)i + 1);
    }
    /* Scanning from word 0 each time examined BURST^2 / 128 (31,000 here) words. */
    FN_CHECK(tb->alloc_words - before <= BURST + tb->nwords);
    FN_CHECK_EQ(fn_socket_count(t.sb), BURST + 1);
    close_range(&t, t.sa, 0, (int)BURST);
    close_range(&t, t.sb, 1, (int)BURST + 1);
    fn_close(t.sb, l);
    SH_TEARDOWN();
}

/* Frees below the hint, in the last (partial) word, and a full table: still the lowest
 * free descriptor first, EMFILE when none is left. */
FN_TEST(lowest_free_descriptor_first)
{
    SH_SETUP_CFG(small_cfg);
    struct fn_stack *st = t.sa;

    for (int i = 0; i < (int)SMALL; i++)
        FN_CHECK_EQ(sh_socket_nb(st), i);
    FN_CHECK_EQ(sh_socket_nb(st), -1);
    FN_CHECK_EQ(errno, EMFILE);
    FN_CHECK_EQ(fn_close(st, 150), 0);
    FN_CHECK_EQ(fn_close(st, 70), 0);
    FN_CHECK_EQ(fn_close(st, 3), 0);
    FN_CHECK_EQ(sh_socket_nb(st), 3);
    FN_CHECK_EQ(sh_socket_nb(st), 70);
    FN_CHECK_EQ(fn_close(st, 64), 0);           /* below the hint again */
    FN_CHECK_EQ(fn_epoll_create1(st, 0), 64);   /* every kind shares the table */
    FN_CHECK_EQ(sh_socket_nb(st), 150);
    FN_CHECK_EQ(sh_socket_nb(st), -1);
    FN_CHECK_EQ(errno, EMFILE);
    FN_CHECK_EQ(fn_close(st, (int)SMALL - 1), 0);
    FN_CHECK_EQ(sh_socket_nb(st), (int)SMALL - 1);
    for (int i = 0; i < (int)SMALL; i++)
        FN_CHECK_EQ(fn_close(st, i), 0);
    FN_CHECK_EQ(fn_socket_count(st), 0);
    FN_CHECK_EQ(sh_socket_nb(st), 0);
    FN_CHECK_EQ(sh_socket_nb(st), 1);
    FN_CHECK_EQ(fn_close(st, 0), 0);
    FN_CHECK_EQ(fn_close(st, 1), 0);
    SH_TEARDOWN();
}

FN_TEST_MAIN()
