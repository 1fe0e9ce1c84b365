/*
 * tcp_sock.c — the socket layer's view of a tcpcb (fn_tcp_sock.h): TCP_INFO numbers,
 * MSG_PEEK, the accept queue length, backlog changes, the MSS clamp, MSG_MORE, and the
 * zero-copy paths: received buffers lent to the owner, send buffers it fills itself.
 *
 * Contract: see fn_tcp_sock.h.  Nothing here allocates (except fn_tcp_zc_alloc, from the
 * pool, under tcp_pool.c's policy), sends (except through tcp_output) or fails otherwise;
 * every call is O(1) except fn_tcp_peek (O(buffers copied)), fn_tcp_zc_take (O(buffers
 * lent)), fn_tcp_acceptq_len (O(queue)) and fn_tcp_port_orphaned (O(tcpcbs): bind time
 * only).  Stack-owner core.
 */
#include <errno.h>
#include <string.h>

#include "core/fn_stack_impl.h"
#include "tcp/fn_tcp_sock.h"
#include "tcp/tcp_var.h"

void fn_tcp_get_info(const struct tcpcb *tp, struct fn_tcp_conn_info *ci)
{
    int ts = (tp->t_flags & (TF_REQ_TSTMP | TF_RCVD_TSTMP)) == (TF_REQ_TSTMP | TF_RCVD_TSTMP);
    uint32_t adv = tcp_adv_mss(tp);

    memset(ci, 0, sizeof(*ci));
    ci->state = tp->t_state;
    ci->rto_ns = tp->t_rxtcur;
    ci->srtt_ns = tp->t_srtt;
    ci->rttvar_ns = tp->t_rttvar;
    ci->snd_mss = tcp_maxseg(tp);
    /* What the peer may send us: the MSS we advertised (RFC 6691 §2) less the timestamp
     * option every segment carries once negotiated. */
    ci->rcv_mss = ts ? adv - TCPOLEN_TSTAMP_APPA : adv;
    ci->snd_cwnd = tp->snd_cwnd;
    ci->snd_ssthresh = tp->snd_ssthresh;
    ci->retransmits = tp->t_rxtshift;
    ci->total_retrans = tp->t_total_retrans;
    ci->unacked = TCPS_HAVEESTABLISHED(tp->t_state) ? tp->snd_max - tp->snd_una : 0;
    ci->snd_wscale = tp->snd_wscale;
    ci->rcv_wscale = tp->rcv_wscale;
    ci->ts_on = (uint8_t)ts;
    ci->ws_on = (tp->t_flags & (TF_REQ_SCALE | TF_RCVD_SCALE)) == (TF_REQ_SCALE | TF_RCVD_SCALE);
    ci->sack_on = (tp->t_flags & TF_SACK_PERMIT) != 0;
}

uint32_t fn_tcp_peek(const struct tcpcb *tp, void *buf, uint32_t len)
{
    uint8_t *dst = buf;
    uint32_t done = 0;

    for (const struct fn_pkt *p = tp->rcv_head; p && done < len; p = p->next) {
        uint32_t n = p->len < len - done ? p->len : len - done;
        memcpy(dst + done, p->data, n);
        done += n;
    }
    return done;
}

int fn_tcp_rcvd_fin(const struct tcpcb *tp)
{
    return (tp->t_flags & TF_RCVDFIN) != 0;
}

uint32_t fn_tcp_acceptq_len(const struct tcpcb *l)
{
    uint32_t n = 0;

    for (const struct tcpcb *c = l->t_acc_head; c; c = c->t_qnext)
        n++;
    return n;
}

uint32_t fn_tcp_halfopen_len(const struct tcpcb *l)
{
    return l->t_sc_count;
}

void fn_tcp_set_backlog(struct tcpcb *l, uint32_t backlog)
{
    l->t_backlog = backlog;
}

int fn_tcp_port_listening(struct fn_stack *st, uint16_t port, int reuseport)
{
    const struct tcpcb *l = tcp_lookup_listen(st->tcp, port);

    /* A group's members all set SO_REUSEPORT (fn_tcp_listen_opts), so its first tells. */
    return l != NULL && !(reuseport && l->t_reuseport);
}

int fn_tcp_port_orphaned(struct fn_stack *st, uint16_t port)
{
    const struct fn_tcp *tcp = st->tcp;

    for (uint32_t i = 0; i < tcp->ntcbs; i++) {
        const struct tcpcb *tp = &tcp->tcbs[i];
        if (tp->lport == port && (tp->t_flags & TF_DETACHED))
            return 1;
    }
    return 0;
}

uint32_t fn_tcp_sndq(const struct tcpcb *tp)
{
    return tp->snd_cc;
}

uint32_t fn_tcp_mss(const struct tcpcb *tp)
{
    return tcp_maxseg(tp);
}

void fn_tcp_clamp_mss(struct tcpcb *tp, uint32_t mss)
{
    if (mss < tp->t_maxseg)
        tp->t_maxseg = (uint16_t)(mss < TCP_MSS_FLOOR ? TCP_MSS_FLOOR : mss);
}

void fn_tcp_set_rcvbuf(struct tcpcb *tp, uint32_t bytes)
{
    tp->t_rcvbuf = bytes < tcp_cfg(tp)->tcp_rcvbuf ? bytes : 0;
}

void fn_tcp_set_user_mss(struct tcpcb *l, uint16_t mss)
{
    l->t_user_mss = mss;
}

/* A tail held back with nothing in flight waits for no ACK: like Linux's probe timer for
 * corked data, it goes out one RTO later unless more data (or an earlier delayed ACK, whose
 * tcp_output carries it) comes first. */
static void more_arm(struct tcpcb *tp, uint64_t now)
{
    if (tp->snd_max == tp->snd_una && tp->snd_cc > 0 && tp->t_timer[TT_DELACK] == 0 &&
        TCPS_HAVEESTABLISHED(tp->t_state))
        tcp_timer_arm(tp, TT_DELACK, now + tp->t_rxtcur);
}

int fn_tcp_send_more(struct tcpcb *tp, const void *data, uint32_t len, uint64_t now)
{
    int rc;

    tp->t_more = 1;
    rc = fn_tcp_send(tp, data, len, now);
    tp->t_more = 0;
    more_arm(tp, now);
    return rc;
}

uint32_t fn_tcp_zc_take(struct tcpcb *tp, struct fn_pkt **out, uint32_t max)
{
    uint32_t n = 0;

    while (n < max && tp->rcv_head) {
        struct fn_pkt *p = tp->rcv_head;

        tp->rcv_head = p->next;
        p->next = NULL;
        tp->rcv_cc -= p->len;
        tp->rcv_lent += p->len;
        out[n++] = p;
    }
    /* The tail goes with the chain's last buffer: nothing may be coalesced into a buffer
     * the owner holds (tcp_rcv_append copies small payloads into the tail). */
    if (!tp->rcv_head)
        tp->rcv_tail = NULL;
    return n;
}

void fn_tcp_zc_rcv_done(struct tcpcb *tp, uint32_t bytes, uint64_t now)
{
    tp->rcv_lent = bytes < tp->rcv_lent ? tp->rcv_lent - bytes : 0;
    /* As after a read: the window may have opened enough for an update. */
    if (bytes > 0 && TCPS_HAVEESTABLISHED(tp->t_state) && !TCPS_HAVERCVDFIN(tp->t_state))
        tcp_output(tp, now);
}

struct fn_pkt *fn_tcp_zc_alloc(struct tcpcb *tp)
{
    struct fn_stack *st = tp->t_stack;
    struct fn_pkt *p;

    if (!tcp_pool_may_queue_snd(tp))
        return NULL;
    p = fn_pkt_alloc(st->pool);
    if (!p) {
        st->stats.tcp_nobuf++;
        return NULL;
    }
    tp->snd_lent_bufs++;
    return p;
}

/* A buffer fn_tcp_zc_alloc lent comes back (queued or freed). */
static void snd_lent_put(struct tcpcb *tp)
{
    if (tp->snd_lent_bufs > 0)
        tp->snd_lent_bufs--;
}

void fn_tcp_zc_unalloc(struct tcpcb *tp, struct fn_pkt *p)
{
    snd_lent_put(tp);
    fn_pkt_free(p);
}

/* Payloads up to this size are copied into the tail's free room rather than linked: a run of
 * small zero-copy sends must not hold a buffer each. */
#define ZC_SND_COALESCE_MAX 256u

int fn_tcp_zc_send(struct tcpcb *tp, struct fn_pkt *p, int more, uint64_t now)
{
    uint32_t b = tcp_cfg(tp)->tcp_sndbuf, len = p->len;
    struct fn_pkt *t = tp->snd_tail;
    int rc = tcp_usr_may_send(tp);

    if (rc)
        return rc;
    /* A buffer goes whole or not at all; an empty queue takes it whatever its size. */
    if (tp->snd_cc > 0 && (tp->snd_cc > b || len > b - tp->snd_cc))
        return -EAGAIN;
    snd_lent_put(tp);
    if (len == 0) {
        fn_pkt_free(p);
        return 0;
    }
    if (t && len <= ZC_SND_COALESCE_MAX && fn_pkt_tailroom(t) >= len) {
        memcpy(fn_pkt_put(t, len), p->data, len);
        fn_pkt_free(p);
    } else {
        p->next = NULL;
        if (t)
            t->next = p;
        else
            tp->snd_head = p;
        tp->snd_tail = p;
        tp->snd_nbufs++;
    }
    tp->snd_cc += len;
    if (TCPS_HAVEESTABLISHED(tp->t_state)) {
        tp->t_more = (uint8_t)(more != 0);
        tcp_output(tp, now);
        tp->t_more = 0;
        if (more)
            more_arm(tp, now);
    }
    return (int)len;
}
