/*
 * tool_xdp_ping.c — manual check of the af_xdp backend: answer ARP and ICMP echo on a link.
 *
 * Opens the af_xdp backend on an interface, and for a bounded time answers ARP requests
 * (RFC 826) for one IPv4 address and ICMP echo requests (RFC 792) to it, by rewriting each
 * request in place in the buffer it arrived in and sending that same buffer back.  That
 * exercises both directions through the UMEM without a copy: rx hands out pool buffers the
 * kernel filled, tx sends pool buffers by their UMEM address.  Everything else is dropped.
 * The protocol handling is deliberately minimal and lives only here; the real stack is in
 * net/.  On exit it closes the backend and checks that every pool buffer came back.
 *
 *   tool_xdp_ping -i IFNAME -a IPV4 [-t SECONDS] [-m auto|native|skb] [-o XDP_OBJ] [-q QUEUE]
 *                [-n POOL_BUFFERS] [-r RING_SIZE]
 *
 * Exit status: 0 when the run ended normally and no buffer leaked, 1 otherwise.
 * SIGINT/SIGTERM end the run early (cleanly).  After SIGKILL the XDP program stays attached:
 * `ip link set dev IFNAME xdp off` removes it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fastnet/fn_backend.h"
#include "fastnet/fn_pkt.h"
#include "platform/fn_platform.h"

#define BATCH 64

static volatile sig_atomic_t stop_flag;

struct counters {
    uint64_t arp_replies;
    uint64_t echo_replies;
    uint64_t ignored;
    uint32_t first_headroom;
    int seen_rx;
};

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static void wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* RFC 1071 Internet checksum over len bytes. */
static uint16_t csum(const uint8_t *p, size_t len)
{
    uint32_t sum = 0;

    while (len > 1) {
        sum += rd16(p);
        p += 2;
        len -= 2;
    }
    if (len)
        sum += (uint32_t)p[0] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* RFC 826: turn a request for our address into the reply, in place. */
static int arp_answer(uint8_t *f, uint32_t len, const uint8_t mac[6], const uint8_t ip[4])
{
    uint8_t *a = f + 14;

    if (len < 14 + 28 || rd16(a) != 1 || rd16(a + 2) != 0x0800 || a[4] != 6 || a[5] != 4 ||
        rd16(a + 6) != 1 || memcmp(a + 24, ip, 4) != 0)
        return 0;
    memcpy(f, f + 6, 6);            /* eth dst = requester */
    memcpy(f + 6, mac, 6);
    wr16(a + 6, 2);                 /* op = reply */
    memcpy(a + 18, a + 8, 10);      /* target hw + proto = sender's */
    memcpy(a + 8, mac, 6);
    memcpy(a + 14, ip, 4);
    return 1;
}

/* RFC 792: turn an echo request to our address into the echo reply, in place.  Returns the
 * reply's frame length, or 0 if the frame is not an echo request for us. */
static uint32_t icmp_answer(uint8_t *f, uint32_t len, const uint8_t mac[6],
                            const uint8_t ip[4])
{
    uint8_t *h = f + 14, *icmp;
    uint32_t ihl, tot;
    uint8_t tmp[4];

    if (len < 14 + 20 || (h[0] >> 4) != 4)
        return 0;
    ihl = (uint32_t)(h[0] & 0xf) * 4;
    tot = rd16(h + 2);
    if (ihl < 20 || tot < ihl + 8 || 14 + tot > len || h[9] != 1 ||
        memcmp(h + 16, ip, 4) != 0 || (rd16(h + 6) & 0x3fff) != 0 || csum(h, ihl) != 0)
        return 0;
    icmp = h + ihl;
    if (icmp[0] != 8 || icmp[1] != 0 || csum(icmp, tot - ihl) != 0)
        return 0;
    memcpy(f, f + 6, 6);
    memcpy(f + 6, mac, 6);
    memcpy(tmp, h + 12, 4);
    memcpy(h + 12, h + 16, 4);
    memcpy(h + 16, tmp, 4);
    h[8] = 64;
    wr16(h + 10, 0);
    wr16(h + 10, csum(h, ihl));
    icmp[0] = 0;
    wr16(icmp + 2, 0);
    wr16(icmp + 2, csum(icmp, tot - ihl));
    return 14 + tot;
}

/* Answer what deserves an answer; the rest is freed.  Returns the number of replies put in
 * out[]. */
static int handle(struct fn_backend *be, struct fn_pkt **in, int n, struct fn_pkt **out,
                  const uint8_t ip[4], struct counters *c)
{
    int m = 0;

    for (int i = 0; i < n; i++) {
        struct fn_pkt *p = in[i];
        uint32_t rlen;

        if (!c->seen_rx) {
            c->seen_rx = 1;
            c->first_headroom = fn_pkt_headroom(p);
        }
        if (p->len >= 14 && rd16(p->data + 12) == 0x0806 &&
            arp_answer(p->data, p->len, be->mac, ip)) {
            c->arp_replies++;
            out[m++] = p;
            continue;
        }
        if (p->len >= 14 && rd16(p->data + 12) == 0x0800 &&
            (rlen = icmp_answer(p->data, p->len, be->mac, ip)) != 0) {
            p->len = rlen;
            c->echo_replies++;
            out[m++] = p;
            continue;
        }
        c->ignored++;
        fn_pkt_free(p);
    }
    return m;
}

static void usage(const char *argv0)
{
    fprintf(stderr, "usage: %s -i IFNAME -a IPV4 [-t SECONDS] [-m auto|native|skb] "
            "[-o XDP_OBJ] [-q QUEUE] [-n POOL_BUFFERS] [-r RING_SIZE]\n", argv0);
}

int main(int argc, char **argv)
{
    struct fn_backend_params params;
    struct fn_pkt *rx[BATCH], *tx[BATCH];
    struct fn_pool_stats ps;
    struct fn_backend *be = NULL;
    struct fn_pool *pool = NULL;
    struct counters c;
    struct sigaction sa;
    const char *errmsg = NULL;
    double seconds = 10;
    uint8_t ip[4];
    uint64_t end;
    uint32_t leaked, nbufs = 4096;
    int opt, err, have_ip = 0, rc = 0;

    memset(&params, 0, sizeof(params));
    memset(&c, 0, sizeof(c));
    while ((opt = getopt(argc, argv, "i:a:t:m:o:q:n:r:")) != -1) {
        switch (opt) {
        case 'i':
            params.ifname = optarg;
            break;
        case 'a':
            have_ip = inet_pton(AF_INET, optarg, ip) == 1;
            break;
        case 't':
            seconds = atof(optarg);
            break;
        case 'm':
            if (strcmp(optarg, "native") == 0)
                params.xdp_mode = FN_XDP_MODE_NATIVE;
            else if (strcmp(optarg, "skb") == 0)
                params.xdp_mode = FN_XDP_MODE_SKB;
            else
                params.xdp_mode = FN_XDP_MODE_AUTO;
            break;
        case 'o':
            params.xdp_obj_path = optarg;
            break;
        case 'q':
            params.queue = (uint32_t)strtoul(optarg, NULL, 0);
            break;
        case 'n':
            nbufs = (uint32_t)strtoul(optarg, NULL, 0);
            break;
        case 'r':
            params.ring_size = (uint32_t)strtoul(optarg, NULL, 0);
            break;
        default:
            usage(argv[0]);
            return 2;
        }
    }
    if (!params.ifname || !have_ip || seconds <= 0 || seconds > 3600) {
        usage(argv[0]);
        return 2;
    }
    fn_log_set_level(FN_LOG_INFO);

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    err = fn_pool_create(nbufs, FN_PKT_BUFSZ_DEFAULT, 0, &pool);
    if (err) {
        fprintf(stderr, "pool: %s\n", strerror(-err));
        return 1;
    }
    err = fn_backend_af_xdp_open(&params, pool, &be, &errmsg);
    if (err) {
        fprintf(stderr, "af_xdp open on %s: %s (%s)\n", params.ifname,
                errmsg ? errmsg : "?", strerror(-err));
        fn_pool_destroy(pool);
        return 1;
    }
    printf("open: %s mac %02x:%02x:%02x:%02x:%02x:%02x mtu %u fd %d\n", be->ifname,
           be->mac[0], be->mac[1], be->mac[2], be->mac[3], be->mac[4], be->mac[5], be->mtu,
           be->fd);
    fflush(stdout);

    end = fn_clock_ns() + (uint64_t)(seconds * 1e9);
    while (!stop_flag) {
        uint64_t now = fn_clock_ns();
        int n, m;

        if (now >= end)
            break;
        n = fn_backend_rx(be, rx, BATCH, now);
        if (n < 0) {
            fprintf(stderr, "rx: %s\n", strerror(-n));
            rc = 1;
            break;
        }
        m = handle(be, rx, n, tx, ip, &c);
        if (m)
            fn_backend_tx(be, tx, m, now);
        err = fn_backend_flush(be, now);
        if (err < 0) {
            fprintf(stderr, "flush: %s\n", strerror(-err));
            rc = 1;
            break;
        }
        if (n == 0 && fn_backend_next_deadline(be) > now) {
            struct pollfd pfd = {.fd = be->fd, .events = POLLIN};
            uint64_t left_ms = (end - now) / 1000000u + 1;

            poll(&pfd, 1, left_ms < 100 ? (int)left_ms : 100);
        }
    }

    printf("rx %llu frames, tx %llu, arp replies %llu, echo replies %llu, ignored %llu\n",
           (unsigned long long)be->stats.rx_packets, (unsigned long long)be->stats.tx_packets,
           (unsigned long long)c.arp_replies, (unsigned long long)c.echo_replies,
           (unsigned long long)c.ignored);
    printf("rx_nobuf %llu rx_errors %llu tx_drops %llu tx_kicks %llu, rx data at offset %u\n",
           (unsigned long long)be->stats.rx_nobuf, (unsigned long long)be->stats.rx_errors,
           (unsigned long long)be->stats.tx_drops, (unsigned long long)be->stats.tx_kicks,
           c.first_headroom);
    fn_backend_close(be);
    fn_pool_get_stats(pool, &ps);
    leaked = fn_pool_destroy(pool);
    printf("pool: peak in use %u, in use after close %u\n", ps.peak_in_use, leaked);
    if (leaked)
        rc = 1;
    return rc;
}
