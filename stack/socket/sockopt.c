/*
 * sockopt.c — fn_getsockopt / fn_setsockopt: SOL_SOCKET and IPPROTO_TCP options with
 * Linux's argument rules and reported values.
 *
 * Contract: a get copies at most *optlen bytes of the value and sets *optlen to what was
 * copied (Linux truncates rather than failing); a set needs the full value (an int, a
 * struct linger, a struct timeval), else EINVAL.  Unknown levels and names: ENOPROTOOPT.
 * Options that need a tcpcb are applied when one exists and remembered for the one that
 * comes (connect, accept).  Owner thread only (fn_sock_get checks); nothing allocates.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/time.h>

#include "core/fn_stack_impl.h"
#include "socket/fn_sock_impl.h"
#include "tcp/cc/cc.h"
#include "tcp/fn_tcp.h"
#include "tcp/fn_tcp_sock.h"
#include "tcp/tcp_fsm.h"

#define SOCK_MIN_SNDBUF 4608        /* what Linux reports after SO_SNDBUF of 1 */
#define SOCK_MIN_RCVBUF 2304        /* what Linux reports after SO_RCVBUF of 1 */
#define TCP_MIN_USER_MSS 88         /* Linux TCP_MIN_MSS: smallest TCP_MAXSEG accepted */
#define TCP_MAX_USER_MSS 65535      /* Linux MAX_TCP_WINDOW: largest TCP_MAXSEG accepted */
#define TCP_MAX_KEEPIDLE 32767      /* Linux MAX_TCP_KEEPIDLE / MAX_TCP_KEEPINTVL (s) */
#define TCP_MAX_KEEPCNT 127         /* Linux MAX_TCP_KEEPCNT */
#define LINUX_INFINITE_SSTHRESH 0x7fffffffu
#define TCP_CA_NAME_MAX 16          /* Linux: the size of a congestion-control name */
#define LINUX_RENO "reno"           /* Linux's name for what our registry calls "newreno" */

/* Linux's TCP_* state numbers (netinet/tcp.h), which TCP_INFO users compare against. */
static const uint8_t linux_state[TCP_NSTATES] = {
    [TCPS_CLOSED] = TCP_CLOSE,           [TCPS_LISTEN] = TCP_LISTEN,
    [TCPS_SYN_SENT] = TCP_SYN_SENT,      [TCPS_SYN_RECEIVED] = TCP_SYN_RECV,
    [TCPS_ESTABLISHED] = TCP_ESTABLISHED, [TCPS_CLOSE_WAIT] = TCP_CLOSE_WAIT,
    [TCPS_FIN_WAIT_1] = TCP_FIN_WAIT1,   [TCPS_CLOSING] = TCP_CLOSING,
    [TCPS_LAST_ACK] = TCP_LAST_ACK,      [TCPS_FIN_WAIT_2] = TCP_FIN_WAIT2,
    [TCPS_TIME_WAIT] = TCP_TIME_WAIT,
};

static int fail(int err)
{
    return fn_sock_fail(err);
}

static int put_val(void *optval, socklen_t *optlen, const void *v, size_t size)
{
    size_t n;

    if ((int)*optlen < 0)
        return fail(EINVAL);
    n = *optlen < size ? *optlen : size;
    memcpy(optval, v, n);
    *optlen = (socklen_t)n;
    return 0;
}

static int put_int(void *optval, socklen_t *optlen, int v)
{
    return put_val(optval, optlen, &v, sizeof(v));
}

static int put_timeo(void *optval, socklen_t *optlen, uint64_t ns)
{
    struct timeval tv;

    tv.tv_sec = (time_t)(ns / 1000000000ull);
    tv.tv_usec = (suseconds_t)(ns % 1000000000ull / 1000u);
    return put_val(optval, optlen, &tv, sizeof(tv));
}

static uint32_t segs(uint32_t bytes, uint32_t mss)
{
    return mss ? (bytes + mss - 1) / mss : 0;
}

/* TCP_INFO in Linux's units: µs for times, segments for windows. */
static int get_tcp_info(const struct fn_sock *so, void *optval, socklen_t *optlen)
{
    struct tcp_info ti;

    memset(&ti, 0, sizeof(ti));
    ti.tcpi_state = TCP_CLOSE;
    if (so->tp) {
        struct fn_tcp_conn_info ci;
        fn_tcp_get_info(so->tp, &ci);
        ti.tcpi_state = linux_state[ci.state];
        ti.tcpi_retransmits = (uint8_t)(ci.retransmits > 255 ? 255 : ci.retransmits);
        ti.tcpi_options = (uint8_t)((ci.ts_on ? TCPI_OPT_TIMESTAMPS : 0) |
                                    (ci.sack_on ? TCPI_OPT_SACK : 0) |
                                    (ci.ws_on ? TCPI_OPT_WSCALE : 0));
        ti.tcpi_snd_wscale = ci.snd_wscale & 0xf;
        ti.tcpi_rcv_wscale = ci.rcv_wscale & 0xf;
        ti.tcpi_rto = (uint32_t)(ci.rto_ns / 1000u);
        ti.tcpi_snd_mss = ci.snd_mss;
        ti.tcpi_rcv_mss = ci.rcv_mss;
        ti.tcpi_unacked = segs(ci.unacked, ci.snd_mss);
        ti.tcpi_rtt = (uint32_t)(ci.srtt_ns / 1000u);
        ti.tcpi_rttvar = (uint32_t)(ci.rttvar_ns / 1000u);
        ti.tcpi_snd_cwnd = ci.snd_mss ? ci.snd_cwnd / ci.snd_mss : 0;
        ti.tcpi_snd_ssthresh = ci.snd_ssthresh == UINT32_MAX
                                   ? LINUX_INFINITE_SSTHRESH
                                   : (ci.snd_mss ? ci.snd_ssthresh / ci.snd_mss : 0);
        ti.tcpi_total_retrans = ci.total_retrans;
    }
    return put_val(optval, optlen, &ti, sizeof(ti));
}

static int get_socket_opt(struct fn_sock *so, int optname, void *optval, socklen_t *optlen)
{
    struct linger lg;

    switch (optname) {
    case SO_REUSEADDR: return put_int(optval, optlen, so->reuseaddr);
    case SO_REUSEPORT: return put_int(optval, optlen, so->reuseport);
    case SO_KEEPALIVE: return put_int(optval, optlen, so->keepalive);
    case SO_RCVBUF: return put_int(optval, optlen, so->rcvbuf);
    case SO_SNDBUF: return put_int(optval, optlen, so->sndbuf);
    case SO_ERROR: return put_int(optval, optlen, fn_sock_error_take(so));
    case SO_TYPE: return put_int(optval, optlen, SOCK_STREAM);
    case SO_DOMAIN: return put_int(optval, optlen, AF_INET);
    case SO_PROTOCOL: return put_int(optval, optlen, IPPROTO_TCP);
    case SO_ACCEPTCONN: return put_int(optval, optlen, so->listening);
    case SO_RCVTIMEO: return put_timeo(optval, optlen, so->rcvtimeo_ns);
    case SO_SNDTIMEO: return put_timeo(optval, optlen, so->sndtimeo_ns);
    case SO_LINGER:
        lg.l_onoff = so->linger_on;
        lg.l_linger = so->linger_s;
        return put_val(optval, optlen, &lg, sizeof(lg));
    default:
        return fail(ENOPROTOOPT);
    }
}

/* TCP_CONGESTION get (Linux do_tcp_getsockopt): the name NUL-padded to TCP_CA_NAME_MAX,
 * of which min(optlen, TCP_CA_NAME_MAX) bytes are copied.  A socket without a tcpcb
 * reports what its connection will get: its own choice, else the stack's default. */
static int get_cc(const struct fn_stack *st, const struct fn_sock *so, void *optval,
                  socklen_t *optlen)
{
    char name[TCP_CA_NAME_MAX];
    const char *cur = so->tp   ? fn_tcp_cc_name(so->tp)
                      : so->cc ? so->cc
                               : cc_algo_by_index(st->cfg.tcp_cc)->name;

    if (so->cc_linux_reno && strcmp(cur, "newreno") == 0)
        cur = LINUX_RENO;
    memset(name, 0, sizeof(name));
    strncpy(name, cur, sizeof(name) - 1);
    return put_val(optval, optlen, name, sizeof(name));
}

static int get_tcp_opt(const struct fn_stack *st, struct fn_sock *so, int optname,
                       void *optval, socklen_t *optlen)
{
    int state = fn_sock_state(so);

    switch (optname) {
    case TCP_NODELAY: return put_int(optval, optlen, so->nodelay);
    case TCP_KEEPIDLE: return put_int(optval, optlen, so->keepidle);
    case TCP_KEEPINTVL: return put_int(optval, optlen, so->keepintvl);
    case TCP_KEEPCNT: return put_int(optval, optlen, so->keepcnt);
    case TCP_USER_TIMEOUT: return put_int(optval, optlen, (int)so->user_timeout_ms);
    case TCP_INFO: return get_tcp_info(so, optval, optlen);
    case TCP_CONGESTION: return get_cc(st, so, optval, optlen);
    case TCP_MAXSEG:
        /* Linux: the current MSS once connected, else what was set, else 536. */
        if (so->tp && !so->listening && TCPS_HAVEESTABLISHED(state))
            return put_int(optval, optlen, (int)fn_tcp_mss(so->tp));
        return put_int(optval, optlen, so->maxseg ? (int)so->maxseg : 536);
    default:
        return fail(ENOPROTOOPT);
    }
}

int fn_getsockopt(struct fn_stack *st, int fd, int level, int optname, void *optval,
                  socklen_t *optlen)
{
    struct fn_sock *so = fn_sock_get(st, fd);

    if (!so)
        return -1;
    if (!optval || !optlen)
        return fail(EFAULT);
    if (level == SOL_SOCKET)
        return get_socket_opt(so, optname, optval, optlen);
    if (level == IPPROTO_TCP)
        return get_tcp_opt(st, so, optname, optval, optlen);
    return fail(ENOPROTOOPT);
}

/* Linux's sock_set_timeout(): tv_usec outside [0, 1e6) is EDOM, {0, 0} waits forever, a
 * negative tv_sec does not wait at all. */
static int set_timeo(uint64_t *dst, const void *optval, socklen_t optlen)
{
    struct timeval tv;

    if (optlen < (socklen_t)sizeof(tv))
        return fail(EINVAL);
    memcpy(&tv, optval, sizeof(tv));
    if (tv.tv_usec < 0 || tv.tv_usec >= 1000000)
        return fail(EDOM);
    if (tv.tv_sec < 0)
        *dst = 1;
    else
        *dst = (uint64_t)tv.tv_sec * 1000000000ull + (uint64_t)tv.tv_usec * 1000u;
    return 0;
}

/* Linux: the value is doubled (room for bookkeeping), bounded by the maximum and floor. */
static int buf_size(int v, uint32_t max, int floor)
{
    uint64_t d = v < 0 ? (uint64_t)max : 2ull * (uint64_t)v;

    if (d > max)
        d = max;
    return d < (uint64_t)floor ? floor : (int)d;
}

static int set_socket_opt(struct fn_stack *st, struct fn_sock *so, int optname, int v,
                          const void *optval, socklen_t optlen)
{
    struct linger lg;

    switch (optname) {
    case SO_REUSEADDR: so->reuseaddr = v != 0; return 0;
    case SO_REUSEPORT: so->reuseport = v != 0; return 0;
    case SO_KEEPALIVE:
        so->keepalive = v != 0;
        fn_sock_apply_keepalive(so);
        return 0;
    case SO_RCVBUF:
        /* The window follows (half of it, as Linux), never above cfg.tcp_rcvbuf; the scale
         * is the SYN's, so it matters most before connect() / listen(). */
        so->rcvbuf = buf_size(v, 2 * st->cfg.tcp_rcvbuf, SOCK_MIN_RCVBUF);
        so->rcvbuf_lock = 1;
        if (so->tp)
            fn_tcp_set_rcvbuf(so->tp, fn_sock_rcv_window(so));
        return 0;
    case SO_SNDBUF:
        /* The bound on queued bytes (fn_sock_writable): never above the stack's own. */
        so->sndbuf = buf_size(v, st->cfg.tcp_sndbuf, SOCK_MIN_SNDBUF);
        return 0;
    case SO_RCVTIMEO: return set_timeo(&so->rcvtimeo_ns, optval, optlen);
    case SO_SNDTIMEO: return set_timeo(&so->sndtimeo_ns, optval, optlen);
    case SO_LINGER:
        if (optlen < (socklen_t)sizeof(lg))
            return fail(EINVAL);
        memcpy(&lg, optval, sizeof(lg));
        so->linger_on = lg.l_onoff != 0;
        so->linger_s = lg.l_linger < 0 ? 0 : lg.l_linger;
        return 0;
    default:
        return fail(ENOPROTOOPT);
    }
}

static int set_tcp_opt(struct fn_sock *so, int optname, int v)
{
    switch (optname) {
    case TCP_NODELAY:
        so->nodelay = v != 0;
        if (so->tp && !so->listening)
            fn_tcp_set_nodelay(so->tp, so->nodelay);
        return 0;
    case TCP_MAXSEG:
        if (v != 0 && (v < TCP_MIN_USER_MSS || v > TCP_MAX_USER_MSS))
            return fail(EINVAL);
        so->maxseg = (uint32_t)v;
        if (so->tp && so->listening)
            fn_tcp_set_user_mss(so->tp, (uint16_t)v);
        else if (v && so->tp && TCPS_HAVEESTABLISHED(fn_sock_state(so)))
            fn_tcp_clamp_mss(so->tp, so->maxseg);
        return 0;
    case TCP_KEEPIDLE:
    case TCP_KEEPINTVL:
        if (v < 1 || v > TCP_MAX_KEEPIDLE)
            return fail(EINVAL);
        *(optname == TCP_KEEPIDLE ? &so->keepidle : &so->keepintvl) = v;
        fn_sock_apply_keepalive(so);
        return 0;
    case TCP_KEEPCNT:
        if (v < 1 || v > TCP_MAX_KEEPCNT)
            return fail(EINVAL);
        so->keepcnt = v;
        fn_sock_apply_keepalive(so);
        return 0;
    case TCP_USER_TIMEOUT:
        /* Linux: any ms >= 0 (0 = off, the retransmission count rules); a listener's
         * passes to the connections it accepts. */
        if (v < 0)
            return fail(EINVAL);
        so->user_timeout_ms = (uint32_t)v;
        fn_sock_apply_keepalive(so);
        return 0;
    default:
        return fail(ENOPROTOOPT);
    }
}

/* TCP_CONGESTION set (Linux do_tcp_setsockopt): optlen < 1 is EINVAL; the name is the
 * first min(optlen, TCP_CA_NAME_MAX - 1) bytes up to a NUL; a name the registry does not
 * know is ENOENT (observed on this kernel for "nosuch", "" and "newreno"; "reno" is
 * Linux's always-built-in algorithm, accepted and reported back as "reno").  Applied to the
 * tcpcb at once when there is one (a listener's passes to what it accepts), else kept
 * for connect() / listen(). */
static int set_cc(struct fn_sock *so, const void *optval, socklen_t optlen)
{
    char name[TCP_CA_NAME_MAX];
    size_t n = optlen < (socklen_t)sizeof(name) - 1 ? optlen : sizeof(name) - 1;
    const struct cc_algo *a;

    if (optlen < 1)
        return fail(EINVAL);
    memcpy(name, optval, n);
    name[n] = 0;
    /* Linux's "reno" is NewReno (RFC 6582 recovery is how its reno module behaves): the
     * name is kept for getsockopt, the algorithm is ours. */
    a = cc_algo_by_name(strcmp(name, LINUX_RENO) == 0 ? "newreno" : name);
    if (!a)
        return fail(ENOENT);
    if (so->tp && fn_tcp_set_cc(so->tp, a->name) < 0)
        return fail(ENOENT);
    so->cc = a->name;
    so->cc_linux_reno = strcmp(name, LINUX_RENO) == 0;
    return 0;
}

int fn_setsockopt(struct fn_stack *st, int fd, int level, int optname, const void *optval,
                  socklen_t optlen)
{
    struct fn_sock *so = fn_sock_get(st, fd);
    int v = 0;

    if (!so)
        return -1;
    if (level != SOL_SOCKET && level != IPPROTO_TCP)
        return fail(ENOPROTOOPT);
    if (!optval)
        return fail(EFAULT);
    /* Linux takes the string-valued option before its check for an int. */
    if (level == IPPROTO_TCP && optname == TCP_CONGESTION)
        return set_cc(so, optval, optlen);
    /* The struct-valued options check their own length; every other one takes an int. */
    if (!(level == SOL_SOCKET &&
          (optname == SO_LINGER || optname == SO_RCVTIMEO || optname == SO_SNDTIMEO))) {
        if (optlen < (socklen_t)sizeof(int))
            return fail(EINVAL);
        memcpy(&v, optval, sizeof(v));
    }
    if (level == SOL_SOCKET)
        return set_socket_opt(st, so, optname, v, optval, optlen);
    return set_tcp_opt(so, optname, v);
}
