/*
 * http_echo_native.c — the HTTP/1.1 echo server of apps/http_echo with all per-request work
 * in C: fastnet's socket API (fn_socket.h, fn_event.h) on one stack, llhttp as the parser.
 * This is the F-Stack-with-nginx comparison point of issue 6; apps.http_echo.native.serve()
 * builds it (Makefile) and runs it with the `fastnet up` flags translated to the options
 * below.
 *
 *   http_echo_native --backend B --iface IF --ip A.B.C.D/LEN --port P [--host H]
 *       [--gateway IP] [--queue N] [--xdp-mode auto|native|skb] [--xdp-obj PATH]
 *       [--pcap PATH] [--knob NAME=VALUE]... [--fault-seed N] [--fault rx|tx:FIELD=N]...
 *       [--max-body BYTES] [--max-header BYTES] [--idle-timeout SEC]
 *       [--log-level error|warning|info|debug]
 *
 * --knob sets a struct fn_config field by name (fn_config_knob_set: mtu, n_bufs, tcp_*, ...);
 * --fault sets one fn_fault_dir field (drop_ppm, dup_ppm, reorder_ppm, corrupt_ppm,
 * delay_ppm, delay_ns, rate_bps, burst_bytes) and wraps the backend in the fault wrapper.
 *
 * Behaviour (CONTRACT.md §2, the same as the asyncio app apps/http_echo/server.py): GET answers
 * 200 with a text/plain body of the request head as parsed (the request line: method, target,
 * version; each header as "name: value" with name and value as received, in order; the blank
 * line ending the head; every line CRLF-terminated); HEAD answers the headers of that response
 * without the body; POST and PUT answer 200 with the request body (Content-Length or chunked)
 * as application/octet-stream; other methods 405 with Allow, the connection staying usable.
 * Every response has Content-Length and Date.  HTTP/1.1 keeps the connection alive unless the
 * request says `Connection: close` (HTTP/1.0 only with `Connection: keep-alive`); an Upgrade
 * request is answered as a plain one and the connection closed after it.  Pipelined requests
 * are answered in order, and all responses to the requests found in one read leave in one send.
 * 400 for what llhttp rejects; 413 for a body over --max-body (from Content-Length before the
 * body is read, or as chunked data passes the limit); 431 for a head over --max-header bytes;
 * each error closes the connection after the response.  `Expect: 100-continue` is answered
 * before the body.  A connection without traffic for --idle-timeout seconds is closed.  Closing
 * is lingering: our FIN follows the last response, and input is read and dropped until the
 * peer's FIN or 2 s, so a response is not lost to a reset.
 *
 * The loop: fn_stack_poll, fn_epoll_wait with timeout 0 over non-blocking, level-triggered
 * sockets (interest follows the buffers: EPOLLIN while we may read, EPOLLOUT while output
 * waits), and, when one round found nothing to do, ppoll(2) on fn_stack_fd() until the
 * earlier of the stack's next deadline and the next idle timeout — idle costs no CPU.
 * Per-connection memory: the llhttp state and three buffers that grow on demand (input up
 * to max-header + 64 KiB, the current body up to max-body, pending output); all three are
 * released while the connection waits between requests.  Reading stops while more than
 * 1 MiB of output waits (a client that pipelines without reading is held back by TCP, not
 * by our memory).
 *
 * Prints `http_echo: listening on H:P (loop=native)` on stderr when ready.  SIGINT/SIGTERM:
 * every connection is closed and the stack destroyed (closing the backend detaches XDP).
 * Exit status: 0; 1 when it cannot start (the stack does not open, the address cannot be
 * listened on), the backend failed, or packet buffers were still in use after the stack was
 * destroyed (a leak); 2 for bad arguments.  Reasons go to stderr as `http_echo: ...`.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "fastnet/fn_backend.h"
#include "fastnet/fn_config.h"
#include "fastnet/fn_event.h"
#include "fastnet/fn_pkt.h"
#include "fastnet/fn_socket.h"
#include "fastnet/fn_stack.h"
#include "llhttp.h"
#include "platform/fn_platform.h"

#define MAX_EVENTS   256
#define RBUF_MIN     4096u
#define RBUF_EXTRA   65536u          /* input room beyond max-header (pipelined requests) */
#define OUT_HIGH     (1u << 20)      /* stop reading while this much output waits */
#define KEEP_CAP     (64u << 10)     /* drained buffers larger than this are released */
#define LINGER_NS    2000000000ull   /* a lingering close waits this long for the peer's FIN */

static volatile sig_atomic_t stop_flag;

struct opts {
    const char *backend, *iface, *xdp_obj, *pcap;
    struct fn_config cfg;
    uint32_t queue;
    enum fn_xdp_mode xdp_mode;
    int napi_poll;
    uint32_t napi_hold_us;
    int rx_moderation;          /* FN_RX_MODERATION_* */
    struct fn_fault_params fault;
    int use_fault;
    uint32_t host;              /* network order; 0 = the stack's address */
    uint16_t port;
    uint64_t max_body;
    uint64_t max_header;
    uint64_t idle_ns;
};

struct buf {
    char *p;
    size_t len, cap;
};

/* The headers the server looks at; every other name is only echoed. */
enum hdr_kind { HDR_OTHER, HDR_EXPECT };

/* A FIFO of connections that all expire the same time after last_ns: the idle list
 * (idle-timeout after the last activity) and the linger list (LINGER_NS after our FIN). */
struct conn_list {
    struct conn *head, *tail;
    uint64_t timeout_ns;
};

struct conn {
    int fd;
    llhttp_t parser;
    struct conn_list *list;     /* which list holds it */
    struct conn *prev, *next;
    uint64_t last_ns;
    /* Input: rbuf[0, rlen) received, [0, rpos) fed to the parser.  While the head of the
     * current request is incomplete (in_head), its bytes start at msg_start and stay, so
     * that rpos - msg_start is its size so far (the --max-header check). */
    char *rbuf;
    size_t rlen, rcap, rpos, msg_start;
    int in_head;
    int resumed;                /* the parser paused and may have more to say with no input */
    /* The response body being collected: for GET/HEAD the head as parsed (the request line,
     * one "name: value" line per header and the blank line, each CRLF-terminated), for
     * POST/PUT the request body. */
    struct buf body;
    int keep_body;              /* POST/PUT: the request body is the response */
    uint64_t body_seen;         /* request body bytes so far (every method counts) */
    int head_seen;              /* on_headers_complete ran: fields now are trailers */
    size_t field_at, value_at;  /* where the current header's name / value start in body */
    enum hdr_kind hdr;
    int expect_continue;
    struct buf out;             /* responses not yet sent: out.p[out_off, out.len) */
    size_t out_off;
    int status;                 /* an error decided in a callback (413, 500) */
    int closing;                /* answer no more; close once the output is out */
    int draining;               /* our FIN sent: discard input until the peer's FIN */
    int eof;                    /* the peer's FIN arrived */
    uint32_t interest;
};

struct server {
    struct opts o;
    struct fn_stack *st;
    int lfd, ep;
    struct conn **conns;        /* by descriptor */
    uint32_t nslots;
    struct conn_list idle, linger;
    llhttp_settings_t settings;
    uint64_t now;
    time_t date_sec;
    char date[64];              /* "Date: ...\r\n" of date_sec (RFC 9110 §6.6.1) */
    int closed_some;            /* a close queued output the next poll must flush */
    int accept_paused;          /* the descriptor table is full: listener not watched */
};

static struct server *g_srv;    /* for the llhttp callbacks, which see only the parser */

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

/* ---- buffers ---- */

static int buf_reserve(struct buf *b, size_t extra)
{
    size_t need = b->len + extra, cap = b->cap ? b->cap : 256;
    char *p;

    if (need <= b->cap)
        return 0;
    while (cap < need)
        cap *= 2;
    p = realloc(b->p, cap);
    if (!p)
        return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

static int buf_add(struct buf *b, const void *data, size_t n)
{
    if (buf_reserve(b, n))
        return -1;
    memcpy(b->p + b->len, data, n);
    b->len += n;
    return 0;
}

static void buf_drop(struct buf *b)
{
    b->len = 0;
    if (b->cap > KEEP_CAP) {
        free(b->p);
        b->p = NULL;
        b->cap = 0;
    }
}

static void buf_free(struct buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* ---- responses ---- */

static void update_date(struct server *s)
{
    time_t t = time(NULL);
    struct tm tm;

    if (t == s->date_sec)
        return;
    s->date_sec = t;
    gmtime_r(&t, &tm);
    strftime(s->date, sizeof(s->date), "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
}

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 405: return "Method Not Allowed";
    case 413: return "Content Too Large";
    case 431: return "Request Header Fields Too Large";
    default: return "Internal Server Error";
    }
}

enum conn_hdr { CONN_NONE, CONN_CLOSE, CONN_KEEP_ALIVE };

/* One response into c->out: status line, Content-Type, Content-Length, Date, Connection,
 * extra header lines, then the body unless send_body is 0 (HEAD). */
static int respond(struct conn *c, int status, const char *ctype, const char *body,
                   size_t len, int send_body, enum conn_hdr conn, const char *extra)
{
    char head[512];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%s%s\r\n",
                     status, reason(status), ctype, len, g_srv->date,
                     conn == CONN_CLOSE ? "Connection: close\r\n"
                     : conn == CONN_KEEP_ALIVE ? "Connection: keep-alive\r\n" : "",
                     extra ? extra : "");

    if (n < 0 || (size_t)n >= sizeof(head) || buf_add(&c->out, head, (size_t)n))
        return -1;
    return send_body && len ? buf_add(&c->out, body, len) : 0;
}

/* An error answer ends the conversation: nothing after it is parsed. */
static void respond_error(struct conn *c, int status)
{
    char body[64];
    int n = snprintf(body, sizeof(body), "%s\n", reason(status));

    c->closing = 1;
    if (respond(c, status, "text/plain", body, (size_t)n, 1, CONN_CLOSE, NULL))
        c->out.len = c->out_off;        /* out of memory: just close */
}

/* ---- llhttp callbacks (the parser's data points at the connection) ----
 * While the head is parsed, the request line and the header lines are rebuilt into
 * c->body from llhttp's spans (which may come in pieces, one per read). */

static int echo_add(struct conn *c, const void *data, size_t n)
{
    if (buf_add(&c->body, data, n)) {
        c->status = 500;
        return -1;
    }
    return 0;
}

static int on_message_begin(llhttp_t *p)
{
    struct conn *c = p->data;

    c->body.len = 0;
    c->keep_body = 0;
    c->body_seen = 0;
    c->head_seen = 0;
    c->status = 0;
    c->expect_continue = 0;
    c->field_at = SIZE_MAX;
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
    struct conn *c = p->data;

    if (c->body.len == 0) {
        const char *m = llhttp_method_name((llhttp_method_t)p->method);

        if (echo_add(c, m, strlen(m)) || echo_add(c, " ", 1))
            return -1;
    }
    return echo_add(c, at, len);
}

static int on_version_complete(llhttp_t *p)
{
    struct conn *c = p->data;
    char v[32];
    int n = snprintf(v, sizeof(v), " HTTP/%u.%u\r\n", p->http_major, p->http_minor);

    return echo_add(c, v, (size_t)n);
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    struct conn *c = p->data;

    if (c->head_seen)
        return 0;               /* a chunked body's trailer: not part of the head */
    if (c->field_at == SIZE_MAX)
        c->field_at = c->body.len;
    return echo_add(c, at, len);
}

static int on_header_field_complete(llhttp_t *p)
{
    struct conn *c = p->data;
    const char *name;
    size_t n;

    if (c->head_seen)
        return 0;
    name = c->body.p + c->field_at;
    n = c->body.len - c->field_at;
    c->hdr = n == 6 && strncasecmp(name, "expect", 6) == 0 ? HDR_EXPECT : HDR_OTHER;
    c->field_at = SIZE_MAX;
    if (echo_add(c, ": ", 2))
        return -1;
    c->value_at = c->body.len;
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    struct conn *c = p->data;

    return c->head_seen ? 0 : echo_add(c, at, len);
}

static int on_header_value_complete(llhttp_t *p)
{
    struct conn *c = p->data;
    size_t n;

    if (c->head_seen)
        return 0;
    n = c->body.len - c->value_at;
    if (c->hdr == HDR_EXPECT && n == 12 &&
        strncasecmp(c->body.p + c->value_at, "100-continue", 12) == 0)
        c->expect_continue = 1;
    return echo_add(c, "\r\n", 2);
}

/* Pause, so that the caller knows where the head ended (llhttp_get_error_pos). */
static int on_headers_complete(llhttp_t *p)
{
    struct conn *c = p->data;

    c->head_seen = 1;
    if (echo_add(c, "\r\n", 2))       /* the blank line that ends the head */
        return -1;
    return HPE_PAUSED;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    struct conn *c = p->data;

    (void)p;
    /* Every method's body counts against the limit; only POST/PUT keep theirs. */
    c->body_seen += len;
    if (c->body_seen > g_srv->o.max_body) {
        c->status = 413;
        return -1;
    }
    return c->keep_body ? echo_add(c, at, len) : 0;
}

static int on_message_complete(llhttp_t *p)
{
    struct conn *c = p->data;
    /* An Upgrade is answered as a plain request; what follows it would be a protocol this
     * server does not speak, so the connection ends after the answer. */
    int keep = llhttp_should_keep_alive(p) && !p->upgrade;
    enum conn_hdr conn = !keep                                      ? CONN_CLOSE
                         : p->http_major == 1 && p->http_minor == 0 ? CONN_KEEP_ALIVE
                                                                    : CONN_NONE;
    int rc;

    if (p->method == HTTP_GET || p->method == HTTP_HEAD)
        rc = respond(c, 200, "text/plain", c->body.p, c->body.len, p->method == HTTP_GET,
                     conn, NULL);
    else if (c->keep_body)
        rc = respond(c, 200, "application/octet-stream", c->body.p, c->body.len, 1, conn,
                     NULL);
    else
        rc = respond(c, 405, "text/plain", "GET, HEAD, POST, PUT\n", 21, 1, conn,
                     "Allow: GET, HEAD, POST, PUT\r\n");
    buf_drop(&c->body);
    if (rc) {
        c->status = 500;
        return -1;
    }
    if (!keep)
        c->closing = 1;
    /* Pause so the caller learns where the next request starts. */
    return HPE_PAUSED;
}

static void settings_init(llhttp_settings_t *s)
{
    llhttp_settings_init(s);
    s->on_message_begin = on_message_begin;
    s->on_url = on_url;
    s->on_version_complete = on_version_complete;
    s->on_header_field = on_header_field;
    s->on_header_field_complete = on_header_field_complete;
    s->on_header_value = on_header_value;
    s->on_header_value_complete = on_header_value_complete;
    s->on_headers_complete = on_headers_complete;
    s->on_body = on_body;
    s->on_message_complete = on_message_complete;
}

/* ---- the idle and linger lists ---- */

static void list_unlink(struct conn *c)
{
    struct conn_list *l = c->list;

    if (c->prev)
        c->prev->next = c->next;
    else
        l->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        l->tail = c->prev;
    c->prev = c->next = NULL;
    c->list = NULL;
}

static void list_append(struct conn_list *l, struct conn *c, uint64_t now)
{
    c->list = l;
    c->last_ns = now;
    c->prev = l->tail;
    c->next = NULL;
    if (l->tail)
        l->tail->next = c;
    else
        l->head = c;
    l->tail = c;
}

/* Activity restarts the idle timeout; a lingering close keeps its deadline. */
static void touch(struct server *s, struct conn *c)
{
    if (c->list != &s->idle)
        return;
    if (s->idle.tail != c) {
        list_unlink(c);
        list_append(&s->idle, c, s->now);
    } else {
        c->last_ns = s->now;
    }
}

static uint64_t list_deadline(const struct conn_list *l)
{
    return l->head ? l->head->last_ns + l->timeout_ns : UINT64_MAX;
}

/* ---- connections ---- */

static void watch_listener(struct server *s, int on)
{
    struct epoll_event ev = {.events = on ? EPOLLIN : 0, .data.fd = s->lfd};

    if (fn_epoll_ctl(s->st, s->ep, EPOLL_CTL_MOD, s->lfd, &ev) == 0)
        s->accept_paused = !on;
}

static void conn_close(struct server *s, struct conn *c)
{
    list_unlink(c);
    s->conns[c->fd] = NULL;
    fn_close(s->st, c->fd);
    s->closed_some = 1;
    if (s->accept_paused)
        watch_listener(s, 1);   /* a descriptor is free again */
    free(c->rbuf);
    free(c->body.p);
    free(c->out.p);
    free(c);
}

static size_t out_pending(const struct conn *c)
{
    return c->out.len - c->out_off;
}

/* Where the bytes still needed start: the current head while it is incomplete, else what
 * the parser has not seen. */
static size_t keep_from(const struct conn *c)
{
    return c->in_head ? c->msg_start : c->rpos;
}

static size_t rbuf_max(const struct server *s)
{
    return (size_t)s->o.max_header + RBUF_EXTRA;
}

/* Room for the next read: compact, then grow up to rbuf_max.  0 when there is none. */
static size_t rbuf_room(struct server *s, struct conn *c)
{
    size_t from = keep_from(c);

    if (c->rlen == c->rcap && from > 0) {
        memmove(c->rbuf, c->rbuf + from, c->rlen - from);
        c->rlen -= from;
        c->rpos -= from;
        c->msg_start -= from < c->msg_start ? from : c->msg_start;
    }
    if (c->rlen == c->rcap && c->rcap < rbuf_max(s)) {
        size_t cap = c->rcap ? c->rcap * 2 : RBUF_MIN;
        char *p;

        if (cap > rbuf_max(s))
            cap = rbuf_max(s);
        p = realloc(c->rbuf, cap);
        if (!p)
            return 0;
        c->rbuf = p;
        c->rcap = cap;
    }
    return c->rcap - c->rlen;
}

/* After the head: the checks that need all of it, then set up for the body.  Returns an
 * error status or 0. */
static int head_done(struct server *s, struct conn *c)
{
    llhttp_t *p = &c->parser;
    size_t start = c->msg_start;
    int v11 = p->http_major == 1 && p->http_minor == 1;

    /* llhttp skips empty lines before a request (RFC 9112 §2.2); they are not its head. */
    while (start < c->rpos && (c->rbuf[start] == '\r' || c->rbuf[start] == '\n'))
        start++;
    c->in_head = 0;
    if (c->rpos - start > s->o.max_header)
        return 431;
    if ((p->flags & F_CONTENT_LENGTH) && p->content_length > s->o.max_body)
        return 413;
    if (p->method == HTTP_POST || p->method == HTTP_PUT) {
        c->keep_body = 1;
        c->body.len = 0;        /* the rebuilt head is not the answer */
    }
    /* RFC 9110 §10.1.1: a client waiting for 100 before sending its body gets it now. */
    if (c->expect_continue && v11 && !((p->flags & F_CONTENT_LENGTH) && p->content_length == 0) &&
        buf_add(&c->out, "HTTP/1.1 100 Continue\r\n\r\n", 25))
        return 500;
    return 0;
}

/* Feed what was received and not parsed yet; responses go to c->out.  Stops early while too
 * much output waits. */
static void parse_input(struct server *s, struct conn *c)
{
    while (!c->closing && (c->rpos < c->rlen || c->resumed) && out_pending(c) <= OUT_HIGH) {
        /* After a pause at the end of a head the request may be complete without another
         * byte (no body): running the parser on nothing delivers on_message_complete. */
        llhttp_errno_t e = llhttp_execute(&c->parser, c->rbuf + c->rpos, c->rlen - c->rpos);
        int status;

        c->resumed = 0;
        if (e == HPE_OK) {
            c->rpos = c->rlen;
            break;
        }
        if (e != HPE_PAUSED) {
            respond_error(c, c->status ? c->status : 400);
            return;
        }
        c->rpos = (size_t)(llhttp_get_error_pos(&c->parser) - c->rbuf);
        llhttp_resume(&c->parser);
        c->resumed = 1;
        if (c->in_head) {
            status = head_done(s, c);
            if (status) {
                respond_error(c, status);
                return;
            }
        } else {
            /* a request completed: the next one's head starts here */
            c->in_head = 1;
            c->msg_start = c->rpos;
        }
    }
    /* An incomplete head already over the limit will not become smaller. */
    if (!c->closing && c->in_head && c->rpos - c->msg_start > s->o.max_header)
        respond_error(c, 431);
}

static uint32_t conn_want(struct server *s, struct conn *c)
{
    uint32_t want = out_pending(c) ? EPOLLOUT : 0;
    int may_read = c->draining ||
                   (!c->closing && out_pending(c) <= OUT_HIGH &&
                    (c->rlen < c->rcap || c->rcap < rbuf_max(s) || keep_from(c) > 0));

    if (!c->eof && may_read)
        want |= EPOLLIN | EPOLLRDHUP;
    return want;
}

/* Move bytes until nothing makes progress.  Returns 1 when the connection is finished. */
static int conn_pump(struct server *s, struct conn *c)
{
    int progress;

    do {
        ssize_t n;

        progress = 0;
        if (out_pending(c)) {
            /* A closing connection's last bytes wait for its FIN (fn_shutdown below, once
             * they are all queued), so the response and the FIN leave in one segment. */
            n = fn_send(s->st, c->fd, c->out.p + c->out_off, out_pending(c),
                        c->closing && !c->eof ? MSG_MORE : 0);
            if (n > 0) {
                c->out_off += (size_t)n;
                progress = 1;
                if (!out_pending(c)) {
                    c->out_off = 0;
                    buf_drop(&c->out);
                }
            } else if (n < 0 && errno != EAGAIN) {
                return 1;
            }
        }
        if (c->draining) {
            char sink[4096];

            n = fn_recv(s->st, c->fd, sink, sizeof(sink), 0);
            if (n == 0 || (n < 0 && errno != EAGAIN))
                return 1;
            progress = n > 0;
            continue;
        }
        /* Done reading: an error or Connection: close was answered, or the peer's FIN came
         * and every request before it has been parsed (an unfinished one is dropped). */
        if (c->closing || (c->eof && c->rpos == c->rlen && !c->resumed)) {
            if (out_pending(c))
                continue;               /* EPOLLOUT brings us back */
            if (c->eof)
                return 1;
            /* Lingering close: our FIN after the last response, then what the peer still
             * sends is read and dropped until its FIN or LINGER_NS, so that closing with
             * unread bytes cannot reset the connection before the response is read. */
            if (fn_shutdown(s->st, c->fd, SHUT_WR) < 0)
                return 1;
            c->draining = 1;
            list_unlink(c);
            list_append(&s->linger, c, s->now);
            progress = 1;
            continue;
        }
        if (out_pending(c) > OUT_HIGH)
            continue;
        if (!c->eof && rbuf_room(s, c) > 0) {
            n = fn_recv(s->st, c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, 0);
            if (n > 0) {
                c->rlen += (size_t)n;
                progress = 1;
            } else if (n == 0) {
                /* half-close: what was asked before it is still answered */
                c->eof = 1;
                progress = 1;
            } else if (errno != EAGAIN) {
                return 1;
            }
        }
        if (c->rpos < c->rlen || c->resumed) {
            size_t before = out_pending(c);

            parse_input(s, c);
            if (out_pending(c) != before || c->closing)
                progress = 1;
        }
    } while (progress);
    return 0;
}

/* A connection waiting for its next request holds no buffers: an idle keep-alive
 * connection costs struct conn and the stack's socket, nothing more. */
static void conn_trim(struct conn *c)
{
    if (c->rpos == c->rlen && c->in_head && c->msg_start == c->rpos && !c->resumed) {
        free(c->rbuf);
        c->rbuf = NULL;
        c->rlen = c->rcap = c->rpos = c->msg_start = 0;
        buf_free(&c->body);
    }
    if (!out_pending(c)) {
        c->out_off = 0;
        buf_free(&c->out);
    }
}

static void conn_event(struct server *s, int fd)
{
    struct conn *c = (uint32_t)fd < s->nslots ? s->conns[fd] : NULL;
    uint32_t want;

    if (!c)
        return;
    touch(s, c);
    if (conn_pump(s, c)) {
        conn_close(s, c);
        return;
    }
    conn_trim(c);
    want = conn_want(s, c);
    if (want != c->interest) {
        struct epoll_event ev = {.events = want, .data.fd = fd};

        c->interest = want;
        if (fn_epoll_ctl(s->st, s->ep, EPOLL_CTL_MOD, fd, &ev) < 0)
            conn_close(s, c);
    }
}

static void accept_all(struct server *s)
{
    for (;;) {
        int fd = fn_accept4(s->st, s->lfd, NULL, NULL, SOCK_NONBLOCK);
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP};
        struct conn *c;
        int one = 1;

        if (fd < 0) {
            /* With the table full the listener stays readable: a level-triggered loop would
             * spin on it, so it is not watched until a connection closes (the stack keeps
             * the waiting connections queued meanwhile). */
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                watch_listener(s, 0);
            return;                 /* EAGAIN, or a connection that failed before accept */
        }
        c = (uint32_t)fd < s->nslots ? calloc(1, sizeof(*c)) : NULL;
        ev.data.fd = fd;
        /* Responses are written whole, so Nagle would only hold back their tails (asyncio's
         * transports and nginx's tcp_nodelay do the same). */
        if (!c || fn_setsockopt(s->st, fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
            fn_epoll_ctl(s->st, s->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
            free(c);
            fn_close(s->st, fd);
            continue;
        }
        c->fd = fd;
        c->interest = ev.events;
        c->in_head = 1;
        llhttp_init(&c->parser, HTTP_REQUEST, &s->settings);
        c->parser.data = c;
        s->conns[fd] = c;
        list_append(&s->idle, c, s->now);
    }
}

static void expire(struct server *s)
{
    struct conn_list *lists[2] = {&s->idle, &s->linger};

    for (int i = 0; i < 2; i++)
        while (lists[i]->head && list_deadline(lists[i]) <= s->now)
            conn_close(s, lists[i]->head);
}

/* ---- start-up and the loop ---- */

static int open_stack(struct server *s)
{
    struct fn_backend_params params;
    struct fn_backend *be, *wrapped;
    struct fn_pool *pool;
    const char *errmsg = "";
    int rc = fn_pool_create(s->o.cfg.n_bufs, s->o.cfg.buf_size,
                            s->o.cfg.hugepages ? FN_POOL_HUGEPAGES : 0, &pool);

    if (rc) {
        fprintf(stderr, "http_echo: buffer pool of %u x %u: %s\n", s->o.cfg.n_bufs,
                s->o.cfg.buf_size, strerror(-rc));
        return -1;
    }
    memset(&params, 0, sizeof(params));
    params.ifname = s->o.iface;
    params.queue = s->o.queue;
    params.xdp_mode = s->o.xdp_mode;
    params.xdp_obj_path = s->o.xdp_obj;
    params.napi_poll = s->o.napi_poll;
    params.napi_hold_us = s->o.napi_hold_us;
    params.rx_moderation = s->o.rx_moderation;
    rc = fn_backend_open(s->o.backend, &params, pool, &be, &errmsg);
    if (rc) {
        fprintf(stderr, "http_echo: %s on %s: %s (%s)\n", s->o.backend, s->o.iface,
                errmsg ? errmsg : "", strerror(-rc));
        fn_pool_destroy(pool);
        return -1;
    }
    if (s->o.use_fault) {
        rc = fn_backend_fault_wrap(be, &s->o.fault, &wrapped);
        if (rc) {
            fprintf(stderr, "http_echo: fault wrapper: %s\n", strerror(-rc));
            goto fail;
        }
        be = wrapped;
    }
    if (s->o.pcap) {
        rc = fn_backend_pcap_wrap(be, s->o.pcap, &wrapped);
        if (rc) {
            fprintf(stderr, "http_echo: pcap %s: %s\n", s->o.pcap, strerror(-rc));
            goto fail;
        }
        be = wrapped;
    }
    rc = fn_stack_create(&s->o.cfg, pool, be, &s->st);
    if (rc) {
        fprintf(stderr, "http_echo: stack configuration rejected (%s): check ip, gateway "
                        "(inside the subnet), mtu (<= the link's) and sizes\n", strerror(-rc));
        goto fail;
    }
    s->nslots = s->o.cfg.tcp_max_sockets;
    s->conns = calloc(s->nslots, sizeof(*s->conns));
    if (!s->conns) {
        fn_stack_destroy(s->st);
        return -1;
    }
    return 0;
fail:
    fn_backend_close(be);
    fn_pool_destroy(pool);
    return -1;
}

static int open_listener(struct server *s)
{
    struct sockaddr_in a;
    struct epoll_event ev = {.events = EPOLLIN};
    int one = 1;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons(s->o.port);
    a.sin_addr.s_addr = s->o.host;
    s->lfd = fn_socket(s->st, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    s->ep = fn_epoll_create1(s->st, 0);
    if (s->lfd < 0 || s->ep < 0 ||
        fn_setsockopt(s->st, s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        fn_bind(s->st, s->lfd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        fn_listen(s->st, s->lfd, 1024) < 0)
        return -1;
    ev.data.fd = s->lfd;
    return fn_epoll_ctl(s->st, s->ep, EPOLL_CTL_ADD, s->lfd, &ev);
}

/* Sleep on the backend's fd until `until` (ns) or a signal.  The signals are blocked from the
 * flag check to ppoll, so one arriving in between ends the sleep instead of being missed. */
static void sleep_until(struct server *s, uint64_t until)
{
    sigset_t block, old;
    struct pollfd pfd = {.fd = fn_stack_fd(s->st), .events = POLLIN};
    uint64_t now = fn_clock_ns(), d;
    struct timespec ts;

    if (until <= now)
        return;
    d = until - now;
    if (d > 3600ull * 1000000000ull)
        d = 3600ull * 1000000000ull;
    ts.tv_sec = (time_t)(d / 1000000000ull);
    ts.tv_nsec = (long)(d % 1000000000ull);
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigprocmask(SIG_BLOCK, &block, &old);
    if (!stop_flag)
        ppoll(pfd.fd >= 0 ? &pfd : NULL, pfd.fd >= 0 ? 1 : 0, &ts, &old);
    sigprocmask(SIG_SETMASK, &old, NULL);
}

static int run(struct server *s)
{
    struct epoll_event evs[MAX_EVENTS];

    while (!stop_flag) {
        uint64_t wake;
        int rx, n;

        s->now = fn_clock_ns();
        update_date(s);
        rx = fn_stack_poll(s->st, s->now);
        if (rx < 0) {
            fprintf(stderr, "http_echo: backend failed: %s\n", strerror(-rx));
            return -1;
        }
        s->closed_some = 0;
        n = fn_epoll_wait(s->st, s->ep, evs, MAX_EVENTS, 0);
        if (n < 0) {
            fprintf(stderr, "http_echo: epoll_wait: %s\n", strerror(errno));
            return -1;
        }
        for (int i = 0; i < n; i++) {
            if (evs[i].data.fd == s->lfd)
                accept_all(s);
            else
                conn_event(s, evs[i].data.fd);
        }
        expire(s);
        if (n > 0 || rx > 0 || s->closed_some)
            continue;
        wake = fn_stack_next_deadline(s->st);
        if (list_deadline(&s->idle) < wake)
            wake = list_deadline(&s->idle);
        if (list_deadline(&s->linger) < wake)
            wake = list_deadline(&s->linger);
        sleep_until(s, wake);
    }
    return 0;
}

/* ---- options ---- */

static int parse_u64(const char *str, uint64_t max, uint64_t *out)
{
    char *end;
    unsigned long long v;

    errno = 0;
    if (!str[0] || str[0] == '-')
        return -1;
    v = strtoull(str, &end, 10);
    if (errno || *end || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_ipv4(const char *str, uint32_t *out)
{
    return inet_pton(AF_INET, str, out) == 1 ? 0 : -1;
}

static int parse_cidr(const char *str, struct fn_config *cfg)
{
    char ip[INET_ADDRSTRLEN];
    const char *slash = strchr(str, '/');
    uint64_t plen = 24;
    size_t n = slash ? (size_t)(slash - str) : strlen(str);

    if (n >= sizeof(ip) || (slash && parse_u64(slash + 1, 32, &plen)))
        return -1;
    memcpy(ip, str, n);
    ip[n] = 0;
    cfg->prefix_len = (uint8_t)plen;
    return parse_ipv4(ip, &cfg->ip);
}

static int parse_knob(const char *str, struct fn_config *cfg)
{
    char name[64];
    const char *eq = strchr(str, '=');
    char *end;
    long long v;
    int rc;

    if (!eq || (size_t)(eq - str) >= sizeof(name))
        return -1;
    memcpy(name, str, (size_t)(eq - str));
    name[eq - str] = 0;
    errno = 0;
    v = strtoll(eq + 1, &end, 10);
    if (errno || !eq[1] || *end)
        return -1;
    rc = fn_config_knob_set(cfg, name, v);
    if (rc)
        fprintf(stderr, "http_echo: --knob %s: %s\n", str,
                rc == -ENOENT ? "unknown knob" : "value out of range");
    return rc ? -1 : 0;
}

/* rx:drop_ppm=N, tx:delay_ns=N, ... */
static int parse_fault(const char *str, struct fn_fault_params *fp)
{
    static const struct { const char *name; size_t off, size; } fields[] = {
#define F(x) {#x, offsetof(struct fn_fault_dir, x), sizeof(((struct fn_fault_dir *)0)->x)}
        F(drop_ppm), F(dup_ppm), F(reorder_ppm), F(corrupt_ppm), F(delay_ppm),
        F(delay_ns), F(rate_bps), F(burst_bytes),
#undef F
    };
    struct fn_fault_dir *d;
    const char *eq = strchr(str, '=');
    uint64_t v;

    if (strncmp(str, "rx:", 3) == 0)
        d = &fp->rx;
    else if (strncmp(str, "tx:", 3) == 0)
        d = &fp->tx;
    else
        return -1;
    if (!eq)
        return -1;
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        size_t n = strlen(fields[i].name);

        if ((size_t)(eq - str - 3) != n || strncmp(str + 3, fields[i].name, n) != 0)
            continue;
        if (fields[i].size == 4) {
            uint32_t v32;

            if (parse_u64(eq + 1, UINT32_MAX, &v))
                return -1;
            v32 = (uint32_t)v;
            memcpy((char *)d + fields[i].off, &v32, 4);
        } else {
            if (parse_u64(eq + 1, UINT64_MAX, &v))
                return -1;
            memcpy((char *)d + fields[i].off, &v, 8);
        }
        return 0;
    }
    return -1;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: http_echo_native --backend B --iface IF --ip A.B.C.D/LEN --port P\n"
            "       [--host H] [--gateway IP] [--queue N] [--xdp-mode auto|native|skb]\n"
            "       [--xdp-obj PATH] [--napi-poll] [--napi-hold-us N]\n"
            "       [--rx-moderation auto|off|adaptive] [--pcap PATH]\n"
            "       [--knob NAME=VALUE]... [--fault-seed N]\n"
            "       [--fault rx|tx:FIELD=N]... [--max-body BYTES] [--max-header BYTES]\n"
            "       [--idle-timeout SEC] [--log-level error|warning|info|debug]\n");
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
    static const struct option longopts[] = {
        {"backend", required_argument, NULL, 'b'}, {"iface", required_argument, NULL, 'i'},
        {"ip", required_argument, NULL, 'a'},      {"gateway", required_argument, NULL, 'g'},
        {"queue", required_argument, NULL, 'q'},   {"xdp-mode", required_argument, NULL, 'm'},
        {"xdp-obj", required_argument, NULL, 'o'}, {"pcap", required_argument, NULL, 'w'},
        {"knob", required_argument, NULL, 'k'},    {"fault", required_argument, NULL, 'f'},
        {"fault-seed", required_argument, NULL, 's'}, {"host", required_argument, NULL, 'H'},
        {"port", required_argument, NULL, 'p'},    {"max-body", required_argument, NULL, 'B'},
        {"max-header", required_argument, NULL, 'M'},
        {"idle-timeout", required_argument, NULL, 't'},
        {"log-level", required_argument, NULL, 'L'}, {"napi-poll", no_argument, NULL, 'N'},
        {"napi-hold-us", required_argument, NULL, 'h'},
        {"rx-moderation", required_argument, NULL, 'r'}, {NULL, 0, NULL, 0},
    };
    uint64_t v;
    double secs;
    char *end;
    int opt, li = 0;

    memset(o, 0, sizeof(*o));
    fn_config_defaults(&o->cfg);
    o->fault.seed = 1;
    o->max_body = 8u << 20;
    o->max_header = 16u << 10;
    o->idle_ns = 60ull * 1000000000ull;
    while ((opt = getopt_long(argc, argv, "", longopts, &li)) != -1) {
        int bad = 0;

        switch (opt) {
        case 'b': o->backend = optarg; break;
        case 'i': o->iface = optarg; break;
        case 'a': bad = parse_cidr(optarg, &o->cfg); break;
        case 'g': bad = parse_ipv4(optarg, &o->cfg.gateway); break;
        case 'q': bad = parse_u64(optarg, UINT32_MAX, &v); o->queue = (uint32_t)v; break;
        case 'm':
            o->xdp_mode = strcmp(optarg, "native") == 0 ? FN_XDP_MODE_NATIVE
                          : strcmp(optarg, "skb") == 0  ? FN_XDP_MODE_SKB
                                                        : FN_XDP_MODE_AUTO;
            bad = o->xdp_mode == FN_XDP_MODE_AUTO && strcmp(optarg, "auto") != 0;
            break;
        case 'o': o->xdp_obj = optarg; break;
        case 'N': o->napi_poll = 1; break;
        case 'r':
            o->rx_moderation = strcmp(optarg, "off") == 0        ? FN_RX_MODERATION_OFF
                               : strcmp(optarg, "adaptive") == 0 ? FN_RX_MODERATION_ADAPTIVE
                                                                 : FN_RX_MODERATION_AUTO;
            bad = o->rx_moderation == FN_RX_MODERATION_AUTO && strcmp(optarg, "auto") != 0;
            break;
        case 'h':
            bad = parse_u64(optarg, FN_NAPI_HOLD_US_MAX, &v) || v == 0;
            o->napi_hold_us = (uint32_t)v;
            break;
        case 'w': o->pcap = optarg; break;
        case 'k': bad = parse_knob(optarg, &o->cfg); break;
        case 'f': bad = parse_fault(optarg, &o->fault); o->use_fault = 1; break;
        case 's': bad = parse_u64(optarg, UINT64_MAX, &o->fault.seed); o->use_fault = 1; break;
        case 'H': bad = parse_ipv4(optarg, &o->host); break;
        case 'p': bad = parse_u64(optarg, 65535, &v) || v == 0; o->port = (uint16_t)v; break;
        case 'B': bad = parse_u64(optarg, UINT64_MAX / 2, &o->max_body); break;
        case 'M':
            bad = parse_u64(optarg, 64u << 20, &o->max_header) || o->max_header == 0;
            break;
        case 'L':
            /* the names of fastnet.config's log.level */
            if (strcmp(optarg, "error") == 0)
                fn_log_set_level(FN_LOG_ERROR);
            else if (strcmp(optarg, "warning") == 0)
                fn_log_set_level(FN_LOG_WARN);
            else if (strcmp(optarg, "info") == 0)
                fn_log_set_level(FN_LOG_INFO);
            else if (strcmp(optarg, "debug") == 0)
                fn_log_set_level(FN_LOG_DEBUG);
            else
                bad = 1;
            break;
        case 't':
            errno = 0;
            secs = strtod(optarg, &end);
            bad = errno || *end || !(secs > 0) || secs > 1e7;
            o->idle_ns = bad ? 0 : (uint64_t)(secs * 1e9);
            break;
        default: return -1;
        }
        if (bad) {
            fprintf(stderr, "http_echo: bad value for --%s: %s\n", longopts[li].name, optarg);
            return -1;
        }
    }
    if (optind != argc || !o->backend || !o->iface || !o->cfg.ip || !o->port) {
        fprintf(stderr, "http_echo: --backend, --iface, --ip and --port are required\n");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static struct server srv;
    struct server *s = &srv;
    struct sigaction sa;
    sigset_t unblock;
    char host[INET_ADDRSTRLEN];
    uint32_t leaked;
    int rc;

    if (parse_opts(argc, argv, &s->o)) {
        usage();
        return 2;
    }
    g_srv = s;
    settings_init(&s->settings);
    s->idle.timeout_ns = s->o.idle_ns;
    s->linger.timeout_ns = LINGER_NS;
    update_date(s);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* exec keeps the signal mask of whoever started us (serve() execs from Python). */
    sigemptyset(&unblock);
    sigaddset(&unblock, SIGINT);
    sigaddset(&unblock, SIGTERM);
    sigprocmask(SIG_UNBLOCK, &unblock, NULL);
    if (open_stack(s))
        return 1;
    fn_stack_start(s->st, fn_clock_ns());
    if (s->o.host == 0)
        s->o.host = s->o.cfg.ip;
    inet_ntop(AF_INET, &s->o.host, host, sizeof(host));
    if (open_listener(s) < 0) {
        fprintf(stderr, "http_echo: cannot listen on %s:%u: %s\n", host, s->o.port,
                strerror(errno));
        fn_stack_destroy(s->st);
        free(s->conns);
        return 1;
    }
    fprintf(stderr, "http_echo: listening on %s:%u (loop=native)\n", host, s->o.port);
    fflush(stderr);
    rc = run(s);
    while (s->idle.head)
        conn_close(s, s->idle.head);
    while (s->linger.head)
        conn_close(s, s->linger.head);
    fn_close(s->st, s->lfd);
    fn_close(s->st, s->ep);
    /* One more round sends the FINs (and resets) of the closes above. */
    fn_stack_poll(s->st, fn_clock_ns());
    /* Destroying the stack closes the backend: the XDP program is detached here. */
    leaked = fn_stack_destroy(s->st);
    free(s->conns);
    if (leaked)
        fprintf(stderr, "http_echo: %u packet buffers still in use after shutdown\n", leaked);
    return rc == 0 && leaked == 0 ? 0 : 1;
}
