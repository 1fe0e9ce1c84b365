/*
 * tcp_sim.h — one cell of the TCP network-simulation matrix (issue 3): the settings every
 * cell shares, the congestion-control selection, running a cell on the tcp_xfer.h driver,
 * and the cell's row in the results table (Markdown and JSON).
 *
 * Contract: sim_run_cell() runs one transfer (cell->bytes each way at once over two stacks
 * joined by the memory link, seeded faults) and fills a struct sim_result; it never aborts:
 * a stall, a give-up or a data mismatch comes back as ok = 0 with the reason, and a
 * congestion-control algorithm this build does not have comes back as built = 0 without
 * running anything.  The row formatters write only values that the seed determines (no wall
 * time), so the same seed gives byte-identical rows and the files kept in bench/results/
 * change only when behaviour does.  Used by sim_tcp_matrix.c (the full matrix) and
 * test_tcp_sim.c (the reduced CI matrix); single-threaded, like the stacks it drives.
 */
#ifndef FASTNET_TESTS_TCP_SIM_H
#define FASTNET_TESTS_TCP_SIM_H

#include <string.h>

#include "tcp_xfer.h"

/* Shared settings, also printed in the table header (sim_settings_md). */
#define SIM_BUF_BYTES   (8u << 20) /* tcp_sndbuf = tcp_rcvbuf: 40 MiB/s at a 200 ms RTT */
#define SIM_REASS_SEGS  8192u      /* out-of-order segments held: a whole window */
#define SIM_POOL_BUFS   32768u     /* per stack: send chain + receive/reass + delay queue */
#define SIM_SEED        1u

struct sim_cell {
    uint32_t loss_ppm;          /* per frame, each direction (data and ACKs alike) */
    uint64_t delay_ns;          /* one-way, every frame, each direction */
    const char *cc;             /* congestion control of both ends */
    uint32_t bytes;             /* each way, both directions at once */
    uint64_t seed;
    uint64_t max_vtime_ns;      /* virtual-time cap of the cell */
    uint64_t max_wall_ms;       /* wall-time cap of the cell */
};

struct sim_result {
    int built;                  /* 0: the cc algorithm is not in this build; nothing ran */
    struct xfer_result x;
};

/* The algorithm named `name` (tcp/cc/ registry), or NULL if this build has none by that
 * name: such a cell is reported "not built". */
static inline const struct cc_algo *sim_cc_lookup(const char *name)
{
    return cc_algo_by_name(name);
}

/* Make `name` the congestion control of tp (fn_tcp_set_cc): 0, or -ENOENT.  The stack's
 * default is CUBIC, so the newreno cells need the call as much as the cubic ones. */
static inline int sim_select_cc(struct tcpcb *tp, const char *name)
{
    return fn_tcp_set_cc(tp, name);
}

static inline void sim_cfg_hook(struct fn_config *c, void *arg)
{
    struct fn_config d;

    (void)arg;
    /* TIME_WAIT at its default length (2·MSL, RFC 9293 §3.10.7.4) rather than the driver's
     * 1 s MSL: a 2 s TIME_WAIT ends before the backed-off retransmission of a FIN whose ACK
     * was lost, and that late FIN then draws a RST (found at 10 % loss, seeds 35 and 39). */
    fn_config_defaults(&d);
    c->tcp_msl_ms = d.tcp_msl_ms;
    c->n_bufs = SIM_POOL_BUFS;
    c->tcp_sndbuf = SIM_BUF_BYTES;
    c->tcp_rcvbuf = SIM_BUF_BYTES;
    c->tcp_reass_max_segs = SIM_REASS_SEGS;
    c->tcp_window_scaling = 1;
}

static inline void sim_conn_hook(struct tcpcb *tp, void *arg)
{
    const struct sim_cell *cell = arg;

    /* sim_run_cell checked that the algorithm exists. */
    (void)sim_select_cc(tp, cell->cc);
}

static inline void sim_run_cell(const struct sim_cell *cell, struct sim_result *r)
{
    struct impair im;
    struct xfer_hooks hk = {.cfg = sim_cfg_hook, .conn = sim_conn_hook, .arg = NULL};

    memset(r, 0, sizeof(*r));
    if (!sim_cc_lookup(cell->cc))
        return;
    r->built = 1;
    memset(&im, 0, sizeof(im));
    im.loss_ppm = cell->loss_ppm;
    im.delay_ns = cell->delay_ns;
    im.max_vtime_ns = cell->max_vtime_ns;
    im.max_wall_ms = cell->max_wall_ms;
    hk.arg = (void *)cell;
    run_transfer_ex(&im, cell->seed, cell->bytes, &hk, &r->x);
}

/* Frames the fault wrapper dropped per direction: A->B ones never reached A's link end;
 * B->A ones were taken off the link by A's wrapper but never delayed (every frame that
 * survives is delayed, so with a delay configured the difference is exactly the loss). */
static inline uint64_t sim_lost_ab(const struct xfer_result *x)
{
    return x->sa.eth_tx - x->la.tx_packets;
}

static inline uint64_t sim_lost_ba(const struct xfer_result *x)
{
    return x->la.rx_packets - x->la.fault_delayed;
}

/* Goodput in MiB per second of virtual time for `bytes` delivered after `ns`. */
static inline double sim_goodput(uint32_t bytes, uint64_t ns)
{
    return ns ? (double)bytes / (1024.0 * 1024.0) / ((double)ns / 1e9) : 0.0;
}

static inline const char *sim_status(const struct sim_result *r)
{
    if (!r->built)
        return "not built";
    return r->x.ok ? "ok" : r->x.why;
}

static inline void sim_settings_md(FILE *f, uint32_t bytes, uint64_t seed)
{
    fprintf(f,
            "Two fastnet stacks over the in-memory link (MTU 1500, MSS 1448 with timestamps),\n"
            "%u bytes each way, both directions at once, every byte checked. Loss is per\n"
            "frame and per direction (data and ACKs alike); the one-way delay applies to every\n"
            "frame in both directions, in virtual time. The link has no bandwidth limit, so\n"
            "goodput is what the windows and loss recovery allow per round trip.\n"
            "Settings: tcp_sndbuf = tcp_rcvbuf = %u with window scaling on: the BDP of\n"
            "40 MiB/s at the 200 ms RTT of the 100 ms cells, while a 10 MiB slow start ends near\n"
            "a 5 MiB window, so the buffers never limit a cell; tcp_reass_max_segs = %u (a\n"
            "whole window out of order), %u packet buffers per stack, other knobs at their\n"
            "defaults (initial window 10, RTO min 200 ms, delayed ACK 40 ms, MSL 30 s, SACK\n"
            "and timestamps on, the cc algorithm of the row on both sides), fault seed %llu.\n"
            "Goodput: MiB per second of virtual time from the SYN until the receiver had every\n"
            "byte. rexmt: segments retransmitted; RTO: retransmission-timer expiries (FIN\n"
            "retransmissions included); fast: fast retransmits; each as A (sender of A->B) /\n"
            "B (sender of B->A). virtual s: until both FINs were acknowledged (a side that\n"
            "closed late may have run out its TIME_WAIT by then). The .json file has more per\n"
            "cell, pairs as [A, B] or [A->B, B->A]: dupacks_rx, tcp_tx (segments sent),\n"
            "frames_lost (by the fault wrapper), link_drops (by the memory link itself: must be\n"
            "0), rcvd (bytes), state (TCPS_*: 10 TIME_WAIT, 9 FIN_WAIT_2, 0 CLOSED), late_rst\n"
            "(RSTs answering a segment that arrived after its connection closed cleanly, as RFC\n"
            "9293 requires; any other RST, sent or accepted, fails the cell).\n\n",
            bytes, SIM_BUF_BYTES, SIM_REASS_SEGS, SIM_POOL_BUFS, (unsigned long long)seed);
}

static inline void sim_row_md_header(FILE *f)
{
    fprintf(f, "| loss %% | delay ms | cc | result | MiB/s A->B | MiB/s B->A | rexmt A/B "
               "| RTO A/B | fast A/B | virtual s |\n"
               "|---:|---:|---|---|---:|---:|---:|---:|---:|---:|\n");
}

static inline void sim_row_md(FILE *f, const struct sim_cell *c, const struct sim_result *r)
{
    const struct xfer_result *x = &r->x;

    fprintf(f, "| %.1f | %.1f | %s | %s |", c->loss_ppm / 10000.0, c->delay_ns / 1e6, c->cc,
            sim_status(r));
    if (!r->built) {
        fprintf(f, " | | | | | |\n");
        return;
    }
    fprintf(f, " %.3f | %.3f | %llu / %llu | %llu / %llu | %llu / %llu | %.3f |\n",
            sim_goodput(c->bytes, x->done_ab_ns), sim_goodput(c->bytes, x->done_ba_ns),
            (unsigned long long)x->sa.tcp_rexmt_segs, (unsigned long long)x->sb.tcp_rexmt_segs,
            (unsigned long long)x->sa.tcp_rexmt_timeout,
            (unsigned long long)x->sb.tcp_rexmt_timeout,
            (unsigned long long)x->sa.tcp_fast_rexmt, (unsigned long long)x->sb.tcp_fast_rexmt,
            x->vtime_ms / 1000.0);
}

/* One JSON object (no trailing comma or newline). */
static inline void sim_row_json(FILE *f, const struct sim_cell *c, const struct sim_result *r)
{
    const struct xfer_result *x = &r->x;

    fprintf(f, "{\"loss_pct\": %.1f, \"delay_ms\": %.1f, \"cc\": \"%s\", \"bytes\": %u, "
               "\"seed\": %llu, \"built\": %s, \"ok\": %s, \"result\": \"%s\"",
            c->loss_ppm / 10000.0, c->delay_ns / 1e6, c->cc, c->bytes,
            (unsigned long long)c->seed, r->built ? "true" : "false",
            r->built && x->ok ? "true" : "false", sim_status(r));
    if (r->built)
        fprintf(f,
                ", \"goodput_ab_mibps\": %.3f, \"goodput_ba_mibps\": %.3f, "
                "\"done_ab_ms\": %.3f, \"done_ba_ms\": %.3f, \"virtual_ms\": %llu, "
                "\"rexmt_segs\": [%llu, %llu], \"rto\": [%llu, %llu], "
                "\"fast_rexmt\": [%llu, %llu], \"dupacks_rx\": [%llu, %llu], "
                "\"tcp_tx\": [%llu, %llu], \"frames_lost\": [%llu, %llu], "
                "\"link_drops\": [%llu, %llu], \"rcvd\": [%u, %u], \"state\": [%d, %d], "
                "\"late_rst\": %llu",
                sim_goodput(c->bytes, x->done_ab_ns), sim_goodput(c->bytes, x->done_ba_ns),
                x->done_ab_ns / 1e6, x->done_ba_ns / 1e6, (unsigned long long)x->vtime_ms,
                (unsigned long long)x->sa.tcp_rexmt_segs,
                (unsigned long long)x->sb.tcp_rexmt_segs,
                (unsigned long long)x->sa.tcp_rexmt_timeout,
                (unsigned long long)x->sb.tcp_rexmt_timeout,
                (unsigned long long)x->sa.tcp_fast_rexmt,
                (unsigned long long)x->sb.tcp_fast_rexmt,
                (unsigned long long)x->sa.tcp_rx_dupack, (unsigned long long)x->sb.tcp_rx_dupack,
                (unsigned long long)x->sa.tcp_tx, (unsigned long long)x->sb.tcp_tx,
                (unsigned long long)sim_lost_ab(x), (unsigned long long)sim_lost_ba(x),
                (unsigned long long)(x->la.tx_drops + x->la.rx_nobuf),
                (unsigned long long)(x->lb.tx_drops + x->lb.rx_nobuf), x->rcvd_a, x->rcvd_b,
                x->state_a, x->state_b, (unsigned long long)x->late_rst);
    fputc('}', f);
}

#endif
