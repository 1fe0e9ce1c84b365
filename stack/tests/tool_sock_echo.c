/*
 * tool_sock_echo.c — a TCP echo server written against the C socket API only (issue 4).
 *
 *   tool_sock_echo -b BACKEND -i IFNAME -a IPV4/PREFIX -l PORT [-o XDP_OBJ]
 *                  [-m auto|native|skb] [-N POOL_BUFFERS] [-t SECONDS] [-E]
 *
 * Opens BACKEND (af_xdp | af_packet | tap) on IFNAME, creates one stack on it and serves an
 * echo on PORT for any number of clients at once, using nothing but fn_socket, fn_setsockopt,
 * fn_bind, fn_listen, fn_accept4, fn_epoll_create1/ctl/wait, fn_recv, fn_send and fn_close on
 * non-blocking sockets — the code an application ported from Linux sockets would have.
 * Level-triggered by default (the interest follows the buffer: EPOLLIN while there is room,
 * EPOLLOUT while echo bytes wait, changed with EPOLL_CTL_MOD); -E registers once with
 * EPOLLET and drains on every edge.  fn_epoll_wait drives the stack (it polls it and sleeps
 * on the backend's fd), so there is no loop of its own around fn_stack_poll.
 *
 * A client's bytes come back in order; after its FIN and the last echoed byte the socket is
 * closed (our FIN follows the data), which is how `nc -N` sees everything and then EOF.
 * It says "listening" on stderr once started.  On SIGINT/SIGTERM (or after SECONDS) it closes
 * every socket, destroys the stack (closing the backend detaches the XDP program) and prints
 * one JSON line on stdout: its counters, the stack's counters and the pool buffers in use
 * after the stack was destroyed (must be 0).
 *
 * Exit status: 0 when no buffer leaked, 1 otherwise, 2 for bad arguments or a failure to
 * start.  Test code, not part of the library.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fastnet/fn_backend.h"
#include "fastnet/fn_event.h"
#include "fastnet/fn_socket.h"
#include "fastnet/fn_stack.h"
#include "platform/fn_platform.h"
#include "tool_common.h"

#define ECHO_BUF     65536u
#define MAX_EVENTS   64
#define WAIT_MS      100        /* bounds each wait, so a signal or -t is noticed */

static volatile sig_atomic_t stop_flag;

struct opts {
    const char *backend, *ifname, *xdp_obj;
    uint32_t ip, pool_bufs;
    uint8_t prefix_len;
    uint16_t port;
    int edge;
    double seconds;
    enum fn_xdp_mode xdp_mode;
};

/* One client: bytes received and not yet echoed sit in buf[head, tail). */
struct client {
    uint32_t head, tail;
    uint32_t interest;          /* level-triggered: the mask registered now */
    int eof;                    /* the client's FIN arrived */
    uint8_t buf[ECHO_BUF];
};

struct counters {
    uint64_t accepted, completed, failed, accept_errors;
    uint64_t bytes_received, bytes_sent;
    uint64_t open, max_open, open_at_exit;
};

struct server {
    struct opts o;
    struct fn_stack *st;
    int lfd, ep;
    struct client **clients;    /* by descriptor; cfg.tcp_max_sockets entries */
    uint32_t nslots;
    struct counters n;
};

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s -b BACKEND -i IFNAME -a IPV4/PREFIX -l PORT [-o XDP_OBJ]\n"
            "       [-m auto|native|skb] [-N POOL_BUFFERS] [-t SECONDS] [-E]\n",
            argv0);
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
    int opt;

    memset(o, 0, sizeof(*o));
    o->pool_bufs = 16384;
    o->seconds = 3600;
    while ((opt = getopt(argc, argv, "b:i:a:l:o:m:N:t:E")) != -1) {
        switch (opt) {
        case 'b': o->backend = optarg; break;
        case 'i': o->ifname = optarg; break;
        case 'a':
            if (tool_parse_cidr(optarg, &o->ip, &o->prefix_len))
                return -1;
            break;
        case 'l': o->port = (uint16_t)strtoul(optarg, NULL, 10); break;
        case 'o': o->xdp_obj = optarg; break;
        case 'm': o->xdp_mode = tool_xdp_mode(optarg); break;
        case 'N': o->pool_bufs = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 't': o->seconds = atof(optarg); break;
        case 'E': o->edge = 1; break;
        default: return -1;
        }
    }
    if (!o->backend || !o->ifname || !o->ip || o->port == 0 || o->pool_bufs < 256 ||
        o->seconds <= 0 || o->seconds > 86400)
        return -1;
    return 0;
}

static int open_stack(struct server *s)
{
    struct fn_backend *be;
    struct fn_pool *pool;
    struct fn_config cfg;
    int rc;

    fn_config_defaults(&cfg);
    cfg.ip = s->o.ip;
    cfg.prefix_len = s->o.prefix_len;
    cfg.n_bufs = s->o.pool_bufs;
    if (tool_open_backend(&cfg, s->o.backend, s->o.ifname, s->o.xdp_mode, s->o.xdp_obj, &pool,
                          &be))
        return -1;
    rc = fn_stack_create(&cfg, pool, be, &s->st);
    if (rc) {
        fprintf(stderr, "stack: %s\n", strerror(-rc));
        fn_backend_close(be);
        fn_pool_destroy(pool);
        return -1;
    }
    s->nslots = cfg.tcp_max_sockets;
    s->clients = calloc(s->nslots, sizeof(*s->clients));
    return s->clients ? 0 : -1;
}

/* The listener and the epoll set: the calls any Linux echo server makes. */
static int open_listener(struct server *s)
{
    struct sockaddr_in a;
    struct epoll_event ev = {.events = EPOLLIN};
    int one = 1;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons(s->o.port);
    a.sin_addr.s_addr = htonl(INADDR_ANY);
    s->lfd = fn_socket(s->st, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    s->ep = fn_epoll_create1(s->st, 0);
    if (s->lfd < 0 || s->ep < 0 ||
        fn_setsockopt(s->st, s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        fn_bind(s->st, s->lfd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        fn_listen(s->st, s->lfd, 128) < 0)
        return -1;
    ev.data.fd = s->lfd;
    return fn_epoll_ctl(s->st, s->ep, EPOLL_CTL_ADD, s->lfd, &ev);
}

enum end { END_DONE, END_FAILED, END_AT_EXIT };

static void client_close(struct server *s, int fd, enum end how)
{
    free(s->clients[fd]);
    s->clients[fd] = NULL;
    fn_close(s->st, fd);
    s->n.open--;
    if (how == END_DONE)
        s->n.completed++;
    else if (how == END_FAILED)
        s->n.failed++;
}

/* Level-triggered interest follows the buffer, so a writable socket with nothing to echo
 * does not report EPOLLOUT on every wait. */
static uint32_t client_want(const struct client *c)
{
    uint32_t want = c->tail > c->head ? EPOLLOUT : 0;

    if (!c->eof && c->tail < ECHO_BUF)
        want |= EPOLLIN | EPOLLRDHUP;
    return want;
}

static int client_register(struct server *s, int fd, struct client *c, int op)
{
    struct epoll_event ev;

    c->interest = s->o.edge ? EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET : client_want(c);
    ev.events = c->interest;
    ev.data.fd = fd;
    return fn_epoll_ctl(s->st, s->ep, op, fd, &ev);
}

static void accept_all(struct server *s)
{
    for (;;) {
        int fd = fn_accept4(s->st, s->lfd, NULL, NULL, SOCK_NONBLOCK);
        struct client *c;

        if (fd < 0) {
            if (errno != EAGAIN)
                s->n.accept_errors++;
            return;
        }
        c = (uint32_t)fd < s->nslots ? calloc(1, sizeof(*c)) : NULL;
        if (!c || client_register(s, fd, c, EPOLL_CTL_ADD) < 0) {
            free(c);
            fn_close(s->st, fd);
            s->n.accept_errors++;
            continue;
        }
        s->clients[fd] = c;
        s->n.accepted++;
        if (++s->n.open > s->n.max_open)
            s->n.max_open = s->n.open;
    }
}

/* Move bytes in and out until neither direction makes progress.  Returns 0 to keep the
 * client, 1 when it is done (its FIN came and all was echoed), -1 on a socket error. */
static int client_pump(struct server *s, int fd, struct client *c)
{
    int progress;

    do {
        ssize_t n;

        progress = 0;
        if (c->head == c->tail)
            c->head = c->tail = 0;
        if (!c->eof && c->tail < ECHO_BUF) {
            n = fn_recv(s->st, fd, c->buf + c->tail, ECHO_BUF - c->tail, 0);
            if (n > 0) {
                c->tail += (uint32_t)n;
                s->n.bytes_received += (uint64_t)n;
                progress = 1;
            } else if (n == 0) {
                c->eof = 1;
            } else if (errno != EAGAIN) {
                return -1;
            }
        }
        if (c->tail > c->head) {
            n = fn_send(s->st, fd, c->buf + c->head, c->tail - c->head, 0);
            if (n > 0) {
                c->head += (uint32_t)n;
                s->n.bytes_sent += (uint64_t)n;
                progress = 1;
            } else if (n < 0 && errno != EAGAIN) {
                return -1;
            }
        }
    } while (progress);
    return c->eof && c->head == c->tail ? 1 : 0;
}

/* Whatever the event mask says, the pump finds out: fn_recv returns data, then EOF, then a
 * pending error (EPOLLERR / EPOLLHUP), as Linux's tcp_recvmsg. */
static void client_event(struct server *s, int fd)
{
    struct client *c = (uint32_t)fd < s->nslots ? s->clients[fd] : NULL;
    int rc;

    if (!c)
        return;
    rc = client_pump(s, fd, c);
    if (rc != 0) {
        client_close(s, fd, rc > 0 ? END_DONE : END_FAILED);
        return;
    }
    if (!s->o.edge && client_want(c) != c->interest &&
        client_register(s, fd, c, EPOLL_CTL_MOD) < 0)
        client_close(s, fd, END_FAILED);
}

static int serve(struct server *s)
{
    struct epoll_event evs[MAX_EVENTS];
    uint64_t end = fn_clock_ns() + (uint64_t)(s->o.seconds * 1e9);

    while (!stop_flag && fn_clock_ns() < end) {
        int n = fn_epoll_wait(s->st, s->ep, evs, MAX_EVENTS, WAIT_MS);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "epoll_wait: %s\n", strerror(errno));
            return -1;
        }
        for (int i = 0; i < n; i++) {
            if (evs[i].data.fd == s->lfd)
                accept_all(s);
            else
                client_event(s, evs[i].data.fd);
        }
    }
    return 0;
}

static void print_json(const struct server *s, const struct fn_stats *st, uint32_t leaked)
{
    const struct counters *n = &s->n;

    printf("{\"backend\": \"%s\", \"edge_triggered\": %s, \"accepted\": %llu, "
           "\"completed\": %llu, \"failed\": %llu, \"accept_errors\": %llu, "
           "\"open_at_exit\": %llu, \"max_open\": %llu, \"bytes_received\": %llu, "
           "\"bytes_sent\": %llu, \"stats\": {",
           s->o.backend, s->o.edge ? "true" : "false", (unsigned long long)n->accepted,
           (unsigned long long)n->completed, (unsigned long long)n->failed,
           (unsigned long long)n->accept_errors, (unsigned long long)n->open_at_exit,
           (unsigned long long)n->max_open, (unsigned long long)n->bytes_received,
           (unsigned long long)n->bytes_sent);
    for (size_t i = 0; i < FN_STATS_COUNT; i++)
        printf("%s\"%s\": %llu", i ? ", " : "", fn_stats_names[i],
               (unsigned long long)((const uint64_t *)st)[i]);
    printf("}, \"pool_in_use\": %u}\n", leaked);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    static struct server srv;
    struct server *s = &srv;
    struct sigaction sa;
    struct fn_stats st;
    uint32_t leaked;
    int rc;

    if (parse_opts(argc, argv, &s->o)) {
        usage(argv[0]);
        return 2;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (open_stack(s))
        return 2;
    fn_stack_start(s->st, fn_clock_ns());
    if (open_listener(s) < 0) {
        fprintf(stderr, "listen on port %u: %s\n", s->o.port, strerror(errno));
        fn_stack_destroy(s->st);
        free(s->clients);
        return 2;
    }
    fprintf(stderr, "tool_sock_echo: listening on port %u (%s-triggered)\n", s->o.port,
            s->o.edge ? "edge" : "level");
    fflush(stderr);
    rc = serve(s);
    s->n.open_at_exit = s->n.open;
    for (uint32_t fd = 0; fd < s->nslots; fd++) {
        if (s->clients[fd])
            client_close(s, (int)fd, END_AT_EXIT);
    }
    fn_close(s->st, s->lfd);
    fn_close(s->st, s->ep);
    fn_stack_get_stats(s->st, &st);
    /* Destroying the stack closes the backend: the XDP program is detached here. */
    leaked = fn_stack_destroy(s->st);
    print_json(s, &st, leaked);
    free(s->clients);
    return rc == 0 && leaked == 0 ? 0 : 1;
}
