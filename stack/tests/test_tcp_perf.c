/*
 * test_tcp_perf.c — the data-path shortcuts of issue 3 keep behaviour identical: the send
 * chain's segmenting cache survives ACKs (and every byte sent, new or retransmitted, is the
 * right one), the timer heap's shortcuts keep every deadline exact, and window updates after
 * reads go out only when the peer could be held back by the window it was offered.
 */
#include "tcp_harness.h"

#define SETUP(...) TT_SETUP(5000, __VA_ARGS__, (void)0)
#define TEARDOWN() TT_TEARDOWN()

static uint8_t sbyte(uint32_t i)
{
    return (uint8_t)(i * 13 + (i >> 9) + 1);
}

/* Queue stream bytes [off, off + n) for sending. */
static int queue(struct tcpcb *tp, uint32_t off, uint32_t n, uint64_t now)
{
    uint8_t b[4096];
    uint32_t done = 0;

    while (done < n) {
        uint32_t k = n - done < sizeof(b) ? n - done : (uint32_t)sizeof(b);
        for (uint32_t i = 0; i < k; i++)
            b[i] = sbyte(off + done + i);
        if (fn_tcp_send(tp, b, k, now) != (int)k)
            return 0;
        done += k;
    }
    return 1;
}

/* Read every segment A sent; each payload must be the stream bytes at its sequence number.
 * Returns the segments read, or -1 on a wrong byte; *end is the relative end of the last. */
static int read_checked(struct tnet *t, struct peer *p, uint32_t *end)
{
    struct rseg r;
    int n = 0;

    while (tt_read(t, &r) == 1) {
        uint32_t off = RSEQ(p, &r) - 1;
        for (uint32_t i = 0; i < r.th.payload_len; i++)
            if (r.th.payload[i] != sbyte(off + i))
                return -1;
        if (r.th.payload_len)
            *end = off + 1 + r.th.payload_len;
        n++;
    }
    return n;
}

/* The cache, when set, names a pkt of the send chain at the stream offset it records. */
static int cache_consistent(const struct tcpcb *tp)
{
    uint32_t off = 0;

    if (!tp->snd_cache)
        return tp->snd_cache_off == 0;
    for (const struct fn_pkt *q = tp->snd_head; q; q = q->next) {
        if (q == tp->snd_cache)
            return off == tp->snd_cache_off;
        off += q->len;
    }
    return 0;
}

FN_TEST(send_cache_survives_acks_and_bytes_stay_right)
{
    uint32_t end = 0;

    SETUP((void)0);
    FN_CHECK(queue(tp, 0, 40000, t.now));
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(read_checked(&t, &p, &end), 10);        /* initial window: 10 segments */
    FN_CHECK_EQ(end, 1 + 10 * 1460);
    FN_CHECK(tp->snd_cache != NULL);
    /* An ACK in the middle of the first pkt: the cache is kept, 700 bytes nearer the head. */
    tt_inject(&p, 1, 1 + 700, FN_TH_ACK, NULL, 0);
    FN_CHECK(tp->snd_cache != NULL);
    FN_CHECK(cache_consistent(tp));
    FN_CHECK(read_checked(&t, &p, &end) >= 0);
    /* ACKs that free whole pkts, and ones that end mid-pkt: every new segment is right. */
    for (uint32_t ack = 1 + 2 * 1460; SEQ_LT(ack, end); ack += 2 * 1460 + 333) {
        tt_inject(&p, 1, ack, FN_TH_ACK, NULL, 0);
        FN_CHECK(cache_consistent(tp));
        FN_CHECK(tp->snd_cache != NULL);
        FN_CHECK(read_checked(&t, &p, &end) >= 0);
    }
    /* A retransmission timeout resends from SND.UNA, behind the cache: still the right
     * bytes. */
    tt_advance(&t, 1100 * MS);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(RSEQ(&p, &r), tp->snd_una - p.a_iss);
    FN_CHECK(r.th.payload_len > 0);
    for (uint32_t i = 0; i < r.th.payload_len; i++)
        FN_CHECK_EQ(r.th.payload[i], sbyte(RSEQ(&p, &r) - 1 + i));
    FN_CHECK(cache_consistent(tp));
    /* Acknowledge whatever was sent until all 40000 bytes are: the bytes stay right to the
     * end, and the empty chain leaves no cache behind. */
    for (int guard = 0; guard < 100 && tp->snd_una != p.a_iss + 1 + 40000; guard++) {
        tt_inject(&p, 1, tp->snd_max - p.a_iss, FN_TH_ACK, NULL, 0);
        FN_CHECK(cache_consistent(tp));
        FN_CHECK(read_checked(&t, &p, &end) >= 0);
    }
    FN_CHECK_EQ(tp->snd_una - p.a_iss, 1 + 40000);
    FN_CHECK(tp->snd_head == NULL && tp->snd_cache == NULL);
    TEARDOWN();
}

/* Every tcpcb's heap key is the earliest of its timers, the heap holds exactly the tcpcbs
 * with a timer armed, in heap order, and the stack's next deadline is the earliest of all. */
static int heap_exact(const struct fn_stack *st, struct tcpcb **tps, int n)
{
    const struct fn_tcp *tcp = st->tcp;
    uint64_t all = UINT64_MAX;
    uint32_t inheap = 0;

    for (int i = 0; i < n; i++) {
        uint64_t m = 0;
        for (int k = 0; k < TT_NTIMERS; k++)
            if (tps[i]->t_timer[k] && (m == 0 || tps[i]->t_timer[k] < m))
                m = tps[i]->t_timer[k];
        if (tps[i]->t_due != m || (m != 0) != (tps[i]->t_heapidx >= 0))
            return 0;
        if (m) {
            inheap++;
            if (tcp->heap[tps[i]->t_heapidx] != tps[i])
                return 0;
            if (m < all)
                all = m;
        }
    }
    if (inheap != tcp->nheap)
        return 0;
    for (uint32_t i = 1; i < tcp->nheap; i++)
        if (tcp->heap[(i - 1) / 2]->t_due > tcp->heap[i]->t_due)
            return 0;
    return fn_tcp_next_deadline(st) == all;
}

FN_TEST(timer_shortcuts_keep_every_deadline_exact)
{
    struct tnet t;
    struct fn_config c;
    struct tcpcb *tps[12];
    uint64_t rng = 12345;

    tt_cfg(&c);
    FN_CHECK_EQ(tt_open(&t, &c), 0);
    for (int i = 0; i < 12; i++) {
        tps[i] = tcp_alloc(t.sa->tcp);
        FN_CHECK(tps[i] != NULL);
    }
    /* Random arms (earlier, later, equal deadlines, several per tcpcb) and stops, with
     * deadlines from a small range so that ties between timers and tcpcbs are common. */
    for (int step = 0; step < 20000; step++) {
        struct tcpcb *tp;
        int which;
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        tp = tps[(rng >> 33) % 12];
        which = (int)((rng >> 40) % TT_NTIMERS);
        switch ((rng >> 50) % 5) {
        case 0:
            tcp_timer_stop(tp, which);
            break;
        case 1:
            if ((rng >> 20) % 64 == 0)
                tcp_timers_stop_all(tp);
            else
                tcp_timer_arm(tp, which, tp->t_timer[which]);
            break;
        default:
            tcp_timer_arm(tp, which, 1 + (rng >> 24) % 50);
            break;
        }
        FN_CHECK(heap_exact(t.sa, tps, 12));
    }
    for (int i = 0; i < 12; i++)
        tcp_free(tps[i]);
    FN_CHECK_EQ(fn_tcp_next_deadline(t.sa), UINT64_MAX);
    FN_CHECK_EQ(fn_tcp_count(t.sa), 0);
    FN_CHECK_EQ(tnet_close(&t), 0);
}

/* The peer sends n full-size segments from stream offset *off (nobody reads here); A's ACKs,
 * the delayed one included, are consumed. */
static void peer_segments(struct tnet *t, struct peer *p, uint32_t *off, uint32_t n)
{
    uint8_t b[1460];

    memset(b, 0x5a, sizeof(b));
    for (uint32_t i = 0; i < n; i++, *off += sizeof(b))
        tt_inject(p, 1 + *off, 1, FN_TH_ACK, b, sizeof(b));
    tt_advance(t, 500 * MS);
    tnet_drain(t);
}

FN_TEST(window_update_on_read_only_when_the_edge_could_limit_the_peer)
{
    uint8_t b[65536];
    uint32_t off = 0, edge;

    SETUP(c.tcp_rcvbuf = 65536);
    FN_CHECK_EQ(tp->rcv_wscale, 0);
    /* 4 segments read at once: the edge could move by 4 segments, but the peer may still
     * send 59695 bytes, more than half of the 65535 it can be offered — no update. */
    peer_segments(&t, &p, &off, 4);
    edge = tp->rcv_adv;
    FN_CHECK_EQ(fn_tcp_recv(tp, b, sizeof(b), t.now), 4 * 1460);
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(tt_read(&t, &r), 0);
    FN_CHECK_EQ(tp->rcv_adv, edge);
    /* The peer's next data is ACKed with the edge moved (the window rides on those ACKs). */
    tt_inject(&p, 1 + off, 1, FN_TH_ACK, b, 1460);
    tt_inject(&p, 1 + off + 1460, 1, FN_TH_ACK, b, 1460);
    off += 2 * 1460;
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(RACK(&p, &r), 1 + off);
    FN_CHECK(RACK(&p, &r) + r.th.win > edge - p.iss);
    FN_CHECK_EQ(fn_tcp_recv(tp, b, sizeof(b), t.now), 2 * 1460);
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(tt_read(&t, &r), 0);
    /* 24 segments unread: what the peer may still send is below half the window, so the
     * read that frees them is announced at once, with the whole window. */
    peer_segments(&t, &p, &off, 24);
    FN_CHECK(tp->rcv_adv - tp->rcv_nxt <= 65535 / 2);
    FN_CHECK_EQ(fn_tcp_recv(tp, b, sizeof(b), t.now), 24 * 1460);
    fn_stack_poll(t.sa, t.now);
    FN_CHECK_EQ(tt_read(&t, &r), 1);
    FN_CHECK_EQ(RACK(&p, &r), 1 + off);
    FN_CHECK_EQ(r.th.win, 65535);
    FN_CHECK_EQ(r.th.payload_len, 0);
    FN_CHECK_EQ(tt_read(&t, &r), 0);
    TEARDOWN();
}

/* The next frame A sent into f (up to 2048 bytes): its length, 0 if none. */
static uint32_t next_frame(struct tnet *t, uint8_t *f)
{
    return tnet_read(t, f, 2048);
}

/* A TCP segment in frame f (len bytes) as fn_ip_output builds it: to `mac`, from A, IPv4
 * without options, TOS 0, DF, TTL 64, TCP, A to B, length and header checksum right. */
static int ip_frame_ok(const uint8_t *f, uint32_t len, const uint8_t *mac, uint16_t *id)
{
    struct fn_ipv4_info ip;

    if (len < FN_ETH_HLEN + FN_IPV4_HLEN || memcmp(f, mac, 6) != 0 ||
        memcmp(f + 6, MAC_A, 6) != 0 || rd16(f + 12) != FN_ETHERTYPE_IPV4)
        return 0;
    if (fn_ipv4_parse(f + FN_ETH_HLEN, len - FN_ETH_HLEN, 1, &ip) != FN_WIRE_OK)
        return 0;               /* a bad header checksum fails here */
    *id = ip.id;
    return f[FN_ETH_HLEN] == 0x45 && ip.tos == 0 && ip.df && !ip.mf && ip.frag_off == 0 &&
           ip.ttl == 64 && ip.proto == FN_IPPROTO_TCP && ip.src == IP_A && ip.dst == IP_B &&
           ip.total_len == len - FN_ETH_HLEN;
}

FN_TEST(prebuilt_header_gives_the_same_frames_and_follows_arp)
{
    static const uint8_t mac_new[6] = {0x02, 0x00, 0x5e, 0x00, 0x00, 0x0c};
    uint8_t f[2048], arp[64];
    uint32_t len;
    uint16_t id0 = 0, id;
    struct fn_stats s0, s1;

    SETUP((void)0);
    /* Data segments of every size: each frame as fn_ip_output builds it, ids consecutive,
     * and the IP and Ethernet counters as before. */
    fn_stack_get_stats(t.sa, &s0);
    for (uint32_t i = 0; i < 8; i++) {
        uint32_t n = 1 + i * 190;
        FN_CHECK(queue(tp, 0, n, t.now));
        fn_stack_poll(t.sa, t.now);
        len = next_frame(&t, f);
        FN_CHECK(ip_frame_ok(f, len, MAC_B, &id));
        FN_CHECK_EQ(len, FN_ETH_HLEN + FN_IPV4_HLEN + FN_TCP_HLEN + n);
        if (i > 0)
            FN_CHECK_EQ(id, (uint16_t)(id0 + 1));
        id0 = id;
        FN_CHECK_EQ(next_frame(&t, f), 0);
        tt_inject(&p, 1, tp->snd_max - p.a_iss, FN_TH_ACK, NULL, 0);
        FN_CHECK_EQ(next_frame(&t, f), 0);
    }
    fn_stack_get_stats(t.sa, &s1);
    FN_CHECK_EQ(s1.ip_tx - s0.ip_tx, 8);
    FN_CHECK_EQ(s1.eth_tx - s0.eth_tx, 8);
    /* The ARP entry outlives its reachable time: the next segment goes as fn_ip_output
     * sends it then — the unicast probe of the stale entry first, then the segment. */
    tt_advance(&t, (uint64_t)c.arp_reachable_ms * MS + 1);
    tnet_drain(&t);
    FN_CHECK(queue(tp, 0, 100, t.now));
    fn_stack_poll(t.sa, t.now);
    len = next_frame(&t, f);
    FN_CHECK_EQ(rd16(f + 12), FN_ETHERTYPE_ARP);
    FN_CHECK(memcmp(f, MAC_B, 6) == 0);
    len = next_frame(&t, f);
    FN_CHECK(ip_frame_ok(f, len, MAC_B, &id));
    FN_CHECK_EQ(id, (uint16_t)(id0 + 1));
    FN_CHECK_EQ(next_frame(&t, f), 0);
    /* B answers from a new MAC: the following segments go there. */
    fn_eth_emit(arp, MAC_A, mac_new, FN_ETHERTYPE_ARP);
    fn_arp_emit(arp + FN_ETH_HLEN, FN_ARP_OP_REPLY, mac_new, IP_B, MAC_A, IP_A);
    tnet_inject(&t, arp, FN_ETH_HLEN + FN_ARP_LEN);
    tt_inject(&p, 1, tp->snd_max - p.a_iss, FN_TH_ACK, NULL, 0);
    for (int i = 0; i < 2; i++) {
        FN_CHECK(queue(tp, 0, 100, t.now));
        fn_stack_poll(t.sa, t.now);
        len = next_frame(&t, f);
        FN_CHECK(ip_frame_ok(f, len, mac_new, &id));
        FN_CHECK_EQ(next_frame(&t, f), 0);
        tt_inject(&p, 1, tp->snd_max - p.a_iss, FN_TH_ACK, NULL, 0);
    }
    TEARDOWN();
}

FN_TEST_MAIN()
