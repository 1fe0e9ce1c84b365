/*
 * tool_wire_dump.c — a line-oriented front end to stack/wire/ for the Python tests
 * (tests/test_wire_scapy.py), which compare it against scapy.
 *
 * Reads commands from stdin, one per line, and writes exactly one JSON object per
 * non-blank input line to stdout.  <hex> is the bytes as hex digits (no separators); "-" or
 * nothing means zero bytes.  Numbers are decimal or 0x-prefixed hex.  IPv4 addresses are
 * written and printed as dotted quads, MACs as aa:bb:cc:dd:ee:ff.  Checksums are printed as
 * the integer the two wire bytes form (what scapy shows as chksum).  A parse failure prints
 * {"error": "<name>"} with name one of truncated, bad_version, bad_hlen, bad_len, bad_csum,
 * bad_format; a malformed command line prints {"error": "usage"}.
 *
 * Parse commands (each parse gets a buffer of exactly the given bytes, so that a SAN build
 * of this tool would catch an over-read):
 *   eth <hex>           {dst, src, type, hlen, bcast, mcast}
 *   arp <hex>           {op, sha, spa, tha, tpa}
 *   ipv4 <hex>          checksum verified; {hlen, tos, total_len, id, frag_off, df, mf,
 *                       ttl, proto, src, dst}
 *   ipv4_nocsum <hex>   the same without checksum verification
 *   icmp <hex>          checksum verified; {type, code, id, seq, next_mtu, payload_len}
 *   icmp_nocsum <hex>   the same without checksum verification
 *   udp <hex>           {sport, dport, len, csum, payload_len}
 *   tcp <hex>           {sport, dport, seq, ack, hlen, flags, win, csum, urp, opts_len,
 *                       payload_len, opts: <the tcpopts object of its options>}
 *   tcpopts <hex>       {mss, wscale, sack_permitted, ts: [tsval, tsecr], sack: [[l, r]..]}
 *                       with null for absent options; on BAD_FORMAT the object also has
 *                       "error": "bad_format" next to the options kept before the fault.
 * Checksum commands:
 *   csum <hex>                          {csum: fn_csum(bytes)}
 *   l4csum <src> <dst> <proto> <hex>    {csum: the checksum over the pseudo-header (length =
 *                                       the byte count) and the bytes}: 0 if a correct
 *                                       checksum is in place, the value to store if its
 *                                       field is zero.
 *   update16 <csum> <old> <new>         {csum: fn_csum_update16}, all three as wire values
 *   update32 <csum> <old> <new>         {csum: fn_csum_update32}, all three as wire values
 * Emit commands, printing {hex: "<emitted bytes>"}:
 *   emit_eth <dst-mac> <src-mac> <type>
 *   emit_arp <op> <sha> <spa> <tha> <tpa>
 *   emit_ipv4 <tos> <total_len> <id> <frag_off-bytes> <df> <mf> <ttl> <proto> <src> <dst>
 *   emit_icmp <type> <code> <rest> <payload-hex>     header + payload
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire/fn_wire.h"

#define MAX_ARGS 16

static const char *err_name(enum fn_wire_err e)
{
    switch (e) {
    case FN_WIRE_OK:
        return "ok";
    case FN_WIRE_TRUNCATED:
        return "truncated";
    case FN_WIRE_BAD_VERSION:
        return "bad_version";
    case FN_WIRE_BAD_HLEN:
        return "bad_hlen";
    case FN_WIRE_BAD_LEN:
        return "bad_len";
    case FN_WIRE_BAD_CSUM:
        return "bad_csum";
    case FN_WIRE_BAD_FORMAT:
        return "bad_format";
    }
    return "unknown";
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes hex into a fresh heap buffer of exactly the decoded size; NULL on bad input. */
static uint8_t *from_hex(const char *s, size_t *n)
{
    size_t len = (s == NULL || strcmp(s, "-") == 0) ? 0 : strlen(s);
    uint8_t *b;

    if (len % 2)
        return NULL;
    b = malloc(len / 2 ? len / 2 : 1);
    if (b == NULL)
        return NULL;
    for (size_t i = 0; i < len / 2; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);

        if (hi < 0 || lo < 0) {
            free(b);
            return NULL;
        }
        b[i] = (uint8_t)(hi << 4 | lo);
    }
    *n = len / 2;
    return b;
}

static int parse_num(const char *s, unsigned long max, unsigned long *out)
{
    char *end;

    if (s == NULL)
        return -EINVAL;
    errno = 0;
    *out = strtoul(s, &end, 0);
    if (errno || *end || end == s || *out > max)
        return -EINVAL;
    return 0;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
    unsigned v[6];
    char tail;

    if (s == NULL ||
        sscanf(s, "%x:%x:%x:%x:%x:%x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail) != 6)
        return -EINVAL;
    for (int i = 0; i < 6; i++) {
        if (v[i] > 255)
            return -EINVAL;
        mac[i] = (uint8_t)v[i];
    }
    return 0;
}

/* Dotted quad -> network-order address. */
static int parse_ip(const char *s, uint32_t *out)
{
    unsigned v[4];
    uint8_t b[4];
    char tail;

    if (s == NULL || sscanf(s, "%u.%u.%u.%u%c", &v[0], &v[1], &v[2], &v[3], &tail) != 4)
        return -EINVAL;
    for (int i = 0; i < 4; i++) {
        if (v[i] > 255)
            return -EINVAL;
        b[i] = (uint8_t)v[i];
    }
    memcpy(out, b, 4);
    return 0;
}

static void print_hex(const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        printf("%02x", b[i]);
}

static void print_mac(const char *key, const uint8_t *m)
{
    printf("\"%s\": \"%02x:%02x:%02x:%02x:%02x:%02x\"", key, m[0], m[1], m[2], m[3], m[4],
           m[5]);
}

static void print_ip(const char *key, uint32_t a)
{
    uint8_t b[4];

    memcpy(b, &a, 4);
    printf("\"%s\": \"%u.%u.%u.%u\"", key, b[0], b[1], b[2], b[3]);
}

/* A stored (memory-order) 16-bit checksum as the integer its wire bytes form. */
static unsigned wire16(uint16_t stored)
{
    uint8_t b[2];

    memcpy(b, &stored, 2);
    return (unsigned)(b[0] << 8 | b[1]);
}

/* The wire-order integer v as the memory-order value the checksum API takes. */
static uint16_t mem16(unsigned long v)
{
    uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    uint16_t m;

    memcpy(&m, b, 2);
    return m;
}

static uint32_t mem32(unsigned long v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    uint32_t m;

    memcpy(&m, b, 4);
    return m;
}

static void print_err(enum fn_wire_err e)
{
    printf("{\"error\": \"%s\"}", err_name(e));
}

static void print_opts_fields(const struct fn_tcp_opts *o)
{
    if (o->has_mss)
        printf("\"mss\": %u", o->mss);
    else
        printf("\"mss\": null");
    if (o->has_wscale)
        printf(", \"wscale\": %u", o->wscale);
    else
        printf(", \"wscale\": null");
    printf(", \"sack_permitted\": %s", o->sack_permitted ? "true" : "false");
    if (o->has_ts)
        printf(", \"ts\": [%u, %u]", (unsigned)o->tsval, (unsigned)o->tsecr);
    else
        printf(", \"ts\": null");
    printf(", \"sack\": [");
    for (unsigned i = 0; i < o->nsack; i++)
        printf("%s[%u, %u]", i ? ", " : "", (unsigned)o->sack[i][0], (unsigned)o->sack[i][1]);
    printf("]");
}

static void print_opts(const uint8_t *b, size_t n)
{
    struct fn_tcp_opts o;
    enum fn_wire_err e = fn_tcp_opts_parse(b, n, &o);

    printf("{");
    if (e != FN_WIRE_OK)
        printf("\"error\": \"%s\", ", err_name(e));
    print_opts_fields(&o);
    printf("}");
}

static void cmd_eth(const uint8_t *b, size_t n)
{
    struct fn_eth_info e;
    enum fn_wire_err r = fn_eth_parse(b, n, &e);

    if (r != FN_WIRE_OK) {
        print_err(r);
        return;
    }
    printf("{");
    print_mac("dst", e.dst);
    printf(", ");
    print_mac("src", e.src);
    printf(", \"type\": %u, \"hlen\": %u, \"bcast\": %s, \"mcast\": %s}", e.type,
           (unsigned)e.hlen, fn_eth_is_broadcast(e.dst) ? "true" : "false",
           fn_eth_is_multicast(e.dst) ? "true" : "false");
}

static void cmd_arp(const uint8_t *b, size_t n)
{
    struct fn_arp_info a;
    enum fn_wire_err r = fn_arp_parse(b, n, &a);

    if (r != FN_WIRE_OK) {
        print_err(r);
        return;
    }
    printf("{\"op\": %u, ", a.op);
    print_mac("sha", a.sha);
    printf(", ");
    print_ip("spa", a.spa);
    printf(", ");
    print_mac("tha", a.tha);
    printf(", ");
    print_ip("tpa", a.tpa);
    printf("}");
}

static void cmd_ipv4(const uint8_t *b, size_t n, int verify)
{
    struct fn_ipv4_info ip;
    enum fn_wire_err r = fn_ipv4_parse(b, n, verify, &ip);

    if (r != FN_WIRE_OK) {
        print_err(r);
        return;
    }
    printf("{\"hlen\": %u, \"tos\": %u, \"total_len\": %u, \"id\": %u, \"frag_off\": %u, "
           "\"df\": %u, \"mf\": %u, \"ttl\": %u, \"proto\": %u, ",
           ip.hlen, ip.tos, ip.total_len, ip.id, ip.frag_off, ip.df, ip.mf, ip.ttl, ip.proto);
    print_ip("src", ip.src);
    printf(", ");
    print_ip("dst", ip.dst);
    printf("}");
}

static void cmd_icmp(const uint8_t *b, size_t n, int verify)
{
    struct fn_icmp_info ic;
    enum fn_wire_err r = fn_icmp_parse(b, n, verify, &ic);

    if (r != FN_WIRE_OK) {
        print_err(r);
        return;
    }
    printf("{\"type\": %u, \"code\": %u, \"id\": %u, \"seq\": %u, \"next_mtu\": %u, "
           "\"payload_len\": %u}",
           ic.type, ic.code, ic.id, ic.seq, ic.next_mtu, (unsigned)ic.payload_len);
}

static void cmd_udp(const uint8_t *b, size_t n)
{
    struct fn_udp_info u;
    enum fn_wire_err r = fn_udp_parse(b, n, &u);

    if (r != FN_WIRE_OK) {
        print_err(r);
        return;
    }
    printf("{\"sport\": %u, \"dport\": %u, \"len\": %u, \"csum\": %u, \"payload_len\": %u}",
           u.sport, u.dport, u.len, wire16(u.csum), (unsigned)u.payload_len);
}

static void cmd_tcp(const uint8_t *b, size_t n)
{
    struct fn_tcp_info t;
    enum fn_wire_err r = fn_tcp_parse(b, n, &t);

    if (r != FN_WIRE_OK) {
        print_err(r);
        return;
    }
    printf("{\"sport\": %u, \"dport\": %u, \"seq\": %u, \"ack\": %u, \"hlen\": %u, "
           "\"flags\": %u, \"win\": %u, \"csum\": %u, \"urp\": %u, \"opts_len\": %u, "
           "\"payload_len\": %u, \"opts\": ",
           t.sport, t.dport, (unsigned)t.seq, (unsigned)t.ack, t.hlen, t.flags, t.win,
           wire16(t.csum), t.urp, (unsigned)t.opts_len, (unsigned)t.payload_len);
    print_opts(t.opts, t.opts_len);
    printf("}");
}

/* Commands taking exactly one hex argument: parse it into an exact-size buffer. */
static int run_parse(const char *cmd, char **argv, int argc)
{
    static const char *const names[] = {"eth",         "arp", "ipv4", "ipv4_nocsum", "icmp",
                                        "icmp_nocsum", "udp", "tcp",  "tcpopts",     "csum"};
    size_t i, n = 0;
    uint8_t *b;

    for (i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(cmd, names[i]) == 0)
            break;
    if (i == sizeof names / sizeof names[0])
        return 0;
    if (argc > 1 || (b = from_hex(argc ? argv[0] : NULL, &n)) == NULL) {
        printf("{\"error\": \"usage\"}");
        return 1;
    }
    switch (i) {
    case 0:
        cmd_eth(b, n);
        break;
    case 1:
        cmd_arp(b, n);
        break;
    case 2:
    case 3:
        cmd_ipv4(b, n, i == 2);
        break;
    case 4:
    case 5:
        cmd_icmp(b, n, i == 4);
        break;
    case 6:
        cmd_udp(b, n);
        break;
    case 7:
        cmd_tcp(b, n);
        break;
    case 8:
        print_opts(b, n);
        break;
    default:
        printf("{\"csum\": %u}", wire16(fn_csum(b, n)));
        break;
    }
    free(b);
    return 1;
}

static int cmd_l4csum(char **a, int argc)
{
    uint32_t src, dst;
    unsigned long proto;
    size_t n = 0;
    uint8_t *b;

    if (argc < 3 || argc > 4 || parse_ip(a[0], &src) || parse_ip(a[1], &dst) ||
        parse_num(a[2], 255, &proto) || (b = from_hex(argc == 4 ? a[3] : NULL, &n)) == NULL)
        return -EINVAL;
    if (n > 0xffff) {
        free(b);
        return -EINVAL;
    }
    printf("{\"csum\": %u}",
           wire16(fn_csum_fold(fn_csum_partial(b, n, fn_csum_pseudo(src, dst, (uint8_t)proto,
                                                                     (uint16_t)n)))));
    free(b);
    return 0;
}

static int cmd_update(char **a, int argc, int wide)
{
    unsigned long c, o, v, max = wide ? 0xffffffffUL : 0xffffUL;
    uint16_t r;

    if (argc != 3 || parse_num(a[0], 0xffff, &c) || parse_num(a[1], max, &o) ||
        parse_num(a[2], max, &v))
        return -EINVAL;
    r = wide ? fn_csum_update32(mem16(c), mem32(o), mem32(v))
             : fn_csum_update16(mem16(c), mem16(o), mem16(v));
    printf("{\"csum\": %u}", wire16(r));
    return 0;
}

static int cmd_emit(const char *cmd, char **a, int argc)
{
    uint8_t out[8 + 65536];
    size_t n;

    if (strcmp(cmd, "emit_eth") == 0) {
        uint8_t d[6], s[6];
        unsigned long type;

        if (argc != 3 || parse_mac(a[0], d) || parse_mac(a[1], s) ||
            parse_num(a[2], 0xffff, &type))
            return -EINVAL;
        fn_eth_emit(out, d, s, (uint16_t)type);
        n = FN_ETH_HLEN;
    } else if (strcmp(cmd, "emit_arp") == 0) {
        uint8_t sha[6], tha[6];
        uint32_t spa, tpa;
        unsigned long op;

        if (argc != 5 || parse_num(a[0], 0xffff, &op) || parse_mac(a[1], sha) ||
            parse_ip(a[2], &spa) || parse_mac(a[3], tha) || parse_ip(a[4], &tpa))
            return -EINVAL;
        fn_arp_emit(out, (uint16_t)op, sha, spa, tha, tpa);
        n = FN_ARP_LEN;
    } else if (strcmp(cmd, "emit_ipv4") == 0) {
        struct fn_ipv4_info ip = {0};
        unsigned long v[8];
        static const unsigned long max[8] = {255, 0xffff, 0xffff, 0xfff8, 1, 1, 255, 255};

        if (argc != 10)
            return -EINVAL;
        for (int i = 0; i < 8; i++)
            if (parse_num(a[i], max[i], &v[i]))
                return -EINVAL;
        if (v[3] % 8 || parse_ip(a[8], &ip.src) || parse_ip(a[9], &ip.dst))
            return -EINVAL;
        ip.tos = (uint8_t)v[0];
        ip.total_len = (uint16_t)v[1];
        ip.id = (uint16_t)v[2];
        ip.frag_off = (uint16_t)v[3];
        ip.df = (uint8_t)v[4];
        ip.mf = (uint8_t)v[5];
        ip.ttl = (uint8_t)v[6];
        ip.proto = (uint8_t)v[7];
        fn_ipv4_emit(out, &ip);
        n = FN_IPV4_HLEN;
    } else if (strcmp(cmd, "emit_icmp") == 0) {
        unsigned long type, code, rest;
        size_t plen = 0;
        uint8_t *pl;

        if (argc < 3 || argc > 4 || parse_num(a[0], 255, &type) ||
            parse_num(a[1], 255, &code) || parse_num(a[2], 0xffffffffUL, &rest) ||
            (pl = from_hex(argc == 4 ? a[3] : NULL, &plen)) == NULL)
            return -EINVAL;
        if (plen > sizeof out - FN_ICMP_HLEN) {
            free(pl);
            return -EINVAL;
        }
        memcpy(out + FN_ICMP_HLEN, pl, plen);
        free(pl);
        fn_icmp_emit(out, (uint8_t)type, (uint8_t)code, (uint32_t)rest, plen);
        n = FN_ICMP_HLEN + plen;
    } else {
        return -EINVAL;
    }
    printf("{\"hex\": \"");
    print_hex(out, n);
    printf("\"}");
    return 0;
}

static void run_line(char *line)
{
    char *argv[MAX_ARGS + 1];
    int argc = 0;
    char *save = NULL;

    for (char *tok = strtok_r(line, " \t\r\n", &save); tok && argc <= MAX_ARGS;
         tok = strtok_r(NULL, " \t\r\n", &save))
        argv[argc++] = tok;
    if (argc == 0)
        return;
    if (argc > MAX_ARGS) {
        printf("{\"error\": \"usage\"}\n");
        return;
    }
    if (!run_parse(argv[0], argv + 1, argc - 1)) {
        int r;

        if (strcmp(argv[0], "l4csum") == 0)
            r = cmd_l4csum(argv + 1, argc - 1);
        else if (strcmp(argv[0], "update16") == 0 || strcmp(argv[0], "update32") == 0)
            r = cmd_update(argv + 1, argc - 1, argv[0][6] == '3');
        else
            r = cmd_emit(argv[0], argv + 1, argc - 1);
        if (r)
            printf("{\"error\": \"usage\"}");
    }
    printf("\n");
}

int main(void)
{
    char *line = NULL;
    size_t cap = 0;

    while (getline(&line, &cap, stdin) > 0)
        run_line(line);
    free(line);
    return fflush(stdout) == 0 ? 0 : 1;
}
