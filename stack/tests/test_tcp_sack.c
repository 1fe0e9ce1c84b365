/*
 * test_tcp_sack.c — SACK (RFC 2018, RFC 2883, RFC 6675): SACK-permitted on both open
 * directions and only when both offer it; the receiver's blocks (latest first, at most 4, 3
 * next to timestamps, payload shrunk by the option); D-SACK for data below rcv_nxt, for data
 * already queued and for a partial overlap; the sender's scoreboard (merging, bad blocks
 * counted and ignored, D-SACK recognised, a full scoreboard forgets its highest range); loss
 * recovery entered by IsLost before three duplicates and paced by pipe (new data once no
 * lost hole is left); several holes in one window repaired without an RTO and faster than
 * NewReno, never resending SACKed data; an RTO clearing the scoreboard; a SACK storm with a
 * 48-byte MSS staying bounded; an end-to-end transfer under loss with fewer RTOs.
 */
#include "tcp_xfer.h"

#define M 1460u
#define SETUP(CFG, PEER) TT_SETUP(0x7ffffff0u, c.tcp_sack = 1; CFG, p.sackok = 1; PEER)

static uint8_t big[65536];

/* The peer's SACK option (after its timestamps when p->ts): n blocks, edges relative to
 * A's ISN like tt_inject's ack. */
static void sack_inject(struct peer *p, uint32_t rseq, uint32_t rack, const uint32_t (*b)[2],
                        uint32_t n, const void *data, uint32_t dlen)
{
    uint8_t o[40];
    uint32_t k = 0;

    if (p->ts) {
        o[k++] = 1;
        o[k++] = 1;
        o[k++] = 8;
        o[k++] = 10;
        put32(o + k, p->tsval);
        put32(o + k + 4, p->tsecr);
        k += 8;
    }
    o[k++] = 1;
    o[k++] = 1;
    o[k++] = 5;
    o[k++] = (uint8_t)(2 + 8 * n);
    for (uint32_t i = 0; i < n; i++) {
        put32(o + k, p->a_iss + b[i][0]);
        put32(o + k + 4, p->a_iss + b[i][1]);
        k += 8;
    }
    tt_inject_abs(p, p->iss + rseq, p->a_iss + rack, FN_TH_ACK, o, k, data, dlen);
}

/* The blocks of segment r relative to the peer's ISN (like RACK); returns how many. */
static uint32_t rblocks(const struct peer *p, const struct rseg *r, uint32_t (*b)[2])
{
    for (uint32_t i = 0; i < r->to.nsack; i++) {
        b[i][0] = r->to.sack[i][0] - p->iss;
        b[i][1] = r->to.sack[i][1] - p->iss;
    }
    return r->to.nsack;
}

/* ---- negotiation ---- */

FN_TEST(negotiation_passive_open)
{
    /* {our knob, the peer offers, SYN-ACK offers / connection uses SACK} */
    static const int cases[4][3] = {{1, 1, 1}, {1, 0, 0}, {0, 1, 0}, {0, 0, 0}};

    for (int i = 0; i < 4; i++) {
        SETUP(c.tcp_sack = cases[i][0], p.sackok = cases[i][1]);
        FN_CHECK_EQ(p.synack.sack_permitted, cases[i][2]);  /* only in answer to an offer */
        FN_CHECK_EQ((tp->t_flags & TF_SACK_PERMIT) != 0, cases[i][2]);
        TT_TEARDOWN();
    }
}

FN_TEST(negotiation_active_open)
{
    /* {our knob, the SYN-ACK offers, connection uses SACK} */
    static const int cases[3][3] = {{1, 1, 1}, {1, 0, 0}, {0, 1, 0}};

    for (int i = 0; i < 3; i++) {
        struct tnet t;
        struct fn_config c;
        struct tcpcb *tp;
        struct peer p;
        struct rseg r;
        uint8_t o[8] = {2, 4, P_MSS >> 8, P_MSS & 0xff, 1, 1, 4, 2};

        tt_cfg(&c);
        c.tcp_sack = cases[i][0];
        FN_CHECK_EQ(tt_open(&t, &c), 0);
        tt_peer_init(&p, &t, 5000);
        FN_CHECK_EQ(fn_tcp_connect(t.sa, IP_B, P_PORT, 0, &tp, t.now), 0);
        fn_stack_poll(t.sa, t.now);
        FN_CHECK_EQ(tt_read(&t, &r), 1);
        FN_CHECK_EQ(r.th.flags, FN_TH_SYN);
        FN_CHECK_EQ(r.to.sack_permitted, cases[i][0]);     /* RFC 2018 §2: on the SYN */
        p.aport = r.th.sport;
        p.a_iss = r.th.seq;
        tt_inject_abs(&p, p.iss, p.a_iss + 1, FN_TH_SYN | FN_TH_ACK, o, cases[i][1] ? 8 : 4,
                      NULL, 0);
        FN_CHECK_EQ(tt_read(&t, &r), 1);
        FN_CHECK_EQ(r.th.flags, FN_TH_ACK);
        FN_CHECK_EQ(fn_tcp_state(tp), TCPS_ESTABLISHED);
        FN_CHECK_EQ((tp->t_flags & TF_SACK_PERMIT) != 0, cases[i][2]);
        fn_tcp_abort(tp, t.now);
        FN_CHECK_EQ(fn_tcp_count(t.sa), 0);
        FN_CHECK_EQ(tnet_close(&t), 0);
    }
}

/* ---- receiver ---- */

/* The peer sends len bytes at rseq; A must answer at once with an ACK of ack carrying
 * exactly the n blocks want, in that order (relative to the peer's ISN).  The answer is left
 * in *r.  Returns 1 if it did, else says what differed. */
static int seg_acked(struct peer *p, struct rseg *r, uint32_t rseq, uint32_t len, uint32_t ack,
                     const uint32_t (*want)[2], uint32_t n)
{
    uint32_t b[4][2], got;

    tt_inject(p, rseq, 1, FN_TH_ACK, big, len);
    if (tt_read(p->t, r) != 1) {
        fprintf(stderr, "  seg %u: no ACK\n", rseq);
        return 0;
    }
    got = rblocks(p, r, b);
    if (RACK(p, r) != ack || got != n) {
        fprintf(stderr, "  seg %u: ack %u with %u blocks, want %u with %u\n", rseq, RACK(p, r),
                got, ack, n);
        return 0;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (b[i][0] != want[i][0] || b[i][1] != want[i][1]) {
            fprintf(stderr, "  seg %u: block %u is [%u, %u), want [%u, %u)\n", rseq, i, b[i][0],
                    b[i][1], want[i][0], want[i][1]);
            return 0;
        }
    }
    return 1;
}

#define BLKS(...) ((const uint32_t[][2]){__VA_ARGS__})

static void receiver_blocks(int *fn_test_failed, int ts)
{
    uint32_t b[4][2], max = ts ? 3 : 4;

    SETUP(c.tcp_timestamps = ts, p.ts = ts);
    FN_CHECK(seg_acked(&p, &r, 101, 100, 1, BLKS({101, 201}), 1));
    /* RFC 2018 §4: the block of the latest segment first. */
    FN_CHECK(seg_acked(&p, &r, 301, 100, 1, BLKS({301, 401}, {101, 201}), 2));
    FN_CHECK(seg_acked(&p, &r, 501, 100, 1, BLKS({501, 601}, {301, 401}, {101, 201}), 3));
    FN_CHECK(seg_acked(&p, &r, 701, 100, 1,
                       BLKS({701, 801}, {501, 601}, {301, 401}, {101, 201}), max));
    /* Five runs held: 4 blocks fit (3 next to timestamps), the latest first, then the
     * previously reported ones newest first. */
    FN_CHECK(seg_acked(&p, &r, 901, 100, 1,
                       BLKS({901, 1001}, {701, 801}, {501, 601}, {301, 401}), max));
    FN_CHECK_EQ(r.th.opts_len, ts ? 40 : 36);   /* within the 40 option bytes */
    /* A segment joining two runs: the merged run comes first. */
    FN_CHECK(seg_acked(&p, &r, 201, 100, 1,
                       BLKS({101, 401}, {901, 1001}, {701, 801}, {501, 601}), max));
    /* RFC 6691: A's own data segments give up payload for the option. */
    FN_CHECK_EQ(fn_tcp_send(tp, big, 3000, t.now), 3000);
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.payload_len, P_MSS - (ts ? 12 : 0) - (4 + 8 * max));
    FN_CHECK_EQ(rblocks(&p, &r, b), max);
    tnet_drain(&t);
    /* The hole at 1 filled: the ACK moves and the rest is still reported. */
    FN_CHECK(seg_acked(&p, &r, 1, 100, 401, BLKS({901, 1001}, {701, 801}, {501, 601}), 3));
    FN_CHECK(tnet_stats(t.sa).tcp_sack_tx >= 8);
    TT_TEARDOWN();
}

FN_TEST(receiver_blocks_order_and_limit)
{
    receiver_blocks(fn_test_failed, 0);
}

FN_TEST(receiver_blocks_with_timestamps)
{
    receiver_blocks(fn_test_failed, 1);
}

FN_TEST(receiver_no_blocks_without_sack)
{
    SETUP(c.tcp_sack = 0, (void)0);
    tt_inject(&p, 101, 1, FN_TH_ACK, big, 100);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(RACK(&p, &r), 1);
    FN_CHECK_EQ(r.to.nsack, 0);
    FN_CHECK_EQ(r.th.opts_len, 0);
    TT_TEARDOWN();
}

FN_TEST(dsack_generation)
{
    SETUP((void)0, (void)0);
    /* Below rcv_nxt: the whole duplicate is the first block (RFC 2883 §4.1.1). */
    tt_inject(&p, 1, 1, FN_TH_ACK, big, 100);
    tt_advance(&t, 200 * MS);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(RACK(&p, &r), 101);
    FN_CHECK_EQ(r.to.nsack, 0);
    FN_CHECK(seg_acked(&p, &r, 1, 100, 101, BLKS({1, 101}), 1));
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_dsack_tx, 1);
    /* Reported once. */
    FN_CHECK(seg_acked(&p, &r, 301, 100, 101, BLKS({301, 401}), 1));
    /* A duplicate of queued data: D-SACK, then the run holding it (RFC 2883 §4). */
    FN_CHECK(seg_acked(&p, &r, 301, 100, 101, BLKS({301, 401}, {301, 401}), 2));
    /* Partly old, partly new: the old part is the D-SACK block (RFC 2883 §4.1.3). */
    FN_CHECK(seg_acked(&p, &r, 51, 100, 151, BLKS({51, 101}, {301, 401}), 2));
    /* Overlapping the queue: the repeated part, then the grown run. */
    FN_CHECK(seg_acked(&p, &r, 351, 100, 151, BLKS({351, 401}, {301, 451}), 2));
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_dsack_tx, 4);
    FN_CHECK_EQ(tt_read(&t, &r), 0);
    TT_TEARDOWN();
}

/* ---- sender: the scoreboard ---- */

/* A sends 10 full segments (IW 10) with 20 queued; read them. */
#define SEND10()                                                                     \
    do {                                                                             \
        FN_CHECK_EQ(fn_tcp_send(tp, big, 20 * M, t.now), (int)(20 * M));            \
        fn_stack_poll(t.sa, t.now);                                                  \
        for (int i_ = 0; i_ < 10; i_++)                                              \
            FN_CHECK_EQ(tt_read(&t, &r), 1);                                         \
        FN_CHECK_EQ(tt_read(&t, &r), 0);                                             \
    } while (0)

/* Scoreboard range i, relative to A's ISN. */
#define CHECK_SB(i, s, e)                                                            \
    do {                                                                             \
        FN_CHECK_EQ(tp->snd_sack[i].start - p.a_iss, (s));                           \
        FN_CHECK_EQ(tp->snd_sack[i].end - p.a_iss, (e));                             \
    } while (0)

FN_TEST(scoreboard_update_and_validation)
{
    struct fn_stats s;

    SETUP((void)0, (void)0);
    SEND10();
    {
        /* One valid block; inverted, empty and beyond SND.MAX are ignored and counted. */
        const uint32_t b[4][2] = {{1 + M, 1 + 2 * M}, {1 + 3 * M, 1 + 2 * M},
                                  {1 + 3 * M, 1 + 3 * M}, {1 + 9 * M, 1 + 11 * M}};
        sack_inject(&p, 1, 1, b, 4, NULL, 0);
    }
    FN_CHECK_EQ(tp->snd_sack_n, 1);
    CHECK_SB(0, 1 + M, 1 + 2 * M);
    s = tnet_stats(t.sa);
    FN_CHECK_EQ(s.tcp_sack_bad_blocks, 3);
    FN_CHECK_EQ(s.tcp_sack_blocks_rx, 1);
    FN_CHECK_EQ(tp->t_dupacks, 1);              /* new SACK information: a duplicate */
    tnet_drain(&t);
    {
        /* Adjacent: merged. */
        const uint32_t b[1][2] = {{1 + 2 * M, 1 + 3 * M}};
        sack_inject(&p, 1, 1, b, 1, NULL, 0);
    }
    FN_CHECK_EQ(tp->snd_sack_n, 1);
    CHECK_SB(0, 1 + M, 1 + 3 * M);
    FN_CHECK_EQ(tp->t_dupacks, 2);
    tnet_drain(&t);
    {
        /* Old news is not a duplicate ACK (RFC 6675 §2). */
        const uint32_t b[1][2] = {{1 + M, 1 + 2 * M}};
        sack_inject(&p, 1, 1, b, 1, NULL, 0);
    }
    FN_CHECK_EQ(tp->t_dupacks, 2);
    FN_CHECK(!(tp->t_flags & TF_FASTRECOVERY));
    FN_CHECK_EQ(tt_read(&t, &r), 0);
    {
        /* The ACK moves to 1 + M; a first block below it is a D-SACK; a later block
         * below SND.UNA is bad; a new range above is kept. */
        const uint32_t b[3][2] = {{1, 1 + M}, {1 + 5 * M, 1 + 6 * M}, {1, 1 + M / 2}};
        sack_inject(&p, 1, 1 + M, b, 3, NULL, 0);
    }
    FN_CHECK_EQ(tp->snd_sack_n, 2);
    CHECK_SB(0, 1 + M, 1 + 3 * M);
    CHECK_SB(1, 1 + 5 * M, 1 + 6 * M);
    s = tnet_stats(t.sa);
    FN_CHECK_EQ(s.tcp_dsack_rx, 1);
    FN_CHECK_EQ(s.tcp_sack_bad_blocks, 4);
    tnet_drain(&t);
    {
        /* A D-SACK inside the second block (RFC 2883 §5); overlapping ranges merge. */
        const uint32_t b[2][2] = {{1 + 2 * M, 1 + 2 * M + 10}, {1 + 2 * M, 1 + 5 * M + 100}};
        sack_inject(&p, 1, 1 + M, b, 2, NULL, 0);
    }
    FN_CHECK_EQ(tp->snd_sack_n, 1);
    CHECK_SB(0, 1 + M, 1 + 6 * M);
    s = tnet_stats(t.sa);
    FN_CHECK_EQ(s.tcp_dsack_rx, 2);
    FN_CHECK_EQ(s.tcp_sack_blocks_rx, 5);
    /* A cumulative ACK into the range trims it. */
    tt_inject(&p, 1, 1 + 4 * M, FN_TH_ACK, NULL, 0);
    tnet_drain(&t);
    {
        const uint32_t b[1][2] = {{1 + 5 * M, 1 + 6 * M}};
        sack_inject(&p, 1, 1 + 4 * M, b, 1, NULL, 0);
    }
    FN_CHECK_EQ(tp->snd_sack_n, 1);
    CHECK_SB(0, 1 + 4 * M, 1 + 6 * M);
    TT_TEARDOWN();
}

FN_TEST(scoreboard_full_forgets_highest)
{
    uint32_t b[4][2];

    SETUP((void)0, (void)0);
    SEND10();
    /* 20 disjoint 100-byte ranges, 200 bytes apart, lowest first. */
    for (uint32_t k = 0; k < 20; k += 4) {
        for (uint32_t j = 0; j < 4; j++) {
            b[j][0] = 1 + 200 * (k + j) + 100;
            b[j][1] = b[j][0] + 100;
        }
        sack_inject(&p, 1, 1, (const uint32_t(*)[2])b, 4, NULL, 0);
        tnet_drain(&t);
        FN_CHECK(tp->snd_sack_n <= TCP_SACK_SB_MAX);
    }
    FN_CHECK_EQ(tp->snd_sack_n, TCP_SACK_SB_MAX);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_sack_sb_full, 4);      /* the 4 highest */
    CHECK_SB(TCP_SACK_SB_MAX - 1, 1 + 200 * 15 + 100, 1 + 200 * 15 + 200);
    /* A new lowest range pushes out the highest. */
    b[0][0] = 10;
    b[0][1] = 20;
    sack_inject(&p, 1, 1, (const uint32_t(*)[2])b, 1, NULL, 0);
    FN_CHECK_EQ(tp->snd_sack_n, TCP_SACK_SB_MAX);
    CHECK_SB(0, 10, 20);
    CHECK_SB(TCP_SACK_SB_MAX - 1, 1 + 200 * 14 + 100, 1 + 200 * 14 + 200);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_sack_sb_full, 5);
    tnet_drain(&t);
    TT_TEARDOWN();
}

FN_TEST(islost_enters_recovery_and_pipe_paces_it)
{
    /* NewReno's window cut (ssthresh = FlightSize / 2), so that the pipe arithmetic below
     * is in whole segments; CUBIC's β = 0.7 is tested in test_tcp_cubic.c. */
    SETUP(c.tcp_cc = FN_CC_NEWRENO, (void)0);
    SEND10();
    tt_inject(&p, 1, 1 + M, FN_TH_ACK, NULL, 0);
    FN_CHECK_EQ(tnet_drain(&t), 2);             /* slow start: segments 10 and 11 */
    {
        /* One ACK, one duplicate, but 3 SMSS SACKed above snd_una: IsLost(HighACK + 1)
         * starts recovery at once (RFC 6675 §5 step 3a), resending only that hole. */
        const uint32_t b[1][2] = {{1 + 2 * M, 1 + 5 * M}};
        sack_inject(&p, 1, 1 + M, b, 1, NULL, 0);
    }
    FN_CHECK_EQ(tp->t_dupacks, 1);
    FN_CHECK(tp->t_flags & TF_FASTRECOVERY);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_sack_recovery, 1);
    FN_CHECK_EQ(tp->snd_recover - p.a_iss, 1 + 12 * M);     /* RecoveryPoint = HighData */
    FN_CHECK_EQ(tp->snd_ssthresh, 11 * M / 2);              /* FlightSize / 2 */
    FN_CHECK_EQ(tp->snd_cwnd, tp->snd_ssthresh);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(RSEQ(&p, &r), 1 + M);
    FN_CHECK_EQ(r.th.payload_len, M);
    /* pipe = the resent hole + 7 SMSS above the SACKed range = 8 SMSS > cwnd. */
    FN_CHECK_EQ(tt_read(&t, &r), 0);
    {
        /* 3 more SACKed: pipe 5 SMSS, still less than one SMSS of room. */
        const uint32_t b[1][2] = {{1 + 2 * M, 1 + 8 * M}};
        sack_inject(&p, 1, 1 + M, b, 1, NULL, 0);
    }
    FN_CHECK_EQ(tt_read(&t, &r), 0);
    {
        /* pipe 4 SMSS: room for one segment, and no lost hole is left unsent — new data
         * (NextSeg rule 2), not a retransmission. */
        const uint32_t b[1][2] = {{1 + 2 * M, 1 + 9 * M}};
        sack_inject(&p, 1, 1 + M, b, 1, NULL, 0);
    }
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(RSEQ(&p, &r), 1 + 12 * M);
    FN_CHECK_EQ(tt_read(&t, &r), 0);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_rexmt_segs, 1);
    /* A cumulative ACK beyond RecoveryPoint ends recovery (RFC 6675 §5 (A)). */
    tt_inject(&p, 1, 1 + 13 * M, FN_TH_ACK, NULL, 0);
    FN_CHECK(!(tp->t_flags & TF_FASTRECOVERY));
    FN_CHECK_EQ(tp->snd_sack_n, 0);
    tnet_drain(&t);
    TT_TEARDOWN();
}

/* ---- sender: loss recovery, against a model receiver ---- */

/* The peer as a receiver of A's data (bytes 1 .. XMAX relative), dropping the first
 * transmission of the segments starting at the given offsets, acknowledging each segment
 * with SACK blocks (latest first) when sack is on. */
#define XMAX (24 * M)
struct model {
    uint8_t got[XMAX + 1];
    uint8_t sent[XMAX + 1];     /* transmissions seen per segment start */
    const uint32_t *lose;
    int nlose, sack;
    uint32_t dup_rx;            /* segments that brought nothing new (resent SACKed data) */
};

static uint32_t model_cum(const struct model *m)
{
    uint32_t a = 1;
    while (a <= XMAX && m->got[a])
        a++;
    return a;
}

static void model_ack(struct peer *p, const struct model *m, uint32_t last)
{
    uint32_t b[4][2], n = 0, cum = model_cum(m), s;

    if (m->sack) {
        /* The run holding the latest segment first, then the others lowest first. */
        for (int pass = 0; pass < 2; pass++) {
            for (uint32_t x = cum; x <= XMAX && n < 4; x++) {
                if (!m->got[x] || (x > cum && m->got[x - 1]))
                    continue;
                for (s = x; s <= XMAX && m->got[s]; s++)
                    ;
                if ((pass == 0) != (last >= x && last < s))
                    continue;
                b[n][0] = x;
                b[n++][1] = s;
            }
        }
    }
    if (n)
        sack_inject(p, 1, cum, (const uint32_t(*)[2])b, n, NULL, 0);
    else
        tt_inject(p, 1, cum, FN_TH_ACK, NULL, 0);
}

/* Deliver what A sent (one round trip) and ACK each segment; returns segments delivered. */
static int model_round(struct tnet *t, struct peer *p, struct model *m)
{
    struct rseg segs[64], r;
    int n = 0, d = 0;

    while (n < 64 && tt_read(t, &r) == 1)
        segs[n++] = r;
    for (int i = 0; i < n; i++) {
        uint32_t s = RSEQ(p, &segs[i]), len = segs[i].th.payload_len, fresh = 0;
        int lost = 0;

        if (len == 0 || s + len > XMAX + 1)
            continue;
        for (int k = 0; k < m->nlose; k++)
            lost |= m->lose[k] == s && m->sent[s] == 0;
        m->sent[s]++;
        if (lost)
            continue;
        for (uint32_t x = s; x < s + len; x++) {
            fresh |= !m->got[x];
            m->got[x] = 1;
        }
        if (!fresh)
            m->dup_rx++;
        model_ack(p, m, s);
        d++;
    }
    return d;
}

struct recov {
    int rounds;                 /* round trips until everything was acknowledged */
    int repaired;               /* the round trip in answer to which the last hole was resent */
    struct fn_stats st;
};

static void run_recovery(int *fn_test_failed, int sack, const uint32_t *lose, int nlose,
                         struct recov *out)
{
    static struct model m;

    SETUP(c.tcp_sack = sack, p.sackok = sack);
    memset(&m, 0, sizeof(m));
    m.lose = lose;
    m.nlose = nlose;
    m.sack = sack;
    FN_CHECK_EQ(fn_tcp_send(tp, big, XMAX, t.now), (int)XMAX);
    fn_stack_poll(t.sa, t.now);
    out->rounds = out->repaired = 0;
    while (model_cum(&m) <= XMAX && out->rounds < 40) {
        int d = model_round(&t, &p, &m);

        out->rounds++;
        if (!out->repaired && tnet_stats(t.sa).tcp_rexmt_segs >= (uint64_t)nlose)
            out->repaired = out->rounds;
        if (d == 0)
            tt_advance(&t, tp->t_rxtcur);       /* stalled: let the RTO fire */
    }
    FN_CHECK(model_cum(&m) == XMAX + 1);
    FN_CHECK(!(tp->t_flags & TF_FASTRECOVERY));
    FN_CHECK_EQ(m.dup_rx, 0);                   /* nothing the peer held was sent again */
    out->st = tnet_stats(t.sa);
    tnet_drain(&t);
    TT_TEARDOWN();
}

FN_TEST(several_losses_one_window_sack_vs_newreno)
{
    static const uint32_t lose[4] = {1 + M, 1 + 3 * M, 1 + 5 * M, 1 + 7 * M};
    struct recov s, n;

    run_recovery(fn_test_failed, 1, lose, 4, &s);
    if (*fn_test_failed)
        return;
    run_recovery(fn_test_failed, 0, lose, 4, &n);
    if (*fn_test_failed)
        return;
    printf("  4 losses in one window: all resent after %d round trips with SACK, %d with "
           "NewReno; all acknowledged after %d vs %d\n", s.repaired, n.repaired, s.rounds,
           n.rounds);
    /* SACK: one recovery, each hole resent exactly once, no RTO. */
    FN_CHECK_EQ(s.st.tcp_sack_recovery, 1);
    FN_CHECK_EQ(s.st.tcp_rexmt_segs, 4);
    FN_CHECK_EQ(s.st.tcp_sack_rexmt, 4);
    FN_CHECK_EQ(s.st.tcp_rexmt_timeout, 0);
    /* NewReno learns one hole per round trip (RFC 6582 partial ACKs): the 4th hole is
     * resent in answer to the 4th round; SACK knows them all from the first ACKs and is
     * limited only by pipe. */
    FN_CHECK_EQ(n.repaired, 4);
    FN_CHECK_EQ(n.st.tcp_rexmt_segs, 4);
    FN_CHECK(s.repaired <= 2);
    FN_CHECK(s.rounds < n.rounds);
    FN_CHECK_EQ(n.st.tcp_sack_recovery, 0);
}

FN_TEST(rto_clears_scoreboard)
{
    SETUP((void)0, (void)0);
    SEND10();
    {
        const uint32_t b[2][2] = {{1 + 2 * M, 1 + 4 * M}, {1 + 6 * M, 1 + 7 * M}};
        sack_inject(&p, 1, 1 + M, b, 2, NULL, 0);
    }
    FN_CHECK_EQ(tp->snd_sack_n, 2);
    tnet_drain(&t);
    tt_advance(&t, tp->t_rxtcur);
    /* RFC 6675 §5.1 / RFC 2018 §8: the receiver may have reneged — forget it all and go
     * back to snd_una. */
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_rexmt_timeout, 1);
    FN_CHECK_EQ(tp->snd_sack_n, 0);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(RSEQ(&p, &r), 1 + M);
    FN_CHECK_EQ(tt_read(&t, &r), 0);
    /* SACK information after the RTO is used again: the go-back-N skips it. */
    {
        const uint32_t b[1][2] = {{1 + 3 * M, 1 + 5 * M}};
        sack_inject(&p, 1, 1 + 2 * M, b, 1, NULL, 0);
    }
    FN_CHECK_EQ(tp->snd_sack_n, 1);
    FN_CHECK_EQ(tt_read(&t, &r), 1);            /* slow start: cwnd 2 SMSS, and */
    FN_CHECK_EQ(RSEQ(&p, &r), 1 + 2 * M);       /* the SACKed bytes count as in flight */
    FN_CHECK_EQ(tt_read(&t, &r), 0);
    tt_inject(&p, 1, 1 + 3 * M, FN_TH_ACK, NULL, 0);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(RSEQ(&p, &r), 1 + 5 * M);       /* 3M..5M were SACKed: not resent */
    tnet_drain(&t);
    TT_TEARDOWN();
}

/* tcp_sack_skip moves snd_nxt over SACKed data without sending anything when cwnd allows
 * nothing past it.  Does that leave a hole nobody sends?  A peer that keeps every segment
 * it got (none reneged) and answers each flight with its cumulative ACK and SACK blocks:
 * after the RTO's go-back-N every hole goes out exactly once, no SACKed segment is sent
 * again, and the transfer completes with no second RTO — the clock never moves. */
FN_TEST(go_back_n_skip_leaves_no_hole)
{
    uint32_t held[20] = {0}, sent[20] = {0}, ack = 1, rounds = 0;

    SETUP(c.tcp_cc = FN_CC_NEWRENO, (void)0);
    SEND10();
    held[2] = held[3] = held[5] = held[8] = 1;     /* of the first flight only these came */
    tt_advance(&t, tp->t_rxtcur);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_rexmt_timeout, 1);
    while (ack < 1 + 20 * M && rounds++ < 64) {
        uint32_t b[4][2], nb = 0, k = 0, any = 0;

        while (tt_read(&t, &r) == 1) {
            uint32_t i = (RSEQ(&p, &r) - 1) / M;

            if (r.th.payload_len == 0)
                continue;
            FN_CHECK_EQ(RSEQ(&p, &r), 1 + i * M);
            FN_CHECK_EQ(r.th.payload_len, M);
            FN_CHECK(i < 20);
            FN_CHECK(!held[i]);                     /* SACKed data is never sent again */
            held[i] = 1;
            sent[i]++;
            any = 1;
        }
        FN_CHECK(any);                              /* A never waits for a timer */
        while (k < 20 && held[k])
            k++;
        ack = 1 + k * M;
        /* Blocks above the ACK, lowest first (their order is the receiver's concern). */
        for (uint32_t i = k; i < 20 && nb < 4; i++) {
            if (held[i] && (i == k || !held[i - 1])) {
                b[nb][0] = 1 + i * M;
                nb++;
            }
            if (held[i] && (i == 19 || !held[i + 1]))
                b[nb - 1][1] = 1 + (i + 1) * M;
        }
        if (nb)
            sack_inject(&p, 1, ack, (const uint32_t(*)[2])b, nb, NULL, 0);
        else
            tt_inject(&p, 1, ack, FN_TH_ACK, NULL, 0);
        if (rounds == 1) {
            /* Only the first hole went (cwnd 2 SMSS): snd_nxt is past the SACKed segments
             * 2 and 3 with nothing sent there, at the next hole. */
            FN_CHECK_EQ(tp->snd_nxt - p.a_iss, 1 + 4 * M);
        }
    }
    FN_CHECK_EQ(ack, 1 + 20 * M);
    for (uint32_t i = 0; i < 20; i++)
        FN_CHECK_EQ(sent[i], (i == 2 || i == 3 || i == 5 || i == 8) ? 0u : 1u);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_rexmt_timeout, 1);
    FN_CHECK_EQ(tp->snd_una, tp->snd_max);
    TT_TEARDOWN();
}

/* ---- adversarial SACK ---- */

/* Found by fuzz_stack (corpus/fuzz_stack/crash-persist-open-window-sacked-una): a peer SACKs
 * the data at snd_una without acknowledging it, then shuts its window and opens it again.
 * The go-back-N skips the SACKed bytes, cwnd (they count as in flight) allows nothing, so
 * the window update sends nothing and the connection stayed in persist mode with data in
 * flight and no retransmission timer — firing forever every rto_max, never retransmitting
 * and never giving up.  The retransmission timer must take over (tcp_persist.c contract:
 * persisting is only for a shut window, or an SWS hold with nothing in flight). */
FN_TEST(window_reopened_with_sacked_una_retransmits)
{
    SETUP((void)0, (void)0);
    SEND10();
    tt_advance(&t, tp->t_rxtcur);           /* RTO: cwnd 1 SMSS, segment 1 again */
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(RSEQ(&p, &r), 1);
    {
        const uint32_t b[1][2] = {{1 + M, 1 + 6 * M}};
        p.win = 0;
        sack_inject(&p, 1, 1 + M, b, 1, NULL, 0);
        FN_CHECK(tp->t_timer[TT_PERSIST] != 0);     /* a shut window: persisting */
        p.win = 65535;
        sack_inject(&p, 1, 1 + M, b, 1, NULL, 0);
    }
    tnet_drain(&t);
    /* The window is open and nothing can be sent: the retransmission timer watches the data
     * in flight, and its expiry resends from snd_una. */
    FN_CHECK(tp->t_timer[TT_REXMT] != 0);
    FN_CHECK_EQ(tp->t_timer[TT_PERSIST], 0);
    tt_advance(&t, tp->t_timer[TT_REXMT] - t.now);
    FN_CHECK_EQ(tnet_stats(t.sa).tcp_rexmt_timeout, 2);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(RSEQ(&p, &r), 1 + M);
    FN_CHECK(r.th.payload_len > 0);
    tnet_drain(&t);
    TT_TEARDOWN();
}

FN_TEST(min_mss_floor)
{
    struct fn_pool *pl;
    struct fn_backend *a, *b;
    struct fn_stack *st;
    struct fn_config c;

    FN_CHECK_EQ(fn_pool_create(64, 2048, 0, &pl), 0);
    FN_CHECK_EQ(fn_backend_memory_pair(pl, pl, 1500, MAC_A, MAC_B, &a, &b), 0);
    tt_cfg(&c);
    c.tcp_min_mss = 47;                         /* below the 48-byte floor: refused */
    FN_CHECK_EQ(fn_stack_create(&c, pl, a, &st), -EINVAL);
    fn_backend_close(a);
    fn_backend_close(b);
    FN_CHECK_EQ(fn_pool_destroy(pl), 0);
}

FN_TEST(sack_storm_tiny_mss_stays_bounded)
{
    uint64_t rng = 12345;
    uint32_t b[4][2], total = 0, smax;
    struct fn_stats s;

    SETUP(c.tcp_min_mss = 48; c.tcp_initcwnd_segs = 1000, p.mss = 20);
    /* The peer's MSS option of 20 was raised to the floor. */
    FN_CHECK_EQ(tp->t_maxseg, 48);
    FN_CHECK_EQ(fn_tcp_send(tp, big, 16000, t.now), 16000);
    fn_stack_poll(t.sa, t.now);
    FN_CHECK(tnet_drain(&t) > 300);
    smax = tp->snd_max - p.a_iss;
    for (int a = 0; a < 5000; a++) {
        uint32_t n = 1 + (uint32_t)(rng >> 60) % 4, una = tp->snd_una - p.a_iss;
        for (uint32_t j = 0; j < n; j++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            /* Tiny blocks anywhere from a bit below SND.UNA to a bit above SND.MAX, now and
             * then inverted. */
            b[j][0] = una - 100 + (uint32_t)(rng >> 33) % (smax - una + 200);
            b[j][1] = b[j][0] + 1 + (uint32_t)(rng >> 20) % 47;
            if ((rng >> 8) % 16 == 0)
                b[j][1] = b[j][0] - 5;
        }
        total += n;
        sack_inject(&p, 1, una + (a % 500 == 499 ? 48 : 0), (const uint32_t(*)[2])b, n,
                    NULL, 0);
        tnet_drain(&t);
        FN_CHECK(tp->snd_sack_n <= TCP_SACK_SB_MAX);
        for (uint32_t i = 0; i < tp->snd_sack_n; i++) {
            FN_CHECK(SEQ_LT(tp->snd_sack[i].start, tp->snd_sack[i].end));
            FN_CHECK(SEQ_LEQ(tp->snd_sack[i].end, tp->snd_max));
            if (i > 0)
                FN_CHECK(SEQ_LT(tp->snd_sack[i - 1].end, tp->snd_sack[i].start));
        }
        FN_CHECK(pool_in_use(t.pa) < 64);       /* nothing piles up */
    }
    s = tnet_stats(t.sa);
    FN_CHECK_EQ(s.tcp_sack_blocks_rx + s.tcp_sack_bad_blocks + s.tcp_dsack_rx, total);
    FN_CHECK(s.tcp_sack_bad_blocks > 0);
    FN_CHECK(s.tcp_sack_sb_full > 0);
    FN_CHECK_EQ(fn_tcp_state(tp), TCPS_ESTABLISHED);
    /* The connection survives: everything acknowledged, the scoreboard empties. */
    for (int i = 0; i < 100 && tp->snd_cc > 0; i++) {
        tt_inject(&p, 1, tp->snd_max - p.a_iss, FN_TH_ACK, NULL, 0);
        tnet_drain(&t);
    }
    FN_CHECK_EQ(tp->snd_cc, 0);
    FN_CHECK_EQ(tp->snd_una, tp->snd_max);
    FN_CHECK_EQ(tp->snd_sack_n, 0);
    FN_CHECK_EQ(fn_tcp_send(tp, big, 10, t.now), 10);
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(r.th.payload_len, 10);
    TT_TEARDOWN();
}

/* ---- end to end ---- */

static void cfg_sack(struct fn_config *c, void *arg)
{
    c->tcp_sack = *(const int *)arg;
}

FN_TEST(transfer_under_loss_sack_fewer_rtos)
{
    /* 20 ms RTT, 2 % loss and 2 % reordering each way, 1 MiB each way, 20 seeds. */
    struct impair im = {.loss_ppm = 20000, .reorder_ppm = 20000, .delay_ns = 10 * MS};
    uint64_t rto[2] = {0, 0}, vt[2] = {0, 0};

    for (int sack = 1; sack >= 0; sack--) {
        for (uint64_t seed = 1; seed <= 20; seed++) {
            struct xfer_hooks hk = {.cfg = cfg_sack, .arg = &sack};
            struct xfer_result res;

            run_transfer_ex(&im, seed, 1u << 20, &hk, &res);
            if (sack) {
                if (!res.ok)
                    fprintf(stderr, "  seed %llu: %s\n", (unsigned long long)seed, res.why);
                FN_CHECK(res.ok);
                FN_CHECK(res.sa.tcp_sack_recovery > 0 && res.sb.tcp_sack_recovery > 0);
                FN_CHECK(res.sa.tcp_sack_blocks_rx > 0 && res.sb.tcp_sack_tx > 0);
            } else {
                FN_CHECK_EQ(res.sa.tcp_sack_tx + res.sb.tcp_sack_tx, 0);
            }
            rto[sack] += res.sa.tcp_rexmt_timeout + res.sb.tcp_rexmt_timeout;
            vt[sack] += res.vtime_ms;
        }
    }
    printf("  20 transfers, 20 ms RTT, 2%% loss: RTOs %llu with SACK, %llu without; "
           "virtual %llu ms vs %llu ms\n", (unsigned long long)rto[1],
           (unsigned long long)rto[0], (unsigned long long)vt[1], (unsigned long long)vt[0]);
    FN_CHECK(rto[1] < rto[0]);
}

FN_TEST_MAIN()
