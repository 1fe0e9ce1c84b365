/*
 * tool_tcp_peer.c — fastnet's TCP against a real peer (the Linux kernel) over a real backend.
 *
 *   tool_tcp_peer -b BACKEND -i IFNAME -a IPV4/PREFIX (-l PORT | -C PEER_IPV4:PORT)
 *                 [-c CONNS] [-n BYTES] [-s SEED] [-t SECONDS] [-F FAULTS] [-S FAULT_SEED]
 *                 [-w PCAP] [-o XDP_OBJ] [-m auto|native|skb] [-N POOL_BUFFERS]
 *                 [-k KNOB=VALUE]... [-H SECONDS] [-r BYTES] [-D] [-v]
 *
 * Opens BACKEND (af_xdp | af_packet | tap) on IFNAME the way `fastnet up` does, optionally
 * wraps it in the seeded fault wrapper (-F "loss=2,reorder=5,dup=1,corrupt=0.5": percent,
 * applied to both directions) and then the pcap wrapper (-w: the capture shows what the stack
 * saw, after the faults), and runs one stack on it.  The loop is the worker loop of DESIGN §1:
 * poll the stack, serve the connections, and sleep in poll() on the backend's fd until the
 * next deadline.
 *
 * Server (-l PORT): listens, accepts CONNS connections.  Client (-C): opens CONNS concurrent
 * connections.  On every connection the tool sends BYTES bytes of a seeded pattern (splitmix64
 * keyed by SEED and the 4-tuple's ports), half-closes, receives until EOF, SHA-256-hashes both
 * directions, and releases the connection once both FINs are through (TIME_WAIT or CLOSED).
 * -H holds each connection idle in ESTABLISHED for SECONDS before it starts sending (the
 * RFC 5961 wire test injects spoofed segments meanwhile).  -r expects BYTES from the peer
 * instead of -n's count (a sink for bench/tcp_goodput.py: -n 0 -r N); -D discards received
 * bytes without hashing them (sha256_received is then the digest of nothing), so that a receive
 * benchmark does not measure SHA-256.  With -n 0 the tool half-closes only after the peer's
 * FIN (a sink stays in ESTABLISHED while it receives).  The JSON's "loop" counts, while a
 * connection is open, poll iterations, iterations that received nothing, sleeps in poll(),
 * the time slept and the time counted, for telling where a core goes.
 * It says "listening" (server) or "connecting" (client) on stderr once started.
 * When every connection is finished (or after SECONDS, or on SIGINT/SIGTERM) it lingers
 * briefly so final ACKs go out, then prints one JSON line on stdout: per connection the ports,
 * bytes and SHA-256 each way and how it ended ("fin", "rst", "timeout", "error", "open"); the
 * stack's counters, the backend's counters, and the pool buffers in use after the stack was
 * destroyed (must be 0).  Closing the backend detaches the XDP program.
 *
 * Exit status: 0 when every connection ended with "fin", moved all bytes and no buffer leaked;
 * 1 otherwise; 2 for bad arguments or a failure to start.  Test code, not part of the library:
 * it drives the stack only through fn_stack.h, fn_backend.h and tcp/fn_tcp.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fastnet/fn_backend.h"
#include "fastnet/fn_stack.h"
#include "platform/fn_platform.h"
#include "tcp/fn_tcp.h"
#include "tcp/tcp_fsm.h"
#include "tool_common.h"

#define MAX_CONNS   256
#define CHUNK       65536u
#define MAX_KNOBS   32
#define LINGER_NS   300000000ull    /* after the last connection: let final ACKs go out */
#define POLL_MAX_MS 100

static volatile sig_atomic_t stop_flag;

enum end { END_OPEN = 0, END_FIN, END_RST, END_TIMEOUT, END_ERROR };
static const char *const end_names[] = {"open", "fin", "rst", "timeout", "error"};

struct conn {
    struct tcpcb *tp;           /* NULL once released */
    uint16_t lport, fport;
    uint64_t sent, received;
    uint64_t rng;               /* pattern state */
    uint64_t hold_until;        /* nothing is sent before this time (-H) */
    uint8_t chunk[CHUNK];       /* pattern bytes not yet accepted by fn_tcp_send */
    uint32_t chunk_off, chunk_len;
    int shut, eof, err;
    enum end end;
    EVP_MD_CTX *h_sent, *h_recv;
    char hex_sent[65], hex_recv[65];
};

struct opts {
    const char *backend, *ifname, *pcap, *xdp_obj, *faults;
    const char *knobs[MAX_KNOBS];
    int nknobs;
    uint32_t ip, peer;
    uint8_t prefix_len;
    uint16_t port;              /* server: listen port; client: the peer's port */
    int server, verbose;
    uint32_t conns, pool_bufs;
    uint64_t bytes, seed, fault_seed;
    uint64_t rx_bytes;          /* bytes expected from the peer (-r; default -n) */
    int discard;                /* -D: do not hash received bytes */
    double seconds, hold;
    enum fn_xdp_mode xdp_mode;
};

struct run {
    struct opts o;
    struct fn_stack *st;
    struct tcpcb *listener;
    struct conn *c;             /* o.conns entries */
    uint32_t nconns;            /* connections created or accepted so far */
    uint32_t finished;
    uint64_t start;
    /* the worker loop's own counters (JSON "loop") */
    uint64_t iterations, idle_iterations, sleeps, sleep_ns, active_ns;
    int active;                 /* this iteration counts: a connection is open */
};

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s -b BACKEND -i IFNAME -a IPV4/PREFIX (-l PORT | -C IPV4:PORT) [-c CONNS]\n"
            "       [-n BYTES] [-s SEED] [-t SECONDS] [-F loss=P,reorder=P,dup=P,corrupt=P]\n"
            "       [-S FAULT_SEED] [-w PCAP] [-o XDP_OBJ] [-m auto|native|skb]\n"
            "       [-N POOL_BUFFERS] [-k KNOB=VALUE]... [-H SECONDS] [-r BYTES] [-D] [-v]\n",
            argv0);
}

static int parse_hostport(const char *s, uint32_t *ip, uint16_t *port)
{
    char buf[32];
    const char *colon = strrchr(s, ':');
    long p;

    if (!colon || (size_t)(colon - s) >= sizeof(buf))
        return -1;
    memcpy(buf, s, (size_t)(colon - s));
    buf[colon - s] = 0;
    p = strtol(colon + 1, NULL, 10);
    if (inet_pton(AF_INET, buf, ip) != 1 || p < 1 || p > 65535)
        return -1;
    *port = (uint16_t)p;
    return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
    int opt;

    memset(o, 0, sizeof(*o));
    o->conns = 1;
    o->bytes = 1 << 20;
    o->seed = 1;
    o->fault_seed = 1;
    o->seconds = 60;
    o->pool_bufs = 16384;
    o->rx_bytes = UINT64_MAX;
    while ((opt = getopt(argc, argv, "b:i:a:l:C:c:n:s:t:F:S:w:o:m:N:k:H:r:Dv")) != -1) {
        switch (opt) {
        case 'b': o->backend = optarg; break;
        case 'i': o->ifname = optarg; break;
        case 'a':
            if (tool_parse_cidr(optarg, &o->ip, &o->prefix_len))
                return -1;
            break;
        case 'l':
            o->server = 1;
            o->port = (uint16_t)strtoul(optarg, NULL, 10);
            break;
        case 'C':
            if (parse_hostport(optarg, &o->peer, &o->port))
                return -1;
            break;
        case 'c': o->conns = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'n': o->bytes = strtoull(optarg, NULL, 10); break;
        case 's': o->seed = strtoull(optarg, NULL, 0); break;
        case 't': o->seconds = atof(optarg); break;
        case 'F': o->faults = optarg; break;
        case 'S': o->fault_seed = strtoull(optarg, NULL, 0); break;
        case 'w': o->pcap = optarg; break;
        case 'o': o->xdp_obj = optarg; break;
        case 'm': o->xdp_mode = tool_xdp_mode(optarg); break;
        case 'N': o->pool_bufs = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'k':
            if (o->nknobs == MAX_KNOBS)
                return -1;
            o->knobs[o->nknobs++] = optarg;
            break;
        case 'H': o->hold = atof(optarg); break;
        case 'r': o->rx_bytes = strtoull(optarg, NULL, 10); break;
        case 'D': o->discard = 1; break;
        case 'v': o->verbose = 1; break;
        default: return -1;
        }
    }
    if (o->rx_bytes == UINT64_MAX)
        o->rx_bytes = o->bytes;
    if (!o->backend || !o->ifname || !o->ip || o->port == 0 || (!o->server && !o->peer) ||
        o->conns < 1 || o->conns > MAX_CONNS || o->seconds <= 0 || o->seconds > 3600 ||
        o->pool_bufs < 256 || o->hold < 0 || o->hold >= o->seconds)
        return -1;
    return 0;
}

/* "loss=2,reorder=5,dup=1,corrupt=0.5" (percent) into both directions of the wrapper. */
static int parse_faults(const char *spec, uint64_t seed, struct fn_fault_params *fp)
{
    char buf[256], *save = NULL;

    memset(fp, 0, sizeof(*fp));
    fp->seed = seed;
    if (strlen(spec) >= sizeof(buf))
        return -1;
    strcpy(buf, spec);
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        double pct;
        uint32_t ppm, *rx, *tx;

        if (!eq)
            return -1;
        *eq = 0;
        pct = atof(eq + 1);
        if (pct < 0 || pct > 100)
            return -1;
        ppm = (uint32_t)(pct * 10000.0 + 0.5);
        if (strcmp(tok, "loss") == 0)
            rx = &fp->rx.drop_ppm, tx = &fp->tx.drop_ppm;
        else if (strcmp(tok, "reorder") == 0)
            rx = &fp->rx.reorder_ppm, tx = &fp->tx.reorder_ppm;
        else if (strcmp(tok, "dup") == 0)
            rx = &fp->rx.dup_ppm, tx = &fp->tx.dup_ppm;
        else if (strcmp(tok, "corrupt") == 0)
            rx = &fp->rx.corrupt_ppm, tx = &fp->tx.corrupt_ppm;
        else
            return -1;
        *rx = *tx = ppm;
    }
    return 0;
}

static int apply_knobs(const struct opts *o, struct fn_config *cfg)
{
    for (int i = 0; i < o->nknobs; i++) {
        char name[64];
        const char *eq = strchr(o->knobs[i], '=');
        size_t n = eq ? (size_t)(eq - o->knobs[i]) : 0;

        if (!eq || n == 0 || n >= sizeof(name))
            return -1;
        memcpy(name, o->knobs[i], n);
        name[n] = 0;
        if (fn_config_knob_set(cfg, name, strtoll(eq + 1, NULL, 0)) != 0) {
            fprintf(stderr, "knob %s: unknown or out of range\n", o->knobs[i]);
            return -1;
        }
    }
    return 0;
}

/* Backend, wrappers, stack.  Returns 0 or prints why and returns -1. */
static int open_stack(struct run *r)
{
    const struct opts *o = &r->o;
    struct fn_backend *be, *w;
    struct fn_pool *pool;
    struct fn_config cfg;
    int rc;

    fn_config_defaults(&cfg);
    cfg.ip = o->ip;
    cfg.prefix_len = o->prefix_len;
    cfg.n_bufs = o->pool_bufs;
    if (apply_knobs(o, &cfg))
        return -1;
    if (tool_open_backend(&cfg, o->backend, o->ifname, o->xdp_mode, o->xdp_obj, &pool, &be))
        return -1;
    if (o->faults) {
        struct fn_fault_params fp;
        if (parse_faults(o->faults, o->fault_seed, &fp) ||
            fn_backend_fault_wrap(be, &fp, &w) != 0) {
            fprintf(stderr, "fault wrapper: bad spec %s\n", o->faults);
            fn_backend_close(be);
            fn_pool_destroy(pool);
            return -1;
        }
        be = w;
    }
    if (o->pcap) {
        rc = fn_backend_pcap_wrap(be, o->pcap, &w);
        if (rc) {
            fprintf(stderr, "pcap %s: %s\n", o->pcap, strerror(-rc));
            fn_backend_close(be);
            fn_pool_destroy(pool);
            return -1;
        }
        be = w;
    }
    rc = fn_stack_create(&cfg, pool, be, &r->st);
    if (rc) {
        fprintf(stderr, "stack: %s\n", strerror(-rc));
        fn_backend_close(be);
        fn_pool_destroy(pool);
        return -1;
    }
    return 0;
}

static int conn_init(struct run *r, struct tcpcb *tp)
{
    struct conn *c = &r->c[r->nconns];

    c->tp = tp;
    c->lport = fn_tcp_lport(tp);
    c->fport = fn_tcp_fport(tp);
    /* The pattern depends on the ports, so a connection's bytes do not depend on the order
     * in which connections were accepted. */
    c->rng = r->o.seed ^ ((uint64_t)c->lport << 32 | (uint64_t)c->fport << 16);
    c->h_sent = EVP_MD_CTX_new();
    c->h_recv = EVP_MD_CTX_new();
    if (!c->h_sent || !c->h_recv || !EVP_DigestInit_ex(c->h_sent, EVP_sha256(), NULL) ||
        !EVP_DigestInit_ex(c->h_recv, EVP_sha256(), NULL))
        return -1;
    c->hold_until = fn_clock_ns() + (uint64_t)(r->o.hold * 1e9);
    fn_tcp_set_user(tp, c);
    r->nconns++;
    return 0;
}

static void hex_digest(EVP_MD_CTX *h, char *out)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    EVP_DigestFinal_ex(h, md, &n);
    for (unsigned int i = 0; i < n && i < 32; i++)
        sprintf(out + 2 * i, "%02x", md[i]);
    out[64] = 0;
}

static void conn_release(struct run *r, struct conn *c, enum end how, uint64_t now)
{
    if (!c->tp)
        return;
    c->end = how;
    fn_tcp_close(c->tp, now);
    c->tp = NULL;
    r->finished++;
}

static void conn_send(struct run *r, struct conn *c, uint64_t now)
{
    if (now < c->hold_until)
        return;
    while (c->sent < r->o.bytes) {
        int n;

        if (c->chunk_off == c->chunk_len) {
            uint64_t left = r->o.bytes - c->sent;
            uint32_t len = left < CHUNK ? (uint32_t)left : CHUNK;
            for (uint32_t i = 0; i < len; i += 8) {
                uint64_t v = splitmix64(&c->rng);
                memcpy(c->chunk + i, &v, len - i < 8 ? len - i : 8);
            }
            c->chunk_off = 0;
            c->chunk_len = len;
        }
        n = fn_tcp_send(c->tp, c->chunk + c->chunk_off, c->chunk_len - c->chunk_off, now);
        if (n <= 0) {
            if (n != -EAGAIN)
                c->err = -n;
            return;
        }
        EVP_DigestUpdate(c->h_sent, c->chunk + c->chunk_off, (size_t)n);
        c->chunk_off += (uint32_t)n;
        c->sent += (uint64_t)n;
    }
    if (!c->shut && (r->o.bytes > 0 || c->eof)) {
        fn_tcp_shutdown_wr(c->tp, now);
        c->shut = 1;
    }
}

static void conn_recv(struct conn *c, int discard, uint64_t now)
{
    static uint8_t buf[CHUNK];

    while (!c->eof) {
        int n = fn_tcp_recv(c->tp, buf, sizeof(buf), now);
        if (n > 0) {
            if (!discard)
                EVP_DigestUpdate(c->h_recv, buf, (size_t)n);
            c->received += (uint64_t)n;
        } else if (n == 0) {
            c->eof = 1;
        } else {
            if (n != -EAGAIN)
                c->err = -n;
            return;
        }
    }
}

/* Move one connection along; release it when it is over. */
static void conn_service(struct run *r, struct conn *c, uint64_t now)
{
    int state;

    if (!c->tp)
        return;
    conn_recv(c, r->o.discard, now);
    if (!c->err)
        conn_send(r, c, now);
    if (!c->err && fn_tcp_error(c->tp))
        c->err = fn_tcp_error(c->tp);
    if (c->err) {
        conn_release(r, c, c->err == ECONNRESET ? END_RST
                           : c->err == ETIMEDOUT ? END_TIMEOUT
                                                 : END_ERROR, now);
        return;
    }
    state = fn_tcp_state(c->tp);
    /* Both FINs are through once ours is acked after the peer's arrived: TIME_WAIT (we
     * closed first) or CLOSED (LAST_ACK acked).  The tcpcb finishes TIME_WAIT alone. */
    if (c->eof && c->shut && (state == TCPS_TIME_WAIT || state == TCPS_CLOSED))
        conn_release(r, c, END_FIN, now);
}

static void accept_all(struct run *r)
{
    struct tcpcb *tp;

    while (r->nconns < r->o.conns && (tp = fn_tcp_accept(r->listener)) != NULL) {
        if (conn_init(r, tp)) {
            fn_tcp_abort(tp, fn_clock_ns());
            return;
        }
    }
}

static int start(struct run *r, uint64_t now)
{
    if (r->o.server)
        return fn_tcp_listen(r->st, r->o.port, 2 * MAX_CONNS, &r->listener);
    for (uint32_t i = 0; i < r->o.conns; i++) {
        struct tcpcb *tp;
        int rc = fn_tcp_connect(r->st, r->o.peer, r->o.port, 0, &tp, now);
        if (rc)
            return rc;
        if (conn_init(r, tp))
            return -ENOMEM;
    }
    return 0;
}

static void progress(const struct run *r, uint64_t now)
{
    struct fn_stats s;

    fn_stack_get_stats(r->st, &s);
    fprintf(stderr, "[%.1fs] conns %u finished %u rexmt %llu rto %llu |",
            (double)(now - r->start) / 1e9, r->nconns, r->finished,
            (unsigned long long)s.tcp_rexmt_segs, (unsigned long long)s.tcp_rexmt_timeout);
    for (uint32_t i = 0; i < r->nconns; i++) {
        const struct conn *c = &r->c[i];
        fprintf(stderr, " %u:%s%lluK/%lluK", c->fport,
                c->tp ? "" : end_names[c->end],
                (unsigned long long)(c->sent >> 10), (unsigned long long)(c->received >> 10));
    }
    fputc('\n', stderr);
}

static void print_json(struct run *r, double elapsed, uint32_t leaked,
                       const struct fn_stats *s, const struct fn_backend_stats *bs)
{
    printf("{\"mode\": \"%s\", \"backend\": \"%s\", \"elapsed_s\": %.3f, \"bytes\": %llu, "
           "\"conns\": [",
           r->o.server ? "server" : "client", r->o.backend, elapsed,
           (unsigned long long)r->o.bytes);
    for (uint32_t i = 0; i < r->nconns; i++) {
        const struct conn *c = &r->c[i];
        printf("%s{\"lport\": %u, \"fport\": %u, \"sent\": %llu, \"received\": %llu, "
               "\"sha256_sent\": \"%s\", \"sha256_received\": \"%s\", \"closed\": \"%s\", "
               "\"error\": %d}",
               i ? ", " : "", c->lport, c->fport, (unsigned long long)c->sent,
               (unsigned long long)c->received, c->hex_sent, c->hex_recv, end_names[c->end],
               c->err);
    }
    printf("], \"stats\": {");
    for (size_t i = 0; i < FN_STATS_COUNT; i++)
        printf("%s\"%s\": %llu", i ? ", " : "", fn_stats_names[i],
               (unsigned long long)((const uint64_t *)s)[i]);
    printf("}, \"backend_stats\": {\"rx_packets\": %llu, \"tx_packets\": %llu, "
           "\"rx_nobuf\": %llu, \"rx_errors\": %llu, \"tx_drops\": %llu, "
           "\"fault_dropped\": %llu, \"fault_duplicated\": %llu, \"fault_reordered\": %llu, "
           "\"fault_corrupted\": %llu}, \"pool_in_use\": %u, "
           "\"loop\": {\"iterations\": %llu, \"idle_iterations\": %llu, \"sleeps\": %llu, "
           "\"sleep_ns\": %llu, \"active_ns\": %llu}}\n",
           (unsigned long long)bs->rx_packets, (unsigned long long)bs->tx_packets,
           (unsigned long long)bs->rx_nobuf, (unsigned long long)bs->rx_errors,
           (unsigned long long)bs->tx_drops, (unsigned long long)bs->fault_dropped,
           (unsigned long long)bs->fault_duplicated, (unsigned long long)bs->fault_reordered,
           (unsigned long long)bs->fault_corrupted, leaked,
           (unsigned long long)r->iterations, (unsigned long long)r->idle_iterations,
           (unsigned long long)r->sleeps, (unsigned long long)r->sleep_ns,
           (unsigned long long)r->active_ns);
    fflush(stdout);
}

/* Sleep on the backend's fd until the stack's next deadline (bounded, so signals and the
 * run's own timeout are noticed). */
static void wait_for_work(struct run *r)
{
    uint64_t now = fn_clock_ns(), due = fn_stack_next_deadline(r->st);
    struct pollfd pfd = {.fd = fn_stack_fd(r->st), .events = POLLIN};
    int ms;

    if (due <= now)
        return;
    ms = due - now >= (uint64_t)POLL_MAX_MS * 1000000u ? POLL_MAX_MS
                                                       : (int)((due - now + 999999u) / 1000000u);
    if (pfd.fd >= 0)
        poll(&pfd, 1, ms);
    else
        usleep((useconds_t)ms * 1000u);
    if (r->active) {
        r->sleeps++;
        r->sleep_ns += fn_clock_ns() - now;
    }
}

static int run_loop(struct run *r)
{
    struct fn_tcp_event ev[64];
    uint64_t end = r->start + (uint64_t)(r->o.seconds * 1e9), linger_end = 0, next_log;
    uint64_t last = r->start;
    int rc;

    next_log = r->start + 2000000000ull;
    while (!stop_flag) {
        uint64_t now = fn_clock_ns();
        int n;

        rc = fn_stack_poll(r->st, now);
        if (rc < 0) {
            fprintf(stderr, "backend: %s\n", strerror(-rc));
            return -1;
        }
        if (r->active) {
            r->active_ns += now - last;
            r->iterations++;
            if (rc == 0)
                r->idle_iterations++;
        }
        last = now;
        do {
            n = fn_tcp_ready(r->st, ev, 64);
            for (int i = 0; i < n; i++) {
                if (ev[i].tp == r->listener)
                    accept_all(r);
            }
        } while (n == 64);
        for (uint32_t i = 0; i < r->nconns; i++)
            conn_service(r, &r->c[i], now);
        if (r->o.verbose && now >= next_log) {
            progress(r, now);
            next_log = now + 2000000000ull;
        }
        r->active = r->nconns > r->finished;
        if (r->finished == r->o.conns && linger_end == 0)
            linger_end = now + LINGER_NS;
        if ((linger_end && now >= linger_end) || now >= end)
            break;
        wait_for_work(r);
    }
    return 0;
}

int main(int argc, char **argv)
{
    static struct run run;
    struct run *r = &run;
    struct fn_backend_stats bs;
    struct fn_stats s;
    struct sigaction sa;
    uint32_t leaked, ok = 1;
    double elapsed;
    int rc;

    if (parse_opts(argc, argv, &r->o)) {
        usage(argv[0]);
        return 2;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    r->c = calloc(r->o.conns, sizeof(*r->c));
    if (!r->c || open_stack(r))
        return 2;
    r->start = fn_clock_ns();
    fn_stack_start(r->st, r->start);
    rc = start(r, r->start);
    if (rc) {
        fprintf(stderr, "%s: %s\n", r->o.server ? "listen" : "connect", strerror(-rc));
        fn_stack_destroy(r->st);
        return 2;
    }
    if (r->o.server)
        fprintf(stderr, "tool_tcp_peer: listening on port %u\n", r->o.port);
    else
        fprintf(stderr, "tool_tcp_peer: connecting %u\n", r->o.conns);
    fflush(stderr);
    rc = run_loop(r);
    elapsed = (double)(fn_clock_ns() - r->start) / 1e9;
    if (r->o.verbose)
        progress(r, fn_clock_ns());
    fn_stack_get_stats(r->st, &s);
    bs = fn_stack_backend(r->st)->stats;
    for (uint32_t i = 0; i < r->nconns; i++) {
        struct conn *c = &r->c[i];
        if (c->tp) {
            fn_tcp_abort(c->tp, fn_clock_ns());
            c->tp = NULL;
        }
        hex_digest(c->h_sent, c->hex_sent);
        hex_digest(c->h_recv, c->hex_recv);
        EVP_MD_CTX_free(c->h_sent);
        EVP_MD_CTX_free(c->h_recv);
        if (c->end != END_FIN || c->sent != r->o.bytes || c->received != r->o.rx_bytes)
            ok = 0;
    }
    if (r->nconns != r->o.conns)
        ok = 0;
    /* Destroying the stack closes the backend: the XDP program is detached here. */
    leaked = fn_stack_destroy(r->st);
    print_json(r, elapsed, leaked, &s, &bs);
    free(r->c);
    return rc == 0 && ok && leaked == 0 ? 0 : 1;
}
