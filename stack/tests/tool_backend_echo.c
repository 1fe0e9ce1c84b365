/*
 * tool_backend_echo — manual check of a real backend on an interface.
 *
 *   tool_backend_echo BACKEND IFNAME [-t SECONDS] [-i MY_IPV4] [-a TARGET_IPV4] [-n COUNT]
 *                     [-q] [-p FILE]
 *
 * Opens BACKEND (af_packet | tap | af_xdp) on IFNAME, prints its MAC, MTU and caps, then for
 * SECONDS (default 5) waits on its fd and prints every received frame (addresses, ethertype,
 * length, checksum flags).  With -i it answers ARP requests for MY_IPV4 (so `arping` or
 * `ping` from a peer shows the receive and the transmit path); with -a it sends one ARP
 * request for TARGET_IPV4 (from MY_IPV4, or 0.0.0.0) at start, or -n COUNT of them (<= 100000,
 * in batches of 64, one flush per batch: exercises TX ring wrap-around).  -p wraps the backend in the
 * pcap wrapper.  Prints the backend counters at the end.  Test code: frames are built by
 * hand here, nothing of net/ is used.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fastnet/fn_backend.h"

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Ethernet + ARP (RFC 826) in one 42-byte frame, padded to 60. */
static void build_arp(struct fn_pkt *pkt, uint16_t op, const uint8_t *eth_dst,
                      const uint8_t *sha, uint32_t spa, const uint8_t *tha, uint32_t tpa)
{
    uint8_t *d = fn_pkt_put(pkt, 60);
    if (!d)
        return;
    memset(d, 0, 60);
    memcpy(d, eth_dst, 6);
    memcpy(d + 6, sha, 6);
    d[12] = 0x08, d[13] = 0x06;
    d[14] = 0x00, d[15] = 0x01;     /* htype Ethernet */
    d[16] = 0x08, d[17] = 0x00;     /* ptype IPv4 */
    d[18] = 6, d[19] = 4;
    d[20] = 0, d[21] = (uint8_t)op;
    memcpy(d + 22, sha, 6);
    memcpy(d + 28, &spa, 4);
    memcpy(d + 32, tha, 6);
    memcpy(d + 38, &tpa, 4);
}

static void print_frame(const struct fn_pkt *pkt)
{
    const uint8_t *d = pkt->data;
    if (pkt->len < 14)
        return;
    printf("rx %4u B  %02x:%02x:%02x:%02x:%02x:%02x > %02x:%02x:%02x:%02x:%02x:%02x  "
           "type %04x%s%s\n",
           pkt->len, d[6], d[7], d[8], d[9], d[10], d[11], d[0], d[1], d[2], d[3], d[4], d[5],
           d[12] << 8 | d[13], pkt->flags & FN_PKT_F_L4_CSUM_OK ? "  csum-ok" : "",
           pkt->flags & FN_PKT_F_L4_CSUM_PARTIAL ? "  csum-partial" : "");
}

int main(int argc, char **argv)
{
    struct fn_backend_params params = {0};
    struct fn_backend *be, *wrapped;
    struct fn_pool *pool;
    struct fn_pkt *pk[64];
    const char *errmsg = "", *pcap = NULL;
    uint32_t my_ip = 0, target_ip = 0;
    int seconds = 5, rc, opt, replies = 0, count = 1, quiet = 0;
    uint64_t frames = 0, end;
    static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    static const uint8_t zero[6] = {0};

    if (argc < 3) {
        fprintf(stderr, "usage: %s BACKEND IFNAME [-t S] [-i MY_IP] [-a TARGET_IP] [-p F]\n",
                argv[0]);
        return 2;
    }
    optind = 3;
    while ((opt = getopt(argc, argv, "t:i:a:p:n:q")) != -1) {
        if (opt == 't')
            seconds = atoi(optarg);
        else if (opt == 'i')
            inet_pton(AF_INET, optarg, &my_ip);
        else if (opt == 'a')
            inet_pton(AF_INET, optarg, &target_ip);
        else if (opt == 'p')
            pcap = optarg;
        else if (opt == 'n')
            count = atoi(optarg);
        else if (opt == 'q')
            quiet = 1;
        else
            return 2;
    }
    if (seconds < 0 || seconds > 600)
        seconds = 5;
    if (count < 1 || count > 100000)
        count = 1;
    if (fn_pool_create(4096, FN_PKT_BUFSZ_DEFAULT, 0, &pool) != 0)
        return 1;
    params.ifname = argv[2];
    rc = fn_backend_open(argv[1], &params, pool, &be, &errmsg);
    if (rc) {
        fprintf(stderr, "open %s on %s: %s (%s)\n", argv[1], argv[2], errmsg, strerror(-rc));
        fn_pool_destroy(pool);
        return 1;
    }
    if (pcap) {
        rc = fn_backend_pcap_wrap(be, pcap, &wrapped);
        if (rc) {
            fprintf(stderr, "pcap %s: %s\n", pcap, strerror(-rc));
            fn_backend_close(be);
            fn_pool_destroy(pool);
            return 1;
        }
        be = wrapped;
    }
    printf("%s on %s: mac %02x:%02x:%02x:%02x:%02x:%02x mtu %u fd %d caps 0x%x\n", argv[1],
           be->ifname, be->mac[0], be->mac[1], be->mac[2], be->mac[3], be->mac[4], be->mac[5],
           be->mtu, be->fd, be->caps);
    fflush(stdout);

    if (target_ip) {
        int queued = 0;
        for (int sent = 0; sent < count;) {
            int k = 0;
            for (; k < 64 && sent < count; k++, sent++) {
                pk[k] = fn_pkt_alloc(pool);
                if (!pk[k])
                    return 1;
                build_arp(pk[k], 1, bcast, be->mac, my_ip, zero, target_ip);
            }
            queued += fn_backend_tx(be, pk, k, mono_ns());
            fn_backend_flush(be, mono_ns());
        }
        printf("tx ARP request x%d: %d queued\n", count, queued);
    }

    end = mono_ns() + (uint64_t)seconds * 1000000000u;
    while (mono_ns() < end) {
        struct pollfd pfd = {.fd = be->fd, .events = POLLIN};
        int n;

        if (be->fd >= 0)
            poll(&pfd, 1, 100);
        else
            usleep(1000);
        n = fn_backend_rx(be, pk, 64, mono_ns());
        if (n < 0) {
            fprintf(stderr, "rx: %s\n", strerror(-n));
            break;
        }
        for (int i = 0; i < n; i++) {
            const uint8_t *d = pk[i]->data;
            uint32_t tpa;
            frames++;
            if (!quiet)
                print_frame(pk[i]);
            /* an ARP request for my_ip: answer it */
            if (my_ip && pk[i]->len >= 42 && d[12] == 0x08 && d[13] == 0x06 && d[21] == 1) {
                memcpy(&tpa, d + 38, 4);
                if (tpa == my_ip) {
                    struct fn_pkt *r = fn_pkt_alloc(pool);
                    uint32_t spa;
                    memcpy(&spa, d + 28, 4);
                    if (r) {
                        build_arp(r, 2, d + 6, be->mac, my_ip, d + 22, spa);
                        replies += fn_backend_tx(be, &r, 1, mono_ns());
                    }
                }
            }
            fn_pkt_free(pk[i]);
        }
        fn_backend_flush(be, mono_ns());
        fflush(stdout);
    }
    printf("frames %llu arp-replies %d | rx_packets %llu rx_bytes %llu rx_nobuf %llu "
           "rx_errors %llu tx_packets %llu tx_drops %llu tx_kicks %llu\n",
           (unsigned long long)frames, replies, (unsigned long long)be->stats.rx_packets,
           (unsigned long long)be->stats.rx_bytes, (unsigned long long)be->stats.rx_nobuf,
           (unsigned long long)be->stats.rx_errors, (unsigned long long)be->stats.tx_packets,
           (unsigned long long)be->stats.tx_drops, (unsigned long long)be->stats.tx_kicks);
    fn_backend_close(be);
    rc = (int)fn_pool_destroy(pool);
    if (rc)
        printf("LEAK: %d buffers still in use\n", rc);
    return rc ? 1 : 0;
}
