/*
 * tcp_close_cost.c — the short-connection benchmark of the stack itself (issue 5,
 * `Connection: close`): instructions of the server stack per connection, with the TIME_WAITs
 * of the connections before it still there, as on a server that closes first.
 *
 * Contract: a standalone program, not part of the stack.  Stack A (fastnet) listens; the
 * program plays the client on the raw end of the in-memory link (stack/tests/tcp_harness.h)
 * as a Linux client does under wrk: SYN (MSS, window scale, timestamps, SACK-permitted), the
 * third ACK, a small request, and after A's answer and FIN its own FIN with the ACK of A's.
 * A's application accepts, reads the request, sends a 150-byte answer and closes, so A
 * holds one TIME_WAIT per connection; cfg.tcp_max_conns is larger than K, so none is
 * recycled and none ends (virtual time moves 100 µs per connection, far below 2·MSL).
 * Only A's polls and the application's calls are measured; building and reading the
 * client's frames is not.  The measured region is marked with callgrind client requests
 * (`valgrind --tool=callgrind --collect-atstart=no build/bench/tcp_close_cost --k K`);
 * without valgrind they cost nothing and the program is its own smoke test (make test runs
 * it with --k 32).  Per-connection figures come from two runs with
 * different K: (Ir(K2) - Ir(K1)) / (K2 - K1), which also includes what the growing number of
 * TIME_WAITs costs each new connection.
 *
 * Output: one line of JSON.  Exit status 0 only if every connection went through all its
 * steps with the expected segments and A ended with no tcpcb and no packet buffer in use
 * (after 2·MSL); 1 otherwise, 2 for bad arguments.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench_harness.h"

#define CONN_STEP_NS 100000u    /* virtual time per connection: 10,000 connections/s */
#define MAX_K 60000u            /* one client port each, all distinct */
#define REQ "GET / HTTP/1.1\r\nHost: 198.19.61.1:8080\r\nConnection: close\r\n\r\n"
#define ANSWER_LEN 150u

static void die(const char *what, uint32_t i)
{
    fprintf(stderr, "tcp_close_cost: connection %u: %s\n", i, what);
    exit(1);
}

/* Put one client frame in A's receive ring, then (measured) poll A. */
static void deliver(struct tnet *t, const uint8_t *f, uint32_t len)
{
    tnet_queue(t, f, len);
    CALLGRIND_TOGGLE_COLLECT;
    fn_stack_poll(t->sa, t->now);
    CALLGRIND_TOGGLE_COLLECT;
}

/* What A's application does with the ready list: accept, read the request, answer, close
 * (measured by the caller). */
static void app(struct tnet *t, struct tcpcb *l, struct tcpcb **conn, uint32_t *answered)
{
    static uint8_t buf[2048], answer[ANSWER_LEN];
    struct fn_tcp_event ev[64];
    int n = fn_tcp_ready(t->sa, ev, 64);

    for (int i = 0; i < n; i++) {
        if (ev[i].tp == l) {
            struct tcpcb *c = fn_tcp_accept(l);
            if (c)
                *conn = c;
        } else if (ev[i].tp == *conn && (ev[i].events & FN_TCP_EV_READABLE)) {
            if (fn_tcp_recv(*conn, buf, sizeof(buf), t->now) == (int)sizeof(REQ) - 1 &&
                fn_tcp_send(*conn, answer, ANSWER_LEN, t->now) == (int)ANSWER_LEN) {
                fn_tcp_close(*conn, t->now);
                *conn = NULL;
                *answered = 1;
            }
        }
    }
}

/* The frames A sent since the last call: the flags of the last TCP one and their count. */
static int sent(struct tnet *t, struct rseg *r, uint8_t *flags)
{
    int n = 0;

    while (tt_read(t, r) == 1) {
        *flags = r->th.flags;
        n++;
    }
    return n;
}

static void one_connection(struct tnet *t, struct tcpcb *l, uint32_t i)
{
    static uint8_t f[TT_FRAME_MAX];
    struct tcpcb *conn = NULL;
    struct peer p;
    struct rseg r;
    uint32_t answered = 0, a_seq, len;
    uint8_t o[20], flags = 0;
    int n;

    tt_peer_init(&p, t, 1000000u + i * 7919u);
    p.port = (uint16_t)(1024 + i);
    p.ts = 1;
    p.tsval = 1000 + i;
    /* SYN as Linux sends it: MSS, SACK-permitted, timestamps, window scale 7. */
    o[0] = 2, o[1] = 4, o[2] = P_MSS >> 8, o[3] = P_MSS & 0xff;
    o[4] = 4, o[5] = 2, o[6] = 8, o[7] = 10;
    put32(o + 8, p.tsval);
    put32(o + 12, 0);
    o[16] = 1, o[17] = 3, o[18] = 3, o[19] = 7;
    len = tt_build_abs(&p, f, p.iss, 0, FN_TH_SYN, o, 20, NULL, 0);
    deliver(t, f, len);
    if (sent(t, &r, &flags) != 1 || flags != (FN_TH_SYN | FN_TH_ACK) || !r.to.has_ts)
        die("no SYN-ACK", i);
    p.a_iss = r.th.seq;
    p.tsecr = r.to.tsval;
    p.win = 502;                                /* 64,256 bytes << 7 */
    len = tt_build(&p, f, 1, 1, FN_TH_ACK, NULL, 0);
    deliver(t, f, len);
    CALLGRIND_TOGGLE_COLLECT;
    app(t, l, &conn, &answered);
    CALLGRIND_TOGGLE_COLLECT;
    if (!conn || sent(t, &r, &flags) != 0)
        die("not accepted", i);
    len = tt_build(&p, f, 1, 1, FN_TH_ACK | FN_TH_PUSH, REQ, sizeof(REQ) - 1);
    tnet_queue(t, f, len);
    CALLGRIND_TOGGLE_COLLECT;
    fn_stack_poll(t->sa, t->now);
    app(t, l, &conn, &answered);
    fn_stack_poll(t->sa, t->now);               /* flush what the application wrote */
    CALLGRIND_TOGGLE_COLLECT;
    n = sent(t, &r, &flags);
    if (!answered || n < 1 || !(flags & FN_TH_FIN))
        die("no answer and FIN", i);
    a_seq = RSEQ(&p, &r) + r.th.payload_len + 1;  /* past A's FIN */
    p.tsecr = r.to.tsval;
    len = tt_build(&p, f, 1 + sizeof(REQ) - 1, a_seq, FN_TH_FIN | FN_TH_ACK, NULL, 0);
    deliver(t, f, len);
    if (sent(t, &r, &flags) != 1 || flags != FN_TH_ACK)
        die("FIN not acked", i);
}

int main(int argc, char **argv)
{
    struct tnet t;
    struct fn_config c;
    struct tcpcb *l;
    uint32_t k = 1000;
    int opt;

    static const struct option opts[] = {{"k", required_argument, NULL, 'k'}, {0, 0, 0, 0}};

    while ((opt = getopt_long(argc, argv, "k:", opts, NULL)) != -1) {
        if (opt != 'k')
            return 2;
        k = (uint32_t)strtoul(optarg, NULL, 10);
    }
    if (k == 0 || k > MAX_K) {
        fprintf(stderr, "tcp_close_cost: --k 1..%u\n", MAX_K);
        return 2;
    }
    tt_cfg(&c);
    c.tcp_timestamps = 1;
    c.tcp_window_scaling = 1;
    c.tcp_sack = 1;
    c.tcp_max_conns = 65536;
    if (tnet_open(&t, &c, NULL, 4096, 1500) != 0)
        die("stack set-up failed", 0);
    tnet_teach_b(&t);
    if (fn_tcp_listen(t.sa, A_PORT, 128, &l) != 0)
        die("listen failed", 0);
    for (uint32_t i = 0; i < k; i++) {
        one_connection(&t, l, i);
        t.now += CONN_STEP_NS;
    }
    if (fn_tcp_count(t.sa) != k + 1)
        die("TIME_WAITs missing", k);
    fn_tcp_close(l, t.now);
    tt_advance(&t, 2ull * c.tcp_msl_ms * MS);
    if (fn_tcp_count(t.sa) != 0)
        die("tcpcbs left at the end", k);
    if (tnet_close(&t) != 0)
        die("packet buffers left at the end", k);
    printf("{\"k\": %u, \"time_waits\": %u}\n", k, k);
    return 0;
}
